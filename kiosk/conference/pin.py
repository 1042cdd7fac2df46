"""The chair's PIN: rules, a salted slow hash, the ``chair-pin`` file, and lockout after wrong PINs.

PIN rules (:func:`check_pin_rules`): 6 to 12 ASCII digits by default (``pin_min_length``
may lower the minimum to 4), not one digit repeated ("000000") and not a run up or down
("123456", "987654", "890123"). Digits only because the chair types it on a tablet's
number pad in front of the family; six digits because the web page is reachable on
the council's network and four give only 10,000 guesses.

Hash (:func:`hash_pin`): scrypt with n=2**14, r=8, p=1, a 16-byte random salt and a
32-byte key, stored as ``scrypt$<n>$<r>$<p>$<salt base64>$<key base64>`` so the
parameters can be raised later without breaking stored PINs.

Lockout (:class:`Lockout`): after ``attempts`` wrong PINs from one client the client
waits ``delay_s`` (30 s), doubling with each further wrong PIN up to ``max_delay_s``
(15 min); a global counter over all clients (``global_attempts``) stops guessing spread
over many addresses. Counts live in memory (a restart clears them, and a restart takes
longer than the first waits) and are forgotten after ``forget_after_s`` without a
wrong PIN.

The lockout can never keep the chair out for good: a signed-in session is never checked
against it, a right pairing code (made by a signed-in chair; 8 characters, one use, 5
minutes, so not guessable) is accepted even while its device must wait, and ``kiosk
unlock`` clears it (it leaves :data:`UNLOCK_FILENAME` in the state directory; the running
kiosk clears every count at the next attempt and removes the file). Each new lockout is
announced on the event bus (:class:`kiosk.events.PinLockout`: which scope and how long,
never the PIN or the address) and counted (:attr:`Lockout.lockouts`).
"""

from __future__ import annotations

import base64
import collections
import hashlib
import hmac
import logging
import os
import re
import secrets
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Hashable

from kiosk.conference.errors import InvalidInput, InvalidPin, PinLockedOut, StorageError
from kiosk.conference.settings import ConferenceSettings

log = logging.getLogger("kiosk.conference.pin")

FILENAME = "chair-pin"
#: Left in the state directory by ``kiosk unlock``; the running kiosk then clears the lockout.
UNLOCK_FILENAME = "pin-unlock"
PIN_MIN_LENGTH = 6
PIN_MAX_LENGTH = 12
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2 ** 14, 8, 1
SALT_BYTES, KEY_BYTES = 16, 32
_MAX_MEMORY = 64 * 1024 * 1024  # refuse stored parameters that would need more (a tampered file must not hang us)


def check_pin_rules(pin, min_length: int = PIN_MIN_LENGTH) -> None:
    """Raise InvalidPin unless ``pin`` follows the PIN rules (see the module docstring)."""
    if not isinstance(pin, str) or not re.fullmatch(r"[0-9]+", pin):
        raise InvalidPin("The PIN must be made of digits only")
    if not min_length <= len(pin) <= PIN_MAX_LENGTH:
        raise InvalidPin(f"The PIN must have {min_length} to {PIN_MAX_LENGTH} digits")
    steps = {(int(b) - int(a)) % 10 for a, b in zip(pin, pin[1:])}
    if steps in ({0}, {1}, {9}):
        raise InvalidPin("The PIN is too easy to guess (one digit repeated, or a run like 123456): choose another")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_pin(pin: str) -> str:
    """A salted scrypt hash of ``pin`` with its parameters, for storing. Does not check the PIN rules."""
    if not isinstance(pin, str):
        raise InvalidPin("The PIN must be text")
    salt = secrets.token_bytes(SALT_BYTES)
    key = hashlib.scrypt(pin.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=KEY_BYTES)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(key)}"


def _parse(stored: str) -> tuple[int, int, int, bytes, bytes]:
    try:
        scheme, n, r, p, salt, key = stored.strip().split("$")
        n, r, p = int(n), int(r), int(p)
        salt, key = base64.b64decode(salt, validate=True), base64.b64decode(key, validate=True)
    except (ValueError, AttributeError, TypeError):
        raise InvalidInput("The stored PIN hash is not in a known format") from None
    if (scheme != "scrypt" or n < 2 or n & (n - 1) or not 1 <= r <= 32 or not 1 <= p <= 16
            or 128 * r * n * p > _MAX_MEMORY or len(salt) < 8 or not 16 <= len(key) <= 64):
        raise InvalidInput("The stored PIN hash has unsupported parameters")
    return n, r, p, salt, key


