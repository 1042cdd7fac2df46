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
from kiosk.conference.access import ChairAccess
from kiosk.conference.service import ChairService
from kiosk.service import connect_room
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


def _served_chair(tmp_path, room, config: dict):
    """The app with a real ChairService (kiosk clock = the real clock) served by waitress; yields
    (server, service, room)."""
    cfg = fast_config().replace("storage", state_dir=str(tmp_path / "state"))
    service = ChairService(cfg, room.bus).start()
    connect_room(room)
    access = ChairAccess.from_config(cfg, bus=room.bus)
    access.pins.save(PIN)
    app = create_app(room, {"TESTING": True, **config}, chair=service, access=access)
    server, close = serve(app)
    try:
        yield server, service, room
    finally:
        close()
        service.stop()


@pytest.fixture
def site(tmp_path, room):
    """The chair's app served by waitress, with the default settings."""
    yield from _served_chair(tmp_path, room, {})


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
    page.wait_for_function("() => !document.querySelector('.is-settling')")  # its buttons take taps again


@pytest.mark.parametrize("orientation", ["portrait", "landscape"])
def test_browser_chair_a_whole_conference_on_a_tablet(browser, site, orientation):
    server, service, controller = site
    context = browser.new_context(viewport=VIEWPORTS[orientation], accept_downloads=True, has_touch=True,
                                  locale="en-GB")
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    failed: list[tuple[int, str, str]] = []  # (status, method, path) of every answer of 400 or more
    page.on("response", lambda r: r.status >= 400 and failed.append(
        (r.status, r.request.method, r.url.replace(server.url, "").split("?")[0])))
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
        page.wait_for_selector("#toast.is-error")
        assert "has not lost connection" in page.inner_text("#toast")

        # End (asked first), then export.
        page.click("#end-conference")
        page.click("#confirm-yes")
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
        # The wrong PIN (401) and the refused tap (400) are the only failed requests (the refused tap may be
        # answered twice: a tap the network seems to lose is sent once more with its Idempotency-Key).
        unexpected = [e for e in errors if not ("Failed to load resource" in e and ("(UNAUTHORIZED)" in e
                                                                                    or "(BAD REQUEST)" in e))]
        assert unexpected == [], errors
        assert {f[:2] for f in failed} == {(401, "POST"), (400, "POST")}, failed
        assert all(path == "/chair/login" for status, _, path in failed if status == 401), failed
        assert all(path.endswith("/tap") for status, _, path in failed if status == 400), failed
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
        # The page's long-poll stays open by design: it is not part of loading the page.
        page.on("response", lambda r: "?since=" in r.url or sizes.__setitem__(r.url, len(r.body())))
        page.goto(server.url + f"/chair/conferences/{conference.id}", wait_until="load")
        page.wait_for_function("() => document.getElementById('kiosk-time').textContent.length === 8")
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


# -- a tap means one thing, live on every tablet, ending and removing ask first -----------------------

NINE = CSV + ("Tom Teacher,teacher,education,yes,virtual\n"
              "Dr Ana Paediatrician,paediatrician,health,yes,virtual\n"
              "Ivy Interpreter,interpreter,,,in person\n")


def _today_conference(service, controller, csv: str = CSV, start: str = "23:59") -> tuple[int, dict]:
    today = datetime.now(controller.tz).date().isoformat()
    conference = service.create_conference(type="initial", date=today, start_time=start, case_ref="CP-2026-0144")
    return conference.id, {i.name: i.id for i in service.import_csv(conference.id, csv)}


def _tablet(browser, server, conference_id: int, viewport: str = "landscape", errors: list | None = None,
            deaf: bool = False):
    """A signed-in tablet showing the conference's page (``deaf``: its live connection never gets through)."""
    context = browser.new_context(viewport=VIEWPORTS[viewport], has_touch=True, locale="en-GB")
    assert context.request.post(server.url + "/api/login", data={"pin": PIN}).ok
    if deaf:
        context.route("**/api/conferences/**", lambda route: route.abort())
    page = context.new_page()
    if errors is not None:
        page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{server.url}/chair/conferences/{conference_id}")
    return page


def _card(page, person: str):
    return page.locator("article.person", has=page.locator(".name", has_text=person))


