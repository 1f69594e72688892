"""TV201: leading size-1 dims added to a mask that ``masked_fill`` broadcasts anyway.

``masked_fill`` broadcasts the mask against the tensor from the trailing dims, so dims inserted in
front of the mask change nothing, provided the result shape is the tensor's: always for the
in-place ``masked_fill_``, and for ``masked_fill`` when the tensor has at least the mask's rank.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields

import libcst as cst

from .analysis import MaskSite, dotted, insertion_operand, mask_op
from .facts import Facts
from .layout import Tensor
from .values import TupleV

TRANSPARENT_METHODS = {"bool", "logical_not", "to", "float", "byte", "int", "long", "half", "detach"}
"""Elementwise calls that keep whatever broadcasting the mask does."""
COMPARING_METHODS = {"eq", "ne", "lt", "le", "gt", "ge"}
"""``m.eq(0)``: as ``m == 0``, with a literal."""


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
            and (expr.func.attr.value in TRANSPARENT_METHODS
                 or expr.func.attr.value in COMPARING_METHODS and len(expr.args) == 1 and _literal(expr.args[0].value))
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
    operand = insertion_operand(node)
    if operand is None:
        return None
    if isinstance(node, cst.Subscript):
        first = next((e for e in node.slice if isinstance(e.slice, cst.Index) and _named(e.slice.value, "None")), None)
        return (operand, first) if first is not None else None
    assert isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute)
    return (operand, node) if dotted(node.func.value) == "torch" else (operand, node.func.dot)


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
    absorber: cst.BaseExpression | None = None
    """The mask op that broadcasts the chain's dims anyway, before any fill does (see :func:`_by_values`)."""


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
    yield from _by_bindings(facts)
    yield from _by_values(facts)


def _by_bindings(facts: Facts) -> Iterator[Finding]:
    """Chains found by following a mask's name to the expressions bound to it."""
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


# ---- chains followed by value ----------------------------------------------------------------


def _by_values(facts: Facts) -> Iterator[Finding]:
    """Chains found by where their result went, across returns, tuples, calls, branches and ``...``
    slices (Gemma's ``_create_masks`` returns both masks ``[None, None, :, :]``; the blocks hand
    them on to the attention's ``masked_fill``). A chain is redundant when every expression its
    result reached (:attr:`Facts.carriers`) passes it on unchanged or is a mask that the fill
    broadcasts anyway, and at least one is: a chain whose dims anything else may see (arithmetic,
    a library call, an attribute, a call the interpreter did not follow) is left alone.

    A mask op that broadcasts the chain's result against an operand of at least its rank
    (``tgt_mask & causal.unsqueeze(0)``) makes the chain moot (:meth:`Facts.absorber`): the value is
    the same without it, so what happens to it afterwards has no say, but it must still reach a
    fill's mask to be one of TV201's."""
    if not facts.complete or not any(facts.fills(site.call) for site in facts.masks()):
        return  # a use the interpreter never reached may need the dims
    contexts = _Contexts(facts)
    accepted: dict[int, MaskSite] = {}
    needed: set[int] = set()
    for expression, chains in facts.carriers.items():
        live = facts.live(expression)
        for at in chains:
            verdict = contexts.verdict(expression, at)
            if verdict is None and at in live:
                needed.add(at)
            elif isinstance(verdict, MaskSite):
                accepted.setdefault(at, verdict)
    for at, site in accepted.items():
        if at in needed:
            continue
        c = chain(facts.insertion(at), facts.facts)
        if c is not None:
            yield Finding(c, site, " ".join(facts.module.code_for_node(c.base).split()), facts.absorber(at))


_LAYOUT = (cst.BaseParenthesizableWhitespace, cst.EmptyLine, cst.TrailingWhitespace, cst.Newline, cst.Comment)
"""Nodes of the code's layout, whose parents nothing asks for."""
_FIELDS: dict[type, tuple[str, ...]] = {}


def _parents(module: cst.Module) -> dict[int, cst.CSTNode]:
    """id(node) -> its parent, for every node but the layout's: read from the nodes' fields (libcst's
    nodes are dataclasses), a third of the time a visitor takes, which rebuilds each node it leaves."""
    out: dict[int, cst.CSTNode] = {}
    stack: list[cst.CSTNode] = [module]
    while stack:
        node = stack.pop()
        names = _FIELDS.get(type(node))
        if names is None:
            names = _FIELDS[type(node)] = tuple(f.name for f in fields(node))  # type: ignore[arg-type]
        for name in names:
            value = getattr(node, name)
            for child in value if isinstance(value, (tuple, list)) else (value,):
                if isinstance(child, cst.CSTNode) and not isinstance(child, _LAYOUT):
                    out[id(child)] = node
                    stack.append(child)
    return out


