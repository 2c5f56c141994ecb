"""Generated Python: the program as straight-line code on floats, a whole batch per call.

Each instruction becomes a line or two of Python written from its operation's
formulas (``formulas``): ``v7 = (v5 * p2)``, and in backward, for each
operand, its local derivative times the gradient: ``gp2 += (v5 * g7)``. The
forward function runs a loop over the rows of a batch around that
straight-line code; parameters, and what they alone make (an L2 penalty), are
read and computed once per call, before the loop, and their gradients added
up over the rows and passed back once, after it. A program too large to
compile as one function (a 200,000-step chain) is cut into functions of a few
thousand lines, which pass the numbers that cross a cut through a list.

The code checks little: a domain where the operation has one, and inf or nan
only where a later operation could hide it (relu of -inf is 0). Any failure
raises, and the caller replays the point on the checked path for the error
graph mode gives.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import math
import operator
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from microgrid import ops
from microgrid.tape import analysis, python_fused, symbolic
from microgrid.tape.capture import Program
from microgrid.tape.formulas import Formulas, Text, formulas, text
from microgrid.tape.symbolic import number_text

ONE_FUNCTION_LINES = 20_000  # above this, the program is cut into functions (compile time and memory)
CHUNK_LINES = 2_000
LINE_CHARS = 100  # a chunk counts a longer line as several (a wide sum's line of 1,000 terms as ~170)


class Fault(Exception):
    """Raised by generated code when a check fails: the point goes to the checked path."""


FAULT = Fault()


MAX_DEPTH = 12  # how deep single-use values nest into one expression before one gets a name
# from this many terms added into existing gradients, a node's terms are skipped when its gradient is 0
# (a relu that is off: half a ReLU network's backward); graph mode adds those zeros, which can
# differ only in the sign of a zero. 3 gates a first layer's neurons of two inputs (two weights
# and a bias): micrograd's demo forward and backward 6% faster than from 4
GATE_FROM = 3
# the values checked for inf and nan are checked together, this many to a line: the check can wait,
# since any failure replays the point on the checked path, until a row's end or an operation's
# own function, which must see finite numbers only (a loop in it might never end on inf)
CHECKS_PER_LINE = 32

# the names generated code gives numbers: inputs x3, parameters p3, values v3, gradients g3 gx3 gp3;
# and when groups fuse (python_fused), the row X and the lists of groups' numbers f3 and gradients gf3
_NAME = re.compile(r"\b(?:gx|gp|gf|g|x|p|v|f)\d+\b|\bseed\b|\bX\b")
_ASSIGNMENT = re.compile(r"\s*(\w+) (\+?)= (.*)")


def reads_and_writes(lines: list[str]) -> tuple[list[str], set[str]]:
    """(the names the lines read before writing them, in order; the names they write)."""
    reads: dict[str, None] = {}
    written: set[str] = set()
    for line in lines:
        if line.startswith("#"):  # a group's comment names it, but reads nothing
            continue
        match = _ASSIGNMENT.match(line)
        target, adds, expression = match.groups() if match else ("", "", line)
        for name in _NAME.findall(expression):
            if name not in written:
                reads[name] = None
        if adds and target not in written:
            reads[target] = None
        if target and _NAME.fullmatch(target):
            written.add(target)
    return list(reads), written


class _Names:
    """What each slot's number and gradient are called in the generated code."""

    def __init__(self, program: Program, fused: bool = False) -> None:
        n_in, first = program.n_inputs, program.first
        # with groups fused, the inputs are read from the row X, their gradients kept in lists
        x = "X[{}]" if fused else "x{}"
        self.values = [x.format(i) if i < n_in else f"p{i - n_in}" for i in range(first)]
        self.values += [f"v{s}" for s in range(first, program.n_slots)]
        self.n_inputs = n_in
        self.first = first
        self.fused = fused

    def grad(self, slot: int) -> str:
        """The name of the variable that accumulates the gradient of ``slot`` (before any alias)."""
        if slot < self.n_inputs:
            return f"GX[{slot}]" if self.fused else f"gx{slot}"
        if slot < self.first:
            k = slot - self.n_inputs
            return f"GP[{k}]" if self.fused else f"gp{k}"
        return f"g{slot}"


@dataclass
class _Code:
    """The statements of one program (each a list of lines), before they are packed into functions."""

    static_forward: list[list[str]]
    row_forward: list[list[str]]
    row_backward: list[list[str]]
    static_backward: list[list[str]]
    results: list[str]  # names of the result slots' numbers
    input_grads: list[str]  # per input, the name of its gradient ("0.0" when it gets none)
    param_grads: list[str]  # per parameter, likewise
    accumulators: list[str]  # gradients added up over the rows (parameters, static instructions)
    namespace: dict[str, Any]
    lean: _Code | None = None  # the backward training runs: the parameters' gradients only
    fused: bool = False  # some groups run as loops: inputs in the row X, leaves' gradients in GX, GP


