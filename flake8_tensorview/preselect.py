"""Which functions of a file can hold a finding, decided on the ``ast`` tree flake8 already built,
before libcst parses anything.

libcst gets only those functions (and the ``__init__`` their methods start from), without the
statements after their last ``.view`` (the walker goes forward; not with ``masked_fill``, whose
check reads every use of a mask): the other statements are cut, a ``pass`` standing in where a
block needs one, blank and comment lines go too, and :class:`Pruned` maps each parsed line back to
the file's. The walker gives each function a fresh environment (methods also get ``__init__``'s
``self.`` state) and module-level code its own, so what is cut cannot change what is found
elsewhere:

- TV201 needs ``masked_fill`` in the function.
- TV101 needs a ``.view`` whose receiver a non-contiguous tensor can reach, and only the layout
  producers of the op table (``ops.PRODUCERS``) or basic slicing make one, in the function itself
  or, for a method, in its class's ``__init__``.

``tests/test_preselect.py`` checks that the preselected file gives the same findings as the whole
one on the fixtures and on constructed cases, and that no op outside ``PRODUCERS`` makes a
contiguous tensor non-contiguous; ``scripts/preselect_check.py`` does the comparison on real code.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

from .ops import ALIASES, DENSE, OPS, PRODUCERS, PROPERTIES

TRIGGERS = (".view", "masked_fill")
"""Text every finding needs; files without any of these cost one substring search."""

_DOTTED = {"t", "T", "mT", "H", "mH"}  # short names: only as attributes, never a bare `t`
_NAMES = sorted({n for op in PRODUCERS for n in op.names} - _DOTTED)
PRODUCER = re.compile(r"\b(?:" + "|".join(_NAMES) + r")\b" r"|\.(?:" + "|".join(sorted(_DOTTED)) + r")\b")
"""Text of the producer ops: a function needs one of them, or :func:`slices_apart`, to make a
tensor non-contiguous."""


def slices_apart(node: ast.AST) -> bool:
    """Whether ``node`` indexes anything in a way that can leave a contiguous tensor non-contiguous."""
    return any(isinstance(sub, ast.Subscript) and _apart(sub) for sub in ast.walk(node))


def _apart(sub: ast.Subscript) -> bool:
    """A step, or a slice or ``...`` beside other indices. Slicing only the first dim (``x[:n]``,
    ``x[0, 1:3]``, ``x[None, :t]``) keeps a tensor contiguous."""
    index = sub.slice
    items = index.elts if isinstance(index, ast.Tuple) else [index]
    if any(isinstance(i, ast.Slice) and i.step is not None for i in items):
        return True
    return len(items) > 1 and any(isinstance(i, ast.Slice) or _is_ellipsis(i) for i in items[:-1])


def _is_ellipsis(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value is Ellipsis


_PRODUCER_NAMES = frozenset(n for op in PRODUCERS for n in op.names)
_BARE_NAMES = frozenset(_NAMES)
_OP_NAMES = frozenset(n for op in OPS for n in op.names)
_THROUGH = frozenset(PROPERTIES) | ALIASES
"""Attributes whose value the walker takes from the object's (``x.T``, ``x.data``): the rest are
their own bindings, or values it never ties to the object (``x.shape``)."""


def _reads(node: ast.AST, callables: frozenset[str] | set[str]) -> tuple[set[str], bool]:
    """The names and dotted chains whose tensors can flow into the value of ``node`` (``self.k.T``
    reads ``self.k``), and whether a producer's result can.

    As in the walker, only op-table calls pass their operands on (not those whose result is always
    dense, ``ops.DENSE``), and calls of what may hold an ``nn`` module (a key in ``callables``) their
    arguments; any other call gives an unknown value. An attribute is its own binding, or a value
    the walker does not take from the object (``x.shape``), except those in ``_THROUGH``.
    """
    keys: set[str] = set()
    produces = False
    stack = [node]
    while stack:
        sub = stack.pop()
        if isinstance(sub, ast.Call):
            func = sub.func
            if isinstance(func, ast.Attribute) and func.attr in _OP_NAMES:
                if func.attr in DENSE and _dotted(func) not in callables:
                    continue  # a new dense tensor, whatever went in
                produces = produces or func.attr in _PRODUCER_NAMES
                stack.append(func.value)
            elif _dotted(func) not in callables:
                continue
            stack.extend(sub.args)
            stack.extend(k.value for k in sub.keywords)
            continue
        if isinstance(sub, ast.Name):
            keys.add(sub.id)
            produces = produces or sub.id in _BARE_NAMES
        elif isinstance(sub, ast.Attribute):
            produces = produces or sub.attr in _PRODUCER_NAMES
            key = _dotted(sub)
            if key is not None:
                keys.add(key)
            if sub.attr in _THROUGH:
                stack.append(sub.value)
            continue  # `x.shape`, `self.proj`: its own binding, or a value the walker never ties to `x`
        elif isinstance(sub, ast.Subscript):
            produces = produces or _apart(sub)
        stack.extend(ast.iter_child_nodes(sub))
    return keys, produces


def _dotted(node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def _bound(target: ast.AST) -> set[str]:
    """What an assignment to ``target`` rebinds (``a[i] = ...`` counts as rebinding ``a``)."""
    if isinstance(target, (ast.Tuple, ast.List)):
        return {key for element in target.elts for key in _bound(element)}
    if isinstance(target, ast.Starred):
        return _bound(target.value)
    while isinstance(target, ast.Subscript):
        target = target.value
    key = _dotted(target)
    return {key} if key is not None else set()


class _Scan:
    """One pass over a subtree: its depth, its bindings, its ``.view`` receivers and its loops."""

    __slots__ = ("too_deep", "pairs", "receivers", "apart", "loops")

    def __init__(self, root: ast.AST) -> None:
        self.too_deep = False
        self.pairs: list[tuple[set[str], ast.AST, Position]] = []
        """(keys bound, value, where the binding takes effect) of every binding form,
        ``self.register_buffer`` included."""
        self.receivers: list[ast.AST] = []
        self.apart = False
        self.loops: list[tuple[Position, Position]] = []
        """Spans of the loops and comprehensions: a binding in one reaches all of it."""
        pairs, receivers, loops = self.pairs, self.receivers, self.loops
        level: list[Any] = [root]
        depth = 0
        while level:  # level by level: the depth comes for free
            if depth > MAX_DEPTH:
                self.too_deep = True
                return
            below: list[Any] = []
            for node in level:
                kind = type(node)
                if kind in _LEAVES or not isinstance(node, ast.AST):
                    continue
                if kind is ast.Call:
                    func = node.func
                    if type(func) is ast.Attribute:
                        if func.attr in ("view", "view_as"):
                            receivers.append(func.value)
                        elif func.attr == "register_buffer" and (buffer := _buffer_name(node)):
                            pairs.append(({"self." + buffer}, node.args[1], _end(node)))
                elif kind is ast.Subscript:
                    if not self.apart:
                        self.apart = _apart(node)
                elif kind is ast.Assign:
                    pairs.extend((_bound(target), node.value, _end(node)) for target in node.targets)
                elif kind in _TARGETED:
                    if node.value is not None:
                        pairs.append((_bound(node.target), node.value, _end(node)))
                elif kind in _LOOPS:
                    pairs.append((_bound(node.target), node.iter, _end(node.target)))
                elif kind is ast.withitem and node.optional_vars is not None:
                    pairs.append((_bound(node.optional_vars), node.context_expr, _end(node.optional_vars)))
                if kind in _SPANS:
                    loops.append((_start(node), _end(node)))
                for name in node._fields:
                    child = getattr(node, name, None)
                    if type(child) is list:
                        below.extend(child)
                    elif child is not None:
                        below.append(child)
            level = below
            depth += 1


Position = tuple[int, int]
"""(line, column) in the file, to order a binding before or after a read."""
_BEFORE_ALL: Position = (0, -1)
"""Where ``__init__``'s bindings take effect for its class's other methods."""


def _start(node: ast.AST) -> Position:
    return node.lineno, node.col_offset  # type: ignore[attr-defined]


def _end(node: ast.AST) -> Position:
    return node.end_lineno, node.end_col_offset  # type: ignore[attr-defined]


_LEAVES = frozenset({ast.Name, ast.Constant, ast.Load, ast.Store, ast.Del, ast.alias, str, int, float, bytes,
                     type(None), bool, complex, type(...)})
_TARGETED = (ast.AugAssign, ast.AnnAssign, ast.NamedExpr)
_LOOPS = (ast.For, ast.AsyncFor, ast.comprehension)
_SPANS = (ast.For, ast.AsyncFor, ast.While, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
"""Loops and comprehensions: a binding anywhere in one can feed a read anywhere in it."""


def _buffer_name(call: ast.Call) -> str | None:
    """``"k"`` of ``self.register_buffer("k", value)``."""
    if len(call.args) >= 2 and type(call.args[0]) is ast.Constant and type(call.args[0].value) is str:
        return call.args[0].value
    return None


class _Bindings:
    """The bindings of one function by key, with its loops."""

    __slots__ = ("values", "loops")

    def __init__(self, scan: _Scan) -> None:
        self.values: dict[str, list[tuple[ast.AST, Position, _Bindings]]] = {}
        """key -> (value, where it takes effect, the function whose bindings its reads see)."""
        self.loops = scan.loops
        for keys, value, at in scan.pairs:
            for key in keys:
                self.values.setdefault(key, []).append((value, at, self))

    def reach(self, at: Position, read: Position) -> bool:
        """Whether a binding taking effect at ``at`` can be seen by a read at ``read``."""
        return at <= read or any(start <= read and at <= end for start, end in self.loops)


def view_may_fail(scan: _Scan, init: _Scan | None = None) -> bool:
    """Whether some ``.view``/``.view_as`` in the scanned code may be called on a non-contiguous
    tensor: whether a producer's result can flow to its receiver through bindings that take effect
    before the read, or anywhere in a loop around both. ``init``: for a method, its class's
    ``__init__``, whose ``self.`` state the method starts from (as the walker seeds it)."""
    if not scan.receivers:
        return False
    method = _Bindings(scan)
    callables: set[str] = set(method.values)  # what may hold an nn module: anything bound
    if init is not None:
        before = _Bindings(init)
        callables.update(before.values)
        for key, bindings in before.values.items():
            if key.startswith("self."):  # seen from the start of the method, as if bound first
                seeded = [(value, _BEFORE_ALL, owner) for value, _, owner in bindings]
                method.values.setdefault(key, []).extend(seeded)
    read_by: dict[int, tuple[set[str], bool]] = {}
    seen: set[tuple[str, Position, int]] = set()
    for receiver in scan.receivers:
        reads, produces = _reads(receiver, callables)
        if produces:
            return True
        start = _start(receiver)
        stack = [(key, start, method) for key in reads]
        while stack:
            key, read, scope = stack.pop()
            if (key, read, id(scope)) in seen:
                continue
            seen.add((key, read, id(scope)))
            for value, at, owner in scope.values.get(key, ()):
                if not scope.reach(at, read):
                    continue  # bound after the read, and no loop brings it round
                if id(value) not in read_by:
                    read_by[id(value)] = _reads(value, callables)
                value_reads, produces = read_by[id(value)]
                if produces:
                    return True
                value_start = _start(value)
                stack.extend((k, value_start, owner) for k in value_reads)
    return False


MAX_DEPTH = 400
"""Deeper syntax trees are skipped: libcst's native parser can overflow its stack on them."""

