"""Period figures: sums that add up across rooms and months, the "fewer than 5" rule, and the periods."""

from __future__ import annotations

from datetime import date

import pytest

from kiosk.quality import figures
from kiosk.quality.facts import AGENCY_COUNTS


def _facts(**agency_counts) -> dict:
    """One conference's facts with the given police counts (the rest zero)."""
    police = dict.fromkeys(AGENCY_COUNTS, 0) | agency_counts
    return {"date": "2026-11-23", "type": "initial", "hybrid": True, "started_on_time": True, "start_delay_min": 0,
            "duration_min": 60, "quorate_at_start": True, "quorate_throughout": True, "quorum_lost": 0,
            "inquorate_min": 0, "proceeded_inquorate": False, "adjourned": False, "timescale": "met",
            "room_ready": True, "checks_failed_before": [], "agencies": {"police": police}}


@pytest.mark.parametrize("n, text", [(0, "0"), (1, "fewer than 5"), (4, "fewer than 5"), (5, "5"), (12, "12")])
def test_figures_small_counts_are_fewer_than_5(n, text):
    assert figures.shown(n) == text


def test_figures_agency_cells_hide_percentages_and_averages_of_small_counts():
    fig = figures.aggregate([_facts(invited=10, online=10, late=3, late_min=30, reports_needed=10,
                                    reports_on_time=10)])
    (row,) = figures.agency_rows(fig)
    assert row["cells"]["invited"] == "10"
    assert row["cells"]["attended"] == "10 (100%)"
    assert row["cells"]["late"] == "fewer than 5" and row["values"]["late"] is None
    assert row["cells"]["late_avg"] == "fewer than 5"
    assert row["cells"]["reports_on_time"] == "10 (100%)" and row["values"]["reports_on_time"] == 1.0


def test_figures_combined_rooms_can_show_what_one_room_cannot():
    one = figures.aggregate([_facts(invited=3, online=3, late=3, late_min=21)])
    both = figures.combine([one, one])
    assert figures.agency_rows(one)[0]["cells"]["late"] == "fewer than 5"
    row = figures.agency_rows(both)[0]
    assert row["cells"]["late"] == "6 (100%)" and row["cells"]["late_avg"] == "7"
    assert both["conferences"] == 2 and both["timescale_met"] == 2


def test_figures_conference_level_counts_are_shown_as_they_are():
    fig = figures.aggregate([_facts()])
    rows = {r.key: r for r in figures.headline_rows(fig)}
    assert rows["started_on_time"].text() == "1 of 1 (100%)"
    assert rows["conferences"].text() == "1"


@pytest.mark.parametrize("bad, message", [
    ([], "JSON object"),
    ({"conferences": -1}, "'conferences'"),
    ({"conferences": True}, "'conferences'"),
    ({"agencies": {"parents": {}}}, "unknown agency"),
    ({"agencies": {"police": {"late": "3"}}}, "police"),
    ({"checks_failed": {"camera": 1.5}}, "checks_failed"),
])
def test_figures_malformed_figures_are_refused_by_name(bad, message):
    with pytest.raises(ValueError, match=message):
        figures.check_figures(bad)


@pytest.mark.parametrize("args, first, last", [
    ({}, date(2026, 11, 1), date(2026, 11, 30)),
    ({"month": "2024-02"}, date(2024, 2, 1), date(2024, 2, 29)),
    ({"quarter": "2026-Q1"}, date(2026, 1, 1), date(2026, 3, 31)),
    ({"from": "2026-01-05", "to": "2026-02-05"}, date(2026, 1, 5), date(2026, 2, 5)),
])
def test_figures_periods(args, first, last):
    period = figures.choose_period(args, date(2026, 11, 23))
    assert (period.first, period.last) == (first, last)


def test_figures_trend_months_end_with_the_period():
    months = figures.trend_months(figures.month_period("2026-02"))
    assert months[0] == "2025-03" and months[-1] == "2026-02" and len(months) == 12
    assert figures.shift_month("2026-01", -1) == "2025-12" and figures.shift_month("2026-12", 1) == "2027-01"


def test_figures_late_start_average_leaves_out_starts_within_the_grace():
    # With [conference] late_after_min = 5: a start 3 minutes after the booked time is on time, one 12 late.
    on_time = _facts() | {"started_on_time": True, "start_delay_min": 3}
    late = _facts() | {"started_on_time": False, "start_delay_min": 12}
    fig = figures.aggregate([on_time, late])
    assert (fig["started_on_time"], fig["start_recorded"], fig["start_delay_min"]) == (1, 2, 12)
    row = next(r for r in figures.headline_rows(fig) if r.key == "started_on_time")
    assert row.note.endswith("late starts average 12 min")
