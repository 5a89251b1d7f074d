"""What `make run` does, command by command, on an empty data directory."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar

import pytest
from app_helpers import csrf_from

from signing.pki_server import free_loopback_port


def _env(tmp_path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARAPHEUR_")}
    env["PARAPHEUR_DATA_DIR"] = str(tmp_path / "var")
    env["PARAPHEUR_DEMO_PKI_PORT"] = str(free_loopback_port())
    return env


def _run(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "parapheur", *args], capture_output=True,
                          text=True, env=env, timeout=180)


def test_migrate_seed_twice_and_serve_the_login_page(tmp_path):
    env = _env(tmp_path)
    assert _run(env, "db", "upgrade").returncode == 0
    first = _run(env, "demo", "seed", "--if-empty")
    assert first.returncode == 0, first.stderr
    assert "Démo créée" in first.stdout
    assert "maire" in first.stdout and "demo-maire" in first.stdout
    second = _run(env, "demo", "seed", "--if-empty")
    assert second.returncode == 0, second.stderr
    assert "Données existantes conservées" in second.stdout
    assert (tmp_path / "var" / "parapheur.sqlite3").exists()
    assert (tmp_path / "var" / "demo-pki").is_dir()
    assert _run(env, "audit", "verify").returncode == 0

    port = free_loopback_port()
    server = subprocess.Popen([sys.executable, "-m", "parapheur", "serve", "--port", str(port)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        body = None
        deadline = time.monotonic() + 120  # a loaded 2-core machine starts Python slowly
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=2) as resp:
                    body = resp.read().decode()
                    break
            except OSError:
                if server.poll() is not None:
                    pytest.fail(server.stdout.read().decode())
                time.sleep(0.1)
        assert body is not None and "Connexion" in body and "Métropole de Démo" in body
        _visa_and_sign_over_http(f"http://127.0.0.1:{port}")
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_unknown_document_export_is_a_clear_error(tmp_path):
    env = _env(tmp_path)
    assert _run(env, "db", "upgrade").returncode == 0
    result = _run(env, "audit", "export", "999", "--out", str(tmp_path / "x.zip"))
    assert result.returncode == 1
    assert "n'existe pas" in result.stderr
    assert "Traceback" not in result.stderr


def _visa_and_sign_over_http(base: str) -> None:
    """The demo's third délibération is at the Maire's signature (B-LT, demo TSA and OCSP)."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))

    def get(path: str) -> str:
        with opener.open(base + path, timeout=30) as answer:
            return answer.read().decode()

    def post(path: str, fields: dict[str, str]) -> str:
        data = urllib.parse.urlencode(fields).encode()
        with opener.open(base + path, data=data, timeout=60) as answer:
            return answer.read().decode()

    post("/login", {"username": "maire", "password": "demo-maire",
                    "csrf_token": csrf_from(get("/login"))})
    page = get("/documents/3")
    result = post("/documents/3/steps/signature_maire/sign",
                  {"csrf_token": csrf_from(page), "passphrase": "1234"})
    assert "est signé" in result
    with opener.open(base + "/documents/3/versions/2/file", timeout=30) as answer:
        assert b"/ETSI.CAdES.detached" in answer.read()
