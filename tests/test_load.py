"""Load: a real ``kiosk run`` under 20 concurrent chair and display clients plus a request flood on loopback, and
``kiosk fleet --once`` over 500 rooms' retained states on a real mosquitto.

Bounded (seconds and requests). The figures are printed, not asserted: the promise tested is that nothing
fails (no 5xx, no connection error, no timeout, every answer the one expected) and that the kiosk still
answers promptly afterwards. ``benchmarks/bench_web.py`` and ``benchmarks/bench_mqtt.py`` measure properly.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from kiosk_process import KioskProcess, create_conference
from mqtt_broker import Broker

pytestmark = pytest.mark.proof  # slow: see docs/testing.md (pytest -m 'not proof' leaves it out)

ROOT = Path(__file__).resolve().parent.parent
DURATION_S = 8.0
MAX_REQUESTS = 4000
CHAIR_READERS, CHAIR_WRITERS, DISPLAYS = 9, 1, 10  # 20 clients
FLOODERS = 3


class Tally:
    """Latencies per kind of request and every failure, from many threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.latencies: dict[str, list[float]] = {}
        self.errors: list[str] = []
        self.requests = 0
        self.stop = threading.Event()

    def add(self, kind: str, seconds: float) -> None:
        with self.lock:
            self.latencies.setdefault(kind, []).append(seconds * 1000)

    def count(self) -> bool:
        """Count one request; False once the run is over (time or request budget)."""
        with self.lock:
            self.requests += 1
            if self.requests >= MAX_REQUESTS:
                self.stop.set()
        return not self.stop.is_set()

    def error(self, text: str) -> None:
        with self.lock:
            self.errors.append(text)

    def p99(self, kind: str) -> str:
        values = self.latencies.get(kind)
        if not values:
            return f"{kind}: none"
        a = np.asarray(values)
        return f"{kind}: n={len(a)} median {np.median(a):.1f} ms, p99 {np.percentile(a, 99):.1f} ms"


def _client_loop(tally: Tally, name: str, step):
    """Run ``step()`` until the run is over; any exception is an error (a connection error, a timeout...)."""
    try:
        while tally.count():
            step()
    except Exception as exc:  # noqa: BLE001 - every failure counts
        tally.error(f"{name}: {type(exc).__name__}: {exc}")


def test_load_20_clients_and_a_flood_without_a_single_error(tmp_path):
    kiosk = KioskProcess(tmp_path, log_level="WARNING").start()
    tally = Tally()
    threads = []
    try:
        chair = kiosk.http()
        assert chair.login().status == 200
        roles = ["police officer", "health visitor", "school", "GP", "probation officer", "midwife"] * 2
        csv = "name,role,agency,direct_contact,expected_mode\n" + "".join(
            f"Person {n},{role},,yes,virtual\n" for n, role in enumerate(roles))
        conference_id, invitees = create_conference(chair, csv=csv)
        page, api = f"/chair/conferences/{conference_id}", f"/api/conferences/{conference_id}"

        def reader(n):
            client = kiosk.http()
            client.cookie, client.token = chair.cookie, chair.token

            def step():
                path, kind = (page, "chair page") if n % 3 else (api, "chair API")
                reply = client.get(path)
                tally.add(kind, reply.elapsed_s)
                if reply.status != 200:
                    tally.error(f"GET {path}: {reply.status}")
            _client_loop(tally, f"reader {n}", step)

        def writer(n):
            client = kiosk.http()
            client.cookie, client.token = chair.cookie, chair.token
            where = {p["id"]: "absent" for p in invitees}
            order = [p["id"] for p in invitees]
            taps = {"absent": ("arrived", {"mode": "virtual"}, "present"),
                    "present": ("lost_connection", {}, "lost"), "lost": ("rejoined", {}, "present")}
            i = [0]

            def step():
                who = order[i[0] % len(order)]
                i[0] += 1
                kind, details, then = taps[where[who]]
                reply = client.json("POST", f"{api}/events", {"kind": kind, "invitee_id": who, "details": details})
                tally.add("chair save", reply.elapsed_s)
                if reply.status != 201:
                    tally.error(f"POST events ({kind}): {reply.status} {reply.text[:200]}")
                else:
                    where[who] = then
            _client_loop(tally, f"writer {n}", step)

        pressed = {"at": None}

        def display(n):
            client = kiosk.http()
            reply = client.get("/display")
            if reply.status != 200:
                tally.error(f"GET /display: {reply.status}")
            state = client.get("/api/state").json()

            def step():
                nonlocal state
                began = time.monotonic()
                reply = client.get(f"/api/state?since={state['revision']}&timeout=2")
                if reply.status != 200:
                    tally.error(f"long-poll: {reply.status}")
                    return
                new = reply.json()
                press = pressed["at"]
                if new["revision"] > state["revision"] and press is not None and press >= began:
                    tally.add("display update", time.monotonic() - press)
                state = new
            _client_loop(tally, f"display {n}", step)

        def presser():
            client = kiosk.http()

            def step():
                pressed["at"] = time.monotonic()
                reply = client.json("POST", "/simulator/button", {"action": "hold"}, auth=False)
                if reply.status != 200:
                    tally.error(f"hold: {reply.status}")
                tally.stop.wait(0.5)
            _client_loop(tally, "presser", step)

        def flooder(n):
            paths = ["/api/state", "/display", "/metrics", "/static/display.js", "/api/state?since=0&timeout=0",
                     "/chair/login", "/api/openapi.json"]
            i = [n]

            def step():
                path = paths[i[0] % len(paths)]
                i[0] += 1
                conn = http.client.HTTPConnection("127.0.0.1", kiosk.port, timeout=10)  # a new connection each time
                try:
                    t0 = time.perf_counter()
                    conn.request("GET", path)
                    response = conn.getresponse()
                    response.read()
                    tally.add("flood", time.perf_counter() - t0)
                    if response.status != 200:
                        tally.error(f"flood GET {path}: {response.status}")
                finally:
                    conn.close()
            _client_loop(tally, f"flooder {n}", step)

        threads = ([threading.Thread(target=reader, args=(n,)) for n in range(CHAIR_READERS)]
                   + [threading.Thread(target=writer, args=(n,)) for n in range(CHAIR_WRITERS)]
                   + [threading.Thread(target=display, args=(n,)) for n in range(DISPLAYS)]
                   + [threading.Thread(target=presser)]
                   + [threading.Thread(target=flooder, args=(n,)) for n in range(FLOODERS)])
        began = time.monotonic()
        for t in threads:
            t.start()
        tally.stop.wait(DURATION_S)
        tally.stop.set()
        for t in threads:
            t.join(30)
        assert not any(t.is_alive() for t in threads)
        elapsed = time.monotonic() - began

        # Still prompt afterwards, and still right.
        t0 = time.monotonic()
        reply = kiosk.http().get("/api/state")
        after = time.monotonic() - t0
        assert reply.status == 200 and reply.json()["room"] == "suite-1"
        print(f"\n{tally.requests} requests in {elapsed:.1f} s, {len(tally.errors)} errors; "
              f"/api/state after the flood: {after * 1000:.1f} ms")
        for kind in ("chair page", "chair API", "chair save", "display update", "flood"):
            print("  " + tally.p99(kind))
        assert tally.errors == [], tally.errors[:10]
        assert after < 2.0
        assert tally.latencies.get("chair page") and tally.latencies.get("chair save")
        assert tally.latencies.get("display update"), "no display update was seen"
        assert kiosk.alive() and "Traceback" not in kiosk.log()
        assert kiosk.stop() == 0
    finally:
        tally.stop.set()
        kiosk.kill()


