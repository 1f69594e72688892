"""The view-compatibility function against torch itself, on literal sizes (where it must be exact)."""

from __future__ import annotations

import math

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from flake8_tensorview.dims import Dim
from flake8_tensorview.layout import Tensor, broken_merge, iterator_strides, merged_groups, same_layout, view_strides


def lits(values) -> tuple[Dim, ...]:
    return tuple(Dim.lit(v) for v in values)


@st.composite
def strided_tensors(draw):
    """A tensor made non-contiguous by a permutation, maybe a step slice and maybe an expand."""
    shape = draw(st.lists(st.integers(1, 4), min_size=1, max_size=5))
    x = torch.arange(math.prod(shape), dtype=torch.float32).reshape(shape)
    x = x.permute(*draw(st.permutations(range(len(shape)))))
    if draw(st.booleans()):
        d = draw(st.integers(0, x.dim() - 1))
        step = draw(st.integers(1, 2))
        start = draw(st.integers(0, 1))
        index = [slice(None)] * x.dim()
        index[d] = slice(start, None, step)
        if len(range(start, x.shape[d], step)) > 0:
            x = x[tuple(index)]
    if draw(st.booleans()):
        ones = [d for d in range(x.dim()) if x.shape[d] == 1]
        if ones:
            sizes = list(x.shape)
            sizes[draw(st.sampled_from(ones))] = draw(st.integers(2, 3))
            x = x.expand(*sizes)
    return x


