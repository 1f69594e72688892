"""Memory layout of `F.scaled_dot_product_attention`'s output, per backend (the facts behind TV102).

Each test states one fact the linter relies on; docs/sdpa.md has the rule and the ATen sources.
CPU facts run the real kernels (flash-for-CPU and math). CUDA facts (flash, mem-efficient, cuDNN)
cannot run here: they are checked against torch's own meta kernels in `torch/_meta_registrations.py`,
which mirror the CUDA allocations (`empty_like(q)`, `empty(B, M, H, Kv).transpose(1, 2)`,
`alloc_with_matching_layout(q, ...)`) so that torch.compile sees the eager strides.

Sizes are >= 2 and pairwise distinct (b=2, t=5, h=3, d=4), so no size-1 dim hides a broken merge;
the one exception is `test_math_merge_heads_view_works_only_when_t_or_h_is_one`, which is about it.
"""

from __future__ import annotations

import contextlib
import itertools
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

B, T, H, D = 2, 5, 3, 4
aten = torch.ops.aten

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


# --- building q, k, v the ways models do ------------------------------------------------------


def make_qkv(layout="nanogpt", *, b=B, t=T, h=H, d=D, dtype=torch.float32, h_kv=None, requires_grad=False):
    """q, k, v of logical shape (b, h, t, d) whose memory order is `layout`."""
    h_kv = h if h_kv is None else h_kv

    def fresh(heads, *order):
        # a dense tensor stored in `order` (a permutation of "bhtd"), viewed as (b, h, t, d)
        sizes = {"b": b, "h": heads, "t": t, "d": d}
        x = torch.randn(*(sizes[c] for c in order), dtype=dtype)
        return x.permute(*(order.index(c) for c in "bhtd"))

    if layout == "nanogpt":  # c_attn(x).split(n_embd, dim=2); .view(b, t, h, d).transpose(1, 2)
        if h_kv != h:
            raise ValueError("nanogpt layout has h_kv == h")
        qkv = torch.randn(b, t, 3 * h * d, dtype=dtype)
        q, k, v = (z.view(b, t, h, d).transpose(1, 2) for z in qkv.split(h * d, dim=2))
    elif layout == "fused_qkv_permute":  # qkv.view(b, t, 3, h, d).permute(2, 0, 3, 1, 4)
        if h_kv != h:
            raise ValueError("fused layout has h_kv == h")
        qkv = torch.randn(b, t, 3 * h * d, dtype=dtype)
        q, k, v = qkv.view(b, t, 3, h, d).permute(2, 0, 3, 1, 4).unbind(0)
    elif layout == "bthd":  # separate q_proj(x).view(b, t, h, d).transpose(1, 2) (HF style)
        q, k, v = fresh(h, *"bthd"), fresh(h_kv, *"bthd"), fresh(h_kv, *"bthd")
    elif layout == "contiguous":  # already (b, h, t, d), e.g. after .contiguous() or torch.cat for rotary
        q, k, v = fresh(h, *"bhtd"), fresh(h_kv, *"bhtd"), fresh(h_kv, *"bhtd")
    elif layout == "seq_first":  # x of shape (t, b, c) as in nn.MultiheadAttention: (t, b, h, d) memory
        q, k, v = fresh(h, *"tbhd"), fresh(h_kv, *"tbhd"), fresh(h_kv, *"tbhd")
    else:
        raise ValueError(layout)
    if requires_grad:
        q, k, v = (z.detach().requires_grad_() for z in (q, k, v))
    return q, k, v


LAYOUTS = ["nanogpt", "fused_qkv_permute", "bthd", "contiguous", "seq_first"]
# memory order of q, outermost first, for each layout
MEMORY_ORDER = {
    "nanogpt": "bthd",
    "fused_qkv_permute": "bthd",
    "bthd": "bthd",
    "contiguous": "bhtd",
    "seq_first": "tbhd",
}


# --- the model the linter uses ----------------------------------------------------------------


def dense_strides(sizes, order):
    """Strides of a dense (no gaps) tensor of logical dims "bhtd" stored in `order`, outermost first."""
    strides, step = {}, 1
    for c in reversed(order):
        strides[c] = step
        step *= sizes["bhtd".index(c)]
    return tuple(strides[c] for c in "bhtd")


