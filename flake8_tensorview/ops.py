"""What torch ops do to shape and memory layout: one table, one effect function per kind of op.

Every row names example calls; ``tests/test_ops.py`` runs each of them with torch on non-contiguous
inputs and checks that the effect gives torch's own shape and strides. To teach the linter a new op,
add a row (and an example); add an effect function only for a new kind of layout change.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from enum import Enum

from .dims import ONE, ZERO, Dim, contiguous_strides, product
from .layout import (
    Origin, Shape, Tensor, channels_last_strides, dense_in_order, iterator_strides, memory_format_of, resolve_target,
    same_layout, view_strides,
)
from .values import UNKNOWN, DimV, IntV, ListV, Opaque, PiecesV, ShapeV, TupleV, Value, literal


class Form(Enum):
    METHOD = "x.op(...)"
    TORCH = "torch.op(x, ...)"
    FUNCTIONAL = "F.op(x, ...)"
    PROPERTY = "x.op"
    MODULE = "nn.Op(...)(x)"


@dataclass
class Args:
    """The arguments of one call after the tensor operand, as the walker evaluated them."""

    pos: list[Value]
    kw: dict[str, Value]
    texts: Sequence[str]
    """Source text of each positional argument, computed when read (labels, size names)."""
    origin: Origin
    to_dim: Callable[[Value, str], Dim | None]
    recv: Callable[[], str] = lambda: ""
    """Source text of the tensor operand, for naming sizes the analysis has to invent."""
    equation: str = ""
    """The literal first argument of ``einsum``."""
    tag: Callable[[], str] = lambda: "?"
    """A name for this call, the same in every run over the same code (``forward#3``): fresh sizes
    are named with it, so that a loop coming round to the call gets the same sizes."""

    def fresh(self, what: str) -> Dim:
        """A size the analysis cannot compute, named after what it is and this call."""
        return Dim.sym(f"{what}@{self.tag()}")

    def get(self, index: int, name: str) -> Value | None:
        if name in self.kw:
            return self.kw[name]
        return self.pos[index] if index < len(self.pos) else None

    def int(self, index: int, name: str, default: int | None = None) -> int | None:
        v = self.get(index, name)
        if v is None:
            return default
        return as_int(v)

    def many(self, start: int, name: str = "") -> tuple[list[Value], list[str]] | None:
        """Varargs or a single tuple/list argument: ``permute(0, 2, 1)`` / ``permute((0, 2, 1))``."""
        if name and name in self.kw:
            v = self.kw[name]
            return (list(v.items), [""] * len(v.items)) if isinstance(v, TupleV) else None
        rest, texts = self.pos[start:], list(self.texts[start:])
        if len(rest) == 1 and isinstance(rest[0], TupleV):
            items = list(rest[0].items)
            return items, _split_tuple_text(texts[0], len(items))
        if any(isinstance(v, TupleV) for v in rest):
            return None
        return rest, texts

    def ints(self, start: int, name: str = "") -> list[int] | None:
        got = self.many(start, name)
        if got is None:
            return None
        out = [as_int(v) for v in got[0]]
        return None if any(i is None for i in out) else out  # type: ignore[misc]

    def sizes(self, start: int, name: str = "") -> tuple[list[Dim | None], list[str]] | None:
        """Size arguments; None entries stand for ``-1``."""
        got = self.many(start, name)
        if got is None:
            return None
        values, texts = got
        out: list[Dim | None] = []
        for v, text in zip(values, texts):
            if isinstance(v, IntV) and v.value == -1:
                out.append(None)
                continue
            d = self.to_dim(v, text)
            if d is None:
                return None
            out.append(d)
        return out, [_label(v, t) for v, t in zip(values, texts)]


def _label(v: Value, text: str) -> str:
    return text or (v.label if isinstance(v, DimV) and v.label else "") or "?"


def _split_tuple_text(text: str, n: int) -> list[str]:
    inner = text.strip()
    if inner[:1] in "([" and inner[-1:] in ")]":
        inner = inner[1:-1]
    parts = [p.strip() for p in inner.split(",") if p.strip()]
    return parts if len(parts) == n else [""] * n


def as_int(v: Value) -> int | None:
    if isinstance(v, IntV):
        return v.value
    if isinstance(v, DimV):
        return v.dim.literal
    return None


def _norm(d: int | None, rank: int) -> int | None:
    if d is None or not -rank <= d < rank:
        return None
    return d % rank


# ---- effects: (tensor, args) -> value -------------------------------------------------------


def _permuted(t: Tensor, perm: list[int], a: Args) -> Value:
    assert t.shape is not None and t.labels is not None
    shape = tuple(t.shape[p] for p in perm)
    strides = None if t.strides is None else tuple(t.strides[p] for p in perm)
    labels = tuple(t.labels[p] for p in perm)
    return Tensor.strided(shape, strides, labels, a.origin if strides is not None else t.origin)


def swap(t: Tensor, a: Args) -> Value:
    if t.rank is None:
        return UNKNOWN
    d0 = _norm(a.int(0, "dim0"), t.rank)
    d1 = _norm(a.int(1, "dim1"), t.rank)
    if d0 is None or d1 is None:
        return UNKNOWN
    perm = list(range(t.rank))
    perm[d0], perm[d1] = perm[d1], perm[d0]
    return _permuted(t, perm, a)


def swap_last(t: Tensor, a: Args) -> Value:
    if t.rank is None or t.rank < 2:
        return UNKNOWN
    perm = list(range(t.rank))
    perm[-1], perm[-2] = perm[-2], perm[-1]
    return _permuted(t, perm, a)


def reverse(t: Tensor, a: Args) -> Value:
    if t.rank is None:
        return UNKNOWN
    return _permuted(t, list(range(t.rank))[::-1], a)


def matrix_t(t: Tensor, a: Args) -> Value:
    """``.t()`` only accepts rank <= 2; an unknown-rank tensor is taken to be a matrix."""
    if a.pos or a.kw:
        return UNKNOWN  # not Tensor.t(): some other object's t(...)
    if t.rank is None and t.contiguous:
        name = a.recv() or "t()"
        t = t.with_shape((Dim.sym(f"{name}.shape[0]"), Dim.sym(f"{name}.shape[1]")))
    if t.rank is None or t.rank > 2:
        return UNKNOWN
    return _permuted(t, list(range(t.rank))[::-1], a)


def permute(t: Tensor, a: Args) -> Value:
    dims = a.ints(0, "dims")
    if t.rank is None and t.contiguous and dims is not None:
        t = _ranked(t, len(dims), a)  # permute names every dim: its rank is the tensor's
    if t.rank is None or dims is None or len(dims) != t.rank:
        return UNKNOWN
    perm = [_norm(d, t.rank) for d in dims]
    if None in perm or len(set(perm)) != t.rank:
        return UNKNOWN
    return _permuted(t, perm, a)  # type: ignore[arg-type]


def _ranked(t: Tensor, rank: int, a: Args) -> Tensor:
    """``t`` with ``rank`` dims of fresh sizes named after it (``x.shape[1]``), as ``x.size(1)``
    names them, when its rank was unknown."""
    name = a.recv() or "x"
    return t.with_shape(tuple(Dim.sym(f"{name}.shape[{i}]") for i in range(rank)))


def movedim(t: Tensor, a: Args) -> Value:
    if t.rank is None:
        return UNKNOWN
    rank = t.rank

    def dims(index: int, name: str) -> list[int] | None:
        v = a.get(index, name)
        items = list(v.items) if isinstance(v, TupleV) else [v]
        out = [_norm(as_int(i), rank) if i is not None else None for i in items]
        return None if None in out else out  # type: ignore[return-value]

    src, dst = dims(0, "source"), dims(1, "destination")
    if src is None or dst is None or len(src) != len(dst):
        return UNKNOWN
    perm: list[int | None] = [None] * rank
    for s, d in zip(src, dst):
        perm[d] = s
    rest = iter(d for d in range(rank) if d not in src)
    perm = [p if p is not None else next(rest) for p in perm]
    return _permuted(t, perm, a)  # type: ignore[arg-type]


def expand(t: Tensor, a: Args) -> Value:
    got = a.sizes(0, "size")
    if t.shape is None or got is None or len(got[0]) < t.rank:  # type: ignore[operator]
        return UNKNOWN
    sizes, labels = got
    lead = len(sizes) - len(t.shape)
    return _expanded(t, sizes, labels, lead, a)


def _expanded(t: Tensor, sizes: list[Dim | None], labels: list[str], lead: int, a: Args) -> Value:
    assert t.shape is not None and t.labels is not None
    shape: list[Dim] = []
    strides: list[Dim] | None = None if t.strides is None else []
    out_labels: list[str | None] = []
    for i, size in enumerate(sizes):
        if i < lead:
            if size is None:
                return UNKNOWN
            shape.append(size)
            out_labels.append(labels[i])
            if strides is not None:
                strides.append(ZERO)
            continue
        old = t.shape[i - lead]
        broadcast = size is not None and old.is_one and not size.is_one
        # a size that is not broadcast must equal the one asked for if the call runs at all: a
        # literal says more than a symbol, and the target's name says more than an inferred size
        same = size if size is not None and old.literal is None and not old.is_one else old
        shape.append(size if broadcast else same)  # type: ignore[arg-type]
        out_labels.append(labels[i] if broadcast else t.labels[i - lead])
        if strides is not None and t.strides is not None:
            strides.append(ZERO if broadcast else t.strides[i - lead])
    return Tensor.strided(
        tuple(shape), None if strides is None else tuple(strides), tuple(out_labels), a.origin
    )


def expand_as(t: Tensor, a: Args) -> Value:
    other = a.get(0, "other")
    if not isinstance(other, Tensor) or other.shape is None or t.shape is None:
        return UNKNOWN
    lead = len(other.shape) - len(t.shape)
    if lead < 0:
        return UNKNOWN
    labels = [other.label(i) for i in range(len(other.shape))]
    return _expanded(t, list(other.shape), labels, lead, a)


def narrow(t: Tensor, a: Args) -> Value:
    if t.shape is None:
        return UNKNOWN
    d = _norm(a.int(0, "dim"), len(t.shape))
    length = a.get(2, "length")
    size = a.to_dim(length, a.texts[2] if len(a.texts) > 2 else "length") if length else None
    if d is None or size is None:
        return UNKNOWN
    return _resized(t, d, size, a.texts[2] if len(a.texts) > 2 else None, a)


def _resized(t: Tensor, d: int, size: Dim, label: str | None, a: Args, step: int = 1) -> Tensor:
    assert t.shape is not None and t.labels is not None
    shape = t.shape[:d] + (size,) + t.shape[d + 1 :]
    labels = t.labels[:d] + (label,) + t.labels[d + 1 :]
    strides = t.strides
    if strides is not None and step != 1:
        strides = strides[:d] + (strides[d] * Dim.lit(step),) + strides[d + 1 :]
    return Tensor.strided(shape, strides, labels, a.origin if t.origin is None else t.origin)


def _pieces_dim(t: Tensor, a: Args, index: int) -> int | None:
    if t.shape is None:
        return None
    return _norm(a.int(index, "dim", 0), len(t.shape))


def chunk(t: Tensor, a: Args) -> Value:
    d = _pieces_dim(t, a, 1)
    n = a.int(0, "chunks")
    if d is None or n is None or n <= 0:
        return UNKNOWN
    assert t.shape is not None
    size = t.shape[d].divide(Dim.lit(n)) or Dim.sym(f"{t.label(d)}/{n}")
    return PiecesV(_resized(t, d, size, None, a), n)


def split(t: Tensor, a: Args) -> Value:
    d = _pieces_dim(t, a, 1)
    sections = a.get(0, "split_size_or_sections")
    if d is None or sections is None:
        return UNKNOWN
    assert t.shape is not None
    if isinstance(sections, TupleV):
        sizes = [a.to_dim(s, "") for s in sections.items]
        if None in sizes:
            return UNKNOWN
        return TupleV(tuple(_resized(t, d, s, None, a) for s in sizes))  # type: ignore[arg-type]
    size = a.to_dim(sections, a.texts[0] if a.texts else "")
    if size is None:
        return UNKNOWN
    count = t.shape[d].divide(size)
    return PiecesV(
        _resized(t, d, size, a.texts[0] if a.texts else None, a),
        count.literal if count is not None else None,
    )


def unbind(t: Tensor, a: Args) -> Value:
    d = _pieces_dim(t, a, 0)
    if d is None:
        return UNKNOWN
    assert t.shape is not None
    return PiecesV(_selected(t, d), t.shape[d].literal)


def select_first(t: Tensor) -> Tensor:
    """``t[i]`` for an int ``i``: the first dim dropped (what unpacking a tensor gives)."""
    assert t.shape is not None
    return _selected(t if t.labels is not None else replace(t, labels=(None,) * len(t.shape)), 0)


def _selected(t: Tensor, d: int) -> Tensor:
    assert t.shape is not None and t.labels is not None
    strides = None if t.strides is None else t.strides[:d] + t.strides[d + 1 :]
    return Tensor.strided(t.shape[:d] + t.shape[d + 1 :], strides, t.labels[:d] + t.labels[d + 1 :], t.origin)


def unfold(t: Tensor, a: Args) -> Value:
    if t.shape is None:
        return UNKNOWN
    d = _norm(a.int(0, "dimension"), len(t.shape))
    size, step = a.int(1, "size"), a.int(2, "step")
    if d is None or size is None or step is None or step <= 0:
        return UNKNOWN
    old = t.shape[d]
    count = (
        Dim.lit((old.literal - size) // step + 1)
        if old.literal is not None
        else Dim.sym(f"({t.label(d)}-{size})//{step}+1")
    )
    out = _resized(t, d, count, None, a, step)
    strides = None if t.strides is None or out.strides is None else out.strides + (t.strides[d],)
    assert out.shape is not None and out.labels is not None
    return Tensor.strided(out.shape + (Dim.lit(size),), strides, out.labels + (None,), a.origin)


def stft(t: Tensor, a: Args) -> Value:
    """``torch.stft``: ATen cuts the signal into frames, takes each frame's FFT into a contiguous
    (batch, frames, freqs) spectrum and returns it transposed, freqs before frames
    (``SpectralOps.cpp``: ``out.transpose_(1, 2)``), the batch dim gone for a 1-D signal;
    ``return_complex=False`` views real and imaginary parts as a last dim of 2. Without
    ``return_complex`` a real signal raises, so the result stays unknown."""
    if t.shape is None or len(t.shape) not in (1, 2):
        return UNKNOWN
    complex_out = flag(a.get(8, "return_complex"))
    if complex_out is None:
        return UNKNOWN
    n_fft, hop = a.int(0, "n_fft"), a.int(1, "hop_length")
    onesided = flag(a.get(7, "onesided"))
    center = True if a.get(4, "center") is None else flag(a.get(4, "center"))
    if n_fft is not None and a.get(1, "hop_length") is None:
        hop = n_fft // 4
    freqs = (
        Dim.lit(n_fft if onesided is False else n_fft // 2 + 1)
        if n_fft is not None and onesided is not None
        else a.fresh("freqs")  # by default one-sided for a real signal and window, not for complex ones
    )
    length = t.shape[-1].literal
    if length is not None and n_fft is not None and hop and center is not None:
        padded = length + 2 * (n_fft // 2) if center else length  # ``center`` pads n_fft // 2 each side
        frames = Dim.lit(1 + (padded - n_fft) // hop)
    else:
        frames = a.fresh("frames")
    batch, labels = t.shape[:-1], t.labels[:-1] if t.labels else (None,) * (len(t.shape) - 1)
    spectrum = batch + (frames, freqs) + (() if complex_out else (Dim.lit(2),))
    strides = contiguous_strides(spectrum)
    order = [*range(len(batch)), len(batch) + 1, len(batch), *([] if complex_out else [len(batch) + 2])]
    return Tensor.strided(
        tuple(spectrum[d] for d in order), tuple(strides[d] for d in order),
        tuple(labels) + ("freqs", "frames") + (() if complex_out else ("2",)), a.origin,
    )


def flag(value: Value | None) -> bool | None:
    """``True``/``False`` as the walker passes them (``Opaque("True")``, ``IntV(1)``); else None."""
    if isinstance(value, Opaque) and value.key in ("True", "False"):
        return value.key == "True"
    if isinstance(value, IntV) and value.value in (0, 1):
        return bool(value.value)
    return None


def number(value: Value) -> bool:
    """A Python number for certain (``2``, ``0.5``, ``x.size(1)``, ``2 * math.pi``), not an unknown
    that may be a tensor (``1 + f(x)`` of an unknown ``f``, a parameter: :attr:`DimV.guess`)."""
    if isinstance(value, DimV):
        return not value.guess
    return isinstance(value, IntV) or isinstance(value, Opaque) and isinstance(literal(value.key), (int, float))


def as_strided(t: Tensor, a: Args) -> Value:
    size, stride = a.get(0, "size"), a.get(1, "stride")
    if not isinstance(size, TupleV) or not isinstance(stride, TupleV) or len(size.items) != len(stride.items):
        return UNKNOWN
    sizes = [a.to_dim(v, "") for v in size.items]
    strides = [a.to_dim(v, "") for v in stride.items]
    if None in sizes or None in strides:
        return UNKNOWN
    return Tensor.strided(tuple(sizes), tuple(strides), None, a.origin)  # type: ignore[arg-type]


def elementwise(t: Tensor, a: Args) -> Value:
    """A new tensor laid out by TensorIterator from all operands' strides, the first one leading."""
    operands = [t] + [v for v in a.pos + list(a.kw.values()) if isinstance(v, Tensor)]
    others = [v for v in a.pos + list(a.kw.values()) if not isinstance(v, Tensor)]
    shape = broadcast_shapes(operands)
    if shape is None and all(o.shape is not None for o in operands):
        operands = _same_sizes(operands)
        shape = broadcast_shapes(operands)
    if shape is None:
        if all(o.shape is not None for o in operands):
            # sizes that cannot be matched up (``seq_len`` against ``offset + seq_len``): the rank
            # is still the largest operand's, which is what a mask's broadcast asks
            return Tensor(_broadcast_rank(operands, a), None, False)
        return UNKNOWN if t.shape is None or not t.contiguous else Tensor(contiguous=True)
    labels = t.labels if t.shape == shape else None
    if all(o.settled for o in operands) and all(map(number, others)):
        # contiguous on every dim, size-1 dims included: TensorIterator's fast setup allocates the
        # output contiguous, and its sort leaves every dim in place
        return Tensor.allocated(shape, labels)
    strides = [_broadcast_strides(o, shape) for o in operands]
    if any(s is None for s in strides):
        return Tensor.strided(shape, None, labels, t.origin)
    return Tensor.strided(shape, iterator_strides(shape, strides), labels, t.origin)  # type: ignore[arg-type]


def _broadcast_rank(operands: list[Tensor], a: Args) -> Shape:
    """The broadcast shape of operands whose sizes do not all compare: each size all the operands
    that have one agree on (1s aside), else a size of its own."""
    rank = max(len(o.shape) for o in operands)  # type: ignore[arg-type]
    out: list[Dim] = []
    for i in range(rank):
        sizes = {o.shape[len(o.shape) - rank + i] for o in operands if len(o.shape) - rank + i >= 0}  # type: ignore[arg-type]
        sizes.discard(ONE)
        out.append(sizes.pop() if len(sizes) == 1 else ONE if not sizes else a.fresh(f"broadcast.size({i})"))
    return tuple(out)


def _same_sizes(operands: list[Tensor]) -> list[Tensor]:
    """The operands with each size that only a name of its own tells apart from the first
    operand's (``y.shape[1]`` against ``x.shape[1]``, two parameters permuted the same way) renamed
    to that one: sizes >= 2 broadcast only when equal, so where the op runs they are. Unchanged when
    sizes differ otherwise."""
    first = operands[0]
    assert first.shape is not None
    out = [first]
    for other in operands[1:]:
        assert other.shape is not None
        subst: dict[str, Dim] = {}
        for mine, theirs in zip(reversed(first.shape), reversed(other.shape)):
            if mine == theirs or mine.is_one or theirs.is_one:
                continue
            atom = theirs.coef == 1 and len(theirs.powers) == 1 and theirs.powers[0][1] == 1
            if not atom or subst.get(theirs.powers[0][0], mine) != mine:
                return operands
            subst[theirs.powers[0][0]] = mine
        shape = tuple(d.substitute(subst) for d in other.shape)
        strides = None if other.strides is None else tuple(d.substitute(subst) for d in other.strides)
        out.append(replace(other, shape=shape, strides=strides))
    return out


def _broadcast_strides(t: Tensor, shape: Shape) -> Shape | None:
    if t.shape is None or t.strides is None:
        return None
    lead = len(shape) - len(t.shape)
    out = [ZERO] * lead
    for size, own, stride in zip(shape[lead:], t.shape, t.strides):
        out.append(ZERO if own.is_one and not size.is_one else stride)
    return tuple(out)


def broadcast_shapes(tensors: list[Tensor]) -> Shape | None:
    if any(t.shape is None for t in tensors):
        return None
    rank = max(len(t.shape) for t in tensors)  # type: ignore[arg-type]
    out: list[Dim] = []
    for i in range(rank):
        sizes = {t.shape[i - rank + len(t.shape)] for t in tensors if i - rank + len(t.shape) >= 0}  # type: ignore[index,arg-type]
        sizes.discard(ONE)
        if len(sizes) > 1:
            return None
        out.append(sizes.pop() if sizes else ONE)
    return tuple(out)


def in_place(t: Tensor, a: Args) -> Value:
    return t


def fresh(t: Tensor, a: Args) -> Value:
    """A new contiguous tensor of the same shape (softmax, layer_norm, contiguous, tril, ...)."""
    return Tensor.dense(t.shape, t.labels)



def contiguous(t: Tensor, a: Args) -> Value:
    """``x.contiguous()``: ``x`` itself when it already is contiguous, size-1 dims aside, with the
    strides of its size-1 dims as they are (a permute back puts one where ``suggest_memory_format``
    reads it); else a new contiguous tensor. Either way a fact, not a prior."""
    if t.shape is None or not t.contiguous or t.strides is None:
        return Tensor.dense(t.shape, t.labels)
    return Tensor(t.shape, t.strides, True, t.labels, canonical=t.canonical)


def one_hot(t: Tensor, a: Args) -> Value:
    """``F.one_hot(labels, num_classes)``: a new contiguous tensor of the labels' shape and one more
    dim, the classes (as many as the largest label + 1 when ``num_classes`` is -1, the default)."""
    if t.shape is None:
        return Tensor(contiguous=True)
    given = a.get(0, "num_classes")
    text = a.texts[0] if "num_classes" not in a.kw and a.texts else ""
    classes = None if given is None or as_int(given) == -1 else a.to_dim(given, text)
    size = classes if classes is not None else a.fresh("num_classes")
    return Tensor.dense(t.shape + (size,), (t.labels or (None,) * len(t.shape)) + (None,))


def like(t: Tensor, a: Args) -> Value:
    """``clone``, unary math and ``*_like`` allocate with ``memory_format=torch.preserve_format``."""
    if t.shape is None or t.strides is None:
        return Tensor.dense(t.shape, t.labels) if t.contiguous else UNKNOWN
    if t.settled:
        return Tensor.allocated(t.shape, t.labels)
    return Tensor.strided(t.shape, iterator_strides(t.shape, [t.strides]), t.labels, t.origin)


FORMATTING = frozenset({"to", "contiguous", "clone"})
"""Methods that take ``memory_format=``: with it, the result is in that format whatever the row
says (``x.to(memory_format=torch.channels_last)``, ``x.contiguous(memory_format=...)``); a layout
producer of its own (``preselect`` looks for the keyword)."""
MEMORY_FORMATS = ("channels_last", "channels_last_3d", "contiguous_format", "preserve_format")


def memory_format(a: Args) -> str | None:
    """The ``memory_format=torch.channels_last`` a call asks for, by its name in ``torch``
    (``channels_last``, ...); ``?`` when it cannot be read; None without the keyword."""
    value = a.kw.get("memory_format")
    if value is None:
        return None
    key = getattr(value, "key", "")
    name = key.rpartition(".")[2]
    return name if key.startswith("torch.") and name in MEMORY_FORMATS else "?"


def formatted(t: Tensor, a: Args, fmt: str, aliased: bool = False, kept: bool = False) -> Value:
    """``t`` converted to ``fmt``: channels-last strides for a 4-D (``channels_last``) or 5-D
    (``channels_last_3d``) tensor (torch raises on other ranks), contiguous for
    ``contiguous_format``; ``preserve_format`` is the method's own rule (None here).

    ``aliased``: ``.to()``, which returns ``t`` itself when ``t.suggest_memory_format()`` already is
    ``fmt`` (ATen ``to_will_alias``): a transposed tensor stays transposed under
    ``to(memory_format=torch.contiguous_format)``. ``kept``: ``.contiguous()``, which returns ``t``
    itself when it already is contiguous in that format, size-1 dims aside (a one-channel tensor is
    channels-last as it is)."""
    if fmt == "contiguous_format":
        if not aliased:
            return contiguous(t, a) if kept else Tensor.dense(t.shape, t.labels)
        if t.shape is None:
            return t if t.contiguous else UNKNOWN
        suggested = memory_format_of(t)
        return t if suggested == "contiguous" else Tensor.dense(t.shape, t.labels) if suggested else Tensor(t.shape, None, False, t.labels)
    if fmt not in ("channels_last", "channels_last_3d"):
        return UNKNOWN
    rank = 4 if fmt == "channels_last" else 5
    if t.shape is None and t.prior:
        t = _ranked(t, rank, a)  # torch raises on any other rank
    if t.shape is None or len(t.shape) != rank:
        return UNKNOWN
    if aliased and t.strides is not None and memory_format_of(t) == "channels_last":
        return t
    strides = channels_last_strides(t.shape)
    if kept and t.strides is not None and same_layout(t.shape, t.strides, strides):
        return t
    return Tensor.strided(t.shape, strides, t.labels, a.origin)


def convert(t: Tensor, a: Args) -> Value:
    """``.float()``, ``.to(...)``, eval-mode dropout: ``t`` itself when nothing changes, else a
    preserve-format copy. Known only when both give the same layout."""
    if t.shape is None:
        return t if t.contiguous else UNKNOWN
    copied = like(t, a)
    if isinstance(copied, Tensor) and copied.strides is not None and t.strides is not None:
        if same_layout(t.shape, t.strides, copied.strides):
            return t
    return Tensor.strided(t.shape, None, t.labels, t.origin)


def dropout(t: Tensor, a: Args) -> Value:
    """``F.dropout(x, p=0.5, training=True, inplace=False)``: ATen returns ``x`` itself when ``p``
    is 0 or it is not training (``_dropout_impl``); in training, with ``0 < p < 1``, a new tensor
    laid out as ``x``'s preserve-format copy (CUDA's kernel writes into ``empty_like(x)``; CPU
    multiplies ``x`` by noise made with ``empty_like(x)``, which TensorIterator lays out the same).
    When ``p`` or ``training`` cannot be read, either of them (:func:`convert`)."""
    given, inplace = a.get(1, "training"), a.get(2, "inplace")
    if inplace is not None and flag(inplace) is not False:
        return t if flag(inplace) else convert(t, a)  # in place: ``x``, whatever it does
    training = True if given is None else flag(given)
    p = _probability(a)
    if training is False or p == 0:
        return t
    if training and p is not None and 0 < p < 1:
        return like(t, a)
    return convert(t, a)


def _probability(a: Args) -> float | None:
    """The literal ``p`` of a dropout call (0.5 when it is not given), or None."""
    value = a.get(0, "p")
    if value is None:
        return 0.5
    got = _scalar(value)
    return None if got is None else float(got)


def matmul(t: Tensor, a: Args) -> Value:
    other = a.get(0, "other")
    if not isinstance(other, Tensor) or t.shape is None or other.shape is None:
        return Tensor(contiguous=True)
    if len(t.shape) < 2 or len(other.shape) < 2:
        return Tensor(contiguous=True)
    batch = broadcast_shapes([Tensor(t.shape[:-2]), Tensor(other.shape[:-2])])
    if batch is None:  # batch sizes that do not compare: the output is still dense, of that rank
        batch = _broadcast_rank([Tensor(t.shape[:-2]), Tensor(other.shape[:-2])], a)
    tl = t.labels or (None,) * len(t.shape)
    ol = other.labels or (None,) * len(other.shape)
    batch_labels = tl[:-2] if t.shape[:-2] == batch else ol[:-2] if other.shape[:-2] == batch else None
    labels = (batch_labels or (None,) * len(batch)) + (tl[-2], ol[-1])
    return Tensor.dense(batch + (t.shape[-2], other.shape[-1]), labels)


def linear(t: Tensor, a: Args) -> Value:
    """``F.linear(x, w)``: a new dense ``(*x.shape[:-1], w.size(0))``; a weight of unknown shape
    (``self.embeddings.weight``) gives an out size of its own."""
    weight = a.get(0, "weight")
    if t.shape is None:
        return Tensor(contiguous=True)
    if isinstance(weight, Tensor) and weight.shape:
        out = weight.shape[0]
    else:
        named = a.texts[0] if "weight" not in a.kw and a.texts and a.texts[0] else "weight"
        out = a.fresh(f"{named}.size(0)")
    return Tensor.dense(t.shape[:-1] + (out,), (t.labels or (None,) * len(t.shape))[:-1] + (None,))


def cat(t: Tensor, a: Args) -> Value:
    """``torch.cat(tensors, dim)``: a new contiguous tensor; ``t`` is unused (the list is ``pos[0]``)."""
    parts = a.get(0, "tensors")
    count = None
    if isinstance(parts, ListV) and parts.repeated and len(parts.items) == 1:
        # one fact for parts of unknown number (``[f(x) for x in xs]``, a column of ``zip(*rows)``):
        # at least one, as ``torch.cat([])`` raises
        parts, count = TupleV(parts.items), a.fresh("len")
    if not isinstance(parts, TupleV) or not parts.items or not all(isinstance(p, Tensor) and p.shape for p in parts.items):
        # a part of unknown layout may be channels-last, and so would the result be
        known = isinstance(parts, TupleV) and all(isinstance(p, Tensor) and p.contiguous for p in parts.items)
        return Tensor(contiguous=True) if known else Tensor()
    shapes = [p.shape for p in parts.items]  # type: ignore[union-attr]
    rank = len(shapes[0])  # type: ignore[arg-type]
    d = _norm(a.int(1, "dim", 0), rank)
    if d is None or any(len(s) != rank for s in shapes):  # type: ignore[arg-type]
        return Tensor(contiguous=True)
    sizes = [s[d] for s in shapes]  # type: ignore[index]
    if count is not None:
        total = sizes[0] * count
    elif all(size.literal is not None for size in sizes):
        total = Dim.lit(sum(size.literal for size in sizes))  # type: ignore[misc]
    elif len(set(sizes)) == 1:
        total = sizes[0] * Dim.lit(len(sizes))
    else:
        total = Dim.sym("+".join(str(size) for size in sizes))
    first = shapes[0]
    shape = first[:d] + (total,) + first[d + 1 :]  # type: ignore[index]
    labels = None
    if count is not None:  # the count by what the code calls the list: ``len(obs_seq_list)*8``
        given = list(parts.items[0].labels or (None,) * rank)  # type: ignore[union-attr]
        given[d] = f"len({a.texts[0] or 'tensors'})*{given[d] or sizes[0]}"
        labels = tuple(given)
    # ATen's compute_output_memory_format: the inputs' suggested format when they all agree on one
    formats = {memory_format_of(p) for p in parts.items}  # type: ignore[arg-type]
    if formats == {"contiguous"} or rank not in (4, 5):
        return Tensor.dense(shape, labels)
    if formats == {"channels_last"}:
        return formatted(Tensor.dense(shape, labels), a, "channels_last" if rank == 4 else "channels_last_3d")
    return Tensor(shape, None, False, labels) if None in formats else Tensor.dense(shape, labels)


def topk(t: Tensor, a: Args) -> Value:
    if t.shape is None:
        return TupleV((Tensor(contiguous=True), Tensor(contiguous=True)))
    d = _norm(a.int(1, "dim", -1), len(t.shape))
    k = a.get(0, "k")
    size = a.to_dim(k, a.texts[0] if a.texts else "k") if k is not None else None
    if d is None or size is None:
        return UNKNOWN
    out = Tensor.dense(t.shape[:d] + (size,) + t.shape[d + 1 :], t.labels)
    return TupleV((out, out))


def _reduction(dim_at: int) -> Callable[[Tensor, Args], Value]:
    """``x.sum(dim, keepdim)`` and friends: a new contiguous tensor without the reduced dims (size 1
    with ``keepdim``); all dims when no ``dim`` is given. ``dim_at``: where ``dim`` sits among the
    positional arguments (``norm`` takes ``p`` first), ``keepdim`` right after it."""

    def reduce(t: Tensor, a: Args) -> Value:
        if t.shape is None:
            return Tensor(contiguous=True)
        rank = len(t.shape)
        keep = a.get(dim_at + 1, "keepdim")
        keepdim = False if keep is None else flag(keep)
        chosen = a.get(dim_at, "dim")
        if chosen is None or getattr(chosen, "key", "") == "None":
            dims: set[int | None] = set(range(rank))
        else:
            items = chosen.items if isinstance(chosen, TupleV) else (chosen,)
            dims = {_norm(as_int(v), rank) for v in items}
        if keepdim is None or None in dims:
            return Tensor(contiguous=True)
        labels = t.labels or (None,) * rank
        kept = [(ONE if d in dims else size, None if d in dims else labels[d]) for d, size in enumerate(t.shape) if keepdim or d not in dims]
        return Tensor.allocated(tuple(s for s, _ in kept), tuple(l for _, l in kept))

    return reduce


reduction = _reduction(0)
norm_reduction = _reduction(1)


def repeat(t: Tensor, a: Args) -> Value:
    """``x.repeat(*sizes)``: a new contiguous tensor, each dim times its count, new leading dims
    for counts beyond the rank (``tile`` pads the counts with leading 1s instead)."""
    got = a.sizes(0, "repeats")
    if got is None or None in got[0]:
        return Tensor(contiguous=True)
    if t.shape is None:  # the result has as many dims as counts, whatever the input's rank
        return Tensor.dense(tuple(a.fresh(f"repeat.size({i})") for i in range(len(got[0]))))
    counts: list[Dim] = list(got[0])  # type: ignore[arg-type]
    if len(counts) < len(t.shape):
        counts = [ONE] * (len(t.shape) - len(counts)) + counts
    lead = len(counts) - len(t.shape)
    labels = (None,) * lead + (t.labels or (None,) * len(t.shape))
    sizes = tuple(counts[:lead]) + tuple(size * count for size, count in zip(t.shape, counts[lead:]))
    return Tensor.dense(sizes, tuple(label if count.is_one else None for label, count in zip(labels, counts)))


def pad(t: Tensor, a: Args) -> Value:
    """``F.pad(x, (left, right, top, bottom, ...))``: the last dims grow by their pads (literal ones
    add up; others make a size of its own); a new tensor in the input's suggested memory format."""
    got = a.get(0, "pad")
    if t.shape is None or not isinstance(got, TupleV) or len(got.items) % 2 or len(got.items) // 2 > len(t.shape):
        return Tensor(contiguous=True) if t.shape is None and t.contiguous else UNKNOWN
    amounts = [as_int(v) for v in got.items]
    shape = list(t.shape)
    for i in range(len(amounts) // 2):
        d = len(shape) - 1 - i
        before, after = amounts[2 * i], amounts[2 * i + 1]
        if before is not None and after is not None:
            grown = shape[d].literal + before + after if shape[d].literal is not None else None
            shape[d] = Dim.lit(grown) if grown is not None else shape[d] if before + after == 0 else a.fresh(f"padded.size({d})")
        else:
            shape[d] = a.fresh(f"padded.size({d})")
    out = tuple(shape)
    fmt = memory_format_of(t) if len(out) in (4, 5) and t.strides is not None else "contiguous"
    if fmt == "channels_last":
        return formatted(Tensor.dense(out), a, "channels_last" if len(out) == 4 else "channels_last_3d")
    labels = tuple(l if s == o else None for l, s, o in zip(t.labels or (None,) * len(out), t.shape, out))
    return Tensor.dense(out, labels) if fmt == "contiguous" else Tensor(out)


def _scalar(value: Value | None) -> int | float | None:
    """A literal int or float argument (``2``, ``0.5``), or None."""
    if isinstance(value, IntV):
        return value.value
    got = literal(value.key) if isinstance(value, Opaque) else None
    return got if isinstance(got, (int, float)) and not isinstance(got, bool) else None


def _mode(a: Args, index: int) -> str | None:
    """A string literal argument (``mode="bilinear"``), ``nearest`` when it is left out, else None."""
    value = a.get(index, "mode")
    if value is None:
        return "nearest"
    got = literal(value.key) if isinstance(value, Opaque) else None
    return got if isinstance(got, str) else None


def interpolate(t: Tensor, a: Args) -> Value:
    """``F.interpolate(x, size=None, scale_factor=None, mode='nearest', ...)``: a new tensor, never
    ``x`` itself, of ``(N, C, *size)`` or ``floor(L * scale)``. ATen's 2-D kernels (nearest,
    bilinear, bicubic, area's adaptive pool, antialiased) and the 3-D nearest and trilinear ones
    allocate in ``x.suggest_memory_format()``; the 1-D ones and 3-D area are contiguous, and 1-D
    area runs the 2-D pool on ``x.unsqueeze(-2)`` (a layout left open here unless ``x`` is
    contiguous)."""
    if t.shape is None:
        return Tensor(contiguous=True) if t.contiguous else UNKNOWN  # every kernel keeps contiguous input so
    k = len(t.shape) - 2
    if k not in (1, 2, 3):
        return UNKNOWN  # torch raises
    size, scale, mode = a.get(0, "size"), a.get(1, "scale_factor"), _mode(a, 2)
    spatial: list[Dim] = []
    for i, d in enumerate(t.shape[2:]):
        if size is not None and not (isinstance(size, Opaque) and size.key == "None"):
            items = size.items if isinstance(size, (TupleV, ListV)) else (size,) * k
            got = a.to_dim(items[i], "") if len(items) == k else None
        else:
            factors = scale.items if isinstance(scale, (TupleV, ListV)) else (scale,) * k
            factor = _scalar(factors[i]) if len(factors) == k else None
            whole = isinstance(factor, int) or isinstance(factor, float) and factor.is_integer()
            got = d * Dim.lit(int(factor)) if whole and factor is not None and factor > 0 else None  # type: ignore[arg-type]
            if got is None and factor is not None and d.literal is not None:
                got = Dim.lit(int(d.literal * factor))
        spatial.append(got if got is not None else a.fresh(f"interpolated.size({i + 2})"))
    out = t.shape[:2] + tuple(spatial)
    labels = (t.labels or (None,) * len(out))[:2] + tuple(
        label if new == old else None for label, new, old in zip((t.labels or (None,) * len(out))[2:], spatial, t.shape[2:])
    )
    if k == 1 or k == 3 and mode == "area":
        if k == 1 and mode == "area" and not t.contiguous:
            return Tensor(out, None, False, labels)  # the 2-D pool of ``x.unsqueeze(-2)``
        return Tensor.dense(out, labels) if mode is not None or t.contiguous else Tensor(out, None, False, labels)
    fmt = memory_format_of(t)
    if fmt == "contiguous":
        return Tensor.dense(out, labels)
    if fmt == "channels_last" and (k == 2 or mode is not None):  # 3-D area is contiguous whatever ``x`` is
        return Tensor.strided(out, channels_last_strides(out), labels, t.origin or a.origin)  # where ``x`` got it
    return Tensor(out, None, False, labels)


def inverse(t: Tensor, a: Args) -> Value:
    """``torch.linalg.inv`` / ``torch.inverse``: LAPACK writes each matrix column-major, so the
    result is a batch of transposed matrices, whatever the input's layout."""
    if t.shape is None or len(t.shape) < 2:
        return UNKNOWN
    rank = len(t.shape)
    order = tuple(range(rank - 2)) + (rank - 1, rank - 2)
    return Tensor.strided(t.shape, dense_in_order(t.shape, order), t.labels, a.origin)


def repeat_interleave(t: Tensor, a: Args) -> Value:
    """``x.repeat_interleave(n, dim)``: a new contiguous tensor, ``dim`` ``n`` times as long (without
    ``dim``: flattened first)."""
    if t.shape is None:
        return Tensor(contiguous=True)
    d = a.get(1, "dim")
    count = a.get(0, "repeats")
    n = a.to_dim(count, a.texts[0] if a.texts else "") if isinstance(count, (IntV, DimV)) else None
    if d is None:
        return Tensor.dense((product(t.shape) * n if n is not None else a.fresh("repeated"),))
    k = _norm(as_int(d), len(t.shape))
    if k is None:
        return Tensor(contiguous=True)
    size = t.shape[k] * n if n is not None else a.fresh(f"repeated.size({k})")
    labels = t.labels or (None,) * len(t.shape)
    return Tensor.dense(t.shape[:k] + (size,) + t.shape[k + 1 :], labels[:k] + (None,) + labels[k + 1 :])


def create(t: Tensor, a: Args) -> Value:
    """``torch.randn(2, 3)``, ``torch.zeros((b, t))``, ``torch.ones(size=...)``."""
    size = a.get(0, "size")
    if isinstance(size, ShapeV):  # ``x.new_ones(size=m.size())``: m's sizes, 1s included
        if size.tensor.shape is None:
            # whatever they are (``[:, :, None, None]`` made two of them 1), they are not sizes of
            # their own, which the rank a later use gives would take for sizes >= 2
            return Tensor()
        return Tensor.allocated(size.tensor.shape, size.tensor.labels)
    got = a.sizes(0, "size")
    if got is None or None in got[0]:
        return Tensor(contiguous=True)
    return Tensor.allocated(tuple(got[0]), tuple(got[1]))  # type: ignore[arg-type]


def legacy(t: Tensor, a: Args) -> Value:
    """The typed constructors (``torch.LongTensor([start_idx])``, ``torch.FloatTensor(2, 3)``): a
    list's data copied into a new tensor, or a new tensor of the sizes given; from anything else (an
    array) a new tensor of unknown rank. Not from a tensor, whose storage it may share."""
    first = a.get(0, "data")
    if isinstance(first, (TupleV, ListV)):
        return copied(t, a)
    if a.pos and all(isinstance(v, (IntV, DimV)) for v in a.pos) and not a.kw:
        return create(t, a)
    return UNKNOWN if isinstance(first, Tensor) else Tensor(contiguous=True)


def copied(t: Tensor, a: Args) -> Value:
    """``torch.tensor(data)`` copies ``data`` into a new contiguous tensor; its rank is the data's."""
    data = a.get(0, "data")
    if isinstance(data, Tensor):
        return Tensor.dense(data.shape, data.labels)
    sizes: list[Dim] = []
    while isinstance(data, TupleV) and data.items:  # a nested list literal: its lengths
        sizes.append(Dim.lit(len(data.items)))
        data = data.items[0]
    return Tensor.dense(tuple(sizes)) if sizes else Tensor(contiguous=True)


def randint(t: Tensor, a: Args) -> Value:
    """``torch.randint([low,] high, size)``: the size is the tuple among the arguments."""
    size = a.kw.get("size") or next((v for v in a.pos if isinstance(v, TupleV)), None)
    if not isinstance(size, TupleV):
        return Tensor(contiguous=True)
    return create(t, replace(a, pos=[size], kw={}, texts=[""]))


def eye(t: Tensor, a: Args) -> Value:
    """``torch.eye(n, m=n)``: a new contiguous ``(n, m)`` matrix."""
    n = a.get(0, "n")
    m = a.get(1, "m") or n
    rows = a.to_dim(n, a.texts[0] if a.texts else "") if n is not None else None
    cols = a.to_dim(m, a.texts[1] if len(a.texts) > 1 else a.texts[0] if a.texts else "") if m is not None else None
    if rows is None or cols is None:
        return Tensor.allocated((a.fresh("eye.size(0)"), a.fresh("eye.size(1)")))
    return Tensor.allocated((rows, cols))


def full(t: Tensor, a: Args) -> Value:
    size = a.get(0, "size")
    if not isinstance(size, TupleV):
        return Tensor(contiguous=True)
    dims = [d if d is not None else a.fresh(f"size[{i}]") for i, d in enumerate(a.to_dim(v, "") for v in size.items)]
    text = a.texts[0] if a.texts and "size" not in a.kw else ""
    return Tensor.allocated(tuple(dims), tuple(_split_tuple_text(text, len(dims))))  # type: ignore[arg-type]


def arange(t: Tensor, a: Args) -> Value:
    if len(a.pos) == 1:
        n = a.to_dim(a.pos[0], a.texts[0])
        if n is not None:
            return Tensor.allocated((n,), (a.texts[0],))
    return Tensor.allocated((Dim.sym(f"arange({', '.join(a.texts)})"),))


# ---- shape ops: the view family ------------------------------------------------------------


def view(t: Tensor, a: Args) -> Value:
    # a view of a contiguous tensor is contiguous whatever it asks for, if it runs at all
    unseen = Tensor(contiguous=True) if t.contiguous else UNKNOWN
    if len(a.pos) == 1 and not isinstance(a.pos[0], (TupleV, IntV, DimV)):
        return unseen  # x.view(dtype), or a size we cannot see
    got = a.sizes(0, "size")
    if got is None:
        return unseen
    labels = tuple(got[1])
    target = resolve_target(t.shape, got[0])
    if target is None:
        if got[0].count(None) > 1:
            return unseen
        # the shape it has if it runs at all; the inferred size is a size of its own
        sizes = tuple(_inferred(a, i) if d is None else d for i, d in enumerate(got[0]))
        split = _split_one(t, sizes)
        if split is not None:
            return Tensor.strided(sizes, split, labels, t.origin)
        return Tensor.dense(sizes, labels) if t.contiguous else Tensor(sizes, None, False, labels)
    if t.shape is None or t.strides is None:
        made = Tensor.dense(target, labels) if t.contiguous else Tensor(target, None, False, labels)
        return replace(made, inserted=_leading_ones(t, target)) if t.shape is not None else made
    strides = view_strides(t.shape, t.strides, target)
    if strides is None:
        return UNKNOWN  # raises at run time: reported by TV101, nothing flows on
    return _exact(t, replace(Tensor.strided(target, strides, labels, t.origin), inserted=_leading_ones(t, target)))


def _exact(t: Tensor, result: Value) -> Value:
    """``result`` of a view whose strides the model computes as ATen does on every dim, size-1
    dims included (``view``, ``unsqueeze``, indexing): settled when ``t`` is and they are the
    contiguous ones (see :attr:`Tensor.settled`)."""
    if t.settled and isinstance(result, Tensor) and result.shape is not None \
            and result.strides == contiguous_strides(result.shape):
        return replace(result, canonical=result.shape)
    return result


def _leading_ones(t: Tensor, target: Shape) -> int:
    """The inserted leading dims of ``t.view(target)``: those ``t`` had, plus the size-1 dims the
    view puts in front of all of ``t``'s (``m.view(1, 1, t, t)``)."""
    assert t.shape is not None
    added = len(target) - len(t.shape)
    if added >= 0 and target[added:] == t.shape and all(d.is_one for d in target[:added]):
        return t.inserted + added
    return 0


def _split_one(t: Tensor, sizes: Shape) -> Shape | None:
    """Strides of a view that keeps every dim of ``t`` but one as it is and splits that one into
    the sizes in between (``q.view(B, T, nh, C // nh)`` of a ``(B, T, n_embd)`` piece, whatever
    ``C`` is): if the view runs at all, their product is that dim's size and they are laid out
    contiguously at its stride."""
    if t.shape is None or t.strides is None:
        return None
    lead = 0
    while lead < min(len(t.shape), len(sizes)) and t.shape[lead] == sizes[lead]:
        lead += 1
    tail = 0
    while tail < min(len(t.shape), len(sizes)) - lead and t.shape[-1 - tail] == sizes[-1 - tail]:
        tail += 1
    if len(t.shape) - lead - tail != 1 or len(sizes) - lead - tail < 1:
        return None
    middle = sizes[lead : len(sizes) - tail]
    outer = t.strides[:lead] + t.strides[len(t.shape) - tail :]
    old = t.shape[lead]
    if len(old.powers) == 1 and old.powers[0][1] == 1 and old.coef > 0:
        # the split dim's size is the product of its pieces (``3 * dim`` split into ``3, h, -1``):
        # say so in the strides built from it
        atom = product(middle).divide(Dim.lit(old.coef))
        if atom is not None:
            outer = tuple(d.substitute({old.powers[0][0]: atom}) for d in outer)
    strides = [ONE] * len(middle)
    running = t.strides[lead]
    for i in range(len(middle) - 1, -1, -1):
        strides[i] = running
        running = running * middle[i]
    return outer[:lead] + tuple(strides) + outer[lead:]


def _inferred(a: Args, index: int) -> Dim:
    """A fresh size for the ``-1`` at ``index`` of a view whose input shape is unknown: named after
    the call, so a loop that comes round to it again gets the same size."""
    return a.fresh(f"{a.recv() or 'view'}.size({index})")


def as_view_args(a: Args) -> Args | None:
    """``x.view_as(other)`` is ``x.view(*other.shape)`` once ``other``'s shape is known."""
    other = a.get(0, "other")
    if not isinstance(other, Tensor) or other.shape is None:
        return None
    labels = [other.label(i) for i in range(len(other.shape))]
    return replace(a, pos=[DimV(d, label) for d, label in zip(other.shape, labels)], kw={}, texts=labels)


def view_as(t: Tensor, a: Args) -> Value:
    args = as_view_args(a)
    return UNKNOWN if args is None else view(t, args)


def reshape_as(t: Tensor, a: Args) -> Value:
    args = as_view_args(a)
    return UNKNOWN if args is None else reshape(t, args)


def reshape(t: Tensor, a: Args) -> Value:
    viewed = view(t, a)
    if isinstance(viewed, Tensor) and (viewed.shape is not None or viewed.contiguous):
        return viewed
    got = a.sizes(0, "shape")
    if got is None:
        return UNKNOWN
    target = resolve_target(t.shape, got[0])
    if target is not None:
        return Tensor.dense(target, tuple(got[1]))
    if None not in got[0]:
        return Tensor.dense(tuple(got[0]), tuple(got[1]))  # type: ignore[arg-type]
    return UNKNOWN


def flatten(t: Tensor, a: Args) -> Value:
    if t.shape is None:
        return UNKNOWN
    rank = len(t.shape)
    if rank == 0:
        return t
    start = _norm(a.int(0, "start_dim", 0), rank)
    end = _norm(a.int(1, "end_dim", -1), rank)
    if start is None or end is None or start > end:
        return UNKNOWN
    target = t.shape[:start] + (product(t.shape[start : end + 1]),) + t.shape[end + 1 :]
    labels = (t.labels or (None,) * rank)
    labels = labels[:start] + (None,) + labels[end + 1 :]
    if t.strides is None:
        return Tensor.strided(target, None, labels, t.origin)
    strides = view_strides(t.shape, t.strides, target)
    if strides is None:
        return Tensor.dense(target, labels)
    return Tensor.strided(target, strides, labels, t.origin)


def unsqueeze(t: Tensor, a: Args) -> Value:
    k = a.int(0, "dim")
    if t.shape is None:
        if k is None or not t.contiguous:
            return UNKNOWN
        # rank unknown: a dim put at or before the inserted ones is one more of them
        return replace(t, prior=False, inserted=t.inserted + 1 if 0 <= k <= t.inserted else t.inserted)
    rank = len(t.shape)
    d = _norm(k, rank + 1)
    if d is None:
        return UNKNOWN
    shape = t.shape[:d] + (ONE,) + t.shape[d:]
    labels = (t.labels or (None,) * rank)
    labels = labels[:d] + ("1",) + labels[d:]
    # among the leading size-1 dims, one more of them: which of them is the inserted one is moot
    lead = t.inserted + 1 if d <= t.inserted or all(size.is_one for size in t.shape[:d]) else t.inserted
    if t.strides is None:
        return replace(Tensor.strided(shape, None, labels, t.origin), inserted=lead)
    inner = t.strides[d] * t.shape[d] if d < rank else ONE
    return _exact(t, replace(Tensor.strided(shape, t.strides[:d] + (inner,) + t.strides[d:], labels, t.origin), inserted=lead))


def squeeze(t: Tensor, a: Args) -> Value:
    if t.shape is None:
        return UNKNOWN
    rank = len(t.shape)
    arg = a.get(0, "dim")
    if arg is None:
        drop = {i for i, s in enumerate(t.shape) if s.is_one}
    else:
        d = _norm(as_int(arg), rank)
        if d is None:
            return UNKNOWN
        drop = {d} if t.shape[d].is_one else set()
    keep = [i for i in range(rank) if i not in drop]
    labels = t.labels or (None,) * rank
    strides = None if t.strides is None else tuple(t.strides[i] for i in keep)
    return Tensor.strided(tuple(t.shape[i] for i in keep), strides, tuple(labels[i] for i in keep), t.origin)


def einsum(t: Tensor, a: Args) -> Value:
    """A single operand that only reorders dims is a permuted view. Two operands with a contraction
    go through ATen's ``sumproduct_pair``: ``bmm`` of the operands arranged as (kept in both,
    kept in one, summed) and a permuted view of its output, so the result's memory order is the
    labels kept in both operands, then those only in the left one, then those only in the right
    one or in neither (each group in output order), the two one-sided groups swapped when every
    label of the right group comes before every left-only one in the output. ``tests/test_einsum.py`` checks this against
    torch on random equations. Anything else: the shape only."""
    match = re.fullmatch(r"""\s*([a-zA-Z, ]+?)\s*->\s*([a-zA-Z]*)\s*""", a.equation)
    if match is None:
        return UNKNOWN
    inputs = [spec.replace(" ", "") for spec in match.group(1).split(",")]
    out = match.group(2)
    operands = [t, *a.pos]
    if len(inputs) != len(operands):
        return UNKNOWN
    if len(inputs) == 1 and sorted(inputs[0]) == sorted(out) and len(set(out)) == len(out) == t.rank:
        return _permuted(t, [inputs[0].index(c) for c in out], a)
    sizes: dict[str, Dim] = {}
    unsized = [i for i, operand in enumerate(operands) if not isinstance(operand, Tensor) or operand.shape is None]
    if unsized and (len(inputs) != 2 or len(unsized) == 2):
        return UNKNOWN
    for index, (spec, operand) in enumerate(zip(inputs, operands)):
        if index in unsized:
            continue
        if len(operand.shape) != len(spec):  # type: ignore[union-attr, arg-type]
            return UNKNOWN
        for letter, size in zip(spec, operand.shape):  # type: ignore[union-attr]
            if not size.is_one:
                sizes[letter] = size
    if unsized:
        # an operand of unknown origin (``ACTIVATIONS[name](w)``) has the equation's rank, and
        # bmm's output the memory order of its labels whatever its strides: sizes the other
        # operand does not give are generic ones of its own
        spec = inputs[unsized[0]]
        shape_of = tuple(sizes.get(letter) or a.fresh(f"einsum.{letter}") for letter in spec)
        operands[unsized[0]] = Tensor.strided(shape_of, None, None, None)
        sizes.update({letter: size for letter, size in zip(spec, shape_of) if letter not in sizes})
    shape = tuple(sizes.get(letter, ONE) for letter in out)
    order = _pair_order(inputs, operands, out) if len(inputs) == 2 else None  # type: ignore[arg-type]
    if order is None:
        return Tensor.strided(shape, None, None, None)
    strides: dict[str, Dim] = {}
    running = ONE
    for letter in reversed(order):
        strides[letter] = running
        running = running * sizes.get(letter, ONE)
    return Tensor.strided(shape, tuple(strides[letter] for letter in out), None, a.origin)


SDPA_BACKENDS = ("math", "flash/cuDNN", "memory-efficient")
"""``F.scaled_dot_product_attention``'s kernels by the layout of their output (``docs/sdpa.md``)."""


def sdpa(t: Tensor, a: Args) -> Value:
    """``F.scaled_dot_product_attention(q, k, v)``: shape ``q.shape[:-1] + (v.size(-1),)``, in a
    layout that depends on the kernel torch picks at run time: math allocates it contiguous (CPU
    whenever ``dropout_p > 0``, and the fallback everywhere), flash (CPU, and CUDA for a head_dim
    that is a multiple of 8) and cuDNN allocate it in the query's dim order, memory-efficient
    (CUDA) as ``(b, t, h, d)``. ``tests/test_sdpa_layout.py`` runs the CPU kernels."""
    value = a.get(1, "value")
    if t.shape is None or len(t.shape) != 4:
        return UNKNOWN  # flash and memory-efficient take 4-D inputs only; math then decides alone
    v_text = f"{a.texts[1]}.size(-1)" if len(a.texts) > 1 and a.texts[1] else "value.size(-1)"
    v_size = value.shape[-1] if isinstance(value, Tensor) and value.shape else a.fresh(v_text)
    v_label = value.labels[-1] if isinstance(value, Tensor) and value.shape and value.labels else v_text
    shape = t.shape[:-1] + (v_size,)
    labels = (t.labels or (None,) * 4)[:-1] + (v_label,)
    math = Tensor.dense(shape, labels)
    if t.strides is not None and t.strides[-1] != ONE and not t.shape[-1].is_one:
        return math  # a query without a unit last stride runs on math only
    q_order = None if t.strides is None else iterator_strides(shape, [t.strides])
    flash = Tensor.strided(shape, q_order, labels, a.origin)
    efficient = Tensor.strided(shape, dense_in_order(shape, (0, 2, 1, 3)), labels, a.origin)
    return Tensor(shape, None, False, labels, a.origin, backends=tuple(zip(SDPA_BACKENDS, (math, flash, efficient))))


def _pair_order(inputs: list[str], operands: list[Tensor], out: str) -> list[str] | None:
    """The output labels in memory order for a two-operand contraction, or None when ATen takes
    another road (no contraction: a broadcast ``mul``; a label summed in one operand first;
    repeated labels: diagonals)."""
    if len(set(out)) != len(out) or any(len(set(spec)) != len(spec) for spec in inputs):
        return None

    def present(index: int, letter: str) -> bool:
        spec, operand = inputs[index], operands[index]
        return letter in spec and not operand.shape[spec.index(letter)].is_one  # type: ignore[index]

    summed = {letter for spec in inputs for letter in spec if letter not in out}
    if not summed or not all(present(0, letter) and present(1, letter) for letter in summed):
        return None
    both = [c for c in out if present(0, c) and present(1, c)]
    left = [c for c in out if present(0, c) and not present(1, c)]
    right = [c for c in out if not present(0, c)]  # size 1 in both counts as the right's, as in ATen
    if left and right and max(map(out.index, right)) < min(map(out.index, left)):
        left, right = right, left
    return both + left + right


# ---- the table --------------------------------------------------------------------------------


M, T, F, P = Form.METHOD, Form.TORCH, Form.FUNCTIONAL, Form.PROPERTY


@dataclass(frozen=True)
class Op:
    names: tuple[str, ...]
    effect: Callable[[Tensor, Args], Value]
    forms: frozenset[Form]
    examples: tuple[str, ...]
    """Torch expressions over the test inputs (``x``: a transposed 4-D tensor, ``c``: contiguous,
    ``e``: expanded, ``s``: strided slice, ``m``: a bool mask, ``w``: a weight); a leading ``?``
    marks an example whose layout the effect leaves unknown."""
    operand: str = "first"
    """Where the function form takes its tensor: ``first`` argument, ``after-equation``
    (``einsum``), or ``none`` (creation ops, ``cat``: the effect reads the arguments itself; for a
    method, ``x.new_zeros(...)``, the receiver gives only the dtype and device)."""


def _op(
    names: str, effect: Callable[[Tensor, Args], Value], forms: set[Form], *examples: str, operand: str = "first"
) -> Op:
    return Op(tuple(names.split()), effect, frozenset(forms), examples, operand)


PRODUCERS: tuple[Op, ...] = (
    # the only ops that turn a contiguous tensor into a non-contiguous one (with basic slicing,
    # ``getitem``): a function that uses none of them, nor ``self.`` state built with them, cannot
    # hold a TV101 finding (``preselect`` relies on this; ``tests/test_ops.py`` checks the rest)
    _op("transpose swapaxes swapdims", swap, {M, T}, "x.transpose(0, 3)", "torch.transpose(x, 1, 2)", "x.swapaxes(-1, 1)", "torch.swapdims(c, 2, 3)"),
    _op("permute", permute, {M, T}, "x.permute(0, 2, 3, 1)", "x.permute((3, 1, 0, 2))", "torch.permute(c, (0, 2, 1, 3))"),
    _op("t", matrix_t, {M, T}, "c[0, 0].t()", "torch.t(x[0, 0])"),
    _op("T", reverse, {P}, "c.T"),
    _op("mT mH", swap_last, {P}, "x.mT", "c.mH"),
    _op("H", matrix_t, {P}, "c[0, 0].H"),
    _op("movedim moveaxis", movedim, {M, T}, "x.movedim(1, 3)", "torch.moveaxis(c, (0, 1), (2, 3))", "c.movedim(-1, 0)"),
    _op("expand", expand, {M}, "c[:, :1].expand(2, 4, 3, 5)", "c[0].expand(7, 4, 3, 5)", "c[:, :, :1].expand(-1, -1, 6, -1)"),
    _op("expand_as", expand_as, {M}, "c[:, :1].expand_as(x)"),
    _op("narrow", narrow, {M, T}, "c.narrow(2, 1, 2)", "torch.narrow(x, 3, 0, 3)"),
    _op("chunk", chunk, {M, T}, "c.chunk(5, dim=3)[1]", "torch.chunk(x, 2, 1)[0]"),
    _op("split", split, {M, T}, "c.split(2, dim=2)[0]", "x.split(2, -1)[1]", "c.split([1, 2], dim=2)[1]"),
    _op("unbind", unbind, {M, T}, "c.unbind(1)[0]", "torch.unbind(x, dim=3)[2]"),
    _op("unfold", unfold, {M}, "c.unfold(3, 2, 1)", "x.unfold(1, 2, 2)"),
    _op("as_strided", as_strided, {M, T}, "c.as_strided((3, 4), (1, 3))"),
    _op(
        "stft", stft, {M, T}, "torch.stft(c[0, 0], 4, hop_length=1, window=torch.ones(4), onesided=True, return_complex=True)",
        "c[:, :, 0, 0].stft(3, 2, onesided=True, return_complex=True, center=False)",
        "torch.stft(x[:, 0, 0], 4, onesided=False, return_complex=True)", "torch.stft(c[0, 0], 3, hop_length=1, onesided=True, return_complex=False)",
    ),
    _op(
        "einsum", einsum, {T}, "torch.einsum('bthd->bhtd', x)", "torch.einsum('bhts,bhsd->bthd', c[..., :3], c)",
        "torch.einsum('bknm,bmkc->bnkc', c, x.permute(0, 3, 1, 2))", "torch.einsum('bhnm,bhmd->bhnd', c[..., :3], c)",
        "?torch.einsum('bhnd,bhnd->bhnd', c, c)", "torch.einsum('bik,ji->bjk', [c[0], w[:, :3]])", operand="after-equation",
    ),
    _op("inverse inv", inverse, {M, T}, "torch.inverse(c[0, :, :3, :3] + 3)", "torch.linalg.inv(x[:, :3, :3, :3])", "x[0, 0, :3, :3].inverse()"),
    _op("scaled_dot_product_attention", sdpa, {F}, "?F.scaled_dot_product_attention(x, x, x)", "?F.scaled_dot_product_attention(c, x, c, dropout_p=0.1)"),
)

OPS: tuple[Op, ...] = PRODUCERS + (
    # results that keep the input's dim order
    _op(
        "clone abs neg exp sqrt rsqrt sigmoid tanh relu gelu silu logical_not cos sin log log1p expm1 reciprocal square",
        like,
        {M, T, F},
        "x.clone()", "s.clone()", "e.clone()", "torch.logical_not(x)", "torch.exp(x)", "F.gelu(x)", "x.relu()", "F.silu(s)", "torch.relu(e)",
    ),
    _op(
        "float half double bfloat16 bool int long byte to type_as cpu",
        convert,
        {M},
        "x.float()", "x.bool()", "?s.long()", "x.to(torch.float64)", "?s.float()", "?e.double()",
    ),
    _op(
        "dropout", dropout, {F}, "F.dropout(x, 0.1)", "F.dropout(x, 0.1, training=False)", "F.dropout(s, 0.1, training=False)",
        "F.dropout(s, 0.1)", "F.dropout(e, p=0.2)", "F.dropout(s, 0.0)", "F.dropout(s[:, :1], 0.5)", "F.dropout(s, 0.1, True, True)",
        "F.dropout(s, 0.1, False)",
        "?F.dropout(s, p=0.1, training=w.requires_grad)",
    ),
    _op("detach", in_place, {M}, "s.detach()", "e.detach()"),
    _op("add sub mul div pow eq ne lt gt le ge logical_and logical_or", elementwise, {M, T}, "x.mul(2.0)", "x.pow(2)", "x.eq(c)", "c.eq(x)", "torch.add(x, c)", "s.mul(0.5)", "e.mul(2.0)", "c.add(e)", "e.add(x)", "x.add(e)", "x[:, :, :1].mul(c)", "c[0, :, :1].mul(x)", "torch.sub(e[:, :1], x)"),
    # torch.where(cond, x, y) is elementwise with cond as the first operand
    _op("where", elementwise, {T}, "torch.where(x > 0, x, 0.0)", "torch.where(c > 0, x, 0.0)"),
    _op("masked_fill_ mul_ add_ div_ sub_ clamp_ fill_ zero_ requires_grad_", in_place, {M}, "x.masked_fill_(x > 0, 0.0)", "x.mul_(2)"),
    # results that are new contiguous tensors
    _op("contiguous", contiguous, {M}, "x.contiguous()", "c.contiguous()", "c[:, :1].transpose(0, 1).contiguous()"),
    _op("softmax log_softmax", fresh, {M, T, F}, "x.softmax(-1)", "F.softmax(x, dim=1)", "torch.log_softmax(x, 2)"),
    _op(
        "sum mean amax amin prod logsumexp std var", reduction, {M, T},
        "x.sum(1, keepdim=True)", "x.mean(-1)", "torch.amax(x, (1, 2), keepdim=True)", "x.std(1)", "torch.logsumexp(s, 2)", "x.sum()", "x.var(dim=0)", "e.mean(1, True)",
    ),
    _op("norm", norm_reduction, {M, T}, "x.norm(dim=-1, keepdim=True)", "torch.norm(x, 2, 1, True)", "x.norm()", "s.norm(p=2, dim=(0, 3))"),
    _op("layer_norm", fresh, {F}, "F.layer_norm(x, (5,))"),
    _op("one_hot", one_hot, {F}, "F.one_hot(m.long(), 2)", "F.one_hot(m.long().t(), num_classes=3)"),
    _op("pad", pad, {F}, "F.pad(x, (1, 2))", "F.pad(s, (0, 0, 1, 1))", "F.pad(c.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2), (1, 1))"),
    _op(
        "interpolate upsample", interpolate, {F},
        "F.interpolate(c, size=(6, 7), mode='bilinear')", "F.interpolate(x, scale_factor=2)", "F.interpolate(s, (4, 4), None, 'bicubic')",
        "F.interpolate(c.contiguous(memory_format=torch.channels_last), scale_factor=2, mode='bilinear', align_corners=False)",
        "F.interpolate(c.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2), size=5, mode='nearest-exact')",
        "F.interpolate(c.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2), scale_factor=(1.5, 2.0), mode='area')",
        "F.interpolate(e, scale_factor=0.5, mode='bilinear', antialias=True)", "F.interpolate(x[0], 7, mode='linear')",
        "F.interpolate(x[0].transpose(1, 2), 7)", "?F.interpolate(x[0].transpose(1, 2), 7, mode='area')",
        "F.interpolate(c[None].contiguous(memory_format=torch.channels_last_3d), scale_factor=2, mode='trilinear')",
        "F.interpolate(c[None].contiguous(memory_format=torch.channels_last_3d), scale_factor=2, mode='area')",
        "F.upsample(c.contiguous(memory_format=torch.channels_last), (6, 6))",
    ),
    _op("masked_fill", fresh, {M, T}, "x.masked_fill(x > 0, 0.0)", "torch.masked_fill(x, m, 1.0)"),
    _op("tril triu", fresh, {M, T}, "torch.tril(x)", "x.triu(1)"),
    _op("repeat_interleave", repeat_interleave, {M, T}, "x.repeat_interleave(2, dim=1)", "torch.repeat_interleave(c, 3, 2)", "s.repeat_interleave(2)"),
    _op("repeat tile", repeat, {M, T}, "x.repeat(2, 1, 1, 1)", "s.repeat(1, 2, 1, 3, 1)", "x.tile(2, 1)", "torch.tile(c, (2,))"),
    _op("matmul bmm mm", matmul, {M, T}, "torch.matmul(x, c.transpose(2, 3))", "x[0].bmm(c[0].transpose(1, 2))", "torch.mm(x[0, 0], w.t())"),
    _op("linear", linear, {F}, "F.linear(x, w)"),
    _op(
        "cat concat", cat, {T}, "torch.cat([x, x], dim=1)", "torch.cat((x, c), -1)",
        "torch.cat((c.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2), c.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2)), 0)",
        "torch.cat((c.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2), c), 1)", operand="none",
    ),
    _op("topk", topk, {M, T}, "x.topk(2, 1)[1]", "torch.topk(x, 2)[0]"),
    _op("randn rand zeros ones empty", create, {T}, "torch.randn(2, 3, 4)", "torch.zeros((3, 4))", "torch.ones(2, 5)", operand="none"),
    _op("new_zeros new_ones new_empty", create, {M}, "x.new_zeros((2, 3))", "c.new_ones(4, 1, 5)", "e.new_empty((3, 2))", "s.new_ones(size=c.size())", operand="none"),
    _op("new_full", full, {M}, "x.new_full((2, 3), 1.0)", "s.new_full(size=(4, 2), fill_value=0.5)", operand="none"),
    _op("tensor", copied, {T}, "torch.tensor([[1.0, 2.0], [3.0, 4.0]])", operand="none"),
    _op(
        "FloatTensor DoubleTensor HalfTensor BFloat16Tensor LongTensor IntTensor ShortTensor CharTensor ByteTensor BoolTensor",
        legacy, {T}, "torch.LongTensor([[1, 2, 3], [4, 5, 6]])", "torch.FloatTensor(2, 3, 4)", "torch.BoolTensor([True, False])",
        operand="none",
    ),
    _op("eye", eye, {T}, "torch.eye(3)", "torch.eye(2, 4)", operand="none"),
    _op("randint", randint, {T}, "torch.randint(0, 255, (2, 3, 4))", "torch.randint(5, (3, 2))", "torch.randint(2, size=(4,))", operand="none"),
    _op("full", full, {T}, "torch.full((2, 3), 1.0)", "torch.full(size=(4, 2), fill_value=0.5)", operand="none"),
    _op("arange", arange, {T}, "torch.arange(6)", operand="none"),
    _op("zeros_like ones_like empty_like randn_like rand_like", like, {T}, "torch.ones_like(x)", "torch.zeros_like(s)"),
    # the view family
    _op("view", view, {M}, "c.view(2, 12, 5)", "x.view(2, 4, 3, 5, 1)", "c.transpose(2, 3).view(2, 4, 5, 3)", "x[:, :, :, :4].view(2, 4, 3, 2, 2)"),
    _op("view_as", view_as, {M}, "c.view_as(x)", "x[..., :1].view_as(x[:, :, :, 0])"),
    _op("reshape_as", reshape_as, {M}, "x.reshape_as(c)", "x[..., :1].reshape_as(c[..., 0])"),
    _op("reshape", reshape, {M, T}, "x.reshape(2, 4, 15)", "x.reshape(8, 15)", "torch.reshape(c, (-1, 5))"),
    _op("flatten", flatten, {M, T}, "x.flatten(2)", "x.flatten(1, 2)", "torch.flatten(c)"),
    _op("unsqueeze", unsqueeze, {M, T}, "x.unsqueeze(1)", "x.unsqueeze(-1)", "torch.unsqueeze(c, 0)"),
    _op("squeeze", squeeze, {M, T}, "x[:, :1].squeeze(1)", "c[:, :, :1].squeeze()"),
)

DENSE_EFFECTS: tuple[Callable[[Tensor, Args], Value], ...] = (
    fresh, contiguous, reduction, norm_reduction, repeat, repeat_interleave, matmul, linear, topk, create, copied, randint, eye, full, arange,
)
"""Effects whose result is a new dense tensor (or unknown) whatever the operand's layout: what
flows into these ops cannot reach a ``.view`` through them (``preselect`` relies on this;
``tests/test_preselect.py`` checks every example on non-contiguous operands)."""
DENSE: frozenset[str] = frozenset(name for op in OPS if op.effect in DENSE_EFFECTS for name in op.names)

def _index(forms: Form) -> dict[str, Op]:
    return {name: op for op in OPS if forms in op.forms for name in op.names}


METHODS = _index(Form.METHOD)
IN_PLACE: frozenset[str] = frozenset(name for name in METHODS if name.endswith("_"))
"""Methods that change their receiver: a statement made of one of them does its work."""
OUT_OF_PLACE: frozenset[str] = frozenset(name for name in METHODS if not name.endswith("_"))
"""Methods that return a new tensor (or a view, or a tuple of them) and change nothing else: TV301
reports a statement that throws one's result away."""
TORCH_FUNCTIONS = _index(Form.TORCH)
FUNCTIONAL = {**_index(Form.FUNCTIONAL), **{n: o for n, o in TORCH_FUNCTIONS.items() if Form.FUNCTIONAL in o.forms}}
PROPERTIES = _index(Form.PROPERTY)
ALIASES = frozenset({"data"})
"""Attributes that are the tensor itself, layout and all (``x.data``)."""


# ---- indexing: x[..., :k, None, ::2] -------------------------------------------------------


@dataclass(frozen=True)
class Index:
    """One subscript element. ``kind``: ``none``, ``int``, ``ellipsis``, ``slice``, ``other``."""

    kind: str
    lower: int | Dim | None = None
    upper: int | Dim | None = None
    step: int | Dim | None = 1
    """An int, or a size the analysis cannot evaluate (``::self.stride``), or None (unknown)."""
    text: str = ""


def _inserted_by(items: list[Index], lead: int, ones: int = 0) -> int | None:
    """The inserted leading dims after ``[None, None, ...]``-style indexing (only ``None``, ``:``
    and ``...``) of a tensor with ``lead`` of them, and ``ones`` leading size-1 dims in all; None for
    any other index. An output dim is one while every dim before it is: a ``None``, or a ``:`` over
    one of the ``ones`` (``mask[:, None]`` of a ``(1, t)`` mask puts a second 1 in front)."""
    out = consumed = 0
    front = True
    for n, item in enumerate(items):
        if item.kind == "none":
            out += 1 if front else 0
        elif item.kind == "slice" and item.lower is None and item.upper is None and item.step == 1:
            if front and consumed < lead:
                out += 1
            elif not (front and consumed < ones):
                front = False
            consumed += 1
        elif item.kind == "ellipsis":
            if n != len(items) - 1:
                front = False  # how many dims it covers depends on the rank: stop counting
        else:
            return None
    return out + (max(lead - consumed, 0) if front else 0)


def _leading_ones_of(t: Tensor) -> int:
    """How many leading dims of ``t`` are size 1: its inserted ones, and original ones before the
    first dim of another size (a ``None`` among them adds one more that broadcasting ignores)."""
    ones = 0
    for size in t.shape or ():
        if not size.is_one:
            break
        ones += 1
    return max(ones, t.inserted)


def _behind_ellipsis(items: list[Index], lead: int, rank: int) -> int:
    """The inserted leading dims that ``mask[..., -k:]`` keeps: a leading ``...`` and indices that
    reach none of the ``lead`` dims (Gemma's ``mask_local[..., -kv_len:]``)."""
    if not items or items[0].kind != "ellipsis" or any(i.kind == "ellipsis" for i in items[1:]):
        return 0
    consumed = sum(1 for i in items[1:] if i.kind != "none")
    return lead if rank - consumed >= lead else 0


def getitem(t: Tensor, items: list[Index], origin: Origin) -> Value:
    """Basic indexing is a view: slices keep strides (times the step), ints drop the dim."""
    if t.shape is None and t.contiguous and any(i.kind == "none" for i in items):
        lead = _inserted_by(items, t.inserted)  # ``mask[None, None]`` of a rank-unknown mask
        return UNKNOWN if lead is None else replace(t, prior=False, inserted=lead)
    if t.shape is None or any(i.kind == "other" for i in items):
        return UNKNOWN
    lead = _inserted_by(items, t.inserted, _leading_ones_of(t)) or _behind_ellipsis(items, t.inserted, len(t.shape))
    consumed = sum(1 for i in items if i.kind in ("int", "slice"))
    ellipses = [n for n, i in enumerate(items) if i.kind == "ellipsis"]
    if len(ellipses) > 1 or consumed > len(t.shape):
        return UNKNOWN
    if ellipses:
        n = ellipses[0]
        items = items[:n] + [Index("slice")] * (len(t.shape) - consumed) + items[n + 1 :]
    else:
        items = items + [Index("slice")] * (len(t.shape) - consumed)
    t = _stepped_evenly(t, items)
    labels = t.labels or (None,) * len(t.shape)
    shape: list[Dim] = []
    strides: list[Dim] | None = None if t.strides is None else []
    out_labels: list[str | None] = []
    d = 0
    for item in items:
        if item.kind == "none":
            shape.append(ONE)
            out_labels.append("1")
            if strides is not None and t.strides is not None:
                # ATen unsqueezes there: the stride that makes the new dim adjacent to the next one
                # (what ``suggest_memory_format`` reads: ``x[:, None]`` of a (b, h, w) is no
                # channels-last batch)
                strides.append(t.strides[d] * t.shape[d] if d < len(t.shape) else ONE)
            continue
        if item.kind == "int":
            d += 1
            continue
        size = _slice_size(t.shape[d], item)
        if size is None:
            if item.step != 1:
                return UNKNOWN
            # bounds that are no size (``mask[..., -kv_len:]``): a length of its own, named after the
            # dim and the slice, so that the same slice of the same dim is the same length
            size = Dim.sym(f"{t.label(d)}[{item.text}]")
        shape.append(size)
        plain_stop = item.lower is None and item.step == 1 and item.upper is not None
        if size == t.shape[d]:
            out_labels.append(labels[d])
        else:
            out_labels.append(item.text.lstrip(": ") if plain_stop else None)
        if strides is not None and t.strides is not None:
            outer = any(not s.is_one for s in t.shape[:d])
            if item.step is None or (outer and item.step != 1 and size.atoms() - t.shape[d].atoms()):
                # ceil((n - lower) / step) is no free size: outer strides may still line up with it
                strides = None
            else:
                strides.append(t.strides[d] * (item.step if isinstance(item.step, Dim) else Dim.lit(item.step)))
        d += 1
    out_strides = None if strides is None else tuple(strides)
    result = Tensor.strided(tuple(shape), out_strides, tuple(out_labels), origin)
    if result.origin is origin and t.origin is not None and not t.contiguous:
        result = Tensor.strided(tuple(shape), out_strides, tuple(out_labels), t.origin)
    return _exact(t, replace(result, inserted=lead) if lead else result)


def _stepped_evenly(t: Tensor, items: list[Index]) -> Tensor:
    """``t`` with the size ``n`` of each dim a whole-dim slice steps through by a size of its own
    (``[:, ::self.stride]``) written ``m * stride``: the slice then keeps ``m`` rows, exactly.

    That assumes the step divides the size, as it does in working code (LeViT subsamples 14 rows
    to 7), the same assumption ``head_dim = d_out // num_heads`` makes. A merge it reports raises
    whether the step divides or not: the only stride relation the assumption makes true is an outer
    dim's stride equal to the kept rows times their stride (``n == m * stride``), and a merge that
    needs it is judged to run, as it does for a step that divides. A size that is not one name
    (``2 * c``, a literal) is left alone: the slice's size stays unknown."""
    if t.shape is None or not any(i.kind == "slice" and isinstance(i.step, Dim) for i in items):
        return t
    subst: dict[str, Dim] = {}
    d = 0
    for item in items:  # ``...`` is expanded already: one item per dim, plus the ``None``s
        if item.kind == "none":
            continue
        step = item.step
        if item.kind == "slice" and isinstance(step, Dim) and item.lower is None and item.upper is None:
            size = t.shape[d].substitute(subst)
            atom = _one_name(size)
            if size.divide(step) is None and atom is not None and atom not in step.atoms():
                subst[atom] = Dim.sym(f"{atom}//{step}") * step
        d += 1
    if not subst:
        return t
    shape = tuple(s.substitute(subst) for s in t.shape)
    strides = None if t.strides is None else tuple(s.substitute(subst) for s in t.strides)
    return replace(t, shape=shape, strides=strides)


def _one_name(size: Dim) -> str | None:
    """The name of a size that is one name to the first power (``n``, not ``2*n``, ``n**2``, ``1``)."""
    return size.powers[0][0] if size.coef == 1 and len(size.powers) == 1 and size.powers[0][1] == 1 else None


def _slice_size(size: Dim, item: Index) -> Dim | None:
    lower, upper, step = item.lower, item.upper, item.step
    if isinstance(step, Dim):
        # a step of its own: exact when the whole dim is stepped through and the size is a multiple
        return size.divide(step) if lower is None and upper is None else None
    if step is None or step <= 0:
        return None
    if size.literal is not None and all(isinstance(v, int) or v is None for v in (lower, upper)):
        return Dim.lit(len(range(*slice(lower, upper, step).indices(size.literal))))
    if upper is None and (lower is None or (isinstance(lower, int) and 0 <= lower < step)):
        exact = size.divide(Dim.lit(step))  # ceil((n - lower) / step) == n / step
        if exact is not None:
            return exact
    if lower in (None, 0) and step == 1:
        if upper is None:
            return size
        if isinstance(upper, Dim):
            return upper
        if isinstance(upper, int) and upper > 0:
            return Dim.lit(upper)
    if isinstance(lower, int) and lower > 0 and upper is None and step == 1:
        # ``pred[..., 5:]`` of a ``num_classes + 5`` dim is ``num_classes`` long
        name = _one_name(size)
        written = re.fullmatch(r"([A-Za-z_][\w.]*) \+ (\d+)", name) if name is not None else None
        if written is not None and int(written.group(2)) == lower:
            return Dim.sym(written.group(1))
    return Dim.sym(f"len[{item.text}]")
