"""A cluster's TLS credentials: made in the server without distributed, with a key that
distributed's TLS accepts."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from pangeo_hpc_ext.backends.tls import ClusterCredentials

REPO = Path(__file__).resolve().parents[2]

# What the server does at a cluster's start, in a process of its own so that nothing imported
# by the tests counts.
CREATE_IN_A_FRESH_PROCESS = """
import sys
from pathlib import Path
from pangeo_hpc_ext.backends.tls import ClusterCredentials
ClusterCredentials.create(Path(sys.argv[1]))
print(sorted(m for m in ("distributed", "dask_jobqueue") if m in sys.modules))
"""


def test_credentials_are_made_without_importing_distributed(tmp_path: Path) -> None:
    # distributed's import took 2 s of a cluster's start on a loaded machine, in the server.
    out = subprocess.run(
        [sys.executable, "-c", CREATE_IN_A_FRESH_PROCESS, str(tmp_path / "c")],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert out.stdout.strip() == "[]", f"imported at credential creation: {out.stdout}"
    assert (tmp_path / "c" / "key.pem").exists()


def test_one_ec_certificate_is_its_own_authority(tmp_path: Path) -> None:
    credentials = ClusterCredentials.create(tmp_path / "c")
    certificate = x509.load_pem_x509_certificate(credentials.cert_file.read_bytes())
    key = serialization.load_pem_private_key(credentials.key_file.read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    assert certificate.public_key() == key.public_key()
    assert credentials.ca_file.read_bytes() == credentials.cert_file.read_bytes()
    assert certificate.issuer == certificate.subject
    # Each cluster has its own key.
    other = ClusterCredentials.create(tmp_path / "d")
    assert other.key_file.read_bytes() != credentials.key_file.read_bytes()


def test_distributed_speaks_tls_with_them(tmp_path: Path) -> None:
    """Scheduler, worker and client authenticate each other with the cluster's credentials, and
    a client without them is turned away."""
    from distributed import Client, Scheduler, Worker
    from distributed.security import Security

    security = ClusterCredentials.create(tmp_path / "c").security()
    stranger = ClusterCredentials.create(tmp_path / "other").security()

    async def main() -> None:
        async with (
            Scheduler(
                security=security, protocol="tls://", interface="lo", dashboard_address=":0"
            ) as scheduler,
            Worker(scheduler.address, security=security, interface="lo", nthreads=1),
            Client(scheduler.address, security=security, asynchronous=True) as client,
        ):
            assert scheduler.address.startswith("tls://127.0.0.1:")
            assert await client.submit(sum, [1, 2]) == 3
            refused = False
            try:
                async with Client(
                    scheduler.address, security=stranger, asynchronous=True, timeout="2s"
                ):
                    pass
            except OSError:
                refused = True
            assert refused, "a client with another cluster's certificate connected"
            assert isinstance(security, Security)

    asyncio.run(asyncio.wait_for(main(), 60))
