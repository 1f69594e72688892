"""``flake8-tensorview``: the same analysis as the flake8 plugin, without flake8, with fixes.

Exit status: 0 clean, 1 findings (unreadable files included, or fixes shown by ``--diff``),
2 usage, configuration or internal error.
"""

from __future__ import annotations

import argparse
import ast
import io
import os
import re
import symtable
import sys
import tokenize
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__, config, notebook
from .formats import FORMATS, Finding, Mark, Style, format_statistics, format_text
from .preselect import might_match
from .rules import OFF_BY_DEFAULT, RULES, message

if TYPE_CHECKING:
    from .checks import Diagnostic

# The linter (and libcst, ~0.3 s to import) is imported where a file first needs it: a run whose
# files the substring search all keeps out never pays for it (see ``lint_text`` and ``run``).

DEFAULT_EXCLUDE = (
    ".git,.hg,.svn,.bzr,__pycache__,.tox,.nox,.venv,venv,env,.env,build,dist,.eggs,*.egg-info,"
    "node_modules,.mypy_cache,.pytest_cache,.ruff_cache,site-packages"
)
STDIN = "-"


@dataclass(frozen=True)
class Options:
    select: tuple[str, ...] = ("TV",)
    ignore: tuple[str, ...] = ()
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()
    fix: bool = False
    diff: bool = False
    unsafe_fixes: bool = False
    reshape: bool = False
    show_source: bool = False
    file_ignore: tuple[str, ...] = ()
    """The per-file ignores of the file at hand: they win over any select, as in Ruff."""

    def opted_in(self) -> frozenset[str]:
        """The codes off by default that this run selects (an opt-in rule costs a whole-module analysis)."""
        return frozenset(code for code in OFF_BY_DEFAULT if self.selected(code))

    def selected(self, code: str) -> bool:
        """flake8's decision: the longest matching prefix wins, and ignore wins a tie."""
        chosen = max((len(p) for p in self.select if code.startswith(p)), default=-1)
        if code in OFF_BY_DEFAULT:  # only its own code turns it on (Ruff's explicit-preview-rules)
            chosen = len(code) if code in self.select else -1
        dropped = max((len(p) for p in self.ignore if code.startswith(p)), default=-1)
        per_file = bool(self.file_ignore) and code.startswith(self.file_ignore)
        return chosen >= 0 and chosen > dropped and not per_file

    def fixable(self, code: str, safe: bool | None = None) -> bool:
        """``safe``: the finding's own fix safety, where it differs from finding to finding."""
        rule = RULES.get(code)
        level = "unsafe" if safe is False else "safe" if safe else rule.fix if rule else "none"
        return rule is not None and (level == "safe" or (self.unsafe_fixes and level == "unsafe"))

    def for_path(self, path: str) -> Options:
        """These options for ``path``: the per-file ignores whose glob matches it."""
        extra = tuple(c for glob, codes in self.per_file_ignores if config.matches(path, [glob])
                      for c in codes)
        return replace(self, file_ignore=extra, per_file_ignores=()) if extra else self


@dataclass
class FileResult:
    path: str
    findings: list[Finding] = field(default_factory=list)
    fixed: Counter[str] = field(default_factory=Counter)
    """Fixes applied (or, with ``--diff``, shown) per code."""
    diff: str = ""
    fixed_text: str | None = None
    """With stdin and ``--fix``: the text to print."""
    error: str | None = None


# ---- reading and writing ----------------------------------------------------------------------


def decode(raw: bytes) -> tuple[str, str, Diagnostic | None]:
    """Text and encoding as flake8 reads a file: its coding cookie (UTF-8 without one), else
    latin-1, which never fails; a file that needed latin-1 is also a TV902 where the bad byte is."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(raw).readline)
        return raw.decode(encoding), encoding, None
    except SyntaxError as exc:  # an unknown codec, a cookie against the BOM, bad bytes in the first lines
        encoding, problem = "utf-8", f"{exc}"
    except UnicodeDecodeError:
        problem = ""
    try:
        raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1)
        error = (f"byte 0x{raw[exc.start]:02x} is not {encoding} ({exc.reason}); save the file as {encoding} "
                 f"or name its encoding in a coding comment (it was checked as latin-1)")
        return raw.decode("latin-1"), "latin-1", unreadable(line, col, error)
    return raw.decode("latin-1"), "latin-1", unreadable(1, 0, f"{problem} (it was checked as latin-1)")


def unreadable(line: int, col: int, error: str) -> Diagnostic:
    from .checks import Diagnostic

    return Diagnostic(line, col, "TV902", message("TV902", error=error), end=(line, col + 1))


def write_atomic(path: Path, text: str, encoding: str, expected: bytes) -> None:
    """Replace ``path`` unless it changed since it was read; keeps the file's mode."""
    if path.read_bytes() != expected:
        raise OSError(f"{path} changed on disk since it was read; not fixed")
    if not os.access(path, os.W_OK) or not path.stat().st_mode & 0o222:
        raise OSError(f"{path} is read-only; not fixed")
    import tempfile

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


