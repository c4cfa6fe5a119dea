"""Helpers that the NumPy rule templates in ``numpy_rules`` call.

Each helper is a plain function over NumPy-like arrays. Helpers allocate from existing arrays
(``np.zeros_like(x)``), never from bare shapes, so CuPy arrays keep working. Where generated code
calls a helper, the helper either has its own reverse and forward rule (at the end of
``numpy_rules``, so derivatives can be differentiated again) or is declared ``nondiff`` because its
result is piecewise constant (masks, weights, index bookkeeping).

Conventions: ``g`` is an output adjoint (reverse), ``t`` a tangent (forward); ``0.0`` stands for
a zero adjoint or tangent.
"""

import numpy as np

from srcad import runtime as _rt
from srcad.runtime import count, is_array, scatter_add, unreduce


def _rtype(*vs):
    """``np.result_type`` of arrays, scalars and lists of them (a list is read as an array); an
    array's dtype is read without converting it (a Dask array would be computed)."""
    return np.result_type(*[np.asarray(v) if isinstance(v, (list, tuple)) else
                            getattr(v, "dtype", v) if hasattr(v, "__array_function__") else v for v in vs])


def _is_zero(v):
    return isinstance(v, float) and v == 0.0 and not isinstance(v, np.generic)


def _axes(axis, ndim):
    """``axis`` (None, int or tuple) as a sorted tuple of non-negative ints."""
    if axis is None:
        return tuple(range(ndim))
    if not isinstance(axis, (tuple, list)):
        axis = (axis,)
    return tuple(sorted(a % ndim if ndim else 0 for a in axis))


# ---------------------------------------------------------------- reductions


def extreme_weights(a, y, axis=None, keepdims=False):
    """Weights of ``a``'s elements in ``max``/``min`` over ``axis``: ties share evenly.

    Piecewise constant in ``a`` (declared nondiff).
    """
    mask = _mask(a == unreduce(y, a, axis, keepdims), a)
    return mask / np.sum(mask, axis=axis, keepdims=True)


def _weak(g, *like):
    """``g``, where it is a Python number, as a 0-d array of the dtype it takes next to ``like``:
    NumPy treats a Python float as weakly typed (``1.0 * float32`` is float32), but an array made
    from one is float64 and would upcast a float32 derivative."""
    if isinstance(g, (float, int)) and not isinstance(g, bool):
        return np.asarray(g, dtype=_rtype(g, *like, 0.0))
    return g


def _kept(v, a, axis):
    """``v`` (reduced over ``axis`` without keepdims) reshaped to broadcast against ``a``."""
    if axis is None or np.ndim(v) == np.ndim(a) or np.ndim(v) == 0:   # 0-d: a zero placeholder
        return v
    axes = _axes(axis, np.ndim(a))
    return np.reshape(v, tuple(1 if k in axes else n for k, n in enumerate(np.shape(a))))


def extreme_adjoint(g, a, y, axis=None, keepdims=False):
    """Adjoint of ``max``/``min`` over ``axis``: ``g`` shared evenly among the tied extremes.

    Three passes over ``a`` (compare, count, scale) instead of spreading ``g`` and the weights
    to ``a``'s shape separately. Linear in ``g``.
    """
    mask = a == _kept(y, a, axis)
    count = np.sum(mask, axis=axis, keepdims=True, dtype=_rtype(a, 0.0))   # float32 stays float32
    return mask * (_kept(g, a, axis) / count)


def _mask(cond, *like):
    """``cond`` as 1.0/0.0 in the floating dtype of ``like`` (float64 for ints: never wider)."""
    dt = _rtype(*[v for v in like if v is not None], 0.0)
    return (cond if hasattr(cond, "astype") else np.asarray(cond)).astype(dt)   # a Dask mask stays lazy


def prod_others(a, axis=None):
    """For each element of ``a``, the product of the other elements in its ``prod`` group.

    Exact where ``a`` holds zeros (exclusive products from both sides, no division).
    """
    a = np.asarray(a) if not hasattr(a, "shape") else a
    if a.ndim == 0:
        return np.ones_like(a)
    axes = _axes(axis, a.ndim)
    rest = tuple(i for i in range(a.ndim) if i not in axes)
    moved = np.transpose(a, rest + axes)
    lead = moved.shape[:len(rest)]
    flat = np.reshape(moved, lead + (-1,))
    ones = np.ones_like(flat[..., :1])
    left = np.concatenate([ones, np.cumprod(flat[..., :-1], axis=-1)], axis=-1)
    right = np.flip(np.concatenate([ones, np.cumprod(np.flip(flat, -1)[..., :-1], axis=-1)], axis=-1), -1)
    others = np.reshape(left * right, moved.shape)
    return np.transpose(others, _inverse(rest + axes))


def _inverse(perm):
    """The inverse of the axis permutation ``perm``, as a tuple of ints (array libraries other than
    NumPy take no NumPy array of axes)."""
    return tuple(int(i) for i in np.argsort(perm))


def refuse_complex(x, what):
    """Raise where ``x`` is complex and the rule of ``what`` is written for real values only (its
    derivative would be silently wrong); the dtype is known only when the derivative runs."""
    if np.iscomplexobj(x):
        raise TypeError(f"srcad: the derivative of {what} is given for real values only, and this one "
                        "is complex (docs/complex.md lists the rules that take complex values)")


def var_weights(a, axis=None, ddof=0):
    """d var(a) / d a: ``2 (a - mean) / (n - ddof)``."""
    refuse_complex(a, "np.var / np.std")
    mean = np.mean(a, axis=axis, keepdims=True)
    n = count(a, axis)   # from the shape: np.size would compute a Dask array
    return 2.0 * (a - mean) / (n - ddof)


def _weights_full(a, axis, weights):
    """``weights`` broadcast against ``a`` as ``np.average`` does (1-D weights along ``axis``)."""
    if np.ndim(weights) == np.ndim(a):
        return np.broadcast_to(weights, np.shape(a))
    shape = [1] * np.ndim(a)
    shape[axis if axis >= 0 else axis + np.ndim(a)] = np.shape(weights)[0]
    return np.broadcast_to(np.reshape(weights, shape), np.shape(a))


def _no_returned(returned):
    if returned:
        raise NotImplementedError("srcad: no derivative for np.average(..., returned=True); "
                                  "compute the sum of weights separately")


def weights_full(t, a, axis=None):
    """The weights (or their tangent) ``t`` spread over ``a`` as ``np.average`` spreads them (1-D
    weights along ``axis``); linear in ``t``, the placeholder 0.0 stays 0.0."""
    if _is_zero(t):
        return t
    return _weights_full(a, axis, t)