def memory_order(x):
    """x's dims ("bhtd") sorted by stride, outermost first."""
    return "".join(sorted("bhtd", key=lambda c: -x.stride("bhtd".index(c))))


def mirror_strides(q, out_sizes=None):
    """The layout 'mirrors q': dense, dims in the order of q's strides (what `empty_like(q)` gives)."""
    return dense_strides(tuple(q.shape if out_sizes is None else out_sizes), memory_order(q))


def merge_heads_view_works(y):
    """Does nanoGPT's `y.transpose(1, 2).view(b, t, h * d)` succeed on this SDPA output?"""
    b, h, t, d = y.shape
    try:
        y.transpose(1, 2).view(b, t, h * d)  # noqa: TV101,TV301 (the line under test)
    except RuntimeError as e:
        assert "view size is not compatible with input tensor's size and stride" in str(e)
        return False
    return True


def sdpa(q, k, v, backend=None, **kwargs):
    ctx = sdpa_kernel(backend) if backend is not None else contextlib.nullcontext()
    with ctx:
        return F.scaled_dot_product_attention(q, k, v, **kwargs)


def choice(q, k, v, **kwargs):
    """The backend the CPU dispatcher picks (the same call `scaled_dot_product_attention` makes)."""
    return SDPBackend(torch._fused_sdp_choice(q, k, v, **kwargs))


def meta(x):
    return torch.empty_strided(x.shape, x.stride(), dtype=x.dtype, device="meta")


# --- CPU: which kernel runs -------------------------------------------------------------------


def _mask(*shape, dtype=torch.bool, requires_grad=False):
    m = torch.ones(*shape, dtype=torch.bool).tril(diagonal=1) if dtype is torch.bool else torch.zeros(*shape)
    return m.requires_grad_() if requires_grad else m


CPU_FLASH_CASES = {
    "defaults": ({}, {}),
    "is_causal": ({}, {"is_causal": True}),
    "scale": ({}, {"scale": 0.3}),
    "dropout_p_zero": ({}, {"dropout_p": 0.0}),
    "bool_mask_2d": ({}, {"attn_mask": _mask(T, T)}),
    "float_mask_2d": ({}, {"attn_mask": _mask(T, T, dtype=torch.float32)}),
    "bool_mask_b1tt": ({}, {"attn_mask": _mask(B, 1, T, T)}),
    "bool_mask_bhtt": ({}, {"attn_mask": _mask(B, H, T, T)}),
    "transposed_float_mask": ({}, {"attn_mask": _mask(T, T, dtype=torch.float32).t()}),
    "requires_grad": ({"requires_grad": True}, {}),
    "bfloat16": ({"dtype": torch.bfloat16}, {}),
    "float16": ({"dtype": torch.float16}, {}),
    "float64": ({"dtype": torch.float64}, {}),
    "head_dim_2": ({"d": 2}, {}),
    "head_dim_3": ({"d": 3}, {}),
    "head_dim_8": ({"d": 8}, {}),
    "head_dim_16": ({"d": 16}, {}),
    "head_dim_64": ({"d": 64}, {}),
    "head_dim_65": ({"d": 65}, {}),
    "gqa_enable_gqa": ({"layout": "bthd", "h": 6, "h_kv": 2}, {"enable_gqa": True}),
    "mqa_enable_gqa": ({"layout": "bthd", "h_kv": 1}, {"enable_gqa": True}),
}


@pytest.mark.parametrize("name", CPU_FLASH_CASES)
def test_cpu_picks_flash_unless_ruled_out(name):
    """No dtype/head_dim/mask/causal/grad/scale/GQA condition moves CPU off flash (only the ones below)."""
    make, kwargs = CPU_FLASH_CASES[name]
    q, k, v = make_qkv(**{"layout": "nanogpt", **make})
    assert choice(q, k, v, **kwargs) == SDPBackend.FLASH_ATTENTION
    y = sdpa(q, k, v, **kwargs)
    assert y.stride() == mirror_strides(q)


def _last_dim_strided():
    x = torch.randn(B, T, H, 2 * D)[..., ::2].transpose(1, 2)  # stride(-1) == 2
    return x, x, x


