"""Schemathesis against a real server process with the LSF emulator: every operation of the
OpenAPI document, the chain create -> get -> patch -> delete, and random scenarios following the
document's links. Bounded so that CI stays in minutes. After each: no 5xx, every answer conforms
to the document, the server still serves, and no batch job is left."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis.errors import FlakyStrategyDefinition

from tests.support.lsfsim import LsfSim
from tests.support.server_process import ServerProcess, wait_until
from tests.test_lsf_cluster import LSF_OPTIONS

REPO_ROOT = str(Path(__file__).resolve().parents[1])
MAX_EXAMPLES = 30
STATEFUL_SCENARIOS = 10
STATEFUL_STEPS = 6
CLI_TIMEOUT_S = 240.0
WAIT_S = 90.0

# Small limits, so that fuzzed creations cannot flood a 2-core machine: at most 3 clusters of 2
# workers each, on the local backend or as LSF jobs on the emulator.
PANGEO_CONFIG: dict[str, Any] = {
    "max_workers": 2,
    "max_clusters": 3,
    "job_poll_interval": 0.25,
    "profiles": {
        "local": {"backend": "local"},
        "lsf": {"backend": "lsf", "defaults": LSF_OPTIONS},
    },
}

# Where our contract differs from schemathesis' defaults, on purpose:
# - jupyter_server answers a request without credentials 403, like every Jupyter API, where
#   schemathesis wants 401 for a missing Authorization header; `ignored_auth` still checks that
#   no route answers 2xx without credentials.
# - `options` (and the worker limits) are validated at runtime against the profile's own schema
#   (GET api/profiles), which the document cannot carry: a body valid for the document may
#   still be 400 (an option the profile does not have) or 422 (an invalid value).
# Random strings and integers rarely name a profile or a worker count in range: the dictionaries
# mix in real ones, so that requests get past validation and reach real clusters.
CONFIG_TEMPLATE = """\
base-url = "{base_url}"
workers = 2
request-timeout = 90

[headers]
Authorization = "token {token}"

[generation]
max-examples = {max_examples}

[checks.missing_required_header]
enabled = false

[dictionaries.profile]
values = ["local", "lsf"]

[dictionaries.count]
values = [0, 1, 2]

[[operations]]
include-name = "POST /api/clusters"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "403", "404", "409", "422"]
parameters = {{ "body.profile" = {{ dictionary = "profile", probability = 0.5 }} }}

[[operations]]
include-name = "PATCH /api/clusters/{{id}}"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "403", "404", "409", "422"]
parameters = {{ {pin}"body.workers" = {{ dictionary = "count", probability = 0.5 }}, \
"body.adapt.minimum" = {{ dictionary = "count", probability = 0.5 }}, \
"body.adapt.maximum" = {{ dictionary = "count", probability = 0.5 }} }}

[[operations]]
include-name = "GET /api/clusters/{{id}}/jobs/{{job_id}}/log"
checks.positive_data_acceptance.expected-statuses = ["2xx", "403", "404"]

[[operations]]
include-path-regex = "/dashboards?/"
enabled = false
"""
# A running cluster that GET and PATCH hit most of the time, instead of random ids (404).
# Schemathesis takes `parameters` from the first matching [[operations]], so PATCH gets its pin
# inline ({pin}) rather than from this entry.
PIN = '"path.id" = { dictionary = "cluster", probability = 0.8 }, '
PINNED_TEMPLATE = """
[dictionaries.cluster]
values = ["{cluster_id}"]

