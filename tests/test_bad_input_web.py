"""Bad input through the web: the chair's API against its own OpenAPI document, every form and JSON endpoint
fed arbitrary input, oversized and malformed bodies, odd content types, non-UTF-8 bytes, huge headers, and
path traversal on the static files.

The promises: never a 5xx (nor an exception: the app runs with TESTING, so one would fail the test), every
answer the API gives is one its document describes, nothing already stored is damaged (a sentinel
conference that the fuzzing never targets stays byte for byte the same; every stored conference still
loads; ``PRAGMA integrity_check`` is ok), and no file outside ``web_ui/static`` is ever served.
"""

from __future__ import annotations

import io
import json
import re
import socket
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from werkzeug.datastructures import MultiDict

from chair_web import CSV, DAY, make_chair
from kiosk.conference.service import ACTIONS
from kiosk.conference.store import DB_FILENAME
from kiosk_process import integrity_check
from web import serve
from web_ui import openapi

ROOT = Path(__file__).resolve().parent.parent
STATIC = ROOT / "web_ui" / "static"
FUZZ = settings(max_examples=25, deadline=None, database=None, derandomize=False,
                suppress_health_check=list(HealthCheck))
OPERATIONS = [(path, method.upper()) for path, ops in openapi.PATHS.items() for method in ops]


# -- the records the fuzzing works on -------------------------------------------------------------------------

class Records:
    """A working conference (invitees, events) that the fuzzing targets, recreated when it is purged or
    ended, and a sentinel conference it never targets, whose every stored byte must survive."""

    def __init__(self, env):
        self.env, self.service = env, env.service
        self.conference_id: int | None = None
        self.sentinel = self._make("CP-2026-9999")
        self.service.correct_event(self.sentinel, self.service.store.events(self.sentinel)[0].id, "tapped twice")
        self.before = self.snapshot(self.sentinel)
        self.ids()

    def _make(self, case_ref: str) -> int:
        s = self.service
        c = s.create_conference(type="initial", date=DAY, start_time="10:00", case_ref=case_ref)
        people = s.import_csv(c.id, CSV)
        for person in people[:3]:
            s.record_event(c.id, "arrived", person.id, {"mode": person.expected_mode.value})
        return c.id

    def snapshot(self, conference_id: int):
        store = self.service.store
        return (store.get_conference(conference_id), store.invitees(conference_id), store.events(conference_id))

    def ids(self) -> dict:
        """Ids in the working conference: one with events, one invitee without any (to change or remove)."""
        from kiosk.conference.errors import NotFound
        from kiosk.conference.model import Status

        store = self.service.store
        cid = self.conference_id
        try:
            ok = cid is not None and store.get_conference(cid).status is Status.SCHEDULED
        except NotFound:
            ok = False
        if not ok:
            cid = self.conference_id = self._make("CP-2026-0142")
        events = store.events(cid)
        if not events:
            self.service.record_event(cid, "started")
            events = store.events(cid)
        used = {e.invitee_id for e in events}
        invitees = store.invitees(cid)
        spare = [i.id for i in invitees if i.id not in used]
        if not spare:
            spare = [self.service.add_invitee(cid, name="Spare Person", role="gp", direct_contact="yes").id]
        self.ids_now = {"conference_id": cid, "invitee_id": spare[0], "event_id": events[-1].id,
                        "present_id": next(iter(used - {None}), invitees[0].id)}
        return self.ids_now

    def assert_intact(self) -> None:
        """The sentinel is unchanged, every stored conference loads in every view, the file is sound."""
        assert self.snapshot(self.sentinel) == self.before
        s = self.service
        for conference in s.store.list_conferences():
            s.view(conference.id)
            s.record(conference.id)
            s.record_csv(conference.id)
            s.store.timeline(conference.id)
        s.list_conferences()
        assert integrity_check(Path(self.env.state_dir) / DB_FILENAME) == "ok"


