"""The kiosk's side of the quality report: facts kept when a conference ends, the room's check history,
and each month's figures for the page and for MQTT.

:class:`QualityService` subscribes to the controller's event bus:

- ``ConferenceEnded`` (published by the chair's service after a conference is ended,
  again after a reopened one is ended once more): the facts are extracted from the
  record (:func:`kiosk.quality.facts.extract`) and saved, replacing any kept before for
  that conference, in the publisher's thread (the chair's request), so the report shows
  them at once; then ``QualityChanged(month)`` tells the MQTT link to publish the month.
- ``ConferenceAmended`` (published by the chair's service when the record of an ended
  conference changes: a report received or a correction recorded after its end, or its
  details): the facts are taken again in the same way, so the month's figures and its
  retained message follow; not while it is reopened (its next end takes them) nor once it
  is purged (its facts stay as they were). A conference moved to another month republishes both.
- ``ChecksFinished``: the cycle's outcomes (check name and status, never the reason) join
  the rolling check history, from which "was the room ready at the booked start" is
  answered. The room's loop publishes it (:mod:`kiosk.controller`), so the cycle is only queued here;
  the thread ``quality-checks`` (started by :meth:`QualityService.start`, the one writer of
  the history) saves it, and a slow or locked disk never holds up the room.

Nothing here holds names: the record is read, reduced to facts, and dropped.
"""

from __future__ import annotations

import logging
import queue
import threading
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from kiosk.conference.errors import ConferenceError, NotFound
from kiosk.conference.model import Status
from kiosk.events import ChecksFinished, ConferenceAmended, ConferenceEnded, QualityChanged
from kiosk.quality import facts as facts_mod, figures, report as report_mod
from kiosk.quality.store import QualityStore, months_back

log = logging.getLogger("kiosk.quality")

#: Version of the retained ``quality/<YYYY-MM>`` payload.
PAYLOAD_SCHEMA = 1
#: How many times the facts are taken while the record keeps changing under them (requests saving at once).
_TAKES = 3


