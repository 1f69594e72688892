"""Whole-module analysis: facts cross function boundaries, and every way of crossing is bounded."""

from __future__ import annotations

import time

import pytest
import torch

from flake8_tensorview.analysis import MAX_CALL_DEPTH
from flake8_tensorview.linter import lint_source

HEADER = "import torch\nfrom torch import nn\n\n\n"


def lines(source: str, whole: bool = False) -> list[int]:
    return [d.line for d in lint_source(source, whole=whole) if d.code == "TV101"]


def both(source: str) -> list[int]:
    """The findings, which must not depend on the preselection."""
    fast = lines(source)
    assert fast == lines(source, whole=True)
    return fast


def test_a_helper_return_carries_its_layout_and_the_message_names_the_helper() -> None:
    source = HEADER + (
        "def heads(x, b, t, h, d):\n"
        "    return x.view(b, t, h, d).transpose(1, 2)\n\n\n"
        "def attend(x, h, d):\n"
        "    b, t, c = x.shape\n"
        "    q = heads(x, b, t, h, d)\n"
        "    return q.reshape(b, h, -1), q.view(b * h, t, d)\n"
    )
    [finding] = lint_source(source)
    assert finding.line == 12
    assert "transpose(1, 2) in `heads()` on line 6" in finding.text


def test_call_site_facts_reach_parameters_and_the_prior_is_only_for_uncalled_functions() -> None:
    helper = "def merge(ctx, b, t):\n    return ctx.view(b, t, -1)\n\n\n"
    called_right = HEADER + helper + (
        "def caller(x):\n    b, h, t, d = x.shape\n    return merge(x.transpose(1, 2).contiguous(), b, t)\n"
    )
    called_wrong = called_right.replace(".contiguous()", "")
    assert both(called_right) == []
    assert both(called_wrong) == [6]
    assert both(HEADER + helper) == []  # never called: ctx is taken as contiguous


def test_an_argument_without_facts_takes_the_prior() -> None:
    """torch's own ImageNet ``accuracy``, called with a model's output the analysis cannot follow:
    the parameter is the prior (contiguous, sizes >= 2), so ``correct[:k].view(-1)`` after
    ``pred.t()`` is still found (it raises for top-5)."""
    source = HEADER + (
        "def accuracy(output, target, topk=(1,)):\n"
        "    _, pred = output.topk(max(topk), 1, True, True)\n"
        "    pred = pred.t()\n"
        "    correct = pred.eq(target.view(1, -1).expand_as(pred))\n"
        "    return [correct[:k].view(-1).float().sum(0) for k in topk]\n\n\n"
        "def train_one_epoch(model, image, target):\n"
        "    return accuracy(model(image), target, topk=(1, 5))\n"
    )
    assert both(source) == [9]


def test_a_demo_constructor_call_does_not_fix_the_sizes_of_a_class() -> None:
    """LLMs-from-scratch builds ``MultiHeadAttention(d_out=2, num_heads=2)`` once, with head_dim 1
    (where its view happens to run): the sizes a constructor call passes are one configuration, so
    the class is still checked for every size >= 2."""
    source = HEADER + (
        "class MHA(nn.Module):\n"
        "    def __init__(self, d_out, num_heads):\n"
        "        super().__init__()\n"
        "        self.d_out = d_out\n"
        "        self.num_heads = num_heads\n"
        "        self.head_dim = d_out // num_heads\n\n"
        "    def forward(self, x):\n"
        "        b, t, d = x.shape\n"
        "        q = x.view(b, t, self.num_heads, self.head_dim).transpose(1, 2)\n"
        "        return q.view(b, t, self.d_out)\n\n\n"
        "mha = MHA(2, num_heads=2)\n"
        "out = mha(torch.randn(2, 6, 2))\n"
    )
    assert both(source) == [15]


def test_mutual_recursion_terminates_without_an_internal_error() -> None:
    source = HEADER + (
        "def ping(x, n):\n    return pong(x.transpose(0, 1), n - 1) if n else x\n\n\n"
        "def pong(x, n):\n    return ping(x.transpose(0, 1), n - 1).view(-1) if n else x\n\n\n"
        "def start(b, t):\n    return ping(torch.randn(b, t), 3)\n"
    )
    started = time.process_time()
    found = lint_source(source)
    assert time.process_time() - started < 10
    assert not [d for d in found if d.code.startswith("TV9")]


@pytest.mark.parametrize("depth", [5, 50])
def test_call_chains_are_followed_up_to_the_depth_cap(depth: int) -> None:
    chain = "".join(f"def f{i}(x):\n    return f{i + 1}(x)\n\n\n" for i in range(depth))
    chain += f"def f{depth}(x):\n    return x.transpose(1, 2)\n\n\n"
    source = HEADER + chain + "def top(b, t, c):\n    return f0(torch.randn(b, t, c)).view(b, -1)\n"
    started = time.process_time()
    found = both(source)
    assert time.process_time() - started < 20
    top_line = len(source.splitlines())
    assert found == ([top_line] if depth < MAX_CALL_DEPTH else [])


def test_a_thousand_functions_are_bounded() -> None:
    body = "".join(
        f"def f{i}(x):\n    y = x.transpose(1, 2)\n    return f{i + 1}(y) if {i} % 7 else y.view(-1)\n\n\n"
        for i in range(1000)
    )
    source = HEADER + body + "def f1000(x):\n    return x\n"
    started = time.process_time()
    found = lint_source(source)
    assert time.process_time() - started < 60
    assert not [d for d in found if d.code.startswith("TV9")]


def test_a_module_called_from_two_hundred_sites_is_bounded() -> None:
    calls = "".join(f"        y{i} = self.block(x.transpose(1, 2)).view(b, -1)\n" for i in range(200))
    source = HEADER + (
        "class Block(nn.Module):\n"
        "    def forward(self, x):\n"
        "        return x * 2\n\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.block = Block()\n\n"
        "    def forward(self, x):\n"
        "        b, t, c = x.shape\n" + calls
    )
    started = time.process_time()
    found = both(source)
    assert time.process_time() - started < 60
    assert len(found) == 200  # each call site: the transposed input comes back out of Block.forward


def test_a_user_module_in_a_module_list_is_called_through_its_forward() -> None:
    source = HEADER + (
        "class Heads(nn.Module):\n"
        "    def forward(self, x):\n"
        "        return x.transpose(1, 2)\n\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self, n):\n"
        "        super().__init__()\n"
        "        self.layers = nn.ModuleList([Heads() for _ in range(n)])\n\n"
        "    def forward(self, x):\n"
        "        b, t, c = x.shape\n"
        "        for layer in self.layers:\n"
        "            y = layer(x)\n"
        "        return y.view(b, -1)\n"
    )
    assert both(source) == [len(source.splitlines())]


# ---- what a finding rests on -----------------------------------------------------------------


def test_a_finding_on_the_prior_says_which_parameter_it_assumes_contiguous() -> None:
    merged = "def merge(ctx, t):\n    return ctx.permute(0, 2, 1, 3).view(ctx.size(0), t, -1)\n"
    [finding] = lint_source(HEADER + merged)
    assert "if `ctx` arrives contiguous" in finding.text
    # a call site's facts are facts: the same view, fed a tensor built here, assumes nothing
    called = merged + "\n\ndef run():\n    return merge(torch.randn(2, 3, 4, 5), 4)\n"
    [finding] = lint_source(HEADER + called)
    assert "arrives contiguous" not in finding.text


