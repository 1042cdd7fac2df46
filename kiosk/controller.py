"""The room controller: turns button presses, timers and check results into room states.

It owns the state machine, the check runner, the lights and the button, and keeps the
room's *public* state (no personal data) that the display page, MQTT and Prometheus
read. It never calls web or MQTT code: they subscribe to :attr:`RoomController.bus`
or read :meth:`RoomController.public_state`.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime
from typing import Callable
from zoneinfo import ZoneInfo

from kiosk import __version__, schedule
from kiosk.checks.result import Status
from kiosk.checks.runner import CheckRunner, Cycle, build_specs
from kiosk.events import (AttendanceChanged, ButtonHeld, ButtonPressed, CalendarChanged, ChecksFinished,
                          ChecksStarted, CountdownStarted, EventBus, IdentifyRequested, ReadinessChanged, ScheduleChanged,
                          SessionEnded, SessionStarted, StateChanged)
from kiosk.room import RoomMachine, State, Trigger

log = logging.getLogger("kiosk.controller")

#: Where a start time may come from, strongest first.
START_SOURCES = ("chair", "command line", "calendar")
TICK_S = 0.25
#: The display's connectors have not been read yet (distinct from None: they could not be read).
_UNREAD = object()


def _colour_hex(colour) -> str:
    return "#" + "".join(f"{round(c * 255):02x}" for c in colour)


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
        self.machine = RoomMachine(self.bus)
        self.runner = CheckRunner(build_specs(cfg, hardware), cfg.checks.timeout_s)
        self.lights = lights
        self.button = None
        if with_button and pin_factory is not None:
            from kiosk.button import StartButton

            self.button = StartButton(cfg.button, self.press, self.hold, pin_factory=pin_factory)
        self.started_monotonic = time.monotonic()

        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._version = 0
        self._cycle: Cycle | None = None
        self._ready = False
        self._starts: dict[str, datetime | None] = {s: None for s in START_SOURCES}
        self._starts["command line"] = start_override
        self._booking_end: datetime | None = None
        #: The calendar watcher's latest bookings (today and tomorrow) and health; see set_bookings.
        self._bookings: tuple = ()
        self._calendar_health: dict | None = None
        self._session_started: datetime | None = None
        #: time.monotonic() at the start of the session: auto-end counts real time, so NTP stepping
        #: the wall clock (a Pi has no real-time clock) cannot end a conference early.
        self._session_started_mono: float | None = None
        self._ended_at: float | None = None
        self._next_periodic = time.monotonic() + cfg.checks.interval_s if cfg.checks.interval_s else None
        self._display_signature = _UNREAD
        self._identify_until = 0.0
        self._attendance: dict | None = None
        self._last_label = None
        self._check_wanted = threading.Event()
        self._check_trigger = "start"
        self._checking = False
        #: How many times the room has entered the checking state.
        self._entered_checking = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        #: Called at the end of every healthy main-loop tick (the systemd watchdog hooks in here).
        self.tick_hooks: list[Callable[[], None]] = []

        self.bus.subscribe(self._on_event)

    # -- inputs -------------------------------------------------------------------------

    def press(self) -> None:
        """A short press of the start button (or the simulator's)."""
        self.bus.publish(ButtonPressed())
        with self._lock:
            state = self.machine.state
            new = self.machine.fire(Trigger.PRESS, start_pending=self._start_pending())
            if new is None:
                log.info("Button press ignored while %s", state.value)
            elif new is State.CHECKING:
                self.request_check("button")
            elif new is State.COUNTDOWN:
                self.bus.publish(CountdownStarted(self.start_at()))
            elif new is State.IN_SESSION:
                self._begin_session()
            elif new is State.ENDED:
                self._end_session()

    def hold(self) -> None:
        """A long hold: re-run the checks from any state."""
        self.bus.publish(ButtonHeld())
        with self._lock:
            if self.machine.state is State.IN_SESSION:
                self._end_session()
            self.machine.fire(Trigger.HOLD)
            self.request_check("button hold")

    def request_check(self, trigger: str = "request") -> None:
        """Ask for a check cycle soon (one runs at a time; a request during one queues one more)."""
        with self._lock:
            self._check_trigger = trigger
            self._check_wanted.set()

    def end_session(self) -> None:
        """End the conference (from the chair's page)."""
        with self._lock:
            if self.machine.fire(Trigger.END, reason="ended by the chair"):
                self._end_session()

    def set_start(self, start_at: datetime | None, source: str = "chair") -> None:
        """Set (or clear, with None) the start time given by ``source`` (see :data:`START_SOURCES`)."""
        if source not in START_SOURCES:
            raise ValueError(f"unknown start time source {source!r}")
        with self._lock:
            self._starts[source] = start_at.astimezone(self.tz) if start_at else None
            self.bus.publish(ScheduleChanged(self.start_at(), self.start_source()))

    def set_attendance(self, in_person: int, virtual: int, quorate: bool) -> None:
        """Counts from the chair's page; never names."""
        with self._lock:
            new = {"in_person": int(in_person), "virtual": int(virtual), "quorate": bool(quorate)}
            if new != self._attendance:
                self._attendance = new
                self.bus.publish(AttendanceChanged(**new))

    def identify(self, seconds: float = 10.0) -> None:
        """Flash the lights so IT or staff can find this room's kiosk."""
        self.bus.publish(IdentifyRequested(seconds=seconds))

    # -- schedule ---------------------------------------------------------------------

    def start_source(self) -> str | None:
        """Which source the current start time comes from, or None."""
        return next((s for s in START_SOURCES if self._starts[s] is not None), None)

    def start_at(self) -> datetime | None:
        """The conference's start time, strongest source first."""
        source = self.start_source()
        return self._starts[source] if source else None

    def _start_pending(self) -> bool:
        start = self.start_at()
        return start is not None and self._now() < start

    def set_bookings(self, bookings, health: dict | None = None) -> None:
        """The calendar watcher's bookings (a window covering today and tomorrow) and the calendar's health.

        No I/O and no parsing here (:mod:`kiosk.calendar_watcher` does both on its own thread):
        only the bookings are kept and the calendar's start time chosen from them, again at
        every tick, so the day moving on at midnight needs no new reading.
        """
        with self._lock:
            self._bookings = tuple(bookings)
            if health != self._calendar_health:
                self._calendar_health = dict(health) if health is not None else None
                if health is not None:
                    self.bus.publish(CalendarChanged(bool(health.get("stale")), int(health.get("events_skipped", 0))))
            self._choose_calendar_start()

    def _choose_calendar_start(self) -> None:
        booking = schedule.next_start(self._bookings, self._now())
        start = booking.start if booking else None
        self._booking_end = booking.end if booking else None
        if start != self._starts["calendar"]:
            self.set_start(start, "calendar")

    # -- checks -----------------------------------------------------------------------

    def _check_loop(self) -> None:
        while not self._stop.is_set():
            if not self._check_wanted.wait(0.5) or self._stop.is_set():
                continue
            with self._lock:
                self._check_wanted.clear()
                trigger = self._check_trigger
                self._checking = True
                entered = self._entered_checking
            self.bus.publish(ChecksStarted(trigger))
            try:
                cycle = self.runner.run()
            finally:
                with self._lock:
                    self._checking = False
            self._apply_cycle(cycle, entered)

    def _apply_cycle(self, cycle: Cycle, entered: int | None = None) -> None:
        """Take a cycle's results; ``entered`` is :attr:`_entered_checking` when the cycle began."""
        with self._lock:
            was_ready, had_cycle = self._ready, self._cycle is not None
            self._cycle = cycle
            self._ready = cycle.ready
            self.bus.publish(ChecksFinished(cycle))
            if had_cycle and was_ready != cycle.ready or not had_cycle and not cycle.ready:
                failing = tuple(n for n, r in cycle.results.items() if r.status is Status.FAIL)
                self.bus.publish(ReadinessChanged(cycle.ready, failing))
            if (self._check_wanted.is_set() and self.machine.state is State.CHECKING
                    and entered is not None and entered != self._entered_checking):
                # The button put the room (back) into checking during this cycle (a hold): the
                # cycle it queued decides. Other queued re-checks (periodic, hot-plug, MQTT) do
                # not hold the room in checking: they could keep coming for ever.
                return
            self.machine.fire(Trigger.CHECKS_PASSED if cycle.ready else Trigger.CHECKS_FAILED)
            if self.cfg.checks.interval_s:
                self._next_periodic = time.monotonic() + self.cfg.checks.interval_s

    def _watch_display(self) -> None:
        """Re-check at once when a screen is plugged or unplugged (sysfs status changes)."""
        try:
            signature = tuple((c.name, c.status) for c in self.hardware.display.connectors())
        except Exception:
            signature = None  # unreadable (driver gone): a change too, and so is its return
        if self._display_signature is not _UNREAD and signature != self._display_signature:
            log.info("Display connection changed: re-checking")
            self.request_check("display hot-plug")
        self._display_signature = signature

    # -- time -------------------------------------------------------------------------

    def _begin_session(self) -> None:
        self._session_started = self._now()
        self._session_started_mono = time.monotonic()
        self.bus.publish(SessionStarted())

    def _end_session(self) -> None:
        self._session_started = self._session_started_mono = None
        self._ended_at = time.monotonic()
        # A start time that has been used is done with: the calendar's next booking takes over.
        self._starts["chair"] = self._starts["command line"] = None
        self.bus.publish(SessionEnded())

    def tick(self) -> None:
        """One pass of the main loop: timers, the calendar's next booking, hot-plug, lights."""
        with self._lock:
            now = self._now()
            state = self.machine.state
            start = self.start_at()
            if state is State.COUNTDOWN and (start is None or now >= start):
                if self.machine.fire(Trigger.START_TIME):
                    self._begin_session()
            elif state is State.IN_SESSION and self._session_started_mono is not None:
                if time.monotonic() - self._session_started_mono >= self.cfg.schedule.auto_end_min * 60:
                    if self.machine.fire(Trigger.END, reason="conference ended automatically (time limit)"):
                        self._end_session()
            elif state is State.ENDED and self._ended_at is not None:
                if time.monotonic() - self._ended_at >= self.cfg.schedule.ended_s:
                    self.machine.fire(Trigger.RESET)
            if self._next_periodic is not None and time.monotonic() >= self._next_periodic:
                self._next_periodic = time.monotonic() + self.cfg.checks.interval_s
                self.request_check("periodic")
            self._choose_calendar_start()
            self._watch_display()
            self._refresh_lights()
            self._bump_if_countdown_moved(now)

    def _main_loop(self) -> None:
        while not self._stop.wait(TICK_S):
            try:
                self.tick()
            except Exception:
                log.exception("Main loop tick failed")
                continue
            for hook in self.tick_hooks:
                hook()

    # -- state for others ---------------------------------------------------------------

    def countdown(self):
        """The countdown view for now (see :func:`kiosk.schedule.countdown`).

        Once the session has begun it never counts down again: if the wall clock is stepped
        back before the start (NTP), the view stays at the start (elapsed 0, not negative).
        """
        now, start = self._now(), self.start_at()
        if start is not None and now < start and self.machine.state is State.IN_SESSION:
            now = start
        return schedule.countdown(now, start, self.cfg.schedule, end_at=self._booking_end)

    def light_pattern(self) -> str:
        """The lights' pattern for the current state, readiness and countdown phase."""
        if time.monotonic() < self._identify_until:
            return "identify"
        state = self.machine.state
        if state is State.IDLE:
            return "off"
        if state is State.COUNTDOWN:
            return "joining" if self.countdown().phase == "joining" else "countdown"
        if state is State.IN_SESSION:
            return "in_session" if self._ready else "session_fault"
        return state.value

    def _refresh_lights(self) -> None:
        if self.lights is not None:
            self.lights.show(self.light_pattern())

    def _on_event(self, event) -> None:
        if isinstance(event, IdentifyRequested):
            self._identify_until = time.monotonic() + event.seconds
        if isinstance(event, (StateChanged, ReadinessChanged, IdentifyRequested)):
            self._refresh_lights()
            if self.lights is not None and isinstance(event, StateChanged):
                if event.new == "ready":
                    self.lights.beep(1)
                elif event.new == "not_ready":
                    self.lights.beep(3)
        if isinstance(event, StateChanged):
            if event.new == State.CHECKING.value:
                self._entered_checking += 1
            log.info("Room %s: %s -> %s (%s)", self.cfg.room.id, event.old, event.new, event.reason)
        with self._changed:
            self._version += 1
            self._changed.notify_all()

    def _bump_if_countdown_moved(self, now) -> None:
        # Waiting clients see the seconds move without polling.
        label = self.countdown().label
        if label != self._last_label:
            self._last_label = label
            with self._changed:
                self._version += 1
                self._changed.notify_all()

    @property
    def version(self) -> int:
        """Increases whenever the public state changes."""
        return self._version

    def wait_for_change(self, since: int, timeout: float) -> int:
        """Block until :attr:`version` exceeds ``since`` or ``timeout`` passes; return the version."""
        with self._changed:
            self._changed.wait_for(lambda: self._version > since or self._stop.is_set(), timeout)
            return self._version

    @property
    def ready(self) -> bool:
        return self._ready

    @property
    def last_cycle(self) -> Cycle | None:
        return self._cycle

    @property
    def checking(self) -> bool:
        return self._checking

    def public_state(self) -> dict:
        """The room's state as shown to the display, IT and ``/api/state``: no personal data."""
        with self._lock:
            cycle = self._cycle
            start = self.start_at()
            cd = self.countdown()
            pattern = self.light_pattern()
            from kiosk.lights import PATTERNS

            return {
                "room": self.cfg.room.id,
                "name": self.cfg.room.name,
                "state": self.machine.state.value,
                "ready": self._ready,
                "checks": {n: r.to_dict(with_metrics=False) for n, r in cycle.results.items()} if cycle else {},
                "start_at": start.isoformat(timespec="seconds") if start else None,
                "start_source": self.start_source(),
                "seconds_to_start": cd.seconds_to_start,
                "countdown": {"phase": cd.phase, "label": cd.label, "message": cd.message},
                "lights": {"pattern": pattern, "colour": _colour_hex(PATTERNS[pattern].colour)},
                "checked_at": cycle.checked_at.isoformat(timespec="seconds") if cycle else None,
                "attendance": dict(self._attendance) if self._attendance else None,
                "calendar": dict(self._calendar_health) if self._calendar_health else None,
                "version": __version__,
                "revision": self._version,
            }

    # -- lifecycle ----------------------------------------------------------------------

    def start(self, initial_check: bool = True) -> "RoomController":
        """Start the main loop and the check worker; optionally check the room once at start."""
        with self._lock:
            self._watch_display()  # the hot-plug baseline, before anything can change unseen
        for target, name in ((self._main_loop, "room-main"), (self._check_loop, "room-checks")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)
        self._refresh_lights()
        if initial_check:
            self.request_check("start-up")
        return self

    def stop(self) -> None:
        """Stop the loops, turn the lights off and release the pins and devices."""
        self._stop.set()
        self._check_wanted.set()  # wake the check loop now rather than at its next poll
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
