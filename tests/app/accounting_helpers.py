"""Helpers of the accounting app tests: invoices of the demo in « Service fait », a bordereau
deposited in its circuit, the maire's signature over HTTP, acquittements and returns built from
the real samples."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

from app_helpers import csrf_from
from flask import render_template
from sqlalchemy import select

from parapheur.accounting.services import (
    budget_setup,
    create_bordereaux,
    create_mandats,
    start_bordereau_circuit,
)
from parapheur.accounts.models import Desk, User
from parapheur.context import store_for, workflows_dir_for
from parapheur.db import get_session, transaction
from parapheur.invoices.models import Invoice, InvoiceKind, InvoiceStatus
from parapheur.invoices.services import record_status
from parapheur.organisations.services import sole_organisation

DEMO_SIRET = "21990001600011"
IBAN = "FR7630001007941234567890185"
#: the demo's budget annexe: the demo's own signed bordereau is on the budget principal (00)
BUDGET = "01"


def demo_invoices(app, clock, count: int, *, first: int = 1) -> list[int]:
    """`count` invoices of the demo in « Service fait », each with its own small PDF."""
    store = store_for(app.config)
    ids = []
    with app.app_context():
        session = get_session()
        organisation = sole_organisation(session)
        with transaction(session):
            for n in range(first, first + count):
                pdf = b"%PDF-1.7\n% facture " + str(n).encode() + b"\n%%EOF\n"
                invoice = Invoice(
                    organisation_id=organisation.id, filename=f"facture-{n}.pdf",
                    file_sha256=store.put(pdf), file_size=len(pdf), container="pdf",
                    kind=InvoiceKind.INVOICE, number=f"FA-{n:04d}", issue_date=date(2026, 2, 1),
                    issue_year=2026, seller_name="Papeterie Méridionale",
                    seller_siret="73282932000074", seller_iban=IBAN,
                    total_net=Decimal(f"{100 + n}.50"), total_vat=Decimal("20.10"),
                    total_gross=Decimal(f"{120 + n}.60"), imputation_nature="6064",
                    imputation_fonction="020", status=InvoiceStatus.DEPOSEE,
                    received_at=clock(), created_at=clock(), misaddressed=False, blocked=False)
                session.add(invoice)
                session.flush()
                record_status(session, invoice, InvoiceStatus.SERVICE_FAIT, actor=None,
                              now=clock())
                ids.append(invoice.id)
    return ids


def bordereau_in_circuit(app, clock, invoice_ids: list[int]) -> tuple[int, int]:
    """Mandats of those invoices in one bordereau of the budget annexe, its PDF deposited in the
    `bordereau-mandats` circuit by « finances »: (bordereau id, document id)."""
    with app.app_context():
        session = get_session()
        organisation = sole_organisation(session)
        setup = budget_setup(organisation, BUDGET)
        finances = session.scalars(select(User).where(User.username == "finances")).one()
        desk = session.scalars(select(Desk).where(Desk.slug == "finances")).one()
        with transaction(session):
            create_mandats(session, setup, exercice=2026, actor=finances, now=clock(),
                           invoice_ids=invoice_ids)
            (bordereau,) = create_bordereaux(session, setup, exercice=2026,
                                             issued_on=clock().date(), actor=finances,
                                             now=clock())
            document = start_bordereau_circuit(
                session, store_for(app.config), bordereau, organisation, author=finances,
                author_desk=desk, render=render_template,
                circuits_dir=workflows_dir_for(app.config), now=clock())
            return bordereau.id, document.id


def sign_as_maire(maire, document_id: int):
    """The maire signs the bordereau's PDF (PAdES, and the XAdES with the same key) over HTTP."""
    token = csrf_from(maire.get(f"/documents/{document_id}").get_data(as_text=True))
    return maire.post(f"/documents/{document_id}/steps/signature_ordonnateur/sign",
                      data={"csrf_token": token, "passphrase": "1234"})


