"""The facts kept about one conference for the quality report (D16): a pure function of its record.

:func:`extract` reads the attendance record (:func:`kiosk.conference.record.build_record`),
the conference's D7 timescales and the room's check history, and returns plain data with
no names, no case reference and no free text: only dates, times of day, enum values,
yes/no answers and counts per agency. What each fact means is in docs/quality.md.

Professionals only: the per-agency counts cover invitees who owe a report (D8: every
invited professional; not the chair or note-taker, parents, the child, advocates or
interpreters). Several people of one agency add up in one agency's counts; a person is
never a key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from kiosk.conference.model import Agency, Role

#: Version of the facts' shape, stored with each conference's facts.
SCHEMA = 1
#: How long before the booked start the check history counts (D16: "in the hour before").
CHECKS_BEFORE_S = 3600
#: A check cycle older than this before the booked start says nothing about the room at the start.
READY_STALE_S = 3600

#: The counts kept per agency, in the order the report shows them.
AGENCY_COUNTS = ("invited", "in_person", "online", "whole", "late", "late_min", "left_agreed", "left_not_agreed",
                 "lost_connection", "rejoined", "cnr_emailed", "cnr_not_emailed", "camera_off",
                 "camera_off_episodes", "reports_needed", "reports_on_time", "reports_late", "reports_missing")

#: The agencies the report covers (D2's professional agencies), in order.
AGENCIES = tuple(a.value for a in Agency if a.professional)

#: What a timescale (D7) can be: met, missed, or not known (no strategy or ICPC date on the record).
TIMESCALE = ("met", "missed", "not known")


@dataclass(frozen=True)
class CheckOutcome:
    """One check's result at one time: the name and status only (reasons could quote anything)."""

    at: datetime
    name: str
    status: str  # "pass", "warn" or "fail"


def _minutes(text: str | None, day: date) -> datetime | None:
    """A record clock ("HH:MM", or "YYYY-MM-DD HH:MM" off the conference day) as a naive local datetime."""
    if not text:
        return None
    if " " in text:
        return datetime.strptime(text, "%Y-%m-%d %H:%M")
    return datetime.combine(day, datetime.strptime(text, "%H:%M").time())


def _span_min(start: datetime | None, end: datetime | None) -> int | None:
    if start is None or end is None:
        return None
    return max(0, round((end - start).total_seconds() / 60))


def _count_attendance(c: dict[str, int], p: dict) -> None:
    """Add one professional who attended to their agency's counts ``c``."""
    online = p["arrival_mode"] != "in person"
    c["online" if online else "in_person"] += 1
    connection = p["connection"]
    dropped_out = any(not x["rejoined_at"] for x in connection)
    c["whole"] += not (p["late"] or p["left_early"] or dropped_out)
    if p["late"]:
        c["late"] += 1
        c["late_min"] += int(p["minutes_late"] or 0)
    if p["left_early"]:
        c["left_agreed" if p["left_agreed"] else "left_not_agreed"] += 1
    if connection:
        c["lost_connection"] += 1
        c["rejoined"] += not dropped_out
        stuck = [x for x in connection if x["could_not_rejoin"]]
        if stuck:
            c["cnr_emailed" if any(x["emailed_chair"] for x in stuck) else "cnr_not_emailed"] += 1
    if p["camera_off"]:
        c["camera_off"] += 1
        c["camera_off_episodes"] += len(p["camera_off"])


def _agency_counts(people: list[dict]) -> dict[str, dict[str, int]]:
    """Per professional agency, the counts of :data:`AGENCY_COUNTS` (agencies with no invitee left out)."""
    out: dict[str, dict[str, int]] = {}
    for p in people:
        agency, role = Agency.parse(p["agency"]), Role.parse(p["role"])
        if not (agency.professional and role.counts):
            continue
        c = out.setdefault(agency.value, dict.fromkeys(AGENCY_COUNTS, 0))
        c["invited"] += 1
        report = p["report"]["status"]
        c["reports_needed"] += 1
        c["reports_on_time"] += report == "on time"
        c["reports_late"] += report == "late"
        c["reports_missing"] += report == "missing"
        if p["attendance"] == "attended":
            _count_attendance(c, p)
    return {a: out[a] for a in AGENCIES if a in out}


