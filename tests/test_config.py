"""Configuration through the real command: pyproject.toml, flake8's ini files, --config,
--isolated, per-file ignores relative to the config, and .gitignore."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

BUG = """\
import torch


def merge(b, t, c):
    x = torch.randn(b, c, t).transpose(1, 2)
    return x.view(b, t * c)
"""
MASK = """\
import torch


def f(s, t):
    m = torch.ones(t, t).bool()
    s.masked_fill_(m.unsqueeze(0).unsqueeze(0), 0.0)
"""


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "flake8_tensorview", "--format", "json", *args], cwd=cwd,
                          capture_output=True, text=True, check=False, env={**os.environ, "NO_COLOR": "1"})


def reported(*args: str, cwd: Path) -> set[tuple[str, str]]:
    """(path, code) of every finding."""
    result = cli(*args, cwd=cwd)
    assert result.returncode in (0, 1), result.stderr
    return {(f["path"], f["code"]) for f in json.loads(result.stdout)}


def project(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_pyproject_is_found_from_the_first_path_upwards(tmp_path: Path) -> None:
    project(tmp_path, {
        "proj/pyproject.toml": '[tool.flake8-tensorview]\nextend-ignore = ["TV101"]\n',
        "proj/src/bug.py": BUG,
        "proj/src/mask.py": MASK,
    })
    assert reported("proj/src", cwd=tmp_path) == {("proj/src/mask.py", "TV201")}
    assert reported("proj/src", "--isolated", cwd=tmp_path) == {("proj/src/bug.py", "TV101"),
                                                                ("proj/src/mask.py", "TV201")}
    # no path: the working folder, and upwards from it
    assert reported(cwd=tmp_path / "proj" / "src") == {("mask.py", "TV201")}


def test_a_pyproject_without_our_table_is_passed_over(tmp_path: Path) -> None:
    project(tmp_path, {
        "pyproject.toml": '[tool.flake8-tensorview]\nselect = ["TV2"]\n',
        "pkg/pyproject.toml": '[tool.black]\nline-length = 100\n',
        "pkg/bug.py": BUG,
        "pkg/mask.py": MASK,
    })
    assert reported("pkg", cwd=tmp_path) == {("pkg/mask.py", "TV201")}


def test_every_pyproject_key(tmp_path: Path) -> None:
    project(tmp_path, {
        "pyproject.toml": (
            "[tool.flake8-tensorview]\n"
            'select = ["TV2"]\n'
            'extend-select = ["TV101"]\n'
            'ignore = []\n'
            'extend-ignore = ["TV9"]\n'
            'exclude = ["vendored"]\n'
            'extend-exclude = ["gen/*.py"]\n'
            'jobs = 2\n'
            "[tool.flake8-tensorview.per-file-ignores]\n"
            '"tests/*" = ["TV1"]\n'
            '"mask_ok.py" = ["TV201"]\n'
        ),
        "bug.py": BUG,
        "vendored/bug.py": BUG,
        "gen/bug.py": BUG,
        "tests/bug.py": BUG,
        "tests/mask.py": MASK,
        "mask_ok.py": MASK,
        "sub/mask_ok.py": MASK,  # a bare name matches in every folder, as in flake8
        "build/bug.py": BUG,  # `exclude` replaces the default excludes
    })
    assert reported(cwd=tmp_path) == {("bug.py", "TV101"), ("tests/mask.py", "TV201"),
                                      ("build/bug.py", "TV101")}


def test_per_file_ignores_are_relative_to_the_configs_folder(tmp_path: Path) -> None:
    project(tmp_path, {
        "proj/pyproject.toml": '[tool.flake8-tensorview]\nper-file-ignores = {"src/legacy/*" = ["TV101"]}\n',
        "proj/src/legacy/bug.py": BUG,
        "proj/src/new/bug.py": BUG,
        "proj/legacy/bug.py": BUG,  # not under src/: still reported
    })
    expected = {("new/bug.py", "TV101")}
    assert reported(".", cwd=tmp_path / "proj" / "src") == expected  # run from below the config
    assert reported("proj", cwd=tmp_path) == {("proj/src/new/bug.py", "TV101"),
                                              ("proj/legacy/bug.py", "TV101")}


def test_the_command_line_overrides_the_config(tmp_path: Path) -> None:
    project(tmp_path, {"pyproject.toml": '[tool.flake8-tensorview]\nselect = ["TV2"]\n', "bug.py": BUG,
                       "mask.py": MASK})
    assert reported(cwd=tmp_path) == {("mask.py", "TV201")}
    assert reported("--select", "TV1", cwd=tmp_path) == {("bug.py", "TV101")}
    assert reported("--extend-select", "TV1", cwd=tmp_path) == {("bug.py", "TV101"), ("mask.py", "TV201")}


def test_flake8_sections_keep_one_config(tmp_path: Path) -> None:
    """setup.cfg, tox.ini or .flake8: the [flake8] keys that concern us too, and not flake8's select."""
    for name in ("setup.cfg", "tox.ini", ".flake8"):
        root = project(tmp_path / name.strip("."), {
            name: (
                "[flake8]\n"
                "select = E,F\n"
                "max-line-length = 100\n"
                "extend-ignore = TV201\n"
                "extend-exclude = generated\n"
                "per-file-ignores =\n"
                "    tests/*: TV101, E501\n"
                "    */__init__.py: F401\n"
            ),
            "bug.py": BUG,
            "mask.py": MASK,
            "generated/bug.py": BUG,
            "tests/bug.py": BUG,
        })
        assert reported(cwd=root) == {("bug.py", "TV101")}, name
        assert len(reported("--isolated", cwd=root)) == 4


