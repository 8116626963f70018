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
import { endedMessage } from '../format';
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

  private _showPage(url: string): void {
    const iframe = document.createElement('iframe');
    iframe.src = url;
    iframe.referrerPolicy = 'no-referrer';
    iframe.style.width = '100%';
    iframe.style.height = '100%';
    this.node.appendChild(iframe);
    // jp-IFrame: JupyterLab's own rule that lets drags pass over the frame.
    this.addClass('jp-IFrame');
  }

  private _showGone(label: string, ended: IEndedCluster | null): void {
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
}

export function dashboardWidgetId(
  args: Pick<IDashboardArgs, 'clusterId' | 'plot'>
): string {
  const plot = args.plot.toLowerCase().replace(/[^a-z0-9]+/g, '-');
  return `pangeo-hpc-dashboard-${args.clusterId}${plot ? `-${plot}` : ''}`;
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

/** The dashboard tabs in the main area: one per cluster and plot, restored after a reload. */
export class DashboardTabs {
  constructor(
    private readonly shell: JupyterFrontEnd.IShell,
    private readonly api: Pick<ClusterAPI, 'cluster' | 'serverSettings'>
  ) {}

  readonly tracker = new WidgetTracker<DashboardWidget>({
    namespace: 'pangeo-hpc-dashboard'
  });

  /** Show the tab for `args`, opening it if it is not open yet. */
  open(args: IDashboardArgs): DashboardWidget {
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
    void this.tracker.add(widget);
    this.shell.add(widget, 'main');
    this.shell.activateById(id);
    return widget;
  }
}
