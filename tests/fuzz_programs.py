"""A second random-program generator: shapes, aliasing, views, containers, keyword arguments and
helpers spread over several modules (the classes of silently wrong gradients that the grammar of
``tests/programs.py`` never writes; see docs/reliability.md).

``generate(seed, focus=None)`` gives a ``Program``: a module defining ``f(x, y)`` where ``x`` and
``y`` are floats or float arrays of random, often broadcasting, shapes (``()``, ``(3,)``,
``(2, 3)``, ``(3, 1)`` against ``(1, 4)``, ...), plus the helper functions and helper modules it
uses. Generation is deterministic under the seed (``random.Random(seed)``).

The grammar is a table of statement productions, ``PRODUCTIONS``: ``(class, weight, function)``.
Each program has one *focus* class whose productions get ``FOCUS_WEIGHT`` times their weight, so
a failure can be attributed to the class that caused it (``fuzz_report.py`` tabulates per class).
A production is a function ``(gen, env) -> [Line]`` (``None`` if it does not apply to the current
variables); to add a construct, write one and add a row.

Every expression is built twice at once, as plain source and as an instrumented copy in which
each comparison, mask, kink (``abs``, ``maximum``) and discontinuity (``%``, ``np.mod``,
``np.fmod``) records its distance to the switch point; ``Program.margins`` runs the instrumented
copy. A point is only used where every distance is above ``MARGIN``, so a finite-difference step
never crosses a switch.

``check(prog, points)`` runs the checks (grad w.r.t. each argument and both, value_and_grad's
value, jvp, a Hessian-vector product, no argument mutated) and returns a ``Result``.
"""

import collections
import importlib.util
import itertools
import os
import random
import sys
import tempfile
import zlib

import numpy as np

MARGIN = 1e-3
CONSTS = ["0.5", "1.5", "-0.7", "2.0", "0.25", "-1.2"]
MOD_DIVISORS = ["1.5", "0.7", "-1.3", "2.0"]
FOCUS_WEIGHT = 12

_counter = itertools.count()
_tmpdir = None
TALLY = collections.Counter()    # counts printed at the end of a pytest run (tests/conftest.py)


def _dir():
    global _tmpdir
    if _tmpdir is None:
        _tmpdir = tempfile.mkdtemp(prefix="srcad_fuzz_")
        sys.path.insert(0, _tmpdir)
    return _tmpdir


# ------------------------------------------------------------------------------------------------
# expressions: (plain text, instrumented text, shape)

class E:
    __slots__ = ("p", "i", "shape")

    def __init__(self, p, i=None, shape=()):
        self.p, self.i, self.shape = p, (p if i is None else i), tuple(shape)


def bshape(a, b):
    try:
        return tuple(np.broadcast_shapes(a, b))
    except ValueError:
        return None


def fits(s, target):
    """``s`` broadcasts into ``target`` without changing it (``target op= s`` is valid)."""
    return target is None or bshape(s, target) == tuple(target)


def index_options(shape):
    """``[(index text, resulting shape, is a view)]`` for reading ``v[index]``."""
    if len(shape) == 0:
        return []
    n = shape[0]
    rest = tuple(shape[1:])
    out = [("[0]", rest, bool(rest)), ("[-1]", rest, bool(rest)), ("[::-1]", shape, True),
           ("[...]", shape, True), ("[:]", shape, True),
           (f"[[0, 0, {n - 1}]]", (3,) + rest, False)]
    if n >= 2:
        out += [("[1:]", (n - 1,) + rest, True), ("[:-1]", (n - 1,) + rest, True),
                ("[-1:]", (1,) + rest, True), ("[[1, 0]]", (2,) + rest, False)]
    if len(shape) == 2:
        out += [("[:, -1:]", (n, 1), True), ("[:, 0]", (n,), True), ("[0, -1]", (), False),
                ("[:, ::-1]", shape, True), ("[::-1, :1]", (n, 1), True)]
    return out


class Env:
    def __init__(self):
        self.arrays = {}          # name -> shape (() for scalars)
        self.lists = {}           # name -> [shape]
        self.tuples = {}
        self.dicts = {}           # name -> {key: shape}
        self.frozen = set()       # names whose shape or length must not change (loop bodies)
        self.loop_vars = []
        self.in_loop = False

    def copy(self):
        e = Env()
        e.arrays, e.lists, e.tuples = dict(self.arrays), {k: list(v) for k, v in self.lists.items()}, dict(self.tuples)
        e.dicts = {k: dict(v) for k, v in self.dicts.items()}
        e.frozen, e.loop_vars, e.in_loop = set(self.frozen), list(self.loop_vars), self.in_loop
        return e

    def merge_from(self, child):
        """After a branch or loop body: keep what has the same shape on both paths."""
        for kind in ("arrays", "lists", "tuples", "dicts"):
            mine, theirs = getattr(self, kind), getattr(child, kind)
            for name in list(mine):
                if name not in theirs or theirs[name] != mine[name]:
                    del mine[name]
            for other in ("arrays", "lists", "tuples", "dicts"):
                if other != kind:
                    for name in list(mine):
                        if name in getattr(child, other):
                            del mine[name]

    def drop(self, name):
        for kind in (self.arrays, self.lists, self.tuples, self.dicts):
            kind.pop(name, None)

    def can_rebind(self, name, shape):
        return name not in self.frozen or self.arrays.get(name) == tuple(shape)


class Line:
    """A statement line at an indentation level, in both renderings."""

    def __init__(self, p, i=None, level=0):
        self.p, self.i, self.level = p, (p if i is None else i), level


def indent(lines, by=1):
    return [Line(ln.p, ln.i, ln.level + by) for ln in lines]


