"""Where editors meet the plugin: python-lsp-server driven over stdio as an editor drives it, and the
flake8 command line VS Code's flake8 extension runs, parsed the way that extension parses it."""

from __future__ import annotations

import json
import queue
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Callable

import pytest

from conftest import FIXTURES

BUGGY = (FIXTURES / "llms_from_scratch_mha.py").read_text()
VIEW_LINE = 47  # 1-based: context_vec.view(b, num_tokens, self.d_out), after transpose(1, 2) on 46
FLAKE8 = Path(sys.executable).with_name("flake8")


class LanguageServer:
    """A JSON-RPC client of one `pylsp` process over stdio (Content-Length framing)."""

    def __init__(self, root: Path) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "pylsp"], cwd=root, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.inbox: queue.Queue[dict[str, Any]] = queue.Queue()
        self.next_id = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        stream = self.proc.stdout
        assert stream is not None
        while True:
            headers = {}
            while (line := stream.readline()) not in (b"\r\n", b""):
                key, _, value = line.decode().partition(":")
                headers[key.strip().lower()] = value.strip()
            if not headers:
                return
            self.inbox.put(json.loads(stream.read(int(headers["content-length"]))))

    def send(self, method: str, params: Any, request: bool = False) -> int | None:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params}
        if request:
            self.next_id += 1
            message["id"] = self.next_id
        body = json.dumps(message).encode()
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()
        return message.get("id")

    def wait_for(self, wanted: Callable[[dict[str, Any]], bool], timeout: float = 60) -> dict[str, Any]:
        while True:
            try:
                message = self.inbox.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError("pylsp sent no such message in time") from None
            if wanted(message):
                return message

    def request(self, method: str, params: Any) -> Any:
        sent = self.send(method, params, request=True)
        return self.wait_for(lambda m: m.get("id") == sent and "method" not in m)["result"]

    def diagnostics(self, uri: str, version: int = 1) -> list[dict[str, Any]]:
        """The diagnostics published for ``version`` of the document (stale ones are skipped)."""
        message = self.wait_for(lambda m: m.get("method") == "textDocument/publishDiagnostics"
                                and m["params"]["uri"] == uri and m["params"].get("version", version) == version)
        return message["params"]["diagnostics"]

    def close(self) -> None:
        try:
            self.request("shutdown", None)
            self.send("exit", None)
            self.proc.wait(timeout=10)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()


@pytest.fixture
def server(tmp_path: Path):
    lsp = LanguageServer(tmp_path)
    lsp.request("initialize", {"processId": None, "rootUri": tmp_path.as_uri(), "capabilities": {}})
    lsp.send("initialized", {})
    # what an editor's settings for pylsp say (README, "Editors"): flake8 on, the other linters off
    lsp.send("workspace/didChangeConfiguration", {"settings": {"pylsp": {"plugins": {
        "flake8": {"enabled": True, "executable": str(FLAKE8), "extendSelect": ["TV"]},
        **{name: {"enabled": False} for name in ("pycodestyle", "pyflakes", "mccabe", "pylint")},
    }}}})
    yield lsp
    lsp.close()


def open_unsaved(server: LanguageServer, path: Path, text: str) -> str:
    """Open ``path`` with ``text`` in the editor buffer; the file on disk holds something else."""
    path.write_text("# the saved version has no model code\n")
    uri = path.as_uri()
    server.send("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 1,
                                                         "text": text}})
    return uri


def change(server: LanguageServer, uri: str, version: int, text: str) -> None:
    server.send("textDocument/didChange", {"textDocument": {"uri": uri, "version": version},
                                           "contentChanges": [{"text": text}]})


def apply(text: str, edits: list[dict[str, Any]]) -> str:
    """Apply LSP text edits (ASCII text: UTF-16 units are characters)."""
    lines = text.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))

    def offset(position: dict[str, int]) -> int:
        return offsets[position["line"]] + position["character"]

    for edit in sorted(edits, key=lambda e: offset(e["range"]["start"]), reverse=True):
        text = text[:offset(edit["range"]["start"])] + edit["newText"] + text[offset(edit["range"]["end"]):]
    return text


