"""The time a new event of a conference is dated at, when the wall clock may have stepped back.

An event is never dated before the previous event of its conference: after a step back
(NTP correcting a Pi, someone setting the date) the kiosk's clock may read earlier than
events already recorded, and an arrival dated before them would make the record say
someone left before they arrived. The new event then takes the latest time already in
the record, and the record notes how far behind the clock was (``clock_behind_s`` in the
event's details), so a reader sees why several events share a time. Events of a
conference are ordered by that time and then by their sequence number (the id).
"""

from __future__ import annotations

from datetime import datetime
from typing import Iterable

#: The detail key noting how many seconds the clock was behind the record.
CLOCK_BEHIND = "clock_behind_s"


def latest_time(events: Iterable) -> datetime | None:
    """The latest time already in a conference's record (an event's time or when it was saved)."""
    times = [t for e in events for t in (e.at, e.recorded_at) if t is not None]
    return max(times) if times else None


def date_new_event(now: datetime, events: Iterable) -> tuple[datetime, float | None]:
    """``(when, behind_s)``: ``now``, or the record's latest time when the clock reads earlier than it
    (``behind_s`` is then how many seconds earlier; None when the clock was not behind)."""
    latest = latest_time(events)
    if latest is None or now >= latest:
        return now, None
    return latest, round((latest - now).total_seconds(), 3)
