"""A database alias is spelled once, in breederhq/databases.py; everywhere else it is a constant.

`using="marketplace"` and `connections["default"]` work until the day an alias changes or is mistyped
(`using="marketplce"` fails only when that line runs). So code names a database by `TENANT_DB`,
`MARKETPLACE_DB` or `MARKETPLACE_REPLICA_DB`, and this test reads every Python source (the ast, so
comments, docstrings and f-strings do not count) and names each alias literal in an alias position:

- a keyword whose name says alias: `using=`, `database=`, `databases=`, `target_db=`, `alias=`,
  `applies_in=`, ... (`outbox_relay_message(source=)` too), alone or in a set, list or tuple;
- the argument of `.using()` / `.db_manager()`, or of `"--database"` in a command;
- a subscript of `connections`, `DATABASES` or a name that says alias, and the keys of a dict keyed by
  both aliases (`{"default": ..., "marketplace": ...}`);
- a value assigned to, defaulted for or compared with a name that says alias (`DB = ...`,
  `using: str = ...`, `x._state.db == ...`, `router.db_for_read(m) == ...`), element by element in a
  tuple compared with a tuple; a loop over aliases (`for alias in (...)`), a row of one
  (`for alias, label in ((..., "tenant"), ...)`); a parametrized alias (`parametrize("using", [...])`);
  the return of a function named like an alias (`db_for_read`, `..._alias`).

"marketplace" as a URL namespace, app label, invoice kind, tag or text is none of these. Migrations keep
their literals (they are history). The codemod that rewrote the code applies the same rules.
"""

import ast
import re
from pathlib import Path

import pytest

from breederhq.databases import MARKETPLACE_DB, MARKETPLACE_REPLICA_DB, TENANT_DB

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("breederhq", "tenant_app", "marketplace_app", "payments_app", "config", "demo", "tests", "bench")
HOME = ROOT / "breederhq" / "databases.py"
CONSTANT_OF = {
    TENANT_DB: "TENANT_DB",
    MARKETPLACE_DB: "MARKETPLACE_DB",
    MARKETPLACE_REPLICA_DB: "MARKETPLACE_REPLICA_DB",
}
BOTH = {TENANT_DB, MARKETPLACE_DB}

ALIAS_NAME = re.compile(
    r"^_*(using|db|dbs|database|databases|alias|aliases|mirror|applies_in"
    r"|[a-z0-9_]*_(db|dbs|alias|aliases|database|databases))$",
    re.IGNORECASE,
)
ALIAS_FUNCTION = re.compile(r"^(db_for_read|db_for_write|database_for_[a-z_]+|[a-z_]*_alias|[a-z_]*_db|using)$")
ALIAS_RETURNING = re.compile(r"^_*(db_for_read|db_for_write|[a-z_]*_alias|[a-z_]*_database|[a-z_]*_db)$")
FIRST_ARGUMENT_IS_ALIAS = {"using", "db_manager"}
CALLEE_KEYWORDS = {("outbox_relay_message", "source")}


def _name(node) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Call):
        return _name(node.func)
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
        return node.slice.value
    return None


def _says_alias(name) -> bool:
    return bool(name) and bool(ALIAS_NAME.match(name))


def _alias_expression(node) -> bool:
    if isinstance(node, (ast.Name, ast.Attribute)):
        return _says_alias(_name(node))
    return isinstance(node, ast.Call) and bool(ALIAS_FUNCTION.match(_name(node.func) or ""))


def _is_alias_literal(node) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in CONSTANT_OF


