"""The one end-to-end test with real processes: `make run`'s commands, run by an installed wheel.

The wheel is built and installed in a fresh venv outside the checkout; from an empty data directory
it migrates, seeds the demo, checks the shipped circuits, serves, and the maire logs in and signs
over HTTP. (A second `demo seed --if-empty` keeping the data: test_commands.py, in-process.)"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import time
import urllib.request
from pathlib import Path

import pytest
from app_helpers import sign_over_http

from signing.pki_server import free_loopback_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("parapheur", "signing", "templates", "workflows", "setup.py", "setup.cfg",
           "pyproject.toml", "README.md")


def _run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, **kwargs)
    assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv (outside the checkout) with only the wheel installed; its dependencies come
    from the test venv through a .pth file, so nothing is downloaded."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    source.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=ignore)
        else:
            shutil.copy2(ROOT / name, source / name)
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
          "-q", "-w", str(root / "dist"), str(source)])
    [wheel] = (root / "dist").glob("parapheur-*.whl")
    venv = root / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
          "--no-index", "-q", str(wheel)])
    purelib = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                   cwd=root).stdout.strip()
    # The test venv's packages, for the dependencies (its own editable parapheur is not on it:
    # .pth files of a directory added this way are not run).
    Path(purelib, "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return venv


def test_an_installed_wheel_migrates_seeds_serves_and_signs(installed, tmp_path):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PARAPHEUR_") and k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(PARAPHEUR_DATA_DIR=str(tmp_path / "var"),
               PARAPHEUR_DEMO_PKI_PORT=str(free_loopback_port()))
    command = str(installed / "bin" / "parapheur")
    where = _run([str(installed / "bin" / "python"), "-c",
                  "import parapheur; from parapheur.resources import shipped_dir; "
                  "print(parapheur.__file__); print(shipped_dir('templates')); "
                  "print(shipped_dir('workflows'))"], cwd=tmp_path, env=env).stdout.split()
    assert all(line.startswith(str(installed)) for line in where), where
    _run([command, "db", "upgrade"], cwd=tmp_path, env=env)
    first = _run([command, "demo", "seed", "--if-empty"], cwd=tmp_path, env=env).stdout
    assert "Démo créée" in first and "maire" in first and "demo-maire" in first
    assert (tmp_path / "var" / "parapheur.sqlite3").exists()
    assert (tmp_path / "var" / "demo-pki").is_dir()
    _run([command, "workflows", "check", *map(str, sorted(Path(where[2]).glob("*.yaml")))],
         cwd=tmp_path, env=env)
    port = free_loopback_port()
    server = subprocess.Popen([command, "serve", "--port", str(port)], cwd=tmp_path, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
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
        sign_over_http(f"http://127.0.0.1:{port}")
    finally:
        server.terminate()
        server.wait(timeout=60)  # serve stops its worker first (a loaded machine is slow)
