"""Helpers that the rule tables ``linalg_rules``, ``fft_rules`` and ``array_rules`` call.

Two kinds. Adjoints and tangents written in plain, differentiable NumPy (no writes into arrays):
srcad reads their code when it differentiates generated code again (grad of grad, hessian), so
they need no rules of their own. Linear maps that cannot be written so (scatters, FFT embeddings)
have explicit rules in the tables, each the transpose of the other. Bookkeeping (index orders,
masks, axes) is declared ``nondiff``.

Complex values. Inside differentiated code a complex value ``z = x + iy`` carries the adjoint
``dL/dx - i dL/dy`` (the convention of JAX): then every holomorphic rule (``*``, ``exp``, the FFTs)
keeps its real form, the adjoint of a linear map is its transpose (not its conjugate transpose),
and the adjoint of a real value is the real part of what arrives. ``np.real``, ``np.imag``,
``np.abs``, ``np.angle`` and ``np.conj`` are the non-holomorphic places, handled here.
"""

import numpy as np

from srcad import runtime as _rt
from srcad.rules import numpy_helpers as _h
from srcad.rules.numpy_helpers import _is_zero, refuse_complex
from srcad.runtime import unbroadcast

NEG_I = -1j


def _rtype(*vs):
    """``np.result_type`` of arrays, scalars and lists of them (a list is read as an array); an
    array's dtype is read without converting it (a Dask array would be computed)."""
    return np.result_type(*[np.asarray(v) if isinstance(v, (list, tuple)) else
                            getattr(v, "dtype", v) if hasattr(v, "__array_function__") else v for v in vs])


def _t(x):
    return np.swapaxes(x, -1, -2)


def as_row(v):
    """``v[..., None, :]``: a vector as a row (scales the columns of a matrix). 0.0 stays 0.0, so
    that a tangent or adjoint that is a known zero passes (rules at the end of linalg_rules)."""
    return v if _is_zero(v) else np.expand_dims(v, -2)


def as_col(v):
    """``v[..., None]``: a vector as a column (0.0 stays 0.0)."""
    return v if _is_zero(v) else np.expand_dims(v, -1)


def drop_row(g):
    """The adjoint of ``as_row``: ``g[..., 0, :]``."""
    return g if _is_zero(g) else g[..., 0, :]


def drop_col(g):
    """The adjoint of ``as_col``: ``g[..., 0]``."""
    return g if _is_zero(g) else g[..., 0]


_row, _col = as_row, as_col


def _eye_like(v):
    """An identity matrix of the last dimension of the vector(s) ``v``."""
    return np.eye(np.shape(v)[-1], dtype=_rtype(v, 0.0))


def _dense(g, like):
    """An adjoint slot that may hold the placeholder 0.0, as an array shaped like ``like``."""
    if _is_zero(g):
        return np.zeros_like(like, dtype=_rtype(like, 0.0))
    return g


def refuse_repeated(gaps, what):
    """Raise where two eigenvalues (singular values) coincide: the derivative is not defined."""
    off = np.abs(gaps) + np.eye(np.shape(gaps)[-1])
    if np.any(off == 0):
        raise ValueError(f"srcad: {what} has repeated values here; its derivative (distinct values) "
                         "is not defined at this point")


def _gap_inverse(w, what):
    """``F[i, j] = 1 / (w[j] - w[i])`` off the diagonal, 0 on it."""
    gaps = _row(w) - _col(w)
    eye = _eye_like(w)
    refuse_repeated(gaps, what)
    return (1.0 - eye) / (gaps + eye)


# ================================================================ complex parts

def abs_adjoint(g, x):
    """Adjoint of ``np.abs(x)``: ``g sign(x)``; for complex ``x``, ``Re(g) conj(x) / |x|``."""
    if np.iscomplexobj(x):
        return np.real(g) * np.conj(x) / np.where(x == 0, 1.0, np.abs(x))
    return g * np.sign(x)


def abs_tangent(t, x):
    """Tangent of ``np.abs(x)``: ``t sign(x)``; for complex ``x``, ``Re(conj(x) t) / |x|``."""
    if np.iscomplexobj(x) or np.iscomplexobj(t):
        return np.real(np.conj(x) * t) / np.where(x == 0, 1.0, np.abs(x))
    return t * np.sign(x)


def real_adjoint(g, z):
    """Adjoint of ``np.real(z)``: ``Re(g)``, complex where ``z`` is (an adjoint has its value's dtype)."""
    if np.iscomplexobj(z):
        return np.real(g) * np.ones_like(z)
    return np.real(g)


def base_log(x1, x2):
    """``log(x1)``, the factor of ``x1 ** x2``'s derivative in ``x2``: 0 where the real base is not
    positive (no derivative there; ``x1 ** x2`` is real only for whole ``x2``), the principal
    logarithm of a non-zero complex base."""
    # the 1s take x2's dtype: a Python base (2.0 ** x) gives a float32 factor for a float32 x
    x1 = np.asarray(x1) if isinstance(x1, (list, tuple)) else x1     # [1.0, 2.0] ** x
    if np.iscomplexobj(x1):
        return np.log(np.where(x1 == 0, np.ones_like(x2), x1))
    return np.log(np.where(x1 > 0, x1, np.ones_like(x2)))


