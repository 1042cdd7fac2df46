"""ChairService: what the room controller is given (counts, start time), the live conference, sign-in
checks, pairing codes, the chair's view, and retention."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timezone

import pytest

from chair_web import CSV, DAY, MONDAY, PIN, Clock, Seconds
from kiosk.conference.errors import InvalidInput, NotFound, PinLockedOut
from kiosk.conference.service import ACTIONS, PAIRING_ALPHABET, ChairService, PinNotSet
from web import fast_config


@pytest.fixture
def service(tmp_path, cold_room):
    cfg = fast_config().replace("storage", state_dir=str(tmp_path / "state"))
    s = ChairService(cfg, cold_room, now=Clock(), monotonic=Seconds())
    s.pins.save(PIN)
    try:
        yield s
    finally:
        s.stop()


def _conference(service, **fields):
    c = service.create_conference(**({"type": "initial", "date": DAY, "start_time": "10:00",
                                      "case_ref": "CP-2026-0142"} | fields))
    people = {i.name: i.id for i in service.import_csv(c.id, CSV)}
    return c.id, people


def _attendance(service):
    return service.controller.public_state()["attendance"]


def test_conference_service_gives_the_room_counts_after_every_change(service):
    cid, p = _conference(service)
    assert _attendance(service) is None  # nothing recorded yet
    service.record_action(cid, p["Sam Social"], "arrived_in_person")
    assert _attendance(service) == {"in_person": 1, "virtual": 0, "quorate": False}
    service.record_action(cid, p["Pat Police"], "arrived_virtual")
    service.record_action(cid, p["Hana Visitor"], "arrived_virtual")
    assert _attendance(service) == {"in_person": 1, "virtual": 2, "quorate": True}
    service._now.advance(minutes=40)
    event = service.record_action(cid, p["Hana Visitor"], "lost_connection")
    assert _attendance(service) == {"in_person": 1, "virtual": 1, "quorate": False}
    service.correct_event(cid, event.id, "wrong row")
    assert _attendance(service) == {"in_person": 1, "virtual": 2, "quorate": True}


def test_conference_service_revision_moves_so_the_display_and_mqtt_hear_of_it(service):
    cid, p = _conference(service)
    before = service.controller.version
    service.record_action(cid, p["Sam Social"], "arrived_in_person")
    assert service.controller.version > before


def test_conference_service_another_days_events_do_not_reach_the_room(service):
    cid, p = _conference(service, date="2026-11-16")
    service.record_action(cid, p["Sam Social"], "arrived_in_person")
    assert _attendance(service) is None


def test_conference_service_sets_todays_start_and_clears_it_when_moved(service):
    c = service.create_conference(type="initial", date=DAY, start_time="10:00", case_ref="CP-1")
    assert service.controller.start_at() == datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)
    assert service.controller.start_source() == "chair"
    service.update_conference(c.id, date="2026-11-25")
    assert service.controller.start_source() is None


def test_conference_service_announces_the_next_start_on_the_day(service):
    service._now.now = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)  # saved the day before
    service.create_conference(type="review", date=DAY, start_time="14:00", case_ref="CP-2")
    assert service.controller.start_source() is None
    service._now.now = MONDAY
    service.housekeeping()
    assert service.controller.start_at() == datetime(2026, 11, 23, 14, 0, tzinfo=timezone.utc)
    service.controller.set_start(None, "chair")  # e.g. the room's session ended early
    service.housekeeping()
    assert service.controller.start_source() is None  # announced once, not forced back


def test_conference_service_end_resets_the_room(service):
    cid, p = _conference(service)
    service.record_action(cid, p["Sam Social"], "arrived_in_person")
    service.end_conference(cid)
    assert _attendance(service) == {"in_person": 0, "virtual": 0, "quorate": False}
    assert service.controller.start_source() is None


def test_conference_service_purge_resets_the_room_and_keeps_counts(service):
    cid, p = _conference(service)
    service.record_action(cid, p["Sam Social"], "arrived_in_person")
    summary = service.purge_conference(cid)
    assert summary["counts"]["invited"] == 5
    assert _attendance(service)["in_person"] == 0
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


def test_conference_service_pin_checks_and_lockout(service):
    assert service.check_pin("a", PIN) is True
    assert service.check_pin("a", "999990") is False
    assert service.check_pin("a", None) is False
    assert service.check_pin("a", "9" * 10_000) is False
    for _ in range(2):  # five wrong in all
        service.check_pin("a", "999990")
    with pytest.raises(PinLockedOut):
        service.check_pin("a", PIN)
    service.pins.clear()
    with pytest.raises(PinNotSet):
        service.check_pin("b", PIN)


def test_conference_service_pin_epoch_changes_with_the_pin(service):
    first = service.pin_epoch()
    assert first and service.pin_epoch() == first
    service.pins.save("731864")
    assert service.pin_epoch() not in (None, first)
    service.pins.clear()
    assert service.pin_epoch() is None


def test_conference_service_pairing_codes_are_short_lived_and_single_use(service):
    code, ttl = service.new_pairing_code()
    assert len(code) == 8 and set(code) <= set(PAIRING_ALPHABET) and ttl == 300
    assert service.check_pairing_code("t", code[:4] + " " + code[4:].lower()) is True
    assert service.check_pairing_code("t", code) is False
    code, _ = service.new_pairing_code()
    service._monotonic.advance(301)
    assert service.check_pairing_code("t", code) is False
    for bad in (None, "", "0O1IL000", "x" * 1000):
        assert service.check_pairing_code("u", bad) is False


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
    monkeypatch.setattr(service, "_build_view", lambda *a: builds.append(a[1]) or build(*a))
    answers = []
    with service._building:                        # another request is computing a view
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
    assert service._views == {}
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