"""The scheduler away: a command that hangs or LSF down. Job states stay as last read with a
warning, the API keeps answering, and everything recovers when LSF is back."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api
from tests.test_lsf_cluster import start_lsf


@pytest.fixture
def pangeo_config() -> dict[str, Any]:
    return {"scheduler_timeout": 2.0, "job_poll_interval": 0.25}


@pytest.mark.parametrize(
    ("knob", "words"),
    [("LSFSIM_HANG", "no answer within 2 s"), ("LSFSIM_DOWN", "LSF is down")],
)
async def test_scheduler_away_keeps_the_api_answering_and_recovers(
    api: Api, lsf_env, monkeypatch: pytest.MonkeyPatch, knob: str, words: str
) -> None:
    cid = (await start_lsf(api, 1))["id"]
    cluster = await api.wait_for(
        cid,
        lambda c: c["jobs"] and c["jobs"][0]["state"] == "running",
        "the job running",
    )
    monkeypatch.setenv(knob, "1")
    cluster = await api.wait_for(
        cid, lambda c: c["warning"] and words in c["warning"], f"a warning saying {words!r}"
    )
    # Stale, not lost: the job is still listed as last read.
    assert [j["native_state"] for j in cluster["jobs"]] == ["RUN"]
    # Reads never wait on the scheduler, even while its commands hang.
    for path in (("clusters",), ("clusters", cid), ("profiles",)):
        code, _ = await api.call("GET", *path)
        assert code == 200, path
    monkeypatch.delenv(knob)
    await api.wait_for(cid, lambda c: c["warning"] is None, "the warning clearing once LSF is back")
    code, _ = await api.call("DELETE", "clusters", cid)
    assert code == 204
    assert [r for r in lsf_env.records() if r["STAT"] in ("RUN", "PEND")] == []
