"""Whole expressions whose derivative is known better than their parts' (run by ``pipeline.analyze``
on the normalized body, in both modes, before the facts are computed).

The stable forms of logsumexp, log-softmax and softmax subtract a shift ``m`` (the maximum along
the reduced axis) that their value does not depend on::

    m = np.max(x, axis=a, keepdims=True)
    lse = m[:, 0] + np.log(np.sum(np.exp(x - m), axis=a))     # or m + ... with keepdims=True
    logp = (x - m) - np.log(np.sum(np.exp(x - m), axis=a, keepdims=True))
    p = np.exp(x - m) / np.sum(np.exp(x - m), axis=a, keepdims=True)

For any ``m`` constant along ``a``, each of these is the same function of ``x``: its derivative
with respect to ``m`` is exactly zero, at every order. The generic rules find that zero only in
rounding, at the cost of a sum, a comparison with ``x`` and a scatter through the maximum's
adjoint (``extreme_adjoint``) per call. Where every read of ``m`` lies inside such expressions,
``m``'s definition becomes ``m = stop_gradient(np.max(...))``: the values computed are the same
operations as before, and the derivative (reverse, forward, higher order) is the generic rules'
without the zero path. Anything else (``m`` read elsewhere, another axis, no ``keepdims`` where the
shape needs it, a name assigned twice) keeps the generic path.

Then three whole expressions become one call each (``_whole_expressions``), whose helper computes
the same NumPy operations in the same order and whose rules (rules/pattern_rules.py, exact to
every order) take fewer passes than the parts': log-softmax ``s - log(sum(exp(s), a, keepdims))``
as ``log_softmax(s, a)``; its cross-entropy ``sum(y * logp)`` as ``softmax_xent(s, y, a)`` (the
adjoint ``g * (y - softmax(s) * sum(y, a))`` in one owned array: no log, no array of ones); and
``sum(a @ b)`` as ``sum_matmul(a, b)`` (row and column sums: no product of the adjoint). Each
intermediate must be read only inside its expression.

Last, ``x @ W + b`` and ``x @ W + u @ U + b`` (a dense layer, a recurrent cell) become
``affine(x, W, b)`` and ``affine2(x, W, u, U, b)`` (``dot_affine``, ``dot_affine2`` where the user
wrote ``np.dot``) where the ranks prove ``x``, ``W``, ``u``, ``U`` matrices and the bias of rank 0
or 1 (``_affine_expressions``): the bias's adjoint is one sum over rows and the products' adjoint
is the output's own, checked against the products' shapes (made from the operands') at run time
and summed only where the bias widened a product, so no loop pushes a shape for it.
"""

import gast
import numpy as np

from srcad import runtime as rt
from srcad.astutil import N, assign
from srcad.astutil import walk
from srcad.callees import resolve
from srcad.errors import TransformError
from srcad.rules import numpy_helpers as nh

enabled = True   # tests switch the pass off to compare with the generic path (clear the cache too)

# the helpers this pass and the rules of its expressions call: values computed from their
# arguments, which they never write into (a temporary they make may be written where it is read)
PURE_PATTERN_HELPERS = (nh.affine, nh.dot_affine, nh.affine2, nh.dot_affine2, nh.product_adjoint,
                        nh.product_adjoint2, nh.log_softmax, nh.softmax_xent, nh.sum_matmul,
                        nh.log_softmax_adjoint, nh.log_softmax_tangent, nh.softmax_xent_adjoint,
                        nh.softmax_xent_labels_adjoint, nh.sum_matmul_adjoint_a, nh.sum_matmul_adjoint_b)

_MAX = (np.max, np.amax)


def shift_invariant(body, info, local_names, env, namer, ranks_of=None):
    """``body`` with the shift of each recognised logsumexp / log-softmax / softmax stopped:
    ``m = np.max(...)`` becomes ``max_1 = np.max(...)`` and ``m = stop_gradient(max_1)`` (one
    operation per statement, as the later passes expect; the fusion of single-use temporaries
    writes it back as one line); then log-softmax and softmax cross-entropy become one call each
    (``_whole_expressions``)."""
    if not enabled:
        return body
    body = _stop_shifts(body, info, local_names, env, namer)
    body = _whole_expressions(body, info, local_names, env)
    return _affine_expressions(body, info, local_names, env, ranks_of) if ranks_of is not None else body


