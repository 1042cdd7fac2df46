"""The chair's JSON API contract, declared once: every request and response body as a pydantic model.

The routes (:mod:`web_ui.api`) validate request bodies with these models (through
:func:`web_ui.conference_http.validated`, which also turns pydantic's errors into the API's
messages), and the OpenAPI document (:mod:`web_ui.openapi`) takes its ``components/schemas``
from them (:func:`component_schemas`).

A field whose value the record's own rules judge (a date, an HH:MM time, a case reference,
a role...) is checked by that rule of :mod:`kiosk.conference.validation`, the one the CSV
import and the page's forms use too, so that a mistake reads the same wherever it is made.
Request models are strict (JSON text is not taken for a number) and refuse unknown fields.

Response models describe what the service answers (the routes send its dicts as they are):
their fields are never required, and ``None`` is their default only so that none is; a field
that is present must have its declared type, and fields beyond the model's are let through.
In tests and debug every API answer is checked against its model (:mod:`web_ui.operation`,
where each route declares which models it takes and answers).
"""

from __future__ import annotations

import datetime as dt
import math
from datetime import date, time
from typing import Annotated, Any, Callable, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, WithJsonSchema, model_validator
from pydantic.json_schema import GenerateJsonSchema

from kiosk.checks.result import Status as CheckStatus
from kiosk.conference import validation as rules
from kiosk.conference.errors import InvalidInput
from kiosk.conference.model import EVENT_DETAILS, Agency, ConferenceType, EventKind, Mode, Role
from kiosk.room import State as RoomStateName
from kiosk.schedule import PHASES

# -- the record's rules as field types --------------------------------------------------------------------------

DATE = {"type": "string", "format": "date", "example": "2026-11-23"}
TIME = {"type": "string", "pattern": f"^{rules.HHMM_PATTERN}$", "example": "10:00"}
CASE_REF = {"type": "string", "maxLength": rules.CASE_REF_MAX, "example": "CP-2026-0142",
            "description": "The child's case number (letters, digits, - _ / . with at least one digit), never a name."}
#: An optional date: a date, null, or an empty string (what a form's empty date field sends), both meaning none.
OPTIONAL_DATE = {"nullable": True, "oneOf": [DATE, {"type": "string", "pattern": "^\\s*$"}]}
YES_NO = {"oneOf": [{"type": "boolean"}, {"type": "string", "enum": sorted(rules.YES_NO_WORDS)}]}
TEXT = {"type": "string", "maxLength": rules.MAX_TEXT}


def _ruled(check: Callable[[Any], Any], schema: dict, *, described: str | None = None) -> tuple:
    """Annotated metadata: a field checked by ``check`` (a rule raising InvalidInput), documented as ``schema``."""
    return (PlainValidator(check), WithJsonSchema({**schema, **({"description": described} if described else {})}))


def _choice(cls, what: str, *, optional: bool = False) -> Callable[[Any], Any]:
    if optional:
        return lambda value: None if rules.blank(value) else rules.parse_choice(cls, value, what)
    return lambda value: rules.parse_choice(cls, value, what)


def _enum(cls, **extra) -> dict:
    return {"type": "string", "enum": [member.value for member in cls], **extra}


ConferenceTypeField = Annotated[ConferenceType, *_ruled(
    _choice(ConferenceType, "conference type"), _enum(ConferenceType),
    described="initial (ICPC) or review (RCPC); labels and icpc/rcpc are accepted too.")]
ConferenceDate = Annotated[date, *_ruled(lambda v: rules.parse_date(v, "the conference date"), DATE)]
StartTime = Annotated[time, *_ruled(lambda v: rules.parse_time(v, "the start time"), TIME)]
CaseRef = Annotated[str, *_ruled(rules.check_case_ref, CASE_REF)]
StrategyDate = Annotated[date | None, *_ruled(
    lambda v: rules.parse_optional_date(v, "the strategy discussion date"), OPTIONAL_DATE,
    described="The strategy discussion (D7 timescales); null or \"\" for none.")]
PreviousIcpcDate = Annotated[date | None, *_ruled(
    lambda v: rules.parse_optional_date(v, "the previous ICPC date"), OPTIONAL_DATE,
    described="Reviews: the initial conference; null or \"\" for none.")]

