"""Two-phase signing (the official's card behind the local agent) against the one-shot path.

Per document, B-B with a visible stamp: the server's prepare + finish (`signing.two_phase`)
against `BatchSigner` signing with the key in memory, measured side by side in this run. The
card's own work (signing a hash) is timed apart with the same key in memory, since a real card's
speed is the card's. BENCH_SCALE scales the document count (default 1: 40 documents).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path


def _count() -> int:
    try:
        scale = max(0.01, float(os.environ.get("BENCH_SCALE", "1")))
    except ValueError:
        scale = 1.0
    return max(5, int(40 * scale))


def run() -> None:
    """Print the per-document costs and the ratio of the two-phase server cost to one-shot."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
    from cryptography.hazmat.primitives.serialization import pkcs12

    from bench.bench_signing import _one_page_pdf
    from signing.batch import BatchSigner
    from signing.keys import Pkcs12Key
    from signing.pades import Level, SignOptions, Stamp
    from signing.pki import Person, init_dev_pki
    from signing.two_phase import ExternalKey, finish_documents, prepare_documents

    count = _count()
    with tempfile.TemporaryDirectory() as directory:
        pki = init_dev_pki(Path(directory), organisation="Ville de banc d'essai",
                           people=[Person("maire", "Martine Dupont", "Maire")],
                           passphrase="bench", base_url="http://127.0.0.1:9")
        path = pki.pkcs12_path("maire")
        key = Pkcs12Key.open(path, "bench")
        private, cert, chain = pkcs12.load_key_and_certificates(path.read_bytes(), b"bench")
        der = serialization.Encoding.DER
        external = ExternalKey.from_der(cert.public_bytes(der),
                                        [c.public_bytes(der) for c in chain or []])
        options = SignOptions(level=Level.B_B,
                              stamp=Stamp(signer_name="Martine Dupont", quality="Le Maire"))
        documents = [(str(i), _one_page_pdf(f"Arrêté n° 2026-{i:04d}"), options)
                     for i in range(count)]

        started = time.perf_counter()
        one_shot = BatchSigner(key, options).sign_documents([(n, p) for n, p, _ in documents])
        one_shot_s = time.perf_counter() - started
        assert all(o.ok for o in one_shot)

        started = time.perf_counter()
        prepared = prepare_documents(documents, external)
        prepare_s = time.perf_counter() - started
        started = time.perf_counter()
        values = [private.sign(p.state.to_sign, PKCS1v15(), Prehashed(hashes.SHA256()))
                  for p in prepared]
        card_s = time.perf_counter() - started
        started = time.perf_counter()
        finished = finish_documents([(p.state, p.prepared_pdf, v)
                                     for p, v in zip(prepared, values, strict=True)])
        finish_s = time.perf_counter() - started
        assert all(f.ok for f in finished), [f.error for f in finished if f.error][:1]

    per = lambda seconds: 1000 * seconds / count  # noqa: E731
    server = prepare_s + finish_s
    print(f"   {count} documents B-B with a stamp")
    print(f"   one-shot (key in memory)     {per(one_shot_s):7.2f} ms/document")
    print(f"   two-phase prepare            {per(prepare_s):7.2f} ms/document")
    print(f"   two-phase finish             {per(finish_s):7.2f} ms/document")
    print(f"   (the card's signatures       {per(card_s):7.2f} ms/document, here in memory)")
    print(f"   two-phase server cost / one-shot: {server / one_shot_s:.2f}x")