class _Contexts:
    """What the place of an expression does with the leading dims its value carries."""

    def __init__(self, facts: Facts) -> None:
        self.facts = facts
        self.parents = _parents(facts.module)
        self.sites = {id(site.call): site for site in facts.masks()}
        self.calls: dict[str, list[int]] = {}
        for call in facts.calls():
            self.calls.setdefault(call.function, []).append(id(call.node))

    def verdict(self, expression: int, at: int) -> MaskSite | bool | None:
        """The site when the expression is a mask a fill broadcasts anyway, True when its place
        passes the value on (or makes its leading dims moot), None when the dims may matter."""
        parent = self.parents.get(expression)
        carried = self.facts.carriers
        if parent is None:
            return None
        if isinstance(parent, cst.Arg):
            return self._argument(parent, expression, at)
        if isinstance(parent, (cst.Assign, cst.AnnAssign)):
            targets = [t.target for t in parent.targets] if isinstance(parent, cst.Assign) else [parent.target]
            return True if all(isinstance(t, cst.Name) for t in targets) else None
        if isinstance(parent, cst.Return):
            return self._returned(expression, at)
        if isinstance(parent, cst.Element):
            return self._element(parent, expression, at)
        if isinstance(parent, (cst.IfExp, cst.UnaryOperation, cst.Comparison)) or _transparent_call(parent) or (
                isinstance(parent, cst.Subscript) and _behind_ellipsis(parent)) or mask_op(parent):
            # the parent carries it on: live, or moot where a mask op (``mask | padding[:, None, None, :]``)
            # broadcast it against an operand of at least its rank (``Walker.absorbers``)
            return True if at in carried.get(id(parent), ()) else None
        if isinstance(parent, cst.Attribute) and isinstance(grand := self.parents.get(id(parent)), cst.Call) and (
                _transparent_call(grand)):
            return True if at in carried.get(id(grand), ()) else None  # ``mask.bool()``
        return None

    def _argument(self, arg: cst.Arg, expression: int, at: int) -> MaskSite | bool | None:
        call = self.parents.get(id(arg))
        if not isinstance(call, cst.Call):
            return None
        site = self.sites.get(id(call))
        if site is not None and id(site.mask) == expression:
            # the mask of a fill: every evaluation that filled with this chain's dims and knew what
            # it filled must broadcast them anyway (one that lost the filled tensor's rank, a loop
            # round that joined it away, is the same code seen with less: it has no say)
            top = self.facts.facts.get(at)
            made = top.rank if isinstance(top, Tensor) else None  # what the chain made: a join may not know it
            fills = [f for f in self.facts.fills(call) if isinstance(f.mask_value, Tensor) and at in f.mask_value.inserted_at
                     and (f.in_place or f.tensor.rank is not None or not f.mask_value.inserted)]
            # a mask whose chain a mask op made moot (``inserted`` 0) is the same without it
            if fills and all(not f.mask_value.inserted or _site_accepts(f, f.mask_value.rank or made)  # type: ignore[union-attr]
                             for f in fills):
                return fills[0]
            return None
        return True if at in self.facts.passed(call) else None

    def _returned(self, expression: int, at: int) -> bool | None:
        """A function's result goes where its calls go: each must carry it on, and every function
        that may call it must have been followed."""
        function = self.facts.function_of(expression)
        calls = self.calls.get(function, [])
        if calls and self.facts.callers_followed(function) and all(at in self.facts.carriers.get(c, ()) for c in calls):
            return True
        return None

    def _element(self, element: cst.Element, expression: int, at: int) -> bool | None:
        """An item of a tuple that is unpacked into names, or returned and unpacked by the caller."""
        sequence = self.parents.get(id(element))
        if not isinstance(sequence, cst.Tuple):
            return None
        place = self.parents.get(id(sequence))
        if isinstance(place, cst.Assign) and all(
                isinstance(t.target, (cst.Tuple, cst.List)) and all(isinstance(e.value, cst.Name) for e in t.target.elements)
                for t in place.targets):
            return True
        if isinstance(place, cst.Return):
            index = [id(e) for e in sequence.elements].index(id(element))
            return True if self._unpacked(self.facts.function_of(expression), index, at) else None
        return None

    def _unpacked(self, function: str, index: int, at: int) -> bool:
        """Every call of ``function`` is unpacked into names, its item ``index`` still carrying the
        chain's dims (then the reads of that name are carriers of their own)."""
        calls = self.calls.get(function, [])
        if not calls or not self.facts.callers_followed(function):
            return False
        for call in calls:
            result = self.facts.facts.get(call)
            item = result.items[index] if isinstance(result, TupleV) and index < len(result.items) else None
            if not isinstance(item, Tensor) or at not in item.inserted_at:
                return False
            place = self.parents.get(call)
            if not isinstance(place, cst.Assign) or len(place.targets) != 1:
                return False
            target = place.targets[0].target
            if not isinstance(target, (cst.Tuple, cst.List)) or index >= len(target.elements):
                return False
            if not all(isinstance(e.value, cst.Name) for e in target.elements):
                return False
        return True


def _transparent_call(node: cst.CSTNode) -> bool:
    """``m.bool()``, ``torch.logical_not(m)``: what :func:`peel` looks through."""
    return isinstance(node, cst.Call) and peel(node) is not node


def _behind_ellipsis(node: cst.Subscript) -> bool:
    """``m[..., -k:]``: indices behind a leading ``...`` that insert nothing."""
    items = node.slice
    return bool(items) and isinstance(items[0].slice, cst.Index) and isinstance(items[0].slice.value, cst.Ellipsis) and (
        not any(isinstance(e.slice, cst.Index) and _named(e.slice.value, "None") for e in items[1:]))
