"""Helpers of the rules for ``np.linalg.norm``: weights of every ``ord`` (vector and matrix
norms, the kinks shared evenly), the adjoint and tangent, and their own derivatives."""

import numpy as np




def _rtype(*vs):
    """``np.result_type`` of arrays, scalars and lists of them (a list is read as an array)."""
    return np.result_type(*[np.asarray(v) if isinstance(v, (list, tuple)) else
                            getattr(v, "dtype", v) if hasattr(v, "__array_function__") else v for v in vs])


def _norm_is_matrix(x, axis):
    """Does ``np.linalg.norm(x, ord, axis)`` take a matrix norm (over two axes)?"""
    if axis is None:
        return np.ndim(x) == 2
    return isinstance(axis, (tuple, list)) and len(axis) == 2


def _norm_smooth(x, ord, axis):
    """The 2-norm of vectors or the Frobenius norm of matrices: weights ``x / y``."""
    return ord is None or ord == "fro" or (ord == 2 and not _norm_is_matrix(x, axis))


def _share(mask, axis, ref=0.0):
    """``mask`` (0/1) divided among its ties along ``axis``."""
    mask = (mask if hasattr(mask, "astype") else np.asarray(mask)).astype(_rtype(ref, 0.0))
    return mask / np.sum(mask, axis=axis, keepdims=True)


def _matrix_norm_weights(x, y, ord, axis):
    """d norm / d x for the matrix norms ``ord`` in (1, -1, inf, -inf, 2, -2, 'nuc'), shaped like x.

    The two axes are moved last; ties (equal row/column sums, equal singular values) take the
    evenly shared or the first singular pair, like the other kinks.
    """
    nd = np.ndim(x)
    ax = (0, 1) if axis is None else tuple(a % nd for a in axis)
    xm = np.moveaxis(x, ax, (-2, -1))
    if ord in (np.inf, -np.inf, 1, -1):
        over = -1 if ord in (np.inf, -np.inf) else -2    # rows (inf) or columns (1) are summed
        sums = np.sum(np.abs(xm), axis=over, keepdims=True)
        pick = np.max if ord in (np.inf, 1) else np.min
        w = np.sign(xm) * _share(sums == pick(sums, axis=-2 if over == -1 else -1, keepdims=True),
                                 -2 if over == -1 else -1, xm)
    elif ord in (2, -2, "nuc"):
        u, _, vt = np.linalg.svd(xm, full_matrices=False)
        if ord == "nuc":
            w = np.matmul(u, vt)
        else:
            k = 0 if ord == 2 else -1
            w = np.expand_dims(u[..., :, k], -1) * np.expand_dims(vt[..., k, :], -2)
    else:
        raise NotImplementedError(f"srcad: derivative of np.linalg.norm with ord={ord!r} on a matrix")
    return np.moveaxis(w, (-2, -1), ax)


def _vector_norm_weights(x, y, ord, axis):
    """d norm / d x for vector norms (``y`` broadcast against ``x``)."""
    if ord in (np.inf, -np.inf):
        return np.sign(x) * _share(np.abs(x) == y, axis, x)
    if ord == 0:
        return np.zeros_like(x * 1.0)   # the count of non-zeros is piecewise constant
    if ord == 1:
        return np.sign(x) * 1.0
    if isinstance(ord, (int, float, np.integer, np.floating)) and not isinstance(ord, bool):
        safe = np.where(y == 0, 1.0, y)
        return np.sign(x) * np.abs(x) ** (ord - 1) / safe ** (ord - 1)
    raise NotImplementedError(f"srcad: derivative of np.linalg.norm with ord={ord!r} on a vector")


def norm_weights(x, y, ord=None, axis=None, keepdims=False):
    """d norm(x) / d x, shaped like ``x`` (each element's weight in its own norm)."""
    y = _norm_expand(y, axis, keepdims, x)
    if _norm_smooth(x, ord, axis):
        return x / np.where(y == 0, 1.0, y)
    if _norm_is_matrix(x, axis):
        return _matrix_norm_weights(x, y, ord, axis)
    return _vector_norm_weights(x, y, ord, axis)


