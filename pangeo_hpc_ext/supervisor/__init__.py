"""One process per cluster: it holds the dask cluster (scheduler, jobs, worker bookkeeping), so
that the cluster outlives a restart of the Jupyter server, and the server's event loop runs none
of it. The server drives each supervisor over a Unix socket only this user can reach
(`host.SupervisorHost`); the supervisor keeps its cluster's record in `state_dir`
(`records.py`) so that the next server finds it again."""

from .host import SupervisorHost

__all__ = ["SupervisorHost"]
