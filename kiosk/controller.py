"""The room controller: turns button presses, timers and check results into room states.

It owns the state machine, the check runner, the lights and the button, and keeps the
room's *public* state (no personal data) that the display page, MQTT and Prometheus
read. It never calls web or MQTT code: they subscribe to :attr:`RoomController.bus`
or read :meth:`RoomController.public_state`.

Threading model and locks (the one place they are written down for the room)
----------------------------------------------------------------------------
One thread, ``room-loop``, owns the room's state: the state machine, the start times and
bookings, attendance, the last check cycle, the timers. Every input is a message in its
inbox (a :class:`queue.SimpleQueue`): :meth:`~RoomController.press`,
:meth:`~RoomController.hold`, :meth:`~RoomController.request_check`,
:meth:`~RoomController.end_session`, :meth:`~RoomController.set_start`,
:meth:`~RoomController.set_attendance`, :meth:`~RoomController.set_bookings`,
:meth:`~RoomController.identify`, the check worker's "cycle done" (or "cycle failed"), and
:meth:`~RoomController.tick`. A public method posts its message and waits until the loop
has handled it, so callers see the change when it returns (as if it were a plain call).
The loop wakes at once for a message and otherwise every :data:`TICK_S` for the timers.

After each message or tick the loop builds a :class:`RoomSnapshot` (frozen) and swaps it
in with one assignment. Readers (:meth:`~RoomController.public_state`, ``version``,
``ready``, ``last_cycle``, ``start_at()``...: the web pages and long-polls, MQTT,
``/metrics``, sd_notify) read the current snapshot and take no lock. Then, in this order,
the loop publishes the message's events on the :class:`~kiosk.events.EventBus` (the one
way to be told of a change, and of the loop's ticks: ``LoopTicked``), sets the lights,
wakes long-polls and hands a cycle it began to the check worker, so a subscriber that
reads the snapshot sees the state its event reports.

Threads:

- ``room-loop``: handles messages and ticks. Under the turn it does no I/O at all;
  after it, it sets the status light's GPIO outputs, writes the transition's log line, wakes
  paho's network thread (one byte on its socket pair) and (a ``LoopTicked`` subscriber)
  sends systemd's watchdog datagram, all non-blocking.
- ``room-checks``: runs each cycle the loop began (the loop marks the room checking and
  announces it: one cycle at a time, a request during one is queued and begun when it
  ends), with camera and microphone captures on the runner's own threads, and sends the
  result back to the loop.
- ``room-display``: reads the display's connectors (sysfs status, EDID) every
  :data:`TICK_S` and asks for a re-check when they change (hot-plug).
- ``calendar-watcher`` (with ``[schedule] ics``, started by the composition root,
  :mod:`kiosk.service`): :class:`~kiosk.calendar_watcher.CalendarWatcher` fetches and parses
  the calendar (in a child process) and sends the bookings with :meth:`~RoomController.set_bookings`.
- Callers: the button's pin thread, web request threads, paho's network thread (IT's MQTT requests), the
  chair's service. They only post messages and wait for them.

Locks (none is held across file, device or network I/O, and neither is taken while
holding the other):

- ``_lock`` ("the turn", an RLock): held while a message or tick is handled; it guards
  every mutable field of the controller. In a running kiosk only the loop takes it. When
  the loop is not running (a controller not started, or stopped) the caller handles its
  own message under it, so concurrent callers still take turns.
- ``_changed`` (a Condition): long-polls wait on it for the snapshot's revision to pass
  theirs; the loop notifies it after each swap. It guards nothing else.

Other locks the loop meets, each taken alone and briefly, never while holding the turn:
:class:`~kiosk.events.EventBus`'s (its subscriber list, copied before delivery),
:class:`~kiosk.lights.Lights`'s condition (the pattern, and the LED outputs it sets), the MQTT
link's ``_notes`` lock (what it has to publish; see :mod:`kiosk.mqtt.link`) and
:class:`~kiosk.sdnotify.Notifier`'s (its socket's opening and closing). So there is no lock order
to keep: no thread holds two of them at once.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable
from zoneinfo import ZoneInfo

from kiosk import __version__, schedule
from kiosk.checks.result import Status
from kiosk.checks.runner import CheckRunner, Cycle, build_specs
from kiosk.events import (AttendanceChanged, ButtonHeld, ButtonPressed, CalendarChanged, ChecksFinished,
                          ChecksStarted, CountdownStarted, EventBus, IdentifyRequested, LoopTicked, ReadinessChanged,
                          ScheduleChanged, SessionEnded, SessionStarted, StateChanged)
from kiosk.lights import PATTERNS
from kiosk.room import RoomMachine, State, Trigger

log = logging.getLogger("kiosk.controller")

#: Where a start time may come from, strongest first.
START_SOURCES = ("chair", "command line", "calendar")
#: The loop's timer period (countdown, auto-end, periodic checks, the calendar's next booking) and the
#: display watcher's.
TICK_S = 0.25
#: The display's connectors could not be read (driver gone): a signature of its own.
_UNREADABLE = None


def _colour_hex(colour) -> str:
    return "#" + "".join(f"{round(c * 255):02x}" for c in colour)


@dataclass(frozen=True)
class RoomSnapshot:
    """The room as the loop last left it; swapped whole, never changed.

    ``public`` is what :meth:`RoomController.public_state` returns (a copy of it); the
    other fields are the same facts for readers in this process.
    """

    revision: int
    state: State
    ready: bool
    checking: bool
    cycle: Cycle | None
    start_at: datetime | None
    start_source: str | None
    countdown: schedule.CountdownView
    light_pattern: str
    calendar_health: Any
    public: dict


class _Message:
    """A call for the loop to make, and its outcome for the caller waiting on ``done``."""

    __slots__ = ("handler", "args", "done", "result", "error")

    def __init__(self, handler, args, wait: bool = True):
        self.handler, self.args = handler, args
        self.done = threading.Event() if wait else None  # None: nobody waits, errors are logged
        self.result = self.error = None


class _Outbox:
    """What the state machine publishes to: the controller collects events until the snapshot is swapped."""

    def __init__(self, emit: Callable):
        self.publish = emit


class RoomController:
    """Runs one room. Call :meth:`start`, then :meth:`stop` (or use it as a context manager).

    ``lights`` and ``button`` are optional so that the controller also runs (and is
    tested) without pins; ``now`` is injectable for tests of the countdown.
    """

    def __init__(self, cfg, hardware, *, lights=None, pin_factory=None, with_button=True,
                 start_override: datetime | None = None, now: Callable[[], datetime] | None = None):
        self.cfg = cfg
        self.hardware = hardware
        self.tz = ZoneInfo(cfg.schedule.timezone)
        self._now = now or (lambda: datetime.now(self.tz))
        self.bus = EventBus()
        self._pending: list = []  # events of the message being handled, published after the swap
        self.machine = RoomMachine(_Outbox(self._emit))
        self.runner = CheckRunner(build_specs(cfg, hardware), cfg.checks.timeout_s)
        self.lights = lights
        self.button = None
        if with_button and pin_factory is not None:
            from kiosk.button import StartButton

            # The pin's thread only posts: it never waits for the loop (nor holds up the next edge).
            self.button = StartButton(cfg.button, lambda: self._post(self._on_press),
                                      lambda: self._post(self._on_hold), pin_factory=pin_factory)
        self.started_monotonic = time.monotonic()

        self._lock = threading.RLock()
        self._changed = threading.Condition()
        self._inbox: queue.SimpleQueue = queue.SimpleQueue()
        self._loop_thread: threading.Thread | None = None
        self._check_thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()  # the check worker's: a cycle to run, None to stop
        self._job: int | None = None  # set by a handler: a cycle began, handed to the worker after the announcement

        # The loop's state (guarded by the turn, _lock).
        self._cycle: Cycle | None = None
        self._checks_view: dict = {}
        self._ready = False
        self._checking = False
        self._check_queued: str | None = None  # the trigger of a cycle wanted and not yet begun
        self._entered_checking = 0  # how many times the room has entered the checking state
        self._starts: dict[str, datetime | None] = {s: None for s in START_SOURCES}
        self._starts["command line"] = start_override
        #: The calendar watcher's latest bookings (today and tomorrow) and health; see set_bookings.
        self._bookings: tuple = ()
        self._calendar_health: dict | None = None
        self._booking_end: datetime | None = None
        #: time.monotonic() at the start of the session: auto-end counts real time, so NTP stepping
        #: the wall clock (a Pi has no real-time clock) cannot end a conference early.
        self._session_started_mono: float | None = None
        #: The start (and its source) the running session counts from, as it was when the session began
        #: (None, None for a session begun without one). A start set during the session is the next one's.
        self._session_start: tuple[datetime | None, str | None] | None = None
        #: When the running session began, by the wall clock: what a session without a start counts from.
        self._session_began_at: datetime | None = None
        self._ended_at: float | None = None
        self._next_periodic = time.monotonic() + cfg.checks.interval_s if cfg.checks.interval_s else None
        self._identify_until = 0.0
        self._attendance: dict | None = None
        self._snapshot = RoomSnapshot(0, State.IDLE, False, False, None, None, None,
                                      schedule.countdown(self._now(), None, cfg.schedule), "off", None, {})
        self._call(lambda: None)  # the first snapshot

    # -- messages: how other threads reach the loop -------------------------------------

    def _call(self, handler: Callable, *args):
        """Have the loop run ``handler(*args)`` and return its result (or raise its error).

        On the loop itself, or when the loop is not running, the caller runs it under the turn.
        """
        loop = self._loop_thread
        if loop is None or threading.current_thread() is loop or not loop.is_alive():
            return self._run(handler, args)
        message = _Message(handler, args)
        self._inbox.put(message)
        while not message.done.wait(0.5):
            if not loop.is_alive():  # stopped with the message still queued: handle it here
                self._drain()
        if message.error is not None:
            raise message.error
        return message.result

    def _post(self, handler: Callable, *args) -> None:
        """Have the loop run ``handler(*args)`` without waiting for it (errors are logged)."""
        loop = self._loop_thread
        if loop is None or threading.current_thread() is loop or not loop.is_alive():
            self._run(handler, args)
        else:
            self._inbox.put(_Message(handler, args, wait=False))

    def _run(self, handler: Callable, args) -> Any:
        """Run one handler under the turn, then swap the snapshot and tell everyone."""
        try:
            with self._lock:
                try:
                    return handler(*args)
                finally:
                    events, swapped = self._commit()
                    job, self._job = self._job, None
        finally:
            self._announce(events, swapped, job)

    def _handle(self, message: _Message) -> None:
        try:
            message.result = self._run(message.handler, message.args)
        except Exception as exc:  # handed to the caller, who raises it
            if message.done is None:
                log.exception("Handling %s failed", getattr(message.handler, "__name__", "a message"))
            message.error = exc
        finally:
            if message.done is not None:
                message.done.set()

    def _drain(self) -> None:
        while True:
            try:
                message = self._inbox.get_nowait()
            except queue.Empty:
                return
            if message is not None:
                self._handle(message)

    def _emit(self, event) -> None:
        """Record an event of the message being handled (published after the snapshot swap)."""
        if isinstance(event, StateChanged) and event.new == State.CHECKING.value:
            self._entered_checking += 1
        self._pending.append(event)

    # -- inputs -------------------------------------------------------------------------

    def press(self) -> None:
        """A short press of the start button (or the simulator's)."""
        self._call(self._on_press)

    def hold(self) -> None:
        """A long hold: re-run the checks from any state."""
        self._call(self._on_hold)

    def request_check(self, trigger: str = "request") -> None:
        """Ask for a check cycle soon (one runs at a time; a request during one queues one more)."""
        self._call(self._want_check, trigger)

    def end_session(self) -> None:
        """End the conference (from the chair's page)."""
        self._call(self._on_end_session)

    def set_start(self, start_at: datetime | None, source: str = "chair") -> None:
        """Set (or clear, with None) the start time given by ``source`` (see :data:`START_SOURCES`).

        A running session keeps counting from its own start (the one in force when it began, if any):
        a start set during it is the next conference's, shown once the session ends.
        """
        if source not in START_SOURCES:
            raise ValueError(f"unknown start time source {source!r}")
        self._call(self._set_start, start_at.astimezone(self.tz) if start_at else None, source)

    def set_attendance(self, in_person: int, virtual: int, quorate: bool) -> None:
        """Counts from the chair's page; never names."""
        self._call(self._on_attendance, {"in_person": int(in_person), "virtual": int(virtual),
                                         "quorate": bool(quorate)})

    def set_bookings(self, bookings, health: dict | None = None) -> None:
        """The calendar watcher's bookings (a window covering today and tomorrow) and the calendar's health.

        No I/O and no parsing here (:mod:`kiosk.calendar_watcher` does both on its own thread):
        the loop keeps the bookings and chooses the calendar's start time from them, again at
        every tick, so the day moving on at midnight needs no new reading.
        """
        self._call(self._on_bookings, tuple(bookings), dict(health) if health is not None else None)

    def identify(self, seconds: float = 10.0) -> None:
        """Flash the lights so IT or staff can find this room's kiosk."""
        self._call(self._on_identify, float(seconds))

    def tick(self) -> None:
        """One pass of the timers: countdown, auto-end, the ended pause, periodic checks, the calendar."""
        self._call(self._on_tick)

    def _apply_cycle(self, cycle: Cycle, entered: int | None = None) -> None:
        """Take a cycle's results; ``entered`` is the checking count when the cycle began."""
        self._call(self._on_cycle, cycle, entered)

    # -- handlers: run on the loop, under the turn ----------------------------------------

    def _on_press(self) -> None:
        self._emit(ButtonPressed())
        state = self.machine.state
        new = self.machine.fire(Trigger.PRESS, start_pending=self._start_pending())
        if new is None:
            log.info("Button press ignored while %s", state.value)
        elif new is State.CHECKING:
            self._want_check("button")
        elif new is State.COUNTDOWN:
            self._emit(CountdownStarted(self._start_at()))
        elif new is State.IN_SESSION:
            self._begin_session()
        elif new is State.ENDED:
            self._end_session()

    def _on_hold(self) -> None:
        self._emit(ButtonHeld())
        if self.machine.state is State.IN_SESSION:
            self._end_session()
        self.machine.fire(Trigger.HOLD)
        self._want_check("button hold")

    def _want_check(self, trigger: str) -> None:
        self._check_queued = trigger  # the latest reason is the one reported
        self._begin_queued()

    def _begin_queued(self) -> None:
        """Begin the wanted cycle if none is running and the worker is there to run it (one at a time)."""
        if self._checking or self._check_queued is None or not self._worker_running():
            return
        self._checking = True
        self._emit(ChecksStarted(self._check_queued))
        self._check_queued = None
        self._job = self._entered_checking  # the worker gets it after the announcement

    def _worker_running(self) -> bool:
        worker = self._check_thread
        return worker is not None and worker.is_alive() and not self._stop.is_set()

    def _on_end_session(self) -> None:
        if self.machine.fire(Trigger.END, reason="ended by the chair"):
            self._end_session()

    def _set_start(self, start_at: datetime | None, source: str) -> None:
        self._starts[source] = start_at
        self._emit(ScheduleChanged(self._start_at(), self._start_source()))

    def _on_attendance(self, counts: dict) -> None:
        if counts != self._attendance:
            self._attendance = counts
            self._emit(AttendanceChanged(**counts))

    def _on_identify(self, seconds: float) -> None:
        self._identify_until = time.monotonic() + seconds
        self._emit(IdentifyRequested(seconds=seconds))

    def _on_bookings(self, bookings: tuple, health: dict | None) -> None:
        self._bookings = bookings
        if health != self._calendar_health:
            self._calendar_health = health
            if health is not None:
                self._emit(CalendarChanged(bool(health.get("stale")), int(health.get("events_skipped", 0))))
        self._choose_calendar_start(self._now())

    def _checks_abandoned(self) -> None:
        self._checking = False
        self._begin_queued()

    def _on_cycle(self, cycle: Cycle, entered: int | None) -> None:
        self._checking = False
        was_ready, had_cycle = self._ready, self._cycle is not None
        self._cycle, self._ready = cycle, cycle.ready
        self._checks_view = {n: r.to_dict(with_metrics=False) for n, r in cycle.results.items()}
        self._emit(ChecksFinished(cycle))
        if had_cycle and was_ready != cycle.ready or not had_cycle and not cycle.ready:
            failing = tuple(n for n, r in cycle.results.items() if r.status is Status.FAIL)
            self._emit(ReadinessChanged(cycle.ready, failing))
        # The button put the room (back) into checking during this cycle (a hold): the cycle
        # it queued decides. Other queued re-checks (periodic, hot-plug, MQTT) do not hold the
        # room in checking: they could keep coming for ever.
        held = (self._check_queued is not None and self.machine.state is State.CHECKING
                and entered is not None and entered != self._entered_checking)
        if not held:
            self.machine.fire(Trigger.CHECKS_PASSED if cycle.ready else Trigger.CHECKS_FAILED)
            if self.cfg.checks.interval_s:
                self._next_periodic = time.monotonic() + self.cfg.checks.interval_s
        self._begin_queued()

    def _on_tick(self) -> None:
        now, mono = self._now(), time.monotonic()
        state = self.machine.state
        if state is State.COUNTDOWN:
            start = self._start_at()
            if (start is None or now >= start) and self.machine.fire(Trigger.START_TIME):
                self._begin_session()
        elif state is State.IN_SESSION and self._session_started_mono is not None:
            if mono - self._session_started_mono >= self.cfg.schedule.auto_end_min * 60:
                if self.machine.fire(Trigger.END, reason="conference ended automatically (time limit)"):
                    self._end_session()
        elif state is State.ENDED and self._ended_at is not None:
            if mono - self._ended_at >= self.cfg.schedule.ended_s:
                self.machine.fire(Trigger.RESET)
        if self._next_periodic is not None and mono >= self._next_periodic:
            self._next_periodic = mono + self.cfg.checks.interval_s
            self._want_check("periodic")
        self._choose_calendar_start(now)

    # -- schedule ---------------------------------------------------------------------

    def _start_source(self) -> str | None:
        return next((s for s in START_SOURCES if self._starts[s] is not None), None)

    def _start_at(self) -> datetime | None:
        source = self._start_source()
        return self._starts[source] if source else None

    def _start_pending(self) -> bool:
        start = self._start_at()
        return start is not None and self._now() < start

    def _choose_calendar_start(self, now: datetime) -> None:
        """Which booking matters now (the watcher's window is small: today and tomorrow)."""
        booking = schedule.next_start(self._bookings, now)
        self._booking_end = booking.end if booking else None
        start = booking.start if booking else None
        if start != self._starts["calendar"]:
            self._set_start(start, "calendar")

    def _shown_start(self) -> tuple[datetime | None, str | None]:
        """The start readers see: the running session's own, else the one in force."""
        if self._session_start is not None:
            return self._session_start
        return self._start_at(), self._start_source()

    def _begin_session(self) -> None:
        self._session_started_mono = time.monotonic()
        self._session_began_at = self._now()
        self._session_start = (self._start_at(), self._start_source())
        self._emit(SessionStarted())

    def _end_session(self) -> None:
        shown, in_session = self._shown_start(), self._session_start is not None
        self._session_started_mono = None
        self._session_began_at = None
        self._session_start = None
        self._ended_at = time.monotonic()
        # A start time that has been used is done with: the calendar's next booking takes over. One still
        # ahead at the end of a session was set during it, for the next conference: it stays.
        now = self._now()
        for source in ("chair", "command line"):
            start = self._starts[source]
            if start is not None and not (in_session and start > now):
                self._starts[source] = None
        if (self._start_at(), self._start_source()) != shown:  # first: the chair's record re-announces on the end
            self._emit(ScheduleChanged(self._start_at(), self._start_source()))
        self._emit(SessionEnded())

    # -- the snapshot -------------------------------------------------------------------

    def _countdown(self, now: datetime, start: datetime | None) -> schedule.CountdownView:
        if self.machine.state is State.IN_SESSION:
            # A session begun without a start time counts from the moment it began (the room's
            # public start_at stays None: no one gave one).
            start = start if start is not None else self._session_began_at
            # Once the session has begun it never counts down again: if the wall clock is stepped
            # back before the start (NTP), the view stays at the start (elapsed 0, not negative).
            if start is not None and now < start:
                now = start
        return schedule.countdown(now, start, self.cfg.schedule, end_at=self._booking_end)

    def _light_pattern(self, cd: schedule.CountdownView) -> str:
        if time.monotonic() < self._identify_until:
            return "identify"
        state = self.machine.state
        if state is State.IDLE:
            return "off"
        if state is State.COUNTDOWN:
            return "joining" if cd.phase == "joining" else "countdown"
        if state is State.IN_SESSION:
            return "in_session" if self._ready else "session_fault"
        return state.value

    def _commit(self) -> tuple[list, bool]:
        """Build the snapshot; swap it in if anything changed. Returns the pending events and whether it swapped."""
        events, self._pending = self._pending, []
        old = self._snapshot
        start, source = self._shown_start()
        cd = self._countdown(self._now(), start)
        pattern = self._light_pattern(cd)
        cycle = self._cycle
        public = {
            "room": self.cfg.room.id,
            "name": self.cfg.room.name,
            "state": self.machine.state.value,
            "ready": self._ready,
            "checks": self._checks_view,
            "start_at": start.isoformat(timespec="seconds") if start else None,
            "start_source": source,
            "seconds_to_start": cd.seconds_to_start,
            "countdown": {"phase": cd.phase, "label": cd.label, "message": cd.message},
            "lights": {"pattern": pattern, "colour": _colour_hex(PATTERNS[pattern].colour)},
            "checked_at": cycle.checked_at.isoformat(timespec="seconds") if cycle else None,
            "attendance": dict(self._attendance) if self._attendance else None,
            "calendar": dict(self._calendar_health) if self._calendar_health else None,
            "version": __version__,
            "revision": old.revision,
        }
        if not events and public == old.public and self._checking == old.checking:
            return events, False
        # A new revision for anything a reader would see, except the seconds ticking by alone
        # (the countdown's label moves with them when it shows seconds).
        moved = events or {**public, "seconds_to_start": None} != {**old.public, "seconds_to_start": None}
        revision = old.revision + 1 if moved else old.revision
        public["revision"] = revision
        self._snapshot = RoomSnapshot(revision, self.machine.state, self._ready, self._checking, cycle, start,
                                      source, cd, pattern, self._calendar_health, public)
        return events, True

    def _announce(self, events: list, swapped: bool, job: int | None = None) -> None:
        """After a swap, outside the turn: the bus, the lights, long-polls, the check worker, then the log.

        The bus first: its subscribers only note the event and wake their own threads
        (MQTT), which then run as soon as the loop waits again. The check worker last: its
        cycle is long and can start a moment later, after the state has gone out.
        """
        for event in events:
            self.bus.publish(event)
        if swapped:
            if self.lights is not None:
                self.lights.show(self._snapshot.light_pattern)
            with self._changed:
                self._changed.notify_all()
        if job is not None:
            self._jobs.put(job)
        for event in events:
            if isinstance(event, StateChanged):
                if self.lights is not None and event.new in ("ready", "not_ready"):
                    self.lights.beep(1 if event.new == "ready" else 3)
                log.info("Room %s: %s -> %s (%s)", self.cfg.room.id, event.old, event.new, event.reason)

    # -- state for others: read from the snapshot, no lock ---------------------------------

    @property
    def snapshot(self) -> RoomSnapshot:
        """The room as of the last message or tick."""
        return self._snapshot

    def start_source(self) -> str | None:
        """Which source the current start time comes from, or None."""
        return self._snapshot.start_source

    def start_at(self) -> datetime | None:
        """The conference's start time, strongest source first."""
        return self._snapshot.start_at

    def countdown(self) -> schedule.CountdownView:
        """The countdown view (see :func:`kiosk.schedule.countdown`) as of the last message or tick."""
        return self._snapshot.countdown

    def light_pattern(self) -> str:
        """The lights' pattern for the current state, readiness and countdown phase."""
        return self._snapshot.light_pattern

    @property
    def version(self) -> int:
        """The snapshot's revision: increases whenever the public state changes."""
        return self._snapshot.revision

    def wait_for_change(self, since: int, timeout: float) -> int:
        """Block until :attr:`version` exceeds ``since`` or ``timeout`` passes; return the version."""
        with self._changed:
            self._changed.wait_for(lambda: self._snapshot.revision > since or self._stop.is_set(), timeout)
        return self._snapshot.revision

    @property
    def ready(self) -> bool:
        return self._snapshot.ready

    @property
    def last_cycle(self) -> Cycle | None:
        return self._snapshot.cycle

    @property
    def checking(self) -> bool:
        return self._snapshot.checking

    @property
    def calendar_health(self):
        """What the calendar watcher last said about the calendar (None when it said nothing)."""
        return self._snapshot.calendar_health

    def public_state(self) -> dict:
        """The room's state as shown to the display, IT and ``/api/state``: no personal data.

        A copy of the snapshot's top level; treat the nested values as read-only.
        """
        return dict(self._snapshot.public)

    # -- threads ------------------------------------------------------------------------

    def _loop(self) -> None:
        next_tick = time.monotonic() + TICK_S
        while not self._stop.is_set():
            try:
                message = self._inbox.get(timeout=max(0.0, next_tick - time.monotonic()))
            except queue.Empty:
                message = None
            if message is not None:
                self._handle(message)
            if time.monotonic() < next_tick or self._stop.is_set():
                continue
            next_tick = time.monotonic() + TICK_S
            try:
                self.tick()
            except Exception:
                log.exception("Main loop tick failed")
                continue
            self.bus.publish(LoopTicked())  # only after a tick that completed: systemd's watchdog is fed from it
        self._drain()

    def _check_loop(self) -> None:
        """Run each cycle the loop began (it is already announced); give the result back to the loop."""
        while True:
            entered = self._jobs.get()
            if entered is None or self._stop.is_set():
                return
            try:
                cycle = self.runner.run()
            except Exception:
                log.exception("Check cycle failed")
                self._call(self._checks_abandoned)
                continue
            self._apply_cycle(cycle, entered)

    def _read_display(self):
        try:
            return tuple((c.name, c.status) for c in self.hardware.display.connectors())
        except Exception:
            return _UNREADABLE  # unreadable (driver gone): a change too, and so is its return

    def _display_loop(self, signature) -> None:
        """Re-check at once when a screen is plugged or unplugged (sysfs status changes)."""
        while not self._stop.wait(TICK_S):
            new = self._read_display()
            if new != signature:
                log.info("Display connection changed: re-checking")
                self.request_check("display hot-plug")
            signature = new

    # -- lifecycle ----------------------------------------------------------------------

    def start(self, initial_check: bool = True) -> "RoomController":
        """Start the loop, the check worker and the watchers; optionally check the room once at start."""
        signature = self._read_display()  # the hot-plug baseline, before anything can change unseen
        self._check_thread = threading.Thread(target=self._check_loop, name="room-checks", daemon=True)
        self._check_thread.start()  # first: the loop begins a cycle only when the worker is there to run it
        self._loop_thread = threading.Thread(target=self._loop, name="room-loop", daemon=True)
        workers = [self._loop_thread, threading.Thread(target=self._display_loop, args=(signature,),
                                                       name="room-display", daemon=True)]
        for t in workers:
            t.start()
        self._threads.extend([self._check_thread, *workers])
        if self.lights is not None:
            self.lights.show(self._snapshot.light_pattern)
        if initial_check:
            self.request_check("start-up")
        else:
            self._call(self._begin_queued)  # a check asked for before the start
        return self

    def stop(self) -> None:
        """Stop the threads, turn the lights off and release the pins and devices."""
        self._stop.set()
        self._inbox.put(None)  # wake the loop now rather than at its next tick
        self._jobs.put(None)  # and the check worker
        with self._changed:
            self._changed.notify_all()
        for t in self._threads:
            t.join(timeout=self.cfg.checks.timeout_s + 2)
        if self.button is not None:
            self.button.close()
        if self.lights is not None:
            self.lights.close()
        self.hardware.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
