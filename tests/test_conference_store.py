"""The SQLite conference record: validation, append-only events, CSV import, durability, purge."""

from __future__ import annotations

import sqlite3
import stat
import threading
from contextlib import closing
from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from kiosk.conference import retry_key
from kiosk.conference.csv_import import parse_invitees_csv
from kiosk.conference.errors import (ConferenceError, CsvImportError, InvalidInput, NotAllowed, NotFound, StorageError,
                                     StorageFull)
from kiosk.conference.model import Agency, EventKind, Mode, Role, Status
from kiosk.conference.schema import MIGRATIONS, SCHEMA_VERSION
from kiosk.conference.store import DB_FILENAME, ConferenceStore
from kiosk.errors import KioskError

START = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)   # 10:00 in London (GMT in November)


class Clock:
    def __init__(self, now=START + timedelta(hours=2)):
        self.now = now

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def store(tmp_path, clock):
    s = ConferenceStore(tmp_path / "state" / DB_FILENAME, now=clock)
    try:
        yield s
    finally:
        s.close()


def at(minute):
    return START + timedelta(minutes=minute)


@pytest.fixture
def meeting(store):
    """An ICPC with a social worker, a health visitor, a police officer and a parent."""
    c = store.create_conference("initial", "2026-11-23", "10:00", "CP-2026-0142", strategy_date="2026-11-02")
    people = {
        "sw": store.add_invitee(c.id, "Samira Socialworker", "social worker", email="samira@council.example"),
        "hv": store.add_invitee(c.id, "Hana Healthvisitor", "health visitor", direct_contact=True),
        "po": store.add_invitee(c.id, "Pat Policeofficer", "police officer", direct_contact="yes"),
        "mum": store.add_invitee(c.id, "Mary Motherofchild", "parent"),
    }
    return c, people


def arrive(store, c, who, minute, mode="virtual"):
    return store.append_event(c.id, "arrived", invitee_id=who.id, at=at(minute), details={"mode": mode})


# -- conferences and invitees -----------------------------------------------------------------------------------

def test_conference_store_creates_and_updates_a_conference(store):
    c = store.create_conference("review", date(2027, 3, 1), "14:30", "CP-2026-0142",
                                previous_icpc_date="2026-12-01")
    assert (c.type.value, c.date, c.start_time.strftime("%H:%M"), c.status) == ("review", date(2027, 3, 1), "14:30",
                                                                               Status.SCHEDULED)
    c2 = store.update_conference(c.id, start_time="15:00")
    assert c2.start_time.strftime("%H:%M") == "15:00" and c2.previous_icpc_date == date(2026, 12, 1)
    assert store.get_conference(c.id) == c2
    assert [x.id for x in store.list_conferences()] == [c.id]
    with pytest.raises(InvalidInput, match="no field"):
        store.update_conference(c.id, colour="red")
    with pytest.raises(NotFound, match="Conference 99 does not exist"):
        store.get_conference(99)


@pytest.mark.parametrize("fields, message", [
    ({"case_ref": "Jane Smith"}, "never a name"),
    ({"case_ref": "Smith"}, "never a name"),
    ({"type": "emergency"}, "unknown conference type"),
    ({"date": "23/11/2026"}, "YYYY-MM-DD"),
    ({"start_time": "25:00"}, "HH:MM"),
    ({"strategy_date": "2026-12-01"}, "strategy discussion must come before"),
    ({"previous_icpc_date": "2026-01-01"}, "only a review conference"),
])
def test_conference_store_refuses_bad_conference_fields(store, fields, message):
    args = {"type": "initial", "date": "2026-11-23", "start_time": "10:00", "case_ref": "CP-1"} | fields
    with pytest.raises(InvalidInput, match=message):
        store.create_conference(**args)
    assert store.list_conferences() == []


def test_conference_store_invitee_defaults_follow_the_domain(store, meeting):
    c, p = meeting
    sw, hv, mum = p["sw"], p["hv"], p["mum"]
    assert (sw.agency, sw.direct_contact, sw.expected_mode) == (Agency.CHILDRENS_SOCIAL_CARE, True, Mode.IN_PERSON)
    assert (hv.agency, hv.expected_mode) == (Agency.HEALTH, Mode.VIRTUAL)
    assert (mum.agency, mum.direct_contact, mum.expected_mode) == (Agency.PARENT_CARER, False, Mode.IN_PERSON)
    assert store.invitees(c.id) == list(p.values())


@pytest.mark.parametrize("kwargs, message", [
    ({"name": " ", "role": "gp"}, "name is missing"),
    ({"name": "A", "role": "wizard"}, "unknown role"),
    ({"name": "A", "role": "health visitor", "agency": "police", "direct_contact": True}, "belongs to health"),
    ({"name": "A", "role": "police officer"}, "direct contact must be yes or no"),
    ({"name": "A", "role": "other professional", "direct_contact": True}, "agency is needed"),
    ({"name": "A", "role": "gp", "direct_contact": True, "email": "not an address"}, "e-mail address is not valid"),
    ({"name": "A", "role": "gp", "direct_contact": "perhaps"}, "yes or no"),
])
def test_conference_store_refuses_bad_invitees(store, meeting, kwargs, message):
    c, _ = meeting
    with pytest.raises(InvalidInput, match=message):
        store.add_invitee(c.id, **kwargs)
    assert len(store.invitees(c.id)) == 4


