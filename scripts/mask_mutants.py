"""Torch-truth mutant evaluation of TV201 on real transformers model code.

TV201 reports a redundant leading insertion chain on a mask given to ``masked_fill``: dims added in
front of the mask (``m.unsqueeze(0).unsqueeze(0)``, ``m[None, None]``, ``m[None, :, :]``,
``m.view(1, 1, t, t)``, ``torch.unsqueeze(m, 0)``) that broadcasting from the trailing dims adds
anyway.

Candidates are decided from ``ast`` alone, not from the linter. In each family's modeling file
(``transformers/models/<dir>/modeling_<dir>.py``) a candidate is a chain of *leading* insertion
steps (``.unsqueeze(0)``/``.unsqueeze(dim=0)``, ``torch.unsqueeze(x, 0)``, a subscript whose first
items are ``None``, ``.view``/``.reshape`` whose first sizes are the literal ``1``; consecutive steps
make one chain) whose value reaches the ``mask`` argument of ``x.masked_fill``/``x.masked_fill_``/
``torch.masked_fill``:

- in the same function, directly or through wrappers that keep the broadcasting (``~``/``not``, a
  one-operator comparison, ``&``/``|``/``^``, ``a if c else b``, ``.bool()``/``.to(...)``/``.float()``
  and the other dtype casts, ``.logical_not()``, ``.detach()``/``.clone()``/``.contiguous()``), more
  leading steps, and simple ``name = expr`` assignments that reach the use (a later unconditional
  assignment in an enclosing block kills an earlier one; loops are not modelled);
- across functions of the file: a function *fills with* a parameter when the parameter reaches a
  fill's mask as above, or is passed to a parameter another function fills with; a chain passed as
  that argument is a candidate. Calls are resolved simply: module-level functions by name (and
  local aliases of them, e.g. ``attention_interface = ...get_interface(..., eager_attention_forward)``),
  ``self.method(...)`` within the class and its in-file bases, ``self.sub(...)``/``for layer in
  self.layers: layer(...)`` to ``forward`` of the in-file classes constructed in ``self.sub = ...``.
  Return values are not followed (a helper that *returns* a chain is not a candidate), nor masks
  stored on objects.

``[:, None, None, :]`` inserts non-leading dims: it is no candidate (nor is ``x.unsqueeze(1)``).

The families are found, not listed: every ``models/<dir>/modeling_<dir>.py`` with a candidate or a
TV201 finding (files without ``masked_fill`` are not read further). Each needs a tiny config: those of
``scripts/mutants.py``'s ``FAMILIES`` (base model, its inputs) are used as they are, and ``SPECS``
below adds the families that hold candidates in transformers 5.23.0 (text models get 16 tokens, more
than the compression rates and index blocks of their configs, and run again without an attention
mask; Bros runs its two SPADE heads with labels, PP-DocLayoutV2 its reading-order model). A file with
candidates and no config is listed as skipped.

The mutant of a candidate removes the whole chain, line numbers kept: ``m.unsqueeze(0).unsqueeze(0)``
-> ``m``, ``m[None, None, :, :]`` -> ``m[:, :]``, ``m.view(1, 1, t, t)`` -> ``m.view(t, t)``,
``torch.unsqueeze(m, 0)`` -> ``m``. It is loaded in place of the real module as in
``scripts/mutants.py`` (whose families, tiny configs, inputs, module loader, tracer and linter cache
this script imports), and the tiny model is built with the same seed and run on CPU under
``torch.no_grad()`` with batch 2 and sizes above 1 (but DeepSeek-V4's one key/value head, and
position ids of batch 1 where a model makes its own), one row padded: with eager attention,
and again with SDPA where the model has it; the runs ask for the hidden states, and eager ones for the
attention maps, too (where the model takes them).

Truth comes from torch alone:

- REDUNDANT: the chain ran in an unmutated run (the instruction of its outermost op executed, traced
  as in ``scripts/mutants.py``) and every output of every mutant run (each tensor of the model output,
  cache included) is ``torch.equal`` to the unmutated run's (same shape, dtype and values; NaN equal to
  NaN).
- NECESSARY: a mutant run raises, or an output differs.
- UNVERIFIED: the chain never ran (counted apart; its mutant is not run).

The unmutated file runs twice per model and variant first; one whose two runs differ is left out. A
sensitivity control backs each verdict: the masks of the fills a candidate reaches are inverted
(``m`` -> ``(m).logical_not()``); when no output changes then, the outputs do not depend on those fills
and "redundant" says little (the report counts the redundant candidates whose control changed an
output).

Scored against the TV201 findings of ``lint_source`` on the *unmodified* file (a finding matches a
candidate whose chain ends where the finding's node ends, else one on whose lines it lies): TP a
redundant candidate with a finding, FN a redundant candidate without one, FP a finding on a necessary
candidate (TN: a necessary one without). A finding that matches no candidate is mutated the same way
when the node it reports is a leading chain: FP when torch shows it necessary, "redundant, not a
candidate" when torch shows it redundant, "unmutatable" otherwise. Findings on unverified chains are
counted apart.

Setup: the venv of ``scripts/mutants.py`` (see its docstring; torch pinned on every line).

Run (about a minute on one core, half of it the scan; one process, one torch thread):

    .corpora/.venvs/mutants/bin/python scripts/mask_mutants.py                  # every family
    .corpora/.venvs/mutants/bin/python scripts/mask_mutants.py --families bros --variants eager
    .corpora/.venvs/mutants/bin/python scripts/mask_mutants.py --scan           # candidates only

Prints the summary and every FN and FP; writes every row to ``.corpora/mask_mutants/results.json``.
Exits 0 whatever the score.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import json
import re
import sys
import time
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mutants as M  # noqa: E402  (scripts/mutants.py: families, configs, inputs, loader, tracer)

ROOT = M.ROOT
OUT = ROOT / ".corpora" / "mask_mutants"
CODE = "TV201"
VARIANTS = M.VARIANTS
FILLS = ("masked_fill", "masked_fill_")
CASTS = {"bool", "to", "float", "double", "half", "long", "int", "byte", "type", "type_as", "logical_not",
         "detach", "clone", "contiguous"}
"""Methods through which a mask's broadcasting is followed."""
Key = tuple[int, int]
"""(end line, UTF-8 byte end column) of a node: what CPython's instruction positions give too."""


# ---- leading insertion steps ----------------------------------------------------------------------


def _const(node: ast.AST, value: object) -> bool:
    return isinstance(node, ast.Constant) and type(node.value) is type(value) and node.value == value


