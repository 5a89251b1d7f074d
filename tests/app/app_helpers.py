"""Helpers of the application tests: reading pages, CSRF tokens, logging in, snapshots of the data.

(A module of its own rather than conftest.py: `from conftest import …` would resolve to whichever
conftest pytest imported last.)"""

from __future__ import annotations

import html
import io
import re
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event

from parapheur.db import Base, get_session

TOKEN_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def page_text(response) -> str:
    """A response's body with HTML entities decoded, to look for messages."""
    return html.unescape(response.get_data(as_text=True))


def csrf_from(page: str) -> str:
    """The CSRF token in a page's form."""
    match = TOKEN_RE.search(page)
    assert match, "no CSRF token in the page"
    return match.group(1)


def login(client, username: str, password: str | None = None):
    """Log a demo user in through the real form (CSRF included)."""
    page = client.get("/login")
    return client.post("/login", data={
        "username": username, "password": password or f"demo-{username}",
        "csrf_token": csrf_from(page.get_data(as_text=True))})


@contextmanager
def counting_queries(app):
    """Counts the SQL statements the application's engine runs inside the block."""
    engine = app.extensions["parapheur.engine"]
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


def db_snapshot(app) -> dict[str, list[tuple]]:
    """Every row of every table, to prove a failed action changed nothing."""
    with app.app_context():
        session = get_session()
        snapshot = {}
        for table in Base.metadata.sorted_tables:
            rows = session.execute(table.select()).all()
            snapshot[table.name] = sorted(tuple(map(repr, row)) for row in rows)
        return snapshot


JOURNAL_TABLES = ("audit", "throttles")


def without_journal(snapshot: dict[str, list[tuple]]) -> dict[str, list[tuple]]:
    """A snapshot without the journal and the attempt counters, which a refusal may write."""
    return {name: rows for name, rows in snapshot.items() if not name.startswith(JOURNAL_TABLES)}


def upload(client, data: bytes, *, typology: str = "ACTES/DELIBERATION",
           title: str = "Arrêté de voirie", filename: str = "piece.pdf", token: str | None = None,
           **metadata: str):
    """Deposit a PDF through the two-step form (typology, then the circuit's fields and the file)."""
    page = client.get(f"/documents/new?typology={typology}").get_data(as_text=True)
    return client.post("/documents/new", content_type="multipart/form-data", data={
        "csrf_token": token if token is not None else csrf_from(page), "title": title,
        "typology": typology, **metadata, "file": (io.BytesIO(data), filename)})


@dataclass(frozen=True)
class CliResult:
    """What a `parapheur` command did: its exit code and what it printed."""

    returncode: int
    stdout: str
    stderr: str


def run_cli(app, *args: str, env: dict[str, str] | None = None) -> CliResult:
    """Run `parapheur ARGS…` in this process (Click's runner) on this app's database and files.

    The command builds its own application from the environment, as it does from the shell; only
    `make run`'s own test (the installed wheel's, test_packaging.py) starts real processes.
    """
    from click.testing import CliRunner

    from parapheur import app_cli
    from parapheur.cli import main

    environment = {"PARAPHEUR_DATABASE_URL": app.config["DATABASE_URL"],
                   "PARAPHEUR_DATA_DIR": str(app.config["DATA_DIR"]), **(env or {})}
    made = []
    build = app_cli._app

    def tracked():
        made.append(build())
        return made[-1]

    app_cli._app = tracked  # so that the command's database connections are closed after it
    try:
        result = CliRunner().invoke(main, list(args), env=environment, catch_exceptions=False)
    finally:
        app_cli._app = build
        for made_app in made:
            made_app.extensions["parapheur.engine"].dispose()
    return CliResult(result.exit_code, result.stdout, result.stderr)


def browser_login(page, base: str, username: str) -> None:
    """Log a demo user in through the login page in the browser."""
    page.goto(f"{base}/login")
    page.get_by_label("Identifiant").fill(username)
    page.get_by_label("Mot de passe").fill(f"demo-{username}")
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url(f"{base}/")


