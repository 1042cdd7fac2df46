"""Reading the room's calendar away from the room's loop.

Parsing an ICS file can take a long time (a large or heavily recurring calendar), so it
never runs on the room's loop: :class:`CalendarWatcher` reads today's bookings on its own
thread, when the file changes and at least once a minute (the day moves on), and hands
them to :meth:`kiosk.controller.RoomController.set_bookings`. The loop then only decides
which booking matters now. Only times are read, never titles (DOMAIN D15).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import datetime, timedelta
from typing import Callable

from kiosk import schedule
from kiosk.errors import ConfigError

log = logging.getLogger("kiosk.calendar")

#: How often the watcher looks at the file's modification time.
POLL_S = 1.0
#: Re-read at least this often even when the file is unchanged: "today" moves on at midnight.
REFRESH_S = 60.0


def read_today(path: str, now: datetime, tz: str) -> list:
    """Today's bookings (``now``'s day) from the ICS file at ``path``; [] with a log line if it cannot be used."""
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    try:
        return schedule.load_bookings(path, day_start, day_start + timedelta(days=1), tz)
    except ConfigError as exc:
        log.warning("Calendar not used: %s", exc)
        return []


class CalendarWatcher:
    """Reads ``path`` when it changes (or every :data:`REFRESH_S`) and calls ``deliver(bookings)``.

    :meth:`read` reads once in the caller's thread (used at construction, before anything
    runs); :meth:`start` starts the ``room-calendar`` thread; :meth:`stop` ends it.
    """

    def __init__(self, path: str, tz: str, now: Callable[[], datetime], deliver: Callable[[list], None]):
        self.path, self.tz = path, tz
        self._now, self._deliver = now, deliver
        self._mtime: float | None = None
        self._read_at = 0.0
        self._stop = threading.Event()
        self.thread: threading.Thread | None = None

    def _stat(self) -> float | None:
        try:
            return os.stat(self.path).st_mtime
        except OSError:
            return None

    def read(self) -> list:
        """Read today's bookings now (in the calling thread) and remember the file's version."""
        self._mtime, self._read_at = self._stat(), time.monotonic()
        return read_today(self.path, self._now(), self.tz)

    def _due(self) -> bool:
        return self._stat() != self._mtime or time.monotonic() - self._read_at >= REFRESH_S

    def _run(self) -> None:
        while not self._stop.wait(POLL_S):
            try:
                if self._due():
                    self._deliver(self.read())
            except Exception:  # the calendar is a convenience: never the end of the kiosk
                log.exception("Reading the calendar failed")

    def start(self) -> threading.Thread:
        """Start watching; returns the thread."""
        self.thread = threading.Thread(target=self._run, name="room-calendar", daemon=True)
        self.thread.start()
        return self.thread

    def stop(self) -> None:
        """Stop watching (the thread ends within :data:`POLL_S`)."""
        self._stop.set()