class _Positions:
    def __init__(self, tree: ast.AST):
        self.parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}

    def _function(self, node):
        while node in self.parents:
            node = self.parents[node]
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                return node
        return None

    def _by_position(self, node) -> bool:
        """Inside a tuple, where the tuple's position says alias (a compared tuple, a loop's rows)."""
        parent = self.parents.get(node)
        if isinstance(parent, (ast.Call, ast.List, ast.Tuple)):
            sequence = parent.args if isinstance(parent, ast.Call) else parent.elts
            if (
                node in sequence
                and sequence.index(node)
                and getattr(sequence[sequence.index(node) - 1], "value", None) == "--database"
            ):
                return True
        row = parent
        if not isinstance(row, ast.Tuple) or node not in row.elts:
            return self._parametrized(node)
        index, holder = row.elts.index(node), self.parents.get(row)
        if isinstance(holder, ast.Compare):
            return any(
                other is not row
                and isinstance(other, ast.Tuple)
                and len(other.elts) == len(row.elts)
                and _alias_expression(other.elts[index])
                for other in [holder.left, *holder.comparators]
            )
        loop = self.parents.get(holder)
        if isinstance(holder, (ast.Tuple, ast.List)) and isinstance(loop, (ast.For, ast.comprehension)):
            target = loop.target
            if loop.iter is holder and isinstance(target, ast.Tuple) and len(target.elts) == len(row.elts):
                return _says_alias(_name(target.elts[index]))
        return self._parametrized(node)

    def _parametrized(self, node) -> bool:
        path, current = [node], node
        while current in self.parents and not isinstance(current, ast.Call):
            current = self.parents[current]
            path.append(current)
        if not (isinstance(current, ast.Call) and _name(current.func) == "parametrize" and len(current.args) > 1):
            return False
        names = current.args[0].value.split(",") if isinstance(current.args[0], ast.Constant) else []
        if len(path) < 3 or path[-2] is not current.args[1]:
            return False
        row = path[-3]
        if len(names) == 1:
            return row is node and _says_alias(names[0].strip())
        if isinstance(row, ast.Tuple) and node in row.elts and row.elts.index(node) < len(names):
            return _says_alias(names[row.elts.index(node)].strip())
        return False

    def is_alias(self, node) -> bool:
        if self._by_position(node):
            return True
        current, parent = node, self.parents.get(node)
        while isinstance(parent, (ast.IfExp, ast.BoolOp, ast.Tuple, ast.List, ast.Set, ast.Starred)):
            if isinstance(parent, ast.IfExp) and current is parent.test:
                break
            if isinstance(parent, (ast.Tuple, ast.List, ast.Set)):
                if any(isinstance(e, ast.Constant) and not _is_alias_literal(e) for e in parent.elts):
                    return False
            current, parent = parent, self.parents.get(parent)
        if isinstance(parent, ast.keyword):
            call = self.parents.get(parent)
            return _says_alias(parent.arg) or (_name(getattr(call, "func", None)), parent.arg) in CALLEE_KEYWORDS
        if isinstance(parent, ast.Call):
            return current in parent.args[:1] and _name(parent.func) in FIRST_ARGUMENT_IS_ALIAS
        if isinstance(parent, ast.Subscript) and current is parent.slice:
            base = _name(parent.value)
            return base in ("connections", "DATABASES") or _says_alias(base)
        if isinstance(parent, (ast.Assign, ast.AnnAssign)) and current is parent.value:
            targets = parent.targets if isinstance(parent, ast.Assign) else [parent.target]
            return any(_says_alias(_name(t)) for t in targets)
        if isinstance(parent, ast.arguments):
            positional = parent.posonlyargs + parent.args
            if current in parent.defaults:
                return _says_alias(
                    positional[len(positional) - len(parent.defaults) + parent.defaults.index(current)].arg
                )
            if current in parent.kw_defaults:
                return _says_alias(parent.kwonlyargs[parent.kw_defaults.index(current)].arg)
            return False
        if isinstance(parent, ast.Compare):
            return any(
                other is not current and _alias_expression(other) for other in [parent.left, *parent.comparators]
            )
        if isinstance(parent, (ast.For, ast.AsyncFor, ast.comprehension)) and current is parent.iter:
            return current is not node and _says_alias(_name(parent.target))
        if isinstance(parent, ast.Return):
            function = self._function(parent)
            return function is not None and bool(ALIAS_RETURNING.match(function.name))
        if isinstance(parent, ast.Dict):
            if current in parent.values:
                key = parent.keys[parent.values.index(current)]
                return isinstance(key, ast.Constant) and isinstance(key.value, str) and _says_alias(key.value)
            keys = {getattr(k, "value", None) for k in parent.keys}
            return current is node and BOTH <= keys <= set(CONSTANT_OF)
        return False


