"""Each ``/api`` view's contract, declared once, beside the view: what it takes and what it answers.

    @bp.get("/api/conferences/<id:conference_id>")
    @declare("The chair's view of a conference", answer=contract.ConferenceView, query=contract.SinceQuery)
    def get_conference(conference_id): ...

Everything else follows from that one :class:`Operation`:

- the view reads its body and query string through :func:`body` and :func:`query`, which take the declared
  models (:mod:`web_ui.contract`): a mistake answers 400 (415 for a body that is not JSON) in the model's words;
- :mod:`web_ui.auth` lets anyone call a ``public`` operation (every other ``/api`` route needs the chair's session);
- :mod:`web_ui.idempotency` honours ``Idempotency-Key`` on an operation that ``writes``;
- :mod:`web_ui.openapi` writes the operation's entry in the document from it and the route's rule (path ids);
- in tests and debug (``app.testing`` or ``app.debug``) :func:`check_answer` checks every answer the operation
  gives against its declared model (the error model for 4xx and 5xx) and raises :class:`kiosk.errors.ContractError`
  on a mismatch, so that a route cannot answer other than its document says without a test failing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Callable

from flask import abort, current_app, request
from pydantic import BaseModel, ValidationError

from kiosk.conference.errors import InvalidInput
from kiosk.errors import ContractError
from web_ui import contract
from web_ui.conference_http import validated

JSON = "application/json"


@dataclass(frozen=True)
class Operation:
    """One API operation's contract.

    ``answer`` is the model of the successful answer's JSON (or, for another ``media``, its schema as a dict),
    given with status ``status`` and described as ``described``; ``headers`` names the headers it carries.
    ``body`` is the request body's model (``body_required``: False when it may be left out; ``also_text``: a
    text media type also accepted, as a string); ``query`` the query string's. ``public``: no session needed.
    ``writes``: changes the record (Idempotency-Key honoured; 403 cross-site, 409, 422 and 507 possible).
    ``record``: needs the conference record (503 without it). ``refusals``: other documented statuses (401
    wrong PIN, 429 locked out).
    """

    summary: str
    answer: type[BaseModel] | dict
    described: str
    status: int = 200
    media: str = JSON
    headers: tuple[str, ...] = ()
    body: type[contract.Request] | None = None
    body_required: bool = True
    also_text: str | None = None
    query: type[contract.Query] | None = None
    public: bool = False
    writes: bool = False
    record: bool = True
    refusals: tuple[int, ...] = ()


def declare(summary: str, **contract_of_view) -> Callable:
    """Decorator: the view's :class:`Operation` (see its fields). Put it under the route's decorator."""
    operation = Operation(summary, **contract_of_view)

    def mark(view):
        view.api_operation = operation
        if operation.public:
            view.chair_public = True  # read by web_ui.auth: the one mark of a view open to anyone
        return view

    return mark


def of(view) -> Operation | None:
    """The operation ``view`` declares (None for a view that declares none)."""
    return getattr(view, "api_operation", None)


def current() -> Operation | None:
    """The operation of the request being answered (None outside ``/api`` views)."""
    view = current_app.view_functions.get(request.endpoint) if request.endpoint else None
    return of(view)


# -- requests at the edge -------------------------------------------------------------------------------------

def _reject_constant(name):
    raise ValueError(f"{name} is not allowed in JSON")


def _declared() -> Operation:
    operation = current()
    if operation is None:
        raise LookupError(f"{request.endpoint} declares no operation (web_ui.operation.declare)")
    return operation


def _as(model, data: dict):
    """``data`` as ``model``; a refusal is a 400 in the model's words, whichever blueprint the view is in."""
    try:
        return validated(model, data)
    except InvalidInput as exc:
        abort(400, str(exc))


def body() -> contract.Request:
    """The request's JSON object as the operation's ``body`` model; 400/415 otherwise."""
    operation = _declared()
    raw = request.get_data(cache=True)
    if not raw.strip() and not operation.body_required:
        return _as(operation.body, {})
    if request.mimetype != JSON:
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
    return _as(operation.body, data)


def query() -> contract.Query:
    """The request's query string as the operation's ``query`` model; 400 naming the first bad parameter."""
    return _as(_declared().query, request.args.to_dict())


# -- answers, checked in tests and debug ----------------------------------------------------------------------

def check_answer(response):
    """``after_request``: with ``app.testing`` or ``app.debug``, the answer of a declared operation must match its
    model (the error model for 4xx and 5xx); :class:`ContractError` otherwise. Off in production."""
    if not (current_app.testing or current_app.debug) or request.method == "OPTIONS":
        return response  # OPTIONS: Flask's own answer (the allowed methods), not the view's
    operation = current()
    if operation is not None:
        problem = mismatch(operation, response.status_code, response.mimetype,
                           None if response.is_streamed else response.get_data())
        if problem:
            raise ContractError(f"{request.method} {request.path} answered off its contract: {problem}")
    return response


def mismatch(operation: Operation, status: int, media: str, data: bytes | None) -> str | None:
    """What is wrong with an answer of ``operation`` (None: nothing), as a sentence."""
    if status >= 400:
        model, expected = contract.Error, JSON
    elif status == operation.status:
        model, expected = operation.answer, operation.media
    else:
        return None  # a redirect or the like: not the operation's own answer
    if media != expected:
        return f"{status} as {media}, declared {expected}"
    if data is None or not (isinstance(model, type) and issubclass(model, BaseModel)):
        return None
    # Exact: a field the model does not name is refused too (unless the model allows more, as the record does),
    # so that a field added to an answer is added to its model, and so to the document, with it.
    exact = None if model.model_config.get("extra") == "allow" else "forbid"
    try:
        model.model_validate_json(data, strict=True, extra=exact)
    except ValidationError as exc:
        return f"{status} is not a {model.__name__}: {exc}"
    return None
