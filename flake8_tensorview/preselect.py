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
- TV301 needs an expression statement made of a call of an out-of-place method of the op table
  (:data:`OUT_OF_PLACE`, ``x.float()`` alone on its line), on a receiver the walker knows to be a
  tensor: the function keeps the statements up to its last such call, a method its
  ``__init__``, and when a call of the module's code or a caller's argument can reach the
  receiver, its call-graph closure joins the scope, as for TV101.

``tests/test_preselect.py`` checks that the preselected file gives the same findings as the whole
one on the fixtures and on constructed cases, and that no op outside ``PRODUCERS`` makes a
contiguous tensor non-contiguous; ``scripts/preselect_check.py`` does the comparison on real code.
"""

from __future__ import annotations

import ast
import re
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

from .modules import MODULE_RETURNS_SELF, PRODUCING_FUNCTIONS, ROWS
from .ops import ALIASES, DENSE, OPS, OUT_OF_PLACE, PRODUCERS, PROPERTIES
from .semantic import CHILD_FIELDS, MODULE, Semantic, blocks, build, children, dotted, walk

SCOPE_LINES = 100
"""The most lines one candidate's call-graph closure may add to the scope of cross-function facts,
the candidate itself not counted. Was 250, the candidate counted: on 748 mutants of transformers,
timm and LLMs-from-scratch files (``scripts/scope_budget.py``: one ``.contiguous()`` dropped or
one ``.reshape(`` made a ``.view(``) budgets of 400, 150 and 100 give the same findings, and so
do 250 and 100 on the seven corpora; 100 parses a seventh less code than before."""
MASK_SCOPE_LINES = 200
"""The same for a candidate that fills with a mask: masks are built where the model starts (Gemma's
``_create_masks``) and handed down through its blocks to the attention that fills, so TV201 needs
the whole chain of callers. Few functions fill with masks: on the benchmark corpora libcst parses
1.4 % more code than with 100 (400 lines: 7 %, 600: 27 %)."""
SMALL_MODULE_LINES = 400
"""A module of at most this many lines gives every candidate its whole closure, whatever the
budgets above: the budgets keep big model files from being parsed whole, and a small module parsed
whole costs little. Research code often fits in one such file, with the training loop or the demo
that hands a permuted batch to the model three calls down (pytorch_geometric_temporal's AAGCN in
the real-world set). On every tenth candidate file of transformers, timm and diffusers, 400 costs
3.0 % more instructions in the plugin (500: 8.2 %), and the seven corpora give the same findings."""
TRIGGERS = (".view", "masked_fill")
"""Text every TV1xx and TV2xx finding needs; files without any of these cost one substring search."""
_KEYWORD = re.compile(
    r"[ \t]*(?:return|yield|raise|assert|del|if|elif|while|for|with|import|from|def|class|lambda|await|async|"
    r"not|and|or|in|is|else|try|except|finally|global|nonlocal|pass|break|continue|match|case)\b"
)


def _alternatives(names: Iterable[str], after: str = "") -> str:
    """A regex of ``names`` (each followed by ``after``) grouped by first character: sre tries the
    alternatives of a group one by one, and skips a group whose first character differs at once,
    so ~100 names cost ~20 tries at each offset, not ~100 (the calls below: twice as fast)."""
    by_first: dict[str, list[str]] = {}
    for name in sorted(names):
        by_first.setdefault(name[0], []).append(re.escape(name[1:]))
    return "|".join(f"{re.escape(first)}(?:{'|'.join(rests)}){after}" for first, rests in by_first.items())


_METHOD_CALL = re.compile(r"\.[ \t]*(?:" + _alternatives(OUT_OF_PLACE) + r")[ \t]*\(")
"""``.float(`` on one line: a dot that ends a sentence in a docstring is not one (``the shift.`` then
``t (int): ...`` on the next line)."""


_CONTINUED = frozenset("([{,+-*/%&|^<>=@")
"""Last characters of a line inside brackets: the next line is part of an expression there."""
_BACK_LINES = 200
"""How far back the start of a statement whose line closes a bracket is looked for."""


class _StatementCalls:
    """``search(text, start, end)``: a line in that range that holds an expression statement
    calling one of the methods at its top level (``finditer``: the offsets of all of them). Each
    ``.method(`` found is checked on its own line, so the cost is linear in the text (one pattern
    doing it all backtracks badly on long lines):

    - not a statement: a keyword first, an ``=`` before the first parenthesis (``y = x.float()``),
      a doctest prompt;
    - inside brackets: the line opens one before the call (``f(x.float(),``), or follows a line
      ending with ``(``, ``,`` or an operator;
    - a line that closes brackets (``).float()``) is checked from the line that opened them, and
      so is a line that starts with a dot (``.float()`` under ``(x``; after a backslash: let in);
    - an operand: the line starts with an operator (``- np.log(d)``).

    Brackets in strings and comments count too: ``f(")").float()`` is turned away, which
    ``scripts/preselect_check.py --gate`` would show on the corpora."""

    def search(self, text: str, start: int = 0, end: int | None = None) -> bool:
        return next(self.finditer(text, start, end), None) is not None

    def finditer(self, text: str, start: int = 0, end: int | None = None) -> Iterator[int]:
        """Offsets of the ``.method(`` calls that pass."""
        stop = len(text) if end is None else end
        for found in _METHOD_CALL.finditer(text, start, stop):
            line = text.rfind("\n", 0, found.start()) + 1
            depth = _depth(text[line : found.start()])
            if depth > 0:
                continue
            if depth == 0:
                head = text[line : found.start() + 1].lstrip()
                if head[:1] in _OPERAND and not head.startswith(">>>"):
                    continue  # ``- np.log(d)``, ``* x.exp()``: an operand, never the statement's value
                if head.startswith(".") and not head.startswith("...") and not _backslashed(text, line):
                    depth = -1  # ``.float()`` under ``(x``: the statement, if any, starts where that opened
            if depth < 0:
                line = _opened(text, line, -depth)
                if line < 0:
                    continue
            if _statement(text, line, found.start()):
                yield found.start()


_OPERAND = frozenset("+-~*/%&|^<>=")
"""First characters of a line whose call is an operand: a continued expression (``+ x.sum()``), or
a statement whose value is an operation (``-x.sum()``), not a call; ``>>>`` is a doctest prompt."""


def _backslashed(text: str, line: int) -> bool:
    """Whether the line before offset ``line`` ends with a backslash (the line continues it)."""
    return line > 0 and text[text.rfind("\n", 0, line - 1) + 1 : line - 1].rstrip("\r").endswith("\\")


def _statement(text: str, line: int, at: int) -> bool:
    """Whether the expression that reaches ``at`` can start a statement at offset ``line``."""
    first_end = text.find("\n", line, at)
    head = text[line : first_end if first_end >= 0 else at]
    paren = head.find("(")
    if "=" in (head if paren < 0 else head[:paren]) or "#" in head or _KEYWORD.match(head):
        return False
    if head.lstrip().startswith((">>>", "...")):
        return False
    before = text[text.rfind("\n", 0, max(line - 1, 0)) + 1 : max(line - 1, 0)].rstrip()
    return not (before and before[-1] in _CONTINUED and "#" not in before)


def _opened(text: str, line: int, closed: int) -> int:
    """Offset of the line that opens the ``closed`` brackets the line at ``line`` closes; -1 when
    that line opens more (the call is inside them) or is too far back (then ``line``: let in)."""
    for _ in range(_BACK_LINES):
        if line == 0:
            return 0
        start = text.rfind("\n", 0, line - 1) + 1
        closed -= _depth(text[start : line - 1])
        line = start
        if closed == 0:
            return line
        if closed < 0:
            return -1
    return line


def _depth(head: str) -> int:
    """Brackets ``head`` opens minus those it closes."""
    return head.count("(") + head.count("[") + head.count("{") - head.count(")") - head.count("]") - head.count("}")


DISCARDED = _StatementCalls()
"""Text of a statement that calls one of them at its top level: a file without any cannot hold a
TV301 site (``x.float()`` alone on a line; ``y = x.float()``, ``return x.sum()`` and ``f(x.float(),``
do not count, and most files have those). On the seven audit corpora it lets in 187 of the 1536
files without a ``.view`` or ``masked_fill`` that any ``.method(`` would, and none it turns away has
a site (``scripts/preselect_check.py --gate`` checks it)."""


class _Words:
    """``search(text, start, end)``: where one of ``names`` stands as a word, or one of
    ``attributes`` as an attribute, the first match of ``\\b(?:names)\\b|\\.(?:attributes)\\b``.
    That regex tries every offset in turn: sre skips ahead only to where an alternative can start,
    and cannot before a ``\\b``. Here the alternatives come first and the ``\\b`` before a name is
    checked on what they find: :meth:`_Selection.potential`, which searches whole files, costs half
    as many instructions."""

    def __init__(self, names: Iterable[str], attributes: Iterable[str] = ()) -> None:
        branches = [_alternatives(names, after=r"\b")]
        if attributes:
            branches.append(r"\.(?:" + "|".join(sorted(attributes)) + r")\b")
        self.pattern = re.compile("|".join(branches))

    def search(self, text: str, start: int = 0, end: int | None = None) -> re.Match[str] | None:
        for found in self.pattern.finditer(text, start, len(text) if end is None else end):
            at = found.start()
            # a name found inside a word spans word characters only: no word starts within it
            if at == 0 or text[at] == "." or not _is_word(text[at - 1]):
                return found
        return None


def _is_word(character: str) -> bool:
    """What ``\\w`` matches in a ``str`` pattern."""
    return character.isalnum() or character == "_"


_DOTTED = {"t", "T", "mT", "H", "mH"}  # short names: only as attributes, never a bare `t`
_NAMES = sorted({n for op in PRODUCERS for n in op.names} - _DOTTED)
PRODUCER = _Words([*_NAMES, "memory_format"], _DOTTED)
"""Text of the producer ops: a function needs one of them, or :func:`slices_apart`, to make a
tensor non-contiguous."""
MODULE_PRODUCER = _Words([*(n for row in ROWS.values() if row.produces for n in row.names),
                          *PRODUCING_FUNCTIONS])
"""Text of the ``nn`` modules whose output can be non-contiguous from a contiguous input."""


def slices_apart(node: ast.AST) -> bool:
    """Whether ``node`` indexes anything in a way that can leave a contiguous tensor non-contiguous."""
    return any(isinstance(sub, ast.Subscript) and _apart(sub) for sub in walk(node))


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
_PRODUCING_MODULES = frozenset(n for row in ROWS.values() if row.produces for n in row.names) | frozenset(PRODUCING_FUNCTIONS)
_BARE_NAMES = frozenset(_NAMES)
_OP_NAMES = frozenset(n for op in OPS for n in op.names)
_THROUGH = frozenset(PROPERTIES) | ALIASES
"""Attributes whose value the walker takes from the object's (``x.T``, ``x.data``): the rest are
their own bindings, or values it never ties to the object (``x.shape``)."""


def _reads(node: ast.AST, callables: frozenset[str] | set[str], libraries: frozenset[str] | set[str] = frozenset(),
           defined: frozenset[str] | set[str] = frozenset(), layout: bool = True) -> tuple[set[str], bool, bool]:
    """The names and dotted chains whose tensors can flow into the value of ``node`` (``self.k.T``
    reads ``self.k``), whether a producer's result can, and whether the result of a call of the
    module's own code can (``opens``: its facts come from another function).

    As in the walker, op-table calls pass their operands on (with ``layout``, not those whose
    result is always dense, ``ops.DENSE``: no layout goes through them, but whether the result is a
    tensor at all does), and so do calls of what may hold an ``nn`` module (a key in
    ``callables``) and calls of anything not imported (``libraries``: the imported names), which
    may be the module's own functions; a library call gives an unknown value, but an instance of a
    class of the module (a name in ``defined``) may sit in its arguments
    (``nn.ModuleList([Block()])``). An attribute is its own binding, or a value the walker does not take from the object (``x.shape``), except those
    in ``_THROUGH``.
    """
    keys: set[str] = set()
    produces = opens = False
    stack = [node]
    while stack:
        sub = stack.pop()
        if isinstance(sub, ast.Call):
            func = sub.func
            if isinstance(func, ast.Attribute) and func.attr in _OP_NAMES:
                formats = any(k.arg == "memory_format" for k in sub.keywords)  # ``x.to(memory_format=...)``
                if layout and func.attr in DENSE and dotted(func) not in callables and not formats:
                    continue  # a new dense tensor, whatever went in
                produces = produces or func.attr in _PRODUCER_NAMES or formats
                stack.append(func.value)
            elif dotted(func) in callables:
                stack.append(func)  # what it holds: an nn module, or an instance of the module's own class
            else:
                root = _root(func)
                # a library module whose output can be non-contiguous: ``nn.GRU(..., batch_first=True)``
                # built here (and called: ``nn.GRU(...)(x)``) or bound to a name read here
                produces = produces or _module_name(sub) in _PRODUCING_MODULES or (
                    isinstance(func, ast.Call) and _module_name(func) in _PRODUCING_MODULES
                )
                if root is not None and root in libraries:
                    # a library's function: the walker knows nothing of its result, unless it holds
                    # the module's own classes (nn.ModuleList([Block(c) for _ in range(n)]))
                    opens = opens or any(isinstance(n, ast.Name) and n.id in defined for n in walk(sub))
                    continue
                opens = True
                if isinstance(func, ast.Attribute):
                    stack.append(func.value)
            stack.extend(sub.args)
            stack.extend(k.value for k in sub.keywords)
            continue
        if isinstance(sub, ast.Name):
            keys.add(sub.id)
            opens = opens or sub.id in defined
            produces = produces or sub.id in _BARE_NAMES
        elif isinstance(sub, ast.Attribute):
            produces = produces or sub.attr in _PRODUCER_NAMES
            key = dotted(sub)
            if key is not None:
                keys.add(key)
            if sub.attr in _THROUGH:
                stack.append(sub.value)
            continue  # `x.shape`, `self.proj`: its own binding, or a value the walker never ties to `x`
        elif isinstance(sub, ast.Subscript):
            produces = produces or _apart(sub)
        stack.extend(children(sub))
    return keys, produces, opens


def _class_constant(stmt: ast.stmt) -> bool:
    """``dimension = 4`` in a class body: one name bound to a constant."""
    return (
        isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)
        and (isinstance(stmt.value, ast.Constant) or isinstance(stmt.value, ast.UnaryOp) and isinstance(stmt.value.operand, ast.Constant))
    )


def _module_name(call: ast.Call) -> str | None:
    """``nn.GRU`` in ``nn.GRU(...)``: the last name of what is called."""
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None


def _root(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Call, ast.Subscript)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _bound(target: ast.AST) -> set[str]:
    """What an assignment to ``target`` rebinds (``a[i] = ...`` counts as rebinding ``a``)."""
    if isinstance(target, (ast.Tuple, ast.List)):
        return {key for element in target.elts for key in _bound(element)}
    if isinstance(target, ast.Starred):
        return _bound(target.value)
    while isinstance(target, ast.Subscript):
        target = target.value
    key = dotted(target)
    return {key} if key is not None else set()


class _Scan:
    """One pass over a subtree: its depth, its bindings, its ``.view`` receivers and its loops."""

    __slots__ = ("too_deep", "pairs", "receivers", "apart", "loops", "copies")

    def __init__(self, root: ast.AST) -> None:
        self.too_deep = False
        self.pairs: list[tuple[set[str], ast.AST, Position]] = []
        """(keys bound, value, where the binding takes effect) of every binding form,
        ``self.register_buffer`` included."""
        self.receivers: list[ast.AST] = []
        self.apart = False
        self.loops: list[tuple[Position, Position]] = []
        """Spans of the loops and comprehensions: a binding in one reaches all of it."""
        self.copies: set[int] = set()
        """ids of the values bound to one name or attribute as they are (``y = x``, not ``a, b = x``)."""
        receivers = self.receivers
        level: list[Any] = [root]
        depth = 0
        while level:  # level by level: the depth comes for free
            if depth > MAX_DEPTH:
                self.too_deep = True
                return
            below: list[Any] = []
            push, extend = below.append, below.extend
            for node in level:
                kind = type(node)
                if kind in _LEAVES:
                    continue
                # the commonest nodes with children first, their children pushed directly
                if kind is ast.Attribute:
                    push(node.value)
                    continue
                if kind is ast.Call:
                    func = node.func
                    if type(func) is ast.Attribute:
                        if func.attr in ("view", "view_as"):
                            receivers.append(func.value)
                        elif func.attr == "register_buffer" and (buffer := _buffer_name(node)):
                            self.pairs.append(({"self." + buffer}, node.args[1], _end(node)))
                        elif func.attr == "append" and len(node.args) == 1 and (grown := dotted(func.value)):
                            # ``outputs.append(h)``, ``self.convs.append(conv)``: the walker's list holds what went in
                            self.pairs.append(({grown}, node.args[0], _end(node)))
                    push(func)
                    extend(node.args)
                    extend(node.keywords)
                    continue
                if kind is ast.keyword:
                    push(node.value)
                    continue
                fields = CHILD_FIELDS.get(kind)
                if fields is None:
                    continue  # not a node
                if kind in _RECORDED:
                    self._record(node, kind)
                for name in fields:
                    child = getattr(node, name, None)
                    if type(child) is list:
                        extend(child)
                    elif child is not None:
                        push(child)
            level = below
            depth += 1

    def _record(self, node: Any, kind: type) -> None:
        """What a node of :data:`_RECORDED` binds, or whether it slices apart, or the span of a loop."""
        if kind is ast.Subscript:
            if not self.apart:
                self.apart = _apart(node)
        elif kind is ast.Assign:
            self.pairs.extend((_bound(target), node.value, _end(node)) for target in node.targets)
            if len(node.targets) == 1 and type(node.targets[0]) in _SINGLE:
                self.copies.add(id(node.value))
        elif kind in _TARGETED:
            if node.value is not None:
                self.pairs.append((_bound(node.target), node.value, _end(node)))
                if kind is not ast.AugAssign and type(node.target) in _SINGLE:
                    self.copies.add(id(node.value))
        elif kind in _LOOPS:
            self.pairs.append((_bound(node.target), node.iter, _end(node.target)))
        elif kind is ast.withitem and node.optional_vars is not None:
            self.pairs.append((_bound(node.optional_vars), node.context_expr, _end(node.optional_vars)))
        if kind in _SPANS:
            self.loops.append((_start(node), _end(node)))


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
_SINGLE = (ast.Name, ast.Attribute)
_LOOPS = (ast.For, ast.AsyncFor, ast.comprehension)
_SPANS = (ast.For, ast.AsyncFor, ast.While, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
"""Loops and comprehensions: a binding anywhere in one can feed a read anywhere in it."""
_RECORDED = frozenset({ast.Subscript, ast.Assign, *_TARGETED, *_LOOPS, ast.withitem, *_SPANS})
"""What :class:`_Scan` records more of than its children."""


def _buffer_name(call: ast.Call) -> str | None:
    """``"k"`` of ``self.register_buffer("k", value)``."""
    if len(call.args) >= 2 and type(call.args[0]) is ast.Constant and type(call.args[0].value) is str:
        return call.args[0].value
    return None


class _Bindings:
    """The bindings of one function by key, with its loops."""

    __slots__ = ("values", "loops")

    def __init__(self, scan: _Scan) -> None:
        self.values: dict[str, list[tuple[ast.AST, Position, _Bindings | None]]] = {}
        """key -> (value, where it takes effect, the function whose bindings its reads see: None
        for this one, so that no cycle keeps the tree alive until the next full collection)."""
        self.loops = scan.loops
        for keys, value, at in scan.pairs:
            for key in keys:
                self.values.setdefault(key, []).append((value, at, None))

    def reach(self, at: Position, read: Position) -> bool:
        """Whether a binding taking effect at ``at`` can be seen by a read at ``read``."""
        return at <= read or any(start <= read and at <= end for start, end in self.loops)


def view_reach(
    scan: _Scan, init: _Scan | None = None, libraries: frozenset[str] | set[str] = frozenset(),
    defined: frozenset[str] | set[str] = frozenset(),
) -> tuple[bool, bool, bool]:
    """Whether a ``.view`` receiver can be reached by a producer's result, by the result of a call
    of the module's own code, and by a parameter (or other name the scanned code does not bind)."""
    return reach(scan, scan.receivers, init, libraries, defined)


def prior_only(scan: _Scan, receivers: list[ast.AST], init: _Scan | None = None) -> bool:
    """Whether each of ``receivers`` is a name or attribute chain (``model``, ``self.vae``) that only
    copies of other such chains are ever bound to (in the code ``scan`` read, or ``self.`` state in
    ``init``), in any order, also through :data:`_KIND_KEEPING` calls (``vae = vae.to(dtype)``):
    the walker then gives it the prior (a parameter, an attribute nothing says more about), or an
    unknown object, unless a caller's facts reach it."""
    values = _Bindings(scan).values
    copies = scan.copies
    if init is not None:
        values = {**values}
        for key, bindings in _Bindings(init).values.items():
            if key.startswith("self."):
                values[key] = values.get(key, []) + bindings
        copies = copies | init.copies
    seen: set[str] = set()
    stack = list(receivers)
    while stack:
        node = stack.pop()
        while type(node) is ast.Call and type(node.func) is ast.Attribute and node.func.attr in _KIND_KEEPING:
            node = node.func.value  # ``self.vae = self.vae.to(dtype)``: a module stays one, a tensor one
        key = dotted(node)
        if key is None:
            return False  # a call, an operator, a subscript: may make a tensor here
        parts = key.split(".")
        if any(part in _THROUGH for part in parts[1:]):
            return False  # ``x.T``: a tensor the walker computes from ``x``
        for end in range(1, len(parts) + 1):
            prefix = ".".join(parts[:end])  # ``lin.weight``: ``lin = nn.Linear(...)`` may give it facts
            if prefix in seen:
                continue
            seen.add(prefix)
            for value, _, _ in values.get(prefix, ()):
                if id(value) not in copies:
                    return False
                stack.append(value)
    return True


_KIND_KEEPING = MODULE_RETURNS_SELF & OUT_OF_PLACE
"""``to``, ``float``, ``half``...: a module's method that returns the module, a tensor's that returns
a tensor with the receiver's layout. The walker's prior stays the prior through them."""


def reach(
    scan: _Scan, receivers: list[ast.AST], init: _Scan | None = None, libraries: frozenset[str] | set[str] = frozenset(),
    defined: frozenset[str] | set[str] = frozenset(), layout: bool = True,
) -> tuple[bool, bool, bool]:
    """Whether ``receivers`` (expressions in the code ``scan`` read) can be reached by a producer's
    result, by the result of a call of the module's own code, and by a parameter (or other name the
    scanned code does not bind). With ``layout`` (a layout is followed: see :func:`_reads`), the
    first producer found answers all three; without, the producers are not looked for."""
    if not receivers:
        return False, False, False
    opens = unbound = False
    method = _Bindings(scan)
    callables: set[str] = set(method.values)  # what may hold an nn module: anything bound
    if init is not None:
        before = _Bindings(init)
        callables.update(before.values)
        for key, bindings in before.values.items():
            if key.startswith("self."):  # seen from the start of the method, as if bound first
                seeded = [(value, _BEFORE_ALL, owner or before) for value, _, owner in bindings]
                method.values.setdefault(key, []).extend(seeded)
    read_by: dict[int, tuple[set[str], bool]] = {}
    seen: set[tuple[str, Position, int]] = set()
    for receiver in receivers:
        reads, produces, outside = _reads(receiver, callables, libraries, defined, layout)
        if produces and layout:
            return True, True, True
        opens = opens or outside
        start = _start(receiver)
        stack = [(key, start, method) for key in reads]
        while stack:
            key, read, scope = stack.pop()
            if (key, read, id(scope)) in seen:
                continue
            seen.add((key, read, id(scope)))
            bound = False
            for value, at, owner in scope.values.get(key, ()):
                owner = owner or scope
                if not scope.reach(at, read):
                    continue  # bound after the read, and no loop brings it round
                bound = True
                if id(value) not in read_by:
                    read_by[id(value)] = _reads(value, callables, libraries, defined, layout)
                value_reads, produces, outside = read_by[id(value)]
                if produces and layout:
                    return True, True, True
                opens = opens or outside
                value_start = _start(value)
                stack.extend((k, value_start, owner) for k in value_reads)
            unbound = unbound or (not bound and key.split(".")[0] not in libraries)  # a parameter, a global
    return False, opens, unbound


MAX_DEPTH = 400
"""Deeper syntax trees are skipped: libcst's native parser can overflow its stack on them."""

_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
_COMPOUND = tuple(getattr(ast, name) for name in
                  ("If", "For", "AsyncFor", "While", "With", "AsyncWith", "Try", "TryStar") if hasattr(ast, name))


def might_match(source: str) -> bool:
    return any(trigger in source for trigger in TRIGGERS) or DISCARDED.search(source)


def discarded_calls(statements: list[ast.stmt], defs: bool = True) -> list[ast.Call]:
    """The calls TV301 can report in ``statements`` and the blocks under them (in nested defs and
    classes too, unless ``defs`` is off): an expression statement whose value is a call of a
    :data:`OUT_OF_PLACE` method. Only statements are visited: an expression holds none."""
    found: list[ast.Call] = []
    stack = list(statements)
    while stack:
        stmt = stack.pop()
        kind = type(stmt)
        if kind is ast.Expr:
            value = stmt.value  # type: ignore[attr-defined]
            if type(value) is ast.Call and type(value.func) is ast.Attribute and value.func.attr in OUT_OF_PLACE:
                found.append(value)
            continue
        if not defs and kind in _DEFINITIONS:
            continue
        for name in _BLOCK_FIELDS:
            block = getattr(stmt, name, None)
            if block:
                for item in block:
                    # except handlers and match cases hold their statements in a body of their own
                    stack.extend(item.body if type(item) in _BLOCK_HOLDERS else (item,))
    return found


_DEFINITIONS = frozenset({ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef})
_BLOCK_FIELDS = ("body", "orelse", "finalbody", "handlers", "cases")
_BLOCK_HOLDERS = frozenset({ast.ExceptHandler, *([ast.match_case] if hasattr(ast, "match_case") else [])})


def too_deep(tree: ast.AST) -> bool:
    return _Scan(tree).too_deep


_LONE_CR = re.compile(r"\r(?!\n)")


class _Selection:
    """Decides, statement by statement, what libcst sees. A function is kept when it can hold a
    finding (:meth:`candidate`), or when the interpreter needs it to give a candidate the facts a
    whole-module run gives it: everything that can call a candidate, and everything those call
    (:meth:`semantic.Semantic.closure`). Module-level code is walked in order with its own
    environment, so it is kept whole when any of it (outside defs) has a trigger or calls kept
    code; otherwise, like class-level statements (the walker reads only a class's methods), it is
    replaced by ``pass``. Imports go too: the semantic model has them from ``ast``."""

    def __init__(self, source: str, tree: ast.Module, model: Semantic) -> None:
        if "\r" in source:  # a lone CR ends a line for ``ast``: one character for another keeps the offsets
            source = _LONE_CR.sub("\n", source)
        self.source = source
        self.tree = tree
        self.model = model
        self.libraries = frozenset(model.imports)
        self.lines = source.split("\n")
        self.ends = list(accumulate(map(len, self.lines), initial=0))
        """Characters before each line, newlines not counted."""
        self.cuts: dict[int, tuple[int, bool]] = {}
        """first 1-based line -> (last line, whether a ``pass`` stands in): lines libcst never sees."""
        self.too_deep = False
        self.kept: set[str] = set()
        self.scope: set[str] = set()
        """Units between which facts flow (calls evaluated, call-site facts to parameters)."""
        self.seeded: set[str] = set()
        """``__init__``s kept only to seed their class's methods with ``self.`` state."""
        self.trimmable: dict[str, tuple[str, ...]] = {}
        """Functions cut after their last site (see :meth:`trim`) -> the names of the helpers they
        call that lead to sites (:meth:`leads_to_sites`), whose calls are kept too."""
        self._potential: bool | None = None
        self._scans: dict[int, _Scan] = {}
        self._spans: dict[int, tuple[int, int]] = {}
        self._statement_calls: list[int] | None = None

    def start(self, line: int) -> int:
        """Offset of the first character of 1-based ``line`` (one past the end for the last + 1)."""
        return self.ends[line - 1] + line - 1

    def span(self, node: ast.AST) -> tuple[int, int]:
        """Offsets of the whole lines ``node`` spans (decorators included); asked for ~2.5 times
        per node, by every text search in it."""
        found = self._spans.get(id(node))
        if found is None:
            decorators = getattr(node, "decorator_list", ())
            first = min([node.lineno] + [d.lineno for d in decorators])  # type: ignore[attr-defined]
            found = self.start(first), self.start(node.end_lineno + 1)  # type: ignore[attr-defined]
            self._spans[id(node)] = found
        return found

    def has(self, node: ast.AST, *texts: str) -> bool:
        start, end = self.span(node)
        return any(self.source.find(text, start, end) != -1 for text in texts)

    def scan(self, node: ast.AST) -> _Scan:
        """The data-flow scan of a function, once for both rules."""
        if id(node) not in self._scans:
            self._scans[id(node)] = _Scan(node)
        return self._scans[id(node)]

    def keep(self, node: ast.AST) -> None:
        self.too_deep = self.too_deep or self.scan(node).too_deep

    def potential(self) -> bool:
        """Whether anything in the file can make a tensor non-contiguous: a producer op, a module
        that returns a non-contiguous output, or slicing apart."""
        if self._potential is None:
            self._potential = bool(
                PRODUCER.search(self.source) or MODULE_PRODUCER.search(self.source)
                or ("[" in self.source and slices_apart(self.tree))
            )
        return self._potential

    def candidate(
        self, node: ast.stmt, init: _Scan | None = None, init_produces: bool = False, called: bool = False
    ) -> tuple[bool, bool]:
        """Whether ``node`` can hold a finding on its own facts, and whether it can with facts from
        other functions. On its own: ``masked_fill``, a TV301 site, or a ``.view`` whose receiver a
        producer in it (or in ``init``, its class's ``__init__``) can reach. With others' facts (for
        a ``.view``, when the file can make a tensor non-contiguous at all): a receiver that a call
        of the module's code can reach, or a parameter when the module calls ``node`` (``called``;
        else the prior holds)."""
        if self.has(node, "masked_fill"):
            return True, True
        own, shared = self.view_candidate(node, init, init_produces, called)
        if shared or not self.has_statement_call(node):
            return own, shared
        sites = discarded_calls(node.body)  # type: ignore[attr-defined]
        if not sites:
            return own, shared
        receivers = [call.func.value for call in sites]  # type: ignore[attr-defined]
        scan = self.scan(node)
        if prior_only(scan, receivers, init):
            # a tensor only by a caller's argument (``model.to(device)``: the prior is not one); the
            # ``self.`` state a caller may leave (``self.vae.to(dtype)``) is not followed: it would put
            # most methods of a pipeline class in the scope for the rare tensor attribute
            return own, called and any(_root(r) not in ("self", "cls") for r in receivers)
        # the facts that make a receiver a tensor, not its layout: no producer needed
        _, opens, unbound = reach(scan, receivers, init, self.libraries, set(self.model.top_level), layout=False)
        return True, opens or (unbound and called)

    def has_statement_call(self, node: ast.AST) -> bool:
        """Whether ``node``'s lines hold text :data:`DISCARDED` lets in (found once per file)."""
        if self._statement_calls is None:
            self._statement_calls = list(DISCARDED.finditer(self.source))
        start, end = self.span(node)
        at = bisect_left(self._statement_calls, start)
        return at < len(self._statement_calls) and self._statement_calls[at] < end

    def view_candidate(
        self, node: ast.stmt, init: _Scan | None, init_produces: bool, called: bool
    ) -> tuple[bool, bool]:
        """:meth:`candidate` for TV101 alone."""
        if not self.has(node, ".view"):
            return False, False
        start, end = self.span(node)
        if not init_produces and not self.potential() and PRODUCER.search(self.source, start, end) is None:
            if self.source.find("[", start, end) == -1:
                return False, False
            scan = self.scan(node)
            if not scan.apart:
                return False, False  # no producer at all: a cheap no before the data flow
        else:
            scan = self.scan(node)
        produces, opens, unbound = view_reach(scan, init, self.libraries, set(self.model.top_level))
        return produces, produces or ((opens or (unbound and called)) and self.potential())

    def decide(self) -> None:
        """The units to keep, and the scope where facts cross function boundaries.

        Every candidate's call-graph closure joins the scope, unless what it adds spans more than
        ``SCOPE_LINES`` lines in a module of more than ``SMALL_MODULE_LINES``: then that candidate
        is checked on its own facts, as if the module had no other function (big model files would
        otherwise be parsed whole). The interpreter gets the same scope in a whole-file run, so
        what is cut cannot change a finding."""
        alone: set[str] = set()
        seeds: set[str] = set()
        inits: dict[str, tuple[_Scan | None, bool]] = {}
        callers = self.model.callers()
        for qualname, node in self.model.functions.items():
            if not self.has_site(node):
                continue  # no site: not a candidate (the scope may still take it in)
            klass = qualname.rpartition(".")[0]
            init_scan, init_produces = None, False
            if klass in self.model.classes and node.name != "__init__":
                if klass not in inits:
                    init = self.model.method(klass, "__init__")
                    found: tuple[_Scan | None, bool] = (None, False)
                    if init is not None:
                        init_node = self.model.functions[init]
                        init_start, init_end = self.span(init_node)
                        scan = self.scan(init_node)
                        found = (scan, scan.apart or PRODUCER.search(self.source, init_start, init_end) is not None)
                    inits[klass] = found
                init_scan, init_produces = inits[klass]
            own, shared = self.candidate(node, init_scan, init_produces, bool(callers.get(qualname)))
            if own:
                alone.add(qualname)
            if shared:
                seeds.add(qualname)
        module_code = self.module_code_triggers(self.tree.body)
        if module_code:
            seeds.add(MODULE)
        helped: set[str] = set()
        for seed in sorted(seeds):
            if seed in self.scope:
                continue
            closure = self.model.closure([seed])
            budget = MASK_SCOPE_LINES if self.fills(seed) else SCOPE_LINES
            if len(self.lines) <= SMALL_MODULE_LINES:
                budget = len(self.lines)
            if self.model.lines(closure - self.scope - {seed}) <= budget:  # what it adds
                self.scope |= closure
            elif seed in alone:
                # too much: its callers then give no facts, but its helpers still give their
                # results (``self.transpose_for_scores(x)`` in a long model's attention)
                helped.add(seed)
                self.scope |= self.helpers(seed)
        if module_code:
            alone.add(MODULE)
        for qualname in (alone - self.scope) | helped:  # on their own facts: a method starts from __init__
            init = self.model.method(qualname.rpartition(".")[0], "__init__")
            if init is not None:
                self.seeded.add(init)
        self.kept = self.scope | alone | self.seeded
        for qualname in alone:
            if not callers.get(qualname, set()) & self.scope:  # nothing in scope reads its return
                helpers = self.model.calls.get(qualname, set()) & self.scope
                # a helper that leads to sites keeps its call: this caller's facts are their context
                self.trimmable[qualname] = tuple(sorted({
                    h.rpartition(".")[2] for h in helpers if not h.endswith(".__init__") and self.leads_to_sites(h)
                }))

    def fills(self, unit: str) -> bool:
        """Whether ``unit`` is a function with ``masked_fill`` in it."""
        node = self.model.functions.get(unit)
        return node is not None and self.has(node, "masked_fill")

    def has_site(self, node: ast.AST) -> bool:
        """Whether ``node``'s text can hold a site of any rule (a ``.view``, ``masked_fill``, a TV301 call)."""
        return self.has(node, *TRIGGERS) or self.has_statement_call(node)

    def leads_to_sites(self, unit: str) -> bool:
        """Whether ``unit``, or a unit of the scope it can evaluate, can hold a site."""
        reached = self.model.reach([unit]) & (self.scope | {unit})
        return any(self.has_site(node) for node in map(self.model.functions.get, reached) if node is not None)

    def helpers(self, seed: str) -> set[str]:
        """``seed`` and the functions it calls directly, shortest first, as far as ``SCOPE_LINES``
        goes: what gives its calls' results their facts (``self.transpose_for_scores(x)``). Then,
        when ``seed`` has one caller that passes it results of the module's own functions, that
        caller and those functions, if they fit in what is left: its arguments then have facts.
        On the benchmark's 30 % candidates that adds 1.5 % to the code libcst parses; every caller
        with all it calls would add a quarter. Of the ``__init__``s it calls, only a method's own
        is among them when the method fills out of place, with what that one calls (the submodules
        it builds), in the same budget."""
        taken, spent = {seed}, 0
        callees = [c for c in self.model.calls.get(seed, ()) if not c.endswith(".__init__")]
        init = self.model.method(seed.rpartition(".")[0], "__init__") if "." in seed else None
        if init is not None and init != seed and self.fills(seed):
            # ``logits = self.scorer(q, k)`` runs the forward of the module the class's ``__init__``
            # stored there, whose output's rank an out-of-place fill of it needs: the call graph goes
            # to it through that ``__init__``, which then must be in the scope too, or what it builds
            # has no facts. Not for views: on the corpora no view needed it, and it parses 7 % more
            taken.add(init)
            callees += [c for c in self.model.calls.get(init, ()) if c not in callees and c != seed]
        for callee in sorted(callees, key=lambda c: (self.model.lines([c]), c)):
            cost = 0 if callee in self.scope else self.model.lines([callee])
            if spent + cost > SCOPE_LINES:
                break
            taken.add(callee)
            spent += cost
        callers = self.model.callers().get(seed, set())
        if len(callers) == 1:
            # its one caller, with the functions whose results that caller hands to ``seed``
            # (MobileViT's ``forward`` passes ``folding`` what ``unfolding`` returned)
            caller = next(iter(callers))
            node = self.model.functions.get(caller)
            if node is not None:
                fed = _feeding(node, seed.rpartition(".")[2])
                feeders = {c for c in self.model.calls.get(caller, ()) if c.rpartition(".")[2] in fed}
                group = {caller} | feeders
                # without a feeder, and without a producer of its own reaching what it passes
                # (TGI's GPT-NeoX ``forward`` hands ``_attn`` the heads its ``permute`` and ``split``
                # made), the caller hands over its own parameters: the prior again
                handed = feeders or self.produces_arguments(node, seed.rpartition(".")[2])
                if handed and spent + self.model.lines(group - taken - self.scope) <= SCOPE_LINES:
                    taken |= group
        return taken

    def produces_arguments(self, caller: ast.AST, callee: str) -> bool:
        """Whether a producer in ``caller`` can reach an argument of one of its calls of ``callee``."""
        calls = [n for n in walk(caller) if isinstance(n, ast.Call) and _module_name(n) == callee]
        arguments = [a for call in calls for a in [*call.args, *(k.value for k in call.keywords)]]
        return reach(self.scan(caller), arguments, None, self.libraries, set(self.model.top_level))[0]

    def module_code_triggers(self, statements: list[ast.stmt]) -> bool:
        """Whether module-level code outside function and class bodies has a trigger or a TV301 site."""
        for stmt in statements:
            if isinstance(stmt, (*_FUNCTIONS, ast.ClassDef)):
                continue
            if isinstance(stmt, _COMPOUND):
                if any(self.has(h, *TRIGGERS) for h in _header(stmt) if hasattr(h, "lineno")):
                    return True
                if any(self.module_code_triggers(block) for block in blocks(stmt)):
                    return True
            elif self.has(stmt, *TRIGGERS) or (self.has_statement_call(stmt) and discarded_calls([stmt], defs=False)):
                return True
        return False

    def module(self) -> None:
        self.decide()
        self.body(self.tree.body, module_code=MODULE in self.kept)

    def body(self, statements: list[ast.stmt], module_code: bool) -> None:
        self.filled = False  # a block needs one statement left: the first cut one becomes `pass`
        for stmt in statements:
            if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                if not self.drop(stmt):
                    self.keep(stmt)
            elif _is_docstring(stmt):
                pass  # a string: nothing to parse deeply, and `from __future__` may follow it
            elif isinstance(stmt, _FUNCTIONS):
                if stmt.name in self.kept:
                    self.function(stmt, stmt.name)
                elif module_code or not self.drop(stmt):
                    self.stub(stmt)  # module code may read its name
            elif isinstance(stmt, ast.ClassDef):
                if not module_code and not any(q.startswith(stmt.name + ".") for q in self.kept) \
                        and not self.constructed(stmt) and self.drop(stmt):
                    continue
                self.klass(stmt, stmt.name + ".")
            elif not module_code and self.drop(stmt):
                continue
            elif isinstance(stmt, _COMPOUND):
                for header in _header(stmt):
                    self.keep(header)
                for block in blocks(stmt):
                    self.body(block, module_code)
            else:
                self.keep(stmt)
            self.filled = True

    def dataclass(self, node: ast.ClassDef) -> bool:
        return any(self.model.qualify(dotted(d.func if isinstance(d, ast.Call) else d)) == "dataclasses.dataclass"
                   for d in node.decorator_list)

    def constructed(self, node: ast.ClassDef) -> bool:
        """A ``@dataclass`` whose name a kept function reads: the walker builds its instances from
        the fields its generated ``__init__`` binds (``Params(attn_func=f)``), so they stay."""
        if not self.dataclass(node):
            return False
        named = re.compile(rf"\b{re.escape(node.name)}\b")
        for qualname in self.kept:
            unit = self.model.functions.get(qualname)
            if unit is not None and named.search(self.source, *self.span(unit)):
                return True
        return False

    def function(self, node: ast.FunctionDef | ast.AsyncFunctionDef, qualname: str) -> None:
        self.keep(node)
        if qualname in self.trimmable:
            self.trim(node, self.trimmable[qualname])

    def klass(self, node: ast.ClassDef, prefix: str) -> None:
        for header in [*node.decorator_list, *node.bases, *node.keywords]:
            self.keep(header)
        self.filled = False
        fields = self.dataclass(node)
        for stmt in node.body:
            if isinstance(stmt, _FUNCTIONS) and prefix + stmt.name in self.kept:
                self.function(stmt, prefix + stmt.name)
            elif isinstance(stmt, ast.ClassDef):
                self.klass(stmt, prefix + stmt.name + ".")
            elif _class_constant(stmt):
                self.keep(stmt)  # ``dimension = 4``: the walker reads it as ``self.dimension``
            elif fields and isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                self.keep(stmt)  # ``attn_func: Callable = torch_attn``: the generated ``__init__`` binds it
            elif not self.drop(stmt):  # not read by the walker, or cannot hold a finding
                self.stub(stmt) if isinstance(stmt, _FUNCTIONS) else self.keep(stmt)
            self.filled = True

    def trim(self, function: ast.FunctionDef | ast.AsyncFunctionDef, helpers: tuple[str, ...] = ()) -> None:
        """Cut the statements of a kept function after its last ``.view`` or TV301 site, or its last
        call of one of ``helpers`` (helpers that lead to sites, which this call gives their facts):
        the walker goes forward, so nothing after that can change a fact it sees. Not with
        ``masked_fill``: TV201 looks at every later use of a mask."""
        if self.has(function, "masked_fill"):
            return
        body = function.body
        last = max((i for i, stmt in enumerate(body)
                    if self.has(stmt, ".view") or self.site_in(stmt) or (helpers and self.has(stmt, *helpers))),
                   default=len(body) - 1)
        self.filled = True
        for stmt in body[last + 1 :]:
            self.drop(stmt)

    def site_in(self, stmt: ast.stmt) -> bool:
        """Whether ``stmt`` holds a TV301 site (a nested def's too: the walker evaluates it)."""
        return self.has_statement_call(stmt) and bool(discarded_calls([stmt]))

    def drop(self, stmt: ast.stmt) -> bool:
        """Replace the whole statement by ``pass``, if it has its lines to itself."""
        first = _first_line(stmt)
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
        line = _first_line(first)  # a decorated nested def starts at its decorator
        head = self.lines[line - 1].encode()
        if line == first.lineno and head[: first.col_offset].strip():
            for stmt in node.body:  # `def f(): return x`: the body shares the header's line
                self.keep(stmt)
            return
        self.cuts[line] = (node.body[-1].end_lineno, True)  # type: ignore[assignment]


def _feeding(function: ast.AST, callee: str) -> set[str]:
    """Names of the functions whose results ``function`` binds to a name it then passes to
    ``callee`` (``p, info = self.unfolding(x)`` then ``self.folding(p, info)``: ``unfolding``)."""
    passed: set[str] = set()
    made: dict[str, set[str]] = {}
    for node in walk(function):
        if isinstance(node, ast.Call) and _module_name(node) == callee:
            passed.update(a.id for a in [*node.args, *(k.value for k in node.keywords)] if isinstance(a, ast.Name))
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            name = _module_name(node.value)
            if name is not None:
                for target in node.targets:
                    for bound in _bound(target):
                        made.setdefault(bound, set()).add(name)
    return {name for key in passed for name in made.get(key, ())}


def _is_docstring(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)


def _header(stmt: ast.stmt) -> list[ast.AST]:
    """The expressions of a compound statement outside its blocks."""
    inside = {id(s) for block in blocks(stmt) for s in block}
    return [child for child in ast.iter_child_nodes(stmt) if id(child) not in inside
            and not isinstance(child, ast.ExceptHandler)] + [
        h.type for h in getattr(stmt, "handlers", ()) if h.type is not None]


@dataclass(frozen=True)
class Pruned:
    """What libcst parses: the kept code, without blank, comment or cut lines."""

    text: str
    lines: list[int] | None
    """The original line of each line of ``text`` (None: the same lines)."""
    tops: list[int]
    """The line in ``text`` where each top-level statement left starts."""
    scope: frozenset[str] = frozenset()
    """The units between which facts flow (see :meth:`_Selection.decide`)."""


def whole(source: str, tree: ast.Module, model: Semantic | None = None) -> Pruned | None:
    """All of ``source`` (fixes rewrite the module), with the scope a preselected run has; None
    when it nests too deep for libcst."""
    if too_deep(tree):
        return None
    selection = _Selection(source, tree, model or build(tree))
    selection.decide()
    return Pruned(source, None, [_first_line(s) for s in tree.body], frozenset(selection.scope))


def preselect(source: str, tree: ast.Module, model: Semantic | None = None) -> Pruned | None:
    """The parts of ``source`` that can hold a finding, line for line (the rest cut, or a ``pass``
    where a block needs a statement); None when they nest too deep for libcst."""
    if "\r" in source.replace("\r\n", ""):
        return whole(source, tree, model)  # a lone CR ends a line for Python but not for our split
    selection = _Selection(source, tree, model or build(tree))
    selection.module()
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
    return Pruned("\n".join(out) + "\n", origin, tops, frozenset(selection.scope))


def _first_line(stmt: ast.stmt) -> int:
    return min([stmt.lineno] + [d.lineno for d in getattr(stmt, "decorator_list", ())])