def sign_over_http(base: str) -> None:
    """Over real HTTP: the Maire logs in and signs the demo's third délibération (B-LT, demo TSA)."""
    import urllib.parse
    import urllib.request
    from http.cookiejar import CookieJar

    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))

    def get(path: str) -> str:
        with opener.open(base + path, timeout=30) as answer:
            return answer.read().decode()

    def post(path: str, fields: dict[str, str]) -> str:
        data = urllib.parse.urlencode(fields).encode()
        with opener.open(base + path, data=data, timeout=60) as answer:
            return answer.read().decode()

    post("/login", {"username": "maire", "password": "demo-maire",
                    "csrf_token": csrf_from(get("/login"))})
    page = get("/documents/3")
    result = post("/documents/3/steps/signature_maire/sign",
                  {"csrf_token": csrf_from(page), "passphrase": "1234"})
    assert "est signé" in result
    with opener.open(base + "/documents/3/versions/2/file", timeout=30) as answer:
        assert b"/ETSI.CAdES.detached" in answer.read()



class WebhookReceiver:
    """A real HTTP server on loopback that records every POST and answers scripted statuses
    (200 once none is left). Start `.thread`; shut `.server` down."""

    def __init__(self):
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.requests: list[dict] = []
        self.statuses: list[int] = []  # popped one per request; 200 once empty
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                    receiver.requests.append({"headers": dict(self.headers), "body": body,
                                              "status": status})
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def events(self, *, accepted_only: bool = True) -> list[dict]:
        """The JSON bodies received (those answered 2xx unless `accepted_only` is false)."""
        import json

        return [json.loads(r["body"]) for r in self.requests
                if not accepted_only or 200 <= r["status"] < 300]

# Debian's Chromium as the browser tests launch it (Playwright).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


_MADE_ONCE: dict[str, Any] = {}


def once_per_process(name: str, make: Callable[[], Any]) -> Any:
    """The value of a session fixture of tests/app/conftest.py, made once per test process.

    Other folders load that conftest again (borrow_app_fixtures): without this, each copy would
    migrate its own databases, seed its own demo and start its own demo PKI in every worker.
    """
    if name not in _MADE_ONCE:
        _MADE_ONCE[name] = make()
    return _MADE_ONCE[name]


# Fixtures of tests/app/conftest.py that other folders' tests borrow (see borrow_app_fixtures).
APP_FIXTURES = ("sqlite_template", "postgres_url", "database_url", "clock", "app", "sample_pdf",
                "demo_pki", "demo_template", "demo", "client_for", "mailbox", "live_server",
                "chromium_browser", "browser_page")


def borrow_app_fixtures(namespace: dict, folder: str) -> None:
    """Make the web application's fixtures (tests/app/conftest.py) those of another folder's
    conftest: `borrow_app_fixtures(globals(), "api")`.

    The app conftest is loaded a second time, under a name of its own; its session-scoped
    fixtures share their values with the other copies (`once_per_process`): one migrated
    database, one demo and one demo PKI per worker, whichever folder's test asks first.
    """
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        f"app_conftest_{folder}", Path(__file__).with_name("conftest.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    namespace["FrozenClock"] = module.FrozenClock
    for name in APP_FIXTURES:
        namespace[name] = getattr(module, name)


def all_at_signature(app, client_for) -> list[tuple[int, str]]:
    """Give the DGS visa where needed: every demo document then waits for the Maire.
    (document id, step) of each, in id order."""
    from sqlalchemy import select

    from parapheur.circuits.services import pending_steps
    from parapheur.documents.models import Document

    def waiting():
        with app.app_context():
            return [(d.id, pending_steps(d)[0].state) for d in
                    get_session().execute(select(Document).order_by(Document.id)).scalars()]

    dgs = client_for("dgs")
    for document_id, step in waiting():
        if step.startswith("visa"):
            token = csrf_from(dgs.get(f"/documents/{document_id}").get_data(as_text=True))
            assert dgs.post(f"/documents/{document_id}/steps/{step}/visa",
                            data={"csrf_token": token}).status_code == 302
    return waiting()


def first_waiting(app, action: str) -> tuple[int, str]:
    """(document id, step) of the first document (in id order) whose current step is `action`
    (« visa », « signature »…)."""
    from sqlalchemy import select

    from parapheur.circuits.services import pending_steps
    from parapheur.documents.models import Document

    with app.app_context():
        for document in get_session().execute(select(Document).order_by(Document.id)).scalars():
            pending = pending_steps(document)
            if pending and pending[0].action == action:
                return document.id, pending[0].state
    raise AssertionError(action)

def store_files(app) -> set[str]:
    """The digests of every file in the app's content store."""
    return {p.parent.name + p.name for p in (app.config["DATA_DIR"] / "store").glob("*/*")}


def referenced_files(app) -> set[str]:
    """Every file the store should hold (the rule `parapheur store gc` keeps by)."""
    from parapheur.documents.maintenance import referenced_digests

    with app.app_context():
        return referenced_digests(get_session())
