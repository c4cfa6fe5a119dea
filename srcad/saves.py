"""What the forward sweep must save for the backward sweep (reverse mode).

A variable assigned more than once loses its old value; the backward sweep may still read it.
Reverse mode generates its sweeps once without saving anything and, while it does, notes in a
``SaveLog`` where each variable is defined and where the backward code reads it. ``needed`` then
says which definitions must push the old value first (and pop it back when the backward sweep
passes them). A restore reads the variable again, so the generator repeats until the set of
saves no longer grows (``Reverse.build``).

Places in the program are ``Position``\\ s: the path of ``Step``\\ s from the function body to a
statement. A step is the statement's index in its block and which block of it the path enters
next: ``SELF`` (the statement itself: the last step of every position), ``BODY`` (the body of an
``if``, ``while`` or ``for``) or ``ORELSE`` (an ``if``'s ``else``). So ``(Step(3, BODY),
Step(0, SELF))`` is the first statement in the body of the function's fourth statement.
"""

from dataclasses import dataclass, field
from typing import NamedTuple

SELF, BODY, ORELSE = "", "b", "o"


class Step(NamedTuple):
    index: int      # position in the enclosing block
    branch: str     # SELF, BODY or ORELSE


Position = tuple   # of Steps, outermost first


def inner(pos: Position, branch: str) -> Position:
    """The position of the block ``branch`` of the statement at ``pos``, for its statements."""
    return pos[:-1] + (Step(pos[-1].index, branch),)


@dataclass
class SaveLog:
    """Definitions and backward reads of one generation pass, and the loop bodies it met."""

    defs: dict = field(default_factory=dict)          # (name, Position) -> None, in program order
    reads: dict = field(default_factory=dict)         # name -> {Position of the reading backward code}
    self_reads: set = field(default_factory=set)      # (name, Position): ``x = f(x)`` whose adjoint reads x
    writes_into: set = field(default_factory=set)     # (name, Position): ``x[i] = v``
    loop_bodies: set = field(default_factory=set)     # Positions of loop bodies

    def define(self, name, pos):
        self.defs.setdefault((name, pos), None)

    def read(self, name, pos):
        self.reads.setdefault(name, set()).add(pos)

    def in_loop(self, pos):
        return any(pos[:q + 1] in self.loop_bodies for q in range(len(pos)))

    def precedes(self, r, d):
        """Can the backward read at forward position ``r`` happen before the def at ``d`` runs?

        The backward sweep runs in reverse, so a read of code *before* ``d`` in program order runs
        *after* ``d`` has overwritten the value. Inside a common loop every read may follow a
        later iteration's def."""
        p = 0
        while p < len(r) and p < len(d) and r[p] == d[p]:
            p += 1
        if any(r[:q + 1] in self.loop_bodies for q in range(p)):
            return True
        if p == len(r) or p == len(d):
            return p == len(r) and p < len(d)  # r is the compound statement around d
        (i1, b1), (i2, b2) = r[p], d[p]
        if i1 != i2:
            return i1 < i2
        return b1 == SELF and b2 != SELF

    def needed(self, shares, skip=()):
        """The (name, Position) definitions whose old value some backward read needs.

        ``shares``: name -> names that may share its memory (the alias analysis): ``x[i] = v``
        changes the memory every one of them reads."""
        saved = set()
        for (name, dpos) in self.defs:
            if name in skip:
                continue
            reads = self.reads.get(name, set())
            if (name, dpos) in self.writes_into:
                for other in shares.get(name, ()):
                    reads = reads | self.reads.get(other, set())
            if (name, dpos) in self.self_reads or any(self.precedes(r, dpos) for r in reads):
                saved.add((name, dpos))
        return saved

    def first_top_def(self, name):
        """Index of the first top-level statement that defines ``name`` (None if none)."""
        found = [pos[0].index for n, pos in self.defs if n == name and len(pos) == 1]
        return min(found) if found else None
