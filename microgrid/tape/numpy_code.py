"""numpy over a batch: nodes that do the same thing at the same depth run as one array operation.

Every slot's numbers for a whole batch are one row of an array (inputs ``X``,
parameters ``P``, each group's ``A7``), so a group of k nodes computes a (k,
batch) array at once, from its operands gathered out of those arrays. The
formulas are the table's (traced once, written with numpy's functions, see
``NumpyWorld``). Weighted sums that read the same inputs with parameter
weights (the neurons of a layer) become one matrix product ``W @ x + b``,
their weights gathered from the parameters; sums become a sum along an axis.
What parameters alone make (an L2 penalty) is computed once per batch, in
arrays one column wide, and its gradient added up over the rows.

Sums add up in numpy's order (pairwise, and BLAS's in matrix products), not
exactly as graph mode's ``fsum``: results agree to rounding (the tests compare
them with a bound on that rounding). numpy's exp, log and tanh may also differ
from the math module's in the last bit. Any inf or nan, or a failed domain
check, raises, and the caller replays the batch on the checked path, which
names the row.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from microgrid import ops
from microgrid.ops import Operation
from microgrid.tape import analysis, symbolic
from microgrid.tape.capture import Program
from microgrid.tape.formulas import Formulas, formulas, text
from microgrid.tape.python_code import FAULT

_TARGET = re.compile(r"\s*(\w+) = ")
_IDENTIFIER = re.compile(r"\b[A-Za-z_]\w*\b")
FUSION_PAYS = 4.0  # instructions per fused group from which numpy beats generated Python (measured)


@functools.cache
def available() -> bool:
    """True when numpy can be imported (and its world is registered with ``microgrid.ops``)."""
    try:
        import numpy
    except ImportError:
        return False
    ops.register_world(numpy.ndarray, NumpyWorld())
    return True


class NumpyWorld:
    """The functions of ``microgrid.ops`` for numpy arrays: elementwise, and stable where floats' are."""

    def __init__(self) -> None:
        import numpy as np

        self.np = np
        for name, function in {
            "exp": np.exp, "log": np.log, "log1p": np.log1p, "expm1": np.expm1, "log2": np.log2,
            "log10": np.log10, "sqrt": np.sqrt, "sin": np.sin, "cos": np.cos, "tan": np.tan,
            "sinh": np.sinh, "cosh": np.cosh, "tanh": np.tanh, "asin": np.arcsin, "acos": np.arccos,
            "atan": np.arctan, "asinh": np.arcsinh, "acosh": np.arccosh, "atanh": np.arctanh,
            "atan2": np.arctan2, "hypot": np.hypot, "floor": np.floor, "sign": np.sign, "where": np.where,
        }.items():  # fmt: skip
            setattr(self, name, function)

    def exp2(self, x: Any) -> Any:
        """2 ** x, as floats compute it (a power, not numpy's exp2)."""
        return self.np.power(2.0, x)

    def sigmoid(self, x: Any) -> Any:
        """1 / (1 + e ** -x) by the formulas of ``ops.Floats.sigmoid``: exp of -|x| only."""
        np = self.np
        e = np.exp(-np.abs(x))
        return np.where(x >= 0.0, 1.0 / (1.0 + e), e / (1.0 + e))

    def softplus(self, x: Any) -> Any:
        """log(1 + e ** x) by the formula of ``ops.Floats.softplus``."""
        np = self.np
        return np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0.0)

    def fsum(self, terms: Sequence[Any]) -> Any:
        """The sum of the terms, elementwise (in order: not exact, as math.fsum is)."""
        return functools.reduce(lambda a, b: a + b, terms)


def pays(program: Program) -> bool:
    """True when the graph is wide enough that fused array operations beat generated Python."""
    if not program.ops:
        return False
    return len(program.ops) / len(analysis.groups(program, _parts(program))) >= FUSION_PAYS


# --- the plan: groups, and where each slot's numbers are -----------------------------------------


@dataclass
class _Group:
    op: Operation
    members: list[int]  # slots, in program order
    static: bool
    consts: tuple[float, ...] | None  # shared constants; None when they differ (then arrays K..)
    values: int  # Value operands per member