def _is_torch(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and node.id == "torch"


@dataclass(frozen=True)
class Step:
    """One op that inserts leading size-1 dims: ``node`` applied to ``operand``."""

    node: ast.expr
    operand: ast.expr
    kind: str
    cuts: tuple[tuple[tuple[int, int], tuple[int, int]], ...]
    """Spans of source to remove, each ((line, byte col), (line, byte col)): what the mutant drops."""


def _start(node: ast.AST) -> tuple[int, int]:
    return node.lineno, node.col_offset  # type: ignore[attr-defined]


def _end(node: ast.AST) -> tuple[int, int]:
    return node.end_lineno, node.end_col_offset  # type: ignore[attr-defined]


def leading_step(node: ast.AST) -> Step | None:
    """``node`` as a leading insertion step, or None."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        attr, owner = node.func.attr, node.func.value
        if attr == "unsqueeze" and not _is_torch(owner):
            dims = list(node.args) + [k.value for k in node.keywords if k.arg == "dim"]
            if len(dims) == 1 and _const(dims[0], 0):
                return Step(node, owner, ".unsqueeze(0)", ((_end(owner), _end(node)),))
        if attr == "unsqueeze" and _is_torch(owner) and node.args:
            operand = node.args[0]
            dims = list(node.args[1:]) + [k.value for k in node.keywords if k.arg == "dim"]
            if len(dims) == 1 and _const(dims[0], 0) and not isinstance(operand, ast.Starred):
                return Step(node, operand, "torch.unsqueeze(x, 0)",
                            ((_start(node), _start(operand)), (_end(operand), _end(node))))
        if attr in ("view", "reshape") and not _is_torch(owner) and not node.keywords and node.args:
            sizes = node.args
            if len(sizes) == 1 and isinstance(sizes[0], (ast.Tuple, ast.List)):
                sizes = sizes[0].elts
            ones = 0
            while ones < len(sizes) and _const(sizes[ones], 1):
                ones += 1
            if ones == 0:
                return None
            if ones == len(sizes):
                return Step(node, owner, f".{attr}(1, ...)", ((_end(owner), _end(node)),))
            return Step(node, owner, f".{attr}(1, ...)", ((_start(sizes[0]), _start(sizes[ones])),))
    if isinstance(node, ast.Subscript):
        items = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        nones = 0
        while nones < len(items) and _const(items[nones], None):
            nones += 1
        if nones == 0:
            return None
        if nones == len(items):
            return Step(node, node.value, "[None, ...]", ((_end(node.value), _end(node)),))
        return Step(node, node.value, "[None, ...]", ((_start(items[0]), _start(items[nones])),))
    return None


def chain_at(node: ast.AST) -> list[Step]:
    """The leading steps whose outermost is ``node``, outermost first (empty if ``node`` is none)."""
    steps = []
    step = leading_step(node)
    while step is not None:
        steps.append(step)
        step = leading_step(step.operand)
    return steps


# ---- functions, names and calls -------------------------------------------------------------------


Func = ast.FunctionDef | ast.AsyncFunctionDef


@dataclass
class FuncInfo:
    node: Func
    qualname: str
    cls: str | None
    params: list[str]
    """Positional parameters in order (``self``/``cls`` included)."""
    bound: bool
    """Called through an instance (a method that is not a staticmethod): the first parameter is
    supplied by the call."""
    statements: list[ast.stmt] = field(default_factory=list)
    """Every statement of the body, nested blocks included, nested functions and classes not."""
    place: dict[int, list[tuple[list[ast.stmt], int]]] = field(default_factory=dict)
    """id(statement) -> [(block, index)] from the statement's own block out to the body."""
    defs: dict[str, list[tuple[ast.stmt, ast.expr]]] = field(default_factory=dict)
    """name -> its simple assignments ``name = expr`` (and ``for name in expr``, kind "for")."""
    loop_vars: dict[str, list[ast.expr]] = field(default_factory=dict)


def _blocks(stmt: ast.stmt) -> Iterator[list[ast.stmt]]:
    for name in ("body", "orelse", "finalbody"):
        block = getattr(stmt, name, None)
        if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
            yield block
    for handler in getattr(stmt, "handlers", ()):
        yield handler.body
    for case in getattr(stmt, "cases", ()):
        yield case.body


def _index(info: FuncInfo, block: list[ast.stmt], outer: list[tuple[list[ast.stmt], int]]) -> None:
    for i, stmt in enumerate(block):
        place = [(block, i), *outer]
        info.place[id(stmt)] = place
        info.statements.append(stmt)
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None:
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    info.defs.setdefault(target.id, []).append((stmt, stmt.value))
        if isinstance(stmt, (ast.For, ast.AsyncFor)) and isinstance(stmt.target, ast.Name):
            info.loop_vars.setdefault(stmt.target.id, []).append(stmt.iter)
        for inner in _blocks(stmt):
            _index(info, inner, place)


class Module:
    """The functions and classes of one file, and what ``self.x`` holds."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tree = ast.parse(text)
        self.functions: dict[str, FuncInfo] = {}
        """Module-level functions by name."""
        self.classes: dict[str, ast.ClassDef] = {}
        self.methods: dict[str, dict[str, FuncInfo]] = {}
        self.all: list[FuncInfo] = []
        self.attrs: dict[str, dict[str, list[ast.expr]]] = {}
        """class -> attribute -> values assigned to ``self.attribute`` in its methods."""
        for node in self.tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self.functions[node.name] = self._add(node, node.name, None)
            elif isinstance(node, ast.ClassDef):
                self.classes[node.name] = node
                methods = self.methods.setdefault(node.name, {})
                attrs = self.attrs.setdefault(node.name, {})
                for item in node.body:
                    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        methods[item.name] = self._add(item, f"{node.name}.{item.name}", node.name)
                        for sub in ast.walk(item):
                            if isinstance(sub, ast.Assign):
                                for t in sub.targets:
                                    if (isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name)
                                            and t.value.id == "self"):
                                        attrs.setdefault(t.attr, []).append(sub.value)

    def _add(self, node: Func, qualname: str, cls: str | None) -> FuncInfo:
        args = node.args
        params = [a.arg for a in args.posonlyargs + args.args]
        decorators = {d.id for d in node.decorator_list if isinstance(d, ast.Name)}
        info = FuncInfo(node, qualname, cls, params, cls is not None and "staticmethod" not in decorators)
        info.params += [a.arg for a in args.kwonlyargs]
        _index(info, node.body, [])
        self.all.append(info)
        for sub in node.body:  # nested functions: on their own, resolved by nothing
            for inner in ast.walk(sub):
                if isinstance(inner, (ast.FunctionDef, ast.AsyncFunctionDef)) and inner is not node:
                    if not any(f.node is inner for f in self.all):
                        self._add(inner, f"{qualname}.<locals>.{inner.name}", None)
        return info

    def mro(self, cls: str) -> list[str]:
        out, todo = [], [cls]
        while todo:
            name = todo.pop(0)
            if name in self.classes and name not in out:
                out.append(name)
                todo += [b.id for b in self.classes[name].bases if isinstance(b, ast.Name)]
        return out

    def method(self, cls: str, name: str) -> FuncInfo | None:
        for c in self.mro(cls):
            if name in self.methods.get(c, {}):
                return self.methods[c][name]
        return None

    def constructed(self, expr: ast.AST) -> list[FuncInfo]:
        """``forward`` of every in-file class called in ``expr`` (``nn.ModuleList([Block(c) ...])``),
        and every module-level function named in it."""
        out = []
        for node in ast.walk(expr):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id in self.classes):
                forward = self.method(node.func.id, "forward")
                if forward is not None:
                    out.append(forward)
            if isinstance(node, ast.Name) and node.id in self.functions:
                out.append(self.functions[node.id])
        return out

    def callees(self, func: FuncInfo, callee: ast.expr, depth: int = 0) -> list[FuncInfo]:
        """What a call of ``callee`` inside ``func`` may run, simply (module docstring)."""
        if depth > 4:
            return []
        if isinstance(callee, ast.Name):
            name = callee.id
            if name in func.defs or name in func.loop_vars:
                values = [v for _, v in func.defs.get(name, [])] + func.loop_vars.get(name, [])
                return [g for v in values for g in self._held(func, v, depth + 1)]
            if name in self.functions:
                return [self.functions[name]]
            return []
        if isinstance(callee, ast.Attribute) and isinstance(callee.value, ast.Name) and func.cls:
            if callee.value.id == "self":
                method = self.method(func.cls, callee.attr)
                if method is not None:
                    return [method]
                return self._attribute(func.cls, callee.attr)
        return []

    def _held(self, func: FuncInfo, value: ast.expr, depth: int) -> list[FuncInfo]:
        """What a local name bound to ``value`` may call: ``self.layers``, ``self.layers[i]``, or
        functions and classes named in ``value``."""
        while isinstance(value, ast.Subscript):
            value = value.value
        if (isinstance(value, ast.Attribute) and isinstance(value.value, ast.Name)
                and value.value.id == "self" and func.cls):
            method = self.method(func.cls, value.attr)
            return [method] if method is not None else self._attribute(func.cls, value.attr)
        if isinstance(value, ast.Name):
            return self.callees(func, value, depth)
        return self.constructed(value)

    def _attribute(self, cls: str, attr: str) -> list[FuncInfo]:
        out = []
        for c in self.mro(cls):
            for value in self.attrs.get(c, {}).get(attr, []):
                out += self.constructed(value)
        return out


def reaching(func: FuncInfo, name: str, use: ast.stmt) -> list[tuple[ast.stmt, ast.expr]]:
    """The values of the simple assignments to ``name`` that may reach ``use``: those before it, less
    those a later assignment in an enclosing block overwrites on every path (loops ignored)."""
    before = [(s, v) for s, v in func.defs.get(name, []) if s is not use and s.lineno < use.lineno]
    out = []
    for stmt, value in before:
        killed = False
        for block, index in func.place.get(id(use), []):
            for other in block[:index]:
                if other is stmt or other.lineno <= stmt.lineno:
                    continue
                if isinstance(other, (ast.Assign, ast.AnnAssign)) and other.value is not None:
                    targets = other.targets if isinstance(other, ast.Assign) else [other.target]
                    killed |= any(isinstance(t, ast.Name) and t.id == name for t in targets)
        if not killed:
            out.append((stmt, value))
    return out


@dataclass
class Reach:
    """What flows into one expression: leading chains (by their outermost node) and parameters."""

    chains: dict[int, tuple[ast.expr, list[str]]] = field(default_factory=dict)
    """id(outermost node) -> (node, the path from it to the expression)."""
    params: dict[str, list[str]] = field(default_factory=dict)


def trace(func: FuncInfo, expr: ast.expr, use: ast.stmt, path: list[str], out: Reach,
          seen: set[tuple[int, int]] | None = None) -> None:
    """Follow ``expr`` back through wrappers, leading steps and names (module docstring)."""
    seen = set() if seen is None else seen
    if (id(expr), id(use)) in seen or len(path) > 40:
        return
    seen.add((id(expr), id(use)))
    steps = chain_at(expr)
    if steps:
        out.chains.setdefault(id(expr), (expr, path))
        trace(func, steps[-1].operand, use, [*path, "chain"], out, seen)
        return
    if isinstance(expr, ast.UnaryOp) and isinstance(expr.op, (ast.Invert, ast.Not)):
        trace(func, expr.operand, use, [*path, "~"], out, seen)
    elif isinstance(expr, ast.Compare) and len(expr.ops) == 1:
        trace(func, expr.left, use, [*path, "compare"], out, seen)
        trace(func, expr.comparators[0], use, [*path, "compare"], out, seen)
    elif isinstance(expr, ast.BinOp) and isinstance(expr.op, (ast.BitAnd, ast.BitOr, ast.BitXor)):
        trace(func, expr.left, use, [*path, "&|"], out, seen)
        trace(func, expr.right, use, [*path, "&|"], out, seen)
    elif isinstance(expr, ast.IfExp):
        trace(func, expr.body, use, [*path, "if-else"], out, seen)
        trace(func, expr.orelse, use, [*path, "if-else"], out, seen)
    elif (isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and expr.func.attr in CASTS
          and not _is_torch(expr.func.value)):
        trace(func, expr.func.value, use, [*path, f".{expr.func.attr}()"], out, seen)
    elif (isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and _is_torch(expr.func.value)
          and expr.func.attr == "logical_not" and expr.args):
        trace(func, expr.args[0], use, [*path, "torch.logical_not"], out, seen)
    elif isinstance(expr, ast.Name):
        values = reaching(func, expr.id, use)
        for stmt, value in values:
            trace(func, value, stmt, [*path, f"name {expr.id} (line {stmt.lineno})"], out, seen)
        if not values and expr.id in func.params:
            out.params.setdefault(expr.id, path)


def _fill_masks(node: ast.AST) -> ast.expr | None:
    """The mask argument of a fill call."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in FILLS):
        return None
    if _is_torch(node.func.value):
        if node.func.attr != "masked_fill":
            return None
        args = node.args[1:2]
    else:
        args = node.args[:1]
    args = list(args) + [k.value for k in node.keywords if k.arg == "mask"]
    return args[0] if args else None


@dataclass
class Candidate:
    index: int
    function: str
    line: int
    """The line where the chain's first (innermost) step begins: its ``[None`` or ``.op``."""
    lines: tuple[int, int]
    """The lines from the innermost step to the end of the outermost one."""
    end: Key
    code: str
    steps: str
    paths: list[str]
    fills: list[int]
    """Lines of the fill calls it reaches."""
    via_call: bool = False
    """Reaches a fill only through a call to another function of the file."""


def _arg_for(call: ast.Call, callee: FuncInfo, param: str, through_self: bool) -> ast.expr | None:
    for k in call.keywords:
        if k.arg == param:
            return k.value
    params = callee.params[1:] if callee.bound and through_self else callee.params
    if param in params:
        i = params.index(param)
        if i < len(call.args) and not any(isinstance(a, ast.Starred) for a in call.args[: i + 1]):
            return call.args[i]
    return None


def candidates(text: str) -> list[tuple[ast.expr, Candidate]]:
    """Every candidate chain of ``text`` (module docstring), with its outermost node."""
    module = Module(text)
    found: dict[int, tuple[ast.expr, list[str], set[int], bool]] = {}
    fills_with: dict[str, dict[str, set[int]]] = {f.qualname: {} for f in module.all}
    """function -> parameter -> lines of the fills it reaches."""

    def note(reach: Reach, func: FuncInfo, fill_lines: set[int], through: str | None) -> bool:
        grew = False
        for key, (node, path) in reach.chains.items():
            entry = found.setdefault(key, (node, [], set(), through is not None))
            label = " <- ".join(path) if path else "direct"
            label = f"{label} <- {through}" if through else label
            if label not in entry[1]:
                entry[1].append(label)
            entry[2].update(fill_lines)
            if through is None and entry[3]:
                found[key] = (node, entry[1], entry[2], False)
        for param in reach.params:
            lines = fills_with[func.qualname].setdefault(param, set())
            if not fill_lines <= lines:
                lines.update(fill_lines)
                grew = True
        return grew

    for func in module.all:
        for stmt in func.statements:
            for node in _own_nodes(stmt):
                mask = _fill_masks(node)
                if mask is None:
                    continue
                reach = Reach()
                trace(func, mask, stmt, [], reach)
                note(reach, func, {node.lineno}, None)
    calls = [(func, stmt, node) for func in module.all for stmt in func.statements
             for node in _own_nodes(stmt) if isinstance(node, ast.Call)]
    for _ in range(12):  # to a fixpoint: a parameter handed down through layers
        grew = False
        for func, stmt, call in calls:
            for callee in module.callees(func, call.func):
                through_self = isinstance(call.func, ast.Attribute) or callee.node.name == "forward"
                for param, lines in list(fills_with[callee.qualname].items()):
                    arg = _arg_for(call, callee, param, through_self)
                    if arg is None:
                        continue
                    reach = Reach()
                    trace(func, arg, stmt, [], reach)
                    grew |= note(reach, func, lines, f"arg {param} of {callee.qualname} (line {call.lineno})")
        if not grew:
            break
    out = []
    for node, paths, fills, via_call in sorted(found.values(), key=lambda e: _start(e[0])):
        steps = chain_at(node)
        inner = steps[-1]
        first = _end(inner.operand)[0] if inner.kind != "torch.unsqueeze(x, 0)" else inner.node.lineno
        code = " ".join((ast.get_source_segment(text, node) or "").split())
        out.append((node, Candidate(
            len(out), _function_of(module, node), first, (first, node.end_lineno), _end(node), code,
            " ".join(s.kind for s in reversed(steps)), paths, sorted(fills), via_call=via_call,
        )))
    return out


NESTED = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda, ast.excepthandler, ast.match_case)