def _env(tmp_path, controller):
    chair = make_chair(tmp_path, controller)
    chair.login()
    chair.records = Records(chair)
    return chair


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """One signed-in chair for the tests that neither sign it out nor lock its address out."""
    from kiosk.controller import RoomController
    from kiosk.factory import build_hardware
    from web import fast_config

    cfg = fast_config()
    hardware = build_hardware(cfg, simulate=True)
    chair = None
    try:
        chair = _env(tmp_path_factory.mktemp("shared"), RoomController(cfg, hardware))
        yield chair
    finally:
        if chair is not None:
            chair.service.stop()
        hardware.close()


@pytest.fixture
def env(tmp_path, cold_room):
    """A chair of its own, for tests that sign out or lock out with wrong PINs."""
    chair = _env(tmp_path, cold_room)
    try:
        yield chair
    finally:
        chair.service.stop()


def _cookie(env) -> str:
    return env.client.get_cookie("kiosk_chair").value


# -- the API against its OpenAPI document (schemathesis) ------------------------------------------------------

@pytest.mark.proof
@pytest.mark.parametrize("path, method", OPERATIONS, ids=[f"{m} {p}" for p, m in OPERATIONS])
def test_bad_input_web_api_answers_as_its_openapi_document_says(request, path, method):
    import schemathesis
    from schemathesis import GenerationMode
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (content_type_conformance, response_headers_conformance,
                                                   response_schema_conformance, status_code_conformance)

    # Signing in (wrong PINs lock the address out) and out get a chair of their own.
    env = request.getfixturevalue("env" if path in ("/api/login", "/api/logout") else "shared")
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", env.app)
    operation = schema[path][method]
    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
              response_headers_conformance]
    auth = {"X-CSRFToken": env.token, "Cookie": f"kiosk_chair={_cookie(env)}"}
    records = env.records

    described = openapi.PATHS[path][method.lower()]
    # Invalid input needs something to be invalid: a body or a parameter.
    negative = "requestBody" in described or "parameters" in described
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE) if negative else (GenerationMode.POSITIVE,):
        @FUZZ
        @given(case=operation.as_strategy(generation_mode=mode), real_ids=st.booleans())
        def run(case, real_ids):
            ids = records.ids()
            for name, value in case.path_parameters.items():
                # Reach the code behind the 404s too; never touch the sentinel through its id.
                if (real_ids and mode is GenerationMode.POSITIVE) or value == records.sentinel:
                    case.path_parameters[name] = ids[name]
            response = case.call(headers=auth)
            case.validate_response(response, checks=checks)

        run()
    records.assert_intact()


# -- every form of the chair's page ---------------------------------------------------------------------------

FORM_FIELDS = ("csrf_token", "type", "date", "start_time", "case_ref", "strategy_date", "previous_icpc_date", "name",
               "role", "agency", "direct_contact", "expected_mode", "email", "csv", "tap", "invitee_id",
               "received_on", "decision", "reason", "new_date", "event_id", "confirm", "pin", "code", "next")
ODD_TEXT = ["", " ", "\x00", "0", "-1", "1e9", "99999999999999999999999", "yes", "no", "true", DAY, "2026-02-30",
            "10:00", "25:61", "initial", "review", "gp", "social_worker", "in_person", "virtual", "proceed",
            "adjourn", "CP-2026-0142", "=HYPERLINK(\"x\")", "<script>alert(1)</script>", "../../etc/passwd",
            "name,role\nA B,gp\n", "\ufeffname,role\n", "Zoë Ünïcode", "a" * 3000]


def _form_value(ids):
    plausible = ODD_TEXT + [str(ids["invitee_id"]), str(ids["event_id"]), str(ids["present_id"])] + [
        f"{ids['present_id']}:{a}" for a in ACTIONS] + [f"{ids['invitee_id']}:{a}" for a in ACTIONS]
    return st.one_of(st.sampled_from(plausible), st.text(max_size=40))


