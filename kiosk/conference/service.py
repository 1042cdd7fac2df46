"""The chair's service: it writes and reads the conference record, and tells the room what it may know.

:class:`ChairService` is what the chair's page and its JSON API (``web_ui.chair``,
``web_ui.api``) talk to; it holds no web code and no sign-in (that is
:mod:`kiosk.conference.access`). It wraps the record (:class:`~kiosk.conference.store.ConferenceStore`)
and adds:

- **The room's share** (D15): after every change it publishes on the event bus the live
  conference's *counts* only (:class:`~kiosk.events.AttendanceCounted`), today's start time
  (:class:`~kiosk.events.StartTimeSet`) and the end of today's session
  (:class:`~kiosk.events.SessionEndRequested`). The composition root (:mod:`kiosk.service`)
  hands them to the room controller; this module never calls it. Names never leave this
  module except in :meth:`ChairService.view`, :meth:`record` and friends, which are for the
  chair's page behind the login.
- **The quality facts' cue**: :class:`~kiosk.events.ConferenceEnded` after an end, and
  :class:`~kiosk.events.ConferenceAmended` (id and month only) when the record of an ended
  conference changes (a report or a correction after the end, its details or an invitee's), published
  outside every lock so that the subscriber (:mod:`kiosk.quality.service`) may read the record.
- **The live conference**: today's conference (not ended) in which attendance was last
  recorded. Preparing another conference of the day does not move the room's counts. At
  :meth:`~ChairService.start` it is found again in the record, and the room is given its counts
  and start, so a restart mid-conference does not leave the room at none.
- **Today's next start**: the housekeeping pass announces it once per (conference, start time);
  when the room's session ends (:class:`~kiosk.events.SessionEnded`) and with it the start it
  used, it is announced again.
- **Retention**: a thread purges the conferences past ``[conference] retention_days``
  once a minute (:meth:`ConferenceStore.purge_due`), and the chair can purge one at once.
  A purge drops every view of the conference (:class:`~kiosk.conference.view_cache.ViewCache`)
  and is announced as :class:`~kiosk.events.ConferencePurged`, so the web's renderings go too.
- **The chair's view** (:meth:`view`): :func:`kiosk.conference.view.build_view` of the record
  as stored, kept in a :class:`~kiosk.conference.view_cache.ViewCache` while it holds.
- **Long-polls** (:meth:`wait_for_revision`): one Condition per conference.

Every event is time-stamped by the kiosk's clock (``now``): callers cannot date one.

Threading: ``_lock`` (an RLock) makes a change and what the room is told of it one step
(the store, ``_live_id``, ``_announced``), and the room hears of changes in the order they
were made because they are published under it (the room's subscribers only post a
message or set a value). The start button's :class:`~kiosk.events.SessionStarted` and the
room's :class:`~kiosk.events.SessionEnded` arrive on the controller's thread and are handled
on a thread of their own (:class:`~kiosk.events.ScheduleChanged` only sets a value), so no
lock of this module is ever taken while the controller's is held, and the room's loop never
waits for ``_lock`` while its holder waits for the loop. Lock order: ``views.building``, then
``_lock``, then the store's own; the view cache's ``_lock`` and a long-poll's Condition
are taken alone, for dict operations only.

Log lines carry ids, kinds and counts, never names, notes or case references (D15).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from datetime import date, datetime, timedelta, timezone
from typing import Callable, ContextManager
from zoneinfo import ZoneInfo

from kiosk.conference import presence, record as record_mod, view as view_mod
from kiosk.conference.errors import ConferenceError, InvalidInput, NotFound
from kiosk.conference.model import Conference, EventKind, Invitee, Status
from kiosk.conference.store import ConferenceStore
from kiosk.conference.view import ACTIONS, VIEW_LOG_ROWS, Action
from kiosk.conference.view_cache import CachedView, ViewCache
from kiosk.events import (AttendanceCounted, ConferenceAmended, ConferenceEnded, ConferencePurged, EventBus,
                          ScheduleChanged, SessionEnded, SessionEndRequested, SessionStarted, StartTimeSet)

log = logging.getLogger("kiosk.conference.service")

#: How often the retention thread looks for conferences to purge (and today's start time to announce).
HOUSEKEEPING_S = 60.0

#: Kinds that change who is present: recording one makes its conference the live one.
_ATTENDANCE_KINDS = frozenset(k for k in presence.TRANSITIONS if k is not EventKind.REPORT_RECEIVED)

#: How long an Idempotency-Key's answer is kept: a repeat within this returns it instead of recording again.
IDEMPOTENCY_TTL = timedelta(hours=24)
#: The largest page of the log or of the list of conferences.
MAX_PER_PAGE = 500
#: A revision no conference reaches: what waiters see once their conference is purged.
_GONE = 2 ** 62

#: How long a request waits for the view a tap is computing (milliseconds, normally) before computing it.
_WAIT_FOR_TAP_S = 5.0
#: A tap is saved within this (seconds) unless the disk stalls.
_TAP_IS_QUICK_S = 0.02


class ChairService:
    """The conference record of one room. :meth:`start` it, then :meth:`stop` it.

    ``bus`` (a :class:`kiosk.events.EventBus`, usually the room controller's; a private one
    without) carries what the room is told (counts, start time, end of session) and the
    room's start button. ``now`` is the kiosk's clock (aware; UTC by default), injectable
    for tests. ``store`` defaults to the database in ``cfg.state_dir()``. ``waiting`` is entered around
    a wait for another request's tap to be saved (milliseconds; longer if the disk stalls): the
    composition root passes the web server's (:func:`web_ui.admission.waiting`), so that the waiting
    request gives its place back meanwhile.
    """

    def __init__(self, cfg, bus: EventBus | None = None, *, store: ConferenceStore | None = None,
                 now: Callable[[], datetime] | None = None,
                 waiting: Callable[[], ContextManager] = contextlib.nullcontext):
        self.cfg = cfg
        self.settings = cfg.conference
        self.tz = ZoneInfo(cfg.schedule.timezone)
        self.bus = bus if bus is not None else EventBus()
        self._now = now or (lambda: datetime.now(timezone.utc))
        self.state_dir = cfg.state_dir()
        self.store = store or ConferenceStore.in_state_dir(self.state_dir, settings=self.settings, tz=self.tz,
                                                           now=self._now)
        self._lock = threading.RLock()
        self.views = ViewCache()
        self._waiting = waiting
        self._live_id: int | None = None
        self._announced: tuple[int, datetime] | None = None  # the start time we gave the room
        self._room_start_is_ours = False  # the room's start time is the chair's (from ScheduleChanged)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Long-polls (``?since=``): one Condition per conference, and the revision last announced on it. The
        # predicate reads only that number, so no waiter holds a Condition's lock while SQLite is read.
        self._conditions: dict[int, threading.Condition] = {}
        self._announced_revisions: dict[int, int] = {}
        self._unsubscribe = [self.bus.subscribe(self._on_schedule, ScheduleChanged)]

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> "ChairService":
        """Start the retention thread (it purges at once, then every minute) and listen for the start button."""
        if len(self._unsubscribe) == 1:
            self._unsubscribe.append(self.bus.subscribe(self._on_session_started, SessionStarted))
            self._unsubscribe.append(self.bus.subscribe(self._on_session_ended, SessionEnded))
            self._resume_live()
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._housekeeping_loop, name="chair-housekeeping", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the retention thread and close the database (idempotent)."""
        self._stop.set()
        while self._unsubscribe:
            self._unsubscribe.pop()()
        with self._lock:
            conditions = list(self._conditions.values())
        for condition in conditions:  # long-polls answer now rather than wait on a closed record
            with condition:
                condition.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        with self._lock:
            self.store.close()

    def __enter__(self) -> "ChairService":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _housekeeping_loop(self) -> None:
        while not self._stop.is_set():
            self.housekeeping()
            self._stop.wait(HOUSEKEEPING_S)

    def housekeeping(self) -> None:
        """Purge what is past retention and announce today's next start; never raises (it runs unattended)."""
        try:
            self.purge_due()
        except Exception:
            log.exception("Purging conferences past their retention period failed; will try again")
        try:
            self._announce_next_start()
        except Exception:
            log.exception("Could not give the room today's conference start time")
        try:
            self.store.forget_answers(self._now() - IDEMPOTENCY_TTL)
        except Exception:
            log.exception("Could not delete the answers kept for retried requests; will try again")

    # -- time -----------------------------------------------------------------------

    def now(self) -> datetime:
        """The kiosk's clock, aware."""
        return self._now()

    def today(self) -> date:
        """Today in the room's time zone."""
        return self._now().astimezone(self.tz).date()

    # -- the room's share (counts only) -----------------------------------------------

    def _tell_room(self, event) -> None:
        """Publish ``event`` for the room (the caller holds ``_lock``, so the room hears changes in order)."""
        self.bus.publish(event)

    def _on_schedule(self, event: ScheduleChanged) -> None:
        self._room_start_is_ours = event.source == "chair"

    def _publish(self, conference_id: int, counts: dict | None = None) -> None:
        """Tell the room the live conference's counts (never names), or zeros once it is over.

        ``counts``: the quorum part of a view computed just now, if there is one (saves computing it again).
        """
        if self._live_id != conference_id:
            return
        try:
            conference = self.store.get_conference(conference_id)
        except NotFound:
            conference = None
        if conference is None or not self._may_be_live(conference):
            self._live_id = None
            self._tell_room(AttendanceCounted(0, 0, False))
            return
        if counts is None:
            counts = self.store.quorum(conference_id).to_dict()
        self._tell_room(AttendanceCounted(counts["in_person"], counts["virtual"], counts["quorate"]))

    def _announce(self, conference: Conference) -> None:
        """Tell the room the start time of today's conference the chair just saved, unless another
        conference of the day is under way."""
        if self._may_be_live(conference) and self._live_id in (None, conference.id):
            start = conference.starts_at(self.tz)
            self._tell_room(StartTimeSet(start))
            self._announced = (conference.id, start)
        elif self._announced is not None and self._announced[0] == conference.id:
            self._tell_room(StartTimeSet(None))  # moved to another day, or ended
            self._announced = None

    def _announce_next_start(self) -> None:
        """On the day, the next conference saved earlier gives the countdown its start (once per start time)."""
        with self._lock:
            if self._live_id is not None or self._room_start_is_ours:
                return
            now = self._now()
            upcoming = [c for c in self.store.list_conferences(Status.SCHEDULED)
                        if c.date == self.today() and c.starts_at(self.tz) > now]
            if not upcoming:
                return
            nxt = min(upcoming, key=lambda c: c.starts_at(self.tz))
            start = nxt.starts_at(self.tz)
            if self._announced != (nxt.id, start):
                self._tell_room(StartTimeSet(start))
                self._announced = (nxt.id, start)

    # -- conferences ----------------------------------------------------------------

    def list_conferences(self) -> list[dict]:
        """Every stored conference, soonest first, with whether it is today's."""
        today = self.today()
        live = self._live_id
        return [view_mod.conference_dict(c, today, live) for c in self.store.list_conferences()]

    def create_conference(self, **fields) -> Conference:
        """A new conference (fields as :meth:`ConferenceStore.create_conference`); today's sets the countdown."""
        with self._lock:
            conference = self.store.create_conference(**fields)
            log.info("Conference %d created (%s, %s)", conference.id, conference.type.value, conference.date)
            self._announce(conference)
        self._case_changed(conference.case_ref)
        return conference

    def update_conference(self, conference_id: int, **changes) -> Conference:
        """Change a conference's type, date, start time, case reference or dates of earlier meetings."""
        with self._lock:
            before = self.store.get_conference(conference_id)
            conference = self.store.update_conference(conference_id, **changes)
            log.info("Conference %d changed (%s)", conference_id, ", ".join(sorted(changes)) or "nothing")
            self._announce(conference)
        for case_ref in {before.case_ref, conference.case_ref}:
            self._case_changed(case_ref)
        return conference

    def _case_changed(self, case_ref: str) -> None:
        """Wake the long-polls of every conference of the case (a new or moved one changes their views), and
        announce the ended ones as amended (their date, type or D7 timescale may have changed)."""
        for conference in self.store.conferences_for_case(case_ref):
            if conference.status is Status.ENDED:
                self._amended(conference)
            self._changed(conference.id)

    def get_conference(self, conference_id: int) -> Conference:
        """The conference (NotFound if there is none, or it was purged)."""
        return self.store.get_conference(conference_id)

    def end_conference(self, conference_id: int) -> Conference:
        """The conference is over: the room's session ends and its counts go back to zero."""
        with self._lock:
            conference = self.store.end_conference(conference_id)
            log.info("Conference %d ended", conference_id)
            if conference.date == self.today():
                if self._live_id in (None, conference_id):
                    self._tell_room(SessionEndRequested())
                self._announce(conference)
            self._publish(conference_id)
        self.bus.publish(ConferenceEnded(conference_id))  # after the lock: subscribers (the quality facts) save
        self._changed(conference_id)
        return conference

    def reopen_conference(self, conference_id: int, reason: str | None = None) -> Conference:
        """Reopen an ended conference: events can be recorded again. The end and the reopening stay in the log."""
        with self._lock:
            conference = self.store.reopen_conference(conference_id, reason)
            log.info("Conference %d reopened", conference_id)
            self._announce(conference)
        self._changed(conference_id)
        return conference

    def purge_conference(self, conference_id: int) -> dict:
        """Delete the conference's names and record now, keeping only anonymous counts (returned)."""
        with self._lock:
            summary = self.store.purge(conference_id)
            self.views.forget(conference_id)  # no computed view keeps the names a purge deleted
            self._publish(conference_id)
            if self._announced is not None and self._announced[0] == conference_id:
                self._tell_room(StartTimeSet(None))
                self._announced = None
        self._gone(conference_id)
        return summary

    def purge_due(self) -> list[int]:
        """Purge every conference past ``retention_days``; returns their ids."""
        with self._lock:
            ids = self.store.purge_due()
            for conference_id in ids:
                self.views.forget(conference_id)
            if ids:
                log.info("Purged %d conference(s) past the %d-day retention period", len(ids),
                         self.settings.retention_days)
            for conference_id in ids:
                self._publish(conference_id)
        for conference_id in ids:
            self._gone(conference_id)
        return ids

    def _gone(self, conference_id: int) -> None:
        """After a purge: long-polls answer, and whatever keeps a rendering of the conference drops it."""
        self._changed(conference_id, gone=True)
        self.bus.publish(ConferencePurged(conference_id))

    # -- invitees -------------------------------------------------------------------

    def _invitee_of(self, conference_id: int, invitee_id: int) -> Invitee:
        invitee = self.store.get_invitee(invitee_id)
        if invitee.conference_id != conference_id:
            raise NotFound(f"Invitee {invitee_id} is not on the list of conference {conference_id}")
        return invitee

    def add_invitee(self, conference_id: int, **fields) -> Invitee:
        """Invite someone (fields as :meth:`ConferenceStore.add_invitee`)."""
        with self._lock:
            invitee = self.store.add_invitee(conference_id, **fields)
            log.info("Conference %d: invitee %d added (%s)", conference_id, invitee.id, invitee.role.value)
        self._changed(conference_id)
        return invitee

    def update_invitee(self, conference_id: int, invitee_id: int, **changes) -> Invitee:
        """Change an invitee's details (only name and e-mail once events refer to them)."""
        with self._lock:
            self._invitee_of(conference_id, invitee_id)
            invitee = self.store.update_invitee(invitee_id, **changes)
            log.info("Conference %d: invitee %d changed (%s)", conference_id, invitee_id,
                     ", ".join(sorted(changes)) or "nothing")
            self._publish(conference_id)
            conference = self.store.get_conference(conference_id)
        if conference.status is Status.ENDED:  # e.g. the agency of someone with nothing recorded, after the end
            self._amended(conference)
        self._changed(conference_id)
        return invitee

    def remove_invitee(self, conference_id: int, invitee_id: int) -> None:
        """Take someone off the list (NotAllowed once events refer to them)."""
        with self._lock:
            self._invitee_of(conference_id, invitee_id)
            self.store.remove_invitee(invitee_id)
            log.info("Conference %d: invitee %d removed", conference_id, invitee_id)
        self._changed(conference_id)

    def import_csv(self, conference_id: int, text: str, notes: list[str] | None = None) -> list[Invitee]:
        """Add everyone in a CSV invitation list, all or nothing (CsvImportError lists the bad rows).
        ``notes`` (a list) receives what was ignored (columns the kiosk does not know)."""
        with self._lock:
            added = self.store.import_invitees_csv(conference_id, text, notes)
            log.info("Conference %d: %d invitee(s) imported from CSV", conference_id, len(added))
        self._changed(conference_id)
        return added

    def copy_previous(self, conference_id: int) -> list[Invitee]:
        """Copy the invitation list of the case's previous conference (people already listed are skipped)."""
        with self._lock:
            added = self.store.copy_invitees_from_previous(conference_id)
            log.info("Conference %d: %d invitee(s) copied from the previous conference", conference_id, len(added))
        self._changed(conference_id)
        return added

    # -- events ---------------------------------------------------------------------

    def record_event(self, conference_id: int, kind, invitee_id: int | None = None, details: dict | None = None,
                     expect_state: str | None = None):
        """Record an event now (kiosk clock); the room's counts follow at once, and so does the chair's view.

        ``expect_state``: the invitee's state as the client last saw it; StaleState (nothing recorded) if it
        has changed since. ConferenceClosed once the conference has ended (but for corrections and reports).
        """
        # A tap is what the chair is watching, so it computes the new view itself, and requests that see
        # the new event wait for that (on an Event of their own, not in a queue for the lock the next
        # tap needs) instead of computing it first while the tap waits behind them.
        with self.views.tap():
            with self._lock:
                event = self.store.append_event(conference_id, kind, invitee_id=invitee_id, details=details,
                                                expect_state=expect_state)
                log.info("Conference %d: event %d recorded (%s)", conference_id, event.id, event.kind.value)
                if event.kind in _ATTENDANCE_KINDS:
                    self._make_live(conference_id)
                conference = self.store.get_conference(conference_id)
            try:
                counts = self._compute_view(conference_id, self._now()).view["quorum"]
            except ConferenceError:
                counts = None  # saved all the same; view() gives the reason to whoever asks for it
            with self._lock:
                self._publish(conference_id, counts)
        if conference.status is Status.ENDED:  # a report or a correction after the end: the quality facts follow
            self._amended(conference)
        self._changed(conference_id)
        return event

    def _amended(self, conference: Conference) -> None:
        """Announce that an ended conference's record changed (outside every lock and tap, like the end:
        the subscriber, the quality facts, reads the view and saves in this thread)."""
        self.bus.publish(ConferenceAmended(conference.id, conference.date.strftime("%Y-%m")))

    def _make_live(self, conference_id: int) -> None:
        """Attendance recorded today in a conference not ended makes it the live one (the room's counts)."""
        if self._may_be_live(self.store.get_conference(conference_id)):
            self._live_id = conference_id

    def _may_be_live(self, conference: Conference) -> bool:
        """Only today's conference, not ended, can be the live one."""
        return conference.date == self.today() and conference.status is Status.SCHEDULED

    def _last_live(self) -> Conference | None:
        """The live conference as the record has it (after a restart): of those that may be live, the one in
        which attendance was last recorded (event ids grow with every recording)."""
        last: tuple[int, Conference] | None = None
        for conference in self.store.list_conferences(Status.SCHEDULED):
            if not self._may_be_live(conference):
                continue
            ids = [e.id for e in self.store.events(conference.id) if e.kind in _ATTENDANCE_KINDS]
            if ids and (last is None or max(ids) > last[0]):
                last = (max(ids), conference)
        return last[1] if last else None

    def _resume_live(self) -> None:
        """At start: find the live conference in the record again and give the room its counts and its start,
        so a restart mid-conference does not leave the room (display, MQTT, /metrics) at none. Never raises."""
        try:
            with self._lock:
                conference = self._last_live()
                if conference is None:
                    return
                self._live_id = conference.id
                log.info("Conference %d is live: the room gets its counts and start again", conference.id)
                self._announce(conference)
                self._publish(conference.id)
        except Exception:
            log.exception("Could not find today's live conference in the record; the next tap tells the room")

    def record_action(self, conference_id: int, invitee_id: int, action: str, expect_state: str | None = None):
        """One tap of the attendance table (a code of :data:`ACTIONS`); ``expect_state`` as in
        :meth:`record_event` (the state the page showed when the chair tapped)."""
        if not isinstance(action, str) or action not in ACTIONS:
            raise InvalidInput(f"unknown action (known: {', '.join(ACTIONS)})")
        a = ACTIONS[action]
        return self.record_event(conference_id, a.kind, invitee_id, dict(a.details), expect_state=expect_state)

    def record_report(self, conference_id: int, invitee_id: int, received_on=None):
        """D8: the invitee's report arrived on ``received_on`` (default today)."""
        received_on = received_on or self.today().isoformat()
        return self.record_event(conference_id, EventKind.REPORT_RECEIVED, invitee_id,
                                 {"received_on": received_on})

    def correct_event(self, conference_id: int, event_id: int, reason: str):
        """Void an earlier event, with the reason (a new event: the log keeps both)."""
        return self.record_event(conference_id, EventKind.CORRECTION, None, {"event_id": event_id, "reason": reason})

    # -- the room's start button -------------------------------------------------------

    def _on_session_started(self, _event) -> None:
        """The room's start button started the session: record the start on a thread of its own.

        The controller may publish while holding its lock; recording saves to disk and tells the room the
        counts, so it must not happen on the publishing thread (a lock held across the disk, and a tap on
        the web thread waiting for the room while the room waits for it).
        """
        threading.Thread(target=self._record_session_start, args=(self._now(),), name="chair-session-start",
                         daemon=True).start()

    def _record_session_start(self, at: datetime) -> None:
        """Today's conference nearest its booked start records its start (``at``), unless one is recorded.
        Never raises (it runs unattended); the chair can correct the recorded start like any event."""
        try:
            today = [c for c in self.store.list_conferences(Status.SCHEDULED) if c.date == self.today()]
            if self._live_id is not None:
                today = [c for c in today if c.id == self._live_id] or today
            for conference in sorted(today, key=lambda c: abs((c.starts_at(self.tz) - at).total_seconds())):
                standing, _ = presence.effective(self.store.events(conference.id))
                if not any(e.kind is EventKind.STARTED for e in standing):
                    self.record_event(conference.id, EventKind.STARTED, None,
                                      {"note": "started with the room's start button"})
                    log.info("Conference %d: start recorded from the room's start button", conference.id)
                return
        except Exception:
            log.exception("Could not record the conference's start from the room's start button")

    def _on_session_ended(self, _event) -> None:
        """The room's session ended, and with it the start time it used: give the room the next one, from a
        thread of its own (this runs on the room's loop, which the announcement waits for)."""
        threading.Thread(target=self._announce_after_session, name="chair-session-end", daemon=True).start()

    def _announce_after_session(self) -> None:
        """Today's next conference gives the room its start again, even one announced before. Never raises."""
        try:
            with self._lock:
                if self._stop.is_set():  # stopped meanwhile: the record is closed
                    return
                if not self._room_start_is_ours:  # the room let go of ours (ScheduleChanged came before the end)
                    self._announced = None
                self._announce_next_start()
        except Exception:
            log.exception("Could not give the room today's next conference start time after its session ended")

    # -- revisions and long-polls ------------------------------------------------------

    def revision(self, conference_id: int) -> int:
        """A number that grows with every change to the conference (NotFound once it is purged)."""
        return self.store.revision(conference_id)

    def _condition(self, conference_id: int) -> threading.Condition:
        with self._lock:
            condition = self._conditions.get(conference_id)
            if condition is None:
                condition = self._conditions[conference_id] = threading.Condition(threading.Lock())
            return condition

    def _changed(self, conference_id: int, gone: bool = False) -> None:
        """Wake the long-polls waiting on the conference (its revision read first, outside their lock)."""
        try:
            revision = _GONE if gone else self.store.revision(conference_id)
        except ConferenceError:
            revision = _GONE
        condition = self._condition(conference_id)
        with condition:
            self._announced_revisions[conference_id] = max(revision, self._announced_revisions.get(conference_id, 0))
            condition.notify_all()
        if gone:
            with self._lock:
                self._conditions.pop(conference_id, None)

    def wait_for_revision(self, conference_id: int, since: int, timeout: float) -> int:
        """Wait up to ``timeout`` seconds until the conference's revision passes ``since``; returns the revision
        seen (NotFound if there is no such conference). Returns early, unchanged, when the service stops."""
        revision = self.store.revision(conference_id)
        if revision > since or timeout <= 0:
            return revision
        condition = self._condition(conference_id)
        with condition:
            known = self._announced_revisions.get(conference_id, 0)
            if known < revision:
                self._announced_revisions[conference_id] = known = revision
            condition.wait_for(lambda: self._announced_revisions.get(conference_id, 0) > since
                               or self._stop.is_set(), timeout)
            return self._announced_revisions.get(conference_id, known)

    # -- pages of long lists -------------------------------------------------------------

    @staticmethod
    def _page(items: list, page: int, per_page: int) -> tuple[list, dict]:
        if isinstance(page, bool) or not isinstance(page, int) or page < 1:
            raise InvalidInput("page must be a whole number, 1 or more")
        if isinstance(per_page, bool) or not isinstance(per_page, int) or not 1 <= per_page <= MAX_PER_PAGE:
            raise InvalidInput(f"per_page must be a whole number from 1 to {MAX_PER_PAGE}")
        total = len(items)
        pages = max(1, -(-total // per_page))
        start = (page - 1) * per_page
        return items[start:start + per_page], {"page": page, "per_page": per_page, "total": total, "pages": pages}

    def conference_page(self, page: int = 1, per_page: int = 50) -> dict:
        """One page of :meth:`list_conferences`: ``{"conferences": [...], "page", "per_page", "total", "pages"}``."""
        items, info = self._page(self.list_conferences(), page, per_page)
        return {"conferences": items, **info}

    def log_page(self, conference_id: int, page: int = 1, per_page: int = 50) -> dict:
        """One page of the conference's whole log, newest first: ``{"events": [...], "page", "per_page",
        "total", "pages", "revision"}``; rows as in the view's ``events``."""
        with self._lock:
            conference = self.store.get_conference(conference_id)
            invitees = self.store.invitees(conference_id)
            events = self.store.events(conference_id)
            revision = self.store.revision(conference_id)
        items, info = self._page(events[::-1], page, per_page)
        _, voided = presence.effective(events)
        names = {i.id: i.name for i in invitees}
        return {"events": [view_mod.log_row(e, conference, names, voided, self.tz) for e in items], **info,
                "revision": revision}

    # -- answers kept for retried requests (Idempotency-Key) -----------------------------

    def recall_answer(self, scope: str, key: str) -> tuple[str, int | None, str | None, dict] | None:
        """The (request, status, body, headers) first answered to ``key`` from ``scope`` in the last 24 hours,
        or None. Status and body are None when the key's change was saved but its answer never was (a crash in
        between: the key is saved with the change, see :mod:`kiosk.conference.retry_key`)."""
        return self.store.recall_answer(scope, key, self._now() - IDEMPOTENCY_TTL)

    def keep_answer(self, scope: str, key: str, conference_id: int | None, request: str, status: int,
                    body: str, headers: dict | None = None) -> None:
        """Keep an answer for 24 hours, so that a repeat of ``key`` gets it verbatim and records nothing
        (``headers``: the few that are part of the answer, Content-Type and Location)."""
        self.store.keep_answer(scope, key, conference_id, request, status, body, headers)

    # -- views ----------------------------------------------------------------------

    def quorum(self, conference_id: int) -> dict:
        """Quorum now, with its reason and the chair's decision in force (no names)."""
        return self.view(conference_id)["quorum"]

    def record(self, conference_id: int) -> dict:
        """The attendance record for the minutes (:func:`kiosk.conference.record.build_record`)."""
        return self.store.record(conference_id)

    def record_csv(self, conference_id: int) -> str:
        """The attendance record as CSV (cells safe from spreadsheet formulas)."""
        return record_mod.to_csv(self.store.record(conference_id))

    def view(self, conference_id: int) -> dict:
        """Everything the chair's page shows about one conference, as plain data (names included).

        A view changes only when the conference's revision moves or the clock passes the scheduled
        start, midnight or an event time: until then the one computed before is served (a page with a
        few hundred events costs milliseconds to compute, and every tablet and API client asks for it).
        A recorded event computes it at once (:meth:`record_event`).
        """
        computed, now = self._current_view(conference_id)
        return {**computed.view, "now": now}

    def view_json(self, conference_id: int) -> str:
        """:meth:`view` as JSON text, for the API: encoded once per computed view, not once per request."""
        computed, now = self._current_view(conference_id)
        encoded = self.views.json(conference_id, computed)
        return f'{encoded[:-1]},"now":"{now}"}}'

    def _current_view(self, conference_id: int) -> tuple[CachedView, str]:
        """The view computed for this moment (computed now if none is) and the time it is for."""
        # A tap being saved: wait for it (milliseconds) rather than compete with it for the interpreter.
        self.views.wait_for_tap(_TAP_IS_QUICK_S, _WAIT_FOR_TAP_S, self._waiting)
        now = self._now()
        computed = self.views.get(conference_id, self.store.revision(conference_id), now)
        if computed is None:
            # One thread computes; the others asking at the same moment (every tablet after a change) wait for it.
            with self.views.building:
                # Read the clock again: a view computed for the moment before a change saved while this
                # thread waited would end at that change's time, and the next request would compute it again.
                now = self._now()
                computed = (self.views.get(conference_id, self.store.revision(conference_id), now)
                            or self._compute_view(conference_id, now))
        return computed, view_mod.clock(now, self.tz, seconds=True)

    def _compute_view(self, conference_id: int, now: datetime) -> CachedView:
        """Compute the view at ``now`` from the record as stored, and keep it."""
        with self._lock:
            conference, invitees, events, fold = self.store.folded(conference_id)
            setting = view_mod.Setting(self.settings, self.tz, tuple(self.store.conferences_for_case(
                conference.case_ref)), self._live_id)
        view, valid_until = self._build_view(conference, invitees, events, now, setting, fold)
        return self.views.put(conference_id, view["revision"], valid_until, view)

    #: The view's pure function (a name of its own, so a test can count its calls).
    _build_view = staticmethod(view_mod.build_view)


__all__ = ["ACTIONS", "Action", "ChairService", "MAX_PER_PAGE", "VIEW_LOG_ROWS"]
