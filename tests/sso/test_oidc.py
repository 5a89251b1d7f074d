"""OpenID Connect login against a real provider on loopback (tests/sso/oidc_provider.py)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from app_helpers import csrf_from, login, page_text
from oidc_provider import Identity
from sqlalchemy import func, select

from parapheur.accounts.models import User
from parapheur.db import get_session
from parapheur.sso.models import IdentityProvider, SsoIdentity

SECRET = "secret-du-client-commune-2026"


@pytest.fixture
def commune_sso(territory, oidc_provider):
    """The commune's administrator configures the provider from her page (discovery is read)."""
    redirect_uri = territory.config["BASE_URL"].rstrip("/") + "/login/sso/callback"
    oidc_provider.register("parapheur-commune", SECRET, redirect_uri)
    oidc_provider.identities.update({
        "sub-luc": Identity("sub-luc", "Commune-Secretaire@commune-demo.test"),
        "sub-ines": Identity("sub-ines", "commune-admin@commune-demo.test"),
        "sub-stranger": Identity("sub-stranger", "inconnu@ailleurs.test", given_name="Zoé",
                                 family_name="Nouvelle")})
    admin = territory.test_client()
    assert login(admin, "commune-admin").status_code == 302
    token = csrf_from(admin.get("/admin/sso").get_data(as_text=True))
    response = admin.post("/admin/sso", data=_settings(token, oidc_provider.issuer))
    assert response.status_code == 302, page_text(response)
    return oidc_provider


def _settings(token, issuer, **extra):
    form = {"csrf_token": token, "label": "ProConnect", "issuer": issuer,
            "client_id": "parapheur-commune", "client_secret": SECRET, "match_by": "email",
            "local_passwords": "1", "enabled": "1"}
    form.update(extra)
    return {k: v for k, v in form.items() if v is not None}


