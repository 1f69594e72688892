"""einsum's output layout, as :func:`flake8_tensorview.ops.einsum` models ATen's ``sumproduct_pair``,
against torch on random two-operand equations (and the equations the model leaves alone)."""

from __future__ import annotations

import random

import pytest

torch = pytest.importorskip("torch")

from flake8_tensorview.dims import Dim  # noqa: E402
from flake8_tensorview.layout import Origin, Tensor  # noqa: E402
from flake8_tensorview.ops import Args, einsum  # noqa: E402

LETTERS = "abcdefgh"


def equations(seed: int, count: int) -> list[tuple[str, list[list[int]]]]:
    draw = random.Random(seed)
    out = []
    while len(out) < count:
        labels = draw.sample(LETTERS, draw.randint(2, 7))
        left = "".join(draw.sample(labels, draw.randint(1, len(labels))))
        right = "".join(draw.sample(labels, draw.randint(1, len(labels))))
        used = sorted(set(left) | set(right))
        result = "".join(draw.sample(used, draw.randint(0, len(used))))
        sizes = {label: draw.choice([1, 2, 3, 4]) if draw.random() < 0.1 else draw.randint(2, 4) for label in labels}
        out.append((f"{left},{right}->{result}", [[sizes[c] for c in left], [sizes[c] for c in right]]))
    return out


def modelled(equation: str, shapes: list[list[int]]) -> Tensor | None:
    operands = [Tensor.dense(tuple(Dim.lit(n) for n in shape)) for shape in shapes]
    args = Args([operands[1]], {}, [""], Origin("function", 0), lambda v, t: None)
    args.equation = equation
    value = einsum(operands[0], args)
    return value if isinstance(value, Tensor) else None


@pytest.mark.parametrize("seed", range(4))
def test_two_operand_layouts_match_torch(seed: int) -> None:
    decided = 0
    for equation, shapes in equations(seed, 400):
        model = modelled(equation, shapes)
        real = torch.einsum(equation, torch.randn(*shapes[0]), torch.randn(*shapes[1]))
        assert model is not None and model.shape is not None
        assert [d.literal for d in model.shape] == list(real.shape), equation
        if model.strides is None:
            continue  # not modelled: no layout claimed
        decided += 1
        for size, mine, theirs in zip(real.shape, model.strides, real.stride()):
            assert size == 1 or mine.literal == theirs, (equation, shapes, real.stride())
    assert decided >= 60  # a good part of random contractions is modelled, so this checks something
