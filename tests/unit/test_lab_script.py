"""The LSF lab adapter: the job script, `bsub -Is`, refusal hints, detection on PATH."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from pangeo_hpc_ext.cli.lab import node
from pangeo_hpc_ext.cli.lab.adapters import adapter_for, choose, detect
from pangeo_hpc_ext.cli.lab.adapters.lsf import LSFLab
from pangeo_hpc_ext.cli.lab.options import LabOptions
from pangeo_hpc_ext.cli.lab.script import job_script
from pangeo_hpc_ext.schedulers.base import JobInfo, JobState


def options(**change: object) -> LabOptions:
    base: dict[str, object] = {
        "queue": "interactive",
        "walltime_minutes": 90,
        "cores": 2,
        "memory_bytes": 20 * 10**9,
        "port": 8890,
        "ip": "node",
        "login_host": "login",
        "interactive": False,
        "start_timeout_s": 300.0,
    }
    return LabOptions(**{**base, **change})  # type: ignore[arg-type]


@pytest.fixture
def lsf_conf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    conf = tmp_path / "lsf.conf"
    monkeypatch.setenv("LSF_ENVDIR", str(tmp_path))
    return conf


def test_job_script_has_every_directive_and_runs_the_node_script(
    tmp_path: Path, lsf_conf: Path
) -> None:
    lsf_conf.write_text("LSF_UNIT_FOR_LIMITS=MB\n")
    session = tmp_path / "session-1"
    script = job_script(LSFLab(), options(), session, session / "job.log")
    lines = script.splitlines()
    assert lines[0] == "#!/bin/bash"
    assert lines[1:8] == [
        "#BSUB -J pangeo-hpc-lab",
        "#BSUB -q interactive",
        "#BSUB -n 2",
        '#BSUB -R "span[hosts=1]"',
        "#BSUB -M 19074",  # 20 GB in lsf.conf's MB, rounded up as dask-jobqueue does
        "#BSUB -W 01:30",
        f"#BSUB -o {session}/job.log",
    ]
    exec_line = shlex.split(lines[-1])
    assert exec_line[0] == "exec"
    assert Path(exec_line[2]) == Path(node.__file__).resolve()
    assert exec_line[3:] == [
        str(session),
        *("--ip", "node", "--port", "8890", "--host-variable", "LSB_HOSTS"),
    ]


def test_memory_is_in_kb_without_lsf_unit_and_left_out_when_not_asked(
    tmp_path: Path, lsf_conf: Path
) -> None:
    lsf_conf.write_text("LSF_LOGDIR=/var/log\n")
    script = job_script(LSFLab(), options(queue=None), tmp_path, tmp_path / "log")
    assert "#BSUB -M 19531250" in script
    assert "#BSUB -q" not in script
    assert "#BSUB -M" not in job_script(LSFLab(), options(memory_bytes=None), tmp_path, tmp_path)


def test_interactive_job_takes_its_options_on_the_command_line(tmp_path: Path) -> None:
    argv = LSFLab().interactive_argv(options(memory_bytes=None), tmp_path / "job.sh")
    assert argv == [
        "bsub",
        "-Is",
        *("-J", "pangeo-hpc-lab", "-q", "interactive", "-n", "2", "-R", "span[hosts=1]"),
        *("-W", "01:30", "/bin/bash", str(tmp_path / "job.sh")),
    ]
    assert "-o" not in argv  # the output is this command's, read while it runs


def test_interactive_submission_from_bsub_is_output() -> None:
    lab = LSFLab()
    assert lab.interactive_submission("<<Waiting for dispatch ...>>\n") is None
    found = lab.interactive_submission("Job <42> is submitted to queue <interactive>.\n<<Wait")
    assert (found.job_id, found.queue) == ("42", "interactive")


@pytest.mark.parametrize(
    ("error", "hint"),
    [
        ("nosuch: No such queue. Job not submitted.", "`bqueues` lists"),
        ("Job run limit (RUNLIMIT) exceeds the queue's limit", "shorter --walltime"),
        ("MEMLIMIT too large for queue normal", "less --memory"),
        ("something else", ""),
    ],
)
def test_refusals_come_with_a_hint(error: str, hint: str) -> None:
    assert hint in LSFLab().refusal_hint(error)
    assert bool(LSFLab().refusal_hint(error)) == bool(hint)


def test_walltime_reached_is_read_from_the_reason_or_the_log() -> None:
    lab = LSFLab()
    ended = JobInfo("1", JobState.FAILED, "EXIT", reason="TERM_RUNLIMIT: job killed")
    assert lab.reached_walltime(ended, "")
    assert lab.reached_walltime(None, "Exited with exit code 140.\nTERM_RUNLIMIT: job killed")
    assert not lab.reached_walltime(JobInfo("1", JobState.FAILED, "EXIT", reason="x"), "")


def executables(directory: Path, *names: str) -> str:
    directory.mkdir(exist_ok=True)
    for name in names:
        path = directory / name
        path.write_text("#!/bin/sh\n")
        path.chmod(0o755)
    return str(directory)


def test_the_scheduler_is_detected_from_path(tmp_path: Path) -> None:
    assert detect(executables(tmp_path / "lsf", "bsub", "bjobs")) == "lsf"
    assert detect(executables(tmp_path / "both", "bsub", "sbatch")) == "lsf"
    assert detect(executables(tmp_path / "none", "ls")) is None
    assert detect("") is None


def test_without_any_scheduler_lsf_names_what_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", executables(tmp_path / "bin", "ls"))
    lab = choose(None)
    assert lab.name == "lsf"
    assert lab.missing() == ["bsub", "bjobs", "bkill"]
    assert "no LSF commands on PATH (missing: bsub bjobs bkill)" in lab.no_commands_message(
        lab.missing()
    )
    assert choose("lsf").name == "lsf"
    with pytest.raises(ValueError, match="unknown scheduler 'torque'"):
        adapter_for("torque")
