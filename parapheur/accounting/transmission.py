"""Handing PES files to the tiers de télétransmission: the connectors, and the one that the
settings choose (a folder the TdT's client watches, or the TdT's HTTP endpoint).

A connector's `deposit(filename, content, key)` returns where the file went (a path, the TdT's
receipt); it raises `TransmissionError`, `permanent` when trying again cannot help (refused file,
wrong credentials), so that the outbox retries only what may succeed later.
"""

from __future__ import annotations

import http.client
import json
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy.orm import Session

from parapheur.accounting.models import PesExport
from parapheur.audit import services as audit
from parapheur.documents.storage import ContentStore
from parapheur.errors import N_, ParapheurError

#: Largest answer read from the TdT (a receipt, an error message), so a bad peer cannot flood us.
MAX_ANSWER_BYTES = 64 * 1024


class TransmissionError(ParapheurError):
    """The TdT did not take the file; `permanent` when trying again cannot help."""

    def __init__(self, message: str, *, permanent: bool = False, **params: Any):
        super().__init__(message, status=502, **params)
        self.permanent = permanent


class Connector(Protocol):
    """Hands a PES file to the tiers de télétransmission; returns where it went."""

    def deposit(self, filename: str, content: bytes, key: str) -> str: ...


@dataclass(frozen=True)
class FolderConnector:
    """« Dépôt dans un dossier »: the file appears whole (written aside, then linked in)."""

    directory: Path

    def deposit(self, filename: str, content: bytes, key: str = "") -> str:
        """Write `content` as `directory/filename` atomically; refuse to overwrite a deposit."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TransmissionError(N_("Le dossier de dépôt %(directory)s ne peut pas être "
                                       "créé : %(detail)s."),
                                    directory=self.directory, detail=exc.strerror or exc) from None
        target = self.directory / Path(filename).name
        if target.exists():
            if target.read_bytes() == content:
                return str(target)  # deposited before the journal entry could be written
            raise TransmissionError(N_("Un autre fichier %(target_name)s est déjà déposé dans "
                                       "%(directory)s : il n'est pas remplacé."),
                                    target_name=target.name, directory=self.directory, permanent=True)
        try:
            fd, temporary = tempfile.mkstemp(dir=self.directory, prefix=".depot-", suffix=".part")
        except OSError as exc:
            raise TransmissionError(N_("Impossible d'écrire dans le dossier de dépôt "
                                       "%(directory)s : %(detail)s."),
                                    directory=self.directory, detail=exc.strerror or exc) from None
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
            os.link(temporary, target)  # fails if a deposit of that name appeared meanwhile
        except FileExistsError:
            if target.read_bytes() == content:
                return str(target)  # the same file, deposited by a concurrent try meanwhile
            raise TransmissionError(N_("Le fichier %(target_name)s est déjà déposé : il n'est "
                                       "pas remplacé."),
                                    target_name=target.name, permanent=True) from None
        except OSError as exc:
            raise TransmissionError(N_("Le dépôt de %(target_name)s dans %(directory)s a "
                                       "échoué : %(detail)s."),
                                    target_name=target.name, directory=self.directory, detail=exc.strerror or exc) from None
        finally:
            os.unlink(temporary)
        return str(target)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirected POST would be replayed as a GET without the file: a redirect is an error."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


@dataclass(frozen=True)
class HttpConnector:
    """POST the PES file to the TdT's endpoint, with a bearer token and an idempotency key.

    The key is the export's (file name and SHA-256): a TdT that keeps it drops the repeat that a
    crash between its answer and our commit would cause. 5xx answers, timeouts and refused
    connections are worth another try (the outbox retries them with backoff); other 4xx are not.
    """

    url: str
    token: str | None = field(default=None, repr=False)
    timeout: float = 30.0

    def deposit(self, filename: str, content: bytes, key: str) -> str:
        """Send the file; the TdT's receipt (its id, or the address it gave) on success."""
        headers = {"Content-Type": "application/xml", "Idempotency-Key": key,
                   "X-PES-Filename": Path(filename).name, "Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(self.url, data=content, headers=headers, method="POST")
        try:
            with _OPENER.open(request, timeout=self.timeout) as answer:
                body = answer.read(MAX_ANSWER_BYTES)
                return self._receipt(answer.status, answer.headers, body)
        except urllib.error.HTTPError as exc:
            detail = exc.read(MAX_ANSWER_BYTES).decode("utf-8", "replace").strip()[:300]
            exc.close()
            retry = exc.code >= 500 or exc.code in (408, 429)
            what = {401: "identifiants refusés (vérifiez le jeton)", 403: "accès refusé",
                    413: "fichier trop volumineux pour le TdT"}.get(exc.code, "refusé")
            raise TransmissionError(f"Le tiers de télétransmission a répondu HTTP {exc.code} "
                                    f"({what})" + (f" : {detail}" if detail else "") + ".",
                                    permanent=not retry) from None
        except TimeoutError:
            raise TransmissionError(N_("Le tiers de télétransmission n'a pas répondu en "
                                       "%(timeout)s s."),
                                    timeout=format(self.timeout, 'g')) from None
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, TimeoutError):
                raise TransmissionError(N_("Le tiers de télétransmission n'a pas répondu en "
                                           "%(timeout)s s."),
                                        timeout=format(self.timeout, 'g')) from None
            raise TransmissionError(N_("Le tiers de télétransmission est injoignable : "
                                       "%(reason)s."), reason=reason) from None

    def _receipt(self, status: int, headers: Any, body: bytes) -> str:
        if status not in (200, 201, 202):
            raise TransmissionError(N_("Le tiers de télétransmission a répondu HTTP "
                                       "%(http_status)s sans accuser réception."),
                                    http_status=status)
        receipt = None
        if "json" in (headers.get("Content-Type") or ""):
            try:
                data = json.loads(body or b"{}")
            except ValueError:
                data = None
            if isinstance(data, dict):
                receipt = next((str(data[k]) for k in ("id", "transaction_id", "identifiant")
                                if data.get(k) not in (None, "")), None)
        location = headers.get("Location")
        text = receipt or location
        return f"{self.url} (HTTP {status}" + (f", accusé {text[:200]}" if text else "") + ")"


