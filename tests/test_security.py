"""Security: hardening headers on every route, the session cookie, PIN brute force against a real ``kiosk run``,
and no personal data (DOMAIN D15) anywhere the room, IT or the logs can see, after a whole conference is run
through a real ``kiosk run`` with MQTT to a real mosquitto and DEBUG logging.

(That a kiosk's broker login is confined to its own topics by the example ACL is proved against a real
mosquitto in ``tests/test_mqtt_link.py``: writes in ``test_link_tls_password_and_acl``, reads in
``test_link_acl_confines_what_a_kiosk_login_can_read``.)
"""

from __future__ import annotations

import base64
import json
import re
import time
import zlib
from urllib.parse import quote

import pytest

from chair_web import PIN, make_chair
from kiosk_process import KioskProcess, today
from mqtt_broker import Broker, Subscriber

# -- headers on every route -----------------------------------------------------------------------------------


def csp_directives(header: str) -> dict[str, list[str]]:
    out = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            out[words[0].lower()] = words[1:]
    return out


def assert_hardened(response, where: str) -> None:
    headers = response.headers
    csp = headers.get("Content-Security-Policy")
    assert csp, f"{where}: no Content-Security-Policy"
    d = csp_directives(csp)
    scripts = d.get("script-src", d.get("default-src"))
    assert scripts is not None, f"{where}: CSP says nothing about scripts"
    assert "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts and "*" not in scripts, where
    assert "'unsafe-inline'" not in d.get("style-src", d.get("default-src", [])), where
    assert d.get("frame-ancestors") == ["'none'"], f"{where}: {csp}"
    assert d.get("default-src") == ["'self'"] and d.get("base-uri") == ["'none'"], where
    assert headers.get("X-Content-Type-Options") == "nosniff", where
    assert headers.get("X-Frame-Options") == "DENY", where
    assert headers.get("Referrer-Policy") == "no-referrer", where


def assert_cookies_safe(response, where: str) -> None:
    for cookie in response.headers.getlist("Set-Cookie"):
        attrs = [a.strip().lower() for a in cookie.split(";")[1:]]
        assert cookie.startswith("kiosk_chair="), f"{where}: an unexpected cookie {cookie[:40]}"
        assert "httponly" in attrs and "samesite=strict" in attrs, f"{where}: {cookie}"
        assert "path=/" in attrs, f"{where}: {cookie}"


@pytest.fixture
def site(tmp_path, cold_room):
    """The whole app (chair's page, API, display, simulator) with a conference that has people and events."""
    env = make_chair(tmp_path, cold_room)
    try:
        env.login()
        view = env.conference()
        cid = view["conference"]["id"]
        people = env.invite_csv(cid)
        assert env.event(cid, "arrived", people[0]["id"], mode="in_person").status_code == 201
        event_id = env.service.store.events(cid)[0].id
        env.ids = {"conference_id": cid, "invitee_id": people[-1]["id"], "event_id": event_id}
        yield env
    finally:
        env.service.stop()


def _urls(app, ids) -> list[tuple[str, str, str]]:
    """(rule, method, url) for every route and method of the app, with real ids."""
    out = []
    for rule in app.url_map.iter_rules():
        url = rule.rule.replace("<path:filename>", "chair.css")
        for name, value in ids.items():
            url = url.replace(f"<id:{name}>", str(value))
        assert "<" not in url, f"a route this test cannot fill in: {rule.rule}"
        for method in sorted(rule.methods):
            out.append((rule.rule, method, url))
    return out