def _stop_shifts(body, info, local_names, env, namer):
    index = _Index(body)
    stopped = []
    for block in index.blocks:
        for pos, s in enumerate(block):
            shift = _shift_def(s, info, local_names)
            if shift is None:
                continue
            name, axis, keepdims = shift
            if index.single(name) and _covered(name, axis, keepdims, block, pos, index, info, local_names):
                stopped.append((block, s))
    if not stopped:
        return body
    helper = env.ref_name("stop_gradient", rt.stop_gradient)
    info.extra.setdefault(helper, rt.stop_gradient)
    for block, s in stopped:
        tmp = namer.fresh("max")
        local_names.add(tmp)
        at = next(i for i, b in enumerate(block) if b is s)
        block.insert(at, assign(tmp, s.value, s.lineno))
        s.value = gast.Call(func=N(helper), args=[N(tmp)], keywords=[])
    return body


class _Index:
    """Where each name is assigned and read, and the statement lists (blocks) of the body."""

    def __init__(self, body):
        self.defs, self.reads, self.blocks = {}, {}, []
        self._scan(body)

    def _scan(self, stmts):
        self.blocks.append(stmts)
        for s in stmts:
            for field in ("body", "orelse", "finalbody"):
                sub = getattr(s, field, None)
                if isinstance(sub, list) and sub and isinstance(sub[0], gast.stmt):
                    self._scan(sub)
            for h in getattr(s, "handlers", ()) or ():
                self._scan(h.body)
            own = [getattr(s, f, None) for f in ("targets", "target", "value", "test", "iter")]
            for part in own:
                for node in part if isinstance(part, list) else [part]:
                    if node is None:
                        continue
                    for n in walk(node):
                        if isinstance(n, gast.Name):
                            table = self.reads if isinstance(n.ctx, gast.Load) else self.defs
                            table.setdefault(n.id, []).append(s)
            if not isinstance(s, (gast.Assign, gast.Expr, gast.Return, gast.If, gast.While, gast.For)):
                # anything else (a nested def, del, global): names it touches count as written
                for n in walk(s):
                    if isinstance(n, gast.Name):
                        self.defs.setdefault(n.id, []).append(s)

    def single(self, name):
        """Assigned once, by a plain ``name = value``."""
        d = self.defs.get(name, [])
        return len(d) == 1 and isinstance(d[0], gast.Assign) and _target(d[0]) == name

    def readers(self, name):
        return self.reads.get(name, [])

    def dependents(self, name):
        """``name`` and every name assigned from a value that reads one of them (anywhere)."""
        found, changed = {name}, True
        while changed:
            changed = False
            for n, stmts in self.reads.items():
                if n not in found:
                    continue
                for s in stmts:
                    for t in self.written_by(s):
                        if t not in found:
                            found.add(t)
                            changed = True
        return found

    def written_by(self, s):
        return [n for n, stmts in self.defs.items() if any(d is s for d in stmts)]


def _target(s):
    if isinstance(s, gast.Assign) and len(s.targets) == 1 and isinstance(s.targets[0], gast.Name):
        return s.targets[0].id
    return None


def _kw(call, name, default):
    for k in call.keywords:
        if k.arg == name:
            return k.value
    return default


def _const_axis(node):
    """A literal axis (int, tuple of ints, or None) or ``False`` where it is not a literal."""
    if node is None:
        return None
    if isinstance(node, gast.Constant) and (node.value is None or type(node.value) is int):
        return node.value
    if isinstance(node, gast.UnaryOp) and isinstance(node.op, gast.USub) and \
            isinstance(node.operand, gast.Constant) and type(node.operand.value) is int:
        return -node.operand.value
    if isinstance(node, gast.Tuple):
        parts = [_const_axis(e) for e in node.elts]
        if all(type(p) is int for p in parts):
            return tuple(parts)
    return False


def _const_bool(node):
    if node is None:
        return False
    if isinstance(node, gast.Constant) and type(node.value) is bool:
        return node.value
    return None


def _callee(call, info, local_names):
    try:
        return resolve(call.func, info, local_names, strict=False)
    except TransformError:
        return None


