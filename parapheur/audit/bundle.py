"""Re-checking an evidence bundle offline: no database, no application (used by `parapheur verify`)."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from parapheur.audit.chain import canonical_json, chain_hash

BUNDLE_FORMAT = 2
MANIFEST_NAME = "manifest.json"
SEAL_NAME = "sceau.pdf"
EVIDENCE_KEY = "/ParapheurEvidence"  # catalog entry of sceau.pdf carrying the manifest's SHA-256


def check_journal_slice(journal: dict[str, Any], *, one_document: bool = True) -> list[str]:
    """Problems found in a journal slice (empty when every hash holds and chains up).

    `one_document`: every event must be of the slice's document (an evidence bundle's); an
    export of the journal page (`audit.journal.export_slice`) may span several.
    """
    problems: list[str] = []
    skeleton = {link["seq"]: link for link in journal.get("chain", [])}
    seqs = sorted(skeleton)
    if seqs and seqs != list(range(seqs[0], seqs[-1] + 1)):
        problems.append("la chaîne du journal présente une lacune")
    for before, after in zip(seqs, seqs[1:], strict=False):
        if skeleton[after]["prev_hash"] != skeleton[before]["hash"]:
            problems.append(f"l'événement n°{after} ne suit pas l'événement n°{before}")
    for entry in journal.get("events", []):
        seq = entry.get("seq")
        content = canonical_json(entry.get("content"))
        if chain_hash(entry["prev_hash"], content) != entry.get("hash"):
            problems.append(f"l'événement n°{seq} a été modifié (empreinte différente)")
        link = skeleton.get(seq)
        if link is None or link["hash"] != entry["hash"] or link["prev_hash"] != entry["prev_hash"]:
            problems.append(f"l'événement n°{seq} n'est pas à sa place dans la chaîne")
        if one_document and (entry.get("content", {}).get("document_id")
                             != journal.get("document_id")):
            problems.append(f"l'événement n°{seq} concerne un autre document")
    return problems


@dataclass
class BundleCheck:
    """Result of re-checking an evidence bundle offline (the seal's signature is validated by the caller)."""

    problems: list[str] = field(default_factory=list)
    files: int = 0
    events: int = 0
    seal: bytes | None = None  # sceau.pdf, when it seals this very manifest

    @property
    def ok(self) -> bool:
        return not self.problems


_REQUIRED = ("document.pdf", "bordereau.pdf", "journal.json")
_MAX_MEMBER = 512 * 1024 * 1024  # no single member of a bundle is larger (zip bombs)
_NOT_A_VERSION = ("document:evidence:exported",)  # events whose sha256 is not a version's


def check_bundle(path: Path) -> BundleCheck:
    """Re-check a bundle: every file listed and hashed, the journal chain, the versions, the seal."""
    result = BundleCheck()
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        result.problems.append(f"archive illisible : {exc}")
        return result
    with archive:
        try:
            _check(archive, result)
        except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
            result.problems.append(f"archive endommagée : {exc}")
    return result


def _read(archive: zipfile.ZipFile, name: str) -> bytes:
    if archive.getinfo(name).file_size > _MAX_MEMBER:
        raise zipfile.BadZipFile(f"{name} est trop volumineux")
    return archive.read(name)


def _check(archive: zipfile.ZipFile, result: BundleCheck) -> None:
    problems = result.problems
    listing = archive.namelist()
    names = set(listing)
    for name in sorted({n for n in listing if listing.count(n) > 1}):
        problems.append(f"{name} figure plusieurs fois dans l'archive")
    manifest_bytes = _read(archive, MANIFEST_NAME) if MANIFEST_NAME in names else None
    manifest = _json_object(manifest_bytes, MANIFEST_NAME, problems)
    journal = _json_object(_read(archive, "journal.json") if "journal.json" in names else None,
                           "journal.json", problems)
    if manifest is None or journal is None:
        return
    listed = manifest.get("files")
    versions = manifest.get("versions")
    if not isinstance(listed, dict) or not listed:
        problems.append("le manifeste ne liste aucun fichier")
        listed = {}
    if not isinstance(versions, dict) or not versions:
        problems.append("le manifeste ne nomme aucune version du document")
        versions = {}
    # Every file it contains is listed, every file listed is there, and the mandatory ones are.
    for name in (*_REQUIRED, *versions):
        if name not in listed:
            problems.append(f"{name} n'est pas listé au manifeste")
    for name in sorted(names - {MANIFEST_NAME, SEAL_NAME}):
        if name not in listed:
            problems.append(f"{name} est dans l'archive mais n'est pas listé au manifeste")
    hashes: dict[str, str] = {}
    for name, expected in listed.items():
        if name not in names:
            problems.append(f"{name} est listé au manifeste mais manque dans l'archive")
            continue
        hashes[name] = hashlib.sha256(_read(archive, name)).hexdigest()
        if hashes[name] != expected:
            problems.append(f"{name} ne correspond pas à son empreinte du manifeste")
        result.files += 1
    for name, expected in versions.items():
        if name in listed and listed[name] != expected:
            problems.append(f"{name} n'a pas la même empreinte dans la liste des fichiers et des versions")
    # The journal: the same document, a non-empty chain, and it names these versions, last the current.
    if manifest.get("document_id") is None or manifest.get("document_id") != journal.get("document_id"):
        problems.append("le manifeste et le journal ne concernent pas le même document")
    events = journal.get("events")
    if not isinstance(events, list) or not events or not journal.get("chain"):
        problems.append("le journal est vide ou sans chaîne d'empreintes")
        return
    try:
        problems.extend(check_journal_slice(journal))
    except (KeyError, TypeError, AttributeError):
        problems.append("le journal est mal formé")
        return
    result.events = len(events)
    named = _version_hashes(events)
    for name, expected in versions.items():
        if expected not in named:
            problems.append(f"{name} n'est mentionné par aucun événement du journal")
    annexes = manifest.get("annexes") or {}
    if not isinstance(annexes, dict):
        problems.append("la liste des annexes du manifeste est mal formée")
        annexes = {}
    annex_files = _annex_hashes(events)
    for name, expected in annexes.items():
        if name not in listed or listed[name] != expected:
            problems.append(f"l'annexe {name} n'a pas la même empreinte dans la liste des fichiers "
                            "et des annexes")
        if expected not in annex_files:
            problems.append(f"l'annexe {name} n'est mentionnée par aucun événement du journal")
    if named and hashes.get("document.pdf") != named[-1]:
        problems.append("document.pdf n'est pas la dernière version du document nommée par le journal")
    # The seal: sceau.pdf's signed revision carries this manifest's SHA-256.
    if SEAL_NAME not in names:
        problems.append(f"le dossier n'est pas scellé ({SEAL_NAME} absent) : rien ne prouve qui l'a produit")
        return
    seal = _read(archive, SEAL_NAME)
    sealed = sealed_manifest_hash(seal)
    assert manifest_bytes is not None
    if sealed is None:
        problems.append(f"{SEAL_NAME} ne porte aucune empreinte de manifeste signée")
    elif sealed != hashlib.sha256(manifest_bytes).hexdigest():
        problems.append("le manifeste n'est pas celui que le sceau a scellé (empreinte différente) : "
                        "le dossier a été modifié après son scellement")
    else:
        result.seal = seal


def _json_object(data: bytes | None, name: str, problems: list[str]) -> dict[str, Any] | None:
    if data is None:
        problems.append(f"{name} manque dans l'archive")
        return None
    try:
        value = json.loads(data)
    except ValueError as exc:
        problems.append(f"{name} est illisible : {exc}")
        return None
    if not isinstance(value, dict) or not value:
        problems.append(f"{name} est vide")
        return None
    return value


def _version_hashes(events: list[Any]) -> list[str]:
    """SHA-256 of the document's versions, in the order the journal recorded them."""
    ordered = sorted((e for e in events if isinstance(e, dict)), key=lambda e: e.get("seq") or 0)
    found = []
    for event in ordered:
        content = event.get("content") or {}
        details = content.get("details") if isinstance(content, dict) else None
        if isinstance(details, dict) and details.get("sha256") and content.get("name") not in _NOT_A_VERSION:
            found.append(details["sha256"])
    return found


def _annex_hashes(events: list[Any]) -> set[str]:
    """SHA-256 of the annex files the journal recorded (added, then signed)."""
    found = set()
    for event in events:
        content = event.get("content") if isinstance(event, dict) else None
        details = content.get("details") if isinstance(content, dict) else None
        if isinstance(details, dict) and str(content.get("name", "")).startswith("document:annex:"):
            if isinstance(details.get("file_sha256"), str):
                found.add(details["file_sha256"])
    return found


def sealed_manifest_hash(seal: bytes) -> str | None:
    """The manifest SHA-256 in the catalog of the revision the seal signed (None if absent/unsigned)."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    try:
        reader = PdfFileReader(io.BytesIO(seal), strict=False)
        signatures = [s for s in reader.embedded_signatures if s.sig_object_type == "/Sig"]
        if not signatures:
            return None
        root = reader.get_historical_root(signatures[0].signed_revision)
        value = root.get(EVIDENCE_KEY, {}).get("/ManifestSHA256")
        return str(value) if value is not None else None
    except Exception:  # an unreadable seal carries nothing
        return None