def _value_head_dim_differs():
    q, k, _ = make_qkv("bthd")
    return q, k, torch.randn(B, T, H, 2 * D).transpose(1, 2)


def _heads_differ_without_gqa():
    q, _, _ = make_qkv("bthd")
    kv = torch.randn(B, 1, T, D)  # broadcast over heads, enable_gqa not set
    return q, kv, kv


CPU_MATH_CASES = {
    "dropout_p": (lambda: make_qkv(), {"dropout_p": 0.1}),
    "mask_3d": (lambda: make_qkv(), {"attn_mask": _mask(H, T, T)}),
    "mask_requires_grad": (
        lambda: make_qkv(),
        {"attn_mask": _mask(T, T, dtype=torch.float32, requires_grad=True)},
    ),
    "query_last_dim_stride_not_1": (_last_dim_strided, {}),
    "heads_differ_without_enable_gqa": (_heads_differ_without_gqa, {}),
    "value_head_dim_differs": (_value_head_dim_differs, {}),
    "inputs_3d": (lambda: [torch.randn(B * H, T, D) for _ in range(3)], {}),
    "inputs_5d": (lambda: [torch.randn(2, B, H, T, D) for _ in range(3)], {}),
}


@pytest.mark.parametrize("name", CPU_MATH_CASES)
def test_cpu_falls_back_to_math_when(name):
    make, kwargs = CPU_MATH_CASES[name]
    q, k, v = make()
    assert choice(q, k, v, **kwargs) == SDPBackend.MATH
    y = sdpa(q, k, v, **kwargs)
    assert y.is_contiguous()


def test_cpu_math_is_chosen_inside_sdpa_kernel_math():
    q, k, v = make_qkv()
    with sdpa_kernel(SDPBackend.MATH):
        assert choice(q, k, v) == SDPBackend.MATH
    assert choice(q, k, v) == SDPBackend.FLASH_ATTENTION


def test_enable_flash_sdp_false_also_turns_off_cpu_flash():
    """`torch.backends.cuda.enable_flash_sdp` is one global flag for every device, CPU included."""
    q, k, v = make_qkv()
    assert torch.backends.cuda.flash_sdp_enabled()
    torch.backends.cuda.enable_flash_sdp(False)
    try:
        assert choice(q, k, v) == SDPBackend.MATH
        assert not merge_heads_view_works(sdpa(q, k, v))
    finally:
        torch.backends.cuda.enable_flash_sdp(True)
    assert merge_heads_view_works(sdpa(q, k, v))


def test_sdpa_kernel_flash_with_dropout_raises_no_available_kernel():
    q, k, v = make_qkv()
    with pytest.raises(RuntimeError, match="No available kernel"):
        sdpa(q, k, v, SDPBackend.FLASH_ATTENTION, dropout_p=0.1)


# --- CPU: what layout each kernel returns ------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_cpu_flash_output_mirrors_query_layout(layout, dtype):
    q, k, v = make_qkv(layout, dtype=dtype)
    assert memory_order(q) == MEMORY_ORDER[layout]
    y = sdpa(q, k, v, SDPBackend.FLASH_ATTENTION)
    assert y.stride() == mirror_strides(q)
    assert memory_order(y) == MEMORY_ORDER[layout]
    assert sdpa(q, k, v).stride() == y.stride()  # the default picks flash here


@pytest.mark.parametrize("order", ["".join(p) + "d" for p in itertools.permutations("bht")])
def test_cpu_flash_output_mirrors_every_query_dim_order(order):
    sizes = {"b": B, "h": H, "t": T, "d": D}
    q = torch.randn(*(sizes[c] for c in order)).permute(*(order.index(c) for c in "bhtd"))
    k, v = torch.randn(B, H, T, D), torch.randn(B, H, T, D)
    y = sdpa(q, k, v, SDPBackend.FLASH_ATTENTION)
    assert memory_order(y) == order
    assert y.stride() == dense_strides((B, H, T, D), order)