def test_security_every_route_and_answer_carries_the_hardening_headers(site):
    """Every method of every route in the url_map, signed in and not, with no body, a stale token, a wrong
    id; and the usual error answers: 404, 405, 413, 400. No answer may lack the headers."""
    statuses = set()
    signed_out = site.new_client()
    routes = _urls(site.app, site.ids)
    assert len({r for r, _, _ in routes}) >= 50
    for rule, method, url in routes:
        if url.endswith("/logout"):
            continue  # would end the session the crawl uses; checked below
        for client, headers in ((site.client, {}), (site.client, site.headers()), (signed_out, {})):
            for path in (url, re.sub(r"/\d+(?=/|$)", "/987654", url)):
                response = client.open(path, method=method, headers=headers)
                where = f"{method} {path} ({'signed in' if client is site.client else 'signed out'})"
                assert_hardened(response, where)
                assert_cookies_safe(response, where)
                statuses.add(response.status_code)
    for method, path, kwargs in (("GET", "/no/such/page", {}), ("GET", "/api/nothing", {}),
                                 ("DELETE", "/display", {}), ("PUT", "/api/state", {}),
                                 ("POST", "/api/conferences", {"data": b"x" * 70_000,
                                                               "headers": {"Content-Type": "application/json",
                                                                           **site.headers()}}),
                                 ("POST", "/chair/conferences", {"data": {"csrf_token": "stale"}}),
                                 ("POST", "/api/conferences", {"json": {"type": "review", "date": "2026-12-01",
                                                                        "start_time": "10:00", "case_ref": "CP-1"},
                                                               "headers": site.headers()}),
                                 ("GET", "/static/../kiosk/config.py", {}), ("GET", "/api/state?since=x", {})):
        response = site.client.open(path, method=method, **kwargs)
        assert_hardened(response, f"{method} {path}")
        statuses.add(response.status_code)
    response = site.client.post("/chair/logout", data={"csrf_token": site.page_token()})
    assert response.status_code == 303
    assert_hardened(response, "POST /chair/logout")
    assert_cookies_safe(response, "POST /chair/logout")
    assert {200, 201, 302, 303, 400, 401, 404, 405, 413, 415} <= statuses, statuses


def test_security_the_session_cookie_is_httponly_samesite_strict_wherever_it_is_set(site):
    fresh = site.new_client()
    seen = []
    for response in (fresh.get("/chair/login"),  # a session for the form's CSRF token, before sign-in
                     fresh.post("/chair/login", data={"pin": PIN, "csrf_token": site.page_token(fresh)}),
                     site.new_client().post("/api/login", json={"pin": PIN}),
                     fresh.get("/chair")):
        seen += response.headers.getlist("Set-Cookie")
        assert_cookies_safe(response, response.request.path)
    assert seen and all(c.startswith("kiosk_chair=") for c in seen)


# -- PIN brute force over real HTTP ---------------------------------------------------------------------------

@pytest.mark.proof
def test_security_pin_guessing_locks_the_device_then_everyone_out_over_http(tmp_path):
    with KioskProcess(tmp_path) as kiosk:
        # A TLS terminator on the kiosk itself may say the request came over HTTPS; nobody else may.
        proxied = kiosk.http().json("POST", "/api/login", {"pin": PIN}, {"X-Forwarded-Proto": "https"}, auth=False)
        assert proxied.status == 200 and "Secure" in proxied.header("Set-Cookie")
        claimed = kiosk.http(source="127.0.0.2").json("POST", "/api/login", {"pin": PIN},
                                                      {"X-Forwarded-Proto": "https"}, auth=False)
        assert claimed.status == 200 and "Secure" not in claimed.header("Set-Cookie")

        guesser = kiosk.http(source="127.0.0.2")
        for n in range(5):
            reply = guesser.login(f"{111111 + n * 7}")
            assert reply.status == 401, reply.text
        # Locked: even the right PIN is refused, and the answer says how long to wait.
        for pin in (PIN, "999999"):
            reply = guesser.login(pin)
            assert reply.status == 429, reply.text
            assert 1 <= int(reply.header("Retry-After")) <= 30
            assert "Too many wrong PINs" in reply.json()["error"]
        # Claiming to be someone else does not help: only a proxy on the kiosk itself may say so.
        for n in range(3):
            reply = guesser.json("POST", "/api/login", {"pin": PIN}, {"X-Forwarded-For": f"10.9.8.{n}"}, auth=False)
            assert reply.status == 429
        # The sign-in form says so too.
        reply = guesser.form("/chair/login", {"pin": PIN})
        assert reply.status == 429 and "Too many wrong PINs: try again in" in reply.text
        assert guesser.get("/chair").status == 302  # not signed in

        # The chair's own tablet is not locked out by someone else's guesses...
        chair = kiosk.http(source="127.0.0.3")
        assert chair.login().status == 200
        # ...until guesses from everywhere (here through a proxy on the kiosk, 4 per address) reach 20.
        proxy = kiosk.http()
        for n in range(20):
            reply = proxy.json("POST", "/api/login", {"pin": f"{222222 + n}"},
                               {"X-Forwarded-For": f"192.0.2.{n // 4 + 1}"}, auth=False)
            assert reply.status == 401, (n, reply.text)
        for source in ("127.0.0.4", "127.0.0.5"):
            reply = kiosk.http(source=source).login()
            assert reply.status == 429 and int(reply.header("Retry-After")) >= 1
        # A chair already signed in stays signed in: guessing cannot throw them out.
        assert chair.get("/api/conferences").status == 200
        log = kiosk.log()
    assert "Wrong chair PIN from 127.0.0.2" in log
    assert PIN not in log and "111111" not in log  # PINs are never logged


