/**
 * The "Client in every new notebook" setting (dask-labextension's
 * `autoStartClient`): when a notebook's Python kernel starts, it runs
 * `client = connect("<name>")` from pangeo_hpc_ext.kernel for the chosen
 * cluster, so the notebook has a client without a cell for it.
 */
import { Notification } from '@jupyterlab/apputils';
import type { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import type { Kernel } from '@jupyterlab/services';

import { clusterByKey, clusterClientCode } from './format';
import type { ClustersModel } from './model';
import type { IUserSettings } from './settings';

/** Give every notebook whose kernel starts a client of the cluster `settings.autoStartClient` names. */
export function autoStartClients(
  notebooks: INotebookTracker,
  model: ClustersModel,
  settings: IUserSettings,
  settingsApplied: Promise<void>
): void {
  const started = new WeakSet<Kernel.IKernelConnection>();
  const connect = async (panel: NotebookPanel): Promise<void> => {
    // A notebook opened with the page may start before the settings are read.
    await settingsApplied;
    const key = settings.autoStartClient;
    const kernel = panel.sessionContext.session?.kernel;
    if (!key || !kernel || started.has(kernel)) {
      return;
    }
    started.add(kernel);
    const info = await kernel.info;
    if (info.language_info.name !== 'python') {
      return;
    }
    await model.sync.ready;
    const clusters = model.store.clusters;
    const cluster = clusterByKey(clusters, key);
    const code = cluster ? clusterClientCode(cluster, clusters) : null;
    const where = panel.context.path;
    if (!cluster || !code) {
      Notification.warning(
        `Dask HPC: no client in ${where}: no cluster "${key}" with a scheduler (setting "Client in every new notebook").`,
        { autoClose: 8000 }
      );
      return;
    }
    const reply = await kernel.requestExecute({
      code,
      silent: true,
      store_history: false
    }).done;
    if (reply.content.status === 'ok') {
      Notification.info(
        `Dask HPC: ${where} has \`client\`, connected to ${cluster.name}.`,
        { autoClose: 5000 }
      );
    } else {
      const detail =
        reply.content.status === 'error'
          ? `${reply.content.ename}: ${reply.content.evalue}`
          : reply.content.status;
      Notification.error(
        `Dask HPC: the client of ${cluster.name} failed in ${where} (${detail}).`,
        { autoClose: 8000 }
      );
    }
  };
  notebooks.widgetAdded.connect((_, panel) => {
    const run = () =>
      void connect(panel).catch(reason =>
        console.error('pangeo-hpc-ext: autoStartClient', reason)
      );
    panel.sessionContext.ready.then(run, () => undefined);
    panel.sessionContext.kernelChanged.connect(() =>
      panel.sessionContext.ready.then(run, () => undefined)
    );
  });
}
