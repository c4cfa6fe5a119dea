"""Rules of the whole expressions that ``srcad/patterns.py`` recognises (issue 15, item 6), and of
the helpers those rules call, so every order can be taken.

``log_softmax(s, axis)`` is ``s - log(sum(exp(s), axis, keepdims=True))``; its adjoint
``g - softmax * sum(g)`` reads the output (``softmax = exp(log_softmax)``) and its tangent is the
transpose, ``t - sum(softmax * t)``. ``softmax_xent(s, y, axis)`` is ``sum(y * log_softmax(s))``:
its adjoint to ``s`` is ``g * (y - softmax(s) * sum(y, axis))``, formed in one owned array.
``sum_matmul(a, b)`` is ``sum(a @ b)``: its adjoints are ``g`` times ``b``'s row sums in every row of
``a``'s shape and ``a``'s column sums in every column of ``b``'s (no product of the adjoint).
``affine(x, W, b)`` is ``x @ W + b`` and ``affine2(x, W, u, U, b)`` is ``x @ W + u @ U + b`` (``dot_``:
the same with ``np.dot``), 2-D operands and a bias of rank 0 or 1: the bias's adjoint is one
``unbroadcast`` (a sum over rows), each product's adjoint the output's adjoint itself, summed only
where the bias or the other product widened it (``product_adjoint``, a shape check: no shape is
pushed in a loop), multiplied by the operands as the generic ``@`` rule does.
"""

import numpy as np

from srcad.rules.registry import forward, reverse
from srcad.rules.numpy_helpers import (affine, affine2, dot_affine, dot_affine2, product_adjoint, product_adjoint2,
                                       log_softmax, log_softmax_adjoint, log_softmax_tangent, softmax_xent,
                                       softmax_xent_adjoint, softmax_xent_labels_adjoint, sum_matmul,
                                       sum_matmul_adjoint_a, sum_matmul_adjoint_b)
from srcad.runtime import broadcast_like, unbroadcast


@reverse(log_softmax)
def log_softmax_(y, s, axis):
    d[s] = log_softmax_adjoint(d[y], y, axis)


@forward(log_softmax)
def log_softmax_(y, s, axis):
    d[y] = log_softmax_tangent(d[s], y, axis)


@reverse(log_softmax_adjoint)
def log_softmax_adjoint_(r, g, ly, axis):
    d[g] = log_softmax_tangent(d[r], ly, axis)
    d[ly] = -d[r] * np.exp(ly) * np.sum(g, axis=axis, keepdims=True)


@forward(log_softmax_adjoint)
def log_softmax_adjoint_(r, g, ly, axis):
    d[r] = log_softmax_adjoint(d[g], ly, axis) - d[ly] * np.exp(ly) * np.sum(g, axis=axis, keepdims=True)


@reverse(log_softmax_tangent)
def log_softmax_tangent_(r, t, ly, axis):
    d[t] = log_softmax_adjoint(d[r], ly, axis)
    d[ly] = -np.exp(ly) * t * np.sum(d[r], axis=axis, keepdims=True)


@forward(log_softmax_tangent)
def log_softmax_tangent_(r, t, ly, axis):
    d[r] = log_softmax_tangent(d[t], ly, axis) - np.sum(np.exp(ly) * t * d[ly], axis=axis, keepdims=True)


@reverse(softmax_xent)
def softmax_xent_(y, s, labels, axis):
    d[s] = softmax_xent_adjoint(d[y], s, labels, axis)
    d[labels] = softmax_xent_labels_adjoint(d[y], s, labels, axis)


@forward(softmax_xent)
def softmax_xent_(y, s, labels, axis):
    d[y] = np.sum(d[s] * softmax_xent_adjoint(1.0, s, labels, axis)) + np.sum(d[labels] * log_softmax(s, axis))


# softmax_xent_adjoint(g, s, y) = log_softmax_adjoint(G, L) with G = g * y summed to s's shape and
# L = log_softmax(s): linear in g and in y; s enters through L
@reverse(softmax_xent_adjoint)
def softmax_xent_adjoint_(r, g, s, labels, axis):
    ls = log_softmax(s, axis)
    lt = log_softmax_tangent(d[r], ls, axis)
    d[g] = np.sum(lt * labels)
    d[labels] = unbroadcast(g * lt + np.zeros_like(labels), labels)
    d[s] = log_softmax_adjoint(-d[r] * np.exp(ls) * np.sum(unbroadcast(g * labels + np.zeros_like(s), s),
                                                           axis=axis, keepdims=True), ls, axis)


@forward(softmax_xent_adjoint)
def softmax_xent_adjoint_(r, g, s, labels, axis):
    d[r] = softmax_xent_adjoint(d[g], s, labels, axis) + softmax_xent_adjoint(g, s, d[labels], axis) - \
        log_softmax_tangent(d[s], log_softmax(s, axis), axis) * np.exp(log_softmax(s, axis)) * \
        np.sum(unbroadcast(g * labels + np.zeros_like(s), s), axis=axis, keepdims=True)


