"""Scalar loops in Python floats: element reads of a read-only float64 array (reverse mode).

``c[i]`` of a NumPy array is an ``np.float64``, and arithmetic on NumPy scalars is several times
slower than on Python floats (Horner's rule ``p = p * x + c[i]`` spends most of its time there).
Where a loop reads elements of a 1-D array parameter that nothing rebinds or writes into, the
derivative reads them through ``c_items = float_list(c)`` (``c.tolist()`` of a float64 array:
Python floats, read faster than through a ``memoryview``; any other array or value is left as it
is, so float32 and integer arithmetic keep NumPy's meaning). An adjoint array added into one
element at a time is written through ``float_items`` (a ``memoryview``: no copy).

A Python float and an ``np.float64`` of the same value agree under ``+``, ``-``, ``*``, unary
``-``, comparisons used as decisions, ``abs``/``min``/``max``, NumPy calls (which return NumPy
values either way), typed stacks (which give back Python floats either way) and stores into
arrays. They differ under ``/``, ``//``, ``%``, ``**`` and ``divmod`` (Python raises where NumPy
returns inf or nan), attributes (``.shape``), comparison results kept as values (``bool`` against
``np.bool_``), containers and the value returned. So the values that may now be Python floats
(the elements, and what ``+``/``-``/``*`` make of them, through assignments and plain stacks, in
both sweeps) are followed, and an element whose values reach anything else is read as before.
"""

import gast

from srcad.astutil import N, assign, walk_stmts
from srcad.astutil import walk

_CARRY = (gast.Add, gast.Sub, gast.Mult)
_PASS_BUILTINS = {"abs", "min", "max"}            # a float in, that float (or its like) out
_SAFE_BUILTINS = {"float", "int", "bool"}        # the same value either way


def python_floats(fwd, bwd, result, facts, env, namer, params, adjoints, seed=None, value=None):
    """``fwd`` with ``c_items = float_list(c, ...)`` first where element reads of ``c`` (in either
    sweep, changed in place) may give Python floats (see the module docstring). ``seed``: (the
    adjoint the backward sweep starts from, the keyword that holds its first value) or None;
    ``value``: the part of ``result`` that is the function's value (``value_and_grad``)."""
    stmts = list(walk_stmts(list(fwd) + list(bwd)))
    candidates = _candidates(fwd, bwd, facts, params)
    sums = _element_sums(bwd, stmts, facts, adjoints)
    if not candidates and not sums:
        return fwd
    module = gast.Module(body=list(fwd) + list(bwd) + [gast.Expr(value=result)], type_ignores=[])
    parents = {id(c): n for n in walk(module) for c in gast.iter_child_nodes(n)}
    typed = _typed_stacks(stmts, env)
    np_name = env.by_id.get(id(_numpy()))
    arrays = {name: facts.ranks.get(adjoints.get(name, name)) for name in _stored(stmts)}
    restored = _restored_reads([fwd, bwd], typed)
    # numbers whose first value is checked when the derivative runs (float_items' ``scalars``)
    stored = _stored(stmts)
    checked = {p: p for p in params if facts.ranks.get(p) == 0 and p not in stored}
    if seed is not None and facts.ranks.get(adjoints.get(seed[0])) == 0:
        checked[seed[0]] = seed[1]
    fine = _fine_names(stmts, set(candidates) | _plain_floats(stmts, typed, facts), set(checked), restored, typed)
    keep = {}
    for t, reads in candidates.items():
        floats = _closure({t}, stmts, typed, restored)
        if _safe(floats, module, parents, result, value, np_name, arrays, fine, restored):
            keep[t] = reads
    meets = sorted({checked[n] for n in checked if n in fine})
    # ``dc[i] += g`` of numbers g that promote as np.float64 does: through a float view of dc
    for k, (d, adds) in sorted(sums.items(), reverse=True):
        if all(_fine_expr(a.value, fine, restored) for a in adds):
            view = namer.fresh(d + "_items", numbered=False)
            for a in adds:
                a.target.value = N(view)
            call = gast.Call(func=env.ref("float_items"), args=[N(d)] + [N(m) for m in meets], keywords=[])
            _written_once(bwd, k, d, adds, env)
            bwd.insert(k + 1, assign(view, call, getattr(bwd[k], "lineno", None)))
    if not keep:
        return fwd
    items = {}
    for t, reads in sorted(keep.items()):
        for sub in reads:
            a = sub.value.id
            if a not in items:
                items[a] = namer.fresh(a + "_items", numbered=False)
            sub.value = N(items[a])
    lineno = getattr(fwd[0], "lineno", None) if fwd else None
    made = [assign(v, gast.Call(func=env.ref("float_list"), args=[N(a)] + [N(m) for m in meets],
                                keywords=[]), lineno)
            for a, v in sorted(items.items())]
    # after the stacks are made (the first statements), before anything reads an element
    k = 0
    while k < len(fwd) and _makes_stack(fwd[k], env):
        k += 1
    return list(fwd[:k]) + made + list(fwd[k:])


