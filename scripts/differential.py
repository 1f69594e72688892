"""Long differential run: random programs, linter verdict vs torch, precision and recall.

    python scripts/differential.py --examples 5000

Prints counts, precision and recall, and the first disagreements.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from mask_gen import mask_programs  # noqa: E402
from program_gen import programs  # noqa: E402
from test_differential import mask_verdict, verdicts  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2000)
    parser.add_argument("--masks", action="store_true", help="TV201 mask programs instead of TV101 views")
    args = parser.parse_args()
    if args.masks:
        return masks(args.examples)
    tp = fp = fn = tn = 0
    disagreements = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.examples):
            program = programs().example()
            flagged, failed, executed = verdicts(program, Path(tmp))
            for line in executed:
                hit, bad = line in flagged, line in failed
                tp += hit and bad
                fp += hit and not bad
                fn += bad and not hit
                tn += not hit and not bad
                if hit != bad and len(disagreements) < 5:
                    disagreements.append(program.source)
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    print(f"programs {args.examples}  view sites {tp + fp + fn + tn}  raised {tp + fn}  flagged {tp + fp}")
    print(f"true positives {tp}  false positives {fp}  false negatives {fn}  true negatives {tn}")
    print(f"precision {precision:.4f}  recall {recall:.4f}")
    for source in disagreements:
        print("-" * 60)
        print(source)
    return 0 if not disagreements else 1


def masks(examples: int) -> int:
    tp = fp = fn = tn = skipped = 0
    disagreements = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(examples):
            program = mask_programs().example()
            verdict = mask_verdict(program, Path(tmp))
            if verdict is None:
                skipped += 1
                continue
            hit, redundant = verdict
            tp += hit and redundant
            fp += hit and not redundant
            fn += redundant and not hit
            tn += not hit and not redundant
            if hit != redundant and len(disagreements) < 6:
                disagreements.append(("flagged" if hit else "missed") + "\n" + program.source)
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    print(f"mask programs {examples}  not runnable as written {skipped}  redundant {tp + fn}  flagged {tp + fp}")
    print(f"true positives {tp}  false positives {fp}  false negatives {fn}  true negatives {tn}")
    print(f"precision {precision:.4f}  recall {recall:.4f}")
    for source in disagreements:
        print("-" * 60)
        print(source)
    return 0 if fp == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
