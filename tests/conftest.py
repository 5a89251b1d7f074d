"""Fixtures shared by the whole suite.

Domain fixtures live beside their tests (tests/<domain>/conftest.py); the ones here are the few every
domain needs: access to ../shared, system tools, and the rule that CI never skips silently.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DIR = REPO_ROOT.parent / "shared"


def require_system_tool(name: str, package: str) -> str:
    """Return the path of a system tool, or skip (fail under PARAPHEUR_REQUIRE_SYSTEM_DEPS=1)."""
    path = shutil.which(name)
    if path:
        return path
    message = f"{name} is not installed (Debian package {package}; `make sysdeps` installs it)"
    if os.environ.get("PARAPHEUR_REQUIRE_SYSTEM_DEPS") == "1":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The ../shared folder (real samples and schemas); skips where absent, except in CI."""
    if SHARED_DIR.is_dir():
        return SHARED_DIR
    message = f"{SHARED_DIR} is absent: tests on real samples and schemas cannot run here"
    if os.environ.get("PARAPHEUR_REQUIRE_SHARED") == "1" or os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def pdfsig() -> str:
    """poppler's independent PDF signature checker."""
    return require_system_tool("pdfsig", "poppler-utils")