def _own_nodes(stmt: ast.stmt) -> Iterator[ast.AST]:
    """The nodes of a statement outside its nested blocks and nested functions."""
    todo: list[ast.AST] = [stmt]
    blocks = {id(s) for b in _blocks(stmt) for s in b}
    while todo:
        node = todo.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if id(child) in blocks or isinstance(child, NESTED):
                continue
            todo.append(child)


def _function_of(module: Module, node: ast.AST) -> str:
    best = "<module>"
    for func in module.all:
        f = func.node
        if _start(f) <= _start(node) and _end(node) <= _end(f):
            best = func.qualname
    return best


# ---- mutants ------------------------------------------------------------------------------------


def _offsets(text: str) -> tuple[list[str], list[int]]:
    lines = M._lines(text)
    starts = [0, 0]  # character offset of each 1-based line
    for line in lines:
        starts.append(starts[-1] + len(line) + 1)
    return lines, starts


def mutate(text: str, node: ast.expr) -> str | None:
    """``text`` without the leading chain whose outermost node is ``node``, line numbers kept; None
    when that does not parse."""
    lines, starts = _offsets(text)
    cuts = sorted(((starts[a[0]] + M._char(lines, a[0], a[1]), starts[b[0]] + M._char(lines, b[0], b[1]))
                   for step in chain_at(node) for a, b in step.cuts), reverse=True)
    out = text
    for start, stop in cuts:
        out = out[:start] + "\n" * out[start:stop].count("\n") + out[stop:]
    if out.count("\n") != text.count("\n") or not M._parses(out):
        return None
    return out


