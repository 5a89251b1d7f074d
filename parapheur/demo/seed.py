"""Seeding the demo: Métropole de Démo, its desks, users, demo certificates and documents."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from flask import Flask
from sqlalchemy import func, select

from parapheur.accounts.models import Role, SigningCredential, User
from parapheur.accounts.services import create_desk, create_user
from parapheur.audit import services as audit
from parapheur.circuits import services as circuits
from parapheur.clock import now
from parapheur.context import store_for, workflows_dir_for
from parapheur.db import get_session, transaction, upgrade
from parapheur.demo.pdfs import render_pdf
from parapheur.documents import services as documents
from parapheur.organisations.services import add_budget, create_organisation

DEMO_PASSPHRASE = "1234"

# The demo collectivité: a SIRET with valid check digits (SIREN 219 900 016), a codique of a
# poste comptable and two budgets, so that invoices and PES exports have real identifiers to use.
DEMO_ORGANISATION = {"slug": "metropole-demo", "siret": "21990001600011", "city": "Démo-Ville",
                     "postal_code": "99000", "codique": "0990001"}
DEMO_BUDGETS = (("990", "00", "Budget principal"), ("990", "01", "Budget annexe de l'eau"))


DEMO_MAIL_DOMAIN = "metropole-demo.test"  # a reserved domain: demo mail reaches nobody real


@dataclass(frozen=True)
class DemoUser:
    """A demo account."""

    username: str
    password: str
    full_name: str
    title: str
    role: Role
    desks: tuple[str, ...]
    signs: bool = False


DEMO_DESKS = (
    ("maire", "Maire", "Le Maire"),
    ("adjoint", "1er adjoint", "Le 1er adjoint"),
    ("dgs", "Direction générale des services", "Le Directeur général des services"),
    ("finances", "Service finances", "Le Responsable des finances"),
    ("services-techniques", "Services techniques", "Le Directeur des services techniques"),
)

DEMO_USERS = (
    DemoUser("maire", "demo-maire", "Martine Dupont", "Maire", Role.SIGNATAIRE, ("maire",), True),
    DemoUser("adjoint", "demo-adjoint", "Paul Lefèvre", "1er adjoint", Role.SIGNATAIRE,
             ("adjoint",), True),
    DemoUser("dgs", "demo-dgs", "Claire Martin", "Directrice générale des services", Role.AGENT,
             ("dgs",), True),
    DemoUser("finances", "demo-finances", "Karim Benali", "Responsable des finances", Role.AGENT,
             ("finances", "services-techniques")),
    DemoUser("auditeur", "demo-auditeur", "Sophie Bernard", "Auditrice interne", Role.AUDITEUR, ()),
    DemoUser("admin", "demo-admin", "Alex Morel", "Administrateur", Role.ADMIN, ()),
)

DEMO_DELIBERATIONS = (
    {"number": "2026-041", "title": "Approbation du budget supplémentaire 2026",
     "subject": "le budget supplémentaire de l'exercice 2026",
     "articles": ["Le budget supplémentaire 2026 est approuvé tel qu'annexé à la présente délibération.",
                  "Le Maire est chargé de l'exécution de la présente délibération."]},
    {"number": "2026-042", "title": "Tarifs de la médiathèque au 1er janvier 2027",
     "subject": "les tarifs de la médiathèque métropolitaine",
     "articles": ["Les tarifs annexés sont applicables au 1er janvier 2027.",
                  "La délibération n° 2024-117 est abrogée à cette date."]},
    {"number": "2026-043", "title": "Convention de mise à disposition du gymnase Jean-Moulin",
     "subject": "la convention de mise à disposition du gymnase Jean-Moulin",
     "articles": ["La convention avec l'association « Sport pour tous » est approuvée.",
                  "Le Maire est autorisé à la signer."]},
)


def demo_pki_dir(app: Flask) -> Path:
    """Where the demo PKI lives (generated at seed time, never committed)."""
    return Path(app.config["DATA_DIR"]) / "demo-pki"


def reset_data(app: Flask) -> None:
    """Erase the database tables, the file store and the demo PKI."""
    from parapheur.db import Base

    engine = app.extensions["parapheur.engine"]
    import parapheur.models  # noqa: F401

    Base.metadata.drop_all(engine)
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
    for path in (Path(app.config["DATA_DIR"]) / "store", demo_pki_dir(app)):
        shutil.rmtree(path, ignore_errors=True)


def deliberation_pdf(app: Flask, spec: dict, when: datetime) -> bytes:
    """A demo délibération as PDF, with a #signature# tag where the Maire signs."""
    return render_pdf(
        "pdf/deliberation.html", organisation=app.config["ORGANISATION_NAME"], place="Démo-Ville",
        date=when.strftime("%d/%m/%Y"), kind="Extrait du registre des délibérations",
        number=spec["number"], title=spec["title"],
        preamble="Le Conseil métropolitain, régulièrement convoqué, s'est réuni en séance publique "
                 "sous la présidence de Madame Martine Dupont, Maire.",
        considerants=["Vu le Code général des collectivités territoriales ;",
                      f"Considérant la nécessité de statuer sur {spec['subject']} ;",
                      "Après en avoir délibéré, à l'unanimité des membres présents et représentés,"],
        decision_intro="DÉCIDE :", articles=spec["articles"], signatory_quality="Le Maire")


