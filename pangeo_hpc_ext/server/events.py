"""Cluster changes on jupyter_server's event bus, so the frontend updates by push."""

from __future__ import annotations

from pathlib import Path

from jupyter_events import EventLogger

CLUSTER_EVENT_SCHEMA_ID = "https://pangeo-hpc-ext.dev/events/cluster/v1"
CLUSTER_EVENT_SCHEMA = Path(__file__).parent / "event_schemas" / "cluster.yaml"


class ClusterEventEmitter:
    def __init__(self, event_logger: EventLogger) -> None:
        self._event_logger = event_logger
        event_logger.register_event_schema(CLUSTER_EVENT_SCHEMA)

    def __call__(
        self, action: str, cluster_id: str, status: str, reason: str | None = None
    ) -> None:
        data = {"action": action, "cluster_id": cluster_id, "status": status}
        if reason:
            data["reason"] = reason
        self._event_logger.emit(schema_id=CLUSTER_EVENT_SCHEMA_ID, data=data)
