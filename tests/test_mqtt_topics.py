"""Topic names: built in one module, parsed back, malformed topics refused with ValueError."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiosk.mqtt import topics
from kiosk.mqtt.topics import RoomTopics, Topic

segment = st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True)
prefix = st.lists(segment, min_size=1, max_size=3).map("/".join)


def test_topics_room_builders():
    t = RoomTopics("kiosk", "suite-1")
    assert t.availability == "kiosk/suite-1/availability"
    assert t.state == "kiosk/suite-1/state"
    assert t.event == "kiosk/suite-1/event"
    assert t.check("camera") == "kiosk/suite-1/checks/camera"
    assert t.request("recheck") == "kiosk/suite-1/request/recheck"
    assert t.response("recheck") == "kiosk/suite-1/response/recheck"
    assert t.requests == "kiosk/suite-1/request/+"
    assert t.all == "kiosk/suite-1/#"


def test_topics_multi_level_prefix():
    t = RoomTopics("site-a/kiosk", "room_2")
    assert t.state == "site-a/kiosk/room_2/state"
    assert topics.parse(t.check("clock"), "site-a/kiosk") == Topic("room_2", "checks", "clock")


def test_topics_fleet_and_home_assistant():
    assert topics.fleet_filters() == ["kiosk/+/availability", "kiosk/+/state"]
    assert topics.fleet_filters("x/y") == ["x/y/+/availability", "x/y/+/state"]
    assert topics.ha_status() == "homeassistant/status"
    assert topics.ha_status("ha") == "ha/status"
    assert topics.discovery_config("homeassistant", "sensor", "suite-1", "seconds_to_start") == \
        "homeassistant/sensor/suite-1/seconds_to_start/config"


@pytest.mark.parametrize("topic, parsed", [
    ("kiosk/suite-1/availability", Topic("suite-1", "availability")),
    ("kiosk/suite-1/state", Topic("suite-1", "state")),
    ("kiosk/suite-1/event", Topic("suite-1", "event")),
    ("kiosk/suite-1/checks/camera", Topic("suite-1", "checks", "camera")),
    ("kiosk/suite-1/request/identify", Topic("suite-1", "request", "identify")),
    ("kiosk/suite-1/response/state", Topic("suite-1", "response", "state")),
])
def test_topics_parse(topic, parsed):
    assert topics.parse(topic) == parsed


@pytest.mark.parametrize("topic", [
    "",
    "kiosk",
    "kiosk/",
    "kiosk/suite-1",
    "other/suite-1/state",
    "kiosks/suite-1/state",
    "kiosk//state",
    "kiosk/suite 1/state",
    "kiosk/+/state",
    "kiosk/#",
    "kiosk/suite-1/status",
    "kiosk/suite-1/state/extra",
    "kiosk/suite-1/checks",
    "kiosk/suite-1/checks/",
    "kiosk/suite-1/checks/a/b",
    "kiosk/suite-1/request/+",
    "kiosk/suite-1/request/" + "x" * 65,
    "kiosk/" + "r" * 65 + "/state",
    "/kiosk/suite-1/state",
])
def test_topics_parse_malformed_raises(topic):
    with pytest.raises(ValueError):
        topics.parse(topic)


def test_topics_parse_rejects_non_strings():
    with pytest.raises(ValueError):
        topics.parse(b"kiosk/suite-1/state")


@pytest.mark.parametrize("bad", ["", "/kiosk", "kiosk/", "a//b", "kiosk/#", "kiosk/+", "a b"])
def test_topics_bad_prefix_raises(bad):
    with pytest.raises(ValueError):
        RoomTopics(bad, "suite-1")
    with pytest.raises(ValueError):
        topics.fleet_filters(bad)


@pytest.mark.parametrize("room", ["", "a/b", "a+b", "#", "x" * 65, "Jane Smith"])
def test_topics_bad_room_raises(room):
    with pytest.raises(ValueError):
        RoomTopics("kiosk", room)


def test_topics_bad_names_raise():
    t = RoomTopics("kiosk", "suite-1")
    for build in (t.check, t.request, t.response):
        with pytest.raises(ValueError):
            build("a/b")


@given(prefix, segment, st.sampled_from(sorted(set(topics.KINDS) - {topics.QUALITY})), segment)
def test_topics_round_trip(pre, room, kind, name):
    t = RoomTopics(pre, room)
    built = {"availability": t.availability, "state": t.state, "event": t.event}.get(kind) or \
        {"checks": t.check, "request": t.request, "response": t.response}[kind](name)
    parsed = topics.parse(built, pre)
    assert parsed.room == room and parsed.kind == kind
    assert parsed.name == (name if topics.KINDS[kind] else None)


@given(st.text(max_size=40))
def test_topics_parse_never_fails_otherwise(text):
    try:
        parsed = topics.parse(text)
    except ValueError:
        return
    assert text == f"kiosk/{parsed.room}/{parsed.kind}" + (f"/{parsed.name}" if parsed.name else "")


@given(prefix, segment, st.integers(2000, 9999), st.integers(1, 12))
def test_topics_quality_round_trip(pre, room, year, month):
    text = f"{year:04d}-{month:02d}"
    parsed = topics.parse(RoomTopics(pre, room).quality(text), pre)
    assert (parsed.room, parsed.kind, parsed.name) == (room, topics.QUALITY, text)


@pytest.mark.parametrize("month", ["2026-13", "2026-1", "26-11", "2026-11-01", "latest", ""])
def test_topics_quality_month_must_be_yyyy_mm(month):
    with pytest.raises(ValueError, match="YYYY-MM"):
        RoomTopics("kiosk", "suite-1").quality(month)
    with pytest.raises(ValueError):
        topics.parse(f"kiosk/suite-1/quality/{month}")


def test_topics_quality_filter():
    assert topics.quality_filter("kiosk", "2026-11") == "kiosk/+/quality/2026-11"
    assert topics.quality_filter("site-a/kiosk") == "site-a/kiosk/+/quality/+"
