/** What the model tests share: an in-memory API that counts calls, an event bus, bounded waits. */
import { Signal } from '@lumino/signaling';
import { afterEach } from 'vitest';

import type { ISidebarActions } from '../components/actions';
import { APIError, type ICluster, type ICreateRequest } from '../api';
import {
  CLUSTER_EVENT_SCHEMA,
  ClustersModel,
  type IClusterAPI
} from '../model';
import { PROFILES, makeCluster } from './fakeserver';

/** An in-memory API that counts what the model asks for. */
export class CountingAPI implements IClusterAPI {
  clusterMap = new Map<string, ICluster>();
  calls: string[] = [];
  created: ICreateRequest[] = [];
  createError: APIError | null = null;
  /** When set, `clusters()` waits for this before answering. */
  listGate: Promise<void> | null = null;
  /** How long `cluster()` takes to answer, ms (a loaded server). */
  clusterDelayMs = 0;

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
    if (this.clusterDelayMs) {
      await sleep(this.clusterDelayMs);
    }
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

export class Events {
  signal = new Signal<this, { schema_id: string }>(this);
  emit(action: string, id: string, schema = CLUSTER_EVENT_SCHEMA) {
    this.signal.emit({ schema_id: schema, action, cluster_id: id } as never);
  }
}

export const sleep = (ms: number) =>
  new Promise(resolve => setTimeout(resolve, ms));

/** Wait (bounded) until `check` holds, saying what did not happen otherwise. */
export async function waitFor(
  check: () => boolean,
  what: string,
  timeoutMs = 3000
) {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await sleep(5);
  }
}

const models: ClustersModel[] = [];

/** A model disposed after the test; polls stay out of request counts unless asked for. */
export function makeModel(
  api: CountingAPI,
  options: Partial<Omit<ClustersModel.IOptions, 'events'>> & {
    events?: Events | null;
  } = {}
): ClustersModel {
  const { events, ...rest } = options;
  const model = new ClustersModel({
    api,
    refreshInterval: 60_000,
    coalesceMs: 30,
    ...rest,
    events: events?.signal ?? null
  });
  models.push(model);
  return model;
}

afterEach(() => {
  while (models.length) {
    models.pop()!.dispose();
  }
});

const nothing = () => undefined;
const never = () => new Promise<never>(nothing);

/** Every action a no-op: tests that read what the sidebar draws. */
export const NO_ACTIONS: ISidebarActions = {
  start: nothing,
  refresh: nothing,
  changeDraft: nothing,
  scale: nothing,
  adapt: never,
  openDashboard: nothing,
  loadPlots: never,
  openPlot: nothing,
  openJobLog: nothing,
  insertCode: nothing,
  shutdown: nothing,
  openDashboardURL: nothing
};

/** What a card needs beside its cluster, each a harmless default. */
export const CARD = {
  maxWorkers: 8,
  receivedAt: Date.now(),
  history: [],
  canInsertCode: true,
  actions: NO_ACTIONS
};

/** What the cluster sections need beside their clusters. */
export const SECTIONS = {
  maxWorkers: 8,
  times: { receivedAt: () => Date.now(), history: () => [] },
  canInsertCode: true,
  actions: NO_ACTIONS
};
