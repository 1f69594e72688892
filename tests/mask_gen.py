"""Random mask programs for the TV201 differential test.

Each program fills a tensor through a mask that went through a random chain of dim insertions.
Torch decides the truth: the chain is redundant exactly when the program with the chain taken out
runs and returns identical shapes and values.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import strategies as st

SIZES = {"b": 2, "h": 3, "t": 5, "s": 7}


@dataclass
class MaskProgram:
    source: str
    without: str
    """The same program with the insertion chain removed."""
    chain_line: int
    params: list[str]

    def args(self) -> list[int]:
        return [SIZES[p] for p in self.params]


@st.composite
def mask_programs(draw) -> MaskProgram:
    names = draw(st.lists(st.sampled_from(list(SIZES)), min_size=2, max_size=4))
    params = sorted(set(names), key=list(SIZES).index)
    dims = [n if draw(st.booleans()) else str(SIZES[n]) for n in names]
    k = draw(st.integers(1, len(dims)))
    mask_dims = [d if draw(st.integers(0, 4)) else "1" for d in dims[len(dims) - k :]]
    mask_rank = len(mask_dims)
    # the insertion chain
    chain = ""
    rank = mask_rank
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["unsqueeze", "none", "view"]))
        if kind == "unsqueeze":
            pos = draw(st.integers(-(rank + 1), rank))
            chain += f".unsqueeze({pos})"
        elif kind == "none":
            lead = draw(st.integers(1, 2))
            tail = draw(st.sampled_from(["", ", ...", ", " + ", ".join([":"] * rank)]))
            prefix = draw(st.sampled_from(["", ":, "])) if rank >= 1 and tail == "" else ""
            chain += "[" + prefix + ", ".join(["None"] * lead) + tail + "]"
            lead = lead
        else:
            lead = draw(st.integers(1, 2))
            chain = ""  # a view needs the base's full shape: only as the first op
            chain = f".view({', '.join(['1'] * lead + mask_dims)})"
            rank = mask_rank
        rank = rank + (lead if kind != "unsqueeze" else 1)
        if kind == "view":
            break
    wrap = draw(st.sampled_from(["{}", "{} == 0", "~{}", "{}.bool()"]))
    inline = draw(st.booleans())
    call = draw(st.sampled_from(["scores.masked_fill_({}, 0.0)", "scores.masked_fill({}, 0.0)", "torch.masked_fill(scores, {}, 0.0)", "scores.masked_fill(mask={}, value=0.0)"]))
    extra = draw(st.sampled_from(["", "", "", "m.sum(dim=0)", "torch.zeros_like(m)"])) if not inline else ""

    def build(ch: str) -> tuple[str, int]:
        lines = [
            f"scores = torch.randn({', '.join(dims)})",
            f"mask = torch.rand({', '.join(mask_dims) or ''}) > 0.5",
        ]
        if inline:
            lines.append("out = " + call.format(wrap.format(f"mask{ch}")))
            chain_line = len(lines)
        else:
            lines.append(f"m = mask{ch}")
            chain_line = len(lines)
            lines.append("out = " + call.format(wrap.format("m")))
        lines.append("out = scores if out is None else out")
        lines.append(f"return out, {extra}" if extra else "return out, scores")
        header = ["import torch", "", "", f"def program({', '.join(params)}):"]
        return "\n".join(header + ["    " + line for line in lines] + [""]), chain_line + len(header)

    source, chain_line = build(chain)
    without, _ = build("")
    return MaskProgram(source, without, chain_line, params)
