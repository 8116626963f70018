/** Display helpers shared by the components; pure, so they are unit-tested. */

import {
  type ICluster,
  type IEndedCluster,
  type IJob,
  type IJobLog,
  isNotebookCluster,
  type ITlsFiles,
  type JobState
} from './api';

/**
 * Decimal units, as the form takes them: dask reads "1GB" as 10^9 bytes, so
 * the card says "1 GB" for it, not "953.7 MiB".
 */
const UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];

export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) {
    return '—';
  }
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1000 && unit < UNITS.length - 1) {
    value /= 1000;
    unit++;
  }
  const digits = unit === 0 || value >= 100 ? 0 : 1;
  // "1 GB", not "1.0 GB": a whole number reads as typed.
  const text = value.toFixed(digits).replace(/\.0$/, '');
  return `${text} ${UNITS[unit]}`;
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
  // A clock read before the answer came (a timer's last tick) must not count
  // up past what the server said: 0:30:01 for a 00:30 job.
  const elapsed = Math.max(0, (now - fetchedAt) / 1000);
  return Math.max(0, walltimeLeftS - elapsed);
}

/** Whether a job has ended, whatever the reason. */
export function jobEnded(job: IJob): boolean {
  return job.state === 'finished' || job.state === 'failed';
}

/** Jobs pending, running or suspended: the ones a shutdown cancels. */
export function liveJobs(jobs: IJob[]): IJob[] {
  return jobs.filter(job => !jobEnded(job));
}

/**
 * Whether an ended job is routine: it finished, or we ended it on purpose.
 * Only failures nobody asked for stay in view; the rest collapse.
 */
export function routineEnd(job: IJob): boolean {
  return job.state === 'finished' || (jobEnded(job) && !!job.ended_by);
}

