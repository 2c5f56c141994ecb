"""Generated Python for wide graphs: many like instructions written as one loop over lists.

Python compiles a line of source in about 13 µs (profiled: 200,000 lines in 2.7 s), so a program written a line
per instruction cannot compile much faster than that. When many instructions
at the same depth do the same operation (the 100,000 ``w * x`` of a dot
product, a wide layer's products), ``python_code`` writes them as one list
comprehension over lists of their operands' numbers instead, forward and
backward::

    # f3: 100000 x mul
    f3 = [(a0 * a1) for a0, a1 in zip(X[0:100000], X[100000:200000])]

The numbers of such a group live in a list (``f3``, its gradients in ``gf3``),
the inputs' in the row ``X`` and their gradients in ``GX``, the parameters'
in ``P`` and ``GP``; an operand that every member reads is named once in the
formula. Groups are the ones numpy fuses too (``analysis.groups``); narrow
parts of the graph stay straight-line code, and a graph with no group of
``FUSE_FROM`` members (a chain) is written exactly as before.

Instructions run in order of depth, a group as a whole, so gradients that
meet at a node are added up in that order, not graph mode's: equal to rounding.
"""

from __future__ import annotations

import operator
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any

from microgrid.tape import analysis
from microgrid.tape.capture import Program
from microgrid.tape.formulas import Formulas, Text, formulas, text
from microgrid.tape.symbolic import number_text

FUSE_FROM = 256  # members from which a group is written as a loop (narrower: a line each replays faster)
INPUTS, PARAMS = "X", "P"  # the lists of a row's inputs and of the parameters in generated code


def wide(depth: list[int], first: int) -> bool:
    """True when some depth has ``FUSE_FROM`` instructions: only then can a group fuse (cheap to ask).

    ``depth`` is ``analysis.depths(program)``, ``first`` the program's first instruction's slot.
    """
    return max(Counter(depth[first:]).values(), default=0) >= FUSE_FROM


@dataclass
class Group:
    """Instructions written as one loop: their slots (in program order) and shared formulas."""

    name: str  # the list of the members' numbers in a row; "g" + name the list of their gradients
    members: list[int]
    parts: Formulas
    text: Text
    consts: list[str]  # per named constant, the namespace's tuple of it per member (when they differ)
    listed: bool = False  # its gradients are a list (another group adds into them), else named one by one


@dataclass
class Fusion:
    """Which instructions run as groups, where their numbers live, and the order code is written in.

    ``place``: for each slot that lives in a list, (the list, its index):
    inputs in ``X``, parameters in ``P``, members of a group in its list.
    ``order``: the instructions by depth, program order within one.
    """

    program: Program
    groups: list[Group]
    group_of: dict[int, Group]
    place: dict[int, tuple[str, int]]
    order: list[int]

    def gradient_list(self, slot: int) -> tuple[str, int] | None:
        """(the list holding ``slot``'s gradient, its index), when it lives in one."""
        found = self.place.get(slot)
        if found is None:
            return None
        name, index = found
        if name == INPUTS or name == PARAMS:
            return "G" + name, index
        return ("g" + name, index) if self.group_of[slot].listed else None


def plan(
    program: Program,
    parts: list[Formulas],
    static: list[bool],
    found: analysis.Flow,
    depth: list[int],
    namespace: dict[str, Any],
) -> Fusion | None:
    """The groups worth a loop, or None when there are none (the program is then written line by line).

    ``found`` and ``depth`` are ``analysis.flow`` and ``analysis.depths`` of
    the program; constants that differ within a group go into ``namespace``.
    """
    groups: list[Group] = []
    group_of: dict[int, Group] = {}
    for members in analysis.groups(program, parts, found, depth, static).values():
        if len(members) < FUSE_FROM or static[members[0]]:
            continue
        group = _group(program, members, f"f{len(groups)}")
        if group is not None:
            groups.append(group)
            group_of.update(dict.fromkeys(members, group))
    if not groups:
        return None
    place: dict[int, tuple[str, int]] = {i: (INPUTS, i) for i in range(program.n_inputs)}
    place.update((program.n_inputs + k, (PARAMS, k)) for k in range(len(program.params)))
    _lay_out(program, groups, group_of, place, depth)
    for group in groups:  # constants that differ: a tuple per constant, in the members' order
        for k, name in enumerate(group.consts):
            namespace[name] = tuple(program.consts[slot - program.first][k] for slot in group.members)
    for i, operands in enumerate(program.operands):
        reader = group_of.get(program.first + i)
        if reader is not None and i < program.cone:
            for c in operands:
                if c in group_of:
                    group_of[c].listed = True
    first = program.first
    order = sorted(range(len(program.ops)), key=lambda i: depth[first + i])
    return Fusion(program, groups, group_of, place, order)


