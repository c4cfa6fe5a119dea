"""The driver: runs the passes in order, caches the result, and can show the code after each.

parse -> normalize -> restructure -> analyze -> reverse (or forward) -> codegen -> compile
"""

import builtins
import copy
import threading
import types
from collections import OrderedDict

import gast

from srcad import codegen, guards
from srcad.errors import TransformError
from srcad.names import names_in
from srcad.normalize import N, at, normalize
from srcad.parse import parse_function
from srcad.inline import inline_calls
from srcad.optimize import prune_forward
from srcad.restructure import restructure
from srcad.reverse import Reverse

_cache = OrderedDict()   # (code, wrt, mode, ranks) -> guarded variants, newest first; an LRU
_lock = threading.RLock()

CACHE_SIZE = 256   # keys kept in each cache (reverse here, forward in forward.py)
VARIANTS = 4       # guarded variants kept per key
transforms = 0     # derivatives generated so far, both modes (tests count them)


class Derivative:
    """A generated derivative: the function, its source text and how to call it."""

    def __init__(self, fn, source, seed, params, ret_name, wrt_names, stages=None):
        self.fn = fn
        self.source = source
        self.seed = seed
        self.params = params
        self.ret_name = ret_name
        self.wrt_names = wrt_names
        self.stages = stages or {}
        self.guard = None      # guard(fn): is this still the derivative of fn? (guards.py)
        self.root = None       # the function it was generated from (and is bound to)
        self.kw_extra = {}     # keyword defaults it adds to the user's (the seed)


def lookup(cache, key, fn):
    """A cached derivative for ``fn`` under ``key`` whose guards hold, bound to ``fn``; or None."""
    variants = cache.get(key)
    if variants:
        for d in variants:
            if d.guard(fn):
                cache.move_to_end(key)
                return bind(d, fn)
    return None


def store(cache, key, d):
    """Cache ``d`` as the newest variant under ``key``; the least recently used keys go."""
    variants = cache.get(key)
    if variants is None:
        cache[key] = [d]
    else:
        variants.insert(0, d)
        del variants[VARIANTS:]
    cache.move_to_end(key)
    while len(cache) > CACHE_SIZE:
        cache.popitem(last=False)


def finish(d, fn, rec, kw_extra):
    """Attach the guards noted while generating ``d`` from ``fn``."""
    global transforms
    transforms += 1
    d.guard = guards.compile_guard(rec, fn)
    d.root = fn
    d.kw_extra = dict(kw_extra)
    d.fn.__srcad_guard__ = (d.guard, fn)
    pending = d.__dict__.pop("pending", None)
    if pending is not None:    # recursive callers made meanwhile check this guard (guards.later)
        pending.guard = d.guard
    return d


def bind(d, fn):
    """``d`` for ``fn``, a function with the same code as ``d.root`` and its own closure cells,
    globals and defaults: the generated code object is shared, only the cells are ``fn``'s.

    ``grad(lambda p: loss(p, batch))`` written in a loop makes a new closure every time; binding
    costs a microsecond where generating costs milliseconds.
    """
    if fn is d.root:
        return d
    t = d.fn
    old = d.root.__closure__ or ()
    new = fn.__closure__ or ()
    slot = {id(c): i for i, c in enumerate(old)}
    cells = tuple(new[slot[id(c)]] if id(c) in slot else c for c in (t.__closure__ or ()))
    g = types.FunctionType(t.__code__, fn.__globals__, t.__name__, fn.__defaults__, cells)
    kw = dict(fn.__kwdefaults__ or {})
    kw.update(d.kw_extra)
    g.__kwdefaults__ = kw or None
    g.__qualname__ = t.__qualname__
    g.__srcad_guard__ = (d.guard, fn)
    b = copy.copy(d)
    b.fn, b.root = g, fn
    return b


generation = 0   # bumped by clear_cache so per-function fast paths know to look again


def clear_cache():
    """Forget every generated derivative (they are rebuilt on next use)."""
    global generation
    with _lock:
        _cache.clear()
        generation += 1
    from srcad import forward   # forward-mode derivatives have their own cache
    forward.clear_cache()


def _positional_params(fdef):
    return [a.id for a in fdef.args.posonlyargs + fdef.args.args]


def front_end(fn, stages=None):
    """parse, normalize, restructure: returns (info, norm, body, ret_name)."""
    info = parse_function(fn)
    body, norm = normalize(info)
    if stages is not None:
        stages["normalize"] = body
    if not body or not isinstance(body[-1], gast.Return):
        has_return = any(isinstance(n, gast.Return) for s in body for n in gast.walk(s))
        if not has_return:
            raise TransformError(f"{info.name} has no return statement: there is nothing to differentiate",
                                 info.filename, info.lineno, "missing return")
        body = body + [at(gast.Return(value=gast.Constant(value=None, kind=None)), info.lineno)]
    body, ret_name = restructure(body, norm.namer, norm.out_name, info.lineno)
    require_loop_builtins(info, body, names_in(info.node))
    for s in body:
        for n in gast.walk(s):
            if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store):
                norm.locals.add(n.id)
    if stages is not None:
        stages["restructure"] = body
    return info, norm, body, ret_name


