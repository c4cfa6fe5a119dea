"""The driver: one pipeline for both modes, one cache, and the code after each step on request.

    parse -> normalize -> restructure -> inline -> analyze -> reverse | forward -> optimize -> codegen
    parse.py  normalize.py restructure.py inline.py  analyze.py  reverse.py    forward.py  optimize.py codegen.py
                                                  (rewrites.py,  (backward.py,  (tangent_
                                                   ranks.py,     saves.py,       stacks.py)
                                                   aliasing.py)  tape.py)

``front_end`` (parse, normalize, restructure) and ``analyze`` (the ``append`` rewrite, the facts,
the self-read split) are the same for every mode; ``derive`` caches by code object, mode and
argument ranks, guarded (guards.py). Inlining runs in both modes (issue 13: a function passed as
an argument, a method on ``self``, a helper writing into its caller's array are then read alike);
a helper that is not inlined (recursion, depth) is derived on its own (modes 'call', 'jvp_call').
"""

import builtins
import copy
import sys
import threading
import types
from collections import OrderedDict
from dataclasses import dataclass, field

import gast
import numpy as np

from srcad import codegen, guards, runtime
from srcad.analyze import Facts, guard_truncating_writes
from srcad.rewrites import appends_as_assignments, split_self_reads
from srcad.astutil import N, assign, at
from srcad.astutil import walk
from srcad.errors import TransformError, called_from
from srcad.forward import Forward
from srcad.inline import ObjectArg, inline_calls
from srcad.names import names_in
from srcad.normalize import normalize
from srcad.optimize import free_dead, fuse_single_use, prune_forward
from srcad.parse import parse_function
from srcad.patterns import PURE_PATTERN_HELPERS, shift_invariant
from srcad.restructure import restructure
from srcad.reverse import Reverse
from srcad.tape import split_sweeps, tape_signature

_cache = OrderedDict()   # (code, wrt, mode, ranks) -> guarded variants, newest first; an LRU
_lock = threading.RLock()

CACHE_SIZE = 256   # keys kept in the cache (both modes)
VARIANTS = 4       # guarded variants kept per key
transforms = 0     # derivatives generated so far, both modes (tests count them)


@dataclass
class Derivative:
    """A generated derivative: the function, its source text and how to call it.

    Reverse mode: ``fn(*args, <seed>=1.0)``; mode 'call' has ``fwd``/``bwd`` instead of ``fn``.
    Forward mode: ``fn(*args, **{tangent_names[i]: tangent})``."""

    fn: object
    source: str
    seed: object                  # the seed keyword (reverse mode), else None
    params: list
    ret_name: str
    wrt_names: list
    stages: dict = field(default_factory=dict)   # the code after each front-end step, if asked
    fwd: object = None
    bwd: object = None
    tangent_names: list = None
    pending: object = None        # the Pending callers saw while it was built
    guard: object = None          # guard(fn): is this still the derivative of fn? (guards.py)
    root: object = None           # the function it was generated from (and is bound to)
    kw_extra: dict = field(default_factory=dict)   # keyword defaults it adds to the user's (the seed)


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
    for f in (d.fn, d.fwd, d.bwd):
        if f is not None:
            f.__srcad_guard__ = (d.guard, fn)
    pending, d.pending = d.pending, None
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


def _positional_params(fdef):
    return [a.id for a in fdef.args.posonlyargs + fdef.args.args]


def front_end(fn, stages=None, inlined=False):
    """parse, normalize, restructure: returns (info, norm, body, ret_name). ``inlined``: for a
    helper inlined into its caller, where a body without a return (a method that only sets
    attributes of an object made in the caller, inline.py) returns None, as Python's does."""
    refused = getattr(fn, "__srcad_refused__", None)
    if refused is not None:
        raise TransformError(*refused)
    info = parse_function(fn)
    body, norm = normalize(info)
    if stages is not None:
        stages["normalize"] = body
    if not body or not isinstance(body[-1], gast.Return):
        has_return = any(isinstance(n, gast.Return) for s in body for n in walk(s))
        if not has_return and not inlined:
            raise TransformError(f"{info.name} has no return statement: there is nothing to differentiate",
                                 info.filename, info.lineno, "missing return")
        if not has_return:
            none = norm.namer.fresh("none")
            norm.locals.add(none)
            body = body + [assign(none, gast.Constant(value=None, kind=None), info.lineno)]
            body = body + [at(gast.Return(value=N(none)), info.lineno)]
        else:
            body = body + [at(gast.Return(value=gast.Constant(value=None, kind=None)), info.lineno)]
    body, ret_name = restructure(body, norm.namer, norm.out_name, info.lineno)
    # A result variable restructure made (``out = v`` at each return): once assigned, the code after
    # it is skipped, so it never sees an in-place write (what the alias analysis needs to know).
    norm.result_var = ret_name if ret_name not in norm.locals else None
    require_loop_builtins(info, body, names_in(info.node))
    for s in body:
        for n in walk(s):
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
    if not any(isinstance(n, (gast.For, gast.While)) for s in body for n in walk(s)):
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


