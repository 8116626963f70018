import React from 'react';

import type { IAdaptBounds, ICluster, IJobLog } from '../api';
import type { ISample } from '../model/history';
import { ClusterCard } from './ClusterCard';

export interface IClusterSectionsProps {
  /** Started from JupyterLab: scaled and closed here. */
  clusters: ICluster[];
  /** Started in notebooks: listed apart, scaled in their notebook. */
  notebookClusters: ICluster[];
  /** When the server last described a cluster (ms), for walltime countdowns. */
  receivedAt: (id: string) => number;
  /** A cluster's workers and jobs over time, for its timeline. */
  history: (id: string) => readonly ISample[];
  maxWorkers: number;
  canInsertCode: boolean;
  onScale: (id: string, workers: number) => void;
  onAdapt: (id: string, bounds: IAdaptBounds | null) => Promise<unknown>;
  onOpenDashboard: (cluster: ICluster) => void;
  loadPlots: (cluster: ICluster) => Promise<Record<string, string>>;
  loadJobLog: (cluster: ICluster, jobId: string) => Promise<IJobLog>;
  onOpenPlot: (cluster: ICluster, title: string, url: string) => void;
  onInsertCode: (cluster: ICluster) => void;
  onShutdown: (cluster: ICluster) => void;
}

function clusterCard(
  props: IClusterSectionsProps,
  cluster: ICluster
): JSX.Element {
  return (
    <ClusterCard
      key={cluster.id}
      cluster={cluster}
      maxWorkers={props.maxWorkers}
      receivedAt={props.receivedAt(cluster.id)}
      history={props.history(cluster.id)}
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
  );
}

/**
 * The clusters started here, then those started in notebooks under their own
 * heading (only when there are some).
 */
export function ClusterSections(props: IClusterSectionsProps): JSX.Element {
  const { clusters, notebookClusters } = props;
  return (
    <>
      <section
        className="pangeo-hpc-Sidebar-section"
        data-testid="pangeo-hpc-cluster-list"
      >
        <h3>Clusters ({clusters.length})</h3>
        {clusters.length === 0 && (
          <div className="pangeo-hpc-mod-empty">
            {notebookClusters.length > 0
              ? 'None started from JupyterLab.'
              : 'No clusters running.'}
          </div>
        )}
        {clusters.map(cluster => clusterCard(props, cluster))}
      </section>
      {notebookClusters.length > 0 && (
        <section
          className="pangeo-hpc-Sidebar-section"
          data-testid="pangeo-hpc-notebook-list"
        >
          <h3>From notebooks ({notebookClusters.length})</h3>
          {notebookClusters.map(cluster => clusterCard(props, cluster))}
        </section>
      )}
    </>
  );
}
