"""Shape hints from annotations: what a parameter's or a return's annotation says about a tensor.

A jaxtyping annotation (``Float[Tensor, "b h t d"]``) states a rank, or a lower bound when it has a
variadic part (``"*batch c"``, ``"... d"``), the names its dims bind and the sizes it fixes. The dim
string is read here by the same rules as jaxtyping's own parser (``_make_array_cached`` in
``jaxtyping/_array_types.py``, 0.3.x), without importing jaxtyping: a string jaxtyping would reject
gives no hint, because the program that holds it fails when the annotation is evaluated.

Read:
- ``<Dtype>[<array>, "<dims>"]`` where ``<Dtype>`` is one of jaxtyping's dtype classes and
  ``<array>`` is ``torch.Tensor`` (or ``nn.Parameter``), or a union with one of them in it (the hint
  holds whenever the value is a tensor). Nested ``Shaped[Float[Tensor, "h w"], "b"]`` prepends the
  outer dims, as jaxtyping does.
- ``Optional[X]``, ``Union[X, None]``, ``X | None``: the hint of X.
- ``Annotated[X, ...]``: the hint of X; the metadata is not read (see below).
- A quoted annotation (``"Float[Tensor, 'b t']"``), at any of these positions.

Not read, on purpose:
- A shape written as free text in ``Annotated[Tensor, "b t"]``. Real code writes prose there as
  often as dims (``"buffer"``, ``"Input tensor"``, ``"shape: (B, L, D)"``, ``"B C H W | B C T H W"``),
  and nothing marks which is which: reading ``"buffer"`` as a 1-D tensor named ``buffer`` would be a
  false fact.
- numpy and JAX arrays, torchtyping's ``TensorType[...]``, aliases (``Image = Float[Tensor, "c h
  w"]``: resolving them is the semantic model's job), f-string dim specs (their text is known only
  at run time), unions of two shaped tensors.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import libcst as cst

from .analysis import dotted
from .values import literal

Qualify = Callable[[str], "str | None"]
"""A dotted name as written (``jt.Float``) -> its qualified name (``jaxtyping.Float``), or None."""


@dataclass(frozen=True)
class AxisHint:
    """One dim of a shape spec. At most one of name, size and expr is set; none for ``_``/``...``."""

    name: str | None = None
    """The size name it binds (``b`` in ``"b t"``); the same name is the same size across the
    annotations of one call."""
    size: int | None = None
    """A literal size (``3`` in ``"b 3 h w"`` or ``"rgb=3"``)."""
    expr: str | None = None
    """A symbolic size as written (``dim-1``): one dim whose size is not a name of its own."""
    broadcastable: bool = False
    """``#name``: the size is the named (or literal) one, or 1."""


@dataclass(frozen=True)
class ShapeHint:
    """A tensor's shape as an annotation states it: the dims before the variadic part, the variadic
    part if any, the dims after it. Dims are positional from the front (head) and from the back
    (tail), which is how torch's negative dims address them."""

    head: tuple[AxisHint, ...] = ()
    variadic: AxisHint | None = None
    """``*name`` (named), ``...`` or ``*_`` (anonymous): any number of dims, possibly none."""
    tail: tuple[AxisHint, ...] = ()
    """Empty when there is no variadic part."""
    dtype: str | None = None
    """The jaxtyping dtype class (``Float``, ``Bool``, ``Shaped``); None when nesting leaves it
    undecided here."""

    @property
    def rank(self) -> int | None:
        """The exact rank, when the spec has no variadic part."""
        return len(self.head) if self.variadic is None else None

    @property
    def min_rank(self) -> int:
        return len(self.head) + len(self.tail)

    def axis(self, dim: int) -> AxisHint | None:
        """The hint for torch dim ``dim`` (negative counts from the end); None when the spec doesn't
        pin that position down (inside or across the variadic part) or the dim is out of range."""
        if self.variadic is None:
            in_range = -len(self.head) <= dim < len(self.head)
            return self.head[dim] if in_range else None
        if 0 <= dim < len(self.head):
            return self.head[dim]
        if -len(self.tail) <= dim < 0:
            return self.tail[dim]
        return None


# The dtype classes jaxtyping 0.3.11 exports. A dtype class the user defines (AbstractDtype
# subclasses, make_numpy_struct_dtype) can't be recognised without running the module.
DTYPES = frozenset(
    {
        "Shaped", "Bool", "Num", "Inexact", "Float", "Complex", "Integer", "UInt", "Int", "Real",
        "Key", "BFloat16", "Float16", "Float32", "Float64", "Complex64", "Complex128",
        "Float8e4m3b11fnuz", "Float8e4m3fn", "Float8e4m3fnuz", "Float8e5m2",
        "Float8e5m2fnuz", "UInt2", "UInt4", "UInt8", "UInt16", "UInt32", "UInt64",
        "Int2", "Int4", "Int8", "Int16", "Int32", "Int64",
    }
)

