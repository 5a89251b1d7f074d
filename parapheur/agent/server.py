"""The agent's HTTP server on 127.0.0.1 and its JSON API (version 1).

Every request must come from an allowed origin (the browser's `Origin` header) and name the
agent as its host (127.0.0.1 or localhost, against DNS rebinding); answers carry CORS headers
for that origin only.

- `GET /v1/version` → `{"agent", "version", "api", "paired"}`
- `POST /v1/pair` `{"server", "server_key"}` → pins the origin's key once the official accepts
- `GET /v1/certificates` (paired origins) → `{"certificates": [{"id", "subject", "issuer",
  "not_after", "sha256", "certificate", "chain", …}]}`
- `POST /v1/sign` (paired origins) `{"certificate_id", "request", "request_signature"}` →
  `{"signatures": [base64, …]}` in the order of the request's documents. `request` is the JSON
  text the server signed with its pairing key: origin, server name, session, expiry, the
  certificate's fingerprint and the documents (title, hash, algorithms).

Errors are `{"error": "<French message>", "code": "<stable code>", …}` with a 4xx status.

With the agent's own page (`parapheur.agent.page`), `GET`/`POST /question/<token>` serve the
official's questions; those are not part of the API: no CORS, and an answer is accepted only
from the agent's own page (its `Origin`).
"""

from __future__ import annotations

import base64
import json
import threading
import urllib.parse
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from parapheur.agent import API_VERSION, __version__
from parapheur.agent.interaction import BatchSummary, Interaction
from parapheur.agent.page import MAX_FORM, PAGE_HEADERS, PageInteraction
from parapheur.agent.pairing import PairingError, Pairings, normalise_origin
from parapheur.agent.tokens import TokenError, Tokens

MAX_BODY = 2_000_000
#: A request never asks more signatures than this (the server's own batch limit).
MAX_DOCUMENTS = 200


