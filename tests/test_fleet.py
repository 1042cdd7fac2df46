"""``kiosk fleet``: the model, the table, and the command against a real broker."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from mqtt_broker import free_port

from kiosk import fleet
from kiosk.fleet import Fleet, Row

ROOT = Path(__file__).resolve().parent.parent
T0 = 1_800_000_000.0  # an arbitrary wall-clock time


def state(room, state="ready", ready=True, checks=None, start_at=None, seconds_to_start=None):
    return json.dumps({
        "schema": 1, "room": room, "state": state, "ready": ready,
        "checks": checks if checks is not None else {"camera": {"status": "pass", "reason": "Camera OK"}},
        "start_at": start_at, "seconds_to_start": seconds_to_start,
        "attendance": {"in_person": 0, "virtual": 0, "quorate": False},
        "checked_at": "2027-01-15T08:00:00+00:00", "version": "0.1.0",
    })


BROKEN_CAMERA = {"camera": {"status": "fail", "reason": "Camera image is black: is the lens cover on?"},
                 "clock": {"status": "pass", "reason": "Clock synchronised"},
                 "network": {"status": "warn", "reason": "Video service slow (not required)"}}


# -- the model --------------------------------------------------------------------------------------

def test_fleet_update_and_rows():
    f = Fleet()
    assert f.update("kiosk/suite-1/availability", b"online", now=T0) == "suite-1"
    assert f.update("kiosk/suite-1/state", state("suite-1").encode(), now=T0) == "suite-1"
    assert f.update("kiosk/suite-2/state", state("suite-2", "not_ready", False, BROKEN_CAMERA), now=T0) == "suite-2"
    f.update("kiosk/suite-2/availability", "online", now=T0)
    f.update("kiosk/suite-3/availability", "offline", now=T0 - 100)
    rows = f.rows(now=T0 + 5)
    assert [r.room for r in rows] == ["suite-3", "suite-2", "suite-1"]  # offline, not ready, fine
    offline, broken, fine = rows
    assert offline == Row("suite-3", False, None, None, (), None, 105.0)
    assert broken.online is True and broken.state == "not_ready" and broken.ready is False
    assert broken.failing == (("camera", "fail", "Camera image is black: is the lens cover on?"),
                              ("network", "warn", "Video service slow (not required)"))
    assert fine == Row("suite-1", True, "ready", True, (), None, 5.0)
    assert [r.room for r in f.rows(now=T0, problems_first=False)] == ["suite-1", "suite-2", "suite-3"]


def test_fleet_seconds_to_start_counts_down_from_start_at():
    f = Fleet()
    f.update("kiosk/r/state", state("r", "countdown", start_at="2027-01-15T09:00:00+00:00",
                                    seconds_to_start=3600), now=T0)
    start = datetime.fromisoformat("2027-01-15T09:00:00+00:00").timestamp()  # not from seconds_to_start
    assert f.rows(now=start - 90.5)[0].seconds_to_start == 91
    assert f.rows(now=start + 30)[0].seconds_to_start == -30


def test_fleet_last_seen_from_retained_messages_is_the_last_check():
    f = Fleet()
    checked = datetime.fromisoformat("2027-01-15T08:00:00+00:00").timestamp()
    f.update("kiosk/r/availability", "offline", now=checked + 7200, retained=True)
    assert f.rows(now=checked + 7200)[0].last_seen_s is None  # nothing says when
    f.update("kiosk/r/state", state("r"), now=checked + 7200, retained=True)  # checked_at 08:00
    assert f.rows(now=checked + 7200)[0].last_seen_s == 7200
    f.update("kiosk/r/state", state("r"), now=checked + 7300)  # live
    assert f.rows(now=checked + 7310)[0].last_seen_s == 10


def test_fleet_seconds_to_start_without_start_at_ages():
    f = Fleet()
    f.update("kiosk/r/state", state("r", seconds_to_start=100), now=T0)
    assert f.rows(now=T0 + 10)[0].seconds_to_start == 90


@pytest.mark.parametrize("topic, payload", [
    ("kiosk/suite-1/state", b"{not json"),
    ("kiosk/suite-1/state", b"[]"),
    ("kiosk/suite-1/state", b'{"ready": true}'),
    ("kiosk/suite-1/state", b"\xff"),
    ("kiosk/suite-1/availability", b"maybe"),
    ("kiosk/suite-1/event", b"{}"),
    ("kiosk/suite 1/state", state("x").encode()),
    ("other/suite-1/state", state("x").encode()),
    ("kiosk/suite-1", b"online"),
])
def test_fleet_ignores_what_it_does_not_understand(topic, payload):
    f = Fleet()
    assert f.update(topic, payload, now=T0) is None
    assert f.ignored == 1 and f.rows(now=T0) == []


def test_fleet_forgets_a_room_whose_retained_messages_are_cleared():
    f = Fleet()
    f.update("kiosk/old/availability", "offline", now=T0)
    f.update("kiosk/old/state", state("old"), now=T0)
    f.update("kiosk/old/state", b"", now=T0)
    assert f.rows(now=T0)[0].state is None
    f.update("kiosk/old/availability", b"", now=T0)
    assert f.rows(now=T0) == []


def test_fleet_prefix_with_levels():
    f = Fleet("site-a/kiosk")
    assert f.update("site-a/kiosk/r1/state", state("r1"), now=T0) == "r1"
    assert f.update("kiosk/r1/state", state("r1"), now=T0) is None


def test_fleet_model_500_rooms_is_cheap():
    f = Fleet()
    payloads = [state(f"room-{i:03d}").encode() for i in range(500)]
    started = time.perf_counter()
    for second in range(10):
        for i, payload in enumerate(payloads):
            f.update(f"kiosk/room-{i:03d}/state", payload, now=T0 + second)
        fleet.render(f.rows(now=T0 + second))
    assert time.perf_counter() - started < 2.0  # 5,000 messages and 10 tables; ~0.1 s here
    assert len(f.rows()) == 500 and f.updates == 5000


# -- the table --------------------------------------------------------------------------------------

def rows_for_table():
    f = Fleet()
    f.update("kiosk/suite-1/availability", "online", now=T0)
    f.update("kiosk/suite-1/state", state("suite-1", "countdown", start_at="2027-01-15T09:00:00+00:00"), now=T0)
    f.update("kiosk/suite-2/availability", "online", now=T0)
    f.update("kiosk/suite-2/state", state("suite-2", "not_ready", False, BROKEN_CAMERA), now=T0)
    f.update("kiosk/suite-3/availability", "offline", now=T0)
    f.update("kiosk/suite-3/state", state("suite-3"), now=T0)
    return f.rows(now=datetime.fromisoformat("2027-01-15T08:55:00+00:00").timestamp())


def test_fleet_render_plain():
    text = fleet.render(rows_for_table(), title="kiosk/ on test")
    lines = text.splitlines()
    assert lines[0] == "kiosk/ on test  3 rooms: 2 online, 1 offline, 1 not ready"
    assert lines[1].split() == ["ROOM", "LINK", "STATE", "READY", "STARTS", "IN", "LAST", "SEEN", "NOT", "PASSING"]
    assert lines[2].split()[:4] == ["suite-3", "OFFLINE", "ready", "yes"]
    assert lines[3].split()[:4] == ["suite-2", "online", "not_ready", "NO"]
    assert "camera fail: Camera image is black: is the lens cover on?; network warn: Video service slow" in lines[3]
    assert lines[4].split()[:5] == ["suite-1", "online", "countdown", "yes", "05:00"]
    assert "\x1b[" not in text


def test_fleet_render_colour_and_width():
    text = fleet.render(rows_for_table(), colour=True, width=40)
    lines = text.splitlines()
    assert lines[2].startswith("\x1b[1m\x1b[31msuite-3") and lines[2].endswith("\x1b[0m")  # offline: red
    assert lines[3].startswith("\x1b[33msuite-2")  # not ready: yellow
    assert "\x1b[" not in lines[4]
    assert all(len(line.replace("\x1b[1m", "").replace("\x1b[31m", "").replace("\x1b[33m", "")
                   .replace("\x1b[0m", "")) <= 40 for line in lines[1:])


def test_fleet_render_empty():
    assert "(no rooms yet)" in fleet.render([])


@pytest.mark.parametrize("text, expected", [
    ("broker", ("broker", 1883)),
    ("broker.local:8883", ("broker.local", 8883)),
    ("10.0.0.5:1884", ("10.0.0.5", 1884)),
    ("[::1]:1883", ("::1", 1883)),
    ("[fd00::5]", ("fd00::5", 1883)),
])
def test_fleet_parse_broker(text, expected):
    assert fleet.parse_broker(text) == expected


@pytest.mark.parametrize("text", ["", ":1883", "host:", "host:port", "host:0", "host:70000", "[::1", "[::1]x"])
def test_fleet_parse_broker_rejects(text):
    with pytest.raises(ValueError):
        fleet.parse_broker(text)


# -- the command against a real broker --------------------------------------------------------------

def publish_rooms(broker, rooms):
    """Publish retained availability and state for each (room, online, state payload)."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        infos = []
        for room, online, payload in rooms:
            infos.append(client.publish(f"kiosk/{room}/availability", "online" if online else "offline", 1, True))
            infos.append(client.publish(f"kiosk/{room}/state", payload, 1, True))
        for info in infos:
            info.wait_for_publish(3)
    finally:
        client.disconnect()
        client.loop_stop()