class Gen:
    def __init__(self, rng, focus):
        self.r = rng
        self.focus = focus
        self.names = collections.Counter()
        self.stats = collections.Counter()
        self.helpers = {}         # name -> source (plain == instrumented: helpers have no kinks)
        self.modules = []         # [(module name, source)]
        self.imports = []

    def fresh(self, base):
        self.names[base] += 1
        return f"{base}{self.names[base]}"

    def pick(self, seq):
        return seq[self.r.randrange(len(seq))]

    def chance(self, p):
        return self.r.random() < p

    # -------------------------------------------------------------------------------- expressions
    def leaf(self, env, fit):
        cands = [n for n, s in env.arrays.items() if fits(s, fit)]
        if cands and self.chance(0.85):
            n = self.pick(cands)
            return E(n, n, env.arrays[n])
        c = self.pick(CONSTS)
        return E(c, c, ())

    def ex(self, env, depth=0, fit=None):
        """An expression whose shape broadcasts into ``fit`` (any shape if None)."""
        if depth >= 3 or self.chance(0.15 if depth == 0 else 0.45):
            return self.leaf(env, fit)
        table = [("unary", 6), ("binary", 8), ("reduce", 2), ("subscript", 3), ("maximum", 1),
                 ("where", 1), ("mod", 4 if self.focus == "mod" else 1),
                 ("list read", 2 if env.lists or env.tuples or env.dicts else 0),
                 ("kw call", 4 if self.focus == "kwargs" else 0.5),
                 ("module call", 6 if self.focus == "modules" else 0.5),
                 ("list stack", 4 if self.focus == "list_stack" else 0), ("memory order", 1),
                 ("reshaping", 4 if self.focus == "shapes" else 0)]
        k = self.weighted(table)
        return getattr(self, "ex_" + k.replace(" ", "_"))(env, depth, fit)

    def weighted(self, table):
        total = sum(w for _, w in table)
        x = self.r.random() * total
        for k, w in table:
            x -= w
            if x < 0:
                return k
        return table[-1][0]

    def ex_unary(self, env, depth, fit):
        a = self.ex(env, depth + 1, fit)
        k = self.pick(["np.sin", "np.cos", "np.tanh", "exp", "log", "sqrt", "**2", "neg", "abs"])
        self.stats["unary " + k] += 1
        if k == "exp":
            return E(f"np.exp(np.tanh({a.p}))", f"np.exp(np.tanh({a.i}))", a.shape)
        if k == "log":
            return E(f"np.log({a.p} * {a.p} + 1.0)", f"np.log({a.i} * {a.i} + 1.0)", a.shape)
        if k == "sqrt":
            return E(f"np.sqrt({a.p} * {a.p} + 0.5)", f"np.sqrt({a.i} * {a.i} + 0.5)", a.shape)
        if k == "**2":
            return E(f"({a.p}) ** 2", f"({a.i}) ** 2", a.shape)
        if k == "neg":
            return E(f"(-{a.p})", f"(-{a.i})", a.shape)
        if k == "abs":
            return E(f"abs({a.p})", f"_abs({a.i})", a.shape)
        return E(f"{k}({a.p})", f"{k}({a.i})", a.shape)

    def ex_binary(self, env, depth, fit):
        a = self.ex(env, depth + 1, fit)
        b = self.ex(env, depth + 1, fit if fit is not None else None)
        s = bshape(a.shape, b.shape)
        if s is None or not fits(s, fit):
            b = E("0.5", "0.5", ())
            s = a.shape
        if self.chance(0.5):
            a, b = b, a
        op = self.pick(["+", "-", "*", "/"])
        if op == "/":
            return E(f"({a.p} / ({b.p} * {b.p} + 1.0))", f"({a.i} / ({b.i} * {b.i} + 1.0))", s)
        return E(f"({a.p} {op} {b.p})", f"({a.i} {op} {b.i})", s)

    def ex_reduce(self, env, depth, fit):
        a = self.ex(env, depth + 1, None)
        if len(a.shape) >= 2 and self.chance(0.5):
            axis = self.pick([0, -1])
            s = a.shape[1:] if axis == 0 else a.shape[:-1]
            if fits(s, fit):
                fn = self.pick(["np.sum({}, axis={})", "np.mean({}, axis={})",
                                "({}).sum(axis={})"])
                self.stats["reduction with axis"] += 1
                return E(fn.format(a.p, axis), fn.format(a.i, axis), s)
        fn = self.pick(["np.sum({})", "np.mean({})", "np.sum({}) * 1.0"]
                       + (["({}).sum()", "({}).mean()"] if a.shape else []))
        return E(fn.format(a.p), fn.format(a.i), ())

    def ex_subscript(self, env, depth, fit):
        cands = [(n, s) for n, s in env.arrays.items() if len(s) >= 1]
        if not cands:
            return self.leaf(env, fit)
        n, s = self.pick(cands)
        opts = [o for o in index_options(s) if fits(o[1], fit)]
        if not opts:
            return self.leaf(env, fit)
        idx, shape, _ = self.pick(opts)
        self.stats["subscript read"] += 1
        return E(f"{n}{idx}", f"{n}{idx}", shape)

    def ex_maximum(self, env, depth, fit):
        a = self.ex(env, depth + 1, fit)
        b = self.ex(env, depth + 1, a.shape)
        return E(f"np.maximum({a.p}, {b.p})", f"_max({a.i}, {b.i})", a.shape)

    def ex_where(self, env, depth, fit):
        a = self.ex(env, depth + 1, fit)
        b = self.ex(env, depth + 1, a.shape)
        c = self.pick(CONSTS)
        self.stats["np.where"] += 1
        return E(f"np.where({a.p} > {c}, {a.p}, {b.p})", f"np.where(_gt({a.i}, {c}), {a.i}, {b.i})",
                 a.shape)

    def ex_mod(self, env, depth, fit):
        a = self.ex(env, depth + 1, fit)
        k = self.pick(["%", "np.mod", "np.fmod", "% data", "np.mod data"])
        self.stats["mod " + k] += 1
        if k.endswith("data"):
            b = self.ex(env, depth + 1, a.shape if fit is None else fit)
            s = bshape(a.shape, b.shape)
            c = (f"({b.p} * {b.p} + 0.5)", f"({b.i} * {b.i} + 0.5)")
        else:
            s = a.shape
            c = (self.pick(MOD_DIVISORS),) * 2
        if k.startswith("%"):
            return E(f"({a.p} % {c[0]})", f"_mod({a.i}, {c[1]})", s)
        fn = "np.mod" if k.startswith("np.mod") else "np.fmod"
        return E(f"{fn}({a.p}, {c[0]})", f"_{fn[3:]}({a.i}, {c[1]})", s)

    def ex_list_read(self, env, depth, fit):
        opts = []
        for n, shapes in list(env.lists.items()) + list(env.tuples.items()):
            for j, s in enumerate(shapes):
                if fits(s, fit):
                    opts.append((f"{n}[{self.pick([j, j - len(shapes)])}]", s))
        for n, d in env.dicts.items():
            for key, s in d.items():
                if fits(s, fit):
                    opts.append((f"{n}[{key!r}]", s))
        if not opts:
            return self.leaf(env, fit)
        text, s = self.pick(opts)
        self.stats["container read"] += 1
        return E(text, text, s)

    def ex_list_stack(self, env, depth, fit):
        """A list that holds one value twice (``[a, f(a)]``) stacked or concatenated and summed back:
        reverse over reverse adds the adjoints of the list's two reads (they were joined as lists,
        a silently wrong second derivative)."""
        a = self.ex(env, depth + 1, fit)
        self.stats["list stack"] += 1
        if a.shape and self.chance(0.5):
            n = a.shape[-1]
            form = "np.concatenate([{a}, np.sin({a})], axis=-1)[..., :{n}] + np.concatenate([{a}, {a} ** 2], axis=-1)[..., {n}:]"
            return E(form.format(a=a.p, n=n), form.format(a=a.i, n=n), a.shape)
        form = "np.sum(np.stack([{a}, np.sin({a}), {a}]) ** 2, axis=0)"
        return E(form.format(a=a.p), form.format(a=a.i), a.shape)

    def ex_memory_order(self, env, depth, fit):
        """The same elements in another order, through reshape/ravel/flatten with ``order=``
        (the rules once ignored the order: wrong gradients)."""
        a = self.ex(env, depth + 1, fit)
        s = tuple(a.shape)
        if len(s) == 0:
            return a
        self.stats["memory order"] += 1
        form = self.pick(["np.ravel({a}, order='F').reshape({s})", "np.reshape({a}, {r}, order='F').reshape({s})",
                          "({a}).flatten('F').reshape({s})", "np.reshape(({a}).T, {s}, order='A')",
                          "np.ravel(np.asfortranarray({a}), 'K').reshape({s})",
                          "({a}).reshape({r}, order='C').reshape({s}, order='F')"])
        r = (int(np.prod(s)),) if len(s) == 1 else s[::-1]
        return E(form.format(a=a.p, s=s, r=r), form.format(a=a.i, s=s, r=r), s)

    def ex_reshaping(self, env, depth, fit):
        """A function whose result has another shape than its input (class "shapes"): a loop that
        overwrites such a result resets its adjoint to the 0.0 placeholder between backward
        passes, and the rule (np.reshape, @, np.concatenate...) must still see an adjoint of the
        right shape; reverse over reverse once added the adjoint lists of np.concatenate with +."""
        a = self.ex(env, depth + 1, None)
        s = tuple(a.shape)
        if not s:
            return self.leaf(env, fit)
        n0, last = s[0], s[-1]
        forms = [("np.transpose({a})", s[::-1]), ("({a}).T", s[::-1]),
                 ("np.concatenate([{a}, {a} * 0.5], axis=0)", (2 * n0,) + s[1:]),
                 ("np.stack([{a}, np.sin({a})])", (2,) + s), ("np.flip({a}, 0)", s),
                 ("np.roll({a}, 1, axis=-1)", s), ("np.cumsum({a}, axis=0)", s),
                 ("np.tile({a}, 2)", s[:-1] + (2 * last,)), ("np.repeat({a}, 2, axis=0)", (2 * n0,) + s[1:]),
                 ("np.expand_dims({a}, 0)", (1,) + s), ("np.pad({a}, 1)", tuple(k + 2 for k in s)),
                 ("np.sort({a}, axis=-1)", s), ("np.reshape({a}, (-1,))", (int(np.prod(s)),))]
        if len(s) == 1:
            forms += [("np.outer({a}, {a})", (n0, n0)), ("({a}) @ ({a})", ()), ("np.dot({a}, {a})", ())]
        if len(s) == 2:
            forms += [("({a}) @ ({a}).T", (n0, n0)), ("np.dot(({a}).T, {a})", (last, last)),
                      ("np.swapaxes({a}, 0, 1)", s[::-1]), ("np.hstack([{a}, {a}])", (n0, 2 * last)),
                      ("np.einsum('ij,kj->ik', {a}, {a})", (n0, n0)), ("np.tril({a})", s)]
        forms = [f for f in forms if fits(f[1], fit)]
        if not forms:
            return self.leaf(env, fit)
        form, shape = self.pick(forms)
        self.stats["reshaping " + form.split("(")[0]] += 1
        form = f"({form})" if "@" in form else form     # binds like *: (t * a) @ b otherwise
        return E(form.format(a=a.p), form.format(a=a.i), shape)

    def ex_kw_call(self, env, depth, fit):
        a = self.ex(env, depth + 1, fit)
        # half the calls pass only constants by keyword (differentiated values by keyword are
        # refused today, and the class should still be checked)
        if self.chance(0.5):
            b, c = E(self.pick(CONSTS)), E(self.pick(CONSTS))
        else:
            b, c = self.ex(env, depth + 1, ()), self.ex(env, depth + 1, ())
        self.stats["keyword call"] += 1
        k = self.r.randrange(6)
        if k <= 2:
            name = "kw_helper"
            self.helpers[name] = (
                "def kw_helper(a, b=0.5, *, scale=1.5, shift=0.0):\n"
                "    return np.sin(a) * b + scale * a + shift\n")
            call = self.pick(["{n}({a})", "{n}({a}, {b})", "{n}({a}, scale={b})",
                              "{n}(b={b}, a={a})", "{n}({a}, {c}, shift={b}, scale={c})",
                              "{n}({a}, **{{'scale': {b}, 'b': {c}}})",
                              "{n}(*({a}, {b}), scale={c})"])
        elif k <= 4:
            name = "kw_only"
            self.helpers[name] = (
                "def kw_only(a, *, b, c=2.0):\n"
                "    return np.tanh(a * b) * c\n")
            call = self.pick(["{n}({a}, b={b})", "{n}({a}, c={c}, b={b})", "{n}(a={a}, b={b})"])
        else:
            name = "kw_star"
            self.helpers[name] = (
                "def kw_star(a, **kw):\n"
                "    return a * kw['b'] + np.cos(kw['c'])\n")
            call = self.pick(["{n}({a}, b={b}, c={c})", "{n}({a}, **{{'b': {b}, 'c': {c}}})"])
        return E(call.format(n=name, a=a.p, b=b.p, c=c.p), call.format(n=name, a=a.i, b=b.i, c=c.i),
                 a.shape)

    def ex_module_call(self, env, depth, fit):
        if not self.modules:
            self.make_modules()
        a = self.ex(env, depth + 1, fit)
        b = self.ex(env, depth + 1, ())
        alias = self.pick([alias for alias, _ in self.imports])
        self.stats["module call"] += 1
        return E(f"{alias}({a.p}, {b.p})", f"{alias}({a.i}, {b.i})", a.shape)

    def make_modules(self):
        """Two or three modules binding ``act`` and ``m`` to different things, each ``g`` calling
        the previous module's (1-3 levels deep), imported into the program under aliases."""
        acts = ["sin", "tanh", "cos", "arctan"]
        ms = [("math", "m.cos(0.3)"), ("cmath", "m.phase(-1.0)"), ("numpy", "m.cos(b)"),
              ("math", "m.sqrt(b * b + 1.0)")]
        self.r.shuffle(acts)
        self.r.shuffle(ms)
        n = self.pick([2, 3, 3])
        uid = f"{os.getpid()}_{next(_counter)}"
        prev = None
        for k in range(n):
            name = f"fuzzmod_{uid}_{'abc'[k]}"
            mod, use = ms[k]
            lines = ["import numpy as np", f"from numpy import {acts[k]} as act", f"import {mod} as m"]
            if prev:
                lines.append(f"from {prev} import g as inner" if self.chance(0.5)
                             else f"import {prev} as prev_mod")
            body = f"act(a) * {use}"
            if prev:
                inner = "inner" if lines[-1].startswith("from") else "prev_mod.g"
                body = self.pick([f"{inner}(act(a), b) + {use}", f"act({inner}(a, b)) * {use}",
                                  f"{inner}(a * {use}, act(b))"])
            lines += ["", "", "def g(a, b):", f"    return {body}", "", "",
                      "def h(a, b):", "    return act(a) + m.pi * 0.1", ""]
            self.modules.append((name, "\n".join(lines)))
            prev = name
        for k, (name, _) in enumerate(self.modules):
            alias = f"g_{'abc'[k]}"
            self.imports.append((alias, f"from {name} import g as {alias}"))
        self.imports.append(("mod_last.h", f"import {self.modules[-1][0]} as mod_last"))
        self.stats[f"{n} modules"] += 1

    # ------------------------------------------------------------------------------- statements
    def target_for(self, env, shape, base="v"):
        """A name to bind a value of ``shape`` to: an existing variable or a fresh one."""
        olds = [n for n in env.arrays if env.can_rebind(n, shape)]
        if olds and self.chance(0.5):
            return self.pick(olds)
        return self.fresh(base)

    def assign(self, env, name, e, lines):
        env.drop(name)
        env.arrays[name] = e.shape
        lines.append(Line(f"{name} = {e.p}", f"{name} = {e.i}"))

    def statement(self, env, depth):
        table = []
        for cls, w, fn in PRODUCTIONS:
            if fn.__name__.startswith("p_block") and depth >= 2 or cls in FOCUS_ONLY and cls != self.focus:
                continue
            table.append((fn, w * (FOCUS_WEIGHT if cls == self.focus else 1)))
        for _ in range(20):
            fn = self.weighted(table)
            lines = fn(self, env, depth)
            if lines is not None:
                self.stats["statements"] += 1
                self.stats[fn.__name__[2:]] += 1
                return lines
        return p_assign(self, env, depth)

    def block(self, env, depth, n):
        lines = []
        for _ in range(n):
            lines += self.statement(env, depth)
        return lines

    def test(self, env):
        a = self.ex(env, 1, None)
        red = E(f"np.sum({a.p})", f"np.sum({a.i})") if a.shape else a
        c = self.pick(CONSTS)
        op = self.pick(["<", ">"])
        return f"{red.p} {op} {c}", f"_cmp({red.i}, {c}) {op} {c}"


# ------------------------------------------------------------------------------------------------
# statement productions: (gen, env, depth) -> [Line] or None

def arrays(env, min_ndim=0, unfrozen=False):
    return [n for n, s in env.arrays.items() if len(s) >= min_ndim
            and not (unfrozen and n in env.frozen)]


def p_assign(g, env, depth):
    e = g.ex(env)
    name = g.target_for(env, e.shape)
    lines = []
    g.assign(env, name, e, lines)
    return lines


def p_aug(g, env, depth):
    cands = list(env.arrays)
    if not cands:
        return None
    n = g.pick(cands)
    op = g.pick(["+=", "-=", "*="])
    e = g.ex(env, 1, env.arrays[n])
    if op == "*=":
        e = E(f"np.tanh({e.p})", f"np.tanh({e.i})", e.shape)
    return [Line(f"{n} {op} {e.p}", f"{n} {op} {e.i}")]


