"""The conference record on disk: SQLite, one file in the kiosk's state directory.

Durability: WAL journal with ``synchronous=FULL``, so a save that returned has been
written through to the disk and survives a power cut. Every change is one transaction:
when the disk is full or fails, the change is rolled back, a
:class:`~kiosk.conference.errors.StorageError` says so, and what was stored before is
intact.

Threads: one connection shared under a lock (the web server is multi-threaded). The
conferences read are kept in memory until the next change, so the many reads of a
conference's view (every tablet and API client) do not touch SQLite; a new event is
added to its conference in memory once it is saved.

Events are append-only: there is no method to edit or delete one, and triggers in the
database refuse it too (:mod:`kiosk.conference.schema`). A mistake is voided by a
correction event.

Personal data (D15): :meth:`ConferenceStore.purge` deletes a conference's names,
e-mails, case reference and events, keeps only anonymous counts, and then checkpoints
and vacuums with ``secure_delete`` on, so that the names are gone from the database
and WAL files themselves, not just unreachable.
"""

from __future__ import annotations

import bisect
import json
import logging
import os
import sqlite3
import threading
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Callable
from zoneinfo import ZoneInfo

from kiosk.conference import dating, quorum, record as record_mod, retry_key
from kiosk.conference.fold import Fold
from kiosk.conference.csv_import import numbered_invitees
from kiosk.conference.errors import (ConferenceClosed, CsvImportError, InvalidInput, NotAllowed, NotFound, StorageError,
                                     StorageFull)
from kiosk.conference.model import (Agency, Conference, ConferenceType, Event, EventKind, Invitee, Mode, Role,
                                    Status)
from kiosk.conference.schema import MIGRATIONS, SCHEMA_VERSION
from kiosk.conference.settings import ConferenceSettings
from kiosk.conference.validation import check_event, conference_fields, invitee_fields, utc

log = logging.getLogger("kiosk.conference.store")

#: The database's file name in the state directory.
DB_FILENAME = "conferences.sqlite3"

_CONFERENCE_FIELDS = ("type", "date", "start_time", "case_ref", "strategy_date", "previous_icpc_date")
_INVITEE_FIELDS = ("name", "role", "agency", "direct_contact", "expected_mode", "email")
#: What may still be corrected on an invitee once events refer to them (it does not change the record's meaning).
_INVITEE_FIELDS_AFTER_EVENTS = ("name", "email")


def _ts(at: datetime) -> str:
    """UTC, fixed width, so that text order is time order."""
    return at.astimezone(timezone.utc).isoformat(timespec="microseconds")


def _storage_error(exc: sqlite3.Error, saving: bool) -> StorageError:
    name = getattr(exc, "sqlite_errorname", "") or ""
    outcome = "nothing was saved" if saving else "the record could not be read"
    if name.startswith("SQLITE_FULL") or "database or disk is full" in str(exc):
        return StorageFull(f"The kiosk's storage is full, so {outcome}. Ask IT to free some space, then try again.")
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return StorageError(f"The conference database is busy, so {outcome}. Try again.")
    if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
        return StorageError(f"The conference database is damaged, so {outcome}. Ask IT to restore it.")
    if name.startswith("SQLITE_READONLY"):
        return StorageError(f"The conference database is read-only, so {outcome}. Ask IT to check the kiosk.")
    if name.startswith(("SQLITE_IOERR", "SQLITE_CANTOPEN")):
        return StorageError(f"The kiosk could not use its storage ({exc}), so {outcome}. Ask IT to check the disk.")
    return StorageError(f"The conference database failed ({exc}), so {outcome}.")


def _conference(row) -> Conference:
    return Conference(
        id=row["id"], type=ConferenceType(row["type"]), date=date.fromisoformat(row["date"]),
        start_time=time.fromisoformat(row["start_time"]), case_ref=row["case_ref"],
        strategy_date=date.fromisoformat(row["strategy_date"]) if row["strategy_date"] else None,
        previous_icpc_date=date.fromisoformat(row["previous_icpc_date"]) if row["previous_icpc_date"] else None,
        status=Status(row["status"]),
        ended_at=datetime.fromisoformat(row["ended_at"]) if row["ended_at"] else None, changes=row["changes"])


def _invitee(row) -> Invitee:
    return Invitee(id=row["id"], conference_id=row["conference_id"], name=row["name"], role=Role(row["role"]),
                   agency=Agency(row["agency"]), direct_contact=bool(row["direct_contact"]),
                   expected_mode=Mode(row["expected_mode"]), email=row["email"])


