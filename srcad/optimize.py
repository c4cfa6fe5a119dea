"""Step 7: drop forward-sweep work the derivative does not use.

``grad`` does not return the function's value, so the last operations of the forward sweep often
compute something nobody reads (``out = np.sum(t @ C)``), or something the backward sweep only
needs the *shape* of (``unreduce(dout, t, ...)`` reads ``t.shape``). Working backwards over the
top-level statements of the forward sweep:

* a pure assignment whose target is never read is removed;
* one whose target is only read for its shape is replaced by a stand-in of the same shape: another
  variable known to have that shape (elementwise operations), written in its place where both names
  keep one value throughout (``unreduce(dout, sin_1, None, False)``), or else assigned under a note
  that says what it is; for ``a @ b`` a zero-strided view of the product's shape that allocates
  nothing (``np.broadcast_to(np.empty_like(a, shape=()), (a.shape[0], b.shape[1]))``).

Then ``free_dead`` drops, after the top-level statement that reads them last, the arrays of both
sweeps nobody reads afterwards (``del exp_1, dexp_1``): Python would keep every local alive to the
return, so the peak would hold every temporary of the forward sweep and every adjoint at once.

Statements inside branches and loops, calls with effects (anything without a derivative rule,
``np.random``), stack operations and assignments into arrays are always kept, and everything they
read is live.
"""

import gast
import numpy as np

from srcad import runtime
from srcad.rules import more_helpers, numpy_helpers
from srcad.astutil import N, assign, clone
from srcad.astutil import walk
from srcad.codegen import note, note_text

# runtime helpers whose argument at this position is only used for its shape (and dtype)
_SHAPE_ARG = {"unreduce": 1, "unbroadcast": 1, "grad_like": 1, "zeros_like": 0, "seed": 1,
              "broadcast_like": 1}


def _reads(nodes, env, full, shape):
    """Add to ``full`` / ``shape`` the names read by ``nodes`` in full or only for their shape."""
    helpers = {env.by_id.get(id(runtime.RUNTIME_NAMES[h])): pos for h, pos in _SHAPE_ARG.items()}
    helpers.pop(None, None)

    def visit(node, shape_only=False):
        if isinstance(node, list):
            for n in node:
                visit(n)
            return
        if not isinstance(node, gast.AST):
            return
        if isinstance(node, gast.Name):
            if isinstance(node.ctx, gast.Load):
                (shape if shape_only else full).add(node.id)
            return
        if _shape_read(node, env):   # ``np.shape(v)``, ``v.shape``: v only for its shape
            shape.add((node.args[0] if isinstance(node, gast.Call) else node.value).id)
            return
        if isinstance(node, gast.Call) and isinstance(node.func, gast.Name) and node.func.id in helpers:
            pos = helpers[node.func.id]
            for k, a in enumerate(node.args):
                visit(a, shape_only=(k == pos and isinstance(a, gast.Name)))
            for kw in node.keywords:
                visit(kw.value)
            return
        for f in node._fields:
            visit(getattr(node, f, None))

    visit(nodes)


def _shape_read(node, env):
    if isinstance(node, gast.Attribute) and node.attr == "shape" and isinstance(node.value, gast.Name) and \
            isinstance(node.ctx, gast.Load):
        return True
    return isinstance(node, gast.Call) and len(node.args) == 1 and not node.keywords and \
        isinstance(node.args[0], gast.Name) and isinstance(node.func, gast.Attribute) and \
        node.func.attr == "shape" and isinstance(node.func.value, gast.Name) and \
        node.func.value.id == env.by_id.get(id(np))


def prune_forward(fwd, bwd, result, facts, env):
    """The forward sweep without the work nothing reads (see the module docstring)."""
    full, shape = set(), set()
    _reads(bwd, env, full, shape)
    _reads([result], env, full, shape)
    out, stand_ins = [], []
    for s in reversed(fwd):
        if isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Name) and _pure(s.value, facts):
            t = s.targets[0].id
            if t in full:
                full.discard(t)
                shape.discard(t)
                _reads([s.value], env, full, shape)
                out.append(s)
                continue
            if t in shape:
                shape.discard(t)
                stand_in = _stand_in(t, s.value, facts, env)
                if stand_in is None:
                    _reads([s.value], env, full, shape)
                    out.append(s)
                else:
                    value, shape_reads, what = stand_in
                    shape |= shape_reads
                    new = assign(t, value, s.lineno)
                    out.append(new)
                    stand_ins.append((new, what))
                continue
            continue   # dead: nothing reads it
        _reads([s], env, full, shape)
        out.append(s)
    out.reverse()
    return _place_stand_ins(out, bwd, result, stand_ins)