def test_conference_store_invitee_can_change_until_events_refer_to_them(store, meeting):
    c, p = meeting
    gp = store.add_invitee(c.id, "Gina", "gp", direct_contact=True)
    gp = store.update_invitee(gp.id, role="paediatrician")
    assert gp.role is Role.PAEDIATRICIAN
    store.remove_invitee(gp.id)
    assert gp.id not in [i.id for i in store.invitees(c.id)]

    arrive(store, c, p["hv"], -5)
    with pytest.raises(NotAllowed, match="only the name and e-mail"):
        store.update_invitee(p["hv"].id, agency="police", role="police officer")
    with pytest.raises(NotAllowed, match="stay on the record"):
        store.remove_invitee(p["hv"].id)
    fixed = store.update_invitee(p["hv"].id, name="Hannah Healthvisitor")   # a typo may still be fixed
    assert fixed.name == "Hannah Healthvisitor" and fixed.role is Role.HEALTH_VISITOR
    with pytest.raises(InvalidInput, match="already on the invitation list"):
        store.add_invitee(c.id, "hannah healthvisitor", "health visitor", direct_contact=True)


# -- events -------------------------------------------------------------------------------------------------

def test_conference_store_is_append_only(store, meeting, tmp_path):
    c, p = meeting
    e = arrive(store, c, p["sw"], -5, "in_person")
    assert not [name for name in dir(store) if name.startswith(("update_event", "delete_event", "remove_event",
                                                                "edit_event"))]
    raw = sqlite3.connect(store.path)
    try:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            raw.execute("UPDATE event SET at = ? WHERE id = ?", ("2026-01-01", e.id))
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            raw.execute("DELETE FROM event WHERE id = ?", (e.id,))
    finally:
        raw.close()
    assert store.events(c.id) == [e]


def test_conference_store_corrections_void_events_and_stay_in_the_log(store, meeting):
    c, p = meeting
    wrong = arrive(store, c, p["po"], -3)
    correction = store.correct_event(c.id, wrong.id, "tapped the wrong name")
    assert [e.kind for e in store.events(c.id)] == [EventKind.ARRIVED, EventKind.CORRECTION]
    assert correction.details == {"event_id": wrong.id, "reason": "tapped the wrong name"}
    with pytest.raises(InvalidInput, match="already been corrected"):
        store.correct_event(c.id, wrong.id, "again")
    with pytest.raises(InvalidInput, match="cannot be corrected"):
        store.correct_event(c.id, correction.id, "undo")
    with pytest.raises(InvalidInput, match="needs a reason"):
        store.correct_event(c.id, wrong.id, "")
    arrive(store, c, p["po"], 4)   # the voided arrival does not block the real one


def test_conference_store_lists_events_in_time_order(store, meeting, clock):
    c, p = meeting
    late = arrive(store, c, p["po"], 10)
    early = arrive(store, c, p["sw"], -5, "in_person")        # recorded afterwards, back-dated
    same = arrive(store, c, p["hv"], 10)
    assert [e.id for e in store.events(c.id)] == [early.id, late.id, same.id]
    assert late.recorded_at == clock.now and late.at == at(10) and late.at.tzinfo is not None


@pytest.mark.parametrize("kind, who, details, when, message", [
    ("teleported", "sw", {}, 0, "unknown event kind"),
    ("left", "sw", {}, 0, "needs whether the chair agreed"),
    ("left", "hv", {"agreed": True}, 0, "is not present"),
    ("could_not_rejoin", "po", {}, 0, "needs whether they e-mailed the chair"),
    ("arrived", "sw", {"mode": "in_person"}, 0, "already present"),
    ("arrived", None, {"mode": "virtual"}, 0, "must name an invitee"),
    ("started", "sw", {}, 0, "about the conference, not about one invitee"),
    ("proceed_inquorate", None, {}, 0, "needs a reason"),
    ("proceed_inquorate", None, {"reason": ""}, 0, "needs a reason"),
    ("report_received", "hv", {"received_on": "yesterday"}, 0, "YYYY-MM-DD"),
    ("arrived", "hv", {"mode": "virtual", "colour": "blue"}, 0, "does not take colour"),
    ("arrived", "hv", {"mode": "virtual"}, 24 * 60, "in the future"),
])
def test_conference_store_refuses_invalid_events_and_writes_nothing(store, meeting, kind, who, details, when,
                                                                    message):
    c, p = meeting
    arrive(store, c, p["sw"], -5, "in_person")
    before = store.events(c.id)
    with pytest.raises(InvalidInput, match=message):
        store.append_event(c.id, kind, invitee_id=p[who].id if who else None, at=at(when), details=details)
    assert store.events(c.id) == before


def test_conference_store_correction_of_an_event_not_in_the_conference_is_not_found(store, meeting):
    """An event id that is not this conference's is an unknown thing (404 over the API), not bad input."""
    c, p = meeting
    arrive(store, c, p["sw"], -5, "in_person")
    before = store.events(c.id)
    with pytest.raises(NotFound, match="not part of conference"):
        store.append_event(c.id, "correction", at=at(0), details={"event_id": 999, "reason": "x"})
    assert store.events(c.id) == before