def exact_stacks(fwd, bwd, result, env, params):
    """Make plain (``Stack()``) every typed stack of numbers whose pops, Python floats or ints where
    the function had NumPy scalars, reach an operation Python does otherwise: ``/``, ``//``, ``%``,
    ``**``, ``divmod`` (``ZeroDivisionError``, ``OverflowError``, a complex power where NumPy gives
    inf or nan), a call other than NumPy's (``power_slope``), an attribute, a value kept. An
    operation is left as it is where its other operand is an ``np.float64`` whenever the arguments
    are (a parameter, or what NumPy or arithmetic makes of one): that operand decides it. A plain
    stack gives back what was pushed, so the derivative computes with the function's own values.
    Changes ``fwd`` in place (the ``Stack(...)`` calls); returns the names of the stacks made plain."""
    kinds = {env.by_id.get(id(float)), env.by_id.get(id(int))} - {None}
    makers = {s.targets[0].id: s for s in fwd if _makes_stack(s, env) and len(s.value.args) == 1 and
              isinstance(s.value.args[0], gast.Name) and s.value.args[0].id in kinds}
    plain = set()
    if not makers:
        return plain
    stmts = list(walk_stmts(list(bwd)))
    module = gast.Module(body=list(bwd) + [gast.Expr(value=result)], type_ignores=[])
    parents = {id(c): n for n in gast.walk(module) for c in gast.iter_child_nodes(n)}
    result_ids = {id(n) for n in gast.walk(result)}
    stored = _stored(list(walk_stmts(list(fwd) + list(bwd))))
    inputs = {p for p in params if p not in stored}
    np_name = env.by_id.get(id(_numpy()))
    typed = _typed_stacks(stmts + list(fwd), env)
    for st in sorted(makers):
        popped = {s.targets[0].id for s in stmts if isinstance(s, gast.Assign) and len(s.targets) == 1 and
                  isinstance(s.targets[0], gast.Name) and isinstance(s.value, gast.Call) and
                  isinstance(s.value.func, gast.Attribute) and s.value.func.attr == "pop" and
                  isinstance(s.value.func.value, gast.Name) and s.value.func.value.id == st}
        floats = _closure(popped, stmts, typed - {st}, frozenset())
        if not _numpy_like_uses(floats, module, parents, result_ids, inputs, np_name):
            makers[st].value.args = []
            plain.add(st)
    return plain


