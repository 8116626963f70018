import { Signal } from '@lumino/signaling';
import { afterEach, describe, expect, it } from 'vitest';

import { APIError, type ICluster, type ICreateRequest } from '../api';
import {
  CLUSTER_EVENT_SCHEMA,
  ClustersModel,
  type IClusterAPI
} from '../model';
import { PROFILES, makeCluster } from './fakeserver';

/** An in-memory API that counts what the model asks for. */
class CountingAPI implements IClusterAPI {
  clusterMap = new Map<string, ICluster>();
  calls: string[] = [];
  created: ICreateRequest[] = [];
  createError: APIError | null = null;
  /** When set, `clusters()` waits for this before answering. */
  listGate: Promise<void> | null = null;

  count(name: string): number {
    return this.calls.filter(c => c === name).length;
  }

  async profiles() {
    this.calls.push('profiles');
    return structuredClone(PROFILES);
  }

  async clusters() {
    this.calls.push('clusters');
    const snapshot = [...this.clusterMap.values()].map(c => structuredClone(c));
    if (this.listGate) {
      await this.listGate;
    }
    return snapshot;
  }

  async cluster(id: string) {
    this.calls.push(`cluster:${id}`);
    const cluster = this.clusterMap.get(id);
    if (!cluster) {
      throw new APIError(404, 'no such cluster');
    }
    return structuredClone(cluster);
  }

  async create(request: ICreateRequest) {
    this.calls.push('create');
    this.created.push(request);
    if (this.createError) {
      throw this.createError;
    }
    const cluster = makeCluster(`c${this.created.length}`, {
      status: 'starting'
    });
    this.clusterMap.set(cluster.id, cluster);
    return structuredClone(cluster);
  }

  async scale(id: string, workers: number) {
    this.calls.push('scale');
    const cluster = this.clusterMap.get(id)!;
    cluster.workers.requested = workers;
    return structuredClone(cluster);
  }

  async adapt(id: string, bounds: { minimum: number; maximum: number } | null) {
    this.calls.push('adapt');
    const cluster = this.clusterMap.get(id)!;
    cluster.adapt = bounds;
    return structuredClone(cluster);
  }

  async close(id: string) {
    this.calls.push('close');
    this.clusterMap.delete(id);
  }
}

class Events {
  signal = new Signal<this, { schema_id: string }>(this);
  emit(action: string, id: string, schema = CLUSTER_EVENT_SCHEMA) {
    this.signal.emit({ schema_id: schema, action, cluster_id: id } as never);
  }
}

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms));

/** Wait (bounded) until `check` holds, saying what did not happen otherwise. */
async function waitFor(check: () => boolean, what: string, timeoutMs = 3000) {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await sleep(5);
  }
}

const models: ClustersModel[] = [];
function makeModel(api: CountingAPI, events?: Events, hidden = () => false) {
  const model = new ClustersModel({
    api,
    refreshInterval: 60_000, // polls stay out of the counts below
    events: events?.signal ?? null,
    coalesceMs: 30,
    isHidden: hidden
  });
  models.push(model);
  return model;
}

afterEach(() => {
  while (models.length) {
    models.pop()!.dispose();
  }
});

describe('ClustersModel loading', () => {
  it('loads profiles and clusters and fills the draft with the profile defaults', async () => {
    const api = new CountingAPI();
    api.clusterMap.set('a', makeCluster('a'));
    const model = makeModel(api);
    await model.ready;
    expect(model.loaded).toBe(true);
    expect(model.maxWorkers).toBe(8);
    expect(model.clusters.map(c => c.id)).toEqual(['a']);
    expect(model.draft.profile).toBe('lsf');
    // Admin defaults win over schema defaults; null ones are left to the server.
    expect(model.draft.options).toEqual({
      cores: 1,
      memory: '2GB',
      queue: 'normal',
      interface: 'lo'
    });
  });

  it('starts on the default profile from the settings', async () => {
    const api = new CountingAPI();
    const model = new ClustersModel({
      api,
      refreshInterval: 60_000,
      defaultProfile: 'local'
    });
    models.push(model);
    await model.ready;
    expect(model.draft.profile).toBe('local');
    expect(model.draft.options).toEqual({ threads: 1 });
  });

  it('reports a failing server once, not on every poll', async () => {
    const api = new CountingAPI();
    api.profiles = async () => {
      throw new APIError(0, 'Cannot reach the Jupyter server');
    };
    const failures: APIError[] = [];
    const model = new ClustersModel({ api, refreshInterval: 5 });
    models.push(model);
    model.failed.connect((_, e) => failures.push(e));
    await model.ready;
    await sleep(100);
    expect(model.connectionError?.status).toBe(0);
    expect(failures).toHaveLength(1);
  });
});

