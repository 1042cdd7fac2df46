"""The chair's page and JSON API: conferences, invitation lists, live attendance, quorum, reports,
timescales, the record, purge, and what the room display is allowed to see (counts, never names)."""

from __future__ import annotations

import csv
import io
import logging
import re
import secrets

import pytest

from chair_web import CSV, DAY, NAMES, answers_not_kept, make_chair, restarted
from held import strings_holding
from kiosk.conference.errors import StorageError, StorageFull
from test_web_display import inventory


def _setup(chair, **fields):
    """A conference with the CSV's five invitees; returns (conference id, {name: invitee id})."""
    view = chair.conference(**fields)
    cid = view["conference"]["id"]
    added = chair.invite_csv(cid)
    return cid, {i["name"]: i["id"] for i in added}


def _tap(chair, cid, invitee_id, action, token=None):
    return chair.client.post(f"/chair/conferences/{cid}/tap", data={"tap": f"{invitee_id}:{action}",
                                                                    "csrf_token": token or chair.token},
                             headers={"X-Chair-Fragment": "live"})


def _public(chair):
    return chair.controller.public_state()["attendance"]


# -- conferences -------------------------------------------------------------------------

def test_web_chair_create_conference_sets_todays_start_for_the_countdown(signed_in):
    view = signed_in.conference()
    assert view["conference"]["case_ref"] == "CP-2026-0142" and view["conference"]["is_today"]
    assert view["quorum"]["state"] == "waiting"
    assert signed_in.controller.start_source() == "chair"
    assert signed_in.controller.start_at().isoformat() == "2026-11-23T10:00:00+00:00"
    listed = signed_in.client.get("/api/conferences").get_json()["conferences"]
    assert [c["id"] for c in listed] == [view["conference"]["id"]]


def test_web_chair_a_later_day_does_not_touch_the_countdown(signed_in):
    signed_in.conference(date="2026-11-30")
    assert signed_in.controller.start_source() is None


def test_web_chair_create_answers_201_with_its_location(signed_in):
    response = signed_in.api("POST", "/api/conferences", {"type": "review", "date": DAY, "start_time": "14:30",
                                                          "case_ref": "CP-2026-7"})
    assert response.status_code == 201
    assert response.headers["Location"] == f"/api/conferences/{response.get_json()['conference']['id']}"


@pytest.mark.parametrize("body, message", [
    ({"type": "initial", "date": DAY, "start_time": "10:00"}, "missing field(s) 'case_ref'"),
    ({"type": "initial", "date": DAY, "start_time": "10:00", "case_ref": "Jane Smith"}, "never a name"),
    ({"type": "initial", "date": "23/11/2026", "start_time": "10:00", "case_ref": "CP-1"}, "YYYY-MM-DD"),
    ({"type": "initial", "date": DAY, "start_time": "25:00", "case_ref": "CP-1"}, "HH:MM"),
    ({"type": "core group", "date": DAY, "start_time": "10:00", "case_ref": "CP-1"}, "unknown conference type"),
    ({"type": "initial", "date": DAY, "start_time": "10:00", "case_ref": "CP-1", "child": "x"}, "unknown field"),
    ({"type": "initial", "date": DAY, "start_time": "10:00", "case_ref": "CP-1",
      "previous_icpc_date": "2026-01-01"}, "only a review"),
    ({"type": "initial", "date": DAY, "start_time": "10:00", "case_ref": 42}, "case reference"),
])
def test_web_chair_bad_conference_input_is_a_400_and_nothing_is_stored(signed_in, body, message):
    response = signed_in.api("POST", "/api/conferences", body)
    assert response.status_code == 400
    assert message in response.get_json()["error"]
    assert signed_in.client.get("/api/conferences").get_json()["conferences"] == []