def _numpy_like_uses(floats, module, parents, result_ids, inputs, np_name):
    """Does every read of ``floats`` in the backward sweep (``module``) give what an
    ``np.float64`` in its place would (see ``exact_stacks``)?"""
    def decided(e):
        """Is ``e`` an ``np.float64`` whenever the (float) arguments are?"""
        if isinstance(e, gast.Name):
            return e.id in inputs
        if isinstance(e, gast.BinOp):
            return decided(e.left) or decided(e.right)
        if isinstance(e, gast.UnaryOp) and isinstance(e.op, (gast.USub, gast.UAdd)):
            return decided(e.operand)
        return isinstance(e, gast.Call) and _numpy_call(e.func, np_name)

    for node in gast.walk(module):
        if not (isinstance(node, gast.Name) and isinstance(node.ctx, gast.Load) and node.id in floats):
            continue
        cur = node
        while True:
            p = parents.get(id(cur))
            if id(cur) in result_ids and p is None or isinstance(p, gast.Expr) and p.value is cur:
                break              # a gradient handed back (the same number), or a statement's value
            if isinstance(p, gast.BinOp):
                if not isinstance(p.op, _CARRY) and not decided(p.right if cur is p.left else p.left):
                    return False
                cur = p
                continue
            if isinstance(p, gast.UnaryOp) or isinstance(p, gast.BoolOp) or \
                    isinstance(p, gast.IfExp) and cur is not p.test:
                cur = p
                continue
            if isinstance(p, gast.IfExp) or isinstance(p, (gast.If, gast.While)) and cur is p.test:
                break              # a decision: the same
            if isinstance(p, gast.Compare):
                q = parents.get(id(p))
                while isinstance(q, gast.BoolOp) or isinstance(q, gast.UnaryOp) and isinstance(q.op, gast.Not):
                    q = parents.get(id(q))
                if isinstance(q, (gast.If, gast.While, gast.IfExp)):
                    break
                return False       # a bool kept where NumPy gave np.bool_
            if isinstance(p, gast.Call) and cur is not p.func:
                f = p.func
                if isinstance(f, gast.Attribute) and f.attr == "append" and isinstance(f.value, gast.Name):
                    break          # pushed: that stack's pops are followed (_closure)
                if isinstance(f, gast.Name) and f.id in _PASS_BUILTINS:
                    cur = p
                    continue
                if _numpy_call(f, np_name) or isinstance(f, gast.Name) and f.id in _SAFE_BUILTINS:
                    break
                return False
            if isinstance(p, gast.Subscript) and cur is p.slice:
                break              # an index (an int)
            if isinstance(p, (gast.Assign, gast.AugAssign)) and cur is p.value:
                break              # followed by _closure (into an array element: converted)
            if isinstance(p, gast.Tuple) and id(p) in result_ids:
                break
            return False
    return True


def _written_once(bwd, k, d, adds, env):
    """``d[i] += g`` -> ``d[i] = 0.0 + g`` where ``d = zeros_like(...)`` (``bwd[k]``) takes that one
    add, in the body of a loop ``for i in range(n)`` (or ``reversed(range(n))``) of ``bwd``'s top
    level, and nothing else names ``d`` until that loop ends: each element is added into once,
    while it still holds the zero (``0.0 + g``, not ``g``: a -0.0 becomes 0.0 as before). A read
    of the element fewer per pass."""
    made = bwd[k].value
    if len(adds) != 1 or not isinstance(adds[0].op, (gast.Add, gast.Sub)) or not (
            isinstance(made, gast.Call) and isinstance(made.func, gast.Name) and
            made.func.id == env.by_id.get(id(_runtime().zeros_like))):
        return
    add = adds[0]
    for m in range(k + 1, len(bwd)):
        loop = bwd[m]
        if isinstance(loop, gast.For) and any(s is add for s in loop.body):
            break
        if any(isinstance(n, gast.Name) and n.id == d for n in gast.walk(loop)):
            return
    else:
        return
    it = loop.iter
    if isinstance(it, gast.Call) and isinstance(it.func, gast.Name) and it.func.id == "reversed" and len(it.args) == 1:
        it = it.args[0]
    v = loop.target.id if isinstance(loop.target, gast.Name) else None
    if not (isinstance(it, gast.Call) and isinstance(it.func, gast.Name) and it.func.id == "range" and
            len(it.args) == 1 and not it.keywords and isinstance(add.target.slice, gast.Name) and
            add.target.slice.id == v) or loop.orelse:
        return
    if any(isinstance(n, gast.Name) and (n.id == d or n.id == v and not isinstance(n.ctx, gast.Load))
           for s in loop.body for n in gast.walk(s)):
        return
    k_add = loop.body.index(add)
    once = gast.Assign(targets=[add.target], value=gast.BinOp(left=gast.Constant(value=0.0, kind=None), op=add.op,
                                                             right=add.value), type_comment=None)
    if hasattr(add, "lineno"):
        once.lineno = add.lineno
    loop.body[k_add] = once