def test_a_copy_on_the_way_ends_the_assumption() -> None:
    source = HEADER + (
        "def merge(ctx):\n    b, h, t, d = ctx.shape\n    y = ctx.contiguous().permute(0, 2, 1, 3)\n"
        "    return y.view(b, t, h * d)\n"
    )
    [finding] = lint_source(source)
    assert "arrives contiguous" not in finding.text


def test_a_prior_fed_to_a_conv_takes_its_batched_rank() -> None:
    """``Conv2d`` needs (N, C, H, W): the prior becomes 4-D, so what follows is decided."""
    source = HEADER + (
        "class Embed(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.proj = nn.Conv2d(3, 6, 2, 2)\n\n"
        "    def forward(self, x):\n"
        "        tokens = self.proj(x).flatten(2).transpose(1, 2)\n"
        "        return tokens.view(-1, tokens.size(-1)), tokens.reshape(-1, 6)\n"
    )
    [finding] = lint_source(source)
    assert finding.line == HEADER.count("\n") + 8 and "if `x` arrives contiguous" in finding.text


def test_a_window_as_large_as_the_map_is_not_taken_for_a_generic_size() -> None:
    """GLM-4V's patch merger: a (N, C, m, m) channels-last map through a conv whose kernel and
    stride are m leaves a 1x1 map, which is contiguous; the view runs (torch says so)."""
    import torch

    source = HEADER + (
        "class Merger(nn.Module):\n"
        "    def __init__(self, c, out, m):\n"
        "        super().__init__()\n"
        "        self.m, self.out = m, out\n"
        "        self.down = nn.Conv2d(c, out, kernel_size=m, stride=m)\n\n"
        "    def forward(self, x):\n"
        "        x = x.view(-1, self.m, self.m, x.shape[-1]).permute(0, 3, 1, 2)\n"
        "        return self.down(x).view(-1, self.out)\n"
    )
    assert lint_source(source) == []
    scope: dict[str, object] = {}
    exec(source, scope)
    assert scope["Merger"](4, 6, 2)(torch.randn(3 * 4, 4)).shape == (3, 6)  # type: ignore[operator]


def test_a_return_annotation_gives_an_unknown_result_its_shape() -> None:
    source = (
        "import torch\nfrom torch import Tensor\nfrom jaxtyping import Float\nfrom elsewhere import project\n\n\n"
        "def heads(x) -> Float[Tensor, \"b h t d\"]:\n    return project(x)\n\n\n"
        "def merge(x):\n    y = heads(x).transpose(1, 2)\n    return y.view(y.size(0), y.size(1), -1)\n"
    )
    [finding] = lint_source(source)
    assert finding.line == 13 and "if `heads()` returns a contiguous tensor" in finding.text


# ---- from mutants of transformers' models (scripts/mutants.py) ----------------------------------


def raised_on(source: str, call: str, **names: object) -> int | None:
    """The line of ``source`` where torch raises the view error when ``call`` runs (None: it runs):
    each diagnosis below is checked against it."""
    import traceback

    import torch

    namespace: dict[str, object] = {"__name__": "summaries_case"}
    exec(compile(source, "<summaries-case>", "exec"), namespace)
    try:
        eval(call, {**namespace, "torch": torch, **names})
    except RuntimeError as exc:
        assert "view size is not compatible" in str(exc), exc
        return [f.lineno for f in traceback.extract_tb(exc.__traceback__) if f.filename == "<summaries-case>"][-1]
    return None


BERT_SELF_ATTENTION = HEADER + (
    "class SelfAttention(nn.Module):\n"
    "    def __init__(self, hidden_size, num_heads):\n"
    "        super().__init__()\n"
    "        self.num_attention_heads = num_heads\n"
    "        self.attention_head_size = int(hidden_size / num_heads)\n"
    "        self.all_head_size = self.num_attention_heads * self.attention_head_size\n"
    "        self.query = nn.Linear(hidden_size, self.all_head_size)\n"
    "        self.value = nn.Linear(hidden_size, self.all_head_size)\n\n"
    "    def transpose_for_scores(self, x):\n"
    "        new_x_shape = x.size()[:-1] + (self.num_attention_heads, self.attention_head_size)\n"
    "        x = x.view(new_x_shape)\n"
    "        return x.permute(0, 2, 1, 3)\n\n"
    "    def forward(self, hidden_states):\n"
    "        q = self.transpose_for_scores(self.query(hidden_states))\n"
    "        v = self.transpose_for_scores(self.value(hidden_states))\n"
    "        probs = torch.matmul(q, q.transpose(-1, -2)).softmax(-1)\n"
    "        context_layer = torch.matmul(probs, v)\n"
    "        context_layer = context_layer.permute(0, 2, 1, 3)\n"
    "        new_context_layer_shape = context_layer.size()[:-2] + (self.all_head_size,)\n"
    "        return context_layer.view(*new_context_layer_shape)\n"
)


def test_a_size_slice_plus_a_tuple_is_a_view_target() -> None:
    """BERT's ``context_layer.size()[:-2] + (self.all_head_size,)``: a ``torch.Size`` slice and a
    tuple concatenated. The view of a projection whose rank nothing states is still contiguous,
    the permute gives it its rank, and the merge is decided."""
    last = BERT_SELF_ATTENTION.count("\n")
    run = "SelfAttention(8, 2)(torch.randn(2, 3, 8))"
    assert both(BERT_SELF_ATTENTION) == [last] == [raised_on(BERT_SELF_ATTENTION, run)]
    fixed = BERT_SELF_ATTENTION.replace("context_layer.permute(0, 2, 1, 3)", "context_layer.permute(0, 2, 1, 3).contiguous()")
    assert both(fixed) == [] and raised_on(fixed, run) is None
    assert both(BERT_SELF_ATTENTION.replace("view(*new_context_layer_shape)", "view(new_context_layer_shape)")) == [last]


def test_a_torch_function_of_values_without_facts_is_a_new_dense_tensor() -> None:
    """``torch.matmul(probs, v)`` where ``probs`` comes from a call the analysis cannot follow: the
    result is dense whatever went in; a method of such a value (``probs.matmul(v)``) is not taken
    for a tensor op."""
    source = HEADER + (
        "def attend(x, v, lib):\n"
        "    probs = lib.scores(x)\n"
        "    ctx = torch.matmul(probs, v).permute(0, 2, 1, 3)\n"
        "    return ctx.view(ctx.size(0), ctx.size(1), -1)\n"
    )
    from types import SimpleNamespace

    run = "attend(torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 5), lib)"
    lib = SimpleNamespace(scores=lambda x: x.softmax(-1))
    assert both(source) == [8] == [raised_on(source, run, lib=lib)]
    fixed = source.replace(".permute(0, 2, 1, 3)", ".permute(0, 2, 1, 3).contiguous()")
    assert both(fixed) == [] and raised_on(fixed, run, lib=lib) is None
    assert both(source.replace("torch.matmul(probs, v)", "probs.matmul(v)")) == []


def test_names_unpacked_from_a_list_comprehension_take_its_items() -> None:
    """DeBERTa's ``query_layer, key_layer, value_layer = [self.transpose_for_scores(x) for x in [q, k, v]]``."""
    source = HEADER + (
        "def heads(x):\n    return x.permute(0, 2, 1, 3)\n\n\n"
        "def attend(q, k):\n"
        "    a, b = [heads(x) for x in [q, k]]\n"
        "    return a.view(a.size(0), a.size(1), -1)\n"
    )
    assert both(source) == [11] == [raised_on(source, "attend(torch.randn(2, 3, 4, 5), torch.randn(2, 3, 4, 5))")]


