"""Code frames: the finding's story drawn under the code, through the real command (pipe and
terminal), and the drawing itself (labels on one line, tabs, wide characters)."""

from __future__ import annotations

import os
import pty
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import FIXTURES
from flake8_tensorview.formats import Finding, Mark
from flake8_tensorview.frames import lines_to_show, render

BUG = """\
import torch


def merge(b, t, c):
    x = torch.randn(b, c, t).transpose(1, 2)
    return x.view(b, t * c)
"""
ENV = {**os.environ, "NO_COLOR": "1"}


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "flake8_tensorview", *args], cwd=cwd, capture_output=True,
                          text=True, check=False, env=ENV)


def on_a_terminal(*args: str, cwd: Path) -> str:
    """stdout of the command when it is a terminal, as in an interactive shell."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "flake8_tensorview", *args], cwd=cwd, stdout=slave,
                            stderr=subprocess.DEVNULL, env=ENV)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the other end is closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    proc.wait(timeout=60)
    os.close(master)
    return b"".join(chunks).decode().replace("\r\n", "\n")


def marker_column(row: str, char: str, prefix: str) -> int:
    """Where the first ``char`` of an underline row sits, in the source line's own columns."""
    return row.index(char) - len(prefix)


def test_frame_labels_the_view_and_the_op_that_broke_the_layout(tmp_path: Path) -> None:
    (tmp_path / "bug.py").write_text(BUG)
    result = cli("--show-source", "bug.py", cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith("TV101 .view() merges dims 1 and 2 (t, c)")
    assert lines[1] == " --> bug.py:6:13"
    source = BUG.splitlines()
    i5 = lines.index("5 | " + source[4])
    i6 = lines.index("6 | " + source[5])
    transpose_row, view_row = lines[i5 + 1], lines[i6 + 1]
    assert marker_column(transpose_row, "-", "  | ") == source[4].index("transpose")
    assert "transpose(1, 2) leaves shape (b, t, c)" in transpose_row
    assert marker_column(view_row, "^", "  | ") == source[5].index(".view")
    assert view_row.count("^") == len(".view")
    assert "merges dims 1 and 2 (t, c)" in view_row
    notes = [line for line in lines if line.startswith("  = ")]
    assert notes[0].startswith("  = note: runs only when") and "== 1" in notes[0]
    assert notes[1].startswith("  = help: call .contiguous()")


def test_two_labels_on_one_line(tmp_path: Path) -> None:
    source = BUG.replace("    x = torch.randn(b, c, t).transpose(1, 2)\n    return x.view(b, t * c)",
                         "    return torch.randn(b, c, t).transpose(1, 2).view(b, t * c)")
    (tmp_path / "bug.py").write_text(source)
    lines = cli("--show-source", "bug.py", cwd=tmp_path).stdout.splitlines()
    code = source.splitlines()[4]
    at = lines.index("5 | " + code)
    markers, below = lines[at + 1], lines[at + 2]
    assert marker_column(markers, "-", "  | ") == code.index("transpose")
    assert marker_column(markers, "^", "  | ") == code.index(".view")
    assert markers.rstrip().endswith("merges dims 1 and 2 (t, c)")  # the rightmost label ends the marker row
    assert below.index("transpose(1, 2) leaves") - len("  | ") == code.index("transpose")  # under its span


def test_frames_by_default_on_a_terminal_only(tmp_path: Path) -> None:
    (tmp_path / "bug.py").write_text(BUG)
    piped = cli("bug.py", cwd=tmp_path).stdout
    assert piped.startswith("bug.py:6:13: TV101") and "-->" not in piped
    terminal = on_a_terminal("bug.py", cwd=tmp_path)
    assert " --> bug.py:6:13" in terminal and "^^^^^" in terminal
    assert "-->" not in on_a_terminal("--no-show-source", "bug.py", cwd=tmp_path)
    assert "-->" not in on_a_terminal("--format", "json", "bug.py", cwd=tmp_path)


def test_no_frame_for_a_finding_that_is_not_reported(tmp_path: Path) -> None:
    (tmp_path / "bug.py").write_text(BUG.replace("t * c)", "t * c)  # noqa: TV101"))
    assert cli("--show-source", "bug.py", cwd=tmp_path).stdout == ""


def test_frame_in_a_notebook_counts_lines_in_the_cell(tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "mha_notebook.ipynb", tmp_path / "mha.ipynb")
    out = cli("--show-source", "--select", "TV101", "mha.ipynb", cwd=tmp_path).stdout
    assert "--> mha.ipynb:cell 3:22:27" in out
    assert "22 |         return context_vec.view(b, num_tokens, self.d_out)" in out
    assert "on line" not in out


def test_colour_on_request(tmp_path: Path) -> None:
    (tmp_path / "bug.py").write_text(BUG)
    out = cli("--show-source", "--color", "always", "bug.py", cwd=tmp_path).stdout
    assert "\x1b[1;31m^^^^^\x1b[0m" in out and "\x1b[1;34m-" in out


def test_lines_between_marks_are_shown_when_the_gap_is_short() -> None:
    assert lines_to_show([5, 6]) == [5, 6]
    assert lines_to_show([10, 6]) == [6, 7, 8, 9, 10]
    assert lines_to_show([3, 30, 30]) == [3, 30]


def test_tabs_and_wide_characters_keep_markers_under_their_code() -> None:
    line = "\tx = '漢字' + y.t().view(-1)\n"
    col = line.index(".view")
    f = Finding("m.py", 1, col + 1, 1, col + 6, "TV101", "msg", True, label="here",
                story=(Mark(1, line.index("t()") + 1, 1, line.index("t()") + 4, "there"),),
                source=((None, 1, line),))
    frame = render(f).splitlines()
    shown = frame[3]
    assert shown == "1 | " + line.rstrip("\n").expandtabs(4)
    markers = frame[4]
    # columns on screen: a tab is 4 wide here, each of the two CJK characters 2
    screen = len(line[:col].expandtabs(4)) + 2
    assert markers.index("^") - len("  | ") == screen
    assert markers.index("-") - len("  | ") == len(line[: line.index("t()")].expandtabs(4)) + 2
    assert markers.endswith("^^^^^ here")
    assert frame[5].index("there") == markers.index("-")


def test_a_step_far_away_is_shown_after_a_gap_and_one_in_another_cell_by_its_place() -> None:
    lines = {3: "    y = x.permute(0, 2, 1)\n", 40: "    return helper(y).view(-1)\n"}
    f = Finding("m.py", 40, 22, 40, 27, "TV101", "msg", True, label="merges", note="runs only when n == 1",
                help="call .contiguous() first",
                story=(Mark(3, 9, 3, 26, "permute(0, 2, 1) in helper"),
                       Mark(5, 1, 5, 4, "in cell 1", cell=1)),
                source=tuple((None, n, text) for n, text in lines.items()))
    frame = render(f).splitlines()
    assert frame[1] == "  --> m.py:40:22"
    assert frame[2] == "  ::: m.py:cell 1:5:1: in cell 1"  # not this cell (here: no cell at all)
    numbered = [line for line in frame if line[:2].strip().isdigit()]
    assert [line.split("|")[0].strip() for line in numbered] == ["3", "40"]
    assert frame[frame.index(numbered[1]) - 1] == "..."
    assert frame[-2:] == ["   = note: runs only when n == 1", "   = help: call .contiguous() first"]
