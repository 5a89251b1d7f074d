"""Seeding the demo: Métropole de Démo, its desks, users, demo certificates and documents."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

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


def _demo_supplier(index: int, name: str) -> dict[str, str]:
    """Made-up identifiers with valid check digits (SIREN, SIRET under it, French VAT number)."""
    from stdnum import luhn

    base = f"79{index:06d}"
    siren = base + luhn.calc_check_digit(base)
    siret = siren + "0001" + luhn.calc_check_digit(siren + "0001")
    key = (12 + 3 * (int(siren) % 97)) % 97
    return {"seller_siren": siren, "seller_siret": siret, "seller_vat_id": f"FR{key:02d}{siren}",
            "seller_name": name}


def _supplier_visual(spec) -> bytes:
    """The supplier's own rendering of a Factur-X (the PDF that carries the CII XML)."""
    from weasyprint import HTML

    from parapheur.templating import render

    return HTML(string=render("pdf/demo_supplier_invoice.html", spec=spec)).write_pdf()


def seed_invoices(app: Flask, session, store, organisation, users: dict[str, User],
                  moment: datetime) -> list[int]:
    """Demo invoices in every kind of state, built from what the product ships (its own CII and
    UBL writers and Factur-X embedding): no sample file outside the package is read.

    A Factur-X waiting for service fait (matched to its engagement), a UBL above the finances'
    threshold at their visa, a CII paid on time (« Service fait »), a suspended CII, a UBL past
    its délai global de paiement, and two blocked ones (mal adressée, doublon).
    """
    from datetime import timedelta
    from decimal import Decimal

    from parapheur.invoices import lifecycle
    from parapheur.invoices.engagements import import_engagements
    from parapheur.invoices.generate import InvoiceSpec, cii_xml, facturx_pdf, ubl_xml
    from parapheur.invoices.services import import_invoice
    from parapheur.templating import render

    finances = users["finances"]
    from parapheur.accounts.models import Desk

    desk = session.execute(select(Desk).where(Desk.organisation_id == organisation.id,
                                              Desk.slug == "finances")).scalar_one()
    siret = organisation.siret or DEMO_ORGANISATION["siret"]
    papeterie = _demo_supplier(1, "Papeterie Méridionale")
    travaux = _demo_supplier(2, "Travaux Publics du Sud")
    electricite = _demo_supplier(3, "Électricité Générale Martin")
    bureau = _demo_supplier(4, "Bureau & Mobilier SAS")
    espaces = _demo_supplier(5, "Espaces Verts Durand")
    import_engagements(session, (
        "numero;exercice;service;bureau;siren_fournisseur;montant_ttc;nature;fonction\n"
        f"ENG-2026-014;2026;services-techniques;services-techniques;"
        f"{papeterie['seller_siren']};2000;6064;020\n"
        f"ENG-2026-021;2026;services-techniques;services-techniques;"
        f"{travaux['seller_siren']};60000;2315;822\n").encode(),
        organisation_id=organisation.id, actor=finances, now=moment)

    def spec(number: str, supplier: dict[str, Any], received_days_ago: int, lines, **more):
        issued = (moment - timedelta(days=received_days_ago + 2)).date()
        return InvoiceSpec(number=number, issue_date=issued, buyer_name=organisation.name,
                           buyer_siret=more.pop("buyer_siret", siret),
                           buyer_reference="services-techniques",
                           due_date=issued + timedelta(days=30), lines=tuple(
                               (name, Decimal(q), Decimal(p), Decimal(r))
                               for name, q, p, r in lines), **supplier, **more)

    def received(data: bytes, filename: str, days_ago: int):
        return import_invoice(session, store, data=data, filename=filename, actor=finances,
                              actor_desk=desk, now=moment - timedelta(days=days_ago),
                              render=render, circuits_dir=workflows_dir_for(app.config)).invoice

    paper = spec("PM-2026-0311", papeterie, 1, [("Ramettes de papier A4 recyclé", "40", "4.90",
                                                  "20"), ("Enveloppes C4", "10", "6.50", "20")],
                 order_reference="ENG-2026-014")
    made = [received(facturx_pdf(cii_xml(paper), _supplier_visual(paper)),
                     "PM-2026-0311.pdf", 1)]
    roadworks = received(ubl_xml(spec("TPS-2026-118", travaux, 8, [
        ("Réfection de la chaussée, rue des Écoles (m²)", "320", "95.00", "20")],
        order_reference="ENG-2026-021")), "TPS-2026-118.xml", 8)
    lighting = received(cii_xml(spec("EGM-2026-0457", electricite, 12, [
        ("Remplacement de luminaires LED, gymnase", "8", "112.50", "20"),
        ("Main-d'œuvre (heures)", "6", "48.00", "20")])), "EGM-2026-0457.xml", 12)
    chairs = received(cii_xml(spec("BM-2026-0460", bureau, 6, [
        ("Fauteuils de bureau", "6", "189.00", "20")])), "BM-2026-0460.xml", 6)
    mowing = received(ubl_xml(spec("EVD-2026-099", espaces, 34, [
        ("Tonte des parcs, septembre", "1", "2450.00", "20")])), "EVD-2026-099.xml", 34)
    made += [roadworks, lighting, chairs, mowing]
    made.append(received(cii_xml(spec("EVD-2026-100", espaces, 3, [
        ("Taille des haies", "1", "780.00", "20")], buyer_siret="21380185500015")),
        "EVD-2026-100.xml", 3))  # another collectivité's: mal adressée
    made.append(received(ubl_xml(paper), "PM-2026-0311.xml", 0))  # sent twice: doublon

    lifecycle.act(session, roadworks, actor=finances, decision="approve",
                  now=moment - timedelta(days=5))  # service fait; the finances' visa waits
    lifecycle.act(session, lighting, actor=finances, decision="approve",
                  now=moment - timedelta(days=9))  # service fait: bon à payer
    lifecycle.suspend(session, chairs, actor=finances, now=moment - timedelta(days=4),
                      reason="Bon de livraison non signé : demandé au fournisseur.")
    return [invoice.id for invoice in made]