def _stores(nodes):
    """{name: how many times it is bound} in ``nodes`` (assignments, loop targets, ``del``)."""
    count = {}
    for node in nodes:
        for n in walk(node):
            if isinstance(n, gast.Name) and isinstance(n.ctx, (gast.Store, gast.Del)):
                count[n.id] = count.get(n.id, 0) + 1
    return count


def _place_stand_ins(fwd, bwd, result, stand_ins):
    """Write a same-shape stand-in ``t = a`` in place of ``t`` where both names are bound once (``t``
    is then only read for its shape, and ``a`` has one value wherever ``t`` is read); note the others
    (and the product stand-ins) for the reader: they look like bugs otherwise."""
    if not stand_ins:
        return fwd
    stores = _stores(fwd + list(bwd) + [result])
    position = {id(s): k for k, s in enumerate(fwd)}
    first_store = {}
    for k, s in enumerate(fwd):
        for n in walk(s):
            if isinstance(n, gast.Name) and not isinstance(n.ctx, gast.Load):
                first_store.setdefault(n.id, k)
    loads = {}
    for n in walk(gast.Module(body=fwd + list(bwd) + [gast.Expr(value=result)], type_ignores=[])):
        if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load):
            loads.setdefault(n.id, []).append(n)
    drop = set()
    for stmt, what in reversed(stand_ins):   # in program order: a chain t = a; u = t collapses
        t, value = stmt.targets[0].id, stmt.value
        # ``a`` keeps one value from ``t``'s assignment on: never bound, or bound once before it
        if isinstance(value, gast.Name) and stores.get(t) == 1 and \
                (stores.get(value.id, 0) == 0 or
                 stores[value.id] == 1 and first_store.get(value.id, len(fwd)) < position[id(stmt)]):
            for n in loads.pop(t, ()):
                n.id = value.id
                loads.setdefault(value.id, []).append(n)
            drop.add(id(stmt))
    out = []
    for s in fwd:
        if id(s) in drop:
            continue
        what = next((w for st, w in stand_ins if st is s), None)
        if what is not None:
            out.append(note(f"{s.targets[0].id}: only its shape is read; {what}"))
        out.append(s)
    return out


def _pure(value, facts):
    """No effects beyond the value: arithmetic, attributes, subscripts, containers, rule calls."""
    if isinstance(value, (gast.Name, gast.Constant, gast.BinOp, gast.UnaryOp, gast.Subscript,
                          gast.Tuple, gast.List, gast.Compare)):
        return True
    if isinstance(value, gast.Attribute):
        return True
    if isinstance(value, gast.Call):
        try:
            op = facts.classify(value)
        except Exception:
            return False
        return op.kind == "rule"
    return False


def _stand_in(t, value, facts, env):
    """(expression with ``t``'s shape, names it reads for their shape) or None."""
    for a in _operands(value):
        if isinstance(a, gast.Name) and facts.same_shape(t, a.id):
            return N(a.id), {a.id}, f"{a.id} has that shape"
    if isinstance(value, gast.BinOp) and isinstance(value.op, _ELEMENTWISE_BINOPS) and \
            isinstance(value.left, gast.Name) and isinstance(value.right, gast.Name) and \
            value.left.id == value.right.id:   # x * x: x's shape
        return N(value.left.id), {value.left.id}, f"{value.left.id} has that shape"
    if isinstance(value, gast.Call) and len(value.args) == 1 and not value.keywords and \
            isinstance(value.args[0], gast.Name):
        where = facts.callee(value.func)
        if where.kind == "static" and any(where.obj is f for f in _SHAPE_KEEPING):
            a = value.args[0].id    # np.log(s): s's shape (and a real or complex dtype as s's)
            return N(a), {a}, f"{a} has that shape"
    np_attr = lambda name: gast.Attribute(value=env.ref("np"), attr=name, ctx=gast.Load())  # noqa: E731
    def shape_of(v):   # ``v.shape`` where v is an array made here, else ``np.shape(v)`` (a list argument)
        if (facts.ranks.get(v) or 0) >= 1 and v not in facts.params:
            return gast.Attribute(value=N(v), attr="shape", ctx=gast.Load())
        return gast.Call(func=np_attr("shape"), args=[N(v)], keywords=[])
    if isinstance(value, gast.BinOp) and isinstance(value.op, _ELEMENTWISE_BINOPS) and \
            isinstance(value.left, gast.Name) and isinstance(value.right, gast.Name) and \
            facts.ranks.get(value.left.id) != 0 and facts.ranks.get(value.right.id) != 0 and \
            max(facts.ranks.get(value.left.id) or 0, facts.ranks.get(value.right.id) or 0) >= 1:
        # an elementwise product of arrays (one known to be) whose shapes may differ: their
        # broadcast shape (for numbers, computing the product is cheaper than describing it)
        a, b = value.left.id, value.right.id
        shp = gast.Call(func=np_attr("broadcast_shapes"), args=[shape_of(a), shape_of(b)], keywords=[])
        return _zero_strided(np_attr, N(b), shp), {a, b}, "a view of the broadcast shape that holds no memory"
    if isinstance(value, gast.BinOp) and isinstance(value.op, gast.MatMult):
        a, b = value.left, value.right
    elif isinstance(value, gast.Call) and len(value.args) == 2 and not value.keywords:
        where = facts.callee(value.func)
        if where.kind != "static" or where.obj not in (np.dot, np.matmul):
            return None
        a, b = value.args
    else:
        return None
    if not (isinstance(a, gast.Name) and isinstance(b, gast.Name)):
        return None
    if facts.ranks.get(a.id) != 2 or facts.ranks.get(b.id) != 2:
        return None
    dim = lambda v, k: gast.Subscript(value=gast.Attribute(value=N(v), attr="shape", ctx=gast.Load()),  # noqa: E731
                                      slice=gast.Constant(value=k, kind=None), ctx=gast.Load())
    shp = gast.Tuple(elts=[dim(a.id, 0), dim(b.id, 1)], ctx=gast.Load())
    return _zero_strided(np_attr, N(a.id), shp), {a.id, b.id}, "a view of the product's shape that holds no memory"


