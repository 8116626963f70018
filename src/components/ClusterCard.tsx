import React from 'react';

import { type ICluster, isNotebookCluster } from '../api';
import {
  clusterBadge,
  formatBytes,
  formatCoreHours,
  hasGpu,
  idleCountdown,
  sortedPlots
} from '../format';
import type { ISample } from '../model/history';
import type { IClusterActions } from './actions';
import { ErrorMessage } from './ErrorMessage';
import { JobTable } from './JobTable';
import { AdaptControl, ScaleControl } from './ScaleControls';
import { Timeline } from './Timeline';
import { useNow } from './useNow';

export interface IClusterCardProps {
  cluster: ICluster;
  maxWorkers: number;
  /** When the server described this cluster (ms). */
  receivedAt: number;
  /** Its workers and jobs over time (kept by the store). */
  history: readonly ISample[];
  canInsertCode: boolean;
  actions: IClusterActions;
}

type PlotsState =
  | { kind: 'closed' }
  | { kind: 'loading' }
  | { kind: 'loaded'; plots: Record<string, string> }
  | { kind: 'failed'; message: string };

function PlotsMenu(props: {
  clusterName: string;
  disabled: boolean;
  loadPlots: () => Promise<Record<string, string>>;
  onOpenPlot: (title: string, url: string) => void;
  /** Whether the cluster's workers have GPUs (GPU plots are hidden otherwise). */
  gpu: boolean;
}): JSX.Element {
  const [state, setState] = React.useState<PlotsState>({ kind: 'closed' });
  const toggle = () => {
    if (state.kind !== 'closed') {
      setState({ kind: 'closed' });
      return;
    }
    setState({ kind: 'loading' });
    props.loadPlots().then(
      plots => setState({ kind: 'loaded', plots }),
      (error: Error) =>
        setState({
          kind: 'failed',
          message: `Individual plots are not available (${error.message})`
        })
    );
  };
  return (
    <div className="pangeo-hpc-Plots">
      <button
        type="button"
        className="jp-mod-styled pangeo-hpc-Button"
        data-testid="pangeo-hpc-plots-button"
        aria-label={`Plots of ${props.clusterName}`}
        aria-haspopup="true"
        disabled={props.disabled}
        aria-expanded={state.kind !== 'closed'}
        onClick={toggle}
      >
        Plots ▾
      </button>
      {state.kind !== 'closed' && (
        <ul
          className="pangeo-hpc-Plots-menu"
          data-testid="pangeo-hpc-plots-menu"
        >
          {state.kind === 'loading' && (
            <li className="pangeo-hpc-mod-empty">Loading…</li>
          )}
          {state.kind === 'failed' && (
            <li className="pangeo-hpc-mod-empty">{state.message}</li>
          )}
          {state.kind === 'loaded' && Object.keys(state.plots).length === 0 && (
            <li className="pangeo-hpc-mod-empty">No individual plots</li>
          )}
          {state.kind === 'loaded' &&
            sortedPlots(state.plots, props.gpu).map(({ title, name, url }) => (
              <li key={title}>
                <button
                  type="button"
                  className="pangeo-hpc-Plots-item"
                  data-testid="pangeo-hpc-plot-item"
                  onClick={() => {
                    setState({ kind: 'closed' });
                    props.onOpenPlot(name, url);
                  }}
                >
                  {name}
                </button>
              </li>
            ))}
        </ul>
      )}
    </div>
  );
}

/** Why a notebook's cluster has no scaling controls here, and where to scale it. */
function NotebookScaling(props: { cluster: ICluster }): JSX.Element {
  const path = props.cluster.notebook?.path;
  return (
    <div
      className="pangeo-hpc-ClusterCard-notebook"
      data-testid="pangeo-hpc-notebook-scaling"
    >
      Started in{' '}
      {path ? (
        <code data-testid="pangeo-hpc-notebook-path">{path}</code>
      ) : (
        'a notebook'
      )}
      : scaling stays in the notebook (<code>cluster.scale(n)</code>,{' '}
      <code>cluster.adapt(...)</code>).
    </div>
  );
}

/** An idle cluster's last minutes, counted down where the eye is. */
function IdleCountdown(props: { cluster: ICluster }): JSX.Element | null {
  const now = useNow(!!props.cluster.idle?.closes_at);
  const text = idleCountdown(props.cluster, now);
  return text ? (
    <div
      className="pangeo-hpc-ClusterCard-idle"
      role="status"
      data-testid="pangeo-hpc-cluster-idle"
    >
      {text}
    </div>
  ) : null;
}

/** The timeline, its last step running on to now while the cluster lives. */
function CardTimeline(props: {
  samples: readonly ISample[];
  live: boolean;
}): JSX.Element | null {
  const now = useNow(props.live);
  const last = props.samples[props.samples.length - 1]?.t ?? now;
  return <Timeline samples={props.samples} now={Math.max(now, last)} />;
}

