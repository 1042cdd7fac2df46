"""The room controller end to end on simulated hardware and mock pins (no web, no MQTT)."""

import threading
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from kiosk.controller import RoomController
from kiosk.events import (ChecksFinished, ChecksStarted, LoopTicked, ReadinessChanged, ScheduleChanged,
                          SessionStarted)
from kiosk.factory import build_hardware
from kiosk.lights import Lights
from waiting import wait_for

LONDON = ZoneInfo("Europe/London")
BUTTON_PIN, RED_PIN, GREEN_PIN = 17, 22, 27


class WallClock:
    """A settable wall clock for the countdown."""

    def __init__(self, start):
        self.now = start

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return WallClock(datetime(2026, 11, 23, 13, 0, tzinfo=LONDON))


@pytest.fixture
def room(cfg, mock_factory, clock):
    cfg = cfg.replace("schedule", ended_s=0.5)
    hardware = build_hardware(cfg, simulate=True)
    lights = Lights(cfg.lights, pin_factory=mock_factory)
    controller = RoomController(cfg, hardware, lights=lights, pin_factory=mock_factory, now=clock)
    controller.start(initial_check=False)
    yield controller
    controller.stop()


def press(factory):
    pin = factory.pin(BUTTON_PIN)
    pin.drive_low()
    pin.drive_high()
    time.sleep(0.06)  # past the debounce interval, like a person's next press


def test_controller_press_checks_then_ready(room, mock_factory):
    events = []
    room.bus.subscribe(events.append)
    press(mock_factory)
    assert room.machine.state.value == "checking"
    assert room.lights.pattern == "checking"  # set synchronously with the press
    assert wait_for(lambda: room.machine.state.value == "ready")
    assert room.lights.pattern == "ready" and mock_factory.pin(GREEN_PIN).state == 1
    state = room.public_state()
    assert state["ready"] is True and state["state"] == "ready"
    assert set(state["checks"]) == {"camera", "microphone", "display", "clock", "network"}
    assert all(c["status"] == "pass" for c in state["checks"].values())
    kinds = [e.kind for e in events]
    assert kinds[:3] == ["button_pressed", "state_changed", "check_started"]
    assert "check_finished" in kinds


def test_controller_press_when_ready_starts_countdown_then_session(room, mock_factory, clock):
    room.set_start(clock.now + timedelta(minutes=10), "command line")
    press(mock_factory)
    assert wait_for(lambda: room.machine.state.value == "ready")
    press(mock_factory)
    assert room.machine.state.value == "countdown"
    assert room.public_state()["seconds_to_start"] == 600
    assert room.lights.pattern == "countdown"
    clock.now += timedelta(minutes=7, seconds=30)  # inside the 3-minute joining window
    room.tick()
    assert room.lights.pattern == "joining"
    assert room.public_state()["countdown"]["phase"] == "joining"
    started = []
    room.bus.subscribe(started.append, SessionStarted)
    clock.now += timedelta(minutes=3)
    room.tick()
    assert room.machine.state.value == "in_session" and len(started) == 1
    assert room.lights.pattern == "in_session"


def test_controller_press_when_ready_without_start_time_starts_session(room, mock_factory):
    press(mock_factory)
    assert wait_for(lambda: room.machine.state.value == "ready")
    press(mock_factory)
    assert room.machine.state.value == "in_session"
    press(mock_factory)
    assert room.machine.state.value == "ended"
    assert room.lights.pattern == "ended"
    assert wait_for(lambda: room.machine.state.value == "idle", timeout=3)
    assert room.lights.pattern == "off"


def test_controller_covered_camera_is_not_ready_and_recovers(room, mock_factory):
    changes = []
    room.bus.subscribe(changes.append, ReadinessChanged)
    room.hardware.camera.fault = "covered"
    press(mock_factory)
    assert wait_for(lambda: room.machine.state.value == "not_ready")
    camera = room.public_state()["checks"]["camera"]
    assert camera["status"] == "fail" and "cover" in camera["reason"].lower()
    assert mock_factory.pin(RED_PIN).state == 1
    room.hardware.camera.fault = "none"
    room.request_check("test")
    assert wait_for(lambda: room.machine.state.value == "ready")
    assert [c.ready for c in changes] == [False, True]


