"""Derivative rules for NumPy functions, keyed by the function object (and array methods).

Reverse rule: ``d[x] = <adjoint contribution>``; forward rule: ``d[y] = <sum of tangent terms>``.
A one-input function whose derivative is a factor is declared once with ``elementwise``; a function
linear in its first input with ``linear`` (its forward rule applies the function to the tangent,
the decorated template is the transpose). See srcad/rules/registry.py.
"""

import numpy as np

from srcad.rules.registry import attribute, elementwise, forward, linear, method, nondiff, reverse
from srcad.rules.norm_helpers import norm_adjoint, norm_tangent
from srcad.runtime import broadcast_like
from srcad.rules.numpy_helpers import (
    above, average_adjoint_w, average_tangent_w, average_weights, below, cholesky_adjoint,
    cholesky_tangent, clip_mask, concat_adjoint, first_zero, concat_tangent, det_adjoint,
    diag_adjoint, diagonal_adjoint, einsum_adjoint, einsum_tangent, extreme_adjoint, extreme_weights,
    inner_adjoint_a,
    inner_adjoint_b, inverse_axes, negate_shift, pad_adjoint, prod_others, repeat_adjoint, rev_cumsum,
    slogdet_adjoint, slogdet_tangent, solve_adjoint_a, solve_adjoint_b, solve_like, solve_tangent_a,
    split_adjoint, stack_adjoint, stack_tangent, take_adjoint, tensordot_adjoint_a,
    tensordot_adjoint_b, tie_weights, tile_adjoint, trace_adjoint, transpose_axes, var_weights,
    vdot_adjoint, cast_adjoint, det_cofactor, sort_adjoint, sort_tangent, linspace_weight, linspace_tangent,
    layout_order, ravel_adjoint, ravel_tangent, reshape_adjoint, reshape_tangent)
from srcad.rules import numpy_helpers as _h
from srcad.runtime import (count, dot_adjoint_a, dot_adjoint_b, matmul_adjoint_a, matmul_adjoint_b, tuple_get,
                           unbroadcast, unreduce)
from srcad.rules.more_helpers import abs_adjoint, abs_tangent, base_log, power_slope, slot

# ---------------------------------------------------------------- elementwise arithmetic


@reverse(np.add)
def add(y, x1, x2):
    d[x1] = unbroadcast(d[y], x1)
    d[x2] = unbroadcast(d[y], x2)


@forward(np.add)
def add(y, x1, x2):
    # broadcast_like keeps each tangent shaped like y when only the smaller operand is active
    d[y] = broadcast_like(d[x1], y) + broadcast_like(d[x2], y)


@reverse(np.subtract)
def subtract(y, x1, x2):
    d[x1] = unbroadcast(d[y], x1)
    d[x2] = unbroadcast(-d[y], x2)


@forward(np.subtract)
def subtract(y, x1, x2):
    d[y] = broadcast_like(d[x1], y) - broadcast_like(d[x2], y)


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
    d[x1] = unbroadcast(d[y] * power_slope(x1, x2), x1)
    d[x2] = unbroadcast(d[y] * y * base_log(x1, x2), x2)


@forward(np.power)
def power(y, x1, x2):
    d[y] = d[x1] * power_slope(x1, x2) + d[x2] * y * base_log(x1, x2)


# ---------------------------------------------------------------- one-input elementwise functions
# One declaration gives both modes: ``d`` is the derivative flowing through (``d[y]`` in reverse,
# ``d[x]`` in forward) times f'(x), written with the output ``y`` where that is cheaper.

elementwise(np.negative, "-d")
elementwise(np.positive, "d")
elementwise(np.exp, "d * y")
elementwise(np.log, "d / x")
elementwise(np.sin, "d * np.cos(x)")
elementwise(np.cos, "-d * np.sin(x)")
elementwise(np.tanh, "d * (1.0 - y * y)")
elementwise(np.sqrt, "d * 0.5 / y")
elementwise(np.square, "d * 2.0 * x")
elementwise(np.cbrt, "d / (3.0 * y * y)")
elementwise(np.reciprocal, "-d * y * y")
elementwise(np.exp2, "d * y * np.log(2.0)")
elementwise(np.expm1, "d * (y + 1.0)")
elementwise(np.log2, "d / (x * np.log(2.0))")
elementwise(np.log10, "d / (x * np.log(10.0))")
elementwise(np.log1p, "d / (1.0 + x)")
elementwise(np.tan, "d * (1.0 + y * y)")
elementwise(np.arcsin, "d / np.sqrt(1.0 - x * x)")
elementwise(np.arccos, "-d / np.sqrt(1.0 - x * x)")
elementwise(np.arctan, "d / (1.0 + x * x)")
elementwise(np.sinh, "d * np.cosh(x)")
elementwise(np.cosh, "d * np.sinh(x)")
elementwise(np.arcsinh, "d / np.sqrt(x * x + 1.0)")
elementwise(np.arccosh, "d / np.sqrt(x * x - 1.0)")
elementwise(np.arctanh, "d / (1.0 - x * x)")
elementwise(np.deg2rad, np.radians, "d * (np.pi / 180.0)")
elementwise(np.rad2deg, np.degrees, "d * (180.0 / np.pi)")


