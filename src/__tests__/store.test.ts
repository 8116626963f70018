import { describe, expect, it } from 'vitest';

import { ClusterStore } from '../model';
import { makeCluster } from './fakeserver';

function counting(store: ClusterStore): { count: number } {
  const emitted = { count: 0 };
  store.changed.connect(() => emitted.count++);
  return emitted;
}

describe('ClusterStore', () => {
  it('keeps one record per cluster id, the newest request winning', () => {
    const store = new ClusterStore();
    const older = store.stamp(1000);
    const newer = store.stamp(2000);
    expect(store.put(makeCluster('a', { status: 'scaling' }), newer)).toBe(
      true
    );
    // The older request's answer arrives last: it is not taken.
    expect(store.put(makeCluster('a', { status: 'starting' }), older)).toBe(
      false
    );
    expect(store.cluster('a')?.status).toBe('scaling');
    expect(store.record('a')).toMatchObject({ seq: newer.seq, askedAt: 2000 });
  });

  it('a removal is remembered: an older description does not revive the cluster', () => {
    const store = new ClusterStore();
    const older = store.stamp(1000);
    store.remove('a', store.stamp(2000));
    expect(store.put(makeCluster('a'), older)).toBe(false);
    expect(store.clusters).toEqual([]);
    expect(store.knownSince('a', 1500)).toBe(true);
    expect(store.knownSince('a', 2000)).toBe(false);
  });

  it('a cluster seen again after it was gone goes to the end of the list', () => {
    const store = new ClusterStore();
    store.put(makeCluster('a'), store.stamp());
    store.put(makeCluster('b'), store.stamp());
    store.remove('a', store.stamp());
    store.put(makeCluster('a'), store.stamp());
    expect(store.clusters.map(c => c.id)).toEqual(['b', 'a']);
  });

  it('a full list adds, updates and drops in one change', () => {
    const store = new ClusterStore();
    store.put(makeCluster('a'), store.stamp());
    store.put(makeCluster('b'), store.stamp());
    const emitted = counting(store);
    store.putList(
      [makeCluster('b', { status: 'scaling' }), makeCluster('c')],
      store.stamp()
    );
    expect(store.clusters.map(c => [c.id, c.status])).toEqual([
      ['b', 'scaling'],
      ['c', 'running']
    ]);
    expect(emitted.count).toBe(1);
  });

  it('a full list leaves alone the ids it is told to keep', () => {
    const store = new ClusterStore();
    store.put(makeCluster('a'), store.stamp());
    store.putList([], store.stamp(), id => id === 'a');
    expect(store.clusters.map(c => c.id)).toEqual(['a']);
  });

  it('counts walltime from when a description arrived', () => {
    const store = new ClusterStore();
    const before = Date.now();
    store.put(makeCluster('a'), store.stamp());
    expect(store.receivedAt('a')).toBeGreaterThanOrEqual(before);
    expect(store.receivedAt('a')).toBeLessThanOrEqual(Date.now());
  });

  it('shows a closing cluster at once and emits nothing for unknown ids', () => {
    const store = new ClusterStore();
    store.put(makeCluster('a'), store.stamp());
    const emitted = counting(store);
    store.markClosing('a');
    store.markClosing('nope');
    expect(store.cluster('a')?.status).toBe('closing');
    expect(emitted.count).toBe(1);
  });

  it('tells about profiles and the connection error', () => {
    const store = new ClusterStore();
    expect(store.loaded).toBe(false);
    expect(store.maxWorkers).toBe(100);
    store.setProfiles({ profiles: [], max_workers: 8 });
    expect(store.loaded).toBe(true);
    expect(store.maxWorkers).toBe(8);
    const emitted = counting(store);
    store.connectionError = null;
    expect(emitted.count).toBe(0);
  });
});
