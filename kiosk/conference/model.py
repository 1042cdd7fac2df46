"""What a conference record is made of: types, roles, agencies, modes, event kinds and the
three records (:class:`Conference`, :class:`Invitee`, :class:`Event`).

Every choice is a ``str`` enum whose value is what the database and CSV files hold; each
member also has a plain ``label`` for pages and exports. ``parse()`` accepts the value,
the label or a common alias in any case and spelling ("Health visitor", "health-visitor",
"GP"), and raises ValueError naming the known choices.

Who counts towards quorum (DOMAIN D2/D3) is decided here, by role and agency: the chair,
the note-taker, parents and carers, the child, advocates and interpreters never count.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any, Mapping
from zoneinfo import ZoneInfo


def text_key(text: str) -> str:
    """Normalise free text for matching: "Children's social care" -> "childrens_social_care"."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower().replace("'", "").replace("\u2019", "")).strip("_")


class Choice(str, enum.Enum):
    """A stored text value with a human label and aliases accepted by :meth:`parse`."""

    def __new__(cls, value: str, label: str, *aliases: str):
        obj = str.__new__(cls, value)
        obj._value_ = value
        obj.label = label
        obj.aliases = aliases
        return obj

    def __str__(self) -> str:
        return self.value

    @classmethod
    def parse(cls, text):
        """The member named by ``text`` (value, label or alias, any case); ValueError otherwise."""
        if isinstance(text, cls):
            return text
        if isinstance(text, str):
            wanted = text_key(text)
            for member in cls:
                if wanted in {member.value, text_key(member.label), *member.aliases}:
                    return member
        # The value is not quoted: a misaligned CSV row could put a name here, and messages may be logged (D15).
        known = ", ".join(m.label for m in cls)
        raise ValueError(f"unknown {cls._noun()} (known: {known})")

    @classmethod
    def _noun(cls) -> str:
        return re.sub(r"(?<!^)([A-Z])", r" \1", cls.__name__).lower()


class ConferenceType(Choice):
    """Initial (ICPC) or review (RCPC) child protection conference."""

    INITIAL = "initial", "initial child protection conference", "icpc"
    REVIEW = "review", "review child protection conference", "rcpc"


class Status(Choice):
    """Where a conference is in its life. A purged conference no longer exists (only counts remain)."""

    SCHEDULED = "scheduled", "scheduled"
    ENDED = "ended", "ended"


class Mode(Choice):
    """How someone attends (D1)."""

    IN_PERSON = "in_person", "in person", "room", "in_room", "face_to_face"
    VIRTUAL = "virtual", "virtual", "online", "remote", "video"


class Agency(Choice):
    """The organisation or group someone belongs to (D2). Several people from one agency count once."""

    CHILDRENS_SOCIAL_CARE = "childrens_social_care", "children's social care", "csc", "social_care"
    HEALTH = "health", "health"
    POLICE = "police", "police"
    EDUCATION = "education", "education"
    PROBATION = "probation", "probation"
    HOUSING = "housing", "housing"
    OTHER = "other", "other agency", "other_agency"
    PARENT_CARER = "parent_carer", "parent or carer", "parent", "carer", "parents", "family"
    CHILD = "child", "child or young person", "young_person", "child_young_person"
    ADVOCATE = "advocate", "advocate"
    INTERPRETER = "interpreter", "interpreter"

    @property
    def professional(self) -> bool:
        """True for the agencies and professional groups that can count towards quorum (D3)."""
        return self not in _NOT_PROFESSIONAL


_NOT_PROFESSIONAL = frozenset({Agency.PARENT_CARER, Agency.CHILD, Agency.ADVOCATE, Agency.INTERPRETER})