def test_pylsp_reports_tv101_on_unsaved_text_with_the_view_range(server: LanguageServer, tmp_path: Path) -> None:
    uri = open_unsaved(server, tmp_path / "mha.py", BUGGY)
    [diagnostic] = [d for d in server.diagnostics(uri) if d["code"] == "TV101"]
    line = BUGGY.splitlines(keepends=True)[VIEW_LINE - 1]
    assert diagnostic["range"]["start"] == {"line": VIEW_LINE - 1, "character": line.index(".view")}
    assert diagnostic["range"]["end"]["line"] == VIEW_LINE - 1
    assert diagnostic["source"] == "flake8"
    assert diagnostic["message"].startswith("TV101 .view() merges dims 2 and 3 (self.num_heads, self.head_dim)")


def test_pylsp_diagnostic_carries_the_story_as_related_information(server: LanguageServer, tmp_path: Path) -> None:
    uri = open_unsaved(server, tmp_path / "mha.py", BUGGY)
    [diagnostic] = [d for d in server.diagnostics(uri) if d["code"] == "TV101"]
    line = BUGGY.splitlines()[VIEW_LINE - 1]
    # the squiggle covers `.view`, not the rest of the line as flake8's row/col alone would give
    assert diagnostic["range"] == {"start": {"line": VIEW_LINE - 1, "character": line.index(".view")},
                                   "end": {"line": VIEW_LINE - 1, "character": line.index(".view") + len(".view")}}
    info = diagnostic["relatedInformation"]
    transpose_line = BUGGY.splitlines()[VIEW_LINE - 2]
    [step, *rest] = info
    assert step["location"]["uri"] == uri
    span = step["location"]["range"]
    assert span["start"]["line"] == span["end"]["line"] == VIEW_LINE - 2
    assert "transpose" in transpose_line[span["start"]["character"]:span["end"]["character"]]
    assert step["message"].startswith("transpose(1, 2) leaves")
    assert [r["message"].split(":")[0] for r in rest] == ["note", "help"]
    assert "== 1" in rest[0]["message"]


def test_pylsp_honours_noqa(server: LanguageServer, tmp_path: Path) -> None:
    lines = BUGGY.splitlines(keepends=True)
    lines[VIEW_LINE - 1] = lines[VIEW_LINE - 1].rstrip("\n") + "  # noqa: TV101\n"
    lines.append("import os\n")  # a finding that stays: flake8 did run
    uri = open_unsaved(server, tmp_path / "mha.py", "".join(lines))
    codes = {d["code"] for d in server.diagnostics(uri)}
    assert "F401" in codes
    assert not any(code.startswith("TV") for code in codes)


def test_pylsp_quick_fixes_make_the_diagnostic_go_away(server: LanguageServer, tmp_path: Path) -> None:
    uri = open_unsaved(server, tmp_path / "mha.py", BUGGY)
    [diagnostic] = [d for d in server.diagnostics(uri) if d["code"] == "TV101"]
    actions = server.request("textDocument/codeAction", {
        "textDocument": {"uri": uri}, "range": diagnostic["range"], "context": {"diagnostics": [diagnostic]}})
    titles = [a["title"] for a in actions]
    assert titles == ["Call .contiguous() before .view() (TV101)", "Use .reshape() instead of .view() (TV101)"]
    assert all(a["kind"] == "quickfix" and a["diagnostics"] == [diagnostic] for a in actions)

    buggy_lines = BUGGY.splitlines(keepends=True)
    for attempt, (action, fixed_call) in enumerate(zip(actions, (".contiguous().view(", ".reshape(")), start=1):
        [document_edit] = action["edit"]["documentChanges"]
        assert document_edit["textDocument"] == {"uri": uri, "version": 1}
        [edit] = document_edit["edits"]
        assert edit["range"] == {"start": {"line": VIEW_LINE - 1, "character": 0},
                                 "end": {"line": VIEW_LINE, "character": 0}}
        fixed = apply(BUGGY, document_edit["edits"])
        fixed_lines = fixed.splitlines(keepends=True)
        assert fixed_lines[:VIEW_LINE - 1] == buggy_lines[:VIEW_LINE - 1]
        assert fixed_lines[VIEW_LINE:] == buggy_lines[VIEW_LINE:]
        assert fixed_call in fixed_lines[VIEW_LINE - 1]
        buggy_version, fixed_version = 2 * attempt, 2 * attempt + 1
        change(server, uri, buggy_version, BUGGY)  # back to the buggy text, then the fixed text
        assert any(d["code"] == "TV101" for d in server.diagnostics(uri, buggy_version))
        change(server, uri, fixed_version, fixed)
        assert [d for d in server.diagnostics(uri, fixed_version) if d["code"].startswith("TV")] == []


