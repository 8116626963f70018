"""The control channel's framing and the supervisors' records: what a confused or hostile peer,
a half-written record or another host's record does."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import stat
from pathlib import Path
from typing import Any

import pytest

from pangeo_hpc_ext.core.handle import ClusterSpec
from pangeo_hpc_ext.supervisor.channel import (
    LINE_LIMIT,
    ChannelClosed,
    peer_is_this_user,
    receive,
    send,
    socket_dir,
)
from pangeo_hpc_ext.supervisor.records import (
    SupervisorRecord,
    records_dir,
    records_of_this_host,
)


async def pair() -> tuple[asyncio.StreamReader, asyncio.StreamWriter, socket.socket]:
    ours, theirs = socket.socketpair()
    reader, writer = await asyncio.open_connection(sock=ours, limit=LINE_LIMIT)
    return reader, writer, theirs


def test_messages_arrive_whole_and_in_order() -> None:
    async def main() -> None:
        _, writer, theirs = await pair()
        other_reader, other_writer = await asyncio.open_connection(sock=theirs)
        await send(writer, {"id": 1, "op": "scale", "workers": 3})
        await send(writer, {"id": 2, "op": "close"})
        assert await receive(other_reader) == {"id": 1, "op": "scale", "workers": 3}
        assert (await receive(other_reader))["op"] == "close"
        writer.close()
        with pytest.raises(ChannelClosed, match="end of stream"):
            await receive(other_reader)
        other_writer.close()

    asyncio.run(main())


@pytest.mark.parametrize(
    ("sent", "why"),
    [
        (b"not json\n", "not JSON"),
        (b"[1, 2]\n", "not a JSON object"),
        (b"", "end of stream"),
        # Well within the line limit, yet deeper than json's recursion goes.
        pytest.param(b"[" * 20_000 + b"\n", "nested too deeply", id="deep-list"),
        pytest.param(
            b'{"a":' * 10_000 + b"1" + b"}" * 10_000 + b"\n", "nested too deeply", id="deep-dict"
        ),
    ],
)
def test_garbage_closes_the_channel(sent: bytes, why: str) -> None:
    async def main() -> None:
        reader, writer, theirs = await pair()
        theirs.sendall(sent)
        if not sent:
            theirs.shutdown(socket.SHUT_WR)
        with pytest.raises(ChannelClosed, match=why):
            await receive(reader)
        writer.close()
        theirs.close()

    asyncio.run(main())


def test_a_line_beyond_the_limit_closes_the_channel() -> None:
    async def main() -> None:
        reader, writer, theirs = await pair()
        theirs.setblocking(False)
        loop = asyncio.get_running_loop()
        sending = loop.create_task(loop.sock_sendall(theirs, b"x" * (LINE_LIMIT + 10) + b"\n"))
        with pytest.raises(ChannelClosed):
            await receive(reader)
        sending.cancel()
        writer.close()
        theirs.close()

    asyncio.run(main())


def test_sockets_live_in_a_private_directory(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    directory = socket_dir()
    assert directory == tmp_path / f"pangeo-hpc-{os.getuid()}"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    directory.chmod(0o755)  # someone loosened it: put right at the next use
    assert stat.S_IMODE(socket_dir().stat().st_mode) == 0o700


def squat_by_another_user(path: Path) -> None:
    path.mkdir(mode=0o777)
    os.chown(path, 65534, 65534)  # nobody


def squat_with_a_symlink(path: Path) -> None:
    target = path.parent / "elsewhere"
    target.mkdir(mode=0o700)
    path.symlink_to(target)


def squat_with_a_file(path: Path) -> None:
    path.write_text("a file where the directory should be")


@pytest.mark.skipif(os.getuid() != 0, reason="making a directory of another user needs root")
@pytest.mark.parametrize(
    ("squat", "why"),
    [
        (squat_by_another_user, "belongs to uid 65534"),
        (squat_with_a_symlink, "is a symbolic link"),
        (squat_with_a_file, "is not a directory"),
    ],
)
def test_a_squatted_socket_directory_is_replaced_by_a_private_one(
    tmp_path: Path, monkeypatch, caplog, squat, why: str
) -> None:
    """Another user who makes /tmp/pangeo-hpc-<uid> first (or plants a symlink there) does not
    stop this user's clusters, and gets nothing of them."""
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    usual = tmp_path / f"pangeo-hpc-{os.getuid()}"
    squat(usual)
    before = usual.lstat()
    with caplog.at_level(logging.WARNING):
        directory = socket_dir()
    assert directory != usual and directory.parent == tmp_path
    info = directory.lstat()
    assert stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid()
    assert stat.S_IMODE(info.st_mode) == 0o700
    assert why in caplog.text and str(directory) in caplog.text
    # The squatter's directory, link and target are not touched.
    assert usual.lstat() == before
    if usual.is_symlink():
        assert list(usual.resolve().iterdir()) == []


def test_peers_of_this_user_are_recognised() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        assert peer_is_this_user(ours)


