"""The option rules every request goes through, without a server: script safety, directive
overrides, cross-field checks, integer strictness and bounded echoes (issue 9)."""

from __future__ import annotations

import asyncio
import os
import re
import stat
from pathlib import Path
from typing import Any

import pytest

from pangeo_hpc_ext.backends import BACKENDS
from pangeo_hpc_ext.backends.lsf import LSFBackend
from pangeo_hpc_ext.backends.option_types import DIRECTIVE_PATTERN, create_log_directory
from pangeo_hpc_ext.backends.slurm import SlurmBackend
from pangeo_hpc_ext.core.profiles import Profile
from pangeo_hpc_ext.core.validation import validate
from pangeo_hpc_ext.errors import InvalidOptions, InvalidRequest
from pangeo_hpc_ext.script_safety import unsafe_value_errors


def lsf_profile(tmp_path: Path, **spec: Any) -> Profile:
    defaults = {
        "queue": "normal",
        "cores": 2,
        "memory": "2GB",
        "processes": 1,
        "walltime": "00:30",
        "interface": "lo",
        "log_directory": str(tmp_path / "logs"),
        **spec.pop("defaults", {}),
    }
    return Profile(
        name="lsf",
        label="LSF",
        backend=LSFBackend(),
        defaults=defaults,
        choices={"queue": ["normal"]},
        **spec,
    )


def resolve(profile: Profile, options: dict[str, Any]) -> dict[str, Any]:
    return asyncio.run(profile.resolve_options(options))


def refused_fields(profile: Profile, options: dict[str, Any]) -> list[str]:
    with pytest.raises(InvalidOptions) as caught:
        resolve(profile, options)
    return [e.field for e in caught.value.errors]


INJECTIONS = [
    ("project", 'p"\ntouch /tmp/x\n#'),
    ("project", "p; touch /tmp/x"),
    ("project", "$(touch /tmp/x)"),
    ("project", "`id`"),
    ("project", "a b"),
    ("interface", "lo --preload evil"),
    ("interface", "--preload=evil"),
    ("log_directory", "/tmp/logs\n#BSUB -q bigmem"),
    ("log_directory", "/tmp/my logs"),
    ("memory", "2GB\n"),
    ("walltime", "00:30\n"),
]


@pytest.mark.parametrize(("field", "value"), INJECTIONS)
def test_values_that_would_reach_the_script_are_refused(
    tmp_path: Path, field: str, value: str
) -> None:
    assert field in refused_fields(lsf_profile(tmp_path), {field: value})


@pytest.mark.parametrize(
    "directive",
    ["-x\nrm -rf ~", "-B\r-q bigmem", "-E `id`", "-u $USER", "-E a\\\nb", "no-dash"]
    # Issue 17 item 10: every character str.splitlines() breaks at, and bidi/zero-width ones.
    + [f"-B{char}#BSUB -q bigmem" for char in "\u2028\u2029\x85\x1c\x1d\x1e\x0b\x0c\r"]
    + ["-u \u202euser", "-u us\u200ber"],
)
def test_directive_lines_cannot_break_out(tmp_path: Path, directive: str) -> None:
    fields = refused_fields(lsf_profile(tmp_path), {"job_extra_directives": [directive]})
    assert "job_extra_directives.0" in fields


def test_safe_values_pass(tmp_path: Path) -> None:
    options = resolve(
        lsf_profile(tmp_path),
        {
            "project": "climate_2026-a.b",
            "interface": "ib0",
            "memory": "1.5GiB",
            "job_extra_directives": ['-m "hostA hostB"', "-B", "-u someone@example.org"],
        },
    )
    assert options["project"] == "climate_2026-a.b"


@pytest.mark.parametrize(
    ("directive", "option"),
    [
        ("-q bigmem", "queue"),
        ("-q  bigmem", "queue"),
        ("-P other", "project"),
        ("-n 64", "cores"),
        ('-R "span[hosts=4]"', "cores"),
        ("-M 999999", "memory"),
        ("-W 9999", "walltime"),
        ("-J other", "job name"),
        ("-o /elsewhere/%J.out", "log_directory"),
        ("-e /elsewhere/%J.err", "log_directory"),
    ],
)
def test_directives_cannot_override_validated_options(
    tmp_path: Path, directive: str, option: str
) -> None:
    profile = lsf_profile(tmp_path)
    with pytest.raises(InvalidOptions) as caught:
        resolve(profile, {"job_extra_directives": ["-B", directive]})
    [error] = caught.value.errors
    assert error.field == "job_extra_directives.1"
    assert option in error.message
    assert directive.split()[0] in error.message


