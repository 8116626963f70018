"""Workers submitted as one job array, and killed with one command.

dask's SpecCluster starts the new workers of a scale-up all at once (one task each, in the same
event-loop turn), and closes those of a scale-down the same way. Each job would make its own
scheduler call: a scale to 100 is 100 submissions, each of which a busy mbatchd or slurmctld
answers slowly. Here the calls made together are gathered and made as one: one array whose
element i runs the i-th worker (its name picked by the element's index), and one kill command
for all the jobs closed together. Each worker's job is its array element, killed alone."""

from __future__ import annotations

import asyncio
import shlex
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from ..errors import SchedulerCommandFailed
from ..schedulers.arrays import JobArrays
from ..schedulers.base import SchedulerClient
from .base import JobEvents

# How long calls are gathered: dask makes a scale-up's calls within one event-loop turn; this
# also takes those that come a few turns later (a lock, a file written first).
GATHER_S = 0.05
# The variable the array's script sets to the element's worker name.
NAME_VARIABLE = "DASK_WORKER_NAME"

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass
class _Batch(Generic[Item, Result]):
    items: list[Item] = field(default_factory=list)
    futures: list[asyncio.Future[Result]] = field(default_factory=list)


class Gathered(Generic[Item, Result]):
    """Calls made within GATHER_S of each other, made as one: `run` gets every item and answers
    one result per item (or raises, for all of them)."""

    def __init__(self, run: Callable[[list[Item]], Awaitable[list[Result]]]) -> None:
        self._run = run
        self._open: _Batch[Item, Result] | None = None
        self._running: set[asyncio.Task[None]] = set()  # referenced until done

    async def __call__(self, item: Item) -> Result:
        if self._open is None:
            self._open = _Batch()
            task = asyncio.ensure_future(self._close_and_run(self._open))
            self._running.add(task)
            task.add_done_callback(self._running.discard)
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._open.items.append(item)
        self._open.futures.append(future)
        return await future

    async def _close_and_run(self, batch: _Batch[Item, Result]) -> None:
        await asyncio.sleep(GATHER_S)
        self._open = None  # later calls start the next batch while this one runs
        # Callers cancelled meanwhile (a cluster closed while starting) want nothing done.
        wanted = [i for i, future in enumerate(batch.futures) if not future.done()]
        if not wanted:
            return
        batch.items = [batch.items[i] for i in wanted]
        batch.futures = [batch.futures[i] for i in wanted]
        try:
            results = await self._run(batch.items)
        except BaseException as error:  # every caller gets the failure, cancellation included
            for future in batch.futures:
                if not future.done():
                    future.set_exception(error)
            if not isinstance(error, Exception):
                raise
            return
        for future, result in zip(batch.futures, results, strict=True):
            if not future.done():
                future.set_result(result)


def array_script(scripts: list[str], names: list[str], arrays: JobArrays) -> str | None:
    """One script whose element i (from 1) runs the worker names[i-1], made of the workers' own
    scripts; None when they differ in more than the worker's name (then they go one by one)."""
    first, name = scripts[0], names[0]
    pairs = zip(scripts, names, strict=True)
    if any(first.replace(name, other) != script for script, other in pairs):
        return None
    lines = first.split("\n")
    directives = [i for i, line in enumerate(lines) if line.startswith(arrays.directive_prefix)]
    flag = f" --name {name} "
    commands = [i for i, line in enumerate(lines) if flag in f"{line} "]
    if not directives or len(commands) != 1 or directives[-1] > commands[0]:
        return None
    command = commands[0]
    # A case statement, not a bash array: the user's shebang may be a plain sh.
    choose = [f'case "${{{arrays.index_variable}}}" in']
    choose += [f"  {i}) {NAME_VARIABLE}={shlex.quote(n)} ;;" for i, n in enumerate(names, 1)]
    choose.append("esac")
    header = arrays.header([lines[i] for i in directives], len(names))
    body = [
        *lines[directives[-1] + 1 : command],
        *choose,
        f"{lines[command]} ".replace(flag, f' --name "${NAME_VARIABLE}" ', 1)[:-1],
        *lines[command + 1 :],
    ]
    return "\n".join([*lines[: directives[0]], *header, *body])


class JobSubmissions:
    """One cluster's submissions and kills, gathered (see the module's docstring)."""

    def __init__(
        self,
        client: SchedulerClient,
        events: JobEvents,
        arrays: JobArrays | None,
        slot: Callable[[], asyncio.Semaphore],
    ) -> None:
        self.client = client
        self.events = events
        self.arrays = arrays
        self._slot = slot
        self.submit: Gathered[tuple[str, str], str] = Gathered(self._submit)
        self.kill: Gathered[str, None] = Gathered(self._kill)

    async def _submit_one(self, script: str) -> str:
        try:
            async with self._slot():
                job_id = await self.client.submit(script)
        except SchedulerCommandFailed as error:
            self.events.submit_failed(error.message)
            raise
        self.events.submitted(job_id)
        return job_id

    async def _submit(self, workers: list[tuple[str, str]]) -> list[str]:
        names = [name for name, _ in workers]
        scripts = [script for _, script in workers]
        script = array_script(scripts, names, self.arrays) if self.arrays else None
        if self.arrays is None or len(workers) < 2 or script is None:
            return list(await asyncio.gather(*(self._submit_one(s) for s in scripts)))
        try:
            async with self._slot():
                parent = await self.client.submit(script)
        except SchedulerCommandFailed as error:
            self.events.submit_failed(error.message)
            raise
        ids = [self.arrays.element_id(parent, index) for index in range(1, len(names) + 1)]
        for job_id in ids:
            self.events.submitted(job_id)
        return ids

    async def _kill(self, job_ids: list[str]) -> list[None]:
        await self.client.kill(job_ids)
        return [None] * len(job_ids)
