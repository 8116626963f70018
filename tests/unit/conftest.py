"""Unit tests: no server, no emulator, no daemons."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def jp_server_cleanup() -> None:
    """Replaces the integration suites' autouse cleanup, which builds a ServerApp and an LSF
    emulator for every test: a unit test starts neither."""