# ---- noqa, as flake8 reads it -----------------------------------------------------------------

TENSORVIEW_FILE_NOQA = re.compile(
    r"^[ \t]*#[ \t]*tensorview:[ \t]*noqa(?::[ \t]?(?P<codes>[A-Z]+[0-9]+(?:[,\s]+[A-Z]+[0-9]+)*))?",
    re.IGNORECASE | re.MULTILINE,
)


class Suppressions:
    """``# noqa`` on the reported line (flake8's own pattern and code matching), and for the file
    ``# flake8: noqa`` (as flake8: on a line of its own) or ``# tensorview: noqa[: CODES]``."""

    def __init__(self, text: str) -> None:
        from flake8.defaults import NOQA_FILE

        self.lines = text.splitlines()
        self.whole_file = any(NOQA_FILE.match(line) for line in self.lines)
        self.file_codes: tuple[str, ...] = ()
        for match in TENSORVIEW_FILE_NOQA.finditer(text):
            if not match.group("codes"):
                self.whole_file = True
            else:
                self.file_codes += tuple(re.split(r"[,\s]+", match.group("codes").strip()))

    def __call__(self, d: Diagnostic) -> bool:
        from flake8.defaults import NOQA_INLINE_REGEXP
        from flake8.utils import parse_comma_separated_list

        if self.whole_file or d.code.startswith(self.file_codes or ("\0",)):
            return True
        if not 1 <= d.line <= len(self.lines):
            return False
        match = NOQA_INLINE_REGEXP.search(self.lines[d.line - 1])
        if match is None:
            return False
        if match.group("codes") is None:
            return True
        codes = set(parse_comma_separated_list(match.group("codes")))
        return d.code in codes or d.code.startswith(tuple(codes))


# ---- one file ---------------------------------------------------------------------------------


def lint_text(
    text: str, filename: str, top_level_await: bool = False, opt_in: frozenset[str] = frozenset()
) -> list[Diagnostic]:
    """The findings in ``text``; a syntax error is a TV902. Every file is parsed, as Ruff does; the
    files the substring search keeps out of the analysis (most of them) only need the parser's
    yes, which :func:`parses` gets without building an ast. Its no is not the verdict: the ast parse
    then gives it, as for every file the analysis takes."""
    candidate = might_match(text)
    if not candidate and parses(text, filename):
        return []
    from .linter import collector_paused, freeze_long_lived, lint_source

    freeze_long_lived()

    flags = ast.PyCF_ONLY_AST | (ast.PyCF_ALLOW_TOP_LEVEL_AWAIT if top_level_await else 0)
    # the tree's nodes all live until the file is done (see linter): the collector stays off until
    # they are freed, or its next run would walk every one of them
    with collector_paused():
        try:
            tree = compile(text, filename, "exec", flags, dont_inherit=True)
        except SyntaxError as exc:
            line, col = exc.lineno or 1, max((exc.offset or 1) - 1, 0)
            return [unreadable(line, col, f"{type(exc).__name__}: {exc.msg}")]
        except ValueError as exc:  # null bytes
            return [unreadable(1, 0, f"ValueError: {exc}")]
        except (RecursionError, MemoryError):  # nested too deep for Python's own parser: skipped, as before
            return []
        found = lint_source(text, tree, opt_in=opt_in) if candidate else []
        del tree
    return found


