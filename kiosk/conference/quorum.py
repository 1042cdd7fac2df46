"""Is the conference quorate? Pure functions of the invitees, the chair's events and a time.

D3: quorate when children's social care is present (in person or virtually) and at
least ``settings.min_other_agencies`` other agencies or professional groups with direct
contact with the child or family are present. Several people from one agency count
once; parents, the child, advocates, interpreters, the chair and the note-taker never
count. With ``health_as_one_agency`` off, each health role counts as its own group.

D4: someone who leaves or loses connection stops counting at that moment; rejoining
counts again. :func:`timeline` says when quorum was reached, lost and regained, and
which inquorate stretches had a chair's decision to proceed (D5).

Children's social care counts without the direct-contact flag: the social worker is
the agency's direct contact with the family, and D3 qualifies only the *other* agencies.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Iterable

from kiosk.conference.model import HEALTH_ROLES, Agency, Event, EventKind, Invitee, Mode, unit_label
from kiosk.conference.presence import TRANSITIONS, Person, effective, problem, replay, step
from kiosk.conference.settings import ConferenceSettings

CSC = Agency.CHILDRENS_SOCIAL_CARE.value
_AGENCY_ORDER = {a.value: i for i, a in enumerate(Agency)}
_HEALTH_ORDER = {r.value: i for i, r in enumerate(HEALTH_ROLES)}
_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


@dataclass(frozen=True)
class QuorumView:
    """Quorum at one moment.

    ``in_person`` and ``virtual`` count everyone present (all roles); ``agencies`` are
    the labels of the agencies counted towards quorum, children's social care first;
    ``needed`` is how many more other agencies quorum needs.
    """

    at: datetime
    quorate: bool
    in_person: int
    virtual: int
    childrens_social_care: bool
    agencies: tuple[str, ...]
    needed: int
    reason: str

    def to_dict(self) -> dict:
        """Plain types for JSON and templates (names never appear here)."""
        return {"at": self.at.isoformat(), "quorate": self.quorate, "in_person": self.in_person,
                "virtual": self.virtual, "childrens_social_care": self.childrens_social_care,
                "agencies": list(self.agencies), "needed": self.needed, "reason": self.reason}


def _unit_order(unit: str):
    agency, _, group = unit.partition(":")
    return _AGENCY_ORDER[agency], _HEALTH_ORDER.get(group, -1)


def join_words(items) -> str:
    """ "a", "a and b", "a, b and c"."""
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _count(n: int) -> str:
    return _WORDS[n] if n < len(_WORDS) else str(n)


def assess(invitees: Iterable[Invitee], events: Iterable[Event], at: datetime,
           settings: ConferenceSettings = ConferenceSettings()) -> QuorumView:
    """Quorum at ``at`` (aware), counting the standing events up to and including ``at``.

    Events of people not in ``invitees`` are ignored.
    """
    return _judge({i.id: i for i in invitees}, replay(events, until=at), at, settings)


def judge(invitees: Iterable[Invitee], people: dict[int, Person], at: datetime,
          settings: ConferenceSettings = ConferenceSettings()) -> QuorumView:
    """Quorum at ``at`` given each invitee's state then (:func:`~kiosk.conference.presence.replay` up to
    ``at``): :func:`assess` for a caller that has replayed the events already."""
    return _judge({i.id: i for i in invitees}, people, at, settings)


def _judge(by_id: dict[int, Invitee], people: dict[int, Person], at: datetime,
           settings: ConferenceSettings) -> QuorumView:
    """Quorum at ``at`` given each invitee's state then."""
    in_person = virtual = 0
    units: set[str] = set()
    for invitee_id, person in people.items():
        invitee = by_id.get(invitee_id)
        if invitee is None or not person.present:
            continue
        if person.mode is Mode.IN_PERSON:
            in_person += 1
        else:
            virtual += 1
        unit = invitee.quorum_unit(settings.health_as_one_agency)
        if unit:
            units.add(unit)
    csc = CSC in units
    others = len(units - {CSC})
    needed = max(0, settings.min_other_agencies - others)
    quorate = csc and needed == 0
    labels = tuple(unit_label(u) for u in sorted(units, key=_unit_order))
    if quorate:
        reason = f"Quorate: {join_words(labels)} present"
    else:
        parts = []
        if not csc:
            parts.append("children's social care is not present")
        if needed:
            noun = "agency" if needed == 1 else "agencies"
            parts.append(f"needs {_count(needed)} more {noun} with direct contact besides children's social care")
        reason = "Not quorate: " + "; ".join(parts)
    return QuorumView(at, quorate, in_person, virtual, csc, labels, needed, reason)


