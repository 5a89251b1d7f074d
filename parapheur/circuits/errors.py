"""Circuit errors: one base, subclasses carrying what went wrong (problems, step, desk)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from parapheur.errors import N_, ParapheurError


@dataclass(frozen=True, order=True)
class Problem:
    """One defect in a circuit file, at a 1-based line and column."""

    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class CircuitError(ParapheurError):
    """Base of every circuit error (status 400, French message)."""

    status = 400


class CircuitDefinitionError(CircuitError):
    """A circuit, desk registry or typology file is invalid; `.problems` lists every defect."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems)
        first = self.problems[0] if self.problems else None
        if first is None:
            super().__init__(N_("%(count)s problème(s) dans la définition du circuit"),
                             count=len(self.problems))
        else:
            super().__init__(N_("%(count)s problème(s) dans la définition du circuit ; premier : "
                                "%(first)s"), count=len(self.problems), first=str(first))


class MetadataError(CircuitError):
    """The document's metadata do not match the fields the circuit declares."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__(N_("Métadonnées du document invalides : %(problems)s"),
                         problems=" ; ".join(self.problems))


class StepNotCurrent(CircuitError):
    """The step is no longer (or not yet) waiting for this action: "déjà traité"."""

    status = 409

    def __init__(self, message: str = N_("Cette étape a déjà été traitée (déjà traité)."), *,
                 step: str | None = None, current: str | None = None, **params: Any):
        super().__init__(message, step=step, current=current, **params)
        self.step = step
        self.current = current


class ActionNotAllowed(CircuitError):
    """This desk may not take this decision on this step (403), or the decision is malformed (400)."""

    def __init__(self, message: str, *, status: int = 400, step: str | None = None,
                 desk: str | None = None, **params: Any):
        super().__init__(message, status=status, step=step, desk=desk, **params)
        self.step = step
        self.desk = desk


class GuardError(CircuitError):
    """A guard expression could not be evaluated on the document's metadata."""