def spec(cluster_id: str) -> ClusterSpec:
    return ClusterSpec(cluster_id, "n", "lsf", "lsf", {}, 1, "2026-12-01T00:00:00+00:00")


HERE, THERE = "0123456789abcdef", "fedcba9876543210"


def record_data(tmp_path: Path, cluster_id: str = HERE, **changes: Any) -> dict[str, Any]:
    sockets = tmp_path / "sockets"
    sockets.mkdir(mode=0o700, exist_ok=True)
    data = SupervisorRecord(
        spec(cluster_id), 4242, 1.0, socket.gethostname(), str(sockets / f"{cluster_id}.sock")
    )
    written = {
        "spec": data.spec.to_json(),
        "pid": data.pid,
        "started": data.started,
        "host": data.host,
        "socket": data.socket,
    }
    for key, value in changes.items():
        if key.startswith("spec."):
            written["spec"][key[5:]] = value
        else:
            written[key] = value
    return written


def test_records_of_other_hosts_are_left_alone(tmp_path: Path) -> None:
    (records_dir(tmp_path)).mkdir(parents=True)
    for cluster_id, host in ((HERE, socket.gethostname()), (THERE, "another-node")):
        path = records_dir(tmp_path) / f"{cluster_id}.json"
        path.write_text(json.dumps(record_data(tmp_path, cluster_id, host=host)))
    assert [r.spec.id for r in records_of_this_host(tmp_path)] == [HERE]
    assert sorted(p.name for p in records_dir(tmp_path).iterdir()) == [
        f"{HERE}.json",
        f"{THERE}.json",
    ]


def test_records_are_private(tmp_path: Path) -> None:
    SupervisorRecord(spec(HERE), os.getpid(), 1.0, "h", "/s").write(tmp_path)
    assert stat.S_IMODE((records_dir(tmp_path) / f"{HERE}.json").stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("content", "why"),
    [
        pytest.param(lambda t: '{"spec": ', "not JSON", id="half-written"),
        pytest.param(lambda t: json.dumps({"pid": 3}), "required property", id="partial"),
        pytest.param(
            lambda t: json.dumps(record_data(t, **{"spec.credentials_dir": str(t / "home")})),
            "credentials_dir",
            id="credentials-elsewhere",
        ),
        pytest.param(
            lambda t: json.dumps(record_data(t, **{"spec.credentials_dir": f"{t}/tls/../x"})),
            "credentials_dir",
            id="credentials-dot-dot",
        ),
        pytest.param(
            lambda t: json.dumps(record_data(t, **{"spec.job_ids": ["12", "0"]})),
            "job_ids/1",
            id="job-0-means-all-jobs",
        ),
        pytest.param(
            lambda t: json.dumps(record_data(t, **{"spec.job_ids": ["-u all"]})),
            "job_ids/0",
            id="job-id-an-option",
        ),
        pytest.param(
            lambda t: json.dumps(record_data(t, **{"spec.id": THERE})),
            "not the one its name says",
            id="another-clusters",
        ),
        pytest.param(lambda t: json.dumps(record_data(t, pid="1; rm")), "pid", id="pid-text"),
        pytest.param(
            lambda t: json.dumps(record_data(t, socket="/tmp/elsewhere.sock")),
            "not named after the cluster",
            id="socket-elsewhere",
        ),
        pytest.param(
            lambda t: json.dumps(record_data(t, **{"spec.backend": "pbs-ish"})),
            "backend",
            id="unknown-backend",
        ),
    ],
)
def test_corrupt_or_foreign_records_are_quarantined(
    tmp_path: Path, caplog, content: Any, why: str
) -> None:
    records_dir(tmp_path).mkdir(parents=True)
    path = records_dir(tmp_path) / f"{HERE}.json"
    text = content(tmp_path)
    path.write_text(text)
    with caplog.at_level(logging.WARNING):
        assert records_of_this_host(tmp_path) == []
    assert not path.exists()
    (moved,) = (tmp_path / "quarantine").iterdir()
    assert moved.name.startswith(f"{HERE}.json.") and moved.read_text() == text
    assert why in caplog.text and "not acted on" in caplog.text


def test_a_record_in_a_credentials_dir_of_its_own_is_read(tmp_path: Path) -> None:
    records_dir(tmp_path).mkdir(parents=True)
    own = tmp_path / "tls" / HERE
    data = record_data(tmp_path, **{"spec.credentials_dir": str(own)})
    (records_dir(tmp_path) / f"{HERE}.json").write_text(json.dumps(data))
    (record,) = records_of_this_host(tmp_path)
    assert record.spec.credentials_dir == str(own)


def test_a_reused_pid_is_not_taken_for_the_supervisor(tmp_path: Path) -> None:
    import psutil

    me = psutil.Process()
    assert SupervisorRecord(spec(HERE), me.pid, me.create_time(), "h", "/s").alive()
    assert not SupervisorRecord(spec(HERE), me.pid, me.create_time() - 100, "h", "/s").alive()