def p_block_if(g, env, depth):
    tp, ti = g.test(env)
    body_env = env.copy()
    body = g.block(body_env, depth + 1, g.r.randint(1, 3))
    lines = [Line(f"if {tp}:", f"if {ti}:")] + indent(body)
    env.merge_from(body_env)
    if g.chance(0.5):
        else_env = env.copy()
        orelse = g.block(else_env, depth + 1, g.r.randint(1, 2))
        lines += [Line("else:")] + indent(orelse)
        env.merge_from(else_env)
    return lines


def p_block_for(g, env, depth):
    i = g.fresh("i")
    body_env = env.copy()
    body_env.frozen |= set(env.arrays) | set(env.lists) | set(env.tuples) | set(env.dicts)
    body_env.in_loop = True
    body_env.loop_vars.append(i)
    body = g.block(body_env, depth + 1, g.r.randint(1, 3))
    env.merge_from(body_env)
    return [Line(f"for {i} in range({g.r.randint(1, 3)}):")] + indent(body)


# class 1: a name rebound to a subscript of itself
def p_rebind_subscript(g, env, depth):
    cands = [n for n in arrays(env, 1)]
    if not cands:
        return None
    lines = []
    n = g.pick(cands)
    if g.chance(0.4) and not env.in_loop:
        # h = <expr>; h = h[...]
        e = g.ex(env, 1, None)
        if e.shape:
            n = g.fresh("h")
            g.assign(env, n, e, lines)
    opts = [o for o in index_options(env.arrays[n]) if env.can_rebind(n, o[1])]
    if not opts:
        return None
    idx, shape, _ = g.pick(opts)
    env.arrays[n] = shape
    lines.append(Line(f"{n} = {n}{idx}"))
    return lines


# class 2: adjoints shared between names, then updated
def p_shared_adjoint(g, env, depth):
    cands = [n for n in env.arrays if env.can_rebind(n, env.arrays[n])]
    if not cands:
        return None
    a = g.pick(cands)
    s = env.arrays[a]
    k = g.r.randrange(6)
    lines = []
    if k == 0:
        z = g.fresh("z")
        lines += [Line(f"{z} = {a} + {a}"), Line(f"{a} = {z} + {a}")]
        env.arrays[z] = s
    elif k == 1:
        lines += [Line(f"{a} = np.sin({a})"), Line(f"{a} = {a} + {a} * {a}")]
    elif k == 2:
        y, z = g.fresh("y"), g.fresh("z")
        lines += [Line(f"{y} = {a} * 2.0"), Line(f"{z} = {y} + {y}"), Line(f"{y} = {z} + {y}")]
        env.arrays[y] = env.arrays[z] = s
    elif k == 3:
        b = g.fresh("b")
        lines += [Line(f"{b} = {a}"), Line(f"{a} = {a} * {b} + {b}")]
        env.arrays[b] = s
    elif k == 4:
        others = [o for o in cands if o != a and env.arrays[o] == s]
        if not others:
            return None
        b = g.pick(others)
        lines += [Line(f"{a}, {b} = {b}, {a} * {b}")]
    else:
        lines += [Line(f"{a} = {a} * {a} - {a}")]
    return lines


# class 3: views and aliases followed by in-place operations
def p_view_inplace(g, env, depth):
    cands = arrays(env, 1)
    if not cands:
        return None
    v = g.pick(cands)
    s = env.arrays[v]
    k = g.r.randrange(9)
    lines = []
    if k <= 2:
        # w = v[view] / v / v.reshape / v.T / v.ravel(); then an in-place update of w or w[...]
        how = g.pick([(idx, sh) for idx, sh, view in index_options(s) if view]
                     + [("", s), (".reshape(-1)", (int(np.prod(s)),)), (".T", s[::-1]),
                        (".ravel()", (int(np.prod(s)),))])
        w = g.fresh("w")
        lines.append(Line(f"{w} = {v}{how[0]}"))
        env.drop(w)
        env.arrays[w] = tuple(how[1])
        lines += inplace_on(g, env, w)
    elif k == 3:
        # for row in X: row op= ...
        if len(s) < 2:
            return None
        row = g.fresh("row")
        op = g.pick(["*=", "+=", "-="])
        inner = env.copy()
        inner.arrays[row] = s[1:]
        e = g.ex(inner, 1, s[1:])
        if op == "*=":
            e = E(f"np.tanh({e.p})", f"np.tanh({e.i})", e.shape)
        lines += [Line(f"for {row} in {v}:"), Line(f"{row} {op} {e.p}", f"{row} {op} {e.i}", 1)]
    elif k == 4:
        if env.in_loop:
            return None
        a, b = g.fresh("a"), g.fresh("b")
        shape = g.pick([s, (3,), (2, 3)])
        lines.append(Line(f"{a} = {b} = np.zeros({shape})"))
        env.arrays[a] = env.arrays[b] = shape
        lines += inplace_on(g, env, a) + inplace_on(g, env, b)
    elif k == 5:
        if env.in_loop:
            return None
        L = g.fresh("L")
        lines.append(Line(f"{L} = [{v}, {v} * 2.0]"))
        env.lists[L] = [s, s]
        if g.chance(0.5):
            e = g.ex(env, 1, s)
            op = g.pick(["+=", "*="])
            lines.append(Line(f"{L}[0] {op} {e.p}", f"{L}[0] {op} {e.i}"))
        else:
            lines += inplace_on(g, env, v)
    elif k == 6:
        if env.in_loop:
            return None
        d = g.fresh("d")
        lines.append(Line(f"{d} = {{'p': {v}, 'q': {v} + 1.0}}"))
        env.dicts[d] = {"p": s, "q": s}
        idx = g.pick([o for o in index_options(s)])
        e = g.ex(env, 1, idx[1])
        tgt = g.pick([f"{d}['p']{idx[0]}", f"{v}{idx[0]}"])
        lines.append(Line(f"{tgt} = {e.p}", f"{tgt} = {e.i}"))
    elif k == 7:
        # a helper updating its caller's array in place
        op = g.pick(["*=", "+="])
        name = "inplace_helper_mul" if op == "*=" else "inplace_helper_add"
        g.helpers[name] = (f"def {name}(a, c):\n"
                           f"    a {op} 3.0 * c\n"
                           f"    return np.sum(a * a)\n")
        sname = g.fresh("s")
        c = g.ex(env, 1, ())
        lines.append(Line(f"{sname} = {name}({v}, {c.p})", f"{sname} = {name}({v}, {c.i})"))
        env.drop(sname)
        env.arrays[sname] = ()
    else:
        # a helper writing into an element of its caller's array
        g.helpers["setitem_helper"] = ("def setitem_helper(a, c):\n"
                                       "    a[0] = c * 2.0\n"
                                       "    return a\n")
        c = g.ex(env, 1, s[1:])
        w = g.fresh("w")
        lines.append(Line(f"{w} = setitem_helper({v}, {c.p})", f"{w} = setitem_helper({v}, {c.i})"))
        env.arrays[w] = s
    return lines


def inplace_on(g, env, w):
    s = env.arrays[w]
    k = g.r.randrange(3) if s else 0
    if k == 0:
        op = g.pick(["*=", "+=", "-="])
        e = g.ex(env, 1, s)
        if op == "*=":
            e = E(f"np.tanh({e.p})", f"np.tanh({e.i})", e.shape)
        return [Line(f"{w} {op} {e.p}", f"{w} {op} {e.i}")]
    idx, sh, _ = g.pick(index_options(s))
    e = g.ex(env, 1, sh)
    op = "=" if k == 1 else g.pick(["+=", "*="])
    return [Line(f"{w}{idx} {op} {e.p}", f"{w}{idx} {op} {e.i}")]


# class 4: writes whose value broadcasts or repeats
def p_broadcast_write(g, env, depth):
    cands = arrays(env, 1)
    if not cands:
        return None
    t = g.pick(cands)
    s = env.arrays[t]
    k = g.r.randrange(5)
    if k == 0:
        idx, sh, _ = g.pick(index_options(s))
        e = g.ex(env, 1, sh)
        if g.chance(0.5):
            e = g.leaf(env, ()) if g.chance(0.5) else e
        op = g.pick(["=", "=", "+=", "*="])
        return [Line(f"{t}{idx} {op} {e.p}", f"{t}{idx} {op} {e.i}")]
    if k == 1:
        e = g.ex(env, 1, s)
        return [Line(f"{t}[:] = {e.p}", f"{t}[:] = {e.i}")]
    if k == 2:
        e = g.ex(env, 1, ())
        c = g.pick(CONSTS)
        m = [n for n in arrays(env, 1) if env.arrays[n] == s]
        mv = g.pick(m)
        op = g.pick(["=", "+=", "*="])
        return [Line(f"{t}[{mv} > {c}] {op} {e.p}", f"{t}[_gt({mv}, {c})] {op} {e.i}")]
    n = s[0]
    rep = g.pick([f"[0, 0, {n - 1}]", f"[{n - 1}, 0, {n - 1}]", "[0, 0]", "[-1, 0, -1]"])
    cnt = rep.count(",") + 1
    e = g.ex(env, 1, (cnt,) + s[1:])
    op = "=" if k == 3 else g.pick(["+=", "-=", "*="])
    return [Line(f"{t}[{rep}] {op} {e.p}", f"{t}[{rep}] {op} {e.i}")]


# class 5: modulo
def p_mod(g, env, depth):
    cands = [n for n in env.arrays if env.can_rebind(n, env.arrays[n])]
    if not cands:
        return None
    v = g.pick(cands)
    e = g.ex_mod(env, 1, env.arrays[v])
    op = g.pick(["=", "+=", "=", "-="])
    if op == "=":
        if g.chance(0.5):
            e = E(f"{e.p} + {v}", f"{e.i} + {v}", env.arrays[v])
        if not env.can_rebind(v, e.shape):
            return None
        env.arrays[v] = e.shape
    return [Line(f"{v} {op} {e.p}", f"{v} {op} {e.i}")]


# class 5: lists built with +, += and append; tuple +
def p_containers(g, env, depth):
    if env.in_loop:
        return None
    lines = []
    mine = [n for n in env.lists if n not in env.frozen]
    if mine and g.chance(0.6):
        L = g.pick(mine)
        e = g.ex(env, 1, None)
        k = g.r.randrange(5)
        if k == 0:
            lines.append(Line(f"{L} = {L} + [{e.p}]", f"{L} = {L} + [{e.i}]"))
        elif k == 1:
            lines.append(Line(f"{L} += [{e.p}]", f"{L} += [{e.i}]"))
        elif k == 2:
            lines.append(Line(f"{L}.append({e.p})", f"{L}.append({e.i})"))
        elif k == 3:
            M = g.fresh("M")
            lines += [Line(f"{M} = {L}"), Line(f"{L} += [{e.p}]", f"{L} += [{e.i}]")]
            env.lists[L] = env.lists[L] + [e.shape]
            env.lists[M] = list(env.lists[L])
            return lines
        else:
            M = g.fresh("M")
            lines.append(Line(f"{M} = {L} + {L}"))
            env.lists[M] = env.lists[L] * 2
            return lines
        env.lists[L] = env.lists[L] + [e.shape]
        return lines
    if g.chance(0.6):
        L = g.fresh("L")
        a, b = g.ex(env, 1, None), g.ex(env, 1, None)
        lines.append(Line(f"{L} = [{a.p}, {b.p}]", f"{L} = [{a.i}, {b.i}]"))
        env.lists[L] = [a.shape, b.shape]
        return lines
    T = g.fresh("T")
    a, b, c = g.ex(env, 1, None), g.ex(env, 1, None), g.ex(env, 1, None)
    lines.append(Line(f"{T} = ({a.p}, {b.p}) + ({c.p},)", f"{T} = ({a.i}, {b.i}) + ({c.i},)"))
    env.tuples[T] = [a.shape, b.shape, c.shape]
    return lines


