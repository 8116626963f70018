"""`pangeo-hpc lab/status/stop/doctor` against the real Slurm daemons of .ci/slurm.sh, with real
JupyterLab processes bound to 127.0.0.1. Skipped when Slurm is not here, unless
PANGEO_HPC_REQUIRE_SLURM=1."""

from __future__ import annotations

import getpass
import json
import os
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from pangeo_hpc_ext.paths import free_port
from tests.support.lab_cli import (
    LOGIN_HOST,
    SSH_LINE,
    URL,
    LabCLI,
    api_status,
    lab_env,
    require_daemon,
    slurm_problem,
    submitted_job_id,
    wait_for,
    wait_gone,
)
from tests.test_doctor import ENABLED, doctor, rows, user_setup

JOB_NAME = "pangeo-hpc-lab"


class SlurmLab(LabCLI):
    def squeue(self, job_id: str, *states: str) -> dict[str, str]:
        """The job as squeue lists it (only pending and running jobs unless states say more)."""
        argv = ["squeue", "-h", "-j", job_id, "-o", "%i|%T|%N|%P"]
        if states:
            argv[1:1] = ["-t", ",".join(states)]
        out = self.command(*argv).stdout.strip()
        if not out:
            return {}
        job, state, nodes, partition = out.split("|")
        return {"job": job, "state": state, "nodes": nodes, "partition": partition}

    def our_jobs(self) -> set[str]:
        """Every lab job Slurm still lists as pending or running (this test's and others')."""
        out = self.command("squeue", "-h", "-n", JOB_NAME, "-o", "%i").stdout
        return set(out.split())

    def scontrol(self, job_id: str) -> dict[str, str]:
        text = self.command("scontrol", "show", "job", job_id).stdout
        return dict(re.findall(r"(\w+)=(\S*)", text))


@pytest.fixture
def slurm(tmp_path: Path) -> Iterator[SlurmLab]:
    require_daemon(slurm_problem(), "PANGEO_HPC_REQUIRE_SLURM")
    lab = SlurmLab(env=lab_env(tmp_path / "state"), state_dir=tmp_path / "state")
    before = lab.our_jobs()
    yield lab
    lab.end_started()
    # Only jobs this test submitted: other lab jobs on this machine are not ours to cancel.
    mine = lab.our_jobs() - before
    if mine:
        lab.command("scancel", *mine)
        wait_for(lambda: not (lab.our_jobs() & mine), f"scancel of jobs {mine}")
    lab.kill_lab_servers()


