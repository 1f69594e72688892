"""python-lsp-server plugin: the story of each TV finding, and its fixes as quick-fix code actions.

The diagnostics themselves come from pylsp's flake8 plugin, which runs flake8 and so this
package's checks (with the user's flake8 config and ``# noqa``). This module wraps pylsp's lint
hook to give each TV diagnostic flake8 reported what flake8's one line cannot carry: the exact
range of the reported span and, as LSP ``relatedInformation``, every step of the finding's story
(the op that changed the layout, ...) with its label, then the note and the help. It also answers
``textDocument/codeAction``: for each TV finding on the requested lines it offers the rule's fix
(and its alternative, for TV101) as an edit of the unsaved text. pylsp loads it through the
``pylsp`` entry point; nothing here runs without pylsp.
"""

from __future__ import annotations

from collections.abc import Generator
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
        offers = [(d.fix_title or rule.fix_title, False)]
        if d.alternative is not None and rule.alternative_title:
            offers.append((rule.alternative_title, True))
        resolves = [c for c in context.get("diagnostics", [])
                    if c.get("code") == d.code and c["range"]["start"]["line"] == d.line - 1]
        for title, alternative in offers:
            action = _action(document.uri, document.version, source, d, title, alternative, resolves)
            if action is not None:
                actions.append(action)
    return actions


def _range(line: int, col: int, end_line: int, end_col: int, lines: list[str]) -> dict[str, Position]:
    """LSP range (0-based lines, UTF-16 columns) from 1-based lines and 0-based code point columns."""

    def at(n: int, c: int) -> Position:
        text = lines[n - 1] if 0 < n <= len(lines) else ""
        return {"line": n - 1, "character": _utf16_len(text[:c])}

    return {"start": at(line, col), "end": at(end_line, end_col)}


def related_information(uri: str, d: Diagnostic, lines: list[str]) -> list[dict[str, Any]]:
    """The story's steps in program order, then the note and the help at the reported span."""
    here = _range(d.line, d.col, *(d.end if d.end != (0, 0) else (d.line, d.col + 1)), lines)
    info = [{"location": {"uri": uri, "range": _range(s.line, s.col, s.end_line, s.end_col, lines)},
             "message": s.label} for s in d.story if s.label]
    info += [{"location": {"uri": uri, "range": here}, "message": f"{kind}: {text}"}
             for kind, text in (("note", d.note), ("help", d.help)) if text]
    return info


@hookimpl(hookwrapper=True)
def pylsp_lint(document: Any) -> Generator[None, Any, None]:
    """After the other linters ran: flake8's TV diagnostics get their exact range and their story
    (edited in place; pluggy's old-style wrapper, which every pluggy 1.x that pylsp accepts has)."""
    outcome = yield
    try:
        results = outcome.get_result()
    except BaseException:  # a linter failed: pylsp reports that, not us
        return
    reported = [d for group in results or () for d in group or ()
                if str(d.get("code", "")).startswith("TV") and d.get("source") == "flake8"]
    if not reported:
        return
    try:
        source = document.source
        lines = source.splitlines()
        found = {(d.line - 1, d.col, d.code): d for d in lint_source(source)}  # pylsp: flake8's column - 1
    except Exception:  # never take the editor's diagnostics down with us
        return
    for diagnostic in reported:
        start = diagnostic["range"]["start"]
        d = found.get((start["line"], start["character"], diagnostic["code"]))
        if d is None:
            continue
        if d.end != (0, 0):
            diagnostic["range"] = _range(d.line, d.col, d.end[0], d.end[1], lines)
        info = related_information(document.uri, d, lines)
        if info:
            diagnostic["relatedInformation"] = info