# class 6: keyword arguments (the expressions do the calls) and out= in reductions
def p_kwargs(g, env, depth):
    k = g.r.randrange(4)
    if k <= 1:
        e = g.ex_kw_call(env, 0, None)
        name = g.target_for(env, e.shape, "k")
        lines = []
        g.assign(env, name, e, lines)
        return lines
    cands = arrays(env, 1)
    if not cands:
        return None
    v = g.pick(cands)
    s = env.arrays[v]
    buf = g.fresh("buf")
    g.stats["out="] += 1
    if k == 2 or len(s) < 2:
        fn = g.pick(["np.sum", "np.mean"])
        r = g.fresh("r")
        env.arrays[buf] = env.arrays[r] = ()
        return [Line(f"{buf} = np.zeros(())"), Line(f"{r} = {fn}({v}, out={buf})")]
    fn = g.pick(["np.sum", "np.mean"])
    env.arrays[buf] = s[1:]
    return [Line(f"{buf} = np.zeros({s[1:]})"), Line(f"{fn}({v}, axis=0, out={buf})")]


# class 8: range(len(lst)) followed by append; iteration over a dict
def p_iteration(g, env, depth):
    if env.in_loop:
        return None
    lines = []
    k = g.r.randrange(4)
    if k <= 1:
        mine = [n for n in env.lists if n not in env.frozen]
        if mine and g.chance(0.5):
            L = g.pick(mine)
        else:
            L = g.fresh("L")
            a, b = g.ex(env, 1, None), g.ex(env, 1, None)
            lines.append(Line(f"{L} = [{a.p}, {b.p}]", f"{L} = [{a.i}, {b.i}]"))
            env.lists[L] = [a.shape, b.shape]
        i = g.fresh("i")
        c = g.pick(CONSTS)
        how = g.pick([f"np.sin({L}[{i}]) * {c}", f"{L}[{i}] * {c}", f"{L}[{i}] + {L}[-1]"])
        shapes = env.lists[L]
        if "[-1]" in how:
            # L[-1] changes while appending: every new element broadcasts the same shapes
            s_all = shapes[0]
            for sh in shapes:
                s_all = bshape(s_all, sh)
                if s_all is None:
                    if L not in mine:
                        del env.lists[L]
                    return None
            new = [bshape(sh, s_all) for sh in shapes]
        else:
            new = list(shapes)
        lines += [Line(f"for {i} in range(len({L})):"), Line(f"{L}.append({how})", level=1)]
        env.lists[L] = shapes + new
        return lines
    d = g.fresh("d")
    a, b = g.ex(env, 1, None), g.ex(env, 1, None)
    lines.append(Line(f"{d} = {{'a': {a.p}, 'b': {b.p}}}", f"{d} = {{'a': {a.i}, 'b': {b.i}}}"))
    env.dicts[d] = {"a": a.shape, "b": b.shape}
    key = g.fresh("key")
    if k == 2:
        acc = g.fresh("acc")
        lines += [Line(f"{acc} = 0.0"), Line(f"for {key} in {d}:"),
                  Line(f"{acc} = {acc} + np.sum(np.sin({d}[{key}]) * {g.pick(CONSTS)})", level=1)]
        env.arrays[acc] = ()
    else:
        val = g.fresh("val")
        lines += [Line(f"for {key} in {d}:"),
                  Line(f"{d}[{key}] = {d}[{key}] * {g.pick(CONSTS)} + 1.0", level=1)]
        if g.chance(0.5):
            lines += [Line(f"for {key}, {val} in {d}.items():"),
                      Line(f"{d}[{key}] = np.tanh({val})", level=1)]
    return lines


# class 11: what reverse mode saves in a loop (saves.SaveLog.plan): a loop-invariant value, x[j] of
# an array the loop never writes, chains of scalar temporaries evaluated again in the backward
# sweep, a value read only for its shape, an if whose backward branches are the same (restores
# only), and out[i] = ... into an adjoint made private once before the loop
def p_saves(g, env, depth):
    if env.in_loop or not env.arrays:
        return None
    a = g.pick(list(env.arrays))
    shape = env.arrays[a]
    n = g.r.randint(2, 4)
    i, j, c, acc, k, s1, s2, t1, t2, e, out = (g.fresh(b) for b in (
        "i", "j", "c", "acc", "k", "s", "s", "t", "t", "e", "out"))
    lines = [Line(f"{c} = {g.pick(CONSTS)} * np.sum(np.tanh({a}))"),
             Line(f"{acc} = {a} * 1.0"),
             Line(f"{out} = np.zeros({n})"),
             Line(f"{k} = 0.5"),
             Line(f"for {i} in range({n}):")]
    body = [Line(f"{t1} = np.tanh({acc} * {c})"), Line(f"{s1} = np.sum({t1})"),
            Line(f"{s2} = {s1} * {s1} - {c} * {s1} + {g.pick(CONSTS)}")]
    indexed = [v for v in arrays(env, 1) if v != acc]
    if indexed and g.chance(0.7):
        v = g.pick(indexed)
        body += [Line(f"{j} = {i} % {env.arrays[v][0]}"), Line(f"{e} = np.sum({v}[{j}]) * {s1}")]
    else:
        body.append(Line(f"{e} = {s1} * 0.5"))
    tp, ti = g.test(env)
    c1, c2 = g.pick(CONSTS), g.pick(CONSTS)
    body += [Line(f"if {tp}:", f"if {ti}:"), Line(f"{k} = 0.5 + 0.1 * {c1}", level=1), Line("else:"),
             Line(f"{k} = 0.5 + 0.1 * {c2}", level=1),
             Line(f"{t2} = {acc} * {k} + np.sin({t1}) * 0.1"),
             Line(f"{acc} = {t2} + 0.01 * np.tanh({e})"),
             Line(f"{out}[{i}] = np.sum({acc}) * {s2}")]
    lines += indent(body)
    lines.append(Line(f"{acc} = {acc} + np.sum(np.tanh({out})) * {g.pick(CONSTS)}"))
    env.drop(acc)
    env.arrays[acc] = shape
    return lines


# class "python" (issue 13): comprehensions, generator expressions, nested functions and lambdas
# closing over the function's values, *args displays: rewritten by normalize into loops and inlined
# code, so a renaming or scoping slip gives a wrong value or gradient
def p_python(g, env, depth):
    lines = []
    k = g.r.randrange(5)
    if g.focus == "python" and g.chance(0.5):
        k = 5 + g.r.randrange(4)   # issue 13's objects, side-effect calls, imports (python focus only)
    a, b = g.ex(env, 1, None), g.ex(env, 1, None)
    c = g.pick(CONSTS)
    if k >= 5:
        return p_python_objects(g, env, k, a, b, c)
    if k == 0:     # list comprehension with a filter on the position, summed
        s = bshape(a.shape, b.shape)
        if s is None:
            return None
        L, v, i = g.fresh("L"), g.fresh("v"), g.fresh("i")
        lines.append(Line(f"{L} = [np.sin({v}) * {c} for {i}, {v} in enumerate([{a.p}, {b.p}, {a.p}]) if {i} != 1]",
                          f"{L} = [np.sin({v}) * {c} for {i}, {v} in enumerate([{a.i}, {b.i}, {a.i}]) if {i} != 1]"))
        env.lists[L] = [a.shape, a.shape]
        return lines
    if k == 1:     # generator expression in sum()
        s = bshape(a.shape, b.shape)
        if s is None:
            return None
        t, v = g.fresh("gs"), g.fresh("v")
        lines.append(Line(f"{t} = sum(np.tanh({v}) * {c} for {v} in ({a.p}, {b.p}))",
                          f"{t} = sum(np.tanh({v}) * {c} for {v} in ({a.i}, {b.i}))"))
        env.drop(t)
        env.arrays[t] = s
        return lines
    if k == 2:     # nested def: its parameter shadows nothing, its body reads a closure value
        s = bshape(a.shape, b.shape)
        if s is None:
            return None
        fn, u, w = g.fresh("inner"), g.fresh("u"), g.fresh("nw")
        lines += [Line(f"def {fn}({u}):"),
                  Line(f"return np.cos({u}) * ({b.p}) + {c}", f"return np.cos({u}) * ({b.i}) + {c}", level=1),
                  Line(f"{w} = {fn}({a.p}) * {fn}({a.p})", f"{w} = {fn}({a.i}) * {fn}({a.i})")]
        env.drop(w)
        env.arrays[w] = s
        return lines
    if k == 3:     # lambda closing over a value, called twice
        s = bshape(a.shape, b.shape)
        if s is None:
            return None
        fn, u, w = g.fresh("lam"), g.fresh("u"), g.fresh("lw")
        lines += [Line(f"{fn} = lambda {u}: {u} * ({b.p}) - {c}  # noqa: E731",
                       f"{fn} = lambda {u}: {u} * ({b.i}) - {c}  # noqa: E731"),
                  Line(f"{w} = {fn}({a.p}) + {fn}({c})", f"{w} = {fn}({a.i}) + {fn}({c})")]
        env.drop(w)
        env.arrays[w] = s
        return lines
    s = bshape(a.shape, b.shape)          # *args of a tuple display into a variadic helper
    if s is None:
        return None
    T, w = g.fresh("args"), g.fresh("sw")
    g.helpers["star_helper"] = ("def star_helper(*terms):\n"
                                "    total = 0.0\n"
                                "    for t in terms:\n"
                                "        total = total + np.sin(t)\n"
                                "    return total\n")
    lines += [Line(f"{T} = ({a.p}, {b.p})", f"{T} = ({a.i}, {b.i})"),
              Line(f"{w} = star_helper(*{T})")]
    env.drop(w)
    env.arrays[w] = s
    return lines


PY_AFFINE = """class Affine:
    def __init__(self, w, b):
        self.w = w
        self.b = b
        self.calls = 0

    def __call__(self, v):
        self.calls += 1
        return np.sin(v) * self.w + self.b

    def shifted(self, v):
        return self(v) - self.b * 0.5


def apply_obj(o, v):
    return o.shifted(v) + o.w * 0.25
"""

PY_PAIR = """from dataclasses import dataclass


@dataclass
class Pair:
    u: object
    v: object = 0.5

    def mix(self):
        return self.u * self.v
"""


def p_python_objects(g, env, k, a, b, c):
    """Objects made in the function (a class with ``__call__`` and a method that calls it, passed
    to a helper; a dataclass with a default), calls for a side effect on temporaries (logging with
    an f-string) and imports inside the function."""
    s = bshape(a.shape, b.shape)
    if s is None:
        return None
    lines = []
    w = g.fresh("pw")
    if k == 5:
        o = g.fresh("obj")
        g.helpers["py_affine"] = PY_AFFINE
        lines += [Line(f"{o} = Affine({a.p}, {c})", f"{o} = Affine({a.i}, {c})"),
                  Line(f"{w} = apply_obj({o}, {b.p}) + {o}.w * {o}.calls", f"{w} = apply_obj({o}, {b.i}) + {o}.w * {o}.calls")]
    elif k == 6:
        d = g.fresh("pair")
        g.helpers["py_pair"] = PY_PAIR
        lines += [Line(f"{d} = Pair({b.p}, v={a.p})", f"{d} = Pair({b.i}, v={a.i})"),
                  Line(f"{w} = {d}.mix() + {d}.u * {c}")]
    elif k == 7:
        lines += [Line("import logging"),
                  Line(f"logging.getLogger('fuzz').debug('%s %s', np.sum({a.p}) * {c}, f\"{{np.max({b.p}):.2f}}\")",
                       f"logging.getLogger('fuzz').debug('%s %s', np.sum({a.i}) * {c}, f\"{{np.max({b.i}):.2f}}\")"),
                  Line(f"{w} = np.tanh({a.p}) * ({b.p})", f"{w} = np.tanh({a.i}) * ({b.i})")]
    else:
        fn, e = g.fresh("act"), g.fresh("exp")
        lines += [Line(f"from numpy import tanh as {fn}"), Line(f"from math import exp as {e}"),
                  Line(f"{w} = {fn}({a.p}) * {e}({c}) + ({b.p})", f"{w} = {fn}({a.i}) * {e}({c}) + ({b.i})")]
    env.drop(w)
    env.arrays[w] = s
    return lines