_ELEMENTWISE_BINOPS = (gast.Add, gast.Sub, gast.Mult, gast.Div)
# one-input ufuncs whose result has the input's shape, and a float (or complex) dtype like a float
# (or complex) input's: a stand-in of the input serves shape reads and the dtype of an adjoint
_SHAPE_KEEPING = (np.exp, np.log, np.log1p, np.expm1, np.sin, np.cos, np.tan, np.tanh, np.sinh, np.cosh,
                  np.sqrt, np.arctan, np.negative, np.square, np.reciprocal)


def _zero_strided(np_attr, like, shape):
    """``np.broadcast_to(np.empty_like(like, shape=()), shape)``: ``like``'s dtype, ``shape``, no memory."""
    scalar = gast.Call(func=np_attr("empty_like"), args=[like],
                       keywords=[gast.keyword(arg="shape", value=gast.Tuple(elts=[], ctx=gast.Load()))])
    return gast.Call(func=np_attr("broadcast_to"), args=[scalar, shape], keywords=[])


def _operands(value):
    if isinstance(value, gast.BinOp):
        return [value.left, value.right]
    if isinstance(value, gast.UnaryOp):
        return [value.operand]
    if isinstance(value, gast.Call):
        return list(value.args)
    return []


# ---------------------------------------------------------------------- peephole rewrites
# Applied to each adjoint expression the reverse rules splice in (``Backward.adjoint_of``), before
# it is emitted: they see one expression and the ranks the analysis knows, nothing else.


def _num(node):
    return isinstance(node, gast.Constant) and isinstance(node.value, (int, float)) and \
        not isinstance(node.value, bool)


_FOLD = {gast.Add: lambda a, b: a + b, gast.Sub: lambda a, b: a - b, gast.Mult: lambda a, b: a * b}


def _np_call(env, name, args):
    return gast.Call(func=gast.Attribute(value=env.ref("np"), attr=name, ctx=gast.Load()), args=args, keywords=[])


def _shape_of(env, a):
    return _np_call(env, "shape", [a])


# helpers for memory orders, as plain NumPy where the order is the literal 'C' (the default)
_C_ORDER = {
    "reshape_adjoint": lambda env, g, a: _np_call(env, "reshape", [g, _shape_of(env, a)]),
    "reshape_tangent": lambda env, t, a, y: _np_call(env, "reshape", [t, _shape_of(env, y)]),
    "ravel_adjoint": lambda env, g, a: _np_call(env, "reshape", [g, _shape_of(env, a)]),
    "ravel_tangent": lambda env, t, a: _np_call(env, "ravel", [t]),
}


def _plain_order(e, env):
    if not isinstance(e.func, gast.Name) or e.keywords:
        return None
    for name, plain in _C_ORDER.items():
        if env.by_id.get(id(getattr(numpy_helpers, name))) == e.func.id:
            *args, order = e.args
            if isinstance(order, gast.Constant) and order.value == "C":
                return plain(env, *args)
    return None


