"""The fixtures are eval files: inline expectations, checked against the linter and against torch."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixture_harness import expectations, opted_in, run_scenarios, view_lines
from flake8_tensorview.linter import lint_source
from flake8_tensorview.rules import RULES

from conftest import FIXTURES

FIXTURE_FILES = sorted(FIXTURES.glob("*.py"))


def findings(path: Path, opt_in: set[str] | frozenset[str] = frozenset()) -> set[tuple[int, str]]:
    """Every finding of a whole-module run (TV301 sites need it: the preselection keeps only the
    functions that can hold a TV101/TV201 finding), with the codes off by default in ``opt_in``."""
    return {(d.line, d.code) for d in lint_source(path.read_text(), whole=True, opt_in=opt_in)}


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: p.name)
def test_linter_matches_inline_expectations(path: Path) -> None:
    """With the codes the fixture turns on (``# extend-select: TV103``), as a user would."""
    assert findings(path, opted_in(path)) == expectations(path)


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: p.name)
def test_default_selection_reports_only_default_codes(path: Path) -> None:
    """Without them, exactly the expectations of the codes on by default: the codes off by default
    stay off, and nothing else moves."""
    assert findings(path) == {(line, code) for line, code in expectations(path) if RULES[code].default}


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: p.name)
def test_torch_confirms_every_diagnosis(path: Path) -> None:
    outcome = run_scenarios(path)
    assert not outcome.other_errors
    flagged = {line for line, code in findings(path) if code in ("TV101", "TV102")}
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


ONE_PATH_RAISES = """
def merge_heads(tensor, num_heads, head_dim):
    if len(tensor.shape) == 5:
        tensor = tensor.permute(0, 1, 3, 2, 4).contiguous()
    elif len(tensor.shape) == 4:
        tensor = tensor.permute(0, 2, 1, 3)
    else:
        raise ValueError("rank 4 or 5")
    new_shape = tensor.size()[:-2] + (num_heads * head_dim,)
    return tensor.view(new_shape)
"""


def test_rank_split_view_raising_on_one_path_is_not_reported() -> None:
    """GPT-J's ``_merge_heads`` without the 4-D branch's ``.contiguous()``: torch raises for 4-D input
    and runs for 5-D. The paths are the ranks the function takes, not the ones its callers pass, so
    the linter stays silent (docs/rules.md, Known limitations): the same view with the 5-D branch's
    copy dropped instead would be a false alarm in GPT-J, whose forward passes 4-D only."""
    import torch

    namespace: dict[str, object] = {}
    exec(ONE_PATH_RAISES, namespace)
    merge_heads = namespace["merge_heads"]
    with pytest.raises(RuntimeError, match="view size is not compatible"):
        merge_heads(torch.randn(2, 2, 5, 4), 2, 4)  # type: ignore[operator]
    assert merge_heads(torch.randn(2, 3, 2, 5, 4), 2, 4).shape == (2, 3, 5, 8)  # type: ignore[operator]
    assert [d.code for d in lint_source(ONE_PATH_RAISES, whole=True)] == []


def test_rank_branch_mask_matters_on_one_path() -> None:
    """``fill_future``'s unsqueeze is redundant for 4-D scores and not for 2-D ones, so a rule that
    judged the mask on one path of the rank split would be wrong on the other."""
    import torch

    from fixture_harness import load

    branches = load(FIXTURES / "rank_branches.py")
    t = 5
    future = torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=1)
    all_heads = torch.randn(2, 3, t, t)
    assert torch.equal(branches.fill_future(all_heads), all_heads.transpose(2, 3).masked_fill(future, 0.0))
    one_head = torch.randn(t, t)
    assert branches.fill_future(one_head).shape == (1, t, t)
    assert one_head.t().masked_fill(future, 0.0).shape == (t, t)


def test_topk_accuracy_fails_only_beyond_top1() -> None:
    from fixture_harness import load

    acc = load(FIXTURES / "topk_accuracy.py")
    acc._run((1,))
    with pytest.raises(RuntimeError, match="view size is not compatible"):
        acc._run((1, 5))


