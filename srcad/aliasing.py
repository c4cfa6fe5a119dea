"""Which names may share memory, and which in-place writes NumPy would see through another name.

A small flow-sensitive points-to analysis over the normalized body (issue 11, class 3). Every value
that may be an array points to a set of *sites*: a parameter, a global, or the statement that made a
new array. Plain assignment (``y = x``), views (basic slicing, ``.T``, ``.reshape``, ``.ravel``,
``np.transpose`` ...), containers (``[y]``, ``{'w': y}``, ``lst.append(y)``) and loops over arrays
(``for row in X``) carry sites along; everything else makes a new site. Python numbers and NumPy
scalars are immutable, so a value of rank 0 points nowhere.

srcad's derivative code gives ``y op= v`` rebinding semantics (``y = y op v``) and carries the
adjoints of names apart. Both are exact as long as no *other* name that shares ``y``'s memory is read
after the write: then the write is refused, naming the other name. Writes into a global's array are
refused too (the derivative would not change the global). Writes into a parameter's array are
allowed: the derivative works on a private copy (``written_params``), so the caller's array is never
changed. In a helper's own derivative (a call that is not inlined) a parameter is the caller's array,
and writing into it is refused.
"""

from dataclasses import dataclass, field

import gast

from srcad.errors import fail_at
from srcad.astutil import names_read
from srcad.astutil import walk
from srcad.normalize import InPlaceAssign

# Functions and methods whose result may be (a view of) their first argument.
VIEW_FUNCTIONS = {
    "reshape", "ravel", "transpose", "squeeze", "expand_dims", "swapaxes", "moveaxis", "rollaxis",
    "diagonal", "asarray", "asanyarray", "ascontiguousarray", "asfortranarray", "atleast_1d",
    "atleast_2d", "atleast_3d", "broadcast_to", "real", "imag", "flip", "fliplr", "flipud", "rot90",
    "matrix_transpose", "permute_dims", "stop_gradient", "require", "loop_seq",
}
VIEW_METHODS = {"reshape", "ravel", "view", "transpose", "squeeze", "swapaxes", "diagonal", "__array__"}
VIEW_ATTRIBUTES = {"T", "mT", "real", "imag", "flat", "base"}
SPLIT_FUNCTIONS = {"split", "array_split", "hsplit", "vsplit", "dsplit", "unstack"}
# Calls made for their effect on the array passed first (or as ``out``).
WRITING_METHODS = {"fill", "sort", "put", "itemset", "resize", "partition", "setfield"}
WRITING_FUNCTIONS = {"copyto", "fill_diagonal", "put", "place", "putmask", "put_along_axis"}
CONTAINER_GETTERS = {"get", "pop", "values", "items", "copy", "setdefault"}


@dataclass(frozen=True)
class Site:
    """Where an array came from: ``kind`` is 'param', 'global', 'new' (a statement) or 'in' (an
    element of the container site ``of``)."""

    kind: str
    name: object
    of: "Site | None" = None


@dataclass
class Aliasing:
    """The facts the passes use: parameters whose arrays are written into (copied first), and for each
    name the other names that may share its memory at some point."""

    written_params: set = field(default_factory=set)
    shares: dict = field(default_factory=dict)


def analyze_aliasing(info, body, params, locals_, ranks, containers, external_params=False,
                     result_var=None, param_ranks=None):
    """Check every in-place write in ``body``; returns an ``Aliasing``.

    ``result_var``: the variable restructure assigns at each ``return`` (the code after such an
    assignment is skipped, so no write is ever seen through it)."""
    a = _Analysis(info, body, params, locals_, ranks, containers, external_params)
    a.result_var = result_var
    a.param_ranks = param_ranks or {}
    state = {p: frozenset({Site("param", p)}) for p in params}
    a.seen.update({p: set(sites) for p, sites in state.items()})
    a.block(body, state)
    return Aliasing(a.written_params, a.shares())


