"""Signing throughput against straightforward pyHanko use, measured side by side in this run.

- B-B, PKCS#12, one-page PDFs: `BatchSigner` vs `SimpleSigner.load_pkcs12` + `sign_pdf` per file
  (target: at least 20x faster);
- PKCS#11 on a SoftHSM2 token, same batch (target: at least 50 documents/s);
- B-LTA with the loopback TSA and OCSP in their own process (target: at least 20 documents/s),
  with the time split between our side and the responders;
- a big PDF signed from file to file (target: peak memory under 300 MB for 1 GB).

BENCH_SCALE scales the document counts (default 1: 500 B-B documents); BENCH_BIG_PDF_MB sets the
big PDF's size (default 1024).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from io import BytesIO
from pathlib import Path

PASSPHRASE = "bench-passphrase"


def _scale() -> float:
    try:
        return max(0.01, float(os.environ.get("BENCH_SCALE", "1")))
    except ValueError:
        return 1.0


def _one_page_pdf(text: str = "Mandat de paiement n° 2026-0001") -> bytes:
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.writer import PdfFileWriter

    writer = PdfFileWriter()
    font = writer.add_object(generic.DictionaryObject({
        generic.NameObject("/Type"): generic.NameObject("/Font"),
        generic.NameObject("/Subtype"): generic.NameObject("/Type1"),
        generic.NameObject("/BaseFont"): generic.NameObject("/Helvetica"),
        generic.NameObject("/Encoding"): generic.NameObject("/WinAnsiEncoding"),
    }))
    content = f"BT /F1 12 Tf 72 770 Td ({text}) Tj ET".encode("cp1252")
    writer.insert_page(generic.DictionaryObject({
        generic.NameObject("/Type"): generic.NameObject("/Page"),
        generic.NameObject("/MediaBox"): generic.ArrayObject(
            [generic.NumberObject(v) for v in (0, 0, 595, 842)]),
        generic.NameObject("/Resources"): generic.DictionaryObject({
            generic.NameObject("/Font"): generic.DictionaryObject(
                {generic.NameObject("/F1"): font})}),
        generic.NameObject("/Contents"): writer.add_object(
            generic.StreamObject(stream_data=content)),
    }))
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def _write_inputs(folder: Path, count: int, pdf: bytes) -> list[tuple[Path, Path]]:
    (folder / "in").mkdir(parents=True)
    (folder / "out").mkdir()
    pairs = []
    for index in range(count):
        source = folder / "in" / f"doc-{index:05d}.pdf"
        source.write_bytes(pdf)
        pairs.append((source, folder / "out" / source.name))
    return pairs


def _baseline_b_b(pki, pdf: bytes, count: int) -> float:
    """Seconds per document with straightforward pyHanko use (key loaded per file, dry run)."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers

    started = time.perf_counter()
    for _ in range(count):
        signer = signers.SimpleSigner.load_pkcs12(str(pki.pkcs12_path("maire")),
                                                  passphrase=PASSPHRASE.encode())
        signers.sign_pdf(IncrementalPdfFileWriter(BytesIO(pdf)),
                         signers.PdfSignatureMetadata(field_name="Signature",
                                                      subfilter=fields.SigSeedSubFilter.PADES),
                         signer=signer)
    return (time.perf_counter() - started) / count


def _baseline_b_lta(pki, server, pdf: bytes, count: int) -> float:
    """Seconds per document for straightforward B-LTA: new signer, context and TSA client each."""
    from pyhanko.keys import load_cert_from_pemder
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers
    from pyhanko.sign.timestamps import HTTPTimeStamper
    from pyhanko_certvalidator import ValidationContext

    root = load_cert_from_pemder(str(pki.ca_certificate_path))
    started = time.perf_counter()
    for _ in range(count):
        signer = signers.SimpleSigner.load_pkcs12(str(pki.pkcs12_path("maire")),
                                                  passphrase=PASSPHRASE.encode())
        context = ValidationContext(trust_roots=[root], allow_fetching=True)
        signers.sign_pdf(
            IncrementalPdfFileWriter(BytesIO(pdf)),
            signers.PdfSignatureMetadata(field_name="Signature",
                                         subfilter=fields.SigSeedSubFilter.PADES,
                                         embed_validation_info=True, use_pades_lta=True,
                                         validation_context=context),
            signer=signer, timestamper=HTTPTimeStamper(server.tsa_url))
    return (time.perf_counter() - started) / count


