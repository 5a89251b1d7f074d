"""Signing a document's PDF annexes with its main PDF (`sign_annexes: true` on the step).

The annexes' signatures are a companion of the main signature: planned with it, made with the same
open key in the same act (`sign`), each checked by the same validator as `parapheur verify`, and
recorded in the same transaction as the main signed version (`record`). When one annex cannot be
signed, the document is not signed either: the act is whole or not at all.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from parapheur.circuits import services as circuits
from parapheur.documents.annexes import Annex, annexes_of, record_signed_annex
from parapheur.documents.models import Document
from parapheur.documents.storage import ContentStore
from parapheur.errors import N_
from parapheur.signatures.options import SigningSetup, batch_signer
from signing.errors import SigningError


@dataclass
class AnnexSignatures:
    """The PAdES signatures of a document's PDF annexes, made in the main signature's act."""

    store: ContentStore
    step: str
    options: Any  # the main signature's SignOptions: same level and reason, no visible stamp
    setup: SigningSetup
    check: Callable[[Any, bytes, str], str | None]
    annexes: list[tuple[int, bytes]]  # (annex id, bytes to sign)
    signed: dict[int, bytes] = field(default_factory=dict)

    signs_annexes = True

    def _options(self, annex_id: int):
        return dataclasses.replace(self.options, stamp=None, certify=False,
                                   field_name=f"{self.options.field_name}-annexe{annex_id}")

    def sign(self, key: Any, now: datetime) -> None:
        """Sign every PDF annex with the open key; raise SigningError at the first that fails."""
        from signing.validation import Validator

        signer = batch_signer(key, self.options, self.setup, now=now)
        outcomes = signer.sign_documents(
            [(str(annex_id), data, self._options(annex_id)) for annex_id, data in self.annexes],
            signed_at=now)
        own_roots = [c for c in key.signer.cert_registry if c.self_signed]
        validator = Validator([*self.setup.trust_roots, *own_roots], online=False,
                              clock=lambda: now)
        try:
            for (annex_id, _), outcome in zip(self.annexes, outcomes, strict=True):
                if outcome.signed is None:
                    raise outcome.error or SigningError(N_("la signature d'une annexe a échoué"))
                problem = self.check(validator, outcome.signed, self._options(annex_id).field_name)
                if problem is not None:
                    raise SigningError(N_("Annexe n° %(annex_id)s : %(problem)s"),
                                       annex_id=annex_id, problem=problem)
                self.signed[annex_id] = outcome.signed
        finally:
            validator.close()

    def record(self, session: Session, *, actor: Any, now: datetime) -> None:
        """Keep each signed annex and journal it (the main version's transaction)."""
        for annex_id, data in self.signed.items():
            annex = session.get(Annex, annex_id)
            if annex is not None:
                record_signed_annex(session, self.store, annex, data, actor=actor,
                                    step=self.step, now=now)


@dataclass
class Companions:
    """Several companions of one signature (a bordereau's XAdES and the annexes' PAdES)."""

    members: tuple[Any, ...]

    @property
    def signs_annexes(self) -> bool:
        return any(getattr(m, "signs_annexes", False) for m in self.members)

    def sign(self, key: Any, now: datetime) -> None:
        for member in self.members:
            member.sign(key, now)

    def record(self, session: Session, *, actor: Any, now: datetime) -> None:
        for member in self.members:
            member.record(session, actor=actor, now=now)


def companions(*members: Any) -> Any:
    """One companion for those given (None when there is none)."""
    present = tuple(m for m in members if m is not None)
    if not present:
        return None
    return present[0] if len(present) == 1 else Companions(present)


def annex_companion(session: Session, store: ContentStore, document: Document, *, step: str,
                    sign_options: Any, setup: SigningSetup,
                    check: Callable[[Any, bytes, str], str | None]) -> AnnexSignatures | None:
    """The annexes' signatures a `sign_annexes` step brings along, or None."""
    state = circuits.circuit_of(document).states.get(step)
    if state is None or not state.sign_annexes:
        return None
    pdfs = [a for a in annexes_of(session, document) if a.is_pdf]
    if not pdfs:
        return None
    return AnnexSignatures(store, step, sign_options, setup, check,
                           [(a.id, store.read(a.current_sha256)) for a in pdfs])
