"""``Idempotency-Key`` for a blueprint's writes: a repeat of a key gets the first answer and records nothing.

:func:`protect` hooks a blueprint: a POST, PUT, PATCH or DELETE carrying the header is
claimed for its session; a repeat within 24 hours (the service keeps the answers:
``ChairService.recall_answer`` / ``keep_answer``) answers with the first answer's status
and body and ``Idempotent-Replayed: true``; a repeat that arrives while the first is
still being answered waits for it rather than racing it; the same key with another
route or body is refused (``KeyReused``, 422). Answers of 500 and more are not kept:
the retry should try again.

Used by the JSON API (:mod:`web_ui.api`, answers kept as JSON) and the chair's page
(:mod:`web_ui.chair`, its live fragments kept as HTML), which sends one key per tap, so a
tap the network retried, or a request that arrived twice, is recorded once.
"""

from __future__ import annotations

import hashlib
import threading

from flask import abort, current_app, g, request, session

from kiosk.conference.errors import ConferenceError, KeyReused
from web_ui import admission, auth

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 200
#: How long a repeat waits for the first request's answer before going ahead on its own.
IN_FLIGHT_WAIT_S = 30.0


class InFlight:
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


_in_flight = InFlight()


def _default_conference_of(response) -> int | None:
    return (request.view_args or {}).get("conference_id")


def protect(bp, *, mimetype: str, service, path_prefix: str = "", conference_of=_default_conference_of) -> None:
    """Make ``bp``'s writes under ``path_prefix`` idempotent; it keeps the answers it gives as ``mimetype``.

    ``service``: a function returning the ChairService (or aborting when there is none).
    ``conference_of(response)``: the conference a kept answer belongs to (it is purged with it).
    """

    @bp.before_request
    def _replay_or_claim():
        if request.method not in auth.STATE_CHANGING or not request.path.startswith(path_prefix):
            return None
        key = request.headers.get(HEADER)
        if key is None:
            return None
        if not 1 <= len(key) <= MAX_KEY_LENGTH or not all("!" <= c <= "~" for c in key):
            abort(400, f"{HEADER} must be 1-{MAX_KEY_LENGTH} visible ASCII characters (no spaces)")
        chair = service()
        ident = (str(session.get("sid") or auth.client_key()), key)  # another session's key is another key
        fingerprint = f"{request.method} {request.path} {hashlib.sha256(request.get_data(cache=True)).hexdigest()}"
        while (running := _in_flight.claim(ident)) is not None:
            with admission.waiting():  # the first request is still being answered (a double tap)
                running.wait(IN_FLIGHT_WAIT_S)
        try:
            kept = chair.recall_answer(*ident)
        except BaseException:
            _in_flight.release(ident)
            raise
        if kept is not None:
            _in_flight.release(ident)
            seen, status, text = kept
            if seen != fingerprint:
                raise KeyReused(f"This {HEADER} was used for another request within 24 hours: send a new key "
                                f"for a new change")
            response = current_app.response_class(text, status=status, mimetype=mimetype)
            response.headers["Idempotent-Replayed"] = "true"
            response.headers["Cache-Control"] = "no-store"
            return response
        g.idempotency = (ident, fingerprint)
        return None

    @bp.after_request
    def _keep_answer(response):
        pending = g.pop("idempotency", None)
        if pending is None:
            return response
        ident, fingerprint = pending
        try:
            # Storage failures (5xx) are not kept: the retry should try again. Refusals are the answer.
            if response.status_code < 500 and response.mimetype == mimetype:
                service().keep_answer(*ident, conference_of(response), fingerprint, response.status_code,
                                      response.get_data(as_text=True))
        except ConferenceError as exc:
            current_app.logger.warning("An answer could not be kept for retries: %s", exc)
        finally:
            _in_flight.release(ident)
        return response

    @bp.teardown_request
    def _release(_exc=None):
        pending = g.pop("idempotency", None)  # left only when the request failed before an answer
        if pending is not None:
            _in_flight.release(pending[0])
