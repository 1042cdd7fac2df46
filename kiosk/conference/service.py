"""The chair's service: the conference record, the chair's PIN and pairing codes, and what the room may show.

:class:`ChairService` is what the chair's page and its JSON API (``web_ui.chair``,
``web_ui.api``) talk to; it holds no web code. It wraps the domain package
(:class:`~kiosk.conference.store.ConferenceStore`, :mod:`~kiosk.conference.pin`,
:mod:`~kiosk.conference.quorum`, :mod:`~kiosk.conference.record`,
:mod:`~kiosk.conference.workdays`) and adds:

- **The room's share** (D15): after every change it hands the room controller the
  live conference's *counts* only, ``controller.set_attendance(in_person, virtual,
  quorate)``, and today's start time (``controller.set_start(dt, "chair")``). Names
  never leave this module except in :meth:`ChairService.view`, :meth:`record` and
  friends, which are for the chair's page behind the login.
- **The live conference**: today's conference (not ended) in which attendance was last
  recorded. Preparing another conference of the day does not move the room's counts.
- **Sign-in**: the chair's PIN (:class:`~kiosk.conference.pin.PinStore`, checked
  through :class:`~kiosk.conference.pin.Lockout` per client and overall) and one-time
  pairing codes that hand a signed-in session over to a tablet (8 characters, 5
  minutes, one use; a wrong code counts as a wrong PIN).
- **Retention**: a thread purges the conferences past ``[conference] retention_days``
  once a minute (:meth:`ConferenceStore.purge_due`), and the chair can purge one at once.
- **The chair's view** of a conference (:meth:`view`): invitees with where each one
  stands, the taps allowed for them, quorum with its reason and the decision in force,
  reports against their due date, D7 timescales and every warning, and the event log.

Every event is time-stamped by the kiosk's clock (``now``): callers cannot date one.

Log lines carry ids, kinds and counts, never names, notes or case references (D15).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Callable, ContextManager
from zoneinfo import ZoneInfo

from kiosk.conference import presence, quorum, record as record_mod, workdays
from kiosk.conference.errors import ConferenceError, InvalidInput, NotAllowed, NotFound, StaleState
from kiosk.conference.model import Conference, ConferenceType, EventKind, Invitee, Mode, Status
from kiosk.conference.pin import Lockout, PinStore
from kiosk.conference.store import ConferenceStore
from kiosk.events import ConferenceEnded

log = logging.getLogger("kiosk.conference.service")

#: A pairing code's letters: no 0/O, 1/I/L, so it can be typed from a screen without doubt.
PAIRING_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
PAIRING_LENGTH = 8
PAIRING_TTL_S = 300.0
#: How often the retention thread looks for conferences to purge (and today's start time to announce).
HOUSEKEEPING_S = 60.0
#: Longest PIN or code text accepted before hashing (the rules allow 12 digits).
MAX_SECRET_LENGTH = 64


class PinNotSet(NotAllowed):
    """No chair PIN has been set on this kiosk (``kiosk set-pin``)."""


@dataclass(slots=True)
class _ComputedView:
    """A chair's view as computed at one store version, true until ``valid_until``; its JSON once asked for."""

    version: int
    valid_until: datetime
    view: dict
    json: str | None = None
    #: Each person's part of ``view["people"]`` as JSON, kept from the view before while it is the same.
    people_json: list[str] | None = None


@dataclass(frozen=True)
class Action:
    """One tap on the chair's page: an event kind and its fixed details."""

    code: str
    kind: EventKind
    details: dict
    label: str