def weights_sum(r, a, axis, weights):
    """The transpose of ``weights_full``: ``r`` (broadcast against ``a``) summed to the shape of
    ``weights``."""
    if _is_zero(r):
        return r
    r = np.broadcast_to(r, np.shape(a))
    if np.ndim(weights) == np.ndim(a):
        return r * 1
    ax = axis if axis >= 0 else axis + np.ndim(a)
    return np.sum(r, axis=tuple(i for i in range(np.ndim(a)) if i != ax))


def average_weights(a, axis=None, weights=None, returned=False):
    """The normalised weight of each element of ``a`` in ``np.average`` (shaped like ``a``)."""
    _no_returned(returned)
    if weights is None:
        return np.ones_like(a) / count(a, axis)
    w = _weights_full(a, axis, weights)
    return w / np.sum(w, axis=axis, keepdims=True)


def average_adjoint_w(g, a, y, axis=None, weights=None, keepdims=False, returned=False):
    """Adjoint of ``weights`` in ``np.average(a, axis, weights)``: ``g (a - y) / sum(w)``."""
    _no_returned(returned)
    w = _weights_full(a, axis, weights)
    full = unreduce(g, a, axis, keepdims) * (a - unreduce(y, a, axis, keepdims)) / np.sum(w, axis=axis,
                                                                                           keepdims=True)
    if np.ndim(weights) == np.ndim(a):
        return full
    ax = axis if axis >= 0 else axis + np.ndim(a)
    return np.sum(full, axis=tuple(i for i in range(np.ndim(a)) if i != ax))


def average_tangent_w(t, a, y, axis=None, weights=None, keepdims=False, returned=False):
    """Tangent of ``np.average`` from the weights' tangent ``t``."""
    _no_returned(returned)
    w = _weights_full(a, axis, weights)
    tw = _weights_full(a, axis, t)
    return np.sum(tw * (a - unreduce(y, a, axis, True)), axis=axis, keepdims=keepdims) / np.sum(
        w, axis=axis, keepdims=keepdims)


def rev_cumsum(g, a, axis=None):
    """Adjoint of ``np.cumsum(a, axis)``: cumulative sums from the end, shaped like ``a``."""
    if axis is None:
        r = rev_cumsum(np.ravel(g), None, 0)
        return r if np.ndim(a) == 1 else np.reshape(r, np.shape(a))
    return _rt.reverse_cumsum(g, axis)       # also along a Dask axis of unknown length


def first_zero(a, axis=None):
    """True at the first zero of ``a`` along ``axis`` (of the flattened ``a`` for None), shaped like
    ``a``: where ``np.cumprod``'s derivative cannot divide by the input. Piecewise constant."""
    z = a == 0
    if axis is None:
        flat = np.ravel(z)
        return np.reshape(flat & (np.cumsum(flat) == 1), np.shape(a))
    return z & (np.cumsum(z, axis=axis) == 1)


def clip_mask(a, lo, hi, lo2=None, hi2=None):
    """1.0 where ``lo <= a <= hi`` (the gradient goes to ``a``), else 0.0. Piecewise constant.

    ``lo2``/``hi2`` are ``np.clip``'s keyword spellings ``min``/``max``, used where ``lo``/``hi``
    are None. The mask has the broadcast shape of ``a`` and the bounds.
    """
    lo = lo if lo is not None else lo2
    hi = hi if hi is not None else hi2
    inside = np.ones_like(a, dtype=_rtype(a, 0.0))
    if lo is not None:
        inside = np.where(a >= lo, inside, 0.0)
    if hi is not None:
        inside = np.where(a <= hi, inside, 0.0)
    return inside


def below(a, lo, hi, lo2=None, hi2=None):
    """1.0 where the lower bound is the result (``a < lo <= hi``). Piecewise constant.

    ``np.clip`` is ``minimum(maximum(a, lo), hi)``: where ``lo > hi`` the result is ``hi``.
    """
    lo = lo if lo is not None else lo2
    hi = hi if hi is not None else hi2
    hit = a < lo
    if hi is not None:
        hit = hit & (lo <= hi)
    return _mask(hit, a, lo, hi)


def above(a, lo, hi, lo2=None, hi2=None):
    """1.0 where the upper bound is the result (``a > hi`` or ``lo > hi``). Piecewise constant."""
    lo = lo if lo is not None else lo2
    hi = hi if hi is not None else hi2
    hit = a > hi
    if lo is not None:
        hit = hit | (lo > hi)
    return _mask(hit, a, lo, hi)


def tie_weights(x1, x2):
    """Weight of ``x1`` in ``maximum(x1, x2)``: 1 where larger, 0.5 at ties, 0 where smaller."""
    return np.where(x1 == x2, 0.5, _mask(x1 > x2, x1, x2))


# ---------------------------------------------------------------- linear algebra


def vdot_adjoint(g, other, x):
    """Adjoint of ``x`` in ``np.vdot(x, other)`` (both flattened)."""
    return np.reshape(g * np.ravel(other), np.shape(x))


def inner_adjoint_a(g, a, b):
    """Adjoint of ``a`` in ``np.inner(a, b)`` (sums over the last axes)."""
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        from srcad.runtime import unbroadcast
        return unbroadcast(g * b, a)
    nb = np.ndim(b) - 1
    ga = np.ndim(g)
    return np.tensordot(g, b, axes=(list(range(ga - nb, ga)), list(range(nb))))


def inner_adjoint_b(g, a, b):
    """Adjoint of ``b`` in ``np.inner(a, b)``."""
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        from srcad.runtime import unbroadcast
        return unbroadcast(g * a, b)
    na = np.ndim(a) - 1
    return np.tensordot(g, a, axes=(list(range(na)), list(range(na))))


def _tensordot_axes(a, b, axes):
    if isinstance(axes, (int, np.integer)):
        na = np.ndim(a)
        return list(range(na - axes, na)), list(range(axes))
    ax_a, ax_b = axes
    ax_a = [ax_a] if isinstance(ax_a, (int, np.integer)) else list(ax_a)
    ax_b = [ax_b] if isinstance(ax_b, (int, np.integer)) else list(ax_b)
    return [x % np.ndim(a) for x in ax_a], [x % np.ndim(b) for x in ax_b]


def tensordot_adjoint_a(g, a, b, axes=2):
    """Adjoint of ``a`` in ``np.tensordot(a, b, axes)``."""
    ax_a, ax_b = _tensordot_axes(a, b, axes)
    free_a = [i for i in range(np.ndim(a)) if i not in ax_a]
    free_b = [i for i in range(np.ndim(b)) if i not in ax_b]
    ng = np.ndim(g)
    r = np.tensordot(g, b, axes=(list(range(ng - len(free_b), ng)), free_b))
    labels = free_a + [ax_a[ax_b.index(j)] for j in sorted(ax_b)]
    return np.transpose(r, _inverse(labels))


