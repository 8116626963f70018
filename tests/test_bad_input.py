"""Bad input gets a 4xx naming the field, never a 500; the server keeps serving and nothing is
submitted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pangeo_hpc_ext.schedulers.registry import SCHEDULERS
from tests.conftest import Api

GOOD_LSF = {"cores": 1, "memory": "1GB", "queue": "normal", "walltime": "00:30", "interface": "lo"}


@pytest.fixture
def pangeo_config() -> dict[str, Any]:
    return {"max_workers": 8}


CREATE_CASES = [
    # (id, body or raw bytes, status, field named in the answer)
    ("malformed-json", b"{not json", 400, None),
    ("not-an-object", b"[1, 2]", 400, None),
    ("unknown-field", {"profile": "lsf", "colour": "red"}, 400, "colour"),
    ("unknown-option", {"profile": "lsf", "options": {"gpus": 2}}, 400, "gpus"),
    ("missing-profile", {"workers": 1}, 422, "profile"),
    ("unknown-profile", {"profile": "pbs"}, 404, None),
    ("memory-lots", {"profile": "lsf", "options": {**GOOD_LSF, "memory": "lots"}}, 422, "memory"),
    ("memory-zero", {"profile": "lsf", "options": {**GOOD_LSF, "memory": "0GB"}}, 422, "memory"),
    (
        "local-memory",
        {"profile": "local", "options": {"memory_limit": "lots"}},
        422,
        "memory_limit",
    ),
    ("negative-workers", {"profile": "lsf", "workers": -1}, 422, "workers"),
    ("workers-above-max", {"profile": "lsf", "workers": 9}, 422, "workers"),
    ("workers-not-int", {"profile": "lsf", "workers": "six"}, 422, "workers"),
    (
        "walltime-hms",
        {"profile": "lsf", "options": {**GOOD_LSF, "walltime": "99:99:99"}},
        422,
        "walltime",
    ),
    (
        "walltime-minutes-60",
        {"profile": "lsf", "options": {**GOOD_LSF, "walltime": "1:60"}},
        422,
        "walltime",
    ),
    ("queue-unknown", {"profile": "lsf", "options": {**GOOD_LSF, "queue": "nosuch"}}, 422, "queue"),
    ("cores-zero", {"profile": "lsf", "options": {**GOOD_LSF, "cores": 0}}, 422, "cores"),
    (
        "directive-newline",
        {"profile": "lsf", "options": {**GOOD_LSF, "job_extra_directives": ["-x\nrm -rf ~"]}},
        422,
        "job_extra_directives.0",
    ),
    # Issue 9: one rule for every value that reaches the job script, a command line or a path.
    (
        "project-breaks-out",
        {"profile": "lsf", "options": {**GOOD_LSF, "project": 'p"\ntouch /tmp/x\n#'}},
        422,
        "project",
    ),
    (
        "log-directory-newline",
        {"profile": "lsf", "options": {**GOOD_LSF, "log_directory": "/tmp/l\n#BSUB -q bigmem"}},
        422,
        "log_directory",
    ),
    (
        "interface-smuggles-option",
        {"profile": "lsf", "options": {**GOOD_LSF, "interface": "lo --preload evil"}},
        422,
        "interface",
    ),
    (
        "directive-overrides-queue",
        {"profile": "lsf", "options": {**GOOD_LSF, "job_extra_directives": ["-q bigmem"]}},
        422,
        "job_extra_directives.0",
    ),
    # Issue 23: what no host can ever hold is refused, not left pending ("Job slot limit").
    (
        "cores-beyond-every-host",
        {"profile": "lsf", "options": {**GOOD_LSF, "cores": 64}},
        422,
        "cores",
    ),
    # Issue 17 item 3: every option of a line, read as bsub reads it.
    (
        "directive-glued-queue",
        {"profile": "lsf", "options": {**GOOD_LSF, "job_extra_directives": ["-qbigmem"]}},
        422,
        "job_extra_directives.0",
    ),
    (
        "directive-queue-after-a-flag",
        {"profile": "lsf", "options": {**GOOD_LSF, "job_extra_directives": ["-x -q bigmem"]}},
        422,
        "job_extra_directives.0",
    ),
    (
        "directive-walltime-after-a-flag",
        {"profile": "lsf", "options": {**GOOD_LSF, "job_extra_directives": ["-B -W 48:00"]}},
        422,
        "job_extra_directives.0",
    ),
    # Issue 17 item 10: a line separator Python would split at.
    (
        "directive-line-separator",
        {
            "profile": "lsf",
            "options": {**GOOD_LSF, "job_extra_directives": ["-B\u2028#BSUB -x"]},
        },
        422,
        "job_extra_directives.0",
    ),
    (
        "log-directory-relative",
        {"profile": "lsf", "options": {**GOOD_LSF, "log_directory": "../../.."}},
        422,
        "log_directory",
    ),
    (
        "processes-above-cores",
        {"profile": "lsf", "options": {**GOOD_LSF, "processes": 4096, "cores": 1}},
        422,
        "processes",
    ),
    ("workers-float", {"profile": "lsf", "workers": 1.0}, 422, "workers"),
    ("keep-not-boolean", {"profile": "lsf", "keep": "yes"}, 422, "keep"),
    ("idle-timeout-negative", {"profile": "lsf", "idle_timeout": -1}, 422, "idle_timeout"),
    ("idle-timeout-text", {"profile": "lsf", "idle_timeout": "30m"}, 422, "idle_timeout"),
    ("idle-timeout-boolean", {"profile": "lsf", "idle_timeout": True}, 422, "idle_timeout"),
    # Found by the stateful fuzz: a deadline past year 9999 made every later listing a 500.
    ("idle-timeout-beyond-dates", {"profile": "lsf", "idle_timeout": 6.4e16}, 422, "idle_timeout"),
    ("idle-timeout-nan", b'{"profile": "lsf", "idle_timeout": NaN}', 400, None),
    ("workers-infinity", b'{"profile": "lsf", "workers": Infinity}', 400, None),
    ("cores-float", {"profile": "lsf", "options": {**GOOD_LSF, "cores": 2.0}}, 422, "cores"),
    (
        "deeply-nested",
        b'{"profile": "lsf", "options": ' + b"[" * 20_000 + b"]" * 20_000 + b"}",
        400,
        None,
    ),
    ("nested-options", {"profile": "lsf", "options": {"x": [[[[[[[[[[1]]]]]]]]]]}}, 400, None),
    ("body-too-large", {"profile": "lsf", "name": "n" * 10_000_000}, 413, None),
]


@pytest.mark.parametrize(
    ("body", "status", "field"), [c[1:] for c in CREATE_CASES], ids=[c[0] for c in CREATE_CASES]
)
async def test_create_rejects_bad_input(
    api: Api, lsf_env, body: Any, status: int, field: str | None
) -> None:
    if isinstance(body, bytes):
        code, answer = await api.call("POST", "clusters", raw=body)
    else:
        code, answer = await api.call("POST", "clusters", body=body)
    assert code == status, answer
    assert answer["message"]
    # What a client sent is never echoed unbounded.
    assert len(json.dumps(answer)) < 5000
    if field is not None:
        assert field in [e["field"] for e in answer["errors"]], answer
        assert field.split(".")[0] in answer["message"]
    # Nothing reached the scheduler and the server keeps serving.
    assert lsf_env.records() == []
    code, listing = await api.call("GET", "clusters")
    assert code == 200 and listing == {"clusters": []}


async def start_local_cluster(api: Api) -> str:
    code, cluster = await api.call("POST", "clusters", body={"profile": "local", "workers": 0})
    assert code == 201
    await api.wait_for(cluster["id"], lambda c: c["status"] == "running", "local scheduler start")
    return cluster["id"]


PATCH_CASES = [
    ("malformed-json", b"{", 400, None),
    ("empty", {}, 422, None),
    ("both", {"workers": 1, "adapt": None}, 422, None),
    ("unknown-field", {"cores": 4}, 400, "cores"),
    ("negative", {"workers": -3}, 422, "workers"),
    ("above-max", {"workers": 100}, 422, "workers"),
    ("not-int", {"workers": 1.5}, 422, "workers"),
    ("adapt-min-above-max", {"adapt": {"minimum": 5, "maximum": 2}}, 422, "adapt.minimum"),
    ("adapt-above-max", {"adapt": {"minimum": 0, "maximum": 50}}, 422, "adapt.maximum"),
    ("adapt-missing-bound", {"adapt": {"minimum": 1}}, 422, "adapt.maximum"),
    ("adapt-unknown-field", {"adapt": {"minimum": 1, "maximum": 2, "wait": 3}}, 400, "adapt.wait"),
    ("adapt-floats", {"adapt": {"minimum": 0.0, "maximum": 1.0}}, 422, "adapt.minimum"),
    ("workers-float", {"workers": 1.0}, 422, "workers"),
]


async def test_patch_rejects_bad_input(api: Api) -> None:
    local_cluster = await start_local_cluster(api)
    for name, body, status, field in PATCH_CASES:
        if isinstance(body, bytes):
            code, answer = await api.call("PATCH", "clusters", local_cluster, raw=body)
        else:
            code, answer = await api.call("PATCH", "clusters", local_cluster, body=body)
        assert code == status, (name, answer)
        assert answer["message"], name
        if field is not None:
            assert field in [e["field"] for e in answer["errors"]], (name, answer)
    cluster = await api.cluster(local_cluster)
    assert cluster["workers"]["requested"] == 0 and cluster["adapt"] is None


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
async def test_unknown_cluster_id_is_404(api: Api, method: str) -> None:
    body = {"workers": 1} if method == "PATCH" else None
    code, answer = await api.call(method, "clusters", "0123456789abcdef", body=body)
    assert code == 404
    assert "0123456789abcdef" in answer["message"]


async def test_profiles_publish_schemas_with_defaults(api: Api, lsf_env) -> None:
    code, body = await api.call("GET", "profiles")
    assert code == 200
    profiles = {p["name"]: p for p in body["profiles"]}
    # Default profiles: local, and each scheduler whose commands are on PATH.
    expected = {"local", "lsf"} | {n for n, s in SCHEDULERS.items() if s.present()}
    assert set(profiles) == expected
    assert body["max_workers"] == 8
    lsf = profiles["lsf"]
    assert lsf["backend"] == "lsf"
    props = lsf["schema"]["properties"]
    # Queue choices come from the emulated cluster's bqueues.
    assert props["queue"]["enum"] == ["interactive", "normal", "bigmem"] or set(
        props["queue"]["enum"]
    ) == {"normal", "interactive", "bigmem"}
    assert props["walltime"]["default"] == "00:30"  # dask-jobqueue's jobqueue.lsf.walltime
    for option in (
        "cores",
        "memory",
        "processes",
        "interface",
        "project",
        "job_extra_directives",
        "log_directory",
    ):
        assert option in props
    assert profiles["local"]["schema"]["properties"]["memory_limit"]["default"] == "auto"


def files_under(directory: Path) -> set[str]:
    return (
        {str(p.relative_to(directory)) for p in directory.rglob("*")}
        if directory.exists()
        else set()
    )


async def test_a_refused_create_leaves_nothing_on_disk(api: Api, lsf_env, tmp_path: Path) -> None:
    """Issue 17 item 6: everything is validated before anything is created (the log directory,
    TLS credentials, cluster records)."""
    logs = tmp_path / "refused-logs"
    state = tmp_path / "pangeo-state"
    before = files_under(state)
    for options in (
        {**GOOD_LSF, "log_directory": str(logs / "a\u2028b")},
        {**GOOD_LSF, "log_directory": str(logs / "c"), "job_extra_directives": ["-qbigmem"]},
        {**GOOD_LSF, "log_directory": str(logs / "d"), "queue": "nosuch"},
        {**GOOD_LSF, "log_directory": str(logs / "e"), "memory": "lots"},
    ):
        body = {"profile": "lsf", "options": options, "workers": 1}
        code, answer = await api.call("POST", "clusters", body=body)
        assert code == 422, answer
    assert not logs.exists()
    assert files_under(state) == before
    assert lsf_env.records() == []
