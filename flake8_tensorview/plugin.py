"""The flake8 adapter: ``tree``, ``lines`` in; ``(line, col, message, type)`` out."""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from typing import Any

from . import __version__
from .preselect import might_match


class TensorViewChecker:
    name = "flake8-tensorview"
    version = __version__

    def __init__(self, tree: ast.AST, lines: list[str], filename: str = "") -> None:
        self.tree = tree
        self.lines = lines
        self.filename = filename

    def run(self) -> Iterator[tuple[int, int, str, type[Any]]]:
        # flake8 hands over the (possibly unsaved) text: never re-read the file
        source = "".join(self.lines)
        if not might_match(source):
            return  # most files: one substring search, and libcst is never imported
        try:
            from .linter import lint_source  # libcst takes ~0.5 s to import: only candidates pay it

            diagnostics = lint_source(source, self.tree)
        except Exception as exc:  # never take flake8 down with us
            print(f"flake8-tensorview: internal error in {self.filename}: {exc!r}", file=sys.stderr)
            return
        for d in diagnostics:
            yield d.line, d.col, d.text, type(self)