def test_cpu_flash_output_ignores_key_and_value_layout():
    qn, kn, vn = make_qkv("nanogpt")
    qc, kc, vc = make_qkv("contiguous")
    assert sdpa(qn, kc, vc, SDPBackend.FLASH_ATTENTION).stride() == mirror_strides(qn)
    assert sdpa(qc, kn, vn, SDPBackend.FLASH_ATTENTION).is_contiguous()


def test_cpu_flash_output_of_a_gapped_query_is_dense():
    """q sliced out of a fused qkv has gaps (stride(0) = t*3c); the output keeps q's order without them."""
    q, k, v = make_qkv("nanogpt")
    assert q.stride() == (T * 3 * H * D, D, 3 * H * D, 1)
    y = sdpa(q, k, v)
    assert y.stride() == (T * H * D, D, H * D, 1)
    assert y.transpose(1, 2).is_contiguous()


MATH_OPTIONS = {
    "defaults": ({}, {}),
    "dropout_p": ({}, {"dropout_p": 0.1}),
    "bool_mask": ({}, {"attn_mask": _mask(T, T)}),
    "float_mask": ({}, {"attn_mask": _mask(T, T, dtype=torch.float32)}),
    "is_causal": ({}, {"is_causal": True}),
    "requires_grad": ({"requires_grad": True}, {}),
    "bfloat16": ({"dtype": torch.bfloat16}, {}),
}


@pytest.mark.parametrize("option", MATH_OPTIONS)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_math_output_is_contiguous_for_every_query_layout(layout, option):
    make, kwargs = MATH_OPTIONS[option]
    q, k, v = make_qkv(layout, **make)
    y = sdpa(q, k, v, SDPBackend.MATH, **kwargs)
    assert y.is_contiguous()
    assert y.dtype == q.dtype


# --- CPU: the nanoGPT line and its relatives ---------------------------------------------------


def test_nanogpt_merge_heads_view_works_on_cpu_flash_and_raises_on_math():
    q, k, v = make_qkv("nanogpt")
    assert merge_heads_view_works(sdpa(q, k, v, SDPBackend.FLASH_ATTENTION))
    assert merge_heads_view_works(sdpa(q, k, v, is_causal=True))  # default: flash
    assert not merge_heads_view_works(sdpa(q, k, v, SDPBackend.MATH))
    assert not merge_heads_view_works(sdpa(q, k, v, SDPBackend.MATH, is_causal=True))


def test_nanogpt_training_dropout_sends_cpu_to_math_so_the_view_raises():
    """nanoGPT passes dropout_p=self.dropout if self.training else 0: train and eval get different layouts."""
    q, k, v = make_qkv("nanogpt")
    assert merge_heads_view_works(sdpa(q, k, v, dropout_p=0.0, is_causal=True))
    assert not merge_heads_view_works(sdpa(q, k, v, dropout_p=0.1, is_causal=True))


def test_contiguous_query_merge_heads_view_raises_on_every_cpu_backend():
    q, k, v = make_qkv("contiguous")
    for backend in (SDPBackend.FLASH_ATTENTION, SDPBackend.MATH):
        assert not merge_heads_view_works(sdpa(q, k, v, backend))


def test_seq_first_query_merge_heads_view_works_on_flash_and_raises_on_math():
    """The view only needs h and d adjacent in memory; b and t may be in any order."""
    q, k, v = make_qkv("seq_first")
    y = sdpa(q, k, v, SDPBackend.FLASH_ATTENTION)
    assert not y.transpose(1, 2).is_contiguous()
    assert merge_heads_view_works(y)
    assert not merge_heads_view_works(sdpa(q, k, v, SDPBackend.MATH))


@pytest.mark.parametrize("layout", LAYOUTS)
def test_merge_heads_view_works_iff_heads_stride_equals_head_dim(layout):
    """The predicate for dense outputs with stride(-1) == 1: h sits right outside d."""
    q, k, v = make_qkv(layout)
    for backend in (SDPBackend.FLASH_ATTENTION, SDPBackend.MATH):
        y = sdpa(q, k, v, backend)
        assert y.stride(3) == 1
        assert merge_heads_view_works(y) == (y.stride(1) == y.size(3))
        assert merge_heads_view_works(y) == (memory_order(y)[-2:] == "hd")


