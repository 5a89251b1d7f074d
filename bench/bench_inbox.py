"""The maire's inbox and a document page on PostgreSQL at 1,000 and at 100,000 documents.

A database of its own (`BENCH_INBOX_POSTGRES_URL`, default
postgresql+psycopg://postgres@127.0.0.1:5432/parapheur_bench_inbox, dropped and created again)
gets the demo, then copies of three documents the application itself wrote (`create_document`
and `circuits.act`): one waiting for the maire's signature (the DGS gave the visa), one waiting
for the DGS's visa, one rejected. The copies are made in SQL (INSERT … SELECT over
generate_series) from those rows — documents, versions, waiting and reached desks, step actions —
each with its own title, search text, deposit date and deadline (the run state's `due` kept equal
to `due_at`). Journal events are not copied: a hash chain cannot be duplicated, and neither page
measured reads the journal.

First 1,000 documents (100 waiting for the maire), kept in a copy of the database
(`…_1000`, dropped at the end), then 100,000 (2,000 waiting for her): the median time of the
maire's inbox page (first page and the page « Suivante » leads to) and of a document page,
each size served by its own gunicorn with 2 workers, one request at a time, the two sizes in
turn (so that both are measured at the same moments: the machine's speed changes from one
minute to the next by more than the ratio's margin); the ratio 100,000 ÷ 1,000 (target ≤ 1.5).
Then, on 100,000 documents, `BENCH_INBOX_CLIENTS` (default 50) concurrent clients, each asking in turn the inbox and a
document page, `BENCH_INBOX_REQUESTS` (default 600) requests in all: p50 and p95 of each page
(target p95 < 1 s), with the machine's load average and CPU count, since the figures depend on it,
and what each page cost in CPU under that load (`CpuMeter`: gunicorn, PostgreSQL, the clients)
with how busy the cores were: the most pages a second the machine can serve at that cost.

gunicorn runs as the README's production layout has it: `gunicorn -w 2 --timeout 120
parapheur.wsgi:app`, gunicorn's default synchronous workers, each answering one request at a
time, on a connection it closes after the answer, as the TLS reverse proxy in front of it
(nginx's default HTTP/1.0 to its upstream) opens one per request. `BENCH_INBOX_THREADS=N` runs
the gthread worker with N threads instead, with keep-alive connections.

The clients are threads of this process (`http.client`), each with the maire's session cookie,
copied from one login and set by hand, opening its connection again when the server closed it: a
light load generator, since it shares the machine's cores with gunicorn and PostgreSQL (a
`requests` session costs several times more CPU per request, counted against the server's
figures).
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/parapheur_bench_inbox"
TOKEN_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
NEXT_RE = re.compile(r'href="(/\?[^"]*apres=[^"]*)"')
SEQUENTIAL = 15


def _on_server(url: str, *statements: str) -> None:
    """Run `statements` on the database server of `url`, outside any database of the bench
    (connected to `postgres`, autocommit: CREATE and DROP DATABASE)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        for statement in statements:
            connection.execute(text(statement))
    admin.dispose()


