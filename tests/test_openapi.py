"""The OpenAPI document as a running server serves it: under our prefix, with the server's
base_url and profiles, equal to what the module builds; and a 405 says which methods exist."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from pangeo_hpc_ext.server.app import extension_routes
from pangeo_hpc_ext.server.openapi import openapi_document
from tests.conftest import Api
from tests.test_lsf_cluster import LSF_OPTIONS


@pytest.fixture
def pangeo_config() -> dict[str, Any]:
    return {"profiles": {"small": {"backend": "local"}, "lsf": {"defaults": LSF_OPTIONS}}}


async def test_served_document_is_the_built_one(api: Api, jp_base_url: str) -> None:
    code, served = await api.call("GET", "openapi.json")
    assert code == 200
    document = openapi_document(jp_base_url, ["small", "lsf"], routes=extension_routes())
    expected = json.loads(json.dumps(document))
    assert served == expected
    assert served["servers"][0]["url"] == jp_base_url + "pangeo-hpc"
    examples = served["paths"]["/api/clusters"]["post"]["requestBody"]["content"][
        "application/json"
    ]["examples"]
    assert {"profile": "small", "workers": 1} in [e["value"] for e in examples.values()]


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", ("clusters",), "GET, POST"),
        ("POST", ("clusters", "0123456789abcdef"), "GET, PATCH, DELETE"),
        ("DELETE", ("profiles",), "GET"),
        ("PATCH", ("openapi.json",), "GET"),
    ],
)
async def test_405_lists_the_allowed_methods(
    started_server: Any, jp_fetch: Any, method: str, path: tuple[str, ...], allowed: str
) -> None:
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch(
            "pangeo-hpc", "api", *path, method=method, body=None if method == "DELETE" else "{}"
        )
    response = caught.value.response
    assert response is not None and response.code == 405
    assert response.headers["Allow"] == allowed
    assert "message" in json.loads(response.body)
