"""The hash that links an audit event to its predecessor (pure: no database, usable offline)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

GENESIS_HASH = "0" * 64


def canonical_json(content: dict[str, Any]) -> bytes:
    """The canonical bytes of an event's content: sorted keys, no spaces, UTF-8."""
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain_hash(prev_hash: str, content: bytes) -> str:
    """sha256(prev_hash + "\\n" + canonical content): the link of one event to its predecessor."""
    return hashlib.sha256(prev_hash.encode("ascii") + b"\n" + content).hexdigest()
