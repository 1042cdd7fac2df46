"""Property tests of the MQTT request handling, and a flood of requests at a real broker.

The real :class:`~kiosk.mqtt.link.MqttLink` is driven through its paho callback
(``_on_message`` with real ``paho.mqtt.client.MQTTMessage`` objects) and its request
handler (``_handle_request``), exactly as paho's network thread runs them; only the last
step, handing the reply to paho, is recorded instead. Whatever arrives (binary junk,
oversized or deeply nested JSON, JSON that is not an object, wrong types for
``transaction`` and ``seconds``, malformed topics), nothing may raise, every request
for this room gets exactly one well-formed reply, and nothing of the request other than
its ``transaction`` may appear in a reply or a log line.
"""

from __future__ import annotations

import json
import logging
import math
import time

import paho.mqtt.client as mqtt
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from mqtt_broker import Subscriber

from kiosk.config import Config
from kiosk.controller import RoomController
from kiosk.factory import build_hardware
from kiosk.mqtt import link as link_module
from kiosk.mqtt import topics
from kiosk.mqtt.link import MqttLink, TokenBucket

#: Personal data a requester might (wrongly) put in a request: it must never be echoed or logged.
SECRET = "Jayden Smith"
REPLY_KEYS = {"status", "data", "error", "transaction"}
PROPERTY = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class RecordingLink(MqttLink):
    """The real link; what it would hand to paho is recorded instead of sent."""

    def __init__(self, cfg, controller):
        super().__init__(cfg, controller, model="test bench")
        self.published: list[tuple[str, str, bool]] = []
        self._bucket = TokenBucket(1e12, 10**9)  # the rate limit has its own tests: every message counts here

    def _publish(self, topic, payload, retain=False):
        self.published.append((topic, payload, retain))

    def deliver(self, topic: bytes, payload: bytes) -> list[tuple[str, str, bool]]:
        """One incoming message through paho's callback and the link's request handling."""
        start = len(self.published)
        msg = mqtt.MQTTMessage(mid=1, topic=topic)
        msg.payload = payload
        self._on_message(None, None, msg)
        self._after_pass()  # as paho's thread does after the pass that read the message
        return self.published[start:]


class ListHandler(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)


@pytest.fixture(scope="module")
def link():
    cfg = Config().replace("checks", interval_s=0)
    controller = RoomController(cfg, build_hardware(cfg, simulate=True))  # not started: replies only
    handler = ListHandler()
    logger = logging.getLogger("kiosk")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    link = RecordingLink(cfg, controller)
    link.log = handler
    try:
        yield link
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        controller.stop()


# -- strategies -----------------------------------------------------------------------------------

secret_text = st.sampled_from([SECRET, f"child: {SECRET}", SECRET.upper()])
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(min_value=-(10**300), max_value=10**300),
                         st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20), secret_text)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8) | secret_text, inner, max_size=4), max_leaves=10)
transactions = st.one_of(st.none(), st.text(max_size=200), st.integers(), st.integers(min_value=10**100),
                         st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.lists(st.integers()),
                         st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))
seconds = st.one_of(st.integers(-10, 400), st.integers(min_value=10**100),
                    st.floats(allow_nan=True, allow_infinity=True),
                    st.text(max_size=5), st.booleans(), st.none(), st.lists(st.integers(), max_size=2))


@st.composite
def request_objects(draw):
    body = {}
    if draw(st.booleans()):
        body["transaction"] = draw(transactions)
    if draw(st.booleans()):
        body["seconds"] = draw(seconds)
    body.update(draw(st.dictionaries(st.text(max_size=10) | secret_text, json_values, max_size=3)))
    return body


def dumps_loose(value) -> bytes:
    return json.dumps(value, allow_nan=True).encode()  # NaN and Infinity, which Python's json reads back


payloads = st.one_of(
    st.binary(max_size=300),
    st.binary(min_size=4000, max_size=6000),
    request_objects().map(dumps_loose),
    json_values.map(dumps_loose),  # any JSON, mostly not an object
    st.integers(1, 4000).map(lambda n: (("[" * n) + ("]" * n)).encode()),
    st.integers(1, 1300).map(lambda n: ('{"a":' * n + "1" + "}" * n).encode()),
    st.integers(4097, 20000).map(lambda n: b'{"transaction": "t"' + b" " * n + b"}"),
    request_objects().map(lambda b: dumps_loose(b).decode().encode("utf-16")),
    request_objects().map(lambda b: b"\xef\xbb\xbf" + dumps_loose(b)),
    st.builds(lambda s: f'{{"note": "{s}", "junk": "\\ud800"}}'.encode(), secret_text),
)
segments = st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True)
actions = st.sampled_from(topics.ACTIONS) | segments


