"""REST handlers: parse and validate the request, call the manager, serialize the answer."""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from jupyter_server.utils import url_path_join
from tornado import web

from ..core.cluster import AdaptBounds, ManagedCluster
from ..core.manager import ClusterManager
from ..core.validation import validate
from ..errors import InvalidRequest, PangeoHPCError, RequestTooLarge
from .cluster_view import cluster_json, managed_view, notebook_views
from .http_errors import http_status
from .openapi import openapi_document
from .routes import API_PREFIX, AUTH_RESOURCE
from .schemas import CREATE_BODY, MAX_BODY_BYTES, MAX_BODY_DEPTH, PATCH_BODY

Method = Callable[..., Awaitable[None]]


def _not_json(constant: str) -> Any:
    """Python's json reads NaN and Infinity; JSON has neither, and a NaN slips past every
    range check (NaN < 0 is false)."""
    raise ValueError(f"{constant} is not a JSON value")


def json_depth(value: Any, limit: int = MAX_BODY_DEPTH + 1) -> int:
    """How deeply containers nest in a parsed JSON value, counted no further than `limit`."""
    if limit <= 0 or not isinstance(value, dict | list):
        return 0
    children = value.values() if isinstance(value, dict) else value
    return 1 + max((json_depth(child, limit - 1) for child in children), default=0)


def api_method(method: Method) -> Method:
    """Jupyter auth on the method, and our typed errors answered as JSON with their status."""

    @functools.wraps(method)
    async def answer_errors(self: ClusterAPIHandler, *args: Any, **kwargs: Any) -> None:
        try:
            await method(self, *args, **kwargs)
        except PangeoHPCError as error:
            self.set_status(http_status(error))
            self.finish(json.dumps(error.to_json()))

    return web.authenticated(authorized(answer_errors))


class ClusterAPIHandler(ExtensionHandlerMixin, APIHandler):
    auth_resource = AUTH_RESOURCE

    async def prepare(self) -> None:
        await super().prepare()
        # Every method, defined or not, requires a login: an anonymous caller learns nothing,
        # not even which methods a route supports.
        if self.current_user is None:
            raise web.HTTPError(403)

    @property
    def manager(self) -> ClusterManager:
        return self.extensionapp.manager

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        if status_code == 405:
            # RFC 9110: a 405 lists what the resource does support.
            self.set_header("Allow", ", ".join(self.allowed_methods()))
        super().write_error(status_code, **kwargs)

    @classmethod
    def allowed_methods(cls) -> list[str]:
        return [
            method
            for method in ("GET", "POST", "PATCH", "DELETE")
            if getattr(cls, method.lower()) is not getattr(web.RequestHandler, method.lower())
        ]

    def json_body(self, schema: dict[str, Any]) -> dict[str, Any]:
        raw = self.request.body or b""
        if len(raw) > MAX_BODY_BYTES:
            raise RequestTooLarge(
                f"request body has {len(raw)} bytes; the limit is {MAX_BODY_BYTES}"
            )
        try:
            body = json.loads(raw, parse_constant=_not_json)
        except RecursionError:
            raise InvalidRequest("request body is nested too deeply") from None
        except ValueError as error:
            raise InvalidRequest(f"request body is not valid JSON: {error}") from None
        if not isinstance(body, dict):
            raise InvalidRequest("request body must be a JSON object")
        if json_depth(body) > MAX_BODY_DEPTH:
            raise InvalidRequest(f"request body is nested deeper than {MAX_BODY_DEPTH} levels")
        validate(body, schema)
        return body

    def cluster_json(self, managed: ManagedCluster) -> dict[str, Any]:
        return cluster_json(managed_view(self.manager, managed, self.base_url))


class ProfilesHandler(ClusterAPIHandler):
    @api_method
    async def get(self) -> None:
        profiles = []
        for profile in self.manager.profiles.values():
            profiles.append(
                {
                    "name": profile.name,
                    "label": profile.label,
                    "backend": profile.backend.name,
                    "schema": await profile.schema(),
                    "defaults": profile.effective_defaults(),
                    "idle_timeout": self.manager.default_idle_timeout(profile),
                }
            )
        self.finish(
            {
                "profiles": profiles,
                "max_workers": self.manager.max_workers,
                "max_clusters": self.manager.max_clusters,
                "max_idle_timeout": self.manager.max_idle_timeout or None,
            }
        )


class ClustersHandler(ClusterAPIHandler):
    @api_method
    async def get(self) -> None:
        clusters = [self.cluster_json(c) for c in self.manager.list()]
        notebooks = [cluster_json(view) for view in await notebook_views(self)]
        self.finish({"clusters": clusters + notebooks})

    @api_method
    async def post(self) -> None:
        body = self.json_body(CREATE_BODY)
        managed = await self.manager.create(
            body["profile"],
            body.get("options", {}),
            body.get("workers", 0),
            body.get("name"),
            keep=body.get("keep", False),
            idle_timeout=body.get("idle_timeout"),
        )
        self.set_status(201)
        self.set_header(
            "Location", url_path_join(self.base_url, API_PREFIX, "clusters", managed.id)
        )
        self.finish(self.cluster_json(managed))


class ClusterHandler(ClusterAPIHandler):
    @api_method
    async def get(self, cluster_id: str) -> None:
        self.finish(self.cluster_json(self.manager.get(cluster_id)))

    @api_method
    async def patch(self, cluster_id: str) -> None:
        self.manager.get(cluster_id)  # unknown id is a 404 before the body is judged
        body = self.json_body(PATCH_BODY)
        if "workers" in body:
            managed = await self.manager.scale(cluster_id, body["workers"])
        else:
            adapt = body["adapt"]
            bounds = None if adapt is None else AdaptBounds(adapt["minimum"], adapt["maximum"])
            managed = await self.manager.adapt(cluster_id, bounds)
        self.finish(self.cluster_json(managed))

    @api_method
    async def delete(self, cluster_id: str) -> None:
        await self.manager.close(cluster_id)
        self.set_status(204)
        self.finish()


class JobLogHandler(ClusterAPIHandler):
    @api_method
    async def get(self, cluster_id: str, job_id: str) -> None:
        tails = await self.manager.job_log(cluster_id, job_id)
        self.finish({"job_id": job_id, "files": [tail.to_json() for tail in tails]})


class OpenAPIHandler(ClusterAPIHandler):
    @api_method
    async def get(self) -> None:
        app = self.extensionapp
        self.finish(openapi_document(self.base_url, self.manager.profiles, routes=app.routes))


# Patterns are relative: the ExtensionApp prepends the server's base_url.
API_HANDLERS: list[tuple[str, type[ClusterAPIHandler]]] = [
    (url_path_join(API_PREFIX, "profiles"), ProfilesHandler),
    (url_path_join(API_PREFIX, "clusters"), ClustersHandler),
    (url_path_join(API_PREFIX, "clusters", r"([^/]+)"), ClusterHandler),
    (url_path_join(API_PREFIX, "clusters", r"([^/]+)", "jobs", r"([^/]+)", "log"), JobLogHandler),
    (url_path_join(API_PREFIX, "openapi.json"), OpenAPIHandler),
]
