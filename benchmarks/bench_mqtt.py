"""MQTT figures, against a mosquitto this script starts on a free loopback port.

Run: .venv/bin/python benchmarks/bench_mqtt.py

(a) Button press -> ``state`` message: ``controller.press()`` until a subscriber on loopback
    receives the retained state showing the new room state (bus -> paho's network thread ->
    broker -> subscriber), beside a bare paho publish -> receive round trip (QoS 1, same
    broker and subscriber) measured in the same run. Target p99 <= 20 ms, ratio <= 3.
(b) Broker restarted -> state republished: seconds from the moment the restarted broker
    accepts connections until a subscriber has the kiosk's state again, with the default
    backoff ([mqtt] reconnect_min_s 0.5, reconnect_max_s 30), for outages of 0.2, 1 and 3 s.
    Target <= 2 s.
(c) The fleet view (``kiosk.fleet.FleetClient`` feeding a ``Fleet``, the table rendered once
    a second) in its own process, while 500 simulated rooms each publish their retained
    state every second for 10 s: lag from publish to the model (median, p99), whether every
    message arrived, and the CPU the process used. Targets: keeps up (nothing lost, p99 lag
    <= 100 ms), <= 1 core.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import paho.mqtt.client as mqtt  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402

from kiosk.config import Config  # noqa: E402

FLEET_ROOMS = 500
FLEET_SECONDS = 10


def _stats(values):
    a = np.asarray(values, dtype=float)
    return float(np.median(a)), float(np.percentile(a, 99))


class Listener:
    """A paho subscriber noting each message's arrival time (perf_counter)."""

    def __init__(self, host, port, *filters):
        self.cond = threading.Condition()
        self.messages: list[tuple[float, str, bytes]] = []
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2)
        self.client.reconnect_delay_set(0.01, 0.05)
        subscribed = threading.Event()
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe([(t, 1) for t in filters])
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.on_message = self._on_message
        deadline = time.monotonic() + 5
        while True:
            try:
                self.client.connect(host, port, 30)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.005)
        self.client.loop_start()
        assert subscribed.wait(5)

    def _on_message(self, client, userdata, msg):
        at = time.perf_counter()
        with self.cond:
            self.messages.append((at, msg.topic, bytes(msg.payload)))
            self.cond.notify_all()

    def wait(self, predicate, since: int, timeout: float = 5.0):
        deadline = time.monotonic() + timeout
        with self.cond:
            i = since
            while True:
                while i < len(self.messages):
                    if predicate(*self.messages[i][1:]):
                        return self.messages[i]
                    i += 1
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("message not received")
                self.cond.wait(remaining)

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


def _room(broker, **mqtt_settings):
    from kiosk.controller import RoomController
    from kiosk.factory import build_hardware
    from kiosk.mqtt.link import MqttLink

    cfg = (Config().replace("checks", interval_s=0).replace("schedule", ended_s=3600)
           .replace("camera", frames=2, frame_interval_s=0.0).replace("microphone", capture_s=0.1)
           .replace("mqtt", host=broker.host, port=broker.port, **mqtt_settings))
    controller = RoomController(cfg, build_hardware(cfg, simulate=True)).start(initial_check=False)
    link = MqttLink(cfg, controller, model="bench")
    link.start()
    deadline = time.monotonic() + 5
    while not link.connected and time.monotonic() < deadline:
        time.sleep(0.01)
    return controller, link