def _parts(program: Program) -> list[Formulas]:
    return [formulas(op, len(o), c) for op, o, c in zip(program.ops, program.operands, program.consts)]


class _Plan:
    """Groups and locations: every slot's (array, row), and the source lines being written."""

    def __init__(self, program: Program) -> None:
        import numpy as np

        self.np = np
        self.program = program
        self.static = program.statics()
        self.namespace: dict[str, Any] = {}
        self.location: list[tuple[str, int]] = [("X", i) for i in range(program.n_inputs)]
        self.location += [("P", j) for j in range(len(program.params))]
        self.size = {"X": program.n_inputs, "P": len(program.params)}
        self.array_static = {"X": False, "P": True}
        self.location += [("", 0)] * len(program.ops)
        self.made = {"GP", "GX"}  # gradient arrays made so far, as backward is written
        self.flow = analysis.flow(program, _parts(program))
        self.feeds = {"X": False, "P": True}  # arrays whose gradients reach a parameter
        grouped = analysis.groups(program, _parts(program), self.flow)
        depth = analysis.depths(program)
        self.groups: list[_Group] = []
        # each group after the groups it reads: by depth (then by its first node)
        for members in sorted(grouped.values(), key=lambda m: (depth[m[0]], m[0])):
            i = program.instruction_of(members[0])
            consts = program.consts[i]
            same = all(program.consts[program.instruction_of(s)] == consts for s in members)
            group = _Group(
                program.ops[i],
                members,
                self.static[members[0]],
                consts if same else None,
                len(program.operands[i]),
            )
            self.groups.append(group)
        settled = self._lay_out_members()
        self.param_order = self._lay_out_params()
        for k, j in enumerate(self.param_order):
            self.location[program.n_inputs + j] = ("P", k)
        for n, group in enumerate(self.groups):
            if not settled[n] and group.values:  # no reader asked for an order: read its operands in theirs
                group.members.sort(
                    key=lambda slot: self.location[program.operands[program.instruction_of(slot)][0]]
                )
            name = f"A{n}"
            for row, slot in enumerate(group.members):
                self.location[slot] = (name, row)
            self.size[name] = len(group.members)
            self.array_static[name] = group.static
            self.feeds[name] = self.flow.feeds_params[group.members[0]]

    # --- layout: where each number sits, so that what a group reads is a slice, not a gather ---

    def reads(self, group: _Group) -> list[list[int]]:
        """The lists of slots the group's code gathers, each in the order it reads them.

        A sum reads its terms, member by member; a layer (``is_layer``) its
        weights (row by row of W), its biases and its shared inputs; other
        weighted sums their weights, biases and every input; anything else
        its k-th operands, for each k.
        """
        program = self.program
        operands = [program.operands[program.instruction_of(s)] for s in group.members]
        if group.op.name == "sum":
            return [[c for row in operands for c in row]]
        if group.op.name == "weighted_sum":
            size = (group.values - 1) // 2
            weights = [c for row in operands for c in row[:size]]
            biases = [row[-1] for row in operands]
            if self.is_layer(group):
                return [weights, biases, list(operands[0][size : 2 * size])]
            return [weights, biases, [c for row in operands for c in row[size : 2 * size]]]
        return [[row[j] for row in operands] for j in range(group.values)]

    def is_layer(self, group: _Group) -> bool:
        """True for weighted sums that read the same inputs with parameter weights: ``W @ x + b``."""
        program = self.program
        operands = [program.operands[program.instruction_of(s)] for s in group.members]
        size = (group.values - 1) // 2
        inputs = operands[0][size : 2 * size]
        return all(row[size : 2 * size] == inputs for row in operands) and all(
            self.static[c] for row in operands for c in row[:size]
        )

    def _lay_out_members(self) -> list[bool]:
        # A group read whole, each member once, by a later group takes the order that group
        # reads it in (a layer's outputs, in the order the next layer's weights expect them):
        # readers first, so each order is final before the groups it reads are laid out. A sum
        # asks for no order: it adds its terms in the order they sit (see _forward_group).
        # Returns, per group, whether a reader settled its order.
        group_of = {slot: g for g, group in enumerate(self.groups) for slot in group.members}
        settled = [False] * len(self.groups)
        for reader in reversed(self.groups):
            if reader.op.name == "sum":
                continue
            for read in self.reads(reader):
                g = group_of.get(read[0], -1)
                if g >= 0 and not settled[g] and sorted(read) == sorted(self.groups[g].members):
                    self.groups[g].members = list(read)
                    settled[g] = True
        return settled

    def _lay_out_params(self) -> list[int]:
        # the parameters in the order the groups read them, layers' weights and biases first:
        # then W is a view of P and its gradient a slice of GP (no gathering, no scattering)
        program = self.program
        first_reads = [r for g in self.groups if g.op.name == "weighted_sum" for r in self.reads(g)[:2]]
        other_reads = [r for g in self.groups for r in self.reads(g)]
        placed: dict[int, None] = {}
        for read in [*first_reads, *other_reads]:
            for slot in read:
                if program.n_inputs <= slot < program.first:
                    placed.setdefault(slot - program.n_inputs)
        for j in range(len(program.params)):  # read only by guards, or not at all
            placed.setdefault(j)
        return list(placed)

    def constant(self, prefix: str, value: Any) -> str:
        """A name in the namespace for an array the code uses (indices, constants)."""
        name = f"{prefix}{len(self.namespace)}"
        self.namespace[name] = value
        return name

    def pieces(self, slots: Sequence[int]) -> list[tuple[str, list[int]]]:
        """The slots' rows as runs of rows of the same array, in order."""
        runs: list[tuple[str, list[int]]] = []
        for slot in slots:
            array, row = self.location[slot]
            if runs and runs[-1][0] == array:
                runs[-1][1].append(row)
            else:
                runs.append((array, [row]))
        return runs

    def rows_text(self, array: str, rows: list[int], prefix: str = "") -> str:
        """``A3``, ``A3[2:5]``, ``A3[1:9:2]`` or ``A3[I9]``: those rows of the array (or of ``prefix + array``).

        Rows evenly spaced upwards are a slice (a view); any others an index array (a copy).
        """
        lo, name = rows[0], prefix + array
        step = rows[1] - lo if len(rows) > 1 else 1
        if step > 0 and rows == list(range(lo, lo + step * len(rows), step)):
            if lo == 0 and len(rows) == self.size[array]:
                return name
            hi = rows[-1] + 1
            return f"{name}[{lo}:{hi}]" if step == 1 else f"{name}[{lo}:{hi}:{step}]"
        return f"{name}[{self.constant('I', self.np.array(rows))}]"

    def gather(self, slots: Sequence[int], batch: bool, row: bool = False) -> str:
        """The slots' numbers as one array, a row per slot (one column wide when all are static).

        With ``row``, one slot read for every row is that one row (numpy broadcasts it).
        """
        runs = self.pieces(slots)
        if row and len(slots) > 1 and len(set(slots)) == 1:
            array, rows = runs[0]
            return f"{array}[{rows[0]}:{rows[0] + 1}]"
        if len(runs) == 1:
            return self.rows_text(*runs[0])
        width = "B" if batch else "1"
        return f"join({width}, {', '.join(self.rows_text(a, r) for a, r in runs)})"

    def scatter(
        self, slots: Sequence[int], term: str, batch: bool, summed: bool = False, fresh: bool = False
    ) -> list[str]:
        """Lines adding ``term`` (a row per slot) into the slots' gradients.

        Rows of static arrays (one column) get the term added up over the
        batch, unless it is ``summed`` already. A gradient array not made yet
        is made by its first term when that covers it whole (the term itself
        when it is ``fresh``, an array no one else holds; else a copy).
        """
        lines = []
        runs = self.pieces(slots)
        offset = 0
        for array, rows in runs:
            part = term if len(runs) == 1 else f"{term}[{offset}:{offset + len(rows)}]"
            own = fresh and len(runs) == 1
            offset += len(rows)
            if batch and self.array_static[array] and not summed:
                part = f"{part}.sum(axis=1, keepdims=True)"
                own = True
            target = f"G{array}"
            if target not in self.made:
                self.made.add(target)
                if rows == list(range(self.size[array])):
                    lines.append(f"{target} = {part}" if own else f"{target} = {part}.copy()")
                    continue
                lines.append(f"{target} = zeros({array}.shape)")
            if len(set(rows)) == 1 and len(rows) > 1:  # one slot read by every row: their terms' sum
                line = f"G{array}[{rows[0]}:{rows[0] + 1}] += {part}.sum(axis=0, keepdims=True)"
            elif len(set(rows)) < len(rows):  # a slot read twice: its terms add up, unbuffered
                line = f"add_at(G{array}, {self.constant('I', self.np.array(rows))}, {part})"
            else:
                line = f"{self.rows_text(array, rows, 'G')} += {part}"
            # gradients that reach no parameter (the inputs') are worked out only when asked for
            lines.append(line if self.feeds[array] else f"{_INPUTS_ONLY}{line}")
        return lines


