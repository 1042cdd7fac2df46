"""A whole conference on the chair's page in a real Chromium, on a 10" tablet held both ways.

Sign in, create today's conference, paste the invitation list, record the start, mark arrivals in the
room and online (quorate), someone leaves (not quorate, with the reason), record the decision to
proceed, record a report, end, export the CSV and open the printable record. Screenshots go to
test-artifacts/chair-*.png; the time from each tap to its result on screen is printed.
"""

from __future__ import annotations

import statistics
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from chair_web import PIN
from kiosk.conference.service import ChairService
from web import fast_config, serve
from web_ui import create_app

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
VIEWPORTS = {"portrait": {"width": 800, "height": 1280}, "landscape": {"width": 1280, "height": 800}}
CSV = ("name,role,agency,direct_contact,expected_mode\n"
       "Sam Social,social worker,,,in person\n"
       "Mary Parent,parent,,,in person\n"
       "Pat Police,police officer,,yes,virtual\n"
       "Hana Visitor,health visitor,,yes,virtual\n"
       "Ella School,school,,yes,virtual\n"
       "Gil Green,GP,health,yes,virtual\n")


@pytest.fixture
def site(tmp_path, room):
    """The app with a real ChairService (kiosk clock = the real clock) served by waitress."""
    cfg = fast_config().replace("storage", state_dir=str(tmp_path / "state"))
    service = ChairService(cfg, room).start()
    service.pins.save(PIN)
    app = create_app(room, {"TESTING": True}, chair=service)
    server, close = serve(app)
    try:
        yield server, service, room
    finally:
        close()
        service.stop()


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.evaluate("() => window.scrollTo(0, 0)")
    page.screenshot(path=str(ARTIFACTS / f"chair-{name}.png"), full_page=False)


def _tap(page, person: str, label: str, timings: list) -> None:
    """Tap a person's button and wait until the page shows the result; record the time it took."""
    card = page.locator("article.person", has=page.locator(".name", has_text=person))
    before = page.evaluate("() => document.body.getAttribute('data-last-tap-ms')")
    page.evaluate("() => document.body.removeAttribute('data-last-tap-ms')")
    card.get_by_role("button", name=label, exact=True).click()
    page.wait_for_function("() => document.body.hasAttribute('data-last-tap-ms')", timeout=5000)
    timings.append(float(page.evaluate("() => document.body.getAttribute('data-last-tap-ms')")))
    assert before is None or before != ""


