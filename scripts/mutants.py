"""Torch-truth mutant evaluation of TV101/TV102 on real transformers model code.

Each family's modeling file (``transformers/models/<dir>/modeling_<dir>.py``) is mutated one change
at a time, line numbers kept: every ``.reshape(`` method call becomes ``.view(``, every
``.contiguous()`` call is removed. Each mutant is loaded in place of the real module (a fresh module
object under the real name, its ``__file__`` a scratch copy of the mutated text under
``.corpora/mutants/scratch/``), a tiny model is built from the family's config with the same seed,
and one forward pass runs on CPU under ``torch.no_grad()``: with eager attention, and again with
SDPA where the family has it. The unmutated file runs the same way. Only the mutant file's own
frames are traced, instruction by instruction, so the script knows which of its calls ran and which
one raised.

Truth comes from torch alone. A mutant is *positive* when a run raises torch's view-stride error
(``view size is not compatible with input tensor's size and stride``); the raising line R is the
line of the ``.view`` attribute of the call that raised, in the deepest traceback frame in the
mutant file. It is scored against the linter's *new* findings: the TV101/TV102 findings of
``lint_source(mutant)`` on lines where ``lint_source(original)`` reports neither.

- TP: a new finding on R. FN: none on R. A view error raised in another file (torch, a transformers
  helper) is counted apart as "outside": the linter reads one file at a time.
- FP: a new finding on a line where no view error was raised, whose ``.view`` call ran (its CALL
  instruction executed in a run of that mutant, raising or not). A new finding whose call never ran
  is "unverifiable". The same holds on the unmutated files: a TV101/TV102 on a call that ran is an FP.
- A run that raises anything else is broken and tells nothing; a mutant all of whose runs broke is
  left out. A reshape->view mutant that runs computes what the original did, and so does a mutant
  without a ``.contiguous()``: only raising or not is at stake.
- A family that cannot be built or run unmutated is skipped, with the reason.

The sizes are those of one tiny config per family (batch 2, 7 tokens, 4 heads, 32x32 images): a
view that raises only for other sizes is not seen, and one that runs only because a config has a
size-1 dim (one key/value head) counts as running.

Setup (a venv of its own, so the project's stays clean; torch pinned on every line):

    python3 -m venv .corpora/.venvs/mutants
    .corpora/.venvs/mutants/bin/pip install torch==2.13.0
    .corpora/.venvs/mutants/bin/pip install -e . "transformers==5.23.0" torch==2.13.0

Run (about three minutes on one core; one process, one torch thread):

    .corpora/.venvs/mutants/bin/python scripts/mutants.py                    # every family
    .corpora/.venvs/mutants/bin/python scripts/mutants.py --families llama bert --variants eager

Prints the summary, every FN and FP; writes every row to ``.corpora/mutants/results.json``.
Exits 0 whatever the score.
"""

from __future__ import annotations

import argparse
import ast
import dis
import importlib
import importlib.util
import json
import sys
import time
import types
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / ".corpora" / "mutants"
VIEW_ERROR = "view size is not compatible with input tensor's size and stride"
JUDGED = ("TV101", "TV102")
"""The codes torch can refute here: a view that runs is not one that raises."""
VARIANTS = ("eager", "sdpa")
KINDS = ("reshape->view", "drop .contiguous()")
Key = tuple[int, int]
"""A call, by where it ends: (line, UTF-8 byte column), as both ``ast`` and CPython's CALL
instruction positions (3.11+) give it."""

# ---- the families -------------------------------------------------------------------------------

TEXT = dict(
    vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
    head_dim=8, intermediate_size=37, max_position_embeddings=64,
)
SEQ2SEQ = dict(
    vocab_size=99, d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
    decoder_attention_heads=4, encoder_ffn_dim=37, decoder_ffn_dim=37, max_position_embeddings=64,
    pad_token_id=1, bos_token_id=0, eos_token_id=2, decoder_start_token_id=2,
)
VISION = dict(
    image_size=32, patch_size=8, num_channels=3, hidden_size=32, num_hidden_layers=2,
    num_attention_heads=4, intermediate_size=37,
)
WAVE = dict(
    vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
    conv_dim=(16, 16), conv_stride=(5, 2), conv_kernel=(10, 3), num_conv_pos_embeddings=16,
    num_conv_pos_embedding_groups=4,
)
T5 = dict(
    TEXT, d_model=32, d_kv=8, d_ff=37, num_layers=2, num_heads=4, relative_attention_num_buckets=8,
    decoder_start_token_id=0,
)
PYRAMID = dict(
    num_encoder_blocks=2, depths=[1, 1], hidden_sizes=[16, 32], num_attention_heads=[2, 2],
    sr_ratios=[2, 1], patch_sizes=[7, 3], strides=[4, 2], mlp_ratios=[2, 2],
)
WINDOWS = dict(
    # window 3 over 8x8 patches: the padding and cropping code runs too
    image_size=32, patch_size=4, embed_dim=16, depths=[1, 1], num_heads=[2, 2], window_size=3,
    mlp_ratio=2.0,
)


@dataclass(frozen=True)
class Family:
    """One model family: its ``model_type``, the inputs its base model takes, its tiny config."""

    model_type: str
    inputs: str
    """A key of ``INPUTS``."""
    config: Mapping[str, Any]
    folder: str = ""
    """The folder under ``transformers/models`` when it is not ``model_type``."""

    @property
    def package(self) -> str:
        return f"transformers.models.{self.folder or self.model_type}"

    @property
    def module(self) -> str:
        return f"{self.package}.modeling_{self.folder or self.model_type}"


