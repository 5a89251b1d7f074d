"""Uploading hundreds of damaged PDFs: each is accepted or refused with a reason, never a 500."""

from __future__ import annotations

import contextlib
import io
import random
import signal
import zlib

import pytest
from app_helpers import csrf_from, page_text

SEED = 20261201
MUTANTS = 200  # with the crafted files below: over two hundred uploads
REQUEST_TIMEOUT = 10  # seconds: longer means the upload hangs


@contextlib.contextmanager
def _deadline(seconds: int, what: str):
    """Fail (not wait) when one request takes longer than `seconds`."""
    def expired(_signum, _frame):
        raise TimeoutError(f"{what} took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _pdf(objects: list[bytes], root: int = 1) -> bytes:
    """A PDF from numbered object bodies, with a correct cross-reference table."""
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n"
              % (len(objects) + 1, root, xref))
    return out.getvalue()


def _page_with(content: bytes, extra: bytes = b"") -> bytes:
    return _pdf([b"<< /Type /Catalog /Pages 2 0 R >>",
                 b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                 b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R"
                 + extra + b" >>",
                 content])


def crafted() -> dict[str, bytes]:
    """Hand-made hostile files, one per known way of breaking a parser."""
    bomb = zlib.compress(b"\0" * (160 * 1024 * 1024), 9)  # 160 MB from 160 KB
    broken = b"x\x9c" + bytes(range(256)) * 4
    return {
        "deep-array": _page_with(b"<< /Length 0 >>\nstream\n\nendstream",
                                 b" /Deep " + b"[" * 50_000 + b"]" * 50_000),
        "deep-dict": _page_with(b"<< /Length 0 >>\nstream\n\nendstream",
                                b" /Deep " + b"<< /A " * 20_000 + b">> " * 20_000),
        "page-loop": _pdf([b"<< /Type /Catalog /Pages 2 0 R >>",
                           b"<< /Type /Pages /Kids [2 0 R] /Count 1 >>"]),
        "count-lies": _pdf([b"<< /Type /Catalog /Pages 2 0 R >>",
                            b"<< /Type /Pages /Kids [] /Count 99999999999999999999 >>"]),
        "decompression-bomb": _page_with(b"<< /Length %d /Filter /FlateDecode >>\nstream\n"
                                         % len(bomb) + bomb + b"\nendstream"),
        "broken-flate": _page_with(b"<< /Length %d /Filter /FlateDecode >>\nstream\n"
                                   % len(broken) + broken + b"\nendstream"),
        "length-too-short": _page_with(b"<< /Length 3 >>\nstream\nBT /F1 12 Tf ET\nendstream"),
        "length-too-long": _page_with(b"<< /Length 99999 >>\nstream\nq Q\nendstream"),
        "no-root": _pdf([b"<< /Type /Pages /Kids [] /Count 0 >>"], root=7),
        "xref-garbage": b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\nxref\nzz\ntrailer\n<<>>\n"
                        b"startxref\n999999\n%%EOF\n",
    }


def mutants(pdf: bytes, count: int, seed: int) -> list[tuple[str, bytes]]:
    """Truncations, bit flips, byte runs and duplicated chunks of a good PDF, reproducibly."""
    rng = random.Random(seed)
    result = []
    for index in range(count):
        data = bytearray(pdf)
        kind = ("truncate", "flip", "run", "splice")[index % 4]
        if kind == "truncate":
            data = data[:rng.randrange(16, len(data))] + b"\n%%EOF\n"
        elif kind == "flip":
            for _ in range(rng.randint(1, 12)):
                position = rng.randrange(len(data))
                data[position] ^= 1 << rng.randrange(8)
        elif kind == "run":
            position = rng.randrange(len(data))
            data[position:position + rng.randint(1, 64)] = bytes([rng.randrange(256)]) * 64
        else:
            start = rng.randrange(len(data))
            chunk = data[start:start + rng.randint(1, 512)]
            at = rng.randrange(len(data))
            data[at:at] = chunk
        result.append((f"{kind}-{index}", bytes(data)))
    return result


def test_damaged_pdfs_never_cause_a_500_or_a_hang(demo, client_for, sample_pdf, database_url):
    if not database_url.startswith("sqlite"):
        pytest.skip("the PDF checks do not depend on the database: one run is enough")
    demo.config["MAX_CONTENT_LENGTH"] = 20 * 1024 * 1024
    client = client_for("finances")
    page = client.get("/documents/new?typology=ACTES/DELIBERATION").get_data(as_text=True)
    token = csrf_from(page)
    statuses: dict[int, list[str]] = {}
    hostile = crafted()
    for name, data in [*hostile.items(), *mutants(sample_pdf, MUTANTS, SEED)]:
        with _deadline(REQUEST_TIMEOUT, f"uploading {name}"):
            response = client.post("/documents/new", content_type="multipart/form-data", data={
                "csrf_token": token, "title": f"Essai {name}", "typology": "ACTES/DELIBERATION",
                "file": (io.BytesIO(data), f"{name}.pdf")})
        statuses.setdefault(response.status_code, []).append(name)
        if response.status_code == 400:
            assert "PDF" in page_text(response), name  # a reason, not a bare refusal
    assert set(statuses) <= {302, 400}, {s: n[:5] for s, n in statuses.items()}
    assert set(hostile) <= set(statuses.get(400, [])), set(hostile) - set(statuses[400])
