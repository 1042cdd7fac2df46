"""The quality facts on disk: their own SQLite file (``quality.sqlite3``), apart from the record.

Two tables:

- ``facts``: one row per conference, keyed by a random token (never the case
  reference); ``conference_id`` only finds the row again when the same conference's
  facts are taken again (ended once more, or its record amended after the end), and
  ``saved_at`` tells it apart from a later conference that got the same id after a
  purge. Rows older than ``[quality] retention_months`` go.
- ``check_cycle``: a rolling history of the room's check outcomes (time, check name,
  status; never the reason, which could quote anything), kept for :data:`CHECK_DAYS`.

Threads: no connection is shared and no Python lock is held. Each call opens its own
connection (well under a millisecond) and SQLite's own locking, with a busy timeout,
orders the writers; WAL lets the report read while the controller's thread writes.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import sqlite3
from contextlib import closing, contextmanager
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from kiosk.conference.errors import StorageError
from kiosk.quality.facts import SCHEMA as FACTS_SCHEMA, CheckOutcome

log = logging.getLogger("kiosk.quality.store")

DB_FILENAME = "quality.sqlite3"
#: Days of check history kept (a conference is normally ended on its day; a few days' grace).
CHECK_DAYS = 4
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS facts (
    token           TEXT PRIMARY KEY,       -- random, per conference
    conference_id   INTEGER NOT NULL,       -- to replace them when the conference ends again
    date            TEXT NOT NULL,          -- local date of the conference, YYYY-MM-DD
    saved_at        TEXT NOT NULL,          -- UTC
    facts           TEXT NOT NULL           -- JSON (kiosk.quality.facts.extract): no names, no case reference
);
CREATE INDEX IF NOT EXISTS facts_date ON facts (date);
CREATE INDEX IF NOT EXISTS facts_conference ON facts (conference_id, saved_at);
CREATE TABLE IF NOT EXISTS check_cycle (
    at      TEXT NOT NULL,                  -- UTC, fixed width
    name    TEXT NOT NULL,
    status  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS check_cycle_at ON check_cycle (at);
"""


def _ts(at: datetime) -> str:
    return at.astimezone(timezone.utc).isoformat(timespec="microseconds")


def months_back(day: date, months: int) -> date:
    """The first day of the month ``months`` before ``day``'s month."""
    index = day.year * 12 + day.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


