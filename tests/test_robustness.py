"""Bad input gets silence or a clear message, never a traceback; positions stay right; the
analysis is bounded; failures are contained; fixes never break a file."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import time
from pathlib import Path

import hypothesmith
import libcst as cst
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from conftest import FIXTURES
from flake8_tensorview import analysis, linter
from flake8_tensorview.cli import main
from flake8_tensorview.rules import OFF_BY_DEFAULT
from flake8_tensorview.linter import fix_source, lint_source
from flake8_tensorview.plugin import TensorViewChecker

BUG = "import torch\n\n\ndef merge(b, t, c):\n    x = torch.randn(b, c, t).transpose(1, 2)\n    return x.view(b, t * c)\n"


def flake8(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flake8", "--isolated", "--select", "TV,E999", *args, str(path)],
        capture_output=True,
        text=True,
        check=False,
    )


def nested(depth: int) -> str:
    return "x = " + "f(" * depth + "y.view(1)" + ")" * depth + "\n"


BAD_INPUTS = {
    "syntax_error": b"import torch\nx = torch.randn(2, 3).t(\ny = x.view(-1)\n",
    "python2": b"print 'hello'\nx = y.view(-1)\n",
    "empty": b"",
    "only_comments": b"# x.view(-1)\n# masked_fill\n",
    "bom": b"\xef\xbb\xbf" + BUG.encode(),
    "latin1": b"# -*- coding: latin-1 -*-\n# caf\xe9\n" + BUG.encode(),
    "crlf": BUG.replace("\n", "\r\n").encode(),
    "mixed_endings": BUG.replace("\n", "\r\n", 3).encode(),
    "tabs": BUG.replace("    ", "\t").encode(),
    "form_feed": BUG.replace("\n\n\n", "\n\x0c\n\n").encode(),
    "long_line": ("import torch\nx = [" + "1, " * 40000 + "]\n" + BUG).encode(),
    "deep_parens": nested(3000).encode(),
    "deep_chain": ("x = y" + ".t()" * 3000 + ".view(1)\n").encode(),
    "deep_sum": ("x = a" + " + a" * 3000 + "\ny.view(1)\n").encode(),
    "match": (BUG + "\n\ndef m(x):\n    match x.shape:\n        case (b, t):\n            return x.t().view(-1)\n").encode(),
    "walrus": b"import torch\n\ndef w(n, m):\n    if (y := torch.randn(n, m).t()) is not None:\n        return y.view(-1)\n",
    "pep695": b"def first[T](xs: list[T]) -> T:\n    return xs[0].view(-1)\n",
    "fstring_312": b"x = f\"{f\"{1}\"}\"\ny = x.view(-1)\n",
    "type_comments": b"import torch\n\ndef f(n, m):\n    # type: (int, int) -> None\n    x = torch.randn(n, m).t()  # type: torch.Tensor\n    return x.view(-1)\n",
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_never_crashes_flake8_or_the_command(name: str, tmp_path: Path) -> None:
    path = tmp_path / f"{name}.py"
    path.write_bytes(BAD_INPUTS[name])
    result = flake8(path)
    # flake8's own ast.parse gives up on some of these (deep_chain); our plugin must never be the cause
    assert "flake8_tensorview" not in result.stderr and "flake8-tensorview" not in result.stderr
    command = subprocess.run(
        [sys.executable, "-m", "flake8_tensorview", "-j", "1", str(path)], capture_output=True, text=True, check=False
    )
    assert "Traceback" not in command.stderr
    assert command.returncode in (0, 1)
    assert "internal error" not in command.stderr


@pytest.mark.parametrize(
    "name, line, col",
    [("bom", 6, 13), ("latin1", 8, 13), ("crlf", 6, 13), ("mixed_endings", 6, 13), ("tabs", 6, 10), ("form_feed", 6, 13), ("long_line", 8, 13)],
)
def test_positions_survive_encodings_and_whitespace(name: str, line: int, col: int, tmp_path: Path) -> None:
    path = tmp_path / f"{name}.py"
    path.write_bytes(BAD_INPUTS[name])
    first = flake8(path).stdout.splitlines()[0]
    assert first.startswith(f"{path}:{line}:{col}: TV101"), first


def test_non_ascii_identifiers_keep_columns(tmp_path: Path) -> None:
    path = tmp_path / "unicode.py"
    path.write_text(BUG.replace("x", "données").replace("import torch", "import torch  # é"), encoding="utf-8")
    out = flake8(path).stdout
    line = path.read_text(encoding="utf-8").splitlines()[5]
    assert out.startswith(f"{path}:6:{line.index('.view') + 1}: TV101"), out


def test_valid_syntax_python_cannot_handle_is_silent() -> None:
    assert lint_source(BAD_INPUTS["pep695"].decode()) == []
    assert lint_source(nested(1000)) == []  # too deep for the native parser: skipped, not crashed


def test_a_named_step_over_a_size_one_dim_is_no_internal_error() -> None:
    """``[:, ::s]`` over a dim of size 1: no name to write as ``m * s``, so the slice stays unknown."""
    source = "import torch\n\ndef f(b, c, s):\n    x = torch.randn(b, 1, c)\n    return x.transpose(0, 2)[:, ::s].view(-1)\n"
    result = linter.analyze(source, whole=True)
    assert result is not None and result[0].failures == []
    assert linter.lint_source(source) == []


def test_match_and_walrus_are_analysed() -> None:
    assert {d.line for d in lint_source(BAD_INPUTS["match"].decode())} == {6, 12}
    assert {d.line for d in lint_source(BAD_INPUTS["walrus"].decode())} == {5}


def test_fifty_thousand_line_file_is_bounded() -> None:
    """A generated file: 12,500 small functions, views everywhere, a few of them bugs."""
    def function(n: int) -> str:
        view = "x.view(b, t * c)" if n % 1000 == 0 else "x.reshape(b, t * c).view(-1)"
        return f"def f{n}(b, t, c):\n    x = torch.randn(b, c, t).transpose(1, 2)\n    return {view}\n\n"

    source = "import torch\n\n" + "".join(function(n) for n in range(12500))
    assert len(source.splitlines()) >= 50000
    start = time.process_time()
    found = lint_source(source)
    assert len(found) == 13
    assert time.process_time() - start < 120


def test_nested_loops_are_bounded() -> None:
    source = "import torch\n\ndef f(b, t):\n    x = torch.randn(b, t)\n"
    for depth in range(12):
        source += "    " * (depth + 1) + f"for i{depth} in range(2):\n"
        source += "    " * (depth + 2) + "x = x.t()\n"
    source += "    " * 13 + "y = x.view(-1)\n"
    start = time.process_time()
    lint_source(source)
    assert time.process_time() - start < 30


def test_an_internal_error_is_contained_and_said_once(monkeypatch: pytest.MonkeyPatch) -> None:
    original = analysis.Walker.attribute

    def attribute(self, node, env):  # type: ignore[no-untyped-def]
        if node.attr.value == "boom":
            raise KeyError("boom")
        return original(self, node, env)

    monkeypatch.setattr(analysis.Walker, "attribute", attribute)
    # functions the preselection keeps: a .view after a layout producer
    source = BUG + "\n\ndef broken(x):\n    y = x.boom\n    return x.t().view(-1)\n\n\ndef broken_too(x):\n    y = x.boom\n    return x.t().view(-1)\n"
    found = lint_source(source)
    assert [(d.code, d.line) for d in found] == [("TV101", 6), ("TV901", 9)]
    assert "broken" in found[1].text and "KeyError" in found[1].text


def test_code_libcst_rejects_is_analysed_whole_or_said(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pruning libcst refuses falls back to the whole module; a module it refuses is a TV901,
    never a quiet "no findings" (a file Python runs but the libcst installed cannot parse)."""
    original = cst.parse_module
    whole = BUG + "\n\ndef unrelated(y):\n    return y\n"  # pruned: without ``unrelated``
    monkeypatch.setattr(linter.cst, "parse_module", lambda text: original(text if text == whole else "("))
    assert [(d.code, d.line) for d in lint_source(whole)] == [("TV101", 6)]
    monkeypatch.setattr(linter.cst, "parse_module", lambda text: original("("))
    found = lint_source(BUG)
    assert [(d.code, d.line) for d in found] == [("TV901", 1)] and "libcst cannot parse it" in found[0].text
    assert fix_source(BUG) == BUG


