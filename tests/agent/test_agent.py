"""The local agent against a real SoftHSM2 token: origins, pairing, PIN, confirmation, signing."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from parapheur.agent.pairing import Pairings
from parapheur.agent.server import Agent, AgentHTTPServer
from parapheur.agent.tokens import Tokens

SERVER = "https://parapheur.ville.test"
b64 = lambda data: base64.b64encode(data).decode("ascii")  # noqa: E731


class Official:
    """A scripted official: what she answers, and what she was asked."""

    def __init__(self, pin: str, confirms: int | None = None) -> None:
        self.pin_value = pin
        self.confirms = confirms
        self.summaries = []
        self.pin_asked = 0

    def confirm_pairing(self, pairing) -> bool:
        return True

    def confirm_batch(self, summary) -> int:
        self.summaries.append(summary)
        return len(summary.titles) if self.confirms is None else self.confirms

    def pin(self, summary) -> str:
        self.pin_asked += 1
        return self.pin_value


@pytest.fixture
def agent(softhsm_token, tmp_path):
    official = Official(softhsm_token.pin)
    server = AgentHTTPServer(Agent(Tokens([softhsm_token.module]),
                                   Pairings(tmp_path / "config", [SERVER]), official))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.official = official
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def call(agent, method: str, path: str, body: dict | None = None, *, origin: str | None = SERVER,
         host: str | None = None):
    """(status, JSON body, headers) of one request to the agent."""
    request = urllib.request.Request(agent.url + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json"})
    if origin is not None:
        request.add_header("Origin", origin)
    if host is not None:
        request.add_header("Host", host)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"{}"), response.headers
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}"), error.headers


SERVER_KEY = Ed25519PrivateKey.generate()


def server_key_b64(key=SERVER_KEY) -> str:
    return b64(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))


def pair(agent, key=SERVER_KEY):
    return call(agent, "POST", "/v1/pair", {"server": "Ville de test",
                                            "server_key": server_key_b64(key)})


def maire_certificate(agent) -> dict:
    status, body, _ = call(agent, "GET", "/v1/certificates")
    assert status == 200, body
    [maire] = [c for c in body["certificates"] if c["label"] == "maire"]
    return maire


def signed_request(certificate: dict, digests: list[bytes], *, key=SERVER_KEY,
                   origin: str = SERVER, expires_in: timedelta = timedelta(minutes=10)) -> dict:
    """What the server's prepare gives the browser for the agent."""
    text = json.dumps({
        "api": 1, "origin": origin, "server": "Ville de test", "session": "s1",
        "expires_at": (datetime.now(UTC) + expires_in).isoformat(),
        "certificate_sha256": certificate["sha256"],
        "documents": [{"title": f"Arrêté n° {i}", "hash": b64(d), "digest_algorithm": "sha256",
                       "signature_algorithm": "rsassa_pkcs1v15"} for i, d in enumerate(digests, 1)],
    })
    return {"certificate_id": certificate["id"], "request": text,
            "request_signature": b64(key.sign(text.encode()))}


