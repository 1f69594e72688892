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

    opt_in: frozenset[str] = frozenset()
    """The codes off by default that flake8's ``--select``/``--extend-select`` name in full."""

    @classmethod
    def add_options(cls, manager: Any) -> None:
        from .rules import OFF_BY_DEFAULT

        manager.extend_default_ignore(sorted(OFF_BY_DEFAULT))  # flake8's own off-by-default

    @classmethod
    def parse_options(cls, options: Any) -> None:
        from .rules import OFF_BY_DEFAULT

        named = {*(getattr(options, "select", None) or ()), *(getattr(options, "extend_select", None) or ())}
        # only the code itself turns it on, not a prefix such as TV (which flake8 alone would honour)
        cls.opt_in = frozenset(OFF_BY_DEFAULT & named)

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
            # libcst takes ~0.5 s to import: only candidates pay it
            from .linter import freeze_long_lived, lint_source

            freeze_long_lived()
            diagnostics = lint_source(source, self.tree, opt_in=self.opt_in)
        except Exception as exc:  # never take flake8 down with us
            print(f"flake8-tensorview: internal error in {self.filename}: {exc!r}", file=sys.stderr)
            return
        for d in diagnostics:
            yield d.line, d.col, d.text, type(self)
