"""The attendance record for the minutes, built from the conference's events.

:func:`build_record` returns plain dicts and lists (strings, numbers, booleans, None)
that a template renders as a printable page; :func:`to_csv` writes the same record as
CSV for the minutes; :func:`summarise` keeps only the anonymous counts that survive a
purge. Times are local ("HH:MM", with the date when it is not the conference day).

The record holds names: it is for the chair's export only, never the room display,
MQTT or logs (D15).
"""

from __future__ import annotations

import csv
import io
import math
from datetime import datetime, timedelta
from typing import Iterable
from zoneinfo import ZoneInfo

from kiosk.conference import presence
from kiosk.conference.model import Agency, Conference, Event, EventKind, Invitee, Mode
from kiosk.conference.fold import Fold, Row
from kiosk.conference.quorum import timeline_from, view_at
from kiosk.conference.settings import ConferenceSettings
from kiosk.conference.workdays import report_due

#: A spreadsheet runs a cell starting with one of these as a formula (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class _Clock:
    """Formats UTC times in the room's zone, with the date only when it is not the conference day."""

    def __init__(self, conference: Conference, tz):
        self.zone = ZoneInfo(tz) if isinstance(tz, str) else tz
        self.day = conference.date

    def __call__(self, at: datetime | None) -> str | None:
        if at is None:
            return None
        local = at.astimezone(self.zone)
        return local.strftime("%H:%M") if local.date() == self.day else local.strftime("%Y-%m-%d %H:%M")


def lateness(arrived_at: datetime | None, scheduled: datetime, late: bool) -> tuple[int | None, int | None, str | None]:
    """(seconds late, minutes late, words) for an arrival: D6, under a minute in seconds ("27 s"), never
    rounded up to a minute; from a minute on in started minutes, as before ("6 min")."""
    if not late or arrived_at is None:
        return None, None, None
    seconds = int((arrived_at - scheduled).total_seconds())
    minutes = math.ceil((arrived_at - scheduled).total_seconds() / 60)
    return seconds, minutes, (f"{seconds} s" if seconds < 60 else f"{minutes} min")


def _attendance(row: Row) -> str:
    if row.arrived:
        return "attended"
    return {presence.Presence.APOLOGIES: "apologies", presence.Presence.NOT_ATTENDED: "did not attend"}.get(
        row.final.presence, "not recorded")


def _report(row: Row, due) -> dict:
    received = min(row.reports) if row.reports else None
    if not row.invitee.needs_report:
        status = "received" if received else "not expected"
    elif received is None:
        status = "missing"
    else:
        status = "on time" if received <= due.isoformat() else "late"
    return {"status": status, "received_on": received, "due": due.isoformat()}


def build_record(conference: Conference, invitees: Iterable[Invitee], events: Iterable[Event],
                 settings: ConferenceSettings = ConferenceSettings(), *, tz="Europe/London",
                 fold: Fold | None = None) -> dict:
    """The attendance record as plain data for a printable page (see the module docstring).

    ``fold``: the log already folded (:class:`~kiosk.conference.fold.Fold`, for these invitees and events),
    so that a long log is not replayed; each person's part is then reused until their row changes.
    """
    invitees = list(invitees)
    if fold is None:
        fold = Fold.build(invitees, events, settings)
    clock = _Clock(conference, tz)
    scheduled = conference.starts_at(clock.zone)
    started = fold.started.at if fold.started else None
    end = conference.ended_at
    due = report_due(conference, settings)
    late_after = scheduled + timedelta(minutes=settings.late_after_min)
    people = [_person_part(fold, inv, clock, (scheduled, late_after, end, due)) for inv in invitees]
    start = started or scheduled
    at_start = view_at(fold.changes, fold.by_id, start, settings)
    tl = timeline_from(fold.changes, fold.decisions, start=start, end=end, at_start=at_start)
    warnings = [f"Inquorate from {clock(p.start)} to {clock(p.end) if p.end else 'the end'} with no recorded "
                f"decision to proceed" for p in tl.undecided_periods]
    return {
        "conference": {
            "id": conference.id, "type": conference.type.value, "type_label": conference.type.label,
            "case_ref": conference.case_ref, "date": conference.date.isoformat(),
            "start_time": conference.start_time.strftime("%H:%M"), "started_at": clock(started),
            "ended_at": clock(end), "status": conference.status.value,
            "strategy_date": conference.strategy_date.isoformat() if conference.strategy_date else None,
            "previous_icpc_date": (conference.previous_icpc_date.isoformat()
                                   if conference.previous_icpc_date else None),
            "report_due": due.isoformat(),
        },
        "counts": _counts(people),
        "invited_by_agency": _by_agency(invitees),
        "people": people,
        "quorum": {
            "at_start": {"at": clock(start), "quorate": at_start.quorate, "reason": at_start.reason},
            "changes": [{"at": clock(c.at), "label": c.label, "reason": c.reason} for c in tl.changes],
            "decisions": [{"at": clock(d.at), "decision": "proceed" if d.proceed else "not proceed",
                           "reason": d.reason, "new_date": d.new_date, "late_reason": d.late_reason}
                          for d in tl.decisions],
            "inquorate_periods": [{"from": clock(p.start), "to": clock(p.end),
                                   "decision": p.decision.reason if p.decision else None}
                                  for p in tl.inquorate_periods],
            "proceeded_inquorate": tl.proceeded_inquorate,
            "warnings": warnings,
        },
        "corrections": _corrections(fold, invitees, events, clock),
    }