Name = Annotated[str, *_ruled(rules.check_name, {"type": "string", "minLength": 1, "maxLength": rules.MAX_NAME})]
RoleField = Annotated[Role, *_ruled(_choice(Role, "role"), _enum(Role), described=(
    "A role's value, label or common alias (e.g. \"GP\", \"health visitor\")."))]
AgencyField = Annotated[Agency | None, *_ruled(_choice(Agency, "agency", optional=True),
                                               _enum(Agency, nullable=True), described="Blank: the role's own agency.")]
DirectContact = Annotated[bool | None, *_ruled(
    lambda v: None if rules.blank(v) else rules.parse_bool(v, "direct contact"), {**YES_NO, "nullable": True},
    described="Needed for professionals other than children's social care: it decides whether they count towards "
              "quorum (D3).")]
ExpectedMode = Annotated[Mode | None, *_ruled(_choice(Mode, "expected mode", optional=True),
                                              _enum(Mode, nullable=True),
                                              described="Blank: in person for the chair, social worker and parents "
                                                        "(D1).")]
Email = Annotated[str | None, *_ruled(rules.check_email, {"type": "string", "format": "email", "nullable": True})]


def _must_confirm(value) -> bool:
    if value is not True:
        raise InvalidInput("confirm must be true: purging deletes the names and the record for good")
    return True


def _details_schema() -> dict:
    """The events' details, documented from the record's own table of what each kind takes."""
    kinds = {bool: {"type": "boolean"}, date: DATE, Mode: _enum(Mode), "text": TEXT}
    properties = {key: kinds[tp] for kind, spec in EVENT_DETAILS.items() if kind is not EventKind.CORRECTION
                  for key, (tp, _) in spec.items()}
    return {"type": "object", "additionalProperties": False, "properties": properties, "description": (
        "By kind: arrived {mode}; left {agreed}; could_not_rejoin {emailed_chair}; report_received {received_on}; "
        "proceed_inquorate {reason} (required); adjourned {reason, new_date?, late_reason?} (D5: late_reason is "
        "required when new_date is more than 10 working days after an initial conference); any invitee event may "
        "add a note.")}


# -- requests ---------------------------------------------------------------------------------------------------

class Request(BaseModel):
    """A request body: known fields only, JSON types as they are (strict)."""

    model_config = ConfigDict(strict=True, extra="forbid")

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """The body's fields, in the order the document lists them (and messages name them)."""
        return tuple(cls.model_fields)

    @classmethod
    def required_names(cls) -> tuple[str, ...]:
        """The fields a body must carry (null counts as missing)."""
        return tuple(name for name, field in cls.model_fields.items() if field.is_required())

    def changes(self) -> dict:
        """The fields the client sent, as the record's rules cleaned them."""
        return {name: getattr(self, name) for name in type(self).model_fields if name in self.model_fields_set}