def _runtime():
    from srcad import runtime
    return runtime


def _numpy():
    import numpy
    return numpy


def _makes_stack(s, env):
    return isinstance(s, gast.Assign) and isinstance(s.value, gast.Call) and \
        isinstance(s.value.func, gast.Name) and s.value.func.id == env.ref_name("Stack")


def _stored(stmts):
    return {n.id for s in stmts for n in walk(s) if isinstance(n, gast.Name) and not isinstance(n.ctx, gast.Load)}


def _candidates(fwd, bwd, facts, params):
    """{element variable: [its ``c[i]`` reads]}: ``t = c[i]`` inside a loop, ``c`` a 1-D array
    parameter nothing rebinds or writes into (through any name), ``i`` an integer, ``t`` a number."""
    everything = list(fwd) + list(bwd)
    stored = _stored(list(walk_stmts(everything)))
    shares = facts.aliasing.shares
    found, bad = {}, set()

    def visit(block, in_loop):
        for s in block:
            if isinstance(s, (gast.For, gast.While)):
                visit(s.body, True)
                visit(s.orelse, in_loop)
                continue
            if isinstance(s, gast.If):
                visit(s.body, in_loop)
                visit(s.orelse, in_loop)
                continue
            if not (isinstance(s, gast.Assign) and len(s.targets) == 1 and isinstance(s.targets[0], gast.Name)):
                continue
            t, v = s.targets[0].id, s.value
            if not (isinstance(v, gast.Subscript) and isinstance(v.value, gast.Name)):
                continue
            a, i = v.value.id, v.slice
            ok = in_loop and a in params and a not in stored and facts.ranks.get(a) == 1 and \
                facts.ranks.get(t) == 0 and a not in facts.mutated and \
                not (set(shares.get(a, ())) & facts.mutated) and a not in facts.containers and \
                _integer(i, facts.int_vars)
            if ok:
                found.setdefault(t, []).append(v)
            else:
                bad.add(t)

    visit(everything, False)
    # every definition of the variable must be such a read (in both sweeps)
    stores = {}
    for s in walk_stmts(everything):
        for n in _own_nodes(s):
            if isinstance(n, gast.Name) and not isinstance(n.ctx, gast.Load):
                stores[n.id] = stores.get(n.id, 0) + 1
    return {t: reads for t, reads in found.items() if t not in bad and stores.get(t) == len(reads)}


def _element_sums(bwd, stmts, facts, adjoints):
    """{index in ``bwd``: (d, [``d[i] += g`` statements])} for a 1-D adjoint array ``d`` bound once,
    by a statement of ``bwd``'s top level, and added to one integer index at a time (in place)."""
    stores = {}
    for s in stmts:
        for n in _own_nodes(s):
            if isinstance(n, gast.Name) and not isinstance(n.ctx, gast.Load):
                stores[n.id] = stores.get(n.id, 0) + 1
    adds = {}
    for s in stmts:
        if isinstance(s, gast.AugAssign) and isinstance(s.op, (gast.Add, gast.Sub)) and \
                isinstance(s.target, gast.Subscript) and isinstance(s.target.value, gast.Name) and \
                _integer(s.target.slice, facts.int_vars):
            adds.setdefault(s.target.value.id, []).append(s)
    out = {}
    for k, s in enumerate(bwd):
        if isinstance(s, gast.Assign) and len(s.targets) == 1 and isinstance(s.targets[0], gast.Name):
            d = s.targets[0].id
            if d in adds and d in adjoints and stores.get(d) == 1 and facts.ranks.get(adjoints[d]) == 1:
                out[k] = (d, adds[d])
    return out


