"""The broker failing under a running kiosk: killed, frozen, wrong certificates, wrong port.

Against a real mosquitto. Complements tests/test_mqtt_link.py, which covers a broker
stopped cleanly and restarted, a broker unreachable at start, and the log lines for a
wrong CA, an expired certificate (made with ``-days -1``) and a host name mismatch. Here:
``kill -9`` (no goodbye from the broker) with the events of the outage delivered after
it, a broker frozen with SIGSTOP (the socket stays open, nothing answers), certificates
that are wrong and then put right on the broker (the kiosk must reconnect by itself),
an expired certificate whose validity lies wholly in the past (``openssl ca
-startdate/-enddate``), and TLS and plain MQTT pointed at the wrong kind of port.
In every case the room (button, state machine, checks) must keep working.
"""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import time

import pytest
from mqtt_broker import Broker, Subscriber, make_pki

from kiosk.config import Config
from kiosk.controller import RoomController
from kiosk.factory import build_hardware
from kiosk.mqtt.link import MqttLink
from waiting import wait_for

pytestmark = pytest.mark.proof  # slow: see docs/testing.md (pytest -m 'not proof' leaves it out)

STATE = "kiosk/suite-1/state"


class Room:
    """A controller on simulated devices with its MQTT link; quick checks, quick reconnection."""

    def __init__(self, host: str, port: int, **mqtt):
        cfg = (Config().replace("checks", interval_s=0)
               .replace("microphone", capture_s=0.2)
               .replace("camera", frames=2, frame_interval_s=0.02, width=640, height=360)
               .replace("mqtt", host=host, port=port, reconnect_min_s=0.1, reconnect_max_s=1.0, **mqtt))
        self.c = RoomController(cfg, build_hardware(cfg, simulate=True))
        self.c.start(initial_check=False)
        self.link = MqttLink(cfg, self.c, model="test bench")
        assert self.link.start()

    @property
    def state(self) -> str:
        return self.c.machine.state.value

    def press_and_check_ready(self) -> None:
        """The button works and the room gets through its checks, whatever the broker does."""
        began = time.monotonic()
        self.c.press()
        assert time.monotonic() - began < 0.2  # the press never waits for the network
        assert self.state in ("checking", "ready", "countdown", "in_session")
        assert wait_for(lambda: self.state == "ready", 5), self.state

    def alive(self) -> bool:
        threads = [*self.c._threads, self.link.client._thread]
        return all(t is not None and t.is_alive() for t in threads)

    def close(self) -> None:
        self.link.stop()
        self.c.stop()


@pytest.fixture
def make_room(caplog):
    caplog.set_level(logging.INFO, logger="kiosk.mqtt")
    rooms = []

    def make(host, port, **mqtt) -> Room:
        room = Room(host, port, **mqtt)
        rooms.append(room)
        return room

    yield make
    for room in rooms:
        room.close()
    assert "MQTT: publishing failed" not in caplog.text


def messages(caplog, text: str, level: int | None = None) -> list[logging.LogRecord]:
    return [r for r in caplog.records if text in r.getMessage() and (level is None or r.levelno == level)]


def latest_state(sub: Subscriber, pred=lambda s: True, timeout=5.0, start=0):
    msg = sub.wait_for(lambda t, p: t == STATE and pred(json.loads(p)), timeout, start)
    return json.loads(msg[1]) if msg else None


# -- the broker dies or freezes -----------------------------------------------------------------

def test_faults_mqtt_broker_killed_and_restarted_on_the_same_port(tmp_path, make_room, caplog):
    broker = Broker(tmp_path / "broker")
    with broker.conf.open("a") as conf:
        conf.write("log_type debug\n")  # every PUBLISH received, to see the kiosk's backlog arrive
    broker.start()
    try:
        room = make_room(broker.host, broker.port)
        sub = Subscriber(broker, "kiosk/#")
        assert latest_state(sub, lambda s: s["state"] == "idle") is not None
        sub.close()

        broker.proc.send_signal(signal.SIGKILL)  # no clean shutdown, no goodbye to anyone
        broker.proc.wait()
        broker.stop()
        assert wait_for(lambda: not room.link.connected, 3)
        # paho's thread marks the link down, then logs: wait for the line rather than race it.
        assert wait_for(lambda: messages(caplog, f"MQTT connection to {broker.host}:{broker.port} lost",
                                         logging.WARNING), 3), caplog.text
        lost = messages(caplog, f"MQTT connection to {broker.host}:{broker.port} lost", logging.WARNING)
        assert len(lost) == 1, caplog.text

        room.press_and_check_ready()  # the room does not need the broker
        time.sleep(0.5)  # retries while the broker is away
        assert len(messages(caplog, "not reachable", logging.WARNING)) <= 1  # one line, not one per retry
        assert room.alive()

        log_before = len(broker.read_log())
        broker.start()  # same port, and (no persistence) no retained messages any more
        back = time.monotonic()
        sub = Subscriber(broker, "kiosk/#")
        state = latest_state(sub, timeout=5)
        assert state is not None and state["state"] == "ready" and state["ready"] is True
        assert time.monotonic() - back < 3.0
        assert wait_for(lambda: room.link.connected, 1)
        assert room.link.connections == 2
        assert messages(caplog, "MQTT connected to", logging.INFO)[-1].getMessage().endswith(" again")
        # The events of the outage (press, checking, checks, ready) were kept and sent on reconnection.
        assert wait_for(lambda: broker.read_log()[log_before:].count("'kiosk/suite-1/event'") >= 5, 3), \
            broker.read_log()[log_before:]
        # And IT's commands work again.
        mark = len(sub.messages)
        sub.client.publish("kiosk/suite-1/request/state", json.dumps({"transaction": "back"}), qos=1)
        reply = sub.wait_for(lambda t, p: t == "kiosk/suite-1/response/state", 3, mark)
        assert reply is not None and json.loads(reply[1])["transaction"] == "back"
        sub.close()
        assert room.alive()
    finally:
        broker.stop()