export function ClusterCard(props: IClusterCardProps): JSX.Element {
  const coreHours = formatCoreHours(props.cluster.core_hours);
  const { cluster, maxWorkers, actions } = props;
  const closing = cluster.status === 'closing' || cluster.status === 'closed';
  const live = cluster.status !== 'failed' && !closing;
  const fromNotebook = isNotebookCluster(cluster);
  const origin = fromNotebook
    ? (cluster.notebook?.cluster_class ?? 'notebook')
    : cluster.profile;
  const badge = clusterBadge(cluster);
  const name = cluster.name;
  return (
    <div
      className={`pangeo-hpc-ClusterCard pangeo-hpc-mod-${cluster.status}`}
      data-testid="pangeo-hpc-cluster-card"
      role="group"
      aria-label={`Cluster ${name}`}
      tabIndex={-1}
      data-cluster-id={cluster.id}
      data-status={cluster.status}
      data-origin={fromNotebook ? 'notebook' : 'jupyterlab'}
    >
      <div className="pangeo-hpc-ClusterCard-header">
        <span
          className="pangeo-hpc-ClusterCard-name"
          data-testid="pangeo-hpc-cluster-name"
        >
          {cluster.name}
        </span>
        {cluster.keep && (
          <span
            className="pangeo-hpc-Badge"
            data-testid="pangeo-hpc-kept-badge"
            title="Keeps running when JupyterLab stops"
          >
            kept
          </span>
        )}
        <span
          className={`pangeo-hpc-Status pangeo-hpc-Status-${badge}`}
          data-testid="pangeo-hpc-cluster-status"
          data-badge={badge}
          title={
            badge === 'queued'
              ? "Its missing workers wait in the scheduler's queue"
              : undefined
          }
        >
          {badge}
        </span>
      </div>
      <div className="pangeo-hpc-ClusterCard-profile">
        {origin}
        {cluster.scheduler_address && (
          <code className="pangeo-hpc-ClusterCard-address">
            {cluster.scheduler_address}
          </code>
        )}
      </div>
      <ErrorMessage
        message={cluster.error}
        className="pangeo-hpc-ClusterCard-error"
        testid="pangeo-hpc-cluster-error"
      />
      <ErrorMessage
        message={cluster.warning}
        className="pangeo-hpc-ClusterCard-warning"
        testid="pangeo-hpc-cluster-warning"
      />
      <IdleCountdown cluster={cluster} />
      <dl className="pangeo-hpc-ClusterCard-stats">
        <dt>Workers</dt>
        <dd data-testid="pangeo-hpc-cluster-workers">
          <span data-testid="pangeo-hpc-workers-connected">
            {cluster.workers.connected}
          </span>
          {' / '}
          <span data-testid="pangeo-hpc-workers-requested">
            {cluster.workers.requested}
          </span>
        </dd>
        <dt>Cores</dt>
        <dd data-testid="pangeo-hpc-cluster-cores">{cluster.cores}</dd>
        <dt>Memory</dt>
        <dd data-testid="pangeo-hpc-cluster-memory">
          {formatBytes(cluster.memory)}
          {typeof cluster.options?.memory === 'string' && (
            <span
              className="pangeo-hpc-ClusterCard-asked"
              title="What each job asked for, as typed in the form"
            >
              {' '}
              ({cluster.options.memory} per job)
            </span>
          )}
        </dd>
        {coreHours !== null && (
          <>
            <dt>Used</dt>
            <dd
              data-testid="pangeo-hpc-cluster-core-hours"
              title="Cores of each job times the time it ran, counted by this server"
            >
              {coreHours}
              {typeof cluster.cores_held === 'number' &&
                ` (${cluster.cores_held} cores held now)`}
            </dd>
          </>
        )}
      </dl>
      <CardTimeline samples={props.history} live={live} />
      {fromNotebook && <NotebookScaling cluster={cluster} />}
      {live && !fromNotebook && (
        <>
          <ScaleControl
            clusterName={name}
            requested={cluster.workers.requested}
            max={maxWorkers}
            disabled={cluster.adapt !== null}
            onScale={workers => actions.scale(cluster, workers)}
          />
          <AdaptControl
            clusterName={name}
            adapt={cluster.adapt}
            requested={cluster.workers.requested}
            max={maxWorkers}
            disabled={false}
            onAdapt={bounds => actions.adapt(cluster, bounds)}
          />
        </>
      )}
      <JobTable
        jobs={cluster.jobs}
        receivedAt={props.receivedAt}
        onOpenLog={jobId => actions.openJobLog(cluster, jobId)}
      />
      <div className="pangeo-hpc-ClusterCard-actions">
        <button
          type="button"
          className="jp-mod-styled pangeo-hpc-Button"
          data-testid="pangeo-hpc-dashboard-button"
          aria-label={`Dashboard of ${name}`}
          disabled={!cluster.dashboard_url}
          onClick={() => actions.openDashboard(cluster)}
        >
          Dashboard
        </button>
        <PlotsMenu
          clusterName={name}
          gpu={hasGpu(cluster)}
          disabled={!cluster.dashboard_url}
          loadPlots={() => actions.loadPlots(cluster)}
          onOpenPlot={(title, url) => actions.openPlot(cluster, title, url)}
        />
        <button
          type="button"
          className="jp-mod-styled pangeo-hpc-Button"
          data-testid="pangeo-hpc-insert-code-button"
          title="Insert client code into the active notebook"
          aria-label={`Insert client code for ${name} into the active notebook`}
          disabled={!cluster.scheduler_address || !props.canInsertCode}
          onClick={() => actions.insertCode(cluster)}
        >
          &lt;&gt; Client
        </button>
        <button
          type="button"
          className="jp-mod-styled jp-mod-warn pangeo-hpc-Button"
          data-testid="pangeo-hpc-shutdown-button"
          aria-label={`Shut down ${name}`}
          disabled={closing}
          onClick={() => actions.shutdown(cluster)}
        >
          Shut down
        </button>
      </div>
    </div>
  );
}
