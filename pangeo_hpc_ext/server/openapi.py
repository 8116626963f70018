"""The OpenAPI 3.1 document of the REST API, built from the JSON Schemas the handlers validate
with (schemas.py), so that it cannot drift from what the server enforces.

Its paths come from the routes the app registers, handed in: this module imports neither the app
nor the handlers that serve it. openapi_files.py writes the committed copies."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from jupyter_server.utils import url_path_join

from .. import __version__
from ..backends import BACKENDS
from .events import CLUSTER_EVENT_SCHEMA_ID
from .openapi_operations import operations
from .routes import AUTH_RESOURCE
from .schemas import (
    ADAPT_BOUNDS,
    CLUSTER,
    CLUSTER_LIST,
    CREATE_BODY,
    ERROR,
    FIELD_ERROR,
    JOB,
    JOB_LOG,
    MAX_BODY_BYTES,
    PATCH_BODY,
    PROFILES,
    Schema,
)

OPENAPI_VERSION = "3.1.0"
HTTP_METHODS = ("get", "post", "patch", "delete")
# (pattern, handler class[, its initialize() arguments]) as an ExtensionApp registers it.
Route = tuple[Any, ...]
ROUTE_ROOT = "pangeo-hpc"
# A route regex's segment: a literal part and/or one capture group.
GROUP = re.compile(r"([^(]*)(\((?:[^()]|\([^()]*\))*\))?")
REST_OF_PATH = "(/.*|)"
# The path parameter a capture group is, named for the segment before it.
PARAMETER_AFTER = {"clusters": "id", "jobs": "job_id", "dashboards": "port"}
# The profiles a server may have when none is configured: one per backend.
DEFAULT_PROFILE_NAMES = tuple(BACKENDS)

COMPONENT_SCHEMAS: dict[str, Schema] = {
    "CreateClusterBody": CREATE_BODY,
    "PatchClusterBody": PATCH_BODY,
    "AdaptBounds": ADAPT_BOUNDS,
    "Cluster": CLUSTER,
    "Job": JOB,
    "JobLog": JOB_LOG,
    "ClusterList": CLUSTER_LIST,
    "Profiles": PROFILES,
    "Error": ERROR,
    "FieldError": FIELD_ERROR,
}

BATCH_BACKENDS = ", ".join(f"`{name}`" for name, cls in BACKENDS.items() if cls.has_jobs)

DESCRIPTION = f"""\
Start, scale and stop Dask clusters on HPC batch schedulers (backends {BATCH_BACKENDS}) or on the
Jupyter node, from a Jupyter server running the `pangeo_hpc_ext` extension.

Every path is relative to `{{base_url}}pangeo-hpc/` of the Jupyter server. Bodies are JSON.

**Authentication** is Jupyter's own, on every route: send the server's token as
`Authorization: token <token>`. Browsers use Jupyter's login cookie instead; then POST, PATCH
and DELETE must also carry the `X-XSRFToken` header (the value of the `_xsrf` cookie), while
token-authenticated requests are exempt from that check. Without valid credentials every route,
whatever the method, answers 403. The authorization resource is `{AUTH_RESOURCE}`. A request
whose `Origin` is not allowed by the server answers 404.

**Errors** are `{{"message", "errors": [{{"field", "message"}}]}}`: 400 for a malformed body or an
unknown field, 404 for an unknown profile or cluster, 409 for a state conflict (too many
clusters, a cluster that is not running), 413 for a body over {MAX_BODY_BYTES} bytes, 422 for an
invalid value (each named in `errors`), 502 when a scheduler command fails (the message is the
scheduler's).

**Push updates**: every cluster change is also emitted on jupyter_server's event bus
(`/api/events/subscribe`) with the schema `{CLUSTER_EVENT_SCHEMA_ID}`
(`{{"action": "created|updated|deleted", "cluster_id", "status"}}`).
"""

TOKEN_SCHEME = {
    "type": "apiKey",
    "in": "header",
    "name": "Authorization",
    "description": "Jupyter's token, as `token <token>` (the token printed by the server, or "
    "`c.IdentityProvider.token`). Requests authenticated this way need no XSRF token.",
}


def openapi_document(
    base_url: str = "/",
    profiles: Iterable[str] = DEFAULT_PROFILE_NAMES,
    version: str = __version__,
    *,
    routes: Sequence[Route],
) -> dict[str, Any]:
    """The document for a server at `base_url` offering `profiles` (names used in examples),
    with a path for each of `routes` (the routes the app registers).

    The component schemas are the handlers' own objects, not copies."""
    return {
        "openapi": OPENAPI_VERSION,
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": "pangeo-hpc-ext REST API",
            "version": version,
            "description": DESCRIPTION,
            "license": {"name": "BSD-3-Clause", "identifier": "BSD-3-Clause"},
        },
        "servers": [
            {
                "url": url_path_join(base_url, "pangeo-hpc"),
                "description": "This extension's routes under the Jupyter server's base URL.",
            }
        ],
        "security": [{"token": []}],
        "tags": [
            {"name": "profiles", "description": "What users may start"},
            {"name": "clusters", "description": "Dask clusters and their batch jobs"},
            {"name": "dashboard", "description": "The Dask dashboard through Jupyter"},
            {"name": "meta", "description": "This document"},
        ],
        "paths": paths_of_routes(routes, profiles),
        "components": {
            "schemas": COMPONENT_SCHEMAS,
            "securitySchemes": {"token": TOKEN_SCHEME},
        },
    }


class UndocumentedRoute(LookupError):
    """A route the app registers that the document does not describe, or the reverse."""


def route_template(pattern: str) -> str:
    """A route's regex as the document's path template below `pangeo-hpc`: each group becomes
    the parameter named for the segment before it; a trailing `(/.*|)` is the dashboard path."""
    segments = []
    for segment in re.split(r"/(?![^(]*\))", pattern):
        for literal, group in GROUP.findall(segment):
            if literal:
                segments.append(literal)
            if group == REST_OF_PATH:
                segments[-1] += "/{path}"
            elif group:
                segments.append("{" + PARAMETER_AFTER[segments[-1]] + "}")
    if segments[0] != ROUTE_ROOT:
        raise UndocumentedRoute(f"route {pattern!r} is not below {ROUTE_ROOT}/")
    return "/" + "/".join(segments[1:])


def served_methods(handler: type) -> list[str]:
    # The dashboard proxy is not an API handler: it serves GET (HEAD and websockets like GET).
    allowed = getattr(handler, "allowed_methods", None)
    return [m.lower() for m in allowed()] if allowed is not None else ["get"]


def paths_of_routes(routes: Sequence[Route], profiles: Iterable[str]) -> dict[str, Any]:
    """One path per route template, with an operation per method its handler serves, in the
    order of the operations table; UndocumentedRoute when a route or an operation has no
    counterpart."""
    served: dict[str, set[str]] = {}
    for pattern, handler, *_ in routes:
        served.setdefault(route_template(pattern), set()).update(served_methods(handler))
    described = operations(profiles)
    paths: dict[str, Any] = {}
    for template, item in described.items():
        methods = served.pop(template, set())
        documented = {key for key in item if key in HTTP_METHODS}
        if methods != documented:
            raise UndocumentedRoute(
                f"{template}: the routes serve {sorted(methods)}, the document has "
                f"{sorted(documented)}"
            )
        paths[template] = item
    if served:
        raise UndocumentedRoute(f"routes without a description in the document: {sorted(served)}")
    return paths
