"""Random programs around the ops whose output layout torch decides itself, for the differential test:
``F.scaled_dot_product_attention`` (``sdpa``), two-operand ``torch.einsum`` contractions (``einsum``),
channels-last conversions and convolutions (``channels_last``) and ``nn.LSTM``/``nn.GRU`` outputs
(``rnn``). Each program builds its inputs, calls the op, pushes the result through the random op
chain of :mod:`program_gen` and views it; sizes are literals or parameters, as there.

An ``sdpa`` program takes ``dropout_p`` as its last parameter ``p``, so that the test can run it on
each CPU kernel (math with ``p > 0``, flash with ``p == 0``) and on an emulation of CUDA's
memory-efficient kernel.
"""

from __future__ import annotations

from hypothesis import strategies as st

from program_gen import PRIMES, Dim, Draw, Program, assemble, expr, regroup, step, value


def size(draw: Draw, params: list[str], low: int, high: int, symbolic: bool = True) -> Dim:
    """A dim: the next size parameter, or a literal in ``low..high`` (1 is the empty product)."""
    if symbolic and len(params) < len(PRIMES) and draw(st.integers(0, 2)) == 0:
        name = list(PRIMES)[len(params)]
        params.append(name)
        return [(name, PRIMES[name])]
    n = draw(st.integers(low, high))
    return [(str(n), n)] if n != 1 else []


def tail(draw: Draw, lines: list[str], view_lines: list[int], shape: list[Dim], params: list[str],
         start: int, longest: int = 3) -> None:
    """The op chain of ``program_gen`` on ``x{start}`` and the final ``y = ....view(...)``."""
    k = start
    for _ in range(draw(st.integers(0, longest))):
        shape, line, is_view = step(draw, shape, params, f"x{k}")
        lines.append(f"x{k + 1} = {line}")
        k += 1
        if is_view:
            view_lines.append(len(lines))
    _, target = draw(regroup(shape, f"x{k}"))
    lines.append(f"y = x{k}.view({target})")
    view_lines.append(len(lines))


# ---- scaled_dot_product_attention ----------------------------------------------------------------

Q_LAYOUTS = ("nanogpt", "projection", "contiguous", "contiguous-copy", "fused", "seq-first", "head-major", "last-strided")
"""How the query (and mostly k and v) is built: nanoGPT's ``split`` + ``view`` + ``transpose``
(``bthd`` memory), a separate projection viewed the same way, a fresh ``(b, h, t, d)`` tensor, the
nanoGPT query made contiguous, a fused ``qkv.view(b, t, 3, h, d).permute(2, 0, 3, 1, 4)``, a
sequence-first ``tbhd`` tensor, a ``hbtd`` tensor, and a head dim with a stride (math only)."""


def heads(layout: str, b: str, h: str, t: str, d: str, hd: str, names: str = "q, k, v", fused: str = "qkv") -> list[str]:
    """Lines that bind ``names`` (three tensors of logical shape ``(b, h, t, d)``) in ``layout``,
    through a fused tensor called ``fused`` where the layout has one."""
    each = names.split(", ")
    if layout == "nanogpt":
        return [f"{fused} = torch.randn({b}, {t}, 3 * {hd})", f"{names} = {fused}.split({hd}, dim=2)"] + [
            f"{n} = {n}.view({b}, {t}, {h}, {d}).transpose(1, 2)" for n in each
        ]
    if layout == "projection":
        return [f"{n} = torch.randn({b}, {t}, {hd}).view({b}, {t}, {h}, {d}).transpose(1, 2)" for n in each]
    if layout == "contiguous":
        return [f"{n} = torch.randn({b}, {h}, {t}, {d})" for n in each]
    if layout == "contiguous-copy":
        return [f"{n} = torch.randn({b}, {t}, {h}, {d}).transpose(1, 2).contiguous()" for n in each]
    if layout == "fused":
        return [f"{fused} = torch.randn({b}, {t}, 3 * {hd}).view({b}, {t}, 3, {h}, {d}).permute(2, 0, 3, 1, 4)", f"{names} = {fused}.unbind(0)"]
    if layout == "seq-first":
        return [f"{n} = torch.randn({t}, {b}, {hd}).view({t}, {b}, {h}, {d}).permute(1, 2, 0, 3)" for n in each]
    if layout == "head-major":
        return [f"{n} = torch.randn({h}, {b}, {t}, {d}).transpose(0, 1)" for n in each]
    return [f"{n} = torch.randn({b}, {h}, {d}, {t}).transpose(2, 3)" for n in each]


