/**
 * The one model behind the sidebar: profiles, clusters, and the start form's
 * draft. It refreshes by polling (the fallback) and by push events from
 * jupyter_server's event bus, coalescing both so that many events, or many
 * open tabs, do not turn into a storm of requests.
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
  type ICreateRequest,
  type IFieldError,
  type IProfile,
  type IProfiles
} from './api';
import { validateOptions } from './validator';

export const CLUSTER_EVENT_SCHEMA =
  'https://pangeo-hpc-ext.dev/events/cluster/v1';

/** Used when the server does not say how many workers a cluster may have. */
export const DEFAULT_MAX_WORKERS = 100;

/** What the server emits on the event bus for every cluster change. */
export interface IClusterEvent {
  schema_id: string;
  action: 'created' | 'updated' | 'deleted';
  cluster_id: string;
  status?: string;
}

/** The parts of `ClusterAPI` the model uses. */
export type IClusterAPI = Pick<
  ClusterAPI,
  'profiles' | 'clusters' | 'cluster' | 'create' | 'scale' | 'adapt' | 'close'
>;

/** The start form's state; kept here so the palette command submits the same thing. */
export interface IDraft {
  profile: string;
  name: string;
  workers: number;
  options: Record<string, unknown>;
}

/** Errors for the start form, split by where they are shown. */
export interface IDraftErrors {
  /** Option fields, keyed like the options form (`memory`, `job_extra_directives.0`). */
  options: IFieldError[];
  /** `workers`, `name`, `profile`. */
  fields: Record<string, string[]>;
  /** Anything that names no field we show. */
  general: string[];
}

const NO_ERRORS: IDraftErrors = { options: [], fields: {}, general: [] };

/** Fields of the create request itself rather than of the profile's options. */
const REQUEST_FIELDS = new Set(['workers', 'name', 'profile']);

export class ClustersModel implements IDisposable {
  constructor(options: ClustersModel.IOptions) {
    this._api = options.api;
    this._coalesceMs = options.coalesceMs ?? 250;
    this._isHidden = options.isHidden ?? documentHidden;
    this._defaultProfile = options.defaultProfile ?? '';
    this._events = options.events ?? null;
    this._events?.connect(this._onEvent, this);
    this._jitter = options.jitter ?? (() => Math.random() * this._coalesceMs);
    if (options.shareName && typeof BroadcastChannel !== 'undefined') {
      this._channel = new BroadcastChannel(options.shareName);
      this._channel.onmessage = event => this._onPeer(event.data);
    }
    this._poll = new Poll({
      auto: true,
      factory: () => this._pollOnce(),
      frequency: {
        interval: options.refreshInterval,
        backoff: true,
        max: Math.max(options.refreshInterval * 6, 60_000)
      },
      name: 'pangeo-hpc-ext:clusters',
      standby: () => this._isHidden()
    });
    if (typeof document !== 'undefined') {
      document.addEventListener('visibilitychange', this._onVisibility);
    }
  }

