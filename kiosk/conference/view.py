"""The chair's view of one conference: a pure function of the record and the clock.

:func:`build_view` turns a conference, its invitees, its events, the time and the
``[conference]`` settings (with the case's other conferences, for timescales and double
bookings) into the plain data the chair's page renders and the JSON API returns:
invitees with where each one stands and the taps allowed for them, quorum with its
reason and the decision in force, reports against their due date, D7 timescales and
every warning, and the latest entries of the event log. Nothing here reads a file, a
clock or a lock, so the same inputs always give the same view.

The short texts in it ("Online since 10:03", "Left (chair agreed)", the warnings) are
fields of the JSON API (contracts), so they are written here, once, for the page and
the API alike; the page's own wording is in its templates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo

from kiosk.conference import presence, quorum, record as record_mod, workdays
from kiosk.conference.fold import Fold
from kiosk.conference.model import Conference, ConferenceType, EventKind, Mode, Status


@dataclass(frozen=True)
class Action:
    """One tap on the chair's page: an event kind and its fixed details."""

    code: str
    kind: EventKind
    details: dict
    label: str


#: The taps of the attendance table (D3, D4, D10, D13), in the order the page shows them.
ACTIONS: dict[str, Action] = {a.code: a for a in (
    Action("arrived_in_person", EventKind.ARRIVED, {"mode": "in_person"}, "Arrived in room"),
    Action("arrived_virtual", EventKind.ARRIVED, {"mode": "virtual"}, "Arrived online"),
    Action("apologies", EventKind.APOLOGIES, {}, "Apologies"),
    Action("not_attended", EventKind.NOT_ATTENDED, {}, "Not attended"),
    Action("lost_connection", EventKind.LOST_CONNECTION, {}, "Lost connection"),
    Action("rejoined", EventKind.REJOINED, {}, "Rejoined"),
    Action("could_not_rejoin_emailed", EventKind.COULD_NOT_REJOIN, {"emailed_chair": True},
           "Could not rejoin (emailed)"),
    Action("could_not_rejoin_not_emailed", EventKind.COULD_NOT_REJOIN, {"emailed_chair": False},
           "Could not rejoin (no email)"),
    Action("camera_off", EventKind.CAMERA_OFF, {}, "Camera off"),
    Action("camera_on", EventKind.CAMERA_ON, {}, "Camera on"),
    Action("left_agreed", EventKind.LEFT, {"agreed": True}, "Left (chair agreed)"),
    Action("left_not_agreed", EventKind.LEFT, {"agreed": False}, "Left (not agreed)"),
)}

#: The log entries a view carries, newest first (the page shows 20; the service's ``log_page`` has them all).
VIEW_LOG_ROWS = 20

_PRESENCE_TEXT = {
    presence.Presence.ABSENT: "Not arrived",
    presence.Presence.APOLOGIES: "Apologies",
    presence.Presence.NOT_ATTENDED: "Did not attend",
    presence.Presence.PRESENT: "Present",
    presence.Presence.DISCONNECTED: "Connection lost",
    presence.Presence.GONE: "Left",
}


@dataclass(frozen=True)
class Setting:
    """What a view needs besides the record and the clock: the ``[conference]`` settings, the room's time
    zone, the case's stored conferences (``case``) and the live conference's id (the room's counts)."""

    settings: object
    tz: tzinfo
    case: tuple[Conference, ...] = ()
    live_id: int | None = None


def clock(at: datetime | None, tz: tzinfo, day: date | None = None, seconds: bool = False) -> str | None:
    """``at`` as the room's clock shows it (HH:MM[:SS]), with the date when it is not ``day``."""
    if at is None:
        return None
    local = at.astimezone(tz)
    text = local.strftime("%H:%M:%S" if seconds else "%H:%M")
    return text if day is None or local.date() == day else local.strftime("%Y-%m-%d ") + text


def conference_dict(c: Conference, today: date, live_id: int | None = None) -> dict:
    """A conference as the list of conferences and the view show it."""
    return {"id": c.id, "type": c.type.value, "type_label": c.type.label, "date": c.date.isoformat(),
            "start_time": c.start_time.strftime("%H:%M"), "case_ref": c.case_ref, "status": c.status.value,
            "strategy_date": c.strategy_date.isoformat() if c.strategy_date else None,
            "previous_icpc_date": c.previous_icpc_date.isoformat() if c.previous_icpc_date else None,
            "is_today": c.date == today, "live": c.id == live_id}


