"""The OpenAPI 3.0 description of the chair's JSON API (served at ``GET /api/openapi.json``).

Hand-written, beside the routes in :mod:`web_ui.api`; a test checks that every ``/api``
route of the app is described with its methods, so the two cannot drift apart.
"""

from __future__ import annotations

import copy

from kiosk import __version__
from kiosk.conference.model import Agency, ConferenceType, EventKind, Mode, Role


#: The invitee states an event may expect (``expect_state``).
STATES = ["absent", "apologies", "not_attended", "present", "disconnected", "gone"]
PAGE_FIELDS = {"page": {"type": "integer"}, "per_page": {"type": "integer"}, "total": {"type": "integer"},
               "pages": {"type": "integer"}}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict:
    return {"$ref": f"#/components/responses/{description}"}


DATE = {"type": "string", "format": "date", "example": "2026-11-23"}
TIME = {"type": "string", "pattern": "^([01]?[0-9]|2[0-3]):[0-5][0-9]$", "example": "10:00"}
CASE_REF = {"type": "string", "maxLength": 40, "example": "CP-2026-0142",
            "description": "The child's case number (letters, digits, - _ / . with at least one digit), never a name."}
#: An optional date: a date, null, or an empty string (what a form's empty date field sends), both meaning none.
OPTIONAL_DATE = {"nullable": True, "oneOf": [DATE, {"type": "string", "pattern": "^\\s*$"}]}
YES_NO = {"oneOf": [{"type": "boolean"}, {"type": "string", "enum": ["yes", "no", "y", "n", "true", "false", "1", "0"]}]}


def _conference_input(required: bool) -> dict:
    schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "type": {"type": "string", "enum": [t.value for t in ConferenceType],
                     "description": "initial (ICPC) or review (RCPC); labels and icpc/rcpc are accepted too."},
            "date": DATE,
            "start_time": TIME,
            "case_ref": CASE_REF,
            "strategy_date": {**OPTIONAL_DATE, "description": "The strategy discussion (D7 timescales); null or "
                                                             "\"\" for none."},
            "previous_icpc_date": {**OPTIONAL_DATE, "description": "Reviews: the initial conference; null or \"\" "
                                                                  "for none."},
        },
    }
    if required:
        schema["required"] = ["type", "date", "start_time", "case_ref"]
    else:
        schema["minProperties"] = 1
    return schema


def _invitee_input(required: bool) -> dict:
    schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 200},
            "role": {"type": "string", "enum": [r.value for r in Role],
                     "description": "A role's value, label or common alias (e.g. \"GP\", \"health visitor\")."},
            "agency": {"type": "string", "enum": [a.value for a in Agency], "nullable": True,
                       "description": "Blank: the role's own agency."},
            "direct_contact": {**YES_NO, "nullable": True,
                               "description": "Needed for professionals other than children's social care: it "
                                              "decides whether they count towards quorum (D3)."},
            "expected_mode": {"type": "string", "enum": [m.value for m in Mode], "nullable": True,
                              "description": "Blank: in person for the chair, social worker and parents (D1)."},
            "email": {"type": "string", "format": "email", "nullable": True},
        },
    }
    if required:
        schema["required"] = ["name", "role"]
    else:
        schema["minProperties"] = 1
    return schema


