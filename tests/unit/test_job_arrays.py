"""Job arrays: the array script made from dask-jobqueue's own worker scripts, element ids of each
scheduler, LSF's elements in every bjobs form, Slurm's in squeue rows, the emulator's -J parser,
and the gathering of calls made together."""

from __future__ import annotations

import asyncio
import json
import subprocess

import pytest
from dask_jobqueue.lsf import LSFJob
from dask_jobqueue.pbs import PBSJob
from dask_jobqueue.sge import SGEJob
from dask_jobqueue.slurm import SLURMJob

from pangeo_hpc_ext.backends import BACKENDS
from pangeo_hpc_ext.backends.job_array import NAME_VARIABLE, Gathered, array_script
from pangeo_hpc_ext.core.cluster import ManagedCluster
from pangeo_hpc_ext.core.profiles import Profile
from pangeo_hpc_ext.lsfsim.bsub import Rejected, array_indices, split_array_name
from pangeo_hpc_ext.schedulers.arrays import (
    LSF_ARRAYS,
    PBS_ARRAYS,
    SGE_ARRAYS,
    SLURM_ARRAYS,
    ArrayElement,
    JobArrays,
)
from pangeo_hpc_ext.schedulers.lsf_output import (
    BJOBS_FIELDS,
    parse_bjobs_delimited,
    parse_bjobs_json,
    parse_bjobs_long,
    parse_bjobs_wide,
    parse_element_id,
)
from pangeo_hpc_ext.schedulers.slurm import parse_job_row

OPTIONS = {"cores": 1, "memory": "1GB", "log_directory": "/tmp/logs", "job_name": "dask-abc"}


def scripts(job_class: type, names: list[str], **options: object) -> list[str]:
    return [
        job_class(scheduler="tcp://127.0.0.1:8786", name=n, **{**OPTIONS, **options}).job_script()
        for n in names
    ]


