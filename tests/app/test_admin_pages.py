"""Administrators manage accounts, desks and members in the browser; nobody else can."""

from __future__ import annotations

from app_helpers import csrf_from, db_snapshot, login, page_text
from sqlalchemy import select

from parapheur.accounts.models import Desk, User
from parapheur.audit.models import AuditEvent
from parapheur.db import get_session


def _token(client) -> str:
    return csrf_from(client.get("/admin/").get_data(as_text=True))


def _ids(app, username: str, slug: str) -> tuple[int, int]:
    with app.app_context():
        session = get_session()
        return (session.execute(select(User.id).where(User.username == username)).scalar_one(),
                session.execute(select(Desk.id).where(Desk.slug == slug)).scalar_one())


def test_admin_creates_an_account_that_can_log_in_and_act(demo, client_for):
    admin = client_for("admin")
    _, dgs_desk = _ids(demo, "dgs", "dgs")
    response = admin.post("/admin/users", data={
        "csrf_token": _token(admin), "username": "dgsa", "full_name": "Denis Garnier",
        "title": "DGS adjoint", "role": "agent", "password": "mot-de-passe-long",
        "desks": [str(dgs_desk)]})
    assert response.status_code == 302
    newcomer = demo.test_client()
    assert login(newcomer, "dgsa", "mot-de-passe-long").status_code == 302
    assert "Approbation du budget supplémentaire" in page_text(newcomer.get("/"))


def test_disable_and_membership_changes_are_journaled(demo, client_for):
    admin = client_for("admin")
    adjoint_id, maire_desk = _ids(demo, "adjoint", "maire")
    assert admin.post(f"/admin/users/{adjoint_id}/active",
                      data={"csrf_token": _token(admin), "active": "0"}).status_code == 302
    assert login(demo.test_client(), "adjoint").status_code == 401
    assert admin.post(f"/admin/desks/{maire_desk}/members",
                      data={"csrf_token": _token(admin), "user_id": adjoint_id}).status_code == 302
    assert admin.post(f"/admin/desks/{maire_desk}/members/{adjoint_id}/remove",
                      data={"csrf_token": _token(admin)}).status_code == 302
    with demo.app_context():
        names = get_session().execute(select(AuditEvent.name)).scalars().all()
    for name in ("account:user:disabled", "account:desk:member_added",
                 "account:desk:member_removed"):
        assert name in names


def test_bad_admin_input_is_refused_and_changes_nothing(demo, client_for):
    admin = client_for("admin")
    admin_id, maire_desk = _ids(demo, "admin", "maire")
    before = db_snapshot(demo)
    cases = [
        ("/admin/users", {"username": "maire", "full_name": "Doublon", "role": "agent",
                          "password": "long-enough"}, 409),
        ("/admin/users", {"username": "x y", "full_name": "Espace", "role": "agent",
                          "password": "long-enough"}, 400),
        ("/admin/users", {"username": "court", "full_name": "Court", "role": "agent",
                          "password": "court"}, 400),
        ("/admin/users", {"username": "role", "full_name": "Rôle", "role": "roi",
                          "password": "long-enough"}, 400),
        ("/admin/desks", {"slug": "Maire!", "name": "Bizarre"}, 400),
        ("/admin/desks", {"slug": "maire", "name": "Doublon"}, 409),
        (f"/admin/users/{admin_id}/active", {"active": "0"}, 400),
        (f"/admin/desks/{maire_desk}/members", {"user_id": "abc"}, 400),
        (f"/admin/desks/{maire_desk}/members", {"user_id": "9999"}, 404),
    ]
    for url, data, status in cases:
        response = admin.post(url, data={"csrf_token": _token(admin), **data})
        assert response.status_code == status, (url, data, page_text(response))
    assert db_snapshot(demo) == before


def test_only_administrators_get_in(demo, client_for):
    maire = client_for("maire")
    assert maire.get("/admin/").status_code == 403
    token = csrf_from(maire.get("/").get_data(as_text=True))
    before = db_snapshot(demo)
    assert maire.post("/admin/desks", data={"csrf_token": token, "slug": "pirate",
                                             "name": "Pirate"}).status_code == 403
    assert db_snapshot(demo) == before


def _register(admin, user_id: int, data: bytes, code: str, reason: str = ""):
    import io

    return admin.post(f"/admin/users/{user_id}/credential", content_type="multipart/form-data",
                      data={"csrf_token": _token(admin), "passphrase": code,
                            "name_mismatch_reason": reason,
                            "pkcs12": (io.BytesIO(data), "certificat.p12")})


def test_admin_registers_a_certificate_and_its_holder_signs(demo, client_for, demo_pki):
    admin = client_for("admin")
    admin.post("/admin/users", data={
        "csrf_token": _token(admin), "username": "suppleant", "full_name": "Sam Suppléant",
        "role": "signataire", "password": "mot-de-passe-long",
        "desks": [str(_ids(demo, "maire", "maire")[1])]})
    user_id, _ = _ids(demo, "suppleant", "maire")
    response = _register(admin, user_id, demo_pki.pkcs12_path("adjoint").read_bytes(), "1234",
                         reason="Suppléance : signe avec le certificat de l'adjoint")
    assert response.status_code == 302, page_text(response)
    assert "Paul Lefèvre" in page_text(admin.get("/admin/"))
    signer = demo.test_client()
    login(signer, "suppleant", "mot-de-passe-long")
    token = csrf_from(signer.get("/documents/3").get_data(as_text=True))
    response = signer.post("/documents/3/steps/signature_maire/sign",
                           data={"csrf_token": token, "passphrase": "1234"})
    assert response.status_code == 302, page_text(response)
    with demo.app_context():
        names = get_session().execute(select(AuditEvent.name)).scalars().all()
    assert "account:credential:registered" in names and "document:step:signed" in names


def test_bad_certificates_are_refused_and_nothing_is_kept(demo, client_for, demo_pki):
    admin = client_for("admin")
    user_id, _ = _ids(demo, "adjoint", "adjoint")
    before = db_snapshot(demo)
    credentials = demo.config["DATA_DIR"] / "credentials"
    wrong_code = _register(admin, user_id, demo_pki.pkcs12_path("adjoint").read_bytes(), "0000")
    assert wrong_code.status_code == 400 and "incorrect" in page_text(wrong_code)
    garbage = _register(admin, user_id, b"not a pkcs12 file", "1234")
    assert garbage.status_code == 400
    expired = _register(admin, user_id, demo_pki.pkcs12_path("expired").read_bytes(), "1234")
    assert expired.status_code == 400 and "a expiré" in page_text(expired)
    assert db_snapshot(demo) == before
    assert not credentials.exists() or list(credentials.iterdir()) == []
