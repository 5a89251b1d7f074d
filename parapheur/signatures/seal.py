"""The server seal (cachet serveur): applied by the server when a document enters a cachet step.

The key is the organisation's PKCS#12 (PARAPHEUR_SEAL_PKCS12) unlocked with the passphrase read
from PARAPHEUR_SEAL_PASSPHRASE_FILE; with neither set, the demo PKI's seal is used when it exists.
The seal runs inside the transaction of the action that led to the step: when it fails, that
action is rolled back too, and the user gets the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from parapheur.circuits.engine import PendingStep
from parapheur.circuits.services import AutomaticOutcome, AutomaticRun
from parapheur.db import SETTINGS_KEY
from parapheur.documents import services as documents
from parapheur.documents.models import Document, VersionKind
from parapheur.documents.storage import ContentStore
from parapheur.errors import ParapheurError
from parapheur.signatures.options import (
    SigningSetup,
    TimestampNotConfigured,
    batch_signer,
    step_sign_options,
)


class SealingFailed(ParapheurError):
    """The server could not apply the seal; the action that led to the cachet step is undone."""

    status = 503

    def __init__(self, detail: str, *, step: str | None = None):
        super().__init__(f"Le cachet serveur n'a pas pu être apposé : {detail} L'action n'a pas "
                         "été enregistrée ; le document est inchangé.")
        self.detail = detail
        self.step = step


@dataclass(frozen=True)
class SealKey:
    """Where the seal's PKCS#12 is and its passphrase (never shown in logs or reprs)."""

    pkcs12: Path
    passphrase: str = field(repr=False)
    source: str  # "configured" or "demo"


def seal_key(config: Mapping[str, Any]) -> SealKey:
    """The seal an application's configuration names, or SealingFailed saying what is missing."""
    configured = config.get("SEAL_PKCS12")
    passphrase_file = config.get("SEAL_PASSPHRASE_FILE")
    passphrase = _read_passphrase(Path(passphrase_file)) if passphrase_file else None
    if configured:
        if passphrase is None:
            raise SealingFailed("PARAPHEUR_SEAL_PKCS12 est configuré sans "
                                "PARAPHEUR_SEAL_PASSPHRASE_FILE (fichier du mot de passe).")
        return SealKey(Path(configured), passphrase, "configured")
    demo = Path(config["DATA_DIR"]) / "demo-pki"
    if (demo / "pki.json").is_file():
        from signing.pki import DevPki

        pki = DevPki.load(demo)
        return SealKey(pki.seal_pkcs12_path, passphrase if passphrase is not None
                       else pki.passphrase, "demo")
    raise SealingFailed("aucun certificat de cachet n'est configuré (PARAPHEUR_SEAL_PKCS12).")


def _read_passphrase(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        raise SealingFailed(f"le fichier du mot de passe du cachet ({path.name}) est "
                            "illisible.") from None
    lines = text.splitlines()
    return lines[0] if lines else ""


def seal_document(session: Session, store: ContentStore, document: Document, step: PendingStep, *,
                  now: datetime, key_source: SealKey, setup: SigningSetup) -> AutomaticOutcome:
    """Seal the document's current version at a cachet step; a new SEALED version is stored.

    The signing options come from the step as for a signature (signatures.options), validated
    against the same trust anchors; the stamp is drawn only where the circuit puts one.
    """
    from signing import errors as signing_errors
    from signing.keys import Pkcs12Key

    try:
        key = Pkcs12Key.open(key_source.pkcs12, key_source.passphrase)
        options = step_sign_options(
            step.signature, document, default_level="B-LT", signer_name=key.subject_name,
            quality="Cachet électronique", always_stamp=False, use_text_tag=False,
            purpose="Cachet", field_prefix="Cachet")
        sealed = batch_signer(key, options, setup, now=now).sign_bytes(
            store.read(document.current_version.sha256), signed_at=now)
    except TimestampNotConfigured as exc:
        raise SealingFailed(exc.message[0].lower() + exc.message[1:], step=step.state) from None
    except signing_errors.SigningError as exc:
        raise SealingFailed(exc.message, step=step.state) from None
    version = documents.add_version(session, store, document, data=sealed,
                                    kind=VersionKind.SEALED, actor=None, now=now)
    return AutomaticOutcome(
        {"sha256": version.sha256, "version": version.number, "certificate": key.subject_name,
         "level": options.level.value, "seal": key_source.source},
        version_id=version.id, certificate_subject=key.subject_name)


def seal_step(run: AutomaticRun) -> AutomaticOutcome:
    """The cachet steps' handler: the seal, store and signing setup of the session's application."""
    config = run.session.info[SETTINGS_KEY]
    return seal_document(run.session, ContentStore(Path(config["DATA_DIR"]) / "store"),
                         run.document, run.step, now=run.now, key_source=seal_key(config),
                         setup=SigningSetup.from_config(config))
