"""Every row of the op table, checked against torch: the effect must give torch's shape and strides."""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
import torch.nn.functional as F  # noqa: F401  (used by the examples)

from flake8_tensorview import modules, ops
from flake8_tensorview.layout import Tensor
from flake8_tensorview.linter import analyze, lint_source

INPUTS = """\
import torch
import torch.nn.functional as F
from torch import nn
x = torch.randn(2, 3, 4, 5).transpose(1, 2)
c = torch.randn(2, 4, 3, 5)
e = torch.randn(2, 1, 3, 5).expand(2, 4, 3, 5)
s = torch.randn(2, 4, 3, 10)[..., ::2]
m = torch.randn(3, 5) > 0
w = torch.randn(6, 5)
"""

CASES = [(op.names[0], example) for op in ops.OPS for example in op.examples]


def test_every_row_has_an_example() -> None:
    assert all(op.examples for op in ops.OPS), [op.names for op in ops.OPS if not op.examples]


def model_of(expression: str) -> Tensor:
    result = analyze(INPUTS + f"y = {expression}\n", whole=True)  # module code without a view: keep it
    assert result is not None
    walker, _ = result
    value = walker.module_env.vars["y"]
    assert isinstance(value, Tensor), value
    return value


def torch_of(expression: str) -> torch.Tensor:
    scope: dict[str, object] = {}
    exec(INPUTS + f"y = {expression}\n", scope)
    y = scope["y"]
    assert isinstance(y, torch.Tensor)
    return y