def control(text: str, fill_lines: list[int]) -> str | None:
    """The sensitivity control of a candidate: ``text`` with the mask of every fill it reaches
    inverted (``m`` -> ``(m).logical_not()``). If the outputs do not change, they do not depend on
    those fills and a candidate's "redundant" says little."""
    lines, starts = _offsets(text)
    spans = []
    for node in ast.walk(ast.parse(text)):
        mask = _fill_masks(node)
        if mask is not None and node.lineno in fill_lines:  # type: ignore[attr-defined]
            a, b = _start(mask), _end(mask)
            spans.append((starts[a[0]] + M._char(lines, *a), starts[b[0]] + M._char(lines, *b)))
    if not spans:
        return None
    out = text
    for start, stop in sorted(spans, reverse=True):
        out = out[:start] + "(" + out[start:stop] + ").logical_not()" + out[stop:]
    return out if M._parses(out) and out.count("\n") == text.count("\n") else None


def _char_end(text: str, key: Key) -> tuple[int, int]:
    lines = M._lines(text)
    return key[0], M._char(lines, key[0], key[1])


# ---- the targets ----------------------------------------------------------------------------------


def _bros(torch: Any, generator: Any, config: Any, labels: str = "") -> dict[str, Any]:
    inputs = M._text(torch, generator, config)
    length = inputs["input_ids"].shape[1]
    corners = torch.randint(0, 50, (2, length, 2), generator=generator)
    bbox = torch.cat([corners, corners + 10], dim=-1).float() / 100
    first = torch.rand(2, length, generator=generator) < 0.6
    first[:, 0] = True
    inputs.update(bbox=bbox, bbox_first_token_mask=first)
    if labels == "el":
        inputs["labels"] = torch.randint(0, length + 1, (2, length), generator=generator)
    if labels == "ee":
        inputs["initial_token_labels"] = torch.randint(0, config.num_labels, (2, length), generator=generator)
        inputs["subsequent_token_labels"] = torch.randint(0, length + 1, (2, length), generator=generator)
    return inputs


def _reading_order(torch: Any, generator: Any, config: Any) -> dict[str, Any]:
    corners = torch.randint(0, 500, (2, 6, 2), generator=generator)
    boxes = torch.cat([corners, corners + 200], dim=-1).float()
    mask = torch.ones(2, 6, dtype=torch.bool)
    mask[1, -2:] = False
    boxes[1, -2:] = 0
    labels = torch.randint(0, config.num_classes, (2, 6), generator=generator)
    return {"boxes": boxes, "labels": labels, "mask": mask}


def _long_text(torch: Any, generator: Any, config: Any) -> dict[str, Any]:
    """16 tokens, one row padded: more than the compression rates and blocks of the configs below."""
    return {"input_ids": M._ids(torch, generator, 16), "attention_mask": M._mask(torch, 16)}


def _long_text_unpadded(torch: Any, generator: Any, config: Any) -> dict[str, Any]:
    """No attention mask: the code for that case runs too (SDPA then gets no mask at all)."""
    return {"input_ids": M._ids(torch, generator, 16)}


def _image(torch: Any, generator: Any, config: Any, size: int = 64) -> dict[str, Any]:
    return {"pixel_values": torch.randn(2, 3, size, size, generator=generator)}