def test_web_chair_non_json_bodies_are_refused(signed_in):
    response = signed_in.client.post("/api/conferences", data="type=initial", headers=signed_in.headers(),
                                     content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    response = signed_in.client.post("/api/conferences", data="{", headers=signed_in.headers(),
                                     content_type="application/json")
    assert response.status_code == 400 and "not valid JSON" in response.get_json()["error"]


def test_web_chair_patch_conference_and_unknown_ids(signed_in):
    cid = signed_in.conference()["conference"]["id"]
    response = signed_in.api("PATCH", f"/api/conferences/{cid}", {"start_time": "10:30"})
    assert response.status_code == 200 and response.get_json()["conference"]["start_time"] == "10:30"
    assert signed_in.controller.start_at().strftime("%H:%M") == "10:30"
    assert signed_in.api("PATCH", f"/api/conferences/{cid}", {}).status_code == 400
    missing = signed_in.api("PATCH", "/api/conferences/999", {"start_time": "10:30"})
    assert missing.status_code == 404 and "does not exist" in missing.get_json()["error"]
    assert signed_in.client.get("/api/conferences/999").status_code == 404
    assert signed_in.client.get("/api/conferences/999/record.csv").status_code == 404
    # Moving today's conference to another day takes its start off the countdown.
    signed_in.api("PATCH", f"/api/conferences/{cid}", {"date": "2026-11-24"})
    assert signed_in.controller.start_source() is None


def test_web_chair_page_creates_a_conference_from_the_form(signed_in):
    token = signed_in.page_token()
    response = signed_in.client.post("/chair/conferences", data={
        "csrf_token": token, "type": "initial", "date": DAY, "start_time": "10:00", "case_ref": "CP-2026-0142",
        "strategy_date": "", "previous_icpc_date": ""})
    assert response.status_code == 303
    page = signed_in.client.get(response.headers["Location"].split("#")[0])
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Conference created" in html and "CP-2026-0142" in html
    bad = signed_in.client.post("/chair/conferences", data={"csrf_token": token, "type": "initial", "date": DAY,
                                                            "start_time": "10:00", "case_ref": "Jane Smith"},
                                follow_redirects=True)
    assert "never a name" in bad.get_data(as_text=True)


# -- invitees ----------------------------------------------------------------------------

def test_web_chair_invitees_add_change_remove(signed_in):
    cid = signed_in.conference()["conference"]["id"]
    added = signed_in.api("POST", f"/api/conferences/{cid}/invitees",
                          {"name": "Dr Gil Green", "role": "GP", "direct_contact": "yes"})
    assert added.status_code == 201
    invitee = added.get_json()["invitee"]
    assert (invitee["role"], invitee["agency"], invitee["expected_mode"]) == ("gp", "health", "virtual")
    duplicate = signed_in.api("POST", f"/api/conferences/{cid}/invitees",
                              {"name": "dr gil green", "role": "gp", "direct_contact": "yes"})
    assert duplicate.status_code == 400 and "already on the invitation list" in duplicate.get_json()["error"]
    no_contact = signed_in.api("POST", f"/api/conferences/{cid}/invitees", {"name": "P", "role": "police"})
    assert no_contact.status_code == 400 and "direct contact must be yes or no" in no_contact.get_json()["error"]
    changed = signed_in.api("PATCH", f"/api/conferences/{cid}/invitees/{invitee['id']}", {"expected_mode": "in person"})
    assert changed.get_json()["invitee"]["expected_mode"] == "in_person"
    other = signed_in.conference(date="2026-11-24")["conference"]["id"]
    assert signed_in.api("DELETE", f"/api/conferences/{other}/invitees/{invitee['id']}").status_code == 404
    removed = signed_in.api("DELETE", f"/api/conferences/{cid}/invitees/{invitee['id']}")
    assert removed.status_code == 200 and removed.get_json()["view"]["people"] == []
    assert signed_in.api("DELETE", f"/api/conferences/{cid}/invitees/{invitee['id']}").status_code == 404


def test_web_chair_invitees_with_events_keep_their_role(signed_in):
    cid, ids = _setup(signed_in)
    signed_in.event(cid, "arrived", ids["Pat Police"], mode="virtual")
    refused = signed_in.api("PATCH", f"/api/conferences/{cid}/invitees/{ids['Pat Police']}", {"role": "gp"})
    assert refused.status_code == 409
    assert signed_in.api("DELETE", f"/api/conferences/{cid}/invitees/{ids['Pat Police']}").status_code == 409
    renamed = signed_in.api("PATCH", f"/api/conferences/{cid}/invitees/{ids['Pat Police']}", {"name": "Pat Police-Smith"})
    assert renamed.status_code == 200


def test_web_chair_csv_import_good_and_text_csv(signed_in):
    cid = signed_in.conference()["conference"]["id"]
    response = signed_in.api("POST", f"/api/conferences/{cid}/invitees/csv", {"csv": CSV})
    assert response.status_code == 201
    people = response.get_json()["view"]["people"]
    assert [p["name"] for p in people] == list(NAMES)
    assert [p["expected_mode"] for p in people] == ["in_person", "virtual", "virtual", "virtual", "in_person"]
    other = signed_in.conference(date="2026-11-30")["conference"]["id"]
    raw = signed_in.client.post(f"/api/conferences/{other}/invitees/csv", data="name,role\nSam,social worker\n",
                                headers=signed_in.headers(), content_type="text/csv")
    assert raw.status_code == 201 and raw.get_json()["added"][0]["name"] == "Sam"


@pytest.mark.parametrize("text, problems", [
    ("Sam,social worker\n", [{"row": 1, "message": "the header must name the column(s) name, role (headings: name, "
                                                   "role, agency, direct_contact, expected_mode, email; is the header "
                                                   "row missing?)"}]),
    ("name,role,direct_contact\nSam,social worker,\nPat,police officer,\nAna,astronaut,yes\n",
     [{"row": 3, "message": "direct contact must be yes or no: it decides whether this professional counts "
                            "towards quorum"},
      {"row": 4, "message": "unknown role (known: chair, note-taker, social worker, team manager, health visitor, "
                            "school nurse, GP, paediatrician, midwife, mental health, other health professional, "
                            "police officer, school, early years, probation officer, housing officer, parent or "
                            "carer, child or young person, advocate, interpreter, other professional)"}]),
    ("", [{"row": 0, "message": "the file is empty"}]),
])
def test_web_chair_csv_import_bad_rows_are_listed_and_nothing_is_imported(signed_in, text, problems):
    cid = signed_in.conference()["conference"]["id"]
    response = signed_in.api("POST", f"/api/conferences/{cid}/invitees/csv", {"csv": text})
    assert response.status_code == 400
    body = response.get_json()
    assert body["problems"] == problems and body["error"].startswith("Nothing was imported")
    assert signed_in.client.get(f"/api/conferences/{cid}").get_json()["people"] == []


def test_web_chair_csv_upload_through_the_page_reads_windows_spreadsheets(signed_in):
    cid = signed_in.conference()["conference"]["id"]
    data = "name,role\nZoë Brontë,social worker\n".encode("cp1252")
    response = signed_in.client.post(f"/chair/conferences/{cid}/invitees/csv", data={
        "csrf_token": signed_in.token, "csv": "", "file": (io.BytesIO(data), "list.csv", "text/csv")},
        content_type="multipart/form-data", headers={"X-Chair-Fragment": "live"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Zoë Brontë" in html and "1 invitee(s) imported." in html


def test_web_chair_csv_paste_errors_show_on_the_page_without_javascript(signed_in):
    cid = signed_in.conference()["conference"]["id"]
    response = signed_in.client.post(f"/chair/conferences/{cid}/invitees/csv",
                                     data={"csrf_token": signed_in.token, "csv": "name,role\nSam,astronaut\n"},
                                     follow_redirects=True)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Nothing was imported: row 2: unknown role" in html


def test_web_chair_copy_from_the_previous_conference_of_the_case(signed_in):
    old, _ = _setup(signed_in, date="2026-08-24", case_ref="CP-2026-0099")
    new = signed_in.conference(type="review", date=DAY, case_ref="CP-2026-0099")["conference"]["id"]
    view = signed_in.client.get(f"/api/conferences/{new}").get_json()
    assert view["conference"]["previous_available"] is True
    response = signed_in.api("POST", f"/api/conferences/{new}/invitees/copy-previous")
    assert response.status_code == 201
    assert [i["name"] for i in response.get_json()["added"]] == list(NAMES)
    again = signed_in.api("POST", f"/api/conferences/{new}/invitees/copy-previous", {})
    assert again.status_code == 201 and again.get_json()["added"] == []
    lonely = signed_in.conference(case_ref="CP-2026-0500")["conference"]["id"]
    none = signed_in.api("POST", f"/api/conferences/{lonely}/invitees/copy-previous")
    assert none.status_code == 404 and "No earlier conference" in none.get_json()["error"]
    assert old != new


# -- live attendance ---------------------------------------------------------------------

def test_web_chair_quorum_is_shown_and_updated_when_someone_leaves(signed_in):
    cid, ids = _setup(signed_in)
    for name, action in (("Sam Social", "arrived_in_person"), ("Mary Parent", "arrived_in_person"),
                         ("Pat Police", "arrived_virtual")):
        assert _tap(signed_in, cid, ids[name], action).status_code == 200
    html = _tap(signed_in, cid, ids["Hana Visitor"], "arrived_virtual").get_data(as_text=True)
    assert 'data-quorate="true"' in html and "</span>Quorate</p>" in html
    assert ">Children&#39;s social care, health and police present<" in html
    assert _public(signed_in) == {"in_person": 2, "virtual": 2, "quorate": True}

    signed_in.now.advance(minutes=50)
    left = _tap(signed_in, cid, ids["Pat Police"], "left_not_agreed").get_data(as_text=True)
    assert 'data-quorate="false"' in left
    assert ">Needs one more agency with direct contact besides children&#39;s social care<" in left
    assert "Left at 10:20 (chair did not agree)" in left
    assert _public(signed_in) == {"in_person": 2, "virtual": 1, "quorate": False}
    quorum = signed_in.client.get(f"/api/conferences/{cid}/quorum").get_json()
    assert quorum["quorum"]["quorate"] is False and quorum["quorum"]["needed"] == 1
    assert [(c["at"], c["label"]) for c in quorum["timeline"]["changes"]] == [("09:30", "quorate"),
                                                                               ("10:20", "quorum lost")]


def test_web_chair_lost_connection_counts_at_once_and_rejoining_restores(signed_in):
    cid, ids = _setup(signed_in)
    for name, action in (("Sam Social", "arrived_in_person"), ("Pat Police", "arrived_virtual"),
                         ("Hana Visitor", "arrived_virtual")):
        _tap(signed_in, cid, ids[name], action)
    assert _public(signed_in)["quorate"] is True
    html = _tap(signed_in, cid, ids["Hana Visitor"], "lost_connection").get_data(as_text=True)
    assert "Connection lost at 09:30" in html
    assert _public(signed_in) == {"in_person": 1, "virtual": 1, "quorate": False}
    _tap(signed_in, cid, ids["Hana Visitor"], "rejoined")
    assert _public(signed_in)["quorate"] is True
    _tap(signed_in, cid, ids["Hana Visitor"], "lost_connection")
    html = _tap(signed_in, cid, ids["Hana Visitor"], "could_not_rejoin_emailed").get_data(as_text=True)
    assert "Could not rejoin (emailed the chair)" in html


def test_web_chair_taps_offer_only_what_fits(signed_in):
    cid, ids = _setup(signed_in)
    view = signed_in.client.get(f"/api/conferences/{cid}").get_json()
    police = next(p for p in view["people"] if p["name"] == "Pat Police")
    assert police["actions"] == ["arrived_in_person", "arrived_virtual", "apologies", "not_attended"]
    _tap(signed_in, cid, ids["Pat Police"], "arrived_virtual")
    view = signed_in.client.get(f"/api/conferences/{cid}").get_json()
    police = next(p for p in view["people"] if p["name"] == "Pat Police")
    assert police["actions"] == ["lost_connection", "camera_off", "left_agreed", "left_not_agreed"]
    assert police["undo"]["label"] == "arrived at 09:30"
    refused = _tap(signed_in, cid, ids["Pat Police"], "rejoined")
    assert refused.status_code == 400
    assert refused.get_json() == {"error": "cannot record 'rejoined': this invitee has not lost connection"}


def test_web_chair_late_arrival_is_flagged_against_the_start(signed_in):
    cid, ids = _setup(signed_in)
    signed_in.now.advance(minutes=37)  # 10:07, seven minutes after the 10:00 start
    html = _tap(signed_in, cid, ids["Pat Police"], "arrived_virtual").get_data(as_text=True)
    assert "Online since 10:07" in html and "Late 7 min" in html
    person = next(p for p in signed_in.client.get(f"/api/conferences/{cid}").get_json()["people"]
                  if p["name"] == "Pat Police")
    assert (person["late"], person["minutes_late"]) == (True, 7)


def test_web_chair_events_are_time_stamped_by_the_kiosk_and_append_only(signed_in):
    cid, ids = _setup(signed_in)
    dated = signed_in.api("POST", f"/api/conferences/{cid}/events",
                          {"kind": "arrived", "invitee_id": ids["Sam Social"], "details": {"mode": "in_person"},
                           "at": "2026-11-23T08:00:00Z"})
    assert dated.status_code == 400 and "kiosk's clock" in dated.get_json()["error"]
    event = signed_in.event(cid, "arrived", ids["Sam Social"], mode="in_person")
    assert event.status_code == 201
    body = event.get_json()["event"]
    assert body["at"] == "2026-11-23T09:30:00+00:00" and body["kind"] == "arrived"
    for bad, message in (({"kind": "arrived", "invitee_id": ids["Sam Social"], "details": {"mode": "in_person"}},
                          "is already present"),
                         ({"kind": "arrived", "invitee_id": ids["Pat Police"], "details": {}}, "needs mode"),
                         ({"kind": "teleported", "invitee_id": ids["Pat Police"]}, "unknown event kind"),
                         ({"kind": "arrived", "invitee_id": "2", "details": {"mode": "virtual"}}, "whole number"),
                         ({"kind": "arrived", "invitee_id": 999, "details": {"mode": "virtual"}}, "not invited"),
                         ({"kind": "started", "details": []}, "details must be a JSON object")):
        response = signed_in.api("POST", f"/api/conferences/{cid}/events", bad)
        assert response.status_code == 400, bad
        assert message in response.get_json()["error"]
    assert len(signed_in.client.get(f"/api/conferences/{cid}").get_json()["events"]) == 1


def test_web_chair_corrections_void_an_event_and_the_log_keeps_both(signed_in):
    cid, ids = _setup(signed_in)
    for name in ("Sam Social", "Pat Police", "Hana Visitor"):
        signed_in.event(cid, "arrived", ids[name], mode="virtual" if name != "Sam Social" else "in_person")
    wrong = signed_in.event(cid, "left", ids["Hana Visitor"], agreed=True).get_json()["event"]["id"]
    assert _public(signed_in)["quorate"] is False
    no_reason = signed_in.api("POST", f"/api/conferences/{cid}/events/{wrong}/correction", {"reason": ""})
    assert no_reason.status_code == 400
    fixed = signed_in.api("POST", f"/api/conferences/{cid}/events/{wrong}/correction",
                          {"reason": "tapped the wrong row"})
    assert fixed.status_code == 201
    view = fixed.get_json()["view"]
    assert view["quorum"]["quorate"] is True and _public(signed_in)["quorate"] is True
    voided = next(e for e in view["events"] if e["id"] == wrong)
    assert voided["voided"] is True and voided["correctable"] is False
    correction = fixed.get_json()["event"]
    assert correction["kind"] == "correction" and correction["details"]["event_id"] == wrong
    twice = signed_in.api("POST", f"/api/conferences/{cid}/events/{wrong}/correction", {"reason": "again"})
    assert twice.status_code == 400 and "already been corrected" in twice.get_json()["error"]
    of_correction = signed_in.api("POST", f"/api/conferences/{cid}/events/{correction['id']}/correction",
                                  {"reason": "x"})
    assert of_correction.status_code == 400
    assert signed_in.api("POST", f"/api/conferences/{cid}/events/999/correction", {"reason": "x"}).status_code == 404


def test_web_chair_live_page_shows_the_latest_log_entries_and_links_the_whole_log(signed_in):
    """The live part goes back to the tablet after every tap: its log stays the same length however long
    the conference runs, and the whole log, each entry correctable, has a page of its own."""
    from web_ui.chair import LIVE_LOG_ROWS

    cid, ids = _setup(signed_in)
    signed_in.event(cid, "arrived", ids["Pat Police"], mode="virtual")
    for n in range(LIVE_LOG_ROWS + 4):
        assert _tap(signed_in, cid, ids["Pat Police"], "camera_off" if n % 2 == 0 else "camera_on").status_code == 200
    view = signed_in.api("GET", f"/api/conferences/{cid}").get_json()
    assert len(view["events"]) == LIVE_LOG_ROWS and view["events_total"] == LIVE_LOG_ROWS + 5
    events = signed_in.api("GET", f"/api/conferences/{cid}/events").get_json()["events"]
    assert len(events) == LIVE_LOG_ROWS + 5
    live = _tap(signed_in, cid, ids["Pat Police"], "camera_off").get_data(as_text=True)
    assert live.count('class="log-row') == LIVE_LOG_ROWS
    assert f'id="event-{events[0]["id"] + 1}"' in live  # the newest entry (this tap) first
    assert f'id="event-{events[-1]["id"]}"' not in live  # the oldest only on the whole log
    assert f"The latest {LIVE_LOG_ROWS} of {LIVE_LOG_ROWS + 6} entries" in live
    assert f'href="/chair/conferences/{cid}/log"' in live
    page = signed_in.client.get(f"/chair/conferences/{cid}/log")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    html = page.get_data(as_text=True)
    assert html.count('class="log-row') == LIVE_LOG_ROWS + 6 and f'id="event-{events[-1]["id"]}"' in html
    assert "data-live" not in html and html.count('name="back" value="log"') == LIVE_LOG_ROWS + 6


def test_web_chair_a_correction_from_the_whole_log_returns_to_it(signed_in):
    cid, ids = _setup(signed_in)
    first = signed_in.event(cid, "arrived", ids["Pat Police"], mode="virtual").get_json()["event"]["id"]
    token = signed_in.page_token()
    missing = signed_in.client.post(f"/chair/conferences/{cid}/corrections",
                                    data={"csrf_token": token, "event_id": first, "reason": "", "back": "log"})
    assert missing.status_code == 303 and missing.headers["Location"].endswith(f"/chair/conferences/{cid}/log")
    refused = signed_in.client.get(f"/chair/conferences/{cid}/log").get_data(as_text=True)
    assert re.search(r'class="flash flash-error"[^>]*>[^<]*needs a reason', refused), refused[:2000]
    done = signed_in.client.post(f"/chair/conferences/{cid}/corrections",
                                 data={"csrf_token": token, "event_id": first, "reason": "wrong row", "back": "log"})
    assert done.status_code == 303 and done.headers["Location"].endswith(f"/chair/conferences/{cid}/log")
    html = signed_in.client.get(f"/chair/conferences/{cid}/log").get_data(as_text=True)
    assert "Correction recorded." in html and f'class="log-row is-voided" id="event-{first}"' in html
    assert signed_in.client.get(f"/chair/conferences/{cid + 1}/log").status_code == 404


def test_web_chair_undo_button_voids_the_last_tap(signed_in):
    cid, ids = _setup(signed_in)
    _tap(signed_in, cid, ids["Pat Police"], "arrived_in_person")
    person = next(p for p in signed_in.client.get(f"/api/conferences/{cid}").get_json()["people"]
                  if p["name"] == "Pat Police")
    response = signed_in.client.post(f"/chair/conferences/{cid}/corrections", data={
        "csrf_token": signed_in.token, "event_id": person["undo"]["event_id"],
        "reason": "Tapped in error (undone by the chair)"}, headers={"X-Chair-Fragment": "live"})
    assert response.status_code == 200
    assert 'id="status-%d">Not arrived<' % ids["Pat Police"] in response.get_data(as_text=True)


def test_web_chair_decision_to_proceed_needs_a_reason_and_an_inquorate_meeting(signed_in):
    cid, ids = _setup(signed_in)
    signed_in.now.advance(minutes=35)
    signed_in.event(cid, "arrived", ids["Sam Social"], mode="in_person")
    signed_in.event(cid, "arrived", ids["Pat Police"], mode="virtual")
    view = signed_in.client.get(f"/api/conferences/{cid}").get_json()
    assert view["quorum"]["state"] == "inquorate"
    page = signed_in.client.get(f"/chair/conferences/{cid}").get_data(as_text=True)
    assert 'id="decision-form"' in page
    no_reason = signed_in.event(cid, "proceed_inquorate")
    assert no_reason.status_code == 400 and "needs a reason" in no_reason.get_json()["error"]
    form = signed_in.client.post(f"/chair/conferences/{cid}/decision", data={
        "csrf_token": signed_in.token, "decision": "proceed",
        "reason": "Police report shared; delay would harm the child"}, headers={"X-Chair-Fragment": "live"})
    html = form.get_data(as_text=True)
    assert form.status_code == 200
    assert "Not quorate: proceeding" in html and "Police report shared" in html
    assert 'id="decision-form"' not in html
    signed_in.event(cid, "arrived", ids["Hana Visitor"], mode="virtual")
    quorate = signed_in.event(cid, "proceed_inquorate", reason="again")
    assert quorate.status_code == 400 and "is quorate" in quorate.get_json()["error"]


def test_web_chair_page_taps_work_without_javascript(signed_in):
    cid, ids = _setup(signed_in)
    response = signed_in.client.post(f"/chair/conferences/{cid}/tap",
                                     data={"tap": f"{ids['Sam Social']}:arrived_in_person",
                                           "csrf_token": signed_in.token})
    assert response.status_code == 303 and response.headers["Location"].endswith(f"#person-{ids['Sam Social']}")
    refused = signed_in.client.post(f"/chair/conferences/{cid}/tap",
                                    data={"tap": f"{ids['Sam Social']}:arrived_in_person",
                                          "csrf_token": signed_in.token}, follow_redirects=True)
    assert "this invitee is already present" in refused.get_data(as_text=True)
    unknown = signed_in.client.post(f"/chair/conferences/{cid}/tap", data={"tap": "x:fly", "csrf_token": signed_in.token})
    assert unknown.status_code == 400


# -- the room sees counts only -------------------------------------------------------------

def test_web_chair_the_room_gets_counts_never_names(signed_in):
    cid, ids = _setup(signed_in)
    for name in NAMES[:4]:
        signed_in.event(cid, "arrived", ids[name], mode="virtual" if name != "Sam Social" else "in_person")
    signed_in.event(cid, "left", ids["Ella School"], agreed=True, note="Ella had to collect Mary Parent")
    state = signed_in.controller.public_state()
    assert state["attendance"] == {"in_person": 1, "virtual": 2, "quorate": True}
    anonymous = signed_in.new_client()
    texts = [repr(state), anonymous.get("/display").get_data(as_text=True),
             anonymous.get("/api/state").get_data(as_text=True)]
    for text in texts:
        for secret in (*NAMES, "CP-2026-0142"):
            assert secret not in text


def test_web_chair_preparing_another_conference_does_not_move_the_room_counts(signed_in):
    cid, ids = _setup(signed_in)
    signed_in.event(cid, "arrived", ids["Sam Social"], mode="in_person")
    later, later_ids = _setup(signed_in, start_time="14:00", case_ref="CP-2026-0200")
    signed_in.event(later, "report_received", later_ids["Pat Police"], received_on="2026-11-18")
    assert _public(signed_in) == {"in_person": 1, "virtual": 0, "quorate": False}
    assert signed_in.controller.start_at().strftime("%H:%M") == "10:00"


def test_web_chair_ending_resets_the_room_counts(signed_in):
    cid, ids = _setup(signed_in)
    signed_in.event(cid, "arrived", ids["Sam Social"], mode="in_person")
    response = signed_in.api("POST", f"/api/conferences/{cid}/end")
    assert response.status_code == 200 and response.get_json()["conference"]["status"] == "ended"
    assert _public(signed_in) == {"in_person": 0, "virtual": 0, "quorate": False}
    assert signed_in.controller.start_source() is None
    again = signed_in.api("POST", f"/api/conferences/{cid}/end")
    assert again.status_code == 409 and "already ended" in again.get_json()["error"]
    page = signed_in.client.get(f"/chair/conferences/{cid}").get_data(as_text=True)
    assert 'name="tap"' not in page and "ended" in page


# -- reports and timescales ----------------------------------------------------------------

def test_web_chair_reports_received_late_and_missing(signed_in):
    cid, ids = _setup(signed_in)
    view = signed_in.client.get(f"/api/conferences/{cid}").get_json()
    # An ICPC on Monday 23 November: 2 working days between means Wednesday 18 November.
    assert view["conference"]["report_due"] == "2026-11-18" and view["reports"]["overdue"] is True
    signed_in.event(cid, "report_received", ids["Pat Police"], received_on="2026-11-17")
    form = signed_in.client.post(f"/chair/conferences/{cid}/reports", data={
        "csrf_token": signed_in.token, "invitee_id": ids["Hana Visitor"], "received_on": "2026-11-20"},
        headers={"X-Chair-Fragment": "live"})
    assert form.status_code == 200
    view = signed_in.client.get(f"/api/conferences/{cid}").get_json()
    status = {p["name"]: p["report"]["status"] for p in view["people"]}
    assert status == {"Sam Social": "missing", "Pat Police": "on time", "Hana Visitor": "late",
                      "Ella School": "missing", "Mary Parent": "not expected"}
    assert "2 report(s) not received (due by 2026-11-18)" in view["warnings"]
    assert "1 report(s) received after 2026-11-18" in view["warnings"]
    html = form.get_data(as_text=True)
    assert "Late 20 Nov 2026" in html and "Received 17 Nov 2026" in html and "Missing" in html
    future = signed_in.event(cid, "report_received", ids["Ella School"], received_on="2026-12-01")
    assert future.status_code == 201  # the domain accepts a date; the page limits it with max=today


def test_web_chair_reports_are_awaited_before_their_due_date(signed_in):
    cid, _ = _setup(signed_in, date="2026-12-14")
    view = signed_in.client.get(f"/api/conferences/{cid}").get_json()
    assert {p["report"]["status"] for p in view["people"] if p["needs_report"]} == {"awaited"}
    assert not any("report" in w for w in view["warnings"])


def test_web_chair_timescales_with_warnings(signed_in):
    # An ICPC held on 23 November after a strategy discussion on 21 October: 15 working days had passed.
    icpc = signed_in.conference(strategy_date="2026-10-21")
    rows = {t["name"].split(" (")[0]: t for t in icpc["timescales"]}
    assert rows["the initial conference"]["status"] == "missed"
    assert rows["the initial conference"]["due"] == "2026-11-11"
    assert rows["the first core group"]["status"] == "not recorded"
    assert rows["the first review conference"]["status"] == "pending"
    assert rows["the first review conference"]["due"] == "2027-02-23"
    assert any(w.startswith("Timescale missed: the initial conference") for w in icpc["warnings"])
    page = signed_in.client.get(f"/chair/conferences/{icpc['conference']['id']}").get_data(as_text=True)
    assert "Timescale missed: the initial conference" in page and 'id="timescales"' in page
    # The first review, scheduled later than 3 months after the ICPC.
    review = signed_in.conference(type="review", date="2027-03-01", start_time="10:00")
    rows = {t["name"].split(" (")[0]: t for t in review["timescales"]}
    assert rows["the first review conference"]["status"] == "scheduled too late"
    assert any("scheduled for 2027-03-01" in w for w in review["warnings"])


# -- the record --------------------------------------------------------------------------

def _meeting(signed_in):
    cid, ids = _setup(signed_in)
    signed_in.event(cid, "arrived", ids["Sam Social"], mode="in_person")
    signed_in.event(cid, "arrived", ids["Pat Police"], mode="virtual")
    signed_in.event(cid, "apologies", ids["Ella School"])
    signed_in.now.advance(minutes=35)
    signed_in.event(cid, "arrived", ids["Hana Visitor"], mode="virtual")
    signed_in.now.advance(minutes=20)
    signed_in.event(cid, "lost_connection", ids["Hana Visitor"])
    signed_in.event(cid, "could_not_rejoin", ids["Hana Visitor"], emailed_chair=True)
    signed_in.event(cid, "proceed_inquorate", reason="Health report received in writing")
    signed_in.now.advance(minutes=30)
    signed_in.api("POST", f"/api/conferences/{cid}/end")
    return cid, ids


def test_web_chair_export_csv_contents(signed_in):
    cid, _ = _meeting(signed_in)
    response = signed_in.client.get(f"/chair/conferences/{cid}/record.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == \
        f'attachment; filename="conference-{cid}-2026-11-23-attendance.csv"'
    assert response.headers["Cache-Control"] == "no-store"
    text = response.get_data(as_text=True).lstrip("\ufeff")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["Conference", "initial child protection conference"]
    assert ["Case reference", "CP-2026-0142"] in rows
    header = rows.index(["Name", "Role", "Agency", "Direct contact", "Expected", "Attendance", "Arrived", "Mode",
                         "Late", "Left early", "Chair agreed", "Connection", "Camera off", "Report",
                         "Report received", "Notes"])
    people = {r[0]: r for r in rows[header + 1:header + 6]}
    assert people["Hana Visitor"][5:9] == ["attended", "10:05", "virtual", "yes (5 min)"]
    assert people["Hana Visitor"][11] == "lost 10:25, could not rejoin (e-mailed the chair)"
    assert people["Ella School"][5] == "apologies"
    assert ["10:25", "quorum lost", "Not quorate: needs one more agency with direct contact besides children's "
            "social care"] in rows
    assert any(r[1:3] == ["proceed", "Health report received in writing"] for r in rows)
    assert signed_in.client.get(f"/api/conferences/{cid}/record.csv").get_data() == response.get_data()


def test_web_chair_export_csv_is_safe_from_spreadsheet_formulas(signed_in):
    cid = signed_in.conference()["conference"]["id"]
    signed_in.api("POST", f"/api/conferences/{cid}/invitees", {"name": "=HYPERLINK(\"http://x\")", "role": "parent"})
    text = signed_in.client.get(f"/api/conferences/{cid}/record.csv").get_data(as_text=True)
    assert "'=HYPERLINK" in text


def test_web_chair_printable_record(signed_in):
    cid, _ = _meeting(signed_in)
    response = signed_in.client.get(f"/chair/conferences/{cid}/record")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    for text in ("Attendance record", "Hana Visitor", "late 5 min", "could not rejoin (emailed the chair)",
                 "Health report received in writing", "quorum lost", 'data-print'):
        assert text in html
    found = inventory(html)
    assert not found.inline
    assert any("chair.css" in s for s in found.styles)
    record = signed_in.client.get(f"/api/conferences/{cid}/record").get_json()
    assert record["counts"]["attended_virtual"] == 2 and record["quorum"]["proceeded_inquorate"] is True


# -- retention -------------------------------------------------------------------------------

def test_web_chair_purge_needs_confirmation_and_keeps_only_counts(signed_in):
    cid, _ = _meeting(signed_in)
    assert signed_in.api("POST", f"/api/conferences/{cid}/purge", {}).status_code == 400
    assert signed_in.api("POST", f"/api/conferences/{cid}/purge", {"confirm": "yes"}).status_code == 400
    response = signed_in.api("POST", f"/api/conferences/{cid}/purge", {"confirm": True})
    assert response.status_code == 200
    summary = response.get_json()["summary"]
    assert summary["counts"]["invited"] == 5
    for name in (*NAMES, "CP-2026-0142"):
        assert name not in repr(summary)
    assert signed_in.client.get(f"/api/conferences/{cid}").status_code == 404
    assert signed_in.api("POST", f"/api/conferences/{cid}/purge", {"confirm": True}).status_code == 404
    database = (signed_in.state_dir / "conferences.sqlite3").read_bytes()
    assert b"Hana Visitor" not in database


def test_web_chair_purge_from_the_page_needs_the_box_ticked(signed_in):
    cid, _ = _setup(signed_in)
    unticked = signed_in.client.post(f"/chair/conferences/{cid}/purge", data={"csrf_token": signed_in.token},
                                     follow_redirects=True)
    assert "Tick the box" in unticked.get_data(as_text=True)
    assert signed_in.client.get(f"/api/conferences/{cid}").status_code == 200
    ticked = signed_in.client.post(f"/chair/conferences/{cid}/purge",
                                   data={"csrf_token": signed_in.token, "confirm": "yes"}, follow_redirects=True)
    assert f"Conference {cid} deleted" in ticked.get_data(as_text=True)
    assert signed_in.client.get(f"/api/conferences/{cid}").status_code == 404


def test_web_chair_records_are_purged_after_the_retention_period(signed_in):
    cid, _ = _meeting(signed_in)
    signed_in.now.advance(days=6)
    assert signed_in.service.purge_due() == []
    signed_in.now.advance(days=1, minutes=1)
    signed_in.service.housekeeping()
    assert signed_in.client.get(f"/api/conferences/{cid}").status_code == 404
    assert signed_in.service.store.summaries()[0]["conference_id"] == cid



def _marked_meeting(chair, marker: int) -> int:
    """A conference whose names carry ``marker``, with taps and its pages rendered; only its id is returned."""
    cid = chair.conference(case_ref=f"CP-{marker}")["conference"]["id"]
    text = CSV
    for name in NAMES:
        text = text.replace(name, f"{name} Q{marker}x")
    ids = [i["id"] for i in chair.invite_csv(cid, text)]
    _tap(chair, cid, ids[0], "arrived_in_person")
    chair.event(cid, "arrived", ids[1], mode="virtual")
    for path in ("", "/live", "/log", "/record", "/record.csv"):
        assert chair.client.get(f"/chair/conferences/{cid}{path}").status_code == 200
    assert chair.client.get(f"/api/conferences/{cid}").status_code == 200
    # A tap without JavaScript whose message (naming the person) waits for a page that has not come yet.
    assert _tap_without_js(chair, cid, ids[2], "apologies").status_code == 303
    assert len(_kept(chair)) == 1
    return cid


def test_web_chair_purge_leaves_no_page_or_name_in_memory(signed_in):
    marker = secrets.randbits(60) | 1 << 60  # unique digits: no other string in the process holds them
    cid = _marked_meeting(signed_in, marker)
    renderings = signed_in.app.extensions["chair_renderings"][0]
    assert any(key[1] == cid for key in renderings) and strings_holding(marker)
    status = signed_in.client.post(f"/chair/conferences/{cid}/purge",
                                   data={"csrf_token": signed_in.token, "confirm": "yes"}).status_code
    assert status == 303
    assert not any(key[1] == cid for key in renderings) and len(_kept(signed_in)) == 0
    assert strings_holding(marker) == []


def test_web_chair_retention_purge_leaves_no_page_or_name_in_memory(signed_in):
    marker = secrets.randbits(60) | 1 << 60
    cid = _marked_meeting(signed_in, marker)
    assert signed_in.api("POST", f"/api/conferences/{cid}/end").status_code == 200
    signed_in.now.advance(days=8)
    signed_in.service.housekeeping()
    assert not any(key[1] == cid for key in signed_in.app.extensions["chair_renderings"][0])
    assert len(_kept(signed_in)) == 0
    assert strings_holding(marker) == []

# -- errors ------------------------------------------------------------------------------------

@pytest.mark.parametrize("error, status", [
    (StorageFull("The kiosk's storage is full, so nothing was saved. Ask IT to free some space, then try again."),
     507),
    (StorageError("The conference database is busy, so nothing was saved. Try again."), 503),
])
def test_web_chair_storage_errors_are_clear_never_500(signed_in, monkeypatch, error, status):
    cid, ids = _setup(signed_in)

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(signed_in.service.store, "append_event", fail)
    response = signed_in.event(cid, "arrived", ids["Sam Social"], mode="in_person")
    assert response.status_code == status
    assert response.get_json() == {"error": str(error)}
    page = _tap(signed_in, cid, ids["Sam Social"], "arrived_in_person")
    assert page.status_code == status and page.get_json() == {"error": str(error)}


@pytest.mark.parametrize("method, path, body", [
    ("GET", "/api/conferences/99999999999999999999", None),
    ("POST", "/api/conferences/1/events", {"kind": None}),
    ("POST", "/api/conferences/1/events", {"kind": "arrived", "invitee_id": True}),
    ("POST", "/api/conferences/1/events", {"kind": "arrived", "invitee_id": 1, "details": {"mode": [1]}}),
    ("POST", "/api/conferences/1/events/1/correction", {"reason": 5}),
    ("POST", "/api/conferences/1/invitees", {"name": ["x"], "role": {"a": 1}}),
    ("POST", "/api/conferences/1/invitees/csv", {"csv": 12}),
    ("PATCH", "/api/conferences/1", {"date": None, "start_time": 7}),
    ("POST", "/api/conferences", {"type": [], "date": {}, "start_time": 1.5, "case_ref": True}),
    ("POST", "/api/conferences/1/purge", {"confirm": True, "also": 1}),
])
def test_web_chair_strange_input_is_a_4xx_not_a_500(signed_in, method, path, body):
    _setup(signed_in)
    response = signed_in.api(method, path, body)
    assert 400 <= response.status_code < 500, response.get_data(as_text=True)
    assert "error" in response.get_json()


def test_web_chair_without_a_conference_record_the_page_says_so(cold_room):
    from web_ui import create_app

    app = create_app(cold_room, {"TESTING": True})
    client = app.test_client()
    assert client.post("/api/login", json={"pin": "482915"}).status_code == 503
    assert "not available" in client.get("/chair/login").get_data(as_text=True)
    assert client.get("/api/conferences").status_code == 401


# -- the page ----------------------------------------------------------------------------------

def test_web_chair_pages_load_nothing_inline_and_nothing_from_elsewhere(signed_in):
    cid, _ = _setup(signed_in)
    for path in ("/chair", f"/chair/conferences/{cid}", f"/chair/conferences/{cid}/record", "/chair/pair",
                 "/chair/login?code=ABCD"):
        response = signed_in.client.get(path)
        assert response.status_code == 200, path
        assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")
        assert response.headers["Cache-Control"] == "no-store"
        found = inventory(response.get_data(as_text=True))
        assert not found.inline, (path, found.inline)
        for url in found.scripts + found.styles:
            assert url.startswith("/static/"), url


def test_web_chair_conference_page_shows_the_quorum_prominently(signed_in):
    cid, ids = _setup(signed_in)
    html = signed_in.client.get(f"/chair/conferences/{cid}").get_data(as_text=True)
    assert 'id="quorum"' in html and "Not quorate yet" in html
    assert html.index('id="quorum"') < html.index('id="attendance"')
    for name in NAMES:
        assert name in html
    assert 'value="%d:arrived_in_person:absent"' % ids["Sam Social"] in html


def test_web_chair_never_logs_names(signed_in, caplog):
    caplog.set_level(logging.DEBUG)
    _meeting(signed_in)
    cid, ids = _setup(signed_in, start_time="15:00", case_ref="CP-2026-0777")
    signed_in.api("POST", f"/api/conferences/{cid}/invitees/csv", {"csv": "name,role\nZed Secret,astronaut\n"})
    signed_in.event(cid, "arrived", ids["Sam Social"], mode="in_person", note="Sam Social came with Mary Parent")
    signed_in.api("POST", f"/api/conferences/{cid}/purge", {"confirm": True})
    assert caplog.records
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for secret in (*NAMES, "Zed Secret", "CP-2026-0142", "CP-2026-0777"):
        assert secret not in logged
    assert re.search(r"Conference \d+: event \d+ recorded \(arrived\)", logged)


# -- the page: a tap means one thing, ending and removing ask first, pages of the log ---------------

def _page_post(chair, path, **data):
    return chair.client.post(path, data={"csrf_token": chair.token, **data})


def test_web_chair_a_tap_says_who_what_and_when_with_undo(signed_in):
    cid, ids = _setup(signed_in)
    signed_in.now.advance(minutes=1, seconds=7)  # 09:31:07
    live = _tap(signed_in, cid, ids["Pat Police"], "arrived_virtual").get_data(as_text=True)
    event = signed_in.api("GET", f"/api/conferences/{cid}").get_json()["events"][0]
    message = re.search(r'<p id="live-message" class="is-ok" data-undo-event="(\d+)" hidden>([^<]*)</p>', live)
    assert message is not None, live[-600:]
    assert int(message.group(1)) == event["id"]
    assert message.group(2) == "Pat Police: Arrived online at 09:31:07"
    # Without chair.js the page comes back at the person's card, saying who, what and when.
    done = _page_post(signed_in, f"/chair/conferences/{cid}/tap", tap=f"{ids['Sam Social']}:arrived_in_person")
    assert done.status_code == 303 and done.headers["Location"].endswith(f"#person-{ids['Sam Social']}")
    html = signed_in.client.get(done.headers["Location"].split("#")[0]).get_data(as_text=True)
    assert _flashes(html) == ["Sam Social: Arrived in room at 09:31:07 recorded."]


# -- without JavaScript: the message after a reload names the person, the cookie never does ---------------

def _flashes(html: str) -> list[str]:
    """The texts of the flashed messages on a page: at its top, or in the conference page's message slot."""
    return (re.findall(r'<p class="flash flash-\w+" role="\w+">([^<]*)</p>', html)
            + re.findall(r'<span class="toast-text" title="[^"]*">([^<]*)</span>', html))


def _cookie_session(chair, response) -> dict:
    """The session the response's Set-Cookie carries, decoded (its signature checked)."""
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("kiosk_chair=")]
    assert len(cookies) == 1, response.headers
    value = cookies[0].partition("=")[2].partition(";")[0]
    return chair.app.session_interface.get_signing_serializer(chair.app).loads(value)


def _kept(chair):
    return chair.app.extensions["chair_messages"]


def _tap_without_js(chair, cid, invitee_id, action="arrived_in_person", client=None, token=None):
    return (client or chair.client).post(f"/chair/conferences/{cid}/tap",
                                         data={"tap": f"{invitee_id}:{action}", "csrf_token": token or chair.token})


def test_web_chair_without_javascript_the_message_names_the_person_once_never_in_the_cookie(signed_in):
    cid, ids = _setup(signed_in)
    signed_in.now.advance(minutes=1, seconds=7)  # 09:31:07
    done = _tap_without_js(signed_in, cid, ids["Sam Social"])
    assert done.status_code == 303
    location = done.headers["Location"]
    carried = _cookie_session(signed_in, done)
    for name in NAMES:
        assert name not in location and name not in done.headers.get("Set-Cookie", "")
        assert name not in repr(carried)
    assert carried["_flashes"] == [("ok", {"kept": carried["_flashes"][0][1]["kept"],
                                           "text": "Arrived in room at 09:31:07 recorded."})]
    assert len(_kept(signed_in)) == 1
    page = signed_in.client.get(location.split("#")[0])
    html = page.get_data(as_text=True)
    assert _flashes(html) == ["Sam Social: Arrived in room at 09:31:07 recorded."]
    assert '<div id="toast" class="toast is-ok"' in html and 'class="flashes"' not in html  # in the strip's slot
    assert "_flashes" not in _cookie_session(signed_in, page)  # shown, so gone from the cookie too
    assert len(_kept(signed_in)) == 0
    again = signed_in.client.get(location.split("#")[0]).get_data(as_text=True)
    assert _flashes(again) == [] and "Sam Social: Arrived" not in again


def test_web_chair_without_javascript_removing_names_who_was_removed(signed_in):
    cid, ids = _setup(signed_in)
    done = _page_post(signed_in, f"/chair/conferences/{cid}/invitees/{ids['Ella School']}/remove", confirm="yes")
    assert done.status_code == 303 and "Ella" not in done.headers["Location"]
    assert "Ella" not in repr(_cookie_session(signed_in, done))
    page = signed_in.client.get(done.headers["Location"].split("#")[0]).get_data(as_text=True)
    assert _flashes(page) == ["Ella School removed from the invitation list."]


def test_web_chair_without_javascript_a_message_without_a_name_stays_in_the_cookie(signed_in):
    cid, _ = _setup(signed_in)
    done = _page_post(signed_in, f"/chair/conferences/{cid}/start")
    assert _cookie_session(signed_in, done)["_flashes"] == [("ok", "Start recorded.")]
    assert len(_kept(signed_in)) == 0
    assert _flashes(signed_in.client.get(f"/chair/conferences/{cid}").get_data(as_text=True)) == ["Start recorded."]


def test_web_chair_without_javascript_the_named_message_expires_leaving_what_and_when(signed_in):
    cid, ids = _setup(signed_in)
    signed_in.now.advance(minutes=1, seconds=7)
    _tap_without_js(signed_in, cid, ids["Sam Social"])
    signed_in.seconds.advance(61)  # the sessions' clock: the message waited longer than a minute
    html = signed_in.client.get(f"/chair/conferences/{cid}").get_data(as_text=True)
    assert _flashes(html) == ["Arrived in room at 09:31:07 recorded."]
    assert len(_kept(signed_in)) == 0


def test_web_chair_without_javascript_an_expired_message_goes_at_any_request(signed_in):
    cid, ids = _setup(signed_in)
    _tap_without_js(signed_in, cid, ids["Sam Social"])
    other = signed_in.new_client()
    signed_in.seconds.advance(60)
    assert other.get("/api/state").status_code == 200  # anyone's request, not the tablet's page
    assert len(_kept(signed_in)) == 0


def test_web_chair_without_javascript_a_purge_drops_the_waiting_message(signed_in):
    cid, ids = _setup(signed_in)
    _tap_without_js(signed_in, cid, ids["Sam Social"])
    assert len(_kept(signed_in)) == 1
    assert signed_in.api("POST", f"/api/conferences/{cid}/purge", {"confirm": True}).status_code == 200
    assert len(_kept(signed_in)) == 0
    html = signed_in.client.get("/chair").get_data(as_text=True)
    assert "Sam Social" not in html and "Arrived in room at 09:30:00 recorded." in _flashes(html)


def test_web_chair_without_javascript_signing_out_drops_the_waiting_message(signed_in):
    cid, ids = _setup(signed_in)
    _tap_without_js(signed_in, cid, ids["Sam Social"])
    assert len(_kept(signed_in)) == 1
    assert signed_in.client.post("/chair/logout", data={"csrf_token": signed_in.token}).status_code == 303
    assert len(_kept(signed_in)) == 0


def test_web_chair_without_javascript_an_ended_session_drops_the_waiting_message(signed_in):
    cid, ids = _setup(signed_in)
    _tap_without_js(signed_in, cid, ids["Sam Social"])
    signed_in.seconds.advance(31 * 60)  # idle for longer than session_idle_min
    assert signed_in.client.get(f"/chair/conferences/{cid}").status_code == 302  # to the sign-in page
    assert len(_kept(signed_in)) == 0


def test_web_chair_without_javascript_two_tablets_never_see_each_others_messages(signed_in):
    cid, ids = _setup(signed_in)
    other = signed_in.new_client()
    other_token = signed_in.login(other)
    _tap_without_js(signed_in, cid, ids["Sam Social"])
    _tap_without_js(signed_in, cid, ids["Pat Police"], "arrived_virtual", client=other, token=other_token)
    with signed_in.client.session_transaction() as mine:
        flashed = list(mine["_flashes"])
    with other.session_transaction() as theirs:  # even holding the first tablet's message id
        theirs["_flashes"] = [*theirs["_flashes"], *flashed]
    seen = _flashes(other.get(f"/chair/conferences/{cid}").get_data(as_text=True))
    assert seen == ["Pat Police: Arrived online at 09:30:00 recorded.", "Arrived in room at 09:30:00 recorded."]
    mine = _flashes(signed_in.client.get(f"/chair/conferences/{cid}").get_data(as_text=True))
    assert mine == ["Sam Social: Arrived in room at 09:30:00 recorded."]


def test_web_chair_a_tap_against_a_stale_card_is_a_409_with_the_page_as_it_is(signed_in):
    cid, ids = _setup(signed_in)
    pat = ids["Pat Police"]
    assert signed_in.event(cid, "arrived", pat, mode="virtual").status_code == 201  # another tablet
    stale = signed_in.client.post(f"/chair/conferences/{cid}/tap",
                                  data={"tap": f"{pat}:arrived_in_person:absent", "csrf_token": signed_in.token},
                                  headers={"X-Chair-Fragment": "live"})
    assert stale.status_code == 409 and stale.mimetype == "text/html"
    html = stale.get_data(as_text=True)
    assert re.search(r'<p id="live-message" class="is-error"[^>]*>[^<]+</p>', html)
    assert 'data-state="present"' in html and f'id="person-{pat}"' in html  # the card as it is now
    events = signed_in.api("GET", f"/api/conferences/{cid}").get_json()["events"]
    assert [e["kind"] for e in events] == ["arrived"]  # nothing recorded
    # The state the card showed, when right, records the tap.
    fresh = _tap(signed_in, cid, pat, "camera_off:present")
    assert fresh.status_code == 200


def test_web_chair_without_javascript_a_tap_against_a_stale_card_names_who_had_changed(signed_in):
    cid, ids = _setup(signed_in)
    pat = ids["Pat Police"]
    assert signed_in.event(cid, "arrived", pat, mode="virtual").status_code == 201  # another tablet
    stale = signed_in.client.post(f"/chair/conferences/{cid}/tap",
                                  data={"tap": f"{pat}:arrived_in_person:absent", "csrf_token": signed_in.token})
    assert stale.status_code == 303
    for name in NAMES:
        assert name not in stale.headers["Location"] and name not in stale.headers.get("Set-Cookie", "")
        assert name not in repr(_cookie_session(signed_in, stale))
    html = signed_in.client.get(stale.headers["Location"].split("#")[0]).get_data(as_text=True)
    said = _flashes(html)
    assert len(said) == 1 and said[0].startswith("Nothing recorded: Pat Police had changed on another tablet"), said
    events = signed_in.api("GET", f"/api/conferences/{cid}").get_json()["events"]
    assert [e["kind"] for e in events] == ["arrived"]  # nothing recorded


def test_web_chair_a_tap_retried_after_its_answer_was_lost_records_nothing_and_says_so(tmp_path, cold_room):
    first = make_chair(tmp_path, cold_room)
    first.login()
    cid, ids = _setup(first)
    sam = ids["Sam Social"]

    def tap(chair, **headers):
        return chair.client.post(f"/chair/conferences/{cid}/tap",
                                 data={"tap": f"{sam}:arrived_in_person", "csrf_token": chair.token},
                                 headers={"Idempotency-Key": "tap-1", **headers})

    with answers_not_kept(first.service.store.path):
        assert tap(first, **{"X-Chair-Fragment": "live"}).status_code == 200  # the answer a crash would lose
    second = restarted(first, tmp_path, cold_room)
    try:
        again = tap(second, **{"X-Chair-Fragment": "live"})
        assert again.status_code == 409 and again.mimetype == "text/html"
        html = again.get_data(as_text=True)
        message = re.search(r'<p id="live-message" class="is-error"[^>]*>([^<]+)</p>', html).group(1)
        assert "already recorded" in message and "restarted" in message and "reload" in message
        assert f'id="person-{sam}"' in html and 'data-state="present"' in html  # the card as it is now
        # Without chair.js (the same form, so the same request): back to the page, which says so.
        plain = tap(second)
        assert plain.status_code == 303
        page = second.client.get(plain.headers["Location"].split("#")[0]).get_data(as_text=True)
        assert "already recorded" in page
        events = second.api("GET", f"/api/conferences/{cid}").get_json()["events"]
        assert [e["kind"] for e in events] == ["arrived"]  # recorded once
    finally:
        second.service.stop()


def test_web_chair_ending_asks_first_and_warns_before_the_booked_start(signed_in):
    cid, _ = _setup(signed_in)  # booked for 10:00; the kiosk's clock says 09:30
    asked = _page_post(signed_in, f"/chair/conferences/{cid}/end")
    html = asked.get_data(as_text=True)
    assert asked.status_code == 200 and "End the conference?" in html
    assert 'id="confirm-early"' in html and "has not started yet" in html
    assert 'name="confirm" value="yes"' in html
    assert signed_in.api("GET", f"/api/conferences/{cid}").get_json()["conference"]["status"] == "scheduled"
    signed_in.now.advance(hours=1)
    later = _page_post(signed_in, f"/chair/conferences/{cid}/end").get_data(as_text=True)
    assert 'id="confirm-early"' not in later
    done = _page_post(signed_in, f"/chair/conferences/{cid}/end", confirm="yes")
    assert done.status_code == 303
    page = signed_in.client.get(f"/chair/conferences/{cid}").get_data(as_text=True)
    assert "Conference ended" in page and 'id="reopen-conference"' in page and 'id="end-conference"' not in page
    reopened = _page_post(signed_in, f"/chair/conferences/{cid}/reopen")
    assert reopened.status_code == 303
    assert signed_in.api("GET", f"/api/conferences/{cid}").get_json()["conference"]["status"] == "scheduled"


def test_web_chair_end_sits_away_from_the_printable_record(signed_in):
    cid, _ = _setup(signed_in)
    html = signed_in.client.get(f"/chair/conferences/{cid}").get_data(as_text=True)
    head = html[html.index('class="conf-head"'):html.index('id="strip"')]
    assert 'id="print-record"' in head and "end-conference" not in head
    assert html.index('id="end-conference"') > html.index('id="attendance"')


def test_web_chair_removing_asks_first(signed_in):
    cid, ids = _setup(signed_in)
    ella = ids["Ella School"]
    path = f"/chair/conferences/{cid}/invitees/{ella}/remove"
    asked = _page_post(signed_in, path, confirm="ask")
    assert asked.status_code == 200 and "Take Ella School off the list?" in asked.get_data(as_text=True)
    in_background = signed_in.client.post(path, data={"csrf_token": signed_in.token},
                                          headers={"X-Chair-Fragment": "live"})
    assert in_background.status_code == 400 and "Confirm first" in in_background.get_json()["error"]
    people = [p["id"] for p in signed_in.api("GET", f"/api/conferences/{cid}").get_json()["people"]]
    assert ella in people
    assert _page_post(signed_in, path, confirm="yes").status_code == 303
    people = [p["id"] for p in signed_in.api("GET", f"/api/conferences/{cid}").get_json()["people"]]
    assert ella not in people
    assert _page_post(signed_in, f"/chair/conferences/{cid}/invitees/999/remove").status_code == 404


def test_web_chair_the_whole_log_is_paginated(signed_in):
    from web_ui.chair import LOG_PAGE_ROWS

    cid, ids = _setup(signed_in)
    signed_in.event(cid, "arrived", ids["Pat Police"], mode="virtual")
    for n in range(LOG_PAGE_ROWS + 4):
        signed_in.event(cid, "camera_off" if n % 2 == 0 else "camera_on", ids["Pat Police"])
    first = signed_in.client.get(f"/chair/conferences/{cid}/log").get_data(as_text=True)
    assert first.count('class="log-row') == LOG_PAGE_ROWS
    assert f'href="/chair/conferences/{cid}/log?page=2"' in first and "Page 1 of 2" in first
    second = signed_in.client.get(f"/chair/conferences/{cid}/log?page=2").get_data(as_text=True)
    assert second.count('class="log-row') == 5 and 'id="page-prev"' in second and 'id="page-next"' not in second
    assert signed_in.client.get(f"/chair/conferences/{cid}/log?page=3").status_code == 404
    for bad in ("0", "x", "-1", "1e3"):
        assert signed_in.client.get(f"/chair/conferences/{cid}/log?page={bad}").status_code == 400


def test_web_chair_the_list_of_conferences_is_paginated(signed_in):
    from web_ui.chair import CONFERENCES_PAGE_ROWS

    for n in range(CONFERENCES_PAGE_ROWS + 2):
        signed_in.conference(date=f"2026-12-{1 + n % 28:02d}", start_time=f"{9 + n // 28:02d}:00",
                             case_ref=f"CP-2026-{n:04d}")
    signed_in.conference()  # today's: the soonest, first on the first page
    first = signed_in.client.get("/chair").get_data(as_text=True)
    assert first.count('class="conf-row') == CONFERENCES_PAGE_ROWS and 'id="page-next"' in first
    assert first.index("<strong>CP-2026-0142<") < first.index("Other days")
    second = signed_in.client.get("/chair?page=2").get_data(as_text=True)
    assert second.count('class="conf-row') == 3 and "Page 2 of 2" in second and "<strong>CP-2026-0142<" not in second
    assert signed_in.client.get("/chair?page=3").status_code == 404
    assert signed_in.client.get("/chair?page=0").status_code == 400


def test_web_chair_page_d5_a_late_new_date_needs_its_reason_and_shows_in_the_banner(tmp_path, cold_room):
    from datetime import datetime, timezone

    from chair_web import make_chair

    # Friday 19 March 2027, 10:30: ten working days (past Good Friday and Easter Monday) end on Tuesday 6 April.
    chair = make_chair(tmp_path, cold_room, now=datetime(2027, 3, 19, 10, 30, tzinfo=timezone.utc))
    try:
        chair.login()
        cid, ids = _setup(chair, date="2027-03-19")
        chair.event(cid, "arrived", ids["Sam Social"], mode="in_person")
        html = chair.client.get(f"/chair/conferences/{cid}").get_data(as_text=True)
        assert 'name="late_reason"' in html  # the decision form asks for it
        form = {"decision": "adjourn", "reason": "no police", "new_date": "2027-04-07"}
        refused = _page_post(chair, f"/chair/conferences/{cid}/decision", **form)
        page = chair.client.get(refused.headers["Location"].split("#")[0]).get_data(as_text=True)
        assert "later than 2027-04-06" in page
        live = chair.client.post(f"/chair/conferences/{cid}/decision",
                                 data={"csrf_token": chair.token, **form, "late_reason": "chair away"},
                                 headers={"X-Chair-Fragment": "live"}).get_data(as_text=True)
        banner = live[live.index('id="warnings"'):live.index('id="live"')]
        assert "2027-04-07 is later than 2027-04-06" in banner
    finally:
        chair.service.stop()


def test_web_chair_page_d6_and_d7_words(signed_in):
    cid, ids = _setup(signed_in)
    signed_in.now.advance(minutes=30, seconds=27)  # 27 s after the 10:00 start
    live = _tap(signed_in, cid, ids["Pat Police"], "arrived_virtual").get_data(as_text=True)
    assert '<span class="badge b-late">Late 27 s</span>' in live
    # ICPC on 29 December 2026: the first review is due on Easter Monday 29 March 2027.
    review = signed_in.conference(type="review", date="2027-03-22", previous_icpc_date="2026-12-29",
                                  case_ref="CP-2026-0151")
    html = signed_in.client.get(f"/chair/conferences/{review['conference']['id']}").get_data(as_text=True)
    assert re.search(r'class="ts-note">[^<]*Easter Monday[^<]*Thursday 25 March 2027', html)
    # Timescale warnings and missing reports share the banner at the top.
    early = signed_in.conference(strategy_date="2026-10-01", case_ref="CP-2026-0150")
    page = signed_in.client.get(f"/chair/conferences/{early['conference']['id']}").get_data(as_text=True)
    banner = page[page.index('id="warnings"'):page.index('id="toast"')]
    assert "Timescale missed" in banner


def test_web_chair_a_kept_rendering_carries_each_sessions_token_and_the_clock_now(signed_in):
    cid, _ = _setup(signed_in)
    other = signed_in.new_client()
    signed_in.login(other)
    pages, tokens = [], []
    for client in (signed_in.client, other):
        html = client.get(f"/chair/conferences/{cid}").get_data(as_text=True)
        token = re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)
        assert html.count(f'value="{token}"') > 10 and "\x00" not in html  # every form has it
        pages.append(html)
        tokens.append(token)
    assert tokens[0] != tokens[1] and tokens[1] not in pages[0] and tokens[0] not in pages[1]
    signed_in.now.advance(seconds=20)  # the same minute, the same view: the clock still says the time
    html = signed_in.client.get(f"/chair/conferences/{cid}").get_data(as_text=True)
    assert 'data-now="09:30:20"' in html and ">09:30:20</strong>" in html
