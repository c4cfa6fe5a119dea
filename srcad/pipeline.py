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
from srcad.astutil import N, at, names_read
from srcad.normalize import normalize
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
    for f in (d.fn, getattr(d, "fwd", None), getattr(d, "bwd", None)):
        if f is not None:
            f.__srcad_guard__ = (d.guard, fn)
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
    b = copy.copy(d)
    b.root = fn
    if d.fn is not None:
        b.fn = _rebound(d.fn, d, fn, fn.__defaults__)
    else:   # a kept call's fwd_<name> (the user's parameters) and bwd_<name> (the tape)
        b.fwd, b.bwd = _rebound(d.fwd, d, fn, fn.__defaults__), _rebound(d.bwd, d, fn, None)
    return b


def _rebound(t, d, fn, defaults):
    """The generated function ``t`` with ``fn``'s cells in place of ``d.root``'s."""
    old = d.root.__closure__ or ()
    new = fn.__closure__ or ()
    slot = {id(c): i for i, c in enumerate(old)}
    cells = tuple(new[slot[id(c)]] if id(c) in slot else c for c in (t.__closure__ or ()))
    g = types.FunctionType(t.__code__, fn.__globals__, t.__name__, defaults, cells)
    kw = dict(fn.__kwdefaults__ or {})
    kw.update(d.kw_extra)
    g.__kwdefaults__ = kw or None
    g.__qualname__ = t.__qualname__
    g.__srcad_guard__ = (d.guard, fn)
    return g


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
    refused = getattr(fn, "__srcad_refused__", None)
    if refused is not None:
        raise TransformError(*refused)
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
    # A result variable restructure made (``out = v`` at each return): once assigned, the code after
    # it is skipped, so it never sees an in-place write (what the alias analysis needs to know).
    norm.result_var = ret_name if ret_name not in norm.locals else None
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
    (used for the calls to user functions that are not inlined) builds two functions instead:
    ``fwd_<name>(<params>)`` runs the forward sweep once and returns ``(value, tape)``, and
    ``bwd_<name>(tape, *, d<out>)`` runs the backward sweep over that tape and returns the
    gradient (a tuple for several ``wrt``). The caller's forward sweep calls the first, its
    backward sweep the second: the helper's forward computation runs exactly once (the random
    numbers it draws are the ones differentiated) and recursion costs linear time in its depth.
    ``wrt`` may name keyword-only parameters (str) besides positions.
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
        if isinstance(i, int) and i >= len(params):
            raise TransformError(f"wrt={i} is out of range: {info.name} has {len(params)} positional "
                                 f"parameters", info.filename, info.lineno, "wrt")
    kwonly = [a.id for a in fdef.args.kwonlyargs]
    for i in wrt:
        if isinstance(i, str) and i not in kwonly:
            raise TransformError(f"{info.name} has no keyword-only parameter {i}", info.filename,
                                 info.lineno, "wrt")
    wrt_names = [i if isinstance(i, str) else params[i] for i in wrt]
    env = codegen.Env(info, norm.namer.taken, norm.locals)
    for name, obj in info.extra.items():   # runtime helpers the front end called (loop_seq)
        env.objects[name] = obj
        env.by_id.setdefault(id(obj), name)
    gen_name = norm.namer.fresh("grad_" + info.name, numbered=False) if mode != "call" else None
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
        base = callee.__name__.strip("<>")
        fwd_name = env.ref_name("fwd_" + base, sub.fwd)
        bwd_name = env.ref_name("bwd_" + base, sub.bwd)
        return N(fwd_name), N(bwd_name), sub.seed

    param_ranks = {}
    if ranks is not None:
        param_ranks = {p: r for p, r in zip(params, ranks) if r is not None}
    rev = Reverse(info, norm, body, ret_name, wrt_names, env, derivative_of_call, param_ranks,
                  helper=mode == "call")
    rev.seed_name = rev.dname(ret_name)
    pending = Pending(seed=rev.seed_name, fwd=Pending(), bwd=Pending())
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
    arg_refs = []
    for w in wrt_names:
        st = rev.final_state.get(w)
        arg = N(w)
        if len(rev.facts.defs.get(w, ())) > 1:
            # the function rebinds the parameter (``y = x``): the gradient is shaped like the
            # argument, which the name no longer holds at the end of the backward sweep
            ref = norm.namer.fresh(w + "_arg", numbered=False)
            arg_refs.append(at(gast.Assign(targets=[N(ref, True)], value=N(w), type_comment=None),
                               info.lineno))
            arg = N(ref)
        if st is None:
            returns.append(gast.Call(func=env.ref("zeros_like"), args=[arg], keywords=[]))
        elif (st.maybe_zero and rev.facts.ranks.get(w) != 0) or w in rev.facts.containers or \
                rev.facts.ranks.get(w) is None:
            # containers (and arguments of unknown kind, which may be lists): the gradient takes
            # the input's structure (dict key order, nesting, zero arrays for unused leaves)
            returns.append(gast.Call(func=env.ref("grad_like"), args=[N(rev.dname(w)), arg], keywords=[]))
        else:
            returns.append(N(rev.dname(w)))
    fwd = arg_refs + list(fwd)
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
    if mode == "call":
        return _build_split(fn, key, info, norm, env, rev, fwd, bwd, result, ret_name, wrt_names, pending)
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
    _link_pending(fnobj)
    pending.resolve(fnobj)
    d = Derivative(fnobj, src, seed, _positional_params(fdef), ret_name, wrt_names, stages)
    d.pending = pending
    return d


