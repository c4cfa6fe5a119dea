"""Gradients of elementwise losses on Dask arrays, block by block.

A function whose body is straight-line elementwise arithmetic on arrays of one shape (operators,
NumPy ufuncs, ``np.where``, ``np.clip``), returning a full reduction of such an expression
(``np.sum(e)``, or ``np.mean(e)``; a combination of them with coefficients free of arrays), has a
gradient that is elementwise too: the gradient at block ``b`` of its arrays is the NumPy gradient of
the same function on block ``b`` alone, the seed scaled for a mean (``n_b / n``: the block's share
of the count). ``grad`` of such a function on Dask arrays (``gradient`` below) builds one
``map_blocks`` of srcad's NumPy derivative instead of running the generated code on Dask arrays.

Why: run on Dask arrays, the generated code becomes one graph task per operation and block, and
Dask keeps each block-sized intermediate (``sin(x)``, ``exp(-x * x)``, the backward sweep's
products) until its last reader has run; NumPy running the same code frees them (``del``) and
reuses them in place. Here each block's task runs the NumPy derivative over pieces of the block
(``TILE`` elements: the temporaries stay in the CPU's cache) written into the block's gradient,
so a task holds its block, its gradient block and a few small temporaries.

Everything else (control flow, a reduction or an indexing inside the expression, broadcasting
between arrays, a parameter that is a NumPy array or a container, a differentiated number, chunks
of unknown size, ...) takes the generic path: ``None`` from ``gradient``.
"""

import ast
import builtins
import inspect
import numbers
import textwrap
import threading
import weakref

import numpy as np

TILE = 1 << 16          # elements per piece of a block (512 KB of float64)

_ARITH = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow)
_COMPARE = (ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Eq, ast.NotEq)
_NOT_UFUNCS = {np.where: 3, np.clip: 3}      # elementwise functions that are not ufuncs: arguments
_REDUCTIONS = {np.sum: "sum", np.mean: "mean"}

_PLANS = weakref.WeakKeyDictionary()         # function -> (code, plan or None)
_GRADS = weakref.WeakKeyDictionary()         # function -> {wrt: srcad.grad}: the block tasks' own
_LOCK = threading.Lock()                     # tasks run in threads: one builds a derivative at a time


class _Plan:
    """A function's body read once: parameters, assignments and the returned reductions."""

    def __init__(self, params, assigns, terms):
        self.params, self.assigns, self.terms = params, assigns, terms


def _plan(fn):
    code = getattr(fn, "__code__", None)
    if code is None:
        return None
    hit = _PLANS.get(fn)
    if hit is not None and hit[0] is code:
        return hit[1]
    plan = _read(fn)
    _PLANS[fn] = (code, plan)
    return plan


def _read(fn):
    """The plan of ``fn``'s source, or None where it is not of the elementwise form."""
    code = fn.__code__
    if code.co_name == "<lambda>" or code.co_flags & (inspect.CO_VARARGS | inspect.CO_VARKEYWORDS |
                                                      inspect.CO_GENERATOR | inspect.CO_COROUTINE):
        return None
    try:
        node = ast.parse(textwrap.dedent(inspect.getsource(code))).body[0]
    except (OSError, TypeError, SyntaxError, IndexError):
        return None
    if not isinstance(node, ast.FunctionDef) or node.args.posonlyargs or node.args.kwonlyargs:
        return None
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]                                     # the docstring
    if not body or not isinstance(body[-1], ast.Return) or body[-1].value is None:
        return None
    assigns = []
    for stmt in body[:-1]:
        if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and
                isinstance(stmt.targets[0], ast.Name)):
            return None
        assigns.append((stmt.targets[0].id, stmt.value))
    terms = []
    if not _terms(body[-1].value, terms):
        return None
    return _Plan([a.arg for a in node.args.args], assigns, terms)