def build_view(conference: Conference, invitees, events, now: datetime, setting: Setting,
               fold: Fold | None = None) -> tuple[dict, datetime]:
    """The chair's view at ``now``, and until when it stays true if the record does not change.

    ``fold`` is the events' fold when the caller has it (the store keeps one up to date); without
    it the events are folded here.
    """
    settings, tz = setting.settings, setting.tz
    fold = fold if fold is not None else Fold.build(invitees, events, settings)
    today = now.astimezone(tz).date()
    rec = record_mod.build_record(conference, invitees, events, settings, tz=tz, fold=fold)
    people_now = fold.people_at(now)
    if people_now is None:  # an event dated after now (the clock was set back): replay up to now
        people_now = presence.replay(events, until=now)
    scheduled = conference.starts_at(tz)
    started = fold.started is not None or now >= scheduled
    due = workdays.report_due(conference, settings)
    people = _people(conference, invitees, fold, people_now, rec, today, due, tz)
    reports = [p for p in people if p["needs_report"]]
    names = {i.id: i.name for i in invitees}
    # The latest entries only (newest first): the whole log comes in pages, so that a view, and so a
    # tap's answer, is the same size however long the log.
    log_rows = [log_row(e, conference, names, fold.voided, tz) for e in events[:-VIEW_LOG_ROWS - 1:-1]]
    case = list(setting.case)
    timescales = _timescales(conference, case, today)
    reconvene = _reconvene(conference, rec["quorum"])
    warnings, timescale_warnings = _warnings(timescales, reports, due, rec, reconvene)
    clashes = [c.id for c in case if c.id != conference.id and c.date == conference.date
               and c.start_time == conference.start_time]
    warnings += [f"Conference {other} for this case is booked at the same date and time: is one of them a "
                 f"mistake?" for other in clashes]
    info = conference_dict(conference, today, setting.live_id)
    info.update(starts_at=scheduled.isoformat(), started_at=rec["conference"]["started_at"],
                ended_at=rec["conference"]["ended_at"], report_due=due.isoformat(), reports_overdue=today > due,
                reconvene_by=reconvene["by"] if reconvene else None,
                previous_available=_previous_available(conference, case),
                can_reopen=conference.status is Status.ENDED, double_booked=clashes)
    return {
        "conference": info,
        # Grows with every change to this conference; ``GET ...?since=revision`` waits for the next.
        "revision": conference.changes + len(events),
        "quorum": _quorum_now(conference, invitees, fold, people_now, now, rec, started, settings),
        "timeline": rec["quorum"],
        "people": people,
        "counts": rec["counts"],
        "reports": _reports(reports, due, today),
        "timescales": timescales,
        "timescale_warnings": timescale_warnings,
        "reconvene": reconvene,
        "warnings": warnings,
        "events": log_rows,
        "events_total": len(events),
    }, _valid_until(events, now, scheduled, today, tz)


def _valid_until(events, now: datetime, scheduled: datetime, today: date, tz: tzinfo) -> datetime:
    """When a view computed at ``now`` stops being true: midnight, the scheduled start, or an event dated later."""
    midnight = datetime.combine(today + timedelta(days=1), datetime.min.time(), tzinfo=tz)
    later = []  # events dated after now (only after the clock was set back): at the end, in time order
    for e in reversed(events):
        if e.at <= now:
            break
        later.append(e.at)
    return min([midnight] + [t for t in [scheduled] + later if t > now])


def _reports(reports: list[dict], due: date, today: date) -> dict:
    return {"due": due.isoformat(), "overdue": today > due, "needed": len(reports),
            "received": sum(1 for p in reports if p["report"]["received_on"]),
            "missing": sum(1 for p in reports if p["report"]["status"] == "missing"),
            "late": sum(1 for p in reports if p["report"]["status"] == "late")}


def _previous_available(conference: Conference, case: list[Conference]) -> bool:
    return any(c.date < conference.date or (c.date == conference.date and c.id < conference.id) for c in case)


def _quorum_now(conference, invitees, fold, people_now, now, rec, started, settings) -> dict:
    """Quorum now (at the end once the conference has ended), with the page's state word and the
    decision in force."""
    if conference.ended_at is not None and conference.ended_at < now:
        q = quorum.view_at(fold.changes, fold.by_id, conference.ended_at, settings)
    else:
        q = quorum.judge(invitees, people_now, now, settings)
    decision = None if q.quorate else _decision_in_force(rec["quorum"])
    if q.quorate:
        state = "quorate"
    elif decision is not None:
        state = "proceeding"
    else:
        state = "inquorate" if started else "waiting"
    return q.to_dict() | {"state": state, "started": started, "decision": decision,
                          "min_other_agencies": settings.min_other_agencies}


