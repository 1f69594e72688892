"""Fix a whole corpus in a temporary copy and check that nothing broke (not in CI).

    python scripts/fix_corpus.py .corpora/transformers .corpora/timm .corpora/diffusers

Copies each folder, runs ``flake8-tensorview --fix`` on the copy, then checks that every fixed file
still compiles (``py_compile``), that a second ``--fix`` changes nothing, and prints the counts.
"""

from __future__ import annotations

import argparse
import py_compile
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def snapshot(root: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in root.rglob("*.py")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path)
    args = parser.parse_args()
    failures = 0
    for folder in args.folders:
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / folder.name
            shutil.copytree(folder, copy)
            before = snapshot(copy)
            first = subprocess.run([sys.executable, "-m", "flake8_tensorview", "--fix", "--exit-zero", str(copy)],
                                   capture_output=True, text=True, check=False)
            after = snapshot(copy)
            changed = [p for p in after if after[p] != before.get(p)]
            broken = []
            for path in changed:
                try:
                    py_compile.compile(str(path), doraise=True)
                except py_compile.PyCompileError as exc:
                    broken.append(f"{path}: {exc}")
            second = subprocess.run([sys.executable, "-m", "flake8_tensorview", "--fix", "--exit-zero", str(copy)],
                                    capture_output=True, text=True, check=False)
            again = [p for p, data in snapshot(copy).items() if data != after.get(p)]
            internal = [line for line in first.stderr.splitlines() if "internal error" in line]
            print(f"{folder}: {len(before)} files, {len(changed)} fixed, {len(broken)} do not compile, "
                  f"{len(again)} changed by a second --fix, {len(internal)} internal errors; "
                  f"{first.stderr.strip().splitlines()[-1] if first.stderr.strip() else ''}")
            for line in broken + internal:
                print("  ", line)
            failures += len(broken) + len(again) + len(internal) + (first.returncode == 2) + (second.returncode == 2)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