def _drop_database(url: str) -> None:
    from sqlalchemy.engine import make_url

    _on_server(url, f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')


def _recreate_database(url: str) -> None:
    from sqlalchemy.engine import make_url

    _drop_database(url)
    _on_server(url, f'CREATE DATABASE "{make_url(url).database}"')


def _clone_database(url: str, suffix: str) -> str:
    """A copy of the database as it is now (`CREATE DATABASE … TEMPLATE`), beside it; its URL.
    Nobody may be connected to it meanwhile."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    copy = parsed.set(database=f"{parsed.database}{suffix}").render_as_string(
        hide_password=False)
    _drop_database(copy)
    _on_server(url, f'CREATE DATABASE "{parsed.database}{suffix}" TEMPLATE "{parsed.database}"')
    return copy


def _templates(app) -> dict[str, int]:
    """Ids of the three documents the copies are made from, written by the application."""
    from sqlalchemy import select

    from parapheur.accounts.models import Desk, User
    from parapheur.circuits import services as circuits
    from parapheur.clock import now
    from parapheur.context import store_for, workflows_dir_for
    from parapheur.db import get_session, transaction
    from parapheur.documents import services as documents
    from parapheur.documents.models import Document, DocumentStatus, WaitingDesk

    session = get_session()
    store = store_for(app.config)
    with transaction(session):
        users = {u.username: u for u in session.execute(select(User)).scalars()}
        finances_desk = session.execute(select(Desk).where(Desk.slug == "finances")
                                        ).scalars().first()
        data = _pdf()
        rejected = documents.create_document(
            session, store, title="Délibération n° 2026-900 — Subvention au club de voile",
            doc_type="ACTES", doc_subtype="DELIBERATION", data=data,
            filename="deliberation-2026-900.pdf", author=users["finances"],
            author_desk=finances_desk, now=now(), circuits_dir=workflows_dir_for(app.config))
        step = circuits.pending_steps(rejected)[0].state
        circuits.act(session, rejected, step=step, actor=users["dgs"], decision="reject",
                     reason="Montant à revoir.", now=now())
    waiting = session.execute(
        select(WaitingDesk.desk_slug, Document.id).join(Document)
        .where(Document.status == DocumentStatus.IN_PROGRESS, Document.doc_type == "ACTES")
        .order_by(Document.id)).all()
    return {"maire": next(i for s, i in waiting if s == "maire"),
            "dgs": next(i for s, i in waiting if s == "dgs"), "rejected": rejected.id}


def _pdf() -> bytes:
    from weasyprint import HTML

    return HTML(string="<h1>Délibération de mesure</h1><p>Article 1.</p>").write_pdf()


COPY_SQL = [
    # The documents: the template's row, its own id, title, search text, dates and deadline.
    """
    INSERT INTO documents (id, organisation_id, title, doc_type, doc_subtype, metadata, status,
        author_id, author_desk_id, circuit_version_id, run_state, created_at, updated_at, due_at,
        amount, search_text, row_version)
    SELECT :base + g, t.organisation_id, t.title || ' (n° ' || (:base + g) || ')', t.doc_type,
        t.doc_subtype, t.metadata, t.status, t.author_id, t.author_desk_id,
        t.circuit_version_id,
        CASE WHEN t.due_at IS NULL THEN t.run_state ELSE jsonb_set(t.run_state::jsonb, '{due}',
            to_jsonb(to_char(date_trunc('second', t.due_at + (g % 997) * interval '7 minutes')
                             AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"+00:00"')))::json END,
        t.created_at - (g % 1440) * interval '1 hour',
        t.updated_at - (g % 1440) * interval '1 hour',
        date_trunc('second', t.due_at + (g % 997) * interval '7 minutes'),
        t.amount, t.search_text || ' n ' || (:base + g), t.row_version
    FROM documents t, generate_series(1, :count) AS g WHERE t.id = :template
    """,
    """
    INSERT INTO document_versions (document_id, number, kind, filename, sha256, size,
        page_count, created_at, created_by_id)
    SELECT :base + g, v.number, v.kind, v.filename, v.sha256, v.size, v.page_count,
        v.created_at - (g % 1440) * interval '1 hour', v.created_by_id
    FROM document_versions v, generate_series(1, :count) AS g WHERE v.document_id = :template
    """,
    """
    INSERT INTO waiting_desks (document_id, desk_slug, organisation_id, due_at, author_id,
        doc_type)
    SELECT d.id, w.desk_slug, d.organisation_id, d.due_at, d.author_id, d.doc_type
    FROM waiting_desks w, generate_series(1, :count) AS g
    JOIN documents d ON d.id = :base + g
    WHERE w.document_id = :template
    """,
    """
    INSERT INTO reached_desks (document_id, desk_slug)
    SELECT :base + g, r.desk_slug FROM reached_desks r, generate_series(1, :count) AS g
    WHERE r.document_id = :template
    """,
    """
    INSERT INTO step_actions (document_id, step, action, decision, actor_id, desk_id,
        on_behalf_of_desk_id, reason, version_id, certificate_subject, acted_at)
    SELECT :base + g, s.step, s.action, s.decision, s.actor_id, s.desk_id,
        s.on_behalf_of_desk_id, s.reason, nv.id, s.certificate_subject,
        s.acted_at - (g % 1440) * interval '1 hour'
    FROM step_actions s CROSS JOIN generate_series(1, :count) AS g
    LEFT JOIN document_versions tv ON tv.id = s.version_id
    LEFT JOIN document_versions nv ON nv.document_id = :base + g AND nv.number = tv.number
    WHERE s.document_id = :template
    """,
]


def _copy(engine, templates: dict[str, int], counts: dict[str, int]) -> None:
    """Add counts[kind] copies of each template document, in one transaction, then ANALYZE."""
    from sqlalchemy import text

    with engine.begin() as connection:
        base = connection.execute(text("SELECT max(id) FROM documents")).scalar_one()
        for kind, count in counts.items():
            for statement in COPY_SQL:
                connection.execute(text(statement), {"base": base, "count": count,
                                                     "template": templates[kind]})
            base += count
        connection.execute(text("SELECT setval('documents_id_seq', (SELECT max(id) FROM documents))"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    """One keep-alive HTTP/1.1 connection to the server, carrying its session cookie by hand.

    The cookies a response sets are kept (the session's cookie is rewritten now and then); a
    connection the server closed is opened again once.
    """

    def __init__(self, port: int, cookies: dict[str, str] | None = None):
        self.port = port
        self.cookies = dict(cookies or {})
        self.connection: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, *, form: dict[str, str] | None = None,
                timeout: float = 120) -> tuple[int, bytes]:
        headers = {}
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        for attempt in (1, 2):
            if self.connection is None:
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port,
                                                             timeout=timeout)
            try:
                self.connection.request(method, path, body=body, headers=headers)
                answer = self.connection.getresponse()
                data = answer.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                if attempt == 2:
                    raise
                continue
            for value in answer.headers.get_all("Set-Cookie") or ():
                cookie = SimpleCookie()
                cookie.load(value)
                for name, morsel in cookie.items():
                    if morsel["max-age"] == "0" or (morsel.value == "" and morsel["expires"]):
                        self.cookies.pop(name, None)
                    else:
                        self.cookies[name] = morsel.value
            if answer.will_close:
                self.close()
            return answer.status, data
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


class Server:
    """gunicorn serving parapheur.wsgi:app with 2 workers on loopback."""

    def __init__(self, url: str, data_dir: Path, threads: int, name: str = "gunicorn"):
        self.port = _free_port()
        env = {**os.environ, "PARAPHEUR_DATABASE_URL": url, "PARAPHEUR_DATA_DIR": str(data_dir),
               "PARAPHEUR_SECRET_KEY": "bench", "PARAPHEUR_LOGIN_RATE_LIMIT": "100000 per minute",
               "PARAPHEUR_DATABASE_POOL_SIZE": str(max(1, threads))}
        env.pop("PARAPHEUR_REDIS_URL", None)
        # Synchronous workers (the production layout's), or gthread with keep-alive: a client's
        # connection idle past gunicorn's default 2 s keep-alive, closed as the client reuses it,
        # is reset (as behind a proxy, keep longer).
        worker = (["-k", "gthread", "--threads", str(threads), "--keep-alive", "75"]
                  if threads else [])
        self.log = (data_dir / f"{name}.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-w", "2", *worker, "-b", f"127.0.0.1:{self.port}",
             "--timeout", "120", "parapheur.wsgi:app"], env=env, stdout=self.log,
            stderr=subprocess.STDOUT)
        for _ in range(300):
            probe = Client(self.port)
            try:
                status, _ = probe.request("GET", "/login", timeout=30)
                if status == 200:
                    return
                raise RuntimeError(f"/login: HTTP {status}")
            except (OSError, http.client.HTTPException):
                if self.process.poll() is not None:
                    raise RuntimeError("gunicorn stopped; see its log") from None
                time.sleep(0.1)
            finally:
                probe.close()
        self.stop()
        raise RuntimeError("gunicorn did not answer")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)
        self.log.close()


def _login(port: int) -> Client:
    """A client logged in as the maire (through the login form, CSRF token included)."""
    client = Client(port)
    status, page = client.request("GET", "/login")
    status, _ = client.request("POST", "/login", form={
        "username": "maire", "password": "demo-maire",
        "csrf_token": TOKEN_RE.search(page.decode()).group(1)})
    if status != 302:
        raise RuntimeError(f"login: HTTP {status}")
    return client


def _get(client: Client, path: str) -> tuple[float, str]:
    started = time.perf_counter()
    status, data = client.request("GET", path)
    elapsed = time.perf_counter() - started
    if status != 200:
        raise RuntimeError(f"{path}: HTTP {status}")
    return elapsed, data.decode()


def _sequential(ports: dict[int, int], documents: dict[int, int]) -> dict[int, dict[str, float]]:
    """Median seconds of the inbox's first page, the next page and a document page, for each
    size's server (`ports`: size → port), asked in turn, one request at a time: both sizes are
    measured at the same moments, whatever the machine's speed does meanwhile."""
    clients, paths = {}, {}
    for size, port in ports.items():
        client = clients[size] = _login(port)
        _, first = _get(client, "/")  # warm each worker's caches a little
        _get(client, "/")
        match = NEXT_RE.search(first)
        if match is None:
            raise RuntimeError("the maire's inbox has no « Suivante » page")
        paths[size] = {"inbox": "/", "inbox page 2": match.group(1).replace("&amp;", "&"),
                       "document": f"/documents/{documents[size]}"}
    result: dict[int, dict[str, float]] = {size: {} for size in ports}
    for label in ("inbox", "inbox page 2", "document"):
        times: dict[int, list[float]] = {size: [] for size in ports}
        for size in ports:
            _get(clients[size], paths[size][label])
        for _ in range(SEQUENTIAL):
            for size in ports:
                times[size].append(_get(clients[size], paths[size][label])[0])
        for size in ports:
            result[size][label] = statistics.median(times[size])
    for client in clients.values():
        client.close()
    return result


def _concurrent(port: int, document_id: int, clients: int, requests_count: int):
    login = _login(port)
    cookies = dict(login.cookies)
    login.close()
    local = threading.local()
    opened: list[Client] = []
    times: dict[str, list[float]] = {"inbox": [], "document": []}
    lock = threading.Lock()

    def one(i: int) -> None:
        if not hasattr(local, "client"):
            local.client = Client(port, cookies)
            with lock:
                opened.append(local.client)
        label = "inbox" if i % 2 == 0 else "document"
        path = "/" if label == "inbox" else f"/documents/{document_id}"
        elapsed, _ = _get(local.client, path)
        with lock:
            times[label].append(elapsed)

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one, range(requests_count)))
    elapsed = time.perf_counter() - started
    for client in opened:
        client.close()
    return times, elapsed


def _process_cpu(pids) -> float:
    """CPU seconds (user + system) these processes used so far, from /proc (0 where gone)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _pids(*, parent: int | None = None, name: str | None = None) -> list[int]:
    """Processes with that parent, or of that command name (Linux /proc; [] elsewhere)."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            comm = (entry / "comm").read_text().strip()
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if (parent is not None and ppid == parent) or (name is not None and comm == name):
            found.append(int(entry.name))
    return found


def _busy_and_total() -> tuple[int, int]:
    """The machine's busy and total CPU ticks so far (/proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return sum(fields) - idle, sum(fields)


class CpuMeter:
    """Where the CPU went while the clients ran: gunicorn's processes, the local PostgreSQL
    server's, this load generator's, and how busy the machine's cores were. The concurrent
    figures are bounded by it: at most (cores × busy share) ÷ (CPU per page) pages a second."""

    def __init__(self, server_pid: int):
        self.available = Path("/proc/stat").exists()
        if not self.available:
            return
        self.gunicorn = [server_pid, *_pids(parent=server_pid)]
        self.postgres = _pids(name="postgres")
        self.start = (_process_cpu(self.gunicorn), _process_cpu(self.postgres),
                      time.process_time(), _busy_and_total())

    def report(self, pages: int) -> str:
        if not self.available or not pages:
            return "CPU per page not measured here (no /proc)"
        gunicorn, postgres, client, (busy, total) = self.start
        busy_now, total_now = _busy_and_total()
        share = (busy_now - busy) / max(1, total_now - total)
        per_page = [(_process_cpu(self.gunicorn) - gunicorn) / pages,
                    (_process_cpu(self.postgres) - postgres) / pages,
                    (time.process_time() - client) / pages]
        bound = (os.cpu_count() or 1) * share / max(sum(per_page), 1e-9)
        return (f"CPU per page under load: gunicorn {1000 * per_page[0]:.1f} ms, PostgreSQL "
                f"{1000 * per_page[1]:.1f} ms, the clients {1000 * per_page[2]:.1f} ms; the cores "
                f"{100 * share:.0f} % busy, so at most {bound:.0f} pages/s at this cost")


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _speed() -> float:
    """CPU seconds of a fixed pure-Python loop: how fast the machine's cores are now (a shared
    host's vary by a third from one minute to the next; about 0.3 s on a quiet core here)."""
    started = time.process_time()
    total = 0
    for i in range(3_000_000):
        total += i * i
    return time.process_time() - started


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return (f"load {one:.2f} / {five:.2f} / {fifteen:.2f} on {os.cpu_count()} CPUs, "
            f"reference loop {_speed():.2f} s")


def run() -> None:
    from sqlalchemy import create_engine, func, select, text

    from parapheur import create_app
    from parapheur.demo.seed import seed_demo
    from parapheur.documents.models import Document, WaitingDesk

    url = os.environ.get("BENCH_INBOX_POSTGRES_URL", DEFAULT_URL)
    clients = int(os.environ.get("BENCH_INBOX_CLIENTS", "50"))
    requests_count = int(os.environ.get("BENCH_INBOX_REQUESTS", "600"))
    threads = int(os.environ.get("BENCH_INBOX_THREADS", "0"))
    _recreate_database(url)
    data_dir = Path(tempfile.mkdtemp(prefix="bench-inbox-"))
    urls = {1000: "", 100_000: url}
    try:
        pdf = _pdf()
        app = create_app({"DATA_DIR": data_dir, "DATABASE_URL": url, "SECRET_KEY": "bench"})
        with app.app_context():
            seed_demo(app, pdf_factory=lambda spec: pdf, invoices=False)
            templates = _templates(app)
        app.extensions["parapheur.engine"].dispose()
        engine = create_engine(url)
        with engine.connect() as connection:
            existing = connection.execute(select(func.count(Document.id))).scalar_one()
        started = time.perf_counter()
        _copy(engine, templates, {"maire": 99, "dgs": 100, "rejected": 1000 - 199 - existing})
        print(f"   seeded 1,000 documents in {time.perf_counter() - started:.1f} s "
              "(SQL copies)", flush=True)
        # The 1,000 documents kept in a copy of the database: both sizes are then served at
        # once and measured in turn (the machine's speed may change between two measurements
        # made one after the other by more than the ratio's margin).
        engine.dispose()
        urls[1000] = _clone_database(url, "_1000")
        started = time.perf_counter()
        _copy(engine, templates, {"maire": 1900, "dgs": 7900, "rejected": 89_200})
        print(f"   seeded 100,000 documents in {time.perf_counter() - started:.1f} s "
              "(SQL copies)", flush=True)
        described, documents = {}, {}
        for size, size_url in urls.items():
            size_engine = create_engine(size_url)
            with size_engine.connect() as connection:
                total = connection.execute(select(func.count(Document.id))).scalar_one()
                waiting = connection.execute(select(func.count()).where(
                    WaitingDesk.desk_slug == "maire")).scalar_one()
                documents[size] = connection.execute(text(
                    "SELECT max(document_id) FROM waiting_desks WHERE desk_slug = 'maire'")
                ).scalar_one()
            size_engine.dispose()
            described[size] = f"{total:,} documents, {waiting:,} waiting for the maire"
        servers: dict[int, Server] = {}
        try:
            for size, size_url in urls.items():
                servers[size] = Server(size_url, data_dir, threads, name=f"gunicorn-{size}")
            figures = _sequential({size: server.port for size, server in servers.items()},
                                  documents)
            load = _load()
            servers.pop(1000).stop()
            for size, seq in figures.items():
                print(f"   {described[size]}: "
                      + ", ".join(f"{k} {1000 * v:.0f} ms" for k, v in seq.items())
                      + f" (median of {SEQUENTIAL}, one client, the two sizes in turn; {load})",
                      flush=True)
            for label in ("inbox", "inbox page 2", "document"):
                ratio = figures[100_000][label] / figures[1000][label]
                print(f"   {label}: 100,000 ÷ 1,000 documents = {ratio:.2f}x (target ≤ 1.5)")
            meter = CpuMeter(servers[100_000].process.pid)
            times, elapsed = _concurrent(servers[100_000].port, documents[100_000], clients,
                                         requests_count)
            cpu = meter.report(requests_count)
        finally:
            for server in servers.values():
                server.stop()
        kind = f"gthread, {threads} threads" if threads else "synchronous workers"
        print(f"   {clients} clients, {requests_count} requests against gunicorn -w 2 "
              f"({kind}) on 100,000 documents: {requests_count / elapsed:.1f} pages/s")
        print(f"   {cpu}")
        for label, values in times.items():
            p95 = _p(values, 0.95)
            print(f"   {label}: p50 {1000 * _p(values, 0.5):.0f} ms, p95 {1000 * p95:.0f} ms "
                  f"({'within' if p95 < 1 else 'over'} the 1 s target)")
        print(f"   after: {_load()}")
        engine.dispose()
    finally:
        if urls[1000]:
            _drop_database(urls[1000])
        shutil.rmtree(data_dir, ignore_errors=True)
