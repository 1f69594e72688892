"""``flake8-tensorview``: the same analysis as the flake8 plugin, without flake8, with fixes.

Exit status: 0 clean, 1 findings (or fixes shown by ``--diff``), 2 usage or internal error.
"""

from __future__ import annotations

import argparse
import difflib
import fnmatch
import io
import json
import os
import re
import sys
import tempfile
import tokenize
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from . import __version__, notebook
from .checks import Diagnostic
from .linter import FixError, fix_source, lint_source
from .rules import RULES

DEFAULT_EXCLUDE = (
    ".git,.hg,.svn,.bzr,__pycache__,.tox,.nox,.venv,venv,env,.env,build,dist,.eggs,*.egg-info,"
    "node_modules,.mypy_cache,.pytest_cache,.ruff_cache,site-packages"
)
NOQA = re.compile(r"#\s*noqa(?::[\s]?(?P<codes>[A-Z][0-9]+(?:[,\s]+[A-Z][0-9]+)*))?", re.IGNORECASE)


@dataclass(frozen=True)
class Options:
    select: tuple[str, ...] = ("TV",)
    ignore: tuple[str, ...] = ()
    fix: bool = False
    diff: bool = False
    unsafe_fixes: bool = False
    reshape: bool = False

    def selected(self, code: str) -> bool:
        return code.startswith(self.select) and not (self.ignore and code.startswith(self.ignore))

    def fixable(self, code: str) -> bool:
        return RULES[code].fix == "safe" or (self.unsafe_fixes and RULES[code].fix == "unsafe")


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

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.path, self.line, self.column, self.code)


@dataclass
class FileResult:
    path: str
    findings: list[Finding] = field(default_factory=list)
    fixed: int = 0
    diff: str = ""
    error: str | None = None


# ---- reading and writing ----------------------------------------------------------------------


def read_source(path: Path) -> tuple[str, str, bytes]:
    """Text, encoding and raw bytes; line endings kept as they are."""
    raw = path.read_bytes()
    if path.suffix == ".ipynb":
        return raw.decode("utf-8"), "utf-8", raw
    encoding, _ = tokenize.detect_encoding(io.BytesIO(raw).readline)
    return raw.decode(encoding), encoding, raw


def write_atomic(path: Path, text: str, encoding: str, expected: bytes) -> None:
    """Replace ``path`` unless it changed since it was read; keeps the file's mode."""
    if path.read_bytes() != expected:
        raise OSError(f"{path} changed on disk since it was read; not fixed")
    if not os.access(path, os.W_OK) or not path.stat().st_mode & 0o222:
        raise OSError(f"{path} is read-only; not fixed")
    mode = path.stat().st_mode
    data = text.encode("utf-8-sig" if encoding == "utf-8-sig" else encoding)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tv-tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# ---- one file ---------------------------------------------------------------------------------


def suppressed(d: Diagnostic, lines: Sequence[str]) -> bool:
    if not 1 <= d.line <= len(lines):
        return False
    match = NOQA.search(lines[d.line - 1])
    if match is None:
        return False
    codes = match.group("codes")
    if not codes:
        return True
    return d.code.upper().startswith(tuple(c.upper() for c in re.split(r"[,\s]+", codes) if c))


def _kept(source: str, options: Options) -> list[Diagnostic]:
    lines = source.splitlines()
    return [d for d in lint_source(source) if options.selected(d.code) and not suppressed(d, lines)]


