"""The OpenAPI document without a server: valid OpenAPI 3.1, built from the very schemas the
handlers validate with, covering every route and method the server has, with examples that
validate, and in step with docs/openapi.json and docs/rest.md."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator

from pangeo_hpc_ext.errors import FieldError, InvalidOptions, SchedulerCommandFailed
from pangeo_hpc_ext.schedulers.base import JobInfo, JobState
from pangeo_hpc_ext.server import handlers, schemas
from pangeo_hpc_ext.server.app import extension_routes
from pangeo_hpc_ext.server.http_errors import HTTP_STATUS
from pangeo_hpc_ext.server.notebook_handlers import NotebookClusterHandler
from pangeo_hpc_ext.server.openapi import (
    COMPONENT_SCHEMAS,
    UndocumentedRoute,
    openapi_document,
    route_template,
    served_methods,
)
from pangeo_hpc_ext.server.openapi_files import render, render_typescript
from pangeo_hpc_ext.server.openapi_operations import EXAMPLE_CLUSTER
from pangeo_hpc_ext.server.openapi_typescript import Unsupported, typescript
from pangeo_hpc_ext.server.proxy import DashboardProxyHandler

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
REST_TYPES = REPO / "src" / "generated" / "rest-types.ts"
METHODS = ("get", "post", "patch", "delete")
JSON = "application/json"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return openapi_document(
        base_url="/jupyter/", profiles=["local", "lsf", "bigmem"], routes=extension_routes()
    )


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, item[method])
        for path, item in document["paths"].items()
        for method in METHODS
        if method in item
    ]


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    return document["components"]["schemas"][ref.rsplit("/", 1)[1]]


def test_valid_openapi_3_1(document: dict[str, Any]) -> None:
    errors = [error.message for error in OpenAPIV31SpecValidator(document).iter_errors()]
    assert errors == []
    assert document["openapi"].startswith("3.1.")
    assert document["servers"] == [
        {"url": "/jupyter/pangeo-hpc", "description": document["servers"][0]["description"]}
    ]


def test_component_schemas_are_valid_json_schemas() -> None:
    for schema in COMPONENT_SCHEMAS.values():
        Draft202012Validator.check_schema(schema)


def test_request_bodies_are_the_handlers_own_schemas(document: dict[str, Any]) -> None:
    bodies = {
        (path, method): resolve(document, op["requestBody"]["content"][JSON]["schema"])
        for path, method, op in operations(document)
        if "requestBody" in op
    }
    assert bodies.keys() == {("/api/clusters", "post"), ("/api/clusters/{id}", "patch")}
    assert bodies["/api/clusters", "post"] is handlers.CREATE_BODY is schemas.CREATE_BODY
    assert bodies["/api/clusters/{id}", "patch"] is handlers.PATCH_BODY is schemas.PATCH_BODY


def route_pattern(template: str) -> str:
    """A document path as a server URL it stands for, below the server's base_url."""
    return "pangeo-hpc" + re.sub(r"\{[^}]+\}", "1", template)


def handlers_for(url: str) -> list[Any]:
    return [route[1] for route in extension_routes() if re.fullmatch(route[0], url)]


def test_every_route_and_method_is_documented_and_nothing_else(document: dict[str, Any]) -> None:
    routes = extension_routes()
    # The app's real routes: ours, the notebook clusters' and both dashboard proxies'.
    assert {route[1] for route in routes} >= {
        *(handler for _, handler in handlers.API_HANDLERS),
        NotebookClusterHandler,
        DashboardProxyHandler,
    }
    served = {
        (route_template(route[0]), method)
        for route in routes
        for method in served_methods(route[1])
    }
    documented = {(path, method) for path, method, _ in operations(document)}
    assert documented == served
    assert ("/dashboards/{port}/{path}", "get") in documented
    # Each documented path stands for URLs the server routes to a handler serving its methods.
    for path, method in documented:
        assert any(method in served_methods(h) for h in handlers_for(route_pattern(path))), path


def test_a_route_without_description_fails_the_document() -> None:
    unknown = ("pangeo-hpc/api/clusters/([^/]+)/restart", handlers.ClusterHandler)
    with pytest.raises(UndocumentedRoute, match="restart"):
        openapi_document(routes=[*extension_routes(), unknown])
    without_log = [r for r in extension_routes() if r[1] is not handlers.JobLogHandler]
    with pytest.raises(UndocumentedRoute, match="log"):
        openapi_document(routes=without_log)


def test_every_error_status_of_the_server_is_documented(document: dict[str, Any]) -> None:
    statuses = {status for _, _, op in operations(document) for status in op["responses"]}
    assert {str(code) for code in HTTP_STATUS.values()} <= statuses
    for path, method, op in operations(document):
        assert "403" in op["responses"], (path, method, "Jupyter auth answers 403 everywhere")


