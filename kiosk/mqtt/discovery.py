"""Home Assistant MQTT discovery: pure functions from configuration to (topic, payload) pairs.

Each room becomes one Home Assistant *device* (identifier ``<prefix>_<room>``, named
after ``[room] name``) with these entities, all read from the kiosk's own topics (see
:mod:`kiosk.mqtt.topics`) and all unavailable while the kiosk is offline:

==============================  ==========================  ======================================
entity (object id)              component                   reads / writes
==============================  ==========================  ======================================
``ready``                       binary_sensor               ``state``: ``ready`` (unknown before the first
                                                            check); attributes ``state``, ``checked_at``,
                                                            ``start_at``, ``seconds_to_start``, ``calendar_stale``
``check_<name>`` (one a check)  binary_sensor, problem,     ``checks/<name>``: on unless ``pass``
                                diagnostic
``seconds_to_start``            sensor, duration (s)        ``state``: ``seconds_to_start``
``attendance_in_person``        sensor                      ``state``: ``attendance.in_person``
``attendance_virtual``          sensor                      ``state``: ``attendance.virtual``
``quorate``                     binary_sensor               ``state``: ``attendance.quorate``
``recheck``                     button                      publishes ``{}`` to ``request/recheck``
``identify``                    button, identify            publishes to ``request/identify``
==============================  ==========================  ======================================

Every entity declares ``qos: 1``: Home Assistant then subscribes, and presses buttons, at QoS 1.
Config topics are ``<discovery_prefix>/<component>/<room>/<object_id>/config``,
retained (room ids must therefore be unique among the kiosks one Home Assistant sees);
``unique_id`` is ``<prefix>_<room>_<object_id>``. The kiosk publishes them on every connection and again whenever
``<discovery_prefix>/status`` says ``online`` (Home Assistant restarted). Checks that
this kiosk does not run get an empty retained config, which removes a stale entity.
"""

from __future__ import annotations

import json
import re
from typing import Iterable, Mapping

from kiosk import __version__
from kiosk.mqtt import topics
from kiosk.mqtt.topics import RoomTopics

MANUFACTURER = "Hybrid Room Kiosk"
DEFAULT_MODEL = "Hybrid Room Kiosk"
#: Every check the kiosk knows; those not configured on a kiosk have their entity removed.
KNOWN_CHECKS = ("camera", "microphone", "display", "clock", "network", "speaker")
#: The ``ready`` entity's state: unknown until the first check cycle has finished (``checked_at`` is null).
READY_TEMPLATE = "{{ 'None' if value_json.checked_at is none else ('ON' if value_json.ready else 'OFF') }}"
#: Its attributes: the room's state, when it was checked, when the conference starts and whether the
#: calendar behind that start time may be out of date (for automations such as the shipped example).
READY_ATTRIBUTES_TEMPLATE = ("{{ {'state': value_json.state, 'checked_at': value_json.checked_at, "
                             "'start_at': value_json.start_at, 'seconds_to_start': value_json.seconds_to_start, "
                             "'calendar_stale': (value_json.calendar.stale if value_json.calendar else none)} "
                             "| tojson }}")


def device_id(prefix: str, room: str) -> str:
    """The device's identifier and the start of every ``unique_id``: the topic prefix (``/`` made ``_``),
    ``_`` and the room id, so rooms of two sites with different prefixes stay apart."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", prefix) + "_" + room


def node_id(room: str) -> str:
    """The node id level of the config topics: the room id alone, so that a broker ACL can allow a kiosk
    ``homeassistant/+/%u/#`` (mosquitto's ``%u`` must be a whole topic level)."""
    return room


def device(cfg, model: str | None = None) -> dict:
    """The ``device`` block shared by every entity of the room."""
    return {
        "identifiers": [device_id(cfg.mqtt.prefix, cfg.room.id)],
        "name": cfg.room.name,
        "manufacturer": MANUFACTURER,
        "model": model or DEFAULT_MODEL,
        "sw_version": __version__,
    }


def _checks(checks) -> dict[str, str]:
    if isinstance(checks, Mapping):
        return dict(checks)
    return {name: name.capitalize() for name in checks}