class AgentRefusal(Exception):
    """A refusal answered as JSON: status, stable code, French message."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra


class Agent:
    """The agent's logic, independent of HTTP: tokens, pairings and the official's answers."""

    def __init__(self, tokens: Tokens, pairings: Pairings, interaction: Interaction) -> None:
        self.tokens = tokens
        self.pairings = pairings
        self.interaction = interaction
        # One batch at a time: the official answers one question after the other.
        self._busy = threading.Lock()

    def version(self, origin: str) -> dict[str, Any]:
        """What the browser needs to know before pairing."""
        return {"agent": "parapheur-agent", "version": __version__, "api": API_VERSION,
                "paired": self.pairings.get(origin) is not None}

    def pair(self, origin: str, body: dict[str, Any]) -> dict[str, Any]:
        """Pin `origin`'s public key once the official accepts (already pinned: nothing asked)."""
        try:
            pairing = self.pairings.candidate(origin, str(body.get("server") or origin),
                                              str(body.get("server_key") or ""))
        except PairingError as exc:
            raise AgentRefusal(exc.status, "pairing_refused", exc.message) from None
        existing = self.pairings.get(origin)
        if existing is None:
            with self._busy:
                if not self.interaction.confirm_pairing(pairing):
                    raise AgentRefusal(403, "pairing_declined",
                                       "L'appairage a été refusé sur l'agent.")
                self.pairings.save(pairing)
        return {"paired": True, "fingerprint": pairing.fingerprint}

    def _require_paired(self, origin: str) -> None:
        if self.pairings.get(origin) is None:
            raise AgentRefusal(403, "not_paired", "Ce parapheur n'est pas appairé avec l'agent : "
                                                  "appairez-le d'abord.")

    def certificates(self, origin: str) -> dict[str, Any]:
        """The signing certificates on the cards present."""
        self._require_paired(origin)
        try:
            return {"certificates": [c.describe() for c in self.tokens.certificates()]}
        except TokenError as exc:
            raise AgentRefusal(exc.status, exc.code, exc.message) from None

    def sign(self, origin: str, body: dict[str, Any]) -> dict[str, Any]:
        """Check the server's request, show it, ask the PIN once, sign every hash."""
        request_text = body.get("request")
        request_signature = body.get("request_signature")
        if not isinstance(request_text, str) or not isinstance(request_signature, str):
            raise AgentRefusal(400, "bad_request", "Demande de signature incomplète.")
        try:
            pairing = self.pairings.verify(origin, request_text, request_signature)
        except PairingError as exc:
            raise AgentRefusal(exc.status, "not_paired", exc.message) from None
        request = _parse_request(request_text, origin)
        try:
            certificate = self.tokens.find(str(body.get("certificate_id") or ""))
        except TokenError as exc:
            raise AgentRefusal(exc.status, exc.code, exc.message) from None
        if certificate.sha256 != request["certificate_sha256"]:
            raise AgentRefusal(409, "certificate_mismatch",
                               "Le certificat choisi n'est pas celui pour lequel le parapheur a "
                               "préparé la signature.")
        documents = request["documents"]
        summary = BatchSummary(server=pairing.server, origin=pairing.origin,
                               certificate=str(certificate.describe()["common_name"]
                                               or certificate.label),
                               titles=tuple(str(d["title"]) for d in documents))
        if not self._busy.acquire(blocking=False):
            raise AgentRefusal(409, "busy", "Une autre signature est en cours sur l'agent.")
        try:
            confirmed = self.interaction.confirm_batch(summary)
            if confirmed <= 0:
                raise AgentRefusal(403, "declined", "La signature a été refusée sur l'agent.")
            if len(documents) > confirmed:
                raise AgentRefusal(403, "more_than_confirmed",
                                   f"La demande porte sur {len(documents)} documents, vous en "
                                   f"avez confirmé {confirmed} : rien n'a été signé.")
            pin = self.interaction.pin(summary)
            if not pin:
                raise AgentRefusal(403, "cancelled", "Code PIN non saisi : rien n'a été signé.")
            try:
                signatures = self.tokens.sign(
                    certificate, [(d["digest_algorithm"], d["signature_algorithm"], d["digest"])
                                  for d in documents], pin)
            except TokenError as exc:
                raise AgentRefusal(exc.status, exc.code, exc.message, **exc.extra) from None
            finally:
                del pin
        finally:
            self._busy.release()
        return {"signatures": [base64.b64encode(s).decode("ascii") for s in signatures]}


def _parse_request(text: str, origin: str) -> dict[str, Any]:
    """The server's signed request, checked: API version, origin, expiry, documents."""
    try:
        request = json.loads(text)
        documents = request["documents"]
        expires_at = datetime.fromisoformat(request["expires_at"])
        if not isinstance(documents, list):
            raise TypeError("documents")
        for document in documents:
            document["digest"] = base64.b64decode(document["hash"], validate=True)
            str(document["title"])
        request["certificate_sha256"] = str(request["certificate_sha256"])
    except (ValueError, KeyError, TypeError) as exc:
        raise AgentRefusal(400, "bad_request", f"Demande de signature illisible ({exc}).") \
            from None
    if request.get("api") != API_VERSION:
        raise AgentRefusal(400, "api_version", "Cette version de l'agent ne comprend pas la "
                                               "demande du parapheur : mettez l'agent à jour.")
    if normalise_origin(str(request.get("origin"))) != normalise_origin(origin):
        raise AgentRefusal(403, "origin_mismatch", "La demande a été préparée pour un autre site.")
    if expires_at <= datetime.now(UTC):
        raise AgentRefusal(410, "expired", "La demande de signature a expiré : relancez-la "
                                           "depuis le parapheur.")
    if not 0 < len(documents) <= MAX_DOCUMENTS:
        raise AgentRefusal(400, "bad_request", f"Une demande porte sur 1 à {MAX_DOCUMENTS} "
                                               f"documents.")
    return request


