"""The pipeline: source text -> libcst tree -> dataflow facts -> rule checks -> diagnostics."""

from __future__ import annotations

from collections.abc import Callable

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

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


def analyze(source: str) -> tuple[Walker, dict[cst.CSTNode, object]] | None:
    module = parse(source)
    if module is None:
        return None
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    positions = wrapper.resolve(PositionProvider)
    line_of = {node: rng.start.line for node, rng in positions.items()}
    walker = Walker(wrapper.module, line_of)  # type: ignore[arg-type]
    walker.module_env = walker.run()
    return walker, positions  # type: ignore[return-value]


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
        found.update(check(walker, positions))  # type: ignore[arg-type]
    return sorted(found)


class _Apply(cst.CSTTransformer):
    def __init__(self, edits: dict[int, cst.CSTNode]) -> None:
        self.edits = edits

    def on_leave(self, original_node, updated_node):  # type: ignore[no-untyped-def]
        return self.edits.get(id(original_node), updated_node)


def fix_source(source: str, keep: Callable[[Diagnostic], bool] = lambda d: True) -> str:
    """``source`` with the fixes of the kept findings applied; unchanged if the result would not parse."""
    if not might_match(source):
        return source
    result = analyze(source)
    if result is None:
        return source
    walker, positions = result
    edits: dict[int, cst.CSTNode] = {}
    for check in CHECKS:
        for d in check(walker, positions):  # type: ignore[arg-type]
            if d.edit is not None and keep(d):
                edits.setdefault(id(d.edit.old), d.edit.new)
    if not edits:
        return source
    fixed = walker.module.visit(_Apply(edits)).code
    return fixed if parse(fixed) is not None else source