def entities(cfg, checks: Iterable[str] | Mapping[str, str], model: str | None = None) -> list[tuple[str, dict]]:
    """Every entity's config topic and payload (as dicts), in a stable order.

    ``checks`` names the checks this kiosk runs, or maps each name to its label.
    """
    t = RoomTopics(cfg.mqtt.prefix, cfg.room.id)
    node, ident = node_id(cfg.room.id), device_id(cfg.mqtt.prefix, cfg.room.id)
    dev = device(cfg, model)

    def entity(component, object_id, name, **fields):
        payload = {
            "name": name,
            "unique_id": f"{ident}_{object_id}",
            "availability_topic": t.availability,
            "payload_available": topics.ONLINE,
            "payload_not_available": topics.OFFLINE,
            "device": dev,
            "origin": {"name": "hybrid-room-kiosk", "sw_version": __version__},
            "qos": 1,  # Home Assistant subscribes (and presses buttons) at QoS 1, as the kiosk publishes
            **fields,
        }
        return topics.discovery_config(cfg.mqtt.discovery_prefix, component, node, object_id), payload

    on_off = {"payload_on": "ON", "payload_off": "OFF"}
    out = [entity("binary_sensor", "ready", "Ready", state_topic=t.state,
                  # Unknown (the rendered "None") until the first check has run: a kiosk starting up is
                  # not "not ready", and an automation on "Ready off" must not fire at every restart.
                  value_template=READY_TEMPLATE,
                  json_attributes_topic=t.state,
                  json_attributes_template=READY_ATTRIBUTES_TEMPLATE,
                  **on_off)]
    for name, label in _checks(checks).items():
        out.append(entity(
            "binary_sensor", f"check_{name}", label, state_topic=t.check(name),
            device_class="problem", entity_category="diagnostic",
            value_template="{{ 'OFF' if value_json.status == 'pass' else 'ON' }}",
            json_attributes_topic=t.check(name),
            json_attributes_template="{{ {'status': value_json.status, 'reason': value_json.reason} | tojson }}",
            **on_off))
    out += [
        entity("sensor", "seconds_to_start", "Seconds to start", state_topic=t.state,
               device_class="duration", unit_of_measurement="s",
               # A null renders as "None", which Home Assistant shows as unknown.
               value_template="{{ value_json.seconds_to_start }}"),
        entity("sensor", "attendance_in_person", "Attending in person", state_topic=t.state,
               state_class="measurement", icon="mdi:account-group",
               value_template="{{ value_json.attendance.in_person }}"),
        entity("sensor", "attendance_virtual", "Attending virtually", state_topic=t.state,
               state_class="measurement", icon="mdi:laptop-account",
               value_template="{{ value_json.attendance.virtual }}"),
        entity("binary_sensor", "quorate", "Quorate", state_topic=t.state,
               value_template="{{ 'ON' if value_json.attendance.quorate else 'OFF' }}", **on_off),
        entity("binary_sensor", "calendar_stale", "Calendar out of date", state_topic=t.state,
               device_class="problem", entity_category="diagnostic",
               # Unknown without a calendar; ON while the bookings may be out of date.
               value_template="{{ 'None' if value_json.calendar is none else "
                              "('ON' if value_json.calendar.stale else 'OFF') }}",
               json_attributes_topic=t.state,
               json_attributes_template="{{ (value_json.calendar or {}) | tojson }}", **on_off),
        entity("button", "recheck", "Re-check", command_topic=t.request("recheck"), payload_press="{}",
               icon="mdi:refresh"),
        entity("button", "identify", "Identify", command_topic=t.request("identify"),
               payload_press=json.dumps({"seconds": 10}), device_class="identify"),
    ]
    return out


def messages(cfg, checks: Iterable[str] | Mapping[str, str], model: str | None = None) -> list[tuple[str, str]]:
    """(topic, JSON payload) pairs to publish retained: every entity, then removals of unused checks."""
    checks = _checks(checks)
    out = [(topic, json.dumps(payload, separators=(",", ":"))) for topic, payload in entities(cfg, checks, model)]
    node = node_id(cfg.room.id)
    for name in KNOWN_CHECKS:
        if name not in checks:
            out.append((topics.discovery_config(cfg.mqtt.discovery_prefix, "binary_sensor", node,
                                                f"check_{name}"), ""))
    return out
