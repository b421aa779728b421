"""Every transaction and every after-commit hook in the application names its database.

With two databases, `transaction.atomic()` without `using=` opens a transaction on the default alias
only, so a write to the other database runs outside it and a failure half-applies; an
`on_commit(...)` without `using=` waits for the wrong database's commit and can fire before the data
it announces is visible, or never. The rule is easy to break by accident, so this test reads the
source (the ast, not text search, so comments and strings do not count) and names each offending call.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("breederhq", "tenant_app", "marketplace_app", "payments_app", "config", "demo")
NEEDS_USING = {"atomic", "on_commit"}


def _called_name(call: ast.Call) -> str | None:
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return None


def _imports_transaction_names(tree: ast.AST) -> set[str]:
    """The bare names bound to django.db.transaction's atomic/on_commit in this module."""
    bound = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "django.db.transaction":
            bound.update(alias.asname or alias.name for alias in node.names if alias.name in NEEDS_USING)
    return bound


def _offences(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
    bare = _imports_transaction_names(tree)
    found = []
    for node in ast.walk(tree):
        decorator_targets = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            decorator_targets = node.decorator_list
        for decorator in decorator_targets:
            # `@transaction.atomic` (not called) runs on the default alias.
            if isinstance(decorator, ast.Attribute) and decorator.attr == "atomic":
                found.append(f"{where}:{decorator.lineno} @transaction.atomic without using=")
            if isinstance(decorator, ast.Name) and decorator.id in bare and decorator.id == "atomic":
                found.append(f"{where}:{decorator.lineno} @atomic without using=")
        if not isinstance(node, ast.Call):
            continue
        name = _called_name(node)
        if name not in NEEDS_USING:
            continue
        func = node.func
        is_transaction_call = (
            isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "transaction"
        ) or (isinstance(func, ast.Name) and func.id in bare)
        if not is_transaction_call:
            continue
        if any(keyword.arg == "using" for keyword in node.keywords):
            continue
        if any(keyword.arg is None for keyword in node.keywords):
            continue  # **kwargs: the caller passes the alias through
        found.append(f"{where}:{node.lineno} {name}() without using=")
    return found


def _application_modules():
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            yield path


def test_every_transaction_and_on_commit_names_its_database():
    offences = [offence for path in _application_modules() for offence in _offences(path)]
    assert offences == [], "name the database with using=:\n" + "\n".join(offences)


@pytest.mark.parametrize(
    "source, expected",
    [
        ("from django.db import transaction\nwith transaction.atomic():\n    pass\n", 1),
        ("from django.db import transaction\nwith transaction.atomic(using='tenant'):\n    pass\n", 0),
        ("from django.db.transaction import on_commit\non_commit(print)\n", 1),
        ("from django.db.transaction import on_commit\non_commit(print, using='marketplace')\n", 0),
        ("from django.db import transaction\n@transaction.atomic\ndef f():\n    pass\n", 1),
        ("from django.db import transaction\ndef f(**kw):\n    transaction.atomic(**kw)\n", 0),
        ("class Lock:\n    def atomic(self):\n        pass\nLock().atomic()\n", 0),
    ],
)
def test_the_guard_itself(tmp_path, source, expected):
    path = tmp_path / "probe.py"
    path.write_text(source, encoding="utf-8")
    assert len(_offences(path)) == expected
