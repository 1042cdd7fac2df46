"""Home Assistant discovery: the config messages field by field, and re-sending when HA comes back."""

import json

import pytest
from mqtt_broker import Subscriber

from kiosk import __version__
from kiosk.config import Config
from kiosk.mqtt import discovery

CHECKS = {"camera": "Camera", "microphone": "Microphone", "display": "Display", "clock": "Clock",
          "network": "Network"}


@pytest.fixture
def site():
    return Config().replace("room", id="suite-4", name="Hybrid Suite 4").replace("mqtt", discovery_prefix="ha")


def by_topic(cfg, checks=CHECKS, model="Raspberry Pi 5 Model B Rev 1.0"):
    return {topic: json.loads(payload) if payload else None
            for topic, payload in discovery.messages(cfg, checks, model)}


def test_discovery_topics(site):
    msgs = by_topic(site)
    assert set(msgs) == {
        "ha/binary_sensor/suite-4/ready/config",
        *(f"ha/binary_sensor/suite-4/check_{n}/config" for n in CHECKS),
        "ha/sensor/suite-4/seconds_to_start/config",
        "ha/sensor/suite-4/attendance_in_person/config",
        "ha/sensor/suite-4/attendance_virtual/config",
        "ha/binary_sensor/suite-4/quorate/config",
        "ha/binary_sensor/suite-4/calendar_stale/config",
        "ha/button/suite-4/recheck/config",
        "ha/button/suite-4/identify/config",
        "ha/binary_sensor/suite-4/check_speaker/config",  # not configured here: removed
    }
    assert msgs["ha/binary_sensor/suite-4/check_speaker/config"] is None


def test_discovery_common_fields(site):
    for topic, payload in by_topic(site).items():
        if payload is None:
            continue
        object_id = topic.split("/")[3]
        assert payload["unique_id"] == f"kiosk_suite-4_{object_id}"
        assert payload["availability_topic"] == "kiosk/suite-4/availability"
        assert payload["payload_available"] == "online"
        assert payload["payload_not_available"] == "offline"
        assert payload["device"] == {
            "identifiers": ["kiosk_suite-4"],
            "name": "Hybrid Suite 4",
            "manufacturer": "Hybrid Room Kiosk",
            "model": "Raspberry Pi 5 Model B Rev 1.0",
            "sw_version": __version__,
        }
        assert payload["name"]
        assert payload["qos"] == 1  # Home Assistant subscribes at QoS 1, as the kiosk publishes


def render(template: str, state: dict) -> str:
    """A Home Assistant value template rendered as Home Assistant does (Jinja2, ``value_json``, ``tojson``)."""
    import jinja2

    env = jinja2.Environment()
    env.filters["tojson"] = json.dumps
    return env.from_string(template).render(value_json=state, value=json.dumps(state))


def state(**changes):
    from kiosk.mqtt.link import state_payload

    public = {"room": "suite-4", "state": "idle", "ready": False, "checks": {}, "start_at": None,
              "seconds_to_start": None, "attendance": None, "checked_at": None, "version": __version__,
              "calendar": None}
    return json.loads(json.dumps(state_payload({**public, **changes})))


def test_discovery_ready_is_unknown_until_the_first_check(site):
    ready = by_topic(site)["ha/binary_sensor/suite-4/ready/config"]
    # Home Assistant takes a rendered "None" as unknown: no "not ready" flick at every kiosk start.
    assert render(ready["value_template"], state()) == "None"
    assert render(ready["value_template"], state(checked_at="2026-11-23T10:00:00+00:00")) == "OFF"
    assert render(ready["value_template"], state(checked_at="2026-11-23T10:00:00+00:00", ready=True)) == "ON"
    attributes = json.loads(render(ready["json_attributes_template"],
                                   state(start_at="2026-11-23T14:00:00+00:00", seconds_to_start=600)))
    assert attributes == {"state": "idle", "checked_at": None, "start_at": "2026-11-23T14:00:00+00:00",
                          "seconds_to_start": 600, "calendar_stale": None}


def test_discovery_calendar_stale_sensor(site):
    stale = by_topic(site)["ha/binary_sensor/suite-4/calendar_stale/config"]
    assert (stale["device_class"], stale["entity_category"]) == ("problem", "diagnostic")
    assert render(stale["value_template"], state()) == "None"
    health = {"source": "url", "stale": True, "last_good_at": None, "events_skipped": 0, "error": "unreachable"}
    assert render(stale["value_template"], state(calendar=health)) == "ON"
    assert render(stale["value_template"], state(calendar={**health, "stale": False})) == "OFF"
    assert json.loads(render(stale["json_attributes_template"], state(calendar=health)))["error"] == "unreachable"