# the sums of the numbers checked so far (a sum is inf or nan when one of its numbers is): at the
# end, and before an operation's own function is called, which must see finite numbers only
_CHECKED_SO_FAR = "if checks - checks != 0.0: raise FAULT"
_INPUTS_ONLY = "if want_inputs: "  # before a line that only the inputs' gradients need


def _join(width: int, *pieces: Any) -> Any:
    import numpy as np

    return np.concatenate(
        [p if p.shape[1] == width else np.broadcast_to(p, (p.shape[0], width)) for p in pieces]
    )


def _each(function: Any, shape: tuple[int, int], *operands: Any) -> Any:
    # a function of floats (one that could not be traced) applied element by element
    import numpy as np

    arrays = [np.broadcast_to(np.asarray(x, dtype=float), shape) for x in operands]
    out = np.empty(shape)
    for index in np.ndindex(*shape):
        out[index] = function(*(float(a[index]) for a in arrays))
    return out


def _each_check(check: Any, shape: tuple[int, int], *operands: Any) -> None:
    import numpy as np

    arrays = [np.broadcast_to(np.asarray(x, dtype=float), shape) for x in operands]
    for index in np.ndindex(*shape):
        check(*(float(a[index]) for a in arrays))


def _each_rule(rule: Any, values: int, shape: tuple[int, int], out: Any, *operands: Any) -> list[Any]:
    import numpy as np

    arrays = [np.broadcast_to(np.asarray(x, dtype=float), shape) for x in (out, *operands)]
    locals_ = [np.empty(shape) for _ in range(values)]
    for index in np.ndindex(*shape):
        found = rule(*(float(a[index]) for a in arrays))
        for j in range(values):
            locals_[j][index] = found[j]
    return locals_


