"""How the agent talks to the official: confirmations and the PIN, never through the browser."""

from __future__ import annotations

import getpass
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TextIO

from parapheur.agent.pairing import Pairing


@dataclass(frozen=True)
class BatchSummary:
    """What the official is shown before her card signs."""

    server: str
    origin: str
    certificate: str
    titles: tuple[str, ...]

    def lines(self) -> list[str]:
        """The summary as printed on the terminal."""
        count = len(self.titles)
        head = [f"Le parapheur « {self.server} » ({self.origin}) demande la signature de "
                f"{count} document{'s' if count > 1 else ''} avec le certificat de "
                f"{self.certificate} :"]
        return head + [f"  {index}. {title}" for index, title in enumerate(self.titles, 1)]


class Interaction(Protocol):
    """The agent's questions to the official."""

    def confirm_pairing(self, pairing: Pairing) -> bool:
        """Accept pairing this agent with `pairing`'s server?"""

    def confirm_batch(self, summary: BatchSummary) -> int:
        """How many documents the official confirms signing (0: refused)."""

    def pin(self, summary: BatchSummary) -> str | None:
        """The card's PIN for this batch (None: cancelled)."""


class TerminalInteraction:
    """Questions on the agent's terminal; the PIN is read without echo."""

    def __init__(self, out: TextIO = sys.stderr, inp: TextIO = sys.stdin) -> None:
        self.out = out
        self.inp = inp

    def _ask(self, question: str) -> str:
        self.out.write(question)
        self.out.flush()
        return self.inp.readline().strip()

    def confirm_pairing(self, pairing: Pairing) -> bool:
        """Show the server and its key fingerprint, ask yes/no."""
        self.out.write(f"\nAppairage demandé par « {pairing.server} » ({pairing.origin}),\n"
                       f"empreinte de sa clé : {pairing.fingerprint}\n")
        return self._ask("Accepter cet appairage ? [o/N] ").lower() in ("o", "oui", "y", "yes")

    def confirm_batch(self, summary: BatchSummary) -> int:
        """Show the documents; the official types how many she signs."""
        self.out.write("\n" + "\n".join(summary.lines()) + "\n")
        answer = self._ask(f"Tapez {len(summary.titles)} pour signer ces documents, ou Entrée "
                           f"pour refuser : ")
        return int(answer) if answer.isdigit() else 0

    def pin(self, summary: BatchSummary) -> str | None:
        """The PIN, typed without echo."""
        try:
            return getpass.getpass("Code PIN de la carte : ", stream=self.out) or None
        except (EOFError, KeyboardInterrupt):
            return None


class AutomationInteraction:
    """For automation and tests only: accepts what is shown and reads the PIN from a file.

    Every summary is still printed (to `out`); the PIN file is read afresh for each batch and
    its first line used. Never use it on an official's computer: nobody confirms anything.
    """

    def __init__(self, pin_file: Path, out: TextIO = sys.stderr) -> None:
        self.pin_file = Path(pin_file)
        self.out = out

    def confirm_pairing(self, pairing: Pairing) -> bool:
        """Accept (printed)."""
        self.out.write(f"appairage accepté (automatisation) : {pairing.origin} "
                       f"{pairing.fingerprint}\n")
        return True

    def confirm_batch(self, summary: BatchSummary) -> int:
        """Accept every document shown (printed)."""
        self.out.write("\n".join(summary.lines()) + "\n")
        self.out.flush()
        return len(summary.titles)

    def pin(self, summary: BatchSummary) -> str | None:
        """The first line of the PIN file (each reading is printed, so tests can count them)."""
        self.out.write("code PIN lu (automatisation)\n")
        self.out.flush()
        try:
            lines = self.pin_file.read_text(encoding="utf-8").splitlines()
        except OSError:
            return None
        return lines[0] if lines else None