def bench_press(broker, repeats: int = 150) -> list[dict]:
    controller, link = _room(broker)
    listener = Listener(broker.host, broker.port, "kiosk/suite-1/state", "bench/ping")
    pinger = mqtt.Client(CallbackAPIVersion.VERSION2)
    pinger.connect(broker.host, broker.port)
    pinger.loop_start()
    state_topic = "kiosk/suite-1/state"
    press_ms, bare_ms = [], []
    try:
        time.sleep(0.3)
        for i in range(repeats + 10):
            since = len(listener.messages)
            t0 = time.perf_counter()
            controller.press()
            new = controller.machine.state.value
            at, _, _ = listener.wait(lambda t, p: t == state_topic and json.loads(p)["state"] == new, since)
            if i >= 10:
                press_ms.append((at - t0) * 1000)
            if new == "checking":  # let the check cycle finish and its messages arrive
                since = len(listener.messages)
                listener.wait(lambda t, p: t == state_topic and json.loads(p)["state"] != "checking", since)
            time.sleep(0.01)
            since = len(listener.messages)
            payload = f"ping {i}".encode()
            t0 = time.perf_counter()
            pinger.publish("bench/ping", payload, qos=1)
            at, _, _ = listener.wait(lambda t, p: p == payload, since)
            if i >= 10:
                bare_ms.append((at - t0) * 1000)
            time.sleep(0.005)
    finally:
        pinger.disconnect()
        pinger.loop_stop()
        listener.close()
        link.stop()
        controller.stop()
    median, p99 = _stats(press_ms)
    base = _stats(bare_ms)[0]
    return [{"name": f"(a) press -> state message ({repeats} presses)", "median_ms": median, "p99_ms": p99,
             "baseline": "bare paho publish -> receive (QoS 1)", "baseline_median_ms": base,
             "ratio": median / base, "target": "p99 <= 20 ms, ratio <= 3"}]


def bench_restart(broker, outages=(0.2, 1.0, 3.0), repeats: int = 1) -> list[dict]:
    controller, link = _room(broker)  # default backoff: 0.5 s doubling to 30 s
    delays = []
    try:
        for outage in outages:
            for _ in range(repeats):
                broker.stop()
                deadline = time.monotonic() + 5
                while link.connected and time.monotonic() < deadline:
                    time.sleep(0.005)
                time.sleep(outage)
                broker.start()
                accepted = time.perf_counter()
                listener = Listener(broker.host, broker.port, "kiosk/suite-1/state")
                at, _, _ = listener.wait(lambda t, p: True, 0, timeout=60)
                delays.append((outage, (at - accepted) * 1000))
                listener.close()
                time.sleep(5.5)  # a connection that lasted: the next loss starts from reconnect_min_s again
    finally:
        link.stop()
        controller.stop()
    values = [d for _, d in delays]
    median, p99 = _stats(values)
    worst = {o: max(d for oo, d in delays if oo == o) / 1000 for o in outages}
    detail = ", ".join(f"{o:g} s down: {w:.2f} s" for o, w in worst.items())
    return [{"name": f"(b) broker back -> state republished (worst: {detail})", "median_ms": median,
             "p99_ms": max(values), "baseline": None, "baseline_median_ms": None, "ratio": None,
             "target": "<= 2000 ms"}]


# -- (c) the fleet view under 500 rooms ------------------------------------------------------------

def fleet_consumer(host: str, port: int, seconds: float) -> None:
    """Runs in its own process: FleetClient + a table a second; prints its figures as JSON."""
    from kiosk import fleet

    lags: list[float] = []

    class Measured(fleet.FleetClient):
        def _on_message(self, client, userdata, msg):
            super()._on_message(client, userdata, msg)
            if msg.retain or not msg.topic.endswith("/state"):
                return
            room = msg.topic.split("/")[1]
            sent = self.fleet.rooms[room].state["checked_at"]
            lags.append(time.time() - datetime.fromisoformat(sent).timestamp())

    model = fleet.Fleet()
    client = Measured(model, host, port)
    client.start()
    client.subscribed.wait(5)
    print("ready", flush=True)
    renders = []
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    wall0 = time.perf_counter()
    end = wall0 + seconds
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        fleet.render(client.rows(), width=160)
        renders.append((time.perf_counter() - t0) * 1000)
        time.sleep(max(0.0, 1.0 - (time.perf_counter() - t0)))
    time.sleep(0.5)  # the last messages in flight
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    wall = time.perf_counter() - wall0
    client.stop()
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    print(json.dumps({"received": len(lags), "lags_ms": [x * 1000 for x in lags], "cpu_s": cpu, "wall_s": wall,
                      "render_ms": renders, "rooms": len(model.rooms), "ignored": model.ignored}), flush=True)