class Patch(Request):
    """A change to some fields: at least one."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    @model_validator(mode="after")
    def _something_to_change(self):
        if not self.model_fields_set:
            raise InvalidInput("nothing to change: send one or more of " + ", ".join(self.field_names()))
        return self


class ConferenceInput(Request):
    type: ConferenceTypeField
    date: ConferenceDate
    start_time: StartTime
    case_ref: CaseRef
    strategy_date: StrategyDate = None
    previous_icpc_date: PreviousIcpcDate = None


class ConferencePatch(Patch):
    type: ConferenceTypeField = None
    date: ConferenceDate = None
    start_time: StartTime = None
    case_ref: CaseRef = None
    strategy_date: StrategyDate = None
    previous_icpc_date: PreviousIcpcDate = None


class InviteeInput(Request):
    name: Name
    role: RoleField
    agency: AgencyField = None
    direct_contact: DirectContact = None
    expected_mode: ExpectedMode = None
    email: Email = None


class InviteePatch(Patch):
    name: Name = None
    role: RoleField = None
    agency: AgencyField = None
    direct_contact: DirectContact = None
    expected_mode: ExpectedMode = None
    email: Email = None


class LoginRequest(Request):
    """Exactly one of pin and code."""

    model_config = ConfigDict(json_schema_extra={"oneOf": [{"required": ["pin"]}, {"required": ["code"]}]})

    pin: str | None = Field(None, description="The chair's PIN (digits).")
    code: str | None = Field(None, description="A one-time pairing code from the chair's page (/chair/pair).")

    @model_validator(mode="after")
    def _one_of_them(self):
        if ("pin" in self.model_fields_set) == ("code" in self.model_fields_set):
            raise InvalidInput("send either pin or code")
        return self


class CsvImport(Request):
    csv: str = Field(json_schema_extra={"minLength": 1}, description=(
        "Header row name,role[,agency,direct_contact,expected_mode,email], then one row per person. An empty one "
        "answers 400 (problems row 0)."))


class EventInput(Request):
    """Time-stamped by the kiosk's clock: an 'at' field is refused."""

    kind: str = Field(json_schema_extra={"enum": [k.value for k in EventKind
                                                  if k is not EventKind.CORRECTION and not k.by_route_only]},
                      description="Once the conference has ended only report_received is accepted (409 otherwise) "
                                  "until it is reopened.")
    expect_state: str | None = Field(None, json_schema_extra={"enum": [*rules.STATES, None]}, description=(
        "The invitee's state as the client last saw it: if it has changed since, 409 with the current view under "
        "'view' and nothing recorded."))
    invitee_id: int | None = Field(None, description="Required for events about one person; null for started, "
                                                     "proceed_inquorate and adjourned.")
    details: Annotated[dict[str, Any] | None, WithJsonSchema(_details_schema())] = None

    @model_validator(mode="before")
    @classmethod
    def _not_dated(cls, data):
        if isinstance(data, dict) and "at" in data:
            raise InvalidInput("events are time-stamped by the kiosk's clock: do not send 'at'")
        return data


class CorrectionInput(Request):
    reason: str = Field(json_schema_extra={"minLength": 1, "maxLength": rules.MAX_TEXT})


class ReopenInput(Request):
    reason: str | None = Field(None, json_schema_extra={"maxLength": rules.MAX_TEXT})


class PurgeInput(Request):
    confirm: Annotated[bool, *_ruled(_must_confirm, {"type": "boolean", "enum": [True]},
                                     described="Must be true: the names and record are deleted for good.")]


class Empty(Request):
    """No fields (the body may also be left out)."""


# -- query strings ----------------------------------------------------------------------------------------------

def _whole_number(name: str, what: str = "a whole number, 0 or more") -> Callable[[Any], int]:
    def check(raw) -> int:
        if not (isinstance(raw, str) and raw.isascii() and raw.isdigit()) or len(raw) > 18:
            raise InvalidInput(f"{name} must be {what}")
        return int(raw)
    return check


def _seconds(raw) -> float:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise InvalidInput("timeout must be a number of seconds, 0 or more")
    return value


class Query(Request):
    """A query string's parameters (others are ignored); each documented as an optional query parameter."""

    model_config = ConfigDict(extra="ignore")

    @classmethod
    def parameters(cls) -> tuple[dict, ...]:
        """The OpenAPI parameters of this query string."""
        schema = cls.model_json_schema(schema_generator=_Schemas)
        out = []
        for name, prop in schema["properties"].items():
            described = prop.pop("description", None)
            out.append({"name": name, "in": "query", "required": False, "schema": openapi30(prop),
                        **({"description": described} if described else {})})
        return tuple(out)


class PageQuery(Query):
    page: Annotated[int | None, *_ruled(_whole_number("page"), {"type": "integer", "minimum": 1})] = None
    per_page: Annotated[int | None, *_ruled(_whole_number("per_page"),
                                            {"type": "integer", "minimum": 1, "maximum": 500})] = None


Seconds = Annotated[float | None, *_ruled(_seconds, {"type": "number", "minimum": 0})]


class SinceQuery(Query):
    """A conference's long-poll (``GET /api/conferences/<id>?since=R``)."""

    since: Annotated[int | None, *_ruled(_whole_number("since"), {"type": "integer", "minimum": 0})] = Field(
        None, description="Wait until the view's revision passes this.")
    timeout: Seconds = Field(None, description="Seconds to wait with since (default 25, at most 30).")