def _kinds(service, conference_id: int, invitee_id: int) -> list[str]:
    return [e["kind"] for e in reversed(service.view(conference_id)["events"]) if e["invitee_id"] == invitee_id]


def _boxes(page, skip_invitee: int | None = None) -> dict:
    """Where every control of the page is, except those of one card (keyed so they can be found again)."""
    return page.evaluate("""(skip) => {
        const out = {};
        const all = 'button, a.btn, summary, #quorum, #warnings, #toast, article.person, #reports, #log, .log-box';
        for (const el of document.querySelectorAll(all)) {
            // The log's entries scroll inside a box of fixed size (the box itself is checked).
            if (!el.offsetParent || el.closest('.log-box')) continue;
            const card = el.closest('article.person');
            if (card && skip !== null && card.dataset.invitee === String(skip)) continue;
            const key = el.id || (el.name ? el.name + '=' + el.value : el.tagName + ':' + el.textContent.trim());
            const r = el.getBoundingClientRect();
            out[key] = [Math.round(r.x), Math.round(r.y), Math.round(r.width), Math.round(r.height)];
        }
        return out;
    }""", skip_invitee)


def _wait_tap(page, button) -> None:
    page.evaluate("() => document.body.removeAttribute('data-last-tap-ms')")
    button.click()
    page.wait_for_function("() => document.body.hasAttribute('data-last-tap-ms')", timeout=5000)


def test_browser_chair_a_double_tap_records_exactly_one_event(browser, site):
    server, service, controller = site
    cid, people = _today_conference(service, controller)
    errors: list[str] = []
    page = _tablet(browser, server, cid, errors=errors)
    sent_keys = []
    page.on("request", lambda r: r.method == "POST" and sent_keys.append(r.headers.get("idempotency-key")))
    try:
        # A double tap on "Arrived online": the second tap finds the first still being saved, or the card
        # just changed (where "Lost connection" now sits): either way it records nothing, and says so.
        button = _card(page, "Pat Police").get_by_role("button", name="Arrived online", exact=True)
        button.dblclick()
        page.wait_for_function(f"() => document.getElementById('status-{people['Pat Police']}')"
                               ".textContent.startsWith('Online')")
        assert _kinds(service, cid, people["Pat Police"]) == ["arrived"]
        # The same again with two taps 150 ms apart, the second where the first one's button was.
        box = _card(page, "Hana Visitor").get_by_role("button", name="Arrived online", exact=True).bounding_box()
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        page.mouse.click(x, y)
        page.wait_for_timeout(150)
        page.mouse.click(x, y)
        page.wait_for_function(f"() => document.getElementById('status-{people['Hana Visitor']}')"
                               ".textContent.startsWith('Online')")
        page.wait_for_function("() => !document.querySelector('.is-settling')")
        assert _kinds(service, cid, people["Hana Visitor"]) == ["arrived"]
        # Every tap carried a key of its own.
        assert len(sent_keys) == 2 and all(sent_keys) and len(set(sent_keys)) == 2
        # A request sent twice with one key (a retry after a dropped answer) is recorded once.
        answers = page.evaluate("""async (invitee) => {
            const form = new FormData(document.getElementById('taps'));
            form.set('tap', invitee + ':arrived_in_person:absent');
            const send = () => fetch(document.getElementById('taps').action, {method: 'POST', body: form,
                headers: {'X-CSRFToken': document.querySelector('meta[name=csrf-token]').content,
                          'X-Chair-Fragment': 'live', 'Idempotency-Key': 'retry-1'}});
            const [a, b] = await Promise.all([send(), send()]);
            return [a.status, b.status, await a.text() === await b.text()];
        }""", people["Sam Social"])
        assert answers == [200, 200, True]
        assert _kinds(service, cid, people["Sam Social"]) == ["arrived"]
        # A tap beside the buttons records nothing, and says so.
        _card(page, "Ella School").locator(".name").click()
        page.wait_for_function("() => document.getElementById('toast').textContent.startsWith('Nothing recorded')")
        assert _kinds(service, cid, people["Ella School"]) == []
        assert errors == []
    finally:
        page.context.close()


