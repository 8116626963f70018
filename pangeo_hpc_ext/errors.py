"""Typed errors of the cluster core, backends and scheduler clients; they know no HTTP."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MESSAGE_LIMIT = 2000
FIELD_LIMIT = 300
ERRORS_LIMIT = 50


def _bounded(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {
            "field": _bounded(self.field, FIELD_LIMIT),
            "message": _bounded(self.message, FIELD_LIMIT),
        }


class PangeoHPCError(Exception):
    """Base of every error a client may see; carries a message meant for the user."""

    def __init__(self, message: str, errors: list[FieldError] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or []

    def to_json(self) -> dict[str, Any]:
        # Bounded whatever the input was: an answer never grows with what a client sent.
        body: dict[str, Any] = {"message": _bounded(self.message, MESSAGE_LIMIT)}
        if self.errors:
            body["errors"] = [e.to_json() for e in self.errors[:ERRORS_LIMIT]]
        return body


class InvalidRequest(PangeoHPCError):
    """The request itself is malformed: not JSON, not an object, or it names an unknown field."""


class RequestTooLarge(PangeoHPCError):
    """The request body is larger than any valid request could be."""


class InvalidOptions(PangeoHPCError):
    """The request is well formed but a value fails validation; `errors` names each field."""


class ProfileNotFound(PangeoHPCError):
    pass


class ClusterNotFound(PangeoHPCError):
    """No such cluster. For one that existed, `ended` says which it was, when and why it ended,
    so that a page still showing it (a restored dashboard tab) can say so."""

    def __init__(self, message: str, ended: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.ended = ended

    def to_json(self) -> dict[str, Any]:
        body = super().to_json()
        if self.ended is not None:
            body["ended"] = self.ended
        return body


class JobLogNotFound(PangeoHPCError):
    """No output file of that job of that cluster (unknown job, no log directory, not written)."""


class TooManyClusters(PangeoHPCError):
    pass


class StateNotWritable(PangeoHPCError):
    """state_dir (job ledger, TLS credentials) cannot be written: full, read-only, or not a
    directory. The message names the path and the system's reason."""


class ClusterNotReady(PangeoHPCError):
    """The operation needs a running cluster (e.g. scaling one that failed or is closing)."""


class SupervisorFailed(PangeoHPCError):
    """A cluster's supervisor process failed to start the cluster, refused a command, or did
    not answer; the message says which, in the supervisor's words."""


class SchedulerCommandFailed(PangeoHPCError):
    """A scheduler command (bsub, bjobs, bkill, ...) failed; the message is the scheduler's own."""

    def __init__(self, command: str, returncode: int | None, output: str) -> None:
        text = output.strip() or f"exit code {returncode}"
        super().__init__(f"{command}: {text}")
        self.command = command
        self.returncode = returncode
        self.output = output
