"""Rules on what a call gives back: TV301 (an out-of-place tensor op whose result is thrown away)
and TV103 (``.contiguous().view(...)`` where ``.reshape(...)`` says the same), with their fixes.

Which methods return a new tensor and touch nothing else is read from the op table
(:data:`ops.METHODS`): every method row whose name does not end in ``_``; the ones that do
(``masked_fill_``, ``add_``, ``requires_grad_``, ...) work in place, and an out-of-place name has an
in-place twin when the table has that name with a ``_``.
"""

from __future__ import annotations

from collections.abc import Iterator

import libcst as cst

from . import ops
from .analysis import ViewSite, Walker
from .checks import Diagnostic, Edit, Positions, view_is_incompatible
from .facts import Facts
from .layout import Tensor
from .rules import message
from .values import PiecesV, TupleV

IN_PLACE, OUT_OF_PLACE = ops.IN_PLACE, ops.OUT_OF_PLACE


def twin(name: str) -> str | None:
    """The in-place form of an out-of-place method, when the op table has one."""
    return name + "_" if name + "_" in IN_PLACE else None


def known_tensor(value: object) -> bool:
    """A tensor by the walker's facts, not by the prior (an uncalled function's parameter may be
    a module: ``model.to(device)`` works in place)."""
    return isinstance(value, Tensor) and not value.prior


def _assignable(node: cst.BaseExpression) -> bool:
    """``x``, ``self.x``: a target that rebinding changes nothing else about."""
    while isinstance(node, cst.Attribute):
        node = node.value
    return isinstance(node, cst.Name)


# ---- TV301 ------------------------------------------------------------------------------------


def check_discarded(walker: Walker, positions: Positions) -> Iterator[Diagnostic]:
    facts = Facts(walker)
    for site in facts.discarded.values():
        call = site.call
        func = call.func
        if not isinstance(func, cst.Attribute) or func.attr.value not in OUT_OF_PLACE:
            continue
        if not known_tensor(facts.value(func.value)):
            continue
        name = func.attr.value
        receiver = facts.text(func.value)
        call_text = " ".join(facts.module.code_for_node(call).split())
        in_place = twin(name)
        edit: Edit | None = None
        if in_place is not None:
            suggestion = f"did you mean `{in_place}`?"
            edit = Edit(func.attr, func.attr.with_changes(value=in_place))
            title = f"Use .{in_place}() (in place)"
        elif not _assignable(func.value) or isinstance(facts.value(call), (PiecesV, TupleV)):
            # x[0] = ... would write into x; x = x.chunk(2) would make x a tuple
            suggestion = "use its result or remove the statement"
            title = ""
        else:
            suggestion = f"assign it: `{receiver} = {call_text}`"
            title = f"Assign the result to {receiver}"
            stmt = site.statement
            if stmt is not None:
                target = cst.AssignTarget(target=func.value)
                edit = Edit(stmt, cst.Assign(targets=[target], value=call, semicolon=stmt.semicolon))
        start = positions.at(func.dot, call).start
        end = positions.at(func.attr, call).end
        text = message("TV301", method=name, receiver=receiver, suggestion=suggestion)
        yield Diagnostic(
            start.line,
            start.column,
            "TV301",
            text,
            edit,
            end=(end.line, end.column),
            label=f".{name}() returns a new tensor, and this statement throws it away",
            note=f"{receiver} is unchanged after this line",
            help=f"call .{in_place}() to change {receiver} in place, or assign the result" if in_place
            else f"assign the result: {receiver} = {call_text}" if title else "use the result, or remove the statement",
            fix_title=title,
        )


# ---- TV103 ------------------------------------------------------------------------------------


def check_contiguous_view(walker: Walker, positions: Positions) -> Iterator[Diagnostic]:
    facts = Facts(walker)
    seen: set[int] = set()
    for site in facts.views.values():
        attr = site.attr
        if id(attr) in seen or site.target is None and site.sizes is None:
            continue  # a dtype view, or sizes it could not read: reshape may not take them
        call = attr.value
        if not (isinstance(call, cst.Call) and not call.args and isinstance(call.func, cst.Attribute)
                and call.func.attr.value == "contiguous"):
            continue
        seen.add(id(attr))
        inner = call.func.value
        before = facts.value(inner)
        method = attr.attr.value
        reshape = method.replace("view", "reshape")
        reason = _same_aliasing(site, before)
        safe = reason is not None
        why = reason or "reshape may return a view where .contiguous() copied"
        receiver = facts.text(inner)
        start = positions.at(call.func.dot, attr).start
        end = positions.at(attr.attr, attr).end
        text = message("TV103", receiver=receiver, method=method, reshape=reshape)
        new = attr.with_changes(value=inner, attr=attr.attr.with_changes(value=reshape))
        yield Diagnostic(
            start.line,
            start.column,
            "TV103",
            text,
            Edit(attr, new),
            end=(end.line, end.column),
            label=f".contiguous().{method}() is .{reshape}() spelled in two calls",
            help=f"write {receiver}.{reshape}(...)",
            fix_title=f"Use .{reshape}() ({'safe' if safe else 'unsafe'}: {why})",
            safe=safe,
        )


def _same_aliasing(site: ViewSite, before: object) -> str | None:
    """Why ``x.reshape(s)`` aliases ``x`` exactly as ``x.contiguous().view(s)`` does, or None."""
    if not known_tensor(before):
        return None
    assert isinstance(before, Tensor)
    receiver = "the receiver"
    if before.contiguous:
        return f"{receiver} is contiguous, both are views of it"
    if view_is_incompatible(ViewSite(site.attr, before, site.target, site.function, site.sizes)):
        return f"{receiver} cannot be viewed, both copy"
    return None


CHECKS = ((check_discarded, ("TV301",)), (check_contiguous_view, ("TV103",)))
"""Each check with the codes it can report (see :data:`checks.CHECKS`)."""
