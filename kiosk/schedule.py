"""Room bookings and the countdown to the conference start.

A start time comes from the chair, from the command line (``kiosk run --start HH:MM``)
or from the room's calendar (read by :mod:`kiosk.calendar_ics`, fetched by
:mod:`kiosk.calendar_watcher`). Only times are kept: booking titles, descriptions,
locations and attendees may name the family (DOMAIN D15).

:func:`next_start` picks the booking that matters now,
:func:`parse_hhmm` reads a start time typed by staff, and :func:`countdown` turns a
start time and an injected ``now`` into what the room display shows. Nothing here
reads the clock. Times are timezone-aware throughout.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kiosk.config import ScheduleConfig
from kiosk.errors import ConfigError

#: Where a start time came from.
SOURCES = ("chair", "command line", "calendar")
#: Countdown phases, in the order the room goes through them.
PHASES = ("free", "waiting", "joining", "started", "overrun")

FREE_MESSAGE = "No conference booked for the rest of today"

_SECOND = timedelta(seconds=1)
_MINUTE = timedelta(minutes=1)


def _is_aware(dt: datetime) -> bool:
    return dt.tzinfo is not None and dt.utcoffset() is not None


def _require_aware(dt: datetime, name: str) -> None:
    if not isinstance(dt, datetime) or not _is_aware(dt):
        raise ValueError(f"{name} must be a timezone-aware datetime, not {dt!r}")


def _utc(dt: datetime) -> datetime:
    # Python subtracts and compares two datetimes sharing one tzinfo by wall clock, which is
    # an hour out across a clock change: durations and order are worked out in UTC.
    return dt.astimezone(timezone.utc)


def zone(name: str) -> ZoneInfo:
    """The room's time zone, or a ConfigError naming ``[schedule] timezone``."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"unknown time zone {name!r} (e.g. \"Europe/London\")",
                          section="schedule", key="timezone") from None


@dataclass(frozen=True)
class Booking:
    """A booked conference: when it starts and, when known, when it ends.

    Deliberately times only: no title or attendees, which may carry personal data.
    ``source`` is one of :data:`SOURCES`.
    """

    start: datetime
    end: datetime | None = None
    source: str = field(kw_only=True)

    def __post_init__(self):
        _require_aware(self.start, "Booking.start")
        if self.end is not None:
            _require_aware(self.end, "Booking.end")
        if self.source not in SOURCES:
            raise ValueError(f"Booking.source must be one of {', '.join(SOURCES)}, not {self.source!r}")


def day_bounds(now: datetime) -> tuple[datetime, datetime]:
    """Midnight starting and midnight ending ``now``'s day, in ``now``'s timezone.

    The day is 23 or 25 hours long when the clocks change: midnights are wall-clock times.
    """
    _require_aware(now, "now")
    today = now.date()
    return (datetime.combine(today, time(0), tzinfo=now.tzinfo),
            datetime.combine(today + timedelta(days=1), time(0), tzinfo=now.tzinfo))


# --- Choosing the start time ---------------------------------------------------------


def next_start(bookings, now: datetime) -> Booking | None:
    """The booking that matters at ``now``, or None when the room is free for the rest of today.

    A booking in progress (started, not yet ended) wins over later ones; of several in
    progress, the one that started last. A booking with no end counts as in progress for
    the rest of the day it started. Otherwise the next booking starting later on ``now``'s
    day (in ``now``'s timezone); bookings on later days are not relevant.
    """
    _require_aware(now, "now")
    today = now.date()

    def local_day(dt):
        return dt.astimezone(now.tzinfo).date()

    instant = _utc(now)
    running = [b for b in bookings if _utc(b.start) <= instant
               and (instant < _utc(b.end) if b.end is not None else local_day(b.start) == today)]
    if running:
        return max(running, key=lambda b: _utc(b.start))
    upcoming = [b for b in bookings if _utc(b.start) > instant and local_day(b.start) == today]
    return min(upcoming, key=lambda b: _utc(b.start), default=None)