def test_admin_directives_may_override_but_user_ones_may_not(tmp_path: Path) -> None:
    admin = '-R "select[type==X86_64]"'
    profile = lsf_profile(tmp_path, defaults={"job_extra_directives": [admin]})
    assert resolve(profile, {})["job_extra_directives"] == [admin]
    assert resolve(profile, {"job_extra_directives": [admin, "-B"]})
    assert refused_fields(profile, {"job_extra_directives": [admin, "-R other"]}) == [
        "job_extra_directives.1"
    ]


def test_profile_can_forbid_extra_directives(tmp_path: Path) -> None:
    profile = lsf_profile(tmp_path, allow_extra_directives=False)
    assert refused_fields(profile, {"job_extra_directives": ["-B"]}) == ["job_extra_directives"]
    assert resolve(profile, {})["job_extra_directives"] == []
    schema = asyncio.run(profile.schema())
    assert schema["properties"]["job_extra_directives"]["readOnly"] is True


# Each accepted by Slurm 22.05's sbatch in a #SBATCH line as the option it abbreviates
# (checked with `sbatch --test-only`); getopt_long takes any unambiguous prefix.
@pytest.mark.parametrize(
    ("directive", "option"),
    [
        ("--part=bigmem", "queue"),
        ("--partit bigmem", "queue"),
        ("--accou=proj", "account"),
        ("--job-n=other", "job name"),
        ("--mem-per-c=100G", "memory"),
        ("--cpus-per-t=64", "cores"),
        ("--outp=/tmp/elsewhere", "log_directory"),
        ("--erro /tmp/elsewhere", "log_directory"),
        # Ambiguous for sbatch (--time, --time-min), which refuses it: refusing it first is fine.
        ("--tim=99:00:00", "walltime"),
    ],
)
def test_abbreviated_long_flags_are_caught_where_sbatch_reads_them(
    directive: str, option: str
) -> None:
    errors = SlurmBackend().directive_errors([directive], {})
    assert [e.field for e in errors] == ["job_extra_directives.0"], errors
    assert f"would override the {option}" in errors[0].message.replace("'", "")


@pytest.mark.parametrize(
    "directive",
    ["--time-min=10", "--mem-bind=local", "--ntasks-per-node=1", "--qos=low", "--exclusive", "--"],
)
def test_longer_flags_that_start_like_ours_are_not_abbreviations(directive: str) -> None:
    assert SlurmBackend().directive_errors([directive], {}) == []


def test_lsf_has_no_long_option_abbreviations() -> None:
    # bsub has no `--` options: `--part=bigmem` is bsub's to refuse, not a partition.
    assert LSFBackend().directive_errors(["--part=bigmem"], {}) == []


def test_processes_may_not_exceed_cores(tmp_path: Path) -> None:
    assert "processes" in refused_fields(lsf_profile(tmp_path), {"processes": 4096, "cores": 1})
    assert resolve(lsf_profile(tmp_path), {"processes": 2, "cores": 2})["processes"] == 2


def test_memory_per_process_has_a_floor(tmp_path: Path) -> None:
    options = {"processes": 8, "cores": 8, "memory": "1GB"}
    assert "memory" in refused_fields(lsf_profile(tmp_path), options)


@pytest.mark.parametrize("value", ["logs", "./logs", "../../..", "~user-that-does-not-exist/x"])
def test_log_directory_must_be_absolute(tmp_path: Path, value: str) -> None:
    assert "log_directory" in refused_fields(lsf_profile(tmp_path), {"log_directory": value})