class QualityStore:
    """The facts and the check history in one SQLite file (``path``); created on first use."""

    def __init__(self, path: str | os.PathLike, timeout_s: float = 5.0):
        self.path = Path(path)
        self.timeout_s = timeout_s
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
            with self._connect() as conn:
                conn.execute("PRAGMA journal_mode = WAL")
                conn.executescript(_SCHEMA)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except (OSError, sqlite3.Error) as exc:
            raise StorageError(f"The quality facts cannot be stored in {self.path} ({exc})") from None

    @classmethod
    def in_state_dir(cls, state_dir: str | os.PathLike) -> "QualityStore":
        """The store in the kiosk's state directory."""
        return cls(Path(state_dir) / DB_FILENAME)

    @contextmanager
    def _connect(self):
        with closing(sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None)) as conn:
            conn.execute("PRAGMA synchronous = NORMAL")  # WAL: a power cut may lose the last save, never corrupt
            yield conn

    @contextmanager
    def _write(self):
        try:
            with self._connect() as conn:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
        except sqlite3.Error as exc:
            raise StorageError(f"The quality facts could not be saved ({exc})") from None

    def _read(self, sql: str, args=()) -> list[tuple]:
        try:
            with self._connect() as conn:
                return conn.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise StorageError(f"The quality facts could not be read ({exc})") from None

    # -- facts --------------------------------------------------------------------------

    def save(self, conference_id: int, facts: dict, *, now: datetime, purged: dict[int, str]) -> str:
        """Keep ``facts`` for the conference, replacing those kept when it ended before; returns the token.

        ``purged``: conference id -> when it was purged (UTC ISO), from the record's
        summaries: facts saved before their id was purged belong to another conference.
        """
        with self._write() as conn:
            row = conn.execute("SELECT token, saved_at FROM facts WHERE conference_id = ? "
                               "ORDER BY saved_at DESC LIMIT 1", (conference_id,)).fetchone()
            token = row[0] if row and not (conference_id in purged and purged[conference_id] > row[1]) else None
            token = token or secrets.token_hex(16)
            conn.execute("INSERT OR REPLACE INTO facts (token, conference_id, date, saved_at, facts) "
                         "VALUES (?, ?, ?, ?, ?)",
                         (token, conference_id, facts["date"], _ts(now), json.dumps(facts, sort_keys=True)))
        return token

    def facts_of(self, conference_id: int, purged: dict[int, str]) -> dict | None:
        """The facts kept for the stored conference ``conference_id`` (``purged`` as in :meth:`save`), or None
        (none kept, kept for an earlier conference that had its id, or unreadable)."""
        rows = self._read("SELECT saved_at, facts FROM facts WHERE conference_id = ? ORDER BY saved_at DESC LIMIT 1",
                          (conference_id,))
        if not rows or (conference_id in purged and purged[conference_id] > rows[0][0]):
            return None
        return self._parse(rows[0][1])

    def kept_for(self, purged: dict[int, str]) -> set[int]:
        """The ids of the stored conferences whose facts are kept (facts saved before their id was purged
        belong to an earlier conference, so they do not count)."""
        rows = self._read("SELECT conference_id, max(saved_at) FROM facts GROUP BY conference_id")
        return {cid for cid, saved in rows if not (cid in purged and purged[cid] > saved)}

    def facts_between(self, first: date, last: date) -> list[dict]:
        """The facts of the conferences held from ``first`` to ``last`` (local dates, both included)."""
        rows = self._read("SELECT facts FROM facts WHERE date >= ? AND date <= ? ORDER BY date, token",
                          (first.isoformat(), last.isoformat()))
        return [facts for (text,) in rows if (facts := self._parse(text)) is not None]

    @staticmethod
    def _parse(text: str) -> dict | None:
        """One conference's stored facts, or None (logged) when damaged or shaped by another version."""
        try:
            facts = json.loads(text)
        except ValueError:
            facts = None
        if isinstance(facts, dict) and facts.get("schema") == FACTS_SCHEMA:
            return facts
        log.warning("Left out one conference's quality facts that cannot be read")  # never a broken report
        return None

    def months(self) -> list[str]:
        """The months (``YYYY-MM``) that have facts, oldest first."""
        return [r[0] for r in self._read("SELECT DISTINCT substr(date, 1, 7) FROM facts ORDER BY 1")]

    def count(self) -> int:
        """How many conferences have facts."""
        return self._read("SELECT count(*) FROM facts")[0][0]

    def prune(self, today: date, retention_months: int) -> int:
        """Drop facts of conferences before the retention window, and old check history; returns facts dropped."""
        cutoff = months_back(today, retention_months)
        check_cutoff = datetime.combine(today - timedelta(days=CHECK_DAYS), datetime.min.time(), timezone.utc)
        with self._write() as conn:
            dropped = conn.execute("DELETE FROM facts WHERE date < ?", (cutoff.isoformat(),)).rowcount
            conn.execute("DELETE FROM check_cycle WHERE at < ?", (_ts(check_cutoff),))
        if dropped:
            log.info("Dropped the quality facts of %d conference(s) older than %d months", dropped, retention_months)
        return dropped

    # -- check history --------------------------------------------------------------------

    def add_checks(self, outcomes: list[CheckOutcome]) -> None:
        """Keep one check cycle's outcomes."""
        with self._write() as conn:
            conn.executemany("INSERT INTO check_cycle (at, name, status) VALUES (?, ?, ?)",
                             [(_ts(o.at), o.name, o.status) for o in outcomes])

    def checks_between(self, start: datetime, end: datetime) -> list[CheckOutcome]:
        """The check outcomes from ``start`` to ``end`` (aware), oldest first."""
        rows = self._read("SELECT at, name, status FROM check_cycle WHERE at >= ? AND at <= ? ORDER BY at",
                          (_ts(start), _ts(end)))
        return [CheckOutcome(datetime.fromisoformat(at), name, status) for at, name, status in rows]
