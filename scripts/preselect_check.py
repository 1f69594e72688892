"""Lint real code twice, preselected and whole, and print any file where the findings differ.

    python scripts/preselect_check.py .corpora/timm .corpora/diffusers .corpora/transformers

The preselection must never change a finding: it only skips functions that cannot hold one. Every
default code is compared, TV301 (whose sites the preselection keeps by the op table) included; the
counts per code are printed for both runs. With ``--gate``, the files the text gate
(``might_match``) turns away are also analysed whole, without the gate, and must have no finding.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

from flake8_tensorview.linter import analyze, checks_for, lint_source, reported
from flake8_tensorview.preselect import might_match


def ungated(source: str) -> list[str]:
    """The findings of a whole run that skips the text gate."""
    result = analyze(source, whole=True)
    if result is None:
        return []
    walker, positions = result
    return sorted(d.text for check in checks_for(()) for d in check(walker, positions) if reported(d.code, ()))


def compare(path: str, gate: bool = False) -> tuple[str, int, list[str], list[str], float, float]:
    source = Path(path).read_text(encoding="utf-8", errors="replace")
    if not might_match(source):
        return path, 0, [], ungated(source) if gate else [], 0.0, 0.0
    started = time.process_time()
    fast = [d.text for d in lint_source(source)]
    middle = time.process_time()
    whole = [d.text for d in lint_source(source, whole=True)]
    return path, 1, fast, whole, middle - started, time.process_time() - middle


def _codes(texts: list[str]) -> Counter[str]:
    return Counter(text.split(" ", 1)[0] for text in texts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("roots", nargs="+")
    parser.add_argument("-j", "--jobs", type=int, default=2)
    parser.add_argument("--gate", action="store_true", help="also analyse the files the text gate turns away")
    args = parser.parse_args()
    differ = 0
    all_fast: Counter[str] = Counter()
    all_whole: Counter[str] = Counter()
    fast_cpu = whole_cpu = 0.0
    count = candidates = 0
    with ProcessPoolExecutor(args.jobs) as pool:
        for root in args.roots:
            files = sorted(str(p) for p in Path(root).rglob("*.py"))
            count += len(files)
            by_fast: Counter[str] = Counter()
            by_whole: Counter[str] = Counter()
            for path, candidate, fast, whole, t_fast, t_whole in pool.map(partial(compare, gate=args.gate), files,
                                                                          chunksize=8):
                candidates += candidate
                by_fast.update(_codes(fast))
                by_whole.update(_codes(whole))
                fast_cpu += t_fast
                whole_cpu += t_whole
                if fast != whole:
                    differ += 1
                    print(f"{path}: preselected {fast} != whole {whole}", flush=True)
            all_fast += by_fast
            all_whole += by_whole
            print(f"{root}: {len(files)} files, preselected {dict(sorted(by_fast.items()))}, "
                  f"whole {dict(sorted(by_whole.items()))}", flush=True)
    print(f"{count} files, {candidates} candidates, {sum(all_whole.values())} findings "
          f"(preselected {dict(sorted(all_fast.items()))}, whole {dict(sorted(all_whole.items()))}), "
          f"{differ} files differ; analysis CPU preselected/whole = {fast_cpu / max(whole_cpu, 1e-9):.3f}")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
