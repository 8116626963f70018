"""The words of the OpenAPI document: what each path and method does, takes and answers, with
examples that validate against the schemas. Which paths and methods the document has comes from
the routes the app registers (openapi.paths_of_routes), which checks them against this table."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .schemas import MAX_BODY_BYTES, MAX_BODY_DEPTH

# Example ids are hex like the real ones, so that the examples validate against the schemas.
EXAMPLE_CLUSTER: dict[str, Any] = {
    "id": "3f9c2a7e5b1d4c08",
    "name": "analysis",
    "profile": "lsf",
    "origin": "jupyterlab",
    "status": "scaling",
    "scheduler_address": "tls://10.1.2.3:35711",
    "tls": {
        "ca_file": "/home/alice/.local/share/pangeo-hpc/server/tls/3f9c2a7e5b1d4c08/ca.pem",
        "cert_file": "/home/alice/.local/share/pangeo-hpc/server/tls/3f9c2a7e5b1d4c08/cert.pem",
        "key_file": "/home/alice/.local/share/pangeo-hpc/server/tls/3f9c2a7e5b1d4c08/key.pem",
    },
    "dashboard_url": "/pangeo-hpc/clusters/3f9c2a7e5b1d4c08/dashboard/status",
    "workers": {"requested": 2, "connected": 1},
    "adapt": None,
    "cores": 8,
    "memory": 20000000000,
    "options": {
        "cores": 8,
        "memory": "20GB",
        "processes": 1,
        "queue": "bigmem",
        "walltime": "00:30",
        "interface": "ib0",
        "job_extra_directives": [],
        "log_directory": "/home/alice/.local/share/pangeo-hpc/dask-job-logs",
    },
    "created": "2026-11-26T09:14:03+00:00",
    "error": None,
    "warning": None,
    "keep": False,
    "idle": {"timeout_s": 1800, "closes_at": "2026-11-26T09:46:20+00:00"},
    "core_hours": 0.27,
    "cores_held": 8,
    "jobs": [
        {
            "job_id": "4711[1]",
            "state": "running",
            "native_state": "RUN",
            "reason": None,
            "hosts": ["n042"],
            "submitted": "2026-11-26T09:14:05+00:00",
            "started": "2026-11-26T09:14:09+00:00",
            "walltime_left_s": 1740,
            "expected_start": None,
            "waiting_s": 4,
            "ended_by": None,
            "array": {"parent": "4711", "index": 1},
        },
        {
            "job_id": "4711[2]",
            "state": "pending",
            "native_state": "PEND",
            "reason": "Job slot limit reached",
            "hosts": [],
            "submitted": "2026-11-26T09:14:05+00:00",
            "started": None,
            "walltime_left_s": None,
            "expected_start": "2026-11-26T09:32:00+00:00",
            "waiting_s": 120,
            "ended_by": None,
            "array": {"parent": "4711", "index": 2},
        },
    ],
}

MEMORY_INVALID = "memory: must be a size such as 20GB, 512MiB or 1.5TB"
EXAMPLE_INVALID: dict[str, Any] = {
    "message": MEMORY_INVALID,
    "errors": [{"field": "memory", "message": MEMORY_INVALID}],
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(description: str, schema_name: str, example: Any = None) -> dict[str, Any]:
    media: dict[str, Any] = {"schema": _ref(schema_name)}
    if example is not None:
        media["example"] = example
    return {"description": description, "content": {"application/json": media}}


def _error(description: str, example: Any = None) -> dict[str, Any]:
    return _json(description, "Error", example)


FORBIDDEN = _error(
    "Not authenticated or not authorized; for cookie-authenticated POST, PATCH and DELETE also "
    "a missing or wrong XSRF token."
)
NO_CLUSTER = _error("No cluster with this id.")
MALFORMED = _error(
    f"The body is not JSON, not an object, nested deeper than {MAX_BODY_DEPTH} levels, or names "
    "an unknown field (top level or in `options`; `errors` names it)."
)
TOO_LARGE = _error(f"The body is larger than {MAX_BODY_BYTES} bytes.")
SCHEDULER_FAILED = _error("A scheduler command failed; `message` is the scheduler's own text.")
CLUSTER_ID = {
    "name": "id",
    "in": "path",
    "required": True,
    "description": "The cluster's opaque id (`id` of the Cluster).",
    "schema": {"type": "string"},
}

DASHBOARD_PATH = {
    "name": "path",
    "in": "path",
    "required": True,
    "description": "Path in the Dask dashboard, e.g. `status`; it may contain "
    "slashes. Websocket upgrades on the same URLs are proxied too.",
    "schema": {"type": "string"},
}


def _create_examples(profiles: Iterable[str]) -> dict[str, Any]:
    examples: dict[str, Any] = {
        f"profile-{name}": {
            "summary": f"One worker, profile {name}'s default options",
            "value": {"profile": name, "workers": 1},
        }
        for name in profiles
    }
    examples["local-with-options"] = {
        "summary": "Local workers with explicit options and a name",
        "value": {
            "profile": "local",
            "options": {"threads_per_worker": 1, "memory_limit": "2GB"},
            "workers": 2,
            "name": "analysis",
        },
    }
    return examples


PATCH_EXAMPLES = {
    "scale": {"summary": "Scale to 2 workers (ends adaptive mode)", "value": {"workers": 2}},
    "adapt": {
        "summary": "Adaptive, 0 to 2 workers",
        "value": {"adapt": {"minimum": 0, "maximum": 2}},
    },
    "manual": {"summary": "Back to manual scaling at the current size", "value": {"adapt": None}},
}


def _links(*operations: str) -> dict[str, Any]:
    """Links from an answer carrying a Cluster to operations on that cluster (the chain
    create -> get -> patch -> delete that clients and stateful tests follow)."""
    return {
        operation[0].upper() + operation[1:]: {
            "operationId": operation,
            "parameters": {"id": "$response.body#/id"},
        }
        for operation in operations
    }


def _profiles() -> dict[str, Any]:
    return {
        "get": {
            "operationId": "listProfiles",
            "tags": ["profiles"],
            "summary": "The profiles users may start clusters from, and the limits",
            "responses": {
                "200": _json("Profiles with their options schema and defaults.", "Profiles"),
                "403": FORBIDDEN,
            },
        }
    }


def _clusters(profiles: Iterable[str]) -> dict[str, Any]:
    return {
        "get": {
            "operationId": "listClusters",
            "tags": ["clusters"],
            "summary": "Every cluster of this server",
            "responses": {
                "200": _json("The clusters, oldest first.", "ClusterList"),
                "403": FORBIDDEN,
            },
        },
        "post": {
            "operationId": "createCluster",
            "tags": ["clusters"],
            "summary": "Start a cluster",
            "description": "Options are validated (against the profile's schema and the "
            "scheduler's queues) before anything is submitted. The answer comes at once with "
            "status `starting`; the scheduler and worker jobs follow (poll the cluster or "
            "listen to the event bus). Needs an XSRF token with cookie auth.",
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": _ref("CreateClusterBody"),
                        "examples": _create_examples(profiles),
                    }
                },
            },
            "responses": {
                "201": {
                    **_json("The new cluster.", "Cluster", EXAMPLE_CLUSTER),
                    "headers": {
                        "Location": {
                            "description": "The cluster's URL (`.../api/clusters/{id}`).",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    },
                    "links": _links("getCluster", "patchCluster", "deleteCluster"),
                },
                "400": MALFORMED,
                "403": FORBIDDEN,
                "404": _error("No profile of that name."),
                "409": _error("`max_clusters` clusters exist already (failed ones count)."),
                "413": TOO_LARGE,
                "422": _error(
                    "`profile` missing, or an invalid value of `workers`, `name` or an "
                    "option (including a queue the scheduler does not have).",
                    EXAMPLE_INVALID,
                ),
                "502": SCHEDULER_FAILED,
            },
        },
    }


def _cluster() -> dict[str, Any]:
    return {
        "parameters": [CLUSTER_ID],
        "get": {
            "operationId": "getCluster",
            "tags": ["clusters"],
            "summary": "One cluster, with its batch jobs",
            "responses": {
                "200": {
                    **_json("The cluster.", "Cluster", EXAMPLE_CLUSTER),
                    "links": _links("patchCluster", "deleteCluster"),
                },
                "403": FORBIDDEN,
                "404": NO_CLUSTER,
            },
        },
        "patch": {
            "operationId": "patchCluster",
            "tags": ["clusters"],
            "summary": "Scale a cluster, or switch adaptive scaling on or off",
            "description": "Needs an XSRF token with cookie auth.",
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": _ref("PatchClusterBody"),
                        "examples": PATCH_EXAMPLES,
                    }
                },
            },
            "responses": {
                "200": {
                    **_json("The cluster after the change.", "Cluster", EXAMPLE_CLUSTER),
                    "links": _links("getCluster", "patchCluster", "deleteCluster"),
                },
                "400": MALFORMED,
                "403": FORBIDDEN,
                "404": NO_CLUSTER,
                "409": _error(
                    "The cluster is not running (starting, failed or closing), or it was "
                    "started in a notebook (`origin: notebook`): scale it there."
                ),
                "413": TOO_LARGE,
                "422": _error(
                    "Not exactly one of `workers` and `adapt`, a value of the wrong type, a "
                    "count outside 0..`max_workers`, or `adapt.minimum` above the maximum."
                ),
                "502": SCHEDULER_FAILED,
            },
        },
        "delete": {
            "operationId": "deleteCluster",
            "tags": ["clusters"],
            "summary": "Shut a cluster down",
            "description": "Answers once the Dask cluster is closed and every batch job it "
            "submitted is killed and the scheduler reports it ended (bounded wait). For a "
            "notebook's cluster, asks its scheduler to close (through the kernels' private "
            "registry, TLS or not) and answers once it is gone (bounded wait). Needs an "
            "XSRF token with cookie auth.",
            "responses": {
                "204": {"description": "Closed; no job of this cluster is left."},
                "403": FORBIDDEN,
                "404": NO_CLUSTER,
                "502": _error(
                    "A scheduler command failed (`message` is the scheduler's own text), or "
                    "a notebook's scheduler did not close within the wait. When the job "
                    "states could not be read to confirm every job ended, the cluster stays "
                    "listed as `closing` with the scheduler's error; the next job refresh "
                    "(or DELETE) that sees them ended completes the close."
                ),
            },
        },
    }


def _job_log() -> dict[str, Any]:
    return {
        "parameters": [
            CLUSTER_ID,
            {
                "name": "job_id",
                "in": "path",
                "required": True,
                "description": "A batch job id of this cluster (`jobs[].job_id`).",
                "schema": {"type": "string"},
            },
        ],
        "get": {
            "operationId": "getJobLog",
            "tags": ["clusters"],
            "summary": "The last lines of a batch job's output files",
            "description": (
                "Only jobs this cluster submitted, only files in its log directory under "
                "the names dask-jobqueue gives that job's files."
            ),
            "responses": {
                "200": _json("The tails of the job's files.", "JobLog"),
                "403": FORBIDDEN,
                "404": _error("No such cluster, no such job of it, or no output file written yet."),
            },
        },
    }


def _openapi() -> dict[str, Any]:
    return {
        "get": {
            "operationId": "getOpenAPI",
            "tags": ["meta"],
            "summary": "This document",
            "responses": {
                "200": {
                    "description": "The OpenAPI 3.1 document of this API, with this "
                    "server's base URL and profile names.",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                "403": FORBIDDEN,
            },
        }
    }


def _dashboard() -> dict[str, Any]:
    return {
        "parameters": [
            CLUSTER_ID,
            DASHBOARD_PATH,
        ],
        "get": {
            "operationId": "getDashboard",
            "tags": ["dashboard"],
            "summary": "The cluster's Dask dashboard, proxied",
            "description": "The dashboard of a running cluster of this server, proxied "
            "from 127.0.0.1 with Jupyter's auth. No credential reaches the dashboard: only "
            "an allowlist of request headers is forwarded (never Authorization, Cookie or "
            "Referer) and the `token` and `_xsrf` query arguments are dropped. Cross-origin "
            "requests are refused even with a token. HEAD is answered like GET; any other "
            "method is 405. The dashboard answers nothing but this proxy: it refuses requests "
            "without a per-cluster key that only the proxy adds. Every answer carries "
            "`Content-Security-Policy: frame-ancestors 'self'`, whatever the server's own "
            "policy; a document requested for a frame (`Sec-Fetch-Dest: iframe`) by a page "
            "of another origin is refused.",
            "responses": _proxied_answers("No such cluster, or it has no dashboard (yet)."),
        },
    }


def _proxied_answers(not_found: str) -> dict[str, Any]:
    """What either dashboard route answers besides the dashboard's own answer."""
    return {
        "200": {
            "description": "The dashboard's page or resource.",
            "content": {"*/*": {"schema": {}}},
        },
        "400": {"description": "`.` or `..` segments in the path."},
        "403": {
            "description": "Not authenticated, not authorized, cross-origin, or "
            "framed by a page of another origin."
        },
        "404": {"description": not_found},
        "405": {"description": "A method other than GET, HEAD or a websocket."},
        "default": {"description": "What the dashboard answered; 502 when it does not answer."},
    }


