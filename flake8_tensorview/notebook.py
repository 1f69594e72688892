"""Jupyter notebooks: lint the code cells as one module, map positions back to cells, write fixes
back into the cells and leave every other byte of the notebook as it was."""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from typing import Any

MARKER = "# %% flake8-tensorview cell {}"
MARKER_RE = re.compile(r"^# %% flake8-tensorview cell (\d+)$")
MAGIC = re.compile(r"^\s*(%|!|\?)")


@dataclass(frozen=True)
class Notebook:
    data: dict[str, Any]
    indent: int | None
    source: str
    """The code cells joined, one marker comment before each, magics commented out."""
    lines: list[tuple[int, int]]
    """For each line of ``source`` (1-based, index 0 unused): (cell number, line in that cell)."""


def _cell_text(cell: dict[str, Any]) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def load(text: str) -> Notebook:
    data = json.loads(text)
    indent = _indent(text)
    out: list[str] = []
    lines: list[tuple[int, int]] = [(0, 0)]
    for number, cell in enumerate(data.get("cells", []), start=1):
        if cell.get("cell_type") != "code":
            continue
        text_lines = _cell_text(cell).splitlines()
        if text_lines and text_lines[0].lstrip().startswith("%%"):
            continue  # a cell magic: the cell is not Python
        out.append(MARKER.format(number))
        lines.append((number, 0))
        for n, line in enumerate(text_lines, start=1):
            out.append("# " + line if MAGIC.match(line) else line)
            lines.append((number, n))
    return Notebook(data, indent, "\n".join(out) + "\n", lines)


def displayed(nb: Notebook) -> set[int]:
    """Lines of ``nb.source`` holding the last statement of a cell when it is an expression:
    Jupyter shows its value (``x.float()`` at the end of a cell is a look at the result, not a
    result thrown away), unless a ``;`` ends it."""
    try:
        tree = ast.parse(nb.source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return set()
    last: dict[int, ast.stmt] = {}
    for stmt in tree.body:
        last[nb.lines[stmt.lineno][0]] = stmt
    source_lines = nb.source.splitlines()
    out: set[int] = set()
    for stmt in last.values():
        end = source_lines[stmt.end_lineno - 1][stmt.end_col_offset :]  # type: ignore[index, operator]
        if isinstance(stmt, ast.Expr) and not end.lstrip().startswith(";"):
            out.update(range(stmt.lineno, stmt.end_lineno + 1))  # type: ignore[operator]
    return out


def _indent(text: str) -> int | None:
    match = re.search(r"\n( +)\"", text)
    return len(match.group(1)) if match else None


def dump(data: dict[str, Any], indent: int | None) -> str:
    return json.dumps(data, indent=indent, ensure_ascii=False) + "\n"


def round_trips(text: str) -> bool:
    """Whether writing the notebook back reproduces it byte for byte (else fixes are refused)."""
    try:
        return dump(json.loads(text), _indent(text)) == text
    except ValueError:
        return False


def apply(nb: Notebook, fixed_source: str) -> str:
    """The notebook text with each code cell replaced by its fixed text."""
    cells: dict[int, list[str]] = {}
    current: int | None = None
    for line in fixed_source.splitlines():
        match = MARKER_RE.match(line)
        if match:
            current = int(match.group(1))
            cells[current] = []
        elif current is not None:
            cells[current].append(line)
    data = json.loads(json.dumps(nb.data))
    for number, cell in enumerate(data.get("cells", []), start=1):
        if number not in cells:
            continue
        original = _cell_text(cell).splitlines()
        magics = {line for line in original if MAGIC.match(line)}
        restored = [line[2:] if line.startswith("# ") and line[2:] in magics else line for line in cells[number]]
        if restored == original:
            continue
        text = "\n".join(restored) + ("\n" if _cell_text(cell).endswith("\n") else "")
        if isinstance(cell.get("source"), list):
            cell["source"] = text.splitlines(keepends=True)
        else:
            cell["source"] = text
    return dump(data, nb.indent)
