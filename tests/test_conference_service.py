"""ChairService: what the room is told over the bus (counts, start time), the live conference, the
chair's view and its cache, and retention (purges leave nothing of the conference in memory)."""

from __future__ import annotations

import json
import secrets
import threading
import time
from datetime import datetime, timezone

import pytest

from chair_web import CSV, DAY, MONDAY, Clock
from held import strings_holding
from kiosk.conference.errors import ConferenceClosed, InvalidInput, NotFound
from kiosk.conference.service import ACTIONS, ChairService
from kiosk.controller import RoomController
from kiosk.events import AttendanceCounted, ConferenceAmended, ConferencePurged, RoomRequest, StartTimeSet
from kiosk.factory import build_hardware
from kiosk.lights import Lights
from kiosk.service import connect_room
from waiting import wait_for
from web import fast_config


@pytest.fixture
def service(tmp_path, cold_room):
    cfg = fast_config().replace("storage", state_dir=str(tmp_path / "state"))
    s = ChairService(cfg, cold_room.bus, now=Clock())
    connect_room(cold_room)
    try:
        yield s
    finally:
        s.stop()


def _conference(service, **fields):
    c = service.create_conference(**({"type": "initial", "date": DAY, "start_time": "10:00",
                                      "case_ref": "CP-2026-0142"} | fields))
    people = {i.name: i.id for i in service.import_csv(c.id, CSV)}
    return c.id, people


def _attendance(room):
    return room.public_state()["attendance"]


def test_conference_service_gives_the_room_counts_after_every_change(service, cold_room):
    cid, p = _conference(service)
    assert _attendance(cold_room) is None  # nothing recorded yet
    service.record_action(cid, p["Sam Social"], "arrived_in_person")
    assert _attendance(cold_room) == {"in_person": 1, "virtual": 0, "quorate": False}
    service.record_action(cid, p["Pat Police"], "arrived_virtual")
    service.record_action(cid, p["Hana Visitor"], "arrived_virtual")
    assert _attendance(cold_room) == {"in_person": 1, "virtual": 2, "quorate": True}
    service._now.advance(minutes=40)
    event = service.record_action(cid, p["Hana Visitor"], "lost_connection")
    assert _attendance(cold_room) == {"in_person": 1, "virtual": 1, "quorate": False}
    service.correct_event(cid, event.id, "wrong row")
    assert _attendance(cold_room) == {"in_person": 1, "virtual": 2, "quorate": True}


def test_conference_service_a_change_after_the_end_is_announced_with_id_and_month_only(service):
    cid, p = _conference(service)
    other, _ = _conference(service, case_ref="CP-2026-0977")
    amended = []
    service.bus.subscribe(amended.append, ConferenceAmended)
    service.record_report(cid, p["Pat Police"], DAY)  # before the end: the end takes it
    service.record_action(cid, p["Sam Social"], "arrived_in_person")
    assert amended == []
    service.end_conference(cid)
    service.record_report(cid, p["Hana Visitor"], "2026-11-24")
    arrival = next(e for e in service.store.events(cid) if e.kind.value == "arrived")
    service.correct_event(cid, arrival.id, "Recorded against the wrong person")
    with pytest.raises(ConferenceClosed):
        service.record_action(cid, p["Pat Police"], "arrived_virtual")
    service.update_invitee(cid, p["Ella School"], role="gp")  # nothing recorded for her: her agency can change
    service.update_conference(cid, date="2026-12-01")  # its month, and D7's verdict, may change
    service.update_conference(other, start_time="11:00")  # another case's conference, not ended
    assert [(e.conference_id, e.month) for e in amended] == [(cid, "2026-11")] * 3 + [(cid, "2026-12")]
    assert {e.kind for e in amended} == {"conference_amended"}
    assert set(vars(amended[0])) == {"at", "conference_id", "month"}  # never a name or the record
    service.create_conference(type="review", date="2027-02-22", start_time="10:00", case_ref="CP-2026-0142")
    assert [(e.conference_id, e.month) for e in amended[4:]] == [(cid, "2026-12")]  # the case's D7 dates moved
    service.reopen_conference(cid)
    service.record_report(cid, p["Sam Social"], DAY)
    assert len(amended) == 5  # reopened: its next end takes the change