def _calls() -> dict[str, Any]:
    # the functions generated code calls: the world of floats (and, per operation, the parts
    # that could not be written as formulas, called as they are on floats: see _op_function)
    namespace: dict[str, Any] = {name: getattr(ops.Floats, name) for name in symbolic.FUNCTIONS}
    namespace.update(
        fsum=math.fsum, inf=math.inf, nan=math.nan, FAULT=FAULT, add=operator.add, isfinite=math.isfinite
    )
    return namespace


def _op_function(namespace: dict[str, Any], kind: str, op: ops.Operation, function: Any) -> str:
    # a name for one of op's functions in the namespace (the same op shares it)
    name = f"{kind}_{op.name}" if op.name.isidentifier() else f"{kind}_{len(namespace)}"
    while name in namespace and namespace[name] != function:
        name += "_"
    namespace[name] = function
    return name


def generate(
    program: Program, hoist: bool, lean: bool = False, fuse: bool = True, depth: list[int] | None = None
) -> _Code:
    """The program's statements. ``hoist``: compute what parameters alone make once, outside the row loop.

    With ``lean``, ``code.lean`` holds a second backward that works out the
    parameters' gradients only (what training needs). With ``fuse``, wide
    groups of like instructions are written as loops (``python_fused``);
    ``depth`` is ``analysis.depths(program)`` when already worked out.
    """
    first = program.first
    static = program.statics() if hoist else [False] * program.n_slots
    parts = [formulas(op, len(o), c) for op, o, c in zip(program.ops, program.operands, program.consts)]
    texts = [text(p, False) for p in parts]
    checked = analysis.needs_check(program, parts)
    gradients = analysis.flow(program, parts)
    namespace = _calls()
    fusion = None
    if fuse:
        depth = analysis.depths(program) if depth is None else depth
        if python_fused.wide(depth, first):
            fusion = python_fused.plan(program, parts, static, gradients, depth, namespace)
    names = _Names(program, fusion is not None)
    value = list(names.values)  # per slot, its name, or the expression of a single-use value
    inline = _single_use(program, texts, checked, static, fusion)
    order = fusion.order if fusion is not None else range(len(program.ops))
    writer = python_fused.Writer(fusion, value) if fusion is not None else None
    if fusion is not None:
        for slot, (name, k) in fusion.place.items():
            if slot >= first:
                value[slot] = f"{name}[{k}]"
    position = [0] * len(program.ops)  # where each instruction's code comes
    for at, i in enumerate(order):
        position[i] = at
    ready: dict[int, list[int]] = {}
    for k, guard in enumerate(program.guards):
        last = max(guard.left, guard.right if guard.right_is_slot else 0)
        ready.setdefault(position[last - first] if last >= first else -1, []).append(k)
    code = _Code([], [], [], [], [], [], [], [], namespace, fused=fusion is not None)

    def add_guards(at: int) -> None:
        for k in ready.get(at, ()):
            guard = program.guards[k]
            right = value[guard.right] if guard.right_is_slot else number_text(guard.right)
            test = f"{value[guard.left]} {guard.comparison} {right}"
            line = f"if not ({test}): raise FAULT" if guard.result else f"if {test}: raise FAULT"
            is_static = static[guard.left] and (not guard.right_is_slot or static[guard.right])
            (code.static_forward if is_static else code.row_forward).append([line])

    add_guards(-1)
    # values checked for inf and nan, a line per CHECKS_PER_LINE of them (see _checks)
    waiting: dict[bool, list[str]] = {False: [], True: []}

    def flush_checks(is_static: bool, limit: int) -> None:
        names = waiting[is_static]
        if len(names) >= limit:
            (code.static_forward if is_static else code.row_forward).append([_checks(names)])
            names.clear()

    written: set[str] = set()  # groups written so far
    for at, i in enumerate(order):
        op, operands, consts = program.ops[i], program.operands[i], program.consts[i]
        slot, t = first + i, texts[i]
        group = fusion.group_of.get(slot) if fusion is not None else None
        if group is not None:
            assert writer is not None
            if group.name not in written:  # the whole group where its first member comes
                written.add(group.name)
                code.row_forward.append(writer.forward(group, any(checked[s] for s in group.members)))
            add_guards(at)
            continue
        args = [value[c] for c in operands]
        if inline[slot]:  # written into its one use instead
            value[slot] = t.forward.format(*args)  # type: ignore[union-attr]
            continue
        lines: list[str] = []
        if t.forward is None or op.domain and t.conditions is None:
            flush_checks(static[slot], 1)  # its operation's own function sees finite numbers only
        if op.domain:
            if t.conditions is None:
                every = [*args, *(_number(c) for c in consts)]
                lines.append(f"{_op_function(namespace, 'check', op, op.check)}({', '.join(every)})")
            else:
                lines += [f"if not {c.format(*args)}: raise FAULT" for c in t.conditions]
        summed = writer.sum_of(operands) if writer is not None and op.name == "sum" else None
        if summed is not None:  # a sum of a group's list, read as the list
            lines.append(f"{value[slot]} = {summed}")
        elif t.alias is not None:
            value[slot] = args[t.alias]
        elif t.forward is not None:
            prefix = f"t{slot}_"
            lines += [line.format(*args, t=prefix, o=value[slot]) for line in t.forward_lines]
            lines.append(f"{value[slot]} = {t.forward.format(*args, t=prefix, o=value[slot])}")
        else:
            every = [*args, *(_number(c) for c in consts)]
            lines.append(
                f"{value[slot]} = {_op_function(namespace, 'forward', op, op.forward)}({', '.join(every)})"
            )
        if lines:
            statements = code.static_forward if static[slot] else code.row_forward
            if t.forward_lines and t.forward_lines[0].startswith("{o} = ") and summed is None:
                statements += [[line] for line in lines]  # a wide sum line by line: a cut may fall between
            else:
                statements.append(lines)
        if checked[slot]:
            waiting[static[slot]].append(value[slot])
            flush_checks(static[slot], CHECKS_PER_LINE)
        add_guards(at)
    flush_checks(True, 1)
    flush_checks(False, 1)
    code.results = [value[s] for s in program.results]
    walk = (order, fusion)
    _backward(program, parts, texts, gradients, value, names, static, namespace, code, False, walk)
    if lean:
        code.lean = dataclasses.replace(  # the same forward, a backward of its own
            code, row_backward=[], static_backward=[], input_grads=[], param_grads=[], accumulators=[]
        )
        _backward(program, parts, texts, gradients, value, names, static, namespace, code.lean, True, walk)
    return code


