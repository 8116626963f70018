"""jupyter-server-proxy's generic routes, closed unless the admin opts in.

Installing pangeo-hpc-ext enables jupyter-server-proxy (our dependency). Its `/proxy/<port>`,
`/proxy/absolute/<port>` and `/proxy/<host>:<port>` routes reach any port on the loopback
interface, forwarding the user's Authorization header, cookies and `?token=`, and return that
port's Set-Cookie and CORS headers on Jupyter's origin. Our dashboard routes do not need them.
Unless `c.PangeoHPC.allow_generic_proxy = True`, their rules get a handler that answers 404 and
names that setting. jupyter-server-proxy offers no setting for this: its host allowlist does not
apply to `/proxy/<port>`. The servers it launches itself (`c.ServerProxy.servers`, entry points)
keep their own routes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from jupyter_server.base.handlers import JupyterHandler
from jupyter_server_proxy.handlers import LocalProxyHandler, RemoteProxyHandler
from tornado import web
from tornado.routing import Rule, RuleRouter

GENERIC_HANDLERS = (LocalProxyHandler, RemoteProxyHandler)
OPT_IN = "c.PangeoHPC.allow_generic_proxy = True"


class GenericProxyClosed(JupyterHandler):
    """Every method, websocket upgrades included, of a closed generic route: 403 without a login,
    as on every route of ours, and 404 saying how to open it with one."""

    async def prepare(self) -> None:
        await super().prepare()
        raise web.HTTPError(404 if self.current_user else 403)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.set_header("Content-Type", "text/plain; charset=UTF-8")
        self.write(
            f"{status_code}: jupyter-server-proxy's generic /proxy/<port> route is off on this "
            f"server (pangeo-hpc-ext); an administrator turns it on with {OPT_IN}\n"
        )


def _rules(router: Any) -> Iterator[Rule]:
    for rule in getattr(router, "rules", []):
        yield rule
        if isinstance(rule.target, RuleRouter):
            yield from _rules(rule.target)


def close_generic_routes(application: web.Application) -> int:
    """Give every rule of a generic proxy handler our refusal instead; how many were changed.
    Idempotent: run at load and again at start, whatever order the extensions loaded in."""
    closed = 0
    for rule in _rules(application.default_router):  # the wildcard router is nested in it
        target = rule.target
        if isinstance(target, type) and issubclass(target, GENERIC_HANDLERS):
            rule.target, rule.target_kwargs = GenericProxyClosed, {}
            closed += 1
    return closed
