"""The kiosk's connection to the MQTT broker: what IT sees of the room, and IT's commands.

:class:`MqttLink` subscribes to the controller's event bus and publishes (topics in
:mod:`kiosk.mqtt.topics`, ``<prefix>/<room>/...``):

- ``availability``: retained ``online`` on every connection and again with every heartbeat
  (so an ``offline`` planted by someone else does not stay); the will (retained, QoS 1)
  says ``offline`` when the kiosk dies, and a clean shutdown says it too;
- ``state``: retained JSON (:func:`state_payload`) on every change, and again every
  ``[mqtt] heartbeat_s``;
- ``checks/<name>``: retained JSON per check with its metrics (:func:`check_payload`);
- ``event``: JSON events, not retained (:func:`event_payload`), ``ready_lost`` and
  ``ready_regained`` paired by ``alert_id``;
- Home Assistant discovery (:mod:`kiosk.mqtt.discovery`) on every connection and when
  ``<discovery_prefix>/status`` says ``online``;
- ``quality/<YYYY-MM>``: retained JSON, a month's quality figures (totals only, from
  :class:`kiosk.quality.service.QualityService`), when a conference of that month ends
  (``QualityChanged`` on the bus) and every month within retention on every connection;

and answers ``request/<action>`` on ``response/<action>`` with ``{"status": "ok"|"error",
"data", "error", "transaction"}`` (actions in :data:`~kiosk.mqtt.topics.ACTIONS`).

Threads. One thread does all of the link's work: paho's network thread (``loop_start``).
The bus delivers on the room's loop (see :mod:`kiosk.controller`), so :meth:`MqttLink._on_bus`
only notes the event under ``_notes`` and wakes paho's ``select()``. After every pass of its
loop (at once when woken, and at least once a second) paho calls the client's ``loop_misc``,
where :meth:`MqttLink._after_pass` builds the payloads (reading the room's snapshot through
:meth:`~kiosk.controller.RoomController.public_state`, no lock) and publishes: one state
message for each change of what it says, however many events the change made.
Publishing on the thread that writes to the socket saves a thread hand-off between a change
and the broker (``benchmarks/bench_press.py``).
paho's callbacks run on that thread too and only note what they saw; ``_notes`` guards the
notes and is never held while calling paho. Requests that change the room post a message to
the room's loop and wait for it without holding a lock.

Failure is never fatal. A broker that is missing, unreachable, refuses the login or
fails the TLS handshake is one log line (repeats of the same problem are logged at
debug level) and paho keeps retrying with ``reconnect_delay_set(reconnect_min_s,
reconnect_max_s)``. Each new connection re-subscribes and republishes availability,
discovery, state and checks, so IT sees the current state as soon as the broker is
back. Requests that are oversized, malformed or for unknown actions get an error reply;
a flood beyond :data:`REQUEST_RATE` per second is dropped with a (rate-limited) log line.
Retained requests are ignored (they would be acted on again at every reconnect). The link
tells the broker its Maximum Packet Size (:data:`MAX_PACKET_BYTES`, MQTT 5), so larger
messages never reach the process.

The link speaks MQTT 5, so a broker that refuses a publish says so in its PUBACK (mosquitto 2.0:
"Not authorized" when its ACL denies the topic; under MQTT 3.1.1 it acknowledges and drops it,
and the client cannot tell). paho's PUBACK callback notes each refusal; the link's work after
that pass names the topic in one log line per topic and reason and keeps it in :attr:`MqttLink.refused`.

Personal data (DOMAIN D15): payloads are built field by field from named values (counts,
readiness, check results), never by passing the controller's state through, and log
lines name actions and sizes, never payload contents.
"""

from __future__ import annotations

import json
import logging
import math
import os
import socket
import ssl
import sys
import threading
import time
import uuid
from collections import deque
from datetime import datetime, timezone

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from kiosk.events import (ButtonHeld, ButtonPressed, ChecksFinished, ChecksStarted, ClockStepped, ConferenceAmended,
                          ConferencePurged, CountdownStarted, IdentifyRequested, PinLockout, QualityChanged,
                          ReadinessChanged, RoomRequest, SessionEnded, SessionStarted, StateChanged)
from kiosk.mqtt import discovery, topics
from kiosk.mqtt.topics import RoomTopics

log = logging.getLogger("kiosk.mqtt")

