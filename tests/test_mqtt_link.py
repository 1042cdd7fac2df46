"""The MQTT link against a real mosquitto: retained state, will, reconnection, TLS + ACL, requests, privacy."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import paho.mqtt.client as mqtt
import pytest
from mqtt_broker import Broker, Subscriber, free_port, make_pki

from kiosk.controller import RoomController
from kiosk.events import ChecksFinished
from kiosk.factory import build_hardware
from kiosk.mqtt import link as link_module
from kiosk.mqtt.link import MqttLink
from waiting import wait_for

ROOT = Path(__file__).resolve().parent.parent
STATE_KEYS = {"schema", "room", "state", "ready", "checks", "start_at", "seconds_to_start", "attendance",
              "checked_at", "version", "calendar"}
LONDON = ZoneInfo("Europe/London")


#: Quick check cycles (the simulated microphone records in real time).
FAST_CHECKS = {"microphone": {"capture_s": 0.2}, "camera": {"frames": 2, "frame_interval_s": 0.02}}


def room_config(cfg, broker=None, sections=None, **mqtt_settings):
    settings = {"reconnect_min_s": 0.1, "reconnect_max_s": 1.0}
    if broker is not None:
        settings.update(host=broker.host, port=broker.port)
    settings.update(mqtt_settings)
    cfg = cfg.replace("mqtt", **settings)
    for section, values in {**FAST_CHECKS, **(sections or {})}.items():
        cfg = cfg.replace(section, **values)
    return cfg


class Room:
    """A controller on simulated hardware with its MQTT link (the controller's loops run unless ``run=False``)."""

    def __init__(self, cfg, now=None, model="test bench", run=True):
        self.cfg = cfg
        self.controller = RoomController(cfg, build_hardware(cfg, simulate=True), now=now)
        if run:
            self.controller.start(initial_check=False)
        self.link = MqttLink(cfg, self.controller, model=model)
        self.started = None

    def start(self):
        self.started = self.link.start()
        return self

    def close(self):
        self.link.stop()
        self.controller.stop()


@pytest.fixture
def make_room(cfg):
    rooms = []

    def make(broker=None, *, start=True, now=None, sections=None, run=True, **mqtt_settings):
        room = Room(room_config(cfg, broker, sections, **mqtt_settings), now=now, run=run)
        rooms.append(room)
        return room.start() if start else room

    yield make
    for room in rooms:
        room.close()


def state_of(sub, room="suite-1", pred=lambda s: True, start=0, timeout=5.0):
    msg = sub.wait_for(lambda t, p: t == f"kiosk/{room}/state" and pred(json.loads(p)), timeout, start)
    return json.loads(msg[1]) if msg else None


def request(sub, action, payload, room="suite-1", timeout=3.0):
    """Publish a request and return the decoded reply (None when none came)."""
    start = len(sub.messages)
    sub.client.publish(f"kiosk/{room}/request/{action}", payload, qos=1)
    msg = sub.wait_for(lambda t, p: t == f"kiosk/{room}/response/{action}", timeout, start)
    return json.loads(msg[1]) if msg else None


# -- retained state, checks, events ------------------------------------------------------------

def test_link_retained_state_seen_by_late_subscriber(broker, make_room):
    room = make_room(broker)
    early = Subscriber(broker, "kiosk/#")
    room.controller.press()
    assert state_of(early, pred=lambda s: s["state"] == "ready") is not None
    assert early.wait_for(lambda t, p: t == "kiosk/suite-1/checks/network") is not None
    early.close()

    late = Subscriber(broker, "kiosk/#")
    assert late.wait_for(lambda t, p: t == "kiosk/suite-1/checks/network") is not None
    retained = {t: p for t, p, r, _ in late.messages if r}
    assert retained["kiosk/suite-1/availability"] == b"online"
    state = json.loads(retained["kiosk/suite-1/state"])
    assert set(state) == STATE_KEYS
    assert state["schema"] == 1 and state["room"] == "suite-1"
    assert state["state"] == "ready" and state["ready"] is True
    assert set(state["checks"]) == {"camera", "microphone", "display", "clock", "network"}
    assert set(state["checks"]["camera"]) == {"status", "reason"}
    assert state["attendance"] == {"in_person": 0, "virtual": 0, "quorate": False}
    assert state["checked_at"] and state["version"]
    camera = json.loads(retained["kiosk/suite-1/checks/camera"])
    assert camera["status"] == "pass" and camera["reason"]
    assert camera["metrics"]["width"] == 1280 and camera["checked_at"] == state["checked_at"]
    assert not [t for t, p, r, _ in late.messages if t == "kiosk/suite-1/event"]  # events are not retained
    late.close()


def test_link_events_pair_ready_lost_and_regained(broker, make_room):
    room = make_room(broker)
    c = room.controller
    sub = Subscriber(broker, "kiosk/suite-1/event")

    def event(name, start=0):
        msg = sub.wait_for(lambda t, p: json.loads(p)["event"] == name, 5, start)
        assert msg is not None, f"no {name} event"
        return json.loads(msg[1])

    c.press()
    assert event("button_pressed")["at"].endswith("+00:00")
    assert event("check_started")["trigger"] == "button"
    assert event("check_finished")["ready"] is True
    assert event("state_changed")["new"] == "checking"

    c.hardware.camera.fault = "covered"
    c.request_check("test")
    lost = event("ready_lost")
    assert lost["alert"] is True and lost["failing"] == ["camera"] and lost["alert_id"]
    c.hardware.camera.fault = "none"
    mark = len(sub.messages)
    c.request_check("test")
    regained = event("ready_regained", mark)
    assert regained["recovery"] is True and regained["alert_id"] == lost["alert_id"]
    assert regained["down_s"] >= 0

    assert wait_for(lambda: c.machine.state.value == "ready")
    c.set_start(datetime.now(LONDON) + timedelta(minutes=30), "chair")
    c.press()
    assert event("countdown_started")["start_at"]
    c.set_start(None, "chair")  # no start time left: the countdown gives way to the session
    event("session_started")
    c.press()
    event("session_ended")
    c.hold()
    event("button_held")
    c.identify(2)
    assert event("identify")["seconds"] == 2
    sub.close()


def test_link_heartbeat_republishes_unchanged_state(broker, make_room):
    room = make_room(broker, heartbeat_s=1.0)
    sub = Subscriber(broker, "kiosk/suite-1/state")
    assert sub.wait_for(lambda t, p: True) is not None
    first = time.monotonic()
    assert wait_for(lambda: len(sub.payloads("kiosk/suite-1/state")) >= 2, timeout=2.5)
    assert time.monotonic() - first >= 0.8  # the next one came from the heartbeat, not a change
    assert room.link.connected


def test_link_bus_subscriber_never_blocks_the_controller(broker, make_room, monkeypatch):
    room = make_room(broker)
    sub = Subscriber(broker, "kiosk/suite-1/state")
    assert sub.wait_for(lambda t, p: True) is not None
    published = []
    real = room.link.publish_state

    def slow_publish():  # a broker on a congested link
        time.sleep(0.5)
        published.append(time.monotonic())
        real()

    monkeypatch.setattr(room.link, "publish_state", slow_publish)
    started = time.monotonic()
    for _ in range(20):
        room.controller.set_attendance(1, 2, False)
        room.controller.set_attendance(2, 2, True)
    assert time.monotonic() - started < 0.2  # 40 state changes, none waited for the network
    final = state_of(sub, pred=lambda s: s["attendance"]["in_person"] == 2, timeout=3)
    assert final["attendance"] == {"in_person": 2, "virtual": 2, "quorate": True}
    assert 1 <= len(published) <= 2  # coalesced: not one publish per change


# -- availability, will, reconnection -------------------------------------------------------------

def test_link_clean_stop_publishes_offline(broker, make_room):
    room = make_room(broker)
    sub = Subscriber(broker, "kiosk/suite-1/availability")
    assert sub.wait_for(lambda t, p: p == b"online") is not None
    room.link.stop()
    assert sub.wait_for(lambda t, p: p == b"offline", timeout=3) is not None
    assert not room.link.connected
    late = Subscriber(broker, "kiosk/suite-1/availability")
    assert late.wait_for(lambda t, p: True)[1] == b"offline"  # retained
    room.link.stop()  # twice is fine


def test_link_will_published_when_kiosk_process_is_killed(broker, tmp_path):
    config = tmp_path / "kiosk.toml"
    config.write_text(f"""
[room]
id = "killed-room"
name = "Test Room"

[web]
host = "127.0.0.1"
port = 0

[checks]
interval_s = 0

[mqtt]
host = "{broker.host}"
port = {broker.port}
""")
    sub = Subscriber(broker, "kiosk/killed-room/#")
    env = dict(os.environ, GPIOZERO_PIN_FACTORY="mock")
    proc = subprocess.Popen([sys.executable, "-m", "kiosk", "run", "--simulate", "--config", str(config)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        online = sub.wait_for(lambda t, p: t == "kiosk/killed-room/availability" and p == b"online", timeout=20)
        assert online is not None, proc.stderr.read1().decode(errors="replace") if proc.poll() is not None else ""
        assert state_of(sub, "killed-room") is not None
        time.sleep(0.3)  # the rest of `kiosk run` (web server) starts after MQTT: it must be running, not crashed
        assert proc.poll() is None, proc.stderr.read().decode(errors="replace")[-2000:]
        mark = len(sub.messages)
        killed_at = time.monotonic()
        os.kill(proc.pid, signal.SIGKILL)
        offline = sub.wait_for(lambda t, p: t == "kiosk/killed-room/availability" and p == b"offline", 5, mark)
        assert offline is not None
        assert offline[3] - killed_at < 1.0  # the socket closed: the will goes at once, not after keepalive
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stderr.close()
    late = Subscriber(broker, "kiosk/killed-room/availability")
    assert late.wait_for(lambda t, p: True)[1] == b"offline"  # the will is retained


def test_link_broker_restart_republishes_and_commands_work_again(broker, make_room):
    room = make_room(broker)
    room.controller.set_attendance(3, 4, True)
    sub = Subscriber(broker, "kiosk/#")
    assert state_of(sub, pred=lambda s: s["attendance"]["in_person"] == 3) is not None
    sub.close()

    broker.stop()
    assert wait_for(lambda: not room.link.connected, timeout=3)
    room.controller.set_attendance(5, 1, False)  # changes while the broker is away are not lost
    broker.start()  # same port, no persistence: every retained message is gone
    back = time.monotonic()
    assert wait_for(lambda: room.link.connected, timeout=3)
    sub = Subscriber(broker, "kiosk/#")
    state = state_of(sub, pred=lambda s: True)
    assert state is not None and state["attendance"] == {"in_person": 5, "virtual": 1, "quorate": False}
    assert time.monotonic() - back < 2.0
    assert sub.wait_for(lambda t, p: t == "kiosk/suite-1/availability" and p == b"online") is not None
    reply = request(sub, "state", json.dumps({"transaction": "after-restart"}))
    assert reply["status"] == "ok" and reply["transaction"] == "after-restart"
    assert room.link.connections == 2


def test_link_broker_unreachable_at_start_is_a_log_line(cfg, make_room, caplog, tmp_path):
    port = free_port()
    caplog.set_level(logging.DEBUG, logger="kiosk.mqtt")
    room = make_room(None, host="127.0.0.1", port=port)
    assert room.started is True
    assert wait_for(lambda: "not reachable (connection refused)" in caplog.text, timeout=3)
    room.controller.press()  # the kiosk works without the broker
    assert wait_for(lambda: room.controller.machine.state.value == "ready")

    def attempts(level):
        return [r for r in caplog.records if "not reachable" in r.getMessage() and r.levelno == level]

    # Several more attempts fail (each noted at debug level)...
    assert wait_for(lambda: len(attempts(logging.DEBUG)) >= 2, timeout=5), caplog.text
    # ...and the problem was logged once, not once per attempt.
    assert len(attempts(logging.WARNING)) == 1

    with Broker(tmp_path / "late", port=port) as late:  # IT's broker comes up later
        sub = Subscriber(late, "kiosk/#")
        state = state_of(sub, timeout=3)
        assert state is not None and state["state"] == "ready"
        sub.close()
        room.link.stop()


@pytest.mark.parametrize("settings, message", [
    ({"enabled": False}, "MQTT is off"),
    ({"host": ""}, "broker not configured"),
    ({"password_file": "/nonexistent/kiosk-password", "username": "suite-1"}, "cannot read [mqtt] password_file"),
    ({"tls_ca": "/nonexistent/ca.crt"}, "[mqtt] tls_ca '/nonexistent/ca.crt' does not exist"),
])
def test_link_not_started_without_usable_settings(make_room, caplog, settings, message):
    caplog.set_level(logging.INFO, logger="kiosk.mqtt")
    room = make_room(None, run=False, **settings)
    assert room.started is False and not room.link.running
    assert message in caplog.text
    room.link.stop()  # harmless


def test_link_unparseable_ca_file_is_a_log_line(make_room, caplog, tmp_path):
    ca = tmp_path / "ca.crt"
    ca.write_text("not a certificate\n")
    room = make_room(None, run=False, tls_ca=str(ca))
    assert room.started is False
    assert "TLS files not usable" in caplog.text


# -- TLS, passwords and the ACL ---------------------------------------------------------------------

USERS = {"suite-1": "pw-suite-1", "suite-2": "pw-suite-2", "it-monitor": "pw-it", "homeassistant": "pw-ha"}


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"), expired=True, other_ca=True, wrong_name=True)


@pytest.fixture
def secure_broker(tmp_path, pki):
    acl = (ROOT / "firmware_config" / "mosquitto" / "acl").read_text()
    with Broker(tmp_path / "secure", tls=pki, users=USERS, acl=acl) as b:
        yield b


def test_link_tls_password_and_acl(secure_broker, make_room, pki, tmp_path):
    password = tmp_path / "mqtt-password"
    password.write_text("pw-suite-1\n")
    make_room(secure_broker, host="localhost", username="suite-1", password_file=str(password),
               tls_ca=str(pki.ca))
    it = Subscriber(secure_broker, "kiosk/#", "homeassistant/#", username="it-monitor", password="pw-it",
                    tls_ca=pki.ca)
    assert state_of(it) is not None
    assert it.wait_for(lambda t, p: t == "kiosk/suite-1/availability" and p == b"online") is not None
    assert it.wait_for(lambda t, p: t.startswith("homeassistant/"), timeout=0.3) is None  # IT can't read HA
    # IT may send requests; the kiosk answers them.
    reply = request(it, "recheck", json.dumps({"transaction": 1}))
    assert reply == {"status": "ok", "data": {"queued": True}, "error": None, "transaction": 1}

    # The same credentials cannot write another room's topics, nor forge requests. Under MQTT 3.1.1 mosquitto
    # acknowledges a denied publish, drops it (and 2.0.11 then closes the connection): a fresh client each time.
    def publish_as_suite_1(topic, payload):
        rogue = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="rogue")
        rogue.username_pw_set("suite-1", "pw-suite-1")
        rogue.tls_set(ca_certs=str(pki.ca))
        rogue.reconnect_delay_set(0.05, 0.1)
        rogue.connect("localhost", secure_broker.port)
        rogue.loop_start()
        try:
            assert wait_for(rogue.is_connected, 3)
            rogue.publish(topic, payload, qos=1).wait_for_publish(2)
        finally:
            rogue.disconnect()
            rogue.loop_stop()

    for topic in ("kiosk/suite-2/state", "kiosk/suite-2/availability", "kiosk/suite-1/request/recheck",
                  "kiosk/suite-2/request/recheck", "homeassistant/binary_sensor/suite-2/ready/config"):
        publish_as_suite_1(topic, "spoofed")
    publish_as_suite_1("kiosk/suite-1/event", "allowed-marker")
    assert it.wait_for(lambda t, p: p == b"allowed-marker") is not None
    time.sleep(0.1)
    assert not [t for t, p, *_ in it.messages if p == b"spoofed"]


def test_link_acl_confines_what_a_kiosk_login_can_read(secure_broker, make_room, pki):
    """A kiosk's credentials read only the requests addressed to it (and Home Assistant's status): not
    another room's state, checks, events, requests or replies, nor discovery."""
    make_room(secure_broker, host="localhost", username="suite-2", password="pw-suite-2", tls_ca=str(pki.ca),
              sections={"room": {"id": "suite-2"}})
    it = Subscriber(secure_broker, "kiosk/#", username="it-monitor", password="pw-it", tls_ca=pki.ca)
    nosy = Subscriber(secure_broker, "#", "kiosk/suite-1/request/+", username="suite-1", password="pw-suite-1",
                      tls_ca=pki.ca, client_id="nosy-suite-1")
    assert state_of(it, "suite-2") is not None
    for room in ("suite-2", "suite-1"):  # a request to each room; suite-2 answers its own
        it.client.publish(f"kiosk/{room}/request/state", json.dumps({"transaction": room}), qos=1).wait_for_publish(2)
    assert it.wait_for(lambda t, p: t == "kiosk/suite-2/response/state") is not None
    assert nosy.wait_for(lambda t, p: t == "kiosk/suite-1/request/state") is not None  # its own: allowed
    time.sleep(0.2)
    assert {t for t, *_ in nosy.messages} == {"kiosk/suite-1/request/state"}


def test_fleet_view_over_tls_with_the_it_login(secure_broker, make_room, pki):
    import io

    from kiosk import fleet

    room = make_room(secure_broker, host="localhost", username="suite-1", password="pw-suite-1", tls_ca=str(pki.ca))
    assert wait_for(lambda: room.link.connected, 3)
    out = io.StringIO()
    code = fleet.run(f"localhost:{secure_broker.port}", once=True, username="it-monitor", password="pw-it",
                     tls_ca=str(pki.ca), out=out)
    assert out.getvalue().splitlines()[2].split()[:3] == ["suite-1", "online", "idle"]
    assert code == 1  # idle: not ready yet
    assert fleet.run(f"localhost:{secure_broker.port}", once=True, username="it-monitor", password="wrong",
                     tls_ca=str(pki.ca), out=io.StringIO()) == fleet.EXIT_UNREACHABLE


def test_link_acl_denying_a_topic_does_not_make_it_spin(tmp_path, make_room, caplog):
    """An ACL without the Home Assistant lines: mosquitto drops the kiosk at its first discovery message."""
    acl = "\n".join(line for line in (ROOT / "firmware_config" / "mosquitto" / "acl").read_text().splitlines()
                    if "homeassistant" not in line)
    with Broker(tmp_path / "strict", users={"suite-1": "pw"}, acl=acl) as strict:
        room = make_room(strict, username="suite-1", password="pw")  # reconnect_max_s = 1
        assert wait_for(lambda: "does the broker's ACL deny" in caplog.text, 5)
        assert "set [mqtt] discovery = false" in caplog.text
        seen = room.link.connections
        time.sleep(1.2)
        assert room.link.connections <= seen + 2  # not every 0.1 s
        assert caplog.text.count("does the broker's ACL deny") == 1


def test_link_wrong_password_is_a_clear_log_line(secure_broker, make_room, pki, caplog):
    room = make_room(secure_broker, host="localhost", username="suite-1", password="wrong", tls_ca=str(pki.ca))
    assert wait_for(lambda: "refused the connection" in caplog.text, timeout=3)
    assert "check [mqtt] username" in caplog.text
    assert "wrong" not in caplog.text  # never the password
    assert not room.link.connected


def test_link_tls_wrong_ca_is_a_clear_log_line(secure_broker, make_room, pki, caplog):
    room = make_room(secure_broker, host="localhost", username="suite-1", password="pw-suite-1",
                     tls_ca=str(pki.other_ca))
    assert wait_for(lambda: "TLS certificate not accepted" in caplog.text, timeout=3)
    assert "certificate verify failed" in caplog.text or "certificate in certificate chain" in caplog.text
    assert [r.levelno for r in caplog.records if "TLS" in r.getMessage()] == [logging.ERROR]
    room.controller.press()
    assert wait_for(lambda: room.controller.machine.state.value == "ready")


def test_link_tls_expired_certificate_is_a_clear_log_line(tmp_path, make_room, pki, caplog):
    with Broker(tmp_path / "expired", tls=pki, server_cert=pki.expired_cert) as expired:
        room = make_room(expired, host="localhost", tls_ca=str(pki.ca))
        assert wait_for(lambda: "certificate has expired" in caplog.text, timeout=3)
        assert not room.link.connected


def test_link_tls_host_name_mismatch_is_a_clear_log_line(tmp_path, make_room, pki, caplog):
    with Broker(tmp_path / "other-name", tls=pki, server_cert=pki.wrong_name_cert) as other:
        room = make_room(other, host="localhost", tls_ca=str(pki.ca))
        assert wait_for(lambda: "TLS certificate not accepted" in caplog.text, timeout=3)
        assert "Hostname mismatch" in caplog.text
        assert not room.link.connected


# -- requests and responses -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def shared_room(tmp_path_factory):
    """One broker and room for the request tests (each test starts with a fresh subscriber)."""
    from kiosk.config import Config

    with Broker(tmp_path_factory.mktemp("requests")) as b:
        room = Room(room_config(Config().replace("checks", interval_s=0), b)).start()
        try:
            yield b, room
        finally:
            room.close()


@pytest.fixture
def answering(shared_room):
    b, room = shared_room
    sub = Subscriber(b, "kiosk/suite-1/response/+", "kiosk/suite-1/event")
    assert wait_for(lambda: room.link.connected)
    yield room, sub
    sub.close()


def test_link_request_recheck(answering):
    room, sub = answering
    reply = request(sub, "recheck", json.dumps({"transaction": "abc-1"}))
    assert reply == {"status": "ok", "data": {"queued": True}, "error": None, "transaction": "abc-1"}
    started = sub.wait_for(lambda t, p: t.endswith("/event") and json.loads(p)["event"] == "check_started")
    assert json.loads(started[1])["trigger"] == "mqtt"


def test_link_request_identify(answering):
    room, sub = answering
    reply = request(sub, "identify", json.dumps({"seconds": 5, "transaction": 42}))
    assert reply == {"status": "ok", "data": {"seconds": 5}, "error": None, "transaction": 42}
    assert room.controller.light_pattern() == "identify"
    reply = request(sub, "identify", b"")  # empty payload: the default
    assert reply["status"] == "ok" and reply["data"] == {"seconds": 10.0} and reply["transaction"] is None


def test_link_request_state(answering):
    room, sub = answering
    room.controller.set_attendance(2, 5, True)
    reply = request(sub, "state", "")
    assert reply["status"] == "ok" and reply["error"] is None
    assert set(reply["data"]) == STATE_KEYS
    assert reply["data"]["attendance"] == {"in_person": 2, "virtual": 5, "quorate": True}


@pytest.mark.parametrize("action, payload, error", [
    ("state", b"{not json", "payload is not valid JSON"),
    ("state", b"\xff\xfe", "payload is not valid JSON"),
    ("state", b"[1, 2]", "payload must be a JSON object"),
    ("state", b'"text"', "payload must be a JSON object"),
    ("reboot", b"{}", "unknown action; known actions: recheck, identify, state"),
    ("state", json.dumps({"transaction": "t", "pad": "x" * 5000}).encode(), "payload too large"),
    ("identify", b'{"seconds": "ten"}', "seconds must be a number from 1 to 300"),
    ("identify", b'{"seconds": 100000}', "seconds must be a number from 1 to 300"),
    ("identify", b'{"seconds": true}', "seconds must be a number from 1 to 300"),
    ("recheck", b'{"force": true}', "unexpected keys in the payload (allowed: transaction)"),
    ("state", b'{"transaction": {"nested": 1}}', "transaction must be a number or a string"),
])
def test_link_request_bad_payloads_get_an_error_reply(answering, action, payload, error):
    room, sub = answering
    reply = request(sub, action, payload)
    assert reply is not None
    assert reply["status"] == "error" and reply["data"] is None
    assert reply["error"].startswith(error)
    assert room.link.connected  # still up and answering
    assert request(sub, "state", b"{}")["status"] == "ok"


def test_link_request_retained_while_connected_is_ignored(answering):
    """A retained request published while the kiosk is connected, and the empty retained message that clears it,
    are ignored like a retained request met at a reconnection: the broker keeps their retain flag
    (MQTT 5 Retain As Published), so clearing a planted request does not flash the light."""
    room, sub = answering
    start = len(sub.messages)
    topic = "kiosk/suite-1/request/identify"
    try:
        sub.client.publish(topic, b'{"seconds": 300}', qos=1, retain=True).wait_for_publish(2)
    finally:
        sub.client.publish(topic, b"", qos=1, retain=True).wait_for_publish(2)  # clears it
    # Answered in order: once this reply is here, the two retained ones were handled before it.
    assert request(sub, "state", json.dumps({"transaction": "after"}))["transaction"] == "after"
    assert [t for t, *_ in sub.messages[start:] if t.endswith("/response/identify")] == []


def test_link_request_error_echoes_transaction(answering):
    room, sub = answering
    reply = request(sub, "reboot", json.dumps({"transaction": "t-9"}))
    assert reply["status"] == "error" and reply["transaction"] == "t-9"


def test_link_request_flood_is_rate_limited(broker, make_room, caplog):
    room = make_room(broker, run=False)
    sub = Subscriber(broker, "kiosk/suite-1/response/+")
    assert wait_for(lambda: room.link.connected)
    caplog.set_level(logging.INFO, logger="kiosk.mqtt")
    start = len(sub.messages)
    began = time.monotonic()
    for i in range(200):
        sub.client.publish("kiosk/suite-1/request/state", json.dumps({"transaction": i}), qos=1)
    time.sleep(0.5)
    elapsed = time.monotonic() - began
    replies = [p for t, p, *_ in sub.messages[start:] if t == "kiosk/suite-1/response/state"]
    assert link_module.REQUEST_BURST <= len(replies) <= link_module.REQUEST_BURST + \
        link_module.REQUEST_RATE * elapsed + 1
    assert "MQTT requests arrive faster than 10 a second: dropped" in caplog.text
    assert len([r for r in caplog.records if "arrive faster" in r.getMessage()]) == 1
    time.sleep(0.3)  # the bucket refills: the room answers again
    assert request(sub, "state", "{}")["status"] == "ok"
    assert room.link.connected


def test_link_ignores_other_rooms_and_malformed_topics(answering, caplog):
    room, sub = answering
    sub.client.publish("kiosk/suite-2/request/state", "{}", qos=1)
    sub.client.publish("kiosk/suite-1/request", "{}", qos=1)
    reply = request(sub, "state", "{}")
    assert reply["status"] == "ok"
    assert not [t for t, *_ in sub.messages if "suite-2" in t]


# -- no personal data ---------------------------------------------------------------------------------

#: Personal data that exists around a conference (names, the child, the family, case details). None of it may
#: ever appear in anything published, wherever it enters the kiosk.
FORBIDDEN = ["Jane Smith", "Smith", "Jayden", "Oakfield Road", "943 476 5919", "jane.smith@example.org",
             "ICPC for", "Dr Patel", "safeguarding concern"]


def test_link_publishes_no_personal_data(cfg, broker, make_room, tmp_path, caplog):
    """Everything the kiosk publishes, on every topic, while personal data flows through every input it has."""
    caplog.set_level(logging.DEBUG)
    now = datetime(2026, 11, 23, 10, 0, tzinfo=LONDON)
    calendar = tmp_path / "room.ics"
    calendar.write_text("\r\n".join([
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//kiosk tests//EN",
        "BEGIN:VEVENT", "UID:icpc-1@test", "DTSTAMP:20260101T000000Z",
        "SUMMARY:ICPC for Jayden Smith (child) - safeguarding concern",
        "DESCRIPTION:Mother Jane Smith\\, 12 Oakfield Road\\, NHS 943 476 5919\\, GP Dr Patel",
        "LOCATION:Jane Smith home visit",
        "ORGANIZER;CN=Jane Smith:mailto:jane.smith@example.org",
        "ATTENDEE;CN=Dr Patel:mailto:jane.smith@example.org",
        "DTSTART;TZID=Europe/London:20261123T140000", "DTEND;TZID=Europe/London:20261123T153000",
        "END:VEVENT", "END:VCALENDAR"]) + "\r\n", encoding="utf-8")

    everything = Subscriber(broker, "#")
    room = make_room(broker, now=lambda: now, sections={"schedule": {"ics": str(calendar)},
                                                        "storage": {"state_dir": str(tmp_path / "state")}})
    c = room.controller
    from kiosk.calendar_watcher import CalendarWatcher

    CalendarWatcher(c.cfg, c.set_bookings, now=lambda: now).poll()  # as the kiosk's watcher thread does
    assert c.start_source() == "calendar"
    c.press()
    assert wait_for(lambda: c.machine.state.value == "ready")
    c.press()  # countdown to the calendar's start
    c.set_attendance(4, 6, True)
    c.set_start(now + timedelta(minutes=5), "chair")
    c.identify(1)
    c.hardware.camera.fault = "covered"
    c.request_check("test")
    assert wait_for(lambda: c.machine.state.value == "not_ready")
    for action in ("state", "recheck", "identify"):
        assert request(everything, action, "{}")["status"] == "ok"
    state = state_of(everything, pred=lambda s: s["attendance"]["in_person"] == 4 and s["state"] == "not_ready")
    assert state["start_at"] == "2026-11-23T10:05:00+00:00"  # the data did flow
    room.link.stop()
    assert everything.wait_for(lambda t, p: p == b"offline", 3) is not None

    published = b"\n".join(t.encode() + b" " + p for t, p, *_ in everything.messages)
    assert len(everything.messages) > 30
    for needle in FORBIDDEN:
        assert needle.encode() not in published, f"{needle!r} was published over MQTT"
        assert needle not in caplog.text, f"{needle!r} was logged"


# -- the example site broker configuration ----------------------------------------------------------

@contextlib.contextmanager
def site_broker(tmp_path, pki, acl_text=None, extra=""):
    """firmware_config/mosquitto/kiosk-site.conf running, with its paths and ports moved into tmp_path and a
    user suite-1 (password "pw"); yields the TLS port (the plain one is ``site_broker.plain``)."""
    from mqtt_broker import port_open

    port, plain = free_port(), free_port()
    site_broker.plain = plain
    passwd = tmp_path / "passwd"
    passwd.write_text("")
    subprocess.run(["mosquitto_passwd", "-b", str(passwd), "suite-1", "pw"], check=True)
    acl = tmp_path / "acl"
    acl.write_text(acl_text if acl_text is not None else (ROOT / "firmware_config" / "mosquitto" / "acl").read_text())
    text = (ROOT / "firmware_config" / "mosquitto" / "kiosk-site.conf").read_text()
    for old, new in (("listener 8883", f"listener {port} 127.0.0.1"), ("listener 1883 127.0.0.1",
                     f"listener {plain} 127.0.0.1"), ("/etc/mosquitto/passwd", str(passwd)),
                     ("/etc/mosquitto/acl", str(acl)), ("/etc/mosquitto/certs/ca.crt", str(pki.ca)),
                     ("/etc/mosquitto/certs/server.crt", str(pki.server_cert)),
                     ("/etc/mosquitto/certs/server.key", str(pki.server_key)), ("persistence true",
                     "persistence false")):
        assert old in text
        text = text.replace(old, new)
    if os.geteuid() == 0:
        text += "user root\n"
    text += extra
    conf = tmp_path / "site.conf"
    conf.write_text(text)
    proc = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert wait_for(lambda: port_open(port) or proc.poll() is not None, 5) and proc.poll() is None, \
            proc.stderr.read().decode()
        yield port
    finally:
        proc.terminate()
        proc.wait(5)
        proc.stderr.close()


def test_example_site_config_runs_with_tls_password_and_acl(tmp_path, pki, make_room):
    """firmware_config/mosquitto/kiosk-site.conf, with its paths and ports moved into tmp_path."""
    with site_broker(tmp_path, pki) as port:
        room = make_room(None, host="localhost", port=port, username="suite-1", password="pw", tls_ca=str(pki.ca))
        assert wait_for(lambda: room.link.connected, 3)
        anonymous = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        anonymous.reconnect_delay_set(0.05, 0.1)
        result = []
        anonymous.on_connect = lambda c, u, f, rc, p: result.append(rc)
        anonymous.connect("127.0.0.1", site_broker.plain)
        anonymous.loop_start()
        assert wait_for(lambda: result, 3) and result[0].is_failure  # allow_anonymous false
        anonymous.disconnect()
        anonymous.loop_stop()
        time.sleep(0.5)
        assert not room.link.refused  # the shipped ACL allows everything the kiosk publishes


def test_example_bridge_forwards_kiosk_topics_out_and_requests_in(tmp_path, make_room):
    """firmware_config/mosquitto/bridge.conf between two local brokers (TLS and login lines left out)."""
    from mqtt_broker import port_open

    with Broker(tmp_path / "central") as central:
        site_port = free_port()
        text = (ROOT / "firmware_config" / "mosquitto" / "bridge.conf").read_text()
        assert "address mqtt-central.example.org:8883" in text
        text = text.replace("address mqtt-central.example.org:8883", f"address 127.0.0.1:{central.port}")
        kept = [line for line in text.splitlines()
                if not line.startswith(("bridge_cafile", "bridge_insecure", "remote_username", "remote_password"))]
        conf = tmp_path / "site.conf"
        conf.write_text(f"listener {site_port} 127.0.0.1\nallow_anonymous true\n"
                        + ("user root\n" if os.geteuid() == 0 else "") + "\n".join(kept) + "\n")
        site = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            assert wait_for(lambda: port_open(site_port) or site.poll() is not None, 5) and site.poll() is None
            it = Subscriber(central, "kiosk/#", "sites/#")
            assert it.wait_for(lambda t, p: t == "sites/site-a/bridge/state" and p == b"1") is not None
            room = make_room(None, host="127.0.0.1", port=site_port)
            assert state_of(it) is not None  # out: the kiosk's state reaches the centre
            reply = request(it, "state", json.dumps({"transaction": "via-bridge"}))  # in, and the reply out
            assert reply["status"] == "ok" and reply["transaction"] == "via-bridge"
            time.sleep(0.2)
            requests = [t for t, *_ in it.messages if t == "kiosk/suite-1/request/state"]
            assert len(requests) == 1  # not looped back
            assert room.link.connected
        finally:
            site.terminate()
            site.wait(5)
            site.stderr.close()


def _rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_link_process_ignores_retained_requests_reasserts_availability_and_huge_requests_leave_memory_flat(tmp_path):
    """Against a real ``kiosk run``: a retained request left on the broker is never acted on; an ``offline``
    planted on the availability topic is overwritten by the next heartbeat; 10 MB and 100 MB requests never reach
    the process (MQTT 5 Maximum Packet Size) and its memory stays flat; the kiosk still answers."""
    from kiosk_process import KioskProcess

    broker = Broker(tmp_path / "broker").start()
    base = "kiosk/suite-1"
    sub = Subscriber(broker, f"{base}/response/#", f"{base}/availability")
    attacker = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    attacker.connect(broker.host, broker.port, 30)
    attacker.loop_start()
    try:
        attacker.publish(f"{base}/request/identify", b'{"seconds": 300}', qos=1, retain=True).wait_for_publish(5)
        with KioskProcess(tmp_path / "kiosk", broker=broker, extra_toml="heartbeat_s = 1.0\n") as kiosk:
            assert sub.wait_for(lambda t, p: t == f"{base}/availability" and p == b"online", 10)
            # A planted offline is overwritten within a heartbeat or two.
            start = len(sub.messages)
            attacker.publish(f"{base}/availability", b"offline", qos=1, retain=True).wait_for_publish(5)
            assert sub.wait_for(lambda t, p: t == f"{base}/availability" and p == b"offline", 5, start)
            assert sub.wait_for(lambda t, p: t == f"{base}/availability" and p == b"online", 5, start + 1)

            before = _rss_bytes(kiosk.proc.pid)
            for size in (10 * 1024 * 1024, 100 * 1024 * 1024):
                payload = b'{"transaction": "' + b"x" * size + b'"}'
                attacker.publish(f"{base}/request/state", payload, qos=1).wait_for_publish(60)
                del payload
            start = len(sub.messages)
            attacker.publish(f"{base}/request/state", b'{"transaction": "after"}', qos=1).wait_for_publish(5)
            answer = sub.wait_for(lambda t, p: t == f"{base}/response/state" and b'"after"' in p, 10, start)
            assert answer and json.loads(answer[1])["status"] == "ok"
            grown = _rss_bytes(kiosk.proc.pid) - before
            assert grown < 5 * 1024 * 1024, grown
            print(f"10 MB + 100 MB MQTT requests: resident memory grew {grown / 1024:.0f} KiB")
            # The retained identify request was never answered (nor acted on); the huge ones never arrived.
            assert sub.payloads(f"{base}/response/identify") == []
            assert all(b'"after"' in p for p in sub.payloads(f"{base}/response/state"))
            assert "ignored a retained request identify" in kiosk.log()
    finally:
        attacker.publish(f"{base}/request/identify", b"", qos=1, retain=True).wait_for_publish(5)
        attacker.loop_stop()
        attacker.disconnect()
        sub.close()
        broker.stop()


def test_link_refused_publish_is_logged_with_its_topic(tmp_path, pki, make_room, caplog):
    """The shipped site broker with an ACL denying discovery: mosquitto 2.0 keeps the connection and drops the
    publishes; under MQTT 5 its PUBACK says "Not authorized", and the kiosk says so, once."""
    acl = "\n".join(line for line in (ROOT / "firmware_config" / "mosquitto" / "acl").read_text().splitlines()
                    if "homeassistant/+/%u" not in line)
    with site_broker(tmp_path, pki, acl) as port:
        room = make_room(None, host="localhost", port=port, username="suite-1", password="pw", tls_ca=str(pki.ca))
        assert wait_for(lambda: "refused a publish to homeassistant/" in caplog.text, 5), caplog.text
        assert "Not authorized" in caplog.text and "[mqtt] discovery = false" in caplog.text
        assert room.link.connected and room.link.connections == 1  # mosquitto keeps the connection
        assert wait_for(lambda: "homeassistant/button/suite-1/identify/config" in room.link.refused, 3)
        assert "homeassistant/binary_sensor/suite-1/ready/config" in room.link.refused
        assert not [t for t in room.link.refused if t.startswith("kiosk/")]  # its own topics are allowed
        assert caplog.text.count("refused a publish") == 1  # one line for all the discovery configs


def test_example_bridge_with_central_acl_delivers_discovery_state_and_bridge_state(tmp_path, pki, make_room):
    """The shipped site config (TLS, passwords, ACL) bridged by the shipped bridge.conf, with TLS and a login, to a
    central broker using the shipped central-acl: a kiosk's discovery and state reach the centre."""
    central_acl = (ROOT / "firmware_config" / "mosquitto" / "central-acl").read_text()
    users = {"site-a": "bridge-pw", "it-monitor": "it-pw", "homeassistant": "ha-pw"}
    with Broker(tmp_path / "central", tls=pki, users=users, acl=central_acl) as central:
        bridge = (ROOT / "firmware_config" / "mosquitto" / "bridge.conf").read_text()
        for old, new in (("address mqtt-central.example.org:8883", f"address 127.0.0.1:{central.port}"),
                         ("/etc/mosquitto/certs/central-ca.crt", str(pki.ca)),
                         ("remote_password CHANGE-ME", "remote_password bridge-pw")):
            assert old in bridge
            bridge = bridge.replace(old, new)
        (tmp_path / "site").mkdir()
        with site_broker(tmp_path / "site", pki, extra=bridge) as port:
            it = Subscriber(central, "kiosk/#", "sites/#", username="it-monitor", password="it-pw", tls_ca=pki.ca)
            ha = Subscriber(central, "homeassistant/#", username="homeassistant", password="ha-pw", tls_ca=pki.ca)
            try:
                assert it.wait_for(lambda t, p: t == "sites/site-a/bridge/state" and p == b"1", 10) is not None
                room = make_room(None, host="localhost", port=port, username="suite-1", password="pw",
                                 tls_ca=str(pki.ca))
                assert state_of(it, timeout=10) is not None  # the state reaches the centre
                ready = ha.wait_for(lambda t, p: t == "homeassistant/binary_sensor/suite-1/ready/config", 10)
                assert ready is not None and json.loads(ready[1])["qos"] == 1  # so does discovery
                assert it.wait_for(lambda t, p: t == "kiosk/suite-1/availability" and p == b"online") is not None
                reply = request(it, "state", json.dumps({"transaction": "central"}), timeout=10)  # in, reply out
                assert reply is not None and reply["transaction"] == "central"
                assert not room.link.refused
            finally:
                it.close()
                ha.close()


def test_link_event_payloads_for_pin_lockout_and_clock_step():
    from kiosk.events import ClockStepped, PinLockout
    from kiosk.mqtt.link import AlertPairs, event_payload

    lockout = event_payload(PinLockout(scope="all", wait_s=30.0), AlertPairs())
    assert lockout["event"] == "pin_lockout" and set(lockout) == {"event", "at", "scope", "wait_s"}
    assert (lockout["scope"], lockout["wait_s"]) == ("all", 30.0)
    step = event_payload(ClockStepped(step_s=-3600.0), AlertPairs())
    assert step["event"] == "clock_step" and step["step_s"] == -3600.0 and set(step) == {"event", "at", "step_s"}


# -- threads: the link's work runs on paho's network thread ------------------------------------------

def test_link_publishes_from_pahos_network_thread(broker, make_room, monkeypatch):
    room = make_room(broker)
    sub = Subscriber(broker, "kiosk/suite-1/state")
    threads = []
    real = room.link.publish_state

    def noting():
        threads.append(threading.current_thread())
        real()

    monkeypatch.setattr(room.link, "publish_state", noting)
    room.controller.set_attendance(2, 1, True)
    assert state_of(sub, pred=lambda s: s["attendance"]["in_person"] == 2) is not None
    assert threads and set(threads) == {room.link.client._thread}  # paho's thread, the socket's one writer
    assert not [t for t in threading.enumerate() if t.name == "mqtt-publisher"]
    sub.close()


def test_link_wakes_pahos_thread_for_each_change(broker, make_room, monkeypatch):
    def waiting_long(self, timeout=1.0, retry_first_connection=False):
        # paho's own pass comes every second; here only every 60 s, so only the wake-up can bring a change out.
        return mqtt.Client.loop_forever(self, timeout=60.0, retry_first_connection=retry_first_connection)

    monkeypatch.setattr(link_module._Client, "loop_forever", waiting_long)
    room = make_room(broker)
    sub = Subscriber(broker, "kiosk/suite-1/state")
    assert state_of(sub) is not None
    for n in range(1, 11):
        room.controller.set_attendance(n, 0, False)
        assert state_of(sub, pred=lambda s: s["attendance"]["in_person"] == n, timeout=10) is not None, n
    sub.close()


def test_link_one_state_message_for_each_change(broker, make_room):
    room = make_room(broker, heartbeat_s=3600.0)
    c = room.controller
    finished = []
    c.bus.subscribe(finished.append, ChecksFinished)
    sub = Subscriber(broker, "kiosk/suite-1/state")
    assert state_of(sub) is not None
    start = len(sub.messages)
    c.press()  # checking, then ready: a check finishing is two events (check_finished, state_changed)
    assert state_of(sub, pred=lambda s: s["state"] == "ready", start=start) is not None
    c.set_attendance(2, 1, True)
    c.set_attendance(2, 1, True)  # no change: nothing to say
    c.identify(1)  # the lights flash for a second, then return: the message does not carry the lights
    c.request_check("mqtt")  # a cycle whose results are the same but for their time
    assert wait_for(lambda: len(finished) == 2 and not c.checking and c.light_pattern() != "identify", timeout=10)
    c.set_attendance(3, 1, True)  # after everything above: the last state message
    assert state_of(sub, pred=lambda s: s["attendance"]["in_person"] == 3, start=start) is not None
    states = [json.loads(p) for t, p, *_ in sub.messages[start:] if t == "kiosk/suite-1/state"]
    assert states[0]["state"] == "checking" and len(states) <= 5, states
    assert all(a != b for a, b in zip(states, states[1:])), states  # each message says something new
    sub.close()


def test_link_events_of_one_change_make_one_state_message_whatever_the_passes(cfg):
    """The events of one change reach the link one by one, and paho's thread may make a pass between them: the
    state goes out once for the change (the room's revision), the events each once."""
    from paho.mqtt.enums import CallbackAPIVersion

    from kiosk.events import ReadinessChanged, StateChanged

    room = Room(room_config(cfg), run=False)
    link = room.link
    sent = []
    link._publish = lambda topic, payload, retain=False: sent.append(topic.rsplit("/", 1)[-1])
    link.client = link_module._Client(link._after_pass, CallbackAPIVersion.VERSION2)  # never connected
    link._connected = True
    room.controller.bus.subscribe(link._on_bus)  # as start() does
    try:
        room.controller.set_attendance(1, 0, False)  # one change, its event on the bus
        link._after_pass()
        link._on_bus(StateChanged("ready", "ready", "a second event of the same change"))
        link._after_pass()
        link._on_bus(ReadinessChanged(True))
        link._after_pass()
        assert sent == ["state", "event", "event"]
        room.controller.set_attendance(2, 0, False)  # a new change: a new state
        link._after_pass()
        assert sent[3] == "state"
    finally:
        link.client = None
        room.close()