#: The taps of the attendance table (D3, D4, D10, D13), in the order the page shows them.
ACTIONS: dict[str, Action] = {a.code: a for a in (
    Action("arrived_in_person", EventKind.ARRIVED, {"mode": "in_person"}, "Arrived in room"),
    Action("arrived_virtual", EventKind.ARRIVED, {"mode": "virtual"}, "Arrived online"),
    Action("apologies", EventKind.APOLOGIES, {}, "Apologies"),
    Action("not_attended", EventKind.NOT_ATTENDED, {}, "Not attended"),
    Action("lost_connection", EventKind.LOST_CONNECTION, {}, "Lost connection"),
    Action("rejoined", EventKind.REJOINED, {}, "Rejoined"),
    Action("could_not_rejoin_emailed", EventKind.COULD_NOT_REJOIN, {"emailed_chair": True},
           "Could not rejoin (emailed)"),
    Action("could_not_rejoin_not_emailed", EventKind.COULD_NOT_REJOIN, {"emailed_chair": False},
           "Could not rejoin (no email)"),
    Action("camera_off", EventKind.CAMERA_OFF, {}, "Camera off"),
    Action("camera_on", EventKind.CAMERA_ON, {}, "Camera on"),
    Action("left_agreed", EventKind.LEFT, {"agreed": True}, "Left (chair agreed)"),
    Action("left_not_agreed", EventKind.LEFT, {"agreed": False}, "Left (not agreed)"),
)}

#: Kinds that change who is present: recording one makes its conference the live one.
_ATTENDANCE_KINDS = frozenset(k for k in presence.TRANSITIONS if k is not EventKind.REPORT_RECEIVED)

#: How long an Idempotency-Key's answer is kept: a repeat within this returns it instead of recording again.
IDEMPOTENCY_TTL = timedelta(hours=24)
#: The largest page of the log or of the list of conferences.
MAX_PER_PAGE = 500
#: The log entries a view carries, newest first (the page shows 20; :meth:`ChairService.log_page` has them all).
VIEW_LOG_ROWS = 20
#: A revision no conference reaches: what waiters see once their conference is purged.
_GONE = 2 ** 62

#: How long a request waits for the view a tap is computing (milliseconds, normally) before computing it.
_WAIT_FOR_TAP_S = 5.0
#: A tap is saved within this (seconds) unless the disk stalls.
_TAP_IS_QUICK_S = 0.02

_PRESENCE_TEXT = {
    presence.Presence.ABSENT: "Not arrived",
    presence.Presence.APOLOGIES: "Apologies",
    presence.Presence.NOT_ATTENDED: "Did not attend",
    presence.Presence.PRESENT: "Present",
    presence.Presence.DISCONNECTED: "Connection lost",
    presence.Presence.GONE: "Left",
}


def _status_text(person: presence.Person, row: dict) -> str:
    """Where someone stands, in a few words with the time ("Online since 10:03")."""
    state = person.presence
    if state is presence.Presence.PRESENT:
        where = "In room" if person.mode is Mode.IN_PERSON else "Online"
        return f"{where} since {row['arrived_at']}" if row["arrived_at"] else where
    if state is presence.Presence.DISCONNECTED and row["connection"]:
        return f"Connection lost at {row['connection'][-1]['lost_at']}"
    if state is presence.Presence.GONE:
        if row["left_at"]:
            agreed = " (chair agreed)" if row["left_agreed"] else " (chair did not agree)"
            return f"Left at {row['left_at']}{agreed}"
        last = row["connection"][-1] if row["connection"] else None
        if last and last["could_not_rejoin"]:
            return "Could not rejoin" + (" (emailed the chair)" if last["emailed_chair"] else " (no email)")
        return "Left"
    return _PRESENCE_TEXT[state]


def _pairing_key(code) -> str | None:
    """A typed or scanned code in its stored form (upper case, no spaces or dashes), or None if it cannot be one."""
    if not isinstance(code, str) or len(code) > MAX_SECRET_LENGTH:
        return None
    text = code.replace("-", "").replace(" ", "").upper()
    if len(text) != PAIRING_LENGTH or any(c not in PAIRING_ALPHABET for c in text):
        return None
    return text


