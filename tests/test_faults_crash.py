"""The record survives the kiosk being killed mid-save and the disk filling up, through a real ``kiosk run``.

- ``kill -9`` while tapping with Idempotency-Keys: after the restart, the tap that was in flight, retried with
  its key, is recorded exactly once; and when the kiosk dies between a change and its kept answer, the retry
  records nothing and answers 409 with the current view.

- ``kill -9`` while the chair (two tablets) saves attendance as fast as the kiosk takes it,
  at a random moment, round after round: after a restart on the same state directory every
  save the kiosk acknowledged (2xx with the event's id) is there, at most the saves that were
  in flight are added, earlier rounds are untouched, and ``PRAGMA integrity_check`` is ok.
- A full disk (a real tmpfs that the test fills, as root): saving answers 507 with a message
  (API) or shows the message (page, with or without JavaScript), nothing saved before is lost,
  the room display keeps answering, and once space is freed saving works again.
- A damaged database file: every chair page and API call answers 503 with the storage error (never 500), the
  room display keeps answering, and ``kiosk doctor``'s integrity check says the file is damaged.
"""

from __future__ import annotations

import errno
import http.client
import os
import random
import subprocess
import threading
import time
from pathlib import Path

import pytest

from kiosk_process import KioskProcess, create_conference, integrity_check

pytestmark = pytest.mark.proof  # slow: see docs/testing.md (pytest -m 'not proof' leaves it out)

ROUNDS = 8
#: The whole kill -9 test stops starting new rounds after this long (it still needs 3 rounds to pass).
CRASH_TIME_LIMIT_S = 35.0
WRITERS = 2


class Writer(threading.Thread):
    """One tablet tapping attendance for its own people as fast as the kiosk answers: lost connection /
    rejoined for those online, left / arrived again for those in the room.

    Every acknowledged save (2xx with the event's id) is in ``acknowledged``; the thread ends at the
    first connection error (the kiosk was killed) and keeps any other failure in ``failures``.
    """

    def __init__(self, kiosk: KioskProcess, cookie: str, token: str, conference_id: int, people: list[dict],
                 keys: str | None = None):
        super().__init__(daemon=True)
        self.client = kiosk.http(timeout=10)
        self.client.cookie, self.client.token = cookie, token
        self.path = f"/api/conferences/{conference_id}/events"
        self.people = people
        self.acknowledged: list[int] = []
        self.failures: list[str] = []
        self.in_flight = 0
        self.stopped = threading.Event()
        #: With ``keys`` (a prefix), every tap carries an Idempotency-Key; ``sending`` is the last (body, key).
        self.keys = keys
        self.sending: tuple[dict, str] | None = None

    def run(self) -> None:
        present = {p["id"]: True for p in self.people}
        n = 0
        while not self.stopped.is_set():
            person = self.people[n % len(self.people)]
            who = person["id"]
            if person["expected_mode"] == "virtual":
                kind, details = ("lost_connection", {}) if present[who] else ("rejoined", {})
            else:
                kind, details = ("left", {"agreed": True}) if present[who] else ("arrived", {"mode": "in_person"})
            self.in_flight = 1
            body = {"kind": kind, "invitee_id": who, "details": details}
            self.sending = (body, f"{self.keys}-{n}") if self.keys else None
            try:
                reply = self.client.json("POST", self.path, body,
                                         headers={"Idempotency-Key": self.sending[1]} if self.sending else None)
            except (OSError, http.client.HTTPException, AttributeError):
                # Killed: this save may or may not have landed. (When the peer dies mid-response,
                # http.client can fail with AttributeError: its socket file is already gone.)
                return
            if reply.status != 201:
                self.failures.append(f"{reply.status} {reply.text[:300]}")
                return
            event = reply.json()["event"]
            assert event["kind"] == kind and event["invitee_id"] == who
            self.acknowledged.append(event["id"])
            self.in_flight = 0
            present[who] = not present[who]
            n += 1


def _stored_event_ids(client, conference_id: int) -> list[int]:
    """Every event id of the conference's whole log, oldest first (the view carries only the latest)."""
    ids, page = [], 1
    while True:
        reply = client.get(f"/api/conferences/{conference_id}/events?page={page}&per_page=500")
        assert reply.status == 200, reply.text
        answer = reply.json()
        ids += [e["id"] for e in answer["events"]]
        if page >= answer["pages"]:
            return ids[::-1]
        page += 1


