"""ChairAccess: the chair's PIN, its fingerprint for sessions, one-time pairing codes, and the lockout."""

from __future__ import annotations

import pytest

from chair_web import PIN, Seconds
from kiosk.conference.access import PAIRING_ALPHABET, ChairAccess
from kiosk.conference.errors import PinLockedOut, PinNotSet
from kiosk.events import EventBus, PinLockout
from web import fast_config


@pytest.fixture
def access(tmp_path):
    cfg = fast_config().replace("storage", state_dir=str(tmp_path / "state"))
    a = ChairAccess.from_config(cfg, monotonic=Seconds())
    a.pins.save(PIN)
    return a


def test_conference_access_pin_checks_and_lockout(access):
    assert access.check_pin("a", PIN) is True
    assert access.check_pin("a", "999990") is False
    assert access.check_pin("a", None) is False
    assert access.check_pin("a", "9" * 10_000) is False
    for _ in range(2):  # five wrong in all
        access.check_pin("a", "999990")
    with pytest.raises(PinLockedOut):
        access.check_pin("a", PIN)
    access.pins.clear()
    with pytest.raises(PinNotSet):
        access.check_pin("b", PIN)


def test_conference_access_pin_epoch_changes_with_the_pin(access):
    first = access.pin_epoch()
    assert first and access.pin_epoch() == first
    access.pins.save("731864")
    assert access.pin_epoch() not in (None, first)
    access.pins.clear()
    assert access.pin_epoch() is None


def test_conference_access_pairing_codes_are_short_lived_and_single_use(access):
    code, ttl = access.new_pairing_code()
    assert len(code) == 8 and set(code) <= set(PAIRING_ALPHABET) and ttl == 300
    assert access.check_pairing_code("t", code[:4] + " " + code[4:].lower()) is True
    assert access.check_pairing_code("t", code) is False
    code, _ = access.new_pairing_code()
    access._monotonic.advance(301)
    assert access.check_pairing_code("t", code) is False
    for bad in (None, "", "0O1IL000", "x" * 1000):
        assert access.check_pairing_code("u", bad) is False


def test_conference_access_lockouts_are_announced_on_the_bus_without_the_client(tmp_path):
    cfg = fast_config().replace("storage", state_dir=str(tmp_path / "state"))
    bus, heard = EventBus(), []
    bus.subscribe(heard.append, PinLockout)
    access = ChairAccess.from_config(cfg, bus=bus, monotonic=Seconds())
    access.pins.save(PIN)
    for _ in range(cfg.conference.lockout_attempts):
        access.check_pin("192.0.2.7", "999990")
    assert [e.scope for e in heard] == ["device"]
    assert "192.0.2.7" not in repr(heard)