@st.composite
def sdpa_programs(draw: Draw) -> Program:
    params: list[str] = []
    b, h, t, d = (size(draw, params, 1, high) for high in (3, 4, 5, 6))
    layout = draw(st.sampled_from(Q_LAYOUTS))
    texts = [expr(dim) for dim in (b, h, t, d)]
    lines = heads(layout, *texts, expr(h + d))
    if draw(st.integers(0, 3)) == 0:  # k and v never change the output's layout: vary them alone
        kv = draw(st.sampled_from(Q_LAYOUTS[:-1]))
        lines += heads(kv, *texts, expr(h + d), names="unused, k, v", fused="kv")
    view_lines = [n + 1 for n, line in enumerate(lines) if ".view(" in line]
    causal = ", is_causal=True" if draw(st.integers(0, 3)) == 0 else ""
    lines.append(f"x0 = F.scaled_dot_product_attention(q, k, v, dropout_p=p{causal})")
    shape = [b, h, t, d]
    if draw(st.booleans()):  # merge the heads back, as every attention block does
        lines.append("x1 = x0.transpose(1, 2)")
        last = draw(st.sampled_from([expr(h + d), "-1", f"{texts[1]} * x1.size(-1)" if texts[1] != "1" else "-1"]))
        lines.append(f"y = x1.view({texts[0]}, {texts[2]}, {last})")
        view_lines.append(len(lines))
    else:
        tail(draw, lines, view_lines, shape, params, 0)
    return assemble(lines, view_lines, params, "sdpa", extra=("p",))


# ---- einsum ---------------------------------------------------------------------------------------


def operand(draw: Draw, spec: str, sizes: dict[str, Dim]) -> str:
    """A tensor with one dim per label of ``spec``, fresh or transposed."""
    dims = [expr(sizes[c]) for c in spec]
    if len(dims) >= 2 and draw(st.integers(0, 2)) == 0:
        i, j = draw(st.lists(st.integers(0, len(dims) - 1), min_size=2, max_size=2, unique=True))
        dims[i], dims[j] = dims[j], dims[i]
        return f"torch.randn({', '.join(dims)}).transpose({i}, {j})"
    return f"torch.randn({', '.join(dims)})"


@st.composite
def einsum_programs(draw: Draw) -> Program:
    """``torch.einsum('..,..->..', l, r)`` with at least one label summed over: labels kept in both
    operands (batch), kept in one, summed in both, and now and then one summed in one operand only
    (which ATen reduces first: a road the linter leaves unknown)."""
    params: list[str] = []
    letters = iter(draw(st.permutations("ijklmnopq")))
    counts = [draw(st.integers(0, 2)), draw(st.integers(0, 2)), draw(st.integers(0, 2)), draw(st.integers(1, 2))]
    if sum(counts[:3]) == 0:
        counts[1] = 1
    batch, left, right, summed = ([next(letters) for _ in range(n)] for n in counts)
    lonely = [next(letters)] if draw(st.integers(0, 7)) == 0 else []
    sizes = {c: size(draw, params, 1 if draw(st.integers(0, 9)) == 0 else 2, 5) for c in batch + left + right + summed + lonely}
    lspec = "".join(draw(st.permutations(batch + left + summed + lonely)))
    rspec = "".join(draw(st.permutations(batch + right + summed)))
    out = "".join(draw(st.permutations(batch + left + right)))
    lines = [f"l0 = {operand(draw, lspec, sizes)}", f"r0 = {operand(draw, rspec, sizes)}", f"x0 = torch.einsum('{lspec},{rspec}->{out}', l0, r0)"]
    view_lines: list[int] = []
    tail(draw, lines, view_lines, [sizes[c] for c in out], params, 0)
    return assemble(lines, view_lines, params, "einsum")


# ---- channels_last --------------------------------------------------------------------------------


