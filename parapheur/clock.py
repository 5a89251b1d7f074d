"""The application's clock, injectable so that tests can freeze time."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import current_app


def now() -> datetime:
    """Current UTC time, or the app's CLOCK() when one is configured (tests)."""
    clock = current_app.config.get("CLOCK")
    return clock() if clock is not None else datetime.now(UTC)