_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
_COMPOUND = tuple(getattr(ast, name) for name in
                  ("If", "For", "AsyncFor", "While", "With", "AsyncWith", "Try", "TryStar") if hasattr(ast, name))


def might_match(source: str) -> bool:
    return any(trigger in source for trigger in TRIGGERS)


def too_deep(tree: ast.AST) -> bool:
    return _Scan(tree).too_deep


def imported_names(tree: ast.Module) -> set[str]:
    """Top-level ``import``/``from ... import`` names (``np``, ``F``, ``rearrange``): never tensors."""
    names: set[str] = set()
    for stmt in tree.body:
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in stmt.names if a.name != "*")
    return names


class _Selection:
    """Decides, statement by statement, what libcst sees. Module-level code is walked in order
    with its own environment, so it is kept whole when any of it (outside defs) has a trigger;
    otherwise, like class-level statements (the walker reads only a class's methods), it is
    replaced by ``pass``. Imports go too: the walker is told their names."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.lines = source.split("\n")
        self.ends = list(accumulate(map(len, self.lines), initial=0))
        """Characters before each line, newlines not counted."""
        self.cuts: dict[int, tuple[int, bool]] = {}
        """first 1-based line -> (last line, whether a ``pass`` stands in): lines libcst never sees."""
        self.too_deep = False

    def start(self, line: int) -> int:
        """Offset of the first character of 1-based ``line`` (one past the end for the last + 1)."""
        return self.ends[line - 1] + line - 1

    def span(self, node: ast.AST) -> tuple[int, int]:
        """Offsets of the whole lines ``node`` spans (decorators included)."""
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", ())])  # type: ignore[attr-defined]
        return self.start(first), self.start(node.end_lineno + 1)  # type: ignore[attr-defined]

    def has(self, node: ast.AST, *texts: str) -> bool:
        start, end = self.span(node)
        return any(self.source.find(text, start, end) != -1 for text in texts)

    def keep(self, node: ast.AST) -> _Scan:
        scan = _Scan(node)
        self.too_deep = self.too_deep or scan.too_deep
        return scan

    def relevant(self, node: ast.stmt, init: _Scan | None = None, init_produces: bool = False) -> _Scan | None:
        """The scan of ``node`` if it can hold a finding, else None."""
        if self.has(node, "masked_fill"):
            return self.keep(node)
        if not self.has(node, ".view"):
            return None
        start, end = self.span(node)
        if not init_produces and PRODUCER.search(self.source, start, end) is None:
            if self.source.find("[", start, end) == -1:
                return None
            scan = _Scan(node)
            if not scan.apart:
                return None  # no producer at all: a cheap no before the data flow
        else:
            scan = _Scan(node)
        if not view_may_fail(scan, init):
            return None
        self.too_deep = self.too_deep or scan.too_deep
        return scan

    def module_code_triggers(self, statements: list[ast.stmt]) -> bool:
        """Whether module-level code outside function and class bodies has a trigger."""
        for stmt in statements:
            if isinstance(stmt, (*_FUNCTIONS, ast.ClassDef)):
                continue
            if isinstance(stmt, _COMPOUND):
                if any(self.has(h, *TRIGGERS) for h in _header(stmt) if hasattr(h, "lineno")):
                    return True
                if any(self.module_code_triggers(block) for block in _blocks(stmt)):
                    return True
            elif self.has(stmt, *TRIGGERS):
                return True
        return False

    def module(self, tree: ast.Module) -> None:
        self.body(tree.body, module_code=self.module_code_triggers(tree.body))

    def body(self, statements: list[ast.stmt], module_code: bool) -> None:
        self.filled = False  # a block needs one statement left: the first cut one becomes `pass`
        for stmt in statements:
            if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                if not self.drop(stmt):
                    self.keep(stmt)
            elif _is_docstring(stmt):
                pass  # a string: nothing to parse deeply, and `from __future__` may follow it
            elif not module_code and not self.has(stmt, *TRIGGERS) and self.drop(stmt):
                continue
            elif isinstance(stmt, _FUNCTIONS):
                if self.relevant(stmt) is not None:
                    self.trim(stmt)
                elif module_code or not self.drop(stmt):
                    self.stub(stmt)  # module code may read its name
            elif isinstance(stmt, ast.ClassDef):
                self.klass(stmt)
            elif isinstance(stmt, _COMPOUND):
                for header in _header(stmt):
                    self.keep(header)
                for block in _blocks(stmt):
                    self.body(block, module_code)
            elif module_code or not self.drop(stmt):
                self.keep(stmt)
            self.filled = True

    def klass(self, node: ast.ClassDef) -> None:
        for header in [*node.decorator_list, *node.bases, *node.keywords]:
            self.keep(header)
        methods = [s for s in node.body if isinstance(s, _FUNCTIONS)]
        init = next((m for m in methods if m.name == "__init__"), None)
        init_scan: _Scan | None = None
        init_produces = False
        if init is not None and any(self.has(m, ".view") for m in methods if m is not init):
            init_scan = _Scan(init)
            start, end = self.span(init)
            init_produces = init_scan.apart or PRODUCER.search(self.source, start, end) is not None
        needed = {m for m in methods if m is not init and self.relevant(m, init_scan, init_produces) is not None}
        self.filled = False
        for stmt in node.body:
            if stmt in needed:
                self.trim(stmt)
                self.filled = True
                continue
            if stmt is init and needed:  # kept: the other methods start from its `self.` state
                self.too_deep = self.too_deep or (init_scan or self.keep(init)).too_deep
            elif isinstance(stmt, ast.ClassDef):
                self.klass(stmt)
            elif stmt is init and self.relevant(stmt) is not None:
                self.trim(stmt)
                continue
            elif not self.drop(stmt):  # not read by the walker, or cannot hold a finding
                self.stub(stmt) if isinstance(stmt, _FUNCTIONS) else self.keep(stmt)
            self.filled = True

    def trim(self, function: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        """Cut the statements of a kept function after its last ``.view``: the walker goes forward,
        so nothing after the last site can change a layout it sees. Not with ``masked_fill``: TV201
        looks at every later use of a mask."""
        if self.has(function, "masked_fill"):
            return
        body = function.body
        last = max((i for i, stmt in enumerate(body) if self.has(stmt, ".view")), default=len(body) - 1)
        self.filled = True
        for stmt in body[last + 1 :]:
            self.drop(stmt)

    def drop(self, stmt: ast.stmt) -> bool:
        """Replace the whole statement by ``pass``, if it has its lines to itself."""
        first = min([stmt.lineno] + [d.lineno for d in getattr(stmt, "decorator_list", ())])
        start = self.lines[first - 1].encode()
        if first == stmt.lineno and start[: stmt.col_offset].strip():
            return False  # `x = 1; y = 2`: shares its first line
        if first != stmt.lineno and not start.lstrip().startswith(b"@"):
            return False
        end = self.lines[stmt.end_lineno - 1].encode()  # type: ignore[operator]
        rest = end[stmt.end_col_offset :].strip()  # type: ignore[misc]
        if rest and not rest.startswith(b"#"):
            return False
        self.cuts[first] = (stmt.end_lineno, not self.filled)  # type: ignore[assignment]
        self.filled = True
        return True

    def stub(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        """Replace the body by ``pass``: the header stays, so the name is still bound."""
        for header in [*node.decorator_list, node.args, *([node.returns] if node.returns else [])]:
            self.keep(header)
        first = node.body[0]
        head = self.lines[first.lineno - 1].encode()
        if head[: first.col_offset].strip():
            for stmt in node.body:  # `def f(): return x`: the body shares the header's line
                self.keep(stmt)
            return
        self.cuts[first.lineno] = (node.body[-1].end_lineno, True)  # type: ignore[assignment]


def _is_docstring(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)


def _header(stmt: ast.stmt) -> list[ast.AST]:
    """The expressions of a compound statement outside its blocks."""
    blocks = {id(s) for block in _blocks(stmt) for s in block}
    return [child for child in ast.iter_child_nodes(stmt) if id(child) not in blocks
            and not isinstance(child, ast.ExceptHandler)] + [
        h.type for h in getattr(stmt, "handlers", ()) if h.type is not None]


def _blocks(stmt: ast.stmt) -> list[list[ast.stmt]]:
    blocks = [stmt.body, getattr(stmt, "orelse", []), getattr(stmt, "finalbody", [])]  # type: ignore[attr-defined]
    blocks += [h.body for h in getattr(stmt, "handlers", ())]
    return [b for b in blocks if b]


@dataclass(frozen=True)
class Pruned:
    """What libcst parses: the kept code, without blank, comment or cut lines."""

    text: str
    lines: list[int] | None
    """The original line of each line of ``text`` (None: the same lines)."""
    tops: list[int]
    """The line in ``text`` where each top-level statement left starts."""


def whole(source: str, tree: ast.Module) -> Pruned | None:
    """All of ``source`` (fixes rewrite the module); None when it nests too deep for libcst."""
    if too_deep(tree):
        return None
    return Pruned(source, None, [_first_line(s) for s in tree.body])


def preselect(source: str, tree: ast.Module) -> Pruned | None:
    """The parts of ``source`` that can hold a finding, line for line (the rest cut, or a ``pass``
    where a block needs a statement); None when they nest too deep for libcst."""
    if "\r" in source.replace("\r\n", ""):
        return whole(source, tree)  # a lone CR ends a line for Python but not for our split
    selection = _Selection(source)
    selection.module(tree)
    if selection.too_deep:
        return None
    lines = selection.lines
    out: list[str] = []
    origin: list[int] = []
    cuts = selection.cuts
    i = 0
    while i < len(lines):
        line = lines[i]
        if i + 1 in cuts:
            last, stand_in = cuts[i + 1]
            if stand_in:
                out.append(line[: len(line) - len(line.lstrip())] + "pass" + ("\r" if line.endswith("\r") else ""))
                origin.append(i + 1)
            i = last
            continue
        text = line.strip()
        if text and text[0] != "#":
            out.append(line)
            origin.append(i + 1)
        i += 1
    where = {line: n for n, line in enumerate(origin, 1)}
    tops = [where[first] for first in map(_first_line, tree.body) if first in where]
    return Pruned("\n".join(out) + "\n", origin, tops)


def _first_line(stmt: ast.stmt) -> int:
    return min([stmt.lineno] + [d.lineno for d in getattr(stmt, "decorator_list", ())])