class AgentHTTPServer(ThreadingHTTPServer):
    """The loopback server around one `Agent`."""

    daemon_threads = True

    def __init__(self, agent: Agent, port: int = 0) -> None:
        self.agent = agent
        super().__init__(("127.0.0.1", port), _Handler)

    @property
    def url(self) -> str:
        """http://127.0.0.1:<port>"""
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: AgentHTTPServer
    server_version = f"parapheur-agent/{__version__}"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Quiet: the official's terminal shows questions, not an access log."""

    def _origin(self) -> str:
        """The caller's origin, if allowed; AgentRefusal otherwise (and for a foreign Host)."""
        host = (self.headers.get("Host") or "").split(":")[0]
        if host not in ("127.0.0.1", "localhost"):
            raise AgentRefusal(403, "bad_host", "Hôte non autorisé.")
        origin = self.headers.get("Origin")
        if not self.server.agent.pairings.is_allowed(origin):
            raise AgentRefusal(403, "origin_refused",
                               "Ce site n'est pas autorisé à utiliser l'agent de signature.")
        assert origin is not None
        return origin

    def _reply(self, status: int, body: dict[str, Any], origin: str | None = None) -> None:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        if origin is not None:
            self.send_header("Access-Control-Allow-Origin", origin)
            self.send_header("Vary", "Origin")
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise AgentRefusal(413, "too_large", "Demande trop volumineuse.")
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            raise AgentRefusal(400, "bad_request", "Requête invalide : JSON attendu.") from None
        if not isinstance(body, dict):
            raise AgentRefusal(400, "bad_request", "Requête invalide : objet JSON attendu.")
        return body

    def _question(self, method: str) -> None:
        """The agent's own page: a question to the official (`parapheur.agent.page`)."""
        host = (self.headers.get("Host") or "").split(":")[0]
        interaction = self.server.agent.interaction
        token = self.path.split("?")[0].removeprefix("/question/")
        if not isinstance(interaction, PageInteraction) or host not in ("127.0.0.1",
                                                                         "localhost"):
            status, html = 404, "<!doctype html><title>Introuvable</title>"
        elif method == "GET":
            status, html = interaction.render(token)
        elif self.headers.get("Origin") not in interaction.own_origins():
            # Another page of this machine may not answer for the official.
            status, html = 403, "<!doctype html><title>Refusé</title><p>Réponse refusée.</p>"
        else:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_FORM:
                status, html = 413, "<!doctype html><title>Trop long</title>"
            else:
                form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode(
                    "utf-8", errors="replace"), max_num_fields=10))
                status, html = interaction.answer(token, form)
        data = html.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in PAGE_HEADERS.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _dispatch(self, method: str) -> None:
        if self.path.startswith("/question/"):
            self._question(method)
            return
        origin = None
        try:
            origin = self._origin()
            agent = self.server.agent
            routes = {("GET", "/v1/version"): lambda: agent.version(origin),
                      ("GET", "/v1/certificates"): lambda: agent.certificates(origin),
                      ("POST", "/v1/pair"): lambda: agent.pair(origin, self._body()),
                      ("POST", "/v1/sign"): lambda: agent.sign(origin, self._body())}
            route = routes.get((method, self.path.split("?")[0]))
            if route is None:
                raise AgentRefusal(404, "not_found", "Adresse inconnue de l'agent.")
            self._reply(200, route(), origin)
        except AgentRefusal as refusal:
            self._reply(refusal.status, {"error": refusal.message, "code": refusal.code,
                                         **refusal.extra}, origin)

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        """GET routes."""
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        """POST routes."""
        self._dispatch("POST")

    def do_OPTIONS(self) -> None:  # noqa: N802
        """CORS preflight: allowed origins only (and Chromium's private network access)."""
        try:
            origin = self._origin()
        except AgentRefusal as refusal:
            self._reply(refusal.status, {"error": refusal.message, "code": refusal.code})
            return
        self.send_response(204)
        self.send_header("Access-Control-Allow-Origin", origin)
        self.send_header("Access-Control-Allow-Methods", "GET, POST")
        self.send_header("Access-Control-Allow-Headers", "Content-Type")
        self.send_header("Access-Control-Allow-Private-Network", "true")
        self.send_header("Access-Control-Max-Age", "600")
        self.send_header("Vary", "Origin")
        self.end_headers()
