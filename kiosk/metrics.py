"""Prometheus metrics of one room, read from the controller at scrape time.

:func:`render` returns the Prometheus text exposition format (serve it with
:data:`CONTENT_TYPE`). It uses a private ``CollectorRegistry`` holding one custom
collector, so nothing is kept between scrapes and the process-wide default registry is
untouched. Every series has a ``room`` label (``[room] id``). Counts and readiness only:
no names, no booking details (DOMAIN D15).

- ``kiosk_info{room, version}``: 1
- ``kiosk_ready{room}``: 1 ready, 0 not ready
- ``kiosk_state{room, state}``: 1 for the current state, 0 for the others (one-hot)
- ``kiosk_check_status{room, check}``: 0 pass, 1 warn, 2 fail
- ``kiosk_check_required{room, check}``: 1 when the check's failure makes the room not ready
- ``kiosk_check_value_<unit>{room, check, metric}``: the checks' numeric metrics, one family per unit
  (:func:`unit_of`: ``seconds``, ``hertz``, ``decibels``, ``dbfs``, ``pixels``, ``bytes``, ``ratio``; and
  ``kiosk_check_value`` for counts, flags as 0/1 and scores without a unit); ``metric`` is the check's key
  without its unit suffix (``max_error_ms`` is ``max_error`` in seconds)
- ``kiosk_checks_last_run_timestamp_seconds{room}``, ``kiosk_checks_duration_seconds{room}``: the last cycle
- ``kiosk_time_to_start_seconds{room}``: seconds to the start (negative after it); absent without a start time
- ``kiosk_calendar_stale{room, source}``: 1 while the room's bookings may be out of date;
  ``kiosk_calendar_last_success_timestamp_seconds{room, source}``: when the calendar was last read (or
  found unchanged); ``kiosk_calendar_events_skipped{room, source}``: events left out of the last reading;
  all absent without a calendar

Deprecated aliases, kept for one release (same values, old names): ``kiosk_seconds_to_start``
(= ``kiosk_time_to_start_seconds``) and ``kiosk_check_metric{room, check, metric}`` (every check
metric under its original key and unit, units mixed).
- ``kiosk_attendance{room, mode}``: people attending ``in_person`` / ``virtual``; ``kiosk_quorate{room}``: 0/1
- ``kiosk_mqtt_connected{room}``: 1 connected, 0 not; absent when MQTT is off
- ``kiosk_uptime_seconds{room}``: seconds since the controller was built
- ``kiosk_pin_lockouts_total{room}``: lockouts after wrong PINs since the start (a device's or everyone's);
  absent without the chair's service
- ``kiosk_clock_steps_total{room}``: wall-clock steps of more than a few seconds since the start; absent
  without a clock watch
"""

from __future__ import annotations

import math
import time
from datetime import datetime

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from kiosk import __version__
from kiosk.room import State

#: The content type of :func:`render`'s output (Prometheus text format 0.0.4).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_STATUS_VALUE = {"pass": 0, "warn": 1, "fail": 2}

#: Units of the check metrics' families, by key suffix (checked in order) or by whole key.
_SUFFIX_UNITS = (("_ms", "seconds", 0.001), ("_s", "seconds", 1.0), ("_hz", "hertz", 1.0),
                 ("_dbfs", "dbfs", 1.0), ("_db", "decibels", 1.0), ("_bytes", "bytes", 1.0),
                 ("_fraction", "ratio", 1.0))
_KEY_UNITS = {"rate": "hertz", "width": "pixels", "height": "pixels", "mode_width": "pixels",
              "mode_height": "pixels"}
CHECK_UNITS = ("seconds", "hertz", "decibels", "dbfs", "pixels", "bytes", "ratio", "")


def unit_of(key: str) -> tuple[str, str, float]:
    """(unit, metric label, scale) of a check metric's key: ``max_error_ms`` is (``seconds``, ``max_error``,
    0.001); a key without a known unit is ("", key, 1)."""
    for suffix, unit, scale in _SUFFIX_UNITS:
        if key.endswith(suffix) and len(key) > len(suffix):
            return unit, key[: -len(suffix)], scale
    return _KEY_UNITS.get(key, ""), key, 1.0


