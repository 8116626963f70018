"""Per-cluster TLS credentials: a bare tcp:// scheduler runs the code of anyone on the centre's
network who can reach it, as the user. Each cluster gets its own self-signed certificate, kept
in files that only the user can read, on the shared home that compute nodes see as well."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import StateNotWritable

if TYPE_CHECKING:
    from distributed.security import Security


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
        from distributed.security import Security

        credentials = cls(directory)
        # One certificate for scheduler, workers and clients, as Security.temporary() makes it.
        temporary = Security.temporary()
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            directory.chmod(0o700)
            for path, text in (
                (credentials.ca_file, temporary.tls_ca_file),
                (credentials.cert_file, temporary.tls_client_cert),
                (credentials.key_file, temporary.tls_client_key),
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
