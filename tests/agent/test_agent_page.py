"""The agent's own page: pairing, the batch and the PIN answered in a local page the agent opens
(real HTTP against a real SoftHSM2 token); another page of the machine cannot answer for the
official, the page cannot be framed, an unanswered question lapses."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import urllib.error
import urllib.parse
import urllib.request

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from test_agent import SERVER, SERVER_KEY, b64, call, maire_certificate, pair, signed_request

from parapheur.agent.page import PageInteraction
from parapheur.agent.pairing import Pairings
from parapheur.agent.server import Agent, AgentHTTPServer
from parapheur.agent.tokens import Tokens


def http(method: str, url: str, form: dict | None = None, *, origin: str | None = None):
    """(status, text, headers) of a request to the agent's page."""
    request = urllib.request.Request(url, method=method, data=urllib.parse.urlencode(
        form).encode() if form is not None else None)
    if form is not None:
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
    if origin is not None:
        request.add_header("Origin", origin)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode(), response.headers
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), error.headers


class Browser:
    """The official's browser: opens the page the agent asks for, then answers as told."""

    def __init__(self) -> None:
        self.answers: list[dict] = []  # what to post, in order
        self.pages: list[tuple[int, str, object]] = []
        self.intruder_statuses: list[int] = []
        self.intrude = False
        self.threads: list[threading.Thread] = []

    def open(self, url: str) -> None:
        thread = threading.Thread(target=self._visit, args=(url,), daemon=True)
        self.threads.append(thread)
        thread.start()

    def _visit(self, url: str) -> None:
        self.pages.append(http("GET", url))
        if self.intrude:  # another web page of this machine tries to answer first
            self.intruder_statuses.append(
                http("POST", url, {"decision": "sign", "pin": "123456"},
                     origin="https://malveillant.test")[0])
        if self.answers:
            own = url.split("/question/")[0]
            http("POST", url, self.answers.pop(0), origin=own)


@pytest.fixture
def paged_agent(softhsm_token, tmp_path):
    browser = Browser()
    interaction = PageInteraction(browser.open, timeout=30)
    server = AgentHTTPServer(Agent(Tokens([softhsm_token.module]),
                                   Pairings(tmp_path / "config", [SERVER]), interaction))
    interaction.base_url = server.url
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.browser = browser
    server.interaction = interaction
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def test_pairing_then_a_batch_with_one_pin_typed_in_the_agents_page(paged_agent, softhsm_token):
    browser = paged_agent.browser
    browser.answers.append({"decision": "accept"})
    status, body, _ = pair(paged_agent)
    assert status == 200 and body["paired"]
    [(page_status, page, headers)] = browser.pages
    assert page_status == 200 and "Appairer ce parapheur ?" in page and "Ville de test" in page
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY" and "<script" not in page

    certificate = maire_certificate(paged_agent)
    digests = [hashlib.sha256(f"attributs {i}".encode()).digest() for i in range(3)]
    request = signed_request(certificate, digests)
    text = json.loads(request["request"])
    text["documents"][0]["title"] = "Arrêté <b>n° 1</b>"  # a title is shown, never interpreted
    request["request"] = json.dumps(text)
    request["request_signature"] = b64(SERVER_KEY.sign(request["request"].encode()))
    browser.answers.append({"decision": "sign", "pin": softhsm_token.pin})
    status, body, _ = call(paged_agent, "POST", "/v1/sign", request)
    assert status == 200, body
    public_key = x509.load_der_x509_certificate(
        base64.b64decode(certificate["certificate"])).public_key()
    for digest, signature in zip(digests, body["signatures"], strict=True):
        public_key.verify(base64.b64decode(signature), digest, PKCS1v15(),
                          Prehashed(hashes.SHA256()))
    [_, (_, page, _)] = browser.pages  # one page, one PIN entry, for the three documents
    assert "<strong>3 documents</strong>" in page and "Martine Dupont" in page
    assert "Arrêté &lt;b&gt;n° 1&lt;/b&gt;" in page and "<b>n° 1" not in page
    assert 'type="password"' in page and "Signer ces 3 documents" in page
    assert softhsm_token.pin not in page


def test_another_page_cannot_answer_for_the_official(paged_agent, softhsm_token):
    browser = paged_agent.browser
    browser.answers.append({"decision": "accept"})
    pair(paged_agent)
    certificate = maire_certificate(paged_agent)
    browser.intrude = True
    browser.answers.append({"decision": "refuse"})
    status, body, _ = call(paged_agent, "POST", "/v1/sign",
                           signed_request(certificate, [bytes(32)]))
    # The intruder was refused; the official's own answer (a refusal) is the one that counts.
    assert browser.intruder_statuses == [403]
    assert status == 403 and body["code"] == "declined"
    # The question is gone once answered; an unknown token is nothing.
    token_url = f"{paged_agent.url}/question/inconnu"
    assert http("GET", token_url)[0] == 404
    assert http("POST", token_url, {"decision": "accept"}, origin=paged_agent.url)[0] == 404
    # The page is not part of the API: no CORS for the parapheur's origin.
    _, _, headers = http("GET", token_url)
    assert headers.get("Access-Control-Allow-Origin") is None


def test_a_wrong_pin_typed_in_the_page_is_reported_and_not_retried(paged_agent, softhsm_token):
    browser = paged_agent.browser
    browser.answers.append({"decision": "accept"})
    pair(paged_agent)
    certificate = maire_certificate(paged_agent)
    browser.answers.append({"decision": "sign", "pin": "000000"})
    status, body, _ = call(paged_agent, "POST", "/v1/sign",
                           signed_request(certificate, [bytes(32)]))
    assert status == 401 and body["code"] == "wrong_pin" and "remaining_tries" in body
    assert len(browser.pages) == 2  # asked once, never again on its own


def test_an_unanswered_question_lapses_into_a_refusal(softhsm_token, tmp_path):
    opened: list[str] = []
    interaction = PageInteraction(opened.append, timeout=0.2)
    server = AgentHTTPServer(Agent(Tokens([softhsm_token.module]),
                                   Pairings(tmp_path / "config", [SERVER]), interaction))
    interaction.base_url = server.url
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        status, body, _ = pair(server)
        assert status == 403 and body["code"] == "pairing_declined"
        [url] = opened
        assert url.startswith(f"{server.url}/question/")
        assert http("GET", url)[0] == 404  # lapsed
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