def _event(row) -> Event:
    return Event(id=row["id"], conference_id=row["conference_id"], invitee_id=row["invitee_id"],
                 kind=EventKind(row["kind"]), at=datetime.fromisoformat(row["at"]),
                 details=json.loads(row["details"]), recorded_at=datetime.fromisoformat(row["recorded_at"]))


class ConferenceStore:
    """Conferences, invitees and the chair's events in one SQLite file.

    ``now`` returns the kiosk's clock as an aware datetime (injectable for tests);
    ``tz`` is the room's time zone (``[schedule] timezone``), used for local start times.
    Close it (or use it as a context manager) when done; :meth:`close` is idempotent.
    """

    def __init__(self, path: str | os.PathLike, *, settings: ConferenceSettings = ConferenceSettings(),
                 tz: str | ZoneInfo = "Europe/London", now: Callable[[], datetime] | None = None,
                 timeout_s: float = 5.0):
        self.path = Path(path)
        self.settings = settings
        self.tz = ZoneInfo(tz) if isinstance(tz, str) else tz
        self._now = now or (lambda: datetime.now(timezone.utc))
        self._lock = threading.RLock()
        #: Goes up with every saved change, so views computed from the data can be cached.
        self.version = 0
        # Conferences as last read: (conference, invitees, events by time then id). Every web
        # request for a conference's view reads it, and each SQLite call lets other threads
        # take the interpreter, so reads come from memory. The event log is append-only, so
        # a new event joins its list; any other change drops them all (this process is the
        # database's only writer).
        self._loaded: dict[int, tuple[Conference, list[Invitee], list[Event]]] = {}
        self._cases: dict[str, list[Conference]] = {}  # case reference -> its conferences, the same way
        # Each conference's log folded so far (kiosk.conference.fold): a tap folds in one event, not the log.
        self._folds: dict[int, Fold] = {}
        self._conn: sqlite3.Connection | None = None
        self._conn = self._open(timeout_s)

    @classmethod
    def in_state_dir(cls, state_dir: str | os.PathLike, **kwargs) -> "ConferenceStore":
        """The store in ``state_dir`` (e.g. ``Config.state_dir()``), created on first use."""
        return cls(Path(state_dir) / DB_FILENAME, **kwargs)

    # -- lifecycle --------------------------------------------------------------------

    def _open(self, timeout_s: float) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            # The file holds personal data: readable by the kiosk's user only. SQLite gives the
            # -wal and -shm files the database file's permissions.
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
            if self.path.stat().st_mode & 0o077:
                os.chmod(self.path, 0o600)
        except OSError as exc:
            raise StorageError(f"The conference database cannot be opened ({exc.strerror}: {self.path})") from None
        conn = None
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=timeout_s)
            conn.row_factory = sqlite3.Row
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StorageError(f"The conference database cannot use WAL journaling here (got {mode!r})")
            conn.execute("PRAGMA synchronous = FULL")    # WAL + FULL: a commit is on disk when it returns
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA secure_delete = ON")    # deleted personal data is overwritten, not just freed
            self._migrate(conn)
            return conn
        except sqlite3.Error as exc:
            if conn is not None:
                conn.close()
            raise _storage_error(exc, saving=False) from exc
        except BaseException:
            if conn is not None:
                conn.close()
            raise

    def _migrate(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StorageError(f"The conference database was written by a newer version of the kiosk (schema "
                               f"{version}; this version knows up to {SCHEMA_VERSION})")
        for target in range(version + 1, SCHEMA_VERSION + 1):
            try:
                # executescript commits any open transaction first, so the script carries its own.
                conn.executescript(f"BEGIN IMMEDIATE;\n{MIGRATIONS[target]}\nPRAGMA user_version = {target};\n"
                                   f"COMMIT;")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            log.info("Conference database schema now at version %d", target)

    def close(self) -> None:
        """Close the database (idempotent)."""
        with self._lock:
            self._forget()
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> "ConferenceStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StorageError("The conference database is closed")
        return self._conn

    @contextmanager
    def _write(self, keep_loaded: bool = False, one_statement: bool = False, record: bool = True):
        """One transaction: everything in the block is saved, or (on any error) nothing is.

        ``keep_loaded``: the block changes nothing the conferences kept in memory hold (it
        may append an event, and add it to them itself after this commits).
        ``one_statement``: the block runs a single statement, which SQLite saves as a
        transaction of its own (with the lock held, nothing can come between the caller's
        reads and it): two calls into SQLite fewer, each a moment other threads can take the
        interpreter and keep it.
        ``record``: False when the block changes nothing of a conference (the answers kept for retries), so
        that views computed from the data stay current.

        The first change a request with an Idempotency-Key makes also saves that key, pending its answer
        (:mod:`kiosk.conference.retry_key`), in this same transaction: the key is on disk exactly when the
        change is.
        """
        with self._lock:
            conn = self._connection()
            key = retry_key.unsaved() if record else None
            transaction = not one_statement or key is not None
            try:
                if transaction:
                    conn.execute("BEGIN IMMEDIATE")
                yield conn
                if key is not None:
                    self._save_pending(conn, key)
                if transaction:
                    conn.execute("COMMIT")
                if key is not None:
                    key.saved = True
                if record:
                    self.version += 1
                if not keep_loaded:
                    self._forget()
            except BaseException as exc:
                self._forget()
                if conn.in_transaction:  # SQLite has already rolled back after some errors (SQLITE_FULL)
                    try:
                        conn.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass
                if isinstance(exc, sqlite3.IntegrityError):
                    raise NotAllowed(str(exc)) from exc
                if isinstance(exc, sqlite3.Error):
                    raise _storage_error(exc, saving=True) from exc
                raise

    def _save_pending(self, conn, key: retry_key.RetryKey) -> None:
        # REPLACE: a row of the same key older than a day (not yet deleted by the housekeeping) is not an answer.
        conn.execute("INSERT OR REPLACE INTO idempotency (scope, key, conference_id, request, created_at) "
                     "VALUES (?, ?, ?, ?, ?)", (key.scope, key.key, key.conference_id, key.request, _ts(self._now())))

    def _forget(self) -> None:
        """Drop what is kept in memory (after a change other than a new event, or a failed one)."""
        self._loaded.clear()
        self._cases.clear()
        self._folds.clear()

    @contextmanager
    def _read(self):
        """A consistent snapshot for several queries."""
        with self._lock:
            conn = self._connection()
            try:
                conn.execute("BEGIN")
                yield conn
            except sqlite3.Error as exc:
                raise _storage_error(exc, saving=False) from exc
            finally:
                if conn.in_transaction:
                    try:
                        conn.execute("COMMIT")
                    except sqlite3.Error:
                        try:  # a damaged file can fail this too: the storage error above must stay the answer
                            conn.execute("ROLLBACK")
                        except sqlite3.Error:
                            pass

    # -- loading ----------------------------------------------------------------------

    @staticmethod
    def _get_conference(conn, conference_id: int) -> Conference:
        row = conn.execute("SELECT * FROM conference WHERE id = ? AND status != 'purging'",
                           (conference_id,)).fetchone()
        if row is None:
            raise NotFound(f"Conference {conference_id} does not exist (it may have been purged)")
        return _conference(row)

    @staticmethod
    def _get_invitees(conn, conference_id: int) -> list[Invitee]:
        return [_invitee(r) for r in conn.execute("SELECT * FROM invitee WHERE conference_id = ? ORDER BY id",
                                                  (conference_id,))]

    @staticmethod
    def _touch(conn, conference_id: int) -> None:
        """Count a change other than an event (the conference's revision is changes + events)."""
        conn.execute("UPDATE conference SET changes = changes + 1 WHERE id = ?", (conference_id,))

    @staticmethod
    def _touch_case(conn, case_ref: str, conference_id: int) -> None:
        """Count a change to the case's other conferences: their views show it (timescales, double bookings)."""
        conn.execute("UPDATE conference SET changes = changes + 1 WHERE case_ref = ? AND id != ? "
                     "AND status != 'purging'", (case_ref, conference_id))

    @staticmethod
    def _open_for_changes(conference: Conference) -> None:
        """ConferenceClosed for a conference that has ended: its list of people is closed with it."""
        if conference.status is Status.ENDED:
            raise ConferenceClosed(f"Conference {conference.id} has ended: reopen it to change its invitation list")

    def revision(self, conference_id: int) -> int:
        """A number that grows with every change to the conference (its changes plus its events)."""
        loaded = self._loaded.get(conference_id)
        conference, _, events = loaded if loaded is not None else self._snapshot(conference_id)
        return conference.changes + len(events)

    def _load(self, conn, conference_id: int) -> tuple[Conference, list[Invitee], list[Event]]:
        """The conference, its invitees and its events (from memory once read); the lists are the caller's."""
        loaded = self._loaded.get(conference_id)
        if loaded is None:
            events = [_event(r) for r in conn.execute("SELECT * FROM event WHERE conference_id = ? ORDER BY at, id",
                                                      (conference_id,))]
            loaded = (self._get_conference(conn, conference_id), self._get_invitees(conn, conference_id), events)
            self._loaded[conference_id] = loaded
        conference, invitees, events = loaded
        return conference, list(invitees), list(events)

    def _fold(self, conference_id: int, invitees: list[Invitee], events: list[Event]) -> Fold:
        """The conference's fold moved on to ``events``; the caller holds the lock."""
        fold = self._folds.get(conference_id)
        fold = Fold.build(invitees, events, self.settings) if fold is None else fold.advance(invitees, events,
                                                                                              self.settings)
        self._folds[conference_id] = fold
        return fold

    def folded(self, conference_id: int) -> tuple[Conference, list[Invitee], list[Event], Fold]:
        """The conference, its invitees, its events and their fold (a copy: it stays true), consistent."""
        with self._lock:
            conference, invitees, events = self._snapshot(conference_id)
            return conference, invitees, events, self._fold(conference_id, invitees, events).copy()

    def _snapshot(self, conference_id: int) -> tuple[Conference, list[Invitee], list[Event]]:
        """:meth:`_load` outside a transaction: no SQLite call at all for a conference in memory."""
        with self._lock:
            conn = self._connection()  # closed is closed, memory or not
            if conference_id not in self._loaded:
                with self._read() as conn:
                    return self._load(conn, conference_id)
            return self._load(conn, conference_id)

    # -- conferences ------------------------------------------------------------------

    def create_conference(self, type, date, start_time, case_ref, *, strategy_date=None,
                          previous_icpc_date=None) -> Conference:
        """A new scheduled conference. ``date``/``start_time`` are local; text (YYYY-MM-DD, HH:MM) or objects."""
        f = conference_fields(type=type, date=date, start_time=start_time, case_ref=case_ref,
                              strategy_date=strategy_date, previous_icpc_date=previous_icpc_date)
        with self._write() as conn:
            cur = conn.execute(
                # A purged conference's id is never given again: a tablet still showing its address, an
                # Idempotency-Key or the quality facts must not land on another family's conference.
                "INSERT INTO conference (id, type, date, start_time, case_ref, strategy_date, previous_icpc_date, "
                "created_at) VALUES ((SELECT 1 + MAX(COALESCE((SELECT MAX(id) FROM conference), 0), "
                "COALESCE((SELECT MAX(conference_id) FROM conference_summary), 0))), ?, ?, ?, ?, ?, ?, ?)",
                self._conference_values(f) + (_ts(self._now()),))
            self._touch_case(conn, f["case_ref"], cur.lastrowid)
            return self._get_conference(conn, cur.lastrowid)

    @staticmethod
    def _conference_values(f: dict) -> tuple:
        return (f["type"].value, f["date"].isoformat(), f["start_time"].strftime("%H:%M"), f["case_ref"],
                f["strategy_date"].isoformat() if f["strategy_date"] else None,
                f["previous_icpc_date"].isoformat() if f["previous_icpc_date"] else None)

    def update_conference(self, conference_id: int, **changes) -> Conference:
        """Change some of type, date, start_time, case_ref, strategy_date, previous_icpc_date."""
        unknown = sorted(set(changes) - set(_CONFERENCE_FIELDS))
        if unknown:
            raise InvalidInput(f"a conference has no field(s) {', '.join(unknown)}")
        with self._write() as conn:
            current = self._get_conference(conn, conference_id)
            merged = {k: getattr(current, k) for k in _CONFERENCE_FIELDS} | changes
            f = conference_fields(**merged)
            self._touch(conn, conference_id)
            conn.execute("UPDATE conference SET type = ?, date = ?, start_time = ?, case_ref = ?, strategy_date = ?, "
                         "previous_icpc_date = ? WHERE id = ?", self._conference_values(f) + (conference_id,))
            for case_ref in {current.case_ref, f["case_ref"]}:
                self._touch_case(conn, case_ref, conference_id)
            return self._get_conference(conn, conference_id)

    def get_conference(self, conference_id: int) -> Conference:
        """The conference; NotFound if there is none (or it was purged)."""
        return self._snapshot(conference_id)[0]

    def list_conferences(self, status: Status | str | None = None) -> list[Conference]:
        """All stored conferences (optionally of one status), by date and start time."""
        sql, args = "SELECT * FROM conference WHERE status != 'purging'", ()
        if status is not None:
            sql, args = sql + " AND status = ?", (Status.parse(status).value,)
        with self._read() as conn:
            return [_conference(r) for r in conn.execute(sql + " ORDER BY date, start_time, id", args)]

    def conferences_for_case(self, case_ref: str) -> list[Conference]:
        """The stored conferences with this case reference, oldest first (for timescales and copying)."""
        case_ref = str(case_ref).strip()
        with self._lock:
            if case_ref not in self._cases:
                with self._read() as conn:
                    self._cases[case_ref] = [_conference(r) for r in conn.execute(
                        "SELECT * FROM conference WHERE case_ref = ? AND status != 'purging' ORDER BY date, id",
                        (case_ref,))]
            return list(self._cases[case_ref])

    def end_conference(self, conference_id: int, at: datetime | None = None) -> Conference:
        """Mark the conference ended at ``at`` (now by default), an event in the log too. From then on only
        corrections and reports received are recorded, until :meth:`reopen_conference`."""
        now = self._now()
        ended = utc(at if at is not None else now, "the end time")
        with self._write() as conn:
            conference = self._get_conference(conn, conference_id)
            if conference.status is Status.ENDED:
                raise NotAllowed(f"Conference {conference_id} has already ended")
            conn.execute("UPDATE conference SET status = 'ended', ended_at = ? WHERE id = ?",
                         (_ts(ended), conference_id))
            self._insert_event(conn, conference_id, EventKind.ENDED, ended, now)
            return self._get_conference(conn, conference_id)

    def reopen_conference(self, conference_id: int, reason: str | None = None) -> Conference:
        """Reopen an ended conference (an event in the log; the end stays there too)."""
        now = self._now()
        details = {"reason": reason.strip()} if isinstance(reason, str) and reason.strip() else {}
        with self._write() as conn:
            conference = self._get_conference(conn, conference_id)
            if conference.status is not Status.ENDED:
                raise NotAllowed(f"Conference {conference_id} has not ended, so it cannot be reopened")
            conn.execute("UPDATE conference SET status = 'scheduled', ended_at = NULL WHERE id = ?", (conference_id,))
            self._insert_event(conn, conference_id, EventKind.REOPENED, now, now, details)
            return self._get_conference(conn, conference_id)

    @staticmethod
    def _insert_event(conn, conference_id: int, kind: EventKind, at: datetime, now: datetime,
                      details: dict | None = None) -> None:
        conn.execute("INSERT INTO event (conference_id, invitee_id, kind, at, details, recorded_at) "
                     "VALUES (?, NULL, ?, ?, ?, ?)",
                     (conference_id, kind.value, _ts(at), json.dumps(details or {}, sort_keys=True), _ts(now)))

    # -- invitees ---------------------------------------------------------------------

    @staticmethod
    def _insert_invitee(conn, conference_id: int, f: dict) -> Invitee:
        cur = conn.execute(
            "INSERT INTO invitee (conference_id, name, role, agency, direct_contact, expected_mode, email) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (conference_id, f["name"], f["role"].value, f["agency"].value, int(f["direct_contact"]),
             f["expected_mode"].value, f["email"]))
        return _invitee(conn.execute("SELECT * FROM invitee WHERE id = ?", (cur.lastrowid,)).fetchone())

    @staticmethod
    def _person(f) -> tuple:
        return f["name"].casefold(), Role.parse(f["role"])

    def add_invitee(self, conference_id: int, name: str, role, agency=None, *, direct_contact=None,
                    expected_mode=None, email=None) -> Invitee:
        """Invite someone (also after the start, for someone who turns up). See
        :func:`~kiosk.conference.validation.invitee_fields` for the defaults."""
        f = invitee_fields(name=name, role=role, agency=agency, direct_contact=direct_contact,
                           expected_mode=expected_mode, email=email)
        with self._write() as conn:
            self._open_for_changes(self._get_conference(conn, conference_id))
            existing = {self._person(vars(i)) for i in self._get_invitees(conn, conference_id)}
            if self._person(f) in existing:
                raise InvalidInput("this person is already on the invitation list in that role")
            self._touch(conn, conference_id)
            return self._insert_invitee(conn, conference_id, f)

    def _get_invitee(self, conn, invitee_id: int) -> Invitee:
        row = conn.execute("SELECT * FROM invitee WHERE id = ?", (invitee_id,)).fetchone()
        if row is None:
            raise NotFound(f"Invitee {invitee_id} does not exist")
        return _invitee(row)

    @staticmethod
    def _in_use(conn, invitee_id: int) -> bool:
        return conn.execute("SELECT 1 FROM event WHERE invitee_id = ? LIMIT 1", (invitee_id,)).fetchone() is not None

    def get_invitee(self, invitee_id: int) -> Invitee:
        """One invitee; NotFound if there is none."""
        with self._read() as conn:
            return self._get_invitee(conn, invitee_id)

    def invitees(self, conference_id: int) -> list[Invitee]:
        """The invitation list, in the order people were added."""
        return self._snapshot(conference_id)[1]

    def update_invitee(self, invitee_id: int, **changes) -> Invitee:
        """Change an invitee's name, role, agency, direct_contact, expected_mode or email.

        Once events refer to them, only the name and e-mail can be corrected (NotAllowed
        otherwise): changing the role, agency or direct contact would rewrite the quorum
        already recorded.
        """
        unknown = sorted(set(changes) - set(_INVITEE_FIELDS))
        if unknown:
            raise InvalidInput(f"an invitee has no field(s) {', '.join(unknown)}")
        with self._write() as conn:
            current = self._get_invitee(conn, invitee_id)
            if self._in_use(conn, invitee_id) and set(changes) - set(_INVITEE_FIELDS_AFTER_EVENTS):
                raise NotAllowed("Events already refer to this invitee: only the name and e-mail can be corrected")
            merged = {k: getattr(current, k) for k in _INVITEE_FIELDS} | changes
            if "role" in changes and "agency" not in changes:
                merged["agency"] = None  # a new role brings its own agency
            f = invitee_fields(**merged)
            others = {self._person(vars(i)) for i in self._get_invitees(conn, current.conference_id)
                      if i.id != invitee_id}
            if self._person(f) in others:
                raise InvalidInput("this person is already on the invitation list in that role")
            self._touch(conn, current.conference_id)
            conn.execute("UPDATE invitee SET name = ?, role = ?, agency = ?, direct_contact = ?, expected_mode = ?, "
                         "email = ? WHERE id = ?",
                         (f["name"], f["role"].value, f["agency"].value, int(f["direct_contact"]),
                          f["expected_mode"].value, f["email"], invitee_id))
            return self._get_invitee(conn, invitee_id)

    def remove_invitee(self, invitee_id: int) -> None:
        """Take someone off the list; NotAllowed once events refer to them (record a correction instead)."""
        with self._write() as conn:
            invitee = self._get_invitee(conn, invitee_id)
            self._open_for_changes(self._get_conference(conn, invitee.conference_id))
            if self._in_use(conn, invitee_id):
                raise NotAllowed("Events already refer to this invitee, so they stay on the record: "
                                 "correct the events instead")
            self._touch(conn, invitee.conference_id)
            conn.execute("DELETE FROM invitee WHERE id = ?", (invitee_id,))

    def import_invitees_csv(self, conference_id: int, text: str, notes: list[str] | None = None) -> list[Invitee]:
        """Add everyone in a CSV invitation list (see :mod:`kiosk.conference.csv_import`): all or nothing.
        ``notes`` (a list) receives what was ignored (unknown columns)."""
        rows = numbered_invitees(text, notes)
        with self._write() as conn:
            self._open_for_changes(self._get_conference(conn, conference_id))
            self._touch(conn, conference_id)
            existing = {self._person(vars(i)) for i in self._get_invitees(conn, conference_id)}
            clashes = [n for n, f in rows if self._person(f) in existing]
            if clashes:
                raise CsvImportError([(n, "this person is already on the invitation list in that role")
                                      for n in clashes])
            return [self._insert_invitee(conn, conference_id, f) for _, f in rows]

    def copy_invitees_from_previous(self, conference_id: int) -> list[Invitee]:
        """Copy the invitation list of the latest earlier conference with the same case reference.

        People already on this list are skipped; returns those added. NotFound when no
        earlier conference for the case is still stored.
        """
        with self._write() as conn:
            conference = self._get_conference(conn, conference_id)
            self._open_for_changes(conference)
            self._touch(conn, conference_id)
            row = conn.execute(
                "SELECT id FROM conference WHERE case_ref = ? AND status != 'purging' AND id != ? "
                "AND (date < ? OR (date = ? AND id < ?)) ORDER BY date DESC, id DESC LIMIT 1",
                (conference.case_ref, conference_id, conference.date.isoformat(), conference.date.isoformat(),
                 conference_id)).fetchone()
            if row is None:
                raise NotFound("No earlier conference with this case reference is stored on the kiosk")
            existing = {self._person(vars(i)) for i in self._get_invitees(conn, conference_id)}
            added = []
            for old in self._get_invitees(conn, row["id"]):
                f = {k: getattr(old, k) for k in _INVITEE_FIELDS}
                if self._person(f) not in existing:
                    added.append(self._insert_invitee(conn, conference_id, f))
            return added

    # -- events -----------------------------------------------------------------------

    def append_event(self, conference_id: int, kind, *, invitee_id: int | None = None,
                     at: datetime | None = None, details: dict | None = None,
                     expect_state: str | None = None) -> Event:
        """Record an event (``at`` defaults to now). Checked against the record so far
        (:func:`~kiosk.conference.validation.check_event`, with the invitee's ``expect_state`` if given);
        InvalidInput, ConferenceClosed or StaleState and nothing written if it does not fit. An event dated by the
        kiosk's clock is never dated before the record's last one (:mod:`kiosk.conference.dating`)."""
        with self._lock:
            conference, invitees, events = self._snapshot(conference_id)
            now, behind_s = dating.date_new_event(self._now(), events)  # never before the record's last event
            kind, at, details = check_event(conference, invitees, events, kind, invitee_id,
                                            at if at is not None else now, details, now=now, settings=self.settings,
                                            expect_state=expect_state,
                                            fold=self._fold(conference_id, invitees, events))
            if behind_s is not None:
                details = {**details, dating.CLOCK_BEHIND: behind_s}
            row = {"conference_id": conference_id, "invitee_id": invitee_id, "kind": kind.value, "at": _ts(at),
                   "details": json.dumps(details, sort_keys=True, ensure_ascii=False), "recorded_at": _ts(now)}
            with self._write(keep_loaded=True, one_statement=True) as conn:
                cur = conn.execute("INSERT INTO event (conference_id, invitee_id, kind, at, details, recorded_at) "
                                   "VALUES (:conference_id, :invitee_id, :kind, :at, :details, :recorded_at)", row)
                event = _event(row | {"id": cur.lastrowid})   # as it reads back from the file
            # Saved: the conference in memory (loaded above) takes the new event in its place.
            if events and (events[-1].at, events[-1].id) > (event.at, event.id):  # dated before the last one
                bisect.insort(events, event, key=lambda e: (e.at, e.id))
            else:
                events.append(event)
            self._loaded[conference_id] = (conference, invitees, events)
            return event

    def correct_event(self, conference_id: int, event_id: int, reason: str, *, at: datetime | None = None) -> Event:
        """Void an earlier event (recorded in error), with the reason. The voided event stays in the log."""
        return self.append_event(conference_id, EventKind.CORRECTION, at=at,
                                 details={"event_id": event_id, "reason": reason})

    def record_report_received(self, conference_id: int, invitee_id: int, received_on, *,
                               at: datetime | None = None, note: str | None = None) -> Event:
        """D8: the invitee's written report arrived on ``received_on`` (a date, or YYYY-MM-DD)."""
        details = {"received_on": received_on} | ({"note": note} if note else {})
        return self.append_event(conference_id, EventKind.REPORT_RECEIVED, invitee_id=invitee_id, at=at,
                                 details=details)

    def events(self, conference_id: int) -> list[Event]:
        """Every event of the conference, corrections and voided ones included, by time then id."""
        return self._snapshot(conference_id)[2]

    # -- views ------------------------------------------------------------------------

    def quorum(self, conference_id: int, at: datetime | None = None) -> quorum.QuorumView:
        """Quorum now (or at ``at``): see :func:`kiosk.conference.quorum.assess`."""
        _, invitees, events = self._snapshot(conference_id)
        return quorum.assess(invitees, events, utc(at) if at is not None else utc(self._now()), self.settings)

    def timeline(self, conference_id: int) -> quorum.QuorumTimeline:
        """When quorum was reached, lost and regained, and the chair's decisions (D4, D5)."""
        conference, invitees, events = self._snapshot(conference_id)
        started = next((e.at for e in events if e.kind is EventKind.STARTED), None)
        return quorum.timeline(invitees, events, self.settings, start=started or conference.starts_at(self.tz),
                               end=conference.ended_at)

    def record(self, conference_id: int) -> dict:
        """The attendance record for the minutes (:func:`kiosk.conference.record.build_record`)."""
        conference, invitees, events, fold = self.folded(conference_id)
        return record_mod.build_record(conference, invitees, events, self.settings, tz=self.tz, fold=fold)

    # -- retention --------------------------------------------------------------------

    def _purge_one(self, conference_id: int) -> dict:
        with self._write() as conn:
            conference, invitees, events = self._load(conn, conference_id)
            summary = record_mod.summarise(record_mod.build_record(conference, invitees, events, self.settings,
                                                                   tz=self.tz))
            # 'purging' lifts the append-only trigger for this conference, inside this transaction only.
            conn.execute("UPDATE conference SET status = 'purging' WHERE id = ?", (conference_id,))
            conn.execute("DELETE FROM event WHERE conference_id = ?", (conference_id,))
            conn.execute("DELETE FROM invitee WHERE conference_id = ?", (conference_id,))
            conn.execute("DELETE FROM idempotency WHERE conference_id = ?", (conference_id,))
            conn.execute("DELETE FROM conference WHERE id = ?", (conference_id,))
            conn.execute("INSERT INTO conference_summary (conference_id, type, date, purged_at, summary) "
                         "VALUES (?, ?, ?, ?, ?)",
                         (conference_id, summary["type"], summary["date"], _ts(self._now()),
                          json.dumps(summary, sort_keys=True)))
        log.info("Conference %d purged: only anonymous counts remain", conference_id)
        return summary

    def _scrub(self) -> None:
        """Move the WAL into the database, rebuild it and empty the WAL, so deleted data leaves the files."""
        with self._lock:
            conn = self._connection()
            try:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                conn.execute("VACUUM")
                busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            except sqlite3.Error as exc:
                # The purge itself is committed; the next purge scrubs again.
                log.warning("Purged data could not be scrubbed from the database files yet: %s", exc)
                return
            if busy:
                log.warning("Purged data could not be scrubbed from the WAL yet: another reader is busy")

    def purge(self, conference_id: int) -> dict:
        """Delete the conference's personal data now, keeping only its anonymous summary (returned)."""
        summary = self._purge_one(conference_id)
        self._scrub()
        return summary

    def purge_due(self, now: datetime | None = None, retention_days: int | None = None) -> list[int]:
        """Purge every conference that ended ``retention_days`` ago or more; returns their ids.

        A conference never ended (the chair forgot) is judged from its start, so that no
        record stays on the kiosk for ever.
        """
        now = utc(now if now is not None else self._now())
        days = self.settings.retention_days if retention_days is None else retention_days
        if days < 0:
            raise InvalidInput("retention_days must be 0 or more")
        cutoff = now - timedelta(days=days)
        due = [c.id for c in self.list_conferences() if (c.ended_at or c.starts_at(self.tz)) <= cutoff]
        for conference_id in due:
            self._purge_one(conference_id)
        if due:
            self._scrub()
        return due

    def summaries(self) -> list[dict]:
        """The anonymous summaries of purged conferences, oldest first."""
        with self._read() as conn:
            rows = conn.execute("SELECT * FROM conference_summary ORDER BY date, conference_id").fetchall()
        return [{"conference_id": r["conference_id"], "purged_at": r["purged_at"], **json.loads(r["summary"])}
                for r in rows]


    # -- answers kept for retried requests (Idempotency-Key) ----------------------------

    def recall_answer(self, scope: str, key: str, since: datetime) -> tuple[str, int | None, str | None, dict] | None:
        """The (request, status, body, headers) kept for ``key`` sent by ``scope`` at or after ``since``, or None.

        Status and body are None while the answer is pending: the change was saved, its answer is not (yet).
        """
        with self._read() as conn:
            row = conn.execute("SELECT request, status, body, headers FROM idempotency WHERE scope = ? AND key = ? "
                               "AND created_at >= ?", (scope, key, _ts(since))).fetchone()
        return (row["request"], row["status"], row["body"], json.loads(row["headers"])) if row else None

    def keep_answer(self, scope: str, key: str, conference_id: int | None, request: str, status: int,
                    body: str, headers: dict | None = None) -> None:
        """Keep the answer given to ``key``: it fills in the row its change saved pending, or is a new row when
        nothing was saved (a refusal). An answer already kept stays (the first one, if two arrive at once).

        A new row for a conference that no longer exists is not kept: a purge that came while the request was
        answered took the conference's answers with it, and this one may name its people too.
        """
        row = {"scope": scope, "key": key, "conference": conference_id, "request": request, "status": status,
               "body": body, "headers": json.dumps(headers or {}), "at": _ts(self._now())}
        with self._write(keep_loaded=True, record=False) as conn:
            filled = conn.execute("UPDATE idempotency SET conference_id = coalesce(conference_id, :conference), "
                                  "status = :status, body = :body, headers = :headers "
                                  "WHERE scope = :scope AND key = :key AND status IS NULL", row).rowcount
            if not filled:
                conn.execute("INSERT INTO idempotency (scope, key, conference_id, request, status, body, headers, "
                             "created_at) SELECT :scope, :key, :conference, :request, :status, :body, :headers, :at "
                             "WHERE :conference IS NULL OR EXISTS (SELECT 1 FROM conference WHERE id = :conference) "
                             "ON CONFLICT (scope, key) DO NOTHING", row)

    def forget_answers(self, before: datetime) -> int:
        """Delete the answers kept since before ``before``; returns how many."""
        with self._write(keep_loaded=True, one_statement=True, record=False) as conn:
            return conn.execute("DELETE FROM idempotency WHERE created_at < ?", (_ts(before),)).rowcount
