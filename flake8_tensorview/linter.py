"""The pipeline: source text -> libcst tree -> dataflow facts -> rule checks -> diagnostics."""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator, Mapping

import libcst as cst
from libcst.metadata import CodePosition, CodeRange, MetadataWrapper, PositionProvider

from .analysis import BudgetExhausted, Walker
from .checks import CHECKS, Diagnostic
from .rules import message

TRIGGERS = (".view", "masked_fill")
"""Text every finding needs; files without any of these cost one substring search."""


def might_match(source: str) -> bool:
    return any(trigger in source for trigger in TRIGGERS)


def parse(source: str) -> cst.Module | None:
    try:
        return cst.parse_module(source)
    except (cst.ParserSyntaxError, RecursionError, ValueError):
        return None


class LazyPositions(Mapping[cst.CSTNode, CodeRange]):
    """Node positions, computed on first use and only for the top-level statement that holds the
    node: a file without findings never pays for them, a big file pays for a few statements.

    libcst's PositionProvider regenerates the code of the whole module; here it runs on a one-
    statement module and the lines are shifted by where ``ast`` says that statement starts.
    """

    def __init__(self, module: cst.Module, tree: ast.Module, top_of: Mapping[int, int]) -> None:
        self.module = module
        self.top_of = top_of
        self.first_lines = _first_lines(module, tree)
        self._per_statement: dict[int, tuple[Mapping[cst.CSTNode, CodeRange], int]] = {}
        self._whole: Mapping[cst.CSTNode, CodeRange] | None = None

    def at(self, node: cst.CSTNode, hint: cst.CSTNode | None = None) -> CodeRange:
        """``node``'s range; ``hint``, an expression around it the walker evaluated, finds its statement."""
        top = self.top_of.get(id(node), self.top_of.get(id(hint), -1))
        if 0 <= top < len(self.first_lines) and self.first_lines[top] is not None:
            positions, offset = self._statement(top)
            if node in positions:
                r = positions[node]
                return CodeRange(
                    CodePosition(r.start.line + offset, r.start.column), CodePosition(r.end.line + offset, r.end.column)
                )
        return self._resolve()[node]

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

    def __getitem__(self, node: cst.CSTNode) -> CodeRange:
        return self.at(node)

    def __iter__(self) -> Iterator[cst.CSTNode]:
        return iter(self._resolve())

    def __len__(self) -> int:
        return len(self._resolve())


def _first_lines(module: cst.Module, tree: ast.Module) -> list[int | None]:
    """The line where each top-level libcst statement's first token sits, from ``ast``."""
    out: list[int | None] = []
    statements = iter(tree.body)
    for stmt in module.body:
        count = len(stmt.body) if isinstance(stmt, cst.SimpleStatementLine) else 1
        group = [next(statements, None) for _ in range(count)]
        first = group[0]
        if first is None:
            return [None] * len(module.body)
        decorators = getattr(first, "decorator_list", [])
        out.append(min([first.lineno] + [d.lineno for d in decorators]))
    return out


MAX_DEPTH = 400
"""Deeper syntax trees are skipped: libcst's native parser can overflow its stack on them."""


def too_deep(tree: ast.AST) -> bool:
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return False


def analyze(source: str, tree: ast.AST | None = None) -> tuple[Walker, LazyPositions] | None:
    """Walk ``source``; None when it is not Python we can take (``tree``: flake8's own parse)."""
    if tree is None:
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return None
    if too_deep(tree):
        return None
    module = parse(source)
    if module is None:
        return None
    walker = Walker(module)
    walker.module_env = walker.run()
    return walker, LazyPositions(module, tree, walker.top_of)  # type: ignore[arg-type]


def lint_source(source: str, tree: ast.AST | None = None) -> list[Diagnostic]:
    """Every finding in ``source``, sorted by position, each with its fix."""
    if not might_match(source):
        return []
    result = analyze(source, tree)
    if result is None:
        return []
    walker, positions = result
    found: set[Diagnostic] = set()
    for check in CHECKS:
        try:
            found.update(check(walker, positions))
        except Exception as exc:  # contained: one rule's failure costs only its own findings
            walker.failures.append((walker.module, exc))
    found.update(internal_errors(walker, positions))
    return sorted(found)


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


def fix_source(source: str, keep: Callable[[Diagnostic], bool] = lambda d: True, alternative: bool = False) -> str:
    """``source`` with the fixes of the kept findings applied (their alternative fix where one is
    offered and ``alternative`` is set); unchanged if the result would not parse."""
    if not might_match(source):
        return source
    result = analyze(source)
    if result is None:
        return source
    walker, positions = result
    edits: dict[int, cst.CSTNode] = {}
    for check in CHECKS:
        try:
            found = list(check(walker, positions))
        except Exception:  # a failing rule fixes nothing; lint_source reports it
            continue
        for d in found:
            edit = d.alternative if alternative and d.alternative is not None else d.edit
            if edit is not None and keep(d):
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
