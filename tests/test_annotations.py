"""Shape hints from annotations, each table row cross-checked against jaxtyping's own runtime checker
when jaxtyping is installed."""

from __future__ import annotations

import ast
import builtins
import re
import typing

import libcst as cst
import pytest

from flake8_tensorview.annotations import DTYPES, AxisHint, ShapeHint, parse_dims, shape_hint

# The module the annotations are read in: its imports decide what each name qualifies to, as the
# semantic model's do, and the cross-check executes them to build the same annotations at run time.
PREAMBLE = """\
import typing
from typing import Annotated, Optional, Union
import torch
from torch import Tensor, nn
import jaxtyping
import jaxtyping as jt
from jaxtyping import Array, Bool, Float, Float32, Int, Integer, Key, Num, PyTree, Real, Shaped, UInt8
import numpy as np
"""


def _imports(source: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Import):
            for alias in node.names:
                out[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                out[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return out


IMPORTS = _imports(PREAMBLE)


def qualify(dotted: str) -> str | None:
    root, _, rest = dotted.partition(".")
    base = IMPORTS.get(root)
    if base is None:
        return None
    return f"{base}.{rest}" if rest else base


def read(source: str) -> ShapeHint | None:
    return shape_hint(cst.parse_expression(source), qualify)


def render(hint: ShapeHint) -> str:
    """``Float: b *batch #c 3 {t-1} _``; ``?:`` when the dtype is undecided."""

    def axis(a: AxisHint) -> str:
        body = a.name or (str(a.size) if a.size is not None else None)
        body = body or (f"{{{a.expr}}}" if a.expr else "_")
        return ("#" if a.broadcastable else "") + body

    dims = [axis(a) for a in hint.head]
    if hint.variadic is not None:
        dims.append("*" + axis(hint.variadic))
    dims += [axis(a) for a in hint.tail]
    return f"{hint.dtype or '?'}: {' '.join(dims)}".rstrip()


# source -> (rank, min_rank, rendering)
HINTS = {
    # the forms
    'Float[Tensor, "b h t d"]': (4, 4, "Float: b h t d"),
    'Bool[Tensor, "b t"]': (2, 2, "Bool: b t"),
    'Float[torch.Tensor, "..."]': (None, 0, "Float: *_"),
    'Shaped[Tensor, "*batch h w"]': (None, 2, "Shaped: *batch h w"),
    # the dim grammar
    'Num[Tensor, "b *rest d"]': (None, 2, "Num: b *rest d"),
    'Int[Tensor, "b 3 h w"]': (4, 4, "Int: b 3 h w"),
    'Real[Tensor, "#b c"]': (2, 2, "Real: #b c"),
    'Float[Tensor, "#3 c"]': (2, 2, "Float: #3 c"),
    'Float[Tensor, "_ t"]': (2, 2, "Float: _ t"),
    'Float[Tensor, "_batch t"]': (2, 2, "Float: _ t"),
    'Float[Tensor, "*_ d"]': (None, 1, "Float: *_ d"),
    'Float[Tensor, "#*batch d"]': (None, 1, "Float: *#batch d"),
    'Float[Tensor, "dim+1"]': (1, 1, "Float: {dim+1}"),
    'Float[Tensor, "b dim-1 min(b,dim)"]': (3, 3, "Float: b {dim-1} {min(b,dim)}"),
    'Float[Tensor, "rows=3 cols=4"]': (2, 2, "Float: 3 4"),
    'Float[Tensor, "channels=c h"]': (2, 2, "Float: c h"),
    'Float[Tensor, "rows=#3 c"]': (2, 2, "Float: #3 c"),
    'Float[Tensor, "+3 3_0"]': (2, 2, "Float: 3 30"),
    'Float[Tensor, ""]': (0, 0, "Float:"),
    'Float[Tensor, " "]': (0, 0, "Float:"),
    'Float[Tensor, "  b \\t t  "]': (2, 2, "Float: b t"),
    'Float[Tensor, """b\n t"""]': (2, 2, "Float: b t"),
    'Float[Tensor, "b " "t"]': (2, 2, "Float: b t"),
    # dtype classes and spellings of the names
    'Float32[Tensor, "b"]': (1, 1, "Float32: b"),
    'UInt8[Tensor, "h w"]': (2, 2, "UInt8: h w"),
    'Integer[Tensor, "n"]': (1, 1, "Integer: n"),
    'Key[Tensor, ""]': (0, 0, "Key:"),
    'jaxtyping.Float[Tensor, "b t"]': (2, 2, "Float: b t"),
    'jt.Bool[torch.Tensor, "b t"]': (2, 2, "Bool: b t"),
    'Float[nn.Parameter, "o i"]': (2, 2, "Float: o i"),
    'Float[torch.nn.Parameter, "o i"]': (2, 2, "Float: o i"),
    'Float[(Tensor, "b t")]': (2, 2, "Float: b t"),
    # a union array type: the hint holds whenever the value is a tensor
    'Float[Union[Tensor, np.ndarray], "b t"]': (2, 2, "Float: b t"),
    'Float[Tensor | np.ndarray, "b t"]': (2, 2, "Float: b t"),
    'Float[Tensor | None, "b t"]': (2, 2, "Float: b t"),
    # nesting: outer dims in front, as jaxtyping does
    'Shaped[Float[Tensor, "h w"], "b"]': (3, 3, "Float: b h w"),
    'Float[Shaped[Tensor, "*batch"], "c"]': (None, 1, "Float: c *batch"),
    'Float[Float[Tensor, "h w"], "... c"]': (None, 3, "Float: *_ c h w"),
    'Float[Float32[Tensor, "h"], "b"]': (2, 2, "?: b h"),
    # wrappers
    'Optional[Float[Tensor, "b t"]]': (2, 2, "Float: b t"),
    'typing.Optional[Float[Tensor, "b t"]]': (2, 2, "Float: b t"),
    'Union[Float[Tensor, "b t"], None]': (2, 2, "Float: b t"),
    'Union[None, Float[Tensor, "b t"]]': (2, 2, "Float: b t"),
    'Float[Tensor, "b t"] | None': (2, 2, "Float: b t"),
    'None | Float[Tensor, "b t"]': (2, 2, "Float: b t"),
    'Annotated[Float[Tensor, "b t"], "logits"]': (2, 2, "Float: b t"),
    'typing.Annotated[Optional[Float[Tensor, "b t"]], 1, 2]': (2, 2, "Float: b t"),
    # quoted annotations
    "\"Float[Tensor, 'b t']\"": (2, 2, "Float: b t"),
    "' Float[Tensor, \"b t\"] '": (2, 2, "Float: b t"),
    "Optional[\"Float[Tensor, 'b t']\"]": (2, 2, "Float: b t"),
    "\"Optional[Float[Tensor, 'b t']]\"": (2, 2, "Float: b t"),
    "\"Float[Tensor, 'b t']\" | None": (2, 2, "Float: b t"),
    "Optional[\"Float[Tensor, 'b t']\" | \"None\"]": (2, 2, "Float: b t"),
}

# Rows that are only valid unevaluated (`from __future__ import annotations`, static checkers): `|`
# between strings raises at run time. The cross-check runs an equivalent.
UNEVALUATED = {
    "\"Float[Tensor, 'b t']\" | None": "Optional[\"Float[Tensor, 'b t']\"]",
    "Optional[\"Float[Tensor, 'b t']\" | \"None\"]": "Optional[\"Float[Tensor, 'b t']\"]",
}

# jaxtyping raises on each of these specs: no program runs with them.
INVALID_SPECS = [
    "*a *b",
    "... *b",
    "... ...",
    "*a b ...",
    "**a",
    "##a",
    "__a",
    "??a",
    "a#",
    "_4",
    "*4",
    "?4",
    "#_",
    "*a+b",
    "_a+b",
    "?a+b",
    "a,b",
    "*...",
    "b...",
]

NOT_HINTS = [
    # no shape stated
    "Tensor",
    "torch.Tensor",
    "int",
    "None",
    "Optional[Tensor]",
    # not torch
    'Float[np.ndarray, "b t"]',
    'Float[Array, "b t"]',
    'Float[jaxtyping.Array, "b t"]',
    # not imported, or not a jaxtyping dtype
    'Complex64[Tensor, "b"]',
    'F32[Tensor, "b"]',
    'Float[Tensr, "b"]',
    'torch.Float[Tensor, "b"]',
    'PyTree[Float[Tensor, "b"]]',
    'jt.PyTree[Float[Tensor, "b"]]',
    'jt.Array[Tensor, "b"]',
    'Optiona[Float[Tensor, "b"]]',
    # free text in Annotated: prose as often as dims
    'Annotated[Tensor, "b t"]',
    'Annotated[torch.Tensor, "buffer"]',
    'Annotated[Float[Tensor, "b"]]',
    # unions with no single shaped member
    'Float[Tensor, "b"] | Float[Tensor, "b t"]',
    'Union[Float[Tensor, "b"], Float[Tensor, "b"]]',
    'Optional[Float[Tensor, "b"], int]',
    "Union[None]",
    # specs that aren't one string literal
    'Float[Tensor, f"b {n}"]',
    'Float[Tensor, b"b t"]',
    'Float[Tensor, 3]',
    'Float[Tensor, "b " + "t"]',
    'Float[Tensor, "b t"[:1]]',
    'Float[Tensor, SPEC]',
    'Float[Tensor]',
    'Float[Tensor, "b", "t"]',
    'Float[Tensor, "b":"t"]',
    'Float[*Ts, "b"]',
    'Float[(Tensor, *rest)]',
    'Float["Tensor", "b"]',
    # nesting with two variadics
    'Float[Float[Tensor, "*a"], "*b"]',
    # jaxtyping builds these but no tensor passes its check: see the cross-checks below
    'Float[Tensor, "-1 c"]',
    'Float[Tensor, "?leaf d"]',
    # malformed quoted annotations
    '"Float[Tensor, "',
    "'((('",
    "''",
    "' '",
    "'Float[Tensor, \"b t\"]; import os'",
    "'\\\\N{bogus}'",
    "'\\x00'",
    "b'Float[Tensor, \"b t\"]'",
    'f"Float[Tensor, \'b t\']"',
    "'" + "Optional[" * 200 + "Float[Tensor, \"b\"]" + "]" * 200 + "'",
    "'\"' * 40",
    # expressions no annotation should be
    "lambda: 0",
    "x if y else z",
    "[Float]",
    "{1: 2}",
    "(yield)",
    "await x",
    "...",
    "Float[Tensor, 'b'][0]",
    "Float.Tensor",
    "Float()[Tensor, 'b']",
    "-Float",
]


@pytest.mark.parametrize(("source", "expected"), HINTS.items(), ids=list(HINTS))
def test_hint(source: str, expected: tuple[int | None, int, str]) -> None:
    hint = read(source)
    assert hint is not None
    assert (hint.rank, hint.min_rank, render(hint)) == expected


@pytest.mark.parametrize("spec", INVALID_SPECS)
def test_invalid_spec(spec: str) -> None:
    assert parse_dims(spec) is None
    assert read(f"Float[Tensor, {spec!r}]") is None


@pytest.mark.parametrize("source", NOT_HINTS)
def test_not_a_hint(source: str) -> None:
    assert read(source) is None


def test_qualify_decides_the_names() -> None:
    """The same text reads only where the module imports its names."""
    node = cst.parse_expression('Float[Tensor, "b t"]')
    assert shape_hint(node, lambda dotted: None) is None
    assert shape_hint(node, {"Float": "jaxtyping.Float"}.get) is None
    local = {"Float": "jaxtyping._array_types.Float", "Tensor": "torch.Tensor"}.get
    assert shape_hint(node, local) == ShapeHint((AxisHint("b"), AxisHint("t")), dtype="Float")


def test_axis_addresses_dims_as_torch_does() -> None:
    hint = read('Float[Tensor, "b *rest h 3"]')
    assert hint is not None
    assert hint.axis(0) == AxisHint("b")
    assert hint.axis(-2) == AxisHint("h")
    assert hint.axis(-1) == AxisHint(size=3)
    assert hint.axis(1) is None  # inside or past the variadic part: not pinned
    assert hint.axis(-3) is None
    exact = read('Float[Tensor, "b t c"]')
    assert exact is not None
    assert [exact.axis(d) for d in (0, 2, -1, -3)] == [
        AxisHint("b"), AxisHint("c"), AxisHint("c"), AxisHint("b")
    ]
    assert exact.axis(3) is None and exact.axis(-4) is None


# ---- jaxtyping's own checker as the oracle --------------------------------------------------

TORCH_DTYPES = {
    "Float": "float32",
    "Float32": "float32",
    "Shaped": "float32",
    "Num": "float32",
    "Real": "float32",
    "Bool": "bool",
    "Int": "int64",
    "Integer": "int64",
    "UInt8": "uint8",
    None: "float32",  # Float of Float32 in the table
}


class _Twos(dict):
    """Every axis name is 2 when a symbolic size is evaluated; builtins (min, max) stay builtins."""

    def __missing__(self, key: str) -> object:
        return getattr(builtins, key, 2)


def _runtime_namespace() -> dict[str, object]:
    """PREAMBLE executed one imported name at a time: numpy and jaxtyping.Array (which needs JAX)
    are only needed by rows that the cross-check skips or that state no hint."""
    namespace: dict[str, object] = {}
    for node in ast.parse(PREAMBLE).body:
        assert isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names:
            one = ast.Module([type(node)(**{**vars(node), "names": [alias]})], [])
            try:
                exec(compile(ast.fix_missing_locations(one), "<preamble>", "exec"), namespace)
            except ImportError:
                pass
    return namespace


def _runtime_arrays(obj: object, namespace: dict[str, object]) -> list[type]:
    """The jaxtyping array classes over torch tensors in an evaluated annotation."""
    import jaxtyping
    import torch

    if isinstance(obj, str):
        return _runtime_arrays(eval(obj, namespace), namespace)
    if isinstance(obj, typing.ForwardRef):
        return _runtime_arrays(eval(obj.__forward_arg__, namespace), namespace)
    args = typing.get_args(obj)
    if typing.get_origin(obj) is typing.Annotated:
        return _runtime_arrays(args[0], namespace)
    if args:  # Optional, Union, |
        return [cls for arg in args for cls in _runtime_arrays(arg, namespace)]
    if isinstance(obj, type) and issubclass(obj, jaxtyping.AbstractArray):
        return [obj] if issubclass(obj.array_type, torch.Tensor) else []
    return []


def _shape(hint: ShapeHint, rank: int) -> tuple[int, ...]:
    """A shape of that rank that satisfies the hint's literal and symbolic sizes where it can."""
    if rank == hint.min_rank or (hint.variadic is not None and rank > hint.min_rank):
        axes = hint.head + (AxisHint(),) * (rank - hint.min_rank) + hint.tail
    else:
        axes = (AxisHint(),) * rank

    def size(axis: AxisHint) -> int:
        if axis.size is not None:
            return axis.size
        return eval(axis.expr, {}, _Twos()) if axis.expr else 2

    return tuple(size(a) for a in axes)


@pytest.mark.parametrize("source", list(HINTS))
def test_jaxtyping_agrees(source: str) -> None:
    """Our rank and lower bound accept exactly the tensors jaxtyping accepts, rank by rank."""
    jaxtyping = pytest.importorskip("jaxtyping")
    import torch

    namespace = _runtime_namespace()
    if "np." in source and "np" not in namespace:
        pytest.skip("numpy is not installed")
    hint = read(source)
    assert hint is not None
    if hint.dtype == "Key":
        pytest.skip("no torch dtype is a PRNG key")
    runtime = eval(UNEVALUATED.get(source, source), namespace)
    (cls,) = _runtime_arrays(runtime, namespace)
    if hint.dtype is not None:
        assert cls.dtypes == getattr(jaxtyping, hint.dtype).dtypes
    names = sorted(
        {n for a in hint.head + hint.tail if a.expr for n in re.findall(r"[A-Za-z_]\w*", a.expr)}
        - set(dir(builtins))
    )
    binder = jaxtyping.Shaped[torch.Tensor, " ".join(names)]
    for rank in range(hint.min_rank + 4):
        value = torch.zeros(_shape(hint, rank), dtype=getattr(torch, TORCH_DTYPES[hint.dtype]))
        if issubclass(cls.array_type, torch.nn.Parameter):
            value = torch.nn.Parameter(value, requires_grad=False)
        fits = rank == hint.rank or (hint.rank is None and rank >= hint.min_rank)
        with jaxtyping.jaxtyped("context"):
            assert isinstance(torch.zeros((2,) * len(names)), binder)  # binds the symbolic names
            assert isinstance(value, cls) == fits, (rank, value.shape)


@pytest.mark.parametrize("spec", INVALID_SPECS)
def test_jaxtyping_rejects_invalid_specs(spec: str) -> None:
    jaxtyping = pytest.importorskip("jaxtyping")
    import torch

    with pytest.raises(ValueError):
        jaxtyping.Float[torch.Tensor, spec]


def test_jaxtyping_passes_no_tensor_where_we_read_no_hint() -> None:
    """jaxtyping builds these two, but "-1" is a fixed size no tensor has, and "?name" raises when
    checked outside a PyTree: refusing them loses no hint."""
    jaxtyping = pytest.importorskip("jaxtyping")
    import torch

    negative = jaxtyping.Float[torch.Tensor, "-1 c"]
    assert not any(isinstance(torch.zeros(n, 2), negative) for n in range(4))
    treepath = jaxtyping.Float[torch.Tensor, "?leaf d"]
    with pytest.raises(jaxtyping.AnnotationError):
        isinstance(torch.zeros(2, 2), treepath)


def test_dtype_classes_are_jaxtypings() -> None:
    """DTYPES is jaxtyping's set of dtype classes, no more and no fewer."""
    jaxtyping = pytest.importorskip("jaxtyping")

    exported = {
        name
        for name in dir(jaxtyping)
        if isinstance(getattr(jaxtyping, name, None), type)
        and issubclass(getattr(jaxtyping, name), jaxtyping.AbstractDtype)
        and getattr(jaxtyping, name) is not jaxtyping.AbstractDtype
    }
    assert exported == DTYPES
