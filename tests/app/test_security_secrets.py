"""Secrets stay secret: never in a repr or a traceback, key and database files private."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import traceback

import pytest

from signing.errors import SigningError
from signing.keys import KeySpec, open_key

SECRET = "s3cret-PIN-4242"


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_key_spec_never_shows_its_pin_or_passphrase():
    for spec in (KeySpec(kind="pkcs11", module="/nowhere.so", token_label="t", key_label="k",
                         pin=SECRET),
                 KeySpec(kind="pkcs12", path="/nowhere.p12", passphrase=SECRET)):
        assert SECRET not in repr(spec)
        assert SECRET not in repr(spec.pin) + repr(spec.passphrase)
        assert SECRET not in str([spec]) + f"{spec!r}"


@pytest.mark.parametrize("kind", ["pkcs12", "pkcs11"])
def test_a_failed_opening_leaks_the_secret_nowhere_in_its_traceback(demo_pki, kind):
    people = sorted((demo_pki.directory / "people").glob("*.p12"))
    spec = (KeySpec(kind="pkcs12", path=people[0], passphrase=SECRET) if kind == "pkcs12"
            else KeySpec(kind="pkcs11", module="/nonexistent/libpkcs11.so", token_label="carte",
                         key_label="signature", pin=SECRET))
    with pytest.raises(SigningError) as caught:
        open_key(spec)
    # Even a traceback printed with every frame's local variables (as error reporters do).
    text = "".join(traceback.TracebackException.from_exception(
        caught.value, capture_locals=True).format())
    assert SECRET not in text and SECRET not in caught.value.message


def test_demo_keys_are_private_files(demo_pki):
    files = [*demo_pki.directory.glob("**/*.p12")]
    assert files
    assert {path.name: _mode(path) for path in files} == {path.name: 0o600 for path in files}


@pytest.mark.slow  # a real process: the modes the operating system gives
def test_the_database_file_and_the_data_directory_are_private(tmp_path):
    data = tmp_path / "data"
    environment = {**os.environ, "PARAPHEUR_DATA_DIR": str(data)}
    environment.pop("PARAPHEUR_DATABASE_URL", None)
    result = subprocess.run([sys.executable, "-m", "parapheur", "db", "upgrade"],
                            capture_output=True, text=True, env=environment)
    assert result.returncode == 0, result.stderr
    assert _mode(data) == 0o700
    database = data / "parapheur.sqlite3"
    assert _mode(database) == 0o600
    assert all(_mode(path) & 0o077 == 0 for path in data.iterdir())
