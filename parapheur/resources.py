"""Where the shipped templates and circuits are: in the installed package, or in the checkout.

In the repository they stay at the top level (`templates/`, `workflows/`); a wheel maps them
into the package as `parapheur/templates/` and `parapheur/workflows/` (see setup.py), where
importlib.resources finds them. An editable install reads the checkout's.
"""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path

from parapheur.config import PROJECT_ROOT

SHIPPED = ("templates", "workflows")


@functools.cache
def shipped_dir(name: str) -> Path:
    """The directory of the shipped `templates` or `workflows` (where the code runs from: found
    once per process, not at each page that reads the circuits)."""
    if name not in SHIPPED:
        raise ValueError(f"not a shipped directory: {name!r}")
    packaged = Path(str(resources.files("parapheur"))) / name
    return packaged if packaged.is_dir() else PROJECT_ROOT / name
