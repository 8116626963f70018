"""The LSF client on each dialect the emulator speaks, through its commands on PATH: the form it
settles on (from lsid's banner, or by trying when lsid is not there) and the same jobs read the
same way, with what a form cannot tell left unknown."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from pangeo_hpc_ext.schedulers.base import JobState
from pangeo_hpc_ext.schedulers.lsf import LSFClient
from pangeo_hpc_ext.schedulers.lsf_output import BjobsForm
from tests.support import lsfsim as lsfsim_fixtures
from tests.support.lsfsim import LsfSim

make_lsf = lsfsim_fixtures.make_lsf

FORMS = {"lsf10": BjobsForm.JSON, "lsf9": BjobsForm.DELIMITED, "openlava": BjobsForm.OPENLAVA}


@pytest.mark.parametrize("lsid", [True, False], ids=["banner", "by-trying"])
@pytest.mark.parametrize("dialect", sorted(FORMS))
def test_one_client_reads_every_dialect(
    make_lsf: Callable[..., LsfSim], monkeypatch: pytest.MonkeyPatch, dialect: str, lsid: bool
) -> None:
    sim = make_lsf(dialect=dialect, slots=1)
    for key, value in sim.env.items():
        monkeypatch.setenv(key, value)
    if not lsid:
        (sim.shims / "lsid").unlink()
    running = sim.submit("-W", "00:30", "-J", "dask-worker-1", stdin="sleep 60\n")
    sim.wait_stat(running, "RUN")
    pending = sim.submit("-J", "dask-worker-2", stdin="sleep 60\n")
    failed = sim.submit("-J", "dask-worker-3", stdin="exit 3\n")
    sim.run("bkill", str(pending))
    sim.run("bkill", str(running))
    sim.wait_stat(running, "EXIT")
    again = sim.submit("-W", "00:30", "-J", "dask-worker-4", stdin="sleep 60\n")
    waiting = sim.submit("-J", "dask-worker-5", stdin="sleep 60\n")
    sim.wait_stat(again, "RUN")
    sim.wait_stat(failed, "EXIT")

    client = LSFClient()
    ids = [str(i) for i in (running, failed, again, waiting)] + ["99999"]
    jobs = asyncio.run(client.job_states(ids))
    assert asyncio.run(client.dialect()).form is FORMS[dialect]
    assert set(jobs) == set(ids) - {"99999"}  # an unknown id is left out, not a failure

    live = jobs[str(again)]
    assert (live.state, live.name) == (JobState.RUNNING, "dask-worker-4")
    assert live.hosts in (("node01",), ("node02",))
    assert live.submitted and live.started
    assert 0 < live.walltime_left_s <= 30 * 60
    assert live.reason is None
    queued = jobs[str(waiting)]
    assert queued.state is JobState.PENDING and queued.hosts == () and queued.started is None
    assert queued.reason and "slot" in queued.reason.lower()
    assert jobs[str(failed)].state is JobState.FAILED
    assert jobs[str(failed)].reason == "exit code 3"
    killed = jobs[str(running)]
    assert killed.state is JobState.FAILED and killed.walltime_left_s is None
    sim.run("bkill", str(again), str(waiting))