def parses(text: str, filename: str) -> bool:
    """Whether Python's parser takes ``text``, at about three quarters of the CPU of ``ast.parse``
    (with freeing the tree): ``symtable`` parses into the C structures only, never making the
    ast's hundred thousand Python objects. False is "ask ``ast``", not a syntax error: the symbol
    table also rejects code the parser takes (``nonlocal`` at module level, ``yield`` in a
    comprehension), and a file that warned (an invalid escape) is parsed again so that the
    warning is shown once, by the parse that decides, as before."""
    with warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")
        try:
            symtable.symtable(text, filename, "exec")
        except Exception:  # SyntaxError, null bytes, nested too deep (RecursionError, MemoryError)
            return False
    return not warned


def process(path_str: str, options: Options, raw: bytes | None = None) -> FileResult:
    """Lint (and fix) one file; ``raw``: its bytes when they come from stdin, never written."""
    result = FileResult(path_str)
    options = options.for_path(path_str)
    try:
        if raw is None:
            try:
                raw = Path(path_str).read_bytes()
            except OSError as exc:
                d = unreadable(1, 0, f"{type(exc).__name__}: {exc.strerror or exc}")
                if options.selected(d.code):
                    result.findings.append(_finding(path_str, d, options, []))
                return result
            write = True
        else:
            write = False
        if path_str.endswith(".ipynb"):
            return _process_notebook(path_str, raw, options, result, write)
        return _process_python(path_str, raw, options, result, write)
    except Exception as exc:  # an internal error is reported, never a traceback
        result.error = f"{path_str}: internal error: {exc!r}"
    return result


def _process_python(path_str: str, raw: bytes, options: Options, result: FileResult,
                    write: bool) -> FileResult:
    text, encoding, problem = decode(raw)
    diagnostics = ([problem] if problem else []) + lint_text(text, path_str, opt_in=options.opted_in())
    noqa = Suppressions(text) if diagnostics else None
    kept = [d for d in diagnostics if options.selected(d.code) and not (noqa and noqa(d))]
    source = text
    fixable = any(d.edit is not None and options.fixable(d.code, d.safe) for d in kept)
    if (options.fix or options.diff) and noqa and fixable:

        def keep(d: Diagnostic) -> bool:
            return options.selected(d.code) and options.fixable(d.code, d.safe) and not noqa(d)

        from .linter import FixError, fix_source

        try:  # a fix rewrites the module: only files with a fixable finding pay for a whole parse
            fixed = fix_source(text, keep, alternative=options.reshape, opt_in=OFF_BY_DEFAULT)
            if fixed != text:
                if options.diff:
                    result.diff = _diff(text, fixed, path_str)
                elif write:
                    write_atomic(Path(path_str), fixed, encoding, raw)
                    source = fixed
                else:
                    source = fixed
                result.fixed = Counter(d.code for d in kept if keep(d))
        except (OSError, FixError) as exc:  # not fixed: say why, and still report the findings
            result.error = f"{path_str}: {exc}"
    if options.fix and not write:
        result.fixed_text = source
    if source is not text:
        noqa = Suppressions(source)
        kept = [d for d in ([problem] if problem else []) + lint_text(source, path_str, opt_in=options.opted_in())
                if options.selected(d.code) and not noqa(d)]
    if kept:  # most files have none: their text is never split into lines
        lines = source.splitlines(keepends=True)
        result.findings = [_finding(path_str, d, options, lines) for d in kept]
    return result


def _diff(old: str, new: str, path: str) -> str:
    import difflib

    old_lines, new_lines = old.splitlines(keepends=True), new.splitlines(keepends=True)
    return "".join(difflib.unified_diff(old_lines, new_lines, path, path))


Where = Callable[[int], "tuple[int | None, int]"]


def _plain(line: int) -> tuple[int | None, int]:
    return None, line