def _checks(names: list[str]) -> str:
    # inf or nan in any makes their sum inf or nan (a sum that only overflows is a rare false
    # alarm: the checked path then finds nothing wrong)
    return f"if not isfinite({' + '.join(names)}): raise FAULT"


def _single_use(
    program: Program,
    texts: list[Text],
    checked: list[bool],
    static: list[bool],
    fusion: python_fused.Fusion | None,
) -> list[bool]:
    # Per slot: can its expression be written into its one use? When it is read once,
    # by a forward written as a formula, in the same part of the code (per row or
    # once), and by nothing else: no check, guard, result or derivative needs its name.
    first, n = program.first, program.n_slots
    reads = [0] * n
    reader = [-1] * n
    for i, (t, operands) in enumerate(zip(texts, program.operands)):
        slot = first + i
        formula = t.forward is not None and t.alias is None
        for j, c in enumerate(operands):
            reads[c] += t.forward_counts[j] if formula else 2
            if j in t.condition_keys or t.conditions is None and program.ops[i].domain:
                reads[c] += 2
            reader[c] = slot if formula else -1
        if i < program.cone:  # what backward reads cannot be written away
            keys = t.rule_keys if t.locals is not None else {"out", *range(len(operands))}
            for k in keys:
                reads[slot if k == "out" else operands[k]] += 2
    for s in program.results:
        reads[s] += 2
    for guard in program.guards:
        reads[guard.left] += 2
        if guard.right_is_slot:
            reads[guard.right] += 2
    inline = [False] * n
    for i, t in enumerate(texts):
        slot = first + i
        use = reader[slot]
        inline[slot] = (
            reads[slot] == 1
            and use >= 0
            and static[use] == static[slot]
            and t.forward is not None
            and t.alias is None
            and not t.forward_lines
            and not checked[slot]
            and (fusion is None or slot not in fusion.group_of)  # a group's numbers are in its list
        )
    # a chain of single-use values nests; every MAX_DEPTH levels one gets a name
    depth = [0] * n
    for i, operands in enumerate(program.operands):
        slot = first + i
        if inline[slot]:
            depth[slot] = 1 + (depth[operands[0]] if len(operands) == 1 else max(depth[c] for c in operands))
            if depth[slot] >= MAX_DEPTH:
                inline[slot] = False
                depth[slot] = 0
    return inline