def test_conference_service_revision_moves_so_the_display_and_mqtt_hear_of_it(service, cold_room):
    cid, p = _conference(service)
    before = cold_room.version
    service.record_action(cid, p["Sam Social"], "arrived_in_person")
    assert cold_room.version > before


def test_conference_service_another_days_events_do_not_reach_the_room(service, cold_room):
    cid, p = _conference(service, date="2026-11-16")
    service.record_action(cid, p["Sam Social"], "arrived_in_person")
    assert _attendance(cold_room) is None


def test_conference_service_sets_todays_start_and_clears_it_when_moved(service, cold_room):
    c = service.create_conference(type="initial", date=DAY, start_time="10:00", case_ref="CP-1")
    assert cold_room.start_at() == datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)
    assert cold_room.start_source() == "chair"
    service.update_conference(c.id, date="2026-11-25")
    assert cold_room.start_source() is None


def test_conference_service_announces_the_next_start_on_the_day(service, cold_room):
    service._now.now = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)  # saved the day before
    service.create_conference(type="review", date=DAY, start_time="14:00", case_ref="CP-2")
    assert cold_room.start_source() is None
    service._now.now = MONDAY
    service.housekeeping()
    assert cold_room.start_at() == datetime(2026, 11, 23, 14, 0, tzinfo=timezone.utc)
    cold_room.set_start(None, "chair")  # e.g. the room's session ended early
    service.housekeeping()
    assert cold_room.start_source() is None  # announced once, not forced back


def test_conference_service_end_resets_the_room(service, cold_room):
    cid, p = _conference(service)
    service.record_action(cid, p["Sam Social"], "arrived_in_person")
    service.end_conference(cid)
    assert _attendance(cold_room) == {"in_person": 0, "virtual": 0, "quorate": False}
    assert cold_room.start_source() is None


def test_conference_service_purge_resets_the_room_and_keeps_counts(service, cold_room):
    cid, p = _conference(service)
    service.record_action(cid, p["Sam Social"], "arrived_in_person")
    summary = service.purge_conference(cid)
    assert summary["counts"]["invited"] == 5
    assert _attendance(cold_room)["in_person"] == 0
    with pytest.raises(NotFound):
        service.view(cid)


def test_conference_service_purges_on_start_and_then_every_minute(tmp_path, cold_room):
    cfg = fast_config().replace("storage", state_dir=str(tmp_path / "state"))
    clock = Clock()
    first = ChairService(cfg, None, now=clock)
    cid, _ = _conference(first)
    first.end_conference(cid)
    first.stop()
    clock.advance(days=8)
    second = ChairService(cfg, None, now=clock).start()
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and second.store.list_conferences():
            time.sleep(0.01)
        assert second.store.list_conferences() == []
        assert [s["conference_id"] for s in second.store.summaries()] == [cid]
    finally:
        second.stop()
    assert not any(t.name == "chair-housekeeping" for t in threading.enumerate())