def test_faults_mqtt_broker_frozen_does_not_hold_up_the_room(tmp_path, make_room):
    with Broker(tmp_path / "broker") as broker:
        room = make_room(broker.host, broker.port)
        sub = Subscriber(broker, STATE)
        assert latest_state(sub) is not None
        broker.proc.send_signal(signal.SIGSTOP)  # the socket stays open; nothing answers
        try:
            room.press_and_check_ready()
            began = time.monotonic()
            for i in range(200):
                room.c.set_attendance(i % 7, 3, bool(i % 2))
            assert time.monotonic() - began < 0.5
            time.sleep(0.5)
            assert room.alive()
        finally:
            broker.proc.send_signal(signal.SIGCONT)
        state = latest_state(sub, lambda s: s["state"] == "ready" and s["attendance"]["in_person"] == 199 % 7)
        assert state is not None and state["ready"] is True
        assert room.link.connected and room.link.connections == 1  # the connection survived
        sub.close()


# -- certificates and ports -----------------------------------------------------------------------

def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """The test CA, plus a server certificate that expired in 2021 and one signed by a CA the kiosk does not know."""
    pki = make_pki(tmp_path_factory.mktemp("pki"), other_ca=True)
    d = pki.ca.parent
    # `openssl ca` can date a certificate wholly in the past (x509 -days cannot go below zero).
    (d / "ca.cnf").write_text("[ca]\ndefault_ca = test_ca\n[test_ca]\ndatabase = index.txt\nnew_certs_dir = .\n"
                              "certificate = ca.crt\nprivate_key = ca.key\nserial = serial\ndefault_md = sha256\n"
                              "policy = any\n[any]\ncommonName = supplied\n")
    (d / "index.txt").write_text("")
    (d / "serial").write_text("1000\n")
    _openssl("ca", "-batch", "-config", "ca.cnf", "-notext", "-in", "server.csr", "-out", "expired-2021.crt",
             "-startdate", "20200101000000Z", "-enddate", "20210101000000Z", "-extfile", "san.ext", cwd=d)
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "other-ca.crt", "-CAkey", "other.key", "-CAcreateserial",
             "-extfile", "san.ext", "-out", "other-ca-signed.crt", "-days", "2", cwd=d)
    for path in d.iterdir():
        path.chmod(0o644)
    return pki


def test_faults_mqtt_expired_certificate_is_dated_in_the_past(pki):
    out = subprocess.run(["openssl", "x509", "-in", str(pki.ca.parent / "expired-2021.crt"), "-noout", "-dates"],
                         capture_output=True, text=True, check=True).stdout
    assert "notBefore=Jan  1 00:00:00 2020 GMT" in out and "notAfter=Jan  1 00:00:00 2021 GMT" in out


@pytest.mark.parametrize("cert, problem", [
    ("expired-2021.crt", "certificate has expired"),
    ("other-ca-signed.crt", "unable to get local issuer certificate"),
])
def test_faults_mqtt_bad_broker_certificate_then_put_right(tmp_path, pki, make_room, caplog, cert, problem):
    broker = Broker(tmp_path / "tls", tls=pki, server_cert=pki.ca.parent / cert).start()
    try:
        room = make_room("localhost", broker.port, tls_ca=str(pki.ca))
        assert wait_for(lambda: messages(caplog, "TLS certificate not accepted"), 3)
        line = messages(caplog, "TLS certificate not accepted")[0]
        assert line.levelno == logging.ERROR and problem in line.getMessage()
        assert f"localhost:{broker.port}" in line.getMessage() and "[mqtt] tls_ca" in line.getMessage()
        room.press_and_check_ready()  # the kiosk works without its broker
        time.sleep(1.2)  # more attempts, each failing the same way...
        assert len(messages(caplog, "TLS certificate not accepted", logging.ERROR)) == 1  # ...said once
        assert not room.link.connected and room.alive()

        # IT installs the right certificate on the broker: the kiosk connects by itself.
        broker.stop()
        broker = Broker(tmp_path / "tls-renewed", port=broker.port, tls=pki).start()
        assert wait_for(lambda: room.link.connected, 4)
        sub = Subscriber(broker, STATE, tls_ca=pki.ca)
        state = latest_state(sub)
        assert state is not None and state["state"] == "ready"
        sub.close()
    finally:
        broker.stop()


@pytest.mark.parametrize("kiosk_tls", [True, False], ids=["TLS kiosk, plain port", "plain kiosk, TLS port"])
def test_faults_mqtt_wrong_kind_of_port_is_a_clear_log_line(tmp_path, pki, make_room, caplog, kiosk_tls):
    with Broker(tmp_path / "b", tls=None if kiosk_tls else pki) as broker:
        room = make_room("localhost", broker.port, **({"tls_ca": str(pki.ca)} if kiosk_tls else {}))
        if kiosk_tls:
            text, level = "closed the connection during the TLS handshake (is it a TLS port?", logging.ERROR
        else:
            text, level = "closed the connection before accepting it", logging.WARNING
        assert wait_for(lambda: messages(caplog, text), 3), caplog.text
        assert messages(caplog, text)[0].levelno == level
        if not kiosk_tls:
            assert "is it a TLS port? Then set [mqtt] tls_ca" in messages(caplog, text)[0].getMessage()
        assert not messages(caplog, "not reachable")  # it is reachable: it speaks another protocol
        room.press_and_check_ready()
        time.sleep(1.0)
        assert len(messages(caplog, text)) == 1
        assert not room.link.connected and room.alive()
