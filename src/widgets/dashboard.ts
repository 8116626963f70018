import type { JupyterFrontEnd } from '@jupyterlab/application';
import { MainAreaWidget, WidgetTracker } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import {
  type ClusterAPI,
  type ClusterPresence,
  clusterPresence,
  type IEndedCluster,
  serverURL
} from '../api';
import { dashboardWidgetId, endedMessage } from '../format';
import { clusterIcon } from '../icon';

/** What a dashboard tab needs to be reopened after a reload (the layout restorer stores it). */
export interface IDashboardArgs {
  clusterId: string;
  /**
   * The proxied page as the server names it (a path on the server); kept
   * relative so a restored tab follows the server's current address.
   */
  url: string;
  /** Cluster name, shown in the tab title and in the message when the cluster is gone. */
  label: string;
  /** Individual plot title, or '' for the status page. */
  plot: string;
}

export type DashboardWidget = MainAreaWidget<DashboardFrame> & {
  dashboardArgs: IDashboardArgs;
};

/**
 * The dashboard page in a plain iframe, deliberately without a sandbox
 * attribute. The page comes from our own origin (the proxy), and a sandbox
 * that lets a same-origin page run scripts, which Bokeh needs, is none: the
 * page can reach into this document and lift it. A real sandbox gives the
 * page an opaque origin; its requests then say `Origin: null` and Jupyter
 * refuses every one of them as cross-origin (403: no scripts, no plots).
 * What keeps Jupyter's credentials from the dashboard is the proxy, which
 * forwards none of them.
 */
export class DashboardFrame extends Widget {
  /**
   * The page loads once `presence` says the cluster exists; a restored tab
   * whose cluster is gone says so instead of showing Jupyter's 404 page.
   */
  constructor(url: string, label: string, presence: Promise<ClusterPresence>) {
    super();
    this.addClass('pangeo-hpc-DashboardFrame');
    void presence.then(found => {
      if (this.isDisposed) {
        return;
      }
      if (found.kind === 'gone') {
        this._showGone(label, found.ended);
      } else {
        this._showPage(url);
      }
    });
  }

  /** Whether the tab already says its cluster is gone. */
  get gone(): boolean {
    return this._gone;
  }

  /** The cluster ended while the tab is open: say so instead of its last plots. */
  showGone(label: string, ended: IEndedCluster | null): void {
    if (this.isDisposed || this._gone) {
      return;
    }
    this.node.replaceChildren();
    this.removeClass('jp-IFrame');
    this._showGone(label, ended);
  }

  private _showPage(url: string): void {
    const iframe = document.createElement('iframe');
    iframe.src = url;
    iframe.referrerPolicy = 'no-referrer';
    iframe.style.width = '100%';
    iframe.style.height = '100%';
    // A page the browser refused to frame (a site policy stricter than the
    // dashboard's frame-ancestors 'self') loads as an error page of another
    // origin: this document cannot read it, where our own page it can.
    iframe.addEventListener('load', () => {
      if (!this._gone && frameRefused(iframe)) {
        this._showRefused(url);
      }
    });
    this.node.appendChild(iframe);
    // jp-IFrame: JupyterLab's own rule that lets drags pass over the frame.
    this.addClass('jp-IFrame');
  }

  private _showRefused(url: string): void {
    if (this.node.querySelector('.pangeo-hpc-DashboardRefused')) {
      return;
    }
    const box = document.createElement('div');
    box.className = 'pangeo-hpc-DashboardRefused';
    box.dataset.testid = 'pangeo-hpc-dashboard-refused';
    box.setAttribute('role', 'alert');
    const heading = document.createElement('h3');
    heading.textContent = 'The browser refused to show the dashboard here';
    const text = document.createElement('p');
    text.textContent =
      "This site's security policy (Content-Security-Policy frame-ancestors) does not let JupyterLab show the dashboard in a tab. It still works in a browser tab of its own.";
    const link = document.createElement('a');
    link.href = url;
    link.target = '_blank';
    link.rel = 'noopener noreferrer';
    link.className = 'jp-mod-styled pangeo-hpc-Button';
    link.dataset.testid = 'pangeo-hpc-dashboard-open-tab';
    link.textContent = 'Open the dashboard in a browser tab';
    box.append(heading, text, link);
    this.node.replaceChildren(box);
    this.removeClass('jp-IFrame');
  }

