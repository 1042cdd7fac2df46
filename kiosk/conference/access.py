"""Who may act as the chair: the PIN, one-time pairing codes, and the lockout after wrong ones.

:class:`ChairAccess` is what :mod:`web_ui.auth` and the sign-in routes check a PIN or a
pairing code against; the conference record (:mod:`kiosk.conference.service`) knows
nothing of it.

- **The PIN** is kept only as a salted scrypt hash (:class:`~kiosk.conference.pin.PinStore`,
  set with ``kiosk set-pin``); :meth:`ChairAccess.pin_epoch` fingerprints it, so a new
  PIN signs every session out.
- **Pairing codes** hand a signed-in session over to a tablet: 8 characters, 5 minutes,
  one use. A wrong code counts as a wrong PIN.
- **The lockout** (:class:`~kiosk.conference.pin.Lockout`) per client and overall, cleared
  by ``kiosk unlock``; each lockout is announced on the bus as :class:`kiosk.events.PinLockout`.

Threading: ``_lock`` guards the current pairing code only (no I/O under it). The PIN file
is read outside any lock of this module; the lockout has its own.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
from pathlib import Path
from typing import Callable

from kiosk.conference.errors import PinNotSet
from kiosk.conference.pin import Lockout, PinStore

log = logging.getLogger("kiosk.conference.access")

#: A pairing code's letters: no 0/O, 1/I/L, so it can be typed from a screen without doubt.
PAIRING_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
PAIRING_LENGTH = 8
PAIRING_TTL_S = 300.0
#: Longest PIN or code text accepted before hashing (the rules allow 12 digits).
MAX_SECRET_LENGTH = 64


def _pairing_key(code) -> str | None:
    """A typed or scanned code in its stored form (upper case, no spaces or dashes), or None if it cannot be one."""
    if not isinstance(code, str) or len(code) > MAX_SECRET_LENGTH:
        return None
    text = code.replace("-", "").replace(" ", "").upper()
    if len(text) != PAIRING_LENGTH or any(c not in PAIRING_ALPHABET for c in text):
        return None
    return text


class ChairAccess:
    """The chair's PIN, pairing codes and lockout for one kiosk.

    ``settings`` is the ``[conference]`` section (PIN length, lockout), ``state_dir`` where
    the PIN hash and ``kiosk unlock``'s file live; ``bus`` (optional) hears of lockouts;
    ``monotonic`` is the lockout's and the pairing codes' clock (injectable for tests).
    """

    def __init__(self, settings, state_dir, *, pins: PinStore | None = None, bus=None,
                 monotonic: Callable[[], float] = time.monotonic):
        self.state_dir = Path(state_dir)
        self.pins = pins or PinStore(self.state_dir, min_length=settings.pin_min_length)
        self.lockout = Lockout.from_settings(settings, clock=monotonic, state_dir=self.state_dir, bus=bus)
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._pairing: tuple[str, float] | None = None
        self._epoch_cache: tuple[tuple, str | None] | None = None

    @classmethod
    def from_config(cls, cfg, **kwargs) -> "ChairAccess":
        """The access of the kiosk configured by ``cfg`` (its ``[conference]`` settings and state directory)."""
        return cls(cfg.conference, cfg.state_dir(), **kwargs)

    def pin_is_set(self) -> bool:
        """True once ``kiosk set-pin`` has saved a PIN."""
        return self.pins.is_set()

    def pin_epoch(self) -> str | None:
        """A fingerprint of the stored PIN hash (None without a PIN): sessions carry it, so a new PIN signs
        everyone out. Cached on the file's identity, so it costs a stat per request."""
        try:
            st = self.pins.path.stat()
            identity = (st.st_ino, st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            return None
        cached = self._epoch_cache
        if cached is not None and cached[0] == identity:
            return cached[1]
        stored = self.pins.load()
        epoch = hashlib.sha256(stored.encode("ascii")).hexdigest()[:16] if stored else None
        self._epoch_cache = (identity, epoch)
        return epoch

    def check_pin(self, client: str, pin) -> bool:
        """True for the chair's PIN. Raises PinNotSet without one, PinLockedOut while ``client`` must wait."""
        if not self.pin_is_set():
            raise PinNotSet("No chair PIN is set on this kiosk: IT can set one with 'kiosk set-pin'")
        if not isinstance(pin, str) or len(pin) > MAX_SECRET_LENGTH:
            pin = ""
        ok = self.lockout.attempt(client, lambda: self.pins.verify(pin))
        if ok:
            log.info("Chair signed in with the PIN")
        else:
            log.warning("Wrong chair PIN from %s", client)
        return ok

    def new_pairing_code(self) -> tuple[str, float]:
        """A fresh one-time code (it replaces any earlier one) and the seconds it stays valid."""
        code = "".join(secrets.choice(PAIRING_ALPHABET) for _ in range(PAIRING_LENGTH))
        with self._lock:
            self._pairing = (code, self._monotonic() + PAIRING_TTL_S)
        log.info("Pairing code issued (valid %d minutes, once)", PAIRING_TTL_S // 60)
        return code, PAIRING_TTL_S

    def check_pairing_code(self, client: str, code) -> bool:
        """True, and the code is used up, when ``code`` is the current unexpired pairing code.

        Counts towards the same lockout as wrong PINs (PinLockedOut while ``client`` must wait).
        """
        wanted = _pairing_key(code)

        def check() -> bool:
            with self._lock:
                current = self._pairing
                if wanted is None or current is None or self._monotonic() >= current[1]:
                    return False
                if not hmac.compare_digest(wanted, current[0]):
                    return False
                self._pairing = None  # one use
                return True

        ok = self.lockout.attempt(client, check, unguessable=True)
        if ok:
            log.info("A device signed in with a pairing code")
        else:
            log.warning("Wrong or expired pairing code from %s", client)
        return ok


__all__ = ["ChairAccess", "MAX_SECRET_LENGTH", "PAIRING_ALPHABET", "PAIRING_LENGTH", "PAIRING_TTL_S", "PinNotSet"]
