"""The HTTP connector against a real HTTP server on loopback: the file, the bearer token and the
idempotency key sent; 5xx and timeouts worth another try, other refusals not; the token never
shown."""

from __future__ import annotations

import pytest
from tdt_server import TdtServer

from parapheur.accounting.transmission import (
    FolderConnector,
    HttpConnector,
    TransmissionError,
    connector_for,
    read_token,
)

PES = b'<?xml version="1.0" encoding="ISO-8859-1"?><n:PES_Aller/>'


@pytest.fixture
def tdt():
    server = TdtServer().start()
    yield server
    server.stop()


def test_the_file_goes_with_its_token_and_key_and_the_receipt_comes_back(tdt):
    connector = HttpConnector(tdt.url, token="s3cret-jeton", timeout=5)
    receipt = connector.deposit("PES990012026000001.xml", PES, "PES990012026000001.xml:abc")
    assert receipt == f"{tdt.url} (HTTP 201, accusé TDT-1)"
    (request,) = tdt.received
    assert request.body == PES
    assert request.headers["authorization"] == "Bearer s3cret-jeton"
    assert request.headers["idempotency-key"] == "PES990012026000001.xml:abc"
    assert request.headers["x-pes-filename"] == "PES990012026000001.xml"
    assert request.headers["content-type"] == "application/xml"
    assert "s3cret-jeton" not in repr(connector)


@pytest.mark.parametrize(("answer", "permanent", "words"), [
    (500, False, "HTTP 500 (refusé) : erreur 500 du TdT"),
    (503, False, "HTTP 503"),
    (429, False, "HTTP 429"),
    (401, True, "HTTP 401 (identifiants refusés (vérifiez le jeton))"),
    (413, True, "fichier trop volumineux pour le TdT"),
    (400, True, "HTTP 400 (refusé)"),
])
def test_refusals_say_whether_another_try_can_help(tdt, answer, permanent, words):
    tdt.answers = [answer]
    with pytest.raises(TransmissionError) as caught:
        HttpConnector(tdt.url, timeout=5).deposit("f.xml", PES, "k")
    assert caught.value.permanent is permanent
    assert words in caught.value.message


def test_a_tdt_that_does_not_answer_in_time_is_a_retryable_failure(tdt):
    tdt.answers = ["stall"]
    with pytest.raises(TransmissionError) as caught:
        HttpConnector(tdt.url, timeout=1).deposit("f.xml", PES, "k")
    assert not caught.value.permanent
    assert caught.value.message == "Le tiers de télétransmission n'a pas répondu en 1 s."


def test_a_tdt_that_is_not_there_is_a_retryable_failure(tdt):
    url = tdt.url
    tdt.stop()
    with pytest.raises(TransmissionError) as caught:
        HttpConnector(url, timeout=2).deposit("f.xml", PES, "k")
    assert not caught.value.permanent
    assert "injoignable" in caught.value.message


def test_the_settings_choose_the_connector(tmp_path):
    token = tmp_path / "jeton"
    token.write_text("abc\n")
    http = connector_for({"PES_HTTP_URL": "https://tdt.example/pes", "PES_HTTP_TOKEN_FILE": token,
                          "PES_HTTP_TIMEOUT": 7, "DATA_DIR": tmp_path})
    assert http == HttpConnector("https://tdt.example/pes", token="abc", timeout=7)
    assert connector_for({"DATA_DIR": tmp_path}) == FolderConnector(tmp_path / "pes-depot")
    (tmp_path / "vide").write_text("")
    with pytest.raises(TransmissionError) as caught:
        read_token(tmp_path / "vide")
    assert caught.value.permanent and "ne contient pas de jeton" in caught.value.message


def test_a_redirect_is_not_followed(tdt):
    tdt.answers = [302]
    with pytest.raises(TransmissionError) as caught:
        HttpConnector(tdt.url, timeout=5).deposit("f.xml", PES, "k")
    assert caught.value.permanent and "HTTP 302" in caught.value.message
    assert len(tdt.received) == 1