def _reduction(value, info, local_names, funcs, method):
    """``(array name, axis, keepdims)`` of ``np.<f>(a, axis=.., keepdims=..)`` or ``a.<method>(...)``
    with literal axis and keepdims; else None."""
    if not isinstance(value, gast.Call):
        return None
    c = _callee(value, info, local_names)
    if c is None:
        return None
    if c.kind == "static" and any(c.obj is f for f in funcs):
        if not value.args or not isinstance(value.args[0], gast.Name) or len(value.args) > 2:
            return None
        array, rest = value.args[0], value.args[1:]
    elif c.kind == "method" and c.name == method and isinstance(c.receiver, gast.Name) and \
            c.receiver.id in local_names:
        if len(value.args) > 1:
            return None
        array, rest = c.receiver, value.args
    else:
        return None
    if any(k.arg not in ("axis", "keepdims") for k in value.keywords):
        return None
    axis = _const_axis(rest[0] if rest else _kw(value, "axis", None))
    keepdims = _const_bool(_kw(value, "keepdims", None))
    if axis is False or keepdims is None:
        return None
    return array.id, axis, keepdims


def _shift_def(s, info, local_names):
    """``(m, axis, keepdims)`` for ``m = np.max(x, axis=a, keepdims=True)`` (or ``x.max(...)``, or
    any ``keepdims`` with ``axis=None``): a shift constant along the axes it reduces."""
    name = _target(s)
    if name is None:
        return None
    red = _reduction(s.value, info, local_names, _MAX, "max")
    if red is None:
        return None
    _, axis, keepdims = red
    if axis is not None and not keepdims:
        return None
    return name, axis, keepdims


def _is_call_of(value, fn, info, local_names):
    if not isinstance(value, gast.Call) or len(value.args) != 1 or value.keywords or \
            not isinstance(value.args[0], gast.Name):
        return None
    c = _callee(value, info, local_names)
    if c is None or not c.is_(fn):
        return None
    return value.args[0].id


def _binop(value, op):
    if isinstance(value, gast.BinOp) and isinstance(value.op, op) and \
            isinstance(value.left, gast.Name) and isinstance(value.right, gast.Name):
        return value.left.id, value.right.id
    return None


class _Group:
    """The statements of one recognised expression in a block: names made, reads of the shift."""

    def __init__(self):
        self.names = set()
        self.shift_reads = []


def _covered(m, axis, keepdims, block, pos, index, info, local_names):
    """Does every read of the shift ``m`` (defined at ``block[pos]``) lie in a recognised
    shift-invariant expression, each of whose intermediate values is read only inside it?"""
    later = {id(s): i for i, s in enumerate(block) if i > pos}
    defined = {_target(s): s for s in block if _target(s) is not None and id(s) in later}
    readers = index.readers(m)
    if not readers or any(id(r) not in later for r in readers):
        return False
    depends = index.dependents(m)
    covered = set()
    for r in readers:   # a read may fail alone and be covered by another's group (x - m of logsumexp)
        if id(r) not in covered:
            covered |= _match(m, r, axis, keepdims, defined, index, info, local_names, depends) or set()
    return all(id(r) in covered for r in readers)


def _only_read_by(name, stmts, index):
    """``name`` is assigned once and read only by the statements ``stmts`` (ids)."""
    return index.single(name) and index.readers(name) and all(id(r) in stmts for r in index.readers(name))


def _match(m, reader, axis, keepdims, defined, index, info, local_names, depends):
    """The ids of the statements of the invariant expression that ``reader`` (a read of ``m``)
    starts, or None."""
    t = _target(reader)
    if t is None or t not in defined:
        return None
    sub = _binop(reader.value, gast.Sub)
    if sub is not None and sub[1] == m and sub[0] not in depends:
        return _from_shifted(m, reader, t, axis, keepdims, defined, index, info, local_names)
    # the shift added back: ``m[:, 0] + log(...)`` starts at the squeeze (or at ``m + ...``)
    squeeze = reader if isinstance(reader.value, gast.Subscript) else None
    if squeeze is not None:
        if not (isinstance(reader.value.value, gast.Name) and reader.value.value.id == m and
                _squeezes(reader.value.slice, axis)):
            return None
        adders = index.readers(t)
        if len(adders) != 1 or not index.single(t):
            return None
        add = adders[0]
        return _added_back(m, t, add, axis, False, {id(reader)}, defined, index, info, local_names, depends)
    if keepdims or axis is None:
        return _added_back(m, m, reader, axis, keepdims, set(), defined, index, info, local_names, depends)
    return None


