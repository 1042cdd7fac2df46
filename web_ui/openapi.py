"""The OpenAPI 3.0 description of the chair's JSON API (served at ``GET /api/openapi.json``), generated.

Its paths come from the app's own routes: each ``/api`` rule of the app's URL map, with the contract its
view declares (:func:`web_ui.operation.declare`): the summary, the path ids (from the rule), the query's
parameters, the body and the answer (their schemas generated from the models of :mod:`web_ui.contract`,
the ones the routes validate with and their answers are checked against), the status, and the errors that
follow from whether it is public, writes, or needs the conference record. A route under ``/api`` that
declares nothing cannot be described: building the document raises.
"""

from __future__ import annotations

import copy
import re

from flask import Flask
from pydantic import BaseModel

from kiosk import __version__
from web_ui import operation
from web_ui.contract import ANSWERS, REF_TEMPLATE, REQUESTS, component_schemas
from web_ui.operation import Operation


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
#: The other statuses an operation may declare, by the response that describes each.
REFUSALS = {401: "WrongPin", 429: "TooManyRequests"}
#: A rule's variables, ``<converter:name>`` or ``<name>``, in order: (converter, name).
_VARIABLE = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")


def _schema(answer) -> dict:
    if isinstance(answer, type) and issubclass(answer, BaseModel):
        if answer not in ANSWERS:
            raise LookupError(f"{answer.__name__} is not among web_ui.contract.ANSWERS (the document's schemas)")
        return _ref(answer.__name__)
    return answer


def _answer(op: Operation) -> dict:
    ok = {"description": op.described, "content": {op.media: {"schema": _schema(op.answer)}}}
    headers = {name: {"schema": {"type": "string"}} for name in op.headers}
    if op.writes:
        headers["Idempotent-Replayed"] = REPLAYED
    return {**ok, "headers": headers} if headers else ok


def _responses(op: Operation, path_ids: list) -> dict:
    responses = {str(op.status): _answer(op), "400": _error("BadRequest")}
    if not op.public:
        responses["401"] = _error("Unauthorized")
    if path_ids:
        responses["404"] = _error("NotFound")
    if op.writes:
        responses.update({"403": _error("Forbidden"), "409": _error("Conflict"), "507": _error("InsufficientStorage"),
                          "422": _error("KeyReused")})
    if op.body is not None:
        responses["415"] = _error("UnsupportedMediaType")
    if op.record:
        responses["503"] = _error("Unavailable")
    for code in op.refusals:
        responses[str(code)] = _error(REFUSALS[code])
    return responses


def _body(op: Operation) -> dict:
    if op.body not in REQUESTS:
        raise LookupError(f"{op.body.__name__} is not among web_ui.contract.REQUESTS (the document's schemas)")
    content = {"application/json": {"schema": _ref(op.body.__name__)}}
    if op.also_text:
        content[op.also_text] = {"schema": {"type": "string", "minLength": 1}}
    return {"required": op.body_required, "content": content}


def describe(op: Operation, rule: str) -> dict:
    """The document's entry for ``op``, served at the Flask URL rule ``rule`` (its variables are record ids)."""
    path_ids = []
    for converter, name in _VARIABLE.findall(rule):
        if converter != "id":
            raise LookupError(f"{rule}: only record ids (<id:...>) can be described as path parameters")
        path_ids.append({"name": name, "in": "path", "required": True, "schema": {"type": "integer"}})
    parameters = path_ids + list(op.query.parameters() if op.query else ()) + ([IDEMPOTENCY_KEY] if op.writes else [])
    entry = {"summary": op.summary, "responses": _responses(op, path_ids)}
    if parameters:
        entry["parameters"] = parameters
    if op.public:
        entry["security"] = []
    if op.body is not None:
        entry["requestBody"] = _body(op)
    return entry


def openapi_path(rule: str) -> str:
    """A Flask URL rule as an OpenAPI path: ``<id:conference_id>`` becomes ``{conference_id}``."""
    return _VARIABLE.sub(r"{\2}", rule)


def paths(app: Flask) -> dict:
    """The document's ``paths``: every ``/api/`` rule of ``app`` with the operation its view declares."""
    out: dict = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.rule.startswith("/api/"):
            continue
        op = operation.of(app.view_functions[rule.endpoint])
        if op is None:
            raise LookupError(f"{rule.rule} ({rule.endpoint}) declares no contract: see web_ui.operation.declare")
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            out.setdefault(openapi_path(rule.rule), {})[method.lower()] = describe(op, rule.rule)
    return out


def api_app() -> Flask:
    """An app holding only the API's routes (no controller, no service): what the document describes."""
    from web_ui import api, display
    from web_ui.conference_http import IdConverter

    app = Flask(__name__)
    app.url_map.converters["id"] = IdConverter
    app.register_blueprint(display.bp)
    app.register_blueprint(api.bp)
    return app


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
    "paths": {},
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


def document(app: Flask | None = None) -> dict:
    """The OpenAPI document of ``app``'s routes (by default the API's own: :func:`api_app`), a copy of its own."""
    return {**copy.deepcopy(DOCUMENT), "paths": copy.deepcopy(PATHS if app is None else paths(app))}


def served(app: Flask) -> dict:
    """The document of ``app``'s routes, built once per app (``GET /api/openapi.json``)."""
    built = app.extensions.get("api.openapi")
    if built is None:
        built = app.extensions.setdefault("api.openapi", document(app))
    return built


#: The API's paths, as its own routes declare them.
PATHS = paths(api_app())
