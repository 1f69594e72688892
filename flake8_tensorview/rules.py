"""The rule registry: every code, its message template, fix safety and docs, in one place.

flake8 messages, the tests that require an eval fixture per code, and the docs read this table.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    message: str
    """``str.format`` template for the diagnostic text (without the code)."""
    fix: str
    """``safe``, ``unsafe`` or ``none`` (in Ruff's sense)."""
    what: str
    why: str
    example: str
    use_instead: str
    fix_safety: str
    limitations: str
    default: bool = True


RULES: dict[str, Rule] = {
    rule.code: rule
    for rule in (
        Rule(
            code="TV101",
            name="view-of-non-contiguous",
            message=(
                ".view() merges {merged}, which {op} on line {line} made non-adjacent in memory; "
                "call .contiguous() first or use .reshape()"
            ),
            fix="safe",
            what=(
                "Flags a `.view(...)` whose target shape merges dims that an earlier op "
                "(`transpose`, `permute`, `.t()`, `.T`, `.mT`, `movedim`, `expand`, strided slicing, ...) "
                "left non-adjacent in memory, so the view raises for every size where those dims are >= 2."
            ),
            why=(
                "`Tensor.view` never copies: it needs strides that fit the new shape. After a transpose, "
                "`view` raises `RuntimeError: view size is not compatible with input tensor's size and "
                "stride`. The bug hides when a dim happens to be 1 (`head_dim == 1`) and appears on the "
                "first real configuration."
            ),
            example=(
                "context = (attn @ values).transpose(1, 2)      # (b, T, H, hd), not contiguous\n"
                "out = context.view(b, num_tokens, self.d_out)  # merges H and hd"
            ),
            use_instead=(
                "context = (attn @ values).transpose(1, 2)\n"
                "out = context.contiguous().view(b, num_tokens, self.d_out)  # or .reshape(...)"
            ),
            fix_safety=(
                "Safe: `.contiguous().view(...)` returns the same values as a view that succeeds, with one "
                "copy where it would have raised."
            ),
            limitations=(
                "Sizes the analysis cannot relate are assumed to be independent and >= 2, and function "
                "parameters are assumed contiguous. Facts flow within one function (and from `__init__` "
                "to the other methods of a class); a tensor returned by an unknown call has no facts and "
                "is never flagged."
            ),
        ),
    )
}


def message(code: str, **fields: object) -> str:
    return f"{code} {RULES[code].message.format(**fields)}"
