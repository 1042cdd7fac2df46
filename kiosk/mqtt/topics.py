"""Every MQTT topic the kiosk uses: constants, builders and one parser.

::

    <prefix>/<room>/availability          retained "online" / "offline" (the will says "offline")
    <prefix>/<room>/state                 retained JSON: the room's public state (schema 1)
    <prefix>/<room>/checks/<check>        retained JSON: one check's status, reason and metrics
    <prefix>/<room>/event                 JSON events, not retained
    <prefix>/<room>/request/<action>      commands to the kiosk (recheck, identify, state)
    <prefix>/<room>/response/<action>     the kiosk's replies
    <prefix>/<room>/quality/<YYYY-MM>     retained JSON: the month's quality figures (totals, never a conference)
    <discovery_prefix>/status             Home Assistant's own availability ("online" on its start)

``<prefix>`` defaults to ``kiosk`` and may have several levels (``site-a/kiosk``);
``<room>`` is ``[room] id``. Nothing else in the kiosk spells a topic: the link, the
fleet view, the tests and the docs all build them here. :func:`parse` turns a topic back
into its parts and raises :class:`ValueError` for anything malformed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_PREFIX = "kiosk"
DEFAULT_DISCOVERY_PREFIX = "homeassistant"

AVAILABILITY = "availability"
STATE = "state"
CHECKS = "checks"
EVENT = "event"
REQUEST = "request"
RESPONSE = "response"
QUALITY = "quality"

#: Kinds of topic under a room, and whether each has a name level after it.
KINDS = {AVAILABILITY: False, STATE: False, EVENT: False, CHECKS: True, REQUEST: True, RESPONSE: True,
         QUALITY: True}

ONLINE = "online"
OFFLINE = "offline"

#: The request actions the kiosk answers.
ACTIONS = ("recheck", "identify", "state")

#: Home Assistant's birth/last-will topic under its discovery prefix.
HA_STATUS = "status"

#: One topic level naming a room, a check or an action (room ids are validated the same way in config).
_SEGMENT = re.compile(r"[A-Za-z0-9_-]{1,64}")
_PREFIX = re.compile(r"[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*")


def check_segment(value: str, what: str = "topic level") -> str:
    """``value`` if it is usable as one topic level (1-64 letters, digits, ``-``, ``_``), else ValueError."""
    if not isinstance(value, str) or not _SEGMENT.fullmatch(value):
        raise ValueError(f"{what} {value!r} must be 1-64 letters, digits, '-' or '_'")
    return value


def check_month(month: str) -> str:
    """``month`` if it is ``YYYY-MM`` (the quality topics' last level), else ValueError."""
    if not isinstance(month, str) or not re.fullmatch(r"[0-9]{4}-(0[1-9]|1[0-2])", month):
        raise ValueError(f"month {month!r} must be YYYY-MM")
    return month


def check_prefix(prefix: str) -> str:
    """``prefix`` if it is a topic prefix without wildcards or empty levels, else ValueError."""
    if not isinstance(prefix, str) or not _PREFIX.fullmatch(prefix):
        raise ValueError(f"topic prefix {prefix!r} must be levels of letters, digits, '-' or '_' "
                         "separated by '/' (no wildcards, no leading or trailing '/')")
    return prefix


@dataclass(frozen=True)
class RoomTopics:
    """The topics of one room: ``RoomTopics("kiosk", "suite-1").state == "kiosk/suite-1/state"``."""

    prefix: str
    room: str

    def __post_init__(self):
        check_prefix(self.prefix)
        check_segment(self.room, "room id")

    @property
    def base(self) -> str:
        return f"{self.prefix}/{self.room}"

    @property
    def availability(self) -> str:
        return f"{self.base}/{AVAILABILITY}"

    @property
    def state(self) -> str:
        return f"{self.base}/{STATE}"

    @property
    def event(self) -> str:
        return f"{self.base}/{EVENT}"

    def check(self, name: str) -> str:
        return f"{self.base}/{CHECKS}/{check_segment(name, 'check name')}"

    def request(self, action: str) -> str:
        return f"{self.base}/{REQUEST}/{check_segment(action, 'action')}"

    def response(self, action: str) -> str:
        return f"{self.base}/{RESPONSE}/{check_segment(action, 'action')}"

    def quality(self, month: str) -> str:
        """The retained quality figures of one month (``YYYY-MM``)."""
        return f"{self.base}/{QUALITY}/{check_month(month)}"

    @property
    def requests(self) -> str:
        """Subscription filter for every request to this room."""
        return f"{self.base}/{REQUEST}/+"

    @property
    def all(self) -> str:
        """Subscription filter for everything under this room."""
        return f"{self.base}/#"


@dataclass(frozen=True)
class Topic:
    """A parsed topic: ``kind`` is one of :data:`KINDS`; ``name`` is the check or action, else None."""

    room: str
    kind: str
    name: str | None = None


def parse(topic: str, prefix: str = DEFAULT_PREFIX) -> Topic:
    """Split ``<prefix>/<room>/<kind>[/<name>]``; ValueError when it is not one of ours or malformed."""
    check_prefix(prefix)
    if not isinstance(topic, str):
        raise ValueError(f"topic must be a string, not {type(topic).__name__}")
    head = prefix + "/"
    if not topic.startswith(head):
        raise ValueError(f"topic {topic!r} is not under the prefix {prefix!r}")
    levels = topic[len(head):].split("/")
    if len(levels) < 2:
        raise ValueError(f"topic {topic!r} has no <room>/<kind> after the prefix")
    room, kind, *rest = levels
    check_segment(room, "room id")
    if kind not in KINDS:
        raise ValueError(f"topic {topic!r}: unknown kind {kind!r} (known: {', '.join(KINDS)})")
    if KINDS[kind]:
        if len(rest) != 1:
            raise ValueError(f"topic {topic!r}: {kind} must be followed by exactly one name level")
        if kind == QUALITY:
            return Topic(room, kind, check_month(rest[0]))
        return Topic(room, kind, check_segment(rest[0], "name"))
    if rest:
        raise ValueError(f"topic {topic!r}: nothing may follow {kind}")
    return Topic(room, kind)


def fleet_filters(prefix: str = DEFAULT_PREFIX) -> list[str]:
    """What the fleet view subscribes to: every room's availability and state."""
    check_prefix(prefix)
    return [f"{prefix}/+/{AVAILABILITY}", f"{prefix}/+/{STATE}"]


def quality_filter(prefix: str = DEFAULT_PREFIX, month: str = "+") -> str:
    """What ``kiosk quality`` subscribes to: every room's figures of ``month`` (every month with "+")."""
    check_prefix(prefix)
    return f"{prefix}/+/{QUALITY}/{month if month == '+' else check_month(month)}"


def ha_status(discovery_prefix: str = DEFAULT_DISCOVERY_PREFIX) -> str:
    """Home Assistant's status topic (``homeassistant/status``)."""
    return f"{check_prefix(discovery_prefix)}/{HA_STATUS}"


def discovery_config(discovery_prefix: str, component: str, node_id: str, object_id: str) -> str:
    """``<discovery_prefix>/<component>/<node_id>/<object_id>/config``."""
    check_prefix(discovery_prefix)
    for part, what in ((component, "component"), (node_id, "node id"), (object_id, "object id")):
        check_segment(part, what)
    return f"{discovery_prefix}/{component}/{node_id}/{object_id}/config"
