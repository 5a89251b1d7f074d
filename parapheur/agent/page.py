"""The agent's own page: the official answers the agent's questions (pairing, the batch and the
card's PIN) in a local page the agent serves and opens itself, never in the parapheur's page.

Each question gets an address with a one-time random token (`/question/<token>`) that only the
agent knows and opens in the official's browser; the answer must be posted from that page (its
`Origin` is the agent's own), the page cannot be framed, and it runs no script. The PIN goes
from this page to the agent on 127.0.0.1, and no further: the parapheur's page and server
never see it. An unanswered question lapses (a refusal) after `timeout` seconds.
"""

from __future__ import annotations

import secrets
import sys
import threading
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape
from typing import Any, TextIO

from parapheur.agent.interaction import BatchSummary
from parapheur.agent.pairing import Pairing

#: Headers of every page: nothing else may frame it, load into it or run in it.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}
MAX_FORM = 4096
DEFAULT_TIMEOUT = 180.0

_STYLE = ("body{font-family:system-ui,sans-serif;max-width:40em;margin:2em auto;color:#1e1e1e}"
          "h1{font-size:1.3em}ol{background:#f4f4f4;padding:1em 2em}"
          "button{font-size:1em;padding:.4em 1em;margin-right:1em}"
          "input{font-size:1.1em;padding:.3em}.hint{color:#555}")


@dataclass
class _Question:
    kind: str  # "pairing" | "batch"
    subject: Any
    answered: threading.Event = field(default_factory=threading.Event)
    answer: dict[str, str] | None = None


def _page(title: str, body: str) -> str:
    return (f'<!doctype html><html lang="fr"><head><meta charset="utf-8">'
            f"<title>{escape(title)} — agent de signature</title><style>{_STYLE}</style></head>"
            f"<body><h1>{escape(title)}</h1>{body}</body></html>")


