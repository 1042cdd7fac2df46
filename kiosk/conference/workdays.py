"""Working days (D9), report deadlines (D8) and the child protection timescales (D7).

A working day is Monday to Friday and not a bank holiday in England and Wales (the
``holidays`` package, GB subdivision ENG, whose substitute days are included: Boxing Day
2026 falls on a Saturday, so Monday 28 December 2026 is the holiday).

Two ways of counting, kept apart on purpose:

- "N working days before" a conference follows D9 literally: the latest working day
  with N *whole* working days between it and the conference day (see
  :func:`working_days_before`). This is one working day earlier than counting back N.
- "within N working days of" a day (D5, D7) is :func:`add_working_days`: the Nth
  working day after it, the day itself not counted.

Nothing here reads the clock: ``today`` is always passed in.
"""

from __future__ import annotations

import calendar
import functools
from dataclasses import dataclass
from datetime import date, timedelta

import holidays

from kiosk.conference.model import Conference, ConferenceType
from kiosk.conference.settings import ConferenceSettings

#: D7 (Working Together): national timescales, not local settings.
ICPC_WITHIN_WORKING_DAYS = 15          # of the strategy discussion
CORE_GROUP_WITHIN_WORKING_DAYS = 10    # of the ICPC
FIRST_REVIEW_WITHIN_MONTHS = 3         # of the ICPC
REVIEW_INTERVAL_MONTHS = 6             # between reviews
#: D5: a new date for an initial conference that did not proceed.
RECONVENE_WITHIN_WORKING_DAYS = 10


@functools.lru_cache(maxsize=None)
def _bank_holiday_names(year: int) -> dict[date, str]:
    # One dict per year, never changed once made: safe to share between the web server's threads.
    return dict(holidays.country_holidays("GB", subdiv="ENG", years=year).items())


@functools.lru_cache(maxsize=None)
def _bank_holidays(year: int) -> frozenset[date]:
    return frozenset(_bank_holiday_names(year))


def non_working_reason(day: date) -> str | None:
    """Why ``day`` is not a working day ("a Saturday", "a bank holiday (Easter Monday)"), or None if it is one."""
    name = _bank_holiday_names(day.year).get(day)
    if name:
        return f"a bank holiday ({name})"
    if day.weekday() >= 5:
        return f"a {day.strftime('%A')}"
    return None


def last_working_day_on_or_before(day: date) -> date:
    """``day`` if it is a working day, else the last working day before it (D7: a due date on a holiday)."""
    while not is_working_day(day):
        day -= timedelta(days=1)
    return day


def is_working_day(day: date) -> bool:
    """True for Monday to Friday when it is not a bank holiday in England and Wales."""
    return day.weekday() < 5 and day not in _bank_holidays(day.year)


def add_working_days(day: date, n: int) -> date:
    """The ``n``-th working day after ``day`` (before it for negative ``n``); ``day`` itself for 0.

    ``day`` is not counted, whether or not it is a working day. Example: 15 working days
    after a strategy discussion on Wednesday 16 December 2026 is Monday 11 January 2027
    (Christmas Day, the Boxing Day substitute and New Year's Day are skipped).
    """
    step = 1 if n >= 0 else -1
    remaining = abs(n)
    while remaining:
        day += timedelta(days=step)
        if is_working_day(day):
            remaining -= 1
    return day


def working_days_between(first: date, second: date) -> int:
    """How many working days lie strictly between two days (0 when they are adjacent or equal)."""
    low, high = sorted((first, second))
    return sum(1 for k in range(1, (high - low).days) if is_working_day(low + timedelta(days=k)))


def working_days_before(day: date, n: int) -> date:
    """D9: the latest working day with ``n`` working days between it and ``day``.

    "Between" excludes both ends, so the result is the (n+1)-th working day before
    ``day``, one earlier than counting back ``n``. Example: for a conference on Friday
    13 November 2026, 2 working days before is Tuesday 10 November (Wednesday 11 and
    Thursday 12 lie between); over Christmas, for a conference on Wednesday 30 December
    2026 it is Wednesday 23 December (Tuesday 29 and Thursday 24 lie between; 25-28 are
    holidays and a weekend).
    """
    if n < 0:
        raise ValueError(f"n must be 0 or more, not {n}")
    return add_working_days(day, -(n + 1))


