"""Domain and signing errors carry a code, a French sentence (a msgid) and parameters: the pages
and the API show the sentence in the reader's language, filled in; the CLI and logs keep French."""

from __future__ import annotations

import re

from app_helpers import csrf_from, first_waiting, page_text, upload
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from sqlalchemy import select, update

from parapheur.accounts.models import User
from parapheur.circuits.errors import ActionNotAllowed
from parapheur.config import PROJECT_ROOT
from parapheur.db import get_session
from parapheur.documents.models import Document
from parapheur.errors import N_, ParapheurError, localized
from parapheur.i18n import TRANSLATIONS_DIR
from parapheur.signatures.services import refusal
from signing import errors as signing_errors

_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def _english() -> dict[str, str]:
    with open(TRANSLATIONS_DIR / "en/LC_MESSAGES/messages.po", "rb") as source:
        return {m.id: m.string for m in read_po(source) if m.id}


def _subclasses(base: type) -> list[type]:
    found, todo = [], [base]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def _all_signing_errors() -> list[type]:
    import signing.archive  # noqa: F401  (every module that defines an error class)
    import signing.trusted_list  # noqa: F401
    import signing.two_phase  # noqa: F401
    import signing.validation  # noqa: F401
    import signing.xades  # noqa: F401

    return _subclasses(signing_errors.SigningError)


def test_every_code_of_the_signing_layer_has_its_msgid_translated_with_the_same_placeholders():
    english = _english()
    classes = _all_signing_errors()
    codes = {cls.__dict__["code"]: cls for cls in classes if "code" in cls.__dict__}
    assert len(codes) == len([c for c in classes if "code" in c.__dict__]), "a code used twice"
    assert "wrong_passphrase" in codes and "unreadable_pdf" in codes
    for code, cls in codes.items():
        assert re.fullmatch(r"[a-z][a-z0-9_]+", code)
        assert english.get(cls.default_message), f"{code}: no English for {cls.default_message!r}"
    # Every sentence the signing layer raises (marked with N_) is in the catalogue, translated,
    # with the same placeholders: a translation that lost one would show a broken sentence.
    marked = [message for _, _, message, _, _ in extract_from_dir(
        PROJECT_ROOT / "signing", method_map=[("**.py", "python")])]
    assert len(marked) > 50
    for source in [*marked, *(ParapheurError.default_message,)]:
        assert english.get(source), f"not translated: {source!r}"
        assert sorted(_PLACEHOLDER.findall(english[source])) == \
            sorted(_PLACEHOLDER.findall(source)), source


def test_every_marked_sentence_of_the_application_keeps_its_placeholders_in_english():
    english = _english()
    for msgid, translation in english.items():
        if isinstance(msgid, tuple):  # a plural (ngettext): the forms together keep them all
            assert {p for form in translation for p in _PLACEHOLDER.findall(form)} == \
                {p for form in msgid for p in _PLACEHOLDER.findall(form)}, msgid
            continue
        # The same names (a French plural « s » may repeat one that English writes once).
        assert set(_PLACEHOLDER.findall(translation)) == set(_PLACEHOLDER.findall(msgid)), msgid


def test_an_error_is_french_outside_a_request_and_translated_inside_one(app):
    error = ActionNotAllowed(N_("Le bureau « %(desk)s » n'intervient pas à l'étape « %(step)s »."),
                             status=403, step="visa_dgs", desk="maire")
    assert error.message == "Le bureau « maire » n'intervient pas à l'étape « visa_dgs »."
    assert str(error) == error.message and localized(error) == error.message  # the CLI's
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert localized(error) == "The bureau « maire » has no part in the step « visa_dgs »."
    with app.test_request_context(headers={"Accept-Language": "fr"}):
        assert localized(error) == error.message
        # A sentence without placeholders is shown as is, its « % » too, whatever the params.
        bare = ActionNotAllowed(N_("Zoom de 100 % refusé"), step="visa_dgs")
        assert bare.message == localized(bare) == "Zoom de 100 % refusé"


def test_a_refusal_of_the_signing_layer_keeps_its_code_and_is_translated_nested(app):
    wrong = refusal(signing_errors.WrongPassphrase())
    assert wrong.reason == "wrong_passphrase" and wrong.message.startswith("Mot de passe ou code")
    unreadable = signing_errors.UnreadablePdf(
        N_("Le PDF est illisible ou endommagé : il n'a pas été signé (%(detail)s)."),
        detail="xref")
    nested = ParapheurError(N_("Annexe « %(name)s » : %(detail)s"), name="plan.pdf",
                            detail=unreadable)
    assert nested.message == ("Annexe « plan.pdf » : Le PDF est illisible ou endommagé : il n'a "
                              "pas été signé (xref).")
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert localized(wrong).startswith("Wrong password or PIN: the signing key")
        assert localized(nested) == ("Annex « plan.pdf »: The PDF is unreadable or damaged: it "
                                     "was not signed (xref).")