def offences(source: str, where: str) -> list[str]:
    """`file:line: "marketplace" -> MARKETPLACE_DB` for each alias literal in an alias position."""
    tree = ast.parse(source)
    positions = _Positions(tree)
    found = [
        node
        for node in ast.walk(tree)
        if _is_alias_literal(node)
        and not isinstance(positions.parents.get(node), ast.JoinedStr)
        and positions.is_alias(node)
    ]
    found.sort(key=lambda node: (node.lineno, node.col_offset))
    return [f"{where}:{node.lineno}: {node.value!r} -> {CONSTANT_OF[node.value]}" for node in found]


def _sources():
    for folder in SOURCES:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if "migrations" not in path.parts and path != HOME:
                yield path


def test_no_database_alias_is_spelled_as_a_string():
    found = [o for path in _sources() for o in offences(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))]
    assert found == [], "use the constants of breederhq/databases.py:\n" + "\n".join(found)


def _quote(alias: str) -> str:
    return repr(alias)


D, M = _quote(TENANT_DB), _quote(MARKETPLACE_DB)


@pytest.mark.parametrize(
    "source",
    [
        f"Invoice.objects.using({M}).get(pk=1)",
        f"transaction.atomic(using={D})",
        f"transaction.on_commit(send, using={M})",
        f"connections[{D}].cursor()",
        f"settings.DATABASES[{M}]['NAME']",
        f"pytestmark = pytest.mark.django_db(databases={{{D}, {M}}})",
        f"class T(TestCase):\n    databases = [{D}, {M}]",
        f"call_command('migrate', database={M})",
        f"manage('migrate', '--database', {D})",
        f"DB = {M}",
        f"def f(*, using: str = {D}): pass",
        f"assert obj._state.db == {D}",
        f"assert router.db_for_write(User) == {D}",
        f"assert (ref.target_db, ref.target_id) == ({M}, 3)",
        f"for alias in ({D}, {M}): pass",
        f"for alias, label in (({D}, 'tenant'), ({M}, 'marketplace')): pass",
        f"@pytest.mark.parametrize('using', [{D}, {M}])\ndef test(using): pass",
        f"class Router:\n    def db_for_read(self, model):\n        return {M}",
        f"PROXIES = {{{D}: A, {M}: B}}",
        f"outbox_relay_message(source={D}, message_pk=1)",
    ],
)
def test_the_guard_finds_an_alias_literal(source):
    assert len(offences(source, "probe.py")) >= 1


@pytest.mark.parametrize(
    "source",
    [
        "Invoice.objects.using(MARKETPLACE_DB).get(pk=1)",
        "reverse('marketplace:listing-detail', args=[1])",  # a URL namespace
        f"Transaction(invoice_type={M})",  # an invoice kind
        f"documents(tags=[{M}])",
        f"kwargs.setdefault({D}, 0)",
        f"CACHES[{D}]['KEY_PREFIX']",
        f"for db in ('tenant', {M}): pass",  # labels, not aliases
        f"assert kind == {M}",
        "name = f'{prefix}.marketplace'",
        f"# using={M} in a comment\nx = 1",
        f"@pytest.mark.parametrize('kind', ['tenant', {M}])\ndef test(kind): pass",
    ],
)
def test_the_guard_leaves_other_uses_of_the_words(source):
    assert offences(source, "probe.py") == []
