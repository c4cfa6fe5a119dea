"""Guards: what a generated derivative assumed about the world when it was generated.

A derivative is generated from the code objects of a function and of the helpers it inlines, and
from what the names in them resolved to (``act`` was ``np.tanh``, ``lib.inner`` was that function).
While a transformation runs, every resolution it relies on is recorded here (``note``); the
recorded facts are compiled into one small function ``guard(fn)`` that checks them all with ``is``
comparisons. The caches (pipeline, forward) run the guard before reusing a derivative and generate
a new variant when it fails, as a JIT does: a global rebound from ``np.tanh`` to ``np.sin``, a
helper redefined by a notebook re-run or a module reload, a closure cell holding another function,
``f.__code__`` replaced in place (IPython's autoreload) all lead to a new derivative.

Values the generated code reads live (a global float, an array in a closure cell) are not guarded
by identity: the derivative reads them when it runs, like the user's function does. Where
generation used their type (a float attribute counted as a scalar), their type is guarded.

A fact is ``(location, how, expected)``; a location is one of

* ``("item", d, key)``: ``d[key]`` (a module's globals, the builtins);
* ``("absent", d, key)``: ``key not in d`` (a name that fell through to the builtins);
* ``("cell", cell)``: ``cell.cell_contents``;
* ``("len", seq)``: ``len(seq)`` of a list read by index (``M.layers[0]``);
* ``("attr", obj, name)``: ``obj.name`` (``np.sin``, ``lib.inner``, ``f.__code__``);
* ``("path", base, names)``: an attribute chain read from a location (``cfg.lr`` read from the
  global ``cfg`` each time), ``base`` an ``item``, a ``cell`` or ``("const", obj)``;
* ``("derived", guard, fn)``: another derivative's guard (a derivative srcad generated and is
  differentiating again, or the separate derivative of a helper that is called, not inlined).

``how`` is ``"is"`` (identity), ``"=="`` (bound methods, made anew at each access) or
``"type"`` (``type(value) is expected``).
"""

import keyword
import threading
import types

_local = threading.local()
_READ_ONLY = ("__globals__", "__closure__")


class Recorder:
    """The facts one transformation relied on (in the order first noted)."""

    def __init__(self):
        self.facts = {}

    def add(self, loc, how, expected):
        key = (_key(loc), how)
        if key not in self.facts:
            self.facts[key] = (loc, how, expected)


def _key(part):
    if isinstance(part, str):
        return part
    if isinstance(part, tuple):
        return tuple(_key(p) for p in part)
    return id(part)


def _stack():
    st = getattr(_local, "stack", None)
    if st is None:
        st = _local.stack = []
    return st


class recording:
    """``with recording() as rec:`` notes the facts of the transformation run inside."""

    def __enter__(self):
        self.rec = Recorder()
        _stack().append(self.rec)
        return self.rec

    def __exit__(self, *exc):
        _stack().pop()
        return False


class paused:
    """``with paused():`` resolutions inside are not noted (look-ups that decide nothing)."""

    def __enter__(self):
        _stack().append(None)

    def __exit__(self, *exc):
        _stack().pop()
        return False


def note(loc, how, expected):
    """Note that the transformation running now relies on ``loc`` (``how``) being ``expected``."""
    st = getattr(_local, "stack", None)
    if st and st[-1] is not None:
        st[-1].add(loc, how, expected)


def getattr_noted(obj, name, how="is"):
    """``getattr(obj, name)``, noted (``AttributeError`` as getattr raises it).

    A bound method (``rng.uniform``, ``layer.scale``) is a new object at each access: it is
    guarded by equality (same ``__self__``, same function) instead of identity."""
    value = getattr(obj, name)
    if how == "is" and isinstance(value, (types.MethodType, types.BuiltinMethodType)) \
            and value is not getattr(obj, name, None):
        how = "=="
    note(("attr", obj, name), how, type(value) if how == "type" else value)
    return value


def item_noted(seq, k):
    """``seq[k]`` of a list or tuple, noted with the sequence's length (a derivative unrolled
    over a global's list of layers is stale once the list grows)."""
    note(("len", seq), "==", len(seq))
    value = seq[k]
    note(("item", seq, k), "is", value)
    return value


def later(pending):
    """The guard of a derivative still being generated (a recursive call reached it), as a
    function of the callee: checked once the derivative exists (``pipeline.finish`` sets
    ``pending.guard``). A check that comes back to itself through the recursion holds there; the
    first one decides."""
    busy = threading.local()

    def check(fn):
        guard = getattr(pending, "guard", None)
        if guard is None or getattr(busy, "on", False):
            return True
        busy.on = True
        try:
            return guard(fn)
        finally:
            busy.on = False
    return check


