"""The chair's API keeps the record right under retries, stale tablets, the end of the meeting and the clock:
Idempotency-Key, expect_state, ?since= long-polls, end and reopen, the room's start button, the D5/D6/D7
rules, the CSV's own words and pages of long lists."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

import pytest

from chair_web import CSV, DAY, answers_not_kept, kept_keys, make_chair, restarted
from kiosk.conference.service import ChairService
from kiosk.events import SessionStarted
from waiting import wait_for


def _setup(chair, **fields):
    view = chair.conference(**fields)
    cid = view["conference"]["id"]
    added = chair.invite_csv(cid)
    return cid, {i["name"]: i["id"] for i in added}


def _events(chair, cid) -> list[dict]:
    return chair.client.get(f"/api/conferences/{cid}/events?per_page=500").get_json()["events"]


def _post_event(chair, cid, body, key=None, client=None, token=None):
    headers = {"Idempotency-Key": key} if key else {}
    return chair.api("POST", f"/api/conferences/{cid}/events", body, headers=headers, client=client, token=token)


# -- Idempotency-Key ------------------------------------------------------------------------------------

def test_web_chair_api_a_repeated_key_returns_the_first_answer_and_records_once(signed_in):
    cid, p = _setup(signed_in)
    tap = {"kind": "arrived", "invitee_id": p["Pat Police"], "details": {"mode": "virtual"}}
    first = _post_event(signed_in, cid, tap, key="tap-1")
    again = _post_event(signed_in, cid, tap, key="tap-1")
    assert first.status_code == again.status_code == 201
    assert again.get_data() == first.get_data()
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert [e["kind"] for e in _events(signed_in, cid)] == ["arrived"]


def test_web_chair_api_an_options_request_takes_no_key(signed_in):
    cid, p = _setup(signed_in)
    asked = signed_in.client.options(f"/api/conferences/{cid}/events", headers={"Idempotency-Key": "k-1"})
    assert asked.status_code == 200 and "Idempotent-Replayed" not in asked.headers
    tap = {"kind": "arrived", "invitee_id": p["Pat Police"], "details": {"mode": "virtual"}}
    assert _post_event(signed_in, cid, tap, key="k-1").status_code == 201  # the key is still the change's own
    assert [e["kind"] for e in _events(signed_in, cid)] == ["arrived"]


def test_web_chair_api_a_repeated_refusal_is_repeated_verbatim(signed_in):
    cid, p = _setup(signed_in)
    tap = {"kind": "left", "invitee_id": p["Pat Police"], "details": {"agreed": True}}
    first = _post_event(signed_in, cid, tap, key="k-400")
    assert first.status_code == 400
    assert _post_event(signed_in, cid, tap, key="k-400").get_data() == first.get_data()


def test_web_chair_api_concurrent_repeats_of_one_key_record_once(signed_in):
    cid, p = _setup(signed_in)
    tap = {"kind": "arrived", "invitee_id": p["Sam Social"], "details": {"mode": "in_person"}}
    clients = []
    for _ in range(4):
        client = signed_in.app.test_client()
        client.set_cookie("kiosk_chair", signed_in.client.get_cookie("kiosk_chair").value)
        clients.append(client)
    answers: list = []
    threads = [threading.Thread(target=lambda c=c: answers.append(_post_event(signed_in, cid, tap, key="same",
                                                                               client=c)))
               for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(a.status_code for a in answers) == [201] * 4
    assert len({a.get_data() for a in answers}) == 1
    assert [e["kind"] for e in _events(signed_in, cid)] == ["arrived"]


def test_web_chair_api_a_key_reused_for_another_request_is_a_422(signed_in):
    cid, p = _setup(signed_in)
    _post_event(signed_in, cid, {"kind": "arrived", "invitee_id": p["Sam Social"], "details": {"mode": "in_person"}},
                key="k1")
    other = _post_event(signed_in, cid, {"kind": "apologies", "invitee_id": p["Pat Police"]}, key="k1")
    assert other.status_code == 422 and "another request" in other.get_json()["error"]
    assert len(_events(signed_in, cid)) == 1


def test_web_chair_api_keys_belong_to_their_session(signed_in):
    cid, p = _setup(signed_in)
    tap = {"kind": "arrived", "invitee_id": p["Sam Social"], "details": {"mode": "in_person"}}
    assert _post_event(signed_in, cid, tap, key="shared-text").status_code == 201
    other = signed_in.new_client()
    token = signed_in.login(other)
    # The other tablet's same key is its own: its request runs (and is refused on its merits), no replay.
    answer = _post_event(signed_in, cid, tap, key="shared-text", client=other, token=token)
    assert answer.status_code == 400 and "already present" in answer.get_json()["error"]
    assert "Idempotent-Replayed" not in answer.headers


@pytest.mark.parametrize("key", ["", "a" * 201, "with space", "é"])
def test_web_chair_api_a_bad_key_is_a_400(signed_in, key):
    cid, p = _setup(signed_in)
    response = signed_in.client.post(f"/api/conferences/{cid}/events", json={"kind": "started"},
                                     headers={**signed_in.headers(), "Idempotency-Key": key.encode().decode("latin-1")})
    assert response.status_code == 400 and "Idempotency-Key" in response.get_json()["error"]
    assert _events(signed_in, cid) == []


def test_web_chair_api_keys_survive_a_restart_and_expire_after_a_day(tmp_path, cold_room):
    first = make_chair(tmp_path, cold_room)
    first.login()
    cid, p = _setup(first)
    tap = {"kind": "arrived", "invitee_id": p["Sam Social"], "details": {"mode": "in_person"}}
    answer = _post_event(first, cid, tap, key="k")
    cookie = first.client.get_cookie("kiosk_chair").value
    first.service.stop()
    second = make_chair(tmp_path, cold_room, pin=None)  # the PIN kept: sessions live on
    try:
        second.client.set_cookie("kiosk_chair", cookie)
        second.token = first.token
        again = _post_event(second, cid, tap, key="k")
        assert again.status_code == 201 and again.get_data() == answer.get_data()
        second.now.advance(hours=24, minutes=1)
        second.service.housekeeping()
        second.seconds.advance(60)
        late = _post_event(second, cid, tap, key="k")
        assert "Idempotent-Replayed" not in late.headers and late.status_code == 400  # ran again: already present
        kept = second.service.store._conn.execute("SELECT body FROM idempotency").fetchall()
        assert [row[0] for row in kept] == [late.get_data(as_text=True)]  # the day-old answer is gone
    finally:
        second.service.stop()


def test_web_chair_api_a_retry_whose_answer_was_lost_in_a_restart_records_nothing_and_is_a_409(tmp_path, cold_room):
    first = make_chair(tmp_path, cold_room)
    first.login()
    cid, p = _setup(first)
    tap = {"kind": "arrived", "invitee_id": p["Sam Social"], "details": {"mode": "in_person"}}
    database = first.service.store.path
    with answers_not_kept(database):
        assert _post_event(first, cid, tap, key="tap-1").status_code == 201  # the answer a crash would lose
    assert kept_keys(database) == {"tap-1": None}  # saved with the change, pending its answer
    second = restarted(first, tmp_path, cold_room)
    try:
        revision = second.client.get(f"/api/conferences/{cid}").get_json()["revision"]
        for _ in range(2):
            again = _post_event(second, cid, tap, key="tap-1")
            body = again.get_json()
            assert again.status_code == 409 and "Idempotent-Replayed" not in again.headers
            assert "already recorded" in body["error"] and "answer was lost" in body["error"]
            assert "restarted" in body["error"] and "reload" in body["error"]
            assert body["view"]["revision"] == revision and body["view"]["conference"]["id"] == cid
        assert [e["kind"] for e in _events(second, cid)] == ["arrived"]  # recorded once
        assert kept_keys(database) == {"tap-1": None}
        # A new key is a new request: it runs, and is refused on its merits.
        assert _post_event(second, cid, tap, key="tap-2").status_code == 400
    finally:
        second.service.stop()


def test_web_chair_api_a_create_or_purge_whose_answer_was_lost_is_a_409_without_a_view(tmp_path, cold_room):
    first = make_chair(tmp_path, cold_room)
    first.login()
    body = {"type": "initial", "date": DAY, "start_time": "11:00", "case_ref": "CP-9"}
    gone = first.conference(case_ref="CP-8")["conference"]["id"]
    with answers_not_kept(first.service.store.path):
        assert first.api("POST", "/api/conferences", body, headers={"Idempotency-Key": "c1"}).status_code == 201
        assert first.api("POST", f"/api/conferences/{gone}/purge", {"confirm": True},
                         headers={"Idempotency-Key": "p1"}).status_code == 200
    second = restarted(first, tmp_path, cold_room)
    try:
        again = second.api("POST", "/api/conferences", body, headers={"Idempotency-Key": "c1"})
        assert again.status_code == 409 and set(again.get_json()) == {"error"}  # no conference in the URL
        assert len(second.client.get("/api/conferences").get_json()["conferences"]) == 1
        purge = second.api("POST", f"/api/conferences/{gone}/purge", {"confirm": True},
                           headers={"Idempotency-Key": "p1"})
        assert purge.status_code == 409 and "already recorded" in purge.get_json()["error"]
        assert set(purge.get_json()) == {"error"}  # its conference is gone
    finally:
        second.service.stop()


def test_web_chair_api_a_refused_change_leaves_no_pending_key_so_its_retry_runs_again(tmp_path, cold_room):
    first = make_chair(tmp_path, cold_room)
    first.login()
    cid, p = _setup(first)
    pat = p["Pat Police"]
    assert _post_event(first, cid, {"kind": "arrived", "invitee_id": pat, "details": {"mode": "virtual"}}
                       ).status_code == 201  # another tablet
    stale = {"kind": "apologies", "invitee_id": pat, "expect_state": "absent"}
    left = {"kind": "left", "invitee_id": p["Sam Social"], "details": {"agreed": True}}
    database = first.service.store.path
    with answers_not_kept(database):
        assert _post_event(first, cid, stale, key="k-409").status_code == 409
        assert _post_event(first, cid, left, key="k-400").status_code == 400
    assert kept_keys(database) == {}  # nothing saved, so no key either
    second = restarted(first, tmp_path, cold_room)
    try:
        again = _post_event(second, cid, stale, key="k-409")
        assert again.status_code == 409 and again.get_json()["state"] == "present"  # ran again: still stale
        assert _post_event(second, cid, {"kind": "arrived", "invitee_id": p["Sam Social"],
                                         "details": {"mode": "in_person"}}).status_code == 201
        assert _post_event(second, cid, left, key="k-400").status_code == 201  # ran again, and now it is right
        assert kept_keys(database) == {"k-409": 409, "k-400": 201}
        assert [e["kind"] for e in _events(second, cid)] == ["left", "arrived", "arrived"]  # newest first
    finally:
        second.service.stop()


def test_web_chair_api_a_change_the_storage_failed_leaves_no_pending_key_so_its_retry_records(signed_in):
    cid, p = _setup(signed_in)
    tap = {"kind": "arrived", "invitee_id": p["Sam Social"], "details": {"mode": "in_person"}}
    conn = signed_in.service.store._conn
    conn.execute("PRAGMA query_only = ON")  # SQLite refuses every write, as on a file gone read-only
    try:
        failed = _post_event(signed_in, cid, tap, key="tap-1")
    finally:
        conn.execute("PRAGMA query_only = OFF")
    assert failed.status_code == 503 and "read-only" in failed.get_json()["error"]
    assert kept_keys(signed_in.service.store.path) == {}  # a 5xx answer is not kept, and no key is pending
    retry = _post_event(signed_in, cid, tap, key="tap-1")
    assert retry.status_code == 201 and "Idempotent-Replayed" not in retry.headers
    assert [e["kind"] for e in _events(signed_in, cid)] == ["arrived"]


def test_web_chair_api_keys_are_purged_with_their_conference(signed_in):
    cid, p = _setup(signed_in)
    _post_event(signed_in, cid, {"kind": "started"}, key="k")
    conn = signed_in.service.store._conn
    assert conn.execute("SELECT COUNT(*) FROM idempotency WHERE conference_id = ?", (cid,)).fetchone()[0] >= 1
    assert signed_in.api("POST", f"/api/conferences/{cid}/purge", {"confirm": True}).status_code == 200
    assert conn.execute("SELECT COUNT(*) FROM idempotency").fetchone()[0] == 0


def test_web_chair_api_create_with_a_key_creates_one_conference(signed_in):
    body = {"type": "initial", "date": DAY, "start_time": "11:00", "case_ref": "CP-9"}
    first = signed_in.api("POST", "/api/conferences", body, headers={"Idempotency-Key": "c1"})
    again = signed_in.api("POST", "/api/conferences", body, headers={"Idempotency-Key": "c1"})
    assert first.status_code == again.status_code == 201 and again.get_data() == first.get_data()
    assert again.headers["Location"] == first.headers["Location"] and again.mimetype == "application/json"
    assert len(signed_in.client.get("/api/conferences").get_json()["conferences"]) == 1


# -- expect_state ----------------------------------------------------------------------------------------

def test_web_chair_api_a_tap_against_a_stale_state_is_a_409_with_the_view(signed_in):
    cid, p = _setup(signed_in)
    pat = p["Pat Police"]
    ok = _post_event(signed_in, cid, {"kind": "arrived", "invitee_id": pat, "details": {"mode": "virtual"},
                                      "expect_state": "absent"})
    assert ok.status_code == 201
    stale = _post_event(signed_in, cid, {"kind": "apologies", "invitee_id": pat, "expect_state": "absent"})
    assert stale.status_code == 409
    body = stale.get_json()
    assert body["state"] == "present" and "nothing was recorded" in body["error"]
    person = next(x for x in body["view"]["people"] if x["id"] == pat)
    assert person["state"] == "present"
    assert len(_events(signed_in, cid)) == 1
    left = _post_event(signed_in, cid, {"kind": "left", "invitee_id": pat, "details": {"agreed": True},
                                        "expect_state": "present"})
    assert left.status_code == 201


@pytest.mark.parametrize("expect, message", [("here", "expect_state must be one of"), (3, "must be text")])
def test_web_chair_api_a_bad_expect_state_is_a_400(signed_in, expect, message):
    cid, p = _setup(signed_in)
    answer = _post_event(signed_in, cid, {"kind": "apologies", "invitee_id": p["Pat Police"],
                                          "expect_state": expect})
    assert answer.status_code == 400 and message in answer.get_json()["error"]
    assert _events(signed_in, cid) == []


# -- revision and ?since= -------------------------------------------------------------------------------

def test_web_chair_api_revision_grows_with_every_change(signed_in):
    cid, p = _setup(signed_in)
    seen = [signed_in.client.get(f"/api/conferences/{cid}").get_json()["revision"]]

    def now():
        seen.append(signed_in.client.get(f"/api/conferences/{cid}").get_json()["revision"])

    signed_in.api("PATCH", f"/api/conferences/{cid}", {"start_time": "10:15"}); now()
    signed_in.api("POST", f"/api/conferences/{cid}/invitees", {"name": "Gail Gp", "role": "gp",
                                                               "direct_contact": "yes"}); now()
    _post_event(signed_in, cid, {"kind": "arrived", "invitee_id": p["Sam Social"],
                                 "details": {"mode": "in_person"}}); now()
    signed_in.api("POST", f"/api/conferences/{cid}/end"); now()
    signed_in.api("POST", f"/api/conferences/{cid}/reopen"); now()
    assert all(b > a for a, b in zip(seen, seen[1:])), seen


def test_web_chair_api_since_answers_at_once_after_a_change_from_another_client(signed_in):
    cid, p = _setup(signed_in)
    revision = signed_in.client.get(f"/api/conferences/{cid}").get_json()["revision"]
    other = signed_in.new_client()
    signed_in.login(other)
    answer: list = []
    poll = threading.Thread(target=lambda: answer.append(
        other.get(f"/api/conferences/{cid}?since={revision}&timeout=20")))
    began = time.monotonic()
    poll.start()
    _post_event(signed_in, cid, {"kind": "arrived", "invitee_id": p["Sam Social"], "details": {"mode": "in_person"}})
    poll.join(timeout=20)
    assert time.monotonic() - began < 10
    view = answer[0].get_json()
    assert answer[0].status_code == 200 and view["revision"] > revision
    assert next(x for x in view["people"] if x["id"] == p["Sam Social"])["state"] == "present"


def test_web_chair_api_since_without_a_change_answers_the_same_view_after_the_timeout(signed_in):
    cid, _ = _setup(signed_in)
    revision = signed_in.client.get(f"/api/conferences/{cid}").get_json()["revision"]
    began = time.monotonic()
    answer = signed_in.client.get(f"/api/conferences/{cid}?since={revision}&timeout=0.6")
    assert time.monotonic() - began >= 0.5
    assert answer.status_code == 200 and answer.get_json()["revision"] == revision


def test_web_chair_api_since_behind_or_ahead_answers_at_once(signed_in):
    cid, _ = _setup(signed_in)
    revision = signed_in.client.get(f"/api/conferences/{cid}").get_json()["revision"]
    for since in (0, revision + 100):
        began = time.monotonic()
        assert signed_in.client.get(f"/api/conferences/{cid}?since={since}&timeout=10").status_code == 200
        assert time.monotonic() - began < 5


def test_web_chair_api_since_long_polls_share_the_per_address_cap(signed_in):
    """The chair's long-polls count against the same caps as the display's: beyond them, an answer at once."""
    cid, _ = _setup(signed_in)
    signed_in.app.config.update(LONG_POLL_PER_ADDRESS=1, LONG_POLL_TOTAL=4)
    revision = signed_in.client.get(f"/api/conferences/{cid}").get_json()["revision"]
    other = signed_in.new_client()
    signed_in.login(other)
    holder = threading.Thread(target=lambda: other.get(f"/api/conferences/{cid}?since={revision}&timeout=5",
                                                       environ_base={"REMOTE_ADDR": "10.0.0.7"}))
    holder.start()
    try:
        assert wait_for(lambda: sum(signed_in.app.extensions["kiosk.long_polls"]._held.values()) == 1
                        if "kiosk.long_polls" in signed_in.app.extensions else False, timeout=5)
        began = time.monotonic()
        answer = signed_in.client.get(f"/api/conferences/{cid}?since={revision}&timeout=5",
                                      environ_base={"REMOTE_ADDR": "10.0.0.7"})
        assert answer.status_code == 200 and answer.get_json()["revision"] == revision
        assert time.monotonic() - began < 2  # that address already holds its one
    finally:
        signed_in.service.end_conference(cid)  # a change: the waiting long-poll answers
        holder.join(10)


@pytest.mark.parametrize("query", ["since=x", "since=-1", "since=1&timeout=nan", "since=1&timeout=-2"])
def test_web_chair_api_a_bad_since_or_timeout_is_a_400(signed_in, query):
    cid, _ = _setup(signed_in)
    assert signed_in.client.get(f"/api/conferences/{cid}?{query}").status_code == 400


def test_web_chair_api_a_long_poll_keeps_the_session_alive(tmp_path, cold_room):
    chair = make_chair(tmp_path, cold_room, conference={"session_idle_min": 1.0})
    try:
        chair.login()
        cid, _ = _setup(chair)
        revision = chair.client.get(f"/api/conferences/{cid}").get_json()["revision"]
        for _ in range(4):  # 4 x 45 s = 3 idle timeouts, with the page's long-poll running (and timing out)
            chair.seconds.advance(45)
            poll = chair.client.get(f"/api/conferences/{cid}?since={revision}&timeout=0.05")
            assert poll.status_code == 200 and poll.get_json()["revision"] == revision
        chair.seconds.advance(61)
        assert chair.client.get(f"/api/conferences/{cid}").status_code == 401  # idle without it: signed out
    finally:
        chair.service.stop()


# -- the end and the reopening ---------------------------------------------------------------------------

def test_web_chair_api_after_the_end_only_corrections_and_reports_are_recorded(signed_in):
    cid, p = _setup(signed_in)
    arrived = _post_event(signed_in, cid, {"kind": "arrived", "invitee_id": p["Sam Social"],
                                           "details": {"mode": "in_person"}}).get_json()["event"]
    assert signed_in.api("POST", f"/api/conferences/{cid}/end").status_code == 200
    count = len(_events(signed_in, cid))
    refused = _post_event(signed_in, cid, {"kind": "arrived", "invitee_id": p["Pat Police"],
                                           "details": {"mode": "virtual"}})
    assert refused.status_code == 409 and "has ended" in refused.get_json()["error"]
    added = signed_in.api("POST", f"/api/conferences/{cid}/invitees", {"name": "Late Comer", "role": "parent"})
    assert added.status_code == 409
    assert signed_in.api("POST", f"/api/conferences/{cid}/invitees/csv",
                         {"csv": "name,role\nNew Parent,parent\n"}).status_code == 409
    assert len(_events(signed_in, cid)) == count
    report = _post_event(signed_in, cid, {"kind": "report_received", "invitee_id": p["Pat Police"],
                                          "details": {"received_on": DAY}})
    assert report.status_code == 201
    correction = signed_in.api("POST", f"/api/conferences/{cid}/events/{arrived['id']}/correction",
                               {"reason": "wrong person"})
    assert correction.status_code == 201
    view = signed_in.client.get(f"/api/conferences/{cid}").get_json()
    assert view["conference"]["status"] == "ended" and view["conference"]["can_reopen"]
    assert all(person["actions"] == [] for person in view["people"])


def test_web_chair_api_reopen_records_again_and_keeps_both_in_the_log(signed_in):
    cid, p = _setup(signed_in)
    signed_in.api("POST", f"/api/conferences/{cid}/end")
    assert signed_in.api("POST", f"/api/conferences/{cid}/reopen", {"reason": "ended by mistake"}).status_code == 200
    assert _post_event(signed_in, cid, {"kind": "arrived", "invitee_id": p["Pat Police"],
                                        "details": {"mode": "virtual"}}).status_code == 201
    kinds = [e["kind"] for e in _events(signed_in, cid)][::-1]
    assert kinds == ["ended", "reopened", "arrived"]
    log = _events(signed_in, cid)
    assert not any(e["correctable"] for e in log if e["kind"] in ("ended", "reopened"))
    again = signed_in.api("POST", f"/api/conferences/{cid}/reopen")
    assert again.status_code == 409 and "has not ended" in again.get_json()["error"]


def test_web_chair_api_the_end_cannot_be_recorded_or_voided_as_a_plain_event(signed_in):
    cid, _ = _setup(signed_in)
    assert _post_event(signed_in, cid, {"kind": "ended"}).status_code == 400
    signed_in.api("POST", f"/api/conferences/{cid}/end")
    ended = _events(signed_in, cid)[0]
    answer = signed_in.api("POST", f"/api/conferences/{cid}/events/{ended['id']}/correction", {"reason": "x"})
    assert answer.status_code == 400 and "reopen" in answer.get_json()["error"]


# -- the room's start button -----------------------------------------------------------------------------

def _started(chair, cid) -> list[dict]:
    return [e for e in _events(chair, cid) if e["kind"] == "started"]


def test_web_chair_api_the_rooms_start_button_records_todays_start(signed_in):
    cid, _ = _setup(signed_in)
    other_day = signed_in.conference(date="2026-11-24")["conference"]["id"]
    signed_in.service.start()
    signed_in.now.advance(minutes=28)  # 09:58
    signed_in.controller.bus.publish(SessionStarted())
    assert wait_for(lambda: _started(signed_in, cid), timeout=10)
    assert [e["at"] for e in _started(signed_in, cid)] == ["09:58:00"]
    assert _events(signed_in, other_day) == []
    signed_in.controller.bus.publish(SessionStarted())  # once only
    signed_in.event(cid, "proceed_inquorate", reason="marker")  # recorded after the second start, if any
    assert wait_for(lambda: any(e["kind"] == "proceed_inquorate" for e in _events(signed_in, cid)), timeout=10)
    assert len(_started(signed_in, cid)) == 1
    view = signed_in.client.get(f"/api/conferences/{cid}").get_json()
    assert view["conference"]["started_at"] == "09:58" and view["quorum"]["started"]


def test_web_chair_api_the_start_button_records_from_the_controllers_own_thread_without_deadlock(
        signed_in):
    """The controller publishes holding its lock; a tap on another thread meanwhile must not deadlock."""
    cid, p = _setup(signed_in)
    signed_in.service.start()
    controller = signed_in.controller
    holding, published = threading.Event(), threading.Event()

    def room():  # the controller's thread, in RoomController._begin_session: it publishes holding its lock
        with controller._lock:
            holding.set()
            wait_for(lambda: signed_in.service.views.computing is not None, timeout=5)
            controller.bus.publish(SessionStarted())
            published.set()

    publisher = threading.Thread(target=room)
    tap = threading.Thread(target=lambda: signed_in.service.record_action(cid, p["Sam Social"], "arrived_in_person"))
    publisher.start()
    assert holding.wait(5)
    tap.start()  # holds the chair's lock, then waits for the controller's to give it the counts
    assert published.wait(5)  # publishing did not wait for the chair
    publisher.join(timeout=5)
    tap.join(timeout=10)
    assert not tap.is_alive() and not publisher.is_alive()
    assert wait_for(lambda: _started(signed_in, cid), timeout=10)


def test_web_chair_api_the_start_button_without_a_conference_today_records_nothing(signed_in):
    cid = signed_in.conference(date="2026-11-24")["conference"]["id"]
    signed_in.service.start()
    signed_in.controller.bus.publish(SessionStarted())
    today = signed_in.conference(start_time="16:00")["conference"]["id"]  # made after: a marker of time passing
    assert not wait_for(lambda: _events(signed_in, cid), timeout=0.5)
    assert _events(signed_in, today) == []


# -- D5, D6, D7 and double bookings ----------------------------------------------------------------------

def test_web_chair_api_d5_a_new_date_after_ten_working_days_needs_a_reason(tmp_path, cold_room):
    # Friday 19 March 2027: ten working days skip Good Friday and Easter Monday, so the limit is Tuesday 6 April.
    chair = make_chair(tmp_path, cold_room, now=datetime(2027, 3, 19, 10, 30, tzinfo=timezone.utc))
    try:
        chair.login()
        cid, _ = _setup(chair, date="2027-03-19")
        within = _post_event(chair, cid, {"kind": "adjourned", "details": {"reason": "no police",
                                                                           "new_date": "2027-04-06"}})
        assert within.status_code == 201
        assert within.get_json()["view"]["reconvene"] == {"by": "2027-04-06", "new_date": "2027-04-06",
                                                          "late": False, "late_reason": None}
        chair.api("POST", f"/api/conferences/{cid}/events/{within.get_json()['event']['id']}/correction",
                  {"reason": "date wrong"})
        late = {"kind": "adjourned", "details": {"reason": "no police", "new_date": "2027-04-07"}}
        refused = _post_event(chair, cid, late)
        assert refused.status_code == 400
        assert "later than 2027-04-06" in refused.get_json()["error"] and "late_reason" in refused.get_json()["error"]
        late["details"]["late_reason"] = "the chair is away until then"
        view = _post_event(chair, cid, late).get_json()["view"]
        assert view["reconvene"] == {"by": "2027-04-06", "new_date": "2027-04-07", "late": True,
                                     "late_reason": "the chair is away until then"}
        assert any("2027-04-07 is later than 2027-04-06" in w for w in view["timescale_warnings"])
    finally:
        chair.service.stop()


def test_web_chair_api_d7_a_due_date_on_easter_monday_gives_the_working_day_before(signed_in):
    # ICPC on 29 December 2026: the first review is due three months later, Easter Monday 29 March 2027.
    view = signed_in.conference(type="review", date="2027-03-22", previous_icpc_date="2026-12-29")
    first_review = next(t for t in view["timescales"] if t["name"].startswith("the first review"))
    assert first_review["due"] == "2027-03-29" and first_review["due_is_working_day"] is False
    assert first_review["last_working_day"] == "2027-03-25"  # Good Friday 26 March is a holiday too
    assert "bank holiday (Easter Monday)" in first_review["due_note"]
    assert "Thursday 25 March 2027" in first_review["due_note"]
    core = next(t for t in view["timescales"] if t["name"].startswith("the first core group"))
    assert core["due_is_working_day"] and core["due_note"] is None


def test_web_chair_api_d7_missed_timescales_are_listed_for_the_banner(signed_in):
    view = signed_in.conference(strategy_date="2026-10-01")  # 15 working days: due 22 October, held 23 November
    assert view["timescale_warnings"] and all(w in view["warnings"] for w in view["timescale_warnings"])
    assert "Timescale missed" in view["timescale_warnings"][0]


@pytest.mark.parametrize("after, seconds, text, minutes", [(27, 27, "27 s", 1), (59, 59, "59 s", 1),
                                                           (60, 60, "1 min", 1), (301, 301, "6 min", 6)])
def test_web_chair_api_d6_lateness_under_a_minute_is_in_seconds(signed_in, after, seconds, text, minutes):
    cid, p = _setup(signed_in)
    signed_in.now.advance(minutes=30, seconds=after)  # the start is 10:00
    view = _post_event(signed_in, cid, {"kind": "arrived", "invitee_id": p["Pat Police"],
                                        "details": {"mode": "virtual"}}).get_json()["view"]
    pat = next(x for x in view["people"] if x["id"] == p["Pat Police"])
    assert (pat["late"], pat["seconds_late"], pat["late_text"], pat["minutes_late"]) == (True, seconds, text, minutes)
    csv_text = signed_in.client.get(f"/api/conferences/{cid}/record.csv").get_data(as_text=True)
    assert f"yes ({text})" in csv_text


def test_web_chair_api_a_second_conference_at_the_same_time_for_the_case_is_flagged(signed_in):
    first = signed_in.conference()["conference"]["id"]
    second = signed_in.conference()["conference"]["id"]
    other_case = signed_in.conference(case_ref="CP-2026-0143")
    assert other_case["conference"]["double_booked"] == []
    for this, other in ((first, second), (second, first)):
        view = signed_in.client.get(f"/api/conferences/{this}").get_json()
        assert view["conference"]["double_booked"] == [other]
        assert any(f"Conference {other} for this case is booked at the same date and time" in w
                   for w in view["warnings"])
    revision = signed_in.client.get(f"/api/conferences/{first}").get_json()["revision"]
    signed_in.api("PATCH", f"/api/conferences/{second}", {"start_time": "14:00"})
    view = signed_in.client.get(f"/api/conferences/{first}?since={revision}&timeout=5").get_json()
    assert view["conference"]["double_booked"] == [] and view["revision"] > revision  # the first one's view changed


# -- CSV and pages ---------------------------------------------------------------------------------------

def test_web_chair_api_csv_takes_the_pages_words_and_notes_unknown_columns(signed_in):
    cid = signed_in.conference()["conference"]["id"]
    text = ("Name,Role,Direct contact,Mode,Team,Phone\n"
            "Sam Social,social worker,,In room,North,0123\n"
            "Mary Parent,parent,,IN PERSON,,\n"
            "Pat Police,police officer,yes,online,,\n"
            "Hana Visitor,health visitor,yes,Virtual,,\n"
            "Ella School,school,yes,remote,,\n")
    answer = signed_in.api("POST", f"/api/conferences/{cid}/invitees/csv", {"csv": text})
    assert answer.status_code == 201, answer.get_json()
    body = answer.get_json()
    assert [i["expected_mode"] for i in body["added"]] == ["in_person", "in_person", "virtual", "virtual", "virtual"]
    assert len(body["notes"]) == 2 and "column 5 (Team)" in body["notes"][0] and "ignored" in body["notes"][0]
    plain = signed_in.api("POST", f"/api/conferences/{signed_in.conference(start_time='15:00')['conference']['id']}"
                                  f"/invitees/csv", {"csv": CSV})
    assert plain.get_json()["notes"] == []


def test_web_chair_api_the_log_and_the_conferences_come_in_pages(signed_in):
    cid, p = _setup(signed_in)
    sam = p["Sam Social"]
    _post_event(signed_in, cid, {"kind": "arrived", "invitee_id": p["Pat Police"], "details": {"mode": "virtual"}})
    for i in range(6):
        signed_in.now.advance(seconds=1)
        _post_event(signed_in, cid, {"kind": "arrived" if i % 2 == 0 else "left", "invitee_id": sam,
                                     "details": {"mode": "in_person"} if i % 2 == 0 else {"agreed": True}})
    first = signed_in.client.get(f"/api/conferences/{cid}/events?page=1&per_page=4").get_json()
    second = signed_in.client.get(f"/api/conferences/{cid}/events?page=2&per_page=4").get_json()
    assert (first["total"], first["pages"], len(first["events"]), len(second["events"])) == (7, 2, 4, 3)
    ids = [e["id"] for e in first["events"] + second["events"]]
    assert ids == sorted(ids, reverse=True)  # newest first
    assert signed_in.service.log_page(cid, 2, 4)["events"] == second["events"]
    assert signed_in.client.get(f"/api/conferences/{cid}/events?per_page=0").status_code == 400
    for hour in range(11, 14):
        signed_in.conference(start_time=f"{hour}:00")
    page = signed_in.client.get("/api/conferences?page=2&per_page=3").get_json()
    assert (page["total"], page["pages"], len(page["conferences"])) == (4, 2, 1)
    assert len(signed_in.client.get("/api/conferences").get_json()["conferences"]) == 4  # as before


def test_web_chair_api_a_service_restarted_keeps_the_revision(tmp_path, cold_room):
    chair = make_chair(tmp_path, cold_room)
    chair.login()
    cid, _ = _setup(chair)
    revision = chair.client.get(f"/api/conferences/{cid}").get_json()["revision"]
    chair.service.stop()
    again = ChairService(chair.service.cfg, cold_room.bus, now=chair.now)
    try:
        assert again.revision(cid) == revision
        assert again.wait_for_revision(cid, revision - 1, 0) == revision
    finally:
        again.stop()


def test_web_chair_api_patch_and_delete_repeated_with_a_key_change_once(signed_in):
    cid, p = _setup(signed_in)
    key = {"Idempotency-Key": "patch-1"}
    first = signed_in.api("PATCH", f"/api/conferences/{cid}", {"start_time": "10:30"}, headers=key)
    revision = first.get_json()["revision"]
    again = signed_in.api("PATCH", f"/api/conferences/{cid}", {"start_time": "10:30"}, headers=key)
    assert again.get_data() == first.get_data()
    assert signed_in.client.get(f"/api/conferences/{cid}").get_json()["revision"] == revision  # nothing new
    key = {"Idempotency-Key": "delete-1"}
    removed = signed_in.api("DELETE", f"/api/conferences/{cid}/invitees/{p['Mary Parent']}", headers=key)
    repeat = signed_in.api("DELETE", f"/api/conferences/{cid}/invitees/{p['Mary Parent']}", headers=key)
    assert removed.status_code == repeat.status_code == 200  # not a 404: the first answer, verbatim
    assert repeat.get_data() == removed.get_data()
