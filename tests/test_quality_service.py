"""The kiosk's quality service: check cycles saved off the publisher's thread, in order with the conferences;
the facts taken again when the record of an ended conference changes (a report or a correction after the
end, its date), but not while it is reopened nor once it is purged."""

from __future__ import annotations

import sqlite3
import threading
from datetime import date, timedelta

import pytest
import quality_script as qs
from kiosk.checks.result import CheckResult
from kiosk.checks.runner import Cycle
from kiosk.events import ChecksFinished, QualityChanged
from waiting import wait_for


def test_quality_service_locked_file_never_holds_up_the_publisher_of_a_check_cycle(tmp_path, cold_room):
    # The room's loop publishes ChecksFinished: the service queues the cycle and its own
    # thread saves it, so a slow disk or another writer never holds up the room.
    env = qs.make_quality_chair(tmp_path, cold_room)
    quality = env.extra["quality"]
    at = qs.at("08:00")
    try:
        holder = sqlite3.connect(quality.store.path, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")  # another writer holds the file
        published = threading.Event()
        cycle = Cycle({"camera": CheckResult.passed("camera OK")}, {"camera": True}, at, 0.1)
        threading.Thread(target=lambda: (cold_room.bus.publish(ChecksFinished(cycle)), published.set()),
                         daemon=True).start()
        try:
            assert published.wait(2), "publishing a check cycle waited for the quality file"
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        window = (at - timedelta(seconds=1), at + timedelta(seconds=1))
        assert wait_for(lambda: [c.name for c in quality.store.checks_between(*window)] == ["camera"], timeout=10)
    finally:
        quality.stop()
        env.service.stop()


def test_quality_service_conference_end_sees_the_cycles_published_before_it(tmp_path, cold_room):
    env = qs.make_quality_chair(tmp_path, cold_room)
    try:
        qs.publish_checks(cold_room.bus)  # queued, not yet saved perhaps
        ids = qs.run(env)  # each end reads the history at once
        facts = env.extra["quality"].store.facts_between(qs.figures_month().first, qs.figures_month().last)
        assert len(facts) == len(ids) and all(f["room_ready"] is not None for f in facts)
    finally:
        env.extra["quality"].stop()
        env.service.stop()


@pytest.fixture
def ran(tmp_path, cold_room):
    """Conferences A and B recorded and ended (the room's checks published); ``env.extra["changed"]``: the
    QualityChanged events published after that."""
    env = qs.make_quality_chair(tmp_path, cold_room)
    try:
        qs.publish_checks(cold_room.bus)
        env.extra["ids"] = qs.run(env)
        env.extra["changed"] = changed = []
        cold_room.bus.subscribe(changed.append, QualityChanged)
        yield env
    finally:
        env.extra["quality"].stop()
        env.service.stop()


def _person(env, cid: int, name: str) -> int:
    return next(p["id"] for p in env.service.view(cid)["people"] if p["name"] == name)


def _kept(env, booked_start: str = "10:00") -> dict:
    """The facts kept for the conference booked at ``booked_start`` (A at 10:00, B at 14:00), any month."""
    kept = env.extra["quality"].store.facts_between(date(2026, 1, 1), date(2026, 12, 31))
    return next(f for f in kept if f["booked_start"] == booked_start)


def _month(env, month: str = "2026-11") -> dict:
    from kiosk.quality.figures import month_period

    return env.extra["quality"].report(month_period(month))["figures"]


def test_quality_service_report_received_after_the_end_takes_the_facts_again(ran):
    a, _b = ran.extra["ids"]
    assert (_kept(ran)["agencies"]["police"]["reports_missing"], _month(ran)["agencies"]["police"]["reports_late"]) \
        == (1, 2)  # Pete's report for A is missing at the end; Pia's for A and Pete's for B are late
    qs.later(ran, days=1)
    response = ran.event(a, "report_received", _person(ran, a, "Pete Police"), received_on="2026-11-24")
    assert response.status_code == 201
    police = _kept(ran)["agencies"]["police"]  # at once, in the chair's request: no end again
    assert (police["reports_on_time"], police["reports_late"], police["reports_missing"]) == (1, 2, 0)
    month = _month(ran)["agencies"]["police"]
    assert (month["reports_on_time"], month["reports_late"], month["reports_missing"]) == (3, 3, 0)
    assert [e.month for e in ran.extra["changed"]] == ["2026-11"]


def test_quality_service_correction_after_the_end_takes_the_facts_again(ran):
    a, _b = ran.extra["ids"]
    assert (_kept(ran)["proceeded_inquorate"], _month(ran)["proceeded_inquorate"]) == (True, 1)
    decision = next(e for e in ran.service.store.events(a) if e.kind.value == "proceed_inquorate")
    response = ran.api("POST", f"/api/conferences/{a}/events/{decision.id}/correction",
                       {"reason": "Recorded against the wrong conference"})
    assert response.status_code == 201
    assert (_kept(ran)["proceeded_inquorate"], _month(ran)["proceeded_inquorate"]) == (False, 0)
    assert [e.month for e in ran.extra["changed"]] == ["2026-11"]
    assert "wrong conference" not in repr(_kept(ran))


def test_quality_service_reopened_conference_is_taken_again_at_its_next_end(ran):
    a, _b = ran.extra["ids"]
    quality = ran.extra["quality"]
    assert ran.api("POST", f"/api/conferences/{a}/reopen", {"reason": "reports"}).status_code == 200
    assert ran.event(a, "report_received", _person(ran, a, "Ella School"), received_on=qs.DAY).status_code == 201
    assert _kept(ran)["agencies"]["education"]["reports_missing"] == 1  # the end took them; the next end will
    assert quality.conference_amended(a) is None and ran.extra["changed"] == []
    assert ran.api("POST", f"/api/conferences/{a}/end").status_code == 200
    assert _kept(ran)["agencies"]["education"]["reports_missing"] == 0


def test_quality_service_purged_conference_keeps_its_facts(ran):
    a, _b = ran.extra["ids"]
    quality = ran.extra["quality"]
    before = _kept(ran)
    assert ran.api("POST", f"/api/conferences/{a}/purge", {"confirm": True}).status_code == 200
    assert quality.conference_amended(a) is None
    assert _kept(ran) == before and quality.store.count() == 2 and ran.extra["changed"] == []


def test_quality_service_conference_moved_to_another_month_republishes_both(ran):
    a, _b = ran.extra["ids"]
    response = ran.api("PATCH", f"/api/conferences/{a}", {"date": "2026-12-01"})
    assert response.status_code == 200, response.get_json()
    assert sorted({e.month for e in ran.extra["changed"]}) == ["2026-11", "2026-12"]
    assert (_month(ran)["conferences"], _month(ran, "2026-12")["conferences"]) == (1, 1)
    assert ran.extra["quality"].payloads(["2026-11"])["2026-11"]["figures"]["conferences"] == 1


def test_quality_service_facts_taken_again_weeks_later_keep_the_room_readiness(ran):
    a, _b = ran.extra["ids"]
    quality = ran.extra["quality"]
    qs.later(ran, days=30)
    quality.store.prune(ran.service.today(), 24)  # the check history is kept for days only
    assert quality.store.checks_between(qs.at("09:00"), qs.at("15:00")) == []
    assert ran.event(a, "report_received", _person(ran, a, "Ella School"), received_on="2026-12-23").status_code == 201
    kept = _kept(ran)
    assert kept["agencies"]["education"]["reports_late"] == 1
    assert (kept["room_ready"], kept["checks_failed_before"]) == (True, [])
    assert (_month(ran)["room_ready"], _month(ran)["technical_problems"]) == (2, 1)


def test_quality_service_a_change_saved_while_facts_are_taken_is_not_lost(ran, monkeypatch):
    """Two requests after the end, one saving its report while the other's facts are being taken: the facts
    read before that report must not be the last saved."""
    a, _b = ran.extra["ids"]
    quality = ran.extra["quality"]
    save = quality.store.save
    ella = _person(ran, a, "Ella School")
    meanwhile = [lambda: ran.service.record_report(a, ella, "2026-11-24")]

    def another_request_first(*args, **kwargs):
        if meanwhile:
            meanwhile.pop()()  # Ella's report is saved, and its own facts, before these (read without it) land
        return save(*args, **kwargs)

    monkeypatch.setattr(quality.store, "save", another_request_first)
    assert ran.event(a, "report_received", _person(ran, a, "Pete Police"), received_on="2026-11-24").status_code == 201
    assert meanwhile == []
    kept = _kept(ran)["agencies"]
    assert (kept["police"]["reports_missing"], kept["education"]["reports_missing"]) == (0, 0)
