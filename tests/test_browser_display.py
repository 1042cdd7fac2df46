"""The room display and the simulator in a real Chromium, served by waitress.

Screenshots go to test-artifacts/ (git-ignored) so that the pages can be looked at.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from waiting import wait_for
from web import serve, start_room, stop_room
from web_ui import create_app

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
FULL_HD = {"width": 1920, "height": 1080}


class Page:
    """A fresh 1920x1080 browser page that records console errors and page errors."""

    def __init__(self, browser):
        self.context = browser.new_context(viewport=FULL_HD)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        #: Substrings of console errors that a test expects (e.g. while the server is down).
        self.expected: list[str] = []
        self.page.on("console", lambda msg: msg.type == "error" and self.errors.append(msg.text))
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))

    def close(self):
        self.context.close()


@pytest.fixture
def tab(browser):
    """A page in its own browser context; fails the test on any console error (a CSP
    violation is one)."""
    page = Page(browser)
    try:
        yield page
    finally:
        page.close()
    assert [e for e in page.errors if not any(x in e for x in page.expected)] == []


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path))
    return path


def make_ready(room) -> None:
    """Press the start button and wait for the checks to pass."""
    room.press()
    assert wait_for(lambda: room.machine.state.value == "ready", timeout=5)


def start_countdown(room, minutes: float) -> datetime:
    """Make the room ready, set the start ``minutes`` ahead and press again."""
    make_ready(room)
    start_at = datetime.now(room.tz) + timedelta(minutes=minutes)
    room.set_start(start_at, "chair")
    room.press()
    assert room.machine.state.value == "countdown"
    return start_at


def test_browser_display_counts_down_to_the_start(live_server, room, tab):
    start_at = start_countdown(room, 5)
    page = tab.page
    page.goto(live_server.url + "/display")
    page.wait_for_selector('body[data-state="countdown"][data-ready="true"]', timeout=5000)

    assert page.text_content("#state") == "Conference starts in"
    label = page.text_content("#countdown")
    assert re.fullmatch(r"0[45]:\d\d", label), label
    assert page.text_content("#start-time") == f"Start time {start_at:%H:%M}"
    assert page.is_hidden("#countdown-message")  # the start time is said once, in the header
    assert page.locator("#checks > li").count() == 5
    assert page.locator('#checks > li[data-status="pass"]').count() == 5
    assert page.is_visible("#expectations") and page.is_hidden("#problems") and page.is_hidden("#connection")
    assert page.is_hidden("#joining") and page.is_hidden("#free")
    # The countdown ticks without a page reload.
    page.evaluate("window.__sameDocument = true")
    page.wait_for_function("label => document.querySelector('#countdown').textContent !== label", arg=label,
                           timeout=2500)
    assert page.evaluate("window.__sameDocument") is True

    path = screenshot(page, "display.png")
    assert path.stat().st_size > 10_000


def test_browser_display_flips_to_not_ready_within_a_second_of_unplugging(live_server, room, tab):
    make_ready(room)
    page = tab.page
    page.goto(live_server.url + "/display")
    page.wait_for_selector('body[data-state="ready"][data-ready="true"]', timeout=5000)
    assert page.text_content("#state") == "Room ready"

    began = time.monotonic()
    live_server.post_json("/simulator/display", {"connected": False})
    page.wait_for_selector('body[data-ready="false"]', timeout=3000)
    elapsed = time.monotonic() - began
    assert elapsed < 1.0, f"the display took {elapsed:.2f} s to show the room not ready"

    page.wait_for_selector('body[data-state="not_ready"]', timeout=1000)
    assert page.text_content("#state") == "Room not ready"
    assert page.get_attribute("#check-display", "data-status") == "fail"
    assert page.text_content("#check-display .check-status") == "Not working"
    reason = room.public_state()["checks"]["display"]["reason"]
    assert page.is_visible("#problems")
    assert reason in page.text_content("#problem-list")
    screenshot(page, "display-not-ready.png")

    # Plugging it back in brings the room back to ready, again without a reload.
    live_server.post_json("/simulator/display", {"connected": True})
    page.wait_for_selector('body[data-ready="true"][data-state="ready"]', timeout=3000)
    assert page.is_hidden("#problems")


def _start_time_said(page) -> list[str]:
    """The visible elements that say when the conference starts."""
    return [sel for sel in ("#start-time", "#countdown-message", "#countdown-caption", "#state")
            if page.is_visible(sel) and re.search(r"Start time|starts at", page.text_content(sel))]


def test_browser_display_not_ready_countdown_says_the_start_time_once(live_server, room, tab):
    start_at = start_countdown(room, 10)
    page = tab.page
    page.goto(live_server.url + "/display")
    page.wait_for_selector('body[data-state="countdown"]', timeout=5000)
    live_server.post_json("/simulator/display", {"connected": False})
    page.wait_for_selector('body[data-state="not_ready"][data-phase="waiting"]', timeout=3000)
    assert page.text_content("#countdown-caption") == "Conference starts in"
    assert re.fullmatch(r"(10:00|0\d:\d\d)", page.text_content("#countdown"))
    assert _start_time_said(page) == ["#start-time"]
    assert page.text_content("#start-time") == f"Start time {start_at:%H:%M}"
    screenshot(page, "display-not-ready-countdown.png")


def test_browser_display_start_on_another_day_is_said_once_with_its_day(live_server, room, tab):
    start_at = start_countdown(room, 26 * 60)
    page = tab.page
    page.goto(live_server.url + "/display")
    page.wait_for_selector('body[data-state="countdown"][data-phase="waiting"]', timeout=5000)
    assert _start_time_said(page) == ["#countdown-message"]
    assert page.text_content("#countdown-message") == \
        f"Conference starts at {start_at:%H:%M} on {start_at:%A} {start_at.day} {start_at:%B}"

def test_browser_display_asks_attendees_to_join_in_the_last_minutes(live_server, room, tab):
    start_countdown(room, 2)  # inside the 3-minute joining window
    page = tab.page
    page.goto(live_server.url + "/display")
    page.wait_for_selector('body[data-phase="joining"]', timeout=5000)
    assert page.is_visible("#joining")
    assert "Attendees should be joining now" in page.inner_text("#joining")
    assert re.fullmatch(r"0[12]:\d\d", page.text_content("#countdown"))
    screenshot(page, "display-joining.png")


def test_browser_display_shows_the_conference_in_progress(live_server, room, tab):
    start_countdown(room, 1.5 / 60)  # 1.5 s ahead: the room starts the conference itself
    page = tab.page
    page.goto(live_server.url + "/display")
    page.wait_for_selector('body[data-state="in_session"]', timeout=5000)
    assert page.text_content("#state") == "Conference in progress"
    assert page.text_content("#countdown-caption") == "Time since the start"
    assert re.fullmatch(r"\+00:0\d", page.text_content("#countdown"))
    assert page.is_hidden("#joining") and page.is_hidden("#state-hint")
    screenshot(page, "display-in-session.png")


def test_browser_display_counts_an_unplanned_conference_from_its_press(live_server, room, tab):
    make_ready(room)
    room.press()  # no start time: the staff began it with the button
    assert room.machine.state.value == "in_session" and room.start_at() is None
    page = tab.page
    page.goto(live_server.url + "/display")
    page.wait_for_selector('body[data-state="in_session"]', timeout=5000)
    assert page.text_content("#countdown-caption") == "Time since the start"
    assert re.fullmatch(r"\+00:0\d", page.text_content("#countdown"))
    assert page.is_hidden("#start-time")  # no start time was given: none is shown
    screenshot(page, "display-in-session-unplanned.png")


def test_browser_display_says_when_the_room_is_free_today(live_server, room, tab):
    page = tab.page
    page.goto(live_server.url + "/display")
    page.wait_for_selector('body[data-state="idle"][data-phase="free"]', timeout=5000)
    assert page.text_content("#free") == "No conference booked for the rest of today"
    assert page.is_hidden("#countdown-box") and page.is_hidden("#start-time")
    screenshot(page, "display-idle.png")


def test_browser_simulator_shows_the_light_and_drives_the_room(live_server, room, tab):
    page = tab.page
    page.goto(live_server.url + "/simulator")
    page.wait_for_selector('body[data-connection="ok"][data-pattern="off"]', timeout=5000)

    page.click("#press")
    page.wait_for_selector('body[data-pattern="ready"]', timeout=5000)
    colour = page.eval_on_selector("#light", "el => getComputedStyle(el).backgroundColor")
    assert colour == "rgb(0, 255, 0)"
    assert page.text_content("#light-pattern") == "ready"

    page.click('#display button:has-text("unplugged")')
    page.wait_for_selector('body[data-ready="false"][data-pattern="not_ready"]', timeout=3000)
    assert page.get_attribute('#display button:has-text("unplugged")', "aria-pressed") == "true"
    assert page.eval_on_selector("#light", "el => getComputedStyle(el).backgroundColor") == "rgb(255, 0, 0)"
    assert room.hardware.display.connected is False
    screenshot(page, "simulator.png")


def test_browser_display_recovers_after_a_server_restart(room, tab):
    # The TV's page must keep working when the kiosk restarts: it shows that it is
    # reconnecting, then follows the new server, whose revision counter began again.
    tab.expected.append("net::ERR_CONNECTION_REFUSED")  # the browser logs requests made while it is down
    make_ready(room)
    for n in range(40):  # move the old server's revision well past where a new one starts
        room.set_attendance(n, 0, False)
    old_revision = room.version
    first, close_first = serve(create_app(room, {"TESTING": True, "SIMULATOR": True}))
    page = tab.page
    try:
        page.goto(first.url + "/display")
        page.wait_for_selector('body[data-state="ready"][data-connection="ok"]', timeout=5000)
    finally:
        close_first()
    page.wait_for_selector('body[data-connection="lost"]', timeout=3000)
    assert page.is_visible("#connection")
    assert page.text_content("#connection") == "Reconnecting\u2026"

    port = int(first.url.rsplit(":", 1)[1])
    new_room, factory = start_room()
    try:
        second, close_second = serve(create_app(new_room, {"TESTING": True, "SIMULATOR": True}), port=port)
        try:
            page.wait_for_selector('body[data-connection="ok"][data-state="idle"]', timeout=8000)
            assert page.is_hidden("#connection")
            revision = page.evaluate("fetch('/api/state').then(r => r.json()).then(s => s.revision)")
            assert revision < old_revision
        finally:
            close_second()
    finally:
        stop_room(new_room, factory)
