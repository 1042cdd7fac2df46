"""Reading the room's calendar away from the room's loop.

Parsing an ICS file can take a long time (0.7 s for 3,000 bookings here; far more for a
large or heavily recurring calendar), so it never runs on the room's loop:
:class:`CalendarWatcher` reads today's bookings on its own thread, when the file changes
and at least once a minute (the day moves on), and hands them to
:meth:`kiosk.controller.RoomController.set_bookings`. The loop then only decides which
booking matters now. The parsing itself runs in a child process (``python -m
kiosk.calendar_watch``): in a thread of the kiosk's own process it would hold the
interpreter lock for most of that time, and a button press would wait for it. Only times
are read, never titles (DOMAIN D15).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable

from kiosk import schedule
from kiosk.errors import ConfigError

log = logging.getLogger("kiosk.calendar")

#: How often the watcher looks at the file's modification time.
POLL_S = 1.0
#: Re-read at least this often even when the file is unchanged: "today" moves on at midnight.
REFRESH_S = 60.0
#: A child parsing for longer than this is stopped and the calendar not used this time.
PARSE_TIMEOUT_S = 120.0


def read_today(path: str, now: datetime, tz: str) -> list:
    """Today's bookings (``now``'s day) from the ICS file at ``path``; [] with a log line if it cannot be used."""
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    try:
        return schedule.load_bookings(path, day_start, day_start + timedelta(days=1), tz)
    except ConfigError as exc:
        log.warning("Calendar not used: %s", exc)
        return []


def read_in_child(path: str, now: datetime, tz: str) -> list:
    """:func:`read_today` in a child process (see the module docstring); [] with a log line on failure."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(Path(__file__).resolve().parent.parent), os.environ.get("PYTHONPATH")]))}
    try:
        done = subprocess.run([sys.executable, "-m", "kiosk.calendar_watch", path, tz, now.isoformat()],
                              capture_output=True, text=True, timeout=PARSE_TIMEOUT_S, env=env)
        answer = json.loads(done.stdout)
    except subprocess.TimeoutExpired:
        log.warning("Calendar not used: reading %s took longer than %g s", path, PARSE_TIMEOUT_S)
        return []
    except (OSError, ValueError) as exc:
        log.warning("Calendar not used: the reader failed (%s)", exc)
        return []
    if answer.get("error"):
        log.warning("Calendar not used: %s", answer["error"])
        return []
    return [schedule.Booking(datetime.fromisoformat(start), datetime.fromisoformat(end) if end else None,
                             source=source) for start, end, source in answer["bookings"]]


def _child(argv: list[str]) -> int:
    """``python -m kiosk.calendar_watch PATH TZ NOW``: today's bookings as JSON on standard output."""
    path, tz, now = argv
    day_start = datetime.fromisoformat(now).replace(hour=0, minute=0, second=0, microsecond=0)
    try:
        bookings = schedule.load_bookings(path, day_start, day_start + timedelta(days=1), tz)
    except ConfigError as exc:
        print(json.dumps({"error": str(exc)}))
        return 0
    print(json.dumps({"bookings": [[b.start.isoformat(), b.end.isoformat() if b.end else None, b.source]
                                   for b in bookings]}))
    return 0


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
        return read_in_child(self.path, self._now(), self.tz)

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


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