describe('ClustersModel start form', () => {
  it('submits nothing while an option is invalid and names the field', async () => {
    const api = new CountingAPI();
    const model = makeModel(api);
    await model.ready;
    model.setDraft({ options: { ...model.draft.options, memory: 'lots' } });
    expect(await model.submitDraft()).toBeNull();
    expect(api.count('create')).toBe(0);
    expect(model.draftErrors.options).toEqual([
      {
        field: 'memory',
        message: 'must be a size such as 20GB, 512MiB or 1.5TB'
      }
    ]);
  });

  it('submits nothing when workers exceed the server maximum', async () => {
    const api = new CountingAPI();
    const model = makeModel(api);
    await model.ready;
    model.setDraft({ workers: 9 });
    expect(await model.submitDraft()).toBeNull();
    expect(api.count('create')).toBe(0);
    expect(model.draftErrors.fields.workers?.[0]).toContain('0 to 8');
  });

  it('posts the draft and lists the new cluster', async () => {
    const api = new CountingAPI();
    const model = makeModel(api);
    await model.ready;
    model.setDraft({
      name: ' opt ',
      workers: 2,
      options: { ...model.draft.options, memory: '' }
    });
    const cluster = await model.submitDraft();
    expect(cluster?.id).toBe('c1');
    // A cleared field means "the default": it is left out.
    expect(api.created[0]).toEqual({
      profile: 'lsf',
      name: 'opt',
      workers: 2,
      options: { cores: 1, queue: 'normal', interface: 'lo' }
    });
    expect(model.clusters.map(c => c.id)).toEqual(['c1']);
    expect(model.draft.name).toBe('');
  });

  it('puts server 422 errors next to the fields they name', async () => {
    const api = new CountingAPI();
    api.createError = new APIError(422, 'invalid options', [
      { field: 'memory', message: 'bigger than the queue allows' },
      { field: 'options.queue', message: 'no such queue' },
      { field: 'workers', message: 'must be between 0 and 8' },
      { field: 'body', message: 'odd' }
    ]);
    const failures: APIError[] = [];
    const model = makeModel(api);
    model.failed.connect((_, e) => failures.push(e));
    await model.ready;
    expect(await model.submitDraft()).toBeNull();
    expect(model.draftErrors.options).toEqual([
      { field: 'memory', message: 'bigger than the queue allows' },
      { field: 'queue', message: 'no such queue' }
    ]);
    expect(model.draftErrors.fields).toEqual({
      workers: ['must be between 0 and 8']
    });
    expect(model.draftErrors.general).toEqual(['body: odd']);
    expect(failures).toHaveLength(1);

    // Editing a field clears its error and leaves the others.
    model.setDraft({ options: { ...model.draft.options, memory: '3GB' } });
    expect(model.draftErrors.options.map(e => e.field)).toEqual(['queue']);
  });

  it('switching profile starts from that profile and clears errors', async () => {
    const api = new CountingAPI();
    const model = makeModel(api);
    await model.ready;
    model.setDraft({ options: { memory: 'x' } });
    await model.submitDraft();
    model.setDraft({ profile: 'local' });
    expect(model.draft.options).toEqual({ threads: 1 });
    expect(model.draftErrors.options).toEqual([]);
  });
});

