"""The layout rules the design card sets, checked so that they stay true."""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_test_modules_have_unique_basenames():
    # pytest's default (prepend) import mode imports test modules by basename.
    names = Counter(p.name for p in (ROOT / "tests").rglob("test_*.py"))
    assert [n for n, count in names.items() if count > 1] == []


def test_signing_layer_imports_neither_flask_nor_the_database_nor_the_app():
    forbidden = ("flask", "sqlalchemy", "alembic", "parapheur")
    offenders = []
    for path in (ROOT / "signing").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names
                          if n.split(".")[0] in forbidden]
    assert offenders == []


def test_readme_shows_the_two_set_up_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make run" in readme and "make test" in readme


def test_every_command_is_documented_in_the_readme():
    import click

    from parapheur.cli import COMMANDS, main

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    context = click.Context(main)
    missing = []
    for name in COMMANDS:
        command = main.get_command(context, name)
        names = [name]
        if isinstance(command, click.Group):
            names = [f"{name} {sub}" for sub in command.list_commands(context)]
        missing += [n for n in names if f"parapheur {n}" not in readme]
    assert missing == []
