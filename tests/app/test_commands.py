"""CLI commands run in-process (Click's runner): clear errors and exit codes.

`make run`'s commands as real processes: tests/app/test_packaging.py."""

from __future__ import annotations

from app_helpers import run_cli


def test_unknown_document_export_is_a_clear_error(app, tmp_path):
    result = run_cli(app, "audit", "export", "999", "--out", str(tmp_path / "x.zip"))
    assert result.returncode == 1
    assert "n'existe pas" in result.stderr
    assert "Traceback" not in result.stderr
