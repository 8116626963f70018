import React from 'react';

import type { IAdaptBounds, ICluster } from '../api';
import type { ClustersModel, IDraft } from '../model';
import { ClusterCard } from './ClusterCard';
import { ErrorMessage } from './ErrorMessage';
import { StartForm } from './StartForm';

/** What the sidebar shows: the parts of the model it reads. */
export type ISidebarState = Pick<
  ClustersModel,
  | 'loaded'
  | 'connectionError'
  | 'profiles'
  | 'clusters'
  | 'maxWorkers'
  | 'draft'
  | 'draftErrors'
  | 'submitting'
  | 'fetchedAt'
>;

export interface ISidebarProps {
  state: ISidebarState;
  canInsertCode: boolean;
  onDraftChange: (change: Partial<IDraft>) => void;
  onStart: () => void;
  onRefresh: () => void;
  onScale: (id: string, workers: number) => void;
  onAdapt: (id: string, bounds: IAdaptBounds | null) => Promise<unknown>;
  onOpenDashboard: (cluster: ICluster) => void;
  loadPlots: (cluster: ICluster) => Promise<Record<string, string>>;
  onOpenPlot: (cluster: ICluster, title: string, url: string) => void;
  onInsertCode: (cluster: ICluster) => void;
  onShutdown: (cluster: ICluster) => void;
}

export function Sidebar(props: ISidebarProps): JSX.Element {
  const { state } = props;
  const { clusters } = state;
  return (
    <div className="pangeo-hpc-Sidebar-content">
      <header className="pangeo-hpc-Sidebar-header">
        <h2>Dask HPC Clusters</h2>
        <button
          type="button"
          className="jp-mod-styled pangeo-hpc-Button"
          data-testid="pangeo-hpc-refresh"
          title="Refresh"
          onClick={props.onRefresh}
        >
          ⟳
        </button>
      </header>
      <ErrorMessage
        message={state.connectionError?.message}
        className="pangeo-hpc-ConnectionError"
        testid="pangeo-hpc-connection-error"
      />
      <section
        className="pangeo-hpc-Sidebar-section"
        data-testid="pangeo-hpc-cluster-list"
      >
        <h3>Clusters ({clusters.length})</h3>
        {clusters.length === 0 && (
          <div className="pangeo-hpc-mod-empty">No clusters running.</div>
        )}
        {clusters.map(cluster => (
          <ClusterCard
            key={cluster.id}
            cluster={cluster}
            maxWorkers={state.maxWorkers}
            fetchedAt={state.fetchedAt(cluster.id)}
            canInsertCode={props.canInsertCode}
            onScale={workers => props.onScale(cluster.id, workers)}
            onAdapt={bounds => props.onAdapt(cluster.id, bounds)}
            onOpenDashboard={() => props.onOpenDashboard(cluster)}
            loadPlots={() => props.loadPlots(cluster)}
            onOpenPlot={(title, url) => props.onOpenPlot(cluster, title, url)}
            onInsertCode={() => props.onInsertCode(cluster)}
            onShutdown={() => props.onShutdown(cluster)}
          />
        ))}
      </section>
      <section className="pangeo-hpc-Sidebar-section">
        <h3>New cluster</h3>
        {state.loaded ? (
          <StartForm
            profiles={state.profiles}
            draft={state.draft}
            errors={state.draftErrors}
            maxWorkers={state.maxWorkers}
            submitting={state.submitting}
            onChange={props.onDraftChange}
            onSubmit={props.onStart}
          />
        ) : (
          <div className="pangeo-hpc-mod-empty">Loading profiles…</div>
        )}
      </section>
    </div>
  );
}
