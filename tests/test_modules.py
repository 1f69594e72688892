"""Every row of the nn-module table, checked against torch: shapes and strides of each output."""

from __future__ import annotations

import ast
import inspect
from typing import Any

import pytest
import torch
from torch import nn

from flake8_tensorview import modules, ops
from flake8_tensorview.dims import Dim
from flake8_tensorview.layout import Origin, Tensor, view_strides
from flake8_tensorview.values import UNKNOWN, DimV, IntV, ModuleV, Opaque, TupleV, UnknownV, Value

INPUTS = """\
c3 = torch.randn(2, 5, 7)
t3 = torch.randn(2, 7, 5).transpose(1, 2)
s3 = torch.randn(2, 5, 14)[..., ::2]
e3 = torch.randn(2, 5, 1).expand(2, 5, 7)
u2 = torch.randn(3, 7)
c4 = torch.randn(2, 5, 6, 7)
cl4 = torch.randn(2, 6, 7, 5).permute(0, 3, 1, 2)
t4 = torch.randn(2, 5, 7, 6).transpose(2, 3)
p4 = torch.randn(5, 2, 6, 7).transpose(0, 1)
c5 = torch.randn(2, 5, 3, 4, 6)
cl5 = torch.randn(2, 3, 4, 6, 5).permute(0, 4, 1, 2, 3)
t5 = torch.randn(2, 5, 3, 6, 4).transpose(3, 4)
i2 = torch.randint(0, 10, (2, 3))
q3 = torch.randn(2, 3, 8)
k3 = torch.randn(2, 4, 8)
ks3 = torch.randn(4, 3, 8)
q2 = torch.randn(3, 8)
k2 = torch.randn(4, 8)
n11 = torch.randn(2, 1, 1, 5).permute(0, 3, 1, 2)
"""

ORIGIN = Origin("function", 1)
CASES = [(name, example) for name, row in modules.ROWS.items() for example in row.examples if example.lstrip("?").startswith(f"nn.{name}(")]
RNN_PARAMETERS = ["input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout", "bidirectional", "proj_size"]


def scope() -> dict[str, Any]:
    torch.manual_seed(0)
    names: dict[str, Any] = {"torch": torch, "nn": nn}
    exec(INPUTS, names)
    return names


def to_dim(value: Value, text: str) -> Dim | None:
    """The walker's reading of a size argument (``Walker.to_dim``)."""
    if isinstance(value, IntV):
        return Dim.lit(value.value) if value.value >= 0 else None
    if isinstance(value, DimV):
        return value.dim
    if isinstance(value, Opaque):
        return Dim.sym(value.key)
    if isinstance(value, UnknownV) and text:
        return Dim.sym(text)
    return None


def fact(t: torch.Tensor) -> Tensor:
    return Tensor.strided(tuple(Dim.lit(s) for s in t.shape), tuple(Dim.lit(s) for s in t.stride()), None, ORIGIN)


def value_of(obj: object) -> Value:
    """A Python/torch value as the walker passes it (booleans, None and strings per modules' docs)."""
    if isinstance(obj, torch.Tensor):
        return fact(obj)
    if isinstance(obj, bool) or obj is None:
        return Opaque(repr(obj))
    if isinstance(obj, int):
        return IntV(obj)
    if isinstance(obj, str):
        return Opaque(repr(obj))
    if isinstance(obj, (tuple, list)):
        return TupleV(tuple(value_of(o) for o in obj))
    return UNKNOWN  # floats: the walker has no value for them


def model_args(nodes: list[ast.expr], keywords: list[ast.keyword], names: dict[str, Any]) -> ops.Args:
    def one(node: ast.expr) -> Value:
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Call):
            raise AssertionError("a call of a call inside an argument")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in modules.ROWS:
            return model_module(node, names)
        return value_of(eval(ast.unparse(node), names))

    return ops.Args(
        [one(n) for n in nodes], {k.arg: one(k.value) for k in keywords if k.arg}, [ast.unparse(n) for n in nodes], ORIGIN, to_dim
    )


def model_module(node: ast.Call, names: dict[str, Any]) -> ModuleV:
    assert isinstance(node.func, ast.Attribute)
    module = modules.construct(node.func.attr, model_args(node.args, node.keywords, names))
    assert module is not None
    return module


def split(example: str) -> tuple[ast.Call, ast.Call]:
    call = ast.parse(example.lstrip("?"), mode="eval").body
    assert isinstance(call, ast.Call) and isinstance(call.func, ast.Call)
    return call.func, call


def run_model(example: str, names: dict[str, Any]) -> Value:
    ctor, call = split(example)
    module = model_module(ctor, names)
    first = value_of(eval(ast.unparse(call.args[0]), names))
    assert isinstance(first, Tensor)
    return modules.forward(module, first, model_args(call.args[1:], call.keywords, names))


