"""SARIF 2.1.0 output (GitHub code scanning), for the CLI and as a flake8 formatter."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from flake8.formatting.base import BaseFormatter

from . import __version__
from .rules import RULES

SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"


def rule_descriptor(code: str) -> dict[str, Any]:
    rule = RULES.get(code)
    if rule is None:
        return {"id": code, "shortDescription": {"text": code}}
    return {
        "id": code,
        "name": rule.name,
        "shortDescription": {"text": rule.what.split(". ")[0].rstrip(".") + "."},
        "fullDescription": {"text": rule.what + " " + rule.why},
        "help": {
            "text": f"{rule.why}\n\nUse instead:\n{rule.use_instead}",
            "markdown": f"{rule.why}\n\n**Use instead:**\n```python\n{rule.use_instead}\n```",
        },
        "defaultConfiguration": {"level": rule.severity},
    }


def relative_uri(path: str, root: Path) -> str:
    full = Path(path).resolve()
    try:
        return full.relative_to(root.resolve()).as_posix()
    except ValueError:
        return full.as_posix()


def repository_root(start: Path) -> Path:
    """The enclosing git work tree (SARIF URIs are repository-relative), else ``start``."""
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return start


def _region(line: int, column: int, end_line: int, end_column: int) -> dict[str, int]:
    region = {"startLine": line, "startColumn": max(column, 1)}
    if end_line and end_column:
        region.update(endLine=end_line, endColumn=max(end_column, 1))
    return region


def _location(uri: str, region: dict[str, int], text: str = "", cell: int | None = None,
              ident: int | None = None) -> dict[str, Any]:
    location: dict[str, Any] = {"physicalLocation": {
        "artifactLocation": {"uri": uri, "uriBaseId": "%SRCROOT%"},
        "region": region,
    }}
    if ident is not None:
        location["id"] = ident
    if text:
        location["message"] = {"text": text}
    if cell:
        location["properties"] = {"cell": cell}
    return location


def result(f: Any, root: Path, index: dict[str, int]) -> dict[str, Any]:
    """One finding as a SARIF result: the reported span, each step of its story as a related
    location, and the whole story (steps, then the reported span) as one code flow thread."""
    uri = relative_uri(f.path, root)
    rule = RULES.get(f.code)
    out: dict[str, Any] = {
        "ruleId": f.code,
        "ruleIndex": index[f.code],
        "level": rule.severity if rule is not None else "error",
        "message": {"text": f"{f.code} {f.message}"},
        "locations": [_location(uri, _region(f.line, f.column, f.end_line, f.end_column),
                                cell=getattr(f, "cell", None))],
    }
    if getattr(f, "cell", None):
        out["properties"] = {"cell": f.cell}
    story = getattr(f, "story", ())
    if story:
        out["relatedLocations"] = [
            _location(uri, _region(m.line, m.column, m.end_line, m.end_column), m.label, m.cell, ident)
            for ident, m in enumerate(story, start=1)
        ]
        steps = [_location(uri, _region(m.line, m.column, m.end_line, m.end_column), m.label, m.cell)
                 for m in story]
        last = _location(uri, _region(f.line, f.column, f.end_line, f.end_column),
                         getattr(f, "label", "") or f.message, getattr(f, "cell", None))
        out["codeFlows"] = [{"threadFlows": [{"locations": [
            {"location": step, "nestingLevel": 0, "executionOrder": order}
            for order, step in enumerate([*steps, last], start=1)
        ]}]}]
    return out


def sarif_log(findings: Iterable[Any], root: Path | None = None) -> dict[str, Any]:
    """``findings``: objects with path, line, column, end_line, end_column, code and message (and,
    from the command, cell, label and story)."""
    root = root or repository_root(Path(os.getcwd()).resolve())
    findings = list(findings)
    codes = sorted({f.code for f in findings} | set(RULES))
    index = {code: i for i, code in enumerate(codes)}
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "flake8-tensorview",
                        "version": __version__,
                        "rules": [rule_descriptor(code) for code in codes],
                    }
                },
                "originalUriBaseIds": {"%SRCROOT%": {"uri": root.resolve().as_uri() + "/"}},
                "results": [result(f, root, index) for f in findings],
            }
        ],
    }


class _Row:
    """A flake8 result; flake8's column is already 1-based (it adds 1 to the plugin's)."""

    def __init__(self, error: Any) -> None:
        self.path = error.filename
        self.line = error.line_number
        self.column = max(error.column_number or 1, 1)
        self.end_line = 0
        self.end_column = 0
        self.code = error.code
        self.message = error.text


def _as_the_command_reports(rows: list[Any]) -> list[Any]:
    """TV results with what flake8 cannot carry (the end of the span, the story), taken from the
    command's own report of the same file, so that both SARIF logs agree."""
    from .cli import Options, process

    by_file: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        if row.code.startswith("TV") and os.path.isfile(row.path):
            by_file.setdefault(row.path, []).append(i)
    rows = list(rows)
    for path, indices in by_file.items():
        codes = tuple(sorted({rows[i].code for i in indices}))
        report = process(path, Options(select=codes))
        found = {(f.line, f.column, f.code): f for f in report.findings}
        for i in indices:
            row = rows[i]
            match = found.get((row.line, row.column, row.code))
            if match is not None and match.message == row.message:  # the file on disk is what flake8 read
                rows[i] = match
    return rows


class SarifFormatter(BaseFormatter):
    """``flake8 --format=tensorview-sarif``: every flake8 result as one SARIF log."""

    def after_init(self) -> None:
        self.rows: list[_Row] = []

    def handle(self, error: Any) -> None:
        self.rows.append(_Row(error))

    def format(self, error: Any) -> str | None:
        return None

    def stop(self) -> None:
        import json

        text = json.dumps(sarif_log(_as_the_command_reports(self.rows)), indent=2)
        if self.output_fd is not None:
            self.output_fd.write(text + "\n")
        else:
            print(text)
        super().stop()