[[operations]]
include-name = "GET /api/clusters/{{id}}"
parameters = {{ {pin}}}
"""


@dataclass
class Target:
    server: ServerProcess
    sim: LsfSim
    root: Path

    @property
    def document_url(self) -> str:
        return self.server.url + "pangeo-hpc/api/openapi.json"

    def config(self, pinned_cluster: str | None = None) -> Path:
        text = CONFIG_TEMPLATE.format(
            base_url=self.server.url + "pangeo-hpc",
            token=self.server.token,
            max_examples=MAX_EXAMPLES,
            pin="" if pinned_cluster is None else PIN,
        )
        if pinned_cluster is not None:
            text += PINNED_TEMPLATE.format(cluster_id=pinned_cluster, pin=PIN.rstrip(", "))
        path = self.root / f"schemathesis-{pinned_cluster or 'links'}.toml"
        path.write_text(text)
        return path


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    root = tmp_path_factory.mktemp("fuzz")
    sim = LsfSim(root)
    server = ServerProcess(
        root / "server",
        env={**sim.env, "PYTHONPATH": REPO_ROOT},
        pangeo_config={"state_dir": str(root / "state"), **PANGEO_CONFIG},
    )
    try:
        yield Target(server.start(timeout=120), sim, root)
    finally:
        server.stop()
        sim.cleanup()


def delete_every_cluster(server: ServerProcess) -> None:
    code, listing = server.api("GET", "clusters")
    assert code == 200, (code, listing)
    for cluster in listing["clusters"]:
        code, body = server.api("DELETE", f"clusters/{cluster['id']}")
        assert code in (204, 404), (cluster["id"], code, body)


def wait_until_started(server: ServerProcess, cluster_id: str) -> None:
    def started() -> bool:
        code, cluster = server.api("GET", f"clusters/{quote(cluster_id, safe='')}")
        return code != 200 or cluster["status"] != "starting"

    wait_until(started, f"cluster {cluster_id} leaving status 'starting'", timeout=WAIT_S)


def assert_serves_and_left_nothing(target: Target) -> None:
    server = target.server
    assert server.proc is not None and server.proc.poll() is None, server.log_tail()
    code, body = server.api("GET", "clusters")
    assert code == 200, (code, body)
    delete_every_cluster(server)
    code, body = server.api("GET", "clusters")
    assert (code, body) == (200, {"clusters": []})
    # DELETE answers once the scheduler confirms its jobs ended: nothing may still be queued.
    unfinished = [r for r in target.sim.records() if r["STAT"] not in ("DONE", "EXIT")]
    assert unfinished == [], unfinished
    log = server.log_path.read_text(errors="replace")
    server_errors = re.findall(r".*(?:\] 5\d\d [A-Z]+ |Uncaught exception).*", log)
    assert server_errors == [], "\n".join(server_errors[:20])


def test_every_operation_conforms(target: Target, tmp_path: Path) -> None:
    """Examples, coverage (boundary and invalid values, other methods, no credentials) and
    random fuzzing of every operation, by schemathesis' command line as CI would run it."""
    code, pinned = target.server.api("POST", "clusters", {"profile": "lsf", "workers": 1})
    assert code == 201, pinned
    wait_until_started(target.server, pinned["id"])
    started = time.monotonic()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            f"--config-file={target.config(pinned['id'])}",
            "run",
            target.document_url,
            "--phases=examples,coverage,fuzzing",
            "--report=json",
            f"--report-dir={tmp_path}",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,  # schemathesis keeps its caches in the working directory
        timeout=CLI_TIMEOUT_S,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-15000:]
    report = json.loads(next(tmp_path.glob("json-*.json")).read_text())
    # Every operation of the document but the dashboard proxy's.
    assert report["operations"]["tested"] == report["operations"]["selected"] == 7, report
    assert report["failures"] == [] and report["errors"] == [], output[-15000:]
    # Requests did reach real clusters, not only validation and 404s.
    accepted = {
        operation: sum(phase["accepted"] for phase in rates.values())
        for operation, rates in report["valid_rates"].items()
    }
    for operation in ("POST /api/clusters", "GET /api/clusters/{id}", "PATCH /api/clusters/{id}"):
        assert accepted.get(operation, 0) > 0, (operation, report["valid_rates"])
    print(
        f"schemathesis: {report['operations']['tested']} operations, "
        f"{report['test_cases']['generated']} cases in {time.monotonic() - started:.0f} s"
    )
    assert_serves_and_left_nothing(target)


