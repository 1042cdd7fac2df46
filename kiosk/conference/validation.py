"""Checking what the chair enters before anything is stored. Pure functions, no database.

Each ``*_fields`` function takes loose input (enums or text, as a form or CSV gives it),
returns clean values, and raises :class:`~kiosk.conference.errors.InvalidInput` with a
message the chair can act on. Messages never quote names or e-mail addresses (D15).
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Iterable, Mapping

from kiosk.conference import presence, quorum, workdays
from kiosk.conference.errors import ConferenceClosed, InvalidInput, NotFound, StaleState
from kiosk.conference.model import (EVENT_DETAILS, Agency, Conference, ConferenceType, Event, EventKind, Invitee,
                                    Mode, Role, Status)
from kiosk.conference.settings import ConferenceSettings

MAX_NAME = 200
MAX_TEXT = 2000
MAX_EMAIL = 254
#: How far ahead of the kiosk's clock an event may be dated (the tablet and kiosk clocks differ a little).
FUTURE_TOLERANCE = timedelta(minutes=1)

#: The one HH:MM rule (24-hour, local; the hour may have one digit), for the record, the forms and the API schema.
HHMM_PATTERN = r"([01]?[0-9]|2[0-3]):[0-5][0-9]"
#: The one case reference rule: 1-40 letters, digits, - _ / . (and at least one digit, checked apart).
CASE_REF_MAX = 40
_CASE_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9/_.-]{0,39}")
_EMAIL = re.compile(r"[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_TRUE = {"yes", "y", "true", "t", "1"}
_FALSE = {"no", "n", "false", "f", "0"}
#: The words a yes/no field takes (in any case), beside true and false themselves.
YES_NO_WORDS = frozenset(_TRUE | _FALSE)


def blank(value) -> bool:
    """None, or text of only spaces: what a form's empty field sends."""
    return value is None or (isinstance(value, str) and not value.strip())


