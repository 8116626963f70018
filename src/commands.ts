/**
 * The plugin's commands. The sidebar's buttons run them too, so a button,
 * the palette and a keyboard shortcut all do the same thing.
 */
import type { JupyterFrontEnd } from '@jupyterlab/application';
import {
  Dialog,
  InputDialog,
  Notification,
  showDialog
} from '@jupyterlab/apputils';
import {
  type INotebookTracker,
  NotebookActions,
  type NotebookPanel
} from '@jupyterlab/notebook';
import type { ReadonlyPartialJSONObject } from '@lumino/coreutils';
import type { Widget } from '@lumino/widgets';

import { APIError, type ClusterAPI, type ICluster, serverPath } from './api';
import {
  clusterClientCode,
  dashboardAddress,
  hasGpu,
  layoutPlacement,
  layoutPlots,
  shutdownQuestion,
  sortedPlots
} from './format';
import type { IUserSettings } from './settings';
import type { ClustersModel } from './model';
import type { DashboardTabs } from './widgets/dashboard';
import { openJobLog } from './widgets/joblog';

export namespace CommandIDs {
  export const start = 'pangeo-hpc:start-cluster';
  export const openDashboard = 'pangeo-hpc:open-dashboard';
  export const shutdownAll = 'pangeo-hpc:shutdown-all';
  export const shutdown = 'pangeo-hpc:shutdown-cluster';
  export const insertCode = 'pangeo-hpc:insert-client-code';
  export const toggleSidebar = 'pangeo-hpc:show-sidebar';
  export const openJobLog = 'pangeo-hpc:open-job-log';
  export const openDefaultPlots = 'pangeo-hpc:open-default-plots';
  export const openDashboardURL = 'pangeo-hpc:open-dashboard-url';
}

/** The commands offered in the palette (shutting down one cluster needs a cluster). */
export const PALETTE_COMMANDS = [
  CommandIDs.toggleSidebar,
  CommandIDs.start,
  CommandIDs.openDashboard,
  CommandIDs.openDefaultPlots,
  CommandIDs.openDashboardURL,
  CommandIDs.insertCode,
  CommandIDs.shutdownAll
];

export const PALETTE_CATEGORY = 'Dask HPC Clusters';

/** What the commands act on. */
export interface ICommandContext {
  shell: JupyterFrontEnd.IShell;
  api: Pick<ClusterAPI, 'jobLog' | 'individualPlots'>;
  /** This server's host name: a dashboard URL naming it is on this host. */
  serverHost: string;
  /** The user's settings, kept current. */
  settings: IUserSettings;
  model: ClustersModel;
  dashboards: DashboardTabs;
  sidebar: Widget;
  notebooks: INotebookTracker | null;
}

type Commands = JupyterFrontEnd['commands'];
type Command = Parameters<Commands['addCommand']>[1];

export function addCommands(
  commands: Commands,
  context: ICommandContext
): void {
  commands.addCommand(CommandIDs.toggleSidebar, showSidebar(context));
  commands.addCommand(CommandIDs.start, startCluster(context));
  commands.addCommand(CommandIDs.openDashboard, openDashboard(context));
  commands.addCommand(CommandIDs.insertCode, insertClientCode(context));
  commands.addCommand(CommandIDs.shutdown, shutDown(context));
  commands.addCommand(CommandIDs.shutdownAll, shutDownAll(context));
  commands.addCommand(CommandIDs.openJobLog, showJobLog(context));
  commands.addCommand(CommandIDs.openDefaultPlots, openDefaultPlots(context));
  commands.addCommand(CommandIDs.openDashboardURL, openDashboardURL(context));
  // Enabled states and labels follow the clusters.
  context.model.store.changed.connect(() => commands.notifyCommandChanged());
}

/** The cluster named by `clusterId`; without one, the first with a dashboard, else the first. */
function findCluster(
  context: ICommandContext,
  args: ReadonlyPartialJSONObject
): ICluster | undefined {
  const { store } = context.model;
  const id = args.clusterId;
  if (typeof id === 'string' && id) {
    return store.cluster(id);
  }
  return store.clusters.find(c => c.dashboard_url) ?? store.clusters[0];
}

/**
 * The cluster a command acts on: the one named by `clusterId`, else the only
 * candidate, else the user's choice among them (undefined when cancelled).
 */