def _form_routes(app):
    return sorted(rule.rule for rule in app.url_map.iter_rules()
                  if rule.rule.startswith("/chair") and "POST" in rule.methods)


def _url(rule: str, ids: dict) -> str:
    return (rule.replace("<id:conference_id>", str(ids["conference_id"]))
            .replace("<id:invitee_id>", str(ids["invitee_id"])))


@pytest.mark.proof
def test_bad_input_web_every_chair_form_takes_anything_without_a_500(env):
    records = env.records
    routes = _form_routes(env.app)
    assert len(routes) >= 14, routes
    token = env.page_token()
    seen: dict[str, set[int]] = {}

    for rule in routes:
        @FUZZ
        @given(data=st.data(), fragment=st.booleans(), with_token=st.sampled_from([True, True, True, False]),
               upload=st.one_of(st.none(), st.binary(max_size=300)))
        def run(data, fragment, with_token, upload):
            ids = records.ids()
            pairs = data.draw(st.lists(st.tuples(st.one_of(st.sampled_from(FORM_FIELDS), st.text(max_size=10)),
                                                 _form_value(ids)), max_size=8))
            form = MultiDict(pairs)
            if with_token:
                form.setlist("csrf_token", [token])
            if upload is not None:
                form.add("file", (io.BytesIO(upload), "list.csv"))
            headers = {"X-Chair-Fragment": "live"} if fragment else {}
            client = env.client if "/login" not in rule and "/logout" not in rule else env.new_client()
            response = client.post(_url(rule, ids), data=form, headers=headers)
            seen.setdefault(rule, set()).add(response.status_code)
            assert response.status_code < 500, (rule, pairs, response.get_data(as_text=True)[:500])
            if response.status_code >= 400 and fragment and response.mimetype == "application/json":
                assert response.get_json()["error"]

        run()
    assert env.client.get("/chair").status_code == 200  # still signed in: the fuzzing never signed it out
    records.assert_intact()
    # The forms were really reached: some were refused, some were saved.
    assert any(codes & {200, 303} for codes in seen.values()) and any(codes & {400} for codes in seen.values())


# -- every JSON endpoint -----------------------------------------------------------------------------------

JSON_KEYS = ("type", "date", "start_time", "case_ref", "strategy_date", "previous_icpc_date", "name", "role",
             "agency", "direct_contact", "expected_mode", "email", "kind", "invitee_id", "details", "csv", "reason",
             "confirm", "pin", "code", "at", "action", "fault", "connected", "synced", "in_minutes")
DETAIL_KEYS = ("mode", "agreed", "emailed_chair", "received_on", "reason", "new_date", "note", "event_id")
TEXT = st.one_of(st.text(max_size=30), st.sampled_from(ODD_TEXT + ["\ud800", "a\udfffb", "arrived", "report_received",
                                                                   "proceed_inquorate", "press", "covered"]))
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(min_value=-2 ** 70, max_value=2 ** 70),
                    st.floats(allow_nan=False, allow_infinity=False), TEXT)
JSON_VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                            st.dictionaries(TEXT, inner, max_size=4)), max_leaves=12)


def _json_body(ids):
    details = st.dictionaries(st.one_of(st.sampled_from(DETAIL_KEYS), TEXT),
                              st.one_of(JSON_VALUES, st.sampled_from([DAY, "in_person", True, ids["event_id"]])),
                              max_size=4)
    known = st.dictionaries(st.sampled_from(JSON_KEYS), st.one_of(
        JSON_VALUES, details, st.sampled_from([ids["invitee_id"], ids["present_id"], ids["event_id"], DAY, "10:00",
                                               "initial", "gp", "yes", True, "arrived", "left"])), max_size=6)
    return st.one_of(known, JSON_VALUES)


