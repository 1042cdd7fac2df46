"""The chair's JSON API under ``/api/``: everything the chair's page does, for scripts and other clients.

Described by the OpenAPI 3 document at ``GET /api/openapi.json`` (:mod:`web_ui.openapi`).

Sign in with ``POST /api/login {"pin": "..."}`` (or ``{"code": "..."}``, a pairing
code): the answer carries ``csrf_token`` and sets the session cookie. Send the cookie
back, and the token in the ``X-CSRFToken`` header of every POST, PATCH and DELETE.
Without a session every route but ``login``, ``openapi.json`` and ``/api/state``
answers 401 (see :mod:`web_ui.auth`).

Bodies are JSON objects (``Content-Type: application/json``; 415 otherwise) with known
fields only, declared once as the models of :mod:`web_ui.contract`. Mistakes answer 400 ``{"error": "..."}`` (a CSV import also lists
``problems`` by row) and change nothing; an unknown conference, invitee or event 404;
a change the record's state forbids 409; too many wrong PINs 429 with ``Retry-After``;
no PIN set 503; full storage 507; other storage failures 503. Never a 500 on purpose.

Events are time-stamped by the kiosk's clock; a client cannot date one (``at`` is refused).

Safe retries: every POST, PATCH and DELETE under ``/api/conferences`` may carry an
``Idempotency-Key`` header (1-200 visible ASCII characters, one per intended change). A
repeat of a key within 24 hours, from the same session, gets the first answer verbatim
(its status and body, with ``Idempotent-Replayed: true``) and records nothing; the same
key with another route or body is refused with 422.

Live views: a view's ``revision`` grows with every change to its conference;
``GET /api/conferences/<id>?since=R`` waits (up to ``timeout``, 25 s by default) until the
revision passes ``R``, then answers (unchanged after the wait).
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, abort, current_app, jsonify, request, url_for

from kiosk.conference.errors import ConferenceError, StaleState
from web_ui import admission, auth, contract, idempotency, longpoll
# Shared with the page (web_ui.chair), defined once.
from web_ui.conference_http import csv_response, error_response, validated

bp = Blueprint("api", __name__)
# Every POST, PATCH and DELETE under /api/conferences may carry an Idempotency-Key.
idempotency.protect(bp, "/api/conferences")


# -- errors --------------------------------------------------------------------------

@bp.errorhandler(ConferenceError)
def _conference_error(exc: ConferenceError):
    if isinstance(exc, StaleState):
        return stale_response(exc, (request.view_args or {}).get("conference_id"))
    return error_response(exc)


def stale_response(exc: StaleState, conference_id: int | None):
    """409 for a tap made against an old picture: the error, the state now, and the current view."""
    text = json.dumps({"error": str(exc), "state": exc.current}, separators=(",", ":"))
    if conference_id is not None:
        text = f'{text[:-1]},"view":{service().view_json(conference_id)}}}'
    return Response(text, status=409, mimetype="application/json")


# -- helpers -------------------------------------------------------------------------

def service():
    """The ChairService; 503 when the conference record is unavailable on this kiosk."""
    chair = auth.get_service()
    if chair is None:
        abort(503, "The conference record is not available on this kiosk: ask IT to check its storage")
    return chair


def _reject_constant(name):
    raise ValueError(f"{name} is not allowed in JSON")


def body(model: type[contract.Request], *, optional_body: bool = False):
    """The request's JSON object as ``model`` (:mod:`web_ui.contract`); 400/415 otherwise."""
    raw = request.get_data(cache=True)
    if not raw.strip() and optional_body:
        return validated(model, {})
    if request.mimetype != "application/json":
        abort(415, "send a JSON body with Content-Type: application/json")
    try:
        data = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        abort(400, "the body is not valid JSON")
    try:
        # JSON may escape half a character ("\ud800"), which no UTF-8 text (nor the database) can hold.
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except (UnicodeEncodeError, RecursionError):
        abort(400, "the body is not valid JSON text: it escapes a lone surrogate (\\ud800-\\udfff)")
    if not isinstance(data, dict):
        abort(400, "the body must be a JSON object")
    return validated(model, data)


def invitee_dict(invitee) -> dict:
    return {"id": invitee.id, "conference_id": invitee.conference_id, "name": invitee.name,
            "role": invitee.role.value, "agency": invitee.agency.value, "direct_contact": invitee.direct_contact,
            "expected_mode": invitee.expected_mode.value, "email": invitee.email}


def event_dict(event) -> dict:
    return {"id": event.id, "conference_id": event.conference_id, "invitee_id": event.invitee_id,
            "kind": event.kind.value, "at": event.at.isoformat(), "details": dict(event.details),
            "recorded_at": event.recorded_at.isoformat() if event.recorded_at else None}


