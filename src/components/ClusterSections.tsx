import React from 'react';

import type { ICluster } from '../api';
import type { ISample } from '../model/history';
import type { IClusterActions } from './actions';
import { ClusterCard } from './ClusterCard';

/** What the cards show beside each cluster's description (the store answers). */
export interface IClusterTimes {
  /** When the server last described a cluster (ms), for walltime countdowns. */
  receivedAt(id: string): number;
  /** A cluster's workers and jobs over time, for its timeline. */
  history(id: string): readonly ISample[];
}

export interface IClusterSectionsProps {
  /** Started from JupyterLab: scaled and closed here. */
  clusters: ICluster[];
  /** Started in notebooks: listed apart, scaled in their notebook. */
  notebookClusters: ICluster[];
  times: IClusterTimes;
  maxWorkers: number;
  canInsertCode: boolean;
  actions: IClusterActions;
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
      receivedAt={props.times.receivedAt(cluster.id)}
      history={props.times.history(cluster.id)}
      canInsertCode={props.canInsertCode}
      actions={props.actions}
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