@st.composite
def regroupings(draw, shape):
    """A target shape with the same numel: merge runs of dims, split some, sprinkle 1s."""
    sizes = list(shape)
    out: list[int] = []
    i = 0
    while i < len(sizes):
        run = draw(st.integers(1, len(sizes) - i))
        merged = math.prod(sizes[i : i + run])
        divisors = [k for k in range(2, merged) if merged % k == 0]
        if divisors and draw(st.booleans()):
            k = draw(st.sampled_from(divisors))
            out += [k, merged // k]
        else:
            out.append(merged)
        if draw(st.integers(0, 5)) == 0:
            out.append(1)
        i += run
    return out


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_view_strides_agree_with_torch(data) -> None:
    x = data.draw(strided_tensors())
    target = data.draw(regroupings(tuple(x.shape)))
    ours = view_strides(lits(x.shape), lits(x.stride()), lits(target))
    try:
        real = x.view(*target)
    except RuntimeError as exc:
        assert "view size is not compatible" in str(exc)
        assert ours is None, (tuple(x.shape), x.stride(), target)
        assert broken_merge(lits(x.shape), lits(x.stride()), lits(target)) is not None or merged_groups(
            lits(x.shape), lits(target)
        ) is None
        return
    assert ours is not None, (tuple(x.shape), x.stride(), target)
    assert all(s == 1 or int(str(o)) == r for s, o, r in zip(target, ours, real.stride()))


@settings(max_examples=300, deadline=None)
@given(x=strided_tensors())
def test_iterator_strides_are_what_clone_and_unary_ops_give(x: torch.Tensor) -> None:
    ours = iterator_strides(lits(x.shape), [lits(x.stride())])
    broadcast_everywhere = any(n != 1 and s == 0 for n, s in zip(x.shape, x.stride()))
    if ours is None:  # only an expanded tensor with a size-1 dim is left to the sort's data
        assert broadcast_everywhere and 1 in x.shape
        return
    for real in (x.clone(), x.neg(), torch.relu(x), x * 2):
        assert same_layout(lits(x.shape), ours, lits(real.stride())), (tuple(x.shape), x.stride(), real.stride())


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_iterator_strides_are_what_binary_ops_give(data) -> None:
    x = data.draw(strided_tensors())
    y = data.draw(strided_tensors())
    try:
        real = x + y
    except RuntimeError:
        return  # shapes do not broadcast
    shape = lits(real.shape)

    def spread(t: torch.Tensor) -> tuple[Dim, ...]:
        lead = real.dim() - t.dim()
        own = [0] * lead + [0 if n == 1 and m != 1 else s for n, m, s in zip(t.shape, real.shape[lead:], t.stride())]
        return lits(own)

    operands = [spread(x), spread(y)]
    ours = iterator_strides(shape, operands)
    if ours is None:  # the first operand broadcast, or size-1 dims taking part in the sort
        assert 1 in real.shape or any(n != 1 and operands[0][d].coef == 0 for d, n in enumerate(real.shape))
        return
    assert same_layout(shape, ours, lits(real.stride())), (x.shape, x.stride(), y.shape, y.stride(), real.stride())


def test_size_1_dims_of_the_output_can_reorder_the_others() -> None:
    """Found by the test above: the first operand is dense on every dim of size > 1, yet torch
    lays the sum out in another order, because a size-1 dim ties with one of them in the second
    operand and ATen's sort then swaps two dims that are not neighbours."""
    x = torch.empty(2, 2, 1).as_strided((2, 2, 1), (1, 2, 1))
    y = torch.empty(1, 2, 1, 1).as_strided((1, 2, 1, 1), (1, 1, 2, 1))
    real = (x + y).stride()
    assert real == (1, 2, 1, 1)  # not x's order, in which dim 1 would be the fastest
    assert iterator_strides(lits((1, 2, 2, 1)), [lits((0, 1, 2, 1)), lits((1, 1, 0, 1))]) is None


@st.composite
def broadcast_operands(draw):
    """Operands of one elementwise op whose output has no size-1 dim, the first one broadcast
    (size 1, or missing in front) on some dims: TensorIterator's sort is decided by the others."""
    shape = draw(st.lists(st.integers(2, 4), min_size=2, max_size=4))
    operands = []
    for index in range(draw(st.integers(2, 3))):
        lead = draw(st.integers(0, len(shape) - 1)) if index == 0 else 0
        own = [n if index == 1 or not draw(st.booleans()) else 1 for n in shape[lead:]]  # the second: whole
        if index == 0 and all(n != 1 for n in own) and not lead:
            own[draw(st.integers(0, len(own) - 1))] = 1
        order = draw(st.permutations(range(len(own))))
        base = torch.randn(*[own[d] for d in order])
        t = base.permute(*[order.index(d) for d in range(len(own))])
        if draw(st.booleans()):  # a step slice on one dim: strides that are not dense
            d = draw(st.integers(0, len(own) - 1))
            wide = list(t.shape)
            wide[d] *= 2
            t = torch.randn(*wide).permute(*range(len(own)))[tuple(slice(None, None, 2) if i == d else slice(None) for i in range(len(own)))]
        operands.append(t)
    return shape, operands


@settings(max_examples=500, deadline=None)
@given(case=broadcast_operands())
def test_iterator_strides_follow_the_other_operands_when_the_first_is_broadcast(case) -> None:
    shape, operands = case
    real = operands[0] + operands[1] if len(operands) == 2 else torch.addcmul(*operands)
    assert tuple(real.shape) == tuple(shape)

    def spread(t: torch.Tensor) -> tuple[Dim, ...]:
        lead = len(shape) - t.dim()
        return lits([0] * lead + [0 if n == 1 else s for n, s in zip(t.shape, t.stride())])

    ours = iterator_strides(lits(shape), [spread(t) for t in operands])
    assert ours is not None  # literal strides always compare
    assert ours == lits(real.stride()), ([tuple(t.shape) for t in operands], [t.stride() for t in operands], real.stride())


def test_symbolic_generic_sizes() -> None:
    b, t, h, d = (Dim.sym(n) for n in "bthd")
    # (b, h, t, d) contiguous, transposed to (b, t, h, d)
    shape = (b, t, h, d)
    strides = (h * t * d, d, t * d, Dim.lit(1))
    assert view_strides(shape, strides, (b, t, h * d)) is None
    assert view_strides(shape, strides, (b, t, h, d, Dim.lit(1))) is not None
    assert broken_merge(shape, strides, (b, t, h * d)) == (2, 3)
    # splitting a dim is always fine, even a non-adjacent one
    e = Dim.sym("e")
    two_e = Dim.lit(2) * e
    split = view_strides((b, t, h, two_e), (h * t * two_e, two_e, t * two_e, Dim.lit(1)), (b, t, h, Dim.lit(2), e))
    assert split is not None
    assert view_strides(shape, strides, (b, t, h, d)) == strides


def test_symbolic_strides_order_by_coefficient() -> None:
    """A strided slice of a symbolic tensor: strides 5*c and 2*c still order (generic c >= 2)."""
    a, b, c = (Dim.sym(n) for n in "abc")
    shape = (a, b, Dim.lit(2), c)
    strides = (b * Dim.lit(5) * c, Dim.lit(5) * c, Dim.lit(2) * c, Dim.lit(1))
    assert iterator_strides(shape, [strides]) == (b * Dim.lit(2) * c, Dim.lit(2) * c, c, Dim.lit(1))


# ---- joins: tensors dense in one order -------------------------------------------------------


def _dense(shape: tuple[int, ...], order: tuple[int, ...]) -> Tensor:
    """A tensor of ``shape`` laid out outermost-first in ``order`` (as torch's permute of a
    contiguous tensor makes it)."""
    base = torch.empty([shape[d] for d in order]).permute(*[order.index(d) for d in range(len(shape))])
    assert tuple(base.shape) == shape
    return Tensor.strided(tuple(Dim.lit(s) for s in shape), tuple(Dim.lit(s) for s in base.stride()), None, None)


def test_two_channels_last_maps_of_different_sizes_join_to_one_channels_last_fact() -> None:
    from flake8_tensorview.layout import dense_order, widened

    a, b = _dense((2, 4, 5, 5), (0, 2, 3, 1)), _dense((2, 4, 3, 3), (0, 2, 3, 1))
    assert dense_order(a) == dense_order(b) == (0, 2, 3, 1)
    joined = widened(a, b)
    assert joined is not None and dense_order(joined) == (0, 2, 3, 1)
    assert joined.shape[:2] == a.shape[:2] and joined.shape[2] == joined.shape[3] and joined.shape[2].literal is None
    assert widened(joined, a) == joined  # settles: a loop converges
    assert widened(a, _dense((2, 4, 5, 5), (0, 1, 2, 3))) is None  # other order
    assert widened(a, _dense((2, 4, 1, 1), (0, 2, 3, 1))) is None  # a 1 may let a view run


def test_a_tensor_with_a_shape_has_a_label_slot_per_dim() -> None:
    """Ops index labels by dim: a fact built without them (a broadcast of unmatched sizes, a pad)
    still has one per dim (big_bird's block-sparse attention raised here once)."""
    t = Tensor((Dim.lit(2), Dim.sym("n")), None, False)
    assert t.labels == (None, None)
    assert Tensor((Dim.lit(2),), labels=("a", "b")).labels == (None,)


def test_a_size_substituted_with_itself_or_in_a_cycle_stops() -> None:
    """``c -> c * g`` (a split dim's size written with itself) and ``a -> b, b -> a`` once recursed
    until Python's stack ran out (a TV901 on two diffusers autoencoders)."""
    c, g, a, b = Dim.sym("c"), Dim.sym("g"), Dim.sym("a"), Dim.sym("b")
    assert c.substitute({"c": c * g}) == c * g
    assert a.substitute({"a": b, "b": a}) == a
    assert (a * b).substitute({"a": Dim.lit(2)}) == Dim.lit(2) * b