def process(path_str: str, options: Options) -> FileResult:
    path = Path(path_str)
    result = FileResult(path_str)
    try:
        text, encoding, raw = read_source(path)
        if path.suffix == ".ipynb":
            return _process_notebook(path, text, raw, options, result)
        source = text
        findings = _kept(text, options)
        if (options.fix or options.diff) and any(d.edit is not None and options.fixable(d.code) for d in findings):
            lines = text.splitlines()

            def keep(d: Diagnostic) -> bool:
                return options.selected(d.code) and options.fixable(d.code) and not suppressed(d, lines)

            try:  # a fix rewrites the module: only files with a fixable finding pay for a whole parse
                fixed = fix_source(text, keep, alternative=options.reshape)
                if fixed != text:
                    if options.diff:
                        result.diff = "".join(
                            difflib.unified_diff(
                                text.splitlines(keepends=True), fixed.splitlines(keepends=True), path_str, path_str
                            )
                        )
                    else:
                        write_atomic(path, fixed, encoding, raw)
                        source = fixed
                    result.fixed = len([d for d in findings if keep(d)])
            except (OSError, FixError) as exc:  # not fixed: say why, and still report the findings
                result.error = f"{path_str}: {exc}"
        if source is not text:
            findings = _kept(source, options)
        for d in findings:
            result.findings.append(_finding(path_str, d, options))
    except (OSError, UnicodeDecodeError, SyntaxError, ValueError, FixError) as exc:
        result.error = f"{path_str}: {exc}"
    except Exception as exc:  # an internal error is reported, never a traceback
        result.error = f"{path_str}: internal error: {exc!r}"
    return result


def _finding(path: str, d: Diagnostic, options: Options, cell: tuple[int, int] | None = None) -> Finding:
    message = d.text[len(d.code) + 1 :]
    return Finding(
        path,
        d.line,
        d.col + 1,
        d.end[0] or d.line,
        d.end[1] + 1,
        d.code,
        message,
        d.edit is not None and options.fixable(d.code),
        cell[0] if cell else None,
        cell[1] if cell else None,
    )


def _process_notebook(path: Path, text: str, raw: bytes, options: Options, result: FileResult) -> FileResult:
    nb = notebook.load(text)
    source = nb.source
    if options.fix or options.diff:
        lines = source.splitlines()

        def keep(d: Diagnostic) -> bool:
            return options.selected(d.code) and options.fixable(d.code) and not suppressed(d, lines)

        fixed = fix_source(source, keep, alternative=options.reshape)
        if fixed != source:
            if not notebook.round_trips(text):
                result.error = f"{path}: not fixed: writing this notebook back would reformat it"
            else:
                new_text = notebook.apply(nb, fixed)
                result.fixed = len([d for d in lint_source(source) if keep(d)])
                if options.diff:
                    result.diff = "".join(
                        difflib.unified_diff(
                            text.splitlines(keepends=True), new_text.splitlines(keepends=True), str(path), str(path)
                        )
                    )
                else:
                    write_atomic(path, new_text, "utf-8", raw)
                    nb = notebook.load(new_text)
                    source = nb.source
    def where(line: int) -> tuple[int, int]:
        return nb.lines[line] if 0 < line < len(nb.lines) else (0, 0)

    def in_cells(match: re.Match[str]) -> str:
        cell, line = where(int(match.group(1)))
        return f"on cell {cell} line {line}"

    for d in _kept(source, options):
        f = _finding(str(path), d, options, where(d.line))
        end_cell, end_line = where(f.end_line)
        result.findings.append(
            replace(
                f,
                line=f.cell_line or f.line,
                end_line=end_line if end_cell == f.cell else f.cell_line or f.line,
                message=re.sub(r"on line (\d+)", in_cells, f.message),
            )
        )
    return result


# ---- many files -------------------------------------------------------------------------------


def discover(paths: Iterable[str], exclude: Sequence[str]) -> list[str]:
    def excluded(p: Path) -> bool:
        return any(fnmatch.fnmatch(p.name, pattern) or fnmatch.fnmatch(str(p), pattern) for pattern in exclude)

    found: set[str] = set()
    for given in paths:
        root = Path(given)
        if root.is_file():
            found.add(str(root))
            continue
        if not root.is_dir():
            raise FileNotFoundError(given)
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if not excluded(Path(dirpath, d)))
            for name in filenames:
                candidate = Path(dirpath, name)
                if candidate.suffix in (".py", ".pyi", ".ipynb") and not excluded(candidate):
                    found.add(str(candidate))
    return sorted(found)


def run(files: list[str], options: Options, jobs: int) -> list[FileResult]:
    if jobs <= 1 or len(files) < 2:
        return [process(f, options) for f in files]
    with ProcessPoolExecutor(max_workers=min(jobs, len(files))) as pool:
        return list(pool.map(process, files, [options] * len(files), chunksize=8))


