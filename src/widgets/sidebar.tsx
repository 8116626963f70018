import { ReactWidget, UseSignal } from '@jupyterlab/ui-components';
import type { ISignal } from '@lumino/signaling';
import React from 'react';

import type { ICluster, IJobLog } from '../api';
import { SidebarView } from '../components/SidebarView';
import { clusterIcon } from '../icon';
import type { ClustersModel } from '../model';

export const SIDEBAR_ID = 'pangeo-hpc-sidebar';

/** What the sidebar asks the plugin to do (commands, dialogs, main-area tabs). */
export interface ISidebarActions {
  start: () => void;
  openDashboard: (cluster: ICluster) => void;
  loadPlots: (cluster: ICluster) => Promise<Record<string, string>>;
  loadJobLog: (cluster: ICluster, jobId: string) => Promise<IJobLog>;
  openPlot: (cluster: ICluster, title: string, url: string) => void;
  insertCode: (cluster: ICluster) => void;
  shutdown: (cluster: ICluster) => void;
  canInsertCode: () => boolean;
  /** Fires when `canInsertCode` may have changed. */
  insertTargetChanged: ISignal<unknown, unknown> | null;
}

/** The left-area panel: renders the model, sends the user's actions back to it. */
export class ClusterSidebar extends ReactWidget {
  constructor(
    private readonly model: ClustersModel,
    private readonly actions: ISidebarActions
  ) {
    super();
    this.id = SIDEBAR_ID;
    this.addClass('pangeo-hpc-Sidebar');
    this.title.icon = clusterIcon;
    this.title.caption = 'Dask HPC Clusters';
    this.node.dataset.testid = SIDEBAR_ID;
    actions.insertTargetChanged?.connect(this._onInsertTarget, this);
  }

  dispose(): void {
    this.actions.insertTargetChanged?.disconnect(this._onInsertTarget, this);
    super.dispose();
  }

  private _onInsertTarget(): void {
    this.update();
  }

  protected render(): JSX.Element {
    const { model, actions } = this;
    const { store, sync, draft } = model;
    return (
      <UseSignal signal={model.changed}>
        {() => (
          <SidebarView
            loaded={store.loaded}
            connectionError={store.connectionError?.message ?? null}
            clusters={store.ownClusters}
            notebookClusters={store.notebookClusters}
            receivedAt={id => store.receivedAt(id)}
            history={id => store.history(id)}
            maxWorkers={store.maxWorkers}
            profiles={store.profiles}
            draft={draft.value}
            draftErrors={draft.errors}
            submitting={draft.submitting}
            created={draft.created}
            canInsertCode={actions.canInsertCode()}
            onDraftChange={change => draft.update(change)}
            onStart={actions.start}
            onRefresh={() => void sync.refresh().catch(() => undefined)}
            onScale={(id, workers) => void sync.scale(id, workers)}
            onAdapt={(id, bounds) => sync.adapt(id, bounds)}
            onOpenDashboard={actions.openDashboard}
            loadPlots={actions.loadPlots}
            loadJobLog={actions.loadJobLog}
            onOpenPlot={actions.openPlot}
            onInsertCode={actions.insertCode}
            onShutdown={actions.shutdown}
          />
        )}
      </UseSignal>
    );
  }
}
