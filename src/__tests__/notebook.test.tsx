/**
 * Clusters started in notebooks: the model lists them apart from ours, and
 * their card offers what works for them (workers, jobs, dashboard, plots,
 * client code, shut down) and says where scaling happens instead of a slider.
 */
import React from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';

import type { ICluster } from '../api';
import { ClusterCard } from '../components/ClusterCard';
import { ClusterSections } from '../components/ClusterSections';
import { KeepRunning } from '../components/KeepRunning';
import { clusterClientCode } from '../format';
import { ClusterStore } from '../model';
import {
  makeCluster,
  makeJob,
  makeNotebookCluster,
  serveFake
} from './fakeserver';
import { CARD, CountingAPI, SECTIONS, makeModel } from './helpers';

function renderCard(cluster: ICluster): string {
  return renderToStaticMarkup(<ClusterCard {...CARD} cluster={cluster} />);
}

function renderSections(own: ICluster[], notebooks: ICluster[]): string {
  return renderToStaticMarkup(
    <ClusterSections
      {...SECTIONS}
      clusters={own}
      notebookClusters={notebooks}
    />
  );
}

/** The markup between a section's test id and the next section. */
function section(html: string, testid: string): string {
  const start = html.indexOf(`data-testid="${testid}"`);
  expect(start, `no ${testid} in the sidebar`).toBeGreaterThan(-1);
  return html.slice(start, html.indexOf('</section>', start));
}

describe('the model splits clusters by origin', () => {
  it('keeps notebook clusters apart, in the order first seen, and older servers all ours', async () => {
    const api = new CountingAPI();
    const legacy = makeCluster('c0');
    delete legacy.origin; // a server from before notebook clusters
    api.clusterMap.set('c0', legacy);
    api.clusterMap.set('nb-1', makeNotebookCluster('nb-1'));
    api.clusterMap.set('c1', makeCluster('c1'));
    api.clusterMap.set('nb-2', makeNotebookCluster('nb-2'));
    const model = makeModel(api);
    await model.sync.ready;
    const ids = (clusters: ICluster[]) => clusters.map(c => c.id);
    expect(ids(model.store.ownClusters)).toEqual(['c0', 'c1']);
    expect(ids(model.store.notebookClusters)).toEqual(['nb-1', 'nb-2']);
    expect(ids(model.store.clusters)).toHaveLength(4);

    // Gone with its kernel: the next list no longer has it.
    api.clusterMap.delete('nb-1');
    await model.sync.refresh();
    expect(ids(model.store.notebookClusters)).toEqual(['nb-2']);
  });

  it('a shut down notebook cluster shows closing, then leaves once the server confirms', async () => {
    const api = new CountingAPI();
    api.clusterMap.set('nb-1', makeNotebookCluster('nb-1'));
    const model = makeModel(api);
    await model.sync.ready;
    const closing = model.sync.close('nb-1');
    expect(model.store.cluster('nb-1')?.status).toBe('closing');
    expect(await closing).toBe(true);
    expect(model.store.notebookClusters).toEqual([]);
    expect(api.count('close')).toBe(1);
  });

  it('the store alone: one put of each kind lands in its own list', () => {
    const store = new ClusterStore();
    store.put(makeNotebookCluster('nb-9'), store.stamp());
    expect(store.ownClusters).toEqual([]);
    expect(store.notebookClusters.map(c => c.id)).toEqual(['nb-9']);
    store.dispose();
  });
});

