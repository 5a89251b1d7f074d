"""Loopback HTTP responders for the development PKI: RFC 3161 TSA, OCSP and CRL.

The protocol work is certomancer's (`certomancer.services`): `TimeStamper`, `SimpleOCSPResponder`
and `CRLBuilder`. Keys are loaded once when the server starts, and the parsed keys are kept, so a
token costs about a millisecond instead of re-reading the key for every request.

Routes (under `DevPki.base_url`): `POST /tsa`, `POST /ocsp` (and `GET /ocsp/<base64>`),
`GET /crl/ca.crl`. Run it with `parapheur pki serve DIR` or `PkiServer(pki).start()` (a thread),
or `PkiServer(pki).start_process()` (a child process, so responders do not share our GIL).
"""

from __future__ import annotations

import base64
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from asn1crypto import algos, crl, keys, ocsp, pem, tsp, x509
from certomancer import services as certomancer_services
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15

from signing.pki import DevPki, ResponderUrls

OCSP_VALIDITY = timedelta(minutes=30)
CRL_VALIDITY = timedelta(days=7)


class _ParsedKeyCache:
    """certomancer parses the DER key on every signature; keep the parsed pyca keys instead."""

    def __init__(self, fallback: Callable[..., bytes]) -> None:
        self._fallback = fallback
        self._keys: dict[bytes, Any] = {}
        self._lock = threading.Lock()

    def __call__(self, private_key: keys.PrivateKeyInfo, tbs_bytes: bytes,
                 signature_algo: algos.SignedDigestAlgorithm) -> bytes:
        if signature_algo.signature_algo != "rsassa_pkcs1v15":
            return self._fallback(private_key, tbs_bytes, signature_algo)
        der = private_key.dump()
        key = self._keys.get(der)
        if key is None:
            with self._lock:
                key = self._keys.setdefault(
                    der, serialization.load_der_private_key(der, password=None))
        hash_algo = getattr(hashes, signature_algo.hash_algo.upper())()
        return key.sign(tbs_bytes, PKCS1v15(), hash_algo)


# certomancer's services call this module-level function; route it through the cache.
if not isinstance(certomancer_services.generic_sign, _ParsedKeyCache):
    certomancer_services.generic_sign = _ParsedKeyCache(certomancer_services.generic_sign)


def free_loopback_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _load_cert(path: Path) -> x509.Certificate:
    data = path.read_bytes()
    if pem.detect(data):
        _, _, data = pem.unarmor(data)
    return x509.Certificate.load(data)


def _load_key(path: Path) -> keys.PrivateKeyInfo:
    _, _, der = pem.unarmor(path.read_bytes())
    return keys.PrivateKeyInfo.load(der)


class _Revocations(certomancer_services.RevocationInfoInterface):
    """Revocation status from the PKI manifest, for certificates issued by its CA."""

    def __init__(self, issuer: x509.Certificate, revoked: dict[int, datetime]) -> None:
        self._issuer = issuer
        self._revoked = revoked

    def get_issuer_cert(self) -> x509.Certificate:
        return self._issuer

    def check_revocation_status(self, cid: ocsp.CertId, at_time: datetime):
        serial = cid["serial_number"].native
        revoked_at = self._revoked.get(serial)
        if revoked_at is not None and revoked_at <= at_time:
            return ocsp.CertStatus(name="revoked", value=ocsp.RevokedInfo({
                "revocation_time": revoked_at,
                "revocation_reason": "key_compromise"})), []
        return ocsp.CertStatus(name="good", value=None), []


class PkiResponders:
    """TSA, OCSP and CRL answers for one DevPki, with keys loaded once."""

    def __init__(self, pki: DevPki, clock: Callable[[], datetime] | None = None) -> None:
        self.pki = pki
        self.clock = clock or (lambda: datetime.now(UTC))
        self.ca_cert = _load_cert(pki.ca_certificate_path)
        self.ca_key = _load_key(pki.ca_key_path)
        sha256_rsa = algos.SignedDigestAlgorithm({"algorithm": "sha256_rsa"})
        self.signature_algo = sha256_rsa
        self.timestamper = certomancer_services.TimeStamper(
            tsa_cert=_load_cert(pki.tsa_certificate_path), tsa_key=_load_key(pki.tsa_key_path),
            signature_algo=sha256_rsa, certs_to_embed=[self.ca_cert])
        self.ocsp_cert = _load_cert(pki.ocsp_certificate_path)
        self.ocsp_key = _load_key(pki.ocsp_key_path)
        self.revocations = _Revocations(self.ca_cert, {
            serial: datetime.fromisoformat(when) for serial, when in pki.revoked_serials})
        self.crl_builder = certomancer_services.CRLBuilder(
            issuer_name=self.ca_cert.subject, issuer_key=self.ca_key, signature_algo=sha256_rsa,
            authority_key_identifier=self.ca_cert.key_identifier_value)
        self.counts = {"tsa": 0, "ocsp": 0, "crl": 0}
        self.busy_seconds = {"tsa": 0.0, "ocsp": 0.0, "crl": 0.0}
        # asn1crypto parses and caches lazily and is not thread-safe: two requests serialising the
        # same certificate object at once produced time stamp tokens without their TSA
        # certificate (« signer certificate not included »). One answer at a time.
        self.lock = threading.Lock()

    def timestamp(self, body: bytes) -> bytes:
        """An RFC 3161 TimeStampResp for a DER TimeStampReq."""
        request = tsp.TimeStampReq.load(body)
        self.timestamper.fixed_dt = self.clock()
        return self.timestamper.request_tsa_response(request).dump()

    def ocsp(self, body: bytes) -> bytes:
        """An OCSP response for a DER OCSPRequest."""
        request = ocsp.OCSPRequest.load(body)
        responder = certomancer_services.SimpleOCSPResponder(
            responder_cert=self.ocsp_cert, responder_key=self.ocsp_key,
            signature_algo=self.signature_algo, at_time=self.clock().replace(microsecond=0),
            revinfo_interface=self.revocations, validity=OCSP_VALIDITY)
        return responder.build_ocsp_response(request).dump()

    def crl(self) -> bytes:
        """The CA's current CRL (DER)."""
        now = self.clock().replace(microsecond=0)
        revoked = [
            self.crl_builder.format_revoked_cert(serial, crl.CRLReason("key_compromise"), when)
            for serial, when in ((s, datetime.fromisoformat(d)) for s, d in self.pki.revoked_serials)
            if when <= now
        ]
        return self.crl_builder.build_crl(
            crl_number=int(now.timestamp()), this_update=now, next_update=now + CRL_VALIDITY,
            revoked_certs=revoked).dump()