def test_conference_store_refuses_invitees_of_another_conference_and_naive_times(store, meeting):
    c, p = meeting
    other = store.create_conference("initial", "2026-11-24", "10:00", "CP-2026-0999")
    with pytest.raises(InvalidInput, match=f"is not invited to conference {other.id}"):
        store.append_event(other.id, "arrived", invitee_id=p["sw"].id, at=at(0), details={"mode": "virtual"})
    with pytest.raises(InvalidInput, match="timezone-aware"):
        store.append_event(c.id, "arrived", invitee_id=p["sw"].id, at=datetime(2026, 11, 23, 10),
                           details={"mode": "virtual"})
    with pytest.raises(NotFound):
        store.append_event(999, "started")


def test_conference_store_quorum_proceed_inquorate_and_record(store, meeting, clock):
    c, p = meeting
    arrive(store, c, p["sw"], -5, "in_person")
    arrive(store, c, p["mum"], -5, "in_person")
    arrive(store, c, p["hv"], -2)
    assert store.quorum(c.id, at(0)).reason == ("Not quorate: needs one more agency with direct contact besides "
                                                "children's social care")
    with pytest.raises(InvalidInput, match="needs a reason"):
        store.append_event(c.id, "proceed_inquorate", at=at(2))
    store.append_event(c.id, "proceed_inquorate", at=at(2), details={"reason": "Police report received"})
    arrive(store, c, p["po"], 12)
    view = store.quorum(c.id)
    assert view.quorate and (view.in_person, view.virtual) == (2, 2)
    tl = store.timeline(c.id)
    assert tl.proceeded_inquorate and tl.quorate_at_start is False
    assert tl.inquorate_periods[0].decision.reason == "Police report received"
    store.record_report_received(c.id, p["po"].id, "2026-11-18")
    record = store.record(c.id)
    assert record["counts"]["late"] == 1 and record["counts"]["reports_on_time"] == 1


def test_conference_store_end_conference(store, meeting, clock):
    c, _ = meeting
    ended = store.end_conference(c.id)
    assert ended.status is Status.ENDED and ended.ended_at == clock.now
    assert [x.id for x in store.list_conferences("ended")] == [c.id]
    with pytest.raises(NotAllowed, match="already ended"):
        store.end_conference(c.id)


# -- CSV import and copying ---------------------------------------------------------------------------------

GOOD_CSV = """\ufeffName,Role,Agency,Direct contact,Expected mode,Email
Chris Chair,chair,,,,chair@council.example
Sam Social,Social worker,Children's social care,yes,in person,sam@council.example
Hana Visitor,Health visitor,,yes,virtual,
"Gee, Pee",GP,health,no,,
Mum Parent,parent/carer,,,in person,
"""


def test_conference_store_imports_an_invitation_list(store):
    c = store.create_conference("initial", "2026-11-23", "10:00", "CP-1")
    added = store.import_invitees_csv(c.id, GOOD_CSV)
    assert [(i.name, i.role, i.agency, i.direct_contact, i.expected_mode) for i in added] == [
        ("Chris Chair", Role.CHAIR, Agency.CHILDRENS_SOCIAL_CARE, False, Mode.IN_PERSON),
        ("Sam Social", Role.SOCIAL_WORKER, Agency.CHILDRENS_SOCIAL_CARE, True, Mode.IN_PERSON),
        ("Hana Visitor", Role.HEALTH_VISITOR, Agency.HEALTH, True, Mode.VIRTUAL),
        ("Gee, Pee", Role.GP, Agency.HEALTH, False, Mode.VIRTUAL),
        ("Mum Parent", Role.PARENT_CARER, Agency.PARENT_CARER, False, Mode.IN_PERSON),
    ]
    assert added[0].email == "chair@council.example"
    with pytest.raises(CsvImportError, match="row 4: this person is already on the invitation list"):
        store.import_invitees_csv(c.id, "name,role,direct_contact\nNew Person,police officer,yes\n\n"
                                        "Sam Social,social worker,yes\n")
    assert len(store.invitees(c.id)) == 5


@pytest.mark.parametrize("text, problems", [
    ("name,role\nA,gp\n", [(2, "direct contact must be yes or no: it decides whether this professional counts "
                               "towards quorum")]),
    ("Ann Example,gp\n", [(1, "the header must name the column(s) name, role (headings: name, role, agency, "
                              "direct_contact, expected_mode, email; is the header row missing?)")]),
    ("role,agency\nchair,\n", [(1, "the header must name the column(s) name (headings: name, role, agency, "
                                "direct_contact, expected_mode, email; is the header row missing?)")]),
    ("name,role\nA,chair\nB,wizard\n\nC,chair,extra\n", [
        (3, "unknown role (known: chair, note-taker, social worker, team manager, health visitor, school nurse, "
            "GP, paediatrician, midwife, mental health, other health professional, police officer, school, "
            "early years, probation officer, housing officer, parent or carer, child or young person, advocate, "
            "interpreter, other professional)"),
        (5, "has 3 cells but the header has 2 columns")]),
    ("name,role\nA,chair\na,Chair\n", [(3, "the same person and role are already on row 2")]),
    ("name,role,direct_contact\nA,gp\n", [(2, "direct contact must be yes or no: it decides whether this "
                                               "professional counts towards quorum")]),
    ("name,role,agency\nA\n", [(2, "the role is missing")]),
    ("name,role\n", [(0, "the file has a header but no invitees")]),
    ("  \n", [(0, "the file is empty")]),
    ('name,role\n"A\x00",chair\n', [(2, "the name must be plain text of at most 200 characters")]),
])
def test_conference_store_csv_errors_name_the_rows_and_import_nothing(store, text, problems):
    c = store.create_conference("initial", "2026-11-23", "10:00", "CP-1")
    with pytest.raises(CsvImportError) as info:
        store.import_invitees_csv(c.id, text)
    assert info.value.problems == problems
    assert str(info.value).startswith("Nothing was imported: ")
    assert isinstance(info.value, (ValueError, KioskError, ConferenceError))
    assert store.invitees(c.id) == []


