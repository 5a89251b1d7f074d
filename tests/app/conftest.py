"""Fixtures for the web application: an app on SQLite or PostgreSQL, the demo, logged-in clients."""

from __future__ import annotations

import os
import shutil
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from app_helpers import CHROMIUM_ARGS, login, once_per_process
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from werkzeug.serving import make_server

from parapheur import create_app
from parapheur.db import Base, get_session, upgrade
from signing.pki_server import free_loopback_port

POSTGRES_URL = os.environ.get("PARAPHEUR_TEST_POSTGRES_URL")
DEMO_CLONED = pytest.StashKey[bool]()  # the test's database is a copy of the seeded demo


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """A migrated SQLite database, copied for each test (migrations run once per worker)."""
    def make() -> Path:
        path = tmp_path_factory.mktemp("sqlite-template") / "template.sqlite3"
        upgrade(f"sqlite:///{path}")
        return path

    return once_per_process("sqlite_template", make)


@pytest.fixture(scope="session")
def postgres_url(worker_id) -> str:
    """A database of this worker's own on the test PostgreSQL server, migrated once."""
    if not POSTGRES_URL:
        pytest.skip("PARAPHEUR_TEST_POSTGRES_URL is not set: PostgreSQL tests do not run here")
    return once_per_process("postgres_url", lambda: _migrated_postgres(worker_id))


def _migrated_postgres(suffix: str) -> str:
    """A new, migrated database on the test server, named after the base database (so that runs
    against different base databases never collide) and `suffix`."""
    base = make_url(POSTGRES_URL)
    name = f"parapheur_{base.database}_{suffix}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = base.set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    return url


def _empty_postgres(url: str) -> None:
    """Empty every table of a test database and restart its sequences.

    DELETE, in the order the foreign keys allow, not TRUNCATE: on tables of a few rows TRUNCATE
    costs the server far more (it makes each table's and index's files anew)."""
    engine = create_engine(url)
    with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())
        for (name,) in connection.execute(text(
                "SELECT quote_ident(sequencename) FROM pg_sequences WHERE schemaname = 'public'")):
            connection.execute(text(f"ALTER SEQUENCE {name} RESTART"))
    engine.dispose()


def _clone_postgres(template_url: str, name: str) -> str:
    """A fresh copy of a PostgreSQL database (CREATE DATABASE … TEMPLATE): milliseconds, not a seed."""
    template = make_url(template_url)
    admin = create_engine(template.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template.database}"'))
    admin.dispose()
    return template.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory, sqlite_template, demo_pki, sample_pdf, worker_id):
    """`demo_template(kind)`: (database URL, data directory) of the demo seeded once per worker.

    Tests that use the demo get a copy of it (SQLite file copied, PostgreSQL database cloned with
    CREATE DATABASE … TEMPLATE, data directory copied) instead of seeding it again.
    """
    from parapheur.demo.seed import seed_demo

    made: dict[str, tuple[str, Path]] = {}

    def get(kind: str) -> tuple[str, Path]:
        if kind in made:
            return made[kind]
        root = tmp_path_factory.mktemp(f"demo-template-{kind}")
        if kind == "sqlite":
            path = root / "parapheur.sqlite3"
            shutil.copyfile(sqlite_template, path)
            url = f"sqlite:///{path}"
        else:
            url = _migrated_postgres(f"{worker_id}_demo")
        application = create_app({"TESTING": True, "DATA_DIR": root / "data", "DATABASE_URL": url,
                                  "SECRET_KEY": "test-secret"})
        with application.app_context():
            seed_demo(application, pki=demo_pki, pdf_factory=lambda spec: sample_pdf,
                      invoices=False)
        application.extensions["parapheur.engine"].dispose()  # a template must have no session
        made[kind] = (url, root / "data")
        return made[kind]

    return once_per_process("demo_template", lambda: get)


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request, tmp_path, sqlite_template) -> str:
    """Each app test runs on SQLite, and on PostgreSQL when PARAPHEUR_TEST_POSTGRES_URL is set.

    A test that uses the demo starts from a copy of the demo seeded once per worker (its data
    directory is copied to the test's too); the others from an empty migrated database.
    """
    uses_demo = "demo" in request.fixturenames
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
    if uses_demo:
        template_url, template_data = request.getfixturevalue("demo_template")(request.param)
        shutil.copytree(template_data, tmp_path / "data")
        request.node.stash[DEMO_CLONED] = True
        if request.param == "sqlite":
            path = tmp_path / "parapheur.sqlite3"
            shutil.copyfile(make_url(template_url).database, path)
            return f"sqlite:///{path}"
        return _clone_postgres(template_url, f"{make_url(url).database}_test")
    if request.param == "sqlite":
        path = tmp_path / "parapheur.sqlite3"
        shutil.copyfile(sqlite_template, path)
        return f"sqlite:///{path}"
    _empty_postgres(url)
    return url


class FrozenClock:
    """A clock tests move by hand."""

    def __init__(self, moment: datetime):
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment


