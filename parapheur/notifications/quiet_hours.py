"""Droit à la déconnexion: when nothing may be sent, and when the next allowed window opens."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from parapheur.circuits.calendar import french_holidays

PARIS = "Europe/Paris"
_HOUR = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def parse_hour(value: str) -> time:
    """« HH:MM » as a time; ValueError with a French message otherwise."""
    match = _HOUR.match(value.strip())
    if not match:
        raise ValueError(f"heure invalide « {value} » : écrire HH:MM, par exemple 19:00")
    return time(int(match.group(1)), int(match.group(2)))


@dataclass(frozen=True)
class QuietHours:
    """A nightly quiet period (start → end, local time), plus weekends and public holidays."""

    start: time = time(19, 0)
    end: time = time(8, 0)
    weekends: bool = True
    holidays: bool = True
    timezone: str = PARIS

    @classmethod
    def parse(cls, value: str) -> QuietHours:
        """« 19:00-08:00 » (weekends and holidays stay quiet); ValueError otherwise."""
        start, sep, end = value.partition("-")
        if not sep:
            raise ValueError(f"plage invalide « {value} » : écrire début-fin, ex. 19:00-08:00")
        return cls(parse_hour(start), parse_hour(end))

    def override(self, *, start: str | None = None, end: str | None = None,
                 weekends: bool | None = None, holidays: bool | None = None) -> QuietHours:
        """These hours with the values a user or an organisation set (None: keep)."""
        return replace(self, start=parse_hour(start) if start else self.start,
                       end=parse_hour(end) if end else self.end,
                       weekends=self.weekends if weekends is None else weekends,
                       holidays=self.holidays if holidays is None else holidays)

    def describe(self) -> str:
        """In French, for the account page."""
        parts = []
        if self.start != self.end:
            parts.append(f"de {self.start:%H:%M} à {self.end:%H:%M}")
        if self.weekends:
            parts.append("le week-end")
        if self.holidays:
            parts.append("les jours fériés")
        return ", ".join(parts) if parts else "aucune"

    def _quiet_day(self, day: date) -> bool:
        return (self.weekends and day.weekday() >= 5) or \
            (self.holidays and day in french_holidays(day.year))

    def is_quiet(self, moment: datetime) -> bool:
        """True when nothing may be sent at `moment` (an aware datetime)."""
        local = moment.astimezone(ZoneInfo(self.timezone))
        if self._quiet_day(local.date()):
            return True
        now = local.time().replace(tzinfo=None)
        if self.start == self.end:
            return False
        if self.start > self.end:  # across midnight: 19:00 → 08:00
            return now >= self.start or now < self.end
        return self.start <= now < self.end

    def next_allowed(self, moment: datetime) -> datetime:
        """`moment` itself when allowed, else when the next allowed window opens."""
        if not self.is_quiet(moment):
            return moment
        zone = ZoneInfo(self.timezone)
        local_day = moment.astimezone(zone).date()
        # A window opens at the end of a nightly quiet period or at midnight after a quiet day.
        for offset in range(0, 800):
            day = local_day + timedelta(days=offset)
            for at in sorted({self.end, time(0)}):
                candidate = datetime.combine(day, at, zone)
                if candidate > moment and not self.is_quiet(candidate):
                    return candidate
        raise ValueError("aucune plage autorisée : les heures de déconnexion couvrent tout")

    def next_digest(self, moment: datetime, hour: int) -> datetime:
        """The next daily digest at `hour` (local) after `moment`, on a day that is not quiet;
        an hour inside the nightly quiet period moves to when that period ends."""
        zone = ZoneInfo(self.timezone)
        local_day = moment.astimezone(zone).date()
        for offset in range(0, 800):
            day = local_day + timedelta(days=offset)
            candidate = datetime.combine(day, time(hour, 0), zone)
            if candidate <= moment or self._quiet_day(day):
                continue
            return self.next_allowed(candidate)
        raise ValueError("aucun jour autorisé pour le résumé")