@hsettings(database=None, deadline=None, max_examples=300)
@given(text=st.one_of(st.text(), st.text(alphabet=",\"\n\r\x00abc=yesno", max_size=60),
                      st.builds(lambda cells: "name,role,agency,direct_contact\n" + "".join(cells),
                                st.lists(st.sampled_from([",", '"', "\n", "gp", "chair", "health", "yes", "x", " "]),
                                         max_size=40))))
def test_conference_store_property_csv_import_either_imports_or_explains(text):
    try:
        rows = parse_invitees_csv(text)
    except CsvImportError as exc:
        assert exc.problems and str(exc).startswith("Nothing was imported")
    else:
        assert rows and all(r["name"] and isinstance(r["role"], Role) for r in rows)


def test_conference_store_copies_the_invitation_list_from_the_previous_conference(store):
    icpc = store.create_conference("initial", "2026-11-23", "10:00", "CP-7")
    store.import_invitees_csv(icpc.id, GOOD_CSV)
    other = store.create_conference("initial", "2026-11-24", "10:00", "CP-8")
    store.add_invitee(other.id, "Not Copied", "gp", direct_contact=True)
    review = store.create_conference("review", "2027-02-15", "10:00", "CP-7", previous_icpc_date="2026-11-23")
    store.add_invitee(review.id, "Sam Social", "social worker")
    added = store.copy_invitees_from_previous(review.id)
    assert [i.name for i in added] == ["Chris Chair", "Hana Visitor", "Gee, Pee", "Mum Parent"]
    assert len(store.invitees(review.id)) == 5
    assert [x.id for x in store.conferences_for_case("CP-7")] == [icpc.id, review.id]
    with pytest.raises(NotFound, match="No earlier conference"):
        store.copy_invitees_from_previous(icpc.id)


# -- durability and threads ---------------------------------------------------------------------------------

def test_conference_store_reopens_with_everything_kept(tmp_path, clock):
    path = tmp_path / DB_FILENAME
    with ConferenceStore(path, now=clock) as s:
        c = s.create_conference("initial", "2026-11-23", "10:00", "CP-1")
        sw = s.add_invitee(c.id, "Sam", "social worker")
        e = s.append_event(c.id, "arrived", invitee_id=sw.id, at=at(0), details={"mode": "in_person", "note": "é"})
        conn = s._conn
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2       # FULL
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert conn.execute("PRAGMA secure_delete").fetchone()[0] == 1
    s.close()   # idempotent
    with pytest.raises(StorageError, match="closed"):
        s.events(c.id)
    with ConferenceStore(path, now=clock) as again:
        assert again.get_conference(c.id) == c
        assert again.invitees(c.id) == [sw]
        assert again.events(c.id) == [e]
        assert again._conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_conference_store_migrates_a_version_2_file_keeping_its_answers(tmp_path, clock):
    path = tmp_path / DB_FILENAME
    with closing(sqlite3.connect(path, isolation_level=None)) as raw:
        for version in (1, 2):
            raw.executescript(f"BEGIN;\n{MIGRATIONS[version]}\nPRAGMA user_version = {version};\nCOMMIT;")
        raw.execute("INSERT INTO conference (type, date, start_time, case_ref, created_at) "
                    "VALUES ('initial', '2026-11-23', '10:00', 'CP-1', '2026-11-20T09:00:00+00:00')")
        raw.execute("INSERT INTO idempotency (scope, key, conference_id, request, status, body, headers, created_at) "
                    "VALUES ('s', 'k', 1, 'POST /api/x 00', 201, '{}', '{\"Location\": \"/x\"}', ?)",
                    (clock().isoformat(),))
    with ConferenceStore(path, now=clock) as s:
        conn = s._conn
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
        assert s.recall_answer("s", "k", clock() - timedelta(days=1)) == ("POST /api/x 00", 201, "{}",
                                                                            {"Location": "/x"})
        assert s.get_conference(1).case_ref == "CP-1"
        assert {r[1] for r in conn.execute("PRAGMA index_list(idempotency)")} >= {"idempotency_conference",
                                                                                 "idempotency_created"}
        with pytest.raises(sqlite3.IntegrityError):  # an answer is a status and a body, or neither (pending)
            conn.execute("INSERT INTO idempotency (scope, key, request, status, created_at) "
                         "VALUES ('s', 'k2', 'r', 200, 'now')")
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_conference_store_refuses_a_newer_schema_and_a_damaged_file(tmp_path):
    newer = tmp_path / "newer.db"
    raw = sqlite3.connect(newer)
    raw.execute("PRAGMA user_version = 7")
    raw.close()
    with pytest.raises(StorageError, match="newer version of the kiosk"):
        ConferenceStore(newer)
    damaged = tmp_path / "damaged.db"
    damaged.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StorageError, match="damaged"):
        ConferenceStore(damaged)


