"""Deterministic fresh names that never collide with the user's names."""

import gast


def names_in(tree):
    """Every identifier that occurs in ``tree`` (names, arguments, attributes excluded)."""
    found = set()
    for node in gast.walk(tree):
        if isinstance(node, gast.Name):
            found.add(node.id)
    return found


class Namer:
    """Hands out fresh names: ``base`` if free, else ``base_1``, ``base_2`` ... in order."""

    def __init__(self, taken=()):
        self.taken = set(taken)
        self.counters = {}

    def reserve(self, name):
        self.taken.add(name)

    def fresh(self, base, numbered=True):
        """A new name from ``base``; numbered names (``t_1``) are used for temporaries."""
        if not numbered and base not in self.taken:
            self.taken.add(base)
            return base
        n = self.counters.get(base, 0)
        while True:
            n += 1
            name = f"{base}_{n}"
            if name not in self.taken:
                break
        self.counters[base] = n
        self.taken.add(name)
        return name

    def snapshot(self):
        """The namer's state, for generating code on trial and then discarding it."""
        return dict(self.counters), set(self.taken)

    def restore(self, snapshot, keep=()):
        """Go back to ``snapshot``, keeping the names in ``keep`` taken."""
        self.counters = dict(snapshot[0])
        self.taken = set(snapshot[1]) | set(keep)

    def adjoint(self, name):
        """The adjoint name of a variable: ``d<name>`` where free, else a fresh variant."""
        return self.fresh("d" + name, numbered=False)


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