def tensordot_adjoint_b(g, a, b, axes=2):
    """Adjoint of ``b`` in ``np.tensordot(a, b, axes)``."""
    ax_a, ax_b = _tensordot_axes(a, b, axes)
    free_a = [i for i in range(np.ndim(a)) if i not in ax_a]
    free_b = [i for i in range(np.ndim(b)) if i not in ax_b]
    r = np.tensordot(a, g, axes=(free_a, list(range(len(free_a)))))
    labels = [ax_b[ax_a.index(j)] for j in sorted(ax_a)] + free_b
    return np.transpose(r, _inverse(labels))


_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _einsum_args(args):
    """``np.einsum``'s positional arguments (unused trailing ones None) in the subscript-string form.

    Returns (subscripts, operands, position -> operand index). The sublist form
    ``einsum(x, [0, 1], y, [1, 2], [0, 2])`` is spelled with letters.
    """
    args = list(args)
    while args and args[-1] is None:
        args.pop()
    if isinstance(args[0], str):
        return args[0], args[1:], {p: p - 1 for p in range(1, len(args))}
    def spell(sub):
        return "".join("..." if s is Ellipsis else _LETTERS[int(s)] for s in sub)
    ops, subs, where = [], [], {}
    for p in range(0, len(args) - 1, 2):
        where[p] = len(ops)
        ops.append(args[p])
        subs.append(spell(args[p + 1]))
    spec = ",".join(subs)
    if len(args) % 2:
        spec += "->" + spell(args[-1])
    return spec, ops, where


def _expand_ellipsis(s, ops):
    """The subscripts ``s`` with each '...' spelled out in letters not used elsewhere (an operand's
    '...' takes the last of them, as NumPy broadcasts)."""
    if "." not in s:
        return s
    ins, arrow, out = s.partition("->")
    terms = ins.split(",")
    fresh = [c for c in _LETTERS if c not in s]
    counts = [np.ndim(o) - (len(t) - 3) if "..." in t else 0 for t, o in zip(terms, ops)]
    ell = "".join(fresh[:max(counts, default=0)])
    terms = [t.replace("...", ell[len(ell) - k:] if k else "") for t, k in zip(terms, counts)]
    if arrow:
        out = out.replace("...", ell)
    else:
        letters = "".join(terms).replace(",", "")
        out = ell + "".join(sorted(c for c in set(letters) if letters.count(c) == 1 and c not in ell))
    return ",".join(terms) + "->" + out


def _einsum_parse(subscripts, ops):
    s = _expand_ellipsis(subscripts.replace(" ", ""), ops)
    if "->" in s:
        ins, out = s.split("->")
    else:
        ins = s
        letters = ins.replace(",", "")
        out = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    ins = ins.split(",")
    if len(ins) != len(ops):
        raise ValueError(f"einsum: {len(ins)} operand subscripts for {len(ops)} operands")
    return ins, out


def einsum_adjoint(g, p, *args):
    """Adjoint of the operand at position ``p`` of ``np.einsum(*args)`` (string or sublist form)."""
    subscripts, ops, where = _einsum_args(args)
    subscripts = _expand_ellipsis(subscripts.replace(" ", ""), ops)
    k = where[p]
    ins, out = _einsum_parse(subscripts, ops)
    target = ins[k]
    others = [(s, o) for i, (s, o) in enumerate(zip(ins, ops)) if i != k]
    present = set(out) | {c for s, _ in others for c in s}
    uniq = "".join(dict.fromkeys(c for c in target if c in present))
    spec = ",".join([out] + [s for s, _ in others]) + "->" + uniq
    r = np.einsum(spec, g, *[o for _, o in others])
    # letters only in the target (summed out of it alone): broadcast over them
    sizes = dict(zip(target, np.shape(ops[k])))
    full = "".join(dict.fromkeys(target))
    missing = [c for c in full if c not in uniq]
    if missing:
        r = np.expand_dims(r, tuple(range(len(uniq), len(uniq) + len(missing))))
        r = np.broadcast_to(r, np.shape(r)[:len(uniq)] + tuple(sizes[c] for c in missing))
        uniq = uniq + "".join(missing)
    # repeated letters in the target (diagonals): embed with identity matrices
    if len(full) < len(target):
        fresh = [c for c in _LETTERS if c not in subscripts]
        seen, spelled, eyes = set(), "", []
        for c in target:
            if c in seen:
                f = fresh.pop(0)
                spelled += f
                eye = np.diag(np.ones_like(ops[k], shape=(sizes[c],)))   # in ops[k]'s library
                eyes.append((c + f, eye))
            else:
                seen.add(c)
                spelled += c
        r = np.einsum(",".join([uniq] + [s for s, _ in eyes]) + "->" + spelled, r, *[e for _, e in eyes])
    elif uniq != target:
        r = np.einsum(uniq + "->" + target, r)
    # an axis of size 1 broadcast against a larger one in another operand: sum it back
    shape = np.shape(ops[k])
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and np.shape(r)[i] != 1)
    if axes:
        r = np.sum(r, axis=axes, keepdims=True)
    # ... and the other way round: this operand's axis broadcast against another's size-1 axis
    if np.shape(r) != shape:
        r = np.broadcast_to(r, shape).copy()
    return r


def einsum_adjoint_dq(g, p, q, t, *args):
    """Tangent of ``einsum_adjoint(g, p, *args)`` along the tangent ``t`` of the operand at ``q``
    (the adjoint is linear in every other operand; it does not depend on operand ``p``'s value)."""
    if q == p or _is_zero(t):
        return 0.0
    args = list(args)
    args[q] = t
    return einsum_adjoint(g, p, *args)


def einsum_adjoint_swap(g, p, q, r, *args):
    """Adjoint of the operand at ``q`` in ``einsum_adjoint(g, p, *args)`` from the adjoint ``r`` of
    its result: ``<r, adjoint_p> = <g, einsum(args with operand p := r)>``."""
    if q == p or _is_zero(r):
        return 0.0
    args = list(args)
    args[p] = r
    return einsum_adjoint(g, q, *args)


def einsum_tangent_dq(p, r, q, t, *args):
    """``np.einsum(*args)`` with the operand at ``p`` replaced by ``r`` and the one at ``q`` by ``t``
    (the transpose of ``einsum_adjoint_dq`` in ``g`` and of ``einsum_adjoint_swap`` in ``g``)."""
    if q == p or _is_zero(r) or _is_zero(t):
        return 0.0
    args = list(args)
    args[q] = t
    return einsum_tangent(p, r, *args)


def einsum_tangent(p, t, *args):
    """Tangent of ``np.einsum(*args)`` from the tangent ``t`` of the operand at position ``p``."""
    args = list(args)
    while args and args[-1] is None:
        args.pop()
    args[p] = t
    return np.einsum(*args)