# -- the fleet view of 500 rooms --------------------------------------------------------------------------------

def _state(room: str, ready: bool) -> bytes:
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    checks = {name: {"status": "pass", "reason": "OK"} for name in ("camera", "microphone", "display", "clock")}
    if not ready:
        checks["camera"] = {"status": "fail", "reason": "Camera image is black: is the lens covered?"}
    return json.dumps({"schema": 1, "room": room, "state": "ready" if ready else "not_ready", "ready": ready,
                       "checks": checks, "start_at": None, "seconds_to_start": None,
                       "attendance": {"in_person": 0, "virtual": 0, "quorate": False}, "checked_at": now,
                       "version": "0.1.0"}).encode()


def test_load_fleet_once_lists_500_retained_rooms(tmp_path):
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    rooms = [f"room-{n:03d}" for n in range(500)]
    offline, not_ready = set(rooms[10:17]), set(rooms[100:111])
    with Broker(tmp_path / "broker") as broker:
        publisher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="fleet-load")
        publisher.max_inflight_messages_set(200)
        publisher.connect(broker.host, broker.port)
        publisher.loop_start()
        try:
            began = time.monotonic()
            infos = []
            for room in rooms:
                infos.append(publisher.publish(f"kiosk/{room}/state", _state(room, room not in not_ready), qos=1,
                                               retain=True))
                infos.append(publisher.publish(f"kiosk/{room}/availability",
                                               "offline" if room in offline else "online", qos=1, retain=True))
            for info in infos:
                info.wait_for_publish(10)
            published = time.monotonic() - began
        finally:
            publisher.disconnect()
            publisher.loop_stop()

        began = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "kiosk", "fleet", "--broker", f"{broker.host}:{broker.port}",
                               "--once"], cwd=ROOT, capture_output=True, text=True, timeout=30)
        took = time.monotonic() - began
    print(f"\n1000 retained messages published in {published:.2f} s; kiosk fleet --once took {took:.2f} s")
    assert done.returncode == 1, done.stderr  # some rooms offline or not ready
    lines = done.stdout.splitlines()
    assert lines[0].endswith("500 rooms: 493 online, 7 offline, 11 not ready"), lines[0]
    assert lines[1].split()[:2] == ["ROOM", "LINK"]
    rows = [line.split() for line in lines[2:]]
    assert sorted(r[0] for r in rows) == rooms  # every room, once
    # Problems first: the offline rooms, then those not ready, then the rest; each as it is.
    assert {r[0] for r in rows[:7]} == offline and all(r[1] == "OFFLINE" for r in rows[:7])
    assert {r[0] for r in rows[7:18]} == not_ready and all(r[1:4] == ["online", "not_ready", "NO"] for r in rows[7:18])
    assert all("camera fail: Camera image is black" in line for line in lines[9:20])
    assert all(r[1:4] == ["online", "ready", "yes"] for r in rows[18:])
    assert took < 10.0