def _json_routes(app):
    out = []
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(("/api/", "/simulator/")):
            for method in sorted(rule.methods & {"POST", "PATCH", "DELETE", "PUT"}):
                out.append((rule.rule, method))
    return sorted(out)


@pytest.mark.proof
def test_bad_input_web_every_json_endpoint_takes_anything_without_a_500(env):
    records = env.records
    routes = _json_routes(env.app)
    assert len(routes) >= 19, routes
    codes: set[int] = set()

    for rule, method in routes:
        @FUZZ
        @given(data=st.data(), content_type=st.sampled_from(["application/json"] * 6 + [
            "application/json; charset=latin-1", "text/plain", "application/x-www-form-urlencoded", "",
            "application/JSON", "multipart/form-data; boundary=x"]), raw=st.booleans())
        def run(data, content_type, raw):
            ids = records.ids()
            payload = data.draw(_json_body(ids))
            body = json.dumps(payload).encode()
            if raw:  # mangled: cut short, stray bytes, a constant JSON does not allow, or another encoding
                body = data.draw(st.sampled_from([body[: len(body) // 2], body + b"\xff", b"\xff\xfe" + body,
                                                  body.replace(b"0", b"NaN", 1), body.decode().encode("utf-16"),
                                                  b"\x00" + body]))
            client = env.client if "/login" not in rule and "/logout" not in rule else env.new_client()
            response = client.open(_url(rule.replace("<id:event_id>", str(ids["event_id"])), ids), method=method,
                                   data=body, headers={"Content-Type": content_type, **env.headers()})
            codes.add(response.status_code)
            assert response.status_code < 500, (method, rule, body[:300], response.get_data(as_text=True)[:300])
            if response.status_code >= 400:
                assert response.mimetype == "application/json" and response.get_json()["error"]

        run()
    records.assert_intact()
    assert codes & {200, 201} and codes & {400, 415}


@pytest.mark.parametrize("body", [
    b'{"name": "\\ud800", "role": "gp", "direct_contact": true}',
    b'{"name": "A\\udfffB", "role": "gp", "direct_contact": true, "email": "a@b.example"}',
    b'{"name": "A B", "role": "gp", "direct_contact": true, "\\ud800": 1}',
])
def test_bad_input_web_a_lone_surrogate_in_json_is_a_400_not_a_500(shared, body):
    cid = shared.records.ids()["conference_id"]
    before = len(shared.service.store.invitees(cid))
    response = shared.client.post(f"/api/conferences/{cid}/invitees", data=body,
                               headers={"Content-Type": "application/json", **shared.headers()})
    assert response.status_code == 400, response.get_data(as_text=True)
    assert "surrogate" in response.get_json()["error"] or "unknown field" in response.get_json()["error"]
    assert len(shared.service.store.invitees(cid)) == before
    for text in ("\ud800", "x\udc00"):  # and through every text field of an event
        response = shared.api("POST", f"/api/conferences/{cid}/events", None,
                           data=json.dumps({"kind": "lost_connection", "invitee_id": shared.records.ids()["present_id"],
                                            "details": {"note": text}}),
                           headers={"Content-Type": "application/json"})
        assert response.status_code == 400


# -- oversized, malformed, mistyped ---------------------------------------------------------------------------

BIG = 64 * 1024 + 1


@pytest.mark.parametrize("path, content_type, body, want_json", [
    ("/api/conferences", "application/json", b'{"case_ref": "' + b"x" * BIG + b'"}', True),
    ("/api/login", "application/json", b'{"pin": "' + b"1" * BIG + b'"}', True),
    ("/simulator/button", "application/json", b'{"action": "' + b"p" * BIG + b'"}', True),
    ("/chair/conferences", "application/x-www-form-urlencoded", b"case_ref=" + b"x" * BIG, False),
    ("/chair/login", "application/x-www-form-urlencoded", b"pin=" + b"1" * BIG, False),
    ("/api/conferences/{cid}/invitees/csv", "text/csv", b"name,role\n" + b"A B,gp\n" * 10000, True),
])
def test_bad_input_web_oversized_bodies_are_a_413_never_a_500(shared, path, content_type, body, want_json):
    path = path.format(cid=shared.records.ids()["conference_id"])
    response = shared.client.post(path, data=body, headers={"Content-Type": content_type, **shared.headers()})
    assert response.status_code == 413
    if want_json:
        assert response.mimetype == "application/json" and response.get_json()["error"]
    else:
        assert response.mimetype == "text/html" and "413" in response.get_data(as_text=True)


def test_bad_input_web_an_oversized_csv_upload_through_the_page_is_a_413(shared):
    cid = shared.records.ids()["conference_id"]
    before = len(shared.service.store.invitees(cid))
    response = shared.client.post(f"/chair/conferences/{cid}/invitees/csv",
                               data={"csrf_token": shared.page_token(),
                                     "file": (io.BytesIO(b"name,role\n" + b"A B,gp\n" * 10000), "big.csv")})
    assert response.status_code == 413 and response.mimetype == "text/html"
    assert len(shared.service.store.invitees(cid)) == before


@pytest.mark.parametrize("body", [b"{", b'{"type": ', b"[1, 2", b"NaN", b'{"case_ref": Infinity}', b"\xff\xfe\xfd",
                                  b'{"a": 1} trailing', b"[" * 100000 + b"]" * 100000, b"", b"null", b'"text"',
                                  b"\x00\x00\x00{", b'{"type": "initial"}' * 2])
@pytest.mark.parametrize("path", ["/api/conferences", "/api/conferences/{cid}/events", "/api/login",
                                  "/api/conferences/{cid}", "/simulator/camera"])
def test_bad_input_web_malformed_json_is_a_4xx_with_a_message(shared, body, path):
    cid = shared.records.ids()["conference_id"]
    method = "PATCH" if path == "/api/conferences/{cid}" else "POST"
    response = shared.client.open(path.format(cid=cid), method=method, data=body,
                               headers={"Content-Type": "application/json", **shared.headers()})
    assert 400 <= response.status_code < 500
    assert response.mimetype == "application/json" and response.get_json()["error"]


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded", "text/json",
                                          "multipart/form-data; boundary=zz", "application/xml",
                                          "application/json-patch+json"])
