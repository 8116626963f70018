"""Dask LocalCluster on the node that runs Jupyter (the seed's `LocalCluster(...)`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..dashboard_access import DASHBOARD_ADDRESS
from ..errors import FieldError
from .base import Backend, JobEvents
from .option_types import check_memory, memory_property

if TYPE_CHECKING:
    from distributed.deploy import SpecCluster
    from distributed.security import Security


class LocalBackend(Backend):
    name = "local"
    label = "Local processes on this node"

    def default_options(self) -> dict[str, Any]:
        return {"threads_per_worker": 1, "memory_limit": "auto", "processes": True}

    async def options_schema(self, choices: dict[str, list[Any]]) -> dict[str, Any]:
        defaults = self.default_options()
        memory = memory_property("Memory limit per worker", defaults["memory_limit"])
        # "auto" splits the node's memory between workers, as LocalCluster does by default.
        memory["pattern"] = f"^auto$|{memory['pattern']}"
        memory["errorMessage"] = "must be 'auto' or a size such as 20GB"
        return {
            "type": "object",
            "title": "Local cluster",
            "additionalProperties": False,
            "properties": {
                "threads_per_worker": {
                    "type": "integer",
                    "title": "Threads per worker",
                    "minimum": 1,
                    "maximum": 1024,
                    "default": defaults["threads_per_worker"],
                },
                "memory_limit": memory,
                "processes": {
                    "type": "boolean",
                    "title": "Workers in separate processes",
                    "default": defaults["processes"],
                },
            },
        }

    def check_options(self, options: dict[str, Any]) -> list[FieldError]:
        return super().check_options(options) + check_memory(
            options, "memory_limit", allow=("auto",)
        )

    async def start_cluster(
        self,
        options: dict[str, Any],
        *,
        name: str,
        events: JobEvents,
        security: Security | None = None,
    ) -> SpecCluster:
        from distributed import LocalCluster

        cluster = LocalCluster(
            n_workers=0,
            threads_per_worker=options["threads_per_worker"],
            memory_limit=options["memory_limit"],
            processes=options["processes"],
            host="127.0.0.1",
            # Named, or processes=False picks the in-process transport, which a host refuses and
            # which notebooks could not connect to anyway.
            protocol="tls://" if security is not None else "tcp://",
            dashboard_address=DASHBOARD_ADDRESS,
            # No worker dashboards (LocalCluster's default), and no worker HTTP routes either:
            # a worker's HTTP server listens on 127.0.0.1 whatever, for any local user to read.
            worker_dashboard_address=None,
            name=name,
            security=security,
            asynchronous=True,
        )
        # Not started yet (asynchronous): the scheduler is made, guarded, by the await.
        from .guarded_scheduler import guarded

        cluster.scheduler_spec = guarded(cluster.scheduler_spec)
        await cluster
        return cluster