def report_due(conference: Conference, settings: ConferenceSettings = ConferenceSettings()) -> date:
    """D8: the last day for reports: 2 working days before an ICPC, 5 before an RCPC (by default)."""
    days = settings.report_days_initial if conference.type is ConferenceType.INITIAL else settings.report_days_review
    return working_days_before(conference.date, days)


def reconvene_by(conference: Conference) -> date | None:
    """D5: the latest date for an initial conference that did not proceed; None for reviews (no rule)."""
    if conference.type is not ConferenceType.INITIAL:
        return None
    return add_working_days(conference.date, RECONVENE_WITHIN_WORKING_DAYS)


def add_months(day: date, months: int) -> date:
    """The same day ``months`` calendar months later, or the month's last day (30 Nov + 3 months = 28/29 Feb)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


MET, MISSED, PENDING = "met", "missed", "pending"


@dataclass(frozen=True)
class Deadline:
    """One D7 timescale: ``due`` is the last allowed day; ``held`` when it happened, if it has."""

    name: str
    due: date
    status: str        # "met", "missed" or "pending"
    held: date | None = None

    @property
    def due_note(self) -> str | None:
        """When ``due`` is not a working day: says so, and names the last working day before it."""
        why = non_working_reason(self.due)
        if why is None:
            return None
        last = last_working_day_on_or_before(self.due)
        return (f"{self.due.strftime('%A %d %B %Y')} is {why}: the last working day before it is "
                f"{last.strftime('%A %d %B %Y')}")

    @property
    def warning(self) -> str | None:
        """A plain warning when the timescale was missed, else None."""
        if self.status != MISSED:
            return None
        when = f"held on {self.held.isoformat()}" if self.held else "not held yet"
        return f"Timescale missed: {self.name} was due by {self.due.isoformat()} ({when})"


def _deadline(name: str, due: date, held: date | None, today: date) -> Deadline:
    if held is not None:
        status = MET if held <= due else MISSED
    else:
        status = MISSED if today > due else PENDING
    return Deadline(name, due, status, held)


def timescales(strategy_date: date | None, icpc_date: date | None, *review_dates: date,
               core_group_date: date | None = None, today: date) -> list[Deadline]:
    """D7's deadlines for one child's plan, in order, each met, missed or pending on ``today``.

    - the ICPC within 15 working days of the strategy discussion (needs ``strategy_date``);
    - the first core group within 10 working days of the ICPC;
    - the first review (RCPC) within 3 months of the ICPC;
    - each later review within 6 months of the one before; the list ends with the next
      review not yet held.

    Deadlines that hang on a meeting not yet held are not listed. Warnings for missed
    ones are in :attr:`Deadline.warning` (see also :func:`deadline_warnings`).
    """
    out = []
    if strategy_date is not None:
        out.append(_deadline("the initial conference (within 15 working days of the strategy discussion)",
                             add_working_days(strategy_date, ICPC_WITHIN_WORKING_DAYS), icpc_date, today))
    if icpc_date is None:
        return out
    out.append(_deadline("the first core group (within 10 working days of the initial conference)",
                         add_working_days(icpc_date, CORE_GROUP_WITHIN_WORKING_DAYS), core_group_date, today))
    reviews = sorted(review_dates)
    out.append(_deadline("the first review conference (within 3 months of the initial conference)",
                         add_months(icpc_date, FIRST_REVIEW_WITHIN_MONTHS), reviews[0] if reviews else None, today))
    for number, previous in enumerate(reviews, start=2):
        held = reviews[number - 1] if number - 1 < len(reviews) else None
        out.append(_deadline(f"review conference {number} (within 6 months of the previous review)",
                             add_months(previous, REVIEW_INTERVAL_MONTHS), held, today))
    return out


def deadline_warnings(deadlines) -> list[str]:
    """The warnings of the missed deadlines, in order."""
    return [d.warning for d in deadlines if d.warning]