def _with(base: Mapping[str, Any], **changes: Any) -> dict[str, Any]:
    return {**base, **changes}


def _without(base: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    """For configs that reject a key (a read-only property, or one they derive themselves)."""
    return {k: v for k, v in base.items() if k not in keys}


FAMILIES: tuple[Family, ...] = (
    # decoder LMs
    Family("llama", "text", TEXT),
    Family("mistral", "text", TEXT),
    # grouped expert matmuls want rows of a multiple of 16 bytes: intermediate sizes of 4k floats
    Family("mixtral", "text", _with(TEXT, intermediate_size=36, num_local_experts=4, num_experts_per_tok=2)),
    Family("qwen2", "text", TEXT),
    Family("qwen2_moe", "text", _with(TEXT, intermediate_size=36, num_experts=4, num_experts_per_tok=2,
                                      moe_intermediate_size=12, shared_expert_intermediate_size=20,
                                      decoder_sparse_step=1)),
    Family("qwen3", "text", TEXT),
    Family("gemma", "text", TEXT),
    Family("gemma2", "text", _with(TEXT, query_pre_attn_scalar=8, sliding_window=4)),
    Family("gemma3_text", "text", _with(TEXT, query_pre_attn_scalar=8, sliding_window=4), folder="gemma3"),
    Family("phi", "text", TEXT),
    Family("phi3", "text", _with(TEXT, pad_token_id=0)),
    Family("gpt2", "text", TEXT),
    Family("gpt_neo", "text", _with(TEXT, attention_types=[[["global", "local"], 1]], window_size=4)),
    Family("gpt_neox", "text", TEXT),
    Family("gptj", "text", _with(TEXT, rotary_dim=4)),
    Family("gpt_bigcode", "text", TEXT),
    Family("codegen", "text", _with(TEXT, rotary_dim=4)),
    Family("opt", "text", _with(TEXT, ffn_dim=37, word_embed_proj_dim=32, pad_token_id=1)),
    Family("bloom", "text", TEXT),
    Family("falcon", "text", _without(TEXT, "head_dim")),
    Family("stablelm", "text", TEXT),
    Family("olmo", "text", TEXT),
    Family("olmo2", "text", TEXT),
    Family("starcoder2", "text", TEXT),
    Family("cohere", "text", TEXT),
    Family("granite", "text", TEXT),
    Family("persimmon", "text", TEXT),
    Family("biogpt", "text", TEXT),
    Family("xglm", "text", _with(SEQ2SEQ, num_layers=2, attention_heads=4, ffn_dim=37)),
    # encoders
    Family("bert", "text", TEXT),
    Family("roberta", "text", _with(TEXT, pad_token_id=1)),
    Family("xlm-roberta", "text", _with(TEXT, pad_token_id=1), folder="xlm_roberta"),
    Family("camembert", "text", _with(TEXT, pad_token_id=1)),
    Family("distilbert", "text", TEXT),
    Family("albert", "text", _with(TEXT, embedding_size=16)),
    Family("electra", "text", _with(TEXT, embedding_size=32)),
    Family("deberta", "text", _with(TEXT, relative_attention=True, pos_att_type=["c2p", "p2c"])),
    Family("deberta-v2", "text", _with(TEXT, relative_attention=True, pos_att_type=["c2p", "p2c"],
                                       position_buckets=8), folder="deberta_v2"),
    Family("mpnet", "text", TEXT),
    Family("roformer", "text", _with(TEXT, embedding_size=32)),
    Family("esm", "text", _with(TEXT, pad_token_id=1, mask_token_id=2, position_embedding_type="rotary")),
    Family("big_bird", "text", _with(TEXT, attention_type="original_full")),
    Family("funnel", "text", _with(_without(TEXT, "num_hidden_layers"), d_model=32, n_head=4, d_head=8,
                                   d_inner=37, block_sizes=[1, 1], num_decoder_layers=1)),
    Family("longformer", "text", _with(TEXT, attention_window=4, pad_token_id=1)),
    Family("xlnet", "text", _with(_without(TEXT, "max_position_embeddings"), d_model=32, n_layer=2,
                                  n_head=4, d_inner=37)),
    Family("reformer", "text", _with(TEXT, attention_head_size=8, feed_forward_size=37,
                                     axial_pos_embds=False, attn_layers=["local", "lsh"],
                                     local_attn_chunk_length=4, lsh_attn_chunk_length=4, num_buckets=2,
                                     num_hashes=1)),
    # encoder-decoders
    Family("t5", "seq2seq", T5),
    Family("mt5", "seq2seq", T5),
    Family("bart", "seq2seq", SEQ2SEQ),
    Family("mbart", "seq2seq", SEQ2SEQ),
    Family("marian", "seq2seq", SEQ2SEQ),
    Family("pegasus", "seq2seq", SEQ2SEQ),
    Family("m2m_100", "seq2seq", SEQ2SEQ),
    Family("blenderbot", "seq2seq", SEQ2SEQ),
    Family("led", "seq2seq", _with(SEQ2SEQ, attention_window=4, max_encoder_position_embeddings=64,
                                   max_decoder_position_embeddings=64)),
    Family("whisper", "whisper", _with(SEQ2SEQ, num_mel_bins=8, max_source_positions=16,
                                       max_target_positions=32, suppress_tokens=[],
                                       begin_suppress_tokens=[])),
    Family("speech_to_text", "speech_to_text", _with(SEQ2SEQ, input_feat_per_channel=8, input_channels=1,
                                                     conv_channels=16, num_conv_layers=2,
                                                     conv_kernel_sizes=(5, 5), max_source_positions=64)),
    # vision
    Family("vit", "vision", VISION),
    Family("deit", "vision", VISION),
    Family("beit", "vision", _with(VISION, use_relative_position_bias=True)),
    Family("dinov2", "vision", VISION),
    Family("vit_mae", "vision", _with(VISION, mask_ratio=0.5)),
    Family("yolos", "vision", _with(VISION, image_size=[32, 32], num_detection_tokens=3)),
    Family("swin", "vision", WINDOWS),
    Family("swinv2", "vision", WINDOWS),
    Family("focalnet", "vision", dict(image_size=32, patch_size=4, embed_dim=16, depths=[1, 1],
                                      focal_levels=[2, 2], focal_windows=[3, 3])),
    Family("convnext", "vision", dict(hidden_sizes=[8, 16], depths=[1, 1], num_stages=2)),
    Family("segformer", "vision", _with(PYRAMID, decoder_hidden_size=16)),
    Family("pvt_v2", "vision", PYRAMID),
    Family("mobilevit", "vision", dict(image_size=32, patch_size=2, hidden_sizes=[16, 24, 32],
                                       neck_hidden_sizes=[8, 8, 16, 16, 24, 32, 40], num_attention_heads=2)),
    Family("levit", "vision", dict(image_size=64, hidden_sizes=[16, 24, 32], num_attention_heads=[2, 2, 2],
                                   depths=[1, 1, 1], key_dim=[8, 8, 8], patch_size=16,
                                   down_ops=[["Subsample", 8, 2, 4, 2, 2], ["Subsample", 8, 2, 4, 2, 2]])),
    # vision-language
    Family("clip", "text+image", dict(projection_dim=16, text_config=_with(TEXT, max_position_embeddings=16),
                                      vision_config=VISION)),
    Family("siglip", "text+image", dict(text_config=_with(TEXT, max_position_embeddings=16),
                                        vision_config=VISION)),
    # audio
    Family("wav2vec2", "wave", WAVE),
    Family("wav2vec2-conformer", "wave", _with(WAVE, position_embeddings_type="rotary"),
           folder="wav2vec2_conformer"),
    Family("hubert", "wave", WAVE),
    Family("wavlm", "wave", _with(WAVE, num_buckets=8, max_bucket_distance=16)),
    Family("sew", "wave", _with(WAVE, squeeze_factor=2)),
    Family("sew-d", "wave", _with(WAVE, squeeze_factor=2, position_buckets=8, max_relative_positions=16),
           folder="sew_d"),
    Family("unispeech", "wave", WAVE),
    Family("unispeech-sat", "wave", WAVE, folder="unispeech_sat"),
    Family("audio-spectrogram-transformer", "spectrogram", dict(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37, patch_size=8,
        frequency_stride=8, time_stride=8, max_length=32, num_mel_bins=16,
    ), folder="audio_spectrogram_transformer"),
)

# ---- the inputs ---------------------------------------------------------------------------------


def _ids(torch: Any, generator: Any, length: int) -> Any:
    return torch.randint(3, 99, (2, length), generator=generator)  # clear of the special tokens


def _mask(torch: Any, length: int) -> Any:
    mask = torch.ones(2, length, dtype=torch.long)
    mask[1, -2:] = 0  # one padded row: the masking code runs as it does for real batches
    return mask


def _text(torch: Any, generator: Any, config: Any) -> dict[str, Any]:
    return {"input_ids": _ids(torch, generator, 7), "attention_mask": _mask(torch, 7)}


def _seq2seq(torch: Any, generator: Any, config: Any) -> dict[str, Any]:
    return {**_text(torch, generator, config), "decoder_input_ids": _ids(torch, generator, 5)}


def _vision(torch: Any, generator: Any, config: Any) -> dict[str, Any]:
    size = getattr(config, "image_size", 32)
    size = size[0] if isinstance(size, (list, tuple)) else size
    return {"pixel_values": torch.randn(2, 3, size, size, generator=generator)}


def _text_image(torch: Any, generator: Any, config: Any) -> dict[str, Any]:
    size = config.vision_config.image_size
    pixels = torch.randn(2, 3, size, size, generator=generator)
    return {"input_ids": _ids(torch, generator, 7), "pixel_values": pixels}


def _wave(torch: Any, generator: Any, config: Any) -> dict[str, Any]:
    return {"input_values": torch.randn(2, 400, generator=generator)}


def _whisper(torch: Any, generator: Any, config: Any) -> dict[str, Any]:
    features = torch.randn(2, config.num_mel_bins, 2 * config.max_source_positions, generator=generator)
    return {"input_features": features, "decoder_input_ids": _ids(torch, generator, 5)}


def _speech_to_text(torch: Any, generator: Any, config: Any) -> dict[str, Any]:
    width = config.input_feat_per_channel * config.input_channels
    return {"input_features": torch.randn(2, 20, width, generator=generator),
            "decoder_input_ids": _ids(torch, generator, 5)}


def _spectrogram(torch: Any, generator: Any, config: Any) -> dict[str, Any]:
    return {"input_values": torch.randn(2, config.max_length, config.num_mel_bins, generator=generator)}


INPUTS: dict[str, Callable[[Any, Any, Any], dict[str, Any]]] = {
    "text": _text,
    "seq2seq": _seq2seq,
    "vision": _vision,
    "text+image": _text_image,
    "wave": _wave,
    "whisper": _whisper,
    "speech_to_text": _speech_to_text,
    "spectrogram": _spectrogram,
}

# ---- the mutants --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mutant:
    index: int
    kind: str
    """One of ``KINDS``."""
    line: int
    """The line of the mutated attribute (``reshape`` / ``contiguous``)."""
    call: Key
    """The mutated call in the original text: whether it ran in the unmutated runs."""
    text: str


def _lines(text: str) -> list[str]:
    """Lines as Python counts them (``str.splitlines`` also breaks at form feeds and the like)."""
    return text.split("\n")


def _char(lines: list[str], line: int, byte_col: int) -> int:
    """``ast`` columns count UTF-8 bytes; string slicing counts characters."""
    return len(lines[line - 1].encode()[:byte_col].decode(errors="ignore"))


def _method_calls(tree: ast.AST, name: str) -> Iterator[ast.Call]:
    """``x.name(...)`` calls, not ``torch.name(...)`` (``torch.view`` does not exist)."""
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == name
            and not (isinstance(node.func.value, ast.Name) and node.func.value.id in ("torch", "np", "numpy"))
        ):
            yield node