def test_security_lockout_never_keeps_the_chair_out_and_kiosk_unlock_clears_it(tmp_path):
    """25 wrong PINs from 5 addresses lock every device out; a signed-in chair still works, pairing a tablet from
    it still works, IT hears of it (MQTT event, /metrics) with no PIN or address, and ``kiosk unlock`` lets the
    right PIN in again."""
    import subprocess
    import sys

    from kiosk_process import ROOT

    broker = Broker(tmp_path / "broker").start()
    events = Subscriber(broker, "kiosk/suite-1/event")
    try:
        with KioskProcess(tmp_path / "kiosk", broker=broker) as kiosk:
            chair = kiosk.http(source="127.0.0.3")
            assert chair.login().status == 200
            statuses = []
            for n in range(25):
                guesser = kiosk.http(source=f"127.0.0.{10 + n % 5}")
                statuses.append(guesser.login(f"{300000 + n * 13}").status)
            assert set(statuses) <= {401, 429} and 429 in statuses
            assert kiosk.http(source="127.0.0.20").login().status == 429  # the right PIN, from anywhere
            # A signed-in chair is never checked against the lockout...
            assert chair.get("/api/conferences").status == 200
            # ...and can pair a tablet: the code works from a new device while every PIN is refused.
            page = chair.get("/chair/pair")
            assert page.status == 200
            code = re.search(r"code=([A-Z0-9]{8})", page.text).group(1)
            tablet = kiosk.http(source="127.0.0.21")
            assert tablet.json("POST", "/api/login", {"code": code}, auth=False).status == 200
            # IT hears of it: an event (no PIN, no address) and a counter.
            seen = events.wait_for(lambda t, p: json.loads(p)["event"] == "pin_lockout", 10)
            assert seen is not None
            payload = json.loads(seen[1])
            assert set(payload) == {"event", "at", "scope", "wait_s"} and payload["scope"] in ("device", "all")
            assert b"127.0.0" not in seen[1] and b"3000" not in seen[1]
            metrics = kiosk.http().get("/metrics").text
            count = re.search(r'^kiosk_pin_lockouts_total\{room="suite-1"\} (\d+)', metrics, re.M)
            assert count and int(count.group(1)) >= 1
            assert re.search(r'^kiosk_clock_steps_total\{room="suite-1"\} 0', metrics, re.M)  # the watch runs
            # IT clears it; the right PIN works again at once.
            done = subprocess.run([sys.executable, "-m", "kiosk", "unlock", "--config", str(kiosk.config)],
                                  capture_output=True, text=True, cwd=ROOT, timeout=60)
            assert done.returncode == 0, done.stderr
            assert kiosk.http(source="127.0.0.22").login().status == 200
            assert kiosk.http(source="127.0.0.10").login().status == 200  # a locked device too
            assert not (kiosk.state_dir / "pin-unlock").exists()
            assert "PIN lockout cleared by 'kiosk unlock'" in kiosk.log()
    finally:
        events.close()
        broker.stop()


# -- no personal data anywhere the room, IT or the logs see ------------------------------------------------------

NAMES = ["Zebedee Quortlethwaite", "Ottilie Wäscheklammer-Ñúñez", "Bartholomew Flinchbaugh", "Marisol Xiquenaut",
         "Thaddeus Vobblewick", "Perpetua Snodgrass-Ilunga", "Ignatius Crumpsall"]
EMAILS = ["zebedee.quortlethwaite@council.example", "o.waescheklammer@nhs.example", "bflinch@police.example",
          "marisol.x@school.example"]