def _number(value) -> float | None:
    """A metric value as a float, or None for text and missing values."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        return _number(item())
    return None


class RoomCollector:
    """A prometheus_client custom collector reading ``controller`` on every scrape."""

    def __init__(self, controller, mqtt_connected: bool | None = None, counters: dict | None = None):
        self.controller = controller
        self.mqtt_connected = mqtt_connected
        self.counters = counters or {}

    def collect(self):
        """Every metric family of the room, read afresh (prometheus_client calls this on each scrape)."""
        c = self.controller
        room = c.cfg.room.id
        snapshot = c.snapshot  # one snapshot: the state and the cycle agree
        public, cycle = snapshot.public, snapshot.cycle

        info = GaugeMetricFamily("kiosk_info", "The kiosk's room and software version.", labels=["room", "version"])
        info.add_metric([room, __version__], 1)
        yield info

        ready = GaugeMetricFamily("kiosk_ready", "1 when every required check passed.", labels=["room"])
        ready.add_metric([room], 1 if public["ready"] else 0)
        yield ready

        state = GaugeMetricFamily("kiosk_state", "The room's state (1 for the current one).", labels=["room", "state"])
        for s in State:
            state.add_metric([room, s.value], 1 if public["state"] == s.value else 0)
        yield state

        yield from _checks(room, cycle)

        last = GaugeMetricFamily("kiosk_checks_last_run_timestamp_seconds", "When the last check cycle finished.",
                                 labels=["room"])
        duration = GaugeMetricFamily("kiosk_checks_duration_seconds", "How long the last check cycle took.",
                                     labels=["room"])
        if cycle is not None:
            last.add_metric([room], cycle.checked_at.timestamp())
            duration.add_metric([room], cycle.duration_s)
        yield last
        yield duration

        for name, help_text in (("kiosk_time_to_start_seconds", "Seconds until the conference starts (negative "
                                                                 "once started)."),
                                ("kiosk_seconds_to_start", "Deprecated: use kiosk_time_to_start_seconds.")):
            to_start = GaugeMetricFamily(name, help_text, labels=["room"])
            if public.get("seconds_to_start") is not None:
                to_start.add_metric([room], public["seconds_to_start"])
            yield to_start

        yield from _calendar(room, public.get("calendar"))

        attendance = public.get("attendance") or {}
        people = GaugeMetricFamily("kiosk_attendance", "People attending, by mode (counts only).",
                                   labels=["room", "mode"])
        for mode in ("in_person", "virtual"):
            people.add_metric([room, mode], int(attendance.get(mode, 0)))
        yield people
        quorate = GaugeMetricFamily("kiosk_quorate", "1 when the conference is quorate.", labels=["room"])
        quorate.add_metric([room], 1 if attendance.get("quorate") else 0)
        yield quorate

        mqtt = GaugeMetricFamily("kiosk_mqtt_connected", "1 while connected to the MQTT broker.", labels=["room"])
        if self.mqtt_connected is not None:
            mqtt.add_metric([room], 1 if self.mqtt_connected else 0)
        yield mqtt

        uptime = GaugeMetricFamily("kiosk_uptime_seconds", "Seconds since the kiosk started.", labels=["room"])
        uptime.add_metric([room], time.monotonic() - c.started_monotonic)
        yield uptime

        for name, text in (("kiosk_pin_lockouts", "Lockouts after wrong PINs since the kiosk started."),
                           ("kiosk_clock_steps", "Wall-clock steps of more than a few seconds since the start.")):
            if self.counters.get(name) is not None:
                counter = CounterMetricFamily(name, text, labels=["room"])
                counter.add_metric([room], self.counters[name])
                yield counter

def _checks(room: str, cycle):
    """The last cycle's families: each check's status and whether it is required, and its metrics by unit
    (and under the deprecated mixed-unit name)."""
    status = GaugeMetricFamily("kiosk_check_status", "Result of each check: 0 pass, 1 warn, 2 fail.",
                               labels=["room", "check"])
    required = GaugeMetricFamily("kiosk_check_required", "1 when the check's failure makes the room not ready.",
                                 labels=["room", "check"])
    legacy = GaugeMetricFamily("kiosk_check_metric", "Deprecated (mixed units): use kiosk_check_value_<unit>.",
                               labels=["room", "check", "metric"])
    by_unit = {unit: GaugeMetricFamily("kiosk_check_value" + (f"_{unit}" if unit else ""),
                                       f"Numeric measurements of each check{f' in {unit}' if unit else ''}.",
                                       labels=["room", "check", "metric"]) for unit in CHECK_UNITS}
    if cycle is not None:
        for name, result in cycle.results.items():
            status.add_metric([room, name], _STATUS_VALUE[result.status.value])
            required.add_metric([room, name], 1 if cycle.required.get(name, True) else 0)
            for key, value in result.metrics.items():
                number = _number(value)
                if number is not None:
                    legacy.add_metric([room, name, str(key)], number)
                    unit, label, scale = unit_of(str(key))
                    by_unit[unit].add_metric([room, name, label], number * scale)
    yield status
    yield required
    yield from by_unit.values()
    yield legacy


def _calendar(room: str, health: dict | None):
    stale = GaugeMetricFamily("kiosk_calendar_stale", "1 while the room's bookings may be out of date.",
                              labels=["room", "source"])
    last = GaugeMetricFamily("kiosk_calendar_last_success_timestamp_seconds",
                             "When the calendar was last read, or found unchanged.", labels=["room", "source"])
    skipped = GaugeMetricFamily("kiosk_calendar_events_skipped", "Events left out of the last reading "
                                "(unreadable, or repeating too often to expand).", labels=["room", "source"])
    if health:
        source = str(health.get("source"))
        stale.add_metric([room, source], 1 if health.get("stale") else 0)
        skipped.add_metric([room, source], int(health.get("events_skipped") or 0))
        if health.get("last_good_at"):
            last.add_metric([room, source], datetime.fromisoformat(health["last_good_at"]).timestamp())
    yield stale
    yield last
    yield skipped


def render(controller, mqtt_connected: bool | None, counters: dict | None = None) -> bytes:
    """The room's metrics in the Prometheus text format.

    ``mqtt_connected`` is the MQTT link's state, or None when MQTT is off (then
    ``kiosk_mqtt_connected`` is left out). ``counters``: ``kiosk_pin_lockouts`` and
    ``kiosk_clock_steps`` (counts; a missing one is left out).
    """
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RoomCollector(controller, mqtt_connected, counters))
    return generate_latest(registry)
