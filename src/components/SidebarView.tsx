import React from 'react';

import type { ICluster, IProfile } from '../api';
import { formatCoreHours, totalCoreHours } from '../format';
import { hasErrors, type IDraft, type IDraftErrors } from '../model';
import type { ISidebarActions } from './actions';
import { ClusterSections, type IClusterTimes } from './ClusterSections';
import { DashboardURLBox } from './DashboardURLBox';
import { ErrorMessage } from './ErrorMessage';
import { StartForm } from './StartForm';

/** What the sidebar shows: a snapshot of the model. */
export interface ISidebarState {
  /** Whether the profiles arrived (the form waits for them). */
  loaded: boolean;
  connectionError: string | null;
  profiles: IProfile[];
  /** Started from JupyterLab: scaled and closed here. */
  clusters: ICluster[];
  /** Started in notebooks: listed apart, scaled in their notebook. */
  notebookClusters: ICluster[];
  times: IClusterTimes;
  maxWorkers: number;
  canInsertCode: boolean;
  draft: IDraft;
  draftErrors: IDraftErrors;
  submitting: boolean;
  /** The cluster the form last started: its card is scrolled to and focused once. */
  created?: ICluster | null;
  /** Why the dashboard URL last pasted was refused. */
  dashboardURLError?: string | null;
}

export interface ISidebarViewProps {
  state: ISidebarState;
  actions: ISidebarActions;
}

/**
 * The sidebar's content: the clusters started here, those started in
 * notebooks (only when there are some), then the form to start one.
 */
export function SidebarView({
  state: props,
  actions
}: ISidebarViewProps): JSX.Element {
  const root = React.useRef<HTMLDivElement>(null);
  const [formOpen, setFormOpen] = React.useState(false);
  const [announcement, setAnnouncement] = React.useState('');
  const created = props.created ?? null;
  // Where the eye is: the new card, scrolled into view and focused, and said.
  React.useEffect(() => {
    if (!created) {
      return;
    }
    setFormOpen(false);
    setAnnouncement(`Cluster ${created.name} created: ${created.status}.`);
    const card = root.current?.querySelector<HTMLElement>(
      `[data-testid="pangeo-hpc-cluster-card"][data-cluster-id="${CSS.escape(created.id)}"]`
    );
    card?.scrollIntoView?.({ block: 'nearest' });
    card?.focus();
  }, [created?.id]);

  // A form with something to say, or sending, stays open once its errors clear.
  const needsForm = props.submitting || hasErrors(props.draftErrors);
  React.useEffect(() => {
    if (needsForm) {
      setFormOpen(true);
    }
  }, [needsForm]);

  // Once a cluster exists the form waits behind "+ New cluster", unless it
  // has something to say (errors) or is sending.
  const anyCluster = props.clusters.length + props.notebookClusters.length > 0;
  const sessionCoreHours = formatCoreHours(totalCoreHours(props.clusters));
  const showForm =
    !anyCluster || formOpen || props.submitting || hasErrors(props.draftErrors);
  return (
    <div className="pangeo-hpc-Sidebar-content" ref={root}>
      <header className="pangeo-hpc-Sidebar-header">
        <h2>Dask HPC Clusters</h2>
        {sessionCoreHours !== null && (
          <span
            className="pangeo-hpc-Sidebar-total"
            data-testid="pangeo-hpc-session-core-hours"
            title="Core-hours of this session's clusters, counted by this server"
          >
            {sessionCoreHours}
          </span>
        )}
        <button
          type="button"
          className="jp-mod-styled pangeo-hpc-Button"
          data-testid="pangeo-hpc-refresh"
          title="Refresh"
          aria-label="Refresh the cluster list"
          onClick={actions.refresh}
        >
          ⟳
        </button>
      </header>
      <div
        className="pangeo-hpc-VisuallyHidden"
        role="status"
        aria-live="polite"
        data-testid="pangeo-hpc-announcement"
      >
        {announcement}
      </div>
      <ErrorMessage
        message={props.connectionError}
        className="pangeo-hpc-ConnectionError"
        testid="pangeo-hpc-connection-error"
      />
      <ClusterSections
        clusters={props.clusters}
        notebookClusters={props.notebookClusters}
        times={props.times}
        maxWorkers={props.maxWorkers}
        canInsertCode={props.canInsertCode}
        actions={actions}
      />
      <DashboardURLBox
        error={props.dashboardURLError ?? null}
        onOpen={actions.openDashboardURL}
      />
      <section className="pangeo-hpc-Sidebar-section">
        {showForm ? (
          <>
            <h3 className="pangeo-hpc-NewCluster-heading">
              New cluster
              {anyCluster && (
                <button
                  type="button"
                  className="pangeo-hpc-LinkButton"
                  data-testid="pangeo-hpc-new-cluster-close"
                  aria-label="Hide the new cluster form"
                  onClick={() => setFormOpen(false)}
                >
                  ✕
                </button>
              )}
            </h3>
            {props.loaded ? (
              <StartForm
                profiles={props.profiles}
                draft={props.draft}
                errors={props.draftErrors}
                maxWorkers={props.maxWorkers}
                submitting={props.submitting}
                onChange={actions.changeDraft}
                onSubmit={actions.start}
              />
            ) : (
              <div className="pangeo-hpc-mod-empty">Loading profiles…</div>
            )}
          </>
        ) : (
          <button
            type="button"
            className="jp-mod-styled pangeo-hpc-Button pangeo-hpc-NewClusterButton"
            data-testid="pangeo-hpc-new-cluster"
            aria-expanded={false}
            onClick={() => setFormOpen(true)}
          >
            + New cluster
          </button>
        )}
      </section>
    </div>
  );
}