def _finding(path: str, d: Diagnostic, options: Options, lines: Sequence[str], where: Where = _plain,
             words: Callable[[str], str] = lambda s: s) -> Finding:
    """``d`` as the command reports it; ``where`` maps a line of the linted text to (cell, line)."""
    from .frames import lines_to_show

    cell, line = where(d.line)
    end_line, end_col = d.end if d.end != (0, 0) else (d.line, d.col + 1)
    end_cell, end_at = where(end_line)
    story = []
    for step in d.story:
        step_cell, step_line = where(step.line)
        step_end_cell, step_end = where(step.end_line)
        story.append(Mark(step_line, step.col + 1, step_end if step_end_cell == step_cell else step_line,
                          step.end_col + 1, words(step.label), step_cell))
    source: tuple[tuple[int | None, int, str], ...] = ()
    if options.show_source:  # only reported findings pay for their frame's lines
        shown = lines_to_show([d.line, *(s.line for s in d.story)])
        source = tuple((*where(n), lines[n - 1]) for n in shown if 0 < n <= len(lines))
    return Finding(
        path,
        line,
        d.col + 1,
        end_at if end_cell == cell else line,
        end_col + 1,
        d.code,
        words(d.text[len(d.code) + 1 :]),
        d.edit is not None and options.fixable(d.code, d.safe),
        cell,
        line if cell else None,
        words(d.label),
        words(d.note),
        words(d.help),
        tuple(story),
        source,
    )


def _process_notebook(path_str: str, raw: bytes, options: Options, result: FileResult,
                      write: bool) -> FileResult:
    try:
        text = raw.decode("utf-8")
        nb = notebook.load(text)
    except (UnicodeDecodeError, ValueError, TypeError, AttributeError, KeyError) as exc:
        d = unreadable(1, 0, f"not a Jupyter notebook ({type(exc).__name__}: {exc})")
        if options.selected(d.code):
            result.findings.append(_finding(path_str, d, options, []))
        return result
    source = nb.source

    def lint(book: notebook.Notebook) -> list[Diagnostic]:
        noqa = Suppressions(book.source)
        shown = notebook.displayed(book)
        return [d for d in lint_text(book.source, path_str, top_level_await=True, opt_in=options.opted_in())
                if options.selected(d.code) and not noqa(d) and not (d.code == "TV301" and d.line in shown)]

    kept = lint(nb)
    if (options.fix or options.diff) and any(d.edit is not None and options.fixable(d.code, d.safe) for d in kept):
        noqa = Suppressions(source)
        shown = notebook.displayed(nb)

        def keep(d: Diagnostic) -> bool:
            return (options.selected(d.code) and options.fixable(d.code, d.safe) and not noqa(d)
                    and not (d.code == "TV301" and d.line in shown))

        from .linter import FixError, fix_source

        try:
            fixed = fix_source(source, keep, alternative=options.reshape, opt_in=OFF_BY_DEFAULT)
        except FixError as exc:
            fixed, result.error = source, f"{path_str}: {exc}"
        if fixed != source:
            if not notebook.round_trips(text):
                result.error = f"{path_str}: not fixed: writing this notebook back would reformat it"
            else:
                new_text = notebook.apply(nb, fixed)
                result.fixed = Counter(d.code for d in kept if keep(d))
                if options.diff:
                    result.diff = _diff(text, new_text, path_str)
                else:
                    if write:
                        write_atomic(Path(path_str), new_text, "utf-8", raw)
                    else:
                        result.fixed_text = new_text
                    nb = notebook.load(new_text)
                    source = nb.source
                    kept = lint(nb)
    if options.fix and not write and result.fixed_text is None:
        result.fixed_text = text

    def where(line: int) -> tuple[int | None, int]:
        return nb.lines[line] if 0 < line < len(nb.lines) else (None, line)

    def in_cells(match: re.Match[str]) -> str:
        cell, line = where(int(match.group(1)))
        return f"on cell {cell} line {line}" if cell else match.group(0)

    def words(text: str) -> str:
        return re.sub(r"on line (\d+)", in_cells, text)

    lines = source.splitlines(keepends=True)
    result.findings = [_finding(path_str, d, options, lines, where, words) for d in kept]
    return result


# ---- many files -------------------------------------------------------------------------------