def seed_demo(app: Flask, *, only_if_empty: bool = False, pki=None,
              pdf_factory=None) -> bool:
    """Migrate, then create the demo; return False when `only_if_empty` and users exist."""
    upgrade(app.config["DATABASE_URL"])
    session = get_session()
    if only_if_empty and session.execute(select(func.count(User.id))).scalar_one() > 0:
        return False
    moment = now()
    if pki is None:
        from signing.pki import Person, init_dev_pki

        people = [Person(u.username, u.full_name, u.title) for u in DEMO_USERS if u.signs]
        pki = init_dev_pki(demo_pki_dir(app), organisation=app.config["ORGANISATION_NAME"],
                           people=people, passphrase=DEMO_PASSPHRASE,
                           base_url=f"http://127.0.0.1:{app.config['DEMO_PKI_PORT']}")
    store = store_for(app.config)
    with transaction(session):
        organisation = create_organisation(session, name=app.config["ORGANISATION_NAME"],
                                           now=moment, **DEMO_ORGANISATION)
        for code_col, code_bud, label in DEMO_BUDGETS:
            add_budget(session, organisation, code_col=code_col, code_bud=code_bud, label=label,
                       now=moment)
        desks = {slug: create_desk(session, organisation=organisation, slug=slug, name=name,
                                   quality=quality, now=moment)
                 for slug, name, quality in DEMO_DESKS}
        users: dict[str, User] = {}
        for spec in DEMO_USERS:
            user = create_user(session, organisation=organisation, username=spec.username, full_name=spec.full_name,
                               password=spec.password, role=spec.role, title=spec.title,
                               email=f"{spec.username}@{DEMO_MAIL_DOMAIN}", now=moment)
            for slug in spec.desks:
                desks[slug].members.append(user)
            if spec.signs:
                session.add(SigningCredential(
                    user=user, kind="pkcs12", label=f"Certificat de démonstration — {spec.full_name}",
                    pkcs12_path=str(pki.pkcs12_path(spec.username)),
                    certificate_subject=spec.full_name, active=True, created_at=moment))
            users[spec.username] = user
        session.flush()
        made = []
        for deliberation in DEMO_DELIBERATIONS:
            data = (pdf_factory or (lambda s: deliberation_pdf(app, s, moment)))(deliberation)
            made.append(documents.create_document(
                session, store,
                title=f"Délibération n° {deliberation['number']} — {deliberation['title']}",
                doc_type="ACTES", doc_subtype="DELIBERATION", data=data,
                filename=f"deliberation-{deliberation['number']}.pdf", author=users["finances"],
                author_desk=desks["finances"], now=moment,
                circuits_dir=workflows_dir_for(app.config)))
        # The third one already has its visa: it waits for the Maire's signature.
        visa_step = circuits.pending_steps(made[2])[0].state
        circuits.act(session, made[2], step=visa_step, actor=users["dgs"], decision="approve",
                     now=moment)
        seed_accounting(app, session, store, organisation, users, pki, moment)
        audit.record(session, "demo:seeded", details={"documents": [d.id for d in made]},
                     clock=lambda: moment)
    return True


