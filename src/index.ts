import {
  ILayoutRestorer,
  type JupyterFrontEnd,
  type JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  Dialog,
  ICommandPalette,
  Notification,
  WidgetTracker,
  showDialog
} from '@jupyterlab/apputils';
import { INotebookTracker, NotebookActions } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';

import { ClusterAPI, type ICluster } from './api';
import {
  createDashboard,
  type DashboardWidget,
  dashboardWidgetId,
  type IDashboardArgs
} from './dashboard';
import { clientCode } from './format';
import { ClustersModel } from './model';
import { ClusterSidebar } from './sidebar';

const PLUGIN_ID = 'pangeo-hpc-ext:plugin';

export namespace CommandIDs {
  export const start = 'pangeo-hpc:start-cluster';
  export const openDashboard = 'pangeo-hpc:open-dashboard';
  export const shutdownAll = 'pangeo-hpc:shutdown-all';
  export const shutdown = 'pangeo-hpc:shutdown-cluster';
  export const insertCode = 'pangeo-hpc:insert-client-code';
  export const toggleSidebar = 'pangeo-hpc:show-sidebar';
}

const CATEGORY = 'Dask HPC Clusters';

/** `/base/pangeo-hpc/...` from an absolute URL on this server. */
function serverPath(url: string): string {
  const parsed = new URL(url, window.location.href);
  return `${parsed.pathname}${parsed.search}`;
}

interface IClusterArgs {
  clusterId?: string;
}