def read_token(path: Path | None) -> str | None:
    """The bearer token: the first line of its file (kept out of the environment and logs)."""
    if path is None:
        return None
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        raise TransmissionError(N_("Le jeton du tiers de télétransmission ne peut pas être lu "
                                   "dans %(path)s."), path=path, permanent=True) from None
    token = lines[0].strip() if lines else ""
    if not token:
        raise TransmissionError(N_("Le fichier %(path)s ne contient pas de jeton."),
                                path=path, permanent=True)
    return token


def connector_for(config: Mapping[str, Any]) -> Connector:
    """The connector the settings choose: HTTP when PARAPHEUR_PES_HTTP_URL is set, else the
    folder PARAPHEUR_PES_DEPOSIT_DIR."""
    if config.get("PES_HTTP_URL"):
        return HttpConnector(str(config["PES_HTTP_URL"]),
                             token=read_token(config.get("PES_HTTP_TOKEN_FILE")),
                             timeout=float(config.get("PES_HTTP_TIMEOUT") or 30))
    directory = config.get("PES_DEPOSIT_DIR") or Path(config["DATA_DIR"]) / "pes-depot"
    return FolderConnector(Path(directory))


def idempotency_key(export: PesExport) -> str:
    """What tells this file apart for the TdT: its name and its digest."""
    return f"{export.filename}:{export.sha256}"


def deposit_export(session: Session, store: ContentStore, connector: Connector,
                   export: PesExport, *, actor: Any, now: datetime) -> str:
    """Hand one committed export to the TdT and record where it went (journaled)."""
    where = connector.deposit(export.filename, store.read(export.sha256), idempotency_key(export))
    export.deposited_to = where
    export.deposited_at = now
    session.flush()
    audit.record(session, "accounting:pes:deposited", actor=actor,
                 details={"export_id": export.id, "filename": export.filename, "to": where},
                 clock=lambda: now)
    return where