def _plain_power(e, env, rank_of):
    """``power_slope(x, k)`` for a number ``k`` other than 0 as ``k * x ** (k - 1)`` (folded: ``2 * x``
    for ``x ** 2``); the helper is only needed where the exponent may be 0."""
    if not isinstance(e.func, gast.Name) or e.keywords or len(e.args) != 2:
        return None
    if env.by_id.get(id(more_helpers.power_slope)) != e.func.id:
        return None
    x, k = e.args
    if not _num(k) or k.value == 0:
        return None
    km1 = gast.Constant(value=k.value - 1, kind=None)
    return simplify(gast.BinOp(left=k, op=gast.Mult(), right=gast.BinOp(left=x, op=gast.Pow(), right=km1)),
                    env, rank_of)


def simplify(e, env, rank_of):
    """Peephole rewrites of a spliced derivative expression: constant folding, ``x ** 1`` and
    ``x * 1``, ``unbroadcast(-g, x)`` as ``-unbroadcast(g, x)`` (negate the smaller array), the
    adjoint helpers of products written as plain matrix products where ``rank_of`` (atom -> rank or
    None) knows the operands' ranks, and the memory-order helpers of reshape/ravel as plain NumPy
    for the default order."""
    if isinstance(e, gast.BinOp):
        e.left, e.right = simplify(e.left, env, rank_of), simplify(e.right, env, rank_of)
        l, r = e.left, e.right
        fold = _FOLD.get(type(e.op))
        if _num(l) and _num(r) and fold is not None:
            return gast.Constant(value=fold(l.value, r.value), kind=None)
        if isinstance(e.op, (gast.Pow, gast.Mult)) and _num(r) and r.value == 1:
            return l
        return e
    if isinstance(e, gast.UnaryOp):
        e.operand = simplify(e.operand, env, rank_of)
        return e
    if isinstance(e, gast.Call):
        e.args = [simplify(a, env, rank_of) for a in e.args]
        plain = _plain_order(e, env) or _plain_power(e, env, rank_of)
        if plain is not None:
            return plain
        ub = env.by_id.get(id(runtime.unbroadcast))
        if isinstance(e.func, gast.Name) and e.func.id == ub and isinstance(e.args[0], gast.UnaryOp) \
                and isinstance(e.args[0].op, gast.USub):
            e.args[0] = e.args[0].operand
            return gast.UnaryOp(op=gast.USub(), operand=e)
        return _product_adjoint(e, env, rank_of)
    return e


def _product_adjoint(e, env, rank_of):
    """``matmul_adjoint_a(g, a, b)`` and its kin as ``g @ b.T`` (and so on) for ranks 1 and 2."""
    if not isinstance(e.func, gast.Name) or len(e.args) != 3:
        return e
    names = {env.by_id.get(id(getattr(runtime, h))): h for h in
             ("matmul_adjoint_a", "matmul_adjoint_b", "dot_adjoint_a", "dot_adjoint_b")}
    which = names.get(e.func.id)
    if which is None:
        return e
    g, a, b = e.args
    ra, rb = rank_of(a), rank_of(b)
    if ra not in (1, 2) or rb not in (1, 2):
        return e
    np_attr = lambda name: gast.Attribute(value=env.ref("np"), attr=name, ctx=gast.Load())  # noqa: E731
    if ra == 2 and rb == 2:
        # BLAS wants contiguous operands: an adjoint spread by a large reduction is a broadcast
        # view, which np.matmul would otherwise multiply on its slow path (`contiguous` leaves a
        # Dask or CuPy array as it is)
        g = gast.Call(func=env.ref("contiguous"), args=[g], keywords=[])
    T = lambda v: gast.Attribute(value=v, attr="T", ctx=gast.Load())  # noqa: E731
    mm = lambda u, v: gast.BinOp(left=u, op=gast.MatMult(), right=v)  # noqa: E731
    mul = lambda u, v: gast.BinOp(left=u, op=gast.Mult(), right=v)  # noqa: E731
    outer = lambda u, v: gast.Call(func=np_attr("outer"), args=[u, v], keywords=[])  # noqa: E731
    if which.endswith("_a"):
        table = {(2, 2): lambda: mm(g, T(b)), (1, 2): lambda: mm(b, g),
                 (2, 1): lambda: outer(g, b), (1, 1): lambda: mul(g, b)}
    else:
        table = {(2, 2): lambda: mm(T(a), g), (1, 2): lambda: outer(a, g),
                 (2, 1): lambda: mm(T(a), g), (1, 1): lambda: mul(g, a)}
    return table[ra, rb]()


def strip_unbroadcast(e, env):
    """``unbroadcast(g, x)`` as ``g``, where the output cannot be larger than ``x``."""
    ub = env.ref_name("unbroadcast")
    if isinstance(e, gast.Call) and isinstance(e.func, gast.Name) and e.func.id == ub:
        return e.args[0]
    return e


# ---------------------------------------------------------------------- freeing dead arrays


