"""Random torch programs for the differential test: the linter's verdict against torch's.

A program builds a tensor from literal and symbolic sizes, pushes it through layout-changing and
layout-keeping ops, and views it. Symbolic sizes are parameters, run at distinct primes so that no
two products of them coincide (the "generic sizes" the linter reasons about).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

PRIMES = {"a": 2, "b": 3, "c": 5, "d": 7, "e": 11, "f": 13}

Factor = tuple[str, int]  # (source expression, value at run time)
Dim = list[Factor]  # a dim is the product of its factors; merging concatenates
Draw = Callable[[st.SearchStrategy[Any]], Any]  # the ``draw`` of an ``st.composite``


@dataclass
class Program:
    source: str
    params: list[str]
    view_lines: list[int]
    family: str = "views"
    """Which generator made it (``views``, or a family of ``layout_gen``)."""
    dropout: bool = False
    """Whether ``program`` takes SDPA's ``dropout_p`` after the sizes."""

    def args(self, dropout_p: float = 0.0) -> list[float]:
        return [PRIMES[p] for p in self.params] + ([dropout_p] if self.dropout else [])


def expr(dim: Dim) -> str:
    return " * ".join(e for e, _ in dim) if dim else "1"


def value(dim: Dim) -> int:
    return math.prod(v for _, v in dim)


@st.composite
def regroup(draw, shape: list[Dim], var: str) -> tuple[list[Dim], str]:
    """A same-numel target: merge runs of dims, split merged dims back, insert 1s, maybe a -1."""
    out: list[Dim] = []
    i = 0
    while i < len(shape):
        run = draw(st.integers(1, min(3, len(shape) - i)))
        merged: Dim = [f for d in shape[i : i + run] for f in d]
        if len(merged) > 1 and draw(st.integers(0, 2)) == 0:
            k = draw(st.integers(1, len(merged) - 1))
            out += [merged[:k], merged[k:]]
        else:
            out.append(merged)
        if draw(st.integers(0, 6)) == 0:
            out.append([])
        i += run
    texts = [expr(d) for d in out]
    # refer to an unchanged dim through the tensor itself
    for n, d in enumerate(out):
        if n < len(shape) and d == shape[n] and draw(st.integers(0, 3)) == 0:
            texts[n] = draw(st.sampled_from([f"{var}.size({n})", f"{var}.shape[{n}]"]))
    if len(out) > 1 and draw(st.booleans()):
        texts[draw(st.integers(0, len(out) - 1))] = "-1"
    return out, ", ".join(texts)


OPS = (
    "transpose", "permute", "movedim", "elementwise", "clone", "contiguous", "reshape", "unsqueeze", "matmul",
    "view", "slice", "expand", "t", "mT", "chunk", "narrow", "torch.transpose",
)