def _load_variant(source: str, path: Path, tmp_path: Path, tag: str):  # type: ignore[no-untyped-def]
    from fixture_harness import load

    variant = tmp_path / f"{path.stem}_{tag}.py"
    variant.write_text(source)
    return load(variant)


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: p.name)
def test_removing_flagged_unsqueezes_changes_nothing(path: Path, tmp_path: Path) -> None:
    """TV201 oracle: each flagged chain removed on its own gives identical shapes and values."""
    from fixture_harness import load, results, same
    from flake8_tensorview.linter import fix_source

    source = path.read_text()
    flagged = [d for d in lint_source(source) if d.code == "TV201"]
    if not flagged:
        pytest.skip("no TV201 in this fixture")
    original = results(load(path))
    for d in flagged:
        fixed = fix_source(source, keep=lambda x, d=d: x == d)
        assert fixed != source
        variant = results(_load_variant(fixed, path, tmp_path, f"fix{d.line}"))
        assert original.keys() == variant.keys()
        for name in original:
            assert same(original[name], variant[name]), (d.line, name)


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: p.name)
def test_necessary_unsqueezes_matter(path: Path, tmp_path: Path) -> None:
    """Every unsqueeze marked necessary: taking it out raises or changes a result."""
    from fixture_harness import load, necessary_lines, results, same, without_insertions

    lines = necessary_lines(path)
    if not lines:
        pytest.skip("no necessary unsqueezes marked")
    original = results(load(path))
    flagged = {d.line for d in lint_source(path.read_text())}
    for line in lines:
        assert line not in flagged
        stripped = without_insertions(path.read_text(), line)
        assert stripped != path.read_text(), line
        variant = results(_load_variant(stripped, path, tmp_path, f"strip{line}"))
        assert any(not same(original[n], variant[n]) for n in original), line


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: p.name)
def test_fixed_fixtures_run_and_agree_with_torch(path: Path, tmp_path: Path) -> None:
    """``--fix`` on a copy: every view that raised now runs; results equal the ``.reshape`` correction
    and, wherever the original ran, the original's."""
    from fixture_harness import load, results, run_scenarios, same
    from flake8_tensorview.cli import main

    fixed, reference = tmp_path / "fixed" / path.name, tmp_path / "reference" / path.name
    for copy in (fixed, reference):
        copy.parent.mkdir()
        copy.write_text(path.read_text())
    main([str(fixed), "--fix", "-j", "1"])
    main([str(reference), "--fix", "--reshape", "-j", "1"])
    again = [d for d in lint_source(fixed.read_text()) if RULES[d.code].fix == "safe"]
    assert not again, "a second --fix would change something"
    outcome = run_scenarios(fixed)
    assert not outcome.view_errors and not outcome.other_errors
    original = results(load(path))
    after, corrected = results(load(fixed)), results(load(reference))
    for name in original:
        assert same(after[name], corrected[name]), name
        if not isinstance(original[name], type):
            assert same(after[name], original[name]), name


def test_fixed_mha_equals_the_books_corrected_class(tmp_path: Path) -> None:
    from fixture_harness import load, same
    from flake8_tensorview.cli import main

    copy = tmp_path / "mha.py"
    copy.write_text((FIXTURES / "llms_from_scratch_mha.py").read_text())
    main([str(copy), "--fix"])
    mha = load(copy)
    assert same(mha._run(mha.MultiHeadAttentionBuggy), mha._run(mha.MultiHeadAttention))


_CHAIN_FROM_A_HELPER = '''\
import torch


def make(t):
    return torch.tril(torch.ones(t, t)).bool()[None, None]


def fill(t):
    scores = torch.randn(2, 3, t, t)
    mask = make(t)
    out = scores.masked_fill(mask, 0.0)
{extra}    return out
'''
_OTHER_USES = {
    "a library call": "    out = out + torch.where(mask, 1.0, 0.0)\n",
    "arithmetic": "    out = out * mask\n",
    "an attribute": "    fill.cached = mask\n",
    "a return nobody in the file reads": "    return out, mask\n",
    "another caller's reduction": "    out = out + make(t).sum()\n",
}


@pytest.mark.parametrize("use", sorted(_OTHER_USES))
def test_a_chain_followed_by_value_is_kept_when_something_else_sees_it(use: str) -> None:
    """The helper's ``[None, None]`` reaches the fill through a return and a name: flagged when the
    fill is all that sees it, kept when anything else may see its leading dims."""
    flagged = [d for d in lint_source(_CHAIN_FROM_A_HELPER.format(extra="")) if d.code == "TV201"]
    assert [(d.line, d.code) for d in flagged] == [(5, "TV201")]
    source = _CHAIN_FROM_A_HELPER.format(extra=_OTHER_USES[use])
    assert not [d for d in lint_source(source) if d.code == "TV201"]