def test_controller_unplugged_display_detected_without_a_press(room, mock_factory):
    press(mock_factory)
    assert wait_for(lambda: room.machine.state.value == "ready")
    room.hardware.display.connected = False
    # The main loop sees the sysfs status change and re-checks by itself.
    assert wait_for(lambda: room.machine.state.value == "not_ready", timeout=3)
    assert room.public_state()["checks"]["display"]["status"] == "fail"


def test_controller_device_failure_in_session_does_not_end_it(room, mock_factory):
    press(mock_factory)
    assert wait_for(lambda: room.machine.state.value == "ready")
    press(mock_factory)
    assert room.machine.state.value == "in_session"
    room.hardware.microphone.fault = "muted"
    done = []
    room.bus.subscribe(done.append, ChecksFinished)
    room.request_check("test")
    assert wait_for(lambda: done)
    assert room.machine.state.value == "in_session"
    assert room.ready is False and room.lights.pattern == "session_fault"


def test_controller_hold_rechecks_from_any_state(room, mock_factory):
    press(mock_factory)
    assert wait_for(lambda: room.machine.state.value == "ready")
    press(mock_factory)
    assert room.machine.state.value == "in_session"
    room.hold()
    assert room.machine.state.value == "checking"
    assert wait_for(lambda: room.machine.state.value == "ready")


def test_controller_start_time_priority(room, clock):
    chair = clock.now + timedelta(hours=1)
    cli = clock.now + timedelta(hours=2)
    room.set_start(cli, "command line")
    assert room.start_at() == cli and room.start_source() == "command line"
    room.set_start(chair, "chair")
    assert room.start_at() == chair and room.public_state()["start_source"] == "chair"
    room.set_start(None, "chair")
    assert room.start_at() == cli
    with pytest.raises(ValueError):
        room.set_start(chair, "someone")


def test_controller_public_state_has_the_contract_fields_and_no_personal_data(room):
    room.set_attendance(3, 4, True)
    state = room.public_state()
    for key in ("room", "state", "ready", "checks", "start_at", "seconds_to_start", "lights", "checked_at"):
        assert key in state
    assert state["attendance"] == {"in_person": 3, "virtual": 4, "quorate": True}
    assert state["lights"]["colour"].startswith("#")


def test_controller_wait_for_change_wakes_on_a_press(room, mock_factory):
    since = room.version
    t0 = time.monotonic()
    import threading
    threading.Timer(0.1, lambda: press(mock_factory)).start()
    assert room.wait_for_change(since, timeout=5) > since
    assert time.monotonic() - t0 < 1.0


def test_controller_identify_flashes_then_restores(room):
    room.identify(seconds=0.3)
    assert room.lights.pattern == "identify"
    time.sleep(0.4)
    room.tick()
    assert room.lights.pattern == "off"


