"""Sealed evidence bundles: every forgery an auditor was once fooled by now exits 1 with a sentence.

A real bundle is exported once (sealed at B-LT with the demo organisation's seal through the loopback
TSA), then forged in every way the issue lists: `parapheur verify --bundle` must say what is wrong.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import UTC, datetime, timedelta

import pytest
from app_helpers import csrf_from
from click.testing import CliRunner

from parapheur.audit.bundle import check_bundle
from parapheur.cli import main
from parapheur.db import get_session


def _zip(path, items: dict[str, bytes]):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in items.items():
            archive.writestr(name, data)
    path.write_bytes(buffer.getvalue())
    return path


def _rehash(items: dict[str, bytes]) -> dict[str, bytes]:
    """What a forger who knows the format does: recompute every hash of the manifest."""
    items = dict(items)
    manifest = json.loads(items["manifest.json"])
    manifest["files"] = {n: hashlib.sha256(d).hexdigest() for n, d in items.items()
                         if n not in ("manifest.json", "sceau.pdf")}
    manifest["versions"] = {n: manifest["files"][n] for n in manifest["versions"] if n in manifest["files"]}
    items["manifest.json"] = json.dumps(manifest).encode()
    return items


@pytest.fixture(scope="module")
def _made() -> dict:
    return {}


@pytest.fixture
def sealed(_made, demo, client_for, demo_pki, tmp_path_factory):
    """(the bundle's files, another PDF validly signed by the maire, the trust anchor).

    Made once for the module (a signature, a B-LT seal): every test forges copies of it."""
    kind = demo.config["DATABASE_URL"].split(":")[0]  # one per database the module runs on
    if kind not in _made:
        _made[kind] = _seal(demo, client_for, demo_pki, tmp_path_factory.mktemp("seal"))
    return _made[kind]


def _seal(demo, client_for, demo_pki, tmp_path):
    from parapheur.audit.evidence import export_document
    from parapheur.circuits.services import get_document
    from parapheur.context import store_for
    from parapheur.demo.seed import DEMO_PASSPHRASE
    from parapheur.signatures.reports import trust_anchor_paths
    from signing.batch import sign_document
    from signing.keys import Pkcs12Key
    from signing.pades import Level, SignOptions

    maire = client_for("maire")
    token = csrf_from(maire.get("/documents/3").get_data(as_text=True))
    assert maire.post("/documents/3/steps/signature_maire/sign",
                      data={"csrf_token": token, "passphrase": "1234"}).status_code == 302
    passphrase = tmp_path / "seal-passphrase"
    passphrase.write_text(DEMO_PASSPHRASE + "\n", encoding="utf-8")
    demo.config["SEAL_PKCS12"] = demo_pki.seal_pkcs12_path
    demo.config["SEAL_PASSPHRASE_FILE"] = passphrase
    demo.config["TRUST_ANCHORS"] = (demo_pki.ca_certificate_path,)
    with demo.app_context():
        session = get_session()
        store = store_for(demo.config)
        data = export_document(session, store, get_document(session, 3),
                               organisation="Métropole de Démo",
                               trust_anchors=trust_anchor_paths(demo.config),
                               seal_config=demo.config, now=demo.config["CLOCK"]())
        other = store.read(get_document(session, 1).current_version.sha256)
    key = Pkcs12Key.open(demo_pki.pkcs12_path("maire"), DEMO_PASSPHRASE)
    other_signed = sign_document(other, key, SignOptions(level=Level.B_B))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        items = {n: archive.read(n) for n in archive.namelist()}
    return items, other_signed, demo_pki.ca_certificate_path


def _verify(trust, bundle, *extra: str):
    result = CliRunner().invoke(main, ["verify", "--trust", str(trust), "--jobs", "1", *extra, "--bundle",
                                       str(bundle)])
    return result.exit_code, result.output


def test_the_real_bundle_is_sealed_and_checks_now_and_later(sealed, tmp_path):
    items, _, trust = sealed
    assert {"manifest.json", "sceau.pdf", "document.pdf", "journal.json", "bordereau.pdf"} <= set(items)
    bundle = _zip(tmp_path / "preuve.zip", items)
    code, out = _verify(trust, bundle)
    assert code == 0, out
    assert "Scellé par CN=Cachet serveur" in out and "prouvée par horodatage" in out
    # Long-term: sixty days later, past the seal's embedded OCSP responses, offline.
    later = (datetime.now(UTC) + timedelta(days=60)).isoformat()
    code, out = _verify(trust, bundle, "--at", later)
    assert code == 0, out


def test_the_three_forgeries_of_the_issue_exit_1(sealed, tmp_path):
    items, other_signed, trust = sealed
    forgeries = {
        # manifest.json and journal.json are {} with a PDF validly signed by the maire.
        "empty": ({"manifest.json": b"{}", "journal.json": b"{}", "document.pdf": other_signed},
                  "manifest.json est vide"),
        # document.pdf swapped for another document's signed PDF and an empty manifest.
        "swapped": ({**items, "document.pdf": other_signed, "manifest.json": b"{}"}, "manifest.json est vide"),
    }
    manifest = json.loads(items["manifest.json"])
    del manifest["files"]["document.pdf"]
    # Only the document.pdf entry removed from the manifest, and the file swapped.
    forgeries["unlisted"] = ({**items, "document.pdf": other_signed, "manifest.json": json.dumps(manifest).encode()},
                             "document.pdf n'est pas listé au manifeste")
    for name, (forged, sentence) in forgeries.items():
        code, out = _verify(trust, _zip(tmp_path / f"{name}.zip", forged))
        assert code == 1, (name, out)
        assert "NON CONFORME" in out and sentence in out, (name, out)


def test_adding_removing_or_altering_any_file_is_caught(sealed, tmp_path):
    items, _, trust = sealed
    for name in items:
        removed = {n: d for n, d in items.items() if n != name}
        problems = check_bundle(_zip(tmp_path / "removed.zip", removed)).problems
        assert problems, name
        if name == "sceau.pdf":
            continue  # altered below: its own signature catches it
        altered = {**items, name: items[name] + b"\n%forged"}
        problems = check_bundle(_zip(tmp_path / "altered.zip", altered)).problems
        assert problems, name
    added = {**items, "versions/v9-signature.pdf": items["document.pdf"]}
    problems = check_bundle(_zip(tmp_path / "added.zip", added)).problems
    assert "versions/v9-signature.pdf est dans l'archive mais n'est pas listé au manifeste" in problems
    problems = check_bundle(_zip(tmp_path / "no-seal.zip", {n: d for n, d in items.items() if n != "sceau.pdf"})).problems
    assert any("n'est pas scellé" in p for p in problems)
    # The attestation's text changed (same length): the seal's signature no longer holds.
    assert items["sceau.pdf"].count(b"Attestation de scellement") == 1
    seal = items["sceau.pdf"].replace(b"Attestation de scellement", b"Attestation de scellemenX")
    code, out = _verify(trust, _zip(tmp_path / "seal-altered.zip", {**items, "sceau.pdf": seal}))
    assert code == 1 and "le sceau du dossier est invalide" in out, out


def test_rehashing_everything_without_the_seal_exits_1(sealed, tmp_path):
    items, other_signed, trust = sealed
    forged = _rehash({**items, "bordereau.pdf": other_signed})
    bundle = _zip(tmp_path / "rehashed.zip", forged)
    assert check_bundle(bundle).problems == [
        "le manifeste n'est pas celui que le sceau a scellé (empreinte différente) : "
        "le dossier a été modifié après son scellement"]
    code, out = _verify(trust, bundle)
    assert code == 1 and "le dossier a été modifié après son scellement" in out


def test_a_seal_made_by_someone_else_is_not_conclusive(sealed, demo_pki, tmp_path):
    """A forger who re-seals with a key of their own: the seal's chain leads to no trusted authority."""
    from parapheur.audit.evidence import seal_attestation
    from parapheur.demo.seed import DEMO_PASSPHRASE
    from signing.batch import sign_document
    from signing.keys import Pkcs12Key
    from signing.pades import Level, SignOptions

    items, other_signed, trust = sealed
    forged = _rehash({**items, "bordereau.pdf": other_signed})
    manifest = json.loads(forged["manifest.json"])
    key = Pkcs12Key.open(demo_pki.pkcs12_path("untrusted"), DEMO_PASSPHRASE)
    attestation = seal_attestation(forged["manifest.json"], document_id=manifest["document_id"], title="x",
                                   organisation="x", moment=datetime.now(UTC))
    forged["sceau.pdf"] = sign_document(attestation, key, SignOptions(level=Level.B_B))
    bundle = _zip(tmp_path / "resealed.zip", forged)
    assert check_bundle(bundle).ok
    code, out = _verify(trust, bundle)
    assert code == 3 and "NO_CERTIFICATE_CHAIN_FOUND" in out, out