def free_dead(sections, keep, is_array):
    """``sections`` (lists of top-level statements run one after another: the two sweeps) with
    ``del a, b`` after the statement that reads ``a`` and ``b`` last.

    Only names bound by a top-level assignment before that statement (so certainly bound there),
    that ``is_array(name, value it is first bound to)`` says may hold an array, and not in ``keep``
    (what the function returns); nothing after the last statement, where the return frees everything.
    """
    stmts = [s for sec in sections for s in sec]
    bound, last = {}, {}
    for i, s in enumerate(stmts):
        for n in walk(s):
            if isinstance(n, gast.Name):
                last[n.id] = i
        if isinstance(s, gast.Assign):
            for t in s.targets:
                for n in ([t] if isinstance(t, gast.Name) else getattr(t, "elts", [])):
                    if isinstance(n, gast.Name) and n.id not in bound:
                        bound[n.id] = (i, s.value if t is n else None)
    dead = {}
    for name, i in last.items():
        if name in keep or name not in bound or bound[name][0] > i or i >= len(stmts) - 1:
            continue
        if not is_array(name, bound[name][1]):
            continue
        dead.setdefault(i, []).append(name)
    out, i = [], 0
    for sec in sections:
        new = []
        for s in sec:
            new.append(s)
            if i in dead:
                new.append(gast.Delete(targets=[gast.Name(id=n, ctx=gast.Del(), annotation=None, type_comment=None)
                                                for n in sorted(dead[i])]))
            i += 1
        out.append(new)
    return out


# ---------------------------------------------------------------------- single-use temporaries

_FUSE_LIMIT = 24   # nodes a statement may grow to by taking in a temporary


def _size(node):
    return sum(1 for _ in walk(node))


def _pure_expr(value, pure_call):
    for n in walk(value):
        if isinstance(n, (gast.Lambda, gast.NamedExpr, gast.Yield, gast.YieldFrom, gast.Await)):
            return False
        if isinstance(n, gast.Call) and not pure_call(n):
            return False
    return True


def _writes(stmt, fusable_aug, pure_call, lists=()):
    """The names ``stmt`` binds, or None where it may change memory in ways not seen by name
    (``s[i] = v`` into one of ``lists``, which no other name reaches: ``s``)."""
    if type(stmt) is gast.Assign and all(isinstance(t, gast.Name) for t in stmt.targets) and \
            _pure_expr(stmt.value, pure_call):
        return {t.id for t in stmt.targets}
    if type(stmt) is gast.Assign and len(stmt.targets) == 1 and isinstance(stmt.targets[0], gast.Subscript) and \
            isinstance(stmt.targets[0].value, gast.Name) and stmt.targets[0].value.id in lists and \
            _pure_expr(stmt.value, pure_call) and _pure_expr(stmt.targets[0].slice, pure_call):
        return {stmt.targets[0].value.id}
    if isinstance(stmt, gast.AugAssign) and isinstance(stmt.target, gast.Name) and fusable_aug(stmt.target.id):
        return {stmt.target.id}
    if isinstance(stmt, gast.Delete):
        return {t.id for t in stmt.targets if isinstance(t, gast.Name)}
    return None


def fuse_single_use(sections, result, temporary, pure_call, owned):
    """Write a temporary read once, by a later simple statement of the same run, into that read
    (``dmul_2 = dmul_1 * sin_1 * exp_1`` for ``dexp_1 = dmul_1 * sin_1; dmul_2 = dexp_1 * exp_1``).

    ``temporary(name)``: a name srcad made (not the user's, whose names stay); ``pure_call(call)``:
    a call without effects; ``owned(name)``: an adjoint updated in place (``dx += v``) only in its
    own memory. The value moves only past plain assignments that rebind none of the names it
    reads, so it is computed from the same values, in the same order of operations; NumPy then
    reuses a large intermediate in place (its temporary elision) where a named one stayed alive.
    A statement grows to at most ``_FUSE_LIMIT`` nodes. Linear in the code's size but for the
    statements a value moves past.
    """
    sections = propagate_copies(sections, result, temporary, pure_call, owned)
    sections = _fuse_run(sections, result, temporary, pure_call, owned)
    _fuse_loop_bodies(sections, result, temporary, pure_call, owned)
    return sections


