"""Long fuzz run (not in CI): hypothesmith programs through the plugin and the fixer.

    python scripts/fuzz.py --examples 2000

Every generated program that Python accepts is linted (with a TV101/TV201 tail appended so the
analysis runs) and fixed; the run fails on any exception, any TV901, or a fix that does not parse
or is not idempotent. Prints how many programs were tried and what was found.
"""

from __future__ import annotations

import argparse
import ast
import sys
import time
import traceback
from pathlib import Path

import hypothesmith
from hypothesis import HealthCheck, given, settings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flake8_tensorview.linter import fix_source, lint_source  # noqa: E402

TAIL = "\n\ndef _tv(b, t, m):\n    x = torch.randn(b, t).t()\n    y = x.view(-1)\n    m.masked_fill_(m.unsqueeze(0), 0)\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=1000)
    args = parser.parse_args()
    stats = {"tried": 0, "parsed": 0, "findings": 0, "crashes": 0}
    crashes: list[str] = []

    @settings(max_examples=args.examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(program=hypothesmith.from_grammar())
    def run(program: str) -> None:
        stats["tried"] += 1
        source = program + TAIL
        try:
            ast.parse(source)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return
        stats["parsed"] += 1
        try:
            found = lint_source(source)
            stats["findings"] += len(found)
            assert not [d for d in found if d.code == "TV901"], found
            fixed = fix_source(source)
            ast.parse(fixed)
            assert fix_source(fixed) == fixed, "fix not idempotent"
        except Exception:
            stats["crashes"] += 1
            if len(crashes) < 5:
                crashes.append(program + "\n" + traceback.format_exc())

    start = time.time()
    run()
    print(f"tried {stats['tried']}  valid Python {stats['parsed']}  findings {stats['findings']}  "
          f"crashes {stats['crashes']}  in {time.time() - start:.0f}s")
    for crash in crashes:
        print("-" * 60)
        print(crash)
    return 1 if stats["crashes"] else 0


if __name__ == "__main__":
    sys.exit(main())