@elementwise(np.sinc)
def sinc(y, x):
    safe = np.where(x == 0, 1.0, x)
    return d * np.where(x == 0, 0.0, (np.cos(np.pi * x) - y) / safe)


@reverse(np.absolute, abs)
def absolute(y, x):
    d[x] = abs_adjoint(d[y], x)  # d[y] * np.sign(x); for complex x, Re(d[y]) * conj(x) / |x|


@forward(np.absolute, abs)
def absolute(y, x):
    d[y] = abs_tangent(d[x], x)  # d[x] * np.sign(x); for complex x, Re(conj(x) d[x]) / |x|


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


# ---------------------------------------------------------------- two-input elementwise functions


@reverse(np.maximum)
def maximum(y, x1, x2):
    d[x1] = unbroadcast(d[y] * np.where(x1 == x2, 0.5, x1 > x2), x1)
    d[x2] = unbroadcast(d[y] * np.where(x1 == x2, 0.5, x2 > x1), x2)


@forward(np.maximum)
def maximum(y, x1, x2):
    d[y] = d[x1] * np.where(x1 == x2, 0.5, x1 > x2) + d[x2] * np.where(x1 == x2, 0.5, x2 > x1)


# ---------------------------------------------------------------- reductions


@linear(np.sum, method("sum"), args="axis=axis, keepdims=keepdims")
def sum(y, a, axis=None, dtype=None, out=None, keepdims=False):
    d[a] = unreduce(d[y], a, axis, keepdims)


@linear(np.mean, method("mean"), args="axis=axis, keepdims=keepdims")
def mean(y, a, axis=None, dtype=None, out=None, keepdims=False):
    d[a] = unreduce(d[y], a, axis, keepdims) / count(a, axis)


@reverse(np.linalg.norm)
def norm(y, x, ord=None, axis=None, keepdims=False):
    d[x] = norm_adjoint(d[y], x, y, ord, axis, keepdims)


@forward(np.linalg.norm)
def norm(y, x, ord=None, axis=None, keepdims=False):
    d[y] = norm_tangent(d[x], x, y, ord, axis, keepdims)


# ---------------------------------------------------------------- shapes


@reverse(np.reshape)
def reshape(y, a, shape=None, order="C"):
    d[a] = reshape_adjoint(d[y], a, order)     # np.reshape(d[y], np.shape(a)) for order 'C'


@forward(np.reshape)
def reshape(y, a, shape=None, order="C"):
    d[y] = reshape_tangent(d[a], a, y, order)  # np.reshape(d[a], np.shape(y)) for order 'C'


@reverse(method("reshape"))
def reshape_method(y, a, *shape, order="C"):
    d[a] = reshape_adjoint(d[y], a, order)


@forward(method("reshape"))
def reshape_method(y, a, *shape, order="C"):
    d[y] = reshape_tangent(d[a], a, y, order)


@linear(np.transpose)
def transpose(y, a, axes=None):
    d[a] = np.transpose(d[y], inverse_axes(axes))


@linear(method("transpose"), call="np.transpose", args="transpose_axes(axes)")
def transpose_method(y, a, *axes):
    d[a] = np.transpose(d[y], inverse_axes(transpose_axes(axes)))


@linear(attribute("T"), call="np.transpose", args="", self_adjoint=True)
def T(y, a):
    """Reverses the axes: its own transpose."""


# The tangent is a copy: generated code saves np.copy(x[i]) before x[i] is overwritten.
@linear(method("copy"), np.copy, np.array, np.asarray)
def copy(y, a):
    d[a] = d[y]


@linear(np.ascontiguousarray, np.asfortranarray)
def contiguous(y, a):
    "the same values in another memory layout"
    d[a] = d[y]


# Only functions that are piecewise constant in every argument belong here: creators from shapes,
# comparisons, rounding, indices. np.full (the fill value), np.arange (start, step), np.linspace
# (the endpoints), np.meshgrid and the random draws of np.random.normal/uniform/choice pass
# values through: they have rules below or are refused where a derivative reaches them.
nondiff(np.zeros, np.ones, np.empty, np.zeros_like, np.ones_like, np.empty_like, np.eye, np.identity, np.shape,
        np.ndim, np.size,
        np.argmax, np.argmin, np.argsort, np.sign, np.floor, np.ceil, np.round, np.rint, np.trunc,
        np.isnan, np.isinf, np.isfinite, np.greater, np.less, np.equal, np.not_equal,
        np.greater_equal, np.less_equal, np.logical_and, np.logical_or, np.logical_not,
        np.floor_divide, np.random.rand, np.random.randn,
        np.allclose, np.isclose, np.any, np.all, np.count_nonzero, np.nonzero, np.result_type,
        np.int64, np.int32, np.bool_,
        method("argmax"), method("argmin"), method("any"), method("all"),
        attribute("shape"), attribute("ndim"), attribute("size"), attribute("dtype"),
        why="piecewise constant or not numeric")


# ================================================================ more two-input functions


# x1 % x2 = x1 - floor(x1 / x2) * x2 (np.remainder, np.mod and Python's %); np.fmod truncates.
# The quotient is piecewise constant, so d/dx1 = 1 and d/dx2 = -floor(x1 / x2) (-trunc for fmod).
@reverse(np.remainder)
def remainder(y, x1, x2):
    d[x1] = unbroadcast(d[y], x1)
    d[x2] = unbroadcast(-d[y] * np.floor_divide(x1, x2), x2)


