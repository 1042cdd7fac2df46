"""The quality report page and CSV (/chair/quality): scripted conferences recorded through the chair's API
give exactly the figures worked out by hand (tests/quality_script.py); the period is chosen by the
query; bad input is a clear 400; the page needs the chair's PIN; after purging, the figures remain and
no name or case reference is left in any of the kiosk's files."""

from __future__ import annotations

import csv
import io
import re
from html.parser import HTMLParser

import pytest

import quality_script as qs


@pytest.fixture
def env(tmp_path, cold_room):
    """A signed-in chair with a QualityService, the room's checks published, conferences A and B recorded."""
    env = qs.make_quality_chair(tmp_path, cold_room)
    try:
        qs.publish_checks(cold_room.bus)
        env.extra["ids"] = qs.run(env)
        yield env
    finally:
        env.extra["quality"].stop()
        env.service.stop()


class _Cells(HTMLParser):
    """Text of table cells by row id: {"figure-started_on_time": ["Started on time", "1", "2", "50%", ""]}."""

    def __init__(self):
        super().__init__()
        self.rows: dict[str, list[str]] = {}
        self.cols: dict[str, dict[str, str]] = {}  # row id -> data-col -> text
        self.tags: list[str] = []
        self._col: str | None = None
        self._row: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "tr" and dict(attrs).get("id"):
            self._row = dict(attrs)["id"]
            self.rows[self._row] = []
        elif tag in ("td", "th") and self._row:
            self._cell = []
            self._col = dict(attrs).get("data-col")

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            text = " ".join("".join(self._cell).split())
            self.rows[self._row].append(text)
            if self._col:
                self.cols.setdefault(self._row, {})[self._col] = text
            self._cell = None
        elif tag == "tr":
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _page(env, query: str = "") -> _Cells:
    response = env.client.get("/chair/quality" + query)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.headers["Cache-Control"] == "no-store"
    parser = _Cells()
    parser.feed(response.get_data(as_text=True))
    return parser


def _agency_cells(parser: _Cells, agency: str) -> dict[str, str]:
    """An agency's cells by column key, from its rows in both per-agency tables."""
    return {**parser.cols[f"agency-{agency}"], **parser.cols[f"agency-{agency}-more"]}


def test_quality_web_page_shows_exactly_the_scripted_figures(env):
    page = _page(env)  # the current month by default: November 2026 on the kiosk's clock
    for key, (count, of) in qs.HEADLINE.items():
        row = page.rows[f"figure-{key}"]
        assert row[1] == str(count), key
        assert row[2] == ("" if of is None else str(of)), key
        if of:
            assert row[3] == f"{round(100 * count / of)}%", key
    assert page.rows["figure-quorum_lost"][4] == "20 min inquorate in all"
    assert page.rows["figure-technical_problems"][4] == "failed in the hour before: camera 1"
    assert page.rows["figure-conferences"][4] == "1 initial, 1 review; 2 hybrid; average 66 min"
    police = _agency_cells(page, "police")
    assert police == qs.POLICE_ONE_ROOM
    health = _agency_cells(page, "health")
    assert {k: health[k] for k in qs.HEALTH_ONE_ROOM} == qs.HEALTH_ONE_ROOM
    education = _agency_cells(page, "education")
    assert {k: education[k] for k in qs.EDUCATION_ONE_ROOM} == qs.EDUCATION_ONE_ROOM
    assert "agency-parent_carer" not in page.rows  # parents are not an agency in this report


def test_quality_web_csv_has_the_same_figures_and_the_rule_in_the_cells(env):
    response = env.client.get("/chair/quality.csv?month=2026-11")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert 'filename="quality-2026-11-01-to-2026-11-30.csv"' in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    by_label = {r[0]: r for r in rows if r}
    assert by_label["Started on time"][1:4] == ["1", "2", "50"]
    assert by_label["Quorate throughout"][1:4] == ["1", "2", "50"]
    assert by_label["Proceeded while inquorate (chair's decision)"][1:4] == ["1", "2", "50"]
    assert by_label["Room ready at the booked start"][1:4] == ["2", "2", "100"]
    header = next(r for r in rows if r and r[0] == "Agency")
    police = dict(zip(header, by_label["Police"]))
    assert police["Invited"] == "6" and police["Attended"] == "6 (100%)"
    assert police["Late"] == "fewer than 5" and police["Reports missing"] == "fewer than 5"
    assert by_label["2026-11"][1:] == ["50", "50", "50", "50", "100"]


