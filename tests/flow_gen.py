"""Random functions and classes that move tensors through rebindings, loops, branches,
comprehensions, nested functions and ``__init__`` state, for the preselection test: what the
preselected file finds must be what the whole file finds.

The statements reuse a few names on purpose (``x = x.view(...).transpose(...)``, a binding after the
read it would feed, a loop bringing a later binding round), so that the order of bindings decides
whether a non-contiguous tensor reaches a ``.view``.
"""

from __future__ import annotations

from hypothesis import strategies as st

NAMES = ["x", "y", "self.w"]
SOURCES = ["torch.randn(2, 3, 4)", "x", "y", "self.w", "h"]


def values(read: str) -> list[str]:
    """Right-hand sides over ``read``, each a 3-D tensor when ``read`` is ``(2, 3, 4)``-like."""
    return [
        "torch.randn(2, 3, 4)",
        f"{read}.transpose(0, 1)",
        f"{read}.permute(2, 0, 1)",
        f"{read}[:, ::2]",
        f"{read}.contiguous()",
        f"{read} * 2.0",
        f"torch.matmul({read}, torch.randn(4, 4))",
        f"{read}.view(2, 3, 4).transpose(1, 2)",
        f"self.proj({read})",
        f"helper({read})",
        f"{read}.permute(0, 2, 1).contiguous()",
        f"{read}.mT",
        f"{read}.data",
        f"h * {read}.shape[1]",
    ]


@st.composite
def simple(draw) -> list[str]:
    target = draw(st.sampled_from(NAMES))
    read = draw(st.sampled_from(SOURCES))
    kind = draw(st.integers(0, 7))
    if kind <= 3:
        return [f"{target} = {draw(st.sampled_from(values(read)))}"]
    if kind == 4:
        return [f"out = {read}.view(-1)"]
    if kind == 5:
        return [f"{target} = {read}.view(6, 4)"]
    if kind == 6:
        return [f"out = [v.view(-1) for v in ({read}, {draw(st.sampled_from(SOURCES))})]"]
    return [f"out = (z := {draw(st.sampled_from(values(read)))}).view(-1)"]


@st.composite
def statements(draw, depth: int = 0) -> list[str]:
    kind = draw(st.integers(0, 9 if depth < 2 else 4))
    if kind <= 4:
        return draw(simple())
    body = [line for block in draw(st.lists(statements(depth + 1), min_size=1, max_size=3)) for line in block]
    inner = ["    " + line for line in body]
    if kind == 5:
        return ["for _ in range(2):", *inner]
    if kind == 6:
        other = [line for block in draw(st.lists(statements(depth + 1), min_size=1, max_size=2)) for line in block]
        return ["if flag:", *inner, "else:", *("    " + line for line in other)]
    if kind == 7:
        return ["while flag:", *inner]
    if kind == 8:
        return ["try:", *inner, "except ValueError:", "    pass"]
    return ["def inner():", *inner, "    return out"]


@st.composite
def body(draw) -> list[str]:
    return [line for block in draw(st.lists(statements(), min_size=1, max_size=6)) for line in block]


@st.composite
def flows(draw) -> str:
    """A module: a class whose ``__init__`` builds ``self.`` state and whose method reads it, and
    a plain function."""
    init = draw(body())
    method = draw(body())
    function = [line for line in draw(body()) if "self." not in line] or ["pass"]
    indent = "        "
    return "\n".join([
        "import torch",
        "from torch import nn",
        "",
        "",
        "class Block(nn.Module):",
        "    def __init__(self, h):",
        "        super().__init__()",
        "        self.proj = nn.Linear(4, 4)",
        *(indent + line for line in init),
        "",
        "    def forward(self, h, flag):",
        "        x = y = z = out = h",
        *(indent + line for line in method),
        "        return out",
        "",
        "",
        "def function(h, flag):",
        "    x = y = z = out = h",
        *("    " + line for line in function),
        "    return out",
        "",
    ])
