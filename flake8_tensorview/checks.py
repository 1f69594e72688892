"""Rule checks: turn the sites the walker recorded into diagnostics, each with its fix."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Protocol

import libcst as cst
from libcst.metadata import CodeRange

from .analysis import ViewSite, Walker
from .dims import ONE, product
from .dims import Dim
from .layout import Tensor, broken_merge, runs, view_strides
from .facts import Facts
from .masks import redundant_unsqueezes
from .rules import message


@dataclass(frozen=True)
class Edit:
    """Replace ``old`` (a node of the linted tree) by ``new``."""

    old: cst.CSTNode
    new: cst.CSTNode


@dataclass(frozen=True)
class Step:
    """One labelled place in a finding's story (rustc's secondary labels, SARIF's related
    locations and code flow, LSP's related information): the op that changed the layout, a call
    that carried the tensor into another function. Lines 1-based, columns 0-based as in flake8."""

    line: int
    col: int
    end_line: int
    end_col: int
    label: str


@dataclass(frozen=True, order=True)
class Diagnostic:
    line: int
    col: int
    code: str
    text: str
    """The full message, code first."""
    edit: Edit | None = field(default=None, compare=False, hash=False)
    alternative: Edit | None = field(default=None, compare=False, hash=False)
    """A second fix offered on request (TV101: ``.reshape(...)`` instead of ``.contiguous()``)."""
    end: tuple[int, int] = field(default=(0, 0), compare=False, hash=False)
    """Line and column where the reported node ends."""
    story: tuple[Step, ...] = field(default=(), compare=False, hash=False)
    """The steps that lead to the finding, in program order (the reported node itself excluded)."""
    label: str = field(default="", compare=False, hash=False)
    """What happens at the reported node, for the label under it in a code frame."""
    note: str = field(default="", compare=False, hash=False)
    """Why it can go unnoticed (``runs only when t == 1 or h == 1``)."""
    help: str = field(default="", compare=False, hash=False)
    """The fix, in words and code."""
    fix_title: str = field(default="", compare=False, hash=False)
    """This finding's quick-fix title, when it says more than the rule's ``fix_title``."""
    safe: bool | None = field(default=None, compare=False, hash=False)
    """This finding's fix safety when it differs from finding to finding (None: the rule's)."""


class Positions(Protocol):
    def at(self, node: cst.CSTNode, hint: cst.CSTNode | None = None) -> CodeRange: ...


# ---- TV101 ------------------------------------------------------------------------------------


def view_is_incompatible(site: ViewSite) -> bool:
    """The view raises for generic sizes: the exact ATen algorithm on the known layout says so, or,
    when the sizes asked for cannot be pinned down, there are fewer of them than runs of dims
    adjacent in memory (each target dim must lie within one run)."""
    t, target = site.tensor, site.target
    if t.shape is None or t.strides is None or t.contiguous:
        return False
    if target is None:
        asked = _asked(site.sizes)
        return asked is not None and asked < len(runs(t.shape, t.strides))
    if product(target) != product(t.shape):
        return False
    return view_strides(t.shape, t.strides, target) is None


def _asked(sizes: tuple[Dim | None, ...] | None) -> int | None:
    """How many dims a view's sizes can make at most, when that is all it says."""
    if sizes is None or any(d is not None and (d.coef == 0 or d.is_one) for d in sizes):
        # no sizes to read, an empty tensor (every view of it works), or a 1 that may stand for a
        # dim of size 1 the analysis cannot see (``pos.permute(0, 2, 3, 1).view(1, -1, dim)``)
        return None
    return len(sizes)


def _merged(site: ViewSite) -> str:
    t, target = site.tensor, site.target
    assert t.shape is not None and t.strides is not None
    if target is None:
        groups = runs(t.shape, t.strides)
        names = " | ".join(", ".join(t.label(d) for d in group) for group in groups)
        return f"{len(groups)} runs of dims ({names}) into {_asked(site.sizes)} dims"
    dims = broken_merge(t.shape, t.strides, target)
    if dims is None:
        return "dims whose strides do not fit the new shape"
    numbers = ", ".join(str(d) for d in dims[:-1]) + f" and {dims[-1]}"
    names = ", ".join(t.label(d) for d in dims)
    return f"dims {numbers} ({names})"


