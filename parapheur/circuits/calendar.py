"""Business days for step deadlines: Monday to Friday, French public holidays excluded."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import lru_cache


def easter_sunday(year: int) -> date:
    """Gregorian Easter Sunday (anonymous Gregorian algorithm)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    l_ = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * l_) // 451
    month, day = divmod(h + l_ - 7 * m + 114, 31)
    return date(year, month, day + 1)


@lru_cache(maxsize=64)
def french_holidays(year: int) -> frozenset[date]:
    """The eleven national public holidays of metropolitan France in `year`."""
    easter = easter_sunday(year)
    return frozenset({
        date(year, 1, 1), date(year, 5, 1), date(year, 5, 8), date(year, 7, 14),
        date(year, 8, 15), date(year, 11, 1), date(year, 11, 11), date(year, 12, 25),
        easter + timedelta(days=1),   # lundi de Pâques
        easter + timedelta(days=39),  # Ascension
        easter + timedelta(days=50),  # lundi de Pentecôte
    })


def is_business_day(day: date) -> bool:
    """True on a weekday that is not a French public holiday."""
    return day.weekday() < 5 and day not in french_holidays(day.year)


def add_business_days(start: datetime, days: int) -> datetime:
    """The same time of day, `days` business days after `start`."""
    current = start
    remaining = days
    while remaining > 0:
        current += timedelta(days=1)
        if is_business_day(current.date()):
            remaining -= 1
    return current