class NumpyCode:
    """The program as numpy code over a batch: forward and backward, one array operation per group."""

    def __init__(self, program: Program) -> None:
        available()
        import numpy as np

        self.np = np
        plan = _Plan(program)
        self._plan = plan
        # the program as this code reads it: its parameters laid out as the plan placed them
        self.program = program.with_params(plan.param_order)
        self._largest_layer = 0  # weights in the largest layer: whether BLAS would thread its product
        forward = ["def forward(X, P):", "    X = X.T", "    B = X.shape[1]", "    checks = 0.0"]
        made: list[tuple[_Group, str, dict[str, Any]]] = []
        needs = _needs_check_slots(program)
        for n, group in enumerate(plan.groups):
            info: dict[str, Any] = {}
            forward += self._forward_group(plan, n, group, needs, info)
            made.append((group, f"A{n}", info))
        forward.append(f"    {_CHECKED_SO_FAR}")
        # the guards, once every number is known (a failure anywhere goes to the checked path,
        # which checks them in the program's order)
        forward += _guard_lines(plan)
        body = ["    GP = zeros((P.shape[0], 1))", "    GX = zeros(X.shape) if want_inputs else None"]
        # the seeds are backward's own array (see backward): the output's gradient can be it
        seeded = plan.scatter([program.results[0]], "seeds[None, :]", True, fresh=True)
        body += ["    " + line for line in seeded]
        for group, name, info in reversed(made):
            member = group.members[0]
            if member - program.first < program.cone and not plan.flow.zero[member]:
                lines = self._backward_group(plan, group, name, info)
                if not plan.flow.feeds_params[member] and lines:  # reaches inputs only: when asked for
                    lines = ["if want_inputs:", *("    " + line for line in lines)]
                body += ["    " + line for line in lines]
        body.append("    return GP[:, 0], (GX.T if want_inputs else None)")
        # what backward reads of forward's arrays, handed over by forward
        made_names = {m.group(1) for line in forward for m in [_TARGET.match(line)] if m}
        saved = sorted({"X", *(made_names & set(_IDENTIFIER.findall("\n".join(body))))})
        # the results as rows of one array: a row assigned broadcasts (a number every row shares)
        forward.append(f"    RESULTS = empty(({len(program.results)}, B))")
        forward += [
            f"    RESULTS[{k}] = {a}[{r}]"
            for k, (a, r) in enumerate(plan.location[s] for s in program.results)
        ]
        forward.append(f"    return RESULTS, ({', '.join(saved)},)")
        backward = [
            "def backward(S, seeds, P, want_inputs):",
            f"    {', '.join(saved)}, = S",
            "    B = X.shape[1]",
        ]
        self.source = "\n".join(forward) + "\n\n\n" + "\n".join(backward + body) + "\n"
        namespace: dict[str, Any] = {
            name: getattr(NumpyWorld(), name) for name in (*symbolic.FUNCTIONS, "where", "fsum")
        }
        namespace.update(plan.namespace)
        namespace.update(
            FAULT=FAULT, join=_join, each=_each, each_check=_each_check, each_rule=_each_rule,
            add_at=np.add.at, zeros=np.zeros, empty=np.empty, broadcast_to=np.broadcast_to,
            isfinite=np.isfinite, inf=np.inf, nan=np.nan, np=np, maximum=np.maximum,
        )  # fmt: skip
        exec(compile(self.source, "<tape numpy>", "exec"), namespace)  # noqa: S102 (our own generated code)
        self._forward = namespace["forward"]
        self._backward = namespace["backward"]

    # --- writing one group ---

    def _formulas(self, group: _Group) -> Formulas:
        program = self._plan.program
        i = program.instruction_of(group.members[0])
        n_consts = len(program.consts[i])
        return formulas(group.op, group.values, group.consts, 0 if group.consts is not None else n_consts)

    def _forward_group(
        self, plan: _Plan, n: int, group: _Group, needs: list[bool], info: dict[str, Any]
    ) -> list[str]:
        program = plan.program
        k, batch = len(group.members), not group.static
        width = "B" if batch else "1"
        operands = [program.operands[program.instruction_of(s)] for s in group.members]
        reads = plan.reads(group)
        name = f"A{n}"
        lines: list[str] = []
        if group.op.name == "sum":
            # each member's terms in the order they sit: a run of rows is a slice (numpy's sum
            # has its own order anyway: graph mode's to rounding)
            every = [c for row in operands for c in sorted(row, key=plan.location.__getitem__)]
            lines.append(f"O{n} = {plan.gather(every, batch)}")
            if group.values == 1:  # a sum of one term is the term
                lines.append(f"{name} = O{n}")
            else:
                lines.append(f"{name} = O{n}.reshape({k}, {group.values}, -1).sum(axis=1)")
            info.update(kind="sum", every=every)
        elif group.op.name == "weighted_sum":
            lines += self._weighted_sum(plan, n, group, reads, info)
        else:
            parts = self._formulas(group)
            t = text(parts, True)
            # an operand that is one number for every member can stay one row, which numpy
            # broadcasts, when another operand (or a constant that differs) gives the members' rows
            repeated = [len(read) > 1 and len(set(read)) == 1 for read in reads]
            spread = t.forward is not None and t.alias is None
            spread = spread and any(
                group.consts is None if j >= group.values else not repeated[j]
                for j in t.forward_keys
                if isinstance(j, int)
            )
            names = []
            for j in range(group.values):
                names.append(f"O{n}_{j}")
                lines.append(f"O{n}_{j} = {plan.gather(reads[j], batch, row=spread)}")
            consts = self._const_names(plan, group)
            args = [*names, *consts]
            info.update(kind="formula", names=names, consts=consts, parts=parts, text=t, operands=operands)
            if group.op.domain:
                if t.conditions is None:
                    lines.append(_CHECKED_SO_FAR)
                    lines.append(f"each_check(check_{n}, ({k}, {width}), {', '.join(args)})")
                    plan.namespace[f"check_{n}"] = group.op.check
                else:
                    lines += [f"if not ({c.format(*args)}).all(): raise FAULT" for c in t.conditions]
            if t.alias is not None:
                lines.append(f"{name} = {args[t.alias]}")
            elif t.forward is not None:
                prefix = f"t{n}_"
                lines += [line.format(*args, t=prefix) for line in t.forward_lines]
                reads_batch = any(
                    not plan.array_static[plan.location[row[j]][0]]
                    for row in operands
                    for j in t.forward_keys
                    if isinstance(j, int) and j < group.values
                )
                expression = t.forward.format(*args, t=prefix)
                if batch and not reads_batch:
                    expression = f"broadcast_to({expression}, ({k}, B))"
                elif not batch and not t.forward_keys:
                    expression = f"broadcast_to({expression}, ({k}, 1))"
                lines.append(f"{name} = {expression}")
            else:
                plan.namespace[f"forward_{n}"] = group.op.forward
                lines.append(_CHECKED_SO_FAR)
                lines.append(f"{name} = each(forward_{n}, ({k}, {width}), {', '.join(args)})")
        if any(needs[s] for s in group.members):
            # inf or nan anywhere makes the sum inf or nan (a sum that only overflows is a rare
            # false alarm: the checked path then finds nothing wrong)
            lines.append(f"checks += {name}.sum()")
        return ["    " + line for line in lines]

    def _const_names(self, plan: _Plan, group: _Group) -> list[str]:
        if group.consts is not None:
            return []
        program = plan.program
        columns = zip(*(program.consts[program.instruction_of(s)] for s in group.members))
        return [plan.constant("K", self.np.array(column, dtype=float).reshape(-1, 1)) for column in columns]

    def _weighted_sum(
        self, plan: _Plan, n: int, group: _Group, reads: list[list[int]], info: dict[str, Any]
    ) -> list[str]:
        k, size = len(group.members), (group.values - 1) // 2
        batch = not group.static
        weights, biases, inputs = reads
        lines = [f"W{n} = {plan.gather(weights, batch)}", f"b{n} = {plan.gather(biases, batch)}"]
        if plan.is_layer(group):  # a layer: the same inputs, weights that are parameters: W @ x + b
            lines[0] = f"W{n} = {plan.gather(weights, False)}.reshape({k}, {size})"
            lines.append(f"X{n} = {plan.gather(inputs, batch)}")
            lines.append(f"A{n} = W{n} @ X{n} + b{n}")
            info.update(kind="matmul", weights=weights, inputs=inputs, biases=biases, size=size)
            self._largest_layer = max(self._largest_layer, k * size)
        else:
            lines.append(f"X{n} = {plan.gather(inputs, batch)}")
            lines.append(
                f"A{n} = (W{n}.reshape({k}, {size}, -1) * X{n}.reshape({k}, {size}, -1)).sum(axis=1) + b{n}"
            )
            info.update(kind="products", weights=weights, inputs=inputs, biases=biases, size=size)
        return lines

    def _backward_group(self, plan: _Plan, group: _Group, name: str, info: dict[str, Any]) -> list[str]:
        n = name[1:]
        k, batch = len(group.members), not group.static
        g = f"G{name}"
        lines: list[str] = []
        if g not in plan.made:  # no term reached it (it cannot matter): zeros
            plan.made.add(g)
            lines.append(f"{g} = zeros({name}.shape)")
        kind = info["kind"]
        if kind == "sum" and group.values == 1:
            # the one operand takes g's array: g is complete once its group runs, and read no more
            lines += plan.scatter(info["every"], g, batch, fresh=True)
        elif kind == "sum":
            lines.append(f"D{n} = {g}.repeat({group.values}, axis=0)")
            lines += plan.scatter(info["every"], f"D{n}", batch, fresh=True)
        elif kind == "matmul":
            size = info["size"]
            lines.append(f"DW{n} = ({g} @ X{n}.T).reshape({k * size}, 1)")
            lines += plan.scatter(info["weights"], f"DW{n}", batch, summed=True, fresh=True)
            product = f"DX{n} = W{n}.T @ {g}"
            if all(plan.location[s][0] == "X" for s in info["inputs"]):  # only inputs' gradients
                product = f"{_INPUTS_ONLY}{product}"
            lines.append(product)
            lines += plan.scatter(info["inputs"], f"DX{n}", batch, fresh=True)
            lines += plan.scatter(info["biases"], g, batch)
        elif kind == "products":
            size = info["size"]
            lines.append(f"G3_{n} = {g}[:, None, :]")
            lines.append(f"DW{n} = (X{n}.reshape({k}, {size}, -1) * G3_{n}).reshape({k * size}, -1)")
            lines.append(f"DX{n} = (W{n}.reshape({k}, {size}, -1) * G3_{n}).reshape({k * size}, -1)")
            lines += plan.scatter(info["weights"], f"DW{n}", batch, fresh=True)
            lines += plan.scatter(info["inputs"], f"DX{n}", batch, fresh=True)
            lines += plan.scatter(info["biases"], g, batch)
        else:
            t = info["text"]
            args = [*info["names"], *info["consts"]]
            width = "B" if batch else "1"
            if t.locals is None:
                plan.namespace[f"rule_{n}"] = group.op.rule
                lines.append(
                    f"R{n} = each_rule(rule_{n}, {group.values}, ({k}, {width}), {name}, {', '.join(args)})"
                )
                locals_: list[Any] = [f"R{n}[{j}]" for j in range(group.values)]
            else:
                prefix = f"t{n}_"
                lines += [line.format(*args, o=name, t=prefix) for line in t.rule_lines]
                locals_ = [x.format(*args, o=name, t=prefix) if isinstance(x, str) else x for x in t.locals]
            # g itself, when one operand alone gets it, can be that operand's array (see "sum" above)
            zeros = info["parts"].zero_locals
            passes = [symbolic.is_one(x) and j not in zeros for j, x in enumerate(locals_)].count(True) == 1
            for j, local in enumerate(locals_):
                if j in zeros:
                    continue  # 0 whatever the inputs (detach): checked below instead
                gate = t.gates[j] if t.gates is not None and not t.rule_lines else None
                made: list[str] = []
                if symbolic.is_one(local):
                    term = g
                elif gate is not None and gate[1] == 0.0:  # where(c, 1.0, 0.0) * g is c * g, exactly
                    term = f"D{n}_{j}"
                    made.append(f"{term} = {gate[0].format(*args, o=name)} * {g}")
                elif isinstance(local, str):
                    term = f"D{n}_{j}"
                    made.append(f"{term} = {local} * {g}")
                else:
                    term = f"D{n}_{j}"
                    made.append(f"{term} = {symbolic.number_text(local)} * {g}")
                fresh = term != g or passes
                scattered = plan.scatter([row[j] for row in info["operands"]], term, batch, fresh=fresh)
                if scattered and all(line.startswith(_INPUTS_ONLY) for line in scattered):
                    made = [f"{_INPUTS_ONLY}{line}" for line in made]  # a term only inputs' gradients read
                lines += made + scattered
            if any(plan.flow.checked[m] for m in group.members):  # graph mode's 0 * inf is nan
                lines.append(f"if not isfinite({g}).all(): raise FAULT")
        return lines

    # --- running ---

    def prepare(self, rows: list[Any]) -> Any:
        """Checked rows (lists of floats) as one 2-D array."""
        np = self.np
        return np.array(rows, dtype=np.float64).reshape(len(rows), self.program.n_inputs)

    def prepare_array(self, rows: Any) -> Any:
        """A checked 2-D float64 array, as it is."""
        return rows

    def row_lists(self, rows: Any) -> list[list[float]]:
        """Each row as a list of floats (for the checked path)."""
        return list(rows.tolist())

    def forward(self, rows: Any, params: Any) -> tuple[list[Any], Any]:
        """(the results, a list per result with a number per row; the arrays backward needs)."""
        np = self.np
        if type(params) is list:  # fromiter: a list's floats, fastest
            P = np.fromiter(params, np.float64, len(params)).reshape(-1, 1)
        else:
            P = params.reshape(-1, 1)  # a checked float64 vector (Tape.value_and_grad)
        libraries = _blas_libraries() if self._largest_layer * rows.shape[0] > BLAS_THREADS_FROM else []
        results, arrays = self._run(libraries, self._forward, rows, P)
        return results.tolist(), (arrays, P, libraries)

    def backward(
        self, state: Any, seeds: Sequence[float], params: list[float], inputs: bool = False
    ) -> tuple[Any, Any]:
        """(each parameter's gradient, added up over the rows; with ``inputs``, each row's input gradients).

        Without ``inputs`` the second is None: a layer's input gradients are a
        matrix product as large as its weights' (and training never reads them).
        """
        arrays, P, libraries = state
        seeds_ = self.np.array(seeds, dtype=self.np.float64)  # a new array, which the code may write to
        return self._run(libraries, self._backward, arrays, seeds_, P, inputs)  # type: ignore[no-any-return]

    def _run(self, libraries: list[Any], function: Any, *args: Any) -> Any:
        # generated code, with inf and nan looked for rather than warned about, and BLAS on one
        # thread when libraries are given (see BLAS_THREADS_FROM)
        threads = _one_blas_thread(libraries)
        try:
            with self.np.errstate(all="ignore"):
                return function(*args)
        finally:
            _restore_blas_threads(libraries, threads)

    def added(self, grads: list[float], param_grads: Any) -> tuple[list[float], bool]:
        """(each ``.grad`` plus its parameter's gradient as floats, whether all are finite): as arrays.

        ``param_grads`` are the finite gradients backward gives.
        """
        np = self.np
        if not any(grads) and type(param_grads) is np.ndarray:
            # zeroed .grads, as between steps: 0.0 + g is g + 0.0 (which makes -0.0 0.0, as that
            # sum does), and the gradients are finite (backward checked them)
            return (param_grads + 0.0).tolist(), True
        with np.errstate(all="ignore"):  # an overflow is looked for, not warned about
            totals = np.fromiter(grads, np.float64, len(grads)) + param_grads
        return totals.tolist(), bool(np.isfinite(totals).all())

    def finite(self, param_grads: Any, input_grads: Any) -> bool:
        """True when every gradient is finite."""
        np = self.np
        return bool(
            np.isfinite(param_grads).all() and (input_grads is None or np.isfinite(input_grads).all())
        )