def contiguous_first(attr: cst.Attribute) -> Edit:
    """``x.view(...)`` -> ``x.contiguous().view(...)``: one copy, and only where the view would raise."""
    receiver = cst.Call(func=cst.Attribute(value=attr.value, attr=cst.Name("contiguous")))
    return Edit(attr.value, receiver)


def as_reshape(attr: cst.Attribute) -> Edit:
    """``x.view(...)`` -> ``x.reshape(...)`` (``x.view_as(y)`` -> ``x.reshape_as(y)``)."""
    return Edit(attr.attr, attr.attr.with_changes(value=attr.attr.value.replace("view", "reshape")))


def backend_verdicts(site: ViewSite) -> tuple[tuple[str, ...], tuple[str, ...], ViewSite | None]:
    """For a tensor whose layout depends on the kernel torch picks (SDPA): the kernels on which the
    view raises, those on which it runs, and the site as it is on the first kernel that raises."""
    failing: list[str] = []
    working: list[str] = []
    first: ViewSite | None = None
    for name, variant in site.tensor.backends:
        on_it = replace(site, tensor=variant)
        if variant.strides is None and not variant.contiguous:
            return (), (), None  # one kernel's layout is unknown: nothing is decided
        if view_is_incompatible(on_it):
            failing.append(name)
            first = first or on_it
        else:
            working.append(name)
    return tuple(failing), tuple(working), first


def failing_views(facts: Facts) -> Iterator[ViewSite]:
    """Each ``.view`` that raises in some context its function was evaluated in (the first such),
    on every kernel torch may pick. A context whose layout rests on a prior (an argument of unknown
    origin taken as contiguous, every size >= 2) does not count when another context, with facts
    only, shows the view running: the prior loses to what the module says about its arguments. In
    a body split on a rank (``Walker.body``), the view must raise on every path."""
    reported: set[int] = set()
    runs_on_facts = {id(site.attr) for site in facts.views.values() if _runs_on_facts(site)}
    sites = list(facts.views.values())
    for site in sites:
        if id(site.attr) in reported or (site.tensor.assumed and id(site.attr) in runs_on_facts):
            continue
        raising = _raising(site)
        if raising is not None and _on_every_path(site, sites, lambda s: _raising(s) is not None):
            reported.add(id(site.attr))
            yield raising


def _raising(site: ViewSite) -> ViewSite | None:
    """``site`` as it raises on every kernel torch may pick (on the first one, for an SDPA output),
    or None."""
    failing, working, first = backend_verdicts(site)
    if first is not None and not working:
        site = first
    return site if view_is_incompatible(site) else None


def _on_every_path(site: ViewSite, sites: list[ViewSite], holds: Callable[[ViewSite], bool]) -> bool:
    """Whether ``holds`` for ``site`` on every path of the rank split it ran on (see
    :attr:`ViewSite.split`). The paths are the ranks a function says it takes, not all the ranks
    its callers pass: a view that raises for 5-D input and runs for 4-D would be a false alarm in
    every model that only passes 4-D (GPT-J's ``_merge_heads`` without the 5-D branch's
    ``.contiguous()``), so one that raises on some paths only is not reported."""
    if site.split is None:
        return True
    return all(holds(other) for other in sites if other.attr is site.attr and other.split == site.split)


def _runs_on_facts(site: ViewSite) -> bool:
    """Whether ``site`` is decided to run, on a layout that rests on no prior."""
    t = site.tensor
    if t.assumed or t.backends or t.shape is None or (t.strides is None and not t.contiguous):
        return False
    return t.contiguous or (site.target is not None and not view_is_incompatible(site))


