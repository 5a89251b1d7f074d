"""The server seal (cachet serveur): applied by the server when a document enters a cachet step.

The key is the organisation's PKCS#12 (PARAPHEUR_SEAL_PKCS12) unlocked with the passphrase read
from PARAPHEUR_SEAL_PASSPHRASE_FILE; with neither set, the demo PKI's seal is used when it exists.
What can be checked without the network (the key opens, the options hold, a time-stamping
service is configured when the level needs one) is checked inside the transaction of the action that
led to the step: when it fails, that action is rolled back too, and the user gets the reason. A
seal that needs no remote service (B-B) is then applied at once, in that transaction; one that
must call the time-stamping service or gather revocation data (B-T and above) is written into the
outbox and applied by the worker: the document waits at the step (« en attente du cachet
serveur »), unavailable services are retried, and a seal that fails for good follows the step's
`on_reject` with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from parapheur.circuits import services as circuits
from parapheur.circuits.engine import PendingStep
from parapheur.circuits.exports import waiting_document
from parapheur.circuits.services import AutomaticOutcome, AutomaticRun
from parapheur.context import store_for
from parapheur.db import SETTINGS_KEY
from parapheur.documents import services as documents
from parapheur.documents.models import Document, VersionKind
from parapheur.documents.storage import ContentStore
from parapheur.errors import N_, ParapheurError
from parapheur.outbox.services import Delivery, DeliveryError, Handler
from parapheur.signatures.options import (
    SigningSetup,
    TimestampNotConfigured,
    batch_signer,
    step_sign_options,
)


class SealingFailed(ParapheurError):
    """The server could not apply the seal; the action that led to the cachet step is undone."""

    status = 503

    def __init__(self, detail: str | Exception, *, step: str | None = None,
                 transient: bool = False):
        super().__init__(N_("Le cachet serveur n'a pas pu être apposé : %(detail)s L'action "
                            "n'a pas été enregistrée ; le document est inchangé."), detail=detail)
        self.detail = getattr(detail, "message", detail)  # French; `params` keeps the error
        self.step = step
        self.transient = transient  # a remote service did not answer: worth trying again


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
            raise SealingFailed(ParapheurError(N_(
                "PARAPHEUR_SEAL_PKCS12 est configuré sans PARAPHEUR_SEAL_PASSPHRASE_FILE "
                "(fichier du mot de passe).")))
        return SealKey(Path(configured), passphrase, "configured")
    demo = Path(config["DATA_DIR"]) / "demo-pki"
    if (demo / "pki.json").is_file():
        from signing.pki import DevPki

        pki = DevPki.load(demo)
        return SealKey(pki.seal_pkcs12_path, passphrase if passphrase is not None
                       else pki.passphrase, "demo")
    raise SealingFailed(ParapheurError(N_(
        "aucun certificat de cachet n'est configuré (PARAPHEUR_SEAL_PKCS12).")))


def _read_passphrase(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        raise SealingFailed(ParapheurError(N_(
            "le fichier du mot de passe du cachet (%(file)s) est illisible."),
            file=path.name)) from None
    lines = text.splitlines()
    return lines[0] if lines else ""


@dataclass(frozen=True)
class SealPlan:
    """The seal of one step, ready to be applied: key, options and setup checked."""

    key: Any
    options: Any
    setup: SigningSetup
    source: str


def plan_seal(document: Document, step: PendingStep, *, key_source: SealKey,
              setup: SigningSetup) -> SealPlan:
    """Open the seal's key and resolve the step's options, without the network (SealingFailed)."""
    from signing import errors as signing_errors
    from signing.keys import Pkcs12Key

    try:
        key = Pkcs12Key.open(key_source.pkcs12, key_source.passphrase)
        options = step_sign_options(
            step.signature, document, default_level="B-LT", signer_name=key.subject_name,
            quality="Cachet électronique", always_stamp=False, use_text_tag=False,
            purpose="Cachet", field_prefix="Cachet")
    except signing_errors.SigningError as exc:
        raise SealingFailed(exc, step=step.state) from None
    if options.level.needs_timestamp and not setup.tsa_url:
        message = TimestampNotConfigured(options.level.value).message
        raise SealingFailed(message[0].lower() + message[1:], step=step.state)
    return SealPlan(key, options, setup, key_source.source)


def seal_document(session: Session, store: ContentStore, document: Document, step: PendingStep, *,
                  now: datetime, plan: SealPlan) -> AutomaticOutcome:
    """Seal the document's current version at a cachet step; a new SEALED version is stored.

    The signing options come from the step as for a signature (signatures.options), validated
    against the same trust anchors; the stamp is drawn only where the circuit puts one.
    """
    from signing import errors as signing_errors

    try:
        sealed = batch_signer(plan.key, plan.options, plan.setup, now=now).sign_bytes(
            store.read(document.current_version.sha256), signed_at=now)
    except TimestampNotConfigured as exc:
        raise SealingFailed(exc.message[0].lower() + exc.message[1:], step=step.state) from None
    except signing_errors.SigningError as exc:
        transient = isinstance(exc, (signing_errors.TimestampUnavailable,
                                     signing_errors.RevocationInfoUnavailable))
        raise SealingFailed(exc, step=step.state, transient=transient) from None
    version = documents.add_version(session, store, document, data=sealed,
                                    kind=VersionKind.SEALED, actor=None, now=now)
    subject = plan.key.subject_name
    return AutomaticOutcome(
        {"sha256": version.sha256, "version": version.number, "certificate": subject,
         "level": plan.options.level.value, "seal": plan.source},
        version_id=version.id, certificate_subject=subject)


SEAL_KIND = "circuit.cachet"


class SealStep:
    """The cachet steps' handler (circuits.services.AutomaticHandler): the seal, store and signing
    setup of the session's application."""

    outbox_kind = SEAL_KIND

    @staticmethod
    def _plan(run: AutomaticRun) -> SealPlan:
        config = run.session.info[SETTINGS_KEY]
        return plan_seal(run.document, run.step, key_source=seal_key(config),
                         setup=SigningSetup.from_config(config))

    def begin(self, run: AutomaticRun) -> AutomaticOutcome | None:
        """In the action's transaction: the seal checked, and applied at once unless it must call
        remote services (B-T and above: None, the worker applies it)."""
        plan = self._plan(run)
        return None if plan.options.level.needs_timestamp else self._apply(run, plan)

    def __call__(self, run: AutomaticRun) -> AutomaticOutcome:
        return self._apply(run, self._plan(run))

    @staticmethod
    def _apply(run: AutomaticRun, plan: SealPlan) -> AutomaticOutcome:
        return seal_document(run.session, store_for(run.session.info[SETTINGS_KEY]),
                             run.document, run.step, now=run.now, plan=plan)


