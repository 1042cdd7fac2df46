"""The chair's JSON API under ``/api/``: everything the chair's page does, for scripts and other clients.

Each view declares its contract once (:func:`web_ui.operation.declare`: its body, query and answer models
from :mod:`web_ui.contract`, its status, whether it is public or writes); its checks at the edge and its entry in
the OpenAPI 3 document at ``GET /api/openapi.json`` (:mod:`web_ui.openapi`) both come from that.

Sign in with ``POST /api/login {"pin": "..."}`` (or ``{"code": "..."}``, a pairing
code): the answer carries ``csrf_token`` and sets the session cookie. Send the cookie
back, and the token in the ``X-CSRFToken`` header of every POST, PATCH and DELETE.
Without a session every route but ``login``, ``openapi.json`` and ``/api/state``
answers 401 (see :mod:`web_ui.auth`).

Bodies are JSON objects (``Content-Type: application/json``; 415 otherwise) with known
fields only, declared once as the models of :mod:`web_ui.contract`. Mistakes answer 400
``{"error": "..."}`` (a CSV import also lists ``problems`` by row) and change nothing; an
unknown conference, invitee or event 404; a change the record's state forbids 409; too many
wrong PINs 429 with ``Retry-After``; no PIN set 503; full storage 507; other storage failures
503. Never a 500 on purpose.

Events are time-stamped by the kiosk's clock; a client cannot date one (``at`` is refused).

Safe retries: every POST, PATCH and DELETE under ``/api/conferences`` may carry an
``Idempotency-Key`` header (1-200 visible ASCII characters, one per intended change). A
repeat of a key within 24 hours, from the same session, gets the first answer verbatim
(its status and body, with ``Idempotent-Replayed: true``) and records nothing; the same
key with another route or body is refused with 422. The key is saved with the change, in one transaction: a
retry whose change was recorded but whose answer was lost (the kiosk restarted in between) records nothing
and answers 409 ``{"error", "view"}``.

Live views: a view's ``revision`` grows with every change to its conference;
``GET /api/conferences/<id>?since=R`` waits (up to ``timeout``, 25 s by default) until the
revision passes ``R``, then answers (unchanged after the wait).
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, abort, current_app, jsonify, request, url_for

from kiosk.conference.errors import AnswerLost, ConferenceError, NotFound, StaleState
from web_ui import admission, auth, idempotency, longpoll
from web_ui.conference_http import csv_response, error_response  # shared with the page (web_ui.chair)
from web_ui.contract import (ConferenceInput, ConferenceList, ConferencePatch, ConferenceView, CorrectionInput,
                             CsvImport, Empty, EventInput, EventResult, InviteeInput, InviteePatch, InviteeRemoved,
                             InviteeResult, InviteesAdded, LoginRequest, LoginResponse, LogPage, PageQuery,
                             PurgeInput, PurgeResult, QuorumResponse, Record, ReopenInput, SinceQuery, Status)
from web_ui.operation import body, declare, query

bp = Blueprint("api", __name__)
# Every operation that writes (POST, PATCH and DELETE under /api/conferences) may carry an Idempotency-Key.
idempotency.protect(bp)
VIEW = "The conference as the chair's page shows it."


# -- errors --------------------------------------------------------------------------

@bp.errorhandler(ConferenceError)
def _conference_error(exc: ConferenceError):
    if isinstance(exc, StaleState):
        return stale_response(exc, (request.view_args or {}).get("conference_id"))
    if isinstance(exc, AnswerLost):
        return lost_response(exc, (request.view_args or {}).get("conference_id"))
    return error_response(exc)


def stale_response(exc: StaleState, conference_id: int | None):
    """409 for a tap made against an old picture: the error, the state now, and the current view."""
    text = json.dumps({"error": str(exc), "state": exc.current}, separators=(",", ":"))
    return _with_view(text, conference_id)


def lost_response(exc: AnswerLost, conference_id: int | None):
    """409 for a retry whose change was recorded but whose answer was lost: the error, and the current view
    (none when the change was the conference's purge, or the URL names no conference)."""
    text = json.dumps({"error": str(exc)}, separators=(",", ":"))
    try:
        return _with_view(text, conference_id)
    except NotFound:  # the change was the conference's purge
        return _with_view(text, None)


def _with_view(text: str, conference_id: int | None):
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
@declare("Sign in with the chair's PIN or a pairing code", answer=LoginResponse,
         described="Signed in; the session cookie is set.", body=LoginRequest, public=True, refusals=(401, 429))
def login():
    """``{"pin": "..."}`` or ``{"code": "..."}``: sign in; answers the session's CSRF token."""
    auth._check_origin()
    data = body()
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
@declare("Sign out (the session cookie is refused from then on)", answer=Status, described="Signed out.")
def logout():
    """End the session now."""
    auth.sign_out()
    return jsonify(status="signed out")


@bp.get("/api/openapi.json")
@declare("This document", answer={"type": "object"}, described="The OpenAPI document.", public=True)
def openapi():
    """The OpenAPI 3 description of this API (of the app's own routes)."""
    from web_ui.openapi import served

    return jsonify(served(current_app))


# -- conferences ---------------------------------------------------------------------

@bp.get("/api/conferences")
@declare("Every stored conference, soonest first (?page=&per_page= for one page)", answer=ConferenceList,
         described="The conferences.", query=PageQuery)
def list_conferences():
    """Every stored conference, soonest first; ``?page=N&per_page=M`` for one page of them."""
    chair = service()
    paging = query()
    if paging.page is None and paging.per_page is None:
        return jsonify(conferences=chair.list_conferences())
    return jsonify(chair.conference_page(paging.page or 1, paging.per_page or 50))


@bp.post("/api/conferences")
@declare("Create a conference (today's sets the room's countdown)", answer=ConferenceView, described=VIEW,
         status=201, headers=("Location",), body=ConferenceInput, writes=True)
def create_conference():
    """A new conference; today's sets the room's countdown."""
    data = body()
    chair = service()
    conference = chair.create_conference(**data.changes())
    return _created(chair.view(conference.id), url_for("api.get_conference", conference_id=conference.id))


@bp.get("/api/conferences/<id:conference_id>")
@declare("The chair's view of a conference; ?since=R waits until its revision passes R", answer=ConferenceView,
         described=VIEW, query=SinceQuery)
def get_conference(conference_id: int):
    """The chair's whole view of a conference: invitees, quorum, reports, timescales, warnings, events.

    ``?since=R`` waits (up to ``timeout`` seconds, 25 by default, at most 30) until the view's revision
    passes R, then answers at once; after the wait, the unchanged view. A ``since`` ahead of the revision
    answers at once.
    """
    chair = service()
    asked = query()
    if asked.since is not None:
        timeout = longpoll.timeout(asked.timeout)
        if asked.since <= chair.revision(conference_id):
            longpoll.wait_for_revision(lambda since, s: chair.wait_for_revision(conference_id, since, s),
                                       asked.since, timeout)
    response = Response(chair.view_json(conference_id), mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.patch("/api/conferences/<id:conference_id>")
@declare("Change the conference's details", answer=ConferenceView, described=VIEW, body=ConferencePatch,
         writes=True)
def update_conference(conference_id: int):
    """Change some of the conference's fields."""
    data = body()
    chair = service()
    chair.update_conference(conference_id, **data.changes())
    return jsonify(chair.view(conference_id))


@bp.post("/api/conferences/<id:conference_id>/end")
@declare("End the conference (the room's session ends; its counts go back to zero). From then on only corrections "
         "and reports received are recorded (409), until it is reopened", answer=ConferenceView, described=VIEW,
         body=Empty, body_required=False, writes=True)
def end_conference(conference_id: int):
    """The conference is over (the room's session ends; its counts go back to zero)."""
    body()
    chair = service()
    chair.end_conference(conference_id)
    return jsonify(chair.view(conference_id))


@bp.post("/api/conferences/<id:conference_id>/reopen")
@declare("Reopen an ended conference (the end and the reopening stay in the log)", answer=ConferenceView,
         described=VIEW, body=ReopenInput, body_required=False, writes=True)
def reopen_conference(conference_id: int):
    """Reopen an ended conference (``{"reason": "..."}`` optional); the end and the reopening stay in the log."""
    data = body()
    chair = service()
    chair.reopen_conference(conference_id, data.reason)
    return jsonify(chair.view(conference_id))


@bp.post("/api/conferences/<id:conference_id>/purge")
@declare("Delete the conference's names and record now, keeping anonymous counts", answer=PurgeResult,
         described="Purged.", body=PurgeInput, writes=True)
def purge_conference(conference_id: int):
    """``{"confirm": true}``: delete the conference's names and record now; answers the anonymous summary."""
    body()  # confirm must be true
    summary = service().purge_conference(conference_id)
    return jsonify(purged=conference_id, summary=summary)


# -- invitees ------------------------------------------------------------------------

@bp.post("/api/conferences/<id:conference_id>/invitees")
@declare("Invite someone", answer=InviteeResult, described="Added.", status=201, body=InviteeInput, writes=True)
def add_invitee(conference_id: int):
    """Invite someone."""
    data = body()
    chair = service()
    invitee = chair.add_invitee(conference_id, **data.changes())
    return _created({"invitee": invitee_dict(invitee), "view": chair.view(conference_id)})


@bp.post("/api/conferences/<id:conference_id>/invitees/csv")
@declare("Import an invitation list from CSV (all or nothing; bad rows listed in problems)", answer=InviteesAdded,
         described="Imported.", status=201, body=CsvImport, also_text="text/csv", writes=True)
def import_csv(conference_id: int):
    """A CSV invitation list: ``text/csv`` body, or JSON ``{"csv": "..."}``. All or nothing."""
    if request.mimetype in ("text/csv", "text/plain"):
        raw = request.get_data(cache=True)
        try:
            text = raw.decode(request.mimetype_params.get("charset", "utf-8"))
        except (UnicodeDecodeError, LookupError):
            abort(400, "the CSV is not UTF-8 text")
    else:
        text = body().csv
    chair = service()
    notes: list[str] = []
    added = chair.import_csv(conference_id, text, notes)
    return _created({"added": [invitee_dict(i) for i in added], "notes": notes, "view": chair.view(conference_id)})


@bp.post("/api/conferences/<id:conference_id>/invitees/copy-previous")
@declare("Copy the invitation list of the case's previous conference", answer=InviteesAdded,
         described="Copied (people already listed are skipped).", status=201, body=Empty, body_required=False,
         writes=True)
def copy_previous(conference_id: int):
    """Copy the invitation list of the case's previous conference (people already listed are skipped)."""
    body()
    chair = service()
    added = chair.copy_previous(conference_id)
    return _created({"added": [invitee_dict(i) for i in added], "view": chair.view(conference_id)})


@bp.patch("/api/conferences/<id:conference_id>/invitees/<id:invitee_id>")
@declare("Change an invitee (only name and e-mail once events refer to them)", answer=InviteeResult,
         described="Changed.", body=InviteePatch, writes=True)
def update_invitee(conference_id: int, invitee_id: int):
    """Change an invitee (only the name and e-mail once events refer to them: 409 otherwise)."""
    data = body()
    chair = service()
    invitee = chair.update_invitee(conference_id, invitee_id, **data.changes())
    return jsonify({"invitee": invitee_dict(invitee), "view": chair.view(conference_id)})


@bp.delete("/api/conferences/<id:conference_id>/invitees/<id:invitee_id>")
@declare("Take someone off the list (409 once events refer to them)", answer=InviteeRemoved, described="Removed.",
         writes=True)
def remove_invitee(conference_id: int, invitee_id: int):
    """Take someone off the list (409 once events refer to them: correct the events instead)."""
    chair = service()
    chair.remove_invitee(conference_id, invitee_id)
    return jsonify({"removed": invitee_id, "view": chair.view(conference_id)})


# -- events --------------------------------------------------------------------------

@bp.post("/api/conferences/<id:conference_id>/events")
@declare("Record an event now: arrival, apologies, departure, lost connection, report, decision...",
         answer=EventResult, described="Recorded; the room's counts follow at once.", status=201, body=EventInput,
         writes=True)
def record_event(conference_id: int):
    """``{"kind": "...", "invitee_id": n, "details": {...}}``: record an event now (kiosk clock)."""
    data = body()
    chair = service()
    event = chair.record_event(conference_id, data.kind, data.invitee_id, data.details or {},
                               expect_state=data.expect_state)
    return _event_and_view(chair, event, conference_id)


@bp.get("/api/conferences/<id:conference_id>/events")
@declare("One page of the whole log, newest first", answer=LogPage, described="The page.", query=PageQuery)
def list_events(conference_id: int):
    """One page of the whole log, newest first (``?page=1&per_page=50``)."""
    paging = query()
    page = 1 if paging.page is None else paging.page
    return jsonify(service().log_page(conference_id, page, 50 if paging.per_page is None else paging.per_page))


@bp.post("/api/conferences/<id:conference_id>/events/<id:event_id>/correction")
@declare("Void an event recorded in error (a new event; the log keeps both)", answer=EventResult,
         described="Correction recorded.", status=201, body=CorrectionInput, writes=True)
def correct_event(conference_id: int, event_id: int):
    """``{"reason": "..."}``: void an event recorded in error (a new event; the log keeps both)."""
    data = body()
    chair = service()
    event = chair.correct_event(conference_id, event_id, data.reason)
    return _event_and_view(chair, event, conference_id)


@bp.get("/api/conferences/<id:conference_id>/quorum")
@declare("Quorum now, with its reason, and when it was lost and regained", answer=QuorumResponse, described="Quorum.")
def get_quorum(conference_id: int):
    """Quorum now with its reason, and when it was lost and regained."""
    view = service().view(conference_id)
    return jsonify(quorum=view["quorum"], timeline=view["timeline"])


# -- the record ----------------------------------------------------------------------

@bp.get("/api/conferences/<id:conference_id>/record")
@declare("The attendance record for the minutes", answer=Record, described="The record.")
def get_record(conference_id: int):
    """The attendance record for the minutes."""
    return jsonify(service().record(conference_id))


@bp.get("/api/conferences/<id:conference_id>/record.csv")
@declare("The attendance record as a CSV attachment", answer={"type": "string"}, media="text/csv",
         described="CSV (UTF-8 with a byte-order mark, for spreadsheets).")
def get_record_csv(conference_id: int):
    """The attendance record as a CSV attachment."""
    return csv_response(service(), conference_id)