def test_conference_service_housekeeping_never_raises(service, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(service.store, "purge_due", broken)
    service.housekeeping()
    assert "Purging conferences past their retention period failed" in caplog.text


def test_conference_service_actions_follow_the_presence_rules(service):
    cid, p = _conference(service)
    with pytest.raises(InvalidInput):
        service.record_action(cid, p["Sam Social"], "beamed_in")
    service.record_action(cid, p["Sam Social"], "arrived_in_person")
    view = service.view(cid)
    sam = next(x for x in view["people"] if x["name"] == "Sam Social")
    assert sam["actions"] == ["left_agreed", "left_not_agreed"]  # in person: no connection or camera taps
    assert sam["status_text"] == "In room since 09:30"
    assert set(ACTIONS) >= set(sam["actions"])


def test_conference_service_view_shape(service):
    cid, p = _conference(service, strategy_date="2026-11-02")
    view = service.view(cid)
    assert set(view) == {"conference", "now", "revision", "quorum", "timeline", "people", "counts", "reports",
                         "timescales", "timescale_warnings", "reconvene", "warnings", "events", "events_total"}
    assert isinstance(view["revision"], int)
    assert view["now"] == "09:30:00"
    assert view["quorum"]["state"] == "waiting" and view["quorum"]["started"] is False
    assert view["reports"] == {"due": "2026-11-18", "overdue": True, "needed": 4, "received": 0, "missing": 4,
                               "late": 0}
    assert [t["status"] for t in view["timescales"]] == ["met", "not recorded", "pending"]
    service._now.advance(minutes=31)
    assert service.view(cid)["quorum"]["state"] == "inquorate"


def test_conference_service_record_csv_round_trip(service):
    cid, p = _conference(service)
    service.record_action(cid, p["Sam Social"], "arrived_in_person")
    service.record_report(cid, p["Pat Police"])
    text = service.record_csv(cid)
    assert "Sam Social" in text and "2026-11-23" in text


def test_conference_service_tap_computes_the_view_for_after_it_once(service, monkeypatch):
    """A tap computes the chair's view itself, for the clock after the tap; a request that was waiting
    meanwhile gets that view instead of computing one for the moment before (which would be out of
    date at the tap's time, and computed again by every next request)."""
    cid, p = _conference(service)
    service.view(cid)
    service.add_invitee(cid, name="Gail Practitioner", role="gp", direct_contact=True)  # the view computed before is out of date
    builds = []
    build = service._build_view
    monkeypatch.setattr(service, "_build_view", lambda *a: builds.append(a[3]) or build(*a))
    answers = []
    with service.views.building:                   # another request is computing a view
        waiting = threading.Thread(target=lambda: answers.append(service.view(cid)))
        waiting.start()
        time.sleep(0.05)
        service._now.advance(seconds=5)
        service.record_action(cid, p["Sam Social"], "arrived_in_person")
    waiting.join(timeout=5)
    state = {person["name"]: person["state"] for person in answers[0]["people"]}
    assert state["Sam Social"] == "present" and "Gail Practitioner" in state and answers[0]["now"] == "09:30:05"
    assert builds == [service._now()]              # once, by the tap, for the clock after it
    service.record_action(cid, p["Pat Police"], "arrived_virtual")
    assert service.view(cid)["quorum"]["virtual"] == 1 and len(builds) == 2


def test_conference_service_purge_drops_computed_views(service):
    cid, p = _conference(service)
    service.record_action(cid, p["Sam Social"], "arrived_in_person")
    service.view(cid)
    service.end_conference(cid)
    service.view(cid)
    service.purge_conference(cid)
    assert len(service.views) == 0
    with pytest.raises(NotFound):
        service.view(cid)


def test_conference_service_view_is_reused_until_data_or_time_changes(service):
    cid, p = _conference(service, strategy_date="2026-11-02")
    first = service.view(cid)
    assert service.view(cid)["revision"] == first["revision"]  # nothing changed: the same computation
    service._now.advance(seconds=20)
    again = service.view(cid)
    assert again["revision"] == first["revision"] and again["now"] == "09:30:20"  # the clock still moves
    service.record_action(cid, p["Sam Social"], "arrived_in_person")
    changed = service.view(cid)
    assert changed["revision"] != first["revision"]
    assert changed["counts"] != first["counts"] or changed["people"] != first["people"]


def test_conference_service_view_json_is_the_view_encoded_once_per_computation(service, monkeypatch):
    cid, p = _conference(service, strategy_date="2026-11-02")
    encodings = []
    dumps = json.dumps
    monkeypatch.setattr(json, "dumps", lambda obj, **kw: encodings.append(obj) or dumps(obj, **kw))

    def views():  # the quorum part is encoded once per view encoded
        return sum(isinstance(e, dict) and "min_other_agencies" in e for e in encodings)

    def rows():  # a person's row
        return sum(isinstance(e, dict) and "actions" in e for e in encodings)

    assert json.loads(service.view_json(cid)) == service.view(cid)
    service._now.advance(seconds=20)
    again = json.loads(service.view_json(cid))
    assert again == service.view(cid) and again["now"] == "09:30:20"  # the clock moves; the rest is reused
    assert views() == 1 and rows() == 5
    service.record_action(cid, p["Sam Social"], "arrived_in_person")
    after = json.loads(service.view_json(cid))
    assert after == service.view(cid) and "present" in {person["state"] for person in after["people"]}
    assert views() == 2 and rows() == 6  # only the row of the person tapped is encoded again

def _named_conference(service, marker: int) -> int:
    """A conference whose invitees' names (and case reference) carry ``marker``; only its id is returned,
    so that no name outlives this call in the test itself."""
    c = service.create_conference(type="initial", date=DAY, start_time="10:00", case_ref=f"CP-{marker}")
    csv = "".join(f"{first} Q{marker}x,{role},,{contact},{mode},\n" for first, role, contact, mode in (
        ("Sam", "social worker", "", "in person"), ("Pat", "police officer", "yes", "virtual"),
        ("Hana", "health visitor", "yes", "virtual"), ("Ella", "school", "yes", "virtual")))
    people = [i.id for i in service.import_csv(c.id, "name,role,agency,direct_contact,expected_mode,email\n" + csv)]
    service.record_action(c.id, people[0], "arrived_in_person")
    service.record_action(c.id, people[1], "arrived_virtual")
    return c.id


def test_conference_service_purge_leaves_no_name_in_memory(service):
    marker = secrets.randbits(60) | 1 << 60  # unique digits: no other string in the process holds them
    cid = _named_conference(service, marker)
    service.view(cid), service.view_json(cid), service.log_page(cid), service.record(cid), service.record_csv(cid)
    service.list_conferences()
    assert strings_holding(marker)  # the check sees names while the record is there
    purged = []
    service.bus.subscribe(purged.append, ConferencePurged)
    service.purge_conference(cid)
    assert strings_holding(marker) == []
    assert [e.conference_id for e in purged] == [cid]


def test_conference_service_retention_purge_leaves_no_name_in_memory(service):
    marker = secrets.randbits(60) | 1 << 60
    cid = _named_conference(service, marker)
    service.view_json(cid)
    service.end_conference(cid)
    service.view(cid)
    service._now.advance(days=service.settings.retention_days + 1)
    assert service.purge_due() == [cid]
    assert strings_holding(marker) == []


def test_conference_service_a_view_computed_across_a_purge_is_not_kept(service, monkeypatch):
    """A view being computed while the conference is purged (read before, stored after) is not kept."""
    marker = secrets.randbits(60) | 1 << 60
    cid = _named_conference(service, marker)
    build = service._build_view

    def purge_meanwhile(*args):
        view = build(*args)
        service.purge_conference(cid)
        return view

    monkeypatch.setattr(service, "_build_view", purge_meanwhile)
    service._now.advance(minutes=1)
    service.add_invitee(cid, name=f"Gail Q{marker}x", role="gp", direct_contact=True)
    service.view(cid)  # computed from the record read before the purge
    monkeypatch.undo()
    assert len(service.views) == 0
    assert strings_holding(marker) == []


def test_conference_service_tells_the_room_only_through_the_bus(tmp_path):
    """With no room at all the service publishes its counts and start times as events (numbers and times only)."""
    cfg = fast_config().replace("storage", state_dir=str(tmp_path / "state"))
    service = ChairService(cfg, now=Clock())
    heard = []
    service.bus.subscribe(heard.append, RoomRequest)
    try:
        cid, p = _conference(service)
        service.record_action(cid, p["Sam Social"], "arrived_in_person")
    finally:
        service.stop()
    assert heard[0] == StartTimeSet(datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc), at=heard[0].at)
    assert heard[-1] == AttendanceCounted(1, 0, False, at=heard[-1].at)
    assert "Sam" not in repr(heard)


