"""Lint real code twice, preselected and whole, and print any file where the findings differ.

    python scripts/preselect_check.py .corpora/timm .corpora/diffusers .corpora/transformers

The preselection must never change a finding: it only skips functions that cannot hold one.
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from flake8_tensorview.linter import lint_source
from flake8_tensorview.preselect import might_match


def compare(path: str) -> tuple[str, int, list[str], list[str], float, float]:
    source = Path(path).read_text(encoding="utf-8", errors="replace")
    if not might_match(source):
        return path, 0, [], [], 0.0, 0.0
    started = time.process_time()
    fast = [d.text for d in lint_source(source)]
    middle = time.process_time()
    whole = [d.text for d in lint_source(source, whole=True)]
    return path, 1, fast, whole, middle - started, time.process_time() - middle


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("roots", nargs="+")
    parser.add_argument("-j", "--jobs", type=int, default=2)
    args = parser.parse_args()
    files = sorted(str(p) for root in args.roots for p in Path(root).rglob("*.py"))
    differ = candidates = findings = 0
    fast_cpu = whole_cpu = 0.0
    with ProcessPoolExecutor(args.jobs) as pool:
        for path, candidate, fast, whole, t_fast, t_whole in pool.map(compare, files, chunksize=8):
            candidates += candidate
            findings += len(whole)
            fast_cpu += t_fast
            whole_cpu += t_whole
            if fast != whole:
                differ += 1
                print(f"{path}: preselected {fast} != whole {whole}")
    print(f"{len(files)} files, {candidates} candidates, {findings} findings, {differ} files differ; "
          f"analysis CPU preselected/whole = {fast_cpu / max(whole_cpu, 1e-9):.3f}")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
