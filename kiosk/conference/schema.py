"""The conference database's tables, versioned with ``PRAGMA user_version``.

:data:`MIGRATIONS` maps each version to the SQL that takes the database from the one
before to it; the store applies the missing ones in order, each in a transaction.
A database newer than :data:`SCHEMA_VERSION` is refused rather than guessed at.

Events are append-only in the database itself: triggers refuse any UPDATE, and any
DELETE unless the conference is being purged (status ``purging``, set only inside the
purge transaction).
"""

from __future__ import annotations

from kiosk.conference.model import ConferenceType, EventKind, Mode

SCHEMA_VERSION = 3


def _values(enum) -> str:
    return ", ".join(f"'{m.value}'" for m in enum)


_V1 = f"""
CREATE TABLE conference (
    id                  INTEGER PRIMARY KEY,
    type                TEXT NOT NULL CHECK (type IN ({_values(ConferenceType)})),
    date                TEXT NOT NULL,             -- local date, YYYY-MM-DD
    start_time          TEXT NOT NULL,             -- local time, HH:MM
    case_ref            TEXT NOT NULL,
    strategy_date       TEXT,
    previous_icpc_date  TEXT,
    status              TEXT NOT NULL DEFAULT 'scheduled' CHECK (status IN ('scheduled', 'ended', 'purging')),
    created_at          TEXT NOT NULL,             -- UTC, ISO 8601
    ended_at            TEXT
);
CREATE INDEX conference_case ON conference (case_ref, date);

CREATE TABLE invitee (
    id              INTEGER PRIMARY KEY,
    conference_id   INTEGER NOT NULL REFERENCES conference (id),
    name            TEXT NOT NULL,
    role            TEXT NOT NULL,
    agency          TEXT NOT NULL,
    direct_contact  INTEGER NOT NULL CHECK (direct_contact IN (0, 1)),
    expected_mode   TEXT NOT NULL CHECK (expected_mode IN ({_values(Mode)})),
    email           TEXT
);
CREATE INDEX invitee_conference ON invitee (conference_id);

CREATE TABLE event (
    id              INTEGER PRIMARY KEY,
    conference_id   INTEGER NOT NULL REFERENCES conference (id),
    invitee_id      INTEGER REFERENCES invitee (id),
    kind            TEXT NOT NULL CHECK (kind IN ({_values(EventKind)})),
    at              TEXT NOT NULL,                 -- UTC, fixed-width ISO 8601, so text order is time order
    details         TEXT NOT NULL DEFAULT '{{}}',  -- JSON object
    recorded_at     TEXT NOT NULL
);
CREATE INDEX event_conference ON event (conference_id, at, id);
CREATE INDEX event_invitee ON event (invitee_id);

CREATE TRIGGER event_append_only_update BEFORE UPDATE ON event
BEGIN
    SELECT RAISE(ABORT, 'events are append-only: record a correction instead');
END;
CREATE TRIGGER event_append_only_delete BEFORE DELETE ON event
WHEN (SELECT status FROM conference WHERE id = OLD.conference_id) IS NOT 'purging'
BEGIN
    SELECT RAISE(ABORT, 'events are append-only: record a correction instead');
END;

-- What is left of a conference after its purge: anonymous counts only (D15).
CREATE TABLE conference_summary (
    conference_id   INTEGER PRIMARY KEY,
    type            TEXT NOT NULL,
    date            TEXT NOT NULL,
    purged_at       TEXT NOT NULL,
    summary         TEXT NOT NULL                  -- JSON: counts, no names, notes or case reference
);
"""

# Version 2: the end and reopening of a conference are events (the CHECK on kinds is widened, which
# SQLite can only do by rebuilding the table); a per-conference count of changes other than events, so
# that a conference's revision (changes + events) survives a restart; and the answers kept for
# Idempotency-Key retries (personal data like the record: purged with the conference, and after 24 h).
_V2 = f"""
CREATE TABLE event_v2 (
    id              INTEGER PRIMARY KEY,
    conference_id   INTEGER NOT NULL REFERENCES conference (id),
    invitee_id      INTEGER REFERENCES invitee (id),
    kind            TEXT NOT NULL CHECK (kind IN ({_values(EventKind)})),
    at              TEXT NOT NULL,
    details         TEXT NOT NULL DEFAULT '{{}}',
    recorded_at     TEXT NOT NULL
);
INSERT INTO event_v2 (id, conference_id, invitee_id, kind, at, details, recorded_at)
    SELECT id, conference_id, invitee_id, kind, at, details, recorded_at FROM event;
DROP TABLE event;
ALTER TABLE event_v2 RENAME TO event;
CREATE INDEX event_conference ON event (conference_id, at, id);
CREATE INDEX event_invitee ON event (invitee_id);
CREATE TRIGGER event_append_only_update BEFORE UPDATE ON event
BEGIN
    SELECT RAISE(ABORT, 'events are append-only: record a correction instead');
END;
CREATE TRIGGER event_append_only_delete BEFORE DELETE ON event
WHEN (SELECT status FROM conference WHERE id = OLD.conference_id) IS NOT 'purging'
BEGIN
    SELECT RAISE(ABORT, 'events are append-only: record a correction instead');
END;

ALTER TABLE conference ADD COLUMN changes INTEGER NOT NULL DEFAULT 0;

CREATE TABLE idempotency (
    scope           TEXT NOT NULL,                 -- the session (or client) that sent the key
    key             TEXT NOT NULL,
    conference_id   INTEGER,                       -- purged with it
    request         TEXT NOT NULL,                 -- method, path and a hash of the body
    status          INTEGER NOT NULL,
    body            TEXT NOT NULL,
    headers         TEXT NOT NULL DEFAULT '{{}}',  -- JSON: Content-Type, Location
    created_at      TEXT NOT NULL,                 -- UTC, ISO 8601
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_conference ON idempotency (conference_id);
CREATE INDEX idempotency_created ON idempotency (created_at);
"""

# Version 3: a key's row is saved pending (no status or body yet) in the transaction of its request's change, and
# its answer filled in after (kiosk.conference.retry_key): a crash in between leaves it pending, so that a retry
# records nothing again. SQLite cannot drop a NOT NULL, so the table is rebuilt.
_V3 = """
CREATE TABLE idempotency_v3 (
    scope           TEXT NOT NULL,
    key             TEXT NOT NULL,
    conference_id   INTEGER,
    request         TEXT NOT NULL,
    status          INTEGER,                       -- NULL while pending: the change is saved, its answer is not
    body            TEXT,
    headers         TEXT NOT NULL DEFAULT '{}',
    created_at      TEXT NOT NULL,
    PRIMARY KEY (scope, key),
    CHECK ((status IS NULL) = (body IS NULL))
);
INSERT INTO idempotency_v3 (scope, key, conference_id, request, status, body, headers, created_at)
    SELECT scope, key, conference_id, request, status, body, headers, created_at FROM idempotency;
DROP TABLE idempotency;
ALTER TABLE idempotency_v3 RENAME TO idempotency;
CREATE INDEX idempotency_conference ON idempotency (conference_id);
CREATE INDEX idempotency_created ON idempotency (created_at);
"""

MIGRATIONS: dict[int, str] = {1: _V1, 2: _V2, 3: _V3}
