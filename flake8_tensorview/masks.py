"""TV201: leading size-1 dims added to a mask that ``masked_fill`` broadcasts anyway.

``masked_fill`` broadcasts the mask against the tensor from the trailing dims, so dims inserted in
front of the mask change nothing, provided the result shape is the tensor's: always for the
in-place ``masked_fill_``, and for ``masked_fill`` when the tensor has at least the mask's rank.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import libcst as cst

from .analysis import MaskSite, dotted
from .facts import Facts
from .dims import Dim
from .layout import Tensor

TRANSPARENT_METHODS = {"bool", "logical_not", "to", "float", "byte", "int", "long", "half", "detach"}
"""Elementwise calls that keep whatever broadcasting the mask does."""


def _named(node: cst.CSTNode, *values: str) -> bool:
    return isinstance(node, cst.Name) and node.value in values


def _literal(node: cst.CSTNode) -> bool:
    return isinstance(node, (cst.Integer, cst.Float)) or _named(node, "True", "False", "None")


def _none_index(s: cst.CSTNode) -> bool:
    """``None`` in a subscript (a new dim)."""
    return isinstance(s, cst.Index) and _named(s.value, "None")


def _full_slice(s: cst.CSTNode) -> bool:
    """A bare ``:``."""
    return isinstance(s, cst.Slice) and s.lower is None and s.upper is None and s.step is None


@dataclass(frozen=True)
class Chain:
    """``base`` followed by ops that only insert size-1 dims in front of it."""

    top: cst.BaseExpression
    base: cst.BaseExpression
    report: cst.CSTNode
    final_rank: int | None


def peel(expr: cst.BaseExpression) -> cst.BaseExpression:
    """Strip the broadcast-neutral wrappers around a mask: ``m == 0``, ``~m``, ``m.bool()``."""
    while True:
        if isinstance(expr, cst.Comparison) and len(expr.comparisons) == 1:
            right = expr.comparisons[0].comparator
            if _literal(right):
                expr = expr.left
                continue
            if _literal(expr.left):
                expr = right
                continue
        if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, (cst.BitInvert, cst.Not)):
            expr = expr.expression
            continue
        if (
            isinstance(expr, cst.Call)
            and isinstance(expr.func, cst.Attribute)
            and expr.func.attr.value in TRANSPARENT_METHODS
            and dotted(expr.func.value) not in ("torch", "F")
        ):
            expr = expr.func.value
            continue
        if (isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) and _named(expr.func.value, "torch")
                and expr.func.attr.value == "logical_not" and expr.args):
            expr = expr.args[0].value
            continue
        return expr


def _int(node: cst.BaseExpression) -> int | None:
    if isinstance(node, cst.Integer):
        return int(node.value, 0)
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus):
        inner = _int(node.expression)
        return None if inner is None else -inner
    return None


def _unsqueeze(expr: cst.BaseExpression) -> tuple[cst.BaseExpression, int, cst.CSTNode] | None:
    """``x.unsqueeze(k)`` / ``torch.unsqueeze(x, k)`` -> (x, k, where to report)."""
    if not isinstance(expr, cst.Call) or not isinstance(expr.func, cst.Attribute):
        return None
    if expr.func.attr.value != "unsqueeze":
        return None
    args = [a.value for a in expr.args if a.keyword is None] + [
        a.value for a in expr.args if a.keyword is not None and a.keyword.value == "dim"
    ]
    if dotted(expr.func.value) == "torch":
        if len(args) != 2:
            return None
        k = _int(args[1])
        return None if k is None else (args[0], k, expr)
    k = _int(args[0]) if len(args) == 1 else None
    return None if k is None else (expr.func.value, k, expr.func.dot)


def chain(expr: cst.BaseExpression, facts: dict[int, object]) -> Chain | None:
    """The ops on top of ``expr``'s base, if every dim they insert lands in front of it."""
    steps: list[cst.BaseExpression] = []
    node = expr
    while True:
        unsq = _unsqueeze(node)
        if unsq is not None:
            steps.append(node)
            node = unsq[0]
        elif isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and _named(node.func.attr, "view", "reshape"):
            steps.append(node)
            node = node.func.value
        elif isinstance(node, cst.Subscript) and _insertion_index(node):
            steps.append(node)
            node = node.value
        else:
            break
    if not steps:
        return None
    base = node
    base_fact = facts.get(id(base))
    if isinstance(base_fact, Tensor) and base_fact.shape is not None:
        return _known_rank_chain(expr, base, list(reversed(steps)), list(base_fact.shape), facts)
    lead = 0
    report: cst.CSTNode | None = None
    for step in reversed(steps):
        before = lead
        if (unsq := _unsqueeze(step)) is not None:
            if not 0 <= unsq[1] <= lead:
                return None
            lead += 1
            where = unsq[2]
        elif isinstance(step, cst.Subscript):
            lead = _index_lead(step, lead)  # type: ignore[assignment]
            if lead is None:
                return None
            where = _first_none(step)
        else:
            return None
        if report is None and lead > before:
            report = where
    if report is None:
        return None
    return Chain(expr, base, report, None)