def imag_adjoint(g, z):
    """Adjoint of ``np.imag(z)``: ``-i Re(g)`` (zero for a real ``z``, whose imaginary part is 0)."""
    if np.iscomplexobj(z):
        return np.real(g) * NEG_I
    return np.real(g) * 0.0


def angle_adjoint(g, z, deg=False):
    """Adjoint of ``np.angle(z, deg)``: ``-i Re(g) / z`` (zero for real ``z``: piecewise constant)."""
    scale = 180.0 / np.pi if deg else 1.0
    if np.iscomplexobj(z):
        return np.real(g) * scale * NEG_I / z
    return np.real(g) * 0.0


def angle_tangent(t, z, deg=False):
    """Tangent of ``np.angle(z, deg)``: ``Im(t / z)``."""
    scale = 180.0 / np.pi if deg else 1.0
    if np.iscomplexobj(z):
        return np.imag(t / z) * scale
    return np.real(t) * 0.0


# ================================================================ linear algebra


def matrix_power_tangent(t, a, n):
    """Tangent of ``np.linalg.matrix_power(a, n)`` along ``t``."""
    if n == 0:
        return t * 0.0
    if n < 0:
        b = np.linalg.inv(a)
        return matrix_power_tangent(-np.matmul(b, np.matmul(t, b)), b, -n)
    total = t * 0.0
    for k in range(n):
        total = total + np.matmul(np.linalg.matrix_power(a, k),
                                  np.matmul(t, np.linalg.matrix_power(a, n - 1 - k)))
    return total


def matrix_power_adjoint(g, a, n):
    """Adjoint of ``np.linalg.matrix_power(a, n)``: the tangent map with ``a`` transposed."""
    if n == 0:
        return g * 0.0
    if n < 0:
        b = np.linalg.inv(a)
        gb = matrix_power_adjoint(g, b, -n)
        return -np.matmul(_t(b), np.matmul(gb, _t(b)))
    at = _t(a)
    total = g * 0.0
    for k in range(n):
        total = total + np.matmul(np.linalg.matrix_power(at, k),
                                  np.matmul(g, np.linalg.matrix_power(at, n - 1 - k)))
    return total


def _svd_square(a, full_matrices, what="np.linalg.svd"):
    m, n = np.shape(a)[-2], np.shape(a)[-1]
    if full_matrices and m != n:
        raise NotImplementedError(f"srcad: the derivative of {what} with full_matrices=True is defined "
                                  "for square matrices only (the extra singular vectors are not "
                                  "unique); pass full_matrices=False")


def svd_adjoint(g, a, y, full_matrices=True, compute_uv=True):
    """Adjoint of ``np.linalg.svd(a)`` for distinct non-zero singular values (real ``a``)."""
    refuse_complex(a, "np.linalg.svd")
    if not compute_uv:
        u, s, vh = np.linalg.svd(a, full_matrices=False)
        return np.matmul(u * _row(g), vh)
    u, s, vh = y[0], y[1], y[2]
    gu, gs, gvh = g[0], g[1], g[2]
    if not (_is_zero(gu) and _is_zero(gvh)):
        _svd_square(a, full_matrices)
    total = 0.0
    if not _is_zero(gs):
        k = np.shape(s)[-1]   # full_matrices: the first k columns of u and rows of vh
        total = total + np.matmul(u[..., :, :k] * _row(gs), vh[..., :k, :])
    if not (_is_zero(gu) and _is_zero(gvh)):
        f = _gap_inverse(s * s, "np.linalg.svd")
        v = _t(vh)
        gu = _dense(gu, u)
        gv = _t(_dense(gvh, vh))
        ut_gu = np.matmul(_t(u), gu)
        vt_gv = np.matmul(_t(v), gv)
        j = f * (ut_gu - _t(ut_gu))
        k = f * (vt_gv - _t(vt_gv))
        inner = j * _row(s) + _col(s) * k
        total = total + np.matmul(u, np.matmul(inner, vh))
        # the parts of gu (gv) outside the column space of u (v)
        pu = gu - np.matmul(u, ut_gu)
        pv = gv - np.matmul(v, vt_gv)
        total = total + np.matmul(pu / _row(s), vh) + np.matmul(u, _t(pv / _row(s)))
    return total