def p_modules(g, env, depth):
    e = g.ex_module_call(env, 0, None)
    name = g.target_for(env, e.shape, "u")
    lines = []
    g.assign(env, name, e, lines)
    return lines


CLASSES = ["base", "rebind_subscript", "shared_adjoint", "view_inplace", "broadcast_write", "mod",
           "containers", "kwargs", "iteration", "modules", "saves", "python", "cheap_write",
           "shapes", "control", "list_stack", "complex", "values", "scalar_loops", "dtypes", "objects",
           "idioms"]
# classes whose productions appear only in programs of that focus (the other classes' programs,
# and so their seeds, stay what they were before the class was added)
FOCUS_ONLY = {"cheap_write", "shapes", "control", "list_stack", "complex", "values", "scalar_loops", "dtypes", "objects",
              "idioms"}
# the classes a seed without a focus picks from: those added later ("values", "scalar_loops") are
# reached through their focus only, so that the programs of old seeds stay what they were
RANDOM_FOCUS = CLASSES[:CLASSES.index("values")]

# a cheap temporary the backward sweep reads (-w, w * 2.0), then w written in place: the optimizer
# must not recompute the temporary at its read from the changed w (optimize.fuse_single_use)
# class "shapes": a loop whose body gives a fresh name a value of another shape than its inputs
# (ex_reshaping), read after the loop: its adjoint is reset between the backward passes
def p_loop_overwrite(g, env, depth):
    if env.in_loop:
        return None
    i = g.fresh("i")
    body_env = env.copy()
    body_env.frozen |= set(env.arrays) | set(env.lists) | set(env.tuples) | set(env.dicts)
    body_env.in_loop = True
    body_env.loop_vars.append(i)
    e = g.ex_reshaping(body_env, 1, None)
    t = g.fresh("t")
    body = []
    g.assign(body_env, t, e, body)
    if g.chance(0.5):
        g.assign(body_env, t, E(f"np.tanh({t}) * {g.pick(CONSTS)}", f"np.tanh({t}) * {g.pick(CONSTS)}",
                                e.shape), body)
    env.merge_from(body_env)
    env.drop(t)
    env.arrays[t] = e.shape     # the loop runs at least twice: t is bound after it
    return [Line(f"for {i} in range({g.r.randint(2, 3)}):")] + indent(body)


# class "control": data-dependent while loops, break/continue, early returns, with array values
# (the old grammar has them on small scalar programs only): the forward sweep records each
# decision and the backward sweep must replay it with the adjoints of the values then live
def p_control(g, env, depth):
    if depth >= 2:
        return None
    k = g.r.randrange(4)
    if k == 3 and not env.in_loop and depth == 0 and env.arrays:
        tp, ti = g.test(env)
        n = g.pick(list(env.arrays))
        term = return_term(g, n)
        return [Line(f"if {tp}:", f"if {ti}:"), Line(f"return {term}", level=1)]
    body_env = env.copy()
    body_env.in_loop = True
    if k == 0:      # while with a data test and a bound
        n = g.fresh("n")
        tp, ti = g.test(env)
        body_env.frozen |= set(env.arrays) | set(env.lists) | set(env.tuples) | set(env.dicts)
        body = g.block(body_env, depth + 1, g.r.randint(1, 2))
        env.merge_from(body_env)
        return [Line(f"{n} = 0"), Line(f"while {tp} and {n} < 3:", f"while {ti} and {n} < 3:")] + \
            indent(body + [Line(f"{n} += 1")])
    i = g.fresh("i")
    body_env.loop_vars.append(i)
    body_env.frozen |= set(env.arrays) | set(env.lists) | set(env.tuples) | set(env.dicts)
    first = g.block(body_env, depth + 1, g.r.randint(1, 2))
    tp, ti = g.test(body_env)
    jump = "break" if k == 1 else "continue"
    after_env = body_env.copy()
    second = g.block(after_env, depth + 1, 1)
    body_env.merge_from(after_env)
    env.merge_from(body_env)
    return [Line(f"for {i} in range({g.r.randint(2, 4)}):")] + indent(
        first + [Line(f"if {tp}:", f"if {ti}:"), Line(jump, level=1)] + second)


# class "complex": complex intermediates of a real function (a complex constant, np.exp(1j * v)),
# back to real through abs/real/imag/angle/conj: the rules' conjugates (docs/complex.md)
def p_complex(g, env, depth):
    a = g.ex(env, 1, None)
    c, w = g.fresh("c"), g.fresh("w")
    make = g.pick(["({a}) * (0.5 + 0.3j)", "np.exp(1j * ({a}))", "({a}) + 1j * np.sin({a})",
                   "np.sqrt(({a}) * ({a}) + 1.0 + 0.5j)", "(({a}) + 2j) ** 2"])
    back = g.pick(["np.abs({c} + 2.0)", "np.real({c} * np.conj({c}))", "np.imag({c}) * 2.0",
                   "np.angle({c} + 3.0 + 0.5j)", "np.real(np.exp({c}) / ({c} + 3.0))"])
    env.drop(w)
    env.arrays[w] = a.shape
    return [Line(f"{c} = " + make.format(a=a.p), f"{c} = " + make.format(a=a.i)),
            Line(f"{w} = " + back.format(c=c))]


def p_cheap_then_write(g, env, depth):
    cands = arrays(env, 1, unfrozen=True)
    if not cands:
        return None
    w = g.pick(cands)
    tmp = g.pick([f"(-{w})", f"({w} * 2.0)", f"({w} + 0.5)"])
    lines = []
    g.assign(env, g.fresh("c"), E(f"np.sin({tmp}) * {w}", f"np.sin({tmp}) * {w}", env.arrays[w]), lines)
    return lines + inplace_on(g, env, w)


# class "values" (issue "trust"): Python's own meaning of values a user writes without thinking of
# derivatives: the builtin sum of an array (its rows), `a > c and e or f` (an operand is the value),
# enumerate as a value, a tuple element nothing reads (its adjoint stays the 0.0 placeholder), a 0-d
# array written with `z[()] = v`, a loop that may run no pass, a dict made by a helper and read
# twice, a method defined as a lambda, Python lists as operands of np.dot, @ and **, a float written
# into an integer array
def p_values(g, env, depth):
    k = g.r.randrange(10)
    c = g.pick(CONSTS)
    if k == 8:      # Python lists as operands of np.dot, @ and **
        cands = [n for n in arrays(env, 1) if len(env.arrays[n]) == 1]
        if not cands:
            return None
        a = g.pick(cands)
        n = env.arrays[a][0]
        lst = "[" + ", ".join(str(0.5 + 0.5 * i) for i in range(n)) + "]"
        w = g.fresh("ls")
        env.drop(w)
        env.arrays[w] = ()
        form = g.pick([f"np.dot({lst}, {a})", f"{a} @ {lst}", f"np.sum(({a} * {a} + 0.5) ** {lst})",
                       f"np.sum({lst} ** np.tanh({a}))"])
        return [Line(f"{w} = {form}")]
    if k == 6:      # a dict made by a helper, two entries read (reverse over reverse adds dict adjoints)
        a = g.ex(env, 1, None)
        w = g.fresh("dh")
        g.helpers["two_entries"] = ("def two_entries(v):\n"
                                    "    return {'a': v * 2.0, 'b': np.tanh(v)}\n")
        env.drop(w)
        env.arrays[w] = a.shape
        return [Line(f"{w} = two_entries({a.p})['a'] * two_entries({a.p})['b']",
                     f"{w} = two_entries({a.i})['a'] * two_entries({a.i})['b']")]
    if k == 7:      # a method defined as a lambda
        a = g.ex(env, 1, None)
        w = g.fresh("lm")
        g.helpers["LamScale"] = ("class LamScale:\n"
                                 "    scale = lambda self, v: np.sin(v) * 1.5  # noqa: E731\n\n\n"
                                 "LAM = LamScale()\n")
        env.drop(w)
        env.arrays[w] = a.shape
        return [Line(f"{w} = LAM.scale({a.p}) * {c}", f"{w} = LAM.scale({a.i}) * {c}")]
    if k == 0:      # builtin sum over the first axis (rows of a matrix, numbers of a vector)
        cands = arrays(env, 1)
        if not cands:
            return None
        a = g.pick(cands)
        w = g.fresh("bs")
        start = g.pick(["", f", {c}"])
        env.drop(w)
        env.arrays[w] = env.arrays[a][1:]
        return [Line(f"{w} = sum({a}{start}) * 1.5")]
    if k == 1:      # and / or whose value is an operand
        a, b = g.ex(env, 1, ()), g.ex(env, 1, ())
        t = g.ex(env, 1, None)
        red = E(f"np.sum({t.p})", f"np.sum({t.i})") if t.shape else t
        op = g.pick(["<", ">"])
        w = g.fresh("ao")
        env.drop(w)
        env.arrays[w] = ()
        form = g.pick(["({t} {op} {c} and {a} or {b})", "(({a}) * 0.0 or {b})", "({t} {op} {c} or {a})",
                       "({b} and {a})"])
        ip = form.format(t=red.p, op=op, c=c, a=a.p, b=b.p)
        ii = form.format(t=f"_cmp({red.i}, {c})", op=op, c=c, a=a.i, b=b.i)
        return [Line(f"{w} = {ip} * 1.0", f"{w} = {ii} * 1.0")]
    if k == 2:      # enumerate as a value
        cands = arrays(env, 1)
        if not cands:
            return None
        a = g.pick(cands)
        w, i, v = g.fresh("en"), g.fresh("i"), g.fresh("v")
        env.drop(w)
        env.arrays[w] = env.arrays[a][1:]
        form = g.pick([f"sum({v} * {i} for {i}, {v} in enumerate({a}, 1))",
                       f"list(enumerate({a}))[-1][1] * {c}",
                       f"sum({v}[1] * {v}[0] for {v} in list(enumerate({a})))"])
        return [Line(f"{w} = {form}")]
    if k == 3:      # a tuple whose shape-changing elements nothing reads
        a = g.ex(env, 1, None)
        T, w = g.fresh("T"), g.fresh("tu")
        size = int(np.prod(a.shape)) if a.shape else 1
        parts = [f"np.reshape({a.p}, ({size}, 1))", f"np.outer({a.p}, {a.p})", f"np.sum({a.p}) * {c}"]
        iparts = [f"np.reshape({a.i}, ({size}, 1))", f"np.outer({a.i}, {a.i})", f"np.sum({a.i}) * {c}"]
        j = g.r.randrange(3)
        env.drop(w)
        env.arrays[w] = a.shape
        if g.chance(0.5):
            return [Line(f"{T} = ({a.p}, {parts[j]})", f"{T} = ({a.i}, {iparts[j]})"),
                    Line(f"{w} = {T}[0] * {c}")]
        return [Line(f"{T} = {{'a': {a.p}, 'b': {parts[j]}}}", f"{T} = {{'a': {a.i}, 'b': {iparts[j]}}}"),
                Line(f"{w} = {T}['a'] * {c}")]
    if k == 9 and g.chance(0.4):     # np.cumprod of values holding exact zeros (a ReLU's output)
        v = g.ex(env, 1, None)
        w = g.fresh("cz")
        env.drop(w)
        env.arrays[w] = ()
        return [Line(f"{w} = np.sum(np.cumprod(np.maximum(np.ravel({v.p}), 0.0) + 0.5) * "
                     f"np.cumprod(np.maximum(np.ravel({v.p}), 0.0)))",
                     f"{w} = np.sum(np.cumprod(np.maximum(np.ravel({v.i}), 0.0) + 0.5) * "
                     f"np.cumprod(np.maximum(np.ravel({v.i}), 0.0)))")]
    if k == 9:      # a float written into an integer array: NumPy truncates it (no derivative)
        a = g.ex(env, 1, ())
        y, w = g.fresh("iy"), g.fresh("iw")
        env.drop(w)
        env.arrays[w] = ()
        make = g.pick(["np.zeros(2, dtype=int)", "np.arange(2)", "np.array([1, 2])", "np.ones(2).astype(int)"])
        return [Line(f"{y} = {make}"), Line(f"{y}[0] = {a.p} * 3.0", f"{y}[0] = {a.i} * 3.0"),
                Line(f"{w} = np.sum({y}) * {a.p}", f"{w} = np.sum({y}) * {a.i}")]
    if k == 4:      # a 0-d array written in place
        a = g.ex(env, 1, ())
        z = g.fresh("z")
        env.drop(z)
        env.arrays[z] = ()
        idx = g.pick(["()", "..."])
        return [Line(f"{z} = np.zeros(())"), Line(f"{z}[{idx}] = {a.p}", f"{z}[{idx}] = {a.i}")]
    if depth >= 2 or not env.arrays:   # a loop that may run no pass
        return None
    n = g.pick(list(env.arrays))
    s, i = g.fresh("s"), g.fresh("i")
    env.drop(s)
    env.arrays[s] = env.arrays[n]
    return [Line(f"{s} = {n} * 1.0"), Line(f"for {i} in range({g.r.randint(0, 1)}):"),
            Line(f"{s} = np.sin({s}) * {c}", level=1)]
