"""Profiles: what an admin offers users (a backend, option defaults, allowed values)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from ..backends import BACKENDS, Backend
from ..errors import FieldError, InvalidOptions
from ..script_safety import DIRECTIVES_OPTION
from .validation import validate


@dataclass
class Profile:
    name: str
    label: str
    backend: Backend
    defaults: dict[str, Any] = field(default_factory=dict)
    # Allowed values per option (e.g. the queues this site lets users pick).
    choices: dict[str, list[Any]] = field(default_factory=dict)
    # Whether users may add their own scheduler directives (job_extra_directives).
    allow_extra_directives: bool = True
    # Whether this profile's clusters use TLS with per-cluster credentials (the default).
    tls: bool = True
    # Seconds with no client and no task before a cluster of this profile is closed (0: never);
    # None: the server's default.
    idle_timeout: float | None = None

    async def schema(self) -> dict[str, Any]:
        schema = await self.backend.options_schema(self.choices)
        for name, value in self.defaults.items():
            if name in schema["properties"]:
                schema["properties"][name]["default"] = value
        directives = schema["properties"].get(DIRECTIVES_OPTION)
        if directives is not None and not self.allow_extra_directives:
            # Only the admin's own directives (the default), shown but not editable.
            directives["readOnly"] = True
        return schema

    def effective_defaults(self) -> dict[str, Any]:
        return {**self.backend.default_options(), **self.defaults}

    async def resolve_options(self, options: dict[str, Any]) -> dict[str, Any]:
        """The options a cluster is started with: defaults overlaid by the user's, all validated."""
        # Unset defaults (None) mean "the scheduler's own default" and are left out; the rest,
        # admin defaults included, is validated so that nothing invalid ever reaches the scheduler.
        defaults = {k: v for k, v in self.effective_defaults().items() if v is not None}
        merged = {**defaults, **options}
        validate(merged, await self.schema())
        # In a thread: the checks look at the file system (the log directory, maybe on a slow
        # shared one) and read up to 64 KiB of directive words in several ways each.
        errors = await asyncio.to_thread(self._errors, merged, defaults)
        if errors:
            raise InvalidOptions("; ".join(e.message for e in errors), errors)
        return merged

    def _errors(self, merged: dict[str, Any], defaults: dict[str, Any]) -> list[FieldError]:
        return self.backend.check_options(merged) + self._directive_errors(merged, defaults)

    def _directive_errors(
        self, merged: dict[str, Any], defaults: dict[str, Any]
    ) -> list[FieldError]:
        directives = list(merged.get(DIRECTIVES_OPTION) or [])
        trusted = set(defaults.get(DIRECTIVES_OPTION) or [])
        if not self.allow_extra_directives and not set(directives) <= trusted:
            message = f"profile {self.name!r} does not allow extra directives"
            return [FieldError(DIRECTIVES_OPTION, f"{DIRECTIVES_OPTION}: {message}")]
        return self.backend.directive_errors(directives, merged, trusted=trusted)


def profile_of(profiles: dict[str, Profile], name: str, backend_name: str) -> Profile:
    """The profile a surviving cluster was started from; if the configuration no longer has it,
    one with the same backend, so that its jobs can still be read and killed."""
    profile = profiles.get(name)
    if profile is not None and profile.backend.name == backend_name:
        return profile
    for other in profiles.values():
        if other.backend.name == backend_name:
            return Profile(name, name, other.backend)
    return Profile(name, name, BACKENDS[backend_name]())


def build_profiles(config: dict[str, dict[str, Any]]) -> dict[str, Profile]:
    """Profiles from `c.PangeoHPC.profiles`; with none configured, `local` and one for each
    scheduler whose submit command is on PATH."""
    if not config:
        config = {name: {"backend": name} for name, cls in BACKENDS.items() if cls.available()}
    instances: dict[str, Backend] = {}
    profiles: dict[str, Profile] = {}
    for name, spec in config.items():
        backend_name = spec.get("backend", name)
        if backend_name not in BACKENDS:
            raise ValueError(
                f"profile {name!r}: unknown backend {backend_name!r}; known: {', '.join(BACKENDS)}"
            )
        unknown = set(spec) - {
            "backend",
            "label",
            "defaults",
            "choices",
            "allow_extra_directives",
            "tls",
            "idle_timeout",
        }
        if unknown:
            raise ValueError(f"profile {name!r}: unknown keys {sorted(unknown)}")
        # One backend instance per scheduler so caches (e.g. bqueues) are shared between profiles.
        backend = instances.setdefault(backend_name, BACKENDS[backend_name]())
        profiles[name] = Profile(
            name=name,
            label=spec.get("label") or backend.label,
            backend=backend,
            defaults=dict(spec.get("defaults", {})),
            choices={k: list(v) for k, v in spec.get("choices", {}).items()},
            allow_extra_directives=bool(spec.get("allow_extra_directives", True)),
            tls=bool(spec.get("tls", True)),
            idle_timeout=_idle_timeout(name, spec.get("idle_timeout")),
        )
    return profiles


def _idle_timeout(profile: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not idle_timeout_ok(value):
        raise ValueError(
            f"profile {profile!r}: idle_timeout must be a number of seconds, 0 (never) up to "
            f"{IDLE_TIMEOUT_CEILING_S} (366 days)"
        )
    return float(value)


# Beyond a year "idle" means never, and a deadline that far out no longer fits a date (the
# cluster's card would not render): 0 says never.
IDLE_TIMEOUT_CEILING_S = 366 * 24 * 3600


def idle_timeout_ok(seconds: float) -> bool:
    """0 (never) up to the ceiling; NaN is neither."""
    return 0 <= seconds <= IDLE_TIMEOUT_CEILING_S