def svd_tangent(t, a, y, full_matrices=True, compute_uv=True):
    """Tangent of ``np.linalg.svd(a)`` along ``t`` (distinct non-zero singular values)."""
    refuse_complex(a, "np.linalg.svd")
    if not compute_uv:
        u, s, vh = np.linalg.svd(a, full_matrices=False)
        return np.sum(u * np.matmul(t, _t(vh)), axis=-2)
    _svd_square(a, full_matrices)
    u, s, vh = y[0], y[1], y[2]
    v = _t(vh)
    p = np.matmul(_t(u), np.matmul(t, v))
    ds = np.diagonal(p, 0, -2, -1)
    f = _gap_inverse(s * s, "np.linalg.svd")
    du = np.matmul(u, f * (p * _row(s) + _col(s) * _t(p)))
    dv = np.matmul(v, f * (_col(s) * p + _t(p) * _row(s)))
    tv = np.matmul(t, v)
    ttu = np.matmul(_t(t), u)
    du = du + (tv - np.matmul(u, np.matmul(_t(u), tv))) / _row(s)
    dv = dv + (ttu - np.matmul(v, np.matmul(_t(v), ttu))) / _row(s)
    return (du, ds, _t(dv))


def _triangle(x, uplo):
    return np.tril(x) if uplo == "L" else np.triu(x)


def eigh_adjoint(g, a, y, UPLO="L"):
    """Adjoint of ``np.linalg.eigh(a, UPLO)`` (distinct eigenvalues).

    eigh reads one triangle of ``a``: the adjoint is exact for that function of all of ``a`` (the
    other triangle gets zero, the off-diagonal entries read count twice).
    """
    refuse_complex(a, "np.linalg.eigh")
    w, v = y[0], y[1]
    gw, gv = g[0], g[1]
    inner = 0.0
    if not _is_zero(gw):
        inner = inner + _col(gw) * _eye_like(w)
    if not _is_zero(gv):
        inner = inner + _gap_inverse(w, "np.linalg.eigh") * np.matmul(_t(v), gv)
    full = np.matmul(v, np.matmul(inner, _t(v)))
    sym = full + _t(full)
    return _triangle(sym, UPLO) - 0.5 * _triangle(_triangle(sym, "L"), "U")


def eigh_tangent(t, a, y, UPLO="L"):
    """Tangent of ``np.linalg.eigh(a, UPLO)`` along ``t`` (distinct eigenvalues)."""
    refuse_complex(a, "np.linalg.eigh")
    w, v = y[0], y[1]
    low = _triangle(t, UPLO)
    ts = low + _t(low) - _triangle(_triangle(t, "L"), "U")
    p = np.matmul(_t(v), np.matmul(ts, v))
    dw = np.diagonal(p, 0, -2, -1)
    dv = np.matmul(v, _gap_inverse(w, "np.linalg.eigh") * p)
    return (dw, dv)


def _eig_real(w):
    if np.iscomplexobj(w):
        raise TypeError("srcad: np.linalg.eig returned complex eigenvalues here; srcad differentiates "
                        "np.linalg.eig where every eigenvalue is real (use eigh for symmetric matrices)")


def eig_adjoint(g, a, y):
    """Adjoint of ``np.linalg.eig(a)`` for real, distinct eigenvalues (unit eigenvectors)."""
    refuse_complex(a, "np.linalg.eig")
    w, v = y[0], y[1]
    _eig_real(w)
    gw, gv = g[0], g[1]
    inner = 0.0
    if not _is_zero(gw):
        inner = inner + _col(gw) * _eye_like(w)
    if not _is_zero(gv):
        gv0 = gv - v * _row(np.sum(v * gv, axis=-2))
        inner = inner + _gap_inverse(w, "np.linalg.eig") * np.matmul(_t(v), gv0)
    return np.matmul(_t(np.linalg.inv(v)), np.matmul(inner, _t(v)))


def eig_tangent(t, a, y):
    """Tangent of ``np.linalg.eig(a)`` along ``t`` (real, distinct eigenvalues)."""
    refuse_complex(a, "np.linalg.eig")
    w, v = y[0], y[1]
    _eig_real(w)
    p = np.matmul(np.linalg.inv(v), np.matmul(t, v))
    dw = np.diagonal(p, 0, -2, -1)
    dv0 = np.matmul(v, _gap_inverse(w, "np.linalg.eig") * p)
    dv = dv0 - v * _row(np.sum(v * dv0, axis=-2))
    return (dw, dv)


def _pinv_parts(a, x):
    """``I - a x`` and ``I - x a`` for ``x = pinv(a)``."""
    m, n = np.shape(a)[-2], np.shape(a)[-1]
    dt = _rtype(a, x, 0.0)   # float32 stays float32
    return np.eye(m, dtype=dt) - np.matmul(a, x), np.eye(n, dtype=dt) - np.matmul(x, a)


def pinv_adjoint(g, a, x):
    """Adjoint of ``x = np.linalg.pinv(a)`` (where the rank of ``a`` does not change)."""
    refuse_complex(a, "np.linalg.pinv")
    p, q = _pinv_parts(a, x)
    xt = _t(x)
    gt = _t(g)
    return (-np.matmul(xt, np.matmul(g, xt)) + np.matmul(p, np.matmul(gt, np.matmul(x, xt)))
            + np.matmul(np.matmul(xt, x), np.matmul(gt, q)))