def _speaks_english(app, username: str) -> None:
    with app.app_context():
        session = get_session()
        session.execute(update(User).where(User.username == username).values(locale="en"))
        session.commit()


def test_a_refused_visa_is_french_for_one_and_english_for_a_user_with_locale_en(
        demo, client_for, sample_pdf):
    adjoint = client_for("adjoint")  # not of the DGS desk: her visa is refused (403)
    assert upload(adjoint, sample_pdf, title="Délibération de l'adjoint").status_code == 302
    with demo.app_context():
        document_id = get_session().execute(select(Document.id).where(
            Document.title == "Délibération de l'adjoint")).scalar_one()
    url = f"/documents/{document_id}/steps/visa_dgs/visa"
    page = adjoint.get(f"/documents/{document_id}").get_data(as_text=True)
    french = adjoint.post(url, data={"csrf_token": csrf_from(page)})
    assert french.status_code == 403
    assert "Vous n'êtes ni membre ni délégataire du bureau" in page_text(french)
    _speaks_english(demo, "adjoint")
    english = adjoint.post(url, data={"csrf_token": csrf_from(page)})
    assert english.status_code == 403
    assert ("You are neither a member nor a delegate of the bureau in charge of this step."
            in page_text(english))


def test_a_second_visa_names_the_step_in_either_language(demo, client_for):
    document_id, step = first_waiting(demo, "visa")
    dgs = client_for("dgs")
    token = csrf_from(dgs.get(f"/documents/{document_id}").get_data(as_text=True))
    url = f"/documents/{document_id}/steps/{step}/visa"
    assert dgs.post(url, data={"csrf_token": token}).status_code == 302
    french = dgs.post(url, data={"csrf_token": token})
    assert french.status_code == 409
    assert f"L'étape « {step} » n'est plus en attente" in page_text(french)
    _speaks_english(demo, "dgs")
    english = dgs.post(url, data={"csrf_token": token})
    assert english.status_code == 409
    assert f"The step « {step} » is no longer waiting: already processed" in page_text(english)


def test_a_wrong_pin_is_told_in_the_users_language(demo, client_for):
    document_id, step = first_waiting(demo, "signature")
    maire = client_for("maire")
    page = maire.get(f"/documents/{document_id}").get_data(as_text=True)
    url = f"/documents/{document_id}/steps/{step}/sign"
    french = maire.post(url, data={"csrf_token": csrf_from(page), "passphrase": "0000"})
    assert french.status_code == 400
    assert "Mot de passe ou code PIN incorrect : la clé de signature n'a pas pu être ouverte" \
        in page_text(french)
    _speaks_english(demo, "maire")
    english = maire.post(url, data={"csrf_token": csrf_from(page), "passphrase": "0000"})
    assert english.status_code == 400
    assert "Wrong password or PIN: the signing key could not be opened." in page_text(english)


def test_an_invoice_too_large_is_refused_in_the_users_language(demo, client_for):
    import io

    demo.config["INVOICES_MAX_MB"] = 1
    finances = client_for("finances")
    token = csrf_from(finances.get("/factures/").get_data(as_text=True))

    def send():
        return finances.post("/factures/import", headers={"Accept": "application/json"},
                             data={"csrf_token": token, "files": (
                                 io.BytesIO(b"%PDF-1.7\n" + b"0" * (1024 * 1024)), "F-1.pdf")})

    french = send().json["results"]
    assert [(r["invoice_id"], r["summary"]) for r in french] == [
        (None, "Le fichier « F-1.pdf » dépasse la taille maximale (1 Mo) : il n'a pas été "
               "importé.")]
    _speaks_english(demo, "finances")
    english = send().json["results"]
    assert [r["summary"] for r in english] == [
        "The file « F-1.pdf » exceeds the maximum size (1 MB): it was not imported."]


def test_the_api_keeps_its_code_and_translates_the_detail(demo):
    client = demo.test_client()
    headers = {"Authorization": "Bearer pk_nope"}
    french = client.get("/api/v1/documents", headers=headers)
    english = client.get("/api/v1/documents", headers={**headers, "Accept-Language": "en"})
    assert french.status_code == english.status_code == 401
    assert french.json["code"] == english.json["code"] == "invalid_token"
    assert french.json["detail"] == "Jeton d'API invalide."
    assert english.json["detail"] == "Invalid API token."


def test_a_refused_signature_as_a_problem_keeps_its_codes_in_english(app):
    import json

    from parapheur.api.problems import for_domain_error

    with app.test_request_context(headers={"Accept-Language": "en"}):
        body = json.loads(for_domain_error(refusal(signing_errors.WrongPassphrase())).get_data())
    assert body["code"] == "signing_refused" and body["reason"] == "wrong_passphrase"
    assert body["detail"].startswith("Wrong password or PIN")