def _dashboard_by_port() -> dict[str, Any]:
    return {
        "parameters": [
            {
                "name": "port",
                "in": "path",
                "required": True,
                "description": "The dashboard's port on 127.0.0.1, without a leading zero.",
                "schema": {"type": "integer", "minimum": 1, "maximum": 99999},
            },
            DASHBOARD_PATH,
        ],
        "get": {
            "operationId": "getDashboardByPort",
            "tags": ["dashboard"],
            "summary": "A Dask dashboard by its port, proxied (the link kernels print)",
            "description": "The dashboard on this port of a running cluster of this server, "
            "or of a scheduler that one of this server's kernels registered and whose "
            "process (this user's) listens on the port, checked at request time; proxied "
            "under the same rules as `clusters/{id}/dashboard/{path}`. Kernels of this "
            "server get this route as their `distributed.dashboard.link`.",
            "responses": _proxied_answers("No dashboard of ours or of our kernels on this port."),
        },
    }


def operations(profiles: Iterable[str]) -> dict[str, Any]:
    """What each path and method does, answers and takes: the words of the document. Which
    paths and methods it has comes from the routes (paths_of_routes)."""
    return {
        "/api/profiles": _profiles(),
        "/api/clusters": _clusters(profiles),
        "/api/clusters/{id}": _cluster(),
        "/api/clusters/{id}/jobs/{job_id}/log": _job_log(),
        "/api/openapi.json": _openapi(),
        "/clusters/{id}/dashboard/{path}": _dashboard(),
        "/dashboards/{port}/{path}": _dashboard_by_port(),
    }