# nn.Parameter is a Tensor subclass: an annotation on it states the same shape facts.
TENSORS = frozenset(
    {"torch.Tensor", "torch._tensor.Tensor", "torch.nn.Parameter", "torch.nn.parameter.Parameter"}
)
OPTIONAL = frozenset({"typing.Optional", "typing_extensions.Optional"})
UNION = frozenset({"typing.Union", "typing_extensions.Union"})
ANNOTATED = frozenset({"typing.Annotated", "typing_extensions.Annotated"})

# Quoted annotations nest (a string holding a subscript holding a string); a bound keeps odd input
# from recursing without end.
_MAX_DEPTH = 12


def shape_hint(annotation: cst.BaseExpression, qualify: Qualify) -> ShapeHint | None:
    """The shape hint of a parameter or return annotation (``param.annotation.annotation``); None
    when it states no tensor shape, or one this module can't read faithfully. Never raises."""
    return _hint(annotation, qualify, 0)


def parse_dims(spec: str) -> ShapeHint | None:
    """A jaxtyping dim string (``"*batch #c h=3 dim-1 _"``) -> its dims, dtype unset; None where
    jaxtyping raises (two variadics, ``_4``, ``#_``, ``a,b``, ``**x``) or no tensor passes its check
    (``-1``, ``?x`` outside a PyTree)."""
    head: tuple[AxisHint, ...] = ()
    tail: tuple[AxisHint, ...] = ()
    variadic: AxisHint | None = None
    for elem in spec.split():
        parsed = _axis(elem)
        if parsed is None:
            return None
        axis, is_variadic = parsed
        if is_variadic:
            if variadic is not None:
                return None
            variadic = axis
        elif variadic is None:
            head += (axis,)
        else:
            tail += (axis,)
    return ShapeHint(head, variadic, tail)


def _axis(elem: str) -> tuple[AxisHint, bool] | None:
    """One whitespace-separated element -> (its hint, whether it is variadic); None where jaxtyping
    raises. The checks and their order are jaxtyping's."""
    if "," in elem and "(" not in elem:  # "a,b"; but "min(a,b)" is a symbolic size
        return None
    if elem.endswith("#"):  # the pre-0.1 spelling of broadcastable
        return None
    if "..." in elem:
        return (AxisHint(), True) if elem == "..." else None
    flags = ""
    while elem:
        first = elem[0]
        if first in "#*_?":
            if first in flags:
                return None
            flags += first
            elem = elem[1:]
        elif elem.count("=") == 1:
            elem = elem.split("=")[1]  # "rows=3" is 3: the left side only documents
        else:
            break
    broadcastable = "#" in flags
    variadic = "*" in flags
    anonymous = "_" in flags
    # "?name" binds per PyTree leaf, and jaxtyping refuses to check it outside PyTree[...], which
    # this module doesn't read.
    if "?" in flags:
        return None
    if not elem or elem.isidentifier():
        if anonymous:
            return None if broadcastable else (AxisHint(), variadic)
        # a bare "#" or "*" binds the empty name: a name no reader would match a view's target by
        return AxisHint(name=elem or None, broadcastable=broadcastable), variadic
    if variadic or anonymous:  # "*4", "_4", "*a+b", "_a+b"
        return None
    size = _int(elem)
    if size is None:
        return AxisHint(expr=elem, broadcastable=broadcastable), False
    # jaxtyping takes "-1" as a fixed size no tensor has; as a fact it would read as view's "infer".
    if size < 0:
        return None
    return AxisHint(size=size, broadcastable=broadcastable), False


def _int(text: str) -> int | None:
    # int() itself, not str.isdigit: jaxtyping decides fixed vs symbolic with int() ("+3", "3_0").
    try:
        return int(text)
    except ValueError:
        return None


def _hint(node: cst.BaseExpression, qualify: Qualify, depth: int) -> ShapeHint | None:
    if depth > _MAX_DEPTH:
        return None
    if isinstance(node, (cst.SimpleString, cst.ConcatenatedString)):
        quoted = _quoted(node)
        return None if quoted is None else _hint(quoted, qualify, depth + 1)
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.BitOr):
        return _one_of(_union_members(node), qualify, depth)
    if not isinstance(node, cst.Subscript):
        return None
    name = _qualified(node.value, qualify)
    args = _args(node)
    if name is None or args is None:
        return None
    if _is_dtype(name):
        return _array(name.rsplit(".", 1)[1], args, qualify, depth)
    if name in OPTIONAL and len(args) == 1:
        return _hint(args[0], qualify, depth + 1)
    if name in UNION:
        return _one_of(args, qualify, depth)
    if name in ANNOTATED and len(args) >= 2:
        return _hint(args[0], qualify, depth + 1)
    return None


def _array(
    dtype: str, args: Sequence[cst.BaseExpression], qualify: Qualify, depth: int
) -> ShapeHint | None:
    """``Dtype[array, "dims"]``, args already split."""
    if len(args) != 2:
        return None
    array, spec = args
    text = _text(spec)
    hint = None if text is None else parse_dims(text)
    if hint is None:
        return None
    hint = replace(hint, dtype=dtype)
    if _is_tensor_type(array, qualify, depth):
        return hint
    inner = _nested(array, qualify, depth + 1)
    return None if inner is None else _extend(hint, inner)


