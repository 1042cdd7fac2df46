"""The quality facts' own SQLite file: replaced when a conference ends again, a new row for a new
conference that got a purged one's id, retention in months, and the rolling check history."""

from __future__ import annotations

import sqlite3
from datetime import date, datetime, timedelta, timezone

from kiosk.quality.facts import CheckOutcome
from kiosk.quality.store import QualityStore

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)


def _facts(day="2026-11-23", **extra):
    return {"schema": 1, "date": day, "type": "initial", **extra}


def test_quality_store_ending_again_replaces_the_facts(tmp_path):
    store = QualityStore(tmp_path / "q.sqlite3")
    first = store.save(7, _facts(version=1), now=NOW, purged={})
    again = store.save(7, _facts(version=2), now=NOW + timedelta(hours=1), purged={})
    assert first == again and len(first) == 32
    assert [f["version"] for f in store.facts_between(date(2026, 11, 1), date(2026, 11, 30))] == [2]


def test_quality_store_a_reused_id_after_a_purge_is_another_conference(tmp_path):
    store = QualityStore(tmp_path / "q.sqlite3")
    first = store.save(7, _facts(version=1), now=NOW, purged={})
    purged_at = (NOW + timedelta(days=8)).isoformat(timespec="microseconds")
    second = store.save(7, _facts("2026-12-07", version=2), now=NOW + timedelta(days=9), purged={7: purged_at})
    assert second != first and store.count() == 2
    # Ending the new one again replaces only its own facts.
    assert store.save(7, _facts("2026-12-07", version=3), now=NOW + timedelta(days=10),
                      purged={7: purged_at}) == second
    assert sorted(f["version"] for f in store.facts_between(date(2026, 1, 1), date(2026, 12, 31))) == [1, 3]


def test_quality_store_keeps_facts_for_the_retention_months(tmp_path):
    store = QualityStore(tmp_path / "q.sqlite3")
    for cid, day in enumerate(("2024-10-31", "2024-11-01", "2026-11-23"), start=1):
        store.save(cid, _facts(day), now=NOW, purged={})
    assert store.prune(date(2026, 11, 23), 24) == 1
    assert store.months() == ["2024-11", "2026-11"]


def test_quality_store_check_history_is_rolling_and_holds_no_reasons(tmp_path):
    store = QualityStore(tmp_path / "q.sqlite3")
    old, recent = NOW - timedelta(days=10), NOW - timedelta(minutes=30)
    store.add_checks([CheckOutcome(old, "camera", "fail"), CheckOutcome(recent, "camera", "pass")])
    store.prune(NOW.date(), 24)
    assert store.checks_between(NOW - timedelta(days=30), NOW) == [CheckOutcome(recent, "camera", "pass")]
    with sqlite3.connect(tmp_path / "q.sqlite3") as conn:
        columns = [r[1] for r in conn.execute("PRAGMA table_info(check_cycle)")]
    assert columns == ["at", "name", "status"]


def test_quality_store_file_is_private_to_the_kiosk(tmp_path):
    store = QualityStore(tmp_path / "state" / "q.sqlite3")
    assert store.path.stat().st_mode & 0o077 == 0


def test_quality_store_leaves_out_facts_it_cannot_read(tmp_path, caplog):
    store = QualityStore(tmp_path / "q.sqlite3")
    store.save(1, _facts(version=1), now=NOW, purged={})
    store.save(2, _facts(version=2), now=NOW, purged={})
    with sqlite3.connect(tmp_path / "q.sqlite3") as conn:
        conn.execute("UPDATE facts SET facts = '{not json' WHERE conference_id = 1")
    assert [f["version"] for f in store.facts_between(date(2026, 11, 1), date(2026, 11, 30))] == [2]
    assert "cannot be read" in caplog.text


def test_quality_store_unusable_file_is_a_storage_error(tmp_path):
    import pytest

    from kiosk.conference.errors import StorageError

    (tmp_path / "q.sqlite3").write_bytes(b"this is not a database" * 100)
    with pytest.raises(StorageError, match="quality facts"):
        QualityStore(tmp_path / "q.sqlite3")


def test_quality_store_facts_of_a_conference_are_its_own(tmp_path):
    store = QualityStore(tmp_path / "q.sqlite3")
    assert store.facts_of(7, {}) is None
    store.save(7, _facts(version=1), now=NOW, purged={})
    store.save(7, _facts(version=2), now=NOW + timedelta(hours=1), purged={})
    assert store.facts_of(7, {})["version"] == 2
    # Purged after they were saved: a new conference with id 7 has none kept yet.
    purged_at = (NOW + timedelta(days=8)).isoformat(timespec="microseconds")
    assert store.facts_of(7, {7: purged_at}) is None
    with sqlite3.connect(tmp_path / "q.sqlite3") as conn:
        conn.execute("UPDATE facts SET facts = '{not json' WHERE conference_id = 7")
    assert store.facts_of(7, {}) is None