CASE_REF = "QZ-7781-KESTREL"
FREE_TEXT = ["Unicornfrost dentist appointment overran", "Dragonwhisper childcare emergency at nursery",
             "Proceeding because Gwendolyn Peppercorn confirmed by phone", "Tapped Flibbertigibbet by mistake",
             "Report delivered by hand Quixotrel", "Left early Marmaladeon bus strike", "Camera fault Zorblatt"]


def _forms(text: str) -> list[bytes]:
    """The ways a piece of text could appear in bytes: UTF-8, JSON escapes, URL encoding, either case."""
    forms = {text, text.lower(), text.upper()}
    for t in list(forms):
        forms |= {json.dumps(t)[1:-1], quote(t), quote(t, safe=""), t.encode("unicode_escape").decode("ascii")}
    return sorted({f.encode("utf-8") for f in forms if len(f) >= 6})


def _words(text: str) -> list[str]:
    """The distinctive words of a name or reason (long ones: short words are everywhere)."""
    return [w for w in re.split(r"[\s,.@\-]+", text) if len(w) >= 8]


def personal_data() -> dict[str, list[bytes]]:
    items = NAMES + EMAILS + [CASE_REF] + FREE_TEXT
    words = {w for item in NAMES + EMAILS + FREE_TEXT for w in _words(item)}
    return {item: _forms(item) for item in items + sorted(words)}


def find_personal_data(blob: bytes, where: str) -> list[str]:
    """Every piece of personal data found in ``blob`` (also base64-decoded or zlib-compressed inside it)."""
    blobs = [blob]
    for token in re.findall(rb"[A-Za-z0-9_\-]{24,}={0,2}", blob):  # signed cookies: base64 (maybe zlib) JSON
        try:
            raw = base64.urlsafe_b64decode(token + b"=" * (-len(token) % 4))
        except ValueError:
            continue
        blobs.append(raw)
        try:
            blobs.append(zlib.decompress(raw))
        except zlib.error:
            pass
    found = []
    for item, forms in personal_data().items():
        if any(form in b for b in blobs for form in forms):
            found.append(f"{item!r} in {where}")
    return found


def test_security_the_scanner_finds_what_it_looks_for():
    assert find_personal_data("… Ottilie Wäscheklammer-Ñúñez …".encode(), "x")
    assert find_personal_data(json.dumps({"n": "Ottilie Wäscheklammer-Ñúñez"}).encode(), "x")
    assert find_personal_data(b"reason=Unicornfrost%20dentist", "x")
    assert find_personal_data(base64.urlsafe_b64encode(zlib.compress(b'{"m": "qz-7781-kestrel"}')), "x")
    assert not find_personal_data(b'{"in_person": 3, "virtual": 2, "quorate": true}', "x")