# class "dtypes": floats written into integer or boolean arrays srcad cannot see (a module-level
# table copied, a helper's array, a cast of the input), and reductions and arrays of an integer
# dtype (``np.sum(v, dtype=int)``): NumPy truncates, so no derivative passes there; float dtypes
# keep it. Every truncated value is instrumented (``_tr``: its distance to the nearest integer).
def p_dtypes(g, env, depth):
    k = g.r.randrange(5)
    c = g.pick(CONSTS)
    a = g.ex(env, 1, ())
    e = g.ex(env, 1, None)
    w = g.fresh("dw")
    env.drop(w)
    env.arrays[w] = ()
    if k <= 1:      # a float written into an integer array made from an integer table
        g.helpers["ITAB"] = "ITAB = np.array([1, 2, 0])\n"
        g.helpers["int_table"] = "def int_table():\n    return np.array([3, 1, 2])\n"
        y = g.fresh("iy")
        make = g.pick(["ITAB.copy()", "np.array(ITAB)", "ITAB + 0", "np.zeros_like(ITAB)", "int_table()",
                       "np.copy(ITAB[::-1])", "ITAB.astype(np.int32)", "ITAB * 1.0", "ITAB / 2"]
                      + ["ITAB > 0"] * (k == 0))     # (NumPy refuses ``+=`` of a float into booleans)
        idx = g.pick(["0", "1:", "-1", "[0, 2]", "::2"] if k == 0 else ["0", "-1"])   # (``y[1:] += v``: a cast error)
        lines = [Line(f"{y} = {make}")]
        if k == 0:
            lines.append(Line(f"{y}[{idx}] = {a.p} * 3.0", f"{y}[{idx}] = _tr({a.i} * 3.0)"))
        else:
            lines.append(Line(f"{y}[{idx}] += {a.p} * 3.0", f"{y}[{idx}] += _tr({a.i} * 3.0)"))
        lines.append(Line(f"{w} = np.sum({y} * {c}) * {a.p}", f"{w} = np.sum({y} * {c}) * {a.i}"))
        return lines
    if k == 2:      # the input cast to integers, then written into
        y = g.fresh("iy")
        return [Line(f"{y} = (np.ones(3) * {a.p} * 3.0).astype(int)",
                     f"{y} = (np.ones(3) * _tr({a.i} * 3.0)).astype(int)"),
                Line(f"{y}[1] = {a.p} * 5.0", f"{y}[1] = _tr({a.i} * 5.0)"),
                Line(f"{w} = np.sum({y} * {a.p}) * {c}", f"{w} = np.sum({y} * {a.i}) * {c}")]
    if k == 3:      # an integer dtype: truncated element by element
        form = g.pick(["np.sum({e} * 3.0, dtype=int)", "np.sum(np.cumsum(np.ravel({e}) * 3.0, dtype=np.int64))",
                       "np.prod({e} * 3.0, dtype=int)", "np.sum(np.array({e} * 3.0, dtype=int))",
                       "np.sum(np.asarray({e}, dtype=bool))", "np.asarray({e} * 3.0).sum(dtype=int)"])
        ip = form.format(e=e.p)
        ii = form.format(e=f"_tr({e.i})").replace("_tr(" + e.i + ") * 3.0", "_tr(" + e.i + " * 3.0)")
        return [Line(f"{w} = {ip} * {a.p}", f"{w} = {ii} * {a.i}")]
    form = g.pick(["np.sum({e} * {e}, dtype=np.float64)", "np.sum(np.array({e}, dtype=float) ** 2)",
                   "np.mean(np.sin({e}), dtype=float)", "np.sum(np.cumsum(np.ravel({e}), dtype=float))"])
    return [Line(f"{w} = {form.format(e=e.p)} * {a.p}", f"{w} = {form.format(e=e.i)} * {a.i}")]


# class "objects": objects of a class made in the function, whose property has a setter (Python runs
# the setter: ``o.w = v`` stores ``v * 3.0``, so ``o.w`` reads ``v * 6.0``), whose method reads a
# property, or a field written and read back by a method
OBJ_CLASS = ("class Halved:\n"
             "    def __init__(self, w):\n"
             "        self._w = w\n"
             "        self.scale = 1.5\n\n"
             "    @property\n"
             "    def w(self):\n"
             "        return self._w * 2.0\n\n"
             "    @w.setter\n"
             "    def w(self, v):\n"
             "        self._w = v * 3.0\n\n"
             "    def apply(self, v):\n"
             "        return np.tanh(self.w * v) * self.scale\n")


def p_objects(g, env, depth):
    a, b = g.ex(env, 1, None), g.ex(env, 1, ())
    c = g.pick(CONSTS)
    g.helpers["Halved"] = OBJ_CLASS
    o, w = g.fresh("ob"), g.fresh("ow")
    env.drop(w)
    env.arrays[w] = a.shape
    k = g.r.randrange(3)
    lines = [Line(f"{o} = Halved({a.p})", f"{o} = Halved({a.i})")]
    if k == 0:
        lines.append(Line(f"{o}.w = {a.p} * {c}", f"{o}.w = {a.i} * {c}"))
    elif k == 1:
        lines.append(Line(f"{o}.scale = {b.p}", f"{o}.scale = {b.i}"))
    lines.append(Line(f"{w} = {o}.apply({a.p}) + {o}.w", f"{w} = {o}.apply({a.i}) + {o}.w"))
    return lines


# class "scalar_loops" (issue 15): a scalar loop over the elements of a 1-D argument (Horner's
# rule and its kin): srcad reads them as Python floats where every use treats a float as NumPy
# treats an np.float64 (srcad/floats.py); division, powers, kept comparisons must keep NumPy's
def p_scalar_loop(g, env, depth):
    if env.in_loop:
        return None
    vecs = [v for v in ("x", "y") if len(env.arrays.get(v, (0, 0))) == 1]
    if not vecs:
        return None
    v = g.pick(vecs)
    m = env.arrays[v][0]
    scalars = [n for n, sh in env.arrays.items() if sh == ()]
    k = g.pick(scalars) if scalars and g.chance(0.7) else g.pick(CONSTS)
    s, i, e, b = (g.fresh(n) for n in ("s", "i", "e", "b"))
    c = g.pick(CONSTS)
    body = [Line(f"{e} = {v}[{i} % {m}]")]
    kind = g.r.randrange(7)
    if kind == 0:
        body.append(Line(f"{s} = {s} * {c} + {e} * {k}"))
    elif kind == 1:
        body.append(Line(f"{s} = {s} - {e} * {e} * 0.1 + {k}"))
    elif kind == 2:
        body.append(Line(f"{s} = {s} * 0.5 + {e} / (1.5 + {e} * {e})"))
    elif kind == 3:
        body.append(Line(f"{s} = {s} * 0.5 + {e} ** 2 * {k}"))
    elif kind == 4:
        body.append(Line(f"{s} = {s} + np.sin({e}) * {k}"))
    elif kind == 5:
        body += [Line(f"{b} = {e} > {c}", f"{b} = _cmp({e}, {c}) > {c}"), Line(f"{s} = {s} + {b} * {e} * {k}")]
    else:
        body += [Line(f"if {e} > {c}:", f"if _cmp({e}, {c}) > {c}:"), Line(f"{s} = {s} * {k} + {e}", level=1),
                 Line("else:"), Line(f"{s} = {s} - {e} * 0.5", level=1)]
    lines = [Line(f"{s} = {g.pick(CONSTS)}"), Line(f"for {i} in range({g.r.randint(2, 5)}):")] + indent(body)
    env.arrays[s] = ()
    return lines