def norm_adjoint(g, x, y, ord=None, axis=None, keepdims=False):
    """Adjoint of ``np.linalg.norm(x, ord, axis, keepdims)`` (vector and matrix norms).

    A complex ``x`` has a real norm: its adjoint is ``Re(g) conj(w)`` for the weights ``w`` with
    ``d norm = Re(sum(conj(w) dx))`` (docs/complex.md)."""
    if np.iscomplexobj(x):
        return np.real(_norm_expand(g, axis, keepdims, x)) * np.conj(norm_weights(x, y, ord, axis, keepdims))
    if _norm_smooth(x, ord, axis):
        g = _norm_expand(g, axis, keepdims, x)
        y = _norm_expand(y, axis, keepdims, x)
        return g * x / np.where(y == 0, 1.0, y)
    return _norm_expand(g, axis, keepdims, x) * norm_weights(x, y, ord, axis, keepdims)


def norm_tangent(t, x, y, ord=None, axis=None, keepdims=False):
    """Tangent of ``np.linalg.norm`` for the input tangent ``t`` (linear in ``t``)."""
    w = norm_weights(x, y, ord, axis, keepdims)
    if np.iscomplexobj(x):
        return np.real(np.sum(np.conj(w) * t, axis=None if axis is None else axis, keepdims=keepdims))
    return np.sum(w * t, axis=None if axis is None else axis, keepdims=keepdims)




def _norm_expand(v, axis, keepdims, x=None):
    """A norm's output (or its adjoint) with the reduced axes put back as size 1."""
    if axis is not None and not keepdims:
        return np.expand_dims(v, axis)
    if axis is None and not keepdims and x is not None and np.ndim(v) == 0 and np.ndim(x) > 0:
        # a Python float (the seed 1.0) takes x's floating dtype: a float32 x keeps float32
        v = v.astype(_rtype(v, x, 0.0)) if hasattr(v, "astype") else np.asarray(v, dtype=_rtype(v, x, 0.0))
        return np.reshape(v, (1,) * np.ndim(x))
    return v


def _norm_piecewise_linear(x, ord, axis):
    """Norms whose weights are piecewise constant in ``x`` (their second derivative is zero)."""
    return ord in (np.inf, -np.inf, 0) or ord == 1 or (ord == -1 and _norm_is_matrix(x, axis))


def _norm_vector_p(x, ord, axis):
    return (not _norm_is_matrix(x, axis) and isinstance(ord, (int, float, np.integer, np.floating))
            and not isinstance(ord, bool))


def _norm_spectral(x, ord, axis):
    """The matrix norms of the singular values (2, -2, 'nuc'): weights ``u v^T`` from the SVD."""
    return _norm_is_matrix(x, axis) and (ord in (2, -2) or (isinstance(ord, str) and ord == "nuc"))


def _spectral_weights_tangent(x, dx, ord, axis):
    """Tangent of the weights of the matrix norm ``ord`` in (2, -2, 'nuc') along ``dx``.

    With ``x = U S V^T`` (thin), ``dP = U^T dx V``, the singular vectors move by
    ``du_i = sum_j u_j (s_i dP_ji + s_j dP_ij) / (s_i^2 - s_j^2) + (I - U U^T) dx v_i / s_i`` and
    ``dv_i = sum_j v_j (s_i dP_ij + s_j dP_ji) / (s_i^2 - s_j^2) + (I - V V^T) dx^T u_i / s_i``.
    For 'nuc' the weights ``U V^T`` move by ``U K V^T`` with ``K_ji = (dP_ji - dP_ij) / (s_i + s_j)``
    plus the two out-of-span terms; for 2 and -2 by ``du_k v_k^T + u_k dv_k^T`` (distinct s_k).
    """
    nd = np.ndim(x)
    ax = (0, 1) if axis is None else tuple(a % nd for a in axis)
    xm = np.moveaxis(x, ax, (-2, -1))
    dxm = np.moveaxis(np.broadcast_to(dx, np.shape(x)), ax, (-2, -1))
    u, s, vt = np.linalg.svd(xm, full_matrices=False)
    v = np.swapaxes(vt, -1, -2)
    ut = np.swapaxes(u, -1, -2)
    dxt = np.swapaxes(dxm, -1, -2)
    dp = np.matmul(ut, np.matmul(dxm, v))
    dpt = np.swapaxes(dp, -1, -2)
    si = np.expand_dims(s, -2)          # s_i along columns (index i), s_j along rows (index j)
    sj = np.expand_dims(s, -1)
    out_u = dxm - np.matmul(u, np.matmul(ut, dxm))        # (I - U U^T) dx
    out_v = dxt - np.matmul(v, np.matmul(np.swapaxes(v, -1, -2), dxt))   # (I - V V^T) dx^T
    if isinstance(ord, str):
        inv_s = 1.0 / si                # scales columns i by 1 / s_i
        dw = (np.matmul(u, np.matmul((dp - dpt) / (si + sj), vt))
              + np.matmul(out_u, np.matmul(v * inv_s, vt))
              + np.matmul(u * inv_s, np.matmul(ut, np.swapaxes(out_v, -1, -2))))
        return np.moveaxis(dw, (-2, -1), ax)
    i = 0 if ord == 2 else np.shape(s)[-1] - 1
    off = np.arange(np.shape(s)[-1]) != i
    gap = np.where(off, s[..., i:i + 1] ** 2 - s ** 2, 1.0)          # s_i^2 - s_j^2 over j
    a = np.where(off, s[..., i:i + 1] * dpt[..., i, :] + s * dp[..., i, :], 0.0) / gap
    b = np.where(off, s[..., i:i + 1] * dp[..., i, :] + s * dpt[..., i, :], 0.0) / gap
    ui, vi = u[..., :, i:i + 1], v[..., :, i:i + 1]                      # columns
    du = np.matmul(u, np.expand_dims(a, -1)) + np.matmul(out_u, vi) / s[..., i:i + 1, None]
    dv = np.matmul(v, np.expand_dims(b, -1)) + np.matmul(out_v, ui) / s[..., i:i + 1, None]
    dw = np.matmul(du, np.swapaxes(vi, -1, -2)) + np.matmul(ui, np.swapaxes(dv, -1, -2))
    return np.moveaxis(dw, (-2, -1), ax)