FORWARD_MODES = ("jvp", "jvp_call")
"""Modes: 'grad', 'value_and_grad' and 'call' are reverse mode; 'jvp' and 'jvp_call' forward mode.

'call' (the derivative of a helper that is called rather than inlined, for recursion) builds two
functions: ``fwd_<name>(<params>)`` runs the forward sweep once and returns ``(value, tape)``, and
``bwd_<name>(tape, *, d<out>)`` runs the backward sweep over that tape (tape.py). 'jvp_call' is
forward mode for such a helper: its argument ranks are the caller's, and it refuses writes into
the caller's arrays.
"""


def derive(fn, wrt, mode, ranks=None, stages=None):
    """The derivative of ``fn`` in ``mode`` w.r.t. ``wrt`` (positions, and names of keyword-only
    parameters), specialised on the arguments' ``ranks`` where known; cached, guarded."""
    key = (getattr(fn, "__code__", fn), tuple(wrt), mode, ranks)
    with _lock:
        hit = lookup(_cache, key, fn)
        if hit is not None:
            return hit
        return _build(fn, key, stages)


def reverse_derivative(fn, wrt, mode="grad", stages=None, ranks=None):
    """Reverse mode: ``fn(*args, d<out>=1.0)`` returns the gradient(s) (mode 'grad') or
    ``(value, gradient(s))`` (mode 'value_and_grad'); see ``FORWARD_MODES`` for 'call'."""
    return derive(fn, wrt, mode, ranks, stages)


def forward_derivative(fn, wrt, stages=None, ranks=None):
    """Forward mode: ``fn(*args, d<p>=tangent, ...)`` returns ``(value, tangent of value)``;
    ``tangent_names`` lists the keyword of each wrt parameter."""
    return derive(fn, wrt, "jvp", ranks, stages)


def _build(fn, key, stages):
    with guards.recording() as rec:
        d = _generate(fn, key, stages)
    finish(d, fn, rec, {d.seed: 1.0} if d.seed is not None else {})
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


def _sub_derivative(callee, wrt, mode, ranks):
    """The derivative a generated function calls for a helper that is not inlined."""
    sub_key = (callee.__code__, tuple(wrt), mode, ranks)
    sub = lookup(_cache, sub_key, callee) or _building.get((sub_key, callee))
    if sub is None:
        sub = _build(callee, sub_key, None)
    note_call(sub, callee)
    return sub


def _wrt_names(info, wrt):
    fdef = info.node
    params = _positional_params(fdef)
    kwonly = [a.id for a in fdef.args.kwonlyargs]
    for i in wrt:
        if isinstance(i, int) and i >= len(params):
            raise TransformError(f"wrt={i} is out of range: {info.name} has {len(params)} positional "
                                 f"parameters", info.filename, info.lineno, "wrt")
        if isinstance(i, str) and i not in kwonly:
            raise TransformError(f"{info.name} has no keyword-only parameter {i}", info.filename,
                                 info.lineno, "wrt")
    return [i if isinstance(i, str) else params[i] for i in wrt]