def pinv_tangent(t, a, x):
    """Tangent of ``x = np.linalg.pinv(a)`` along ``t``."""
    refuse_complex(a, "np.linalg.pinv")
    p, q = _pinv_parts(a, x)
    tt = _t(t)
    return (-np.matmul(x, np.matmul(t, x)) + np.matmul(np.matmul(x, _t(x)), np.matmul(tt, p))
            + np.matmul(q, np.matmul(tt, np.matmul(_t(x), x))))


def _qr_check(a, mode):
    m, n = np.shape(a)[-2], np.shape(a)[-1]
    if m < n:
        raise NotImplementedError("srcad: the derivative of np.linalg.qr is implemented for matrices "
                                  "with at least as many rows as columns")
    if mode == "complete" and m != n:
        raise NotImplementedError("srcad: the derivative of np.linalg.qr(mode='complete') is defined "
                                  "for square matrices only (the extra columns of q are not unique)")
    if mode not in ("reduced", "complete", "r"):
        raise NotImplementedError(f"srcad: no derivative for np.linalg.qr(mode={mode!r})")


def _right_rinv(x, r):
    """``x r^-1`` (``r`` upper triangular, invertible)."""
    return _t(np.linalg.solve(_t(r), _t(x)))


def qr_adjoint(g, a, y, mode="reduced"):
    """Adjoint of ``np.linalg.qr(a, mode)`` (full column rank, rows >= columns)."""
    refuse_complex(a, "np.linalg.qr")
    _qr_check(a, mode)
    if mode == "r":
        q, r = np.linalg.qr(a)
        gq, gr = 0.0, g
    else:
        q, r = y[0], y[1]
        gq, gr = g[0], g[1]
    gq = _dense(gq, q)
    gr = _dense(gr, r)
    m = np.matmul(r, _t(gr)) - np.matmul(_t(gq), q)
    low = np.tril(m)
    sym = low + _t(np.tril(m, -1))
    return _t(np.linalg.solve(r, _t(gq + np.matmul(q, sym))))  # (gq + q sym) r^-T


def qr_tangent(t, a, y, mode="reduced"):
    """Tangent of ``np.linalg.qr(a, mode)`` along ``t``."""
    refuse_complex(a, "np.linalg.qr")
    _qr_check(a, mode)
    if mode == "r":
        q, r = np.linalg.qr(a)
    else:
        q, r = y[0], y[1]
    trinv = _right_rinv(t, r)
    c = np.matmul(_t(q), trinv)
    low = np.tril(c, -1)
    omega = low - _t(low)
    dr = np.matmul(c - omega, r)
    if mode == "r":
        return dr
    dq = np.matmul(q, omega) + trinv - np.matmul(q, np.matmul(_t(q), trinv))
    return (dq, dr)


def _as_matrix(b):
    return np.expand_dims(b, -1) if np.ndim(b) == 1 else b


def _lstsq_parts(g, a, b, y):
    x = y[0]
    gx, gres, gs = g[0], g[1], g[3]
    return x, gx, gres, gs


def lstsq_adjoint_a(g, a, b, y, rcond=None):
    """Adjoint of ``a`` in ``np.linalg.lstsq(a, b)`` from the adjoints of (x, residuals, rank, s)."""
    refuse_complex(a, "np.linalg.lstsq")
    refuse_complex(b, "np.linalg.lstsq")
    x, gx, gres, gs = _lstsq_parts(g, a, b, y)
    total = 0.0
    if not _is_zero(gx):
        xp = np.linalg.pinv(a)
        total = total + pinv_adjoint(np.matmul(_as_matrix(gx), _t(_as_matrix(b))), a, xp)
    if not _is_zero(gres) and np.size(y[1]) > 0:
        e = np.matmul(a, _as_matrix(x)) - _as_matrix(b)
        total = total + 2.0 * np.matmul(e * gres, _t(_as_matrix(x)))
    if not _is_zero(gs):
        u, s, vh = np.linalg.svd(a, full_matrices=False)
        total = total + np.matmul(u * _row(gs), vh)
    return total


def lstsq_adjoint_b(g, a, b, y, rcond=None):
    """Adjoint of ``b`` in ``np.linalg.lstsq(a, b)``."""
    refuse_complex(a, "np.linalg.lstsq")
    refuse_complex(b, "np.linalg.lstsq")
    x, gx, gres, gs = _lstsq_parts(g, a, b, y)
    total = 0.0
    if not _is_zero(gx):
        total = total + np.matmul(_t(np.linalg.pinv(a)), _as_matrix(gx))
    if not _is_zero(gres) and np.size(y[1]) > 0:
        e = np.matmul(a, _as_matrix(x)) - _as_matrix(b)
        total = total - 2.0 * e * gres
    if _is_zero(total):
        return total
    return np.reshape(total, np.shape(b))


