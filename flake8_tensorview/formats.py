"""What the command reports, and every output format but SARIF (``sarif.py``) and code frames
(``frames.py``): text, JSON, GitHub annotations, GitLab Code Quality, JUnit XML, statistics."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

from .rules import RULES


@dataclass(frozen=True)
class Mark:
    """One labelled span of a finding's story: the op that changed the layout, a call that carried
    the tensor on. Lines and columns 1-based, ``end_column`` exclusive (as SARIF counts)."""

    line: int
    column: int
    end_line: int
    end_column: int
    label: str
    cell: int | None = None
    """The notebook cell; ``line`` and ``end_line`` then count within it."""


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    column: int
    """1-based, as flake8 prints it."""
    end_line: int
    end_column: int
    code: str
    message: str
    fix_available: bool
    cell: int | None = None
    cell_line: int | None = None
    label: str = ""
    """What happens at the reported span, for the label under it in a code frame."""
    note: str = ""
    help: str = ""
    story: tuple[Mark, ...] = ()
    source: tuple[tuple[int | None, int, str], ...] = field(default=(), compare=False, repr=False)
    """The lines a code frame shows, as (cell, line, text); only filled when frames are asked for."""

    def sort_key(self) -> tuple[str, int, int, int, str]:
        return (self.path, self.cell or 0, self.line, self.column, self.code)

    @property
    def location(self) -> str:
        """``path:line:col``, or Ruff's ``nb.ipynb:cell 3:14:33`` in a notebook."""
        cell = f"cell {self.cell}:" if self.cell else ""
        return f"{self.path}:{cell}{self.line}:{self.column}"

    @property
    def severity(self) -> str:
        rule = RULES.get(self.code)
        return rule.severity if rule is not None else "error"


# ---- colour -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Style:
    """ANSI styles, or none at all (``--color never``, pipes)."""

    enabled: bool = False

    def paint(self, text: str, *codes: str) -> str:
        if not self.enabled or not text:
            return text
        return f"\x1b[{';'.join(codes)}m{text}\x1b[0m"

    def severity(self, text: str, severity: str) -> str:
        return self.paint(text, "1", "31" if severity == "error" else "33")

    def accent(self, text: str) -> str:
        return self.paint(text, "1", "34")

    def bold(self, text: str) -> str:
        return self.paint(text, "1")


# ---- formats ----------------------------------------------------------------------------------


def format_text(findings: Sequence[Finding], style: Style = Style(), show_fixes: bool = False) -> str:
    out = []
    for f in findings:
        mark = " [*]" if show_fixes and f.fix_available else ""
        out.append(f"{style.bold(f.location)}: {style.severity(f.code, f.severity)}{mark} {f.message}\n")
    return "".join(out)


def format_json(findings: Sequence[Finding]) -> str:
    rows = []
    for f in findings:
        row = {k: v for k, v in asdict(f).items() if v is not None and k != "source"}
        row["story"] = [{k: v for k, v in step.items() if v is not None} for step in row["story"]]
        rows.append(row)
    return json.dumps(rows, indent=2) + "\n"


def _gh_escape(text: str, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


def format_github(findings: Sequence[Finding]) -> str:
    """Workflow commands; the level is the rule's severity, as in SARIF."""
    lines = []
    for f in findings:
        props = (
            f"file={_gh_escape(f.path, True)},line={f.line},col={f.column},"
            f"endLine={f.end_line},endColumn={f.end_column},title={f.code}"
        )
        lines.append(f"::{f.severity} {props}::{_gh_escape(f'{f.code} {f.message}')}")
    return "".join(line + "\n" for line in lines)


def format_gitlab(findings: Sequence[Finding]) -> str:
    """GitLab Code Quality JSON: one issue per finding, with a fingerprint that stays put when
    lines move (path, code, message without its line numbers, and the how-many-th such finding)."""
    seen: Counter[tuple[str, str, str]] = Counter()
    issues = []
    for f in findings:
        key = (f.path, f.code, re.sub(r"\bline \d+", "line", f.message))
        seen[key] += 1
        digest = hashlib.sha256("\0".join((*key, str(seen[key]))).encode()).hexdigest()
        issues.append(
            {
                "description": f"{f.code} {f.message}",
                "check_name": f.code,
                "fingerprint": digest,
                "severity": "major" if f.severity == "error" else "minor",
                "location": {"path": f.path, "positions": {
                    "begin": {"line": f.line, "column": f.column},
                    "end": {"line": f.end_line, "column": f.end_column},
                }},
            }
        )
    return json.dumps(issues, indent=2) + "\n"


def format_junit(findings: Sequence[Finding]) -> str:
    """JUnit XML as Ruff writes it: a test suite per file, a failing test case per finding."""
    from xml.etree import ElementTree as ET

    suites = ET.Element("testsuites", name="flake8-tensorview", tests=str(len(findings) or 1),
                        failures=str(len(findings)), errors="0")
    by_path: dict[str, list[Finding]] = {}
    for f in findings:
        by_path.setdefault(f.path, []).append(f)
    if not findings:
        suite = ET.SubElement(suites, "testsuite", name="flake8-tensorview", tests="1", failures="0",
                              errors="0")
        ET.SubElement(suite, "testcase", name="No errors found")
    for path, group in by_path.items():
        suite = ET.SubElement(suites, "testsuite", name=path, tests=str(len(group)), failures=str(len(group)),
                              errors="0")
        for f in group:
            case = ET.SubElement(suite, "testcase", name=f"org.flake8-tensorview.{f.code}", classname=path,
                                 file=f.path, line=str(f.line))
            failure = ET.SubElement(case, "failure", message=f"{f.code} {f.message}")
            failure.text = f"{f.location}: {f.code} {f.message}"
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def format_statistics(findings: Sequence[Finding], as_json: bool = False) -> str:
    """A count per code, most frequent first (``--statistics``)."""
    counts = Counter(f.code for f in findings)
    fixable = {f.code for f in findings if f.fix_available}
    rows = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    if as_json:
        return json.dumps([{"code": code, "name": RULES[code].name if code in RULES else "", "count": n,
                            "fixable": code in fixable} for code, n in rows], indent=2) + "\n"
    width = max((len(str(n)) for _, n in rows), default=1)
    return "".join(f"{n:>{width}}\t{code}\t{'[*] ' if code in fixable else ''}"
                   f"{RULES[code].name if code in RULES else ''}\n" for code, n in rows)


def format_sarif(findings: Sequence[Finding]) -> str:
    from .sarif import sarif_log

    return json.dumps(sarif_log(findings), indent=2) + "\n"


FORMATS: dict[str, Callable[[Sequence[Finding]], str]] = {
    "text": format_text,
    "json": format_json,
    "github": format_github,
    "gitlab": format_gitlab,
    "junit": format_junit,
    "sarif": format_sarif,
}
