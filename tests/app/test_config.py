"""Configuration comes from PARAPHEUR_* variables; a wrong value names the variable."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from parapheur.config import ConfigError, load_settings


@pytest.mark.parametrize("variable, value", [
    ("PARAPHEUR_MAX_UPLOAD_MB", "lots"),
    ("PARAPHEUR_MAX_UPLOAD_MB", "-3"),
    ("PARAPHEUR_DATABASE_URL", "mysql://x@y/z"),
    ("PARAPHEUR_SECURE_COOKIES", "peut-être"),
])
def test_a_wrong_value_names_the_variable(variable, value):
    with pytest.raises(ConfigError) as error:
        load_settings({variable: value})
    assert error.value.variable == variable
    assert variable in str(error.value)


def test_values_are_read_and_coerced(tmp_path):
    settings = load_settings({"PARAPHEUR_MAX_UPLOAD_MB": "7", "PARAPHEUR_DATA_DIR": str(tmp_path),
                              "PARAPHEUR_SECURE_COOKIES": "yes"})
    assert settings["MAX_UPLOAD_MB"] == 7
    assert settings["DATA_DIR"] == tmp_path
    assert settings["SESSION_COOKIE_SECURE"] is True


def test_cli_reports_a_bad_setting_without_traceback(tmp_path):
    env = {**os.environ, "PARAPHEUR_MAX_UPLOAD_MB": "beaucoup", "PARAPHEUR_DATA_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "parapheur", "db", "upgrade"],
                            capture_output=True, text=True, env=env)
    assert result.returncode == 2
    assert "PARAPHEUR_MAX_UPLOAD_MB" in result.stderr
    assert "Traceback" not in result.stderr


def test_every_setting_is_documented_in_the_readme():
    from parapheur.config import PROJECT_ROOT, SETTINGS

    readme = (PROJECT_ROOT / "README.md").read_text()
    for setting in SETTINGS:
        assert setting.variable in readme, setting.variable