def _nested(node: cst.BaseExpression, qualify: Qualify, depth: int) -> ShapeHint | None:
    """The array argument when it is itself a jaxtyping array (``Float[Float[Tensor, "h w"], "b"]``);
    Optional/Annotated there are not arrays, so only a direct dtype subscript counts."""
    if depth > _MAX_DEPTH or not isinstance(node, cst.Subscript):
        return None
    name = _qualified(node.value, qualify)
    args = _args(node)
    if name is None or args is None or not _is_dtype(name):
        return None
    return _array(name.rsplit(".", 1)[1], args, qualify, depth)


def _extend(outer: ShapeHint, inner: ShapeHint) -> ShapeHint | None:
    """jaxtyping's nesting: the outer dims go in front of the inner ones; one variadic at most."""
    if outer.variadic is not None and inner.variadic is not None:
        return None
    if outer.dtype == "Shaped":
        dtype = inner.dtype
    elif inner.dtype in ("Shaped", outer.dtype):
        dtype = outer.dtype
    else:
        dtype = None  # the intersection of two dtype sets, e.g. Float of Float32: not tabled here
    if outer.variadic is not None:
        return ShapeHint(outer.head, outer.variadic, outer.tail + inner.head, dtype)
    return ShapeHint(outer.head + inner.head, inner.variadic, inner.tail, dtype)


def _is_tensor_type(node: cst.BaseExpression, qualify: Qualify, depth: int) -> bool:
    """torch.Tensor, or a union with a tensor type in it (``Tensor | np.ndarray``)."""
    if depth > _MAX_DEPTH:
        return False
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.BitOr):
        return any(_is_tensor_type(m, qualify, depth + 1) for m in _union_members(node))
    if isinstance(node, cst.Subscript):
        args = _args(node)
        return (
            args is not None
            and _qualified(node.value, qualify) in UNION
            and any(_is_tensor_type(a, qualify, depth + 1) for a in args)
        )
    return _qualified(node, qualify) in TENSORS


def _one_of(
    members: Sequence[cst.BaseExpression], qualify: Qualify, depth: int
) -> ShapeHint | None:
    """A union gives a hint only when one member is left besides None: two shaped members would
    need a join of their facts, which the callers have no use for yet."""
    rest = [m for m in members if not _is_none(m)]
    return _hint(rest[0], qualify, depth + 1) if len(rest) == 1 else None


def _union_members(node: cst.BaseExpression) -> tuple[cst.BaseExpression, ...]:
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.BitOr):
        return _union_members(node.left) + _union_members(node.right)
    return (node,)


def _is_none(node: cst.BaseExpression) -> bool:
    if isinstance(node, cst.Name):
        return node.value == "None"
    text = _text(node)
    return text is not None and text.strip() == "None"


def _args(node: cst.Subscript) -> tuple[cst.BaseExpression, ...] | None:
    """The subscript's arguments; ``X[(a, b)]`` is ``X[a, b]`` at run time. None for slices and
    starred arguments, which no form read here takes."""
    values = []
    for element in node.slice:
        index = element.slice
        if not isinstance(index, cst.Index) or index.star is not None:
            return None
        values.append(index.value)
    if len(values) == 1 and isinstance(values[0], cst.Tuple):
        if any(isinstance(e, cst.StarredElement) for e in values[0].elements):
            return None
        return tuple(e.value for e in values[0].elements)
    return tuple(values)


def _qualified(node: cst.BaseExpression, qualify: Qualify) -> str | None:
    name = dotted(node)
    return None if name is None else qualify(name)


def _is_dtype(qualified: str) -> bool:
    # jaxtyping re-exports from private modules; whatever the module path, the class name decides.
    module, _, name = qualified.rpartition(".")
    return (module == "jaxtyping" or module.startswith("jaxtyping.")) and name in DTYPES


def _text(node: cst.BaseExpression) -> str | None:
    """A string literal's value; None for bytes, f-strings (known only at run time) and non-strings."""
    if isinstance(node, cst.ConcatenatedString):
        left, right = _text(node.left), _text(node.right)
        return None if left is None or right is None else left + right
    if not isinstance(node, cst.SimpleString):
        return None
    value = literal(node.value)  # not a str for escapes libcst takes and Python refuses
    return value if isinstance(value, str) else None


def _quoted(node: cst.BaseExpression) -> cst.BaseExpression | None:
    """A quoted annotation's expression, parsed as typing's ForwardRef would (leading and trailing
    whitespace allowed)."""
    text = _text(node)
    if text is None:
        return None
    try:
        return cst.parse_expression(text.strip())
    # libcst's parser is foreign code run on arbitrary text: its failure modes on odd input
    # (syntax errors, recursion, its native parser's own errors) aren't all ParserSyntaxError, and a
    # hint is never worth a crash of the linter.
    except Exception:
        return None
