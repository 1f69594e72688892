"""Render the rule docs from the registry: ``python -m flake8_tensorview.docs > docs/rules.md``."""

from __future__ import annotations

from .rules import RULES, Rule


def render_rule(rule: Rule) -> str:
    enabled = "" if rule.default else " (off by default)"
    return "\n".join(
        [
            f"## {rule.code} `{rule.name}`{enabled}",
            "",
            "### What it does",
            rule.what,
            "",
            "### Why is this bad?",
            rule.why,
            "",
            "### Example",
            "```python",
            rule.example,
            "```",
            "",
            "### Use instead",
            "```python",
            rule.use_instead,
            "```",
            "",
            "### Fix safety",
            rule.fix_safety,
            "",
            "### Known limitations",
            rule.limitations,
            "",
        ]
    )


def render() -> str:
    header = "# Rules\n\nGenerated from `flake8_tensorview/rules.py` by `python -m flake8_tensorview.docs`.\n\n"
    return header + "\n".join(render_rule(rule) for rule in RULES.values())


if __name__ == "__main__":
    print(render(), end="")