@st.composite
def channels_last_programs(draw: Draw) -> Program:
    """A 4-D ``(n, c, h, w)`` tensor made channels-last (``.to``, ``.contiguous``, a channels-last
    conv or batch norm, or a conv whose weight is channels-last), then chained and viewed, often
    with the channels moved last (``permute(0, 2, 3, 1)``), which channels-last memory keeps
    dense."""
    params: list[str] = []
    n, c, h, w = size(draw, params, 1, 3), size(draw, params, 1, 5), size(draw, params, 1, 5), size(draw, params, 1, 5)
    shape = [n, c, h, w]
    lines = [f"x0 = torch.randn({', '.join(expr(dim) for dim in shape)})"]
    fmt = draw(st.sampled_from(["x0.to(memory_format=torch.channels_last)", "x0.contiguous(memory_format=torch.channels_last)", "x0"]))
    kind = draw(st.sampled_from(["convert", "conv", "batchnorm"]))
    if kind == "convert":
        lines.append(f"x1 = {fmt if fmt != 'x0' else 'x0.to(memory_format=torch.channels_last)'}")
    else:
        if kind == "batchnorm":
            # training needs more than one value per channel
            module = f"nn.BatchNorm2d({expr(c)})" + (".eval()" if value(n) * value(h) * value(w) == 1 or draw(st.booleans()) else "")
        else:
            out, kernel = draw(st.integers(1, 5)), draw(st.sampled_from([1, 3]))
            literal = all(len(dim) == 1 and dim[0][0].isdigit() for dim in (h, w))
            stride = 2 if literal and draw(st.booleans()) else 1
            module = f"nn.Conv2d({expr(c)}, {out}, {kernel}, stride={stride}, padding={kernel // 2})"
            if draw(st.integers(0, 2)) == 0:
                # a channels-last weight makes the output channels-last too, whatever the input
                module += ".to(memory_format=torch.channels_last)"
            # padding = kernel // 2 keeps the spatial sizes at stride 1
            spatial = [dim if stride == 1 else [(str(s), s)] if (s := (value(dim) - 1) // 2 + 1) != 1 else [] for dim in (h, w)]
            shape = [n, [(str(out), out)] if out != 1 else [], *spatial]
        if draw(st.booleans()):
            lines += [f"m = {module}", f"x1 = m({fmt})"]
        else:
            lines.append(f"x1 = {module}({fmt})")
    view_lines: list[int] = []
    if draw(st.booleans()):
        lines.append("x2 = x1.permute(0, 2, 3, 1)")
        shape = [shape[0], shape[2], shape[3], shape[1]]
        tail(draw, lines, view_lines, shape, params, 2, longest=1)
    else:
        tail(draw, lines, view_lines, shape, params, 1, longest=2)
    return assemble(lines, view_lines, params, "channels_last", header=("from torch import nn",))


# ---- LSTM / GRU -----------------------------------------------------------------------------------


@st.composite
def rnn_programs(draw: Draw) -> Program:
    """``nn.LSTM``/``nn.GRU`` (``batch_first`` mostly, layers, directions, ``proj_size``) on a
    batched or unbatched input, its output (or its last hidden state) chained and viewed."""
    params: list[str] = []
    kind = draw(st.sampled_from(["LSTM", "GRU"]))
    batch, steps, features = size(draw, params, 1, 3), size(draw, params, 1, 4), size(draw, params, 1, 5)
    hidden = draw(st.integers(2, 5))
    layers, bidirectional = draw(st.integers(1, 2)), draw(st.booleans())
    batch_first = draw(st.integers(0, 3)) != 0
    proj = draw(st.integers(1, hidden - 1)) if kind == "LSTM" and draw(st.integers(0, 3)) == 0 else 0
    arguments = [expr(features), str(hidden)]
    if layers > 1:
        arguments.append(f"num_layers={layers}")
    arguments += [f"batch_first={batch_first}"] + (["bidirectional=True"] if bidirectional else []) + ([f"proj_size={proj}"] if proj else [])
    module = f"nn.{kind}({', '.join(arguments)})"
    batched = draw(st.integers(0, 4)) != 0
    outer = [batch, steps] if batch_first else [steps, batch]
    dims = outer + [features] if batched else [steps, features]
    if batched and draw(st.integers(0, 3)) == 0:  # a transposed input
        source = f"torch.randn({expr(dims[1])}, {expr(dims[0])}, {expr(features)}).transpose(0, 1)"
    else:
        source = f"torch.randn({', '.join(expr(dim) for dim in dims)})"
    directions = 2 if bidirectional else 1
    width = proj or hidden
    features_out: Dim = [(str(directions * width), directions * width)]
    lines = [f"rnn = {module}"]
    if draw(st.integers(0, 5)) == 0:  # the last hidden state: (layers * directions, [batch,] width)
        pick = "[1][0]" if kind == "LSTM" else "[1]"
        lines.append(f"x1 = rnn({source}){pick}")
        shape = [[(str(layers * directions), layers * directions)] if layers * directions != 1 else []] + ([batch] if batched else []) + [[(str(width), width)]]
    else:
        lines.append(draw(st.sampled_from([f"x1 = rnn({source})[0]", f"x1, _ = rnn({source})"])))
        shape = dims[:-1] + [features_out]
    view_lines: list[int] = []
    tail(draw, lines, view_lines, shape, params, 1, longest=2)
    return assemble(lines, view_lines, params, "rnn", header=("from torch import nn",))


FAMILIES = {
    "sdpa": sdpa_programs,
    "einsum": einsum_programs,
    "channels_last": channels_last_programs,
    "rnn": rnn_programs,
}