def _tap_until_killed(kiosk, case_ref: str, rng, keys: str | None = None):
    """A new conference with everyone arrived, then WRITERS tablets tapping until the kiosk is killed at a
    random moment. Returns (chair, conference id, invitees, writers); the writers have stopped."""
    chair = kiosk.http()
    assert chair.login().status == 200
    conference_id, invitees = create_conference(chair, case_ref=case_ref)
    for person in invitees:
        reply = chair.json("POST", f"/api/conferences/{conference_id}/events",
                           {"kind": "arrived", "invitee_id": person["id"], "details": {"mode": person["expected_mode"]}})
        assert reply.status == 201, reply.text
    writers = [Writer(kiosk, chair.cookie, chair.token, conference_id, invitees[n::WRITERS],
                      keys=None if keys is None else f"{keys}{n}") for n in range(WRITERS)]
    for w in writers:
        w.start()
    time.sleep(rng.uniform(0.05, 0.8))
    kiosk.kill()
    for w in writers:
        w.join(15)
        assert not w.is_alive()
        assert w.failures == [], w.failures
    return chair, conference_id, invitees, writers


def test_faults_crash_kill_9_while_saving_attendance_loses_no_acknowledged_save(tmp_path):
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    print(f"kill -9 rounds: seed {seed}")
    kiosk = KioskProcess(tmp_path).start()
    began = time.monotonic()
    #: conference id -> the event ids stored after its round (checked again after every later restart)
    settled: dict[int, list[int]] = {}
    rounds = 0
    try:
        while rounds < ROUNDS and time.monotonic() - began < CRASH_TIME_LIMIT_S:
            chair, conference_id, invitees, writers = _tap_until_killed(kiosk, f"CP-2026-{rounds:04d}", rng)
            acknowledged = [i for w in writers for i in w.acknowledged]
            in_flight = sum(w.in_flight for w in writers)
            assert integrity_check(kiosk.database) == "ok"  # before any recovery by the kiosk

            kiosk.start()
            chair = kiosk.http()
            assert chair.login().status == 200  # the PIN and the session key survived too
            stored = _stored_event_ids(chair, conference_id)
            assert set(acknowledged) <= set(stored), f"lost: {sorted(set(acknowledged) - set(stored))}"
            arrivals = len(invitees)
            assert len(stored) - arrivals - len(acknowledged) <= in_flight  # nothing invented
            assert len(set(stored)) == len(stored)
            for earlier, events in settled.items():
                assert _stored_event_ids(chair, earlier) == events, f"conference {earlier} changed"
            settled[conference_id] = stored
            assert integrity_check(kiosk.database) == "ok"
            print(f"round {rounds + 1}: {len(acknowledged)} saves acknowledged, "
                  f"{len(stored) - arrivals} stored, killed with {in_flight} in flight")
            rounds += 1
            chair.close()
        assert rounds >= 3, f"only {rounds} rounds in {CRASH_TIME_LIMIT_S} s"
        assert sum(len(v) for v in settled.values()) > rounds * 5  # the kiosk was really saving when killed
        assert kiosk.stop() == 0
        assert integrity_check(kiosk.database) == "ok"
    finally:
        kiosk.kill()


def test_faults_crash_kill_9_while_tapping_with_keys_records_every_retried_tap_exactly_once(tmp_path):
    """Whenever the kill lands (before the change, between the change and its kept answer, after both), the tap
    retried with its key after the restart is then recorded exactly once: it runs if nothing was saved, and
    records nothing (replayed, or 409 when the answer was lost) if its change was."""
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    print(f"kill -9 rounds with keys: seed {seed}")
    kiosk = KioskProcess(tmp_path).start()
    began = time.monotonic()
    outcomes: list[str] = []
    try:
        while len(outcomes) < ROUNDS and time.monotonic() - began < CRASH_TIME_LIMIT_S:
            chair, conference_id, invitees, writers = _tap_until_killed(kiosk, f"CP-2026-{len(outcomes):04d}", rng,
                                                                        keys=f"r{len(outcomes)}w")
            kiosk.start()
            again = kiosk.http()
            again.cookie, again.token = chair.cookie, chair.token  # the same session: the keys are its own
            retried = 0
            for w in writers:
                if not w.in_flight:
                    continue
                body, key = w.sending
                reply = again.json("POST", w.path, body, headers={"Idempotency-Key": key})
                if reply.status == 201:
                    outcomes.append("replayed" if reply.header("Idempotent-Replayed") else "ran")
                else:
                    assert reply.status == 409 and "already recorded" in reply.json()["error"], reply.text
                    assert reply.json()["view"]["conference"]["id"] == conference_id
                    outcomes.append("answer lost")
                retried += 1
            stored = _stored_event_ids(again, conference_id)
            acknowledged = [i for w in writers for i in w.acknowledged]
            assert set(acknowledged) <= set(stored)
            assert len(stored) == len(invitees) + len(acknowledged) + retried  # each retried tap once
            if not retried:
                outcomes.append("none in flight")
            assert integrity_check(kiosk.database) == "ok"
            chair.close()
            again.close()
        print(f"retries after kill -9: {outcomes}")
        assert len(outcomes) >= 3, f"only {len(outcomes)} rounds in {CRASH_TIME_LIMIT_S} s"
        assert kiosk.stop() == 0
    finally:
        kiosk.kill()


