"""The hooks in .pre-commit-hooks.yaml, run by the real pre-commit in a scratch git repo.

pre-commit builds each hook's environment with pip from the package registry, so these tests are
marked `registry`; offline, skip them with `pytest -m "not registry"`.

`try-repo` is pointed at a scratch git copy of this checkout (the files on disk, committed), so
what is tested is the tree under test, whether or not it is a git checkout and whatever is
uncommitted in it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FIXTURES, ROOT

pytestmark = pytest.mark.registry

PROJECT_FILES = ("setup.cfg", "pyproject.toml", "README.md", ".pre-commit-hooks.yaml", "flake8_tensorview")
BUGGY = FIXTURES / "llms_from_scratch_mha.py"


def git(*args: str, cwd: Path) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True).stdout


def scratch_repo(path: Path) -> Path:
    path.mkdir()
    git("init", "-q", cwd=path)
    return path


@pytest.fixture(scope="module")
def hooks_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = scratch_repo(tmp_path_factory.mktemp("hooks") / "flake8-tensorview")
    for name in PROJECT_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, repo / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, repo / name)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "snapshot", cwd=repo)
    return repo


@pytest.fixture(scope="module")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pre-commit-home")


def pre_commit(*args: str, cwd: Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PRE_COMMIT_HOME": str(home), "PRE_COMMIT_COLOR": "never"}
    return subprocess.run([sys.executable, "-m", "pre_commit", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, check=False)


STATUS_LINE = re.compile(r"^(?P<name>.+?)\.{3,}(?:\(no files to check\))?(?P<status>Passed|Failed|Skipped)$")


def hook_status(output: str, name: str) -> str:
    """'Passed', 'Failed' or 'Skipped' from pre-commit's `name....Status` line."""
    statuses = {m["name"]: m["status"] for m in map(STATUS_LINE.match, output.splitlines()) if m}
    assert name in statuses, f"no status line for {name!r} in:\n{output}"
    return statuses[name]


def test_lint_hook_fails_fix_hook_rewrites_then_both_pass(tmp_path: Path, hooks_repo: Path, pre_commit_home: Path) -> None:
    work = scratch_repo(tmp_path / "models")
    buggy = BUGGY.read_text()
    (work / "mha.py").write_text(buggy)
    git("add", "mha.py", cwd=work)

    first = pre_commit("try-repo", str(hooks_repo), "--all-files", cwd=work, home=pre_commit_home)
    assert first.returncode == 1, first.stdout + first.stderr
    assert hook_status(first.stdout, "flake8-tensorview") == "Failed"
    assert "mha.py:47:34: TV101 .view() merges dims 2 and 3" in first.stdout
    assert hook_status(first.stdout, "flake8-tensorview (fix)") == "Failed"  # it modified files
    fixed = (work / "mha.py").read_text()
    assert fixed != buggy
    assert ".contiguous().view(b, num_tokens, self.d_out)" in fixed.splitlines()[46]

    git("add", "mha.py", cwd=work)
    second = pre_commit("try-repo", str(hooks_repo), "--all-files", cwd=work, home=pre_commit_home)
    assert second.returncode == 0, second.stdout + second.stderr
    assert hook_status(second.stdout, "flake8-tensorview") == "Passed"
    assert hook_status(second.stdout, "flake8-tensorview (fix)") == "Passed"
    assert (work / "mha.py").read_text() == fixed


def test_commit_without_python_files_passes_quietly(tmp_path: Path, hooks_repo: Path, pre_commit_home: Path) -> None:
    work = scratch_repo(tmp_path / "docs-only")
    (work / "mha.py").write_text(BUGGY.read_text())
    git("add", "mha.py", cwd=work)
    git("commit", "-q", "-m", "existing buggy model", cwd=work)
    (work / "NOTES.md").write_text("only prose changes here\n")
    git("add", "NOTES.md", cwd=work)

    result = pre_commit("try-repo", str(hooks_repo), cwd=work, home=pre_commit_home)  # staged files only
    assert result.returncode == 0, result.stdout + result.stderr
    assert hook_status(result.stdout, "flake8-tensorview") == "Skipped"
    assert "TV101" not in result.stdout


def test_flake8_hook_with_the_plugin_as_additional_dependency(tmp_path: Path, hooks_repo: Path,
                                                             pre_commit_home: Path) -> None:
    """flake8's own hook plus `additional_dependencies`: the README's second wiring. The real
    config names `repo: https://github.com/pycqa/flake8`; this one is the same hook as a local
    repo, with the plugin installed as the README says, from a git URL and a commit (here the
    scratch copy's), since the package is not on the registry."""
    work = scratch_repo(tmp_path / "flake8-hook")
    (work / "mha.py").write_text(BUGGY.read_text())
    commit = git("rev-parse", "HEAD", cwd=hooks_repo).strip()
    requirement = f"flake8-tensorview @ git+{hooks_repo.as_uri()}@{commit}"  # the README's form
    (work / ".pre-commit-config.yaml").write_text(
        "repos:\n"
        "-   repo: local\n"
        "    hooks:\n"
        "    -   id: flake8\n"
        "        name: flake8\n"
        "        entry: flake8 --extend-select TV\n"
        "        language: python\n"
        "        types: [python]\n"
        f"        additional_dependencies: ['flake8>=7', '{requirement}']\n"
    )
    git("add", "-A", cwd=work)
    result = pre_commit("run", "--all-files", cwd=work, home=pre_commit_home)
    assert result.returncode == 1, result.stdout + result.stderr
    assert hook_status(result.stdout, "flake8") == "Failed"
    assert "mha.py:47:34: TV101 .view() merges dims 2 and 3" in result.stdout
