"""End to end through the real flake8 command: columns, noqa, selection, stdin."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FIXTURES, ROOT

BUG = """\
import torch


def merge(b, t, c):
    x = torch.randn(b, c, t).transpose(1, 2)
    return x.view(b, t * c)
"""


def flake8(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flake8", "--isolated", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )


def test_plugin_is_registered() -> None:
    out = subprocess.run([sys.executable, "-m", "flake8", "--version"], capture_output=True, text=True, check=True)
    assert "flake8-tensorview" in out.stdout


def test_column_is_the_dot_of_view(tmp_path: Path) -> None:
    (tmp_path / "bug.py").write_text(BUG)
    result = flake8("--select", "TV", "bug.py", cwd=tmp_path)
    assert result.returncode == 1
    line = BUG.splitlines()[5]
    assert result.stdout == (
        f"bug.py:6:{line.index('.view') + 1}: TV101 .view() merges dims 1 and 2 (t, c), which "
        "transpose(1, 2) on line 5 made non-adjacent in memory; call .contiguous() first or use .reshape()\n"
    )


def test_multiline_chain_reports_on_the_view_line(tmp_path: Path) -> None:
    source = BUG.replace("    return x.view(b, t * c)", "    return (\n        x.float()\n        .view(b, t * c)  # noqa: TV101\n    )")
    (tmp_path / "chain.py").write_text(source)
    assert flake8("--select", "TV", "chain.py", cwd=tmp_path).stdout == ""
    (tmp_path / "chain.py").write_text(source.replace("  # noqa: TV101", ""))
    out = flake8("--select", "TV", "chain.py", cwd=tmp_path).stdout
    assert out.startswith("chain.py:8:9: TV101")


def test_noqa_silences(tmp_path: Path) -> None:
    (tmp_path / "bug.py").write_text(BUG.replace("t * c)", "t * c)  # noqa: TV101"))
    assert flake8("--select", "TV", "bug.py", cwd=tmp_path).stdout == ""
    (tmp_path / "bug.py").write_text(BUG.replace("t * c)", "t * c)  # noqa: E501"))
    assert "TV101" in flake8("--select", "TV", "bug.py", cwd=tmp_path).stdout


def test_select_and_extend_select(tmp_path: Path) -> None:
    (tmp_path / "bug.py").write_text(BUG)
    assert flake8("--select", "E", "bug.py", cwd=tmp_path).stdout == ""
    assert "TV101" in flake8("--select", "E", "--extend-select", "TV101", "bug.py", cwd=tmp_path).stdout
    assert "TV101" in flake8("--select", "TV1", "bug.py", cwd=tmp_path).stdout
    assert flake8("--select", "TV", "--extend-ignore", "TV101", "bug.py", cwd=tmp_path).stdout == ""


def test_stdin_with_display_name(tmp_path: Path) -> None:
    result = flake8("--select", "TV", "--stdin-display-name", "model.py", "-", cwd=tmp_path, stdin=BUG)
    assert result.stdout.startswith("model.py:6:")
    assert "TV101" in result.stdout


def test_unsaved_text_not_the_file_is_linted(tmp_path: Path) -> None:
    """Editors pass buffer text on stdin while the file on disk is stale."""
    (tmp_path / "model.py").write_text("x = 1\n")
    result = flake8("--select", "TV", "--stdin-display-name", "model.py", "-", cwd=tmp_path, stdin=BUG)
    assert "TV101" in result.stdout


def test_syntax_error_is_flake8s_business(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("x = torch.randn(2, 3).t(\ny = x.view(-1)\n")
    result = flake8("broken.py", cwd=tmp_path)
    assert "E999" in result.stdout
    assert "Traceback" not in result.stderr
    assert "TV" not in result.stdout


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.py")), ids=lambda p: p.name)
def test_fixture_findings_through_flake8_match_expectations(path: Path) -> None:
    from fixture_harness import expectations, opted_in

    extra = [arg for code in sorted(opted_in(path)) for arg in ("--extend-select", code)]  # codes off by default
    result = flake8("--select", "TV", *extra, str(path), cwd=ROOT)
    found = {(int(line.split(":")[1]), line.split()[1]) for line in result.stdout.splitlines()}
    assert found == expectations(path)


FREEZE_PROBE = """\
import ast, gc, sys, weakref
from flake8_tensorview.plugin import TensorViewChecker

def run(source):
    return list(TensorViewChecker(ast.parse(source), source.splitlines(True), "m.py").run())

assert run("x = 1\\n") == [] and "libcst" not in sys.modules and gc.get_freeze_count() == 0
found = run(sys.stdin.read())
frozen = gc.get_freeze_count()

class Node:
    pass

a, b = Node(), Node()
a.other, b.other = b, a  # a cycle made after the freeze is still the collector's
probe = weakref.ref(a)
del a, b
gc.collect()
print(len(found), frozen, probe() is None, run("y = 2\\n") == [] and gc.get_freeze_count() == frozen)
"""


def test_the_first_candidate_freezes_what_is_alive_once(tmp_path: Path) -> None:
    """:func:`linter.freeze_long_lived`: libcst's classes leave the collector's full collections
    once the first candidate has imported them; a file that cannot match imports nothing and
    freezes nothing, and what is made afterwards is collected as ever."""
    out = subprocess.run([sys.executable, "-c", FREEZE_PROBE], input=BUG, capture_output=True, text=True,
                         check=True, cwd=tmp_path).stdout.split()
    assert out[0] == "1"  # the finding is still reported
    assert int(out[1]) > 10_000  # libcst's classes and functions, and what else lives in the process
    assert out[2:] == ["True", "True"]
