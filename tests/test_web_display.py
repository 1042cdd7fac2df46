"""The room display and /api/state through Flask's test client, on a simulated room."""

from __future__ import annotations

import re
import threading
import time
from datetime import datetime, timedelta
from html.parser import HTMLParser

import pytest

from web_ui import SECURITY_HEADERS, auth, create_app

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")


class _Inventory(HTMLParser):
    """Collects what a page loads and anything that a strict CSP would block."""

    def __init__(self):
        super().__init__()
        self.scripts, self.styles, self.inline = [], [], []
        self.ids = set()
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        for name in attrs:
            if name == "style" or name.startswith("on"):
                self.inline.append(f"<{tag} {name}=...>")
        if tag == "script":
            if attrs.get("src"):
                self.scripts.append(attrs["src"])
            else:
                self.inline.append("<script> without src")
        elif tag == "style":
            self.inline.append("<style>")
        elif tag == "link" and attrs.get("rel") == "stylesheet":
            self.styles.append(attrs["href"])


def inventory(html: str) -> _Inventory:
    parser = _Inventory()
    parser.feed(html)
    return parser


def test_web_root_redirects_to_the_display(cold_client):
    response = cold_client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/display"


def test_web_display_page_names_the_room_and_has_the_stable_ids(cold_client, cold_room):
    response = cold_client.get("/display")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert cold_room.cfg.room.name in html
    found = inventory(html)
    for element in ("state", "countdown", "countdown-message", "checks", "start-time", "free", "joining",
                    "problems", "expectations", "connection"):
        assert element in found.ids
    assert 'data-state="unknown"' in html and 'data-ready="unknown"' in html


def test_web_display_page_lists_the_conference_expectations(cold_client):
    html = cold_client.get("/display").get_data(as_text=True)
    # The guidance in seeds/ (DOMAIN D6, D10-D13), in short plain lines.
    for expectation in ("Attend the whole meeting", "Cameras on, as the chair asks", "no phones or other work",
                        "No chat unless the chair says so", "2&ndash;3 minutes early", "private, not overheard",
                        "cannot rejoin? Email the chair"):
        assert expectation in html


@pytest.mark.parametrize("path", ["/display", "/simulator"])
def test_web_pages_have_no_inline_code_and_load_only_their_own_files(cold_client, path):
    found = inventory(cold_client.get(path).get_data(as_text=True))
    assert found.inline == []
    assert found.scripts and found.styles
    for url in found.scripts + found.styles:
        assert url.startswith("/static/"), url  # nothing from another origin
        response = cold_client.get(url)
        assert response.status_code == 200
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        response.close()


def test_web_display_script_builds_the_page_without_html_strings(cold_client):
    script = cold_client.get("/static/display.js")
    text = script.get_data(as_text=True)
    script.close()
    # Check reasons are device text: they are set with textContent, never parsed as HTML.
    assert "innerHTML" not in text and "eval(" not in text
    assert re.search(r"https?://", text) is None


@pytest.mark.parametrize("path", ["/", "/display", "/api/state", "/static/display.css", "/nowhere",
                                  "/api/nowhere", "/simulator", "/simulator/devices"])
def test_web_every_response_carries_the_security_headers(cold_client, path):
    response = cold_client.get(path)
    assert response.headers["Content-Security-Policy"] == CSP
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value
    response.close()


def test_web_api_state_is_the_controllers_public_state(client, room):
    response = client.get("/api/state")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    state = response.get_json()
    expected = room.public_state()
    # Nothing is added or dropped on the way: the controller decides what is public.
    assert state.keys() == expected.keys()
    assert state["room"] == expected["room"] and state["revision"] <= room.version
    assert list(state["checks"]) == list(expected["checks"])  # the controller's order, not sorted
    assert all(c["status"] == "pass" for c in state["checks"].values()), state["checks"]


def test_web_api_state_long_poll_answers_promptly_on_a_change(cold_client, cold_room):
    since = cold_client.get("/api/state").get_json()["revision"]
    start_at = datetime.now(cold_room.tz) + timedelta(minutes=10)
    timer = threading.Timer(0.2, cold_room.set_start, args=(start_at, "chair"))
    began = time.monotonic()
    timer.start()
    try:
        response = cold_client.get(f"/api/state?since={since}&timeout=10")
    finally:
        timer.join()
    elapsed = time.monotonic() - began
    state = response.get_json()
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    assert state["revision"] > since
    assert state["start_at"] == start_at.isoformat(timespec="seconds")
    assert 0.15 < elapsed < 1.0


def test_web_api_state_long_poll_returns_the_state_after_its_timeout(cold_client):
    since = cold_client.get("/api/state").get_json()["revision"]
    began = time.monotonic()
    state = cold_client.get(f"/api/state?since={since}&timeout=0.3").get_json()
    assert 0.25 < time.monotonic() - began < 1.5
    assert state["revision"] == since


def test_web_api_state_long_poll_timeout_is_capped(cold_room):
    client = create_app(cold_room, {"TESTING": True, "LONG_POLL_MAX_S": 0.2}).test_client()
    since = client.get("/api/state").get_json()["revision"]
    began = time.monotonic()
    assert client.get(f"/api/state?since={since}&timeout=9999").status_code == 200
    assert time.monotonic() - began < 1.0


