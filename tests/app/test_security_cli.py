"""Commands given broken inputs answer with a message and an exit code, never a traceback."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from parapheur.circuits.definition import MAX_DEADLINE_DAYS, MAX_DEADLINE_HOURS, Deadline
from parapheur.circuits.engine import due_date
from parapheur.config import PROJECT_ROOT

MEMORY_LIMIT = 1536 * 1024 * 1024  # far below what inflating the bomb below would take


def _parapheur(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))

    return subprocess.run([sys.executable, "-m", "parapheur", *args], capture_output=True,
                          text=True, cwd=cwd, preexec_fn=limit_memory,
                          env={**os.environ, "PARAPHEUR_DATA_DIR": str(cwd / "data")})


def _zip(path: Path, members: dict[str, bytes | str]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


@pytest.mark.parametrize("case, expected", [
    ("deep-json", "imbriquée trop profondément"),
    ("wrong-shapes", "le journal est vide ou sans chaîne d'empreintes"),
    ("zip-bomb", "archive suspecte"),
    ("not-a-zip", "archive illisible"),
])
def test_broken_bundles_get_a_message_and_exit_1(tmp_path, case, expected):
    path = tmp_path / f"{case}.zip"
    if case == "deep-json":
        _zip(path, {"manifest.json": "[" * 100_000 + "]" * 100_000, "journal.json": "{}"})
    elif case == "wrong-shapes":
        _zip(path, {"manifest.json": '{"files": 12}', "journal.json": '{"events": "x"}'})
    elif case == "zip-bomb":
        _zip(path, {"manifest.json": "{}", "journal.json": "{}",
                    "document.pdf": b"\0" * (128 * 1024 * 1024)})
        with zipfile.ZipFile(path) as archive:  # 128 MB from about 128 KB
            assert archive.getinfo("document.pdf").compress_size < 1024 * 1024
    else:
        path.write_bytes(b"PK\x03\x04 not really")
    result = _parapheur("verify", "--bundle", str(path), cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert expected in result.stdout + result.stderr


@pytest.mark.parametrize("deadline", ["999999999999d", f"{MAX_DEADLINE_DAYS + 1}d",
                                      f"{MAX_DEADLINE_HOURS + 1}h", "99999999999999999999h"])
def test_the_checker_refuses_deadlines_the_engine_cannot_run(tmp_path, deadline):
    source = (PROJECT_ROOT / "workflows" / "arrete.yaml").read_text()
    path = tmp_path / "arrete.yaml"
    path.write_text(source.replace("deadline: 3d", f"deadline: {deadline}", 1))
    (tmp_path / "desks.yaml").write_text((PROJECT_ROOT / "workflows" / "desks.yaml").read_text())
    for command in ("check", "graph"):
        result = _parapheur("workflows", command, str(path), cwd=tmp_path)
        assert result.returncode == 1, (command, result.stdout, result.stderr)
        assert "délai trop long" in result.stdout + result.stderr
        assert "Traceback" not in result.stdout + result.stderr


def test_the_longest_accepted_deadlines_are_computed():
    entered = datetime(2026, 12, 1, 9, tzinfo=UTC)
    assert due_date(Deadline(MAX_DEADLINE_DAYS, "d"), entered).year == 2027
    assert due_date(Deadline(MAX_DEADLINE_HOURS, "h"), entered).year == 2027