def test_conference_store_events_kept_in_memory_match_the_file(store, meeting, tmp_path):
    """Events are read once and new ones added in place: what the store answers is what a fresh reader of the
    file sees, through back-dated events, refused events, corrections and failed saves."""
    c, p = meeting

    def from_disk():
        with ConferenceStore(store.path) as other:
            return other.events(c.id)

    assert store.events(c.id) == [] == from_disk()
    arrive(store, c, p["po"], 10)
    late = arrive(store, c, p["hv"], 12)
    arrive(store, c, p["sw"], -5, "in_person")                       # back-dated: goes first
    assert store.events(c.id) == from_disk()
    with pytest.raises(InvalidInput):
        arrive(store, c, p["po"], 15)                                 # already here: refused, nothing kept
    store.correct_event(c.id, late.id, "wrong row", at=at(13))
    store.events(c.id).clear()                                        # a caller's copy, not the store's list
    assert store.events(c.id) == from_disk() and len(from_disk()) == 4
    conn = store._conn
    conn.execute(f"PRAGMA max_page_count = {conn.execute('PRAGMA page_count').fetchone()[0]}")
    with pytest.raises(StorageError):
        for n in range(300):
            store.append_event(c.id, "camera_off" if n % 2 == 0 else "camera_on", invitee_id=p["po"].id,
                               at=at(20 + n), details={"note": "x" * 400})
    conn.execute("PRAGMA max_page_count = 1073741823")
    assert store.events(c.id) == from_disk()                          # the save that failed is not listed
    store.purge(c.id)
    with pytest.raises(NotFound):
        store.events(c.id)
    assert store._loaded == {}                                        # nothing of the purged record in memory


def test_conference_store_conferences_of_a_case_follow_every_change(store, meeting):
    c, p = meeting
    assert [x.id for x in store.conferences_for_case("CP-2026-0142")] == [c.id]
    arrive(store, c, p["sw"], -5, "in_person")
    review = store.create_conference("review", "2027-02-15", "10:00", "CP-2026-0142")
    assert [x.id for x in store.conferences_for_case(" CP-2026-0142 ")] == [c.id, review.id]
    store.update_conference(review.id, case_ref="CP-2026-0999")
    assert [x.id for x in store.conferences_for_case("CP-2026-0142")] == [c.id]
    assert [x.date for x in store.conferences_for_case("CP-2026-0999")] == [date(2027, 2, 15)]


def test_conference_store_concurrent_appends_from_threads_all_land(store):
    c = store.create_conference("initial", "2026-11-23", "10:00", "CP-1")
    people = [store.add_invitee(c.id, f"Person {n}", "gp", direct_contact=True) for n in range(8)]
    errors = []

    def chair(who, offset):
        try:
            for k in range(25):
                minute = offset + k * 2
                store.append_event(c.id, "arrived", invitee_id=who.id, at=at(minute), details={"mode": "virtual"})
                store.append_event(c.id, "left", invitee_id=who.id, at=at(minute + 1), details={"agreed": True})
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=chair, args=(who, n * 0.01)) for n, who in enumerate(people)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    events = store.events(c.id)
    assert len(events) == 8 * 25 * 2 and len({e.id for e in events}) == 400
    for who in people:
        mine = [e.kind for e in events if e.invitee_id == who.id]
        assert mine == [EventKind.ARRIVED, EventKind.LEFT] * 25


def test_conference_store_disk_full_raises_a_clear_error_and_keeps_the_data(store, meeting):
    c, p = meeting
    kept = arrive(store, c, p["sw"], -5, "in_person")
    conn = store._conn
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")   # the database cannot grow: as good as a full disk
    with pytest.raises(StorageFull, match="storage is full, so nothing was saved") as info:
        for n in range(200):
            store.add_invitee(c.id, f"Filler {n} " + "x" * 150, "gp", direct_contact=True, email=None)
    assert isinstance(info.value, OSError) and isinstance(info.value, KioskError)
    assert not conn.in_transaction
    conn.execute("PRAGMA max_page_count = 1073741823")
    assert store.events(c.id) == [kept]
    filled = [i for i in store.invitees(c.id) if i.name.startswith("Filler")]
    assert len(store.invitees(c.id)) == 4 + len(filled)    # whole saves only
    arrive(store, c, p["hv"], -2)                           # and it works again once there is room
    assert len(store.events(c.id)) == 2


# -- retention ----------------------------------------------------------------------------------------------

PERSONAL = [b"Samira Socialworker", b"Hana Healthvisitor", b"Pat Policeofficer", b"Mary Motherofchild",
            b"samira@council.example", b"CP-2026-0142", b"Unicornfrost", b"Dragonwhisper"]