@pytest.mark.parametrize(
    ("job_class", "arrays", "extra"),
    [
        (LSFJob, LSF_ARRAYS, {"lsf_units": "MB"}),
        (SLURMJob, SLURM_ARRAYS, {}),
        (SGEJob, SGE_ARRAYS, {}),
        (PBSJob, PBS_ARRAYS, {}),
    ],
)
def test_array_script_runs_each_element_as_its_worker(
    job_class: type, arrays: JobArrays, extra: dict, tmp_path
) -> None:
    names = ["dask-abc-0", "dask-abc-1", "dask-abc-10"]
    script = array_script(scripts(job_class, names, **extra), names, arrays)
    assert script is not None
    # What each element runs: the shell picks the worker name from the index variable.
    for index, name in enumerate(names, 1):
        command = next(line for line in script.splitlines() if "--name" in line)
        lines = [*script.split("\n")[: script.split("\n").index(command)], f"echo {command}"]
        out = subprocess.run(
            ["sh", "-c", "\n".join(line for line in lines if not line.startswith("#"))],
            env={arrays.index_variable: str(index), "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert f"--name {name} " in out, out
    assert f'--name "${NAME_VARIABLE}"' in script
    assert "dask-abc-1 " not in script.split("case")[0]


def test_lsf_array_header() -> None:
    names = ["dask-abc-0", "dask-abc-1"]
    script = array_script(scripts(LSFJob, names, lsf_units="MB"), names, LSF_ARRAYS)
    assert script is not None
    assert '#BSUB -J "dask-abc[1-2]"' in script
    assert "#BSUB -o /tmp/logs/dask-abc-0-%J_%I.out" in script
    assert "#BSUB -e /tmp/logs/dask-abc-0-%J_%I.err" in script


def test_slurm_and_sge_array_directives() -> None:
    names = ["dask-abc-0", "dask-abc-1", "dask-abc-2"]
    slurm = array_script(scripts(SLURMJob, names), names, SLURM_ARRAYS)
    assert slurm is not None and "#SBATCH --array=1-3" in slurm
    assert "%A_%a.out" in slurm and "%J" not in slurm
    sge = array_script(scripts(SGEJob, names), names, SGE_ARRAYS)
    assert sge is not None and "#$ -t 1-3" in sge


def test_pbs_array_directive_and_files() -> None:
    names = ["dask-abc-0", "dask-abc-1", "dask-abc-2"]
    pbs = array_script(scripts(PBSJob, names), names, PBS_ARRAYS)
    assert pbs is not None and "#PBS -J 1-3" in pbs
    # The name stays; PBS names each element's files after the element (`123[4].server.OU`).
    assert "#PBS -N dask-abc\n" in pbs
    assert "#PBS -o /tmp/logs/\n" in pbs and "#PBS -e /tmp/logs/\n" in pbs
    directives = [line for line in pbs.splitlines() if line.startswith("#PBS")]
    assert pbs.index(directives[-1]) < pbs.index("case")


def test_scripts_that_differ_beyond_the_name_are_not_an_array() -> None:
    one = scripts(LSFJob, ["dask-abc-0"], lsf_units="MB")[0]
    other = scripts(LSFJob, ["dask-abc-1"], lsf_units="MB", cores=2)[0]
    assert array_script([one, other], ["dask-abc-0", "dask-abc-1"], LSF_ARRAYS) is None


@pytest.mark.parametrize(
    ("arrays", "element", "text"),
    [
        (LSF_ARRAYS, "123[4]", "123_4"),
        (SLURM_ARRAYS, "123_4", "123_4"),
        (SGE_ARRAYS, "123.4", "123.4"),
    ],
)
def test_element_ids(arrays: JobArrays, element: str, text: str) -> None:
    assert arrays.element_id("123", 4) == element
    assert arrays.parse_element_id(element) == ArrayElement("123", 4)
    assert arrays.parse_element_id("123") is None
    assert arrays.file_id(element) == text


def test_pbs_element_ids_come_from_the_arrays_own_id() -> None:
    # qsub answers "123[].server"; element 4 is "123[4].server", the id qstat and qdel take.
    assert PBS_ARRAYS.element_id("123[].vm", 4) == "123[4].vm"
    assert PBS_ARRAYS.element_id("123[].pbs01.example.org", 10) == "123[10].pbs01.example.org"
    assert PBS_ARRAYS.element_id("123[]", 4) == "123[4]"
    assert PBS_ARRAYS.parse_element_id("123[4].vm") == ArrayElement("123[].vm", 4)
    assert PBS_ARRAYS.parse_element_id("123[4]") == ArrayElement("123[]", 4)
    # The array itself and a job of its own are no element.
    for plain in ("123[].vm", "123.vm", "123"):
        assert PBS_ARRAYS.parse_element_id(plain) is None
    assert PBS_ARRAYS.file_id("123[4].vm") == "123[4].vm"
    with pytest.raises(ValueError, match="not the id of a job array"):
        PBS_ARRAYS.element_id("123.vm", 4)


def test_lsf_elements_in_every_bjobs_form() -> None:
    json_text = json.dumps(
        {
            "JOBS": 2,
            "RECORDS": [
                {"JOBID": "7", "STAT": "RUN", "JOB_NAME": "dask-abc[2]", "EXEC_HOST": "n1"},
                {"JOBID": "8", "STAT": "PEND", "JOB_NAME": "dask-abc"},
            ],
        }
    )
    jobs = parse_bjobs_json(json_text)
    assert set(jobs) == {"7[2]", "8"}
    assert jobs["7[2]"].array == ArrayElement("7", 2)
    assert jobs["7[2]"].name == "dask-abc"  # what the ledger confirms a recorded job by
    assert jobs["8"].array is None and jobs["8"].name == "dask-abc"

    fields = BJOBS_FIELDS.split()
    row = {"jobid": "7", "stat": "RUN", "job_name": "dask-abc[3]"}
    line = "^".join(row.get(name, "-") for name in fields)
    assert list(parse_bjobs_delimited(line, BJOBS_FIELDS)) == ["7[3]"]

    wide = "7       me      RUN   normal     login1      n1          dask-abc[5] Dec  6 10:00\n"
    assert list(parse_bjobs_wide(wide)) == ["7[5]"]
    long = parse_bjobs_long(
        "Job <7[5]>, Job Name <dask-abc[5]>, User <me>, Project <default>, Status <RUN>, "
        "Queue <normal>, Command <x>\n"
    )
    assert list(long) == ["7[5]"] and long["7[5]"].name == "dask-abc[5]"
    # volclava (recorded) starts an element's event line with its index.
    started = parse_bjobs_long(
        "Job <531[3]>, Job Name <dask-abc[3]>, User <root>, Project <default>, Status <RUN>, "
        "Queue <normal>, Command <x>\n"
        "Sun Dec  6 23:26:04: Submitted from host <vm>, CWD </tmp>;\n\n"
        " RUNLIMIT\n 30.0 min\n\n"
        "Sun Dec  6 23:26:07: [3] started on <vm>, Execution Home </root>, Execution CWD </>;\n"
    )["531[3]"]
    assert started.hosts == ("vm",) and started.started is not None
    assert started.runlimit_min == 30.0
    assert parse_element_id("7[5]") == ArrayElement("7", 5)


def test_slurm_element_rows() -> None:
    row = "353_2|RUNNING|vm|2026-12-06T22:53:03|2026-12-06T22:53:04|10:00|0:09|debug|None|dask-abc"
    info = parse_job_row(row)
    assert info is not None and info.job_id == "353_2"
    assert info.array == ArrayElement("353", 2)
    plain = parse_job_row(row.replace("353_2", "354"))
    assert plain is not None and plain.array is None


def test_emulator_reads_array_names() -> None:
    assert split_array_name("dask-x[1-3]") == ("dask-x", [1, 2, 3])
    assert split_array_name("x[1,4-8:2]%2") == ("x", [1, 4, 6, 8])
    assert split_array_name("plain") == ("plain", [])
    for bad in ("0-3", "3-1", "1-2:0"):
        with pytest.raises(Rejected):
            array_indices(bad)
    with pytest.raises(Rejected):
        array_indices("1-1001")


async def test_calls_made_together_are_made_once() -> None:
    calls: list[list[int]] = []

    async def run(items: list[int]) -> list[int]:
        calls.append(items)
        return [item * 10 for item in items]

    gathered: Gathered[int, int] = Gathered(run)
    assert await asyncio.gather(*(gathered(i) for i in range(5))) == [0, 10, 20, 30, 40]
    assert await gathered(7) == 70
    assert calls == [[0, 1, 2, 3, 4], [7]]


async def test_a_failed_call_fails_every_caller() -> None:
    async def run(items: list[int]) -> list[int]:
        raise RuntimeError("bsub: no")

    gathered: Gathered[int, int] = Gathered(run)
    results = await asyncio.gather(gathered(1), gathered(2), return_exceptions=True)
    assert [str(r) for r in results] == ["bsub: no", "bsub: no"]


async def test_calls_cancelled_before_the_gathering_ends_are_not_made() -> None:
    calls: list[list[int]] = []

    async def run(items: list[int]) -> list[int]:
        calls.append(items)
        return items

    gathered: Gathered[int, int] = Gathered(run)
    cancelled = asyncio.ensure_future(gathered(1))
    kept = asyncio.ensure_future(gathered(2))
    await asyncio.sleep(0)
    cancelled.cancel()
    assert await kept == 2
    assert calls == [[2]]


@pytest.mark.parametrize(
    ("backend", "element", "parent", "index"),
    [
        ("lsf", "77[2]", "77", 2),
        ("slurm", "77_2", "77", 2),
        ("sge", "77.2", "77", 2),
        ("pbs", "77[2].vm", "77[].vm", 2),
    ],
)
def test_a_just_submitted_element_says_its_array_before_any_state_query(
    backend: str, element: str, parent: str, index: int
) -> None:
    profile = Profile(backend, backend, BACKENDS[backend](), tls=False)
    managed = ManagedCluster.create(profile, "c1", "c1", {}, 2)
    managed.job_ids = [element, "78"]
    first, single = managed.visible_jobs()
    assert first.native_state == "SUBMITTED"
    assert first.array is not None and (first.array.parent, first.array.index) == (parent, index)
    assert single.array is None
