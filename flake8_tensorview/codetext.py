"""The source of an expression as libcst's codegen writes it, without codegen for the kinds that
sizes, slices and calls are made of.

Messages and symbolic sizes name an expression by its text (``d_out // num_heads``), and the
interpreter asks for thousands of them per file. libcst's codegen runs a context manager and a
position record per node; for names, operators, subscripts and calls the text is their tokens and
whitespace in order, which a function per node kind joins directly. Any other kind (a lambda, a
comprehension) and any whitespace holding a newline or a comment goes through codegen, so the
text is the same character for character.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import libcst as cst

Render = Callable[[cst.CSTNode, cst.Module], str]


def code(node: cst.CSTNode, module: cst.Module) -> str:
    """``module.code_for_node(node)``."""
    render = _RENDER.get(type(node))  # libcst's node classes are ABCs: a dict on the type is cheap
    return module.code_for_node(node) if render is None else render(node, module)


def _space(ws: cst.BaseParenthesizableWhitespace, module: cst.Module) -> str:
    return ws.value if type(ws) is cst.SimpleWhitespace else module.code_for_node(ws)


def _parenthesized(node: cst.BaseExpression, inner: str, module: cst.Module) -> str:
    if not node.lpar and not node.rpar:
        return inner
    before = "".join("(" + _space(p.whitespace_after, module) for p in node.lpar)
    return before + inner + "".join(_space(p.whitespace_before, module) + ")" for p in node.rpar)


def _token(op: Any, module: cst.Module) -> str:
    """A one-token operator or separator (``+``, ``.``, ``,``, ``:``, ``=``) with its whitespace
    (libcst's ``_BaseOneTokenOp``, which has no public name)."""
    return _space(op.whitespace_before, module) + op._get_token() + _space(op.whitespace_after, module)


def _separated(items: Sequence[cst.Arg | cst.SubscriptElement], render: Render, module: cst.Module) -> str:
    """Arguments or subscript elements: codegen writes ``, `` between those whose comma is implicit."""
    last = len(items) - 1
    out = []
    for i, item in enumerate(items):
        out.append(render(item, module))
        comma = item.comma
        if comma is cst.MaybeSentinel.DEFAULT:
            out.append(", " if i != last else "")
        elif type(comma) is cst.Comma:
            out.append(_token(comma, module))
        if type(item) is cst.Arg:
            out.append(_space(item.whitespace_after_arg, module))
    return "".join(out)


def _leaf(node: cst.Name, module: cst.Module) -> str:
    return _parenthesized(node, node.value, module)


def _attribute(node: cst.Attribute, module: cst.Module) -> str:
    inner = code(node.value, module) + _token(node.dot, module) + code(node.attr, module)
    return _parenthesized(node, inner, module)


def _binary(node: cst.BinaryOperation, module: cst.Module) -> str:
    inner = code(node.left, module) + _token(node.operator, module) + code(node.right, module)
    return _parenthesized(node, inner, module)


def _unary(node: cst.UnaryOperation, module: cst.Module) -> str:
    op = node.operator
    token = op._get_token()  # type: ignore[attr-defined]
    expression = code(node.expression, module)
    return _parenthesized(node, token + _space(op.whitespace_after, module) + expression, module)


def _index(node: cst.Index, module: cst.Module) -> str:
    star = "" if node.whitespace_after_star is None else _space(node.whitespace_after_star, module)
    return (node.star or "") + star + code(node.value, module)


def _slice(node: cst.Slice, module: cst.Module) -> str:
    out = [code(node.lower, module) if node.lower is not None else "", _token(node.first_colon, module)]
    out.append(code(node.upper, module) if node.upper is not None else "")
    if node.second_colon is cst.MaybeSentinel.DEFAULT and node.step is not None:
        out.append(":")
    elif type(node.second_colon) is cst.Colon:
        out.append(_token(node.second_colon, module))
    out.append(code(node.step, module) if node.step is not None else "")
    return "".join(out)


def _element(node: cst.SubscriptElement, module: cst.Module) -> str:
    return code(node.slice, module)


def _subscript(node: cst.Subscript, module: cst.Module) -> str:
    inner = (
        code(node.value, module) + _space(node.whitespace_after_value, module)
        + "[" + _space(node.lbracket.whitespace_after, module)
        + _separated(node.slice, _element, module)  # type: ignore[arg-type]
        + _space(node.rbracket.whitespace_before, module) + "]"
    )
    return _parenthesized(node, inner, module)


def _argument(node: cst.Arg, module: cst.Module) -> str:
    out = node.star + _space(node.whitespace_after_star, module)
    if node.keyword is not None:
        out += code(node.keyword, module)
        if node.equal is cst.MaybeSentinel.DEFAULT:
            out += " = "
    if type(node.equal) is cst.AssignEqual:
        out += _token(node.equal, module)
    return out + code(node.value, module)


def _call(node: cst.Call, module: cst.Module) -> str:
    inner = (
        code(node.func, module) + _space(node.whitespace_after_func, module)
        + "(" + _space(node.whitespace_before_args, module)
        + _separated(node.args, _argument, module) + ")"  # type: ignore[arg-type]
    )
    return _parenthesized(node, inner, module)


_RENDER: dict[type, Render] = {  # type: ignore[dict-item]
    cst.Name: _leaf, cst.Integer: _leaf, cst.Float: _leaf, cst.SimpleString: _leaf,
    cst.Attribute: _attribute, cst.BinaryOperation: _binary, cst.UnaryOperation: _unary,
    cst.Index: _index, cst.Slice: _slice, cst.Subscript: _subscript, cst.Call: _call,
}
