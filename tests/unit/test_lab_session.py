"""The lab record and session files: round trip, damage reported as a typed error, and only our
own session directories ever removed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pangeo_hpc_ext.cli.lab.node import bind_address
from pangeo_hpc_ext.cli.lab.session import Connection, LabState, Record, Session, StateError


def record(session: Session) -> Record:
    return Record(
        job_id="7",
        scheduler="lsf",
        session_dir=str(session.dir),
        queue="normal",
        walltime_minutes=60,
        requested_port=8888,
        login_host="login",
        user="ada",
        submitted=1000.0,
        interactive=False,
    )


def test_record_round_trip_and_private_files(tmp_path: Path) -> None:
    state = LabState(tmp_path / "state")
    session = state.new_session()
    assert session.dir.stat().st_mode & 0o077 == 0
    assert session.token_file.stat().st_mode & 0o077 == 0
    assert len(session.token()) == 48
    state.save(record(session))
    assert state.record_path.stat().st_mode & 0o077 == 0
    loaded = state.load()
    assert loaded == record(session)
    assert loaded.session.log == session.dir / "job.log"
    state.remove(loaded)
    assert state.load() is None and not session.dir.exists()


def test_a_damaged_record_is_a_typed_error_naming_the_file(tmp_path: Path) -> None:
    state = LabState(tmp_path)
    state.record_path.write_text("{not json")
    with pytest.raises(StateError, match=str(state.record_path)):
        state.load()
    state.record_path.write_text(json.dumps({"job_id": "7"}))
    with pytest.raises(StateError):
        state.load()


def test_connection_file(tmp_path: Path) -> None:
    session = Session(tmp_path)
    assert session.connection() is None
    connection = Connection(node="n1", ip="127.0.0.1", port=8890, pid=12, job_started=5.0)
    session.write_connection(connection)
    assert session.connection() == connection
    # An older job's file with extra fields still reads; a half-written one does not.
    data = {**json.loads(session.connection_file.read_text()), "lsf_host": "n1"}
    session.connection_file.write_text(json.dumps(data))
    assert session.connection() == connection
    session.connection_file.write_text('{"node": "n1"')
    assert session.connection() is None


def test_only_our_own_session_directories_are_removed(tmp_path: Path) -> None:
    state = LabState(tmp_path / "state")
    elsewhere = tmp_path / "session-precious"
    elsewhere.mkdir()
    state.remove_session(Session(elsewhere))
    assert elsewhere.exists()
    mine = state.new_session()
    state.remove_session(mine)
    assert not mine.dir.exists()


def test_the_node_binds_the_host_the_scheduler_reports(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LSB_HOSTS", "localhost localhost")
    assert bind_address("node", "LSB_HOSTS") == "127.0.0.1"
    assert bind_address("127.0.0.2", "LSB_HOSTS") == "127.0.0.2"