def test_batch_lab_on_slurm_runs_answers_and_stops(slurm: SlurmLab) -> None:
    port = free_port()
    result = slurm.cli(
        *("lab", "--scheduler", "slurm", "--walltime", "00:30", "--cores", "1"),
        *("--memory", "1GB", "--ip", "127.0.0.1", "--port", str(port)),
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    job_id = submitted_job_id(out)
    assert f"Job <{job_id}> is submitted to queue <debug>." in out  # the default partition
    assert re.search(rf"RUNNING job {job_id} started on \S+ after ", out)

    ssh, url = SSH_LINE.search(out), URL.search(out)
    assert ssh and url, out
    local_port, node, remote_port, user, login = ssh.groups()
    token = url.group(2)
    assert local_port == remote_port == url.group(1) == str(port)
    assert (user, login) == (getpass.getuser(), LOGIN_HOST)
    listed = slurm.squeue(job_id)
    assert listed["state"] == "RUNNING" and node == listed["nodes"]
    assert api_status(port, token) == 200
    assert api_status(port, None) == 403

    # Slurm itself holds what the #SBATCH lines asked for: 1 CPU, 1 GB as 954 MiB, 30 minutes.
    job = slurm.scontrol(job_id)
    assert (job["NumCPUs"], job["MinMemoryNode"], job["TimeLimit"]) == ("1", "954M", "00:30:00")
    assert job["JobName"] == JOB_NAME

    status = json.loads(slurm.cli("status", "--json").stdout)
    assert (status["job_id"], status["scheduler"], status["state"]) == (job_id, "slurm", "RUNNING")
    assert status["server"] == "running" and status["interactive"] is False
    assert (status["host"], status["port"], status["url"]) == (node, port, url.group(0))
    assert status["ssh"] == ssh.group(0)
    assert 0 < status["walltime_left_s"] <= 30 * 60
    session = Path(status["log"]).parent
    server_pid = json.loads((session / "connection.json").read_text())["pid"]
    assert not any(token in arg for arg in psutil.Process(server_pid).cmdline())

    stopped = slurm.cli("stop")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert f"Killed job {job_id} (was RUNNING on {node})." in stopped.stdout
    assert slurm.squeue(job_id) == {}  # gone from squeue's pending and running jobs
    assert slurm.squeue(job_id, "all")["state"] == "CANCELLED"
    wait_gone(server_pid)
    assert not session.exists() and not (slurm.state_dir / "record.json").exists()
    assert json.loads(slurm.cli("status", "--json").stdout)["server"] == "none"


def test_interactive_lab_on_slurm_is_held_by_srun_and_ends_with_stop(slurm: SlurmLab) -> None:
    lab = slurm.cli_background(
        *("lab", "--scheduler", "slurm", "--interactive", "--walltime", "00:30"),
        *("--ip", "127.0.0.1", "--port", str(free_port())),
    )
    job_id = lab.expect(r"Job <(\d+)> is submitted\.").group(1)
    ssh = lab.expect(SSH_LINE.pattern)
    token = lab.expect(URL.pattern).group(2)
    lab.expect("This terminal holds the interactive job")
    port = int(ssh.group(3))
    assert api_status(port, token) == 200
    # The job is srun's own allocation: srun is this command's child and the job's holder.
    srun = [p for p in psutil.Process(lab.proc.pid).children() if p.name() == "srun"]
    assert len(srun) == 1
    assert slurm.squeue(job_id)["state"] == "RUNNING"
    status = json.loads(slurm.cli("status", "--json").stdout)
    assert (status["job_id"], status["interactive"], status["port"]) == (job_id, True, port)
    assert status["host"] == ssh.group(2)

    stopped = slurm.cli("stop")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert lab.finish() == 0, lab.text
    assert f"Job {job_id} ended" in lab.text
    assert slurm.squeue(job_id) == {}
    assert not srun[0].is_running() or srun[0].status() == psutil.STATUS_ZOMBIE


def test_walltime_above_the_partition_limit_is_refused_before_submitting(
    slurm: SlurmLab,
) -> None:
    # .ci/slurm.sh's `short` partition has MaxTime=5 (minutes). Without EnforcePartLimits sbatch
    # would accept the job and leave it pending for ever.
    before = slurm.our_jobs()
    result = slurm.cli("lab", "--scheduler", "slurm", "--queue", "short", "--walltime", "01:00")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "--walltime 01:00 is above the 00:05 limit of partition short" in result.stderr
    assert "`sinfo -s`" in result.stderr
    assert slurm.our_jobs() == before
    assert not (slurm.state_dir / "record.json").exists()
    assert not list(slurm.state_dir.glob("session-*"))


def test_unknown_partition_is_refused_in_slurms_words(slurm: SlurmLab) -> None:
    result = slurm.cli(
        "lab", "--scheduler", "slurm", "--queue", "nosuch", "--ip", "127.0.0.1", "-W", "00:10"
    )
    assert result.returncode == 1
    assert "sbatch refused the job:" in result.stderr
    assert "Invalid partition name specified" in result.stderr
    assert "`sinfo -s` lists the partitions" in result.stderr
    assert not (slurm.state_dir / "record.json").exists()


def only_commands(directory: Path, *names: str) -> str:
    """A PATH with these real commands (linked) and this Python, nothing else."""
    directory.mkdir()
    for name in names:
        found = shutil.which(name)
        assert found, f"{name} not on PATH"
        (directory / name).symlink_to(found)
    return os.pathsep.join([str(directory), str(Path(sys.executable).parent)])


def test_slurm_is_detected_when_omitted(slurm: SlurmLab, tmp_path: Path) -> None:
    path = only_commands(tmp_path / "bin", "sbatch", "squeue", "scancel", "sinfo", "srun")
    detected = SlurmLab({**slurm.env, "PATH": path}, slurm.state_dir)
    result = detected.cli("lab", "--dry-run", "--cores", "2", "--memory", "2GB", "-W", "1:30")
    assert result.returncode == 0, result.stderr
    assert "# Would run: sbatch < job.sh" in result.stdout
    for directive in ("--cpus-per-task=2", "--mem=1908M", "--time=01:30:00"):
        assert f"#SBATCH {directive}\n" in result.stdout
    interactive = detected.cli("lab", "--dry-run", "--interactive", "-q", "debug")
    assert "# Would run: srun -v --job-name=pangeo-hpc-lab --partition=debug" in interactive.stdout
    assert "Slurm commands on PATH" in doctor({**slurm.env, "PATH": path}).stdout


GOOD_SLURM = """
jobqueue:
  slurm:
    cores: 1
    memory: 1GB
    queue: debug
    walltime: '00:30:00'
    interface: lo
"""


def test_doctor_passes_on_a_complete_slurm_setup(slurm: SlurmLab, tmp_path: Path) -> None:
    env = user_setup(tmp_path, GOOD_SLURM, ENABLED)
    result = doctor(env, "--scheduler", "slurm")
    assert result.returncode == 0, result.stdout + result.stderr
    table = rows(result.stdout)
    assert set(table.values()) == {"PASS"}, result.stdout
    assert {
        "Slurm commands on PATH",
        "Slurm memory units",
        "Slurm partitions",
        "network interface",
        "dask jobqueue config",
    } <= set(table)
    assert "sbatch squeue scancel sinfo srun in " in result.stdout
    assert "debug (default), short" in result.stdout  # sinfo's partitions, default marked
    assert "memory '1GB' is requested as --mem=954M (954 MiB" in result.stdout
    assert "lo (jobqueue.slurm.interface) present" in result.stdout


@pytest.mark.parametrize(
    ("change", "check", "says", "fix"),
    [
        ("queue: nosuch", "Slurm partitions", "'nosuch' is not one of them: debug", "one of"),
        ("job-mem: 1.5G", "Slurm memory units", "sbatch reads --mem as a whole", "e.g. 20G"),
        ("job-mem: '512'", "Slurm memory units", "(512 MiB) is below memory '1GB'", "raise"),
        ("memory: 900GB", "Slurm memory units", "more than the", "lower jobqueue.slurm.memory"),
        ("interface: ib0", "network interface", "'ib0' (jobqueue.slurm.interface) not", "name"),
    ],
)
def test_doctor_fails_on_a_broken_slurm_setup_with_the_fix(
    slurm: SlurmLab, tmp_path: Path, change: str, check: str, says: str, fix: str
) -> None:
    key = change.split(":")[0]
    lines = [line for line in GOOD_SLURM.splitlines() if not line.strip().startswith(key + ":")]
    env = user_setup(tmp_path, "\n".join([*lines, f"    {change}", ""]), ENABLED)
    result = doctor(env, "--scheduler", "slurm", "--json")
    assert result.returncode == 1, result.stdout + result.stderr
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    failed = [name for name, c in checks.items() if not c["ok"]]
    assert failed == [check], result.stdout
    assert says in checks[check]["detail"] and fix in checks[check]["fix"]


def test_doctor_without_slurm_commands_says_what_is_missing(tmp_path: Path) -> None:
    env = user_setup(tmp_path, GOOD_SLURM, ENABLED)
    env["PATH"] = str(Path(sys.executable).parent)
    result = doctor(env, "--scheduler", "slurm")
    assert result.returncode == 1
    assert rows(result.stdout)["Slurm commands on PATH"] == "FAIL"
    assert "missing: sbatch squeue scancel sinfo srun" in result.stdout
    assert "module load slurm" in result.stdout
    assert "Slurm partitions" not in rows(result.stdout)  # not asked without sinfo
