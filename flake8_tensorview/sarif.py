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
HOME = "https://pypi.org/project/flake8-tensorview/"


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
        "helpUri": f"{HOME}#{code.lower()}",
        "defaultConfiguration": {"level": "error" if code.startswith("TV1") else "warning"},
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


def sarif_log(findings: Iterable[Any], root: Path | None = None) -> dict[str, Any]:
    """``findings``: objects with path, line, column, end_line, end_column, code and message."""
    root = root or repository_root(Path(os.getcwd()).resolve())
    findings = list(findings)
    codes = sorted({f.code for f in findings} | set(RULES))
    index = {code: i for i, code in enumerate(codes)}
    results = []
    for f in findings:
        region = {"startLine": f.line, "startColumn": f.column}
        if f.end_line and f.end_column:
            region.update(endLine=f.end_line, endColumn=f.end_column)
        extra = {"properties": {"cell": f.cell}} if getattr(f, "cell", None) else {}
        results.append(
            {
                **extra,
                "ruleId": f.code,
                "ruleIndex": index[f.code],
                "level": "error" if f.code.startswith("TV1") else "warning",
                "message": {"text": f"{f.code} {f.message}"},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": relative_uri(f.path, root), "uriBaseId": "%SRCROOT%"},
                            "region": region,
                        }
                    }
                ],
            }
        )
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "flake8-tensorview",
                        "version": __version__,
                        "informationUri": HOME,
                        "rules": [rule_descriptor(code) for code in codes],
                    }
                },
                "originalUriBaseIds": {"%SRCROOT%": {"uri": root.resolve().as_uri() + "/"}},
                "results": results,
            }
        ],
    }


class _Row:
    def __init__(self, error: Any) -> None:
        self.path = error.filename
        self.line = error.line_number
        self.column = (error.column_number or 0) + 1
        self.end_line = 0
        self.end_column = 0
        self.code = error.code
        self.message = error.text


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

        text = json.dumps(sarif_log(self.rows), indent=2)
        if self.output_fd is not None:
            self.output_fd.write(text + "\n")
        else:
            print(text)
        super().stop()
