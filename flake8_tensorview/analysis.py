"""The interpreter: one pass over a function body that tracks a fact per tensor value.

Names resolve through the module's semantic model (:mod:`semantic`): a call reaches an op-table
row, a library ``nn`` module, or a function or class of this module, whose body is evaluated with
the arguments' facts (a summary, memoised per function and argument facts; see :meth:`Walker.invoke`).
A function that nothing in the module calls is evaluated once with the prior: its parameters are
contiguous tensors of unknown shape.

Rules do not walk the tree themselves; they read the sites recorded here (:class:`ViewSite`,
:class:`MaskSite`), each carrying the facts known about its operands at that point of the program
(one site per context a function was evaluated in).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from operator import ge, gt, le, lt

import libcst as cst

from . import modules, ops
from .codetext import code
from .dims import Dim
from .layout import Origin, Shape, Tensor, either_size, resolve_target, widened
from .semantic import MODULE, Semantic
from .values import (
    UNKNOWN,
    ClassV,
    DictV,
    DimV,
    FunctionV,
    InstanceV,
    IntV,
    LibraryV,
    ListV,
    MethodV,
    ModuleV,
    NOT_A_LITERAL,
    Opaque,
    PackedV,
    PartialV,
    PiecesV,
    ShapeV,
    SliceV,
    TupleV,
    UnknownV,
    EitherV,
    Value,
    literal,
)

FUNCTION_TABLES = {
    "torch": ops.TORCH_FUNCTIONS, "torch.nn.functional": ops.FUNCTIONAL, "torch.Tensor": ops.METHODS,
    "torch.linalg": ops.TORCH_FUNCTIONS,
}
"""Qualified namespaces whose functions are op-table rows, and the table of the form they take."""
PRIOR = Tensor(contiguous=True, prior=True)
"""A parameter or attribute with no facts: see :attr:`Tensor.prior` (and ``docs/rules.md``)."""
STAR = Opaque("*")
"""A ``*args`` whose length is unknown: size lists containing it cannot be read."""
NEVER_TENSORS = {"self", "cls", "None", "True", "False", STAR.key}

MAX_LOOP_PASSES = 4
STATEMENT_BUDGET = 200_000
"""Statements one file may cost (loops are walked more than once): bounds pathological input."""
MAX_CALL_DEPTH = 12
"""Nested evaluations of the module's own functions; deeper calls give no facts."""
MAX_EVALUATIONS = 2_000
"""Calls of the module's own functions one file may evaluate (memoised ones are free; the prior
runs of uncalled functions are bounded by ``STATEMENT_BUDGET``): bounds call-heavy modules."""


class BudgetExhausted(Exception):
    """The file cost more than STATEMENT_BUDGET statements; what remains is left unanalysed."""


@dataclass(frozen=True)
class ViewSite:
    """A ``.view(...)`` call and what was known when it ran (in one context of its function)."""

    attr: cst.Attribute
    tensor: Tensor
    target: Shape | None
    function: str = MODULE
    """The qualname of the function it is in."""
    sizes: tuple[Dim | None, ...] | None = None
    """The sizes asked for as written (None for ``-1``), when ``target`` cannot be pinned down."""
    split: int | None = None
    """The context whose body a rank test split into paths (see :meth:`Walker.body`), when it ran
    on one of them: the view is reported only if it raises on all of them."""


@dataclass(frozen=True)
class DiscardedSite:
    """A call whose result an expression statement throws away (``x.masked_fill(m, 0)`` alone on
    its line); what its receiver and arguments were is in :attr:`Walker.facts`."""

    call: cst.Call
    function: str = MODULE
    statement: cst.Expr | None = None
    """The expression statement that holds the call (a fix makes it an assignment)."""


@dataclass(frozen=True)
class Summary:
    """What a call of the module's own function gives its caller."""

    result: Value
    state: tuple[tuple[str, Value], ...] | None
    """A method's ``self.`` facts afterwards (None: not a method, or no facts)."""
    subst: tuple[tuple[str, Dim], ...] = ()


NO_SUMMARY = Summary(UNKNOWN, None)


@dataclass
class Frame:
    """One evaluation of a function body: where its sites go and what it returns."""

    qualname: str
    owner: str | None
    """The class whose method this is (``self.m()`` resolves there)."""
    context: int
    top: int
    returns: list[Value] = field(default_factory=list)
    exits: list[Env] = field(default_factory=list)
    """The paths at each ``return``: the ``self.`` state a method leaves is their join."""
    split: int | None = None
    """Set once the body has split into paths (:meth:`Walker.body`): they are not split again."""
    klass: str | None = None
    """The class of ``self`` when the call says (an instance of a subclass of ``owner``): Python
    looks ``self.m`` up on ``type(self)``, so a base's method reaches a method only the subclass
    defines (a template method's ``self._score(x, seq)``)."""


@dataclass(frozen=True)
class MaskSite:
    """A ``masked_fill``/``masked_fill_`` call: the filled tensor and the mask expression."""

    call: cst.Call
    tensor: Tensor
    mask: cst.BaseExpression
    mask_value: Value
    in_place: bool
    split: int | None = None
    """As :attr:`ViewSite.split`; the paths of one split share the site, their facts joined."""


@dataclass
class Env:
    vars: dict[str, Value] = field(default_factory=dict)
    subst: dict[str, Dim] = field(default_factory=dict)
    defs: dict[str, int] = field(default_factory=dict)
    """name -> the binding (assignment target node id) it holds now, for def-use questions."""
    ended: bool = False
    """This path has returned or raised: nothing after it runs, and it joins no other path."""

    def copy(self) -> Env:
        return Env(dict(self.vars), dict(self.subst), dict(self.defs), self.ended)


def join_values(a: Value, b: Value) -> Value:
    out = _join(a, b)
    if isinstance(out, Tensor) and isinstance(a, Tensor) and isinstance(b, Tensor) and (a.inserted_at or b.inserted_at):
        if a.inserted == b.inserted and (not a.inserted or a.rank == b.rank and out.rank in (a.rank, None)):
            # both put as many size-1 dims in front (``mask_local[..., -k:]`` or ``mask_global``): so
            # does the join, and any of their chains may have put them there. With none in front,
            # the chains carried are moot (see ``Walker.absorbers``): each path's value is the same
            # without them whatever its rank, so the join's is too (``keep`` from ``block_keep &
            # padding_mask`` on one path, ``block_keep & ~future`` of unknown rank on the other)
            out = replace(out, inserted=a.inserted, inserted_at=a.inserted_at | b.inserted_at)
        elif out.inserted_at:
            out = replace(out, inserted_at=frozenset())
    return out


def _join(a: Value, b: Value) -> Value:
    if a == b:
        return a
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        if a.shape == b.shape and a.strides == b.strides:
            out = a if a.origin is not None else b
            return out if a.settled == b.settled else replace(out, canonical=None)
        if a.shape is not None and a.shape == b.shape:
            return Tensor(a.shape, None, False, a.labels)
        if (same_order := widened(a, b)) is not None:
            return same_order
        if a.shape is not None and b.shape is not None and len(a.shape) == len(b.shape):
            # the same rank, sizes that differ (``apply_rope`` on one path): the rank is a fact, each
            # differing size one of its own, the layout only when both are contiguous
            shape = tuple(x if x == y else either_size(x, y) for x, y in zip(a.shape, b.shape))
            labels = tuple(p if p == q else None for p, q in zip(a.labels or (), b.labels or ())) or None
            return Tensor.dense(shape, labels) if a.contiguous and b.contiguous else Tensor(shape, None, False, labels)
        if a.contiguous and b.contiguous:  # ranks that differ or are unknown: still contiguous
            return Tensor(contiguous=True, assumed=tuple(dict.fromkeys(a.assumed + b.assumed)))
        return Tensor()
    if isinstance(a, TupleV) and isinstance(b, TupleV) and len(a.items) == len(b.items):
        if STAR not in a.items and STAR not in b.items:
            # a tuple of one length on both paths (``output, h_n`` of a GRU or an LSTM chosen on an
            # ``if``): its items unpack one by one, each the join of what either path put there
            return TupleV(tuple(join_values(x, y) for x, y in zip(a.items, b.items)))
    if isinstance(a, (TupleV, ListV)) and isinstance(b, (TupleV, ListV)) and (grown := _grown(a, b)) is not None:
        return grown
    if isinstance(a, DictV) and isinstance(b, DictV) and [k for k, _ in a.items] == [k for k, _ in b.items]:
        return DictV(tuple((k, join_values(x, y)) for (k, x), (_, y) in zip(a.items, b.items)))
    if _callable(a) and _callable(b):
        options = [*(a.options if isinstance(a, EitherV) else (a,)), *(b.options if isinstance(b, EitherV) else (b,))]
        return EitherV(tuple(dict.fromkeys(options)))
    return UNKNOWN


def _grown(a: TupleV | ListV, b: TupleV | ListV) -> ListV | None:
    """The join of a list that ``append`` grew (one item standing for all) with the same list
    before it grew (``[]`` where a loop has not run, ``nn.ModuleList([first])``) or grown on another
    path: a list of unknown length, its item the join of every item; None for anything else."""
    if not any(isinstance(v, ListV) and v.repeated for v in (a, b)) or any(
            isinstance(v, ListV) and v.sequential for v in (a, b)):
        return None
    items = [*a.items, *b.items]
    item = items[0]
    for other in items[1:]:
        item = join_values(item, other)
    return ListV((item,), repeated=True)


def appended(items: TupleV | ListV, item: Value) -> ListV:
    """``items`` after ``items.append(item)``: a list whose length the analysis does not follow
    (appends run in loops), its one item the join of all that went in."""
    for old in items.items:
        item = join_values(old, item)
    return ListV((item,), repeated=True)


def join_envs(a: Env, b: Env, tainted: set[int]) -> Env:
    """Merge two paths. A name bound differently on each path reaches its uses from both
    bindings: those bindings go into ``tainted`` (their uses are no longer all known). A path that
    has returned or raised goes on nowhere: the other is what comes after (``if not hwc: return x``)."""
    if a.ended != b.ended:
        return (b if a.ended else a).copy()
    out = Env(subst={k: v for k, v in a.subst.items() if b.subst.get(k) == v}, ended=a.ended)
    for key in a.defs.keys() | b.defs.keys():
        if a.defs.get(key) == b.defs.get(key):
            out.defs[key] = a.defs[key]
        else:
            tainted.update(d for d in (a.defs.get(key), b.defs.get(key)) if d is not None)
    for key in a.vars.keys() | b.vars.keys():
        if key in a.vars and key in b.vars:
            out.vars[key] = join_values(a.vars[key], b.vars[key])
        elif key in (b.defs if key in a.vars else a.defs):
            # bound on the other path too, with no facts (a parameter: ``if x.dim() == 3: x = ...``)
            known = a.vars[key] if key in a.vars else b.vars[key]
            joined = join_values(known, replace(PRIOR, assumed=(key,))) if isinstance(known, Tensor) else UNKNOWN
            if isinstance(joined, Tensor) and known.inserted_at:  # type: ignore[union-attr]
                # a chain on one path only (``if m.dim() == 2: m = m[None, None]``): where the mask
                # is used, what it inserted is what matters to TV201; the other path inserts nothing
                joined = replace(joined, inserted=known.inserted, inserted_at=known.inserted_at)  # type: ignore[union-attr]
            out.vars[key] = joined
        else:  # bound on this path only: where it is read, this path ran
            out.vars[key] = a.vars[key] if key in a.vars else b.vars[key]
    return out


def dotted(node: cst.BaseExpression) -> str | None:
    if type(node) is cst.Name:  # libcst's node classes are ABCs: ``is`` spares their isinstance hook
        return node.value
    if type(node) is cst.Attribute:
        base = dotted(node.value)
        return None if base is None else f"{base}.{node.attr.value}"
    return None


def _plain(node: cst.BaseExpression) -> bool:
    """A dotted name written without parentheses or spaces: its code is its dotted key."""
    while type(node) is cst.Attribute:
        if node.lpar or not all(_no_space(ws) for ws in (node.dot.whitespace_before, node.dot.whitespace_after)):
            return False
        node = node.value
    return type(node) is cst.Name and not node.lpar


def _no_space(ws: cst.BaseParenthesizableWhitespace) -> bool:
    return type(ws) is cst.SimpleWhitespace and not ws.value


class LazyTexts(Sequence[str]):
    """Argument texts, rendered only when an effect reads one: codegen is the expensive part."""

    def __init__(self, items: Sequence[cst.CSTNode | str], render: Callable[[cst.CSTNode], str]) -> None:
        self.items = items
        self.render = render

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index):  # type: ignore[no-untyped-def, override]
        if isinstance(index, slice):
            return LazyTexts(self.items[index], self.render)
        item = self.items[index]
        return item if isinstance(item, str) else self.render(item)


def _holds_tensor(value: Value) -> bool:
    """A tensor, or a tuple, list or dict with a tensor among its items (``(data, sample_rate)``)."""
    if isinstance(value, Tensor):
        return True
    items = value.items if isinstance(value, (TupleV, ListV)) else [v for _, v in value.items] if isinstance(value, DictV) else ()
    return any(isinstance(item, Tensor) for item in items)


def _number_like(value: Value, node: cst.BaseExpression | None) -> bool:
    """An operand of size arithmetic that is no tensor: an integer, a size, a constant, ``math.pi``."""
    if isinstance(node, (cst.Float, cst.Integer)):
        return True
    if isinstance(value, Opaque):
        return _constant(value.key) or value.key.startswith("math.")
    return ops.number(value)


def _constant(key: str) -> bool:
    """An :class:`Opaque` that is no tensor and no size: ``self``, ``None``, a flag, a string, a
    float literal (``alpha=1.0``)."""
    return key in NEVER_TENSORS or key[:1] in "'\"0123456789."


def _unit(qualname: str) -> str:
    """The unit of the call graph a function belongs to: a nested function's outermost function."""
    return qualname.split(".<locals>.")[0].split("#")[0]


def _literal_size(value: Value) -> bool:
    """A non-negative literal integer: a size (``d_out=2``), where a negative one is a dim (``-1``)."""
    return isinstance(value, IntV) and value.value >= 0 or isinstance(value, DimV) and value.dim.literal is not None


def _truth(value: Value) -> bool | None:
    """Whether a test value is true, when it is a constant (``None``, a flag, a literal int)."""
    if isinstance(value, Opaque) and value.key in ("None", "True", "False"):
        return value.key == "True"
    if isinstance(value, IntV):
        return bool(value.value)
    if isinstance(value, DimV) and value.dim.literal is not None:
        return bool(value.dim.literal)  # a size the call site fixed (``if pos:`` given ``x.size(0)``)
    return None