class Parts(tuple):
    """Tangents of a tuple-valued result that add item by item (the terms of two inputs)."""

    def __add__(self, other):
        if _is_zero(other):
            return self
        return Parts(a + b for a, b in zip(self, other))

    __radd__ = __add__


def slot(g, k, n):
    """The adjoint of an ``n``-tuple result from the adjoint ``g`` of its item ``k`` (a ``Parts``,
    so that the adjoints of two items add item by item)."""
    return Parts(g if i == k else 0.0 for i in range(n))


def lstsq_tangent_a(ta, a, b, y, rcond=None):
    """Tangent of ``np.linalg.lstsq(a, b)`` = (x, residuals, rank, s) along ``a``'s tangent."""
    refuse_complex(a, "np.linalg.lstsq")
    refuse_complex(b, "np.linalg.lstsq")
    x, res = y[0], y[1]
    xm = _as_matrix(x)
    dx = np.matmul(pinv_tangent(ta, a, np.linalg.pinv(a)), _as_matrix(b))
    if np.size(res) > 0:
        dres = 2.0 * np.sum((np.matmul(a, xm) - _as_matrix(b)) * np.matmul(ta, xm), axis=-2)
    else:
        dres = res * 0.0
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    ds = np.sum(u * np.matmul(ta, _t(vh)), axis=-2)
    return Parts((np.reshape(dx, np.shape(x)), dres, 0.0, ds))


def lstsq_tangent_b(tb, a, b, y, rcond=None):
    """Tangent of ``np.linalg.lstsq(a, b)`` along ``b``'s tangent."""
    refuse_complex(a, "np.linalg.lstsq")
    refuse_complex(b, "np.linalg.lstsq")
    x, res = y[0], y[1]
    dx = np.matmul(np.linalg.pinv(a), _as_matrix(tb))
    if np.size(res) > 0:
        dres = -2.0 * np.sum((np.matmul(a, _as_matrix(x)) - _as_matrix(b)) * _as_matrix(tb), axis=-2)
    else:
        dres = res * 0.0
    return Parts((np.reshape(dx, np.shape(x)), dres, 0.0, y[3] * 0.0))


# ================================================================ FFT
# With the adjoint convention above, the adjoint of a C-linear map is its transpose; the DFT
# matrix (with any ``norm``) is symmetric, so the adjoint of ``fft`` is ``fft`` (of ``ifft``,
# ``ifft``). Cropping to ``n`` and zero padding to ``n`` are each other's transposes.


def _fit(x, shape, axes):
    """``x`` cropped or zero-padded on ``axes`` to the lengths ``shape`` has there."""
    for ax in axes:
        n, m = shape[ax], np.shape(x)[ax]
        if m > n:
            x = np.take(x, np.arange(n), axis=ax)
        elif m < n:
            widths = [(0, 0)] * np.ndim(x)
            widths[ax] = (0, n - m)
            x = np.pad(x, widths)
    return x


def _fft_axes(a, s, axes):
    """The axes an n-dimensional FFT works on (as NumPy picks them)."""
    if axes is None:
        return tuple(range(np.ndim(a) - len(s), np.ndim(a))) if s is not None else tuple(range(np.ndim(a)))
    return tuple(ax % np.ndim(a) for ax in axes)


def c2c(x, s, axes, norm, inverse):
    """``np.fft.fftn(x, s, axes, norm)`` (``ifftn`` when ``inverse``): every complex FFT.
    ``s`` may hold None (``fft``'s ``n=None``): that axis keeps its length."""
    if s is not None and any(n is None for n in s):
        s = None if all(n is None for n in s) else tuple(
            np.shape(x)[ax] if n is None else n for n, ax in zip(s, axes))
    return np.fft.ifftn(x, s, axes, norm) if inverse else np.fft.fftn(x, s, axes, norm)


def c2c_adjoint(g, a, s, axes, norm, inverse):
    """Adjoint of ``a`` in ``c2c(a, s, axes, norm, inverse)``; its real part for a real ``a``."""
    if _is_zero(g):
        return g
    ax = _fft_axes(a, s, axes)
    r = _fit(c2c(g, None, ax, norm, inverse), np.shape(a), ax)
    return r if np.iscomplexobj(a) else np.real(r)


def rfft_adjoint(g, a, n, axis, norm):
    """Adjoint of the real ``a`` in ``np.fft.rfft(a, n, axis, norm)``: the half spectrum's adjoint
    zero-padded to ``n``, transformed, its real part, fitted to ``a``."""
    if _is_zero(g):
        return g
    ax = axis % np.ndim(a)
    nn = np.shape(a)[ax] if n is None else n
    return _fit(np.real(np.fft.fft(g, nn, ax, norm)), np.shape(a), (ax,))


def _irfft_weights(m, nn):
    """1 for the mean (and the Nyquist term of an even length), 2 for the others (their
    conjugate mirror images in the full spectrum)."""
    w = 2.0 * np.ones(m)
    w[0] = 1.0
    if nn % 2 == 0:
        w[m - 1] = 1.0
    return w