def test_super_init_calls_its_own_family_not_every_init() -> None:
    """``super().__init__()`` made an edge to every ``__init__`` of the module, so every method's
    closure held the whole file and a long model's attention lost its helpers to the budget."""
    import ast

    from flake8_tensorview.semantic import build

    model = build(ast.parse(
        "class Base:\n    def __init__(self):\n        pass\n\n\n"
        "class A(Base):\n    def __init__(self):\n        super().__init__()\n\n\n"
        "class B:\n    def __init__(self):\n        self.a = 1\n"
    ))
    assert model.calls["A.__init__"] == {"Base.__init__"}


def test_a_candidate_whose_callers_exceed_the_budget_keeps_its_helpers() -> None:
    """The closure of ``attend`` holds a caller longer than ``SCOPE_LINES``: its callers are cut,
    but the helper that gives the transposed tensor its shape is still evaluated."""
    from flake8_tensorview.preselect import SMALL_MODULE_LINES

    long_caller = "def train(x):\n" + "    x = x + 1\n" * (SMALL_MODULE_LINES + 10) + "    return attend(x, 4)\n\n\n"
    source = HEADER + (
        "def heads(x, h):\n    b, t, c = x.shape\n    return x.reshape(b, t, h, c // h)\n\n\n"
        "def attend(x, h):\n"
        "    y = heads(x, h).transpose(1, 2)\n"
        "    return y.view(y.size(0), y.size(1), -1)\n\n\n"
    ) + long_caller
    assert both(source) == [12] == [raised_on(source, "train(torch.randn(2, 3, 8))")]