describe("a notebook cluster's card", () => {
  const cluster = makeNotebookCluster('nb-1', {
    workers: { requested: 2, connected: 2 },
    jobs: [makeJob('71'), makeJob('72')]
  });

  it('has workers, jobs, dashboard, plots, client code and shut down, but no scaling controls', () => {
    const html = renderCard(cluster);
    expect(html).toContain('data-origin="notebook"');
    expect(html).toContain('data-testid="pangeo-hpc-workers-connected">2<');
    expect(html).toContain('data-job-id="71"');
    expect(html).toContain('data-job-id="72"');
    for (const button of [
      'dashboard-button',
      'plots-button',
      'insert-code-button',
      'shutdown-button'
    ]) {
      expect(html).toMatch(
        new RegExp(
          `<button[^>]*data-testid="pangeo-hpc-${button}"(?![^>]*disabled)`
        )
      );
    }
    expect(html).not.toContain('pangeo-hpc-scale-slider');
    expect(html).not.toContain('pangeo-hpc-adapt-toggle');
    // Its class where ours show the profile.
    expect(html).toMatch(/pangeo-hpc-ClusterCard-profile">LocalCluster</);
  });

  it('says scaling stays in the notebook, naming it when known', () => {
    const html = renderCard(cluster);
    expect(html).toContain('data-testid="pangeo-hpc-notebook-scaling"');
    expect(html).toContain(
      'data-testid="pangeo-hpc-notebook-path">analysis/seed.ipynb</code>'
    );
    expect(html).toContain('scaling stays in the notebook');

    const console = renderCard(
      makeNotebookCluster('nb-2', {
        notebook: { ...cluster.notebook!, path: null }
      })
    );
    expect(console).toContain('Started in a notebook');
    expect(console).not.toContain('pangeo-hpc-notebook-path');
  });

  it('ours keep their scaling controls and show no notebook line', () => {
    const html = renderCard(makeCluster('c1'));
    expect(html).toContain('data-origin="jupyterlab"');
    expect(html).toContain('pangeo-hpc-scale-slider');
    expect(html).not.toContain('pangeo-hpc-notebook-scaling');
  });

  it('client code: one connect() call, by name unless another cluster has it', () => {
    const tls = makeNotebookCluster('nb-3', {
      scheduler_address: 'tls://127.0.0.1:40001'
    });
    expect(clusterClientCode(tls)).toBe(
      'from pangeo_hpc_ext.kernel import connect\n' +
        `client = connect(${JSON.stringify(tls.name)})`
    );
    const twin = { ...cluster, id: 'other' };
    expect(clusterClientCode(cluster, [cluster, twin])).toBe(
      'from pangeo_hpc_ext.kernel import connect\n' +
        `client = connect(${JSON.stringify(cluster.id)})`
    );
    expect(
      clusterClientCode(
        makeNotebookCluster('nb-4', { scheduler_address: null })
      )
    ).toBeNull();
  });
});

describe('the sidebar', () => {
  it('lists notebook clusters under "From notebooks", ours under "Clusters"', () => {
    const html = renderSections(
      [makeCluster('c1')],
      [makeNotebookCluster('nb-1')]
    );
    const own = section(html, 'pangeo-hpc-cluster-list');
    const notebooks = section(html, 'pangeo-hpc-notebook-list');
    expect(own).toContain('<h3>Clusters (1)</h3>');
    expect(own).toContain('data-cluster-id="c1"');
    expect(own).not.toContain('data-cluster-id="nb-1"');
    expect(notebooks).toContain('<h3>From notebooks (1)</h3>');
    expect(notebooks).toContain('data-cluster-id="nb-1"');
    expect(notebooks).not.toContain('data-cluster-id="c1"');
  });

  it('has no notebook section without notebook clusters, and says when only notebooks have some', () => {
    expect(renderSections([makeCluster('c1')], [])).not.toContain(
      'pangeo-hpc-notebook-list'
    );
    const onlyNotebooks = renderSections([], [makeNotebookCluster('nb-1')]);
    expect(section(onlyNotebooks, 'pangeo-hpc-cluster-list')).toContain(
      'None started from JupyterLab.'
    );
  });
});

describe('keep running when JupyterLab stops', () => {
  const http = serveFake();

  it('the checkbox sends a top-level keep; unchecked sends none', async () => {
    const model = makeModel(http.api as never);
    await model.sync.ready;
    model.draft.update({ name: 'kept', workers: 1, keep: true });
    const kept = await model.draft.submit();
    model.draft.update({ name: 'plain', keep: false });
    await model.draft.submit();
    const posts = http.server.requests.filter(r => r.method === 'POST');
    expect(posts.map(p => p.body)).toEqual([
      {
        profile: 'lsf',
        options: { cores: 1, memory: '2GB', queue: 'normal', interface: 'lo' },
        workers: 1,
        name: 'kept',
        keep: true
      },
      {
        profile: 'lsf',
        options: { cores: 1, memory: '2GB', queue: 'normal', interface: 'lo' },
        workers: 1,
        name: 'plain'
      }
    ]);
    expect(kept?.keep).toBe(true);
    // The checkbox stays as set: the next cluster is kept too unless unticked.
    model.draft.update({ keep: true });
    model.draft.update({ profile: 'local' });
    expect(model.draft.value.keep).toBe(true);
  });

  it('the card shows a "kept" badge only for a kept cluster', () => {
    expect(renderCard(makeCluster('c1', { keep: true }))).toMatch(
      /data-testid="pangeo-hpc-kept-badge"[^>]*>kept</
    );
    expect(renderCard(makeCluster('c2'))).not.toContain('kept-badge');
  });

  it('the start form has the checkbox, ticked as the draft says', () => {
    const checkbox = (checked: boolean) =>
      renderToStaticMarkup(
        <KeepRunning checked={checked} onChange={() => undefined} />
      );
    expect(checkbox(false)).toContain('Keep running when JupyterLab stops');
    expect(checkbox(false)).not.toContain('checked');
    expect(checkbox(true)).toMatch(
      /<input[^>]*data-testid="pangeo-hpc-keep"[^>]*checked/
    );
  });
});