SCHEMAS = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {"type": "string", "description": "What went wrong, for a person (never quotes a name)."},
            "problems": {"type": "array", "description": "CSV import only: every bad row (row 1 is the header; row "
                                                        "0 is the file as a whole, e.g. an empty file).",
                         "items": {"type": "object", "required": ["row", "message"],
                                   "properties": {"row": {"type": "integer", "minimum": 0},
                                                  "message": {"type": "string"}}}},
            "state": {"type": "string", "description": "A 409 for expect_state only: the invitee's state now."},
            "view": {"type": "object", "description": "A 409 for expect_state only: the conference view now."},
        },
    },
    "LoginRequest": {
        "type": "object",
        "additionalProperties": False,
        "description": "Exactly one of pin and code.",
        "oneOf": [{"required": ["pin"]}, {"required": ["code"]}],
        "properties": {
            "pin": {"type": "string", "description": "The chair's PIN (digits)."},
            "code": {"type": "string", "description": "A one-time pairing code from the chair's page (/chair/pair)."},
        },
    },
    "LoginResponse": {
        "type": "object",
        "required": ["csrf_token", "idle_timeout_s"],
        "properties": {
            "csrf_token": {"type": "string", "description": "Send it in the X-CSRFToken header of every POST, "
                                                            "PATCH and DELETE."},
            "idle_timeout_s": {"type": "number", "description": "The session ends after this long unused."},
        },
    },
    "Status": {"type": "object", "properties": {"status": {"type": "string"}}},
    "ConferenceInput": _conference_input(True),
    "ConferencePatch": _conference_input(False),
    "InviteeInput": _invitee_input(True),
    "InviteePatch": _invitee_input(False),
    "CsvImport": {
        "type": "object",
        "additionalProperties": False,
        "required": ["csv"],
        "properties": {"csv": {"type": "string", "minLength": 1,
                               "description": "Header row name,role[,agency,direct_contact,expected_mode,email], then "
                                              "one row per person. An empty one answers 400 (problems row 0)."}},
    },
    "EventInput": {
        "type": "object",
        "additionalProperties": False,
        "required": ["kind"],
        "description": "Time-stamped by the kiosk's clock: an 'at' field is refused.",
        "properties": {
            "kind": {"type": "string", "enum": [k.value for k in EventKind
                                                if k is not EventKind.CORRECTION and not k.by_route_only],
                     "description": "Once the conference has ended only report_received is accepted (409 "
                                    "otherwise) until it is reopened."},
            "expect_state": {"type": "string", "nullable": True, "enum": STATES + [None],
                             "description": "The invitee's state as the client last saw it: if it has changed "
                                            "since, 409 with the current view under 'view' and nothing recorded."},
            "invitee_id": {"type": "integer", "nullable": True,
                           "description": "Required for events about one person; null for started, "
                                          "proceed_inquorate and adjourned."},
            "details": {
                "type": "object",
                "description": "By kind: arrived {mode}; left {agreed}; could_not_rejoin {emailed_chair}; "
                               "report_received {received_on}; proceed_inquorate {reason} (required); "
                               "adjourned {reason, new_date?, late_reason?} (D5: late_reason is required when "
                               "new_date is more than 10 working days after an initial conference); any invitee "
                               "event may add a note.",
                "properties": {
                    "mode": {"type": "string", "enum": [m.value for m in Mode]},
                    "agreed": {"type": "boolean"},
                    "emailed_chair": {"type": "boolean"},
                    "received_on": DATE,
                    "reason": {"type": "string", "maxLength": 2000},
                    "new_date": DATE,
                    "late_reason": {"type": "string", "maxLength": 2000},
                    "note": {"type": "string", "maxLength": 2000},
                },
                "additionalProperties": False,
            },
        },
    },
    "CorrectionInput": {
        "type": "object",
        "additionalProperties": False,
        "required": ["reason"],
        "properties": {"reason": {"type": "string", "minLength": 1, "maxLength": 2000}},
    },
    "PurgeInput": {
        "type": "object",
        "additionalProperties": False,
        "required": ["confirm"],
        "properties": {"confirm": {"type": "boolean", "enum": [True],
                                   "description": "Must be true: the names and record are deleted for good."}},
    },
    "ConferenceSummary": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"}, "type": {"type": "string"}, "type_label": {"type": "string"},
            "date": DATE, "start_time": TIME, "case_ref": CASE_REF,
            "status": {"type": "string", "enum": ["scheduled", "ended"]},
            "strategy_date": {**DATE, "nullable": True}, "previous_icpc_date": {**DATE, "nullable": True},
            "is_today": {"type": "boolean"}, "live": {"type": "boolean"},
            "can_reopen": {"type": "boolean", "description": "In a view: the conference has ended."},
            "double_booked": {"type": "array", "items": {"type": "integer"},
                              "description": "In a view: other conferences of the case at the same date and time."},
        },
    },
    "ConferenceList": {"type": "object", "description": "With ?page or ?per_page, one page and its counts.",
                       "properties": {"conferences": {"type": "array", "items": _ref("ConferenceSummary")},
                                      **PAGE_FIELDS}},
    "ReopenInput": {"type": "object", "additionalProperties": False,
                    "properties": {"reason": {"type": "string", "maxLength": 2000}}},
    "LogPage": {"type": "object", "description": "One page of the whole log, newest first.",
                "properties": {"events": {"type": "array", "items": _ref("LogEntry")}, **PAGE_FIELDS,
                               "revision": {"type": "integer"}}},
    "LogEntry": {"type": "object", "properties": {
        "id": {"type": "integer"}, "at": {"type": "string"}, "kind": {"type": "string"}, "label": {"type": "string"},
        "invitee_id": {"type": "integer", "nullable": True}, "who": {"type": "string", "nullable": True},
        "details": {"type": "string"}, "voided": {"type": "boolean"},
        "voided_by": {"type": "integer", "nullable": True}, "correctable": {"type": "boolean"}}},
    "Invitee": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"}, "conference_id": {"type": "integer"}, "name": {"type": "string"},
            "role": {"type": "string"}, "agency": {"type": "string"}, "direct_contact": {"type": "boolean"},
            "expected_mode": {"type": "string"}, "email": {"type": "string", "nullable": True},
        },
    },
    "Event": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"}, "conference_id": {"type": "integer"},
            "invitee_id": {"type": "integer", "nullable": True}, "kind": {"type": "string"},
            "at": {"type": "string", "format": "date-time"}, "details": {"type": "object"},
            "recorded_at": {"type": "string", "format": "date-time"},
        },
    },
    "Quorum": {
        "type": "object",
        "description": "Quorum now (D3-D5). Counts only: this is also what the room display and MQTT get.",
        "properties": {
            "at": {"type": "string", "format": "date-time"},
            "quorate": {"type": "boolean"},
            "state": {"type": "string", "enum": ["quorate", "inquorate", "waiting", "proceeding"],
                      "description": "waiting: not quorate before the start; proceeding: not quorate, with the "
                                     "chair's decision to proceed."},
            "reason": {"type": "string"},
            "in_person": {"type": "integer"}, "virtual": {"type": "integer"},
            "childrens_social_care": {"type": "boolean"},
            "agencies": {"type": "array", "items": {"type": "string"}},
            "needed": {"type": "integer"}, "started": {"type": "boolean"},
            "min_other_agencies": {"type": "integer"},
            "decision": {"type": "object", "nullable": True,
                         "properties": {"at": {"type": "string"}, "reason": {"type": "string"}}},
        },
    },
    "QuorumResponse": {
        "type": "object",
        "properties": {"quorum": _ref("Quorum"),
                       "timeline": {"type": "object", "description": "At the start, changes (lost/regained), "
                                                                     "decisions, inquorate periods, warnings."}},
    },
    "Person": {
        "type": "object",
        "description": "An invitee with where they stand now.",
        "properties": {
            "id": {"type": "integer"}, "name": {"type": "string"}, "role": {"type": "string"},
            "agency": {"type": "string"}, "direct_contact": {"type": "boolean"},
            "expected_mode": {"type": "string"}, "counts_towards_quorum": {"type": "boolean"},
            "needs_report": {"type": "boolean"},
            "state": {"type": "string", "enum": ["absent", "apologies", "not_attended", "present", "disconnected",
                                                 "gone"]},
            "status_text": {"type": "string"}, "mode": {"type": "string", "nullable": True},
            "camera_off": {"type": "boolean"}, "arrived_at": {"type": "string", "nullable": True},
            "late": {"type": "boolean"}, "minutes_late": {"type": "integer", "nullable": True},
            "seconds_late": {"type": "integer", "nullable": True},
            "late_text": {"type": "string", "nullable": True,
                          "description": "D6: \"27 s\" under a minute (never rounded up), else \"6 min\"."},
            "left_at": {"type": "string", "nullable": True},
            "report": {"type": "object", "properties": {
                "status": {"type": "string", "enum": ["on time", "late", "missing", "awaited", "received",
                                                      "not expected"]},
                "received_on": {**DATE, "nullable": True}, "due": DATE}},
            "actions": {"type": "array", "items": {"type": "string"},
                        "description": "The taps the page offers for them now."},
        },
    },
    "ConferenceView": {
        "type": "object",
        "description": "Everything the chair's page shows about a conference.",
        "properties": {
            "conference": _ref("ConferenceSummary"),
            "revision": {"type": "integer", "description": "Grows with every change to this conference: send it as "
                                                           "?since= to wait for the next."},
            "now": {"type": "string", "description": "The kiosk's clock (HH:MM:SS, local)."},
            "quorum": _ref("Quorum"),
            "timeline": {"type": "object"},
            "people": {"type": "array", "items": _ref("Person")},
            "counts": {"type": "object"},
            "reports": {"type": "object"},
            "timescales": {"type": "array", "items": {"type": "object", "properties": {
                "name": {"type": "string"}, "due": DATE, "status": {"type": "string"},
                "held": {**DATE, "nullable": True}, "warning": {"type": "string", "nullable": True},
                "due_is_working_day": {"type": "boolean"},
                "last_working_day": {**DATE, "description": "D7: the due date, or the last working day before it."},
                "due_note": {"type": "string", "nullable": True,
                             "description": "When the due date is a weekend or bank holiday: says so."}}}},
            "timescale_warnings": {"type": "array", "items": {"type": "string"},
                                   "description": "D5 and D7 warnings, for the page's top banner."},
            "reconvene": {"type": "object", "nullable": True,
                          "description": "D5, after a decision not to proceed: by (the 10th working day after an "
                                         "initial conference), new_date, late (the new date is after it) and its "
                                         "late_reason.",
                          "properties": {"by": {**DATE, "nullable": True}, "new_date": {**DATE, "nullable": True},
                                         "late": {"type": "boolean"},
                                         "late_reason": {"type": "string", "nullable": True}}},
            "warnings": {"type": "array", "items": {"type": "string"}},
            "events": {"type": "array", "items": _ref("LogEntry")},
            "events_total": {"type": "integer", "description": "How many entries the whole log has."},
        },
    },
    "InviteeResult": {"type": "object", "properties": {"invitee": _ref("Invitee"), "view": _ref("ConferenceView")}},
    "InviteesAdded": {"type": "object", "properties": {"added": {"type": "array", "items": _ref("Invitee")},
                                                       "notes": {"type": "array", "items": {"type": "string"},
                                                                 "description": "CSV: columns ignored."},
                                                       "view": _ref("ConferenceView")}},
    "InviteeRemoved": {"type": "object", "properties": {"removed": {"type": "integer"},
                                                        "view": _ref("ConferenceView")}},
    "EventResult": {"type": "object", "properties": {"event": _ref("Event"), "view": _ref("ConferenceView")}},
    "Record": {"type": "object", "description": "The attendance record for the minutes (names included)."},
    "PurgeResult": {"type": "object", "properties": {"purged": {"type": "integer"},
                                                     "summary": {"type": "object",
                                                                 "description": "The anonymous counts kept."}}},
}

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
PAGE = ({"name": "page", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1}},
        {"name": "per_page", "in": "query", "required": False,
         "schema": {"type": "integer", "minimum": 1, "maximum": 500}})

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


EMPTY_BODY = {"application/json": {"schema": {"type": "object", "additionalProperties": False}}}
VIEW = _json(_ref("ConferenceView"), "The conference as the chair's page shows it.")
C = (CONFERENCE_ID,)
SINCE = ({"name": "since", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 0},
          "description": "Wait until the view's revision passes this."},
         {"name": "timeout", "in": "query", "required": False, "schema": {"type": "number", "minimum": 0},
          "description": "Seconds to wait with since (default 25, at most 30)."})
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
        "schemas": SCHEMAS,
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
