"""The OpenAPI 3.0 description of the chair's JSON API (served at ``GET /api/openapi.json``).

The bodies' schemas are generated from the models of :mod:`web_ui.contract` (the ones the
routes validate with); the paths, parameters and answers are written here, beside the routes
in :mod:`web_ui.api`. A test checks that every ``/api`` route of the app is described with
its methods, so the two cannot drift apart.
"""

from __future__ import annotations

import copy

from kiosk import __version__
from web_ui.contract import REF_TEMPLATE, PageQuery, SinceQuery, component_schemas


def _ref(name: str) -> dict:
    return {"$ref": REF_TEMPLATE.format(model=name)}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict:
    return {"$ref": f"#/components/responses/{description}"}


RESPONSES = {
    "BadRequest": _json(_ref("Error"), "Bad input (or a missing or wrong CSRF token); nothing was changed."),
    "Unauthorized": _json(_ref("Error"), "Not signed in, or the session has ended: sign in with POST /api/login."),
    "WrongPin": _json(_ref("Error"), "Wrong PIN, or a wrong, used or expired pairing code (it counts towards the "
                                     "lockout)."),
    "Forbidden": _json(_ref("Error"), "A cross-site request."),
    "NotFound": _json(_ref("Error"), "No such conference, invitee or event (or it was purged)."),
    "Conflict": _json(_ref("Error"), "The record's state does not allow this (e.g. it already ended)."),
    "UnsupportedMediaType": _json(_ref("Error"), "The body must be JSON (Content-Type: application/json)."),
    "TooManyRequests": {**_json(_ref("Error"), "Too many wrong PINs: wait for Retry-After seconds."),
                        "headers": {"Retry-After": {"schema": {"type": "integer"}}}},
    "InsufficientStorage": _json(_ref("Error"), "The kiosk's storage is full; nothing was saved."),
    "Unavailable": _json(_ref("Error"), "No PIN set, or the conference record cannot be used now."),
    "KeyReused": _json(_ref("Error"), "This Idempotency-Key was sent within 24 hours with another request."),
}

IDEMPOTENCY_KEY = {"name": "Idempotency-Key", "in": "header", "required": False,
                   "schema": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[!-~]+$"},
                   "description": "One per intended change: a repeat within 24 hours (same session) gets the first "
                                  "answer verbatim and records nothing."}
REPLAYED = {"required": False, "schema": {"type": "string", "enum": ["true"]},
            "description": "The first answer to this Idempotency-Key, given again: nothing new was recorded."}
PAGE = PageQuery.parameters()

CONFERENCE_ID = {"name": "conference_id", "in": "path", "required": True, "schema": {"type": "integer"}}
INVITEE_ID = {"name": "invitee_id", "in": "path", "required": True, "schema": {"type": "integer"}}
EVENT_ID = {"name": "event_id", "in": "path", "required": True, "schema": {"type": "integer"}}


def _op(summary: str, ok: dict, *, body: dict | None = None, status: str = "200", public: bool = False,
        path_ids: tuple = (), writes: bool = False, not_found: bool = True, body_required: bool = True,
        extra: tuple = ()) -> dict:
    responses = {status: ok, "400": _error("BadRequest")}
    if not public:
        responses["401"] = _error("Unauthorized")
    if not_found:
        responses["404"] = _error("NotFound")
    if writes:
        responses.update({"403": _error("Forbidden"), "409": _error("Conflict"), "507": _error("InsufficientStorage")})
    if body is not None:
        responses["415"] = _error("UnsupportedMediaType")
    responses["503"] = _error("Unavailable")
    for code in extra:
        responses[code] = _error({"401": "WrongPin", "429": "TooManyRequests"}[code])
    op = {"summary": summary, "responses": responses}
    if writes:
        responses["422"] = _error("KeyReused")
        responses[status] = {**ok, "headers": {**ok.get("headers", {}), "Idempotent-Replayed": REPLAYED}}
    if path_ids or writes:
        op["parameters"] = list(path_ids) + ([IDEMPOTENCY_KEY] if writes else [])
    if public:
        op["security"] = []
    if body is not None:
        op["requestBody"] = {"required": body_required, "content": body}
    return op


def _json_body(name: str) -> dict:
    return {"application/json": {"schema": _ref(name)}}


EMPTY_BODY = _json_body("Empty")
VIEW = _json(_ref("ConferenceView"), "The conference as the chair's page shows it.")
C = (CONFERENCE_ID,)
SINCE = SinceQuery.parameters()
CI = (CONFERENCE_ID, INVITEE_ID)

