"""Score the linter on the real-world evaluation set, ``fixtures/realworld``.

Each file there is modelled on real code or a real bug report (its docstring names the ``Source:``
and the ``Category:``) and carries its truth inline, written independently of the linter and
confirmed by torch in ``tests/test_realworld.py``:

- ``# truth: TV101`` on the line of a ``.view``/``.view_as`` attribute whose call raises the
  view-stride error (in every scenario that reaches it with the sizes the rule assumes),
- ``# truth: TV102`` on the line of a ``.view`` of a ``scaled_dot_product_attention`` output that
  runs on one of SDPA's CPU kernels and raises on the other: it raises in a scenario where CPU runs
  math (``dropout_p > 0``, training, a mask that requires grad, ``sdpa_kernel(SDPBackend.MATH)``)
  and runs in one where CPU runs flash,
- ``# truth: TV201`` on the line of a leading unsqueeze chain / ``[None, None]`` / ``view(1, 1, ...)``
  that ``masked_fill`` makes redundant,
- ``# necessary`` on mask insertions that must stay (negatives for TV201).

Every other ``.view`` line runs in every scenario: a TV101 or TV102 there is a false alarm. A TV101
on a TV102 line counts as a TV101 false alarm and a TV102 miss (and the other way round).

    python scripts/realworld.py            # per-rule TP/FP/FN, precision, recall, misses, false alarms
    python scripts/realworld.py --json     # the same as JSON
    python scripts/realworld.py --without-scenarios   # the same with each file's scenarios cut out

Each file ends with the scenarios that run it (``SCENARIOS``, ``_run``): they are call sites, and
give the model the sizes and flags a caller would. A repository's training script is usually another
file, so ``--without-scenarios`` blanks them out (:func:`without_scenarios`) and scores what the
linter finds from the module's own code and the prior alone; the default report prints its per-rule
line too.

Exits 0 whatever the score: the floors live in ``tests/test_realworld.py``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REALWORLD = ROOT / "fixtures" / "realworld"
RULES = ("TV101", "TV102", "TV201")

TRUTH = re.compile(r"#\s*truth:\s*((?:TV\d{3}[ ,]*)+)")
NECESSARY = re.compile(r"#\s*necessary\b")
CATEGORY = re.compile(r"^Category:\s*(.+?)\s*$", re.M)
SOURCE = re.compile(r"^Source:\s*(.+?)\s*$", re.M)

# How the non-contiguous tensor (or the mask) reaches the line, one per file.
CATEGORIES = {
    "cross-function helper return": "a module-level helper returns the transposed tensor",
    "call-site parameter": "the view is on a parameter; a caller passes the transposed tensor",
    "method": "another method of the class transposes (self.method() return or argument)",
    "nested function": "a function defined inside the function transposes",
    "user module": "a user nn.Module's forward returns the transposed tensor",
    "library module": "torch.nn modules: LSTM/GRU/MultiheadAttention(batch_first=True) outputs",
    "einsum": "the layout an einsum returns",
    "channels_last": "channels_last tensors and modules",
    "imported helper": "the view is in a helper only other modules call: the prior (or a jaxtyping annotation) is all the linter has",
    "same function": "the layout change and the view are in one function (control)",
    "negative": "every view runs (hard negatives)",
    "mask": "TV201 redundant leading unsqueezes and necessary ones",
}


@dataclass(frozen=True)
class Case:
    path: Path
    truth: frozenset[tuple[int, str]]
    necessary: tuple[int, ...]
    category: str | None
    source: str | None

    @property
    def name(self) -> str:
        return self.path.name


def load_case(path: Path) -> Case:
    text = path.read_text()
    truth = set()
    for number, line in enumerate(text.splitlines(), start=1):
        match = TRUTH.search(line)
        if match:
            truth.update((number, code) for code in re.findall(r"TV\d{3}", match.group(1)))
    necessary = tuple(n for n, line in enumerate(text.splitlines(), start=1) if NECESSARY.search(line))
    docstring = _docstring(text)
    category = CATEGORY.search(docstring)
    source = SOURCE.search(docstring)
    return Case(path, frozenset(truth), necessary, category and category.group(1), source and source.group(1))


def _docstring(text: str) -> str:
    import ast

    try:
        return ast.get_docstring(ast.parse(text)) or ""
    except SyntaxError:
        return ""


def cases(folder: Path = REALWORLD) -> list[Case]:
    return [load_case(p) for p in sorted(folder.glob("*.py"))]


def lint(case: Case, cut: bool = False) -> set[tuple[int, str]]:
    """Every ``(line, code)`` the linter reports, its own errors (TV9xx) included; with ``cut``, on
    the file without its scenarios."""
    from flake8_tensorview.linter import lint_source

    source = case.path.read_text()
    if cut:
        source = without_scenarios(source, {line for line, _ in case.truth} | set(case.necessary))
    return {(d.line, d.code) for d in lint_source(source)}


def without_scenarios(source: str, labelled: set[int]) -> str:
    """``source`` with the ``SCENARIOS`` table blanked out, and every top-level function only it
    reaches (``_run``, then the ``_model`` that ``_run`` calls) unless the function holds a labelled
    line. Blanked line for line, so the labels keep their numbers."""
    import ast

    tree = ast.parse(source)
    functions = {s.name: s for s in tree.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))}
    names = {id(s): {n.id for n in ast.walk(s) if isinstance(n, ast.Name)} for s in tree.body}
    cut = [s for s in tree.body if isinstance(s, ast.Assign) and any(getattr(t, "id", None) == "SCENARIOS" for t in s.targets)]
    grown = True
    while grown:
        grown = False
        reached = set().union(*(names[id(s)] for s in cut)) & functions.keys()
        for name in sorted(reached):
            function = functions[name]
            if function in cut or any(function.lineno <= line <= (function.end_lineno or 0) for line in labelled):
                continue
            if any(name in names[id(s)] for s in tree.body if s not in cut and s is not function):
                continue  # the module's own code calls it too
            cut.append(function)
            grown = True
    lines = source.splitlines(keepends=True)
    for stmt in cut:
        start = min([stmt.lineno] + [d.lineno for d in getattr(stmt, "decorator_list", [])])
        lines[start - 1 : stmt.end_lineno] = ["\n"] * ((stmt.end_lineno or start) - start + 1)
    return "".join(lines)


@dataclass
class Tally:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    def as_dict(self) -> dict[str, object]:
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn, "precision": self.precision, "recall": self.recall}


@dataclass
class Report:
    files: int = 0
    rules: dict[str, Tally] = field(default_factory=lambda: {rule: Tally() for rule in RULES})
    categories: dict[str, dict[str, Tally]] = field(default_factory=dict)
    files_per_category: dict[str, int] = field(default_factory=dict)
    misses: list[tuple[str, int, str, str]] = field(default_factory=list)
    """(file, line, code, category) for each truth label the linter did not report."""
    false_alarms: list[tuple[str, int, str, str]] = field(default_factory=list)
    linter_errors: list[tuple[str, int, str, str]] = field(default_factory=list)
    """(file, line, code, category) for each TV9xx: the linter's own trouble on real code."""

    def as_dict(self) -> dict[str, object]:
        return {
            "files": self.files,
            "rules": {rule: tally.as_dict() for rule, tally in self.rules.items()},
            "files_per_category": self.files_per_category,
            "categories": {
                cat: {rule: tally.as_dict() for rule, tally in rules.items()} for cat, rules in self.categories.items()
            },
            "misses": [dict(zip(("file", "line", "code", "category"), m)) for m in self.misses],
            "false_alarms": [dict(zip(("file", "line", "code", "category"), m)) for m in self.false_alarms],
            "linter_errors": [dict(zip(("file", "line", "code", "category"), m)) for m in self.linter_errors],
        }