#: Version of the ``state`` and ``checks/<name>`` payloads.
SCHEMA = 1
#: Larger request payloads are refused (answered with an error; the payload is not kept).
MAX_REQUEST_BYTES = 4096
#: The largest MQTT packet the kiosk accepts (MQTT 5 Maximum Packet Size, sent when connecting): the broker
#: drops anything larger instead of sending it, so a 100 MB "request" never reaches the process.
MAX_PACKET_BYTES = 64 * 1024
#: Requests per second accepted (token bucket refill rate) and the burst allowed.
REQUEST_RATE = 10.0
REQUEST_BURST = 10
#: Events kept while the broker is away, sent when it is back (oldest dropped first).
EVENT_BACKLOG = 200
#: A request's ``transaction`` is echoed if it is a number or a string up to this long.
MAX_TRANSACTION_CHARS = 128
IDENTIFY_DEFAULT_S = 10.0
IDENTIFY_MAX_S = 300.0
#: Messages paho may hold while the connection is down (beyond it publishes fail at once).
MAX_QUEUED = 1000
#: Connections lost twice in a row sooner than this after they were made are reported with a hint about
#: the broker's ACL, and reconnected after FLAP_DELAY_S (or reconnect_max_s if smaller) instead of at once.
SOON_S = 5.0
FLAP_DELAY_S = 10.0

#: The bus events published on ``event``.
PUBLISHED_EVENTS = (ButtonPressed, ButtonHeld, ChecksStarted, ChecksFinished, ReadinessChanged, CountdownStarted,
                    SessionStarted, SessionEnded, StateChanged, IdentifyRequested, PinLockout, ClockStepped)


#: Bus events that change nothing in the ``state`` payload (no state message for them alone).
STATELESS_EVENTS = (ButtonPressed, ButtonHeld, ChecksStarted, IdentifyRequested, PinLockout, ClockStepped,
                    RoomRequest, ConferencePurged, ConferenceAmended)


# -- payloads: pure functions -------------------------------------------------------------

def iso(dt: datetime | None) -> str | None:
    """``dt`` in UTC, ISO 8601 with milliseconds (None stays None)."""
    return dt.astimezone(timezone.utc).isoformat(timespec="milliseconds") if dt is not None else None