def acquit_for(shared_dir: Path, numbers: list[int], *, accepted: bool = True,
               cod_bud: str = BUDGET, siret: str = DEMO_SIRET, exercice: int = 2026) -> bytes:
    """The real PES_ACQUIT sample, addressed to the demo, acknowledging these bordereaux."""
    sample = (shared_dir / "samples" / "pes" / "pes_acquit.xml").read_bytes()
    acquit = (sample.replace(b'<CodCol V="400"/>', b'<CodCol V="990"/>')
              .replace(b'<CodBud V="01"/>', f'<CodBud V="{cod_bud}"/>'.encode())
              .replace(b'<IdColl V="20004910400025"/>', f'<IdColl V="{siret}"/>'.encode())
              .replace(b'<ExerciceBord V="2015"/>', f'<ExerciceBord V="{exercice}"/>'.encode()))
    if not accepted:
        acquit = acquit.replace(
            b'<EtatAck V="1"/>\n            <NumBord V="1847"/>',
            b'<EtatAck V="0"/>\n            <NumBord V="1847"/>').replace(
            f'<ExerciceBord V="{exercice}"/>'.encode(),
            f'<ExerciceBord V="{exercice}"/><Erreur><NumAnoAck V="ERREUR_DOUBLON_BORDEREAU"/>'
            f'<LibelleAnoAck V="Bordereau deja present"/></Erreur>'.encode())
    start = acquit.index(b"<ElementACQUIT>")
    end = acquit.index(b"</ElementACQUIT>") + len(b"</ElementACQUIT>")
    element = acquit[start:end]
    elements = b"".join(element.replace(b'<NumBord V="1847"/>', f'<NumBord V="{n}"/>'.encode())
                        for n in numbers)
    return acquit[:start] + elements + acquit[end:]


def retour_paying(pieces: list[tuple[int, int, Decimal]], *, cod_bud: str = BUDGET,
                  name: str = "RETOUR-2026-1") -> bytes:
    """A spending PES_Retour paying each (bordereau, mandat, amount) on 15/03/2026."""
    body = "".join(
        f'<Bordereau><BlocBordereau><Exer V="2026"/><IdBord V="{b}"/><TypBord V="01"/>'
        f'</BlocBordereau><Piece><InfoPiece><IdPce V="{n}"/><TypPce V="01"/><NatPce V="01"/>'
        f'<DtePcePec V="2026-03-10"/><EtatPce V="05"/></InfoPiece><LigneDePiece><BlocLignePiece>'
        f'<InfoLignePiece><IdLigne V="1"/><EtatLigPce V="01"/><MtHT V="{amount}"/>'
        f'</InfoLignePiece></BlocLignePiece><PaiementEmargement><OrgEma V="01"/>'
        f'<DtePay V="2026-03-15"/><MtPay V="{amount}"/></PaiementEmargement></LigneDePiece>'
        f'</Piece></Bordereau>' for b, n, amount in pieces)
    return (
        '<?xml version="1.0" encoding="ISO-8859-1"?>'
        '<n:PES_Retour xmlns:n="http://www.minefi.gouv.fr/cp/helios/pes_v2/Rev0/retour">'
        '<Enveloppe><Parametres><Version V="2"/><TypFic V="PESRETOUR_DEP"/>'
        f'<NomFic V="{name}"/></Parametres></Enveloppe><EnTetePES>'
        f'<DteStr V="2026-03-16"/><IdPost V="099000"/><IdColl V="{DEMO_SIRET}"/>'
        f'<CodColl V="990"/><CodBud V="{cod_bud}"/></EnTetePES><PES_DepenseRetour>'
        '<EnTeteDepense><TypRestit V="AA"/><IdVer V="2"/><NatInf V="2"/></EnTeteDepense>'
        f'{body}</PES_DepenseRetour></n:PES_Retour>').encode("ISO-8859-1")