def backend_dependent_views(facts: Facts) -> Iterator[tuple[ViewSite, tuple[str, ...], tuple[str, ...]]]:
    """Each ``.view`` that runs on some of the kernels torch may pick and raises on others, with
    those kernels (the first context where that is so), unless it raises somewhere on every one. In
    a body split on a rank, it must raise on some kernel on every path."""
    always = {id(site.attr) for site in failing_views(facts)}
    reported: set[int] = set()
    sites = list(facts.views.values())
    for site in sites:
        if id(site.attr) in always or id(site.attr) in reported:
            continue
        failing, working, first = backend_verdicts(site)
        if first is not None and working and _on_every_path(site, sites, lambda s: bool(backend_verdicts(s)[0])):
            reported.add(id(site.attr))
            yield first, failing, working


def check_views(walker: Walker, positions: Positions) -> Iterator[Diagnostic]:
    facts = Facts(walker)
    for site in failing_views(facts):
        yield _view_diagnostic(site, facts, positions)
    for site, failing, working in backend_dependent_views(facts):
        yield _view_diagnostic(site, facts, positions, failing, working)


def _view_diagnostic(
    site: ViewSite, facts: Facts, positions: Positions, failing: tuple[str, ...] = (), working: tuple[str, ...] = ()
) -> Diagnostic:
    """TV101, or TV102 when the view runs on the kernels in ``working`` and raises on ``failing``."""
    origin = site.tensor.origin
    story: tuple[Step, ...] = ()
    if origin is None:
        op, line = "an earlier op", 0
    else:
        made = facts.made(origin)
        op = made.op
        if made.function and made.function != site.function:
            op += f" in `{_readable(made.function)}()`"
        where = positions.at(made.node, made.anchor)
        line = where.start.line
        story = (Step(where.start.line, where.start.column, where.end.line, where.end.column,
                      f"{op} leaves {_layout(site.tensor)}"),)
    start, end = positions.at(site.attr.dot, site.attr).start, positions.at(site.attr.attr, site.attr).end
    merged = _merged(site)
    method = site.attr.attr.value
    code = "TV102" if working else "TV101"
    assuming = _assuming(site.tensor.assumed)
    if working:
        text = message(code, method=method, merged=merged, op=op, line=line, assuming=assuming,
                       failing=_kernels(failing), working=_kernels(working))
        note = f"runs on {_kernels(working)}; raises on {_kernels(failing)}" + (
            ", which CPU runs whenever dropout_p > 0 and every device falls back to" if "math" in failing else ""
        )
    else:
        text = message(code, method=method, merged=merged, op=op, line=line, assuming=assuming)
        note = _runs_when(site)
    return Diagnostic(
        start.line,
        start.column,
        code,
        text,
        contiguous_first(site.attr),
        as_reshape(site.attr),
        (end.line, end.column),
        story=story,
        label=f"merges {merged}" + (f" on {_kernels(failing)}" if working else ""),
        note=note,
        help=f"call .contiguous() before .{method}() (one copy), or use .reshape{'_as' if method == 'view_as' else ''}()",
    )


def _assuming(names: tuple[str, ...]) -> str:
    """`` if `x` arrives contiguous``: the prior a finding rests on, said in its message."""
    if not names:
        return ""
    if len(names) == 1 and names[0].endswith(")"):  # a call's result: ``heads()``, ``attn.to_q(x)``
        return f" if `{names[0]}` returns a contiguous tensor"
    listed = ", ".join(f"`{n}`" for n in names[:-1]) + f" and `{names[-1]}`" if len(names) > 1 else f"`{names[0]}`"
    return f" if {listed} arrive{'' if len(names) > 1 else 's'} contiguous"


def _kernels(names: tuple[str, ...]) -> str:
    """``math`` / ``math and memory-efficient`` / ``a, b and c`` kernels."""
    listed = ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]
    return f"the {listed} kernel{'s' if len(names) > 1 or ' and ' in names[0] else ''}"


def _readable(qualname: str) -> str:
    """``Block.forward.<locals>.shape`` -> ``shape``; ``Block.forward`` stays as it is."""
    return qualname.split(".<locals>.")[-1].split("#")[0]


