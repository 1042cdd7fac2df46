"""The chair's events folded one at a time, so that a tap costs the same however long the log is.

A :class:`Fold` holds what replaying a conference's log computes: the standing events and the
corrections that voided others, each invitee's state now, each invitee's record row (arrival,
departure, connection and camera episodes, reports), the quorum after every moment someone's
presence changed, the chair's decisions and the recorded start. :meth:`Fold.advance` takes the
log as it is now: an event appended after the others (the usual case: the kiosk's clock dates
every event) is folded in on its own; anything else (a correction, an event dated before the last)
folds the whole log again, which is what every tap used to cost.

Quorum is judged only when someone's presence or mode changes: a camera turned off or on never
changes it (D3 counts who is there, not who is on camera).

Everything here is the caller's to lock: :class:`~kiosk.conference.store.ConferenceStore` keeps
one fold per conference and advances it under its lock. Entries in the row lists are replaced,
never changed in place, so a shallow copy (:meth:`Fold.copy`) stays true while the fold moves on.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Iterable

from kiosk.conference import presence
from kiosk.conference.model import Event, EventKind, Invitee
from kiosk.conference.quorum import QuorumView, _judge
from kiosk.conference.settings import ConferenceSettings

_DECISIONS = (EventKind.PROCEED_INQUORATE, EventKind.ADJOURNED)


@dataclass
class Row:
    """One invitee's part of the record, as folded so far. ``version`` counts the events folded into it."""

    invitee: Invitee
    arrived: Event | None = None
    left: Event | None = None
    final: presence.Person = field(default_factory=presence.Person)
    connection: list = field(default_factory=list)
    camera: list = field(default_factory=list)
    reports: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    version: int = 0

    def copy(self) -> "Row":
        return replace(self, connection=list(self.connection), camera=list(self.camera), reports=list(self.reports),
                       notes=list(self.notes))

    def apply(self, e: Event) -> bool:
        """Fold ``e`` in if it fits (replay skips one that no longer fits after a correction); True if it did."""
        if presence.problem(self.final, e.kind, e.details) is not None:
            return False
        self.final = presence.step(self.final, e)
        self.version += 1
        if e.details.get("note"):
            self.notes.append((e, e.details["note"]))
        kind = e.kind
        if kind is EventKind.ARRIVED:
            self.arrived = self.arrived or e
            self.left = None  # came back
        elif kind is EventKind.LEFT:
            self.left = e
            if self.connection and self.connection[-1]["end"] is None:
                self.connection[-1] = {**self.connection[-1], "end": e}
        elif kind is EventKind.LOST_CONNECTION:
            self.connection.append({"lost": e, "end": None})
        elif kind in (EventKind.REJOINED, EventKind.COULD_NOT_REJOIN):
            self.connection[-1] = {**self.connection[-1], "end": e}
        elif kind is EventKind.CAMERA_OFF:
            self.camera.append({"off": e, "on": None})
        elif kind is EventKind.CAMERA_ON:
            self.camera[-1] = {**self.camera[-1], "on": e}
        elif kind is EventKind.REPORT_RECEIVED:
            self.reports.append(e.details["received_on"])
        return True