def score(all_cases: Iterable[Case], found: Mapping[Path, set[tuple[int, str]]]) -> Report:
    report = Report()
    for case in all_cases:
        report.files += 1
        category = case.category or "(none)"
        report.files_per_category[category] = report.files_per_category.get(category, 0) + 1
        per_rule = report.categories.setdefault(category, {rule: Tally() for rule in RULES})
        findings = found[case.path]
        report.linter_errors += [(case.name, line, code, category) for line, code in sorted(findings) if code.startswith("TV9")]
        for line, code in sorted(case.truth | findings):
            if code not in RULES:
                continue
            hit, true = (line, code) in findings, (line, code) in case.truth
            for tally in (report.rules[code], per_rule[code]):
                tally.tp += hit and true
                tally.fp += hit and not true
                tally.fn += true and not hit
            if true and not hit:
                report.misses.append((case.name, line, code, category))
            elif hit and not true:
                report.false_alarms.append((case.name, line, code, category))
    return report


def _ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def render(report: Report, folder: Path = REALWORLD) -> str:
    out = [f"{report.files} files in {folder}", ""]
    out.append(f"{'rule':<7} {'TP':>4} {'FP':>4} {'FN':>4} {'precision':>10} {'recall':>8}")
    for rule, t in report.rules.items():
        out.append(f"{rule:<7} {t.tp:>4} {t.fp:>4} {t.fn:>4} {_ratio(t.precision):>10} {_ratio(t.recall):>8}")
    out += ["", "by category (files; per rule TP/FP/FN):"]
    for category in sorted(report.categories, key=lambda c: (list(CATEGORIES).index(c) if c in CATEGORIES else 99, c)):
        cells = "  ".join(
            f"{rule} {t.tp}/{t.fp}/{t.fn}" for rule, t in report.categories[category].items() if t.tp + t.fp + t.fn
        )
        out.append(f"  {category:<30} {report.files_per_category[category]:>3}  {cells or '-'}")
    out += ["", f"misses ({len(report.misses)}):"]
    out += [f"  {f}:{line}: {code}  [{cat}]" for f, line, code, cat in sorted(report.misses, key=lambda m: (m[3], m[0], m[1]))]
    out += ["", f"false alarms ({len(report.false_alarms)}):"]
    out += [f"  {f}:{line}: {code}  [{cat}]" for f, line, code, cat in sorted(report.false_alarms)]
    if report.linter_errors:
        out += ["", f"linter errors ({len(report.linter_errors)}):"]
        out += [f"  {f}:{line}: {code}  [{cat}]" for f, line, code, cat in sorted(report.linter_errors)]
    return "\n".join(out)