PATHS = {
    "/api/login": {"post": _op("Sign in with the chair's PIN or a pairing code", _json(_ref("LoginResponse"),
                                                                                        "Signed in; the session "
                                                                                        "cookie is set."),
                               body=_json_body("LoginRequest"), public=True, not_found=False, extra=("401", "429"))},
    "/api/logout": {"post": _op("Sign out (the session cookie is refused from then on)",
                                _json(_ref("Status"), "Signed out."), not_found=False)},
    "/api/openapi.json": {"get": _op("This document", _json({"type": "object"}, "The OpenAPI document."),
                                     public=True, not_found=False)},
    "/api/conferences": {
        "get": _op("Every stored conference, soonest first (?page=&per_page= for one page)",
                   _json(_ref("ConferenceList"), "The conferences."), not_found=False, path_ids=PAGE),
        "post": _op("Create a conference (today's sets the room's countdown)",
                    {**VIEW, "headers": {"Location": {"schema": {"type": "string"}}}}, status="201",
                    body=_json_body("ConferenceInput"), writes=True, not_found=False),
    },
    "/api/conferences/{conference_id}": {
        "get": _op("The chair's view of a conference; ?since=R waits until its revision passes R", VIEW,
                   path_ids=C + SINCE),
        "patch": _op("Change the conference's details", VIEW, body=_json_body("ConferencePatch"), path_ids=C,
                     writes=True),
    },
    "/api/conferences/{conference_id}/invitees": {
        "post": _op("Invite someone", _json(_ref("InviteeResult"), "Added."), status="201",
                    body=_json_body("InviteeInput"), path_ids=C, writes=True),
    },
    "/api/conferences/{conference_id}/invitees/csv": {
        "post": _op("Import an invitation list from CSV (all or nothing; bad rows listed in problems)",
                    _json(_ref("InviteesAdded"), "Imported."), status="201",
                    body={**_json_body("CsvImport"), "text/csv": {"schema": {"type": "string", "minLength": 1}}},
                    path_ids=C,
                    writes=True),
    },
    "/api/conferences/{conference_id}/invitees/copy-previous": {
        "post": _op("Copy the invitation list of the case's previous conference",
                    _json(_ref("InviteesAdded"), "Copied (people already listed are skipped)."), status="201",
                    body=EMPTY_BODY, body_required=False, path_ids=C, writes=True),
    },
    "/api/conferences/{conference_id}/invitees/{invitee_id}": {
        "patch": _op("Change an invitee (only name and e-mail once events refer to them)",
                     _json(_ref("InviteeResult"), "Changed."), body=_json_body("InviteePatch"), path_ids=CI,
                     writes=True),
        "delete": _op("Take someone off the list (409 once events refer to them)",
                      _json(_ref("InviteeRemoved"), "Removed."), path_ids=CI, writes=True),
    },
    "/api/conferences/{conference_id}/events": {
        "get": _op("One page of the whole log, newest first", _json(_ref("LogPage"), "The page."),
                   path_ids=C + PAGE),
        "post": _op("Record an event now: arrival, apologies, departure, lost connection, report, decision...",
                    _json(_ref("EventResult"), "Recorded; the room's counts follow at once."), status="201",
                    body=_json_body("EventInput"), path_ids=C, writes=True),
    },
    "/api/conferences/{conference_id}/events/{event_id}/correction": {
        "post": _op("Void an event recorded in error (a new event; the log keeps both)",
                    _json(_ref("EventResult"), "Correction recorded."), status="201",
                    body=_json_body("CorrectionInput"), path_ids=(CONFERENCE_ID, EVENT_ID), writes=True),
    },
    "/api/conferences/{conference_id}/quorum": {
        "get": _op("Quorum now, with its reason, and when it was lost and regained",
                   _json(_ref("QuorumResponse"), "Quorum."), path_ids=C),
    },
    "/api/conferences/{conference_id}/record": {
        "get": _op("The attendance record for the minutes", _json(_ref("Record"), "The record."), path_ids=C),
    },
    "/api/conferences/{conference_id}/record.csv": {
        "get": _op("The attendance record as a CSV attachment",
                   {"description": "CSV (UTF-8 with a byte-order mark, for spreadsheets).",
                    "content": {"text/csv": {"schema": {"type": "string"}}}}, path_ids=C),
    },
    "/api/conferences/{conference_id}/end": {
        "post": _op("End the conference (the room's session ends; its counts go back to zero). From then on "
                    "only corrections and reports received are recorded (409), until it is reopened", VIEW,
                    body=EMPTY_BODY, body_required=False, path_ids=C, writes=True),
    },
    "/api/conferences/{conference_id}/reopen": {
        "post": _op("Reopen an ended conference (the end and the reopening stay in the log)", VIEW,
                    body=_json_body("ReopenInput"), body_required=False, path_ids=C, writes=True),
    },
    "/api/conferences/{conference_id}/purge": {
        "post": _op("Delete the conference's names and record now, keeping anonymous counts",
                    _json(_ref("PurgeResult"), "Purged."), body=_json_body("PurgeInput"), path_ids=C, writes=True),
    },
    "/api/state": {"get": {
        "summary": "The room's public state for the room display (no personal data); ?since=N long-polls",
        "security": [],
        "parameters": [{"name": "since", "in": "query", "required": False,
                        "schema": {"type": "integer", "minimum": 0}},
                       {"name": "timeout", "in": "query", "required": False,
                        "description": "Seconds to wait (default 25); more than 30 waits 30.",
                        "schema": {"type": "number", "minimum": 0}}],
        "responses": {"200": _json({"type": "object"}, "The room's state: counts only, never names."),
                      "400": _error("BadRequest")},
    }},
}

DOCUMENT = {
    "openapi": "3.0.3",
    "info": {
        "title": "Hybrid Room Kiosk: the chair's API",
        "version": __version__,
        "description": (
            "Everything the chair's page (/chair) does. Sign in with POST /api/login; send the session cookie "
            "back and the csrf_token in the X-CSRFToken header of every POST, PATCH and DELETE. Without a "
            "session every route but /api/login, /api/openapi.json and /api/state answers 401. Sessions end "
            "after 30 minutes unused. Names stay behind the sign-in: the room display and MQTT get counts only."),
    },
    "servers": [{"url": "/"}],
    "security": [{"session": [], "csrf": []}],
    "paths": PATHS,
    "components": {
        "schemas": component_schemas(),
        "responses": RESPONSES,
        "securitySchemes": {
            "session": {"type": "apiKey", "in": "cookie", "name": "kiosk_chair",
                        "description": "The session cookie set by POST /api/login (HttpOnly, SameSite=Strict)."},
            "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRFToken",
                     "description": "The csrf_token from POST /api/login; needed on POST, PATCH and DELETE."},
        },
    },
}


def document() -> dict:
    """A copy of the OpenAPI document (callers may change theirs)."""
    return copy.deepcopy(DOCUMENT)