def leaves(real: object, model: Value, path: str = "out") -> list[tuple[str, torch.Tensor | None, Value]]:
    if isinstance(real, tuple):
        assert isinstance(model, TupleV) and len(model.items) == len(real), (path, model)
        return [leaf for i, (r, m) in enumerate(zip(real, model.items)) for leaf in leaves(r, m, f"{path}[{i}]")]
    return [(path, real, model)]  # type: ignore[list-item]


def significant(shape: tuple[int, ...], strides: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
    return tuple((size, stride if size != 1 else -1) for size, stride in zip(shape, strides))


def test_every_row_has_examples() -> None:
    assert all(row.examples for row in modules.ROWS.values())
    for name, row in modules.ROWS.items():
        for example in row.examples:
            assert split(example)[0].func.attr in row.names, example  # type: ignore[union-attr]


def test_every_name_has_its_own_example() -> None:
    covered = {name for name, _ in CASES}
    assert covered == set(modules.ROWS), set(modules.ROWS) - covered


@pytest.mark.parametrize("name, example", CASES, ids=[e for _, e in CASES])
def test_row_matches_torch(name: str, example: str) -> None:
    names = scope()
    real = eval(example.lstrip("?"), names)
    model = run_model(example, names)
    found = leaves(real, model)
    for i, (path, r, m) in enumerate(found):
        if r is None:
            assert m is UNKNOWN, (path, m)
            continue
        assert isinstance(m, Tensor) and m.shape is not None, (path, m)
        shape = tuple(d.literal for d in m.shape)
        assert shape == tuple(r.shape), path
        if i == 0 and example.startswith("?"):
            assert m.strides is None, f"{path}: marked unknown but modelled"
            continue
        assert m.strides is not None, f"{path}: the effect lost the layout"
        strides = tuple(d.literal for d in m.strides)
        assert significant(shape, strides) == significant(tuple(r.shape), r.stride()), path  # type: ignore[arg-type]
        assert m.contiguous == r.is_contiguous(), path


def contiguous_run(example: str) -> tuple[object, Value]:
    """The example with every tensor argument made contiguous first: torch's output and the model's."""
    names = scope()
    ctor, call = split(example)
    module = eval(ast.unparse(ctor), names)
    args = [eval(ast.unparse(a), names) for a in call.args]
    kwargs = {k.arg: eval(ast.unparse(k.value), names) for k in call.keywords if k.arg}

    def dense(obj: object) -> object:
        if isinstance(obj, torch.Tensor):
            return obj.contiguous()
        if isinstance(obj, tuple):
            return tuple(dense(o) for o in obj)
        return obj

    args = [dense(a) for a in args]
    real = module(*args, **kwargs)
    for i, a in enumerate(args):
        names[f"_arg{i}"] = a
    rewritten = ast.Call(ctor, [ast.Name(f"_arg{i}") for i in range(len(args))], call.keywords)
    return real, run_model(ast.unparse(rewritten), names)


NON_PRODUCERS = [(name, e) for name, e in CASES if not modules.ROWS[name].produces]


@pytest.mark.parametrize("name, example", NON_PRODUCERS, ids=[e for _, e in NON_PRODUCERS])
def test_non_producer_keeps_contiguous_inputs_contiguous(name: str, example: str) -> None:
    """The preselection skips functions whose modules cannot make a contiguous tensor non-contiguous."""
    real, model = contiguous_run(example)
    for path, r, m in leaves(real, model):
        if r is None:
            continue
        assert r.is_contiguous(), f"torch: {path} of {example} is not contiguous"
        assert isinstance(m, Tensor) and m.contiguous, f"model: {path} of {example} is {m}"


@pytest.mark.parametrize("name", sorted({n for n, row in modules.ROWS.items() if row.produces}))
def test_producer_shows_it(name: str) -> None:
    """A ``produces`` row has an example where torch turns contiguous inputs into a non-contiguous output."""
    shown = []
    for example in modules.ROWS[name].examples:
        if not example.lstrip("?").startswith(f"nn.{name}("):
            continue
        real, model = contiguous_run(example)
        shown += [path for path, r, m in leaves(real, model) if r is not None and not r.is_contiguous()]
    assert shown


def keyword_form(ctor: ast.Call) -> ast.Call:
    assert isinstance(ctor.func, ast.Attribute)
    name = ctor.func.attr
    cls = getattr(nn, name)
    if name in ("LSTM", "GRU"):
        params = RNN_PARAMETERS
    elif name == "RNN":
        params = RNN_PARAMETERS[:3] + ["nonlinearity"] + RNN_PARAMETERS[3:7]
    else:
        params = [p.name for p in inspect.signature(cls.__init__).parameters.values() if p.kind is p.POSITIONAL_OR_KEYWORD][1:]
    if any(p.kind is p.VAR_POSITIONAL for p in inspect.signature(cls.__init__).parameters.values()) and name not in ("LSTM", "GRU", "RNN"):
        return ctor  # Sequential, Identity: positional only
    keywords = [ast.keyword(p, a) for p, a in zip(params, ctor.args)]
    return ast.Call(ctor.func, [], keywords + list(ctor.keywords))


@pytest.mark.parametrize("name, example", CASES, ids=[e for _, e in CASES])
def test_positional_and_keyword_arguments_read_alike(name: str, example: str) -> None:
    names = scope()
    ctor, _ = split(example)
    by_keyword = keyword_form(ctor)
    eval(ast.unparse(by_keyword), names)  # torch accepts the keyword form
    assert model_module(ctor, names) == model_module(by_keyword, names)


# ---- symbolic sizes and unreadable arguments -----------------------------------------------------


def args(*pos: Value, **kw: Value) -> ops.Args:
    texts = [v.key if isinstance(v, Opaque) else str(v.value) if isinstance(v, IntV) else "" for v in pos]
    return ops.Args(list(pos), dict(kw), texts, ORIGIN, to_dim)


B, T, D, H = (Dim.sym(n) for n in ("b", "t", "d", "h"))
TRUE, FALSE = Opaque("True"), Opaque("False")


def apply(name: str, ctor: ops.Args, t: Tensor, call: ops.Args | None = None) -> Value:
    module = modules.construct(name, ctor)
    assert module is not None
    return modules.forward(module, t, call or args())


def test_linear_keeps_the_symbolic_size() -> None:
    out = apply("Linear", args(Opaque("d"), Opaque("h")), Tensor.dense((B, T, D)))
    assert isinstance(out, Tensor) and out.shape == (B, T, H) and out.contiguous
    assert out.labels == (None, None, "h")


def test_batch_first_lstm_output_cannot_be_viewed_flat() -> None:
    """``out.view(-1, hidden)`` raises: the batch-first output is a transposed time-major tensor."""
    out = apply("LSTM", args(Opaque("d"), Opaque("h"), batch_first=TRUE), Tensor.dense((B, T, D)))
    assert isinstance(out, TupleV)
    seq = out.items[0]
    assert isinstance(seq, Tensor) and seq.shape == (B, T, H) and not seq.contiguous
    assert seq.origin == ORIGIN
    assert view_strides(seq.shape, seq.strides, (B * T, H)) is None  # type: ignore[arg-type]
    h, c = out.items[1].items  # type: ignore[union-attr]
    assert h.shape == (Dim.lit(1), B, H) and h.contiguous and c.contiguous
    time_major = apply("LSTM", args(Opaque("d"), Opaque("h")), Tensor.dense((T, B, D)))
    first = time_major.items[0]  # type: ignore[union-attr]
    assert first.contiguous and view_strides(first.shape, first.strides, (T * B, H)) is not None


def test_unreadable_batch_first_leaves_the_layout_unknown() -> None:
    out = apply("GRU", args(IntV(5), IntV(6), batch_first=UNKNOWN), Tensor.dense((B, T, Dim.lit(5))))
    seq = out.items[0]  # type: ignore[union-attr]
    assert isinstance(seq, Tensor) and seq.shape == (B, T, Dim.lit(6)) and seq.strides is None and not seq.contiguous


def test_conv_sizes_symbolic() -> None:
    x = Tensor.dense((B, D, H, T))
    same = apply("Conv2d", args(Opaque("d"), IntV(8), IntV(3), padding=IntV(1)), x)
    assert isinstance(same, Tensor) and same.shape == (B, Dim.lit(8), H, T) and same.contiguous
    strided = apply("Conv2d", args(Opaque("d"), IntV(8), IntV(3), IntV(2)), x)
    assert isinstance(strided, Tensor) and strided.rank == 4 and strided.contiguous
    assert strided.shape[2].literal is None and strided.shape[2] != H  # type: ignore[index]
    up = apply("ConvTranspose2d", args(Opaque("d"), IntV(8), IntV(2), IntV(2)), x)
    assert isinstance(up, Tensor) and up.shape == (B, Dim.lit(8), H * Dim.lit(2), T * Dim.lit(2))
    half = apply("MaxPool2d", args(IntV(2)), Tensor.dense((B, D, H * Dim.lit(2), T * Dim.lit(4))))
    assert isinstance(half, Tensor) and half.shape == (B, D, H, T * Dim.lit(2))


def test_channels_last_symbolic_conv_output() -> None:
    x = Tensor.strided((B, D, H, T), (H * T * D, Dim.lit(1), T * D, D), None, ORIGIN)
    out = apply("Conv2d", args(Opaque("d"), Opaque("o"), IntV(1)), x)
    assert isinstance(out, Tensor) and not out.contiguous and out.strides is not None
    o = Dim.sym("o")
    assert out.strides == (H * T * o, Dim.lit(1), T * o, o)


def test_flags() -> None:
    assert modules.flag(TRUE) is True and modules.flag(FALSE) is False
    assert modules.flag(IntV(0)) is False and modules.flag(IntV(2)) is None
    assert modules.flag(UNKNOWN) is None and modules.flag(Opaque("x")) is None
    assert modules.text(Opaque("'same'")) == "same" and modules.text(Opaque("same")) is None


def test_unknown_names_and_modules_without_a_row() -> None:
    assert modules.construct("MyBlock", args()) is None
    assert modules.forward(ModuleV("MyBlock", None), Tensor.dense((B, D)), args()) is UNKNOWN
    blind = modules.construct("Sequential", args(Opaque("block"), ModuleV("ReLU", None, modules.ROWS["ReLU"].construct(args()))))
    assert blind is not None and modules.forward(blind, Tensor.dense((B, D)), args()) is UNKNOWN


def test_attention_self_attention_layout_is_left_open() -> None:
    """The fast path (eval, no autograd, query is key is value) returns a dense output."""
    names = scope()
    m = nn.MultiheadAttention(8, 2, batch_first=True).eval()
    q = names["q3"]
    with torch.no_grad():
        assert m(q, q, q)[0].is_contiguous()
    assert not m(q, q, q)[0].is_contiguous()


@pytest.mark.parametrize("example", ["nn.ConvTranspose2d(5, 4, 3)(n11)", "nn.Conv2d(5, 4, 1, padding=1)(n11)", "nn.Conv2d(5, 4, 1)(n11)"])
def test_contiguous_input_read_as_channels_last(example: str) -> None:
    """``(N, C, 1, 1)`` with channels-last strides is contiguous, yet ATen suggests channels-last:
    an output that grows the spatial dims is non-contiguous. The forward follows ATen on the facts
    (the ``produces`` flags leave this corner out, see ``ModuleRow.produces``)."""
    names = scope()
    assert names["n11"].is_contiguous()
    real = eval(example, names)
    model = run_model(example, names)
    assert isinstance(model, Tensor) and model.strides is not None
    shape = tuple(d.literal for d in model.shape)  # type: ignore[union-attr]
    strides = tuple(d.literal for d in model.strides)
    assert significant(shape, strides) == significant(tuple(real.shape), real.stride())  # type: ignore[arg-type]
    assert model.contiguous == real.is_contiguous()


def test_channels_last_parameters_come_only_from_a_memory_format() -> None:
    """Why ``produces`` assumes contiguous parameters: channels-last weights make the output
    channels-last even for a contiguous input, but only after ``.to(memory_format=...)``, whose
    text the preselection's producer pattern matches on its own (and the walker models:
    ``ModuleV.weights``, :func:`modules.weight`)."""
    m = nn.Conv2d(5, 4, 3, padding=1).to(memory_format=torch.channels_last)
    assert not m(scope()["c4"]).is_contiguous()


WEIGHT_EXAMPLES = [
    "nn.Conv2d(3, 4, 3)", "nn.Conv2d(6, 4, (3, 2), groups=2)", "nn.Conv2d(4, 4, 3, groups=4)", "nn.ConvTranspose2d(3, 4, 3)",
    "nn.Conv1d(3, 4, 3)", "nn.Conv3d(3, 4, 2)",
]


@pytest.mark.parametrize("fmt", ["", ".to(memory_format=torch.channels_last)", ".to(memory_format=torch.channels_last_3d)"])
@pytest.mark.parametrize("ctor", WEIGHT_EXAMPLES)
def test_conv_weight_matches_torch(ctor: str, fmt: str) -> None:
    """``conv.weight`` as the walker reads it, after ``nn.Module.to(memory_format=...)`` or not."""
    from flake8_tensorview.linter import analyze

    program = f"import torch\nfrom torch import nn\nm = {ctor}{fmt}\ny = m.weight\n"
    names: dict[str, Any] = {}
    try:
        exec(program, names)
    except RuntimeError:  # a format for another rank: torch refuses it
        return
    real = names["y"]
    result = analyze(program, whole=True)
    assert result is not None
    model = result[0].module_env.vars["y"]
    assert isinstance(model, Tensor) and model.shape is not None and model.strides is not None, model
    shape = tuple(d.literal for d in model.shape)
    strides = tuple(d.literal for d in model.strides)
    assert significant(shape, strides) == significant(tuple(real.shape), real.stride())  # type: ignore[arg-type]
    assert model.contiguous == real.is_contiguous()