def _squeezes(index, axis):
    """``m[:, 0]``-like: ``0`` at the reduced axis, full slices elsewhere."""
    if type(axis) is not int:
        return False
    parts = index.elts if isinstance(index, gast.Tuple) else [index]
    zero = [i for i, p in enumerate(parts) if isinstance(p, gast.Constant) and p.value == 0
            and type(p.value) is int]
    full = all(i in zero or (isinstance(p, gast.Slice) and p.lower is None and p.upper is None
                             and p.step is None) or (isinstance(p, gast.Constant) and p.value is Ellipsis)
               for i, p in enumerate(parts))
    if len(zero) != 1 or not full:
        return False
    ell = [i for i, p in enumerate(parts) if isinstance(p, gast.Constant) and p.value is Ellipsis]
    z = zero[0]
    if axis >= 0:
        return (not ell or ell[0] > z) and z == axis
    return (not ell or ell[0] < z) and z - len(parts) == axis


def _log_of_sum(t_name, axis, keepdims, defined, index, info, local_names):
    """``(e, t)``: ``t = np.sum(e, axis=axis, keepdims=keepdims)`` defined in the block."""
    ts = defined.get(t_name)
    if ts is None:
        return None
    red = _reduction(ts.value, info, local_names, (np.sum,), "sum")
    if red is None:
        return None
    e, t_axis, t_keep = red
    if t_axis != axis or (axis is not None and t_keep != keepdims):
        return None
    return e


def _added_back(m, mm, add, axis, keepdims, made, defined, index, info, local_names, depends):
    """``r = mm + l`` (or ``l + mm``) with ``l = log(sum(exp(x - m), axis, keepdims))``, where
    ``mm`` is ``m`` or its squeeze (``made``: the squeeze's statement)."""
    pair = _binop(add.value, gast.Add)
    if pair is None or _target(add) not in defined:
        return None
    left, right = pair
    if left == mm and right != mm:
        l_name = right
    elif right == mm and left != mm:
        l_name = left
    else:
        return None
    ls = defined.get(l_name)
    t_name = _is_call_of(ls.value, np.log, info, local_names) if ls is not None else None
    if t_name is None:
        return None
    e = _log_of_sum(t_name, axis, keepdims, defined, index, info, local_names)
    es = defined.get(e) if e else None
    s_name = _is_call_of(es.value, np.exp, info, local_names) if es is not None else None
    ss = defined.get(s_name) if s_name else None
    if ss is None or _binop(ss.value, gast.Sub) is None or _binop(ss.value, gast.Sub)[1] != m or \
            _binop(ss.value, gast.Sub)[0] in depends:
        return None
    stmts = made | {id(add), id(ls), id(defined[t_name]), id(es), id(ss)}
    for name in (s_name, e, t_name, l_name) + ((mm,) if mm != m else ()):
        if not _only_read_by(name, stmts, index):
            return None
    return stmts


def _from_shifted(m, ss, s_name, axis, keepdims, defined, index, info, local_names):
    """The expression that starts at ``s = x - m``: the shift added back (logsumexp), or
    log-softmax ``s - log(sum(exp(s)))``, or softmax ``exp(s) / sum(exp(s))``."""
    readers = index.readers(s_name)
    exps = [r for r in readers if _target(r) is not None and
            _is_call_of(r.value, np.exp, info, local_names) == s_name]
    if len(exps) != 1:
        return None
    es = exps[0]
    e = _target(es)
    if e not in defined:
        return None
    sums = [r for r in index.readers(e) if _target(r) in defined and
            _log_of_sum(_target(r), axis, keepdims, defined, index, info, local_names) == e]
    if len(sums) != 1:
        return None
    ts = sums[0]
    t = _target(ts)
    t_readers = index.readers(t)
    if len(t_readers) != 1 or not index.single(t):
        return None
    use = t_readers[0]
    if _target(use) not in defined:
        return None
    shaped = keepdims or axis is None     # the reduced value broadcasts against x
    if _binop(use.value, gast.Div) == (e, t) and shaped:             # softmax
        stmts = {id(ss), id(es), id(ts), id(use)}
        names = (s_name, e, t)
    elif _is_call_of(use.value, np.log, info, local_names) == t:
        l_name = _target(use)
        l_readers = index.readers(l_name)
        if len(l_readers) != 1:
            return None
        r = l_readers[0]
        if _target(r) not in defined:
            return None
        if _binop(r.value, gast.Sub) == (s_name, l_name) and shaped:   # log-softmax
            stmts = {id(ss), id(es), id(ts), id(use), id(r)}
            names = (s_name, e, t, l_name)
        else:
            return None   # logsumexp is matched from the shift added back
    else:
        return None
    for name in names:
        if not _only_read_by(name, stmts, index):
            return None
    return stmts


