/**
 * What the sidebar knows: the server's profiles, the connection's health and
 * one record per cluster id. No requests are made here; `ClusterSync` fills
 * the store and widgets read it.
 */
import { type ISignal, Signal } from '@lumino/signaling';

import {
  type APIError,
  type ICluster,
  type IProfile,
  type IProfiles,
  isNotebookCluster
} from '../api';
import { addSample, type ISample, sampleOf } from './history';

/** Used when the server does not say how many workers a cluster may have. */
export const DEFAULT_MAX_WORKERS = 100;

/** Where a piece of news about clusters comes from in time. */
export interface IStamp {
  /** The order in which this tab sent its requests (answers can arrive out of order). */
  seq: number;
  /** When the request was sent (ms; the tabs of one browser share this clock). */
  askedAt: number;
}

/** Everything known about one cluster id. */
export interface IClusterRecord {
  /** As the server last described it; null once it is known to be gone. */
  cluster: ICluster | null;
  /** The newest request whose answer was taken. */
  seq: number;
  /**
   * When the knowledge held was asked for (ms). Knowledge is as new as the
   * question, not the answer: a late-delivered older answer must not shadow it.
   */
  askedAt: number;
  /** When the description arrived (ms): walltime counts down from here. */
  receivedAt: number;
  /** When another tab last asked the server about it (ms), 0 if none did. */
  peerAskedAt: number;
  /** Its workers and jobs over time, as this tab saw them (for the card's timeline). */
  history: readonly ISample[];
}

export class ClusterStore {
  /** Anything shown changed: profiles, clusters, the connection error. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get loaded(): boolean {
    return this._profiles !== null;
  }

  get profiles(): IProfile[] {
    return this._profiles?.profiles ?? NO_PROFILES;
  }

  get maxWorkers(): number {
    return this._profiles?.max_workers ?? DEFAULT_MAX_WORKERS;
  }

  profile(name: string): IProfile | undefined {
    return this.profiles.find(p => p.name === name);
  }

  setProfiles(profiles: IProfiles): void {
    this._profiles = profiles;
    this._emit();
  }

  /** The last background refresh failure, null since the last success. */
  get connectionError(): APIError | null {
    return this._connectionError;
  }

  set connectionError(error: APIError | null) {
    if (error === this._connectionError) {
      return;
    }
    this._connectionError = error;
    this._emit();
  }

  /** The clusters known to exist, in the order they were first seen. */
  get clusters(): ICluster[] {
    const clusters: ICluster[] = [];
    for (const record of this._records.values()) {
      if (record.cluster) {
        clusters.push(record.cluster);
      }
    }
    return clusters;
  }

  /** The clusters started from JupyterLab: the sidebar scales and closes them. */
  get ownClusters(): ICluster[] {
    return this.clusters.filter(c => !isNotebookCluster(c));
  }

  /** The clusters started in notebooks: listed apart, scaled only in their notebook. */
  get notebookClusters(): ICluster[] {
    return this.clusters.filter(isNotebookCluster);
  }

  cluster(id: string): ICluster | undefined {
    return this._records.get(id)?.cluster ?? undefined;
  }

  record(id: string): Readonly<IClusterRecord> | undefined {
    return this._records.get(id);
  }

  /** The cluster's workers and jobs over time, oldest first. */
  history(id: string): readonly ISample[] {
    return this._records.get(id)?.history ?? NO_HISTORY;
  }

  /** When the server last described this cluster (ms; now if it never did). */
  receivedAt(id: string): number {
    const record = this._records.get(id);
    return record?.cluster ? record.receivedAt : Date.now();
  }

  /** Whether what this tab holds about `id` was asked for after `time`. */
  knownSince(id: string, time: number): boolean {
    return (this._records.get(id)?.askedAt ?? 0) > time;
  }

  /** A stamp for a request about to be sent (or news that was asked for at `askedAt`). */
  stamp(askedAt = Date.now()): IStamp {
    return { seq: ++this._seq, askedAt };
  }

  /** Take a cluster as described by a request, unless a later request already described it. */
  put(cluster: ICluster, stamp: IStamp): boolean {
    const record = this._accept(cluster.id, stamp);
    if (!record) {
      return false;
    }
    if (record.cluster === null) {
      // Seen again after it was gone: it goes to the end, like a new one.
      this._records.delete(cluster.id);
      this._records.set(cluster.id, record);
    }
    record.cluster = cluster;
    record.receivedAt = Date.now();
    record.history = addSample(
      record.history,
      sampleOf(cluster, record.receivedAt)
    );
    this._emit();
    return true;
  }

  /** The cluster is gone, unless a later request said otherwise. */
  remove(id: string, stamp: IStamp): boolean {
    const record = this._accept(id, stamp);
    if (!record) {
      return false;
    }
    record.cluster = null;
    this._emit();
    return true;
  }

  /**
   * A full list: every cluster in it, and every cluster not in it is gone.
   * Ids for which `keep` holds are left as they are.
   */
  putList(
    clusters: ICluster[],
    stamp: IStamp,
    keep: (id: string) => boolean = () => false
  ): void {
    this.batch(() => {
      const listed = new Set<string>();
      for (const cluster of clusters) {
        listed.add(cluster.id);
        if (!keep(cluster.id)) {
          this.put(cluster, stamp);
        }
      }
      for (const { id } of this.clusters) {
        if (!listed.has(id) && !keep(id)) {
          this.remove(id, stamp);
        }
      }
    });
  }

  /** Shown as closing at once, before the server confirms. */
  markClosing(id: string): void {
    const record = this._records.get(id);
    if (record?.cluster) {
      record.cluster = { ...record.cluster, status: 'closing' };
      this._emit();
    }
  }

  notePeerAsked(id: string, askedAt: number): void {
    const record = this._records.get(id) ?? this._newRecord(id);
    record.peerAskedAt = Math.max(record.peerAskedAt, askedAt);
  }

  /** Run `change` and emit `changed` once at the end, if anything changed. */
  batch(change: () => void): void {
    this._batchDepth++;
    try {
      change();
    } finally {
      this._batchDepth--;
      if (this._batchDepth === 0 && this._batchChanged) {
        this._batchChanged = false;
        this._changed.emit();
      }
    }
  }

  dispose(): void {
    Signal.clearData(this);
  }

  /** The record to update if news stamped `stamp` is the newest about `id`. */
  private _accept(id: string, stamp: IStamp): IClusterRecord | null {
    const record = this._records.get(id) ?? this._newRecord(id);
    if (record.seq > stamp.seq) {
      return null;
    }
    record.seq = stamp.seq;
    record.askedAt = Math.max(record.askedAt, stamp.askedAt);
    return record;
  }

  private _newRecord(id: string): IClusterRecord {
    const record: IClusterRecord = {
      cluster: null,
      seq: 0,
      askedAt: 0,
      receivedAt: 0,
      peerAskedAt: 0,
      history: NO_HISTORY
    };
    this._records.set(id, record);
    return record;
  }

  private _emit(): void {
    if (this._batchDepth > 0) {
      this._batchChanged = true;
    } else {
      this._changed.emit();
    }
  }

  private _profiles: IProfiles | null = null;
  private _connectionError: APIError | null = null;
  private _records = new Map<string, IClusterRecord>();
  private _seq = 0;
  private _batchDepth = 0;
  private _batchChanged = false;
  private _changed = new Signal<this, void>(this);
}

const NO_PROFILES: IProfile[] = [];
const NO_HISTORY: readonly ISample[] = [];