def _fuse_loop_bodies(sections, result, temporary, pure_call, owned):
    """``fuse_single_use`` in the body of every loop (``p = p * x + c_items[i]`` for ``mul_1 = p * x;
    elt_1 = c_items[i]; ...; p = mul_1 + elt_1``): a temporary bound once in the whole derivative,
    read once, later in the same pass of the same body (not by an earlier statement of the body,
    which would read the previous pass's value, nor outside the loop). A store into a list srcad
    made for its saves (``stack_p[i] = p``, buffers.py, which nothing else names) writes that list
    only."""
    lists = _private_lists([s for sec in sections for s in sec])
    loops = [n for sec in sections for s in sec for n in gast.walk(s) if isinstance(n, (gast.For, gast.While))]
    for loop in loops:
        body = loop.body
        loop.body = []
        try:
            rest = gast.Module(body=[s for sec in sections for s in sec] + [gast.Expr(value=result)], type_ignores=[])
            new = _fuse_run([body], rest, temporary, pure_call, owned, block=True, lists=lists)[0]
        finally:
            loop.body = body
        loop.body = new


def _private_lists(stmts):
    """Names bound once, to ``[number] * n``, and otherwise only subscripted (``s[i]``, ``s[i] = v``):
    lists no other name can reach."""
    made, other = {}, set()
    for s in stmts:
        for n in gast.walk(s):
            if isinstance(n, gast.Assign) and len(n.targets) == 1 and isinstance(n.targets[0], gast.Name) and \
                    isinstance(n.value, gast.BinOp) and isinstance(n.value.op, gast.Mult) and \
                    isinstance(n.value.left, gast.List) and len(n.value.left.elts) == 1 and \
                    isinstance(n.value.left.elts[0], gast.Constant):
                made[n.targets[0].id] = made.get(n.targets[0].id, 0) + 1
    subscripted = set()
    for s in stmts:
        for n in gast.walk(s):
            if isinstance(n, gast.Subscript) and isinstance(n.value, gast.Name):
                subscripted.add(id(n.value))
    for s in stmts:
        for n in gast.walk(s):
            if isinstance(n, gast.Name) and id(n) not in subscripted and (isinstance(n.ctx, gast.Load) or
                                                                       isinstance(n.ctx, gast.Del)):
                other.add(n.id)
    return {name for name, k in made.items() if k == 1 and name not in other}


def _fuse_run(sections, result, temporary, pure_call, owned, block=False, lists=()):
    """``fuse_single_use`` over one run of statements (``block``: a loop's body, ``result`` the
    rest of the derivative)."""
    stmts = [s for sec in sections for s in sec] + [result]
    last = len(stmts) - 1            # the result expression, read after every statement
    where = [k for k, sec in enumerate(sections) for _ in sec]
    loads, stores, first_store, at, load_at = {}, {}, {}, {}, {}
    for j, s in enumerate(stmts):
        for n in walk(s):
            if isinstance(n, gast.Name):
                at.setdefault(n.id, set()).add(j)
                if isinstance(n.ctx, gast.Load):
                    loads[n.id] = loads.get(n.id, 0) + 1
                    load_at.setdefault(n.id, set()).add(j)
                else:
                    stores[n.id] = stores.get(n.id, 0) + 1
                    first_store.setdefault(n.id, j)
    memo = []

    def writes_memory():   # computed once, where a cheap value asks
        if not memo:
            memo.append(_writes_memory(stmts[:last], owned))
        return memo[0]

    def bound_once_before(name, i):
        n = stores.get(name, 0)
        return n == 0 or (n == 1 and first_store[name] < i)

    def moved(t, value, into):
        for name in names_read_expr(value):
            at.setdefault(name, set()).update(into)

    dropped = set()
    for i, s in enumerate(stmts[:last]):
        if not (type(s) is gast.Assign and len(s.targets) == 1 and isinstance(s.targets[0], gast.Name)):
            continue
        t = s.targets[0].id
        if not temporary(t) or stores.get(t) != 1:
            continue
        if block and any(j <= i or j == last for j in load_at.get(t, ())):
            continue     # read by an earlier statement of the body (the last pass's value), or outside
        reads_at = sorted(j for j in at.get(t, ()) if j > i)
        if _rematerialise(s.value, [stmts[j] for j in reads_at if j != last], t, writes_memory,
                          lambda name, i=i: bound_once_before(name, i)):
            # another name for one value, or a cheap operation on values bound once: written
            # where it is read, so no name holds it from the forward sweep to the backward one
            for j in reads_at:
                _replace_name(stmts[j], t, s.value, every=True)
            moved(t, s.value, reads_at)
            dropped.add(i)
            continue
        if loads.get(t) != 1 or not reads_at or reads_at[0] == last or not _pure_expr(s.value, pure_call):
            continue
        j = reads_at[0]
        use = stmts[j]
        if not isinstance(use, (gast.Assign, gast.AugAssign)) or _size(use) + _size(s.value) - 1 > _FUSE_LIMIT:
            continue
        if type(use) is gast.Assign and isinstance(use.value, gast.Name) and \
                isinstance(use.targets[0], gast.Name) and temporary(use.targets[0].id):
            continue   # ``u = t``: u is the other name, written as t where it is read (t's name stays)
        if _may_move_past([stmts[k] for k in range(i + 1, j) if k not in dropped], names_read_expr(s.value),
                          owned, pure_call, lists):
            _replace_name(use, t, s.value)
            moved(t, s.value, [j])
            dropped.add(i)
    for i in sorted(dropped):   # a stand-in's note goes with it
        if i > 0 and _is_note_on(stmts[i - 1], stmts[i].targets[0].id):
            dropped.add(i - 1)
    out = [[] for _ in sections]
    for i, s in enumerate(stmts[:last]):
        if i not in dropped:
            out[where[i]].append(s)
    return out