def _raw_bytes(path):
    data = b""
    for suffix in ("", "-wal", "-shm"):
        f = path.with_name(path.name + suffix)
        if f.exists():
            data += f.read_bytes()
    return data


def test_conference_store_purge_leaves_only_counts_and_no_personal_bytes(store, meeting, clock):
    c, p = meeting
    arrive(store, c, p["sw"], -5, "in_person")
    arrive(store, c, p["mum"], -5, "in_person")
    arrive(store, c, p["hv"], 3)
    arrive(store, c, p["po"], -1)
    store.append_event(c.id, "camera_off", invitee_id=p["po"].id, at=at(10), details={"note": "Unicornfrost"})
    store.append_event(c.id, "left", invitee_id=p["hv"].id, at=at(20),
                       details={"agreed": False, "note": "Dragonwhisper"})
    store.update_invitee(p["sw"].id, email="samira@council.example")   # an old row version, too
    store.end_conference(c.id, at(60))
    assert all(word in _raw_bytes(store.path) for word in PERSONAL[:4])

    summary = store.purge(c.id)
    assert summary["counts"]["attended_in_person"] == 2 and summary["counts"]["attended_virtual"] == 2
    assert summary["counts"]["late"] == 1 and summary["counts"]["left_early"] == 1
    assert summary["invited_by_agency"] == {"childrens_social_care": 1, "health": 1, "police": 1, "parent_carer": 1}
    assert summary["quorate_at_start"] is False and summary["type"] == "initial"
    with pytest.raises(NotFound):
        store.get_conference(c.id)
    purged_at = clock.now.isoformat(timespec="microseconds")
    assert store.summaries() == [dict(summary, conference_id=c.id, purged_at=purged_at)]
    raw = _raw_bytes(store.path)
    for word in PERSONAL:
        assert word not in raw, word
    store.close()
    raw = _raw_bytes(store.path)
    for word in PERSONAL:
        assert word not in raw, word


def test_conference_store_purge_due_honours_the_retention_period(store, clock):
    old = store.create_conference("initial", "2026-09-01", "10:00", "CP-1")
    store.add_invitee(old.id, "Oldname Person", "gp", direct_contact=True)
    store.end_conference(old.id, datetime(2026, 9, 1, 11, tzinfo=timezone.utc))
    forgotten = store.create_conference("initial", "2026-09-02", "10:00", "CP-2")   # never ended
    recent = store.create_conference("initial", "2026-11-20", "10:00", "CP-3")
    store.end_conference(recent.id, datetime(2026, 11, 20, 11, tzinfo=timezone.utc))
    purged = store.purge_due(datetime(2026, 10, 2, 12, tzinfo=timezone.utc), retention_days=30)
    assert purged == [old.id, forgotten.id]
    assert [c.id for c in store.list_conferences()] == [recent.id]
    assert store.purge_due(datetime(2026, 10, 2, 12, tzinfo=timezone.utc)) == []   # default 30 days
    assert b"Oldname" not in _raw_bytes(store.path)
    with pytest.raises(InvalidInput):
        store.purge_due(retention_days=-1)


def test_conference_store_csv_errors_never_quote_names(store):
    c = store.create_conference("initial", "2026-11-23", "10:00", "CP-1")
    for text in ("Annabel Example,gp,health,yes\n", "name,role\nAnnabel Example,Bartholomew Example\n"):
        with pytest.raises(CsvImportError) as info:
            store.import_invitees_csv(c.id, text)
        assert "Annabel" not in str(info.value) and "Bartholomew" not in str(info.value)


def test_conference_store_clock_step_back_never_dates_an_event_before_the_last(store, meeting, clock):
    """After the wall clock steps back an hour, a new event takes the record's latest time (noted in the record),
    and someone who arrived in that hour can still leave and lose their connection."""
    c, p = meeting
    arrived = store.append_event(c.id, "arrived", invitee_id=p["hv"].id, details={"mode": "virtual"})
    clock.now -= timedelta(hours=1)
    lost = store.append_event(c.id, "lost_connection", invitee_id=p["hv"].id)
    assert lost.at == arrived.at and lost.recorded_at == arrived.recorded_at
    assert lost.details["clock_behind_s"] == 3600.0
    rejoined = store.append_event(c.id, "rejoined", invitee_id=p["hv"].id)
    left = store.append_event(c.id, "left", invitee_id=p["hv"].id, details={"agreed": True})
    assert [e.id for e in store.events(c.id)] == [arrived.id, lost.id, rejoined.id, left.id]  # sequence order
    assert all(a.at <= b.at for a, b in zip(store.events(c.id), store.events(c.id)[1:]))
    clock.now += timedelta(hours=2)  # the clock is right again: events take its time, with no note
    later = store.append_event(c.id, "arrived", invitee_id=p["mum"].id, details={"mode": "in_person"})
    assert later.at == clock.now and "clock_behind_s" not in later.details


# -- the end and the reopening, revisions, expect_state, D5 ------------------------------------------------------