def test_mutating_routes_document_xsrf_and_the_token_scheme(document: dict[str, Any]) -> None:
    scheme = document["components"]["securitySchemes"]["token"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "Authorization")
    assert document["security"] == [{"token": []}]
    for _path, method, op in operations(document):
        if method != "get":
            assert "XSRF" in op["description"], (method, op["operationId"])


def test_post_links_lead_to_the_cluster_operations(document: dict[str, Any]) -> None:
    operation_ids = {op["operationId"] for _, _, op in operations(document)}
    created = document["paths"]["/api/clusters"]["post"]["responses"]["201"]
    assert "Location" in created["headers"]
    links = created["links"]
    assert {link["operationId"] for link in links.values()} == {
        "getCluster",
        "patchCluster",
        "deleteCluster",
    }
    for link in links.values():
        assert link["operationId"] in operation_ids
        assert link["parameters"] == {"id": "$response.body#/id"}


def strict_validator(schema: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def test_every_example_validates_against_its_schema(document: dict[str, Any]) -> None:
    checked = 0
    for path, method, op in operations(document):
        media_types = [op.get("requestBody", {}).get("content", {})]
        media_types += [response.get("content", {}) for response in op["responses"].values()]
        for content in media_types:
            for media in content.values():
                schema = resolve(document, media["schema"])
                values = [media["example"]] if "example" in media else []
                values += [example["value"] for example in media.get("examples", {}).values()]
                for value in values:
                    errors = [e.message for e in strict_validator(schema).iter_errors(value)]
                    assert errors == [], (path, method, value)
                    checked += 1
    assert checked >= 10
    assert {"profile": "bigmem", "workers": 1} in [
        example["value"]
        for example in document["paths"]["/api/clusters"]["post"]["requestBody"]["content"][JSON][
            "examples"
        ].values()
    ]


@pytest.mark.parametrize("state", list(JobState))
def test_jobs_serialize_to_the_job_schema(state: JobState) -> None:
    job = JobInfo(
        job_id="17",
        state=state,
        native_state="RUN",
        reason="TERM_OWNER: job killed by owner" if state.ended else None,
        hosts=("node01",),
        submitted="2026-11-26T09:14:05+01:00",
        started=None,
        walltime_left_s=60 if state is JobState.RUNNING else None,
    )
    assert list(strict_validator(schemas.JOB).iter_errors(job.to_json())) == []


def test_errors_serialize_to_the_error_schema() -> None:
    errors = [FieldError(f"options.f{i}", "x" * 1000) for i in range(80)]
    for error in (
        InvalidOptions("bad " * 1000, errors),
        SchedulerCommandFailed("bsub", 255, "bigmem2: No such queue. Job not submitted."),
    ):
        assert list(strict_validator(schemas.ERROR).iter_errors(error.to_json())) == []


def test_cluster_example_matches_the_cluster_schema() -> None:
    assert list(strict_validator(schemas.CLUSTER).iter_errors(EXAMPLE_CLUSTER)) == []
    assert set(EXAMPLE_CLUSTER) == set(schemas.CLUSTER["required"])


def test_docs_openapi_json_is_up_to_date() -> None:
    committed = (DOCS / "openapi.json").read_text()
    assert committed == render(), (
        "docs/openapi.json is stale: "
        "python -m pangeo_hpc_ext.server.openapi_files > docs/openapi.json"
    )


def test_generated_typescript_types_are_up_to_date() -> None:
    assert REST_TYPES.read_text() == render_typescript(), (
        "src/generated/rest-types.ts is stale: "
        "python -m pangeo_hpc_ext.server.openapi_files --typescript > src/generated/rest-types.ts"
    )


def test_typescript_types_name_every_property_of_every_body() -> None:
    text = render_typescript()
    for name, schema in COMPONENT_SCHEMAS.items():
        assert f"export interface I{name} {{" in text, name
        for prop in schema.get("properties", {}):
            optional = "" if prop in schema.get("required", []) else "?"
            assert re.search(rf"^  {prop}{re.escape(optional)}:", text, re.MULTILINE), (name, prop)
    assert "status:\n    | 'starting'" in text
    assert "adapt: IAdaptBounds | null;" in text and "jobs: IJob[];" in text


def test_typescript_writer_refuses_what_it_cannot_type() -> None:
    schema = {"type": "object", "properties": {"x": {"oneOf": [{"type": "string"}]}}}
    with pytest.raises(Unsupported, match="oneOf"):
        typescript({"components": {"schemas": {"Odd": schema}}})


def test_rest_reference_covers_every_operation_and_status(document: dict[str, Any]) -> None:
    text = (DOCS / "rest.md").read_text()
    sections = re.split(r"^### ", text, flags=re.MULTILINE)[1:]
    by_heading = {section.splitlines()[0].strip(): section for section in sections}
    for path, method, op in operations(document):
        heading = f"`{method.upper()} {path.lstrip('/')}`"
        assert heading in by_heading, f"docs/rest.md has no section {heading}"
        for status in op["responses"]:
            if status != "default":
                assert re.search(rf"\b{status}\b", by_heading[heading]), (heading, status)