  private _showGone(label: string, ended: IEndedCluster | null): void {
    this._gone = true;
    const { title, detail } = endedMessage(label, ended);
    const box = document.createElement('div');
    box.className = 'pangeo-hpc-DashboardGone';
    box.dataset.testid = 'pangeo-hpc-dashboard-gone';
    const heading = document.createElement('h3');
    heading.textContent = title;
    const text = document.createElement('p');
    text.textContent = detail;
    box.append(heading, text);
    this.node.appendChild(box);
  }

  private _gone = false;
}

/**
 * Whether a loaded frame holds a page the browser refused to frame: our
 * dashboard is same-origin, so its document is readable; Chromium's error
 * page for a refused frame is not (null, or reading it throws).
 */
export function frameRefused(frame: {
  contentDocument: { URL?: string } | null;
}): boolean {
  try {
    const doc = frame.contentDocument;
    return !doc || (doc.URL ?? '').startsWith('chrome-error:');
  } catch {
    return true;
  }
}

export function createDashboard(
  args: IDashboardArgs,
  baseUrl: string,
  presence: Promise<ClusterPresence>
): DashboardWidget {
  const content = new DashboardFrame(
    serverURL(args.url, baseUrl),
    args.label,
    presence
  );
  const widget = new MainAreaWidget({ content }) as DashboardWidget;
  widget.dashboardArgs = args;
  widget.id = dashboardWidgetId(args);
  widget.addClass('pangeo-hpc-Dashboard');
  widget.node.dataset.testid = 'pangeo-hpc-dashboard';
  widget.node.dataset.clusterId = args.clusterId;
  widget.title.label = args.plot
    ? `${args.plot} — ${args.label}`
    : `Dask dashboard — ${args.label}`;
  widget.title.icon = clusterIcon;
  widget.title.closable = true;
  return widget;
}

/** Where a tab goes in the main area, beside the tab `ref` (a widget id). */
export interface IPlacement {
  mode: 'split-right' | 'split-bottom' | 'tab-after';
  ref: string;
}

/** The dashboard tabs in the main area: one per cluster and plot, restored after a reload. */
export class DashboardTabs {
  constructor(
    private readonly shell: JupyterFrontEnd.IShell,
    private readonly api: Pick<ClusterAPI, 'cluster' | 'serverSettings'>
  ) {}

  readonly tracker = new WidgetTracker<DashboardWidget>({
    namespace: 'pangeo-hpc-dashboard'
  });

  /**
   * Show the tab for `args`, opening it if it is not open yet: where
   * `placement` says, else a plot beside the last plot opened.
   */
  open(args: IDashboardArgs, placement?: IPlacement): DashboardWidget {
    const id = dashboardWidgetId(args);
    const existing = this.tracker.find(w => w.id === id);
    if (existing) {
      this.shell.activateById(id);
      return existing;
    }
    const widget = createDashboard(
      args,
      this.api.serverSettings.baseUrl,
      clusterPresence(this.api, args.clusterId)
    );
    // Plots open beside each other (split), as dask-labextension lays them out.
    const beside = args.plot
      ? (this.tracker.filter(w => !!w.dashboardArgs.plot).pop() ??
        this.tracker.find(
          w =>
            w.dashboardArgs.clusterId === args.clusterId &&
            !w.dashboardArgs.plot
        ))
      : undefined;
    void this.tracker.add(widget);
    this.shell.add(
      widget,
      'main',
      placement ??
        (beside ? { mode: 'split-right', ref: beside.id } : undefined)
    );
    this.shell.activateById(id);
    return widget;
  }

  /**
   * The cluster is known to be gone (shut down here or in another tab): its
   * tabs say so at once, with the server's word on how it ended.
   */
  clusterGone(clusterId: string): void {
    const tabs = this.tracker.filter(
      w => w.dashboardArgs.clusterId === clusterId && !w.content.gone
    );
    if (tabs.length === 0) {
      return;
    }
    void clusterPresence(this.api, clusterId).then(found => {
      if (found.kind !== 'gone') {
        return; // the server still knows it: the tab stays as it is
      }
      for (const tab of tabs) {
        tab.content.showGone(tab.dashboardArgs.label, found.ended);
      }
    });
  }
}