def _integer(e, ints):
    """Is the index ``e`` certainly one integer (``i``, ``3``, ``i % n``, ``n - 1 - i``)?"""
    if isinstance(e, gast.Constant):
        return type(e.value) is int
    if isinstance(e, gast.Name):
        return e.id in ints
    if isinstance(e, gast.BinOp) and isinstance(e.op, (gast.Add, gast.Sub, gast.Mult, gast.Mod, gast.FloorDiv)):
        return _integer(e.left, ints) and _integer(e.right, ints)
    if isinstance(e, gast.UnaryOp) and isinstance(e.op, gast.USub):
        return _integer(e.operand, ints)
    return False


def _own_nodes(s):
    """The nodes of statement ``s`` itself, not of the blocks nested in it."""
    for field in s._fields:
        if field in ("body", "orelse", "finalbody", "handlers"):
            continue
        v = getattr(s, field, None)
        for item in (v if isinstance(v, list) else [v]):
            if isinstance(item, gast.AST):
                yield from walk(item)


def _fine_expr(e, fine, restored):
    if isinstance(e, gast.Constant):
        return type(e.value) in (int, float, bool)
    if isinstance(e, gast.Name):
        return e.id in fine or id(e) in restored
    if isinstance(e, gast.BinOp) and isinstance(e.op, _CARRY):
        return _fine_expr(e.left, fine, restored) and _fine_expr(e.right, fine, restored)
    if isinstance(e, gast.UnaryOp) and isinstance(e.op, (gast.USub, gast.UAdd)):
        return _fine_expr(e.operand, fine, restored)
    return False


def _fine_names(stmts, sources, checked, restored, typed):
    """Names whose every value promotes as an ``np.float64`` does (a Python float or int, an
    ``np.float64``, an integer): ``sources`` (the elements, typed pops, integers), ``checked``
    (numbers checked when the derivative runs), and names every definition of which is ``+``,
    ``-`` or ``*`` of such values (the greatest fixpoint: a loop's ``dp = dp * x`` stays)."""
    defs = {}
    for s in stmts:
        for n in _own_nodes(s):
            if isinstance(n, gast.Name) and not isinstance(n.ctx, gast.Load):
                if type(s) is gast.Assign and len(s.targets) == 1 and s.targets[0] is n:
                    value = gast.Constant(value=0.0, kind=None) if _pops_typed(s.value, typed) else s.value
                elif isinstance(s, gast.AugAssign) and s.target is n:
                    value = gast.BinOp(left=gast.Name(id=n.id, ctx=gast.Load(), annotation=None, type_comment=None),
                                       op=s.op, right=s.value)
                else:
                    value = None
                defs.setdefault(n.id, []).append(value)
    fine = set(defs) | set(checked) | set(sources)
    while True:
        drop = {n for n in fine if n not in sources and
                any(v is None or not _fine_expr(v, fine, restored) for v in defs.get(n, ()))}
        if not drop:
            return fine
        fine -= drop


def _plain_floats(stmts, typed, facts):
    """Names that hold Python floats or integers whatever the arguments' types: every definition
    pops a typed stack, or they are integers (loop counters)."""
    defs = {}
    for s in stmts:
        for n in _own_nodes(s):
            if isinstance(n, gast.Name) and not isinstance(n.ctx, gast.Load):
                ok = isinstance(s, gast.Assign) and isinstance(s.value, gast.Call) and \
                    isinstance(s.value.func, gast.Attribute) and s.value.func.attr == "pop" and \
                    isinstance(s.value.func.value, gast.Name) and s.value.func.value.id in typed
                defs.setdefault(n.id, []).append(ok)
    return {n for n, oks in defs.items() if all(oks)} | set(facts.int_vars)