def seed_demo(app: Flask, *, only_if_empty: bool = False, pki=None,
              pdf_factory=None, invoices: bool = True) -> bool:
    """Migrate, then create the demo; return False when `only_if_empty` and users exist.

    `invoices=False` leaves out the demo invoices (the test suite's shared demo does)."""
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
        invoice_ids = seed_invoices(app, session, store, organisation, users, moment) \
            if invoices else []
        seed_accounting(app, session, store, organisation, users, pki, moment)
        audit.record(session, "demo:seeded", details={"documents": [d.id for d in made],
                                                      "invoices": invoice_ids},
                     clock=lambda: moment)
    return True


# The commune beside the métropole: one instance for the territory (organisations.scope).
DEMO_COMMUNE = {"slug": "commune-demo", "name": "Commune de Démo-sur-Loire",
                "siret": "21990002400015", "city": "Démo-sur-Loire", "postal_code": "99100",
                "codique": "0990002"}
DEMO_COMMUNE_DESKS = (("maire", "Maire", "Le Maire"),
                      ("dgs", "Secrétariat général", "La Secrétaire générale"),
                      ("finances", "Comptabilité", "La Comptable"))
DEMO_COMMUNE_USERS = (
    DemoUser("commune-maire", "demo-commune-maire", "Jeanne Roux", "Maire", Role.SIGNATAIRE,
             ("maire",)),
    DemoUser("commune-secretaire", "demo-commune-secretaire", "Luc Garnier",
             "Secrétaire général", Role.AGENT, ("dgs", "finances")),
    DemoUser("commune-admin", "demo-commune-admin", "Inès Faure", "Administratrice", Role.ADMIN,
             ()),
)
#: The platform's administrator: creates organisations and their first administrator.
DEMO_PLATFORM_USER = DemoUser("plateforme", "demo-plateforme", "Nora Petit",
                              "Administratrice de la plateforme", Role.PLATFORM, ())


