"""Fixtures for the chair's page and API: a ChairService on a temporary state directory, with clocks
that tests move, served by the app of an unstarted simulated room.

Test modules import what they use (``from chair_web import chair, PIN``).
"""

from __future__ import annotations

import re
import sqlite3
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import pytest

from kiosk.conference.access import ChairAccess
from kiosk.conference.service import ChairService
from kiosk.service import connect_room
from web import fast_config
from web_ui import admission, create_app

PIN = "482915"
#: Monday 23 November 2026, 09:30 in London (GMT in November): the conference day in most tests.
MONDAY = datetime(2026, 11, 23, 9, 30, tzinfo=timezone.utc)
DAY = "2026-11-23"

#: A small invitation list: quorate once social care and two other agencies with direct contact are in.
CSV = ("name,role,agency,direct_contact,expected_mode,email\n"
       "Sam Social,social worker,,,in person,\n"
       "Pat Police,police officer,,yes,virtual,\n"
       "Hana Visitor,health visitor,,yes,virtual,\n"
       "Ella School,school,,yes,virtual,\n"
       "Mary Parent,parent,,,in person,\n")
NAMES = ("Sam Social", "Pat Police", "Hana Visitor", "Ella School", "Mary Parent")


class Clock:
    """The kiosk's wall clock (aware UTC), moved by tests."""

    def __init__(self, now: datetime = MONDAY):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)


class Seconds:
    """A seconds counter (the sessions' and the lockout's clocks), moved by tests."""

    def __init__(self, value: float = 1_000_000.0):
        self.value = value

    def __call__(self) -> float:
        return self.value

    def advance(self, seconds: float) -> None:
        self.value += seconds


@dataclass
class Chair:
    """A signed-out test client of the app, with the service and the clocks behind it."""

    service: ChairService
    app: object
    controller: object
    now: Clock
    seconds: Seconds
    state_dir: object
    client: object = None
    token: str | None = None
    extra: dict = field(default_factory=dict)
    #: The chair's sign-in (PIN, pairing codes, lockout) the app checks against.
    access: ChairAccess | None = None

    def new_client(self):
        return self.app.test_client()

    def login(self, client=None, pin: str = PIN) -> str:
        """Sign ``client`` (default: this one) in through the API; returns its CSRF token."""
        client = client or self.client
        response = client.post("/api/login", json={"pin": pin})
        assert response.status_code == 200, response.get_json()
        token = response.get_json()["csrf_token"]
        if client is self.client:
            self.token = token
        return token

    def headers(self, token: str | None = None) -> dict:
        return {"X-CSRFToken": token or self.token}

    def api(self, method: str, path: str, json=None, token: str | None = None, client=None, **kwargs):
        """A JSON API call with the CSRF header."""
        client = client or self.client
        headers = kwargs.pop("headers", {})
        if method.upper() != "GET":
            headers = {**self.headers(token), **headers}
        return client.open(path, method=method.upper(), json=json, headers=headers, **kwargs)

    def conference(self, **fields) -> dict:
        """Create a conference through the API (today, 10:00, an ICPC by default); returns its view."""
        body = {"type": "initial", "date": DAY, "start_time": "10:00", "case_ref": "CP-2026-0142"} | fields
        response = self.api("POST", "/api/conferences", body)
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def invite_csv(self, conference_id: int, text: str = CSV) -> list[dict]:
        response = self.api("POST", f"/api/conferences/{conference_id}/invitees/csv", {"csv": text})
        assert response.status_code == 201, response.get_json()
        return response.get_json()["added"]

    def event(self, conference_id: int, kind: str, invitee_id=None, **details):
        return self.api("POST", f"/api/conferences/{conference_id}/events",
                        {"kind": kind, "invitee_id": invitee_id, "details": details})

    def page_token(self, client=None) -> str:
        """The CSRF token of a page (the sign-in form sets one up before sign-in)."""
        client = client or self.client
        response = client.get("/chair/login")
        if response.status_code == 302:  # signed in already
            response = client.get("/chair")
        html = response.get_data(as_text=True)
        return re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)


def make_chair(tmp_path, controller, *, pin: str | None = PIN, now: datetime = MONDAY, config: dict | None = None,
               conference: dict | None = None) -> Chair:
    """A ChairService in ``tmp_path/state`` for ``controller``, and the app serving both."""
    state = tmp_path / "state"
    cfg = fast_config().replace("storage", state_dir=str(state))
    if conference:
        cfg = cfg.replace("conference", **conference)
    clock, seconds = Clock(now), Seconds()
    service = ChairService(cfg, controller.bus, now=clock, waiting=admission.waiting)
    connect_room(controller)
    access = ChairAccess.from_config(cfg, bus=controller.bus, monotonic=seconds)
    if pin:
        access.pins.save(pin)
    app = create_app(controller, {"TESTING": True, "SIMULATOR": True, "CHAIR_CLOCK": seconds, **(config or {})},
                     chair=service, access=access)
    return Chair(service, app, controller, clock, seconds, state, client=app.test_client(), access=access)


def restarted(chair: Chair, tmp_path, controller) -> Chair:
    """``chair``'s kiosk stopped and started again on the same state directory, the same session signed in."""
    cookie = chair.client.get_cookie("kiosk_chair").value
    chair.service.stop()
    again = make_chair(tmp_path, controller, pin=None, now=chair.now.now)  # the PIN kept: sessions live on
    again.client.set_cookie("kiosk_chair", cookie)
    again.token = chair.token
    return again


@contextmanager
def answers_not_kept(database):
    """While inside, every answer the app keeps for an Idempotency-Key fails to save (a real SQLite refusal, from
    triggers another connection adds to the file): the file is left as a crash right after the change leaves it."""
    conn = sqlite3.connect(database, isolation_level=None)
    try:
        for event in ("INSERT", "UPDATE"):
            conn.execute(f"CREATE TRIGGER answer_lost_{event.lower()} BEFORE {event} ON idempotency "
                         f"WHEN NEW.status IS NOT NULL BEGIN SELECT RAISE(ABORT, 'the kiosk stopped here'); END")
        yield
    finally:
        conn.execute("DROP TRIGGER IF EXISTS answer_lost_insert")
        conn.execute("DROP TRIGGER IF EXISTS answer_lost_update")
        conn.close()


def kept_keys(database) -> dict[str, int | None]:
    """Every key kept in the file, with its answer's status (None: pending, the change saved but not its answer)."""
    with closing(sqlite3.connect(database)) as conn:
        return dict(conn.execute("SELECT key, status FROM idempotency").fetchall())


@pytest.fixture
def chair(tmp_path, cold_room):
    """A signed-out client of the chair's app on an unstarted simulated room (PIN 482915)."""
    env = make_chair(tmp_path, cold_room)
    try:
        yield env
    finally:
        env.service.stop()


@pytest.fixture
def signed_in(chair):
    """``chair``, signed in through the API."""
    chair.login()
    return chair
