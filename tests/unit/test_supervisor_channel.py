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


def test_records_of_other_hosts_and_unreadable_ones_are_left_alone(tmp_path: Path) -> None:
    here = SupervisorRecord(spec("here"), os.getpid(), 0.0, socket.gethostname(), "/s/here")
    there = SupervisorRecord(spec("there"), 1, 0.0, "another-node", "/s/there")
    here.write(tmp_path)
    there.write(tmp_path)
    (records_dir(tmp_path) / "broken.json").write_text('{"spec": ')
    (records_dir(tmp_path) / "partial.json").write_text(json.dumps({"pid": 3}))
    assert [r.spec.id for r in records_of_this_host(tmp_path)] == ["here"]
    assert stat.S_IMODE((records_dir(tmp_path) / "here.json").stat().st_mode) == 0o600


def test_a_reused_pid_is_not_taken_for_the_supervisor(tmp_path: Path) -> None:
    import psutil

    me = psutil.Process()
    assert SupervisorRecord(spec("a"), me.pid, me.create_time(), "h", "/s").alive()
    assert not SupervisorRecord(spec("a"), me.pid, me.create_time() - 100, "h", "/s").alive()
