"""The chair's sign-in: PIN form and API, lockout, session expiry, CSRF on every state-changing route,
401 on every private API route, cookie flags, pairing codes, and ``kiosk set-pin``."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from werkzeug.routing import IntegerConverter

from chair_web import PIN, make_chair

ROOT = Path(__file__).resolve().parent.parent
STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
#: The only /api routes anyone may call without the chair's session.
PUBLIC_API = {"api.login", "api.openapi", "display.state"}


def _url(rule) -> str:
    """A concrete URL for a rule: every id is 1, every other variable "x"."""
    values = {name: (1 if isinstance(rule._converters[name], IntegerConverter) else "x") for name in rule.arguments}
    return rule.build(values, append_unknown=False)[1]


def _rules(app, prefix=""):
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(prefix):
            yield rule


# -- sign-in ---------------------------------------------------------------------------

def test_web_auth_pages_need_the_pin_and_the_form_signs_in(chair):
    response = chair.client.get("/chair")
    assert response.status_code == 302 and response.headers["Location"].startswith("/chair/login")
    token = chair.page_token()
    wrong = chair.client.post("/chair/login", data={"pin": "111112", "csrf_token": token})
    assert wrong.status_code == 401
    assert "Wrong PIN" in wrong.get_data(as_text=True)
    right = chair.client.post("/chair/login", data={"pin": PIN, "csrf_token": token, "next": "/chair"})
    assert right.status_code == 303 and right.headers["Location"] == "/chair"
    page = chair.client.get("/chair")
    assert page.status_code == 200 and "New conference" in page.get_data(as_text=True)


def test_web_auth_login_form_needs_its_csrf_token(chair):
    chair.page_token()
    response = chair.client.post("/chair/login", data={"pin": PIN})
    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)
    assert chair.client.get("/chair").status_code == 302


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/chair", "/display", "javascript:x"])
def test_web_auth_login_never_redirects_off_the_chair_page(chair, target):
    token = chair.page_token()
    response = chair.client.post("/chair/login", data={"pin": PIN, "csrf_token": token, "next": target})
    assert response.status_code == 303 and response.headers["Location"] == "/chair"


def test_web_auth_api_login_returns_the_csrf_token(chair):
    assert chair.client.get("/api/conferences").status_code == 401
    wrong = chair.client.post("/api/login", json={"pin": "111112"})
    assert wrong.status_code == 401 and wrong.get_json() == {"error": "Wrong PIN"}
    response = chair.client.post("/api/login", json={"pin": PIN})
    assert response.status_code == 200
    body = response.get_json()
    assert body["csrf_token"] and body["idle_timeout_s"] == 1800
    assert chair.client.get("/api/conferences").get_json() == {"conferences": []}
    created = chair.client.post("/api/conferences", headers={"X-CSRFToken": body["csrf_token"]},
                                json={"type": "review", "date": "2026-11-30", "start_time": "14:00",
                                      "case_ref": "CP-2026-0001"})
    assert created.status_code == 201


@pytest.mark.parametrize("kwargs, status, message", [
    ({"data": {"pin": PIN}}, 415, "Content-Type: application/json"),
    ({"data": "{", "content_type": "application/json"}, 400, "not valid JSON"),
    ({"json": []}, 400, "must be a JSON object"),
    ({"json": {"pin": PIN, "code": "ABCDEFGH"}}, 400, "either pin or code"),
    ({"json": {}}, 400, "either pin or code"),
    ({"json": {"pin": PIN, "user": "x"}}, 400, "unknown field"),
    ({"json": {"pin": PIN}, "headers": {"Origin": "http://evil.example"}}, 403, "cross-site"),
    ({"json": {"pin": PIN}, "headers": {"Sec-Fetch-Site": "cross-site"}}, 403, "cross-site"),
])
def test_web_auth_api_login_refuses_bad_and_cross_site_requests(chair, kwargs, status, message):
    response = chair.client.post("/api/login", **kwargs)
    assert response.status_code == status
    assert message in response.get_json()["error"]
    assert chair.client.get("/api/conferences").status_code == 401


def test_web_auth_without_a_pin_says_how_to_set_one(tmp_path, cold_room):
    env = make_chair(tmp_path, cold_room, pin=None)
    try:
        page = env.client.get("/chair/login").get_data(as_text=True)
        assert "No chair PIN is set" in page and "kiosk set-pin" in page
        response = env.client.post("/api/login", json={"pin": PIN})
        assert response.status_code == 503
        assert "kiosk set-pin" in response.get_json()["error"]
    finally:
        env.service.stop()


# -- lockout ---------------------------------------------------------------------------

def _try(client, pin, addr="10.0.0.5"):
    return client.post("/api/login", json={"pin": pin}, environ_base={"REMOTE_ADDR": addr})


def test_web_auth_wrong_pins_lock_out_with_a_growing_delay(chair):
    for _ in range(4):
        assert _try(chair.client, "111112").status_code == 401
    fifth = _try(chair.client, "111112")
    assert fifth.status_code == 401  # the fifth wrong PIN is refused, and starts the wait
    locked = _try(chair.client, PIN)  # even the right PIN is not checked while locked out
    assert locked.status_code == 429
    assert locked.headers["Retry-After"] == "30"
    assert "try again in 30 seconds" in locked.get_json()["error"]
    chair.seconds.advance(31)
    assert _try(chair.client, "111112").status_code == 401
    again = _try(chair.client, PIN)
    assert again.status_code == 429 and again.headers["Retry-After"] == "60"  # doubled
    chair.seconds.advance(61)
    assert _try(chair.client, "111112").status_code == 401
    assert _try(chair.client, PIN).headers["Retry-After"] == "120"
    # Another device is not locked out by this one's guesses...
    assert _try(chair.client, PIN, addr="10.0.0.6").status_code == 200
    # ...and the right PIN, after the wait, clears the count.
    chair.seconds.advance(121)
    assert _try(chair.client, PIN).status_code == 200
    assert _try(chair.client, "111112").status_code == 401


def test_web_auth_form_lockout_says_how_long_to_wait(chair):
    token = chair.page_token()
    for _ in range(5):
        chair.client.post("/chair/login", data={"pin": "000001", "csrf_token": token})
    response = chair.client.post("/chair/login", data={"pin": PIN, "csrf_token": token})
    assert response.status_code == 429
    assert "Too many wrong PINs: try again in 30 seconds" in response.get_data(as_text=True)


def test_web_auth_guesses_spread_over_many_addresses_lock_everyone_out(chair):
    for n in range(20):  # lockout_global_attempts, from 20 addresses: each stays under its own limit
        assert _try(chair.client, "111112", addr=f"10.1.0.{n}").status_code == 401
    assert _try(chair.client, PIN, addr="10.2.0.1").status_code == 429


# -- sessions --------------------------------------------------------------------------

def test_web_auth_session_ends_after_30_minutes_unused(signed_in):
    chair = signed_in
    for _ in range(3):  # used every 29 minutes: stays signed in for well over half an hour
        chair.seconds.advance(29 * 60)
        assert chair.client.get("/api/conferences").status_code == 200
    chair.seconds.advance(30 * 60 + 1)
    response = chair.client.get("/api/conferences")
    assert response.status_code == 401
    assert response.get_json() == {"error": "Your session has ended: sign in again"}
    page = chair.client.get("/chair")
    assert page.status_code == 302 and "/chair/login" in page.headers["Location"]


def test_web_auth_expired_page_says_so(signed_in):
    signed_in.seconds.advance(31 * 60)
    response = signed_in.client.get("/chair", follow_redirects=True)
    assert "Your session ended: sign in again." in response.get_data(as_text=True)


def test_web_auth_session_has_an_absolute_limit(signed_in):
    for _ in range(int(12 * 60 / 25)):
        signed_in.seconds.advance(25 * 60)
        assert signed_in.client.get("/api/conferences").status_code == 200
    signed_in.seconds.advance(25 * 60)
    assert signed_in.client.get("/api/conferences").status_code == 401


def test_web_auth_sign_out_refuses_a_copied_cookie(signed_in):
    chair = signed_in
    cookie = chair.client.get_cookie("kiosk_chair").value
    thief = chair.new_client()
    thief.set_cookie("kiosk_chair", cookie)
    assert thief.get("/api/conferences").status_code == 200
    assert chair.api("POST", "/api/logout").status_code == 200
    assert chair.client.get("/api/conferences").status_code == 401
    assert thief.get("/api/conferences").status_code == 401


def test_web_auth_a_new_pin_signs_everyone_out(signed_in):
    signed_in.service.pins.save("731864")
    assert signed_in.client.get("/api/conferences").status_code == 401
    signed_in.login(pin="731864")
    assert signed_in.client.get("/api/conferences").status_code == 200


def test_web_auth_sign_in_starts_a_fresh_session(chair):
    token_before = chair.page_token()
    cookie_before = chair.client.get_cookie("kiosk_chair").value
    token = chair.login()
    assert token != token_before
    assert chair.client.get_cookie("kiosk_chair").value != cookie_before
    # The token from before sign-in is no longer good.
    assert chair.api("POST", "/api/conferences", {}, token=token_before).status_code == 400


def test_web_auth_sessions_survive_a_restart_with_the_key_in_the_state_dir(tmp_path, cold_room):
    first = make_chair(tmp_path, cold_room)
    try:
        first.login()
        cookie = first.client.get_cookie("kiosk_chair").value
    finally:
        first.service.stop()
    key = tmp_path / "state" / "web-secret-key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert len(key.read_text().strip()) == 64
    second = make_chair(tmp_path, cold_room, pin=None)  # the same state dir and PIN: a restarted kiosk
    try:
        second.seconds.value = first.seconds.value
        client = second.new_client()
        client.set_cookie("kiosk_chair", cookie)
        assert client.get("/api/conferences").status_code == 200
        assert second.app.config["SECRET_KEY"] == first.app.config["SECRET_KEY"]
    finally:
        second.service.stop()


# -- cookies ---------------------------------------------------------------------------

def _set_cookie(response) -> str:
    return next(v for k, v in response.headers.items() if k == "Set-Cookie" and v.startswith("kiosk_chair="))


def test_web_auth_cookie_is_httponly_and_samesite_strict_not_secure_over_http(chair):
    cookie = _set_cookie(chair.client.post("/api/login", json={"pin": PIN}))
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Secure" not in cookie


def test_web_auth_cookie_is_secure_behind_a_local_tls_terminator(chair):
    proxied = chair.client.post("/api/login", json={"pin": PIN},
                                headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "192.168.1.40"},
                                environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert "Secure" in _set_cookie(proxied)
    # Nobody else on the network can claim HTTPS (or another address).
    direct = chair.new_client().post("/api/login", json={"pin": PIN}, headers={"X-Forwarded-Proto": "https"},
                                     environ_base={"REMOTE_ADDR": "192.168.1.41"})
    assert "Secure" not in _set_cookie(direct)


def test_web_auth_cookie_is_always_secure_when_configured(tmp_path, cold_room):
    env = make_chair(tmp_path, cold_room, conference={"secure_cookies": True})   # [conference] secure_cookies
    try:
        assert "Secure" in _set_cookie(env.client.post("/api/login", json={"pin": PIN}))
    finally:
        env.service.stop()


def test_web_auth_session_limits_come_from_the_config(tmp_path, cold_room):
    env = make_chair(tmp_path, cold_room, conference={"session_idle_min": 5, "session_max_hours": 0.5})
    try:
        body = env.client.post("/api/login", json={"pin": PIN}).get_json()
        assert body["idle_timeout_s"] == 300
        env.seconds.advance(4 * 60)
        assert env.client.get("/api/conferences").status_code == 200
        env.seconds.advance(5 * 60 + 1)
        assert env.client.get("/api/conferences").status_code == 401      # idle for over 5 minutes
        env.client.post("/api/login", json={"pin": PIN})
        for _ in range(7):
            env.seconds.advance(4 * 60)
            assert env.client.get("/api/conferences").status_code == 200
        env.seconds.advance(4 * 60)
        assert env.client.get("/api/conferences").status_code == 401      # 32 minutes in all
    finally:
        env.service.stop()


def test_web_auth_forwarded_for_from_the_proxy_keys_the_lockout(chair):
    for _ in range(5):
        chair.client.post("/api/login", json={"pin": "111112"}, headers={"X-Forwarded-For": "192.168.1.40"},
                          environ_base={"REMOTE_ADDR": "127.0.0.1"})
    other = chair.client.post("/api/login", json={"pin": PIN}, headers={"X-Forwarded-For": "192.168.1.41"},
                              environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert other.status_code == 200


# -- every route -----------------------------------------------------------------------

def test_web_auth_every_state_changing_route_refuses_a_missing_or_wrong_csrf_token(signed_in):
    chair = signed_in
    conference = chair.conference()
    chair.invite_csv(conference["conference"]["id"])
    before = chair.client.get(f"/api/conferences/{conference['conference']['id']}").get_json()
    checked, exempt = [], []
    for rule in _rules(chair.app):
        for method in sorted((rule.methods or set()) & STATE_CHANGING):
            url = _url(rule)
            if rule.endpoint == "api.login" or rule.endpoint.startswith("simulator."):
                # Exempt by name, each with its own defence: a form from another site cannot send JSON.
                forged = chair.client.open(url, method=method, data={"x": "1"},
                                           headers={"Origin": "http://evil.example"})
                assert forged.status_code in (403, 415), (rule.rule, forged.status_code)
                forged = chair.client.open(url, method=method, data={"x": "1"})
                assert forged.status_code == 415, (rule.rule, forged.status_code)
                exempt.append(rule.endpoint)
                continue
            for headers in ({}, {"X-CSRFToken": "not-the-token"}):
                response = chair.client.open(url, method=method, json={}, data=None, headers=headers)
                assert response.status_code == 400, (method, rule.rule, response.status_code)
                assert "CSRF" in response.get_data(as_text=True), rule.rule
            form = chair.client.open(url, method=method, data={"csrf_token": "forged"})
            assert form.status_code == 400, (method, rule.rule)
            checked.append(rule.endpoint)
    assert set(exempt) <= {"api.login"} | {e for e in exempt if e.startswith("simulator.")}
    # The chair's page and API are all covered.
    for endpoint in ("api.create_conference", "api.record_event", "api.purge_conference", "api.logout",
                     "chair.tap", "chair.purge_conference", "chair.logout", "chair.login_post"):
        assert endpoint in checked
    after = chair.client.get(f"/api/conferences/{conference['conference']['id']}").get_json()
    assert after["people"] == before["people"] and after["events"] == before["events"]
    assert len(chair.client.get("/api/conferences").get_json()["conferences"]) == 1


def test_web_auth_a_cross_site_origin_is_refused_even_with_the_token(signed_in):
    response = signed_in.api("POST", "/api/conferences", {"type": "initial"},
                             headers={"Origin": "http://evil.example"})
    assert response.status_code == 403


def test_web_auth_every_private_api_route_answers_401_without_a_session(chair):
    # Something to find, so that a 401 is not just an empty store.
    chair.login()
    conference = chair.conference()["conference"]["id"]
    chair.invite_csv(conference)
    anonymous = chair.new_client()
    seen = 0
    for rule in _rules(chair.app, "/api"):
        if rule.endpoint in PUBLIC_API:
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            response = anonymous.open(_url(rule), method=method, json={"confirm": True})
            assert response.status_code == 401, (method, rule.rule, response.status_code)
            body = response.get_json()
            assert set(body) == {"error"}, rule.rule
            assert "Sam Social" not in response.get_data(as_text=True)
            seen += 1
    assert seen >= 17
    assert anonymous.get("/api/state").status_code == 200
    assert anonymous.get("/api/openapi.json").status_code == 200
    assert anonymous.get("/chair/conferences/1").status_code == 302
    assert anonymous.get("/chair/conferences/1/record.csv").status_code == 302


def test_web_auth_an_unknown_api_path_is_not_a_leak(chair):
    assert chair.client.get("/api/nothing-here").status_code == 404


# -- pairing a tablet --------------------------------------------------------------------

def _pair(chair) -> str:
    html = chair.client.get("/chair/pair").get_data(as_text=True)
    assert 'src="data:image/svg+xml' in html  # the QR code, drawn here: no external resource
    return re.search(r'login\?code=([A-Z0-9]{8})', html).group(1)


def test_web_auth_a_pairing_code_signs_a_tablet_in_once(signed_in):
    code = _pair(signed_in)
    tablet = signed_in.new_client()
    page = tablet.get(f"/chair/login?code={code}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f'value="{code}"' in html and "Sign in on this device" in html
    token = re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)
    # Opening the link signs nothing in: the tablet must submit the form (link previews cannot use the code).
    assert tablet.get("/api/conferences").status_code == 401
    response = tablet.post("/chair/login", data={"code": code.lower()[:4] + "-" + code[4:], "csrf_token": token})
    assert response.status_code == 303
    assert tablet.get("/api/conferences").status_code == 200
    other = signed_in.new_client()
    reused = other.post("/api/login", json={"code": code})
    assert reused.status_code == 401 and "pairing code" in reused.get_json()["error"]


def test_web_auth_a_pairing_code_expires_after_5_minutes(signed_in):
    code = _pair(signed_in)
    signed_in.seconds.advance(5 * 60 + 1)
    assert signed_in.new_client().post("/api/login", json={"code": code}).status_code == 401


def test_web_auth_a_new_pairing_code_replaces_the_old_one(signed_in):
    first = _pair(signed_in)
    second = _pair(signed_in)
    assert first != second
    assert signed_in.new_client().post("/api/login", json={"code": first}).status_code == 401
    assert signed_in.new_client().post("/api/login", json={"code": second}).status_code == 200


def test_web_auth_wrong_pairing_codes_count_towards_the_lockout(signed_in):
    """Wrong codes lock the device out like wrong PINs; the right code (made by the signed-in chair, not
    guessable) still gets a tablet in, so the lockout never blocks pairing."""
    code = _pair(signed_in)
    guesser = signed_in.new_client()
    for _ in range(5):
        guesser.post("/api/login", json={"code": "AAAAAAAA"}, environ_base={"REMOTE_ADDR": "10.9.9.9"})
    locked = guesser.post("/api/login", json={"code": "BBBBBBBB"}, environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert locked.status_code == 429
    pin = guesser.post("/api/login", json={"pin": "482915"}, environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert pin.status_code == 429
    paired = guesser.post("/api/login", json={"code": code}, environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert paired.status_code == 200


def test_web_auth_pairing_needs_the_chair(chair):
    assert chair.client.get("/chair/pair").status_code == 302


# -- kiosk set-pin -----------------------------------------------------------------------

def _set_pin(tmp_path, text: str, *extra):
    config = tmp_path / "kiosk.toml"
    config.write_text(f'[storage]\nstate_dir = "{tmp_path / "state"}"\n')
    env = {k: v for k, v in os.environ.items() if k not in ("KIOSK_CONFIG", "STATE_DIRECTORY")}
    return subprocess.run([sys.executable, "-m", "kiosk", "set-pin", "--config", str(config), *extra],
                          input=text, capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)


def test_web_auth_kiosk_set_pin_then_sign_in_works(tmp_path, cold_room):
    result = _set_pin(tmp_path, "592736\n", "--stdin")
    assert result.returncode == 0, result.stderr
    assert "Chair PIN saved" in result.stdout
    pin_file = tmp_path / "state" / "chair-pin"
    assert stat.S_IMODE(pin_file.stat().st_mode) == 0o600
    assert "592736" not in pin_file.read_text() and pin_file.read_text().startswith("scrypt$")
    env = make_chair(tmp_path, cold_room, pin=None)
    try:
        assert env.client.post("/api/login", json={"pin": PIN}).status_code == 401
        assert env.client.post("/api/login", json={"pin": "592736"}).status_code == 200
    finally:
        env.service.stop()


@pytest.mark.parametrize("text, message", [
    ("123456\n", "too easy to guess"),
    ("12ab56\n", "digits only"),
    ("", "The PIN must"),
])
def test_web_auth_kiosk_set_pin_refuses_weak_pins(tmp_path, text, message):
    result = _set_pin(tmp_path, text, "--stdin")
    assert result.returncode == 2
    assert message in result.stderr
    assert not (tmp_path / "state" / "chair-pin").exists()


def test_web_auth_a_replaced_session_key_refuses_the_old_cookies(signed_in):
    chair = signed_in
    assert chair.client.get("/api/conferences").status_code == 200
    chair.app.secret_key = "another key"  # the signing serializer is kept per key: the new key must be used
    assert chair.client.get("/api/conferences").status_code == 401


def test_web_auth_a_wall_clock_step_back_keeps_the_chair_signed_in(signed_in, monkeypatch):
    """After the wall clock steps back an hour every cookie looks signed in the future; the session is measured
    on the steady clock, so the chair stays in (and idle time still ends it)."""
    import time as time_module

    real = time_module.time
    monkeypatch.setattr(time_module, "time", lambda: real() - 3600)
    assert signed_in.api("GET", "/api/conferences").status_code == 200
    signed_in.seconds.advance(29 * 60)
    assert signed_in.api("GET", "/api/conferences").status_code == 200
    signed_in.seconds.advance(31 * 60)
    assert signed_in.api("GET", "/api/conferences").status_code == 401


def test_web_auth_the_default_session_clock_is_steady():
    from kiosk.clock_watch import SteadyClock
    from web_ui import auth

    assert isinstance(auth.DEFAULTS["CHAIR_CLOCK"], SteadyClock)


def test_web_auth_sign_out_survives_a_restart(signed_in, cold_room):
    """A signed-out cookie stays refused after the kiosk restarts (the app is built again on the same state)."""
    cookie = signed_in.client.get_cookie("kiosk_chair").value
    assert signed_in.api("POST", "/chair/logout").status_code in (302, 303)
    restarted = make_chair(signed_in.state_dir.parent, cold_room, pin=None)
    try:
        client = restarted.new_client()
        client.set_cookie("kiosk_chair", cookie)
        restarted.seconds.value = signed_in.seconds.value
        assert client.get("/api/conferences").status_code == 401
        other = restarted.new_client()
        restarted.login(other)
        assert other.get("/api/conferences").status_code == 200
    finally:
        restarted.service.stop()