@pytest.mark.parametrize("orientation", ["portrait", "landscape"])
def test_browser_chair_a_whole_conference_on_a_tablet(browser, site, orientation):
    server, service, controller = site
    context = browser.new_context(viewport=VIEWPORTS[orientation], accept_downloads=True, has_touch=True,
                                  locale="en-GB")
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    timings: list[float] = []
    try:
        # Sign in.
        page.goto(server.url + "/chair")
        assert "/chair/login" in page.url
        if orientation == "portrait":
            _shot(page, "login")
        page.fill("#pin", "000001")
        page.click("#pin-form button[type=submit]")
        assert "Wrong PIN" in page.inner_text("#login-error")
        page.fill("#pin", PIN)
        page.click("#pin-form button[type=submit]")
        page.wait_for_url("**/chair")

        # Today's conference, starting in two minutes.
        start = datetime.now(controller.tz) + timedelta(minutes=2)
        start_text = min(start.strftime("%H:%M"), "23:59") if start.date() == datetime.now(controller.tz).date() \
            else "23:59"
        page.fill("#new-conference input[name=start_time]", start_text)
        page.fill("#new-conference input[name=case_ref]", "CP-2026-0142")
        if orientation == "portrait":
            _shot(page, "home")
        page.click("#new-conference button[type=submit]")
        page.wait_for_url("**/chair/conferences/*")
        assert "Not quorate yet" in page.inner_text("#quorum")
        assert controller.start_source() == "chair"

        # The invitation list, pasted.
        page.fill("#csv-text", CSV)
        page.click("#csv-import")
        page.wait_for_selector("article.person >> nth=5")
        assert page.locator("article.person").count() == 6

        # Arrivals in the room and online: quorate.
        _tap(page, "Sam Social", "Arrived in room", timings)
        _tap(page, "Mary Parent", "Arrived in room", timings)
        _tap(page, "Pat Police", "Arrived online", timings)
        assert page.get_attribute("#quorum", "data-quorate") == "false"
        _tap(page, "Hana Visitor", "Arrived online", timings)
        assert page.get_attribute("#quorum", "data-quorate") == "true"
        assert page.inner_text("#quorum-word").endswith("Quorate")
        assert page.inner_text("#count-in-person") == "2" and page.inner_text("#count-virtual") == "2"
        assert controller.public_state()["attendance"] == {"in_person": 2, "virtual": 2, "quorate": True}
        _tap(page, "Ella School", "Apologies", timings)
        page.click("#record-start")
        page.wait_for_selector("#record-start", state="detached")
        _shot(page, f"{orientation}-quorate")

        # Touch targets: every visible button and link-button at least 48 px tall.
        small = page.evaluate("""() => Array.from(document.querySelectorAll('button, .btn, summary, .tap'))
            .filter(el => el.offsetParent !== null)
            .map(el => [el.textContent.trim().slice(0, 30), el.getBoundingClientRect().height])
            .filter(([, h]) => h < 47.5)""")
        assert small == [], small

        # Pat leaves: not quorate, with the reason, at once.
        _tap(page, "Pat Police", "Left (not agreed)", timings)
        assert page.get_attribute("#quorum", "data-quorate") == "false"
        assert "Needs one more agency" in page.inner_text("#quorum-reason")
        assert controller.public_state()["attendance"] == {"in_person": 2, "virtual": 1, "quorate": False}
        _shot(page, f"{orientation}-inquorate")

        # The decision to proceed needs a reason.
        page.click("#decide summary")
        page.click("#decide-proceed")
        assert page.evaluate("() => document.getElementById('decision-reason').validity.valueMissing")
        page.fill("#decision-reason", "Police report shared in writing; delay would harm the child")
        started = len(timings)
        page.evaluate("() => document.body.removeAttribute('data-last-tap-ms')")
        page.click("#decide-proceed")
        page.wait_for_function("() => document.body.hasAttribute('data-last-tap-ms')")
        assert started == len(timings)
        assert "proceeding" in page.inner_text("#quorum-word")
        assert "delay would harm the child" in page.inner_text("#quorum-decision")

        # A report received (today).
        report = page.locator("#reports li", has=page.locator(".name", has_text="Pat Police"))
        report.get_by_role("button", name="Received").click()
        report.get_by_role("button", name="Received").wait_for(state="detached")
        # Received today, the conference day: late, since reports are due 2 working days before (D8).
        assert "Late" in report.inner_text()

        # A mistaken tap, undone.
        _tap(page, "Gil Green", "Arrived online", timings)
        card = page.locator("article.person", has=page.locator(".name", has_text="Gil Green"))
        card.get_by_role("button", name="Undo arrived").click()
        page.wait_for_function(
            "() => document.querySelector('#status-' + document.querySelector('article.person:last-child')"
            ".dataset.invitee).innerText === 'Not arrived'")
        assert page.locator(".log-row.is-voided").count() == 1
        _shot(page, f"{orientation}-log")

        # A refused tap explains itself.
        page.evaluate("""() => { const f = document.getElementById('taps'); const b = document.createElement('button');
            b.name = 'tap'; b.value = document.querySelector('article.person').dataset.invitee + ':rejoined';
            b.id = 'forged'; f.append(b); }""")
        page.click("#forged")
        page.wait_for_selector("#toast:not([hidden])")
        assert "has not lost connection" in page.inner_text("#toast")

        # End, then export.
        page.click("#end-conference")
        page.wait_for_selector("text=Conference ended")
        assert page.locator("#taps button").count() == 0
        assert controller.public_state()["attendance"]["in_person"] == 0
        with page.expect_download() as download:
            page.click("#export-csv")
        text = Path(download.value.path()).read_text(encoding="utf-8-sig")
        assert "Pat Police" in text and "Police report shared in writing" in text
        _shot(page, f"{orientation}-ended")

        page.click("#print-record")
        page.wait_for_url("**/record")
        assert "Attendance record" in page.inner_text("h1")
        if orientation == "portrait":
            _shot(page, "record")
            page.emulate_media(media="print")
            assert not page.is_visible(".bar") and not page.is_visible("#print")
            _shot(page, "record-print")
        # The wrong PIN (401) and the refused tap (400) are the only failed requests.
        unexpected = [e for e in errors if not ("Failed to load resource" in e and ("(UNAUTHORIZED)" in e
                                                                                    or "(BAD REQUEST)" in e))]
        assert unexpected == [] and len(errors) == 2, errors
    finally:
        context.close()
    print(f"\n{orientation}: tap -> result on screen, {len(timings)} taps: median "
          f"{statistics.median(timings):.0f} ms, max {max(timings):.0f} ms")