def test_math_merge_heads_view_works_only_when_t_or_h_is_one():
    """The one size-1 test: the contiguous (b, h, t, d) output merges h and d only if t == 1 or h == 1."""
    for t, h, works in [(1, 3, True), (5, 1, True), (5, 3, False)]:
        q, k, v = make_qkv("nanogpt", t=t, h=h)
        assert merge_heads_view_works(sdpa(q, k, v, SDPBackend.MATH)) is works


def test_reshape_and_contiguous_view_work_on_every_cpu_backend():
    q, k, v = make_qkv("nanogpt")
    outs = [sdpa(q, k, v, be) for be in (SDPBackend.FLASH_ATTENTION, SDPBackend.MATH)]
    for y in outs:
        a = y.transpose(1, 2).reshape(B, T, H * D)
        c = y.transpose(1, 2).contiguous().view(B, T, H * D)
        assert torch.equal(a, c)
    assert torch.allclose(outs[0], outs[1], atol=1e-5)
    # on flash reshape is a view (no copy); on math it copies
    assert outs[0].transpose(1, 2).reshape(B, T, H * D)._base is not None
    assert outs[0].transpose(1, 2).reshape(B, T, H * D).data_ptr() == outs[0].data_ptr()
    assert outs[1].transpose(1, 2).reshape(B, T, H * D).data_ptr() != outs[1].data_ptr()


# --- CUDA kernels, through torch's meta registrations ------------------------------------------


@pytest.mark.parametrize("layout", LAYOUTS)
def test_cuda_flash_output_mirrors_query_layout(layout):
    """`_scaled_dot_product_flash_attention` allocates `empty_like(q)` (flash_api.cpp mha_fwd)."""
    q, k, v = (meta(z) for z in make_qkv(layout, d=8, dtype=torch.float16))
    y = aten._scaled_dot_product_flash_attention(q, k, v)[0]
    assert y.stride() == mirror_strides(q)
    assert merge_heads_view_works(y) == (MEMORY_ORDER[layout][-2:] == "hd")


@pytest.mark.parametrize("layout", LAYOUTS)
def test_cuda_cudnn_output_mirrors_query_layout(layout):
    """`alloc_with_matching_layout(q, o, {b, h, s_q, d_v})` (cudnn/MHA.cpp run_cudnn_SDP_fprop)."""
    q, k, v = (meta(z) for z in make_qkv(layout, d=8, dtype=torch.float16))
    y = aten._scaled_dot_product_cudnn_attention(q, k, v, None, False)[0]
    assert y.stride() == mirror_strides(q)


def test_cuda_cudnn_output_mirrors_query_layout_when_value_head_dim_differs():
    q, k, _ = (meta(z) for z in make_qkv("nanogpt", d=8, dtype=torch.float16))
    v = meta(torch.randn(B, T, H, 16, dtype=torch.float16).transpose(1, 2))
    y = aten._scaled_dot_product_cudnn_attention(q, k, v, None, False)[0]
    assert y.shape == (B, H, T, 16)
    assert y.stride() == mirror_strides(q, (B, H, T, 16))


@pytest.mark.parametrize("layout", LAYOUTS)
def test_cuda_efficient_output_is_bthd_memory_for_every_query_layout(layout):
    """`_efficient_attention_forward` allocates `at::empty({B, M, num_heads, Kv})` whatever q is."""
    q, k, v = (meta(z) for z in make_qkv(layout, d=8, dtype=torch.float16))
    y = aten._scaled_dot_product_efficient_attention(q, k, v, None, False)[0]
    assert y.transpose(1, 2).is_contiguous()
    assert merge_heads_view_works(y)


def test_contiguous_query_merge_heads_view_works_only_on_cuda_efficient():
    q, k, v = (meta(z) for z in make_qkv("contiguous", d=8, dtype=torch.float16))
    assert merge_heads_view_works(aten._scaled_dot_product_efficient_attention(q, k, v, None, False)[0])
    assert not merge_heads_view_works(aten._scaled_dot_product_flash_attention(q, k, v)[0])
    assert not merge_heads_view_works(aten._scaled_dot_product_cudnn_attention(q, k, v, None, False)[0])


