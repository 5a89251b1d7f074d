"""The OpenAPI 3.1 document is valid, lists every API route, and stays true: a bounded
schemathesis run against the app finds no 5xx and answers as documented."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.adapter.validators import validate_v3
from schemathesis.specs.openapi.checks import response_schema_conformance

from parapheur.api import blueprints


def test_the_document_is_valid_openapi_31_and_lists_every_route(app):
    client = app.test_client()
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.json
    assert document["openapi"] == "3.1.0"
    validate_v3(document)  # the OpenAPI 3.1 meta-schema; raises on any violation
    names = {bp.name for bp in blueprints()}
    routes = {rule.rule.replace("<int:", "{").replace("<", "{").replace(">", "}")
              for rule in app.url_map.iter_rules() if rule.endpoint.split(".")[0] in names}
    assert routes == set(document["paths"])
    assert document["components"]["securitySchemes"]["jeton"]["scheme"] == "bearer"
    created = document["paths"]["/api/v1/documents"]["post"]
    assert "multipart/form-data" in created["requestBody"]["content"]
    assert any(p["name"] == "Idempotency-Key" for p in created["parameters"])
    problem = document["components"]["responses"]["UNPROCESSABLE_ENTITY"]["content"]
    assert list(problem) == ["application/problem+json"]


#: Examples per operation: a few dozen in all, enough to walk every operation's validation.
EXAMPLES_PER_OPERATION = 3


def test_no_operation_answers_a_5xx_or_off_its_schema(demo, token_for):
    demo.config["API_RATE_LIMIT"] = "100000 per minute"
    secret = token_for("admin", ("documents:read", "documents:write", "circuits:act",
                                 "invoices:read", "invoices:write", "delegations:read",
                                 "delegations:write", "exports:read", "exports:write",
                                 "admin"))
    headers = {"Authorization": f"Bearer {secret}"}
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", demo)
    calls: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20

    for operation in operations:
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True,
                  database=None, phases=[Phase.explicit, Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def run(case):
            response = case.call_and_validate(
                headers=headers, checks=[not_a_server_error, response_schema_conformance])
            calls.append(f"{case.method} {case.path} {response.status_code}")

        run()
    assert len(calls) >= 2 * len(operations)  # a few dozen calls, each checked