seal_step = SealStep()


def deliver_seal(delivery: Delivery) -> dict[str, Any]:
    """The worker applies a deferred seal, then completes the step in the same transaction."""
    document = waiting_document(delivery)
    if document is None:
        return {"skipped": "le document n'attend plus ce cachet"}
    step = circuits.find_pending(document, delivery.payload["step"])
    try:
        outcome = seal_step(AutomaticRun(delivery.session, document, step, delivery.now))
    except SealingFailed as exc:
        raise DeliveryError(exc.detail, permanent=not exc.transient) from None
    circuits.complete_automatic_step(delivery.session, document, step=step.state,
                                     outcome=outcome, now=delivery.now)
    return {"step": step.state, "sha256": outcome.details["sha256"]}


def give_up_seal(delivery: Delivery, reason: str) -> None:
    """The seal failed for good: the step follows its on_reject, with the reason."""
    document = waiting_document(delivery)
    if document is not None:
        circuits.fail_automatic_step(delivery.session, document, step=delivery.payload["step"],
                                     reason=f"échec du cachet serveur : {reason}",
                                     now=delivery.now)


def handlers() -> dict[str, Handler]:
    """The deferred seal's kind of the outbox."""
    return {SEAL_KIND: Handler(deliver_seal, give_up_seal, "un cachet serveur")}