class GitIgnore:
    """The ``.gitignore`` files that apply below a folder (those of its parents up to the work
    tree's root, then each folder's own), read with ``pathspec`` as git reads them."""

    def __init__(self) -> None:
        self.specs: dict[Path, object | None] = {}

    def _spec(self, folder: Path) -> object | None:
        if folder not in self.specs:
            file = folder / ".gitignore"
            spec = None
            if file.is_file():
                import pathspec  # only repositories with a .gitignore pay for the import

                lines = file.read_text(encoding="utf-8", errors="replace").splitlines()
                spec = pathspec.GitIgnoreSpec.from_lines(lines)
            self.specs[folder] = spec
        return self.specs[folder]

    @staticmethod
    def _bases(folder: Path, floor: Path | None) -> list[Path]:
        """``folder`` and its parents up to the enclosing work tree's root (or itself alone), not
        above ``floor``."""
        chain = [folder]
        for parent in folder.parents:
            if (chain[-1] / ".git").exists() or chain[-1] == floor:
                break
            chain.append(parent)
        else:
            return [folder]
        return chain if (chain[-1] / ".git").exists() or chain[-1] == floor else [folder]

    def ignored(self, path: Path, is_dir: bool, floor: Path | None = None) -> bool:
        """The deepest ``.gitignore`` with a verdict on ``path`` decides (a ``!pattern`` included);
        ``floor``: read none above this folder."""
        path = path.absolute()
        for base in self._bases(path.parent, floor):
            spec = self._spec(base)
            if spec is None:
                continue
            relative = path.relative_to(base).as_posix() + ("/" if is_dir else "")
            verdict = spec.check_file(relative).include  # type: ignore[attr-defined]
            if verdict is not None:
                return bool(verdict)
        return False


def discover(paths: Iterable[str], exclude: Sequence[str], gitignore: bool = False) -> list[str]:
    """The files to check: files named are always checked; folders are walked, leaving out what
    ``exclude`` names (flake8's matching) and, with ``gitignore``, what git ignores."""
    ignore = GitIgnore() if gitignore else None
    floor: Path | None = None

    def excluded(p: Path, is_dir: bool) -> bool:
        return config.matches(str(p), exclude) or (ignore is not None and ignore.ignored(p, is_dir, floor))

    found: set[str] = set()
    for given in paths:
        root = Path(given)
        if root.is_file():
            found.add(str(root))
            continue
        if not root.is_dir():
            raise FileNotFoundError(given)
        # a folder named on the command line is checked even if git ignores it (as Ruff does): then
        # only the .gitignore files inside it apply
        floor = root.absolute() if ignore is not None and ignore.ignored(root, True) else None
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if not excluded(Path(dirpath, d), True))
            for name in filenames:
                candidate = Path(dirpath, name)
                if candidate.suffix in (".py", ".pyi", ".ipynb") and not excluded(candidate, False):
                    found.add(os.path.normpath(candidate))
    return sorted(found)


def run(files: list[str], options: Options, jobs: int) -> list[FileResult]:
    """Each file's result, in the order of ``files`` whatever ``jobs`` is. In parallel, as flake8:
    ``jobs`` processes when there are at least two files and the platform can start them, else
    one by one in this process."""
    if jobs > 1 and len(files) > 1:
        try:
            from concurrent.futures import ProcessPoolExecutor

            from .linter import freeze_long_lived  # before the workers start: forked, they share it

            freeze_long_lived()
            pool = ProcessPoolExecutor(max_workers=min(jobs, len(files)))
        except (ImportError, NotImplementedError, OSError):  # no working sem_open (some sandboxes)
            pass
        else:
            with pool:
                return list(pool.map(process, files, [options] * len(files), chunksize=8))
    return [process(f, options) for f in files]


# ---- the command line -------------------------------------------------------------------------


def _codes(value: str) -> tuple[str, ...]:
    try:
        return config.codes(value.upper(), "code")
    except config.ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc).partition(": ")[2]) from None