def _restored_reads(blocks, typed):
    """ids of the reads of a name that follow, in their own block, ``name = stack.pop()`` from a
    typed stack (with no other binding between): they read a Python float whatever was pushed."""
    out = set()

    def block(body):
        flags = set()
        for s in body:
            for n in _own_nodes(s):
                if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load) and n.id in flags:
                    out.add(id(n))
            nested = [getattr(s, f) for f in ("body", "orelse") if isinstance(getattr(s, f, None), list)]
            for sub in nested:
                block(sub)
            stored = {n.id for n in walk(s) if isinstance(n, gast.Name) and not isinstance(n.ctx, gast.Load)}
            flags -= stored
            if not nested and isinstance(s, gast.Assign) and len(s.targets) == 1 and \
                    isinstance(s.targets[0], gast.Name) and _pops_typed(s.value, typed):
                flags.add(s.targets[0].id)

    for b in blocks:
        block(b)
    return out


def _pops_typed(value, typed):
    return isinstance(value, gast.Call) and isinstance(value.func, gast.Attribute) and \
        value.func.attr == "pop" and isinstance(value.func.value, gast.Name) and value.func.value.id in typed


def _typed_stacks(stmts, env):
    """Stacks made as ``Stack(float)`` (and the other typed ones): they give back Python values
    whatever was pushed."""
    out = set()
    for s in stmts:
        if _makes_stack(s, env) and s.value.args:
            out.add(s.targets[0].id)
    return out


def _carries(e, floats, typed, restored=frozenset()):
    """May ``e`` be a Python float now where it was a NumPy scalar?"""
    if isinstance(e, gast.Name):
        return e.id in floats and id(e) not in restored
    if isinstance(e, gast.BinOp) and isinstance(e.op, _CARRY):
        return _carries(e.left, floats, typed, restored) or _carries(e.right, floats, typed, restored)
    if isinstance(e, gast.UnaryOp) and isinstance(e.op, (gast.USub, gast.UAdd)):
        return _carries(e.operand, floats, typed, restored)
    if isinstance(e, gast.IfExp):
        return _carries(e.body, floats, typed, restored) or _carries(e.orelse, floats, typed, restored)
    if isinstance(e, gast.Call):
        f = e.func
        if isinstance(f, gast.Name) and f.id in _PASS_BUILTINS:
            return any(_carries(a, floats, typed, restored) for a in e.args)
        if isinstance(f, gast.Attribute) and f.attr == "pop" and isinstance(f.value, gast.Name):
            return f.value.id in floats and f.value.id not in typed
    return False


def _closure(floats, stmts, typed, restored):
    """The variables (and plain stacks) that may hold the Python floats of ``floats``."""
    floats = set(floats)
    while True:
        new = set(floats)
        for s in stmts:
            if isinstance(s, gast.Assign) and _carries(s.value, floats, typed, restored):
                new |= {n.id for t in s.targets for n in walk(t)
                        if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store)}
            elif isinstance(s, gast.AugAssign) and isinstance(s.target, gast.Name) and \
                    _carries(s.value, floats, typed, restored):
                new.add(s.target.id)
            elif isinstance(s, gast.Expr) and isinstance(s.value, gast.Call):
                f = s.value.func
                if isinstance(f, gast.Attribute) and f.attr == "append" and isinstance(f.value, gast.Name) \
                        and any(_carries(a, floats, typed, restored) for a in s.value.args):
                    new.add(f.value.id)
        if new == floats:
            return floats
        floats = new