def test_a_small_module_gives_every_candidate_its_whole_closure() -> None:
    """AAGCN's demo hands a permuted batch to the model, and the model to the layer whose view
    merges channels and time; the chain of callers spans more than ``SCOPE_LINES``. In a module of
    at most ``SMALL_MODULE_LINES`` lines the whole chain is kept and the view is found; padded past
    that, the candidate is checked on its own facts (the prior) and stays silent: the budget holds
    for big files."""
    import ast

    from flake8_tensorview.preselect import SCOPE_LINES, SMALL_MODULE_LINES, preselect

    def module(padding: int) -> str:
        return HEADER + (
            "def flatten_time(x):\n"
            "    n, c, t, v = x.size()\n"
            "    return x.view(n, c * t, v)\n\n\n"
            "def layer(x):\n" + "    x = x * 1\n" * (SCOPE_LINES // 2) + "    return flatten_time(x)\n\n\n"
            "def model(x):\n" + "    x = x * 1\n" * (SCOPE_LINES // 2) + "    return layer(x)\n\n\n"
            "def demo(b):\n"
            "    return model(torch.randn(b, 4, 5, 3).permute(0, 3, 1, 2))\n"
            + "\n\nPADDING = 0\n" + "PADDING += 1\n" * padding
        )

    small = module(0)
    assert len(small.splitlines()) <= SMALL_MODULE_LINES
    assert both(small) == [7] == [raised_on(small, "demo(2)")]
    big = module(SMALL_MODULE_LINES)
    assert "demo" not in preselect(big, ast.parse(big)).scope
    assert both(big) == [] and raised_on(big, "demo(2)") == 7


def test_a_context_on_the_prior_does_not_outvote_a_call_whose_facts_make_the_view_run() -> None:
    """Longformer's ``_sliding_chunks_query_key_matmul``: called with queries laid out so that the
    merge runs, and with a tensor of unknown origin. The prior (contiguous, sizes >= 2) would make
    the second call raise; the module's own call says how the helper is used, and the fact wins.
    Called only with the unknown tensor, the prior stands."""
    helper = (
        "def chunks(query):\n"
        "    batch_size, seq_len, num_heads, head_dim = query.size()\n"
        "    return query.transpose(1, 2).view(batch_size * num_heads, seq_len, head_dim)\n\n\n"
    )
    both_calls = HEADER + helper + (
        "def forward(x, w, s, b, h, d, lib):\n"
        "    q = (x @ w).view(s, b, h, d).transpose(0, 1)\n"
        "    return chunks(q), chunks(lib.ones_like_mask(x))\n"
    )
    from types import SimpleNamespace

    import torch

    # as in Longformer: queries (s * b, c) @ (c, h * d), and a one-head mask tensor from elsewhere
    run = "forward(torch.randn(3 * 2, 8), torch.randn(8, 8), 3, 2, 4, 2, lib)"
    lib = SimpleNamespace(ones_like_mask=lambda x: torch.ones(2, 3, 1, 1))
    assert both(both_calls) == [] and raised_on(both_calls, run, lib=lib) is None
    unknown_only = both_calls.replace("chunks(q), ", "")
    contiguous = SimpleNamespace(ones_like_mask=lambda x: torch.ones(2, 3, 4, 2))  # the prior: sizes >= 2
    assert both(unknown_only) == [7] == [raised_on(unknown_only, run, lib=contiguous)]
    wrong_layout = both_calls.replace(".transpose(0, 1)", ".permute(1, 0, 2, 3).contiguous()")
    assert both(wrong_layout) == [7] == [raised_on(wrong_layout, run, lib=lib)]


MOBILEVIT_FOLDING = HEADER + (
    "def unfolding(features, p):\n"
    "    b, c, h, w = features.shape\n"
    "    nh, nw = h // p, w // p\n"
    "    patches = features.reshape(b * c * nh, p, nw, p).transpose(1, 2)\n"
    "    patches = patches.reshape(b, c, nh * nw, p * p).transpose(1, 3)\n"
    "    patches = patches.reshape(b * p * p, nh * nw, -1)\n"
    "    info = {\"batch_size\": b, \"channels\": c, \"num_patches\": nh * nw, \"nh\": nh, \"nw\": nw}\n"
    "    return patches, info\n\n\n"
    "def folding(patches, info, p):\n"
    "    area = int(p * p)\n"
    "    b, c = info[\"batch_size\"], info[\"channels\"]\n"
    "    x = patches.contiguous().view(b, area, info[\"num_patches\"], -1).transpose(1, 3)\n"
    "    return x.view(b * c * info[\"nh\"], info[\"nw\"], p, p)\n\n\n"
    "def forward(features, p):\n"
    "    patches, info = unfolding(features, p)\n"
    "    return folding(patches, info, p)\n\n\n"
)


def test_sizes_handed_over_in_a_dict_keep_their_facts() -> None:
    """MobileViT's ``unfolding`` returns the patch counts in an ``info_dict`` that ``folding`` reads
    back by key; ``int(p * p)`` stays the size ``p * p``. With those facts the second view merges
    batch and channels, which the transpose made non-adjacent."""
    run = "forward(torch.randn(2, 3, 4, 4), 2)"
    assert both(MOBILEVIT_FOLDING) == [19] == [raised_on(MOBILEVIT_FOLDING, run)]
    fixed = MOBILEVIT_FOLDING.replace("return x.view(", "return x.reshape(")
    assert both(fixed) == [] and raised_on(fixed, run) is None


def test_a_candidate_over_the_budget_keeps_its_one_caller_and_what_feeds_it() -> None:
    """``folding``'s closure goes over ``SCOPE_LINES`` through a long caller of ``forward``; ``forward``
    and ``unfolding``, whose results it hands to ``folding``, still fit: ``folding`` gets those
    results, not the prior. A caller that hands over only its own parameters is not kept (it would
    give the prior again, at the price of parsing it)."""
    import ast

    from flake8_tensorview.preselect import SMALL_MODULE_LINES, preselect

    long_caller = "def train(x):\n" + "    x = x + 1\n" * (SMALL_MODULE_LINES + 10) + "    return forward(x, 2)\n"
    source = MOBILEVIT_FOLDING + long_caller
    assert both(source) == [19] == [raised_on(source, "train(torch.randn(2, 3, 4, 4))")]
    assert {"forward", "unfolding"} <= preselect(source, ast.parse(source)).scope
    direct = source.replace("    patches, info = unfolding(features, p)\n", "").replace(
        "def forward(features, p):", "def forward(patches, info, p):").replace("forward(x, 2)", "forward(x, {}, 2)")
    assert "forward" not in preselect(direct, ast.parse(direct)).scope


def test_a_candidate_over_the_budget_keeps_its_one_caller_when_the_caller_makes_what_it_hands_over() -> None:
    """TGI's GPT-NeoX attention: ``forward`` permutes and splits the fused QKV projection and hands
    the heads to ``_attn``, which merges batch and heads; ``_attn``'s callers go over ``SCOPE_LINES``
    through a long caller of ``forward`` (its own ``expand`` makes it a candidate, checked on its own
    facts with the helpers it has). No function of the module feeds ``_attn``, but a producer
    of ``forward``'s own reaches what it passes: ``forward`` is kept, and the heads are not the prior."""
    import ast

    from flake8_tensorview.preselect import SMALL_MODULE_LINES, preselect

    source = HEADER + (
        "def attn(query, h):\n"
        "    b, heads, t, d = query.size()\n"
        "    query = query.view(b * heads, t, d)\n"
        "    scores = torch.zeros(1).expand(b * heads, t, t)\n"  # a producer of its own: a candidate
        "    return scores.view(b, heads, t, t), query\n\n\n"
        "def forward(x, h, d):\n"
        "    qkv = x.view(x.size(0), x.size(1), h, 3 * d).permute(0, 2, 1, 3)\n"
        "    query, key, value = qkv.split(d, -1)\n"
        "    return attn(query, h)\n\n\n"
        "def train(x):\n" + "    x = x + 1\n" * (SMALL_MODULE_LINES + 10) + "    return forward(x, 2, 4)\n"
    )
    run = "train(torch.randn(2, 3, 2 * 3 * 4))"
    assert both(source) == [7] == [raised_on(source, run)]
    assert "forward" in preselect(source, ast.parse(source)).scope
    made_contiguous = source.replace(".permute(0, 2, 1, 3)", ".permute(0, 2, 1, 3).contiguous()")
    assert both(made_contiguous) == [] and raised_on(made_contiguous, run) is None


def test_len_of_a_known_shape_decides_a_rank_branch() -> None:
    """GPT-J's ``_merge_heads`` branches on ``len(tensor.shape)``: called with a 4-D tensor, only the
    4-D branch (a permute without ``.contiguous()``) reaches the view."""
    source = HEADER + (
        "def merge_heads(tensor, num_attention_heads, attn_head_size):\n"
        "    if len(tensor.shape) == 5:\n"
        "        tensor = tensor.permute(0, 1, 3, 2, 4).contiguous()\n"
        "    elif len(tensor.shape) == 4:\n"
        "        tensor = tensor.permute(0, 2, 1, 3)\n"
        "    new_shape = tensor.size()[:-2] + (num_attention_heads * attn_head_size,)\n"
        "    return tensor.view(new_shape)\n\n\n"
        "def attend(q, v, h, d):\n"
        "    probs = torch.matmul(q, q.transpose(-1, -2)).softmax(-1)\n"
        "    return merge_heads(torch.matmul(probs, v), h, d)\n\n\n"
        "def run():\n"
        "    return attend(torch.randn(2, 3, 4, 5), torch.randn(2, 3, 4, 5), 3, 5)\n"
    )
    assert both(source) == [11] == [raised_on(source, "run()")]
    fixed = source.replace("(0, 2, 1, 3)", "(0, 2, 1, 3).contiguous()")
    assert both(fixed) == [] and raised_on(fixed, "run()") is None


def test_a_parameter_rebound_on_one_path_joins_the_prior_on_the_other() -> None:
    """The Lovász loss's ``flatten_probas``: a 3-D input is viewed as (B, 1, H, W), a 4-D one is
    taken as it comes. After the ``if`` the tensor is either: the 4-D path keeps the prior, so the
    flatten after ``permute`` raises there (for C >= 2) though it runs on the 3-D path."""
    source = HEADER + (
        "def flatten_probas(probas):\n"
        "    if probas.dim() == 3:\n"
        "        B, H, W = probas.size()\n"
        "        probas = probas.view(B, 1, H, W)\n"
        "    B, C, H, W = probas.size()\n"
        "    return probas.permute(0, 2, 3, 1).view(-1, C)\n"
    )
    assert both(source) == [10]
    assert raised_on(source, "flatten_probas(torch.randn(2, 3, 5, 5))") == 10
    assert raised_on(source, "flatten_probas(torch.randn(2, 5, 5))") is None


def test_an_order_comparison_of_constants_decides_a_branch() -> None:
    """``C > 1`` with ``C=3`` passed: only the 4-D tensor reaches the view, which raises."""
    source = HEADER + (
        "def flatten(probas, C):\n"
        "    B, C, H, W = probas.size()\n"
        "    return probas.permute(0, 2, 3, 1).view(-1, C)\n\n\n"
        "def run(C):\n"
        "    x = torch.randn(2, C, 5, 5) if C > 1 else torch.randn(2, 5, 5)\n"
        "    return flatten(x.softmax(1) if C > 1 else x.sigmoid().unsqueeze(1), C)\n\n\n"
        "def main():\n"
        "    return run(3)\n"
    )
    assert both(source) == [7] == [raised_on(source, "main()")]
    assert both(source.replace("run(3)", "run(1)")) == []
    assert raised_on(source, "run(1)") is None


def test_a_matmul_of_batch_sizes_that_do_not_compare_keeps_its_rank() -> None:
    """BROS's relation scores: ``matmul`` of a (r, t, b, d) and a (r, s, d, b') operand whose batch
    sizes are different names still gives a dense 4-D tensor, whose ``squeeze(0)`` has rank 3: a
    mask of rank 3 with one leading None then broadcasts anyway (TV201)."""
    source = HEADER + (
        "def scores(q, k):\n"
        "    return torch.matmul(q.permute(2, 1, 0, 3), k.permute(2, 1, 3, 0))\n\n\n"
        "def fill(q, k, t, s):\n"
        "    logits = scores(q, k).squeeze(0)\n"
        "    eye = torch.eye(t, s, dtype=torch.bool)\n"
        "    return logits.masked_fill(eye[None, :, :], -1.0)\n"
    )
    [finding] = [d for d in lint_source(source) if d.code == "TV201"]  # q and k: the prior
    assert finding.line == 12
    import torch

    namespace: dict[str, object] = {}
    exec(compile(source, "<case>", "exec"), namespace)
    stripped: dict[str, object] = {}
    exec(compile(source.replace("eye[None, :, :]", "eye"), "<case>", "exec"), stripped)
    b, t, s = 2, 3, 5
    q, k = torch.randn(t, b, 1, 5), torch.randn(s, b, 1, 5)
    assert torch.equal(namespace["fill"](q, k, t, s), stripped["fill"](q, k, t, s))  # type: ignore[operator]


def test_super_init_leaves_the_bases_state_and_a_staticmethod_takes_no_self() -> None:
    """IBM seq2seq's ``BaseRNN`` builds the layers its subclass's ``forward`` runs, reached through
    ``super().__init__(...)``; kbqa's static ``pack_seq`` is called as ``self.pack_seq(out)``. Both
    views merge the batch and time dims of a ``batch_first`` GRU output."""
    source = HEADER + (
        "class Base(nn.Module):\n"
        "    def __init__(self, hidden):\n"
        "        super().__init__()\n"
        "        self.rnn = nn.GRU(hidden, hidden, batch_first=True)\n"
        "        self.drop = nn.Dropout(0.1)\n\n\n"
        "class Child(Base):\n"
        "    def __init__(self, hidden):\n"
        "        super().__init__(hidden)\n"
        "        self.hidden = hidden\n\n"
        "    def forward(self, x):\n"
        "        out, _ = self.rnn(self.drop(x))\n"
        "        return out.view(-1, self.hidden)\n\n"
        "    @staticmethod\n"
        "    def flat(t):\n"
        "        return t.view(-1, t.size(-1))\n\n"
        "    def packed(self, x):\n"
        "        out, _ = self.rnn(x)\n"
        "        return self.flat(out)\n"
    )
    assert both(source) == [19, 23]
    assert raised_on(source, "Child(4)(torch.randn(2, 3, 4))") == 19
    assert raised_on(source, "Child(4).packed(torch.randn(2, 3, 4))") == 23


def test_two_tensors_permuted_alike_give_their_layout_to_the_sum() -> None:
    """DecoupleGCN's ``DropBlockT_1d`` returns a permute that ``forward`` adds to another: sizes that
    only their names tell apart are equal where the sum runs, and the sum is laid out as both
    operands are, so the flatten after it raises."""
    source = HEADER + (
        "def merge(x, y):\n"
        "    a = x.permute(0, 2, 1)\n"
        "    b = y.permute(0, 2, 1)\n"
        "    return (a + b).view(-1)\n"
    )
    assert both(source) == [8]
    assert raised_on(source, "merge(torch.randn(2, 3, 4), torch.randn(2, 3, 4))") == 8
    fixed = source.replace("(a + b).view(-1)", "(a + b.contiguous()).view(-1)")
    assert raised_on(fixed, "merge(torch.randn(2, 3, 4), torch.randn(2, 3, 4))") == 8  # the first operand leads


def test_a_library_class_or_function_named_as_a_value_is_called_where_it_is_called() -> None:
    """IBM pytorch-seq2seq builds its RNN as ``getattr(nn, rnn_cell.upper())(..., batch_first=True)``;
    timm passes ``act_layer=nn.GELU``. Named without being called, the class is still the table's
    row when the call comes, through a default, an attribute, ``getattr`` or a function value."""
    source = HEADER + (
        "class Encoder(nn.Module):\n"
        "    def __init__(self, d, cell=nn.GRU, kind='gru', act=torch.tanh):\n"
        "        super().__init__()\n"
        "        self.by_default = cell(d, d, batch_first=True)\n"
        "        self.by_name = getattr(nn, kind.upper())(d, d, batch_first=True)\n"
        "        self.act = act\n\n"
        "    def forward(self, x):\n"
        "        n, t, f = x.shape\n"
        "        a, _ = self.by_default(x)\n"
        "        b, _ = self.by_name(x)\n"
        "        c = self.act(x.transpose(0, 1))\n"
        "        return a.view(-1, a.size(2)), b.view(-1, b.size(2)), c.view(-1)\n\n\n"
        "def run(d, x):\n"
        "    return Encoder(d)(x)\n"
    )
    assert both(source) == [17, 17, 17]
    run = "run(4, torch.randn(2, 3, 4))"
    assert raised_on(source, run) == 17
    for fixed in (
        source.replace("a.view(", "a.reshape(").replace("c.view(", "c.reshape("),  # b alone still raises
        source.replace("a.view(", "a.reshape(").replace("b.view(", "b.reshape("),  # c alone still raises
    ):
        assert raised_on(fixed, run) == 17
    # the same classes, laid out time-major, or a class the tables know to keep the layout
    contiguous = source.replace("cell(d, d, batch_first=True)", "cell(d, d)").replace(
        "getattr(nn, kind.upper())(d, d, batch_first=True)", "getattr(nn, 'Linear')(d, d)"
    ).replace("c = self.act(x.transpose(0, 1))", "c = self.act(x)").replace("b, _ = self.by_name(x)", "b = self.by_name(x)")
    assert both(contiguous) == []
    assert raised_on(contiguous, run) is None


def test_zip_of_rows_gives_their_columns_and_cat_of_a_column_keeps_its_rank() -> None:
    """sgan's ``seq_collate``: a batch of (obs, pred) pairs, transposed by ``zip(*data)``, each
    column concatenated and permuted; ``torch.is_tensor`` of an op's result decides its test."""
    source = HEADER + (
        "def collate(data):\n"
        "    obs, pred = zip(*data)\n"
        "    return torch.cat(obs, dim=0).permute(2, 0, 1)\n\n\n"
        "def load(a):\n"
        "    return torch.from_numpy(a) if not torch.is_tensor(a) else a\n\n\n"
        "def run():\n"
        "    data = [(load(torch.randn(3, 2, 8)), torch.randn(3, 2, 12)) for _ in range(2)]\n"
        "    return collate(data).view(-1, 2)\n"
    )
    assert both(source) == [16]
    assert raised_on(source, "run()") == 16
    assert both(source.replace("if not torch.is_tensor(a)", "if not isinstance(a, int)")) == []  # undecided: a join


def test_a_list_repeated_is_a_list_and_never_a_size() -> None:
    """MONAI's ``[kernel_size] * spatial_dims``: ``torch.ones`` of it has ``spatial_dims`` dims (one
    per item), not one dim of that product."""
    from flake8_tensorview.linter import analyze

    program = "import torch\nk = torch.ones([3] * dims)\nj = torch.ones([3] * 2)\n"
    result = analyze(program, whole=True)
    assert result is not None
    facts = result[0].module_env.vars
    assert facts["k"].shape is None and facts["k"].contiguous  # type: ignore[union-attr]
    assert [d.literal for d in facts["j"].shape] == [3, 3]  # type: ignore[union-attr]
    import torch

    assert list(torch.ones([3] * 2).shape) == [3, 3]
    assert torch.ones([3] * 3).dim() == 3  # the one dim the old reading gave is wrong for any dims != 1


def test_a_fill_over_the_budget_keeps_the_submodules_its_init_builds() -> None:
    """DeepSeek-V4's indexer: ``forward``'s closure goes over the mask budget through what its
    ``__init__`` builds, so it is checked on its own facts; the scorer module that ``__init__``
    stores still gives ``self.scorer(q)`` its rank, which the out-of-place fill needs to know the
    leading ``[None, None]`` is redundant."""
    import ast

    from flake8_tensorview.preselect import MASK_SCOPE_LINES, SMALL_MODULE_LINES, preselect

    source = HEADER + (
        "class Scorer(nn.Module):\n"
        "    def forward(self, q):\n"
        "        return q @ q.transpose(-1, -2)\n\n\n"
        "class Big(nn.Module):\n"
        "    def forward(self, x):\n" + "        x = x + 1\n" * (max(MASK_SCOPE_LINES, SMALL_MODULE_LINES) + 10) + "        return x\n\n\n"
        "class Indexer(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.scorer = Scorer()\n"
        "        self.big = Big()\n\n"
        "    def forward(self, q, keep):\n"
        "        b, h, t, d = q.shape\n"
        "        t_q, t_k = keep.shape\n"
        "        scores = self.scorer(q)\n"
        "        return scores.masked_fill(keep[None, None], 0.0)\n"
    )
    findings = [(d.line, d.code) for d in lint_source(source)]
    fill = source.count("\n", 0, source.index("keep[None, None]")) + 1
    assert findings == [(fill, "TV201")] == [(d.line, d.code) for d in lint_source(source, whole=True)]
    assert {"Indexer.__init__", "Scorer.forward"} <= preselect(source, ast.parse(source)).scope
    import torch

    namespace: dict[str, object] = {}
    exec(compile(source, "<indexer>", "exec"), namespace)
    q, keep = torch.randn(2, 3, 4, 5), torch.rand(4, 4) > 0.5
    indexer = namespace["Indexer"]()
    stripped = source.replace("keep[None, None]", "keep")
    exec(compile(stripped, "<indexer>", "exec"), namespace)
    assert torch.equal(indexer(q, keep), namespace["Indexer"]()(q, keep))


def test_a_path_that_returns_goes_on_nowhere() -> None:
    """piqa's test images: ``if hwc: return x.permute(0, 3, 1, 2)`` then ``return x``. With ``hwc``
    passed as True only the permuted batch comes back (the last ``return`` is not reached), and
    after an ``if`` whose branch returns, the rest sees only the path that did not."""
    source = HEADER + (
        "def images(b, hwc):\n"
        "    if hwc:\n"
        "        return torch.rand(b, 6, 5, 3).permute(0, 3, 1, 2)\n"
        "    return torch.rand(b, 3, 6, 5)\n\n\n"
        "def mse(x, y):\n"
        "    return ((x - y) ** 2).view(x.size(0), -1)\n\n\n"
        "def guarded(x):\n"
        "    b, t, c = x.shape\n"
        "    y = x.transpose(1, 2)\n"
        "    if t == c:\n"
        "        y = y.contiguous()\n"
        "        return y.view(-1)\n"
        "    return y.view(-1)\n\n\n"
        "def run_hwc():\n"
        "    return mse(images(2, True), images(2, False))\n"
    )
    assert both(source) == [12, 21]
    assert raised_on(source, "run_hwc()") == 12
    assert raised_on(source, "guarded(torch.randn(2, 3, 4))") == 21
    assert raised_on(source, "guarded(torch.randn(2, 3, 3))") is None
    nchw = source.replace("images(2, True)", "images(2, False)")
    assert both(nchw) == [21]
    assert raised_on(nchw, "run_hwc()") is None


AUTOGRAD_DENSE_TO_SPARSE = HEADER + (
    "class DenseToSparseFunction(torch.autograd.Function):\n"
    "    @staticmethod\n"
    "    def forward(ctx, input, dimension):\n"
    "        aa = input.permute(*([0, ] + list(range(2, 2 + dimension)) + [1, ])).clone()\n"
    "        return aa.view(-1, input.size(1))\n\n"
    "    @staticmethod\n"
    "    def backward(ctx, grad_output):\n"
    "        return grad_output, None\n\n\n"
    "class DenseToSparse(nn.Module):\n"
    "    def __init__(self, dimension):\n"
    "        super().__init__()\n"
    "        self.dimension = dimension\n\n"
    "    def forward(self, input):\n"
    "        return DenseToSparseFunction.apply(input, self.dimension)\n\n\n"
    "def run(dimension):\n"
    "    return DenseToSparse(dimension)(torch.randn(2, 3, *[4] * dimension))\n\n\n"
    "def demo():\n"
    "    return run(2)\n"
)


def test_a_custom_autograd_functions_apply_runs_its_forward() -> None:
    """SparseConvNet's ``DenseToSparse`` (issue #220): ``Fn.apply(x, d)`` runs the static
    ``forward(ctx, x, d)`` of a ``torch.autograd.Function`` with the arguments' facts, and
    ``list(range(2, 2 + d))`` with ``d`` known is the dims to permute by. ``clone`` keeps the
    permuted strides, so the view that merges the spatial dims with the batch raises."""
    assert both(AUTOGRAD_DENSE_TO_SPARSE) == [9] == [raised_on(AUTOGRAD_DENSE_TO_SPARSE, "demo()")]
    fixed = AUTOGRAD_DENSE_TO_SPARSE.replace(".clone()", ".contiguous()")
    assert both(fixed) == [] and raised_on(fixed, "demo()") is None


APPENDED = HEADER + (
    "def per_sample_keys(keys, b):\n"
    "    cached = []\n"
    "    for i in range(b):\n"
    "        cached.append(keys[i:i + 1])\n"
    "    return torch.cat(cached, dim=0)\n\n\n"
    "def attend(x, h):\n"
    "    b, t, c = x.shape\n"
    "    q = x.view(b, t, h, c // h).transpose(1, 2)\n"
    "    k = per_sample_keys(q, b)\n"
    "    scores = q @ k.transpose(2, 3)\n"
    "    causal = torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=1)\n"
    "    return scores.masked_fill(causal[None, None, :, :], float('-inf'))\n\n\n"
    "def last_step(x):\n"
    "    b, t = x.shape\n"
    "    steps = []\n"
    "    for _ in range(3):\n"
    "        x = torch.tanh(x)\n"
    "        steps.append(x.transpose(0, 1))\n"
    "    return torch.stack(steps).view(3, -1), steps[-1].view(-1)\n"
)


def test_a_list_grown_by_append_holds_what_went_in() -> None:
    """LLMs-from-scratch's batched KV cache appends each sample's keys to a list and concatenates
    it: the keys keep their rank, so the scores they make have one, and the mask's two leading
    Nones are redundant (TV201). An item read back from the list keeps its layout (the transposed
    step's ``view`` raises), and what ``torch.stack`` makes of the list is dense (its view runs)."""
    import torch

    findings = [(d.line, d.code) for d in lint_source(APPENDED)]
    assert findings == [(18, "TV201"), (27, "TV101")]
    assert [(d.line, d.code) for d in lint_source(APPENDED, whole=True)] == findings
    namespace: dict[str, object] = {}
    exec(compile(APPENDED, "<appended>", "exec"), namespace)
    x = torch.randn(2, 3, 8)
    unfilled = APPENDED.replace("causal[None, None, :, :]", "causal")
    other: dict[str, object] = {}
    exec(compile(unfilled, "<appended>", "exec"), other)
    assert torch.equal(namespace["attend"](x, 2), other["attend"](x, 2))  # type: ignore[operator]
    assert raised_on(APPENDED, "last_step(torch.randn(2, 4))") == 27
    assert raised_on(APPENDED.replace("steps[-1].view", "steps[-1].reshape"), "last_step(torch.randn(2, 4))") is None


GROWN_MODULES = HEADER + (
    "class Unit(nn.Module):\n"
    "    def __init__(self, c, inter, subsets):\n"
    "        super().__init__()\n"
    "        self.subsets = subsets\n"
    "        self.inter = inter\n"
    "        self.convs = nn.ModuleList([nn.Conv2d(c, inter, 3, padding=1)])\n"
    "        for _ in range(subsets - 1):\n"
    "            self.convs.append(nn.Conv2d(inter, inter, 1))\n"
    "        self._init_branches(c)\n\n"
    "    def _init_branches(self, c):\n"
    "        self.branches = nn.ModuleList()\n"
    "        for _ in range(self.subsets):\n"
    "            self.branches.append(nn.Conv2d(c, self.inter, 1))\n\n"
    "    def forward(self, x):\n"
    "        n, c, t, v = x.size()\n"
    "        y = self.convs[0](x)\n"
    "        for i in range(1, self.subsets):\n"
    "            y = self.convs[i](y)\n"
    "        for i in range(self.subsets):\n"
    "            z = self.branches[i](x).view(n, self.inter * t, v)\n"
    "        return y.view(n, -1), z\n\n\n"
    "def demo(x):\n"
    "    return Unit(3, 4, 2)(x.to(memory_format=torch.channels_last))\n"
)


GROWN_ATTRIBUTE = HEADER + (
    "class Steps(nn.Module):\n"
    "    def forward(self, x):\n"
    "        b, t = x.shape\n"
    "        self.steps = []\n"
    "        self.steps.append(x.transpose(0, 1))\n"
    "        return self.steps[0].view(-1)\n"
)


def test_a_module_list_grown_by_append_holds_its_modules() -> None:
    """AAGCN builds its 1x1 convs into ``nn.ModuleList()``s with ``append`` in a helper that
    ``__init__`` calls; DrQ's encoder starts its list with the first conv and appends the rest. An
    item read back (``self.branches[i]``) is one of the convs that went in, so a channels_last input
    gives a channels_last output, and merging its channels with its rows raises. torch confirms
    both views; with a contiguous input both run, and nothing is reported."""
    import torch

    findings = [(d.line, d.code) for d in lint_source(GROWN_MODULES)]
    assert findings == [(26, "TV101"), (27, "TV101")]
    assert [(d.line, d.code) for d in lint_source(GROWN_MODULES, whole=True)] == findings
    x = torch.randn(2, 3, 5, 6)
    assert raised_on(GROWN_MODULES, "demo(x)", x=x) == 26
    reshaped = GROWN_MODULES.replace("view(n, self.inter * t, v)", "reshape(n, self.inter * t, v)")
    assert raised_on(reshaped, "demo(x)", x=x) == 27
    contiguous = GROWN_MODULES.replace("(x.to(memory_format=torch.channels_last))", "(x)")
    assert raised_on(contiguous, "demo(x)", x=x) is None
    assert both(contiguous) == []
    # the preselection follows ``self.steps.append(...)`` as a binding of ``self.steps`` too
    assert [(d.line, d.code) for d in lint_source(GROWN_ATTRIBUTE)] == [(10, "TV101")]
    assert lines(GROWN_ATTRIBUTE, whole=True) == [10]
    assert raised_on(GROWN_ATTRIBUTE, "Steps()(torch.randn(2, 3))") == 10


CAPSULES = HEADER + (
    "def route(u_hat, squash):\n"
    "    s = u_hat.sum(dim=2, keepdim=True)\n"
    "    return squash(s)\n\n\n"
    "class DigitCaps(nn.Module):\n"
    "    def squash(self, s):\n"
    "        norm = (s ** 2).sum(dim=-1, keepdim=True)\n"
    "        return norm / (1 + norm) * s / torch.sqrt(norm)\n\n"
    "    def forward(self, u_hat):\n"
    "        return route(u_hat, self.squash)\n\n\n"
    "def decode(caps, u_hat):\n"
    "    x = caps(u_hat).squeeze().transpose(0, 1)\n"
    "    return x.view(x.size(0), -1)\n\n\n"
    "def run(batch):\n"
    "    return decode(DigitCaps(), torch.randn(10, batch, 6, 1, 16))\n"
)


def test_a_bound_method_passed_as_a_value_runs_where_it_is_called() -> None:
    """capsule-net's ``dynamic_routing(b_ij, u_hat, self.squash)``: ``self.squash`` taken without a
    call is the method bound to that ``self``. Its product of ``(10, b, 1, 1, 1)`` and
    ``(10, b, 1, 1, 16)`` keepdim results keeps every dim in place (both are contiguous on every dim,
    size-1 dims included), so the squeezed capsules transposed to ``(b, 10, 16)`` do not flatten
    for two images or more."""
    assert both(CAPSULES) == [21]
    scope: dict[str, object] = {}
    exec(CAPSULES, scope)
    assert scope["run"](1).shape == (16, 10)  # one image: squeeze() takes its dim too, and the view runs
    with pytest.raises(RuntimeError, match="view size is not compatible"):
        scope["run"](2)  # type: ignore[operator]
    kept = CAPSULES.replace(".squeeze().transpose(0, 1)", ".squeeze()")
    assert both(kept) == []  # (10, b, 16) as the product laid it out: the view runs
    scope = {}
    exec(kept, scope)
    assert scope["run"](2).shape == (10, 2 * 16)  # type: ignore[operator]


STORED = HEADER + (
    "_RECORDINGS = {}\n\n\n"
    "def load(path):\n"
    "    data, rate = _RECORDINGS[path]\n"
    "    return data.t(), rate\n\n\n"
    "def flat(path):\n"
    "    x, rate = load(path)\n"
    "    return x.view(-1)\n\n\n"
    "def record(path, channels):\n"
    "    _RECORDINGS[path] = (torch.randn(100, channels), 24000)\n"
)


def test_a_module_level_dict_a_function_fills_gives_its_reads_what_was_stored() -> None:
    """DeepAFx-ST's stand-in for torchaudio: ``record`` stores ``(frames, channels)`` recordings in a
    module-level dict, ``load`` reads one back and returns it ``.t()``; a stereo one does not
    flatten. ``flat`` is evaluated before ``record`` (nothing calls either), so its first read
    finds the dict empty: the module is interpreted again with the stores, and the reads see them."""
    assert both(STORED) == [15]
    scope: dict[str, object] = {}
    exec(STORED, scope)
    scope["record"]("mono.wav", 1)  # type: ignore[operator]
    scope["record"]("stereo.wav", 2)  # type: ignore[operator]
    assert scope["flat"]("mono.wav").shape == (100,)  # type: ignore[operator]
    with pytest.raises(RuntimeError, match="view size is not compatible"):
        scope["flat"]("stereo.wav")  # type: ignore[operator]
    assert both(STORED.replace("data.t(), rate", "data, rate")) == []  # (frames, channels) flattens
    assert both(STORED.replace("_RECORDINGS = {}", "_RECORDINGS = load_all()")) == []  # not a dict the module made


SEQUENTIAL_BLOCK = HEADER + (
    "class Conv2dReLU(nn.Sequential):\n"
    "    def __init__(self, in_channels, out_channels):\n"
    "        conv = nn.Conv2d(in_channels, out_channels, 1, bias=False)\n"
    "        super().__init__(conv, nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))\n\n\n"
    "class Head(nn.Module):\n"
    "    def __init__(self, c):\n"
    "        super().__init__()\n"
    "        self.fuse = Conv2dReLU(2 * c, c)\n\n"
    "    def forward(self, a, b):\n"
    "        y = self.fuse(torch.cat([a, b], dim=1))\n"
    "        return y.view(y.size(0), -1)\n\n\n"
    "def run(n):\n"
    "    x = torch.randn(n, 4, 5, 6).contiguous(memory_format=torch.channels_last)\n"
    "    return Head(4)(x, x)\n"
)


def test_a_subclass_of_sequential_runs_the_modules_its_init_hands_to_super() -> None:
    """segmentation_models' ``Conv2dReLU(nn.Sequential)``: ``super().__init__(conv, norm, relu)``
    gives the instance its children, and calling it runs them in order; here on a channels-last
    batch, which the conv keeps, so flattening C with H and W does not work."""
    assert both(SEQUENTIAL_BLOCK) == [18]
    scope: dict[str, object] = {}
    exec(SEQUENTIAL_BLOCK, scope)
    with pytest.raises(RuntimeError, match="view size is not compatible"):
        scope["run"](2)  # type: ignore[operator]
    plain = SEQUENTIAL_BLOCK.replace(".contiguous(memory_format=torch.channels_last)", "")
    assert both(plain) == []
    scope = {}
    exec(plain, scope)
    assert scope["run"](2).shape == (2, 4 * 5 * 6)  # type: ignore[operator]


PARTIAL_ATTENTION = (
    "from dataclasses import dataclass\nfrom functools import partial\nfrom typing import Callable\n\n"
    + HEADER
    + "ACTIVATIONS = {'relu': torch.relu}\n\n\n"
    "def einsum_attn(q, k, v, activation):\n"
    "    w = ACTIVATIONS[activation](torch.einsum('bqhd,bkhd->bhqk', q, k))\n"
    "    return torch.einsum('bhqk,bkhd->bqhd', w, v)\n\n\n"
    "def sdpa_attn(q, k, v):\n"
    "    return torch.nn.functional.scaled_dot_product_attention(\n"
    "        q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)).transpose(1, 2).contiguous()\n\n\n"
    "@dataclass\n"
    "class Params:\n"
    "    heads: int = 2\n"
    "    attn_func: Callable = sdpa_attn\n\n\n"
    "class Attention(nn.Module):\n"
    "    def __init__(self, args: Params):\n"
    "        super().__init__()\n"
    "        self.attn_fn = args.attn_func\n\n"
    "    def forward(self, q, k, v):\n"
    "        b, t, h, d = q.shape\n"
    "        return self.attn_fn(q, k, v).view(b, t, -1)\n\n\n"
    "def run(func):\n"
    "    q = torch.randn(2, 5, 3, 4)\n"
    "    return Attention(Params(heads=3, attn_func=func))(q, q, q)\n\n\n"
    "def main():\n"
    "    return run(sdpa_attn), run(partial(einsum_attn, activation='relu'))\n"
)


def test_a_partial_held_in_a_dataclass_field_runs_where_the_field_is_called() -> None:
    """open_lm's ``Params(attn_func=partial(custom_attn, ...))``: the dataclass's generated
    ``__init__`` binds the field, ``functools.partial`` calls the function with its arguments
    bound, and the einsum's output is ``(b, q, h, d)`` laid out ``(b, h, q, d)`` even though its
    first operand comes from a dict of activations the model cannot read: ``bmm`` decides the order."""
    assert both(PARTIAL_ATTENTION) == [35]
    scope: dict[str, object] = {}
    exec(PARTIAL_ATTENTION, scope)
    assert scope["run"](scope["sdpa_attn"]).shape == (2, 5, 12)  # type: ignore[operator]
    with pytest.raises(RuntimeError, match="view size is not compatible"):
        scope["main"]()  # type: ignore[operator]
    assert both(PARTIAL_ATTENTION.replace("run(partial(einsum_attn, activation='relu'))", "run(sdpa_attn)")) == []


DECODE_FORCED = HEADER + (
    "def decode_forced(ys, start):\n"
    "    seqlen = ys.size(1)\n"
    "    inputs = torch.cat([start.expand(ys.size(0), 1), ys.narrow(1, 0, seqlen - 1)], 1)\n"
    "    logits = inputs[..., None].float().expand(-1, -1, 7) * 1.0\n"
    "    if logits.size(1) != ys.size(1) - 1:\n"
    "        logits = logits[:, 1:, :]\n"
    "    return logits\n\n\n"
    "def loss(ys):\n"
    "    scores = decode_forced(ys, torch.ones(1, 1, dtype=torch.long))\n"
    "    return scores.view(-1, scores.size(-1))\n\n\n"
    "def main():\n"
    "    return loss(torch.randint(0, 9, (3, 5)))\n"
)


def test_sizes_a_call_gives_add_up_and_decide_a_comparison() -> None:
    """ParlAI's BART ``decode_forced``: ``seqlen - 1`` of a literal 5 is 4, the decoder input is 1 + 4
    long, so ``logits.size(1) != ys.size(1) - 1`` is true and the logits are sliced ``[:, 1:, :]``,
    which ``view(-1, vocab)`` cannot flatten (the slice skips a row of every batch)."""
    assert both(DECODE_FORCED) == [16]
    scope: dict[str, object] = {}
    exec(DECODE_FORCED, scope)
    with pytest.raises(RuntimeError, match="view size is not compatible"):
        scope["main"]()  # type: ignore[operator]
    unsliced = DECODE_FORCED.replace("ys.size(1) - 1:", "ys.size(1):")
    assert both(unsliced) == []  # 5 == 5: no slice, and the sum is contiguous
    scope = {}
    exec(unsliced, scope)
    assert scope["main"]().shape == (15, 7)  # type: ignore[operator]


OVERRIDDEN_OUTPUT = (
    "import torch.nn.functional as F\n" + HEADER
    + "class Base(nn.Module):\n"
    "    def __init__(self):\n"
    "        super().__init__()\n"
    "        self.emb = nn.Embedding(10, 4)\n"
    "        self.register_buffer('START', torch.LongTensor([1]))\n\n"
    "    def output(self, h):\n"
    "        return F.linear(h, self.emb.weight)\n\n"
    "    def decode(self, ys):\n"
    "        inputs = torch.cat([self.START.expand(ys.size(0), 1), ys], 1)\n"
    "        return self.output(self.emb(inputs))\n\n\n"
    "class Sliced(Base):\n"
    "    def output(self, h):\n"
    "        return F.linear(h, self.emb.weight)[:, 1:, :]\n\n"
    "    def decode(self, ys):\n"
    "        return super().decode(ys)\n\n\n"
    "def loss(model, ys):\n"
    "    scores = model.decode(ys)\n"
    "    return scores.view(-1, scores.size(-1))\n\n\n"
    "def main():\n"
    "    return loss(Base(), torch.randint(0, 10, (3, 5))), loss(Sliced(), torch.randint(0, 10, (3, 5)))\n"
)


def test_a_base_method_called_through_super_dispatches_on_the_subclass() -> None:
    """ParlAI's BART: ``BartModel.decode_forced`` calls ``super().decode_forced``, whose
    ``self.output(latent)`` is BART's own ``output``, not the base's. A typed constructor
    (``torch.LongTensor([start_idx])``) has the rank of its list, and ``F.linear`` of a weight with
    no facts (``self.emb.weight``) a size of its own: the logits sliced ``[:, 1:, :]`` do not flatten."""
    assert both(OVERRIDDEN_OUTPUT) == [30]
    scope: dict[str, object] = {}
    exec(OVERRIDDEN_OUTPUT, scope)
    ys = torch.randint(0, 10, (3, 5))
    assert scope["loss"](scope["Base"](), ys).shape == (18, 10)  # type: ignore[operator]
    with pytest.raises(RuntimeError, match="view size is not compatible"):
        scope["main"]()  # type: ignore[operator]
    assert both(OVERRIDDEN_OUTPUT.replace("loss(Sliced(), ", "loss(Base(), ")) == []