INSERTED = None
"""A dim the chain inserted (original dims are their sizes)."""


def _known_rank_chain(
    top: cst.BaseExpression,
    base: cst.BaseExpression,
    steps: list[cst.BaseExpression],
    dims: list[Dim | None],
    facts: dict[int, object],
) -> Chain | None:
    """With the base's shape known: every inserted dim must sit behind only size-1 dims."""
    report: cst.CSTNode | None = None
    for step in steps:
        if (unsq := _unsqueeze(step)) is not None:
            k = unsq[1] + len(dims) + 1 if unsq[1] < 0 else unsq[1]
            if not 0 <= k <= len(dims):
                return None
            dims.insert(k, INSERTED)
            where = unsq[2]
        elif isinstance(step, cst.Subscript):
            new = _index_dims(step, dims)
            if new is None:
                return None
            dims = new
            where = _first_none(step)
        else:
            lead = _view_lead(step, 0, facts)  # type: ignore[arg-type]
            if lead is None:
                return None
            dims = [INSERTED] * lead + dims
            where = step.func.dot  # type: ignore[attr-defined]
        report = report or where
    for i, d in enumerate(dims):
        if d is INSERTED and not all(e is INSERTED or e.is_one for e in dims[:i]):
            return None
    if report is None:
        return None
    return Chain(top, base, report, len(dims))


def _index_dims(node: cst.Subscript, dims: list[Dim | None]) -> list[Dim | None] | None:
    elements = [e.slice for e in node.slice]
    out: list[Dim | None] = []
    rest = list(dims)
    for n, s in enumerate(elements):
        if _none_index(s):
            out.append(INSERTED)
        elif _full_slice(s):
            if not rest:
                return None
            out.append(rest.pop(0))
        else:  # '...'
            later = sum(1 for e in elements[n + 1 :] if _full_slice(e))
            if later > len(rest):
                return None
            out.extend(rest[: len(rest) - later])
            rest = rest[len(rest) - later :]
    return out + rest


def _first_none(node: cst.Subscript) -> cst.CSTNode:
    return next(e for e in node.slice if _none_index(e.slice))


def _insertion_index(node: cst.Subscript) -> bool:
    """Only ``None``, full ``:`` and ``...``, with at least one ``None``."""
    kinds = []
    for element in node.slice:
        s = element.slice
        if _none_index(s):
            kinds.append("none")
        elif isinstance(s, cst.Index) and isinstance(s.value, cst.Ellipsis):
            kinds.append("...")
        elif _full_slice(s):
            kinds.append(":")
        else:
            return False
    return "none" in kinds


def _index_lead(node: cst.Subscript, lead: int) -> int | None:
    out = consumed = 0
    past_original = False
    for element in node.slice:
        s = element.slice
        if _none_index(s):
            if past_original:
                return None
            out += 1
        elif _full_slice(s) and consumed < lead:
            consumed += 1
            out += 1
        else:  # ':' on an original dim, or '...': everything after sits behind the originals
            out += lead - consumed
            consumed = lead
            past_original = True
    return out + (lead - consumed)


def _view_lead(node: cst.Call, lead: int, facts: dict[int, object]) -> int | None:
    before = facts.get(id(node.func.value))  # type: ignore[attr-defined]
    after = facts.get(id(node))
    if not (isinstance(before, Tensor) and isinstance(after, Tensor)) or before.shape is None or after.shape is None:
        return None
    added = len(after.shape) - len(before.shape)
    if added <= 0 or after.shape[added:] != before.shape or not all(d.is_one for d in after.shape[:added]):
        return None
    return lead + added


@dataclass(frozen=True)
class Finding:
    chain: Chain
    site: MaskSite
    suggestion: str


def _site_accepts(site: MaskSite, rank: int | None) -> bool:
    tensor_rank = site.tensor.rank
    if site.in_place:
        return tensor_rank is None or rank is None or tensor_rank >= rank
    return tensor_rank is not None and rank is not None and tensor_rank >= rank


