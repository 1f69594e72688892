"""The semantic model of one module, with no tensor facts in it: what each imported name stands
for, the functions and classes the module defines, and a call graph between them.

It is built from the ``ast`` tree flake8 already has, so the preselection (which decides, before
libcst parses anything, which functions the interpreter needs) and the interpreter read one model.
Ruff's ``ruff_python_semantic`` and LibCST's ``QualifiedNameProvider`` are the anchors; this one is
smaller because the interpreter keeps its own bindings per function body.

Units of the call graph are what the preselection keeps or cuts: module-level code (``<module>``),
top-level functions and methods (a nested function belongs to the unit it is written in). An edge
``a -> b`` says that evaluating ``a`` may evaluate ``b``. Edges over-approximate: a unit that
mentions a function or class of the module calls it (a class: its ``__init__``, ``forward`` and
``__call__``), ``self.m``
in a method calls every method ``m`` of its class's family, ``x.m(...)`` calls every method ``m``
of the module, and every method starts from its class's ``__init__``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

MODULE = "<module>"

CONVENTIONAL = {"torch": "torch", "F": "torch.nn.functional", "nn": "torch.nn"}
"""How a snippet without imports (a pasted cell, a doc example) spells torch: used only for names
that the module neither imports nor binds."""


@dataclass
class ClassInfo:
    qualname: str
    bases: list[str]
    """Each base as written, qualified through the imports (``torch.nn.Module``) or a class of this
    module (its qualname)."""
    methods: dict[str, str] = field(default_factory=dict)
    """method name -> unit qualname."""


@dataclass
class Semantic:
    imports: dict[str, str] = field(default_factory=dict)
    """Local name -> qualified name, for imports anywhere in the module (``F`` ->
    ``torch.nn.functional``, ``transpose`` -> ``torch.transpose``)."""
    bound: set[str] = field(default_factory=set)
    """Names the module binds other than by import (defs, classes, assignments at any level)."""
    functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = field(default_factory=dict)
    """Unit qualname -> the def (top-level functions and methods)."""
    classes: dict[str, ClassInfo] = field(default_factory=dict)
    top_level: dict[str, str] = field(default_factory=dict)
    """Name at module level -> qualname of the function or class it defines."""
    calls: dict[str, set[str]] = field(default_factory=dict)
    """Unit -> the units it may evaluate."""
    containers: dict[str, set[str]] = field(default_factory=dict)
    """A dict the module binds at module level (``_FILES = {}``) -> the units that store into it
    (``_FILES[path] = (data, rate)``): a unit that reads it may read what they stored, so the call
    graph takes them as its callees."""
    _resolved: dict[tuple[str, str], str | None] = field(default_factory=dict, repr=False, compare=False)
    _callers: dict[str, set[str]] | None = field(default=None, repr=False, compare=False)
    _kin: dict[str, set[str]] | None = field(default=None, repr=False, compare=False)
    """A class (or a base as written) -> the classes of this module it inherits from or that
    inherit from it; made on the first :meth:`family`, once :func:`build` has qualified the bases."""

    # ---- names ----------------------------------------------------------------------------

    def qualify(self, dotted: str | None) -> str | None:
        """``F.softmax`` -> ``torch.nn.functional.softmax``; None when the root is not an import."""
        if dotted is None:
            return None
        root, _, rest = dotted.partition(".")
        base = self.imports.get(root)
        if base is None and root in CONVENTIONAL and root not in self.bound:
            base = CONVENTIONAL[root]
        if base is None:
            return None
        return f"{base}.{rest}" if rest else base

    def imported(self, name: str) -> bool:
        return name in self.imports

    def is_module_class(self, qualname: str, seen: frozenset[str] = frozenset()) -> bool:
        """A subclass of ``torch.nn.Module``, directly or through classes of this module."""
        info = self.classes.get(qualname)
        if info is None or qualname in seen:
            return False
        for base in info.bases:
            if base.startswith("torch.nn.") or base == "torch.nn":
                return True
            if self.is_module_class(base, seen | {qualname}):
                return True
        return False

    def family(self, qualname: str) -> set[str]:
        """The class, its bases and its subclasses within this module, theirs in turn, and so on."""
        if self._kin is None:
            self._kin = {}
            for name, info in self.classes.items():
                for base in info.bases:
                    self._kin.setdefault(base, set()).add(name)
                    if base in self.classes:
                        self._kin.setdefault(name, set()).add(base)
        out = {qualname}
        stack = [qualname]
        while stack:
            for kin in self._kin.get(stack.pop(), ()):
                if kin not in out:
                    out.add(kin)
                    stack.append(kin)
        return out

    def method(self, klass: str, name: str) -> str | None:
        """The unit ``name`` resolves to on an instance of ``klass`` (its own or a base's); asked
        once per pair (building the call graph asks for ``__init__`` once per unit)."""
        key = (klass, name)
        if key not in self._resolved:
            self._resolved[key] = self._method(klass, name)
        return self._resolved[key]

    def _method(self, klass: str, name: str) -> str | None:
        order = [klass]
        seen: set[str] = set()
        while order:
            current = order.pop(0)
            if current in seen or current not in self.classes:
                continue
            seen.add(current)
            info = self.classes[current]
            if name in info.methods:
                return info.methods[name]
            order.extend(info.bases)
        return None

    # ---- the call graph -------------------------------------------------------------------

    def callers(self) -> dict[str, set[str]]:
        """Unit -> the units that may evaluate it (the call graph is complete once built)."""
        if self._callers is None:
            self._callers = {}
            for caller, callees in self.calls.items():
                for callee in callees:
                    self._callers.setdefault(callee, set()).add(caller)
        return self._callers

    def lines(self, units: Iterable[str]) -> int:
        """Source lines of these units (module-level code not counted)."""
        return sum(f.end_lineno - f.lineno + 1 for f in map(self.functions.get, units) if f is not None)  # type: ignore[operator]

    def closure(self, seeds: Iterable[str]) -> set[str]:
        """What the interpreter needs to see to give ``seeds`` the facts a whole-module run gives
        them: every unit that can reach a seed (its arguments come from there), and everything
        those reach (their arguments and returns come from there)."""
        return self.reach(_reach(seeds, self.callers()))

    def reach(self, units: Iterable[str]) -> set[str]:
        """``units`` and every unit they can evaluate."""
        return _reach(units, self.calls)


def _reach(start: Iterable[str], edges: dict[str, set[str]]) -> set[str]:
    out = set(start)
    stack = list(out)
    while stack:
        for nxt in edges.get(stack.pop(), ()):
            if nxt not in out:
                out.add(nxt)
                stack.append(nxt)
    return out


_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)


def build(tree: ast.Module) -> Semantic:
    model = Semantic()
    _index(tree.body, "", model, top=True)
    units: list[tuple[str, list[ast.AST]]] = [(MODULE, list(_module_code(tree)))]
    units += [(q, [f]) for q, f in model.functions.items()]
    reads = {unit: _Reads(nodes, model) for unit, nodes in units}
    for info in model.classes.values():
        info.bases = [_base(b, model) for b in info.bases]
    dicts = _module_dicts(tree)
    for unit, read in reads.items():
        for name in read.stored & dicts:
            model.containers.setdefault(name, set()).add(unit)
    _edges(reads, model)
    return model


def _module_dicts(tree: ast.Module) -> set[str]:
    """Names module-level code binds to a dict display or ``dict()``: containers functions may fill."""
    out: set[str] = set()
    for stmt in tree.body:
        value = stmt.value if isinstance(stmt, (ast.Assign, ast.AnnAssign)) else None
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target] if isinstance(stmt, ast.AnnAssign) else []
        made = isinstance(value, ast.Dict) or (
            isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "dict")
        if made:
            out.update(t.id for t in targets if isinstance(t, ast.Name))
    return out


class _Reads:
    """One pass over a unit: the names it reads, the attributes it reads on ``self``/``cls`` and on
    anything else; imports and bound names go to the model on the way."""

    __slots__ = ("names", "own", "attrs", "stored")

    def __init__(self, nodes: list[ast.AST], model: Semantic) -> None:
        self.names: set[str] = set()
        self.own: set[str] = set()
        self.attrs: set[str] = set()
        self.stored: set[str] = set()
        """Names stored into by subscript (``cache[key] = value``)."""
        # every unit's every node passes here: the loop reads locals, not attributes or globals
        read, read_own, read_attr, bound = self.names.add, self.own.add, self.attrs.add, model.bound
        stack = list(nodes)
        pop, push, extend = stack.pop, stack.append, stack.extend
        name_kind, attribute_kind, call_kind, store_kind = ast.Name, ast.Attribute, ast.Call, ast.Store
        fields_of = CHILD_FIELDS.get
        while stack:
            node = pop()
            kind = type(node)
            if kind is name_kind:
                if type(node.ctx) is store_kind:  # type: ignore[attr-defined]
                    bound.add(node.id)  # type: ignore[attr-defined]
                else:
                    read(node.id)  # type: ignore[attr-defined]
                continue
            # the commonest nodes first, their children pushed directly: most of the walk's time
            if kind is attribute_kind:
                value = node.value  # type: ignore[attr-defined]
                if type(value) is name_kind:  # read, whatever the attribute's own context
                    if value.id in ("self", "cls"):
                        read_own(node.attr)  # type: ignore[attr-defined]
                    else:
                        read_attr(node.attr)  # type: ignore[attr-defined]
                    read(value.id)
                elif type(value) is call_kind and type(value.func) is name_kind and value.func.id == "super":
                    # ``super().__init__()``: a method of the class's family, not every ``__init__``
                    read_own(node.attr)  # type: ignore[attr-defined]
                    push(value)
                else:
                    read_attr(node.attr)  # type: ignore[attr-defined]
                    push(value)
                continue
            if kind is call_kind:
                push(node.func)  # type: ignore[attr-defined]
                extend(node.args)  # type: ignore[attr-defined]
                for keyword in node.keywords:  # type: ignore[attr-defined]
                    push(keyword.value)
                continue
            if kind in _SKIP:
                continue
            if kind is ast.Subscript and type(node.ctx) is store_kind and type(node.value) is name_kind:  # type: ignore[attr-defined]
                self.stored.add(node.value.id)  # type: ignore[attr-defined]
            if kind is ast.Import or kind is ast.ImportFrom:
                _imports(node, model.imports)  # type: ignore[arg-type]
                continue
            fields = fields_of(kind)
            if fields is None:
                continue  # not a node: ``None`` in a list, a string
            if kind in _DEFS:
                bound.add(node.name)  # type: ignore[attr-defined]
            for name in fields:
                child = getattr(node, name, None)
                if type(child) is list:
                    extend(child)
                elif child is not None:
                    push(child)


_SKIP = frozenset({ast.Constant, ast.Load, ast.Store, ast.Del, ast.alias})


def _child_fields() -> dict[type, tuple[str, ...]]:
    """Per node type, the fields that can hold nodes (not ``id``, ``attr``, ``ctx``, operators,
    numbers): the walks below read only these, a good share fewer ``getattr`` calls per node (an
    operator has no children, and an operand always sits beside it: no depth is lost)."""
    never = {"ctx", "op", "ops", "id", "attr", "arg", "name", "names", "module", "level", "n", "s", "kind",
             "conversion", "is_async", "type_comment", "simple", "lineno", "col_offset", "end_lineno",
             "end_col_offset", "tag"}
    out: dict[type, tuple[str, ...]] = {}
    for value in vars(ast).values():
        if isinstance(value, type) and issubclass(value, ast.AST):
            out[value] = tuple(f for f in value._fields if f not in never)
    return out


CHILD_FIELDS = _child_fields()
"""Node type -> the fields a walk over the tree descends into."""


def children(node: ast.AST) -> list[ast.AST]:
    """The nodes directly under ``node`` in :data:`CHILD_FIELDS` (and the ``None`` of a lambda's
    keyword without a default or a dict's ``**``; under anything not a node, nothing)."""
    found: list[ast.AST] = []
    for name in CHILD_FIELDS.get(type(node), ()):
        child = getattr(node, name, None)
        if type(child) is list:
            found.extend(child)
        elif child is not None:
            found.append(child)
    return found


def walk(root: ast.AST) -> list[ast.AST]:
    """``root`` and the nodes under it in :data:`CHILD_FIELDS`, breadth first as ``ast.walk``
    gives them, but in a list built by one loop: ``ast.walk``, a generator over generators, takes
    several times as long."""
    found = [root]
    for node in found:  # what is appended is visited too
        found.extend(children(node))
    return found


_DEFS = frozenset({ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef})


def _base(written: str, model: Semantic) -> str:
    local = model.top_level.get(written)
    if local is not None and local in model.classes:
        return local
    return model.qualify(written) or written


def _imports(node: ast.Import | ast.ImportFrom, out: dict[str, str]) -> None:
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.asname:
                out[alias.asname] = alias.name
            else:
                root = alias.name.split(".")[0]
                out[root] = root
        return
    if node.level or node.module is None:
        return  # relative imports are the project's own modules: not torch
    for alias in node.names:
        if alias.name != "*":
            out[alias.asname or alias.name] = f"{node.module}.{alias.name}"


def _index(body: list[ast.stmt], prefix: str, model: Semantic, top: bool) -> None:
    """Record the units: functions and methods, and classes (at module level, or in a class), also
    inside module-level ``if``/``try`` blocks."""
    for stmt in body:
        if isinstance(stmt, _FUNCTIONS):
            qualname = prefix + stmt.name
            model.functions[qualname] = stmt
            if top:
                model.top_level[stmt.name] = qualname
        elif isinstance(stmt, ast.ClassDef):
            qualname = prefix + stmt.name
            bases = [dotted(b) for b in stmt.bases]
            info = ClassInfo(qualname, [b for b in bases if b is not None])
            model.classes[qualname] = info
            if top:
                model.top_level[stmt.name] = qualname
            for item in stmt.body:
                if isinstance(item, _FUNCTIONS):
                    info.methods[item.name] = f"{qualname}.{item.name}"
            _index(stmt.body, qualname + ".", model, top=False)
        elif top and not prefix:
            for block in blocks(stmt):
                _index(block, prefix, model, top=True)


def blocks(stmt: ast.stmt) -> list[list[ast.stmt]]:
    """The statement blocks of a compound statement (body, else, handlers, finally)."""
    found = [getattr(stmt, "body", []), getattr(stmt, "orelse", []), getattr(stmt, "finalbody", [])]
    found += [h.body for h in getattr(stmt, "handlers", ())]
    return [b for b in found if isinstance(b, list) and b and isinstance(b[0], ast.stmt)]


def dotted(node: ast.AST) -> str | None:
    """``a.b.c`` for a chain of attributes on a name, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def _owner(qualname: str, model: Semantic) -> str | None:
    klass = qualname.rpartition(".")[0]
    return klass if klass in model.classes else None


def _edges(reads: dict[str, _Reads], model: Semantic) -> None:
    by_method: dict[str, set[str]] = {}
    for info in model.classes.values():
        for name, unit in info.methods.items():
            by_method.setdefault(name, set()).add(unit)
    by_nested: dict[str, set[str]] = {}  # ``operations.Linear(...)``: a class written in a class's body
    for qualname in model.classes:
        if "." in qualname:
            by_nested.setdefault(qualname.rpartition(".")[2], set()).update(_targets(qualname, model))
    by_family: dict[frozenset[str], dict[str, set[str]]] = {}
    in_family: dict[str, dict[str, set[str]]] = {}  # a class -> what ``self.<name>`` may run in its methods
    targets: dict[str, set[str]] = {}
    for unit, read in reads.items():
        out = model.calls.setdefault(unit, set())
        owner = _owner(unit, model) if unit != MODULE else None
        if owner is not None:
            if owner not in in_family:
                family = frozenset(model.family(owner))
                if family not in by_family:
                    by_family[family] = _family_methods(family, model)
                in_family[owner] = by_family[family]
            methods = in_family[owner]
            out.update(methods.get("__init__", ()))
            for attr in read.own & methods.keys():
                out.update(methods[attr])
        for name in read.names & model.top_level.keys():
            if name not in targets:
                targets[name] = _targets(model.top_level[name], model)
            out.update(targets[name])
        for attr in read.attrs & by_method.keys():
            out.update(by_method[attr])
        for attr in read.attrs & by_nested.keys():
            out.update(by_nested[attr])
        for name in read.names & model.containers.keys():
            out.update(model.containers[name])
        out.discard(unit)


def _family_methods(family: frozenset[str], model: Semantic) -> dict[str, set[str]]:
    """Method name -> what it resolves to on each class of ``family``: what ``self.<name>`` may
    run in a method of any of them (one table for the family, not a look-up per class and read)."""
    names = {name for klass in family if klass in model.classes for name in model.classes[klass].methods}
    out: dict[str, set[str]] = {}
    for klass in family:
        for name in names:
            target = model.method(klass, name)
            if target is not None:
                out.setdefault(name, set()).add(target)
    return out


ENTRY_POINTS = ("__init__", "forward", "__call__", "__iter__", "__next__")
"""What naming a class can run: constructing it, calling the instance, and a ``for`` over it (its
other methods are reached by ``x.m(...)``, which has edges of its own)."""


def _targets(qualname: str, model: Semantic) -> set[str]:
    if qualname in model.functions:
        return {qualname}
    if qualname not in model.classes:
        return set()
    out: set[str] = set()
    for klass in model.family(qualname):
        for name in ENTRY_POINTS:
            target = model.method(klass, name)
            if target is not None:
                out.add(target)
    return out


def _module_code(tree: ast.Module) -> Iterator[ast.AST]:
    """Module-level statements outside defs and classes (their headers, decorators, bases included)."""
    for stmt in tree.body:
        yield from _outside_defs(stmt)


def _outside_defs(stmt: ast.stmt) -> Iterator[ast.AST]:
    if isinstance(stmt, _FUNCTIONS):
        yield from stmt.decorator_list
        yield stmt.args
        return
    if isinstance(stmt, ast.ClassDef):
        yield from stmt.decorator_list
        yield from stmt.bases
        yield from stmt.keywords
        return
    inside = blocks(stmt)
    if not inside:
        yield stmt
        return
    inner = {id(s) for b in inside for s in b}
    for child in ast.iter_child_nodes(stmt):
        if id(child) not in inner and not isinstance(child, ast.ExceptHandler):
            yield child
    for h in getattr(stmt, "handlers", ()):
        if h.type is not None:
            yield h.type
    for block in inside:
        for s in block:
            yield from _outside_defs(s)