def mutants(source: str) -> list[Mutant]:
    """One mutant per ``.reshape(`` method call (made ``.view(``) and per ``.contiguous()`` call
    (removed), in source order; each one parses and keeps the original's line count."""
    tree = ast.parse(source)
    lines = _lines(source)
    starts = [0, 0]  # character offset of each 1-based line
    for line in lines:
        starts.append(starts[-1] + len(line) + 1)

    def offset(line: int | None, byte_col: int | None) -> int:
        assert line is not None and byte_col is not None
        return starts[line] + _char(lines, line, byte_col)

    edits: list[tuple[int, int, str, str, ast.Call]] = []
    for call in _method_calls(tree, "reshape"):
        end = offset(call.func.end_lineno, call.func.end_col_offset)
        edits.append((end - len("reshape"), end, "view", KINDS[0], call))
    for call in _method_calls(tree, "contiguous"):
        assert isinstance(call.func, ast.Attribute)
        start = offset(call.func.value.end_lineno, call.func.value.end_col_offset)
        stop = offset(call.end_lineno, call.end_col_offset)
        gap = source[start:stop]  # ".contiguous()", maybe after a line break inside brackets
        edits.append((start + gap.rfind(".", 0, gap.find("contiguous")), stop, "", KINDS[1], call))
    out: list[Mutant] = []
    for start, stop, new, kind, call in sorted(edits, key=lambda e: (e[0], e[3])):
        text = source[:start] + new + source[stop:]
        if text.count("\n") != source.count("\n") or not _parses(text):
            continue
        assert call.func.end_lineno is not None and call.end_lineno is not None
        key = (call.end_lineno, call.end_col_offset or 0)
        out.append(Mutant(len(out), kind, call.func.end_lineno, key, text))
    return out


