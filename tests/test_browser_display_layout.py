"""The room display's layout in every state, at the room screen's 1920x1080 and at 1280x720, in a real Chromium.

Nothing may be cut off: every container's content fits its box (scroll size vs client size) and every
visible element is inside the window, with any number of failing checks and a countdown. When something
needs attention, what to do (the hint and each reason) is the largest text after the status, and the
reasons are at least 32 px at 1080p. Screenshots go to test-artifacts/display-layout-*.png.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from test_browser_display import screenshot
from web import fast_config, serve, start_room, stop_room
from waiting import wait_for
from web_ui import create_app

pytestmark = pytest.mark.browser

SIZES = {"1080p": {"width": 1920, "height": 1080}, "720p": {"width": 1280, "height": 720}}

#: Every element whose content must fit inside it, and every visible element must be inside the window.
OVERFLOW = """() => {
  const boxes = [".layout", ".status", ".problems", ".problem-list", ".checks-panel", ".checks", ".expectations",
                 ".top", "#countdown-box"];
  const found = [];
  for (const selector of boxes) {
    for (const node of document.querySelectorAll(selector)) {
      if (!node.offsetParent && node !== document.body) continue;  // not shown
      if (node.scrollHeight > node.clientHeight + 1 || node.scrollWidth > node.clientWidth + 1) {
        found.push(`${selector}: content ${node.scrollWidth}x${node.scrollHeight} in ${node.clientWidth}x${node.clientHeight}`);
      }
    }
  }
  for (const node of document.body.querySelectorAll("*")) {
    if (!node.offsetParent) continue;
    const r = node.getBoundingClientRect();
    if (r.width && (r.bottom > innerHeight + 0.5 || r.right > innerWidth + 0.5 || r.top < -0.5 || r.left < -0.5)) {
      found.push(`${node.id || node.className}: ${Math.round(r.left)},${Math.round(r.top)}-${Math.round(r.right)},${Math.round(r.bottom)} outside ${innerWidth}x${innerHeight}`);
    }
  }
  return found;
}"""

#: Resolves after the next frame has been rendered (and so after any resize handler of this frame).
NEXT_FRAME = "() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))"

#: Font sizes (px) of the visible texts: what to do, and the largest of everything else but the status.
SIZES_JS = """() => {
  const px = node => parseFloat(getComputedStyle(node).fontSize);
  const todo = [...document.querySelectorAll("#state-hint:not([hidden]), .problem-reason")].filter(n => n.offsetParent);
  const status = new Set([document.getElementById("state"), document.getElementById("state-icon")]);
  let other = 0;
  for (const node of document.body.querySelectorAll("*")) {
    if (!node.offsetParent || status.has(node) || todo.includes(node) || node.closest(".problem")) continue;
    if ([...node.childNodes].some(c => c.nodeType === 3 && c.textContent.trim())) other = Math.max(other, px(node));
  }
  return {todo: todo.map(px), other, reasons: [...document.querySelectorAll(".problem-reason")].map(px)};
}"""


def six_check_config(closed_port):
    return (fast_config().replace("speaker", enabled=True, required=True)
            .replace("network", hosts=[f"127.0.0.1:{closed_port}"], required=True, timeout_s=0.5))


def break_everything(room):
    hw = room.hardware
    hw.camera.fault = "covered"
    hw.microphone.fault = "muted"
    hw.speaker.fault = "muted"
    hw.display.connected = False
    hw.clock.synced = False


def mend_everything(room):
    hw = room.hardware
    hw.camera.fault = hw.microphone.fault = hw.speaker.fault = "none"
    hw.display.connected = True
    hw.clock.synced = True


def recheck(room, state):
    cycles = room.last_cycle
    room.request_check("test")
    assert wait_for(lambda: room.last_cycle is not cycles and room.machine.state.value == state, timeout=15)


@pytest.fixture
def six_checks(closed_port):
    room, factory = start_room(six_check_config(closed_port))
    server, close = serve(create_app(room, {"TESTING": True}))
    try:
        yield room, server
    finally:
        close()
        stop_room(room, factory)


def look(page, name, state, expect_problems=None):
    page.wait_for_selector(f'body[data-state="{state}"][data-connection="ok"]', timeout=8000)
    if expect_problems is not None:
        page.wait_for_function("n => document.querySelectorAll('#problem-list > li').length === n "
                               "&& !document.getElementById('problems').hidden", arg=expect_problems, timeout=8000)
    results = {}
    for size_name, size in SIZES.items():
        page.set_viewport_size(size)
        # The page refits the list in its resize handler, which runs before the next animation frame's callbacks.
        page.wait_for_function("w => innerWidth === w", arg=size["width"], timeout=5000)
        page.evaluate(NEXT_FRAME)
        screenshot(page, f"display-layout-{name}-{size_name}.png")
        assert page.evaluate(OVERFLOW) == [], f"{name} at {size_name}"
        results[size_name] = page.evaluate(SIZES_JS)
    return results


def test_browser_display_layout_fault_list_never_clipped(browser, six_checks):
    room, server = six_checks
    context = browser.new_context(viewport=SIZES["1080p"])
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(server.url + "/display")
        look(page, "idle", "idle")

        # Six failing checks, a countdown to a start 10 minutes ahead.
        break_everything(room)
        room.set_start(datetime.now(room.tz) + timedelta(minutes=10), "chair")
        room.press()
        assert wait_for(lambda: room.machine.state.value == "not_ready", timeout=15)
        sizes = look(page, "not-ready-6-countdown", "not_ready", expect_problems=6)
        for size_name, found in sizes.items():
            assert min(found["todo"]) >= found["other"], f"what to do is not the largest text at {size_name}"
        assert min(sizes["1080p"]["reasons"]) >= 32
        assert page.is_visible("#countdown") and page.is_visible("#state-hint")

        # In the joining window, with the banner.
        room.set_start(datetime.now(room.tz) + timedelta(minutes=2), "chair")
        look(page, "not-ready-6-joining", "not_ready", expect_problems=6)

        # One failing check.
        mend_everything(room)
        room.hardware.camera.fault = "covered"
        recheck(room, "not_ready")
        sizes = look(page, "not-ready-1", "not_ready", expect_problems=2)  # the camera, and the network port
        assert min(sizes["1080p"]["reasons"]) >= 32
    finally:
        context.close()
    assert errors == []


def test_browser_display_layout_in_session_with_faults_and_ready(browser, closed_port):
    cfg = six_check_config(closed_port).replace("network", hosts=[], required=True)
    room, factory = start_room(cfg)
    server, close = serve(create_app(room, {"TESTING": True}))
    context = browser.new_context(viewport=SIZES["1080p"])
    page = context.new_page()
    try:
        page.goto(server.url + "/display")
        room.press()
        assert wait_for(lambda: room.machine.state.value == "ready", timeout=15)
        room.set_start(datetime.now(room.tz) + timedelta(minutes=20), "chair")
        look(page, "ready-waiting", "ready")
        room.press()
        look(page, "countdown", "countdown")
        room.set_start(datetime.now(room.tz) + timedelta(seconds=1), "chair")
        assert wait_for(lambda: room.machine.state.value == "in_session", timeout=5)
        look(page, "in-session", "in_session")
        break_everything(room)
        recheck(room, "in_session")
        sizes = look(page, "in-session-faults", "in_session", expect_problems=5)
        assert min(sizes["1080p"]["reasons"]) >= 32
    finally:
        context.close()
        close()
        stop_room(room, factory)


def test_browser_display_layout_says_when_bookings_may_be_out_of_date(browser, six_checks):
    room, server = six_checks
    context = browser.new_context(viewport=SIZES["1080p"])
    page = context.new_page()
    try:
        page.goto(server.url + "/display")
        page.wait_for_selector('body[data-connection="ok"]', timeout=5000)
        assert page.is_hidden("#calendar-note")
        room.set_bookings([], {"source": "url", "last_good_at": "2026-11-23T09:05:00+00:00", "events_skipped": 0,
                               "error": "the calendar server is unreachable (Connection refused)", "stale": True})
        page.wait_for_selector("#calendar-note:not([hidden])", timeout=5000)
        note = page.text_content("#calendar-note")
        assert note.startswith("Today\u2019s bookings may be out of date (calendar last read at ")
        assert "unreachable" not in note  # the room needs to know, not the technical reason
        look(page, "calendar-stale", room.machine.state.value)
        room.set_bookings([], {"source": "url", "last_good_at": "2026-11-23T09:10:00+00:00", "events_skipped": 0,
                               "error": None, "stale": False})
        page.wait_for_selector("#calendar-note[hidden]", state="attached", timeout=5000)
    finally:
        context.close()
