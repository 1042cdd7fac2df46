"""Typed events and the small bus that carries them.

The room controller publishes; lights, the web pages and MQTT subscribe. Nothing here
knows about any subscriber, so the controller never calls web or MQTT code. Events
carry no personal data: counts and readiness only.

Delivery is synchronous in the publisher's thread (the lights must follow the button
within milliseconds), so subscribers must be quick: anything slow (network) hands the
event to its own queue. A subscriber that raises is logged and does not stop the others.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, ClassVar

log = logging.getLogger("kiosk.events")


def _now():
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Event:
    """Base of every event; ``at`` is when it happened (UTC)."""

    at: datetime = field(default_factory=_now, kw_only=True)
    #: Delivered only to subscribers that name this type (see :meth:`EventBus.subscribe`).
    named_only: ClassVar[bool] = False

    @property
    def kind(self) -> str:
        """The event's name on the wire, e.g. ``state_changed``."""
        return _KINDS[type(self)]


@dataclass(frozen=True)
class StateChanged(Event):
    """The room moved from one state to another."""

    old: str
    new: str
    reason: str


@dataclass(frozen=True)
class ButtonPressed(Event):
    """The start button was pressed (after debouncing)."""


@dataclass(frozen=True)
class ButtonHeld(Event):
    """The start button was held long enough to re-run the checks."""


@dataclass(frozen=True)
class ChecksStarted(Event):
    """A check cycle began."""

    trigger: str


@dataclass(frozen=True)
class ChecksFinished(Event):
    """A check cycle ended; ``cycle`` is a :class:`kiosk.checks.runner.Cycle`."""

    cycle: object


@dataclass(frozen=True)
class ReadinessChanged(Event):
    """The room became ready (recovery) or stopped being ready (alert)."""

    ready: bool
    failing: tuple[str, ...] = ()


@dataclass(frozen=True)
class ScheduleChanged(Event):
    """The start time in force changed; ``source`` is chair, command line or calendar.

    A running session keeps showing its own start: this one is the next countdown's.
    """

    start_at: datetime | None
    source: str | None


@dataclass(frozen=True)
class CountdownStarted(Event):
    """Staff confirmed readiness and the countdown to the start began."""

    start_at: datetime | None


@dataclass(frozen=True)
class SessionStarted(Event):
    """The conference started."""


@dataclass(frozen=True)
class SessionEnded(Event):
    """The conference ended."""


@dataclass(frozen=True)
class AttendanceChanged(Event):
    """Attendance counts changed (never names)."""

    in_person: int
    virtual: int
    quorate: bool


@dataclass(frozen=True)
class CalendarChanged(Event):
    """The calendar's health changed (times only: never a booking's text)."""

    stale: bool
    events_skipped: int


@dataclass(frozen=True)
class IdentifyRequested(Event):
    """Someone asked the room to blink its lights so it can be found."""

    seconds: float = 10.0


@dataclass(frozen=True)
class PinLockout(Event):
    """Wrong PINs locked the chair's sign-in: ``scope`` is ``device`` (one client) or ``all`` (every client).

    Never the PIN, the client's address or anything about the person.
    """

    scope: str
    wait_s: float


@dataclass(frozen=True)
class ClockStepped(Event):
    """The wall clock jumped by ``step_s`` seconds (negative: back) against the steady clock."""

    step_s: float


@dataclass(frozen=True)
class ConferenceEnded(Event):
    """The chair ended a conference (again, if it was reopened): its id only, never its record."""

    conference_id: int


@dataclass(frozen=True)
class ConferenceAmended(Event):
    """The record of an ended conference changed: a report received or a correction recorded after its end,
    its details (date, time, type, the dates D7 judges by) or an invitee's. Its id and month (``YYYY-MM``, the
    conference's date) only, never its record or names."""

    conference_id: int
    month: str


@dataclass(frozen=True)
class ConferencePurged(Event):
    """A conference's record was deleted (by the chair or at the end of retention): its id only."""

    conference_id: int


@dataclass(frozen=True)
class RoomRequest(Event):
    """Base of what the chair's record asks of the room; the composition root (:mod:`kiosk.service`)
    hands each to the room controller. Counts and times only."""


@dataclass(frozen=True)
class AttendanceCounted(RoomRequest):
    """The live conference's counts for the room (zeros once it is over); never names."""

    in_person: int
    virtual: int
    quorate: bool


@dataclass(frozen=True)
class StartTimeSet(RoomRequest):
    """The start time of today's conference saved on the chair's page (None: there is none any more)."""

    start_at: datetime | None


@dataclass(frozen=True)
class SessionEndRequested(RoomRequest):
    """The chair ended today's conference: the room's session ends."""


@dataclass(frozen=True)
class LoopTicked(Event):
    """The room's loop completed a pass of its timers (every :data:`kiosk.controller.TICK_S`): it is alive.

    systemd's watchdog is fed from it (:mod:`kiosk.sdnotify`); a hung or failing loop publishes none.
    Only subscribers that name it get it: four a second would drown those that take every event.
    """

    named_only: ClassVar[bool] = True


@dataclass(frozen=True)
class QualityChanged(Event):
    """The quality figures of a month changed (``month`` is ``YYYY-MM``); totals only (D16)."""

    month: str


_KINDS = {
    StateChanged: "state_changed",
    ButtonPressed: "button_pressed",
    ButtonHeld: "button_held",
    ChecksStarted: "check_started",
    ChecksFinished: "check_finished",
    ReadinessChanged: "ready_changed",
    ScheduleChanged: "schedule_changed",
    CountdownStarted: "countdown_started",
    SessionStarted: "session_started",
    SessionEnded: "session_ended",
    AttendanceChanged: "attendance_changed",
    IdentifyRequested: "identify",
    PinLockout: "pin_lockout",
    ClockStepped: "clock_step",
    ConferenceEnded: "conference_ended",
    ConferenceAmended: "conference_amended",
    QualityChanged: "quality_changed",
    ConferencePurged: "conference_purged",
    RoomRequest: "room_request",
    AttendanceCounted: "attendance_counted",
    StartTimeSet: "start_time_set",
    SessionEndRequested: "session_end_requested",
    CalendarChanged: "calendar_changed",
    LoopTicked: "loop_ticked",
}


class EventBus:
    """Publish events to subscribers, optionally filtered by event type."""

    def __init__(self):
        self._subscribers: list[tuple[Callable[[Event], None], tuple[type, ...]]] = []
        self._lock = threading.Lock()

    def subscribe(self, callback: Callable[[Event], None], *types: type) -> Callable[[], None]:
        """Call ``callback(event)`` for every event (or only those of ``types``). Returns an unsubscribe function.

        An event type with ``named_only`` (the loop's ticks) goes only to subscribers that name it in ``types``.
        """
        entry = (callback, types or (Event,))
        with self._lock:
            self._subscribers.append(entry)

        def unsubscribe():
            with self._lock:
                if entry in self._subscribers:
                    self._subscribers.remove(entry)

        return unsubscribe

    def publish(self, event: Event) -> None:
        """Deliver ``event`` to each interested subscriber, in subscription order."""
        with self._lock:
            subscribers = list(self._subscribers)
        for callback, types in subscribers:
            if type(event) in types if event.named_only else isinstance(event, types):
                try:
                    callback(event)
                except Exception:
                    log.exception("Subscriber %r failed on %s", callback, event.kind)
