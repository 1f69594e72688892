"""What library ``nn`` modules do: constructor arguments in, forward effect out.

One row per family of ``torch.nn`` classes. ``construct`` reads the constructor's arguments (as
torch's signature orders them, positional or keyword) into a frozen config that keeps only what
the output depends on; ``forward`` turns that config, the first input's facts and the remaining
call arguments into the output's facts, built from the op table's effects (:mod:`ops`).
``tests/test_modules.py`` runs every example with torch and compares shapes and strides.

How arguments arrive: sizes as ``IntV``/``DimV``/``Opaque`` (read with ``Args.to_dim``); booleans
as ``Opaque("True")``/``Opaque("False")`` or ``IntV`` 0/1; ``None`` as ``Opaque("None")``; string
literals as ``Opaque`` whose key is the quoted literal (``Opaque("'same'")``). Anything else is an
unknown value: the reader keeps ``None`` and the effect stays sound (unknown layout or a fresh size).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from . import ops
from .dims import ONE, Dim
from .layout import Origin, Shape, Tensor, channels_last_strides, memory_format_of as _memory_format
from .ops import flag
from .values import UNKNOWN, DimV, IntV, ListV, ModuleV, Opaque, PackedV, TupleV, Value, literal

Labels = tuple[str | None, ...]


# ---- reading constructor arguments -------------------------------------------------------------


def text(value: Value | None) -> str | None:
    """A string literal (``Opaque("'same'")``), or None."""
    if isinstance(value, Opaque) and value.key[:1] in "'\"" and len(value.key) >= 2:
        got = literal(value.key)
        return got if isinstance(got, str) else None
    raw = getattr(value, "value", None)
    return raw if isinstance(raw, str) else None


def is_none(value: Value | None) -> bool:
    return isinstance(value, Opaque) and value.key == "None"


def _flag(a: ops.Args, index: int, name: str, default: bool) -> bool | None:
    v = a.get(index, name)
    return default if v is None else flag(v)


def _size(a: ops.Args, index: int, name: str) -> tuple[Dim | None, str | None]:
    """A size argument as a ``Dim`` and the label it goes by (None for a literal)."""
    v = a.get(index, name)
    if v is None or is_none(v) or flag(v) is not None and not isinstance(v, IntV):
        return None, None
    positional = name not in a.kw and index < len(a.texts)
    source = a.texts[index] if positional else ""
    if isinstance(v, IntV):
        return a.to_dim(v, source), None
    label = v.label if isinstance(v, DimV) and v.label else v.key if isinstance(v, Opaque) else source or None
    return a.to_dim(v, source or label or name), label


def _ints(v: Value | None, n: int, default: int | None) -> tuple[int | None, ...] | None:
    """An ``int`` or a tuple of ``n`` ints (``kernel_size=3``, ``(3, 1)``); None when unknown."""
    if v is None or is_none(v):
        return None if default is None else (default,) * n
    if isinstance(v, TupleV):
        got = tuple(ops.as_int(i) for i in v.items)
        return got if len(got) == n and None not in got else None
    i = ops.as_int(v)
    return None if i is None else (i,) * n


def _fresh(a: ops.Args, what: str) -> Dim:
    """A size the analysis cannot compute, named after its call site (stable across revisits)."""
    return a.fresh(what)


# ---- layouts -------------------------------------------------------------------------------------


def _unsqueezed(t: Tensor, a: ops.Args, dim: int) -> Tensor:
    got = ops.unsqueeze(t, replace(a, pos=[IntV(dim)], kw={}, texts=[str(dim)]))
    assert isinstance(got, Tensor)
    return got


# ---- spatial modules: conv, pooling, batch/group norm -------------------------------------------

DENSE, FORMAT, VIA_2D, VIA_2D_OR_UNKNOWN = "dense", "format", "via-2d", "via-2d-or-unknown"
DENSE_IF_CONTIGUOUS = "dense-if-contiguous"
"""How a spatial module lays out its output. ``dense``: always contiguous. ``format``: channels-last
when the input's suggested memory format is, else contiguous. ``via-2d``: a 1-D module that runs
the 2-D kernel on ``input.unsqueeze(-2)``, so a channels-first-in-memory ``(N, C, L)`` input
(``x.transpose(1, 2)``) gives ``(N, C, L')`` with ``C`` innermost. ``via-2d-or-unknown``: as
``via-2d`` when autograd records the input, contiguous otherwise (``max_pool1d``)."""


def _spatial(
    t: Tensor,
    a: ops.Args,
    k: int,
    rule: str,
    channels: tuple[Dim, str | None] | None,
    sizes: Callable[[Shape, Labels], tuple[Shape, Labels]],
    unsized: bool = False,
) -> Value:
    """Output of a module over ``(N, C, *k spatial dims)`` or the unbatched ``(C, *spatial)``.

    ``channels``: the output channels and their label (None keeps the input's); ``sizes`` maps the
    input's spatial sizes and labels to the output's.
    """
    if t.shape is None:
        return Tensor(contiguous=True) if t.contiguous or rule == DENSE else UNKNOWN
    rank = len(t.shape)
    if rank not in (k + 1, k + 2):
        return UNKNOWN
    batched = rank == k + 2
    labels = t.labels or (None,) * rank
    lead = 1 if batched else 0
    spatial, spatial_labels = sizes(t.shape[lead + 1 :], labels[lead + 1 :])
    c, c_label = channels if channels is not None else (t.shape[lead], labels[lead])
    shape = t.shape[:lead] + (c,) + spatial
    out_labels = labels[:lead] + (c_label,) + spatial_labels
    if rule == DENSE:
        return Tensor.dense(shape, out_labels)
    if not batched or rule == DENSE_IF_CONTIGUOUS:
        # unbatched inputs take several kernel paths; only a contiguous one is sure to stay so
        return Tensor.dense(shape, out_labels) if t.contiguous else Tensor.strided(shape, None, out_labels, t.origin)
    probe = t if rule == FORMAT else _unsqueezed(t, a, -2)
    layout = _memory_format(probe)
    if layout == "contiguous":
        return Tensor.dense(shape, out_labels)
    if layout is None or rule == VIA_2D_OR_UNKNOWN:
        return Tensor.strided(shape, None, out_labels, t.origin)
    if unsized:
        # a window the constructor does not pin down may cover the whole input (a kernel and
        # stride as large as the map: GLM-4V's patch merger), and a 1x1 channels-last map is contiguous
        return Tensor.strided(shape, None, out_labels, t.origin)
    return Tensor.strided(shape, channels_last_strides(shape), out_labels, t.origin or a.origin)


def _unsized(kernel: tuple[int | None, ...] | None, stride: tuple[int | None, ...] | None) -> bool:
    """A kernel or stride the constructor reader could not read: the output may be of any size, 1
    included."""
    return kernel is None or stride is None or None in kernel or None in stride


def _window(size: Dim, k: int | None, s: int | None, p: int | None, d: int | None, ceil: bool | None) -> Dim | None:
    """torch's conv/pool output size ``floor((L + 2p - d(k-1) - 1) / s) + 1`` (``ceil`` for pools
    with ``ceil_mode``), exact for literals and for symbols when it is a monomial; else None."""
    if None in (k, s, p, d, ceil) or s <= 0:  # type: ignore[operator]
        return None
    assert k is not None and s is not None and p is not None and d is not None
    c = 2 * p - d * (k - 1) - 1
    if size.literal is not None:
        if ceil:
            out = -((size.literal + c) // -s) + 1
            if (out - 1) * s >= size.literal + p:  # the last window must start inside the input
                out -= 1
        else:
            out = (size.literal + c) // s + 1
        return Dim.lit(out) if out > 0 else None
    r = c + s  # out == floor((L + r) / s), or floor((L + r + s - 1) / s) with ceil_mode
    fits = 1 - s <= r <= 0 if ceil else 0 <= r < s
    return size.divide(Dim.lit(s)) if fits else None


def _transposed_window(size: Dim, k: int | None, s: int | None, p: int | None, d: int | None, extra: int | None) -> Dim | None:
    """``(L - 1) s - 2p + d(k-1) + output_padding + 1``."""
    if None in (k, s, p, d, extra):
        return None
    assert k is not None and s is not None and p is not None and d is not None and extra is not None
    r = -s - 2 * p + d * (k - 1) + extra + 1
    if size.literal is not None:
        return Dim.lit(size.literal * s + r)
    return size * Dim.lit(s) if r == 0 else None


def _each(
    spatial: Shape, labels: Labels, a: ops.Args, what: str, one: Callable[[int, Dim], Dim | None]
) -> tuple[Shape, Labels]:
    out: list[Dim] = []
    out_labels: list[str | None] = []
    for i, (size, label) in enumerate(zip(spatial, labels)):
        got = one(i, size)
        out.append(got if got is not None else _fresh(a, f"{what}[{i}]"))
        out_labels.append(label if got == size else None)
    return tuple(out), tuple(out_labels)


@dataclass(frozen=True)
class Conv:
    k: int
    transposed: bool
    channels: Dim | None
    label: str | None
    kernel: tuple[int | None, ...] | None
    stride: tuple[int | None, ...] | None
    padding: tuple[int | None, ...] | str | None
    """Ints, ``"same"``/``"valid"``, or None when unknown."""
    dilation: tuple[int | None, ...] | None
    output_padding: tuple[int | None, ...] | None
    zeros_mode: bool | None
    """``padding_mode='zeros'``: other modes pad with ``F.pad`` first (not modelled)."""
    in_channels: Dim | None = None
    groups: int | None = None
    """With ``in_channels``, what the weight's shape is made of (see :func:`weight`)."""


def _conv_construct(k: int, transposed: bool) -> Callable[[ops.Args], Conv]:
    def read(a: ops.Args) -> Conv:
        channels, label = _size(a, 1, "out_channels")
        padding_arg = a.get(4, "padding")
        padding: tuple[int | None, ...] | str | None = text(padding_arg) or _ints(padding_arg, k, 0)
        if isinstance(padding, str) and padding not in ("same", "valid"):
            padding = None
        dilation_at = 8 if transposed else 5
        mode = a.get(9 if transposed else 8, "padding_mode")
        return Conv(
            k,
            transposed,
            channels,
            label,
            _ints(a.get(2, "kernel_size"), k, None),
            _ints(a.get(3, "stride"), k, 1),
            padding,
            _ints(a.get(dilation_at, "dilation"), k, 1),
            _ints(a.get(5, "output_padding"), k, 0) if transposed else (0,) * k,
            True if mode is None else (text(mode) == "zeros" if text(mode) is not None else None),
            _size(a, 0, "in_channels")[0],
            a.int(6, "groups", 1),
        )

    return read


def _conv_forward(cfg: object, t: Tensor, a: ops.Args) -> Value:
    assert isinstance(cfg, Conv)
    k = cfg.k
    channels = (cfg.channels or _fresh(a, "out_channels"), cfg.label)

    def one(i: int, size: Dim) -> Dim | None:
        pick = lambda v: None if v is None else v[i]  # noqa: E731
        if cfg.transposed:
            if isinstance(cfg.padding, str):
                return None
            return _transposed_window(size, pick(cfg.kernel), pick(cfg.stride), pick(cfg.padding), pick(cfg.dilation), pick(cfg.output_padding))
        if cfg.padding == "same":
            return size
        padding = (0,) * k if cfg.padding == "valid" else cfg.padding
        return _window(size, pick(cfg.kernel), pick(cfg.stride), pick(padding), pick(cfg.dilation), False)  # type: ignore[arg-type]

    def sizes(spatial: Shape, labels: Labels) -> tuple[Shape, Labels]:
        asked = a.get(0, "output_size") if cfg.transposed else None
        if isinstance(asked, TupleV) and len(asked.items) >= k:
            dims = [a.to_dim(v, "") for v in asked.items[-k:]]
            if None not in dims:
                return tuple(dims), (None,) * k  # type: ignore[return-value]
        return _each(spatial, labels, a, "conv", one)

    rule = DENSE if k == 1 else FORMAT
    if rule == FORMAT and cfg.zeros_mode is not True:
        rule = DENSE_IF_CONTIGUOUS  # F.pad runs first, and its result's layout is not modelled
    return _spatial(t, a, k, rule, channels, sizes, _unsized(cfg.kernel, cfg.stride))


@dataclass(frozen=True)
class Pool:
    k: int
    rule: str
    kernel: tuple[int | None, ...] | None
    stride: tuple[int | None, ...] | None
    padding: tuple[int | None, ...] | None
    dilation: tuple[int | None, ...] | None
    ceil_mode: bool | None
    indices: bool | None
    """``return_indices``: the output is ``(values, indices)``, laid out alike."""


def _pool_construct(k: int, rule: str, maximum: bool) -> Callable[[ops.Args], Pool]:
    """``MaxPool(kernel, stride, padding, dilation, return_indices, ceil_mode)``,
    ``AvgPool(kernel, stride, padding, ceil_mode, ...)``."""

    def read(a: ops.Args) -> Pool:
        kernel = _ints(a.get(0, "kernel_size"), k, None)
        stride_arg = a.get(1, "stride")
        stride = kernel if stride_arg is None or is_none(stride_arg) else _ints(stride_arg, k, None)
        indices = _flag(a, 4, "return_indices", False) if maximum else False
        return Pool(
            k,
            VIA_2D if rule == VIA_2D_OR_UNKNOWN and indices else rule,  # with indices: always the 2-D kernel
            kernel,
            stride,
            _ints(a.get(2, "padding"), k, 0),
            _ints(a.get(3, "dilation"), k, 1) if maximum else (1,) * k,
            _flag(a, 5 if maximum else 3, "ceil_mode", False),
            indices,
        )

    return read


def _pool_forward(cfg: object, t: Tensor, a: ops.Args) -> Value:
    assert isinstance(cfg, Pool)

    def one(i: int, size: Dim) -> Dim | None:
        pick = lambda v: None if v is None else v[i]  # noqa: E731
        return _window(size, pick(cfg.kernel), pick(cfg.stride), pick(cfg.padding), pick(cfg.dilation), cfg.ceil_mode)

    out = _spatial(t, a, cfg.k, cfg.rule, None, lambda spatial, labels: _each(spatial, labels, a, "pool", one),
                   _unsized(cfg.kernel, cfg.stride))
    return _with_indices(out, cfg.indices)


def _with_indices(out: Value, indices: bool | None) -> Value:
    if indices is None:
        return UNKNOWN
    return TupleV((out, out)) if indices else out


@dataclass(frozen=True)
class Adaptive:
    k: int
    rule: str
    output: tuple[Dim | None, ...] | None
    """Output sizes; a None entry keeps the input's size (``AdaptiveAvgPool2d((None, 7))``)."""
    indices: bool | None


def _adaptive_construct(k: int, rule: str, maximum: bool) -> Callable[[ops.Args], Adaptive]:
    def read(a: ops.Args) -> Adaptive:
        v = a.get(0, "output_size")
        items = v.items if isinstance(v, TupleV) else (v,) * k
        output: tuple[Dim | None, ...] | None = None
        if len(items) == k and v is not None:
            dims = [None if is_none(i) else a.to_dim(i, "") for i in items]
            known = all(d is not None or is_none(i) for d, i in zip(dims, items))
            output = tuple(dims) if known else None
        return Adaptive(k, rule, output, _flag(a, 1, "return_indices", False) if maximum else False)

    return read


def _adaptive_forward(cfg: object, t: Tensor, a: ops.Args) -> Value:
    assert isinstance(cfg, Adaptive)

    def one(i: int, size: Dim) -> Dim | None:
        if cfg.output is None:
            return None
        return cfg.output[i] or size

    out = _spatial(t, a, cfg.k, cfg.rule, None, lambda spatial, labels: _each(spatial, labels, a, "pool", one))
    return _with_indices(out, cfg.indices)


@dataclass(frozen=True)
class Norm:
    k: int | None
    """Spatial dims the module expects (BatchNorm2d: 2); None: any rank (GroupNorm)."""
    rule: str


def _norm_construct(k: int | None, rule: str) -> Callable[[ops.Args], Norm]:
    return lambda a: Norm(k, rule)


def _norm_forward(cfg: object, t: Tensor, a: ops.Args) -> Value:
    """Batch/group/instance norm: the input's shape; channels-last kept where the kernel keeps it."""
    assert isinstance(cfg, Norm)
    if t.shape is None:
        return Tensor(contiguous=True) if t.contiguous or cfg.rule == DENSE else UNKNOWN
    k = cfg.k if cfg.k is not None else len(t.shape) - 2
    if k < 0 or len(t.shape) not in (k + 1, k + 2):
        return UNKNOWN
    if cfg.k is None and len(t.shape) not in (4, 5):  # GroupNorm: only 4-D/5-D inputs can be channels-last
        return Tensor.dense(t.shape, t.labels)
    return _spatial(t, a, k, cfg.rule, None, lambda spatial, labels: (spatial, labels))


# ---- dense results: linear layers, layer norms, softmax, embeddings ----------------------------


@dataclass(frozen=True)
class Features:
    size: Dim | None
    label: str | None


def _features(index: int, name: str) -> Callable[[ops.Args], Features]:
    return lambda a: Features(*_size(a, index, name))


def _last_dim(cfg: object, t: Tensor, a: ops.Args) -> Value:
    """``(*, in) -> (*, out)``, a new dense tensor (Linear, Bilinear)."""
    assert isinstance(cfg, Features)
    if t.shape is None or not t.shape:
        return Tensor(contiguous=True)
    size = cfg.size or _fresh(a, "out_features")
    return Tensor.dense(t.shape[:-1] + (size,), (t.labels or (None,) * len(t.shape))[:-1] + (cfg.label,))


def _embedding(cfg: object, t: Tensor, a: ops.Args) -> Value:
    """Indices ``(*)`` -> ``(*, embedding_dim)``, dense whatever the indices' layout."""
    assert isinstance(cfg, Features)
    if t.shape is None:
        return Tensor(contiguous=True)
    size = cfg.size or _fresh(a, "embedding_dim")
    return Tensor.dense(t.shape + (size,), (t.labels or (None,) * len(t.shape)) + (cfg.label,))


def _embedding_bag(cfg: object, t: Tensor, a: ops.Args) -> Value:
    """2-D indices ``(B, N)`` -> ``(B, embedding_dim)``; 1-D with offsets -> ``(len(offsets), dim)``."""
    assert isinstance(cfg, Features)
    size = cfg.size or _fresh(a, "embedding_dim")
    if t.shape is not None and len(t.shape) == 2:
        return Tensor.dense((t.shape[0], size), ((t.labels or (None, None))[0], cfg.label))
    return Tensor.dense((_fresh(a, "bags"), size), (None, cfg.label))


@dataclass(frozen=True)
class Plain:
    """A module whose output depends on nothing its constructor says (for layout)."""


def _plain(a: ops.Args) -> Plain:
    return Plain()


def _fresh_effect(cfg: object, t: Tensor, a: ops.Args) -> Value:
    return ops.fresh(t, a)


def _alias(cfg: object, t: Tensor, a: ops.Args) -> Value:
    return ops.in_place(t, a)


# ---- elementwise: activations and dropout --------------------------------------------------------


@dataclass(frozen=True)
class Inplace:
    inplace: bool | None


def _inplace_at(index: int | None) -> Callable[[ops.Args], Inplace]:
    """``inplace`` is the argument at ``index`` (None: the module has no such argument)."""
    if index is None:
        return lambda a: Inplace(False)
    return lambda a: Inplace(_flag(a, index, "inplace", False))


def _activation(cfg: object, t: Tensor, a: ops.Args) -> Value:
    """TensorIterator's ``preserve_format`` result (``like``), or the input itself with ``inplace``."""
    assert isinstance(cfg, Inplace)
    if cfg.inplace:
        return ops.in_place(t, a)
    if cfg.inplace is None:
        return ops.convert(t, a)  # either; known when both give the same layout
    return ops.like(t, a)


def _dropout(cfg: object, t: Tensor, a: ops.Args) -> Value:
    """In eval mode or with ``p == 0`` the input itself; in training ``input * mask`` (``like``).
    Which one is a run-time matter: ``convert`` keeps only what both give."""
    assert isinstance(cfg, Inplace)
    return ops.in_place(t, a) if cfg.inplace else ops.convert(t, a)


# ---- reshaping: Flatten, Unflatten ---------------------------------------------------------------


@dataclass(frozen=True)
class Flatten:
    start: int | None
    end: int | None


def _flatten_construct(a: ops.Args) -> Flatten:
    return Flatten(a.int(0, "start_dim", 1), a.int(1, "end_dim", -1))


def _flatten_forward(cfg: object, t: Tensor, a: ops.Args) -> Value:
    """``nn.Flatten(start_dim=1, end_dim=-1)``: ``torch.flatten`` (a view when possible, else a copy)."""
    assert isinstance(cfg, Flatten)
    if cfg.start is None or cfg.end is None:
        return UNKNOWN
    return ops.flatten(t, replace(a, pos=[IntV(cfg.start), IntV(cfg.end)], kw={}, texts=["", ""]))


@dataclass(frozen=True)
class Resample:
    size: Value | None
    scale: Value | None
    mode: Value | None


def _resample_construct(mode: str | None) -> Callable[[ops.Args], Resample]:
    """``Upsample(size=None, scale_factor=None, mode='nearest', align_corners=None, ...)``;
    ``UpsamplingNearest2d`` / ``UpsamplingBilinear2d(size=None, scale_factor=None)``."""

    def read(a: ops.Args) -> Resample:
        given = Opaque(repr(mode)) if mode is not None else a.get(2, "mode")
        return Resample(a.get(0, "size"), a.get(1, "scale_factor"), given)

    return read


def _resample_forward(cfg: object, t: Tensor, a: ops.Args) -> Value:
    """``F.interpolate`` with the module's size, scale factor and mode."""
    assert isinstance(cfg, Resample)
    pos = [cfg.size or Opaque("None"), cfg.scale or Opaque("None")] + ([cfg.mode] if cfg.mode is not None else [])
    return ops.interpolate(t, replace(a, pos=pos, kw={}, texts=[""] * len(pos)))


@dataclass(frozen=True)
class Unflatten:
    dim: int | None
    sizes: tuple[Value, ...] | None
    texts: tuple[str, ...]


def _unflatten_construct(a: ops.Args) -> Unflatten:
    v = a.get(1, "unflattened_size")
    if not isinstance(v, TupleV):
        return Unflatten(a.int(0, "dim"), None, ())
    source = a.texts[1] if "unflattened_size" not in a.kw and len(a.texts) > 1 else ""
    texts = ops._split_tuple_text(source, len(v.items))
    # a literal size needs no label, so positional and keyword forms give one config
    return Unflatten(a.int(0, "dim"), v.items, tuple("" if isinstance(i, IntV) else t for i, t in zip(v.items, texts)))


def _unflatten_forward(cfg: object, t: Tensor, a: ops.Args) -> Value:
    """Splitting one dim is always a view: ``x.view(*x.shape[:d], *sizes, *x.shape[d+1:])``."""
    assert isinstance(cfg, Unflatten)
    if t.shape is None or cfg.dim is None or cfg.sizes is None:
        return UNKNOWN
    rank = len(t.shape)
    d = cfg.dim % rank if -rank <= cfg.dim < rank else None
    if d is None:
        return UNKNOWN
    labels = [t.label(i) for i in range(rank)]
    before = [DimV(s, labels[i]) for i, s in enumerate(t.shape[:d])]
    after = [DimV(s, labels[d + 1 + i]) for i, s in enumerate(t.shape[d + 1 :])]
    pos: list[Value] = [*before, *cfg.sizes, *after]
    texts = labels[:d] + list(cfg.texts) + labels[d + 1 :]
    return ops.view(t, replace(a, pos=pos, kw={}, texts=texts))


# ---- recurrent layers ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Recurrent:
    lstm: bool
    hidden: Dim | None
    hidden_label: str | None
    layers: int | None
    batch_first: bool | None
    bidirectional: bool | None
    proj: int | Dim | None
    """LSTM's ``proj_size`` (0: none); None when unknown."""


def _recurrent_construct(kind: str) -> Callable[[ops.Args], Recurrent]:
    """``RNNBase(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
    proj_size)``; ``nn.RNN`` takes ``nonlinearity`` fourth, shifting the rest by one."""
    shift = 1 if kind == "RNN" else 0

    def read(a: ops.Args) -> Recurrent:
        hidden, label = _size(a, 1, "hidden_size")
        proj: int | Dim | None = 0
        if kind == "LSTM":
            v = a.get(7, "proj_size")
            if v is not None:
                proj = ops.as_int(v) if ops.as_int(v) is not None else _size(a, 7, "proj_size")[0]
        return Recurrent(
            kind == "LSTM",
            hidden,
            label,
            a.int(2, "num_layers", 1),
            _flag(a, 4 + shift, "batch_first", False),
            _flag(a, 6 + shift, "bidirectional", False),
            proj,
        )

    return read


def _recurrent_forward(cfg: object, t: Tensor, a: ops.Args) -> Value:
    """``(out, h_n)`` / ``(out, (h_n, c_n))``. ``out`` is ``(T, B, D*H)`` dense, or with
    ``batch_first`` ``(B, T, D*H)`` as a transposed view of that dense ``(T, B, D*H)`` tensor
    (every backend allocates time-major); ``h_n``/``c_n`` are dense ``(D*num_layers, B, H)``."""
    assert isinstance(cfg, Recurrent)
    hidden = cfg.hidden or _fresh(a, "hidden_size")
    proj = cfg.proj if cfg.proj is not None else _fresh(a, "proj_size")
    h_out = hidden if proj == 0 else proj if isinstance(proj, Dim) else Dim.lit(proj)
    h_label = cfg.hidden_label if proj == 0 else None
    directions = None if cfg.bidirectional is None else 2 if cfg.bidirectional else 1
    features = h_out * Dim.lit(directions) if directions is not None else _fresh(a, "num_directions*hidden")
    stacked = (
        Dim.lit(directions * cfg.layers)
        if directions is not None and cfg.layers is not None
        else _fresh(a, "num_directions*num_layers")
    )
    features_label = h_label if directions == 1 else None
    if t.shape is None and cfg.batch_first and (t.prior or t.assumed):
        # batch_first only means something for batched input: the prior is a (B, T, F) input, and
        # so is what ops of unknown rank made of it (``self.gru(self.embed(x))``). Not so what an
        # unknown call returned: ``pack_padded_sequence`` gives a PackedSequence, whose output's
        # ``.data`` is a dense (N, D*H) tensor
        t = t.with_shape((_fresh(a, "batch"), _fresh(a, "seq_len"), _fresh(a, "input_size")), ("batch", "seq_len", None))
    if t.shape is None:
        out = Tensor(contiguous=True) if cfg.batch_first is False else Tensor()
        states: tuple[Tensor, ...] = (Tensor(contiguous=True),) * (2 if cfg.lstm else 1)
        return _recurrent_result(cfg, out, states)
    labels = t.labels or (None,) * len(t.shape)
    if len(t.shape) == 2:  # unbatched (T, F)
        out = Tensor.dense((t.shape[0], features), (labels[0], features_label))
        h = Tensor.dense((stacked, h_out), (None, h_label))
        c = Tensor.dense((stacked, hidden), (None, cfg.hidden_label))
        return _recurrent_result(cfg, out, (h, c))
    if len(t.shape) != 3:
        return UNKNOWN
    shape = (t.shape[0], t.shape[1], features)
    out_labels = (labels[0], labels[1], features_label)
    if cfg.batch_first is None:
        batch = _fresh(a, "batch")
        out = Tensor.strided(shape, None, out_labels, a.origin)
    elif cfg.batch_first:
        batch = t.shape[0]
        strides = (features, t.shape[0] * features, ONE)
        out = Tensor.strided(shape, strides, out_labels, a.origin)
    else:
        batch = t.shape[1]
        out = Tensor.dense(shape, out_labels)
    b_label = labels[0] if cfg.batch_first else labels[1] if cfg.batch_first is False else None
    h = Tensor.dense((stacked, batch, h_out), (None, b_label, h_label))
    c = Tensor.dense((stacked, batch, hidden), (None, b_label, cfg.hidden_label))
    return _recurrent_result(cfg, out, (h, c))


PACKING = ("pack_padded_sequence", "pack_sequence", "pad_packed_sequence", "pad_sequence")
"""``torch.nn.utils.rnn`` functions whose results the walker models (:func:`packing`)."""
PRODUCING_FUNCTIONS = ("pad_packed_sequence",)
"""Library functions (not ``nn`` modules) whose output can be non-contiguous (for ``preselect``)."""


def packing(name: str, first: Value, args: ops.Args) -> Value:
    """``pack_padded_sequence(x, lengths, batch_first)`` / ``pack_sequence([x, ...])``: a packed
    sequence of ``x``'s feature dims. ``pad_packed_sequence(packed, batch_first)``: ATen's
    ``_pad_packed_sequence`` fills a dense time-major ``(T, B, *features)`` tensor and, with
    ``batch_first``, returns it transposed (``output.transpose(0, 1)``), so merging the batch with
    the time steps raises; then the lengths. ``pad_sequence(seqs, batch_first)``: ATen fills a new
    ``(T, B, *)`` (``(B, T, *)``) tensor, dense whatever the sequences' layout."""
    if name == "pad_sequence":
        items = first.items if isinstance(first, (TupleV, ListV)) else ()
        trailing = {item.shape[1:] if isinstance(item, Tensor) and item.shape else None for item in items}
        batch_first = _flag(args, 0, "batch_first", False)
        if len(trailing) != 1 or None in trailing or batch_first is None:
            return Tensor.dense(None)  # of rank >= 2, its sizes unknown here
        features: Shape = trailing.pop()  # type: ignore[assignment]
        steps, batch = args.fresh("max_len"), args.fresh("batch")
        shape, labels = ((batch, steps), ("batch", "max_len")) if batch_first else ((steps, batch), ("max_len", "batch"))
        return Tensor.dense(shape + features, labels + (None,) * len(features))
    if name == "pack_sequence":
        first = first.items[0] if isinstance(first, (TupleV, ListV)) and first.items else UNKNOWN
        if not isinstance(first, Tensor) or first.shape is None or not first.shape:
            return UNKNOWN
        return PackedV(Tensor.dense((args.fresh("packed"),) + first.shape[1:], (None,) + (first.labels or ())[1:]))
    if name == "pack_padded_sequence":
        if not isinstance(first, Tensor) or first.shape is None or len(first.shape) < 2:
            return UNKNOWN
        return PackedV(Tensor.dense((args.fresh("packed"),) + first.shape[2:], (None,) + (first.labels or ())[2:]))
    if not isinstance(first, PackedV) or first.data.shape is None:
        return UNKNOWN
    batch_first = _flag(args, 0, "batch_first", False)
    if batch_first is None:
        return UNKNOWN
    features = first.data.shape[1:]
    steps, batch = args.fresh("max_seq_len"), args.fresh("batch")
    labels = ("max_seq_len", "batch") + (first.data.labels or (None,) * len(first.data.shape))[1:]
    dense = Tensor.dense((steps, batch) + features, labels)
    if not batch_first:
        return TupleV((dense, UNKNOWN))
    assert dense.strides is not None
    shape = (batch, steps) + features
    strides = (dense.strides[1], dense.strides[0]) + dense.strides[2:]
    return TupleV((Tensor.strided(shape, strides, (labels[1], labels[0]) + labels[2:], args.origin), UNKNOWN))


def packed_forward(module: ModuleV, packed: PackedV, args: ops.Args) -> Value:
    """A recurrent module run on a packed sequence: its output is packed too, ``(N, D*H)`` dense
    data; the states are dense, of a batch size the walker does not know."""
    cfg = module.config
    if not isinstance(cfg, Recurrent) or packed.data.rank != 2:  # an RNN takes (N, F) packed data only
        return UNKNOWN
    out = _recurrent_forward(cfg, packed.data, args)  # a 2-D input reads as unbatched: (N, D*H)
    if not isinstance(out, TupleV) or not isinstance(out.items[0], Tensor):
        return UNKNOWN
    states = (Tensor(contiguous=True),) * (2 if cfg.lstm else 1)
    return _recurrent_result(cfg, PackedV(out.items[0]), states)  # type: ignore[arg-type]


def _recurrent_result(cfg: Recurrent, out: Tensor, states: tuple[Tensor, ...]) -> Value:
    if cfg.lstm:
        return TupleV((out, TupleV(states[:2])))
    return TupleV((out, states[0]))


# ---- attention -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attention:
    heads: int | None
    batch_first: bool | None
    slow_only: bool | None
    """Settings that rule out the inference fast path (odd ``num_heads``, ``kdim``/``vdim`` unlike
    ``embed_dim``, ``add_bias_kv``, ``add_zero_attn``); None when unknown."""
    extra_keys: int | None
    """Keys ``add_bias_kv`` and ``add_zero_attn`` append (0-2)."""


def _attention_construct(a: ops.Args) -> Attention:
    """``MultiheadAttention(embed_dim, num_heads, dropout, bias, add_bias_kv, add_zero_attn, kdim,
    vdim, batch_first)``."""
    embed, _ = _size(a, 0, "embed_dim")
    heads = a.int(1, "num_heads")
    bias_kv = _flag(a, 4, "add_bias_kv", False)
    zero_attn = _flag(a, 5, "add_zero_attn", False)
    other_dims: bool | None = False
    for index, name in ((6, "kdim"), (7, "vdim")):
        v = a.get(index, name)
        if v is None or is_none(v):
            continue
        size, _ = _size(a, index, name)
        other_dims = None if size is None or embed is None or other_dims is None else other_dims or size != embed
    reasons = [heads % 2 == 1 if heads is not None else None, other_dims, bias_kv, zero_attn]
    slow = True if True in reasons else None if None in reasons else False
    extra = None if bias_kv is None or zero_attn is None else int(bias_kv) + int(zero_attn)
    return Attention(heads, _flag(a, 8, "batch_first", False), slow, extra)


def _attention_forward(cfg: object, t: Tensor, a: ops.Args) -> Value:
    """``(attn_output, attn_weights)``; the weights are None (here: unknown) with ``need_weights=False``.

    ``attn_output`` is dense, except with ``batch_first``: the slow path computes ``(L, N, E)`` and
    returns its ``transpose(1, 0)``; the fast path (eval mode, no autograd, the same tensor as query,
    key and value, ...) returns a dense ``(N, L, E)``. Different key facts mean different tensors.
    """
    assert isinstance(cfg, Attention)
    key = a.get(0, "key")
    value = a.get(1, "value")
    need = _flag(a, 3, "need_weights", True)
    average = _flag(a, 5, "average_attn_weights", True)
    if t.shape is None or len(t.shape) not in (2, 3):
        return TupleV((Tensor() if cfg.batch_first is not False else Tensor(contiguous=True), UNKNOWN))
    labels = t.labels or (None,) * len(t.shape)
    batched = len(t.shape) == 3
    key_shape = key.shape if isinstance(key, Tensor) else None
    if batched:
        batch_first = cfg.batch_first
        if batch_first is None:
            out: Tensor = Tensor.strided(t.shape, None, labels, a.origin)
            n, length = _fresh(a, "batch"), _fresh(a, "target_len")
        elif batch_first:
            n, length = t.shape[0], t.shape[1]
            differs = (isinstance(key, Tensor) and key != t) or (isinstance(value, Tensor) and value != key)
            if cfg.slow_only or differs:
                strides = (t.shape[2], t.shape[0] * t.shape[2], ONE)
                out = Tensor.strided(t.shape, strides, labels, a.origin)
            else:
                out = Tensor.strided(t.shape, None, labels, a.origin)
        else:
            n, length = t.shape[1], t.shape[0]
            out = Tensor.dense(t.shape, labels)
        s_index = 1 if batch_first else 0 if batch_first is False else None
        source = key_shape[s_index] if key_shape is not None and s_index is not None and len(key_shape) == 3 else None
    else:
        out = Tensor.dense(t.shape, labels)
        n, length = None, t.shape[0]
        source = key_shape[0] if key_shape is not None and len(key_shape) == 2 else None
    if source is not None and cfg.extra_keys:
        source = Dim.lit(source.literal + cfg.extra_keys) if source.literal is not None else None
    elif cfg.extra_keys is None:
        source = None
    source = source or _fresh(a, "source_len")
    if need is False:
        return TupleV((out, UNKNOWN))
    if need is None or average is None:
        return TupleV((out, Tensor(contiguous=True)))
    heads: tuple[Dim, ...] = () if average else (Dim.lit(cfg.heads) if cfg.heads is not None else _fresh(a, "num_heads"),)
    weights = (n,) if n is not None else ()
    return TupleV((out, Tensor.dense(weights + heads + (length, source))))  # type: ignore[arg-type]


# ---- containers ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Children:
    modules: tuple[ModuleV, ...]


def _sequential_construct(a: ops.Args) -> Children | None:
    """``nn.Sequential(m1, m2, ...)``; an ``OrderedDict`` or a child we cannot see: unknown."""
    if a.kw or not all(isinstance(m, ModuleV) for m in a.pos):
        return None
    return Children(tuple(a.pos))  # type: ignore[arg-type]


def _sequential_forward(cfg: object, t: Tensor, a: ops.Args) -> Value:
    if not isinstance(cfg, Children):
        return UNKNOWN
    value: Value = t
    for child in cfg.modules:
        if not isinstance(value, Tensor):
            return UNKNOWN
        value = forward(child, value, replace(a, pos=[], kw={}, texts=[]))
    return value


# ---- the table -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModuleRow:
    names: tuple[str, ...]
    construct: Callable[[ops.Args], object]
    """Constructor arguments -> a frozen config of what the output depends on (None: unknown)."""
    forward: Callable[[object, Tensor, ops.Args], Value]
    """(config, the first input's facts, the remaining call arguments) -> the output."""
    examples: tuple[str, ...]
    """``nn.X(...)(input, ...)`` over the inputs of ``tests/test_modules.py``: ``c3``/``c4``/``c5``
    contiguous, ``t3``/``t4``/``t5`` transposed, ``cl4``/``cl5`` channels-last, ``s3`` a strided
    slice, ``e3`` expanded, ``u2`` unbatched, ``i2`` indices, ``q3``/``k3`` batch-first query and
    key, ``ks3`` a sequence-first key, ``q2``/``k2`` unbatched; a leading ``?`` marks an example
    whose main output's layout the effect leaves unknown."""
    produces: bool = False
    """Can turn a contiguous input into a non-contiguous output (the preselection reads this).
    Not counted: channels-last parameters (``model.to(memory_format=torch.channels_last)``, whose
    ``memory_format`` the preselection matches on its own) and a contiguous ``(N, C, 1, 1)`` input
    whose size-1 strides read as channels-last, which ``ConvTranspose2d`` or a padded ``Conv2d``
    grows into a channels-last output (the forward models that case; the preselection does not look
    for it)."""


def _row(
    names: str,
    construct: Callable[[ops.Args], object],
    forward: Callable[[object, Tensor, ops.Args], Value],
    *examples: str,
    produces: bool = False,
) -> ModuleRow:
    return ModuleRow(tuple(names.split()), construct, forward, examples, produces)


def _per_rank(
    template: str,
    construct: Callable[[int], Callable[[ops.Args], object]],
    forward: Callable[[object, Tensor, ops.Args], Value],
    examples: dict[int, tuple[str, ...]],
) -> list[ModuleRow]:
    return [ModuleRow((template.format(k),), construct(k), forward, examples[k]) for k in (1, 2, 3)]


def _activation_rows() -> list[ModuleRow]:
    """Elementwise: TensorIterator keeps the input's dim order. ``inplace`` is the argument at the
    given position."""
    inplace_at = {
        "ReLU": 0, "ReLU6": 0, "SELU": 0, "SiLU": 0, "Mish": 0, "Hardswish": 0, "Hardsigmoid": 0,
        "LeakyReLU": 1, "ELU": 1, "CELU": 1, "Hardtanh": 2, "Threshold": 2,
        "GELU": None, "Tanh": None, "Sigmoid": None, "Softplus": None, "Softsign": None,
        "Tanhshrink": None, "Softshrink": None, "Hardshrink": None, "PReLU": None,
    }  # fmt: skip
    examples = {
        "ReLU": ("nn.ReLU()(t3)", "nn.ReLU(inplace=True)(s3)", "nn.ReLU(True)(t3)", "nn.ReLU()(e3)"),
        "GELU": ("nn.GELU()(t3)", "nn.GELU('tanh')(c3)", "nn.GELU()(s3)"),
        "LeakyReLU": ("nn.LeakyReLU(0.2)(t3)", "nn.LeakyReLU(0.1, True)(s3)"),
        "Threshold": ("nn.Threshold(0.1, 0.0)(t3)",),
        "Hardtanh": ("nn.Hardtanh(-1.0, 1.0, True)(s3)", "nn.Hardtanh()(t3)"),
    }
    return [
        ModuleRow((name,), _inplace_at(index), _activation, examples.get(name, (f"nn.{name}()(t3)", f"nn.{name}()(s3)")))
        for name, index in inplace_at.items()
    ]


ROW_LIST: list[ModuleRow] = [
    _row("Linear", _features(1, "out_features"), _last_dim, "nn.Linear(7, 4)(t3)", "nn.Linear(7, 6)(c3)", "nn.Linear(in_features=7, out_features=4)(s3)"),
    _row("LazyLinear", _features(0, "out_features"), _last_dim, "nn.LazyLinear(4)(t3)"),
    _row("Bilinear", _features(2, "out_features"), _last_dim, "nn.Bilinear(7, 7, 4)(t3, t3)", "nn.Bilinear(7, 7, 3)(c3, c3)"),
    *_per_rank(
        "Conv{}d",
        lambda k: _conv_construct(k, False),
        _conv_forward,
        {
            1: ("nn.Conv1d(5, 4, 3)(c3)", "nn.Conv1d(5, 4, 3, stride=2, padding=1)(t3)", "nn.Conv1d(5, 4, 1)(t3)", "nn.Conv1d(5, 6, 3, padding='same', dilation=2)(s3)", "nn.Conv1d(3, 4, 3)(u2)"),
            2: ("nn.Conv2d(5, 4, 3)(c4)", "nn.Conv2d(5, 4, 3, 2, 1)(cl4)", "nn.Conv2d(5, 4, (3, 1), padding='valid')(t4)", "nn.Conv2d(5, 4, kernel_size=3, padding=1, dilation=2)(p4)", "nn.Conv2d(5, 4, 3)(c4[0])", "?nn.Conv2d(5, 4, 3)(cl4[0])"),
            3: ("nn.Conv3d(5, 4, 3, padding=1)(c5)", "nn.Conv3d(5, 4, 2, stride=2)(cl5)", "nn.Conv3d(5, 4, 1)(t5)"),
        },
    ),
    *_per_rank(
        "ConvTranspose{}d",
        lambda k: _conv_construct(k, True),
        _conv_forward,
        {
            1: ("nn.ConvTranspose1d(5, 4, 3)(c3)", "nn.ConvTranspose1d(5, 4, 4, stride=2, padding=1, output_padding=1)(t3)", "nn.ConvTranspose1d(5, 4, 2, 2)(s3)"),
            2: ("nn.ConvTranspose2d(5, 4, 3)(c4)", "nn.ConvTranspose2d(5, 4, 2, stride=2)(cl4)", "nn.ConvTranspose2d(5, 4, 3, 1, 1, 0, 1, True, 2)(t4)"),
            3: ("nn.ConvTranspose3d(5, 4, 2, 2)(c5)", "nn.ConvTranspose3d(5, 4, 3)(cl5)"),
        },
    ),
    _row("MaxPool1d", _pool_construct(1, VIA_2D_OR_UNKNOWN, True), _pool_forward, "nn.MaxPool1d(2)(c3)", "?nn.MaxPool1d(2)(t3)", "nn.MaxPool1d(3, 2, 1, ceil_mode=True)(s3)", "nn.MaxPool1d(2, return_indices=True)(t3)"),
    _row("MaxPool2d", _pool_construct(2, FORMAT, True), _pool_forward, "nn.MaxPool2d(2)(c4)", "nn.MaxPool2d(3, 2, 1)(cl4)", "nn.MaxPool2d(2, ceil_mode=True)(t4)", "nn.MaxPool2d(2, return_indices=True)(cl4)", "nn.MaxPool2d((2, 3), dilation=2)(p4)"),
    _row("MaxPool3d", _pool_construct(3, FORMAT, True), _pool_forward, "nn.MaxPool3d(2)(c5)", "nn.MaxPool3d(2, 1)(cl5)", "nn.MaxPool3d(2)(t5)"),
    _row("AvgPool1d", _pool_construct(1, VIA_2D, False), _pool_forward, "nn.AvgPool1d(2)(c3)", "nn.AvgPool1d(2)(t3)", "nn.AvgPool1d(3, 2, 1, True)(s3)", "nn.AvgPool1d(2)(e3)"),
    _row("AvgPool2d", _pool_construct(2, FORMAT, False), _pool_forward, "nn.AvgPool2d(2)(c4)", "nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True)(cl4)", "nn.AvgPool2d(2)(t4)"),
    _row("AvgPool3d", _pool_construct(3, DENSE, False), _pool_forward, "nn.AvgPool3d(2)(c5)", "nn.AvgPool3d(2)(cl5)", "nn.AvgPool3d(2, 1, 1)(t5)"),
    _row("AdaptiveAvgPool1d", _adaptive_construct(1, VIA_2D, False), _adaptive_forward, "nn.AdaptiveAvgPool1d(3)(c3)", "nn.AdaptiveAvgPool1d(3)(t3)", "nn.AdaptiveAvgPool1d(1)(s3)"),
    _row("AdaptiveMaxPool1d", _adaptive_construct(1, VIA_2D, True), _adaptive_forward, "nn.AdaptiveMaxPool1d(3)(c3)", "nn.AdaptiveMaxPool1d(3)(t3)", "nn.AdaptiveMaxPool1d(4, True)(t3)"),
    _row("AdaptiveAvgPool2d", _adaptive_construct(2, FORMAT, False), _adaptive_forward, "nn.AdaptiveAvgPool2d(3)(c4)", "nn.AdaptiveAvgPool2d((3, 2))(cl4)", "nn.AdaptiveAvgPool2d((None, 2))(t4)", "nn.AdaptiveAvgPool2d(1)(cl4)"),
    _row("AdaptiveMaxPool2d", _adaptive_construct(2, FORMAT, True), _adaptive_forward, "nn.AdaptiveMaxPool2d(3)(c4)", "nn.AdaptiveMaxPool2d(3, return_indices=True)(cl4)", "nn.AdaptiveMaxPool2d((2, None))(p4)"),
    _row("AdaptiveAvgPool3d", _adaptive_construct(3, DENSE, False), _adaptive_forward, "nn.AdaptiveAvgPool3d(2)(cl5)", "nn.AdaptiveAvgPool3d((1, 2, 3))(t5)"),
    _row("AdaptiveMaxPool3d", _adaptive_construct(3, DENSE, True), _adaptive_forward, "nn.AdaptiveMaxPool3d(2)(cl5)", "nn.AdaptiveMaxPool3d(2, True)(c5)"),
    _row("BatchNorm1d", _norm_construct(1, DENSE), _norm_forward, "nn.BatchNorm1d(5)(t3)", "nn.BatchNorm1d(5)(s3)", "nn.BatchNorm1d(5)(c3)"),
    _row("BatchNorm2d", _norm_construct(2, FORMAT), _norm_forward, "nn.BatchNorm2d(5)(c4)", "nn.BatchNorm2d(5)(cl4)", "nn.BatchNorm2d(5)(t4)"),
    _row("BatchNorm3d", _norm_construct(3, FORMAT), _norm_forward, "nn.BatchNorm3d(5)(c5)", "nn.BatchNorm3d(5)(cl5)", "nn.BatchNorm3d(5)(t5)"),
    _row("GroupNorm", _norm_construct(None, FORMAT), _norm_forward, "nn.GroupNorm(1, 5)(t3)", "nn.GroupNorm(5, 5)(cl4)", "nn.GroupNorm(5, 5)(t4)", "nn.GroupNorm(1, 5)(cl5)"),
    _row("InstanceNorm1d", _norm_construct(1, DENSE), _norm_forward, "nn.InstanceNorm1d(5)(t3)", "nn.InstanceNorm1d(5, affine=True)(s3)"),
    _row("InstanceNorm2d", _norm_construct(2, DENSE), _norm_forward, "nn.InstanceNorm2d(5)(cl4)", "nn.InstanceNorm2d(5)(t4)"),
    _row("InstanceNorm3d", _norm_construct(3, DENSE), _norm_forward, "nn.InstanceNorm3d(5)(cl5)"),
    _row("LayerNorm RMSNorm", _plain, _fresh_effect, "nn.LayerNorm(7)(t3)", "nn.LayerNorm((5, 7))(t3)", "nn.RMSNorm(7)(s3)", "nn.LayerNorm(7)(e3)"),
    _row("Softmax LogSoftmax Softmin Softmax2d LogSigmoid", _plain, _fresh_effect, "nn.Softmax(-1)(t3)", "nn.Softmax(dim=1)(s3)", "nn.LogSoftmax(1)(t3)", "nn.Softmin(0)(e3)", "nn.Softmax2d()(cl4)", "nn.LogSigmoid()(t3)"),
    *_activation_rows(),
    _row("Dropout Dropout1d Dropout2d Dropout3d AlphaDropout FeatureAlphaDropout", _inplace_at(1), _dropout, "nn.Dropout(0.1)(t3)", "nn.Dropout(p=0.0)(t3)", "nn.Dropout(0.1, True)(s3)", "?nn.Dropout(0.1)(s3)", "nn.Dropout1d(0.2)(t3)", "nn.Dropout2d(0.2)(cl4)", "nn.Dropout3d()(t5)", "nn.AlphaDropout(0.2)(t3)", "nn.FeatureAlphaDropout(0.2)(cl4)"),
    _row("Embedding", _features(1, "embedding_dim"), _embedding, "nn.Embedding(10, 4)(i2)", "nn.Embedding(10, 4, padding_idx=0)(i2.t())", "nn.Embedding(num_embeddings=10, embedding_dim=3)(i2[0])"),
    _row("EmbeddingBag", _features(1, "embedding_dim"), _embedding_bag, "nn.EmbeddingBag(10, 4)(i2)", "nn.EmbeddingBag(10, 4)(i2.t())"),
    _row(
        "LSTM", _recurrent_construct("LSTM"), _recurrent_forward,
        "nn.LSTM(7, 6)(c3)", "nn.LSTM(7, 6, batch_first=True)(c3)", "nn.LSTM(7, 6, 2, True, True, 0.0, True)(t3)", "nn.LSTM(7, 6, batch_first=True, proj_size=4)(s3)",
        "nn.LSTM(7, 6, batch_first=True)(u2)", "nn.LSTM(7, 6, bidirectional=True, num_layers=3)(u2)",
        "nn.LSTM(7, 6, batch_first=True)(c3, (torch.zeros(1, 2, 6), torch.zeros(1, 2, 6)))",
        produces=True,
    ),
    _row(
        "GRU", _recurrent_construct("GRU"), _recurrent_forward,
        "nn.GRU(7, 6)(t3)", "nn.GRU(7, 6, batch_first=True)(c3)", "nn.GRU(7, 6, 2, True, True, 0.0, True)(c3)", "nn.GRU(7, 6, batch_first=True)(u2)",
        produces=True,
    ),
    _row(
        "RNN", _recurrent_construct("RNN"), _recurrent_forward,
        "nn.RNN(7, 6)(c3)", "nn.RNN(7, 6, 1, 'relu', True, True)(c3)", "nn.RNN(7, 6, batch_first=True, bidirectional=True)(t3)", "nn.RNN(7, 6, nonlinearity='relu')(u2)",
        produces=True,
    ),
    _row(
        "MultiheadAttention", _attention_construct, _attention_forward,
        "nn.MultiheadAttention(8, 2)(q3, q3, q3)", "nn.MultiheadAttention(8, 2)(q3, ks3, ks3, need_weights=False)",
        "nn.MultiheadAttention(8, 2)(q3, ks3, ks3, average_attn_weights=False)",
        "nn.MultiheadAttention(8, 2, batch_first=True)(q3, k3, k3)", "?nn.MultiheadAttention(8, 2, batch_first=True)(q3, q3, q3)",
        "nn.MultiheadAttention(8, 1, batch_first=True)(q3, q3, q3)", "nn.MultiheadAttention(8, 2, 0.0, True, True, True, None, None, True)(q3, q3, q3, need_weights=False)",
        "nn.MultiheadAttention(8, 2, batch_first=True)(q2, k2, k2)", "nn.MultiheadAttention(8, 2, kdim=6, vdim=6, batch_first=True)(q3, k3[..., :6], k3[..., :6])",
        produces=True,
    ),
    _row(
        "Upsample", _resample_construct(None), _resample_forward,
        "nn.Upsample(scale_factor=2, mode='bilinear', align_corners=True)(cl4)", "nn.Upsample((6, 7))(t4)", "nn.Upsample(None, 2, 'nearest')(c4)",
        "nn.Upsample(scale_factor=2, mode='linear')(t3)", "nn.Upsample(size=4, mode='trilinear')(cl5)",
    ),
    _row("UpsamplingNearest2d", _resample_construct("nearest"), _resample_forward, "nn.UpsamplingNearest2d(scale_factor=2)(cl4)", "nn.UpsamplingNearest2d((5, 5))(c4)"),
    _row("UpsamplingBilinear2d", _resample_construct("bilinear"), _resample_forward, "nn.UpsamplingBilinear2d(scale_factor=2)(t4)", "nn.UpsamplingBilinear2d(size=(3, 8))(cl4)"),
    _row("Identity", _plain, _alias, "nn.Identity()(t3)", "nn.Identity(54, unused='x')(e3)"),
    _row("Flatten", _flatten_construct, _flatten_forward, "nn.Flatten()(t4)", "nn.Flatten(0, 1)(t3)", "nn.Flatten(start_dim=2)(cl4)", "nn.Flatten()(s3)", "nn.Flatten()(c4)"),
    _row("Unflatten", _unflatten_construct, _unflatten_forward, "nn.Unflatten(2, (7, 1))(t3)", "nn.Unflatten(1, (5, 1))(c3)", "nn.Unflatten(-2, (-1, 2))(t4)", "nn.Unflatten(dim=1, unflattened_size=(1, 5))(e3)"),
    _row(
        "Sequential", _sequential_construct, _sequential_forward,
        "nn.Sequential(nn.Conv2d(5, 4, 3), nn.ReLU(), nn.Flatten())(cl4)", "nn.Sequential(nn.Linear(7, 6), nn.GELU(), nn.Dropout(0.1))(t3)",
        "nn.Sequential(nn.Identity(), nn.Flatten(0, 1))(t3)",
    ),
]

ROWS: dict[str, ModuleRow] = {name: row for row in ROW_LIST for name in row.names}

MODULE_RETURNS_SELF = frozenset({"to", "train", "eval", "float", "double", "half", "bfloat16", "cuda", "cpu", "requires_grad_", "type"})
"""``nn.Module`` methods that return the module itself."""


def construct(name: str, args: ops.Args) -> ModuleV | None:
    """``nn.<name>(*args)``: the module value the walker binds; None for a class with no row."""
    row = ROWS.get(name)
    if row is None:
        return None
    return ModuleV(effect=name, config=row.construct(args))


def batched_rank(module: ModuleV) -> int | None:
    """The rank of a batched input of a spatial module (``Conv2d``: 4), the rank the prior takes
    when it is fed to one (an unbatched ``(C, H, W)`` input is the exception in model code)."""
    cfg = module.config
    k = getattr(cfg, "k", None) if isinstance(cfg, (Conv, Pool, Adaptive, Norm)) else None
    return None if k is None else k + 2


def weight(module: ModuleV, origin: Origin) -> Tensor | None:
    """``conv.weight``: ``(out_channels, in_channels // groups, *kernel_size)`` (in and out swapped
    for a transposed conv), allocated contiguous; ``nn.Module.to(memory_format=...)`` converts the
    parameters of the rank the format is for and leaves the others as they are."""
    cfg = module.config
    if not isinstance(cfg, Conv) or cfg.kernel is None or None in cfg.kernel or cfg.groups is None:
        return None
    first, grouped = (cfg.in_channels, cfg.channels) if cfg.transposed else (cfg.channels, cfg.in_channels)
    per_group = grouped.divide(Dim.lit(cfg.groups)) if grouped is not None else None
    if first is None or per_group is None:
        return None
    shape = (first, per_group, *(Dim.lit(k) for k in cfg.kernel))  # type: ignore[arg-type]
    rank = {"channels_last": 4, "channels_last_3d": 5}.get(module.weights or "")
    if module.weights is None or rank is not None and len(shape) not in (4, 5):
        return Tensor.dense(shape)
    return Tensor.strided(shape, channels_last_strides(shape), None, origin) if rank == len(shape) else None


def forward(module: ModuleV, t: Tensor, args: ops.Args) -> Value:
    """``module(t, *args)``; a prior of unknown rank takes the batched rank of a spatial module."""
    row = ROWS.get(module.effect)
    if row is None:
        return UNKNOWN
    if module.config is None and row.forward is not _sequential_forward:
        return UNKNOWN
    rank = batched_rank(module)
    if t.prior and t.shape is None and rank is not None:
        t = t.with_shape(tuple(args.fresh(f"input.size({i})") for i in range(rank)))
    cfg = module.config
    if module.weights and isinstance(cfg, Conv) and t.shape is not None and len(t.shape) == cfg.k + 2:
        # the kernel picks channels-last when the input or the weight is (mkldnn_conv_use_channels_last)
        made = ops.formatted(t, args, "channels_last" if cfg.k == 2 else "channels_last_3d")
        t = made if isinstance(made, Tensor) and module.weights == ("channels_last" if cfg.k == 2 else "channels_last_3d") else t
    return row.forward(cfg, t, args)