def _lay_out(
    program: Program,
    groups: list[Group],
    group_of: dict[int, Group],
    place: dict[int, tuple[str, int]],
    depth: list[int],
) -> None:
    # Each group's members in the order a reader reads them, so that what is read is a
    # list or a slice, not single numbers: a group read whole, each member once (by a
    # sum, or by a group one operand each), takes that order, readers first (deepest
    # first); any other the order of its first operands. Then ``place`` has each member.
    first = program.first
    readers: list[tuple[int, list[list[int]]]] = []  # (depth, lists of slots read)
    for group in groups:
        rows = [program.operands[m - first] for m in group.members]
        readers.append((depth[group.members[0]], [[row[j] for row in rows] for j in range(len(rows[0]))]))
    for i, operands in enumerate(program.operands):
        if len(operands) >= FUSE_FROM and first + i not in group_of:
            readers.append((depth[first + i], [list(operands)]))
    readers.sort(key=lambda reader: -reader[0])
    settled: set[str] = set()
    for _, reads in readers:
        for read in reads:
            read_group = group_of.get(read[0])
            if read_group is None or read_group.name in settled or len(read) != len(read_group.members):
                continue
            if len(set(read)) == len(read) and set(read) == set(read_group.members):
                read_group.members = read
                settled.add(read_group.name)
    for group in sorted(groups, key=lambda g: depth[g.members[0]]):  # the groups they read laid out first
        if group.name not in settled and group.parts.values:
            group.members.sort(key=lambda slot: place.get(program.operands[slot - first][0], ("", 0)))
        place.update((slot, (group.name, k)) for k, slot in enumerate(group.members))


def _group(program: Program, members: list[int], name: str) -> Group | None:
    # the group's shared formulas, or None when they cannot be written as one expression
    first = program.first
    i = members[0] - first
    op, values, consts = program.ops[i], len(program.operands[i]), program.consts[i]
    same = all(program.consts[slot - first] == consts for slot in members)
    parts = formulas(op, values, consts) if same else formulas(op, values, None, len(consts))
    t = text(parts, False)
    in_cone = i < program.cone
    if t.forward is None or t.alias is not None or t.forward_lines or t.rule_lines:
        return None
    if (in_cone and t.locals is None) or (op.domain and t.conditions is None):
        return None
    named = [] if same else [f"K{name}_{k}" for k in range(len(consts))]  # filled in once laid out
    return Group(name, members, parts, t, named)


