"""The layout rules the design card sets, checked so that they stay true."""

from __future__ import annotations

import ast
from collections import Counter
from collections.abc import Iterator
from functools import cache
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


# --- the import graph ---------------------------------------------------------------------------

def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _statements(nodes: list) -> Iterator[ast.stmt]:
    """Every statement of a body, nested ones included (imports are statements: expressions,
    most of a tree, need not be walked)."""
    for node in nodes:
        yield node
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):
            children = getattr(node, field, None)
            if isinstance(children, list):
                yield from _statements(children)


def _type_checking_only(tree: ast.Module) -> set[int]:
    """Line numbers of imports under `if TYPE_CHECKING:` (never executed, so never a cycle)."""
    lines: set[int] = set()
    for node in _statements(tree.body):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for inner in _statements(node.body):
                if isinstance(inner, (ast.Import, ast.ImportFrom)):
                    lines.add(inner.lineno)
    return lines


@cache
def import_graph() -> dict[str, set[str]]:
    """Module → the project modules it imports, anywhere in it (function-level imports too)."""
    files = {_module_name(p): p for top in ("parapheur", "signing")
             for p in (ROOT / top).rglob("*.py") if "migrations" not in p.parts}
    graph: dict[str, set[str]] = {name: set() for name in files}

    def known(name: str) -> str | None:
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name or None

    for name, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skipped = _type_checking_only(tree)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in _statements(tree.body):
            if not isinstance(node, (ast.Import, ast.ImportFrom)) or node.lineno in skipped:
                continue
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, *([base] if base else [])])
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in files else base
                           for alias in node.names]
            for target in targets:
                resolved = known(target)
                if resolved is not None and resolved != name:
                    graph[name].add(resolved)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _is_view(module: str) -> bool:
    last = module.rpartition(".")[2]
    return last == "views" or last.endswith("_views")


def test_the_import_graph_sees_function_level_imports():
    graph = import_graph()
    # parapheur.web imports the blueprints inside init_app(): the graph must see it.
    assert "parapheur.documents.views" in graph["parapheur.web"]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycle_even_through_function_level_imports():
    assert _cycles(import_graph()) == []


def test_only_the_web_layer_imports_view_modules():
    offenders = sorted(f"{module} imports {target}"
                       for module, targets in import_graph().items()
                       if not _is_view(module) and module != "parapheur.web"
                       for target in targets if _is_view(target))
    assert offenders == []


# Web-layer modules that are not blueprints: the login session lives in Flask's cookie.
WEB_LAYER = {"parapheur.accounts.sessions"}


def test_services_take_what_they_need_instead_of_reading_the_flask_app():
    offenders = []
    for domain in ("accounts", "audit", "circuits", "documents", "signatures", "organisations",
                   "invoices", "accounting", "notifications", "outbox", "archival"):
        for path in (ROOT / "parapheur" / domain).rglob("*.py"):
            module = _module_name(path)
            if (_is_view(module) or module.endswith(".cli") or module in WEB_LAYER):
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            type_only = _type_checking_only(tree)  # a type hint is no dependency on the app
            for node in ast.walk(tree):
                names = []
                if getattr(node, "lineno", None) in type_only:
                    continue
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names = [node.module]
                offenders += [f"{module}: {n}" for n in names if n.split(".")[0] == "flask"]
    assert offenders == []
