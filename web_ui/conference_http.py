"""What the chair's page (:mod:`web_ui.chair`) and its JSON API (:mod:`web_ui.api`) share over HTTP.

The record's errors as HTTP statuses and bodies, the ``<id:...>`` URL converter, the
form and body field names of a conference and an invitee, and the record as a CSV
download. One place for each, so the page and the API cannot drift apart.
"""

from __future__ import annotations

import math

from flask import Response, current_app, jsonify
from werkzeug.exceptions import NotFound as NotFoundError
from werkzeug.routing import IntegerConverter

from kiosk.conference.errors import (ConferenceError, CsvImportError, InvalidInput, KeyReused, NotAllowed, NotFound,
                                     PinLockedOut, StorageError, StorageFull)
from kiosk.conference.service import PinNotSet

CONFERENCE_FIELDS = ("type", "date", "start_time", "case_ref", "strategy_date", "previous_icpc_date")
CONFERENCE_REQUIRED = ("type", "date", "start_time", "case_ref")
INVITEE_FIELDS = ("name", "role", "agency", "direct_contact", "expected_mode", "email")
INVITEE_REQUIRED = ("name", "role")


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
