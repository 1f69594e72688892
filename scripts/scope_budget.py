"""Does the scope budget (``preselect.SCOPE_LINES``) change a finding on mutants of real code?

    python scripts/scope_budget.py .corpora/transformers .corpora/timm --budgets 250,150,100

Each file gives up to six mutants of each kind: one ``.contiguous()`` dropped, one ``.reshape(``
made a ``.view(``. Every mutant is linted once per budget; the TV1xx findings must not differ
between budgets. A budget that changes nothing on real code only costs parsing: the closure a
candidate brings into the scope is cut at that many lines.
"""

from __future__ import annotations

import argparse
import re
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

MUTATIONS = (re.compile(r"\.contiguous\(\)"), re.compile(r"\.reshape\("))
PER_KIND = 6


def mutants(source: str) -> list[tuple[int, str]]:
    out = []
    for pattern in MUTATIONS:
        for found in list(pattern.finditer(source))[:PER_KIND]:
            swap = "" if "contiguous" in found.group() else ".view("
            out.append((source.count("\n", 0, found.start()) + 1, source[: found.start()] + swap + source[found.end() :]))
    return out


def findings(path: str, budgets: tuple[int, ...]) -> list[tuple[str, int, list[tuple[tuple[int, str], ...]]]]:
    from flake8_tensorview import preselect
    from flake8_tensorview.linter import lint_source

    source = Path(path).read_text(encoding="utf-8", errors="replace")
    rows = []
    for line, mutant in mutants(source):
        per_budget = []
        for budget in budgets:
            preselect.SCOPE_LINES = budget
            per_budget.append(tuple((d.line, d.code) for d in lint_source(mutant) if d.code.startswith("TV1")))
        rows.append((path, line, per_budget))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("roots", nargs="+")
    parser.add_argument("--budgets", default="250,150,100")
    parser.add_argument("--every", type=int, default=4, help="mutate every n-th file")
    parser.add_argument("-j", "--jobs", type=int, default=2)
    args = parser.parse_args()
    budgets = tuple(int(b) for b in args.budgets.split(","))
    files = sorted(str(p) for root in args.roots for p in Path(root).rglob("*.py"))[:: args.every]
    with ProcessPoolExecutor(args.jobs) as pool:
        rows = [row for chunk in pool.map(findings, files, [budgets] * len(files), chunksize=4) for row in chunk]
    print(f"{len(files)} files, {len(rows)} mutants")
    for i, budget in enumerate(budgets):
        print(f"  budget {budget}: {sum(bool(r[2][i]) for r in rows)} mutants with a TV1xx finding")
    differ = [r for r in rows if len(set(r[2])) > 1]
    print(f"{len(differ)} mutants whose findings depend on the budget")
    for path, line, per_budget in differ:
        print(f"  {path}:{line}: " + "; ".join(f"{b}: {f}" for b, f in zip(budgets, per_budget)))
    return 1 if differ else 0


if __name__ == "__main__":
    raise SystemExit(main())