def test_log_directory_is_checked_not_created_then_created_private_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Issue 17 item 6: validating creates nothing (a refused request leaves no trace on disk).
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    resolved = resolve(lsf_profile(tmp_path), {"log_directory": "~/dask-logs/a"})
    created = tmp_path / "home" / "dask-logs" / "a"
    assert not (tmp_path / "home").exists()
    assert create_log_directory(resolved["log_directory"]) == created
    assert created.is_dir()
    assert stat.S_IMODE(created.stat().st_mode) == 0o700


def test_a_refused_request_creates_no_log_directory(tmp_path: Path) -> None:
    for options in (
        {"log_directory": str(tmp_path / "a\u2028b")},
        {"log_directory": str(tmp_path / "c"), "job_extra_directives": ["-qbigmem"]},
        {"log_directory": str(tmp_path / "d"), "memory": "lots"},
    ):
        refused_fields(lsf_profile(tmp_path), options)
    assert list(tmp_path.iterdir()) == []


def test_a_dangling_link_is_no_log_directory(tmp_path: Path) -> None:
    (tmp_path / "link").symlink_to(tmp_path / "nowhere")
    fields = refused_fields(lsf_profile(tmp_path), {"log_directory": str(tmp_path / "link" / "x")})
    assert fields == ["log_directory"]


def test_a_log_directory_that_cannot_be_created_at_start_names_the_field(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(InvalidOptions) as caught:
        create_log_directory(str(tmp_path / "file" / "x"))
    assert [e.field for e in caught.value.errors] == ["log_directory"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_log_directory_must_be_writable(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    fields = refused_fields(lsf_profile(tmp_path), {"log_directory": str(locked / "logs")})
    assert fields == ["log_directory"]


def test_log_directory_under_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    fields = refused_fields(lsf_profile(tmp_path), {"log_directory": str(tmp_path / "file" / "x")})
    assert fields == ["log_directory"]


INTEGER_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"workers": {"type": "integer"}},
}


@pytest.mark.parametrize("value", [1.0, 0.0, True, "1"])
def test_integers_are_integers(value: Any) -> None:
    with pytest.raises(InvalidOptions) as caught:
        validate({"workers": value}, INTEGER_SCHEMA)
    assert caught.value.errors[0].field == "workers"


def test_echoed_input_is_bounded() -> None:
    huge = "x" * 1_000_000
    for document in ({"workers": huge}, {huge: 1}):
        with pytest.raises((InvalidOptions, InvalidRequest)) as caught:
            validate(document, INTEGER_SCHEMA)
        assert len(str(caught.value.to_json())) < 1000


def test_unsafe_value_errors_name_list_items() -> None:
    errors = unsafe_value_errors({"job_extra_directives": ["-B", "-x\ny"], "queue": "ok"})
    assert [e.field for e in errors] == ["job_extra_directives.1"]


# Every character Python's str.splitlines() ends a line at (a reader written in Python, such as
# the LSF emulator's bsub once was, would see the rest as a new `#BSUB` line).
LINE_BREAKS = [chr(c) for c in range(0x110000) if len(f"a{chr(c)}b".splitlines()) > 1]


def test_every_line_break_is_refused_in_a_directive() -> None:
    assert set(LINE_BREAKS) >= {"\n", "\r", "\x0b", "\x0c", "\x1c", "\x85", "\u2028", "\u2029"}
    directives = [f"-B{char}#BSUB -x" for char in LINE_BREAKS]
    errors = unsafe_value_errors({"job_extra_directives": directives})
    assert [e.field for e in errors] == [
        f"job_extra_directives.{i}" for i in range(len(LINE_BREAKS))
    ]
    pattern = re.compile(DIRECTIVE_PATTERN)
    assert not [d for d in directives if pattern.search(d)]
    assert pattern.search('-R "select[mem>4000 && ncpus>2]" -u someone@example.org')


@pytest.mark.parametrize("name", [n for n, cls in BACKENDS.items() if cls.has_jobs])
def test_every_batch_option_explains_itself(name: str) -> None:
    """The form shows each option's description under it (#23: "Worker processes per job")."""
    schema = asyncio.run(BACKENDS[name]().options_schema({}))
    common = ("cores", "memory", "processes", "queue", "walltime", "interface")
    silent = [
        option
        for option in (*common, "job_extra_directives", "log_directory")
        if not schema["properties"][option].get("description")
    ]
    assert not silent, f"{name}: options without a description: {silent}"
