"""Who is in the conference at a given moment, replayed from the chair's events.

One small state machine per invitee. :data:`TRANSITIONS` says from which states each
kind of event may be recorded; the store refuses an event that does not fit (someone
who is not present cannot leave), while :func:`replay` skips one that no longer fits
after a correction voided an earlier event (a departure after a voided arrival).

Corrections void their target for the whole replay, whatever time they were recorded:
a voided event is treated as never having happened.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Iterable

from kiosk.conference.model import Event, EventKind, Mode


class Presence(str, enum.Enum):
    """Where one invitee stands."""

    ABSENT = "absent"                # nothing recorded yet
    APOLOGIES = "apologies"
    NOT_ATTENDED = "not_attended"
    PRESENT = "present"
    DISCONNECTED = "disconnected"    # lost connection, may rejoin; does not count meanwhile (D4)
    GONE = "gone"                    # left, or could not rejoin


_NOT_HERE = frozenset({Presence.ABSENT, Presence.APOLOGIES, Presence.NOT_ATTENDED})
_ANY = frozenset(Presence)

#: kind -> (states it may be recorded in, state afterwards; None keeps the state)
TRANSITIONS: dict[EventKind, tuple[frozenset, Presence | None]] = {
    EventKind.ARRIVED: (_NOT_HERE | {Presence.GONE}, Presence.PRESENT),
    EventKind.APOLOGIES: (_NOT_HERE - {Presence.APOLOGIES}, Presence.APOLOGIES),
    EventKind.NOT_ATTENDED: (_NOT_HERE - {Presence.NOT_ATTENDED}, Presence.NOT_ATTENDED),
    EventKind.LEFT: (frozenset({Presence.PRESENT, Presence.DISCONNECTED}), Presence.GONE),
    EventKind.LOST_CONNECTION: (frozenset({Presence.PRESENT}), Presence.DISCONNECTED),
    EventKind.REJOINED: (frozenset({Presence.DISCONNECTED}), Presence.PRESENT),
    EventKind.COULD_NOT_REJOIN: (frozenset({Presence.DISCONNECTED}), Presence.GONE),
    EventKind.CAMERA_OFF: (frozenset({Presence.PRESENT}), None),
    EventKind.CAMERA_ON: (frozenset({Presence.PRESENT}), None),
    EventKind.REPORT_RECEIVED: (_ANY, None),
}

_WHY_NOT = {
    EventKind.ARRIVED: "is already present",
    EventKind.APOLOGIES: "is present or already sent apologies",
    EventKind.NOT_ATTENDED: "is present or is already recorded as not attending",
    EventKind.LEFT: "is not present",
    EventKind.LOST_CONNECTION: "is not present",
    EventKind.REJOINED: "has not lost connection",
    EventKind.COULD_NOT_REJOIN: "has not lost connection",
    EventKind.CAMERA_OFF: "is not present",
    EventKind.CAMERA_ON: "is not present",
}


@dataclass(frozen=True)
class Person:
    """One invitee's state: presence, the mode they are attending in, and whether their camera is off."""

    presence: Presence = Presence.ABSENT
    mode: Mode | None = None
    camera_off: bool = False

    @property
    def present(self) -> bool:
        """True while they count: present, not disconnected."""
        return self.presence is Presence.PRESENT


def problem(person: Person, kind: EventKind, details) -> str | None:
    """Why ``kind`` cannot be recorded for someone in ``person``'s state, or None if it can.

    The message completes "This invitee ...".
    """
    allowed, _ = TRANSITIONS[kind]
    if person.presence not in allowed:
        return _WHY_NOT[kind]
    if kind in (EventKind.LOST_CONNECTION, EventKind.CAMERA_OFF, EventKind.CAMERA_ON) and \
            person.mode is not Mode.VIRTUAL:
        return "is attending in person, not virtually"
    if kind is EventKind.CAMERA_OFF and person.camera_off:
        return "already has the camera off"
    if kind is EventKind.CAMERA_ON and not person.camera_off:
        return "already has the camera on"
    return None


def step(person: Person, event: Event) -> Person:
    """``person`` after ``event`` (which must fit: see :func:`problem`)."""
    _, after = TRANSITIONS[event.kind]
    if event.kind is EventKind.ARRIVED:
        return Person(Presence.PRESENT, Mode.parse(event.details["mode"]), False)
    if event.kind is EventKind.REJOINED:
        return replace(person, presence=Presence.PRESENT)
    if event.kind is EventKind.CAMERA_OFF:
        return replace(person, camera_off=True)
    if event.kind is EventKind.CAMERA_ON:
        return replace(person, camera_off=False)
    if after is None:
        return person
    return replace(person, presence=after, camera_off=False)


def effective(events: Iterable[Event]) -> tuple[list[Event], dict[int, Event]]:
    """The events that stand, in order of ``at`` (then id), and the voided ones' corrections by event id.

    Corrections themselves are not in the first list.
    """
    events = list(events)
    voided = {int(e.details["event_id"]): e for e in events if e.kind is EventKind.CORRECTION}
    standing = [e for e in events if e.kind is not EventKind.CORRECTION and e.id not in voided]
    standing.sort(key=lambda e: (e.at, e.id))
    return standing, voided


def replay(events: Iterable[Event], until: datetime | None = None) -> dict[int, Person]:
    """Each invitee's state after the standing events up to and including ``until`` (all with None).

    Events that no longer fit (after a correction) are skipped. Invitees without events are absent.
    """
    standing, _ = effective(events)
    people: dict[int, Person] = {}
    for event in standing:
        if until is not None and event.at > until:
            break
        if event.invitee_id is None or event.kind not in TRANSITIONS:
            continue
        person = people.get(event.invitee_id, Person())
        if problem(person, event.kind, event.details) is None:
            people[event.invitee_id] = step(person, event)
    return people
