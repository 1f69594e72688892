"""Audit real code: every finding, every internal error, and the views the linter stays silent on
although the tensor is known to be non-contiguous, each of those re-run with torch at generic sizes.

    python scripts/audit.py transformers=.corpora/transformers timm=.corpora/timm ...

``.py`` files and notebooks (``.ipynb``, their code cells as one module, as the command lints them).
The findings are ``lint_source``'s, exactly what flake8 and the command report. Each finding is
also marked when it rests on the prior: linted again with the prior replaced by "no facts" (a
parameter of a function nothing in the module calls, or an attribute nothing says more about, is
then not taken as a contiguous tensor), it is gone.

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
import re
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import libcst as cst

from flake8_tensorview import analysis, notebook
from flake8_tensorview.checks import view_is_incompatible

from flake8_tensorview.dims import Dim, product
from flake8_tensorview.layout import Tensor
from flake8_tensorview.values import DimV, IntV
from flake8_tensorview.linter import analyze, lint_source
from flake8_tensorview.preselect import might_match

REORDER = re.compile(r"\.(?:transpose|permute|swapaxes|swapdims|movedim|moveaxis|t\(\)|T\b|mT\b)")
"""Ops that reorder dims: a view within LOOKBACK lines after one is a transpose-then-view site."""
LOOKBACK = 30
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
    replay: str = ""
    """The chain on the view's line re-run by torch from its root: runs / RAISES / ..."""
    chain: str = ""


@dataclass
class FileAudit:
    path: str
    findings: list[str] = field(default_factory=list)
    prior: list[str] = field(default_factory=list)
    """The findings that are gone when the prior gives no facts."""
    errors: list[str] = field(default_factory=list)
    candidate: bool = False
    silent: list[Silent] = field(default_factory=list)
    """Unflagged views on a known layout: non-contiguous, or contiguous shortly after a reorder."""
    unreadable_targets: int = 0
    syntax_error: bool = False


def instantiate(shape: tuple[Dim, ...], strides: tuple[Dim, ...], target: tuple[Dim, ...]):  # type: ignore[no-untyped-def]
    """Integer shape, strides and target at generic sizes, or None when the sizes cannot be tied."""
    values = instantiate_values(shape, strides, target)
    if values is None:
        return None
    return ([value(d, values) for d in shape], [value(d, values) for d in strides], [value(d, values) for d in target])


def instantiate_values(shape: tuple[Dim, ...], strides: tuple[Dim, ...], target: tuple[Dim, ...]) -> dict[str, int] | None:
    """A prime >= 3 for every unknown size, tied by the element count where the target names new ones."""
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
    return values


def value(d: Dim, values: dict[str, int]) -> int:
    out = d.coef
    for name, power in d.powers:
        out *= values[name] ** power
    return out


class _Calls(cst.CSTVisitor):
    """The ``Call`` node of every ``.view``: ViewSite keeps only its attribute."""

    def __init__(self) -> None:
        self.of: dict[int, cst.Call] = {}

    def visit_Call(self, node: cst.Call) -> None:
        self.of[id(node.func)] = node


class _Bind(cst.CSTTransformer):
    """The receiver chain with its root renamed and its size arguments made literal."""

    def __init__(self, root: cst.CSTNode, sizes: dict[int, int]) -> None:
        self.root, self.sizes = root, sizes

    def on_leave(self, original, updated):  # type: ignore[no-untyped-def]
        if original is self.root:
            return cst.Name("root")
        if id(original) in self.sizes:
            return cst.Integer(str(self.sizes[id(original)]))
        return updated


