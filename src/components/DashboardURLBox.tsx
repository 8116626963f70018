import React from 'react';

import { ErrorMessage } from './ErrorMessage';

export interface IDashboardURLBoxProps {
  /** Why the last URL was refused, or null. */
  error: string | null;
  onOpen: (text: string) => void;
}

/**
 * "Open a dashboard by URL", as dask-labextension's box: the address a
 * scheduler prints (http://127.0.0.1:8787/status) opens through our proxy,
 * for this user's schedulers only.
 */
export function DashboardURLBox(props: IDashboardURLBoxProps): JSX.Element {
  const onSubmit = (event: React.FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const input = event.currentTarget.elements.namedItem('url');
    props.onOpen(input instanceof HTMLInputElement ? input.value : '');
  };
  return (
    <section
      className="pangeo-hpc-Sidebar-section pangeo-hpc-DashboardURL"
      data-testid="pangeo-hpc-dashboard-url"
    >
      <form onSubmit={onSubmit}>
        <label htmlFor="pangeo-hpc-dashboard-url-input">
          Open a dashboard by URL
        </label>
        <div className="pangeo-hpc-DashboardURL-row">
          <input
            id="pangeo-hpc-dashboard-url-input"
            name="url"
            type="text"
            className="jp-mod-styled"
            placeholder="http://127.0.0.1:8787/status"
            data-testid="pangeo-hpc-dashboard-url-input"
            aria-invalid={props.error !== null}
            aria-describedby={
              props.error ? 'pangeo-hpc-dashboard-url-error' : undefined
            }
          />
          <button
            type="submit"
            className="jp-mod-styled pangeo-hpc-Button"
            data-testid="pangeo-hpc-dashboard-url-open"
          >
            Open
          </button>
        </div>
        <div id="pangeo-hpc-dashboard-url-error">
          <ErrorMessage
            message={props.error}
            className="pangeo-hpc-DashboardURL-error"
            testid="pangeo-hpc-dashboard-url-error"
          />
        </div>
      </form>
    </section>
  );
}
