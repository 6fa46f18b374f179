"""Compile the FHIRPath subset that R4 search-parameter expressions use into fast closures.

Indexing runs on every write, so each expression is parsed once and turned into nested
Python closures over plain JSON dicts; evaluating one is a handful of dict lookups. The subset
covers paths, `|`, `[n]`, `where()`, `exists()`, `empty()`, `not()`, `first()`, `last()`,
`as`/`is`/`ofType()`, `extension(url)`, `resolve() is Type`, `=`/`!=`, `and`/`or`, `%resource`
and `$this`: every expression in the R4 definitions. Anything else is a `FhirPathError` at
compile time, never at evaluation time.
https://hl7.org/fhirpath/N1/ (the R4 search expressions use a small part of it)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

Fn = Callable[[list[Any], Any], list[Any]]
PathFn = Callable[..., list[Any]]

# Datatype names that may follow a choice element's base name in JSON (`value` + `Quantity`).
TYPE_SUFFIXES = frozenset(
    ["Address", "Age", "Annotation", "Attachment", "Base64Binary", "Boolean", "Canonical", "Code", "CodeableConcept", "Coding", "ContactDetail", "ContactPoint", "Contributor", "Count", "DataRequirement", "Date", "DateTime", "Decimal", "Distance", "Dosage", "Duration", "Expression", "HumanName", "Id", "Identifier", "Instant", "Integer", "Markdown", "Meta", "Money", "Oid", "ParameterDefinition", "Period", "PositiveInt", "Quantity", "Range", "Ratio", "Reference", "RelatedArtifact", "SampledData", "Signature", "String", "Time", "Timing", "TriggerDefinition", "UnsignedInt", "Uri", "Url", "UsageContext", "Uuid"]
)
# FHIRPath `as Quantity` also matches the Quantity profiles.
_SUBTYPES = {"Quantity": ("Quantity", "Age", "Duration", "Distance", "Count", "Money")}
_ANY_RESOURCE = ("Resource", "DomainResource")
_PRIMITIVES: dict[str, type | tuple[type, ...]] = {"boolean": bool, "integer": int, "decimal": (int, float)}

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^'\\]|\\.)*')|(?P<num>\d+(?:\.\d+)?)|(?P<op>!=|<=|>=|[|.()\[\],=<>])"
    r"|(?P<id>[%$]?[A-Za-z_][A-Za-z0-9_]*|`[^`]+`))"
)
_BINARY = [("implies",), ("or", "xor"), ("and",), ("=", "!="), ("<", ">", "<=", ">="), ("|",)]


class FhirPathError(ValueError):
    """The expression uses FHIRPath this evaluator does not support."""


def _tokens(expr: str) -> list[str]:
    out, pos, expr = [], 0, expr.strip()
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if not m or m.end() == pos:
            raise FhirPathError(f"cannot read {expr[pos:pos + 20]!r}")
        out.append(m.group(m.lastgroup or "id").strip("`"))
        pos = m.end()
    return out


class _Parser:
    """Recursive-descent parser producing a small tuple AST."""

    def __init__(self, expr: str) -> None:
        self.toks = _tokens(expr)
        self.i = 0

    def peek(self) -> str | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, expected: str | None = None) -> str:
        tok = self.peek()
        if tok is None or (expected is not None and tok != expected):
            raise FhirPathError(f"expected {expected or 'more'}, got {tok!r}")
        self.i += 1
        return tok

    def parse(self) -> tuple[Any, ...]:
        node = self.binary(0)
        if self.peek() is not None:
            raise FhirPathError(f"unexpected {self.peek()!r}")
        return node

    def binary(self, level: int) -> tuple[Any, ...]:
        if level == len(_BINARY):
            return self.typed()
        node = self.binary(level + 1)
        while self.peek() in _BINARY[level]:
            op = self.take()
            node = ("op", op, node, self.binary(level + 1))
        return node

    def typed(self) -> tuple[Any, ...]:
        node = self.postfix()
        while self.peek() in ("is", "as"):
            op = self.take()
            node = ("fn", op, node, [("type", self.take())])
        return node

    def postfix(self) -> tuple[Any, ...]:
        node = self.term()
        while self.peek() in (".", "["):
            if self.take() == "[":
                node = ("index", node, int(self.take()))
                self.take("]")
            else:
                node = self.invocation(node)
        return node

    def invocation(self, focus: tuple[Any, ...]) -> tuple[Any, ...]:
        name = self.take()
        if self.peek() != "(":
            return ("member", focus, name)
        self.take("(")
        args: list[tuple[Any, ...]] = []
        while self.peek() != ")":
            args.append(self.binary(0))
            if self.peek() == ",":
                self.take()
        self.take(")")
        return ("fn", name, focus, args)

    def term(self) -> tuple[Any, ...]:
        tok = self.take()
        if tok == "(":
            node = self.binary(0)
            self.take(")")
            return node
        if tok.startswith("'"):
            return ("lit", re.sub(r"\\(.)", r"\1", tok[1:-1]))
        if tok[0].isdigit():
            return ("lit", float(tok) if "." in tok else int(tok))
        if tok in ("true", "false"):
            return ("lit", tok == "true")
        if tok in ("%resource", "%rootResource", "%context"):
            return ("root",)
        if tok == "$this":
            return ("this",)
        if self.peek() == "(":  # a function called on $this, e.g. `resolve()` inside where()
            self.i -= 1
            return self.invocation(("this",))
        return ("member", ("this",), tok)


def _member(name: str, choices: frozenset[str]) -> Fn:
    """Step into `name`; a type name (upper-case) filters by resourceType instead."""
    if name[0].isupper():
        def by_type(coll: list[Any], root: Any) -> list[Any]:
            if name in _ANY_RESOURCE:
                return [x for x in coll if isinstance(x, dict)]
            return [x for x in coll if isinstance(x, dict) and x.get("resourceType") == name]
        return by_type
    plen, is_choice = len(name), name in choices

    def step(coll: list[Any], root: Any) -> list[Any]:
        out: list[Any] = []
        for item in coll:
            if not isinstance(item, dict):
                continue
            v = item.get(name)
            if v is None and is_choice:
                for k, cv in item.items():
                    if k.startswith(name) and k[plen:] in TYPE_SUFFIXES:
                        v = cv
                        break
            if v is None:
                continue
            if isinstance(v, list):
                out.extend(v)
            else:
                out.append(v)
        return out
    return step


def _typed_member(name: str, type_name: str) -> Fn:
    """Step into the choice element `name` of one type: `value as Quantity` → `valueQuantity`."""
    keys = [name + t for t in _SUBTYPES.get(type_name, (type_name[0].upper() + type_name[1:],))]

    def step(coll: list[Any], root: Any) -> list[Any]:
        out: list[Any] = []
        for item in coll:
            if isinstance(item, dict):
                for k in keys:
                    v = item.get(k)
                    if v is not None:
                        out.extend(v) if isinstance(v, list) else out.append(v)
        return out
    return step


def _is_type(item: Any, type_name: str) -> bool:
    """Best-effort type test on raw JSON, for `is`/`as`/`ofType` outside choice elements."""
    if isinstance(item, tuple):  # a resolve() marker: ("resolved", target type)
        return bool(item[1] == type_name)
    if isinstance(item, dict):
        rt = item.get("resourceType")
        return rt == type_name if rt else type_name[0].isupper()
    expected = _PRIMITIVES.get(type_name)
    if expected is not None:
        return isinstance(item, expected) and (type_name == "boolean" or not isinstance(item, bool))
    return type_name[0].islower() and isinstance(item, str)


def _resolve_marker(ref: Any) -> Any:
    """Stand in for resolve(): remember only the type the reference points at."""
    if not isinstance(ref, dict):
        return None
    text = ref.get("reference")
    if isinstance(text, str):
        parts = text.split("/_history/")[0].rstrip("/").split("/")
        if len(parts) >= 2 and parts[-2][:1].isupper():
            return ("resolved", parts[-2])
    kind = ref.get("type")
    return ("resolved", kind) if isinstance(kind, str) else None


def _identity(item: Any) -> Any:
    """Key for `|` de-duplication: the same element once; equal primitives once.

    Elements are compared by identity, not by deep equality, which is quadratic on a large
    ValueSet expansion; equal elements from different places are merged later anyway, when
    index rows are de-duplicated.
    """
    if isinstance(item, (dict, list)):
        return ("element", id(item))
    return (type(item).__name__, item)


def _truthy(coll: list[Any]) -> bool:
    return len(coll) == 1 and coll[0] is True


class _Compiler:
    """Turn the tuple AST into closures `(focus, root) -> collection`."""

    def __init__(self, choices: frozenset[str], root_type: str | None = None) -> None:
        self.choices = choices
        self.root_type = root_type

    def compile(self, node: tuple[Any, ...]) -> Fn:
        steps = self._steps(node)
        if steps:
            return _run(tuple(steps)) if len(steps) > 1 else steps[0]
        kind = node[0]
        if kind == "this":
            return lambda coll, root: coll
        if kind == "root":
            return lambda coll, root: [root]
        if kind == "lit":
            value = node[1]
            return lambda coll, root: [value]
        if kind == "member":
            return self._chain(self.compile(node[1]), _member(node[2], self.choices))
        if kind == "index":
            src, n = self.compile(node[1]), node[2]
            return lambda coll, root: (lambda r: r[n:n + 1])(src(coll, root))
        if kind == "op":
            return self._op(node[1], self.compile(node[2]), self.compile(node[3]))
        if kind == "fn":
            return self._fn(node[1], node[2], node[3])
        raise FhirPathError(f"unsupported construct {kind}")

    def _steps(self, node: tuple[Any, ...]) -> list[Fn] | None:
        """Flatten a plain path (members, typed members, where, [n]) into a list of steps."""
        kind = node[0]
        if kind == "this":
            return []
        if kind == "member":
            head = self._steps(node[1])
            if head == [] and self.root_type and node[2] in (self.root_type, *_ANY_RESOURCE):
                return []  # the caller promises the focus is a `root_type` resource
            return None if head is None else [*head, _member(node[2], self.choices)]
        if kind == "index":
            head, n = self._steps(node[1]), node[2]
            return None if head is None else [*head, lambda coll, root: coll[n:n + 1]]
        if kind == "fn" and node[1] == "where" and len(node[3]) == 1:
            head, crit = self._steps(node[2]), self.compile(node[3][0])
            return None if head is None else [
                *head, lambda coll, root: [x for x in coll if _truthy(crit([x], root))]]
        if kind == "fn" and node[1] in ("as", "ofType") and node[2][0] == "member" \
                and node[2][2] in self.choices and node[3] and node[3][0][0] in ("type", "member"):
            type_name = node[3][0][1] if node[3][0][0] == "type" else node[3][0][2]
            head = self._steps(node[2][1])
            return None if head is None else [*head, _typed_member(node[2][2], type_name)]
        return None

    @staticmethod
    def _chain(src: Fn, step: Fn) -> Fn:
        return lambda coll, root: step(src(coll, root), root)

    def _op(self, op: str, left: Fn, right: Fn) -> Fn:
        if op == "|":
            def union(coll: list[Any], root: Any) -> list[Any]:
                out = list(left(coll, root))
                seen = {_identity(x) for x in out}
                for x in right(coll, root):
                    key = _identity(x)
                    if key not in seen:
                        seen.add(key)
                        out.append(x)
                return out
            return union
        if op in ("=", "!="):
            negate = op == "!="

            def equals(coll: list[Any], root: Any) -> list[Any]:
                a, b = left(coll, root), right(coll, root)
                if not a or not b:
                    return []
                return [(a == b) != negate]
            return equals
        if op in ("and", "or"):
            want_all = op == "and"

            def logic(coll: list[Any], root: Any) -> list[Any]:
                a, b = _truthy(left(coll, root)), _truthy(right(coll, root))
                return [a and b] if want_all else [a or b]
            return logic
        raise FhirPathError(f"unsupported operator {op}")

    def _fn(self, name: str, focus_node: tuple[Any, ...], args: list[tuple[Any, ...]]) -> Fn:
        if name in ("as", "ofType") and args and args[0][0] in ("type", "member"):
            type_name = args[0][1] if args[0][0] == "type" else args[0][2]
            if focus_node[0] == "member" and focus_node[2] in self.choices:
                return self._chain(self.compile(focus_node[1]), _typed_member(focus_node[2], type_name))
            focus = self.compile(focus_node)
            return lambda coll, root: [x for x in focus(coll, root) if _is_type(x, type_name)]
        if name == "is" and args and args[0][0] in ("type", "member"):
            type_name = args[0][1] if args[0][0] == "type" else args[0][2]
            focus = self.compile(focus_node)
            return lambda coll, root: (lambda r: [_is_type(r[0], type_name)] if len(r) == 1 else [])(
                focus(coll, root))
        focus = self.compile(focus_node)
        if name == "where" and len(args) == 1:
            crit = self.compile(args[0])
            return lambda coll, root: [x for x in focus(coll, root) if _truthy(crit([x], root))]
        if name == "exists" and not args:
            return lambda coll, root: [bool(focus(coll, root))]
        if name == "exists" and len(args) == 1:
            test = self.compile(args[0])
            return lambda coll, root: [any(_truthy(test([x], root)) for x in focus(coll, root))]
        if name in ("empty", "not", "first", "last", "hasValue", "count") and not args:
            return _simple(name, focus)
        if name == "resolve" and not args:
            return lambda coll, root: [m for m in map(_resolve_marker, focus(coll, root)) if m]
        if name == "extension" and len(args) == 1 and args[0][0] == "lit":
            url = args[0][1]
            return lambda coll, root: [
                e for x in focus(coll, root) if isinstance(x, dict)
                for e in x.get("extension", ()) if isinstance(e, dict) and e.get("url") == url
            ]
        raise FhirPathError(f"unsupported function {name}()")


def _run(steps: tuple[Fn, ...]) -> Fn:
    """Apply path steps in turn, stopping as soon as the collection is empty."""
    def run(coll: list[Any], root: Any) -> list[Any]:
        for step in steps:
            coll = step(coll, root)
            if not coll:
                return coll
        return coll
    return run


def _simple(name: str, focus: Fn) -> Fn:
    """Compile the argument-less functions that only look at the focus collection."""
    ops: dict[str, Callable[[list[Any]], list[Any]]] = {
        "empty": lambda r: [not r],
        "not": lambda r: [not r[0]] if len(r) == 1 and isinstance(r[0], bool) else [],
        "first": lambda r: r[:1],
        "last": lambda r: r[-1:],
        "hasValue": lambda r: [len(r) == 1 and not isinstance(r[0], dict)],
        "count": lambda r: [len(r)],
    }
    op = ops[name]
    return lambda coll, root: op(focus(coll, root))


def parse_path(expression: str) -> tuple[Any, ...]:
    """Parse `expression` into the tuple AST the compiler uses (for tools that inspect paths)."""
    return _Parser(expression).parse()


def compile_path(expression: str, choices: Iterable[str] = (), root_type: str | None = None) -> PathFn:
    """Compile `expression` into `f(focus, root=None) -> collection`.

    `root` is what `%resource` means; it defaults to the focus. `choices` are the base names
    of choice elements (`value` for `value[x]`), which a path step may find under a typed key.
    With `root_type`, a leading `Patient.` (or `Resource.`) is dropped instead of checked:
    the caller promises to pass only resources of that type.
    """
    fn = _Compiler(frozenset(choices), root_type).compile(_Parser(expression).parse())

    def evaluate(focus: Any, root: Any = None) -> list[Any]:
        return fn([focus], focus if root is None else root)
    return evaluate


def split_union(expression: str) -> list[str]:
    """Split the top-level `|` alternatives of an expression (not inside parentheses)."""
    parts, depth, start, quoted = [], 0, 0, False
    for i, ch in enumerate(expression):
        if ch == "'":
            quoted = not quoted
        elif not quoted and ch in "([":
            depth += 1
        elif not quoted and ch in ")]":
            depth -= 1
        elif not quoted and depth == 0 and ch == "|":
            parts.append(expression[start:i].strip())
            start = i + 1
    parts.append(expression[start:].strip())
    return [p for p in parts if p]