@dataclass(frozen=True)
class Target:
    """One model class of a family to run, with its inputs."""

    label: str
    model: str
    """A class of the modeling module; "" for the base model of ``MODEL_MAPPING_NAMES``."""
    inputs: Any
    """(torch, generator, config) -> the forward's keyword arguments."""
    config: str = ""
    """An attribute of the family's config to build this model from (a sub-config), or ""."""


@dataclass(frozen=True)
class Spec:
    """A family to run: ``scripts/mutants.py``'s ``Family`` (model type, tiny config, folder) and the
    model classes whose forward passes reach the candidates."""

    family: M.Family
    targets: tuple[Target, ...]


TEXT_TARGETS = (Target("base", "", _long_text), Target("base, no attention_mask", "", _long_text_unpadded))
TINY_TEXT = dict(M.TEXT, max_position_embeddings=256, intermediate_size=36)
"""``scripts/mutants.py``'s tiny text config; intermediate sizes of 4k floats for grouped expert matmuls."""

SPECS: dict[str, Spec] = {
    "bros": Spec(M.Family("bros", "text", dict(TINY_TEXT, hidden_size=64, head_dim=16, num_labels=3)), (
        Target("SpadeEE", "BrosSpadeEEForTokenClassification", lambda t, g, c: _bros(t, g, c, "ee")),
        Target("SpadeEL", "BrosSpadeELForTokenClassification", lambda t, g, c: _bros(t, g, c, "el")),
    )),
    "deepseek_v4": Spec(M.Family("deepseek_v4", "text", dict(
        TINY_TEXT, num_key_value_heads=1, head_dim=16, moe_intermediate_size=16, q_lora_rank=16,
        o_lora_rank=16, o_groups=2, n_routed_experts=4, num_experts_per_tok=2, index_n_heads=2,
        index_head_dim=16, index_topk=2,
        layer_types=["heavily_compressed_attention", "compressed_sparse_attention"],
        mlp_layer_types=["hash_moe", "moe"],
        compress_rates={"compressed_sparse_attention": 4, "heavily_compressed_attention": 4}, hc_mult=2,
        sliding_window=4,
    )), TEXT_TARGETS),
    "glm5_next": Spec(M.Family("glm5_next_text", "text", dict(
        TINY_TEXT, moe_intermediate_size=16, num_key_value_heads=4, n_routed_experts=4, num_experts_per_tok=2,
        kv_lora_rank=16, q_lora_rank=16, v_head_dim=8, qk_nope_head_dim=8, qk_rope_head_dim=0, index_topk=4,
        index_head_dim=16, index_n_heads=2, layer_types=["linear_attention", "indexed_attention"],
        mlp_layer_types=["dense", "sparse"], indexer_types=["full", "full"], linear_head_dim=8,
        linear_num_heads=4, hc_mult=2, index_kpool=4, pad_token_id=0,
    ), folder="glm5_next"), TEXT_TARGETS),
    "inkling": Spec(M.Family("inkling_text", "text", dict(
        TINY_TEXT, swa_num_attention_heads=4, swa_num_key_value_heads=2, swa_head_dim=8,
        sliding_window_size=4, d_rel=4, rel_extent=6, layer_types=["hybrid_sliding", "hybrid"],
        mlp_layer_types=["sparse", "sparse"],
        moe_intermediate_size=16, n_routed_experts=4, num_experts_per_tok=2, n_shared_experts=1,
    ), folder="inkling"), TEXT_TARGETS),
    "inkling2": Spec(M.Family("inkling2_text", "text", dict(
        TINY_TEXT, unpadded_vocab_size=99, swa_num_attention_heads=4, swa_num_key_value_heads=2,
        swa_head_dim=8, sliding_window_size=4, d_rel=4, rel_extent=6,
        layer_types=["hybrid_sliding", "hybrid"],
        moe_intermediate_size=16, n_routed_experts=4, num_experts_per_tok=2, n_layers_per_attn_res_block=1,
        log_scaling_n_floor=8,
    ), folder="inkling2"), TEXT_TARGETS),
    "minimax_m3_vl": Spec(M.Family("minimax_m3_vl_text", "text", dict(
        TINY_TEXT, intermediate_size=16, num_local_experts=4, num_experts_per_tok=2,
        dense_intermediate_size=37, shared_intermediate_size=16, rotary_dim=4,
        mlp_layer_types=["dense", "sparse"], index_n_heads=2,
        index_head_dim=8, index_block_size=4, index_topk_blocks=2, index_local_blocks=1,
        layer_types=["full_attention", "minimax_m3_sparse"],
    ), folder="minimax_m3_vl"), TEXT_TARGETS),
    "pp_doclayout_v2": Spec(M.Family("pp_doclayout_v2", "vision", dict(reading_order_config=dict(
        hidden_size=32, num_attention_heads=4, intermediate_size=37, num_hidden_layers=2, coordinate_size=6,
        shape_size=4, num_classes=5, global_pointer_head_size=8, max_2d_position_embeddings=1024,
    ))), (Target("ReadingOrder", "PPDocLayoutV2ReadingOrder", _reading_order,
                 config="reading_order_config"),)),
    "pp_doclayout_v3": Spec(M.Family("pp_doclayout_v3", "vision", dict(
        backbone_config=dict(model_type="hgnet_v2", embedding_size=8, depths=[1, 1, 1, 1],
                             hidden_sizes=[16, 16, 16, 16],
                             stem_channels=[3, 8, 8], stage_in_channels=[8, 16, 16, 16],
                             stage_mid_channels=[8, 8, 8, 8], stage_out_channels=[16, 16, 16, 16],
                             stage_num_blocks=[1, 1, 1, 1], stage_numb_of_layers=[1, 1, 1, 1],
                             out_features=["stage1", "stage2", "stage3", "stage4"]),
        encoder_hidden_dim=16, encoder_in_channels=[16, 16, 16], encoder_ffn_dim=37,
        encoder_attention_heads=2,
        d_model=16, num_queries=10, decoder_in_channels=[16, 16, 16], decoder_ffn_dim=37, decoder_layers=2,
        decoder_attention_heads=2, num_denoising=0, mask_feature_channels=[8, 8], x4_feat_dim=16,
        num_prototypes=4, global_pointer_head_size=8, gp_dropout_value=0.0,
    )), (Target("base", "", _image),)),
}
"""Families whose files hold candidates, beyond ``scripts/mutants.py``'s (their base models, with
their tiny configs and inputs, run as they are there)."""


def spec_for(folder: str) -> Spec | None:
    if folder in SPECS:
        return SPECS[folder]
    for family in M.FAMILIES:
        if (family.folder or family.model_type) == folder:
            return Spec(family, (Target("base", "", M.INPUTS[family.inputs]),))
    return None


# ---- running ------------------------------------------------------------------------------------


@dataclass
class Run:
    outcome: str
    """``ok`` or ``raised``."""
    outputs: dict[str, Any] = field(default_factory=dict)
    ends: frozenset[Key] = frozenset()
    """(end line, byte end column) of every instruction of the file that executed."""
    error: str = ""
    seconds: float = 0.0