class StateQuery(Query):
    """The room display's long-poll (``GET /api/state?since=N``)."""

    since: Annotated[int | None, *_ruled(_whole_number("since", "a revision number (a whole number, 0 or more)"),
                                         {"type": "integer", "minimum": 0})] = Field(
        None, description="Wait until the state's revision passes this.")
    timeout: Seconds = Field(None, description="Seconds to wait (default 25); more than 30 waits 30.")


REQUESTS = (ConferenceInput, ConferencePatch, InviteeInput, InviteePatch, LoginRequest, CsvImport, EventInput,
            CorrectionInput, ReopenInput, PurgeInput, Empty)


# -- responses --------------------------------------------------------------------------------------------------

class Answer(BaseModel):
    """A response body, as the service builds it (described here, never required field by field)."""


class Problem(Answer):
    row: int = Field(json_schema_extra={"minimum": 0})
    message: str


class Error(Answer):
    error: str = Field(description="What went wrong, for a person (never quotes a name).")
    problems: list[Problem] = Field(None, description="CSV import only: every bad row (row 1 is the header; row 0 "
                                                      "is the file as a whole, e.g. an empty file).")
    state: str = Field(None, description="A 409 for expect_state only: the invitee's state now.")
    view: dict[str, Any] = Field(None, description="A 409 for expect_state, or for an Idempotency-Key whose change "
                                                   "was recorded but whose answer was lost: the conference view now.")


class LoginResponse(Answer):
    csrf_token: str = Field(description="Send it in the X-CSRFToken header of every POST, PATCH and DELETE.")
    idle_timeout_s: float = Field(description="The session ends after this long unused.")


class Status(Answer):
    status: str = None


class CheckSummary(Answer):
    status: Literal[tuple(s.value for s in CheckStatus)] = None
    reason: str = Field(None, description="The device's own words, for staff (never a name).")


class Countdown(Answer):
    phase: Literal[PHASES] = None
    label: str = Field(None, description="The big text (empty when the room is free).")
    message: str = None


class Lights(Answer):
    pattern: str = None
    colour: str = Field(None, json_schema_extra={"pattern": "^#[0-9a-f]{6}$"})


class Attendance(Answer):
    """Counts only: never who."""

    in_person: int = None
    virtual: int = None
    quorate: bool = None


class CalendarHealth(Answer):
    source: str = Field(None, description="file or url.")
    last_good_at: dt.datetime | None = None
    events_skipped: int = None
    error: str | None = None
    stale: bool = None


class RoomState(Answer):
    """The room's public state (``GET /api/state``; the MQTT state and /metrics say the same): no personal data."""

    room: str = None
    name: str = None
    state: Literal[tuple(s.value for s in RoomStateName)] = None
    ready: bool = None
    checks: dict[str, CheckSummary] = Field(None, description="By check, in the order the display lists them.")
    start_at: dt.datetime | None = None
    start_source: str | None = Field(None, description="chair, command line or calendar.")
    seconds_to_start: int | None = Field(None, description="Negative after the start; null when the room is free.")
    countdown: Countdown = None
    lights: Lights = None
    checked_at: dt.datetime | None = None
    attendance: Attendance | None = None
    calendar: CalendarHealth | None = Field(None, description="The calendar's health; null without a calendar.")
    version: str = None
    revision: int = Field(None, description="Grows with every change a reader would see: send it as ?since= to "
                                            "wait for the next.")


HHMM = Annotated[str, WithJsonSchema(TIME)]
CaseRefText = Annotated[str, WithJsonSchema(CASE_REF)]


class ConferenceSummary(Answer):
    id: int = None
    type: str = None
    type_label: str = None
    date: dt.date = None
    start_time: HHMM = None
    case_ref: CaseRefText = None
    status: Literal["scheduled", "ended"] = None
    strategy_date: dt.date | None = None
    previous_icpc_date: dt.date | None = None
    is_today: bool = None
    live: bool = None
    can_reopen: bool = Field(None, description="In a view: the conference has ended.")
    double_booked: list[int] = Field(None, description="In a view: other conferences of the case at the same date "
                                                       "and time.")
    starts_at: dt.datetime = Field(None, description="In a view: the booked start, in the kiosk's time zone.")
    started_at: str | None = Field(None, description="In a view: when it started (HH:MM), null before.")
    ended_at: str | None = Field(None, description="In a view: when it ended (HH:MM), null before.")
    report_due: dt.date = Field(None, description="In a view: the date the agencies' reports are due by.")
    reports_overdue: bool = Field(None, description="In a view: the reports' due date has passed.")
    reconvene_by: dt.date | None = Field(None, description="In a view: D5, the date to reconvene by after a "
                                                           "decision not to proceed.")
    previous_available: bool = Field(None, description="In a view: the case has an earlier conference whose "
                                                       "invitation list can be copied.")


