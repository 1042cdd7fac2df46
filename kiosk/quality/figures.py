"""Period figures from conferences' facts: sums that add up across months and rooms, and the rows
the report shows, with the small-count rule applied.

:func:`aggregate` sums a list of facts (:mod:`kiosk.quality.facts`) into *figures*: a
plain dict of counts, conference-level and per agency. Figures only ever add
(:func:`combine`), so a month's figures from several kiosks, or several months of one,
make the figures of the whole. :func:`headline_rows` and :func:`agency_rows` turn
figures into what people read; that is where the rule applies:

**Fewer than 5.** In the per-agency figures a count from 1 to 4 could point at one
identifiable professional, so it is shown as "fewer than 5", in the cell itself, and no
percentage or average is derived from it. Zero and counts of 5 or more are shown.
Conference-level counts are shown as they are (they are about meetings, not people).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date

from kiosk.conference.model import Agency
from kiosk.quality.facts import AGENCIES, AGENCY_COUNTS

#: Per-agency counts from 1 up to this one are not shown (the usual statistical-disclosure rule).
SMALL_MAX = 4
SMALL_TEXT = "fewer than 5"

#: The conference-level counts of a period's figures.
CONFERENCE_COUNTS = ("conferences", "initial", "review", "hybrid", "start_recorded", "started_on_time",
                     "start_delay_min", "quorate_at_start", "quorate_throughout", "quorum_lost", "inquorate_min",
                     "proceeded_inquorate", "adjourned", "timescale_met", "timescale_missed", "timescale_not_known",
                     "room_known", "room_ready", "technical_problems", "duration_known", "duration_min")


def empty() -> dict:
    """Figures of no conference at all."""
    return {**dict.fromkeys(CONFERENCE_COUNTS, 0), "checks_failed": {}, "agencies": {}}


def _add_conference(out: dict, f: dict) -> None:
    out["conferences"] += 1
    out[f["type"]] = out.get(f["type"], 0) + 1
    out["hybrid"] += bool(f["hybrid"])
    if f["started_on_time"] is not None:
        out["start_recorded"] += 1
        out["started_on_time"] += bool(f["started_on_time"])
        # The minutes of late starts only: the report averages them over the late starts, and a start within
        # [conference] late_after_min has a delay too.
        out["start_delay_min"] += 0 if f["started_on_time"] else int(f["start_delay_min"] or 0)
    out["quorate_at_start"] += bool(f["quorate_at_start"])
    out["quorate_throughout"] += bool(f["quorate_throughout"])
    out["quorum_lost"] += f["quorum_lost"] > 0
    out["inquorate_min"] += int(f["inquorate_min"])
    out["proceeded_inquorate"] += bool(f["proceeded_inquorate"])
    out["adjourned"] += bool(f["adjourned"])
    out["timescale_" + f["timescale"].replace(" ", "_")] += 1
    if f["room_ready"] is not None:
        out["room_known"] += 1
        out["room_ready"] += bool(f["room_ready"])
    out["technical_problems"] += bool(f["checks_failed_before"]) or f["room_ready"] is False
    for name in f["checks_failed_before"]:
        out["checks_failed"][name] = out["checks_failed"].get(name, 0) + 1
    if f["duration_min"] is not None:
        out["duration_known"] += 1
        out["duration_min"] += int(f["duration_min"])


def aggregate(facts: list[dict]) -> dict:
    """The figures (sums) of the conferences whose facts are given."""
    out = empty()
    for f in facts:
        _add_conference(out, f)
        for agency, counts in f["agencies"].items():
            mine = out["agencies"].setdefault(agency, dict.fromkeys(AGENCY_COUNTS, 0))
            for key in AGENCY_COUNTS:
                mine[key] += int(counts.get(key, 0))
    return out


def combine(many: list[dict]) -> dict:
    """Figures added together (several months, or several rooms' months)."""
    out = empty()
    for fig in many:
        for key in CONFERENCE_COUNTS:
            out[key] += int(fig.get(key, 0))
        for name, n in fig.get("checks_failed", {}).items():
            out["checks_failed"][name] = out["checks_failed"].get(name, 0) + int(n)
        for agency, counts in fig.get("agencies", {}).items():
            mine = out["agencies"].setdefault(agency, dict.fromkeys(AGENCY_COUNTS, 0))
            for key in AGENCY_COUNTS:
                mine[key] += int(counts.get(key, 0))
    return out


def check_figures(fig) -> dict:
    """``fig`` (e.g. from MQTT) if it has the shape of figures, else ValueError naming what is wrong."""
    if not isinstance(fig, dict):
        raise ValueError("figures must be a JSON object")
    for key in CONFERENCE_COUNTS:
        if not _count(fig.get(key, 0)):
            raise ValueError(f"figure {key!r} must be a whole number of 0 or more")
    checks = fig.get("checks_failed", {})
    if not isinstance(checks, dict) or not all(isinstance(k, str) and _count(v) for k, v in checks.items()):
        raise ValueError("checks_failed must map check names to counts")
    agencies = fig.get("agencies", {})
    if not isinstance(agencies, dict):
        raise ValueError("agencies must be a JSON object")
    for agency, counts in agencies.items():
        if agency not in AGENCIES:
            raise ValueError(f"unknown agency {agency[:40]!r}")
        if not isinstance(counts, dict) or not all(_count(counts.get(k, 0)) for k in AGENCY_COUNTS):
            raise ValueError(f"the counts of {agency} must be whole numbers of 0 or more")
    return fig


def _count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10 ** 9


# -- periods ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Period:
    """The days a report covers (both included) and how to say it."""

    first: date
    last: date
    label: str

    def months(self) -> list[str]:
        """The months (``YYYY-MM``) the period touches, in order."""
        out, y, m = [], self.first.year, self.first.month
        while (y, m) <= (self.last.year, self.last.month):
            out.append(f"{y:04d}-{m:02d}")
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        return out


def month_period(text: str) -> Period:
    """``YYYY-MM`` as a period; ValueError otherwise."""
    match = re.fullmatch(r"([0-9]{4})-([0-9]{2})", text or "")
    if not match or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 2000:
        raise ValueError("month must be YYYY-MM, e.g. 2026-11")
    y, m = int(match.group(1)), int(match.group(2))
    first = date(y, m, 1)
    return Period(first, date(y, m, calendar.monthrange(y, m)[1]), first.strftime("%B %Y"))


def quarter_period(text: str) -> Period:
    """``YYYY-Qn`` as a period; ValueError otherwise."""
    match = re.fullmatch(r"([0-9]{4})-[Qq]([1-4])", text or "")
    if not match or int(match.group(1)) < 2000:
        raise ValueError("quarter must be YYYY-Qn, e.g. 2026-Q4")
    y, q = int(match.group(1)), int(match.group(2))
    first, last_month = date(y, 3 * q - 2, 1), 3 * q
    last = date(y, last_month, calendar.monthrange(y, last_month)[1])
    return Period(first, last, f"{y} quarter {q} ({first.strftime('%B')} to {last.strftime('%B')})")


def range_period(first: str, last: str) -> Period:
    """``from`` and ``to`` (YYYY-MM-DD, both included) as a period; ValueError otherwise."""
    try:
        a, b = date.fromisoformat(first or ""), date.fromisoformat(last or "")
    except ValueError:
        raise ValueError("from and to must both be dates, YYYY-MM-DD") from None
    if b < a:
        raise ValueError("to must not be before from")
    if a.year < 2000:
        raise ValueError("from must be in 2000 or later")
    if (b - a).days > 3660:
        raise ValueError("a period may be at most 10 years long")
    return Period(a, b, f"{a.isoformat()} to {b.isoformat()}")


def choose_period(args, today: date) -> Period:
    """The period named by request arguments (``month``, ``quarter``, or ``from`` and ``to``); the current
    month by default. ValueError names the problem."""
    if args.get("from") or args.get("to"):
        return range_period(args.get("from", ""), args.get("to", ""))
    if args.get("quarter"):
        return quarter_period(args["quarter"])
    if args.get("month"):
        return month_period(args["month"])
    return month_period(today.strftime("%Y-%m"))


def shift_month(month: str, delta: int) -> str:
    """``YYYY-MM`` moved by ``delta`` months."""
    index = int(month[:4]) * 12 + int(month[5:7]) - 1 + delta
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def trend_months(period: Period, count: int = 12) -> list[str]:
    """The ``count`` months up to the period's last month, oldest first."""
    index = period.last.year * 12 + period.last.month - 1
    return [f"{i // 12:04d}-{i % 12 + 1:02d}" for i in range(index - count + 1, index + 1)]


# -- what people read -----------------------------------------------------------------------

def small(n: int) -> bool:
    """True for a per-agency count that is not shown (1 to 4)."""
    return 0 < n <= SMALL_MAX


def shown(n: int) -> str:
    """A per-agency count as shown: "fewer than 5" for 1-4, else the number."""
    return SMALL_TEXT if small(n) else str(n)


def percent(part: int, whole: int) -> int | None:
    """``part`` of ``whole`` as a whole percentage (None when ``whole`` is 0)."""
    return round(100 * part / whole) if whole else None


def rate(part: int, whole: int) -> float | None:
    """``part`` of ``whole`` as a fraction for charts (None when it cannot or may not be shown)."""
    return None if not whole or small(part) else part / whole


@dataclass(frozen=True)
class Row:
    """One line of the headline table: ``count`` of ``of`` (None: a plain number), and its note."""

    key: str
    label: str
    count: int
    of: int | None = None
    note: str = ""

    @property
    def percent(self) -> int | None:
        return percent(self.count, self.of) if self.of is not None else None

    def text(self) -> str:
        if self.of is None:
            return str(self.count)
        pct = self.percent
        return f"{self.count} of {self.of}" + (f" ({pct}%)" if pct is not None else "")


def headline_rows(fig: dict) -> list[Row]:
    """The conference-level figures, in the report's order (shown as they are)."""
    n = fig["conferences"]
    timescale_known = fig["timescale_met"] + fig["timescale_missed"]
    late_starts = fig["start_recorded"] - fig["started_on_time"]
    avg_delay = f"late starts average {round(fig['start_delay_min'] / late_starts)} min" if late_starts else ""
    failed = ", ".join(f"{name} {k}" for name, k in sorted(fig["checks_failed"].items()))
    avg_len = f"average {round(fig['duration_min'] / fig['duration_known'])} min" if fig["duration_known"] else ""
    return [
        Row("conferences", "Conferences held", n, None,
            f"{fig['initial']} initial, {fig['review']} review; {fig['hybrid']} hybrid; {avg_len}".rstrip("; ")),
        Row("started_on_time", "Started on time", fig["started_on_time"], fig["start_recorded"],
            "; ".join(filter(None, ("of those whose start the chair recorded", avg_delay)))),
        Row("quorate_at_start", "Quorate at the start", fig["quorate_at_start"], n),
        Row("quorate_throughout", "Quorate throughout", fig["quorate_throughout"], n),
        Row("quorum_lost", "Quorum lost part-way", fig["quorum_lost"], n,
            f"{fig['inquorate_min']} min inquorate in all"),
        Row("proceeded_inquorate", "Proceeded while inquorate (chair's decision)", fig["proceeded_inquorate"], n),
        Row("adjourned", "Did not proceed (adjourned)", fig["adjourned"], n),
        Row("timescale_met", "Held within its timescale (D7)", fig["timescale_met"], timescale_known,
            f"{fig['timescale_not_known']} with no date to judge by" if fig["timescale_not_known"] else ""),
        Row("room_ready", "Room ready at the booked start", fig["room_ready"], fig["room_known"],
            f"{n - fig['room_known']} with no check in the hour before" if n - fig["room_known"] else ""),
        Row("technical_problems", "Technical problems at the start", fig["technical_problems"], n,
            f"failed in the hour before: {failed}" if failed else ""),
    ]


#: The per-agency table: column key, heading, numerator, denominator (None: no percentage).
AGENCY_COLUMNS = (
    ("invited", "Invited", "invited", None),
    ("attended", "Attended", "attended", "invited"),
    ("in_person", "In the room", "in_person", None),
    ("online", "Online", "online", None),
    ("whole", "Whole meeting", "whole", "attended"),
    ("late", "Late", "late", "attended"),
    ("late_avg", "Average minutes late", None, None),
    ("left_agreed", "Left early, chair agreed", "left_agreed", "attended"),
    ("left_not_agreed", "Left early, not agreed", "left_not_agreed", "attended"),
    ("lost_connection", "Lost connection", "lost_connection", "online"),
    ("cnr_emailed", "Could not rejoin, emailed the chair", "cnr_emailed", None),
    ("cnr_not_emailed", "Could not rejoin, no email", "cnr_not_emailed", None),
    ("camera_off", "Camera off (people)", "camera_off", "online"),
    ("camera_off_episodes", "Camera-off episodes", "camera_off_episodes", None),
    ("reports_on_time", "Reports on time", "reports_on_time", "reports_needed"),
    ("reports_late", "Reports late", "reports_late", "reports_needed"),
    ("reports_missing", "Reports missing", "reports_missing", "reports_needed"),
)


def agency_rows(fig: dict) -> list[dict]:
    """Per agency (professional agencies with invitees, in D2's order): each column's cell text, and the
    chart value (fraction, or None when not shown). Small counts are "fewer than 5" (see the module)."""
    rows = []
    for agency in AGENCIES:
        c = fig["agencies"].get(agency)
        if not c or not c["invited"]:
            continue
        c = {**c, "attended": c["in_person"] + c["online"]}
        cells, values = {}, {}
        for key, _heading, num, den in AGENCY_COLUMNS:
            if num is None:  # average minutes late: only from a count that may be shown
                cells[key] = (str(round(c["late_min"] / c["late"])) if c["late"] and not small(c["late"])
                              else SMALL_TEXT if small(c["late"]) else "")
                continue
            n = c[num]
            pct = percent(n, c[den]) if den else None
            cells[key] = shown(n) + (f" ({pct}%)" if pct is not None and not small(n) else "")
            values[key] = rate(n, c[den]) if den else None
        rows.append({"agency": agency, "label": Agency(agency).label.capitalize(), "cells": cells,
                     "values": values})
    return rows