def _terms(e, out):
    """Split the returned expression into terms ``(reduction call, coefficients)`` (collected in
    ``out``): reductions joined by ``+``/``-``, negated, multiplied by or divided by coefficients
    (expressions without a reduction, checked at the call to be free of arrays). False where it is
    not of that form."""
    if isinstance(e, ast.BinOp) and isinstance(e.op, (ast.Add, ast.Sub)):
        return _terms(e.left, out) and _terms(e.right, out)
    if isinstance(e, ast.UnaryOp) and isinstance(e.op, (ast.USub, ast.UAdd)):
        return _terms(e.operand, out)
    if isinstance(e, ast.BinOp) and isinstance(e.op, (ast.Mult, ast.Div)):
        inner = []
        if _reduction(e.left) and not _has_call(e.right):
            out.append((e.left, e.right))
            return True
        if isinstance(e.op, ast.Mult) and _reduction(e.right) and not _has_call(e.left):
            out.append((e.right, e.left))
            return True
        if _terms(e.left, inner) and len(inner) == 1 and not _has_call(e.right):
            out.append((inner[0][0], e.right, *inner[0][1:]))     # (sum(a) * 2) / n
            return True
        return False
    if _reduction(e):
        out.append((e,))
        return True
    if not _has_call(e):
        out.append((None, e))        # a term free of reductions (a constant: checked at the call)
        return True
    return False


def _reduction(e):
    """``f(arg)`` (``np.sum``/``np.mean``, resolved at the call) or ``arg.sum()``/``arg.mean()``."""
    if not isinstance(e, ast.Call) or e.keywords or any(isinstance(a, ast.Starred) for a in e.args):
        return False
    if isinstance(e.func, ast.Attribute) and e.func.attr in ("sum", "mean") and not e.args:
        return True
    return len(e.args) == 1


def _has_call(e):
    return any(isinstance(n, ast.Call) for n in ast.walk(e))


def _reduced(call, scope):
    """``(how, argument)`` of a reduction call: ``how`` "sum" or "mean", None where the call is
    neither."""
    if isinstance(call.func, ast.Attribute) and call.func.attr in ("sum", "mean") and not call.args:
        return call.func.attr, call.func.value
    try:
        f = scope.value(call.func)
    except (LookupError, AttributeError):
        return None, None
    return (_REDUCTIONS.get(f) if _hashable(f) else None), call.args[0]


class _Scope:
    """Names at a call: parameters bound to the arguments, the function's globals and closure."""

    def __init__(self, fn, plan, args):
        self.kinds = {}             # local name -> "array" or "scalar"
        self.fn = fn
        for name, a in zip(plan.params, args):
            self.kinds[name] = _kind(a)
        cells = fn.__code__.co_freevars
        self.closure = {n: c.cell_contents for n, c in zip(cells, fn.__closure__ or ())}

    def value(self, e):
        """The object a ``Name``/``Attribute`` chain outside the function's locals refers to."""
        if isinstance(e, ast.Name):
            if e.id in self.closure:
                return self.closure[e.id]
            if e.id in self.fn.__globals__:
                return self.fn.__globals__[e.id]
            if hasattr(builtins, e.id):
                return getattr(builtins, e.id)
            raise LookupError(e.id)
        if isinstance(e, ast.Attribute):
            return getattr(self.value(e.value), e.attr)
        raise LookupError(type(e).__name__)


def _kind(a):
    if isinstance(a, bool):
        return None
    if isinstance(a, numbers.Real) or (isinstance(a, np.ndarray) and a.ndim == 0 and a.dtype.kind in "biuf"):
        return "scalar"
    if is_dask(a) and a.dtype.kind in "biuf":
        return "array"
    return None


def is_dask(a):
    return type(a).__module__.startswith("dask.") and hasattr(a, "chunks") and hasattr(a, "__array_function__")


