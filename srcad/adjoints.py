"""Adjoint (reverse mode) and tangent (forward mode) state while derivative code is generated.

Both modes keep, at each point of the generated code, a state: a dict from primal variable to
``Live`` for each adjoint (or tangent) that may be non-zero there. A name that is absent is a
*symbolic zero*: known to be zero when the code is generated, so it costs nothing at run time and
every rule term that would read it is dropped.

**Zero convention.** A zero becomes real only where control flow joins a live adjoint with a
symbolic zero (a branch that wrote it and one that did not, or a loop whose passes must all start
alike): there the generated code assigns ``zeros_like(v)`` where ``v`` certainly holds its final
value at that point, else the run-time placeholder ``0.0`` (``v`` may not exist yet, e.g. before a
loop that first assigns it). ``Live.maybe_zero`` says the placeholder may still be there: code that
needs the real shape first applies ``grad_like`` (forward mode) and the runtime helpers accept a
``0.0`` operand. Nothing else stands for zero.

``merge`` joins branches, ``loop_fixpoint`` finds the state that holds at every pass of a loop;
both make zeros real through a callback, as each mode writes them.
"""

from srcad.errors import TransformError


class Live:
    """Known state of a live adjoint (reverse mode) or tangent (forward mode); absence means zero.

    ``owned``: the array is private to the derivative code, so it may be changed in place;
    ``maybe_zero``: it may still be the ``0.0`` placeholder a loop or branch materialized.
    """

    __slots__ = ("owned", "maybe_zero")

    def __init__(self, owned, maybe_zero=False):
        self.owned = owned
        self.maybe_zero = maybe_zero

    def __eq__(self, other):
        return isinstance(other, Live) and (self.owned, self.maybe_zero) == (other.owned, other.maybe_zero)

    def __repr__(self):
        return f"Live(owned={self.owned}, maybe_zero={self.maybe_zero})"


def join(a, b):
    """The state that holds after either of two paths."""
    return Live(a.owned and b.owned, a.maybe_zero or b.maybe_zero)


def merge(branches, materialize):
    """The state after branches that join: ``branches`` is ``[(state, code)]`` for each branch that
    reaches the join. A name live on some branches is made real on the others:
    ``materialize(name, state, code)`` appends the statements to ``code`` and returns its ``Live``."""
    names = sorted({k for st, _ in branches for k, v in st.items() if v is not None})
    out = {}
    for name in names:
        j = None
        for st, code in branches:
            v = st.get(name)
            if v is None:
                v = materialize(name, st, code)
            j = v if j is None else join(j, v)
        out[name] = j
    return out


def loop_fixpoint(entry, run, materialize_before, namer, keep, where):
    """The state every pass of a loop starts from, and the loop's code generated for it.

    ``run(entry)`` generates the body for the entry state (a dict, widened in place) and returns
    ``(result, ends)``: its code and the states in which a pass ends (the end of the body, each
    ``break``). While some end state has a live name that ``entry`` lacks, or a weaker ``Live``,
    the entry is widened (``materialize_before(name)`` makes a new one real before the loop and
    returns its ``Live``) and the body generated again, with the names it made forgotten. Each round
    adds a name or weakens one of two flags, so this settles; if it did not, generating would be
    wrong, and it raises. Returns ``(result, ends)`` of the last round.
    """
    rounds = 0
    while True:
        snapshot = namer.snapshot()
        result, ends = run(entry)
        changed = False
        for end in ends:
            for name in sorted(k for k, v in end.items() if v is not None):
                cur = entry.get(name)
                if cur is None:
                    entry[name] = materialize_before(name)
                    changed = True
                elif join(cur, end[name]) != cur:
                    entry[name] = join(cur, end[name])
                    changed = True
        if not changed:
            return result, ends
        rounds += 1
        if rounds > 3 * len(entry) + 3:   # pragma: no cover  (each round changes the finite state)
            info, lineno = where
            raise TransformError("internal error: the adjoint state of this loop did not settle",
                                 info.filename, lineno, "loop")
        namer.restore(snapshot, keep())