def test_browser_chair_a_second_tap_on_a_changed_card_keeps_the_first_taps_message_and_undo(browser, site):
    """A quick second tap lands on the card the first one just changed: it records nothing, and the message still
    says what the first tap recorded, with its Undo (a bare "Nothing recorded" would read as if the first was lost)."""
    server, service, controller = site
    cid, people = _today_conference(service, controller)
    invitee = people["Hana Visitor"]
    page = _tablet(browser, server, cid)
    try:
        box = _card(page, "Hana Visitor").get_by_role("button", name="Arrived online", exact=True).bounding_box()
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        page.mouse.click(x, y)
        page.wait_for_function(f"() => document.querySelector('#person-{invitee}.is-settling')")
        page.mouse.click(x, y)  # where "Lost connection" now sits
        message = page.locator("#toast").inner_text()
        assert message.startswith("Hana Visitor: Arrived online at") and "second tap did nothing" in message
        assert page.locator("#toast #toast-undo").count() == 1
        assert _kinds(service, cid, invitee) == ["arrived"]
    finally:
        page.context.close()


@pytest.mark.parametrize("orientation", ["landscape", "portrait"])
def test_browser_chair_after_a_tap_no_other_control_moves(browser, site, orientation):
    server, service, controller = site
    cid, people = _today_conference(service, controller, NINE)
    page = _tablet(browser, server, cid, orientation)
    try:
        taps = [("Sam Social", "Arrived in room"), ("Pat Police", "Arrived online"), ("Mary Parent", "Apologies"),
                ("Hana Visitor", "Arrived online"),  # quorum changes: the strip's words change, not its size
                ("Pat Police", "Lost connection"), ("Ella School", "Not attended")]
        for person, label in taps:
            invitee = people[person]
            before = _boxes(page, invitee)
            _wait_tap(page, _card(page, person).get_by_role("button", name=label, exact=True))
            after = _boxes(page, invitee)
            moved = {k: (before[k], after.get(k)) for k in before if after.get(k) != before[k]}
            assert moved == {}, (person, label, moved)
            page.wait_for_function("() => !document.querySelector('.is-settling')")
        assert page.get_attribute("#quorum", "data-quorate") == "false"
        _shot(page, f"{orientation}-steady")
    finally:
        page.context.close()


def test_browser_chair_eight_invitees_in_view_on_a_landscape_tablet(browser, site):
    server, service, controller = site
    today = datetime.now(controller.tz).date().isoformat()
    cid = service.create_conference(type="initial", date=today, start_time="23:59", case_ref="CP-2026-0145").id
    page = _tablet(browser, server, cid)
    try:
        page.fill("#csv-text", NINE)
        page.click("#csv-import")
        page.wait_for_selector("article.person >> nth=8")
        # After the import the list is in view, with at least 8 people whole on the screen.
        page.wait_for_function("() => document.getElementById('attendance').getBoundingClientRect().top < 400")
        visible = page.evaluate("""() => Array.from(document.querySelectorAll('article.person')).filter(card => {
            const r = card.getBoundingClientRect(); return r.top >= 0 && r.bottom <= window.innerHeight; }).length""")
        assert visible >= 8, visible
        assert "9 invitee(s) imported" in page.inner_text("#toast")
        page.evaluate("() => window.scrollTo(0, 0)")
        visible = page.evaluate("""() => Array.from(document.querySelectorAll('article.person')).filter(card => {
            const r = card.getBoundingClientRect(); return r.top >= 0 && r.bottom <= window.innerHeight; }).length""")
        assert visible >= 8, visible
        small = page.evaluate("""() => Array.from(document.querySelectorAll('#live button, #live-head button, #live-head summary'))
            .filter(el => el.offsetParent !== null).map(el => el.getBoundingClientRect().height).filter(h => h < 47.5)""")
        assert small == []
        # An error shows in the message slot, which covers nothing.
        page.fill("#csv-text", "name,role\n,police officer\n")
        page.click("#csv-import")
        page.wait_for_selector("#toast.is-error")
        toast = page.locator("#toast").bounding_box()
        for card in page.locator("article.person").all()[:8]:
            box = card.bounding_box()
            assert box["y"] >= toast["y"] + toast["height"] or box["y"] + box["height"] <= toast["y"]
        _shot(page, "landscape-nine")
    finally:
        page.context.close()