def _classify(e, scope):
    """``"array"`` (elementwise in the arrays), ``"scalar"`` (free of them) or None (anything else)."""
    if isinstance(e, ast.Constant):
        return "scalar" if isinstance(e.value, (int, float)) and not isinstance(e.value, bool) else None
    if isinstance(e, ast.Name) and e.id in scope.kinds:
        return scope.kinds[e.id]
    if isinstance(e, (ast.Name, ast.Attribute)):
        try:
            v = scope.value(e)
        except (LookupError, AttributeError):
            return None
        return "scalar" if isinstance(v, (int, float, np.floating, np.integer)) and not isinstance(v, bool) \
            else None
    if isinstance(e, ast.BinOp):
        if not isinstance(e.op, _ARITH):
            return None
        return _join(_classify(e.left, scope), _classify(e.right, scope))
    if isinstance(e, ast.UnaryOp):
        return _classify(e.operand, scope) if isinstance(e.op, (ast.USub, ast.UAdd)) else None
    if isinstance(e, ast.Compare) and len(e.ops) == 1 and isinstance(e.ops[0], _COMPARE):
        return _join(_classify(e.left, scope), _classify(e.comparators[0], scope))
    if isinstance(e, ast.Call) and not e.keywords and not any(isinstance(a, ast.Starred) for a in e.args):
        try:
            f = scope.value(e.func)
        except (LookupError, AttributeError):
            return None
        if isinstance(f, np.ufunc):
            ok = f.nout == 1 and f.nin == len(e.args) and f.signature is None    # not np.matmul
        else:
            ok = _NOT_UFUNCS.get(f) == len(e.args) if _hashable(f) else False
        if not ok:
            return None
        kind = "scalar"
        for a in e.args:
            kind = _join(kind, _classify(a, scope))
        return kind
    return None


def _hashable(f):
    try:
        hash(f)
    except TypeError:
        return False
    return True


def _join(a, b):
    if a is None or b is None:
        return None
    return "array" if "array" in (a, b) else "scalar"


def _kinds_of_terms(plan, scope):
    """The reduction of each term (``"sum"``/``"mean"``) where every assignment, reduced
    expression and coefficient is elementwise in the arrays or free of them (coefficients: free of
    them); None otherwise."""
    for name, value in plan.assigns:
        kind = _classify(value, scope)
        if kind is None:
            return None
        scope.kinds[name] = kind
    kinds = []
    for call, *coefficients in plan.terms:
        if call is None:
            if _classify(coefficients[0], scope) != "scalar":
                return None
            continue
        how, arg = _reduced(call, scope)
        if how is None or _classify(arg, scope) != "array":
            return None
        if any(_classify(c, scope) != "scalar" for c in coefficients):
            return None
        kinds.append(how)
    return kinds


def gradient(g, args, kwargs):
    """``g(*args)`` (``g`` a ``srcad.grad``) block by block where it applies, else None."""
    if kwargs or g._prefix or g.compile or not any(is_dask(a) for a in args):
        return None
    fn = g.fun
    plan = _plan(fn)
    if plan is None or len(args) != len(plan.params) or any(i >= len(args) for i in g.wrt):
        return None
    scope = _Scope(fn, plan, args)
    if any(k is None for k in scope.kinds.values()) or \
            any(scope.kinds[plan.params[i]] != "array" or args[i].dtype.kind != "f" for i in g.wrt):
        return None
    kinds = _kinds_of_terms(plan, scope)
    if kinds is None or len(set(kinds)) != 1:
        return None
    arrays = [i for i, a in enumerate(args) if _kind(a) == "array"]
    first = args[arrays[0]]
    if any(args[i].shape != first.shape for i in arrays) or any(n != n for n in first.shape) or first.ndim == 0:
        return None
    import dask.array as da
    from dask.array.utils import meta_from_array
    blocks = [args[i] if args[i].chunks == first.chunks else args[i].rechunk(first.chunks) for i in arrays]
    dtypes = _dtypes(g, args, arrays)
    if dtypes is None:
        return None
    scalars = {i: a for i, a in enumerate(args) if i not in arrays}
    dtype = np.result_type(*dtypes)
    meta = meta_from_array(first, ndim=first.ndim + (len(g.wrt) > 1), dtype=dtype)   # CuPy blocks stay CuPy
    out = da.map_blocks(_block, *blocks, dtype=dtype, meta=meta,
                        fn=fn, wrt=g.wrt, arrays=tuple(arrays), scalars=scalars, n=len(args), out_dtype=dtype,
                        total=int(np.prod(first.shape)) if kinds[0] == "mean" else None, **_new_axis(g, first))
    if len(g.wrt) == 1:
        return out
    return tuple(out[k].astype(dt, copy=False) for k, dt in enumerate(dtypes))