# class "idioms" (focus only): Python idioms srcad follows as Python runs them: for/while ... else,
# starred unpacking, divmod, max/min of one iterable, sorted with a key lambda, tests that compute
# (any over a generator, :=), unpacking an array by its first axis, and a list written through a
# second name (refused: the derivative would carry the two names apart)
def p_idioms(g, env, depth):
    k = g.r.randrange(11)
    c = g.pick(CONSTS)
    w = g.fresh("id")
    vecs = [n for n in arrays(env, 1) if len(env.arrays[n]) == 1 and env.arrays[n][0] >= 2]
    if k == 0 and depth < 2:       # for ... else: the else block runs when no break was taken
        a = g.ex(env, 1, None)
        i = g.fresh("i")
        env.drop(w)
        env.arrays[w] = a.shape
        red = f"np.sum({w})" if a.shape else w
        return [Line(f"{w} = {a.p} * 1.0", f"{w} = {a.i} * 1.0"),
                Line(f"for {i} in range({g.r.randint(1, 4)}):"),
                Line(f"{w} = np.sin({w}) * {c} + {w}", level=1),
                Line(f"if {red} > {c}:", f"if _cmp({red}, {c}) > {c}:", level=1),
                Line("break", level=2),
                Line("else:"),
                Line(f"{w} = {w} * {w} + 0.5", level=1)]
    if k == 1 and depth < 2:       # while ... else
        a = g.ex(env, 1, ())
        n = g.fresh("n")
        env.drop(w)
        env.arrays[w] = ()
        return [Line(f"{w} = {a.p} * 1.0", f"{w} = {a.i} * 1.0"), Line(f"{n} = 0"),
                Line(f"while {n} < 3:"),
                Line(f"{w} = {w} * 1.3 + 0.1", level=1),
                Line(f"if {w} > {c}:", f"if _cmp({w}, {c}) > {c}:", level=1),
                Line("break", level=2),
                Line(f"{n} += 1", level=1),
                Line("else:"),
                Line(f"{w} = np.tanh({w}) * 2.0", level=1)]
    if k == 2 and vecs:            # a, *rest = v
        a = g.pick(vecs)
        h, rest = g.fresh("h"), g.fresh("rest")
        env.drop(w)
        env.arrays[w] = ()
        form = g.pick([f"{h}, *{rest} = {a}", f"*{rest}, {h} = {a}", f"{h}, *{rest} = ({a}[0] * 2.0, {a}[1], {c})"])
        return [Line(form), Line(f"{w} = {h} * {c} + sum({rest}) * {h}")]
    if k == 3:                     # divmod: the quotient is piecewise constant, the remainder is not
        a = g.ex(env, 1, None)
        q, r = g.fresh("q"), g.fresh("r")
        env.drop(w)
        env.arrays[w] = a.shape
        call = g.pick(["divmod", "np.divmod"])
        return [Line(f"{q}, {r} = {call}({a.p} + 2.0, 0.7)",
                     f"{q}, {r} = ({a.i} + 2.0) // 0.7, _mod({a.i} + 2.0, 0.7)"),
                Line(f"{w} = {r} * {r} + {q} * {c}")]
    if k == 4 and vecs:            # max / min of one iterable (the first of ties)
        a = g.pick(vecs)
        b = g.ex(env, 1, ())
        env.drop(w)
        env.arrays[w] = ()
        fn = g.pick(["max", "min"])
        forms = [(f"{fn}({a})", f"{fn}(_items({a}))"),
                 (f"{fn}([{a}[0] * {c}, {b.p}, {a}[-1]])", f"{fn}(_items([{a}[0] * {c}, {b.i}, {a}[-1]]))"),
                 (f"{fn}(v * v for v in {a})", f"{fn}(_items([v * v for v in {a}]))")]
        p, i = g.pick(forms)
        return [Line(f"{w} = {p} * {c}", f"{w} = {i} * {c}")]
    if k == 5 and vecs:            # sorted with a key lambda of the item alone
        a = g.pick(vecs)
        s = g.fresh("srt")
        env.drop(w)
        env.arrays[w] = ()
        key = g.pick(["lambda v: -v", "lambda v: (v - 0.5) ** 2", "abs"])
        return [Line(f"{s} = sorted({a}, key={key})", f"{s} = sorted(_items({a}), key={key})"),
                Line(f"{w} = {s}[0] * {c} + {s}[-1]")]
    if k == 6:                     # a test that computes: any over a generator, :=
        a = g.ex(env, 1, None)
        t = g.fresh("t")
        env.drop(w)
        env.arrays[w] = a.shape
        if g.chance(0.5):
            test = (f"any(v > {c} for v in np.ravel({a.p}))", f"any(_cmp(v, {c}) > {c} for v in np.ravel({a.i}))")
        else:
            test = (f"({t} := np.sum({a.p}) * 0.5) > {c}", f"({t} := _cmp(np.sum({a.i}) * 0.5, {c})) > {c}")
        return [Line(f"{w} = {a.p} * {c}", f"{w} = {a.i} * {c}"), Line(f"if {test[0]}:", f"if {test[1]}:"),
                Line(f"{w} = np.sin({w}) * {w}", level=1)]
    if k == 7:                     # unpacking by the first axis
        mats = [n for n in arrays(env, 1) if env.arrays[n][0] == 2]
        if not mats:
            return None
        a = g.pick(mats)
        u, v = g.fresh("u"), g.fresh("v")
        env.drop(w)
        env.arrays[w] = env.arrays[a][1:]
        if g.chance(0.15):         # a dict unpacks its keys (refused: srcad would index it)
            d = g.fresh("dk")
            return [Line(f"{d} = {{1: {a}[0], 0: {a}[1]}}"), Line(f"{u}, {v} = {d}"),
                    Line(f"{w} = {a}[{u}] * {v} + {a}[{v}] * {c}")]
        return [Line(f"{u}, {v} = {a}"), Line(f"{w} = {u} * {v} + {u} * {c}")]
    if k == 10 and g.chance(0.3):  # a list appended to, then spread into a call (refused where differentiated)
        a, b = g.ex(env, 1, ()), g.ex(env, 1, ())
        P = g.fresh("P")
        env.drop(w)
        env.arrays[w] = ()
        return [Line(f"{P} = []"), Line(f"{P}.append({a.p})", f"{P}.append({a.i})"),
                Line(f"{P}.append({b.p} * {c})", f"{P}.append({b.i} * {c})"),
                Line(f"{w} = np.multiply(*{P}) + np.add(*{P})")]
    if k == 9:                     # an affine map x @ W + b (srcad/patterns.py makes it one call)
        mats = [n for n in arrays(env, 2) if len(env.arrays[n]) == 2]
        if not mats:
            return None
        m = g.pick(mats)
        rows = env.arrays[m][0]
        env.drop(w)
        env.arrays[w] = (rows, rows)
        form = g.pick([f"np.tanh({m} @ {m}.T + {m}[:, 0])", f"np.dot({m}, {m}.T) + {m}[:, 0] * {c}",
                       f"np.tanh({m} @ {m}.T + {m} @ {m}.T + {c})"])
        return [Line(f"{w} = {form}")]
    if k == 8 and g.chance(0.2):   # a list written through a second name: refused
        a = g.ex(env, 1, None)
        L, M = g.fresh("L"), g.fresh("M")
        env.drop(w)
        env.arrays[w] = a.shape
        return [Line(f"{L} = [{a.p} * 1.0, {c}]", f"{L} = [{a.i} * 1.0, {c}]"), Line(f"{M} = {L}"),
                Line(f"{M}[0] = {a.p} * {c}", f"{M}[0] = {a.i} * {c}"), Line(f"{w} = {L}[0] * 2.0")]
    return None


PRODUCTIONS = [
    ("base", 4, p_assign),
    ("scalar_loops", 1.5, p_scalar_loop),
    ("cheap_write", 1, p_cheap_then_write),
    ("shapes", 1, p_loop_overwrite),
    ("control", 1, p_control),
    ("complex", 1, p_complex),
    ("values", 1.5, p_values),
    ("dtypes", 1.5, p_dtypes),
    ("objects", 1.5, p_objects),
    ("idioms", 1.5, p_idioms),
    ("base", 2, p_aug),
    ("base", 1.5, p_block_if),
    ("base", 1, p_block_for),
    ("rebind_subscript", 1, p_rebind_subscript),
    ("shared_adjoint", 1, p_shared_adjoint),
    ("view_inplace", 1, p_view_inplace),
    ("broadcast_write", 1, p_broadcast_write),
    ("mod", 0.7, p_mod),
    ("containers", 0.7, p_containers),
    ("kwargs", 0.5, p_kwargs),
    ("iteration", 0.5, p_iteration),
    ("modules", 0.3, p_modules),
    ("saves", 0.3, p_saves),
    ("python", 0.5, p_python),
]

# argument shapes, many of them broadcasting pairs
SHAPE_PAIRS = [((), ()), ((3,), ()), ((), (4,)), ((3,), (3,)), ((2, 3), (3,)), ((3, 1), (1, 4)),
               ((2, 3), ()), ((4,), (2, 4)), ((2, 3), (2, 3)), ((3, 1), (3,)), ((1,), (3,)),
               ((2, 1), (2, 2))]


# ------------------------------------------------------------------------------------------------

INSTR_PRELUDE = '''import numpy as np
_REC = []


def _dist(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    _REC.append((a - b, np.abs(a - b)))


def _cmp(a, b):
    _dist(a, b)
    return a


def _gt(a, b):
    _dist(a, b)
    return a > b


def _max(a, b):
    _dist(a, b)
    return np.maximum(a, b)


def _abs(a):
    _dist(a, 0.0)
    return abs(a)


def _moddist(a, c):
    q = np.asarray(a, dtype=float) / np.asarray(c, dtype=float)
    _REC.append((q, np.abs(q - np.round(q)) * np.abs(c)))


def _mod(a, c):
    _moddist(a, c)
    return a % c


def _tr(a):
    _moddist(a, 1.0)
    return a


def _fmod(a, c):
    _moddist(a, c)
    return np.fmod(a, c)


def _items(seq):
    """The items of ``seq`` (for max, min, sorted), their distances recorded: a tie is a kink."""
    vals = [np.asarray(v, dtype=float) for v in seq]
    for x in range(len(vals)):
        for y in range(x + 1, len(vals)):
            _dist(vals[x], vals[y])
    return seq

'''


class Program:
    def __init__(self, seed, focus, parts, modules, shapes, stats):
        self.seed, self.focus = seed, focus
        self.parts = parts
        self.source, self.instr_source = render(parts, False), render(parts, True)
        self.modules = modules
        self.shapes = shapes
        self.stats = stats
        self._f = None
        self._instr = None

    def __repr__(self):
        return f"Program(seed={self.seed}, focus={self.focus}, shapes={self.shapes}):\n{self.full_source()}"

    def smaller(self):
        """Programs with one statement (with its block) or one return term left out."""
        header, helpers, body, terms = self.parts
        for k, ln in enumerate(body):
            end = k + 1
            while end < len(body) and body[end].level > ln.level:
                end += 1
            yield Program(self.seed, self.focus, (header, helpers, body[:k] + body[end:], terms),
                          self.modules, self.shapes, self.stats)
        if len(terms) > 1:
            for k in range(len(terms)):
                yield Program(self.seed, self.focus, (header, helpers, body, terms[:k] + terms[k + 1:]),
                              self.modules, self.shapes, self.stats)

    def full_source(self):
        parts = [f"# ---- {name}.py\n{src}" for name, src in self.modules]
        return "\n".join(parts + [self.source])

    @property
    def f(self):
        if self._f is None:
            d = _dir()
            for name, src in self.modules:
                with open(os.path.join(d, name + ".py"), "w") as fh:
                    fh.write(src)
            name = f"fuzzprog_{os.getpid()}_{next(_counter)}"
            path = os.path.join(d, name + ".py")
            with open(path, "w") as fh:
                fh.write(self.source)
            importlib.invalidate_caches()
            spec = importlib.util.spec_from_file_location(name, path)
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
            self._f = mod.f
        return self._f

    def margins(self, x, y):
        """(value, smallest distance of a comparison, mask, kink or discontinuity that depends
        on the arguments from its switch point) of a plain run at (x, y).

        The instrumented function runs twice, at (x, y) and at a point moved by about 1e-5: a
        recorded quantity that does not move is constant near the point (``np.maximum(v, v)``,
        ``np.zeros(3) % 2.0``, a comparison of constants) and has no switch to keep away from.
        """
        self.f  # noqa: B018 (writes the helper modules)
        if self._instr is None:
            self._instr = {}
            exec(compile(self.instr_source, "<instrumented>", "exec"), self._instr)
        rec = self._instr["_REC"]
        rec.clear()
        value = self._instr["f"](_copy(x), _copy(y))
        first = list(rec)
        rec.clear()
        rng = np.random.default_rng(self.seed % (2 ** 32))
        moved = [a + 1e-5 * rng.normal(size=np.shape(a)) if isinstance(a, np.ndarray)
                 else a + 1e-5 * rng.normal() for a in (x, y)]
        self._instr["f"](*moved)
        if len(rec) != len(first):
            return value, 0.0
        margin = np.inf
        for (k1, d1), (k2, _) in zip(first, rec):
            if np.shape(k1) != np.shape(k2):
                return value, 0.0
            live = np.asarray(k1 != k2)
            if live.any():
                margin = min(margin, float(np.min(np.asarray(d1)[live])))
        return value, margin


def _copy(a):
    return a.copy() if isinstance(a, np.ndarray) else a


