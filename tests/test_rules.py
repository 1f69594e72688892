"""The registry feeds messages and docs; every code has docs, an eval fixture and a torch oracle."""

from __future__ import annotations

import re

import pytest

from conftest import FIXTURES, ROOT
from fixture_harness import expectations
from flake8_tensorview.docs import render
from flake8_tensorview.linter import CHECKS, analyze
from flake8_tensorview.rules import RULES

CODE = re.compile(r"^TV\d{3}$")  # flake8's own pattern allows at most 3 letters + 3 digits


def test_docs_are_generated_from_the_registry() -> None:
    assert (ROOT / "docs" / "rules.md").read_text() == render(), "run: python -m flake8_tensorview.docs > docs/rules.md"


@pytest.mark.parametrize("code", sorted(RULES))
def test_every_code_is_complete(code: str) -> None:
    rule = RULES[code]
    assert CODE.match(code)
    assert rule.fix in ("safe", "unsafe", "none")
    for section in (rule.what, rule.why, rule.example, rule.use_instead, rule.fix_safety, rule.limitations):
        assert section.strip()
    if code.startswith("TV9"):
        return  # internal errors have no fixture: tests/test_robustness.py injects one
    expected = set().union(*(expectations(p) for p in FIXTURES.glob("*.py")))
    assert any(c == code for _, c in expected), f"{code} has no eval fixture"


@pytest.mark.parametrize("code", sorted(RULES))
def test_every_code_has_a_changelog_line(code: str) -> None:
    assert code in (ROOT / "CHANGELOG.md").read_text()


def test_each_check_reports_only_the_codes_it_declares() -> None:
    """``checks_for`` skips a check whose codes are all left out, so a code it did not declare
    would go unreported whenever the others are off."""
    seen: set[str] = set()
    for path in sorted(FIXTURES.glob("*.py")):
        result = analyze(path.read_text(encoding="utf-8"), whole=True)
        assert result is not None, path
        walker, positions = result
        for check, codes in CHECKS:
            found = {d.code for d in check(walker, positions)}
            assert found <= set(codes), (path.name, check.__name__, found - set(codes))
            seen |= found
    assert seen >= {code for code in RULES if not code.startswith("TV9")}