def _jobs(value: str) -> str:
    try:
        return config.jobs(value)
    except config.ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc).partition(": ")[2]) from None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="flake8-tensorview",
        description="Find .view() calls that cannot work and redundant mask unsqueezes in PyTorch code.",
    )
    p.add_argument("paths", nargs="*", help="files and folders (.py, .ipynb), '-' for stdin (default: .)")
    rules = p.add_argument_group("rule selection (the longest matching prefix wins; ignore wins a tie)")
    rules.add_argument("--select", type=_codes, help="codes or prefixes to report (default: TV)")
    rules.add_argument("--ignore", type=_codes, help="codes or prefixes to leave out")
    rules.add_argument("--extend-select", type=_codes, action="append", default=[], help="added to --select")
    rules.add_argument("--extend-ignore", type=_codes, action="append", default=[], help="added to --ignore")
    files = p.add_argument_group("files")
    files.add_argument("--exclude", help=f"comma-separated globs (default: {DEFAULT_EXCLUDE})")
    files.add_argument("--extend-exclude", default="", help="globs added to --exclude")
    files.add_argument("--respect-gitignore", dest="respect_gitignore", action="store_true", default=None,
                       help="leave out files git ignores (the default)")
    files.add_argument("--no-respect-gitignore", dest="respect_gitignore", action="store_false",
                       help="check files git ignores too")
    files.add_argument("--stdin-filename", help="the name of the file read from '-' (for messages, per-file "
                                                "ignores, and .ipynb)")
    files.add_argument("--config", type=Path, help="read this config file only (pyproject.toml, a .toml "
                       "of our keys, or setup.cfg/tox.ini/.flake8)")
    files.add_argument("--isolated", action="store_true", help="read no config file")
    fixes = p.add_argument_group("fixes")
    fixes.add_argument("--fix", action="store_true",
                       help="apply safe fixes in place (stdin: print the fixed text)")
    fixes.add_argument("--unsafe-fixes", action="store_true", help="also apply fixes marked unsafe")
    fixes.add_argument("--diff", action="store_true", help="show the fixes as a diff, write nothing")
    fixes.add_argument("--reshape", action="store_true",
                       help="fix TV101 with .reshape(...) instead of .contiguous()")
    fixes.add_argument("--show-fixes", action="store_true",
                       help="list the fixes applied, mark fixable findings [*]")
    fixes.add_argument("--exit-non-zero-on-fix", action="store_true",
                       help="exit 1 when a fix was applied, even if nothing is left to report")
    out = p.add_argument_group("output")
    out.add_argument("--format", choices=sorted(FORMATS), default="text", help="output format")
    out.add_argument("--show-source", dest="show_source", action="store_true", default=None,
                     help="draw each finding's code frame (default: when writing to a terminal)")
    out.add_argument("--no-show-source", dest="show_source", action="store_false",
                     help="one line per finding")
    out.add_argument("--statistics", action="store_true", help="a count per code instead of the findings")
    out.add_argument("--output-file", "-o", type=Path, help="write the report there instead of stdout")
    out.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                     help="colour the text output (auto: on a terminal, unless NO_COLOR is set)")
    out.add_argument("-q", "--quiet", action="store_true", help="no summary line on stderr")
    out.add_argument("--exit-zero", action="store_true", help="exit 0 even with findings")
    out.add_argument("--explain", metavar="CODE", help="print the docs of a rule and exit")
    p.add_argument("-j", "--jobs", type=_jobs, help="parallel processes, or 'auto' (default: auto)")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return p


def _explain(code: str) -> int:
    from .docs import render_rule

    rule = RULES.get(code.upper())
    if rule is None:
        print(f"flake8-tensorview: no rule {code!r} (known: {', '.join(RULES)})", file=sys.stderr)
        return 2
    sys.stdout.write(render_rule(rule))
    return 0


def _options(args: argparse.Namespace, cfg: config.Config) -> Options:
    select = args.select or cfg.select or ("TV",)
    ignore = args.ignore if args.ignore is not None else (cfg.ignore or ())
    select += cfg.extend_select + tuple(c for group in args.extend_select for c in group)
    ignore += cfg.extend_ignore + tuple(c for group in args.extend_ignore for c in group)
    return Options(
        select=select, ignore=ignore, per_file_ignores=cfg.per_file_ignores, fix=args.fix, diff=args.diff,
        unsafe_fixes=args.unsafe_fixes, reshape=args.reshape, show_source=bool(args.show_source),
    )


def _color(choice: str, stream: object) -> bool:
    if choice != "auto":
        return choice == "always"
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return bool(getattr(stream, "isatty", lambda: False)())


def _fix_summary(results: Sequence[FileResult], diff: bool) -> str:
    lines = [f"{'Would fix' if diff else 'Fixed'} {sum(sum(r.fixed.values()) for r in results)} finding(s):"]
    for r in results:
        if r.fixed:
            lines.append(f"- {r.path}:")
            lines += [f"    {n} x {code} ({RULES[code].name})" for code, n in sorted(r.fixed.items())]
    return "\n".join(lines)


