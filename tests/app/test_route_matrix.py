"""Every route × every role (and anonymous): the status each gets, from one table.

Adding a route without adding its row here fails `test_every_route_is_in_the_matrix`. POST
requests carry a valid CSRF token but no other field, and name a step that is not waiting, so
that no cell changes what the next one sees: an authorised user gets a 400/409 refusal, an
unauthorised one 403, an anonymous visitor the login page (302).
"""

from __future__ import annotations

import pytest
from app_helpers import csrf_from, login

# Also on PostgreSQL: see the `postgres` marker in tests/conftest.py.
pytestmark = [pytest.mark.postgres, pytest.mark.slow]

ROLES = ("anonymous", "maire", "adjoint", "dgs", "finances", "auditeur", "admin")

# URL parameters: demo document 1 waits for the DGS's visa; user 6 is the administrator (who
# can neither disable nor remove themselves, so no cell changes anything), desk 1 exists,
# invoice 999999 does not (the demo holds invoices; an absent one is 404 for every reader).
PARAMS = {"document_id": "1", "step": "absent", "number": "1", "user_id": "6", "desk_id": "1",
          "delegation_id": "1", "filename": "app.css", "invoice_id": "999999", "fmt": "csv",
          "registration_id": "1", "token_id": "1", "subscription_id": "1", "delivery_id": "1",
          "page": "1", "annex_id": "1", "slug": "metropole-demo", "version_id": "1",
          "bordereau_id": "1", "export_id": "1", "return_id": "1"}


def _row(anonymous, maire, adjoint, dgs, finances, auditeur, admin) -> dict[str, int]:
    return dict(zip(ROLES, (anonymous, maire, adjoint, dgs, finances, auditeur, admin),
                    strict=True))


