"""The calendar watcher: reads the room's calendar on a thread of its own and hands bookings to the room.

The room controller never reads or parses the calendar: a 10 MB calendar takes seconds to
parse, and the room's button, lights and ``/api/state`` must not wait for it. The watcher
(thread ``calendar-watcher``, started and stopped by :class:`kiosk.service.Kiosk`):

1. fetches from its source (:mod:`kiosk.calendar_source`): a file every :data:`FILE_POLL_S`
   (a ``stat``), a URL every ``[schedule] ics_refresh_s`` with a conditional request;
2. parses only when the content changed, or when the date changed, in a child process
   (:func:`kiosk.calendar_ics.parse_isolated`: no shared interpreter lock, killed if it runs
   too long), for a window of today and tomorrow, so that at midnight the controller moves on to the
   next day's bookings by itself (it picks the booking that matters from this window);
3. keeps the last calendar that parsed in the state directory and uses it while the
   source is unreachable (also after a restart);
4. hands the bookings and the calendar's health to
   :meth:`~kiosk.controller.RoomController.set_bookings` when either changed, and at least
   every :data:`REDELIVER_S` (so the health's ``last_good_at`` stays current).

Health (``/api/state`` ``calendar``, ``/metrics``, MQTT ``state.calendar``, ``kiosk doctor``):
``source`` (``file`` or ``url``), ``last_good_at`` (when the source last gave, or confirmed
unchanged, a calendar that parsed; ISO 8601), ``events_skipped``, ``error`` (why the last
attempt failed, or null) and ``stale`` (true while the bookings may be out of date: the last
attempt failed, or no calendar was ever read). Log lines and health never quote the calendar.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import date, datetime
from zoneinfo import ZoneInfo

from kiosk import calendar_ics
from kiosk.calendar_source import KeptCopy, SourceError, open_source

log = logging.getLogger("kiosk.calendar")

#: Seconds between looks at a calendar file (a stat: cheap).
FILE_POLL_S = 5.0
#: After a failed fetch of a URL, try again after this many seconds (or ics_refresh_s if sooner).
RETRY_S = 60.0
#: Bookings and health are handed over at least this often.
REDELIVER_S = 60.0


def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat(timespec="seconds") if dt is not None else None


class CalendarWatcher:
    """Reads ``cfg.schedule.ics`` and calls ``deliver(bookings, health)`` from its own thread.

    ``now`` is injectable (tests); ``state_dir`` defaults to the configuration's.
    :meth:`poll` does one round and may be called directly (tests, ``kiosk doctor``).
    """

    def __init__(self, cfg, deliver, *, now=None, state_dir=None):
        self.cfg = cfg.schedule
        self.tz = ZoneInfo(cfg.schedule.timezone)
        self.deliver = deliver
        self._now = now or (lambda: datetime.now(self.tz))
        self.kept = KeptCopy(state_dir if state_dir is not None else cfg.state_dir())
        self.source = open_source(cfg.schedule)
        self.poll_s = FILE_POLL_S if self.source.kind == "file" else cfg.schedule.ics_refresh_s
        self.poll_s = min(self.poll_s, cfg.schedule.ics_refresh_s)
        self._data: bytes | None = None
        self._parsed: calendar_ics.ParsedCalendar | None = None
        self._parsed_day: date | None = None
        self._last_good: datetime | None = None
        self._error: str | None = "not read yet"
        self._parse_error: str | None = None
        self._next_fetch = 0.0
        self._delivered = None
        self._delivered_at = -REDELIVER_S
        self._started = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> "CalendarWatcher":
        """Start the ``calendar-watcher`` thread (its first round reads the kept copy, then the source)."""
        self._thread = threading.Thread(target=self._run, name="calendar-watcher", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        """Stop the thread (a fetch in progress ends within ``ics_timeout_s``)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout if timeout is not None else self.cfg.ics_timeout_s * 3 + 5)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll()
            except Exception:  # a bug here must not end the watcher: the room keeps its bookings
                log.exception("Calendar: reading failed")
            self._stop.wait(min(self.poll_s, 1.0) if self._parsed is None else 1.0)

    # -- one round ----------------------------------------------------------------------

    def poll(self) -> dict:
        """Fetch if due, parse if changed or the day moved on, deliver if anything changed; return the health."""
        if not self._started:
            self._started = True
            self._use_kept_copy()
        if time.monotonic() >= self._next_fetch:
            self._fetch()
        today = self._now().date()
        if self._data is not None and self._parsed_day != today:
            self._parse(self._data)  # the window moves on with the date
        self._deliver()
        return self.health()

    def _use_kept_copy(self) -> None:
        data, meta = self.kept.load(self.cfg.ics)
        if data is None:
            return
        try:
            self._parsed = calendar_ics.parse_isolated(data, *calendar_ics.window(self._now()), self.cfg.timezone)
        except calendar_ics.CalendarError:
            return
        self._data, self._parsed_day = data, self._now().date()
        try:
            self._last_good = datetime.fromisoformat(meta.get("fetched_at", ""))
        except (TypeError, ValueError):
            self._last_good = None
        if hasattr(self.source, "validators"):
            self.source.validators = {k: meta.get(k) for k in ("etag", "last_modified") if meta.get(k)}
        log.info("Calendar: using the copy kept from %s until the source answers", _iso(self._last_good) or "before")

    def _fetch(self) -> None:
        try:
            data = self.source.fetch()
        except SourceError as exc:
            self._next_fetch = time.monotonic() + (min(RETRY_S, self.poll_s) if self.source.kind == "url"
                                                   else self.poll_s)
            self._set_error(exc.reason)
            return
        self._next_fetch = time.monotonic() + self.poll_s
        if data is None:  # unchanged: what was read before still stands
            if self._data is not None and self._parse_error is None:
                self._last_good = self._now()
            self._set_error(self._parse_error)
            return
        if self._parse(data):
            self._data, self._last_good = data, self._now()
            meta = {"fetched_at": _iso(self._last_good), **getattr(self.source, "pending", {})}
            self.source.remember(meta)
            try:
                self.kept.save(self.cfg.ics, data, meta)
            except OSError as exc:
                log.warning("Calendar: cannot keep a copy in %s (%s): a restart while the source is "
                            "unreachable will show no bookings", self.kept.dir, exc.strerror)

    def _parse(self, data: bytes) -> bool:
        now = self._now()
        try:
            parsed = calendar_ics.parse_isolated(data, *calendar_ics.window(now), self.cfg.timezone)
        except calendar_ics.CalendarError as exc:
            self._parse_error = exc.reason
            self._set_error(exc.reason)
            return False
        self._parsed, self._parsed_day, self._parse_error = parsed, now.date(), None
        self._set_error(None)
        if parsed.skipped:
            log.warning("Calendar: %d of %d events skipped: %s", parsed.skipped, parsed.events,
                        "; ".join(parsed.reasons))
        return True

    def _set_error(self, error: str | None) -> None:
        if error != self._error:
            if error:
                using = "the last good calendar is used" if self._parsed is not None else "no bookings are known"
                log.warning("Calendar %s: %s (%s)", self.source.describe(), error, using)
            elif self._error and self._error != "not read yet":
                log.info("Calendar %s: read again", self.source.describe())
        self._error = error

    # -- handing over -------------------------------------------------------------------

    def health(self) -> dict:
        """The calendar's health as shown in ``/api/state`` (see the module docstring)."""
        return {
            "source": self.source.kind,
            "last_good_at": _iso(self._last_good),
            "events_skipped": self._parsed.skipped if self._parsed else 0,
            "error": self._error,
            "stale": self._error is not None or self._parsed is None,
        }

    def _deliver(self) -> None:
        bookings = self._parsed.bookings if self._parsed else ()
        health = self.health()
        changed = (bookings, {k: v for k, v in health.items() if k != "last_good_at"})
        if changed == self._delivered and time.monotonic() - self._delivered_at < REDELIVER_S:
            return
        self._delivered, self._delivered_at = changed, time.monotonic()
        self.deliver(list(bookings), health)
