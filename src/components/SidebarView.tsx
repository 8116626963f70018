import React from 'react';

import type { IProfile } from '../api';
import type { IDraft, IDraftErrors } from '../model';
import { ClusterSections, type IClusterSectionsProps } from './ClusterSections';
import { ErrorMessage } from './ErrorMessage';
import { StartForm } from './StartForm';

export interface ISidebarViewProps extends IClusterSectionsProps {
  /** Whether the profiles arrived (the form waits for them). */
  loaded: boolean;
  connectionError: string | null;
  profiles: IProfile[];
  draft: IDraft;
  draftErrors: IDraftErrors;
  submitting: boolean;
  onDraftChange: (change: Partial<IDraft>) => void;
  onStart: () => void;
  onRefresh: () => void;
}

/**
 * The sidebar's content: the clusters started here, those started in
 * notebooks (only when there are some), then the form to start one.
 */
export function SidebarView(props: ISidebarViewProps): JSX.Element {
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
      <ClusterSections {...props} />
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
