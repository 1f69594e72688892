"""The pipeline: source text -> libcst tree -> dataflow facts -> rule checks -> diagnostics."""

from __future__ import annotations

import ast
import functools
import gc
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager

import libcst as cst
from libcst.metadata import CodePosition, CodeRange, MetadataWrapper, PositionProvider

from .analysis import BudgetExhausted, Walker
from .checks import CHECKS as VIEW_CHECKS, Diagnostic
from . import semantic
from .preselect import TRIGGERS, Pruned, discarded_calls, might_match, preselect, whole as whole_module
from .results import CHECKS as RESULT_CHECKS
from .rules import RULES, message

CHECKS = VIEW_CHECKS + RESULT_CHECKS
"""Every check, with the codes it can report."""
Check = Callable[[Walker, "LazyPositions"], Iterator[Diagnostic]]


def parse(source: str) -> cst.Module | None:
    """libcst's tree of ``source``, its nodes left unvalidated: the parser makes only valid ones,
    and checking each node as it is built is a seventh of the parse (libcst's own PERF note in
    ``CSTNode.__post_init__`` says as much). Nodes built afterwards (fixes) are checked as ever; a
    thread building nodes during the parse would have its own unchecked too, nothing worse."""
    post_init = cst.CSTNode.__post_init__
    cst.CSTNode.__post_init__ = _unchecked  # type: ignore[method-assign]
    try:
        return cst.parse_module(source)
    except (cst.ParserSyntaxError, RecursionError, ValueError):
        return None
    finally:
        cst.CSTNode.__post_init__ = post_init  # type: ignore[method-assign]


def _unchecked(node: cst.CSTNode) -> None:
    pass


class Unparsable(Exception):
    """Python's parser takes the file, libcst's does not (syntax newer than the libcst installed)."""


def _parse_error(source: str) -> str:
    try:
        cst.parse_module(source)
    except (cst.ParserSyntaxError, RecursionError, ValueError) as exc:
        return f"libcst cannot parse it: {str(exc).splitlines()[0]}"
    return "libcst cannot parse the code kept for analysis"


class LazyPositions:
    """Node positions in the original source, computed on first use and only for the top-level
    statement that holds the node: a file without findings never pays for them, a big file pays
    for a few statements.

    libcst's PositionProvider regenerates the code of the whole module; here it runs on a one-
    statement module, shifted to where that statement starts in the parsed text, and the parsed
    text's lines are mapped back to the source's (the preselection leaves lines out).
    """

    def __init__(self, module: cst.Module, pruned: Pruned, top_of: Mapping[int, int]) -> None:
        self.module = module
        self.top_of = top_of
        self.lines = pruned.lines
        self.first_lines = _first_lines(module, pruned.tops)
        self._per_statement: dict[int, tuple[Mapping[cst.CSTNode, CodeRange], int]] = {}
        self._whole: Mapping[cst.CSTNode, CodeRange] | None = None

    def at(self, node: cst.CSTNode, hint: cst.CSTNode | None = None) -> CodeRange:
        """``node``'s range; ``hint``, an expression around it the walker evaluated, finds its statement."""
        top = self.top_of.get(id(node), self.top_of.get(id(hint), -1))
        offset = 0
        if 0 <= top < len(self.first_lines) and self.first_lines[top] is not None:
            positions, offset = self._statement(top)
            if node not in positions:
                positions, offset = self._resolve(), 0
        else:
            positions = self._resolve()
        r = positions[node]
        return CodeRange(CodePosition(self._line(r.start.line + offset), r.start.column),
                         CodePosition(self._line(r.end.line + offset), r.end.column))

    def _line(self, parsed: int) -> int:
        return parsed if self.lines is None else self.lines[parsed - 1]

    def _statement(self, top: int) -> tuple[Mapping[cst.CSTNode, CodeRange], int]:
        if top not in self._per_statement:
            stmt = self.module.body[top]
            alone = cst.Module(
                body=[stmt],
                header=[],
                footer=[],
                default_newline=self.module.default_newline,
                default_indent=self.module.default_indent,
            )
            positions = MetadataWrapper(alone, unsafe_skip_copy=True).resolve(PositionProvider)
            offset = self.first_lines[top] - 1 - len(getattr(stmt, "leading_lines", ()))  # type: ignore[operator]
            self._per_statement[top] = (positions, offset)
        return self._per_statement[top]

    def _resolve(self) -> Mapping[cst.CSTNode, CodeRange]:
        if self._whole is None:
            wrapper = MetadataWrapper(self.module, unsafe_skip_copy=True)
            self._whole = wrapper.resolve(PositionProvider)
        return self._whole