#: (method, rule) → the status each role gets. One table: add the routes of new features here.
MATRIX: dict[tuple[str, str], dict[str, int]] = {
    ("GET", "/"): _row(302, 200, 200, 200, 200, 200, 200),
    ("GET", "/login"): _row(200, 302, 302, 302, 302, 302, 302),
    ("POST", "/login"): _row(400, 302, 302, 302, 302, 302, 302),
    ("GET", "/favicon.ico"): _row(301, 301, 301, 301, 301, 301, 301),
    ("GET", "/static/<path:filename>"): _row(200, 200, 200, 200, 200, 200, 200),
    ("GET", "/documents"): _row(302, 200, 200, 200, 200, 200, 200),
    ("GET", "/documents/new"): _row(302, 200, 200, 200, 200, 200, 200),
    ("POST", "/documents/new"): _row(302, 400, 400, 400, 400, 400, 400),
    ("GET", "/documents/<int:document_id>"): _row(302, 404, 404, 200, 200, 200, 200),
    ("GET", "/documents/<int:document_id>/circuit.svg"): _row(302, 404, 404, 200, 200, 200, 200),
    ("GET", "/documents/<int:document_id>/evidence.zip"): _row(302, 403, 403, 403, 403, 200, 200),
    ("GET", "/documents/<int:document_id>/versions/<int:number>/file"):
        _row(302, 404, 404, 200, 200, 200, 200),
    ("GET", "/documents/<int:document_id>/versions/<int:number>/pages/<int:page>.png"):
        _row(302, 404, 404, 200, 200, 200, 200),
    ("GET", "/documents/<int:document_id>/versions/<int:number>/search"):
        _row(302, 404, 404, 200, 200, 200, 200),
    ("GET", "/documents/<int:document_id>/reading"): _row(302, 404, 404, 200, 200, 200, 200),
    # Demo document 1 has no annex; its author (finances) may still join some (no file: 400).
    ("GET", "/documents/<int:document_id>/annexes/<int:annex_id>/pages/<int:page>.png"):
        _row(302, 404, 404, 404, 404, 404, 404),
    ("GET", "/documents/<int:document_id>/annexes/<int:annex_id>/file"):
        _row(302, 404, 404, 404, 404, 404, 404),
    ("POST", "/documents/<int:document_id>/annexes"): _row(302, 404, 404, 403, 400, 403, 403),
    ("POST", "/documents/<int:document_id>/comments"): _row(302, 404, 404, 400, 400, 400, 400),
    ("POST", "/documents/<int:document_id>/steps/<step>/visa"):
        _row(302, 404, 404, 409, 409, 409, 409),
    ("POST", "/documents/<int:document_id>/steps/<step>/reject"):
        _row(302, 404, 404, 409, 409, 409, 409),
    ("POST", "/documents/<int:document_id>/steps/<step>/sign"):
        _row(302, 404, 404, 400, 400, 400, 400),
    ("POST", "/documents/<int:document_id>/take-back"): _row(302, 404, 404, 409, 409, 409, 409),
    # Only the author's desk (finances deposited document 1): without a reason / a file, 400.
    ("POST", "/documents/<int:document_id>/cancel"): _row(302, 404, 404, 403, 400, 403, 403),
    ("POST", "/documents/<int:document_id>/file"): _row(302, 404, 404, 403, 400, 403, 403),
    ("POST", "/signatures/batch"): _row(302, 400, 400, 400, 400, 400, 400),
    ("POST", "/bannette/lot"): _row(302, 400, 400, 400, 400, 400, 400),
    ("POST", "/bannette/lot/confirmer"): _row(302, 400, 400, 400, 400, 400, 400),
    ("GET", "/delegations"): _row(302, 200, 200, 200, 200, 200, 200),
    ("POST", "/delegations"): _row(302, 400, 400, 400, 400, 400, 400),
    ("POST", "/delegations/<int:delegation_id>/end"): _row(302, 404, 404, 404, 404, 404, 404),
    ("GET", "/admin/"): _row(302, 403, 403, 403, 403, 403, 200),
    ("POST", "/admin/users"): _row(302, 403, 403, 403, 403, 403, 400),
    ("POST", "/admin/users/<int:user_id>/active"): _row(302, 403, 403, 403, 403, 403, 400),
    ("POST", "/admin/users/<int:user_id>/credential"): _row(302, 403, 403, 403, 403, 403, 400),
    ("POST", "/admin/users/<int:user_id>/token"): _row(302, 403, 403, 403, 403, 403, 400),
    ("POST", "/admin/users/<int:user_id>/unlock"): _row(302, 403, 403, 403, 403, 403, 302),
    ("POST", "/admin/desks"): _row(302, 403, 403, 403, 403, 403, 400),
    ("POST", "/admin/desks/<int:desk_id>/members"): _row(302, 403, 403, 403, 403, 403, 400),
    ("POST", "/admin/desks/<int:desk_id>/members/<int:user_id>/remove"):
        _row(302, 403, 403, 403, 403, 403, 409),
    ("GET", "/admin/circuits/"): _row(302, 403, 403, 403, 403, 403, 200),
    ("POST", "/admin/circuits/"): _row(302, 403, 403, 403, 403, 403, 400),
    ("GET", "/admin/circuits/versions/<int:version_id>"): _row(302, 403, 403, 403, 403, 403, 200),
    ("POST", "/admin/circuits/versions/<int:version_id>/activer"):
        _row(302, 403, 403, 403, 403, 403, 400),
    ("GET", "/admin/journal/"): _row(302, 403, 403, 403, 403, 403, 200),
    ("POST", "/admin/journal/verifier"): _row(302, 403, 403, 403, 403, 403, 200),
    ("GET", "/admin/journal/export.json"): _row(302, 403, 403, 403, 403, 403, 200),
    ("GET", "/account"): _row(302, 200, 200, 200, 200, 200, 200),
    ("POST", "/session/prolonger"): _row(302, 302, 302, 302, 302, 302, 302),
    ("GET", "/accessibilite"): _row(200, 200, 200, 200, 200, 200, 200),
    ("POST", "/langue"): _row(400, 400, 400, 400, 400, 400, 400),
    ("POST", "/account/notifications"): _row(302, 400, 400, 400, 400, 400, 400),
    ("POST", "/account/password"): _row(302, 403, 403, 403, 403, 403, 403),
    ("GET", "/factures/"): _row(302, 403, 403, 200, 200, 200, 200),
    ("GET", "/factures/<int:invoice_id>"): _row(302, 403, 403, 404, 404, 404, 404),
    ("GET", "/factures/<int:invoice_id>/fichier"): _row(302, 403, 403, 404, 404, 404, 404),
    ("GET", "/factures/a-rapprocher"): _row(302, 403, 403, 200, 200, 200, 200),
    ("GET", "/factures/delais"): _row(302, 403, 403, 200, 200, 200, 200),
    ("GET", "/factures/historique.<fmt>"): _row(302, 403, 403, 200, 200, 200, 200),
    ("POST", "/factures/<int:invoice_id>/action"): _row(302, 403, 403, 404, 404, 403, 404),
    ("POST", "/factures/<int:invoice_id>/rapprocher"): _row(302, 403, 403, 404, 404, 403, 404),
    ("POST", "/factures/<int:invoice_id>/reprendre"): _row(302, 403, 403, 404, 404, 403, 404),
    ("POST", "/factures/<int:invoice_id>/suspendre"): _row(302, 403, 403, 404, 404, 403, 404),
    ("POST", "/factures/import"): _row(302, 403, 403, 302, 302, 403, 302),
    ("POST", "/factures/lot"): _row(302, 403, 403, 400, 400, 403, 400),
    # Comptabilité: the demo's bordereau 1 is signed (no rejected mandat), nothing exported yet.
    ("GET", "/comptabilite/"): _row(302, 403, 403, 200, 200, 200, 200),
    ("POST", "/comptabilite/retours"): _row(302, 403, 403, 400, 400, 403, 400),
    ("GET", "/comptabilite/retours/<int:return_id>"): _row(302, 403, 403, 404, 404, 404, 404),
    ("GET", "/comptabilite/exports/<int:export_id>/fichier"):
        _row(302, 403, 403, 404, 404, 404, 404),
    ("POST", "/comptabilite/bordereaux/<int:bordereau_id>/reemettre"):
        _row(302, 403, 403, 400, 400, 403, 400),
    ("GET", "/signatures/agent/installer"): _row(302, 200, 200, 200, 200, 200, 200),
    ("GET", "/signatures/agent/pairing"): _row(302, 200, 200, 200, 200, 200, 200),
    ("POST", "/signatures/agent/certificates"): _row(302, 400, 400, 400, 400, 400, 400),
    ("POST", "/signatures/agent/finish"): _row(302, 400, 400, 400, 400, 400, 400),
    ("POST", "/signatures/agent/prepare"): _row(302, 400, 400, 400, 400, 400, 400),
    ("GET", "/admin/signature/"): _row(302, 403, 403, 403, 403, 403, 200),
    ("POST", "/admin/signature/politique"): _row(302, 403, 403, 403, 403, 403, 400),
    # The demo has no registered card certificate: n° 1 does not exist.
    ("POST", "/admin/signature/certificats/<int:registration_id>/approuver"):
        _row(302, 403, 403, 403, 403, 403, 404),
    ("POST", "/admin/signature/certificats/<int:registration_id>/retirer"):
        _row(302, 403, 403, 403, 403, 403, 404),
    # API tokens and webhooks pages (tokens and subscriptions n° 1 do not exist in the demo).
    ("GET", "/account/api-tokens"): _row(302, 200, 200, 200, 200, 200, 200),
    ("POST", "/account/api-tokens"): _row(302, 400, 400, 400, 400, 400, 400),
    ("POST", "/account/api-tokens/<int:token_id>/revoke"): _row(302, 404, 404, 404, 404, 404, 404),
    ("GET", "/admin/api-tokens"): _row(302, 403, 403, 403, 403, 403, 200),
    ("POST", "/admin/api-tokens"): _row(302, 403, 403, 403, 403, 403, 400),
    ("POST", "/admin/api-tokens/<int:token_id>/revoke"): _row(302, 403, 403, 403, 403, 403, 404),
    ("GET", "/admin/webhooks"): _row(302, 403, 403, 403, 403, 403, 200),
    ("POST", "/admin/webhooks"): _row(302, 403, 403, 403, 403, 403, 400),
    ("GET", "/admin/webhooks/<int:subscription_id>"): _row(302, 403, 403, 403, 403, 403, 404),
    ("POST", "/admin/webhooks/<int:subscription_id>/active"):
        _row(302, 403, 403, 403, 403, 403, 404),
    ("POST", "/admin/webhooks/<int:subscription_id>/delete"):
        _row(302, 403, 403, 403, 403, 403, 404),
    ("POST", "/admin/webhooks/deliveries/<int:delivery_id>/redeliver"):
        _row(302, 403, 403, 403, 403, 403, 404),
    # The REST API: the OpenAPI document is public; cookies never authenticate the API, so
    # every logged-in browser gets 401 like an anonymous one (tokens: tests/api/).
    ("GET", "/api/v1/openapi.json"): _row(200, 200, 200, 200, 200, 200, 200),
    ("GET", "/api/v1/documents"): _row(401, 401, 401, 401, 401, 401, 401),
    ("POST", "/api/v1/documents"): _row(401, 401, 401, 401, 401, 401, 401),
    ("GET", "/api/v1/documents/<int:document_id>"): _row(401, 401, 401, 401, 401, 401, 401),
    ("GET", "/api/v1/documents/<int:document_id>/versions/<int:number>/file"):
        _row(401, 401, 401, 401, 401, 401, 401),
    ("GET", "/api/v1/documents/<int:document_id>/evidence.zip"):
        _row(401, 401, 401, 401, 401, 401, 401),
    ("POST", "/api/v1/documents/<int:document_id>/steps/<step>/visa"):
        _row(401, 401, 401, 401, 401, 401, 401),
    ("POST", "/api/v1/documents/<int:document_id>/steps/<step>/reject"):
        _row(401, 401, 401, 401, 401, 401, 401),
    ("POST", "/api/v1/documents/<int:document_id>/steps/<step>/sign"):
        _row(401, 401, 401, 401, 401, 401, 401),
    ("POST", "/api/v1/documents/<int:document_id>/take-back"):
        _row(401, 401, 401, 401, 401, 401, 401),
    ("GET", "/api/v1/documents/<int:document_id>/annexes"): _row(401, 401, 401, 401, 401, 401, 401),
    ("GET", "/api/v1/documents/<int:document_id>/annexes/<int:annex_id>/file"):
        _row(401, 401, 401, 401, 401, 401, 401),
    ("GET", "/api/v1/exports"): _row(401, 401, 401, 401, 401, 401, 401),
    ("GET", "/api/v1/exports/<int:export_id>"): _row(401, 401, 401, 401, 401, 401, 401),
    ("GET", "/api/v1/exports/<int:export_id>/file"): _row(401, 401, 401, 401, 401, 401, 401),
    ("POST", "/api/v1/exports/returns"): _row(401, 401, 401, 401, 401, 401, 401),
    ("GET", "/api/v1/exports/returns/<int:return_id>"): _row(401, 401, 401, 401, 401, 401, 401),
    ("POST", "/api/v1/invoices"): _row(401, 401, 401, 401, 401, 401, 401),
    ("GET", "/api/v1/invoices/<int:invoice_id>"): _row(401, 401, 401, 401, 401, 401, 401),
    ("GET", "/api/v1/invoices/<int:invoice_id>/statuses"): _row(401, 401, 401, 401, 401, 401, 401),
    ("GET", "/api/v1/delegations"): _row(401, 401, 401, 401, 401, 401, 401),
    ("POST", "/api/v1/delegations"): _row(401, 401, 401, 401, 401, 401, 401),
    ("GET", "/api/v1/users"): _row(401, 401, 401, 401, 401, 401, 401),
    ("POST", "/api/v1/users"): _row(401, 401, 401, 401, 401, 401, 401),
    ("GET", "/api/v1/desks"): _row(401, 401, 401, 401, 401, 401, 401),
    ("POST", "/api/v1/desks"): _row(401, 401, 401, 401, 401, 401, 401),
    ("GET", "/api/v1/webhooks"): _row(401, 401, 401, 401, 401, 401, 401),
    ("POST", "/api/v1/webhooks"): _row(401, 401, 401, 401, 401, 401, 401),
    ("DELETE", "/api/v1/webhooks/<int:subscription_id>"): _row(401, 401, 401, 401, 401, 401, 401),
    ("GET", "/api/v1/webhooks/<int:subscription_id>/deliveries"):
        _row(401, 401, 401, 401, 401, 401, 401),
    ("POST", "/api/v1/webhooks/deliveries/<int:delivery_id>/redeliver"):
        _row(401, 401, 401, 401, 401, 401, 401),
    ("GET", "/healthz"): _row(200, 200, 200, 200, 200, 200, 200),
    ("GET", "/readyz"): _row(200, 200, 200, 200, 200, 200, 200),
    ("POST", "/organisation"): _row(302, 400, 400, 400, 400, 400, 400),
    ("GET", "/plateforme"): _row(302, 403, 403, 403, 403, 403, 403),
    ("POST", "/plateforme/organisations"): _row(302, 403, 403, 403, 403, 403, 403),
    ("GET", "/login/sso/<slug>"): _row(404, 302, 302, 302, 302, 302, 302),
    ("GET", "/login/sso/callback"): _row(400, 400, 400, 400, 400, 400, 400),
    ("GET", "/admin/sso"): _row(302, 403, 403, 403, 403, 403, 200),
    ("POST", "/admin/sso"): _row(302, 403, 403, 403, 403, 403, 400),
    ("POST", "/admin/membres"): _row(302, 403, 403, 403, 403, 403, 400),
    # The demo's organisation has no identity provider: nothing to link, nothing to unlink.
    ("POST", "/account/sso/link"): _row(302, 400, 400, 400, 400, 400, 400),
    ("POST", "/account/sso/unlink"): _row(302, 404, 404, 404, 404, 404, 404),
    ("POST", "/logout"): _row(302, 302, 302, 302, 302, 302, 302),  # walked last
}