def irfft_adjoint(g, a, n, axis, norm):
    """Adjoint of the half spectrum ``a`` in ``np.fft.irfft(a, n, axis, norm)`` (a real result).

    irfft reads the real parts of the mean and Nyquist terms and mirrors the others: the adjoint
    is ``w * scale * conj(rfft(g))`` with ``w`` 1 or 2, ``scale`` the normalisation's factor.
    """
    if _is_zero(g):
        return g
    ax = axis % np.ndim(a)
    nn = 2 * (np.shape(a)[ax] - 1) if n is None else n
    m = nn // 2 + 1
    scale = {None: 1.0 / nn, "backward": 1.0 / nn, "ortho": 1.0 / np.sqrt(nn), "forward": 1.0}[norm]
    shape = [1] * np.ndim(a)
    shape[ax] = m
    w = (np.reshape(_irfft_weights(m, nn), shape) * scale).astype(np.real(np.zeros((), _rtype(g, 0.0))).dtype)
    r = _fit(np.conj(np.fft.rfft(np.real(g), nn, ax)) * w, np.shape(a), (ax,))
    return r if np.iscomplexobj(a) else np.real(r)


# ================================================================ arrays


def append_piece(g, arr, values, axis, which):
    """The adjoint of ``arr`` (``which`` 0) or ``values`` (1) in ``np.append(arr, values, axis)``."""
    if _is_zero(g):
        return g
    if axis is None:
        g = np.ravel(g)
        n = np.size(arr)
        part = g[:n] if which == 0 else g[n:]
        return np.reshape(part, np.shape(arr if which == 0 else values))
    n = np.shape(arr)[axis]
    idx = np.arange(n) if which == 0 else np.arange(n, np.shape(g)[axis])
    return np.take(g, idx, axis=axis)


def append_embed(t, arr, values, axis, which):
    """The tangent of ``np.append(arr, values, axis)`` from the tangent of ``arr`` (``which`` 0) or
    ``values`` (1) alone; the transpose of ``append_piece``."""
    if _is_zero(t):
        return t
    z = np.zeros_like(arr if which == 1 else values, dtype=_rtype(t, 0.0))
    return np.append(t, z, axis) if which == 0 else np.append(z, t, axis)


def column_parts(g, tup):
    """Adjoints of the items of ``tup`` in ``np.column_stack(tup)`` (a list)."""
    if _is_zero(g):
        return g
    out, start = [], 0
    for x in tup:
        k = 1 if np.ndim(x) < 2 else np.shape(x)[1]
        out.append(np.reshape(g[:, start:start + k], np.shape(x)))
        start += k
    return out


def column_join(ts, tup):
    """Tangent of ``np.column_stack(tup)`` from its items' tangents (0.0 entries are zeros)."""
    if _is_zero(ts):
        ts = [0.0] * len(tup)
    return np.column_stack([np.zeros_like(x, dtype=_rtype(x, 0.0)) if _is_zero(t) else t
                            for t, x in zip(ts, tup)])


def split_axis(ary, kind):
    """The axis ``np.hsplit``/``vsplit``/``dsplit`` split along."""
    if kind == "h":
        return 1 if np.ndim(ary) > 1 else 0
    return 0 if kind == "v" else 2


def _diff_operands(a, axis, prepend, append):
    parts = []
    if prepend is not None:
        parts.append(np.broadcast_to(prepend, _edge_shape(a, axis, prepend)))
    parts.append(a)
    if append is not None:
        parts.append(np.broadcast_to(append, _edge_shape(a, axis, append)))
    return parts


def _edge_shape(a, axis, v):
    shape = list(np.shape(a))
    shape[axis] = 1 if np.ndim(v) == 0 else np.shape(v)[axis]
    return tuple(shape)


def diff_adjoint(g, a, n=1, axis=-1, prepend=None, append=None):
    """Adjoint of ``np.diff(a, n, axis, prepend=..., append=...)``: minus the difference of ``g``
    padded with zeros, ``n`` times, then the part that belongs to ``a``."""
    if _is_zero(g):
        return g
    ax = axis % np.ndim(a)
    zero = np.zeros((), dtype=_rtype(g, 0.0))   # a float 0.0 pad would be float64
    for _ in range(n):
        g = -np.diff(g, axis=ax, prepend=zero, append=zero)
    start = 0 if prepend is None else _edge_shape(a, ax, prepend)[ax]
    return np.take(g, np.arange(start, start + np.shape(a)[ax]), axis=ax)


def diff_tangent(t, a, n=1, axis=-1, prepend=None, append=None):
    """Tangent of ``np.diff(a, n, axis, prepend=..., append=...)`` (the pads are constants)."""
    if _is_zero(t):
        return t
    ax = axis % np.ndim(a)
    parts = [np.zeros_like(p, dtype=_rtype(t, 0.0)) for p in _diff_operands(a, ax, prepend, append)]
    parts[0 if prepend is None else 1] = t
    return np.diff(np.concatenate(parts, axis=ax), n, axis=ax)