@dataclass(frozen=True)
class QuorumChange:
    """Quorum was reached (``label`` "quorate"), lost ("quorum lost") or regained ("quorum regained")."""

    at: datetime
    quorate: bool
    label: str
    reason: str
    agencies: tuple[str, ...]


@dataclass(frozen=True)
class Decision:
    """A chair's decision recorded while inquorate (D5): proceed, or not proceed (adjourn)."""

    at: datetime
    kind: EventKind
    reason: str
    new_date: str | None = None
    late_reason: str | None = None  # D5: why a new date is after the 10 working days

    @property
    def proceed(self) -> bool:
        """True for a decision to proceed; False for a decision not to (adjourned)."""
        return self.kind is EventKind.PROCEED_INQUORATE


@dataclass(frozen=True)
class InquoratePeriod:
    """A stretch of the meeting without quorum; ``end`` None means it lasted to the end.

    ``decision`` is the chair's decision to proceed recorded during it, if any.
    """

    start: datetime
    end: datetime | None
    decision: Decision | None


@dataclass(frozen=True)
class QuorumTimeline:
    """When quorum changed, the chair's decisions, and the inquorate stretches of the meeting (D4, D5)."""

    changes: tuple[QuorumChange, ...]
    decisions: tuple[Decision, ...]
    inquorate_periods: tuple[InquoratePeriod, ...]
    quorate_at_start: bool | None = None
    _stretches: tuple = field(default=(), repr=False, compare=False)
    #: Quorum at ``start`` with its reason (None without a start).
    start_view: QuorumView | None = field(default=None, repr=False, compare=False)

    @property
    def proceeded_inquorate(self) -> bool:
        """True when the chair recorded a decision to proceed while inquorate."""
        return any(d.proceed for d in self.decisions)

    @property
    def lost_at(self) -> tuple[datetime, ...]:
        """When quorum was lost, in order."""
        return tuple(c.at for c in self.changes if c.label == "quorum lost")

    @property
    def regained_at(self) -> tuple[datetime, ...]:
        """When quorum was regained after a loss, in order."""
        return tuple(c.at for c in self.changes if c.label == "quorum regained")

    @property
    def undecided_periods(self) -> tuple[InquoratePeriod, ...]:
        """Inquorate stretches of the meeting with no recorded decision to proceed."""
        return tuple(p for p in self.inquorate_periods if p.decision is None)

    def decision_at(self, at: datetime) -> Decision | None:
        """The decision to proceed in force at ``at``: made in the current inquorate stretch, at or before ``at``."""
        for start, end, decision in self._stretches:
            if (start is None or start <= at) and (end is None or at < end):
                return decision if decision is not None and decision.at <= at else None
        return None


def _views_at_changes(invitees: list[Invitee], standing: list[Event], settings: ConferenceSettings):
    """(time, quorum) after each moment at which someone's state changed, in one pass over ``standing``.

    The same as :func:`assess` at each of those times (it steps people exactly as
    :func:`~kiosk.conference.presence.replay` does), without replaying the whole log each
    time: a long conference's record stays quick to build.
    """
    by_id = {i.id: i for i in invitees}
    people: dict[int, Person] = {}
    i, n = 0, len(standing)
    while i < n:
        at = standing[i].at
        changed = False
        while i < n and standing[i].at == at:  # events at the same instant count together
            event = standing[i]
            i += 1
            if event.invitee_id is None or event.kind not in TRANSITIONS:
                continue
            person = people.get(event.invitee_id, Person())
            if problem(person, event.kind, event.details) is None:
                after = step(person, event)
                if after != person:
                    people[event.invitee_id] = after
                    changed = True
        if changed:
            yield at, _judge(by_id, people, at, settings)