@forward(np.remainder)
def remainder(y, x1, x2):
    d[y] = broadcast_like(d[x1], y) - d[x2] * np.floor_divide(x1, x2)


@reverse(np.fmod)
def fmod(y, x1, x2):
    d[x1] = unbroadcast(d[y], x1)
    d[x2] = unbroadcast(-d[y] * np.trunc(np.true_divide(x1, x2)), x2)


@forward(np.fmod)
def fmod(y, x1, x2):
    d[y] = broadcast_like(d[x1], y) - d[x2] * np.trunc(np.true_divide(x1, x2))


@reverse(np.float_power)
def float_power(y, x1, x2):
    d[x1] = unbroadcast(d[y] * x2 * np.float_power(x1, x2 - 1), x1)
    d[x2] = unbroadcast(d[y] * y * np.log(np.where(x1 > 0, x1, 1.0)), x2)


@forward(np.float_power)
def float_power(y, x1, x2):
    d[y] = d[x1] * x2 * np.float_power(x1, x2 - 1) + d[x2] * y * np.log(np.where(x1 > 0, x1, 1.0))


@reverse(np.arctan2)
def arctan2(y, x1, x2):
    r2 = x1 * x1 + x2 * x2
    d[x1] = unbroadcast(d[y] * x2 / r2, x1)
    d[x2] = unbroadcast(-d[y] * x1 / r2, x2)


@forward(np.arctan2)
def arctan2(y, x1, x2):
    r2 = x1 * x1 + x2 * x2
    d[y] = d[x1] * x2 / r2 - d[x2] * x1 / r2


@reverse(np.hypot)
def hypot(y, x1, x2):
    d[x1] = unbroadcast(d[y] * x1 / y, x1)
    d[x2] = unbroadcast(d[y] * x2 / y, x2)


@forward(np.hypot)
def hypot(y, x1, x2):
    d[y] = d[x1] * x1 / y + d[x2] * x2 / y


@reverse(np.minimum)
def minimum(y, x1, x2):
    d[x1] = unbroadcast(d[y] * tie_weights(x2, x1), x1)
    d[x2] = unbroadcast(d[y] * tie_weights(x1, x2), x2)


@forward(np.minimum)
def minimum(y, x1, x2):
    d[y] = d[x1] * tie_weights(x2, x1) + d[x2] * tie_weights(x1, x2)


@reverse(np.fmax)
def fmax(y, x1, x2):
    d[x1] = unbroadcast(d[y] * tie_weights(x1, x2), x1)
    d[x2] = unbroadcast(d[y] * tie_weights(x2, x1), x2)


@forward(np.fmax)
def fmax(y, x1, x2):
    d[y] = d[x1] * tie_weights(x1, x2) + d[x2] * tie_weights(x2, x1)


@reverse(np.fmin)
def fmin(y, x1, x2):
    d[x1] = unbroadcast(d[y] * tie_weights(x2, x1), x1)
    d[x2] = unbroadcast(d[y] * tie_weights(x1, x2), x2)


@forward(np.fmin)
def fmin(y, x1, x2):
    d[y] = d[x1] * tie_weights(x2, x1) + d[x2] * tie_weights(x1, x2)


@reverse(np.logaddexp)
def logaddexp(y, x1, x2):
    d[x1] = unbroadcast(d[y] * np.exp(x1 - y), x1)
    d[x2] = unbroadcast(d[y] * np.exp(x2 - y), x2)


@forward(np.logaddexp)
def logaddexp(y, x1, x2):
    d[y] = d[x1] * np.exp(x1 - y) + d[x2] * np.exp(x2 - y)


# The bounds may broadcast ``a`` to a larger shape: every adjoint is summed back to its input's
# shape, every tangent term spread to the output's.
@reverse(np.clip)
def clip(y, a, a_min=None, a_max=None, out=None, min=None, max=None):
    d[a] = unbroadcast(d[y] * clip_mask(a, a_min, a_max, min, max), a)
    d[a_min] = unbroadcast(d[y] * below(a, a_min, a_max, min, max), a_min)
    d[a_max] = unbroadcast(d[y] * above(a, a_min, a_max, min, max), a_max)
    d[min] = unbroadcast(d[y] * below(a, a_min, a_max, min, max), min)
    d[max] = unbroadcast(d[y] * above(a, a_min, a_max, min, max), max)


@forward(np.clip)
def clip(y, a, a_min=None, a_max=None, out=None, min=None, max=None):
    d[y] = (broadcast_like(d[a] * clip_mask(a, a_min, a_max, min, max), y)
            + broadcast_like(d[a_min] * below(a, a_min, a_max, min, max), y)
            + broadcast_like(d[a_max] * above(a, a_min, a_max, min, max), y)
            + broadcast_like(d[min] * below(a, a_min, a_max, min, max), y)
            + broadcast_like(d[max] * above(a, a_min, a_max, min, max), y))


@reverse(method("clip"))
def clip_method(y, a, min=None, max=None):
    d[a] = unbroadcast(d[y] * clip_mask(a, min, max), a)
    d[min] = unbroadcast(d[y] * below(a, min, max), min)
    d[max] = unbroadcast(d[y] * above(a, min, max), max)