def _final_rank(c: Chain, facts: dict[int, object]) -> int | None:
    if c.final_rank is not None:
        return c.final_rank
    fact = facts.get(id(c.top))
    return fact.rank if isinstance(fact, Tensor) else None


def redundant_unsqueezes(facts: Facts) -> Iterator[Finding]:
    sites = facts.masks()  # evaluation order: the first site in the source comes first
    cores = {id(site): peel(site.mask) for site in sites}
    reads = {id(core): site for site in sites if isinstance(core := cores[id(site)], cst.Name)}
    uses = _Uses(facts, reads)
    done: set[int] = set()
    for site in sites:
        core = cores[id(site)]
        if not isinstance(core, cst.Name):
            c = chain(core, facts.facts)
            if c is None or not _site_accepts(site, _final_rank(c, facts.facts)):
                continue
            fixed = site.call.deep_replace(core, c.base)
            yield Finding(c, site, " ".join(facts.module.code_for_node(fixed).split()))
            continue
        local = _bound(facts, core)
        for expr, binding in uses.sources(core):
            if id(expr) in done:
                continue
            c = chain(expr, facts.facts)
            if c is None:
                continue
            rank = _final_rank(c, facts.facts)
            if binding is not None and not uses.only_masks(binding, rank):
                continue
            done.add(id(expr))
            if expr is local:  # built in this function: say the masked_fill as it should read
                suggestion = facts.module.code_for_node(site.call.deep_replace(core, c.base))
            else:  # built in another function: the fix is there
                suggestion = facts.module.code_for_node(c.base)
            yield Finding(c, site, " ".join(suggestion.split()))


def _bound(facts: Facts, name: cst.Name) -> cst.BaseExpression | None:
    binding = facts.binding(name)
    return facts.bound(binding) if binding is not None else None


class _Uses:
    """Where a mask variable's value comes from and where it goes, across the module's calls: a
    parameter's value is each call site's argument, and passing a mask to the module's own
    function is fine when that function uses it only as a mask."""

    MAX_DEPTH = 8

    def __init__(self, facts: Facts, reads: dict[int, MaskSite]) -> None:
        self.facts = facts
        self.reads = reads
        self.passed: dict[int, tuple[str, str]] = {}
        """id(argument expression) -> (the function it is passed to, the parameter it binds)."""
        self.arguments: dict[int, cst.BaseExpression] = {}
        for call in facts.calls():
            names = facts.positional(call.function)[1 if call.bound else 0 :]
            position = 0
            for arg in call.node.args:
                if arg.star:
                    break
                self.arguments[id(arg.value)] = arg.value
                if arg.keyword is not None:
                    self.passed[id(arg.value)] = (call.function, arg.keyword.value)
                elif position < len(names):
                    self.passed[id(arg.value)] = (call.function, names[position])
                    position += 1

    def sources(self, name: cst.Name, depth: int = 0) -> Iterator[tuple[cst.BaseExpression, int | None]]:
        """(an expression the mask read by ``name`` was built from, the binding that holds it)."""
        facts = self.facts
        binding = facts.binding(name)
        if binding is None or facts.ambiguous(binding):
            return
        expr = facts.bound(binding)
        if expr is not None:
            yield expr, binding
            return
        place = facts.parameter(binding)
        if place is None or depth >= self.MAX_DEPTH:
            return
        for argument, target in self.passed.items():
            if target != place:
                continue
            node = self.arguments[argument]
            if isinstance(node, cst.Name):
                yield from self.sources(node, depth + 1)
            else:
                yield node, None

    def only_masks(self, binding: int, rank: int | None, depth: int = 0, seen: frozenset[int] = frozenset()) -> bool:
        """Every read of ``binding`` is a ``masked_fill`` mask that accepts the mask's ``rank``, a
        test against None, or an argument to a function of the module that uses it the same way."""
        facts = self.facts
        if depth > self.MAX_DEPTH or binding in seen or facts.ambiguous(binding):
            return False
        for use in facts.reads(binding):
            site = self.reads.get(use)
            if site is not None:
                if not _site_accepts(site, rank):
                    return False
                continue
            if facts.none_test(use):
                continue
            target = self.passed.get(use)
            inner = facts.parameter_binding(*target) if target is not None else None
            if inner is None or not self.only_masks(inner, rank, depth + 1, seen | {binding}):
                return False
        return True
