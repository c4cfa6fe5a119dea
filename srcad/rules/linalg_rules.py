"""Derivative rules for NumPy's matrix decompositions and related linear algebra (real inputs).

Decompositions are differentiated where they are smooth: distinct singular values (svd),
distinct eigenvalues (eigh, eig; eig with real eigenvalues only), full column rank (qr, with at
least as many rows as columns), constant rank (pinv, lstsq). Where that fails at run time the
helpers raise a clear error instead of returning a wrong derivative. The adjoints are written in
plain NumPy (srcad.rules.more_helpers) so that srcad differentiates them again for second order.
"""

import numpy as np

from srcad.rules import more_helpers as _h
from srcad.rules.registry import attribute, forward, nondiff, reverse
from srcad.runtime import tuple_get
from srcad.rules.more_helpers import (
    eig_adjoint, eig_tangent, eigh_adjoint, eigh_tangent, lstsq_adjoint_a, lstsq_adjoint_b,
    lstsq_tangent_a, lstsq_tangent_b, matrix_power_adjoint, matrix_power_tangent, pinv_adjoint,
    pinv_tangent, qr_adjoint, qr_tangent, slot, svd_adjoint, svd_tangent)


@reverse(np.linalg.matrix_power)
def matrix_power(y, a, n):
    d[a] = matrix_power_adjoint(d[y], a, n)


@forward(np.linalg.matrix_power)
def matrix_power(y, a, n):
    d[y] = matrix_power_tangent(d[a], a, n)


# u, s, vh = svd(a): the result (and its adjoint) is the tuple; s alone with compute_uv=False.
@reverse(np.linalg.svd)
def svd(y, a, full_matrices=True, compute_uv=True, hermitian=False):
    d[a] = svd_adjoint(d[y], a, y, full_matrices, compute_uv)


@forward(np.linalg.svd)
def svd(y, a, full_matrices=True, compute_uv=True, hermitian=False):
    d[y] = svd_tangent(d[a], a, y, full_matrices, compute_uv)


@reverse(np.linalg.eigh)
def eigh(y, a, UPLO="L"):
    d[a] = eigh_adjoint(d[y], a, y, UPLO)


@forward(np.linalg.eigh)
def eigh(y, a, UPLO="L"):
    d[y] = eigh_tangent(d[a], a, y, UPLO)


@reverse(np.linalg.eig)
def eig(y, a):
    d[a] = eig_adjoint(d[y], a, y)


@forward(np.linalg.eig)
def eig(y, a):
    d[y] = eig_tangent(d[a], a, y)


@reverse(np.linalg.pinv)
def pinv(y, a, rcond=None, hermitian=False, rtol=None):
    d[a] = pinv_adjoint(d[y], a, y)


@forward(np.linalg.pinv)
def pinv(y, a, rcond=None, hermitian=False, rtol=None):
    d[y] = pinv_tangent(d[a], a, y)


@reverse(np.linalg.qr)
def qr(y, a, mode="reduced"):
    d[a] = qr_adjoint(d[y], a, y, mode)


@forward(np.linalg.qr)
def qr(y, a, mode="reduced"):
    d[y] = qr_tangent(d[a], a, y, mode)


# (x, residuals, rank, s) = lstsq(a, b): x, the residuals and s are differentiated, rank is an int.
@reverse(np.linalg.lstsq)
def lstsq(y, a, b, rcond=None):
    d[a] = lstsq_adjoint_a(d[y], a, b, y, rcond)
    d[b] = lstsq_adjoint_b(d[y], a, b, y, rcond)


@forward(np.linalg.lstsq)
def lstsq(y, a, b, rcond=None):
    d[y] = lstsq_tangent_a(d[a], a, b, y, rcond) + lstsq_tangent_b(d[b], a, b, y, rcond)


nondiff(_h.refuse_repeated, _h.refuse_complex, _h._svd_square, _h._qr_check, _h._eig_real,
        why="checks that raise where the derivative is not defined")


# Vectors as rows or columns of matrices, in the helpers above; linear, with 0.0 passed through.
@reverse(_h.as_row)
def as_row(r, v):
    d[v] = _h.drop_row(d[r])


@forward(_h.as_row)
def as_row(r, v):
    d[r] = _h.as_row(d[v])


@reverse(_h.drop_row)
def drop_row(r, g):
    d[g] = _h.as_row(d[r])


@forward(_h.drop_row)
def drop_row(r, g):
    d[r] = _h.drop_row(d[g])


@reverse(_h.as_col)
def as_col(r, v):
    d[v] = _h.drop_col(d[r])


@forward(_h.as_col)
def as_col(r, v):
    d[r] = _h.as_col(d[v])


@reverse(_h.drop_col)
def drop_col(r, g):
    d[g] = _h.as_col(d[r])


@forward(_h.drop_col)
def drop_col(r, g):
    d[r] = _h.drop_col(d[g])


# ``np.linalg.eigh(a).eigenvalues`` and ``.eigenvectors`` (the result's fields, eig's too): the
# adjoint is the pair with the other slot zero.
@reverse(attribute("eigenvalues"))
def eigenvalues(y, r):
    d[r] = slot(d[y], 0, 2)


@forward(attribute("eigenvalues"))
def eigenvalues(y, r):
    d[y] = tuple_get(d[r], 0)


@reverse(attribute("eigenvectors"))
def eigenvectors(y, r):
    d[r] = slot(d[y], 1, 2)


@forward(attribute("eigenvectors"))
def eigenvectors(y, r):
    d[y] = tuple_get(d[r], 1)


@reverse(_h.slot)
def slot_(r, g, k, n):
    d[g] = tuple_get(d[r], k)


@forward(_h.slot)
def slot_(r, g, k, n):
    d[r] = slot(d[g], k, n)