DEMO_SUPPLIERS = (
    # name, SIRET (valid keys), IBAN (valid key), object, nature M57, fonction, HT, TVA
    ("Papeterie Méridionale", "73282932000074", "FR7630001007941234567890185",
     "Fournitures de bureau — 1er trimestre", "6064", "020", "1250.00", "250.00"),
    ("Éclairage Public Services", "55210055400013", "FR7610107001011234567890129",
     "Maintenance de l'éclairage public — janvier", "61521", "814", "4830.50", "966.10"),
)


def seed_accounting(app: Flask, session, store, organisation, users: dict[str, User], pki,
                    moment: datetime) -> None:
    """A bordereau of the budget principal signed (XAdES) by the maire, ready for
    `parapheur export pes`: two supplier invoices in « Service fait » become its mandats."""
    from decimal import Decimal

    from parapheur.accounting.services import (
        budget_setup,
        create_bordereaux,
        create_mandats,
        sign_bordereaux,
    )
    from parapheur.invoices.models import Invoice, InvoiceKind, InvoiceStatus
    from parapheur.invoices.services import record_status
    from signing.keys import Pkcs12Key

    setup = budget_setup(organisation, "00", policy_sha256=app.config["HELIOS_POLICY_SHA256"])
    invoice_ids = []
    for index, (name, siret, iban, label, nature, fonction, net, vat) in enumerate(
            DEMO_SUPPLIERS, start=1):
        number = f"DEMO-{moment:%Y}-{index:03d}"
        pdf = render_pdf("accounting/demo_invoice.html", number=number, supplier=name, siret=siret,
                         iban=iban, label=label, net=Decimal(net), vat=Decimal(vat),
                         buyer=organisation.name, issued=moment.date())
        invoice = Invoice(
            organisation_id=organisation.id, filename=f"facture-{number}.pdf",
            file_sha256=store.put(pdf), file_size=len(pdf), container="pdf",
            kind=InvoiceKind.INVOICE, number=number, issue_date=moment.date(),
            issue_year=moment.year, seller_name=name, seller_siren=siret[:9],
            seller_siret=siret, seller_iban=iban, buyer_name=organisation.name,
            buyer_siret=organisation.siret, total_net=Decimal(net), total_vat=Decimal(vat),
            total_gross=Decimal(net) + Decimal(vat), amount_due=Decimal(net) + Decimal(vat),
            imputation_nature=nature, imputation_fonction=fonction,
            status=InvoiceStatus.DEPOSEE, received_at=moment, created_at=moment,
            misaddressed=False, blocked=False)
        session.add(invoice)
        session.flush()
        record_status(session, invoice, InvoiceStatus.SERVICE_FAIT, actor=users["finances"],
                      now=moment)
        invoice_ids.append(invoice.id)
    create_mandats(session, setup, exercice=moment.year, actor=users["finances"], now=moment,
                   invoice_ids=invoice_ids)
    bordereaux = create_bordereaux(session, setup, exercice=moment.year,
                                   issued_on=moment.date(), actor=users["finances"], now=moment)
    with Pkcs12Key.open(pki.pkcs12_path("maire"), DEMO_PASSPHRASE) as key:
        sign_bordereaux(session, setup, bordereaux, key, actor=users["maire"], now=moment)
