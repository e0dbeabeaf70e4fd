"""docs/errors.md lists exactly the error codes the service's own code can put in front of a caller.

The codes are read from the source of shared/ (ast, nothing is run), wherever a code is made:

- the value of a `"code"` key in a dict literal (`{"code": "Timeout", "message": ...}`);
- an argument bound to a parameter named `code` of a function or class defined in shared/ (our
  `StorageError` types take it first, `warn` too), or to a `str` parameter named `error` (the
  code of a batch report line).

A value counts when it is a string literal, a branch of a conditional, a local variable given
such values in the same function, `mapping.get(key, default)` of a local dict, or a call of a
function of the same module, by what it returns. An f-string reads as its pattern
(`f"Http{status}"` is `Http<status>`). Anything else (`exc.code`, `type(exc).__name__`) carries a
code that storage or azure-core chose: docs/errors.md documents those in its own section, and
every Azure code shared/errors.py classifies must be there.

A new code therefore fails `test_every_code_the_code_makes_is_documented` until the table has its
row, and a row whose code is gone fails `test_every_documented_code_is_still_made`.
"""

from __future__ import annotations

import ast
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from shared import errors

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "errors.md"
OURS_HEADING = "## The service's own codes"
AZURE_HEADING = "## Codes that come from Azure"
#: How deep a value is followed through variables and calls (a cycle must end).
MAX_DEPTH = 6
CODE_SHAPE = re.compile(r"^[A-Z][A-Za-z0-9]*(?:<[a-z_]+>)?$")
STR_ANNOTATIONS = {"str", "str|None", "Optional[str]"}

Function = ast.FunctionDef | ast.AsyncFunctionDef


@dataclass
class Sinks:
    """Which call arguments carry a code: callee name -> positions, and keyword names."""

    positions: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    keywords: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))

    def add(self, name: str, function: Function) -> None:
        """Record the code parameters of `function`, called as `name`."""
        args = function.args.posonlyargs + function.args.args
        if args and args[0].arg in ("self", "cls"):
            args = args[1:]
        for index, arg in enumerate(args + function.args.kwonlyargs):
            if carries_code(arg):
                if index < len(args):
                    self.positions[name].add(index)
                self.keywords[name].add(arg.arg)

    def arguments(self, call: ast.Call) -> Iterator[ast.expr]:
        """The arguments of `call` that are bound to a code parameter."""
        name = callee(call)
        if name is None:
            return
        for index in self.positions.get(name, ()):
            if index < len(call.args) and not isinstance(call.args[index], ast.Starred):
                yield call.args[index]
        for keyword in call.keywords:
            if keyword.arg in self.keywords.get(name, ()):
                yield keyword.value


def carries_code(arg: ast.arg) -> bool:
    """`code`, or a plain string named `error` (an `Error` dict is not a code)."""
    if arg.arg == "code":
        return True
    annotation = ast.unparse(arg.annotation).replace(" ", "") if arg.annotation else ""
    return arg.arg == "error" and annotation in STR_ANNOTATIONS


def callee(call: ast.Call) -> str | None:
    """The called name: `f(...)`, `obj.f(...)`, `self.f(...)` all give `f`."""
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def find_sinks(trees: Iterable[ast.Module]) -> Sinks:
    """Every function with a code parameter, and every class whose constructor has one (our
    error classes inherit StorageError's `__init__(code, message)`)."""
    sinks = Sinks()
    bases: dict[str, list[str]] = {}
    inits: dict[str, Function] = {}
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, Function) and node.name != "__init__":  # called by class name
                sinks.add(node.name, node)
            if isinstance(node, ast.ClassDef):
                bases[node.name] = [b.id for b in node.bases if isinstance(b, ast.Name)]
                own = [n for n in node.body if isinstance(n, Function) and n.name == "__init__"]
                if own:
                    inits[node.name] = own[0]
    for name in bases:
        init = constructor(name, bases, inits)
        if init is not None:
            sinks.add(name, init)
    return sinks


def constructor(
    name: str, bases: dict[str, list[str]], inits: dict[str, Function]
) -> Function | None:
    """The `__init__` a class of shared/ runs: its own, or the nearest base's."""
    todo, seen = [name], set()
    while todo:
        current = todo.pop(0)
        if current in inits:
            return inits[current]
        seen.add(current)
        todo += [b for b in bases.get(current, []) if b not in seen]
    return None