def _parses(text: str) -> bool:
    try:
        ast.parse(text)
    except SyntaxError:
        return False
    return True


@dataclass(frozen=True)
class Calls:
    """The calls of one text, by their ``Key``."""

    by_key: Mapping[Key, ast.Call]
    by_attribute_end: Mapping[tuple[int, int], Key]
    """(line, character column) where a method call's attribute name ends -> the call: what a
    finding's ``end`` names."""

    @staticmethod
    def of(text: str) -> Calls:
        lines = _lines(text)
        by_key: dict[Key, ast.Call] = {}
        by_attribute: dict[tuple[int, int], Key] = {}
        for node in ast.walk(ast.parse(text)):
            if not isinstance(node, ast.Call) or node.end_lineno is None or node.end_col_offset is None:
                continue
            key = (node.end_lineno, node.end_col_offset)
            by_key[key] = node
            func = node.func
            if isinstance(func, ast.Attribute) and func.end_lineno and func.end_col_offset is not None:
                by_attribute[(func.end_lineno, _char(lines, func.end_lineno, func.end_col_offset))] = key
        return Calls(by_key, by_attribute)

    def attribute_line(self, key: Key | None, fallback: int) -> int:
        """The line of a method call's attribute name (where the linter reports), else ``fallback``."""
        node = self.by_key.get(key) if key else None
        if node is not None and isinstance(node.func, ast.Attribute) and node.func.end_lineno is not None:
            return node.func.end_lineno
        return fallback


def _text_at(text: str, line: int | None) -> str:
    """The simple statement holding ``line``, on one line: a ``.contiguous()`` alone on its line of
    a chain says little."""
    if not line:
        return ""
    holder: ast.stmt | None = None
    for node in ast.walk(ast.parse(text)):
        if (
            isinstance(node, ast.stmt)
            and not hasattr(node, "body")  # a compound statement: its line alone
            and node.lineno <= line <= (node.end_lineno or node.lineno)
            and (holder is None or node.lineno >= holder.lineno)
        ):
            holder = node
    if holder is None or holder.lineno == holder.end_lineno:
        lines = _lines(text)
        return lines[line - 1].strip() if 0 < line <= len(lines) else ""
    return " ".join((ast.get_source_segment(text, holder) or "").split())[:240]