def test_faults_crash_kill_9_between_a_change_and_its_answer_then_the_retry_records_nothing(tmp_path):
    """The kiosk dies after a change is saved and before its answer is: triggers added to the file make keeping
    the answer fail (as a kill at that moment would), then ``kill -9``. After the restart, the tap retried
    with its key records nothing and answers 409 with the view, on the API and on the chair's page."""
    import sqlite3

    kiosk = KioskProcess(tmp_path).start()
    try:
        chair = kiosk.http()
        assert chair.login().status == 200
        conference_id, invitees = create_conference(chair)
        events = f"/api/conferences/{conference_id}/events"
        tap = {"kind": "arrived", "invitee_id": invitees[0]["id"], "details": {"mode": "in_person"}}
        page_tap = {"tap": f"{invitees[1]['id']}:arrived_virtual", "csrf_token": chair.page_token()}
        conn = sqlite3.connect(kiosk.database, isolation_level=None, timeout=10)
        for event in ("INSERT", "UPDATE"):
            conn.execute(f"CREATE TRIGGER answer_lost_{event.lower()} BEFORE {event} ON idempotency "
                         f"WHEN NEW.status IS NOT NULL BEGIN SELECT RAISE(ABORT, 'the kiosk stopped here'); END")
        conn.close()
        assert chair.json("POST", events, tap, headers={"Idempotency-Key": "api-1"}).status == 201
        assert chair.form(f"/chair/conferences/{conference_id}/tap", page_tap,
                          {"X-Chair-Fragment": "live", "Idempotency-Key": "page-1"}).status == 200
        kiosk.kill()
        conn = sqlite3.connect(kiosk.database, isolation_level=None, timeout=10)
        assert dict(conn.execute("SELECT key, status FROM idempotency")) == {"api-1": None, "page-1": None}
        conn.execute("DROP TRIGGER answer_lost_insert")
        conn.execute("DROP TRIGGER answer_lost_update")
        conn.close()

        kiosk.start()
        again = kiosk.http()
        again.cookie, again.token = chair.cookie, chair.token
        stored = _stored_event_ids(again, conference_id)
        reply = again.json("POST", events, tap, headers={"Idempotency-Key": "api-1"})
        assert reply.status == 409 and "already recorded" in reply.json()["error"], reply.text
        assert "reload" in reply.json()["error"] and reply.json()["view"]["conference"]["id"] == conference_id
        reply = again.form(f"/chair/conferences/{conference_id}/tap", page_tap,
                           {"X-Chair-Fragment": "live", "Idempotency-Key": "page-1"})
        assert reply.status == 409 and "already recorded" in reply.text and 'class="is-error"' in reply.text
        assert _stored_event_ids(again, conference_id) == stored and len(stored) == 2  # nothing recorded again
        assert kiosk.stop() == 0
        assert integrity_check(kiosk.database) == "ok"
    finally:
        kiosk.kill()


