"""Droit à la déconnexion: quiet hours, weekends, French public holidays, the next window."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from parapheur.notifications.quiet_hours import QuietHours

PARIS = ZoneInfo("Europe/Paris")
DEFAULT = QuietHours()


def paris(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS)


@pytest.mark.parametrize("moment,quiet", [
    (paris(2026, 11, 27, 18, 59), False),  # Friday before 19:00
    (paris(2026, 11, 27, 19, 0), True),
    (paris(2026, 11, 28, 12, 0), True),  # Saturday
    (paris(2026, 11, 30, 7, 59), True),  # Monday before 08:00
    (paris(2026, 11, 30, 8, 0), False),
    (paris(2026, 12, 25, 10, 0), True),  # Noël, a Friday
    (paris(2027, 3, 29, 10, 0), True),  # lundi de Pâques 2027
])
def test_default_quiet_hours(moment, quiet):
    assert DEFAULT.is_quiet(moment) is quiet


def test_friday_evening_waits_for_monday_morning():
    assert DEFAULT.next_allowed(paris(2026, 11, 27, 20, 30)) == paris(2026, 11, 30, 8, 0)


def test_a_holiday_monday_pushes_to_tuesday():
    # Lundi de Pentecôte 2027 is 17 May.
    assert DEFAULT.next_allowed(paris(2027, 5, 14, 21, 0)) == paris(2027, 5, 18, 8, 0)


def test_allowed_moment_is_itself():
    moment = paris(2026, 12, 1, 10, 15)
    assert DEFAULT.next_allowed(moment) == moment


def test_daylight_saving_change_keeps_paris_hours():
    # Night of 28 March 2027: clocks go forward; Monday 29 is lundi de Pâques, so Tuesday.
    opened = DEFAULT.next_allowed(datetime(2027, 3, 26, 19, 30, tzinfo=UTC))
    assert opened == paris(2027, 3, 30, 8, 0) and opened.utcoffset().total_seconds() == 7200


def test_user_overrides_and_no_nightly_quiet():
    night_owl = DEFAULT.override(start="23:00", end="06:00", weekends=False)
    assert not night_owl.is_quiet(paris(2026, 11, 28, 22, 0))  # a Saturday evening
    assert night_owl.next_allowed(paris(2026, 11, 28, 23, 30)) == paris(2026, 11, 29, 6, 0)
    never = DEFAULT.override(start="00:00", end="00:00", weekends=False, holidays=False)
    assert not never.is_quiet(paris(2026, 12, 25, 3, 0))
    assert never.describe() == "aucune"


def test_daily_digest_is_moved_out_of_quiet_hours():
    assert DEFAULT.next_digest(paris(2026, 12, 1, 9, 0), 7) == paris(2026, 12, 2, 8, 0)
    assert DEFAULT.next_digest(paris(2026, 12, 1, 9, 0), 17) == paris(2026, 12, 1, 17, 0)
    assert DEFAULT.next_digest(paris(2026, 11, 27, 18, 0), 17) == paris(2026, 11, 30, 17, 0)


@pytest.mark.parametrize("text", ["19h-08h", "19:00", "25:00-08:00", "19:00-8"])
def test_bad_ranges_are_refused(text):
    with pytest.raises(ValueError):
        QuietHours.parse(text)


def test_parse():
    assert QuietHours.parse("18:30-07:45") == QuietHours(time(18, 30), time(7, 45))