# ---- running a module under torch ---------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    outcome: str
    """``ok``, ``view-error`` (torch's view-stride error) or ``broken`` (anything else)."""
    calls: frozenset[Key] = frozenset()
    """The file's calls whose CALL instruction executed."""
    lines: frozenset[int] = frozenset()
    """Lines where an instruction of the file executed."""
    raised_at: int | None = None
    """The line of the ``.view`` that raised, in the mutant file."""
    raised_call: Key | None = None
    outside: str | None = None
    """``file:line`` where the view error raised when that is not the mutant file."""
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "raised_at": self.raised_at, "outside": self.outside,
                "error": self.error, "executed_lines": len(self.lines)}


Position = tuple[str, tuple[int | None, int | None, int | None, int | None]]


@lru_cache(maxsize=None)
def _positions(code: types.CodeType) -> dict[int, Position]:
    """Instruction offset -> (opname, (line, end line, column, end column))."""
    instructions = dis.get_instructions(code)
    return {ins.offset: (ins.opname, tuple(ins.positions)) for ins in instructions}  # type: ignore[misc]


def _call_key(code: types.CodeType, offset: int) -> Key | None:
    position = _positions(code).get(offset)
    if position is None or position[1][1] is None or position[1][3] is None:
        return None
    return position[1][1], position[1][3]


class Tracer:
    """Records every instruction executed in frames of one file, and nothing elsewhere: other
    frames get no local trace function, so torch and the rest of transformers run untraced."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.hits: set[tuple[types.CodeType, int]] = set()

    def _global(self, frame: types.FrameType, event: str, arg: object) -> Any:
        if frame.f_code.co_filename != self.path:
            return None
        frame.f_trace_opcodes = True
        return self._local

    def _local(self, frame: types.FrameType, event: str, arg: object) -> Any:
        if event == "opcode":
            self.hits.add((frame.f_code, frame.f_lasti))
        return self._local

    @contextmanager
    def active(self) -> Iterator[Tracer]:
        previous = sys.gettrace()
        sys.settrace(self._global)
        try:
            yield self
        finally:
            sys.settrace(previous)

    def executed(self) -> tuple[frozenset[Key], frozenset[int]]:
        """The calls whose CALL instruction executed, and the lines where any instruction did."""
        calls: set[Key] = set()
        lines: set[int] = set()
        for code, offset in self.hits:
            position = _positions(code).get(offset)
            if position is None:
                continue
            opname, (line, end_line, _, end_col) = position
            if line is not None:
                lines.add(line)
            if opname in ("CALL", "CALL_FUNCTION_EX") and end_line is not None and end_col is not None:
                calls.add((end_line, end_col))
        return frozenset(calls), frozenset(lines)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _where_raised(exc: BaseException, path: str) -> tuple[Key | None, int | None, str | None]:
    """The call executing in ``path``'s deepest frame when ``exc`` passed through it and that
    frame's line, and ``file:line`` of the deepest frame overall when it is not in ``path``."""
    key: Key | None = None
    line: int | None = None
    tb = exc.__traceback__
    last = None
    while tb is not None:
        last = tb
        if tb.tb_frame.f_code.co_filename == path:
            line, key = tb.tb_lineno, _call_key(tb.tb_frame.f_code, tb.tb_lasti)
        tb = tb.tb_next
    outside = None
    if last is not None and last.tb_frame.f_code.co_filename != path:
        outside = f"{last.tb_frame.f_code.co_filename}:{last.tb_lineno}"
    return key, line, outside


@dataclass(frozen=True)
class Harness:
    """Loads a text as a family's modeling module and runs the family's tiny model on it."""

    family: Family
    torch: Any

    def load(self, text: str, path: Path) -> types.ModuleType:
        path.write_text(text)
        spec = importlib.util.spec_from_loader(self.family.module, loader=None, origin=str(path))
        assert spec is not None
        module = importlib.util.module_from_spec(spec)
        module.__file__ = str(path)
        module.__package__ = self.family.package  # its relative imports
        sys.modules[self.family.module] = module
        exec(compile(text, str(path), "exec"), module.__dict__)
        return module

    def run(self, text: str, path: Path, variant: str) -> Run:
        """Build and run the model with ``text`` as its modeling module; the real one is put back."""
        torch = self.torch
        from transformers import AutoConfig
        from transformers.models.auto.modeling_auto import MODEL_MAPPING_NAMES

        real = sys.modules.get(self.family.module)
        tracer = Tracer(str(path))
        try:
            with tracer.active():
                module = self.load(text, path)
                config = AutoConfig.for_model(self.family.model_type, **self.family.config)
                names = MODEL_MAPPING_NAMES[self.family.model_type]  # a tuple for a few: base model first
                model_class = getattr(module, names[0] if isinstance(names, tuple) else names)
                torch.manual_seed(0)
                model = model_class._from_config(config, attn_implementation=variant).eval()
                inputs = INPUTS[self.family.inputs](torch, torch.Generator().manual_seed(0), config)
                with torch.no_grad():
                    model(**inputs)
        except Exception as exc:  # torch's verdict, or a break
            calls, lines = tracer.executed()
            message = next((str(e) for e in _chain(exc) if VIEW_ERROR in str(e)), None)
            if message is None:
                return Run("broken", calls, lines, error=f"{type(exc).__name__}: {str(exc)[:300]}")
            key, line, outside = _where_raised(exc, str(path))
            raised_at = None if outside is not None else Calls.of(text).attribute_line(key, line or 0)
            return Run("view-error", calls, lines, raised_at, key, outside, error=message[:300])
        finally:
            if real is not None:
                sys.modules[self.family.module] = real
        calls, lines = tracer.executed()
        return Run("ok", calls, lines)


