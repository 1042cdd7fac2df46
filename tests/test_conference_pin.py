"""The chair's PIN: rules, hashing, the 0600 file, and lockout after wrong PINs."""

from __future__ import annotations

import base64
import os
import stat
import threading

import pytest

from kiosk.conference.errors import InvalidInput, InvalidPin, PinLockedOut, StorageError
from kiosk.conference.pin import FILENAME, Lockout, PinStore, check_pin_rules, hash_pin, verify_pin
from kiosk.conference.settings import ConferenceSettings


class FakeClock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t

    def advance(self, seconds):
        self.t += seconds


# -- rules and hashing --------------------------------------------------------------------------------------

@pytest.mark.parametrize("pin, ok", [
    ("739251", True), ("402817365", True), ("914263578012", True),
    ("12345", False),                 # too short
    ("9142635780123", False),         # too long
    ("12a456", False), (" 739251", False), ("", False), (739251, False),
    ("\u0663\u0664\u0665\u0666\u0667\u0668", False),   # non-ASCII digits
    ("000000", False), ("123456", False), ("987654", False), ("890123", False),
])
def test_conference_pin_rules(pin, ok):
    if ok:
        check_pin_rules(pin)
    else:
        with pytest.raises(InvalidPin):
            check_pin_rules(pin)


def test_conference_pin_rules_minimum_can_be_lowered_to_four():
    check_pin_rules("7392", min_length=4)
    with pytest.raises(InvalidPin, match="6 to 12 digits"):
        check_pin_rules("7392")


def test_conference_pin_hash_and_verify():
    stored = hash_pin("739251")
    scheme, n, r, p, salt, key = stored.split("$")
    assert (scheme, n, r, p) == ("scrypt", str(2 ** 14), "8", "1")
    assert len(base64.b64decode(salt)) == 16 and len(base64.b64decode(key)) == 32
    assert verify_pin("739251", stored)
    assert not verify_pin("739252", stored)
    assert not verify_pin("", stored)
    assert not verify_pin(None, stored)
    assert hash_pin("739251") != stored       # a new salt every time


@pytest.mark.parametrize("stored", [
    "", "plain-text-pin", "scrypt$16384$8$1$notbase64!$AAAA",
    "bcrypt$16384$8$1$" + base64.b64encode(b"s" * 16).decode() + "$" + base64.b64encode(b"k" * 32).decode(),
    # a tampered file asking for 2**24 x 8 x 128 bytes of memory is refused, not run
    "scrypt$16777216$8$1$" + base64.b64encode(b"s" * 16).decode() + "$" + base64.b64encode(b"k" * 32).decode(),
])
def test_conference_pin_verify_refuses_malformed_hashes(stored):
    with pytest.raises(InvalidInput):
        verify_pin("739251", stored)


# -- the file ------------------------------------------------------------------------------------------------

def test_conference_pin_store_saves_a_0600_file_atomically(tmp_path):
    state = tmp_path / "state"
    pins = PinStore(state)
    assert not pins.is_set() and pins.load() is None and not pins.verify("739251")
    pins.save("739251")
    path = state / FILENAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    assert path.read_text().startswith("scrypt$") and "739251" not in path.read_text()
    assert pins.verify("739251") and not pins.verify("000001")
    pins.save("402817")
    assert pins.verify("402817") and not pins.verify("739251")
    assert sorted(os.listdir(state)) == [FILENAME]       # no temporary files left behind
    pins.clear()
    assert not pins.is_set()


def test_conference_pin_store_refuses_weak_pins_and_keeps_the_old_one(tmp_path):
    pins = PinStore(tmp_path)
    pins.save("739251")
    with pytest.raises(InvalidPin, match="too easy"):
        pins.save("111111")
    assert pins.verify("739251")


def test_conference_pin_store_damaged_or_loose_file(tmp_path):
    pins = PinStore(tmp_path)
    (tmp_path / FILENAME).write_text("garbage\n")
    with pytest.raises(StorageError, match="damaged"):
        pins.verify("739251")
    pins.save("739251")
    os.chmod(tmp_path / FILENAME, 0o644)
    assert pins.verify("739251")
    assert stat.S_IMODE((tmp_path / FILENAME).stat().st_mode) == 0o600


# -- lockout -------------------------------------------------------------------------------------------------

def test_conference_pin_lockout_grows_with_each_wrong_pin_and_is_capped():
    clock = FakeClock()
    lock = Lockout(clock=clock)
    for _ in range(4):
        assert lock.failed("tablet") == 0
    assert lock.failed("tablet") == 30          # fifth wrong PIN
    assert lock.wait_s("tablet") == 30
    clock.advance(29)
    assert lock.wait_s("tablet") == 1
    clock.advance(1)
    assert lock.wait_s("tablet") == 0
    waits = []
    for _ in range(7):
        waits.append(lock.failed("tablet"))
        clock.advance(waits[-1])
    assert waits == [60, 120, 240, 480, 900, 900, 900]