def _backward(
    program: Program,
    parts: list[Formulas],
    texts: list[Text],
    gradients: analysis.Flow,
    value: list[str],
    names: _Names,
    static: list[bool],
    namespace: dict[str, Any],
    code: _Code,
    lean: bool,
    walk: tuple[Sequence[int], python_fused.Fusion | None],
) -> None:
    # The chain rule, outputs first, in graph mode's order (in depth order when groups fuse). A gradient lives in a
    # variable; when a local derivative is 1 (a sum) the operand's gradient is the
    # same number, so it takes over the variable (an alias) instead of copying
    # it: shared read-only by operands that get nothing else, or handed to one.
    # A gradient written once and read once (a chain) nests into its reader.
    # Terms that are 0 whatever the inputs (behind a detach) are left out, and
    # with ``lean`` so are gradients that reach no parameter.
    first = program.first

    skipped = [gradients.skips(c, lean) for c in range(program.n_slots)]

    def term_needed(i: int, j: int) -> bool:
        return not skipped[program.operands[i][j]] and j not in parts[i].zero_locals

    # a node whose local derivatives are finite whenever its operands are (a weighted sum's are
    # its operands, relu's 0 or 1): every number a replay's forward computes is finite (else it
    # failed a check), so when the node's gradient is 0 each term is 0 and can be left out
    zero_skips = list(map(_zero_skips, parts))
    contributions = [0] * program.n_slots
    for i in range(program.cone):
        if not skipped[first + i]:
            zeros = parts[i].zero_locals
            for j, c in enumerate(program.operands[i]):
                if not skipped[c] and j not in zeros:
                    contributions[c] += 1
    output = program.results[0]
    contributions[output] += 1
    gname: dict[int, str] = {}
    depth: dict[str, int] = {}  # for a gradient nested as an expression: how deep
    frozen: set[str] = set()  # names shared by operands that read them only

    def nests(c: int) -> bool:
        # c's gradient, written once, is read once: by c's one operand's term
        return c >= first and c - first < program.cone and len(program.operands[c - first]) == 1

    order, fusion = walk
    for slot in range(first if code.fused else 0, program.n_slots):  # fused: the leaves in lists
        if static[slot] and (slot < first or slot - first < program.cone):
            code.accumulators.append(names.grad(slot))
    writer: python_fused.Writer | None = None
    if fusion is not None:  # the leaves' gradients are lists: the parameters' added up over the rows
        writer = python_fused.Writer(fusion, value, ["GP"] if lean else ["GP", "GX"])
        if not lean:
            code.row_backward.append([f"GX = [0.0] * {program.n_inputs}"])
            gname.update((s, names.grad(s)) for s in range(program.n_inputs))
    if static[output]:
        code.row_backward.append([f"{names.grad(output)} += seed"])
    else:
        gname[output] = "seed"

    def add(c: int, term: str) -> list[str]:
        # lines adding a number into the gradient of c (a group's terms, one by one)
        listed = fusion.gradient_list(c) if fusion is not None else None
        if listed is not None and writer is not None:
            return [*writer.made_before_adding(c), f"{listed[0]}[{listed[1]}] += {term}"]
        if static[c]:
            return [f"{names.grad(c)} += {term}"]
        if c in gname:
            return [f"{gname[c]} += {term}"]
        gname[c] = names.grad(c)
        return [f"{gname[c]} = {term}"]

    done: set[str] = set()  # groups written so far
    for i in reversed(order):
        if i >= program.cone:
            continue
        slot = first + i
        group = fusion.group_of.get(slot) if fusion is not None else None
        if group is not None:  # the whole group, once its members' gradients are complete
            assert writer is not None
            if group.name in done or gradients.skips(slot, lean):
                continue
            done.add(group.name)
            members = [m - first for m in group.members]
            gradient: str | None
            if group.listed:
                gradient = "g" + group.name if "g" + group.name in writer.made else None
            else:
                found = [gname.get(m) for m in group.members]
                if all(f is None for f in found):
                    gradient = None
                elif all(f == found[0] for f in found):
                    gradient = found[0]
                else:
                    gradient = "[" + ", ".join(f or "0.0" for f in found) + "]"
            # per operand, per member: is the term wanted (a local derivative of 0: the writer knows)
            needed = [
                [not skipped[program.operands[m][j]] for m in members] for j in range(group.parts.values)
            ]
            checks = any(gradients.checked[m] for m in group.members)
            written = writer.backward(group, gradient, needed, add, checks)
            if written:
                code.row_backward.append(written)
            continue
        g = names.grad(slot) if static[slot] else gname.get(slot)
        if g is None or gradients.skips(slot, lean):
            continue
        op, operands, t = program.ops[i], program.operands[i], texts[i]
        args, out = [value[c] for c in operands], value[slot]
        lines: list[str] = []
        if t.locals is None:
            every = [out, *args, *(_number(c) for c in program.consts[i])]
            lines.append(f"r{slot} = {_op_function(namespace, 'rule', op, op.rule)}({', '.join(every)})")
            locals_: list[Any] = [f"r{slot}[{j}]" for j in range(len(operands))]
        else:
            if t.rule_lines:
                prefix = f"t{slot}_"
                lines += [line.format(*args, o=out, t=prefix) for line in t.rule_lines]
                locals_ = [x.format(*args, o=out, t=prefix) if isinstance(x, str) else x for x in t.locals]
            else:
                locals_ = [x.format(*args, o=out) if isinstance(x, str) else x for x in t.locals]
        # handing g over to an operand lets that operand add to it later: never while a
        # nested expression still to be read names it (frozen), nor when g is shared
        handed = static[slot] or any(
            symbolic.is_one(locals_[j]) and not static[c] and c not in gname and contributions[c] == 1
            for j, c in enumerate(operands)
        )
        level = depth.get(g, 0)
        # terms added into gradients that already have a value: skipped when g is 0 (see GATE_FROM)
        adds: list[str] = []
        for j, c in enumerate(operands):
            if not term_needed(i, j):
                continue
            listed = fusion.gradient_list(c) if fusion is not None and not static[c] else None
            if listed is not None and writer is not None:  # it lives in a list (made before any add)
                lines += writer.made_before_adding(c)
                gname[c] = f"{listed[0]}[{listed[1]}]"
            local = locals_[j]
            pure = symbolic.is_one(local)
            gate = t.gates[j] if t.gates is not None and not t.rule_lines else None
            if pure:
                term = g
            elif gate is not None and " if " not in g:  # (1.0 if c else k) * g, without the 1.0 *
                # (g is written twice, evaluated once; a gradient holding a gate is not, so
                # nested gates cannot double the text again and again)
                term = f"({g} if {gate[0].format(*args, o=out)} else {_number(gate[1])} * {g})"
            elif isinstance(local, str):
                term = f"({local} * {g})"
            elif _is_minus_one(local):
                term = f"(-{g})"
            else:
                term = f"({_number(local)} * {g})"
            if static[c]:
                adds.append(f"{names.grad(c)} += {term}")
            elif c in gname:
                adds.append(f"{gname[c]} += {term}")
            elif pure and contributions[c] == 1:
                gname[c] = g  # read-only from here on
                frozen.add(g)
            elif pure and not handed and g not in frozen and g not in depth and operands.count(c) == 1:
                gname[c] = g  # handed over: this operand adds to it later
                handed = True
            elif (
                contributions[c] == 1 and nests(c) and level + 1 < MAX_DEPTH and not pure and not handed
            ) and not (t.locals is not None and t.rule_lines):  # a temporary stays in its own statement
                gname[c] = term  # nested into its one reader, which reads g later: g must stay as it is
                depth[term] = level + 1
                frozen.add(g)
            else:
                gname[c] = names.grad(c)
                lines.append(f"{gname[c]} = {term}")
        if len(adds) >= GATE_FROM and not static[slot] and g.isidentifier() and zero_skips[i]:
            lines += [f"if {g}:", *("    " + line for line in adds)]
        else:
            lines += adds
        if gradients.checked[slot]:  # a term 0 * g left out: graph mode's nan when g is not finite
            lines.append(f"if {g} - {g} != 0.0: raise FAULT")
        if lines:
            (code.static_backward if static[slot] else code.row_backward).append(lines)

    for leaf in range(first):  # a leaf's gradient is read by name at the end
        if gname.get(leaf) in depth:
            code.row_backward.append([f"{names.grad(leaf)} = {gname[leaf]}"])
            gname[leaf] = names.grad(leaf)
    if code.fused:
        code.input_grads = [] if lean else ["GX"]
        code.param_grads = ["GP"]
        return
    code.input_grads = [] if lean else [gname.get(s, "0.0") for s in range(program.n_inputs)]
    code.param_grads = [
        names.grad(s) if static[s] else gname.get(s, "0.0") for s in range(program.n_inputs, first)
    ]