function activate(
  app: JupyterFrontEnd,
  restorer: ILayoutRestorer | null,
  palette: ICommandPalette | null,
  settingRegistry: ISettingRegistry | null,
  notebooks: INotebookTracker | null
): void {
  const { commands, serviceManager, shell } = app;
  const api = new ClusterAPI(serviceManager.serverSettings);
  const model = new ClustersModel({
    api,
    refreshInterval: 5000,
    events: serviceManager.events.stream,
    shareName: `pangeo-hpc-ext:${serviceManager.serverSettings.baseUrl}`
  });
  model.failed.connect((_, error) => {
    Notification.error(`Dask HPC: ${error.message}`, { autoClose: 8000 });
  });

  const tracker = new WidgetTracker<DashboardWidget>({
    namespace: 'pangeo-hpc-dashboard'
  });

  const findCluster = (args: IClusterArgs): ICluster | undefined =>
    args.clusterId
      ? model.cluster(args.clusterId)
      : (model.clusters.find(c => c.dashboard_url) ?? model.clusters[0]);

  const openTab = (args: IDashboardArgs): DashboardWidget => {
    const existing = tracker.find(w => w.id === dashboardWidgetId(args));
    if (existing) {
      shell.activateById(existing.id);
      return existing;
    }
    const widget = createDashboard(args, serviceManager.serverSettings.baseUrl);
    void tracker.add(widget);
    shell.add(widget, 'main');
    shell.activateById(widget.id);
    return widget;
  };

  const sidebar = new ClusterSidebar(model, {
    start: () => void commands.execute(CommandIDs.start),
    openDashboard: cluster =>
      void commands.execute(CommandIDs.openDashboard, {
        clusterId: cluster.id
      }),
    loadPlots: cluster => api.individualPlots(cluster.dashboard_url ?? ''),
    openPlot: (cluster, title, url) =>
      void commands.execute(CommandIDs.openDashboard, {
        clusterId: cluster.id,
        url: serverPath(url),
        plot: title,
        label: cluster.name
      }),
    insertCode: cluster =>
      void commands.execute(CommandIDs.insertCode, { clusterId: cluster.id }),
    shutdown: cluster =>
      void commands.execute(CommandIDs.shutdown, { clusterId: cluster.id }),
    canInsertCode: () => !!notebooks?.currentWidget,
    insertTargetChanged: notebooks?.currentChanged ?? null
  });
  shell.add(sidebar, 'left', { rank: 200 });
  if (restorer) {
    restorer.add(sidebar, sidebar.id);
    void restorer.restore(tracker, {
      command: CommandIDs.openDashboard,
      args: widget => ({ ...widget.dashboardArgs }),
      name: widget => widget.id
    });
  }

  commands.addCommand(CommandIDs.toggleSidebar, {
    label: 'Show Dask HPC Clusters',
    execute: () => shell.activateById(sidebar.id)
  });

  commands.addCommand(CommandIDs.start, {
    label: 'Start Dask HPC Cluster',
    caption: 'Start a cluster with the settings in the sidebar form',
    execute: async () => {
      if (!sidebar.isVisible) {
        shell.activateById(sidebar.id);
      }
      await model.ready;
      const cluster = await model.submitDraft();
      if (
        !cluster &&
        model.draftErrors.options.length +
          Object.keys(model.draftErrors.fields).length >
          0
      ) {
        Notification.warning(
          'Dask HPC: the cluster was not started; fix the fields marked in the form.',
          { autoClose: 5000 }
        );
      }
      return cluster?.id ?? null;
    }
  });

  commands.addCommand(CommandIDs.openDashboard, {
    label: args =>
      args.plot ? `Open Dask Plot: ${args.plot}` : 'Open Dask Dashboard',
    isEnabled: args =>
      !!args.url || !!findCluster(args as IClusterArgs)?.dashboard_url,
    execute: args => {
      const clusterId = (args.clusterId as string | undefined) ?? '';
      let url = args.url as string | undefined;
      let label = args.label as string | undefined;
      const plot = (args.plot as string | undefined) ?? '';
      if (!url) {
        const cluster = findCluster({ clusterId });
        if (!cluster?.dashboard_url) {
          Notification.warning('Dask HPC: no cluster with a dashboard yet.', {
            autoClose: 5000
          });
          return;
        }
        url = cluster.dashboard_url;
        label = label ?? cluster.name;
        return openTab({ clusterId: cluster.id, url, label, plot });
      }
      return openTab({ clusterId, url, label: label ?? clusterId, plot });
    }
  });

  commands.addCommand(CommandIDs.insertCode, {
    label: 'Insert Dask Client Code',
    caption:
      'Insert code connecting a dask Client to the cluster into the active notebook',
    isEnabled: () => !!notebooks?.currentWidget,
    execute: args => {
      const cluster = findCluster(args as IClusterArgs);
      const panel = notebooks?.currentWidget;
      if (!cluster?.scheduler_address) {
        Notification.warning(
          'Dask HPC: the cluster has no scheduler address yet.',
          {
            autoClose: 5000
          }
        );
        return;
      }
      if (!panel) {
        Notification.warning('Dask HPC: open a notebook first.', {
          autoClose: 5000
        });
        return;
      }
      const notebook = panel.content;
      const active = notebook.activeCell;
      const empty =
        active?.model.type === 'code' &&
        active.model.sharedModel.getSource().trim() === '';
      if (!empty) {
        NotebookActions.insertBelow(notebook);
      }
      notebook.activeCell?.model.sharedModel.setSource(
        clientCode(cluster.scheduler_address)
      );
      shell.activateById(panel.id);
    }
  });

  commands.addCommand(CommandIDs.shutdown, {
    label: 'Shut Down Dask HPC Cluster',
    isEnabled: args => !!findCluster(args as IClusterArgs),
    execute: async args => {
      const cluster = findCluster(args as IClusterArgs);
      if (!cluster) {
        return false;
      }
      const answer = await showDialog({
        title: 'Shut down cluster?',
        body: `Shut down "${cluster.name}" and cancel its ${cluster.jobs.length} batch job(s)?`,
        buttons: [
          Dialog.cancelButton(),
          Dialog.warnButton({ label: 'Shut down' })
        ]
      });
      if (!answer.button.accept) {
        return false;
      }
      return model.close(cluster.id);
    }
  });

  commands.addCommand(CommandIDs.shutdownAll, {
    label: 'Shut Down All Dask HPC Clusters',
    isEnabled: () => model.clusters.length > 0,
    execute: async () => {
      const count = model.clusters.length;
      const answer = await showDialog({
        title: 'Shut down all clusters?',
        body: `Shut down all ${count} cluster(s) and cancel their batch jobs?`,
        buttons: [
          Dialog.cancelButton(),
          Dialog.warnButton({ label: 'Shut down all' })
        ]
      });
      if (!answer.button.accept) {
        return false;
      }
      return model.closeAll();
    }
  });

  if (palette) {
    for (const command of [
      CommandIDs.toggleSidebar,
      CommandIDs.start,
      CommandIDs.openDashboard,
      CommandIDs.insertCode,
      CommandIDs.shutdownAll
    ]) {
      palette.addItem({ command, category: CATEGORY });
    }
  }

  model.changed.connect(() => commands.notifyCommandChanged());

  if (settingRegistry) {
    settingRegistry
      .load(PLUGIN_ID)
      .then(settings => {
        const apply = (): void => {
          const seconds = settings.get('refreshInterval').composite as number;
          model.refreshInterval = Math.max(1, seconds) * 1000;
          model.defaultProfile = settings.get('defaultProfile')
            .composite as string;
        };
        apply();
        settings.changed.connect(apply);
      })
      .catch(reason =>
        console.error('pangeo-hpc-ext: cannot load settings', reason)
      );
  }
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description:
    'A sidebar to start, scale, watch and shut down Dask clusters on HPC batch schedulers.',
  autoStart: true,
  optional: [
    ILayoutRestorer,
    ICommandPalette,
    ISettingRegistry,
    INotebookTracker
  ],
  activate
};

export default plugin;