def _by_agency(invitees) -> dict:
    by_agency = {a.value: 0 for a in Agency}
    for inv in invitees:
        by_agency[inv.agency.value] += 1
    return {k: v for k, v in by_agency.items() if v}


def _corrections(fold: Fold, invitees, events, clock) -> list[dict]:
    if not fold.voided:
        return []
    names = {i.id: i.name for i in invitees}
    by_id = {e.id: e for e in events}
    corrections = []
    for target_id, correction in sorted(fold.voided.items(), key=lambda kv: (kv[1].at, kv[1].id)):
        target = by_id.get(target_id)
        if target is None:
            continue
        who = f"{names[target.invitee_id]}: " if target.invitee_id in names else ""
        corrections.append({"at": clock(correction.at), "reason": correction.details.get("reason"),
                            "voided": f"{who}{target.kind.label} at {clock(target.at)}"})
    return corrections


_COUNT_KEYS = ("invited", "attended_in_person", "attended_virtual", "apologies", "not_attended", "not_recorded",
               "late", "left_early", "lost_connection", "could_not_rejoin", "camera_off", "reports_on_time",
               "reports_late", "reports_missing")
_ATTENDANCE_COUNT = {"attended": None, "apologies": "apologies", "did not attend": "not_attended",
                     "not recorded": "not_recorded"}
_REPORT_COUNT = {"on time": "reports_on_time", "late": "reports_late", "missing": "reports_missing"}


def _counts(people: list[dict]) -> dict:
    counts = dict.fromkeys(_COUNT_KEYS, 0)
    counts["invited"] = len(people)
    for person in people:
        key = _ATTENDANCE_COUNT[person["attendance"]]
        if key:
            counts[key] += 1
        elif person["arrival_mode"] == Mode.IN_PERSON.label:
            counts["attended_in_person"] += 1
        else:
            counts["attended_virtual"] += 1
        counts["late"] += person["late"]
        counts["left_early"] += person["left_early"]
        counts["lost_connection"] += bool(person["connection"])
        counts["could_not_rejoin"] += any(c["could_not_rejoin"] for c in person["connection"])
        counts["camera_off"] += bool(person["camera_off"])
        if person["report"]["status"] in _REPORT_COUNT:
            counts[_REPORT_COUNT[person["report"]["status"]]] += 1
    return counts


def _person_part(fold: Fold, inv: Invitee, clock: _Clock, when: tuple) -> dict:
    """One invitee's part of the record; reused from the fold's cache until their row or the times change.
    The dicts returned are shared: read them, never change them."""
    row = fold.rows[inv.id]
    key = (row.version, inv, clock.zone, clock.day) + when
    cached = fold.parts.get(inv.id)
    if cached is not None and cached[0] == key:
        return cached[1]
    part = _person(row, clock, *when)
    fold.parts[inv.id] = (key, part)
    return part


def _person(row: Row, clock: _Clock, scheduled, late_after, end, due) -> dict:
    inv = row.invitee
    arrived_at = row.arrived.at if row.arrived else None
    late = arrived_at is not None and arrived_at > late_after
    left_early = row.left is not None and (end is None or row.left.at < end)
    connection = [{"lost_at": clock(c["lost"].at),
                   "rejoined_at": clock(c["end"].at) if c["end"] and c["end"].kind is EventKind.REJOINED else None,
                   "could_not_rejoin": bool(c["end"] and c["end"].kind is EventKind.COULD_NOT_REJOIN),
                   "emailed_chair": bool(c["end"] and c["end"].details.get("emailed_chair")),
                   "left_at": clock(c["end"].at) if c["end"] and c["end"].kind is EventKind.LEFT else None}
                  for c in row.connection]
    seconds_late, minutes_late, late_text = lateness(arrived_at, scheduled, late)
    arrival_mode = Mode.parse(row.arrived.details["mode"]) if row.arrived else None
    return {
        "invitee_id": inv.id, "name": inv.name, "role": inv.role.label, "agency": inv.agency.label,
        "direct_contact": inv.direct_contact, "expected_mode": inv.expected_mode.label,
        "attendance": _attendance(row),
        "arrived_at": clock(arrived_at), "arrival_mode": arrival_mode.label if arrival_mode else None,
        "late": late,
        "minutes_late": minutes_late, "seconds_late": seconds_late, "late_text": late_text,
        "left_early": left_early,
        "left_at": clock(row.left.at) if left_early else None,
        "left_agreed": bool(row.left.details.get("agreed")) if left_early else None,
        "connection": connection,
        "camera_off": [{"off_at": clock(c["off"].at), "on_at": clock(c["on"].at) if c["on"] else None,
                        "note": c["off"].details.get("note")} for c in row.camera],
        "report": _report(row, due),
        "notes": [f"{clock(e.at)} {e.kind.label}: {note}" for e, note in row.notes],
    }