def _handler_for(responders: PkiResponders) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            """Quiet: tests and benchmarks would drown in access lines."""

        def _reply(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _timed(self, name: str, work: Callable[[], bytes]) -> bytes:
            started = time.perf_counter()
            try:
                with responders.lock:
                    return work()
            finally:
                responders.counts[name] += 1
                responders.busy_seconds[name] += time.perf_counter() - started

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            try:
                if self.path.rstrip("/") == "/tsa":
                    answer = self._timed("tsa", lambda: responders.timestamp(body))
                    self._reply(200, answer, "application/timestamp-reply")
                elif self.path.rstrip("/") == "/ocsp":
                    answer = self._timed("ocsp", lambda: responders.ocsp(body))
                    self._reply(200, answer, "application/ocsp-response")
                else:
                    self._reply(404, b"not found", "text/plain")
            except Exception as exc:  # a malformed request must not kill the server
                self._reply(400, f"bad request: {exc}".encode(), "text/plain")

        def do_GET(self) -> None:  # noqa: N802
            if self.path == "/crl/ca.crl":
                self._reply(200, self._timed("crl", responders.crl), "application/pkix-crl")
            elif self.path.startswith("/ocsp/"):
                try:
                    body = base64.b64decode(urllib.parse.unquote(self.path[len("/ocsp/"):]))
                    answer = self._timed("ocsp", lambda: responders.ocsp(body))
                    self._reply(200, answer, "application/ocsp-response")
                except Exception as exc:
                    self._reply(400, f"bad request: {exc}".encode(), "text/plain")
            elif self.path == "/stats":
                stats = " ".join(f"{k}={responders.counts[k]}:{responders.busy_seconds[k]:.6f}"
                                 for k in responders.counts)
                self._reply(200, stats.encode(), "text/plain")
            elif self.path in ("/", "/health"):
                self._reply(200, b"ok", "text/plain")
            else:
                self._reply(404, b"not found", "text/plain")

    return Handler


class PkiServer(ResponderUrls):
    """The dev PKI responders on 127.0.0.1, in a thread or a child process."""

    def __init__(self, pki: DevPki, *, port: int | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.pki = pki
        self.port = port or pki.port
        self.clock = clock
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._process: subprocess.Popen | None = None
        self.responders: PkiResponders | None = None
        self.base_url = f"http://127.0.0.1:{self.port}"

    def bind(self) -> ThreadingHTTPServer:
        """Create the listening server (used by `serve_forever` and `start`)."""
        self.responders = PkiResponders(self.pki, self.clock)
        httpd = ThreadingHTTPServer(("127.0.0.1", self.port), _handler_for(self.responders))
        httpd.daemon_threads = True
        self._httpd = httpd
        return httpd

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (`parapheur pki serve`)."""
        httpd = self.bind()
        try:
            httpd.serve_forever()
        finally:
            httpd.server_close()

    def start(self) -> PkiServer:
        """Serve from a daemon thread of this process."""
        httpd = self.bind()
        self._thread = threading.Thread(target=httpd.serve_forever, name="dev-pki-server",
                                        daemon=True)
        self._thread.start()
        return self

    def start_process(self, timeout: float = 20.0) -> PkiServer:
        """Serve from a child process (its own interpreter, so its own GIL)."""
        self._process = subprocess.Popen(
            [sys.executable, "-m", "signing.pki_server", str(self.pki.directory), str(self.port)],
            stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"PKI server exited with {self._process.returncode}")
            try:
                with urllib.request.urlopen(self.base_url + "/health", timeout=1) as answer:
                    if answer.status == 200:
                        return self
            except OSError:
                time.sleep(0.05)  # waiting for a child process to listen; not a test sleep
        self.stop()
        raise RuntimeError("PKI server did not start")

    def stats(self) -> dict[str, tuple[int, float]]:
        """Requests served and seconds spent per responder (works for both modes)."""
        with urllib.request.urlopen(self.base_url + "/stats", timeout=5) as answer:
            text = answer.read().decode()
        result = {}
        for item in text.split():
            name, value = item.split("=")
            count, seconds = value.split(":")
            result[name] = (int(count), float(seconds))
        return result

    def stop(self) -> None:
        """Stop serving."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
            self._process = None


if __name__ == "__main__":
    PkiServer(DevPki.load(Path(sys.argv[1])), port=int(sys.argv[2])).serve_forever()
