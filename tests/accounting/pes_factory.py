"""Typed PES content for tests: a valid spending PES of a few mandats, to break on purpose."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

from parapheur.accounting.pes.model import (
    Address,
    Attachment,
    BankAccount,
    Bordereau,
    Budget,
    Line,
    PesAller,
    Piece,
    Tiers,
)

BUDGET = Budget(id_post="034000", id_coll="21340172201787", cod_col="123", cod_bud="01",
                libelle="SAINT-ETIENNE-LES-ORGUES PRINCIPAL")
IBAN = "FR7630001007941234567890185"
SUPPLIER = Tiers(name="Papeterie Méridionale", siret="73282932000074", reference="F0042",
                 address=Address("12 rue des Écoles", "34000", "Montpellier"),
                 bank_account=BankAccount(iban=IBAN, holder="PAPETERIE MERIDIONALE",
                                          bic="BDFEFRPP"))


def pdf_bytes(n: int) -> bytes:
    """A small PDF-looking payload, different for each n."""
    return b"%PDF-1.7\n% facture " + str(n).encode() + b"\n%%EOF\n"


def piece(number: int, amount: str = "120.00", *, tva: str | None = "20.00",
          attachment: str | None = None, **changes) -> Piece:
    """A mandat of one line for SUPPLIER, with its invoice attached when `attachment` is set."""
    line = Line(number=1, nature="6064", fonction="020", amount_ht=Decimal(amount),
                amount_tva=None if tva is None else Decimal(tva), tiers=SUPPLIER,
                invoice_number=f"FA-{number}", transfer_label=f"FACTURE FA-{number}")
    made = Piece(number=number, lines=(line,), object=f"Fournitures de bureau {number}",
                 attachment_ids=(attachment,) if attachment else ())
    return replace(made, **changes)


def bordereau(number: int, pieces: tuple[Piece, ...], **changes) -> Bordereau:
    """A bordereau of `pieces` for the exercice 2026, with a positive cumulative amount."""
    made = Bordereau(number=number, exercice=2026, issued_on=date(2026, 3, 2), pieces=pieces,
                     cumulative_amount=Decimal("50000.00"))
    return replace(made, **changes)


def pes(bordereaux: tuple[Bordereau, ...] | None = None, *, attachments=None, **changes
        ) -> PesAller:
    """A PES of two bordereaux (3 and 2 mandats), each mandat with its invoice as a PJ."""
    if bordereaux is None:
        bordereaux = (
            bordereau(1, tuple(piece(n, attachment=f"PJ2026DEP{n:05d}") for n in (1, 2, 3))),
            bordereau(2, tuple(piece(n, "80.50", tva=None, attachment=f"PJ2026DEP{n:05d}")
                               for n in (4, 5))),
        )
    if attachments is None:
        attachments = tuple(
            Attachment(id_unique=pid, filename=f"facture-{pid}.pdf", content=pdf_bytes(i))
            for i, pid in enumerate(sorted({a for b in bordereaux for p in b.pieces
                                           for a in p.attachment_ids})))
    made = PesAller(name="PES-2026-0001", budget=BUDGET, created_on=date(2026, 3, 3),
                    bordereaux=bordereaux, attachments=attachments)
    return replace(made, **changes)