_LOOP_BUILTINS = ("range", "reversed", "len", "min")


def require_loop_builtins(info, body, source_names):
    """Loops are recognised (``range``, ``enumerate``, ``zip``) and written (``range``, ``len``,
    ``min``, ``reversed`` in the backward sweep) with builtins, called by name in the function's
    scope: where its module or closure rebinds one, srcad would call the wrong function, so it
    refuses. Noted for the guards: binding one of those names later regenerates (and refuses).
    """
    if not any(isinstance(n, (gast.For, gast.While)) for s in body for n in gast.walk(s)):
        return
    for name in _LOOP_BUILTINS + tuple(n for n in ("zip", "enumerate") if n in source_names):
        ok, obj = info.resolve(name, guard=None)
        if ok and obj is getattr(builtins, name) and name not in info.closure and name not in info.globals:
            guards.note(("absent", info.globals, name), None, None)
            continue
        if ok and obj is getattr(builtins, name):
            info.resolve(name)
            continue
        raise TransformError(f"{info.name} has a loop, and srcad's loops use the builtin `{name}`, "
                             f"which {info.name}'s module or closure binds to {obj!r}; rename that "
                             f"`{name}`", info.filename, info.lineno, f"rebound builtin {name}")


def reverse_derivative(fn, wrt, mode="grad", stages=None, ranks=None):
    """The reverse-mode derivative of ``fn`` w.r.t. the positional parameters ``wrt`` (a tuple).

    mode 'grad' returns the gradient(s); 'value_and_grad' returns (value, gradient(s)); 'call'
    (used for calls between user functions) always returns a tuple of gradients.
    """
    key = (getattr(fn, "__code__", fn), wrt, mode, ranks)
    with _lock:
        hit = lookup(_cache, key, fn)
        if hit is not None:
            return hit
        return _build_reverse(fn, wrt, mode, key, stages, ranks)


def _build_reverse(fn, wrt, mode, key, stages, ranks=None):
    with guards.recording() as rec:
        d = _generate_reverse(fn, wrt, mode, key, stages, ranks)
    finish(d, fn, rec, {d.seed: 1.0})
    store(_cache, key, d)
    return d


def note_call(sub, callee):
    """A caller's derivative calls ``sub``, the derivative of ``callee``: it is current only while
    ``sub`` is (under construction, for recursion: once it is built, see ``guards.later``)."""
    if isinstance(sub, Pending):
        guards.note_function(callee)
        guards.note(("derived", guards.later(sub), callee), None, None)
    else:
        guards.note(("derived", sub.guard, callee), None, None)


