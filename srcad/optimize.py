"""Step 6 (reverse mode): drop forward-sweep work the derivative does not use.

``grad`` does not return the function's value, so the last operations of the forward sweep often
compute something nobody reads (``out = np.sum(t @ C)``), or something the backward sweep only
needs the *shape* of (``unreduce(dout, t, ...)`` reads ``t.shape``). Working backwards over the
top-level statements of the forward sweep:

* a pure assignment whose target is never read is removed;
* one whose target is only read for its shape is replaced by a stand-in of the same shape: another
  variable known to have that shape (elementwise operations), or an uninitialised array of the
  product's shape (``np.empty_like(a, shape=(a.shape[0], b.shape[1]))`` for ``a @ b``).

Statements inside branches and loops, calls with effects (anything without a derivative rule,
``np.random``), stack operations and assignments into arrays are always kept, and everything they
read is live.
"""

import gast
import numpy as np

from srcad import runtime
from srcad.astutil import N, assign

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


def prune_forward(fwd, bwd, result, facts, env):
    """The forward sweep without the work nothing reads (see the module docstring)."""
    full, shape = set(), set()
    _reads(bwd, env, full, shape)
    _reads([result], env, full, shape)
    out = []
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
                    value, shape_reads = stand_in
                    shape |= shape_reads
                    new = assign(t, value, s.lineno)
                    out.append(new)
                continue
            continue   # dead: nothing reads it
        _reads([s], env, full, shape)
        out.append(s)
    out.reverse()
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
            return N(a.id), {a.id}
    if isinstance(value, gast.BinOp) and isinstance(value.op, gast.MatMult):
        a, b = value.left, value.right
    elif isinstance(value, gast.Call) and len(value.args) == 2 and not value.keywords:
        where = facts.callee(value.func)
        if where[0] != "static" or where[1] not in (np.dot, np.matmul):
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
    func = gast.Attribute(value=env.ref("np"), attr="empty_like", ctx=gast.Load())
    return gast.Call(func=func, args=[N(a.id)], keywords=[gast.keyword(arg="shape", value=shp)]), {a.id, b.id}


def _operands(value):
    if isinstance(value, gast.BinOp):
        return [value.left, value.right]
    if isinstance(value, gast.UnaryOp):
        return [value.operand]
    if isinstance(value, gast.Call):
        return list(value.args)
    return []