def summarise(record: dict) -> dict:
    """The anonymous part of a record, kept after a purge: type, date and counts; no names, notes or case reference."""
    conference, quorum = record["conference"], record["quorum"]
    return {
        "type": conference["type"],
        "date": conference["date"],
        "counts": dict(record["counts"]),
        "invited_by_agency": dict(record["invited_by_agency"]),
        "quorate_at_start": quorum["at_start"]["quorate"],
        "quorum_lost": sum(1 for c in quorum["changes"] if c["label"] == "quorum lost"),
        "proceeded_inquorate": quorum["proceeded_inquorate"],
        "inquorate_without_decision": len(quorum["warnings"]),
        "corrections": len(record["corrections"]),
    }


def safe_cell(value) -> str:
    """A CSV cell that a spreadsheet will not run as a formula: risky starts get a leading quote."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _connection_text(items) -> str:
    parts = []
    for c in items:
        text = f"lost {c['lost_at']}"
        if c["rejoined_at"]:
            text += f", rejoined {c['rejoined_at']}"
        elif c["could_not_rejoin"]:
            text += ", could not rejoin" + (" (e-mailed the chair)" if c["emailed_chair"] else "")
        elif c["left_at"]:
            text += f", left {c['left_at']}"
        parts.append(text)
    return "; ".join(parts)


def _camera_text(items) -> str:
    return "; ".join(f"off {c['off_at']}" + (f", on {c['on_at']}" if c["on_at"] else "")
                     + (f" ({c['note']})" if c["note"] else "") for c in items)


ATTENDANCE_COLUMNS = ("Name", "Role", "Agency", "Direct contact", "Expected", "Attendance", "Arrived", "Mode",
                      "Late", "Left early", "Chair agreed", "Connection", "Camera off", "Report",
                      "Report received", "Notes")


def to_csv(record: dict) -> str:
    """The record as CSV text: conference details, one row per invitee, quorum, decisions, corrections.

    Every cell goes through :func:`safe_cell`, so a name like ``=HYPERLINK(...)`` stays text.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")

    def write(*cells):
        writer.writerow([safe_cell(c) for c in cells])

    c = record["conference"]
    write("Conference", c["type_label"])
    write("Case reference", c["case_ref"])
    write("Date", c["date"])
    write("Start time", c["start_time"])
    write("Started", c["started_at"])
    write("Ended", c["ended_at"])
    write("Reports due by", c["report_due"])
    write()
    write(*ATTENDANCE_COLUMNS)
    for p in record["people"]:
        report = p["report"]
        write(p["name"], p["role"], p["agency"], p["direct_contact"], p["expected_mode"], p["attendance"],
              p["arrived_at"], p["arrival_mode"],
              f"yes ({p.get('late_text') or str(p['minutes_late']) + ' min'})" if p["late"] else "no",
              p["left_at"] if p["left_early"] else "", p["left_agreed"] if p["left_early"] else "",
              _connection_text(p["connection"]), _camera_text(p["camera_off"]),
              report["status"], report["received_on"], " | ".join(p["notes"]))
    q = record["quorum"]
    write()
    write("Quorum at start", q["at_start"]["at"], q["at_start"]["reason"])
    write("Time", "Quorum", "Reason")
    for change in q["changes"]:
        write(change["at"], change["label"], change["reason"])
    for warning in q["warnings"]:
        write("Warning", warning)
    if q["decisions"]:
        write()
        write("Time", "Chair's decision", "Reason", "New date")
        for d in q["decisions"]:
            write(d["at"], d["decision"], d["reason"], d["new_date"])
    if record["corrections"]:
        write()
        write("Time", "Correction", "Reason")
        for corr in record["corrections"]:
            write(corr["at"], corr["voided"], corr["reason"])
    return out.getvalue()