@pytest.mark.parametrize("query, first, last", [
    ("?month=2026-10", "2026-10-01", "2026-10-31"),
    ("?quarter=2026-Q4", "2026-10-01", "2026-12-31"),
    ("?from=2026-11-23&to=2026-11-23", "2026-11-23", "2026-11-23"),
])
def test_quality_web_period_is_chosen_by_the_query(env, query, first, last):
    html = env.client.get("/chair/quality" + query).get_data(as_text=True)
    assert f"{first} to {last}" in html
    page = _Cells()
    page.feed(html)
    expected = "0" if query == "?month=2026-10" else "2"
    assert page.rows["figure-conferences"][1] == expected


@pytest.mark.parametrize("query, message", [
    ("?month=2026-13", "month must be YYYY-MM"),
    ("?month=November", "month must be YYYY-MM"),
    ("?quarter=2026-Q5", "quarter must be YYYY-Qn"),
    ("?from=2026-11-01", "from and to must both be dates"),
    ("?from=2026-11-30&to=2026-11-01", "to must not be before from"),
    ("?from=2000-01-01&to=2020-01-01", "at most 10 years"),
    ("?from=0001-01-01&to=0001-02-01", "2000 or later"),
    ("?month=\uff12\uff10\uff12\uff16-11", "month must be YYYY-MM"),
])
def test_quality_web_bad_period_is_a_400_naming_the_problem(env, query, message):
    for path in ("/chair/quality", "/chair/quality.csv"):
        response = env.client.get(path + query)
        assert response.status_code == 400
        assert message in response.get_data(as_text=True)


def test_quality_web_needs_the_chairs_pin(env):
    anonymous = env.app.test_client()
    for path in ("/chair/quality", "/chair/quality.csv"):
        response = anonymous.get(path)
        assert response.status_code == 302 and "/chair/login" in response.headers["Location"]


def test_quality_web_page_loads_no_script_and_draws_its_charts_inline(env):
    response = env.client.get("/chair/quality")
    html = response.get_data(as_text=True)
    parser = _Cells()
    parser.feed(html)
    assert "script" not in parser.tags and "<script" not in html
    assert " style=" not in html  # the CSP allows no inline style
    assert html.count("<svg") == 5 + 6  # the 5 trend charts and the 6 per-agency charts
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]


def test_quality_web_page_style_is_the_one_in_the_report_file(env):
    # One style sheet (kiosk/quality/static) for the page and for the file of `kiosk quality --html`.
    from kiosk.quality.html import STATIC

    html = env.client.get("/chair/quality").get_data(as_text=True)
    href = re.search(r'<link rel="stylesheet" href="([^"]+)"', html).group(1)
    response = env.client.get(href)
    assert response.status_code == 200 and response.mimetype == "text/css"
    assert response.get_data(as_text=True) == (STATIC / "quality.css").read_text(encoding="utf-8")
    response.close()


def test_quality_web_without_a_quality_service_is_a_503(tmp_path, cold_room):
    from chair_web import make_chair

    env = make_chair(tmp_path, cold_room)
    try:
        env.login()
        response = env.client.get("/chair/quality")
        assert response.status_code == 503
    finally:
        env.service.stop()


def _files_text(directory) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file())


def test_quality_web_figures_survive_the_purge_and_no_name_is_left_on_disk(env):
    before = _page(env).rows
    a, b = env.extra["ids"]
    blob = _files_text(env.state_dir)
    assert b"Pat Police" in blob and qs.CASE_REFS[0].encode() in blob  # the record holds them until the purge
    for cid in (a, b):
        response = env.api("POST", f"/api/conferences/{cid}/purge", {"confirm": True})
        assert response.status_code == 200
    assert _page(env).rows == before
    blob = _files_text(env.state_dir)
    for secret in (*qs.NAMES, *qs.CASE_REFS, "Police and social care have the information"):
        for form in (secret.encode(), secret.encode("utf-16-le")):
            assert form not in blob, secret
    names = sorted(p.name for p in env.state_dir.iterdir())
    assert "quality.sqlite3" in names and "conferences.sqlite3" in names


