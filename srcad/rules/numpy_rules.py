"""Derivative rules for NumPy functions, keyed by the function object (and array methods).

Reverse rule: ``d[x] = <adjoint contribution>``; forward rule: ``d[y] = <sum of tangent terms>``.
"""

import numpy as np

from srcad.rules.registry import attribute, forward, method, nondiff, reverse
from srcad.runtime import (count, dot_adjoint_a, dot_adjoint_b, matmul_adjoint_a,
                           matmul_adjoint_b, norm_adjoint, unbroadcast, unreduce)

# ---------------------------------------------------------------- elementwise arithmetic


@reverse(np.add)
def add(y, x1, x2):
    d[x1] = unbroadcast(d[y], x1)
    d[x2] = unbroadcast(d[y], x2)


@forward(np.add)
def add(y, x1, x2):
    d[y] = d[x1] + d[x2]


@reverse(np.subtract)
def subtract(y, x1, x2):
    d[x1] = unbroadcast(d[y], x1)
    d[x2] = unbroadcast(-d[y], x2)


@forward(np.subtract)
def subtract(y, x1, x2):
    d[y] = d[x1] - d[x2]


@reverse(np.multiply)
def multiply(y, x1, x2):
    d[x1] = unbroadcast(d[y] * x2, x1)
    d[x2] = unbroadcast(d[y] * x1, x2)


@forward(np.multiply)
def multiply(y, x1, x2):
    d[y] = d[x1] * x2 + x1 * d[x2]


@reverse(np.true_divide)
def true_divide(y, x1, x2):
    d[x1] = unbroadcast(d[y] / x2, x1)
    d[x2] = unbroadcast(-d[y] * x1 / x2 ** 2, x2)


@forward(np.true_divide)
def true_divide(y, x1, x2):
    d[y] = d[x1] / x2 - d[x2] * x1 / x2 ** 2


@reverse(np.power)
def power(y, x1, x2):
    d[x1] = unbroadcast(d[y] * x2 * x1 ** (x2 - 1), x1)
    d[x2] = unbroadcast(d[y] * y * np.log(np.where(x1 > 0, x1, 1.0)), x2)


@forward(np.power)
def power(y, x1, x2):
    d[y] = d[x1] * x2 * x1 ** (x2 - 1) + d[x2] * y * np.log(np.where(x1 > 0, x1, 1.0))


@reverse(np.negative)
def negative(y, x):
    d[x] = -d[y]


@forward(np.negative)
def negative(y, x):
    d[y] = -d[x]


@reverse(np.positive)
def positive(y, x):
    d[x] = d[y]


@forward(np.positive)
def positive(y, x):
    d[y] = d[x]


@reverse(np.absolute, abs)
def absolute(y, x):
    d[x] = d[y] * np.sign(x)


@forward(np.absolute, abs)
def absolute(y, x):
    d[y] = d[x] * np.sign(x)


@reverse(np.matmul)
def matmul(y, x1, x2):
    d[x1] = matmul_adjoint_a(d[y], x1, x2)
    d[x2] = matmul_adjoint_b(d[y], x1, x2)


@forward(np.matmul)
def matmul(y, x1, x2):
    d[y] = d[x1] @ x2 + x1 @ d[x2]


@reverse(np.dot, method("dot"))
def dot(y, a, b):
    d[a] = dot_adjoint_a(d[y], a, b)
    d[b] = dot_adjoint_b(d[y], a, b)


@forward(np.dot, method("dot"))
def dot(y, a, b):
    d[y] = np.dot(d[a], b) + np.dot(a, d[b])


# ---------------------------------------------------------------- elementwise functions


@reverse(np.exp)
def exp(y, x):
    d[x] = d[y] * y


@forward(np.exp)
def exp(y, x):
    d[y] = d[x] * y


@reverse(np.log)
def log(y, x):
    d[x] = d[y] / x


@forward(np.log)
def log(y, x):
    d[y] = d[x] / x


@reverse(np.sin)
def sin(y, x):
    d[x] = d[y] * np.cos(x)


@forward(np.sin)
def sin(y, x):
    d[y] = d[x] * np.cos(x)


@reverse(np.cos)
def cos(y, x):
    d[x] = -d[y] * np.sin(x)


@forward(np.cos)
def cos(y, x):
    d[y] = -d[x] * np.sin(x)


@reverse(np.tanh)
def tanh(y, x):
    d[x] = d[y] * (1.0 - y * y)


