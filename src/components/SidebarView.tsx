import React from 'react';

import type { IAdaptBounds, ICluster, IJobLog, IProfile } from '../api';
import type { IDraft, IDraftErrors } from '../model';
import { ClusterCard } from './ClusterCard';
import { ErrorMessage } from './ErrorMessage';
import { StartForm } from './StartForm';

export interface ISidebarViewProps {
  /** Whether the profiles arrived (the form waits for them). */
  loaded: boolean;
  connectionError: string | null;
  clusters: ICluster[];
  /** When the server last described a cluster (ms), for walltime countdowns. */
  receivedAt: (id: string) => number;
  maxWorkers: number;
  profiles: IProfile[];
  draft: IDraft;
  draftErrors: IDraftErrors;
  submitting: boolean;
  canInsertCode: boolean;
  onDraftChange: (change: Partial<IDraft>) => void;
  onStart: () => void;
  onRefresh: () => void;
  onScale: (id: string, workers: number) => void;
  onAdapt: (id: string, bounds: IAdaptBounds | null) => Promise<unknown>;
  onOpenDashboard: (cluster: ICluster) => void;
  loadPlots: (cluster: ICluster) => Promise<Record<string, string>>;
  loadJobLog: (cluster: ICluster, jobId: string) => Promise<IJobLog>;
  onOpenPlot: (cluster: ICluster, title: string, url: string) => void;
  onInsertCode: (cluster: ICluster) => void;
  onShutdown: (cluster: ICluster) => void;
}

/** The sidebar's content: the clusters, then the form to start one. */
export function SidebarView(props: ISidebarViewProps): JSX.Element {
  const { clusters } = props;
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
        message={props.connectionError}
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
            maxWorkers={props.maxWorkers}
            receivedAt={props.receivedAt(cluster.id)}
            canInsertCode={props.canInsertCode}
            onScale={workers => props.onScale(cluster.id, workers)}
            onAdapt={bounds => props.onAdapt(cluster.id, bounds)}
            onOpenDashboard={() => props.onOpenDashboard(cluster)}
            loadPlots={() => props.loadPlots(cluster)}
            loadJobLog={jobId => props.loadJobLog(cluster, jobId)}
            onOpenPlot={(title, url) => props.onOpenPlot(cluster, title, url)}
            onInsertCode={() => props.onInsertCode(cluster)}
            onShutdown={() => props.onShutdown(cluster)}
          />
        ))}
      </section>
      <section className="pangeo-hpc-Sidebar-section">
        <h3>New cluster</h3>
        {props.loaded ? (
          <StartForm
            profiles={props.profiles}
            draft={props.draft}
            errors={props.draftErrors}
            maxWorkers={props.maxWorkers}
            submitting={props.submitting}
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