def test_web_api_state_long_polls_are_capped_per_address_and_overall(cold_room):
    """Beyond 2 waiting long-polls per address (3 in all, here) a long-poll answers at once with the state."""
    app = create_app(cold_room, {"TESTING": True, "LONG_POLL_PER_ADDRESS": 2, "LONG_POLL_TOTAL": 3})
    since = app.test_client().get("/api/state").get_json()["revision"]
    waiting = []

    def wait(address):
        app.test_client().get(f"/api/state?since={since}&timeout=3", environ_base={"REMOTE_ADDR": address})

    def poll(address) -> float:
        began = time.monotonic()
        reply = app.test_client().get(f"/api/state?since={since}&timeout=3", environ_base={"REMOTE_ADDR": address})
        assert reply.status_code == 200 and reply.get_json()["revision"] == since
        return time.monotonic() - began

    try:
        for address in ("10.0.0.1", "10.0.0.1"):
            waiting.append(threading.Thread(target=wait, args=(address,)))
            waiting[-1].start()
        assert wait_for_held(app, 2)
        assert poll("10.0.0.1") < 0.5  # that address has its 2
        waiting.append(threading.Thread(target=wait, args=("10.0.0.2",)))
        waiting[-1].start()
        assert wait_for_held(app, 3)
        assert poll("10.0.0.3") < 0.5  # 3 in all
    finally:
        cold_room.set_attendance(1, 0, False)  # a change: every waiting long-poll answers
        for thread in waiting:
            thread.join(5)


def wait_for_held(app, count: int) -> bool:
    from waiting import wait_for

    def held():
        polls = app.extensions.get("kiosk.long_polls")
        return polls is not None and sum(polls._held.values()) == count

    return wait_for(held, timeout=5)


def test_web_api_state_since_from_before_a_restart_answers_at_once(cold_client):
    # The revision counter starts again at 0 when the kiosk restarts: a display still
    # holding an old, higher revision must not be left waiting.
    current = cold_client.get("/api/state").get_json()["revision"]
    began = time.monotonic()
    state = cold_client.get(f"/api/state?since={current + 1000}").get_json()
    assert time.monotonic() - began < 0.5
    assert state["revision"] == current


def test_web_api_state_long_poll_is_released_when_the_server_stops(cold_app, cold_client):
    from web_ui import stop_long_polls

    since = cold_client.get("/api/state").get_json()["revision"]
    threading.Timer(0.2, stop_long_polls, args=(cold_app,)).start()
    began = time.monotonic()
    assert cold_client.get(f"/api/state?since={since}&timeout=20").status_code == 200
    assert time.monotonic() - began < 1.5


@pytest.mark.parametrize("query, message", [
    ("since=-1", "since must be a revision number"),
    ("since=abc", "since must be a revision number"),
    ("since=1.5", "since must be a revision number"),
    ("since=%C2%B2", "since must be a revision number"),  # a superscript two is a digit to str.isdigit
    ("since=", "since must be a revision number"),
    ("since=1&timeout=soon", "timeout must be a number of seconds"),
    ("since=1&timeout=-1", "timeout must be a number of seconds"),
    ("since=1&timeout=nan", "timeout must be a number of seconds"),
    ("since=1&timeout=inf", "timeout must be a number of seconds"),
])
def test_web_api_state_rejects_bad_parameters_with_json(cold_client, query, message):
    response = cold_client.get(f"/api/state?{query}")
    assert response.status_code == 400
    assert response.headers["Cache-Control"] == "no-store"
    assert message in response.get_json()["error"]


@pytest.mark.parametrize("method, path, status, allow", [
    ("get", "/api/nowhere", 404, None),
    ("post", "/api/state", 405, "GET"),
    ("delete", "/api/state", 405, "GET"),
])
def test_web_api_errors_are_json(cold_client, method, path, status, allow):
    response = getattr(cold_client, method)(path)
    assert response.status_code == status
    assert response.mimetype == "application/json"
    assert set(response.get_json()) == {"error"} and response.get_json()["error"]
    if allow:
        assert allow in response.headers["Allow"]


@pytest.mark.parametrize("method, path, status", [
    ("get", "/nowhere", 404),
    ("post", "/display", 405),
])
def test_web_page_errors_are_small_html_pages(cold_client, method, path, status):
    response = getattr(cold_client, method)(path)
    assert response.status_code == status
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert "<h1>" in html and inventory(html).inline == []


def test_web_unexpected_errors_are_500_without_details(cold_room):
    app = create_app(cold_room)  # not TESTING: exceptions go to the error handler, as in production

    def explode():
        raise RuntimeError("secret detail from deep inside")

    app.add_url_rule("/api/explode", "api_explode", auth.public(explode))  # /api is private unless marked
    app.add_url_rule("/explode", "explode", explode)
    client = app.test_client()
    response = client.get("/api/explode")
    assert response.status_code == 500
    assert response.get_json() == {"error": "internal server error"}
    assert response.headers["Content-Security-Policy"] == CSP
    page = client.get("/explode")
    assert page.status_code == 500 and page.mimetype == "text/html"
    assert "secret detail" not in page.get_data(as_text=True)


def test_web_display_is_served_when_the_room_has_not_been_checked(tmp_path):
    # A controller that never ran a check (and is not even started) still gets a page and a state.
    from web import unsimulated_controller

    controller = unsimulated_controller(tmp_path)
    try:
        client = create_app(controller, {"TESTING": True}).test_client()
        assert client.get("/display").status_code == 200
        state = client.get("/api/state").get_json()
        assert state["checks"] == {} and state["state"] == "idle"
    finally:
        controller.hardware.close()


def test_web_metrics_endpoint_serves_prometheus_text(cold_room):
    client = create_app(cold_room).test_client()
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    body = response.get_data(as_text=True)
    assert "kiosk_ready" in body and "kiosk_uptime_seconds" in body
