/**
 * Typed client for the pangeo-hpc REST API (`{base_url}pangeo-hpc/api/...`).
 *
 * Every failure, HTTP or network, is thrown as an `APIError` so that callers
 * can show the server's message and put field errors next to their fields.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

export const API_PATH = 'pangeo-hpc/api';

export type ClusterStatus =
  | 'starting'
  | 'running'
  | 'scaling'
  | 'degraded'
  | 'closing'
  | 'closed'
  | 'failed';

/** Our job states, the same for every scheduler. */
export type JobState =
  'pending' | 'running' | 'suspended' | 'finished' | 'failed';

export interface IJob {
  job_id: string;
  state: JobState;
  /** The scheduler's own word, shown to users: PEND RUN EXIT, PENDING TIMEOUT, qw Eqw ... */
  native_state: string;
  /** Why it waits (pending) or why it ended, in the scheduler's words. */
  reason: string | null;
  /** Distinct host names the job runs on. */
  hosts: string[];
  /** ISO 8601. */
  submitted: string | null;
  /** ISO 8601. */
  started: string | null;
  walltime_left_s: number | null;
  /**
   * Set on an ended job the server ended on purpose (scaling down, adaptive
   * retiring, a replacement started before its walltime); absent from older
   * servers.
   */
  ended_by?: JobEndedBy | null;
  /** The scheduler's estimate of a pending job's start (ISO 8601), when it gives one. */
  expected_start?: string | null;
  /** Set on an element of a job array: the array's id and the element's index. */
  array?: IJobArrayElement | null;
}

export interface IJobArrayElement {
  parent: string;
  index: number;
}

export type JobEndedBy = 'scale-down' | 'walltime-replacement';

export interface IAdaptBounds {
  minimum: number;
  maximum: number;
}

/** Where a cluster was started: from JupyterLab (sidebar or API), or in a notebook's kernel. */
export type ClusterOrigin = 'jupyterlab' | 'notebook';

/** Where a notebook's scheduler runs (only for `origin: "notebook"`). */
export interface INotebookInfo {
  /** The cluster object's class (LocalCluster, LSFCluster ...), when known. */
  cluster_class: string | null;
  kernel_id: string;
  /** The notebook (or console) the kernel belongs to, when it has a session. */
  path: string | null;
  pid: number;
}

export interface ICluster {
  id: string;
  name: string;
  /** Null for a notebook's cluster. */
  profile: string | null;
  /** Absent from servers that list only their own clusters. */
  origin?: ClusterOrigin;
  notebook?: INotebookInfo | null;
  /** Left running when JupyterLab stops. */
  keep?: boolean;
  status: ClusterStatus;
  scheduler_address: string | null;
  /** Files (readable by this user only) a client needs to reach a TLS scheduler. */
  tls: ITlsFiles | null;
  /** Server-relative URL of the proxied dashboard's status page. */
  dashboard_url: string | null;
  workers: { requested: number; connected: number };
  adapt: IAdaptBounds | null;
  cores: number;
  /** Bytes, summed over connected workers. */
  memory: number;
  options: Record<string, unknown>;
  /** ISO 8601. */
  created: string | null;
  error: string | null;
  /** Set while job states could not be read: what is shown may be stale. */
  warning: string | null;
  jobs: IJob[];
  /**
   * Idle shutdown: closed with its jobs after `timeout_s` (0: never) with no
   * client and no task; `closes_at` (ISO 8601) while that clock runs. Null for
   * a notebook's cluster; absent from older servers.
   */
  idle?: { timeout_s: number; closes_at: string | null } | null;
  /** Our own accounting: cores times the time each job ran, in hours. */
  core_hours?: number | null;
  /** Cores of its running jobs now. */
  cores_held?: number | null;
}

/** The last lines of a batch job's output files. */
export interface IJobLog {
  job_id: string;
  files: { path: string; lines: string[]; truncated: boolean }[];
}

export interface ITlsFiles {
  ca_file: string;
  cert_file: string;
  key_file: string;
}