def _people(conference, invitees, fold, people_now, rec, today, due, tz) -> list[dict]:
    """The invitees with where each one stands and the taps allowed for them."""
    by_record = {p["invitee_id"]: p for p in rec["people"]}
    open_ = conference.status is Status.SCHEDULED
    return [_person_row(inv, people_now.get(inv.id, presence.Person()), by_record[inv.id],
                        fold.last_attendance.get(inv.id), conference, today, due, open_,
                        inv.id in fold.with_events, tz)
            for inv in invitees]


def status_text(person: presence.Person, row: dict) -> str:
    """Where someone stands, in a few words with the time ("Online since 10:03")."""
    state = person.presence
    if state is presence.Presence.PRESENT:
        where = "In room" if person.mode is Mode.IN_PERSON else "Online"
        return f"{where} since {row['arrived_at']}" if row["arrived_at"] else where
    if state is presence.Presence.DISCONNECTED and row["connection"]:
        return f"Connection lost at {row['connection'][-1]['lost_at']}"
    if state is presence.Presence.GONE:
        return _gone_text(row)
    return _PRESENCE_TEXT[state]


def _gone_text(row: dict) -> str:
    if row["left_at"]:
        agreed = " (chair agreed)" if row["left_agreed"] else " (chair did not agree)"
        return f"Left at {row['left_at']}{agreed}"
    last = row["connection"][-1] if row["connection"] else None
    if last and last["could_not_rejoin"]:
        return "Could not rejoin" + (" (emailed the chair)" if last["emailed_chair"] else " (no email)")
    return "Left"


def _person_row(inv, person, row, last, conference, today, due, open_, has_events, tz) -> dict:
    report = dict(row["report"])
    if report["status"] == "missing" and today <= due:
        report["status"] = "awaited"
    return {
        "id": inv.id, "name": inv.name, "role": inv.role.value, "role_label": inv.role.label,
        "agency": inv.agency.value, "agency_label": inv.agency.label, "direct_contact": inv.direct_contact,
        "expected_mode": inv.expected_mode.value, "expected_mode_label": inv.expected_mode.label,
        "email": inv.email, "counts_towards_quorum": inv.counts_towards_quorum,
        "needs_report": inv.needs_report,
        "state": person.presence.value, "state_label": _PRESENCE_TEXT[person.presence],
        "status_text": status_text(person, row),
        "mode": person.mode.value if person.mode else None, "camera_off": person.camera_off,
        "present": person.present,
        "arrived_at": row["arrived_at"], "arrival_mode": row["arrival_mode"], "late": row["late"],
        "minutes_late": row["minutes_late"], "seconds_late": row["seconds_late"], "late_text": row["late_text"],
        "left_at": row["left_at"], "left_agreed": row["left_agreed"],
        "connection": row["connection"], "report": report,
        "actions": [a.code for a in ACTIONS.values()
                    if open_ and presence.problem(person, a.kind, a.details) is None],
        "undo": {"event_id": last.id, "label": f"{last.kind.label} at {clock(last.at, tz, conference.date)}"}
        if last is not None and open_ else None,
        "editable": open_ and not has_events,
    }


def _reconvene(conference: Conference, timeline: dict) -> dict | None:
    """D5 after a decision not to proceed: the date to reconvene by, the new date given, and whether it is
    later (then with the reason recorded for it)."""
    adjourned = [d for d in timeline["decisions"] if d["decision"] == "not proceed"]
    if not adjourned:
        return None
    by = workdays.reconvene_by(conference)
    new_date = next((d["new_date"] for d in reversed(adjourned) if d["new_date"]), None)
    late = bool(by and new_date and new_date > by.isoformat())
    return {"by": by.isoformat() if by else None, "new_date": new_date, "late": late,
            "late_reason": adjourned[-1].get("late_reason") if late else None}


def _reconvene_warnings(reconvene: dict | None) -> list[str]:
    if not reconvene or not reconvene["by"]:
        return []
    if reconvene["late"]:
        return [f"The new date {reconvene['new_date']} is later than {reconvene['by']}, "
                f"10 working days after this initial conference (D5)"]
    return [f"The conference did not proceed: reconvene by {reconvene['by']} (within 10 working days)"]