def trace_adjoint(g, a, offset=0, axis1=0, axis2=1):
    """Adjoint of ``np.trace(a, offset, axis1, axis2)``."""
    return diagonal_adjoint(np.expand_dims(_weak(g, a), -1) * np.ones_like(np.diagonal(a, offset, axis1, axis2)),
                            a, offset, axis1, axis2)


def diagonal_adjoint(g, a, offset=0, axis1=0, axis2=1):
    """Adjoint of ``np.diagonal(a, offset, axis1, axis2)``: ``g`` placed on that diagonal."""
    out = np.zeros_like(a, dtype=_rtype(a, g, 0.0))
    moved = np.moveaxis(out, (axis1, axis2), (-2, -1))  # a view into ``out``
    k = np.shape(g)[-1]
    rows = np.arange(k) + max(-offset, 0)
    cols = np.arange(k) + max(offset, 0)
    if isinstance(out, np.ndarray):
        moved[..., rows, cols] = g
        return out
    # another library (Dask assigns through one integer array at most): the places added to zeros
    return np.moveaxis(scatter_add(moved, (Ellipsis, rows, cols), g), (-2, -1), (axis1, axis2))


def diag_adjoint(g, v, k=0):
    """Adjoint of ``np.diag(v, k)``: extract for a 1-D ``v``, embed for a 2-D ``v``."""
    if np.ndim(v) == 1:
        return np.diagonal(g, k)
    return diagonal_adjoint(g, v, k, 0, 1)


def det_cofactor(a):
    """The cofactor matrix of ``a`` (``d det(a) / d a``, the adjugate transposed), batched.

    Computed from the SVD ``a = U S V^T`` as ``det(U) det(V) U diag(prod of the other s) V^T``,
    without inverting: it is right for singular matrices too (where ``det(a) inv(a)^T`` fails).
    """
    u, s, vt = np.linalg.svd(a)
    sign = np.linalg.det(u) * np.linalg.det(vt)
    if np.iscomplexobj(a):   # a^-T = conj(u) s^-1 conj(vt) for a unitary u, vt
        u, vt = np.conj(u), np.conj(vt)
    return np.expand_dims(sign, (-1, -2)) * np.matmul(u * np.expand_dims(prod_others(s, -1), -2), vt)


def _pair_products(s):
    """``Q[..., i, j]``: the product of the singular values ``s`` other than ``s_i`` and ``s_j``
    (0 on the diagonal), without division, so exact where some ``s`` are 0."""
    n = np.shape(s)[-1]
    k = np.arange(n)
    drop = (k[:, None, None] == k) | (k[None, :, None] == k)      # [i, j, k]: k is i or j
    q = np.prod(np.where(drop, np.ones_like(s)[..., None, None, :], s[..., None, None, :]), axis=-1)
    return np.where(k[:, None] == k, np.zeros_like(q), q)


def _cofactor_frame(a):
    """``a = U S V^T``; the cofactor map satisfies ``C(U M V^T) = det(U) det(V) U C(M) V^T``, so
    its derivative is taken at the diagonal ``S``: ``dC(S)[P] = diag(Q diag(P)) - Q * P^T``."""
    u, s, vt = np.linalg.svd(a)
    sign = np.expand_dims(np.linalg.det(u) * np.linalg.det(vt), (-1, -2))
    return u, vt, sign, _pair_products(s)


def det_cofactor_tangent(a, c, t):
    """Tangent of ``c = det_cofactor(a)`` along ``t``, from the SVD (singular ``a`` too)."""
    u, vt, sign, q = _cofactor_frame(a)
    p = np.matmul(np.swapaxes(u, -1, -2), np.matmul(t, np.swapaxes(vt, -1, -2)))
    diag = np.matmul(q, np.diagonal(p, 0, -2, -1)[..., None])[..., 0]
    dm = _diag_embed(diag) - q * np.swapaxes(p, -1, -2)
    return sign * np.matmul(u, np.matmul(dm, vt))


def det_cofactor_adjoint(r, a, c):
    """Adjoint of ``a`` in ``c = det_cofactor(a)`` from ``c``'s adjoint ``r`` (singular ``a`` too):
    the transpose of ``det_cofactor_tangent``."""
    u, vt, sign, q = _cofactor_frame(a)
    rm = sign * np.matmul(np.swapaxes(u, -1, -2), np.matmul(r, np.swapaxes(vt, -1, -2)))
    diag = np.matmul(q, np.diagonal(rm, 0, -2, -1)[..., None])[..., 0]
    pm = _diag_embed(diag) - np.swapaxes(q * rm, -1, -2)
    return np.matmul(u, np.matmul(pm, vt))


def _diag_embed(v):
    """Square matrices with the vectors ``v`` on their diagonals."""
    return v[..., :, None] * np.eye(np.shape(v)[-1], dtype=v.dtype)


def det_adjoint(g, a, y):
    """Adjoint of ``np.linalg.det(a)``: ``g`` times the cofactor matrix (singular ``a`` too)."""
    c = det_cofactor(a)
    return np.expand_dims(np.asarray(g, dtype=np.result_type(g, c)), (-1, -2)) * c


def slogdet_adjoint(g, a):
    """Adjoint of ``np.linalg.slogdet(a)`` from its (sign, logabsdet) adjoint ``g``."""
    if _is_zero(g):
        return 0.0
    gl = g[1]
    if np.iscomplexobj(a):
        # logabsdet = Re(log det), sign = det / |det|: with tau = tr(a^-1 da), d logabsdet = Re(tau)
        # and d sign = i sign Im(tau), so the adjoint is (Re(gl) + i Im(gs sign)) a^-T
        gs = g[0]
        coef = (0.0 if _is_zero(gl) else np.real(gl)) + \
            (0.0 if _is_zero(gs) else 1j * np.imag(gs * np.linalg.slogdet(a)[0]))
        return np.expand_dims(coef, (-1, -2)) * np.swapaxes(np.linalg.inv(a), -1, -2)
    if _is_zero(gl):
        return 0.0
    return np.expand_dims(gl, (-1, -2)) * np.swapaxes(np.linalg.inv(a), -1, -2)


def slogdet_tangent(t, a):
    """Tangent of ``np.linalg.slogdet(a)``: (0 for the sign, trace(inv(a) t))."""
    dl = np.sum(np.swapaxes(np.linalg.inv(a), -1, -2) * t, axis=(-1, -2))
    if np.iscomplexobj(dl):   # (i sign Im(tau), Re(tau)) for tau = tr(a^-1 t)
        return (1j * np.linalg.slogdet(a)[0] * np.imag(dl), np.real(dl))
    return (np.zeros_like(dl), dl)


def _solve_vector(b):
    return np.ndim(b) == 1