@forward(np.tanh)
def tanh(y, x):
    d[y] = d[x] * (1.0 - y * y)


@reverse(np.sqrt)
def sqrt(y, x):
    d[x] = d[y] * 0.5 / y


@forward(np.sqrt)
def sqrt(y, x):
    d[y] = d[x] * 0.5 / y


@reverse(np.maximum)
def maximum(y, x1, x2):
    d[x1] = unbroadcast(d[y] * np.where(x1 == x2, 0.5, x1 > x2), x1)
    d[x2] = unbroadcast(d[y] * np.where(x1 == x2, 0.5, x2 > x1), x2)


@forward(np.maximum)
def maximum(y, x1, x2):
    d[y] = d[x1] * np.where(x1 == x2, 0.5, x1 > x2) + d[x2] * np.where(x1 == x2, 0.5, x2 > x1)


# ---------------------------------------------------------------- reductions


@reverse(np.sum, method("sum"))
def sum(y, a, axis=None, dtype=None, out=None, keepdims=False):
    d[a] = unreduce(d[y], a, axis, keepdims)


@forward(np.sum, method("sum"))
def sum(y, a, axis=None, dtype=None, out=None, keepdims=False):
    d[y] = np.sum(d[a], axis=axis, keepdims=keepdims)


@reverse(np.mean, method("mean"))
def mean(y, a, axis=None, dtype=None, out=None, keepdims=False):
    d[a] = unreduce(d[y], a, axis, keepdims) / count(a, axis)


@forward(np.mean, method("mean"))
def mean(y, a, axis=None, dtype=None, out=None, keepdims=False):
    d[y] = np.mean(d[a], axis=axis, keepdims=keepdims)


@reverse(np.linalg.norm)
def norm(y, x, ord=None, axis=None, keepdims=False):
    d[x] = norm_adjoint(d[y], x, y, ord, axis, keepdims)


@forward(np.linalg.norm)
def norm(y, x, ord=None, axis=None, keepdims=False):
    d[y] = np.sum(norm_adjoint(1.0, x, y, ord, axis, True) * d[x], axis=axis, keepdims=keepdims)


# ---------------------------------------------------------------- shapes


@reverse(np.reshape)
def reshape(y, a, shape=None, order="C"):
    d[a] = np.reshape(d[y], np.shape(a))


@forward(np.reshape)
def reshape(y, a, shape=None, order="C"):
    d[y] = np.reshape(d[a], np.shape(y))


@reverse(method("reshape"))
def reshape_method(y, a, *shape):
    d[a] = np.reshape(d[y], np.shape(a))


@forward(method("reshape"))
def reshape_method(y, a, *shape):
    d[y] = np.reshape(d[a], np.shape(y))


@reverse(np.transpose, method("transpose"))
def transpose(y, a, axes=None):
    d[a] = np.transpose(d[y], None if axes is None else np.argsort(axes))


@forward(np.transpose, method("transpose"))
def transpose(y, a, axes=None):
    d[y] = np.transpose(d[a], axes)


@reverse(attribute("T"))
def T(y, a):
    d[a] = np.transpose(d[y])


@forward(attribute("T"))
def T(y, a):
    d[y] = np.transpose(d[a])


@reverse(method("copy"), np.copy, np.array, np.asarray)
def copy(y, a):
    d[a] = d[y]


@forward(method("copy"), np.copy, np.array, np.asarray)
def copy(y, a):
    d[y] = d[a]


nondiff(np.zeros, np.ones, np.empty, np.zeros_like, np.ones_like, np.empty_like, np.full,
        np.full_like, np.arange, np.linspace, np.eye, np.identity, np.shape, np.ndim, np.size,
        np.argmax, np.argmin, np.argsort, np.sign, np.floor, np.ceil, np.round, np.rint, np.trunc,
        np.isnan, np.isinf, np.isfinite, np.greater, np.less, np.equal, np.not_equal,
        np.greater_equal, np.less_equal, np.logical_and, np.logical_or, np.logical_not,
        np.floor_divide, np.random.normal, np.random.rand, np.random.randn, np.random.uniform,
        np.allclose, np.isclose, np.any, np.all, np.count_nonzero, np.nonzero, np.result_type,
        np.float64, np.float32, np.int64, np.int32, np.bool_,
        method("argmax"), method("argmin"), method("astype"), method("any"), method("all"),
        attribute("shape"), attribute("ndim"), attribute("size"), attribute("dtype"),
        why="piecewise constant or not numeric")
