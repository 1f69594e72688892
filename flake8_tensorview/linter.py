"""The pipeline: source text -> libcst tree -> dataflow facts -> rule checks -> diagnostics."""

from __future__ import annotations

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from .analysis import Walker
from .checks import Diagnostic, check_masks, check_views

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
    if not might_match(source):
        return []
    result = analyze(source)
    if result is None:
        return []
    walker, positions = result

    def at(node: cst.Attribute) -> tuple[int, int]:
        start = positions[node.dot].start  # type: ignore[attr-defined]
        return start.line, start.column

    view_positions = {id(site.attr): at(site.attr) for site in walker.views.values()}
    found = set(check_views(list(walker.views.values()), view_positions))
    found.update(check_masks(walker, positions))
    return sorted(found)
