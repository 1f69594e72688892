"""Run a fixture's scenarios with torch and record, per source line, what really happened."""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

EXPECT = re.compile(r"#\s*expect:\s*((?:TV\d{3}[ ,]*)+)")
VIEW_ERROR = "view size is not compatible with input tensor's size and stride"


def expectations(path: Path) -> set[tuple[int, str]]:
    """``(line, code)`` pairs written inline as ``# expect: TV101``."""
    out = set()
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        match = EXPECT.search(line)
        if match:
            out.update((number, code) for code in re.findall(r"TV\d{3}", match.group(1)))
    return out


OPT_IN = re.compile(r"#\s*extend-select:\s*((?:TV\d{3}[ ,]*)+)")


def opted_in(path: Path) -> set[str]:
    """Codes off by default that a fixture turns on, written as ``# extend-select: TV103``."""
    return {code for match in OPT_IN.finditer(path.read_text()) for code in re.findall(r"TV\d{3}", match.group(1))}


def load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"fixture_{path.stem}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class Outcome:
    executed: set[int] = field(default_factory=set)
    view_errors: dict[int, str] = field(default_factory=dict)
    """line -> scenario, for each line where a scenario died with the view-stride error."""
    other_errors: list[str] = field(default_factory=list)


def run_scenarios(path: Path, module: ModuleType | None = None) -> Outcome:
    module = module or load(path)
    filename = str(path)
    outcome = Outcome()

    def tracer(frame, event, arg):
        if frame.f_code.co_filename == filename:
            outcome.executed.add(frame.f_lineno)
            return tracer
        return None

    for name, scenario in module.SCENARIOS.items():
        sys.settrace(tracer)
        try:
            scenario()
        except RuntimeError as exc:
            frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == filename]
            if VIEW_ERROR in str(exc) and frames:
                outcome.view_errors[frames[-1].lineno] = name
            else:
                outcome.other_errors.append(f"{name}: {exc!r}")
        except Exception as exc:  # a broken fixture must fail the test loudly
            outcome.other_errors.append(f"{name}: {exc!r}")
        finally:
            sys.settrace(None)
    return outcome


def view_lines(path: Path) -> set[int]:
    """Lines holding a ``.view`` attribute that is called (where TV101 would be reported)."""
    tree = ast.parse(path.read_text())
    return {
        node.func.end_lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "view"
    }


def results(module: ModuleType) -> dict[str, object]:
    """Each scenario's return value, or the type of the exception it raised."""
    import torch

    out: dict[str, object] = {}
    for name, scenario in module.SCENARIOS.items():
        torch.manual_seed(0)  # the same random inputs in every variant of the module
        try:
            out[name] = scenario()
        except Exception as exc:  # noqa: BLE001 - the exception type is the result
            out[name] = type(exc)
    return out


def same(a: object, b: object) -> bool:
    """Identical shapes and ``torch.equal`` values, through tuples and lists."""
    import torch

    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        return a.shape == b.shape and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


NECESSARY = re.compile(r"#\s*necessary\b")


def necessary_lines(path: Path) -> list[int]:
    return [n for n, line in enumerate(path.read_text().splitlines(), start=1) if NECESSARY.search(line)]


def without_insertions(source: str, line: int) -> str:
    """``source`` with every ``unsqueeze`` and ``None`` index on ``line`` taken out."""
    import libcst as cst
    from libcst.metadata import MetadataWrapper, PositionProvider

    wrapper = MetadataWrapper(cst.parse_module(source))
    positions = wrapper.resolve(PositionProvider)

    class Strip(cst.CSTTransformer):
        def leave_Call(self, original, updated):  # type: ignore[no-untyped-def]
            func = updated.func
            if (
                isinstance(func, cst.Attribute)
                and func.attr.value == "unsqueeze"
                and positions[original.func.attr].start.line == line
            ):
                return func.value
            return updated

        def leave_Subscript(self, original, updated):  # type: ignore[no-untyped-def]
            if positions[original].start.line > line or positions[original].end.line < line:
                return updated
            kept = [e for e in updated.slice if not (isinstance(e.slice, cst.Index) and isinstance(e.slice.value, cst.Name) and e.slice.value.value == "None")]
            if len(kept) == len(updated.slice) or not kept:
                return updated if kept else updated.value
            return updated.with_changes(slice=[k.with_changes(comma=cst.MaybeSentinel.DEFAULT) for k in kept])

    return wrapper.module.visit(Strip()).code
