"""Telling systemd how the kiosk is doing: the sd_notify protocol, with no dependency.

systemd passes a unix datagram socket in ``$NOTIFY_SOCKET`` (a path, or an abstract
socket written with a leading ``@``) to ``Type=notify`` services. The service sends
newline-separated ``KEY=value`` lines to it:

    READY=1        start-up finished: units ordered After= this one may start
    STATUS=text    one line shown by ``systemctl status``
    WATCHDOG=1     "still alive": without one every ``WatchdogSec=``, systemd kills and restarts it
    STOPPING=1     shutting down

:class:`Notifier` is the client; without ``$NOTIFY_SOCKET`` (a terminal, the tests, another
init system) every call does nothing. :class:`ServiceNotifier` ties it to a
:class:`~kiosk.controller.RoomController`: the watchdog is fed from the room loop's
``LoopTicked`` events on the controller's bus, published only after a tick that completed,
so a hung or failing loop stops the pings and systemd restarts the kiosk.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import Callable

from kiosk.events import LoopTicked

log = logging.getLogger("kiosk.sdnotify")

#: What the status line says for each check status (the full reasons are on the display and /api/state).
_CHECK_WORDS = {"pass": "ok", "warn": "warn", "fail": "FAIL"}


def _address(value: str) -> str | bytes | None:
    """The socket address named by ``$NOTIFY_SOCKET``, or None if it is not one we can use."""
    if value.startswith("@"):
        return b"\0" + value[1:].encode()  # Linux abstract namespace
    if value.startswith("/"):
        return value
    return None  # e.g. "vsock:..." (systemd in a VM): not for a kiosk


class Notifier:
    """A client of systemd's notification socket. Thread-safe; a no-op without a socket.

    Sending never raises: a failed send is logged once and reported as False, because
    the kiosk must not stop over its bookkeeping with systemd.
    """

    def __init__(self, address: str | None = None, watchdog_usec: int | None = None):
        self.address = address
        self._target = _address(address) if address else None
        if address and self._target is None:
            log.warning("NOTIFY_SOCKET=%s is not a unix socket: not notifying systemd", address)
        self._watchdog_usec = watchdog_usec if watchdog_usec and watchdog_usec > 0 else None
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._warned = False

    @classmethod
    def from_env(cls, environ=None) -> "Notifier":
        """The notifier systemd asked for through ``$NOTIFY_SOCKET`` and ``$WATCHDOG_USEC``.

        The watchdog counts only when ``$WATCHDOG_PID`` is unset or names this process
        (as in sd_watchdog_enabled(3)), so a child that inherited the variables stays quiet.
        """
        env = os.environ if environ is None else environ
        usec = None
        pid = env.get("WATCHDOG_PID", "")
        if not pid or pid == str(os.getpid()):
            try:
                usec = int(env.get("WATCHDOG_USEC", ""))
            except ValueError:
                usec = None
        return cls(env.get("NOTIFY_SOCKET") or None, usec)

    @property
    def enabled(self) -> bool:
        """True when there is a socket to talk to."""
        return self._target is not None

    def watchdog_interval(self) -> float | None:
        """Seconds between watchdog pings: half of ``WatchdogSec=`` (as systemd advises), or None if off."""
        if not self.enabled or self._watchdog_usec is None:
            return None
        return self._watchdog_usec / 2_000_000

    def notify(self, **fields) -> bool:
        """Send ``KEY=value`` lines, e.g. ``notify(READY=1, STATUS="Starting")``; True if sent."""
        if self._target is None or not fields:
            return False
        # A value cannot span lines: the protocol is one assignment a line.
        message = "\n".join(f"{key}={' '.join(str(value).splitlines())}" for key, value in fields.items())
        try:
            with self._lock:  # guards the socket's opening and closing, not the send
                if self._sock is None:
                    # Non-blocking: the room's loop feeds the watchdog and must never wait for systemd.
                    self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC
                                               | socket.SOCK_NONBLOCK)
                sock = self._sock
            sock.sendto(message.encode("utf-8", "replace"), self._target)
        except OSError as exc:
            with self._lock:
                warn = not self._warned and self._sock is not None  # not closed meanwhile (shutting down)
                self._warned = self._warned or warn
            if warn:
                log.warning("Cannot notify systemd at %s: %s", self.address, exc.strerror or exc)
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        """Start-up is finished (``READY=1``), optionally with a status line."""
        return self.notify(READY=1, **({"STATUS": status} if status else {}))

    def status(self, text: str) -> bool:
        """The one-line status ``systemctl status`` shows."""
        return self.notify(STATUS=text)

    def watchdog(self) -> bool:
        """Still alive (``WATCHDOG=1``)."""
        return self.notify(WATCHDOG=1)

    def stopping(self, status: str | None = None) -> bool:
        """Shutting down (``STOPPING=1``)."""
        return self.notify(STOPPING=1, **({"STATUS": status} if status else {}))

    def close(self) -> None:
        """Close the socket; safe to call twice (a later send opens a new one)."""
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def status_line(state: dict) -> str:
    """``Room suite-1: ready (checks: camera ok, microphone ok, ...)`` from a public state.

    Only the room id, its state and each check's status: no names, no bookings, no reasons.
    """
    checks = state.get("checks") or {}
    if checks:
        summary = ", ".join(f"{name} {_CHECK_WORDS.get(c.get('status'), c.get('status'))}"
                            for name, c in checks.items())
    else:
        summary = "not run yet"
    return f"Room {state.get('room')}: {state.get('state')} (checks: {summary})"


class ServiceNotifier:
    """Reports a :class:`~kiosk.controller.RoomController` to systemd.

    :meth:`attach` subscribes to the controller's ``LoopTicked`` events (one after every
    tick of the room loop that completed, on the loop). From them: ``WATCHDOG=1`` at most every
    :meth:`Notifier.watchdog_interval` seconds, and ``STATUS=`` whenever the status line
    changes. :meth:`serving` sends ``READY=1`` (once), :meth:`stopping` ``STOPPING=1``.
    ``clock`` is injectable for tests.
    """

    def __init__(self, controller, notifier: Notifier | None = None, *,
                 clock: Callable[[], float] = time.monotonic):
        self.controller = controller
        self.notifier = notifier if notifier is not None else Notifier.from_env()
        self._clock = clock
        self._interval = self.notifier.watchdog_interval()
        self._last_ping: float | None = None
        self._seen_version: int | None = None
        self._last_status: str | None = None
        self._web_note = ""
        self._ready_sent = False
        self._stopped = False
        self._lock = threading.Lock()
        self._unsubscribe: Callable[[], None] | None = None

    @property
    def attached(self) -> bool:
        """True while it follows the room loop's ticks (never without systemd)."""
        return self._unsubscribe is not None

    def attach(self) -> "ServiceNotifier":
        """Follow the room loop's ticks (only under systemd); returns self."""
        if self.notifier.enabled and self._unsubscribe is None:
            self._unsubscribe = self.controller.bus.subscribe(self._on_tick, LoopTicked)
        return self

    def detach(self) -> None:
        """Stop following the room loop (and so stop feeding the watchdog)."""
        unsubscribe, self._unsubscribe = self._unsubscribe, None
        if unsubscribe is not None:
            unsubscribe()

    def serving(self, web: bool = True) -> None:
        """The kiosk is up: ``READY=1`` (once) with the status line. ``web`` False: the web server failed."""
        with self._lock:
            self._web_note = "" if web else "; web pages not available"
            if self._ready_sent or self._stopped:
                return
            self._ready_sent = True
            text = self._status_text()
            self._last_status = text
        self.notifier.ready(text)
        log.debug("Told systemd the kiosk is ready")

    def stopping(self) -> None:
        """The kiosk is shutting down: ``STOPPING=1``; no more watchdog pings, and the socket is closed."""
        self.detach()
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self.notifier.stopping(f"Room {self.controller.cfg.room.id}: stopping")
        self.notifier.close()

    def _status_text(self) -> str:
        return status_line(self.controller.public_state()) + self._web_note

    def _on_tick(self, _event: LoopTicked) -> None:
        """On the room loop, after each tick that completed."""
        if self._stopped:
            return
        now = self._clock()
        if self._interval is not None and (self._last_ping is None or now - self._last_ping >= self._interval):
            self._last_ping = now
            self.notifier.watchdog()
        version = self.controller.version
        if version == self._seen_version:
            return
        self._seen_version = version
        with self._lock:
            text = self._status_text()
            if text == self._last_status:
                return
            self._last_status = text
        self.notifier.status(text)
