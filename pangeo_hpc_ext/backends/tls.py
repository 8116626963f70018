"""Per-cluster TLS credentials: a bare tcp:// scheduler runs the code of anyone on the centre's
network who can reach it, as the user. Each cluster gets its own self-signed certificate, kept
in files that only the user can read, on the shared home that compute nodes see as well.

The key is made here with `cryptography`, not with distributed's `Security.temporary()`: that
would import all of distributed into the server (2 s on a loaded login node, at the first
cluster's start) for an RSA key that takes 0.1-0.25 s more to make than an EC one."""

from __future__ import annotations

import datetime
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import StateNotWritable

if TYPE_CHECKING:
    from distributed.security import Security


# distributed checks the peer's certificate against the CA but not its host name: the name is
# only a label, the one Security.temporary() gives.
CERTIFICATE_NAME = "dask-internal"
CERTIFICATE_DAYS = 365


def self_signed_pair() -> tuple[str, str]:
    """One certificate (its own CA) and its key, PEM, for scheduler, workers and clients, as
    Security.temporary() makes them, with an EC P-256 key instead of RSA 2048: made in under
    a millisecond, and each TLS handshake (one per worker, nanny and client connection) signs
    faster with it too."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CERTIFICATE_NAME)])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(CERTIFICATE_NAME)]), False)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        # A minute back: a compute node whose clock is a little behind still accepts it.
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=CERTIFICATE_DAYS))
        .sign(key, hashes.SHA256())
    )
    key_text = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode(), key_text.decode()


@dataclass(frozen=True)
class ClusterCredentials:
    directory: Path

    @property
    def ca_file(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def cert_file(self) -> Path:
        return self.directory / "cert.pem"

    @property
    def key_file(self) -> Path:
        return self.directory / "key.pem"

    @classmethod
    def create(cls, directory: Path) -> ClusterCredentials:
        """Raises StateNotWritable (nothing left behind) when the directory cannot be written."""
        credentials = cls(directory)
        certificate, key = self_signed_pair()
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            directory.chmod(0o700)
            for path, text in (
                (credentials.ca_file, certificate),
                (credentials.cert_file, certificate),
                (credentials.key_file, key),
            ):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as f:
                    f.write(text)
        except OSError as error:
            credentials.remove()
            raise StateNotWritable(
                f"the cluster's TLS credentials cannot be written under {directory} "
                f"({error.strerror or error}); check that state_dir has space and is writable"
            ) from error
        return credentials

    def security(self) -> Security:
        from distributed.security import Security

        ca, cert, key = str(self.ca_file), str(self.cert_file), str(self.key_file)
        return Security(
            tls_ca_file=ca,
            tls_client_cert=cert,
            tls_client_key=key,
            tls_scheduler_cert=cert,
            tls_scheduler_key=key,
            tls_worker_cert=cert,
            tls_worker_key=key,
            require_encryption=True,
        )

    def to_json(self) -> dict[str, str]:
        return {
            "ca_file": str(self.ca_file),
            "cert_file": str(self.cert_file),
            "key_file": str(self.key_file),
        }

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)
