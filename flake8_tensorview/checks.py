"""Rule checks: turn the sites the walker recorded into diagnostics, each with its fix."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

import libcst as cst
from libcst.metadata import CodeRange

from .analysis import ViewSite, Walker
from .dims import product
from .layout import broken_merge, view_strides
from .masks import redundant_unsqueezes
from .rules import message


@dataclass(frozen=True)
class Edit:
    """Replace ``old`` (a node of the linted tree) by ``new``."""

    old: cst.CSTNode
    new: cst.CSTNode


@dataclass(frozen=True, order=True)
class Diagnostic:
    line: int
    col: int
    code: str
    text: str
    """The full message, code first."""
    edit: Edit | None = field(default=None, compare=False, hash=False)
    alternative: Edit | None = field(default=None, compare=False, hash=False)
    """A second fix offered on request (TV101: ``.reshape(...)`` instead of ``.contiguous()``)."""
    end: tuple[int, int] = field(default=(0, 0), compare=False, hash=False)
    """Line and column where the reported node ends."""


class Positions(Protocol):
    def at(self, node: cst.CSTNode, hint: cst.CSTNode | None = None) -> CodeRange: ...


# ---- TV101 ------------------------------------------------------------------------------------


def view_is_incompatible(site: ViewSite) -> bool:
    """The view raises for generic sizes: the exact ATen algorithm on the known layout says so."""
    t, target = site.tensor, site.target
    if target is None or t.shape is None or t.strides is None or t.contiguous:
        return False
    if product(target) != product(t.shape):
        return False
    return view_strides(t.shape, t.strides, target) is None


def _merged(site: ViewSite) -> str:
    t, target = site.tensor, site.target
    assert t.shape is not None and t.strides is not None and target is not None
    dims = broken_merge(t.shape, t.strides, target)
    if dims is None:
        return "dims whose strides do not fit the new shape"
    numbers = ", ".join(str(d) for d in dims[:-1]) + f" and {dims[-1]}"
    names = ", ".join(t.label(d) for d in dims)
    return f"dims {numbers} ({names})"


def contiguous_first(attr: cst.Attribute) -> Edit:
    """``x.view(...)`` -> ``x.contiguous().view(...)``: one copy, and only where the view would raise."""
    receiver = cst.Call(func=cst.Attribute(value=attr.value, attr=cst.Name("contiguous")))
    return Edit(attr.value, receiver)


def as_reshape(attr: cst.Attribute) -> Edit:
    """``x.view(...)`` -> ``x.reshape(...)`` (``x.view_as(y)`` -> ``x.reshape_as(y)``)."""
    return Edit(attr.attr, attr.attr.with_changes(value=attr.attr.value.replace("view", "reshape")))


def check_views(walker: Walker, positions: Positions) -> Iterator[Diagnostic]:
    for site in walker.views.values():
        if not view_is_incompatible(site):
            continue
        origin = site.tensor.origin
        if origin is None:
            op, line = "an earlier op", 0
        else:
            op, node = walker.describe(origin)
            line = positions.at(node, walker.anchors[origin.anchor]).start.line
        start, end = positions.at(site.attr.dot, site.attr).start, positions.at(site.attr.attr, site.attr).end
        text = message("TV101", method=site.attr.attr.value, merged=_merged(site), op=op, line=line)
        yield Diagnostic(
            start.line,
            start.column,
            "TV101",
            text,
            contiguous_first(site.attr),
            as_reshape(site.attr),
            (end.line, end.column),
        )


# ---- TV201 ------------------------------------------------------------------------------------


def check_masks(walker: Walker, positions: Positions) -> Iterator[Diagnostic]:
    seen: set[int] = set()
    for finding in redundant_unsqueezes(walker):
        c = finding.chain
        if id(c.report) in seen:
            continue
        seen.add(id(c.report))
        start = positions.at(c.report, c.top).start
        base = walker.module.code_for_node(c.base)
        ops = " ".join(walker.module.code_for_node(c.top).split())
        ops = ops[len(base) :] if ops.startswith(base) else ops
        text = message(
            "TV201",
            ops=ops,
            call=walker.module.code_for_node(finding.site.call.func).strip(),
            line=positions.at(finding.site.call).start.line,
            suggestion=finding.suggestion,
        )
        end = positions.at(c.top).end
        yield Diagnostic(start.line, start.column, "TV201", text, Edit(c.top, c.base), end=(end.line, end.column))


CHECKS = (check_views, check_masks)