# ---------------------------------------------------------------- log-softmax, cross-entropy
#
#     e = np.exp(s); t = np.sum(e, axis=a, keepdims=True); l = np.log(t); logp = s - l
#         -> logp = log_softmax(s, a)
#     p = y * logp (or logp * y); q = np.sum(p)       (logp and p read nowhere else)
#         -> q = softmax_xent(s, y, a)
#
#     p = a @ b; q = np.sum(p)   (p read nowhere else)  -> q = sum_matmul(a, b)
#
# The helpers compute the same operations in the same order (the same numbers); their rules take
# fewer passes (rules/pattern_rules.py). ``e``, ``t`` and ``l`` must be assigned once and read only
# in the expression, ``s`` (and ``y``) not assigned in between, all in one block; ``keepdims=True``
# where an axis is reduced (else the shapes do not broadcast as log-softmax's).


def _whole_expressions(body, info, local_names, env):
    index = _Index(body)
    found = []
    for block in index.blocks:
        for pos, s in enumerate(block):
            m = _log_softmax_at(block, pos, index, info, local_names)
            if m is not None:
                found.append((block, m, _xent_after(block, m, index, info, local_names)))
    sums = [(block, mm) for block in index.blocks for pos in range(len(block))
            for mm in [_sum_of_product_at(block, pos, index, info, local_names)] if mm is not None]
    if not found and not sums:
        return body
    from srcad.rules import numpy_helpers as nh
    for block, (mul, total, a, b) in sums:
        helper = env.ref_name("sum_matmul", nh.sum_matmul)
        info.extra.setdefault(helper, nh.sum_matmul)
        block[total].value = gast.Call(func=N(helper), args=[N(a), N(b)], keywords=[])
        gone = block[mul]
        block[:] = [s for s in block if s is not gone]
    for block, m, xent in found:
        drop = {id(block[i]) for i in m["parts"]}
        if xent is None:
            helper = env.ref_name("log_softmax", nh.log_softmax)
            info.extra.setdefault(helper, nh.log_softmax)
            stmt = block[m["at"]]
            stmt.value = gast.Call(func=N(helper), args=[N(m["s"]), _axis_node(m["axis"])], keywords=[])
        else:
            helper = env.ref_name("softmax_xent", nh.softmax_xent)
            info.extra.setdefault(helper, nh.softmax_xent)
            drop |= {id(block[m["at"]]), id(block[xent["mul"]])}
            stmt = block[xent["sum"]]
            stmt.value = gast.Call(func=N(helper), args=[N(m["s"]), N(xent["y"]), _axis_node(m["axis"])],
                                   keywords=[])
        block[:] = [b for b in block if id(b) not in drop]
    return body


def _axis_node(axis):
    if axis is None:
        return gast.Constant(value=None, kind=None)
    if axis < 0:
        return gast.UnaryOp(op=gast.USub(), operand=gast.Constant(value=-axis, kind=None))
    return gast.Constant(value=axis, kind=None)


def _assigned_between(name, block, lo, hi):
    """Is ``name`` assigned (or touched by a compound statement) in ``block[lo + 1:hi]``?"""
    for s in block[lo + 1:hi]:
        targets = s.targets if isinstance(s, gast.Assign) else [s]
        for tgt in targets:
            for n in walk(tgt):
                if isinstance(n, gast.Name) and n.id == name and (not isinstance(s, gast.Assign) or
                                                                   isinstance(n.ctx, gast.Store)):
                    return True
    return False


