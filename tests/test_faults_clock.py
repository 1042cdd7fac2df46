"""Clock jumps (NTP stepping the wall clock) around the countdown, on a running controller.

The controller's wall clock is injected (``RoomController(..., now=clock)``) and stepped
the way NTP steps a clock that was wrong: forward past the start, back during the
countdown, back after the start. The room's main loop and check worker run for real
(simulated devices), so the jumps meet the same ticks a kiosk sees.
"""

from __future__ import annotations

import time
import types
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from kiosk import controller as controller_module
from kiosk.controller import TICK_S, RoomController
from kiosk.events import SessionEnded, SessionStarted
from kiosk.factory import build_hardware
from kiosk.mqtt.link import state_payload
from waiting import wait_for

pytestmark = pytest.mark.proof  # slow: see docs/testing.md (pytest -m 'not proof' leaves it out)

LONDON = ZoneInfo("Europe/London")
START = datetime(2026, 11, 23, 14, 0, tzinfo=LONDON)


class SteppedClock:
    """A wall clock that NTP can step; thread-safe enough for a datetime swap."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def step(self, delta: timedelta) -> None:
        self.now += delta


class Room:
    def __init__(self, cfg, clock):
        self.clock = clock
        self.c = RoomController(cfg, build_hardware(cfg, simulate=True), now=clock)
        self.started, self.ended = [], []
        self.c.bus.subscribe(self.started.append, SessionStarted)
        self.c.bus.subscribe(self.ended.append, SessionEnded)
        self.c.start(initial_check=False)

    @property
    def state(self) -> str:
        return self.c.machine.state.value

    def settle(self) -> None:
        """Let the real main loop tick at least once on the current clock, then one tick here."""
        time.sleep(TICK_S + 0.05)
        self.c.tick()

    def alive(self) -> bool:
        return all(t.is_alive() for t in self.c._threads)

    def to_countdown(self, start: datetime) -> None:
        self.c.set_start(start, "command line")
        self.c.press()
        assert wait_for(lambda: self.state == "ready"), self.state
        self.c.press()
        assert self.state == "countdown"


@pytest.fixture
def room(cfg):
    cfg = cfg.replace("camera", frames=2, frame_interval_s=0.02, width=640, height=360)
    rooms = []

    def make(now: datetime) -> Room:
        r = Room(cfg, SteppedClock(now))
        rooms.append(r)
        return r

    yield make
    for r in rooms:
        r.c.stop()


def assert_started_view(public: dict) -> None:
    """What the display and IT see once a conference has started: elapsed time, never a countdown."""
    assert public["state"] == "in_session"
    assert public["seconds_to_start"] is not None and public["seconds_to_start"] <= 0
    assert public["countdown"]["phase"] in ("started", "overrun")
    assert public["countdown"]["label"].startswith("+"), public["countdown"]
    assert "-" not in public["countdown"]["label"]
    payload = state_payload(public)
    assert payload["state"] == "in_session" and payload["seconds_to_start"] <= 0


def test_clock_jump_forward_past_the_start_starts_the_session_once(room):
    r = room(START - timedelta(minutes=10))
    r.to_countdown(START)
    assert r.c.public_state()["seconds_to_start"] == 600
    r.clock.step(timedelta(minutes=25))  # NTP: the clock was 25 minutes slow
    r.settle()
    assert r.state == "in_session"
    assert len(r.started) == 1
    public = r.c.public_state()
    assert public["seconds_to_start"] == -15 * 60 and public["countdown"]["label"] == "+15:00"
    r.clock.step(timedelta(minutes=1))
    r.settle()
    assert len(r.started) == 1 and r.state == "in_session"
    assert r.alive()


def test_clock_jump_back_during_the_countdown_keeps_counting_down(room):
    r = room(START - timedelta(minutes=5))
    r.to_countdown(START)
    r.clock.step(timedelta(minutes=-10))  # NTP: the clock was 10 minutes fast
    r.settle()
    public = r.c.public_state()
    assert r.state == "countdown"
    assert public["seconds_to_start"] == 15 * 60
    assert public["countdown"] == {"phase": "waiting", "label": "15:00", "message": "Conference starts at 14:00"}
    assert r.c.light_pattern() == "countdown"
    assert not r.started
    # Time moves on normally from there: joining window, then the start, once.
    r.clock.step(timedelta(minutes=13))
    r.settle()
    assert r.state == "countdown" and r.c.public_state()["countdown"]["phase"] == "joining"
    assert r.c.public_state()["seconds_to_start"] == 120
    r.clock.step(timedelta(minutes=2))
    r.settle()
    assert r.state == "in_session" and len(r.started) == 1
    assert r.alive()


def test_clock_jump_back_after_the_start_does_not_unstart_the_session(room):
    r = room(START - timedelta(seconds=30))
    r.to_countdown(START)
    r.clock.step(timedelta(minutes=2))
    r.settle()
    assert r.state == "in_session" and len(r.started) == 1
    assert r.c.public_state()["countdown"]["label"] == "+01:30"

    r.clock.step(timedelta(minutes=-10))  # now 8.5 minutes before the start again
    r.settle()
    assert r.state == "in_session"
    public = r.c.public_state()
    assert_started_view(public)
    assert public["seconds_to_start"] == 0 and public["countdown"]["label"] == "+00:00"
    assert r.c.light_pattern() == "in_session"

    r.clock.step(timedelta(minutes=10))  # and forward again past the start
    r.settle()
    assert_started_view(r.c.public_state())
    assert len(r.started) == 1 and not r.ended
    assert r.alive()


def test_clock_jump_back_after_an_early_session_start_shows_no_countdown(room):
    """A chair who sets a start time later than now while in session (or NTP stepping back) sees elapsed time."""
    r = room(START + timedelta(minutes=1))
    r.c.press()
    assert wait_for(lambda: r.state == "ready")
    r.c.set_start(START, "chair")
    r.c.press()
    assert r.state == "in_session"
    r.clock.step(timedelta(hours=-1))
    r.settle()
    assert_started_view(r.c.public_state())


@pytest.mark.parametrize("jump", [timedelta(hours=6), timedelta(days=3)])
def test_clock_jump_forward_during_the_session_does_not_end_it(room, jump):
    """A Pi has no real-time clock: NTP may step it by hours. The conference must not be ended by that."""
    r = room(START - timedelta(seconds=5))
    r.to_countdown(START)
    r.clock.step(timedelta(seconds=10))
    r.settle()
    assert r.state == "in_session"
    r.clock.step(jump)  # far past [schedule] auto_end_min (240 minutes) on the wall clock
    r.settle()
    assert r.state == "in_session" and not r.ended
    assert_started_view(r.c.public_state())
    assert r.alive()


def test_clock_auto_end_still_ends_a_forgotten_session(room, monkeypatch):
    """auto_end_min counts real time in session (the monotonic clock), not wall-clock readings."""
    r = room(START - timedelta(seconds=5))
    r.to_countdown(START)
    r.clock.step(timedelta(seconds=10))
    r.settle()
    assert r.state == "in_session"
    offset = [0.0]
    real = time.monotonic
    monkeypatch.setattr(controller_module, "time", types.SimpleNamespace(monotonic=lambda: real() + offset[0]))
    offset[0] = 239 * 60
    r.settle()
    assert r.state == "in_session"
    offset[0] = 240 * 60 + 1
    r.settle()
    assert r.state == "ended" and len(r.ended) == 1