async function chooseCluster(
  context: ICommandContext,
  args: ReadonlyPartialJSONObject,
  candidates: ICluster[],
  title: string
): Promise<ICluster | undefined> {
  const id = args.clusterId;
  if (typeof id === 'string' && id) {
    return context.model.store.cluster(id);
  }
  if (candidates.length <= 1) {
    return candidates[0];
  }
  const labels = candidates.map(c => `${c.name} (${c.status}, ${c.id})`);
  const answer = await InputDialog.getItem({
    title,
    label: 'Cluster',
    items: labels,
    current: 0
  });
  const chosen = answer.button.accept ? labels.indexOf(answer.value ?? '') : -1;
  return chosen >= 0 ? candidates[chosen] : undefined;
}

function warn(message: string): void {
  Notification.warning(`Dask HPC: ${message}`, { autoClose: 5000 });
}

function showSidebar({ shell, sidebar }: ICommandContext): Command {
  return {
    label: 'Show Dask HPC Clusters',
    execute: () => shell.activateById(sidebar.id)
  };
}

function startCluster({ shell, sidebar, model }: ICommandContext): Command {
  return {
    label: 'Start Dask HPC Cluster',
    caption: 'Start a cluster with the settings in the sidebar form',
    execute: async () => {
      if (!sidebar.isVisible) {
        shell.activateById(sidebar.id);
      }
      await model.sync.ready;
      // Refusals show in the form, beside their fields, until the fields change.
      const cluster = await model.draft.submit();
      return cluster?.id ?? null;
    }
  };
}

function openDashboard(context: ICommandContext): Command {
  return {
    label: args =>
      args.plot ? `Open Dask Plot: ${args.plot}` : 'Open Dask Dashboard',
    isEnabled: args =>
      !!args.url || !!findCluster(context, args)?.dashboard_url,
    execute: async args => {
      const plot = typeof args.plot === 'string' ? args.plot : '';
      if (typeof args.url === 'string' && args.url) {
        const clusterId = String(args.clusterId ?? '');
        const label = typeof args.label === 'string' ? args.label : clusterId;
        return context.dashboards.open({
          clusterId,
          url: args.url,
          label,
          plot
        });
      }
      // Several clusters: ask which, rather than picking the first silently.
      const candidates = context.model.store.clusters.filter(
        c => c.dashboard_url
      );
      if (candidates.length === 0 && !args.clusterId) {
        warn('no cluster with a dashboard yet.');
        return;
      }
      const cluster = await chooseCluster(
        context,
        args,
        candidates,
        'Open the dashboard of which cluster?'
      );
      if (!cluster?.dashboard_url) {
        return; // cancelled, or that cluster has no dashboard (yet)
      }
      return context.dashboards.open({
        clusterId: cluster.id,
        url: cluster.dashboard_url,
        label: typeof args.label === 'string' ? args.label : cluster.name,
        plot
      });
    }
  };
}

/**
 * A dashboard by the URL its scheduler prints (http://127.0.0.1:8787/status),
 * through our proxy's by-port route, which serves this user's schedulers
 * only; why it cannot be opened shows beside the sidebar's URL box.
 */
function openDashboardURL(context: ICommandContext): Command {
  const { model } = context;
  return {
    label: 'Open a Dask Dashboard by URL',
    caption: "Open one of your own schedulers' dashboards by its URL",
    execute: async args => {
      let text = typeof args.url === 'string' ? args.url : null;
      if (text === null) {
        const answer = await InputDialog.getText({
          title: 'Open a dashboard by URL',
          placeholder: 'http://127.0.0.1:8787/status'
        });
        if (!answer.button.accept) {
          return null;
        }
        text = answer.value ?? '';
      }
      const address = dashboardAddress(text, context.serverHost);
      if ('error' in address) {
        model.dashboardURLError = address.error;
        return null;
      }
      const { port, page } = address;
      const root = `pangeo-hpc/dashboards/${port}/`;
      try {
        // The proxy answers 404 for any port that is not a scheduler of yours.
        await context.api.individualPlots(`${root}status`);
      } catch (error) {
        const failure = APIError.from(error);
        model.dashboardURLError =
          failure.status === 404
            ? `No dashboard of a cluster of yours listens on port ${port}: only your own schedulers' dashboards open here.`
            : `The dashboard on port ${port} did not answer: ${failure.message}`;
        return null;
      }
      model.dashboardURLError = null;
      const cluster = model.store.clusters.find(c =>
        c.dashboard_url?.includes(`/dashboards/${port}/`)
      );
      return context.dashboards.open({
        clusterId: cluster?.id ?? '',
        url: `${root}${page}`,
        label: cluster?.name ?? `port ${port}`,
        plot: ''
      }).id;
    }
  };
}

/**
 * The plots of the "Default dashboard plots" setting in one go, in a grid
 * (two side by side, two below), as dask-labextension's default layout.
 */