@dataclass
class Fold:
    """What the log of one conference adds up to (see the module docstring)."""

    by_id: dict[int, Invitee]
    settings: ConferenceSettings
    ids: list[int] = field(default_factory=list)               # every event folded, in log order
    last_at: datetime | None = None
    standing: list[Event] = field(default_factory=list)
    voided: dict[int, Event] = field(default_factory=dict)       # event id -> the correction that voided it
    people: dict[int, presence.Person] = field(default_factory=dict)
    rows: dict[int, Row] = field(default_factory=dict)
    #: Quorum after each moment someone's presence changed: (time, quorum then), as quorum.timeline wants them.
    changes: list[tuple[datetime, QuorumView]] = field(default_factory=list)
    decisions: list[Event] = field(default_factory=list)
    started: Event | None = None
    last_attendance: dict[int, Event] = field(default_factory=dict)  # invitee id -> their last standing tap
    with_events: set[int] = field(default_factory=set)          # invitees any event (voided too) names
    #: The record's part of each invitee, formatted, with what it was formatted for (kiosk.conference.record
    #: keeps it): shared by the fold's copies, so that only a row that changed is formatted again.
    parts: dict[int, tuple] = field(default_factory=dict)

    @classmethod
    def build(cls, invitees: Iterable[Invitee], events: Iterable[Event], settings: ConferenceSettings) -> "Fold":
        """The whole log folded from the start."""
        invitees = list(invitees)
        fold = cls({i.id: i for i in invitees}, settings)
        fold.rows = {i.id: Row(i) for i in invitees}
        events = list(events)
        standing, voided = presence.effective(events)
        fold.ids = [e.id for e in events]
        fold.last_at = events[-1].at if events else None
        fold.voided = voided
        fold.with_events = {e.invitee_id for e in events if e.invitee_id is not None}
        for e in standing:
            fold._stand(e)
        return fold

    def fits(self, invitees: list[Invitee], settings: ConferenceSettings) -> bool:
        """True while the invitees and settings are those the fold was made for."""
        return settings is self.settings and len(invitees) == len(self.by_id) and all(
            self.by_id.get(i.id) is i for i in invitees)

    def advance(self, invitees: list[Invitee], events: list[Event], settings: ConferenceSettings) -> "Fold":
        """The fold of ``events`` (the whole log, by time then id): this one moved on when only events
        appended after its last were added, a new one otherwise."""
        # The log only grows, kept in order: an event dated before the last one folded moves that one along,
        # so the folded part is untouched exactly when the last one folded is still in its place.
        k = len(self.ids)
        if not self.fits(invitees, settings) or len(events) < k or (k and events[k - 1].id != self.ids[-1]):
            return Fold.build(invitees, events, settings)
        new = events[k:]
        if any(e.kind is EventKind.CORRECTION for e in new):
            return Fold.build(invitees, events, settings)
        for e in new:
            self.ids.append(e.id)
            self.last_at = e.at
            if e.invitee_id is not None:
                self.with_events.add(e.invitee_id)
            self._stand(e)
        return self

    def _stand(self, e: Event) -> None:
        """Fold in one standing event (in time order)."""
        self.standing.append(e)
        if e.kind is EventKind.STARTED and self.started is None:
            self.started = e
        elif e.kind in _DECISIONS:
            self.decisions.append(e)
        if e.invitee_id is None or e.kind not in presence.TRANSITIONS:
            return
        if e.kind is not EventKind.REPORT_RECEIVED:
            self.last_attendance[e.invitee_id] = e
        row = self.rows.get(e.invitee_id)
        if row is not None:
            row.apply(e)
        before = self.people.get(e.invitee_id, presence.Person())
        if presence.problem(before, e.kind, e.details) is not None:
            return
        after = presence.step(before, e)
        self.people[e.invitee_id] = after
        if (after.presence, after.mode) != (before.presence, before.mode):  # a camera never changes quorum
            view = _judge(self.by_id, self.people, e.at, self.settings)
            if self.changes and self.changes[-1][0] == e.at:  # events at the same instant count together
                self.changes[-1] = (e.at, view)
            else:
                self.changes.append((e.at, view))

    def people_at(self, at: datetime) -> dict[int, presence.Person] | None:
        """Each invitee's state at ``at`` if no folded event is later (None otherwise: replay instead)."""
        if self.last_at is not None and self.last_at > at:
            return None
        return self.people

    def copy(self) -> "Fold":
        """A snapshot that stays true while this fold moves on (lists and dicts copied, rows too)."""
        return replace(self, ids=list(self.ids), standing=list(self.standing), voided=dict(self.voided),
                       people=dict(self.people), rows={k: r.copy() for k, r in self.rows.items()},
                       changes=list(self.changes), decisions=list(self.decisions),
                       last_attendance=dict(self.last_attendance), with_events=set(self.with_events))
