"""The preselection skips only functions that cannot hold a finding, and keeps every position.

`scripts/preselect_check.py` runs the same comparison over real model code (see docs/audit.md).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import libcst as cst
import pytest
from hypothesis import HealthCheck, given, settings

from conftest import FIXTURES
from flow_gen import flows
from flake8_tensorview import ops
from test_ops import MODULE_EXAMPLES
from flake8_tensorview.layout import Tensor
from flake8_tensorview.linter import analyze, lint_source
from flake8_tensorview.values import TupleV
from flake8_tensorview.preselect import (
    _DOTTED, _KIND_KEEPING, PRODUCER, Pruned, might_match, preselect, slices_apart,
)
from test_ops import INPUTS

FIXTURE_FILES = sorted(FIXTURES.glob("*.py"))


def both(source: str) -> tuple[list[tuple[int, int, str]], list[tuple[int, int, str]]]:
    def key(found: list) -> list[tuple[int, int, str]]:  # type: ignore[type-arg]
        return [(d.line, d.col, d.text) for d in found]

    return key(lint_source(source)), key(lint_source(source, whole=True))


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=[p.name for p in FIXTURE_FILES])
def test_fixtures_give_the_same_findings_preselected(path: Path) -> None:
    fast, whole = both(path.read_text())
    assert fast == whole


def test_fixtures_are_actually_pruned() -> None:
    """Otherwise the test above compares a file with itself."""
    stubbed = 0
    for path in FIXTURE_FILES:
        source = path.read_text()
        pruned = preselect(source, ast.parse(source))
        assert pruned is not None
        assert_maps_back(pruned, source)
        stubbed += pruned.text != source
    assert stubbed >= 3


def assert_maps_back(pruned: Pruned, source: str) -> None:
    """Every parsed line is its source line (or a `pass` standing in for cut lines), in order."""
    lines = source.splitlines()
    assert pruned.lines is not None and pruned.lines == sorted(set(pruned.lines))
    for text, line in zip(pruned.text.splitlines(), pruned.lines):
        assert text == lines[line - 1] or text.strip() == "pass"


# Irrelevant functions in every shape a body can take, around two findings whose positions must
# not move, and a method whose only producer is in __init__.
MIXED = '''\
import torch


@staticmethod
def helper(a,
           b):  # multi-line header
    """A docstring
    over lines."""
    s = """a string
    with a .view( that is text"""
    return a + b


def one_liner(x): return x.view(-1)


async def fetch(x):
\tif x:
\t\treturn x
\treturn None


def buggy(b, t, c):
    x = torch.randn(b, c, t).transpose(1, 2)
    return x.view(b, t * c)  # finding


class Block(torch.nn.Module):
    def __init__(self, d):
        super().__init__()
        self.w = torch.randn(d, 2 * d).t()

    def unrelated(self, y):
        return y * 2

    def forward(self, d):
        return self.w.view(-1)  # finding


if True:
    def guarded(x):
        return x.view(-1)


def late(b, t, c):
    y = torch.randn(b, c, t).permute(0, 2, 1)
    return y.view(b, -1)  # finding
'''


def test_positions_and_findings_survive_pruning() -> None:
    result = preselect(MIXED, ast.parse(MIXED))
    assert result is not None
    assert_maps_back(result, MIXED)
    pruned = result.text
    assert "import torch" not in pruned  # imports go; the walker gets their names from ast
    for kept in ("def buggy", "def __init__", "def forward", "def late", "return x.view(b, t * c)  # finding"):
        assert pruned.count(kept) == MIXED.count(kept) == 1
    assert "a string" not in pruned and "\t\treturn x" not in pruned and "y * 2" not in pruned
    assert "fetch" not in pruned and "unrelated" not in pruned  # no trigger: gone, header and all
    fast, whole = both(MIXED)
    assert fast == whole
    lines = MIXED.splitlines()
    expected = [n for n, text in enumerate(lines, 1) if text.endswith("# finding")]
    assert [(line, lines[line - 1][col:col + 5]) for line, col, _ in fast] == [(n, ".view") for n in expected]
    assert len(expected) == 3


@pytest.mark.parametrize("newline", ["\r\n", "\n"])
def test_line_endings_and_tabs_are_kept(newline: str) -> None:
    source = MIXED.replace("\n", newline)
    pruned = preselect(source, ast.parse(source))
    assert pruned is not None
    assert pruned.text.count(newline) == pruned.text.count("\n")
    assert "\t\t" not in pruned.text and "\tif x:" not in pruned.text
    assert both(source)[0] == both(MIXED)[0]


def test_module_code_with_a_trigger_keeps_module_code_and_function_names() -> None:
    source = (
        "import torch\nn = 4\n\n\ndef one_liner(x): return x.view(-1)\n\n\n"
        "def helper(x):\n    return x + 1\n\n\nx = torch.randn(n, 3).t()\ny = x.view(-1)\n"
    )
    result = preselect(source, ast.parse(source))
    assert result is not None
    pruned = result.text
    assert "n = 4" in pruned and "def one_liner(x): return x.view(-1)" in pruned  # shares the header's line
    assert "def helper(x):\n    pass\n" in pruned  # the name stays bound for module code
    assert [d.line for d in lint_source(source)] == [13]


def test_a_lone_carriage_return_keeps_the_file_whole() -> None:
    source = MIXED.replace("def one_liner", "x = 1\rdef one_liner")
    result = preselect(source, ast.parse(source))
    assert result is not None and result.text == source and result.lines is None


def test_methods_keep_init_only_when_needed() -> None:
    source = "class A:\n    def __init__(self):\n        self.k = 3\n\n    def f(self, x):\n        return x + 1\n"
    pruned = preselect(source, ast.parse(source))
    assert pruned is not None and "self.k" not in pruned.text and "x + 1" not in pruned.text


def test_masked_fill_functions_are_kept() -> None:
    source = "def f(s, m):\n    return s.masked_fill(m.unsqueeze(0), 0.0)\n"
    pruned = preselect(source, ast.parse(source))
    assert pruned is not None and pruned.text == source


def test_deep_nesting_is_refused_only_where_libcst_would_see_it() -> None:
    deep = " + ".join(["1"] * 500)  # a BinOp chain 500 deep
    stubbed = f"def f():\n    return {deep}\n\n\ndef g(x):\n    return x.transpose(0, 1).view(-1)\n"
    assert preselect(stubbed, ast.parse(stubbed)) is not None
    kept = f"def g(x):\n    y = {deep}\n    return x.transpose(0, 1).view(-1)\n"
    assert preselect(kept, ast.parse(kept)) is None


# ---- the order of bindings: a binding after the read (and outside any loop around both) cannot feed it

FLOW_SETTINGS = settings(deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow])


@settings(FLOW_SETTINGS, max_examples=300)
@given(flows())
def test_generated_flows_give_the_same_findings_preselected(source: str) -> None:
    fast, whole = both(source)
    assert fast == whole


def test_generated_flows_have_findings_to_lose() -> None:
    """Otherwise the test above compares two empty lists: the same derandomized draws, counted."""
    found: list[int] = []

    @settings(FLOW_SETTINGS, max_examples=100)
    @given(flows())
    def count(source: str) -> None:
        found.append(len(lint_source(source, whole=True)))

    count()
    assert sum(found) >= 10 and sum(1 for n in found if n == 0) >= 10


ORDERED = """\
import torch


def rebound_after_the_view(h):
    x = h.view(2, 3, 4).transpose(1, 2)
    return x


def transposed_after_the_view():
    x = torch.randn(2, 3, 4)
    y = x.view(-1)
    x = x.transpose(0, 1)
    return y


def made_dense_before_the_view(x):
    return x.permute(0, 2, 1).contiguous().view(-1)


def loop_brings_it_round(flag):
    x = torch.randn(2, 3, 4)
    while flag:
        y = x.view(-1)
        x = x.transpose(0, 1)
    return y


def transposed_before_the_view():
    x = torch.randn(2, 3, 4).transpose(0, 1)
    return x.view(-1)  # finding


def only_a_size_reaches_the_view(x):
    t = x.transpose(0, 1)
    y = x * t.shape[0]
    return y.view(-1)


def through_data():
    x = torch.randn(2, 3, 4).transpose(0, 1)
    y = x.data
    return y.view(-1)  # finding


def code_after_the_last_view():
    x = torch.randn(2, 3, 4).transpose(0, 1)
    y = x.view(-1)  # finding
    z = y * 2
    return z
"""


def kept_functions(pruned: Pruned) -> set[str]:
    """Functions whose body libcst still sees (a cut one is a lone ``pass``)."""
    return {f.name for f in ast.walk(ast.parse(pruned.text)) if isinstance(f, ast.FunctionDef)
            and not (len(f.body) == 1 and isinstance(f.body[0], ast.Pass))}


def test_only_what_can_bring_a_non_contiguous_tensor_to_a_view_is_parsed() -> None:
    pruned = preselect(ORDERED, ast.parse(ORDERED))
    assert pruned is not None
    assert kept_functions(pruned) == {"loop_brings_it_round", "transposed_before_the_view", "through_data",
                                      "code_after_the_last_view"}
    assert "z = y * 2" not in pruned.text  # after the last view: nothing there changes a layout it sees
    fast, whole = both(ORDERED)
    lines = ORDERED.splitlines()
    assert fast == whole and [line for line, _, _ in whole] == [n for n, text in enumerate(lines, 1) if "# finding" in text]


def test_the_ordered_cases_do_what_torch_does() -> None:
    import torch

    scope: dict[str, object] = {}
    exec(ORDERED, scope)
    scope["rebound_after_the_view"](torch.randn(24))  # type: ignore[operator]
    scope["transposed_after_the_view"]()  # type: ignore[operator]
    scope["made_dense_before_the_view"](torch.randn(2, 3, 4))  # type: ignore[operator]
    scope["only_a_size_reaches_the_view"](torch.randn(2, 3, 4))  # type: ignore[operator]
    for flagged in ("transposed_before_the_view", "through_data", "code_after_the_last_view"):
        with pytest.raises(RuntimeError, match="view size is not compatible"):
            scope[flagged]()  # type: ignore[operator]


@pytest.mark.parametrize("example", [e.lstrip("?") for op in ops.OPS if op.effect in ops.DENSE_EFFECTS
                                     for e in op.examples])
def test_dense_ops_give_no_non_contiguous_tensor_whatever_goes_in(example: str) -> None:
    """``ops.DENSE``: preselect does not follow what flows into these calls."""
    result = analyze(INPUTS + f"y = {example}\n", whole=True)
    assert result is not None
    y = result[0].module_env.vars["y"]
    items = y.items if isinstance(y, TupleV) else (y,)
    assert all(not isinstance(v, Tensor) or v.contiguous for v in items)


# ---- the soundness premise: only producers and slicing make a contiguous tensor non-contiguous --

CONTIGUOUS_INPUTS = INPUTS.replace(".transpose(1, 2)", ".transpose(1, 2).contiguous()").replace(
    ".expand(2, 4, 3, 5)", ".expand(2, 4, 3, 5).contiguous()").replace("[..., ::2]", "[..., ::2].contiguous()")
OTHER_EXAMPLES = [
    example.lstrip("?")
    for op in ops.OPS if op not in ops.PRODUCERS for example in op.examples
    if not PRODUCER.search(example.lstrip("?")) and not slices_apart(ast.parse(example.lstrip("?")))
]
INDEXING = ["c[0]", "c[1, 2]", "c[None]", "c[None, 0]", "c[m.nonzero()]", "c[1:3]", "c[:2]", "c[-1:]",
            "c[0, 1:3]", "c[None, :2]", "c[...]", "c[0, ...]", "c[1][2:]"]


@pytest.mark.parametrize("expression", OTHER_EXAMPLES + INDEXING)
def test_non_producers_keep_contiguous_inputs_contiguous(expression: str) -> None:
    result = analyze(CONTIGUOUS_INPUTS + f"y = {expression}\n", whole=True)
    assert result is not None
    walker, _ = result
    assert all(isinstance(walker.module_env.vars[v], Tensor) and walker.module_env.vars[v].contiguous
               for v in "xces")
    y = walker.module_env.vars["y"]
    assert not isinstance(y, Tensor) or y.strides is None or y.contiguous


@pytest.mark.parametrize("name", sorted(MODULE_EXAMPLES))
def test_modules_keep_contiguous_inputs_contiguous(name: str) -> None:
    program = CONTIGUOUS_INPUTS + f"m = {MODULE_EXAMPLES[name]}\ny = m(c)\n"
    result = analyze(program, whole=True)
    assert result is not None
    y = result[0].module_env.vars["y"]
    assert not isinstance(y, Tensor) or y.strides is None or y.contiguous


def test_producer_pattern_names_every_producer() -> None:
    for op in ops.PRODUCERS:
        for name in op.names:
            assert PRODUCER.search(f"y = x.{name}(1)"), name
    assert not PRODUCER.search("t = time.time(); x = x.view(-1)")


def test_producer_search_finds_what_its_regex_finds() -> None:
    """``PRODUCER`` checks the ``\\b`` before a name itself (sre is slow with it first): the same
    match as the plain regex, also inside words, after non-ASCII letters and in a window."""
    names = "|".join(sorted(n for op in ops.PRODUCERS for n in op.names if n not in _DOTTED))
    plain = re.compile(rf"\b(?:{names}|memory_format)\b|\.(?:{'|'.join(sorted(_DOTTED))})\b")
    texts = ["xtranspose(a) transpose(b)", "é.permute(0) éexpand_as(y) x.expand_as(y)", "y = x.mT.t()",
             "2split(a); split_x; .split", "a.tb; a.T", "inverse_x inv"]
    texts += [p.read_text() for p in FIXTURE_FILES[:20]]
    for text in texts:
        for start, end in [(0, len(text)), (1, len(text)), (0, len(text) - 1), (2, len(text) // 2)]:
            found, expected = PRODUCER.search(text, start, end), plain.search(text, start, end)
            assert (found and found.span()) == (expected and expected.span()), (text[:40], start, end)


@pytest.mark.parametrize("expression, apart", [
    ("x[:, 0]", True), ("x[..., :3]", True), ("x[::2]", True), ("x[0, :, 1]", True), ("x[f(i)[0], :, 1]", True),
    ("x[:n]", False), ("x[0, 1:3]", False), ("x[None, :t]", False), ("x[1, 2]", False), ("y[k]", False),
])
def test_slices_apart_exactly_when_torch_can_lose_contiguity(expression: str, apart: bool) -> None:
    import torch

    assert slices_apart(ast.parse(expression)) is apart
    if "f(" not in expression:
        x = torch.randn(4, 5, 6)
        scope = {"x": x, "n": 2, "t": 3, "y": [1, 2], "k": 0}
        result = eval(expression, scope)
        if isinstance(result, torch.Tensor) and not apart:
            assert result.is_contiguous()
        elif apart:
            assert not result.is_contiguous()


# ---- TV301: the sites of discarded results are kept, with what makes their receiver a tensor ----

DISCARDED = """\
import torch
import torch.nn as nn


def unrelated(n):
    seen = set()
    seen.add(n)
    return seen


def local():
    x = torch.arange(3)
    x.float()  # finding
    y = x * 2
    return y


def in_blocks(flag, items):
    h = torch.randn(2, 3)
    for item in items:
        with torch.no_grad():
            try:
                h.relu()  # finding
            except ValueError:
                pass
    if flag:
        def inner():
            z = torch.ones(2)
            z.unsqueeze(0)  # finding
        inner()
    return h


def make(n):
    return torch.zeros(n, 2)


def from_a_helper(n):
    a = make(n)
    a.to(torch.float64)  # finding
    return a


def takes(p):
    p.transpose(0, 1)  # finding
    return p


def passes():
    return takes(torch.randn(2, 3))


def prior_only(model, device):
    model.to(device)
    return model


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.randn(3, 4)
        self.proj = nn.Linear(4, 4)

    def forward(self, x):
        self.w.t()  # finding
        h = self.proj(x)
        h.masked_fill_(h > 0, 0.0)
        return h


if True:
    def guarded():
        g = torch.randn(2, 2)
        g.clone()  # finding


s = torch.randn(2, 3)
s.add(1)  # finding
"""


def test_the_gate_admits_a_file_whose_only_site_is_a_discarded_result() -> None:
    assert might_match("import torch\nx = torch.arange(3)\nx.float()\n")
    assert might_match("x.transpose (0, 1)\n") and might_match("x . to(device)\n")
    assert not might_match("import os\nprint(os.getcwd())\nx = y.to_dense\n")
    assert lint_source("import torch\nx = torch.arange(3)\nx.float()\n")[0].code == "TV301"


def test_discarded_results_are_kept_and_found_preselected() -> None:
    result = preselect(DISCARDED, ast.parse(DISCARDED))
    assert result is not None
    assert_maps_back(result, DISCARDED)
    assert kept_functions(result) >= {"local", "in_blocks", "inner", "from_a_helper", "make", "takes", "passes",
                                      "__init__", "forward", "guarded"}
    assert "y = x * 2" not in result.text  # after the last site: nothing there changes a fact it sees
    assert {"from_a_helper", "make", "takes", "passes"} <= result.scope  # facts from another function
    fast, whole = both(DISCARDED)
    lines = DISCARDED.splitlines()
    assert fast == whole
    assert [(line, text.split()[0]) for line, _, text in fast] == [
        (n, "TV301") for n, text in enumerate(lines, 1) if text.endswith("# finding")]


def test_discarded_results_really_change_nothing() -> None:
    """Torch: every flagged statement leaves its receiver as it was."""
    import torch

    scope: dict[str, object] = {}
    exec(DISCARDED, scope)
    assert torch.equal(scope["local"](), torch.arange(3) * 2)  # type: ignore[operator]
    assert scope["from_a_helper"](2).dtype == torch.float32  # type: ignore[operator]
    assert scope["passes"]().shape == (2, 3)  # type: ignore[operator]
    assert scope["in_blocks"](True, [1]).shape == (2, 3)  # type: ignore[operator]
    assert scope["s"].dtype == torch.float32 and scope["Block"]().w.shape == (3, 4)  # type: ignore[attr-defined,operator]


@pytest.mark.parametrize(
    "line, admitted",
    [
        ("x.float()", True),
        ("    scores.masked_fill(mask, 0)", True),
        ("torch.zeros(3, dtype=torch.float).to(device)", True),
        ("torch.zeros(\n    2,\n    1).squeeze(0)", True),
        ("x \\\n    .float()", True),
        ("f(\n    x.float(),\n)", False),
        ("y = (\n    a + b\n).float()", False),
        ("f(g(\n    a)).float()", True),
        ("f(g(\n    a).float())", False),
        ("    >>> x.float()", False),
        ("y = x.float()", False),
        ("    return x.sum(-1)", False),
        ("    if x.float().sum() > 0:", False),
        ("self.total = self.total.add(x)", False),
        ("y = (\n    x\n    .float()\n)", False),
        ("(\n    x\n    .float()\n)", True),
        ("z = (a\n    - b.float())", False),
        ('"""The time shift.\n    t (int): the step."""', False),
    ],
)
def test_the_tv301_text_gate_wants_a_statement_that_calls_the_method(line: str, admitted: bool) -> None:
    from flake8_tensorview.preselect import DISCARDED

    assert DISCARDED.search("import torch\n" + line + "\n") is admitted


def test_a_stub_whose_body_starts_with_a_decorated_def_still_parses() -> None:
    """Module code with a finding keeps every function's header; a body that starts with a
    decorator (transformers' testing_utils) is cut from the decorator, not from the ``def``."""
    source = (
        "import functools\nimport torch\n\n\ndef skip(test):\n    @functools.wraps(test)\n"
        "    def wrapper(*args):\n        return test(*args)\n    return wrapper\n\n\n"
        "x = torch.randn(2, 3).t()\ny = x.view(6)\n"
    )
    pruned = preselect(source, ast.parse(source))
    assert pruned is not None and "@functools.wraps" not in pruned.text
    cst.parse_module(pruned.text)
    fast, whole = both(source)
    assert fast == whole and [line for line, _, _ in fast] == [13]


def test_a_receiver_rebound_through_to_stays_the_prior() -> None:
    """``self.vae = self.vae.to(dtype)`` then ``self.vae.to(torch.float16)`` (diffusers' pipelines):
    a module stays a module and the prior stays the prior through ``to``, so nothing can be
    reported and the 700-line ``__call__`` is not parsed; a tensor made here still is."""
    source = (
        "import torch\n\n\nclass Pipe:\n    def __call__(self, latents, up):\n        if up:\n"
        "            self.vae = self.vae.to(latents.dtype)\n        image = self.vae.decode(latents)\n"
        "        if up:\n            self.vae.to(dtype=torch.float16)\n        return image\n\n\n"
        "def made(n):\n    x = torch.zeros(n).float()\n    x.to(torch.float16)\n    return x\n"
    )
    pruned = preselect(source, ast.parse(source))
    assert pruned is not None and "decode" not in pruned.text and "def made" in pruned.text
    fast, whole = both(source)
    assert fast == whole and [(line, text.split()[0]) for line, _, text in fast] == [(16, "TV301")]


@pytest.mark.parametrize("method", sorted(_KIND_KEEPING))
def test_the_walker_keeps_the_prior_through_every_kind_keeping_method(method: str) -> None:
    """The preselection skips ``x = x.<method>(...)`` receivers as the prior: the walker must agree,
    for a parameter and for an attribute, or the set derived from the tables is wrong."""
    source = (
        f"def g(x, y):\n    x = x.{method}()\n    x.to('cuda')\n\n\n"
        f"class P:\n    def f(self, y):\n        self.v = self.v.{method}(y)\n        self.v.to('cuda')\n"
    )
    assert lint_source(source, whole=True) == []