def _tensors(torch: Any, obj: Any, prefix: str, out: dict[str, Any], depth: int = 0) -> None:
    """Every tensor in a model output, cache objects included, by a path name."""
    if depth > 8:
        return
    if torch.is_tensor(obj):
        out[prefix] = obj
    elif isinstance(obj, Mapping):
        for k, v in obj.items():
            _tensors(torch, v, f"{prefix}.{k}", out, depth + 1)
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            _tensors(torch, v, f"{prefix}[{i}]", out, depth + 1)
    elif (type(obj).__module__.startswith("transformers.cache_utils")
          or type(obj).__name__.endswith(("Cache", "Layer"))):
        if isinstance(obj, torch.nn.Module):
            return
        for k, v in vars(obj).items():
            _tensors(torch, v, f"{prefix}.{k}", out, depth + 1)


def same(torch: Any, a: Mapping[str, Any], b: Mapping[str, Any]) -> str:
    """"" when every output is equal (shape, dtype, values, NaN == NaN), else the first that is not."""
    if a.keys() != b.keys():
        return f"outputs differ: {sorted(set(a) ^ set(b))[:3]}"
    for k in a:
        x, y = a[k], b[k]
        if x.shape != y.shape:
            return f"{k}: shape {tuple(x.shape)} vs {tuple(y.shape)}"
        if x.dtype != y.dtype:
            return f"{k}: dtype {x.dtype} vs {y.dtype}"
        if torch.equal(x, y):
            continue
        if x.is_floating_point() or x.is_complex():
            if bool(((x == y) | (torch.isnan(x) & torch.isnan(y))).all()):
                continue
        diff = (x != y).sum().item()
        return f"{k}: {diff} of {x.numel()} values differ"
    return ""


def _ends(tracer: M.Tracer) -> frozenset[Key]:
    ends = set()
    for code, offset in tracer.hits:
        position = M._positions(code).get(offset)
        if position is not None and position[1][1] is not None and position[1][3] is not None:
            ends.add((position[1][1], position[1][3]))
    return frozenset(ends)


def run(torch: Any, spec: Spec, target: Target, text: str, path: Path, variant: str, extras: bool,
        traced: bool) -> Run:
    """Build ``target`` with ``text`` as the family's modeling module and run it once; the real module
    is put back (as ``scripts/mutants.py``'s ``Harness.run``, keeping the outputs)."""
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_MAPPING_NAMES

    family = spec.family
    harness = M.Harness(family, torch)
    real = sys.modules.get(family.module)
    tracer = M.Tracer(str(path))
    start = time.perf_counter()
    try:
        with tracer.active() if traced else _nothing():
            module = harness.load(text, path)
            config = AutoConfig.for_model(family.model_type, **family.config)
            if target.config:
                config = getattr(config, target.config)
            name = target.model or MODEL_MAPPING_NAMES[family.model_type]
            name = name[0] if isinstance(name, tuple) else name
            model_class = getattr(module, name)
            torch.manual_seed(0)
            model = model_class._from_config(config, attn_implementation=variant).eval()
            inputs = target.inputs(torch, torch.Generator().manual_seed(0), config)
            if extras:
                inputs.update(output_hidden_states=True)
                if variant == "eager":
                    inputs.update(output_attentions=True)
            torch.manual_seed(1)
            with torch.no_grad():
                output = model(**inputs)
        outputs: dict[str, Any] = {}
        _tensors(torch, output, "out", outputs)
        return Run("ok", outputs, _ends(tracer), seconds=time.perf_counter() - start)
    except Exception as exc:
        return Run("raised", {}, _ends(tracer), f"{type(exc).__name__}: {str(exc)[:300]}",
                   time.perf_counter() - start)
    finally:
        if real is not None:
            sys.modules[family.module] = real
        else:
            sys.modules.pop(family.module, None)


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


# ---- one family ---------------------------------------------------------------------------------


@dataclass
class Row:
    """One chain: a candidate, or a finding that matches none (``origin``), with torch's verdict and
    the score."""

    family: str
    file: str
    origin: str
    """``candidate``, or ``finding`` for a finding's chain that is no candidate."""
    line: int
    lines: tuple[int, int]
    function: str
    code: str
    steps: str
    paths: list[str] = field(default_factory=list)
    fills: list[int] = field(default_factory=list)
    via_call: bool = False
    mutated: str = ""
    """The mutated lines."""
    findings: list[str] = field(default_factory=list)
    """The TV201 findings on the unmodified file that match this chain."""
    ran: list[str] = field(default_factory=list)
    """The runs (target/variant) whose unmutated pass executed the chain."""
    runs: dict[str, str] = field(default_factory=dict)
    """target/variant -> ``equal``, ``differs: ...`` or ``raised: ...`` for the mutant."""
    control: str = ""
    """The sensitivity control (``control``): ``sensitive`` when inverting the masks of the fills
    the chain reaches changes an output in a run where the chain ran, ``raised`` when it only
    raises, ``insensitive`` when nothing changes, "" when not run."""
    truth: str = ""
    """``redundant``, ``necessary``, ``unverified`` or ``unmutatable``."""
    verdict: str = ""
    """``TP``, ``FN``, ``FP``, ``TN``, ``unverified`` (with ``findings`` or not),
    ``redundant, not a candidate``, ``unmutatable``."""


@dataclass
class FamilyResult:
    family: str
    file: str
    skipped: str = ""
    variants: dict[str, str] = field(default_factory=dict)
    """target/variant -> ``ok``, or why the unmutated file gives no usable run."""
    rows: list[Row] = field(default_factory=list)
    seconds: float = 0.0


def _findings(text: str) -> list[M.Finding]:
    return [f for f in M.lint(text) if f.code == CODE]


def _match(text: str, pairs: list[tuple[ast.expr, Candidate]], findings: list[M.Finding]
           ) -> tuple[dict[int, list[M.Finding]], list[M.Finding]]:
    """Candidate index -> its findings (by the chain's end, else by line), and the findings left."""
    matched: dict[int, list[M.Finding]] = {c.index: [] for _, c in pairs}
    left = []
    for f in findings:
        exact = [c for _, c in pairs if _char_end(text, c.end) == tuple(f.end)]
        near = exact or [c for _, c in pairs if c.lines[0] <= f.line <= c.lines[1]]
        for c in near:
            matched[c.index].append(f)
        if not near:
            left.append(f)
    return matched, left


def _finding_chain(text: str, finding: M.Finding) -> ast.expr | None:
    """The leading chain a finding reports: the node ending where it ends, else the outermost chain
    on its line."""
    best = None
    for node in ast.walk(ast.parse(text)):
        if not isinstance(node, ast.expr) or not chain_at(node):
            continue
        if _char_end(text, _end(node)) == tuple(finding.end):
            return node
        if node.lineno <= finding.line <= node.end_lineno and (best is None or _start(node) < _start(best)):
            best = node
    return best