def _created(payload: dict, location: str | None = None):
    response = jsonify(payload)
    response.status_code = 201
    if location:
        response.headers["Location"] = location
    return response


def _event_and_view(chair, event, conference_id: int):
    """201 with ``{"event": ..., "view": ...}``; the view's JSON is the text its readers are served next."""
    text = f'{{"event":{json.dumps(event_dict(event), separators=(",", ":"))},"view":{chair.view_json(conference_id)}}}'
    return Response(text, status=201, mimetype="application/json")


# -- sign-in -------------------------------------------------------------------------

@bp.post("/api/login")
def login():
    """``{"pin": "..."}`` or ``{"code": "..."}``: sign in; answers the session's CSRF token."""
    auth._check_origin()
    data = body(contract.LoginRequest)
    by_pin = "pin" in data.model_fields_set
    service()  # 503 without the conference record
    access = auth.get_access()
    with admission.waiting():  # the slow hash, and guesses queued one at a time, must not hold up the room
        if by_pin:
            ok = access.check_pin(auth.client_key(), data.pin)
        else:
            ok = access.check_pairing_code(auth.client_key(), data.code)
    if not ok:
        abort(401, "Wrong PIN" if by_pin else "Wrong or expired pairing code")
    token = auth.sign_in()
    return jsonify(csrf_token=token, idle_timeout_s=auth.idle_timeout_s())


@bp.post("/api/logout")
def logout():
    """End the session now."""
    auth.sign_out()
    return jsonify(status="signed out")


@bp.get("/api/openapi.json")
def openapi():
    """The OpenAPI 3 description of this API."""
    from web_ui.openapi import document

    return jsonify(document())


# -- conferences ---------------------------------------------------------------------

def query(model: type[contract.Query]):
    """The request's query string as ``model``; 400 naming the first bad parameter."""
    return validated(model, request.args.to_dict())


@bp.get("/api/conferences")
def list_conferences():
    """Every stored conference, soonest first; ``?page=N&per_page=M`` for one page of them."""
    chair = service()
    paging = query(contract.PageQuery)
    if paging.page is None and paging.per_page is None:
        return jsonify(conferences=chair.list_conferences())
    return jsonify(chair.conference_page(paging.page or 1, paging.per_page or 50))


@bp.post("/api/conferences")
def create_conference():
    """A new conference; today's sets the room's countdown."""
    data = body(contract.ConferenceInput)
    chair = service()
    conference = chair.create_conference(**data.changes())
    return _created(chair.view(conference.id), url_for("api.get_conference", conference_id=conference.id))


def _timeout(asked: float | None) -> float:
    """The long-poll's wait: ``asked``, or the default, and never more than the most."""
    cfg = current_app.config
    return min(float(cfg["LONG_POLL_DEFAULT_S"]) if asked is None else asked, float(cfg["LONG_POLL_MAX_S"]))


