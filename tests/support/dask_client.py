"""A dask Client for a cluster as the REST API describes it, with its TLS credentials."""

from __future__ import annotations

from typing import Any

from distributed import Client
from distributed.security import Security


def cluster_security(cluster: dict[str, Any]) -> Security | None:
    tls = cluster.get("tls")
    if not tls:
        return None
    return Security(
        tls_ca_file=tls["ca_file"],
        tls_client_cert=tls["cert_file"],
        tls_client_key=tls["key_file"],
        require_encryption=True,
    )


def cluster_client(cluster: dict[str, Any]) -> Client:
    """Use as `async with cluster_client(cluster) as client:`."""
    return Client(
        cluster["scheduler_address"], security=cluster_security(cluster), asynchronous=True
    )
