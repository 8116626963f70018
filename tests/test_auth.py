"""Every route of ours requires Jupyter's auth, and mutating routes honour XSRF. The routes are
found by walking the server's router, so a new route is covered without editing this test."""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

from tornado.httpclient import HTTPResponse
from tornado.routing import PathMatches, Rule

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _rules(router: Any) -> list[Rule]:
    found = []
    for rule in getattr(router, "rules", []):
        found.append(rule)
        found.extend(_rules(rule.target))
    return found


# Values tried for each group of a route's pattern: auth must be checked before an id is looked up.
GROUP_VALUES = ("0123456789abcdef", "nb-0123456789abcdef", "8787", "/status", "status", "")


def concrete_path(regex: re.Pattern[str]) -> str:
    """A request path that the route's pattern matches."""
    group = re.compile(r"\((?:[^()]|\([^()]*\))*\)")
    template = regex.pattern.rstrip("$")
    for values in itertools.product(GROUP_VALUES, repeat=regex.groups):
        chosen = iter(values)
        path = group.sub(lambda _, chosen=chosen: next(chosen), template).replace("\\", "")
        if regex.fullmatch(path):
            return path
    raise AssertionError(f"no request path matches {regex.pattern}")


def our_paths(serverapp: Any) -> list[str]:
    paths = []
    for rule in _rules(serverapp.web_app.default_router) + _rules(
        serverapp.web_app.wildcard_router
    ):
        target = rule.target
        if not (isinstance(target, type) and target.__module__.startswith("pangeo_hpc_ext")):
            continue
        assert isinstance(rule.matcher, PathMatches)
        paths.append(concrete_path(rule.matcher.regex))
    return sorted(set(paths))


async def raw(client: Any, method: str, path: str, **kwargs: Any) -> HTTPResponse:
    body = kwargs.pop("body", None)
    if method in ("POST", "PUT", "PATCH") and body is None:
        body = "{}"
    return await client.fetch(
        path,
        method=method,
        body=body,
        follow_redirects=False,
        allow_nonstandard_methods=True,
        raise_error=False,
        **kwargs,
    )


async def test_routes_are_found(started_server: Any) -> None:
    paths = our_paths(started_server)
    assert any(p.endswith("/pangeo-hpc/api/clusters") for p in paths), paths
    assert any(p.endswith("/pangeo-hpc/api/profiles") for p in paths), paths
    assert any(re.search(r"/pangeo-hpc/api/clusters/[0-9a-f]+$", p) for p in paths), paths


async def test_every_route_and_method_needs_a_login(
    started_server: Any, http_server_client: Any
) -> None:
    for path in our_paths(started_server):
        for method in METHODS:
            response = await raw(http_server_client, method, path)
            assert response.code == 403, (method, path, response.code, response.body[:200])
            # A wrong token is no better than none.
            response = await raw(
                http_server_client, method, path, headers={"Authorization": "token nope"}
            )
            assert response.code == 403, (method, path, "bad token", response.code)


async def test_cookie_login_needs_xsrf_for_mutations(
    started_server: Any, http_server_client: Any, jp_base_url: str
) -> None:
    token = started_server.identity_provider.token
    login = await raw(http_server_client, "GET", f"{jp_base_url}lab?token={token}")
    cookies = [c.split(";", 1)[0] for c in login.headers.get_list("Set-Cookie")]
    assert any(c.startswith("username-") for c in cookies), cookies
    cookie_header = "; ".join(cookies)
    xsrf = next(c.split("=", 1)[1] for c in cookies if c.startswith("_xsrf="))
    clusters = f"{jp_base_url}pangeo-hpc/api/clusters"

    ok = await raw(http_server_client, "GET", clusters, headers={"Cookie": cookie_header})
    assert ok.code == 200, ok.body
    # The same logged-in browser, but a request forged by another site: no XSRF token.
    body = json.dumps({"profile": "local", "workers": 0})
    forged = await raw(
        http_server_client, "POST", clusters, body=body, headers={"Cookie": cookie_header}
    )
    assert forged.code == 403, forged.body
    listing = await raw(http_server_client, "GET", clusters, headers={"Cookie": cookie_header})
    assert json.loads(listing.body) == {"clusters": []}

    allowed = await raw(
        http_server_client,
        "POST",
        clusters,
        body=body,
        headers={"Cookie": cookie_header, "X-XSRFToken": xsrf},
    )
    assert allowed.code == 201, allowed.body
    cid = json.loads(allowed.body)["id"]
    gone = await raw(
        http_server_client,
        "DELETE",
        f"{clusters}/{cid}",
        headers={"Cookie": cookie_header, "X-XSRFToken": xsrf},
    )
    assert gone.code == 204
