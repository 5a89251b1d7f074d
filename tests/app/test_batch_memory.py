"""A batch of large documents signs within bounded memory (issue #9, item 11).

The batch runs in a subprocess whose address space is limited (RLIMIT_AS) to what the process
already uses plus a budget far below the size of the batch: holding every document (or every
signed result) in memory cannot fit, streaming them from the store to the signer to the store can.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap
from io import BytesIO

import pytest
from sqlalchemy import select

from parapheur.accounts.models import User
from parapheur.circuits import services as circuits
from parapheur.context import store_for
from parapheur.db import get_session, transaction
from parapheur.documents import services as documents
from parapheur.documents.models import Document, DocumentStatus, DocumentVersion

pytestmark = pytest.mark.slow

DOCUMENTS = 6
IMAGE_BYTES = 16 * 1024 * 1024  # each document: a 16 MB uncompressed image on its page
BUDGET = 88 * 1024 * 1024  # above the process's own size: less than the batch's originals (96 MB)


def _large_pdf(seed: int) -> bytes:
    """A one-page A4 PDF carrying an incompressible RGB image of IMAGE_BYTES."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.writer import PdfFileWriter

    side = int((IMAGE_BYTES / 3) ** 0.5)
    name = generic.NameObject
    writer = PdfFileWriter()
    image = writer.add_object(generic.StreamObject({
        name("/Type"): name("/XObject"), name("/Subtype"): name("/Image"),
        name("/Width"): generic.NumberObject(side), name("/Height"): generic.NumberObject(side),
        name("/ColorSpace"): name("/DeviceRGB"), name("/BitsPerComponent"): generic.NumberObject(8),
    }, stream_data=random.Random(seed).randbytes(side * side * 3)))
    content = writer.add_object(generic.StreamObject(
        stream_data=b"q 400 0 0 400 97 300 cm /Im0 Do Q\n"))
    writer.insert_page(generic.DictionaryObject({
        name("/Type"): name("/Page"),
        name("/MediaBox"): generic.ArrayObject([generic.NumberObject(v) for v in (0, 0, 595, 842)]),
        name("/Resources"): generic.DictionaryObject({
            name("/XObject"): generic.DictionaryObject({name("/Im0"): image})}),
        name("/Contents"): content,
    }))
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def _deposit_at_signature(demo, clock) -> list[tuple[int, str]]:
    """Deposit the large délibérations and give the DGS visa: they wait for the Maire."""
    items = []
    with demo.app_context():
        session = get_session()
        store = store_for(demo.config)
        users = {u.username: u for u in session.execute(select(User)).scalars()}
        for index in range(DOCUMENTS):
            with transaction(session):
                document = documents.create_document(
                    session, store, title=f"Délibération volumineuse {index}",
                    doc_type="ACTES", doc_subtype="DELIBERATION", data=_large_pdf(index),
                    filename=f"grande-{index}.pdf", author=users["finances"],
                    author_desk=users["finances"].desks[0], now=clock(),
                    circuits_dir=demo.config.get("WORKFLOWS_DIR") or _shipped())
            with transaction(session):
                circuits.act(session, document, step="visa_dgs", actor=users["dgs"],
                             decision="approve", now=clock())
            items.append((document.id, circuits.pending_steps(document)[0].state))
    return items


def _shipped():
    from parapheur.resources import shipped_dir

    return shipped_dir("workflows")


SCRIPT = textwrap.dedent("""
    import json, resource, sys
    from datetime import UTC, datetime

    from sqlalchemy import select

    from parapheur import create_app
    from parapheur.accounts.models import User
    from parapheur.context import current_store
    from parapheur.db import get_session
    from parapheur.signatures import services
    from parapheur.signatures.options import SigningSetup
    import signing.batch, signing.pades, signing.validation, signing.keys  # noqa: F401

    import threading
    # Helper threads (the resolver's executor: up to CPUs + 4 of them) reserve 2 MB of stack
    # each, not 8: the limit measures the data held, whatever the machine's number of CPUs.
    threading.stack_size(2 * 1024 * 1024)
    items, budget = json.loads(sys.argv[1]), int(sys.argv[2])
    app = create_app()
    with app.app_context():
        session = get_session()
        maire = session.execute(select(User).where(User.username == "maire")).scalar_one()
        setup = SigningSetup.from_config(app.config)
        with open("/proc/self/status") as status:
            size = next(int(line.split()[1]) * 1024 for line in status
                        if line.startswith("VmSize:"))
        resource.setrlimit(resource.RLIMIT_AS, (size + budget, size + budget))
        result = services.sign_batch(session, current_store(), [tuple(i) for i in items],
                                     actor=maire, passphrase="1234", now=datetime.now(UTC),
                                     setup=setup)
        print(json.dumps({"signed": len(result.signed), "failed": result.failed}))
""")


def test_a_batch_of_large_documents_signs_under_a_memory_limit(demo, clock):
    items = _deposit_at_signature(demo, clock)
    assert DOCUMENTS * IMAGE_BYTES > BUDGET  # the originals alone would not fit
    env = {**os.environ, "PARAPHEUR_DATA_DIR": str(demo.config["DATA_DIR"]),
           "PARAPHEUR_DATABASE_URL": demo.config["DATABASE_URL"],
           "PARAPHEUR_SECRET_KEY": "test-secret", "PARAPHEUR_TSA_URL": demo.config["TSA_URL"],
           "PARAPHEUR_TRUST_ANCHORS": ":".join(map(str, demo.config["TRUST_ANCHORS"])),
           # One malloc arena: the limit measures the data held, not per-thread reservations.
           "MALLOC_ARENA_MAX": "1"}
    result = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(items), str(BUDGET)],
                            capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome == {"signed": DOCUMENTS, "failed": []}
    with demo.app_context():
        session = get_session()
        for document_id, _ in items:
            document = session.get(Document, document_id)
            assert document.status is DocumentStatus.APPROVED
            assert document.current_version.number == 2
        store = store_for(demo.config)
        for version in session.execute(select(DocumentVersion)).scalars():
            assert store.verify(version.sha256)
