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


class Tally:
    """Confusion counts of linter verdicts against torch's, with the first disagreements kept."""

    def __init__(self) -> None:
        self.tp = self.fp = self.fn = self.tn = 0
        self.disagreements: list[str] = []

    def add(self, hit: bool, truth: bool, source: str) -> None:
        self.tp += hit and truth
        self.fp += hit and not truth
        self.fn += truth and not hit
        self.tn += not hit and not truth
        if hit != truth and len(self.disagreements) < 5:
            self.disagreements.append(("flagged" if hit else "missed") + "\n" + source)

    def report(self, header: str) -> int:
        precision = self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0
        recall = self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0
        print(f"{header}  positive by torch {self.tp + self.fn}  flagged {self.tp + self.fp}")
        print(f"true positives {self.tp}  false positives {self.fp}  false negatives {self.fn}  true negatives {self.tn}")
        print(f"precision {precision:.4f}  recall {recall:.4f}")
        for source in self.disagreements:
            print("-" * 60)
            print(source)
        return 0 if self.fp == 0 else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2000)
    parser.add_argument("--masks", action="store_true", help="TV201 mask programs instead of TV101 views")
    args = parser.parse_args()
    return masks(args.examples) if args.masks else views(args.examples)


def views(examples: int) -> int:
    tally = Tally()
    sites = 0
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(examples):
            program = programs().example()
            flagged, failed, executed = verdicts(program, Path(tmp))
            for line in executed:
                sites += 1
                tally.add(line in flagged, line in failed, program.source)
    return tally.report(f"programs {examples}  view sites {sites}  (positive: the view raised)")


def masks(examples: int) -> int:
    tally = Tally()
    skipped = 0
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(examples):
            program = mask_programs().example()
            verdict = mask_verdict(program, Path(tmp))
            if verdict is None:
                skipped += 1
                continue
            tally.add(verdict[0], verdict[1], program.source)
    return tally.report(f"mask programs {examples}  not runnable as written {skipped}  (positive: chain redundant)")


if __name__ == "__main__":
    sys.exit(main())
