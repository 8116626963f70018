"""Reading a job's output: bounded in bytes and lines, and only inside the log directory."""

from __future__ import annotations

from pathlib import Path

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