# -- what a reply must be ------------------------------------------------------------------------

def expected_transaction(raw: bytes):
    """The ``transaction`` a reply must echo (README: a number or a string of up to 128 characters)."""
    if len(raw) > link_module.MAX_REQUEST_BYTES:
        return None
    try:
        text = raw.decode("utf-8")
        body = json.loads(text) if text.strip() else {}
    except (ValueError, RecursionError):
        return None
    t = body.get("transaction") if isinstance(body, dict) else None
    if isinstance(t, str) and len(t) <= 128 or type(t) is int or type(t) is float and math.isfinite(t):
        return t
    return None


def no_constants(name):
    raise ValueError(f"reply holds {name}: not JSON")


def check_reply(reply: tuple[str, str, bool], action: str, raw: bytes) -> dict:
    topic, payload, retain = reply
    assert topic == f"kiosk/suite-1/response/{action}" and retain is False
    body = json.loads(payload, parse_constant=no_constants)  # strict JSON: no NaN or Infinity
    assert set(body) == REPLY_KEYS
    assert body["status"] in ("ok", "error")
    if body["status"] == "ok":
        assert action in topics.ACTIONS and body["error"] is None and isinstance(body["data"], dict)
        assert body["transaction"] == expected_transaction(raw)
    else:
        assert body["data"] is None and isinstance(body["error"], str) and body["error"]
        assert body["transaction"] in (None, expected_transaction(raw))
    if action == "identify" and body["status"] == "ok":
        assert 1 <= body["data"]["seconds"] <= 300
    return body


def check_private(link: RecordingLink, replies, start_log: int, raw: bytes) -> None:
    """Nothing from the request shows in what went out, nor in the log (apart from the echoed transaction)."""
    records = link.log.records[start_log:]
    logged = "\n".join(r.getMessage() for r in records)
    for _, payload, _ in replies:
        body = json.loads(payload)
        assert SECRET not in json.dumps({k: v for k, v in body.items() if k != "transaction"}, ensure_ascii=False)
        assert SECRET.upper() not in payload
    assert SECRET not in logged and SECRET.upper() not in logged
    assert not [r for r in records if r.exc_info or r.levelno >= logging.ERROR], logged
    if len(raw) >= 8:
        assert raw.decode("utf-8", "replace")[:64] not in logged


# -- properties -----------------------------------------------------------------------------------

@pytest.mark.proof
@PROPERTY
@given(action=actions, raw=payloads)
@example(action="state", raw=b'{"transaction": 1' + b"0" * 400 + b"}")
@example(action="identify", raw=b'{"seconds": 1' + b"0" * 400 + b"}")
@example(action="state", raw=b"[" * 3000 + b"]" * 3000)
@example(action="state", raw=b'{"transaction": 1e999}')
@example(action="identify", raw=b'{"seconds": NaN}')
@example(action="state", raw=b"")
def test_bad_input_mqtt_requests_always_get_one_well_formed_reply(link, action, raw):
    mark = len(link.log.records)
    replies = link.deliver(f"kiosk/suite-1/request/{action}".encode(), raw)
    assert len(replies) == 1, replies
    check_reply(replies[0], action, raw)
    check_private(link, replies, mark, raw)


@pytest.mark.proof
@PROPERTY
@given(topic=st.one_of(
    st.binary(max_size=80),
    st.text(max_size=80).map(str.encode),
    st.builds(lambda room, kind, rest: f"kiosk/{room}/{kind}{rest}".encode(),
              st.sampled_from(["suite-1", "suite-2", "", "+", "#"]) | st.text(max_size=6),
              st.sampled_from(["request", "response", "state", "checks", "event", "availability"])
              | st.text(max_size=6),
              st.sampled_from(["", "/", "/state", "/state/x", "/+", "/#", "//"]) | st.text(max_size=10)),
), raw=payloads)
def test_bad_input_mqtt_malformed_and_foreign_topics_are_dropped_quietly(link, topic, raw):
    mark = len(link.log.records)
    replies = link.deliver(topic, raw)
    try:
        parsed = topics.parse(topic.decode("utf-8"))
        ours = parsed.room == "suite-1" and parsed.kind == topics.REQUEST
    except (UnicodeDecodeError, ValueError):
        ours = False
    if ours:
        assert len(replies) == 1
        check_reply(replies[0], parsed.name, raw)
    else:
        assert replies == []  # not ours or not a topic at all: no reply, no crash
    check_private(link, replies, mark, raw)