def test_pyproject_and_flake8_section_add_up(tmp_path: Path) -> None:
    project(tmp_path, {
        "setup.cfg": "[flake8]\nper-file-ignores = a.py:TV101\n",
        "pyproject.toml": '[tool.flake8-tensorview]\nper-file-ignores = {"b.py" = ["TV101"]}\n',
        "a.py": BUG, "b.py": BUG, "c.py": BUG,
    })
    assert reported(cwd=tmp_path) == {("c.py", "TV101")}


def test_explicit_config_file(tmp_path: Path) -> None:
    project(tmp_path, {
        "pyproject.toml": '[tool.flake8-tensorview]\nselect = ["TV2"]\n',
        "ci/tensorview.toml": 'extend-ignore = ["TV201"]\n',
        "ci/lint.cfg": "[flake8]\nextend-ignore = TV101\n",
        "bug.py": BUG,
        "mask.py": MASK,
    })
    assert reported("--config", "ci/tensorview.toml", cwd=tmp_path) == {("bug.py", "TV101")}  # only that file
    assert reported("--config", "ci/lint.cfg", cwd=tmp_path) == {("mask.py", "TV201")}
    missing = cli("--config", "nope.toml", cwd=tmp_path)
    assert missing.returncode == 2 and "nope.toml" in missing.stderr


def test_bad_config_is_a_usage_error_naming_the_file(tmp_path: Path) -> None:
    project(tmp_path, {"pyproject.toml": '[tool.flake8-tensorview]\nselectt = ["TV1"]\n', "bug.py": BUG})
    result = cli(cwd=tmp_path)
    assert result.returncode == 2
    assert "pyproject.toml" in result.stderr and "'selectt'" in result.stderr
    (tmp_path / "pyproject.toml").write_text('[tool.flake8-tensorview]\nselect = ["tv-1"]\n')
    assert cli(cwd=tmp_path).returncode == 2
    (tmp_path / "pyproject.toml").write_text("[tool.flake8-tensorview\n")
    assert cli(cwd=tmp_path).returncode == 2
    (tmp_path / "pyproject.toml").write_text('[tool.flake8-tensorview]\njobs = "many"\n')
    assert cli(cwd=tmp_path).returncode == 2
    assert cli("--isolated", cwd=tmp_path).returncode == 1


def test_gitignore_is_respected_by_default(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    project(tmp_path, {
        ".gitignore": "generated/\n*_gen.py\n!keep_gen.py\n",
        "pkg/.gitignore": "local.py\n",
        "bug.py": BUG,
        "generated/bug.py": BUG,
        "pkg/model_gen.py": BUG,
        "pkg/keep_gen.py": BUG,
        "pkg/local.py": BUG,
    })
    assert reported(cwd=tmp_path) == {("bug.py", "TV101"), ("pkg/keep_gen.py", "TV101")}
    # from a subfolder, the work tree's .gitignore still applies
    assert reported(".", cwd=tmp_path / "pkg") == {("keep_gen.py", "TV101")}
    everything = {("bug.py", "TV101"), ("generated/bug.py", "TV101"), ("pkg/model_gen.py", "TV101"),
                  ("pkg/keep_gen.py", "TV101"), ("pkg/local.py", "TV101")}
    assert reported("--no-respect-gitignore", cwd=tmp_path) == everything
    assert reported("pkg/local.py", cwd=tmp_path) == {("pkg/local.py", "TV101")}  # named files are checked
    (tmp_path / "pyproject.toml").write_text("[tool.flake8-tensorview]\nrespect-gitignore = false\n")
    assert reported(cwd=tmp_path) == everything
    # a folder named on the command line is checked even if git ignores it; its own .gitignore applies
    (tmp_path / "generated" / ".gitignore").write_text("skip.py\n")
    (tmp_path / "generated" / "skip.py").write_text(BUG)
    (tmp_path / "pyproject.toml").unlink()
    assert reported("generated", cwd=tmp_path) == {("generated/bug.py", "TV101")}
