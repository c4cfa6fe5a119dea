"""A generator of random differentiable programs, for hunting silently wrong gradients.

``programs()`` is a hypothesis strategy giving a ``Program``: the source of a module defining
``f(x, t)`` (``x`` a float vector of length ``N``, ``t`` a float) and 0-2 helper functions that
``f`` calls. The grammar (everything srcad claims to support):

* arithmetic ``+ - * /`` (divisors kept away from zero: ``a / (b * b + 1.0)``), ``**`` with
  exponents 2, 3, and ``(a * a + 0.5) ** np.tanh(b)`` (positive base, data exponent), unary ``-``,
  ``abs``, conditional expressions ``a if c else b``;
* NumPy calls from the rule tables: sin, cos, tanh, exp (of bounded values), log and sqrt (of
  positive values), maximum, sum, mean, dot, linalg.norm, ``.sum()``, ``.mean()``, ``v[::-1]``,
  ``np.sum(v[a:b])``;
* temporaries defined once at the top and then reused and overwritten (plain and augmented
  assignment ``+= -= *=``);
* ``if``/``elif``/``else`` on data, ``and``/``or`` in tests;
* ``for i in range(k)`` and ``while <data test> and n < K`` loops (data-dependent trip counts,
  always bounded), ``break``/``continue``, early ``return`` (also from inside loops);
* subscript reads ``x[i]``, ``v[j]`` and writes ``v[i] = ...``, ``v[i] += ...`` (also into the
  input ``x``, which srcad must not mutate);
* calls to generated helper functions ``h_k(vector, scalar)`` that have their own control flow.

Each program comes in two renderings of the same tree: the plain source that srcad differentiates,
and an instrumented one in which every comparison and every kink (``maximum``, ``abs``, ``norm``)
records its distance to the switch point. A point is only used to compare with finite
differences when every recorded margin is large, so a finite-difference step never crosses a
branch boundary. Size (from ``python tests/programs.py``, 200 programs): see docs/reliability.md.
"""

import collections
import importlib.util
import itertools
import os
import sys
import tempfile

import numpy as np
from hypothesis import strategies as st

N = 4                       # length of the vector argument x
CONSTS = ["0.5", "1.5", "-0.7", "2.0", "0.25", "-1.2"]
_counter = itertools.count()
_tmpdir = None


def _dir():
    global _tmpdir
    if _tmpdir is None:
        _tmpdir = tempfile.mkdtemp(prefix="srcad_programs_")
    return _tmpdir


class Program:
    def __init__(self, source, instr_source, wrt, stats):
        self.source = source
        self.instr_source = instr_source
        self.wrt = wrt
        self.stats = stats
        self._module = None
        self._instr = None

    def __repr__(self):
        return f"Program(wrt={self.wrt!r}):\n{self.source}"

    @property
    def f(self):
        """``f`` imported from a real file, so that srcad can read its source."""
        if self._module is None:
            name = f"srcad_random_program_{os.getpid()}_{next(_counter)}"
            path = os.path.join(_dir(), name + ".py")
            with open(path, "w") as fh:
                fh.write(self.source)
            spec = importlib.util.spec_from_file_location(name, path)
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
            self._module = mod
        return self._module.f

    def margins(self, x, t):
        """(value, smallest distance to a branch switch or kink) of a plain run at (x, t)."""
        if self._instr is None:
            self._instr = {"np": np}
            exec(compile(self.instr_source, "<instrumented>", "exec"), self._instr)
        rec = self._instr["_REC"]
        rec.clear()
        value = self._instr["f"](np.array(x, dtype=float), float(t))
        return value, (min(rec) if rec else np.inf)


INSTR_PRELUDE = '''
import numpy as np
_REC = []


def _cmp(a, b):
    _REC.append(float(np.min(np.abs(np.asarray(a, dtype=float) - np.asarray(b, dtype=float)))))
    return a


def _max(a, b):
    _REC.append(float(np.min(np.abs(np.asarray(a, dtype=float) - np.asarray(b, dtype=float)))))
    return np.maximum(a, b)


def _abs(a):
    _REC.append(float(np.min(np.abs(a))))
    return abs(a)


def _norm(a):
    n = np.linalg.norm(a)
    _REC.append(float(n))
    return n

'''


