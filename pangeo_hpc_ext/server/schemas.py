"""JSON Schemas (draft 2020-12) of the REST API's bodies: the handlers validate requests with
these very objects, and the OpenAPI document (openapi.py) is built from them, so the contract
users read is the one the server enforces.

Request schemas must stay self-contained (no `$ref`): the handlers validate with them directly.
Keywords such as `description` and `examples` are annotations and change nothing in validation.
"""

from __future__ import annotations

from typing import Any

from ..core.cluster import Status
from ..core.profiles import IDLE_TIMEOUT_CEILING_S
from ..schedulers.base import JobState

Schema = dict[str, Any]

# The largest valid request (a profile's options with a few directives) is a few KiB.
MAX_BODY_BYTES = 64 * 1024
MAX_BODY_DEPTH = 8

NULLABLE_STRING: Schema = {"type": ["string", "null"]}
NULLABLE_TIME: Schema = {"type": ["string", "null"], "format": "date-time"}
COUNT: Schema = {"type": "integer", "minimum": 0}

# -- requests --------------------------------------------------------------------------------

CREATE_BODY: Schema = {
    "type": "object",
    "title": "New cluster",
    "additionalProperties": False,
    "required": ["profile"],
    "properties": {
        "profile": {
            "type": "string",
            "minLength": 1,
            "description": "A profile name of `GET api/profiles`; another name is 404.",
            "examples": ["local", "lsf"],
        },
        "options": {
            "type": "object",
            "description": "Options of the profile's backend, overlaid on the profile's defaults. "
            "Their schema depends on the profile and on the site (queues, limits), so it is not "
            "part of this document: it is `profiles[].schema` of `GET api/profiles`, and the "
            "server validates against it at runtime. An option that schema does not name is 400, "
            "a value it rejects (or a queue the scheduler does not have) is 422.",
            "examples": [{"threads_per_worker": 1, "memory_limit": "2GB"}],
        },
        "workers": {
            "type": "integer",
            "description": "Worker count to start with, 0 to `max_workers` of `GET api/profiles` "
            "(checked at runtime: 422 outside). Default 0. Integers only: 2.0 is 422.",
            "examples": [2],
        },
        "name": {
            "type": "string",
            "minLength": 1,
            "maxLength": 100,
            "description": "Display name; default `<profile>-<first 6 characters of the id>`.",
        },
        "keep": {
            "type": "boolean",
            "description": "Keep the cluster running when this server stops, whatever "
            "`c.PangeoHPC.on_server_stop` says; the next server reattaches it. Default false.",
        },
        "idle_timeout": {
            "type": "number",
            "minimum": 0,
            "maximum": IDLE_TIMEOUT_CEILING_S,
            "description": "Seconds with no Dask client connected and no task before the "
            "cluster is closed and its jobs killed; 0: never. Default: the profile's "
            "`idle_timeout` of `GET api/profiles`. Above `max_idle_timeout` (or 0 when there is "
            "one), or above 366 days, is 422.",
            "examples": [1800],
        },
    },
}

ADAPT_BOUNDS: Schema = {
    "type": ["object", "null"],
    "title": "Adaptive bounds",
    "description": "Adaptive scaling between `minimum` and `maximum` workers (each 0 to "
    "`max_workers`, minimum not above maximum; checked at runtime: 422 otherwise); null: manual "
    "scaling, holding the size adaptive mode had reached.",
    "additionalProperties": False,
    "required": ["minimum", "maximum"],
    "properties": {"minimum": {"type": "integer"}, "maximum": {"type": "integer"}},
}

PATCH_BODY: Schema = {
    "type": "object",
    "title": "Cluster change",
    "description": "Exactly one of `workers` (manual scaling; ends adaptive mode) or `adapt`.",
    "additionalProperties": False,
    "minProperties": 1,
    "maxProperties": 1,
    "properties": {
        "workers": {
            "type": "integer",
            "description": "Worker count, 0 to `max_workers` (checked at runtime: 422 outside).",
        },
        "adapt": ADAPT_BOUNDS,
    },
}

# -- responses -------------------------------------------------------------------------------

FIELD_ERROR: Schema = {
    "type": "object",
    "additionalProperties": False,
    "required": ["field", "message"],
    "properties": {
        "field": {
            "type": "string",
            "description": "The offending field: a field of the body (`workers`, "
            "`adapt.minimum`), an option by its name (`memory`, `job_extra_directives.0`), or "
            "`body` for the body as a whole.",
        },
        "message": {"type": "string"},
    },
}

ERROR: Schema = {
    "type": "object",
    "title": "Error",
    "description": "Every error answer of this API. `errors` names each invalid field (400 for "
    "unknown fields, 422 for invalid values). Errors raised by jupyter_server itself (403, 405) "
    "carry `reason` instead.",
    "required": ["message"],
    "properties": {
        "message": {"type": "string"},
        "errors": {"type": "array", "items": FIELD_ERROR},
        "reason": NULLABLE_STRING,
    },
}