def replay(walker, site, call: cst.Call, values: dict[str, int]) -> tuple[str, str] | None:  # type: ignore[no-untyped-def]
    """Run the receiver chain of the view's own line with torch, from its root tensor (the walker's
    layout there: sizes as primes), then the view itself. (verdict, chain text) or None."""
    import torch

    root = site.attr.value
    while True:  # down the chain: x.permute(...).contiguous() -> x
        if isinstance(root, cst.Call) and isinstance(root.func, cst.Attribute):
            root = root.func.value
        elif isinstance(root, (cst.Attribute, cst.Subscript)) and not isinstance(walker.facts.get(id(root)), Tensor):
            root = root.value
        else:
            break
    fact = walker.facts.get(id(root))
    if not isinstance(fact, Tensor) or fact.shape is None or fact.strides is None:
        return None
    sizes: dict[int, int] = {}
    for node in _names_and_numbers(site.attr.value, root):
        known = walker.facts.get(id(node))
        if isinstance(known, IntV):
            sizes[id(node)] = known.value
        elif isinstance(known, DimV) and known.dim.atoms() <= values.keys():
            sizes[id(node)] = value(known.dim, values)
        elif not isinstance(known, Tensor):
            return None
    atoms = {a for d in (*fact.shape, *fact.strides) for a in d.atoms()}
    if not atoms <= values.keys():
        return None
    shape = [value(d, values) for d in fact.shape]
    strides = [value(d, values) for d in fact.strides]
    base = torch.arange(1 + sum((n - 1) * st for n, st in zip(shape, strides)), dtype=torch.float32)
    chain = site.attr.value.visit(_Bind(root, sizes))
    text = cst.Module([]).code_for_node(chain)
    target = [value(d, values) for d in site.target]
    try:
        receiver = eval(text, {"torch": torch, "root": base.as_strided(shape, strides)})
        receiver.view(target)
    except RuntimeError as exc:
        return ("RAISES" if "view size is not compatible" in str(exc) else "does not replay"), text
    except Exception:  # names the walker did not bind: no replay
        return None
    return "runs", text


def _names_and_numbers(node: cst.CSTNode, root: cst.CSTNode) -> list[cst.CSTNode]:
    """Names and dotted attributes used as arguments in the chain above ``root``."""
    found: list[cst.CSTNode] = []
    stack = [node]
    while stack:
        current = stack.pop()
        if current is root:
            continue
        if isinstance(current, cst.Call):
            stack.append(current.func)
            stack.extend(arg.value for arg in current.args)
        elif isinstance(current, cst.Attribute):
            if isinstance(current.value, (cst.Call, cst.Subscript)) or current.value is root:
                stack.append(current.value)
            else:
                found.append(current)
        elif isinstance(current, cst.Subscript):
            stack.append(current.value)
            for element in current.slice:
                if isinstance(element.slice, cst.Index):
                    stack.append(element.slice.value)
                elif isinstance(element.slice, cst.Slice):
                    stack.extend(p for p in (element.slice.lower, element.slice.upper, element.slice.step) if p)
        elif isinstance(current, cst.Name) and current.value not in ("None", "True", "False"):
            found.append(current)
        elif isinstance(current, (cst.Tuple, cst.List)):
            stack.extend(e.value for e in current.elements)
        elif isinstance(current, cst.UnaryOperation):
            stack.append(current.expression)
        elif isinstance(current, cst.BinaryOperation):
            stack.extend((current.left, current.right))
    return found


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


def _without_prior(source: str) -> set[tuple[int, int, str]]:
    """The findings when a parameter or attribute with no facts is not taken as a contiguous tensor."""
    kept = analysis.PRIOR
    analysis.PRIOR = Tensor()
    try:
        return {(d.line, d.col, d.code) for d in lint_source(source)}
    finally:
        analysis.PRIOR = kept