  /** Anything shown changed: profiles, clusters, draft, errors. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** A failure the user should hear about (shown as a notification). */
  get failed(): ISignal<this, APIError> {
    return this._failed;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  get loaded(): boolean {
    return this._profiles !== null;
  }

  /** The last background refresh failure, cleared by the next success. */
  get connectionError(): APIError | null {
    return this._connectionError;
  }

  get profiles(): IProfile[] {
    return this._profiles?.profiles ?? [];
  }

  get maxWorkers(): number {
    return this._profiles?.max_workers ?? DEFAULT_MAX_WORKERS;
  }

  get clusters(): ICluster[] {
    return [...this._clusters.values()];
  }

  cluster(id: string): ICluster | undefined {
    return this._clusters.get(id);
  }

  /** When the server last described this cluster (for counting walltime down). */
  fetchedAt(id: string): number {
    return this._fetchedAt.get(id) ?? Date.now();
  }

  get draft(): IDraft {
    return this._draft;
  }

  get draftErrors(): IDraftErrors {
    return this._draftErrors;
  }

  get submitting(): boolean {
    return this._submitting;
  }

  profile(name: string): IProfile | undefined {
    return this.profiles.find(p => p.name === name);
  }

  set refreshInterval(ms: number) {
    this._poll.frequency = {
      ...this._poll.frequency,
      interval: ms,
      max: Math.max(ms * 6, 60_000)
    };
  }

  set defaultProfile(name: string) {
    this._defaultProfile = name;
    if (this.loaded && !this._draftTouched && this.profile(name)) {
      this._resetDraft(name);
      this._changed.emit();
    }
  }

  /** Settles after the first load of profiles and clusters, whether it worked or not. */
  get ready(): Promise<void> {
    return this._ready.promise;
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

  /** Update the draft; a new profile starts from that profile's defaults. */
  setDraft(change: Partial<IDraft>): void {
    this._draftTouched = true;
    if (
      change.profile !== undefined &&
      change.profile !== this._draft.profile
    ) {
      this._resetDraft(change.profile);
    }
    const cleared = {
      ...this._draftErrors,
      fields: { ...this._draftErrors.fields }
    };
    if (change.name !== undefined) {
      this._draft = { ...this._draft, name: change.name };
      delete cleared.fields.name;
    }
    if (change.workers !== undefined) {
      this._draft = { ...this._draft, workers: change.workers };
      delete cleared.fields.workers;
    }
    if (change.options !== undefined) {
      const before = this._draft.options;
      this._draft = { ...this._draft, options: change.options };
      // An edited field's server error no longer applies; the others still do.
      cleared.options = cleared.options.filter(
        e => !changedField(e.field, before, change.options!)
      );
    }
    this._draftErrors = cleared;
    this._changed.emit();
  }

  /** Field errors in the draft, checked as the server will (nothing is sent while any remain). */
  validateDraft(): IDraftErrors {
    const draft = this._draft;
    const profile = this.profile(draft.profile);
    if (!profile) {
      return {
        ...NO_ERRORS,
        fields: {
          profile: [`unknown profile ${JSON.stringify(draft.profile)}`]
        }
      };
    }
    const fields: Record<string, string[]> = {};
    if (
      !Number.isInteger(draft.workers) ||
      draft.workers < 0 ||
      draft.workers > this.maxWorkers
    ) {
      fields.workers = [`must be a whole number from 0 to ${this.maxWorkers}`];
    }
    if (draft.name.length > 100) {
      fields.name = ['must have at most 100 characters'];
    }
    return {
      options: validateOptions(withoutEmpty(draft.options), profile.schema),
      fields,
      general: []
    };
  }

  /** Start a cluster from the draft; null (and errors on the draft) when it was refused. */
  async submitDraft(): Promise<ICluster | null> {
    if (this._submitting) {
      return null;
    }
    const errors = this.validateDraft();
    if (hasErrors(errors)) {
      this._draftErrors = errors;
      this._changed.emit();
      return null;
    }
    const draft = this._draft;
    const request: ICreateRequest = {
      profile: draft.profile,
      options: withoutEmpty(draft.options),
      workers: draft.workers
    };
    if (draft.name.trim()) {
      request.name = draft.name.trim();
    }
    this._submitting = true;
    this._draftErrors = NO_ERRORS;
    this._changed.emit();
    try {
      const seq = ++this._seq;
      const startedAt = Date.now();
      const cluster = await this._api.create(request);
      this._apply(cluster, seq, true, startedAt);
      this._share({ kind: 'cluster', cluster, startedAt });
      this._draft = { ...this._draft, name: '' };
      return cluster;
    } catch (error) {
      const apiError = asAPIError(error);
      this._draftErrors = this._splitErrors(apiError);
      this._failed.emit(apiError);
      return null;
    } finally {
      this._submitting = false;
      this._changed.emit();
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
    const cluster = this._clusters.get(id);
    if (cluster) {
      this._clusters.set(id, { ...cluster, status: 'closing' });
      this._changed.emit();
    }
    const seq = ++this._seq;
    const startedAt = Date.now();
    try {
      await this._api.close(id);
      this._remove(id, seq, true, startedAt);
      this._share({ kind: 'removed', id, startedAt });
      return true;
    } catch (error) {
      const apiError = asAPIError(error);
      if (apiError.status === 404) {
        this._remove(id, seq, true, startedAt);
        return true;
      }
      this._failed.emit(apiError);
      void this.refresh().catch(() => undefined);
      return false;
    } finally {
      this._changed.emit();
    }
  }

  async closeAll(): Promise<boolean> {
    const results = await Promise.all(this.clusters.map(c => this.close(c.id)));
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
    try {
      if (!this._profiles) {
        await this._loadProfiles();
      }
      await this.refresh();
      this._stale = false;
      if (this._connectionError) {
        this._connectionError = null;
        this._changed.emit();
      }
    } catch (error) {
      const apiError = asAPIError(error);
      const first = this._connectionError === null;
      this._connectionError = apiError;
      this._changed.emit();
      if (first) {
        this._failed.emit(apiError);
      }
      throw apiError; // makes the poll back off
    } finally {
      this._firstLoadDone = true;
      this._ready.resolve();
    }
  }

  private async _loadProfiles(): Promise<void> {
    this._profiles = await this._api.profiles();
    const wanted = this._draft.profile || this._defaultProfile;
    this._resetDraft(
      this.profile(wanted) ? wanted : (this.profiles[0]?.name ?? '')
    );
    this._changed.emit();
  }

  private _resetDraft(profileName: string): void {
    const profile = this.profile(profileName);
    this._draft = {
      profile: profileName,
      name: this._draft.name,
      workers: this._draft.workers,
      options: profile ? initialOptions(profile) : {}
    };
    this._draftErrors = NO_ERRORS;
  }

  private async _fetchList(): Promise<void> {
    const seq = ++this._seq;
    const startedAt = Date.now();
    const clusters = await this._api.clusters();
    const seen = new Set<string>();
    for (const cluster of clusters) {
      seen.add(cluster.id);
      this._apply(cluster, seq, false, startedAt);
    }
    for (const id of [...this._clusters.keys()]) {
      if (!seen.has(id)) {
        this._remove(id, seq, false, startedAt);
      }
    }
    this._changed.emit();
    this._share({ kind: 'list', clusters, startedAt });
  }

  private async _fetchCluster(id: string): Promise<void> {
    const seq = ++this._seq;
    const startedAt = Date.now();
    try {
      const cluster = await this._api.cluster(id);
      this._apply(cluster, seq, true, startedAt);
      this._share({ kind: 'cluster', cluster, startedAt });
    } catch (error) {
      const apiError = asAPIError(error);
      if (apiError.status !== 404) {
        throw apiError;
      }
      this._remove(id, seq, true, startedAt);
      this._share({ kind: 'removed', id, startedAt });
    }
  }

  /**
   * Take a cluster as described by a request sent at `seq`, unless a request
   * sent later already described it (answers can arrive out of order).
   */
  private _apply(
    cluster: ICluster,
    seq: number,
    emit = true,
    askedAt = Date.now()
  ): void {
    if (!this._accept(cluster.id, seq, askedAt)) {
      return;
    }
    this._fetchedAt.set(cluster.id, Date.now());
    this._clusters.set(cluster.id, cluster);
    if (emit) {
      this._changed.emit();
    }
  }

  private _remove(
    id: string,
    seq: number,
    emit = true,
    askedAt = Date.now()
  ): void {
    if (!this._accept(id, seq, askedAt)) {
      return;
    }
    this._clusters.delete(id);
    this._fetchedAt.delete(id);
    if (emit) {
      this._changed.emit();
    }
  }

  /**
   * Whether news about `id` from request `seq` is the newest seen; if so it
   * is recorded. Knowledge is as new as the moment it was asked for, not the
   * moment it arrived: a peer's older answer delivered late must not shadow a
   * newer one.
   */
  private _accept(id: string, seq: number, askedAt: number): boolean {
    if ((this._appliedSeq.get(id) ?? 0) > seq) {
      return false;
    }
    this._appliedSeq.set(id, seq);
    this._learnedAt.set(id, Math.max(this._learnedAt.get(id) ?? 0, askedAt));
    return true;
  }

  private async _mutate(
    id: string,
    request: () => Promise<ICluster>
  ): Promise<ICluster | null> {
    const seq = ++this._seq;
    const startedAt = Date.now();
    try {
      const cluster = await request();
      this._apply(cluster, seq, true, startedAt);
      this._share({ kind: 'cluster', cluster, startedAt });
      return cluster;
    } catch (error) {
      this._failed.emit(asAPIError(error));
      void this._fetchCluster(id).catch(() => undefined);
      return null;
    }
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
      this._remove(event.cluster_id, ++this._seq);
      return;
    }
    if (!this._pending.has(event.cluster_id)) {
      this._pending.set(event.cluster_id, Date.now());
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

  /** Tell the other tabs of this server what we just learned, so they need not ask. */
  private _share(message: PeerMessage): void {
    this._channel?.postMessage(message);
  }

  private _onPeer(message: PeerMessage): void {
    // Tabs of one browser share a clock: when the peer asked is what counts.
    // What this tab learned after that (a cluster it just created, one it saw
    // deleted) is newer than the peer's answer and stays.
    const asked = message.startedAt;
    const newer = (id: string) => (this._learnedAt.get(id) ?? 0) > asked;
    const seq = ++this._seq;
    if (message.kind === 'list') {
      const seen = new Set(message.clusters.map(c => c.id));
      for (const cluster of message.clusters) {
        if (!newer(cluster.id)) {
          this._apply(cluster, seq, false, asked);
        }
        this._peerFetchedAt.set(cluster.id, asked);
      }
      for (const id of [...this._clusters.keys()]) {
        if (!seen.has(id) && !newer(id)) {
          this._remove(id, seq, false, asked);
        }
      }
      this._peerListAt = asked;
      this._changed.emit();
      // A tab just polled for all of us: our own poll can wait a full interval.
      if (this._firstLoadDone) {
        void this._poll.schedule({ phase: 'resolved' });
      }
      return;
    }
    const id = message.kind === 'cluster' ? message.cluster.id : message.id;
    this._peerFetchedAt.set(id, asked);
    if (newer(id)) {
      return;
    }
    if (message.kind === 'cluster') {
      this._apply(message.cluster, seq, true, asked);
    } else {
      this._remove(id, seq, true, asked);
    }
  }

  /** One round of fetches for all the events of the last window. */
  private async _flush(): Promise<void> {
    // What another tab fetched after the event came is as good as our own answer.
    const ids = [...this._pending]
      .filter(([id, at]) => (this._peerFetchedAt.get(id) ?? 0) <= at)
      .map(([id]) => id);
    const earliest = Math.min(...this._pending.values());
    this._pending.clear();
    if (ids.length === 0) {
      return;
    }
    if (this._isHidden()) {
      // A hidden tab fetches nothing; it catches up when shown again.
      this._stale = true;
      return;
    }
    if (ids.length > 3) {
      if (this._peerListAt <= earliest) {
        await this.refresh();
      }
    } else {
      await Promise.all(ids.map(id => this._fetchCluster(id)));
    }
  }

  private _onVisibility = (): void => {
    if (!this._isHidden() && this._stale) {
      this._stale = false;
      void this.refresh().catch(() => undefined);
    }
  };

  private _splitErrors(error: APIError): IDraftErrors {
    const profile = this.profile(this._draft.profile);
    const optionNames = new Set(Object.keys(profile?.schema.properties ?? {}));
    const result: IDraftErrors = { options: [], fields: {}, general: [] };
    for (const { field, message } of error.errors) {
      const option = field.startsWith('options.')
        ? field.slice('options.'.length)
        : field;
      if (REQUEST_FIELDS.has(field)) {
        (result.fields[field] ??= []).push(message);
      } else if (
        field.startsWith('options.') ||
        optionNames.has(option.split('.')[0])
      ) {
        result.options.push({ field: option, message });
      } else {
        result.general.push(field ? `${field}: ${message}` : message);
      }
    }
    if (!hasErrors(result)) {
      result.general.push(error.message);
    }
    return result;
  }

  private _api: IClusterAPI;
  private _events: ISignal<unknown, { schema_id: string }> | null;
  private _poll: Poll;
  private _coalesceMs: number;
  private _isHidden: () => boolean;
  private _defaultProfile: string;
  private _profiles: IProfiles | null = null;
  private _clusters = new Map<string, ICluster>();
  private _fetchedAt = new Map<string, number>();
  private _appliedSeq = new Map<string, number>();
  private _seq = 0;
  private _listRequest: Promise<void> | null = null;
  private _listAgain = false;
  /** Cluster ids with events not fetched yet, and when the first came. */
  private _pending = new Map<string, number>();
  private _peerFetchedAt = new Map<string, number>();
  /** When this tab last took a cluster's state from anywhere (ms). */
  private _learnedAt = new Map<string, number>();
  private _peerListAt = 0;
  private _channel: BroadcastChannel | null = null;
  private _jitter: () => number;
  private _flushTimer: ReturnType<typeof setTimeout> | null = null;
  private _stale = false;
  private _connectionError: APIError | null = null;
  private _draft: IDraft = { profile: '', name: '', workers: 1, options: {} };
  private _draftErrors: IDraftErrors = NO_ERRORS;
  private _draftTouched = false;
  private _submitting = false;
  private _isDisposed = false;
  private _ready = new PromiseDelegate<void>();
  private _firstLoadDone = false;
  private _changed = new Signal<this, void>(this);
  private _failed = new Signal<this, APIError>(this);
}

export namespace ClustersModel {
  export interface IOptions {
    api: IClusterAPI;
    /** Milliseconds between polls (the fallback when no events arrive). */
    refreshInterval: number;
    /** `app.serviceManager.events.stream`; events of other schemas are ignored. */
    events?: ISignal<unknown, { schema_id: string }> | null;
    /** Window in which events are merged into one round of requests. */
    coalesceMs?: number;
    defaultProfile?: string;
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
);

export function hasErrors(errors: IDraftErrors): boolean {
  return (
    errors.options.length > 0 ||
    errors.general.length > 0 ||
    Object.keys(errors.fields).length > 0
  );
}

/** The profile's defaults for the fields its schema shows; unset ones left to the server. */
export function initialOptions(profile: IProfile): Record<string, unknown> {
  const options: Record<string, unknown> = {};
  for (const [name, property] of Object.entries(
    profile.schema.properties ?? {}
  )) {
    const value = profile.defaults[name] ?? property.default;
    if (value !== undefined && value !== null) {
      options[name] = structuredCloneJSON(value);
    }
  }
  return options;
}

function structuredCloneJSON<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

/** Cleared form fields mean "use the default": leave them out of the request. */
function withoutEmpty(
  options: Record<string, unknown>
): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(options)) {
    if (value !== undefined && value !== null && value !== '') {
      result[name] = value;
    }
  }
  return result;
}

function changedField(
  field: string,
  before: Record<string, unknown>,
  after: Record<string, unknown>
): boolean {
  const top = field.split('.')[0];
  return JSON.stringify(before[top]) !== JSON.stringify(after[top]);
}

function asAPIError(error: unknown): APIError {
  if (error instanceof APIError) {
    return error;
  }
  return new APIError(
    0,
    error instanceof Error ? error.message : String(error)
  );
}

function documentHidden(): boolean {
  return (
    typeof document !== 'undefined' && document.visibilityState === 'hidden'
  );
}
