"""The OpenAPI document at /api/openapi.json: valid OpenAPI 3.0 structure, and every /api route described."""

from __future__ import annotations

import json
import re

import pytest


METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
#: Where a route needs the chair's session the document must say what happens without one.
PUBLIC = {"/api/login", "/api/openapi.json", "/api/state"}


@pytest.fixture
def doc(chair):
    response = chair.client.get("/api/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    return response.get_json()


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:\w+(?:\([^)]*\))?:)?(\w+)>", r"{\1}", rule)


def _refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def test_web_chair_openapi_is_public_and_json(chair):
    assert chair.client.get("/api/openapi.json").status_code == 200  # no session needed
    json.dumps(chair.client.get("/api/openapi.json").get_json())


def test_web_chair_openapi_top_level_structure(doc):
    assert re.fullmatch(r"3\.0\.\d", doc["openapi"])
    assert doc["info"]["title"] and doc["info"]["version"]
    assert set(doc) <= {"openapi", "info", "servers", "paths", "components", "security", "tags", "externalDocs"}
    assert set(doc["components"]["securitySchemes"]) == {"session", "csrf"}
    for path, item in doc["paths"].items():
        assert path.startswith("/api/")
        assert set(item) <= METHODS | {"parameters", "summary", "description"}


def test_web_chair_openapi_every_ref_resolves(doc):
    for ref in set(_refs(doc)):
        assert ref.startswith("#/components/"), ref
        node = doc
        for part in ref[2:].split("/"):
            assert part in node, ref
            node = node[part]


def test_web_chair_openapi_describes_every_api_route_and_method(chair, doc):
    routes = {}
    for rule in chair.app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            methods = {m.lower() for m in rule.methods or ()} - {"head", "options"}
            routes.setdefault(_openapi_path(rule.rule), set()).update(methods)
    documented = {path: {m for m in item if m in METHODS} for path, item in doc["paths"].items()}
    assert routes == documented


def test_web_chair_openapi_operations_have_bodies_parameters_and_error_responses(doc):
    for path, item in doc["paths"].items():
        names = set(re.findall(r"{(\w+)}", path))
        for method, op in item.items():
            where = f"{method.upper()} {path}"
            assert op["summary"], where
            responses = op["responses"]
            assert any(code.startswith("2") for code in responses), where
            assert "400" in responses, where
            if path not in PUBLIC:
                assert "401" in responses, where
            if names:
                assert "404" in responses, where
                params = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
                assert params == names, where
                for p in op["parameters"]:
                    if p["in"] == "path":
                        assert p["required"] is True and p["schema"]["type"] == "integer"
            if method in ("post", "patch", "delete") and path.startswith("/api/conferences"):
                assert "Idempotency-Key" in {p["name"] for p in op["parameters"] if p["in"] == "header"}, where
                assert "422" in responses, where
            if method in ("post", "patch"):
                body = op.get("requestBody")
                if path != "/api/logout":
                    assert body and body["content"], where
                    for media in body["content"].values():
                        assert "schema" in media, where
            for code, response in responses.items():
                assert re.fullmatch(r"[1-5]\d\d", code), where
                assert "$ref" in response or "description" in response, where


def test_web_chair_openapi_schemas_match_what_the_api_accepts(doc):
    schemas = doc["components"]["schemas"]
    assert schemas["ConferenceInput"]["required"] == ["type", "date", "start_time", "case_ref"]
    assert schemas["InviteeInput"]["required"] == ["name", "role"]
    assert "correction" not in schemas["EventInput"]["properties"]["kind"]["enum"]
    assert "arrived" in schemas["EventInput"]["properties"]["kind"]["enum"]
    assert schemas["PurgeInput"]["properties"]["confirm"]["enum"] == [True]
    for name in ("ConferenceInput", "InviteeInput", "EventInput", "LoginRequest", "CorrectionInput"):
        assert schemas[name]["additionalProperties"] is False
