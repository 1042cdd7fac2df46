"""Admission: a few requests run the app at once, the rest wait their turn in arrival order, and a
long-poll gives its slot back while it waits (web_ui.admission)."""

from __future__ import annotations

import threading
import urllib.request
from datetime import datetime, timedelta

import pytest

from chair_web import PIN
from waiting import wait_for
from web_ui.admission import Admission, waiting


def _start_response(status, headers, exc_info=None):
    return None


class Recorder:
    """A WSGI app that notes who is inside it and stays there until told to leave."""

    def __init__(self):
        self.lock = threading.Lock()
        self.inside: list[str] = []
        self.entered: list[str] = []
        self.most = 0
        self.leave: dict[str, threading.Event] = {}

    def __call__(self, environ, start_response):
        name = environ["name"]
        with self.lock:
            self.inside.append(name)
            self.entered.append(name)
            self.most = max(self.most, len(self.inside))
        try:
            if environ.get("long_poll"):
                with waiting():
                    self.leave[name].wait(10)
            else:
                self.leave[name].wait(10)
            if environ.get("fail"):
                raise RuntimeError("the app failed")
            return [name.encode()]
        finally:
            with self.lock:
                self.inside.remove(name)


def _request(admission, recorder, name, results, **environ):
    recorder.leave[name] = threading.Event()

    def run():
        try:
            results[name] = b"".join(admission({"name": name, **environ}, _start_response))
        except RuntimeError as exc:
            results[name] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _queued(admission) -> int:
    return len(admission._free._waiters)


def test_at_most_slots_requests_run_the_app_at_once():
    recorder, results = Recorder(), {}
    admission = Admission(recorder, slots=2)
    threads = [_request(admission, recorder, f"r{n}", results) for n in range(6)]
    assert wait_for(lambda: len(recorder.inside) == 2 and _queued(admission) == 4)
    for name in list(recorder.leave):
        recorder.leave[name].set()
    for t in threads:
        t.join(10)
    assert recorder.most == 2
    assert results == {f"r{n}": f"r{n}".encode() for n in range(6)}


def test_waiting_requests_are_admitted_in_arrival_order():
    recorder, results = Recorder(), {}
    admission = Admission(recorder, slots=1)
    threads = [_request(admission, recorder, "first", results)]
    assert wait_for(lambda: recorder.inside == ["first"])
    for n in range(5):
        threads.append(_request(admission, recorder, f"q{n}", results))
        assert wait_for(lambda n=n: _queued(admission) == n + 1)
    for name in ["first"] + [f"q{n}" for n in range(5)]:
        recorder.leave[name].set()
    for t in threads:
        t.join(10)
    assert recorder.entered == ["first", "q0", "q1", "q2", "q3", "q4"]


def test_a_request_that_fails_gives_its_slot_back():
    recorder, results = Recorder(), {}
    admission = Admission(recorder, slots=1)
    failing = _request(admission, recorder, "failing", results, fail=True)
    assert wait_for(lambda: recorder.inside == ["failing"])
    recorder.leave["failing"].set()
    failing.join(10)
    assert isinstance(results["failing"], RuntimeError)
    after = _request(admission, recorder, "after", results)
    recorder.leave["after"].set()
    after.join(10)
    assert results["after"] == b"after"


def test_a_long_poll_gives_its_slot_back_while_it_waits_and_takes_one_again_to_answer():
    recorder, results = Recorder(), {}
    admission = Admission(recorder, slots=1)
    poll = _request(admission, recorder, "poll", results, long_poll=True)
    assert wait_for(lambda: recorder.inside == ["poll"] and admission._free._free == 1)
    # The only slot is free while the long-poll waits: another request runs and answers.
    other = _request(admission, recorder, "other", results)
    assert wait_for(lambda: "other" in recorder.inside)
    # The long-poll's wait ends while "other" holds the slot: it queues for the slot to answer.
    recorder.leave["poll"].set()
    assert wait_for(lambda: _queued(admission) == 1)
    assert "poll" not in results
    recorder.leave["other"].set()
    other.join(10)
    poll.join(10)
    assert results == {"poll": b"poll", "other": b"other"}


def test_a_request_taking_its_slot_back_goes_before_newcomers():
    recorder, results = Recorder(), {}
    admission = Admission(recorder, slots=1)
    poll = _request(admission, recorder, "poll", results, long_poll=True)
    assert wait_for(lambda: admission._free._free == 1)
    other = _request(admission, recorder, "other", results)
    assert wait_for(lambda: "other" in recorder.inside)
    late = _request(admission, recorder, "late", results)
    assert wait_for(lambda: _queued(admission) == 1)
    recorder.leave["poll"].set()  # the long-poll's wait ends: it queues again, in front of "late"
    assert wait_for(lambda: _queued(admission) == 2)
    recorder.leave["other"].set()
    # Had "late" gone first, it would hold the only slot until told to leave, and the long-poll could not answer.
    assert wait_for(lambda: "poll" in results, timeout=3)
    recorder.leave["late"].set()
    for t in (poll, other, late):
        t.join(10)
    assert list(results) == ["other", "poll", "late"]


