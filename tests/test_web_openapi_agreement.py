"""The OpenAPI document and the server agree: requests the document's schemas refuse, the server refuses (400), and
the ones they accept it does not refuse as malformed; every status the server answers is one the document lists.

Each request is validated with jsonschema against the document served at /api/openapi.json (its ``$ref`` inlined,
OpenAPI's ``nullable`` as JSON Schema's null type, ``format: date`` checked) and then sent to the real app.
"""

from __future__ import annotations

import pytest
from jsonschema import Draft4Validator, FormatChecker



def plain_schema(node, schemas):
    """``node`` with every $ref inlined and ``nullable: true`` as an explicit null alternative."""
    if isinstance(node, list):
        return [plain_schema(n, schemas) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return plain_schema(schemas[node["$ref"].rsplit("/", 1)[1]], schemas)
    out = {k: plain_schema(v, schemas) for k, v in node.items() if k not in ("nullable", "example")}
    if node.get("nullable"):
        return {"anyOf": [out, {"type": "null"}]}
    return out


class Document:
    def __init__(self, doc):
        self.doc = doc
        self.schemas = doc["components"]["schemas"]

    def operation(self, path, method):
        return self.doc["paths"][path][method]

    def body_ok(self, path, method, body, media="application/json") -> bool:
        schema = plain_schema(self.operation(path, method)["requestBody"]["content"][media]["schema"], self.schemas)
        return Draft4Validator(schema, format_checker=FormatChecker()).is_valid(body)

    def query_ok(self, path, name, value) -> bool:
        [param] = [p for p in self.operation(path, "get")["parameters"] if p["name"] == name]
        schema = param["schema"]
        try:
            value = int(value) if schema["type"] == "integer" else float(value)
        except ValueError:
            return False
        return Draft4Validator(schema).is_valid(value)

    def statuses(self, path, method) -> set[int]:
        return {int(code) for code in self.operation(path, method)["responses"]}


@pytest.fixture
def doc(chair):
    return Document(chair.client.get("/api/openapi.json").get_json())


def agree(doc, path, method, accepted: bool, status: int):
    assert status in doc.statuses(path, method), f"{method.upper()} {path} answered {status}, not documented"
    assert (status != 400) == accepted, f"document {'accepts' if accepted else 'refuses'}, server answered {status}"


@pytest.mark.parametrize("name, value", [("timeout", "-1"), ("timeout", "0"), ("timeout", "2.5"), ("since", "-1"),
                                         ("since", "0"), ("timeout", "soon")])
def test_web_openapi_agreement_state_query(doc, chair, name, value):
    response = chair.client.get(f"/api/state?{name}={value}")
    agree(doc, "/api/state", "get", doc.query_ok("/api/state", name, value), response.status_code)


@pytest.mark.parametrize("body", [{}, {"pin": "482915", "code": "ABCD-1234"}, {"pin": "000000"}, {"code": "x"},
                                  {"pin": "482915", "extra": 1}])
def test_web_openapi_agreement_login(doc, chair, body):
    response = chair.new_client().post("/api/login", json=body)
    agree(doc, "/api/login", "post", doc.body_ok("/api/login", "post", body), response.status_code)


@pytest.mark.parametrize("media, text", [("application/json", ""), ("text/csv", ""),
                                         ("application/json", "name,role\nPat Example,social worker\n")])
def test_web_openapi_agreement_csv_import(doc, signed_in, media, text):
    cid = signed_in.conference()["conference"]["id"]
    path = f"/api/conferences/{cid}/invitees/csv"
    if media == "application/json":
        body, response = {"csv": text}, signed_in.api("POST", path, {"csv": text})
    else:
        body = text
        response = signed_in.api("POST", path, data=text.encode(), headers={"Content-Type": "text/csv"})
    spec = "/api/conferences/{conference_id}/invitees/csv"
    agree(doc, spec, "post", doc.body_ok(spec, "post", body, media), response.status_code)
    if response.status_code == 400 and not text:
        assert [p["row"] for p in response.get_json()["problems"]] == [0]  # documented: row 0 is the file


@pytest.mark.parametrize("value", ["", "  ", None, "2026-10-01", "not a date", "2026-13-40"])
def test_web_openapi_agreement_optional_dates(doc, signed_in, value):
    body = {"type": "review", "date": "2026-11-30", "start_time": "12:00", "case_ref": "CP-2026-0007",
            "previous_icpc_date": value}
    response = signed_in.api("POST", "/api/conferences", body)
    agree(doc, "/api/conferences", "post", doc.body_ok("/api/conferences", "post", body), response.status_code)


def test_web_openapi_agreement_correction_of_another_conferences_event_is_not_found(doc, signed_in):
    first = signed_in.conference()["conference"]["id"]
    second = signed_in.conference(case_ref="CP-2026-0999", start_time="11:00")["conference"]["id"]
    [person] = signed_in.invite_csv(second, "name,role\nSam Example,social worker\n")
    event = signed_in.event(second, "arrived", person["id"], mode="in_person").get_json()["event"]["id"]
    spec = "/api/conferences/{conference_id}/events/{event_id}/correction"
    for cid, eid in ((first, event), (first, 987654)):
        response = signed_in.api("POST", f"/api/conferences/{cid}/events/{eid}/correction", {"reason": "wrong row"})
        assert response.status_code == 404, response.get_json()
        assert 404 in doc.statuses(spec, "post")
    assert "Sam" not in str(response.get_json())
