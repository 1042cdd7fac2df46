"""``kiosk quality``: every room's monthly quality figures from a broker, combined into one report.

Each kiosk keeps its month's figures retained on ``<prefix>/<room>/quality/<YYYY-MM>``
(:mod:`kiosk.quality.service`). This command subscribes to ``<prefix>/+/quality/+``,
waits until the retained messages have come (as ``kiosk fleet --once`` does), adds up
the chosen month across rooms (and the 12 months before it for the trend) and prints
the same report as the chair's page: a table, ``--csv``, or ``--html FILE``. The
"fewer than 5" rule is applied to the combined counts, so a service with several
suites sees per-agency figures that one room alone would not show.

Exit codes: 0 printed (rooms found), 1 no room has published figures for the month,
2 usage error, 3 broker unreachable or login refused.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from datetime import date

from kiosk.fleet import QUIET_S, broker_client, parse_broker
from kiosk.mqtt import topics
from kiosk.quality import figures, report as report_mod
from kiosk.quality.html import standalone_html

EXIT_OK, EXIT_NO_FIGURES, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3


class Collection:
    """The figures received, by room and month; ``update`` for each message (no MQTT here)."""

    def __init__(self, prefix: str):
        self.prefix = prefix
        self.months: dict[str, dict[str, dict]] = {}  # room id -> month -> figures
        self.names: dict[str, str] = {}
        self.problems: list[str] = []

    def update(self, topic: str, payload: bytes) -> None:
        """Take one ``quality/<YYYY-MM>`` message; a malformed one is noted in :attr:`problems`, not kept."""
        try:
            parsed = topics.parse(topic, self.prefix)
        except ValueError as exc:
            self.problems.append(f"ignored {topic[:120]!r}: {exc}")
            return
        if parsed.kind != topics.QUALITY:
            return
        if not payload:  # a retained message cleared
            self.months.get(parsed.room, {}).pop(parsed.name, None)
            return
        try:
            body = json.loads(payload.decode("utf-8"))
            if not isinstance(body, dict) or body.get("month") != parsed.name:
                raise ValueError("its month does not match the topic")
            fig = figures.check_figures(body.get("figures"))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            self.problems.append(f"ignored the figures of room {parsed.room} for {parsed.name}: {exc}")
            return
        self.months.setdefault(parsed.room, {})[parsed.name] = fig
        name = body.get("room_name")
        if isinstance(name, str) and name.strip():
            self.names[parsed.room] = name.strip()[:80]

    def rooms(self, month: str) -> list[str]:
        """The rooms with figures for ``month``, as "name (id)", sorted."""
        return sorted(f"{self.names.get(r, r)} ({r})" for r, months in self.months.items() if month in months)

    def combined(self, month: str) -> dict:
        """Every room's figures of ``month`` added up."""
        return figures.combine([months[month] for months in self.months.values() if month in months])

    def report(self, month: str) -> dict:
        """The combined report of ``month`` with the trend of the 12 months to it."""
        period = figures.month_period(month)
        trend = {m: self.combined(m) for m in figures.trend_months(period)}
        return report_mod.build(period, self.combined(month), trend, self.rooms(month))


class _Client:
    """Feeds a :class:`Collection` from a broker (paho's network thread); read it under :attr:`lock`."""

    def __init__(self, collection: Collection, host: str, port: int, *, username=None, password=None, tls_ca=None):
        self.collection, self.host, self.port = collection, host, port
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        self.refused: str | None = None
        self.last_message = time.monotonic()
        self.client = broker_client(username=username, password=password, tls_ca=tls_ca)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            self.refused = str(reason_code)
            return
        client.subscribe(topics.quality_filter(self.collection.prefix), 1)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        self.last_message = time.monotonic()
        self.subscribed.set()

    def _on_message(self, client, userdata, msg):
        try:
            topic = msg.topic
        except UnicodeDecodeError:
            return
        with self.lock:
            self.collection.update(topic, bytes(msg.payload))
        self.last_message = time.monotonic()

    def collect(self, wait_s: float) -> str | None:
        """Connect, wait for the retained messages, disconnect; returns a problem, or None."""
        self.client.connect(self.host, self.port, 30)
        self.client.loop_start()
        try:
            deadline = time.monotonic() + wait_s
            while time.monotonic() < deadline:
                if self.refused:
                    return f"the broker refused the connection: {self.refused}"
                if self.subscribed.is_set() and time.monotonic() - self.last_message >= QUIET_S:
                    return None  # retained messages arrive right after the subscription: they have all come
                time.sleep(0.02)
            return None if self.subscribed.is_set() else f"no answer from the broker within {wait_s:g} s"
        finally:
            self.client.disconnect()
            self.client.loop_stop()


def run(broker: str = "localhost", prefix: str = topics.DEFAULT_PREFIX, month: str | None = None, *,
        csv: bool = False, html: str | None = None, username: str | None = None, password: str | None = None,
        tls_ca: str | None = None, wait_s: float = 2.0, out=None, err=None) -> int:
    """The ``kiosk quality`` command. Returns the exit code."""
    out, err = out or sys.stdout, err or sys.stderr
    month = month or date.today().strftime("%Y-%m")
    try:
        figures.month_period(month)
        host, port = parse_broker(broker, 8883 if tls_ca else 1883)
        collection = Collection(topics.check_prefix(prefix))
        client = _Client(collection, host, port, username=username, password=password, tls_ca=tls_ca)
    except ValueError as exc:
        print(f"kiosk quality: {exc}", file=err)
        return EXIT_USAGE
    except OSError as exc:  # a --tls-ca that is missing or not a certificate
        print(f"kiosk quality: --tls-ca {tls_ca!r}: {exc.strerror or exc}", file=err)
        return EXIT_USAGE
    try:
        problem = client.collect(wait_s)
    except OSError as exc:
        from kiosk.mqtt.link import describe_connect_error

        print(f"kiosk quality: {describe_connect_error(exc, host, port)[1]}", file=err)
        return EXIT_UNREACHABLE
    if problem:
        print(f"kiosk quality: {problem}", file=err)
        return EXIT_UNREACHABLE
    with client.lock:
        for line in collection.problems:
            print(f"kiosk quality: {line}", file=err)
        rooms = collection.rooms(month)
        rep = collection.report(month)
    if html:
        try:
            with open(html, "w", encoding="utf-8") as f:
                f.write(standalone_html(rep))
        except OSError as exc:
            print(f"kiosk quality: cannot write {html}: {exc.strerror}", file=err)
            return EXIT_USAGE
    if csv:
        out.write(report_mod.to_csv(rep))
    elif not html:
        out.write(report_mod.to_text(rep))
    out.flush()
    if not rooms:
        print(f"kiosk quality: no room on {host}:{port} has published figures for {month}", file=err)
        return EXIT_NO_FIGURES
    return EXIT_OK