def solve_like(a, v, b):
    """``solve(a, v)`` treating ``v`` as vectors exactly when ``b`` was (1-D ``b``)."""
    if _solve_vector(b) and np.ndim(v) > 1:
        return np.linalg.solve(a, np.expand_dims(v, -1))[..., 0]
    return np.linalg.solve(a, v)


def solve_adjoint_b(g, a, b):
    """Adjoint of ``b`` in ``x = np.linalg.solve(a, b)``: ``solve(a^T, g)`` summed to ``b``'s shape."""
    from srcad.runtime import unbroadcast
    return unbroadcast(solve_like(np.swapaxes(a, -1, -2), g, b), b)


def solve_adjoint_a(g, a, b, y):
    """Adjoint of ``a`` in ``x = np.linalg.solve(a, b)``: ``-solve(a^T, g) x^T``."""
    from srcad.runtime import unbroadcast
    gb = solve_like(np.swapaxes(a, -1, -2), g, b)
    if _solve_vector(b):
        r = -np.expand_dims(gb, -1) * np.expand_dims(y, -2)
    else:
        r = -np.matmul(gb, np.swapaxes(y, -1, -2))
    return unbroadcast(r, a)


def solve_tangent_a(t, a, b, y):
    """Tangent of ``np.linalg.solve(a, b)`` from ``a``'s tangent ``t``: ``-solve(a, t x)``."""
    if _solve_vector(b):
        tx = np.matmul(t, np.expand_dims(y, -1))[..., 0]
    else:
        tx = np.matmul(t, y)
    return -solve_like(a, tx, b)


def lower_half(x):
    """Lower triangle of ``x`` with the diagonal halved (a projection: its own transpose)."""
    if _is_zero(x):
        return x
    low = np.tril(x)
    return low - 0.5 * np.tril(np.triu(x))


def symmetrized(x):
    """``(x + x^T) / 2`` over the last two axes (a projection: its own transpose)."""
    if _is_zero(x):
        return x
    return 0.5 * (x + np.swapaxes(x, -1, -2))


_phi = lower_half


def as_lower(x, upper=False):
    """The lower Cholesky factor from ``np.linalg.cholesky(a, upper)``'s result (or its adjoint or
    tangent): transposed where ``upper``; its own transpose."""
    if _is_zero(x) or not upper:
        return x
    return np.swapaxes(x, -1, -2)


def cholesky_adjoint(g, L):
    """Adjoint of ``L = np.linalg.cholesky(a)`` for a symmetric ``a`` (symmetric result).

    ``S = L^-T phi(L^T g) L^-1``, returned as ``(S + S^T) / 2`` (the derivative along symmetric
    perturbations, which is what a symmetric ``a`` admits).
    """
    refuse_complex(L, "np.linalg.cholesky")
    Lt = np.swapaxes(L, -1, -2)
    p = _phi(np.matmul(Lt, g))
    s = np.linalg.solve(Lt, np.swapaxes(np.linalg.solve(Lt, np.swapaxes(p, -1, -2)), -1, -2))
    return 0.5 * (s + np.swapaxes(s, -1, -2))


def cholesky_tangent(t, L):
    """Tangent of ``np.linalg.cholesky``: ``L phi(L^-1 t L^-T)`` (``t`` symmetrised first)."""
    refuse_complex(L, "np.linalg.cholesky")
    t = 0.5 * (t + np.swapaxes(t, -1, -2))
    x = np.linalg.solve(L, np.swapaxes(np.linalg.solve(L, np.swapaxes(t, -1, -2)), -1, -2))
    return np.matmul(L, _phi(x))


# ---------------------------------------------------------------- shapes and indexing


def _fill(ts, xs):
    """A list of tangents or adjoints with zeros (``0.0``) replaced by arrays like ``xs``."""
    if _is_zero(ts):
        ts = [0.0] * len(xs)
    return [np.zeros_like(x if is_array(x) else np.asarray(x), dtype=_rtype(x, 0.0))
            if _is_zero(t) else t for t, x in zip(ts, xs)]


def _like(out, arrays):
    """The adjoints ``out`` of the items of ``arrays`` in ``arrays``' own form: a tuple, a list, or
    (for an array whose rows were the items) an array, in the array's library."""
    if is_array(arrays):
        return np.reshape(np.stack(out), np.shape(arrays)) if len(out) else np.zeros_like(arrays, dtype=float)
    return tuple(out) if isinstance(arrays, tuple) else list(out)


def concat_adjoint(g, arrays, axis=0, kind="concatenate"):
    """Adjoints of the list ``arrays`` in ``np.concatenate``/``hstack``/``vstack``: ``g`` split up."""
    if kind == "hstack":
        parts = [np.atleast_1d(x) for x in arrays]
        axis = 0 if parts[0].ndim == 1 else 1
    elif kind == "vstack":
        parts = [np.atleast_2d(x) for x in arrays]
        axis = 0
    else:
        parts = arrays
    if axis is None:
        g = np.ravel(g)
        sizes = [count(x) for x in arrays]
        axis = 0
    else:
        sizes = [np.shape(x)[axis] for x in parts]
    # slices, not np.split (which Dask does not implement: NumPy would compute it)
    ends = np.cumsum(sizes).tolist()
    lead = (slice(None),) * (axis % np.ndim(g))
    pieces = [g[lead + (slice(end - n, end),)] for n, end in zip(sizes, ends)]
    return _like([np.reshape(p, np.shape(x)) for p, x in zip(pieces, arrays)], arrays)


def concat_tangent(ts, arrays, axis=0, kind="concatenate"):
    """Tangent of ``np.concatenate``/``hstack``/``vstack`` from the list of input tangents."""
    ts = _fill(ts, arrays)
    if kind == "hstack":
        return np.hstack(ts)
    if kind == "vstack":
        return np.vstack(ts)
    return np.concatenate(ts, axis=axis)


def stack_adjoint(g, arrays, axis=0):
    """Adjoints of the list ``arrays`` in ``np.stack(arrays, axis)``."""
    moved = np.moveaxis(g, axis, 0)
    return _like([moved[i] for i in range(len(arrays))], arrays)


def stack_tangent(ts, arrays, axis=0):
    """Tangent of ``np.stack`` from the list of input tangents."""
    return np.stack(_fill(ts, arrays), axis=axis)


def split_adjoint(g, y, axis=0):
    """Adjoint of ``ary`` in ``y = np.split(ary, ..., axis)`` from the list adjoint ``g``."""
    return np.concatenate(_fill(g, y), axis=axis)


