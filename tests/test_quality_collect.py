"""Across the council's rooms: two kiosks (two configs, two room ids) publish their monthly quality figures
to one real mosquitto; ``kiosk quality`` combines them into one report (table, CSV, HTML) with the
"fewer than 5" rule applied to the combined counts. Nothing per conference, and no name or case
reference, ever reaches the broker; the figures are re-asserted when the broker comes back empty."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

import quality_script as qs
from kiosk import pins
from kiosk.controller import RoomController
from kiosk.factory import build_hardware
from kiosk.mqtt.link import MqttLink
from kiosk.quality import collect
from mqtt_broker import Subscriber
from waiting import wait_for
from web import fast_config

ROOT = Path(__file__).resolve().parent.parent


class Kiosk:
    """One room: a controller (not started), the chair's service and quality facts, the app, the MQTT link."""

    def __init__(self, tmp_path: Path, broker, room_id: str, name: str, **mqtt):
        cfg = (fast_config().replace("room", id=room_id, name=name)
               .replace("mqtt", host=broker.host, port=broker.port, reconnect_min_s=0.1, reconnect_max_s=1.0,
                        discovery=False, **mqtt))
        self.factory = pins.mock_factory()
        self.hardware = build_hardware(cfg, simulate=True)
        self.controller = RoomController(cfg, self.hardware, pin_factory=self.factory, with_button=False)
        self.env = qs.make_quality_chair(tmp_path / room_id, self.controller)
        self.quality = self.env.extra["quality"]
        self.link = MqttLink(cfg, self.controller, quality=self.quality)
        assert self.link.start()
        assert wait_for(lambda: self.link.connected, timeout=5)

    def close(self) -> None:
        self.link.stop()
        self.quality.stop()
        self.env.service.stop()
        self.hardware.close()
        self.factory.reset()
        self.factory.close()


@pytest.fixture
def two_rooms(tmp_path, broker):
    rooms = []
    try:
        for room_id, name in (("suite-1", "Hybrid Suite 1"), ("suite-2", "Hybrid Suite 2")):
            room = Kiosk(tmp_path, broker, room_id, name)
            rooms.append(room)
            qs.publish_checks(room.controller.bus)
            room.env.extra["ids"] = qs.run(room.env)
        yield rooms
    finally:
        for room in rooms:
            room.close()


def _retained(broker, topic_filter="#", settle=0.5):
    """Every retained message on the broker under ``topic_filter``: {topic: payload}."""
    sub = Subscriber(broker, topic_filter)
    try:
        wait_for(lambda: False, timeout=settle)  # retained messages arrive at once after the subscription
        return {t: p for t, p, retain, _ in sub.messages if retain}
    finally:
        sub.close()


