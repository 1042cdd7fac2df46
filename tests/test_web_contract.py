"""The API contract declared once (web_ui.contract): its models, the messages their refusals give, the OpenAPI 3.0
schemas generated from them, and the record's rules they share with the CSV import and the forms."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft4Validator

from kiosk.conference import csv_import
from kiosk.conference import validation as rules
from kiosk.conference.errors import InvalidInput
from kiosk.conference.model import Role
from web_ui import contract, openapi
from web_ui.conference_http import CONFERENCE_FIELDS, INVITEE_FIELDS, validated

CONFERENCE = {"type": "initial", "date": "2026-11-23", "start_time": "10:00", "case_ref": "CP-2026-0142"}


def _models(base):
    for model in base.__subclasses__():
        yield model
        yield from _models(model)


@pytest.mark.parametrize("model, data, message", [
    (contract.ConferenceInput, {**CONFERENCE, "case_ref": None}, "missing field(s) 'case_ref'"),
    (contract.ConferenceInput, {**CONFERENCE, "child": "x", "start_time": "25:00"},
     "unknown field(s) 'child' (known: type, date, start_time, case_ref, strategy_date, previous_icpc_date)"),
    (contract.ConferenceInput, {**CONFERENCE, "start_time": "25:00"}, "the start time must be a time written HH:MM "
                                                                      "(24-hour)"),
    (contract.ConferenceInput, {**CONFERENCE, "date": "23/11/2026"}, "the conference date must be a date written "
                                                                     "YYYY-MM-DD"),
    (contract.ConferencePatch, {}, "nothing to change: send one or more of type, date, start_time, case_ref, "
                                   "strategy_date, previous_icpc_date"),
    (contract.InviteePatch, {}, "nothing to change: send one or more of name, role, agency, direct_contact, "
                                "expected_mode, email"),
    (contract.InviteeInput, {"name": "A B", "role": "gp", "direct_contact": "maybe"}, "direct contact must be yes "
                                                                                      "or no"),
    (contract.LoginRequest, {}, "send either pin or code"),
    (contract.LoginRequest, {"pin": "482915", "code": "ABCD-1234"}, "send either pin or code"),
    (contract.EventInput, {"kind": "arrived", "at": "2026-11-23T10:00:00Z", "other": 1},
     "events are time-stamped by the kiosk's clock: do not send 'at'"),
    (contract.EventInput, {"kind": "arrived", "invitee_id": True}, "invitee_id must be a whole number or null"),
    (contract.EventInput, {"kind": "arrived", "invitee_id": "2"}, "invitee_id must be a whole number or null"),
    (contract.EventInput, {"kind": "started", "details": []}, "details must be a JSON object"),
    (contract.EventInput, {"kind": "arrived", "expect_state": 3}, "expect_state must be text"),
    (contract.EventInput, {"kind": 5}, "kind must be text"),
    (contract.PurgeInput, {"confirm": "yes"}, "confirm must be true: purging deletes the names and the record for "
                                              "good"),
    (contract.PurgeInput, {"confirm": None}, "missing field(s) 'confirm'"),
    (contract.ReopenInput, {"reason": 5}, "reason must be text"),
    (contract.CsvImport, {"csv": ["name,role"]}, "csv must be text"),
    (contract.Empty, {"a": 1}, "unknown field(s) 'a' (known: none)"),
])
def test_web_contract_refusals_read_as_the_api_words_them(model, data, message):
    with pytest.raises(InvalidInput) as refused:
        validated(model, data)
    assert str(refused.value) == message


def test_web_contract_values_come_out_as_the_records_rules_clean_them():
    body = validated(contract.ConferenceInput, {**CONFERENCE, "type": "ICPC", "start_time": " 9:05",
                                                "strategy_date": ""})
    cleaned = body.changes()
    assert list(cleaned) == ["type", "date", "start_time", "case_ref", "strategy_date"]  # only what was sent
    assert rules.conference_fields(**cleaned) == rules.conference_fields(
        **CONFERENCE | {"start_time": "09:05", "strategy_date": None})
    person = validated(contract.InviteeInput, {"name": "  Sam   Social ", "role": "GP", "direct_contact": "Yes"})
    assert person.changes() == {"name": "Sam Social", "role": Role.GP,
                                "direct_contact": True}


@settings(max_examples=400, deadline=None)
@given(text=st.text(alphabet="0123456789:٣", min_size=1, max_size=6))
def test_web_contract_time_schema_and_the_records_rule_agree(text):
    schema = openapi.document()["components"]["schemas"]["ConferenceInput"]["properties"]["start_time"]
    try:
        rules.parse_time(text, "the start time")
        accepted = True
    except InvalidInput:
        accepted = False
    assert Draft4Validator(schema).is_valid(text) == accepted


def _walk(node, parent=None):
    if isinstance(node, dict):
        yield node, parent
        for key, value in node.items():
            yield from _walk(value, key)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value, parent)


def test_web_contract_schemas_are_in_openapi_3_0s_dialect():
    schemas = openapi.document()["components"]["schemas"]
    for node, parent in _walk(schemas):
        if parent == "properties":
            continue  # field names, not schemas
        assert not {"const", "$defs", "title", "default"} & set(node), node
        assert node.get("type") != "null", node
        if "$ref" in node:
            assert set(node) == {"$ref"} and node["$ref"].rsplit("/", 1)[1] in schemas, node


def test_web_contract_every_model_is_in_the_document_and_every_body_is_a_model():
    doc = openapi.document()
    schemas = doc["components"]["schemas"]
    queries = {contract.Query, *_models(contract.Query)}
    declared = {m.__name__ for m in _models(contract.Request) if m is not contract.Patch and m not in queries}
    declared |= {m.__name__ for m in _models(contract.Answer) if m is not contract.Page}
    assert declared <= set(schemas)
    bodies = {media["schema"]["$ref"].rsplit("/", 1)[1] for item in doc["paths"].values() for op in item.values()
              for media in op.get("requestBody", {}).get("content", {}).values() if "$ref" in media["schema"]}
    assert bodies == {m.__name__ for m in contract.REQUESTS}


def test_web_contract_field_names_are_the_models_for_the_forms_and_the_csv():
    assert CONFERENCE_FIELDS == tuple(contract.ConferencePatch.model_fields) == ("type", "date", "start_time",
                                                                                 "case_ref", "strategy_date",
                                                                                 "previous_icpc_date")
    assert INVITEE_FIELDS == tuple(contract.InviteePatch.model_fields) == csv_import.COLUMNS
    assert contract.InviteeInput.required_names() == csv_import.REQUIRED


@pytest.mark.parametrize("model, args, message", [
    (contract.PageQuery, {"page": "-1"}, "page must be a whole number, 0 or more"),
    (contract.PageQuery, {"page": "2", "per_page": "1e3"}, "per_page must be a whole number, 0 or more"),
    (contract.SinceQuery, {"since": "7", "timeout": "nan"}, "timeout must be a number of seconds, 0 or more"),
])
def test_web_contract_query_strings_are_checked_by_their_models(model, args, message):
    with pytest.raises(InvalidInput) as refused:
        validated(model, args)
    assert str(refused.value) == message
    assert validated(contract.PageQuery, {"page": "0", "other": "x"}).page == 0  # others are ignored


def test_web_contract_query_parameters_come_from_the_models():
    [item] = [openapi.PATHS["/api/conferences/{conference_id}"]["get"]]
    params = {p["name"]: p for p in item["parameters"] if p["in"] == "query"}
    assert params["since"]["schema"] == {"type": "integer", "minimum": 0} and params["since"]["description"]
    assert params["timeout"]["schema"] == {"type": "number", "minimum": 0}
    assert [p["name"] for p in contract.PageQuery.parameters()] == ["page", "per_page"]


def test_web_contract_one_hhmm_rule():
    pattern = openapi.document()["components"]["schemas"]["ConferenceInput"]["properties"]["start_time"]["pattern"]
    assert pattern == f"^{rules.HHMM_PATTERN}$"
    assert re.fullmatch(rules.HHMM_PATTERN, "9:05") and not re.fullmatch(rules.HHMM_PATTERN, "24:00")
