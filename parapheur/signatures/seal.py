"""The server seal (cachet serveur): applied by the server when a document enters a cachet step.

The key is the organisation's PKCS#12 (PARAPHEUR_SEAL_PKCS12) unlocked with the passphrase read
from PARAPHEUR_SEAL_PASSPHRASE_FILE; with neither set, the demo PKI's seal is used when it exists.
The seal runs inside the transaction of the action that led to the step: when it fails, that
action is rolled back too, and the user gets the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from flask import Flask, current_app

from parapheur.circuits.services import AutomaticOutcome, AutomaticRun
from parapheur.documents import services as documents
from parapheur.documents.models import VersionKind
from parapheur.documents.storage import ContentStore
from parapheur.errors import ParapheurError


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


def seal_key(app: Flask) -> SealKey:
    """The seal configured for this application, or SealingFailed saying what is missing."""
    configured = app.config.get("SEAL_PKCS12")
    passphrase_file = app.config.get("SEAL_PASSPHRASE_FILE")
    passphrase = _read_passphrase(Path(passphrase_file)) if passphrase_file else None
    if configured:
        if passphrase is None:
            raise SealingFailed("PARAPHEUR_SEAL_PKCS12 est configuré sans "
                                "PARAPHEUR_SEAL_PASSPHRASE_FILE (fichier du mot de passe).")
        return SealKey(Path(configured), passphrase, "configured")
    demo = Path(app.config["DATA_DIR"]) / "demo-pki"
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


def seal_step(run: AutomaticRun) -> AutomaticOutcome:
    """Seal the document's current version at a cachet step; a new SEALED version is stored."""
    from signing import errors as signing_errors
    from signing.keys import Pkcs12Key
    from signing.pades import Level, SignOptions, Stamp, sign_document

    app = current_app
    document = run.document
    options = run.step.signature
    level = Level(options.level) if options is not None and options.level else Level.B_LT
    tsa_url = app.config.get("TSA_URL")
    if level.needs_timestamp and not tsa_url:
        raise SealingFailed(f"le niveau {level.value} demande un horodatage, mais aucun service "
                            "d'horodatage (PARAPHEUR_TSA_URL) n'est configuré.", step=run.step.state)
    key_source = seal_key(app)
    store = ContentStore(Path(app.config["DATA_DIR"]) / "store")
    try:
        key = Pkcs12Key.open(key_source.pkcs12, key_source.passphrase)
        stamp = None
        if options is not None and options.stamp is not None:
            where = options.stamp
            # Circuit pages count from 1 (negative from the end); the signing layer from 0.
            stamp = Stamp(signer_name=key.subject_name, quality="Cachet électronique",
                          page=where.page - 1 if where.page > 0 else where.page,
                          box=(where.x, where.y, where.x + where.width, where.y + where.height),
                          text_tag=None)
        certify = bool(options is not None and options.certify) and not any(
            v.kind in (VersionKind.SIGNED, VersionKind.SEALED) for v in document.versions)
        sealed = sign_document(
            store.read(document.current_version.sha256), key,
            SignOptions(level=level, stamp=stamp, certify=certify,
                        reason=f"Cachet — {document.title}"[:200],
                        field_name=f"Cachet{len(document.versions)}"),
            signed_at=run.now, timestamper=tsa_url if level.needs_timestamp else None)
    except signing_errors.SigningError as exc:
        raise SealingFailed(exc.message, step=run.step.state) from None
    version = documents.add_version(run.session, store, document, data=sealed,
                                    kind=VersionKind.SEALED, actor=None, now=run.now)
    return AutomaticOutcome(
        {"sha256": version.sha256, "version": version.number, "certificate": key.subject_name,
         "level": level.value, "seal": key_source.source},
        version_id=version.id, certificate_subject=key.subject_name)