def _commune_deliberation_pdf(spec: dict, when: datetime) -> bytes:
    """The commune's délibération, in its own name."""
    return render_pdf(
        "pdf/deliberation.html", organisation=DEMO_COMMUNE["name"], place=DEMO_COMMUNE["city"],
        date=when.strftime("%d/%m/%Y"), kind="Extrait du registre des délibérations",
        number=spec["number"], title=spec["title"],
        preamble="Le Conseil municipal, régulièrement convoqué, s'est réuni en séance publique "
                 "sous la présidence de Madame Jeanne Roux, Maire.",
        considerants=["Vu le Code général des collectivités territoriales ;",
                      f"Considérant la nécessité de statuer sur {spec['subject']} ;",
                      "Après en avoir délibéré, à l'unanimité des membres présents et représentés,"],
        decision_intro="DÉCIDE :", articles=spec["articles"], signatory_quality="Le Maire")


def seed_demo_organisations(app: Flask, *, pdf_factory=None) -> None:
    """On a seeded demo, the commune (a few users, one délibération waiting for its visa), the
    métropole's DGS as a member of the commune too (the header's switcher), and the platform
    administrator."""
    from parapheur.organisations.services import add_membership, get_organisation

    session = get_session()
    moment = now()
    store = store_for(app.config)
    with transaction(session):
        metropole = get_organisation(session, DEMO_ORGANISATION["slug"])
        commune = create_organisation(session, now=moment, **DEMO_COMMUNE)
        add_budget(session, commune, code_col="991", code_bud="00", label="Budget principal",
                   now=moment)
        desks = {slug: create_desk(session, organisation=commune, slug=slug, name=name,
                                   quality=quality, now=moment)
                 for slug, name, quality in DEMO_COMMUNE_DESKS}
        users = {}
        for spec in DEMO_COMMUNE_USERS:
            user = create_user(session, organisation=commune, username=spec.username,
                               full_name=spec.full_name, password=spec.password, role=spec.role,
                               title=spec.title, email=f"{spec.username}@commune-demo.test",
                               now=moment)
            for slug in spec.desks:
                desks[slug].members.append(user)
            users[spec.username] = user
        dgs = session.execute(select(User).where(User.username == "dgs")).scalar_one()
        add_membership(session, commune, dgs, Role.AGENT, now=moment)
        desks["dgs"].members.append(dgs)
        spec = DEMO_PLATFORM_USER
        create_user(session, organisation=metropole, username=spec.username,
                    full_name=spec.full_name, password=spec.password, role=spec.role,
                    title=spec.title, email=f"{spec.username}@{DEMO_MAIL_DOMAIN}", now=moment)
        session.flush()
        deliberation = {"number": "2026-007", "title": "Réfection du toit de l'école communale",
                        "subject": "la réfection du toit de l'école communale",
                        "articles": ["Les travaux sont approuvés pour 48 000 € TTC.",
                                     "Le Maire est autorisé à signer les marchés."]}
        data = (pdf_factory or (lambda spec: _commune_deliberation_pdf(spec, moment)))(
            deliberation)
        secretary = users["commune-secretaire"]
        secretary.work_as(commune, secretary.home_role)
        documents.create_document(
            session, store, title=f"Délibération n° {deliberation['number']} — "
                                  f"{deliberation['title']}",
            doc_type="ACTES", doc_subtype="DELIBERATION", data=data,
            filename=f"deliberation-{deliberation['number']}.pdf", author=secretary,
            author_desk=desks["finances"], now=moment, circuits_dir=workflows_dir_for(app.config))
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