class Module:
    """One source file: its tree, who encloses what, its functions by name."""

    def __init__(self, path: Path, source: str | None = None) -> None:
        self.path = path
        self.tree = ast.parse(path.read_text(encoding="utf-8") if source is None else source)
        self.parent: dict[ast.AST, ast.AST] = {
            child: node for node in ast.walk(self.tree) for child in ast.iter_child_nodes(node)
        }
        self.functions: dict[str, list[Function]] = defaultdict(list)
        for node in ast.walk(self.tree):
            if isinstance(node, Function):
                self.functions[node.name].append(node)

    def scope(self, node: ast.AST) -> ast.AST:
        """The function around `node`, or the module."""
        while node in self.parent:
            node = self.parent[node]
            if isinstance(node, Function):
                return node
        return self.tree

    def assigned(self, name: str, scope: ast.AST) -> list[ast.expr]:
        """Every value given to the variable `name` in `scope` (tuple assignments too)."""
        found: list[ast.expr] = []
        for node in ast.walk(scope):
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    found += bound(target, node.value, name)
            elif isinstance(node, ast.AnnAssign) and node.value is not None:
                found += bound(node.target, node.value, name)
        return found

    def returned(self, name: str) -> list[ast.expr]:
        """What the functions of this module called `name` return."""
        return [
            node.value
            for function in self.functions.get(name, [])
            for node in ast.walk(function)
            if isinstance(node, ast.Return) and node.value is not None
        ]

    def values(self, expr: ast.expr, depth: int = 0) -> set[str]:
        """The codes an expression can evaluate to, as far as the source says."""
        if depth > MAX_DEPTH:
            return set()
        deeper = depth + 1
        if isinstance(expr, ast.Constant):
            return {expr.value} if isinstance(expr.value, str) else set()
        if isinstance(expr, ast.JoinedStr):
            return {pattern(expr)}
        if isinstance(expr, ast.IfExp):
            return self.values(expr.body, deeper) | self.values(expr.orelse, deeper)
        if isinstance(expr, ast.BoolOp):
            return set().union(*(self.values(v, deeper) for v in expr.values))
        if isinstance(expr, ast.Name):
            given = self.assigned(expr.id, self.scope(expr))
            return set().union(*(self.values(v, deeper) for v in given))
        if isinstance(expr, ast.Call):
            return self.call_values(expr, deeper)
        return set()

    def call_values(self, call: ast.Call, depth: int) -> set[str]:
        """`table.get(key, default)` of a local dict, or a function of this module."""
        name = callee(call)
        if name == "get" and isinstance(call.func, ast.Attribute):
            found = {v for d in self.dicts(call.func.value) for v in self.dict_values(d, depth)}
            defaults = call.args[1:2]
            return found | set().union(*(self.values(v, depth) for v in defaults))
        if name in self.functions and isinstance(call.func, ast.Name | ast.Attribute):
            return set().union(*(self.values(v, depth) for v in self.returned(name)))
        return set()

    def dicts(self, expr: ast.expr) -> list[ast.Dict]:
        """The dict literal an expression is, or that its variable was given."""
        if isinstance(expr, ast.Dict):
            return [expr]
        if isinstance(expr, ast.Name):
            given = self.assigned(expr.id, self.scope(expr))
            return [v for v in given if isinstance(v, ast.Dict)]
        return []

    def dict_values(self, table: ast.Dict, depth: int) -> set[str]:
        return set().union(*(self.values(v, depth) for v in table.values))


def bound(target: ast.expr, value: ast.expr, name: str) -> list[ast.expr]:
    """The part of `value` that an assignment to `target` gives the variable `name`."""
    if isinstance(target, ast.Name):
        return [value] if target.id == name else []
    if not (isinstance(target, ast.Tuple) and isinstance(value, ast.Tuple)):
        return []
    if len(target.elts) != len(value.elts):
        return []
    pairs = zip(target.elts, value.elts, strict=True)
    return [v for t, e in pairs for v in bound(t, e, name)]


def pattern(text: ast.JoinedStr) -> str:
    """An f-string as the shape of what it gives: `f"Http{status}"` is `Http<status>`."""
    parts = []
    for part in text.values:
        if isinstance(part, ast.Constant):
            parts.append(str(part.value))
        elif isinstance(part, ast.FormattedValue):
            inner = part.value
            parts.append(f"<{inner.id if isinstance(inner, ast.Name) else 'value'}>")
    return "".join(parts)


def codes_made(modules: list[Module]) -> dict[str, set[str]]:
    """Every code the modules make -> where (`file:line`)."""
    sinks = find_sinks(m.tree for m in modules)
    found: dict[str, set[str]] = defaultdict(set)
    for module in modules:
        for node in ast.walk(module.tree):
            for expr in code_expressions(node, sinks):
                for code in module.values(expr):
                    found[code].add(f"{module.path.name}:{expr.lineno}")
    return dict(found)