def _exclude(args: argparse.Namespace, cfg: config.Config, cwd: Path) -> list[str]:
    """``--exclude`` (else the config's ``exclude``, else the defaults), then every ``extend-exclude``."""
    if args.exclude is None and cfg.exclude is not None:
        exclude = list(cfg.exclude)
    else:
        globs = (args.exclude or DEFAULT_EXCLUDE).split(",")
        exclude = [config.anchor(g.strip(), cwd) for g in globs if g.strip()]
    return exclude + list(cfg.extend_exclude) + [
        config.anchor(g.strip(), cwd) for g in args.extend_exclude.split(",") if g.strip()]


def _report(args: argparse.Namespace, findings: list[Finding], diffs: str, show_source: bool,
            style: Style) -> str:
    if args.diff:
        return diffs
    if args.statistics:
        return format_statistics(findings, as_json=args.format == "json")
    if args.format == "text" and show_source:
        from .frames import render  # only reported findings are drawn

        return "\n".join(render(f, style) for f in findings)
    if args.format == "text":
        return format_text(findings, style, args.show_fixes)
    return FORMATS[args.format](findings)


def _summary(args: argparse.Namespace, files: int, findings: list[Finding], fixed: int) -> str:
    summary = f"checked {files} file{'s' * (files != 1)}: {len(findings)} finding{'s' * (len(findings) != 1)}"
    if fixed:
        summary += f", {fixed} fixed" if not args.diff else f", {fixed} fixable"
    elif args.show_fixes and not args.fix:
        fixable = sum(f.fix_available for f in findings)
        summary += f", {fixable} fixable with --fix" if fixable else ""
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.explain:
        return _explain(args.explain)
    cwd = Path.cwd()
    paths = args.paths or ["."]
    stdin = paths == [STDIN]
    if STDIN in paths and not stdin:
        print("flake8-tensorview: '-' (stdin) cannot be mixed with paths", file=sys.stderr)
        return 2
    start = Path(args.stdin_filename or ".") if stdin else Path(paths[0])
    try:
        cfg = config.load(start if start.exists() else cwd, args.config, args.isolated)
    except config.ConfigError as exc:
        print(f"flake8-tensorview: {exc}", file=sys.stderr)
        return 2
    report = sys.stdout if args.output_file is None else None
    show_source = args.show_source
    if show_source is None:  # as Ruff: frames for a person at a terminal, lines for pipes and files
        show_source = args.format == "text" and not args.statistics and report is not None and report.isatty()
    options = replace(_options(args, cfg), show_source=show_source)

    if stdin:
        files = [args.stdin_filename or STDIN]
        results = [process(files[0], options, sys.stdin.buffer.read())]
    else:
        gitignore = args.respect_gitignore if args.respect_gitignore is not None else cfg.respect_gitignore
        try:
            files = discover(paths, _exclude(args, cfg, cwd), gitignore is not False)
        except FileNotFoundError as exc:
            print(f"flake8-tensorview: no such file or folder: {exc}", file=sys.stderr)
            return 2
        if not files:
            return 0  # nothing to check (an empty folder, everything excluded)
        jobs = args.jobs or cfg.jobs or "auto"
        results = run(files, options, os.cpu_count() or 1 if jobs == "auto" else int(jobs))

    findings = sorted((f for r in results for f in r.findings), key=Finding.sort_key)
    errors = [r.error for r in results if r.error]
    diffs = "".join(r.diff for r in results)
    fixed = sum(sum(r.fixed.values()) for r in results)

    style = Style(_color(args.color, report) if report is not None else args.color == "always")
    if stdin and args.fix and not args.diff:
        sys.stdout.write(results[0].fixed_text or "")  # as Ruff: the fixed text out, the report to stderr
        report = sys.stderr if args.output_file is None else None
    text = _report(args, findings, diffs, options.show_source, style)
    if args.output_file is not None and not args.diff:
        args.output_file.parent.mkdir(parents=True, exist_ok=True)
        args.output_file.write_text(text, encoding="utf-8")
    else:
        (report or sys.stdout).write(text)

    for error in errors:
        print(f"flake8-tensorview: {error}", file=sys.stderr)
    if not args.quiet:
        if args.show_fixes and fixed:
            print(_fix_summary(results, args.diff), file=sys.stderr)
        print(_summary(args, len(files), findings, fixed), file=sys.stderr)
    if any("internal error" in e for e in errors):
        return 2
    if args.exit_zero:
        return 0
    if args.exit_non_zero_on_fix and fixed and args.fix:
        return 1
    return 1 if findings or (args.diff and diffs) else 0