def _build_split(fn, key, info, norm, env, rev, fwd, bwd, result, ret_name, wrt_names, pending):
    """``fwd_<name>`` and ``bwd_<name>`` of a helper called from differentiated code (mode 'call').

    The tape is the tuple of the variables the backward sweep reads that the forward sweep (or
    the call) defined: the stack and the values it did not push.
    """
    fdef = info.node
    ret = N(ret_name)
    fwd = prune_forward(fwd, bwd, gast.Tuple(elts=[result, ret], ctx=gast.Load()), rev.facts, env)
    params = set(norm.params)
    defined = set(params)
    top = set(params)
    for s in fwd:
        stored = {n.id for n in gast.walk(s) if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store)}
        defined |= stored
        if isinstance(s, gast.Assign):
            top |= stored
    tape_names = sorted((names_read(bwd) | names_read([result])) & defined)
    tape_var = norm.namer.fresh("tape", numbered=False)
    ln = fdef.body[-1].lineno if fdef.body else info.lineno
    # a variable defined only on some paths of the forward sweep is read back only on those paths
    undefined = [at(gast.Assign(targets=[N(n, True)], value=gast.Constant(value=None, kind=None),
                                type_comment=None), info.lineno) for n in tape_names if n not in top]
    tape = gast.Tuple(elts=[N(n) for n in tape_names], ctx=gast.Load())
    fwd_body = [codegen.note("forward sweep")] + undefined + list(fwd)
    fwd_body.append(at(gast.Return(value=gast.Tuple(elts=[ret, tape], ctx=gast.Load())), ln))
    base = info.name.strip("<>")
    fwd_name = norm.namer.fresh("fwd_" + base, numbered=False)
    fwd_fn, fwd_src = codegen.emit(fdef, fwd_name, fwd_body, [], env, info,
                                   f"{fwd_name} of {info.filename}:{info.lineno}", dict(fn.__kwdefaults__ or {}))
    bwd_body = [codegen.note("backward sweep")]
    if tape_names:
        bwd_body.append(at(gast.Assign(targets=[gast.Tuple(elts=[N(n, True) for n in tape_names],
                                                           ctx=gast.Store())],
                                       value=N(tape_var), type_comment=None), info.lineno))
    bwd_body += list(bwd)
    if isinstance(result, gast.Tuple) and len(result.elts) == 1:
        result = result.elts[0]
    bwd_body.append(at(gast.Return(value=result), ln))
    bwd_def = gast.FunctionDef(
        name=fdef.name, body=[], decorator_list=[], returns=None, type_comment=None,
        args=gast.arguments(args=[N(tape_var)], posonlyargs=[], vararg=None, kwonlyargs=[], kw_defaults=[],
                            kwarg=None, defaults=[]))
    bwd_name = norm.namer.fresh("bwd_" + base, numbered=False)
    seed = rev.seed_name
    bwd_fn, bwd_src = codegen.emit(bwd_def, bwd_name, bwd_body, [(seed, gast.Constant(value=1.0, kind=None))],
                                   env, info, f"{bwd_name} of {info.filename}:{info.lineno}", {seed: 1.0})
    bwd_fn.__defaults__ = None
    if rev.stack is not None and rev.stack in tape_names:
        # Differentiating bwd_<name> again would pop a stack that fwd_<name> filled in another
        # function: the adjoint stacks of the two would not meet. Refused, naming the helper.
        bwd_fn.__srcad_refused__ = (
            f"a derivative of a derivative through {info.name}, which is called rather than inlined "
            "(recursion) and records values on its stack: srcad does not differentiate that again; "
            "a helper that is not recursive is inlined and has no such limit", info.filename, info.lineno,
            "higher-order derivative through a recursive helper")
    _link_pending(fwd_fn)
    _link_pending(bwd_fn)
    pending.fwd.resolve(fwd_fn)
    pending.bwd.resolve(bwd_fn)
    pending.resolve(None)
    d = Derivative(None, fwd_src + "\n" + bwd_src, seed, _positional_params(fdef), ret_name, wrt_names)
    d.fwd, d.bwd = fwd_fn, bwd_fn
    d.pending = pending
    return d


_building = {}


class Pending:
    """A derivative under construction (recursion): callable once it is built.

    Carries what a caller needs to know before the function exists (``seed`` in reverse mode,
    ``tangent_names`` in forward mode).
    """

    def __init__(self, **known):
        self.__dict__.update(known)
        self.fn = None
        self.cells = []

    def __call__(self, *args, **kwargs):
        return self.fn(*args, **kwargs)

    def resolve(self, fn):
        """The function is built: the generated functions that call it call it directly now (a
        recursive derivative then takes one frame per level, as the plain function does)."""
        self.fn = fn
        for cell in self.cells:
            cell.cell_contents = fn
        self.cells = []


def _link_pending(fn):
    """Cells of ``fn`` that hold a derivative still being built are filled once it is built."""
    for cell in fn.__closure__ or ():
        try:
            obj = cell.cell_contents
        except ValueError:
            continue
        if isinstance(obj, Pending):
            if obj.fn is not None:
                cell.cell_contents = obj.fn
            else:
                obj.cells.append(cell)