def propagate_copies(sections, result, temporary, pure_call, owned):
    """Drop ``t = a`` (``t`` a temporary bound nowhere else, ``a`` a name) and read ``a`` where ``t``
    is read, in every block of the derivative (loop bodies too: ``dmul_1 = dp; delt_1 = dp``).

    After ``t = a`` both names hold one object until ``a`` is bound again (a write into that
    object changes it under either name), so the reads of ``t`` may read ``a`` where every one of
    them comes later in the copy's own block, before any statement that binds ``a`` again (or in
    that statement's value, where it is a plain assignment). A plain assignment to ``a`` that
    comes too early moves down past the reads where nothing in between reads what it writes or
    writes what it reads (``dp = dmul_1 * x; dx += dmul_1 * p``: the two swap)."""
    stmts = [s for sec in sections for s in sec]
    stores, loads = {}, {}
    for n in walk(gast.Module(body=stmts + [gast.Expr(value=result)], type_ignores=[])):
        if isinstance(n, gast.Name):
            table = loads if isinstance(n.ctx, gast.Load) else stores
            table[n.id] = table.get(n.id, 0) + 1
    dropped = set()

    def reads_of(node, name):
        return sum(1 for n in walk(node) if isinstance(n, gast.Name) and n.id == name
                   and isinstance(n.ctx, gast.Load))

    def binds(node, name):
        return any(isinstance(n, gast.Name) and n.id == name and not isinstance(n.ctx, gast.Load)
                   for n in walk(node))

    def plain(s, a):   # ``a = value`` with a pure value that does not read ``a``
        return type(s) is gast.Assign and len(s.targets) == 1 and isinstance(s.targets[0], gast.Name) and \
            s.targets[0].id == a and _pure_expr(s.value, pure_call) and not binds(s.value, a)

    def sink(body, j, t, left, a):
        """Move ``body[j]`` (``a = value``) after the statement with the last read of ``t``."""
        if not plain(body[j], a):
            return False
        reads = names_read_expr(body[j].value) | {a}
        for k in range(j + 1, len(body)):
            w = _writes(body[k], owned, pure_call)
            if w is None or w & reads or reads_of(body[k], a) or binds(body[k], t):
                return False
            left -= reads_of(body[k], t)
            if left == 0:
                body.insert(k, body.pop(j))
                return True
        return False

    def uses_of(body, i, t, a):
        """The indices of the statements after ``i`` that read ``t``, or None."""
        left, uses = loads[t], []
        j = i + 1
        while j < len(body):
            k = reads_of(body[j], t)
            if binds(body[j], a):
                # the last read may sit in the value of a plain assignment that binds ``a``
                if left == k and k and type(body[j]) in (gast.Assign, gast.AugAssign) and \
                        not binds(body[j].value, a) and not any(
                            isinstance(x, gast.Name) and x.id == t for tg in
                            (body[j].targets if type(body[j]) is gast.Assign else [body[j].target])
                            for x in walk(tg)):
                    return uses + [j]
                if not sink(body, j, t, left - k, a):
                    return None
                continue   # another statement is at j now (this one comes later)
            if k:
                uses.append(j)
                left -= k
                if left == 0:
                    return uses
            j += 1
        return None

    def block(body):
        for s in body:
            for field in ("body", "orelse"):
                sub = getattr(s, field, None)
                if isinstance(sub, list):
                    block(sub)
        i = 0
        while i < len(body):
            s = body[i]
            i += 1
            if not (type(s) is gast.Assign and len(s.targets) == 1 and isinstance(s.targets[0], gast.Name)
                    and isinstance(s.value, gast.Name)):
                continue
            t, a = s.targets[0].id, s.value.id
            if t == a or not temporary(t) or stores.get(t) != 1 or not loads.get(t):
                continue
            uses = uses_of(body, i - 1, t, a)
            if not uses:
                continue
            for j in uses:
                _replace_name(body[j], t, N(a), every=True)
                u = body[j]
                if type(u) is gast.Assign and len(u.targets) == 1 and isinstance(u.targets[0], gast.Name) and \
                        isinstance(u.value, gast.Name) and u.value.id == u.targets[0].id:
                    dropped.add(id(u))   # ``a = a``: nothing to do
            loads[a] = loads.get(a, 0) + loads.pop(t)   # (an ``a = a`` dropped leaves a count too many:
            dropped.add(id(s))                          # a later copy of ``a`` is then kept)
            if i >= 2 and _is_note_on(body[i - 2], t):   # a stand-in's note goes with it
                dropped.add(id(body[i - 2]))
            stores[t] -= 1

    def rebuilt(body):
        out = []
        for s in body:
            if id(s) in dropped:
                continue
            for field in ("body", "orelse"):
                sub = getattr(s, field, None)
                if isinstance(sub, list) and sub:
                    setattr(s, field, rebuilt(sub) or ([gast.Pass()] if field == "body" else []))
            out.append(s)
        return out

    sizes = [len(sec) for sec in sections]
    block(stmts)
    if not dropped:
        return sections
    # statements move only within their block: each section keeps its length at the top level
    out, k = [], 0
    for n in sizes:
        out.append(rebuilt(stmts[k:k + n]))
        k += n
    return out