def _first_lines(module: cst.Module, tops: list[int]) -> list[int | None]:
    """The parsed-text line where each top-level libcst statement's first token sits, from ``ast``
    (one line per ast statement; ``a = 1; b = 2`` is one libcst statement and two ast ones)."""
    out: list[int | None] = []
    lines = iter(tops)
    for stmt in module.body:
        count = len(stmt.body) if isinstance(stmt, cst.SimpleStatementLine) else 1
        group = [next(lines, None) for _ in range(count)]
        if group[0] is None:
            return [None] * len(module.body)
        out.append(group[0])
    return out


def analyze(source: str, tree: ast.AST | None = None, whole: bool = False) -> tuple[Walker, LazyPositions] | None:
    """Walk ``source``; None when it is not Python we can take (``tree``: flake8's own parse).

    Only the functions that can hold a finding are parsed and walked (see ``preselect``), unless
    ``whole`` is set: fixes rewrite the module, so they need all of it."""
    if tree is None:
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return None
    if not isinstance(tree, ast.Module):
        return None
    if not whole and not any(trigger in source for trigger in TRIGGERS) and not discarded_calls(tree.body):
        return None  # let in by a TV301 method's text, but no statement throws a result away
    model = semantic.build(tree)
    pruned = whole_module(source, tree, model) if whole else preselect(source, tree, model)
    if pruned is None:
        return None
    module = parse(pruned.text)
    if module is None and pruned.text != source:  # a pruning libcst rejects: the whole module, then
        pruned = whole_module(source, tree, model)
        module = parse(source) if pruned is not None else None
    if module is None:
        raise Unparsable(_parse_error(source))
    walker = Walker(module, model, pruned.scope)
    walker.module_env = walker.run()
    if walker.stale:  # a module-level dict read before a store into it: again, reads seeing the stores
        walker = Walker(module, model, pruned.scope, walker.stored)
        walker.module_env = walker.run()
    return walker, LazyPositions(module, pruned, walker.top_of)


@contextmanager
def collector_paused() -> Iterator[None]:
    """Run without the cyclic garbage collector, as it was before afterwards.

    Parsing allocates hundreds of thousands of nodes that all live until the file is done, so the
    collector would trace them (and everything else alive) over and over for almost nothing to
    collect: on the three benchmark corpora ``lint_source`` takes a fifth less CPU without it.
    Refcounting frees the file's trees when it is done; the few cycles wait for the next collection."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@functools.cache
def freeze_long_lived() -> None:
    """Once per process, when the first candidate file has imported libcst: collect, then move
    what is alive into the collector's permanent generation (``gc.freeze``), as CPython's docs
    advise before forking workers.

    libcst's import leaves some 16 000 objects the collector tracks (classes, functions, their
    dicts), and every full collection of the host process traced them again: in one flake8 process
    on a tenth of the benchmark corpora, the full collections took 1.5 s with the plugin against 0.9 s
    without it. Frozen objects are still freed by reference counting; only a cycle among them that
    becomes garbage later would never be collected, and what is alive at this point lives as long
    as the process anyway: imported modules, the host's options and plugins (the collection first
    frees the garbage of the file being checked). The editor plugin never calls this: a language
    server's documents are alive when it would run, and come and go."""
    gc.collect()
    gc.freeze()


