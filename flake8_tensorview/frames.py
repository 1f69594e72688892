"""Code frames (``--show-source``): the finding's story drawn under the code, as rustc and Ruff do.

```
TV101 .view() merges dims 1 and 2 (t, c), which transpose(1, 2) on line 5 made non-adjacent ...
  --> bug.py:6:13
   |
 5 |     x = torch.randn(b, c, t).transpose(1, 2)
   |         -------------------------------- transpose(1, 2) leaves shape (b, t, c), strides (t*c, 1, t)
 6 |     return x.view(b, t * c)
   |             ^^^^^ merges dims 1 and 2 (t, c)
   = note: runs only when t == 1 or c == 1; that is why small tests can pass
   = help: call .contiguous() before .view() (one copy), or use .reshape()
```

The primary span (``^``) is the reported one; every step of the story is a secondary span (``-``)
with its label. Only reported findings are rendered, from lines the command kept for them.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from .formats import Finding, Style

GAP = 3
"""Lines between two marked lines shown in full; a longer gap is drawn as ``...``."""
TAB = 4


@dataclass(frozen=True)
class _Span:
    line: int
    start: int
    end: int | None
    """0-based columns; ``end`` exclusive, None to the end of the line."""
    label: str
    primary: bool


def lines_to_show(marked: Iterable[int]) -> list[int]:
    """The marked lines, and the lines between two of them when the gap is short."""
    wanted = sorted(set(marked))
    out: list[int] = []
    for line in wanted:
        if out and line - out[-1] <= GAP + 1:
            out.extend(range(out[-1] + 1, line))
        out.append(line)
    return out


def width(text: str) -> int:
    """Display width: tabs to the next stop, East Asian wide characters count two."""
    column = 0
    for char in text:
        if char == "\t":
            column += TAB - column % TAB
        else:
            column += 2 if unicodedata.east_asian_width(char) in "WF" else 1
    return column


def render(f: Finding, style: Style = Style()) -> str:
    spans = [_Span(f.line, f.column - 1, f.end_column - 1 if f.end_line == f.line else None, f.label, True)]
    spans += [_Span(m.line, m.column - 1, m.end_column - 1 if m.end_line == m.line else None, m.label, False)
              for m in f.story if m.cell == f.cell]
    text = {(cell, line): source for cell, line, source in f.source}
    gutter = max(len(str(line)) for _, line, _ in f.source) if f.source else len(str(f.line))
    pad = " " * gutter
    bar = style.accent("|")
    out = [f"{style.severity(f.code, f.severity)} {style.bold(f.message)}",
           f"{pad}{style.accent('-->')} {f.location}"]
    # steps in other notebook cells: where they are, since their lines are not in this frame
    for m in f.story:
        if m.cell != f.cell:
            out.append(f"{pad}{style.accent(':::')} {f.path}:cell {m.cell}:{m.line}:{m.column}: {m.label}")
    out.append(f"{pad} {bar}")
    previous = None
    for line in lines_to_show(s.line for s in spans):
        if (f.cell, line) not in text:
            continue
        if previous is not None and line > previous + 1:
            out.append(style.accent("..."))
        previous = line
        source = text[(f.cell, line)].rstrip("\r\n")
        out.append(f"{style.accent(str(line).rjust(gutter))} {bar} {source.expandtabs(TAB)}".rstrip())
        rows = _underlines(source, [s for s in spans if s.line == line], style)
        out.extend(f"{pad} {bar} {row}".rstrip() for row in rows)
    for kind, text_ in (("note", f.note), ("help", f.help)):
        if text_:
            out.append(f"{pad} {style.accent('=')} {style.bold(kind + ':')} {text_}")
    return "\n".join(out) + "\n"


def _underlines(source: str, spans: list[_Span], style: Style) -> list[str]:
    """The marker row (``^`` primary, ``-`` the others) with the rightmost label at its end, and a
    row for each other label, right to left, starting under its span."""
    if not spans:
        return []
    placed = []
    for s in spans:
        start = width(source[: s.start])
        end = width(source[: s.end]) if s.end is not None else width(source)
        placed.append((start, max(end, start + 1), s))
    cells: dict[int, tuple[str, bool]] = {}
    for start, end, s in sorted(placed, key=lambda p: p[2].primary):  # the primary span is drawn last, on top
        for column in range(start, end):
            cells[column] = ("^" if s.primary else "-", s.primary)
    row = ""
    for char, primary in _runs([cells.get(column, (" ", False)) for column in range(max(cells) + 1)]):
        row += char if char.isspace() else style.severity(char, "error") if primary else style.accent(char)
    labelled = sorted((p for p in placed if p[2].label), key=lambda p: p[0], reverse=True)
    rows = [row]
    if labelled:
        rows[0] += " " + labelled[0][2].label
        rows += [" " * start + s.label for start, _, s in labelled[1:]]
    return rows


def _runs(cells: list[tuple[str, bool]]) -> list[tuple[str, bool]]:
    """Neighbouring cells of one kind joined, so that each run is painted once."""
    out: list[tuple[str, bool]] = []
    for char, primary in cells:
        if out and out[-1][1] == primary and out[-1][0][-1] == char:
            out[-1] = (out[-1][0] + char, primary)
        else:
            out.append((char, primary))
    return out
