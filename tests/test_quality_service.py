"""The kiosk's quality service: check cycles saved off the publisher's thread, in order with the conferences."""

from __future__ import annotations

import sqlite3
import threading
from datetime import timedelta

import quality_script as qs
from kiosk.checks.result import CheckResult
from kiosk.checks.runner import Cycle
from kiosk.events import ChecksFinished
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