def _check_sample(pki, path: Path) -> str:
    """pyHanko's verdict on one output file (so a fast but broken path cannot pass unnoticed)."""
    from pyhanko.keys import load_cert_from_pemder
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    root = load_cert_from_pemder(str(pki.ca_certificate_path))
    with open(path, "rb") as handle:
        embedded = PdfFileReader(handle).embedded_signatures[0]
        status = validate_pdf_signature(embedded, ValidationContext(trust_roots=[root]))
    return "valid" if status.bottom_line else "INVALID"


def _sign_batch(key, options, pairs, **kwargs) -> float:
    from signing.batch import BatchSigner

    started = time.perf_counter()
    outcomes = BatchSigner(key, options, **kwargs).sign_files(pairs)
    elapsed = time.perf_counter() - started
    failed = [o for o in outcomes if not o.ok]
    if failed:
        raise RuntimeError(f"{len(failed)} documents failed: {failed[0].error.message}")
    return elapsed


def _bench_big_pdf(pki, folder: Path) -> None:
    megabytes = int(os.environ.get("BENCH_BIG_PDF_MB", "1024"))
    source = folder / "big.pdf"
    _make_big_pdf(source, megabytes)
    target = folder / "big-signed.pdf"
    # A child process, so its peak memory is the signing's and nothing else's.
    code = (
        "import resource, sys, time\n"
        "from pathlib import Path\n"
        "from signing.keys import Pkcs12Key\n"
        "from signing.batch import sign_file\nfrom signing.pades import SignOptions, Stamp\n"
        "from signing.pki import DevPki\n"
        "pki = DevPki.load(Path(sys.argv[1]))\n"
        "key = Pkcs12Key.open(pki.pkcs12_path('maire'), pki.passphrase)\n"
        "t = time.perf_counter()\n"
        "sign_file(Path(sys.argv[2]), Path(sys.argv[3]), key,"
        " SignOptions(stamp=Stamp('Martine Dupont', 'Le Maire')))\n"
        "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    result = subprocess.run([sys.executable, "-c", code, str(pki.directory), str(source),
                             str(target)], capture_output=True, text=True, check=True,
                            cwd=Path(__file__).resolve().parent.parent)
    seconds, max_rss_kb = result.stdout.split()
    peak = int(max_rss_kb) / 1024
    print(f"signing: big PDF {megabytes} MB signed file to file in {float(seconds):.1f} s, "
          f"peak memory {peak:.0f} MB (target < 300 MB for 1 GB) -> "
          f"{'ok' if peak < 300 else 'OVER'}; pyHanko check: {_check_sample(pki, target)}")
    source.unlink()
    target.unlink()