def _routes(app) -> set[tuple[str, str]]:
    return {(method, rule.rule) for rule in app.url_map.iter_rules()
            for method in rule.methods - {"HEAD", "OPTIONS"}}


def _url(rule: str) -> str:
    for name, value in PARAMS.items():
        for converter in ("int:", "path:", ""):
            rule = rule.replace(f"<{converter}{name}>", value)
    return rule


def test_every_route_is_in_the_matrix(app):
    missing = _routes(app) - set(MATRIX)
    assert not missing, f"routes missing from MATRIX in {__file__}: {sorted(missing)}"
    assert not set(MATRIX) - _routes(app), "MATRIX names routes that no longer exist"


def test_each_role_gets_the_expected_status_on_every_route(demo, demo_pki, tmp_path):
    from parapheur.demo.seed import DEMO_PASSPHRASE

    passphrase = tmp_path / "seal-passphrase"  # evidence bundles are sealed
    passphrase.write_text(DEMO_PASSPHRASE + "\n", encoding="utf-8")
    demo.config["SEAL_PKCS12"] = demo_pki.seal_pkcs12_path
    demo.config["SEAL_PASSPHRASE_FILE"] = passphrase
    actual: dict[tuple[str, str], dict[str, int]] = {}
    order = sorted(MATRIX, key=lambda route: route == ("POST", "/logout"))
    for role in ROLES:
        client = demo.test_client()
        if role != "anonymous":
            assert login(client, role).status_code == 302
        token = csrf_from(client.get("/login" if role == "anonymous" else "/delegations")
                          .get_data(as_text=True))
        for method, rule in order:
            url = _url(rule)
            if method == "GET":
                response = client.get(url)
            else:
                response = client.open(url, method=method, data={"csrf_token": token})
            actual.setdefault((method, rule), {})[role] = response.status_code
    wrong = {route: (MATRIX[route], got) for route, got in actual.items() if got != MATRIX[route]}
    assert not wrong, "\n".join(f"{m} {r}: expected {e}, got {g}" for (m, r), (e, g) in wrong.items())