class Page(Answer):
    page: int = None
    per_page: int = None
    total: int = None
    pages: int = None


class ConferenceList(Page):
    """With ?page or ?per_page, one page and its counts."""

    conferences: list[ConferenceSummary] = None


class LogEntry(Answer):
    id: int = None
    at: str = None
    kind: str = None
    label: str = None
    invitee_id: int | None = None
    who: str | None = None
    details: str = None
    voided: bool = None
    voided_by: int | None = None
    correctable: bool = None


class LogPage(Page):
    """One page of the whole log, newest first."""

    events: list[LogEntry] = None
    revision: int = None


class Invitee(Answer):
    id: int = None
    conference_id: int = None
    name: str = None
    role: str = None
    agency: str = None
    direct_contact: bool = None
    expected_mode: str = None
    email: str | None = None


class Event(Answer):
    id: int = None
    conference_id: int = None
    invitee_id: int | None = None
    kind: str = None
    at: dt.datetime = None
    details: dict[str, Any] = None
    recorded_at: dt.datetime | None = None


class QuorumDecision(Answer):
    at: str = None
    reason: str = None


class Quorum(Answer):
    """Quorum now (D3-D5). Counts only: this is also what the room display and MQTT get."""

    at: dt.datetime = None
    quorate: bool = None
    state: Literal["quorate", "inquorate", "waiting", "proceeding"] = Field(None, description=(
        "waiting: not quorate before the start; proceeding: not quorate, with the chair's decision to proceed."))
    reason: str = None
    in_person: int = None
    virtual: int = None
    childrens_social_care: bool = None
    agencies: list[str] = None
    needed: int = None
    started: bool = None
    min_other_agencies: int = None
    decision: QuorumDecision | None = None


class QuorumResponse(Answer):
    quorum: Quorum = None
    timeline: dict[str, Any] = Field(None, description="At the start, changes (lost/regained), decisions, "
                                                       "inquorate periods, warnings.")


class PersonReport(Answer):
    status: Literal["on time", "late", "missing", "awaited", "received", "not expected"] = None
    received_on: dt.date | None = None
    due: dt.date = None


class Connection(Answer):
    """A lost connection and how it ended (HH:MM times)."""

    lost_at: str = None
    rejoined_at: str | None = None
    could_not_rejoin: bool = None
    emailed_chair: bool = None
    left_at: str | None = None


class Undo(Answer):
    event_id: int = None
    label: str = Field(None, description="What the tap would void, e.g. \"Arrived at 10:03\".")


class Person(Answer):
    """An invitee with where they stand now."""

    id: int = None
    name: str = None
    role: str = None
    role_label: str = None
    agency: str = None
    agency_label: str = None
    direct_contact: bool = None
    expected_mode: str = None
    expected_mode_label: str = None
    email: str | None = None
    counts_towards_quorum: bool = None
    needs_report: bool = None
    state: Literal[rules.STATES] = None
    state_label: str = None
    status_text: str = None
    mode: str | None = None
    camera_off: bool = None
    present: bool = None
    arrived_at: str | None = None
    arrival_mode: str | None = Field(None, description="How they arrived (in person or virtual), as the page says it.")
    late: bool = None
    minutes_late: int | None = None
    seconds_late: int | None = None
    late_text: str | None = Field(None, description="D6: \"27 s\" under a minute (never rounded up), else "
                                                    "\"6 min\".")
    left_at: str | None = None
    left_agreed: bool | None = Field(None, description="Left early with the chair's agreement (null: did not leave "
                                                       "early).")
    connection: list[Connection] = None
    report: PersonReport = None
    actions: list[str] = Field(None, description="The taps the page offers for them now.")
    undo: Undo | None = Field(None, description="The last tap about them, which the page offers to void.")
    editable: bool = Field(None, description="Their details may still be changed (no event refers to them yet).")


