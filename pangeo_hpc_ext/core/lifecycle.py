"""The one vocabulary of a cluster's lifecycle, in the words the REST API shows (docs/rest.md):
the manager's phase of a cluster, the phase a supervisor reports over its channel, and the status
of a cluster started in a notebook are all members of `Status`."""

from __future__ import annotations

import enum


class Status(str, enum.Enum):
    """Where a cluster is in its life. A phase (what the manager and a supervisor hold) is one of
    `PHASES`; a running cluster's status also tells whether it has the workers it asked for
    (scaling) and whether replacing its workers failed too often (degraded)."""

    STARTING = "starting"
    RUNNING = "running"
    SCALING = "scaling"
    DEGRADED = "degraded"
    CLOSING = "closing"
    CLOSED = "closed"
    FAILED = "failed"


# The same enum under the name its holders use: a cluster's phase is never scaling or degraded
# (those are read off a running cluster), see PHASES.
Phase = Status

PHASES = frozenset({Status.STARTING, Status.RUNNING, Status.FAILED, Status.CLOSING, Status.CLOSED})