def _make_big_pdf(path: Path, megabytes: int) -> None:
    """A one-page PDF carrying `megabytes` MB in an extra stream, written without holding it."""
    chunk = b"\0" * (1 << 20)
    offsets: dict[int, int] = {}
    with open(path, "wb") as out:
        out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")

        def obj(number: int, body: bytes) -> None:
            offsets[number] = out.tell()
            out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")

        content = b"BT /F1 12 Tf 72 770 Td (Registre des actes 2026) Tj ET"
        obj(1, b"<< /Type /Catalog /Pages 2 0 R >>")
        obj(2, b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>")
        obj(3, b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
               b"/Resources << /Font << /F1 6 0 R >> /XObject << /Big 5 0 R >> >> >>")
        obj(4, b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
        offsets[5] = out.tell()
        out.write(b"5 0 obj\n<< /Type /XObject /Subtype /Image /Width 1 /Height 1 "
                  b"/ColorSpace /DeviceGray /BitsPerComponent 8 /Length %d >>\nstream\n"
                  % (megabytes << 20))
        for _ in range(megabytes):
            out.write(chunk)
        out.write(b"\nendstream\nendobj\n")
        obj(6, b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
        xref = out.tell()
        out.write(b"xref\n0 7\n0000000000 65535 f \n")
        for number in range(1, 7):
            out.write(b"%010d 00000 n \n" % offsets[number])
        out.write(b"trailer\n<< /Size 7 /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % xref)


def run() -> None:
    """Print the signing ratios and throughputs (see the module docstring for the targets)."""
    from pyhanko.keys import load_cert_from_pemder

    from signing.keys import Pkcs11Key, Pkcs12Key
    from signing.pades import Level, SignOptions
    from signing.pki import Person, init_dev_pki
    from signing.pki_server import PkiServer, free_loopback_port

    scale = _scale()
    documents = max(10, int(500 * scale))
    baseline_documents = max(3, int(20 * scale))
    lta_documents = max(10, int(100 * scale))
    lta_baseline_documents = max(2, int(5 * scale))
    pdf = _one_page_pdf()
    with tempfile.TemporaryDirectory(prefix="bench-signing-") as tmp:
        folder = Path(tmp)
        port = free_loopback_port()
        pki = init_dev_pki(folder / "pki", organisation="Commune de Banc-d'Essai",
                           people=[Person("maire", "Martine Dupont", "Maire")],
                           passphrase=PASSPHRASE, base_url=f"http://127.0.0.1:{port}")

        # -- B-B with PKCS#12 ---------------------------------------------------------------
        baseline = _baseline_b_b(pki, pdf, baseline_documents)
        pairs = _write_inputs(folder / "bb", documents, pdf)
        key = Pkcs12Key.open(pki.pkcs12_path("maire"), PASSPHRASE)
        elapsed = _sign_batch(key, SignOptions(), pairs)
        ours = elapsed / documents
        print(f"signing: B-B PKCS#12, {documents} one-page PDFs: {documents / elapsed:.0f} docs/s "
              f"({ours * 1000:.1f} ms each); straightforward pyHanko ({baseline_documents} docs): "
              f"{baseline * 1000:.0f} ms each")
        print(f"signing: B-B PKCS#12 ratio: {baseline / ours:.1f}x faster than straightforward "
              f"pyHanko (target >= 20x) -> {'ok' if baseline / ours >= 20 else 'BELOW'}; "
              f"pyHanko check of the last file: {_check_sample(pki, pairs[-1][1])}")

        # -- B-B with PKCS#11 (SoftHSM2) ----------------------------------------------------
        try:
            from signing.softhsm import SoftHsmUnavailable, provision

            token = provision(folder / "softhsm", pki, keys=("maire",))
        except (SoftHsmUnavailable, subprocess.CalledProcessError) as exc:
            print(f"signing: PKCS#11 skipped ({exc})")
        else:
            pairs = _write_inputs(folder / "p11", documents, pdf)
            with Pkcs11Key.open(token.module, pin=token.pin, token_label=token.token_label,
                                key_label="maire") as token_key:
                elapsed = _sign_batch(token_key, SignOptions(), pairs)
            rate = documents / elapsed
            print(f"signing: B-B PKCS#11 (SoftHSM2), {documents} PDFs: {rate:.0f} docs/s "
                  f"(target >= 50) -> {'ok' if rate >= 50 else 'BELOW'}; "
                  f"pyHanko check: {_check_sample(pki, pairs[-1][1])}")

        # -- B-LTA with the loopback TSA/OCSP in their own process --------------------------
        server = PkiServer(pki).start_process()
        try:
            lta_baseline = _baseline_b_lta(pki, server, pdf, lta_baseline_documents)
            before = server.stats()
            pairs = _write_inputs(folder / "lta", lta_documents, pdf)
            root = load_cert_from_pemder(str(pki.ca_certificate_path))
            elapsed = _sign_batch(key, SignOptions(level=Level.B_LTA), pairs,
                                  timestamper=server.tsa_url, trust_roots=[root])
            after = server.stats()
        finally:
            server.stop()
        rate = lta_documents / elapsed
        requests = {k: after[k][0] - before[k][0] for k in after}
        busy = {k: after[k][1] - before[k][1] for k in after}
        responders = sum(busy.values())
        print(f"signing: B-LTA, {lta_documents} PDFs with loopback TSA+OCSP: {rate:.1f} docs/s "
              f"(target >= 20) -> {'ok' if rate >= 20 else 'BELOW'}; straightforward pyHanko: "
              f"{1 / lta_baseline:.1f} docs/s; ratio {lta_baseline * rate:.1f}x; "
              f"pyHanko check: {_check_sample(pki, pairs[-1][1])}")
        print(f"signing: B-LTA time split over {elapsed:.2f} s wall: responders busy "
              f"{responders:.2f} s ({', '.join(f'{k} {requests[k]} req/{busy[k]:.2f} s' for k in busy)}"
              f"), our side about {max(0.0, elapsed - responders):.2f} s "
              f"(responders run in their own process, partly overlapped with ours)")

        # -- a big PDF, file to file --------------------------------------------------------
        _bench_big_pdf(pki, folder)