def _row(family: str, file: str, origin: str, text: str, node: ast.expr, cand: Candidate | None,
         function: str = "") -> Row:
    steps = chain_at(node)
    inner = steps[-1]
    first = _end(inner.operand)[0] if inner.kind != "torch.unsqueeze(x, 0)" else inner.node.lineno
    mutant = mutate(text, node)
    lines = (first, node.end_lineno or first)
    mutated = "\n".join(M._lines(mutant)[lines[0] - 1: lines[1]]).strip() if mutant else ""
    return Row(family, file, origin, first, lines, cand.function if cand else function,
               " ".join((ast.get_source_segment(text, node) or "").split()),
               " ".join(s.kind for s in reversed(steps)), cand.paths if cand else [],
               cand.fills if cand else [], cand.via_call if cand else False, " ".join(mutated.split()))


def evaluate_family(folder: str, spec: Spec, variants: tuple[str, ...], torch: Any) -> FamilyResult:
    import transformers

    start = time.perf_counter()
    site = Path(transformers.__file__).parent
    source = site / "models" / folder / f"modeling_{folder}.py"
    file = str(source.relative_to(site.parent))
    result = FamilyResult(spec.family.model_type, file)
    try:
        importlib.import_module(spec.family.module)  # the real module: put back after every run
    except Exception as exc:
        result.skipped = f"import: {type(exc).__name__}: {str(exc)[:200]}"
        return result
    text = source.read_text()
    scratch = OUT / "scratch" / folder
    scratch.mkdir(parents=True, exist_ok=True)
    # the unmutated file, twice per run: traced (what ran), then not (that the outputs repeat)
    originals: dict[str, tuple[Target, str, bool, Run]] = {}
    for target in spec.targets:
        for variant in variants:
            label = f"{target.label}/{variant}"
            for extras in (True, False):
                first = run(torch, spec, target, text, scratch / "original.py", variant, extras, traced=True)
                if first.outcome == "ok":
                    break
            if first.outcome != "ok":
                result.variants[label] = f"raised: {first.error}"
                continue
            second = run(torch, spec, target, text, scratch / "original.py", variant, extras, traced=False)
            why = ("raised the second time" if second.outcome != "ok"
                   else same(torch, first.outputs, second.outputs))
            if why:
                result.variants[label] = f"not deterministic: {why}"
                continue
            result.variants[label] = "ok" + ("" if extras else " (without attention maps and hidden states)")
            originals[label] = (target, variant, extras, first)
    pairs = candidates(text)
    matched, left = _match(text, pairs, _findings(text))
    rows = []
    for node, cand in pairs:
        row = _row(spec.family.model_type, file, "candidate", text, node, cand)
        row.findings = [f.message for f in matched[cand.index]]
        rows.append((node, row))
    for finding in left:
        node = _finding_chain(text, finding)
        if node is None:
            rows.append((None, Row(spec.family.model_type, file, "finding", finding.line,
                                   (finding.line, finding.line), "", M._text_at(text, finding.line), "",
                                   findings=[finding.message], truth="unmutatable", verdict="unmutatable")))
            continue
        row = _row(spec.family.model_type, file, "finding", text, node, None,
                   _function_of(Module(text), node))
        row.findings = [finding.message]
        rows.append((node, row))
    if not originals:
        result.skipped = "; ".join(f"{k}: {v[:160]}" for k, v in result.variants.items())
        result.rows = [row for _, row in rows]
        for row in result.rows:
            row.truth = row.verdict = row.truth or "no run"
        return result
    controls: dict[tuple[Any, ...], str] = {}
    for i, (node, row) in enumerate(rows):
        if node is None:
            continue
        mutant = mutate(text, node)
        row.ran = [label for label, (*_, original) in originals.items() if _end(node) in original.ends]
        if mutant is None:
            row.truth = "unmutatable"
        elif not row.ran:
            row.truth = "unverified"
        else:
            path = scratch / f"{row.origin[0]}{i:03d}_line{row.line}.py"
            for label, (target, variant, extras, original) in originals.items():
                got = run(torch, spec, target, mutant, path, variant, extras, traced=False)
                if got.outcome != "ok":
                    row.runs[label] = f"raised: {got.error}"
                else:
                    why = same(torch, original.outputs, got.outputs)
                    row.runs[label] = f"differs: {why}" if why else "equal"
            row.truth = "redundant" if all(r == "equal" for r in row.runs.values()) else "necessary"
            row.control = _control(torch, spec, text, row, originals,
                                   scratch / f"{row.origin[0]}{i:03d}_control.py", controls)
        row.verdict = score(row)
    result.rows = [row for _, row in rows]
    result.seconds = time.perf_counter() - start
    return result


def _control(torch: Any, spec: Spec, text: str, row: Row,
             originals: Mapping[str, tuple[Target, str, bool, Run]], path: Path,
             cache: dict[tuple[Any, ...], str]) -> str:
    fills = row.fills
    if not fills and row.findings:  # a finding's chain: the fill the finding names
        fills = [int(x) for x in re.findall(r"on line (\d+)", row.findings[0])[:1]]
    key = (*fills, 0, *row.ran)
    if key not in cache:
        text_ = control(text, fills)
        got = []
        for label in row.ran:
            target, variant, extras, original = originals[label]
            if text_ is None:
                break
            r = run(torch, spec, target, text_, path, variant, extras, traced=False)
            changed = r.outcome == "ok" and same(torch, original.outputs, r.outputs)
            got.append("raised" if r.outcome != "ok" else "differs" if changed else "equal")
        cache[key] = ("sensitive" if "differs" in got else "raised" if "raised" in got
                      else "insensitive" if got else "")
    return cache[key]


def score(row: Row) -> str:
    flagged = bool(row.findings)
    if row.truth in ("unverified", "unmutatable", "no run"):
        return row.truth
    if row.origin == "finding":
        return "FP" if row.truth == "necessary" else "redundant, not a candidate"
    if row.truth == "redundant":
        return "TP" if flagged else "FN"
    return "FP" if flagged else "TN"


def scan(paths: list[Path]) -> dict[str, tuple[list[tuple[ast.expr, Candidate]], list[M.Finding]]]:
    """Folder -> its candidates and TV201 findings, for the modeling files that have either (a fill
    is needed for both: files without ``masked_fill`` are not read further)."""
    out = {}
    for path in paths:
        text = path.read_text()
        if "masked_fill" not in text:
            continue
        pairs, findings = candidates(text), _findings(text)
        if pairs or findings:
            out[path.parent.name] = (pairs, findings)
    return out


# ---- the report ---------------------------------------------------------------------------------

VERDICTS = ("TP", "FN", "FP", "TN", "redundant, not a candidate", "unverified", "unmutatable", "no run")


def _ratio(num: int, den: int) -> str:
    return f"{num / den:.3f}" if den else "n/a"


