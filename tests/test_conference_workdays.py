"""Working days (D9), report deadlines (D8) and timescales (D7) across weekends and bank holidays."""

from __future__ import annotations

from datetime import date, time

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from kiosk.conference.model import Conference, ConferenceType
from kiosk.conference.settings import ConferenceSettings
from kiosk.conference.workdays import (MET, MISSED, PENDING, add_months, add_working_days, deadline_warnings,
                                       last_working_day_on_or_before, non_working_reason,
                                       is_working_day, reconvene_by, report_due, timescales, working_days_before,
                                       working_days_between)

D = date.fromisoformat


@pytest.mark.parametrize("day, working", [
    ("2026-12-24", True),    # Thursday
    ("2026-12-25", False),   # Christmas Day (Friday)
    ("2026-12-26", False),   # Saturday (Boxing Day)
    ("2026-12-28", False),   # Boxing Day substitute (Monday)
    ("2026-12-29", True),
    ("2027-01-01", False),   # New Year's Day
    ("2027-03-26", False),   # Good Friday
    ("2027-03-29", False),   # Easter Monday
    ("2027-03-30", True),
    ("2026-05-04", False),   # early May bank holiday 2026
    ("2027-05-03", False),   # early May bank holiday 2027
    ("2027-05-04", True),
    ("2027-12-27", False),   # Christmas substitute (25th is a Saturday)
    ("2027-12-28", False),   # Boxing Day substitute
])
def test_conference_workdays_know_weekends_and_bank_holidays(day, working):
    assert is_working_day(D(day)) is working


@pytest.mark.parametrize("conference_day, n, due", [
    # D9: the latest working day with N whole working days between it and the conference day.
    ("2026-11-13", 2, "2026-11-10"),   # Fri ICPC: Wed 11 and Thu 12 lie between -> Tue 10
    ("2026-11-16", 2, "2026-11-11"),   # Mon ICPC: Thu 12 and Fri 13 lie between (weekend skipped)
    ("2026-11-09", 0, "2026-11-06"),   # no days between: the working day before
    ("2026-12-30", 2, "2026-12-23"),   # Tue 29, Thu 24 between; 25-28 Christmas, weekend, Boxing Day substitute
    ("2027-01-04", 5, "2026-12-22"),   # RCPC: Dec 31, 30, 29, 24, 23 between; Jan 1 holiday
    ("2027-03-31", 2, "2027-03-24"),   # Easter: Tue 30 and Thu 25 between; Good Friday, Easter Monday skipped
    ("2027-05-04", 2, "2027-04-28"),   # early May bank holiday: Fri 30 Apr, Thu 29 Apr between
    ("2027-05-06", 5, "2027-04-27"),   # RCPC over the early May bank holiday
])
def test_conference_workdays_working_days_before(conference_day, n, due):
    assert working_days_before(D(conference_day), n) == D(due)
    assert working_days_between(D(due), D(conference_day)) == n


def test_conference_workdays_working_days_before_refuses_negative():
    with pytest.raises(ValueError):
        working_days_before(D("2026-11-13"), -1)


@pytest.mark.parametrize("day, n, result", [
    ("2026-12-16", 15, "2027-01-11"),  # ICPC deadline over Christmas and New Year
    ("2027-03-24", 10, "2027-04-09"),  # core group deadline over Easter
    ("2026-12-24", 1, "2026-12-29"),
    ("2026-12-29", -1, "2026-12-24"),
    ("2027-04-30", 1, "2027-05-04"),   # over the early May bank holiday
    ("2026-12-25", 0, "2026-12-25"),
])
def test_conference_workdays_add_working_days(day, n, result):
    assert add_working_days(D(day), n) == D(result)


def _conference(kind, day):
    return Conference(1, ConferenceType(kind), D(day), time(10), "CP-1")


def test_conference_workdays_report_due_follows_d8():
    assert report_due(_conference("initial", "2026-12-30")) == D("2026-12-23")
    assert report_due(_conference("review", "2027-01-04")) == D("2026-12-22")
    local = ConferenceSettings(report_days_initial=3)
    assert report_due(_conference("initial", "2026-11-13"), local) == D("2026-11-09")


def test_conference_workdays_reconvene_within_ten_working_days_for_an_initial_conference():
    assert reconvene_by(_conference("initial", "2027-03-24")) == D("2027-04-09")
    assert reconvene_by(_conference("review", "2027-03-24")) is None