class _Gen:
    """Builds one program from hypothesis draws. Expressions and statements are closures
    ``render(instr) -> str`` / ``render(instr, indent) -> [lines]`` so that one tree gives both
    the plain and the instrumented source."""

    def __init__(self, draw, helpers, max_depth=2):
        self.draw = draw
        self.helpers = helpers          # [(name, returns 'v' or 's')]
        self.max_depth = max_depth
        self.stats = collections.Counter()
        self.loop_counter = itertools.count(1)

    def i(self, lo, hi):
        return self.draw(st.integers(lo, hi))

    def pick(self, seq):
        return seq[self.i(0, len(seq) - 1)]

    # ---------------------------------------------------------------- expressions
    def scalar(self, env, depth=0):
        leaves = self.i(0, 9) if depth >= 2 else self.i(0, 24)
        if leaves <= 3:
            name = self.pick(env.svars + [env.t]) if leaves <= 2 else self.pick(CONSTS)
            return lambda I: name
        if leaves == 4:
            idx = self.index(env)
            self.stats["subscript read"] += 1
            xn = env.x
            return lambda I: f"{xn}[{idx}]"
        if leaves == 5:
            v = self.pick(env.vvars + [env.x])
            idx = self.index(env)
            self.stats["subscript read"] += 1
            return lambda I: f"{v}[{idx}]"
        if leaves in (6, 7):
            a = self.vector(env, depth + 1)
            fn = self.pick(["np.sum({})", "np.mean({})", "({}).sum()", "({}).mean()"])
            self.stats["reduction"] += 1
            return lambda I: fn.format(a(I))
        if leaves == 8:
            a, b = self.vector(env, depth + 1), self.vector(env, depth + 1)
            self.stats["np.dot"] += 1
            return lambda I: f"np.dot({a(I)}, {b(I)})"
        if leaves == 9:
            a = self.vector(env, depth + 1)
            self.stats["np.linalg.norm"] += 1
            return lambda I: (f"_norm({a(I)})" if I else f"np.linalg.norm({a(I)})")
        if leaves == 10:
            v = self.pick(env.vvars + [env.x])
            lo = self.i(0, N - 2)
            hi = self.i(lo + 1, N)
            self.stats["slice"] += 1
            return lambda I: f"np.sum({v}[{lo}:{hi}])"
        if leaves <= 14:
            a, b = self.scalar(env, depth + 1), self.scalar(env, depth + 1)
            return self.binary(a, b)
        if leaves <= 19:
            return self.unary(self.scalar(env, depth + 1))
        if leaves == 20:
            a, b = self.scalar(env, depth + 1), self.scalar(env, depth + 1)
            self.stats["np.maximum"] += 1
            return lambda I: (f"_max({a(I)}, {b(I)})" if I else f"np.maximum({a(I)}, {b(I)})")
        if leaves == 21:
            a, b = self.scalar(env, depth + 1), self.scalar(env, depth + 1)
            c = self.test(env, depth + 1)
            self.stats["conditional expression"] += 1
            return lambda I: f"({a(I)} if {c(I)} else {b(I)})"
        if leaves == 22:
            a, b = self.scalar(env, depth + 1), self.scalar(env, depth + 1)
            self.stats["power with data exponent"] += 1
            return lambda I: f"({a(I)} * {a(I)} + 0.5) ** np.tanh({b(I)})"
        hs = [h for h, kind in self.helpers if kind == "s"]
        if hs:
            return self.call(self.pick(hs), env, depth)
        return self.unary(self.scalar(env, depth + 1))

    def vector(self, env, depth=0):
        leaves = self.i(0, 4) if depth >= 2 else self.i(0, 15)
        if leaves <= 3:
            name = self.pick(env.vvars + [env.x])
            return lambda I: name
        if leaves == 4:
            v = self.pick(env.vvars + [env.x])
            self.stats["slice"] += 1
            return lambda I: f"{v}[::-1]"
        if leaves <= 7:
            a = self.vector(env, depth + 1)
            b = self.vector(env, depth + 1) if leaves != 7 else self.scalar(env, depth + 1)
            if self.i(0, 1):
                a, b = b, a
            return self.binary(a, b)
        if leaves <= 11:
            return self.unary(self.vector(env, depth + 1))
        if leaves == 12:
            a = self.vector(env, depth + 1)
            b = self.vector(env, depth + 1) if self.i(0, 1) else self.scalar(env, depth + 1)
            self.stats["np.maximum"] += 1
            return lambda I: (f"_max({a(I)}, {b(I)})" if I else f"np.maximum({a(I)}, {b(I)})")
        hs = [h for h, kind in self.helpers if kind == "v"]
        if hs:
            return self.call(self.pick(hs), env, depth)
        return self.unary(self.vector(env, depth + 1))

    def call(self, name, env, depth):
        a, b = self.vector(env, depth + 1), self.scalar(env, depth + 1)
        self.stats["helper call"] += 1
        return lambda I: f"{name}({a(I)}, {b(I)})"

    def binary(self, a, b):
        op = self.pick(["+", "-", "*", "/"])
        self.stats[f"operator {op}"] += 1
        if op == "/":
            return lambda I: f"({a(I)} / ({b(I)} * {b(I)} + 1.0))"
        return lambda I: f"({a(I)} {op} {b(I)})"

    def unary(self, a):
        k = self.pick(["np.sin", "np.cos", "np.tanh", "exp", "log", "sqrt", "**2", "**3", "neg",
                       "abs"])
        self.stats[k] += 1
        if k == "exp":
            return lambda I: f"np.exp(np.tanh({a(I)}))"
        if k == "log":
            return lambda I: f"np.log({a(I)} * {a(I)} + 1.0)"
        if k == "sqrt":
            return lambda I: f"np.sqrt({a(I)} * {a(I)} + 0.5)"
        if k.startswith("**"):
            return lambda I: f"({a(I)}) {k}"
        if k == "neg":
            return lambda I: f"(-{a(I)})"
        if k == "abs":
            return lambda I: (f"_abs({a(I)})" if I else f"abs({a(I)})")
        return lambda I: f"{k}({a(I)})"

    def bounded_scalar(self, env, depth=1):
        a = self.scalar(env, depth)
        return lambda I: f"np.tanh({a(I)})"

    def index(self, env):
        if env.loop_index and self.i(0, 2):
            i = self.pick(env.loop_index)
            return self.pick([i, f"{i} - 1"])
        return str(self.i(-N, N - 1))

    def test(self, env, depth=0):
        a = self.scalar(env, depth + 1)
        if self.i(0, 2):
            const = self.pick(CONSTS)
            b = lambda I: const  # noqa: E731
        else:
            b = self.scalar(env, depth + 1)
        op = self.pick(["<", ">", "<=", ">="])
        self.stats["comparison"] += 1
        one = lambda I: (f"_cmp({a(I)}, {b(I)}) {op} {b(I)}" if I else f"{a(I)} {op} {b(I)}")  # noqa: E731
        if depth == 0 and self.i(0, 5) == 0:
            other = self.test(env, depth + 1)
            bop = self.pick(["and", "or"])
            self.stats[f"boolean {bop}"] += 1
            return lambda I: f"({one(I)}) {bop} ({other(I)})"
        return one

    # ---------------------------------------------------------------- statements
    def block(self, env, depth, lo=1, hi=4):
        out = [self.statement(env, depth) for _ in range(self.i(lo, hi))]
        return lambda I, ind: [line for s in out for line in s(I, ind)]

    def statement(self, env, depth):
        kinds = ["assign s", "assign v", "assign s", "assign v", "aug", "setitem"]
        if depth < self.max_depth:
            kinds += ["if", "if", "for", "while"]
        if env.in_loop:
            kinds += ["break", "continue"]
        kinds += ["return"]
        k = self.pick(kinds)
        self.stats[k] += 1
        self.stats["statements"] += 1
        if k == "assign s":
            var, e = self.pick(env.svars), self.scalar(env)
            return lambda I, ind: [f"{ind}{var} = {_fresh(e(I))}"]
        if k == "assign v":
            var, e = self.pick(env.vvars), self.vector(env)
            # never a bare alias (a later v[i] = ... would then write into another array)
            return lambda I, ind: [f"{ind}{var} = {e(I)} * 1.0"]
        if k == "aug":
            if self.i(0, 1):
                var, op = self.pick(env.svars), self.pick(["+=", "-=", "*="])
                e = self.bounded_scalar(env) if op == "*=" else self.scalar(env)
            else:
                var, op = self.pick(env.vvars), self.pick(["+=", "-=", "*="])
                if op == "*=":
                    inner = self.vector(env, 1)
                    e = lambda I: f"np.tanh({inner(I)})"  # noqa: E731
                else:
                    e = self.vector(env, 1) if self.i(0, 1) else self.scalar(env)
            return lambda I, ind: [f"{ind}{var} {op} {e(I)}"]
        if k == "setitem":
            # a helper writing into its parameter is refused (the caller's array would change):
            # only f writes into its input x
            var = self.pick(env.vvars) if self.i(0, 5) or env.x != "x" else env.x
            idx = self.index(env)
            op = self.pick(["=", "+="])
            e = self.scalar(env)
            return lambda I, ind: [f"{ind}{var}[{idx}] {op} {e(I)}"]
        if k == "if":
            c = self.test(env)
            body = self.block(env, depth + 1)
            elifs = [(self.test(env), self.block(env, depth + 1)) for _ in range(self.i(0, 1))]
            orelse = self.block(env, depth + 1) if self.i(0, 1) else None
            if elifs:
                self.stats["elif"] += 1

            def render(I, ind):
                lines = [f"{ind}if {c(I)}:"] + body(I, ind + "    ")
                for ec, eb in elifs:
                    lines += [f"{ind}elif {ec(I)}:"] + eb(I, ind + "    ")
                if orelse is not None:
                    lines += [f"{ind}else:"] + orelse(I, ind + "    ")
                return lines
            return render
        if k == "for":
            i = f"i{next(self.loop_counter)}"
            n = self.i(1, N)
            inner = env.child(loop_index=env.loop_index + [i])
            body = self.block(inner, depth + 1)
            return lambda I, ind: [f"{ind}for {i} in range({n}):"] + body(I, ind + "    ")
        if k == "while":
            n = f"n{next(self.loop_counter)}"
            c = self.test(env)
            limit = self.i(1, 5)
            body = self.block(env.child(), depth + 1)
            return lambda I, ind: ([f"{ind}{n} = 0", f"{ind}while ({c(I)}) and {n} < {limit}:",
                                    f"{ind}    {n} = {n} + 1"] + body(I, ind + "    "))
        if k in ("break", "continue"):
            c = self.test(env)
            return lambda I, ind: [f"{ind}if {c(I)}:", f"{ind}    {k}"]
        # early return, guarded so that the rest of the block stays reachable
        c = self.test(env)
        e = env.returns(self)
        return lambda I, ind: [f"{ind}if {c(I)}:", f"{ind}    return {e(I)}"]