def run_conference(kiosk: KioskProcess, cookies: list[bytes]) -> int:
    """A whole conference with unusual names, e-mails, a case reference and free-text reasons, through the
    chair's API and page over HTTP; returns its id. Every Set-Cookie the chair receives goes in ``cookies``."""
    chair = kiosk.http()
    assert chair.login().status == 200
    assert kiosk.http(source="127.0.0.2").login("000001").status == 401  # a wrong PIN is logged too

    def check(reply, status=(200, 201, 303)):
        cookies.extend(c.encode() for c in reply.all_headers("Set-Cookie"))
        assert reply.status in status, reply.text[:500]
        return reply

    reply = check(chair.json("POST", "/api/conferences", {"type": "initial", "date": today(), "start_time": "00:01",
                                                          "case_ref": CASE_REF}))
    cid = reply.json()["conference"]["id"]
    csv = ("name,role,agency,direct_contact,expected_mode,email\n"
           f"{NAMES[0]},social worker,,,in person,{EMAILS[0]}\n"
           f"{NAMES[1]},health visitor,,yes,virtual,{EMAILS[1]}\n"
           f"{NAMES[2]},police officer,,yes,virtual,{EMAILS[2]}\n"
           f"{NAMES[3]},school,,yes,virtual,{EMAILS[3]}\n"
           f"{NAMES[4]},parent,,,in person,\n")
    people = check(chair.json("POST", f"/api/conferences/{cid}/invitees/csv", {"csv": csv})).json()["added"]
    ids = {p["name"]: p["id"] for p in people}
    # One more through the page's form, one refused (a duplicate), one bad CSV naming people.
    check(chair.form(f"/chair/conferences/{cid}/invitees", {"name": NAMES[5], "role": "gp", "direct_contact": "yes",
                                                             "expected_mode": "virtual"}))
    check(chair.form(f"/chair/conferences/{cid}/invitees", {"name": NAMES[5], "role": "gp", "direct_contact": "yes"}))
    check(chair.json("POST", f"/api/conferences/{cid}/invitees/csv",
                     {"csv": f"name,role\n{NAMES[6]},astronaut\n{NAMES[6]},\n"}), (400,))
    check(chair.json("PATCH", f"/api/conferences/{cid}/invitees/{ids[NAMES[4]]}",
                     {"email": "perpetua.x@family.example", "name": NAMES[4]}))

    def event(who, kind, status=(201,), **details):
        return check(chair.json("POST", f"/api/conferences/{cid}/events",
                                {"kind": kind, "invitee_id": ids.get(who), "details": details}), status)

    check(chair.form(f"/chair/conferences/{cid}/start", {}))
    event(NAMES[0], "arrived", mode="in_person", note=FREE_TEXT[6])
    check(chair.form(f"/chair/conferences/{cid}/tap", {"tap": f"{ids[NAMES[4]]}:arrived_in_person"}))
    event(NAMES[1], "arrived", mode="virtual")
    event(NAMES[2], "arrived", mode="virtual")
    event(NAMES[3], "apologies", note=FREE_TEXT[0])
    event(NAMES[2], "arrived", (400,), mode="virtual")  # refused: already here
    event(NAMES[1], "camera_off")
    event(NAMES[1], "camera_on")
    event(NAMES[1], "lost_connection", note=FREE_TEXT[1])
    event(NAMES[1], "rejoined")
    event(NAMES[1], "report_received", received_on=today(), note=FREE_TEXT[4])
    check(chair.form(f"/chair/conferences/{cid}/reports", {"invitee_id": ids[NAMES[2]], "received_on": today()}))
    event(NAMES[2], "left", agreed=False, note=FREE_TEXT[5])
    event(NAMES[1], "lost_connection")
    event(NAMES[1], "could_not_rejoin", emailed_chair=True, note=FREE_TEXT[1])
    check(chair.form(f"/chair/conferences/{cid}/decision", {"decision": "proceed", "reason": FREE_TEXT[2]}))
    wrong = event(NAMES[3], "not_attended", note=FREE_TEXT[3]).json()["event"]["id"]
    check(chair.form(f"/chair/conferences/{cid}/corrections", {"event_id": wrong, "reason": FREE_TEXT[3]}))
    check(chair.json("POST", f"/api/conferences/{cid}/events/{wrong}/correction", {"reason": FREE_TEXT[3]}), (400,))
    for path in (f"/chair/conferences/{cid}", f"/chair/conferences/{cid}/live", f"/chair/conferences/{cid}/log",
                 f"/api/conferences/{cid}/quorum",
                 "/chair/pair", "/chair"):
        check(chair.get(path), (200,))
    check(chair.json("POST", f"/api/conferences/{cid}/end", None))
    record = check(chair.get(f"/api/conferences/{cid}/record"), (200,))
    exported = check(chair.get(f"/chair/conferences/{cid}/record.csv"), (200,))
    printable = check(chair.get(f"/chair/conferences/{cid}/record"), (200,))
    # The chair, and only the chair, sees it all: the scan below is not looking for something never there.
    for seen in (record.body, exported.body, printable.body):
        assert all(any(f in seen for f in _forms(n)) for n in NAMES[:6]), seen[:300]
    assert any(f in record.body for f in _forms(FREE_TEXT[2])) and CASE_REF.encode() in record.body
    return cid


