"""REST API throughput: listing and creating documents under 50 concurrent clients, against the
HTML pages doing the same on the same data in the same run.

The app is served over real HTTP on loopback (werkzeug's threaded server: gunicorn is not a
dependency of the project; `BENCH_DATABASE_URL=postgresql+psycopg://…` runs it on PostgreSQL,
else SQLite). Each side makes the same number of requests; the ratio is API ÷ pages (above 1:
the API serves more requests per second). `BENCH_API_REQUESTS` (default 400) sets the count.
"""

from __future__ import annotations

import io
import logging
import os
import re
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

CLIENTS = 50
TOKEN_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def _app(data_dir: Path):
    from parapheur import create_app

    url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{data_dir / 'bench.sqlite3'}"
    app = create_app({"DATA_DIR": data_dir, "DATABASE_URL": url, "SECRET_KEY": "bench",
                      "API_RATE_LIMIT": "1000000 per minute",
                      "LOGIN_RATE_LIMIT": "1000000 per minute"})
    return app


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


def run() -> None:
    import requests
    from sqlalchemy import select
    from werkzeug.serving import make_server

    from parapheur.accounts.models import User
    from parapheur.api import tokens
    from parapheur.api.models import TokenKind
    from parapheur.clock import now
    from parapheur.db import get_session, transaction
    from parapheur.demo.seed import seed_demo

    count = int(os.environ.get("BENCH_API_REQUESTS", "400"))
    pdf = _pdf()
    with tempfile.TemporaryDirectory() as tmp:
        app = _app(Path(tmp))
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
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        base = f"http://127.0.0.1:{server.server_port}"
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
        finally:
            server.shutdown()
            app.extensions["parapheur.engine"].dispose()
