"""The Idempotency-Key of the request being served, saved in the same transaction as the first change it makes.

The web layer (:mod:`web_ui.idempotency`) :func:`carry`-es the key of a request that has no kept answer
yet, and releases it when the request ends. :class:`~kiosk.conference.store.ConferenceStore` writes a
*pending* row for it (no answer yet) inside the transaction of the request's first change, so that the
key is on disk exactly when the change is: a crash before the answer is kept leaves the pending row, and
the retry learns that its change was recorded (instead of recording it again). A change that fails
rolls the row back with it, so the key can be retried.

A context variable: each thread (each request) sees its own key, and threads that are not serving a
request (the retention thread, the start button) see none.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from dataclasses import dataclass


@dataclass
class RetryKey:
    """A request's key: who sent it (``scope``), the key, what the request was (method, path and body hash)
    and its conference if the URL names one. ``saved`` once its pending row is committed with a change."""

    scope: str
    key: str
    request: str
    conference_id: int | None = None
    saved: bool = False


_current: ContextVar[RetryKey | None] = ContextVar("kiosk_conference_retry_key", default=None)


def carry(key: RetryKey) -> Token:
    """Make ``key`` the current request's (until :func:`release` with the token returned)."""
    return _current.set(key)


def release(token: Token) -> None:
    """The request has ended: its key is no longer current."""
    _current.reset(token)


def unsaved() -> RetryKey | None:
    """The current request's key while its pending row is not yet saved (the store's next change saves it)."""
    key = _current.get()
    return key if key is not None and not key.saved else None