def test_browser_chair_two_tablets_see_each_others_taps_within_2s(browser, site):
    server, service, controller = site
    cid, people = _today_conference(service, controller)
    one, two = _tablet(browser, server, cid), _tablet(browser, server, cid, "portrait")
    try:
        pat, hana = people["Pat Police"], people["Hana Visitor"]
        _wait_tap(one, _card(one, "Pat Police").get_by_role("button", name="Arrived online", exact=True))
        two.wait_for_function(f"() => document.getElementById('status-{pat}').textContent.startsWith('Online')",
                              timeout=2000)
        _wait_tap(two, _card(two, "Hana Visitor").get_by_role("button", name="Arrived online", exact=True))
        one.wait_for_function(f"() => document.getElementById('status-{hana}').textContent.startsWith('Online')",
                              timeout=2000)
        # A change through the API shows too.
        token = one.get_attribute('meta[name="csrf-token"]', "content")
        answer = one.context.request.post(f"{server.url}/api/conferences/{cid}/events",
                                          data={"kind": "camera_off", "invitee_id": pat},
                                          headers={"X-CSRFToken": token})
        assert answer.status == 201
        for page in (one, two):
            page.wait_for_function(f"() => document.getElementById('person-{pat}').textContent.includes('Camera off')",
                                   timeout=2000)
        # Ended on one tablet: the other shows it, Reopen instead of End, without a reload by hand.
        one.click("#end-conference")
        one.click("#confirm-yes")
        two.wait_for_selector("#reopen-conference", timeout=3000)
        assert two.locator("#taps button").count() == 0
        # The page's clock ticks.
        shown = two.inner_text("#kiosk-time")
        two.wait_for_function(f"() => document.getElementById('kiosk-time').textContent !== '{shown}'", timeout=2500)
    finally:
        one.context.close()
        two.context.close()


def test_browser_chair_a_stale_tablets_tap_is_refused_and_its_page_refreshed(browser, site):
    server, service, controller = site
    cid, people = _today_conference(service, controller)
    # This tablet hears nothing of other tablets (its live connection is lost), so its picture goes out of date.
    stale = _tablet(browser, server, cid, deaf=True)
    pat = people["Pat Police"]
    try:
        service.record_action(cid, pat, "arrived_virtual")  # on another tablet
        assert stale.inner_text(f"#status-{pat}") == "Not arrived"
        stale.evaluate("() => document.body.removeAttribute('data-last-tap-ms')")
        _card(stale, "Pat Police").get_by_role("button", name="Arrived in room", exact=True).click()
        stale.wait_for_function(f"() => document.getElementById('status-{pat}').textContent.startsWith('Online')")
        stale.wait_for_selector("#toast.is-error")
        message = stale.inner_text("#toast")
        assert "Nothing recorded" in message and "Pat Police" in message and "Online" in message, message
        assert _kinds(service, cid, pat) == ["arrived"]
    finally:
        stale.context.close()


def test_browser_chair_ending_and_removing_need_confirmation(browser, site):
    server, service, controller = site
    cid, people = _today_conference(service, controller)  # booked for 23:59: ending now is early
    page = _tablet(browser, server, cid)
    try:
        ella = people["Ella School"]
        _card(page, "Ella School").get_by_role("button", name="Remove").click()
        assert page.is_visible("#confirm") and "Ella School" in page.inner_text("#confirm-text")
        page.click("#confirm-no")
        assert page.locator(f"#person-{ella}").count() == 1 and ella in [p["id"] for p in service.view(cid)["people"]]
        _card(page, "Ella School").get_by_role("button", name="Remove").click()
        page.click("#confirm-yes")
        page.wait_for_selector(f"#person-{ella}", state="detached")
        assert ella not in [p["id"] for p in service.view(cid)["people"]]

        page.click("#end-conference")
        assert page.is_visible("#confirm-warning") and "has not started yet" in page.inner_text("#confirm-warning")
        _shot(page, "landscape-confirm-end")
        page.click("#confirm-no")
        assert service.view(cid)["conference"]["status"] == "scheduled"
        page.click("#end-conference")
        page.click("#confirm-yes")
        page.wait_for_selector("#reopen-conference")
        assert service.view(cid)["conference"]["status"] == "ended"
        page.click("#reopen-conference")
        page.wait_for_selector("#end-conference")
        assert service.view(cid)["conference"]["status"] == "scheduled"
    finally:
        page.context.close()