def audit(path: str) -> FileAudit:
    result = FileAudit(path)
    text = Path(path).read_text(encoding="utf-8", errors="replace")
    where = lambda line: f"{path}:{line}"  # noqa: E731
    place = lambda line: (path, line)  # noqa: E731  # a silent site's file and line
    if path.endswith(".ipynb"):
        try:
            nb = notebook.load(text)
        except ValueError:
            result.syntax_error = True
            return result
        source = nb.source
        where = lambda line: f"{path}:cell {nb.lines[line][0]}:{nb.lines[line][1]}"  # noqa: E731
        place = lambda line: (f"{path}:cell {nb.lines[line][0]}", nb.lines[line][1])  # noqa: E731
    else:
        source = text
    if not might_match(source):
        return result
    result.candidate = True
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        result.syntax_error = True
        return result
    diagnostics = lint_source(source, tree)
    if path.endswith(".ipynb"):  # a cell's last expression is displayed, not thrown away (as the command)
        shown = notebook.displayed(nb)
        diagnostics = [d for d in diagnostics if not (d.code == "TV301" and d.line in shown)]
    without = _without_prior(source) if any(d.code in ("TV101", "TV201") for d in diagnostics) else set()
    for d in diagnostics:
        line = f"{where(d.line)}:{d.col + 1}: {d.text}"
        (result.errors if d.code.startswith("TV9") else result.findings).append(line)
        if d.code in ("TV101", "TV201") and (d.line, d.col, d.code) not in without:
            result.prior.append(line)
    analysed = analyze(source, tree)
    if analysed is None:
        return result
    walker, positions = analysed
    lines = source.splitlines()
    calls = _Calls()
    walker.module.visit(calls)
    seen: set[tuple[object, ...]] = set()
    for site in walker.views.values():
        t = site.tensor
        if t.shape is None or t.strides is None or view_is_incompatible(site):
            continue
        line = positions.at(site.attr.dot, site.attr).start.line
        before = "\n".join(lines[max(0, line - LOOKBACK) : line])
        if t.contiguous and not REORDER.search(before):
            continue  # not a transpose/permute-then-view site
        if site.target is None or (sizes := instantiate(t.shape, t.strides, site.target)) is None:
            result.unreadable_targets += 1
            continue
        op = walker.describe(t.origin)[0] if t.origin is not None and not t.contiguous else "contiguous"
        if (key := (line, op, str(sizes))) in seen:
            continue  # the same view in another context of its function, with the same facts
        seen.add(key)
        silent = Silent(*place(line), op, *sizes, runs_in_torch(*sizes), lines[line - 1].strip())
        values = instantiate_values(t.shape, t.strides, site.target)
        again = replay(walker, site, calls.of[id(site.attr)], values) if values is not None else None
        if again is not None:
            silent.replay, silent.chain = again
        result.silent.append(silent)
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
            files = sorted(str(p) for p in Path(folder).rglob("*") if p.suffix in (".py", ".ipynb"))
            results = list(pool.map(audit, files, chunksize=4))
            findings = [f for r in results for f in r.findings]
            prior = [f for r in results for f in r.prior]
            notebooks = sum(f.endswith(".ipynb") for f in files)
            candidates = sum(r.candidate for r in results)
            counts = {code: sum(f" {code} " in f for f in findings) for code in ("TV101", "TV201")}
            errors = [e for r in results for e in r.errors]
            silent = [s for r in results for s in r.silent]
            report[name] = {"files": len(files), "notebooks": notebooks, "candidates": candidates,
                            "findings": findings, "prior": prior, "errors": errors,
                            "silent": [asdict(s) for s in silent],
                            "syntax_errors": sum(r.syntax_error for r in results),
                            "unreadable_targets": sum(r.unreadable_targets for r in results)}
            apart = [s for s in silent if s.op != "contiguous"]
            print(f"{name}: {len(files)} files ({notebooks} notebooks), {candidates} candidates, "
                  f"{len(findings)} findings (TV101 {counts['TV101']}, TV201 {counts['TV201']}; "
                  f"{len(prior)} resting on the prior), {len(errors)} internal errors, "
                  f"{sum(r.syntax_error for r in results)} not Python 3; silent transpose-then-view sites "
                  f"checked with torch: {len(silent)} ({len(apart)} on a non-contiguous tensor), "
                  f"{sum(not s.runs for s in silent)} raise; {report[name]['unreadable_targets']} with sizes "
                  f"that cannot be tied")
            for line in findings + errors:
                print("  " + line + ("  [rests on the prior]" if line in prior else ""))
            replayed = [s for s in silent if s.replay]
            print(f"  chains on the view's line re-run by torch from their root: {len(replayed)} "
                  f"({sum(bool(REORDER.search(s.chain)) for s in replayed)} with the reorder op in the chain), "
                  f"{sum(s.replay == 'RAISES' for s in replayed)} raise, "
                  f"{sum(s.replay == 'does not replay' for s in replayed)} do not replay")
            for s in silent:
                print(f"  silent {'runs' if s.runs else 'RAISES'}: {s.path}:{s.line}: after {s.op}: {s.code}"
                      + (f"  [replay {s.replay}: {s.chain}]" if s.replay else ""))
            sys.stdout.flush()
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 1 if any(r["errors"] for r in report.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
