"""Reading a job's output: bounded in bytes and lines, and only inside the log directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from pangeo_hpc_ext.backends.jobqueue import JobqueueBackend
from pangeo_hpc_ext.backends.lsf import LSFBackend
from pangeo_hpc_ext.backends.sge import SGEBackend
from pangeo_hpc_ext.backends.slurm import SlurmBackend
from pangeo_hpc_ext.core.job_log import read_tail, within


def test_a_short_file_is_read_whole(tmp_path: Path) -> None:
    log = tmp_path / "job.err"
    log.write_text("one\ntwo\n")
    tail = read_tail(log)
    assert tail.lines == ["one", "two"] and not tail.truncated


def test_a_huge_file_gives_its_last_lines_only(tmp_path: Path) -> None:
    log = tmp_path / "job.err"
    log.write_text("".join(f"line {n}\n" for n in range(100_000)))
    tail = read_tail(log, max_bytes=4096, max_lines=50)
    assert tail.truncated and len(tail.lines) == 50
    assert tail.lines[-1] == "line 99999"
    by_bytes = read_tail(log, max_bytes=100, max_lines=1000)
    assert by_bytes.truncated and all(line.startswith("line ") for line in by_bytes.lines)


def test_links_out_of_the_directory_are_not_within(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    secret = tmp_path / "secret"
    secret.write_text("x")
    (logs / "job.out").symlink_to(secret)
    (logs / "real.out").write_text("y")
    assert within(logs / "real.out", logs)
    assert not within(logs / "job.out", logs)
    assert not within(logs / ".." / "secret", logs)


# Issue 17 item 9: the names dask-jobqueue gives a job's files, per scheduler, for cluster
# "abc" and job 5; every other file that merely ends in the job id is not the job's.
OURS = {
    "lsf": ["dask-abc-0-5.err", "dask-abc-0-5.out"],  # -o DIR/<worker name>-%J.out
    "slurm": ["dask-abc-5.err", "dask-abc-5.out"],  # -o DIR/<job name>-%J.out
    "sge": ["dask-abc.o5"],  # -o DIR/ gives <job name>.o<job id>
}
PLANTED = [
    "big-5.out",
    "bin-5.err",
    "dask-abcd-0-5.out",
    "dask-abc-x-5.out",
    "dask-abc-0-15.out",
    "dask-abc-0-5.out.old",
    "dask-abc-15.out",
    "dask-ab-5.out",
    "big.o5",
    "dask-abc.o55",
    "x-dask-abc-5.out",
]


@pytest.mark.parametrize("backend_class", [LSFBackend, SlurmBackend, SGEBackend])
def test_only_this_clusters_files_of_the_job_are_its_log(
    tmp_path: Path, backend_class: type[JobqueueBackend]
) -> None:
    ours = OURS[backend_class.name]
    for name in [*ours, *PLANTED]:
        (tmp_path / name).write_text("x")
    files = backend_class().job_log_files({"log_directory": str(tmp_path)}, "abc", "5")
    assert [f.name for f in files] == ours


def test_no_log_directory_yet_means_no_files(tmp_path: Path) -> None:
    options = {"log_directory": str(tmp_path / "absent")}
    assert LSFBackend().job_log_files(options, "abc", "5") == []