def test_conference_pin_lockout_is_per_client_with_a_global_limit():
    clock = FakeClock()
    lock = Lockout(clock=clock, attempts=5, global_attempts=12)
    for _ in range(5):
        lock.failed("10.0.0.5")
    assert lock.wait_s("10.0.0.5") == 30 and lock.wait_s("10.0.0.6") == 0
    for n in range(6):
        lock.failed(f"10.0.0.{100 + n}")
    assert lock.wait_s("10.0.0.99") == 0         # 11 wrong PINs in all
    lock.failed("10.0.0.200")                     # the 12th: everyone waits
    assert lock.wait_s("10.0.0.99") == 30


def test_conference_pin_lockout_success_resets_and_old_failures_are_forgotten():
    clock = FakeClock()
    lock = Lockout(clock=clock, forget_after_s=3600)
    for _ in range(4):
        lock.failed("tablet")
    lock.succeeded("tablet")
    assert lock.failed("tablet") == 0
    for _ in range(3):
        lock.failed("tablet")
    clock.advance(3601)
    assert lock.failed("tablet") == 0             # a fresh start after an hour without a wrong PIN


def test_conference_pin_lockout_attempt_refuses_without_checking_while_locked(tmp_path):
    clock = FakeClock()
    lock = Lockout.from_settings(ConferenceSettings(lockout_attempts=2, lockout_delay_s=10), clock=clock)
    pins = PinStore(tmp_path)
    pins.save("739251")
    assert not lock.attempt("tablet", lambda: pins.verify("000001"))
    assert not lock.attempt("tablet", lambda: pins.verify("000002"))
    called = []
    with pytest.raises(PinLockedOut, match="try again in 10 seconds") as info:
        lock.attempt("tablet", lambda: called.append(1) or True)
    assert called == [] and info.value.retry_after_s == 10
    clock.advance(10)
    assert lock.attempt("tablet", lambda: pins.verify("739251"))
    assert lock.wait_s("tablet") == 0


def test_conference_pin_lockout_parallel_guesses_cannot_slip_past_the_limit():
    lock = Lockout(attempts=3, delay_s=60)     # real clock: nobody waits 60 s here
    checked, refused = [], []
    gate = threading.Barrier(12)

    def guess():
        gate.wait()
        try:
            lock.attempt("attacker", lambda: checked.append(1) or False)
        except PinLockedOut:
            refused.append(1)

    threads = [threading.Thread(target=guess) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(checked) == 3 and len(refused) == 9


def test_conference_pin_locked_out_message_in_minutes():
    assert str(PinLockedOut(900)) == "Too many wrong PINs: try again in 15 minutes"
    assert str(PinLockedOut(0.2)) == "Too many wrong PINs: try again in 1 second"


def test_conference_pin_lockout_is_announced_and_counted_without_the_key():
    clock, seen = FakeClock(), []
    lockout = Lockout(attempts=2, global_attempts=3, clock=clock, on_lockout=lambda *a: seen.append(a))
    lockout.failed("10.0.0.1")
    lockout.failed("10.0.0.1")  # the device's lockout starts
    lockout.failed("10.0.0.1")  # still locked: no new announcement for the device; everyone's starts
    assert seen == [("device", 30.0), ("all", 30.0)] and lockout.lockouts == 2
    assert not any("10.0.0.1" in str(a) for a in seen)


def test_conference_pin_kiosk_unlock_file_clears_every_count(tmp_path):
    from kiosk.conference.pin import UNLOCK_FILENAME

    clock = FakeClock()
    lockout = Lockout(attempts=1, global_attempts=2, clock=clock, unlock_file=tmp_path / UNLOCK_FILENAME)
    for key in ("a", "b", "c"):
        lockout.failed(key)
    with pytest.raises(PinLockedOut):
        lockout.attempt("d", lambda: True)
    (tmp_path / UNLOCK_FILENAME).touch()
    assert lockout.attempt("a", lambda: True) is True
    assert not (tmp_path / UNLOCK_FILENAME).exists()


def test_conference_pin_unguessable_secret_gets_in_while_locked_but_wrong_ones_count():
    clock = FakeClock()
    lockout = Lockout(attempts=1, global_attempts=100, clock=clock)
    lockout.failed("a")
    with pytest.raises(PinLockedOut):
        lockout.attempt("a", lambda: True)  # a PIN: refused unchecked
    with pytest.raises(PinLockedOut):
        lockout.attempt("a", lambda: False, unguessable=True)
    assert lockout.attempt("a", lambda: True, unguessable=True) is True
    assert lockout.wait_s("a") > 0  # a pairing code clears nothing
