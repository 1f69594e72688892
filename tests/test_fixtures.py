"""The fixtures are eval files: inline expectations, checked against the linter and against torch."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixture_harness import expectations, run_scenarios, view_lines
from flake8_tensorview.linter import lint_source

from conftest import FIXTURES

FIXTURE_FILES = sorted(FIXTURES.glob("*.py"))


def findings(path: Path) -> set[tuple[int, str]]:
    return {(d.line, d.code) for d in lint_source(path.read_text())}


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: p.name)
def test_linter_matches_inline_expectations(path: Path) -> None:
    assert findings(path) == expectations(path)


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: p.name)
def test_torch_confirms_every_diagnosis(path: Path) -> None:
    outcome = run_scenarios(path)
    assert not outcome.other_errors
    flagged = {line for line, code in findings(path) if code == "TV101"}
    # every flagged view really raises the view-stride error, on that very line
    assert flagged <= set(outcome.view_errors), {
        line: "did not raise" for line in flagged - set(outcome.view_errors)
    }
    # every view that raised was flagged: no silent misses in the fixtures
    assert set(outcome.view_errors) <= flagged
    # every unflagged .view line was executed by some scenario, and ran
    unflagged = view_lines(path) - flagged
    assert unflagged <= outcome.executed, sorted(unflagged - outcome.executed)


def test_fixtures_cover_the_required_patterns() -> None:
    names = {p.stem for p in FIXTURE_FILES}
    assert {"llms_from_scratch_mha", "nanogpt_attention", "hf_attention", "vision_blocks", "topk_accuracy"} <= names


def test_mha_head_dim_one_hides_the_bug() -> None:
    """The seed's degenerate case: d_out == num_heads (head_dim 1) runs, d_out=4 raises."""
    from fixture_harness import load

    mha = load(FIXTURES / "llms_from_scratch_mha.py")
    mha._run(mha.MultiHeadAttentionBuggy, d_out=2, num_heads=2)
    with pytest.raises(RuntimeError, match="view size is not compatible"):
        mha._run(mha.MultiHeadAttentionBuggy, d_out=4, num_heads=2)


def test_topk_accuracy_fails_only_beyond_top1() -> None:
    from fixture_harness import load

    acc = load(FIXTURES / "topk_accuracy.py")
    acc._run((1,))
    with pytest.raises(RuntimeError, match="view size is not compatible"):
        acc._run((1, 5))
