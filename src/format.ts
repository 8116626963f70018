/** Display helpers shared by the components; pure, so they are unit-tested. */

import {
  type ICluster,
  type IEndedCluster,
  type ITlsFiles,
  type JobState,
  isNotebookCluster
} from './api';

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) {
    return '—';
  }
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  const digits = unit === 0 || value >= 100 ? 0 : 1;
  return `${value.toFixed(digits)} ${UNITS[unit]}`;
}

/** Seconds as h:mm:ss (hours unbounded), never negative. */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) {
    return '—';
  }
  const total = Math.max(0, Math.floor(seconds));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return `${h}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}`;
}

/** Walltime left now, counting down from what the server said at `fetchedAt` (ms). */
export function walltimeLeft(
  walltimeLeftS: number | null,
  state: JobState,
  fetchedAt: number,
  now: number
): number | null {
  if (walltimeLeftS === null || walltimeLeftS === undefined) {
    return null;
  }
  if (state !== 'running') {
    return walltimeLeftS;
  }
  return Math.max(0, walltimeLeftS - (now - fetchedAt) / 1000);
}

/** The lines a notebook needs to use the cluster, with its TLS credentials when it has them. */
export function clientCode(
  schedulerAddress: string,
  tls: ITlsFiles | null = null
): string {
  const address = JSON.stringify(schedulerAddress);
  if (!tls) {
    return `from dask.distributed import Client\nclient = Client(${address})`;
  }
  return [
    'from dask.distributed import Client',
    'from distributed.security import Security',
    'security = Security(',
    `    tls_ca_file=${JSON.stringify(tls.ca_file)},`,
    `    tls_client_cert=${JSON.stringify(tls.cert_file)},`,
    `    tls_client_key=${JSON.stringify(tls.key_file)},`,
    '    require_encryption=True,',
    ')',
    `client = Client(${address}, security=security)`
  ].join('\n');
}

/**
 * Client code for a cluster. A notebook's TLS scheduler keeps its credentials
 * in its kernel, so the server cannot hand them out: the code looks them up by
 * id from the registry the kernels of this server share.
 */
export function clusterClientCode(cluster: ICluster): string | null {
  const address = cluster.scheduler_address;
  if (!address) {
    return null;
  }
  if (isNotebookCluster(cluster) && address.startsWith('tls://')) {
    return [
      'from pangeo_hpc_ext.kernel import connect',
      `client = connect(${JSON.stringify(cluster.id)})  # ${cluster.name}, TLS credentials included`
    ].join('\n');
  }
  return clientCode(address, cluster.tls);
}

/** What a dashboard tab says when its cluster is gone. */
export function endedMessage(
  label: string,
  ended: IEndedCluster | null
): { title: string; detail: string } {
  const name = ended?.name || label;
  const title = `Cluster "${name}" is gone`;
  if (!ended) {
    return {
      title,
      detail:
        'The server no longer knows this cluster: it was shut down, or JupyterLab restarted without keeping it.'
    };
  }
  const when = new Date(ended.ended);
  const at = Number.isNaN(when.getTime()) ? ended.ended : when.toLocaleString();
  return {
    title,
    detail: `It ended ${at}${ended.reason ? `: ${ended.reason}` : '.'}`
  };
}