@pytest.fixture
def clock() -> FrozenClock:
    # Frozen at the start of the test: certificates and the loopback TSA live in real time.
    return FrozenClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def app(database_url, tmp_path, clock):
    """An application on a fresh database with its own data directory."""
    application = create_app({
        "TESTING": True,
        "DATA_DIR": tmp_path / "data",
        "DATABASE_URL": database_url,
        "SECRET_KEY": "test-secret",
        "MAX_UPLOAD_MB": 2,
        "CLOCK": clock,
    })
    yield application
    application.extensions["parapheur.engine"].dispose()


@pytest.fixture(scope="session")
def sample_pdf() -> bytes:
    """A small real PDF (two pages, with a #signature# tag), rendered once per session."""
    from weasyprint import HTML

    return once_per_process("sample_pdf", lambda: HTML(string=(
        "<html lang='fr'><body><h1>Délibération d'essai</h1><p>Première page.</p>"
        "<p style='page-break-before: always'>Seconde page — Le Maire,</p><p>#signature#</p>"
        "</body></html>")).write_pdf())


@pytest.fixture(scope="session")
def demo_pki(request, tmp_path_factory):
    """The demo's PKI (one certificate per signing demo user), generated once per worker."""
    from parapheur.demo.seed import DEMO_PASSPHRASE, DEMO_USERS
    from signing.pki import Person, init_dev_pki
    from signing.pki_server import PkiServer

    def make():
        people = [Person(u.username, u.full_name, u.title) for u in DEMO_USERS if u.signs]
        pki = init_dev_pki(tmp_path_factory.mktemp("demo-pki"), organisation="Métropole de Démo",
                           people=people, passphrase=DEMO_PASSPHRASE,
                           base_url=f"http://127.0.0.1:{free_loopback_port()}")
        server = PkiServer(pki).start()  # real TSA, OCSP and CRL on loopback, for B-T and above
        request.addfinalizer(server.stop)
        return pki

    return once_per_process("demo_pki", make)


@pytest.fixture
def demo(request, app, demo_pki, sample_pdf):
    """The demo on the test app, with the session's demo PKI and small PDFs.

    Usually a copy of the demo seeded once per worker (see database_url); a fixture that asks for
    the demo late (request.getfixturevalue) gets it seeded here.
    """
    from parapheur.demo.seed import seed_demo

    app.config["TSA_URL"] = demo_pki.tsa_url
    # As in a real demo, whose CA (under DATA_DIR/demo-pki) is the default trust anchor.
    app.config["TRUST_ANCHORS"] = (demo_pki.ca_certificate_path,)
    if not request.node.stash.get(DEMO_CLONED, False):
        with app.app_context():
            seed_demo(app, pki=demo_pki, pdf_factory=lambda spec: sample_pdf,
                      invoices=False)
    yield app
    # Whatever the scenario did, succeeded or refused, the audit chain still holds.
    from parapheur.audit.services import verify_chain

    with app.app_context():
        report = verify_chain(get_session())
        assert report.intact, f"audit chain broken at event {report.broken_seq}: {report.reason}"


@pytest.fixture
def client_for(demo):
    """`client_for("maire")`: a test client logged in as that demo user."""
    def make(username: str):
        client = demo.test_client()
        response = login(client, username)
        assert response.status_code == 302, response.get_data(as_text=True)
        return client
    return make


@pytest.fixture
def mailbox(app):
    """A real SMTP server on loopback; the app's notifications are sent to it."""
    from mailbox_server import Mailbox

    from parapheur.notifications.mail import MailNotifier
    from parapheur.notifications.smtp import SmtpSettings

    box = Mailbox()
    box.controller.start()
    app.config["SMTP_URL"] = box.url
    app.extensions["parapheur.notifiers"]["mail"] = MailNotifier(
        SmtpSettings.from_url(box.url), "Parapheur <parapheur@metropole-demo.test>")
    yield box
    box.release.set()
    box.controller.stop()


# --- Browser (Playwright driving Debian's Chromium) ---



@pytest.fixture
def live_server(demo, database_url):
    """The demo app served over real HTTP on loopback (browser tests run on SQLite only)."""
    if not database_url.startswith("sqlite"):
        pytest.skip("one browser run is enough; it runs on SQLite")
    server = make_server("127.0.0.1", 0, demo, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


@pytest.fixture(scope="module")
def chromium_browser(chromium):
    """One Chromium for every browser test of a module (each test has its own context)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True,
                                             args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def browser_page(chromium_browser):
    """A Chromium page that records console errors (`.console_errors`) and failed requests (`.failed`)."""
    context = chromium_browser.new_context(locale="fr-FR")
    page = context.new_page()
    page.console_errors = []  # type: ignore[attr-defined]
    page.failed = []  # type: ignore[attr-defined]
    page.on("console", lambda message: page.console_errors.append(message.text)
            if message.type == "error" else None)
    # Chromium asks for /favicon.ico on its own; every other failed request is a bug.
    page.on("response", lambda response: page.failed.append(response.url)
            if response.status >= 400 and not response.url.endswith("/favicon.ico")
            else None)
    yield page
    context.close()