@functools.lru_cache(maxsize=8192)
def _zero_skips(parts: Formulas) -> bool:
    # its terms are 0 when its gradient is 0 (see _backward); once per formulas, not per node
    return parts.rule is not None and all(symbolic.selects(local) for local in parts.rule)


_numbers: dict[Any, str] = {}


def _number(x: Any) -> str:
    # number_text, remembered: a graph repeats its constants
    key = (type(x), x)
    found = _numbers.get(key)
    if found is None:
        if len(_numbers) > 10_000:
            _numbers.clear()
        found = _numbers[key] = number_text(x)
    return found


def _is_minus_one(local: Any) -> bool:
    return not isinstance(local, (str, bool)) and local == -1


# --- packing the statements into functions --------------------------------------------------------


def _tuple(items: Sequence[str]) -> str:
    return f"({', '.join(items)},)" if items else "()"


def _targets(items: Sequence[str]) -> str:
    # the left side of an unpacking assignment or a for loop
    return ", ".join(items) + ("," if len(items) == 1 else "") if items else "_"


def _body(statements: list[list[str]], indent: str) -> list[str]:
    return [indent + line for statement in statements for line in statement]


def _lines(statements: list[list[str]]) -> list[str]:
    return [line for statement in statements for line in statement]


class _Rows:
    """How the Python backends take rows: lists of floats, as they come."""

    source: str

    def prepare(self, rows: list[Any]) -> list[Any]:
        """Rows already checked (lists of floats), as forward takes them."""
        return rows

    def prepare_array(self, rows: Any) -> list[Any]:
        """A checked 2-D numpy array of float64, as forward takes it."""
        return list(rows.tolist())

    def row_lists(self, rows: list[Any]) -> list[list[float]]:
        """Each row as a list of floats (for the checked path)."""
        return [list(row) for row in rows]

    def added(self, grads: list[float], param_grads: Sequence[float]) -> tuple[list[float], bool]:
        """(each ``.grad`` plus its parameter's gradient, whether all are finite: rarely false when only their sum overflows)."""
        totals = list(map(operator.add, grads, param_grads))
        total = sum(totals)
        return totals, total - total == 0.0

    def finite(self, param_grads: Sequence[float], input_grads: list[Sequence[float]] | None) -> bool:
        """True when every gradient is finite (rarely false when only their sum overflows)."""
        total = sum(param_grads) + (sum(map(sum, input_grads)) if input_grads is not None else 0.0)
        return bool(total - total == 0.0)