class _Analysis:
    def __init__(self, info, body, params, locals_, ranks, containers, external_params):
        self.info = info
        self.params = list(params)
        self.locals = set(locals_) | {n.id for n in _walk(body) if isinstance(n, gast.Name)
                                      and isinstance(n.ctx, gast.Store)}
        self.ranks = ranks
        self.containers = containers
        self.external = external_params
        self.contents = {}    # container site -> sites of its elements (grows monotonically)
        self.twice = set()    # container sites that may hold one array in two places ([a, a], [v] * 2)
        self.loop_seqs = set()    # names of the sequences srcad's loops index (``seq_1 = loop_seq(d)``)
        self.seen = {}        # name -> every site it pointed to (for ``shares``)
        self.written_params = set()
        self.live_out = {}    # id(stmt) -> names whose value may still be read after it
        self._live(body, frozenset())

    # ------------------------------------------------------------------ liveness
    def _live(self, stmts, live):
        """Names live before ``stmts`` given those live after; notes each statement's live-out."""
        for s in reversed(stmts):
            self.live_out[id(s)] = live
            if isinstance(s, gast.If):
                live = self._live(s.body, live) | self._live(s.orelse, live) | names_read([s.test])
            elif isinstance(s, (gast.While, gast.For)):
                head = set(live) | names_read([s.test if isinstance(s, gast.While) else s.iter])
                while True:
                    body_in = self._live(s.body, frozenset(head))
                    if isinstance(s, gast.For):
                        body_in = body_in - {s.target.id}
                    new = head | body_in
                    if new == head:
                        break
                    head = new
                live = frozenset(head)
            elif isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Name):
                live = (live - {s.targets[0].id}) | names_read([s.value])
            else:
                live = live | names_read([s])
        return frozenset(live)

    # ------------------------------------------------------------------ values
    def reach(self, sites):
        """``sites`` and everything stored in them, transitively."""
        out, todo = set(sites), list(sites)
        while todo:
            s = todo.pop()
            for e in self.contents.get(s, set()) | {Site("in", None, s)}:
                if e not in out and (e.kind != "in" or s.kind in ("param", "global")):
                    out.add(e)
                    todo.append(e)
        return out

    def elements(self, sites):
        out = set()
        for s in sites:
            out |= self.contents.get(s, set())
            if s.kind in ("param", "global", "in"):
                out.add(Site("in", None, s))
        return frozenset(out)

    def atom(self, node, state):
        if isinstance(node, gast.Name):
            if node.id in self.locals:
                return state.get(node.id, frozenset())
            return frozenset({Site("global", node.id)})
        return frozenset()

    def scalar(self, name):
        return name is not None and self.ranks.get(name) == 0

    def value(self, v, state, stmt, target):
        """The sites the right-hand side ``v`` of ``stmt`` may point to."""
        if self.scalar(target):
            return frozenset()
        if isinstance(v, gast.Name):
            return self.atom(v, state)
        if isinstance(v, gast.Subscript):
            base = self.atom(v.value, state)
            if self.is_container(v.value, base):
                return self.elements(base)
            return base if self.may_view(v.value, v.slice) else self.new(stmt)
        if isinstance(v, gast.Attribute):
            if v.attr in VIEW_ATTRIBUTES:
                return self.atom(v.value, state)
            return frozenset() if v.attr in ("shape", "size", "ndim", "dtype") else self.new(stmt)
        if isinstance(v, (gast.Tuple, gast.List, gast.Dict)):
            site = Site("new", id(stmt))
            elts = v.values if isinstance(v, gast.Dict) else v.elts
            self.contents.setdefault(site, set())     # a container, even when empty
            for e in elts:
                self.add(site, self.atom(e, state))
            return frozenset({site})
        if isinstance(v, gast.BoolOp):
            return frozenset().union(*[self.atom(e, state) for e in v.values])
        if isinstance(v, gast.Call):
            return self.call(v, state, stmt)
        return self.new(stmt)

    def add(self, site, sites):
        """Store ``sites`` in the container ``site``; where one is there already, it may now be
        held twice (an in-place update through one place changes the other)."""
        held = self.contents.setdefault(site, set())
        if held & set(sites):
            self.twice.add(site)
        held.update(sites)

    def new(self, stmt):
        return frozenset({Site("new", id(stmt))})

    def is_container(self, node, sites):
        """May ``node`` hold a list, tuple or dict (rather than an array)? Sites made by a display
        or a sequence operation do; a value of known rank does not; otherwise the facts decide."""
        if any(s in self.contents for s in sites):
            return True
        name = node.id if isinstance(node, gast.Name) else None
        if name not in self.containers:
            return False
        return any(s.kind in ("in", "global") or s.kind == "param" and self.param_ranks.get(s.name) is None
                   for s in sites)

    def may_view(self, base, index):
        """Can ``base[index]`` share memory with ``base`` (NumPy's basic indexing)?

        Only an index known to be an array (a mask ``x > 0``, a list, a variable of rank >= 1)
        makes a copy; any other part may be an integer, so the result may be a view unless the
        integers take every axis (an element: a scalar copy)."""
        parts = index.elts if isinstance(index, gast.Tuple) else [index]
        ints = 0
        for p in parts:
            if isinstance(p, gast.Slice) or (isinstance(p, gast.Constant) and (p.value is None or p.value is Ellipsis)):
                continue
            if isinstance(p, (gast.Compare, gast.BoolOp, gast.List, gast.Tuple)):
                return False
            if isinstance(p, gast.Constant) and not (isinstance(p.value, int) and not isinstance(p.value, bool)):
                return False
            if isinstance(p, gast.Name) and self.ranks.get(p.id, 0) != 0:
                return False
            ints += 1
        r = self.ranks.get(base.id) if isinstance(base, gast.Name) else None
        if r is not None and ints >= r and len(parts) == ints:
            return False            # all integers: an element, a scalar copy
        return True

    def call(self, v, state, stmt):
        f = v.func
        args = [self.atom(a, state) for a in v.args]
        if isinstance(f, gast.Attribute) and isinstance(f.value, gast.Name) and f.value.id in self.locals:
            recv = self.atom(f.value, state)
            if f.attr in VIEW_METHODS:
                return recv
            if f.attr == "astype" and any(k.arg == "copy" for k in v.keywords):
                return recv
            if f.attr in CONTAINER_GETTERS and self.is_container(f.value, recv):
                site = Site("new", id(stmt))
                self.contents.setdefault(site, set()).update(self.elements(recv))
                return frozenset({site}) if f.attr in ("values", "items", "copy") else self.elements(recv)
            return self.new(stmt)
        name = f.attr if isinstance(f, gast.Attribute) else f.id if isinstance(f, gast.Name) else None
        if name in VIEW_FUNCTIONS and args:
            return args[0]
        if name == "array" and any(k.arg == "copy" for k in v.keywords) and args:
            return args[0]
        if name in SPLIT_FUNCTIONS and args or name in ("list", "tuple", "zip", "enumerate", "reversed",
                                                        "sorted", "dict") and args:
            site = Site("new", id(stmt))
            self.contents.setdefault(site, set()).update(args[0], self.elements(args[0]))
            return frozenset({site})
        if name == "list_append" and len(args) == 2:
            site = Site("new", id(stmt))
            self.add(site, self.elements(args[0]))
            self.add(site, args[1])
            if any(a in self.twice for a in args[0]):
                self.twice.add(site)
            return frozenset({site})
        if name in ("seq_concat", "seq_repeat") and args:
            # list/tuple + and *: a new sequence holding the operands' elements
            site = Site("new", id(stmt))
            self.contents.setdefault(site, set())
            for a in args:
                self.add(site, self.elements(a))
            if name == "seq_repeat" and self.elements(args[0]) or any(a in self.twice for a in args[0]):
                self.twice.add(site)
            return frozenset({site})
        return self.new(stmt)

    # ------------------------------------------------------------------ statements
    def block(self, stmts, state):
        for s in stmts:
            state = self.stmt(s, state)
        return state

    def stmt(self, s, state):
        if isinstance(s, gast.Assign):
            t = s.targets[0]
            if isinstance(t, gast.Name):
                if isinstance(s, InPlaceAssign) and not self.scalar(t.id):
                    mine = state.get(t.id, frozenset())
                    self.write(s, t.id, mine, state)
                    if self.is_container(t, mine):
                        # ``lst += [v]`` extends the list object: it now holds v too
                        added = self.elements(self.value(s.value, state, s, None))
                        for site in mine:
                            self.add(site, added)
                    return state
                state = dict(state)
                if isinstance(s.value, gast.Call) and isinstance(s.value.func, gast.Name) and \
                        s.value.func.id == "loop_seq":
                    self.loop_seqs.add(t.id)
                state[t.id] = self.value(s.value, state, s, t.id)
                self.seen.setdefault(t.id, set()).update(state[t.id])
                return state
            if isinstance(t, gast.Subscript) and isinstance(t.value, gast.Name):
                base = self.atom(t.value, state)
                if self.is_container(t.value, base):
                    # the container object changes: seen through every other name that holds it
                    # (a loop's own sequence over it excepted: srcad's loops read the items it holds now)
                    self.write(s, t.value.id, frozenset(b for b in base if b.kind == "new"), state,
                               spare=self.loop_seqs)
                    if isinstance(s, InPlaceAssign):
                        if t.value.id in self.live_out[id(s)] and any(b in self.twice for b in base) \
                                and self.elements(base):
                            self.refuse(s, t.value.id, f"another element of `{t.value.id}` (it may hold "
                                        "the same array twice)")
                        self.write(s, t.value.id, self.elements(base), state, element=True)
                    for site in base:
                        self.add(site, self.atom(s.value, state))
                else:
                    self.write(s, t.value.id, base, state, memory=True)
            return state
        if isinstance(s, gast.Expr) and isinstance(s.value, gast.Call):
            self.effect(s, s.value, state)
            return state
        if isinstance(s, gast.If):
            a = self.block(s.body, dict(state))
            b = self.block(s.orelse, dict(state))
            return _join(a, b)
        if isinstance(s, (gast.While, gast.For)):
            entry = dict(state)
            if isinstance(s, gast.For):
                entry[s.target.id] = frozenset()
            while True:
                end = self.block(s.body, dict(entry))
                new = _join(entry, end)
                if new == entry:
                    return new
                entry = new
        return state

    def effect(self, s, call, state):
        f = call.func
        if isinstance(f, gast.Attribute) and isinstance(f.value, gast.Name) and f.value.id in self.locals:
            recv = self.atom(f.value, state)
            if f.attr in ("append", "insert", "add") and self.is_container(f.value, recv) or \
                    f.attr == "append" and not recv:
                for site in recv:
                    self.add(site, self.atom(call.args[-1], state) if call.args else ())
                return
            if f.attr in ("extend", "update") and call.args:
                for site in recv:
                    self.add(site, self.elements(self.atom(call.args[0], state)))
                return
            if f.attr in WRITING_METHODS and not self.is_container(f.value, recv):
                self.write(s, f.value.id, recv, state, memory=True)
            return
        name = f.attr if isinstance(f, gast.Attribute) else f.id if isinstance(f, gast.Name) else None
        if name in WRITING_FUNCTIONS and call.args and isinstance(call.args[0], gast.Name):
            self.write(s, call.args[0].id, self.atom(call.args[0], state), state, memory=True)

    # ------------------------------------------------------------------ the check
    def write(self, s, target, sites, state, memory=False, element=False, spare=()):
        """An in-place write through ``target`` into ``sites`` at statement ``s``."""
        if not sites:
            return
        written = self.reach(sites) if element else set(sites)
        for site in written:
            root = site
            while root.kind == "in":
                root = root.of
            if root.kind == "global":
                self.refuse(s, target, f"the global `{root.name}`", global_=True)
            if root.kind == "param":
                if self.external:
                    self.refuse(s, target, root.name, param=True)
                if memory or element:
                    self.written_params.add(root.name)
        later = self.live_out[id(s)]
        clashes = [name for name, pts in sorted(state.items())
                   if name != target and name != self.result_var and name in later and pts and name not in spare
                   and written & self.reach(pts)]
        if clashes:
            # name the user's own variable where there is one (not a temporary srcad made)
            user = {n.id for n in walk(self.info.node) if isinstance(n, gast.Name)}
            self.refuse(s, target, f"`{next((n for n in clashes if n in user), clashes[0])}`")

    def refuse(self, s, target, other, global_=False, param=False):
        lineno = getattr(s, "lineno", None) or self.info.lineno
        if param:
            msg = (f"{self.info.name} writes into its parameter `{other}`"
                   + (f" (through `{target}`)" if target != other else "")
                   + f", an array its caller passed in; srcad cannot carry that change back to the "
                   f"caller (copy it first: `{other} = {other}.copy()`)")
        elif global_:
            msg = (f"srcad cannot differentiate an in-place update of `{target}`, which shares memory "
                   f"with {other}: NumPy would change it too, and the derivative cannot carry that "
                   f"change out of the function; copy it first (`{target} = {target}.copy()`)")
        else:
            msg = (f"srcad cannot differentiate an in-place update of `{target}`, which shares memory "
                   f"with {other}, read later: NumPy changes both, and srcad differentiates them as "
                   f"separate values; copy first (`{target} = {target}.copy()`) or write "
                   f"`{target} = {target} + ...`")
        fail_at(self.info, lineno, msg, "in-place update of a shared array")

    def shares(self):
        by_site = {}
        for name, sites in self.seen.items():
            for site in self.reach(sites):
                by_site.setdefault(site, set()).add(name)
        out = {}
        for names in by_site.values():
            if len(names) > 1:
                for n in names:
                    out.setdefault(n, set()).update(names - {n})
        return out


def _walk(stmts):
    for s in stmts:
        yield from walk(s)


def _join(a, b):
    out = dict(a)
    for k, v in b.items():
        out[k] = out.get(k, frozenset()) | v
    return out