def _generate_reverse(fn, wrt, mode, key, stages, ranks=None):
    info, norm, body, ret_name = front_end(fn, stages)
    fdef = info.node
    params = _positional_params(fdef)
    for i in wrt:
        if i >= len(params):
            raise TransformError(f"wrt={i} is out of range: {info.name} has {len(params)} positional "
                                 f"parameters", info.filename, info.lineno, "wrt")
    wrt_names = [params[i] for i in wrt]
    env = codegen.Env(info, norm.namer.taken, norm.locals)
    gen_name = norm.namer.fresh(("grad_" if mode != "call" else "vjp_") + info.name, numbered=False)
    body = inline_calls(body, info, norm, env, front_end, fn)
    require_loop_builtins(info, body, ())   # loops of inlined helpers are written in fn's scope
    info.extra = env.objects
    if stages is not None:
        stages["inline"] = body

    def derivative_of_call(callee, positions, lineno):
        sub_key = (callee.__code__, positions, "call", None)
        sub = lookup(_cache, sub_key, callee) or _building.get((sub_key, callee))
        if sub is None:
            sub = _build_reverse(callee, positions, "call", sub_key, None, None)
        note_call(sub, callee)
        obj = sub if isinstance(sub, Pending) else sub.fn
        name = env.ref_name("vjp_" + callee.__name__.strip("<>"), obj)
        return gast.Name(id=name, ctx=gast.Load(), annotation=None, type_comment=None), sub.seed

    param_ranks = {}
    if ranks is not None:
        param_ranks = {p: r for p, r in zip(params, ranks) if r is not None}
    rev = Reverse(info, norm, body, ret_name, wrt_names, env, derivative_of_call, param_ranks)
    if mode == "call":
        _refuse_writes_into_caller_arrays(info, body, params, rev.facts.mutated)
    rev.seed_name = rev.dname(ret_name)
    pending = Pending(seed=rev.seed_name)
    _building[(key, fn)] = pending   # by function too: closures of one code differ
    try:
        fwd, bwd = rev.build()
    finally:
        _building.pop((key, fn), None)
    seed = rev.seed_name
    if mode != "call" and ret_name not in rev.facts.active:
        # An output that does not depend on the inputs still has to be numeric: without this a
        # function returning None or a str got a zero gradient instead of seed's TypeError
        # (issue 7, tests/test_bad_inputs.py::test_non_numeric_output_is_refused).
        check = gast.Call(func=env.ref("seed"), args=[N(seed), N(ret_name)], keywords=[])
        bwd = list(bwd) + [at(gast.Expr(value=check), fdef.body[-1].lineno if fdef.body else info.lineno)]
    returns = []
    for w in wrt_names:
        st = rev.final_state.get(w)
        if st is None:
            returns.append(gast.Call(func=env.ref("zeros_like"), args=[N(w)], keywords=[]))
        elif (st.maybe_zero and rev.facts.ranks.get(w) != 0) or w in rev.facts.containers:
            # containers: the gradient takes the input's structure (dict key order, zero leaves)
            returns.append(gast.Call(func=env.ref("grad_like"), args=[N(rev.dname(w)), N(w)], keywords=[]))
        else:
            returns.append(N(rev.dname(w)))
    if len(returns) == 1 and mode != "call":
        result = returns[0]
    else:
        result = gast.Tuple(elts=returns, ctx=gast.Load())
    if mode == "value_and_grad":
        value = N(ret_name)
        if bwd:
            # The backward sweep restores overwritten variables (``s = stack.pop()``, and
            # ``v[i] = stack.pop()`` in place), the returned one too: keep the value as the forward
            # sweep left it (issue 7, tests/test_regressions.py::test_value_and_grad_value_*).
            kept = norm.namer.fresh("value")
            copy_it = bool(rev.facts.mutated)   # the returned name may alias an array written into
            fwd = list(fwd) + [at(gast.Assign(
                targets=[N(kept, True)],
                value=gast.Call(func=env.ref("owned_copy"), args=[N(ret_name)], keywords=[]) if copy_it
                else N(ret_name), type_comment=None), fdef.body[-1].lineno if fdef.body else info.lineno)]
            value = N(kept)
        result = gast.Tuple(elts=[value, result], ctx=gast.Load())
    fwd = prune_forward(fwd, bwd, result, rev.facts, env)
    body_out = []
    if fwd:
        body_out.append(codegen.note("forward sweep"))
        body_out += fwd
    if bwd:
        body_out.append(codegen.note("backward sweep"))
        body_out += bwd
    body_out.append(at(gast.Return(value=result), fdef.body[-1].lineno if fdef.body else info.lineno))
    kw = dict(fn.__kwdefaults__ or {})
    kw[seed] = 1.0
    fnobj, src = codegen.emit(fdef, gen_name, body_out, [(seed, gast.Constant(value=1.0, kind=None))], env,
                              info, f"{gen_name} of {info.filename}:{info.lineno}", kw)
    pending.fn = fnobj
    d = Derivative(fnobj, src, seed, _positional_params(fdef), ret_name, wrt_names, stages)
    d.pending = pending
    return d


def _refuse_writes_into_caller_arrays(info, body, params, mutated):
    """A helper called from differentiated code must not write into an array its caller passed.

    Python would change the caller's array too; the helper's derivative works on a private copy
    (``owned_copy``), so the caller would go on with the old values: a silently wrong value and
    gradient (issue 7, tests/test_regressions.py::test_helper_writing_into_its_parameter). A
    parameter rebound unconditionally (``a = a.copy()``) before any write is the helper's own.
    """
    for p in sorted(set(params) & mutated):
        for s in body:
            if isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Name) and s.targets[0].id == p:
                break
            write = next((n for n in gast.walk(s) if isinstance(n, gast.Subscript) and isinstance(n.ctx, gast.Store)
                          and isinstance(n.value, gast.Name) and n.value.id == p), None)
            if write is not None:
                lineno = getattr(write, "lineno", None) or getattr(s, "lineno", None) or info.lineno
                text = info.line_text(lineno)
                raise TransformError(
                    f"{info.name} writes into its parameter `{p}`, an array its caller passed in; srcad "
                    f"cannot carry that change back to the caller (copy it first: `{p} = {p}.copy()`)"
                    + (f": `{text}`" if text else ""), info.filename, lineno, "write into a parameter")


_building = {}


class Pending:
    """A derivative under construction (recursion): callable once it is built.

    Carries what a caller needs to know before the function exists (``seed`` in reverse mode,
    ``tangent_names`` in forward mode).
    """

    def __init__(self, **known):
        self.__dict__.update(known)
        self.fn = None

    def __call__(self, *args, **kwargs):
        return self.fn(*args, **kwargs)