class OneFunction(_Rows):
    """The program as two functions, forward and backward, each looping over the rows of a batch."""

    def __init__(self, program: Program, code: _Code | None = None) -> None:
        self.program = program
        code = generate(program, hoist=True, lean=True) if code is None else code
        names = _Names(program)
        params = names.values[program.n_inputs : program.first]
        inputs = ["X"] if code.fused else names.values[: program.n_inputs]  # fused: read from the row
        static_names = reads_and_writes(_lines(code.static_forward))[1] | set(params)
        row_names = reads_and_writes(_lines(code.row_forward))[1] | set(inputs)
        backward_uses = set(reads_and_writes(_lines(code.row_backward + code.static_backward))[0])
        saved = sorted(backward_uses & row_names, key=_order)
        statics = sorted(backward_uses & static_names - set(params), key=_order)
        forward = ["def forward(rows, P):"]
        if params:
            forward.append(f"    {_targets(params)} = P")
        forward += _body(code.static_forward, "    ")
        row = "X" if code.fused else _targets(inputs)
        # the results in columns, a list per result (R0 the output), as the tape hands them on
        columns = [f"R{k}" for k in range(len(code.results))]
        forward += [f"    {c} = []" for c in columns] + ["    S = []", f"    for {row} in rows:"]
        forward += _body(code.row_forward, "        ")
        forward += [f"        {c}.append({r})" for c, r in zip(columns, code.results)]
        forward.append(f"        S.append({_tuple(saved)})")
        forward.append(f"    return [{', '.join(columns)}], S, {_tuple(statics)}")
        forward = _row_names_first(forward)
        self.source = "\n".join(forward) + "\n\n\n" + _backward_source(code, params, saved, statics) + "\n"
        self._namespace = dict(code.namespace)
        # training never reads the inputs' gradients: the backward it runs works out the
        # parameters' only; the one the source shows is compiled when input_grads() asks
        assert code.lean is not None
        lean = _backward_source(code.lean, params, saved, statics)
        exec(compile("\n".join(forward) + "\n\n\n" + lean + "\n", "<tape>", "exec"), self._namespace)  # noqa: S102
        self._forward = self._namespace["forward"]
        self._lean_backward = self._namespace["backward"]
        self._backward: Any = None

    def forward(self, rows: Sequence[Sequence[float]], params: list[float]) -> tuple[list[Any], Any]:
        """(the results, a list per result with a number per row; what backward needs)."""
        results, saved, statics = self._forward(rows, params)
        return results, (saved, statics)

    def backward(
        self, state: Any, seeds: Sequence[float], params: list[float], inputs: bool = True
    ) -> tuple[Sequence[float], list[Sequence[float]] | None]:
        """(each parameter's gradient, added up over the rows; with ``inputs``, each row's input gradients)."""
        saved, statics = state
        if not inputs:
            return self._lean_backward(saved, seeds, statics, params)[0], None
        if self._backward is None:
            namespace = dict(self._namespace)
            exec(compile(self.source, "<tape>", "exec"), namespace)  # noqa: S102 (our own generated code)
            self._backward = namespace["backward"]
        param_grads, input_grads = self._backward(saved, seeds, statics, params)
        return param_grads, input_grads


def _backward_source(code: _Code, params: list[str], saved: list[str], statics: list[str]) -> str:
    # the backward function: the row loop of the chain rule, then what parameters alone made
    lines = ["def backward(S, seeds, statics, P):"]
    if params:
        lines.append(f"    {_targets(params)} = P")
    if statics:
        lines.append(f"    {_targets(statics)} = statics")
    if code.accumulators:
        lines.append(f"    {' = '.join(code.accumulators)} = -0.0")
    if code.fused and params:  # the parameters' gradients in a list, added up over the rows
        lines.append(f"    GP = [-0.0] * {len(params)}")
    lines.append("    IG = []")
    lines.append(f"    for {'(' + _targets(saved) + '), ' if saved else '_, '}seed in zip(S, seeds):")
    lines += _body(code.row_backward, "        ") or ["        pass"]
    if code.input_grads:
        grads = code.input_grads[0] if code.fused else _tuple(code.input_grads)
        lines.append(f"        IG.append({grads})")
    lines += _body(code.static_backward, "    ")
    param_grads = ("GP" if params else "()") if code.fused else _tuple(code.param_grads)
    lines.append(f"    return {param_grads}, IG")
    return "\n".join(_row_names_first(lines))


