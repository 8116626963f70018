"""Properties of the request target the dashboard proxy sends upstream, for any path and query:
the path arrives as the browser meant it (an encoded "?" or "#" stays in the path), dot segments
never pass, and no Jupyter credential argument survives in any spelling while every other
argument passes unchanged and in order."""

from __future__ import annotations

from urllib.parse import parse_qsl, quote, unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tornado import web

from pangeo_hpc_ext.server.proxy import CREDENTIAL_ARGUMENTS, request_target

segment = st.text(min_size=1, max_size=12).filter(lambda s: "/" not in s and s not in (".", ".."))
path = st.lists(segment, max_size=6).map(lambda parts: "/" + "/".join(parts))
# Argument names as a browser or an attacker may spell them: credentials, their encodings,
# look-alikes, and anything else.
name = st.one_of(
    st.sampled_from(sorted(CREDENTIAL_ARGUMENTS)),
    st.sampled_from(["%74oken", "_%78srf", "tok%65n", "token ", "Token", "tokens", "xsrf"]),
    st.text(min_size=1, max_size=8).map(lambda s: quote(s, safe="")),
)
value = st.text(max_size=12).map(lambda s: quote(s, safe=""))
query = st.lists(st.tuples(name, value), max_size=6)


def decoded_name(raw: str) -> str:
    # How tornado (and so Jupyter and Bokeh) reads an argument's name.
    return dict(parse_qsl(f"{raw}=", keep_blank_values=True)).popitem()[0] if raw else raw


@given(path, query)
def test_paths_pass_as_meant_and_credentials_never(
    proxied: str, pairs: list[tuple[str, str]]
) -> None:
    raw_query = "&".join(f"{k}={v}" for k, v in pairs)
    target = request_target(proxied, raw_query)

    sent_path, _, sent_query = target.partition("?")
    assert sent_path.startswith("/")
    assert "#" not in target
    assert unquote(sent_path) == proxied

    sent = [part.split("=", 1)[0] for part in sent_query.split("&") if part]
    assert not {decoded_name(n) for n in sent} & CREDENTIAL_ARGUMENTS, target
    expected = [f"{k}={v}" for k, v in pairs if decoded_name(k) not in CREDENTIAL_ARGUMENTS]
    assert [part for part in sent_query.split("&") if part] == expected


@given(st.lists(segment, max_size=3), st.sampled_from([".", ".."]), st.lists(segment, max_size=3))
def test_dot_segments_never_pass(before: list[str], dots: str, after: list[str]) -> None:
    with pytest.raises(web.HTTPError) as refused:
        request_target("/" + "/".join([*before, dots, *after]), "")
    assert refused.value.status_code == 400
