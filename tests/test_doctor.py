"""`pangeo-hpc doctor` in prepared environments: LSF emulator on PATH or not, dask and Jupyter
config written into temporary directories the way a user would write them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pangeo_hpc_ext.lsfsim import environment

REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "pangeo_hpc_ext.cli"]


def user_setup(tmp_path: Path, jobqueue: str, server_config: dict) -> dict[str, str]:
    """Environment of a user whose dask and Jupyter config live under tmp_path."""
    dask_dir = tmp_path / "dask"
    dask_dir.mkdir()
    (dask_dir / "jobqueue.yaml").write_text(jobqueue)
    config_dir = tmp_path / "jupyter-config"
    config_dir.mkdir()
    (config_dir / "jupyter_server_config.json").write_text(json.dumps(server_config))
    # The labextension as `pip install` lays it out under share/jupyter/labextensions.
    labext = tmp_path / "jupyter-data" / "labextensions" / "pangeo-hpc-ext"
    labext.mkdir(parents=True)
    (labext / "package.json").write_text(json.dumps({"name": "pangeo-hpc-ext"}))
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LSF", "DASK_")) and k not in JUPYTER_PATH_OVERRIDES
    }
    env.update(
        PYTHONPATH=str(REPO),
        DASK_CONFIG=str(dask_dir),
        JUPYTER_CONFIG_DIR=str(config_dir),
        JUPYTER_PATH=str(tmp_path / "jupyter-data"),
        # In a virtualenv or a conda env jupyter_core puts the environment's config directory
        # (where `pip install` enabled the extension) before the user's; outside one, after.
        # Saying it explicitly makes the user's directory come first wherever the tests run,
        # as it does for a user of the system Python.
        JUPYTER_PREFER_ENV_PATH="0",
    )
    return env


# Variables that would put other config directories before, or instead of, the user's.
JUPYTER_PATH_OVERRIDES = ("JUPYTER_CONFIG_PATH", "JUPYTER_NO_CONFIG", "JUPYTER_PREFER_ENV_PATH")


ENABLED = {
    "ServerApp": {"jpserver_extensions": {"pangeo_hpc_ext": True, "jupyter_server_proxy": True}}
}
GOOD_JOBQUEUE = """
jobqueue:
  lsf:
    cores: 2
    memory: 4GB
    queue: normal
    walltime: '00:30'
    interface: lo