def _timescale(timescales: list[dict], day: str) -> str:
    """D7 for this conference: the deadline it was held for, met or missed; "not known" without one."""
    for t in timescales:
        if t.get("held") == day and not t["name"].startswith("the first core group"):
            if t["status"] in ("met", "scheduled in time"):
                return "met"
            if t["status"] in ("missed", "scheduled too late"):
                return "missed"
    return "not known"


def _room(checks: list[CheckOutcome], booked: datetime) -> tuple[bool | None, list[str]]:
    """Was the room ready at ``booked`` (aware), and which checks failed in the hour before it.

    Ready: every check in the last cycle at or before the start passed or only warned (a
    cycle is the outcomes sharing one time). None when no cycle ran in the hour before.
    """
    before = [c for c in checks if booked - timedelta(seconds=CHECKS_BEFORE_S) <= c.at <= booked]
    failed = sorted({c.name for c in before if c.status == "fail"})
    recent = [c for c in checks if booked - timedelta(seconds=READY_STALE_S) <= c.at <= booked]
    if not recent:
        return None, failed
    last = max(c.at for c in recent)
    return all(c.status != "fail" for c in recent if c.at == last), failed


def extract(record: dict, timescales: list[dict], checks: list[CheckOutcome], booked_start: datetime,
            late_after_min: float = 0.0, *, earlier: dict | None = None) -> dict:
    """The quality facts of one ended conference (see the module docstring and docs/quality.md).

    ``record``: :func:`~kiosk.conference.record.build_record`'s dict; ``timescales``: the
    chair's view's ``timescales``; ``checks``: the room's check outcomes around the start;
    ``booked_start``: the booked start, aware; ``late_after_min``: ``[conference]
    late_after_min``, the grace before a start (like an arrival) counts as late; ``earlier``:
    the facts kept for this conference before (taken again after a change to its record).
    """
    conf, quorum = record["conference"], record["quorum"]
    day = date.fromisoformat(conf["date"])
    booked = _minutes(conf["start_time"], day)
    started = _minutes(conf["started_at"], day)
    ended = _minutes(conf["ended_at"], day)
    delay = _span_min(booked, started) if started is not None else None
    start = started or booked
    inquorate_min = 0
    for period in quorum["inquorate_periods"]:
        inquorate_min += _span_min(_minutes(period["from"], day), _minutes(period["to"], day) or ended) or 0
    lost = sum(1 for c in quorum["changes"] if c["label"] == "quorum lost" and _minutes(c["at"], day) >= start)
    modes = {p["arrival_mode"] for p in record["people"] if p["attendance"] == "attended"}
    ready, failed = _room(checks, booked_start)
    if earlier and not checks and (earlier.get("date"), earlier.get("booked_start")) == (conf["date"],
                                                                                      conf["start_time"]):
        # Taken again days later, when the check history (kept for days) no longer covers the same booked
        # start: the room's readiness stays as it was taken.
        ready, failed = earlier.get("room_ready"), list(earlier.get("checks_failed_before") or [])
    return {
        "schema": SCHEMA,
        "date": conf["date"],
        "type": conf["type"],
        "hybrid": "in person" in modes and "virtual" in modes,
        "booked_start": conf["start_time"],
        "actual_start": conf["started_at"] if started is not None else None,
        "started_on_time": None if delay is None else delay <= late_after_min,
        "start_delay_min": delay,
        "duration_min": _span_min(start, ended),
        "quorate_at_start": bool(quorum["at_start"]["quorate"]),
        "quorate_throughout": not quorum["inquorate_periods"],
        "quorum_lost": lost,
        "inquorate_min": inquorate_min,
        "proceeded_inquorate": bool(quorum["proceeded_inquorate"]),
        "adjourned": any(d["decision"] == "not proceed" for d in quorum["decisions"]),
        "timescale": _timescale(timescales, conf["date"]),
        "room_ready": ready,
        "checks_failed_before": failed,
        "agencies": _agency_counts(record["people"]),
    }