/** "3 elements", "1 element". */
function counted(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

/**
 * What an array element is, for its row's tooltip: "element 4 of array 123".
 * The row itself keeps the native id (`123[4]`, `123_4`), the one users type
 * into bkill or scancel. Null for a job of its own.
 */
export function arrayElementLabel(job: IJob): string | null {
  return job.array
    ? `element ${job.array.index} of array ${job.array.parent}`
    : null;
}

/**
 * How the live workers were submitted, when any of them is an element of a
 * job array: "Workers submitted as one job array 123 (3 elements)". Each
 * scale-up is one array, and jobs of their own can sit beside them, so a
 * mixed cluster names every array and counts the single jobs too. Ended jobs
 * are history and are not counted; null when no live job is an element.
 */
export function arraySummary(jobs: IJob[]): string | null {
  // Oldest first, as the server lists jobs: the first array submitted comes first.
  const elements = new Map<string, number>();
  let single = 0;
  for (const job of liveJobs(jobs)) {
    if (job.array) {
      const parent = job.array.parent;
      elements.set(parent, (elements.get(parent) ?? 0) + 1);
    } else {
      single++;
    }
  }
  if (elements.size === 0) {
    return null;
  }
  const arrays = [...elements];
  const what =
    arrays.length === 1
      ? `one job array ${arrays[0][0]} (${counted(arrays[0][1], 'element')})`
      : `${arrays.length} job arrays (${arrays
          .map(([parent, count]) => `${parent}: ${counted(count, 'element')}`)
          .join(', ')})`;
  const singles = single > 0 ? ` and ${counted(single, 'single job')}` : '';
  return `Workers submitted as ${what}${singles}`;
}

/**
 * The shut-down dialog's question. Only live jobs are counted, an array's
 * elements one by one (each is a job the shutdown cancels); ended jobs are
 * history.
 */
export function shutdownQuestion(cluster: ICluster): string {
  const jobs = `${liveJobs(cluster.jobs).length} live batch job(s)`;
  if (!isNotebookCluster(cluster)) {
    return `Shut down "${cluster.name}" and cancel its ${jobs}?`;
  }
  const where = cluster.notebook?.path ?? 'its notebook';
  return `Ask the scheduler of "${cluster.name}" (started in ${where}) to close? Its cluster closes in the kernel and cancels its ${jobs}; the notebook's client loses it.`;
}

const ENDED_BY_LABEL: Record<string, string> = {
  'scale-down': 'retired (scaled down)',
  'walltime-replacement': 'replaced before walltime'
};

/** What a job we ended on purpose is called, or null when it ended by itself or runs. */
export function endedByLabel(job: IJob): string | null {
  return job.ended_by && jobEnded(job)
    ? (ENDED_BY_LABEL[job.ended_by] ?? null)
    : null;
}

/**
 * Pending reasons of LSF, Slurm and Grid Engine in plain words, first match
 * wins. The scheduler's own text stays available next to them (tooltip).
 */
const PENDING_REASONS: [RegExp, string][] = [
  // LSF / OpenLava / volclava
  [
    /job slot limit|not enough job slot|no enough job slot/i,
    'all job slots are busy'
  ],
  [
    /new job is waiting for scheduling/i,
    'the scheduler has not looked at it yet'
  ],
  [/dependency condition/i, 'it waits for another job to finish'],
  [/queue.*(inactive|closed)|queue is not active/i, 'the queue is closed'],
  [
    /not enough (processors|hosts|cpus)|spanning requirement/i,
    'no host has enough free cores'
  ],
  [
    /resource requirement|rusage|reserving resource|mem\b.*not satisfied/i,
    'no host has the memory or resources asked for'
  ],
  [
    /(the user|user's|per-user).*limit/i,
    'you reached a limit on your jobs (per user)'
  ],
  [/held|suspended by (the )?user|PSUSP/i, 'it is held'],
  // Slurm
  [/^resources$/i, 'waiting for free cores or memory'],
  [/^priority$/i, 'jobs with higher priority go first'],
  [
    /^(assoc|qos).*(max|grp).*jobs/i,
    "you reached your account's limit on jobs"
  ],
  [/^(assoc|qos).*(max|grp)/i, "you reached your account's limit on resources"],
  [/^reqnodenotavail|^nodedown/i, 'the nodes it needs are not available'],
  [
    /^partitiontimelimit/i,
    "the walltime asked for exceeds the partition's limit"
  ],
  [/^(partitiondown|partitioninactive)/i, 'the partition is down'],
  [/^dependency/i, 'it waits for another job to finish'],
  [/^begintime/i, 'it was asked to start later'],
  [/^jobheld(user|admin)/i, 'it is held'],
  [/^none$/i, 'the scheduler has not looked at it yet'],
  // Grid Engine
  [
    /all queues dropped because of overload or full|queue instance .* is full|only offers 0 slots/i,
    'all job slots are busy'
  ],
  [/cannot run because it exceeds limit/i, 'you reached a limit on your jobs'],
  [
    /cannot run in queue|cannot run at host/i,
    'no queue or host can take it now'
  ],
  [/job is in hold state|hold/i, 'it is held']
];

/** Why a job waits, in plain words; null when the scheduler gave no reason we know. */
export function plainPendingReason(reason: string | null): string | null {
  const text = reason?.trim();
  if (!text) {
    return null;
  }
  for (const [pattern, words] of PENDING_REASONS) {
    if (pattern.test(text)) {
      return words;
    }
  }
  return null;
}

/** A span of time as people say it: "40 s", "4 min", "2 h 5 min". */
export function formatWait(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) {
    return `${s} s`;
  }
  const minutes = Math.floor(s / 60);
  if (minutes < 60) {
    return `${minutes} min`;
  }
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  return m ? `${h} h ${m} min` : `${h} h`;
}

/**
 * "Waiting 4 min: all job slots are busy" for a pending job (how long since
 * it was submitted, when known); the scheduler's words when we have none of
 * our own, and null for jobs that do not wait.
 */
export function waitingText(job: IJob, now: number): string | null {
  if (job.state !== 'pending') {
    return null;
  }
  const since = job.submitted ? Date.parse(job.submitted) : NaN;
  let waited = Number.isNaN(since)
    ? 'Waiting'
    : `Waiting ${formatWait((now - since) / 1000)}`;
  const expected = job.expected_start ? Date.parse(job.expected_start) : NaN;
  if (!Number.isNaN(expected)) {
    waited += `, expected ${clockTime(expected)}`;
  }
  const why = plainPendingReason(job.reason) ?? job.reason?.trim();
  return why ? `${waited}: ${why}` : waited;
}

/** "14:32" in the viewer's time zone. */
export function clockTime(ms: number): string {
  const t = new Date(ms);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(t.getHours())}:${two(t.getMinutes())}`;
}

/** "3.2 core-hours" (one decimal; "< 0.1" below it), null when unknown. */
export function formatCoreHours(
  hours: number | null | undefined
): string | null {
  if (hours === null || hours === undefined) {
    return null;
  }
  return hours < 0.05 && hours > 0
    ? '< 0.1 core-hours'
    : `${hours.toFixed(1)} core-hours`;
}

/** The core-hours of every cluster that reports them (the session's total). */
export function totalCoreHours(clusters: ICluster[]): number | null {
  const known = clusters
    .map(c => c.core_hours)
    .filter((h): h is number => typeof h === 'number');
  return known.length ? known.reduce((a, b) => a + b, 0) : null;
}

/** Idle shutdown shows in its last minutes: earlier it would only be noise. */
export const IDLE_COUNTDOWN_S = 5 * 60;

/**
 * "Closes in 2:10 if still idle (no client, no task)" during the last minutes
 * before an idle cluster is closed; null otherwise.
 */
export function idleCountdown(cluster: ICluster, now: number): string | null {
  const closesAt = cluster.idle?.closes_at
    ? Date.parse(cluster.idle.closes_at)
    : NaN;
  if (Number.isNaN(closesAt)) {
    return null;
  }
  const left = Math.max(0, Math.ceil((closesAt - now) / 1000));
  if (left > IDLE_COUNTDOWN_S) {
    return null;
  }
  const mm = Math.floor(left / 60);
  const ss = String(left % 60).padStart(2, '0');
  return `Closes in ${mm}:${ss} if still idle (no client, no task)`;
}

/**
 * The word on a cluster's badge: its status, except "queued" while it is
 * short of workers only because their jobs wait in the scheduler's queue.
 */
export function clusterBadge(cluster: ICluster): string {
  if (cluster.status !== 'scaling') {
    return cluster.status;
  }
  const missing = cluster.workers.requested - cluster.workers.connected;
  const pending = cluster.jobs.filter(job => job.state === 'pending').length;
  return missing > 0 && pending >= missing ? 'queued' : cluster.status;
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
 * Client code for a cluster: one call to the kernel API, which finds the
 * cluster in the registry this server's kernels share, TLS credentials
 * included. By name when no other listed cluster has it, else by id.
 */
export function clusterClientCode(
  cluster: ICluster,
  others: ICluster[] = []
): string | null {
  if (!cluster.scheduler_address) {
    return null;
  }
  const shared = others.some(
    c => c.id !== cluster.id && c.name === cluster.name
  );
  const key = shared || !cluster.name ? cluster.id : cluster.name;
  return [
    'from pangeo_hpc_ext.kernel import connect',
    `client = connect(${JSON.stringify(key)})`
  ].join('\n');
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

/**
 * The dashboard's individual plots as its own pages name them, the ones
 * people open most first (as dask-labextension orders them), then the rest
 * alphabetically. Keys are the names in `individual-plots.json` without
 * "Individual ".
 */
const PLOT_NAMES: [string, string][] = [
  ['Task Stream', 'Task Stream'],
  ['Progress', 'Progress'],
  ['Cluster Memory', 'Cluster Memory'],
  ['Workers Memory', 'Worker Memory'],
  ['Nprocessing', 'Tasks Processing'],
  ['Cpu', 'CPU'],
  ['Graph', 'Task Graph'],
  ['Groups', 'Task Groups'],
  ['Occupancy', 'Occupancy'],
  ['Memory By Key', 'Memory by Key'],
  ['Compute Time Per Key', 'Compute Time per Task'],
  ['Aggregate Time Per Action', 'Aggregate Time per Action'],
  ['Bandwidth Types', 'Bandwidth by Type'],
  ['Bandwidth Workers', 'Bandwidth by Worker'],
  ['Nbytes', 'Bytes Stored'],
  ['Nbytes Cluster', 'Bytes Stored (cluster)'],
  ['Profile', 'Profile'],
  ['Profile Server', 'Profile Server'],
  ['Workers Network', 'Worker Network'],
  ['Workers Disk', 'Worker Disk'],
  ['Workers Cpu Timeseries', 'Worker CPU (timeseries)'],
  ['Workers Memory Timeseries', 'Worker Memory (timeseries)'],
  ['Workers Network Timeseries', 'Worker Network (timeseries)'],
  ['Workers Disk Timeseries', 'Worker Disk (timeseries)'],
  ['Gpu Memory', 'GPU Memory'],
  ['Gpu Utilization', 'GPU Utilization'],
  ['Scheduler System', 'Scheduler System'],
  ['Exceptions', 'Exceptions'],
  ['Contention', 'Contention'],
  ['Event Loop', 'Event Loop'],
  ['Workers', 'Workers']
];
/** How many of PLOT_NAMES lead the menu in their own order. */
const COMMON_PLOTS = 9;

export interface IPlotEntry {
  /** The key in individual-plots.json ("Individual Task Stream"). */
  title: string;
  /** What the menu and the tab say ("Task Stream"). */
  name: string;
  url: string;
}

export function sortedPlots(
  plots: Record<string, string>,
  gpu: boolean
): IPlotEntry[] {
  const known = new Map(PLOT_NAMES);
  const rank = new Map(PLOT_NAMES.map(([raw], i) => [raw, i]));
  const entries = Object.entries(plots)
    .map(([title, url]) => {
      const raw = title.replace(/^Individual /, '');
      return { title, raw, name: known.get(raw) ?? raw, url };
    })
    .filter(entry => gpu || !/^gpu\b/i.test(entry.raw));
  const common = (raw: string) => {
    const i = rank.get(raw);
    return i !== undefined && i < COMMON_PLOTS ? i : COMMON_PLOTS;
  };
  entries.sort(
    (a, b) => common(a.raw) - common(b.raw) || a.name.localeCompare(b.name)
  );
  return entries.map(({ title, name, url }) => ({ title, name, url }));
}

/** A job's output files as one text: each file under its path, "…" where its start was cut. */
export function jobLogText(log: IJobLog): string {
  if (log.files.length === 0) {
    return `No output files of job ${log.job_id} were found.`;
  }
  return log.files
    .map(
      f => `==> ${f.path} <==\n${f.truncated ? '…\n' : ''}${f.lines.join('\n')}`
    )
    .join('\n\n');
}

/**
 * The plots of `names` (as the Plots menu or the dashboard names them, in
 * any case) in that order, and the names no plot answers to.
 */
export function layoutPlots(
  plots: IPlotEntry[],
  names: string[]
): { found: IPlotEntry[]; missing: string[] } {
  const key = (text: string) => text.trim().toLowerCase();
  const found: IPlotEntry[] = [];
  const missing: string[] = [];
  for (const name of names) {
    const wanted = key(name);
    const plot = plots.find(
      p =>
        key(p.name) === wanted ||
        key(p.title.replace(/^Individual /, '')) === wanted
    );
    if (plot && !found.includes(plot)) {
      found.push(plot);
    } else if (!plot) {
      missing.push(name);
    }
  }
  return { found, missing };
}

/** Where the n-th plot of a layout goes: a 2x2 grid, then tabs over it. */
export function layoutPlacement(
  index: number
): { mode: 'split-right' | 'split-bottom' | 'tab-after'; ref: number } | null {
  switch (index) {
    case 0:
      return null;
    case 1:
      return { mode: 'split-right', ref: 0 };
    case 2:
      return { mode: 'split-bottom', ref: 0 };
    case 3:
      return { mode: 'split-bottom', ref: 1 };
    default:
      return { mode: 'tab-after', ref: index % 4 };
  }
}

/** Whether the cluster's jobs ask for GPUs: its queue, a `gpus` option or directives name them. */
export function hasGpu(cluster: ICluster): boolean {
  const options = cluster.options ?? {};
  const directives = Array.isArray(options.job_extra_directives)
    ? options.job_extra_directives
    : [];
  if (typeof options.gpus === 'number') {
    return options.gpus > 0;
  }
  return [options.queue, options.gpus, ...directives].some(
    text => typeof text === 'string' && /gpu/i.test(text)
  );
}

/** The cluster `key` names: by id, else the only one of that name (undefined when none or several). */
export function clusterByKey(
  clusters: ICluster[],
  key: string
): ICluster | undefined {
  const byId = clusters.find(c => c.id === key);
  if (byId) {
    return byId;
  }
  const named = clusters.filter(c => c.name === key);
  return named.length === 1 ? named[0] : undefined;
}

/** Host names that reach this server's host: a scheduler there is reachable through our proxy. */
const LOOPBACK_HOSTS = ['127.0.0.1', 'localhost', '[::1]', '0.0.0.0'];

/**
 * The port and page of a scheduler dashboard URL as a user pastes it
 * (`http://127.0.0.1:8787/status`, `localhost:8787`, `8787`), or why it
 * cannot be one of this user's dashboards. Only hosts that are this server's
 * own are taken: the proxy reaches 127.0.0.1 and nothing else.
 */
export function dashboardAddress(
  text: string,
  serverHost: string
): { port: number; page: string } | { error: string } {
  const trimmed = text.trim();
  if (!trimmed) {
    return {
      error: 'Paste a dashboard URL, such as http://127.0.0.1:8787/status.'
    };
  }
  let url: URL;
  try {
    const withScheme = /^\d+$/.test(trimmed)
      ? `http://127.0.0.1:${trimmed}`
      : /^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed)
        ? trimmed
        : `http://${trimmed}`;
    url = new URL(withScheme);
  } catch {
    return { error: `"${trimmed}" is not a URL.` };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return { error: `Only http and https dashboards, not ${url.protocol}` };
  }
  const host = url.hostname.toLowerCase();
  if (!LOOPBACK_HOSTS.includes(host) && host !== serverHost.toLowerCase()) {
    return {
      error: `${url.host} is not this server's host: only dashboards of your schedulers on this host open here, through the secure proxy.`
    };
  }
  const port = Number(url.port);
  if (!url.port || !Number.isInteger(port) || port < 1 || port > 65535) {
    return { error: `The URL names no port (the dashboard's, such as 8787).` };
  }
  const page = url.pathname.replace(/^\/+/, '') || 'status';
  return { port, page };
}

/** The id of a dashboard tab: one per cluster (or page opened by URL) and plot. */
export function dashboardWidgetId(args: {
  clusterId: string;
  plot: string;
  url: string;
}): string {
  const slug = (text: string) => text.toLowerCase().replace(/[^a-z0-9]+/g, '-');
  const plot = slug(args.plot);
  // Opened by URL, of no cluster we know: the page names the tab.
  const key = args.clusterId || `url-${slug(args.url)}`;
  return `pangeo-hpc-dashboard-${key}${plot ? `-${plot}` : ''}`;
}