def test_quality_web_a_conference_ended_again_replaces_its_facts(env):
    quality = env.extra["quality"]
    a, _b = env.extra["ids"]
    assert quality.store.count() == 2
    # A report arrives after the end (the facts follow at once); ending again (as after a reopen) takes them
    # again, replacing A's rather than adding a conference.
    pete = next(p["id"] for p in env.service.view(a)["people"] if p["name"] == "Pete Police")
    assert env.event(a, "report_received", pete, received_on="2026-11-24").status_code == 201
    from kiosk.events import ConferenceEnded

    env.controller.bus.publish(ConferenceEnded(a))
    assert quality.store.count() == 2
    page = _page(env)
    assert _agency_cells(page, "police")["reports_late"] == "fewer than 5"
    facts = {f["date"] + f["booked_start"]: f for f in quality.store.facts_between(*(qs.at("00:00").date(),) * 2)}
    police_a = facts["2026-11-2310:00"]["agencies"]["police"]
    assert (police_a["reports_late"], police_a["reports_missing"]) == (2, 0)


def _csv_row(env, label: str) -> dict[str, str]:
    rows = list(csv.reader(io.StringIO(env.client.get("/chair/quality.csv?month=2026-11").get_data(as_text=True))))
    header = next(r for r in rows if r and r[0] == "Agency")
    return next(dict(zip(header, r)) for r in rows if r and r[0] == label)


def test_quality_web_a_report_received_after_the_end_updates_the_page_and_csv(env):
    a, _b = env.extra["ids"]
    assert _agency_cells(_page(env), "education")["reports_missing"] == "fewer than 5"  # Ella's, for A
    ella = next(p["id"] for p in env.service.view(a)["people"] if p["name"] == "Ella School")
    qs.later(env, days=1)
    assert env.event(a, "report_received", ella, received_on="2026-11-24").status_code == 201  # no reopen
    education = _agency_cells(_page(env), "education")
    assert (education["reports_missing"], education["reports_late"]) == ("0 (0%)", "fewer than 5")
    assert _csv_row(env, "Education")["Reports missing"] == "0 (0%)"


def test_quality_web_a_correction_after_the_end_updates_the_page(env):
    a, _b = env.extra["ids"]
    assert _page(env).rows["figure-proceeded_inquorate"][1:3] == ["1", "2"]
    decision = next(e for e in env.service.store.events(a) if e.kind.value == "proceed_inquorate")
    response = env.api("POST", f"/api/conferences/{a}/events/{decision.id}/correction",
                       {"reason": "Recorded against the wrong conference"})
    assert response.status_code == 201
    assert _page(env).rows["figure-proceeded_inquorate"][1:3] == ["0", "2"]


def test_quality_web_facts_hold_no_names_or_case_references(env):
    quality = env.extra["quality"]
    text = repr(quality.store.facts_between(qs.at("00:00").date(), qs.at("00:00").date()))
    for secret in (*qs.NAMES, *qs.CASE_REFS, "Police and social care"):
        assert secret not in text
    assert re.search(r"'agencies': \{'childrens_social_care'", text)


def test_quality_web_unreadable_facts_file_is_a_503_not_a_crash(env):
    path = env.extra["quality"].store.path
    for suffix in ("-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    path.write_bytes(b"not a database " * 500)
    response = env.client.get("/chair/quality")
    assert response.status_code == 503
    assert env.client.get("/chair").status_code == 200  # the chair's page carries on


def test_quality_web_any_period_text_is_a_page_or_a_400(env):
    from hypothesis import HealthCheck, given, settings, strategies as st

    text = st.text(max_size=24) | st.from_regex(r"[0-9]{4}-[0-9]{2}(-[0-9]{2})?|[0-9]{4}-Q[0-9]", fullmatch=True)

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.dictionaries(st.sampled_from(["month", "quarter", "from", "to"]), text, max_size=3))
    def check(args):
        for path in ("/chair/quality", "/chair/quality.csv"):
            response = env.client.get(path, query_string=args)
            assert response.status_code in (200, 400), (args, response.status_code)

    check()


def test_quality_web_conferences_ended_before_the_service_started_are_caught_up(tmp_path, cold_room):
    from kiosk.quality.service import QualityService

    env = qs.make_quality_chair(tmp_path, cold_room)
    try:
        env.extra["quality"].stop()  # as a kiosk before this version: conferences end, nothing keeps facts
        qs.run(env)
        path = env.extra["quality"].store.path
        for name in (path.name, path.name + "-wal", path.name + "-shm"):
            path.with_name(name).unlink(missing_ok=True)
        quality = QualityService(env.extra["quality"].cfg, env.service, cold_room.bus).start()
        try:
            assert quality.store.count() == 2
            fig = quality.report(qs.figures_month())["figures"]
            assert (fig["conferences"], fig["started_on_time"], fig["room_known"]) == (2, 1, 0)
            assert quality.catch_up() == []  # once only
        finally:
            quality.stop()
    finally:
        env.service.stop()