def test_conference_store_end_refuses_new_events_until_reopened(store, meeting, clock):
    c, p = meeting
    arrived = arrive(store, c, p["sw"], 0, "in_person")
    store.end_conference(c.id)
    from kiosk.conference.errors import ConferenceClosed
    with pytest.raises(ConferenceClosed, match="has ended"):
        store.append_event(c.id, "arrived", invitee_id=p["po"].id, details={"mode": "virtual"})
    with pytest.raises(ConferenceClosed):
        store.add_invitee(c.id, "New Person", "parent")
    with pytest.raises(ConferenceClosed):
        store.remove_invitee(p["mum"].id)
    store.record_report_received(c.id, p["po"].id, "2026-11-23")
    store.correct_event(c.id, arrived.id, "wrong person")
    reopened = store.reopen_conference(c.id, "ended by mistake")
    assert reopened.status is Status.SCHEDULED and reopened.ended_at is None
    arrive(store, c, p["po"], 1)
    kinds = [e.kind for e in store.events(c.id)]
    assert EventKind.ENDED in kinds and EventKind.REOPENED in kinds
    reopening = next(e for e in store.events(c.id) if e.kind is EventKind.REOPENED)
    assert reopening.details == {"reason": "ended by mistake"}
    with pytest.raises(NotAllowed, match="has not ended"):
        store.reopen_conference(c.id)


def test_conference_store_revision_grows_with_every_change_and_survives_reopening(store, meeting, tmp_path, clock):
    c, p = meeting
    seen = [store.revision(c.id)]
    store.update_conference(c.id, start_time="10:05"); seen.append(store.revision(c.id))
    store.update_invitee(p["mum"].id, email="m@example.org"); seen.append(store.revision(c.id))
    arrive(store, c, p["sw"], 0, "in_person"); seen.append(store.revision(c.id))
    store.end_conference(c.id); seen.append(store.revision(c.id))
    assert all(b > a for a, b in zip(seen, seen[1:]))
    with ConferenceStore(store.path, now=clock) as again:
        assert again.revision(c.id) == seen[-1]


def test_conference_store_expect_state_refuses_a_stale_tap(store, meeting):
    from kiosk.conference.errors import StaleState
    c, p = meeting
    arrive(store, c, p["po"], 0)
    with pytest.raises(StaleState) as caught:
        store.append_event(c.id, "apologies", invitee_id=p["po"].id, expect_state="absent")
    assert caught.value.current == "present"
    store.append_event(c.id, "left", invitee_id=p["po"].id, details={"agreed": True}, expect_state="present")
    assert [e.kind for e in store.events(c.id)] == [EventKind.ARRIVED, EventKind.LEFT]


def test_conference_store_d5_late_new_date_needs_a_reason(store):
    c = store.create_conference("initial", "2026-11-23", "10:00", "CP-1")
    with pytest.raises(InvalidInput, match="later than 2026-12-07.*late_reason"):
        store.append_event(c.id, "adjourned", details={"reason": "no police", "new_date": "2026-12-08"})
    store.append_event(c.id, "adjourned", details={"reason": "no police", "new_date": "2026-12-08",
                                                   "late_reason": "the family asked for a later date"})
    review = store.create_conference("review", "2026-11-23", "14:00", "CP-2")
    store.append_event(review.id, "adjourned", details={"reason": "x", "new_date": "2027-02-01"})  # no D5 limit


# -- the fold: folding one event at a time gives what folding the whole log gives ----------------------------

_TAPS = ["arrived", "left", "lost_connection", "rejoined", "could_not_rejoin", "camera_off", "camera_on",
         "apologies", "report_received", "undo"]


@hsettings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_TAPS), st.integers(0, 3), st.integers(0, 2)), max_size=30))
def test_conference_store_fold_by_event_is_the_fold_of_the_whole_log(tmp_path_factory, taps):
    from kiosk.conference import presence, quorum, record as record_mod
    from kiosk.conference.fold import Fold

    clock = Clock(START)
    with ConferenceStore(tmp_path_factory.mktemp("fold") / DB_FILENAME, now=clock) as s:
        c = s.create_conference("initial", "2026-11-23", "10:00", "CP-1")
        people = [s.add_invitee(c.id, "A", "social worker"), s.add_invitee(c.id, "B", "police officer",
                                                                          direct_contact=True),
                  s.add_invitee(c.id, "C", "gp", direct_contact=True), s.add_invitee(c.id, "D", "school",
                                                                                    direct_contact=True)]
        for kind, who, step in taps:
            clock.now += timedelta(seconds=step * 30)  # some at the same instant
            details = {"arrived": {"mode": "virtual" if who else "in_person"}, "left": {"agreed": True},
                       "could_not_rejoin": {"emailed_chair": False},
                       "report_received": {"received_on": "2026-11-20"}}.get(kind, {})
            try:
                if kind == "undo":
                    standing = [e for e in s.events(c.id) if e.kind is not EventKind.CORRECTION]
                    if standing:
                        s.correct_event(c.id, standing[-1].id, "undo")
                else:
                    s.append_event(c.id, kind, invitee_id=people[who].id, details=details)
            except InvalidInput:
                continue
            conference, invitees, events, fold = s.folded(c.id)
            whole = Fold.build(invitees, events, s.settings)
            assert fold.people == whole.people and fold.standing == whole.standing
            assert [(t, v.quorate, v.reason) for t, v in fold.changes] == \
                [(t, v.quorate, v.reason) for t, v in whole.changes]
            assert record_mod.build_record(conference, invitees, events, fold=fold) == \
                record_mod.build_record(conference, invitees, events)
            # ... and what replaying the log the old way gives.
            assert fold.people == presence.replay(events)
            replayed = quorum.timeline(invitees, events, s.settings, start=c.starts_at("Europe/London"))
            folded = quorum.timeline_from(fold.changes, fold.decisions, start=c.starts_at("Europe/London"), end=None,
                                          at_start=quorum.view_at(fold.changes, fold.by_id,
                                                                  c.starts_at("Europe/London"), s.settings))
            assert folded.changes == replayed.changes and folded.inquorate_periods == replayed.inquorate_periods
            assert folded.quorate_at_start == replayed.quorate_at_start


