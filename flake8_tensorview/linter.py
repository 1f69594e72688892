"""The pipeline: source text -> libcst tree -> dataflow facts -> rule checks -> diagnostics."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

import libcst as cst
from libcst.metadata import CodeRange, MetadataWrapper, PositionProvider

from .analysis import Walker
from .checks import CHECKS, Diagnostic

TRIGGERS = (".view(", "masked_fill")
"""Text every finding needs; files without any of these cost one substring search."""


def might_match(source: str) -> bool:
    return any(trigger in source for trigger in TRIGGERS)


def parse(source: str) -> cst.Module | None:
    try:
        return cst.parse_module(source)
    except (cst.ParserSyntaxError, RecursionError, ValueError):
        return None


class LazyPositions(Mapping[cst.CSTNode, CodeRange]):
    """Node positions, computed on first use: a file without findings never pays for them."""

    def __init__(self, module: cst.Module) -> None:
        self.module = module
        self._positions: Mapping[cst.CSTNode, CodeRange] | None = None

    def _resolve(self) -> Mapping[cst.CSTNode, CodeRange]:
        if self._positions is None:
            wrapper = MetadataWrapper(self.module, unsafe_skip_copy=True)
            self._positions = wrapper.resolve(PositionProvider)
        return self._positions

    def __getitem__(self, node: cst.CSTNode) -> CodeRange:
        return self._resolve()[node]

    def __iter__(self) -> Iterator[cst.CSTNode]:
        return iter(self._resolve())

    def __len__(self) -> int:
        return len(self._resolve())


def analyze(source: str) -> tuple[Walker, LazyPositions] | None:
    module = parse(source)
    if module is None:
        return None
    walker = Walker(module)
    walker.module_env = walker.run()
    return walker, LazyPositions(module)


def lint_source(source: str) -> list[Diagnostic]:
    """Every finding in ``source``, sorted by position, each with its fix."""
    if not might_match(source):
        return []
    result = analyze(source)
    if result is None:
        return []
    walker, positions = result
    found: set[Diagnostic] = set()
    for check in CHECKS:
        found.update(check(walker, positions))
    return sorted(found)


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
        for d in check(walker, positions):
            edit = d.alternative if alternative and d.alternative is not None else d.edit
            if edit is not None and keep(d):
                edits.setdefault(id(edit.old), edit.new)
    if not edits:
        return source
    fixed = walker.module.visit(_Apply(edits)).code
    return fixed if parse(fixed) is not None else source