# OpenBLAS runs a matrix product on several threads once it has this many multiply-adds (its
# GEMM_MULTITHREAD_THRESHOLD, 4 x 65,536) and a layer's product on a batch can: 784 x 16 x 100 has
# 1.25 million. A batch that small gains nothing from a second thread, and on a busy machine the
# threads wait on each other: an MNIST batch of 100 took 24 ms instead of 0.3 on 2 cores with one
# busy. So the replay asks BLAS for one thread (through threadpoolctl, when installed), as the
# benchmarks ask torch.
BLAS_THREADS_FROM = 4 * 65_536


@functools.cache
def _blas_libraries() -> list[Any]:
    # the BLAS libraries loaded (numpy's), as threadpoolctl controls them; none without it
    try:
        from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]
    except ImportError:
        return []
    return list(ThreadpoolController().select(user_api="blas").lib_controllers)


def _one_blas_thread(libraries: list[Any]) -> list[int]:
    # each library's threads before, then one thread each (a few microseconds per library)
    threads = [library.get_num_threads() for library in libraries]
    for library in libraries:
        library.set_num_threads(1)
    return threads


def _restore_blas_threads(libraries: list[Any], threads: list[int]) -> None:
    for library, n in zip(libraries, threads):
        library.set_num_threads(n)


def _needs_check_slots(program: Program) -> list[bool]:
    return analysis.needs_check(program, _parts(program))


def _guard_lines(plan: _Plan) -> list[str]:
    lines = []
    for guard in plan.program.guards:
        a, r = plan.location[guard.left]
        left = f"{a}[{r}]"
        if guard.right_is_slot:
            b, s = plan.location[guard.right]
            right = f"{b}[{s}]"
        else:
            right = symbolic.number_text(guard.right)
        test = f"({left} {guard.comparison} {right})"
        lines.append(
            f"    if not {test}.all(): raise FAULT" if guard.result else f"    if {test}.any(): raise FAULT"
        )
    return lines