def norm_adjoint_dx(g, x, y, dx, ord=None, axis=None, keepdims=False):
    """Tangent of ``norm_adjoint(g, x, y, ...)`` along ``dx`` (``g`` and ``y`` held fixed)."""
    g, y = _norm_expand(g, axis, keepdims, x), _norm_expand(y, axis, keepdims, x)
    if _norm_smooth(x, ord, axis):
        return g * dx / np.where(y == 0, 1.0, y)
    if _norm_piecewise_linear(x, ord, axis):
        return np.zeros_like(dx * g)   # piecewise constant in x
    if _norm_spectral(x, ord, axis):
        return g * _spectral_weights_tangent(x, dx, ord, axis)
    if _norm_vector_p(x, ord, axis):
        safe = np.where(y == 0, 1.0, y)
        return g * (ord - 1) * np.abs(x) ** (ord - 2) * dx / safe ** (ord - 1)
    raise NotImplementedError(f"srcad: second derivative of np.linalg.norm with ord={ord!r}")


def norm_adjoint_dy(g, x, y, dy, ord=None, axis=None, keepdims=False):
    """Tangent of ``norm_adjoint(g, x, y, ...)`` along ``dy`` (``g`` and ``x`` held fixed)."""
    g, y = _norm_expand(g, axis, keepdims, x), _norm_expand(y, axis, keepdims, x)
    dy = _norm_expand(dy, axis, keepdims, x)
    safe = np.where(y == 0, 1.0, y)
    if _norm_smooth(x, ord, axis):
        return -g * x * dy / safe ** 2
    if _norm_piecewise_linear(x, ord, axis) or _norm_spectral(x, ord, axis):
        return np.zeros_like(x * g * dy)   # the weights do not read y
    if _norm_vector_p(x, ord, axis):
        return -g * (ord - 1) * np.sign(x) * np.abs(x) ** (ord - 1) * dy / safe ** ord
    raise NotImplementedError(f"srcad: second derivative of np.linalg.norm with ord={ord!r}")


def norm_adjoint_dy_adjoint(g, x, y, r, ord=None, axis=None, keepdims=False):
    """Adjoint of ``y`` through ``norm_adjoint(g, x, y, ...)`` from its result's adjoint ``r``
    (the transpose of ``norm_adjoint_dy``: summed over the norm's axes, shaped like ``y``)."""
    ones = np.ones_like(y * 1.0)
    w = norm_adjoint_dy(g, x, y, ones, ord, axis, keepdims)
    return np.reshape(np.sum(w * r, axis=axis, keepdims=keepdims), np.shape(y))