JOB: Schema = {
    "type": "object",
    "title": "Batch job",
    "additionalProperties": False,
    "required": [
        "job_id",
        "state",
        "native_state",
        "reason",
        "hosts",
        "submitted",
        "started",
        "walltime_left_s",
        "expected_start",
        "waiting_s",
        "ended_by",
        "array",
    ],
    "properties": {
        "job_id": {
            "type": "string",
            "description": "The scheduler's id of the job; an array element's own id (LSF "
            "`123[4]`, Slurm `123_4`, Grid Engine `123.4`, PBS `123[4].server`), which kills "
            "that element alone.",
        },
        "state": {
            "enum": [state.value for state in JobState],
            "description": "The same states for every scheduler.",
        },
        "native_state": {
            "type": "string",
            "description": "The scheduler's own word (PEND, RUN, EXIT, ...); SUBMITTED until "
            "the first state query.",
        },
        "reason": {
            **NULLABLE_STRING,
            "description": "Why the job pends, or why it ended, in the scheduler's words.",
        },
        "hosts": {"type": "array", "items": {"type": "string"}},
        "submitted": NULLABLE_TIME,
        "started": NULLABLE_TIME,
        "walltime_left_s": {"type": ["integer", "null"], "minimum": 0},
        "expected_start": {
            **NULLABLE_TIME,
            "description": "When the scheduler expects the pending job to start (Slurm's "
            "`squeue --start`); null when it gives no estimate (LSF, Grid Engine) or the job "
            "is not pending.",
        },
        "waiting_s": {
            "type": ["integer", "null"],
            "minimum": 0,
            "description": "Seconds the job waited in the queue: until now while it pends, "
            "until it started otherwise; null without a submit time.",
        },
        "ended_by": {
            "enum": ["scale-down", "walltime-replacement", None],
            "description": "Set on an ended job that this server ended on purpose: "
            "`scale-down` (scaling down or adaptive retiring), `walltime-replacement` (a "
            "replacement was started before its walltime); null otherwise.",
        },
        "array": {
            "type": ["object", "null"],
            "additionalProperties": False,
            "required": ["parent", "index"],
            "properties": {
                "parent": {"type": "string", "description": "The job array's own id."},
                "index": {"type": "integer", "minimum": 0},
            },
            "description": "Set when the job is an element of a job array (the profile's "
            "`job_array`): the array's id and the element's index; null for a job of its own.",
        },
    },
}

