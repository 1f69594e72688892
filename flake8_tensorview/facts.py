"""The facts rules read about one analysed module: the sites the interpreter recorded, the value of
each expression where it was evaluated, which op made a layout and in which function, and how
names, parameters and calls link up. Rules ask here; they never read the interpreter's state or
re-derive what an op does (Fixit's ``METADATA_DEPENDENCIES`` is the anchor).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import libcst as cst

from .analysis import BudgetExhausted, DiscardedSite, MaskSite, ViewSite, Walker
from .layout import Origin
from .values import UNKNOWN, Value


@dataclass(frozen=True)
class Made:
    """Where an op that changed a layout ran: its text as written, the node to point at, and the
    function it ran in."""

    op: str
    node: cst.CSTNode
    anchor: cst.CSTNode
    """The expression the walker evaluated around ``node`` (finds its statement cheaply)."""
    function: str


@dataclass(frozen=True)
class Call:
    """A call of one of the module's own functions that the interpreter evaluated."""

    node: cst.Call
    function: str
    bound: bool
    """Whether ``self`` was bound (a method called on an instance): the arguments start one later."""


class Facts:
    def __init__(self, walker: Walker) -> None:
        self._walker = walker

    @property
    def module(self) -> cst.Module:
        return self._walker.module

    def text(self, node: cst.CSTNode) -> str:
        """The source of ``node`` on one line."""
        return self._walker.text(node)

    # ---- values and sites ------------------------------------------------------------------

    @property
    def facts(self) -> Mapping[int, Value]:
        """id(expression) -> its value where it was evaluated (the last evaluation)."""
        return self._walker.facts

    def value(self, node: cst.CSTNode) -> Value:
        return self._walker.facts.get(id(node), UNKNOWN)

    @property
    def views(self) -> Mapping[tuple[int, int], ViewSite]:
        """Every ``.view``/``.view_as`` in every context its function was evaluated in."""
        return self._walker.views

    def masks(self) -> list[MaskSite]:
        """``masked_fill`` calls, in evaluation order."""
        return list(self._walker.masks.values())

    @property
    def discarded(self) -> Mapping[int, DiscardedSite]:
        return self._walker.discarded

    def made(self, origin: Origin) -> Made:
        walker = self._walker
        op, node = walker.describe(origin)
        return Made(op, node, walker.anchors[origin.anchor], walker.function_of.get(origin.anchor, ""))

    # ---- names, parameters, calls ------------------------------------------------------------

    def binding(self, name: cst.Name) -> int | None:
        """The binding a read of ``name`` sees (None: a global, a builtin, or several)."""
        return self._walker.binding_of.get(id(name))

    def bound(self, binding: int) -> cst.BaseExpression | None:
        """The expression a binding assigns (None: a parameter, unpacking, a loop target)."""
        return self._walker.bindings.get(binding)

    def ambiguous(self, binding: int) -> bool:
        """Whether some read of it may see another binding too (branches bound it differently)."""
        return binding in self._walker.tainted

    def reads(self, binding: int) -> set[int]:
        """ids of the Name nodes that read ``binding``."""
        return self._walker.uses.get(binding, set())

    def parameter(self, binding: int) -> tuple[str, str] | None:
        """(function, name) when ``binding`` is a parameter."""
        return self._walker.params.get(binding)

    def parameter_binding(self, function: str, name: str) -> int | None:
        for binding, place in self._walker.params.items():
            if place == (function, name):
                return binding
        return None

    def positional(self, function: str) -> list[str]:
        node = self._walker.functions[function][0]
        return [p.name.value for p in (*node.params.posonly_params, *node.params.params)]

    def none_test(self, name: int) -> bool:
        """Whether the Name node ``name`` is read only to compare it with None."""
        return name in self._walker.none_tests

    # ---- where inserted leading dims went --------------------------------------------------

    def insertion(self, at: int) -> cst.BaseExpression:
        """The expression an id in :attr:`Tensor.inserted_at` names."""
        return self._walker.insertions[at]

    @property
    def carriers(self) -> Mapping[int, set[int]]:
        """id(expression) -> the insertions its value carried in some evaluation."""
        return self._walker.carriers

    def live(self, expression: int) -> set[int]:
        """The insertions whose dims were still in front of a carrier's value (not yet moot)."""
        return self._walker.live.get(expression, set())

    def absorber(self, at: int) -> cst.BaseExpression | None:
        """The mask op after which an insertion is moot (see :attr:`Walker.absorbers`), if any."""
        return self._walker.absorbers.get(at)

    def function_of(self, expression: int) -> str:
        """The function a carrier (see :attr:`carriers`) was evaluated in."""
        return self._walker.carrier_function.get(expression, "")

    def fills(self, call: cst.Call) -> list[MaskSite]:
        """The ``masked_fill`` call in each evaluation whose mask carried inserted dims."""
        return self._walker.filled_with_insertions.get(id(call), [])

    def callers_followed(self, function: str) -> bool:
        """Whether every function that may call ``function`` (the semantic model's call graph) had
        its calls evaluated: then the calls the interpreter saw are all of them."""
        return self._walker.callers_followed(function)

    @property
    def complete(self) -> bool:
        """Whether the whole module was evaluated (no budget ran out)."""
        return not any(isinstance(exc, BudgetExhausted) for _, exc in self._walker.failures)

    def passed(self, call: cst.Call) -> set[int]:
        """The insertions ``call``'s arguments carried into a body the interpreter evaluated."""
        return self._walker.passed_insertions.get(id(call), set())

    def calls(self) -> Iterator[Call]:
        for node, function, bound in self._walker.calls_to.values():
            yield Call(node, function, bound)
