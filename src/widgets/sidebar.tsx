import { ReactWidget, UseSignal } from '@jupyterlab/ui-components';
import type { ISignal } from '@lumino/signaling';
import React from 'react';

import type { ISidebarActions } from '../components/actions';
import { SidebarView } from '../components/SidebarView';
import { clusterIcon } from '../icon';
import type { ClustersModel } from '../model';

export const SIDEBAR_ID = 'pangeo-hpc-sidebar';

/** Where "<> Client" would insert code: whether there is a notebook, and when that changes. */
export interface IInsertTarget {
  available(): boolean;
  changed: ISignal<unknown, unknown> | null;
}

/** The left-area panel: renders the model, sends the user's actions back through `actions`. */
export class ClusterSidebar extends ReactWidget {
  constructor(
    private readonly model: ClustersModel,
    private readonly actions: ISidebarActions,
    private readonly insertTarget: IInsertTarget
  ) {
    super();
    this.id = SIDEBAR_ID;
    this.addClass('pangeo-hpc-Sidebar');
    this.title.icon = clusterIcon;
    this.title.caption = 'Dask HPC Clusters';
    this.node.dataset.testid = SIDEBAR_ID;
    insertTarget.changed?.connect(this._onInsertTarget, this);
  }

  dispose(): void {
    this.insertTarget.changed?.disconnect(this._onInsertTarget, this);
    super.dispose();
  }

  private _onInsertTarget(): void {
    this.update();
  }

  protected render(): JSX.Element {
    const { model, actions } = this;
    const { store, draft } = model;
    return (
      <UseSignal signal={model.changed}>
        {() => (
          <SidebarView
            state={{
              loaded: store.loaded,
              connectionError: store.connectionError?.message ?? null,
              profiles: store.profiles,
              clusters: store.ownClusters,
              notebookClusters: store.notebookClusters,
              times: store,
              maxWorkers: store.maxWorkers,
              canInsertCode: this.insertTarget.available(),
              draft: draft.value,
              draftErrors: draft.errors,
              submitting: draft.submitting,
              created: draft.created,
              dashboardURLError: model.dashboardURLError
            }}
            actions={actions}
          />
        )}
      </UseSignal>
    );
  }
}