def _gradient_axes(f, axis):
    if axis is None:
        return tuple(range(np.ndim(f)))
    return tuple(a % np.ndim(f) for a in ((axis,) if isinstance(axis, (int, np.integer)) else axis))


def _gradient_matrix(n, spacing, edge_order, dtype=np.float64):
    """The matrix of ``np.gradient`` along one axis of length ``n`` (column j: the gradient of e_j)."""
    return np.gradient(np.eye(n, dtype=dtype), spacing, axis=0, edge_order=edge_order)


def gradient_adjoint(g, f, varargs, axis=None, edge_order=1):
    """Adjoint of ``np.gradient(f, *varargs, axis=axis, edge_order=edge_order)``.

    Each axis's gradient is a matrix applied along that axis (made by applying np.gradient to
    the identity): the adjoint applies its transpose.
    """
    if _is_zero(g):
        return g
    axes = _gradient_axes(f, axis)
    gs = [g] if (len(axes) == 1 and not isinstance(g, (list, tuple))) else list(g)
    total = np.zeros_like(f, dtype=_rtype(f, 0.0))
    for k, (ax, gk) in enumerate(zip(axes, gs)):
        if _is_zero(gk):
            continue
        spacing = 1.0 if len(varargs) == 0 else varargs[0] if len(varargs) == 1 else varargs[k]
        m = _gradient_matrix(np.shape(f)[ax], spacing, edge_order, _rtype(f, 0.0))
        total = total + np.moveaxis(np.tensordot(m, gk, axes=([0], [ax])), 0, ax)
    return total


def gradient_tangent(t, f, varargs, axis=None, edge_order=1):
    """Tangent of ``np.gradient``: the same (linear) gradient of the tangent."""
    if _is_zero(t):
        return t
    return np.gradient(t, *varargs, axis=axis, edge_order=edge_order)


def _cross_move(x, ax):
    x = np.moveaxis(x, ax, -1)
    if np.shape(x)[-1] == 2:
        x = np.concatenate([x, np.zeros_like(x[..., :1])], axis=-1)
    return x


def cross_adjoint(g, a, b, axisa=-1, axisb=-1, axisc=-1, axis=None, which=0):
    """Adjoint of ``a`` (``which`` 0) or ``b`` (1) in ``np.cross(a, b, ...)``: with 2-vectors
    extended by a zero third component, ``b x g`` for ``a`` and ``g x a`` for ``b``."""
    if _is_zero(g):
        return g
    if axis is not None:
        axisa = axisb = axisc = axis
    x = b if which == 0 else a
    own = a if which == 0 else b
    xm = _cross_move(x, axisb if which == 0 else axisa)
    if np.shape(np.moveaxis(a, axisa, -1))[-1] == 2 and np.shape(np.moveaxis(b, axisb, -1))[-1] == 2:
        gm = np.stack([np.zeros_like(g), np.zeros_like(g), g], axis=-1)   # the z component only
    else:
        gm = np.moveaxis(g, axisc, -1)
    r = np.cross(xm, gm) if which == 0 else np.cross(gm, xm)
    ax = axisa if which == 0 else axisb
    k = np.shape(np.moveaxis(own, ax, -1))[-1]
    r = r[..., :k]
    return np.moveaxis(unbroadcast(r, np.moveaxis(own, ax, -1)), -1, ax)


def kron_shapes(a, b):
    """Shapes for ``np.kron(a, b)`` as an outer product: (interleaved, a spread, b spread, axes
    of b, axes of a)."""
    nd = max(np.ndim(a), np.ndim(b))
    sa = (1,) * (nd - np.ndim(a)) + tuple(np.shape(a))
    sb = (1,) * (nd - np.ndim(b)) + tuple(np.shape(b))
    inter, spread_a, spread_b = [], [], []
    for p, q in zip(sa, sb):
        inter += [p, q]
        spread_a += [p, 1]
        spread_b += [1, q]
    return (tuple(inter), tuple(spread_a), tuple(spread_b), tuple(range(1, 2 * nd, 2)),
            tuple(range(0, 2 * nd, 2)))


def _order(a, kth, axis):
    """The permutation ``np.partition`` applies (from ``np.argpartition``), and the axis."""
    if axis is None:
        return np.argpartition(np.ravel(a), kth), 0
    return np.argpartition(a, kth, axis=axis), axis


def partition_adjoint(g, a, kth, axis=-1):
    """Adjoint of ``np.partition(a, kth, axis)``: ``g`` sent back where each value came from."""
    if _is_zero(g):
        return g
    idx, ax = _order(a, kth, axis)
    return np.reshape(_h.put_along(np.ravel(a) if axis is None else a, idx, g, ax), np.shape(a))


