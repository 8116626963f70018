/**
 * Keeps a `ClusterStore` in step with the server: polling (the fallback),
 * push events from jupyter_server's event bus, and what the other tabs of
 * this server share over a BroadcastChannel, coalesced so that many events,
 * or many open tabs, do not turn into a storm of requests. Every request the
 * sidebar makes goes through here, so its answer lands in the store in order.
 */
import { PromiseDelegate } from '@lumino/coreutils';
import type { IDisposable } from '@lumino/disposable';
import { Poll } from '@lumino/polling';
import { type ISignal, Signal } from '@lumino/signaling';

import {
  APIError,
  type ClusterAPI,
  type IAdaptBounds,
  type ICluster,
  type ICreateRequest
} from '../api';
import type { ClusterStore, IStamp } from './store';

export const CLUSTER_EVENT_SCHEMA =
  'https://pangeo-hpc-ext.dev/events/cluster/v1';

/** What the server emits on the event bus for every cluster change. */
export interface IClusterEvent {
  schema_id: string;
  action: 'created' | 'updated' | 'deleted';
  cluster_id: string;
  status?: string;
}

/** The parts of `ClusterAPI` the sync uses. */
export type IClusterAPI = Pick<
  ClusterAPI,
  'profiles' | 'clusters' | 'cluster' | 'create' | 'scale' | 'adapt' | 'close'
>;

/** Above this many clusters announced in one window, one list request replaces the single ones. */
const MAX_SINGLE_FETCHES = 3;

/** Tabs put off their next poll by up to this fraction of the interval more than a peer's. */
const POLL_SPREAD = 0.25;

export class ClusterSync implements IDisposable {
  constructor(options: ClusterSync.IOptions) {
    this._api = options.api;
    this._store = options.store;
    this._coalesceMs = options.coalesceMs ?? 250;
    this._isHidden = options.isHidden ?? documentHidden;
    this._jitter = options.jitter ?? (() => Math.random() * this._coalesceMs);
    this._events = options.events ?? null;
    this._events?.connect(this._onEvent, this);
    if (options.shareName && typeof BroadcastChannel !== 'undefined') {
      this._channel = new BroadcastChannel(options.shareName);
      this._channel.onmessage = event => this._onPeer(event.data);
    }
    this._interval = options.refreshInterval;
    this._poll = new Poll({
      auto: true,
      factory: () => this._pollOnce(),
      frequency: pollFrequency(this._interval),
      name: 'pangeo-hpc-ext:clusters',
      standby: () => this._isHidden()
    });
    if (typeof document !== 'undefined') {
      document.addEventListener('visibilitychange', this._onVisibility);
    }
  }

  /** A failure the user should hear about (shown as a notification). */
  get failed(): ISignal<this, APIError> {
    return this._failed;
  }