class Role(Choice):
    """What someone does in the conference (D2).

    Most roles belong to one agency (:attr:`agency`); the chair, the note-taker and
    "other professional" may come from any. Health roles are also the health
    sub-groups counted separately when health is not counted as one agency.
    """

    CHAIR = "chair", "chair", "conference_chair"
    NOTE_TAKER = "note_taker", "note-taker", "minute_taker", "minutes"
    SOCIAL_WORKER = "social_worker", "social worker"
    TEAM_MANAGER = "team_manager", "team manager"
    HEALTH_VISITOR = "health_visitor", "health visitor"
    SCHOOL_NURSE = "school_nurse", "school nurse"
    GP = "gp", "GP", "general_practitioner"
    PAEDIATRICIAN = "paediatrician", "paediatrician", "pediatrician"
    MIDWIFE = "midwife", "midwife"
    MENTAL_HEALTH = "mental_health", "mental health", "camhs", "mental_health_worker"
    OTHER_HEALTH = "other_health", "other health professional"
    POLICE_OFFICER = "police_officer", "police officer", "police"
    SCHOOL = "school", "school", "teacher", "designated_safeguarding_lead", "dsl"
    EARLY_YEARS = "early_years", "early years", "nursery"
    PROBATION_OFFICER = "probation_officer", "probation officer", "probation"
    HOUSING_OFFICER = "housing_officer", "housing officer", "housing"
    PARENT_CARER = "parent_carer", "parent or carer", "parent", "carer", "mother", "father"
    CHILD = "child", "child or young person", "young_person", "child_young_person"
    ADVOCATE = "advocate", "advocate"
    INTERPRETER = "interpreter", "interpreter"
    PROFESSIONAL = "professional", "other professional", "other"

    @property
    def agency(self) -> Agency | None:
        """The agency this role always belongs to, or None when it may come from any."""
        return _ROLE_AGENCY.get(self)

    @property
    def default_agency(self) -> Agency | None:
        """The agency assumed when none is given (chairs and note-takers work for the council)."""
        if self in (Role.CHAIR, Role.NOTE_TAKER):
            return Agency.CHILDRENS_SOCIAL_CARE
        return self.agency

    @property
    def counts(self) -> bool:
        """False for the chair and the note-taker, who never count towards quorum (D3)."""
        return self not in (Role.CHAIR, Role.NOTE_TAKER)

    @property
    def default_mode(self) -> Mode:
        """D1: parents/carers, the chair and the social worker attend in person; others join virtually."""
        return Mode.IN_PERSON if self in _IN_PERSON_BY_DEFAULT else Mode.VIRTUAL


#: D2's health roles: the sub-groups counted separately when health is not counted as one agency.
HEALTH_ROLES = (Role.HEALTH_VISITOR, Role.SCHOOL_NURSE, Role.GP, Role.PAEDIATRICIAN, Role.MIDWIFE,
                Role.MENTAL_HEALTH, Role.OTHER_HEALTH)

_ROLE_AGENCY = {
    Role.SOCIAL_WORKER: Agency.CHILDRENS_SOCIAL_CARE,
    Role.TEAM_MANAGER: Agency.CHILDRENS_SOCIAL_CARE,
    **{r: Agency.HEALTH for r in HEALTH_ROLES},
    Role.POLICE_OFFICER: Agency.POLICE,
    Role.SCHOOL: Agency.EDUCATION,
    Role.EARLY_YEARS: Agency.EDUCATION,
    Role.PROBATION_OFFICER: Agency.PROBATION,
    Role.HOUSING_OFFICER: Agency.HOUSING,
    Role.PARENT_CARER: Agency.PARENT_CARER,
    Role.CHILD: Agency.CHILD,
    Role.ADVOCATE: Agency.ADVOCATE,
    Role.INTERPRETER: Agency.INTERPRETER,
}
_IN_PERSON_BY_DEFAULT = frozenset({Role.CHAIR, Role.SOCIAL_WORKER, Role.PARENT_CARER})


class EventKind(Choice):
    """What the chair records. ``needs_invitee`` says whether the event is about one invitee."""

    ARRIVED = "arrived", "arrived"
    APOLOGIES = "apologies", "sent apologies"
    NOT_ATTENDED = "not_attended", "did not attend"
    LEFT = "left", "left"
    LOST_CONNECTION = "lost_connection", "lost connection"
    REJOINED = "rejoined", "rejoined"
    COULD_NOT_REJOIN = "could_not_rejoin", "could not rejoin"
    CAMERA_OFF = "camera_off", "camera off"
    CAMERA_ON = "camera_on", "camera back on"
    REPORT_RECEIVED = "report_received", "report received"
    STARTED = "started", "conference started"
    PROCEED_INQUORATE = "proceed_inquorate", "chair decided to proceed while inquorate"
    ADJOURNED = "adjourned", "chair decided not to proceed"
    CORRECTION = "correction", "correction"
    ENDED = "ended", "conference ended"
    REOPENED = "reopened", "conference reopened"

    @property
    def needs_invitee(self) -> bool:
        """True for events about one invitee; False for the conference's own (start, decisions, corrections)."""
        return self not in (EventKind.STARTED, EventKind.PROCEED_INQUORATE, EventKind.ADJOURNED,
                            EventKind.CORRECTION, EventKind.ENDED, EventKind.REOPENED)

    @property
    def by_route_only(self) -> bool:
        """True for the end and the reopening: recorded by their own routes, never as a plain event."""
        return self in (EventKind.ENDED, EventKind.REOPENED)

    @property
    def after_end(self) -> bool:
        """True for what may still be recorded once a conference has ended: a correction, a late report."""
        return self in (EventKind.CORRECTION, EventKind.REPORT_RECEIVED)