def verify_pin(pin: str, stored: str) -> bool:
    """True when ``pin`` matches the ``stored`` hash (constant-time comparison).

    A non-text PIN is simply wrong; a malformed ``stored`` raises InvalidInput.
    """
    n, r, p, salt, key = _parse(stored)
    if not isinstance(pin, str):
        return False
    candidate = hashlib.scrypt(pin.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=len(key),
                               maxmem=_MAX_MEMORY + 1024 * 1024)
    return hmac.compare_digest(candidate, key)


class PinStore:
    """The chair's PIN hash in ``<state_dir>/chair-pin``, readable by the kiosk's user only (0600)."""

    def __init__(self, state_dir: str | os.PathLike, *, min_length: int = PIN_MIN_LENGTH):
        self.dir = Path(state_dir)
        self.path = self.dir / FILENAME
        self.min_length = min_length

    def is_set(self) -> bool:
        """True once a PIN has been saved."""
        return self.path.exists()

    def load(self) -> str | None:
        """The stored hash, or None when no PIN is set. StorageError if the file cannot be read or is damaged."""
        try:
            text = self.path.read_text(encoding="ascii").strip()
            if self.path.stat().st_mode & 0o077:
                log.warning("The chair PIN file was readable by others: permissions reset to 0600")
                os.chmod(self.path, 0o600)
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise StorageError(f"The chair PIN file cannot be read ({exc.__class__.__name__}): set a new PIN") from None
        try:
            _parse(text)
        except InvalidInput:
            raise StorageError("The chair PIN file is damaged: set a new PIN") from None
        return text

    def save(self, pin: str) -> None:
        """Check the PIN rules, then store its hash atomically (a crash leaves the old PIN or the new, never half)."""
        check_pin_rules(pin, self.min_length)
        data = (hash_pin(pin) + "\n").encode("ascii")
        tmp = None
        try:
            self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=f".{FILENAME}.", suffix=".tmp")  # created 0600
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
            tmp = None
            dir_fd = os.open(self.dir, os.O_RDONLY)
            try:
                os.fsync(dir_fd)  # the rename itself survives a power cut
            finally:
                os.close(dir_fd)
        except OSError as exc:
            raise StorageError(f"The chair PIN could not be saved ({exc.strerror})") from None
        finally:
            if tmp is not None:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass

    def verify(self, pin: str) -> bool:
        """True when ``pin`` is the chair's PIN; False when it is wrong or no PIN is set."""
        stored = self.load()
        return stored is not None and verify_pin(pin, stored)

    def clear(self) -> None:
        """Remove the PIN (IT resets it this way; the next chair sets a new one)."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass


@dataclass
class _Count:
    failures: int = 0
    last_failure: float = 0.0
    locked_until: float = 0.0


class Lockout:
    """Wrong-PIN lockout per client key (e.g. the client's address) and over all clients.

    ``clock`` returns seconds (``time.monotonic`` by default; inject a fake in tests).
    Thread-safe.
    """

    def __init__(self, *, attempts: int = 5, delay_s: float = 30.0, max_delay_s: float = 900.0,
                 global_attempts: int = 20, forget_after_s: float = 3600.0, max_keys: int = 1024,
                 clock: Callable[[], float] = time.monotonic, unlock_file: str | os.PathLike | None = None,
                 on_lockout: Callable[[str, float], None] | None = None):
        self.attempts, self.global_attempts = attempts, global_attempts
        self.delay_s, self.max_delay_s = delay_s, max_delay_s
        self.forget_after_s = max(forget_after_s, max_delay_s)
        self.max_keys = max_keys
        self._clock = clock
        self._keys: collections.OrderedDict[Hashable, _Count] = collections.OrderedDict()
        self._global = _Count()
        self._lock = threading.Lock()
        self._attempt_lock = threading.Lock()
        self.unlock_file = Path(unlock_file) if unlock_file is not None else None
        self._on_lockout = on_lockout
        #: Lockouts since the start (a device's, or everyone's), for /metrics.
        self.lockouts = 0

    @classmethod
    def from_settings(cls, settings: ConferenceSettings, *, state_dir=None, bus=None, **kwargs) -> "Lockout":
        """A lockout with the ``lockout_*`` settings; ``state_dir`` for ``kiosk unlock``, ``bus`` (an
        :class:`kiosk.events.EventBus`) to announce lockouts on."""
        if state_dir is not None:
            kwargs.setdefault("unlock_file", Path(state_dir) / UNLOCK_FILENAME)
        if bus is not None:
            from kiosk.events import PinLockout

            kwargs.setdefault("on_lockout", lambda scope, wait: bus.publish(PinLockout(scope=scope, wait_s=wait)))
        return cls(attempts=settings.lockout_attempts, delay_s=settings.lockout_delay_s,
                   max_delay_s=settings.lockout_max_delay_s, global_attempts=settings.lockout_global_attempts,
                   **kwargs)

    def clear(self) -> None:
        """Forget every wrong PIN: nobody has to wait."""
        with self._lock:
            self._keys.clear()
            self._global = _Count()

    def _unlock_requested(self) -> None:
        """Clear everything if ``kiosk unlock`` asked for it (one stat per attempt)."""
        if self.unlock_file is None:
            return
        try:
            self.unlock_file.unlink()
        except FileNotFoundError:
            return
        except OSError as exc:
            log.error("Cannot remove %s (%s): clearing the PIN lockout anyway", self.unlock_file, exc.strerror)
        self.clear()
        log.warning("PIN lockout cleared by 'kiosk unlock'")

    def _delay(self, failures: int, threshold: int) -> float:
        if failures < threshold:
            return 0.0
        return min(self.delay_s * 2 ** min(failures - threshold, 32), self.max_delay_s)

    def _fail(self, count: _Count, threshold: int, now: float) -> float:
        """Count a failure; returns the new wait when it starts a lockout (0 otherwise)."""
        if now - count.last_failure > self.forget_after_s:
            count.failures = 0
        count.failures += 1
        count.last_failure = now
        delay = self._delay(count.failures, threshold)
        if delay:
            fresh = count.locked_until <= now
            count.locked_until = now + delay
            return delay if fresh else 0.0
        return 0.0

    def wait_s(self, key: Hashable) -> float:
        """Seconds before ``key`` may try a PIN again (0 when it may now)."""
        with self._lock:
            now = self._clock()
            count = self._keys.get(key)
            until = max(self._global.locked_until, count.locked_until if count else 0.0)
            return max(0.0, until - now)

    def failed(self, key: Hashable) -> float:
        """Record a wrong PIN from ``key``; returns the wait now imposed (0 if none)."""
        with self._lock:
            now = self._clock()
            count = self._keys.pop(key, None) or _Count()
            self._keys[key] = count  # most recent last, so the stalest is evicted first
            while len(self._keys) > self.max_keys:
                self._keys.popitem(last=False)
            device = self._fail(count, self.attempts, now)
            everyone = self._fail(self._global, self.global_attempts, now)
            announced = [(scope, wait) for scope, wait in (("device", device), ("all", everyone)) if wait]
            self.lockouts += len(announced)
        for scope, wait in announced:  # outside the lock: subscribers may take their own
            log.warning("PIN lockout (%s) for %d s after wrong PINs", scope, round(wait))
            if self._on_lockout is not None:
                try:
                    self._on_lockout(scope, wait)
                except Exception:
                    log.exception("Announcing the PIN lockout failed")
        return self.wait_s(key)

    def succeeded(self, key: Hashable) -> None:
        """A right PIN: forget ``key``'s wrong ones (and the global count: the chair is in)."""
        with self._lock:
            self._keys.pop(key, None)
            self._global = _Count()

    def attempt(self, key: Hashable, check: Callable[[], bool], *, unguessable: bool = False) -> bool:
        """Run ``check()`` (e.g. ``lambda: store.verify(pin)``) unless ``key`` is locked out.

        Raises PinLockedOut without checking while locked out (so a locked-out guesser
        learns nothing); records the outcome and returns it otherwise. Attempts run one
        at a time, so parallel requests cannot all slip in before the first failure counts.
        ``unguessable``: the secret cannot be guessed (a pairing code), so it is checked even
        while locked out; a right one gets in (and clears nothing), a wrong one counts.
        """
        with self._attempt_lock:
            self._unlock_requested()
            wait = self.wait_s(key)
            if wait > 0 and not unguessable:
                raise PinLockedOut(wait)
            ok = bool(check())
            if ok and wait > 0:
                return True
            if ok:
                self.succeeded(key)
            else:
                self.failed(key)
                if wait > 0:  # only an unguessable secret gets here while locked out
                    raise PinLockedOut(self.wait_s(key))
            return ok
