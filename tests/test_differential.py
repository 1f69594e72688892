"""Differential test: random programs linted through the plugin and executed with torch.

``TV_DIFF_EXAMPLES`` sets how many programs hypothesis tries (default 400; e.g. 5000 for a long run).
"""

from __future__ import annotations

import ast
import os
import traceback
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from flake8_tensorview.plugin import TensorViewChecker
from mask_gen import MaskProgram, mask_programs
from program_gen import Program, programs

VIEW_ERROR = "view size is not compatible"
STATS = {"views": {"raised": 0, "caught": 0}, "masks": {"raised": 0, "caught": 0}}
"""Counts across the hypothesis examples of this module, for the recall tests that follow them."""
EXAMPLES = int(os.environ.get("TV_DIFF_EXAMPLES", "400"))
DERANDOMIZE = "TV_DIFF_RANDOM" not in os.environ


def lint_file(path: Path) -> set[int]:
    lines = path.read_text().splitlines(keepends=True)
    checker = TensorViewChecker(ast.parse("".join(lines)), lines, str(path))
    return {line for line, _, message, _ in checker.run() if message.startswith("TV101")}


def run_file(path: Path, program: Program) -> int | None:
    """The line whose view raised the stride error, or None when the program ran."""
    scope: dict[str, object] = {}
    exec(compile(path.read_text(), str(path), "exec"), scope)
    try:
        scope["program"](*program.args())  # type: ignore[operator]
    except RuntimeError as exc:
        assert VIEW_ERROR in str(exc), exc
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == str(path)]
        return frames[-1].lineno
    return None


def verdicts(program: Program, directory: Path) -> tuple[set[int], set[int], set[int]]:
    """(flagged, failed, executed view lines)."""
    path = directory / "program.py"
    path.write_text(program.source)
    flagged = lint_file(path)
    failed = run_file(path, program)
    executed = {n for n in program.view_lines if failed is None or n <= failed}
    return flagged & executed, ({failed} if failed else set()), executed


# derandomized: the recall bounds below are over a fixed set of programs, not a lucky draw
# (TV_DIFF_RANDOM=1 draws a fresh set; scripts/differential.py runs long random ones)
@settings(max_examples=EXAMPLES, deadline=None, derandomize=DERANDOMIZE, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(program=programs())
def test_linter_agrees_with_torch(program: Program, tmp_path: Path) -> None:
    """No false positive ever; misses are counted, and the next test bounds them."""
    flagged, failed, _ = verdicts(program, tmp_path)
    assert flagged <= failed, program.source
    STATS["views"]["raised"] += len(failed)
    STATS["views"]["caught"] += len(flagged & failed)


def test_view_recall() -> None:
    raised, caught = STATS["views"]["raised"], STATS["views"]["caught"]
    if raised < 10:
        pytest.skip("run together with test_linter_agrees_with_torch")
    assert caught / raised >= 0.95, STATS["views"]


# ---- TV201 --------------------------------------------------------------------------------------

MASK_EXAMPLES = int(os.environ.get("TV_DIFF_MASK_EXAMPLES", "150"))


def run_mask(source: str, path: Path, program: MaskProgram) -> object:
    path.write_text(source)
    scope: dict[str, object] = {}
    exec(compile(source, str(path), "exec"), scope)
    import torch

    torch.manual_seed(0)
    try:
        return scope["program"](*program.args())  # type: ignore[operator]
    except RuntimeError as exc:
        return type(exc)


def mask_verdict(program: MaskProgram, directory: Path) -> tuple[bool, bool] | None:
    """(flagged, redundant by torch), or None when the program as written does not run."""
    from fixture_harness import same

    path = directory / "masks.py"
    original = run_mask(program.source, path, program)
    if isinstance(original, type):
        return None
    without = run_mask(program.without, directory / "masks_without.py", program)
    redundant = not isinstance(without, type) and same(original, without)
    path.write_text(program.source)
    lines = path.read_text().splitlines(keepends=True)
    checker = TensorViewChecker(ast.parse("".join(lines)), lines, str(path))
    flagged = any(line == program.chain_line and msg.startswith("TV201") for line, _, msg, _ in checker.run())
    return flagged, redundant


@settings(max_examples=MASK_EXAMPLES, deadline=None, derandomize=DERANDOMIZE, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(program=mask_programs())
def test_mask_verdicts_agree_with_torch(program: MaskProgram, tmp_path: Path) -> None:
    verdict = mask_verdict(program, tmp_path)
    if verdict is None:
        return
    flagged, redundant = verdict
    assert not flagged or redundant, program.source
    STATS["masks"]["raised"] += redundant
    STATS["masks"]["caught"] += flagged and redundant


def test_mask_recall() -> None:
    redundant, caught = STATS["masks"]["raised"], STATS["masks"]["caught"]
    if redundant < 10:
        pytest.skip("run together with test_mask_verdicts_agree_with_torch")
    assert caught / redundant >= 0.95, STATS["masks"]