def run_fleet(*args):
    return subprocess.run([sys.executable, "-m", "kiosk", "fleet", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=20)


def test_fleet_once_shows_every_room(broker):
    publish_rooms(broker, [
        ("suite-1", True, state("suite-1")),
        ("suite-2", True, state("suite-2", "not_ready", False, BROKEN_CAMERA)),
        ("annexe", False, state("annexe", "idle", False, {})),
    ])
    started = time.monotonic()
    result = run_fleet("--once", "--broker", f"{broker.host}:{broker.port}")
    assert time.monotonic() - started < 5
    assert result.returncode == 1, result.stderr  # a room is offline
    lines = result.stdout.splitlines()
    assert lines[0].endswith("3 rooms: 2 online, 1 offline, 1 not ready")
    assert [line.split()[:4] for line in lines[2:]] == [
        ["annexe", "OFFLINE", "idle", "NO"],
        ["suite-2", "online", "not_ready", "NO"],
        ["suite-1", "online", "ready", "yes"],
    ]
    assert "camera fail: Camera image is black: is the lens cover on?" in lines[3]
    assert "\x1b[" not in result.stdout  # not a terminal: no colour
    assert result.stderr == ""


def test_fleet_once_all_ready_exits_0(broker):
    publish_rooms(broker, [(f"room-{i}", True, state(f"room-{i}")) for i in range(3)])
    result = run_fleet("--once", "--broker", f"{broker.host}:{broker.port}")
    assert result.returncode == 0, result.stderr
    assert "3 rooms: 3 online, 0 offline, 0 not ready" in result.stdout


def test_fleet_once_broker_unreachable_exits_3():
    result = run_fleet("--once", "--broker", f"127.0.0.1:{free_port()}")
    assert result.returncode == 3
    assert "not reachable (connection refused)" in result.stderr


def test_fleet_once_colours_offline_rooms_on_a_terminal(broker, monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    publish_rooms(broker, [("suite-1", True, state("suite-1")), ("annexe", False, state("annexe"))])
    out = Terminal()
    assert fleet.run(f"{broker.host}:{broker.port}", once=True, out=out) == 1
    lines = out.getvalue().splitlines()
    assert lines[2].startswith("\x1b[1m\x1b[31mannexe")
    assert "\x1b[" not in lines[3]


def test_fleet_reads_a_real_kiosk(cfg, broker):
    """The view is built from what MqttLink publishes, not from test fixtures only."""
    from kiosk.controller import RoomController
    from kiosk.factory import build_hardware
    from kiosk.mqtt.link import MqttLink

    cfg = cfg.replace("mqtt", host=broker.host, port=broker.port).replace("microphone", capture_s=0.2)
    controller = RoomController(cfg, build_hardware(cfg, simulate=True)).start(initial_check=False)
    link = MqttLink(cfg, controller)
    f = Fleet()
    client = fleet.FleetClient(f, broker.host, broker.port)
    try:
        controller.hardware.camera.fault = "covered"
        link.start()
        controller.press()
        client.start()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            rows = client.rows()
            if rows and rows[0].state == "not_ready":
                break
            time.sleep(0.02)
        row = client.rows()[0]
        assert (row.room, row.online, row.state, row.ready) == ("suite-1", True, "not_ready", False)
        assert row.failing[0][:2] == ("camera", "fail")
        link.stop()
        deadline = time.monotonic() + 3
        while client.rows()[0].online is not False and time.monotonic() < deadline:
            time.sleep(0.02)
        assert client.rows()[0].online is False
    finally:
        client.stop()
        link.stop()
        controller.stop()