def test_waiting_outside_admission_does_nothing():
    """Outside a request that Admission let in, waiting() gives back no slot (not even another thread's)."""
    recorder, results = Recorder(), {}
    admission = Admission(recorder, slots=1)
    busy = _request(admission, recorder, "busy", results)
    assert wait_for(lambda: recorder.inside == ["busy"] and admission._free._free == 0)
    with waiting():
        assert admission._free._free == 0
    assert admission._free._free == 0 and _queued(admission) == 0
    recorder.leave["busy"].set()
    busy.join(10)
    assert results == {"busy": b"busy"} and admission._free._free == 1


def test_slots_must_be_at_least_one():
    with pytest.raises(ValueError, match="slots"):
        Admission(Recorder(), slots=0)


def test_open_displays_never_hold_up_other_requests(cold_app, cold_room):
    """More long-polls than slots, on the real server: a plain request still answers at once."""
    from web_ui.server import WebServer

    server = WebServer(cold_app, port=0, threads=8, slots=1).start()
    url = f"http://127.0.0.1:{server.port}"
    answered = []

    def poll():
        since = cold_room.version
        with urllib.request.urlopen(f"{url}/api/state?since={since}&timeout=20", timeout=30) as response:
            answered.append(response.status)

    polls = [threading.Thread(target=poll) for _ in range(3)]
    try:
        for t in polls:
            t.start()
        assert wait_for(lambda: server.server.task_dispatcher.active_count == 3)
        with urllib.request.urlopen(f"{url}/api/state", timeout=2) as response:
            assert response.status == 200
        assert answered == []  # the displays are still waiting
        # A change: each display takes a slot again in turn and answers.
        cold_room.set_start(datetime.now(cold_room.tz) + timedelta(minutes=10), "chair")
        for t in polls:
            t.join(10)
        assert answered == [200, 200, 200]
    finally:
        server.close()


@pytest.mark.parametrize("path", ["/api/login", "/chair/login"])
def test_a_pin_being_checked_never_holds_up_other_requests(chair, path):
    """The PIN's slow hash (and guesses queued behind it) run with the slot given back."""
    import json

    from web_ui.server import WebServer

    checking, finish = threading.Event(), threading.Event()
    verify = chair.service.pins.verify
    chair.service.pins.verify = lambda pin: checking.set() or finish.wait(10) and verify(pin)
    chair.app.config["WTF_CSRF_ENABLED"] = False  # the form's token is not what this test is about
    server = WebServer(chair.app, port=0, threads=8, slots=1).start()
    url = f"http://127.0.0.1:{server.port}"
    answers = []

    def login():
        if path == "/api/login":
            request = urllib.request.Request(url + path, data=json.dumps({"pin": PIN}).encode(), method="POST",
                                             headers={"Content-Type": "application/json"})
        else:
            request = urllib.request.Request(url + path, data=f"pin={PIN}".encode(), method="POST")
        with urllib.request.urlopen(request, timeout=20) as response:
            answers.append(response.status)

    signing_in = threading.Thread(target=login)
    try:
        signing_in.start()
        assert checking.wait(5)
        with urllib.request.urlopen(f"{url}/api/state", timeout=2) as response:
            assert response.status == 200
        assert answers == []  # still checking
        finish.set()
        signing_in.join(10)
        assert answers == [200]
    finally:
        finish.set()
        server.close()


def test_a_request_waiting_for_a_tap_gives_its_slot_back(chair):
    """A tap held up by the disk keeps its own slot; the readers waiting for it do not keep theirs."""
    import http.client
    import json

    from chair_web import CSV, DAY
    from web_ui.server import WebServer

    server = WebServer(chair.app, port=0, threads=8, slots=2).start()

    def call(method, path, payload=None, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=20)
        try:
            conn.request(method, path, body=json.dumps(payload) if payload is not None else None,
                         headers={"Content-Type": "application/json", **(headers or {})})
            response = conn.getresponse()
            return response, json.loads(response.read() or b"null")
        finally:
            conn.close()

    try:
        response, answer = call("POST", "/api/login", {"pin": PIN})
        signed = {"Cookie": response.getheader("Set-Cookie").split(";", 1)[0], "X-CSRFToken": answer["csrf_token"]}
        _, answer = call("POST", "/api/conferences", {"type": "initial", "date": DAY, "start_time": "10:00",
                                                      "case_ref": "CP-2026-0142"}, signed)
        cid = answer["conference"]["id"]
        _, answer = call("POST", f"/api/conferences/{cid}/invitees/csv", {"csv": CSV}, signed)
        someone = answer["added"][0]["id"]

        saving, disk_back = threading.Event(), threading.Event()
        append = chair.service.store.append_event
        chair.service.store.append_event = lambda *a, **k: saving.set() or disk_back.wait(10) and append(*a, **k)
        answers = {}
        tap = threading.Thread(target=lambda: answers.setdefault("tap", call(
            "POST", f"/api/conferences/{cid}/events", {"kind": "arrived", "invitee_id": someone,
                                                       "details": {"mode": "in_person"}}, signed)[0].status))
        read = threading.Thread(target=lambda: answers.setdefault("read", call(
            "GET", f"/api/conferences/{cid}", headers=signed)[0].status))
        tap.start()
        assert saving.wait(5)
        read.start()
        assert wait_for(lambda: server.server.task_dispatcher.active_count == 2)
        response, state = call("GET", "/api/state")  # the room's display is not held up by the disk
        assert response.status == 200 and answers == {}
        disk_back.set()
        tap.join(10)
        read.join(10)
        assert answers == {"tap": 201, "read": 200}
    finally:
        server.close()