def bench_fleet(broker, rooms: int = FLEET_ROOMS, seconds: int = FLEET_SECONDS) -> list[dict]:
    consumer = subprocess.Popen([sys.executable, __file__, "--fleet-consumer", broker.host, str(broker.port),
                                 str(seconds + 1)], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert consumer.stdout.readline().strip() == "ready"
    publisher = mqtt.Client(CallbackAPIVersion.VERSION2)
    publisher.connect(broker.host, broker.port)
    publisher.loop_start()
    template = {"schema": 1, "room": "", "state": "ready", "ready": True,
                "checks": {n: {"status": "pass", "reason": f"{n} OK"} for n in
                           ("camera", "microphone", "display", "clock", "network")},
                "start_at": "2030-01-01T09:00:00+00:00", "seconds_to_start": 100, "checked_at": "",
                "attendance": {"in_person": 0, "virtual": 0, "quorate": False}, "version": "0.1.0"}
    for i in range(rooms):
        publisher.publish(f"kiosk/room-{i:03d}/availability", "online", 1, True)
    sent = 0
    start = time.perf_counter()
    interval = 1.0 / rooms
    total = rooms * seconds
    for n in range(total):
        target = start + n * interval
        delay = target - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        room = f"room-{n % rooms:03d}"
        template["room"] = room
        template["checked_at"] = datetime.now(timezone.utc).isoformat()
        publisher.publish(f"kiosk/{room}/state", json.dumps(template), 1, True)
        sent += 1
    publish_s = time.perf_counter() - start
    out, _ = consumer.communicate(timeout=60)
    publisher.disconnect()
    publisher.loop_stop()
    result = json.loads(out.strip().splitlines()[-1])
    lag_median, lag_p99 = _stats(result["lags_ms"])
    render_median, render_p99 = _stats(result["render_ms"])
    cores = result["cpu_s"] / result["wall_s"]
    kept = f"{result['received']}/{sent} messages in {publish_s:.1f} s"
    return [
        {"name": f"(c) fleet, {rooms} rooms x 1 msg/s: publish -> model lag ({kept})", "median_ms": lag_median,
         "p99_ms": lag_p99, "baseline": None, "baseline_median_ms": None, "ratio": None,
         "target": "nothing lost, p99 <= 100 ms"},
        {"name": f"(c) fleet, {rooms} rooms: CPU of the fleet process", "median_ms": cores, "p99_ms": None,
         "unit": " cores", "baseline": None, "baseline_median_ms": None, "ratio": None, "target": "<= 1 core"},
        {"name": f"(c) fleet, {rooms} rooms: render the table", "median_ms": render_median, "p99_ms": render_p99,
         "baseline": None, "baseline_median_ms": None, "ratio": None, "target": "<= 50 ms"},
    ]


def run() -> list[dict]:
    """Every figure of this script (see the module docstring); keys name, median_ms, p99_ms, baseline,
    baseline_median_ms, ratio, target (and unit when not ms)."""
    from mqtt_broker import Broker

    with tempfile.TemporaryDirectory() as tmp:
        with Broker(Path(tmp) / "broker") as broker:
            rows = bench_press(broker)
            rows += bench_restart(broker)
            rows += bench_fleet(broker)
    return rows


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--fleet-consumer":
        fleet_consumer(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
        sys.exit(0)
    sys.path.insert(0, str(Path(__file__).parent))
    import logging

    from report import print_table

    logging.basicConfig(level=logging.ERROR)  # the restarts are meant: no warnings about them

    print_table(run())
