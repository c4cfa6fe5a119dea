"""Deterministic fresh names that never collide with the user's names."""

import gast
from srcad.astutil import walk


def names_in(tree):
    """Every identifier that occurs in ``tree`` (names, arguments, attributes excluded)."""
    found = set()
    for node in walk(tree):
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