# CPython numbers a function's locals in the order it meets them, and only the first 256 have
# one-byte numbers: every use of the others takes an extra instruction (EXTENDED_ARG). A network's
# function has hundreds (a parameter, its gradient and a value each), so its first line names
# those its row loop uses most (forward and backward on micrograd's demo: 15% faster).
ONE_BYTE_LOCALS = 256


def _row_names_first(lines: list[str]) -> list[str]:
    # the function's lines, with an assignment first that names its most used row-loop names
    # when it has more locals than take one-byte numbers
    everything = "\n".join(lines[1:])
    if len(set(_NAME.findall(everything))) < ONE_BYTE_LOCALS - 8:
        return lines
    loop = [line for line in lines if line.startswith("        ")]
    uses = collections.Counter(_NAME.findall("\n".join(loop)))
    arguments = len(lines[0].split(","))
    names = [name for name, _ in uses.most_common(ONE_BYTE_LOCALS - arguments - 8)]
    if not names:
        return lines
    return [
        lines[0],
        f"    {' = '.join(names)} = 0.0  # the most used names first (see ONE_BYTE_LOCALS)",
        *lines[1:],
    ]


def _order(name: str) -> tuple[str, int]:
    digits = name.lstrip("abcdefghijklmnopqrstuvwxyz_")
    return (name[: len(name) - len(digits)], int(digits) if digits.isdigit() else 0)


class Chunked(_Rows):
    """The program cut into functions of a few thousand lines, run row by row.

    Numbers that cross a cut go through lists: ``S`` (the values, by slot) and
    ``G`` (the gradients, by a number per name).
    """

    def __init__(self, program: Program, chunk_lines: int | None = None) -> None:
        chunk_lines = CHUNK_LINES if chunk_lines is None else chunk_lines
        code = generate(program, hoist=False, fuse=False)  # names, not lists, cross its cuts
        self.program = program
        names = _Names(program)
        value_index = {name: s for s, name in enumerate(names.values)}
        backward = _Chunks(code.row_backward, chunk_lines)
        backward_reads, backward_writes = backward.reads_and_writes()
        forward_out = set(code.results) | (set(backward_reads) & set(value_index))
        # the gradients written, by slot (a run of slots is a run of places in G: one slice to load)
        by_slot = [name for name in map(names.grad, range(program.n_slots)) if name in backward_writes]
        others = sorted(backward_writes.difference(by_slot), key=_order)
        grad_index: dict[str, int] = {"seed": 0}
        for name in [*backward_reads, *by_slot, *others]:
            if name not in value_index and name not in grad_index:
                grad_index[name] = len(grad_index)
        leaf_grads = [n for n in code.input_grads + code.param_grads if n != "0.0"]
        sources: list[str] = []
        self._forward_chunks = _pack(
            _Chunks(code.row_forward, chunk_lines), "forward", "S", value_index, {}, forward_out, sources
        )
        self._backward_chunks = _pack(
            backward, "backward", "S, G", value_index, grad_index, set(leaf_grads), sources
        )
        namespace = dict(code.namespace)
        self.source = "\n\n\n".join(sources) + "\n"
        # one function at a time: the syntax tree Python's compile builds takes about 100 bytes
        # per byte of source, so the whole at once held 1.3 GB for the sum of 100,000 products
        for function in sources:
            exec(compile(function, "<tape>", "exec"), namespace)  # noqa: S102 (our own generated code)
        self._forward_functions = [namespace[f] for f in self._forward_chunks]
        self._backward_functions = [namespace[f] for f in self._backward_chunks]
        self._results = [value_index[n] for n in code.results]
        # gradients read from G: those never given one read the 0.0 kept at its end
        self._n_grads = len(grad_index) + 1
        self._input_grads = _reader([grad_index.get(n, -1) for n in code.input_grads])
        self._param_grads = [grad_index.get(n, -1) for n in code.param_grads]
        self._padding = [0.0] * len(program.ops)

    def forward(self, rows: Sequence[Sequence[float]], params: list[float]) -> tuple[list[Any], Any]:
        """(the results, a list per result with a number per row; what backward needs: each row's values)."""
        saved = []
        for row in rows:
            values = [*row, *params, *self._padding]
            for function in self._forward_functions:
                function(values)
            saved.append(values)
        return [[values[k] for values in saved] for k in self._results], saved

    def backward(
        self, state: Any, seeds: Sequence[float], params: list[float], inputs: bool = True
    ) -> tuple[Sequence[float], list[Sequence[float]]]:
        """(each parameter's gradient, added up over the rows; each row's input gradients: always)."""
        param_grads = [-0.0] * len(self._param_grads)
        input_grads: list[Sequence[float]] = []
        for values, seed in zip(state, seeds):
            grads = [0.0] * self._n_grads
            grads[0] = seed
            for function in self._backward_functions:
                function(values, grads)
            input_grads.append(self._input_grads(grads))
            for j, k in enumerate(self._param_grads):
                if k >= 0:
                    param_grads[j] += grads[k]
        return param_grads, input_grads