@forward(method("clip"))
def clip_method(y, a, min=None, max=None):
    d[y] = (broadcast_like(d[a] * clip_mask(a, min, max), y) + broadcast_like(d[min] * below(a, min, max), y)
            + broadcast_like(d[max] * above(a, min, max), y))


# The condition and either operand may be smaller than the output: adjoints are summed back,
# tangents spread to the output's shape.
@reverse(np.where, constant=("condition",))
def where(z, condition, x=None, y=None):
    d[x] = unbroadcast(np.where(condition, d[z], 0.0), x)
    d[y] = unbroadcast(np.where(condition, 0.0, d[z]), y)


@forward(np.where, constant=("condition",))
def where(z, condition, x=None, y=None):
    d[z] = broadcast_like(np.where(condition, d[x], 0.0), z) + broadcast_like(np.where(condition, 0.0, d[y]), z)


@reverse(np.heaviside, constant=("x1",))
def heaviside(y, x1, x2):
    d[x2] = unbroadcast(d[y] * np.equal(x1, 0), x2)   # a boolean mask keeps float32 float32


@forward(np.heaviside, constant=("x1",))
def heaviside(y, x1, x2):
    d[y] = broadcast_like(d[x2] * np.equal(x1, 0), y)


# ================================================================ more reductions


@reverse(np.prod, method("prod"))
def prod(y, a, axis=None, dtype=None, out=None, keepdims=False):
    d[a] = unreduce(d[y], a, axis, keepdims) * prod_others(a, axis)


@forward(np.prod, method("prod"))
def prod(y, a, axis=None, dtype=None, out=None, keepdims=False):
    d[y] = np.sum(d[a] * prod_others(a, axis), axis=axis, keepdims=keepdims)


@reverse(np.max, np.amax, np.min, np.amin, method("max"), method("min"))
def max_(y, a, axis=None, out=None, keepdims=False):
    d[a] = extreme_adjoint(d[y], a, y, axis, keepdims)


@linear(extreme_adjoint)
def extreme_adjoint_(r, g, a, y, axis=None, keepdims=False):
    d[g] = np.sum(d[r] * extreme_weights(a, y, axis, keepdims), axis=axis, keepdims=keepdims)


@forward(np.max, np.amax, np.min, np.amin, method("max"), method("min"))
def max_(y, a, axis=None, out=None, keepdims=False):
    d[y] = np.sum(d[a] * extreme_weights(a, y, axis, keepdims), axis=axis, keepdims=keepdims)


