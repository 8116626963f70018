import {
  ILayoutRestorer,
  type JupyterFrontEnd,
  type JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette, Notification } from '@jupyterlab/apputils';
import { INotebookTracker } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { PromiseDelegate } from '@lumino/coreutils';

import { ClusterAPI, serverPath } from './api';
import { autoStartClients } from './autoclient';
import {
  addCommands,
  CommandIDs,
  PALETTE_CATEGORY,
  PALETTE_COMMANDS
} from './commands';
import type { ISidebarActions } from './components/actions';
import { ClustersModel } from './model';
import {
  DEFAULT_SETTINGS,
  followSettings,
  type IUserSettings,
  PLUGIN_ID
} from './settings';
import { DashboardTabs } from './widgets/dashboard';
import { ClusterSidebar } from './widgets/sidebar';

export { CommandIDs } from './commands';

function activate(
  app: JupyterFrontEnd,
  restorer: ILayoutRestorer | null,
  palette: ICommandPalette | null,
  settingRegistry: ISettingRegistry | null,
  notebooks: INotebookTracker | null
): void {
  const { commands, serviceManager, shell } = app;
  const { serverSettings } = serviceManager;
  const api = new ClusterAPI(serverSettings);
  const model = new ClustersModel({
    api,
    refreshInterval: 5000,
    events: serviceManager.events.stream,
    shareName: `pangeo-hpc-ext:${serverSettings.baseUrl}`
  });
  model.failed.connect((_, error) => {
    Notification.error(`Dask HPC: ${error.message}`, { autoClose: 8000 });
  });
  const dashboards = new DashboardTabs(shell, api);
  // What the settings say now; followSettings keeps it current.
  const settings: IUserSettings = { ...DEFAULT_SETTINGS };
  // A cluster known to be gone: its open dashboard tabs say so at once.
  model.store.changed.connect(() => {
    const ids = new Set(
      dashboards.tracker.filter(() => true).map(w => w.dashboardArgs.clusterId)
    );
    for (const id of ids) {
      if (model.store.record(id)?.cluster === null) {
        dashboards.clusterGone(id);
      }
    }
  });

  const run = (id: string, args: Record<string, string> = {}) =>
    void commands.execute(id, args);
  // Every action of the sidebar, once: buttons run the same commands as the
  // palette, and requests go through the model so answers land in order.
  const actions: ISidebarActions = {
    start: () => run(CommandIDs.start),
    refresh: () => void model.sync.refresh().catch(() => undefined),
    changeDraft: change => model.draft.update(change),
    scale: (cluster, workers) => void model.sync.scale(cluster.id, workers),
    adapt: (cluster, bounds) => model.sync.adapt(cluster.id, bounds),
    openDashboard: cluster =>
      run(CommandIDs.openDashboard, { clusterId: cluster.id }),
    loadPlots: cluster => api.individualPlots(cluster.dashboard_url ?? ''),
    openPlot: (cluster, title, url) =>
      run(CommandIDs.openDashboard, {
        clusterId: cluster.id,
        url: serverPath(url),
        plot: title,
        label: cluster.name
      }),
    openJobLog: (cluster, jobId) =>
      run(CommandIDs.openJobLog, { clusterId: cluster.id, jobId }),
    insertCode: cluster =>
      run(CommandIDs.insertCode, { clusterId: cluster.id }),
    shutdown: cluster => run(CommandIDs.shutdown, { clusterId: cluster.id }),
    openDashboardURL: url => run(CommandIDs.openDashboardURL, { url })
  };
  const sidebar = new ClusterSidebar(model, actions, {
    available: () => !!notebooks?.currentWidget,
    changed: notebooks?.currentChanged ?? null
  });
  shell.add(sidebar, 'left', { rank: 200 });

  addCommands(commands, {
    shell,
    api,
    settings,
    serverHost: window.location.hostname,
    model,
    dashboards,
    sidebar,
    notebooks
  });
  if (palette) {
    for (const command of PALETTE_COMMANDS) {
      palette.addItem({ command, category: PALETTE_CATEGORY });
    }
  }
  if (restorer) {
    restorer.add(sidebar, sidebar.id);
    void restorer.restore(dashboards.tracker, {
      command: CommandIDs.openDashboard,
      args: widget => ({ ...widget.dashboardArgs }),
      name: widget => widget.id
    });
  }
  // Settle once the user's settings apply (at once without a registry).
  const applied = new PromiseDelegate<void>();
  if (notebooks) {
    autoStartClients(notebooks, model, settings, applied.promise);
  }
  if (settingRegistry) {
    followSettings(settingRegistry, model, settings, applied).catch(reason => {
      applied.resolve();
      console.error('pangeo-hpc-ext: cannot load settings', reason);
    });
  } else {
    applied.resolve();
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