def _fresh(text):
    """A bare name would alias: srcad (rightly) refuses a later ``s += ...`` on an alias, because
    for a 0-d array that would write into the other variable's array."""
    return f"{text} * 1.0" if text.isidentifier() else text


class _Env:
    def __init__(self, svars, vvars, ret_kind, loop_index=(), in_loop=False, x="x", t="t"):
        self.x, self.t = x, t
        self.svars = list(svars)
        self.vvars = list(vvars)
        self.ret_kind = ret_kind
        self.loop_index = list(loop_index)
        self.in_loop = in_loop

    def child(self, loop_index=None):
        return _Env(self.svars, self.vvars, self.ret_kind,
                    self.loop_index if loop_index is None else loop_index, True, self.x, self.t)

    def returns(self, gen):
        kind = self.ret_kind if self.ret_kind != "any" else gen.pick(["s", "v"])
        return gen.scalar(self) if kind == "s" else gen.vector(self)


def _function(gen, name, params, svars, vvars, ret_kind, n_stmts, init):
    x, t = params.split(", ")
    env = _Env(svars, vvars, ret_kind, x=x, t=t)
    inits = [init(gen, env, v) for v in svars + vvars]
    body = gen.block(env, 0, *n_stmts)
    ret = env.returns(gen)

    def render(I):
        lines = [f"def {name}({params}):"]
        for var, e in inits:
            lines.append(f"    {var} = {e(I)}")
        lines += body(I, "    ")
        lines.append(f"    return {ret(I)}")
        return "\n".join(lines) + "\n"
    return render


