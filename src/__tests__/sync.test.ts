import { describe, expect, it } from 'vitest';

import { APIError, type ICluster } from '../api';
import { makeCluster } from './fakeserver';
import { CountingAPI, Events, makeModel, sleep, waitFor } from './helpers';

describe('ClusterSync loading', () => {
  it('loads profiles and clusters', async () => {
    const api = new CountingAPI();
    api.clusterMap.set('a', makeCluster('a'));
    const model = makeModel(api);
    await model.sync.ready;
    expect(model.store.loaded).toBe(true);
    expect(model.store.maxWorkers).toBe(8);
    expect(model.store.clusters.map(c => c.id)).toEqual(['a']);
  });

  it('reports a failing server once, not on every poll', async () => {
    const api = new CountingAPI();
    api.profiles = async () => {
      throw new APIError(0, 'Cannot reach the Jupyter server');
    };
    const failures: APIError[] = [];
    const model = makeModel(api, { refreshInterval: 5 });
    model.failed.connect((_, e) => failures.push(e));
    await model.sync.ready;
    await sleep(100);
    expect(model.store.connectionError?.status).toBe(0);
    expect(failures).toHaveLength(1);
  });
});

describe('ClusterSync updates', () => {
  it('merges a burst of events for one cluster into one request', async () => {
    const api = new CountingAPI();
    api.clusterMap.set('a', makeCluster('a'));
    const events = new Events();
    const model = makeModel(api, { events });
    await model.sync.ready;
    api.clusterMap.get('a')!.status = 'scaling';
    for (let i = 0; i < 20; i++) {
      events.emit('updated', 'a');
    }
    await waitFor(
      () => model.store.cluster('a')?.status === 'scaling',
      'the event to be applied'
    );
    expect(api.count('cluster:a')).toBe(1);
    expect(api.count('clusters')).toBe(1); // only the initial load
  });

  it('refetches the list once when many clusters change together', async () => {
    const api = new CountingAPI();
    const events = new Events();
    const model = makeModel(api, { events });
    await model.sync.ready;
    for (const id of ['a', 'b', 'c', 'd', 'e']) {
      api.clusterMap.set(id, makeCluster(id));
      events.emit('created', id);
    }
    await waitFor(() => model.store.clusters.length === 5, 'five clusters');
    expect(api.count('clusters')).toBe(2);
    expect(api.calls.filter(c => c.startsWith('cluster:'))).toEqual([]);
  });

  it('drops a deleted cluster without asking the server', async () => {
    const api = new CountingAPI();
    api.clusterMap.set('a', makeCluster('a'));
    const events = new Events();
    const model = makeModel(api, { events });
    await model.sync.ready;
    const before = api.calls.length;
    events.emit('deleted', 'a');
    expect(model.store.clusters).toEqual([]);
    await sleep(60);
    expect(api.calls.length).toBe(before);
  });

  it('ignores events of other schemas', async () => {
    const api = new CountingAPI();
    const events = new Events();
    const model = makeModel(api, { events });
    await model.sync.ready;
    const before = api.calls.length;
    events.emit(
      'updated',
      'a',
      'https://events.jupyter.org/jupyter_server/contents_service/v1'
    );
    await sleep(60);
    expect(api.calls.length).toBe(before);
  });

  it('a hidden tab fetches nothing on events', async () => {
    const api = new CountingAPI();
    api.clusterMap.set('a', makeCluster('a'));
    const events = new Events();
    let hidden = false;
    const model = makeModel(api, { events, isHidden: () => hidden });
    await model.sync.ready;
    hidden = true;
    const before = api.calls.length;
    events.emit('updated', 'a');
    await sleep(80);
    expect(api.calls.length).toBe(before);
  });

  it('shares one list request between concurrent refreshes', async () => {
    const api = new CountingAPI();
    const model = makeModel(api);
    await model.sync.ready;
    let open!: () => void;
    api.listGate = new Promise(resolve => (open = resolve));
    const before = api.count('clusters');
    const refreshes = [
      model.sync.refresh(),
      model.sync.refresh(),
      model.sync.refresh(),
      model.sync.refresh()
    ];
    open();
    api.listGate = null;
    await Promise.all(refreshes);
    // One request, plus one follow-up because changes may have happened meanwhile.
    expect(api.count('clusters') - before).toBe(2);
  });

  it('an older list answer does not undo a newer cluster answer', async () => {
    const api = new CountingAPI();
    api.clusterMap.set(
      'a',
      makeCluster('a', { workers: { requested: 1, connected: 1 } })
    );
    const model = makeModel(api);
    await model.sync.ready;
    let open!: () => void;
    api.listGate = new Promise(resolve => (open = resolve));
    const slowList = model.sync.refresh(); // snapshot taken now: requested 1
    await model.sync.scale('a', 3); // answered first: requested 3
    open();
    await slowList;
    api.listGate = null;
    expect(model.store.cluster('a')?.workers.requested).toBe(3);
  });

  it('scales, adapts and closes through the API', async () => {
    const api = new CountingAPI();
    api.clusterMap.set('a', makeCluster('a'));
    api.clusterMap.set('b', makeCluster('b'));
    const model = makeModel(api);
    await model.sync.ready;
    await model.sync.scale('a', 3);
    expect(model.store.cluster('a')?.workers.requested).toBe(3);
    await model.sync.adapt('a', { minimum: 1, maximum: 4 });
    expect(model.store.cluster('a')?.adapt).toEqual({ minimum: 1, maximum: 4 });
    expect(await model.sync.closeAll()).toBe(true);
    expect(model.store.clusters).toEqual([]);
    expect(api.count('close')).toBe(2);
  });
});

