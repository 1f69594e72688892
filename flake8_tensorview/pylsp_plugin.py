"""python-lsp-server plugin: the TV fixes as quick-fix code actions.

The diagnostics themselves come from pylsp's flake8 plugin, which runs flake8 and so this
package's checks. This module only answers ``textDocument/codeAction``: for each TV finding on the
requested lines it offers the rule's fix (and its alternative, for TV101) as an edit of the
unsaved text. pylsp loads it through the ``pylsp`` entry point; nothing here runs without pylsp.
"""

from __future__ import annotations

from typing import Any

from pylsp import hookimpl

from .checks import Diagnostic
from .linter import FixError, fix_source, lint_source
from .rules import RULES

Position = dict[str, int]


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def changed_lines(old: str, new: str) -> tuple[Position, Position, str]:
    """The smallest whole-line range of ``old`` to replace by the returned text to get ``new``."""
    old_lines, new_lines = old.splitlines(keepends=True), new.splitlines(keepends=True)
    head = 0
    while head < min(len(old_lines), len(new_lines)) and old_lines[head] == new_lines[head]:
        head += 1
    tail = 0
    while (tail < min(len(old_lines), len(new_lines)) - head
           and old_lines[-1 - tail] == new_lines[-1 - tail]):
        tail += 1
    end_line = len(old_lines) - tail
    if end_line == len(old_lines) and old_lines and not old_lines[-1].endswith(("\n", "\r")):
        end = {"line": end_line - 1, "character": _utf16_len(old_lines[-1])}
    else:
        end = {"line": end_line, "character": 0}
    return {"line": head, "character": 0}, end, "".join(new_lines[head:len(new_lines) - tail])


def _action(uri: str, version: int | None, source: str, d: Diagnostic, title: str, alternative: bool,
            resolves: list[dict[str, Any]]) -> dict[str, Any] | None:
    try:
        fixed = fix_source(source, keep=lambda found: found == d, alternative=alternative)
    except FixError:
        return None
    if fixed == source:
        return None
    start, end, text = changed_lines(source, fixed)
    return {
        "title": f"{title} ({d.code})",
        "kind": "quickfix",
        "diagnostics": resolves,
        "edit": {"documentChanges": [{
            "textDocument": {"uri": uri, "version": version},
            "edits": [{"range": {"start": start, "end": end}, "newText": text}],
        }]},
    }


@hookimpl
def pylsp_code_actions(config: Any, workspace: Any, document: Any, range: dict[str, Position],
                       context: dict[str, Any]) -> list[dict[str, Any]]:
    """Quick fixes for the TV findings whose line lies in ``range`` (LSP lines are 0-based)."""
    first, last = range["start"]["line"] + 1, range["end"]["line"] + 1
    source = document.source
    actions = []
    for d in lint_source(source):
        rule = RULES.get(d.code)
        if rule is None or d.edit is None or not first <= d.line <= last:
            continue
        offers = [(rule.fix_title, False)]
        if d.alternative is not None and rule.alternative_title:
            offers.append((rule.alternative_title, True))
        resolves = [c for c in context.get("diagnostics", [])
                    if c.get("code") == d.code and c["range"]["start"]["line"] == d.line - 1]
        for title, alternative in offers:
            action = _action(document.uri, document.version, source, d, title, alternative, resolves)
            if action is not None:
                actions.append(action)
    return actions