class Writer:
    """Writes groups' forward and backward, given how ``python_code`` names everything else.

    One writer per function written: it remembers which gradient lists that
    function has made, and which of their places something was added into.
    """

    def __init__(self, fusion: Fusion, value: list[str], made: Sequence[str] = ()) -> None:
        self.fusion = fusion
        self.value = value  # per slot, its name or expression in straight-line code
        self.made = set(made)  # gradient lists made so far (the inputs' and parameters': by the caller)
        self.touched: dict[str, list[bool]] = {}  # per gradient list, the places added into so far
        program = fusion.program
        self.sizes = {INPUTS: program.n_inputs, PARAMS: len(program.params)}
        self.sizes.update((group.name, len(group.members)) for group in fusion.groups)

    # --- reading operands ---

    def gather(self, slots: Sequence[int]) -> str:
        """The slots' numbers as a list: a list itself or a slice of one where they follow on."""
        place = self.fusion.place
        run = _one_run(list(map(place.get, slots)))
        if run is not None:  # the common case, found without a loop in Python
            return self._slice(*run)
        runs: list[tuple[str, int, int] | str] = []  # (list, start, stop) or a single expression
        for slot in slots:
            found = place.get(slot)
            last = runs[-1] if runs else None
            if found is not None and isinstance(last, tuple) and last[0] == found[0] and last[2] == found[1]:
                runs[-1] = (last[0], last[1], last[2] + 1)
            elif found is not None:
                runs.append((found[0], found[1], found[1] + 1))
            else:
                runs.append(self.value[slot])
        if len(runs) == 1 and isinstance(runs[0], tuple):
            return self._slice(*runs[0])
        return "[" + ", ".join(f"*{self._slice(*r)}" if isinstance(r, tuple) else r for r in runs) + "]"

    def sum_of(self, slots: Sequence[int]) -> str | None:
        """``sum(f3)``: the slots' sum read from lists, left to right; None when some slot is in none."""
        if len(slots) < 2 or any(slot not in self.fusion.place for slot in slots):
            return None
        return f"sum({self.gather(slots)})"

    def _slice(self, name: str, start: int, stop: int) -> str:
        size = self.sizes[name[1:] if name[0] in "Gg" else name]  # a gradient list is its list's size
        if start == 0 and stop == size:
            return name
        return f"{name}[{start}:{stop}]"

    def _lists(self, group: Group) -> tuple[list[str], list[str], list[str]]:
        # (what fills each formula placeholder, the loop's variables, the lists they run over)
        program = self.fusion.program
        first = program.first
        operands = [program.operands[slot - first] for slot in group.members]
        fill: list[str] = []
        names: list[str] = []
        lists: list[str] = []
        for j in range(group.parts.values):
            slots = [row[j] for row in operands]
            if slots.count(slots[0]) == len(slots):  # one number every member reads: named once
                fill.append(self.value[slots[0]])
            else:
                fill.append(f"a{j}")
                names.append(f"a{j}")
                lists.append(self.gather(slots))
        for k, constants in enumerate(group.consts):
            fill.append(f"k{k}")
            names.append(f"k{k}")
            lists.append(constants)
        return fill, names, lists

    def _for(self, group: Group, names: list[str], lists: list[str]) -> str:
        if not lists:  # every member computes the same number
            return f"for _ in range({len(group.members)})"
        if len(lists) == 1:
            return f"for {names[0]} in {lists[0]}"
        return f"for {', '.join(names)} in zip({', '.join(lists)})"

    # --- forward ---

    def forward(self, group: Group, checked: bool) -> list[str]:
        """The lines computing the group's list (after checking its domain; then inf and nan if ``checked``)."""
        t = group.text
        fill, names, lists = self._lists(group)
        loop = self._for(group, names, lists)
        lines = [f"# {group.name}: {len(group.members)} x {group.parts.op.name}"]
        if t.conditions:
            conditions = " and ".join(c.format(*fill) for c in t.conditions)
            lines.append(f"if not all({conditions} {loop}): raise FAULT")
        assert t.forward is not None
        lines.append(f"{group.name} = [{t.forward.format(*fill)} {loop}]")
        if checked:  # x * 0.0 is nan for inf and nan (a sum that overflows too: the checked path decides)
            lines.append(f"if sum({group.name}) * 0.0 != 0.0: raise FAULT")
        return lines

    # --- backward ---

    def backward(
        self, group: Group, gradient: str | None, needed: list[list[bool]], add: Any, checked: bool
    ) -> list[str]:
        """The lines adding the group's terms into its operands' gradients.

        ``gradient``: the members' gradients, a list expression, or one name
        every member shares (``shared``); None when no member has one.
        ``needed[j][m]``: whether member m's operand j wants its term.
        ``add(slot, expression)`` gives the straight-line lines adding a
        number into the gradient of a slot that lives in no list.
        """
        program = self.fusion.program
        first = program.first
        t = group.text
        if gradient is None or t.locals is None:
            return []
        shared = not gradient.startswith(("[", "g" + group.name))
        fill, names, lists = self._lists(group)
        if not shared:
            names.append("ag")
            lists.append(gradient)
        g = gradient if shared else "ag"
        if "out" in t.rule_keys:
            names.append("ao")
            lists.append(group.name)
        lines = [f"# {group.name}: {len(group.members)} x {group.parts.op.name}, backward"]
        if checked:  # a term 0 * g left out: graph mode's nan when g is not finite
            lines.append(f"if {gradient if shared else f'sum({gradient})'} * 0.0 != 0.0: raise FAULT")
        operands = [program.operands[slot - first] for slot in group.members]
        for j, local in enumerate(t.locals):
            if not any(needed[j]) or j in group.parts.zero_locals:
                continue
            if isinstance(local, str):
                term = f"({local.format(*fill, o='ao')} * {g})"
            elif local == 1:
                term = g
            else:
                term = f"({number_text(local)} * {g})"
            targets = [row[j] for row in operands]
            lines += self._scatter(group, j, targets, needed[j], term, names, lists, add)
        return lines

    def _scatter(
        self,
        group: Group,
        j: int,
        targets: list[int],
        needed: list[bool],
        term: str,
        names: list[str],
        lists: list[str],
        add: Any,
    ) -> list[str]:
        # the terms (one per member) added into the targets' gradients: as a slice of a list
        # where they follow on in one, one by one where they do not
        loop = self._for(group, names, lists)
        if targets.count(targets[0]) == len(targets):  # one operand of every member: the terms' sum
            return list(add(targets[0], f"sum([{term} {loop}])"))
        run = _one_run(list(map(self.fusion.place.get, targets))) if all(needed) else None
        listed = self.fusion.gradient_list(targets[0])
        if run is not None and listed is not None:  # the common case, found without a loop in Python
            return self._into(listed[0], run[1], run[2], term, group, names, lists)
        runs: list[tuple[str, int, int, int]] = []  # (gradient list, start, stop, first member)
        singles: list[int] = []  # members whose operand's gradient is named on its own
        for m, (c, wanted) in enumerate(zip(targets, needed)):
            if not wanted:
                continue
            found = self.fusion.gradient_list(c)
            if found is None:
                singles.append(m)
                continue
            last = runs[-1] if runs else None
            if last and last[0] == found[0] and last[2] == found[1] and last[3] + last[2] - last[1] == m:
                runs[-1] = (last[0], last[1], last[2] + 1, last[3])
            else:
                runs.append((found[0], found[1], found[1] + 1, m))
        if len(runs) == 1 and not singles and runs[0][2] - runs[0][1] == len(targets):
            name, start, stop, _ = runs[0]
            return self._into(name, start, stop, term, group, names, lists)
        terms = f"t{group.name}_{j}"
        lines = [f"{terms} = [{term} {loop}]"]
        for name, start, stop, m in runs:
            lines += self._made(name)
            target = self._slice(name, start, stop)
            lines.append(f"{target} = map(add, {target}, {terms}[{m}:{m + stop - start}])")
            self._touch(name, start, stop)
        for m in singles:
            lines += add(targets[m], f"{terms}[{m}]")
        return lines

    def _into(
        self, name: str, start: int, stop: int, term: str, group: Group, names: list[str], lists: list[str]
    ) -> list[str]:
        # all the terms into one run of a gradient list: they are it where nothing is there yet
        loop = self._for(group, names, lists)
        target = self._slice(name, start, stop)
        if name not in self.made and target == name:  # the first terms, for all of it: they are it
            self._made(name)
            self._touch(name, start, stop)
            return [f"{name} = [{term} {loop}]"]
        lines = self._made(name)
        if name == "GP" or any(self.touched[name][start:stop]):  # parameters' add up over the rows
            loop = self._for(group, ["u", *names], [target, *lists])
            lines.append(f"{target} = [u + {term} {loop}]")
        else:
            lines.append(f"{target} = [{term} {loop}]")
        self._touch(name, start, stop)
        return lines

    def made_before_adding(self, slot: int) -> list[str]:
        """Lines making the gradient list ``slot``'s gradient lives in, if not made yet (before a += into it)."""
        found = self.fusion.gradient_list(slot)
        if found is None:
            return []
        lines = self._made(found[0])
        self._touch(found[0], found[1], found[1] + 1)
        return lines

    def _made(self, name: str) -> list[str]:
        # a gradient list made before anything is added into it: zeros, as graph mode's .grad starts
        size = self.sizes[name[1:]]
        if name not in self.touched:
            self.touched[name] = [False] * size
        if name in self.made:
            return []
        self.made.add(name)
        return [f"{name} = [0.0] * {size}"]

    def _touch(self, name: str, start: int, stop: int) -> None:
        self.touched[name][start:stop] = [True] * (stop - start)


def _one_run(places: list[tuple[str, int] | None]) -> tuple[str, int, int] | None:
    # (list, start, stop) when the places are one run of a list, index after index
    if not places or places[0] is None:
        return None
    name, start = places[0]
    stop = start + len(places)
    # compared a pair at a time at C speed, with no list of the pairs made (a group has 100,000)
    if all(map(operator.eq, places, zip(repeat(name), range(start, stop)))):
        return name, start, stop
    return None
