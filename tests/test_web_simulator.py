"""The simulator page and its JSON API, through Flask's test client."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta

import pytest

from kiosk.events import ChecksStarted
from waiting import wait_for
from web import unsimulated_controller
from web_ui import create_app

JSON = "application/json"


def post(client, path, payload=None, *, data=None, content_type=JSON, **headers):
    """POST ``payload`` as JSON (or raw ``data``) to ``path``."""
    body = json.dumps(payload) if data is None else data
    return client.post(path, data=body, content_type=content_type, headers=headers)


def test_web_simulator_page_shows_the_light_and_every_control(cold_client):
    response = cold_client.get("/simulator")
    assert response.status_code == 200 and response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert 'id="light"' in html
    for fault in ("none", "covered", "blurred", "frozen", "overexposed", "muted", "clipping"):
        assert f'data-value="&#34;{fault}&#34;"' in html
    assert 'data-endpoint="/simulator/display"' in html and 'data-endpoint="/simulator/clock"' in html
    # The current settings are shown as pressed.
    pressed = re.findall(r'data-value="([^"]*)"\s+aria-pressed="true"', html)
    assert pressed == ["&#34;none&#34;", "&#34;none&#34;", "true", "true"]  # camera, microphone, screen, clock


def test_web_simulator_devices_reports_the_current_settings(cold_client):
    assert cold_client.get("/simulator/devices").get_json() == {
        "camera": {"fault": "none"}, "microphone": {"fault": "none"},
        "display": {"connected": True}, "clock": {"synced": True}}


def test_web_simulator_button_press_runs_the_real_checks(client, room):
    response = post(client, "/simulator/button", {"action": "press"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok" and body["state"]["state"] == "checking"
    assert response.headers["Cache-Control"] == "no-store"
    assert wait_for(lambda: room.machine.state.value == "ready")
    assert client.get("/api/state").get_json()["lights"] == {"pattern": "ready", "colour": "#00ff00"}


def test_web_simulator_button_hold_rechecks(cold_client, cold_room):
    body = post(cold_client, "/simulator/button", {"action": "hold"}).get_json()
    assert body["state"]["state"] == "checking"
    assert cold_room.machine.state.value == "checking"


# (endpoint, fault payload, repair payload, check that must fail)
FAULTS = [
    ("/simulator/camera", {"fault": "covered"}, {"fault": "none"}, "camera"),
    ("/simulator/microphone", {"fault": "muted"}, {"fault": "none"}, "microphone"),
    ("/simulator/display", {"connected": False}, {"connected": True}, "display"),
    ("/simulator/clock", {"synced": False}, {"synced": True}, "clock"),
]


@pytest.mark.parametrize("path, fault, repair, check", FAULTS)
def test_web_simulator_fault_is_judged_by_the_real_check(client, room, path, fault, repair, check):
    triggers = []
    room.bus.subscribe(lambda e: triggers.append(e.trigger), ChecksStarted)

    def status():
        cycle = room.last_cycle
        return cycle.results[check].status.value if cycle else None

    body = post(client, path, fault).get_json()
    assert body["status"] == "ok"
    assert body["devices"][check] == fault
    assert wait_for(lambda: status() == "fail", timeout=3)
    assert "simulator" in triggers
    state = client.get("/api/state").get_json()
    assert state["ready"] is False and state["checks"][check]["status"] == "fail"
    assert state["checks"][check]["reason"]  # a reason staff can act on

    assert post(client, path, repair).status_code == 200
    assert wait_for(lambda: status() == "pass", timeout=3)
    assert wait_for(lambda: room.ready)


@pytest.mark.parametrize("fault", ["none", "covered", "blurred", "frozen", "overexposed"])
def test_web_simulator_accepts_every_camera_fault(cold_client, cold_room, fault):
    assert post(cold_client, "/simulator/camera", {"fault": fault}).status_code == 200
    assert cold_room.hardware.camera.fault == fault


@pytest.mark.parametrize("fault", ["none", "muted", "clipping"])
def test_web_simulator_accepts_every_microphone_fault(cold_client, cold_room, fault):
    assert post(cold_client, "/simulator/microphone", {"fault": fault}).status_code == 200
    assert cold_room.hardware.microphone.fault == fault


@pytest.mark.parametrize("path, field, attribute", [
    ("/simulator/display", "connected", "display"),
    ("/simulator/clock", "synced", "clock"),
])
def test_web_simulator_switches_set_the_device(cold_client, cold_room, path, field, attribute):
    device = getattr(cold_room.hardware, attribute)
    assert post(cold_client, path, {field: False}).status_code == 200
    assert getattr(device, field) is False
    assert post(cold_client, path, {field: True}).status_code == 200
    assert getattr(device, field) is True


def test_web_simulator_start_sets_and_clears_the_start_time(cold_client, cold_room):
    before = datetime.now(cold_room.tz)
    state = post(cold_client, "/simulator/start", {"in_minutes": 5}).get_json()["state"]
    start = datetime.fromisoformat(state["start_at"])
    assert before + timedelta(minutes=5) - timedelta(seconds=1) <= start <= before + timedelta(minutes=5, seconds=2)
    assert state["countdown"]["phase"] == "waiting"
    state = post(cold_client, "/simulator/start", {"in_minutes": None}).get_json()["state"]
    assert state["start_at"] is None and state["countdown"]["phase"] == "free"


# (path, raw body, message expected in the error)
BAD_PAYLOADS = [
    ("/simulator/button", '{"action": "tap"}', 'action must be one of "press", "hold", not "tap"'),
    ("/simulator/button", '{"action": ["press"]}', 'action must be one of "press", "hold", not ["press"]'),
    ("/simulator/button", "{}", "missing field 'action'"),
    ("/simulator/button", '{"action": "press", "times": 2}', "unknown field 'times'"),
    ("/simulator/button", '["press"]', "the body must be a JSON object"),
    ("/simulator/button", '"press"', "the body must be a JSON object"),
    ("/simulator/button", "null", "the body must be a JSON object"),
    ("/simulator/button", "action=press", "the body is not valid JSON"),
    ("/simulator/button", "", "the body is not valid JSON"),
    ("/simulator/button", b"\xff\xfe\x00", "the body is not valid JSON"),
    ("/simulator/button", "[" * 60000, "the body is not valid JSON"),  # nested too deep to parse
    ("/simulator/camera", '{"fault": "smeared"}', 'fault must be one of "none", "covered"'),
    ("/simulator/camera", '{"fault": 1}', "fault must be one of"),
    ("/simulator/camera", '{"fault": "' + "x" * 1000 + '"}', 'not "xxxx'),
    ("/simulator/microphone", '{"fault": "covered"}', 'fault must be one of "none", "muted", "clipping"'),
    ("/simulator/display", '{"connected": "false"}', 'connected must be true or false, not "false"'),
    ("/simulator/display", '{"connected": 0}', "connected must be true or false, not 0"),
    ("/simulator/display", '{"connected": NaN}', "the body is not valid JSON"),
    ("/simulator/clock", '{"synced": null}', "synced must be true or false, not null"),
    ("/simulator/clock", '{"fault": "none"}', "unknown field 'fault'"),
    ("/simulator/start", '{"in_minutes": -1}', "in_minutes must be a number from 0 to 1440, or null"),
    ("/simulator/start", '{"in_minutes": 1e9}', "in_minutes must be a number from 0 to 1440"),
    ("/simulator/start", '{"in_minutes": true}', "in_minutes must be a number"),
    ("/simulator/start", '{"in_minutes": "5"}', "in_minutes must be a number"),
    ("/simulator/start", '{"in_minutes": Infinity}', "the body is not valid JSON"),
]


@pytest.mark.parametrize("path, body, message", BAD_PAYLOADS)
def test_web_simulator_rejects_bad_payloads_with_400(cold_client, cold_room, path, body, message):
    devices_before = cold_client.get("/simulator/devices").get_json()
    state_before = cold_room.machine.state
    response = post(cold_client, path, data=body)
    assert response.status_code == 400
    assert response.mimetype == JSON and response.headers["Cache-Control"] == "no-store"
    assert message in response.get_json()["error"]
    assert len(response.get_json()["error"]) < 300  # a long value is echoed cut short
    # Nothing changed.
    assert cold_client.get("/simulator/devices").get_json() == devices_before
    assert cold_room.machine.state is state_before and cold_room.start_at() is None


@pytest.mark.parametrize("content_type", [
    "application/x-www-form-urlencoded",  # what a cross-site HTML form sends
    "multipart/form-data; boundary=x",
    "text/plain",
    None,
])
def test_web_simulator_accepts_only_json_bodies(cold_client, cold_room, content_type):
    response = cold_client.post("/simulator/display", data='{"connected": false}', content_type=content_type)
    assert response.status_code == 415
    assert "application/json" in response.get_json()["error"]
    assert cold_room.hardware.display.connected is True


def test_web_simulator_accepts_json_with_a_charset(cold_client, cold_room):
    response = post(cold_client, "/simulator/display", {"connected": False},
                    content_type="application/json; charset=utf-8")
    assert response.status_code == 200 and cold_room.hardware.display.connected is False


@pytest.mark.parametrize("origin, status", [
    ("http://localhost", 200),  # the test client's own origin
    ("http://evil.example", 403),
    ("https://localhost", 403),
    ("null", 403),
])
def test_web_simulator_refuses_other_origins(cold_client, origin, status):
    response = post(cold_client, "/simulator/button", {"action": "hold"}, Origin=origin)
    assert response.status_code == status
    if status == 403:
        assert response.get_json() == {"error": "cross-site requests are not accepted"}


def test_web_simulator_rejects_bodies_over_64_kib(cold_client):
    payload = json.dumps({"action": "press", "padding": "x" * 70000})
    response = post(cold_client, "/simulator/button", data=payload)
    assert response.status_code == 413
    assert response.get_json()["error"]


@pytest.mark.parametrize("method, path, status", [
    ("get", "/simulator/button", 405),
    ("put", "/simulator/display", 405),
    ("post", "/simulator/nowhere", 404),
    ("post", "/simulator/devices", 405),
])
def test_web_simulator_routing_errors_are_json(cold_client, method, path, status):
    response = getattr(cold_client, method)(path, data="{}", content_type=JSON)
    assert response.status_code == status
    assert response.mimetype == JSON and response.get_json()["error"]


def test_web_simulator_is_absent_when_the_hardware_is_real(tmp_path):
    controller = unsimulated_controller(tmp_path)
    try:
        assert controller.hardware.simulated is False
        client = create_app(controller, {"TESTING": True}).test_client()
        for method, path in (("get", "/simulator"), ("get", "/simulator/devices"),
                             ("post", "/simulator/display"), ("post", "/simulator/button")):
            response = getattr(client, method)(path, data='{"connected": false}', content_type=JSON)
            assert response.status_code == 404, path
            assert response.get_json() == {"error": "not found"}
        assert client.get("/display").status_code == 200
        assert controller.hardware.display.connectors()[0].connected  # untouched
    finally:
        controller.hardware.close()


def test_web_simulator_leaves_real_devices_alone_in_a_mixed_room(tmp_path):
    # A real camera (a file) with the other devices simulated: the camera cannot be "covered".
    controller = unsimulated_controller(tmp_path, microphone="simulated", display="simulated", clock="simulated")
    try:
        client = create_app(controller, {"TESTING": True}, simulator=True).test_client()
        devices = client.get("/simulator/devices").get_json()
        assert devices["camera"] is None and devices["display"] == {"connected": True}
        assert 'id="camera"' not in client.get("/simulator").get_data(as_text=True)
        response = post(client, "/simulator/camera", {"fault": "covered"})
        assert response.status_code == 409
        assert "real device" in response.get_json()["error"]
        assert not hasattr(controller.hardware.camera, "fault")
        assert post(client, "/simulator/display", {"connected": False}).status_code == 200
    finally:
        controller.hardware.close()


@pytest.mark.parametrize("simulated", [{"clock": "simulated"},
                                       {"microphone": "simulated", "display": "simulated", "clock": "simulated"}])
def test_web_simulator_is_off_when_only_some_devices_are_simulated(tmp_path, simulated):
    """A simulated device is no reason to serve the simulator: only --simulate or [web] simulator = true are."""
    controller = unsimulated_controller(tmp_path, **simulated)
    try:
        assert controller.hardware.simulated
        client = create_app(controller, {"TESTING": True}).test_client()
        for method, path in (("get", "/simulator"), ("post", "/simulator/button"), ("post", "/simulator/start"),
                             ("post", "/simulator/clock")):
            assert getattr(client, method)(path, data="{}", content_type=JSON).status_code == 404, path
    finally:
        controller.hardware.close()