# ---- the linter ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    line: int
    col: int
    code: str
    message: str
    end: tuple[int, int]


@lru_cache(maxsize=4096)
def lint(text: str) -> tuple[Finding, ...]:
    """The linter's findings on ``text``: a pure function of it, so cached."""
    from flake8_tensorview.linter import lint_source

    return tuple(Finding(d.line, d.col, d.code, d.text, d.end) for d in lint_source(text))


def judged(text: str) -> list[Finding]:
    return [f for f in lint(text) if f.code in JUDGED]


# ---- scoring ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """``TP``/``FN``/``outside`` for a raise, ``FP``/``unverifiable`` for a finding elsewhere."""

    family: str
    file: str
    mutant: int | None
    """None for the unmutated file."""
    kind: str
    mutated_line: int | None
    mutated_text: str
    verdict: str
    line: int
    """The raising line (TP/FN), the finding's line (FP/unverifiable); 0 for outside."""
    line_text: str
    code: str = ""
    message: str = ""
    outside: str = ""
    variants: str = ""
    """The variants whose runs back the verdict."""
    matched: str = ""
    """How a finding was matched to what ran: by its ``call``, or by ``line`` when no call was found."""


def _ran(run: Run, key: Key | None, line: int) -> bool:
    """Whether the flagged call ran without raising; by line when its call is not found."""
    if key is not None:
        return key in run.calls and key != run.raised_call
    return line in run.lines and line != run.raised_at


def _findings(
    base: dict[str, Any], text: str, findings: list[Finding], runs: Mapping[str, Run]
) -> list[Verdict]:
    """FP for each finding whose call ran in a run, unverifiable for the others."""
    calls = Calls.of(text)
    out = []
    for f in findings:
        key = calls.by_attribute_end.get(f.end)
        ran = [v for v, r in runs.items() if _ran(r, key, f.line)]
        out.append(Verdict(**base, verdict="FP" if ran else "unverifiable", line=f.line,
                           line_text=_text_at(text, f.line), code=f.code, message=f.message,
                           variants=",".join(ran), matched="call" if key else "line"))
    return out


def score_mutant(
    family: Family, file: str, mutant: Mutant, runs: Mapping[str, Run], original_flagged: set[int]
) -> list[Verdict]:
    """TP/FN/outside for each raise, FP/unverifiable for each new finding elsewhere (module doc)."""
    text = mutant.text
    usable = {v: r for v, r in runs.items() if r.outcome in ("ok", "view-error")}
    if not usable:
        return []
    new = [f for f in judged(text) if f.line not in original_flagged]
    base: dict[str, Any] = dict(family=family.model_type, file=file, mutant=mutant.index, kind=mutant.kind,
                                mutated_line=mutant.line, mutated_text=_text_at(text, mutant.line))
    out: list[Verdict] = []
    raised: dict[int, list[str]] = {}
    for variant, run in usable.items():
        if run.outside is not None:
            out.append(Verdict(**base, verdict="outside", line=0, line_text="", outside=run.outside,
                               variants=variant))
        elif run.raised_at is not None:
            raised.setdefault(run.raised_at, []).append(variant)
    for line, variants in sorted(raised.items()):
        hit = next((f for f in new if f.line == line), None)
        before = hit is None and line in original_flagged
        note = "(the unmutated file has a finding on this line too)" if before else ""
        out.append(Verdict(**base, verdict="FN" if hit is None else "TP", line=line,
                           line_text=_text_at(text, line), code=hit.code if hit else "",
                           message=hit.message if hit else note, variants=",".join(variants)))
    return out + _findings(base, text, [f for f in new if f.line not in raised], usable)


def score_original(family: Family, file: str, text: str, runs: Mapping[str, Run]) -> list[Verdict]:
    """An FP for each TV101/TV102 on a call that ran in the unmutated file; unverifiable otherwise."""
    base: dict[str, Any] = dict(family=family.model_type, file=file, mutant=None, kind="original",
                                mutated_line=None, mutated_text="")
    return _findings(base, text, judged(text), runs)


# ---- one family ---------------------------------------------------------------------------------


@dataclass
class FamilyResult:
    family: str
    file: str
    skipped: str = ""
    variants: dict[str, str] = field(default_factory=dict)
    """Variant -> ``ok``, or why the unmutated file did not run with it."""
    original_findings: list[dict[str, Any]] = field(default_factory=list)
    """Every finding on the unmutated file, all codes."""
    mutants: list[dict[str, Any]] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    seconds: float = 0.0