@pytest.fixture
def short_sessions(tmp_path, room):
    """``site`` with sessions that end after 16 s unused."""
    yield from _served_chair(tmp_path, room, {"CHAIR_IDLE_TIMEOUT_S": 16})


def test_browser_chair_the_session_survives_while_the_conference_page_is_open(browser, short_sessions):
    import time

    server, service, controller = short_sessions
    cid, people = _today_conference(service, controller)
    page = _tablet(browser, server, cid)
    idle = browser.new_context()  # signed in at the same moment, with no page open
    assert idle.request.post(server.url + "/api/login", data={"pin": PIN}).ok
    polls = []
    page.on("requestfinished", lambda r: "?since=" in r.url and polls.append(time.monotonic()))
    try:
        began = time.monotonic()
        page.wait_for_function(f"() => performance.now() > {page.evaluate('performance.now()') + 2 * 16_000 + 1000}",
                               timeout=40_000, polling=1000)
        assert time.monotonic() - began > 32 and len(polls) >= 5
        assert idle.request.get(f"{server.url}/api/conferences/{cid}").status == 401  # the setting bites
        _wait_tap(page, _card(page, "Pat Police").get_by_role("button", name="Arrived online", exact=True))
        assert _kinds(service, cid, people["Pat Police"]) == ["arrived"]
    finally:
        page.context.close()
        idle.close()


def test_browser_chair_record_start_goes_once_the_room_has_started(browser, site):
    """The room's start button starts the session: the page drops "Record start now" without a reload."""
    from kiosk.events import SessionStarted

    server, service, controller = site
    cid, _ = _today_conference(service, controller)
    page = _tablet(browser, server, cid)
    try:
        assert page.is_visible("#record-start")
        controller.bus.publish(SessionStarted())  # what the controller publishes when the button starts it
        page.wait_for_selector("#record-start", state="detached", timeout=2000)
        assert "started" in page.inner_text(".attendance .clock")
    finally:
        page.context.close()


def test_browser_chair_without_javascript_taps_and_ending_work_with_reloads(browser, site):
    server, service, controller = site
    cid, people = _today_conference(service, controller)
    context = browser.new_context(viewport=VIEWPORTS["landscape"], java_script_enabled=False, locale="en-GB")
    assert context.request.post(server.url + "/api/login", data={"pin": PIN}).ok
    page = context.new_page()
    try:
        page.goto(f"{server.url}/chair/conferences/{cid}")
        _card(page, "Pat Police").get_by_role("button", name="Arrived online", exact=True).click()
        page.wait_for_url(f"**/chair/conferences/{cid}#person-{people['Pat Police']}")
        assert page.inner_text(f"#status-{people['Pat Police']}").startswith("Online")
        assert page.inner_text("#toast").startswith("Pat Police: Arrived online at")
        # Removing and ending ask on a page of their own.
        _card(page, "Ella School").get_by_role("button", name="Remove").click()
        assert "Take Ella School off the list?" in page.inner_text("h1")
        page.click("#confirm-remove")
        page.wait_for_url(f"**/chair/conferences/{cid}#invitees")
        assert page.locator(f"#person-{people['Ella School']}").count() == 0
        assert page.inner_text("#toast") == "Ella School removed from the invitation list."
        page.click("#end-conference")
        assert "End the conference?" in page.inner_text("h1") and page.is_visible("#confirm-early")
        assert service.view(cid)["conference"]["status"] == "scheduled"
        page.click("#confirm-end")
        page.wait_for_selector("#reopen-conference")
        assert service.view(cid)["conference"]["status"] == "ended"
    finally:
        context.close()


def _plain_tablet(browser, server):
    """A signed-in tablet with JavaScript disabled (every form a post and a reload)."""
    context = browser.new_context(viewport=VIEWPORTS["landscape"], java_script_enabled=False, locale="en-GB")
    assert context.request.post(server.url + "/api/login", data={"pin": PIN}).ok
    return context.new_page()