# ---- output -----------------------------------------------------------------------------------


def format_text(findings: list[Finding]) -> str:
    out = []
    for f in findings:
        where = f"{f.path}:cell {f.cell}:line {f.cell_line}" if f.cell else f"{f.path}:{f.line}"
        out.append(f"{where}:{f.column}: {f.code} {f.message}")
    return "".join(line + "\n" for line in out)


def format_json(findings: list[Finding]) -> str:
    return json.dumps([{k: v for k, v in asdict(f).items() if v is not None} for f in findings], indent=2) + "\n"


def _gh_escape(text: str, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


def format_github(findings: list[Finding]) -> str:
    lines = []
    for f in findings:
        props = (
            f"file={_gh_escape(f.path, True)},line={f.line},col={f.column},"
            f"endLine={f.end_line},endColumn={f.end_column},title={f.code}"
        )
        lines.append(f"::error {props}::{_gh_escape(f'{f.code} {f.message}')}")
    return "".join(line + "\n" for line in lines)


def format_sarif(findings: list[Finding]) -> str:
    from .sarif import sarif_log

    return json.dumps(sarif_log(findings), indent=2) + "\n"


FORMATS = {"text": format_text, "json": format_json, "github": format_github, "sarif": format_sarif}


def _codes(value: str) -> tuple[str, ...]:
    return tuple(c.strip().upper() for c in value.split(",") if c.strip())


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="flake8-tensorview",
        description="Find .view() calls that cannot work and redundant mask unsqueezes in PyTorch code.",
    )
    p.add_argument("paths", nargs="*", help="files and folders (.py, .ipynb)")
    p.add_argument("--select", type=_codes, default=("TV",), help="codes or prefixes to report (default: TV)")
    p.add_argument("--ignore", type=_codes, default=(), help="codes or prefixes to leave out")
    p.add_argument("--exclude", default=DEFAULT_EXCLUDE, help=f"comma-separated globs (default: {DEFAULT_EXCLUDE})")
    p.add_argument("--extend-exclude", default="", help="globs added to --exclude")
    p.add_argument("--fix", action="store_true", help="apply safe fixes in place")
    p.add_argument("--unsafe-fixes", action="store_true", help="also apply fixes marked unsafe")
    p.add_argument("--diff", action="store_true", help="show the fixes as a diff, write nothing")
    p.add_argument("--reshape", action="store_true", help="fix TV101 with .reshape(...) instead of .contiguous()")
    p.add_argument("--format", choices=sorted(FORMATS), default="text", help="output format")
    p.add_argument("--exit-zero", action="store_true", help="exit 0 even with findings")
    p.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1, help="parallel processes")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if not args.paths:
        return 0  # nothing staged: a pre-commit run with no files
    options = Options(
        select=args.select, ignore=args.ignore, fix=args.fix, diff=args.diff,
        unsafe_fixes=args.unsafe_fixes, reshape=args.reshape,
    )
    exclude = [g.strip() for g in (args.exclude + "," + args.extend_exclude).split(",") if g.strip()]
    try:
        files = discover(args.paths, exclude)
    except FileNotFoundError as exc:
        print(f"flake8-tensorview: no such file or folder: {exc}", file=sys.stderr)
        return 2
    results = run(files, options, args.jobs)
    findings = sorted((f for r in results for f in r.findings), key=Finding.sort_key)
    errors = [r.error for r in results if r.error]
    diffs = "".join(r.diff for r in results)
    fixed = sum(r.fixed for r in results)
    if args.diff:
        sys.stdout.write(diffs)
    else:
        sys.stdout.write(FORMATS[args.format](findings))
    for error in errors:
        print(f"flake8-tensorview: {error}", file=sys.stderr)
    summary = f"checked {len(files)} file{'s' * (len(files) != 1)}: {len(findings)} finding{'s' * (len(findings) != 1)}"
    if fixed:
        summary += f", {fixed} fixed" if not args.diff else f", {fixed} fixable"
    print(summary, file=sys.stderr)
    if errors and any("internal error" in e for e in errors):
        return 2
    if args.exit_zero:
        return 0
    return 1 if findings or (args.diff and diffs) else 0