def test_bad_input_mqtt_unexpected_failure_still_gets_a_reply(link, monkeypatch):
    """A bug in an action's handler is an error reply and one log line naming only the exception's type."""
    def broken(body):
        raise KeyError(SECRET)

    monkeypatch.setattr(link, "_do_state", broken)
    mark = len(link.log.records)
    replies = link.deliver(b"kiosk/suite-1/request/state", json.dumps({"transaction": "t-1"}).encode())
    assert len(replies) == 1
    body = json.loads(replies[0][1])
    assert body == {"status": "error", "data": None, "error": "the kiosk could not handle this request",
                    "transaction": None}
    lines = [r.getMessage() for r in link.log.records[mark:]]
    assert "MQTT request state failed: KeyError" in lines and SECRET not in "\n".join(lines)


# -- a flood at a real broker ---------------------------------------------------------------------

FLOOD = 2000


def flood_payload(i: int) -> bytes:
    kinds = [b"", b"{}", b"\xff\xfe junk", b"[" * 3000, b"x" * 5000, json.dumps({"transaction": i}).encode(),
             b'{"transaction": 1' + b"0" * 400 + b"}", json.dumps({"seconds": "many", "name": SECRET}).encode()]
    return kinds[i % len(kinds)]


@pytest.mark.proof
def test_bad_input_mqtt_request_flood_leaves_the_kiosk_responsive(broker, caplog):
    caplog.set_level(logging.INFO, logger="kiosk")
    cfg = (Config().replace("checks", interval_s=0).replace("microphone", capture_s=0.2)
           .replace("camera", frames=2, frame_interval_s=0.02, width=640, height=360)
           .replace("mqtt", host=broker.host, port=broker.port, reconnect_min_s=0.1, reconnect_max_s=1.0))
    controller = RoomController(cfg, build_hardware(cfg, simulate=True)).start(initial_check=False)
    link = MqttLink(cfg, controller, model="test bench")
    sub = None
    flooder = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="flooder")
    try:
        assert link.start()
        sub = Subscriber(broker, "kiosk/suite-1/response/+")
        assert _wait(lambda: link.connected, 3)
        flooder.max_inflight_messages_set(100)
        flooder.connect(broker.host, broker.port)
        flooder.loop_start()
        # '+' in the kiosk's subscription matches any level: malformed action names arrive too.
        actions = ["state", "recheck", "identify", "reboot", "bad action!"]
        began = time.monotonic()
        infos = [flooder.publish(f"kiosk/suite-1/request/{actions[i % 5]}", flood_payload(i), qos=1)
                 for i in range(FLOOD)]
        for info in infos:
            info.wait_for_publish(5)
        flooded = time.monotonic()
        assert flooded - began < 5.0  # the broker took the whole flood
        assert all(info.is_published() for info in infos)

        # IT asks for the state (again every 0.25 s, as a tool would): answered within 2 s of the flood.
        answered = None
        asked = 0
        while answered is None and time.monotonic() - flooded < 2.0:
            mark = len(sub.messages)
            sub.client.publish("kiosk/suite-1/request/state", json.dumps({"transaction": f"after-{asked}"}), qos=1)
            asked += 1
            answered = sub.wait_for(lambda t, p: t.endswith("/response/state")
                                    and str(json.loads(p)["transaction"]).startswith("after-"), 0.25, mark)
        assert answered is not None, "no answer to a state request within 2 s of the flood"
        reply = json.loads(answered[1])
        assert reply["status"] == "ok" and reply["data"]["room"] == "suite-1"

        # The flood was dropped, not worked through: bounded replies, one log line about it.
        replies = [p for t, p, *_ in sub.messages if "/response/" in t]
        elapsed = time.monotonic() - began
        assert len(replies) <= link_module.REQUEST_BURST + link_module.REQUEST_RATE * elapsed + 2
        assert 1 <= len([r for r in caplog.records if "arrive faster" in r.getMessage()]) <= 2
        ignored = [r for r in caplog.records if "malformed topic" in r.getMessage()]
        assert len(ignored) <= link_module.REQUEST_BURST + link_module.REQUEST_RATE * elapsed + 2  # no log flood
        assert SECRET not in caplog.text

        # Everything still runs: the controller's loops, the publisher, paho's thread; the button works.
        threads = [*controller._threads, link.client._thread]
        assert all(t.is_alive() for t in threads)
        assert link.connected
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
        controller.press()
        assert controller.machine.state.value == "checking"
        assert _wait(lambda: controller.machine.state.value == "ready", 5)
    finally:
        flooder.disconnect()
        flooder.loop_stop()
        if sub is not None:
            sub.close()
        link.stop()
        controller.stop()


def _wait(predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False

