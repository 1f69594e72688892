"""TV201: leading size-1 dims added to a mask that ``masked_fill`` broadcasts anyway.

``masked_fill`` broadcasts the mask against the tensor from the trailing dims, so dims inserted in
front of the mask change nothing, provided the result shape is the tensor's: always for the
in-place ``masked_fill_``, and for ``masked_fill`` when the tensor has at least the mask's rank.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import libcst as cst

from .analysis import MaskSite, dotted
from .facts import Facts
from .layout import Tensor

TRANSPARENT_METHODS = {"bool", "logical_not", "to", "float", "byte", "int", "long", "half", "detach"}
"""Elementwise calls that keep whatever broadcasting the mask does."""


def _named(node: cst.CSTNode, *values: str) -> bool:
    return isinstance(node, cst.Name) and node.value in values


def _literal(node: cst.CSTNode) -> bool:
    return isinstance(node, (cst.Integer, cst.Float)) or _named(node, "True", "False", "None")


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


def _step(node: cst.BaseExpression) -> tuple[cst.BaseExpression, cst.CSTNode] | None:
    """An op that may insert dims, as (its tensor operand, where to report it): ``x.unsqueeze(k)``,
    ``torch.unsqueeze(x, k)``, ``x.view(...)``/``x.reshape(...)``, ``x[None, ...]``. Whether it
    did, and where the dims went, is the facts' to say."""
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
        name = node.func.attr.value
        if name == "unsqueeze" and dotted(node.func.value) == "torch":
            return (node.args[0].value, node) if node.args else None
        if name in ("unsqueeze", "view", "reshape"):
            return node.func.value, node.func.dot
    if isinstance(node, cst.Subscript):
        first = next((e for e in node.slice if isinstance(e.slice, cst.Index) and _named(e.slice.value, "None")), None)
        if first is not None:
            return node.value, first
    return None


def chain(expr: cst.BaseExpression, facts: Mapping[int, object]) -> Chain | None:
    """``expr`` as ops that only put size-1 dims in front of a base tensor, read from the facts:
    each step below ``expr`` has more inserted leading dims (:attr:`Tensor.inserted`) than its
    operand, down to an operand with none, the base."""
    top = facts.get(id(expr))
    if not isinstance(top, Tensor) or not top.inserted:
        return None
    node: cst.BaseExpression = expr
    report: cst.CSTNode | None = None
    while True:
        step = _step(node)
        fact = facts.get(id(node))
        if step is None or not isinstance(fact, Tensor):
            return None
        operand, where = step
        below = facts.get(id(operand))
        if not isinstance(below, Tensor) or below.inserted >= fact.inserted:
            return None  # a step that inserts nothing in front: not a chain of inserts
        report = where
        if not below.inserted:
            return Chain(expr, operand, report, top.rank)
        node = operand


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
