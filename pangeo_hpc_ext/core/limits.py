"""What the admin allows a request to ask for (workers, adaptive bounds, idle timeout): checks
that name the field, for a 422 that says which one."""

from __future__ import annotations

from ..errors import FieldError, InvalidOptions
from .handle import AdaptBounds
from .profiles import IDLE_TIMEOUT_CEILING_S, Profile, idle_timeout_ok


def check_workers(field: str, value: int, max_workers: int) -> None:
    if not 0 <= value <= max_workers:
        raise InvalidOptions(
            f"{field} must be between 0 and {max_workers}, got {value}",
            [FieldError(field, f"{field} must be between 0 and {max_workers}")],
        )


def check_adapt(bounds: AdaptBounds, max_workers: int) -> None:
    check_workers("adapt.minimum", bounds.minimum, max_workers)
    check_workers("adapt.maximum", bounds.maximum, max_workers)
    if bounds.minimum > bounds.maximum:
        raise InvalidOptions(
            "adapt.minimum must not exceed adapt.maximum",
            [FieldError("adapt.minimum", "adapt.minimum must not exceed adapt.maximum")],
        )


def check_idle_timeout(value: float, max_idle_timeout: float) -> None:
    limit = max_idle_timeout
    if not idle_timeout_ok(value) or (limit and not 0 < value <= limit):
        allowed = (
            f"between 1 and {limit:g}"
            if limit
            else f"0 (never) up to {IDLE_TIMEOUT_CEILING_S} (366 days)"
        )
        raise InvalidOptions(
            f"idle_timeout must be {allowed} seconds, got {value:g}",
            [FieldError("idle_timeout", f"idle_timeout must be {allowed} seconds")],
        )


def default_idle_timeout(profile: Profile, server_default: float, max_idle_timeout: float) -> float:
    """The idle timeout of a profile's clusters when the request names none: the profile's,
    else the server's, never beyond the admin's maximum."""
    timeout = server_default if profile.idle_timeout is None else profile.idle_timeout
    if max_idle_timeout and not 0 < timeout <= max_idle_timeout:
        return max_idle_timeout
    return timeout
