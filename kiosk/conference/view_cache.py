"""The chair's views, kept while they hold: one per conference, keyed on the conference's revision.

Every tablet and API client asks for the same view again and again, and a view of a
conference with a few hundred events costs milliseconds to compute. A view computed by
:func:`kiosk.conference.view.build_view` stays true until the conference's revision
moves (any change to it or to its case) or the clock passes the view's ``valid_until``
(the scheduled start, midnight, an event dated later), so it is kept until then.

Threading: ``_lock`` guards the two dicts and the set of purged ids, and is held for
dict operations only (never while a view is computed or encoded). ``building`` lets one
thread compute a view while the others asking at the same moment wait for it instead
of computing it too (taken before ``_lock``, never inside it). A tap being saved sets
``computing``; readers wait for it briefly, because its view is the news.

A purge (:meth:`forget`) drops the conference's view, its JSON and its encoded rows,
and marks the id, so that a view being computed at that moment is not stored after it.
"""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime


@dataclass(slots=True)
class CachedView:
    """A view computed at one revision, true until ``valid_until``; its JSON once asked for."""

    revision: int
    valid_until: datetime
    view: dict
    json: str | None = None


class ViewCache:
    """One view per conference, keyed on (conference id, revision)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._views: dict[int, CachedView] = {}
        # conference id -> invitee id -> (row, its JSON) as last encoded: a tap changes one row, so the others'
        # JSON is reused when the next view is encoded.
        self._rows: dict[int, dict[int, tuple[dict, str]]] = {}
        self._gone: set[int] = set()
        #: Held by the one thread computing a view; the others asking meanwhile wait, then find it kept.
        self.building = threading.RLock()
        #: Set while a tap is saved and its view computed (see :meth:`tap`).
        self.computing: threading.Event | None = None

    def get(self, conference_id: int, revision: int, now: datetime) -> CachedView | None:
        """The kept view of the conference at ``revision`` if it is still true at ``now``, else None."""
        kept = self._views.get(conference_id)  # one dict read: no lock needed to look
        if kept is not None and kept.revision == revision and now < kept.valid_until:
            return kept
        return None

    def put(self, conference_id: int, revision: int, valid_until: datetime, view: dict) -> CachedView:
        """Keep a view just computed (unless the conference was purged meanwhile); returns it either way."""
        entry = CachedView(revision, valid_until, view)
        with self._lock:
            if conference_id not in self._gone:
                self._views[conference_id] = entry
        return entry

    def forget(self, conference_id: int) -> None:
        """Drop everything kept of a purged conference, and never keep anything of it again."""
        with self._lock:
            self._gone.add(conference_id)
            self._views.pop(conference_id, None)
            self._rows.pop(conference_id, None)

    def __len__(self) -> int:
        return len(self._views)

    @contextmanager
    def tap(self):
        """Around saving a tap and computing its view: readers arriving meanwhile wait for it (:meth:`wait_for_tap`)."""
        with self.building:
            done = threading.Event()
            self.computing = done
            try:
                yield
            finally:
                self.computing = None
                done.set()

    def wait_for_tap(self, quick_s: float, longest_s: float, waiting) -> None:
        """If a tap is being saved, wait for it: ``quick_s`` at once, then up to ``longest_s`` inside
        ``waiting()`` (the web server's way of giving the request's place back while the disk is slow)."""
        computing = self.computing
        if computing is not None and not computing.wait(quick_s):
            with waiting():
                computing.wait(longest_s)

    def json(self, conference_id: int, entry: CachedView) -> str:
        """The view as JSON, encoded once per view; a person's row is encoded again only if it changed."""
        encoded = entry.json
        if encoded is not None:
            return encoded
        with self._lock:
            before = dict(self._rows.get(conference_id, {}))
        rows = {}
        for person in entry.view["people"]:
            kept = before.get(person["id"])
            rows[person["id"]] = kept if kept is not None and kept[0] == person else (
                person, json.dumps(person, separators=(",", ":")))
        parts = [f'{json.dumps(k)}:' + ("[" + ",".join(rows[p["id"]][1] for p in v) + "]" if k == "people"
                                        else json.dumps(v, separators=(",", ":")))
                 for k, v in entry.view.items()]
        encoded = entry.json = "{" + ",".join(parts) + "}"  # two threads may both encode it: the same text
        with self._lock:
            if conference_id not in self._gone:
                self._rows[conference_id] = rows
        return encoded
