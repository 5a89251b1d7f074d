"""Mandatement in the database: invoices → mandats → numbered bordereaux → XAdES → PES exported
exactly once → deposited → acquittement → retour; on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import gzip
import sys
import threading
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from parapheur.accounting.models import (
    AccountingCounter,
    BordereauMandats,
    BordereauState,
    Mandat,
    MandatState,
    PesExport,
)
from parapheur.accounting.pes.builder import ENCODING
from parapheur.accounting.pes.returns import read_acquit, read_retour
from parapheur.accounting.pes.validation import PesInvalid, check_aller
from parapheur.accounting.services import (
    AccountingError,
    AccountingSetup,
    FolderConnector,
    create_bordereaux,
    create_mandats,
    deposit_pending,
    export_pes,
    import_acquit,
    import_retour,
    sign_bordereaux,
)
from parapheur.audit.models import AuditEvent
from parapheur.audit.services import verify_chain
from parapheur.context import workflows_dir_for
from parapheur.db import get_session, transaction
from parapheur.documents.storage import ContentStore
from parapheur.invoices.models import Invoice, InvoiceKind, InvoiceStatus
from parapheur.invoices.services import record_status
from signing.keys import Pkcs12Key

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "signing"))
from xades_checks import xmlsec_verify  # noqa: E402

# Numbering, uniqueness and concurrency also run on PostgreSQL (the `postgres` marker,
# tests/conftest.py).

SIRET = "21340172201787"


def organisation_setup(app, clock, code_bud: str | None = None) -> AccountingSetup:
    """The test collectivité (created once per database) and the setup of one of its budgets."""
    from parapheur.accounting.services import budget_setup
    from parapheur.organisations.models import Organisation
    from parapheur.organisations.services import add_budget, create_organisation

    with app.app_context():
        session = get_session()
        organisation = session.scalars(select(Organisation).order_by(Organisation.id)).first()
        if organisation is None:
            with transaction(session):
                organisation = create_organisation(
                    session, slug="saint-etienne", name="Ville de Saint-Étienne-les-Orgues",
                    siret=SIRET, city="Saint-Étienne-les-Orgues", postal_code="04230",
                    codique="0340000", now=clock())
                add_budget(session, organisation, code_col="123", code_bud="01",
                           label="VILLE DE SAINT-ETIENNE", now=clock())
        return budget_setup(organisation, code_bud)


@pytest.fixture
def setup(app, clock) -> AccountingSetup:
    return organisation_setup(app, clock)


IBAN = "FR7630001007941234567890185"


def _store(app) -> ContentStore:
    return ContentStore(Path(app.config["DATA_DIR"]) / "store")


def make_invoices(app, clock, count: int, *, iban: str = IBAN) -> list[int]:
    """`count` invoices in « Service fait » of the first collectivité, each with its own PDF."""
    from parapheur.organisations.models import Organisation

    store = _store(app)
    ids = []
    with app.app_context():
        session = get_session()
        organisation_id = session.scalars(select(Organisation.id).order_by(Organisation.id)).first()
        with transaction(session):
            for n in range(1, count + 1):
                pdf = b"%PDF-1.7\n% facture " + str(n).encode() + b"\n%%EOF\n"
                now = clock()
                invoice = Invoice(
                    organisation_id=organisation_id, filename=f"facture-{n}.pdf", file_sha256=store.put(pdf), file_size=len(pdf),
                    container="pdf", kind=InvoiceKind.INVOICE, number=f"FA-{n:04d}",
                    issue_date=date(2026, 2, 1), issue_year=2026,
                    seller_name="Papeterie Méridionale", seller_siret="73282932000074",
                    seller_iban=iban, total_net=Decimal(f"{100 + n}.50"),
                    total_vat=Decimal("20.10"), total_gross=Decimal(f"{120 + n}.60"),
                    imputation_nature="6064", imputation_fonction="020",
                    status=InvoiceStatus.DEPOSEE, received_at=now, created_at=now,
                    misaddressed=False, blocked=False)
                session.add(invoice)
                session.flush()
                record_status(session, invoice, InvoiceStatus.SERVICE_FAIT, actor=None, now=now)
                ids.append(invoice.id)
    return ids


@pytest.fixture
def maire_key(dev_pki):
    with Pkcs12Key.open(dev_pki.pkcs12_path("maire"), dev_pki.passphrase) as key:
        yield key


def mandate(app, clock, setup, *, per_bordereau: int = 10) -> list[int]:
    with app.app_context():
        session = get_session()
        with transaction(session):
            create_mandats(session, setup, exercice=2026, actor=None, now=clock())
            made = create_bordereaux(session, setup, exercice=2026, issued_on=clock().date(),
                                     actor=None, now=clock(), per_bordereau=per_bordereau)
            return [b.id for b in made]


def sign_all(app, clock, setup, key) -> None:
    with app.app_context():
        session = get_session()
        with transaction(session):
            bordereaux = session.scalars(select(BordereauMandats).where(
                BordereauMandats.state == BordereauState.A_SIGNER)).all()
            sign_bordereaux(session, setup, list(bordereaux), key, actor=None, now=clock())


def export(app, clock, setup):
    with app.app_context():
        session = get_session()
        with transaction(session):
            result = export_pes(session, _store(app), setup, actor=None, now=clock())
            return None if result is None else (result.export.number, result.content)


@pytest.mark.postgres
def test_twenty_invoices_to_payment(app, clock, setup, maire_key, dev_pki, system_tool, shared_dir,
                                    tmp_path):
    xmlsec1 = system_tool("xmlsec1", "xmlsec1")
    invoice_ids = make_invoices(app, clock, 20)

    assert len(mandate(app, clock, setup)) == 2
    sign_all(app, clock, setup, maire_key)  # one key, one batch, both bordereaux
    number, content = export(app, clock, setup)

    # The file: valid, dematerialised, each XAdES accepted by xmlsec1, PJs = the invoices.
    assert number == 1
    assert check_aller(content) == []
    root = etree.fromstring(content)
    assert root.find("PES_DepenseAller/EnTeteDepense/InfoDematerialisee").get("V") == "1"
    assert [b.find("BlocBordereau/IdBord").get("V") for b in root.iter("Bordereau")] == ["1", "2"]
    assert [p.get("V") for p in root.iter("IdPce")] == [str(n) for n in range(1, 21)]
    for bordereau_id in ("BORD-2026-01-1", "BORD-2026-01-2"):
        accepted, output = xmlsec_verify(xmlsec1, content, f"{bordereau_id}-SIG",
                                         dev_pki.ca_certificate_path, tmp_path)
        assert accepted, output
    store = _store(app)
    with app.app_context():
        session = get_session()
        files = {m.attachment_id: store.read(m.invoice.file_sha256)
                 for m in session.scalars(select(Mandat))}
    decoded = {pj.find("IdUnique").get("V"): gzip.decompress(base64.b64decode(
        pj.findtext("Contenu/Fichier"))) for pj in root.iterfind("PES_PJ/PJ")}
    assert decoded == files and len(decoded) == 20

    # Exactly once: a second run exports nothing and uses no number.
    assert export(app, clock, setup) is None
    with app.app_context():
        session = get_session()
        assert session.scalar(select(func.count(PesExport.id))) == 1
        stored = session.scalars(select(PesExport)).one()
        assert store.read(stored.sha256) == content
        # Kept: `parapheur store gc` never takes an export's file, `store verify` checks it.
        from parapheur.documents.maintenance import referenced_digests, unreferenced_files

        assert stored.sha256 not in unreferenced_files(session, store, older_than_seconds=0)
        assert stored.sha256 in referenced_digests(session)
        # Deposit for the TdT, once: the second call has nothing left to deposit.
        folder = tmp_path / "depot"
        with transaction(session):
            done = deposit_pending(session, store, FolderConnector(folder), actor=None,
                                   now=clock())
        assert [e.filename for e, _ in done] == [stored.filename]
        assert (folder / stored.filename).read_bytes() == content
        with transaction(session):
            assert deposit_pending(session, store, FolderConnector(folder), actor=None,
                                   now=clock()) == []

    # Acquittement: both bordereaux accepted.
    sample = (shared_dir / "samples" / "pes" / "pes_acquit.xml").read_bytes()
    acquit = (sample.replace(b'<CodCol V="400"/>', b'<CodCol V="123"/>')
              .replace(b'<IdColl V="20004910400025"/>', f'<IdColl V="{SIRET}"/>'.encode())
              .replace(b'<NumBord V="1847"/>', b'<NumBord V="1"/>')
              .replace(b'<ExerciceBord V="2015"/>', b'<ExerciceBord V="2026"/>'))
    second = acquit[acquit.index(b"<ElementACQUIT>"):acquit.index(b"</ElementACQUIT>") + 16]
    acquit = acquit.replace(second, second + second.replace(b'<NumBord V="1"/>',
                                                            b'<NumBord V="2"/>'), 1)
    with app.app_context():
        session = get_session()
        with transaction(session):
            changes = import_acquit(session, read_acquit(acquit), actor=None, now=clock())
        assert changes == [
            "Bordereau 1 (exercice 2026) : pris en charge — mandat(s) 1, 2, 3, 4, 5, 6, 7, 8, 9, "
            "10 « Pris en charge »",
            "Bordereau 2 (exercice 2026) : pris en charge — mandat(s) 11, 12, 13, 14, 15, 16, 17, "
            "18, 19, 20 « Pris en charge »"]
        assert {m.state for m in session.scalars(select(Mandat))} == {MandatState.PRIS_EN_CHARGE}

    # Retour: every mandat paid → every invoice « Mise en paiement », DGP stopped.
    with app.app_context():
        session = get_session()
        mandats = session.scalars(select(Mandat).order_by(Mandat.number)).all()
        retour = retour_with_payments([(m.bordereau.number, m.number, m.amount_ht + m.amount_tva)
                                       for m in mandats])
        with transaction(session):
            changes = import_retour(session, read_retour(retour), actor=None, now=clock())
        assert len(changes) == 20
        assert changes[0].startswith("mandat 1 (Bordereau 1 (exercice 2026)) : mis en paiement "
                                     "le 15/03/2026")
        invoices = session.scalars(select(Invoice).where(Invoice.id.in_(invoice_ids))).all()
        assert {i.status for i in invoices} == {InvoiceStatus.MISE_EN_PAIEMENT}
        assert all(i.paid_at is not None and i.paid_at.date() == date(2026, 3, 15)
                   for i in invoices)
        names = set(session.scalars(select(AuditEvent.name)))
        assert {"accounting:mandat:created", "accounting:bordereau:created",
                "accounting:bordereau:signed", "accounting:pes:exported",
                "accounting:pes:deposited", "accounting:bordereau:acknowledged",
                "accounting:mandat:returned", "invoice:status:changed"} <= names
        assert verify_chain(session).intact


def retour_with_payments(pieces: list[tuple[int, int, Decimal]]) -> bytes:
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
        '<NomFic V="RETOUR-2026-1"/></Parametres></Enveloppe><EnTetePES>'
        '<DteStr V="2026-03-16"/><IdPost V="034000"/><IdColl V="21340172201787"/>'
        '<CodColl V="123"/><CodBud V="01"/></EnTetePES><PES_DepenseRetour><EnTeteDepense>'
        '<TypRestit V="AA"/><IdVer V="2"/><NatInf V="2"/></EnTeteDepense>'
        f'{body}</PES_DepenseRetour></n:PES_Retour>').encode(ENCODING)


@pytest.mark.postgres
def test_numbers_have_no_gap_after_a_rollback_and_are_unique_in_the_database(app, clock, setup):
    make_invoices(app, clock, 3)
    with app.app_context():
        session = get_session()
        with pytest.raises(RuntimeError), transaction(session):
            create_mandats(session, setup, exercice=2026, actor=None, now=clock())
            create_bordereaux(session, setup, exercice=2026, issued_on=clock().date(),
                              actor=None, now=clock())
            raise RuntimeError("the caller fails after numbering")
        assert session.scalar(select(func.count(BordereauMandats.id))) == 0
    mandate(app, clock, setup, per_bordereau=2)
    with app.app_context():
        session = get_session()
        assert session.scalars(select(BordereauMandats.number)
                               .order_by(BordereauMandats.number)).all() == [1, 2]
        assert session.scalars(select(Mandat.number).order_by(Mandat.number)).all() == [1, 2, 3]
        # The constraint itself refuses a number given twice, whatever the code does.
        first = session.scalars(select(BordereauMandats)).first()
        session.add(BordereauMandats(
            organisation_id=first.organisation_id, cod_col=first.cod_col, cod_bud=first.cod_bud, exercice=first.exercice,
            type_bordereau=first.type_bordereau, number=first.number, issued_on=first.issued_on,
            amount_ht=Decimal("1"), amount_tva=Decimal("0"), cumulative_amount=Decimal("1"),
            state=BordereauState.A_SIGNER, created_at=clock()))
        with pytest.raises(IntegrityError):
            session.flush()
        session.rollback()


def test_an_export_hélios_would_reject_is_not_produced(app, clock, setup, maire_key):
    make_invoices(app, clock, 2, iban="FR7630001007941234567890186")  # wrong IBAN key
    mandate(app, clock, setup)
    sign_all(app, clock, setup, maire_key)

    with pytest.raises(PesInvalid) as caught:
        export(app, clock, setup)
    assert ("Bordereau 1 (exercice 2026), mandat 1 : ligne 1 : l'IBAN "
            "FR7630001007941234567890186 du tiers n'est pas valide (clé de contrôle)"
            in [str(p) for p in caught.value.problems])
    with app.app_context():
        session = get_session()
        assert session.scalar(select(func.count(PesExport.id))) == 0
        assert session.scalars(select(BordereauMandats.state)).all() == [BordereauState.SIGNE]
        assert session.scalar(select(AccountingCounter.last_value).where(
            AccountingCounter.scope == f"pes:{setup.organisation_id}:123:01")) in (None, 0)


def test_a_rejected_bordereau_comes_back_with_its_reason(app, clock, setup, maire_key, shared_dir):
    make_invoices(app, clock, 2)
    mandate(app, clock, setup)
    sign_all(app, clock, setup, maire_key)
    export(app, clock, setup)
    sample = (shared_dir / "samples" / "pes" / "pes_acquit.xml").read_bytes()
    rejected = (sample.replace(b'<CodCol V="400"/>', b'<CodCol V="123"/>')
                .replace(b'<IdColl V="20004910400025"/>', f'<IdColl V="{SIRET}"/>'.encode())
                .replace(b'<EtatAck V="1"/>\n            <NumBord V="1847"/>',
                         b'<EtatAck V="0"/>\n            <NumBord V="1"/>')
                .replace(b'<ExerciceBord V="2015"/>',
                         b'<ExerciceBord V="2026"/><Erreur><NumAnoAck V="ERREUR_DOUBLON_BORDEREAU"/>'
                         b'<LibelleAnoAck V="Bordereau deja present"/></Erreur>'))

    with app.app_context():
        session = get_session()
        with transaction(session):
            changes = import_acquit(session, read_acquit(rejected), actor=None, now=clock())
        assert changes == ["Bordereau 1 (exercice 2026) : rejeté (ERREUR_DOUBLON_BORDEREAU — "
                           "Bordereau deja present) — mandat(s) 1, 2 à corriger et réémettre"]
        mandats = session.scalars(select(Mandat)).all()
        assert {m.state for m in mandats} == {MandatState.REJETE}
        assert {m.rejection_reason for m in mandats} == {
            "ERREUR_DOUBLON_BORDEREAU — Bordereau deja present"}


def test_an_acquit_for_an_unknown_bordereau_changes_nothing(app, clock, setup, shared_dir):
    sample = (shared_dir / "samples" / "pes" / "pes_acquit.xml").read_bytes()
    with app.app_context():
        session = get_session()
        with pytest.raises(AccountingError) as caught, transaction(session):
            import_acquit(session, read_acquit(sample), actor=None, now=clock())
    assert "bordereau 1847 (exercice 2015, budget 400/01) qui n'a jamais été transmis" in \
        caught.value.message


def test_signing_twice_is_refused(app, clock, setup, maire_key):
    make_invoices(app, clock, 1)
    mandate(app, clock, setup)
    sign_all(app, clock, setup, maire_key)
    with app.app_context():
        session = get_session()
        bordereau = session.scalars(select(BordereauMandats)).one()
        with pytest.raises(Exception, match="déjà signé"), transaction(session):
            sign_bordereaux(session, setup, [bordereau], maire_key, actor=None, now=clock())


def test_registration_exposes_the_exporter():
    from parapheur.accounting.exporter import pes_exporter, register_pes_exporter
    from parapheur.circuits.exporters import default_exporters

    registry: dict = {}
    register_pes_exporter(registry)
    assert registry == {"pes-v2": pes_exporter} == default_exporters()


@pytest.mark.postgres
def test_two_concurrent_exports_produce_one_file(app, clock, setup, maire_key, database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("row locks are PostgreSQL's; SQLite serialises writers itself")
    make_invoices(app, clock, 4)
    mandate(app, clock, setup, per_bordereau=2)
    sign_all(app, clock, setup, maire_key)
    barrier = threading.Barrier(2)
    results: list = []
    lock = threading.Lock()

    def contend() -> None:
        barrier.wait(timeout=30)
        outcome = export(app, clock, setup)
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=contend) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(results, key=lambda r: r is None)[1] is None
    (number, content), _ = sorted(results, key=lambda r: r is None)
    assert number == 1
    assert content.count(b"<Bordereau ") == 2
    with app.app_context():
        session = get_session()
        assert session.scalar(select(func.count(PesExport.id))) == 1
        assert set(session.scalars(select(BordereauMandats.export_id))) == {
            session.scalar(select(PesExport.id))}


@pytest.mark.postgres
def test_two_concurrent_mandatements_number_without_gaps(app, clock, setup, database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("row locks are PostgreSQL's; SQLite serialises writers itself")
    make_invoices(app, clock, 6)
    barrier = threading.Barrier(2)
    errors: list = []

    def contend() -> None:
        barrier.wait(timeout=30)
        try:
            mandate(app, clock, setup, per_bordereau=1)
        except Exception as exc:  # a loser may find the invoices taken: that is fine
            errors.append(exc)

    threads = [threading.Thread(target=contend) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    with app.app_context():
        session = get_session()
        assert session.scalar(select(func.count(Mandat.id))) == 6
        assert session.scalars(select(BordereauMandats.number)
                               .order_by(BordereauMandats.number)).all() == [1, 2, 3, 4, 5, 6]
        assert sorted(session.scalars(select(Mandat.number))) == [1, 2, 3, 4, 5, 6]


def test_the_commands_from_mandatement_to_deposit(demo, clock, demo_pki, tmp_path, database_url):
    from click.testing import CliRunner

    from parapheur.cli import main
    from parapheur.demo.seed import DEMO_PASSPHRASE

    if not database_url.startswith("sqlite"):
        pytest.skip("the commands are thin over the services tested on both databases")
    env = {"PARAPHEUR_DATABASE_URL": demo.config["DATABASE_URL"],
           "PARAPHEUR_DATA_DIR": str(demo.config["DATA_DIR"]), "MAIRE_CODE": DEMO_PASSPHRASE,
           "PARAPHEUR_PES_DEPOSIT_DIR": str(tmp_path / "depot")}

    def run(*args: str):
        return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)

    make_invoices(demo, clock, 3)
    result = run("pes", "mandater", "--exercice", "2026", "--budget", "01", "--user", "finances")
    assert result.exit_code == 0, result.output
    assert "3 mandat(s) créé(s), 1 bordereau(x) à signer." in result.output
    assert "document n° " in result.output

    result = run("pes", "sign", "--budget", "01", "--pkcs12", str(demo_pki.pkcs12_path("maire")),
                 "--passphrase-env", "MAIRE_CODE")
    assert result.exit_code == 0, result.output
    assert "- Bordereau 1 (exercice 2026)" in result.output

    out = tmp_path / "pes.xml"
    result = run("export", "pes", "--budget", "01", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert check_aller(out.read_bytes()) == []
    (deposited,) = (tmp_path / "depot").iterdir()
    assert deposited.read_bytes() == out.read_bytes()
    assert f"déposé pour le tiers de télétransmission : {deposited}" in result.output

    result = run("export", "pes", "--budget", "01")
    assert result.exit_code == 0, result.output
    assert result.output.count("aucun nouveau fichier PES") == 1

    result = run("pes", "exports", "--budget", "01")
    assert result.exit_code == 0, result.output
    assert "1 export(s) PES pour le budget 990/01." in result.output
    assert f"déposé : {deposited}" in result.output
    again = tmp_path / "again.xml"
    result = run("pes", "export-file", "1", "--budget", "01", "--out", str(again))
    assert result.exit_code == 0, result.output
    assert again.read_bytes() == out.read_bytes()
    result = run("pes", "export-file", "2", "--budget", "01", "--out", str(again))
    assert result.exit_code == 1
    assert "Aucun export PES n° 2 pour le budget 990/01." in result.output

    result = run("pes", "mandater", "--exercice", "2026")
    assert result.exit_code == 1
    assert "Précisez le budget (--budget)" in result.output


def test_the_bordereau_travels_as_a_pdf_in_its_circuit(demo, clock, system_tool, tmp_path):
    import subprocess

    from flask import render_template

    from parapheur.accounting.services import budget_setup, start_bordereau_circuit
    from parapheur.accounts.models import Desk, User
    from parapheur.circuits import services as circuits
    from parapheur.organisations.services import sole_organisation

    pdftotext = system_tool("pdftotext", "poppler-utils")
    make_invoices(demo, clock, 3)
    with demo.app_context():
        session = get_session()
        organisation = sole_organisation(session)
        setup = budget_setup(organisation, "01")  # the demo's own bordereau is on budget 00
        finances = session.scalars(select(User).where(User.username == "finances")).one()
        desk = session.scalars(select(Desk).where(Desk.slug == "finances")).one()
        with transaction(session):
            create_mandats(session, setup, exercice=2026, actor=finances, now=clock())
            (bordereau,) = create_bordereaux(session, setup, exercice=2026,
                                             issued_on=date(2026, 3, 2), actor=finances,
                                             now=clock())
            document = start_bordereau_circuit(
                session, _store(demo), bordereau, organisation, author=finances,
                author_desk=desk, render=render_template,
                circuits_dir=workflows_dir_for(demo.config), now=clock())
        assert document.circuit_version.circuit_id == "bordereau-mandats"
        (step,) = circuits.pending_steps(document)
        assert step.state == "signature_ordonnateur"
        pdf = _store(demo).read(document.versions[0].sha256)
    path = tmp_path / "bordereau.pdf"
    path.write_bytes(pdf)
    text = subprocess.run([pdftotext, "-layout", str(path), "-"], capture_output=True,
                          text=True, check=True).stdout
    assert "Bordereau de mandats n° 1" in text
    assert "Budget annexe de l'eau (collectivité 990, budget 01)" in text
    assert "Papeterie Méridionale" in text and "6064 / 020 / —" in text
    assert "Total du bordereau" in text
    assert "307,50 €" in text and "60,30 €" in text and "367,80 €" in text  # HT, TVA, TTC


def test_the_maire_signs_both_bordereaux_in_one_batch_pades_and_xades(
        demo, clock, demo_pki, system_tool, pdfsig, tmp_path):
    from flask import render_template

    from parapheur.accounting.services import budget_setup, start_bordereau_circuit
    from parapheur.accounts.models import Desk, User
    from parapheur.demo.seed import DEMO_PASSPHRASE
    from parapheur.documents.models import Document
    from parapheur.organisations.services import sole_organisation
    from parapheur.signatures.options import SigningSetup
    from parapheur.signatures.services import sign_batch

    xmlsec1 = system_tool("xmlsec1", "xmlsec1")
    demo.config["TRUST_ANCHORS"] = (demo_pki.ca_certificate_path,)  # B-LT gathers OCSP/CRL
    make_invoices(demo, clock, 20)
    store = _store(demo)
    with demo.app_context():
        session = get_session()
        organisation = sole_organisation(session)
        setup = budget_setup(organisation, "01")  # the demo's own bordereau is on budget 00
        finances = session.scalars(select(User).where(User.username == "finances")).one()
        desk = session.scalars(select(Desk).where(Desk.slug == "finances")).one()
        with transaction(session):
            create_mandats(session, setup, exercice=2026, actor=finances, now=clock())
            bordereaux = create_bordereaux(session, setup, exercice=2026, issued_on=clock().date(),
                                           actor=finances, now=clock(), per_bordereau=10)
            documents = [start_bordereau_circuit(session, store, b, organisation, author=finances,
                                                 author_desk=desk, render=render_template,
                                                 circuits_dir=workflows_dir_for(demo.config),
                                                 now=clock()).id for b in bordereaux]
        maire = session.scalars(select(User).where(User.username == "maire")).one()
        result = sign_batch(session, store, [(d, "signature_ordonnateur") for d in documents],
                            actor=maire, passphrase=DEMO_PASSPHRASE, now=clock(),
                            setup=SigningSetup.from_config(demo.config))  # the demo PKI's TSA, OCSP, CRL
        assert result.failed == [] and len(result.signed) == 2
        states = session.scalars(select(BordereauMandats.state).where(
            BordereauMandats.cod_bud == "01")).all()
        assert states == [BordereauState.SIGNE, BordereauState.SIGNE]
        for document_id in documents:
            signed_pdf = store.read(session.get(Document, document_id).current_version.sha256)
            path = tmp_path / f"doc{document_id}.pdf"
            path.write_bytes(signed_pdf)
            output = __import__("subprocess").run([pdfsig, str(path)], capture_output=True,
                                                  text=True).stdout
            assert "Signature is Valid." in output and "Document has been modified" not in output
        with transaction(session):
            exported = export_pes(session, store, setup, actor=maire, now=clock())
    assert check_aller(exported.content) == []
    for bordereau_id in ("BORD-2026-01-1", "BORD-2026-01-2"):
        accepted, output = xmlsec_verify(xmlsec1, exported.content, f"{bordereau_id}-SIG",
                                         demo_pki.ca_certificate_path, tmp_path)
        assert accepted, output
    # The organisation's city, in the file's ISO-8859-1, is where the maire signed.
    assert "<xad:City>Démo-Ville</xad:City>".encode(ENCODING) in exported.content