def partition_tangent(t, a, kth, axis=-1):
    """Tangent of ``np.partition(a, kth, axis)``: ``t`` in the partitioned order."""
    if _is_zero(t):
        return t
    idx, ax = _order(a, kth, axis)
    return np.take_along_axis(np.ravel(t) if axis is None else t, idx, ax)


def rollaxis_order(a, axis, start=0):
    """The permutation of the axes that ``np.rollaxis(a, axis, start)`` applies."""
    return _roll_order(np.ndim(a), axis, start)


def _roll_order(nd, axis, start):
    order = list(range(nd))
    axis %= nd
    start = start + nd if start < 0 else start
    order.remove(axis)
    order.insert(start if start <= axis else start - 1, axis)
    return tuple(order)


def select_masks(condlist, shape):
    """For each choice of ``np.select``, where it is the result; and where the default is."""
    taken = np.zeros(shape, dtype=bool)
    masks = []
    for c in condlist:
        m = np.broadcast_to(c, shape) & ~taken
        masks.append(m)
        taken = taken | m
    return masks, ~taken


def select_adjoint(g, condlist, choicelist, default=0):
    """Adjoints of the choices of ``np.select`` (a list like ``choicelist``)."""
    if _is_zero(g):
        return g
    masks, _ = select_masks(condlist, np.shape(g))
    out = [unbroadcast(np.where(m, g, 0.0), c) for m, c in zip(masks, choicelist)]
    return tuple(out) if isinstance(choicelist, tuple) else out


def select_default_adjoint(g, condlist, choicelist, default=0):
    _, rest = select_masks(condlist, np.shape(g))
    return unbroadcast(np.where(rest, g, 0.0), default)


def select_tangent(ts, condlist, choicelist, default=0):
    """Tangent of ``np.select`` from the choices' tangents (0.0 entries are zeros)."""
    if _is_zero(ts):
        return ts
    return np.select(condlist, [0.0 if _is_zero(t) else t for t in ts], 0.0)


def select_default_tangent(t, condlist, choicelist, default=0):
    return np.select(condlist, [0.0 for _ in choicelist], t)


def sorted_order(iterable, key=None, reverse=False):
    """The positions of ``sorted(iterable, key, reverse)``'s items in ``iterable``."""
    items = list(iterable)
    k = (lambda i: items[i]) if key is None else (lambda i: key(items[i]))
    return sorted(range(len(items)), key=k, reverse=reverse)


def sorted_adjoint(g, iterable, key=None, reverse=False):
    """Adjoint of ``iterable`` in ``sorted(iterable, ...)``: each item's adjoint sent back."""
    order = sorted_order(iterable, key, reverse)
    g = [0.0] * len(order) if _is_zero(g) else list(g)
    out = [0.0] * len(order)
    for j, i in enumerate(order):
        out[i] = g[j]
    if isinstance(iterable, np.ndarray):
        return np.array([np.asarray(v, dtype=float) + np.zeros_like(iterable[0], dtype=float) for v in out])
    return tuple(out) if isinstance(iterable, tuple) else out


def sorted_tangent(t, iterable, key=None, reverse=False):
    """Tangent of ``sorted(iterable, ...)``: the tangents in the sorted order (a list)."""
    order = sorted_order(iterable, key, reverse)
    t = [0.0] * len(order) if _is_zero(t) else list(t)
    return [t[i] for i in order]


def sorted_unorder(g, iterable, key=None, reverse=False):
    """Transpose of ``sorted_tangent`` (the same as ``sorted_adjoint``)."""
    return sorted_adjoint(g, iterable, key, reverse)


def power_slope(x1, x2):
    """``x2 * x1 ** (x2 - 1)``, the derivative of ``x1 ** x2`` in ``x1``: 0 where ``x2`` is 0, also
    at ``x1 = 0`` (``x1 ** 0`` is 1 for every ``x1``; ``0.0 ** -1.0`` would raise or give nan)."""
    x1, x2 = (np.asarray(v) if isinstance(v, (list, tuple)) else v for v in (x1, x2))   # x ** [1, 2]
    # another library's array (Dask) takes the general form: looking for zeros would compute it
    numpy = (np.ndarray, np.generic, float, int)
    plain = isinstance(x1, numpy) and isinstance(x2, numpy)
    if not plain or np.any(np.equal(x1, 0)):
        if isinstance(x2, (int, float)):   # a Python exponent stays a Python number: no float64 array
            return x2 * np.power(x1, 1.0 if x2 == 0 else x2 - 1)
        return x2 * np.power(x1, np.where(np.equal(x2, 0), 1.0, x2 - 1))
    return x2 * x1 ** (x2 - 1)


# they take the 0.0 placeholder for g (runtime.TAKES_ZERO)
_rt.TAKES_ZERO.update({drop_row, drop_col, c2c_adjoint, rfft_adjoint, irfft_adjoint, append_piece, column_parts,
                      diff_adjoint, gradient_adjoint, cross_adjoint, partition_adjoint, select_adjoint, sorted_adjoint})
