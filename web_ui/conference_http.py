"""What the chair's page (:mod:`web_ui.chair`) and its JSON API (:mod:`web_ui.api`) share over HTTP.

The record's errors as HTTP statuses and bodies, a JSON body checked against its model
(:mod:`web_ui.contract`) with pydantic's errors as the API's messages, the ``<id:...>`` URL
converter, the form and body field names of a conference and an invitee, and the record as
a CSV download. One place for each, so the page and the API cannot drift apart.
"""

from __future__ import annotations

import math

from flask import Response, current_app, jsonify
from pydantic import ValidationError
from werkzeug.exceptions import NotFound as NotFoundError
from werkzeug.routing import IntegerConverter

from kiosk.conference.errors import (ConferenceError, CsvImportError, InvalidInput, KeyReused, NotAllowed, NotFound,
                                     PinLockedOut, StorageError, StorageFull)
from kiosk.conference.errors import PinNotSet
from web_ui.contract import ConferenceInput, InviteeInput, Request

CONFERENCE_FIELDS = ConferenceInput.field_names()
CONFERENCE_REQUIRED = ConferenceInput.required_names()
INVITEE_FIELDS = InviteeInput.field_names()
INVITEE_REQUIRED = InviteeInput.required_names()
#: pydantic's type errors (strict JSON types) as the API words them.
TYPE_MESSAGES = {"string_type": "{field} must be text", "int_type": "{field} must be a whole number or null",
                 "dict_type": "{field} must be a JSON object", "bool_type": "{field} must be true or false"}


class IdConverter(IntegerConverter):
    """A record id in a URL: a whole number; one larger than SQLite can hold is simply not found (404).

    The range is checked here rather than by the converter's ``max``: a value the converter refuses
    makes Werkzeug answer 405 with the *other* methods of the path (``PATCH /api/conferences/<huge>``
    would say only GET is allowed), where the truth is that there is no such record.
    """

    #: The largest id SQLite can store (a signed 64-bit integer).
    MAX_ID = 2 ** 63 - 1

    def __init__(self, url_map, *args, **kwargs):
        super().__init__(url_map)

    def to_python(self, value: str) -> int:
        number = super().to_python(value)
        if number > self.MAX_ID:
            raise NotFoundError("No such conference, invitee or event")
        return number


def validated(model: type[Request], data: dict) -> Request:
    """``data`` (a JSON object) as ``model``; InvalidInput with the API's message for the first mistake.

    Unknown fields are named first, then missing ones (null counts as missing), then the first
    field in the model's order that a rule refused, in that rule's own words.
    """
    required = model.required_names()
    try:
        return model.model_validate({k: v for k, v in data.items() if v is not None or k not in required})
    except ValidationError as exc:
        raise input_error(model, exc.errors()) from None


def input_error(model: type[Request], errors: list[dict]) -> InvalidInput:
    """The one message for pydantic's ``errors`` about a body of ``model``."""
    whole = [e for e in errors if not e["loc"]]  # the model's own rules (e.g. pin or code)
    unknown = sorted(str(e["loc"][0]) for e in errors if e["type"] == "extra_forbidden")
    missing = [name for name in model.required_names() if any(e["loc"] == (name,) and e["type"] == "missing"
                                                               for e in errors)]
    if whole:
        first = whole[0]
    elif unknown:
        return InvalidInput(f"unknown field(s) {', '.join(map(repr, unknown))} "
                            f"(known: {', '.join(model.field_names()) or 'none'})")
    elif missing:
        return InvalidInput(f"missing field(s) {', '.join(map(repr, missing))}")
    else:
        order = model.field_names()
        first = min(errors, key=lambda e: order.index(e["loc"][0]) if e["loc"][0] in order else len(order))
    refused = first.get("ctx", {}).get("error")
    if isinstance(refused, InvalidInput):
        return refused
    field = first["loc"][0] if first["loc"] else "the body"
    return InvalidInput(TYPE_MESSAGES.get(first["type"], "{field}: {message}").format(field=field,
                                                                                     message=first["msg"]))


def error_status(exc: ConferenceError) -> int:
    """The HTTP status for an error of the conference record."""
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, KeyReused):
        return 422
    if isinstance(exc, InvalidInput):
        return 400
    if isinstance(exc, PinLockedOut):
        return 429
    if isinstance(exc, PinNotSet):
        return 503
    if isinstance(exc, NotAllowed):
        return 409
    if isinstance(exc, StorageFull):
        return 507
    if isinstance(exc, StorageError):
        return 503
    return 400


def error_body(exc: ConferenceError) -> dict:
    """``{"error": message}``, with ``problems`` for a CSV import. Messages never quote names (D15)."""
    body = {"error": str(exc)}
    if isinstance(exc, CsvImportError):
        body["problems"] = [{"row": row, "message": message} for row, message in exc.problems]
    return body


def error_response(exc: ConferenceError):
    """A JSON error response for ``exc`` (with ``Retry-After`` for a lockout)."""
    status = error_status(exc)
    if status >= 500:
        current_app.logger.warning("Conference record: %s", exc)
    response = jsonify(error_body(exc))
    response.status_code = status
    if isinstance(exc, PinLockedOut):
        response.headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after_s)))
    return response


def csv_response(chair, conference_id: int) -> Response:
    """The record as ``text/csv`` to save (file named by conference id and date, never by the case)."""
    conference = chair.get_conference(conference_id)
    text = chair.record_csv(conference_id)
    filename = f"conference-{conference.id}-{conference.date.isoformat()}-attendance.csv"
    response = Response("\ufeff" + text, mimetype="text/csv")  # the BOM makes Excel read UTF-8
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response
