"""The lifecycle every local stand-in shares: a threaded HTTP(S) server on 127.0.0.1, started and stopped
by the fake that owns it, and the per-server self-signed certificate that HTTPS fakes present.

    server = LocalServer(handler_class, tls=True)   # binds a free port at once; .url, .cert_path
    server.start() ... server.stop()                 # serve in a daemon thread; stop closes and cleans up
    serve_until_stopped(fake)                        # `python -m fakes.<cloud>`: until SIGTERM or Ctrl-C

Used by the GCP (HTTP), Azure and Kubernetes (HTTPS) stand-ins; the Bitbucket fake binds its port at start.
"""

from __future__ import annotations

import datetime
import ipaddress
import shutil
import signal
import ssl
import sys
import tempfile
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        """A client that hangs up or refuses our certificate is the client's business; anything else is printed."""
        if isinstance(sys.exc_info()[1], ssl.SSLError | ConnectionError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


class LocalServer:
    """One server thread on 127.0.0.1; HTTPS with a certificate made for it when tls=True."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], *, port: int = 0, tls: bool = False, name: str) -> None:
        self.name = name
        self._dir = Path(tempfile.mkdtemp(prefix=f"{name}-"))
        self._server = _QuietServer(("127.0.0.1", port), handler)
        self._server.daemon_threads = True
        self.cert_path: Path | None = None
        if tls:
            self.cert_path, key_path = self_signed_cert(self._dir, name)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(self.cert_path), str(key_path))
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.port: int = self._server.server_address[1]
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.serve_forever, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread = None
        self._server.server_close()
        shutil.rmtree(self._dir, ignore_errors=True)


class Startable(Protocol):
    def start(self) -> object: ...

    def stop(self) -> None: ...


def serve_until_stopped(fake: Startable, banner: str, env: Mapping[str, str] | None = None) -> None:
    """Run a stand-in as a process (`python -m fakes.gcp`, ...): say where it is and the variables that reach it,
    then serve until SIGTERM or Ctrl-C, and stop it."""
    print(banner, flush=True)
    for key, value in (env or {}).items():
        print(f"export {key}={value}", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    fake.start()
    try:
        done.wait()
    finally:
        fake.stop()


def self_signed_cert(directory: Path, name: str = "local fake") -> tuple[Path, Path]:
    """A certificate for 127.0.0.1/localhost that is its own CA: (cert.pem, key.pem) in directory."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} 127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path
