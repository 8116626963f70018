import { IFrame, MainAreaWidget } from '@jupyterlab/apputils';

import { serverURL } from './api';
import { clusterIcon } from './icon';

/** What a dashboard tab needs to be reopened after a reload (the layout restorer stores it). */
export interface IDashboardArgs {
  clusterId: string;
  /**
   * The proxied page as the server names it (a path on the server); kept
   * relative so a restored tab follows the server's current address.
   */
  url: string;
  /** Cluster name, shown in the tab title. */
  label: string;
  /** Individual plot title, or '' for the status page. */
  plot: string;
}

export type DashboardWidget = MainAreaWidget<IFrame> & {
  dashboardArgs: IDashboardArgs;
};

export function dashboardWidgetId(
  args: Pick<IDashboardArgs, 'clusterId' | 'plot'>
): string {
  const plot = args.plot.toLowerCase().replace(/[^a-z0-9]+/g, '-');
  return `pangeo-hpc-dashboard-${args.clusterId}${plot ? `-${plot}` : ''}`;
}

export function createDashboard(
  args: IDashboardArgs,
  baseUrl: string
): DashboardWidget {
  // Bokeh needs scripts and a same-origin websocket to the proxy; the proxy
  // strips Jupyter's credentials before anything reaches the dashboard.
  const content = new IFrame({
    sandbox: [
      'allow-scripts',
      'allow-same-origin',
      'allow-forms',
      'allow-popups'
    ],
    referrerPolicy: 'no-referrer'
  });
  content.url = serverURL(args.url, baseUrl);
  content.addClass('pangeo-hpc-DashboardFrame');
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
