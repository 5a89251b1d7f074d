"""Dates as the collectivité reads them: Paris time, French style, days counted inclusively."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")


def format_datetime(value: datetime | None, with_seconds: bool = False) -> str:
    """A UTC datetime as Paris local time, French style (documents and mails made outside a
    request: bordereaux, journals; pages use the reader's locale, see parapheur.i18n)."""
    if value is None:
        return "—"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(PARIS).strftime("%d/%m/%Y %H:%M:%S" if with_seconds else "%d/%m/%Y %H:%M")


def paris_day_start(day: date) -> datetime:
    """Midnight (Paris time) at the start of `day`, as an aware datetime."""
    return datetime.combine(day, time(0, 0), tzinfo=PARIS)


def days_period(first_day: date, last_day: date) -> tuple[datetime, datetime]:
    """[start, end) of the days `first_day` to `last_day`, both included, in Paris time.

    The end is midnight (Paris) after `last_day`, so a period given as « du 1er au 15 » covers the
    whole of the 15th, whatever the daylight-saving change in between.
    """
    return paris_day_start(first_day), paris_day_start(last_day + timedelta(days=1))
