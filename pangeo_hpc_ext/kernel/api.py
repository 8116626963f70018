"""Clusters by name from a notebook, as dask-gateway's `Gateway().connect(name)` gives its users.

    from pangeo_hpc_ext.kernel import clusters, connect
    clusters()                  # this user's clusters: from the sidebar and from notebooks
    client = connect("lsf-1")   # a Client of one of them, by name or id, TLS included

The server keeps `clusters.json` in the private registry directory its kernels know
(PANGEO_HPC_REGISTRY): no URL, token or network call is needed, and only this user's processes
can read it. TLS credentials come from there too, as the server or the notebook's cluster holds
them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .registry import CATALOG_FILE, RegistryUnavailable, read_json, registry_directory

if TYPE_CHECKING:
    from distributed import Client, Security


@dataclass(frozen=True)
class ClusterInfo:
    id: str
    name: str
    origin: str  # "jupyterlab" (started from the sidebar) or "notebook"
    status: str
    scheduler_address: str | None
    dashboard_link: str | None
    workers: int  # connected
    requested: int | None
    tls: dict[str, Any] | None = field(default=None, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ClusterInfo:
        workers = data.get("workers") or {}
        return cls(
            id=data["id"],
            name=data["name"],
            origin=data["origin"],
            status=data["status"],
            scheduler_address=data.get("scheduler_address"),
            dashboard_link=data.get("dashboard_link"),
            workers=int(workers.get("connected") or 0),
            requested=workers.get("requested"),
            tls=data.get("tls"),
        )

    def security(self) -> Security | None:
        if not self.tls:
            return None
        from distributed import Security

        return Security(
            tls_ca_file=self.tls["ca_file"],
            tls_client_cert=self.tls.get("cert"),
            tls_client_key=self.tls.get("key"),
            require_encryption=True,
        )


def clusters() -> list[ClusterInfo]:
    """This user's clusters, as the Jupyter server that started this kernel sees them now."""
    directory = registry_directory()
    catalog = read_json(directory / CATALOG_FILE)
    if not isinstance(catalog, dict):
        raise RegistryUnavailable(f"the Jupyter server has written no {directory / CATALOG_FILE}")
    return [ClusterInfo.from_json(entry) for entry in catalog.get("clusters", [])]


def find(name_or_id: str) -> ClusterInfo:
    known = clusters()
    matches = [c for c in known if c.id == name_or_id] or [c for c in known if c.name == name_or_id]
    if not matches:
        listing = ", ".join(f"{c.name} ({c.id})" for c in known) or "none"
        raise LookupError(f"no cluster named {name_or_id!r}; this user's clusters: {listing}")
    if len(matches) > 1:
        ids = ", ".join(c.id for c in matches)
        raise LookupError(f"{len(matches)} clusters are named {name_or_id!r}; connect by id: {ids}")
    return matches[0]


def connect(name_or_id: str, **client_options: Any) -> Client:
    """A dask Client of the cluster with this name or id; keyword arguments go to Client."""
    from distributed import Client

    cluster = find(name_or_id)
    if cluster.scheduler_address is None:
        raise RuntimeError(f"cluster {cluster.name} is {cluster.status}: it has no scheduler")
    return Client(cluster.scheduler_address, security=cluster.security(), **client_options)
