/** Display helpers shared by the components; pure, so they are unit-tested. */

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

export type JobStateKind =
  'pending' | 'running' | 'done' | 'failed' | 'suspended' | 'unknown';

const STATE_KINDS: Record<string, JobStateKind> = {
  // LSF
  PEND: 'pending',
  PSUSP: 'suspended',
  USUSP: 'suspended',
  SSUSP: 'suspended',
  RUN: 'running',
  DONE: 'done',
  EXIT: 'failed',
  UNKWN: 'unknown',
  ZOMBI: 'failed',
  // Slurm, PBS, SGE spellings
  PENDING: 'pending',
  CONFIGURING: 'pending',
  RUNNING: 'running',
  COMPLETING: 'running',
  COMPLETED: 'done',
  FAILED: 'failed',
  CANCELLED: 'failed',
  TIMEOUT: 'failed',
  NODE_FAIL: 'failed',
  OUT_OF_MEMORY: 'failed',
  SUSPENDED: 'suspended',
  Q: 'pending',
  R: 'running',
  E: 'running',
  C: 'done',
  qw: 'pending',
  r: 'running'
};

export function jobStateKind(state: string): JobStateKind {
  return STATE_KINDS[state] ?? STATE_KINDS[state.toUpperCase()] ?? 'unknown';
}

/** Walltime left now, counting down from what the server said at `fetchedAt` (ms). */
export function walltimeLeft(
  walltimeLeftS: number | null,
  state: string,
  fetchedAt: number,
  now: number
): number | null {
  if (walltimeLeftS === null || walltimeLeftS === undefined) {
    return null;
  }
  if (jobStateKind(state) !== 'running') {
    return walltimeLeftS;
  }
  return Math.max(0, walltimeLeftS - (now - fetchedAt) / 1000);
}

/** The line a notebook needs to use the cluster. */
export function clientCode(schedulerAddress: string): string {
  return `from dask.distributed import Client\nclient = Client(${JSON.stringify(schedulerAddress)})`;
}