def test_conference_store_never_gives_a_purged_conferences_id_again(store):
    """Purging the newest conference and creating another must not reuse its id (nor break the next purge)."""
    first = store.create_conference("initial", "2026-11-24", "10:00", "CP-2026-0001")
    store.purge(first.id)
    second = store.create_conference("initial", "2026-11-25", "10:00", "CP-2026-0002")
    assert second.id > first.id
    store.purge(second.id)
    assert [s["conference_id"] for s in store.summaries()] == [first.id, second.id]


# -- answers kept for retried requests (Idempotency-Key) --------------------------------------------------------

def _keys(store) -> list[tuple]:
    with closing(sqlite3.connect(store.path)) as other:  # what a fresh reader of the file sees
        return other.execute("SELECT key, conference_id, status FROM idempotency ORDER BY key").fetchall()


def test_conference_store_a_carried_key_is_saved_pending_with_the_first_change_only(store, meeting):
    c, p = meeting
    key = retry_key.RetryKey("session-1", "tap-1", "POST /api/conferences/1/events 0a", c.id)
    token = retry_key.carry(key)
    try:
        with pytest.raises(InvalidInput):
            store.append_event(c.id, "left", invitee_id=p["po"].id, at=at(5), details={"agreed": True})
        store._conn.execute("PRAGMA query_only = ON")
        try:
            with pytest.raises(StorageError):
                arrive(store, c, p["po"], 5)
        finally:
            store._conn.execute("PRAGMA query_only = OFF")
        assert _keys(store) == [] and retry_key.unsaved() is key  # nothing saved, so the key is not either
        store.keep_answer("other", "k", None, "POST /x 00", 400, "{}")  # not a change: saves no key
        assert _keys(store) == [("k", None, 400)]
        arrive(store, c, p["po"], 5)
        assert _keys(store) == [("k", None, 400), ("tap-1", c.id, None)] and retry_key.unsaved() is None
        arrive(store, c, p["hv"], 6)  # a second change of the same request: the key is saved once
        assert store.recall_answer("session-1", "tap-1", at(0)) == (key.request, None, None, {})
        store.keep_answer("session-1", "tap-1", c.id, key.request, 201, '{"ok": 1}', {"Location": "/y"})
        store.keep_answer("session-1", "tap-1", c.id, key.request, 200, "later")  # the first answer stays
    finally:
        retry_key.release(token)
    assert store.recall_answer("session-1", "tap-1", at(0)) == (key.request, 201, '{"ok": 1}', {"Location": "/y"})
    arrive(store, c, p["sw"], 7)  # the request has ended: its key is no longer saved with changes
    assert len(_keys(store)) == 2
    store.purge(c.id)
    assert _keys(store) == [("k", None, 400)]  # the conference's answers go with it


def test_conference_store_no_answer_of_a_purged_conference_is_kept(store, meeting):
    c, p = meeting
    tap = retry_key.RetryKey("tablet-1", "tap-1", "POST /api/conferences/1/events 0a", c.id)
    token = retry_key.carry(tap)
    try:
        arrive(store, c, p["po"], 5)  # saved with its key, pending
    finally:
        retry_key.release(token)
    purge = retry_key.RetryKey("tablet-2", "purge-1", "DELETE /api/conferences/1 00", c.id)
    token = retry_key.carry(purge)
    try:
        store.purge(c.id)  # from the other tablet, while the tap's answer (with names) is on its way
    finally:
        retry_key.release(token)
    store.keep_answer("tablet-1", "tap-1", c.id, tap.request, 201, '{"name": "Jayden Smith"}')
    store.keep_answer("tablet-1", "tap-2", c.id, "POST /api/conferences/1/events 0b", 409, '{"view": "Smith"}')
    store.keep_answer("tablet-2", "purge-1", c.id, purge.request, 200, '{"purged": 1}')
    # The purge's own answer is kept (it names nobody); nothing of the conference's people is.
    assert _keys(store) == [("purge-1", c.id, 200)]
    assert store.recall_answer("tablet-1", "tap-1", at(0)) is None


def test_conference_store_a_key_is_saved_with_a_change_of_another_thread_never(store, meeting):
    c, p = meeting
    token = retry_key.carry(retry_key.RetryKey("session-1", "tap-1", "POST /x 00", c.id))
    try:
        other = threading.Thread(target=arrive, args=(store, c, p["po"], 5))  # e.g. the room's start button
        other.start()
        other.join(10)
        assert len(store.events(c.id)) == 1 and _keys(store) == []
        assert retry_key.unsaved() is not None
    finally:
        retry_key.release(token)
