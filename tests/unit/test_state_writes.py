"""Writes to state_dir that fail (disk full, a file where the directory should be, data that
cannot be written) leave the previous file as it was and no temporary file, and the job ledger
says which state_dir it could not write. As root, permission bits stop nothing: a file size limit
(RLIMIT_FSIZE, in a child process) fails a write mid-file as a full disk does."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pangeo_hpc_ext.core.ledger import JobLedger
from pangeo_hpc_ext.errors import StateNotWritable
from pangeo_hpc_ext.paths import write_json_atomic

PREVIOUS = {"clusters": {"a": {"backend": "lsf", "job_ids": ["1"]}}}

# In a child: writes past 4 KiB fail with EFBIG (SIGXFSZ ignored), as a full disk fails them.
WRITE_WITH_SIZE_LIMIT = """
import json, resource, signal, sys
from pathlib import Path
from pangeo_hpc_ext.paths import write_json_atomic
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
try:
    write_json_atomic(Path(sys.argv[1]), {"padding": "x" * 100_000})
except OSError as error:
    print(json.dumps(error.strerror))
"""


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


def previous_file(tmp_path: Path) -> Path:
    path = tmp_path / "state" / "jobs-host-1.json"
    write_json_atomic(path, PREVIOUS)
    return path


def test_a_write_cut_short_by_a_full_disk_keeps_the_previous_file(tmp_path: Path) -> None:
    path = previous_file(tmp_path)
    child = subprocess.run(
        [sys.executable, "-c", WRITE_WITH_SIZE_LIMIT, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(child.stdout) == "File too large", child.stderr
    assert json.loads(path.read_text()) == PREVIOUS
    assert leftovers(path.parent) == []


def test_data_that_cannot_be_written_keeps_the_previous_file(tmp_path: Path) -> None:
    path = previous_file(tmp_path)
    with pytest.raises(TypeError):
        write_json_atomic(path, {"clusters": {"a": object()}})
    assert json.loads(path.read_text()) == PREVIOUS
    assert leftovers(path.parent) == []


def test_a_file_where_the_directory_should_be_is_an_error(tmp_path: Path) -> None:
    blocker = tmp_path / "state"
    blocker.write_text("not a directory")
    with pytest.raises(OSError):
        write_json_atomic(blocker / "jobs-host-1.json", PREVIOUS)
    assert blocker.read_text() == "not a directory"


def test_the_ledger_names_the_state_dir_it_cannot_write(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    ledger = JobLedger(state_dir, host="login1")
    ledger.record("a", "lsf", ["1"])
    before = ledger.path.read_text()
    # state_dir replaced by a file, as an unwritable or vanished $HOME would fail.
    state_dir.rename(tmp_path / "moved")
    state_dir.write_text("")
    with pytest.raises(StateNotWritable) as refused:
        ledger.record("b", "lsf", ["2"])
    assert str(state_dir) in refused.value.message
    # Forgetting never raises: the cluster's jobs are killed by then.
    ledger.forget("b")
    state_dir.unlink()
    (tmp_path / "moved").rename(state_dir)
    assert ledger.path.read_text() == before
    assert leftovers(state_dir) == []