def analyze(info, norm, body, wrt_names, forward, ranks, helper, env):
    """The analysis step: ``lst.append(v)`` on a list made here becomes an assignment, the facts
    (analyze.Facts: activity, rules, ranks, aliasing), and ``x = exp(x)`` whose rule reads its
    output split through a temporary (the facts are then those of the split body)."""
    body = appends_as_assignments(body, info, norm.params, env)
    mode = "forward" if forward else "reverse"

    def facts_of(body):
        return Facts(info, body, norm.params, norm.locals, wrt_names, mode=mode, ranks=ranks, helper=helper,
                     result_var=norm.result_var)
    # logsumexp, log-softmax: stop the shift; whole expressions (the ranks: of the body as it is)
    body = shift_invariant(body, info, norm.locals, env, norm.namer, lambda b: facts_of(b).ranks)
    if "scipy.stats" in sys.modules:    # norm(mu, s).logpdf(x) as norm.logpdf(x, mu, s)
        from srcad.rules.scipy_rules import unfreeze
        body = unfreeze(body, info, norm.locals, env)
    facts = facts_of(body)
    body, guarded = guard_truncating_writes(body, facts, wrt_names, norm.locals, env, norm.namer)
    if guarded:     # a float written into an integer array srcad cannot see carries no derivative
        facts = facts_of(body)
    body, split = split_self_reads(body, facts, norm.namer)
    if split:
        # the temporaries are variables like any other: a loop that overwrites one saves it
        # for the backward sweep (``v = np.tanh(v)`` in a loop read the last value before)
        norm.locals |= split
        facts = facts_of(body)
    facts.split_temps = split
    return body, facts


def _generate(fn, key, stages):
    _, wrt, mode, ranks = key
    forward = mode in FORWARD_MODES
    helper = mode in ("call", "jvp_call")
    info, norm, body, ret_name = front_end(fn, stages)
    fdef = info.node
    params = _positional_params(fdef)
    wrt_names = _wrt_names(info, wrt)
    env = codegen.Env(info, norm.namer.taken, norm.locals)
    for name, obj in info.extra.items():   # runtime helpers the front end called (loop_seq)
        env.objects[name] = obj
        env.by_id.setdefault(id(obj), name)
    info.extra = env.objects   # names the generated code adds resolve like the user's
    prefix = "jvp_" if forward else "value_and_grad_" if mode == "value_and_grad" else "grad_"
    gen_name = None if helper and not forward else norm.namer.fresh(prefix + info.name, numbered=False)
    objects = {p: r for p, r in zip(params, ranks or ()) if isinstance(r, ObjectArg)}
    body = inline_calls(body, info, norm, env, front_end, fn, forward, objects)   # both modes (issue 13)
    require_loop_builtins(info, body, ())   # loops of inlined helpers are written in fn's scope
    if stages is not None:
        stages["inline"] = body
    param_ranks = {p: r for p, r in zip(params, ranks or ()) if r is not None and not isinstance(r, ObjectArg)}
    body, facts = analyze(info, norm, body, wrt_names, forward, param_ranks, helper, env)
    # Dask or CuPy arguments (api._ForeignRanks), or complex values made from real ones (a real
    # adjoint would take a complex contribution in place): adjoints accumulate as d = d + e
    facts.in_place = not getattr(ranks, "foreign", False) and not facts.makes_complex
    build = _forward if forward else _reverse
    return build(fn, key, info, norm, body, facts, ret_name, wrt_names, env, gen_name, stages)


SEED = "dout"


