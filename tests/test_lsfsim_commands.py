"""LSF emulator: exact output strings, formats and exit codes (LSF-REFERENCE.md), via the shims."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.support import lsfsim as lsfsim_fixtures
from tests.support.lsfsim import LsfSim

# The shared fixtures, under the names the tests ask for.
lsf = lsfsim_fixtures.lsf
make_lsf = lsfsim_fixtures.make_lsf


HEADER = "JOBID   USER    STAT  QUEUE      FROM_HOST   EXEC_HOST   JOB_NAME   SUBMIT_TIME"
SUBMIT_TIME = re.compile(r"^[A-Z][a-z]{2} [ 123]\d \d\d:\d\d$")


def test_submission_lines_name_the_queue_and_whether_it_was_the_default(lsf: LsfSim) -> None:
    held = {"LSFSIM_SLOTS": "0"}  # nothing runs: these tests look at submission only
    default = lsf.run("bsub", "sleep", "1", env=held)
    assert (default.returncode, default.stdout, default.stderr) == (
        0,
        "Job <1> is submitted to default queue <normal>.\n",
        "",
    )
    named = lsf.run("bsub", "-q", "bigmem", env=held, stdin="#BSUB -J a\nsleep 1\n")
    assert named.stdout == "Job <2> is submitted to queue <bigmem>.\n"
    from_script = lsf.run("bsub", env=held, stdin="#BSUB -q interactive\nsleep 1\n")
    assert from_script.stdout == "Job <3> is submitted to queue <interactive>.\n"


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85", "\x1c", "\x1d", "\x1e"])
def test_script_lines_end_at_newlines_only_as_in_lsf(lsf: LsfSim, separator: str) -> None:
    """Issue 17 item 10: LSF reads the script with fgets. A `#BSUB` after a character Python's
    splitlines() breaks at is inside the same line, not a directive of its own."""
    held = {"LSFSIM_SLOTS": "0"}
    script = f"#BSUB -B{separator}#BSUB -q bigmem\nsleep 1\n"
    result = lsf.run("bsub", env=held, stdin=script)
    assert "queue <bigmem>" not in result.stdout, result
    # A real newline still starts a directive of its own.
    plain = lsf.run("bsub", env=held, stdin="#BSUB -B\n#BSUB -q bigmem\nsleep 1\n")
    assert "queue <bigmem>" in plain.stdout, plain


def test_rejections_print_lsf_text_on_stderr_and_exit_255(lsf: LsfSim) -> None:
    cases = {
        ("-q", "nosuch"): "nosuch: No such queue. Job not submitted.",
        ("-W", "99:00"): "RUNLIMIT: Cannot exceed queue's hard limit(s). Job not submitted.",
        ("-M", "2T"): "MEMLIMIT: Cannot exceed queue's hard limit(s). Job not submitted.",
        ("-W", "abc"): "abc: Bad RUNLIMIT specification. Job not submitted.",
        ("-M", "lots"): "lots: MEMLIMT value should be a positive integer. Job not submitted.",
        ("-n", "x"): "Bad argument for option -n. Job not submitted.",
        ("-n", "0"): "The number of processors must be a positive integer. Job not submitted.",
        ("-n", "999"): "Too many processors requested. Job not submitted.",
    }
    for options, message in cases.items():
        result = lsf.run("bsub", *options, "sleep", "1")
        assert (result.returncode, result.stdout, result.stderr) == (255, "", message + "\n")
    # Script directives are checked the same way; the command line wins over them.
    script = "#BSUB -q nosuch\nsleep 1\n"
    assert lsf.run("bsub", stdin=script).stderr == "nosuch: No such queue. Job not submitted.\n"
    assert lsf.run("bsub", "-q", "normal", stdin=script, env={"LSFSIM_SLOTS": "0"}).returncode == 0
    none = lsf.run("bjobs", "-a")
    assert none.stdout.count("\n") == 2  # header + the one accepted job


def test_submit_fail_knob_refuses_every_job(lsf: LsfSim) -> None:
    result = lsf.run("bsub", "sleep", "1", env={"LSFSIM_SUBMIT_FAIL": "1"})
    assert result.returncode == 255
    assert result.stdout == ""
    assert result.stderr.rstrip("\n").endswith("Job not submitted.")
    custom = "Request from non-LSF host rejected. Job not submitted."
    assert lsf.run("bsub", "true", env={"LSFSIM_SUBMIT_FAIL": custom}).stderr == custom + "\n"
    nothing = lsf.run("bjobs", "-a")
    assert (nothing.returncode, nothing.stdout, nothing.stderr) == (0, "", "No job found\n")


def test_submit_delay_knob_still_submits(lsf: LsfSim) -> None:
    result = lsf.run("bsub", "true", env={"LSFSIM_SUBMIT_DELAY": "0.2", "LSFSIM_SLOTS": "0"})
    assert result.stdout == "Job <1> is submitted to default queue <normal>.\n"


def test_bjobs_default_table_columns_and_truncation(lsf: LsfSim) -> None:
    held = {"LSFSIM_SLOTS": "0"}
    lsf.submit("-J", "a-rather-long-job-name", "sleep", "1", env=held)
    lsf.submit("-J", "short", "-q", "interactive", "sleep", "1", env=held)
    result = lsf.run("bjobs")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0] == HEADER
    row = lines[1]
    assert row[:8] == "1       "
    assert row[16:22] == "PEND  "
    assert row[22:33] == "normal     "
    assert row[45:57] == " " * 12  # EXEC_HOST is blank for a pending job
    assert row[57:68] == "*-job-name "  # '*' + the last 9 characters
    assert SUBMIT_TIME.match(row[68:])
    assert lines[2][57:68] == "short      "
    assert lines[2][22:33] == "interactiv "
    assert lsf.run("bjobs", "-noheader").stdout.splitlines() == lines[1:]
    wide = lsf.run("bjobs", "-w").stdout.splitlines()
    assert "a-rather-long-job-name" in wide[1] and "interactive" in wide[2]


def test_bjobs_messages_and_exit_codes(lsf: LsfSim) -> None:
    empty = lsf.run("bjobs")
    assert (empty.returncode, empty.stdout, empty.stderr) == (0, "", "No unfinished job found\n")
    job = lsf.submit("sleep", "1", env={"LSFSIM_SLOTS": "0"})
    unknown = lsf.run("bjobs", "99")
    assert (unknown.returncode, unknown.stdout, unknown.stderr) == (
        0,
        "",
        "Job <99> is not found\n",
    )
    mixed = lsf.run("bjobs", str(job), "99")
    assert mixed.returncode == 255
    assert mixed.stdout.splitlines()[0] == HEADER
    assert mixed.stderr == "Job <99> is not found\n"


def test_bjobs_custom_format_and_json(lsf: LsfSim) -> None:
    job = lsf.submit(
        "-J", "fmt", "-W", "0:30", "-n", "2", "-P", "proj", "sleep", "1", env={"LSFSIM_SLOTS": "0"}
    )
    text = lsf.run("bjobs", "-noheader", "-o", "jobid stat exec_host delimiter='^'", str(job))
    assert text.stdout == f"{job}^PEND^-\n"
    headed = lsf.run("bjobs", "-o", "JOBID STAT job_name delimiter=','", str(job))
    assert headed.stdout == f"JOBID,STAT,JOB_NAME\n{job},PEND,fmt\n"
    fields = (
        "jobid stat user queue job_name exec_host from_host submit_time start_time finish_time "
        "run_time runtimelimit time_left exit_code exit_reason nreq_slot pend_reason proj_name"
    )
    result = lsf.run("bjobs", "-o", fields, "-json", str(job), "77")
    document = json.loads(result.stdout)
    assert document["COMMAND"] == "bjobs"
    assert document["JOBS"] == 2 and isinstance(document["JOBS"], int)
    record, missing = document["RECORDS"]
    assert list(record) == [name.upper() for name in fields.split()]
    assert all(isinstance(value, str) for value in record.values())
    assert record["JOBID"] == str(job)
    assert record["STAT"] == "PEND"
    assert record["EXEC_HOST"] == "" and record["START_TIME"] == "" and record["EXIT_CODE"] == ""
    assert record["RUNTIMELIMIT"] == "30.0"
    assert record["NREQ_SLOT"] == "2"
    assert record["PROJ_NAME"] == "proj"
    assert record["RUN_TIME"] == "0 second(s)"
    assert SUBMIT_TIME.match(record["SUBMIT_TIME"])
    assert record["PEND_REASON"].endswith(";")
    assert missing == {"JOBID": "77", "ERROR": "Job <77> is not found"}
    # The product's exact call.
    product = lsf.run(
        "bjobs",
        "-o",
        "jobid stat queue exec_host submit_time start_time run_time runtimelimit exit_code "
        "exit_reason job_name",
        "-json",
        str(job),
    )
    assert product.returncode == 0
    assert json.loads(product.stdout)["RECORDS"][0]["JOB_NAME"] == "fmt"
    assert lsf.run("bjobs", "-json").returncode == 255  # -json needs -o


def test_bkill_messages_and_exit_codes(lsf: LsfSim) -> None:
    nothing = lsf.run("bkill", "0")
    assert (nothing.returncode, nothing.stderr) == (255, "No unfinished job found\n")
    unknown = lsf.run("bkill", "42")
    assert (unknown.returncode, unknown.stdout, unknown.stderr) == (
        255,
        "",
        "Job <42>: No matching job found\n",
    )
    bad = lsf.run("bkill", "abc")
    assert (bad.returncode, bad.stderr) == (255, "abc: Illegal job ID.\n")
    job = lsf.submit("sleep", "30", env={"LSFSIM_SLOTS": "0"})
    killed = lsf.run("bkill", str(job))
    assert (killed.returncode, killed.stdout, killed.stderr) == (
        0,
        f"Job <{job}> is being terminated\n",
        "",
    )
    # A pending job has nothing to signal: it is over at once.
    record = lsf.record(job)
    assert (record["STAT"], record["EXIT_REASON"]) == ("EXIT", "TERM_OWNER: job killed by owner")
    again = lsf.run("bkill", str(job))
    assert (again.returncode, again.stdout, again.stderr) == (
        255,
        "",
        f"Job <{job}>: Job has already finished\n",
    )
    assert lsf.run("bjobs").stderr == "No unfinished job found\n"
    assert lsf.run("bjobs", "-a", "-noheader").stdout.split()[2] == "EXIT"


def test_bqueues_bhosts_lsid(lsf: LsfSim) -> None:
    lsf.submit("-n", "3", "sleep", "1", env={"LSFSIM_SLOTS": "0"})
    queues = lsf.run("bqueues").stdout.splitlines()
    assert queues[0] == (
        "QUEUE_NAME      PRIO STATUS          MAX JL/U JL/P JL/H NJOBS  PEND   RUN  SUSP"
    )
    rows = {line.split()[0]: line for line in queues[1:]}
    assert set(rows) == {"normal", "interactive", "bigmem"}
    assert rows["normal"] == (
        "normal           30  Open:Active       -    -    -    -     3     3     0     0"
    )
    long = lsf.run("bqueues", "-l", "normal").stdout
    assert long.startswith("QUEUE: normal\n")
    assert "PRIO NICE STATUS          MAX JL/U JL/P JL/H NJOBS  PEND   RUN SSUSP USUSP  RSV" in long
    assert re.search(r"^ RUNLIMIT\n 1440\.0 min$", long, re.M)
    assert re.search(r"^ MEMLIMIT\n +64 G$", long, re.M)
    bad = lsf.run("bqueues", "nosuch")
    assert (bad.returncode, bad.stderr) == (255, "nosuch: No such queue\n")
    hosts = lsf.run("bhosts", env={"LSFSIM_SLOTS": "8"}).stdout.splitlines()
    assert hosts[0] == (
        "HOST_NAME          STATUS       JL/U    MAX  NJOBS    RUN  SSUSP  USUSP    RSV"
    )
    assert hosts[1] == (
        "node01             ok              -      4      0      0      0      0      0"
    )
    lsid = lsf.run("lsid").stdout.splitlines()
    assert lsid[0].startswith("IBM Spectrum LSF")
    assert lsid[-2:] == ["My cluster name is lsfsim", "My master name is master01"]


def test_lsf_conf_carries_the_limits_unit(lsf: LsfSim) -> None:
    conf = Path(lsf.env["LSF_ENVDIR"]) / "lsf.conf"
    assert "LSF_UNIT_FOR_LIMITS=MB" in conf.read_text().splitlines()
    # -M is read in that unit: 64 GB is the normal queue's limit, one MB more is refused.
    held = {"LSFSIM_SLOTS": "0"}
    assert lsf.run("bsub", "-M", "65536", "true", env=held).returncode == 0
    assert lsf.run("bsub", "-M", "65537", "true", env=held).returncode == 255
    assert lsf.run("bsub", "-M", "64GB", "true", env=held).returncode == 0


def test_dask_jobqueue_lsf_script_is_parsed(lsf: LsfSim, tmp_path: Path) -> None:
    script = subprocess.run(
        [
            "python",
            "-c",
            "from dask_jobqueue.lsf import LSFJob\n"
            "print(LSFJob(scheduler='tcp://127.0.0.1:1', name='x', cores=2, memory='20GB',"
            " queue='bigmem', walltime='00:30', interface='lo').job_script())",
        ],
        capture_output=True,
        text=True,
        env=lsf.env,
        check=True,
        timeout=120,
    ).stdout
    assert "#BSUB -M 20000\n" in script  # dask-jobqueue read LSF_UNIT_FOR_LIMITS=MB from lsf.conf
    path = tmp_path / "job.sh"
    path.write_text(script)
    # Exactly how LSFCluster submits (use_stdin=True), through a shell.
    result = lsf.run("sh", "-c", f"bsub< {path}", env={"LSFSIM_SLOTS": "0"})
    assert result.stdout == "Job <1> is submitted to queue <bigmem>.\n"
    record = lsf.record(1)
    assert (record["JOB_NAME"], record["QUEUE"], record["NREQ_SLOT"]) == (
        "dask-worker",
        "bigmem",
        "2",
    )
    assert record["RUNTIMELIMIT"] == "30.0"


def test_cli_writes_working_shims_and_resets_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse
    import os

    from pangeo_hpc_ext.lsfsim.command import register

    parser = argparse.ArgumentParser(prog="pangeo-hpc")
    register(parser.add_subparsers())
    home = tmp_path / "home"
    monkeypatch.setenv("LSFSIM_HOME", str(home))
    args = parser.parse_args(["lsfsim", "shims", str(tmp_path / "bin")])
    assert args.func(args) == 0
    names = sorted(p.name for p in (tmp_path / "bin").iterdir())
    assert names == sorted(["bsub", "bjobs", "bkill", "bqueues", "bhosts", "lsid"])
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}", "LSFSIM_SLOTS": "0"}
    run = lambda *argv: subprocess.run(  # noqa: E731
        list(argv), capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60
    )
    assert run("bsub", "sleep", "300").stdout == "Job <1> is submitted to default queue <normal>.\n"
    assert run("bjobs", "-noheader").stdout.split()[:3] == [
        "1",
        run("id", "-un").stdout.strip()[:7],
        "PEND",
    ]
    args = parser.parse_args(["lsfsim", "reset"])
    assert args.func(args) == 0
    assert run("bjobs", "-a").stderr == "No job found\n"
    args = parser.parse_args(["lsfsim", "config"])
    capsys.readouterr()
    assert args.func(args) == 0
    assert '"cluster_name": "lsfsim"' in capsys.readouterr().out


def test_unit_for_limits_follows_the_config(lsf: LsfSim) -> None:
    config_file = lsf.home / "config.json"
    config = json.loads(config_file.read_text())
    config["unit_for_limits"] = "GB"
    config_file.write_text(json.dumps(config))
    held = {"LSFSIM_SLOTS": "0"}
    assert lsf.run("bsub", "-M", "64", "true", env=held).returncode == 0  # 64 GB: the limit
    assert lsf.run("bsub", "-M", "65", "true", env=held).stderr == (
        "MEMLIMIT: Cannot exceed queue's hard limit(s). Job not submitted.\n"
    )
    conf = (Path(lsf.env["LSF_ENVDIR"]) / "lsf.conf").read_text().splitlines()
    assert "LSF_UNIT_FOR_LIMITS=GB" in conf


def test_bjobs_long_format_wraps_like_lsf(lsf: LsfSim) -> None:
    held = {"LSFSIM_SLOTS": "0"}
    job = lsf.submit("-J", "a-long-name-for-wrapping", "-W", "45", "sleep", "300", env=held)
    assert " PENDING REASONS:\n" in lsf.run("bjobs", "-l", str(job)).stdout
    lsf.run("bkill", str(job))
    text = lsf.run("bjobs", "-l", str(job)).stdout
    lines = text.splitlines()
    assert lines[0] == ""
    assert lines[1].startswith(f"Job <{job}>, Job Name <a-long-name-for-wrapping>, User <")
    assert all(len(line) <= 79 for line in lines)
    # Continuation lines are indented 21 spaces; unwrapping them gives LSF's records back.
    records: list[str] = []
    for line in lines:
        if line.startswith(" " * 21) and records:
            records[-1] += line[21:]
        else:
            records.append(line)
    assert (
        ", Status <EXIT>, Queue <normal>, Command <sleep 300>, Share group charged </"
        in (records[1])
    )
    assert re.search(r"^\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d: Submitted from host <", text, re.M)
    assert any(r.endswith("Completed <exit>; TERM_OWNER: job killed by owner.") for r in records)
    assert "\n RUNLIMIT\n 45.0 min\n" in text