class QualityService:
    """Facts and figures for one room. ``chair`` is the :class:`~kiosk.conference.service.ChairService`
    (the record and the kiosk's clock); ``bus`` the controller's event bus. :meth:`start`, :meth:`stop`."""

    def __init__(self, cfg, chair, bus, *, store: QualityStore | None = None):
        self.cfg = cfg
        self.settings = cfg.quality
        self.chair = chair
        self.bus = bus
        self.tz = ZoneInfo(cfg.schedule.timezone)
        self.store = store or QualityStore.in_state_dir(cfg.state_dir())
        self._unsubscribe = None
        self._pruned_on = None
        self._cycles: queue.Queue = queue.Queue()  # check cycles waiting for the writer thread
        self._writer: threading.Thread | None = None

    def start(self) -> "QualityService":
        """Listen to the bus, keep the facts of ended conferences that have none yet, drop facts past retention."""
        if self._writer is None:
            self._writer = threading.Thread(target=self._write_cycles, name="quality-checks", daemon=True)
            self._writer.start()
        if self._unsubscribe is None:
            self._unsubscribe = self.bus.subscribe(self._on_event, ConferenceEnded, ConferenceAmended, ChecksFinished)
        self.catch_up()
        self._prune()
        return self

    def catch_up(self) -> list[int]:
        """Keep the facts of every ended conference still on the kiosk that has none (ended before this
        version, or while the kiosk stopped between the end and the save); returns their ids."""
        try:
            purged = {s["conference_id"]: s["purged_at"] for s in self.chair.store.summaries()}
            kept = self.store.kept_for(purged)
            missing = [c.id for c in self.chair.store.list_conferences(Status.ENDED) if c.id not in kept]
        except ConferenceError as exc:
            log.warning("Could not look for ended conferences without quality facts: %s", exc)
            return []
        return [cid for cid in missing if self.conference_ended(cid) is not None]

    def stop(self) -> None:
        """Stop listening and save the check cycles still queued (idempotent)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._writer is not None:
            self._cycles.put(None)
            self._writer.join(10)
            self._writer = None

    def _on_event(self, event) -> None:
        if isinstance(event, ConferenceEnded):
            self.conference_ended(event.conference_id)
        elif isinstance(event, ConferenceAmended):
            self.conference_amended(event.conference_id)
        elif isinstance(event, ChecksFinished):
            self._cycles.put(event.cycle)  # saved by the writer thread: never a disk on the room's loop

    def _write_cycles(self) -> None:
        while (cycle := self._cycles.get()) is not None:
            try:
                self.record_cycle(cycle)
            except Exception:  # a bug must not end the writer: conference_ended waits for the queue
                log.exception("A check cycle could not be added to the room's check history")
            finally:
                self._cycles.task_done()
        self._cycles.task_done()

    def _prune(self) -> None:
        """Drop facts past ``[quality] retention_months`` (once a day); storage trouble is a log line."""
        today = self.chair.today()
        if self._pruned_on != today:  # once a day is plenty for a retention counted in months
            try:
                self.store.prune(today, self.settings.retention_months)
            except ConferenceError as exc:
                log.warning("Old quality facts could not be dropped yet: %s", exc)
                return
            self._pruned_on = today

    # -- facts ------------------------------------------------------------------------------

    def conference_ended(self, conference_id: int) -> dict | None:
        """Extract and keep the facts of an ended conference (replacing earlier ones); returns them.

        Never raises: a failure is logged (ids only) and the record is unaffected.
        """
        return self._take(conference_id)

    def conference_amended(self, conference_id: int) -> dict | None:
        """The record of an ended conference changed (a report or a correction after its end, or its details):
        take its facts again as at its end and return them. None, with the kept facts untouched, when it is
        not ended (reopened: its next end takes them) or is purged (its facts stay as they were). Never raises.
        """
        try:
            if self.chair.get_conference(conference_id).status is not Status.ENDED:
                return None
        except NotFound:
            return None
        except ConferenceError as exc:
            log.warning("The quality facts of conference %d could not be taken again: %s", conference_id, exc)
            return None
        return self._take(conference_id)

    def _take(self, conference_id: int) -> dict | None:
        """Take and save the conference's facts, then tell the MQTT link which months changed."""
        if self._writer is not None:
            self._cycles.join()  # the check cycles published before the end are in the history
        try:
            purged = {s["conference_id"]: s["purged_at"] for s in self.chair.store.summaries()}
            earlier = self.store.facts_of(conference_id, purged)
            for _ in range(_TAKES):
                revision = self.chair.revision(conference_id)
                facts = self._extract(conference_id, earlier)
                self.store.save(conference_id, facts, now=self.chair.now(), purged=purged)
                if not self._changed_since(conference_id, revision):
                    break  # else another request saved a change meanwhile, and these facts may predate it
            self._prune()
        except (ConferenceError, KeyError, ValueError):
            log.exception("The quality facts of conference %d could not be kept", conference_id)
            return None
        log.info("Quality facts of conference %d kept", conference_id)
        for month in sorted({facts["date"][:7]} | ({earlier["date"][:7]} if earlier else set())):
            self.bus.publish(QualityChanged(month))  # both months when the conference moved to another
        return facts

    def _extract(self, conference_id: int, earlier: dict | None) -> dict:
        """The conference's facts from its record as it is now (see :func:`kiosk.quality.facts.extract`)."""
        conference = self.chair.get_conference(conference_id)
        record = self.chair.record(conference_id)
        timescales = self.chair.view(conference_id)["timescales"]
        booked = conference.starts_at(self.tz)
        checks = self.store.checks_between(booked - timedelta(seconds=facts_mod.CHECKS_BEFORE_S), booked)
        return facts_mod.extract(record, timescales, checks, booked, self.chair.settings.late_after_min,
                                 earlier=earlier)

    def _changed_since(self, conference_id: int, revision: int) -> bool:
        """Whether the conference, still ended, changed since ``revision`` (facts saved by two requests at
        once could land in the wrong order: the one that sees a change takes them again, so the last save
        is of the last record)."""
        try:
            conference = self.chair.get_conference(conference_id)
            return conference.status is Status.ENDED and self.chair.revision(conference_id) != revision
        except NotFound:
            return False  # purged meanwhile: its facts stay as saved

    def record_cycle(self, cycle) -> None:
        """Add a check cycle's outcomes (name and status) to the room's check history."""
        at = cycle.checked_at if cycle.checked_at.tzinfo else cycle.checked_at.replace(tzinfo=timezone.utc)
        outcomes = [facts_mod.CheckOutcome(at, name, result.status.value) for name, result in cycle.results.items()]
        try:
            self.store.add_checks(outcomes)
        except ConferenceError:
            log.warning("The room's check history could not be saved (the quality report will say 'not known')")

    # -- figures ----------------------------------------------------------------------------

    def report(self, period: figures.Period) -> dict:
        """The report of ``period`` with the trend of the 12 months up to its end (see kiosk.quality.report)."""
        months = figures.trend_months(period)
        first = min(period.first, datetime.strptime(months[0], "%Y-%m").date())
        kept = self.store.facts_between(first, period.last)
        in_period = [f for f in kept if period.first.isoformat() <= f["date"] <= period.last.isoformat()]
        by_month: dict[str, list] = {m: [] for m in months}
        for f in kept:
            if f["date"][:7] in by_month:
                by_month[f["date"][:7]].append(f)
        trend = {m: figures.aggregate(fs) for m, fs in by_month.items()}
        return report_mod.build(period, figures.aggregate(in_period), trend, [self.cfg.room.name])

    def month_payload(self, month: str) -> dict:
        """The retained MQTT message of one month (``YYYY-MM``): that month's totals, never a conference."""
        period = figures.month_period(month)
        return {"schema": PAYLOAD_SCHEMA, "room": self.cfg.room.id, "room_name": self.cfg.room.name,
                "month": month, "updated_at": self.chair.now().astimezone(timezone.utc).isoformat(timespec="seconds"),
                "figures": figures.aggregate(self.store.facts_between(period.first, period.last))}

    def payloads(self, months: list[str] | None = None) -> dict[str, dict]:
        """The messages of ``months`` (default: every month within retention that has facts)."""
        if months is None:
            oldest = months_back(self.chair.today(), self.settings.retention_months).strftime("%Y-%m")
            months = [m for m in self.store.months() if m >= oldest]
        return {m: self.month_payload(m) for m in months}
