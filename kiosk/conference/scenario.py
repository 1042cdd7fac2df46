"""An in-memory conference record, for tests and examples: no database.

Events are checked by the same rules as the store's
(:func:`~kiosk.conference.validation.check_event`), so a scenario that builds is one the
store would accept. Times are given in minutes from the scheduled start::

    s = Scenario()
    sw = s.invite("Sam", "social worker")
    s.add("arrived", sw, -5, mode="in_person")
    s.assess(0).quorate
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from kiosk.conference import quorum, record
from kiosk.conference.model import Conference, ConferenceType, Event, Invitee
from kiosk.conference.settings import ConferenceSettings
from kiosk.conference.validation import check_event, invitee_fields


class Scenario:
    """One conference held in lists; ``conference`` defaults to an ICPC on Monday 23 November 2026 at 10:00."""

    def __init__(self, conference: Conference | None = None, *, settings: ConferenceSettings = ConferenceSettings(),
                 tz: str = "Europe/London"):
        self.conference = conference or Conference(1, ConferenceType.INITIAL, date(2026, 11, 23), time(10, 0),
                                                   "CP-2026-0001")
        self.settings = settings
        self.tz = tz
        self.start = self.conference.starts_at(tz)
        self.invitees: list[Invitee] = []
        self.events: list[Event] = []

    def at(self, minute: float) -> datetime:
        """The time ``minute`` minutes after the scheduled start (negative: before)."""
        return self.start + timedelta(minutes=minute)

    def invite(self, name: str, role, agency=None, **fields) -> Invitee:
        """Add an invitee (fields as for :func:`~kiosk.conference.validation.invitee_fields`)."""
        f = invitee_fields(name=name, role=role, agency=agency, **fields)
        invitee = Invitee(len(self.invitees) + 1, self.conference.id, **f)
        self.invitees.append(invitee)
        return invitee

    def add(self, kind, invitee: Invitee | None = None, minute: float = 0, **details) -> Event:
        """Record an event ``minute`` minutes from the start, checked as the store would; returns it."""
        at = self.at(minute)
        kind, at, details = check_event(self.conference, self.invitees, self.events, kind,
                                        invitee.id if invitee else None, at, details,
                                        now=max(at, self.at(24 * 60)), settings=self.settings)
        event = Event(len(self.events) + 1, self.conference.id, invitee.id if invitee else None, kind, at, details,
                      at)
        self.events.append(event)
        return event

    def assess(self, minute: float) -> quorum.QuorumView:
        """Quorum ``minute`` minutes from the start."""
        return quorum.assess(self.invitees, self.events, self.at(minute), self.settings)

    def timeline(self) -> quorum.QuorumTimeline:
        """The quorum timeline from the scheduled start."""
        return quorum.timeline(self.invitees, self.events, self.settings, start=self.start,
                               end=self.conference.ended_at)

    def record(self) -> dict:
        """The attendance record (:func:`kiosk.conference.record.build_record`)."""
        return record.build_record(self.conference, self.invitees, self.events, self.settings, tz=self.tz)