def timeline(invitees: Iterable[Invitee], events: Iterable[Event],
             settings: ConferenceSettings = ConferenceSettings(), *,
             start: datetime | None = None, end: datetime | None = None) -> QuorumTimeline:
    """Quorum over the meeting, from the events up to ``end`` (all with None).

    ``start`` (the recorded or scheduled start) limits the inquorate periods to the
    meeting itself; without it only stretches after quorum was first reached are listed.
    """
    invitees = list(invitees)
    events = list(events)
    start = start.astimezone(timezone.utc) if start is not None else None
    end = end.astimezone(timezone.utc) if end is not None else None
    standing, _ = effective(events)
    if end is not None:
        standing = [e for e in standing if e.at <= end]
    decisions = [e for e in standing if e.kind in (EventKind.PROCEED_INQUORATE, EventKind.ADJOURNED)]
    at_start = assess(invitees, standing, start, settings) if start is not None else None
    return timeline_from(list(_views_at_changes(invitees, standing, settings)), decisions, start=start, end=end,
                         at_start=at_start)


def timeline_from(views: list[tuple[datetime, QuorumView]], decision_events: list[Event], *,
                  start: datetime | None, end: datetime | None, at_start: QuorumView | None) -> QuorumTimeline:
    """:func:`timeline` from quorum after each change of presence (time order), the decision events and quorum
    at ``start``: what a :class:`~kiosk.conference.fold.Fold` keeps, so that a long log is not replayed."""
    changes = _changes(views, end)
    decisions = tuple(Decision(e.at, e.kind, str(e.details.get("reason", "")), e.details.get("new_date"),
                               e.details.get("late_reason"))
                      for e in decision_events if end is None or e.at <= end)
    stretches = _stretches(changes, decisions)
    periods = _periods(stretches, changes, start, end)
    return QuorumTimeline(tuple(changes), decisions, tuple(periods), at_start.quorate if at_start else None,
                          tuple(stretches), at_start)


def _changes(views, end) -> list[QuorumChange]:
    changes: list[QuorumChange] = []
    quorate, ever = False, False
    for at, view in views:
        if end is not None and at > end:
            break
        if view.quorate != quorate:
            label = "quorum lost" if not view.quorate else ("quorum regained" if ever else "quorate")
            changes.append(QuorumChange(at, view.quorate, label, view.reason, view.agencies))
            quorate, ever = view.quorate, ever or view.quorate
    return changes


def _stretches(changes, decisions) -> list[tuple]:
    """Inquorate stretches over all time: before the first change, and after each loss."""
    bounds = [None] + [c.at for c in changes] + [None]
    stretches = []
    for i in range(len(bounds) - 1):
        inquorate = not changes[i - 1].quorate if i else True
        if inquorate:
            s, e = bounds[i], bounds[i + 1]
            decision = next((d for d in decisions if d.proceed and (s is None or d.at >= s)
                             and (e is None or d.at < e)), None)
            stretches.append((s, e, decision))
    return stretches


def _periods(stretches, changes, start, end) -> list[InquoratePeriod]:
    periods = []
    first_quorate = changes[0].at if changes else None
    floor = start if start is not None else first_quorate
    if floor is None:
        return periods
    for s, e, decision in stretches:
        s2 = floor if s is None or s < floor else s
        e2 = e if end is None or (e is not None and e < end) else end
        if (e2 is None or s2 < e2) and (start is not None or s is not None):
            periods.append(InquoratePeriod(s2, e2, decision))
    return periods


def view_at(views: list[tuple[datetime, QuorumView]], by_id: dict[int, Invitee], at: datetime,
            settings: ConferenceSettings) -> QuorumView:
    """Quorum at ``at`` from the quorum after each change (:func:`assess` without replaying the log)."""
    index = bisect.bisect_right([t for t, _ in views], at)
    if index == 0:
        return _judge(by_id, {}, at, settings)
    view = views[index - 1][1]
    return QuorumView(at, view.quorate, view.in_person, view.virtual, view.childrens_social_care, view.agencies,
                      view.needed, view.reason)