_RANK_PROBES = frozenset({"dim", "ndim", "ndimension"})


def _tests_rank(stmt: cst.If) -> bool:
    """Whether a test of the ``if``/``elif`` chain reads a rank: ``x.dim()``, ``x.ndim``, ``len(...)``."""
    node: cst.CSTNode = stmt
    while isinstance(node, cst.If):
        stack: list[cst.CSTNode] = [node.test]
        while stack:
            expr = stack.pop()
            kind = type(expr)
            if kind is cst.Attribute and expr.attr.value in _RANK_PROBES:
                return True
            if kind is cst.Call and type(expr.func) is cst.Name and expr.func.value == "len":
                return True
            if kind not in _TOKENS:
                stack.extend(_subnodes(expr))
        node = node.orelse
    return False


_TOKENS = frozenset({
    cst.Name, cst.Integer, cst.SimpleString, cst.SimpleWhitespace,
    cst.LeftParen, cst.RightParen, cst.Comma, cst.Dot,
})
"""The commonest nodes that hold no expression: a test's search need not look inside them."""


def _subnodes(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """The nodes ``node`` holds, as libcst's ``children`` lists them (in another order) without
    its cost: ``children`` rebuilds the node through a visitor to collect them."""
    for name in node.__dataclass_fields__:
        value = getattr(node, name)
        if isinstance(value, cst.CSTNode):
            yield value
        elif type(value) is tuple or type(value) is list:
            yield from (item for item in value if isinstance(item, cst.CSTNode))


def _ranks_differ(paths: list[Env]) -> bool:
    """Whether a name holds a tensor of known rank on every path, not the same rank on all."""
    for key in paths[0].vars:
        values = [path.vars.get(key) for path in paths]
        if all(isinstance(v, Tensor) and v.shape is not None for v in values):
            if len({len(v.shape) for v in values}) > 1:  # type: ignore[union-attr, arg-type]
                return True
    return False


def _is_none(node: cst.BaseExpression) -> bool:
    return type(node) is cst.Name and node.value == "None"


def insertion_operand(node: cst.BaseExpression) -> cst.BaseExpression | None:
    """The tensor operand of an op that may insert leading dims (``x.unsqueeze(0)``,
    ``torch.unsqueeze(x, 0)``, ``x.view(1, 1, t, t)``, ``x[None]``); None for anything else."""
    if type(node) is cst.Subscript:
        return node.value
    if type(node) is cst.Call and type(node.func) is cst.Attribute and node.func.attr.value in ("unsqueeze", "view", "reshape"):
        if dotted(node.func.value) == "torch":
            return node.args[0].value if node.args else None
        return node.func.value
    return None


def _brief(args: str) -> str:
    """A call's arguments as a message quotes them: ``...`` when they would not fit on a line
    (``torch.stft(...)``, ten keywords long)."""
    return args if len(args) <= 40 else "..."


def _string(node: cst.BaseExpression | None) -> str | None:
    """The value of a string literal (``"batch_size"``), else None."""
    if not isinstance(node, cst.SimpleString):
        return None
    text = literal(node.value)
    return text if isinstance(text, str) else None


def _default(node: cst.BaseExpression | None) -> Value | None:
    """A parameter's default when it is a constant (``norm_layer=None``, ``flatten=True``, ``p=0``)."""
    if isinstance(node, cst.Name) and node.value in ("None", "True", "False"):
        return Opaque(node.value)
    if isinstance(node, cst.Integer):
        try:
            return IntV(int(node.value.replace("_", ""), 0))
        except ValueError:
            return None
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus):
        inner = _default(node.expression)
        return IntV(-inner.value) if isinstance(inner, IntV) else None
    if isinstance(node, cst.SimpleString):
        text = _string(node)
        return Opaque(repr(text)) if text is not None else None
    if isinstance(node, cst.Float):  # ``alpha=1.0``: a Python scalar, so ``alpha * x`` keeps x's layout
        return Opaque(node.value)
    return None


def _callable(value: Value | None) -> bool:
    return isinstance(value, (ModuleV, FunctionV, ClassV, LibraryV, InstanceV, MethodV, PartialV, EitherV)) or (
        isinstance(value, ListV) and value.sequential
    )


_CASES = frozenset({"upper", "lower", "strip", "capitalize", "title"})
"""``str`` methods without arguments that a constant string keeps constant through."""


def _constant_of(value: Value) -> object:
    """The Python constant a value is (``None``, a flag, an int, a string), or ``NOT_A_LITERAL``."""
    if isinstance(value, IntV):
        return value.value
    if isinstance(value, DimV) and value.dim.literal is not None and not value.guess:
        return value.dim.literal  # ``logits.size(1) != ys.size(1)`` of sizes a call gave
    if isinstance(value, Opaque):
        if value.key in ("None", "True", "False"):
            return {"None": None, "True": True, "False": False}[value.key]
        if value.key[:1] in "'\"":
            return literal(value.key)
    return NOT_A_LITERAL


def _compared(left: Value, operator: cst.BaseCompOp, right: Value) -> Value:
    """``impl == "eager"``, ``mask is None`` between constants: a constant flag, which prunes branches."""
    a, b = _constant_of(left), _constant_of(right)
    if a is NOT_A_LITERAL or b is NOT_A_LITERAL:
        return UNKNOWN
    if isinstance(operator, (cst.Equal, cst.NotEqual)):
        result = a == b
    elif isinstance(operator, (cst.Is, cst.IsNot)) and any(c is None or isinstance(c, bool) for c in (a, b)):
        result = a is b
    elif type(operator) in _ORDER and type(a) is int and type(b) is int:  # ``C > 1`` with C=3 passed
        return Opaque(str(_ORDER[type(operator)](a, b)))
    else:
        return UNKNOWN
    return Opaque(str(result != isinstance(operator, (cst.NotEqual, cst.IsNot))))


_ORDER: dict[type, Callable[[int, int], bool]] = {
    cst.LessThan: lt, cst.LessThanEqual: le, cst.GreaterThan: gt, cst.GreaterThanEqual: ge,
}


def _instance_env(instance: InstanceV) -> Env:
    return Env(dict(instance.state), dict(instance.subst))


def each_backend(effect: Callable[[Tensor, ops.Args], Value], t: Tensor, a: ops.Args) -> Value:
    """``effect`` on ``t``, and on each layout ``t`` has under another kernel (SDPA's backends):
    the result keeps them while every op on the way is one the table models. A layout made from
    ``t``'s rests on the priors ``t``'s does."""
    scalars_only = effect is ops.elementwise and not any(isinstance(v, Tensor) for v in (*a.pos, *a.kw.values()))
    # ``m.eq(0)``, ``m.mul(2.0)``: the operand's dims, one for one, as ``m == 0`` keeps them
    result = keeping_dims(t, assuming(t, effect(t, a), effect), ops.in_place if scalars_only else effect)
    if not t.backends:
        return result
    variants = []
    for name, variant in t.backends:
        out = effect(variant, a)
        if not isinstance(out, Tensor) or out.shape is None:
            return result
        variants.append((name, out))
    first = variants[0][1]
    if all(v.strides is not None and v.strides == first.strides for _, v in variants):
        return first  # the kernels agree from here on (``.contiguous()``)
    if any(v.shape != first.shape for _, v in variants):
        return result
    base = result if isinstance(result, Tensor) else Tensor(first.shape, None, False, first.labels, first.origin)
    return replace(base, strides=None, contiguous=False, backends=tuple(variants))


KEEPS_DIMS = (ops.convert, ops.in_place, ops.like)
"""Effects whose result has the input's dims, one for one (``m.bool()``, ``torch.logical_not(m)``):
dims inserted in front of the input are still in front of the result."""


def keeping_dims(t: Tensor, result: Value, effect: object) -> Value:
    """``result`` with ``t``'s inserted leading dims (or the chains made moot before it: see
    :attr:`Walker.absorbers`), when ``effect`` keeps every dim."""
    if (t.inserted or t.inserted_at) and effect in KEEPS_DIMS and isinstance(result, Tensor) and result.rank == t.rank and not result.inserted:
        return replace(result, inserted=t.inserted, inserted_at=t.inserted_at)
    return result


def _operands(node: cst.CSTNode) -> list[cst.BaseExpression]:
    """The two operands of a binary op or of a comparison with one operator."""
    if type(node) is cst.BinaryOperation:
        return [node.left, node.right]
    if type(node) is cst.Comparison and len(node.comparisons) == 1:
        return [node.left, node.comparisons[0].comparator]
    return []


def _rank_at_least(node: cst.BaseExpression) -> int | None:
    """What the syntax says of a rank the facts do not know: ``x[:, None, :, None]`` has at least
    four dims, one per slice and per ``None``, whatever ``x`` is."""
    if type(node) is not cst.Subscript:
        return None
    return sum(1 for e in node.slice if isinstance(e.slice, cst.Slice) or (
        isinstance(e.slice, cst.Index) and type(e.slice.value) is cst.Name and e.slice.value.value == "None")) or None


def _is_super(node: cst.BaseExpression) -> bool:
    """``super()`` (or ``super(Cls, self)``)."""
    return type(node) is cst.Call and type(node.func) is cst.Name and node.func.value == "super"


def mask_op(node: cst.CSTNode) -> bool:
    """A comparison, or ``&``, ``|``, ``^``: an op that makes or combines masks."""
    return type(node) is cst.Comparison or (
        type(node) is cst.BinaryOperation and isinstance(node.operator, (cst.BitAnd, cst.BitOr, cst.BitXor)))


def assuming(t: Tensor, result: Value, effect: object = None) -> Value:
    """``result``, made from ``t`` (by ``effect``), resting on the priors ``t`` rests on, unless it
    is a new dense tensor whatever ``t``'s layout was (``.contiguous()``, ``softmax``)."""
    if not t.assumed or not isinstance(result, Tensor) or result.assumed or effect in ops.DENSE_EFFECTS:
        return result
    return replace(result, assumed=t.assumed)


def _with_weights(value: Value, fmt: str | None) -> Value:
    """``model.to(memory_format=fmt)``: every library module in it with its weights in ``fmt``
    (``"?"``: a format that cannot be read, so no conv output is known)."""
    if isinstance(value, ModuleV):
        config = value.config
        if isinstance(config, modules.Children):  # a Sequential of library modules: each of them
            config = replace(config, modules=tuple(_with_weights(m, fmt) for m in config.modules))
        return replace(value, weights=fmt, config=None if fmt == "?" else config)
    if isinstance(value, ListV):
        return replace(value, items=tuple(_with_weights(item, fmt) for item in value.items))
    if isinstance(value, InstanceV):
        return replace(value, state=tuple((key, _with_weights(item, fmt)) for key, item in value.state))
    if isinstance(value, EitherV):
        return EitherV(tuple(_with_weights(option, fmt) for option in value.options))
    return value


def _item(value: Value) -> Value:
    """What a ``for`` over ``value`` binds each time: the join of a list's (or module list's) items;
    for a tensor, ``t[i]`` (``Tensor.__iter__`` unbinds dim 0: each item a view with its strides)."""
    if isinstance(value, (ListV, TupleV)) and value.items:
        out = value.items[0]
        for other in value.items[1:]:
            out = join_values(out, other)
        return out
    if isinstance(value, Tensor) and value.shape:
        return ops.select_first(value)
    return UNKNOWN


def _transposed(rows: Value) -> TupleV | None:
    """What ``zip(*rows)`` yields for a list of tuples of one length: a tuple per position, of that
    item of every row (a list of unknown length when the rows are ``repeated``; ``zip`` stops at
    the shortest row, and unpacking it into names raises if there were no rows at all)."""
    if not isinstance(rows, ListV) or not rows.items or not all(isinstance(r, TupleV) for r in rows.items):
        return None
    widths = {len(r.items) for r in rows.items}  # type: ignore[union-attr]
    if len(widths) != 1:
        return None
    columns = [TupleV(tuple(r.items[i] for r in rows.items)) for i in range(widths.pop())]  # type: ignore[union-attr]
    if rows.repeated:
        return TupleV(tuple(ListV((_item(column),), repeated=True) for column in columns))
    return TupleV(tuple(columns))


def _before_star(pos: list[Value]) -> list[Value]:
    """Positional arguments up to a ``*args`` of unknown length (after it, positions are unknown)."""
    return pos[: pos.index(STAR)] if STAR in pos else pos


def _bind_param(env: Env, name: str, value: Value) -> None:
    """A parameter takes the argument's facts; an argument without any (an unknown call's result)
    leaves it the prior, as for a function nothing calls."""
    if isinstance(value, UnknownV):
        env.vars.pop(name, None)
    else:
        env.vars[name] = value
    env.defs.pop(name, None)


def _blocks(stmt: cst.CSTNode) -> list[Sequence[cst.BaseStatement]]:
    """The statement blocks of a compound statement (body, else, handlers, finally)."""
    out: list[Sequence[cst.BaseStatement]] = []
    for part in (getattr(stmt, "body", None), getattr(stmt, "orelse", None), getattr(stmt, "finalbody", None),
                 *getattr(stmt, "handlers", ())):
        while part is not None and not isinstance(part, cst.BaseSuite) and hasattr(part, "body"):
            part = part.body  # Else, ExceptHandler, Finally wrap their suite
        if isinstance(part, cst.IndentedBlock):
            out.append(part.body)
    return out


def normalize(t: Tensor, subst: dict[str, Dim]) -> Tensor:
    if not subst or t.shape is None:
        return t
    shape = tuple(d.substitute(subst) for d in t.shape)
    strides = None if t.strides is None else tuple(d.substitute(subst) for d in t.strides)
    backends = tuple((name, normalize(variant, subst)) for name, variant in t.backends)
    if shape == t.shape and strides == t.strides and backends == t.backends:
        return t  # no size of it is substituted (most are not): spares building it again
    canonical = shape if t.settled else None
    return replace(t, shape=shape, strides=strides, backends=backends, canonical=canonical)


MAX_RANGE = 8
"""The longest ``list(range(...))`` read item by item: dims to permute by, not a loop's counter."""

AUTOGRAD_FUNCTION = ("torch.autograd.Function", "torch.autograd.function.Function")
"""Bases of a custom autograd function: ``Fn.apply(*args)`` runs ``Fn.forward(ctx, *args)``."""

