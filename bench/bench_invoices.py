"""Invoice import throughput: 2,000 generated Factur-X PDFs imported with every check.

Each import reads the PDF, checks the XML against its XSD, runs the EN 16931 and BR-FR
schematrons, the arithmetic, identifier, buyer and duplicate checks, matches an engagement, keeps
the file and starts the `facture` circuit, one transaction per file, on SQLite.

The baseline, measured in the same run on a sample of the same files: the factur-x library's own
command-line tools, once per file: `facturx-pdfextractxml` (extraction and XSD check), then
`facturx-xmlcheck` (XSD, and the schematron, which that tool delegates to a Saxon HTTP server;
none runs here, so the baseline skips the schematron work we do). Target: at least 10x.

Both are timed in wall-clock and in CPU seconds (this process for the import, the child
processes for the baseline): on a machine other sessions load, the CPU ratio is the one that
compares like with like, and the target is judged on it; both are printed. The import's rate per
quarter of the run shows whether it slows down as the database grows.

BENCH_INVOICES (default 2000) and BENCH_INVOICES_BASELINE (default 30) change the counts.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from stdnum import luhn

TARGET = 10.0
BUYER_SIRET = "21380185500015"


def _supplier(index: int) -> dict[str, str]:
    base = f"8{index % 400:07d}"
    siren = base + luhn.calc_check_digit(base)
    siret = siren + "0001" + luhn.calc_check_digit(siren + "0001")
    key = (12 + 3 * (int(siren) % 97)) % 97
    return {"seller_siren": siren, "seller_siret": siret, "seller_vat_id": f"FR{key:02d}{siren}",
            "seller_name": f"Fournisseur {index % 400}"}


def _invoices(count: int) -> list[bytes]:
    from weasyprint import HTML

    from parapheur.invoices.generate import InvoiceSpec, cii_xml, facturx_pdf

    visual = HTML(string="<h1>Facture</h1><p>Visuel du fournisseur.</p>").write_pdf()
    pdfs = []
    for i in range(count):
        lines = tuple((f"Article {j}", Decimal(1 + (i + j) % 7), Decimal(f"{10 + j}.{i % 100:02d}"),
                       Decimal("20" if j % 2 else "5.5")) for j in range(1 + i % 4))
        spec = InvoiceSpec(number=f"FB-{i:05d}", issue_date=date(2026, 10, 1 + i % 28),
                           buyer_siret=BUYER_SIRET, buyer_reference="services-techniques",
                           order_reference=f"ENG-{i % 400:04d}", lines=lines, **_supplier(i))
        pdfs.append(facturx_pdf(cii_xml(spec), visual))
    return pdfs


def _app(directory: Path):
    from parapheur import create_app
    from parapheur.accounts.models import Role
    from parapheur.accounts.services import create_desk, create_user
    from parapheur.db import get_session, transaction, upgrade
    from parapheur.invoices.engagements import import_engagements
    from parapheur.organisations.services import create_organisation

    url = f"sqlite:///{directory / 'bench.sqlite3'}"
    upgrade(url)
    app = create_app({"DATA_DIR": directory / "data", "DATABASE_URL": url,
                      "SECRET_KEY": "bench", "TESTING": True})
    now = datetime.now(UTC)
    with app.app_context():
        session = get_session()
        with transaction(session):
            org = create_organisation(session, slug="bench", name="Commune du banc",
                                      siret=BUYER_SIRET, now=now)
            agent = create_user(session, organisation=org, username="agent", full_name="Agent",
                                password="bench-password", role=Role.AGENT, now=now)
            create_desk(session, organisation=org, slug="finances", name="Finances",
                        members=[agent], now=now)
            create_desk(session, organisation=org, slug="services-techniques",
                        name="Services techniques", members=[agent], now=now)
            csv = ["numero;exercice;service;bureau;siren_fournisseur;montant_ttc;nature"]
            csv += [f"ENG-{i:04d};2026;services-techniques;services-techniques;"
                    f"{_supplier(i)['seller_siren']};1000000;6068" for i in range(400)]
            import_engagements(session, "\n".join(csv).encode(), organisation_id=org.id,
                               actor=agent, now=now)
    return app


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _import_all(app, pdfs: list[bytes]) -> tuple[float, float, int, list[float]]:
    from flask import render_template
    from sqlalchemy import select

    from parapheur.accounts.models import User
    from parapheur.context import workflows_dir_for
    from parapheur.db import get_session, transaction
    from parapheur.documents.storage import ContentStore
    from parapheur.invoices.schematron import warm_up
    from parapheur.invoices.services import import_invoice

    warm_up([("cii", "en16931")])  # compiling the stylesheets is a start-up cost, not a per-file one
    routed = 0
    with app.app_context(), app.test_request_context():
        session = get_session()
        agent = session.execute(select(User)).scalar_one()
        desk = agent.desks[0]
        store = ContentStore(Path(app.config["DATA_DIR"]) / "store")
        started, cpu = time.perf_counter(), time.process_time()
        quarter = max(1, len(pdfs) // 4)
        marks = [started]
        for i, pdf in enumerate(pdfs):
            if i and i % quarter == 0 and len(marks) < 4:
                marks.append(time.perf_counter())
            with transaction(session):
                result = import_invoice(session, store, data=pdf, filename=f"FB-{i:05d}.pdf",
                                        actor=agent, actor_desk=desk, now=datetime.now(UTC),
                                        render=render_template,
                                        circuits_dir=workflows_dir_for(app.config))
            routed += result.routed and not result.problems
        ended = time.perf_counter()
        marks.append(ended)
        sizes = [quarter] * (len(marks) - 2) + [len(pdfs) - quarter * (len(marks) - 2)]
        rates = [n / (b - a) for n, a, b in zip(sizes, marks[:-1], marks[1:], strict=True)]
        return ended - started, time.process_time() - cpu, routed, rates


def _baseline(pdfs: list[bytes], directory: Path) -> tuple[float, float]:
    """The factur-x CLI once per file: extract the XML (with its XSD check), then check it."""
    from signing.pki_server import free_loopback_port

    bin_dir = Path(sys.executable).parent
    extract = shutil.which("facturx-pdfextractxml") or str(bin_dir / "facturx-pdfextractxml")
    check = shutil.which("facturx-xmlcheck") or str(bin_dir / "facturx-xmlcheck")
    # facturx-xmlcheck sends the XML to a Saxon server on localhost:5000 for the schematron;
    # none runs here: route that request to a closed loopback port so it fails at once.
    closed = f"http://127.0.0.1:{free_loopback_port()}"
    env = {**os.environ, "HTTP_PROXY": closed, "http_proxy": closed, "NO_PROXY": "",
           "no_proxy": ""}
    paths = []
    for i, pdf in enumerate(pdfs):
        path = directory / f"base-{i}.pdf"
        path.write_bytes(pdf)
        paths.append(path)
    started, cpu = time.perf_counter(), _children_cpu()
    for path in paths:
        xml = path.with_suffix(".xml")
        for command in ([extract, "-ds", "-l", "error", str(path), str(xml)],
                        [check, "-l", "error", str(xml)]):
            done = subprocess.run(command, capture_output=True, text=True, env=env)
            if done.returncode != 0:
                raise RuntimeError(f"{Path(command[0]).name} failed on {path.name}: "
                                   f"{done.stderr}")
    return time.perf_counter() - started, _children_cpu() - cpu


def run() -> None:
    """Print both throughputs and their ratio; raise if under the target."""
    count = int(os.environ.get("BENCH_INVOICES", "2000"))
    sample = min(count, int(os.environ.get("BENCH_INVOICES_BASELINE", "30")))
    with tempfile.TemporaryDirectory(prefix="bench-invoices-") as tmp:
        directory = Path(tmp)
        started = time.perf_counter()
        pdfs = _invoices(count)
        print(f"   generated {count} Factur-X PDFs in {time.perf_counter() - started:.1f} s")
        base_seconds, base_cpu = _baseline(pdfs[:sample], directory)
        base_rate = sample / base_seconds
        print(f"   factur-x CLI (facturx-pdfextractxml, then facturx-xmlcheck, per file): {sample} files in "
              f"{base_seconds:.1f} s = {base_rate:.2f} files/s; {base_cpu:.1f} s CPU = "
              f"{sample / base_cpu:.2f} files per CPU second")
        app = _app(directory)
        seconds, cpu, clean, rates = _import_all(app, pdfs)
        rate = count / seconds
        print(f"   parapheur import (XSD, EN 16931 + BR-FR schematrons, arithmetic, identifiers, "
              f"buyer, duplicates, engagement, store, circuit): {count} invoices in "
              f"{seconds:.1f} s = {rate:.2f} invoices/s; {cpu:.1f} s CPU = "
              f"{count / cpu:.2f} invoices per CPU second ({clean} clean and routed)")
        print("   import rate by quarter of the run (invoices/s): "
              + ", ".join(f"{r:.2f}" for r in rates))
        ratio = (count / cpu) / (sample / base_cpu)
        print(f"   ratio: {ratio:.1f}x in CPU time (target >= {TARGET:.0f}x), "
              f"{rate / base_rate:.1f}x in wall-clock time")
        app.extensions["parapheur.engine"].dispose()
        if clean != count:
            raise RuntimeError(f"only {clean} of {count} generated invoices imported cleanly")
        if ratio < TARGET:
            raise RuntimeError(f"invoice import is {ratio:.1f}x the factur-x CLI, "
                               f"under the {TARGET:.0f}x target")
