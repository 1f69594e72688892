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