@collector_paused()
def lint_source(
    source: str, tree: ast.AST | None = None, whole: bool = False, opt_in: Collection[str] = ()
) -> list[Diagnostic]:
    """Every finding in ``source``, sorted by position, each with its fix (``whole``: walk every
    function, not only the preselected ones; the findings are the same, only slower). Codes that are
    off by default are left out unless ``opt_in`` names them."""
    if not might_match(source):
        return []
    # the preselection keeps what a rule on by default can report; an opt-in rule (TV103: any
    # ``.contiguous().view``) is asked for on purpose, and gets the whole module
    try:
        result = analyze(source, tree, whole or any(not RULES[code].default for code in opt_in if code in RULES))
    except Unparsable as exc:  # said, not skipped in silence
        return [Diagnostic(1, 0, "TV901", message("TV901", where="the module", error=str(exc)[:200]))]
    if result is None:
        return []
    walker, positions = result
    found: set[Diagnostic] = set()
    for check in checks_for(opt_in):
        try:
            found.update(d for d in check(walker, positions) if reported(d.code, opt_in))
        except Exception as exc:  # contained: one rule's failure costs only its own findings
            walker.failures.append((walker.module, exc))
    found.update(internal_errors(walker, positions))
    return sorted(found)


def reported(code: str, opt_in: Collection[str]) -> bool:
    """Whether a finding is produced at all: codes off by default only when named in ``opt_in``."""
    rule = RULES.get(code)
    return rule is None or rule.default or code in opt_in


def checks_for(opt_in: Collection[str]) -> list[Check]:
    """The checks that can report a code :func:`reported` keeps: TV103's, off by default, is not
    run unless asked for (it found every ``.contiguous().view`` and placed each in the source, for
    nothing: 2 % of the plugin's CPU on the benchmark corpora)."""
    return [check for check, codes in CHECKS if any(reported(code, opt_in) for code in codes)]


def internal_errors(walker: Walker, positions: LazyPositions) -> list[Diagnostic]:
    """One TV901 per file for analysis that raised; an exhausted budget is not an error."""
    failures = [(node, exc) for node, exc in walker.failures if not isinstance(exc, BudgetExhausted)]
    if not failures:
        return []
    node, exc = failures[0]
    if isinstance(node, cst.FunctionDef):
        start = positions.at(node.name, node).start
        where, line, col = node.name.value, start.line, start.column
    else:
        where, line, col = "the module", 1, 0
    error = f"{type(exc).__name__}: {exc}"[:200]
    return [Diagnostic(line, col, "TV901", message("TV901", where=where, error=error))]


class _Apply(cst.CSTTransformer):
    def __init__(self, edits: dict[int, cst.CSTNode]) -> None:
        self.edits = edits

    def on_leave(self, original_node, updated_node):  # type: ignore[no-untyped-def]
        return self.edits.get(id(original_node), updated_node)


@collector_paused()
def fix_source(source: str, keep: Callable[[Diagnostic], bool] = lambda d: True, alternative: bool = False,
               opt_in: Collection[str] = ()) -> str:
    """``source`` with the fixes of the kept findings applied (their alternative fix where one is
    offered and ``alternative`` is set); unchanged if the result would not parse."""
    if not might_match(source):
        return source
    try:
        result = analyze(source, whole=True)
    except Unparsable:  # lint_source reports it
        return source
    if result is None:
        return source
    walker, positions = result
    edits: dict[int, cst.CSTNode] = {}
    for check in checks_for(opt_in):
        try:
            found = list(check(walker, positions))
        except Exception:  # a failing rule fixes nothing; lint_source reports it
            continue
        for d in found:
            edit = d.alternative if alternative and d.alternative is not None else d.edit
            if edit is not None and reported(d.code, opt_in) and keep(d):
                edits.setdefault(id(edit.old), edit.new)
    if not edits:
        return source
    fixed = walker.module.visit(_Apply(edits)).code
    try:
        ast.parse(fixed)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise FixError(f"the fixed code would not parse ({exc}); not written") from exc
    if parse(fixed) is None:
        raise FixError("the fixed code would not parse; not written")
    return fixed


class FixError(Exception):
    """A fix that would break the file: nothing is written."""
