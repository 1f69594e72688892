"""The abstract values the dataflow walker tracks for each expression."""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass, field
from typing import Union

from .dims import Dim
from .layout import Tensor


@dataclass(frozen=True)
class IntV:
    """A literal integer (may be negative: ``-1`` in a view, ``dim=-1``)."""

    value: int


@dataclass(frozen=True)
class DimV:
    """A size: ``x.size(1)``, ``d_out // num_heads``, a name bound by ``b, t, c = x.shape``."""

    dim: Dim
    label: str | None = None
    guess: bool = False
    """Made by arithmetic on a value of unknown kind (``1 + f(x)`` of an unknown ``f``, a
    parameter): taken as a size, though it may be a tensor."""


@dataclass(frozen=True)
class TupleV:
    items: tuple[Value, ...]


@dataclass(frozen=True)
class ShapeV:
    """``x.shape`` / ``x.size()``: remembers which name to refine when it is unpacked."""

    key: str | None
    tensor: Tensor


@dataclass(frozen=True)
class PiecesV:
    """``split``/``chunk``/``unbind`` results: every piece has the same fact."""

    piece: Tensor
    count: int | None


@dataclass(frozen=True)
class ModuleV:
    """An ``nn.Module`` instance whose effect the op table knows (``nn.Linear(d_in, d_out)``)."""

    effect: str
    out: Dim | None = None
    config: object = None
    """What the module table's constructor reader kept (``batch_first``, ``out_channels``, ...)."""
    weights: str | None = None
    """The memory format ``.to(memory_format=...)`` gave its weights (``channels_last``): a conv
    with channels-last weights returns a channels-last output whatever its input."""


@dataclass(frozen=True)
class Opaque:
    """A name or attribute the analysis has no value for: a parameter, a global, ``self.scale``.

    Used as a size it is the atom ``key``; used as a tensor it is a contiguous tensor of unknown
    shape (parameters and module attributes are, in practice).
    """

    key: str


NOT_A_LITERAL = object()


@functools.lru_cache(maxsize=4096)
def literal(text: str) -> object:
    """The constant a literal's source text is (``"'same'"`` -> ``'same'``), else
    :data:`NOT_A_LITERAL`. Not ``ast.literal_eval`` (nor libcst's ``evaluated_value``, which calls
    it): each call of it leaves a cycle of closures for the collector to find."""
    try:
        node = ast.parse(text.strip(), mode="eval").body
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return NOT_A_LITERAL
    return node.value if isinstance(node, ast.Constant) else NOT_A_LITERAL


@dataclass(frozen=True)
class FunctionV:
    """A function this module defines; calling it evaluates its body with the arguments' facts.

    ``closure``: for a nested function, the environment of the function it is written in (it sees
    that scope's facts, as Python's closures do); not part of the value's identity."""

    qualname: str
    closure: object = field(default=None, compare=False, hash=False)


@dataclass(frozen=True)
class ClassV:
    """A class this module defines; calling it constructs an :class:`InstanceV`."""

    qualname: str


@dataclass(frozen=True)
class LibraryV:
    """A library ``nn`` module class or torch function named as a value rather than called where it
    is named (``norm_layer=nn.LayerNorm``, ``self.rnn_cell = getattr(nn, "GRU")``): calling it is
    calling the library, wherever the call is."""

    qualname: str


@dataclass(frozen=True)
class InstanceV:
    """An instance of a class of this module, with the ``self.`` facts its ``__init__`` left."""

    qualname: str
    state: tuple[tuple[str, Value], ...] = ()
    subst: tuple[tuple[str, Dim], ...] = ()


@dataclass(frozen=True)
class MethodV:
    """A method of an instance of this module's classes, taken without being called
    (``getattr(model, "forward")``, ``step = model.forward``): calling it calls the method on it."""

    instance: InstanceV
    qualname: str


@dataclass(frozen=True)
class PartialV:
    """``functools.partial(f, *pos, **kw)`` of a callable value: calling it calls ``f`` with these
    arguments first (open_lm's ``partial(custom_attn, attn_activation=...)``)."""

    func: Value
    pos: tuple[Value, ...]
    kw: tuple[tuple[str, Value], ...]


@dataclass(frozen=True)
class ListV:
    """A list, ``nn.ModuleList`` or ``nn.Sequential`` of values: ``items`` in order, or, when
    ``repeated``, one item standing for all (``[Block(c) for _ in range(n)]``)."""

    items: tuple[Value, ...]
    repeated: bool = False
    sequential: bool = False
    """Calling it calls each item on the previous one's output (``nn.Sequential``)."""


@dataclass(frozen=True)
class EitherV:
    """One of several callables, by a branch the analysis cannot decide
    (``eager_attention if impl == "eager" else sdpa_attention``): calling it joins their results."""

    options: tuple[Value, ...]


@dataclass(frozen=True)
class DictV:
    """A dict literal with string keys (``{"batch_size": b, "num_patches": n}``), read back by
    constant keys: sizes handed from one function to another in a dict keep their facts."""

    items: tuple[tuple[str, Value], ...]

    def get(self, key: str) -> Value | None:
        return next((v for k, v in self.items if k == key), None)


@dataclass(frozen=True)
class PackedV:
    """A ``PackedSequence``: its ``.data`` is a dense ``(N, *features)`` tensor of every time step
    of every sequence; ``pad_packed_sequence`` lays it out again (see :mod:`modules`)."""

    data: Tensor


@dataclass(frozen=True)
class SliceV:
    """``slice(start, stop)`` bound to a name and used as an index (``mask[rows, :end]``): the
    bounds as sizes, None where absent or unknown."""

    lower: int | Dim | None
    upper: int | Dim | None
    step: int | Dim | None


@dataclass(frozen=True)
class UnknownV:
    """The result of something the analysis does not model: no facts, no diagnosis."""


UNKNOWN = UnknownV()

Value = Union[
    IntV, DimV, TupleV, DictV, ShapeV, PiecesV, ModuleV, FunctionV, ClassV, LibraryV, InstanceV, MethodV, PartialV,
    ListV, EitherV, Opaque, SliceV,
    PackedV, UnknownV, Tensor,
]