"""


def doctor(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLI, "doctor", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def rows(output: str) -> dict[str, str]:
    """CHECK name -> PASS/FAIL/ADVICE, read from the printed table."""
    found = {}
    for line in output.splitlines()[1:]:
        for result in (" PASS ", " FAIL ", " ADVICE "):
            if result in line:
                found[line.split(result)[0].strip()] = result.strip()
    return found


def test_doctor_passes_on_a_complete_setup(tmp_path: Path) -> None:
    env = user_setup(tmp_path, GOOD_JOBQUEUE, ENABLED)
    env.update(environment(tmp_path / "lsfsim", tmp_path / "shims"))
    result = doctor(env)
    assert result.returncode == 0, result.stdout + result.stderr
    table = rows(result.stdout)
    assert set(table.values()) == {"PASS"}, result.stdout
    assert {
        "LSF commands on PATH",
        "LSF answers (lsid)",
        "LSF job states (bjobs)",
        "lsf.conf units vs memory",
        "network interface",
        "dask jobqueue config",
        "jupyter-server-proxy",
        "pangeo-hpc-ext extension",
        "Jupyter security settings",
    } <= set(table)
    # The emulator's lsf.conf says MB: 4GB (4e9 bytes) is asked for as -M 3815.
    assert "LSF_UNIT_FOR_LIMITS=MB" in result.stdout and "-M 3815" in result.stdout
    assert "All checks passed." in result.stdout


def test_doctor_fails_without_lsf_each_fail_with_its_fix(tmp_path: Path) -> None:
    # As after `jupyter server extension disable --user pangeo_hpc_ext`: the user's config wins
    # over an installed package's enabling file.
    disabled = {"ServerApp": {"jpserver_extensions": {"pangeo_hpc_ext": False}}}
    env = user_setup(tmp_path, "jobqueue:\n  lsf:\n    queue: normal\n", disabled)
    env["PATH"] = str(Path(sys.executable).parent)
    result = doctor(env)
    assert result.returncode == 1
    table = rows(result.stdout)
    assert table["LSF commands on PATH"] == "FAIL"
    assert table["lsf.conf units vs memory"] == "FAIL"
    # Nothing needs ~/.config/dask/jobqueue.yaml: advice, with its fix, not a failure.
    assert table["dask jobqueue config"] == "ADVICE"
    assert table["pangeo-hpc-ext extension"] == "FAIL"
    assert "missing: bsub bjobs bkill bqueues bhosts lsid" in result.stdout
    assert "export LSF_ENVDIR=" in result.stdout
    assert "jupyter server extension enable --user pangeo_hpc_ext" in result.stdout
    fails = result.stdout.count(" FAIL ")
    assert result.stdout.count("fix: ") == fails + result.stdout.count(" ADVICE ")
    assert f"{len(table)} checks, {fails} failed." in result.stdout


@pytest.mark.parametrize("lsf_units", ["KB", "GB"])
def test_doctor_fails_on_unit_mismatch_missing_interface_and_open_jupyter(
    tmp_path: Path, lsf_units: str
) -> None:
    jobqueue = GOOD_JOBQUEUE.replace("interface: lo", "interface: ib0")
    jobqueue += f"    lsf-units: {lsf_units}\n"
    weakened = {**ENABLED, "ServerApp": {**ENABLED["ServerApp"], "allow_origin": "*"}}
    env = user_setup(tmp_path, jobqueue, weakened)
    env.update(environment(tmp_path / "lsfsim", tmp_path / "shims"))
    result = doctor(env, "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    checks = {check["name"]: check for check in report["checks"]}
    assert report["ok"] is False
    assert checks["LSF commands on PATH"]["ok"] is True
    units = checks["lsf.conf units vs memory"]
    assert units["ok"] is False and "LSF_UNIT_FOR_LIMITS=MB" in units["detail"]
    assert "set jobqueue.lsf.lsf-units to MB" in units["fix"]
    interface = checks["network interface"]
    assert interface["ok"] is False and "'ib0'" in interface["detail"]
    assert "lo" in interface["detail"]  # names the interfaces this host does have
    security = checks["Jupyter security settings"]
    assert security["ok"] is False and "allow_origin='*'" in security["detail"]
    assert all(check["fix"] for check in checks.values() if not check["ok"])


def test_doctor_without_jobqueue_yaml_only_advises(tmp_path: Path) -> None:
    env = user_setup(tmp_path, "", ENABLED)
    (tmp_path / "dask" / "jobqueue.yaml").unlink()
    env.update(environment(tmp_path / "lsfsim", tmp_path / "shims"))
    result = doctor(env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert rows(result.stdout)["dask jobqueue config"] == "ADVICE"
    assert "fix: write ~/.config/dask/jobqueue.yaml" in result.stdout
    assert "All checks passed." in result.stdout


@pytest.mark.parametrize(
    ("dialect", "form"),
    [
        ("lsf10", "IBM Spectrum LSF Standard 10.1.0.13, Apr 15 2022: bjobs -o ... -json"),
        ("lsf9", "IBM Platform LSF Standard 9.1.3.0, Jul 04 2014: bjobs -o ... delimiter='^'"),
        ("openlava", "volclava project 2.2, Jun 30 2026: bjobs -o <OpenLava's 15 fields> -json"),
    ],
)
def test_doctor_tries_the_bjobs_form_job_states_are_read_with(
    tmp_path: Path, dialect: str, form: str
) -> None:
    env = user_setup(tmp_path, GOOD_JOBQUEUE, ENABLED)
    env.update(environment(tmp_path / "lsfsim", tmp_path / "shims", dialect=dialect))
    result = doctor(env, "--json")
    checks = {check["name"]: check for check in json.loads(result.stdout)["checks"]}
    assert result.returncode == 0, result.stdout
    assert checks["LSF job states (bjobs)"]["ok"] is True
    assert checks["LSF job states (bjobs)"]["detail"].startswith(form)
    if dialect == "openlava":
        # volclava's lsf.conf names no unit: MB there, where dask-jobqueue alone assumes KB.
        units = checks["lsf.conf units vs memory"]
        assert units["advice"] is True and "LSF_UNIT_FOR_LIMITS unset (MB)" in units["detail"]
        assert "-M 3815 (MB)" in units["detail"]
        assert "set jobqueue.lsf.lsf-units to MB" in units["fix"]

    env["LSFSIM_BJOBS_FAIL"] = "1"
    failing = doctor(env, "--json")
    checks = {check["name"]: check for check in json.loads(failing.stdout)["checks"]}
    assert failing.returncode == 1
    assert checks["LSF job states (bjobs)"]["ok"] is False
    assert "bjobs: LSF is down" in checks["LSF job states (bjobs)"]["detail"]