describe('ClusterSync across tabs', () => {
  let shareCounter = 0;

  function twoTabs(events: Events, delays = [0, 100]) {
    const shareName = `pangeo-hpc-test-${++shareCounter}`;
    const store = new Map<string, ICluster>();
    const apis = [new CountingAPI(), new CountingAPI()];
    apis.forEach(api => (api.clusterMap = store));
    const tabs = apis.map((api, i) =>
      makeModel(api, {
        events,
        coalesceMs: 20,
        jitter: () => delays[i],
        shareName
      })
    );
    return { store, apis, tabs };
  }

  it('one tab fetches what an event announces; the other gets it shared', async () => {
    const events = new Events();
    const { store, apis, tabs } = twoTabs(events);
    store.set('a', makeCluster('a'));
    await Promise.all(tabs.map(t => t.sync.ready));
    store.get('a')!.status = 'scaling';
    events.emit('updated', 'a');
    await waitFor(
      () => tabs.every(t => t.store.cluster('a')?.status === 'scaling'),
      'both tabs to show the update'
    );
    await sleep(150); // past the second tab's own flush
    expect(apis[0].count('cluster:a') + apis[1].count('cluster:a')).toBe(1);
  });

  it('a tab whose timer fires while another tab is asking waits for that answer', async () => {
    const events = new Events();
    const { store, apis, tabs } = twoTabs(events, [0, 40]);
    store.set('a', makeCluster('a'));
    await Promise.all(tabs.map(t => t.sync.ready));
    // Slower than the gap between the two tabs' timers.
    apis.forEach(api => (api.clusterDelayMs = 150));
    store.get('a')!.status = 'scaling';
    events.emit('updated', 'a');
    await waitFor(
      () => tabs.every(t => t.store.cluster('a')?.status === 'scaling'),
      'both tabs to show the update'
    );
    expect(apis[0].count('cluster:a') + apis[1].count('cluster:a')).toBe(1);
  });

  it('a list fetched by one tab updates the other without a request', async () => {
    const events = new Events();
    const { store, apis, tabs } = twoTabs(events);
    await Promise.all(tabs.map(t => t.sync.ready));
    store.set('b', makeCluster('b'));
    const before = apis[1].calls.length;
    await tabs[0].sync.refresh();
    await waitFor(
      () => tabs[1].store.cluster('b') !== undefined,
      'the shared list'
    );
    expect(apis[1].calls.length).toBe(before);
  });

  it('a mutation in one tab shows in the other', async () => {
    const events = new Events();
    const { store, tabs } = twoTabs(events);
    store.set('c', makeCluster('c'));
    await Promise.all(tabs.map(t => t.sync.ready));
    await tabs[0].sync.scale('c', 5);
    await waitFor(
      () => tabs[1].store.cluster('c')?.workers.requested === 5,
      'the scaled cluster in the other tab'
    );
    await tabs[0].sync.close('c');
    await waitFor(
      () => tabs[1].store.cluster('c') === undefined,
      'the closed cluster to go'
    );
  });
});

describe('ClusterSync peers and newer knowledge', () => {
  it('an older list from another tab neither drops a new cluster nor revives a deleted one', async () => {
    const shareName = 'pangeo-hpc-test-stale';
    const api = new CountingAPI();
    api.clusterMap.set('old', makeCluster('old'));
    const events = new Events();
    const tab = makeModel(api, { events, coalesceMs: 20, shareName });
    await tab.sync.ready;
    const asked = Date.now() - 1000; // a peer that asked a second ago
    await tab.draft.submit(); // creates c1 now
    events.emit('deleted', 'old');
    expect(tab.store.clusters.map(c => c.id)).toEqual(['c1']);

    const peer = new BroadcastChannel(shareName);
    peer.postMessage({
      kind: 'list',
      clusters: [makeCluster('old')],
      startedAt: asked
    });
    await sleep(50);
    peer.close();
    expect(tab.store.clusters.map(c => c.id)).toEqual(['c1']);
  });
});
