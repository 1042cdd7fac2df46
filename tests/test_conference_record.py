"""The attendance record for the minutes and its CSV export."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, time, timedelta, timezone

import pytest

from kiosk.conference.model import Conference, ConferenceType
from kiosk.conference.record import lateness, safe_cell, summarise, to_csv
from kiosk.conference.scenario import Scenario
from kiosk.conference.settings import ConferenceSettings

EVIL = '=HYPERLINK("http://evil.example","click")'


def _meeting(settings=ConferenceSettings()):
    base = Conference(1, ConferenceType.INITIAL, date(2026, 11, 23), time(10, 0), "CP-2026-0142")
    s = Scenario(base, settings=settings)
    # The record is built after the conference ended at 11:00.
    s.conference = Conference(1, ConferenceType.INITIAL, date(2026, 11, 23), time(10, 0), "CP-2026-0142",
                              ended_at=s.at(60))
    p = {
        "chair": s.invite("Chris Chair", "chair"),
        "sw": s.invite("Sam Social", "social worker"),
        "hv": s.invite("Hana Visitor", "health visitor", direct_contact=True),
        "po": s.invite("Pat Police", "police officer", direct_contact=True),
        "school": s.invite("Sue School", "school", direct_contact=True),
        "gp": s.invite("Gil GP", "gp", direct_contact=True),
        "housing": s.invite("Hal Housing", "housing officer", direct_contact=False),
        "probation": s.invite("Pru Probation", "probation officer", direct_contact=True),
        "parent": s.invite(EVIL, "parent"),
    }
    s.add("arrived", p["chair"], -10, mode="in_person")
    s.add("arrived", p["sw"], -5, mode="in_person")
    s.add("arrived", p["parent"], -5, mode="in_person")
    s.add("arrived", p["po"], -2, mode="virtual")
    s.add("arrived", p["school"], -1, mode="virtual")
    s.add("apologies", p["gp"], -30, note="-2+3 clinic")
    s.add("report_received", p["gp"], -30, received_on="2026-11-18")
    s.add("report_received", p["probation"], -30, received_on="2026-11-20")
    s.add("not_attended", p["housing"], 10)
    wrong = s.add("arrived", p["probation"], 3, mode="virtual")
    s.add("arrived", p["hv"], 7, mode="virtual")
    s.add("correction", None, 8, event_id=wrong.id, reason="tapped the wrong name")
    s.add("camera_off", p["school"], 15, note="poor bandwidth")
    s.add("camera_on", p["school"], 18)
    s.add("lost_connection", p["po"], 20)
    s.add("could_not_rejoin", p["po"], 25, emailed_chair=True)
    s.add("left", p["school"], 40, agreed=False)
    s.add("proceed_inquorate", None, 41, reason="Police report shared; delay would harm the child")
    return s, p


def _person(record, name):
    return next(p for p in record["people"] if p["name"] == name)


def test_conference_record_flags_late_left_early_and_could_not_rejoin():
    s, _ = _meeting()
    record = s.record()
    hv = _person(record, "Hana Visitor")
    assert (hv["attendance"], hv["arrived_at"], hv["arrival_mode"], hv["late"], hv["minutes_late"]) == (
        "attended", "10:07", "virtual", True, 7)
    sw = _person(record, "Sam Social")
    assert (sw["late"], sw["arrived_at"], sw["left_early"]) == (False, "09:55", False)
    school = _person(record, "Sue School")
    assert (school["left_early"], school["left_at"], school["left_agreed"]) == (True, "10:40", False)
    assert school["camera_off"] == [{"off_at": "10:15", "on_at": "10:18", "note": "poor bandwidth"}]
    po = _person(record, "Pat Police")
    assert po["connection"] == [{"lost_at": "10:20", "rejoined_at": None, "could_not_rejoin": True,
                                 "emailed_chair": True, "left_at": None}]
    assert po["left_early"] is False
    assert _person(record, "Gil GP")["attendance"] == "apologies"
    assert _person(record, "Gil GP")["notes"] == ["09:30 sent apologies: -2+3 clinic"]
    assert _person(record, "Hal Housing")["attendance"] == "did not attend"
    assert _person(record, "Pru Probation")["attendance"] == "not recorded"   # the arrival was voided


def test_conference_record_reports_on_time_late_and_missing():
    record = _meeting()[0].record()
    assert record["conference"]["report_due"] == "2026-11-18"
    assert _person(record, "Gil GP")["report"] == {"status": "on time", "received_on": "2026-11-18",
                                                   "due": "2026-11-18"}
    assert _person(record, "Pru Probation")["report"]["status"] == "late"
    assert _person(record, "Hana Visitor")["report"]["status"] == "missing"
    assert _person(record, "Chris Chair")["report"]["status"] == "not expected"
    assert _person(record, EVIL)["report"]["status"] == "not expected"


def test_conference_record_counts_quorum_timeline_decisions_and_corrections():
    record = _meeting()[0].record()
    assert record["counts"] == {
        "invited": 9, "attended_in_person": 3, "attended_virtual": 3, "apologies": 1, "not_attended": 1,
        "not_recorded": 1, "late": 1, "left_early": 1, "lost_connection": 1, "could_not_rejoin": 1,
        "camera_off": 1, "reports_on_time": 1, "reports_late": 1, "reports_missing": 5}
    q = record["quorum"]
    assert q["at_start"] == {"at": "10:00", "quorate": True,
                             "reason": "Quorate: children's social care, police and education present"}
    # the police losing connection at 10:20 leaves health (arrived 10:07): quorum goes when the school leaves
    assert [(c["at"], c["label"]) for c in q["changes"]] == [("09:59", "quorate"), ("10:40", "quorum lost")]
    assert q["decisions"] == [{"at": "10:41", "decision": "proceed",
                               "reason": "Police report shared; delay would harm the child", "new_date": None,
                              "late_reason": None}]
    assert q["inquorate_periods"] == [{"from": "10:40", "to": "11:00",
                                       "decision": "Police report shared; delay would harm the child"}]
    assert q["warnings"] == [] and q["proceeded_inquorate"] is True
    assert record["corrections"] == [{"at": "10:08", "reason": "tapped the wrong name",
                                      "voided": "Pru Probation: arrived at 10:03"}]


def test_conference_record_warns_of_inquorate_time_without_a_decision():
    s = Scenario()
    sw = s.invite("Sam", "social worker")
    s.add("arrived", sw, -5, mode="in_person")
    record = s.record()
    assert record["quorum"]["warnings"] == ["Inquorate from 10:00 to the end with no recorded decision to proceed"]


def test_conference_record_uses_local_time_in_summer_and_the_late_grace_setting():
    july = Conference(2, ConferenceType.REVIEW, date(2027, 7, 5), time(10, 0), "CP-9")
    s = Scenario(july, settings=ConferenceSettings(late_after_min=5))
    assert s.start.utcoffset() == timedelta(hours=1)
    sw, hv = s.invite("Sam", "social worker"), s.invite("Hana", "health visitor", direct_contact=True)
    s.add("arrived", sw, 3, mode="in_person")
    s.add("arrived", hv, 6, mode="virtual")
    record = s.record()
    assert _person(record, "Sam")["arrived_at"] == "10:03" and not _person(record, "Sam")["late"]
    assert _person(record, "Hana")["late"] and _person(record, "Hana")["minutes_late"] == 6
    assert record["conference"]["report_due"] == "2027-06-25"   # 5 working days between it and Monday 5 July


def test_conference_record_csv_export_has_the_rows_and_guards_formulas():
    s, _ = _meeting()
    text = to_csv(s.record())
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == ["Conference", "initial child protection conference"]
    assert ["Case reference", "CP-2026-0142"] in rows
    header = rows.index(["Name", "Role", "Agency", "Direct contact", "Expected", "Attendance", "Arrived", "Mode",
                         "Late", "Left early", "Chair agreed", "Connection", "Camera off", "Report",
                         "Report received", "Notes"])
    people = {r[0]: r for r in rows[header + 1:header + 10]}
    assert people["Hana Visitor"][8] == "yes (7 min)"
    assert people["Sue School"][9:11] == ["10:40", "no"]
    assert people["Sue School"][12] == "off 10:15, on 10:18 (poor bandwidth)"
    assert people["Pat Police"][11] == "lost 10:20, could not rejoin (e-mailed the chair)"
    assert people["Pru Probation"][5] == "not recorded"
    # Formula injection: the parent's name and a note starting with "-" stay text.
    assert "'" + EVIL in people
    assert people["Gil GP"][15] == "09:30 sent apologies: -2+3 clinic"
    assert ["10:40", "quorum lost", "Not quorate: needs one more agency with direct contact besides children's "
                                    "social care"] in rows
    assert ["10:08", "Pru Probation: arrived at 10:03", "tapped the wrong name"] in rows
    assert any(r[:2] == ["10:41", "proceed"] for r in rows)
    for row in rows:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell


@pytest.mark.parametrize("value, cell", [
    ("=1+1", "'=1+1"), ("+44 20 7946 0000", "'+44 20 7946 0000"), ("-5", "'-5"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\tTAB", "'\tTAB"), ("Plain", "Plain"), (None, ""), (True, "yes"), (False, "no"), (7, "7"),
])
def test_conference_record_safe_cell(value, cell):
    assert safe_cell(value) == cell


def test_conference_record_summary_is_anonymous():
    s, p = _meeting()
    summary = summarise(s.record())
    text = repr(summary)
    for invitee in p.values():
        assert invitee.name not in text
    for secret in ("CP-2026-0142", "poor bandwidth", "clinic", "tapped the wrong name", "Police report shared"):
        assert secret not in text
    assert summary["counts"]["late"] == 1 and summary["proceeded_inquorate"] is True
    assert summary["invited_by_agency"]["health"] == 2


@pytest.mark.parametrize("after_s, expected", [
    (27, (27, 1, "27 s")),     # D6: under a minute in seconds, not "1 min"
    (59.9, (59, 1, "59 s")),
    (60, (60, 1, "1 min")),
    (61, (61, 2, "2 min")),   # from a minute on, started minutes as before
    (0.4, (0, 1, "0 s")),
])
def test_conference_record_lateness_under_a_minute_is_in_seconds(after_s, expected):
    start = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)
    assert lateness(start + timedelta(seconds=after_s), start, True) == expected
    assert lateness(start + timedelta(seconds=after_s), start, False) == (None, None, None)
