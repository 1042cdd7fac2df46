"""``kiosk fleet``: IT's live view of every room on a broker, built only from MQTT.

It subscribes to ``<prefix>/+/availability`` and ``<prefix>/+/state`` (see
:mod:`kiosk.mqtt.topics`) and shows one line a room: online or offline, state,
readiness, the checks that are not passing with their reasons, time to the start and
when the room was last heard from (its last live message; from a retained message only
its last check time is known). Rooms with a problem come first; offline rooms are red
and rooms that are not ready yellow when the output is a terminal.

The parts are separate so they can be tested and benchmarked on their own:

- :class:`Fleet` is the model: ``update(topic, payload)`` for each message, ``rows()``
  for the table (no MQTT, no clock of its own: ``now`` can be injected);
- :func:`render` turns rows into text;
- :class:`FleetClient` feeds a Fleet from a broker;
- :func:`run` is the command: redraw every second, or ``once`` print one table and exit.

Exit codes of ``--once``: 0 every room online and ready, 1 a room offline or not ready
(or none found), 3 broker unreachable or login refused.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

from kiosk.mqtt import topics

EXIT_ALL_READY, EXIT_PROBLEMS, EXIT_UNREACHABLE = 0, 1, 3
#: ``--once``: stop waiting for retained messages after this much quiet.
QUIET_S = 0.3

_RED, _YELLOW, _BOLD, _RESET = "\x1b[31m", "\x1b[33m", "\x1b[1m", "\x1b[0m"


@dataclass
class RoomView:
    """What the fleet knows of one room."""

    room: str
    online: bool | None = None
    state: dict | None = None
    start_ts: float | None = None
    state_received: float | None = None
    last_seen: float | None = None


@dataclass(frozen=True)
class Row:
    """One line of the table. ``failing`` holds (check, status, reason) for every check not passing."""

    room: str
    online: bool | None
    state: str | None
    ready: bool | None
    failing: tuple[tuple[str, str, str], ...] = ()
    seconds_to_start: int | None = None
    last_seen_s: float | None = None

    @property
    def problem(self) -> bool:
        return self.online is False or self.ready is False


@dataclass
class Fleet:
    """Every room seen under ``prefix``, updated message by message."""

    prefix: str = topics.DEFAULT_PREFIX
    clock: object = time.time
    rooms: dict[str, RoomView] = field(default_factory=dict)
    #: Messages that were not understood (malformed topic or payload); they are skipped.
    ignored: int = 0
    #: Messages applied.
    updates: int = 0

    def __post_init__(self):
        topics.check_prefix(self.prefix)

    def update(self, topic: str, payload: bytes | str, now: float | None = None, retained: bool = False) -> str | None:
        """Apply one message; returns the room it updated, or None when it was ignored.

        A retained message was stored by the broker earlier, so it says nothing about when the room was last
        heard from: for those, "last seen" is the state's ``checked_at`` (the room was alive then) at best.
        """
        now = self.clock() if now is None else now
        try:
            parsed = topics.parse(topic, self.prefix)
        except ValueError:
            self.ignored += 1
            return None
        if isinstance(payload, (bytes, bytearray, memoryview)):
            try:
                payload = bytes(payload).decode("utf-8")
            except UnicodeDecodeError:
                self.ignored += 1
                return None
        if parsed.kind == topics.AVAILABILITY:
            return self._availability(parsed.room, payload, now, retained)
        if parsed.kind == topics.STATE:
            return self._state(parsed.room, payload, now, retained)
        self.ignored += 1
        return None

    def _view(self, room: str, seen: float | None) -> RoomView:
        view = self.rooms.get(room)
        if view is None:
            view = self.rooms[room] = RoomView(room)
        if seen is not None and (view.last_seen is None or seen > view.last_seen):
            view.last_seen = seen
        return view

    def _availability(self, room, payload, now, retained):
        if payload == "":  # retained message cleared
            self._forget(room, "online")
            return room
        if payload not in (topics.ONLINE, topics.OFFLINE):
            self.ignored += 1
            return None
        view = self._view(room, None if retained else now)
        view.online = payload == topics.ONLINE
        self.updates += 1
        return room

    def _state(self, room, payload, now, retained):
        if payload == "":
            self._forget(room, "state")
            return room
        try:
            state = json.loads(payload)
        except ValueError:
            self.ignored += 1
            return None
        if not isinstance(state, dict) or not isinstance(state.get("state"), str):
            self.ignored += 1
            return None
        seen = now
        if retained:
            seen = None
            if isinstance(state.get("checked_at"), str):
                try:
                    seen = min(now, datetime.fromisoformat(state["checked_at"]).timestamp())
                except ValueError:
                    pass
        view = self._view(room, seen)
        view.state, view.state_received = state, now
        view.start_ts = None
        if isinstance(state.get("start_at"), str):
            try:
                view.start_ts = datetime.fromisoformat(state["start_at"]).timestamp()
            except ValueError:
                pass
        self.updates += 1
        return room

    def _forget(self, room, what):
        view = self.rooms.get(room)
        if view is None:
            return
        if what == "online":
            view.online = None
        else:
            view.state = view.state_received = view.start_ts = None
        if view.online is None and view.state is None:
            del self.rooms[room]

    def rows(self, now: float | None = None, problems_first: bool = True) -> list[Row]:
        """The table: rooms offline or not ready first (if ``problems_first``), then by room id."""
        now = self.clock() if now is None else now
        out = [self._row(view, now) for view in self.rooms.values()]
        out.sort(key=lambda r: ((0 if r.online is False else 1 if r.ready is False else 2) if problems_first else 0,
                                r.room))
        return out

    @staticmethod
    def _row(view: RoomView, now: float) -> Row:
        state = view.state or {}
        checks = state.get("checks") if isinstance(state.get("checks"), dict) else {}
        failing = tuple((str(name), str(c.get("status", "?")), str(c.get("reason", "")))
                        for name, c in checks.items() if isinstance(c, dict) and c.get("status") != "pass")
        to_start = None
        if view.start_ts is not None:
            to_start = math.ceil(view.start_ts - now)
        elif isinstance(state.get("seconds_to_start"), (int, float)) and view.state_received is not None:
            to_start = int(state["seconds_to_start"] - (now - view.state_received))
        ready = state.get("ready") if isinstance(state.get("ready"), bool) else None
        return Row(view.room, view.online, state.get("state"), ready, failing, to_start,
                   None if view.last_seen is None else max(0.0, now - view.last_seen))


# -- rendering --------------------------------------------------------------------------------

def _duration(seconds: int | None) -> str:
    if seconds is None:
        return "-"
    sign = "+" if seconds < 0 else ""  # started that long ago
    s = abs(int(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{sign}{h}:{m:02d}:{s:02d}" if h else f"{sign}{m:02d}:{s:02d}"


def _ago(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{int(seconds)}s ago"
    if seconds < 3600:
        return f"{int(seconds // 60)}m ago"
    return f"{int(seconds // 3600)}h ago"


COLUMNS = ("ROOM", "LINK", "STATE", "READY", "STARTS IN", "LAST SEEN", "NOT PASSING")


def _cells(row: Row) -> list[str]:
    link = {True: "online", False: "OFFLINE", None: "?"}[row.online]
    ready = {True: "yes", False: "NO", None: "-"}[row.ready]
    failing = "; ".join(f"{name} {status}: {reason}" for name, status, reason in row.failing) or "-"
    return [row.room, link, row.state or "-", ready, _duration(row.seconds_to_start), _ago(row.last_seen_s), failing]


def render(rows: list[Row], colour: bool = False, width: int | None = None, title: str = "") -> str:
    """The table as text; ``colour`` adds ANSI colours, ``width`` cuts lines to the terminal's width."""
    online = sum(r.online is True for r in rows)
    offline = sum(r.online is False for r in rows)
    not_ready = sum(r.ready is False and r.online is not False for r in rows)
    summary = f"{len(rows)} rooms: {online} online, {offline} offline, {not_ready} not ready"
    lines = [f"{title}  {summary}" if title else summary]
    table = [list(COLUMNS)] + [_cells(r) for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS) - 1)]

    def fmt(cells):
        text = "  ".join(c.ljust(w) for c, w in zip(cells, widths)) + "  " + cells[-1]
        return text[:width] if width else text

    lines.append(fmt(table[0]))
    for row, cells in zip(rows, table[1:]):
        text = fmt(cells)
        if colour and row.online is False:
            text = f"{_BOLD}{_RED}{text}{_RESET}"
        elif colour and row.ready is False:
            text = f"{_YELLOW}{text}{_RESET}"
        lines.append(text)
    if not rows:
        lines.append("(no rooms yet)")
    return "\n".join(lines) + "\n"