SEQUENTIAL = ("torch.nn.Sequential", "torch.nn.modules.container.Sequential")
CHILDREN = "self.<children>"
"""Where the ``self.`` state of a subclass of ``nn.Sequential`` keeps the modules its
``super().__init__(...)`` was given: an instance without a ``forward`` of its own runs them."""

SHAPING = (ops.view, ops.reshape)
"""Ops whose result has a shape of its own, whatever the receiver: ``.view(b, t, h, d)`` of an
unknown call's result is a tensor of that shape if it runs at all."""


class Walker:
    """Interprets one module: its module-level code in order, then each function that nothing has
    evaluated yet, with the prior; calls of the module's own functions and classes are evaluated
    with their arguments' facts, memoised, bounded in depth and count."""

    def __init__(
        self, module: cst.Module, semantic: Semantic, scope: frozenset[str] = frozenset(),
        stored: dict[str, Value] | None = None,
    ) -> None:
        self.module = module
        self.semantic = semantic
        self.stored: dict[str, Value] = dict(stored or {})
        """Module-level dict (:attr:`Semantic.containers`) -> the join of the tensors any evaluation
        stored into it, under any key (``_FILES[path] = (data, rate)``): what a read of it gives."""
        self.read_from: set[str] = set()
        """The module-level dicts some evaluation has read so far."""
        self.stale = False
        """Whether a read of such a dict gave less than was stored in it by the end of the run (it
        ran before a store): :func:`linter.analyze` then runs the module again, seeded with the stores."""
        self.scope = scope
        """The units between which calls are evaluated (the preselection's scope); a call from or
        to a unit outside it gives no facts, and a function outside it takes the prior."""
        self.imported = set(semantic.imports)
        """Modules and functions the file imports: never tensors, nor anything under them."""
        self.anchors: dict[int, cst.CSTNode] = {}
        """id -> node, for every node an :class:`Origin` points at."""
        self.function_of: dict[int, str] = {}
        """Origin anchor id -> qualname of the function where that op ran."""
        self.views: dict[tuple[int, int], ViewSite] = {}
        """(id of the ``.view`` attribute, evaluation context) -> the site in that context."""
        self.masks: dict[int, MaskSite] = {}
        self.filled_with_insertions: dict[int, list[MaskSite]] = {}
        """id(masked_fill call) -> the site in each evaluation whose mask carried inserted dims
        (:attr:`Tensor.inserted_at`): where a chain's result was a mask, with that evaluation's facts."""
        self.discarded: dict[int, DiscardedSite] = {}
        self.params: dict[int, tuple[str, str]] = {}
        """Binding id of a parameter -> (its function, its name)."""
        self.calls_to: dict[int, tuple[cst.Call, str, bool]] = {}
        """id(call) -> (the call, the module's function it evaluated, whether ``self`` was bound)."""
        self.none_tests: set[int] = set()
        """ids of the Name nodes read only to compare with None (``mask is not None``)."""
        """id(call) -> a call whose result is thrown away, for the rules on discarded results."""
        self.failures: list[tuple[cst.CSTNode, BaseException]] = []
        """Functions (or the module) whose analysis raised: their sites are dropped, the rest stand."""
        self.budget = STATEMENT_BUDGET
        self.top_of: dict[int, int] = {}
        """id(node) -> index of the top-level statement it sits in, for cheap positions."""
        self.current_top = -1
        self.module_env = Env()
        self.facts: dict[int, Value] = {}
        """id(expression node) -> its value where it was evaluated (last pass wins)."""
        self.bindings: dict[int, cst.BaseExpression | None] = {}
        """binding id -> the expression assigned (None: unpacking, loop targets, ...)."""
        self.uses: dict[int, set[int]] = {}
        """binding id -> ids of the Name nodes that read it."""
        self.binding_of: dict[int, int] = {}
        """id(Name node read) -> its binding id."""
        self.tainted: set[int] = set()
        self.insertions: dict[int, cst.BaseExpression] = {}
        """id -> an expression that put leading size-1 dims in front of a tensor (the outermost step
        of a chain: ``m.unsqueeze(0).unsqueeze(0)``): where :attr:`Tensor.inserted_at` points."""
        self.carriers: dict[int, set[int]] = {}
        """id(expression) -> the insertions whose dims its value carried, in any evaluation: where
        each chain's result went (TV201 asks whether every place it reached is a mask)."""
        self.carrier_function: dict[int, str] = {}
        """id(expression) in :attr:`carriers` -> the function it was evaluated in."""
        self.live: dict[int, set[int]] = {}
        """id(expression) in :attr:`carriers` -> the insertions whose dims were still in front of its
        value (the others it carried had been made moot: see :attr:`absorbers`)."""
        self.absorbers: dict[int, cst.BaseExpression] = {}
        """insertion id -> the first mask op (a comparison, ``&``, ``|``, ``^``) that broadcast its
        result against an operand of at least its rank. From there on the chain is moot: the value
        is the same with it or without it, whatever is done with it later."""
        self.passed_insertions: dict[int, set[int]] = {}
        """id(call of the module's own function) -> the insertions its arguments carried into a body
        the interpreter evaluated (a call it did not follow leaves its arguments' uses unknown)."""
        # the module's functions and classes (qualnames as in :mod:`semantic`)
        self.functions: dict[str, tuple[cst.FunctionDef, int, str | None]] = {}
        """qualname -> (def, top-level statement index, owning class)."""
        self.closures: dict[str, Env] = {}
        """Nested function qualname -> the environment it was defined in."""
        self.classes: dict[str, tuple[list[str], dict[str, str]]] = {}
        self.dataclasses: dict[str, tuple[tuple[str, cst.BaseExpression | None], ...]] = {}
        """Class qualname -> the fields a ``@dataclass`` declares, in order, with their defaults:
        the ``__init__`` it generates."""
        self.class_constants: dict[str, dict[str, Value]] = {}
        """Class qualname -> ``self.`` names its body binds to constants (``dimension = 4``)."""
        """Class qualname -> (its bases, qualified or local; method name -> qualname)."""
        self.top_level: dict[str, Value] = {}
        """Module-level name -> the FunctionV/ClassV a def or class statement binds to it."""
        self.evaluated: set[str] = set()
        self.memo: dict[tuple[object, ...], Summary] = {}
        self.stack: list[str] = []
        self.evaluations = MAX_EVALUATIONS
        self.contexts = 0
        self.frame = Frame(MODULE, None, 0, -1)
        self.init_states: dict[str, Env] = {}
        self.tags: dict[int, str] = {}
        self.texts: dict[int, str] = {}
        """id(node) -> its source on one line, once computed."""
        self.tag_counts: dict[str, int] = {}
        self.rank_tests: dict[int, bool] = {}
        """id of a function body's ``if`` -> whether a test of its chain reads a rank (:meth:`body`)."""

    # ---- scopes ---------------------------------------------------------------------------

    def run(self) -> Env:
        """Interpret the module; returns the module-level env (scripts and notebooks live there)."""
        env = Env()
        for index, stmt in enumerate(self.module.body):
            self._register(stmt, "", None, index)
        try:
            for index, stmt in enumerate(self.module.body):
                self.current_top = self.frame.top = index
                self.top_of[id(stmt)] = index
                self.statement(stmt, env)
        except Exception as exc:
            self.failures.append((self.module, exc))
        self.module_env = env
        self._roots()
        return env

    def _register(self, stmt: cst.CSTNode, prefix: str, owner: str | None, top: int) -> None:
        """Record the functions and classes ``stmt`` defines, named as :mod:`semantic` names them."""
        if isinstance(stmt, cst.FunctionDef):
            qualname = prefix + stmt.name.value
            if qualname in self.functions:  # redefined: each body is checked, the last one is called
                qualname = f"{qualname}#{len(self.functions)}"
                if owner is not None:
                    self.classes[owner][1][stmt.name.value] = qualname
            self.functions[qualname] = (stmt, top, owner)
            if not prefix:
                self.top_level[stmt.name.value] = FunctionV(qualname)
        elif isinstance(stmt, cst.ClassDef):
            qualname = prefix + stmt.name.value
            bases = [self._base(arg.value) for arg in stmt.bases if arg.keyword is None and not arg.star]
            methods = {s.name.value: f"{qualname}.{s.name.value}" for s in stmt.body.body if isinstance(s, cst.FunctionDef)}
            self.classes[qualname] = ([b for b in bases if b], methods)
            self.class_constants[qualname] = {
                f"self.{target.target.value}": value
                for line in stmt.body.body if isinstance(line, cst.SimpleStatementLine)
                for small in line.body if isinstance(small, cst.Assign) and len(small.targets) == 1
                for target in small.targets if isinstance(target.target, cst.Name)
                for value in [_default(small.value)] if value is not None
            }
            if any(self.semantic.qualify(dotted(d.decorator.func if isinstance(d.decorator, cst.Call) else d.decorator))
                   == "dataclasses.dataclass" for d in stmt.decorators):
                self.dataclasses[qualname] = tuple(
                    (small.target.value, small.value)
                    for line in stmt.body.body if isinstance(line, cst.SimpleStatementLine)
                    for small in line.body if isinstance(small, cst.AnnAssign) and isinstance(small.target, cst.Name)
                    if "ClassVar" not in self.text(small.annotation.annotation)
                )
            if not prefix:
                self.top_level[stmt.name.value] = ClassV(qualname)
            for item in stmt.body.body:
                self._register(item, qualname + ".", qualname, top)
        elif not prefix and isinstance(stmt, (cst.If, cst.Try, cst.TryStar, cst.With, cst.For, cst.While)):
            for block in _blocks(stmt):
                for item in block:
                    self._register(item, "", None, top)

    def _base(self, node: cst.BaseExpression) -> str:
        key = dotted(node)
        if key is None:
            return ""
        local = self.top_level.get(key)
        if isinstance(local, ClassV):
            return local.qualname
        return self.semantic.qualify(key) or key

    def is_module_class(self, qualname: str) -> bool:
        """A subclass of ``torch.nn.Module``: calling an instance calls its ``forward``."""
        return self.derives(qualname, ("torch.nn.",))

    def derives(self, qualname: str, prefixes: tuple[str, ...], seen: frozenset[str] = frozenset()) -> bool:
        """Whether a class of this module has a library base whose qualified name starts with one
        of ``prefixes``, itself or through its bases of this module."""
        if qualname in seen or qualname not in self.classes:
            return False
        return any(
            b.startswith(prefixes) or self.derives(b, prefixes, seen | {qualname}) for b in self.classes[qualname][0]
        )

    def method(self, klass: str, name: str) -> str | None:
        """The function ``name`` is on an instance of ``klass``: its own, or its bases' in order."""
        order, seen = [klass], set()
        while order:
            current = order.pop(0)
            if current in seen or current not in self.classes:
                continue
            seen.add(current)
            bases, methods = self.classes[current]
            if name in methods and methods[name] in self.functions:
                return methods[name]
            order.extend(bases)
        return None

    def constants(self, klass: str, seen: frozenset[str] = frozenset()) -> dict[str, Value]:
        """The constants ``klass``'s body and its bases' bind, as ``self.`` reads see them."""
        if klass in seen or klass not in self.classes:
            return {}
        out: dict[str, Value] = {}
        for base in reversed(self.classes[klass][0]):
            out.update(self.constants(base, seen | {klass}))
        out.update(self.class_constants.get(klass, {}))
        return out

    def _roots(self) -> None:
        """Evaluate, with the prior, every function no evaluation has reached: first those nothing in
        the module calls (their calls give the others their facts), then whatever is left."""
        callers = self.semantic.callers()
        for qualname in list(self.functions):
            # called only from the scope: its callers give it its facts. A caller the budget cut
            # (see ``preselect``) is evaluated nowhere, so what it passes is the prior
            known = callers.get(qualname, set())
            called = qualname in self.scope and known and known <= self.scope
            if qualname not in self.evaluated and not called:
                self._prior(qualname)
        for qualname in list(self.functions):
            if qualname not in self.evaluated:
                self._prior(qualname)
        while len(self.evaluated) < len(self.functions):  # classes defined inside functions
            rest = [q for q in self.functions if q not in self.evaluated]
            for qualname in rest:
                self._prior(qualname)

    def _prior(self, qualname: str) -> None:
        """Evaluate ``qualname`` as if called from outside the module: parameters unknown (taken as
        contiguous tensors), a method's ``self.`` state as its class's ``__init__`` leaves it."""
        node, _, owner = self.functions[qualname]
        seed = Env()
        if qualname in self.closures:
            seed = self.closures[qualname].copy()
        if owner is not None and node.name.value != "__init__":
            state = self.init_state(owner)
            seed.vars.update(state.vars)
            seed.subst.update(state.subst)
        self.evaluate(qualname, seed)

    def init_state(self, klass: str) -> Env:
        """The ``self.`` facts and size relations ``klass``'s ``__init__`` leaves, with unknown arguments."""
        if klass not in self.init_states:
            self.init_states[klass] = Env(self.constants(klass))
            init = self.method(klass, "__init__")
            if init is not None:
                _, after = self.evaluate(init, Env(self.constants(klass)), klass)
                self.init_states[klass] = Env({k: v for k, v in after.vars.items() if k.startswith("self.")}, after.subst)
        return self.init_states[klass]

    def evaluate(self, qualname: str, env: Env, klass: str | None = None) -> tuple[Value, Env]:
        """Run the body of ``qualname`` in ``env`` (parameters already bound); its return value
        (the join of its ``return``s) and its final environment."""
        node, top, owner = self.functions[qualname]
        env.ended = False  # a closure's environment is where the enclosing function returned
        self.evaluated.add(qualname)
        self.contexts += 1
        saved = self.frame, self.current_top
        self.frame = Frame(qualname, owner, self.contexts, top, klass=klass)
        self.current_top = top
        self.top_of[id(node)] = top
        params = node.params
        for param in [*params.posonly_params, *params.params, *params.kwonly_params]:
            if param.name.value not in env.vars and param.annotation is not None:
                hinted = self.annotated(param.annotation.annotation, f"{param.name.value}@{qualname}")
                if hinted is not None:  # the prior, with the rank and sizes the annotation states
                    env.vars[param.name.value] = hinted
            # a parameter is a binding too: its uses are known (a mask passed on to a masked_fill)
            env.defs[param.name.value] = id(param.name)
            self.bindings[id(param.name)] = None
            self.params[id(param.name)] = (qualname, param.name.value)
        try:
            self.body(node.body.body if isinstance(node.body, cst.IndentedBlock) else [node.body], env)
        except Exception as exc:  # one function's failure must not cost the rest of the file
            self.failures.append((node, exc))
        finally:
            frame = self.frame
            self.frame, self.current_top = saved
        if frame.exits:  # what the method leaves in ``self.``: every path that returns, and the end
            paths = [*frame.exits, env] if not env.ended else frame.exits
            env = functools.reduce(lambda a, b: join_envs(a, b, self.tainted), paths)
        result: Value = UNKNOWN
        for i, value in enumerate(frame.returns):
            result = value if i == 0 else join_values(result, value)
        if node.returns is not None and (not isinstance(result, Tensor) or result.shape is None):
            # what the body does not say, a ``-> Float[Tensor, "b t c"]`` annotation may
            hinted = self.annotated(node.returns.annotation, f"{node.name.value}()@{qualname}")
            result = hinted if hinted is not None else result
        return result, env

    def annotated(self, annotation: cst.BaseExpression, where: str) -> Tensor | None:
        """The prior for a parameter annotated ``Float[Tensor, "b h t d"]``: contiguous, of that rank;
        a name is one size across the function's annotations, a literal is that size."""
        from .annotations import shape_hint  # it reads names with this module's ``dotted``

        hint = shape_hint(annotation, self.semantic.qualify)
        if hint is None or hint.rank is None:
            return None
        sizes: list[Dim] = []
        for i, axis in enumerate(hint.head):
            if axis.size is not None and not axis.broadcastable:
                sizes.append(Dim.lit(axis.size))
            elif axis.name is not None and not axis.broadcastable:
                sizes.append(Dim.sym(f"{axis.name}@{where.partition('@')[2]}"))
            else:
                sizes.append(Dim.sym(f"{where}.size({i})"))
        labels = tuple(axis.name or (str(axis.size) if axis.size is not None else None) for axis in hint.head)
        return replace(Tensor.dense(tuple(sizes), labels), prior=True, assumed=(where.partition("@")[0],))

    def callers_followed(self, qualname: str) -> bool:
        """Whether every unit that may call ``qualname`` (the call graph) is in the scope with it:
        then the calls of it the walk evaluated are all of them."""
        unit = _unit(qualname)
        callers = self.semantic.callers().get(unit, set())
        return unit in self.scope and all(c in self.scope or c == unit for c in callers)

    def reaches(self, qualname: str) -> bool:
        """Whether a call from the current function to ``qualname`` is evaluated: within one unit
        (a nested function), or between two units of the scope."""
        here, there = _unit(self.frame.qualname), _unit(qualname)
        return here == there or (here in self.scope and there in self.scope)

    def invoke(
        self, qualname: str, pos: list[Value], kw: dict[str, Value], seed: Env, bound: bool,
        call: cst.Call | None = None, generic: bool = False, klass: str | None = None,
    ) -> Summary:
        """A call of the module's own function: its return value and the ``self.`` state it leaves
        (for methods), from the arguments' facts. Memoised per function and facts; recursion, depth
        beyond ``MAX_CALL_DEPTH`` and an exhausted evaluation count give no facts."""
        node, _, owner = self.functions[qualname]
        klass = None if klass == owner else klass  # its own class: one summary, whoever says so
        env = seed.copy()
        params = node.params
        if bound and any(type(d.decorator) is cst.Name and d.decorator.value == "staticmethod" for d in node.decorators):
            bound = False  # ``self.flat(x)`` of a ``@staticmethod``: no ``self`` to bind
        positional = [*params.posonly_params, *params.params][1 if bound else 0 :]
        for param, value in zip(positional, _before_star(pos)):
            _bind_param(env, param.name.value, value)
        if isinstance(params.star_arg, cst.Param) and STAR not in pos:  # ``def randn(*lsize)``
            _bind_param(env, params.star_arg.name.value, TupleV(tuple(pos[len(positional):])))
        if generic:  # sizes a constructor call passes are one configuration, not the class's
            pos = [UNKNOWN if _literal_size(v) else v for v in pos]
            kw = {k: UNKNOWN if _literal_size(v) else v for k, v in kw.items()}
        given = len(_before_star(pos)) if STAR not in pos else None
        for index, param in enumerate([*params.posonly_params, *params.params, *params.kwonly_params]):
            if param.name.value in kw:
                _bind_param(env, param.name.value, kw[param.name.value])
            elif given is not None and index - (1 if bound else 0) >= given and "**" not in kw:
                default = self.default(param.default)  # a call that leaves it out: the default is a fact
                if default is not None:
                    _bind_param(env, param.name.value, default)
        if not self.reaches(qualname):
            return NO_SUMMARY
        if call is not None:
            self.calls_to[id(call)] = (call, qualname, bound)
        key = (
            qualname,
            klass,
            id(self.closures.get(qualname)),
            tuple(sorted((k, v) for k, v in env.vars.items() if not isinstance(v, (FunctionV, ClassV)))),
            tuple(sorted(env.subst.items())),
        )
        if key in self.memo:
            self.evaluated.add(qualname)
            self._passing(call, env)
            return self.memo[key]
        if qualname in self.stack or len(self.stack) >= MAX_CALL_DEPTH or self.evaluations <= 0:
            return NO_SUMMARY  # recursion widens to the prior: no facts
        self._passing(call, env)
        self.evaluations -= 1
        self.stack.append(qualname)
        try:
            result, after = self.evaluate(qualname, env, klass)
        finally:
            self.stack.pop()
        state = tuple(sorted((k, v) for k, v in after.vars.items() if k.startswith("self."))) if owner else None
        summary = Summary(result, state, tuple(sorted(after.subst.items())))
        self.memo[key] = summary
        return summary

    def _passing(self, call: cst.Call | None, env: Env) -> None:
        """Note the insertions ``call``'s arguments carry into a body that is (or was) evaluated."""
        if call is not None:
            for value in env.vars.values():
                if isinstance(value, Tensor) and value.inserted_at:
                    self.passed_insertions.setdefault(id(call), set()).update(value.inserted_at)

    # ---- statements -----------------------------------------------------------------------

    def block(self, body: Sequence[cst.BaseStatement | cst.BaseSmallStatement], env: Env) -> None:
        for stmt in body:
            if env.ended:
                return  # after a ``return`` or ``raise`` on every path: not reached
            self.statement(stmt, env)

    def body(self, stmts: Sequence[cst.BaseStatement | cst.BaseSmallStatement], env: Env) -> None:
        """A function's body. An ``if`` that tests a rank (``len(x.shape) == 4``, ``x.dim() == 5``)
        and leaves a tensor with a different rank on each path is not joined: the rest of the body
        runs once per path that goes on (one that ends in ``raise`` or ``return`` does not), each in
        a context of its own, as if the function had been called with a tensor of that rank. A
        join has no rank, so it says nothing of what comes after: diffusers' ``head_to_batch_dim``
        unpacks a 3-D or a 4-D tensor and permutes both the same way, which only the paths show. A
        view after the split is reported when it raises on every path (``checks``). Only a rank
        split, and once per evaluation: other tests may correlate with later ones (``if self.flag``
        twice), which a path of its own would take as independent."""
        for i, stmt in enumerate(stmts):
            if env.ended:
                return
            if type(stmt) is cst.If and self.frame.split is None and i + 1 < len(stmts) and self._tests_rank(stmt):
                self._spend()
                branches = self._branches(stmt, env)
                going_on = [path for path, ends in branches if not ends]
                if len(going_on) > 1 and _ranks_differ(going_on):
                    self._split(going_on, stmts[i + 1 :], env)
                    return
                self._replace(env, self._joined([path for path, _ in branches]))
                continue
            self.statement(stmt, env)

    def _tests_rank(self, stmt: cst.If) -> bool:
        if id(stmt) not in self.rank_tests:  # a function evaluated in several contexts meets it again
            self.rank_tests[id(stmt)] = _tests_rank(stmt)
        return self.rank_tests[id(stmt)]

    def _split(self, paths: list[Env], rest: Sequence[cst.BaseStatement | cst.BaseSmallStatement], env: Env) -> None:
        self.frame.split = self.frame.context
        for n, path in enumerate(paths):
            if n:
                self.contexts += 1
                self.frame.context = self.contexts
            self.block(rest, path)
        self._replace(env, self._joined(paths))

    def _joined(self, paths: list[Env]) -> Env:
        """``paths`` merged from the last: ``if a: ... elif b: ... else: ...`` as the nested ifs it is."""
        out = paths[-1]
        for path in reversed(paths[:-1]):
            out = join_envs(path, out, self.tainted)
        return out

    def _branches(self, stmt: cst.If, env: Env) -> list[tuple[Env, bool]]:
        """The environment after each branch of an ``if``/``elif``/``else`` chain that may run, in
        order, and whether that branch ends in ``raise`` or ``return``; a constant test takes its
        branch in ``env`` itself. Without an ``else``, the last path is the one that skips them all."""
        known = _truth(self.eval(stmt.test, env))
        if known:  # a constant the call site passed: only one branch runs
            self.block(stmt.body.body, env)
            return [(env, env.ended)]
        if known is False:
            if isinstance(stmt.orelse, cst.If):
                self._spend()
                return self._branches(stmt.orelse, env)
            if isinstance(stmt.orelse, cst.Else):
                self.block(stmt.orelse.body.body, env)
                return [(env, env.ended)]
            return [(env, False)]
        then = env.copy()
        self.block(stmt.body.body, then)
        other = env.copy()
        if isinstance(stmt.orelse, cst.If):
            self._spend()
            rest = self._branches(stmt.orelse, other)
        elif isinstance(stmt.orelse, cst.Else):
            self.block(stmt.orelse.body.body, other)
            rest = [(other, other.ended)]
        else:
            rest = [(other, False)]
        return [(then, then.ended), *rest]

    def _spend(self) -> None:
        self.budget -= 1
        if self.budget < 0:
            raise BudgetExhausted()

    def statement(self, stmt: cst.CSTNode, env: Env) -> None:
        self._spend()
        kind = type(stmt)
        if kind is cst.SimpleStatementLine:
            for small in stmt.body:
                self.small(small, env)
        elif kind is cst.FunctionDef:
            env.vars[stmt.name.value] = self._define(stmt, env)
        elif kind is cst.ClassDef:
            env.vars[stmt.name.value] = self._define_class(stmt)
        elif kind is cst.If:
            self._replace(env, self._joined([path for path, _ in self._branches(stmt, env)]))
        elif kind is cst.For or kind is cst.While:
            self._loop(stmt, env)
        elif kind is cst.With:
            for item in stmt.items:
                value = self.eval(item.item, env)
                if item.asname is not None:
                    self.bind(item.asname.name, UNKNOWN if isinstance(value, Tensor) else value, env)
            self.block(stmt.body.body, env)
        elif kind is cst.Try or kind is cst.TryStar:
            before = env.copy()
            self.block(stmt.body.body, env)
            merged = join_envs(before, env, self.tainted)
            outcomes = [env]
            for handler in stmt.handlers:
                branch = merged.copy()
                self.block(handler.body.body, branch)
                outcomes.append(branch)
            result = outcomes[0]
            for other_env in outcomes[1:]:
                result = join_envs(result, other_env, self.tainted)
            self._replace(env, result)
            if stmt.orelse is not None:
                self.block(stmt.orelse.body.body, env)
            if stmt.finalbody is not None:
                self.block(stmt.finalbody.body.body, env)
        elif kind is cst.Match:
            self.eval(stmt.subject, env)
            result: Env | None = None
            for case in stmt.cases:
                branch = env.copy()
                self.block(case.body.body, branch)
                result = branch if result is None else join_envs(result, branch, self.tainted)
            if result is not None:
                self._replace(env, join_envs(env, result, self.tainted))

    def _define(self, node: cst.FunctionDef, env: Env) -> Value:
        """A ``def`` binds a function value; one written inside a function sees that scope."""
        if self.frame.qualname == MODULE:
            return self.top_level.get(node.name.value, UNKNOWN) if self.frame.owner is None else UNKNOWN
        qualname = f"{self.frame.qualname}.<locals>.{node.name.value}"
        self.functions[qualname] = (node, self.current_top, None)
        self.closures[qualname] = env
        return FunctionV(qualname, env)

    def _define_class(self, node: cst.ClassDef) -> Value:
        if self.frame.qualname == MODULE:
            return self.top_level.get(node.name.value, UNKNOWN)
        prefix = f"{self.frame.qualname}.<locals>."
        self._register(node, prefix, None, self.current_top)
        return ClassV(prefix + node.name.value)

    @staticmethod
    def _replace(env: Env, new: Env) -> None:
        env.vars, env.subst, env.defs, env.ended = new.vars, new.subst, new.defs, new.ended

    def loop_item(self, target: cst.BaseAssignTargetExpression, iterable: cst.BaseExpression, env: Env) -> Value:
        """What a ``for`` (statement or comprehension) binds to its target each time round."""
        iterated = self.eval(iterable, env)
        item = self._next_item(iterated) if isinstance(iterated, InstanceV) else _item(iterated)
        counting = isinstance(iterable, cst.Call) and dotted(iterable.func) == "range" and "range" not in env.vars
        if counting and isinstance(target, cst.Name):  # ``for b in range(n)``: an int, ``x[b]`` drops a dim
            return DimV(Dim.sym(f"{target.value}@{self.tag(iterable)}"), target.value)
        return item

    def _next_item(self, instance: InstanceV) -> Value:
        """``for`` over an instance calls ``iter()`` on it, then ``next()`` on what that returns: for
        a class of this module that is its own iterator (``__iter__`` returns ``self``, as a
        hand-written data loader's does), what ``__next__`` returns on the state ``__iter__`` leaves."""
        start, step = self.method(instance.qualname, "__iter__"), self.method(instance.qualname, "__next__")
        if start is None or step is None:
            return UNKNOWN
        began = self.invoke(start, [], {}, _instance_env(instance), bound=True)
        if began.result != Opaque("self") or began.state is None:
            return UNKNOWN
        return self.invoke(step, [], {}, Env(dict(began.state), dict(began.subst)), bound=True).result

    def _loop(self, stmt: cst.For | cst.While, env: Env) -> None:
        head = env.copy()
        item: Value = UNKNOWN
        if isinstance(stmt, cst.For):
            item = self.loop_item(stmt.target, stmt.iter, env)
        for _ in range(MAX_LOOP_PASSES):
            body = head.copy()
            if isinstance(stmt, cst.For):
                self.bind(stmt.target, item, body)
            else:
                self.eval(stmt.test, body)
            self.block(stmt.body.body, body)
            new_head = join_envs(head, body, self.tainted)
            if new_head.vars == head.vars and new_head.subst == head.subst and new_head.defs == head.defs:
                break
            head = new_head
        else:
            # not stable: forget what the body changes and read the body once more
            for key, value in list(head.vars.items()):
                if env.vars.get(key) != value:
                    head.vars[key] = UNKNOWN
            body = head.copy()
            if isinstance(stmt, cst.For):
                self.bind(stmt.target, item, body)
            self.block(stmt.body.body, body)
        if stmt.orelse is not None:
            self.block(stmt.orelse.body.body, head)
        self._replace(env, head)

    def small(self, stmt: cst.BaseSmallStatement, env: Env) -> None:
        kind = type(stmt)
        if kind is cst.Assign:
            value = self.eval(stmt.value, env)
            for target in stmt.targets:
                self.bind(target.target, value, env, stmt.value if len(stmt.targets) == 1 else None)
        elif kind is cst.AnnAssign:
            if stmt.value is not None:
                self.bind(stmt.target, self.eval(stmt.value, env), env, stmt.value)
        elif kind is cst.AugAssign:
            current = self.eval(stmt.target, env)
            value = self.eval(stmt.value, env)
            if isinstance(current, Tensor):
                return  # in place: the tensor keeps its layout
            self.bind(stmt.target, self.binary(stmt.operator, current, value, stmt, env), env)
        elif kind is cst.Expr:
            self.eval(stmt.value, env)
            if isinstance(stmt.value, cst.Call):
                self.discarded[id(stmt.value)] = DiscardedSite(stmt.value, self.frame.qualname, stmt)
        elif kind is cst.Return:
            if stmt.value is not None:
                self.frame.returns.append(self.eval(stmt.value, env))
            self.frame.exits.append(env.copy())
            env.ended = True
        elif kind is cst.Raise:
            env.ended = True
        elif kind is cst.Assert:
            self.eval(stmt.test, env)

    # ---- binding --------------------------------------------------------------------------

    def bind(
        self, target: cst.BaseExpression, value: Value, env: Env, expr: cst.BaseExpression | None = None
    ) -> None:
        kind = type(target)
        if kind is cst.Name or kind is cst.Attribute:
            key = dotted(target)
            if key is not None:
                below = key + "."
                for stale in [k for k in env.vars if k.startswith(below)]:
                    del env.vars[stale]
                env.vars[key] = value
                if kind is cst.Name:
                    self.bindings[id(target)] = expr
                    env.defs[key] = id(target)
            else:
                self.eval(target, env)
        elif kind is cst.Tuple or kind is cst.List:
            self._unpack(target.elements, value, env)
        elif kind is cst.Subscript:
            self.eval(target, env)
            name = self._container(target, env)
            if name is not None and _holds_tensor(value):
                held = self.stored.get(name)
                self.stored[name] = value if held is None else join_values(held, value)
                self.stale = self.stale or name in self.read_from and self.stored[name] != held

    def _container(self, node: cst.Subscript, env: Env) -> str | None:
        """The module-level dict ``node`` subscripts (``_FILES[path]`` in a function), if it is one."""
        value = node.value
        if type(value) is not cst.Name or value.value not in self.semantic.containers:
            return None
        return value.value if value.value not in env.vars or self.frame.qualname == MODULE else None

    def _unpack(self, elements: Sequence[cst.BaseElement], value: Value, env: Env) -> None:
        names = [e.value for e in elements]
        stars = [i for i, e in enumerate(elements) if isinstance(e, cst.StarredElement)]
        if stars:
            spread = self._starred_items(value, names, stars[0], env) if len(stars) == 1 else None
            for name, item in zip(names, spread or [UNKNOWN] * len(names)):
                self.bind(name, item, env)
            return
        items: list[Value]
        if isinstance(value, ListV) and value.repeated:  # ``a, b = [f(x) for x in (p, q)]``
            items = [_item(value)] * len(names)
        elif isinstance(value, (TupleV, ListV)) and len(value.items) == len(names):
            items = list(value.items)
        elif isinstance(value, PiecesV) and value.count in (None, len(names)):
            items = [value.piece] * len(names)
        elif isinstance(value, ShapeV):
            items = self._shape_items(value, [self._target_text(n) for n in names], env)
        elif isinstance(value, Tensor) and value.shape and value.shape[0].literal in (None, len(names)):
            items = [ops.select_first(value)] * len(names)  # ``q, k, v = qkv``: each is qkv[i]
        else:
            items = [UNKNOWN] * len(names)
        for name, item in zip(names, items):
            self.bind(name, item, env)

    def _starred_items(self, value: Value, names: list[cst.BaseExpression], star: int, env: Env) -> list[Value] | None:
        """``b, c, *spatial = x.shape``: each name's item, the starred one a tuple of the rest;
        None when the number of items is unknown."""
        if isinstance(value, ShapeV) and value.tensor.shape is not None:
            count = len(value.tensor.shape)
            plain = [n for i, n in enumerate(names) if i != star]
            if count < len(plain):
                return None
            texts = [self._target_text(n) for n in plain]
            spread = self._target_text(names[star])
            inner = [f"{spread}[{i}]" for i in range(count - len(plain))]
            items = self._shape_items(value, texts[:star] + inner + texts[star:], env)
        elif isinstance(value, TupleV) or isinstance(value, ListV) and not value.repeated:
            items = list(value.items)
        else:
            return None
        after = len(names) - star - 1
        if len(items) < len(names) - 1:
            return None
        return [*items[:star], TupleV(tuple(items[star : len(items) - after])), *items[len(items) - after :]]

    def _inserting(self, node: cst.BaseExpression, value: Tensor) -> Tensor:
        """``value`` of ``node`` with the insertions its leading size-1 dims come from: ``node``
        itself when it is a step that put more of them in front of its operand."""
        operand = insertion_operand(node)
        if operand is not None:
            below = self.facts.get(id(operand))
            if value.inserted and (not isinstance(below, Tensor) or below.inserted < value.inserted):
                value = replace(value, inserted_at=frozenset({id(node)}))
                self.insertions[id(node)] = node
            elif isinstance(below, Tensor) and below.inserted == value.inserted and not value.inserted_at:
                value = replace(value, inserted_at=below.inserted_at)  # ``m[:, -1:]``: what m carried
        if value.inserted_at:
            self.carriers.setdefault(id(node), set()).update(value.inserted_at)
            self.carrier_function[id(node)] = self.frame.qualname
            if value.inserted:
                self.live.setdefault(id(node), set()).update(value.inserted_at)
        return value

    def _target_text(self, target: cst.BaseExpression) -> str:
        return dotted(target) or self.text(target)

    def _shape_items(self, value: ShapeV, texts: list[str], env: Env) -> list[Value]:
        """``b, t, c = x.shape``: names the dims (``texts``: how the targets read), and teaches
        ``x`` its rank if it was unknown."""
        tensor = value.tensor
        if tensor.shape is None:
            # ``_`` (or a name unpacked twice) is not one size: each place gets a size of its own
            sizes = tuple(
                Dim.sym(t if texts.count(t) == 1 else f"{value.key or 'x'}.shape[{i}]") for i, t in enumerate(texts)
            )
            tensor = tensor.with_shape(sizes, tuple(texts))
        elif len(tensor.shape) != len(texts):
            return [UNKNOWN] * len(texts)
        elif tensor.labels is not None:
            labels = tuple(old or new for old, new in zip(tensor.labels, texts))
            tensor = replace(tensor, labels=labels)
        if value.key is not None and isinstance(env.vars.get(value.key, Opaque(value.key)), (Tensor, Opaque)):
            env.vars[value.key] = tensor
        assert tensor.shape is not None
        return [DimV(d, t) for d, t in zip(tensor.shape, texts)]

    # ---- expressions ----------------------------------------------------------------------

    def text(self, node: cst.CSTNode) -> str:
        # the common cases as they are (a parenthesised node renders with its parentheses)
        kind = type(node)  # libcst's node classes are ABCs: ``is`` spares their isinstance hook
        if (kind is cst.Name or kind is cst.Integer) and not node.lpar:
            return node.value
        if kind is cst.Attribute and _plain(node):
            return dotted(node)  # type: ignore[return-value]
        known = self.texts.get(id(node))
        if known is None:  # a function evaluated in several contexts asks again
            known = self.texts[id(node)] = " ".join(code(node, self.module).split())
        return known

    def origin(self, node: cst.CSTNode, kind: str) -> Origin:
        self.anchors[id(node)] = node
        self.top_of[id(node)] = self.current_top
        self.function_of[id(node)] = self.frame.qualname
        return Origin(kind, id(node))

    def describe(self, origin: Origin) -> tuple[str, cst.CSTNode]:
        """How the op that made a layout non-contiguous reads in the source, and the node to point at."""
        node = self.anchors[origin.anchor]
        if isinstance(node, cst.Call):
            args = _brief(", ".join(
                (a.star or "") + (f"{a.keyword.value}=" if a.keyword else "") + self.text(a.value) for a in node.args
            ))
            if origin.kind == "method" and isinstance(node.func, cst.Attribute):
                return f"{node.func.attr.value}({args})", node.func.attr
            return f"{self.text(node.func)}({args})", node
        if origin.kind == "property" and isinstance(node, cst.Attribute):
            return f".{node.attr.value}", node.attr
        if origin.kind == "slice" and isinstance(node, cst.Subscript):
            return "slicing [" + ", ".join(self.text(e.slice) for e in node.slice) + "]", node
        return self.text(node), node

    def lookup(self, name: str, env: Env) -> Value:
        if name in env.vars:
            return env.vars[name]
        if name in ("None", "True", "False"):
            return Opaque(name)  # constants a module's constructor reads (``batch_first=True``)
        if name in self.top_level:
            return self.top_level[name]
        return self.named_library(self.semantic.qualify(name)) or Opaque(name)

    def default(self, node: cst.BaseExpression | None) -> Value | None:
        """A parameter's default: a constant, or a library class or function (``cell=nn.GRU``)."""
        if node is None:
            return None
        return _default(node) or self.named_library(self.semantic.qualify(dotted(node)))

    @staticmethod
    def named_library(qualified: str | None) -> LibraryV | None:
        """A library class or function the tables model, named without being called
        (``act_layer=nn.GELU``): a value that can be called later, anywhere."""
        if qualified is None:
            return None
        namespace, _, name = qualified.rpartition(".")
        if namespace == "torch.nn" and (name in modules.ROWS or name in ("Sequential", "ModuleList")):
            return LibraryV(qualified)
        table = FUNCTION_TABLES.get(namespace)
        return LibraryV(qualified) if table is not None and name in table else None

    def library(self, node: cst.BaseExpression, env: Env) -> str | None:
        """The qualified name of an imported library object (``F.softmax`` ->
        ``torch.nn.functional.softmax``), unless a local binding shadows its root."""
        key = dotted(node)
        if key is None or key.split(".")[0] in env.vars:
            return None
        return self.semantic.qualify(key)

    def as_tensor(self, value: Value) -> Tensor | None:
        if isinstance(value, Tensor):
            return value
        if isinstance(value, Opaque) and not _constant(value.key) and value.key.split(".")[0] not in self.imported:
            return replace(PRIOR, assumed=(value.key,))  # ``self.pos_embed`` is; ``self`` and ``np.linalg`` are not
        return None

    def to_dim(self, value: Value, text: str, env: Env) -> Dim | None:
        if isinstance(value, IntV):
            return Dim.lit(value.value) if value.value >= 0 else None
        if isinstance(value, DimV):
            return value.dim.substitute(env.subst)
        if isinstance(value, Opaque):
            return None if _constant(value.key) else Dim.sym(value.key).substitute(env.subst)
        if isinstance(value, UnknownV) and text:
            return Dim.sym(text).substitute(env.subst)
        return None

    def eval(self, node: cst.BaseExpression, env: Env) -> Value:
        if type(node) is cst.Name and node.value in env.defs:
            binding = env.defs[node.value]
            self.uses.setdefault(binding, set()).add(id(node))
            self.binding_of[id(node)] = binding
        value = self._eval(node, env)
        if type(value) is Tensor and (value.inserted or value.inserted_at or insertion_operand(node) is not None):
            value = self._inserting(node, value)
        self.facts[id(node)] = value
        self.top_of[id(node)] = self.current_top
        return value

    def _eval(self, node: cst.BaseExpression, env: Env) -> Value:
        kind = type(node)  # libcst's node classes are ABCs: ``is`` spares their isinstance hook
        if kind is cst.Integer:
            try:
                return IntV(int(node.value.replace("_", ""), 0))
            except ValueError:
                return UNKNOWN
        if kind is cst.Float:  # ``p=0.1``: a Python scalar whose value the ops that read it can read
            return Opaque(node.value)
        if kind is cst.UnaryOperation:
            inner = self.eval(node.expression, env)
            if isinstance(node.operator, cst.Minus) and isinstance(inner, IntV):
                return IntV(-inner.value)
            if isinstance(node.operator, cst.Not) and (known := _truth(inner)) is not None:
                return Opaque(str(not known))
            return inner if isinstance(inner, Tensor) else UNKNOWN
        if kind is cst.Name:
            return self.lookup(node.value, env)
        if kind is cst.SimpleString:
            text = _string(node)
            return Opaque(repr(text)) if text is not None else UNKNOWN  # ``padding="same"``
        if kind is cst.Attribute:
            return self.attribute(node, env)
        if kind is cst.Subscript:
            return self.subscript(node, env)
        if kind is cst.Call:
            return self.call(node, env)
        if kind is cst.BinaryOperation:
            left = self.eval(node.left, env)
            right = self.eval(node.right, env)
            return self.binary(node.operator, left, right, node, env)
        if kind is cst.Comparison:
            if (isinstance(node.left, cst.Name) and len(node.comparisons) == 1
                    and isinstance(node.comparisons[0].operator, (cst.Is, cst.IsNot))
                    and isinstance(node.comparisons[0].comparator, cst.Name)
                    and node.comparisons[0].comparator.value == "None"):
                self.none_tests.add(id(node.left))
            left = self.eval(node.left, env)
            rights = [self.eval(c.comparator, env) for c in node.comparisons]
            if isinstance(left, Tensor):
                return self._elementwise(left, rights, node, env, [c.comparator for c in node.comparisons])
            if len(rights) == 1:
                return _compared(left, node.comparisons[0].operator, rights[0])
            return UNKNOWN
        if kind is cst.Tuple or kind is cst.List:
            return self.sequence(node.elements, env)
        if kind is cst.IfExp:
            known = _truth(self.eval(node.test, env))
            if known is not None:  # ``norm(d) if norm_layer else nn.Identity()`` with norm_layer=None
                return self.eval(node.body if known else node.orelse, env)
            return join_values(self.eval(node.body, env), self.eval(node.orelse, env))
        if kind is cst.NamedExpr:
            value = self.eval(node.value, env)
            self.bind(node.target, value, env)
            return value
        if kind is cst.BooleanOperation:
            left, right = _truth(self.eval(node.left, env)), _truth(self.eval(node.right, env))
            either = isinstance(node.operator, cst.Or)  # ``and`` is decided by a False, ``or`` by a True
            if either in (left, right):
                return Opaque(str(either))
            if left is not None and right is not None:
                return Opaque(str(not either))
            return UNKNOWN
        if kind is cst.Dict or kind is cst.Set:
            keys = [_string(e.key) if isinstance(e, cst.DictElement) else None for e in node.elements]
            if kind is cst.Dict and None not in keys:  # ``{"batch_size": b, ...}``: read back by key
                return DictV(tuple((k, self.eval(e.value, env)) for k, e in zip(keys, node.elements)))  # type: ignore[misc]
            for element in node.elements:
                for child in element.children:
                    if isinstance(child, cst.BaseExpression):
                        self.eval(child, env)
            return UNKNOWN
        if kind is cst.ListComp or kind is cst.GeneratorExp:
            inner = env.copy()
            comp: cst.CompFor | None = node.for_in
            while comp is not None:
                self.bind(comp.target, self.loop_item(comp.target, comp.iter, inner), inner)
                for condition in comp.ifs:
                    self.eval(condition.test, inner)
                comp = comp.inner_for_in
            return ListV((self.eval(node.elt, inner),), repeated=True)
        if kind is cst.Await or kind is cst.StarredElement:
            return self.eval(node.expression if isinstance(node, cst.Await) else node.value, env)
        if kind is cst.Lambda:
            self._lambda(node, env)
        return UNKNOWN

    def _lambda(self, node: cst.Lambda, env: Env) -> None:
        """A lambda's body is evaluated where it is written, its parameters taking the prior: what
        it calls with the facts at hand (``{"sliced": lambda: inv(q[:, :2])}``) is a call site."""
        inner = env.copy()
        params = node.params
        for param in [*params.posonly_params, *params.params, *params.kwonly_params]:
            _bind_param(inner, param.name.value, UNKNOWN)
        for star in (params.star_arg, params.star_kwarg):
            if isinstance(star, cst.Param):
                _bind_param(inner, star.name.value, UNKNOWN)
        self.eval(node.body, inner)

    def sequence(self, elements: Sequence[cst.BaseElement], env: Env) -> Value:
        items: list[Value] = []
        for element in elements:
            value = self.eval(element.value, env)
            if isinstance(element, cst.StarredElement):
                spliced = self._splice(value)
                if spliced is None:
                    return UNKNOWN
                items.extend(spliced)
            else:
                items.append(value)
        return TupleV(tuple(items))

    @staticmethod
    def _splice(value: Value) -> list[Value] | None:
        if isinstance(value, TupleV):
            return list(value.items)
        if isinstance(value, ShapeV) and value.tensor.shape is not None:
            return [DimV(d) for d in value.tensor.shape]
        return None

    def binary(
        self, op: cst.BaseBinaryOp | cst.BaseAugOp, left: Value, right: Value, node: cst.CSTNode, env: Env
    ) -> Value:
        if isinstance(op, (cst.MatrixMultiply, cst.MatrixMultiplyAssign)):
            lt = self.as_tensor(left)
            if lt is None:
                return Tensor(contiguous=True) if isinstance(right, Tensor) else UNKNOWN
            return ops.matmul(lt, self._args([right], [""], {}, node, "function", env))
        if isinstance(left, Tensor):
            return self._elementwise(left, [right], node, env, [getattr(node, "right", None)])
        if isinstance(right, Tensor):
            # an unknown left operand may be a tensor whose strides order the result (TensorIterator
            # lets the first full-size operand decide); a Python scalar leaves it to ``right``
            if isinstance(left, Opaque) and not _constant(left.key):
                return Tensor() if right.shape is None else Tensor(right.shape, None, False, right.labels)
            return self._elementwise(right, [left], node, env, [getattr(node, "left", None)])
        if isinstance(op, (cst.Add, cst.AddAssign)) and isinstance(left, (TupleV, ShapeV)) and isinstance(right, (TupleV, ShapeV)):
            # ``x.size()[:-2] + (self.all_head_size,)``: a ``torch.Size`` or tuple concatenated
            joined = [self._splice(left), self._splice(right)]
            return UNKNOWN if None in joined else TupleV(tuple(joined[0] + joined[1]))  # type: ignore[operator]
        if isinstance(left, (TupleV, ShapeV)) or isinstance(right, (TupleV, ShapeV)):
            # ``[kernel_size] * spatial_dims``: a list repeated, as many times as a literal says, else
            # a list of unknown length; never a size (``torch.ones([3] * dims)`` has ``dims`` dims)
            seq, count = (left, right) if isinstance(left, (TupleV, ShapeV)) else (right, left)
            items = self._splice(seq)
            if not isinstance(op, (cst.Multiply, cst.MultiplyAssign)) or items is None:
                return UNKNOWN
            if isinstance(count, IntV) and count.value >= 0:
                return TupleV(tuple(items) * count.value)
            return TupleV((STAR,))
        return self._dim_arith(op, left, right, node, env)

    def _elementwise(
        self, first: Tensor, others: list[Value], node: cst.CSTNode, env: Env,
        nodes: Sequence[cst.BaseExpression | None] = (),
    ) -> Value:
        """``first`` op ``others`` (``nodes``: their expressions, where there are)."""
        tensors: list[Value] = [v for v in others if isinstance(v, Tensor)]
        args = self._args(tensors, [""] * len(tensors), {}, node, "function", env)
        if tensors:
            result = assuming(first, ops.elementwise(first, args))
            if isinstance(result, Tensor) and mask_op(node):
                result = self._absorbing(node, [first, *tensors], result)  # type: ignore[list-item]
            return result
        # with scalars only (``m == 0``, ``y * scale``): the operand's dims, and each kernel's layout
        result = keeping_dims(first, each_backend(ops.elementwise, first, args), ops.in_place)
        if isinstance(result, Tensor) and result.canonical and not all(
                _number_like(v, n) for v, n in itertools.zip_longest(others, nodes[:len(others)])):
            result = replace(result, canonical=None)  # an unknown operand may be a tensor of any strides
        return result

    def _absorbing(self, node: cst.BaseExpression, operands: list[Tensor], result: Tensor) -> Tensor:
        """``result`` of a mask op between tensors, carrying as moot the chains of the operands
        whose leading size-1 dims another operand of at least their rank broadcasts anyway
        (``tgt_mask & causal.unsqueeze(0)`` with a 3-D ``tgt_mask``), and those already moot."""
        nodes = _operands(node)
        ranks = [o.rank if o.rank is not None or len(nodes) != len(operands) else _rank_at_least(nodes[i])
                 for i, o in enumerate(operands)]
        moot: set[int] = set()
        for i, operand in enumerate(operands):
            if not operand.inserted_at:
                continue
            if not operand.inserted or operand.rank is not None and any(
                    rank is not None and rank >= operand.rank for j, rank in enumerate(ranks) if j != i):
                moot |= operand.inserted_at
        for at in moot:
            self.absorbers.setdefault(at, node)
        return replace(result, inserted=0, inserted_at=frozenset(moot)) if moot and not result.inserted else result

    def _dim_arith(self, op: cst.CSTNode, left: Value, right: Value, node: cst.CSTNode, env: Env) -> Value:
        if isinstance(left, IntV) and isinstance(right, IntV):
            a, b = left.value, right.value
            if isinstance(op, (cst.Add, cst.AddAssign)):
                return IntV(a + b)
            if isinstance(op, (cst.Subtract, cst.SubtractAssign)):
                return IntV(a - b)
            if isinstance(op, (cst.Multiply, cst.MultiplyAssign)):
                return IntV(a * b)
            if isinstance(op, (cst.FloorDivide, cst.FloorDivideAssign)) and b:
                return IntV(a // b)
            return UNKNOWN
        if not any(isinstance(v, (IntV, DimV, Opaque)) for v in (left, right)):
            return UNKNOWN
        made = self._sized(op, left, right, node, env)
        nodes = [node.left, node.right] if isinstance(node, cst.BinaryOperation) else [None, None]
        if isinstance(made, DimV) and not all(map(_number_like, (left, right), nodes)):
            return replace(made, guess=True)
        return made

    def _sized(self, op: cst.CSTNode, left: Value, right: Value, node: cst.CSTNode, env: Env) -> Value:
        text = self.text(node)
        if isinstance(node, cst.AugAssign):
            text = f"{self.text(node.target)} {self.text(node.operator).strip()} {self.text(node.value)}"
        binary = isinstance(node, cst.BinaryOperation)  # an unknown operand is named by its text
        a = self.to_dim(left, self.text(node.left) if binary and isinstance(left, UnknownV) else "", env)  # type: ignore[attr-defined]
        b = self.to_dim(right, self.text(node.right) if binary and isinstance(right, UnknownV) else "", env)  # type: ignore[attr-defined]
        if a is None or b is None:
            return DimV(Dim.sym(text), text)
        adding = isinstance(op, (cst.Add, cst.AddAssign))
        if a.literal is not None and b.literal is not None and (adding or isinstance(op, (cst.Subtract, cst.SubtractAssign))):
            total = a.literal + b.literal if adding else a.literal - b.literal
            return DimV(Dim.lit(total), text) if total >= 0 else DimV(Dim.sym(text), text)  # ``seqlen - 1`` of 5
        if isinstance(op, (cst.Multiply, cst.MultiplyAssign)):
            return DimV(a * b, text)
        if isinstance(op, (cst.FloorDivide, cst.Divide, cst.FloorDivideAssign, cst.DivideAssign)):
            exact = a.divide(b)
            if exact is not None:
                return DimV(exact, text)
            quotient = Dim.sym(text)
            # ``head_dim = d_out // num_heads`` divides evenly in working code: remember
            # ``d_out == head_dim * num_heads`` so later sizes written either way agree.
            if len(a.powers) == 1 and a.coef == 1 and a.powers[0][1] == 1:
                atom = a.powers[0][0]
                if atom not in env.subst and atom not in quotient.atoms() | b.atoms():
                    env.subst[atom] = quotient * b
            return DimV(quotient, text)
        if isinstance(op, (cst.Add, cst.AddAssign)) and b.literal is not None and a.coef == 1 and a.powers and a.powers == ((a.powers[0][0], 1),):
            # ``num_classes + 5`` named by the size, not the text, so that ``[..., 5:]`` of it is
            # ``num_classes`` again whatever the code calls it (``self.num_classes``)
            return DimV(Dim.sym(f"{a.powers[0][0]} + {b.literal}"), text)
        return DimV(Dim.sym(text), text)

    def attribute(self, node: cst.Attribute, env: Env) -> Value:
        name = node.attr.value
        key = dotted(node)
        if key is not None and key in env.vars:
            return env.vars[key]
        owner = env.vars.get(dotted(node.value) or "")
        member = self.member(owner, name) if owner is not None else None
        if member is not None or isinstance(owner, InstanceV):
            return member or UNKNOWN
        if owner is None and (bound := self._bound_method(node, env)) is not None:
            return bound
        if isinstance(owner, ModuleV) and name == "weight":
            made = modules.weight(owner, self.origin(node, "property"))
            if made is not None:
                return made
        if name in ops.PROPERTIES and self.library(node.value, env) is None:
            recv = self.as_tensor(self.eval(node.value, env))
            if recv is None:
                return UNKNOWN
            prop = ops.PROPERTIES[name]
            return each_backend(prop.effect, normalize(recv, env.subst), self._args([], [], {}, node, "property", env))
        if name == "shape":
            base = self.eval(node.value, env)
            tensor = self.as_tensor(base)
            return ShapeV(dotted(node.value), tensor) if tensor is not None else UNKNOWN
        if name in ops.ALIASES:
            value = self.eval(node.value, env)
            return value.data if isinstance(value, PackedV) else value  # ``packed.data``: (N, *features)
        if key is not None:
            return self.named_library(self.library(node, env)) or Opaque(key)
        self.eval(node.value, env)
        return UNKNOWN

    def subscript(self, node: cst.Subscript, env: Env) -> Value:
        name = self._container(node, env)
        if name is not None:
            self.read_from.add(name)
            if name in self.stored:  # else what it reads is what it read before (a constant of a literal)
                for element in node.slice:
                    if isinstance(element.slice, cst.Index):
                        self.eval(element.slice.value, env)
                return self.stored[name]
        recv = self.eval(node.value, env)
        elements = node.slice
        if isinstance(recv, DictV) and len(elements) == 1 and isinstance(elements[0].slice, cst.Index):
            index = elements[0].slice.value
            key = _string(index)  # a literal key: nothing to evaluate
            if key is None:
                self.eval(index, env)
                return UNKNOWN
            found = recv.get(key)
            return UNKNOWN if found is None else found
        if isinstance(recv, ListV):
            for e in elements:
                self.eval(e.slice.value, env) if isinstance(e.slice, cst.Index) else None
            return _item(recv)
        if isinstance(recv, (ShapeV, TupleV, PiecesV)) and len(elements) == 1:
            index = elements[0].slice
            if isinstance(index, cst.Index):
                position = self.eval(index.value, env)
                i = ops.as_int(position)
                if isinstance(recv, PiecesV):
                    return recv.piece
                if isinstance(recv, TupleV):
                    return recv.items[i] if i is not None and -len(recv.items) <= i < len(recv.items) else UNKNOWN
                return self._shape_item(recv, i, node, env)
            if isinstance(index, cst.Slice) and isinstance(recv, (ShapeV, TupleV)):
                return self._sliced(recv, index, env)
            return UNKNOWN
        tensor = self.as_tensor(recv)
        items = [self._index(e.slice, env) for e in elements]
        if tensor is None:
            return UNKNOWN
        tensor = normalize(tensor, env.subst)
        origin = self.origin(node, "slice")
        return each_backend(lambda t, _: ops.getitem(t, items, origin), tensor, self._args([], [], {}, node, "slice", env))

    def _sliced(self, recv: ShapeV | TupleV, index: cst.Slice, env: Env) -> Value:
        """``x.shape[:-1]``, ``sizes[1:]``: the sizes in that range, when the bounds are literal."""
        if isinstance(recv, ShapeV):
            t = recv.tensor
            if t.shape is None:
                return UNKNOWN
            labels = t.labels or (None,) * len(t.shape)
            items: tuple[Value, ...] = tuple(DimV(d, label) for d, label in zip(t.shape, labels))
        else:
            items = recv.items
        bounds = []
        for part in (index.lower, index.upper, index.step):
            value = None if part is None else ops.as_int(self.eval(part, env))
            if part is not None and value is None:
                return UNKNOWN
            bounds.append(value)
        if bounds[2] == 0:
            return UNKNOWN
        return TupleV(items[slice(*bounds)])

    def _shape_item(self, shape: ShapeV, i: int | None, node: cst.CSTNode, env: Env) -> Value:
        t = shape.tensor
        if i is not None and t.shape is not None:
            if -len(t.shape) <= i < len(t.shape):
                return DimV(t.shape[i], t.labels[i] if t.labels else None)
            return UNKNOWN
        if i is not None and shape.key is not None:
            return DimV(Dim.sym(f"{shape.key}.shape[{i}]"), self.text(node))
        return UNKNOWN

    def _index(self, element: cst.BaseSlice, env: Env) -> ops.Index:
        text = self.text(element)
        if isinstance(element, cst.Index):
            value = self.eval(element.value, env)
            if isinstance(element.value, cst.Name) and element.value.value == "None":
                return ops.Index("none")
            if isinstance(element.value, cst.Ellipsis):
                return ops.Index("ellipsis")
            if isinstance(value, (IntV, DimV)):
                return ops.Index("int")
            if isinstance(value, SliceV):
                return ops.Index("slice", value.lower, value.upper, value.step, text)
            return ops.Index("other")

        def bound(expr: cst.BaseExpression | None) -> int | Dim | None:
            return None if expr is None else self._bound(self.eval(expr, env), self.text(expr), env)

        step: int | Dim | None = 1
        if element.step is not None:
            s = self.eval(element.step, env)
            step = ops.as_int(s)
            if step is None and isinstance(s, (DimV, Opaque)):  # ``::self.stride``: a size of its own
                step = self.to_dim(s, self.text(element.step), env)
        return ops.Index("slice", bound(element.lower), bound(element.upper), step, text)

    def _bound(self, v: Value, text: str, env: Env) -> int | Dim | None:
        """A slice bound or step as an int or a size; None when it is neither."""
        if isinstance(v, IntV):
            return v.value
        return self.to_dim(v, text, env) if isinstance(v, (DimV, Opaque, UnknownV)) else None

    # ---- calls ----------------------------------------------------------------------------

    def _args(
        self, pos: list[Value], texts: Sequence[str], kw: dict[str, Value], node: cst.CSTNode, kind: str, env: Env
    ) -> ops.Args:
        args = ops.Args(pos, kw, texts, self.origin(node, kind), lambda v, t: self.to_dim(v, t, env))
        args.tag = lambda: self.tag(node)
        return args

    def tag(self, node: cst.CSTNode) -> str:
        """``forward#3``: the third call in ``forward`` that asked for a name, in evaluation order,
        which does not depend on what the preselection cut (it cuts whole functions, or the
        statements after a function's last view)."""
        if id(node) not in self.tags:
            unit = self.frame.qualname
            self.tag_counts[unit] = self.tag_counts.get(unit, 0) + 1
            self.tags[id(node)] = f"{unit.rpartition('.')[2]}#{self.tag_counts[unit]}"
        return self.tags[id(node)]

    def _call_args(self, node: cst.Call, env: Env, skip: int = 0) -> tuple[list[Value], LazyTexts, dict[str, Value]]:
        pos: list[Value] = []
        texts: list[cst.CSTNode | str] = []
        kw: dict[str, Value] = {}
        for arg in node.args:
            value = self.eval(arg.value, env)
            if arg.keyword is not None:
                kw[arg.keyword.value] = value
            elif arg.star == "*":
                spliced = self._splice(value)
                if spliced is None:
                    pos.append(STAR)
                    texts.append("")
                else:
                    pos.extend(spliced)
                    texts.extend([""] * len(spliced))
            elif arg.star == "**":
                kw["**"] = UNKNOWN  # any keyword may be in there: no parameter takes its default
            else:
                pos.append(value)
                texts.append(arg.value)
        return pos[skip:], LazyTexts(texts[skip:], self.text), kw

    def call(self, node: cst.Call, env: Env) -> Value:
        func = node.func
        qualified = self.library(func, env)
        if qualified is not None:
            return self._library_call(node, qualified, env)
        if isinstance(func, cst.Attribute):
            name = func.attr.value
            namespace = dotted(func.value)
            if namespace == "self" and name == "register_buffer":
                pos, _, kw = self._call_args(node, env)
                if len(pos) >= 2 and (buffer := _string(node.args[0].value)) is not None:
                    env.vars["self." + buffer] = pos[1]
                return UNKNOWN
            key = dotted(func)
            held = env.vars.get(key) if key else None
            if _callable(held):
                return self.apply(held, node, env)  # type: ignore[arg-type]
            if namespace in ("self", "cls") and self.frame.owner is not None and namespace not in env.vars:
                target = self.method(self.frame.klass or self.frame.owner, name)
                if target is not None:
                    return self._self_call(target, node, env)
            if _is_super(func.value) and self.frame.owner is not None:
                # ``super().__init__(...)``: the bases' method, on this ``self.`` state
                bases, _ = self.classes.get(self.frame.owner, ((), {}))
                target = next((t for t in (self.method(base, name) for base in bases) if t is not None), None)
                if target is not None:
                    return self._self_call(target, node, env)
                if name == "__init__" and self.derives(self.frame.owner, SEQUENTIAL):
                    # ``super().__init__(conv, norm, relu)`` in a subclass of ``nn.Sequential``
                    # (segmentation_models' ``Conv2dReLU``): calling it runs them in order
                    pos, _, kw = self._call_args(node, env)
                    if pos and not kw and STAR not in pos:
                        env.vars[CHILDREN] = ListV(tuple(pos), sequential=True)
                    return UNKNOWN
            recv_value = self.eval(func.value, env)
            if name == "append" and isinstance(recv_value, (TupleV, ListV)) \
                    and not (isinstance(recv_value, ListV) and recv_value.sequential) \
                    and len(node.args) == 1 and node.args[0].keyword is None and not node.args[0].star \
                    and (grown := dotted(func.value)) is not None:
                # ``outputs.append(h)`` in a loop, then ``torch.cat(outputs)``, and
                # ``self.convs.append(nn.Conv2d(...))`` on an ``nn.ModuleList()``: the list holds what went in
                env.vars[grown] = appended(recv_value, self.eval(node.args[0].value, env))
                return UNKNOWN
            if name in modules.MODULE_RETURNS_SELF and (
                isinstance(recv_value, (ModuleV, ListV))
                or isinstance(recv_value, InstanceV) and self.method(recv_value.qualname, name) is None
                and self.is_module_class(recv_value.qualname)
            ):
                pos, texts, kw = self._call_args(node, env)
                fmt = ops.memory_format(self._args(pos, texts, kw, node, "method", env)) if name == "to" else None
                if fmt is None or fmt == "preserve_format":
                    return recv_value  # ``block.train(True)(x)``, ``model.to(device)``
                return _with_weights(recv_value, None if fmt == "contiguous_format" else fmt)
            if name == "apply" and isinstance(recv_value, ClassV):
                # ``Fn.apply(x, w)`` of a ``torch.autograd.Function``: its static ``forward(ctx, x, w)``
                function = self.derives(recv_value.qualname, AUTOGRAD_FUNCTION)
                target = self.method(recv_value.qualname, "forward") if function else None
                if target is not None:
                    pos, _, kw = self._call_args(node, env)
                    return self.invoke(target, [UNKNOWN, *pos], kw, Env(), bound=False).result
            if name == "__next__" and not node.args and isinstance(recv_value, ListV) and recv_value.repeated:
                return _item(recv_value)  # ``enumerate(scores).__next__()``: the first item, as a loop's
            member = self.member(recv_value, name)
            if _callable(member):
                return self.apply(member, node, env)  # type: ignore[arg-type]
            if isinstance(recv_value, InstanceV):
                self._call_args(node, env)
                return UNKNOWN
            if name in _CASES and not node.args and isinstance(text := _constant_of(recv_value), str):
                return Opaque(repr(getattr(text, name)()))  # ``rnn_cell.upper()``, to name a class by
            recv = self.as_tensor(recv_value)
            if name in ("size", "dim") and recv is not None:
                return self._size_call(node, name, recv_value, recv, func, env)
            op = ops.METHODS.get(name)
            pos, texts, kw = self._call_args(node, env)
            if recv is None and name in ("masked_fill", "masked_fill_"):
                self._record_mask(node, Tensor(), 0, name.endswith("_"))  # in place, no rank is needed
            if op is not None and op.operand == "none" and (recv is not None or isinstance(recv_value, UnknownV)):
                # ``x.new_zeros((b, 1, t, s))`` reads nothing of x: the sizes it is given, when they
                # can be read (``size=m.size()`` of an unknown m: sizes that may be 1s, no facts)
                made = op.effect(PRIOR, self._args(pos, texts, kw, node, "method", env))
                return made if isinstance(made, Tensor) and made.shape is not None else UNKNOWN
            if recv is None and isinstance(recv_value, UnknownV) and op is not None and op.effect in SHAPING:
                # a tensor of unknown origin (an unknown call's result): the prior, a contiguous tensor,
                # whose view has the shape it asks for
                recv = replace(PRIOR, assumed=(self.text(func.value),))
            if op is None or recv is None:
                return UNKNOWN
            recv = normalize(recv, env.subst)
            args = self._args(pos, texts, kw, node, "method", env)
            args.recv = lambda: self.text(func.value)
            fmt = ops.memory_format(args) if name in ops.FORMATTING else None
            if fmt is not None and fmt != "preserve_format":
                formatted = ops.formatted(recv, args, fmt, aliased=name == "to", kept=name == "contiguous")
                return assuming(recv, formatted) if formatted is recv else formatted
            if op.effect is ops.view:
                self._record_view(func, recv, args, node)
            elif op.effect is ops.view_as and (as_view := ops.as_view_args(args)) is not None:
                self._record_view(func, recv, as_view, node)
            if name in ("masked_fill", "masked_fill_"):
                self._record_mask(node, recv, 0, name.endswith("_"))
            return each_backend(op.effect, recv, args)
        callee = self.eval(func, env)
        if _callable(callee):
            return self.apply(callee, node, env)  # type: ignore[arg-type]
        pos, _, kw = self._call_args(node, env)
        if type(func) is cst.Name and isinstance(callee, Opaque):  # a name nothing binds: a builtin
            return self._builtin(func.value, node, pos, kw, env)
        return UNKNOWN

    def _builtin(self, name: str, node: cst.Call, pos: list[Value], kw: dict[str, Value], env: Env) -> Value:
        """``len``, ``zip``, ``enumerate``, ``next``, ``slice``, ``getattr`` and ``int`` of what the
        walker knows; UNKNOWN for any other name."""
        if name == "len" and len(pos) == 1:
            # ``len(x.shape) == 4``: the rank, when it is known, decides the branch
            sized = pos[0]
            if isinstance(sized, ShapeV) and sized.tensor.rank is not None:
                return IntV(sized.tensor.rank)
            if isinstance(sized, TupleV) and STAR not in sized.items:
                return IntV(len(sized.items))
        if name == "zip" and pos == [STAR] and not kw:
            # ``a, b = zip(*rows)``: the rows' columns (``seq_collate``'s batch of (x, y) pairs)
            columns = _transposed(self.facts.get(id(node.args[0].value), UNKNOWN))
            if columns is not None:
                return columns
        if name in ("enumerate", "zip") and pos:
            # ``for i, block in enumerate(self.blocks)``: each time round, a tuple of the items
            items = [_item(p) for p in _before_star(pos)]
            if len(items) == len(pos):
                return ListV((TupleV((UNKNOWN, *items) if name == "enumerate" else tuple(items)),), repeated=True)
        if name == "next" and len(pos) == 1:
            if isinstance(pos[0], ListV) and pos[0].repeated:  # ``next(enumerate(x))``: one item of the loop's
                return _item(pos[0])
        if name == "slice" and 1 <= len(pos) <= 3 and not kw:
            # ``slice(stop)``, ``slice(start, stop[, step])``, each bound readable or None
            given = [None if _is_none(a.value) else self._bound(v, self.text(a.value), env) for a, v in zip(node.args, pos)]
            if all(b is not None or _is_none(a.value) for a, b in zip(node.args, given)):
                lower, upper, step = ([None, *given, None] if len(given) == 1 else [*given, None])[:3]
                return SliceV(lower, upper, 1 if step is None else step)
        if name == "getattr" and len(pos) == 2:
            # ``getattr(obj, name)`` with the name known is ``obj.<name>``: the library class
            # ``getattr(nn, rnn_cell.upper())`` names, the method ``getattr(model, "forward")`` is
            namespace, attr = self.library(node.args[0].value, env), _constant_of(pos[1])
            if isinstance(attr, str) and namespace is not None:
                return self.named_library(f"{namespace}.{attr}") or UNKNOWN
            if isinstance(attr, str):
                return self.member(pos[0], attr) or UNKNOWN
        if name == "int" and len(pos) == 1:
            if isinstance(pos[0], (IntV, DimV)):
                return pos[0]  # ``int(patch_width * patch_height)``: a size stays that size
        if name in ("list", "tuple") and len(pos) == 1 and not kw:
            # ``list(range(2, 2 + dimension))`` with the bounds known: the ints, to permute by
            # (``permute(*([0] + list(range(2, 2 + d)) + [1]))``, SparseConvNet's dense-to-sparse)
            given = node.args[0].value
            if type(given) is cst.Call and dotted(given.func) == "range" and "range" not in env.vars:
                bounds = [self.facts.get(id(a.value)) for a in given.args]
                plain = not any(a.star or a.keyword for a in given.args)
                if plain and 1 <= len(bounds) <= 3 and all(isinstance(b, IntV) for b in bounds):
                    span = range(*(b.value for b in bounds))  # type: ignore[union-attr]
                    if len(span) <= MAX_RANGE:
                        return TupleV(tuple(IntV(i) for i in span))
            if isinstance(pos[0], TupleV):
                return pos[0]
        return UNKNOWN

    def _library_call(self, node: cst.Call, qualified: str, env: Env) -> Value:
        pos, texts, kw = self._call_args(node, env)
        return self._library_value(qualified, pos, texts, kw, node, env)

    def _library_value(
        self, qualified: str, pos: list[Value], texts: Sequence[str], kw: dict[str, Value], node: cst.Call, env: Env
    ) -> Value:
        """A call of an imported library object, its arguments evaluated."""
        if qualified == "torch.is_tensor":
            # true of what an op made; not of a prior, which stands for whatever a caller passes
            # (``torch.from_numpy(a) if not torch.is_tensor(a) else a``: an array, or a tensor)
            given = pos[0] if pos else kw.get("obj")
            return Opaque("True") if isinstance(given, Tensor) and not given.prior and not given.assumed else UNKNOWN
        if qualified == "functools.partial":
            bound = pos[1:]
            if pos and _callable(pos[0]) and STAR not in bound and "**" not in kw:
                return PartialV(pos[0], tuple(bound), tuple(sorted(kw.items())))
            return UNKNOWN
        namespace, _, name = qualified.rpartition(".")
        table = FUNCTION_TABLES.get(namespace)
        if table is not None:
            return self._function_call(node, name, table.get(name), pos, texts, kw, env)
        if qualified in ("torch.nn.Parameter", "torch.nn.parameter.Parameter", "torch.nn.Buffer"):
            return pos[0] if pos and isinstance(pos[0], Tensor) else UNKNOWN  # shares its data, layout and all
        if namespace == "torch.nn.utils.rnn" and name in modules.PACKING:
            first = pos[0] if pos else kw.get("input", kw.get("sequence", kw.get("sequences", UNKNOWN)))
            return modules.packing(name, first, self._args(pos[1:], texts[1:], kw, node, "function", env))
        if namespace == "torch.nn":
            if name in ("Sequential", "ModuleList"):
                if name == "ModuleList":
                    given = pos[0] if len(pos) == 1 else TupleV(())
                    if isinstance(given, ListV):
                        return ListV(given.items, given.repeated)
                    return ListV(given.items) if isinstance(given, TupleV) else UNKNOWN
                if STAR in pos:
                    return UNKNOWN
                if pos and all(isinstance(p, ModuleV) for p in pos):  # library modules only: the table's row
                    return modules.construct(name, self._args(pos, [""] * len(pos), {}, node, "module", env)) or UNKNOWN
                return ListV(tuple(pos), sequential=True)
            if name in modules.ROWS:
                made = modules.construct(name, self._args(pos, texts, kw, node, "module", env))
                return UNKNOWN if made is None else made
        return UNKNOWN

    def apply(self, callee: Value, node: cst.Call, env: Env) -> Value:
        """Call a value: a library module, a function, class or instance of this module, a Sequential."""
        pos, texts, kw = self._call_args(node, env)
        return self._call_value(callee, pos, texts, kw, node, env)

    def _call_value(
        self, callee: Value, pos: list[Value], texts: Sequence[str], kw: dict[str, Value], node: cst.Call, env: Env
    ) -> Value:
        if isinstance(callee, ModuleV):
            return self._apply_module(callee, pos, texts, kw, node, env)
        if isinstance(callee, FunctionV):
            closure = self.closures.get(callee.qualname)
            return self.invoke(callee.qualname, pos, kw, closure.copy() if closure else Env(), bound=False, call=node).result
        if isinstance(callee, ClassV):
            return self.construct(callee.qualname, pos, kw)
        if isinstance(callee, LibraryV):
            return self._library_value(callee.qualname, pos, texts, kw, node, env)
        if isinstance(callee, MethodV):
            instance = callee.instance
            summary = self.invoke(
                callee.qualname, pos, kw, _instance_env(instance), bound=True, call=node, klass=instance.qualname
            )
            return summary.result
        if isinstance(callee, PartialV):
            if STAR in pos:
                return UNKNOWN  # where the bound arguments end
            given, bound = [*callee.pos, *pos], ["" for _ in callee.pos]
            return self._call_value(callee.func, given, bound + list(texts), {**dict(callee.kw), **kw}, node, env)
        if isinstance(callee, EitherV):
            results = [self._call_value(option, pos, texts, kw, node, env) for option in callee.options]
            return functools.reduce(join_values, results)
        if isinstance(callee, InstanceV):
            target = self.method(callee.qualname, "forward" if self.is_module_class(callee.qualname) else "__call__")
            if target is None:
                children = dict(callee.state).get(CHILDREN)
                sequential = isinstance(children, ListV) and children.sequential
                return self._call_value(children, pos, texts, kw, node, env) if sequential else UNKNOWN  # type: ignore[arg-type]
            summary = self.invoke(target, pos, kw, _instance_env(callee), bound=True, call=node, klass=callee.qualname)
            return summary.result
        if isinstance(callee, ListV) and callee.sequential:
            value = pos[0] if pos else UNKNOWN
            for item in callee.items:
                value = self._call_value(item, [value], [""], {}, node, env)
            self.calls_to.pop(id(node), None)  # the children got outputs, not this call's arguments
            return value
        return UNKNOWN

    def member(self, owner: Value, name: str) -> Value | None:
        """``owner.<name>`` for an instance or a class of this module, as Python looks it up: a
        method of the instance's class, bound to it (``nn.Module`` keeps submodules out of the
        instance dict, so methods come first); what its ``__init__`` stored in ``self.<name>``
        (``self.img_attn.proj``); a class written in the class's body (``operations.Linear``)."""
        if isinstance(owner, InstanceV):
            target = self.method(owner.qualname, name)
            return MethodV(owner, target) if target is not None else dict(owner.state).get(f"self.{name}")
        if isinstance(owner, ClassV) and f"{owner.qualname}.{name}" in self.classes:
            return ClassV(f"{owner.qualname}.{name}")
        return None

    def construct(self, klass: str, pos: list[Value], kw: dict[str, Value]) -> Value:
        """An instance of a class of this module, with the ``self.`` facts its ``__init__`` leaves."""
        # sizes a constructor call passes are one configuration (a demo, a test), unless the call
        # sits in another module's ``__init__``: there they are that model's architecture
        generic = self.frame.owner is None or self.frame.qualname.rsplit(".", 1)[-1] != "__init__"
        init = self.method(klass, "__init__")
        if init is None and self._fields(klass):
            return self._dataclass(klass, pos, kw, generic)
        if init is None:
            return InstanceV(klass, tuple(sorted(self.constants(klass).items())))
        if not self.reaches(init):
            return UNKNOWN
        summary = self.invoke(init, pos, kw, Env(self.constants(klass)), bound=True, generic=generic, klass=klass)
        if summary.state is None:
            return UNKNOWN
        return InstanceV(klass, summary.state, summary.subst)

    def _dataclass(self, klass: str, pos: list[Value], kw: dict[str, Value], generic: bool) -> Value:
        """An instance of a ``@dataclass`` (``Params(dim=32, attn_func=f)``): each field what the
        call gives it, else its default. Sizes the call gives are one configuration when
        ``generic``, as for any constructor (:meth:`construct`); what a default says stays."""
        fields = dict(self._fields(klass))
        if STAR in pos or "**" in kw or len(pos) > len(fields):
            return UNKNOWN
        state = dict(self.constants(klass))
        for index, (name, node) in enumerate(fields.items()):
            given = pos[index] if index < len(pos) else kw.get(name)
            if given is not None and generic and _literal_size(given):
                given = UNKNOWN
            if given is None and node is not None:
                given = self.default(node) or (self.top_level.get(node.value) if isinstance(node, cst.Name) else None)
            if given is not None and not isinstance(given, UnknownV):  # else read as the prior reads it
                state[f"self.{name}"] = given
        return InstanceV(klass, tuple(sorted(state.items())))

    def _fields(self, klass: str, seen: frozenset[str] = frozenset()) -> tuple[tuple[str, cst.BaseExpression | None], ...]:
        """The fields of ``klass``'s generated ``__init__``: its dataclass bases' first, then its own."""
        if klass in seen:
            return ()
        out: dict[str, cst.BaseExpression | None] = {}
        for base in reversed(self.classes.get(klass, ((), {}))[0]):
            out.update(dict(self._fields(base, seen | {klass})))
        out.update(dict(self.dataclasses.get(klass, ())))
        return tuple(out.items())

    def _self_call(self, target: str, node: cst.Call, env: Env) -> Value:
        """``self.m(...)``: the method sees this ``self.`` state, and what it writes there comes back."""
        pos, _, kw = self._call_args(node, env)
        seed = Env({k: v for k, v in env.vars.items() if k.startswith("self.")}, dict(env.subst))
        # ``self`` is at least of this method's class: a base method reached through ``super()``
        # dispatches its own ``self.m()`` there (BART's ``output`` inside the base's ``decode_forced``)
        summary = self.invoke(target, pos, kw, seed, bound=True, call=node, klass=self.frame.klass or self.frame.owner)
        if summary.state is not None:
            for key in [k for k in env.vars if k.startswith("self.")]:
                del env.vars[key]
            env.vars.update(summary.state)
        return summary.result

    def _bound_method(self, node: cst.Attribute, env: Env) -> MethodV | None:
        """``self.squash`` taken without a call (``dynamic_routing(b, u, self.squash)``): the method,
        bound to this ``self.`` state, so that calling it wherever it goes is ``self.squash(...)``."""
        if not (type(node.value) is cst.Name and node.value.value == "self" and self.frame.owner is not None):
            return None
        klass = self.frame.klass or self.frame.owner
        target = self.method(klass, node.attr.value)
        if target is None:
            return None
        state = tuple(sorted((k, v) for k, v in env.vars.items() if k.startswith("self.")))
        return MethodV(InstanceV(klass, state, tuple(sorted(env.subst.items()))), target)

    def _size_call(
        self, node: cst.Call, name: str, value: Value, tensor: Tensor, func: cst.Attribute, env: Env
    ) -> Value:
        if name == "dim":
            return IntV(tensor.rank) if tensor.rank is not None else UNKNOWN
        pos, _, kw = self._call_args(node, env)
        shape = ShapeV(dotted(func.value), tensor)
        index = pos[0] if pos else kw.get("dim")
        if index is None:
            return shape
        return self._shape_item(shape, ops.as_int(index), node, env)

    def _function_call(
        self, node: cst.Call, name: str, op: ops.Op | None, pos: list[Value], texts: Sequence[str],
        kw: dict[str, Value], env: Env,
    ) -> Value:
        """``torch.<name>(...)`` and the like: an op-table row in its function form
        (``torch.transpose(x, 1, 2)``), or a function of a table's namespace without one (``op`` None)."""
        if op is None:
            return UNKNOWN
        if op.operand == "none":  # creation ops and torch.cat: every argument is a plain argument
            return op.effect(Tensor(), self._args(pos, texts, kw, node, "function", env))
        skip = 1 if op.operand == "after-equation" else 0
        if skip and len(pos) == 2 and isinstance(pos[1], TupleV):  # ``torch.einsum(eq, [a, b])``: one list
            pos, texts = [pos[0], *pos[1].items], [texts[0], *[""] * len(pos[1].items)]
        first = pos[skip] if len(pos) > skip else kw.get("input")
        tensor = self.as_tensor(first) if first is not None else None
        if tensor is None:
            if not isinstance(first, UnknownV) or op.effect not in (*ops.DENSE_EFFECTS, ops.einsum):
                return UNKNOWN
            # ``torch.matmul(probs, v)`` of values without facts: torch makes a new dense tensor
            # whatever went in, so the result is one, of a rank its uses may give
            tensor = Tensor()
        tensor = normalize(tensor, env.subst)
        args = self._args(pos[skip + 1 :], texts[skip + 1 :], kw, node, "function", env)
        if skip and (equation := _string(node.args[0].value)) is not None:
            args.equation = equation
        if name in ("masked_fill", "masked_fill_"):
            self._record_mask(node, tensor, 1, name.endswith("_"))
        return each_backend(op.effect, tensor, args)

    def _apply_module(
        self, module: ModuleV, pos: list[Value], texts: Sequence[str], kw: dict[str, Value], node: cst.Call, env: Env
    ) -> Value:
        if pos and isinstance(pos[0], PackedV):  # ``self.lstm(packed)``
            return modules.packed_forward(module, pos[0], self._args(pos[1:], texts[1:], kw, node, "function", env))
        tensor = self.as_tensor(pos[0]) if pos else None
        if tensor is None:
            if not pos or not isinstance(pos[0], UnknownV):
                return UNKNOWN
            tensor = Tensor()  # a tensor without facts: rows whose output is always dense still say so
        # other operands are tensors too, when they are anything (``mha(seeds, x, x)``)
        rest = [self.as_tensor(v) or v for v in pos[1:]]
        args = self._args(rest, texts[1:], kw, node, "function", env)
        tensor = normalize(tensor, env.subst)
        return assuming(tensor, modules.forward(module, tensor, args))

    # ---- sites ----------------------------------------------------------------------------

    def _record_view(self, func: cst.Attribute, tensor: Tensor, args: ops.Args, node: cst.Call) -> None:
        if len(args.pos) == 1 and not isinstance(args.pos[0], (TupleV, IntV, DimV)):
            return  # dtype view, or a size list we cannot read
        got = args.sizes(0, "size")
        target = resolve_target(tensor.shape, got[0]) if got is not None else None
        sizes = tuple(got[0]) if got is not None else None
        self.views[(id(func), self.frame.context)] = ViewSite(func, tensor, target, self.frame.qualname, sizes,
                                                              self.frame.split)
        self.top_of[id(func)] = self.current_top

    def _record_mask(self, node: cst.Call, tensor: Tensor, index: int, in_place: bool) -> None:
        """``index``: where the mask sits among the positional arguments (1 in ``torch.masked_fill``)."""
        positional = [a for a in node.args if a.keyword is None and not a.star]
        keyword = [a for a in node.args if a.keyword is not None and a.keyword.value == "mask"]
        mask = keyword[0].value if keyword else positional[index].value if len(positional) > index else None
        if mask is not None:
            site = MaskSite(node, tensor, mask, self.facts.get(id(mask), UNKNOWN), in_place, self.frame.split)
            earlier = self.masks.get(id(node))
            if earlier is not None and earlier.split is not None and earlier.split == site.split:
                # another path of the same rank split: what holds on both (a rank may differ)
                joined = join_values(earlier.tensor, tensor)
                site = replace(site, tensor=joined if isinstance(joined, Tensor) else Tensor(),
                               mask_value=join_values(earlier.mask_value, site.mask_value))
            self.masks[id(node)] = site
            if isinstance(site.mask_value, Tensor) and site.mask_value.inserted_at:
                self.filled_with_insertions.setdefault(id(node), []).append(site)
