"""A throw-away certificate authority for the HTTPS mode.

Bearer tokens (and so user delegation SAS) need TLS: the SDK refuses them over plain HTTP and
Azurite's `--oauth basic` needs `--cert`. A CA made on the fly keeps every run self-contained.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass(frozen=True, kw_only=True)
class CertFiles:
    """PEM files written for one stack: the CA bundle to trust, and the server's cert and key."""

    ca_path: Path
    cert_path: Path
    key_path: Path

    def server_context(self) -> ssl.SSLContext:
        """TLS context for serving (the copy engine's public port)."""
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.cert_path, self.key_path)
        return ctx

    def client_context(self) -> ssl.SSLContext:
        """TLS context for calling Azurite and external sources: system CAs plus ours."""
        ctx = ssl.create_default_context()
        ctx.load_verify_locations(cafile=str(self.ca_path))
        return ctx


def make_certs(directory: Path, hosts: tuple[str, ...] = ("127.0.0.1", "localhost")) -> CertFiles:
    """Create a CA and a server certificate for `hosts`, written as PEM files in `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="durable-blob-copy devhost")
    server = ca.issue_cert(*hosts)
    files = CertFiles(
        ca_path=directory / "ca.pem",
        cert_path=directory / "server.pem",
        key_path=directory / "server-key.pem",
    )
    ca.cert_pem.write_to_path(str(files.ca_path))
    # Azurite wants the leaf first, then the chain, in the --cert file.
    with files.cert_path.open("wb") as out:
        for blob in server.cert_chain_pems:
            out.write(blob.bytes())
    server.private_key_pem.write_to_path(str(files.key_path))
    files.key_path.chmod(0o600)
    return files