@reverse(np.var, method("var"))
def var(y, a, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
    d[a] = unreduce(d[y], a, axis, keepdims) * var_weights(a, axis, ddof)


@forward(np.var, method("var"))
def var(y, a, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
    d[y] = np.sum(d[a] * var_weights(a, axis, ddof), axis=axis, keepdims=keepdims)


# std = sqrt(var): d std = d var / (2 std). At zero spread (one element, or all equal) the kink
# is given derivative 0, like abs at 0: 2 std is replaced by inf there.
@reverse(np.std, method("std"))
def std(y, a, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
    d[a] = unreduce(d[y] / (2.0 * np.where(y == 0, np.inf, y)), a, axis, keepdims) * var_weights(a, axis, ddof)


@forward(np.std, method("std"))
def std(y, a, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
    d[y] = np.sum(d[a] * var_weights(a, axis, ddof), axis=axis, keepdims=keepdims) / (
        2.0 * np.where(y == 0, np.inf, y))


@linear(np.cumsum, method("cumsum"), args="axis=axis")
def cumsum(y, a, axis=None, dtype=None, out=None):
    d[a] = rev_cumsum(d[y], a, axis)


# d y_j / d a_k = prod_{i <= j, i != k} a_i = y_j / a_k where a_k is not 0. At the first zero z of
# a along the axis it is the cumprod with a_z taken as 1 (``ones``); at a later zero, and at any k
# after z, every y_j it reaches is 0. Exact with zeros (dividing by a gave NaN there).
@reverse(np.cumprod, method("cumprod"))
def cumprod(y, a, axis=None, dtype=None, out=None):
    first = first_zero(a, axis)
    ones = np.cumprod(np.where(first, 1.0, a), axis=axis)
    d[a] = np.where(first, rev_cumsum(d[y] * ones, a, axis),
                    rev_cumsum(d[y] * y, a, axis) / np.where(a == 0, 1.0, a))


@forward(np.cumprod, method("cumprod"))
def cumprod(y, a, axis=None, dtype=None, out=None):
    first = first_zero(a, axis)
    ones = np.cumprod(np.where(first, 1.0, a), axis=axis)
    d[y] = y * np.cumsum(np.where(first, 0.0, d[a] / np.where(a == 0, 1.0, a)), axis=axis) + \
        ones * np.cumsum(np.where(first, d[a], 0.0), axis=axis)


@reverse(np.average)
def average(y, a, axis=None, weights=None, returned=False, keepdims=False):
    # the weights first: they refuse returned=True (whose tuple adjoint unreduce cannot spread)
    d[a] = average_weights(a, axis, weights, returned) * unreduce(d[y], a, axis, keepdims)
    d[weights] = average_adjoint_w(d[y], a, y, axis, weights, keepdims, returned)


@forward(np.average)
def average(y, a, axis=None, weights=None, returned=False, keepdims=False):
    d[y] = (np.sum(d[a] * average_weights(a, axis, weights, returned), axis=axis, keepdims=keepdims)
            + average_tangent_w(d[weights], a, y, axis, weights, keepdims, returned))


@reverse(np.nansum)
def nansum(y, a, axis=None, dtype=None, out=None, keepdims=False):
    d[a] = np.where(np.isnan(a), 0.0, unreduce(d[y], a, axis, keepdims))


@forward(np.nansum)
def nansum(y, a, axis=None, dtype=None, out=None, keepdims=False):
    d[y] = np.sum(np.where(np.isnan(a), 0.0, d[a]), axis=axis, keepdims=keepdims)


# ================================================================ more linear algebra


@reverse(np.vdot)
def vdot(y, a, b):
    # np.vdot(a, b) = sum(conj(a) * b): conjugate-linear in a (the conjugates vanish for real a)
    d[a] = np.conjugate(vdot_adjoint(d[y], b, a))
    d[b] = vdot_adjoint(d[y], np.conjugate(a), b)


@forward(np.vdot)
def vdot(y, a, b):
    d[y] = np.vdot(d[a], b) + np.vdot(a, d[b])


@reverse(np.inner)
def inner(y, a, b):
    d[a] = inner_adjoint_a(d[y], a, b)
    d[b] = inner_adjoint_b(d[y], a, b)


@forward(np.inner)
def inner(y, a, b):
    d[y] = np.inner(d[a], b) + np.inner(a, d[b])


@reverse(np.outer)
def outer(y, a, b, out=None):
    d[a] = np.reshape(np.dot(d[y], np.ravel(b)), np.shape(a))
    d[b] = np.reshape(np.dot(np.ravel(a), d[y]), np.shape(b))


@forward(np.outer)
def outer(y, a, b, out=None):
    d[y] = np.outer(d[a], b) + np.outer(a, d[b])


@reverse(np.tensordot)
def tensordot(y, a, b, axes=2):
    d[a] = tensordot_adjoint_a(d[y], a, b, axes)
    d[b] = tensordot_adjoint_b(d[y], a, b, axes)


@forward(np.tensordot)
def tensordot(y, a, b, axes=2):
    d[y] = np.tensordot(d[a], b, axes) + np.tensordot(a, d[b], axes)


# Every positional argument is a parameter of its own, so each operand gets its own adjoint line in
# both spellings: ``einsum("ij,jk", x, y)`` (operands at 1, 2, ...) and the sublist form
# ``einsum(x, [0, 1], y, [1, 2], [0, 2])`` (operands at 0, 2, ...). The helpers tell them apart.
@reverse(np.einsum)
def einsum(y, a0, a1=None, a2=None, a3=None, a4=None, a5=None, a6=None, a7=None, a8=None, a9=None,
           a10=None, a11=None, out=None, optimize=False):
    d[a0] = einsum_adjoint(d[y], 0, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
    d[a1] = einsum_adjoint(d[y], 1, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
    d[a2] = einsum_adjoint(d[y], 2, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
    d[a3] = einsum_adjoint(d[y], 3, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
    d[a4] = einsum_adjoint(d[y], 4, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
    d[a5] = einsum_adjoint(d[y], 5, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
    d[a6] = einsum_adjoint(d[y], 6, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
    d[a7] = einsum_adjoint(d[y], 7, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
    d[a8] = einsum_adjoint(d[y], 8, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
    d[a9] = einsum_adjoint(d[y], 9, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
    d[a10] = einsum_adjoint(d[y], 10, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
    d[a11] = einsum_adjoint(d[y], 11, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)


@forward(np.einsum)
def einsum(y, a0, a1=None, a2=None, a3=None, a4=None, a5=None, a6=None, a7=None, a8=None, a9=None,
           a10=None, a11=None, out=None, optimize=False):
    d[y] = (einsum_tangent(0, d[a0], a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
            + einsum_tangent(1, d[a1], a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
            + einsum_tangent(2, d[a2], a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
            + einsum_tangent(3, d[a3], a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
            + einsum_tangent(4, d[a4], a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
            + einsum_tangent(5, d[a5], a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
            + einsum_tangent(6, d[a6], a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
            + einsum_tangent(7, d[a7], a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
            + einsum_tangent(8, d[a8], a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
            + einsum_tangent(9, d[a9], a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
            + einsum_tangent(10, d[a10], a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
            + einsum_tangent(11, d[a11], a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11))


# einsum's adjoint is linear in the output adjoint and in every other operand: rules for grad of grad.
@reverse(_h.einsum_adjoint)
def einsum_adjoint_(r, g, p, a0, a1=None, a2=None, a3=None, a4=None, a5=None, a6=None, a7=None, a8=None,
                a9=None, a10=None, a11=None):
    d[g] = einsum_tangent(p, d[r], a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
    d[a0] = _h.einsum_adjoint_swap(g, p, 0, d[r], a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
    d[a1] = _h.einsum_adjoint_swap(g, p, 1, d[r], a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
    d[a2] = _h.einsum_adjoint_swap(g, p, 2, d[r], a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
    d[a3] = _h.einsum_adjoint_swap(g, p, 3, d[r], a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
    d[a4] = _h.einsum_adjoint_swap(g, p, 4, d[r], a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
    d[a5] = _h.einsum_adjoint_swap(g, p, 5, d[r], a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
    d[a6] = _h.einsum_adjoint_swap(g, p, 6, d[r], a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
    d[a7] = _h.einsum_adjoint_swap(g, p, 7, d[r], a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
    d[a8] = _h.einsum_adjoint_swap(g, p, 8, d[r], a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
    d[a9] = _h.einsum_adjoint_swap(g, p, 9, d[r], a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
    d[a10] = _h.einsum_adjoint_swap(g, p, 10, d[r], a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
    d[a11] = _h.einsum_adjoint_swap(g, p, 11, d[r], a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)


@forward(_h.einsum_adjoint)
def einsum_adjoint_(r, g, p, a0, a1=None, a2=None, a3=None, a4=None, a5=None, a6=None, a7=None, a8=None,
                a9=None, a10=None, a11=None):
    d[r] = (einsum_adjoint(d[g], p, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
            + _h.einsum_adjoint_dq(g, p, 0, d[a0], a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
            + _h.einsum_adjoint_dq(g, p, 1, d[a1], a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
            + _h.einsum_adjoint_dq(g, p, 2, d[a2], a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
            + _h.einsum_adjoint_dq(g, p, 3, d[a3], a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
            + _h.einsum_adjoint_dq(g, p, 4, d[a4], a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
            + _h.einsum_adjoint_dq(g, p, 5, d[a5], a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
            + _h.einsum_adjoint_dq(g, p, 6, d[a6], a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
            + _h.einsum_adjoint_dq(g, p, 7, d[a7], a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
            + _h.einsum_adjoint_dq(g, p, 8, d[a8], a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
            + _h.einsum_adjoint_dq(g, p, 9, d[a9], a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
            + _h.einsum_adjoint_dq(g, p, 10, d[a10], a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
            + _h.einsum_adjoint_dq(g, p, 11, d[a11], a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11))


@linear(np.trace, method("trace"), args="offset, axis1, axis2")
def trace(y, a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    d[a] = trace_adjoint(d[y], a, offset, axis1, axis2)


@linear(np.diagonal, method("diagonal"))
def diagonal(y, a, offset=0, axis1=0, axis2=1):
    d[a] = diagonal_adjoint(d[y], a, offset, axis1, axis2)


@linear(np.diag)
def diag(y, v, k=0):
    d[v] = diag_adjoint(d[y], v, k)


# The adjoint helpers of trace/diagonal/diag are linear in ``g``; their own rules let srcad
# differentiate gradients that use them (read as code, diagonal_adjoint's write into a view of a
# zero array would lose the derivative).
@linear(_h.diagonal_adjoint)
def diagonal_adjoint_(r, g, a, offset=0, axis1=0, axis2=1):
    d[g] = np.diagonal(d[r], offset, axis1, axis2)


@linear(_h.trace_adjoint)
def trace_adjoint_(r, g, a, offset=0, axis1=0, axis2=1):
    d[g] = np.trace(d[r], offset, axis1, axis2)


@linear(_h.diag_adjoint)
def diag_adjoint_(r, g, v, k=0):
    d[g] = np.diag(d[r], k)


@linear(np.tril, self_adjoint=True)
def tril(y, m, k=0):
    """A projection: its own transpose."""


@linear(np.triu, self_adjoint=True)
def triu(y, m, k=0):
    """A projection: its own transpose."""


@reverse(np.linalg.inv)
def inv(y, a):
    yt = np.swapaxes(y, -1, -2)
    d[a] = -np.matmul(yt, np.matmul(d[y], yt))


@forward(np.linalg.inv)
def inv(y, a):
    d[y] = -np.matmul(y, np.matmul(d[a], y))


@reverse(np.linalg.det)
def det(y, a):
    d[a] = det_adjoint(d[y], a, y)


@forward(np.linalg.det)
def det(y, a):
    d[y] = np.sum(det_cofactor(a) * d[a], axis=(-1, -2))


@reverse(_h.det_cofactor)
def det_cofactor_(c, a):
    d[a] = _h.det_cofactor_adjoint(d[c], a, c)


@forward(_h.det_cofactor)
def det_cofactor_(c, a):
    d[c] = _h.det_cofactor_tangent(a, c, d[a])


@reverse(np.linalg.slogdet)
def slogdet(y, a):
    d[a] = slogdet_adjoint(d[y], a)


@forward(np.linalg.slogdet)
def slogdet(y, a):
    d[y] = slogdet_tangent(d[a], a)


@reverse(attribute("logabsdet"))
def logabsdet(y, r):
    d[r] = slot(d[y], 1, 2)  # not (0.0, d[y]): two reads' adjoints must add, not join


@forward(attribute("logabsdet"))
def logabsdet(y, r):
    d[y] = tuple_get(d[r], 1)


@reverse(np.linalg.solve)
def solve(y, a, b):
    d[a] = solve_adjoint_a(d[y], a, b, y)
    d[b] = solve_adjoint_b(d[y], a, b)


@forward(np.linalg.solve)
def solve(y, a, b):
    d[y] = solve_tangent_a(d[a], a, b, y) + solve_like(a, d[b], b)


@reverse(np.linalg.cholesky)
def cholesky(y, a, upper=False):
    d[a] = cholesky_adjoint(_h.as_lower(d[y], upper), _h.as_lower(y, upper))


@forward(np.linalg.cholesky)
def cholesky(y, a, upper=False):
    d[y] = _h.as_lower(cholesky_tangent(d[a], _h.as_lower(y, upper)), upper)


# ================================================================ more shapes


@linear(np.ravel, method("ravel"), method("flatten"), call="ravel_tangent", args="a, order")
def ravel(y, a, order="C"):
    "'F', 'A' and 'K' orders too; for 'C' the optimizer writes np.ravel / np.reshape"
    d[a] = ravel_adjoint(d[y], a, order)


nondiff(_h.layout_order, _h.ravel_index, why="a memory order, an index")


# the helpers above, linear in their first argument (for derivatives of derivatives)
@linear(_h.reshape_adjoint)
def reshape_adjoint_(y, g, a, order="C"):
    d[g] = np.reshape(d[y], np.shape(g), order=layout_order(a, order))


@linear(_h.reshape_tangent)
def reshape_tangent_(y, t, a, out, order="C"):
    d[t] = np.reshape(d[y], np.shape(t), order=layout_order(a, order))


@linear(_h.ravel_adjoint)
def ravel_adjoint_(y, g, a, order="C"):
    d[g] = ravel_tangent(d[y], a, order)


@linear(_h.ravel_tangent)
def ravel_tangent_(y, t, a, order="C"):
    d[t] = ravel_adjoint(d[y], a, order)


@linear(np.squeeze, method("squeeze"), np.expand_dims, np.atleast_1d, np.atleast_2d, np.atleast_3d,
        call="np.reshape", args="np.shape(y)")
def squeeze(y, a, *args, **kwargs):
    d[a] = np.reshape(d[y], np.shape(a))


@linear(np.swapaxes, method("swapaxes"), self_adjoint=True)
def swapaxes(y, a, axis1, axis2):
    """Swaps two axes: its own transpose."""


@linear(np.moveaxis)
def moveaxis(y, a, source, destination):
    d[a] = np.moveaxis(d[y], destination, source)


@linear(np.broadcast_to, args="shape")
def broadcast_to(y, array, shape, subok=False):
    d[array] = unbroadcast(d[y], array)


@reverse(np.concatenate)
def concatenate(y, arrays, axis=0, out=None, dtype=None, casting="same_kind"):
    d[arrays] = concat_adjoint(d[y], arrays, axis)


@forward(np.concatenate)
def concatenate(y, arrays, axis=0, out=None, dtype=None, casting="same_kind"):
    d[y] = concat_tangent(d[arrays], arrays, axis)


@reverse(np.hstack)
def hstack(y, tup, dtype=None, casting="same_kind"):
    d[tup] = concat_adjoint(d[y], tup, 0, "hstack")


@forward(np.hstack)
def hstack(y, tup, dtype=None, casting="same_kind"):
    d[y] = concat_tangent(d[tup], tup, 0, "hstack")


@reverse(np.vstack)
def vstack(y, tup, dtype=None, casting="same_kind"):
    d[tup] = concat_adjoint(d[y], tup, 0, "vstack")


@forward(np.vstack)
def vstack(y, tup, dtype=None, casting="same_kind"):
    d[y] = concat_tangent(d[tup], tup, 0, "vstack")


@reverse(np.stack)
def stack(y, arrays, axis=0, out=None, dtype=None, casting="same_kind"):
    d[arrays] = stack_adjoint(d[y], arrays, axis)


@forward(np.stack)
def stack(y, arrays, axis=0, out=None, dtype=None, casting="same_kind"):
    d[y] = stack_tangent(d[arrays], arrays, axis)


# The list adjoints of concatenate/stack/split are linear in ``g`` and read the arrays for their
# shapes only: rules for grad of grad.
@linear(_h.concat_adjoint)
def concat_adjoint_(r, g, arrays, axis=0, kind="concatenate"):
    d[g] = concat_tangent(d[r], arrays, axis, kind)


@linear(_h.stack_adjoint)
def stack_adjoint_(r, g, arrays, axis=0):
    d[g] = stack_tangent(d[r], arrays, axis)


@linear(_h.split_adjoint)
def split_adjoint_(r, g, y, axis=0):
    d[g] = concat_adjoint(d[r], y, axis)


@linear(np.split, np.array_split, call="np.array_split")
def split(y, ary, indices_or_sections, axis=0):
    d[ary] = split_adjoint(d[y], y, axis)


@linear(np.repeat, method("repeat"))
def repeat(y, a, repeats, axis=None):
    d[a] = repeat_adjoint(d[y], a, repeats, axis)


@linear(np.tile)
def tile(y, A, reps):
    d[A] = tile_adjoint(d[y], A, reps)


@linear(np.flip, self_adjoint=True)
def flip(y, m, axis=None):
    """A reversal: its own transpose."""


@linear(np.fliplr, self_adjoint=True)
def fliplr(y, m):
    """A reversal: its own transpose."""


@linear(np.flipud, self_adjoint=True)
def flipud(y, m):
    """A reversal: its own transpose."""


@linear(np.roll)
def roll(y, a, shift, axis=None):
    d[a] = np.reshape(np.roll(d[y], negate_shift(shift), axis), np.shape(a))


@reverse(np.pad)
def pad(y, array, pad_width, mode="constant", constant_values=0, **kwargs):
    d[array] = pad_adjoint(d[y], array, pad_width, mode)
    d[constant_values] = _h.pad_value_adjoint(d[y], array, pad_width, mode, constant_values)


@forward(np.pad)
def pad(y, array, pad_width, mode="constant", constant_values=0, **kwargs):
    d[y] = (np.pad(d[array], pad_width, mode)
            + _h.pad_value_tangent(d[constant_values], array, pad_width, mode, constant_values))


@linear(np.take, method("take"), args="indices, axis, mode=mode")
def take(y, a, indices, axis=None, out=None, mode="raise"):
    d[a] = take_adjoint(d[y], a, indices, axis, mode)


# ================================================================ no derivative

nondiff(np.empty, np.around, np.fix, np.signbit,
        np.argwhere, np.flatnonzero, np.searchsorted, np.digitize,
        np.array_equal, np.iscomplexobj, np.isscalar, np.logical_xor, np.tri, np.diag_indices,
        np.tril_indices, np.triu_indices, np.indices,
        np.random.random, np.random.randint, np.random.default_rng,
        method("round"), method("nonzero"), method("argsort"),
        why="piecewise constant or not numeric")
nondiff(extreme_weights, clip_mask, first_zero, linspace_weight, below, above, tie_weights, transpose_axes,
        inverse_axes, negate_shift, why="piecewise constant weights or index bookkeeping")


# ---------------------------------------------------------------- casts
# A cast to a floating dtype keeps the value, so the derivative passes through (a finite-difference
# check sees exactly that); a cast to an integer or bool dtype is piecewise constant: zero.


# The adjoint (tangent) takes the input's (output's) floating dtype: a float32 input gets a
# float32 gradient.
@reverse(method("astype"), np.ndarray.astype)
def astype(y, a, dtype, order="K", casting="unsafe", subok=True, copy=True):
    d[a] = cast_adjoint(d[y], a, dtype)


@forward(method("astype"), np.ndarray.astype)
def astype(y, a, dtype, order="K", casting="unsafe", subok=True, copy=True):
    d[y] = cast_adjoint(d[a], y, dtype)


@reverse(np.float64, np.float32, np.double)
def float64(y, x=0.0):
    d[x] = cast_adjoint(d[y], x, "float64")


@forward(np.float64, np.float32, np.double)
def float64(y, x=0.0):
    d[y] = cast_adjoint(d[x], y, "float64")


@linear(_h.cast_adjoint)
def cast_adjoint_(r, g, a, dtype):
    d[g] = cast_adjoint(d[r], g, dtype)


# ---------------------------------------------------------------- creators that pass values through


@reverse(np.full)
def full(y, shape, fill_value, dtype=None, order="C", device=None, like=None):
    d[fill_value] = cast_adjoint(unbroadcast(d[y], fill_value), fill_value, np.result_type(y))


@forward(np.full)
def full(y, shape, fill_value, dtype=None, order="C", device=None, like=None):
    d[y] = cast_adjoint(broadcast_like(d[fill_value], y), y, np.result_type(y))


@reverse(np.full_like, constant=("a",))
def full_like(y, a, fill_value, dtype=None, order="K", subok=True, shape=None, device=None):
    d[fill_value] = cast_adjoint(unbroadcast(d[y], fill_value), fill_value, np.result_type(y))


@forward(np.full_like, constant=("a",))
def full_like(y, a, fill_value, dtype=None, order="K", subok=True, shape=None, device=None):
    d[y] = cast_adjoint(broadcast_like(d[fill_value], y), y, np.result_type(y))


# y = start + (stop - start) * w with w = linspace(0, 1) along ``axis``: d/dstart = 1 - w, d/dstop = w.
@reverse(np.linspace)
def linspace(y, start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0, device=None):
    w = linspace_weight(start, stop, num, endpoint, retstep, dtype, axis)
    d[start] = unbroadcast(np.sum(d[y] * (1.0 - w), axis=axis), start)
    d[stop] = unbroadcast(np.sum(d[y] * w, axis=axis), stop)


@forward(np.linspace)
def linspace(y, start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0, device=None):
    w = linspace_weight(start, stop, num, endpoint, retstep, dtype, axis)
    d[y] = linspace_tangent(d[start], 1.0 - w, axis) + linspace_tangent(d[stop], w, axis)


@reverse(np.sort)
def sort(y, a, axis=-1, kind=None, order=None, stable=None):
    d[a] = sort_adjoint(d[y], a, axis)


@forward(np.sort)
def sort(y, a, axis=-1, kind=None, order=None, stable=None):
    d[y] = sort_tangent(d[a], a, axis)


# ================================================================ rules for the helpers above
# Generated code calls these helpers; their own rules let srcad differentiate that code again
# (grad of grad). Both are linear in their first argument.


@linear(_h.var_weights, self_adjoint=True)
def var_weights_(r, a, axis=None, ddof=0):
    """The centring map is symmetric."""


@linear(_h.rev_cumsum)
def rev_cumsum_(r, g, a, axis=None):
    d[g] = np.reshape(np.cumsum(d[r], axis=axis), np.shape(g))