def _init_main(gen, env, var):
    if var.startswith("s"):
        base = _Env([], [], "s", x=env.x, t=env.t)
        e = gen.scalar(base, 1)
        return var, (lambda I: _fresh(e(I)))
    if gen.i(0, 3) == 0:
        return var, (lambda I: "np.zeros(4)")
    base = _Env([], [], "v", x=env.x, t=env.t)
    e = gen.vector(base, 1)
    return var, (lambda I: f"{e(I)} * 1.0")


@st.composite
def programs(draw, helpers=True, max_stmts=6, max_depth=2):
    """A random ``Program`` (see the module docstring)."""
    gen = _Gen(draw, [], max_depth)
    renders = []
    n_helpers = draw(st.integers(0, 2)) if helpers else 0
    for k in range(n_helpers):
        name = f"h_{k + 1}"
        kind = draw(st.sampled_from(["s", "v"]))
        hgen_env_vars = (["s1"], ["v1"])

        def init(g, env, var, name=name):
            if var == "s1":
                return var, (lambda I: "b * 1.0")
            return var, (lambda I: "a * 1.0")
        # helpers see their own parameters a (vector) and b (scalar) in place of x and t
        render = _function(gen, name, "a, b", *hgen_env_vars, kind, (1, 3), init)
        renders.append(render)
        gen.helpers.append((name, kind))
        gen.stats["helper function"] += 1
    n_s, n_v = draw(st.integers(1, 3)), draw(st.integers(1, 2))
    svars = [f"s{k + 1}" for k in range(n_s)]
    vvars = [f"v{k + 1}" for k in range(n_v)]
    renders.append(_function(gen, "f", "x, t", svars, vvars, "any", (1, max_stmts), _init_main))
    wrt = draw(st.sampled_from([0, 0, 1, (0, 1)]))
    plain = "import numpy as np\n\n\n" + "\n\n".join(r(False) for r in renders)
    instr = INSTR_PRELUDE + "\n\n".join(r(True) for r in renders)
    return Program(plain, instr, wrt, gen.stats)


def main(n=200):
    """Print the generator's size over ``n`` programs: statements per program, constructs used."""
    import warnings
    from hypothesis import HealthCheck, given, settings
    from hypothesis.errors import NonInteractiveExampleWarning
    warnings.simplefilter("ignore", NonInteractiveExampleWarning)
    total = collections.Counter()
    sizes, lines = [], []

    @settings(max_examples=n, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(programs())
    def collect(p):
        total.update(p.stats)
        sizes.append(p.stats["statements"])
        lines.append(p.source.count("\n"))
    collect()
    print(f"{len(sizes)} programs; statements per program (excluding the initialisations): "
          f"mean {np.mean(sizes):.1f}, max {max(sizes)}; source lines: mean {np.mean(lines):.1f}, "
          f"max {max(lines)}")
    for k, v in sorted(total.items(), key=lambda kv: -kv[1]):
        print(f"  {k}: {v}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