def _is_note_on(stmt, name):
    return (note_text(stmt) or "").startswith(name + ":")


_MUTATING_METHODS = {"fill", "sort", "put", "resize", "itemset", "setfield", "partition", "byteswap"}


def _writes_memory(stmts, owned):
    """Whether ``stmts`` may write into an array other than an owned adjoint: an assignment into
    an element or attribute, ``y op= v`` on an array (``InPlaceAssign``), a helper or method that
    writes in place. Recomputing ``-x`` later is exact only where nothing can change ``x``'s
    memory in between."""
    for s in stmts:
        for n in walk(s):
            if isinstance(n, (gast.Subscript, gast.Attribute)) and isinstance(n.ctx, gast.Store):
                return True
            if isinstance(n, gast.Assign) and type(n) is not gast.Assign:
                return True
            if isinstance(n, gast.AugAssign) and not (isinstance(n.target, gast.Name) and owned(n.target.id)):
                return True
            if isinstance(n, gast.Call):
                f = n.func
                if isinstance(f, gast.Attribute) and f.attr in _MUTATING_METHODS:
                    return True
                if isinstance(f, gast.Name) and f.id.startswith(("restore_item", "copyto")):
                    return True
                if isinstance(f, gast.Attribute) and f.attr == "copyto":
                    return True
                if any(k.arg == "out" for k in n.keywords):
                    return True
    return False


def _may_move_past(stmts, reads, owned, pure_call, lists=()):
    """Whether a pure value reading ``reads`` gives the same result after ``stmts``."""
    for s in stmts:
        w = _writes(s, owned, pure_call, lists)
        if w is None or w & reads:
            return False
    return True


def _rematerialise(value, reads, t, writes_memory, bound_once):
    """``value`` is a name bound once (or never: a parameter), or a negation or an operation with a
    number of one (where nothing writes into arrays in place), read (as ``t``) at most three times
    and only by top-level assignments (``reads``: the statements that read ``t``)."""
    if isinstance(value, gast.UnaryOp) and isinstance(value.op, gast.USub):
        operand, cheap = value.operand, True
    elif isinstance(value, gast.BinOp) and isinstance(value.op, (gast.Mult, gast.Add, gast.Sub)) and \
            (_num(value.left) or _num(value.right)):
        operand, cheap = value.right if _num(value.left) else value.left, True
    else:
        operand, cheap = value, False
    if not isinstance(operand, gast.Name) or not bound_once(operand.id):
        return False
    if not cheap:
        return True
    if not reads or not all(isinstance(s, (gast.Assign, gast.AugAssign)) for s in reads) or writes_memory():
        return False
    return sum(1 for s in reads for x in walk(s) if isinstance(x, gast.Name) and x.id == t) <= 3


def names_read_expr(value):
    return {n.id for n in walk(value) if isinstance(n, gast.Name)}


def _replace_name(tree, name, value, every=False):
    """Put ``value`` where ``tree`` reads ``name`` (the first read, or a copy at every read)."""
    for node in list(walk(tree)):
        for field in node._fields:
            v = getattr(node, field, None)
            items = v if isinstance(v, list) else [v]
            for k, item in enumerate(items):
                if isinstance(item, gast.Name) and item.id == name and isinstance(item.ctx, gast.Load):
                    new = clone(value) if every else value
                    if isinstance(v, list):
                        v[k] = new
                    else:
                        setattr(node, field, new)
                    if not every:
                        return
