// Generated from the OpenAPI document by
// `python -m pangeo_hpc_ext.server.openapi_files --typescript`: do not edit.
// tests/unit/test_openapi.py fails when this file differs from that output.

export interface ICreateClusterBody {
  /** A profile name of `GET api/profiles`; another name is 404. */
  profile: string;
  /**
   * Options of the profile's backend, overlaid on the profile's defaults. Their
   * schema depends on the profile and on the site (queues, limits), so it is
   * not part of this document: it is `profiles[].schema` of `GET api/profiles`,
   * and the server validates against it at runtime. An option that schema does
   * not name is 400, a value it rejects (or a queue the scheduler does not
   * have) is 422.
   */
  options?: Record<string, unknown>;
  /**
   * Worker count to start with, 0 to `max_workers` of `GET api/profiles`
   * (checked at runtime: 422 outside). Default 0. Integers only: 2.0 is 422.
   */
  workers?: number;
  /** Display name; default `<profile>-<first 6 characters of the id>`. */
  name?: string;
  /**
   * Keep the cluster running when this server stops, whatever
   * `c.PangeoHPC.on_server_stop` says; the next server reattaches it. Default
   * false.
   */
  keep?: boolean;
  /**
   * Seconds with no Dask client connected and no task before the cluster is
   * closed and its jobs killed; 0: never. Default: the profile's `idle_timeout`
   * of `GET api/profiles`. Above `max_idle_timeout` (or 0 when there is one),
   * or above 366 days, is 422.
   */
  idle_timeout?: number;
}

/** Exactly one of `workers` (manual scaling; ends adaptive mode) or `adapt`. */
export interface IPatchClusterBody {
  /** Worker count, 0 to `max_workers` (checked at runtime: 422 outside). */
  workers?: number;
  /**
   * Adaptive scaling between `minimum` and `maximum` workers (each 0 to
   * `max_workers`, minimum not above maximum; checked at runtime: 422
   * otherwise); null: manual scaling, holding the size adaptive mode had
   * reached.
   */
  adapt?: IAdaptBounds | null;
}

/**
 * Adaptive scaling between `minimum` and `maximum` workers (each 0 to
 * `max_workers`, minimum not above maximum; checked at runtime: 422 otherwise);
 * null: manual scaling, holding the size adaptive mode had reached.
 */
export interface IAdaptBounds {
  minimum: number;
  maximum: number;
}

export interface ICluster {
  /** Opaque id, used in every URL of this cluster. */
  id: string;
  name: string;
  /** The profile it was started from; null for a notebook's cluster. */
  profile: string | null;
  /**
   * `jupyterlab`: started here (sidebar or API); `notebook`: a scheduler a
   * kernel of this server started, listed but scaled in its notebook.
   */
  origin: 'jupyterlab' | 'notebook';
  /** Files (0600, this user's) a client needs to reach the TLS scheduler. */
  tls: {
    ca_file: string;
    cert_file: string;
    key_file: string;
  } | null;
  /**
   * Set while job states could not be read (what is shown may be stale), or
   * once another JupyterLab took the cluster over ("attached to another
   * JupyterLab (pid N on HOST)"): it runs on there, and this server neither
   * reads its jobs nor changes or closes it (PATCH and DELETE answer 409).
   */
  warning: string | null;
  /**
   * Whether it outlives this server (its own `keep`, or `on_server_stop` is
   * `keep`); false for a notebook's cluster.
   */
  keep: boolean;
  /** Only for `origin: notebook`: where the scheduler runs. */
  notebook?: {
    cluster_class: string | null;
    kernel_id: string;
    path: string | null;
    pid: number;
  };
  /**
   * `scaling` while the connected workers differ from the requested count,
   * `failed` with `error` when the scheduler refused the cluster.
   */
  status:
    | 'starting'
    | 'running'
    | 'scaling'
    | 'degraded'
    | 'closing'
    | 'closed'
    | 'failed';
  /** Dask scheduler address, null until the scheduler runs. */
  scheduler_address: string | null;
  /** Server-relative URL of the dashboard through this extension's proxy. */
  dashboard_url: string | null;
  workers: {
    requested: number;
    connected: number;
  };
  /**
   * Adaptive scaling between `minimum` and `maximum` workers (each 0 to
   * `max_workers`, minimum not above maximum; checked at runtime: 422
   * otherwise); null: manual scaling, holding the size adaptive mode had
   * reached.
   */
  adapt: IAdaptBounds | null;
  /** Threads of the connected workers. */
  cores: number;
  /** Memory limit of the connected workers, in bytes. */
  memory: number;
  /** The options the cluster was started with, defaults included. */
  options: Record<string, unknown>;
  created: string;
  /** The last scheduler failure (e.g. a refused submission), verbatim. */
  error: string | null;
  /**
   * Idle shutdown: a cluster with no Dask client and no task (an adaptive one
   * at its minimum included) for `timeout_s` is closed and its jobs killed; the
   * event that follows carries the reason. Null for a notebook's cluster (its
   * kernel owns it).
   */
  idle: {
    /** Seconds with no client and no task before it is closed; 0: never. */
    timeout_s: number;
    /**
     * When it will be closed if nobody uses it; null while a client is
     * connected, a task runs, workers it asked for have not connected yet, or
     * it never closes.
     */
    closes_at: string | null;
  } | null;
  /**
   * Cores per job times the time each of its jobs ran so far, in hours, as this
   * server saw them start and end (not the scheduler's accounting). Null for a
   * notebook's cluster.
   */
  core_hours: number | null;
  /**
   * Cores of its running (or suspended) jobs now. Null for a notebook's
   * cluster.
   */
  cores_held: number | null;
  /**
   * Batch jobs of this cluster, oldest first; the newest ended ones stay listed
   * with their end reason.
   */
  jobs: IJob[];
}