@bp.get("/api/conferences/<id:conference_id>")
def get_conference(conference_id: int):
    """The chair's whole view of a conference: invitees, quorum, reports, timescales, warnings, events.

    ``?since=R`` waits (up to ``timeout`` seconds, 25 by default, at most 30) until the view's revision
    passes R, then answers at once; after the wait, the unchanged view. A ``since`` ahead of the revision
    answers at once.
    """
    chair = service()
    asked = query(contract.SinceQuery)
    if asked.since is not None:
        timeout = _timeout(asked.timeout)
        if asked.since <= chair.revision(conference_id):
            longpoll.wait_for_revision(lambda since, s: chair.wait_for_revision(conference_id, since, s),
                                       asked.since, timeout)
    response = Response(chair.view_json(conference_id), mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.patch("/api/conferences/<id:conference_id>")
def update_conference(conference_id: int):
    """Change some of the conference's fields."""
    data = body(contract.ConferencePatch)
    chair = service()
    chair.update_conference(conference_id, **data.changes())
    return jsonify(chair.view(conference_id))


@bp.post("/api/conferences/<id:conference_id>/end")
def end_conference(conference_id: int):
    """The conference is over (the room's session ends; its counts go back to zero)."""
    body(contract.Empty, optional_body=True)
    chair = service()
    chair.end_conference(conference_id)
    return jsonify(chair.view(conference_id))


@bp.post("/api/conferences/<id:conference_id>/reopen")
def reopen_conference(conference_id: int):
    """Reopen an ended conference (``{"reason": "..."}`` optional); the end and the reopening stay in the log."""
    data = body(contract.ReopenInput, optional_body=True)
    chair = service()
    chair.reopen_conference(conference_id, data.reason)
    return jsonify(chair.view(conference_id))


@bp.post("/api/conferences/<id:conference_id>/purge")
def purge_conference(conference_id: int):
    """``{"confirm": true}``: delete the conference's names and record now; answers the anonymous summary."""
    body(contract.PurgeInput)  # confirm must be true
    summary = service().purge_conference(conference_id)
    return jsonify(purged=conference_id, summary=summary)


# -- invitees ------------------------------------------------------------------------

@bp.post("/api/conferences/<id:conference_id>/invitees")
def add_invitee(conference_id: int):
    """Invite someone."""
    data = body(contract.InviteeInput)
    chair = service()
    invitee = chair.add_invitee(conference_id, **data.changes())
    return _created({"invitee": invitee_dict(invitee), "view": chair.view(conference_id)})


@bp.post("/api/conferences/<id:conference_id>/invitees/csv")
def import_csv(conference_id: int):
    """A CSV invitation list: ``text/csv`` body, or JSON ``{"csv": "..."}``. All or nothing."""
    if request.mimetype in ("text/csv", "text/plain"):
        raw = request.get_data(cache=True)
        try:
            text = raw.decode(request.mimetype_params.get("charset", "utf-8"))
        except (UnicodeDecodeError, LookupError):
            abort(400, "the CSV is not UTF-8 text")
    else:
        text = body(contract.CsvImport).csv
    chair = service()
    notes: list[str] = []
    added = chair.import_csv(conference_id, text, notes)
    return _created({"added": [invitee_dict(i) for i in added], "notes": notes, "view": chair.view(conference_id)})


@bp.post("/api/conferences/<id:conference_id>/invitees/copy-previous")
def copy_previous(conference_id: int):
    """Copy the invitation list of the case's previous conference (people already listed are skipped)."""
    body(contract.Empty, optional_body=True)
    chair = service()
    added = chair.copy_previous(conference_id)
    return _created({"added": [invitee_dict(i) for i in added], "view": chair.view(conference_id)})


@bp.patch("/api/conferences/<id:conference_id>/invitees/<id:invitee_id>")
def update_invitee(conference_id: int, invitee_id: int):
    """Change an invitee (only the name and e-mail once events refer to them: 409 otherwise)."""
    data = body(contract.InviteePatch)
    chair = service()
    invitee = chair.update_invitee(conference_id, invitee_id, **data.changes())
    return jsonify({"invitee": invitee_dict(invitee), "view": chair.view(conference_id)})


@bp.delete("/api/conferences/<id:conference_id>/invitees/<id:invitee_id>")
def remove_invitee(conference_id: int, invitee_id: int):
    """Take someone off the list (409 once events refer to them: correct the events instead)."""
    chair = service()
    chair.remove_invitee(conference_id, invitee_id)
    return jsonify({"removed": invitee_id, "view": chair.view(conference_id)})


# -- events --------------------------------------------------------------------------

@bp.post("/api/conferences/<id:conference_id>/events")
def record_event(conference_id: int):
    """``{"kind": "...", "invitee_id": n, "details": {...}}``: record an event now (kiosk clock)."""
    data = body(contract.EventInput)
    chair = service()
    event = chair.record_event(conference_id, data.kind, data.invitee_id, data.details or {},
                               expect_state=data.expect_state)
    return _event_and_view(chair, event, conference_id)


@bp.get("/api/conferences/<id:conference_id>/events")
def list_events(conference_id: int):
    """One page of the whole log, newest first (``?page=1&per_page=50``)."""
    paging = query(contract.PageQuery)
    page = 1 if paging.page is None else paging.page
    return jsonify(service().log_page(conference_id, page, 50 if paging.per_page is None else paging.per_page))


@bp.post("/api/conferences/<id:conference_id>/events/<id:event_id>/correction")
def correct_event(conference_id: int, event_id: int):
    """``{"reason": "..."}``: void an event recorded in error (a new event; the log keeps both)."""
    data = body(contract.CorrectionInput)
    chair = service()
    event = chair.correct_event(conference_id, event_id, data.reason)
    return _event_and_view(chair, event, conference_id)


@bp.get("/api/conferences/<id:conference_id>/quorum")
def get_quorum(conference_id: int):
    """Quorum now with its reason, and when it was lost and regained."""
    view = service().view(conference_id)
    return jsonify(quorum=view["quorum"], timeline=view["timeline"])


# -- the record ----------------------------------------------------------------------

@bp.get("/api/conferences/<id:conference_id>/record")
def get_record(conference_id: int):
    """The attendance record for the minutes."""
    return jsonify(service().record(conference_id))


@bp.get("/api/conferences/<id:conference_id>/record.csv")
def get_record_csv(conference_id: int):
    """The attendance record as a CSV attachment."""
    return csv_response(service(), conference_id)
