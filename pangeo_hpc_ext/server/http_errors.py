"""The only place where an error of the core becomes an HTTP status."""

from __future__ import annotations

from ..errors import (
    ClusterNotFound,
    ClusterNotReady,
    InvalidOptions,
    InvalidRequest,
    JobLogNotFound,
    PangeoHPCError,
    ProfileNotFound,
    RequestTooLarge,
    SchedulerCommandFailed,
    SupervisorFailed,
    TooManyClusters,
)

# Scheduler failures are the upstream's fault, not ours: 502, never 500.
HTTP_STATUS: dict[type[PangeoHPCError], int] = {
    InvalidRequest: 400,
    RequestTooLarge: 413,
    ProfileNotFound: 404,
    ClusterNotFound: 404,
    JobLogNotFound: 404,
    TooManyClusters: 409,
    ClusterNotReady: 409,
    InvalidOptions: 422,
    SchedulerCommandFailed: 502,
    SupervisorFailed: 502,
}


def http_status(error: PangeoHPCError) -> int:
    for cls in type(error).__mro__:
        if cls in HTTP_STATUS:
            return HTTP_STATUS[cls]
    return 500