def test_controller_calendar_booking_sets_start(cfg, mock_factory, clock, tmp_path):
    from kiosk.calendar_watcher import CalendarWatcher

    ics = tmp_path / "room.ics"
    ics.write_text(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:1@test\r\n"
        "DTSTAMP:20261101T000000Z\r\nDTSTART;TZID=Europe/London:20261123T141500\r\n"
        "DTEND;TZID=Europe/London:20261123T153000\r\nSUMMARY:ICPC Family Smith\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    cfg = cfg.replace("schedule", ics=str(ics))
    controller = RoomController(cfg, build_hardware(cfg, simulate=True), now=clock)
    try:
        assert controller.start_at() is None  # the controller never reads the calendar itself
        CalendarWatcher(cfg, controller.set_bookings, now=clock, state_dir=tmp_path / "state").poll()
        assert controller.start_at() == datetime(2026, 11, 23, 14, 15, tzinfo=LONDON)
        state = controller.public_state()
        assert state["start_source"] == "calendar" and state["seconds_to_start"] == 75 * 60
        assert state["calendar"]["source"] == "file" and state["calendar"]["stale"] is False
        assert "Smith" not in str(state)  # booking titles never leave the calendar
    finally:
        controller.stop()


def test_controller_moves_to_the_next_days_booking_at_midnight_without_a_new_reading(cfg, clock):
    from kiosk.schedule import Booking

    controller = RoomController(cfg, build_hardware(cfg, simulate=True), now=clock)
    try:
        today = Booking(datetime(2026, 11, 23, 14, tzinfo=LONDON), datetime(2026, 11, 23, 15, tzinfo=LONDON),
                        source="calendar")
        tomorrow = Booking(datetime(2026, 11, 24, 9, 30, tzinfo=LONDON), None, source="calendar")
        controller.set_bookings([today, tomorrow], {"source": "file", "stale": False, "events_skipped": 0})
        assert controller.start_at() == today.start
        clock.now = datetime(2026, 11, 24, 0, 0, 1, tzinfo=LONDON)
        controller.tick()
        assert controller.start_at() == tomorrow.start
    finally:
        controller.stop()


# -- the room loop: one thread owns the state, readers take the snapshot ----------------------------

def test_controller_inputs_are_handled_on_the_room_loop(room, mock_factory):
    threads = []
    room.bus.subscribe(lambda event: threads.append((event.kind, threading.current_thread().name)))
    press(mock_factory)  # from the pin's thread
    room.set_attendance(1, 2, False)  # from this thread
    assert wait_for(lambda: room.machine.state.value == "ready")
    assert {name for _, name in threads} == {"room-loop"}, threads
    assert {"button_pressed", "attendance_changed", "check_finished"} <= {kind for kind, _ in threads}


def test_controller_readers_never_wait_for_a_busy_loop(room):
    before = room.public_state()
    with room._lock:  # the loop is busy with a message (it holds the turn)
        reader = threading.Thread(target=lambda: (room.public_state(), room.version, room.ready, room.start_at()))
        reader.start()
        reader.join(2)
        assert not reader.is_alive(), "a reader waited for the loop"
    assert room.public_state() == before


def test_controller_the_pin_thread_only_posts_a_press(room, mock_factory):
    pin = mock_factory.pin(BUTTON_PIN)
    with room._lock:  # the loop cannot take the press yet
        pin.drive_low()  # returns at once: the press waits in the inbox
        pin.drive_high()
        assert room.machine.state.value == "idle"
    assert wait_for(lambda: room.machine.state.value in ("checking", "ready"))


def test_controller_public_state_is_a_copy_of_the_snapshot(room):
    state = room.public_state()
    state["state"] = "in_session"
    state.pop("ready")
    fresh = room.public_state()
    assert fresh["state"] == "idle" and "ready" in fresh
    assert room.snapshot.public is not state


def test_controller_revision_moves_with_each_change_and_long_polls_wake(room, clock):
    since = room.version
    room.set_start(clock.now + timedelta(hours=1), "chair")
    assert room.version > since and room.public_state()["revision"] == room.version
    assert room.wait_for_change(since, timeout=0) == room.version  # already past: no wait


def test_controller_set_bookings_decides_the_calendar_start_on_the_loop(room, clock):
    from kiosk.schedule import Booking

    first = Booking(clock.now + timedelta(hours=1), clock.now + timedelta(hours=2), source="calendar")
    later = Booking(clock.now + timedelta(hours=3), clock.now + timedelta(hours=4), source="calendar")
    room.set_bookings([later, first], health={"events_skipped": 0})
    assert room.start_at() == first.start and room.start_source() == "calendar"
    assert room.calendar_health == {"events_skipped": 0}
    clock.now = first.end + timedelta(minutes=1)  # the first booking is over: the next one counts
    room.tick()
    assert room.start_at() == later.start
    room.set_bookings([])
    assert room.start_at() is None and room.start_source() is None


def test_controller_a_stopped_controller_still_takes_messages(cfg, clock):
    controller = RoomController(cfg, build_hardware(cfg, simulate=True), now=clock).start(initial_check=False)
    controller.stop()
    controller.set_attendance(2, 3, True)  # handled in this thread: the loop is gone, nothing hangs
    assert controller.public_state()["attendance"] == {"in_person": 2, "virtual": 3, "quorate": True}


def test_controller_loop_ticks_are_published_from_the_loop(room):
    ticks = []
    unsubscribe = room.bus.subscribe(lambda event: ticks.append(threading.current_thread().name), LoopTicked)
    try:
        assert wait_for(lambda: len(ticks) >= 2)
    finally:
        unsubscribe()
    assert set(ticks) == {"room-loop"}


def test_controller_a_check_is_begun_by_the_loop_with_the_press(room, mock_factory):
    turns = []  # (revision, kinds) as each event arrives: events of one turn share a revision
    room.bus.subscribe(lambda event: turns.append((room.version, event.kind)))
    press(mock_factory)
    assert wait_for(lambda: room.machine.state.value == "ready")
    by_kind = {kind: revision for revision, kind in reversed(turns)}  # the first of each kind
    assert by_kind["button_pressed"] == by_kind["state_changed"] == by_kind["check_started"]
    assert room.checking is False


def test_controller_check_requests_during_a_cycle_make_one_more_cycle(room, mock_factory):
    started, finished = [], []
    room.bus.subscribe(started.append, ChecksStarted)
    room.bus.subscribe(finished.append, ChecksFinished)
    room.request_check("first")
    assert room.checking
    for n in range(5):  # during the first cycle: they queue one more, reported with the latest reason
        room.request_check(f"again {n}")
    assert wait_for(lambda: len(finished) == 2 and not room.checking, timeout=10)
    # Not checking once the second ended: nothing else was queued (the loop begins a queued cycle in the
    # same turn as it takes the previous one's results).
    assert [e.trigger for e in started] == ["first", "again 4"]


def test_controller_a_check_asked_for_before_the_start_runs_once_started(cfg, clock):
    controller = RoomController(cfg, build_hardware(cfg, simulate=True), now=clock)
    finished = []
    controller.bus.subscribe(finished.append, ChecksFinished)
    controller.request_check("early")  # no worker yet: queued, not begun
    assert not controller.checking
    controller.start(initial_check=False)
    try:
        assert wait_for(lambda: len(finished) == 1, timeout=10)
    finally:
        controller.stop()


def test_controller_a_start_set_during_an_unplanned_session_is_kept_for_after_it(room, mock_factory, clock):
    press(mock_factory)
    assert wait_for(lambda: room.machine.state.value == "ready")
    press(mock_factory)
    assert room.machine.state.value == "in_session" and room.start_at() is None
    later = clock.now + timedelta(hours=2)
    room.set_start(later, "chair")  # the chair saves today's conference for later
    clock.now += timedelta(minutes=3, seconds=4)
    room.tick()
    state = room.public_state()
    # The session's own view: it counts from when the button began it, not from the later start.
    assert state["start_at"] is None and state["countdown"]["phase"] == "started"
    assert state["countdown"]["label"] == "+03:04" and state["seconds_to_start"] == -184
    press(mock_factory)
    assert room.machine.state.value == "ended"
    assert room.start_at() == later and room.start_source() == "chair"
    assert room.public_state()["countdown"]["message"] == f"Conference starts at {later:%H:%M}"


def test_controller_a_running_session_keeps_counting_from_its_own_start(room, mock_factory, clock):
    start = clock.now + timedelta(minutes=10)
    room.set_start(start, "chair")
    press(mock_factory)
    assert wait_for(lambda: room.machine.state.value == "ready")
    press(mock_factory)
    clock.now = start
    room.tick()
    assert room.machine.state.value == "in_session"
    clock.now += timedelta(minutes=5)
    later = clock.now + timedelta(hours=3)
    room.set_start(later, "chair")  # the next conference of the day, saved during this one
    room.tick()
    assert room.public_state()["countdown"]["label"] == "+05:00" and room.start_at() == start
    clock.now += timedelta(minutes=1)
    room.tick()
    assert room.public_state()["countdown"]["label"] == "+06:00"
    press(mock_factory)
    assert room.start_at() == later  # the used start is done with; the next one stays


def test_controller_ending_a_session_clears_its_start_and_says_so(room, mock_factory, clock):
    changes = []
    room.set_start(clock.now - timedelta(minutes=1), "chair")
    room.bus.subscribe(changes.append, ScheduleChanged)
    press(mock_factory)
    assert wait_for(lambda: room.machine.state.value == "ready")
    press(mock_factory)
    assert room.machine.state.value == "in_session"
    press(mock_factory)
    assert room.start_at() is None
    assert [(c.start_at, c.source) for c in changes] == [(None, None)]  # the chair's record hears of it