class Timescale(Answer):
    name: str = None
    due: dt.date = None
    status: str = None
    held: dt.date | None = None
    warning: str | None = None
    due_is_working_day: bool = None
    last_working_day: dt.date = Field(None, description="D7: the due date, or the last working day before it.")
    due_note: str | None = Field(None, description="When the due date is a weekend or bank holiday: says so.")


class Reconvene(Answer):
    by: dt.date | None = None
    new_date: dt.date | None = None
    late: bool = None
    late_reason: str | None = None


class ConferenceView(Answer):
    """Everything the chair's page shows about a conference."""

    conference: ConferenceSummary = None
    revision: int = Field(None, description="Grows with every change to this conference: send it as ?since= to "
                                            "wait for the next.")
    now: str = Field(None, description="The kiosk's clock (HH:MM:SS, local).")
    quorum: Quorum = None
    timeline: dict[str, Any] = None
    people: list[Person] = None
    counts: dict[str, Any] = None
    reports: dict[str, Any] = None
    timescales: list[Timescale] = None
    timescale_warnings: list[str] = Field(None, description="D5 and D7 warnings, for the page's top banner.")
    reconvene: Reconvene | None = Field(None, description=(
        "D5, after a decision not to proceed: by (the 10th working day after an initial conference), new_date, "
        "late (the new date is after it) and its late_reason."))
    warnings: list[str] = None
    events: list[LogEntry] = None
    events_total: int = Field(None, description="How many entries the whole log has.")


class InviteeResult(Answer):
    invitee: Invitee = None
    view: ConferenceView = None


class InviteesAdded(Answer):
    added: list[Invitee] = None
    notes: list[str] = Field(None, description="CSV: columns ignored.")
    view: ConferenceView = None


class InviteeRemoved(Answer):
    removed: int = None
    view: ConferenceView = None


class EventResult(Answer):
    event: Event = None
    view: ConferenceView = None


class Record(Answer):
    """The attendance record for the minutes (names included)."""

    model_config = ConfigDict(extra="allow")


class PurgeResult(Answer):
    purged: int = None
    summary: dict[str, Any] = Field(None, description="The anonymous counts kept.")


ANSWERS = (Error, LoginResponse, Status, RoomState, ConferenceList, LogPage, Invitee, Event, QuorumResponse,
           ConferenceView, InviteeResult, InviteesAdded, InviteeRemoved, EventResult, Record, PurgeResult)


# -- the document's schemas -------------------------------------------------------------------------------------

REF_TEMPLATE = "#/components/schemas/{model}"


class _Schemas(GenerateJsonSchema):
    """JSON Schema as the document shows it: no generated titles, no defaults (None only makes a field optional)."""

    def field_title_should_be_set(self, schema) -> bool:
        return False

    def default_schema(self, schema):
        return self.generate_inner(schema["schema"])


def component_schemas() -> dict:
    """Every request and response model (and the models they use) as OpenAPI 3.0 ``components/schemas``."""
    out: dict = {}
    for models, mode in ((REQUESTS, "validation"), (ANSWERS, "serialization")):
        for model in models:
            schema = model.model_json_schema(ref_template=REF_TEMPLATE, schema_generator=_Schemas, mode=mode)
            out.update(schema.pop("$defs", {}))
            out[model.__name__] = schema
    return {name: openapi30(schema) for name, schema in out.items()}


_NULL = {"type": "null"}


def openapi30(node):
    """JSON Schema (2020-12, as pydantic writes it) in OpenAPI 3.0's dialect: ``nullable``, no ``const``."""
    if isinstance(node, list):
        return [openapi30(n) for n in node]
    if not isinstance(node, dict):
        return node
    node = {key: (value if key in ("example", "enum") else openapi30(value)) for key, value in node.items()
            if key != "title"}
    if "const" in node:
        node["enum"] = [node.pop("const")]
    alternatives = node.get("anyOf")
    if alternatives and _NULL in alternatives:
        rest = [a for a in node.pop("anyOf") if a != _NULL]
        only = rest[0] if len(rest) == 1 else {"anyOf": rest}
        # OpenAPI 3.0 allows nothing beside a $ref: a nullable reference is an allOf of one.
        node = {**({"allOf": [only]} if "$ref" in only else only), **node, "nullable": True}
    return node
