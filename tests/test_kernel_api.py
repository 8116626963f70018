"""From a kernel: `pangeo_hpc_ext.kernel` lists this user's clusters and connects a Client by name,
TLS included, with no address to copy and no Jupyter token in the kernel."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api
from tests.support.kernel import Kernel

LIST_AND_COMPUTE = """
import json
from pangeo_hpc_ext.kernel import clusters, connect
listed = [(c.name, c.origin, c.status, c.workers) for c in clusters()]
client = connect("from-sidebar")
answer = client.submit(sum, [40, 2]).result(timeout=60)
print(json.dumps({"listed": listed, "answer": answer, "address": client.scheduler.address}))
client.close()
"""
UNKNOWN_NAME = """
import json
from pangeo_hpc_ext.kernel import connect
try:
    connect("no-such-cluster")
except LookupError as error:
    print(json.dumps(str(error)))
"""
# A notebook cluster with dask's temporary TLS credentials, reached again by name (as another
# notebook would): the server's listing carries what the Client needs.
TLS_BY_NAME = """
import json, time
from distributed import LocalCluster
from pangeo_hpc_ext.kernel import clusters, connect
cluster = LocalCluster(n_workers=1, threads_per_worker=1, memory_limit="1GB", host="127.0.0.1",
                       dashboard_address="127.0.0.1:0", security=True, name="tls-notebook")
deadline = time.monotonic() + 60
while not any(c.name == "tls-notebook" for c in clusters()):
    assert time.monotonic() < deadline, "the notebook cluster never reached the listing"
    time.sleep(0.2)
client = connect("tls-notebook")
answer = client.submit(sum, [1, 2]).result(60)
origin = [c.origin for c in clusters() if c.name == "tls-notebook"]
print(json.dumps({"address": client.scheduler.address, "answer": answer, "origin": origin}))
client.close()
cluster.close()
"""


async def test_kernel_lists_sidebar_cluster_and_connects_by_name(kernel: Kernel, api: Api) -> None:
    code, cluster = await api.call(
        "POST",
        "clusters",
        body={"profile": "local", "workers": 1, "name": "from-sidebar", "options": {}},
    )
    assert code == 201, cluster
    cluster = await api.wait_for(
        cluster["id"],
        lambda c: c["status"] == "running" and c["workers"]["connected"] == 1,
        "the sidebar cluster running with its worker",
    )
    await kernel.start()
    seen = await kernel.run_json(LIST_AND_COMPUTE)
    assert ["from-sidebar", "jupyterlab", "running", 1] in seen["listed"]
    assert seen["answer"] == 42
    assert seen["address"] == cluster["scheduler_address"]
    message = await kernel.run_json(UNKNOWN_NAME)
    assert "no-such-cluster" in message and "from-sidebar" in message


async def test_kernel_connects_to_a_tls_notebook_cluster_by_name(kernel: Kernel, api: Any) -> None:
    await kernel.start()
    seen = await kernel.run_json(TLS_BY_NAME, timeout=120)
    assert seen["address"].startswith("tls://127.0.0.1:")
    assert seen["answer"] == 3
    assert seen["origin"] == ["notebook"]