CLUSTER: Schema = {
    "type": "object",
    "title": "Cluster",
    "additionalProperties": False,
    "required": [
        "id",
        "name",
        "profile",
        "status",
        "scheduler_address",
        "dashboard_url",
        "workers",
        "adapt",
        "cores",
        "memory",
        "options",
        "created",
        "error",
        "warning",
        "jobs",
        "origin",
        "tls",
        "keep",
        "idle",
        "core_hours",
        "cores_held",
    ],
    "properties": {
        "id": {"type": "string", "description": "Opaque id, used in every URL of this cluster."},
        "name": {"type": "string"},
        "profile": {
            **NULLABLE_STRING,
            "description": "The profile it was started from; null for a notebook's cluster.",
        },
        "origin": {
            "enum": ["jupyterlab", "notebook"],
            "description": "`jupyterlab`: started here (sidebar or API); `notebook`: a scheduler "
            "a kernel of this server started, listed but scaled in its notebook.",
        },
        "tls": {
            "type": ["object", "null"],
            "additionalProperties": False,
            "required": ["ca_file", "cert_file", "key_file"],
            "properties": {
                "ca_file": {"type": "string"},
                "cert_file": {"type": "string"},
                "key_file": {"type": "string"},
            },
            "description": "Files (0600, this user's) a client needs to reach the TLS scheduler.",
        },
        "warning": {
            **NULLABLE_STRING,
            "description": "Set while job states could not be read (what is shown may be "
            'stale), or once another JupyterLab took the cluster over ("attached to another '
            'JupyterLab (pid N on HOST)"): it runs on there, and this server neither reads its '
            "jobs nor changes or closes it (PATCH and DELETE answer 409).",
        },
        "keep": {
            "type": "boolean",
            "description": "Whether it outlives this server (its own `keep`, or "
            "`on_server_stop` is `keep`); false for a notebook's cluster.",
        },
        "notebook": {
            "type": "object",
            "description": "Only for `origin: notebook`: where the scheduler runs.",
            "additionalProperties": False,
            "required": ["cluster_class", "kernel_id", "path", "pid"],
            "properties": {
                "cluster_class": {"type": ["string", "null"]},
                "kernel_id": {"type": "string"},
                "path": {"type": ["string", "null"]},
                "pid": {"type": "integer"},
            },
        },
        "status": {
            "enum": [status.value for status in Status],
            "description": "`scaling` while the connected workers differ from the requested "
            "count, `failed` with `error` when the scheduler refused the cluster.",
        },
        "scheduler_address": {
            **NULLABLE_STRING,
            "description": "Dask scheduler address, null until the scheduler runs.",
        },
        "dashboard_url": {
            **NULLABLE_STRING,
            "description": "Server-relative URL of the dashboard through this extension's proxy.",
        },
        "workers": {
            "type": "object",
            "additionalProperties": False,
            "required": ["requested", "connected"],
            "properties": {"requested": COUNT, "connected": COUNT},
        },
        "adapt": ADAPT_BOUNDS,
        "cores": {**COUNT, "description": "Threads of the connected workers."},
        "memory": {**COUNT, "description": "Memory limit of the connected workers, in bytes."},
        "options": {
            "type": "object",
            "description": "The options the cluster was started with, defaults included.",
        },
        "created": {"type": "string", "format": "date-time"},
        "error": {
            **NULLABLE_STRING,
            "description": "The last scheduler failure (e.g. a refused submission), verbatim.",
        },
        "idle": {
            "type": ["object", "null"],
            "additionalProperties": False,
            "required": ["timeout_s", "closes_at"],
            "properties": {
                "timeout_s": {
                    "type": "number",
                    "minimum": 0,
                    "description": "Seconds with no client and no task before it is closed; "
                    "0: never.",
                },
                "closes_at": {
                    **NULLABLE_TIME,
                    "description": "When it will be closed if nobody uses it; null while a "
                    "client is connected, a task runs, workers it asked for have not connected "
                    "yet, or it never closes.",
                },
            },
            "description": "Idle shutdown: a cluster with no Dask client and no task (an "
            "adaptive one at its minimum included) for `timeout_s` is closed and its jobs "
            "killed; the event that follows carries the reason. Null for a notebook's cluster "
            "(its kernel owns it).",
        },
        "core_hours": {
            "type": ["number", "null"],
            "minimum": 0,
            "description": "Cores per job times the time each of its jobs ran so far, in hours, "
            "as this server saw them start and end (not the scheduler's accounting). Null for a "
            "notebook's cluster.",
        },
        "cores_held": {
            "type": ["integer", "null"],
            "minimum": 0,
            "description": "Cores of its running (or suspended) jobs now. Null for a notebook's "
            "cluster.",
        },
        "jobs": {
            "type": "array",
            "items": JOB,
            "description": "Batch jobs of this cluster, oldest first; the newest ended ones stay "
            "listed with their end reason.",
        },
    },
}

JOB_LOG: Schema = {
    "type": "object",
    "title": "Job log",
    "additionalProperties": False,
    "required": ["job_id", "files"],
    "properties": {
        "job_id": {"type": "string"},
        "files": {
            "type": "array",
            "description": "The job's output and error files that exist, last lines of each "
            "(at most 200 lines, 64 KiB).",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["path", "lines", "truncated"],
                "properties": {
                    "path": {"type": "string"},
                    "lines": {"type": "array", "items": {"type": "string"}},
                    "truncated": {"type": "boolean"},
                },
            },
        },
    },
}

CLUSTER_LIST: Schema = {
    "type": "object",
    "additionalProperties": False,
    "required": ["clusters"],
    "properties": {"clusters": {"type": "array", "items": CLUSTER}},
}

PROFILE: Schema = {
    "type": "object",
    "title": "Profile",
    "additionalProperties": False,
    "required": ["name", "label", "backend", "schema", "defaults", "idle_timeout"],
    "properties": {
        "name": {"type": "string"},
        "label": {"type": "string"},
        "backend": {"type": "string", "description": "The scheduler: local, lsf, ..."},
        "schema": {
            "type": "object",
            "description": "JSON Schema (draft 2020-12) of this profile's `options`, with the "
            "site's defaults and allowed values (e.g. the queues `bqueues` lists).",
        },
        "defaults": {"type": "object", "description": "Option values used when not given."},
        "idle_timeout": {
            "type": "number",
            "minimum": 0,
            "description": "The idle timeout (seconds, 0: never) of this profile's clusters "
            "when a request names none.",
        },
    },
}

PROFILES: Schema = {
    "type": "object",
    "additionalProperties": False,
    "required": ["profiles", "max_workers", "max_clusters"],
    "properties": {
        "profiles": {"type": "array", "items": PROFILE},
        "max_workers": {
            "type": "integer",
            "minimum": 1,
            "description": "Largest worker count of one cluster (manual or adaptive).",
        },
        "max_clusters": {
            "type": "integer",
            "minimum": 1,
            "description": "Clusters this server runs at once, failed ones included.",
        },
        "max_idle_timeout": {
            "type": ["number", "null"],
            "description": "The largest `idle_timeout` a request may ask for (seconds; then 0, "
            "never, is refused too); null: no limit.",
        },
    },
}