def parse_bool(value, what: str) -> bool:
    """``True``/``False`` or yes/no, y/n, true/false, 1/0 in any case."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise InvalidInput(f"{what} must be yes or no")


def parse_date(value, what: str) -> date:
    """A ``date`` or ISO text (YYYY-MM-DD)."""
    if isinstance(value, datetime):
        raise InvalidInput(f"{what} must be a date, not a date and time")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise InvalidInput(f"{what} must be a date written YYYY-MM-DD")


def parse_time(value, what: str) -> time:
    """A naive ``time`` or HH:MM text (24-hour, local)."""
    if isinstance(value, time) and value.tzinfo is None:
        return value.replace(second=0, microsecond=0)
    if isinstance(value, str) and re.fullmatch(HHMM_PATTERN, value.strip()):
        hours, minutes = value.strip().split(":")
        return time(int(hours), int(minutes))
    raise InvalidInput(f"{what} must be a time written HH:MM (24-hour)")


def parse_optional_date(value, what: str) -> date | None:
    """Like :func:`parse_date`; blank (None, or empty text as a form's empty date field sends) is no date."""
    return None if blank(value) else parse_date(value, what)


def parse_choice(cls, value, what: str):
    """An enum member from a member or its text; InvalidInput naming the choices otherwise."""
    try:
        return cls.parse(value.strip() if isinstance(value, str) else value)
    except ValueError as exc:
        raise InvalidInput(str(exc) if what == cls._noun() else f"{what}: {exc}") from None


def utc(at: datetime, what: str = "the time") -> datetime:
    """An aware datetime in UTC; naive ones are refused (the kiosk cannot guess their zone)."""
    if not isinstance(at, datetime) or at.tzinfo is None or at.utcoffset() is None:
        raise InvalidInput(f"{what} must be a timezone-aware date and time")
    return at.astimezone(timezone.utc)


def check_case_ref(value) -> str:
    """A case reference: 1-40 letters, digits, - _ / . with at least one digit, so that it cannot be a name."""
    text = value.strip() if isinstance(value, str) else ""
    if len(text) > CASE_REF_MAX or not _CASE_REF.fullmatch(text) or not re.search(r"\d", text):
        raise InvalidInput("the case reference must be the child's case number (e.g. CP-2026-0142: letters, "
                           "digits, - _ / . and at least one digit), never a name")
    return text


def conference_fields(*, type, date, start_time, case_ref, strategy_date=None, previous_icpc_date=None) -> dict:
    """Clean fields of a conference; raises InvalidInput."""
    out = {
        "type": parse_choice(ConferenceType, type, "conference type"),
        "date": parse_date(date, "the conference date"),
        "start_time": parse_time(start_time, "the start time"),
        "case_ref": check_case_ref(case_ref),
        "strategy_date": parse_optional_date(strategy_date, "the strategy discussion date"),
        "previous_icpc_date": parse_optional_date(previous_icpc_date, "the previous ICPC date"),
    }
    if out["strategy_date"] and out["strategy_date"] > out["date"]:
        raise InvalidInput("the strategy discussion must come before the conference")
    if out["previous_icpc_date"]:
        if out["type"] is not ConferenceType.REVIEW:
            raise InvalidInput("only a review conference has a previous initial conference")
        if out["previous_icpc_date"] >= out["date"]:
            raise InvalidInput("the previous initial conference must come before this review")
    return out


def invitee_fields(*, name, role, agency=None, direct_contact=None, expected_mode=None, email=None) -> dict:
    """Clean fields of an invitee; raises InvalidInput.

    Blank ``agency`` takes the role's agency; blank ``expected_mode`` follows D1 (chair,
    social worker, parents/carers in person; others virtual). ``direct_contact`` may be
    blank only for someone it does not matter for: it decides whether a professional
    other than children's social care counts towards quorum.
    """
    name = check_name(name)
    if blank(role):
        raise InvalidInput("the role is missing")
    role = parse_choice(Role, role, "role")
    if blank(agency):
        agency = role.default_agency
        if agency is None:
            raise InvalidInput(f"the agency is needed for the role {role.label!r}")
    else:
        agency = parse_choice(Agency, agency, "agency")
    if role.agency is not None and agency is not role.agency:
        raise InvalidInput(f"the role {role.label!r} belongs to {role.agency.label}, not {agency.label}")
    if blank(direct_contact):
        if role.counts and agency.professional and agency is not Agency.CHILDRENS_SOCIAL_CARE:
            raise InvalidInput("direct contact must be yes or no: it decides whether this professional counts "
                               "towards quorum")
        direct_contact = agency is Agency.CHILDRENS_SOCIAL_CARE and role.counts
    else:
        direct_contact = parse_bool(direct_contact, "direct contact")
    mode = role.default_mode if blank(expected_mode) else parse_choice(Mode, expected_mode, "expected mode")
    return {"name": name, "role": role, "agency": agency, "direct_contact": direct_contact,
            "expected_mode": mode, "email": check_email(email)}


def check_name(value) -> str:
    """A person's name: plain text of 1-MAX_NAME characters, runs of spaces made one."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("the name is missing")
    name = " ".join(value.split())
    if len(name) > MAX_NAME or _CONTROL.search(name):
        raise InvalidInput(f"the name must be plain text of at most {MAX_NAME} characters")
    return name


def check_email(value) -> str | None:
    """An e-mail address, or None when blank."""
    if blank(value):
        return None
    if not isinstance(value, str) or len(value.strip()) > MAX_EMAIL or not _EMAIL.fullmatch(value.strip()):
        raise InvalidInput("the e-mail address is not valid")
    return value.strip()


def _detail(kind: EventKind, key: str, tp, value):
    what = f"{kind.label!r}: {key}"
    if tp is Mode:
        return parse_choice(Mode, value, what).value
    if tp is bool:
        return parse_bool(value, what)
    if tp is date:
        return parse_date(value, what).isoformat()
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).strip().isdigit():
            raise InvalidInput(f"{what} must be a whole number")
        return int(value)
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{what} must not be empty")
    if len(value) > MAX_TEXT:
        raise InvalidInput(f"{what} must be at most {MAX_TEXT} characters")
    return value.strip()


def event_details(kind: EventKind, details: Mapping[str, Any] | None) -> dict:
    """Clean details of an event of ``kind``: known keys only, required ones present, right types."""
    details = dict(details or {})
    spec = EVENT_DETAILS[kind]
    unknown = sorted(str(k) for k in details if k not in spec)
    if unknown:
        known = ", ".join(spec) or "none"
        raise InvalidInput(f"{kind.label!r} does not take {', '.join(unknown)} (it takes: {known})")
    out = {}
    for key, (tp, required) in spec.items():
        value = details.get(key)
        if blank(value):
            if required:
                need = {"reason": "a reason", "agreed": "whether the chair agreed",
                        "emailed_chair": "whether they e-mailed the chair"}.get(key, key.replace("_", " "))
                raise InvalidInput(f"{kind.label!r} needs {need}")
            continue
        out[key] = _detail(kind, key, tp, value)
    return out


def check_event(conference: Conference, invitees: Iterable[Invitee], events: Iterable[Event], kind,
                invitee_id: int | None, at: datetime, details, *, now: datetime,
                settings: ConferenceSettings = ConferenceSettings(),
                expect_state: str | None = None, fold=None) -> tuple[EventKind, datetime, dict]:
    """Check a new event against the conference's record so far; returns (kind, at in UTC, details).

    Raises InvalidInput when the event is malformed or does not fit the record (someone
    who is not present cannot leave; a decision to proceed while inquorate needs a
    reason and an inquorate conference), ConferenceClosed for anything but a correction
    or a report once the conference has ended, and StaleState when ``expect_state`` (the
    invitee's state as the client last saw it) is not their state now.

    ``fold``: the events already folded (:class:`~kiosk.conference.fold.Fold`), so that a long log is not
    replayed to check one new event.
    """
    kind = parse_choice(EventKind, kind, "event kind")
    if kind.by_route_only:
        raise InvalidInput(f"{kind.label!r} is recorded with POST /api/conferences/<id>/end or /reopen")
    if conference.status is Status.ENDED and not kind.after_end:
        raise ConferenceClosed(f"Conference {conference.id} has ended: only a correction or a report received can "
                               f"be recorded now (reopen it to record more)")
    at = utc(at, "the event time")
    if at > utc(now) + FUTURE_TOLERANCE:
        raise InvalidInput("the event time is in the future")
    details = event_details(kind, details)
    events, invitees = list(events), list(invitees)
    _check_invitee(conference, {i.id for i in invitees}, kind, invitee_id)
    people = fold.people_at(at) if fold is not None else None
    if people is None:
        people = presence.replay(events, until=at)
    if expect_state is not None:
        _check_expected(people, invitee_id, expect_state)
    if kind is EventKind.CORRECTION:
        _check_correction(conference, events, details)
    elif kind in presence.TRANSITIONS:
        why = presence.problem(people.get(invitee_id, presence.Person()), kind, details)
        if why:
            raise InvalidInput(f"cannot record {kind.label!r}: this invitee {why}")
    elif kind is EventKind.STARTED:
        standing = fold.standing if fold is not None else presence.effective(events)[0]
        if any(e.kind is EventKind.STARTED for e in standing):
            raise InvalidInput("the start of the conference is already recorded")
    elif kind is EventKind.PROCEED_INQUORATE:
        if quorum.judge(invitees, people, at, settings).quorate:
            raise InvalidInput("the conference is quorate: there is no decision to proceed while inquorate to record")
    elif kind is EventKind.ADJOURNED:
        _check_new_date(conference, details)
    return kind, at, details


#: The states an event may expect (``expect_state``), as the view names them.
STATES = tuple(p.value for p in presence.Presence)


def _check_invitee(conference: Conference, invitee_ids: set[int], kind: EventKind, invitee_id) -> None:
    if kind.needs_invitee:
        if invitee_id is None:
            raise InvalidInput(f"{kind.label!r} must name an invitee")
        if invitee_id not in invitee_ids:
            raise InvalidInput(f"invitee {invitee_id} is not invited to conference {conference.id}")
    elif invitee_id is not None:
        raise InvalidInput(f"{kind.label!r} is about the conference, not about one invitee")


def _check_expected(people: dict, invitee_id, expect_state) -> None:
    """StaleState unless the invitee is in ``expect_state`` now (a tap made against an old picture)."""
    if expect_state not in STATES:
        raise InvalidInput(f"expect_state must be one of {', '.join(STATES)}")
    if invitee_id is None:
        raise InvalidInput("expect_state is for events about one invitee")
    current = people.get(invitee_id, presence.Person()).presence.value
    if current != expect_state:
        raise StaleState(f"This invitee's state changed to {current!r} (the tap expected {expect_state!r}): "
                         f"nothing was recorded", current)


def _check_correction(conference: Conference, events: list[Event], details: dict) -> None:
    target = next((e for e in events if e.id == details["event_id"]), None)
    if target is None:
        # The path names the event: one that is not this conference's is not found (404), as documented.
        raise NotFound(f"event {details['event_id']} is not part of conference {conference.id}")
    if target.kind is EventKind.CORRECTION:
        raise InvalidInput("a correction cannot be corrected: record the event again instead")
    if target.kind.by_route_only:
        raise InvalidInput("the end or reopening of a conference cannot be corrected: reopen or end it again")
    if any(e.kind is EventKind.CORRECTION and e.details.get("event_id") == target.id for e in events):
        raise InvalidInput(f"event {target.id} has already been corrected")


def _check_new_date(conference: Conference, details: dict) -> None:
    """D5: a new date for an initial conference after its 10 working days needs a reason for the delay."""
    by = workdays.reconvene_by(conference)
    new_date = details.get("new_date")
    if by is None or new_date is None or date.fromisoformat(new_date) <= by:
        return
    if not details.get("late_reason"):
        raise InvalidInput(f"the new date {new_date} is later than {by.isoformat()}, 10 working days after this "
                           f"initial conference (D5): give the reason for the delay in late_reason")