def evaluate_family(family: Family, variants: tuple[str, ...], torch: Any) -> FamilyResult:
    import transformers

    start = time.perf_counter()
    folder = family.folder or family.model_type
    site = Path(transformers.__file__).parent
    source_path = site / "models" / folder / f"modeling_{folder}.py"
    file = str(source_path.relative_to(site.parent))
    result = FamilyResult(family.model_type, file)
    if not source_path.exists():
        result.skipped = f"no {file}"
        return result
    try:
        importlib.import_module(family.module)  # the real module: put back after every run
    except Exception as exc:
        result.skipped = f"import: {type(exc).__name__}: {str(exc)[:200]}"
        return result
    original = source_path.read_text()
    scratch = OUT / "scratch" / folder
    scratch.mkdir(parents=True, exist_ok=True)
    harness = Harness(family, torch)
    originals: dict[str, Run] = {}
    for variant in variants:
        run = harness.run(original, scratch / f"original_{variant}.py", variant)
        result.variants[variant] = "ok" if run.outcome == "ok" else f"{run.outcome}: {run.error}"
        if run.outcome == "ok":
            originals[variant] = run
    if not originals:
        result.skipped = "; ".join(f"{v}: {why}" for v, why in result.variants.items())
        return result
    result.original_findings = [asdict(f) for f in lint(original)]
    result.verdicts += score_original(family, file, original, originals)
    original_flagged = {f.line for f in judged(original)}
    for mutant in mutants(original):
        path = scratch / f"m{mutant.index:03d}.py"  # one file per mutant: tracebacks read the right text
        runs = {variant: harness.run(mutant.text, path, variant) for variant in originals}
        verdicts = score_mutant(family, file, mutant, runs, original_flagged)
        result.verdicts += verdicts
        result.mutants.append({
            "index": mutant.index,
            "kind": mutant.kind,
            "line": mutant.line,
            "original_text": _text_at(original, mutant.line),
            "mutated_text": _text_at(mutant.text, mutant.line),
            "scratch": str(path.relative_to(ROOT)),
            "reached": [v for v, r in originals.items() if mutant.call in r.calls],
            "runs": {v: r.as_dict() for v, r in runs.items()},
            "new_findings": [asdict(f) for f in judged(mutant.text) if f.line not in original_flagged],
            "verdicts": [v.verdict for v in verdicts],
        })
    result.seconds = time.perf_counter() - start
    return result


# ---- the report ---------------------------------------------------------------------------------

COUNTED = ("TP", "FN", "FP", "unverifiable", "outside")


def _ratio(num: int, den: int) -> str:
    return f"{num / den:.3f}" if den else "n/a"


def _raised(mutant: Mapping[str, Any]) -> bool:
    return any(r["outcome"] == "view-error" for r in mutant["runs"].values())


def summary(results: list[FamilyResult]) -> dict[str, Any]:
    ran = [r for r in results if not r.skipped]
    rows = [m for r in ran for m in r.mutants]
    outcomes = [{x["outcome"] for x in m["runs"].values()} for m in rows]
    verdicts = [v for r in ran for v in r.verdicts]
    count = {k: sum(v.verdict == k for v in verdicts) for k in COUNTED}
    per_code = {}
    for code in JUDGED:
        tally = {k: sum(v.verdict == k and v.code == code for v in verdicts)
                 for k in ("TP", "FP", "unverifiable")}
        per_code[code] = {**tally, "precision": _ratio(tally["TP"], tally["TP"] + tally["FP"])}
    by_kind = {}
    for kind in KINDS:
        these = [m for m in rows if m["kind"] == kind]
        by_kind[kind] = {
            "mutants": len(these),
            "mutated_call_ran": sum(bool(m["reached"]) for m in these),
            "raised": sum(_raised(m) for m in these),
            **{k: sum(v == k for m in these for v in m["verdicts"]) for k in COUNTED},
        }
    return {
        "families_run": len(ran),
        "families_skipped": len(results) - len(ran),
        "variant_runs": {v: sum(r.variants.get(v) == "ok" for r in ran) for v in VARIANTS},
        "mutants": len(rows),
        "mutated_call_ran": sum(bool(m["reached"]) for m in rows),
        "mutants_raising_view_error": sum("view-error" in o for o in outcomes),
        "mutants_broken": sum(o <= {"broken"} for o in outcomes),
        "mutants_with_a_broken_run": sum("broken" in o for o in outcomes),
        "true_negatives": sum(bool(m["reached"]) and o == {"ok"} and not m["verdicts"]
                              for m, o in zip(rows, outcomes)),
        "by_kind": by_kind,
        **count,
        "original_fp": sum(v.verdict == "FP" and v.mutant is None for v in verdicts),
        "precision": _ratio(count["TP"], count["TP"] + count["FP"]),
        "recall": _ratio(count["TP"], count["TP"] + count["FN"]),
        "recall_counting_outside": _ratio(count["TP"], count["TP"] + count["FN"] + count["outside"]),
        "per_code": per_code,
    }


def _mark(state: str | None) -> str:
    return "-" if state is None else "ok" if state == "ok" else "no"


