"""Rule checks: turn the sites the walker recorded into diagnostics."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from .analysis import ViewSite
from .dims import product
from .layout import broken_merge, view_strides
from .rules import message


@dataclass(frozen=True, order=True)
class Diagnostic:
    line: int
    col: int
    code: str
    text: str
    """The full message, code first."""


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


def check_views(sites: list[ViewSite], position: dict[int, tuple[int, int]]) -> Iterator[Diagnostic]:
    for site in sites:
        if not view_is_incompatible(site):
            continue
        origin = site.tensor.origin
        op, line = (origin.op, origin.line) if origin else ("an earlier op", 0)
        line_, col = position[id(site.attr)]
        yield Diagnostic(line_, col, "TV101", message("TV101", merged=_merged(site), op=op, line=line))
