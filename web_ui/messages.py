"""Messages that name someone, kept on the kiosk for the page a chair without JavaScript loads next.

Without chair.js a tap is a form post and a redirect, and the page the redirect loads says what happened
("Pat Police: Arrived online at 10:03:12 recorded."). Flask's flashed messages travel in the session
cookie, which must carry no names (D15), so a message naming someone stays here, in memory: the cookie
carries only a random id and the same message without the name, shown instead if the named one has gone
(a restart, or more than :data:`TTL_S` between the tap and the page).

A kept message is shown once, and only to the session it was kept for (two tablets never see each
other's). It is forgotten when shown, after :data:`TTL_S`, at once when its conference is purged
(:class:`kiosk.events.ConferencePurged`) or its session ends (sign-out, expiry, a new PIN), and the oldest
first beyond :data:`PER_SESSION` for a session or :data:`TOTAL` in all.

Request threads and the bus's subscriber share the store: one lock, held for dict operations only.
"""

from __future__ import annotations

import collections
import secrets
import threading
from dataclasses import dataclass
from typing import Callable

from flask import current_app, flash, get_flashed_messages, session

#: Seconds a kept message waits for its page (a redirect is followed at once; a slow tablet has time).
TTL_S = 60.0
#: Messages kept for one session (each tap without JavaScript is a whole reload: one or two are ever waiting).
PER_SESSION = 4
#: Messages kept in all (a handful of tablets).
TOTAL = 256

EXTENSION = "chair_messages"


@dataclass(frozen=True)
class _Kept:
    session_id: str
    conference_id: int
    text: str
    until: float


class KeptMessages:
    """Named messages by random id, oldest first; ``clock`` is the sessions' clock (seconds)."""

    def __init__(self, clock: Callable[[], float], ttl_s: float = TTL_S, per_session: int = PER_SESSION,
                 total: int = TOTAL):
        self._clock = clock
        self._ttl_s, self._per_session, self._total = ttl_s, per_session, total
        self._kept: collections.OrderedDict[str, _Kept] = collections.OrderedDict()
        #: Conference id -> until when a message about it is refused: read from a view just before its purge.
        #: Only for a TTL: the race is one request long, and a purged conference's id may be given again.
        self._purged: dict[int, float] = {}
        self._lock = threading.Lock()

    def keep(self, session_id: str, conference_id: int, text: str) -> str | None:
        """Keep ``text`` for ``session_id``; returns its id (None if the conference was purged meanwhile)."""
        message_id = secrets.token_urlsafe(12)
        now = self._clock()
        with self._lock:
            self._drop_expired(now)
            if conference_id in self._purged:  # read from a view just before a purge: not kept
                return None
            mine = [k for k, m in self._kept.items() if m.session_id == session_id]
            for key in mine[:max(0, len(mine) - self._per_session + 1)]:
                del self._kept[key]
            while len(self._kept) >= self._total:
                self._kept.popitem(last=False)
            self._kept[message_id] = _Kept(session_id, conference_id, text, now + self._ttl_s)
        return message_id

    def take(self, session_id: str, message_id: str) -> str | None:
        """The message ``message_id`` if it is ``session_id``'s and still kept, forgetting it; else None."""
        now = self._clock()
        with self._lock:
            self._drop_expired(now)
            kept = self._kept.get(message_id)
            if kept is None or kept.session_id != session_id:
                return None
            del self._kept[message_id]
        return kept.text

    def forget_conference(self, conference_id: int) -> None:
        """Drop every message about ``conference_id`` and keep none for a TTL (it was purged; its id may be reused)."""
        with self._lock:
            self._purged[conference_id] = self._clock() + self._ttl_s
            for key in [k for k, m in self._kept.items() if m.conference_id == conference_id]:
                del self._kept[key]

    def forget_session(self, session_id: str) -> None:
        """Drop every message kept for ``session_id`` (the session ended)."""
        with self._lock:
            for key in [k for k, m in self._kept.items() if m.session_id == session_id]:
                del self._kept[key]

    def drop_expired(self) -> None:
        """Forget the messages older than the TTL (cheap when there are none)."""
        if self._kept:
            now = self._clock()
            with self._lock:
                self._drop_expired(now)

    def __len__(self) -> int:
        with self._lock:
            return len(self._kept)

    def _drop_expired(self, now: float) -> None:
        # Kept in order of age with one TTL, so the expired ones are at the front.
        while self._kept and next(iter(self._kept.values())).until <= now:
            self._kept.popitem(last=False)
        for conference_id in [c for c, until in self._purged.items() if until <= now]:
            del self._purged[conference_id]


def init_app(app, bus) -> KeptMessages:
    """Keep named messages for ``app`` on its sessions' clock, dropped when ``bus`` says a conference was purged;
    expired ones go at the next request."""
    from kiosk.events import ConferencePurged

    clock = app.config["CHAIR_CLOCK"]
    kept = app.extensions[EXTENSION] = KeptMessages(lambda: float(clock()))
    app.extensions[EXTENSION + ".unsubscribe"] = bus.subscribe(
        lambda event: kept.forget_conference(event.conference_id), ConferencePurged)
    app.before_request(kept.drop_expired)
    return kept


def say(text: str, conference_id: int, named: str | None = None, category: str = "ok") -> None:
    """Flash ``text`` for the next page; when ``named`` (the same message naming someone) differs, that is
    kept on the kiosk and shown instead, the cookie carrying only its id beside ``text``."""
    kept = current_app.extensions.get(EXTENSION)
    session_id = session.get("sid")
    if named and named != text and kept is not None and session_id:
        message_id = kept.keep(session_id, conference_id, named)
        if message_id is not None:
            flash({"kept": message_id, "text": text}, category)
            return
    flash(text, category)


def chair_flashes() -> list[tuple[str, str]]:
    """The flashed messages as ``(category, text)``, each kept one by its named text while it is kept."""
    kept = current_app.extensions.get(EXTENSION)
    shown = []
    for category, message in get_flashed_messages(with_categories=True):
        if isinstance(message, dict):
            named = kept.take(session.get("sid", ""), str(message.get("kept"))) if kept is not None else None
            message = named or str(message.get("text", ""))
        shown.append((category, message))
    return shown


def forget_session(app, session_id: str | None) -> None:
    """Drop the messages kept for ``session_id`` (called when it ends)."""
    kept = app.extensions.get(EXTENSION)
    if kept is not None and session_id:
        kept.forget_session(session_id)
