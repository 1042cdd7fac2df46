"""Safe retries: the ``Idempotency-Key`` header on state-changing requests.

A client sends one key per intended change (the chair's page, one per tap). The first
request with a key runs and its answer (status, body, Content-Type and Location) is kept
in the conference database with the record (so a restart keeps it; it goes after 24 hours
and with the conference's purge). A repeat of the key within 24 hours from the same
session gets that answer verbatim, with ``Idempotent-Replayed: true``, and records
nothing; a repeat that arrives while the first is still running waits for its answer
(a double tap). The same key with another route or body is refused (422, KeyReused).

Keys are scoped to the session (its id; the client's address without one), so that one
client cannot read another's answer by sending the same key. Answers of 5xx (storage
failures) are not kept: the retry should try again.

The key is saved, pending its answer, in the same transaction as the first change the request
makes (:mod:`kiosk.conference.retry_key`), and its answer filled in after. So a retry after a crash
between the two (or after a 5xx that came once the change was saved) finds the key pending: it
records nothing and is refused (409, :class:`~kiosk.conference.errors.AnswerLost`, answered by the
blueprint's own error handler: the API adds the current view). A change that failed saved no key,
so its retry runs again.

:func:`protect` adds this to a blueprint: for the requests under a path prefix (the page's forms), or for the
operations declared as writing (the API's, :mod:`web_ui.operation`).
"""

from __future__ import annotations

import hashlib
import json
import threading

from flask import Blueprint, Response, abort, current_app, g, request, session

from kiosk.conference import retry_key
from kiosk.conference.errors import AnswerLost, ConferenceError, KeyReused
from web_ui import admission, auth, operation

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 200
#: How long a repeat waits for the first request with its key to be answered (seconds).
WAIT_FOR_FIRST_S = 30.0
_KEPT_HEADERS = ("Content-Type", "Location")


class _InFlight:
    """Keys whose first request is still being answered: a repeat waits for that answer instead of racing it."""

    def __init__(self):
        self._lock = threading.Lock()
        self._running: dict[tuple[str, str], threading.Event] = {}

    def claim(self, ident: tuple[str, str]) -> threading.Event | None:
        """None when this request may go ahead (the key is now its own); else the Event to wait on."""
        with self._lock:
            running = self._running.get(ident)
            if running is None:
                self._running[ident] = threading.Event()
            return running

    def release(self, ident: tuple[str, str]) -> None:
        with self._lock:
            done = self._running.pop(ident, None)
        if done is not None:
            done.set()


_in_flight = _InFlight()


def _key() -> str | None:
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not all("!" <= c <= "~" for c in key):
        abort(400, f"{HEADER} must be 1-{MAX_KEY_LENGTH} visible ASCII characters (no spaces)")
    return key


def _writes(prefix: str | None) -> bool:
    if request.method not in auth.STATE_CHANGING:  # e.g. Flask's own OPTIONS, which shares the view of a POST
        return False
    if prefix is None:
        declared = operation.current()
        return declared is not None and declared.writes
    return request.path.startswith(prefix)


def protect(bp: Blueprint, prefix: str | None = None) -> None:
    """Honour ``Idempotency-Key`` on the blueprint's POST, PATCH and DELETE requests under ``prefix`` (the page's
    forms), or without one on its operations that write (the API's: ``declare(..., writes=True)``)."""

    @bp.before_request
    def _replay_or_claim():
        if not _writes(prefix):
            return None
        key = _key()
        if key is None:
            return None
        chair = auth.get_service()
        if chair is None:
            return None  # the route answers 503 itself
        ident = (str(session.get("sid") or auth.client_key()), key)
        fingerprint = f"{request.method} {request.path} {hashlib.sha256(request.get_data(cache=True)).hexdigest()}"
        while (running := _in_flight.claim(ident)) is not None:
            with admission.waiting():  # a double tap: wait for the first one's answer
                running.wait(WAIT_FOR_FIRST_S)
        try:
            kept = chair.recall_answer(*ident)
        except BaseException:
            _in_flight.release(ident)
            raise
        if kept is None:
            g.idempotency = (ident, fingerprint)
            # The store saves the key pending with the request's first change, in that change's transaction.
            g.retry_key = retry_key.carry(retry_key.RetryKey(*ident, fingerprint, _url_conference()))
            return None
        _in_flight.release(ident)
        seen, status, text, headers = kept
        if seen != fingerprint:
            # Answered here, as JSON, whatever the blueprint's own error pages (KeyReused is a 422 everywhere).
            return Response(json.dumps({"error": str(KeyReused(f"This {HEADER} was used for another request within "
                                                               f"24 hours: send a new key for a new change"))}),
                            status=422, mimetype="application/json")
        if status is None:  # the change was saved, its answer never was: the blueprint answers 409
            raise AnswerLost("This change was already recorded, but its answer was lost when the kiosk restarted "
                             "or failed: reload to see the record as it is now")
        response = Response(text, status=status, headers={k: v for k, v in headers.items() if k != "Content-Type"},
                            content_type=headers.get("Content-Type", "application/json"))
        response.headers["Idempotent-Replayed"] = "true"
        return response

    @bp.after_request
    def _keep_answer(response):
        pending = g.pop("idempotency", None)
        if pending is None:
            return response
        ident, fingerprint = pending
        try:
            if response.status_code < 500 and not response.is_streamed:
                headers = {k: response.headers[k] for k in _KEPT_HEADERS if k in response.headers}
                auth.get_service().keep_answer(*ident, _conference_of(response), fingerprint, response.status_code,
                                               response.get_data(as_text=True), headers)
        except ConferenceError as exc:
            current_app.logger.warning("An answer could not be kept for retries: %s", exc)
        finally:
            _in_flight.release(ident)
        return response

    @bp.teardown_request
    def _release_key(_exc=None):
        token = g.pop("retry_key", None)
        if token is not None:
            retry_key.release(token)
        pending = g.pop("idempotency", None)  # only left when the request failed before an answer
        if pending is not None:
            _in_flight.release(pending[0])


def _url_conference() -> int | None:
    return (request.view_args or {}).get("conference_id")


def _conference_of(response) -> int | None:
    """The conference an answer belongs to (purged with it): the URL's, or the one just created."""
    conference_id = _url_conference()
    if conference_id is None and response.status_code == 201 and response.mimetype == "application/json":
        try:
            conference_id = json.loads(response.get_data())["conference"]["id"]
        except (ValueError, KeyError, TypeError):
            conference_id = None
    return conference_id
