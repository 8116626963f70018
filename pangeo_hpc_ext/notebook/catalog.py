"""`clusters.json` in the registry directory: what `pangeo_hpc_ext.kernel.clusters()` lists.

Rewritten (coalesced, once per loop turn) whenever a cluster of either origin changes, so that a
notebook finds a sidebar cluster, or another notebook's, by name without an address to copy. The
file is 0600 in a 0700 directory: it may carry TLS credentials.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..kernel.registry import (
    CATALOG_FILE,
    FORMAT_VERSION,
    private_directory_problem,
)
from ..paths import write_json_atomic

log = logging.getLogger(__name__)

WRITE_DELAY_S = 0.1

# Every cluster of either origin as a kernel sees it (built by the server, which knows the links).
CatalogEntries = Callable[[], list[dict[str, Any]]]


class KernelCatalog:
    def __init__(self, directory: Path, entries: CatalogEntries) -> None:
        self.path = directory / CATALOG_FILE
        self._entries = entries
        self._pending = False
        self._writing: asyncio.Future[None] | None = None
        self._closed = False

    def changed(self, *_event: str) -> None:
        """A change listener of the manager and of the notebook registry. Scaling to 100 jobs
        is hundreds of changes: they are written together, off the event loop (the write is
        fsynced), a moment later."""
        if not self._pending:
            self._pending = True
            asyncio.get_running_loop().call_later(WRITE_DELAY_S, self._write_soon)

    def _write_soon(self) -> None:
        self._pending = False
        if self._closed:
            return
        catalog = self._catalog()
        if catalog is not None:
            self._writing = asyncio.ensure_future(asyncio.to_thread(self._write, catalog))

    async def close(self) -> None:
        """No write after this (the directory is about to go): the one under way finishes."""
        self._closed = True
        if self._writing is not None:
            await self._writing

    def write(self) -> None:
        catalog = self._catalog()
        if catalog is not None:
            self._write(catalog)

    def _catalog(self) -> dict[str, Any] | None:
        if private_directory_problem(self.path.parent) is not None:
            return None  # removed at server stop: never recreate it with the umask's mode
        return {"version": FORMAT_VERSION, "clusters": self._entries()}

    def _write(self, catalog: dict[str, Any]) -> None:
        try:
            write_json_atomic(self.path, catalog)
        except OSError as error:
            log.warning("could not write %s: %s", self.path, error)
