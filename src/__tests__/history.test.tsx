/** The card's timeline (#22 item 4): the history the store keeps, and what the timeline draws of it. */
import React from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';

import { stepPoints, Timeline } from '../components/Timeline';
import { addSample, ClusterStore, type ISample, sampleOf } from '../model';
import { makeCluster, makeJob } from './fakeserver';

function sample(t: number, counts: Partial<ISample> = {}): ISample {
  return {
    t,
    requested: 0,
    connected: 0,
    pending: 0,
    running: 0,
    ...counts
  };
}

describe('the history reducer', () => {
  it('counts workers and jobs from a description', () => {
    const cluster = makeCluster('a', {
      workers: { requested: 3, connected: 1 },
      jobs: [
        makeJob('1', { state: 'running' }),
        makeJob('2', { state: 'pending' }),
        makeJob('3', { state: 'pending' }),
        makeJob('4', { state: 'finished' })
      ]
    });
    expect(sampleOf(cluster, 5)).toEqual({
      t: 5,
      requested: 3,
      connected: 1,
      pending: 2,
      running: 1
    });
  });

  it('keeps changes only: the same counts again add nothing', () => {
    let history = addSample([], sample(0, { requested: 1 }));
    const same = addSample(history, sample(1000, { requested: 1 }));
    expect(same).toBe(history);
    history = addSample(history, sample(2000, { requested: 3 }));
    expect(history.map(s => s.requested)).toEqual([1, 3]);
  });

  it('drops a late answer older than the last change', () => {
    const history = addSample([sample(0)], sample(5000, { pending: 2 }));
    expect(addSample(history, sample(4000, { pending: 1 }))).toBe(history);
  });

  it('forgets what is older than the span, but keeps where the window starts', () => {
    let history: readonly ISample[] = [];
    for (let t = 0; t <= 10; t++) {
      history = addSample(history, sample(t * 1000, { requested: t }), 3000);
    }
    // 7 s is the last change at or before the cutoff (10 - 3 s).
    expect(history.map(s => s.t)).toEqual([7000, 8000, 9000, 10000]);
  });

  it('keeps at most `limit` changes', () => {
    let history: readonly ISample[] = [];
    for (let t = 0; t < 50; t++) {
      history = addSample(history, sample(t, { connected: t }), 1e9, 10);
    }
    expect(history).toHaveLength(10);
    expect(history[9].connected).toBe(49);
  });
});

describe('the store keeps the history of each cluster', () => {
  it('adds a change for every description that changes a count', () => {
    const store = new ClusterStore();
    store.put(
      makeCluster('a', { workers: { requested: 0, connected: 0 } }),
      store.stamp()
    );
    store.put(
      makeCluster('a', { workers: { requested: 0, connected: 0 } }),
      store.stamp()
    );
    store.put(
      makeCluster('a', {
        workers: { requested: 2, connected: 0 },
        jobs: [
          makeJob('1', { state: 'pending' }),
          makeJob('2', { state: 'pending' })
        ]
      }),
      store.stamp()
    );
    expect(store.history('a').map(s => [s.requested, s.pending])).toEqual([
      [0, 0],
      [2, 2]
    ]);
    expect(store.history('unknown')).toEqual([]);
  });
});

describe('the timeline', () => {
  it('draws step lines up to now', () => {
    const samples = [
      sample(0, { requested: 0 }),
      sample(1000, { requested: 2 })
    ];
    // From 0 at the left, up to the top (2 of 2) at the half, on to the right edge.
    expect(stepPoints(samples, 'requested', 2000, 0, 2)).toBe(
      '0.0,24 100.0,24 100.0,0 200,0'
    );
  });

  it('draws nothing without history, four lines with it', () => {
    expect(renderToStaticMarkup(<Timeline samples={[]} now={0} />)).toBe('');
    const html = renderToStaticMarkup(
      <Timeline
        samples={[sample(0), sample(60_000, { requested: 1, pending: 1 })]}
        now={120_000}
      />
    );
    expect(html.match(/<polyline/g)).toHaveLength(4);
    expect(html).toContain('data-samples="2"');
    expect(html).toContain('workers 0 of 1 connected');
  });
});
