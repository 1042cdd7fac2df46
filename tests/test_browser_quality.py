"""The quality report in a real Chromium: sign in with the PIN, read the figures of the scripted
conferences, choose another month, print the page to PDF. Screenshots and the PDF go to test-artifacts/."""

from __future__ import annotations

from pathlib import Path

import pytest

import quality_script as qs
from chair_web import PIN
from web import serve

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture
def site(tmp_path, cold_room):
    env = qs.make_quality_chair(tmp_path, cold_room)
    qs.publish_checks(cold_room.bus)
    qs.run(env)
    server, close = serve(env.app)
    try:
        yield server, env
    finally:
        close()
        env.extra["quality"].stop()
        env.service.stop()


def test_browser_quality_report_reads_and_prints(browser, site):
    server, env = site
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-GB")
    page = context.new_page()
    errors: list[str] = []
    requests: list[str] = []
    page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("request", lambda request: requests.append(request.url))
    try:
        page.goto(server.url + "/chair/quality")
        assert "/chair/login" in page.url  # behind the chair's PIN
        page.fill("#pin", PIN)
        page.click("#pin-form button[type=submit]")
        page.wait_for_url("**/chair/quality")
        assert page.inner_text("h1") == "Quality report: November 2026"
        assert page.inner_text("#figure-started_on_time td[data-count]") == "1"
        assert page.inner_text("#agency-police td[data-col=invited]") == "6"
        assert page.inner_text("#agency-police td[data-col=late]") == "fewer than 5"
        assert page.locator("svg[role=img]").count() == 11
        # Every per-agency column in view on the tablet, without scrolling the table sideways.
        assert page.evaluate("() => [...document.querySelectorAll('.q-scroll')]"
                             ".filter(n => n.scrollWidth > n.clientWidth + 1).length") == 0
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "quality-page.png"), full_page=True)
        page.emulate_media(media="print")
        page.pdf(path=str(ARTIFACTS / "quality-page.pdf"), format="A4", landscape=True, print_background=False)
        assert (ARTIFACTS / "quality-page.pdf").read_bytes()[:5] == b"%PDF-"
        page.emulate_media(media="screen")

        page.fill("input[name=month]", "2026-10")
        page.click("form[aria-label='Choose the period'] button[type=submit]")
        page.wait_for_url("**/chair/quality?month=2026-10")
        assert page.inner_text("#figure-conferences td[data-count]") == "0"
        assert "No conference in this period." in page.inner_text("main")
        assert not errors, errors
        assert all(url.startswith(server.url) or url.startswith("data:") for url in requests), requests
    finally:
        context.close()
