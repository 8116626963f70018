/** What #23 asked of the sidebar's words: waits, routine ends, badges, plots, Enter, labels. */
import { describe, expect, it } from 'vitest';

import type { ICluster } from '../api';
import { sliderRange } from '../components/ScaleControls';
import { accessibleLabel, submitsOnEnter } from '../forms';
import {
  clusterBadge,
  formatDuration,
  liveJobs,
  plainPendingReason,
  sortedPlots,
  waitingText,
  walltimeLeft
} from '../format';
import { makeJob } from './fakeserver';

function cluster(extra: Partial<ICluster>): ICluster {
  return {
    id: 'c1',
    name: 'alpha',
    profile: 'lsf',
    status: 'scaling',
    scheduler_address: null,
    tls: null,
    dashboard_url: null,
    workers: { requested: 2, connected: 1 },
    adapt: null,
    cores: 1,
    memory: 0,
    options: {},
    created: null,
    error: null,
    warning: null,
    jobs: [],
    ...extra
  };
}

describe('why a job waits', () => {
  it('maps LSF, Slurm and Grid Engine reasons to plain words', () => {
    expect(plainPendingReason('Job slot limit reached')).toBe(
      'all job slots are busy'
    );
    expect(plainPendingReason('Resources')).toBe(
      'waiting for free cores or memory'
    );
    expect(plainPendingReason('Priority')).toBe(
      'jobs with higher priority go first'
    );
    expect(plainPendingReason('QOSMaxJobsPerUserLimit')).toBe(
      "you reached your account's limit on jobs"
    );
    expect(
      plainPendingReason('All queues dropped because of overload or full')
    ).toBe('all job slots are busy');
    expect(plainPendingReason('something new')).toBeNull();
    expect(plainPendingReason(null)).toBeNull();
  });

  it("says since when, and keeps an unknown reason in the scheduler's words", () => {
    const now = Date.parse('2026-12-01T10:00:00Z');
    const pending = (reason: string | null) =>
      makeJob('1', {
        state: 'pending',
        native_state: 'PEND',
        reason,
        submitted: '2026-12-01T09:55:30Z'
      });
    expect(waitingText(pending('Job slot limit reached'), now)).toBe(
      'Waiting 4 min: all job slots are busy'
    );
    expect(waitingText(pending('Odd reason'), now)).toBe(
      'Waiting 4 min: Odd reason'
    );
    expect(waitingText(pending(null), now)).toBe('Waiting 4 min');
    expect(waitingText(makeJob('2'), now)).toBeNull();
  });
});

describe('badges and counts', () => {
  it('says queued when every missing worker is a pending job', () => {
    const jobs = [
      makeJob('1'),
      makeJob('2', { state: 'pending', native_state: 'PEND' })
    ];
    expect(clusterBadge(cluster({ jobs }))).toBe('queued');
    // A running job whose worker has not connected yet: still scaling.
    expect(
      clusterBadge(cluster({ jobs, workers: { requested: 3, connected: 1 } }))
    ).toBe('scaling');
    expect(clusterBadge(cluster({ jobs, status: 'running' }))).toBe('running');
  });

  it('counts live jobs only', () => {
    const jobs = [
      makeJob('1'),
      makeJob('2', { state: 'pending' }),
      makeJob('3', { state: 'failed', ended_by: 'scale-down' }),
      makeJob('4', { state: 'finished' })
    ];
    expect(liveJobs(jobs).map(j => j.job_id)).toEqual(['1', '2']);
  });

  it('never counts walltime up past what the server said (0:30:01)', () => {
    // The clock was read a moment before the answer arrived.
    expect(formatDuration(walltimeLeft(1800, 'running', 10_000, 9_400))).toBe(
      '0:30:00'
    );
  });
});

describe('plots menu', () => {
  const plots = Object.fromEntries(
    [
      'Individual Nprocessing',
      'Individual Gpu Memory',
      'Individual Bandwidth Workers',
      'Individual Progress',
      'Individual Task Stream',
      'Individual Workers Memory',
      'Individual Zzz Unknown'
    ].map(title => [title, `/x/${title}`])
  );

  it('puts common plots first under the names the dashboard uses, without GPU plots on CPU clusters', () => {
    expect(sortedPlots(plots, false).map(p => p.name)).toEqual([
      'Task Stream',
      'Progress',
      'Worker Memory',
      'Tasks Processing',
      'Bandwidth by Worker',
      'Zzz Unknown'
    ]);
    expect(sortedPlots(plots, true).map(p => p.name)).toContain('GPU Memory');
    expect(sortedPlots(plots, false)[0]).toEqual({
      title: 'Individual Task Stream',
      name: 'Task Stream',
      url: '/x/Individual Task Stream'
    });
  });
});

describe('start form', () => {
  it('submits on Enter in one-line fields and selects only', () => {
    const at = (tagName: string, type = '') =>
      ({ tagName, type }) as unknown as EventTarget;
    expect(submitsOnEnter({ key: 'Enter', target: at('INPUT', 'text') })).toBe(
      true
    );
    expect(
      submitsOnEnter({ key: 'Enter', target: at('INPUT', 'number') })
    ).toBe(true);
    expect(submitsOnEnter({ key: 'Enter', target: at('SELECT') })).toBe(true);
    expect(submitsOnEnter({ key: 'Enter', target: at('BUTTON') })).toBe(false);
    expect(submitsOnEnter({ key: 'Enter', target: at('TEXTAREA') })).toBe(
      false
    );
    expect(
      submitsOnEnter({ key: 'Enter', target: at('INPUT', 'button') })
    ).toBe(false);
    expect(submitsOnEnter({ key: 'a', target: at('INPUT', 'text') })).toBe(
      false
    );
  });

  it("names list items after their list, not rjsf's internal id", () => {
    const context = {
      arrayTitles: { job_extra_directives: 'Extra directives' }
    };
    expect(accessibleLabel('job_extra_directives-0', context)).toBe(
      'Extra directives, item 1'
    );
    expect(accessibleLabel('Cores per job', context)).toBe('Cores per job');
  });
});

describe('scale slider', () => {
  it('spans twice the cluster, at least 10 and at most the server limit', () => {
    expect(sliderRange(1, 100)).toBe(10);
    expect(sliderRange(30, 100)).toBe(60);
    expect(sliderRange(80, 100)).toBe(100);
    expect(sliderRange(0, 4)).toBe(4);
  });
});