def render(results: list[FamilyResult], seconds: float) -> str:
    s = summary(results)
    out = [f"mutant evaluation: {s['families_run']} families run, {s['families_skipped']} skipped, "
           f"{seconds:.0f} s", ""]
    out.append(f"{'family':<30} {'eager':>5} {'sdpa':>4} {'mutants':>7} {'ran':>4} {'raised':>6} "
               f"{'TP':>3} {'FN':>3} {'FP':>3} {'unver':>5} {'out':>3} {'s':>5}")
    for r in results:
        if r.skipped:
            continue
        n = {k: sum(v.verdict == k for v in r.verdicts) for k in COUNTED}
        out.append(
            f"{r.family:<30} {_mark(r.variants.get('eager')):>5} {_mark(r.variants.get('sdpa')):>4} "
            f"{len(r.mutants):>7} {sum(bool(m['reached']) for m in r.mutants):>4} "
            f"{sum(_raised(m) for m in r.mutants):>6} {n['TP']:>3} {n['FN']:>3} {n['FP']:>3} "
            f"{n['unverifiable']:>5} {n['outside']:>3} {r.seconds:>5.1f}"
        )
    out += ["", "(ran: the mutated call ran in the unmutated file; raised: a run of the mutant raised "
                "the view error)", "", "summary:"]
    out.append(f"  mutants {s['mutants']}; mutated call ran {s['mutated_call_ran']}; raised the view error "
               f"{s['mutants_raising_view_error']}; broken {s['mutants_broken']} "
               f"(a broken run in {s['mutants_with_a_broken_run']}); ran clean with no new finding "
               f"{s['true_negatives']}")
    for kind, k in s["by_kind"].items():
        out.append(f"  {kind:<19} mutants {k['mutants']:>3}  ran {k['mutated_call_ran']:>3}  raised "
                   f"{k['raised']:>3}  TP {k['TP']:>3}  FN {k['FN']:>3}  FP {k['FP']:>3}  "
                   f"unverifiable {k['unverifiable']:>3}  outside {k['outside']:>3}")
    out.append(f"  TP {s['TP']}  FN {s['FN']}  FP {s['FP']} (on unmutated files {s['original_fp']})  "
               f"unverifiable {s['unverifiable']}  raised outside the file {s['outside']}")
    out.append(f"  precision {s['precision']}  recall {s['recall']}  (outside raises counted as misses: "
               f"{s['recall_counting_outside']})")
    for code, t in s["per_code"].items():
        out.append(f"  {code}: TP {t['TP']}  FP {t['FP']}  unverifiable {t['unverifiable']}  "
                   f"precision {t['precision']}")
    skipped = [r for r in results if r.skipped]
    out += ["", f"skipped families ({len(skipped)}):"] + [f"  {r.family}: {r.skipped}" for r in skipped]
    partial = [(r.family, v, why) for r in results if not r.skipped
               for v, why in r.variants.items() if why != "ok"]
    out += ["", f"variants not run ({len(partial)}):"] + [f"  {f} {v}: {why[:140]}" for f, v, why in partial]
    for name in ("FN", "FP", "outside", "unverifiable"):
        items = [v for r in results for v in r.verdicts if v.verdict == name]
        out += ["", f"{name} ({len(items)}):"]
        for v in items:
            where = ("unmutated" if v.mutant is None
                     else f"mutant {v.mutant}, {v.kind} on line {v.mutated_line}: {v.mutated_text}")
            out.append(f"  {v.family} {v.file}:{v.line} [{v.variants or 'no run'}]")
            out.append(f"      {where}")
            if v.line_text:
                out.append(f"      line {v.line}: {v.line_text}")
            if v.outside:
                out.append(f"      raised at {v.outside}")
            if v.message:
                out.append(f"      {v.message}")
    other = [(r.family, r.file, f) for r in results for f in r.original_findings if f["code"] not in JUDGED]
    out += ["", f"findings on the unmutated files with codes these runs do not judge ({len(other)}):"]
    out += [f"  {family} {file}:{f['line']}: {f['message']}" for family, file, f in other]
    broken = [(r.family, m) for r in results for m in r.mutants
              if any(x["outcome"] == "broken" for x in m["runs"].values())]
    out += ["", f"mutants with a broken run ({len(broken)}):"]
    for family, m in broken:
        errors = sorted({x["error"][:140] for x in m["runs"].values() if x["outcome"] == "broken"})
        out.append(f"  {family} line {m['line']} ({m['kind']}): {'; '.join(errors)}")
    return "\n".join(out)


def linter_source() -> str:
    """Which linter these numbers are for: its folder, and for this checkout the commit and any
    uncommitted change under it (a run measures the working tree, not HEAD)."""
    import subprocess

    import flake8_tensorview
    import flake8_tensorview.linter  # noqa: F401

    folder = Path(flake8_tensorview.__file__).parent
    if folder.parent != ROOT:
        return str(folder)
    git = ["git", "-C", str(ROOT)]
    commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    commit_id = commit.stdout.strip()
    changed = subprocess.run([*git, "status", "--porcelain", "--", "flake8_tensorview"],
                             capture_output=True, text=True).stdout.split("\n")
    dirty = [line[3:] for line in changed if line.strip()]
    return f"{folder} at {commit_id}" + (f", uncommitted changes in {', '.join(dirty)}" if dirty else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="*", help="model types to run (default: all)")
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--json", type=Path, default=OUT / "results.json")
    args = parser.parse_args(argv)
    import torch
    from transformers.utils import logging

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    logging.set_verbosity_error()
    unknown = set(args.families or ()) - {f.model_type for f in FAMILIES}
    if unknown:
        parser.error(f"unknown families: {', '.join(sorted(unknown))}")
    chosen = [f for f in FAMILIES if not args.families or f.model_type in args.families]
    linter = linter_source()  # imports the linter now: later edits to its files do not reach this run
    start = time.perf_counter()
    results = []
    for family in chosen:
        print(f"{family.model_type} ...", file=sys.stderr, flush=True)
        results.append(evaluate_family(family, tuple(args.variants), torch))
    seconds = time.perf_counter() - start
    print(f"linter: {linter}")
    print(render(results, seconds))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "seconds": seconds,
        "linter": linter,
        "torch": torch.__version__,
        "transformers": importlib.import_module("transformers").__version__,
        "summary": summary(results),
        "families": [asdict(r) for r in results],
    }
    args.json.write_text(json.dumps(payload, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