def _layout(t: Tensor) -> str:
    """``(b, t, h, hd), strides (t*h*hd, hd, t*hd, 1)`` by the code's own names where it has them."""
    assert t.shape is not None
    names = ", ".join(t.label(d) for d in range(len(t.shape)))
    strides = ", ".join(str(s) for s in t.strides) if t.strides is not None else "unknown"
    return f"shape ({names}), strides ({strides})"


def _runs_when(site: ViewSite) -> str:
    """Which sizes being 1 would make the view run: why a small test can pass."""
    t, target = site.tensor, site.target
    assert t.shape is not None and t.strides is not None
    atoms = sorted(set().union(*(d.atoms() for d in t.shape)))
    ones = []
    for atom in atoms:
        subst = {atom: ONE}
        shape = tuple(d.substitute(subst) for d in t.shape)
        strides = tuple(d.substitute(subst) for d in t.strides)
        if target is None:
            runs_then = len(runs(shape, strides))
            if runs_then <= (_asked(site.sizes) or 0):
                ones.append(_name_of(t, atom))
            continue
        goal = tuple(d.substitute(subst) for d in target)
        if product(goal) == product(shape) and view_strides(shape, strides, goal) is not None:
            ones.append(_name_of(t, atom))
    if not ones:
        return "raises for every size of these dims other than 1"
    return f"runs only when {' or '.join(f'{n} == 1' for n in ones)}; that is why small tests can pass"


def _name_of(t: Tensor, atom: str) -> str:
    """The code's name for a size atom: the label of a dim that is exactly that atom, else the atom."""
    assert t.shape is not None
    for d, size in enumerate(t.shape):
        if size.powers == ((atom, 1),) and size.coef == 1 and t.labels and t.labels[d]:
            return t.labels[d]  # type: ignore[return-value]
    return atom


# ---- TV201 ------------------------------------------------------------------------------------


def check_masks(walker: Walker, positions: Positions) -> Iterator[Diagnostic]:
    facts = Facts(walker)
    seen: set[int] = set()
    for finding in redundant_unsqueezes(facts):
        c = finding.chain
        if id(c.report) in seen:
            continue
        seen.add(id(c.report))
        start = positions.at(c.report, c.top).start
        base = " ".join(facts.module.code_for_node(c.base).split())
        ops = " ".join(facts.module.code_for_node(c.top).split())
        ops = ops[len(base) :] if ops.startswith(base) else ops
        if finding.absorber is not None:  # a mask op broadcast the dims away before any fill
            where = finding.absorber
            said = " ".join(facts.module.code_for_node(where).split())
            said = said if len(said) <= 60 else said[:57] + "..."  # a long mask expression, cut
            step = "broadcasts it against an operand of at least its rank, from the trailing dims"
        else:
            where = finding.site.call
            said = facts.module.code_for_node(finding.site.call.func).strip()
            filled = finding.site.tensor
            rank = f"a {filled.rank}-D tensor" if filled.rank is not None else "the tensor"
            step = f"broadcasts the mask against {rank} from its trailing dims"
        text = message("TV201", ops=ops, call=said, line=positions.at(where).start.line, suggestion=finding.suggestion)
        end = positions.at(c.top).end
        call = positions.at(where.func, where) if isinstance(where, cst.Call) else positions.at(where)
        yield Diagnostic(
            start.line,
            start.column,
            "TV201",
            text,
            Edit(c.top, c.base),
            end=(end.line, end.column),
            story=(Step(call.start.line, call.start.column, call.end.line, call.end.column, step),),
            label=f"{ops} only adds leading size-1 dims",
            note="broadcasting lines the mask up with the tensor from the last dim backwards, so leading "
                 "size-1 dims change nothing",
            help=f"write {finding.suggestion}",
        )


CHECKS = ((check_views, ("TV101", "TV102")), (check_masks, ("TV201",)))
"""Each check with the codes it can report: one whose codes are all left out is not run."""
