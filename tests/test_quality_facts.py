"""The facts of one conference: a pure function of its record, its timescales and the room's checks."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from kiosk.conference.model import (Agency, Conference, ConferenceType, Event, EventKind, Invitee, Mode, Role,
                                    Status)
from kiosk.conference.record import build_record
from kiosk.quality import facts

START = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)


def _conference(**kw):
    return Conference(1, ConferenceType.INITIAL, START.date(), START.time(), "CP-1", status=Status.ENDED,
                      ended_at=START + timedelta(minutes=60), **kw)


def _people():
    return [Invitee(1, 1, "Sam Social", Role.SOCIAL_WORKER, Agency.CHILDRENS_SOCIAL_CARE, True, Mode.IN_PERSON),
            Invitee(2, 1, "Pat Police", Role.POLICE_OFFICER, Agency.POLICE, True, Mode.VIRTUAL),
            Invitee(3, 1, "Chris Chair", Role.CHAIR, Agency.CHILDRENS_SOCIAL_CARE, False, Mode.IN_PERSON),
            Invitee(4, 1, "Mary Parent", Role.PARENT_CARER, Agency.PARENT_CARER, False, Mode.IN_PERSON)]


def _events():
    at = lambda m: START + timedelta(minutes=m)  # noqa: E731
    return [Event(1, 1, 1, EventKind.ARRIVED, at(-5), {"mode": "in_person"}),
            Event(2, 1, 3, EventKind.ARRIVED, at(-5), {"mode": "in_person"}),
            Event(3, 1, 4, EventKind.ARRIVED, at(-5), {"mode": "in_person"}),
            Event(4, 1, 2, EventKind.ARRIVED, at(4), {"mode": "virtual"}),
            Event(5, 1, 2, EventKind.LOST_CONNECTION, at(20), {}),
            Event(6, 1, None, EventKind.STARTED, at(2), {})]


def _extract(checks=(), timescales=()):
    record = build_record(_conference(), _people(), _events(), tz="UTC")
    return facts.extract(record, list(timescales), list(checks), START)


def test_facts_count_professionals_per_agency_never_the_chair_or_family():
    f = _extract()
    assert set(f["agencies"]) == {"childrens_social_care", "police"}
    assert f["agencies"]["childrens_social_care"]["invited"] == 1  # the social worker, not the chair
    police = f["agencies"]["police"]
    assert (police["online"], police["late"], police["late_min"], police["lost_connection"], police["whole"]) == \
        (1, 1, 4, 1, 0)  # still disconnected at the end: not the whole meeting
    assert f["hybrid"] is True and f["start_delay_min"] == 2 and f["started_on_time"] is False
    assert f["duration_min"] == 58


def test_facts_hold_no_names_case_reference_or_free_text():
    text = repr(_extract())
    for secret in ("Sam", "Pat", "Chris", "Mary", "CP-1"):
        assert secret not in text


def test_facts_room_ready_from_the_last_cycle_before_the_start():
    before = [facts.CheckOutcome(START - timedelta(minutes=40), "camera", "fail"),
              facts.CheckOutcome(START - timedelta(minutes=40), "microphone", "pass"),
              facts.CheckOutcome(START - timedelta(minutes=5), "camera", "pass"),
              facts.CheckOutcome(START - timedelta(minutes=5), "microphone", "warn"),
              facts.CheckOutcome(START + timedelta(minutes=5), "display", "fail")]  # after the start: not counted
    f = _extract(before)
    assert f["room_ready"] is True and f["checks_failed_before"] == ["camera"]
    assert _extract(before[:2])["room_ready"] is False
    assert _extract([facts.CheckOutcome(START - timedelta(hours=2), "camera", "pass")])["room_ready"] is None


def test_facts_timescale_of_the_meeting_held_that_day():
    held = [{"name": "the first core group (within 10 working days of the initial conference)",
             "held": None, "status": "not recorded"},
            {"name": "the initial conference (within 15 working days of the strategy discussion)",
             "held": "2026-11-23", "status": "missed"}]
    assert _extract(timescales=held)["timescale"] == "missed"
    assert _extract()["timescale"] == "not known"


def test_facts_taken_again_keep_the_room_readiness_once_the_check_history_is_gone():
    # A report received weeks after the end: the check history (kept for days) no longer covers the start.
    record = build_record(_conference(), _people(), _events(), tz="UTC")
    taken = _extract([facts.CheckOutcome(START - timedelta(minutes=40), "camera", "fail"),
                      facts.CheckOutcome(START - timedelta(minutes=40), "microphone", "pass")])
    assert (taken["room_ready"], taken["checks_failed_before"]) == (False, ["camera"])
    again = facts.extract(record, [], [], START, earlier=taken)
    assert (again["room_ready"], again["checks_failed_before"]) == (False, ["camera"])
    # History that still covers the start is read again; facts kept for another booked start say nothing.
    passed = [facts.CheckOutcome(START - timedelta(minutes=5), "camera", "pass")]
    assert facts.extract(record, [], passed, START, earlier=taken)["room_ready"] is True
    moved = {**taken, "booked_start": "09:00"}
    assert facts.extract(record, [], [], START, earlier=moved)["room_ready"] is None
