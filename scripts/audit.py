"""Audit real code: every finding, every internal error, and the views the linter stays silent on
although the tensor is known to be non-contiguous, each of those re-run with torch at generic sizes.

    python scripts/audit.py transformers=.corpora/transformers timm=.corpora/timm ...

For a silent site the walker's own facts (symbolic shape and strides of the tensor, the target
shape) are instantiated with distinct primes >= 3 for the unknown sizes, a tensor with exactly that
layout is made with ``as_strided`` and ``.view(target)`` is called. A site that raises would be a
missed finding. When the target names sizes the source does not (``view(B, C, H, W)`` of a ``H*W``
dim), the one unrelated source size is solved from the element count, as the code implies.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from flake8_tensorview.checks import CHECKS, view_is_incompatible
from flake8_tensorview.dims import Dim, product
from flake8_tensorview.linter import analyze, internal_errors
from flake8_tensorview.preselect import might_match

PRIMES = [3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73]


@dataclass
class Silent:
    path: str
    line: int
    op: str
    shape: list[int]
    strides: list[int]
    target: list[int]
    runs: bool
    code: str


@dataclass
class FileAudit:
    path: str
    findings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    silent: list[Silent] = field(default_factory=list)
    unreadable_targets: int = 0
    syntax_error: bool = False


def instantiate(shape: tuple[Dim, ...], strides: tuple[Dim, ...], target: tuple[Dim, ...]):  # type: ignore[no-untyped-def]
    """Integer shape, strides and target at generic sizes, or None when the sizes cannot be tied."""
    atoms = sorted({a for d in (*shape, *strides, *target) for a in d.atoms()})
    if len(atoms) > len(PRIMES):
        return None
    source = {a for d in shape for a in d.atoms()}
    foreign = {a for d in target for a in d.atoms()} - source
    values = dict(zip(atoms, PRIMES))
    if product(shape) != product(target):
        # `view(B, C, H, W)` of `(B, C, HW)`: one source size the target never names is the rest
        alone = sorted(source - {a for d in target for a in d.atoms()})
        if len(alone) != 1 or not foreign:
            return None
        values[alone[0]] = 1
        rest = value(product(target), values) // value(product(shape), values)
        if rest < 2 or value(product(target), values) % value(product(shape), values):
            return None
        values[alone[0]] = rest
    return ([value(d, values) for d in shape], [value(d, values) for d in strides], [value(d, values) for d in target])


def value(d: Dim, values: dict[str, int]) -> int:
    out = d.coef
    for name, power in d.powers:
        out *= values[name] ** power
    return out


def runs_in_torch(shape: list[int], strides: list[int], target: list[int]) -> bool:
    import torch

    size = 1 + sum((n - 1) * s for n, s in zip(shape, strides))
    x = torch.empty(size).as_strided(shape, strides)
    try:
        x.view(target)
    except RuntimeError as exc:
        assert "view size is not compatible" in str(exc), exc
        return False
    return True


def audit(path: str) -> FileAudit:
    result = FileAudit(path)
    source = Path(path).read_text(encoding="utf-8", errors="replace")
    if not might_match(source):
        return result
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        result.syntax_error = True
        return result
    analysed = analyze(source, tree)
    if analysed is None:
        return result
    walker, positions = analysed
    for check in CHECKS:
        result.findings += [f"{path}:{d.line}:{d.col + 1}: {d.text}" for d in check(walker, positions)]
    result.errors += [f"{path}:{d.line}: {d.text}" for d in internal_errors(walker, positions)]
    lines = source.splitlines()
    for site in walker.views.values():
        t = site.tensor
        if t.shape is None or t.strides is None or t.contiguous or view_is_incompatible(site):
            continue
        if site.target is None:
            result.unreadable_targets += 1
            continue
        sizes = instantiate(t.shape, t.strides, site.target)
        if sizes is None:
            result.unreadable_targets += 1
            continue
        line = positions.at(site.attr.dot, site.attr).start.line
        op = walker.describe(t.origin)[0] if t.origin is not None else "?"
        result.silent.append(Silent(path, line, op, *sizes, runs_in_torch(*sizes), lines[line - 1].strip()))
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpora", nargs="+", help="name=folder")
    parser.add_argument("-j", "--jobs", type=int, default=2)
    parser.add_argument("--json", type=Path, help="write every finding and silent site here")
    args = parser.parse_args()
    report: dict[str, dict[str, object]] = {}
    with ProcessPoolExecutor(args.jobs) as pool:
        for spec in args.corpora:
            name, _, folder = spec.partition("=")
            files = sorted(str(p) for p in Path(folder).rglob("*.py"))
            results = list(pool.map(audit, files, chunksize=4))
            findings = [f for r in results for f in r.findings]
            errors = [e for r in results for e in r.errors]
            silent = [s for r in results for s in r.silent]
            report[name] = {"files": len(files), "findings": findings, "errors": errors,
                            "silent": [asdict(s) for s in silent],
                            "syntax_errors": sum(r.syntax_error for r in results),
                            "unreadable_targets": sum(r.unreadable_targets for r in results)}
            print(f"{name}: {len(files)} files, {len(findings)} findings, {len(errors)} internal errors, "
                  f"{sum(r.syntax_error for r in results)} not Python 3; silent non-contiguous views: "
                  f"{len(silent)} checked with torch ({sum(not s.runs for s in silent)} raise), "
                  f"{report[name]['unreadable_targets']} with sizes that cannot be tied")
            for line in findings + errors:
                print("  " + line)
            for s in silent:
                print(f"  silent {'runs' if s.runs else 'RAISES'}: {s.path}:{s.line}: after {s.op}: {s.code}")
            sys.stdout.flush()
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 1 if any(r["errors"] for r in report.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