def _warnings(timescales, reports, due, rec, reconvene) -> tuple[list[str], list[str]]:
    """Every warning of the view, and the timescale ones (D5, D7) for the page's top banner."""
    missed = [t["warning"] for t in timescales if t["warning"]]
    extra = _reconvene_warnings(reconvene)
    warnings = list(missed)
    missing = sum(1 for p in reports if p["report"]["status"] == "missing")
    late = sum(1 for p in reports if p["report"]["status"] == "late")
    if missing:
        warnings.append(f"{missing} report(s) not received (due by {due.isoformat()})")
    if late:
        warnings.append(f"{late} report(s) received after {due.isoformat()}")
    warnings += rec["quorum"]["warnings"] + extra
    return warnings, missed + extra


def log_row(e, conference: Conference, names: dict, voided: dict, tz: tzinfo) -> dict:
    """One entry of the log as the page shows it."""
    return {
        "id": e.id, "at": clock(e.at, tz, conference.date, seconds=True), "kind": e.kind.value,
        "label": e.kind.label, "invitee_id": e.invitee_id, "who": names.get(e.invitee_id),
        "details": details_text(e), "voided": e.id in voided,
        "voided_by": voided[e.id].id if e.id in voided else None,
        "correctable": e.kind is not EventKind.CORRECTION and not e.kind.by_route_only and e.id not in voided,
    }


def _decision_in_force(timeline: dict) -> dict | None:
    """The decision to proceed made in the current inquorate stretch (D5), from the record's quorum part
    (so the timeline, the costly part of a view, is computed once)."""
    periods = timeline["inquorate_periods"]
    if not periods or periods[-1]["decision"] is None:
        return None
    reason = periods[-1]["decision"]
    made = [d for d in timeline["decisions"] if d["decision"] == "proceed" and d["reason"] == reason]
    return {"at": made[-1]["at"] if made else None, "reason": reason}


#: An event's details in words, in the order the log shows them: (key, words for its value).
_DETAIL_WORDS = (
    ("mode", lambda v: Mode.parse(v).label),
    ("agreed", lambda v: "chair agreed" if v else "chair did not agree"),
    ("emailed_chair", lambda v: "emailed the chair" if v else "did not email the chair"),
    ("received_on", lambda v: f"received {v}"),
    ("event_id", lambda v: f"voids event {v}"),
    ("new_date", lambda v: f"new date {v}"),
)


def details_text(event) -> str:
    """An event's details as the log shows them ("Online; chair agreed; <reason>")."""
    d = event.details
    parts = [words(d[key]) for key, words in _DETAIL_WORDS if key in d]
    parts += [str(d[key]) for key in ("reason", "note") if d.get(key)]
    return "; ".join(parts)


def _timescales(conference: Conference, case: list[Conference], today: date) -> list[dict]:
    """D7 deadlines for the conference's case, from the conferences stored for it (``case``)."""
    case = [c for c in case if c.date <= conference.date or c.id == conference.id]
    initials = [c for c in case if c.type is ConferenceType.INITIAL and c.date <= conference.date]
    icpc = max(initials, key=lambda c: (c.date, c.id)) if initials else None
    icpc_date = icpc.date if icpc else conference.previous_icpc_date
    strategy = icpc.strategy_date if icpc else None
    if conference.type is ConferenceType.INITIAL and conference.strategy_date:
        strategy = conference.strategy_date
    reviews = sorted({c.date for c in case if c.type is ConferenceType.REVIEW
                      and (icpc_date is None or c.date > icpc_date)})
    return [_timescale_row(d, today) for d in workdays.timescales(strategy, icpc_date, *reviews, today=today)]


def _timescale_row(d, today: date) -> dict:
    """One D7 deadline as the view shows it."""
    status, warning = d.status, d.warning
    if d.name.startswith("the first core group") and d.held is None:
        # Core groups are not recorded on the kiosk: show the date, claim nothing.
        status, warning = "not recorded", None
    elif d.held is not None and d.held > today:
        status = "scheduled in time" if d.status == workdays.MET else "scheduled too late"
        if d.status == workdays.MISSED:
            warning = f"Timescale: {d.name} is due by {d.due.isoformat()} but is scheduled for {d.held.isoformat()}"
    return {"name": d.name, "due": d.due.isoformat(), "status": status,
            "held": d.held.isoformat() if d.held else None, "warning": warning,
            # D7: a due date on a weekend or bank holiday says so, with the working day before it.
            "due_is_working_day": workdays.is_working_day(d.due),
            "last_working_day": workdays.last_working_day_on_or_before(d.due).isoformat(),
            "due_note": d.due_note}


__all__ = ["ACTIONS", "Action", "Setting", "VIEW_LOG_ROWS", "build_view", "clock", "conference_dict",
           "details_text", "log_row", "status_text"]
