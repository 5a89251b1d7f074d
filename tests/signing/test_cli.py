"""`parapheur sign` and `parapheur pki` commands."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request

from checks import assert_pdfsig_valid, pyhanko_statuses
from click.testing import CliRunner
from pdfs import simple_pdf

from parapheur.cli import main
from signing.pki import DevPki
from signing.pki_server import free_loopback_port


def _inputs(tmp_path, count=2):
    folder = tmp_path / "in"
    folder.mkdir()
    paths = []
    for index in range(count):
        path = folder / f"deliberation-{index}.pdf"
        path.write_bytes(simple_pdf(text=f"Délibération {index}"))
        paths.append(path)
    return paths


def test_sign_with_pkcs12_writes_each_file_under_its_name(dev_pki, tmp_path, pdfsig):
    files = _inputs(tmp_path)
    out = tmp_path / "out"

    result = CliRunner().invoke(main, [
        "sign", "--pkcs12", str(dev_pki.pkcs12_path("maire")), "--passphrase-env", "PKI_PASS",
        "--stamp-quality", "Le Maire", "--out", str(out), *map(str, files)],
        env={"PKI_PASS": dev_pki.passphrase})

    assert result.exit_code == 0, result.output
    assert "2 signé(s), 0 échec(s)." in result.output
    for source in files:
        assert f"signé   {source}" in result.output
        assert_pdfsig_valid(pdfsig, (out / source.name).read_bytes(), tmp_path, 1)


def test_a_failed_file_exits_1_and_the_others_are_signed(dev_pki, tmp_path):
    files = _inputs(tmp_path)
    broken = tmp_path / "in" / "broken.pdf"
    broken.write_bytes(b"%PDF-1.7 nothing else")
    out = tmp_path / "out"

    result = CliRunner().invoke(main, [
        "sign", "--pkcs12", str(dev_pki.pkcs12_path("maire")), "--passphrase-env", "PKI_PASS",
        "--out", str(out), str(files[0]), str(broken), str(files[1])],
        env={"PKI_PASS": dev_pki.passphrase})

    assert result.exit_code == 1
    assert f"ÉCHEC   {broken} : " in result.output
    assert sorted(p.name for p in out.iterdir()) == sorted(f.name for f in files)
    assert broken.read_bytes() == b"%PDF-1.7 nothing else"


def test_sign_b_lta_with_tsa_and_trust(dev_pki, pki_server, tmp_path):
    (source,) = _inputs(tmp_path, 1)
    out = tmp_path / "out"

    result = CliRunner().invoke(main, [
        "sign", "--pkcs12", str(dev_pki.pkcs12_path("maire")), "--passphrase-env", "PKI_PASS",
        "--level", "B-LTA", "--tsa", pki_server.tsa_url, "--trust",
        str(dev_pki.ca_certificate_path), "--out", str(out), str(source)],
        env={"PKI_PASS": dev_pki.passphrase})

    assert result.exit_code == 0, result.output
    statuses = pyhanko_statuses((out / source.name).read_bytes(), dev_pki.ca_certificate_path)
    assert len(statuses) == 2 and statuses[0].bottom_line


def test_sign_with_a_pkcs11_token(softhsm_token, dev_pki, tmp_path, pdfsig):
    (source,) = _inputs(tmp_path, 1)
    out = tmp_path / "out"

    result = CliRunner().invoke(main, [
        "sign", "--pkcs11-module", softhsm_token.module, "--token-label",
        softhsm_token.token_label, "--key-label", "seal", "--pin-env", "TOKEN_PIN",
        "--out", str(out), str(source)], env={"TOKEN_PIN": softhsm_token.pin})

    assert result.exit_code == 0, result.output
    assert_pdfsig_valid(pdfsig, (out / source.name).read_bytes(), tmp_path, 1)


def test_wrong_passphrase_is_one_clear_line(dev_pki, tmp_path):
    (source,) = _inputs(tmp_path, 1)

    result = CliRunner().invoke(main, [
        "sign", "--pkcs12", str(dev_pki.pkcs12_path("maire")), "--passphrase-env", "PKI_PASS",
        "--out", str(tmp_path / "out"), str(source)], env={"PKI_PASS": "wrong"})

    assert result.exit_code == 1
    assert "Mot de passe ou code PIN incorrect" in result.output
    assert "Traceback" not in result.output


def test_missing_passphrase_variable_is_a_usage_error(dev_pki, tmp_path):
    (source,) = _inputs(tmp_path, 1)

    result = CliRunner().invoke(main, [
        "sign", "--pkcs12", str(dev_pki.pkcs12_path("maire")), "--passphrase-env",
        "NO_SUCH_VARIABLE_HERE", "--out", str(tmp_path / "out"), str(source)])

    assert result.exit_code == 2
    assert "NO_SUCH_VARIABLE_HERE" in result.output


def test_key_choice_is_required(tmp_path):
    (source,) = _inputs(tmp_path, 1)

    result = CliRunner().invoke(main, ["sign", "--out", str(tmp_path / "o"), str(source)])

    assert result.exit_code == 2
    assert "--pkcs12" in result.output


def test_pki_init_then_serve(tmp_path):
    port = free_loopback_port()
    directory = tmp_path / "pki"

    result = CliRunner().invoke(main, [
        "pki", "init", str(directory), "--organisation", "Commune de Test", "--person",
        "maire:Anne Roux:Maire", "--port", str(port)], env={"PARAPHEUR_PKI_PASSPHRASE": "pw"})

    assert result.exit_code == 0, result.output
    pki = DevPki.load(directory)
    assert pki.pkcs12_path("maire").is_file() and pki.seal_pkcs12_path.is_file()
    assert pki.port == port
    server = subprocess.Popen([sys.executable, "-m", "parapheur", "pki", "serve", str(directory)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for _ in range(200):
            try:
                with urllib.request.urlopen(pki.crl_url, timeout=1) as answer:
                    assert answer.status == 200
                    assert answer.headers["Content-Type"] == "application/pkix-crl"
                    break
            except OSError:
                assert server.poll() is None, server.stderr.read().decode()
                time.sleep(0.05)  # waiting for a child process to listen
        else:
            raise AssertionError("pki serve did not answer")
    finally:
        server.terminate()
        server.wait(timeout=10)