def summary(results: list[FamilyResult], scanned: Mapping[str, int]) -> dict[str, Any]:
    ran = [r for r in results if not r.skipped]
    rows = [row for r in ran for row in r.rows]
    cands = [row for row in rows if row.origin == "candidate"]
    count = {k: sum(row.verdict == k for row in rows) for k in VERDICTS}
    return {
        **scanned,
        "families_run": len(ran),
        "families_skipped": len(results) - len(ran),
        "candidates": len(cands),
        "candidates_via_call": sum(c.via_call for c in cands),
        "redundant": sum(c.truth == "redundant" for c in cands),
        "necessary": sum(c.truth == "necessary" for c in cands),
        "unverified": sum(c.truth == "unverified" for c in cands),
        "unmutatable": sum(c.truth == "unmutatable" for c in cands),
        "redundant_with_sensitive_control": sum(c.truth == "redundant" and c.control == "sensitive"
                                                for c in cands),
        "findings": sum(len(row.findings) for row in rows),
        "unverified_findings": sum(len(row.findings) for row in rows if row.truth == "unverified"),
        **count,
        "precision": _ratio(count["TP"], count["TP"] + count["FP"]),
        "recall": _ratio(count["TP"], count["TP"] + count["FN"]),
    }


def render(results: list[FamilyResult], scanned: Mapping[str, int], seconds: float) -> str:
    s = summary(results, scanned)
    out = [f"TV201 mask mutants: {s['modeling_files']} modeling files scanned, {s['with_fill']} with "
           f"masked_fill, {s['with_candidates_or_findings']} with a candidate or a TV201 finding; "
           f"{s['families_run']} families run, {s['families_skipped']} skipped; {seconds:.0f} s", ""]
    out.append(f"{'family':<22} {'runs ok':>7} {'cands':>5} {'ran':>4} {'redund':>6} {'necess':>6} "
               f"{'unver':>5} {'TP':>3} {'FN':>3} {'FP':>3} {'finds':>5} {'s':>5}")
    for r in results:
        if r.skipped:
            continue
        c = [row for row in r.rows if row.origin == "candidate"]
        n = {k: sum(row.verdict == k for row in r.rows) for k in ("TP", "FN", "FP")}
        ok = sum(v.startswith("ok") for v in r.variants.values())
        out.append(f"{r.family:<22} {f'{ok}/{len(r.variants)}':>7} {len(c):>5} "
                   f"{sum(bool(x.ran) for x in c):>4} {sum(x.truth == 'redundant' for x in c):>6} "
                   f"{sum(x.truth == 'necessary' for x in c):>6} "
                   f"{sum(x.truth == 'unverified' for x in c):>5} {n['TP']:>3} {n['FN']:>3} {n['FP']:>3} "
                   f"{sum(len(x.findings) for x in r.rows):>5} {r.seconds:>5.1f}")
    out += ["", "summary:"]
    out.append(f"  candidates {s['candidates']} (reaching the fill only through a call: "
               f"{s['candidates_via_call']}): redundant {s['redundant']}, necessary {s['necessary']}, "
               f"unverified {s['unverified']}, "
               f"unmutatable {s['unmutatable']}")
    out.append(f"  redundant candidates whose fills' inversion changes an output (sensitivity control): "
               f"{s['redundant_with_sensitive_control']} of {s['redundant']}")
    out.append(f"  TV201 findings {s['findings']} (on unverified chains {s['unverified_findings']})")
    out.append(f"  TP {s['TP']}  FN {s['FN']}  FP {s['FP']}  TN {s['TN']}  "
               f"findings torch shows redundant off the candidates {s['redundant, not a candidate']}  "
               f"unmutatable {s['unmutatable']}")
    out.append(f"  precision {s['precision']}  recall {s['recall']}")
    skipped = [r for r in results if r.skipped]
    out += ["", f"skipped families ({len(skipped)}):"]
    out += [f"  {r.family} ({r.file}, {sum(x.origin == 'candidate' for x in r.rows)} candidates): {r.skipped}"
            for r in skipped]
    partial = [(r.family, k, v) for r in results if not r.skipped for k, v in r.variants.items() if v != "ok"]
    out += ["", f"runs left out or reduced ({len(partial)}):"]
    out += [f"  {f} {k}: {v[:150]}" for f, k, v in partial]
    for name in ("FN", "FP", "redundant, not a candidate", "unverified", "unmutatable", "TP", "TN"):
        items = [row for r in results for row in r.rows if row.verdict == name]
        out += ["", f"{name} ({len(items)}):"]
        for row in items:
            out.append(f"  {row.file}:{row.line} {row.function}: {row.code}")
            out.append(f"      mutant: {row.mutated or '-'}   [{row.truth}; ran in: "
                       f"{', '.join(row.ran) or 'none'}; control: {row.control or 'not run'}]")
            for label, got in row.runs.items():
                if got != "equal":
                    out.append(f"      {label}: {got[:200]}")
            if row.paths:
                out.append(f"      reaches the fill on line(s) {', '.join(map(str, row.fills))}: "
                           f"{row.paths[0][:200]}")
            for f in row.findings:
                out.append(f"      {f[:200]}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="*",
                        help="model folders to run (default: every one with a candidate or a finding)")
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--scan", action="store_true", help="list the candidates and findings; run nothing")
    parser.add_argument("--json", type=Path, default=OUT / "results.json")
    args = parser.parse_args(argv)
    import torch
    import transformers
    from transformers.utils import logging

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    logging.set_verbosity_error()
    linter = M.linter_source()  # imports the linter now: later edits to its files do not reach this run
    start = time.perf_counter()
    models = Path(transformers.__file__).parent / "models"
    paths = sorted(p / f"modeling_{p.name}.py" for p in models.iterdir()
                   if (p / f"modeling_{p.name}.py").exists())
    if args.families:
        paths = [p for p in paths if p.parent.name in args.families]
    found = scan(paths)
    scanned = {"modeling_files": len(paths),
               "with_fill": sum("masked_fill" in p.read_text() for p in paths),
               "with_candidates_or_findings": len(found)}
    print(f"scanned in {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    if args.scan:
        for folder, (pairs, findings) in found.items():
            print(f"{folder}: {len(pairs)} candidates, {len(findings)} findings")
            for _, c in pairs:
                print(f"  {c.line}: {c.code}  [{c.steps}] -> fill line(s) {c.fills}: {c.paths[0][:160]}")
            for f in findings:
                print(f"  finding {f.line}:{f.col}: {f.message[:160]}")
        return 0
    results = []
    for folder in found:
        spec = spec_for(folder)
        print(f"{folder} ...", file=sys.stderr, flush=True)
        if spec is None:
            file = f"transformers/models/{folder}/modeling_{folder}.py"
            result = FamilyResult(folder, file, skipped="no tiny config here or in scripts/mutants.py")
            text = (models / folder / f"modeling_{folder}.py").read_text()
            pairs, findings = found[folder]
            result.rows = [_row(folder, file, "candidate", text, n, c) for n, c in pairs]
            for row in result.rows:
                row.truth = row.verdict = "no run"
            results.append(result)
            continue
        results.append(evaluate_family(folder, spec, tuple(args.variants), torch))
    seconds = time.perf_counter() - start
    print(f"linter: {linter}")
    print(render(results, scanned, seconds))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "seconds": seconds,
        "linter": linter,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "summary": summary(results, scanned),
        "families": [asdict(r) for r in results],
    }
    args.json.write_text(json.dumps(payload, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
