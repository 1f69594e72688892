"""The interpreter's own rendering of expressions writes what libcst's codegen writes."""

from __future__ import annotations

from pathlib import Path

import libcst as cst
import pytest

from flake8_tensorview.codetext import _RENDER, code

TRICKY = '''
y = x.view( b , -1 , ( h*w ) )[ :, :: 2, None ,... ][-1:, ::-self.stride]
z = f(*args, ** kwargs, key = - 1, other=not flag,)
w = torch.cat([a, b],  # a comment inside the call
              dim=1) . contiguous ()
v = (a
     + b) // \\
    heads
u = obj.method(x)[0](y, z=1.5)(*(p, q))['key'] ** 2 @ m
t = x[i, j,] + x[: n] - x[lo : hi : step] * ~mask
s = "a" "b" if c else f'{x}'
'''


def _nodes(module: cst.Module):
    stack: list[cst.CSTNode] = [module]
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        if type(node) in _RENDER:
            yield node


FIXTURES = sorted((Path(__file__).parent.parent / "fixtures").rglob("*.py"))


@pytest.mark.parametrize("source", [TRICKY, *FIXTURES], ids=["tricky", *(p.name for p in FIXTURES)])
def test_code_is_codegen(source: str | Path) -> None:
    module = cst.parse_module(source.read_text() if isinstance(source, Path) else source)
    nodes = list(_nodes(module))
    assert nodes
    for node in nodes:
        assert code(node, module) == module.code_for_node(node)


def test_code_of_built_nodes() -> None:
    """Nodes a fix builds leave commas and ``=`` to codegen's defaults."""
    module = cst.parse_module("")
    one = cst.Integer("1")
    built = [
        cst.Call(cst.Name("f"), [cst.Arg(one), cst.Arg(one, keyword=cst.Name("k")), cst.Arg(one, star="*")]),
        cst.Subscript(cst.Name("x"), [
            cst.SubscriptElement(cst.Index(one)), cst.SubscriptElement(cst.Slice(one, None, one)),
        ]),
    ]
    for node in built:
        assert code(node, module) == module.code_for_node(node)