def repeat_adjoint(g, a, repeats, axis=None):
    """Adjoint of ``np.repeat(a, repeats, axis)``: sums over each element's copies."""
    if axis is None:
        n = count(a)
        src = np.ravel(np.zeros_like(a, dtype=_rtype(a, g, 0.0)))
        src = scatter_add(src, np.repeat(np.arange(n), repeats), np.ravel(g))
        return np.reshape(src, np.shape(a))
    out = np.zeros_like(a, dtype=_rtype(a, g, 0.0))
    n = np.shape(a)[axis]
    idx = np.repeat(np.arange(n), repeats)
    return scatter_add(out, (slice(None),) * (axis % np.ndim(a)) + (idx,), g)


def tile_adjoint(g, A, reps):
    """Adjoint of ``np.tile(A, reps)``: sums over the copies."""
    reps = (reps,) if isinstance(reps, (int, np.integer)) else tuple(reps)
    shape = np.shape(A)
    n = max(len(reps), len(shape))
    reps = (1,) * (n - len(reps)) + reps
    full = (1,) * (n - len(shape)) + tuple(shape)
    inter = []
    for r, s in zip(reps, full):
        inter += [r, s]
    summed = np.sum(np.reshape(g, inter), axis=tuple(range(0, 2 * n, 2)))
    return np.reshape(summed, shape)


def negate_shift(shift):
    """``-shift`` for an int or a tuple of ints (index bookkeeping, nondiff)."""
    if isinstance(shift, (tuple, list)):
        return tuple(-s for s in shift)
    return -shift


def pad_adjoint(g, array, pad_width, mode="constant"):
    """Adjoint of ``np.pad(array, pad_width, mode)``.

    ``constant`` (any constant value): the centre of ``g``. ``edge``, ``reflect``, ``symmetric``,
    ``wrap``: every padded element is a copy of an input element, so the copies are summed back.
    """
    nd = np.ndim(array)
    pw = np.broadcast_to(np.asarray(pad_width, dtype=int), (nd, 2))  # as np.pad reads it: (1,), ((1,), (2,))
    if mode == "constant" or mode is None:
        sl = tuple(slice(lo, np.shape(g)[i] - hi) for i, (lo, hi) in enumerate(pw))
        return g[sl]
    if mode in ("edge", "reflect", "symmetric", "wrap"):
        src = np.arange(count(array)).reshape(np.shape(array))
        idx = np.pad(src, pw, mode=mode)
        out = np.ravel(np.zeros_like(array, dtype=_rtype(array, g, 0.0)))
        out = scatter_add(out, np.ravel(idx), np.ravel(g))
        return np.reshape(out, np.shape(array))
    raise NotImplementedError(f"srcad: no derivative for np.pad with mode={mode!r}")


def _pad_region(array, pad_width, mode, constant_values):
    """1.0 on the elements ``np.pad(array, pad_width)`` adds, 0.0 on ``array``'s own."""
    if mode not in ("constant", None) or np.ndim(constant_values) != 0:
        raise NotImplementedError("srcad: the derivative of np.pad with respect to constant_values "
                                  "is implemented for a single constant (mode='constant')")
    return np.pad(np.zeros_like(array, dtype=_rtype(array, 0.0)), pad_width, constant_values=1.0)


def pad_value_adjoint(g, array, pad_width, mode, constant_values):
    """Adjoint of the scalar ``constant_values`` of ``np.pad``: the sum of ``g`` over the padding."""
    return np.sum(g * _pad_region(array, pad_width, mode, constant_values))


def pad_value_tangent(t, array, pad_width, mode, constant_values):
    """Tangent of ``np.pad`` from the tangent ``t`` of its scalar ``constant_values``."""
    return t * _pad_region(array, pad_width, mode, constant_values)


def take_adjoint(g, a, indices, axis=None, mode="raise"):
    """Adjoint of ``np.take(a, indices, axis, mode=mode)``: ``g`` added back at ``indices`` (repeats
    sum), the indices first clipped or wrapped as ``mode`` says."""
    if mode in ("clip", "wrap"):
        n = count(a) if axis is None else np.shape(a)[axis]
        indices = np.clip(indices, 0, n - 1) if mode == "clip" else np.mod(indices, n)
    out = np.zeros_like(a, dtype=_rtype(a, g, 0.0))
    if axis is None:
        return np.reshape(scatter_add(np.ravel(out), np.ravel(indices), np.ravel(g)), np.shape(a))
    # out[:, ..., indices] (indices at axis) has the shape of g, the places it was taken from
    return scatter_add(out, (slice(None),) * (axis % np.ndim(a)) + (np.asarray(indices),), g)


def transpose_axes(axes):
    """The permutation passed to ``x.transpose(*axes)`` (None, a tuple, or ints)."""
    if len(axes) == 0:
        return None
    if len(axes) == 1 and (axes[0] is None or isinstance(axes[0], (tuple, list))):
        return axes[0]
    return tuple(axes)


def inverse_axes(axes):
    """The inverse of a transpose permutation (None stays None)."""
    if axes is None:
        return None
    return tuple(int(i) for i in np.argsort(axes))


def cast_adjoint(g, a, dtype):
    """Adjoint (or tangent) through ``a.astype(dtype)``: ``g`` for floating and complex dtypes, else
    zero.

    ``g`` takes ``a``'s dtype (the adjoint of a float32 input is float32); where ``a`` is real and
    ``g`` complex (a cast to complex, or the tangent of a cast from complex to real), its real part.
    """
    if np.dtype(dtype).kind not in "fc":
        return g * 0.0
    dt = getattr(a, "dtype", None)
    if dt is None and isinstance(a, (float, int)) and isinstance(g, complex):
        return g.real
    if dt is not None and dt.kind in "fc" and isinstance(g, (np.ndarray, np.generic)) and g.dtype != dt \
            and g.dtype.kind in "fc":
        return (np.real(g) if dt.kind == "f" else g).astype(dt)
    return g