def _sso_login(client, provider, subject, *, tamper_state: bool = False):
    """Through the login page's button, the provider, and back: the callback's response."""
    provider.subject = subject
    start = client.get("/login/sso/commune-demo")
    assert start.status_code == 302
    location = start.headers["Location"]
    assert location.startswith(f"{provider.issuer}/authorize?")
    query = parse_qs(urlsplit(location).query)
    assert query["code_challenge_method"] == ["S256"] and query["nonce"]
    answer = requests.get(location, allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    back = urlsplit(answer.headers["Location"])
    path = f"{back.path}?{back.query}"
    if tamper_state:
        path = path.replace("state=", "state=x")
    return client.get(path)


def test_login_through_the_provider_maps_the_account_by_verified_email(territory, commune_sso):
    login_page = page_text(territory.test_client().get("/login"))
    assert "ProConnect — Commune de Démo-sur-Loire" in login_page
    with territory.app_context():
        stored = get_session().execute(select(IdentityProvider)).scalar_one()
        assert SECRET not in stored.client_secret_encrypted and SECRET not in repr(stored)
    client = territory.test_client()
    response = _sso_login(client, commune_sso, "sub-luc")
    assert response.status_code == 302 and response.headers["Location"].endswith("/")
    inbox = page_text(client.get("/"))
    assert "Luc Garnier" in inbox and "Réfection du toit" in inbox
    with territory.app_context():
        identity = get_session().execute(select(SsoIdentity)).scalar_one()
        user = get_session().get(User, identity.user_id)
        assert (user.username, identity.subject) == ("commune-secretaire", "sub-luc")
    # The second time the link (issuer, sub) finds her, whatever the address says.
    commune_sso.identities["sub-luc"].email = "autre@commune-demo.test"
    again = territory.test_client()
    assert _sso_login(again, commune_sso, "sub-luc").status_code == 302
    assert "Luc Garnier" in page_text(again.get("/"))


def test_a_wrong_state_is_refused_before_any_token_request(territory, commune_sso):
    client = territory.test_client()
    before = commune_sso.token_requests
    response = _sso_login(client, commune_sso, "sub-luc", tamper_state=True)
    assert response.status_code == 400
    assert "state" in page_text(response) and "recommencez" in page_text(response)
    assert commune_sso.token_requests == before
    assert client.get("/").status_code == 302  # not logged in
    # A callback without any login in progress is refused the same way.
    assert territory.test_client().get("/login/sso/callback?code=x&state=y").status_code == 400


def test_an_unknown_identity_gets_no_account_unless_the_administrator_allows_it(
        territory, commune_sso):
    with territory.app_context():
        users_before = get_session().execute(select(func.count(User.id))).scalar_one()
    client = territory.test_client()
    response = _sso_login(client, commune_sso, "sub-stranger")
    assert response.status_code == 403
    assert "Aucun compte de Commune de Démo-sur-Loire ne correspond" in page_text(response)
    assert client.get("/").status_code == 302
    with territory.app_context():
        assert get_session().execute(select(func.count(User.id))).scalar_one() == users_before
    # Now allowed: an agent account of the commune, logging in through the provider only.
    admin = territory.test_client()
    login(admin, "commune-admin")
    token = csrf_from(admin.get("/admin/sso").get_data(as_text=True))
    assert admin.post("/admin/sso", data=_settings(token, commune_sso.issuer, client_secret="",
                                                   create_accounts="1")).status_code == 302
    response = _sso_login(territory.test_client(), commune_sso, "sub-stranger")
    assert response.status_code == 302
    with territory.app_context():
        created = get_session().execute(select(User).where(User.email == "inconnu@ailleurs.test")
                                        ).scalar_one()
        assert (created.full_name, created.home_role.value) == ("Zoé Nouvelle", "agent")
        assert created.home_organisation.slug == "commune-demo"


def test_disabled_local_passwords_leave_only_the_provider(territory, commune_sso):
    admin = territory.test_client()
    login(admin, "commune-admin")
    token = csrf_from(admin.get("/admin/sso").get_data(as_text=True))
    # Not from a password session: she would lock everybody out on a wrong setting.
    refused = admin.post("/admin/sso", data=_settings(token, commune_sso.issuer, client_secret="",
                                                      local_passwords=None))
    assert refused.status_code == 400 and "Connectez-vous d'abord" in page_text(refused)
    sso_admin = territory.test_client()
    assert _sso_login(sso_admin, commune_sso, "sub-ines").status_code == 302
    token = csrf_from(sso_admin.get("/admin/sso").get_data(as_text=True))
    assert sso_admin.post("/admin/sso", data=_settings(
        token, commune_sso.issuer, client_secret="", local_passwords=None)).status_code == 302
    assert sso_admin.get("/admin/sso").status_code == 200  # her SSO session goes on
    # The password session opened before is over; a new password login is refused.
    assert admin.get("/").status_code == 302
    response = login(territory.test_client(), "commune-secretaire")
    assert response.status_code == 403
    assert "désactivé les mots de passe locaux" in page_text(response)
    # The métropole keeps its passwords; its DGS, also of the commune, may not switch there.
    dgs = territory.test_client()
    assert login(dgs, "dgs").status_code == 302
    with territory.app_context():
        from parapheur.organisations.models import Organisation

        commune_id = get_session().execute(select(Organisation.id).where(
            Organisation.slug == "commune-demo")).scalar_one()
    token = csrf_from(dgs.get("/").get_data(as_text=True))
    response = dgs.post("/organisation", data={"csrf_token": token,
                                               "organisation_id": str(commune_id)})
    assert response.status_code == 403
    assert "n'accepte que la connexion par son fournisseur d'identité" in page_text(response)
    # Through the provider she still logs in.
    assert _sso_login(territory.test_client(), commune_sso, "sub-luc").status_code == 302


def test_matching_by_sub_uses_the_identities_the_administrator_linked(territory, commune_sso):
    from app_helpers import run_cli

    admin = territory.test_client()
    login(admin, "commune-admin")
    token = csrf_from(admin.get("/admin/sso").get_data(as_text=True))
    assert admin.post("/admin/sso", data=_settings(token, commune_sso.issuer, client_secret="",
                                                   match_by="sub")).status_code == 302
    commune_sso.identities["sub-jeanne"] = Identity("sub-jeanne", "commune-maire@commune-demo.test")
    assert _sso_login(territory.test_client(), commune_sso, "sub-jeanne").status_code == 403
    result = run_cli(territory, "sso", "link", "commune-demo", "commune-maire", "sub-jeanne")
    assert result.returncode == 0, result.stderr
    again = run_cli(territory, "sso", "link", "commune-demo", "commune-secretaire", "sub-jeanne")
    assert again.returncode != 0 and "déjà liée" in again.stderr
    client = territory.test_client()
    assert _sso_login(client, commune_sso, "sub-jeanne").status_code == 302
    assert "Jeanne Roux" in page_text(client.get("/"))
    # A member added from the shell is offered the commune in her switcher.
    added = run_cli(territory, "orgs", "add-member", "commune-demo", "auditeur", "--role",
                    "auditeur")
    assert added.returncode == 0, added.stderr
    auditor = territory.test_client()
    login(auditor, "auditeur")
    assert "Commune de Démo-sur-Loire" in page_text(auditor.get("/"))


def test_a_provider_that_cannot_be_reached_or_is_not_https_is_refused(territory):
    admin = territory.test_client()
    login(admin, "commune-admin")
    token = csrf_from(admin.get("/admin/sso").get_data(as_text=True))
    plain = admin.post("/admin/sso", data=_settings(token, "http://idp.example.org"))
    assert plain.status_code == 400 and "doit être une adresse https://" in page_text(plain)
    down = admin.post("/admin/sso", data=_settings(token, "http://127.0.0.1:1"))
    assert down.status_code == 502 and "ne répond pas" in page_text(down)
    assert SECRET not in down.get_data(as_text=True)  # the secret typed is never shown back
    with territory.app_context():
        assert get_session().execute(select(IdentityProvider)).first() is None
    assert "ProConnect" not in page_text(territory.test_client().get("/login"))


def _link(client, provider, subject):
    """« Lier mon compte » on « Mon compte », the provider, and back: the callback's response."""
    provider.subject = subject
    token = csrf_from(client.get("/account").get_data(as_text=True))
    start = client.post("/account/sso/link", data={"csrf_token": token})
    assert start.status_code == 302 and start.headers["Location"].startswith(provider.issuer)
    answer = requests.get(start.headers["Location"], allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    back = urlsplit(answer.headers["Location"])
    return client.get(f"{back.path}?{back.query}")


def test_a_user_links_and_unlinks_her_account_from_her_account_page(territory, commune_sso):
    from parapheur.audit.models import AuditEvent

    commune_sso.identities["sub-jeanne"] = Identity("sub-jeanne", "ailleurs@exemple.test")
    client = territory.test_client()
    login(client, "commune-maire")
    assert "Lier mon compte à ProConnect" in page_text(client.get("/account"))
    assert client.post("/account/sso/link", data={}).status_code == 400  # no CSRF token
    response = _link(client, commune_sso, "sub-jeanne")
    assert response.status_code == 302 and response.headers["Location"].endswith("/account")
    page = page_text(client.get("/account"))
    assert "Votre compte est lié à votre identité ProConnect" in page and "Délier" in page
    with territory.app_context():
        session = get_session()
        identity = session.execute(select(SsoIdentity).where(
            SsoIdentity.subject == "sub-jeanne")).scalar_one()
        assert session.get(User, identity.user_id).username == "commune-maire"
        assert session.execute(select(AuditEvent.name).where(
            AuditEvent.name == "sso:identity:linked")).scalar() is not None
    # Her identity now opens her session, whatever address the provider gives.
    assert _sso_login(territory.test_client(), commune_sso, "sub-jeanne").status_code == 302
    # An identity linked to someone else is refused with the reason; nothing changes.
    other = territory.test_client()
    login(other, "commune-admin")
    refused = _link(other, commune_sso, "sub-jeanne")
    assert refused.status_code == 409 and "déjà liée à un autre compte" in page_text(refused)
    token = csrf_from(client.get("/account").get_data(as_text=True))
    assert client.post("/account/sso/unlink", data={"csrf_token": token}).status_code == 302
    assert "Lier mon compte à ProConnect" in page_text(client.get("/account"))
    with territory.app_context():
        session = get_session()
        assert session.execute(select(SsoIdentity).where(
            SsoIdentity.subject == "sub-jeanne")).first() is None
        assert session.execute(select(AuditEvent.name).where(
            AuditEvent.name == "sso:identity:unlinked")).scalar() is not None
    again = client.post("/account/sso/unlink", data={"csrf_token": token})
    assert again.status_code == 404 and "n'est lié à aucune identité" in page_text(again)