def test_bad_input_web_json_endpoints_refuse_other_content_types(shared, content_type):
    headers = shared.headers() | ({"Content-Type": content_type} if content_type else {})
    body = json.dumps({"type": "initial", "date": DAY, "start_time": "10:00", "case_ref": "CP-2026-0001"})
    before = len(shared.service.store.list_conferences())
    response = shared.client.post("/api/conferences", data=body, headers=headers)
    assert response.status_code in (400, 415) and response.get_json()["error"]
    assert len(shared.service.store.list_conferences()) == before


def test_bad_input_web_forms_sent_as_json_or_junk_are_refused_cleanly(shared):
    cid = shared.records.ids()["conference_id"]
    for body, content_type in ((b'{"tap": "1:arrived_in_person"}', "application/json"),
                               (b"\xff\xfe\x00tap=\xff", "application/x-www-form-urlencoded"),
                               (b"--zz\r\nbroken", "multipart/form-data; boundary=zz")):
        response = shared.client.post(f"/chair/conferences/{cid}/tap", data=body,
                                   headers={"Content-Type": content_type, "X-CSRFToken": shared.page_token()})
        assert 400 <= response.status_code < 500


def test_bad_input_web_non_utf8_in_forms_queries_and_paths_is_never_a_500(shared):
    cid = shared.records.ids()["conference_id"]
    token = shared.page_token()
    for body in (b"csrf_token=" + token.encode() + b"&name=%ff%fe&role=gp&direct_contact=yes",
                 b"csrf_token=" + token.encode() + b"&name=\xff\xfe&role=gp&direct_contact=yes",
                 b"csrf_token=" + token.encode() + b"&tap=%C0%AF"):
        response = shared.client.post(f"/chair/conferences/{cid}/invitees", data=body,
                                   headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert response.status_code < 500
    for path in ("/api/state?since=%ff", "/api/state?timeout=%00", "/chair/login?next=%ff%2f%2fevil",
                 "/chair/login?code=%ff", "/static/%ff", "/chair/conferences/%ff", "/api/conferences/%ff"):
        assert shared.client.get(path).status_code < 500, path
    shared.records.assert_intact()


# -- through the real web server: chunked bodies, headers, request lines, static files ------------------------

def _raw(port: int, request: bytes, timeout: float = 10.0) -> tuple[int, bytes, bytes]:
    """Send exact bytes; returns (status, headers, body) of the answer (status 0 if the server just closed)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(request)
        except (BrokenPipeError, ConnectionResetError):
            pass
        chunks = []
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    data = b"".join(chunks)
    head, _, body = data.partition(b"\r\n\r\n")
    try:
        status = int(head.split(b" ", 2)[1])
    except (IndexError, ValueError):
        status = 0
    return status, head, body


@pytest.fixture(scope="module")
def live(shared):
    server, close = serve(shared.app)
    try:
        yield int(server.url.rsplit(":", 1)[1])
    finally:
        close()


def _get(path: bytes, extra: bytes = b"") -> bytes:
    return b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra + b"Connection: close\r\n\r\n"


def test_bad_input_web_chunked_oversized_bodies_are_a_413_over_http(shared, live):
    chunk = b"x" * 8192
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(10)) + b"0\r\n\r\n"
    for path, content_type in ((b"/api/conferences", b"application/json"),
                               (b"/chair/conferences", b"application/x-www-form-urlencoded")):
        request = (b"POST " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: " + content_type +
                   b"\r\nTransfer-Encoding: chunked\r\nCookie: kiosk_chair=" + _cookie(shared).encode() +
                   b"\r\nX-CSRFToken: " + shared.token.encode() + b"\r\nConnection: close\r\n\r\n" + body)
        status, _, _ = _raw(live, request)
        assert status == 413, (path, status)
    assert _raw(live, _get(b"/api/state"))[0] == 200


@pytest.mark.parametrize("name, extra", [
    ("one huge header", b"X-Junk: " + b"a" * 300_000 + b"\r\n"),
    ("many headers", b"".join(b"X-H%d: v\r\n" % n for n in range(20_000))),
    ("huge cookie", b"Cookie: kiosk_chair=" + b"b" * 60_000 + b"\r\n"),
    ("garbage cookie", b"Cookie: kiosk_chair=\xff\xfe\x00;;;==\r\n"),
    ("non-latin header", b"X-CSRFToken: \xe2\x82\xac\xff\r\nOrigin: \xff\r\n"),
    ("huge forwarded-for", b"X-Forwarded-For: " + b"1.2.3.4, " * 5000 + b"\r\n"),
])
def test_bad_input_web_odd_and_huge_headers_are_never_a_5xx(live, name, extra):
    for path in (b"/chair", b"/api/conferences", b"/api/state"):
        status, _, _ = _raw(live, _get(path, extra))
        assert status == 0 or status < 500, (name, path, status)
    assert _raw(live, _get(b"/api/state"))[0] == 200  # and the server carries on


@pytest.mark.parametrize("line", [b"GET /" + b"a" * 70_000 + b" HTTP/1.1", b"GET /chair/\xff\xfe HTTP/1.1",
                                  b"GET /api/state?since=\xff HTTP/1.1", b"BREW /display HTTP/1.1",
                                  b"GET /display HTTP/9.9", b"GET display HTTP/1.1", b"\x16\x03\x01\x02\x00\x01"])
def test_bad_input_web_odd_request_lines_are_never_a_5xx(live, line):
    status, _, _ = _raw(live, line + b"\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    assert status == 0 or status < 500, (line[:60], status)
    assert _raw(live, _get(b"/api/state"))[0] == 200


TRAVERSALS = [
    b"/static/../kiosk/config.py", b"/static/../../kiosk/config.py", b"/static/%2e%2e/kiosk/config.py",
    b"/static/%2e%2e%2fkiosk%2fconfig.py", b"/static/..%2f..%2fkiosk%2fconfig.py", b"/static/%252e%252e%252fsetup.py",
    b"/static/..%5c..%5ckiosk%5cconfig.py", b"/static/..\\..\\kiosk\\config.py", b"/static/%5c..%5csetup.py",
    b"/static//etc/passwd", b"/static/%2fetc%2fpasswd", b"/static/../../../../../../etc/passwd",
    b"/static/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd", b"/static/chair.css%00.py", b"/static/%00",
    b"/static/chair.css/../../templates/chair_home.html", b"/static/./../__init__.py", b"/static/.%2e/__init__.py",
    b"/static/%c0%ae%c0%ae/%c0%ae%c0%ae/setup.py", b"/static/..;/setup.py", b"/static/", b"/static",
    b"/static/../state/" + DB_FILENAME.encode(), b"/static/~root/.bashrc", b"/static/chair.css::$DATA",
    b"/display/../static/../kiosk/config.py", b"/chair/conferences/1/../../../../etc/passwd/record.csv",
    b"/chair/conferences/%2e%2e/record.csv", b"/api/conferences/1%2f..%2f..%2fetc%2fpasswd/record.csv",
]


def test_bad_input_web_path_traversal_never_serves_anything_outside_static(shared, live):
    allowed = {p.read_bytes() for p in STATIC.iterdir() if p.is_file()}
    secrets = [(ROOT / "kiosk" / "config.py").read_bytes()[:200], b"root:x:0:0", b"SQLite format 3",
               (Path(shared.state_dir) / "web-secret-key").read_bytes().strip(),
               (Path(shared.state_dir) / "chair-pin").read_bytes().strip(), b"import ", b"{% "]
    cookie = b"Cookie: kiosk_chair=" + _cookie(shared).encode() + b"\r\n"
    for first in TRAVERSALS:
        for extra in (b"", cookie):
            path = first
            status, head, body = _raw(live, _get(path, extra))
            for _ in range(3):  # follow redirects (merged slashes: /static//etc/passwd -> /static/etc/passwd)
                location = re.search(rb"\r\nLocation: (?:https?://[^/\r]+)?(/[^\r]*)", head)
                if status not in (301, 302, 303, 307, 308) or not location:
                    break
                path = location.group(1)
                status, head, body = _raw(live, _get(path, extra))
            assert status < 500, (path, status)
            for secret in secrets:
                assert secret not in body, (path, status, secret[:40])
            if status == 200 and path.startswith(b"/static"):
                assert body in allowed, (path, head)
    for name in ("chair.css", "display.js"):  # and the real files are served
        status, _, body = _raw(live, _get(b"/static/" + name.encode()))
        assert status == 200 and body == (STATIC / name).read_bytes()



@pytest.mark.parametrize("path", ["/chair/login", "/chair/conferences", "/chair/logout"])
def test_bad_input_web_a_form_part_without_a_name_is_a_400_not_a_500(env, path):
    """Found by the form fuzzing: Flask-WTF's token lookup failed on a multipart part with no name, for anyone."""
    body = (b"--zz\r\nContent-Disposition: form-data\r\n\r\nvalue\r\n"
            b"--zz\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n" + env.page_token().encode() +
            b"\r\n--zz--\r\n")
    client = env.new_client() if path == "/chair/login" else env.client
    response = client.post(path, data=body, headers={"Content-Type": "multipart/form-data; boundary=zz"})
    assert response.status_code == 400 and "without a name" in response.get_data(as_text=True)
