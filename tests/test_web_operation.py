"""Each /api view's one declaration (web_ui.operation): answers are checked against it in tests and debug, the
document is built from it and the app's routes, and sign-in and Idempotency-Key follow it."""

from __future__ import annotations

import json

import pytest
from flask import abort, jsonify

from kiosk.errors import ContractError
from web_ui import contract, create_app, openapi, operation
from web_ui.operation import declare

LOGIN = {"csrf_token": "t0ken", "idle_timeout_s": 1800.0}


def _app_answering(room, answer, *, status=200, testing=True, **declared):
    """An app with one more public API route, declared to answer a LoginResponse, that answers ``answer``."""
    app = create_app(room, {"TESTING": testing})

    @declare("A route for this test", answer=contract.LoginResponse, described="A made-up answer.", public=True,
             record=False, **declared)
    def made_up():
        if status >= 400:
            abort(status, "refused on purpose")
        response = jsonify(answer) if isinstance(answer, dict) else app.response_class(answer, mimetype="text/html")
        response.status_code = status
        return response

    app.add_url_rule("/api/made-up", "made_up", made_up)
    return app


@pytest.mark.parametrize("answer, wrong", [
    ({**LOGIN, "csrf_token": 5}, "csrf_token"),  # a field of the wrong type
    ({**LOGIN, "idle_timeout_s": "1800"}, "idle_timeout_s"),  # JSON text is not taken for a number
    ({"idle_timeout_s": 1800.0}, "csrf_token"),  # a required field left out
    ({**LOGIN, "also": ["more"]}, "also"),  # a field its model does not name (the document would not show it)
    ("<p>signed in</p>", "text/html"),  # not JSON at all
])
def test_web_operation_an_answer_off_its_contract_fails_under_test(cold_room, answer, wrong):
    client = _app_answering(cold_room, answer).test_client()
    with pytest.raises(ContractError) as caught:
        client.get("/api/made-up")
    assert "GET /api/made-up answered off its contract" in str(caught.value) and wrong in str(caught.value)


def test_web_operation_answers_on_contract_pass(cold_room):
    client = _app_answering(cold_room, LOGIN).test_client()
    assert client.get("/api/made-up").get_json() == LOGIN


def test_web_operation_a_model_that_allows_more_takes_more():
    record = operation.Operation("The record", answer=contract.Record, described="The record.")
    assert operation.mismatch(record, 200, "application/json", b'{"conference": {}, "anything": [1]}') is None
    assert operation.mismatch(record, 200, "application/json", b'[]') is not None


def test_web_operation_an_error_answer_is_checked_against_the_error_model(cold_room):
    app = _app_answering(cold_room, LOGIN, status=400)
    assert app.test_client().get("/api/made-up").get_json() == {"error": "refused on purpose"}
    app = _app_answering(cold_room, LOGIN, status=409)

    @app.errorhandler(409)
    def _unworded(_exc):
        return jsonify(message="no 'error' field"), 409

    with pytest.raises(ContractError, match="409 is not a Error"):
        app.test_client().get("/api/made-up")


def test_web_operation_answers_are_not_checked_in_production(cold_room):
    client = _app_answering(cold_room, {**LOGIN, "csrf_token": 5}, testing=False).test_client()
    response = client.get("/api/made-up")
    assert response.status_code == 200 and response.get_json()["csrf_token"] == 5


def test_web_operation_the_room_state_is_checked_field_by_field(cold_client):
    declared = operation.of(cold_client.application.view_functions["display.state"])
    text = cold_client.get("/api/state").get_data()
    assert operation.mismatch(declared, 200, "application/json", text) is None
    state = json.loads(text)
    for field, wrong in (("revision", str(state["revision"])), ("ready", "yes"), ("state", "asleep"),
                         ("checks", {"camera": {"status": "great"}}), ("lights", {"colour": 3})):
        problem = operation.mismatch(declared, 200, "application/json", json.dumps({**state, field: wrong}))
        assert problem and field in problem, (field, problem)


def test_web_operation_every_api_route_declares_its_contract(cold_app):
    for rule in cold_app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            assert operation.of(cold_app.view_functions[rule.endpoint]) is not None, rule.rule
    assert openapi.document(cold_app)["paths"] == openapi.PATHS  # the served document is the API's own


def test_web_operation_a_route_without_a_contract_cannot_be_described(cold_room):
    app = create_app(cold_room, {"TESTING": True})
    app.add_url_rule("/api/undeclared", "undeclared", lambda: "")
    with pytest.raises(LookupError, match="/api/undeclared"):
        openapi.document(app)


def test_web_operation_public_in_the_document_is_public_at_the_door(cold_client):
    for path, item in openapi.PATHS.items():
        for method, entry in item.items():
            if "{" in path or method != "get":
                continue
            answered = cold_client.get(path).status_code
            assert (answered != 401) == (entry.get("security") == []), (path, answered)


def test_web_operation_writes_are_the_state_changing_conference_routes(cold_app):
    for rule in cold_app.url_map.iter_rules():
        declared = operation.of(cold_app.view_functions[rule.endpoint])
        if declared is not None:
            changes = bool({"POST", "PATCH", "DELETE"} & set(rule.methods))
            assert declared.writes == (changes and rule.rule.startswith("/api/conferences")), rule.rule


def test_web_operation_the_state_query_is_its_model(cold_client):
    entry = openapi.PATHS["/api/state"]["get"]
    assert [p["name"] for p in entry["parameters"]] == list(contract.StateQuery.model_fields) == ["since", "timeout"]
    assert entry["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/RoomState"}
    reply = cold_client.get("/api/state?since=x&timeout=soon")
    assert reply.status_code == 400
    assert reply.get_json() == {"error": "since must be a revision number (a whole number, 0 or more)"}
