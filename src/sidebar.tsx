import { ReactWidget, UseSignal } from '@jupyterlab/ui-components';
import type { ISignal } from '@lumino/signaling';
import React from 'react';

import type { IAdaptBounds, ICluster } from './api';
import { Sidebar } from './components/Sidebar';
import { clusterIcon } from './icon';
import type { ClustersModel } from './model';

/** What the sidebar asks the plugin to do (commands, dialogs, main-area tabs). */
export interface ISidebarActions {
  start: () => void;
  openDashboard: (cluster: ICluster) => void;
  loadPlots: (cluster: ICluster) => Promise<Record<string, string>>;
  openPlot: (cluster: ICluster, title: string, url: string) => void;
  insertCode: (cluster: ICluster) => void;
  shutdown: (cluster: ICluster) => void;
  canInsertCode: () => boolean;
  /** Fires when `canInsertCode` may have changed. */
  insertTargetChanged: ISignal<unknown, unknown> | null;
}

export class ClusterSidebar extends ReactWidget {
  constructor(
    private readonly model: ClustersModel,
    private readonly actions: ISidebarActions
  ) {
    super();
    this.id = 'pangeo-hpc-sidebar';
    this.addClass('pangeo-hpc-Sidebar');
    this.title.icon = clusterIcon;
    this.title.caption = 'Dask HPC Clusters';
    this.node.dataset.testid = 'pangeo-hpc-sidebar';
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
    return (
      <UseSignal signal={model.changed}>
        {() => (
          <Sidebar
            state={model}
            canInsertCode={actions.canInsertCode()}
            onDraftChange={change => model.setDraft(change)}
            onStart={actions.start}
            onRefresh={() => void model.refresh().catch(() => undefined)}
            onScale={(id: string, workers: number) =>
              void model.scale(id, workers)
            }
            onAdapt={(id: string, bounds: IAdaptBounds | null) =>
              model.adapt(id, bounds)
            }
            onOpenDashboard={actions.openDashboard}
            loadPlots={actions.loadPlots}
            onOpenPlot={actions.openPlot}
            onInsertCode={actions.insertCode}
            onShutdown={actions.shutdown}
          />
        )}
      </UseSignal>
    );
  }
}
