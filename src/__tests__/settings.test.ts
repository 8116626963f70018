/** Settings (#23 items 5, 6, 8): the profile list in the settings schema, the default layout, the auto client's cluster. */
import type { ISettingRegistry } from '@jupyterlab/settingregistry';
import { describe, expect, it } from 'vitest';

import {
  clusterByKey,
  dashboardAddress,
  dashboardWidgetId,
  layoutPlacement,
  layoutPlots,
  sortedPlots
} from '../format';
import {
  DEFAULT_SETTINGS,
  readSettings,
  withProfileChoices
} from '../settings';
import { makeCluster } from './fakeserver';

function plugin(saved?: string): ISettingRegistry.IPlugin {
  return {
    id: 'pangeo-hpc-ext:plugin',
    raw: '{}',
    version: '0.1.0',
    schema: {
      type: 'object',
      properties: { defaultProfile: { type: 'string', default: '' } }
    },
    data: {
      composite: {},
      user: saved === undefined ? {} : { defaultProfile: saved }
    }
  };
}

describe('settings', () => {
  it('"Default profile" lists the server\'s profiles once known, keeping the saved one valid', () => {
    const listed = withProfileChoices(plugin(), ['lsf', 'local']);
    expect(listed.schema.properties!.defaultProfile.enum).toEqual([
      '',
      'lsf',
      'local'
    ]);
    const gone = withProfileChoices(plugin('old'), ['lsf']);
    expect(gone.schema.properties!.defaultProfile.enum).toEqual([
      '',
      'lsf',
      'old'
    ]);
    // Before the profiles arrive the schema stays as written.
    const before = plugin();
    expect(withProfileChoices(before, [])).toBe(before);
  });

  it('reads each setting, its default where it is missing or mistyped', () => {
    expect(readSettings({})).toEqual(DEFAULT_SETTINGS);
    expect(
      readSettings({
        defaultLayout: ['Progress', 3, 'CPU'],
        autoStartClient: ' lsf-1 ',
        refreshInterval: -1
      })
    ).toMatchObject({
      defaultLayout: ['Progress', 'CPU'],
      autoStartClient: 'lsf-1',
      refreshInterval: DEFAULT_SETTINGS.refreshInterval
    });
  });
});

describe('the default layout', () => {
  const plots = sortedPlots(
    {
      'Individual Task Stream': '/d/individual-task-stream',
      'Individual Progress': '/d/individual-progress',
      'Individual Workers Memory': '/d/individual-workers-memory',
      'Individual Nprocessing': '/d/individual-nprocessing'
    },
    false
  );

  it("finds plots by the menu's or the dashboard's name, in the order asked, and names the rest", () => {
    const { found, missing } = layoutPlots(plots, [
      'worker memory',
      'Task Stream',
      'Nprocessing',
      'GPU Memory'
    ]);
    expect(found.map(p => p.name)).toEqual([
      'Worker Memory',
      'Task Stream',
      'Tasks Processing'
    ]);
    expect(missing).toEqual(['GPU Memory']);
  });

  it('lays four plots out two by two, then as tabs over them', () => {
    expect([0, 1, 2, 3, 4].map(layoutPlacement)).toEqual([
      null,
      { mode: 'split-right', ref: 0 },
      { mode: 'split-bottom', ref: 0 },
      { mode: 'split-bottom', ref: 1 },
      { mode: 'tab-after', ref: 0 }
    ]);
  });
});

describe("the auto client's cluster", () => {
  it('is found by id, or by a name only one cluster has', () => {
    const a = makeCluster('a', { name: 'lsf-1' });
    const b = makeCluster('b', { name: 'twin' });
    const c = makeCluster('c', { name: 'twin' });
    expect(clusterByKey([a, b, c], 'lsf-1')).toBe(a);
    expect(clusterByKey([a, b, c], 'c')).toBe(c);
    expect(clusterByKey([a, b, c], 'twin')).toBeUndefined();
    expect(clusterByKey([a], 'nope')).toBeUndefined();
  });
});

describe('a dashboard by URL', () => {
  it("takes the port and page of this host's schedulers as users paste them", () => {
    expect(dashboardAddress('http://127.0.0.1:8787/status', 'hub')).toEqual({
      port: 8787,
      page: 'status'
    });
    expect(dashboardAddress(' localhost:8787 ', 'hub')).toEqual({
      port: 8787,
      page: 'status'
    });
    expect(dashboardAddress('8787', 'hub')).toEqual({
      port: 8787,
      page: 'status'
    });
    expect(
      dashboardAddress(
        'http://hub.example.org:40123/workers',
        'hub.example.org'
      )
    ).toEqual({ port: 40123, page: 'workers' });
  });

  it('refuses other hosts, no port, and what is no URL, saying why', () => {
    const refused = (text: string) => {
      const answer = dashboardAddress(text, 'hub');
      return 'error' in answer ? answer.error : null;
    };
    expect(refused('http://10.0.0.5:8787/status')).toMatch(
      /not this server's host/
    );
    expect(refused('http://127.0.0.1/status')).toMatch(/names no port/);
    expect(refused('file:///etc/passwd')).toMatch(/Only http and https/);
    expect(refused('')).toMatch(/Paste a dashboard URL/);
    expect(refused('http://[bad')).toMatch(/is not a URL/);
  });

  it('names a tab opened by URL after its page, not after a cluster', () => {
    expect(
      dashboardWidgetId({
        clusterId: '',
        url: 'pangeo-hpc/dashboards/8787/status',
        plot: ''
      })
    ).toBe('pangeo-hpc-dashboard-url-pangeo-hpc-dashboards-8787-status');
    expect(
      dashboardWidgetId({ clusterId: 'c1', url: 'x', plot: 'Task Stream' })
    ).toBe('pangeo-hpc-dashboard-c1-task-stream');
  });
});
