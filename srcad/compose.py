"""Derivative functions that srcad can differentiate again (issue 14: ``jacobian(jacobian(f))``,
``jvp`` of ``jvp``, ``grad`` over ``jvp``).

``srcad.jacobian``, ``srcad.hessian`` and the functions ``srcad.jvp(f, wrt=w)`` returns run their
generated forward-mode code from Python loops in ``api.py``, which srcad does not read. Their
``__srcad_function__`` gives instead a small function written out as source, which calls the
generated code the same way:

    def jacobian_f(x, y):
        cols = []
        for k in range(np.size(x)):
            value, col = jvp_f(x, y, dx=unit_tangent(x, k))
            cols.append(np.broadcast_to(col, np.shape(value)))
        return np.reshape(np.stack(cols, axis=-1), np.shape(value) + np.shape(x))

    def jvp_f(x, y, tx):
        return jvp_f_1(x, y, dx=tx)

Its text is registered with ``linecache`` like any source file's, so srcad reads it as it reads the
user's code. One function is made per generated derivative (kept while that derivative lives), so
the caches see the same code object at every call.
"""

import itertools
import linecache
import re
import weakref

import numpy as np

_counter = itertools.count()
_made = weakref.WeakKeyDictionary()   # generated derivative -> {(kind, ...): composed function}


def unit_tangent(x, k):
    """The ``k``-th unit tangent of ``x`` in C order: shaped like ``x``, of its floating dtype."""
    dtype = np.asarray(x).dtype
    if dtype.kind != "f":
        dtype = np.dtype(np.float64)
    if np.ndim(x) == 0:
        return dtype.type(1.0) if dtype != np.float64 else 1.0
    e = np.zeros(np.size(x), dtype=dtype)
    e[k] = 1.0
    return e.reshape(np.shape(x))


def _params(fn):
    """The positional parameter names of ``fn`` (refusing ``*args``, which the composed function
    could not pass on by name)."""
    code = fn.__code__
    if code.co_flags & 0x04:
        raise TypeError(f"srcad cannot differentiate a derivative of {fn.__name__} again: it takes *args")
    return list(code.co_varnames[:code.co_argcount])


def _fresh(base, taken):
    base = re.sub(r"\W", "", base.replace("<lambda>", "lambda")) or "f"
    name, k = base, 1
    while name in taken:
        k += 1
        name = f"{base}_{k}"
    taken.add(name)
    return name


def _compile(src, name, namespace, defaults):
    filename = f"<srcad composed {name} #{next(_counter)}>"
    linecache.cache[filename] = (len(src), None, src.splitlines(True), filename)
    exec(compile(src, filename, "exec"), namespace)
    fn = namespace[name]
    fn.__defaults__ = defaults
    return fn


def _memo(d, key, build):
    table = _made.setdefault(d, {})
    if key not in table:
        table[key] = build()
    return table[key]


def jacobian_function(target, wrt, name):
    """A function of ``target``'s positional arguments returning the Jacobian of ``target`` w.r.t.
    argument ``wrt`` (shaped ``out.shape + in.shape``), one forward-mode column per input element."""
    from srcad import pipeline
    d = pipeline.forward_derivative(target, (wrt,))
    params = _params(target)
    if wrt >= len(params):
        raise TypeError(f"{name}: wrt={wrt} but {target.__name__} has {len(params)} positional parameters")

    def build():
        taken = set(params)
        fname, f_, np_, unit = (_fresh(n, taken) for n in (name, "jvp_" + target.__name__, "np", "unit_tangent"))
        cols, k, value, col = (_fresh(n, taken) for n in ("cols", "k", "value", "col"))
        x, args = params[wrt], ", ".join(params)
        src = (f"def {fname}({args}):\n"
               f"    {cols} = []\n"
               f"    for {k} in range({np_}.size({x})):\n"
               f"        {value}, {col} = {f_}({args}, {d.tangent_names[0]}={unit}({x}, {k}))\n"
               f"        {cols}.append({np_}.broadcast_to({col}, {np_}.shape({value})))\n"
               f"    return {np_}.reshape({np_}.stack({cols}, axis=-1), {np_}.shape({value}) + {np_}.shape({x}))\n")
        return _compile(src, fname, {f_: d.fn, np_: np, unit: unit_tangent}, target.__defaults__)
    return _memo(d.fn, ("jacobian", wrt, name), build)


def jvp_function(target, wrt, name):
    """A function of ``target``'s positional arguments followed by one tangent per position in
    ``wrt``, returning ``(value, tangent)``: what ``srcad.jvp(target, wrt=wrt)`` returns, as source."""
    from srcad import pipeline
    d = pipeline.forward_derivative(target, tuple(wrt))
    # the tangents follow the arguments given: the parameters with defaults are left to them
    params = _params(target)[:target.__code__.co_argcount - len(target.__defaults__ or ())]
    if max(wrt) >= len(params):
        raise TypeError(f"{name}: srcad differentiates it again only where wrt names parameters "
                        f"without defaults of {target.__name__}")

    def build():
        taken = set(params)
        fname, f_ = _fresh(name, taken), _fresh("jvp_" + target.__name__, taken)
        tans = [_fresh("t" + params[w], taken) for w in wrt]
        given = ", ".join(f"{tn}={t}" for tn, t in zip(d.tangent_names, tans))
        src = (f"def {fname}({', '.join(params + tans)}):\n"
               f"    return {f_}({', '.join(params)}, {given})\n")
        return _compile(src, fname, {f_: d.fn}, None)
    return _memo(d.fn, ("jvp", tuple(wrt), name), build)
