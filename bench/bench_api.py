"""REST API throughput: listing and creating documents under 50 concurrent clients, against the
HTML pages doing the same on the same data in the same run.

The app runs as in production: gunicorn (`BENCH_API_WORKERS` processes, default 2 × CPUs, each
with 4 threads) on PostgreSQL — a database created for the run on the server of
`BENCH_POSTGRES_URL` (else `PARAPHEUR_TEST_POSTGRES_URL`, else the local server) and dropped after.
Each side makes the same number of requests (`BENCH_API_REQUESTS`, default 400) from 50 threads
over loopback; the ratio is API ÷ pages (above 1: the API serves more requests per second). The
machine's load average is printed before and after, since the figures depend on it.
"""

from __future__ import annotations

import io
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

CLIENTS = 50
TOKEN_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
LIMITS = "1000000 per minute"


def _server_url() -> str:
    return (os.environ.get("BENCH_POSTGRES_URL") or os.environ.get("PARAPHEUR_TEST_POSTGRES_URL")
            or "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def _database(action: str, name: str) -> str:
    """Create or drop the run's database; its URL."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    server = make_url(_server_url())
    engine = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        if action == "create":
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        else:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()
    return server.set(database=name).render_as_string(hide_password=False)


def _app(data_dir: Path, url: str):
    from parapheur import create_app

    return create_app({"DATA_DIR": data_dir, "DATABASE_URL": url, "SECRET_KEY": "bench",
                       "API_RATE_LIMIT": LIMITS, "LOGIN_RATE_LIMIT": LIMITS})


def _pdf() -> bytes:
    from weasyprint import HTML

    return HTML(string="<h1>Délibération de mesure</h1><p>#signature#</p>").write_pdf()


def _timed(count: int, call) -> float:
    """Requests per second of `count` calls spread over CLIENTS threads."""
    started = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        statuses = list(pool.map(lambda i: call(i), range(count)))
    elapsed = time.perf_counter() - started
    bad = [s for s in statuses if s >= 400]
    if bad:
        raise RuntimeError(f"{len(bad)} requests failed (first status {bad[0]})")
    return count / elapsed


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _gunicorn(env: dict[str, str], log) -> tuple[subprocess.Popen, str]:
    import requests

    workers = os.environ.get("BENCH_API_WORKERS") or str(2 * (os.cpu_count() or 1))
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-m", "gunicorn", "-w", workers, "-k", "gthread",
                                "--threads", "4", "-b", f"127.0.0.1:{port}",
                                "parapheur.wsgi:app"], env=env, stdout=log,
                               stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("gunicorn stopped at start")
        try:
            if requests.get(f"{base}/readyz", timeout=5).status_code == 200:
                return process, base
        except requests.RequestException:
            pass
        time.sleep(0.2)  # waiting on gunicorn to start
    process.kill()
    raise RuntimeError("gunicorn never became ready")


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs"


def run() -> None:
    """Measure on a PostgreSQL database made for the run, dropped afterwards."""
    name = f"bench_api_{uuid.uuid4().hex[:8]}"
    url = _database("create", name)
    try:
        _measure(url)
    finally:
        _database("drop", name)


def _measure(url: str) -> None:
    import requests
    from sqlalchemy import select

    from parapheur.accounts.models import User
    from parapheur.api import tokens
    from parapheur.api.models import TokenKind
    from parapheur.clock import now
    from parapheur.db import get_session, transaction
    from parapheur.demo.seed import seed_demo

    count = int(os.environ.get("BENCH_API_REQUESTS", "400"))
    pdf = _pdf()
    with tempfile.TemporaryDirectory() as tmp:
        app = _app(Path(tmp), url)
        with app.app_context():
            seed_demo(app, pdf_factory=lambda spec: pdf)
            session = get_session()
            with transaction(session):
                user = session.execute(select(User).where(User.username == "finances")
                                       ).scalar_one()
                secret = tokens.create_token(
                    session, user=user, kind=TokenKind.PERSONAL, name="bench",
                    scopes=["documents:read", "documents:write"], created_by=user,
                    now=now()).secret
        app.extensions["parapheur.engine"].dispose()
        env = {**os.environ, "PARAPHEUR_DATABASE_URL": url, "PARAPHEUR_DATA_DIR": tmp,
               "PARAPHEUR_SECRET_KEY": "bench", "PARAPHEUR_API_RATE_LIMIT": LIMITS,
               "PARAPHEUR_LOGIN_RATE_LIMIT": LIMITS}
        log = (Path(tmp) / "gunicorn.log").open("wb")
        server, base = _gunicorn(env, log)
        print(f"   gunicorn ({os.environ.get('BENCH_API_WORKERS') or 2 * (os.cpu_count() or 1)} "
              f"processes × 4 threads) on PostgreSQL; before: {_load()}", flush=True)
        local = threading.local()

        def browser() -> tuple[requests.Session, str]:
            if not hasattr(local, "browser"):
                s = requests.Session()
                page = s.get(f"{base}/login").text
                s.post(f"{base}/login", data={"username": "finances",
                                               "password": "demo-finances",
                                               "csrf_token": TOKEN_RE.search(page).group(1)})
                form = s.get(f"{base}/documents/new?typology=ACTES/DELIBERATION").text
                local.browser = (s, TOKEN_RE.search(form).group(1))
            return local.browser

        def api_session() -> requests.Session:
            if not hasattr(local, "api"):
                local.api = requests.Session()
                local.api.headers["Authorization"] = f"Bearer {secret}"
            return local.api

        def api_list(i):
            return api_session().get(f"{base}/api/v1/documents?limit=50").status_code

        def page_list(i):
            return browser()[0].get(f"{base}/documents").status_code

        def api_create(i):
            return api_session().post(f"{base}/api/v1/documents", data={
                "title": f"API {i}", "typology": "ACTES/DELIBERATION"},
                files={"file": ("d.pdf", io.BytesIO(pdf), "application/pdf")}).status_code

        def page_create(i):
            s, token = browser()
            return s.post(f"{base}/documents/new", data={
                "title": f"Page {i}", "typology": "ACTES/DELIBERATION", "csrf_token": token},
                files={"file": ("d.pdf", io.BytesIO(pdf), "application/pdf")},
                allow_redirects=False).status_code
        try:
            for label, api_call, page_call in (("list", api_list, page_list),
                                               ("create", api_create, page_create)):
                pages = _timed(count, page_call)
                api = _timed(count, api_call)
                print(f"   {label}: API {api:.0f} req/s, pages {pages:.0f} req/s "
                      f"({CLIENTS} clients, {count} requests each) → ratio {api / pages:.2f}",
                      flush=True)
            print(f"   after: {_load()}", flush=True)
        finally:
            server.terminate()
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
            log.close()