describe('ClustersModel updates', () => {
  it('merges a burst of events for one cluster into one request', async () => {
    const api = new CountingAPI();
    api.clusterMap.set('a', makeCluster('a'));
    const events = new Events();
    const model = makeModel(api, events);
    await model.ready;
    api.clusterMap.get('a')!.status = 'scaling';
    for (let i = 0; i < 20; i++) {
      events.emit('updated', 'a');
    }
    await waitFor(
      () => model.cluster('a')?.status === 'scaling',
      'the event to be applied'
    );
    expect(api.count('cluster:a')).toBe(1);
    expect(api.count('clusters')).toBe(1); // only the initial load
  });

  it('refetches the list once when many clusters change together', async () => {
    const api = new CountingAPI();
    const events = new Events();
    const model = makeModel(api, events);
    await model.ready;
    for (const id of ['a', 'b', 'c', 'd', 'e']) {
      api.clusterMap.set(id, makeCluster(id));
      events.emit('created', id);
    }
    await waitFor(() => model.clusters.length === 5, 'five clusters');
    expect(api.count('clusters')).toBe(2);
    expect(api.calls.filter(c => c.startsWith('cluster:'))).toEqual([]);
  });

  it('drops a deleted cluster without asking the server', async () => {
    const api = new CountingAPI();
    api.clusterMap.set('a', makeCluster('a'));
    const events = new Events();
    const model = makeModel(api, events);
    await model.ready;
    const before = api.calls.length;
    events.emit('deleted', 'a');
    expect(model.clusters).toEqual([]);
    await sleep(60);
    expect(api.calls.length).toBe(before);
  });

  it('ignores events of other schemas', async () => {
    const api = new CountingAPI();
    const events = new Events();
    const model = makeModel(api, events);
    await model.ready;
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
    const model = makeModel(api, events, () => hidden);
    await model.ready;
    hidden = true;
    const before = api.calls.length;
    events.emit('updated', 'a');
    await sleep(80);
    expect(api.calls.length).toBe(before);
  });

  it('shares one list request between concurrent refreshes', async () => {
    const api = new CountingAPI();
    const model = makeModel(api);
    await model.ready;
    let open!: () => void;
    api.listGate = new Promise(resolve => (open = resolve));
    const before = api.count('clusters');
    const refreshes = [
      model.refresh(),
      model.refresh(),
      model.refresh(),
      model.refresh()
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
    await model.ready;
    let open!: () => void;
    api.listGate = new Promise(resolve => (open = resolve));
    const slowList = model.refresh(); // snapshot taken now: requested 1
    await model.scale('a', 3); // answered first: requested 3
    open();
    await slowList;
    api.listGate = null;
    expect(model.cluster('a')?.workers.requested).toBe(3);
  });

  it('scales, adapts and closes through the API', async () => {
    const api = new CountingAPI();
    api.clusterMap.set('a', makeCluster('a'));
    api.clusterMap.set('b', makeCluster('b'));
    const model = makeModel(api);
    await model.ready;
    await model.scale('a', 3);
    expect(model.cluster('a')?.workers.requested).toBe(3);
    await model.adapt('a', { minimum: 1, maximum: 4 });
    expect(model.cluster('a')?.adapt).toEqual({ minimum: 1, maximum: 4 });
    expect(await model.closeAll()).toBe(true);
    expect(model.clusters).toEqual([]);
    expect(api.count('close')).toBe(2);
  });
});

describe('ClustersModel across tabs', () => {
  let shareCounter = 0;

  function twoTabs(events: Events) {
    const shareName = `pangeo-hpc-test-${++shareCounter}`;
    const store = new Map<string, ICluster>();
    const apis = [new CountingAPI(), new CountingAPI()];
    apis.forEach(api => (api.clusterMap = store));
    const delays = [0, 100];
    const tabs = apis.map((api, i) => {
      const model = new ClustersModel({
        api,
        refreshInterval: 60_000,
        events: events.signal,
        coalesceMs: 20,
        jitter: () => delays[i],
        shareName
      });
      models.push(model);
      return model;
    });
    return { store, apis, tabs };
  }

  it('one tab fetches what an event announces; the other gets it shared', async () => {
    const events = new Events();
    const { store, apis, tabs } = twoTabs(events);
    store.set('a', makeCluster('a'));
    await Promise.all(tabs.map(t => t.ready));
    store.get('a')!.status = 'scaling';
    events.emit('updated', 'a');
    await waitFor(
      () => tabs.every(t => t.cluster('a')?.status === 'scaling'),
      'both tabs to show the update'
    );
    await sleep(150); // past the second tab's own flush
    expect(apis[0].count('cluster:a') + apis[1].count('cluster:a')).toBe(1);
  });

  it('a list fetched by one tab updates the other without a request', async () => {
    const events = new Events();
    const { store, apis, tabs } = twoTabs(events);
    await Promise.all(tabs.map(t => t.ready));
    store.set('b', makeCluster('b'));
    const before = apis[1].calls.length;
    await tabs[0].refresh();
    await waitFor(() => tabs[1].cluster('b') !== undefined, 'the shared list');
    expect(apis[1].calls.length).toBe(before);
  });

  it('a mutation in one tab shows in the other', async () => {
    const events = new Events();
    const { store, tabs } = twoTabs(events);
    store.set('c', makeCluster('c'));
    await Promise.all(tabs.map(t => t.ready));
    await tabs[0].scale('c', 5);
    await waitFor(
      () => tabs[1].cluster('c')?.workers.requested === 5,
      'the scaled cluster in the other tab'
    );
    await tabs[0].close('c');
    await waitFor(
      () => tabs[1].cluster('c') === undefined,
      'the closed cluster to go'
    );
  });
});

describe('ClustersModel peers and newer knowledge', () => {
  it('an older list from another tab neither drops a new cluster nor revives a deleted one', async () => {
    const shareName = 'pangeo-hpc-test-stale';
    const api = new CountingAPI();
    api.clusterMap.set('old', makeCluster('old'));
    const events = new Events();
    const tab = new ClustersModel({
      api,
      refreshInterval: 60_000,
      events: events.signal,
      coalesceMs: 20,
      shareName
    });
    models.push(tab);
    await tab.ready;
    const asked = Date.now() - 1000; // a peer that asked a second ago
    await tab.submitDraft(); // creates c1 now
    events.emit('deleted', 'old');
    expect(tab.clusters.map(c => c.id)).toEqual(['c1']);

    const peer = new BroadcastChannel(shareName);
    peer.postMessage({
      kind: 'list',
      clusters: [makeCluster('old')],
      startedAt: asked
    });
    await sleep(50);
    peer.close();
    expect(tab.clusters.map(c => c.id)).toEqual(['c1']);
  });
});
