"""The real-world evaluation set (fixtures/realworld): torch confirms every truth label, every file
says where it comes from, and the linter's score on it may only go up.

The score itself is printed by ``python scripts/realworld.py``.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import ROOT
from fixture_harness import load, results, run_scenarios, same

# Recall the linter reaches today on the set, per rule: a ratchet. Raise a floor when the linter
# gets better (python scripts/realworld.py prints the current recall); never lower one on the same
# files (a floor follows the set down only when held-out cases the linter misses join it, said here).
# TV201 was 1.0 on 5 chains; the set then grew by 6 chains from LLMs-from-scratch's Gemma 3/4 and Tiny
# Aya and transformers' BROS, PP-DocLayout (9 of 11 found), then by 5 held-out chains (espnet, MPNet,
# Qwen 3/3.5, a causal-mask helper; 3 of 5 found when added): 15 of 16 now. TV101 was 0.868 on 53
# failing views; 7 held-out views from fix commits (lm-lstm-crf, ComfyUI, kbqa, IBM seq2seq,
# DecoupleGCN, multimodal, OpenNMT) were all missed when added, so the floor followed the grown set
# down to 0.78; 5 of the 7 are found now (58 of 60), and the floor went back up to 0.95. Then 8
# more held-out files (``ho_*``: capsule-net, kornia, Megatron-LM twice, LBFGSNew, SparseConvNet,
# piqa, a DCRNN negative), written from their sources without running the linter, added 9 failing
# views: 2 were found when they came (kornia's), and piqa's once a path that returns stopped joining
# what comes after it (3 of 9); the floor follows the grown set down to 0.88 (61 of 69). A third
# held-out batch (``h3_*``: AdelaiDet FCOS and SOLOv2, a point-cloud generator, simple-A2C-PPO,
# pytorch_geometric_temporal's AAGCN, neuralforecast, NeuralDialog-ZSDG, TGI's GPT-NeoX, nlp-tutorial),
# written the same way, added 8 failing views and 3 negative files: 1 was found when they came
# (FCOS), and TGI's once a caller whose own permute makes what it hands over is kept (2 of 8); the
# floor follows the grown set down to 0.81 (63 of 77), and without the scenarios to 0.41 (32 of 77).
# Then ``Fn.apply`` of a ``torch.autograd.Function`` runs its ``forward`` (SparseConvNet, from the
# second batch): 64 of 77, the floor goes up to 0.83. A module of at most 400 lines then gives every
# candidate its whole closure (AAGCN's demo, three calls up, twice: 66 of 77, 0.85), and a list
# grown by ``append`` holds what went in (the batched-KV Qwen3's per-sample keys: TV201 16 of 16),
# as does one grown on an attribute (AAGCN's ``self.conv_b``: 67 of 77). A fourth held-out batch
# (``h4_*``: open-instruct, a time-series MAE, nanochat's SFT targets, DeepAFx-ST twice, SSH, DGNN,
# the disentangling VAE's View layer, and Informer2020, DGCNN and DDPM negatives), written the same
# way, added 9 failing views: 4 were found when they came, with no false alarm on the negatives; the
# floor follows the grown set down to 0.82 (71 of 86), and without the scenarios to 0.39 (34 of 86).
# Then a bound method taken as a value with the size-1 strides torch allocates (capsule-net, twice)
# and a module-level dict that a function fills (DeepAFx-ST, twice): 75 of 86, the floor goes up to
# the bar, 0.85, and without the scenarios to 0.40 (35 of 86). A fifth held-out batch
# (``h5a_*``, ``h5b_*``: RecBole's GRU4Rec, ParlAI's DrQA and BART, open_lm, segmentation_models'
# Segformer loss, tianshou's DQN, PoinTr's DGCNN grouper, TSM's accuracy, and WeNet and ExtrudeNet
# negatives), written the same way, added 10 failing views: 3 were found when they came, with no
# false alarm on the negatives; then ``F.interpolate``/``nn.Upsample`` and subclasses of
# ``nn.Sequential`` (Segformer), ``functools.partial``, dataclass fields and an einsum operand of
# unknown origin (open_lm): 80 of 96, and the floor follows the grown set down to 0.83 (0.39
# without the scenarios, 38 of 96). Then a base method reached through ``super()`` dispatches
# ``self.m()`` on the subclass, typed constructors (``torch.LongTensor([i])``) and ``F.linear`` of
# a weight without facts keep their shapes (ParlAI's BART, twice): 82 of 96, the floor goes back
# up to 0.85.
# Without the files' scenarios (``realworld.without_scenarios``: no call site in the file gives the
# model its sizes and flags, as when the training script is another file) recall is lower: a floor
# of its own, the same ratchet.
RECALL_FLOORS = {"TV101": 0.85, "TV102": 0.9, "TV201": 1.0}
BARE_RECALL_FLOORS = {"TV101": 0.39, "TV102": 0.8, "TV201": 0.75}
# Precision, per rule, the same way: the issues' bar, 0.95 for every rule. TV101 has one known false
# alarm, a TV102 line whose SDPA output reaches the merge only through a parameter nothing in the
# file passes (jaxtyping_merge_heads_imported.py): the prior, a contiguous tensor, makes it TV101.
PRECISION_FLOORS = {"TV101": 0.95, "TV102": 0.95, "TV201": 0.95}
MIN_FILES = 165


def _load_script():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("realworld_script", ROOT / "scripts" / "realworld.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


realworld = _load_script()
CASES = realworld.cases()
IDS = [c.name for c in CASES]


def _attribute_lines(path: Path, names: tuple[str, ...]) -> set[int]:
    """Lines of the attribute of each call of ``.name(...)``: where the linter reports."""
    import ast

    return {
        node.func.end_lineno
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in names
    }


def _variant(source: str, path: Path, tmp_path: Path, tag: str):  # type: ignore[no-untyped-def]
    variant = tmp_path / f"{path.stem}_{tag}.py"
    variant.write_text(source)
    return load(variant)


# ---- the set itself --------------------------------------------------------------------------------


def test_the_set_is_big_and_mixed() -> None:
    assert len(CASES) >= MIN_FILES
    per_category: dict[str, int] = {}
    for case in CASES:
        per_category[case.category] = per_category.get(case.category, 0) + 1
    cross_function = sum(n for c, n in per_category.items() if c not in ("same function", "negative", "mask"))
    assert cross_function >= 0.3 * len(CASES), per_category
    assert per_category.get("same function", 0) >= 5, per_category
    assert per_category.get("negative", 0) >= 0.25 * len(CASES), per_category
    assert per_category.get("mask", 0) >= 5, per_category
    labels = [code for case in CASES for _, code in case.truth]
    assert labels.count("TV101") >= 25 and labels.count("TV102") >= 8 and labels.count("TV201") >= 5
    assert sum(len(case.necessary) for case in CASES) >= 3


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_each_file_names_its_source_and_category(case) -> None:  # type: ignore[no-untyped-def]
    assert case.source and len(case.source) > 15, "docstring needs a 'Source: repo path / URL' line"
    assert case.category in realworld.CATEGORIES, case.category
    codes = {code for _, code in case.truth}
    if case.category == "negative":
        assert not codes, "a negative file has no TV101/TV201 truth"
    elif case.category == "mask":
        assert "TV101" not in codes and (codes or case.necessary)
    else:
        assert codes & {"TV101", "TV102"}, f"a {case.category!r} file has at least one failing view"


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_labels_sit_on_the_reported_lines(case) -> None:  # type: ignore[no-untyped-def]
    views = _attribute_lines(case.path, ("view", "view_as"))
    lines = case.path.read_text().splitlines()
    for line, code in case.truth:
        assert code in realworld.RULES, (line, code)
        if code in ("TV101", "TV102"):
            assert line in views, f"line {line}: no .view/.view_as attribute there"
        else:
            assert re.search(r"\.unsqueeze\(|\[None|\.view\(1,|\.reshape\(1,", lines[line - 1]), line


# ---- torch confirms the truth ---------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_torch_confirms_the_view_labels(case) -> None:  # type: ignore[no-untyped-def]
    outcome = run_scenarios(case.path)
    assert not outcome.other_errors
    labelled = {line for line, code in case.truth if code in ("TV101", "TV102")}
    # every labelled view raises the view-stride error on its own line, in some scenario
    assert labelled <= set(outcome.view_errors), sorted(labelled - set(outcome.view_errors))
    # and nothing else does: every unlabelled view ran
    assert set(outcome.view_errors) <= labelled, sorted(set(outcome.view_errors) - labelled)
    unlabelled = _attribute_lines(case.path, ("view", "view_as")) - labelled
    assert unlabelled <= outcome.executed, f"never executed: {sorted(unlabelled - outcome.executed)}"


TV102_CASES = [c for c in CASES if any(code == "TV102" for _, code in c.truth)]


@pytest.mark.parametrize("case", TV102_CASES, ids=[c.name for c in TV102_CASES])
def test_torch_confirms_the_tv102_labels_depend_on_the_kernel(case) -> None:  # type: ignore[no-untyped-def]
    """A TV102 line raises in one scenario (CPU math) and runs in another (CPU flash); a TV101 line
    never runs."""
    module = load(case.path)
    raised: dict[int, set[str]] = {}
    ran: dict[int, set[str]] = {}
    for name, scenario in module.SCENARIOS.items():
        outcome = run_scenarios(case.path, SimpleNamespace(SCENARIOS={name: scenario}))  # type: ignore[arg-type]
        assert not outcome.other_errors
        for line in outcome.executed - set(outcome.view_errors):
            ran.setdefault(line, set()).add(name)
        for line in outcome.view_errors:
            raised.setdefault(line, set()).add(name)
    for line, code in sorted(case.truth):
        if code == "TV102":
            assert raised.get(line) and ran.get(line), (line, raised.get(line), ran.get(line))


MASK_CASES = [c for c in CASES if any(code == "TV201" for _, code in c.truth) or c.necessary]


@pytest.mark.parametrize("case", MASK_CASES, ids=[c.name for c in MASK_CASES])
def test_torch_confirms_the_mask_labels(case, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """TV201: the chain removed gives identical shapes and values in every scenario. necessary: taking
    the insertions out raises or changes a result."""
    source = case.path.read_text()
    original = results(load(case.path))
    assert not any(isinstance(r, type) for r in original.values()), "mask scenarios must run"
    for line in sorted(line for line, code in case.truth if code == "TV201"):
        stripped = realworld.without_chain(source, line)
        assert stripped != source, line
        variant = results(_variant(stripped, case.path, tmp_path, f"chain{line}"))
        for name in original:
            assert same(original[name], variant[name]), (line, name)
    for line in case.necessary:
        stripped = realworld.without_chain(source, line)
        assert stripped != source, line
        variant = results(_variant(stripped, case.path, tmp_path, f"necessary{line}"))
        assert any(not same(original[n], variant[n]) for n in original), line


# ---- the linter's score ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def report():  # type: ignore[no-untyped-def]
    return realworld.score(CASES, {case.path: realworld.lint(case) for case in CASES})


@pytest.mark.parametrize("rule", realworld.RULES)
def test_precision_on_real_code(report, rule: str) -> None:  # type: ignore[no-untyped-def]
    tally = report.rules[rule]
    if tally.precision is None:
        pytest.skip(f"no {rule} findings on the set")
    alarms = [a for a in report.false_alarms if a[2] == rule]
    assert tally.precision >= PRECISION_FLOORS[rule], alarms


@pytest.mark.parametrize("rule", realworld.RULES)
def test_recall_does_not_drop_below_the_floor(report, rule: str) -> None:  # type: ignore[no-untyped-def]
    tally = report.rules[rule]
    assert tally.recall is not None, f"the set has no {rule} truth"
    misses = [m for m in report.misses if m[2] == rule]
    assert tally.recall >= RECALL_FLOORS[rule], misses


@pytest.fixture(scope="module")
def bare_report():  # type: ignore[no-untyped-def]
    return realworld.score(CASES, {case.path: realworld.lint(case, cut=True) for case in CASES})


@pytest.mark.parametrize("rule", realworld.RULES)
def test_recall_without_the_scenarios(bare_report, rule: str) -> None:  # type: ignore[no-untyped-def]
    tally = bare_report.rules[rule]
    assert tally.recall is not None and tally.recall >= BARE_RECALL_FLOORS[rule], [m for m in bare_report.misses if m[2] == rule]
    assert tally.precision is None or tally.precision >= PRECISION_FLOORS[rule], bare_report.false_alarms


def test_cutting_the_scenarios_keeps_the_model_and_its_labels() -> None:
    """``_run`` and the ``_model`` only it calls go, a labelled function the scenarios call stays,
    and every line keeps its number."""
    source = (
        "import torch\n\n\n"
        "def _flatten(x):\n    return x.t().view(-1)  # truth: TV101\n\n\n"
        "def _model():\n    return torch.randn(2, 3)\n\n\n"
        "def _run():\n    return _flatten(_model())\n\n\n"
        "SCENARIOS = {'run': _run, 'direct': lambda: _flatten(torch.randn(3, 2))}\n"
    )
    cut = realworld.without_scenarios(source, {5})
    assert cut.count("\n") == source.count("\n")
    assert "def _flatten" in cut and "view(-1)" in cut.splitlines()[4]
    assert "_model" not in cut and "_run" not in cut and "SCENARIOS" not in cut


def test_the_linter_does_not_fail_on_real_code(report) -> None:  # type: ignore[no-untyped-def]
    assert not report.linter_errors


def test_the_scorer_counts_what_it_should(tmp_path: Path) -> None:
    """The scoring itself: a hit, a miss and a false alarm land in the right columns."""
    path = tmp_path / "case.py"
    path.write_text('"""x\n\nSource: here\nCategory: method\n"""\na = 1  # truth: TV101\nb = 2  # truth: TV101\n')
    case = realworld.load_case(path)
    assert case.category == "method" and case.source == "here"
    report = realworld.score([case], {path: {(6, "TV101"), (1, "TV101"), (2, "TV901")}})
    tally = report.rules["TV101"]
    assert (tally.tp, tally.fp, tally.fn) == (1, 1, 1)
    assert report.linter_errors == [("case.py", 2, "TV901", "method")]
    assert report.misses == [("case.py", 7, "TV101", "method")]
    assert report.false_alarms == [("case.py", 1, "TV101", "method")]
    assert report.categories["method"]["TV101"].recall == 0.5


def test_the_script_runs_and_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    assert realworld.main(["--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["files"] == len(CASES)
    assert sum(data["files_per_category"].values()) == len(CASES)
    assert set(data["rules"]) == set(realworld.RULES)


def test_without_chain_edits_only_the_insertions() -> None:
    source = "m = a.unsqueeze(0).unsqueeze(0)\nn = b[None, None, :, :]\no = c.view(1, 1, t, t)\np = d.unsqueeze(0)\n"
    assert realworld.without_chain(source, 1) == "m = a\nn = b[None, None, :, :]\no = c.view(1, 1, t, t)\np = d.unsqueeze(0)\n"
    assert realworld.without_chain(source, 2).splitlines()[1] == "n = b[:, :]"
    assert realworld.without_chain(source, 3).splitlines()[2] == "o = c.view(t, t)"