def test_parsing_skips_node_checks_only_while_it_parses() -> None:
    """The parser's nodes are not validated one by one; nodes built afterwards still are, also
    after a parse that failed."""
    assert linter.parse(BUG) is not None and linter.parse("def f(:\n") is None
    with pytest.raises(cst.CSTValidationError):
        cst.Name("1x")


def test_the_plugin_never_raises(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def explode(source, tree=None):  # type: ignore[no-untyped-def]
        raise RuntimeError("kaboom")

    monkeypatch.setattr("flake8_tensorview.linter.lint_source", explode)
    lines = BUG.splitlines(keepends=True)
    assert list(TensorViewChecker(ast.parse(BUG), lines, "model.py").run()) == []
    assert "model.py" in capsys.readouterr().err


def test_flake8_jobs_agree_with_serial() -> None:
    serial = flake8(FIXTURES, "-j", "1").stdout
    parallel = flake8(FIXTURES, "-j", "2").stdout
    assert serial and sorted(serial.splitlines()) == sorted(parallel.splitlines())


def test_a_fix_that_would_not_parse_is_not_written(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    class Garbage(cst.CSTTransformer):
        def __init__(self, edits):  # type: ignore[no-untyped-def]
            self.edits = edits

        def leave_Name(self, original, updated):  # type: ignore[no-untyped-def]
            return updated.with_changes(value="lambda") if updated.value == "view" else updated

    monkeypatch.setattr(linter, "_Apply", Garbage)
    path = tmp_path / "model.py"
    path.write_text(BUG)
    assert main([str(path), "--fix", "-j", "1"]) == 1
    assert path.read_text() == BUG


def test_read_only_file_is_not_fixed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "model.py"
    path.write_text(BUG)
    path.chmod(0o444)
    assert main([str(path), "--fix", "-j", "1"]) == 1
    assert path.read_text() == BUG
    assert "read-only" in capsys.readouterr().err


# ---- fuzzing ------------------------------------------------------------------------------------

FUZZ_EXAMPLES = int(os.environ.get("TV_FUZZ_EXAMPLES", "40"))
TAIL = "\n\ndef _tv(b, t, m):\n    x = torch.randn(b, t).t()\n    y = x.view(-1)\n    m.masked_fill_(m.unsqueeze(0), 0)\n"


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(program=hypothesmith.from_grammar(), tail=st.booleans())
@example(program="#\r\r0", tail=False)  # lone CRs: ``ast`` counts lines the preselection did not
@example(program="#\r\r0", tail=True)
def test_generated_programs_never_crash_and_fixes_parse(program: str, tail: bool) -> None:
    source = program + (TAIL if tail else "\nx.view(1)\n")
    try:
        ast.parse(source)
    except (SyntaxError, ValueError, RecursionError):
        return
    found = lint_source(source)
    assert not [d for d in found if d.code == "TV901"], found
    fixed = fix_source(source)
    ast.parse(fixed)
    assert fix_source(fixed) == fixed


@pytest.mark.parametrize(
    "source",
    [p.read_text() for p in sorted(FIXTURES.glob("*.py")) if "# expect:" in p.read_text()]
    + [BAD_INPUTS[n].decode("latin-1" if n == "latin1" else "utf-8-sig") for n in ("crlf", "mixed_endings", "tabs", "form_feed", "match")]
    + ["import torch\n\n# a comment\n\n@decorator\n# between\n\ndef f(b, t):\n    x = torch.randn(b, t).t(); y = x.view(-1)\n"],
)
def test_statement_positions_equal_whole_module_positions(source: str, monkeypatch: pytest.MonkeyPatch) -> None:
    every = OFF_BY_DEFAULT  # a fixture of a code off by default finds nothing otherwise
    fast = [(d.line, d.col, d.end, d.text) for d in lint_source(source, opt_in=every)]
    monkeypatch.setattr(linter, "_first_lines", lambda module, tree: [None] * len(module.body))
    slow = [(d.line, d.col, d.end, d.text) for d in lint_source(source, opt_in=every)]
    assert fast == slow and fast


@pytest.mark.parametrize("enabled", [True, False])
def test_the_garbage_collector_is_left_as_it_was(enabled: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """The linter pauses the cyclic GC while it analyses a file: flake8's own state must come back,
    also when the analysis raises."""
    import gc

    was = gc.isenabled()
    try:
        gc.enable() if enabled else gc.disable()
        seen: list[bool] = []
        real = linter.analyze

        def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
            seen.append(gc.isenabled())
            return real(*args, **kwargs)

        monkeypatch.setattr(linter, "analyze", spy)
        assert [d.code for d in lint_source(BUG)] == ["TV101"]
        assert fix_source(BUG) != BUG
        assert seen == [False, False] and gc.isenabled() is enabled

        def boom(*args, **kwargs):  # type: ignore[no-untyped-def]
            raise MemoryError

        monkeypatch.setattr(linter, "analyze", boom)
        with pytest.raises(MemoryError):
            lint_source(BUG)
        assert gc.isenabled() is enabled
    finally:
        gc.enable() if was else gc.disable()


def test_no_cycle_keeps_a_files_trees_alive() -> None:
    """What a file's analysis leaves behind is freed by reference counting when it is done, not at
    the host's next full collection: no syntax node, of flake8's ``ast`` or of libcst, is in a cycle
    of garbage (the preselection's bindings once pointed back at themselves; ``literal_eval``, which
    libcst's ``evaluated_value`` calls, leaves a cycle of closures per call)."""
    import gc

    kinds = (ast.AST, cst.CSTNode)
    enabled = gc.isenabled()
    gc.disable()
    try:
        for path in sorted(FIXTURES.glob("*.py")):
            source = path.read_text()
            tree = ast.parse(source)
            gc.collect()
            gc.set_debug(gc.DEBUG_SAVEALL)
            try:
                lint_source(source, tree)
                del tree
                gc.collect()
                kept = [type(o).__name__ for o in gc.garbage if isinstance(o, kinds) or type(o).__name__ == "cell"]
            finally:
                gc.set_debug(0)
                gc.garbage.clear()
            assert kept == [], path.name
    finally:
        if enabled:
            gc.enable()
