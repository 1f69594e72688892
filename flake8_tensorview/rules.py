"""The rule registry: every code, its message template, fix safety and docs, in one place.

flake8 messages, the tests that require an eval fixture per code, and the docs read this table.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    message: str
    """``str.format`` template for the diagnostic text (without the code)."""
    fix: str
    """``safe``, ``unsafe`` or ``none`` (in Ruff's sense)."""
    what: str
    why: str
    example: str
    use_instead: str
    fix_safety: str
    limitations: str
    fix_title: str = ""
    """What the fix does, as an editor's quick-fix title."""
    alternative_title: str = ""
    """The second fix offered on request, if the rule has one."""
    default: bool = True
    severity: str = "warning"
    """``error`` (the code raises, or the file cannot be read) or ``warning``: the level of SARIF
    results, GitHub annotations and GitLab Code Quality issues."""


RULES: dict[str, Rule] = {
    rule.code: rule
    for rule in (
        Rule(
            code="TV101",
            name="view-of-non-contiguous",
            message=(
                ".{method}() merges {merged}, which {op} on line {line} made non-adjacent in memory{assuming}; "
                "call .contiguous() first or use .reshape()"
            ),
            fix="safe",
            severity="error",
            fix_title="Call .contiguous() before .view()",
            alternative_title="Use .reshape() instead of .view()",
            what=(
                "Flags a `.view(...)` whose target shape merges dims that an earlier op "
                "(`transpose`, `permute`, `.t()`, `.T`, `.mT`, `movedim`, `expand`, strided slicing, ...) "
                "left non-adjacent in memory, so the view raises for every size where those dims are >= 2."
            ),
            why=(
                "`Tensor.view` never copies: it needs strides that fit the new shape. After a transpose, "
                "`view` raises `RuntimeError: view size is not compatible with input tensor's size and "
                "stride`. The bug hides when a dim happens to be 1 (`head_dim == 1`) and appears on the "
                "first real configuration."
            ),
            example=(
                "context = (attn @ values).transpose(1, 2)      # (b, T, H, hd), not contiguous\n"
                "out = context.view(b, num_tokens, self.d_out)  # merges H and hd"
            ),
            use_instead=(
                "context = (attn @ values).transpose(1, 2)\n"
                "out = context.contiguous().view(b, num_tokens, self.d_out)  # or .reshape(...)"
            ),
            fix_safety=(
                "Safe: `.contiguous().view(...)` returns the same values as a view that succeeds, with one "
                "copy where it would have raised."
            ),
            limitations=(
                "Facts cross function boundaries within one file or notebook: helper returns, arguments at "
                "the module's own call sites, `self.` methods and state, nested functions, instances of the "
                "module's `nn.Module` classes (also in `nn.ModuleList`/`nn.Sequential`), and library `nn` "
                "modules (`nn.LSTM(batch_first=True)` returns a transposed output). Imported code of your "
                "own project is not read. The prior: a parameter of a function nothing in the file calls, "
                "or an attribute nothing assigns, is taken as a contiguous tensor whose sizes are "
                "independent and >= 2, and so is an argument the analysis could not follow (an unknown "
                "call's result); a finding that rests on it says so (\"if `x` arrives contiguous\"). "
                "Its rank comes from its uses: a `permute`, unpacking its shape, a jaxtyping annotation "
                "(`Float[Tensor, \"b h t d\"]`, read without importing jaxtyping), the batched input of "
                "a spatial module it is fed to (`Conv2d`: 4-D), or of a `batch_first` RNN, also through "
                "ops that leave its rank unknown (`self.gru(self.embed(x))`: `(B, T, F)`). A call-site "
                "fact always wins over it, and "
                "lambdas, comprehensions and module-level code are call sites too; a function the module calls both with "
                "facts under which its view runs and with an argument it could not follow is not reported "
                "on the prior's account. Sizes a constructor call passes "
                "(`MultiHeadAttention(d_out=2, num_heads=2)`) in a script or test are one configuration: "
                "the class is checked for every size; those a module's `__init__` passes to the modules "
                "it builds are its architecture and are kept. "
                "Cross-function facts stay within a budget: in a module of more than 400 lines, when a "
                "candidate's call-graph closure adds more than 100 lines to it (a large model file), only the functions it calls directly (shortest "
                "first, as many as fit in those 100 lines) give their results, and a caller gives it facts "
                "only when it is its one caller, hands it results of the module's own functions or "
                "tensors its own ops made (a `permute`, a `split`), and fits in what is left with those "
                "functions. "
                "Calls nest at most 12 deep and recursion gives no facts. An `if` that tests a rank "
                "(`len(x.shape) == 4`, `x.dim() == 5`) and leaves a tensor with another rank on each path "
                "splits the rest of the function into one walk per path, and a view after it is reported "
                "only when it raises on every path: one that raises for 4-D input and runs for 5-D (GPT-J's "
                "`_merge_heads` without one branch's `.contiguous()`) is not, since the callers may only ever "
                "pass one of the ranks the function takes. A slice whose step is a size the code names "
                "(LeViT's `[:, ::self.stride]`) is taken to step evenly through its dim, as in working code: "
                "a view that raises only when the step does not divide the size (merging the kept rows "
                "with the dim outside them) is not reported. Library classes and functions named without "
                "being called are their table rows wherever the call comes (`norm_layer=nn.LayerNorm`, "
                "`getattr(nn, rnn_cell.upper())` with the string known); `getattr(obj, \"name\")` is "
                "`obj.name`, a method of the module's classes included; a `for` over a class that is its "
                "own iterator binds what its `__next__` returns, one over a tensor binds `t[0]`, and "
                "`zip(*rows)` gives the rows' columns; a list grown by `.append` in a loop holds what went in "
                "(`torch.cat(outputs)`, `outputs[-1]`); `Fn.apply(*args)` of a `torch.autograd.Function` "
                "runs its `forward(ctx, *args)` (not its `backward`: the gradient autograd hands it has "
                "no facts), and `list(range(a, b))` with the bounds known is those ints (dims to "
                "`permute` by). A tensor returned by an unknown "
                "library call has no facts (a `.view` of it still has the shape it asks for) and is "
                "never flagged; what `torch.matmul`, `softmax` and the other functions whose result is always "
                "a new dense tensor return is such a tensor whatever went in, and a `.view` of a contiguous "
                "tensor is contiguous even when its sizes cannot be read. Sizes handed over in a dict literal "
                "with string keys are read back by key (`info_dict[\"num_patches\"]`). A dict the module "
                "binds at module level (`_FILES = {}`) that its functions store tensors into "
                "(`_FILES[path] = (data, rate)`) is read back, under any key, as the join of everything "
                "stored into it, wherever the reads are (one that ran before a store runs the module once "
                "more); other module-level state, such as a name a function rebinds through `global`, has "
                "no facts. `self.m` taken without a call (`route(u, self.squash)`) is the method bound to "
                "that `self`, and a base method reached through `super()` dispatches its `self.m()` on "
                "the subclass; `functools.partial(f, ...)` calls `f` with those arguments first; a "
                "`@dataclass` instance has the fields its call gives (`Params(attn_func=f)`), else their "
                "defaults; a subclass of `nn.Sequential` without a `forward` runs the modules its "
                "`super().__init__(...)` was given. Sizes a call gives are added and subtracted "
                "(`seqlen - 1` of 5 is 4) and compared (`if logits.size(1) != ys.size(1)`). "
                "Layouts torch decides: `einsum` (ATen's `sumproduct_pair`, an operand of unknown origin "
                "taking the equation's rank), channels-last "
                "(`memory_format=`, convs and norms following their input or their weights, `cat`, "
                "`F.pad`, `F.interpolate` and `nn.Upsample`), `torch.linalg.inv` (column-major), `torch.stft` (frequencies innermost in "
                "memory), `batch_first` RNNs and `pad_packed_sequence(..., batch_first=True)`, "
                "`pad_sequence`, `F.one_hot` and the typed constructors (`torch.LongTensor([i])`: new "
                "dense tensors), `F.linear` (new and dense, an unknown weight giving an out size of its "
                "own), a conv's `.weight` (channels-last "
                "after the module's `.to(memory_format=...)`); a view "
                "whose verdict depends on SDPA's kernel is TV102. "
                "Other `torch.linalg` results, `torch.fft` and `from_numpy` are not modelled."
            ),
        ),
        Rule(
            code="TV102",
            name="view-depends-on-sdpa-backend",
            message=(
                ".{method}() merges {merged}, which {op} on line {line} made non-adjacent in memory on "
                "{failing} but not on {working}{assuming}; call .contiguous() first or use .reshape()"
            ),
            fix="safe",
            severity="error",
            fix_title="Call .contiguous() before .view()",
            alternative_title="Use .reshape() instead of .view()",
            what=(
                "Flags a `.view(...)` of a `F.scaled_dot_product_attention` output (or of what a "
                "`transpose`/`permute` made of it) that works on some of SDPA's kernels and raises on "
                "others. The kernels lay the output out differently: math allocates a contiguous "
                "`(b, h, t, d)` tensor; flash and cuDNN copy the query's dim order; CUDA's "
                "memory-efficient kernel always writes `(b, t, h, d)` memory."
            ),
            why=(
                "Torch picks the kernel at run time, by device, dtype, head size, mask and dropout. Code "
                "written and tested where a query-ordered kernel runs (a GPU, or CPU without dropout) "
                "raises `view size is not compatible with input tensor's size and stride` where math "
                "runs: on CPU whenever `dropout_p > 0` (training), with a 3-D mask, or when a kernel is "
                "disabled, and as the fallback on every device. `docs/sdpa.md` has the decision table."
            ),
            example=(
                "q = q.view(B, T, nh, hs).transpose(1, 2)   # nanoGPT: (B, T, nh, hs) memory\n"
                "y = F.scaled_dot_product_attention(q, k, v, dropout_p=0.1)\n"
                "y = y.transpose(1, 2).view(B, T, C)        # runs on flash, raises on math"
            ),
            use_instead="y = y.transpose(1, 2).contiguous().view(B, T, C)  # or .reshape(B, T, C)",
            fix_safety=(
                "Safe: `.contiguous().view(...)` gives the same values on every kernel, copying only where "
                "the layout needs it (as TV101's fix)."
            ),
            limitations=(
                "The linter does not know which kernel will run, so it reports every view that some kernel "
                "breaks; an enclosing `torch.nn.attention.sdpa_kernel(...)` that rules kernels out is not "
                "read yet. A 4-D query whose layout is unknown (a parameter) is taken as the prior, a "
                "contiguous `(b, h, t, d)` tensor, on which only the memory-efficient kernel lets "
                "`y.transpose(1, 2).view(b, t, c)` run. Outputs of rank other than 4 are left unknown."
            ),
        ),
        Rule(
            code="TV103",
            name="contiguous-then-view",
            message="{receiver}.contiguous().{method}(...) is {receiver}.{reshape}(...) in two calls; write .{reshape}(...)",
            fix="unsafe",
            default=False,
            fix_title="Use .reshape() instead of .contiguous().view()",
            what=(
                "Flags `x.contiguous().view(shape)` (and `.contiguous().view_as(y)`) and offers "
                "`x.reshape(shape)` (`x.reshape_as(y)`). Off by default: turn it on with `--select TV103` "
                "or `--extend-select TV103` (in flake8 and in the command; a prefix such as `TV` or `TV1` "
                "does not)."
            ),
            why=(
                "`reshape` is `view` when the strides allow it and a copy otherwise: it says in one call "
                "what `.contiguous().view()` says in two, and it copies only when it must, where "
                "`.contiguous()` copies whenever the input is not contiguous. A matter of taste, so the "
                "rule is opt-in."
            ),
            example="out = context.contiguous().view(b, num_tokens, self.d_out)",
            use_instead="out = context.reshape(b, num_tokens, self.d_out)",
            fix_safety=(
                "Follows aliasing. Safe when the linter knows the receiver is contiguous (both forms return "
                "a view of it) or knows a plain `.view()` of it would raise (a TV101 site: both forms "
                "copy); the fix title says which. Otherwise unsafe: `reshape` may return a view sharing "
                "memory with the receiver where `.contiguous().view()` returned a copy, so an in-place "
                "write to the result would now reach the receiver. The values are the same either way."
            ),
            limitations=(
                "Only `.contiguous()` called directly before the view, with sizes the linter can read (a "
                "dtype `view` is never flagged). The safe case needs the receiver's facts (see TV101's "
                "limitations); the last context the function was evaluated in decides."
            ),
        ),
        Rule(
            code="TV201",
            name="redundant-leading-unsqueeze-on-mask",
            message=(
                "{ops} only adds leading size-1 dims to the mask of {call} on line {line}, which "
                "broadcasts from the trailing dims anyway; write {suggestion}"
            ),
            fix="safe",
            fix_title="Remove the leading unsqueezes masked_fill broadcasts anyway",
            what=(
                "Flags `unsqueeze(0)` chains, `mask[None, None]`, `unsqueeze(-3)` on a 2-D mask and "
                "`view(1, 1, t, t)` that only put size-1 dims in front of a mask passed to "
                "`masked_fill_` / `masked_fill`."
            ),
            why=(
                "Broadcasting aligns the mask with the tensor from the trailing dims, so leading size-1 "
                "dims change nothing: they are noise that hides which dims the mask really covers, and "
                "they invite the wrong fix when shapes change. Dims inserted anywhere else (a `(b, T)` "
                "padding mask made `(b, 1, 1, T)` by `unsqueeze(1).unsqueeze(2)`) are needed and never "
                "flagged."
            ),
            example=(
                "mask_bool = self.mask.bool()[:num_tokens, :num_tokens]\n"
                "mask_unsqueezed = mask_bool.unsqueeze(0).unsqueeze(0)\n"
                "attn_scores.masked_fill_(mask_unsqueezed, -torch.inf)"
            ),
            use_instead=(
                "mask_bool = self.mask.bool()[:num_tokens, :num_tokens]\n"
                "attn_scores.masked_fill_(mask_bool, -torch.inf)"
            ),
            fix_safety=(
                "Safe: the in-place call keeps the tensor's shape, and the out-of-place call is only "
                "flagged when the tensor has at least the mask's rank, so results are identical."
            ),
            limitations=(
                "A chain is followed to every place its result reaches within the file: names, tuples "
                "returned and unpacked by the caller, arguments of the module's own functions, `if`/`else` "
                "branches that put as many dims in front, `mask[..., -k:]`, `~`, comparisons (`m == 0`, "
                "`m.eq(0)`), and `|`/`&` with a mask of at least its rank. It is flagged only when each of "
                "those places passes it on or is a `masked_fill` mask that broadcasts anyway: anything "
                "else that sees it (arithmetic, a library call, an attribute, a call the analysis did "
                "not follow, a function nobody in the file calls) leaves it alone. A comparison or "
                "`&`/`|`/`^` with a tensor of at least its rank (`pad & causal.unsqueeze(0)` with a 3-D "
                "`pad`) broadcasts the dims away before any fill: the chain is moot from there on, "
                "whatever is done with the result, and is flagged when that result reaches a fill's "
                "mask. A rank the facts lack is read from the syntax only for `x[:, None, :, None]` "
                "(one dim per slice and `None`). A function that fills with a mask "
                "gets its callers' facts within 200 lines of them (Gemma's model builds the masks and "
                "its blocks hand them down): beyond that its masks are followed only within it, so "
                "LLMs-from-scratch's Gemma 3 and Tiny Aya notebooks, whose models are longer, are not "
                "flagged. Out-of-place calls need the tensor's rank to be known; a call evaluated "
                "where the analysis lost it (a loop round that joined it away) has no say when "
                "another evaluation knew it."
            ),
        ),
        Rule(
            code="TV301",
            name="discarded-tensor-result",
            message=(
                ".{method}() returns a new tensor and leaves {receiver} unchanged, but this statement throws "
                "the result away; {suggestion}"
            ),
            fix="unsafe",
            fix_title="Use the in-place method, or assign the result",
            what=(
                "Flags an expression statement whose value is the result of a tensor method that returns "
                "a new tensor and changes nothing else (`x.masked_fill(m, v)`, `x.to(device)`, `x.float()`, "
                "`x.transpose(0, 1)`, `x.unsqueeze(0)`, `x.contiguous()`, `x.add(y)`, ...), when the "
                "receiver is known to be a tensor. The methods are the op table's (`ops.py`) rows whose "
                "name does not end in `_`; the in-place ones (`masked_fill_`, `add_`, `requires_grad_`) "
                "are never flagged."
            ),
            why=(
                "The statement does nothing: the tensor is unchanged after it, and the code goes on with "
                "unmasked scores, a tensor on the wrong device or of the wrong dtype. The author meant the "
                "in-place twin (`masked_fill_`) or an assignment (`x = x.to(device)`). pylint's "
                "`expression-not-assigned` skips calls and flake8-bugbear's B018 covers only literals and "
                "attribute reads."
            ),
            example=(
                "scores.masked_fill(mask, float(\"-inf\"))\n"
                "x.to(device)"
            ),
            use_instead=(
                "scores.masked_fill_(mask, float(\"-inf\"))\n"
                "x = x.to(device)"
            ),
            fix_safety=(
                "Unsafe: it changes behaviour, which is the point. Where the op table has the in-place twin "
                "(`masked_fill_`, `add_`, `mul_`, `sub_`, `div_`) the fix calls it (an in-place op cannot "
                "grow its tensor by broadcasting or change its dtype, so it can raise where the "
                "out-of-place one ran); otherwise it assigns the result back to the receiver (`x = "
                "x.to(device)`), only when the receiver is a name or an attribute of one."
            ),
            limitations=(
                "Only method calls (`x.op(...)`, not `torch.op(x)`), only the op table's methods (`clamp`, "
                "`mean`, ... are not in it yet), and only when the receiver is known to be a tensor: a "
                "parameter of a function nothing in the file calls may be a module (`model.to(device)` "
                "works in place) and is never flagged. When a function is evaluated in several contexts, "
                "the last one decides. Under flake8 and in the command's preselected runs, only functions "
                "the preselection parses are checked (files with `.view` or `masked_fill`)."
            ),
        ),
        Rule(
            code="TV901",
            name="internal-error",
            message=(
                "internal error while analysing {where} ({error}); the rest of the file was checked, "
                "please report this"
            ),
            fix="none",
            what="Reports, once per file, that the analysis of one function failed inside the linter.",
            why=(
                "A linter that crashes breaks every commit of the repo that runs it, and one that fails "
                "silently hides what it did not check. The failure is contained to that function and said "
                "once, at its definition, so `# noqa: TV901` or `--extend-ignore TV9` can silence it."
            ),
            example="def forward(self, x):  # TV901 internal error while analysing forward (...)",
            use_instead="Nothing to change in your code: report the message and the function.",
            fix_safety="No fix.",
            limitations=(
                "Inputs nested deeper than 400 levels are skipped silently. Files Python cannot read are "
                "TV902 in the `flake8-tensorview` command (flake8 says E999/E902 itself). A file Python "
                "reads but the installed libcst cannot parse (syntax newer than libcst) is one TV901 at "
                "its first line."
            ),
        ),
        Rule(
            code="TV902",
            name="unreadable-file",
            message="cannot read this file as Python: {error}",
            fix="none",
            severity="error",
            what=(
                "Reports, in the `flake8-tensorview` command, a file it could not read: a syntax error, bytes "
                "that are not valid in the file's encoding (UTF-8 unless a coding cookie says otherwise; the "
                "file is then read as latin-1, as flake8 does, and still checked), or an error from the file "
                "system. The command exits 1, as Ruff does."
            ),
            why=(
                "Python refuses to import such a file, and a linter that passes it in silence claims to have "
                "checked code it never read. flake8 reports the same files as E999 (syntax) or E902 (I/O), "
                "so under flake8 the plugin leaves them to flake8."
            ),
            example="def forward(self, x:  # TV902 cannot read this file as Python: SyntaxError: '(' was never closed",
            use_instead="def forward(self, x):",
            fix_safety="No fix.",
            limitations=(
                "Under flake8 the plugin reports nothing for such files: flake8's E999 and E902 do. Syntax "
                "is that of the Python running the command (`def f[T]()` is an error before 3.12)."
            ),
        ),
    )
}


OFF_BY_DEFAULT: frozenset[str] = frozenset(code for code, rule in RULES.items() if not rule.default)
"""Reported only when selected by their own code (``--select TV103``, ``--extend-select TV103``)."""


def message(code: str, **fields: object) -> str:
    return f"{code} {RULES[code].message.format(**fields)}"
