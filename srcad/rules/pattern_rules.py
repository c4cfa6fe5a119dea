"""Rules of the whole expressions that ``srcad/patterns.py`` recognises (issue 15, item 6), and of
the helpers those rules call, so every order can be taken.

``log_softmax(s, axis)`` is ``s - log(sum(exp(s), axis, keepdims=True))``; its adjoint
``g - softmax * sum(g)`` reads the output (``softmax = exp(log_softmax)``) and its tangent is the
transpose, ``t - sum(softmax * t)``. ``softmax_xent(s, y, axis)`` is ``sum(y * log_softmax(s))``:
its adjoint to ``s`` is ``g * (y - softmax(s) * sum(y, axis))``, formed in one owned array.
``sum_matmul(a, b)`` is ``sum(a @ b)``: its adjoints are ``g`` times ``b``'s row sums in every row of
``a``'s shape and ``a``'s column sums in every column of ``b``'s (no product of the adjoint).
"""

import numpy as np

from srcad.rules.registry import forward, reverse
from srcad.rules.numpy_helpers import (log_softmax, log_softmax_adjoint, log_softmax_tangent, softmax_xent,
                                       softmax_xent_adjoint, softmax_xent_labels_adjoint, sum_matmul,
                                       sum_matmul_adjoint_a, sum_matmul_adjoint_b)
from srcad.runtime import unbroadcast


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