def test_cuda_flash_head_dim_not_multiple_of_8_is_padded_into_a_contiguous_copy():
    """The composite pads q/k/v with `pad_last_dim<8>` (at::pad) before flash: the pad is contiguous, so
    flash mirrors the *padded* (b, h, t, d8) tensor and the sliced output breaks the nanoGPT view."""
    d = 5
    q, k, v = make_qkv("nanogpt", d=d, dtype=torch.float16)
    qp, kp, vp = (F.pad(z, (0, 8 - d)) for z in (q, k, v))  # what pad_last_dim<8, false> does
    assert qp.is_contiguous()
    y = aten._scaled_dot_product_flash_attention(meta(qp), meta(kp), meta(vp))[0][..., :d]  # post_process
    assert y.shape == (B, H, T, d)
    assert not merge_heads_view_works(y)


# --- torch.export / compile caveat --------------------------------------------------------------


@pytest.mark.parametrize("layout", ["nanogpt", "contiguous"])
def test_export_decomposition_of_cpu_flash_returns_seq_first_memory(layout):
    """torch/_decomp/decompositions.py rewrites CPU flash as math + permute(2,0,1,3).contiguous(): its
    layout is (t, b, h, d) memory for every q, which differs from the eager kernel for these layouts."""
    decomp = torch._decomp.decomposition_table[aten._scaled_dot_product_flash_attention_for_cpu.default]
    q, k, v = make_qkv(layout)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        y = decomp(q, k, v)[0]
    assert memory_order(y) == "tbhd"
    eager = sdpa(q, k, v, SDPBackend.FLASH_ATTENTION)
    assert memory_order(eager) == MEMORY_ORDER[layout] != "tbhd"


# ---- TV102 end to end: the fixture's flagged line runs on one CPU kernel and raises on the other --


def test_tv102_lines_run_on_flash_and_raise_on_math() -> None:
    """Every TV102 in ``fixtures/sdpa_backends.py`` is a line that the eval scenario (flash on CPU)
    runs and the training scenario (dropout: math) dies on with the view error."""
    import traceback
    from pathlib import Path

    from fixture_harness import VIEW_ERROR, load
    from flake8_tensorview.linter import lint_source

    path = Path(__file__).resolve().parent.parent / "fixtures" / "sdpa_backends.py"
    flagged = {d.line for d in lint_source(path.read_text()) if d.code == "TV102"}
    assert flagged
    module = load(path)
    module.SCENARIOS["eval_flash"]()
    with pytest.raises(RuntimeError, match="view size is not compatible") as info:
        module.SCENARIOS["train_math"]()
    assert VIEW_ERROR in str(info.value)
    died_on = {frame.lineno for frame in traceback.extract_tb(info.tb) if frame.filename == str(path)}
    assert flagged <= died_on


QUERIES = {
    "nanogpt": "torch.randn(2, 5, 3, 4).transpose(1, 2)",
    "contiguous": "torch.randn(2, 3, 5, 4)",
    "fused_qkv": "torch.randn(2, 5, 3, 3, 4).permute(2, 0, 3, 1, 4)[0]",
    "seq_first": "torch.randn(5, 2, 3, 4).permute(1, 2, 0, 3)",
}


@pytest.mark.parametrize("query", sorted(QUERIES))
@pytest.mark.parametrize("backend", ["math", "flash/cuDNN"])
def test_the_op_tables_sdpa_layouts_match_the_cpu_kernels(query: str, backend: str) -> None:
    """``ops.sdpa``'s layout for each kernel CPU can run, against that kernel's real output."""
    from flake8_tensorview.linter import analyze

    source = f"import torch\nimport torch.nn.functional as F\nq = {QUERIES[query]}\ny = F.scaled_dot_product_attention(q, q, q)\n"
    walker, _ = analyze(source, whole=True)  # type: ignore[misc]
    model = dict(walker.module_env.vars["y"].backends)[backend]
    scope: dict[str, object] = {}
    kernel = SDPBackend.MATH if backend == "math" else SDPBackend.FLASH_ATTENTION
    with sdpa_kernel(kernel):
        exec(source, scope)
    real = scope["y"]
    assert tuple(d.literal for d in model.shape) == tuple(real.shape)
    assert tuple(d.literal for d in model.strides) == real.stride()