@pytest.mark.proof
def test_security_no_personal_data_reaches_mqtt_logs_display_state_or_metrics(tmp_path):
    broker = Broker(tmp_path / "broker").start()
    everything = Subscriber(broker, "#")
    try:
        with KioskProcess(tmp_path / "kiosk", broker=broker, log_level="DEBUG") as kiosk:
            assert everything.wait_for(lambda t, p: t == "kiosk/suite-1/availability" and p == b"online", 10)
            cookies: list[bytes] = []
            run_conference(kiosk, cookies)
            # The counts do reach the room and IT (the pipeline works: it carries counts, never names).
            seen_counts = everything.wait_for(
                lambda t, p: t == "kiosk/suite-1/state" and json.loads(p)["attendance"]["in_person"] == 2, 10)
            assert seen_counts is not None
            assert kiosk.http().json("POST", "/simulator/button", {"action": "hold"}, auth=False).status == 200
            assert everything.wait_for(lambda t, p: t == "kiosk/suite-1/event" and b"check_finished" in p, 15)
            anyone = kiosk.http()
            display = anyone.get("/display")
            state = anyone.get("/api/state")
            metrics = anyone.get("/metrics")
            simulator = anyone.get("/simulator")
            assert display.status == state.status == metrics.status == simulator.status == 200
            for reply, where in ((display, "/display"), (state, "/api/state"), (metrics, "/metrics")):
                assert_hardened_reply(reply, where)
            assert b"kiosk_attendance" in metrics.body
            time.sleep(0.3)  # the last MQTT messages
        log = kiosk.all_logs()
    finally:
        everything.close()
        broker.stop()
    mqtt_bytes = b"\n".join(t.encode() + b" " + p for t, p, *_ in everything.messages)
    assert len(everything.messages) > 20 and b"attendance" in mqtt_bytes
    assert b"DEBUG" in log or b"<7>" in log, "the kiosk did not log at DEBUG"
    assert b"recorded (arrived)" in log  # it did log the events, by id and kind
    found = (find_personal_data(mqtt_bytes, "MQTT") + find_personal_data(log, "the kiosk's log")
             + find_personal_data(display.body, "/display") + find_personal_data(state.body, "/api/state")
             + find_personal_data(metrics.body, "/metrics") + find_personal_data(simulator.body, "/simulator")
             + find_personal_data(b"\n".join(cookies), "the session cookie"))
    assert found == [], "\n".join(found)


def assert_hardened_reply(reply, where: str) -> None:
    """The hardening headers on an answer from the real server (waitress in front of the app)."""
    csp = csp_directives(reply.header("Content-Security-Policy") or "")
    assert "'unsafe-inline'" not in csp.get("script-src", ["'unsafe-inline'"]), where
    assert csp.get("frame-ancestors") == ["'none'"], where
    assert reply.header("X-Content-Type-Options") == "nosniff", where


@pytest.mark.parametrize("request_bytes, status", [
    (b"GET / HTTP/1.1\r\nHost: kiosk\r\nA header without a colon\r\n\r\n", 400),
    (b"POST /api/login HTTP/1.1\r\nHost: kiosk\r\nContent-Length: lots\r\n\r\n", 400),
    (b"POST /api/login HTTP/1.1\r\nHost: kiosk\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
], ids=["header without a colon", "Content-Length not a number", "chunk size not a number"])
def test_security_waitress_own_error_answers_carry_the_hardening_headers(cold_app, request_bytes, status):
    """A request too malformed to reach the app is refused by waitress itself: with the same headers."""
    import socket

    from web_ui import SECURITY_HEADERS
    from web_ui.server import WebServer

    server = WebServer(cold_app, port=0, threads=2).start()
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(request_bytes)
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
    finally:
        server.close()
    head = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    assert re.match(rf"HTTP/1\.[01] {status} ", head[0]), head[0]
    headers = {name.lower(): value for name, value in (line.split(": ", 1) for line in head[1:])}
    for name, value in SECURITY_HEADERS.items():
        assert headers.get(name.lower()) == value, name


def test_security_kiosk_run_warns_about_a_world_writable_config(tmp_path):
    kiosk = KioskProcess(tmp_path)
    kiosk.config.chmod(0o666)
    with kiosk:
        pass
    assert f"Unsafe permissions: {kiosk.config} can be changed by any user" in kiosk.log()


def test_security_kiosk_unlock_says_when_it_cannot_write(tmp_path):
    import subprocess
    import sys

    from kiosk_process import ROOT

    blocked = tmp_path / "not-a-dir"
    blocked.write_text("a file where the state directory should be")
    config = tmp_path / "kiosk.toml"
    config.write_text(f'[storage]\nstate_dir = "{blocked}"\n')
    done = subprocess.run([sys.executable, "-m", "kiosk", "unlock", "--config", str(config)],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 1 and "kiosk unlock: cannot write" in done.stderr