# softmax_xent_labels_adjoint(g, s, y) = g * log_softmax(s) summed to y's shape: linear in g; y gives
# only its shape
@reverse(softmax_xent_labels_adjoint, constant=("labels",))
def softmax_xent_labels_adjoint_(r, g, s, labels, axis):
    d[g] = np.sum(d[r] * log_softmax(s, axis))
    d[s] = log_softmax_adjoint(g * unbroadcast(d[r] + np.zeros_like(s), s), log_softmax(s, axis), axis)


@forward(softmax_xent_labels_adjoint, constant=("labels",))
def softmax_xent_labels_adjoint_(r, g, s, labels, axis):
    d[r] = softmax_xent_labels_adjoint(d[g], s, labels, axis) + \
        unbroadcast(g * log_softmax_tangent(d[s], log_softmax(s, axis), axis) + np.zeros_like(labels), labels)


@reverse(sum_matmul)
def sum_matmul_(y, a, b):
    d[a] = sum_matmul_adjoint_a(d[y], a, b)
    d[b] = sum_matmul_adjoint_b(d[y], a, b)


@forward(sum_matmul)
def sum_matmul_(y, a, b):
    d[y] = sum_matmul(d[a], b) + sum_matmul(a, d[b])


# sum_matmul_adjoint_a(g, a, b) = g * ones @ b.T: linear in g and in b, a gives only its shape
# (and sum_matmul_adjoint_b the same with the roles swapped): each one's transpose is the other's
@reverse(sum_matmul_adjoint_a, constant=("a",))
def sum_matmul_adjoint_a_(r, g, a, b):
    d[g] = np.sum(d[r] * sum_matmul_adjoint_a(1.0, a, b))
    d[b] = sum_matmul_adjoint_b(g, d[r], b)


@forward(sum_matmul_adjoint_a, constant=("a",))
def sum_matmul_adjoint_a_(r, g, a, b):
    d[r] = sum_matmul_adjoint_a(d[g], a, b) + sum_matmul_adjoint_a(g, a, d[b])


@reverse(sum_matmul_adjoint_b, constant=("b",))
def sum_matmul_adjoint_b_(r, g, a, b):
    d[g] = np.sum(d[r] * sum_matmul_adjoint_b(1.0, a, b))
    d[a] = sum_matmul_adjoint_a(g, a, d[r])


@forward(sum_matmul_adjoint_b, constant=("b",))
def sum_matmul_adjoint_b_(r, g, a, b):
    d[r] = sum_matmul_adjoint_b(d[g], a, b) + sum_matmul_adjoint_b(g, d[a], b)


@reverse(affine, dot_affine)
def affine_(y, x, W, b):
    g = product_adjoint(d[y], x, W)
    d[x] = g @ W.T
    d[W] = x.T @ g
    d[b] = unbroadcast(d[y], b)


@forward(affine)
def affine_(y, x, W, b):
    d[y] = d[x] @ W + x @ d[W] + d[b]


@forward(dot_affine)
def dot_affine_(y, x, W, b):
    d[y] = np.dot(d[x], W) + np.dot(x, d[W]) + d[b]


@reverse(affine2, dot_affine2)
def affine2_(y, x, W, u, U, b):
    g = product_adjoint2(d[y], x, W, u, U)
    d[x] = g @ W.T
    d[W] = x.T @ g
    h = product_adjoint2(d[y], u, U, x, W)
    d[u] = h @ U.T
    d[U] = u.T @ h
    d[b] = unbroadcast(d[y], b)


@forward(affine2)
def affine2_(y, x, W, u, U, b):
    d[y] = d[x] @ W + x @ d[W] + d[u] @ U + u @ d[U] + d[b]


@forward(dot_affine2)
def dot_affine2_(y, x, W, u, U, b):
    d[y] = np.dot(d[x], W) + np.dot(x, d[W]) + np.dot(d[u], U) + np.dot(u, d[U]) + d[b]


# product_adjoint(g, x, W): linear in g (a sum over the axes the product was widened along); x and
# W give only the product's shape
@reverse(product_adjoint, constant=("x", "W"))
def product_adjoint_(r, g, x, W):
    d[g] = broadcast_like(d[r], g)


@forward(product_adjoint, constant=("x", "W"))
def product_adjoint_(r, g, x, W):
    d[r] = product_adjoint(d[g], x, W)


@reverse(product_adjoint2, constant=("x", "W", "u", "U"))
def product_adjoint2_(r, g, x, W, u, U):
    d[g] = broadcast_like(d[r], g)


@forward(product_adjoint2, constant=("x", "W", "u", "U"))
def product_adjoint2_(r, g, x, W, u, U):
    d[r] = product_adjoint2(d[g], x, W, u, U)