def _carried(server, page) -> str:
    """What the tablet's cookies carry: their names, values, and the session decoded (signature checked)."""
    cookies = page.context.cookies()
    serializer = server.app.session_interface.get_signing_serializer(server.app)
    session = [serializer.loads(c["value"]) for c in cookies if c["name"] == "kiosk_chair"]
    assert len(session) == 1
    return repr(cookies) + repr(session)


def test_browser_chair_without_javascript_the_message_names_the_person_once_and_only_on_its_tablet(browser, site):
    server, service, controller = site
    cid, people = _today_conference(service, controller)
    first, second = _plain_tablet(browser, server), _plain_tablet(browser, server)
    locations: list[str] = []
    first.on("response", lambda r: r.status == 303 and locations.append(r.headers["location"]))
    try:
        first.goto(f"{server.url}/chair/conferences/{cid}")
        second.goto(f"{server.url}/chair/conferences/{cid}")
        _card(first, "Pat Police").get_by_role("button", name="Arrived online", exact=True).click()
        first.wait_for_url(f"**/chair/conferences/{cid}#person-{people['Pat Police']}")
        at = service.view(cid)["events"][0]["at"]
        assert first.inner_text("#toast") == f"Pat Police: Arrived online at {at} recorded."
        # Back at the card tapped, with the message in view above it in the strip.
        slot, card = first.locator("#toast").bounding_box(), _card(first, "Pat Police").bounding_box()
        assert 0 <= slot["y"] and slot["y"] + slot["height"] <= card["y"] < VIEWPORTS["landscape"]["height"]
        ARTIFACTS.mkdir(exist_ok=True)  # as the tablet shows it: back at the card
        first.screenshot(path=str(ARTIFACTS / "chair-no-javascript-tap.png"))
        assert locations and not any(name in "".join(locations) for name in people)
        assert not any(name in _carried(server, first) for name in people)
        # The other tablet reloads: it sees Pat online, but not the first tablet's message.
        second.reload()
        assert second.inner_text(f"#status-{people['Pat Police']}").startswith("Online")
        assert second.inner_text("#toast") == "" and second.locator(".flashes").count() == 0
        # Shown once: a reload of the first tablet says nothing more.
        first.reload()
        assert first.inner_text("#toast") == "" and first.locator(".flashes").count() == 0
        assert len(server.app.extensions["chair_messages"]) == 0
    finally:
        first.context.close()
        second.context.close()


@pytest.fixture
def stepped_sessions(tmp_path, room):
    """``site`` with the sessions' clock moved by the test; yields (server, service, room, clock)."""
    from chair_web import Seconds

    clock = Seconds()
    for server, service, controller in _served_chair(tmp_path, room, {"CHAIR_CLOCK": clock}):
        yield server, service, controller, clock


def test_browser_chair_without_javascript_a_message_fetched_after_a_minute_says_only_what_and_when(
        browser, stepped_sessions):
    server, service, controller, clock = stepped_sessions
    cid, people = _today_conference(service, controller)
    page = _plain_tablet(browser, server)
    try:
        page.goto(f"{server.url}/chair/conferences/{cid}")
        # The tap reaches the kiosk, but the page its redirect names never arrives (the Wi-Fi): the message
        # waits on the kiosk.
        answers = []

        def lost_on_the_way_back(route):
            answers.append(route.fetch(max_redirects=0))
            route.abort()

        page.route(f"**/chair/conferences/{cid}/tap", lost_on_the_way_back)
        with page.expect_event("requestfailed"):
            _card(page, "Pat Police").get_by_role("button", name="Arrived online", exact=True).click()
        page.wait_for_url("chrome-error://**")  # the tablet shows its "no connection" page
        assert [a.status for a in answers] == [303]
        assert _kinds(service, cid, people["Pat Police"]) == ["arrived"]
        assert len(server.app.extensions["chair_messages"]) == 1
        clock.advance(61)
        page.goto(f"{server.url}/chair/conferences/{cid}")
        at = service.view(cid)["events"][0]["at"]
        assert page.inner_text("#toast") == f"Arrived online at {at} recorded."
        assert len(server.app.extensions["chair_messages"]) == 0
    finally:
        page.context.close()
