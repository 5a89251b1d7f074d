"""Re-checking an evidence bundle offline: no database, no application (used by `parapheur verify`)."""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from parapheur.audit.chain import canonical_json, chain_hash

BUNDLE_FORMAT = 1


def check_journal_slice(journal: dict[str, Any]) -> list[str]:
    """Problems found in a journal slice (empty when every hash holds and chains up)."""
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
        if entry.get("content", {}).get("document_id") != journal.get("document_id"):
            problems.append(f"l'événement n°{seq} concerne un autre document")
    return problems


@dataclass
class BundleCheck:
    """Result of re-checking an evidence bundle offline."""

    problems: list[str] = field(default_factory=list)
    files: int = 0
    events: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def check_bundle(path: Path) -> BundleCheck:
    """Re-check a bundle: manifest hashes, journal chain, and that the journal names these files."""
    result = BundleCheck()
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        result.problems.append(f"archive illisible : {exc}")
        return result
    with archive:
        names = set(archive.namelist())
        try:
            manifest = json.loads(archive.read("manifest.json"))
            journal = json.loads(archive.read("journal.json"))
        except (KeyError, ValueError) as exc:
            result.problems.append(f"manifest.json ou journal.json absent ou illisible : {exc}")
            return result
        for name, expected in manifest.get("files", {}).items():
            if name not in names:
                result.problems.append(f"{name} manque dans l'archive")
                continue
            if hashlib.sha256(archive.read(name)).hexdigest() != expected:
                result.problems.append(f"{name} ne correspond pas à son empreinte du manifeste")
            result.files += 1
        result.problems.extend(check_journal_slice(journal))
        result.events = len(journal.get("events", []))
        recorded = {e["content"]["details"].get("sha256") for e in journal.get("events", [])
                    if isinstance(e.get("content", {}).get("details"), dict)}
        for name, expected in manifest.get("versions", {}).items():
            if expected not in recorded:
                result.problems.append(f"{name} n'est mentionné par aucun événement du journal")
    return result