# -- the room's session and the chair's start times (a running room on simulated hardware and mock pins) --------


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def running_room(mock_factory, clock):
    """A started room on the tests' clock, connected to what the chair's record asks of it."""
    cfg = fast_config()
    controller = RoomController(cfg, build_hardware(cfg, simulate=True), now=clock,
                                lights=Lights(cfg.lights, pin_factory=mock_factory), pin_factory=mock_factory)
    controller.start(initial_check=False)
    connect_room(controller)
    try:
        yield controller
    finally:
        controller.stop()


@pytest.fixture
def clocked_chair(tmp_path, running_room, clock):
    cfg = fast_config().replace("storage", state_dir=str(tmp_path / "state"))
    s = ChairService(cfg, running_room.bus, now=clock).start()
    try:
        yield s
    finally:
        s.stop()


def _to_session(room, clock) -> None:
    """Staff press the start button twice: the room checks, then counts down (to its start, if any) and starts."""
    room.press()
    assert wait_for(lambda: room.machine.state.value == "ready", timeout=10)
    room.press()
    if room.machine.state.value == "countdown":
        clock.now = room.start_at()
        room.tick()
    assert room.machine.state.value == "in_session"


def test_conference_service_a_conference_saved_during_an_unplanned_session_counts_down_after_it(
        clocked_chair, running_room, clock):
    _to_session(running_room, clock)
    assert running_room.start_at() is None  # no conference booked: started with the button alone
    clocked_chair.create_conference(type="initial", date=DAY, start_time="14:00", case_ref="CP-1")
    later = datetime(2026, 11, 23, 14, 0, tzinfo=timezone.utc)
    clock.advance(minutes=1)
    running_room.tick()
    countdown = running_room.public_state()["countdown"]
    assert countdown["phase"] == "started" and countdown["label"] == "+01:00"  # from the press: no frozen +00:00
    running_room.press()
    assert running_room.machine.state.value == "ended"
    assert wait_for(lambda: running_room.start_at() == later and running_room.start_source() == "chair")
    clock.advance(minutes=2)
    clocked_chair.housekeeping()
    running_room.tick()
    assert running_room.start_at() == later
    assert running_room.public_state()["countdown"]["message"] == "Conference starts at 14:00"