def plain(value):
    """``value`` made JSON-safe: numpy scalars unwrapped, NaN and infinities as null, unknown types as text."""
    if value is None or isinstance(value, (bool, str, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        return plain(item())
    return str(value)


def dumps(payload) -> str:
    """Compact JSON of ``payload`` (after :func:`plain`)."""
    return json.dumps(plain(payload), separators=(",", ":"), allow_nan=False)


def state_payload(public: dict) -> dict:
    """The ``state`` message from :meth:`RoomController.public_state`, copying only named fields."""
    attendance = public.get("attendance") or {}
    return {
        "schema": SCHEMA,
        "room": public["room"],
        "state": public["state"],
        "ready": bool(public["ready"]),
        "checks": {name: {"status": c["status"], "reason": c["reason"]}
                   for name, c in (public.get("checks") or {}).items()},
        "start_at": public.get("start_at"),
        "seconds_to_start": public.get("seconds_to_start"),
        "attendance": {
            "in_person": int(attendance.get("in_person", 0)),
            "virtual": int(attendance.get("virtual", 0)),
            "quorate": bool(attendance.get("quorate", False)),
        },
        "checked_at": public.get("checked_at"),
        "version": public.get("version"),
        "calendar": _calendar_payload(public.get("calendar")),
    }


def _calendar_payload(health: dict | None) -> dict | None:
    """The calendar's health for ``state``: named fields only (never a booking's text)."""
    if not health:
        return None
    return {"source": health.get("source"), "stale": bool(health.get("stale")),
            "last_good_at": health.get("last_good_at"), "events_skipped": int(health.get("events_skipped") or 0),
            "error": health.get("error")}


def check_payload(result, checked_at: datetime | None, required: bool = True) -> dict:
    """The ``checks/<name>`` message for one :class:`~kiosk.checks.result.CheckResult`."""
    return {
        "schema": SCHEMA,
        "status": result.status.value,
        "reason": result.reason,
        "required": bool(required),
        "metrics": plain(dict(result.metrics)),
        "checked_at": checked_at.isoformat(timespec="seconds") if checked_at else None,
    }


class AlertPairs:
    """Pairs ``ready_lost`` (alert) with the ``ready_regained`` (recovery) that ends it by ``alert_id``."""

    def __init__(self):
        self.open_id: str | None = None
        self.since: datetime | None = None

    def lost(self, at: datetime) -> str:
        if self.open_id is None:
            self.open_id, self.since = uuid.uuid4().hex[:12], at
        return self.open_id

    def regained(self, at: datetime) -> tuple[str | None, float | None]:
        alert_id, since = self.open_id, self.since
        self.open_id = self.since = None
        return alert_id, (round((at - since).total_seconds(), 3) if since else None)


def event_payload(event, alerts: AlertPairs) -> dict | None:
    """The ``event`` message for a bus event, or None for events that are not published."""
    out = {"event": event.kind, "at": iso(event.at)}
    if isinstance(event, ChecksStarted):
        out["trigger"] = event.trigger
    elif isinstance(event, ChecksFinished):
        cycle = event.cycle
        out.update(ready=bool(cycle.ready), failing=list(cycle.failing()), duration_s=round(cycle.duration_s, 3))
    elif isinstance(event, ReadinessChanged):
        if event.ready:
            alert_id, down_s = alerts.regained(event.at)
            out.update(event="ready_regained", recovery=True, alert_id=alert_id, down_s=down_s)
        else:
            out.update(event="ready_lost", alert=True, alert_id=alerts.lost(event.at), failing=list(event.failing))
    elif isinstance(event, CountdownStarted):
        out["start_at"] = event.start_at.isoformat(timespec="seconds") if event.start_at else None
    elif isinstance(event, StateChanged):
        out.update(old=event.old, new=event.new, reason=event.reason)
    elif isinstance(event, IdentifyRequested):
        out["seconds"] = event.seconds
    elif isinstance(event, PinLockout):  # which scope and how long: never the PIN or the address
        out.update(scope=event.scope, wait_s=round(event.wait_s, 3))
    elif isinstance(event, ClockStepped):
        out["step_s"] = round(event.step_s, 3)
    elif not isinstance(event, PUBLISHED_EVENTS):
        return None
    return out


def response_payload(status: str, data=None, error: str | None = None, transaction=None) -> dict:
    """A reply on ``response/<action>``."""
    return {"status": status, "data": data, "error": error, "transaction": transaction}


class TokenBucket:
    """Allows ``rate`` actions a second on average and bursts of ``burst``."""

    def __init__(self, rate: float, burst: int, clock=time.monotonic):
        self.rate, self.burst, self._clock = rate, float(burst), clock
        self._tokens, self._last = float(burst), clock()
        self._lock = threading.Lock()

    def take(self) -> bool:
        """Use one token if there is one."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            return False


class RequestError(Exception):
    """A request that gets an error reply; the message is sent to the requester."""


def _finite_number(value) -> bool:
    """True for an int (of any size: JSON allows them) or a finite float, not for a bool."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or isinstance(value, float) and math.isfinite(value)


def describe_connect_error(exc: BaseException | None, host: str, port: int, tls: bool = False) -> tuple[int, str]:
    """A log level and a line saying why connecting to the broker failed, with what to check.

    ``tls`` says the connection was made with TLS: a connection the broker then drops was
    refused in the handshake (typically a port that does not speak TLS), not unreachable.
    """
    where = f"{host}:{port}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return logging.ERROR, (f"MQTT broker {where}: TLS certificate not accepted: {exc.verify_message} "
                               "(check [mqtt] tls_ca, the broker's certificate, its host name and expiry date)")
    if isinstance(exc, ssl.SSLError):
        return logging.ERROR, (f"MQTT broker {where}: TLS handshake failed: {exc.reason or exc} "
                               "(is it a TLS port? check [mqtt] tls_ca, tls_cert, tls_key)")
    if tls and isinstance(exc, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)):
        return logging.ERROR, (f"MQTT broker {where} closed the connection during the TLS handshake "
                               "(is it a TLS port? check [mqtt] port and tls_ca)")
    if isinstance(exc, socket.gaierror):
        return logging.WARNING, f"MQTT broker host name {host!r} does not resolve ({exc.strerror})"
    if isinstance(exc, ConnectionRefusedError):
        return logging.WARNING, f"MQTT broker {where} is not reachable (connection refused)"
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return logging.WARNING, f"MQTT broker {where} is not reachable (no answer)"
    if isinstance(exc, OSError):
        return logging.WARNING, f"MQTT broker {where} is not reachable ({exc.strerror or exc})"
    return logging.WARNING, f"MQTT broker {where}: connection failed ({exc or 'unknown reason'})"