def _reverse(fn, key, info, norm, body, facts, ret_name, wrt_names, env, gen_name, stages):
    mode = key[2]

    def derivative_of_call(callee, positions, lineno):
        try:
            sub = _sub_derivative(callee, positions, "call", None)
        except TransformError as err:
            raise called_from(err, info, lineno, callee) from None
        base = callee.__name__.strip("<>")
        fwd_name = env.ref_name("fwd_" + base, sub.fwd)
        bwd_name = env.ref_name("bwd_" + base, sub.bwd)
        return N(fwd_name), N(bwd_name), sub.seed

    rev = Reverse(info, norm, body, facts, ret_name, wrt_names, env, derivative_of_call)
    # The seed keyword is ``dout`` whatever the function's result is called (``dout_1`` only where
    # the function has a variable ``dout``). It is the adjoint of a result variable srcad made; a
    # result the user named keeps its adjoint's name (``dc = seed(dout, c)``).
    seed = norm.namer.fresh(SEED, numbered=SEED in norm.namer.taken)
    if ret_name not in names_in(info.node):
        rev.adjoints[ret_name] = seed
    rev.seed_name = rev.dname(ret_name)
    pending = Pending(seed=seed, fwd=Pending(), bwd=Pending())
    _building[(key, fn)] = pending   # by function too: closures of one code differ
    try:
        fwd, bwd = rev.build()
    finally:
        _building.pop((key, fn), None)
    fwd, bwd, result = rev.returns(mode, fwd, bwd)
    fdef = info.node
    ln = fdef.body[-1].lineno if fdef.body else info.lineno
    if rev.seed_name != seed:
        bwd = _seeded(bwd, rev.seed_name, seed, ln)
    seed_kw = [(seed, gast.Constant(value=1.0, kind=None))]
    if mode == "call":
        fwd = prune_forward(fwd, bwd, gast.Tuple(elts=[result, N(ret_name)], ctx=gast.Load()), facts, env)
        fwd_body, bwd_body, tape_names, tape_var = split_sweeps(info, norm, fwd, bwd, result, ret_name)
        base = info.name.strip("<>")
        fwd_name = norm.namer.fresh("fwd_" + base, numbered=False)
        fwd_fn, fwd_src = codegen.emit(fdef, fwd_name, fwd_body, [], env, info,
                                       f"{fwd_name} of {info.filename}:{info.lineno}", dict(fn.__kwdefaults__ or {}))
        bwd_name = norm.namer.fresh("bwd_" + base, numbered=False)
        bwd_fn, bwd_src = codegen.emit(tape_signature(fdef, tape_var), bwd_name, bwd_body, seed_kw, env, info,
                                       f"{bwd_name} of {info.filename}:{info.lineno}", {seed: 1.0})
        bwd_fn.__defaults__ = None
        if rev.stack is not None and rev.stack in tape_names:
            # Differentiating bwd_<name> again would pop a stack that fwd_<name> filled in another
            # function: the adjoint stacks of the two would not meet. Refused, naming the helper.
            bwd_fn.__srcad_refused__ = (
                f"a derivative of a derivative through {info.name}, which is called rather than inlined "
                "(recursion) and records values on its stack: srcad does not differentiate that again; "
                "a helper that is not recursive is inlined and has no such limit", info.filename, info.lineno,
                "higher-order derivative through a recursive helper")
        for f, p in ((fwd_fn, pending.fwd), (bwd_fn, pending.bwd)):
            _link_pending(f)
            p.resolve(f)
        pending.resolve(None)
        return Derivative(None, fwd_src + "\n" + bwd_src, seed, _positional_params(fdef), ret_name, wrt_names,
                          fwd=fwd_fn, bwd=bwd_fn, pending=pending)
    fwd = prune_forward(fwd, bwd, result, facts, env)
    fwd, bwd = fuse_single_use([fwd, bwd], result, *_fusion_tests(rev, info, env))
    fwd, bwd = free_dead([fwd, bwd], names_in(result), _array_test(rev, facts, key[3]))
    fwd = codegen.note_inlined(fwd, env.inlined)
    body_out = []
    if fwd:
        body_out += [codegen.note("forward sweep")] + fwd
    if bwd:
        body_out += [codegen.note("backward sweep")] + bwd
    body_out.append(at(gast.Return(value=result), ln))
    kw = dict(fn.__kwdefaults__ or {})
    kw[seed] = 1.0
    fnobj, src = codegen.emit(fdef, gen_name, body_out, seed_kw, env, info,
                              f"{gen_name} of {info.filename}:{info.lineno}", kw)
    _link_pending(fnobj)
    pending.resolve(fnobj)
    return Derivative(fnobj, src, seed, _positional_params(fdef), ret_name, wrt_names, stages or {}, pending=pending)


def _seeded(bwd, adjoint, seed, ln):
    """``bwd`` starting from the seed keyword: ``dc = seed(dout, c)`` for ``dc = seed(dc, c)``, else
    ``dc = dout`` first."""
    first = bwd[0] if bwd else None
    if isinstance(first, gast.Assign) and isinstance(first.targets[0], gast.Name) and \
            first.targets[0].id == adjoint and isinstance(first.value, gast.Call) and first.value.args and \
            isinstance(first.value.args[0], gast.Name) and first.value.args[0].id == adjoint:
        first.value.args[0] = N(seed)
        return bwd
    return [at(gast.Assign(targets=[N(adjoint, store=True)], value=N(seed), type_comment=None), ln)] + list(bwd)