def test_conference_service_announces_the_next_start_again_when_the_rooms_session_ends(clocked_chair, running_room,
                                                                                      clock):
    clock.now = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)  # saved the day before: not announced then
    clocked_chair.create_conference(type="review", date=DAY, start_time="14:00", case_ref="CP-2")
    clock.now = MONDAY
    clocked_chair.create_conference(type="initial", date=DAY, start_time="10:00", case_ref="CP-1")
    assert running_room.start_at() == datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)
    clocked_chair.housekeeping()  # the room's start is the chair's already: nothing more
    _to_session(running_room, clock)  # the room counted down to 10:00 ...
    clock.advance(minutes=45)
    running_room.press()  # ... and the session ends at 10:45: the start it used is done with
    assert running_room.machine.state.value == "ended"
    assert wait_for(lambda: running_room.start_at() == datetime(2026, 11, 23, 14, 0, tzinfo=timezone.utc))
    assert running_room.start_source() == "chair"


def _second_room(clock):
    cfg = fast_config()
    return RoomController(cfg, build_hardware(cfg, simulate=True), now=clock)


def test_conference_service_a_restart_gives_the_room_the_live_conferences_counts_and_start(tmp_path, cold_room):
    cfg = fast_config().replace("storage", state_dir=str(tmp_path / "state"))
    clock = Clock()
    first = ChairService(cfg, cold_room.bus, now=clock).start()
    connect_room(cold_room)
    try:
        cid, p = _conference(first)
        first.record_action(cid, p["Sam Social"], "arrived_in_person")
        first.record_action(cid, p["Pat Police"], "arrived_virtual")
        first.create_conference(type="review", date=DAY, start_time="15:00", case_ref="CP-9")  # prepared, not live
        # Attendance recorded later, but in conferences that cannot be live: one ended, one of another day.
        ended, q = _conference(first, start_time="08:00", case_ref="CP-7")
        first.record_action(ended, q["Sam Social"], "arrived_in_person")
        first.end_conference(ended)
        other_day, r = _conference(first, date="2026-11-22", case_ref="CP-8")
        first.record_action(other_day, r["Sam Social"], "arrived_in_person")
        clock.advance(minutes=40)
    finally:
        first.stop()
    room = _second_room(clock)  # the kiosk restarted: a new room, which knows nothing
    connect_room(room)
    try:
        assert room.public_state()["attendance"] is None
        second = ChairService(cfg, room.bus, now=clock).start()
        try:
            assert room.public_state()["attendance"] == {"in_person": 1, "virtual": 1, "quorate": False}
            assert room.start_at() == datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)
            assert room.start_source() == "chair"
            second.record_action(cid, p["Hana Visitor"], "arrived_virtual")  # still the live one
            assert room.public_state()["attendance"] == {"in_person": 1, "virtual": 2, "quorate": True}
        finally:
            second.stop()
    finally:
        room.hardware.close()