# -- MQTT ---------------------------------------------------------------------------------------

def parse_broker(text: str, default_port: int = 1883) -> tuple[str, int]:
    """``HOST``, ``HOST:PORT`` or ``[IPv6]:PORT`` as (host, port); ValueError when malformed."""
    host, port = text, default_port
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError(f"{text!r}: missing ']'")
        host, rest = text[1:end], text[end + 1:]
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"{text!r} is not HOST[:PORT]")
            port = rest[1:]
    elif text.count(":") == 1:
        host, port = text.split(":")
    try:
        port = int(port)
    except ValueError:
        raise ValueError(f"{text!r}: the port must be a number") from None
    if not host or not 0 < port < 65536:
        raise ValueError(f"{text!r} is not HOST[:PORT]")
    return host, port


def broker_client(*, username: str | None = None, password: str | None = None, tls_ca: str | None = None,
                  client_id: str = ""):
    """A paho MQTT client (callback API 2) for IT's commands, logging in with ``username`` and
    ``password`` when given and over TLS checked against ``tls_ca`` when given (OSError for a
    missing or unreadable certificate)."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
    if username:
        client.username_pw_set(username, password)
    if tls_ca:
        client.tls_set(ca_certs=tls_ca)
    return client


class FleetClient:
    """Feeds a :class:`Fleet` from a broker (paho network thread); read it under :attr:`lock`."""

    def __init__(self, fleet: Fleet, host: str, port: int, *, username: str | None = None,
                 password: str | None = None, tls_ca: str | None = None, client_id: str = ""):
        self.fleet, self.host, self.port = fleet, host, port
        self.lock = threading.Lock()
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self.refused: str | None = None
        self.last_message = time.monotonic()
        self.client = broker_client(username=username, password=password, tls_ca=tls_ca, client_id=client_id)
        self.client.reconnect_delay_set(0.5, 10)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = lambda *a: self.connected.clear()
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            self.refused = str(reason_code)
            return
        self.refused = None
        self.connected.set()
        client.subscribe([(f, 1) for f in topics.fleet_filters(self.fleet.prefix)])

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        self.last_message = time.monotonic()
        self.subscribed.set()

    def _on_message(self, client, userdata, msg):
        with self.lock:
            self.fleet.update(msg.topic, msg.payload, retained=bool(msg.retain))
        self.last_message = time.monotonic()

    def start(self) -> None:
        """Connect (raises OSError, e.g. ssl.SSLError, when the broker cannot be reached) and start receiving."""
        self.client.connect(self.host, self.port, 30)
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def rows(self, now: float | None = None) -> list[Row]:
        with self.lock:
            return self.fleet.rows(now)


def run(broker: str = "localhost", prefix: str = topics.DEFAULT_PREFIX, once: bool = False, *,
        username: str | None = None, password: str | None = None, tls_ca: str | None = None,
        wait_s: float = 2.0, interval_s: float = 1.0, out=None) -> int:
    """The ``kiosk fleet`` command. Returns the exit code."""
    out = out or sys.stdout
    err = sys.stderr
    try:
        host, port = parse_broker(broker, 8883 if tls_ca else 1883)
        fleet = Fleet(prefix)
        client = FleetClient(fleet, host, port, username=username, password=password, tls_ca=tls_ca)
    except ValueError as exc:  # a bad --broker or --prefix
        print(f"kiosk fleet: {exc}", file=err)
        return 2
    except OSError as exc:  # a --tls-ca that is missing or not a certificate (ssl.SSLError is an OSError)
        print(f"kiosk fleet: --tls-ca {tls_ca!r}: {exc.strerror or exc}", file=err)
        return 2
    try:
        client.start()
    except OSError as exc:
        from kiosk.mqtt.link import describe_connect_error

        print(f"kiosk fleet: {describe_connect_error(exc, host, port)[1]}", file=err)
        return EXIT_UNREACHABLE
    title = f"{prefix}/ on {host}:{port}"
    try:
        if once:
            return _once(client, out, err, wait_s, title)
        return _live(client, out, interval_s, title)
    finally:
        client.stop()


def _once(client: FleetClient, out, err, wait_s: float, title: str) -> int:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if client.refused:
            print(f"kiosk fleet: the broker refused the connection: {client.refused}", file=err)
            return EXIT_UNREACHABLE
        if client.subscribed.is_set() and time.monotonic() - client.last_message >= QUIET_S:
            break  # retained messages arrive right after the subscription: they have all come
        time.sleep(0.02)
    if not client.subscribed.is_set():
        print(f"kiosk fleet: no answer from the broker within {wait_s:g} s", file=err)
        return EXIT_UNREACHABLE
    rows = client.rows()
    out.write(render(rows, colour=_isatty(out), title=title))
    out.flush()
    return EXIT_PROBLEMS if not rows or any(r.problem for r in rows) else EXIT_ALL_READY


def _live(client: FleetClient, out, interval_s: float, title: str) -> int:
    tty = _isatty(out, colour=False)
    colour = _isatty(out)
    try:
        deadline = time.monotonic() + 1.0  # the retained messages, before the first table
        while time.monotonic() < deadline and not (client.subscribed.is_set()
                                                   and time.monotonic() - client.last_message >= QUIET_S):
            time.sleep(0.02)
        while True:
            size = shutil.get_terminal_size()
            status = ""
            if client.refused:
                status = f"  [the broker refused the login: {client.refused}]"
            elif not client.connected.is_set():
                status = "  [broker connection lost: reconnecting]"
            text = render(client.rows(), colour=colour, width=size.columns if tty else None,
                          title=f"{time.strftime('%H:%M:%S')}  {title}{status}")
            if tty:
                lines = text.splitlines()
                if len(lines) > size.lines - 1:
                    hidden = len(lines) - (size.lines - 2)
                    lines = lines[:size.lines - 2] + [f"... {hidden} more rooms"]
                out.write("\x1b[H\x1b[2J" + "\n".join(lines) + "\n")
            else:
                out.write(text + "\n")
            out.flush()
            time.sleep(interval_s)
    except KeyboardInterrupt:
        return 0


def _isatty(stream, colour: bool = True) -> bool:
    """True for a terminal (that wants colour, if ``colour``: not TERM=dumb, no NO_COLOR)."""
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        return False
    return tty and not (colour and (os.environ.get("TERM") == "dumb" or "NO_COLOR" in os.environ))