def _log_softmax_at(block, pos, index, info, local_names):
    """``logp = s - l`` at ``block[pos]`` closing a log-softmax: its parts' positions, or None."""
    stmt = block[pos]
    name = _target(stmt)
    sub = _binop(stmt.value, gast.Sub) if name is not None else None
    if sub is None or sub[0] == sub[1]:
        return None
    s_name, l_name = sub
    where = {_target(b): i for i, b in enumerate(block[:pos]) if _target(b) is not None}
    if l_name not in where:
        return None
    li = where[l_name]
    t_name = _is_call_of(block[li].value, np.log, info, local_names)
    if t_name is None or t_name not in where:
        return None
    ti = where[t_name]
    red = _reduction(block[ti].value, info, local_names, (np.sum,), "sum")
    if red is None:
        return None
    e_name, axis, keepdims = red
    if (axis is not None and not keepdims) or isinstance(axis, tuple) or e_name not in where:
        return None
    ei = where[e_name]
    if _is_call_of(block[ei].value, np.exp, info, local_names) != s_name or not ei < ti < li < pos:
        return None
    parts = (ei, ti, li)
    ids = {id(block[i]) for i in parts + (pos,)}
    for n in (e_name, t_name, l_name):
        if not _only_read_by(n, ids, index) or n == s_name:
            return None
    if s_name in (e_name, t_name, l_name, name) or _assigned_between(s_name, block, ei, pos):
        return None
    return {"at": pos, "parts": parts, "s": s_name, "axis": axis, "name": name}


def _xent_after(block, m, index, info, local_names):
    """``p = y * logp; q = np.sum(p)`` right after the log-softmax ``m`` (``logp`` and ``p`` read
    only there): the positions and ``y``, or None."""
    logp, pos = m["name"], m["at"]
    if not index.single(logp) or len(index.readers(logp)) != 1:
        return None
    reader = index.readers(logp)[0]
    at = next((i for i, b in enumerate(block) if b is reader), None)
    if at is None or at < pos:
        return None
    pair = _binop(reader.value, gast.Mult)
    p_name = _target(reader)
    if pair is None or p_name is None or pair[0] == pair[1]:
        return None
    y = pair[0] if pair[1] == logp else pair[1]
    if y in (m["s"], p_name) or _assigned_between(y, block, pos, at) or \
            _assigned_between(m["s"], block, pos, at):
        return None
    if not index.single(p_name) or len(index.readers(p_name)) != 1:
        return None
    total = index.readers(p_name)[0]
    k = next((i for i, b in enumerate(block) if b is total), None)
    if k is None or _target(total) is None:
        return None
    red = _reduction(total.value, info, local_names, (np.sum,), "sum")
    if red is None or red[0] != p_name or red[1] is not None or red[2]:
        return None
    return {"mul": at, "sum": k, "y": y}


def _sum_of_product_at(block, pos, index, info, local_names):
    """``p = a @ b`` at ``block[pos]`` summed whole by the only statement that reads ``p``, later
    in the block (``a`` and ``b`` not assigned in between): (positions, ``a``, ``b``), or None."""
    stmt = block[pos]
    p = _target(stmt)
    pair = _binop(stmt.value, gast.MatMult) if p is not None else None
    if pair is None or p in pair or not index.single(p) or len(index.readers(p)) != 1:
        return None
    total = index.readers(p)[0]
    k = next((i for i, s in enumerate(block) if s is total), None)
    if k is None or k < pos or _target(total) is None:
        return None
    red = _reduction(total.value, info, local_names, (np.sum,), "sum")
    if red is None or red[0] != p or red[1] is not None or red[2]:
        return None
    a, b = pair
    if _assigned_between(a, block, pos, k) or _assigned_between(b, block, pos, k):
        return None
    return pos, k, a, b



# ---------------------------------------------------------------- x @ W + b, x @ W + u @ U + b
#
#     p = x @ W; y = p + b                       -> y = affine(x, W, b)
#     p = x @ W; q = u @ U; s = p + q; y = s + b  -> y = affine2(x, W, u, U, b)
#
# (``b + p`` too, ``np.matmul``; ``np.dot`` throughout gives ``dot_affine``/``dot_affine2``). ``p``,
# ``q`` and ``s`` assigned once and read only there, ``x @ W`` never ``x`` itself, every statement
# in between a plain assignment to a name (nothing written into an array, no ``out=``); ranks from
# the facts of the body as it is: ``x``, ``W``, ``u``, ``U`` of rank 2, ``b`` of rank 0 or 1 (a 2-D
# bias could widen the product's rows, a 1-D ``x`` makes a vector: the generic rules).

