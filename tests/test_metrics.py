"""Prometheus metrics read from the controller at scrape time."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from kiosk import __version__, metrics
from kiosk.controller import RoomController
from kiosk.factory import build_hardware

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 11, 23, 13, 0, tzinfo=LONDON)


@pytest.fixture
def controller(cfg):
    cfg = cfg.replace("microphone", capture_s=0.2).replace("camera", frames=2, frame_interval_s=0.0)
    c = RoomController(cfg, build_hardware(cfg, simulate=True), now=lambda: NOW)
    yield c
    c.stop()


def samples(text: bytes) -> dict:
    """{(name, frozenset(labels)): value}"""
    out = {}
    for family in text_string_to_metric_families(text.decode()):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(found, name, **labels):
    return found[(name, frozenset({"room": "suite-1", **labels}.items()))]


def test_metrics_before_any_check(controller):
    found = samples(metrics.render(controller, None))
    assert value(found, "kiosk_info", version=__version__) == 1
    assert value(found, "kiosk_ready") == 0
    assert value(found, "kiosk_state", state="idle") == 1
    assert sum(v for (n, _), v in found.items() if n == "kiosk_state") == 1  # one-hot
    assert not [k for k in found if k[0] in ("kiosk_check_status", "kiosk_seconds_to_start",
                                             "kiosk_mqtt_connected", "kiosk_checks_duration_seconds")]
    assert value(found, "kiosk_attendance", mode="in_person") == 0
    assert value(found, "kiosk_quorate") == 0
    assert value(found, "kiosk_uptime_seconds") >= 0


def test_metrics_after_checks(controller):
    controller.hardware.camera.fault = "covered"
    controller._apply_cycle(controller.runner.run())
    controller.set_start(NOW + timedelta(minutes=10), "chair")
    controller.set_attendance(3, 5, True)
    found = samples(metrics.render(controller, True))
    assert value(found, "kiosk_ready") == 0
    assert value(found, "kiosk_state", state="idle") == 1
    assert value(found, "kiosk_check_status", check="camera") == 2
    assert value(found, "kiosk_check_status", check="clock") == 0
    assert value(found, "kiosk_check_required", check="camera") == 1
    assert value(found, "kiosk_check_required", check="network") == 0
    assert value(found, "kiosk_check_metric", check="camera", metric="width") == 1280
    assert value(found, "kiosk_check_metric", check="clock", metric="synced") == 1  # booleans as 0/1
    assert ("kiosk_check_metric", frozenset({"room": "suite-1", "check": "network",
                                              "metric": "max_latency_ms"}.items())) not in found  # None: left out
    assert value(found, "kiosk_seconds_to_start") == 600  # the deprecated alias, for one release
    assert value(found, "kiosk_time_to_start_seconds") == 600
    assert value(found, "kiosk_check_value_pixels", check="camera", metric="width") == 1280
    assert value(found, "kiosk_check_value", check="clock", metric="synced") == 1
    assert value(found, "kiosk_check_value_seconds", check="clock", metric="max_error") == pytest.approx(
        value(found, "kiosk_check_metric", check="clock", metric="max_error_ms") / 1000)
    assert value(found, "kiosk_check_value_dbfs", check="microphone", metric="rms") == value(
        found, "kiosk_check_metric", check="microphone", metric="rms_dbfs")
    assert value(found, "kiosk_attendance", mode="in_person") == 3
    assert value(found, "kiosk_attendance", mode="virtual") == 5
    assert value(found, "kiosk_quorate") == 1
    assert value(found, "kiosk_mqtt_connected") == 1
    assert value(found, "kiosk_checks_duration_seconds") > 0
    assert value(found, "kiosk_checks_last_run_timestamp_seconds") == controller.last_cycle.checked_at.timestamp()
    assert value(samples(metrics.render(controller, False)), "kiosk_mqtt_connected") == 0


def test_metrics_warn_is_1(controller):
    cfg = controller.cfg.replace("camera", required=False)  # a failure of a check not required is a warning
    c = RoomController(cfg, build_hardware(cfg, simulate=True))
    c.hardware.camera.fault = "covered"
    try:
        c._apply_cycle(c.runner.run())
        assert value(samples(metrics.render(c, None)), "kiosk_check_status", check="camera") == 1
    finally:
        c.stop()


def test_metrics_private_registry(controller):
    before = {m.name for m in REGISTRY.collect()}
    metrics.render(controller, True)
    assert {m.name for m in REGISTRY.collect()} == before
    assert not [n for n in before if n.startswith("kiosk_")]


def test_metrics_text_format(controller):
    text = metrics.render(controller, True).decode()
    assert "# TYPE kiosk_ready gauge" in text
    assert metrics.CONTENT_TYPE.startswith("text/plain; version=0.0.4")


def test_metrics_no_personal_data(controller):
    """Only counts: whatever the chair's page holds, the metric text has only numbers and fixed names."""
    controller.set_attendance(2, 7, False)
    controller._apply_cycle(controller.runner.run())
    text = metrics.render(controller, True).decode()
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            assert set(s.labels) <= {"room", "version", "state", "check", "metric", "mode"}
            assert isinstance(s.value, float)


@pytest.mark.parametrize("key, expected", [
    ("max_error_ms", ("seconds", "max_error", 0.001)), ("duration_s", ("seconds", "duration", 1.0)),
    ("frequency_hz", ("hertz", "frequency", 1.0)), ("rate", ("hertz", "rate", 1.0)),
    ("snr_db", ("decibels", "snr", 1.0)), ("rms_dbfs", ("dbfs", "rms", 1.0)), ("width", ("pixels", "width", 1.0)),
    ("edid_bytes", ("bytes", "edid", 1.0)), ("clipped_fraction", ("ratio", "clipped", 1.0)),
    ("frames", ("", "frames", 1.0)), ("focus", ("", "focus", 1.0)),
])
def test_metrics_check_values_one_family_per_unit(key, expected):
    assert metrics.unit_of(key) == expected


def test_metrics_calendar_health(controller):
    found = samples(metrics.render(controller, None))
    assert not [k for k in found if k[0].startswith("kiosk_calendar_")]  # no calendar configured
    controller.set_bookings([], {"source": "url", "last_good_at": "2026-11-23T12:00:00+00:00", "events_skipped": 2,
                                 "error": "the calendar server is unreachable", "stale": True})
    found = samples(metrics.render(controller, None))
    assert value(found, "kiosk_calendar_stale", source="url") == 1
    assert value(found, "kiosk_calendar_events_skipped", source="url") == 2
    assert value(found, "kiosk_calendar_last_success_timestamp_seconds", source="url") == \
        datetime(2026, 11, 23, 12, tzinfo=ZoneInfo("UTC")).timestamp()


def test_metrics_pass_promtool_check_metrics(controller):
    import subprocess

    controller._apply_cycle(controller.runner.run())
    controller.set_start(NOW + timedelta(minutes=10), "chair")
    controller.set_bookings([], {"source": "file", "last_good_at": "2026-11-23T12:00:00+00:00", "events_skipped": 0,
                                 "error": None, "stale": False})
    done = subprocess.run(["promtool", "check", "metrics"], input=metrics.render(controller, True),
                          capture_output=True, timeout=60)
    assert done.returncode == 0 and not done.stdout and not done.stderr, (done.stdout + done.stderr).decode()