def load_schema(target: Target) -> Any:
    config = schemathesis.Config.from_path(target.config())
    return schemathesis.openapi.from_url(target.document_url, config=config)


def test_chain_create_get_patch_delete(target: Target) -> None:
    """The chain every client follows, each answer checked against the document by every
    schemathesis check (schema, status, headers, use after delete, ...)."""
    schema = load_schema(target)
    clusters = schema["/api/clusters"]
    one = schema["/api/clusters/{id}"]
    auth = {"headers": {"Authorization": f"token {target.server.token}"}}

    created = clusters["POST"].Case(body={"profile": "lsf", "workers": 1}).call_and_validate(**auth)
    assert created.status_code == 201, created.text
    cluster_id = created.json()["id"]
    assert created.headers["location"][0].endswith(f"/pangeo-hpc/api/clusters/{cluster_id}")
    by_id = {"id": cluster_id}
    assert one["GET"].Case(path_parameters=by_id).call_and_validate(**auth).status_code == 200
    wait_until_started(target.server, cluster_id)
    for change in ({"workers": 2}, {"adapt": {"minimum": 0, "maximum": 2}}, {"adapt": None}):
        patched = one["PATCH"].Case(path_parameters=by_id, body=change).call_and_validate(**auth)
        assert patched.status_code == 200, (change, patched.text)
    deleted = one["DELETE"].Case(path_parameters=by_id).call_and_validate(**auth)
    assert deleted.status_code == 204, deleted.text
    gone = one["GET"].Case(path_parameters=by_id).call_and_validate(**auth)
    assert gone.status_code == 404, gone.text
    assert_serves_and_left_nothing(target)


def test_stateful_scenarios(target: Target) -> None:
    """Random scenarios that follow the document's links (POST 201 -> GET / PATCH / DELETE the
    id it returned, GET -> PATCH / DELETE, ...) with generated bodies. Each scenario deletes what
    it created, so that max_clusters does not stop the next one."""
    schema = load_schema(target)
    seen: set[tuple[str, str, int]] = set()
    server = target.server

    class Scenarios(schema.as_state_machine()):  # type: ignore[misc]
        def before_call(self, case: Any) -> None:
            super().before_call(case)
            if case.method == "PATCH":
                # As a client would: scale once the cluster has started (PATCH while it starts
                # is a 409, which the coverage and fuzzing phases already see).
                wait_until_started(server, case.path_parameters["id"])

        def after_call(self, response: Any, case: Any) -> None:
            super().after_call(response, case)
            seen.add((case.method, case.path, response.status_code))

        def teardown(self) -> None:
            delete_every_cluster(server)
            super().teardown()

    # Hypothesis replays earlier choices against a live server, whose answers may differ on the
    # replay (a cluster still starting one time, running the next): it then calls its own
    # generation inconsistent (FlakyStrategyDefinition), which says nothing about the API. That
    # gets one more run; any failed check of an answer fails at once.
    for attempt in (1, 2):
        try:
            Scenarios.run(
                settings=settings(
                    max_examples=STATEFUL_SCENARIOS,
                    stateful_step_count=STATEFUL_STEPS,
                    deadline=None,
                    database=None,
                    suppress_health_check=list(HealthCheck),
                )
            )
            break
        except FlakyStrategyDefinition:
            if attempt == 2:
                raise
            delete_every_cluster(server)
    # Without a created cluster no link is ever followed: the scenarios would test nothing.
    assert ("POST", "/api/clusters", 201) in seen, sorted(seen)
    print(f"stateful: {len(seen)} distinct (method, path, status): {sorted(seen)}")
    assert_serves_and_left_nothing(target)
