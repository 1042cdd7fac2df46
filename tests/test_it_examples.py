"""IT's example files: Prometheus rules and config (promtool), the Grafana dashboard, the Home Assistant automation.

The docs quote these files; the tests check them with the tools IT will use (promtool from Debian's ``prometheus``
package) and against the metric names and Home Assistant entities the kiosk actually produces.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from kiosk import metrics
from kiosk.config import Config
from kiosk.controller import RoomController
from kiosk.factory import build_hardware
from kiosk.mqtt import discovery

ROOT = Path(__file__).resolve().parent.parent
PROMETHEUS = ROOT / "firmware_config" / "prometheus"
DASHBOARD = ROOT / "firmware_config" / "grafana" / "kiosk-rooms.json"
AUTOMATION = ROOT / "firmware_config" / "homeassistant" / "room-not-ready-automation.yaml"
#: Metrics the rules may name that this kiosk does not export itself.
NOT_OURS = {"up"}
#: Added by the chair's lockout work (a counter); the rule is written against that name.
PIN_LOCKOUTS = "kiosk_pin_lockouts_total"


def promtool(*args, cwd=PROMETHEUS):
    done = subprocess.run(["promtool", *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_it_examples_prometheus_rules_pass_promtool_check():
    assert "SUCCESS: 5 rules found" in promtool("check", "rules", "kiosk-rules.yml")


def test_it_examples_prometheus_rules_pass_their_unit_tests():
    assert "SUCCESS" in promtool("test", "rules", "kiosk-rules.test.yml")


def test_it_examples_prometheus_config_is_valid():
    promtool("check", "config", "prometheus.yml")


def test_it_examples_every_alert_is_tested():
    rules = yaml.safe_load((PROMETHEUS / "kiosk-rules.yml").read_text())
    tests = yaml.safe_load((PROMETHEUS / "kiosk-rules.test.yml").read_text())
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"]}
    tested = {t["alertname"] for case in tests["tests"] for t in case["alert_rule_test"] if t.get("exp_alerts")}
    assert alerts == tested == {"KioskRoomNotReadyBeforeConference", "KioskCheckFailing", "KioskDown",
                                "KioskCalendarStale", "KioskPinLockout"}


def exported_names() -> set[str]:
    from prometheus_client.parser import text_string_to_metric_families

    cfg = Config().replace("microphone", capture_s=0.2).replace("camera", frames=2, frame_interval_s=0.0)
    controller = RoomController(cfg, build_hardware(cfg, simulate=True))
    try:
        return {family.name for family in text_string_to_metric_families(metrics.render(controller, True).decode())}
    finally:
        controller.stop()


def names_in(expr: str) -> set[str]:
    return {n for n in re.findall(r"\b([a-z_][a-z0-9_]*)\s*(?:\{|\[|\)|\s|$)", expr)
            if n.startswith("kiosk_") or n == "up"}


def test_it_examples_rules_and_dashboard_name_metrics_the_kiosk_exports():
    exported = exported_names() | NOT_OURS | {PIN_LOCKOUTS}
    rules = yaml.safe_load((PROMETHEUS / "kiosk-rules.yml").read_text())
    named = set()
    for group in rules["groups"]:
        for rule in group["rules"]:
            named |= names_in(rule["expr"])
    for panel in json.loads(DASHBOARD.read_text())["panels"]:
        for t in panel["targets"]:
            named |= names_in(t["expr"])
    assert named and named <= exported, named - exported
    assert not {n for n in named if n in ("kiosk_seconds_to_start", "kiosk_check_metric")}  # deprecated aliases


def test_it_examples_grafana_dashboard_is_provisionable(tmp_path):
    board = json.loads(DASHBOARD.read_text())
    assert board["uid"] and board["title"] and isinstance(board["schemaVersion"], int)
    assert "__inputs" not in board and "id" not in board  # file provisioning takes neither
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    titles = {p["title"] for p in board["panels"]}
    assert {"Ready now", "Readiness history", "Check history"} <= titles
    for panel in board["panels"]:
        assert panel["datasource"]["uid"] == "${datasource}"
        assert set(panel["gridPos"]) == {"x", "y", "w", "h"} and panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
    # Every query is valid PromQL: promtool checks them as recording rules (with $room as a regex).
    exprs = [t["expr"].replace("$room", ".*") for p in board["panels"] for t in p["targets"]]
    rules = {"groups": [{"name": "dashboard", "rules": [{"record": f"dashboard:query{n}", "expr": e}
                                                        for n, e in enumerate(exprs)]}]}
    (tmp_path / "queries.yml").write_text(yaml.safe_dump(rules))
    promtool("check", "rules", "queries.yml", cwd=tmp_path)
    provider = yaml.safe_load((ROOT / "firmware_config" / "grafana" / "provisioning" / "dashboards" / "kiosk.yml")
                              .read_text())
    assert provider["apiVersion"] == 1 and provider["providers"][0]["type"] == "file"


def test_it_examples_home_assistant_automation_shape():
    [automation] = yaml.safe_load(AUTOMATION.read_text())
    assert {"id", "alias", "trigger", "action", "mode"} <= set(automation)
    [trigger] = automation["trigger"]
    assert trigger["platform"] == "template" and trigger["for"] == "00:01:00"
    template = trigger["value_template"]
    # The entity the kiosk's discovery creates (object id "ready", named after [room] name "Hybrid Suite 1").
    cfg = Config().replace("room", name="Hybrid Suite 1")
    object_ids = {topic.split("/")[3] for topic, _ in discovery.entities(cfg, ["camera"])}
    assert "ready" in object_ids
    entity = "binary_sensor." + re.sub(r"[^a-z0-9]+", "_", cfg.room.name.lower()) + "_ready"
    assert set(re.findall(r"binary_sensor\.[a-z0-9_]+", template)) == {entity}
    # Only attributes the Ready sensor has.
    for attribute in re.findall(r"state_attr\('[^']+', '([a-z_]+)'\)", template):
        assert f"'{attribute}'" in discovery.READY_ATTRIBUTES_TEMPLATE
    assert "is_state('" + entity + "', 'off')" in template  # unknown and unavailable never fire it
    assert "900" in template
    [action] = automation["action"]
    assert action["service"].startswith("notify.")


@pytest.mark.parametrize("start_in, state, fires", [
    (600, "off", True), (1200, "off", False), (600, "on", False), (600, "unknown", False), (-60, "off", False),
])
def test_it_examples_home_assistant_template_decides_like_home_assistant(start_in, state, fires):
    """The trigger template rendered with Jinja2 and Home Assistant's functions for these names."""
    from datetime import datetime, timedelta, timezone

    import jinja2

    [automation] = yaml.safe_load(AUTOMATION.read_text())
    now = datetime(2026, 11, 23, 13, 50, tzinfo=timezone.utc)
    start = (now + timedelta(seconds=start_in)).isoformat()
    env = jinja2.Environment()
    rendered = env.from_string(automation["trigger"][0]["value_template"]).render(
        state_attr=lambda entity, name: start if name == "start_at" else None,
        is_state=lambda entity, value: value == state,
        now=lambda: now,
        as_timestamp=lambda value: (datetime.fromisoformat(value) if isinstance(value, str) else value).timestamp())
    assert rendered.strip() == str(fires)