def _read_password(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.readline().rstrip("\r\n")
    except OSError as exc:
        raise ValueError(f"cannot read [mqtt] password_file {path!r}: {exc.strerror}") from None


class _Client(mqtt.Client):
    """paho's client whose network thread also runs the link's work after each pass of its loop."""

    def __init__(self, after_pass, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._after_pass = after_pass

    def loop_misc(self) -> MQTTErrorCode:
        """paho's own housekeeping (keepalive), then the link's work; paho calls it at the end of every pass."""
        rc = super().loop_misc()
        if rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
            self._after_pass()
        return rc

    def flush(self) -> None:
        """Write what is queued now. Only on the network thread, the one writer of the socket (paho
        writes the same way when it has no thread of its own)."""
        if self.socket() is not None:
            self.loop_write()

    def wake(self) -> None:
        """Break the network thread out of ``select()`` now, as paho's own ``publish()`` does (a byte on its
        socket pair; paho 2's private attribute, hence the pin below 3 in setup.py)."""
        sock = self._sockpairW
        if sock is not None:
            try:
                sock.send(b"0")
            except OSError:  # full (already woken) or closed (stopping)
                pass


# -- the link -----------------------------------------------------------------------------

class MqttLink:
    """Publishes one room's state to the broker and answers IT's requests.

    ``start()`` never raises for broker trouble; ``stop()`` says ``offline`` and closes.
    ``model`` is the device model shown in Home Assistant (default: the board's model).
    ``quality`` (a :class:`~kiosk.quality.service.QualityService`, optional) gives the monthly figures.
    """

    def __init__(self, cfg, controller, *, model: str | None = None, quality=None):
        self.cfg = cfg
        self.settings = cfg.mqtt
        self.controller = controller
        self.topics = RoomTopics(cfg.mqtt.prefix, cfg.room.id)
        self.client_id = cfg.mqtt.client_id or f"kiosk-{cfg.room.id}"
        self.broker = f"{cfg.mqtt.host}:{cfg.mqtt.port}"
        self.model = model
        self.client: mqtt.Client | None = None
        self._ha_status = topics.ha_status(cfg.mqtt.discovery_prefix)
        self._notes = threading.Lock()  # guards the notes below: the wants, events, requests, refusals
        self._events: deque = deque(maxlen=EVENT_BACKLOG)
        self._requests: deque = deque(maxlen=REQUEST_BURST * 2)
        self._want_state = self._want_checks = self._want_discovery = self._want_online = False
        #: The state goes out again even if the room's revision has not moved (a connection, the heartbeat).
        self._force_state = False
        #: The last state message published: one per change, however many events the change made and however
        #: the network thread's passes fall between them.
        self._published_state: str | None = None
        #: (snapshot, its state message): the pass compares and then publishes the same text, made once.
        self._state_made: tuple | None = None
        self._connected = False
        self._stopping = False
        self._next_beat = math.inf
        self._woken = False  # the network thread was woken and has not looked at the notes yet
        self._unsubscribe = None
        self._bucket = TokenBucket(REQUEST_RATE, REQUEST_BURST)
        self._dropped = 0
        self._drop_logged = -math.inf
        self._alerts = AlertPairs()
        self._problem: str | None = None
        self._connected_at = 0.0
        self._quick_losses = 0
        #: A connection attempt got as far as an open socket, and whether the broker then answered it (CONNACK).
        self._socket_opened = self._answered = False
        #: How many times a connection was made (1 after the first).
        self.connections = 0
        #: Topic -> the broker's reason, for publishes it refused (MQTT 5 PUBACK reason codes).
        self.refused: dict[str, str] = {}
        #: Message id -> topic of recent publishes (network thread only), to name a refused one's topic.
        self._inflight: dict[int, str] = {}
        #: (message id, reason) of refused publishes, from paho's callback to the link's work (same thread, outside the callback).
        self._refusals: list[tuple[int, str]] = []
        self._refusals_logged: set[tuple[str, str]] = set()
        self.quality = quality
        self._quality_months: set[str] = set()  # months to publish; guarded by _notes like the other wants
        self._quality_all = False

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True while connected to the broker."""
        return self._connected

    @property
    def running(self) -> bool:
        """True between a successful :meth:`start` and :meth:`stop`."""
        return self.client is not None

    def start(self) -> bool:
        """Connect in the background. Returns False (after one log line) when MQTT is off or misconfigured."""
        s = self.settings
        if not s.enabled:
            log.info("MQTT is off ([mqtt] enabled = false): IT will not see this room")
            return False
        if not s.host:
            log.warning("MQTT broker not configured ([mqtt] host is empty): IT will not see this room")
            return False
        try:
            client = self._make_client()
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            log.error("MQTT not started: %s. The kiosk runs without it.", exc)
            return False
        self.client = client
        self._stopping = False
        self._next_beat = time.monotonic() + s.heartbeat_s
        self._unsubscribe = self.controller.bus.subscribe(self._on_bus)
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        connect = Properties(PacketTypes.CONNECT)
        connect.MaximumPacketSize = MAX_PACKET_BYTES
        try:
            client.connect_async(s.host, s.port, s.keepalive, clean_start=True, properties=connect)
        except ValueError as exc:
            log.error("MQTT not started: %s", exc)
            self.stop()
            return False
        client.loop_start()
        log.info("MQTT: connecting to %s%s as %s; topics under %s/", self.broker,
                 " (TLS)" if s.tls_ca or s.tls_cert else "", self.client_id, self.topics.base)
        return True

    def _make_client(self) -> mqtt.Client:
        s = self.settings
        # MQTT 5: the broker says when it refuses a publish (PUBACK reason codes); under 3.1.1 mosquitto 2.0
        # acknowledges a publish its ACL denies and drops it, and the kiosk could not tell.
        client = _Client(self._after_pass, CallbackAPIVersion.VERSION2, client_id=self.client_id,
                         protocol=mqtt.MQTTv5)
        client.will_set(self.topics.availability, topics.OFFLINE, qos=1, retain=True)
        password = _read_password(s.password_file) if s.password_file else (s.password or None)
        if s.username:
            client.username_pw_set(s.username, password)
        elif password:
            log.warning("MQTT: a password is set but no [mqtt] username: the password is not used")
        if s.tls_ca or s.tls_cert:
            for key in ("tls_ca", "tls_cert", "tls_key"):
                path = getattr(s, key)
                if path and not os.path.isfile(path):
                    raise ValueError(f"[mqtt] {key} {path!r} does not exist")
            try:
                client.tls_set(ca_certs=s.tls_ca or None, certfile=s.tls_cert or None, keyfile=s.tls_key or None,
                               cert_reqs=ssl.CERT_REQUIRED)
            except ssl.SSLError as exc:
                raise ValueError(f"TLS files not usable ({exc.reason or exc}): check [mqtt] tls_ca, tls_cert, "
                                 "tls_key") from None
        client.reconnect_delay_set(s.reconnect_min_s, s.reconnect_max_s)
        client.max_queued_messages_set(MAX_QUEUED)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_socket_open = self._on_socket_open
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        return client

    def stop(self, timeout: float = 3.0) -> None:
        """Publish ``offline``, disconnect and stop the threads. Safe to call twice."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        with self._notes:
            self._stopping = True  # the network thread publishes nothing more of its own
        client, self.client = self.client, None
        if client is None:
            return
        if self._connected:
            try:
                info = client.publish(self.topics.availability, topics.OFFLINE, qos=1, retain=True)
                info.wait_for_publish(timeout=min(timeout, 2.0))
            except (RuntimeError, ValueError):
                pass
        client.disconnect()
        client.loop_stop()
        self._connected = False
        log.info("MQTT: disconnected from %s", self.broker)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    # -- paho callbacks (network thread): note and hand over, nothing slow --------------------

    def _report(self, level: int, text: str) -> None:
        """Log a connection problem once; the same problem again only at debug level."""
        if text != self._problem:
            self._problem = text
            log.log(level, "%s. The kiosk carries on and retries in the background.", text)
        else:
            log.debug("%s (still)", text)

    def _on_connect_fail(self, client, userdata) -> None:
        # paho calls this inside its `except OSError:` block, so the exception is still current.
        s = self.settings
        level, text = describe_connect_error(sys.exception(), s.host, s.port, tls=bool(s.tls_ca or s.tls_cert))
        self._report(level, text)

    def _on_socket_open(self, client, userdata, sock) -> None:
        self._socket_opened, self._answered = True, False

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        self._answered = True
        if reason_code.is_failure:
            hint = ""
            if reason_code.value in (4, 5, 134, 135):  # bad user name or password / not authorised
                hint = " (check [mqtt] username, password or password_file, and the broker's ACL)"
            self._report(logging.ERROR, f"MQTT broker {self.broker} refused the connection: {reason_code}{hint}")
            return
        # Retain As Published: a retained request (or the empty retained message that clears one) keeps its
        # flag when it arrives live, so it is ignored now as it would be at the next connection.
        filters = [(self.topics.requests, SubscribeOptions(qos=1, retainAsPublished=True))]
        if self.settings.discovery:
            filters.append((self._ha_status, 1))
        client.subscribe(filters)
        client.publish(self.topics.availability, topics.ONLINE, qos=1, retain=True)
        with self._notes:
            self._connected = True
            self._connected_at = time.monotonic()
            self._want_state = self._force_state = self._want_checks = True
            self._want_discovery = self.settings.discovery
            self._quality_all = self.quality is not None
        self.connections += 1
        log.log(logging.DEBUG if self._quick_losses >= 2 else logging.INFO,
                "MQTT connected to %s%s", self.broker, " again" if self.connections > 1 else "")

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        with self._notes:
            was, self._connected = self._connected, False
        # paho may report one loss more than once: only the first report of an attempt counts.
        opened, self._socket_opened = self._socket_opened, False
        if opened and not self._answered and not was and not self._stopping:
            # Dropped before the broker said yes or no: a TLS listener hanging up on plain MQTT, or a
            # broker that turns this client away. Without this line the kiosk would retry in silence.
            tls = bool(self.settings.tls_ca or self.settings.tls_cert)
            hint = "the broker's log says why" if tls else "is it a TLS port? Then set [mqtt] tls_ca"
            self._report(logging.WARNING, f"MQTT broker {self.broker} closed the connection before accepting it "
                         f"({reason_code}; {hint})")
        if not was or self._stopping:
            return
        s = self.settings
        quick = time.monotonic() - self._connected_at < SOON_S
        self._quick_losses = self._quick_losses + 1 if quick else 0
        text = f"MQTT connection to {self.broker} lost ({reason_code})"
        if self._quick_losses >= 2:
            # mosquitto closes the connection of a client that publishes where its ACL forbids: reconnecting
            # at once would only repeat that, so wait longer and say what to look at.
            text += (f" again within {SOON_S:g} s of connecting: does the broker's ACL deny one of this kiosk's "
                     f"topics ({self.topics.base}/..., or discovery under {s.discovery_prefix}/: then set "
                     "[mqtt] discovery = false)?")
            client.reconnect_delay_set(min(max(s.reconnect_min_s, FLAP_DELAY_S), s.reconnect_max_s),
                                       s.reconnect_max_s)
        else:
            self._problem = None  # a new loss is always worth a line
            client.reconnect_delay_set(s.reconnect_min_s, s.reconnect_max_s)
        self._report(logging.WARNING, text)

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        # paho holds its callback lock here: note it for the link's work after this pass, look nothing up.
        if reason_code.is_failure:  # "No matching subscribers" (16) is a success
            with self._notes:
                self._refusals.append((mid, str(reason_code)))

    def note_refused(self, topic: str | None, reason: str) -> None:
        """A publish the broker refused: kept in :attr:`refused`; one log line per reason and first topic level
        (the 14 discovery configs an ACL denies together are one line, not 14)."""
        topic = topic or "(unknown topic)"
        key = (topic.split("/", 1)[0], reason)
        if key not in self._refusals_logged:
            self._refusals_logged.add(key)
            hint = ""
            if "authori" in reason.lower():
                hint = (" (the broker's ACL denies it: see firmware_config/mosquitto/acl"
                        + ("; or set [mqtt] discovery = false" if key[0] == self.settings.discovery_prefix.split("/")[0]
                           else "") + ")")
            log.warning("MQTT broker %s refused a publish to %s%s: %s%s", self.broker, topic,
                        f" (and any more under {key[0]}/ are counted, not logged)", reason, hint)
        self.refused[topic] = reason

    def _on_message(self, client, userdata, msg) -> None:
        try:
            try:
                topic = msg.topic
            except UnicodeDecodeError:  # MQTT requires UTF-8; a broker that does not check could pass it on
                topic = None
            if topic == self._ha_status:
                if msg.payload == topics.ONLINE.encode():
                    log.info("Home Assistant is online: sending discovery again")
                    with self._notes:
                        self._want_discovery = self._want_state = self._force_state = self._want_checks = True
                return
            # Before parsing: a flood of malformed topics is limited (and logged) like one of requests.
            if not self._bucket.take():
                self._note_dropped()
                return
            if topic is None:
                log.info("MQTT: ignored a message on a topic that is not UTF-8")
                return
            try:
                parsed = topics.parse(topic, self.settings.prefix)
            except ValueError:
                log.info("MQTT: ignored a message on a malformed topic (%d characters)", len(topic))
                return
            if parsed.room != self.cfg.room.id or parsed.kind != topics.REQUEST:
                return
            if msg.retain:  # left on the broker by someone: acting on it at every reconnect would repeat it
                log.info("MQTT: ignored a retained request %s (requests are never retained)", parsed.name)
                return
            size = len(msg.payload)
            # An oversized payload is not kept, only its size (the error reply says it): no lasting memory.
            payload = bytes(msg.payload) if size <= MAX_REQUEST_BYTES else size
            with self._notes:
                self._requests.append((parsed.name, payload))
        except Exception:  # a bad message must never stop paho's thread
            log.exception("MQTT: failed to handle an incoming message")

    def _note_dropped(self) -> None:
        self._dropped += 1
        now = time.monotonic()
        if now - self._drop_logged >= 10.0:
            log.warning("MQTT requests arrive faster than %g a second: dropped %d", REQUEST_RATE, self._dropped)
            self._drop_logged, self._dropped = now, 0

    # -- the bus (controller's thread): note and wake, nothing else ----------------------

    def _on_bus(self, event) -> None:
        with self._notes:
            if isinstance(event, PUBLISHED_EVENTS):
                self._events.append(event)
            if not isinstance(event, STATELESS_EVENTS):
                self._want_state = True
            if isinstance(event, ChecksFinished):
                self._want_checks = True
            if isinstance(event, QualityChanged) and self.quality is not None:
                self._quality_months.add(event.month)
            woken, self._woken = self._woken, True
        client = self.client
        if client is not None and not woken:  # once per burst: the events of one change come together
            client.wake()

    # -- the link's work (paho's network thread, after each pass of its loop) ----------------------

    def _take_work(self) -> dict | None:
        """What to do now, taken under ``_notes`` (the wants are cleared); None when there is nothing."""
        with self._notes:
            self._woken = False
            if self._stopping:
                return None
            if time.monotonic() >= self._next_beat:
                self._want_state = self._force_state = self._want_online = True
            connected = self._connected
            work = {"requests": list(self._requests), "refusals": self._refusals, "connected": connected,
                    "state": self._want_state, "force_state": self._force_state, "checks": self._want_checks,
                    "discovery": self._want_discovery,
                    "online": self._want_online, "events": [], "quality": None}
            self._requests.clear()
            self._refusals = []
            self._want_state = self._force_state = self._want_checks = self._want_discovery = False
            self._want_online = False
            if connected:
                work["events"] = list(self._events)
                self._events.clear()
                work["quality"] = self._take_quality()
        return work

    def _after_pass(self) -> None:
        """Publish what changed and answer requests; paho calls it after every pass of its loop."""
        work = self._take_work()
        if work is None:
            return
        try:
            for mid, reason in work["refusals"]:
                self.note_refused(self._inflight.get(mid), reason)
            for action, payload in work["requests"]:
                self._handle_request(action, payload)
            if not work["connected"]:
                return  # nothing is lost: on_connect asks for everything again
            if work["discovery"]:
                self._publish_discovery()
            if work["online"]:  # with the heartbeat: a retained "offline" planted by someone does not stay
                self._publish(self.topics.availability, topics.ONLINE, retain=True)
            if work["state"]:  # first, and on the wire at once: what most readers wait for
                self._publish_state_once(work["force_state"])
            for event in work["events"]:
                payload = event_payload(event, self._alerts)
                if payload is not None:
                    self._publish(self.topics.event, dumps(payload))
            if work["checks"]:
                self._publish_checks()
            if work["quality"] is not None:
                self._publish_quality(work["quality"])
        except Exception:  # never paho's thread
            log.exception("MQTT: publishing failed")

    def _publish(self, topic: str, payload: str, retain: bool = False) -> None:
        client = self.client
        if client is None:
            return
        info = client.publish(topic, payload, qos=1, retain=retain)
        self._inflight[info.mid] = topic
        if len(self._inflight) > MAX_QUEUED:  # the oldest are long acknowledged
            self._inflight.pop(next(iter(self._inflight)))
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            log.debug("MQTT publish not queued: %s", mqtt.error_string(info.rc))

    def _publish_state_once(self, force: bool) -> None:
        """The state, if it says something the last one sent did not (or ``force``), written at once.

        Judged by the message itself, read from one snapshot: the room's revision also moves for what the message
        does not carry (the lights, a cycle's finer times), and the events of one change may fall on two passes.
        """
        client = self.client
        if client is None:  # stopping
            return
        if not force and self._state_text() == self._published_state:
            return
        self._next_beat = time.monotonic() + self.settings.heartbeat_s
        self._published_state = self.publish_state()
        client.flush()

    def _state_text(self) -> str:
        """The state message of the room's current snapshot, made once per snapshot (it is never changed)."""
        snapshot = self.controller.snapshot
        made = self._state_made
        if made is None or made[0] is not snapshot:
            made = self._state_made = (snapshot, dumps(state_payload(dict(snapshot.public))))
        return made[1]

    def publish_state(self) -> str:
        """Publish the retained state now (the link does this on every change); returns the message."""
        text = self._state_text()
        self._publish(self.topics.state, text, retain=True)
        return text

    def _publish_checks(self) -> None:
        cycle = self.controller.last_cycle
        if cycle is None:
            return
        for name, result in cycle.results.items():
            payload = check_payload(result, cycle.checked_at, cycle.required.get(name, True))
            self._publish(self.topics.check(name), dumps(payload), retain=True)

    # -- quality figures (network thread) ----------------------------------------------------

    def _take_quality(self) -> list[str] | None:
        """The months to publish now (``[]`` meaning every month kept), or None; the caller holds ``_notes``."""
        if self._quality_all:
            self._quality_all = False
            self._quality_months.clear()
            return []
        if self._quality_months:
            months = sorted(self._quality_months)
            self._quality_months.clear()
            return months
        return None

    def _publish_quality(self, months: list[str]) -> None:
        """Publish the retained figures of ``months`` (all months kept when empty)."""
        try:
            payloads = self.quality.payloads(months or None)
        except Exception as exc:  # storage trouble: the figures come again with the next conference or connection
            log.warning("MQTT: quality figures not published (%s)", type(exc).__name__)
            return
        for month, payload in payloads.items():
            self._publish(self.topics.quality(month), dumps(payload), retain=True)

    def _check_labels(self) -> dict[str, str]:
        return {spec.name: spec.label for spec in self.controller.runner.specs}

    def _publish_discovery(self) -> None:
        if self.model is None:
            from kiosk import platform

            self.model = platform.board_model() or discovery.DEFAULT_MODEL
        for topic, payload in discovery.messages(self.cfg, self._check_labels(), self.model):
            self._publish(topic, payload, retain=True)

    # -- requests (network thread) --------------------------------------------------------

    def _handle_request(self, action: str, raw: bytes | int) -> None:
        """Answer one request; ``raw`` is its payload, or only its size when it was too large to keep."""
        transaction = None
        try:
            if isinstance(raw, int) or len(raw) > MAX_REQUEST_BYTES:
                size = raw if isinstance(raw, int) else len(raw)
                raise RequestError(f"payload too large ({size} bytes; the limit is {MAX_REQUEST_BYTES})")
            try:
                text = raw.decode("utf-8")
                body = json.loads(text) if text.strip() else {}
            except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: nested too deeply
                raise RequestError("payload is not valid JSON") from None
            if not isinstance(body, dict):
                raise RequestError("payload must be a JSON object")
            transaction = body.get("transaction")
            if not (transaction is None or isinstance(transaction, str) and len(transaction) <= MAX_TRANSACTION_CHARS
                    or _finite_number(transaction)):
                transaction = None
                raise RequestError(f"transaction must be a number or a string of at most "
                                   f"{MAX_TRANSACTION_CHARS} characters")
            if action not in topics.ACTIONS:
                raise RequestError(f"unknown action; known actions: {', '.join(topics.ACTIONS)}")
            allowed = {"transaction"} | ({"seconds"} if action == "identify" else set())
            if set(body) - allowed:
                raise RequestError(f"unexpected keys in the payload (allowed: {', '.join(sorted(allowed))})")
            data = getattr(self, f"_do_{action}")(body)
        except RequestError as exc:
            log.info("MQTT request %s refused: %s", action if action in topics.ACTIONS else "(unknown action)", exc)
            self._publish(self.topics.response(action), dumps(response_payload("error", None, str(exc), transaction)))
            return
        except Exception as exc:  # a bug must not cost the link its batch of events and state
            # Only the exception's type: its text could quote the request.
            log.error("MQTT request %s failed: %s", action if action in topics.ACTIONS else "(unknown action)",
                      type(exc).__name__)
            self._publish(self.topics.response(action),
                          dumps(response_payload("error", None, "the kiosk could not handle this request", None)))
            return
        log.info("MQTT request %s done", action)
        self._publish(self.topics.response(action), dumps(response_payload("ok", data, None, transaction)))

    def _do_recheck(self, body: dict) -> dict:
        self.controller.request_check("mqtt")
        return {"queued": True}

    def _do_identify(self, body: dict) -> dict:
        seconds = body.get("seconds", IDENTIFY_DEFAULT_S)
        if not _finite_number(seconds) or not 1 <= seconds <= IDENTIFY_MAX_S:
            raise RequestError(f"seconds must be a number from 1 to {IDENTIFY_MAX_S:g}")
        self.controller.identify(float(seconds))
        return {"seconds": seconds}

    def _do_state(self, body: dict) -> dict:
        return state_payload(self.controller.public_state())
