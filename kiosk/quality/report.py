"""The quality report as data, and as CSV and terminal text: the same report on the page, in the CSV and
from ``kiosk quality``.

:func:`build` takes a period's figures and the figures of the months of its trend
(:mod:`kiosk.quality.figures`) and returns plain data: the headline rows, the per-agency
rows (small counts already "fewer than 5"), the trend, and the charts as SVG text.
"""

from __future__ import annotations

import csv
import io
from datetime import date

from kiosk.conference.record import safe_cell
from kiosk.quality import charts
from kiosk.quality.figures import (AGENCY_COLUMNS, Period, agency_rows, headline_rows, percent)

#: The trend: figure key, title, numerator, denominator (all conference-level).
TREND = (
    ("started_on_time", "Started on time", "started_on_time", "start_recorded"),
    ("quorate_throughout", "Quorate throughout", "quorate_throughout", "conferences"),
    ("proceeded_inquorate", "Proceeded while inquorate", "proceeded_inquorate", "conferences"),
    ("timescale_met", "Held within timescale", "timescale_met", ("timescale_met", "timescale_missed")),
    ("room_ready", "Room ready at the booked start", "room_ready", "room_known"),
)

#: The per-agency table is shown as two tables, so that each fits a screen and a printed page.
AGENCY_GROUPS = (
    ("Attendance", ("invited", "attended", "in_person", "online", "whole", "late", "late_avg", "left_agreed",
                    "left_not_agreed")),
    ("Connection, cameras and reports", ("lost_connection", "cnr_emailed", "cnr_not_emailed", "camera_off",
                                         "camera_off_episodes", "reports_on_time", "reports_late",
                                         "reports_missing")),
)

#: Per-agency charts: column key and title (the chart shows the column's percentage).
AGENCY_CHARTS = (
    ("attended", "Attended (of invited)"),
    ("whole", "Attended the whole meeting (of those who attended)"),
    ("late", "Arrived late (of those who attended)"),
    ("lost_connection", "Lost connection (of those online)"),
    ("camera_off", "Camera off at some point (of those online)"),
    ("reports_on_time", "Reports on time (of reports due)"),
)


def _den(fig: dict, den) -> int:
    return sum(fig[k] for k in den) if isinstance(den, tuple) else fig[den]


def _month_label(month: str) -> str:
    return date.fromisoformat(month + "-01").strftime("%b")


def build(period: Period, fig: dict, trend: dict[str, dict], rooms: list[str]) -> dict:
    """The report of ``fig`` (the period's figures) with the trend of ``trend`` (month -> figures)."""
    months = list(trend)
    trend_rows = []
    for key, title, num, den in TREND:
        values = [percent(trend[m][num], _den(trend[m], den)) for m in months]
        trend_rows.append({"key": key, "label": title, "values": values,
                           "svg": charts.columns(title, [_month_label(m) for m in months],
                                                 [None if v is None else v / 100 for v in values])})
    agencies = agency_rows(fig)
    agency_charts = [charts.bars(title, [r["label"] for r in agencies], [r["values"][key] for r in agencies],
                                 [r["cells"][key] for r in agencies])
                     for key, title in AGENCY_CHARTS] if agencies else []
    return {
        "period": {"first": period.first.isoformat(), "last": period.last.isoformat(), "label": period.label},
        "rooms": rooms,
        "figures": fig,
        "headline": headline_rows(fig),
        "agency_columns": [(key, heading) for key, heading, _n, _d in AGENCY_COLUMNS],
        "agency_groups": [(title, [(key, heading) for key, heading, _n, _d in AGENCY_COLUMNS if key in keys])
                          for title, keys in AGENCY_GROUPS],
        "agencies": agencies,
        "agency_charts": agency_charts,
        "trend_months": months,
        "trend": trend_rows,
    }


def to_csv(report: dict) -> str:
    """The report as CSV: the headline figures, one row per agency (small counts as "fewer than 5"), the trend.

    Every cell goes through :func:`~kiosk.conference.record.safe_cell` (room names come from
    the broker in ``kiosk quality``).
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")

    def row(*cells):
        writer.writerow([safe_cell(c) for c in cells])

    p = report["period"]
    row("Quality report", ", ".join(report["rooms"]))
    row("From", p["first"])
    row("To", p["last"])
    row()
    row("Figure", "Count", "Of", "Percent", "Note")
    for r in report["headline"]:
        row(r.label, r.count, r.of, r.percent, r.note)
    row()
    row("Agency", *[heading for _key, heading in report["agency_columns"]])
    for r in report["agencies"]:
        row(r["label"], *[r["cells"][key] for key, _heading in report["agency_columns"]])
    row()
    row("Month", *[t["label"] + " (%)" for t in report["trend"]])
    for i, month in enumerate(report["trend_months"]):
        row(month, *[t["values"][i] for t in report["trend"]])
    return out.getvalue()


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return [line(header), line(["-" * w for w in widths])] + [line(r) for r in rows]


def to_text(report: dict) -> str:
    """The report for a terminal: the headline figures, then the per-agency table (one agency a line)."""
    p = report["period"]
    lines = [f"Quality report: {p['label']} ({p['first']} to {p['last']})", f"Rooms: {', '.join(report['rooms'])}",
             ""]
    lines += _table(["FIGURE", "VALUE", "NOTE"], [[r.label, r.text(), r.note] for r in report["headline"]])
    lines.append("")
    if report["agencies"]:
        short = {"invited": "INVITED", "attended": "ATTENDED", "whole": "WHOLE", "late": "LATE",
                 "late_avg": "AVG MIN LATE", "left_agreed": "LEFT (AGREED)", "left_not_agreed": "LEFT (NOT)",
                 "lost_connection": "LOST CONN", "camera_off": "CAMERA OFF", "reports_on_time": "REPORTS ON TIME",
                 "reports_late": "LATE", "reports_missing": "MISSING"}
        keys = list(short)
        lines += _table(["AGENCY"] + [short[k] for k in keys],
                        [[r["label"]] + [r["cells"][k] for k in keys] for r in report["agencies"]])
        lines.append("")
        lines.append('Per-agency counts from 1 to 4 are shown as "fewer than 5" (see docs/quality.md).')
    else:
        lines.append("No conferences in this period.")
    return "\n".join(lines) + "\n"