  /** Settles after the first load of profiles and clusters, whether it worked or not. */
  get ready(): Promise<void> {
    return this._ready.promise;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /** Milliseconds between polls. */
  set refreshInterval(ms: number) {
    this._interval = ms;
    this._poll.frequency = pollFrequency(ms);
  }

  /** Refetch the cluster list; concurrent calls share one request (plus at most one follow-up). */
  refresh(): Promise<void> {
    if (this._listRequest) {
      this._listAgain = true;
      return this._listRequest;
    }
    const run = async (): Promise<void> => {
      try {
        do {
          this._listAgain = false;
          await this._fetchList();
        } while (this._listAgain);
      } finally {
        this._listRequest = null;
      }
    };
    this._listRequest = run();
    return this._listRequest;
  }

  /** Start a cluster; a refusal is reported on `failed` and rethrown for the form to show. */
  async create(request: ICreateRequest): Promise<ICluster> {
    const stamp = this._store.stamp();
    try {
      const cluster = await this._api.create(request);
      this._take(cluster, stamp);
      return cluster;
    } catch (error) {
      const apiError = APIError.from(error);
      this._failed.emit(apiError);
      throw apiError;
    }
  }

  scale(id: string, workers: number): Promise<ICluster | null> {
    return this._mutate(id, () => this._api.scale(id, workers));
  }

  adapt(id: string, bounds: IAdaptBounds | null): Promise<ICluster | null> {
    return this._mutate(id, () => this._api.adapt(id, bounds));
  }

  /** Shut a cluster down; resolves true once the server confirmed it. */
  async close(id: string): Promise<boolean> {
    this._store.markClosing(id);
    const stamp = this._store.stamp();
    try {
      await this._api.close(id);
    } catch (error) {
      const apiError = APIError.from(error);
      if (apiError.status !== 404) {
        this._failed.emit(apiError);
        void this.refresh().catch(() => undefined);
        return false;
      }
    }
    this._store.remove(id, stamp);
    this._share({ kind: 'removed', id, startedAt: stamp.askedAt });
    return true;
  }

  async closeAll(): Promise<boolean> {
    const ids = this._store.clusters.map(c => c.id);
    const results = await Promise.all(ids.map(id => this.close(id)));
    return results.every(Boolean);
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._events?.disconnect(this._onEvent, this);
    this._channel?.close();
    this._poll.dispose();
    if (this._flushTimer !== null) {
      clearTimeout(this._flushTimer);
    }
    if (typeof document !== 'undefined') {
      document.removeEventListener('visibilitychange', this._onVisibility);
    }
    Signal.clearData(this);
  }

  private async _pollOnce(): Promise<void> {
    const store = this._store;
    try {
      if (!store.loaded) {
        store.setProfiles(await this._api.profiles());
      }
      await this.refresh();
      this._stale = false;
      store.connectionError = null;
    } catch (error) {
      const apiError = APIError.from(error);
      const first = store.connectionError === null;
      store.connectionError = apiError;
      if (first) {
        this._failed.emit(apiError);
      }
      throw apiError; // makes the poll back off
    } finally {
      this._firstLoadDone = true;
      this._ready.resolve();
    }
  }

  private async _fetchList(): Promise<void> {
    const stamp = this._store.stamp();
    const clusters = await this._api.clusters();
    this._store.putList(clusters, stamp);
    this._share({ kind: 'list', clusters, startedAt: stamp.askedAt });
  }

  private async _fetchCluster(id: string): Promise<void> {
    const stamp = this._store.stamp();
    // Said before the answer comes, so that tabs whose timers fire while it
    // is on its way do not ask the same; they get the answer when it comes.
    this._share({ kind: 'asking', id, startedAt: stamp.askedAt });
    try {
      this._take(await this._api.cluster(id), stamp);
    } catch (error) {
      const apiError = APIError.from(error);
      if (apiError.status !== 404) {
        throw apiError;
      }
      this._store.remove(id, stamp);
      this._share({ kind: 'removed', id, startedAt: stamp.askedAt });
    }
  }

  private async _mutate(
    id: string,
    request: () => Promise<ICluster>
  ): Promise<ICluster | null> {
    const stamp = this._store.stamp();
    try {
      const cluster = await request();
      this._take(cluster, stamp);
      return cluster;
    } catch (error) {
      this._failed.emit(APIError.from(error));
      void this._fetchCluster(id).catch(() => undefined);
      return null;
    }
  }

  /** Store a cluster the server described, and tell the other tabs. */
  private _take(cluster: ICluster, stamp: IStamp): void {
    this._store.put(cluster, stamp);
    this._share({ kind: 'cluster', cluster, startedAt: stamp.askedAt });
  }

  private _onEvent(_: unknown, emission: { schema_id: string }): void {
    if (emission.schema_id !== CLUSTER_EVENT_SCHEMA) {
      return;
    }
    const event = emission as IClusterEvent;
    if (typeof event.cluster_id !== 'string') {
      return;
    }
    if (event.action === 'deleted') {
      this._store.remove(event.cluster_id, this._store.stamp());
      return;
    }
    if (!this._announced.has(event.cluster_id)) {
      this._announced.set(event.cluster_id, Date.now());
    }
    if (this._flushTimer === null) {
      // Tabs that got the same event wait different times: the first one
      // fetches and shares, the others find the answer already there.
      this._flushTimer = setTimeout(() => {
        this._flushTimer = null;
        void this._flush().catch(() => undefined);
      }, this._coalesceMs + this._jitter());
    }
  }

  /** One round of fetches for all the events of the last window. */
  private async _flush(): Promise<void> {
    const store = this._store;
    // What another tab fetched after the event came is as good as our own answer.
    const ids = [...this._announced]
      .filter(([id, at]) => (store.record(id)?.peerAskedAt ?? 0) <= at)
      .map(([id]) => id);
    const earliest = Math.min(...this._announced.values());
    this._announced.clear();
    if (ids.length === 0) {
      return;
    }
    if (this._isHidden()) {
      // A hidden tab fetches nothing; it catches up when shown again.
      this._stale = true;
      return;
    }
    if (ids.length > MAX_SINGLE_FETCHES) {
      if (this._peerListAt <= earliest) {
        await this.refresh();
      }
    } else {
      await Promise.all(ids.map(id => this._fetchCluster(id)));
    }
  }

  /** Tell the other tabs of this server what we just learned, so they need not ask. */
  private _share(message: PeerMessage): void {
    this._channel?.postMessage(message);
  }

  private _onPeer(message: PeerMessage): void {
    const store = this._store;
    // Tabs of one browser share a clock: when the peer asked is what counts.
    // What this tab learned after that (a cluster it just created, one it saw
    // deleted) is newer than the peer's answer and stays.
    const asked = message.startedAt;
    if (message.kind === 'asking') {
      store.notePeerAsked(message.id, asked);
      return;
    }
    const newer = (id: string) => store.knownSince(id, asked);
    const stamp = store.stamp(asked);
    if (message.kind === 'list') {
      store.putList(message.clusters, stamp, newer);
      for (const cluster of message.clusters) {
        store.notePeerAsked(cluster.id, asked);
      }
      this._peerListAt = asked;
      // A tab just polled for all of us: our own poll can wait a full
      // interval, and a little more, different in each tab, or all the tabs
      // would wait in step and then poll at the same moment.
      if (this._firstLoadDone) {
        void this._poll.schedule({
          phase: 'resolved',
          interval: this._interval * (1 + Math.random() * POLL_SPREAD)
        });
      }
      return;
    }
    const id = message.kind === 'cluster' ? message.cluster.id : message.id;
    const isNewer = newer(id);
    store.notePeerAsked(id, asked);
    if (isNewer) {
      return;
    }
    if (message.kind === 'cluster') {
      store.put(message.cluster, stamp);
    } else {
      store.remove(id, stamp);
    }
  }

  private _onVisibility = (): void => {
    if (!this._isHidden() && this._stale) {
      this._stale = false;
      void this.refresh().catch(() => undefined);
    }
  };

  private _api: IClusterAPI;
  private _store: ClusterStore;
  private _events: ISignal<unknown, { schema_id: string }> | null;
  private _poll: Poll;
  private _interval: number;
  private _coalesceMs: number;
  private _isHidden: () => boolean;
  private _jitter: () => number;
  private _channel: BroadcastChannel | null = null;
  private _listRequest: Promise<void> | null = null;
  private _listAgain = false;
  /** Clusters an event announced a change of, not fetched yet, and when the first event came. */
  private _announced = new Map<string, number>();
  private _peerListAt = 0;
  private _flushTimer: ReturnType<typeof setTimeout> | null = null;
  private _stale = false;
  private _firstLoadDone = false;
  private _isDisposed = false;
  private _ready = new PromiseDelegate<void>();
  private _failed = new Signal<this, APIError>(this);
}

export namespace ClusterSync {
  export interface IOptions {
    api: IClusterAPI;
    store: ClusterStore;
    /** Milliseconds between polls (the fallback when no events arrive). */
    refreshInterval: number;
    /** `app.serviceManager.events.stream`; events of other schemas are ignored. */
    events?: ISignal<unknown, { schema_id: string }> | null;
    /** Window in which events are merged into one round of requests. */
    coalesceMs?: number;
    isHidden?: () => boolean;
    /**
     * Tabs of one server that share a name share what they fetch (over a
     * BroadcastChannel), so N open tabs do not make N requests per change.
     */
    shareName?: string | null;
    /** Extra delay before fetching for events, ms (default: random up to coalesceMs). */
    jitter?: () => number;
  }
}

/** What one tab tells the others; `startedAt` is when it sent its request (ms). */
type PeerMessage = { startedAt: number } & (
  | { kind: 'list'; clusters: ICluster[] }
  | { kind: 'cluster'; cluster: ICluster }
  | { kind: 'removed'; id: string }
  /** A request for this cluster is on its way; its answer will be shared. */
  | { kind: 'asking'; id: string }
);

function pollFrequency(interval: number) {
  return { interval, backoff: true, max: Math.max(interval * 6, 60_000) };
}

function documentHidden(): boolean {
  return (
    typeof document !== 'undefined' && document.visibilityState === 'hidden'
  );
}