_AFFINE = {("@", 1): "affine", ("dot", 1): "dot_affine", ("@", 2): "affine2", ("dot", 2): "dot_affine2"}


def _affine_expressions(body, info, local_names, env, ranks_of):
    index = _Index(body)
    found = [(block, m) for block in index.blocks for pos in range(len(block))
             for m in [_affine_at(block, pos, index, info, local_names)] if m is not None]
    if not found:
        return body
    try:
        ranks = ranks_of(body)
    except TransformError:
        return body   # the facts refuse the body as it is: the generic path reports it
    from srcad.rules import numpy_helpers as nh
    for block, (stmt, kind, terms, b, drop) in found:   # (positions move as statements go)
        operands = [n for _, x, W in terms for n in (x, W)]
        if any(ranks.get(n) != 2 for n in operands) or ranks.get(b) not in (0, 1):
            continue
        name = _AFFINE[kind, len(terms)]
        helper = env.ref_name(name, getattr(nh, name))
        info.extra.setdefault(helper, getattr(nh, name))
        stmt.value = gast.Call(func=N(helper), args=[N(n) for n in operands + [b]], keywords=[])
        block[:] = [s for s in block if not any(s is d for d in drop)]
    return body


def _product(stmt, info, local_names):
    """``(kind, x, W)`` of ``p = x @ W`` or ``np.matmul(x, W)`` (kind ``"@"``) or ``np.dot(x, W)``
    (``"dot"``), names all, ``p`` neither of them; else None."""
    p, v = _target(stmt), stmt.value
    pair = _binop(v, gast.MatMult) if p is not None else None
    kind = "@"
    if pair is None and p is not None and isinstance(v, gast.Call) and len(v.args) == 2 and \
            not v.keywords and all(isinstance(a, gast.Name) for a in v.args):
        c = _callee(v, info, local_names)
        if c is not None and c.kind == "static" and (c.obj is np.matmul or c.obj is np.dot):
            pair, kind = (v.args[0].id, v.args[1].id), "@" if c.obj is np.matmul else "dot"
    if pair is None or p in pair or not all(n in local_names for n in pair):
        return None
    return kind, pair[0], pair[1]


def _quiet_between(block, lo, hi, names):
    """Every statement of ``block[lo + 1:hi]`` a plain assignment to a name other than ``names``,
    with no ``out=`` (nothing can change the values the moved products read)."""
    for s in block[lo + 1:hi]:
        t = _target(s)
        if t is None or t in names or any(isinstance(n, gast.keyword) and n.arg == "out" for n in gast.walk(s)):
            return False
    return True


def _affine_at(block, pos, index, info, local_names):
    """``y = s + b`` at ``block[pos]`` closing ``x @ W + b`` or ``x @ W + u @ U + b``:
    ``(statement, (kind, number of products), [(position, x, W), ...], b, statements to drop)``."""
    stmt = block[pos]
    y = _target(stmt)
    pair = _binop(stmt.value, gast.Add) if y is not None else None
    if pair is None or pair[0] == pair[1]:
        return None
    where = {_target(s): i for i, s in enumerate(block[:pos]) if _target(s) is not None}
    for s_name, b in (pair, pair[::-1]):
        if s_name not in where or b not in local_names or not _only_read_by(s_name, {id(stmt)}, index):
            continue
        si = where[s_name]
        prod = _product(block[si], info, local_names)
        if prod is not None:
            terms, kind, made = [(si,) + prod[1:]], prod[0], [s_name]
        else:
            inner = _binop(block[si].value, gast.Add)
            if inner is None or inner[0] == inner[1]:
                continue
            found = [(where.get(t), t) for t in inner]
            if any(i is None or i >= si or not _only_read_by(t, {id(block[si])}, index) for i, t in found):
                continue
            prods = [_product(block[i], info, local_names) for i, _ in found]
            if any(p is None for p in prods) or prods[0][0] != prods[1][0]:
                continue
            terms, kind, made = [(i,) + p[1:] for (i, _), p in zip(found, prods)], prods[0][0], [s_name] + list(inner)
        if b in made or not all(_quiet_between(block, i, pos, {x, W}) for i, x, W in terms):
            continue
        drop = [block[si]] + [block[i] for i, _, _ in terms if i != si]
        return stmt, kind, terms, b, drop   # kind: "@" or "dot"
    return None