def test_only_the_allowed_origin_gets_an_answer(agent):
    status, body, headers = call(agent, "GET", "/v1/version")
    assert status == 200 and body["agent"] == "parapheur-agent" and body["paired"] is False
    assert headers["Access-Control-Allow-Origin"] == SERVER
    status, body, headers = call(agent, "GET", "/v1/version", origin="https://evil.example")
    assert status == 403 and body["code"] == "origin_refused"
    assert headers["Access-Control-Allow-Origin"] is None
    assert call(agent, "GET", "/v1/version", origin=None)[0] == 403
    # A foreign page cannot reach it through a DNS name rebound to 127.0.0.1 either.
    assert call(agent, "GET", "/v1/version", host="attacker.example:80")[1]["code"] == "bad_host"
    # CORS preflight: answered for the allowed origin only.
    request = urllib.request.Request(agent.url + "/v1/sign", method="OPTIONS",
                                     headers={"Origin": SERVER,
                                              "Access-Control-Request-Method": "POST"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 204
        assert response.headers["Access-Control-Allow-Origin"] == SERVER


def test_an_unpaired_server_is_refused(agent):
    assert call(agent, "GET", "/v1/certificates")[1]["code"] == "not_paired"
    status, body, _ = call(agent, "POST", "/v1/sign", {"certificate_id": "x", "request": "{}",
                                                      "request_signature": b64(b"x")})
    assert status == 403 and body["code"] == "not_paired"
    assert agent.official.pin_asked == 0


def test_a_paired_server_gets_its_hashes_signed_with_one_pin_entry(agent, softhsm_token):
    assert pair(agent)[0] == 200
    certificate = maire_certificate(agent)
    assert certificate["common_name"] == "Martine Dupont" and certificate["chain"]
    digests = [hashlib.sha256(f"attributs {i}".encode()).digest() for i in range(5)]
    status, body, _ = call(agent, "POST", "/v1/sign", signed_request(certificate, digests))
    assert status == 200, body
    public_key = x509.load_der_x509_certificate(
        base64.b64decode(certificate["certificate"])).public_key()
    for digest, signature in zip(digests, body["signatures"], strict=True):
        public_key.verify(base64.b64decode(signature), digest, PKCS1v15(),
                          Prehashed(hashes.SHA256()))
    assert agent.official.pin_asked == 1
    [summary] = agent.official.summaries
    assert summary.server == "Ville de test" and len(summary.titles) == 5
    assert "Arrêté n° 1" in "\n".join(summary.lines())


def test_a_request_not_signed_by_the_paired_key_is_refused(agent):
    pair(agent)
    certificate = maire_certificate(agent)
    impostor = Ed25519PrivateKey.generate()
    status, body, _ = call(agent, "POST", "/v1/sign",
                           signed_request(certificate, [bytes(32)], key=impostor))
    assert status == 403 and body["code"] == "not_paired"
    # Nor may another key take over the pinned origin.
    status, body, _ = pair(agent, impostor)
    assert status == 409 and "autre clé" in body["error"]
    # A request the server made for another origin is refused too.
    status, body, _ = call(agent, "POST", "/v1/sign",
                           signed_request(certificate, [bytes(32)], origin="https://autre.test"))
    assert body["code"] == "origin_mismatch"
    assert agent.official.pin_asked == 0


def test_a_wrong_pin_is_reported_and_never_retried(agent, softhsm_token):
    pair(agent)
    certificate = maire_certificate(agent)
    agent.official.pin_value = "000000"
    status, body, _ = call(agent, "POST", "/v1/sign", signed_request(certificate, [bytes(32)]))
    assert status == 401 and body["code"] == "wrong_pin"
    assert "Code PIN incorrect" in body["error"] and "rien n'a été signé" in body["error"]
    assert "remaining_tries" in body
    assert agent.official.pin_asked == 1
    agent.official.pin_value = softhsm_token.pin
    assert call(agent, "POST", "/v1/sign", signed_request(certificate, [bytes(32)]))[0] == 200


def test_more_hashes_than_confirmed_are_refused(agent):
    pair(agent)
    certificate = maire_certificate(agent)
    agent.official.confirms = 2
    status, body, _ = call(agent, "POST", "/v1/sign",
                           signed_request(certificate, [bytes(32)] * 3))
    assert status == 403 and body["code"] == "more_than_confirmed"
    assert agent.official.pin_asked == 0


def test_an_expired_request_is_refused(agent):
    pair(agent)
    certificate = maire_certificate(agent)
    status, body, _ = call(agent, "POST", "/v1/sign",
                           signed_request(certificate, [bytes(32)], expires_in=timedelta(0)))
    assert status == 410 and body["code"] == "expired"


def test_pairings_are_listed_and_forgotten_from_the_command_line(agent, tmp_path):
    from click.testing import CliRunner

    from parapheur.agent.cli import main

    pair(agent)
    runner = CliRunner()
    config = str(tmp_path / "config")
    listed = runner.invoke(main, ["pairings", "--config-dir", config])
    assert listed.exit_code == 0 and SERVER in listed.output and "Ville de test" in listed.output
    assert runner.invoke(main, ["unpair", SERVER, "--config-dir", config]).exit_code == 0
    assert call(agent, "GET", "/v1/certificates")[1]["code"] == "not_paired"
    again = runner.invoke(main, ["unpair", SERVER, "--config-dir", config])
    assert again.exit_code == 1 and "aucun appairage" in again.output


def test_the_agent_refuses_a_missing_module():
    from click.testing import CliRunner

    from parapheur.agent.cli import main

    result = CliRunner().invoke(main, ["serve", "--module", "/nonexistent/pkcs11.so",
                                       "--allow-origin", SERVER])
    assert result.exit_code == 2 and "module PKCS#11 introuvable" in result.output