def code_expressions(node: ast.AST, sinks: Sinks) -> Iterator[ast.expr]:
    """The expressions of `node` that hold a code: a `"code"` value, a code argument."""
    if isinstance(node, ast.Dict):
        for key, value in zip(node.keys, node.values, strict=True):
            if isinstance(key, ast.Constant) and key.value == "code":
                yield value
    if isinstance(node, ast.Call):
        yield from sinks.arguments(node)


def service_modules() -> list[Module]:
    """The service's code: every module of shared/ (devhost, the CLI and tests make none)."""
    return [Module(path) for path in sorted((ROOT / "shared").glob("*.py"))]


def table_codes(heading: str) -> set[str]:
    """The codes in the first column of the table under `heading` in docs/errors.md."""
    text = DOC.read_text(encoding="utf-8")
    assert heading in text, f"docs/errors.md has no section {heading!r}"
    section = text.split(heading, 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return {code for row in rows for code in re.findall(r"`([^`]+)`", row.split("|")[1])}


@pytest.fixture(scope="module")
def made() -> dict[str, set[str]]:
    """Every code shared/ makes, with where."""
    return codes_made(service_modules())


def test_every_code_the_code_makes_is_documented(made: dict[str, set[str]]) -> None:
    """A code shared/ can emit has a row in docs/errors.md (code, when, what to do)."""
    missing = {c: sorted(w) for c, w in made.items() if c not in table_codes(OURS_HEADING)}
    assert missing == {}, f"add a row to {OURS_HEADING!r} of docs/errors.md for each: {missing}"


def test_every_documented_code_is_still_made(made: dict[str, set[str]]) -> None:
    """A row of docs/errors.md names a code that shared/ still emits."""
    stale = sorted(table_codes(OURS_HEADING) - set(made))
    assert stale == [], f"docs/errors.md documents codes nothing emits any more: {stale}"


def test_codes_are_identifiers(made: dict[str, set[str]]) -> None:
    """Every code is one PascalCase word a caller can match on (never a word out of a
    message, like the `name` an SDK ValueError once gave)."""
    odd = {c: sorted(w) for c, w in made.items() if not CODE_SHAPE.match(c)}
    assert odd == {}


def test_azure_codes_the_service_classifies_are_documented() -> None:
    """Each Azure Storage code shared/errors.py treats specially is in the Azure section."""
    classified = set(errors._BY_CODE) | set(errors.TRANSIENT_CODES)
    assert sorted(classified - table_codes(AZURE_HEADING)) == []


def test_openapi_examples_are_real_codes() -> None:
    """The codes openapi.json names as examples are documented (ours or Azure's)."""
    spec = json.loads((ROOT / "openapi.json").read_text(encoding="utf-8"))
    known = table_codes(OURS_HEADING) | table_codes(AZURE_HEADING)
    named = set()
    for definition in ("CopyError", "ApiError", "Warning"):
        text = spec["definitions"][definition]["properties"]["code"]["description"]
        assert "docs/errors.md" in text, f"{definition}.code should point at docs/errors.md"
        named |= set(re.findall(r"\b[A-Z][a-z0-9]+(?:[A-Z][A-Za-z0-9]*)+\b", text))
    assert named and sorted(named - known) == []


SAMPLE = """
class StorageError(Exception):
    def __init__(self, code, message):
        super().__init__(f"[{code}] {message}")
class CopyFailed(StorageError): ...
TABLE = {400: "Bad"}
def rejected(status):
    code = {400: "InvalidRequest", 404: "NotFound"}
    return {"code": code.get(status, "Error")}
def verdict(x):
    if x:
        return "DestinationNewer"
    return None
def line(name, error: str | None): ...
def flow(exc, restore, status):
    raise CopyFailed("Replaced", "...")
    kind = "A" if restore else "B"
    self.warn(kind, None)
    line("n", verdict(1))
    line("n", error="Keyword")
    CopyFailed(f"Http{status}", "x")
    CopyFailed(exc.code, "passed through")
    record(code="Named")
    return {"other": "NotACode", "code": type(exc).__name__}
def warn(self, code, message): ...
def record(*, code): ...
"""


def test_the_collector_finds_every_shape() -> None:
    """The walk finds codes in each shape the service writes them, and nothing else."""
    module = Module(Path("sample.py"), SAMPLE)
    assert set(codes_made([module])) == {
        "InvalidRequest",
        "NotFound",
        "Error",
        "Replaced",
        "A",
        "B",
        "DestinationNewer",
        "Keyword",
        "Http<status>",
        "Named",
    }