class PageInteraction:
    """The `Interaction` of an official's computer: questions on the agent's own local page."""

    def __init__(self, open_page: Callable[[str], Any] = webbrowser.open, *,
                 timeout: float = DEFAULT_TIMEOUT, out: TextIO = sys.stderr) -> None:
        self.open_page = open_page
        self.timeout = timeout
        self.out = out
        #: The agent's own origin (http://127.0.0.1:<port>), set once the server listens.
        self.base_url: str | None = None
        self._questions: dict[str, _Question] = {}
        self._lock = threading.Lock()
        self._pin: str | None = None

    # --- the Interaction protocol (called by the agent, one batch at a time) ---

    def _ask(self, kind: str, subject: Any) -> dict[str, str] | None:
        if self.base_url is None:
            raise RuntimeError("the agent's page has no address yet")
        token = secrets.token_urlsafe(32)
        question = _Question(kind, subject)
        with self._lock:
            self._questions[token] = question
        url = f"{self.base_url}/question/{token}"
        self.out.write(f"Répondez sur la page de l'agent : {url}\n")
        self.out.flush()
        try:
            self.open_page(url)
            question.answered.wait(self.timeout)
        finally:
            with self._lock:
                self._questions.pop(token, None)
        return question.answer

    def confirm_pairing(self, pairing: Pairing) -> bool:
        """Ask on the page; True only when the official accepted."""
        answer = self._ask("pairing", pairing)
        return bool(answer and answer.get("decision") == "accept")

    def confirm_batch(self, summary: BatchSummary) -> int:
        """Show the documents and take the PIN with the same answer (one entry per batch)."""
        self._pin = None
        answer = self._ask("batch", summary)
        if not answer or answer.get("decision") != "sign" or not answer.get("pin"):
            return 0
        self._pin = answer["pin"]
        return len(summary.titles)

    def pin(self, summary: BatchSummary) -> str | None:
        """The PIN typed with the confirmation, handed over once."""
        pin, self._pin = self._pin, None
        return pin

    # --- served by the agent's HTTP server ---

    def own_origins(self) -> set[str]:
        """The origins the agent's page itself has (127.0.0.1 or localhost, the agent's port)."""
        if self.base_url is None:
            return set()
        port = self.base_url.rsplit(":", 1)[1]
        return {f"http://127.0.0.1:{port}", f"http://localhost:{port}"}

    def render(self, token: str) -> tuple[int, str]:
        """(status, HTML) of the question page for `token`."""
        with self._lock:
            question = self._questions.get(token)
        if question is None:
            return 404, _page("Question expirée", "<p>Cette question n'attend plus de réponse "
                              "(déjà répondue, ou expirée). Relancez l'opération depuis le "
                              "parapheur.</p>")
        action = f"/question/{escape(token)}"
        if question.kind == "pairing":
            pairing: Pairing = question.subject
            return 200, _page("Appairer ce parapheur ?", (
                f"<p>Le parapheur « <strong>{escape(pairing.server)}</strong> » "
                f"(<code>{escape(pairing.origin)}</code>) demande à utiliser l'agent de "
                f"signature de ce poste.</p><p>Empreinte de sa clé : "
                f"<code>{escape(pairing.fingerprint)}</code></p>"
                f'<p class="hint">N\'acceptez que si c\'est bien le parapheur de votre '
                f"collectivité : lui seul pourra ensuite vous demander des signatures.</p>"
                f'<form method="post" action="{action}">'
                f'<button type="submit" name="decision" value="accept">Accepter</button>'
                f'<button type="submit" name="decision" value="refuse">Refuser</button>'
                f"</form>"))
        summary: BatchSummary = question.subject
        count = len(summary.titles)
        items = "".join(f"<li>{escape(title)}</li>" for title in summary.titles)
        return 200, _page("Signer avec votre carte", (
            f"<p>Le parapheur « <strong>{escape(summary.server)}</strong> » "
            f"(<code>{escape(summary.origin)}</code>) demande la signature de "
            f"<strong>{count} document{'s' if count > 1 else ''}</strong> avec le certificat de "
            f"<strong>{escape(summary.certificate)}</strong> :</p><ol>{items}</ol>"
            f'<form method="post" action="{action}">'
            f'<p><label for="pin">Code PIN de la carte</label><br>'
            f'<input id="pin" name="pin" type="password" autocomplete="off" required '
            f'autofocus maxlength="64"></p>'
            f'<p class="hint">Le code reste sur ce poste : ni le parapheur ni sa page ne le '
            f"reçoivent. Il n'est saisi qu'une fois pour ces {count} signatures, et jamais "
            f"réessayé par l'agent.</p>"
            f'<button type="submit" name="decision" value="sign">Signer ces {count} '
            f"document{'s' if count > 1 else ''}</button>"
            f'<button type="submit" name="decision" value="refuse" formnovalidate>'
            f"Refuser</button></form>"))

    def answer(self, token: str, form: dict[str, str]) -> tuple[int, str]:
        """Record the official's answer to `token`'s question; (status, HTML) to show."""
        with self._lock:
            question = self._questions.get(token)
            if question is None or question.answered.is_set():
                return 404, _page("Question expirée", "<p>Cette question n'attend plus de "
                                  "réponse. Relancez l'opération depuis le parapheur.</p>")
            question.answer = {k: v for k, v in form.items() if k in ("decision", "pin")}
            question.answered.set()
        decision = form.get("decision")
        if decision in ("accept", "sign") and (question.kind == "pairing" or form.get("pin")):
            done = ("Appairage accepté." if question.kind == "pairing" else
                    "Signature en cours : revenez à la page du parapheur, qui en montre le "
                    "résultat.")
            return 200, _page("C'est noté", f"<p>{done}</p><p>Vous pouvez fermer cet onglet.</p>")
        return 200, _page("Refusé", "<p>Rien n'a été signé ni appairé. Vous pouvez fermer cet "
                                    "onglet.</p>")