class _Chunks:
    """Statements cut into chunks of about ``chunk_lines`` lines (of ``LINE_CHARS``), with what each reads and writes."""

    def __init__(self, statements: list[list[str]], chunk_lines: int) -> None:
        self.chunks: list[list[list[str]]] = [[]]
        lines = 0
        for statement in statements:
            if lines >= chunk_lines:
                self.chunks.append([])
                lines = 0
            self.chunks[-1].append(statement)
            lines += max(len(statement), sum(map(len, statement)) // LINE_CHARS)
        self.found = [reads_and_writes(_lines(chunk)) for chunk in self.chunks]

    def reads_and_writes(self) -> tuple[list[str], set[str]]:
        """``reads_and_writes`` of all the statements, from the chunks' (found once)."""
        reads: dict[str, None] = {}
        written: set[str] = set()
        for chunk_reads, chunk_writes in self.found:
            for name in chunk_reads:
                if name not in written:
                    reads[name] = None
            written |= chunk_writes
        return list(reads), written


def _pack(
    statements: _Chunks,
    kind: str,
    arguments: str,
    value_index: dict[str, int],
    grad_index: dict[str, int],
    live_out: set[str],
    sources: list[str],
) -> list[str]:
    # the chunks as functions; each loads what it reads from earlier ones and
    # stores what later ones (or the caller) read
    chunks, found = statements.chunks, statements.found
    last_read: dict[str, int] = {}
    for c, (reads, _) in enumerate(found):
        for name in reads:
            last_read[name] = c

    def place(name: str) -> str:
        return f"S[{value_index[name]}]" if name in value_index else f"G[{grad_index[name]}]"

    functions = []
    for c, (chunk, (reads, writes)) in enumerate(zip(chunks, found)):
        stores = [n for n in writes if n in live_out or last_read.get(n, -1) > c]
        name = f"{kind}_{c}"
        body = [f"    {targets} = {source}" for targets, source in _runs(reads, value_index, grad_index)]
        body += _body(chunk, "    ")
        body += [f"    {source} = {targets}" for targets, source in _runs(stores, value_index, grad_index)]
        sources.append("\n".join([f"def {name}({arguments}):", *(body or ["    pass"])]))
        functions.append(name)
    return functions


def _reader(indices: list[int]) -> Any:
    # a function reading those places of a list (-1: the 0.0 kept at its end), a slice when they follow on
    if indices and indices[0] >= 0 and indices == list(range(indices[0], indices[0] + len(indices))):
        return operator.itemgetter(slice(indices[0], indices[0] + len(indices)))
    getter = operator.itemgetter(*indices, -1)
    return lambda grads: getter(grads)[:-1]


def _runs(names: list[str], value_index: dict[str, int], grad_index: dict[str, int]) -> list[tuple[str, str]]:
    # names moved to or from the lists S and G, a run of consecutive places as one slice:
    # ("v3, v4, v5", "S[3:6]") (for 200,000 inputs, a few lines instead of 200,000)
    placed = sorted(((("S", value_index[n]) if n in value_index else ("G", grad_index[n])), n) for n in names)
    runs: list[tuple[str, int, list[str]]] = []
    for (array, index), name in placed:
        if runs and runs[-1][0] == array and runs[-1][1] + len(runs[-1][2]) == index:
            runs[-1][2].append(name)
        else:
            runs.append((array, index, [name]))
    return [
        (_targets(run), f"{array}[{start}]" if len(run) == 1 else f"{array}[{start}:{start + len(run)}]")
        if len(run) > 1
        else (run[0], f"{array}[{start}]")
        for array, start, run in runs
    ]


def compiled(program: Program) -> OneFunction | Chunked:
    """The program as generated Python: one function pair, or chunks for a very large one."""
    lines = 2 * len(program.ops)
    if lines <= ONE_FUNCTION_LINES:
        return OneFunction(program)
    depth = analysis.depths(program)
    if python_fused.wide(depth, program.first):  # fused, it may fit in one function after all
        code = generate(program, hoist=True, lean=True, depth=depth)
        if sum(map(len, code.row_forward + code.row_backward)) <= ONE_FUNCTION_LINES:
            return OneFunction(program, code)
    return Chunked(program)