def _safe(floats, module, parents, result, value, np_name, arrays, fine_names, restored):
    """Does every read of the names in ``floats`` treat a Python float as an ``np.float64``?"""
    result_ids = {id(n) for n in walk(result)}
    value_ids = {id(n) for n in walk(value)} if value is not None else set()

    def fine(e):
        """Is ``e`` a value a Python float meets as an ``np.float64`` would (promoting alike)?"""
        return _fine_expr(e, fine_names, restored)

    def others_fine(p, cur):
        if isinstance(p, gast.BinOp):
            return fine(p.right if cur is p.left else p.left)
        if isinstance(p, gast.Compare):
            return all(fine(o) for o in [p.left] + p.comparators if o is not cur)
        if isinstance(p, gast.Call):
            return all(fine(o) for o in p.args if o is not cur) and \
                all(fine(k.value) for k in p.keywords if k.value is not cur)
        return True

    for node in walk(module):
        if not (isinstance(node, gast.Name) and isinstance(node.ctx, gast.Load) and node.id in floats) or \
                id(node) in restored:
            continue
        if id(node) in result_ids:
            if id(node) in value_ids:
                return False   # the function's value, handed back: keep its type
            continue           # a gradient: the same number (typed stacks give floats already)
        cur = node
        while True:
            p = parents.get(id(cur))
            if isinstance(p, gast.BinOp) and isinstance(p.op, _CARRY) or \
                    isinstance(p, gast.UnaryOp) and isinstance(p.op, (gast.USub, gast.UAdd)) or \
                    isinstance(p, gast.IfExp) and cur is not p.test:
                if not others_fine(p, cur):
                    return False
                cur = p            # a float in, a float out: follow the result
                continue
            if isinstance(p, gast.IfExp) or isinstance(p, (gast.If, gast.While)) and cur is p.test:
                break              # truth value: the same
            if isinstance(p, gast.BoolOp) or isinstance(p, gast.UnaryOp) and isinstance(p.op, gast.Not):
                cur = p            # only truth values are used below, checked further up
                continue
            if isinstance(p, gast.Compare):
                # a bool where NumPy gave np.bool_: fine as a decision, not as a value
                if not others_fine(p, cur):
                    return False
                q = parents.get(id(p))
                while isinstance(q, gast.BoolOp) or isinstance(q, gast.UnaryOp) and isinstance(q.op, gast.Not):
                    q = parents.get(id(q))
                if isinstance(q, (gast.If, gast.While, gast.IfExp)) or _is_call_to(q, "bool"):
                    break
                return False
            if isinstance(p, gast.Call) and cur is not p.func:
                f = p.func
                if isinstance(f, gast.Attribute) and f.attr == "append" and isinstance(f.value, gast.Name):
                    break          # a push: followed by _closure
                if not others_fine(p, cur):
                    return False
                if isinstance(f, gast.Name) and f.id in _SAFE_BUILTINS:
                    break
                if isinstance(f, gast.Name) and f.id in _PASS_BUILTINS:
                    cur = p
                    continue
                if _numpy_call(f, np_name):
                    break          # NumPy returns its own scalar either way
                return False
            if isinstance(p, gast.Attribute) and p.attr in ("pop", "append") and cur is node and \
                    isinstance(parents.get(id(p)), gast.Call):
                break              # a stack that holds such floats: its pops are followed by _closure
            if isinstance(p, gast.Assign) and cur is p.value:
                if all(isinstance(t, gast.Name) or _array_place(t, arrays) for t in p.targets):
                    break          # followed by _closure (an array element converts it)
                return False
            if isinstance(p, gast.AugAssign) and cur is p.value:
                if isinstance(p.target, gast.Name) or _array_place(p.target, arrays):
                    break
                return False
            if isinstance(p, gast.Expr):
                break
            return False
    return True


def _is_call_to(node, name):
    return isinstance(node, gast.Call) and isinstance(node.func, gast.Name) and node.func.id == name


def _numpy_call(f, np_name):
    while isinstance(f, gast.Attribute):
        f = f.value
    return np_name is not None and isinstance(f, gast.Name) and f.id == np_name


def _array_place(t, arrays):
    """``d[i]`` of an array (not a list): a float stored there becomes the array's dtype."""
    return isinstance(t, gast.Subscript) and isinstance(t.value, gast.Name) and \
        (arrays.get(t.value.id) or 0) >= 1
