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
    value_reads: dict = field(default_factory=dict)   # the same, less the reads of only its shape
    self_reads: set = field(default_factory=set)      # (name, Position): ``x = f(x)`` whose adjoint reads x
    writes_into: set = field(default_factory=set)     # (name, Position): ``x[i] = v``
    loop_bodies: set = field(default_factory=set)     # Positions of loop bodies
    pure: dict = field(default_factory=dict)          # (name, Position) -> (cheap, names read, value)
    assigns: set = field(default_factory=set)         # Positions of plain ``name = value`` statements
    shape_args: dict = field(default_factory=dict)    # (name, Position) -> names its shape follows from

    def define(self, name, pos):
        self.defs.setdefault((name, pos), None)

    def read(self, name, pos, shape_only=False):
        self.reads.setdefault(name, set()).add(pos)
        if not shape_only:
            self.value_reads.setdefault(name, set()).add(pos)

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

    def plan(self, shares, skip=()):
        """Split the definitions ``needed`` would save four ways: (saved, recomputed, kept, shaped).

        A value need not be pushed when the backward sweep can have it otherwise (Tapenade's
        to-be-recorded analysis). ``kept``: a variable assigned once, from values no enclosing
        loop changes, holds the same value in every pass, so its last value serves every read.
        ``recomputed``: a variable assigned once by a cheap pure operation (``x[i]`` of an array
        nothing writes into, scalar arithmetic) and read only later in its own block, where none
        of the values it reads has changed since: the backward sweep evaluates it again where it
        reads it (``Backward.recompute``), from values that are restored there anyway.
        ``shaped`` (among the saved): a variable the backward sweep reads only for its shape
        (``unbroadcast(g, v)``) has only its shape pushed (``runtime.shape_of``)."""
        wanted = self.needed(shares, skip)
        counts = {}
        for name, _ in self.defs:
            counts[name] = counts.get(name, 0) + 1
        written = {n for n, _ in self.writes_into}
        written |= {o for n in written for o in shares.get(n, ())}
        kept, recomputed = set(), set()
        for name, dpos in sorted(wanted, key=lambda k: (k[1], k[0])):
            how = self.pure.get((name, dpos))
            if how is None or counts.get(name) != 1 or (name, dpos) in self.self_reads:
                continue
            cheap, args, _ = how
            if args & written or name in args:
                continue
            loop = self._outermost_loop(dpos)
            if loop is not None and not any(self._inside(q, loop) for n, q in self.defs if n in args):
                kept.add((name, dpos))
                continue
            reads = self.reads.get(name, set())
            if cheap and reads and all(r in self.assigns and self._later_in_block(dpos, r) and
                                       not any(self._between(q, dpos, r) for n, q in self.defs if n in args)
                                       for r in reads):
                recomputed.add((name, dpos))
        saved = wanted - kept - recomputed
        shaped = {(name, dpos) for name, dpos in saved
                  if not self.value_reads.get(name) and (name, dpos) not in self.writes_into}
        # a shape that is the same in every pass of the loop, read only after it is made in the
        # pass: the last pass's value has it (``dot_1 = np.dot(X[t], W)`` for ``unbroadcast``)
        steady = {(name, dpos) for name, dpos in shaped
                  if counts.get(name) == 1 and self._steady(name, dpos, counts) and
                  all(self._later_in_block(dpos, r) and r != dpos for r in self.reads.get(name, ()))}
        return saved - steady, recomputed, kept | steady, shaped - steady

    def _steady(self, name, dpos, counts, seen=frozenset()):
        """Is the shape of ``name`` (defined once, at ``dpos``) the same in every pass of every
        loop around it? Yes where it follows from the shapes of values no enclosing loop binds,
        or of steady values made before it in the same pass."""
        args = self.shape_args.get((name, dpos))
        loop = self._outermost_loop(dpos)
        if args is None or loop is None:
            return False
        for a in args:
            inside = [q for n, q in self.defs if n == a and self._inside(q, loop)]
            if not inside:
                continue
            q = inside[0]
            if counts.get(a) != 1 or (a, q) in seen or not (self._later_in_block(q, dpos) and q != dpos) \
                    or not self._steady(a, q, counts, seen | {(name, dpos)}):
                return False
        return True

    def _outermost_loop(self, pos):
        """The body Position of the outermost loop around ``pos`` (None outside loops)."""
        for q in range(len(pos)):
            if pos[:q + 1] in self.loop_bodies:
                return pos[:q + 1]
        return None

    @staticmethod
    def _inside(q, body):
        """Is ``q`` in the loop whose body is ``body`` (the loop statement itself included)?"""
        k = len(body) - 1
        return q[:k + 1] == body or (len(q) == k + 1 and q[:k] == body[:k] and q[k] == Step(body[k].index, SELF))

    @staticmethod
    def _later_in_block(d, r):
        """Is ``r`` at or after the statement ``d`` in ``d``'s own block (one pass of it)?"""
        k = len(d) - 1
        return len(r) > k and r[:k] == d[:k] and r[k].index >= d[k].index

    @staticmethod
    def _between(q, d, r):
        """Does the definition at ``q`` run after ``d`` and no later than the statement at ``r``?"""
        k = len(d) - 1
        return len(q) > k and q[:k] == d[:k] and d[k].index < q[k].index <= r[k].index

    def first_top_def(self, name):
        """Index of the first top-level statement that defines ``name`` (None if none)."""
        found = [pos[0].index for n, pos in self.defs if n == name and len(pos) == 1]
        return min(found) if found else None