# -- a full disk ----------------------------------------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path):
    """A 3 MB tmpfs mounted for the test (needs root, as on the CI machines)."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs to fill needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m,mode=0700", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        if subprocess.run(["umount", str(mount)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def fill(directory: Path) -> Path:
    """Fill the file system holding ``directory`` to the last byte; returns the filler file."""
    filler = directory / "filler"
    with open(filler, "wb", buffering=0) as f:
        for chunk in (1 << 16, 4096, 512, 1):
            try:
                while True:
                    f.write(b"\0" * chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
    return filler


def test_faults_crash_disk_full_while_saving_is_a_clear_error_and_loses_nothing(tmp_path, small_disk):
    kiosk = KioskProcess(tmp_path / "kiosk", state_dir=small_disk / "state").start()
    try:
        chair = kiosk.http()
        assert chair.login().status == 200
        conference_id, invitees = create_conference(chair)
        events = f"/api/conferences/{conference_id}/events"
        for person in invitees[:3]:
            reply = chair.json("POST", events, {"kind": "arrived", "invitee_id": person["id"],
                                                "details": {"mode": person["expected_mode"]}})
            assert reply.status == 201, reply.text
        saved = _stored_event_ids(chair, conference_id)
        record_before = chair.get(f"/api/conferences/{conference_id}/record").json()

        filler = fill(small_disk)
        # Reports with long notes until the disk refuses one (the database's last free pages go first).
        person = invitees[3]["id"]
        full = None
        for n in range(400):
            reply = chair.json("POST", events, {"kind": "report_received", "invitee_id": person,
                                                "details": {"received_on": "2026-11-20", "note": f"{n} " + "x" * 1900}})
            if reply.status == 201:
                saved.append(reply.json()["event"]["id"])
                continue
            full = reply
            break
        assert full is not None, "the disk never filled up"
        assert full.status == 507, full.text
        assert full.header("Content-Type") == "application/json"
        assert "storage is full" in full.json()["error"] and "nothing was saved" in full.json()["error"]

        # The page, with JavaScript (the live fragment's JSON) and without (the message after the redirect).
        tap = f"/chair/conferences/{conference_id}/tap"
        someone = invitees[4]["id"]
        reply = chair.form(tap, {"tap": f"{someone}:arrived_in_person"}, {"X-Chair-Fragment": "live"})
        assert reply.status == 507 and "storage is full" in reply.json()["error"]
        reply = chair.form(tap, {"tap": f"{someone}:arrived_in_person"})
        assert reply.status == 303
        page = chair.get(reply.header("Location").split("#")[0])
        assert page.status == 200 and "storage is full" in page.text.replace("&#39;", "'")

        # Reading still works while the disk is full, and the room display is unaffected.
        assert _stored_event_ids(chair, conference_id) == saved
        assert kiosk.http().get("/api/state").status == 200
        assert kiosk.http().get("/display").status == 200
        assert kiosk.alive()

        filler.unlink()
        assert _stored_event_ids(chair, conference_id) == saved
        record_after = chair.get(f"/api/conferences/{conference_id}/record").json()
        assert [p["name"] for p in record_after["people"]] == [p["name"] for p in record_before["people"]]
        reply = chair.form(tap, {"tap": f"{someone}:arrived_in_person"}, {"X-Chair-Fragment": "live"})
        assert reply.status == 200, reply.text
        assert len(_stored_event_ids(chair, conference_id)) == len(saved) + 1
        assert integrity_check(kiosk.database) == "ok"
        assert kiosk.stop() == 0
        assert integrity_check(kiosk.database) == "ok"
        log = kiosk.log()
        assert "Traceback" not in log, log
    finally:
        kiosk.kill()


def test_faults_damaged_database_answers_503_not_500(tmp_path):
    import json
    import sys

    from kiosk_process import ROOT, damage_database

    kiosk = KioskProcess(tmp_path)
    with kiosk:
        chair = kiosk.http()
        assert chair.login().status == 200
        conference_id, invitees = create_conference(chair)
    damage_database(kiosk.database)
    with kiosk:
        chair = kiosk.http()
        assert chair.login().status == 200
        for path in ("/api/conferences", f"/api/conferences/{conference_id}", "/chair",
                     f"/chair/conferences/{conference_id}"):
            reply = chair.get(path)
            assert reply.status == 503, (path, reply.status)
            assert "database is damaged" in reply.text
        reply = chair.json("POST", f"/api/conferences/{conference_id}/events",
                           {"kind": "arrived", "invitee_id": invitees[0]["id"], "details": {"mode": "in_person"}})
        assert reply.status == 503 and "damaged" in reply.json()["error"]
        assert kiosk.http().get("/display").status == 200 and kiosk.http().get("/api/state").status == 200
    doctor = subprocess.run([sys.executable, "-m", "kiosk", "doctor", "--json", "--config", str(kiosk.config)],
                            capture_output=True, text=True, cwd=ROOT, timeout=120)
    found = {f["name"]: f for f in json.loads(doctor.stdout)["findings"]}
    assert found["database"]["status"] == "FAIL" and "damaged" in found["database"]["detail"]
