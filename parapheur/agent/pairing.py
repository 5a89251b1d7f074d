"""Pairing: the parapheur servers this agent serves, each pinned to its public key at first use.

Only origins on the allow-list (`--allow-origin`) may pair. The first pairing of an origin, once
the official accepts it, pins that origin's Ed25519 public key; from then on the agent signs only
requests signed by that key, so another page or program on the same computer cannot drive it.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

PAIRINGS_FILE = "pairings.json"


class PairingError(Exception):
    """Pairing refused or a request not from the paired server; `message` is French."""

    def __init__(self, message: str, status: int = 403) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Pairing:
    """One paired server: its origin, name and pinned public key."""

    origin: str
    server: str
    server_key: str  # raw Ed25519 public key, base64
    paired_at: str

    @property
    def fingerprint(self) -> str:
        """Short fingerprint shown to the official when pairing."""
        import hashlib

        digest = hashlib.sha256(base64.b64decode(self.server_key)).hexdigest()
        return ":".join(digest[i:i + 4] for i in range(0, 24, 4))


def normalise_origin(origin: str) -> str:
    """scheme://host[:port] in lower case, without a trailing slash."""
    return origin.strip().rstrip("/").lower()


class Pairings:
    """The pinned servers, kept in `<config dir>/pairings.json` (mode 0600)."""

    def __init__(self, directory: Path, allowed_origins: list[str]) -> None:
        self.path = Path(directory) / PAIRINGS_FILE
        self.allowed = {normalise_origin(o) for o in allowed_origins}

    def is_allowed(self, origin: str | None) -> bool:
        """True for an origin on the allow-list."""
        return origin is not None and normalise_origin(origin) in self.allowed

    def _load(self) -> dict[str, dict[str, str]]:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise PairingError(f"Le fichier des appairages {self.path} est illisible ({exc}).",
                               status=500) from None

    def get(self, origin: str) -> Pairing | None:
        """The pairing of `origin`, if any."""
        data = self._load().get(normalise_origin(origin))
        return Pairing(**data) if data else None

    def all(self) -> list[Pairing]:
        """Every pinned server."""
        return [Pairing(**data) for data in self._load().values()]

    def candidate(self, origin: str, server: str, server_key: str) -> Pairing:
        """The pairing `origin` asks for; PairingError if not allowed or pinned to another key."""
        if not self.is_allowed(origin):
            raise PairingError("Ce site n'est pas autorisé à utiliser l'agent de signature.")
        try:
            raw = base64.b64decode(server_key.encode("ascii"), validate=True)
            Ed25519PublicKey.from_public_bytes(raw)
        except (ValueError, AttributeError, UnicodeEncodeError):
            raise PairingError("Clé publique du serveur invalide.", status=400) from None
        existing = self.get(origin)
        if existing is not None and existing.server_key != server_key:
            raise PairingError(
                "Ce parapheur présente une autre clé que celle enregistrée lors de l'appairage : "
                "refusé. Si le serveur a réellement changé de clé, oubliez l'appairage "
                "(parapheur-agent unpair) puis recommencez.", status=409)
        return Pairing(origin=normalise_origin(origin), server=str(server)[:200],
                       server_key=server_key,
                       paired_at=existing.paired_at if existing else datetime.now(UTC).isoformat())

    def save(self, pairing: Pairing) -> None:
        """Pin `pairing` (written atomically, readable by the official only)."""
        data = self._load()
        data[pairing.origin] = {"origin": pairing.origin, "server": pairing.server,
                                "server_key": pairing.server_key, "paired_at": pairing.paired_at}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".tmp")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, ensure_ascii=False)
        os.replace(partial, self.path)

    def forget(self, origin: str) -> bool:
        """Remove the pairing of `origin`; True if there was one."""
        data = self._load()
        if data.pop(normalise_origin(origin), None) is None:
            return False
        self.path.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
        return True

    def verify(self, origin: str | None, request_text: str, signature: str) -> Pairing:
        """The pairing under which `request_text` was signed by `origin`'s pinned key."""
        if not self.is_allowed(origin):
            raise PairingError("Ce site n'est pas autorisé à utiliser l'agent de signature.")
        assert origin is not None
        pairing = self.get(origin)
        if pairing is None:
            raise PairingError("Ce parapheur n'est pas appairé avec l'agent : appairez-le "
                               "d'abord depuis la page de signature.")
        try:
            key = Ed25519PublicKey.from_public_bytes(base64.b64decode(pairing.server_key))
            key.verify(base64.b64decode(signature.encode("ascii"), validate=True),
                       request_text.encode("utf-8"))
        except (InvalidSignature, ValueError, AttributeError, UnicodeEncodeError):
            raise PairingError("Cette demande de signature n'est pas signée par le parapheur "
                               "appairé : refusée.") from None
        return pairing