export interface IJob {
  /**
   * The scheduler's id of the job; an array element's own id (LSF `123[4]`,
   * Slurm `123_4`, Grid Engine `123.4`, PBS `123[4].server`), which kills that
   * element alone.
   */
  job_id: string;
  /** The same states for every scheduler. */
  state: 'pending' | 'running' | 'suspended' | 'finished' | 'failed';
  /**
   * The scheduler's own word (PEND, RUN, EXIT, ...); SUBMITTED until the first
   * state query.
   */
  native_state: string;
  /** Why the job pends, or why it ended, in the scheduler's words. */
  reason: string | null;
  hosts: string[];
  submitted: string | null;
  started: string | null;
  walltime_left_s: number | null;
  /**
   * When the scheduler expects the pending job to start (Slurm's `squeue
   * --start`); null when it gives no estimate (LSF, Grid Engine) or the job is
   * not pending.
   */
  expected_start: string | null;
  /**
   * Seconds the job waited in the queue: until now while it pends, until it
   * started otherwise; null without a submit time.
   */
  waiting_s: number | null;
  /**
   * Set on an ended job that this server ended on purpose: `scale-down`
   * (scaling down or adaptive retiring), `walltime-replacement` (a replacement
   * was started before its walltime); null otherwise.
   */
  ended_by: 'scale-down' | 'walltime-replacement' | null;
  /**
   * Set when the job is an element of a job array (the profile's `job_array`):
   * the array's id and the element's index; null for a job of its own.
   */
  array: {
    /** The job array's own id. */
    parent: string;
    index: number;
  } | null;
}

export interface IJobLog {
  job_id: string;
  /**
   * The job's output and error files that exist, last lines of each (at most
   * 200 lines, 64 KiB).
   */
  files: {
    path: string;
    lines: string[];
    truncated: boolean;
  }[];
}

export interface IClusterList {
  clusters: ICluster[];
}

export interface IProfiles {
  profiles: {
    name: string;
    label: string;
    /** The scheduler: local, lsf, ... */
    backend: string;
    /**
     * JSON Schema (draft 2020-12) of this profile's `options`, with the site's
     * defaults and allowed values (e.g. the queues `bqueues` lists).
     */
    schema: Record<string, unknown>;
    /** Option values used when not given. */
    defaults: Record<string, unknown>;
    /**
     * The idle timeout (seconds, 0: never) of this profile's clusters when a
     * request names none.
     */
    idle_timeout: number;
  }[];
  /** Largest worker count of one cluster (manual or adaptive). */
  max_workers: number;
  /** Clusters this server runs at once, failed ones included. */
  max_clusters: number;
  /**
   * The largest `idle_timeout` a request may ask for (seconds; then 0, never,
   * is refused too); null: no limit.
   */
  max_idle_timeout?: number | null;
}

/**
 * Every error answer of this API. `errors` names each invalid field (400 for
 * unknown fields, 422 for invalid values). Errors raised by jupyter_server
 * itself (403, 405) carry `reason` instead.
 */
export interface IError {
  message: string;
  errors?: IFieldError[];
  reason?: string | null;
}

export interface IFieldError {
  /**
   * The offending field: a field of the body (`workers`, `adapt.minimum`), an
   * option by its name (`memory`, `job_extra_directives.0`), or `body` for the
   * body as a whole.
   */
  field: string;
  message: string;
}