_HHMM = re.compile(r"(\d{1,2}):(\d{2})")


def parse_hhmm(text: str, now: datetime) -> datetime:
    """``HH:MM`` (24-hour) on ``now``'s day, in ``now``'s timezone.

    A time already past today is returned as it is: the countdown then shows the
    conference as started. Raises ValueError for anything that is not a valid time.
    """
    _require_aware(now, "now")
    match = _HHMM.fullmatch(text.strip()) if isinstance(text, str) else None
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise ValueError(f"{text!r} is not a start time: use HH:MM, 24-hour, e.g. 14:00")
    # combine() keeps the wall-clock time, so 09:00 stays 09:00 whatever the UTC offset.
    return datetime.combine(now.date(), time(int(match[1]), int(match[2])), tzinfo=now.tzinfo)


# --- Countdown -----------------------------------------------------------------------


@dataclass(frozen=True)
class CountdownView:
    """What the room display shows at one moment.

    ``phase`` is one of :data:`PHASES`; ``seconds_to_start`` is negative after the start
    and None when free; ``elapsed_s`` is set from the start on; ``label`` is the big text
    (empty when free); ``message`` is one calm plain line.
    """

    phase: str
    seconds_to_start: int | None
    elapsed_s: int | None
    label: str
    message: str


def _clock_text(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def _minutes(n: int) -> str:
    return "1 minute" if n == 1 else f"{n} minutes"


def countdown(now: datetime, start_at: datetime | None, cfg: ScheduleConfig,
              end_at: datetime | None = None) -> CountdownView:
    """The display's view of the countdown at ``now`` (injected, never read from the clock).

    Phases: ``free`` without a start time; ``waiting`` until ``cfg.joining_warning_min``
    before the start; ``joining`` from then (exactly at the boundary included) until the
    start, when attendees should be joining (DOMAIN D6); ``started`` from the start;
    ``overrun`` after ``end_at`` when the booking's end is known (and after the start),
    else after ``cfg.overrun_min`` minutes.

    Before the start the label counts down whole seconds rounded up (so ``00:00`` appears
    exactly at the start), as MM:SS or H:MM:SS; afterwards it shows the elapsed time
    rounded down, as +MM:SS or +H:MM:SS.
    """
    _require_aware(now, "now")
    if start_at is None:
        return CountdownView("free", None, None, "", FREE_MESSAGE)
    _require_aware(start_at, "start_at")
    if end_at is not None:
        _require_aware(end_at, "end_at")
    room_zone = zone(cfg.timezone)

    now, start_at = _utc(now), _utc(start_at)
    end_at = _utc(end_at) if end_at is not None else None
    ahead = start_at - now
    if ahead > timedelta(0):
        to_start = -(-ahead // _SECOND)  # ceiling division, exact on microseconds
        if ahead <= timedelta(minutes=cfg.joining_warning_min):
            return CountdownView("joining", to_start, None, _clock_text(to_start), "Attendees should be joining now")
        local = start_at.astimezone(room_zone)
        when = f"{local:%H:%M}"
        if local.date() != now.astimezone(room_zone).date():
            when += f" on {local:%A} {local.day} {local:%B}"
        return CountdownView("waiting", to_start, None, _clock_text(to_start), f"Conference starts at {when}")

    elapsed = (now - start_at) // _SECOND
    label = "+" + _clock_text(elapsed)
    booked = end_at is not None and end_at > start_at
    limit = end_at if booked else start_at + timedelta(minutes=cfg.overrun_min)
    if now <= limit:
        return CountdownView("started", -elapsed, elapsed, label, "Conference in progress")
    over = (now - limit) // _MINUTE
    against = "the booked time" if booked else "the expected length"
    message = f"Running {_minutes(over)} over {against}" if over else f"Running over {against}"
    return CountdownView("overrun", -elapsed, elapsed, label, message)