/** The subset of JSON Schema the profiles use; rjsf renders it. */
export interface IOptionsSchema {
  type?: string | string[];
  title?: string;
  description?: string;
  properties?: Record<string, IOptionsSchema>;
  required?: string[];
  items?: IOptionsSchema;
  enum?: unknown[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  additionalProperties?: boolean | IOptionsSchema;
  /** Our hint, shown instead of a generic message when a pattern or type fails. */
  errorMessage?: string;
  [key: string]: unknown;
}

export interface IProfile {
  name: string;
  label: string;
  backend: string;
  schema: IOptionsSchema;
  defaults: Record<string, unknown>;
}

export interface IProfiles {
  profiles: IProfile[];
  max_workers?: number;
  max_clusters?: number;
}

export interface ICreateRequest {
  profile: string;
  options: Record<string, unknown>;
  workers: number;
  name?: string;
  /** Keep the cluster running when JupyterLab stops. */
  keep?: boolean;
}

/** How a cluster that existed ended (in the 404 for its id). */
export interface IEndedCluster {
  name: string;
  /** ISO 8601. */
  ended: string;
  reason: string;
}

export interface IFieldError {
  field: string;
  message: string;
}

/** An answer other than 2xx, or no answer at all (status 0). */
export class APIError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly errors: IFieldError[] = [],
    /** A 404 for a cluster that existed says when and why it ended. */
    readonly ended: IEndedCluster | null = null
  ) {
    super(message);
    this.name = 'APIError';
  }

  /** Field errors by field name, e.g. `{memory: ["must be a size such as 20GB"]}`. */
  byField(): Record<string, string[]> {
    const fields: Record<string, string[]> = {};
    for (const error of this.errors) {
      (fields[error.field] ??= []).push(error.message);
    }
    return fields;
  }

  /** Any failure as an APIError; status 0 when no answer came. */
  static from(error: unknown): APIError {
    if (error instanceof APIError) {
      return error;
    }
    return new APIError(
      0,
      error instanceof Error ? error.message : String(error)
    );
  }

  static async fromResponse(response: Response): Promise<APIError> {
    const fallback = `${response.status} ${response.statusText}`.trim();
    let body: unknown = null;
    try {
      body = await response.json();
    } catch {
      // Not JSON (a proxy's HTML error page, an empty 502 ...): keep the status line.
    }
    if (!isObject(body)) {
      return new APIError(response.status, fallback);
    }
    const message =
      typeof body.message === 'string' && body.message
        ? body.message
        : fallback;
    const errors = Array.isArray(body.errors)
      ? body.errors.filter(isFieldError)
      : [];
    const ended = isEndedCluster(body.ended) ? body.ended : null;
    return new APIError(response.status, message, errors, ended);
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isEndedCluster(value: unknown): value is IEndedCluster {
  return (
    isObject(value) &&
    typeof value.name === 'string' &&
    typeof value.ended === 'string' &&
    typeof value.reason === 'string'
  );
}

/** Whether a cluster was started in a notebook (its scaling stays there). */
export function isNotebookCluster(cluster: ICluster): boolean {
  return cluster.origin === 'notebook';
}

function isFieldError(value: unknown): value is IFieldError {
  return (
    isObject(value) &&
    typeof value.field === 'string' &&
    typeof value.message === 'string'
  );
}

export class ClusterAPI {
  readonly serverSettings: ServerConnection.ISettings;

  constructor(serverSettings?: ServerConnection.ISettings) {
    this.serverSettings = serverSettings ?? ServerConnection.makeSettings();
  }

  profiles(): Promise<IProfiles> {
    return this.request<IProfiles>('profiles');
  }

  async clusters(): Promise<ICluster[]> {
    const answer = await this.request<{ clusters: ICluster[] }>('clusters');
    return answer.clusters;
  }

  cluster(id: string): Promise<ICluster> {
    return this.request<ICluster>(clusterPath(id));
  }

  create(request: ICreateRequest): Promise<ICluster> {
    return this.request<ICluster>('clusters', {
      method: 'POST',
      body: JSON.stringify(request)
    });
  }

  scale(id: string, workers: number): Promise<ICluster> {
    return this.patch(id, { workers });
  }

  adapt(id: string, bounds: IAdaptBounds | null): Promise<ICluster> {
    return this.patch(id, { adapt: bounds });
  }

  async close(id: string): Promise<void> {
    await this.request<null>(clusterPath(id), { method: 'DELETE' });
  }

  /** The tail of a job's output files (404 while it wrote none). */
  jobLog(clusterId: string, jobId: string): Promise<IJobLog> {
    return this.request<IJobLog>(
      `clusters/${encodeURIComponent(clusterId)}/jobs/${encodeURIComponent(jobId)}/log`
    );
  }

  /**
   * The dashboard's individual plots, `{title: absolute URL}`; empty when the
   * dashboard does not offer the list (yet).
   */
  async individualPlots(dashboardUrl: string): Promise<Record<string, string>> {
    const root = dashboardRoot(dashboardUrl, this.serverSettings.baseUrl);
    const listing = await this.requestURL<unknown>(
      URLExt.join(root, 'individual-plots.json'),
      {}
    );
    const plots: Record<string, string> = {};
    if (isObject(listing)) {
      for (const [title, path] of Object.entries(listing)) {
        if (typeof path === 'string') {
          plots[title] = URLExt.join(root, path);
        }
      }
    }
    return plots;
  }

  private patch(id: string, body: object): Promise<ICluster> {
    return this.request<ICluster>(clusterPath(id), {
      method: 'PATCH',
      body: JSON.stringify(body)
    });
  }

  private request<T>(path: string, init: RequestInit = {}): Promise<T> {
    const url = URLExt.join(this.serverSettings.baseUrl, API_PATH, path);
    if (init.body !== undefined) {
      init = {
        ...init,
        headers: { 'Content-Type': 'application/json' }
      };
    }
    return this.requestURL<T>(url, init);
  }

  private async requestURL<T>(url: string, init: RequestInit): Promise<T> {
    let response: Response;
    try {
      response = await ServerConnection.makeRequest(
        url,
        init,
        this.serverSettings
      );
    } catch (error) {
      throw new APIError(
        0,
        `Cannot reach the Jupyter server: ${(error as Error).message}`
      );
    }
    if (!response.ok) {
      throw await APIError.fromResponse(response);
    }
    if (response.status === 204) {
      return null as T;
    }
    try {
      return (await response.json()) as T;
    } catch {
      throw new APIError(response.status, `Invalid JSON from ${url}`);
    }
  }
}

/** Whether a dashboard's cluster still exists, and if not, what the server says of its end. */
export type ClusterPresence =
  { kind: 'live' } | { kind: 'gone'; ended: IEndedCluster | null };

/**
 * Asks the server about the tab's cluster. Only a 404 means gone: on any other
 * failure the page is loaded anyway and shows what the proxy answers.
 */
export async function clusterPresence(
  api: Pick<ClusterAPI, 'cluster'>,
  clusterId: string
): Promise<ClusterPresence> {
  if (!clusterId) {
    return { kind: 'live' };
  }
  try {
    await api.cluster(clusterId);
  } catch (error) {
    const failure = APIError.from(error);
    if (failure.status === 404) {
      return { kind: 'gone', ended: failure.ended };
    }
  }
  return { kind: 'live' };
}

function clusterPath(id: string): string {
  return `clusters/${encodeURIComponent(id)}`;
}

/**
 * Absolute URL for a URL the server gave relative to itself: a path that starts
 * with `/` already carries the server's base_url; one without is relative to it.
 */
export function serverURL(url: string, baseUrl: string): string {
  return new URL(url, baseUrl).href;
}

/** The dashboard's root (where individual-plots.json lives) from its status page URL. */
export function dashboardRoot(dashboardUrl: string, baseUrl: string): string {
  const absolute = serverURL(dashboardUrl, baseUrl);
  return absolute.replace(/\/status\/?$/, '/').replace(/([^/])$/, '$1/');
}

/** `/base/pangeo-hpc/...` from an absolute URL on this server. */
export function serverPath(url: string): string {
  const parsed = new URL(url, window.location.href);
  return `${parsed.pathname}${parsed.search}`;
}