def _fusion_tests(rev, info, env):
    """What ``fuse_single_use`` asks: which names srcad made (temporaries and their adjoints, not
    the user's variables or theirs), which calls have no effects (NumPy outside ``np.random``, the
    runtime helpers), which names are adjoints (updated in place only where owned)."""
    user = names_in(info.node)
    primal_of = {d: v for v, d in rev.adjoints.items()}
    # helpers that write into an argument (an owned adjoint, a restored item) are not moved
    writers = {runtime.Stack, runtime.add_at, runtime.pop_at, runtime.restore_item, runtime.owned_tangent}
    helpers = {id(f) for f in runtime.RUNTIME_NAMES.values()} - {id(f) for f in writers}
    helpers |= {id(f) for f in PURE_PATTERN_HELPERS}   # the whole expressions of patterns.py
    # NumPy under the user's own name (``np.tanh`` read from their globals, as written)
    stored = {n.id for n in gast.walk(info.node) if isinstance(n, gast.Name) and not isinstance(n.ctx, gast.Load)}

    def is_numpy(name):
        if name in env.objects:   # srcad's own references (closure cells of the generated code)
            return env.objects[name] is np
        if name in stored or name in info.extra:
            return False
        cell = info.closure.get(name)
        try:
            return (cell.cell_contents if cell is not None else info.globals.get(name)) is np
        except ValueError:   # an empty cell
            return False

    def temporary(name):
        return name not in user and primal_of.get(name, name) not in user

    def pure_call(call):
        f, parts = call.func, []
        while isinstance(f, gast.Attribute):
            parts.append(f.attr)
            f = f.value
        if not isinstance(f, gast.Name):
            return False
        if parts:
            return is_numpy(f.id) and not {"random", "at", "copyto", "put", "place", "putmask",
                                            "fill_diagonal"} & set(parts)
        return id(env.objects.get(f.id)) in helpers

    return temporary, pure_call, lambda name: name in primal_of


def _array_test(rev, facts, ranks):
    """Whether a variable of the derivative may hold an array worth freeing (``free_dead``): its
    rank (an adjoint's is its variable's) where known; in a variant specialised on array arguments,
    also an unknown rank computed by an operation (not a shape, a length or a number)."""
    primal_of = {d: v for v, d in rev.adjoints.items()}
    specialised = any(r for r in ranks or ())

    def is_array(name, value):
        rank = facts.ranks.get(primal_of.get(name, name))
        if rank is not None:
            return rank >= 1
        if not specialised or not isinstance(value, (gast.Call, gast.BinOp, gast.UnaryOp)):
            return False
        func = value.func if isinstance(value, gast.Call) else None
        return not (isinstance(func, gast.Name) and func.id in ("len", "int", "float", "range", "Stack"))
    return is_array


def _forward(fn, key, info, norm, body, facts, ret_name, wrt_names, env, gen_name, stages):
    def derivative_of_call(callee, positions, lineno, arg_ranks=None):
        try:
            sub = _sub_derivative(callee, positions, "jvp_call", arg_ranks)
        except TransformError as err:
            raise called_from(err, info, lineno, callee) from None
        obj = sub if isinstance(sub, Pending) else sub.fn
        name = env.ref_name("jvp_" + callee.__name__.strip("<>"), obj)
        return N(name), sub.tangent_names

    fw = Forward(info, norm, body, facts, ret_name, wrt_names, env, derivative_of_call)
    tangent_names = [fw.dname(w) for w in wrt_names]
    pending = Pending(tangent_names=tangent_names)
    _building[(key, fn)] = pending   # by function too: closures of one code differ
    try:
        code, tangent, ln = fw.build()
    finally:
        _building.pop((key, fn), None)
    result = gast.Tuple(elts=[N(ret_name), tangent], ctx=gast.Load())
    body_out = code + [at(gast.Return(value=result), ln)]
    fdef = info.node
    fnobj, src = codegen.emit(fdef, gen_name, body_out, [(tn, None) for tn in tangent_names], env, info,
                              f"{gen_name} of {info.filename}:{info.lineno}", dict(fn.__kwdefaults__ or {}))
    _link_pending(fnobj)
    pending.resolve(fnobj)
    return Derivative(fnobj, src, None, _positional_params(fdef), ret_name, wrt_names, stages or {},
                      tangent_names=tangent_names, pending=pending)


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