def note_value_type(info, node, value):
    """Generation used the type of ``node`` (``cfg.lr``, an attribute chain on a free name of
    ``info``'s function): guard the type of what that chain reads then, not the identity of the
    objects along it (``cfg`` may be rebound, ``cfg.lr`` changed; only a new type matters)."""
    chain = []
    while not hasattr(node, "id"):
        chain.append(node.attr)
        node = node.value
    name = node.id
    if name in info.extra:
        base = ("const", info.extra[name])
    elif name in info.closure:
        base = ("cell", info.closure[name])
    elif name in info.globals:
        base = ("item", info.globals, name)
    else:
        return
    note(("path", base, tuple(reversed(chain))), "type", type(value))


def note_function(fn):
    """A function whose code is transformed: its code, defaults and globals are facts.

    Defaults that were ``None`` (no defaults) are not checked: giving a function defaults later
    can only make calls that left arguments out work, and those calls fail loudly on the old
    derivative (a missing argument) rather than giving a wrong result; two checks fewer per call.
    """
    note(("attr", fn, "__code__"), "is", fn.__code__)
    if fn.__defaults__ is not None:
        note(("attr", fn, "__defaults__"), "is", fn.__defaults__)
    if fn.__kwdefaults__ is not None:
        note(("attr", fn, "__kwdefaults__"), "is", fn.__kwdefaults__)
    note(("attr", fn, "__globals__"), "is", fn.__globals__)


def compile_guard(rec, root):
    """One function ``guard(fn) -> bool`` checking ``rec``'s facts for ``fn`` (a function with
    ``root``'s code; its own globals, closure cells and defaults take the place of ``root``'s).

    ``guard.bound(fn)`` is the same check for one function, taking no argument (``fn`` a
    constant, its read-only ``__globals__`` not checked): what the per-call fast path runs.
    """
    consts = []

    def k(obj):
        consts.append(obj)
        return f"k{len(consts) - 1}"

    root_cells = {id(c): i for i, c in enumerate(root.__closure__ or ())}

    def read(loc):
        """The expression reading location ``loc``."""
        kind = loc[0]
        if kind == "item":
            return f"{k(loc[1])}[{k(loc[2])}]"
        if kind == "cell":
            i = root_cells.get(id(loc[1]))
            return f"fn.__closure__[{i}].cell_contents" if i is not None else f"{k(loc[1])}.cell_contents"
        if kind == "const":
            return k(loc[1])
        if kind == "len":
            return f"len({k(loc[1])})"
        if kind == "attr":
            base = "fn" if loc[1] is root else k(loc[1])
            return _attr(base, loc[2])
        if kind == "path":
            expr = read(loc[1])
            for name in loc[2]:
                expr = _attr(expr, name)
            return expr
        raise AssertionError(kind)

    def _attr(base, name):
        ok = name.isidentifier() and not keyword.iskeyword(name)
        return f"{base}.{name}" if ok else f"getattr({base}, {k(name)})"

    first, rest = [], []
    for loc, how, expected in rec.facts.values():
        kind = loc[0]
        if kind == "attr" and loc[1] is root:
            expr = f"fn.{loc[2]}"
            (first if loc[2] in ("__code__", "__globals__") else rest).append((expr, how, expected))
            continue
        if kind == "attr" and loc[2] in _READ_ONLY:
            continue   # another function's globals and closure cannot be rebound
        if kind == "absent":
            rest.append((f"{k(loc[2])} not in {k(loc[1])}", None, None))
            continue
        if kind == "derived":
            rest.append((f"{k(loc[1])}({k(loc[2])})", None, None))
            continue
        rest.append((read(loc), how, expected))
    first.sort(key=lambda t: t[0] != "fn.__code__")
    terms = []
    for expr, how, expected in first + rest:
        if how is None:
            terms.append(expr)
        elif how == "is":
            terms.append(f"{expr} is {k(expected)}")
        elif how == "==":
            terms.append(f"{expr} == {k(expected)}")
        else:
            terms.append(f"type({expr}) is {k(expected)}")
    quick = [t for t in terms if not t.startswith("fn.__globals__ ")]

    def body(ts):
        return " and\n                ".join(ts) if ts else "True"

    params = ", ".join(f"k{i}" for i in range(len(consts)))
    src = (f"def __srcad_guards__({params}):\n"
           f"    def guard(fn):\n"
           f"        try:\n"
           f"            return ({body(terms)})\n"
           f"        except Exception:\n"
           f"            return False\n"
           f"    def bound(fn):\n"
           f"        def guard():\n"
           f"            try:\n"
           f"                return ({body(quick)})\n"
           f"            except Exception:\n"
           f"                return False\n"
           f"        return guard\n"
           f"    guard.bound = bound\n"
           f"    return guard\n")
    ns = {}
    exec(compile(src, "<srcad guard>", "exec"), ns)
    guard = ns["__srcad_guards__"](*consts)
    guard.source = src
    guard.facts = len(terms)
    # what ``bound`` checks, as text over ``fn`` and ``k0``.. (``consts``): a caller may inline it
    # into code of its own (the compiled derivatives' per-call entry, numba_backend.py)
    guard.quick, guard.consts = tuple(quick), tuple(consts)
    return guard