def step(draw: Draw, shape: list[Dim], params: list[str], x: str) -> tuple[list[Dim], str, bool]:
    """One op of the chain on ``x`` (whose shape is ``shape``): (the shape after it, the
    expression, whether it is a ``.view``). A plain function over the caller's ``draw``, not a
    strategy of its own, so that ``programs`` draws exactly what it drew before it was split out."""
    shape = list(shape)
    rank = len(shape)
    op = draw(st.sampled_from(OPS))
    if op == "transpose" and rank >= 2:
        i, j = draw(st.lists(st.integers(0, rank - 1), min_size=2, max_size=2, unique=True))
        shape[i], shape[j] = shape[j], shape[i]
        line = f"{x}.transpose({i}, {j})"
    elif op == "permute":
        perm = draw(st.permutations(range(rank)))
        shape = [shape[p] for p in perm]
        line = f"{x}.permute({', '.join(map(str, perm))})"
    elif op == "movedim":
        src, dst = draw(st.integers(0, rank - 1)), draw(st.integers(0, rank - 1))
        shape.insert(dst, shape.pop(src))
        line = f"torch.movedim({x}, {src}, {dst})"
    elif op == "elementwise":
        line = draw(st.sampled_from([f"{x} * 2.0", f"{x}.float()", f"torch.relu({x})", f"F.dropout({x}, 0.1)"]))
    elif op == "clone":
        line = f"{x}.clone()"
    elif op == "contiguous":
        line = f"{x}.contiguous()"
    elif op in ("reshape", "view"):
        shape, target = draw(regroup(shape, x))
        line = f"{x}.{op}({target})"
    elif op == "unsqueeze" and rank < 5:
        d = draw(st.integers(0, rank))
        shape.insert(d, [])
        line = f"{x}.unsqueeze({d})"
    elif op == "matmul":
        out = draw(st.sampled_from(["3", "4"] + [p for p in params]))
        line = f"{x} @ torch.randn({expr(shape[-1])}, {out})"
        shape[-1] = [(out, PRIMES.get(out) or int(out))]
    elif op == "slice" and any(value(d) >= 2 and len(d) == 1 and d[0][0].isdigit() for d in shape):
        d = draw(st.sampled_from([i for i, dim in enumerate(shape) if value(dim) >= 2 and len(dim) == 1 and dim[0][0].isdigit()]))
        n = value(shape[d])
        start, stride = draw(st.integers(0, 1)), draw(st.integers(1, 2))
        size = len(range(start, n, stride))
        shape[d] = [(str(size), size)] if size != 1 else []
        line = f"{x}[{', '.join([':'] * d + [f'{start}::{stride}'])}]"
    elif op == "expand" and any(not dim for dim in shape):
        d = draw(st.sampled_from([i for i, dim in enumerate(shape) if not dim]))
        new = draw(st.sampled_from(["3"] + params)) if params else "3"
        shape[d] = [(new, PRIMES.get(new) or int(new))]
        line = f"{x}.expand({', '.join(new if i == d else '-1' for i in range(rank))})"
    elif op == "t" and rank == 2:
        shape.reverse()
        line = draw(st.sampled_from([f"{x}.t()", f"{x}.T", f"torch.t({x})"]))
    elif op == "mT" and rank >= 2:
        shape[-1], shape[-2] = shape[-2], shape[-1]
        line = f"{x}.mT"
    elif op == "chunk" and any(value(dim) % 2 == 0 and len(dim) == 1 and dim[0][0].isdigit() for dim in shape):
        d = draw(st.sampled_from([i for i, dim in enumerate(shape) if value(dim) % 2 == 0 and len(dim) == 1 and dim[0][0].isdigit()]))
        half = value(shape[d]) // 2
        shape[d] = [(str(half), half)] if half != 1 else []
        line = draw(st.sampled_from([f"{x}.chunk(2, dim={d})[1]", f"{x}.split({half}, dim={d})[0]"]))
    elif op == "narrow" and any(value(dim) >= 2 for dim in shape):
        d = draw(st.sampled_from([i for i, dim in enumerate(shape) if value(dim) >= 2]))
        length = draw(st.integers(1, value(shape[d]) - 1))
        shape[d] = [(str(length), length)] if length != 1 else []
        line = f"{x}.narrow({d}, 1, {length})"
    elif op == "torch.transpose" and rank >= 2:
        i, j = draw(st.lists(st.integers(-rank, rank - 1), min_size=2, max_size=2, unique=True).filter(lambda p: p[0] % rank != p[1] % rank))
        shape[i], shape[j] = shape[j], shape[i]
        line = f"torch.transpose({x}, {i}, {j})"
    else:
        line = f"{x}.clone()"
    return shape, line, op == "view"


HEADER = ["import torch", "import torch.nn.functional as F"]


def assemble(lines: list[str], view_lines: list[int], params: list[str], family: str = "views",
             header: tuple[str, ...] = (), extra: tuple[str, ...] = ()) -> Program:
    """The module around a function body (``view_lines`` index ``lines`` from 1); ``extra``
    parameters follow the size parameters (``p``: SDPA's ``dropout_p``)."""
    top = HEADER + list(header) + ["", "", f"def program({', '.join([*params, *extra])}):"]
    body = ["    " + line for line in lines] + ["    return y", ""]
    return Program("\n".join(top + body), params, [n + len(top) for n in view_lines], family, bool(extra))


@st.composite
def programs(draw) -> Program:
    params: list[str] = []
    shape: list[Dim] = []
    for _ in range(draw(st.integers(2, 4))):
        if draw(st.booleans()) and len(params) < len(PRIMES):
            name = list(PRIMES)[len(params)]
            params.append(name)
            shape.append([(name, PRIMES[name])])
        else:
            v = draw(st.integers(1, 5))
            shape.append([(str(v), v)] if v != 1 else [])
    lines = [f"x0 = torch.randn({', '.join(expr(d) for d in shape)})"]
    view_lines: list[int] = []
    for k in range(draw(st.integers(1, 5))):
        shape, line, is_view = step(draw, shape, params, f"x{k}")
        lines.append(f"x{k + 1} = {line}")
        if is_view:
            view_lines.append(len(lines))
    shape, target = draw(regroup(shape, f"x{len(lines) - 1}"))
    lines.append(f"y = x{len(lines) - 1}.view({target})")
    view_lines.append(len(lines))
    return assemble(lines, view_lines, params)