def test_discovery_ready_sensor(site):
    ready = by_topic(site)["ha/binary_sensor/suite-4/ready/config"]
    assert ready["state_topic"] == "kiosk/suite-4/state"
    assert ready["value_template"] == discovery.READY_TEMPLATE
    assert (ready["payload_on"], ready["payload_off"]) == ("ON", "OFF")
    assert "device_class" not in ready and "entity_category" not in ready


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_discovery_problem_sensor_per_check(site, name):
    s = by_topic(site)[f"ha/binary_sensor/suite-4/check_{name}/config"]
    assert s["name"] == CHECKS[name]
    assert s["device_class"] == "problem"
    assert s["entity_category"] == "diagnostic"
    assert s["state_topic"] == f"kiosk/suite-4/checks/{name}"
    assert s["json_attributes_topic"] == f"kiosk/suite-4/checks/{name}"
    assert s["value_template"] == "{{ 'OFF' if value_json.status == 'pass' else 'ON' }}"


def test_discovery_countdown_and_attendance(site):
    msgs = by_topic(site)
    countdown = msgs["ha/sensor/suite-4/seconds_to_start/config"]
    assert countdown["state_topic"] == "kiosk/suite-4/state"
    assert countdown["unit_of_measurement"] == "s"
    assert countdown["device_class"] == "duration"
    assert countdown["value_template"] == "{{ value_json.seconds_to_start }}"
    for mode, template in (("in_person", "in_person"), ("virtual", "virtual")):
        s = msgs[f"ha/sensor/suite-4/attendance_{mode}/config"]
        assert s["state_topic"] == "kiosk/suite-4/state"
        assert s["value_template"] == f"{{{{ value_json.attendance.{template} }}}}"
        assert s["state_class"] == "measurement"
    quorate = msgs["ha/binary_sensor/suite-4/quorate/config"]
    assert quorate["value_template"] == "{{ 'ON' if value_json.attendance.quorate else 'OFF' }}"


def test_discovery_buttons(site):
    msgs = by_topic(site)
    recheck = msgs["ha/button/suite-4/recheck/config"]
    assert recheck["command_topic"] == "kiosk/suite-4/request/recheck"
    assert json.loads(recheck["payload_press"]) == {}
    identify = msgs["ha/button/suite-4/identify/config"]
    assert identify["command_topic"] == "kiosk/suite-4/request/identify"
    assert identify["device_class"] == "identify"
    assert json.loads(identify["payload_press"]) == {"seconds": 10}


def test_discovery_prefix_with_levels_keeps_ids_apart():
    a = Config().replace("mqtt", prefix="site-a/kiosk")
    b = Config().replace("mqtt", prefix="site-b/kiosk")
    ready_a = by_topic(a)["homeassistant/binary_sensor/suite-1/ready/config"]
    ready_b = by_topic(b)["homeassistant/binary_sensor/suite-1/ready/config"]
    assert ready_a["unique_id"] == "site-a_kiosk_suite-1_ready" != ready_b["unique_id"]
    assert ready_a["state_topic"] == "site-a/kiosk/suite-1/state"


def test_discovery_check_names_without_labels(site):
    msgs = by_topic(site, checks=["camera", "speaker"])
    assert msgs["ha/binary_sensor/suite-4/check_speaker/config"]["name"] == "Speaker"
    assert msgs["ha/binary_sensor/suite-4/check_clock/config"] is None


def test_discovery_resent_when_home_assistant_comes_online(cfg, broker):
    from kiosk.controller import RoomController
    from kiosk.factory import build_hardware
    from kiosk.mqtt.link import MqttLink

    cfg = cfg.replace("mqtt", host=broker.host, port=broker.port)
    controller = RoomController(cfg, build_hardware(cfg, simulate=True)).start(initial_check=False)
    link = MqttLink(cfg, controller, model="bench")
    sub = Subscriber(broker, "homeassistant/#")
    try:
        link.start()
        first = sub.wait_for(lambda t, p: t.endswith("/identify/config"))
        assert first is not None and json.loads(first[1])["device"]["model"] == "bench"
        seen = len(sub.messages)
        sub.client.publish("homeassistant/status", "offline").wait_for_publish(2)
        sub.client.publish("homeassistant/status", "online").wait_for_publish(2)
        again = sub.wait_for(lambda t, p: t.endswith("/identify/config"), start=seen)
        assert again is not None
        configs = {t for t, *_ in sub.messages[seen:] if t.endswith("/config")}
        assert "homeassistant/binary_sensor/suite-1/ready/config" in configs
    finally:
        sub.close()
        link.stop()
        controller.stop()


def test_discovery_off(cfg, broker):
    from kiosk.controller import RoomController
    from kiosk.factory import build_hardware
    from kiosk.mqtt.link import MqttLink

    cfg = cfg.replace("mqtt", host=broker.host, port=broker.port, discovery=False)
    controller = RoomController(cfg, build_hardware(cfg, simulate=True)).start(initial_check=False)
    link = MqttLink(cfg, controller)
    sub = Subscriber(broker, "#")
    try:
        link.start()
        assert sub.wait_for(lambda t, p: t == "kiosk/suite-1/state") is not None
        assert not [t for t, *_ in sub.messages if t.startswith("homeassistant/")]
    finally:
        sub.close()
        link.stop()
        controller.stop()