def _kiosk(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kiosk", "quality", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)


def test_quality_collect_each_room_publishes_its_month_retained(two_rooms, broker):
    topic = "kiosk/suite-1/quality/2026-11"
    assert wait_for(lambda: topic in _retained(broker, "kiosk/+/quality/+", settle=0.2), timeout=5)
    retained = _retained(broker, "kiosk/+/quality/+")
    assert set(retained) == {"kiosk/suite-1/quality/2026-11", "kiosk/suite-2/quality/2026-11"}
    body = json.loads(retained[topic])
    assert body["room"] == "suite-1" and body["month"] == "2026-11" and body["schema"] == 1
    fig = body["figures"]
    assert (fig["conferences"], fig["started_on_time"], fig["quorate_throughout"]) == (2, 1, 1)
    assert fig["agencies"]["police"]["late"] == 3  # the sums; the rule applies where people read them
    assert set(body) == {"schema", "room", "room_name", "month", "updated_at", "figures"}


def test_quality_collect_combines_two_rooms_in_table_csv_and_html(two_rooms, broker, tmp_path):
    assert wait_for(lambda: len(_retained(broker, "kiosk/+/quality/+", settle=0.2)) == 2, timeout=5)
    where = f"{broker.host}:{broker.port}"
    table = _kiosk("--broker", where, "--month", "2026-11")
    assert table.returncode == 0, table.stderr
    assert "Hybrid Suite 1 (suite-1), Hybrid Suite 2 (suite-2)" in table.stdout
    lines = {line.split("  ")[0]: line for line in table.stdout.splitlines()}
    assert "2 of 4 (50%)" in lines["Started on time"]
    assert "2 of 4 (50%)" in lines["Quorate throughout"]
    assert "4 of 4 (100%)" in lines["Room ready at the booked start"]
    assert "40 min inquorate in all" in lines["Quorum lost part-way"]

    as_csv = _kiosk("--broker", where, "--month", "2026-11", "--csv", "--html", str(tmp_path / "report.html"))
    assert as_csv.returncode == 0, as_csv.stderr
    rows = list(csv.reader(io.StringIO(as_csv.stdout)))
    header = next(r for r in rows if r and r[0] == "Agency")
    by_label = {r[0]: dict(zip(header, r)) for r in rows if r and r[0] in ("Police", "Health")}
    from kiosk.quality.figures import AGENCY_COLUMNS

    heading = {key: title for key, title, *_ in AGENCY_COLUMNS}
    for agency, expected in (("Police", qs.POLICE_TWO_ROOMS), ("Health", qs.HEALTH_TWO_ROOMS)):
        assert {k: by_label[agency][heading[k]] for k in expected} == expected, agency
    html = (tmp_path / "report.html").read_text()
    assert "<script" not in html and "Quality report: November 2026" in html
    assert '<td class="num" data-col="late">6 (50%)</td>' in html


def test_quality_collect_exit_codes(two_rooms, broker, closed_port):
    where = f"{broker.host}:{broker.port}"
    empty = _kiosk("--broker", where, "--month", "2025-01")
    assert empty.returncode == 1 and "no room" in empty.stderr
    assert "0" in empty.stdout  # the report is still printed, with zeros
    bad = _kiosk("--broker", where, "--month", "2026-13")
    assert bad.returncode == 2 and "month must be YYYY-MM" in bad.stderr
    away = _kiosk("--broker", f"127.0.0.1:{closed_port}", "--month", "2026-11")
    assert away.returncode == 3 and "not reachable" in away.stderr


def test_quality_collect_malformed_figures_are_named_and_skipped(two_rooms, broker):
    import paho.mqtt.publish as publish

    publish.single("kiosk/suite-9/quality/2026-11", json.dumps({"month": "2026-11", "figures": {"conferences": -1}}),
                   hostname=broker.host, port=broker.port, retain=True)
    out, err = io.StringIO(), io.StringIO()
    code = collect.run(f"{broker.host}:{broker.port}", month="2026-11", out=out, err=err)
    assert code == 0
    assert "ignored the figures of room suite-9 for 2026-11" in err.getvalue()
    assert "suite-9" not in out.getvalue().split("\n")[1]


def test_quality_collect_no_name_or_case_reference_on_the_broker(two_rooms, broker):
    sub = Subscriber(broker, "#")  # everything the kiosks publish, retained or live, from here on
    try:
        assert sub.wait_for(lambda t, p: t.endswith("/quality/2026-11")) is not None
        for room in two_rooms:  # after the purge the figures stay, and still carry none
            for cid in room.env.extra["ids"]:
                assert room.env.api("POST", f"/api/conferences/{cid}/purge", {"confirm": True}).status_code == 200
            room.controller.bus.publish(qs.ConferenceEnded(room.env.extra["ids"][0]))  # a late re-publish
        assert sub.wait_for(lambda t, p: t.endswith("/event") or t.endswith("/state"), timeout=2) is not None
        blob = b"".join(t.encode() + p for t, p, *_ in sub.messages)
    finally:
        sub.close()
    assert b"/quality/2026-11" in blob
    for secret in (*qs.NAMES, *qs.CASE_REFS, "Police and social care"):
        assert secret.encode() not in blob, secret
    assert b"CP-" not in blob
    retained = _retained(broker, "kiosk/+/quality/+")
    assert json.loads(retained["kiosk/suite-2/quality/2026-11"])["figures"]["conferences"] == 2


def _police(payload: bytes) -> dict:
    return json.loads(payload)["figures"]["agencies"]["police"]


def _retained_police(broker, room: str) -> dict | None:
    topic = f"kiosk/{room}/quality/2026-11"
    retained = _retained(broker, topic, settle=0.2)
    return _police(retained[topic]) if topic in retained else None


def _amended_after_the_end(two_rooms, broker, change, topic_predicate) -> bytes:
    """Make ``change`` to suite-1's record after the end and wait for its month's message that satisfies
    ``topic_predicate(payload)``; returns everything the broker carried meanwhile (live and retained)."""
    assert wait_for(lambda: _retained_police(broker, "suite-1") is not None, timeout=5)
    sub = Subscriber(broker, "#")
    try:
        start = len(sub.messages)  # the retained messages sent on subscribing come first
        change(two_rooms[0].env)
        topic = "kiosk/suite-1/quality/2026-11"
        assert sub.wait_for(lambda t, p: t == topic and topic_predicate(p), start=start) is not None
        return b"".join(t.encode() + p for t, p, *_ in sub.messages)
    finally:
        sub.close()


def _assert_nothing_personal(blob: bytes) -> None:
    for secret in (*qs.NAMES, *qs.CASE_REFS, "Police and social care", "wrong conference"):
        assert secret.encode() not in blob, secret
    assert b"CP-" not in blob


def test_quality_collect_a_report_received_after_the_end_republishes_the_month(two_rooms, broker):
    assert wait_for(lambda: (_retained_police(broker, "suite-1") or {}).get("reports_missing") == 1, timeout=5)

    def pete_reports(env):  # Pete's report for A, missing when A ended, arrives the next day
        a, _b = env.extra["ids"]
        pete = next(p["id"] for p in env.service.view(a)["people"] if p["name"] == "Pete Police")
        qs.later(env, days=1)
        assert env.event(a, "report_received", pete, received_on="2026-11-24").status_code == 201

    blob = _amended_after_the_end(two_rooms, broker, pete_reports, lambda p: _police(p)["reports_missing"] == 0)
    police = _retained_police(broker, "suite-1")
    assert (police["reports_on_time"], police["reports_late"], police["reports_missing"]) == (3, 3, 0)
    assert _retained_police(broker, "suite-2")["reports_missing"] == 1  # the other room's record is unchanged
    _assert_nothing_personal(blob)


def test_quality_collect_a_correction_after_the_end_republishes_the_month(two_rooms, broker):
    def void_the_decision(env):  # A's decision to proceed inquorate was recorded in error
        a, _b = env.extra["ids"]
        decision = next(e for e in env.service.store.events(a) if e.kind.value == "proceed_inquorate")
        response = env.api("POST", f"/api/conferences/{a}/events/{decision.id}/correction",
                           {"reason": "Recorded against the wrong conference"})
        assert response.status_code == 201

    blob = _amended_after_the_end(two_rooms, broker, void_the_decision,
                                  lambda p: json.loads(p)["figures"]["proceeded_inquorate"] == 0)
    retained = _retained(broker, "kiosk/+/quality/+")
    body = json.loads(retained["kiosk/suite-1/quality/2026-11"])
    assert (body["figures"]["conferences"], body["figures"]["proceeded_inquorate"]) == (2, 0)
    assert set(body) == {"schema", "room", "room_name", "month", "updated_at", "figures"}
    assert json.loads(retained["kiosk/suite-2/quality/2026-11"])["figures"]["proceeded_inquorate"] == 1
    _assert_nothing_personal(blob)


def test_quality_collect_figures_reasserted_when_the_broker_comes_back_empty(two_rooms, broker):
    room = two_rooms[0]
    topic = "kiosk/suite-1/quality/2026-11"
    assert wait_for(lambda: topic in _retained(broker, "kiosk/+/quality/+", settle=0.2), timeout=5)
    broker.stop()
    assert wait_for(lambda: not room.link.connected, timeout=5)
    broker.start()  # no persistence: every retained message is gone
    assert wait_for(lambda: room.link.connected, timeout=5)
    assert wait_for(lambda: topic in _retained(broker, "kiosk/+/quality/+", settle=0.2), timeout=5)
    assert json.loads(_retained(broker, topic)[topic])["figures"]["conferences"] == 2


def test_quality_collect_the_example_acl_lets_a_kiosk_publish_its_figures(tmp_path):
    """firmware_config/mosquitto/acl: a kiosk's login may write its own quality topics (mosquitto would
    otherwise drop its connection on every publish), and IT's login reads them."""
    from mqtt_broker import Broker

    acl = (ROOT / "firmware_config" / "mosquitto" / "acl").read_text()
    users = {"suite-1": "pw-suite-1", "it-monitor": "pw-it"}
    with Broker(tmp_path / "acl-broker", users=users, acl=acl) as b:
        room = Kiosk(tmp_path, b, "suite-1", "Hybrid Suite 1", username="suite-1", password="pw-suite-1")
        try:
            it = Subscriber(b, "kiosk/+/quality/+", username="it-monitor", password="pw-it")
            try:
                qs.publish_checks(room.controller.bus)
                qs.run(room.env)
                assert it.wait_for(lambda t, p: t == "kiosk/suite-1/quality/2026-11") is not None
            finally:
                it.close()
            assert room.link.connected and room.link.connections == 1  # never dropped for a denied topic
        finally:
            room.close()


@pytest.mark.parametrize("command", ["quality", "fleet"])
def test_quality_collect_unreadable_password_file_is_a_usage_error(tmp_path, capsys, command):
    from kiosk import cli

    missing = tmp_path / "no-such-password"
    assert cli.main([command, "--broker", "127.0.0.1:1", "--password-file", str(missing)]) == 2
    assert f"kiosk {command}: cannot read {missing}: No such file or directory" in capsys.readouterr().err


def test_quality_collect_password_file_logs_in(tmp_path, monkeypatch, capsys):
    from kiosk import cli
    from mqtt_broker import Broker

    secured = Broker(tmp_path / "broker", users={"manager": "from-the-file"}).start()
    try:
        where = f"{secured.host}:{secured.port}"
        monkeypatch.setenv("KIOSK_MQTT_PASSWORD", "wrong")
        (tmp_path / "password").write_text("from-the-file\nignored\n")
        args = ["quality", "--broker", where, "--username", "manager", "--month", "2025-01"]
        assert cli.main(args + ["--password-file", str(tmp_path / "password")]) == 1  # in: no room has figures
        assert "no room" in capsys.readouterr().err
        assert cli.main(args) == 3  # $KIOSK_MQTT_PASSWORD when there is no file: refused
    finally:
        secured.stop()
