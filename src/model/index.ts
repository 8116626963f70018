/**
 * The one model behind the sidebar, in three parts: the store (what is
 * known), the sync (how it is kept current, and every request), and the
 * start form's draft. Widgets read the store and the draft and act through
 * the sync and the draft; they hold no state of their own worth keeping.
 */
import type { IDisposable } from '@lumino/disposable';
import { type ISignal, Signal } from '@lumino/signaling';

import type { APIError } from '../api';
import { StartDraft } from './draft';
import { ClusterStore } from './store';
import { ClusterSync } from './sync';

export * from './draft';
export * from './history';
export * from './store';
export * from './sync';

export class ClustersModel implements IDisposable {
  constructor(options: ClustersModel.IOptions) {
    this.store = new ClusterStore();
    this.sync = new ClusterSync({ ...options, store: this.store });
    this.draft = new StartDraft({
      store: this.store,
      sync: this.sync,
      defaultProfile: options.defaultProfile
    });
    this.store.changed.connect(this._relay, this);
    this.draft.changed.connect(this._relay, this);
  }

  readonly store: ClusterStore;
  readonly sync: ClusterSync;
  readonly draft: StartDraft;

  /** Anything shown changed: the store or the draft. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** A failure the user should hear about (shown as a notification). */
  get failed(): ISignal<ClusterSync, APIError> {
    return this.sync.failed;
  }

  /** Why the dashboard URL last pasted was refused; null once one opened. */
  get dashboardURLError(): string | null {
    return this._dashboardURLError;
  }

  set dashboardURLError(message: string | null) {
    if (message !== this._dashboardURLError) {
      this._dashboardURLError = message;
      this._changed.emit();
    }
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this.sync.dispose();
    this.draft.dispose();
    this.store.dispose();
    Signal.clearData(this);
  }

  private _relay(): void {
    this._changed.emit();
  }

  private _dashboardURLError: string | null = null;
  private _isDisposed = false;
  private _changed = new Signal<this, void>(this);
}

export namespace ClustersModel {
  export interface IOptions
    extends
      Omit<ClusterSync.IOptions, 'store'>,
      Omit<StartDraft.IOptions, 'store' | 'sync'> {}
}