def test_pylsp_offers_nothing_off_the_finding_lines(server: LanguageServer, tmp_path: Path) -> None:
    uri = open_unsaved(server, tmp_path / "mha.py", BUGGY)
    server.diagnostics(uri)
    elsewhere = {"start": {"line": 0, "character": 0}, "end": {"line": VIEW_LINE - 2, "character": 0}}
    assert server.request("textDocument/codeAction", {
        "textDocument": {"uri": uri}, "range": elsewhere, "context": {"diagnostics": []}}) == []


# VS Code's flake8 extension (microsoft/vscode-flake8, bundled/tool/lsp_server.py) runs
# `python -m flake8 --format='%(row)d,%(col)d,%(code).1s,%(code)s:%(text)s' <path>` without a shell,
# so the quotes reach flake8 and wrap every output line; it strips them, matches each line against
# row,col,type,code:message and turns row and col into 0-based LSP positions.
VSCODE_FORMAT = "--format='%(row)d,%(col)d,%(code).1s,%(code)s:%(text)s'"
VSCODE_LINE = re.compile(r"(?P<line>\d+),(?P<column>-?\d+),(?P<type>\w+),(?P<code>\w+\d+):(?P<message>[^\r\n]*)")


def vscode_diagnostics(stdout: str) -> list[dict[str, Any]]:
    found = []
    for line in stdout.splitlines():
        if line.startswith("'") and line.endswith("'"):
            line = line[1:-1]
        if m := VSCODE_LINE.match(line):
            found.append({"line": int(m["line"]) - 1, "character": int(m["column"]) - 1, "type": m["type"],
                          "code": m["code"], "message": m["message"]})
    return found


@pytest.mark.parametrize("use_stdin", [False, True], ids=["saved file", "notebook cell via stdin"])
def test_vscode_flake8_command_line_parses_our_output(tmp_path: Path, use_stdin: bool) -> None:
    path = tmp_path / "mha.py"
    path.write_text(BUGGY)
    target = ["-", "--stdin-display-name", str(path)] if use_stdin else [str(path)]
    result = subprocess.run([sys.executable, "-m", "flake8", VSCODE_FORMAT, "--extend-select", "TV", *target],
                            cwd=tmp_path, input=BUGGY if use_stdin else None, capture_output=True, text=True)
    tv = [d for d in vscode_diagnostics(result.stdout) if d["code"].startswith("TV")]
    line = BUGGY.splitlines()[VIEW_LINE - 1]
    assert tv == [{
        "line": VIEW_LINE - 1, "character": line.index(".view"), "type": "T", "code": "TV101",
        "message": ".view() merges dims 2 and 3 (self.num_heads, self.head_dim), which transpose(1, 2) on "
                   "line 46 made non-adjacent in memory; call .contiguous() first or use .reshape()",
    }]


@pytest.mark.parametrize("old, new", [
    ("a\nb\nc\n", "a\nB\nc\n"),
    ("a\nb\nc", "a\nb\nC"),          # last line without a newline
    ("a\nb\n", "a\nb\nc\n"),         # an insertion at the end
    ("a\nb\nb\n", "a\nb\n"),         # repeated lines: head and tail must not overlap
    ("x\r\ny\r\n", "x\r\nY\r\n"),
])
def test_quick_fix_edit_covers_only_changed_lines(old: str, new: str) -> None:
    from flake8_tensorview.pylsp_plugin import changed_lines

    start, end, text = changed_lines(old, new)
    assert apply(old, [{"range": {"start": start, "end": end}, "newText": text}]) == new
    assert text.count("\n") <= abs(new.count("\n") - old.count("\n")) + 1
