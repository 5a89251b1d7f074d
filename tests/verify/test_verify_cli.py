"""`parapheur verify` as auditors run it: exit codes, text and JSON output, worker processes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from parapheur.cli import main


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["verify", *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_whole_corpus_text_output(verify_corpus, trust_root):
    directory = next(iter(verify_corpus.values())).parent
    code, out, _ = run("--trust", str(trust_root), "--jobs", "1", str(directory))
    assert code == 1  # a tampered, an unsigned and unreadable files are in there
    for path in verify_corpus.values():
        assert str(path) in out
    assert "Résumé" in out
    assert "TOTAL-FAILED / HASH_FAILURE" in out
    assert "Aucune signature dans ce fichier." in out
    assert "Fichier PDF tronqué" in out
    assert "\x1b[" not in out  # no colours when not on a terminal


def test_json_output_one_object_per_file(verify_corpus, trust_root):
    code, out, _ = run("--trust", str(trust_root), "--format", "json", "--jobs", "1", *map(str, verify_corpus.values()))
    assert code == 1
    data = json.loads(out)
    assert [d["path"] for d in data] == [str(p) for p in verify_corpus.values()]
    by_name = {Path(d["path"]).name: d for d in data}
    assert by_name["altere.pdf"]["signatures"][0]["sub_indication"] == "HASH_FAILURE"
    assert by_name["valide-b-lta.pdf"]["signatures"][0]["level"] == "B-LTA"
    assert by_name["tronque.pdf"]["error"] and by_name["tronque.pdf"]["signatures"] == []
    assert by_name["sans-signature.pdf"]["error"] is None and by_name["sans-signature.pdf"]["signatures"] == []


@pytest.mark.parametrize(
    "names, expected",
    [
        (["valide-b-lt.pdf", "valide-b-lta.pdf", "deux-signatures.pdf"], 0),
        (["valide-b-lt.pdf", "valide-b-b.pdf"], 3),
        (["revoque.pdf", "racine-inconnue.pdf", "expire-sans-horodatage.pdf", "modifie-apres-signature.pdf"], 3),
        (["valide-b-lt.pdf", "altere.pdf"], 1),
        (["valide-b-lt.pdf", "sans-signature.pdf"], 1),
        (["valide-b-lt.pdf", "pas-un-pdf.pdf"], 1),
        (["valide-b-lt.pdf", "tronque.pdf"], 1),
        (["valide-b-lt.pdf", "chiffre.pdf"], 1),
    ],
)
def test_exit_codes(names, expected, verify_corpus, trust_root):
    code, _, _ = run("--trust", str(trust_root), "--jobs", "1", *(str(verify_corpus[n]) for n in names))
    assert code == expected


def test_online_turns_b_b_into_passed(verify_corpus, trust_root):
    args = ["--trust", str(trust_root), "--jobs", "1", str(verify_corpus["valide-b-b.pdf"])]
    assert run(*args)[0] == 3
    assert run("--online", *args)[0] == 0


def test_without_trust_nothing_passes_and_a_warning_says_why(verify_corpus):
    code, _, err = run("--jobs", "1", str(verify_corpus["valide-b-lt.pdf"]))
    assert code == 3
    assert "aucune ancre de confiance" in err


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "au moins un CHEMIN"),
        (["--trust", "/nonexistent/ca.pem", "."], "introuvable"),
        (["--format", "xml", "."], "xml"),
        (["--jobs", "0", "."], "0"),
        (["/nonexistent/file.pdf"], "does not exist"),
    ],
)
def test_usage_errors_exit_2(args, message):
    code, _, err = run(*args)
    assert code == 2
    assert message in err


def test_directory_without_pdf_is_a_usage_error(tmp_path, trust_root):
    (tmp_path / "notes.txt").write_text("rien")
    code, _, err = run("--trust", str(trust_root), str(tmp_path))
    assert code == 2 and "aucun fichier PDF" in err


def test_directories_are_recursed_for_pdfs_only(tmp_path, verify_corpus, trust_root):
    (tmp_path / "a" / "b").mkdir(parents=True)
    shutil.copy(verify_corpus["valide-b-lt.pdf"], tmp_path / "a" / "b" / "deep.PDF")
    shutil.copy(verify_corpus["pas-un-pdf.pdf"], tmp_path / "a" / "bordereau.txt")
    code, out, _ = run("--trust", str(trust_root), "--format", "json", str(tmp_path))
    assert code == 0
    assert [Path(d["path"]).name for d in json.loads(out)] == ["deep.PDF"]


def test_worker_processes_give_the_same_reports(verify_corpus, trust_root):
    """The installed entry point with two worker processes; reports match the in-process run."""
    exe = Path(sys.executable).parent / "parapheur"
    files = [str(p) for p in verify_corpus.values()]
    args = ["verify", "--trust", str(trust_root), "--format", "json", *files]
    proc = subprocess.run([str(exe), *args, "--jobs", "2"], capture_output=True, text=True, env=os.environ)
    assert proc.returncode == 1, proc.stderr
    parallel = json.loads(proc.stdout)
    _, out, _ = run("--trust", str(trust_root), "--format", "json", "--jobs", "1", *files)
    serial = json.loads(out)

    def verdicts(reports):
        return [
            (r["path"], r["error_code"], [(s["indication"], s["sub_indication"], s["level"]) for s in r["signatures"]])
            for r in reports
        ]

    assert verdicts(parallel) == verdicts(serial)
    assert "Traceback" not in proc.stderr