def linspace_weight(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
    """The weight ``w`` of ``stop`` in ``np.linspace(start, stop, ...)`` (``1 - w`` is ``start``'s).

    Shaped like the output; zero for an integer ``dtype`` (piecewise constant).
    """
    if retstep:
        raise NotImplementedError("srcad: no derivative for np.linspace(..., retstep=True); "
                                  "compute the step as (stop - start) / (num - 1)")
    dt = _rtype(start, stop, 0.0) if dtype is None or np.dtype(dtype).kind not in "fc" else np.dtype(dtype)
    zero = 0.0 * (np.asarray(start, dtype=dt) + np.asarray(stop, dtype=dt))
    w = np.linspace(zero, zero + 1.0, num, endpoint=endpoint, axis=axis)
    if dtype is not None and np.dtype(dtype).kind not in "fc":
        return w * 0.0
    return w


def linspace_tangent(t, w, axis=0):
    """A tangent of ``start`` or ``stop`` spread along ``np.linspace``'s new ``axis``, times ``w``."""
    return np.expand_dims(t, axis) * w


def _sort_order(a, axis):
    if axis is None:
        return np.argsort(np.ravel(a), kind="stable"), 0
    return np.argsort(a, axis=axis, kind="stable"), axis


def sort_adjoint(g, a, axis=-1):
    """Adjoint of ``np.sort(a, axis)``: ``g`` sent back to where each sorted value came from."""
    idx, ax = _sort_order(a, axis)
    return np.reshape(put_along(np.ravel(a) if axis is None else a, idx, g, ax), np.shape(a))


def put_along(a, idx, g, axis):
    """Zeros like ``a`` with ``g`` put at the positions ``idx`` along ``axis`` (a permutation or a
    partial one): ``np.put_along_axis`` on NumPy; elsewhere (Dask has none, and NumPy would write
    into a converted copy) ``g`` taken through the inverse permutation."""
    out = np.zeros_like(a, dtype=_rtype(a, g, 0.0))
    if isinstance(out, np.ndarray):
        np.put_along_axis(out, idx, g, axis)
        return out
    return np.take_along_axis(g, np.argsort(idx, axis=axis), axis)


def sort_tangent(t, a, axis=-1):
    """Tangent of ``np.sort(a, axis)``: ``t`` in the sorted order (ties keep their order)."""
    idx, ax = _sort_order(a, axis)
    return np.take_along_axis(np.ravel(t) if axis is None else t, idx, ax)


# ---------------------------------------------------------------- memory order of reshape / ravel


def layout_order(a, order):
    """The order ``np.reshape(a, ..., order)`` reads ``a`` in: 'A' is 'F' for a Fortran-ordered
    array, else 'C'."""
    if order == "A":
        return "F" if isinstance(a, np.ndarray) and np.isfortran(a) else "C"
    return order


def reshape_adjoint(g, a, order="C"):
    """The adjoint of ``np.reshape(a, shape, order)``."""
    return np.reshape(g, np.shape(a), order=layout_order(a, order))


def reshape_tangent(t, a, y, order="C"):
    """The tangent of ``y = np.reshape(a, shape, order)`` for the tangent ``t`` of ``a``."""
    return np.reshape(t, np.shape(y), order=layout_order(a, order))


def ravel_index(a, order):
    """``ix`` with ``np.ravel(a, order) == np.reshape(a, -1)[ix]`` for any order ('K' follows
    ``a``'s memory layout, which an index array made by ``empty_like`` shares)."""
    if not isinstance(a, np.ndarray):
        # another library's array (Dask, CuPy) has no memory layout NumPy can see: 'K' reads as 'C'
        return np.ravel(np.reshape(np.arange(count(a)), np.shape(a)), "C" if order in ("K", "A") else order)
    ix = np.empty_like(a, dtype=np.intp)
    ix[...] = np.reshape(np.arange(np.size(a)), np.shape(a))
    return np.ravel(ix, order)


def ravel_adjoint(g, a, order="C"):
    """The adjoint of ``np.ravel(a, order)`` (and ``a.flatten(order)``)."""
    if order == "C":
        return np.reshape(g, np.shape(a))
    ix = ravel_index(a, order)
    if not isinstance(g, np.ndarray) and is_array(g):
        return np.reshape(np.take(g, np.argsort(ix)), np.shape(a))   # out[ix] = g, in g's library
    out = np.zeros(np.size(a), dtype=_rtype(g, 0.0))
    out[ix] = g
    return np.reshape(out, np.shape(a))


def ravel_tangent(t, a, order="C"):
    """The tangent of ``np.ravel(a, order)`` for the tangent ``t`` of ``a``."""
    if order == "C":
        return np.ravel(t)
    return np.reshape(np.broadcast_to(t, np.shape(a)), -1)[ravel_index(a, order)]


# ---------------------------------------------------------------- transposes the helpers' own rules
# call (srcad.rules.runtime_rules), so derivatives of derivatives stay within rules


def pad_spread(r, pad_width, mode="constant"):
    """The transpose of ``pad_adjoint``: ``r`` padded as ``np.pad`` pads, zeros for a constant."""
    if mode is None or mode == "constant":
        return np.pad(r, pad_width)
    return np.pad(r, pad_width, mode=mode)


def prod_others_tangent(t, a, axis=None):
    """Tangent of ``prod_others(a, axis)`` along ``t``: for each element, the sum over the other
    elements ``k`` of its group of ``t[k]`` times the product of the group without both.

    Exact where ``a`` holds zeros (no division). The map is symmetric, so it is its own transpose.
    """
    a = np.asarray(a) if not hasattr(a, "shape") else a
    if a.ndim == 0:
        return np.zeros_like(t * 1.0)
    t = np.broadcast_to(t, a.shape)
    axes = _axes(axis, a.ndim)
    rest = tuple(i for i in range(a.ndim) if i not in axes)
    moved = np.transpose(a, rest + axes)
    lead = moved.shape[:len(rest)]
    flat = np.reshape(moved, lead + (-1,))
    tflat = np.reshape(np.transpose(t, rest + axes), lead + (-1,))
    n = flat.shape[-1]
    diag = np.arange(n)
    rows = np.array(np.broadcast_to(np.expand_dims(flat, -2), lead + (n, n)), dtype=np.result_type(flat, 1.0))
    rows[..., diag, diag] = 1.0
    both = prod_others(rows, -1)          # [i, k]: the group's product without elements i and k
    both[..., diag, diag] = 0.0
    out = np.matmul(both, np.expand_dims(tflat, -1))[..., 0]
    return np.transpose(np.reshape(out, moved.shape), _inverse(rest + axes))


def mat_apply(m, v, b):
    """``m @ v`` with ``v`` a stack of vectors exactly when ``b`` (solve's right side) is 1-D."""
    if _solve_vector(b):
        return np.matmul(m, np.expand_dims(v, -1))[..., 0]
    return np.matmul(m, v)


def outer_like(u, v, b):
    """``u v^T`` for vectors (1-D ``b``), ``u @ v^T`` for matrices: the transpose of ``mat_apply``
    in its matrix."""
    if _solve_vector(b):
        return np.expand_dims(u, -1) * np.expand_dims(v, -2)
    return np.matmul(u, np.swapaxes(v, -1, -2))


_rt.TAKES_ZERO.update({weights_sum, slogdet_adjoint})   # they take the 0.0 placeholder for g (runtime.TAKES_ZERO)


# ---------------------------------------------------------------- whole expressions (srcad/patterns.py)
# ``log_softmax`` and ``softmax_xent`` stand for the user's own statements, recognised after
# normalisation; each computes its value with the same NumPy operations in the same order (so the
# numbers are the user's), and their rules (rules/pattern_rules.py) need fewer passes than the parts'.

def log_softmax(s, axis):
    """``s - log(sum(exp(s), axis, keepdims=True))``, written as the user wrote it."""
    return s - np.log(np.sum(np.exp(s), axis=axis, keepdims=True))


def softmax_xent(s, y, axis):
    """``sum(y * log_softmax(s, axis))``: the (negated) softmax cross-entropy's sum."""
    return np.sum(y * log_softmax(s, axis))


def _spread_to(g, x):
    """``g`` spread to ``x``'s shape where it is a 0-d placeholder (a zero adjoint or tangent)."""
    return g if np.shape(g) == np.shape(x) else np.broadcast_to(g, np.shape(x))


def log_softmax_adjoint(g, ly, axis):
    """The adjoint of ``ly = log_softmax(s)`` sent to ``s``: ``g - softmax * sum(g)``."""
    g = _spread_to(g, ly)
    return g - np.exp(ly) * np.sum(g, axis=axis, keepdims=True)


def log_softmax_tangent(t, ly, axis):
    """The tangent of ``ly = log_softmax(s)``: ``t - sum(softmax * t)``."""
    t = _spread_to(t, ly)
    return t - np.sum(np.exp(ly) * t, axis=axis, keepdims=True)


def softmax_xent_adjoint(g, s, y, axis):
    """The adjoint of ``softmax_xent(s, y, axis)`` sent to ``s``: ``g * (y - softmax(s) * sum(y))``.

    Where ``y`` has ``s``'s shape (labels of the same shape as the logits) it takes one ``exp``, two
    sums and three passes, all in one owned array; otherwise ``y`` broadcasts against ``s`` and the
    log-softmax adjoint of ``g * y`` (summed down to ``s``'s shape) is taken."""
    if type(s) is np.ndarray and type(y) is np.ndarray and y.shape == s.shape and y.dtype == s.dtype and \
            s.dtype.kind == "f" and np.ndim(g) == 0 and not np.iscomplexobj(g):
        e = np.exp(s)
        col = np.sum(y, axis=axis, keepdims=True) / np.sum(e, axis=axis, keepdims=True)
        e *= col
        e -= y
        e *= -g
        return e
    gy = _rt.unbroadcast(g * y + np.zeros_like(s), s)
    return log_softmax_adjoint(gy, log_softmax(s, axis), axis)


def softmax_xent_labels_adjoint(g, s, y, axis):
    """The adjoint of ``softmax_xent(s, y, axis)`` sent to the labels ``y``: ``g * log_softmax(s)``,
    summed down to ``y``'s shape where ``y`` broadcast against ``s``."""
    if np.shape(y) == np.shape(s):
        return g * log_softmax(s, axis)
    return _rt.unbroadcast(g * log_softmax(s, axis) + np.zeros_like(y), y)


def sum_matmul(a, b):
    """``np.sum(a @ b)``, written as the user wrote it."""
    return np.sum(a @ b)


def _plain_pair(g, a, b):
    """2-D float arrays of one dtype and a real number ``g``: the fast paths below."""
    return type(a) is np.ndarray and type(b) is np.ndarray and a.ndim == 2 and b.ndim == 2 and \
        a.dtype == b.dtype and a.dtype.kind == "f" and np.ndim(g) == 0 and not np.iscomplexobj(g)


def sum_matmul_adjoint_a(g, a, b):
    """The adjoint of ``sum(a @ b)`` sent to ``a``: ``g * ones @ b.T``, every row ``g`` times ``b``'s
    row sums (no product formed)."""
    if _plain_pair(g, a, b):
        return _rows_like(g * np.sum(b, axis=1), a)
    return _rt.matmul_adjoint_a(g * np.ones_like(a @ b), a, b)


def sum_matmul_adjoint_b(g, a, b):
    """The adjoint of ``sum(a @ b)`` sent to ``b``: ``g * a.T @ ones``, every column ``g`` times
    ``a``'s column sums."""
    if _plain_pair(g, a, b):
        return _rows_like((g * np.sum(a, axis=0))[:, None], b)
    return _rt.matmul_adjoint_b(g * np.ones_like(a @ b), a, b)


def _rows_like(v, x):
    """``v`` spread to ``x``'s shape: a fresh array where ``x`` is small, a read-only broadcast view
    (no memory, no pass) where it is large, as ``runtime.unreduce`` does."""
    if x.size > _rt._VIEW_ABOVE:
        return np.broadcast_to(v, x.shape)
    out = np.empty_like(x)
    out[...] = v
    return out


# ``x @ W + b`` and ``x @ W + u @ U + b`` (srcad/patterns.py), 2-D ``x``, ``W``, ``u``, ``U`` and
# a bias of rank 0 or 1: the values are the user's operations in the user's order (one helper per
# product function, ``@`` or ``np.dot``, which round differently on strided operands)
def affine(x, W, b):
    """``x @ W + b``, computed as the user wrote it."""
    return x @ W + b


def dot_affine(x, W, b):
    """``np.dot(x, W) + b``, computed as the user wrote it."""
    return np.dot(x, W) + b


def affine2(x, W, u, U, b):
    """``x @ W + u @ U + b``, computed as the user wrote it (the products added first)."""
    return x @ W + u @ U + b


def dot_affine2(x, W, u, U, b):
    """``np.dot(x, W) + np.dot(u, U) + b``, computed as the user wrote it."""
    return np.dot(x, W) + np.dot(u, U) + b


def product_adjoint(g, x, W):
    """The adjoint that reaches the product ``x @ W`` (2-D operands) from the adjoint ``g`` of
    ``x @ W + b``: ``g`` itself where the bias did not widen the product (no pass, no copy), else
    ``g`` summed down to the product's shape as ``unbroadcast`` does; laid out for BLAS (an array
    that owns its memory is dense, C or Fortran order; a view, a broadcast one say, is made
    C-contiguous). The shape comes from ``x`` and ``W``, so no loop pushes the product's shape."""
    p = (x.shape[0], W.shape[1])
    return g if type(g) is np.ndarray and g.base is None and g.shape == p else _to_product(g, p)


def product_adjoint2(g, x, W, u, U):
    """``product_adjoint`` for the first product of ``x @ W + u @ U + b``: ``g`` summed to the
    shape of the sum of the products, then to that of ``x @ W`` (the generic path's two steps)."""
    p, q = (x.shape[0], W.shape[1]), (u.shape[0], U.shape[1])
    if p == q:
        return g if type(g) is np.ndarray and g.base is None and g.shape == p else _to_product(g, p)
    return _to_product(_to_product(g, np.broadcast_shapes(p, q)), p)


def _to_product(g, shape):
    if np.ndim(g) == 0:   # the 0.0 placeholder: spread to the product's shape
        return np.full(shape, g) if not is_array(g) else g + np.zeros(shape)
    if g.shape != shape:
        g = _rt.unbroadcast(g, _rt.Shape(shape))
    return np.ascontiguousarray(g) if type(g) is np.ndarray else g