def significant(shape: tuple[int, ...], strides: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
    """Strides of size-1 dims are arbitrary (and never matter to a view)."""
    return tuple((size, stride if size != 1 else -1) for size, stride in zip(shape, strides))


@pytest.mark.parametrize("name, example", CASES, ids=[f"{n}:{e}" for n, e in CASES])
def test_effect_matches_torch(name: str, example: str) -> None:
    unknown_layout = example.startswith("?")
    expression = example.lstrip("?")
    real = torch_of(expression)
    model = model_of(expression)
    assert model.shape is not None, "the effect lost the shape"
    shape = tuple(d.literal for d in model.shape)
    assert shape == tuple(real.shape)
    if unknown_layout:
        assert model.strides is None
        return
    assert model.strides is not None, "the effect lost the layout"
    strides = tuple(d.literal for d in model.strides)
    assert significant(shape, strides) == significant(tuple(real.shape), real.stride())  # type: ignore[arg-type]
    assert model.contiguous == real.is_contiguous()
    if model.settled:  # the strides of size-1 dims are known too: every one is torch's
        assert strides == real.stride()


FORMAT_EXAMPLES = [
    "c.to(memory_format=torch.channels_last)", "x.to(torch.float64, memory_format=torch.channels_last)",
    "x.contiguous(memory_format=torch.channels_last)", "x.contiguous(memory_format=torch.contiguous_format)",
    "s.clone(memory_format=torch.channels_last)", "c[None].contiguous(memory_format=torch.channels_last_3d)",
    "x.to(memory_format=torch.contiguous_format)", "c[:, :1].contiguous(memory_format=torch.channels_last)",
    "c[:, :1].to(memory_format=torch.channels_last)", "c[:, :, :1, :1].to(memory_format=torch.channels_last)",
]
"""``memory_format=`` on the methods of ``ops.FORMATTING``: the format asked for, whatever the row
of the method says."""


@pytest.mark.parametrize("example", FORMAT_EXAMPLES)
def test_memory_format_matches_torch(example: str) -> None:
    assert example.split(".")[1].split("(")[0] in ops.FORMATTING
    real, model = torch_of(example), model_of(example)
    assert model.shape is not None and model.strides is not None
    shape = tuple(d.literal for d in model.shape)
    assert significant(shape, tuple(d.literal for d in model.strides)) == significant(tuple(real.shape), real.stride())  # type: ignore[arg-type]
    assert model.contiguous == real.is_contiguous()


NONE_INDEXING = ["c[:, None]", "c[None]", "c[..., None]", "c[:, 0, None]", "c[:, :, None, 1:]", "x[:, None]", "s[None, :, None]"]


@pytest.mark.parametrize("expression", NONE_INDEXING)
def test_a_none_index_gets_the_stride_aten_gives_it(expression: str) -> None:
    """ATen unsqueezes for each ``None``: the new dim's stride makes it adjacent to the next one."""
    real, model = torch_of(expression), model_of(expression)
    assert model.strides is not None
    assert tuple(d.literal for d in model.strides) == real.stride()


def test_a_channel_dim_indexed_in_does_not_make_a_conv_channels_last() -> None:
    """``conv(x[:, None])`` of a ``(b, h, w)`` batch: ``suggest_memory_format`` reads the stride of
    the new channel dim, which is ``h * w``, so the conv's output is contiguous and flattens (the
    model once gave that dim stride 1 and took the batch for channels-last)."""
    source = (
        "import torch\nfrom torch import nn\n\n\n"
        "def spectrogram_features(x):\n"
        "    conv = nn.Conv2d(1, 4, 3, padding=1)\n"
        "    y = conv(x[:, None])\n"
        "    return y.view(y.size(0), -1)\n\n\n"
        "def run():\n"
        "    return spectrogram_features(torch.randn(2, 5, 6))\n"
    )
    scope: dict[str, object] = {}
    exec(source, scope)
    assert scope["spectrogram_features"](torch.randn(2, 5, 6)).shape == (2, 120)  # type: ignore[operator]
    assert [d for d in lint_source(source) if d.code == "TV101"] == []
    # the channel dim moved to the front of the memory instead: the conv's output is channels-last
    moved = source.replace("x[:, None]", "x.unsqueeze(-1).permute(0, 3, 1, 2)")
    exec(moved, scope)
    with pytest.raises(RuntimeError, match="view size is not compatible"):
        scope["spectrogram_features"](torch.randn(2, 5, 6))  # type: ignore[operator]
    assert [d.line for d in lint_source(moved) if d.code == "TV101"] == [8]
    # and back where it was: ``.contiguous()`` of a contiguous tensor is that tensor, size-1 strides and all
    round_trip = source.replace("x[:, None]", "x[:, None].permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2)")
    exec(round_trip, scope)
    assert scope["spectrogram_features"](torch.randn(2, 5, 6)).shape == (2, 120)  # type: ignore[operator]
    assert [d for d in lint_source(round_trip) if d.code == "TV101"] == []


SIZE_1_INPUTS = """\
import torch
a = torch.randn(3, 1, 4)
b = torch.randn(3, 4, 2)[:, :1]
g = torch.randn(2, 3, 1).transpose(0, 1)
r = torch.randn(4, 1, 1, 2).transpose(1, 2)
"""
"""Tensors with size-1 dims whose strides torch keeps: ``b``'s sliced dim and ``r``'s swapped ones
are not the contiguous ones, though ``b`` and ``r`` are contiguous."""


@st.composite
def size_1_programs(draw, depth: int = 3) -> str:
    """An expression of reductions that keep their dims, elementwise ops, unary math and slices
    over :data:`SIZE_1_INPUTS` (it may not broadcast: torch is asked first)."""
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        leaf = draw(st.sampled_from("abgr"))
        dim = draw(st.integers(-2, 1))
        return draw(st.sampled_from([
            leaf, f"{leaf}.sum({dim}, keepdim=True)", f"{leaf}.mean(dim={dim}, keepdim=True)",
            f"{leaf}.amax({dim}, keepdim=True)", f"{leaf}.norm(dim={dim}, keepdim=True)",
            f"torch.logsumexp({leaf}, {dim}, keepdim=True)", f"{leaf}[:, None]", f"{leaf}.transpose(0, 1)",
            f"{leaf}.var({dim}, keepdim=True)", f"{leaf}[:1]", f"{leaf}.unsqueeze({dim})", f"{leaf}[None, ..., None]",
            f"{leaf}.view(-1, 1, {leaf}.size(-1))", f"torch.randn({leaf}.shape)", f"torch.zeros(3, 1, 4)",
        ]))
    left = draw(size_1_programs(depth - 1))
    kind = draw(st.integers(-1, 4))
    if kind == -1:
        return f"{left}.clone()"
    if kind == 0:
        return f"torch.sqrt({left}.abs())"
    if kind == 1:
        return f"({left} * {draw(st.sampled_from(['2', '0.5', 'b.size(0)', 'torch.addcmul(a, a, a)']))})"
    if kind == 2:
        return f"(1 + {left})"
    right = draw(size_1_programs(depth - 1))
    return f"({left} {draw(st.sampled_from(['+', '*', '/']))} {right})" if kind == 3 else f"torch.addcmul({left}, {right}, a)"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(expression=size_1_programs())
def test_size_1_strides_the_model_settles_are_torchs(expression: str) -> None:
    """Where the model says it knows the strides of size-1 dims (:attr:`Tensor.settled`), they
    are torch's; TensorIterator's sort reads them, so an elementwise op of such tensors is exact."""
    scope: dict[str, object] = {}
    try:
        exec(SIZE_1_INPUTS + f"y = {expression}\n", scope)
    except RuntimeError:
        assume(False)
    real = scope["y"]
    result = analyze(SIZE_1_INPUTS + f"y = {expression}\n", whole=True)
    assert result is not None
    model = result[0].module_env.vars["y"]
    if isinstance(model, Tensor) and model.settled:
        assert tuple(d.literal for d in model.shape) == tuple(real.shape)  # type: ignore[union-attr,attr-defined]
        assert tuple(d.literal for d in model.strides) == real.stride()  # type: ignore[union-attr,attr-defined]


MODULE_EXAMPLES = {
    "Linear": "nn.Linear(5, 6)", "LazyLinear": "nn.LazyLinear(6)", "Dropout": "nn.Dropout(0.1)",
    "LayerNorm": "nn.LayerNorm(5)", "RMSNorm": "nn.RMSNorm(5)", "Softmax": "nn.Softmax(dim=-1)",
    "GELU": "nn.GELU()", "ReLU": "nn.ReLU()", "SiLU": "nn.SiLU()", "Tanh": "nn.Tanh()", "Identity": "nn.Identity()",
}
"""Constructors the walker follows from a binding to a call, end to end (every row of
``modules.ROWS`` is checked on its own in ``tests/test_modules.py``)."""


@pytest.mark.parametrize("name", sorted(MODULE_EXAMPLES))
def test_module_effect_matches_torch(name: str) -> None:
    """``m = nn.X(...)`` then ``m(x)`` on a transposed input: the walker's fact against torch."""
    constructor = MODULE_EXAMPLES[name]
    assert name in modules.ROWS
    program = INPUTS + f"m = {constructor}\ny = m(x)\n"
    scope: dict[str, object] = {}
    exec(program, scope)
    real = scope["y"]
    result = analyze(program, whole=True)
    assert result is not None
    model = result[0].module_env.vars["y"]
    assert isinstance(model, Tensor) and model.shape is not None and model.strides is not None
    shape = tuple(d.literal for d in model.shape)
    strides = tuple(d.literal for d in model.strides)
    assert shape == tuple(real.shape)  # type: ignore[attr-defined]
    assert significant(shape, strides) == significant(tuple(real.shape), real.stride())  # type: ignore[arg-type,attr-defined]


INSERTS = {
    "m.unsqueeze(0).unsqueeze(0)": 2, "m[None, None]": 2, "m[None, :, None]": 1, "m.unsqueeze(1)": 0,
    "m.view(1, 1, 4, 3)": 2, "m[None].unsqueeze(1)": 2, "m.unsqueeze(0).unsqueeze(-1)": 1, "(m.unsqueeze(0) == 0)": 1,
    "m[None].bool()": 1, "torch.unsqueeze(m[None], 0)": 2, "m[None, ...]": 1, "m[..., None]": 0, "m.unsqueeze(0)[:, None]": 2,
}
"""Expressions over a (4, 3) bool ``m`` -> how many leading dims they put in front of it."""


ONE_ROW_INSERTS = {"m[:, None]": 1, "m.unsqueeze(1)": 1, "m[None, :, None]": 2, "m[:, :, None]": 0, "m.unsqueeze(-1)": 0}
"""Over a (1, 3) mask: a dim put among its leading size-1 dims is one more of them."""

INSERT_CASES = [(4, e, k) for e, k in sorted(INSERTS.items())] + [(1, e, k) for e, k in sorted(ONE_ROW_INSERTS.items())]


@pytest.mark.parametrize("rows, expression, inserted", INSERT_CASES, ids=[f"{r}x3:{e}" for r, e, _ in INSERT_CASES])
def test_inserted_leading_dims_match_torch(rows: int, expression: str, inserted: int) -> None:
    """TV201 reads :attr:`Tensor.inserted`: that many leading dims are size 1 in torch's result, and
    broadcasting makes them moot (the fill of a random mask is the same without them)."""
    source = f"import torch\ntorch.manual_seed(0)\nm = torch.rand({rows}, 3) > 0.5\ny = {expression}\n"
    walker, _ = analyze(source, whole=True)  # type: ignore[misc]
    model = walker.module_env.vars["y"]
    scope: dict[str, object] = {}
    exec(source, scope)
    real = scope["y"]
    assert model.inserted == inserted
    assert tuple(d.literal for d in model.shape) == tuple(real.shape)  # type: ignore[attr-defined]
    assert all(size == 1 for size in real.shape[:inserted])  # type: ignore[attr-defined]
    scores = torch.randn(2, *real.shape)  # type: ignore[attr-defined]
    assert torch.equal(scores.masked_fill(real, 0.0), scores.masked_fill(real[(0,) * inserted], 0.0))  # type: ignore[index]