#: For each kind: detail key -> (type, required). Types: Mode, bool, "text" (non-empty free text),
#: date (ISO string), int. Free text ("note", "reason") is personal data that purging removes.
EVENT_DETAILS: dict[EventKind, dict[str, tuple[Any, bool]]] = {
    EventKind.ARRIVED: {"mode": (Mode, True), "note": ("text", False)},
    EventKind.APOLOGIES: {"note": ("text", False)},
    EventKind.NOT_ATTENDED: {"note": ("text", False)},
    EventKind.LEFT: {"agreed": (bool, True), "note": ("text", False)},
    EventKind.LOST_CONNECTION: {"note": ("text", False)},
    EventKind.REJOINED: {"note": ("text", False)},
    EventKind.COULD_NOT_REJOIN: {"emailed_chair": (bool, True), "note": ("text", False)},
    EventKind.CAMERA_OFF: {"note": ("text", False)},
    EventKind.CAMERA_ON: {"note": ("text", False)},
    EventKind.REPORT_RECEIVED: {"received_on": (date, True), "note": ("text", False)},
    EventKind.STARTED: {"note": ("text", False)},
    EventKind.PROCEED_INQUORATE: {"reason": ("text", True)},
    EventKind.ADJOURNED: {"reason": ("text", True), "new_date": (date, False), "late_reason": ("text", False)},
    EventKind.CORRECTION: {"event_id": (int, True), "reason": ("text", True)},
    EventKind.ENDED: {"note": ("text", False)},
    EventKind.REOPENED: {"reason": ("text", False)},
}


@dataclass(frozen=True)
class Conference:
    """One conference. ``date`` and ``start_time`` are local (the room's time zone).

    The child is identified only by ``case_ref``, never by name (D15).
    """

    id: int
    type: ConferenceType
    date: date
    start_time: time
    case_ref: str
    strategy_date: date | None = None
    previous_icpc_date: date | None = None
    status: Status = Status.SCHEDULED
    ended_at: datetime | None = None
    #: How many changes other than events it has had (details, invitees): with the events, its revision.
    changes: int = field(default=0, compare=False)

    def starts_at(self, tz: str | ZoneInfo) -> datetime:
        """The start as an aware datetime in ``tz``."""
        zone = ZoneInfo(tz) if isinstance(tz, str) else tz
        return datetime.combine(self.date, self.start_time, tzinfo=zone)


@dataclass(frozen=True)
class Invitee:
    """Someone invited to a conference."""

    id: int
    conference_id: int
    name: str
    role: Role
    agency: Agency
    direct_contact: bool
    expected_mode: Mode
    email: str | None = None

    @property
    def counts_towards_quorum(self) -> bool:
        """D3: children's social care always; other professionals only with direct contact."""
        if not self.role.counts or not self.agency.professional:
            return False
        return self.agency is Agency.CHILDRENS_SOCIAL_CARE or self.direct_contact

    @property
    def needs_report(self) -> bool:
        """D8: every invited professional provides a report (the chair and note-taker do not)."""
        return self.role.counts and self.agency.professional

    def quorum_unit(self, health_as_one_agency: bool = True) -> str | None:
        """The key under which this person counts towards quorum, or None when they do not.

        Several people with one key count once: the agency, or with health counted
        separately, ``health:<role>`` (a health professional without a health role is
        "other health").
        """
        if not self.counts_towards_quorum:
            return None
        if self.agency is Agency.HEALTH and not health_as_one_agency:
            group = self.role if self.role in HEALTH_ROLES else Role.OTHER_HEALTH
            return f"health:{group.value}"
        return self.agency.value


def unit_label(unit: str) -> str:
    """The plain label of a quorum unit: "children's social care", "health (GP)"."""
    agency, _, group = unit.partition(":")
    label = Agency(agency).label
    return f"{label} ({Role(group).label})" if group else label


@dataclass(frozen=True)
class Event:
    """Something the chair recorded. Events are never changed: a correction voids one by id.

    ``at`` is when it happened (kiosk clock, UTC); ``recorded_at`` is when it was saved.
    """

    id: int
    conference_id: int
    invitee_id: int | None
    kind: EventKind
    at: datetime
    details: Mapping[str, Any] = field(default_factory=dict)
    recorded_at: datetime | None = None