def generate(seed, focus=None, max_stmts=8):
    r = random.Random(seed)
    if focus is None:
        focus = RANDOM_FOCUS[r.randrange(len(RANDOM_FOCUS))]
    g = Gen(r, focus)
    env = Env()
    sx, sy = g.pick(SHAPE_PAIRS)
    if g.chance(0.5):
        sx, sy = sy, sx
    env.arrays["x"], env.arrays["y"] = sx, sy
    body = g.block(env, 0, r.randint(2, max_stmts))
    # the return reads every variable still known, and both arguments (which may have been
    # written through a view), each with its own weight so that no adjoint can hide
    terms = []
    for n, s in env.arrays.items():
        terms.append(return_term(g, n))
    for n, shapes in list(env.lists.items()) + list(env.tuples.items()):
        for j in range(len(shapes)):
            terms.append(return_term(g, f"{n}[{j}]"))
    for n, d in env.dicts.items():
        for key in d:
            terms.append(return_term(g, f"{n}[{key!r}]"))
    header = ["import numpy as np"] + [imp for _, imp in g.imports]
    helpers = [src for _, src in sorted(g.helpers.items())]
    return Program(seed, focus, (header, helpers, body, terms), list(g.modules), (sx, sy),
                   g.stats)


def render(parts, instr):
    header, helpers, body, terms = parts
    out = ["    " * (ln.level + 1) + (ln.i if instr else ln.p) for ln in body]
    out.append("    return " + " + ".join(terms))
    text = "\n\n\n".join(helpers + ["def f(x, y):\n" + "\n".join(out) + "\n"])
    if instr:
        return INSTR_PRELUDE + "\n".join(header[1:]) + "\n\n\n" + text
    return "\n".join(header) + "\n\n\n" + text


def return_term(g, n):
    c = g.pick(CONSTS)
    return g.pick([f"np.sum(np.sin({n}) * {c})", f"np.sum({n} * {n}) * {c}",
                   f"np.sum(np.tanh({n} * {c}))"])


def random_args(prog, rng):
    return tuple(float(rng.normal()) if s == () else rng.normal(size=s) for s in prog.shapes)


# ------------------------------------------------------------------------------------------------
# checking one program

RTOL = 1e-4


class Result:
    def __init__(self, prog):
        self.prog = prog
        self.refused = None            # the TransformError's message (first order)
        self.refused_construct = None
        self.second_order_refused = None
        self.rr_refused = None         # reverse over reverse refused (counted, not failed)
        self.points = 0                # points where everything was compared
        self.unusable = 0              # points rejected (margin, overflow, unconverged differences)
        self.failures = []             # [(kind, message)]

    @property
    def status(self):
        if self.failures:
            return "disagree"
        if self.refused:
            return "refused"
        return "checked" if self.points else "no point"


def _same(a, b):
    return np.shape(a) == np.shape(b) and np.array_equal(np.asarray(a), np.asarray(b))


def _close(a, b, scale, rtol=RTOL):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=1e-6 * scale))


def _fmt(v):
    return np.array2string(np.asarray(v, dtype=float), precision=8, separator=", ")


def usable(prog, args):
    try:
        with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
            value, margin = prog.margins(*args)
    except (FloatingPointError, OverflowError, ZeroDivisionError):
        return False
    value = np.asarray(value, dtype=float)
    return (margin > MARGIN and value.shape == () and bool(np.isfinite(value))
            and abs(float(value)) < 1e6)


def _perturbed(args, k, j, delta):
    out = [_copy(a) for a in args]
    if np.ndim(out[k]) == 0:
        out[k] = float(out[k]) + delta
    else:
        out[k].flat[j] += delta
    return out


def numeric_grad(fun, args, k, eps):
    """Central differences of the scalar ``fun(*args)`` w.r.t. argument ``k`` (on copies)."""
    a = args[k]
    g = np.zeros(np.shape(a))
    for j in range(max(1, np.size(a))):
        hi = fun(*_perturbed(args, k, j, eps))
        lo = fun(*_perturbed(args, k, j, -eps))
        d = (np.asarray(hi, dtype=float) - np.asarray(lo, dtype=float)) / (2 * eps)
        if g.ndim == 0:
            g = d
        else:
            g.flat[j] = d
    return float(g) if np.ndim(a) == 0 else g


def _along(args, tangents, eps):
    return [a + eps * t if isinstance(a, np.ndarray) else float(a) + eps * t
            for a, t in zip(args, tangents)]


def check(prog, n_points=2, tries=30, hvp=True):
    """Run every check on up to ``n_points`` usable points of ``prog``; a ``Result``."""
    import srcad
    res = Result(prog)
    f = prog.f

    def plain(*a):
        return f(*[_copy(v) for v in a])

    rng = np.random.default_rng(prog.seed % (2 ** 32) + 7)
    for _ in range(tries):
        if res.points >= n_points or res.failures or res.refused:
            break
        args = random_args(prog, rng)
        if not usable(prog, args):
            res.unusable += 1
            continue
        where = f"at x={_fmt(args[0])}, y={_fmt(args[1])}"
        try:
            ok = _check_point(srcad, prog, plain, args, res, where, hvp)
        except srcad.TransformError as e:
            res.refused = str(e)
            res.refused_construct = getattr(e, "construct", None) or "?"
            break
        except Exception as e:  # noqa: BLE001 - srcad crashing on a valid program is a finding
            res.failures.append(("crash", f"{type(e).__name__}: {e} {where}"))
            break
        if ok:
            res.points += 1
        else:
            res.unusable += 1
    return res


def _check_point(srcad, prog, plain, args, res, where, hvp):
    f = prog.f
    expect = plain(*args)
    scale0 = 1.0 + abs(float(expect))

    def call(fn, *extra):
        copies = [_copy(a) for a in args]
        out = fn(*copies, *extra)
        for k, (a, c) in enumerate(zip(args, copies)):
            if not _same(a, c):
                res.failures.append(("mutation", f"{fn!r} changed argument {k} {where}"))
        return out

    g01 = call(srcad.grad(f, wrt=(0, 1)))
    g0 = call(srcad.grad(f, wrt=0))
    g1 = call(srcad.grad(f, wrt=1))
    value, gv = call(srcad.value_and_grad(f, wrt=(0, 1)))
    if np.iscomplexobj(value) or not np.allclose(value, expect, rtol=1e-10, atol=1e-10):
        res.failures.append(("value", f"value_and_grad value {value!r}, plain f {expect!r} {where}"))
    nums = [numeric_grad(plain, args, k, 1e-6) for k in (0, 1)]
    scale = scale0 + max(float(np.max(np.abs(n), initial=0)) for n in nums)
    if not all(_close(g01[k], nums[k], scale) for k in (0, 1)):
        # finite differences are a reference only where they have converged
        nums2 = [numeric_grad(plain, args, k, 1e-7) for k in (0, 1)]
        if not all(_close(nums[k], nums2[k], scale, 1e-3) for k in (0, 1)):
            return False
    for k in (0, 1):
        for label, got in ((f"grad wrt=(0, 1)[{k}]", g01[k]), (f"grad wrt={k}", (g0, g1)[k]),
                           (f"value_and_grad[{k}]", gv[k])):
            if np.iscomplexobj(got):
                res.failures.append(("dtype", f"{label} is complex: {got!r} {where}"))
            elif np.shape(got) != np.shape(args[k]):
                res.failures.append(("shape", f"{label} has shape {np.shape(got)}, argument "
                                              f"{np.shape(args[k])} {where}"))
            elif not _close(got, nums[k], scale):
                res.failures.append(("grad", f"{label}: srcad {_fmt(got)}, numeric {_fmt(nums[k])} {where}"))
    if res.failures:
        return True
    # forward mode
    trng = np.random.default_rng(zlib.crc32(prog.source.encode()))   # not hash(): salted
    tang = [float(trng.normal()) if np.ndim(a) == 0 else trng.normal(size=np.shape(a)) for a in args]
    fvalue, tangent = srcad.jvp(f, tuple(_copy(a) for a in args), tuple(tang))
    eps = 1e-6
    num = (plain(*_along(args, tang, eps)) - plain(*_along(args, tang, -eps))) / (2 * eps)
    if not np.allclose(fvalue, expect, rtol=1e-10, atol=1e-10):
        res.failures.append(("jvp value", f"jvp value {fvalue!r}, plain f {expect!r} {where}"))
    if not _close(tangent, num, scale0 + abs(float(num))):
        eps2 = 1e-7
        num2 = (plain(*_along(args, tang, eps2)) - plain(*_along(args, tang, -eps2))) / (2 * eps2)
        if not _close(num, num2, scale0 + abs(float(num)), 1e-3):
            return False        # the differences have not converged: no reference here
        res.failures.append(("jvp", f"jvp tangent {float(tangent)!r}, numeric {float(num)!r} "
                                    f"(tangents {_fmt(tang[0])}, {_fmt(tang[1])}) {where}"))
    if res.failures or not hvp:
        return True
    # second order: forward over reverse against differences of the gradient
    G = srcad.grad(f, wrt=(0, 1))
    try:
        _, hv = srcad.jvp(G, tuple(_copy(a) for a in args), tuple(tang))
    except srcad.TransformError as e:
        res.second_order_refused = str(e)
        return True
    # and reverse over reverse: the pullback of the gradient along the same tangents (H is symmetric)
    try:
        _, pull = srcad.vjp(G, wrt=(0, 1))(*[_copy(a) for a in args])
        rr = pull(tuple(np.asarray(t_, dtype=np.float64) if np.ndim(a) else float(t_)
                        for t_, a in zip(tang, args)))
    except srcad.TransformError as e:
        rr = None
        res.rr_refused = str(e)
    eps = 1e-5
    hi = G(*_along(args, tang, eps))
    lo = G(*_along(args, tang, -eps))
    for k in (0, 1):
        num = (np.asarray(hi[k]) - np.asarray(lo[k])) / (2 * eps)
        s = 1.0 + float(np.max(np.abs(num), initial=0)) + float(np.max(np.abs(g01[k]), initial=0))
        if rr is not None and not _close(rr[k], num, s, 1e-3):
            eps2 = 1e-6
            num2 = (np.asarray(G(*_along(args, tang, eps2))[k]) - np.asarray(G(*_along(args, tang, -eps2))[k])) / (2 * eps2)
            if _close(num, num2, s, 1e-2) and not _close(rr[k], num2, s, 1e-3):
                res.failures.append(("reverse over reverse", f"vjp of the gradient [{k}]: srcad {_fmt(rr[k])}, "
                                     f"differences of grad {_fmt(num)} (tangents {_fmt(tang[0])}, "
                                     f"{_fmt(tang[1])}) {where}"))
        if np.shape(hv[k]) != np.shape(args[k]):
            res.failures.append(("hvp shape", f"Hessian-vector product [{k}] has shape "
                                              f"{np.shape(hv[k])}, argument {np.shape(args[k])} {where}"))
        elif not _close(hv[k], num, s, 1e-3):
            eps2 = 1e-6
            hi2, lo2 = G(*_along(args, tang, eps2)), G(*_along(args, tang, -eps2))
            num2 = (np.asarray(hi2[k]) - np.asarray(lo2[k])) / (2 * eps2)
            if not _close(num, num2, s, 1e-2):
                continue        # the differences of the gradient have not converged
            if _close(hv[k], num2, s, 1e-3):
                continue        # agrees with the finer differences (a steep program: the 1e-5
                                # step's truncation error is larger than the tolerance)
            res.failures.append(("hvp", f"Hessian-vector product [{k}]: srcad {_fmt(hv[k])}, "
                                        f"differences of grad {_fmt(num)} (tangents {_fmt(tang[0])}, "
                                        f"{_fmt(tang[1])}) {where}"))
    return True


def fails_with(prog, kind, hvp=True):
    try:
        res = check(prog, hvp=hvp)
    except Exception:  # noqa: BLE001 - a smaller program that no longer runs
        return False
    return any(k == kind for k, _ in res.failures)


def minimize(prog, kind, budget=200):
    """Leave out statements and return terms while the program still fails with ``kind``."""
    hvp = kind == "hvp"
    tries = 0
    progress = True
    while progress and tries < budget:
        progress = False
        for cand in prog.smaller():
            tries += 1
            if fails_with(cand, kind, hvp):
                prog = cand
                progress = True
                break
            if tries >= budget:
                break
    return prog
