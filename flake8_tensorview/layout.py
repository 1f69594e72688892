"""Tensor facts (shape, strides, provenance) and view compatibility.

:func:`view_strides` mirrors ATen's ``computeStride`` (aten/src/ATen/TensorUtils.cpp) line for line;
the only change is that ``<`` on sizes is decided by monomial divisibility, which is exact for
literal sizes and gives the generic-size verdict for symbolic ones (see :mod:`dims`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .dims import ONE, Dim, contiguous_strides, product

Shape = tuple[Dim, ...]


@dataclass(frozen=True)
class Origin:
    """The op that last made a tensor's layout non-contiguous.

    ``anchor`` is the ``id`` of its syntax node: positions are only computed for what gets reported.
    """

    op: str
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

    @staticmethod
    def dense(shape: Shape | None, labels: tuple[str | None, ...] | None = None) -> Tensor:
        if shape is None:
            return Tensor(contiguous=True)
        return Tensor(shape, contiguous_strides(shape), True, labels or (None,) * len(shape))

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
            return Tensor.dense(shape, labels)
        return replace(self, shape=shape, labels=labels or (None,) * len(shape))

    def label(self, dim: int) -> str:
        assert self.shape is not None
        name = self.labels[dim] if self.labels else None
        return name or str(self.shape[dim])


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


def dense_like(shape: Shape, strides: Shape) -> Shape | None:
    """Strides of a new dense tensor laid out in the same dim order as ``strides``.

    What ``clone()``, elementwise ops and ``*_like`` give for a non-overlapping input (ATen's
    ``infer_dense_strides``). None when the order cannot be decided (stride 0, incomparable).
    """
    if is_contiguous(shape, strides):
        return contiguous_strides(shape)
    order = [d for d in range(len(shape)) if not shape[d].is_one]
    if any(strides[d].coef == 0 for d in order):
        return None

    def smaller(a: Dim, b: Dim) -> bool | None:
        if a.literal is not None and b.literal is not None:
            return None if a == b else a.literal < b.literal
        return True if _lt(a, b) else False if _lt(b, a) else None

    # innermost first; every pair must be ordered, or the order is a guess
    ranks: dict[int, int] = {}
    for d in order:
        below = [smaller(strides[e], strides[d]) for e in order if e != d]
        if None in below:
            return None
        ranks[d] = sum(1 for b in below if b)
    order.sort(key=ranks.__getitem__)
    out = list(strides)
    running = ONE
    for d in order:
        out[d] = running
        running = running * shape[d]
    return tuple(out)


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
