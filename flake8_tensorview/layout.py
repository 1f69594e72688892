"""Tensor facts (shape, strides, provenance) and view compatibility.

:func:`view_strides` mirrors ATen's ``computeStride`` (aten/src/ATen/TensorUtils.cpp) line for line;
the only change is that ``<`` on sizes is decided by monomial divisibility, which is exact for
literal sizes and gives the generic-size verdict for symbolic ones (see :mod:`dims`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from .dims import ONE, ZERO, Dim, contiguous_strides, product

Shape = tuple[Dim, ...]


@dataclass(frozen=True)
class Origin:
    """The op that last made a tensor's layout non-contiguous.

    ``anchor`` is the ``id`` of its syntax node (a call, attribute or subscript); its text and
    position are only computed for what gets reported. ``kind``: ``method``, ``function``,
    ``property`` or ``slice``.
    """

    kind: str
    anchor: int


@dataclass(frozen=True)
class Tensor:
    """What is known about one tensor value.

    ``shape`` None: rank unknown. ``strides`` None: layout unknown, unless ``contiguous``.
    ``labels`` name each dim as the source wrote it (``num_heads``), for messages.
    """

    shape: Shape | None = None
    strides: Shape | None = None
    contiguous: bool = False
    labels: tuple[str | None, ...] | None = None
    origin: Origin | None = None
    prior: bool = False
    """Not a fact but the prior: a parameter or attribute nothing says more about, taken as
    contiguous with every size >= 2, so its uses may give it a rank of fresh sizes."""
    inserted: int = 0
    """How many leading dims are size-1 dims an op put in front of the tensor it was given
    (``m.unsqueeze(0)``, ``m[None, None]``, ``m.view(1, 1, t, t)``): what ``masked_fill``'s
    broadcasting makes redundant (TV201)."""
    inserted_at: frozenset[int] = frozenset()
    """ids of the expressions that put the ``inserted`` dims in front (the outermost step of each
    chain: ``m.unsqueeze(0).unsqueeze(0)``), joined over the paths a value may come from."""
    assumed: tuple[str, ...] = ()
    """The parameters or attributes whose prior (contiguous, sizes >= 2) this layout rests on: a
    finding about it says "if `x` arrives contiguous"."""
    backends: tuple[tuple[str, Tensor], ...] = ()
    """The layouts this tensor has under each kernel torch may pick at run time, when they differ
    (``F.scaled_dot_product_attention``'s backends): the tensor's own ``strides`` are then unknown,
    so whatever does not follow the alternatives sees no layout at all."""
    canonical: Shape | None = None
    """The shape at which torch's strides were known to be the contiguous ones on every dim, size-1
    dims included (a new tensor a reduction or an elementwise op of such tensors allocates). The
    model does not keep size-1 strides as torch does otherwise (a slice to one row, a transpose of a
    size-1 dim), and TensorIterator's sort reads them: see :attr:`settled`."""

    def __post_init__(self) -> None:
        if self.shape is not None and (self.labels is None or len(self.labels) != len(self.shape)):
            object.__setattr__(self, "labels", (None,) * len(self.shape))  # every known dim has a label slot

    @staticmethod
    def dense(shape: Shape | None, labels: tuple[str | None, ...] | None = None) -> Tensor:
        if shape is None:
            return Tensor(contiguous=True)
        return Tensor(shape, contiguous_strides(shape), True, labels or (None,) * len(shape))

    @staticmethod
    def allocated(shape: Shape, labels: tuple[str | None, ...] | None = None) -> Tensor:
        """A new tensor torch allocates contiguous (``at::empty``): its strides are the contiguous
        ones on every dim, size-1 dims included."""
        return replace(Tensor.dense(shape, labels), canonical=shape)

    @property
    def settled(self) -> bool:
        """Whether torch's strides are known on every dim, size-1 dims included: the contiguous ones
        (:attr:`canonical`, still this tensor's shape and strides; an op that changed either left the
        fact behind)."""
        return (
            self.canonical is not None and self.canonical == self.shape
            and self.strides == contiguous_strides(self.shape)
        )

    @staticmethod
    def strided(
        shape: Shape,
        strides: Shape | None,
        labels: tuple[str | None, ...] | None,
        origin: Origin | None,
    ) -> Tensor:
        labels = labels if labels is not None and len(labels) == len(shape) else (None,) * len(shape)
        if strides is None:
            return Tensor(shape, None, False, labels, origin)
        contiguous = is_contiguous(shape, strides)
        return Tensor(shape, strides, contiguous, labels, None if contiguous else origin)

    @property
    def rank(self) -> int | None:
        return None if self.shape is None else len(self.shape)

    def with_shape(self, shape: Shape, labels: tuple[str | None, ...] | None = None) -> Tensor:
        """Refine a rank-unknown tensor once its shape is learned (``b, t, c = x.shape``)."""
        if self.shape is not None:
            return self
        if self.contiguous:
            return replace(Tensor.dense(shape, labels), assumed=self.assumed)
        return replace(self, shape=shape, labels=labels or (None,) * len(shape))

    def label(self, dim: int) -> str:
        """How a message names ``dim``: its label, else its size without the call tags that keep
        invented sizes apart (``interpolated.size(2)@forward#1`` reads ``interpolated.size(2)``)."""
        assert self.shape is not None
        name = self.labels[dim] if self.labels else None
        return name or _TAG.sub("", str(self.shape[dim]))


_TAG = re.compile(r"@[\w.<>]+#\d+")


def is_contiguous(shape: Shape, strides: Shape) -> bool:
    expected = ONE
    for size, stride in zip(reversed(shape), reversed(strides)):
        if size.is_one:
            continue
        if stride != expected:
            return False
        expected = expected * size
    return True


def _lt(a: Dim, b: Dim) -> bool:
    return a != b and a.divides(b)


def view_strides(shape: Shape, strides: Shape, target: Shape) -> Shape | None:
    """Strides of ``tensor.view(target)``, or None when the view raises. Numels must match."""
    if not shape:
        return tuple(ONE for _ in target)
    if product(shape).coef == 0:
        return contiguous_strides(target)
    new: list[Dim] = [ONE] * len(target)
    view_d = len(target) - 1
    chunk_base_stride = strides[-1]
    tensor_numel = ONE
    view_numel = ONE
    for tensor_d in range(len(shape) - 1, -1, -1):
        tensor_numel = tensor_numel * shape[tensor_d]
        if tensor_d == 0 or (
            not shape[tensor_d - 1].is_one
            and strides[tensor_d - 1] != tensor_numel * chunk_base_stride
        ):
            while view_d >= 0 and (_lt(view_numel, tensor_numel) or target[view_d].is_one):
                new[view_d] = view_numel * chunk_base_stride
                view_numel = view_numel * target[view_d]
                view_d -= 1
            if view_numel != tensor_numel:
                return None
            if tensor_d > 0:
                chunk_base_stride = strides[tensor_d - 1]
                tensor_numel = ONE
                view_numel = ONE
    if view_d != -1:
        return None
    return tuple(new)


def runs(shape: Shape, strides: Shape) -> list[list[int]]:
    """The dims (size-1 dims aside) in runs that are adjacent in memory: ATen's ``computeStride``
    chunks. A view can split a run, never join two: each target dim lies within one run."""
    out: list[list[int]] = []
    previous = None
    for d in range(len(shape)):
        if shape[d].is_one:
            continue
        if previous is None or strides[previous] != strides[d] * shape[d]:
            out.append([d])
        else:
            out[-1].append(d)
        previous = d
    return out


def merged_groups(shape: Shape, target: Shape) -> list[tuple[int, int]] | None:
    """Source dim ranges ``(first, last)`` that the view folds into fewer target dims.

    Pairs source and target dims by products (ignoring size-1 dims); None when the view splits and
    merges across one group, which has no simple explanation.
    """
    src = [i for i, d in enumerate(shape) if not d.is_one]
    dst = [d for d in target if not d.is_one]
    groups: list[tuple[int, int]] = []
    i = j = 0
    while i < len(src) and j < len(dst):
        first = i
        ps, pt = shape[src[i]], dst[j]
        n_dst = 1
        while ps != pt:
            if _lt(pt, ps) and j + 1 < len(dst):
                j += 1
                n_dst += 1
                pt = pt * dst[j]
            elif _lt(ps, pt) and i + 1 < len(src):
                i += 1
                ps = ps * shape[src[i]]
            else:
                return None
        if i > first and n_dst == 1:
            groups.append((src[first], src[i]))
        elif i > first:
            return None
        i += 1
        j += 1
    return groups


def broken_merge(shape: Shape, strides: Shape, target: Shape) -> tuple[int, ...] | None:
    """The source dims of the first merge whose dims are not adjacent in memory."""
    for first, last in merged_groups(shape, target) or []:
        dims = [d for d in range(first, last + 1) if not shape[d].is_one]
        for outer, inner in zip(dims, dims[1:]):
            if strides[outer] != strides[inner] * shape[inner]:
                return tuple(dims)
    return None


def _le(a: Dim, b: Dim) -> bool | None:
    """``a <= b`` for every generic size (atoms >= 2), or None when that depends on the sizes."""
    if a.literal is not None and b.literal is not None:
        return a.literal <= b.literal
    if a == b or a.divides(b) or (_powers_within(a, b) and a.coef <= b.coef):
        return True
    if b.divides(a) or (_powers_within(b, a) and b.coef <= a.coef):
        return False
    return None


def _powers_within(a: Dim, b: Dim) -> bool:
    """Every atom of ``a`` appears in ``b`` at least as often (``2*c`` within ``5*c*h``)."""
    mine = dict(b.powers)
    return all(mine.get(name, 0) >= p for name, p in a.powers)


def iterator_strides(shape: Shape, operands: list[Shape]) -> Shape | None:
    """Strides of the new tensor an elementwise op (or ``clone``) allocates for these inputs: ATen's
    ``TensorIteratorBase::reorder_dimensions`` run as it is written (:func:`_iteration_order`), then
    the output laid out dense in that order (``allocate_or_resize_outputs``).

    Size-1 dims never matter to a view, but they take part in the sort, with strides the model does
    not keep as torch does. They are left out only for one operand with a non-zero stride on every
    other dim, which then decides every pair itself. Otherwise a tie that a size-1 dim leaves open
    can carry one dim past another ((2, 2, 1) strided (1, 2, 1) plus (1, 2, 1, 1) strided
    (1, 1, 2, 1) is laid out (1, 2, 1, 1), not in the first operand's order; an expanded
    (1, 2, 2, 1, 1) strided (1, 0, 1, 1, 1) clones to (1, 1, 2, 1, 1)), so such an output is not
    modelled (None), nor is one whose strides or sizes do not compare."""
    dims = [d for d in range(len(shape)) if not shape[d].is_one]
    if len(dims) < len(shape) and (len(operands) > 1 or any(operands[0][d].coef == 0 for d in dims)):
        return None
    order = _iteration_order([shape[d] for d in dims], [[strides[d] for d in dims] for strides in operands])
    return None if order is None else dense_in_order(shape, [dims[i] for i in reversed(order)])


def _iteration_order(shape: Sequence[Dim], operands: list[list[Dim]]) -> list[int] | None:
    """The dims fastest first, as ``reorder_dimensions`` leaves them. Its insertion sort is not a
    sort: an ambiguous pair (a stride-0 broadcast dim in every operand that could decide it) is
    stepped over, and a later swap exchanges two dims that are not neighbours, so only running it as
    written gives torch's order. None when a stride or size comparison depends on the sizes."""

    def compare(a: Dim, b: Dim) -> int | None:
        if a == b:
            return 0
        le, ge = _le(a, b), _le(b, a)
        return -1 if le and not ge else 1 if ge and not le else None

    def should_swap(dim0: int, dim1: int) -> int | None:
        for strides in operands:
            stride0, stride1 = strides[dim0], strides[dim1]
            if stride0.coef == 0 or stride1.coef == 0:
                continue  # broadcast on one of them: the next operand decides
            order = compare(stride0, stride1)
            if order is None:
                return None
            if order:
                return order
            bigger = compare(shape[dim0], shape[dim1])  # equal strides: the smaller dim goes first
            if bigger is None:
                return None
            if bigger > 0:
                return 1
        return 0

    perm = list(reversed(range(len(shape))))
    for i in range(1, len(perm)):
        dim1 = i
        for dim0 in range(i - 1, -1, -1):
            comparison = should_swap(perm[dim0], perm[dim1])
            if comparison is None:
                return None
            if comparison > 0:
                perm[dim0], perm[dim1] = perm[dim1], perm[dim0]
                dim1 = dim0
            elif comparison < 0:
                break
    return perm


def same_layout(shape: Shape, a: Shape, b: Shape) -> bool:
    """Equal strides on every dim that is not size 1 (the only ones a view looks at)."""
    return all(size.is_one or x == y for size, x, y in zip(shape, a, b))


def resolve_target(shape: Shape | None, raw: list[Dim | None]) -> Shape | None:
    """The sizes a ``view``/``reshape`` asks for, with ``-1`` (None) inferred.

    A target size written with names the source shape never mentions (``self.d_out`` for
    ``num_heads * head_dim``) is solved from the element count when it is the only such size: the
    program would not run otherwise. None when the target cannot be pinned down.
    """
    if shape is None:
        return None
    numel = product(shape)
    holes = [i for i, d in enumerate(raw) if d is None]
    if len(holes) > 1:
        return None
    if not holes:
        if product(raw) == numel:  # type: ignore[arg-type]
            return tuple(raw)  # type: ignore[arg-type]
        known = set().union(*(d.atoms() for d in shape))
        holes = [i for i, d in enumerate(raw) if d is not None and d.atoms() - known]
        if len(holes) != 1:
            return None
    rest = product(d for i, d in enumerate(raw) if i != holes[0])  # type: ignore[misc]
    solved = numel.divide(rest)
    if solved is None:
        return None
    out = list(raw)
    out[holes[0]] = solved
    return tuple(out)  # type: ignore[arg-type]


# ---- memory formats ------------------------------------------------------------------------


def channels_last(shape: Shape, strides: Shape) -> bool | None:
    """``is_channels_last_strides_2d/3d`` (c10/core/MemoryFormat.h) on 4-D/5-D facts; None: undecided."""
    if len(shape) not in (4, 5):
        return False
    if strides[1].coef == 0:
        return False
    low = ZERO
    for d in (1, 3, 2, 0) if len(shape) == 4 else (1, 4, 3, 2, 0):
        if shape[d].coef == 0:
            return False
        at_least = _le(low, strides[d])
        if at_least is None:
            return None
        if not at_least:
            return False
        # ATen falls back to NCHW for ambiguous strides (N111, sliced N11W)
        if d == 0 and low == strides[1]:
            return False
        low = strides[d] if shape[d].is_one else strides[d] * shape[d]
    return True


def memory_format_of(t: Tensor) -> str | None:
    """``suggest_memory_format()``: ``contiguous`` or ``channels_last``; None when undecided."""
    assert t.shape is not None
    if t.strides is None:
        return None
    cl = channels_last(t.shape, t.strides)
    if cl is None:
        return None
    return "channels_last" if cl else "contiguous"


# ---- joins ---------------------------------------------------------------------------------


def dense_order(t: Tensor) -> tuple[int, ...] | None:
    """The dims of ``t`` from outermost to innermost when ``t`` is dense in that order (contiguous,
    channels-last, a dense permutation), or None. Size-1 dims go where their stride puts them."""
    if t.shape is None or t.strides is None:
        return None
    order: list[int] = []
    for d in range(len(t.shape)):  # insertion sort, outermost (largest stride) first
        at = len(order)
        while at > 0:
            le = _le(t.strides[order[at - 1]], t.strides[d])
            if le is None:
                return None
            if not le or t.strides[order[at - 1]] == t.strides[d]:
                break
            at -= 1
        order.insert(at, d)
    running = ONE
    for d in reversed(order):
        if not t.shape[d].is_one and t.strides[d] != running:
            return None
        running = running * t.shape[d]
    return tuple(order)


def widened(a: Tensor, b: Tensor) -> Tensor | None:
    """One fact for two tensors dense in the same dim order whose sizes differ (a loop that shrinks
    a feature map, two branches): the same order, and each differing size a size of its own named
    by the values it stands for (the name settles once they stop growing, so loops converge). None
    when a size is 1 on either side (a view that fails for the others may run there)."""
    if a.shape is None or b.shape is None or len(a.shape) != len(b.shape):
        return None
    order = dense_order(a)
    if order is None or order != dense_order(b):
        return None
    shape: list[Dim] = []
    for x, y in zip(a.shape, b.shape):
        if x == y:
            shape.append(x)
        elif x.is_one or y.is_one:
            return None
        else:
            shape.append(either_size(x, y))
    labels = a.labels if a.labels == b.labels else None
    return Tensor.strided(tuple(shape), dense_in_order(tuple(shape), order), labels, a.origin or b.origin)


def dense_in_order(shape: Shape, order: Sequence[int]) -> Shape:
    """Contiguous strides for the dims laid out outermost-first in ``order``."""
    strides = [ONE] * len(shape)
    running = ONE
    for d in reversed(order):
        strides[d] = running
        running = running * shape[d]
    return tuple(strides)


def channels_last_strides(shape: Shape) -> Shape:
    """Channels innermost, then the spatial dims from last to first, then the batch (4-D or 5-D)."""
    return dense_in_order(shape, [0, *range(2, len(shape)), 1])


def either_size(x: Dim, y: Dim) -> Dim:
    """One size for two that differ on two paths (``2|5``): the sizes each stands for, flattened and
    sorted, so that joining again with either one gives the same size."""
    return Dim.sym("|".join(sorted(_alternatives(x) | _alternatives(y))))


def _alternatives(size: Dim) -> set[str]:
    """The sizes a widened size stands for (``2|5`` -> 2 and 5), or the size itself."""
    if size.coef == 1 and len(size.powers) == 1 and size.powers[0][1] == 1:
        return set(size.powers[0][0].split("|"))
    return {str(size)}