class ChairService:
    """The conference record and the chair's sign-in for one room. :meth:`start` it, then :meth:`stop` it.

    ``controller`` (a :class:`kiosk.controller.RoomController`, optional) receives the
    live conference's counts and today's start time. ``now`` is the kiosk's clock
    (aware; UTC by default), ``monotonic`` the lockout's and pairing codes' clock: both
    injectable for tests. ``store`` and ``pins`` default to the files in
    ``cfg.state_dir()``.
    """

    def __init__(self, cfg, controller=None, *, store: ConferenceStore | None = None, pins: PinStore | None = None,
                 now: Callable[[], datetime] | None = None, monotonic: Callable[[], float] = time.monotonic):
        self.cfg = cfg
        self.settings = cfg.conference
        self.tz = ZoneInfo(cfg.schedule.timezone)
        self.controller = controller
        self._now = now or (lambda: datetime.now(timezone.utc))
        self._monotonic = monotonic
        self.state_dir = cfg.state_dir()
        self.store = store or ConferenceStore.in_state_dir(self.state_dir, settings=self.settings, tz=self.tz,
                                                           now=self._now)
        self.pins = pins or PinStore(self.state_dir, min_length=self.settings.pin_min_length)
        self.lockout = Lockout.from_settings(self.settings, clock=monotonic, state_dir=self.state_dir,
                                             bus=getattr(controller, "bus", None))
        self._lock = threading.RLock()
        self._views: dict[int, _ComputedView] = {}  # conference id -> its view, while it holds
        # conference id -> invitee id -> (record part, what else the row shows, row, its JSON): see _people.
        self._person_rows: dict[int, dict[int, tuple]] = {}
        self._building = threading.RLock()
        self._computing: threading.Event | None = None  # set when the tap being saved has computed its view
        #: Entered around a wait for another request's tap to be saved (milliseconds; longer if the disk
        #: stalls). The web server sets it so that the waiting request gives its place back meanwhile.
        self.waiting: Callable[[], ContextManager] = contextlib.nullcontext
        self._pairing: tuple[str, float] | None = None
        self._live_id: int | None = None
        self._announced: tuple[int, datetime] | None = None  # the start time we gave the controller
        self._epoch_cache: tuple[tuple, str | None] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Long-polls (``?since=``): one Condition per conference, and the revision last announced on it. The
        # predicate reads only that number, so no waiter holds a Condition's lock while SQLite is read.
        self._conditions: dict[int, threading.Condition] = {}
        self._announced_revisions: dict[int, int] = {}
        self._unsubscribe: Callable[[], None] | None = None

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> "ChairService":
        """Start the retention thread (it purges at once, then every minute)."""
        if self.controller is not None and self._unsubscribe is None:
            from kiosk.events import SessionStarted

            self._unsubscribe = self.controller.bus.subscribe(self._on_session_started, SessionStarted)
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._housekeeping_loop, name="chair-housekeeping", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the retention thread and close the database (idempotent)."""
        self._stop.set()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
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

    def _clock(self, at: datetime | None, day: date | None = None, seconds: bool = False) -> str | None:
        if at is None:
            return None
        local = at.astimezone(self.tz)
        text = local.strftime("%H:%M:%S" if seconds else "%H:%M")
        return text if day is None or local.date() == day else local.strftime("%Y-%m-%d ") + text

    # -- sign-in --------------------------------------------------------------------

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

    # -- the room's share (counts only) -----------------------------------------------

    def _publish(self, conference_id: int, counts: dict | None = None) -> None:
        """Give the controller the live conference's counts (never names), or zeros once it is over.

        ``counts``: the quorum part of a view computed just now, if there is one (saves computing it again).
        """
        if self.controller is None or self._live_id != conference_id:
            return
        try:
            conference = self.store.get_conference(conference_id)
        except NotFound:
            conference = None
        if conference is None or conference.status is not Status.SCHEDULED or conference.date != self.today():
            self._live_id = None
            self.controller.set_attendance(0, 0, False)
            return
        if counts is None:
            counts = self.store.quorum(conference_id).to_dict()
        self.controller.set_attendance(counts["in_person"], counts["virtual"], counts["quorate"])

    def _announce(self, conference: Conference) -> None:
        """Give the controller the start time of today's conference the chair just saved, unless another
        conference of the day is under way."""
        if self.controller is None:
            return
        is_today = conference.date == self.today() and conference.status is Status.SCHEDULED
        if is_today and self._live_id in (None, conference.id):
            start = conference.starts_at(self.tz)
            self.controller.set_start(start, "chair")
            self._announced = (conference.id, start)
        elif self._announced is not None and self._announced[0] == conference.id:
            self.controller.set_start(None, "chair")  # moved to another day, or ended
            self._announced = None

    def _announce_next_start(self) -> None:
        """On the day, the next conference saved earlier gives the countdown its start (once per start time)."""
        if self.controller is None:
            return
        with self._lock:
            if self._live_id is not None or self.controller.start_source() == "chair":
                return
            now = self._now()
            upcoming = [c for c in self.store.list_conferences(Status.SCHEDULED)
                        if c.date == self.today() and c.starts_at(self.tz) > now]
            if not upcoming:
                return
            nxt = min(upcoming, key=lambda c: c.starts_at(self.tz))
            start = nxt.starts_at(self.tz)
            if self._announced != (nxt.id, start):
                self.controller.set_start(start, "chair")
                self._announced = (nxt.id, start)

    # -- conferences ----------------------------------------------------------------

    def list_conferences(self) -> list[dict]:
        """Every stored conference, soonest first, with whether it is today's."""
        today = self.today()
        return [self._conference_dict(c, today) for c in self.store.list_conferences()]

    def _conference_dict(self, c: Conference, today: date) -> dict:
        return {"id": c.id, "type": c.type.value, "type_label": c.type.label, "date": c.date.isoformat(),
                "start_time": c.start_time.strftime("%H:%M"), "case_ref": c.case_ref, "status": c.status.value,
                "strategy_date": c.strategy_date.isoformat() if c.strategy_date else None,
                "previous_icpc_date": c.previous_icpc_date.isoformat() if c.previous_icpc_date else None,
                "is_today": c.date == today, "live": c.id == self._live_id}

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
        """Wake the long-polls of every conference of the case (a new or moved one changes their views)."""
        for conference in self.store.conferences_for_case(case_ref):
            self._changed(conference.id)

    def get_conference(self, conference_id: int) -> Conference:
        """The conference (NotFound if there is none, or it was purged)."""
        return self.store.get_conference(conference_id)

    def end_conference(self, conference_id: int) -> Conference:
        """The conference is over: the room's session ends and its counts go back to zero."""
        with self._lock:
            conference = self.store.end_conference(conference_id)
            log.info("Conference %d ended", conference_id)
            if self.controller is not None and conference.date == self.today():
                if self._live_id in (None, conference_id):
                    self.controller.end_session()
                self._announce(conference)
            self._publish(conference_id)
        if self.controller is not None:  # after the lock: subscribers (the quality facts) save to disk
            self.controller.bus.publish(ConferenceEnded(conference_id))
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
            self._views.clear()  # no computed view keeps the names a purge deleted
            self._person_rows.pop(conference_id, None)
            self._publish(conference_id)
            if self._announced is not None and self._announced[0] == conference_id and self.controller is not None:
                self.controller.set_start(None, "chair")
                self._announced = None
        self._changed(conference_id, gone=True)
        return summary

    def purge_due(self) -> list[int]:
        """Purge every conference past ``retention_days``; returns their ids."""
        with self._lock:
            ids = self.store.purge_due()
            if ids:
                self._views.clear()
                for conference_id in ids:
                    self._person_rows.pop(conference_id, None)
                log.info("Purged %d conference(s) past the %d-day retention period", len(ids),
                         self.settings.retention_days)
            for conference_id in ids:
                self._publish(conference_id)
        for conference_id in ids:
            self._changed(conference_id, gone=True)
        return ids

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
        with self._building:
            done = threading.Event()
            try:
                with self._lock:
                    self._computing = done
                    event = self.store.append_event(conference_id, kind, invitee_id=invitee_id, details=details,
                                                    expect_state=expect_state)
                    log.info("Conference %d: event %d recorded (%s)", conference_id, event.id, event.kind.value)
                    if event.kind in _ATTENDANCE_KINDS:
                        conference = self.store.get_conference(conference_id)
                        if conference.date == self.today() and conference.status is Status.SCHEDULED:
                            self._live_id = conference_id
                try:
                    counts = self._compute_view(conference_id, self._now()).view["quorum"]
                except ConferenceError:
                    counts = None  # saved all the same; view() gives the reason to whoever asks for it
                with self._lock:
                    self._publish(conference_id, counts)
            finally:
                self._computing = None
                done.set()
        self._changed(conference_id)
        return event

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

        The controller publishes while holding its lock; recording saves to disk and tells the controller
        the counts, so it must not happen on the publishing thread (a lock held across the disk, and a
        tap on the web thread waiting for the controller while the controller waits for it).
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
        return {"events": [self._log_row(e, conference, names, voided) for e in items], **info,
                "revision": revision}

    # -- answers kept for retried requests (Idempotency-Key) -----------------------------

    def recall_answer(self, scope: str, key: str) -> tuple[str, int, str, dict] | None:
        """The (request, status, body, headers) first answered to ``key`` from ``scope`` in the last 24 hours,
        or None."""
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

        A view changes only when the data changes or the clock passes the scheduled start,
        midnight or an event time: until then the one computed before is served (a page
        with a few hundred events costs milliseconds to compute, and every tablet and API
        client asks for it). A recorded event computes it at once (:meth:`record_event`).
        """
        computed, now = self._current_view(conference_id)
        return {**computed.view, "now": now}

    def view_json(self, conference_id: int) -> str:
        """:meth:`view` as JSON text, for the API: encoded once per computed view, not once per request."""
        computed, now = self._current_view(conference_id)
        encoded = computed.json
        if encoded is None:  # two threads may both encode it the first time: the same text either way
            encoded = computed.json = self._encode(computed)
        return f'{encoded[:-1]},"now":{json.dumps(now)}}}'

    @staticmethod
    def _encode(computed: _ComputedView) -> str:
        """The view as JSON; the people as encoded before unless they changed (a tap changes one)."""
        if computed.people_json is None:
            return json.dumps(computed.view, separators=(",", ":"))
        parts = [f'{json.dumps(k)}:' + ("[" + ",".join(computed.people_json) + "]" if k == "people"
                                        else json.dumps(v, separators=(",", ":")))
                 for k, v in computed.view.items()]
        return "{" + ",".join(parts) + "}"

    def _current_view(self, conference_id: int) -> tuple[_ComputedView, str]:
        """The view computed for this moment (computed now if none is) and the time it is for."""
        computing = self._computing
        if computing is not None:
            # A tap is being saved: wait for it (milliseconds) rather than compete with it for the
            # interpreter. The tap is what the chair is watching, and its view is the news anyway.
            if not computing.wait(_TAP_IS_QUICK_S):
                with self.waiting():  # the disk is slow: let other requests (the room's display) go meanwhile
                    computing.wait(_WAIT_FOR_TAP_S)
        now = self._now()
        computed = self._cached_view(conference_id, now)
        if computed is None:
            # One thread computes; the others asking at the same moment (every tablet after a change) wait for it.
            with self._building:
                # Read the clock again: a view computed for the moment before a change saved while this
                # thread waited would end at that change's time, and the next request would compute it again.
                now = self._now()
                computed = self._cached_view(conference_id, now) or self._compute_view(conference_id, now)
        return computed, self._clock(now, seconds=True)

    def _compute_view(self, conference_id: int, now: datetime) -> _ComputedView:
        """Compute the view at ``now`` and keep it; the caller holds ``self._building``."""
        with self._lock:
            version = self.store.version
        view, valid_until = self._build_view(conference_id, now)
        rows = self._person_rows.get(conference_id, {})
        people_json = [rows[p["id"]][3] for p in view["people"]] if all(p["id"] in rows for p in view["people"]) \
            else None
        computed = _ComputedView(version, valid_until, view, people_json=people_json)
        with self._lock:
            self._views[conference_id] = computed
        return computed

    def _cached_view(self, conference_id: int, now: datetime) -> _ComputedView | None:
        # No lock to find a current view (an int and a dict entry, each read at once): every request
        # comes here, and a lock taken by all of them is one the next tap would queue for.
        version = self.store.version
        cached = self._views.get(conference_id)
        if cached is not None and cached.version == version and now < cached.valid_until:
            return cached
        with self._lock:
            if any(c.version != self.store.version for c in self._views.values()):
                self._views.clear()  # after any change (a purge too) no old view, names and all, is kept
        return None

    def _build_view(self, conference_id: int, now: datetime) -> tuple[dict, datetime]:
        """The view at ``now``, and until when it stays true if the data does not change."""
        with self._lock:
            conference, invitees, events, fold = self.store.folded(conference_id)
            revision = conference.changes + len(events)
        today = now.astimezone(self.tz).date()
        rec = record_mod.build_record(conference, invitees, events, self.settings, tz=self.tz, fold=fold)
        people_now = fold.people_at(now)
        if people_now is None:  # an event dated after now (the clock was set back): replay up to now
            people_now = presence.replay(events, until=now)
        scheduled = conference.starts_at(self.tz)
        started = fold.started is not None or now >= scheduled
        q = self._quorum_now(conference, invitees, fold, people_now, now, rec, started)
        due = workdays.report_due(conference, self.settings)
        people = self._people(conference, invitees, fold, people_now, rec, today, due)
        names = {i.id: i.name for i in invitees}
        # The latest entries only (newest first): the whole log comes in pages (log_page), so that a view,
        # and so a tap's answer, is the same size however long the log.
        log_rows = [self._log_row(e, conference, names, fold.voided) for e in events[:-VIEW_LOG_ROWS - 1:-1]]
        case = self.store.conferences_for_case(conference.case_ref)
        timescales = self._timescales(conference, case, today)
        reports = [p for p in people if p["needs_report"]]
        reconvene = self._reconvene(conference, rec["quorum"])
        warnings, timescale_warnings = self._warnings(timescales, reports, due, rec, reconvene)
        clashes = [c.id for c in case if c.id != conference.id and c.date == conference.date
                   and c.start_time == conference.start_time]
        warnings += [f"Conference {other} for this case is booked at the same date and time: is one of them a "
                     f"mistake?" for other in clashes]
        info = self._conference_dict(conference, today)
        info.update(starts_at=scheduled.isoformat(), started_at=rec["conference"]["started_at"],
                    ended_at=rec["conference"]["ended_at"], report_due=due.isoformat(), reports_overdue=today > due,
                    reconvene_by=reconvene["by"] if reconvene else None,
                    previous_available=self._previous_available(conference, case),
                    can_reopen=conference.status is Status.ENDED, double_booked=clashes)
        midnight = datetime.combine(today + timedelta(days=1), datetime.min.time(), tzinfo=self.tz)
        later = []  # events dated after now (only after the clock was set back): at the end, in time order
        for e in reversed(events):
            if e.at <= now:
                break
            later.append(e.at)
        valid_until = min([midnight] + [t for t in [scheduled] + later if t > now])
        return {
            "conference": info,
            # Grows with every change to this conference; ``GET ...?since=revision`` waits for the next.
            "revision": revision,
            "quorum": q,
            "timeline": rec["quorum"],
            "people": people,
            "counts": rec["counts"],
            "reports": {"due": due.isoformat(), "overdue": today > due, "needed": len(reports),
                        "received": sum(1 for p in reports if p["report"]["received_on"]),
                        "missing": sum(1 for p in reports if p["report"]["status"] == "missing"),
                        "late": sum(1 for p in reports if p["report"]["status"] == "late")},
            "timescales": timescales,
            "timescale_warnings": timescale_warnings,
            "reconvene": reconvene,
            "warnings": warnings,
            "events": log_rows,
            "events_total": len(events),
        }, valid_until

    @staticmethod
    def _previous_available(conference: Conference, case: list[Conference]) -> bool:
        return any(c.date < conference.date or (c.date == conference.date and c.id < conference.id) for c in case)

    def _quorum_now(self, conference, invitees, fold, people_now, now, rec, started) -> dict:
        """Quorum now (at the end once the conference has ended), with the page's state word and the
        decision in force."""
        if conference.ended_at is not None and conference.ended_at < now:
            q = quorum.view_at(fold.changes, fold.by_id, conference.ended_at, self.settings)
        else:
            q = quorum.judge(invitees, people_now, now, self.settings)
        decision = None if q.quorate else self._decision_in_force(rec["quorum"])
        if q.quorate:
            state = "quorate"
        elif decision is not None:
            state = "proceeding"
        else:
            state = "inquorate" if started else "waiting"
        return q.to_dict() | {"state": state, "started": started, "decision": decision,
                              "min_other_agencies": self.settings.min_other_agencies}

    def _people(self, conference, invitees, fold, people_now, rec, today, due) -> list[dict]:
        """The invitees with where each one stands and the taps allowed for them; a row (and its JSON) is
        kept from the view before while nothing it shows has changed."""
        by_record = {p["invitee_id"]: p for p in rec["people"]}
        open_ = conference.status is Status.SCHEDULED
        before = self._person_rows.get(conference.id, {})
        kept: dict[int, tuple] = {}
        people = []
        for inv in invitees:
            part, person, last = by_record[inv.id], people_now.get(inv.id, presence.Person()), \
                fold.last_attendance.get(inv.id)
            key = (person, last.id if last else None, conference.date, today <= due, open_,
                   inv.id in fold.with_events)
            entry = before.get(inv.id)
            if entry is None or entry[0] is not part or entry[1] != key:
                row = self._person_row(inv, person, part, last, conference, today, due, open_,
                                       inv.id in fold.with_events)
                entry = (part, key, row, json.dumps(row, separators=(",", ":")))
            kept[inv.id] = entry
            people.append(entry[2])
        self._person_rows[conference.id] = kept
        return people

    def _person_row(self, inv, person, row, last, conference, today, due, open_, has_events) -> dict:
        report = dict(row["report"])
        if report["status"] == "missing" and today <= due:
            report["status"] = "awaited"
        return {
            "id": inv.id, "name": inv.name, "role": inv.role.value, "role_label": inv.role.label,
            "agency": inv.agency.value, "agency_label": inv.agency.label, "direct_contact": inv.direct_contact,
            "expected_mode": inv.expected_mode.value, "expected_mode_label": inv.expected_mode.label,
            "email": inv.email, "counts_towards_quorum": inv.counts_towards_quorum,
            "needs_report": inv.needs_report,
            "state": person.presence.value, "state_label": _PRESENCE_TEXT[person.presence],
            "status_text": _status_text(person, row),
            "mode": person.mode.value if person.mode else None, "camera_off": person.camera_off,
            "present": person.present,
            "arrived_at": row["arrived_at"], "arrival_mode": row["arrival_mode"], "late": row["late"],
            "minutes_late": row["minutes_late"], "seconds_late": row["seconds_late"], "late_text": row["late_text"],
            "left_at": row["left_at"], "left_agreed": row["left_agreed"],
            "connection": row["connection"], "report": report,
            "actions": [a.code for a in ACTIONS.values()
                        if open_ and presence.problem(person, a.kind, a.details) is None],
            "undo": {"event_id": last.id, "label": f"{last.kind.label} at {self._clock(last.at, conference.date)}"}
            if last is not None and open_ else None,
            "editable": open_ and not has_events,
        }

    @staticmethod
    def _reconvene(conference: Conference, timeline: dict) -> dict | None:
        """D5 after a decision not to proceed: the date to reconvene by, the new date given, and whether it is
        later (then with the reason recorded for it)."""
        adjourned = [d for d in timeline["decisions"] if d["decision"] == "not proceed"]
        if not adjourned:
            return None
        by = workdays.reconvene_by(conference)
        new_date = next((d["new_date"] for d in reversed(adjourned) if d["new_date"]), None)
        late = bool(by and new_date and new_date > by.isoformat())
        return {"by": by.isoformat() if by else None, "new_date": new_date, "late": late,
                "late_reason": adjourned[-1].get("late_reason") if late else None}

    @staticmethod
    def _warnings(timescales, reports, due, rec, reconvene) -> tuple[list[str], list[str]]:
        """Every warning of the view, and the timescale ones (D5, D7) for the page's top banner."""
        missed = [t["warning"] for t in timescales if t["warning"]]
        extra = []
        if reconvene and reconvene["by"]:
            if reconvene["late"]:
                extra.append(f"The new date {reconvene['new_date']} is later than {reconvene['by']}, "
                             f"10 working days after this initial conference (D5)")
            else:
                extra.append(f"The conference did not proceed: reconvene by {reconvene['by']} "
                             f"(within 10 working days)")
        warnings = list(missed)
        missing = sum(1 for p in reports if p["report"]["status"] == "missing")
        late = sum(1 for p in reports if p["report"]["status"] == "late")
        if missing:
            warnings.append(f"{missing} report(s) not received (due by {due.isoformat()})")
        if late:
            warnings.append(f"{late} report(s) received after {due.isoformat()}")
        warnings += rec["quorum"]["warnings"] + extra
        return warnings, missed + extra

    def _log_row(self, e, conference: Conference, names: dict, voided: dict) -> dict:
        """One entry of the log as the page shows it."""
        return {
            "id": e.id, "at": self._clock(e.at, conference.date, seconds=True), "kind": e.kind.value,
            "label": e.kind.label, "invitee_id": e.invitee_id, "who": names.get(e.invitee_id),
            "details": self._details_text(e), "voided": e.id in voided,
            "voided_by": voided[e.id].id if e.id in voided else None,
            "correctable": e.kind is not EventKind.CORRECTION and not e.kind.by_route_only and e.id not in voided,
        }

    @staticmethod
    def _decision_in_force(timeline: dict) -> dict | None:
        """The decision to proceed made in the current inquorate stretch (D5), from the record's quorum part
        (so the timeline, the costly part of a view, is computed once)."""
        periods = timeline["inquorate_periods"]
        if not periods or periods[-1]["decision"] is None:
            return None
        reason = periods[-1]["decision"]
        made = [d for d in timeline["decisions"] if d["decision"] == "proceed" and d["reason"] == reason]
        return {"at": made[-1]["at"] if made else None, "reason": reason}

    @staticmethod
    def _details_text(event) -> str:
        d = event.details
        parts = []
        if "mode" in d:
            parts.append(Mode.parse(d["mode"]).label)
        if "agreed" in d:
            parts.append("chair agreed" if d["agreed"] else "chair did not agree")
        if "emailed_chair" in d:
            parts.append("emailed the chair" if d["emailed_chair"] else "did not email the chair")
        if "received_on" in d:
            parts.append(f"received {d['received_on']}")
        if "event_id" in d:
            parts.append(f"voids event {d['event_id']}")
        if "new_date" in d:
            parts.append(f"new date {d['new_date']}")
        for key in ("reason", "note"):
            if d.get(key):
                parts.append(str(d[key]))
        return "; ".join(parts)

    def _timescales(self, conference: Conference, case: list[Conference], today: date) -> list[dict]:
        """D7 deadlines for the conference's case, from the conferences stored for it (``case``)."""
        case = [c for c in case if c.date <= conference.date or c.id == conference.id]
        initials = [c for c in case if c.type is ConferenceType.INITIAL and c.date <= conference.date]
        icpc = max(initials, key=lambda c: (c.date, c.id)) if initials else None
        icpc_date = icpc.date if icpc else conference.previous_icpc_date
        strategy = icpc.strategy_date if icpc else None
        if conference.type is ConferenceType.INITIAL and conference.strategy_date:
            strategy = conference.strategy_date
        reviews = sorted({c.date for c in case if c.type is ConferenceType.REVIEW
                          and (icpc_date is None or c.date > icpc_date)})
        out = []
        for d in workdays.timescales(strategy, icpc_date, *reviews, today=today):
            status, warning = d.status, d.warning
            if d.name.startswith("the first core group") and d.held is None:
                # Core groups are not recorded on the kiosk: show the date, claim nothing.
                status, warning = "not recorded", None
            elif d.held is not None and d.held > today:
                status = "scheduled in time" if d.status == workdays.MET else "scheduled too late"
                if d.status == workdays.MISSED:
                    warning = (f"Timescale: {d.name} is due by {d.due.isoformat()} but is scheduled for "
                               f"{d.held.isoformat()}")
            out.append({"name": d.name, "due": d.due.isoformat(), "status": status,
                        "held": d.held.isoformat() if d.held else None, "warning": warning,
                        # D7: a due date on a weekend or bank holiday says so, with the working day before it.
                        "due_is_working_day": workdays.is_working_day(d.due),
                        "last_working_day": workdays.last_working_day_on_or_before(d.due).isoformat(),
                        "due_note": d.due_note})
        return out


__all__ = ["ACTIONS", "Action", "ChairService", "MAX_PER_PAGE", "PAIRING_TTL_S", "PinNotSet", "VIEW_LOG_ROWS"]