def evaluate(folder: Path = REALWORLD, cut: bool = False) -> Report:
    all_cases = cases(folder)
    return score(all_cases, {case.path: lint(case, cut) for case in all_cases})


# ---- the TV201 oracle's edit -----------------------------------------------------------------------


def without_chain(source: str, line: int) -> str:
    """``source`` with the mask insertions on ``line`` taken out: every ``.unsqueeze(...)``, every
    ``None`` index, and the leading literal ``1`` sizes of a ``.view(...)``/``.reshape(...)``."""
    import libcst as cst
    from libcst.metadata import MetadataWrapper, PositionProvider

    wrapper = MetadataWrapper(cst.parse_module(source))
    positions = wrapper.resolve(PositionProvider)

    def on_line(node: cst.CSTNode) -> bool:
        return positions[node].start.line == line

    def is_one(arg: cst.Arg) -> bool:
        return isinstance(arg.value, cst.Integer) and arg.value.value == "1" and arg.keyword is None

    class Strip(cst.CSTTransformer):
        def leave_Call(self, original, updated):  # type: ignore[no-untyped-def]
            func = updated.func
            if not (isinstance(func, cst.Attribute) and on_line(original.func.attr)):
                return updated
            if func.attr.value == "unsqueeze":
                return func.value
            if func.attr.value in ("view", "reshape") and updated.args and is_one(updated.args[0]):
                rest = list(updated.args)
                while len(rest) > 1 and is_one(rest[0]):
                    rest.pop(0)
                rest[-1] = rest[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
                return updated.with_changes(args=rest)
            return updated

        def leave_Subscript(self, original, updated):  # type: ignore[no-untyped-def]
            if positions[original].start.line > line or positions[original].end.line < line:
                return updated
            kept = [
                e
                for e in updated.slice
                if not (isinstance(e.slice, cst.Index) and isinstance(e.slice.value, cst.Name) and e.slice.value.value == "None")
            ]
            if len(kept) == len(updated.slice):
                return updated
            if not kept:
                return updated.value
            return updated.with_changes(slice=[k.with_changes(comma=cst.MaybeSentinel.DEFAULT) for k in kept])

    return wrapper.module.visit(Strip()).code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--without-scenarios", action="store_true", help="score each file with its scenarios cut out")
    parser.add_argument("folder", nargs="?", type=Path, default=REALWORLD)
    args = parser.parse_args(argv)
    sys.path.append(str(ROOT))  # the checkout, unless another flake8_tensorview comes first (PYTHONPATH)
    report = evaluate(args.folder, cut=args.without_scenarios)
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
        return 0
    print(render(report, args.folder))
    if not args.without_scenarios:
        bare = evaluate(args.folder, cut=True)
        print("", "without the scenarios (--without-scenarios: the module's own code and the prior):", sep="\n")
        for rule, t in bare.rules.items():
            print(f"  {rule:<7} {t.tp:>4} {t.fp:>4} {t.fn:>4} {_ratio(t.precision):>10} {_ratio(t.recall):>8}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