@pytest.mark.parametrize("day, months, result", [
    ("2026-11-30", 3, "2027-02-28"),
    ("2027-08-31", 6, "2028-02-29"),
    ("2027-01-12", 3, "2027-04-12"),
    ("2027-10-15", 6, "2028-04-15"),
])
def test_conference_workdays_add_months_clamps_to_month_end(day, months, result):
    assert add_months(D(day), months) == D(result)


def test_conference_workdays_timescales_met_missed_and_pending():
    deadlines = timescales(D("2026-12-16"), D("2027-01-11"), D("2027-04-13"), D("2027-10-01"),
                           core_group_date=D("2027-01-26"), today=D("2027-11-01"))
    assert [(d.due, d.status, d.held) for d in deadlines] == [
        (D("2027-01-11"), MET, D("2027-01-11")),       # 15 working days after 16 Dec 2026
        (D("2027-01-25"), MISSED, D("2027-01-26")),    # 10 working days after 11 Jan 2027
        (D("2027-04-11"), MISSED, D("2027-04-13")),    # 3 months after the ICPC
        (D("2027-10-13"), MET, D("2027-10-01")),       # 6 months after the first review
        (D("2028-04-01"), PENDING, None),              # the next review
    ]
    assert deadline_warnings(deadlines) == [
        "Timescale missed: the first core group (within 10 working days of the initial conference) was due by "
        "2027-01-25 (held on 2027-01-26)",
        "Timescale missed: the first review conference (within 3 months of the initial conference) was due by "
        "2027-04-11 (held on 2027-04-13)",
    ]


def test_conference_workdays_timescales_before_the_icpc():
    pending = timescales(D("2026-12-16"), None, today=D("2027-01-11"))
    assert [(d.due, d.status) for d in pending] == [(D("2027-01-11"), PENDING)]
    late = timescales(D("2026-12-16"), None, today=D("2027-01-12"))
    assert late[0].status == MISSED and "not held yet" in late[0].warning
    assert timescales(None, None, today=D("2027-01-12")) == []


def test_conference_workdays_timescales_without_a_core_group_yet():
    deadlines = timescales(None, D("2027-03-24"), today=D("2027-04-12"))
    assert [(d.due, d.status) for d in deadlines] == [(D("2027-04-09"), MISSED), (D("2027-06-24"), PENDING)]


@hsettings(database=None, deadline=None, max_examples=200)
@given(day=st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31)), n=st.integers(0, 25))
def test_conference_workdays_property_working_days_before_is_the_latest_with_n_between(day, n):
    due = working_days_before(day, n)
    assert due < day and is_working_day(due)
    assert working_days_between(due, day) == n
    later = add_working_days(due, 1)
    assert later >= day or working_days_between(later, day) == n - 1
    assert add_working_days(add_working_days(day, n), -n) == day or not is_working_day(day)


@hsettings(database=None, deadline=None, max_examples=100)
@given(day=st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31)), n=st.integers(1, 30))
def test_conference_workdays_property_add_working_days_counts_only_working_days(day, n):
    result = add_working_days(day, n)
    assert is_working_day(result)
    assert working_days_between(day, result) == n - 1


# -- D7: a due date on a weekend or bank holiday; D5: reconvening across Easter --------------------------------

@pytest.mark.parametrize("day, reason, last", [
    ("2027-03-29", "a bank holiday (Easter Monday)", "2027-03-25"),   # Good Friday before it too
    ("2027-03-26", "a bank holiday (Good Friday)", "2027-03-25"),
    ("2026-12-28", "a bank holiday (Boxing Day (observed))", "2026-12-24"),
    ("2026-11-28", "a Saturday", "2026-11-27"),
    ("2026-11-29", "a Sunday", "2026-11-27"),
    ("2026-11-27", None, "2026-11-27"),
])
def test_conference_workdays_a_non_working_due_date_says_why_and_gives_the_day_before(day, reason, last):
    assert non_working_reason(D(day)) == reason
    assert last_working_day_on_or_before(D(day)) == D(last)


def test_conference_workdays_d7_deadline_on_easter_monday_has_a_note():
    first_review = timescales(None, D("2026-12-29"), today=D("2027-01-04"))[-1]
    assert first_review.due == D("2027-03-29")
    assert first_review.due_note == ("Monday 29 March 2027 is a bank holiday (Easter Monday): the last working day "
                                     "before it is Thursday 25 March 2027")
    core_group = timescales(None, D("2026-12-29"), today=D("2027-01-04"))[0]
    assert core_group.due_note is None


def test_conference_workdays_d5_reconvene_skips_easter():
    icpc = Conference(1, ConferenceType.INITIAL, D("2027-03-19"), time(10), "CP-1")
    assert reconvene_by(icpc) == D("2027-04-06")  # Good Friday and Easter Monday are not counted