function openDefaultPlots(context: ICommandContext): Command {
  return {
    label: 'Open Default Dashboard Plots',
    caption:
      'Open the plots of the "Default dashboard plots" setting side by side',
    isEnabled: args =>
      !!findCluster(context, args)?.dashboard_url &&
      context.settings.defaultLayout.length > 0,
    execute: async args => {
      const candidates = context.model.store.clusters.filter(
        c => c.dashboard_url
      );
      const cluster = await chooseCluster(
        context,
        args,
        candidates,
        'Open the default plots of which cluster?'
      );
      if (!cluster?.dashboard_url) {
        return [];
      }
      let plots;
      try {
        plots = sortedPlots(
          await context.api.individualPlots(cluster.dashboard_url),
          hasGpu(cluster)
        );
      } catch (error) {
        warn(
          `the plots of ${cluster.name} are not available (${(error as Error).message}).`
        );
        return [];
      }
      const { found, missing } = layoutPlots(
        plots,
        context.settings.defaultLayout
      );
      if (missing.length > 0) {
        warn(`no plot named ${missing.map(m => `"${m}"`).join(', ')}.`);
      }
      const opened: string[] = [];
      found.forEach((plot, index) => {
        const at = layoutPlacement(index);
        const widget = context.dashboards.open(
          {
            clusterId: cluster.id,
            url: serverPath(plot.url),
            label: cluster.name,
            plot: plot.name
          },
          at ? { mode: at.mode, ref: opened[at.ref] } : undefined
        );
        opened.push(widget.id);
      });
      return opened;
    }
  };
}

function showJobLog({ shell, api, model }: ICommandContext): Command {
  return {
    label: args =>
      args.jobId ? `Show the Log of Job ${args.jobId}` : 'Show a Job Log',
    execute: args => {
      const clusterId = String(args.clusterId ?? '');
      const jobId = String(args.jobId ?? '');
      if (!clusterId || !jobId) {
        warn('which job? Give clusterId and jobId.');
        return;
      }
      const label = model.store.cluster(clusterId)?.name ?? clusterId;
      return openJobLog(shell, api, { clusterId, jobId, label }).id;
    }
  };
}

function insertClientCode(context: ICommandContext): Command {
  const { notebooks, shell } = context;
  return {
    label: 'Insert Dask Client Code',
    caption:
      'Insert code connecting a dask Client to the cluster into the active notebook',
    isEnabled: () => !!notebooks?.currentWidget,
    execute: args => {
      const cluster = findCluster(context, args);
      const panel = notebooks?.currentWidget;
      const code = cluster
        ? clusterClientCode(cluster, context.model.store.clusters)
        : null;
      if (!code) {
        warn('the cluster has no scheduler address yet.');
        return;
      }
      if (!panel) {
        warn('open a notebook first.');
        return;
      }
      insertCode(panel, code);
      shell.activateById(panel.id);
    }
  };
}

/** Put `code` in the active cell if it is an empty code cell, else in a new cell below it. */
function insertCode(panel: NotebookPanel, code: string): void {
  const notebook = panel.content;
  const active = notebook.activeCell;
  const empty =
    active?.model.type === 'code' &&
    active.model.sharedModel.getSource().trim() === '';
  if (!empty) {
    NotebookActions.insertBelow(notebook);
  }
  notebook.activeCell?.model.sharedModel.setSource(code);
}

async function confirm(
  title: string,
  body: string,
  label: string
): Promise<boolean> {
  const answer = await showDialog({
    title,
    body,
    buttons: [Dialog.cancelButton(), Dialog.warnButton({ label })]
  });
  return answer.button.accept;
}

function shutDown(context: ICommandContext): Command {
  return {
    label: 'Shut Down Dask HPC Cluster',
    isEnabled: args => !!findCluster(context, args),
    execute: async args => {
      const cluster = findCluster(context, args);
      if (
        !cluster ||
        !(await confirm(
          'Shut down cluster?',
          shutdownQuestion(cluster),
          'Shut down'
        ))
      ) {
        return false;
      }
      return context.model.sync.close(cluster.id);
    }
  };
}

function shutDownAll({ model }: ICommandContext): Command {
  return {
    label: 'Shut Down All Dask HPC Clusters',
    isEnabled: () => model.store.clusters.length > 0,
    execute: async () => {
      const count = model.store.clusters.length;
      if (
        !(await confirm(
          'Shut down all clusters?',
          `Shut down all ${count} cluster(s) and cancel their batch jobs?`,
          'Shut down all'
        ))
      ) {
        return false;
      }
      return model.sync.closeAll();
    }
  };
}