def test_browser_chair_first_load_is_small(browser, site):
    server, service, controller = site
    conference = service.create_conference(type="initial", date=service.today().isoformat(), start_time="23:59",
                                           case_ref="CP-2026-0001")
    service.import_csv(conference.id, CSV)
    context = browser.new_context(viewport=VIEWPORTS["portrait"])
    page = context.new_page()
    try:
        # Signed in without loading any page first, so the browser's cache is empty.
        assert context.request.post(server.url + "/api/login", data={"pin": PIN}).ok
        sizes = {}
        page.on("response", lambda r: sizes.__setitem__(r.url, len(r.body())))
        page.goto(server.url + f"/chair/conferences/{conference.id}", wait_until="networkidle")
        total = sum(sizes.values())
        print(f"\nfirst load of a conference page: {total / 1024:.1f} KB in {len(sizes)} responses")
        assert total <= 150 * 1024
        assert all(url.startswith(server.url) for url in sizes)
    finally:
        context.close()


def test_browser_chair_pairing_page_shows_a_scannable_code(browser, site):
    server, service, controller = site
    context = browser.new_context(viewport=VIEWPORTS["portrait"])
    page = context.new_page()
    try:
        page.goto(server.url + "/chair/login")
        page.fill("#pin", PIN)
        page.click("#pin-form button[type=submit]")
        page.goto(server.url + "/chair/pair")
        assert page.evaluate("() => document.getElementById('pair-qr').naturalWidth") > 200
        _shot(page, "pair")
        code = page.inner_text("#pair-code").replace("\u2011", "")
        tablet = browser.new_context(viewport=VIEWPORTS["landscape"]).new_page()
        tablet.goto(server.url + f"/chair/login?code={code}")
        tablet.click("#code-form button[type=submit]")
        tablet.wait_for_url("**/chair")
        assert "Conferences" in tablet.inner_text("h1")
        tablet.context.close()
    finally:
        context.close()


def test_browser_chair_a_long_log_on_its_own_page(browser, site):
    """The live page keeps the latest entries; an older one is corrected from the whole log, without chair.js."""
    from web_ui.chair import LIVE_LOG_ROWS

    server, service, controller = site
    today = datetime.now(controller.tz).date().isoformat()
    conference = service.create_conference(type="initial", date=today, start_time="23:59", case_ref="CP-2026-0143")
    people = {i.name: i.id for i in service.import_csv(conference.id, CSV)}
    first = service.record_action(conference.id, people["Pat Police"], "arrived_virtual")
    for n in range(LIVE_LOG_ROWS + 5):
        service.record_action(conference.id, people["Pat Police"], "camera_off" if n % 2 == 0 else "camera_on")
    context = browser.new_context(viewport=VIEWPORTS["portrait"], has_touch=True, locale="en-GB")
    page = context.new_page()
    try:
        page.goto(server.url + "/chair/login")
        page.fill("#pin", PIN)
        page.click("#pin-form button[type=submit]")
        page.wait_for_url("**/chair")
        page.goto(f"{server.url}/chair/conferences/{conference.id}")
        assert page.locator("#log .log-row").count() == LIVE_LOG_ROWS
        page.get_by_role("link", name="The whole log").click()
        page.wait_for_url(f"**/chair/conferences/{conference.id}/log")
        assert page.locator("#log .log-row").count() == LIVE_LOG_ROWS + 6
        row = page.locator(f"#event-{first.id}")
        row.locator("summary").click()
        row.get_by_label("Reason").fill("arrived in the room, not online")
        row.get_by_role("button", name="Void entry").click()
        page.wait_for_selector("text=Correction recorded.")
        assert page.url.endswith(f"/chair/conferences/{conference.id}/log")
        assert "is-voided" in page.locator(f"#event-{first.id}").get_attribute("class")
        _shot(page, "portrait-whole-log")
    finally:
        context.close()