def _new_axis(g, first):
    if len(g.wrt) == 1:
        return {}
    return {"new_axis": 0, "chunks": ((len(g.wrt),),) + first.chunks}


def _dtypes(g, args, arrays):
    """The dtype of each gradient: srcad's NumPy derivative on one element of each array."""
    probe = list(args)
    for i in arrays:
        probe[i] = np.full((1,) * args[i].ndim, 0.5, dtype=args[i].dtype)
    try:
        with np.errstate(all="ignore"):
            got = _numpy_grad(g.fun, g.wrt)(*probe)
    except Exception:  # noqa: BLE001 - the generic path decides what to say about this call
        return None
    got = got if len(g.wrt) > 1 else (got,)
    return [np.result_type(v) for v in got]


def _numpy_grad(fn, wrt):
    """The ``srcad.grad`` the block tasks run (one per function and ``wrt``, made in the process
    that runs the task: a worker of a cluster builds its own)."""
    from srcad.api import grad
    with _LOCK:
        per = _GRADS.setdefault(fn, {})
        if wrt not in per:
            per[wrt] = grad(fn, wrt=wrt if len(wrt) > 1 else wrt[0])
        return per[wrt]


def _pieces(shape):
    """Index tuples that cover an array of ``shape`` in pieces of at most ``TILE`` elements (one
    element where a single one is larger): whole trailing axes, a run along the axis before them,
    runs of one along the axes before that (slices: a piece has the block's rank)."""
    axis, trailing = len(shape), 1
    while axis > 0 and trailing * shape[axis - 1] <= TILE:
        axis -= 1
        trailing *= shape[axis]
    if axis == 0:
        yield ()
        return
    step = max(1, TILE // trailing)
    for lead in np.ndindex(*shape[:axis - 1]):
        for start in range(0, shape[axis - 1], step):
            yield tuple(slice(i, i + 1) for i in lead) + (slice(start, start + step),)


def _block(*blocks, fn, wrt, arrays, scalars, n, total, out_dtype):
    """The gradient of ``fn`` at one block of its arrays: the NumPy derivative on pieces of the
    block (``_pieces``), written into the block's gradient (``out_dtype``; stacked along a new first
    axis for several ``wrt``). ``total``: the count of the mean the function returns (None: sums),
    each piece's seed its share of it."""
    df = _numpy_grad(fn, wrt)
    shape = blocks[0].shape
    out = np.empty_like(blocks[0], dtype=out_dtype, shape=shape if len(wrt) == 1 else (len(wrt),) + shape)
    if 0 in shape:
        return out
    args = [None] * n
    for i, v in scalars.items():
        args[i] = v
    for piece in _pieces(shape):
        for k, i in enumerate(arrays):
            args[i] = blocks[k][piece]
        seed = {} if total is None else {"dout": int(np.prod(args[arrays[0]].shape)) / total}
        with _LOCK:
            d = df.specialized(args)
        got = df._run(d.fn, args, seed)
        if len(wrt) == 1:
            out[piece] = got
        else:
            for k in range(len(wrt)):
                out[(k,) + piece] = got[k]
    return out
