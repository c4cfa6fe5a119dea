"""Derivative rules for more NumPy array functions, complex parts, ``operator`` and ``sorted``.

Linear functions whose adjoint scatters (append, column_stack, diff, gradient, partition, select,
sorted) have adjoint and tangent helpers in srcad.rules.more_helpers, each pair with rules of its
own at the end of this module (each is the other's transpose), so gradients differentiate again.
"""

import builtins
import operator

import numpy as np

from srcad.rules import more_helpers as _h
from srcad.rules import numpy_helpers as _nh
from srcad.rules.more_helpers import (
    angle_adjoint, angle_tangent, append_embed, append_piece, column_join, column_parts, cross_adjoint,
    diff_adjoint, diff_tangent, gradient_adjoint, gradient_tangent, imag_adjoint, kron_shapes,
    partition_adjoint, partition_tangent, real_adjoint, rollaxis_order, select_adjoint, select_default_adjoint,
    select_default_tangent, select_tangent, sorted_adjoint, sorted_tangent, split_axis)
from srcad.rules.numpy_helpers import inverse_axes, split_adjoint
from srcad.rules.registry import FORWARD, REVERSE, attribute, elementwise, forward, method, nondiff, reverse
from srcad.runtime import add_at, unbroadcast

# ---------------------------------------------------------------- elementwise


elementwise(np.fabs, "d * np.sign(x)")


@reverse(np.logaddexp2)
def logaddexp2(y, x1, x2):
    d[x1] = unbroadcast(d[y] * np.exp2(x1 - y), x1)
    d[x2] = unbroadcast(d[y] * np.exp2(x2 - y), x2)


@forward(np.logaddexp2)
def logaddexp2(y, x1, x2):
    d[y] = d[x1] * np.exp2(x1 - y) + d[x2] * np.exp2(x2 - y)


# The replaced values (nan, inf) are constants: the derivative passes where x is finite.
@reverse(np.nan_to_num)
def nan_to_num(y, x, copy=True, nan=0.0, posinf=None, neginf=None):
    d[x] = np.where(np.isfinite(x), d[y], 0.0)


@forward(np.nan_to_num)
def nan_to_num(y, x, copy=True, nan=0.0, posinf=None, neginf=None):
    d[y] = np.where(np.isfinite(x), d[x], 0.0)


# ---------------------------------------------------------------- complex parts
# A complex z = x + iy carries the adjoint dL/dx - i dL/dy (srcad.rules.more_helpers).


@reverse(np.real, attribute("real"))
def real(y, val):
    d[val] = real_adjoint(d[y], val)


@forward(np.real, attribute("real"))
def real(y, val):
    d[y] = np.real(d[val])


@reverse(np.imag, attribute("imag"))
def imag(y, val):
    d[val] = imag_adjoint(d[y], val)


@forward(np.imag, attribute("imag"))
def imag(y, val):
    d[y] = np.imag(d[val])


@reverse(np.conjugate, method("conj"), method("conjugate"))
def conjugate(y, x):
    d[x] = np.conjugate(d[y])


@forward(np.conjugate, method("conj"), method("conjugate"))
def conjugate(y, x):
    d[y] = np.conjugate(d[x])


@reverse(np.angle)
def angle(y, z, deg=False):
    d[z] = angle_adjoint(d[y], z, deg)


@forward(np.angle)
def angle(y, z, deg=False):
    d[y] = angle_tangent(d[z], z, deg)


# ---------------------------------------------------------------- shapes


@reverse(np.rot90)
def rot90(y, m, k=1, axes=(0, 1)):
    d[m] = np.rot90(d[y], -k, axes)


@forward(np.rot90)
def rot90(y, m, k=1, axes=(0, 1)):
    d[y] = np.rot90(d[m], k, axes)


@reverse(np.rollaxis)
def rollaxis(y, a, axis, start=0):
    d[a] = np.transpose(d[y], inverse_axes(rollaxis_order(a, axis, start)))


@forward(np.rollaxis)
def rollaxis(y, a, axis, start=0):
    d[y] = np.rollaxis(d[a], axis, start)


@reverse(np.hsplit)
def hsplit(y, ary, indices_or_sections):
    d[ary] = split_adjoint(d[y], y, split_axis(ary, "h"))


@forward(np.hsplit)
def hsplit(y, ary, indices_or_sections):
    d[y] = np.hsplit(d[ary], indices_or_sections)


@reverse(np.vsplit)
def vsplit(y, ary, indices_or_sections):
    d[ary] = split_adjoint(d[y], y, split_axis(ary, "v"))


@forward(np.vsplit)
def vsplit(y, ary, indices_or_sections):
    d[y] = np.vsplit(d[ary], indices_or_sections)


@reverse(np.dsplit)
def dsplit(y, ary, indices_or_sections):
    d[ary] = split_adjoint(d[y], y, split_axis(ary, "d"))


@forward(np.dsplit)
def dsplit(y, ary, indices_or_sections):
    d[y] = np.dsplit(d[ary], indices_or_sections)


@reverse(np.column_stack)
def column_stack(y, tup):
    d[tup] = column_parts(d[y], tup)


@forward(np.column_stack)
def column_stack(y, tup):
    d[y] = column_join(d[tup], tup)


@reverse(np.append)
def append(y, arr, values, axis=None):
    d[arr] = append_piece(d[y], arr, values, axis, 0)
    d[values] = append_piece(d[y], arr, values, axis, 1)


@forward(np.append)
def append(y, arr, values, axis=None):
    d[y] = append_embed(d[arr], arr, values, axis, 0) + append_embed(d[values], arr, values, axis, 1)


# ---------------------------------------------------------------- differences and products


@reverse(np.diff)
def diff(y, a, n=1, axis=-1, prepend=None, append=None):
    d[a] = diff_adjoint(d[y], a, n, axis, prepend, append)


@forward(np.diff)
def diff(y, a, n=1, axis=-1, prepend=None, append=None):
    d[y] = diff_tangent(d[a], a, n, axis, prepend, append)


@reverse(np.gradient)
def gradient(y, f, *varargs, axis=None, edge_order=1):
    d[f] = gradient_adjoint(d[y], f, varargs, axis, edge_order)


@forward(np.gradient)
def gradient(y, f, *varargs, axis=None, edge_order=1):
    d[y] = gradient_tangent(d[f], f, varargs, axis, edge_order)


@reverse(np.cross)
def cross(y, a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    d[a] = cross_adjoint(d[y], a, b, axisa, axisb, axisc, axis, 0)
    d[b] = cross_adjoint(d[y], a, b, axisa, axisb, axisc, axis, 1)


@forward(np.cross)
def cross(y, a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    d[y] = np.cross(d[a], b, axisa, axisb, axisc, axis) + np.cross(a, d[b], axisa, axisb, axisc, axis)


# kron(a, b) is the outer product of a and b with the axes interleaved, reshaped.
@reverse(np.kron)
def kron(y, a, b):
    s = kron_shapes(a, b)
    gy = np.reshape(d[y], s[0])
    d[a] = np.reshape(np.sum(gy * np.reshape(b, s[2]), axis=s[3]), np.shape(a))
    d[b] = np.reshape(np.sum(gy * np.reshape(a, s[1]), axis=s[4]), np.shape(b))


@forward(np.kron)
def kron(y, a, b):
    d[y] = np.kron(d[a], b) + np.kron(a, d[b])


# ---------------------------------------------------------------- orderings and choices


@reverse(np.partition)
def partition(y, a, kth, axis=-1, kind="introselect", order=None):
    d[a] = partition_adjoint(d[y], a, kth, axis)


@forward(np.partition)
def partition(y, a, kth, axis=-1, kind="introselect", order=None):
    d[y] = partition_tangent(d[a], a, kth, axis)


@reverse(np.select, constant=("condlist",))
def select(y, condlist, choicelist, default=0):
    d[choicelist] = select_adjoint(d[y], condlist, choicelist, default)
    d[default] = select_default_adjoint(d[y], condlist, choicelist, default)


@forward(np.select, constant=("condlist",))
def select(y, condlist, choicelist, default=0):
    d[y] = (select_tangent(d[choicelist], condlist, choicelist, default)
            + select_default_tangent(d[default], condlist, choicelist, default))


@reverse(sorted)
def sorted_(y, iterable, key=None, reverse=False):
    d[iterable] = sorted_adjoint(d[y], iterable, key, reverse)


@forward(sorted)
def sorted_(y, iterable, key=None, reverse=False):
    d[y] = sorted_tangent(d[iterable], iterable, key, reverse)


# ---------------------------------------------------------------- operator module
# operator.add(a, b) is a + b: the same rules as the operators (np.add, ...).

for _op, _np in ((operator.add, np.add), (operator.sub, np.subtract), (operator.mul, np.multiply),
                 (operator.truediv, np.true_divide), (operator.neg, np.negative),
                 (operator.pow, np.power), (builtins.pow, np.power), (operator.matmul, np.matmul)):
    REVERSE[_op] = REVERSE[_np]
    FORWARD[_op] = FORWARD[_np]


@reverse(operator.getitem)
def getitem(y, a, b):
    d[a] = add_at(0.0, a, b, d[y])


@forward(operator.getitem)
def getitem(y, a, b):
    d[y] = operator.getitem(d[a], b)


nondiff(split_axis, kron_shapes, rollaxis_order, _h.select_masks, _h.sorted_order,
        why="index bookkeeping")

# ================================================================ rules for the helpers above
# Each is linear in its first argument and the transpose of its partner.


@reverse(_h.append_piece)
def append_piece_(r, g, arr, values, axis, which):
    d[g] = append_embed(d[r], arr, values, axis, which)


@forward(_h.append_piece)
def append_piece_(r, g, arr, values, axis, which):
    d[r] = append_piece(d[g], arr, values, axis, which)


@reverse(_h.append_embed)
def append_embed_(r, t, arr, values, axis, which):
    d[t] = append_piece(d[r], arr, values, axis, which)


@forward(_h.append_embed)
def append_embed_(r, t, arr, values, axis, which):
    d[r] = append_embed(d[t], arr, values, axis, which)


@reverse(_h.column_parts)
def column_parts_(r, g, tup):
    d[g] = column_join(d[r], tup)


@forward(_h.column_parts)
def column_parts_(r, g, tup):
    d[r] = column_parts(d[g], tup)


@reverse(_h.column_join)
def column_join_(r, ts, tup):
    d[ts] = column_parts(d[r], tup)


@forward(_h.column_join)
def column_join_(r, ts, tup):
    d[r] = column_join(d[ts], tup)


@reverse(_h.diff_adjoint)
def diff_adjoint_(r, g, a, n=1, axis=-1, prepend=None, append=None):
    d[g] = diff_tangent(d[r], a, n, axis, prepend, append)


@forward(_h.diff_adjoint)
def diff_adjoint_(r, g, a, n=1, axis=-1, prepend=None, append=None):
    d[r] = diff_adjoint(d[g], a, n, axis, prepend, append)


@reverse(_h.diff_tangent)
def diff_tangent_(r, t, a, n=1, axis=-1, prepend=None, append=None):
    d[t] = diff_adjoint(d[r], a, n, axis, prepend, append)


@forward(_h.diff_tangent)
def diff_tangent_(r, t, a, n=1, axis=-1, prepend=None, append=None):
    d[r] = diff_tangent(d[t], a, n, axis, prepend, append)


@reverse(_h.gradient_adjoint)
def gradient_adjoint_(r, g, f, varargs, axis=None, edge_order=1):
    d[g] = gradient_tangent(d[r], f, varargs, axis, edge_order)


@forward(_h.gradient_adjoint)
def gradient_adjoint_(r, g, f, varargs, axis=None, edge_order=1):
    d[r] = gradient_adjoint(d[g], f, varargs, axis, edge_order)


@reverse(_h.gradient_tangent)
def gradient_tangent_(r, t, f, varargs, axis=None, edge_order=1):
    d[t] = gradient_adjoint(d[r], f, varargs, axis, edge_order)


@forward(_h.gradient_tangent)
def gradient_tangent_(r, t, f, varargs, axis=None, edge_order=1):
    d[r] = gradient_tangent(d[t], f, varargs, axis, edge_order)


@reverse(_h.partition_adjoint)
def partition_adjoint_(r, g, a, kth, axis=-1):
    d[g] = partition_tangent(d[r], a, kth, axis)


@forward(_h.partition_adjoint)
def partition_adjoint_(r, g, a, kth, axis=-1):
    d[r] = partition_adjoint(d[g], a, kth, axis)


@reverse(_h.partition_tangent)
def partition_tangent_(r, t, a, kth, axis=-1):
    d[t] = partition_adjoint(d[r], a, kth, axis)


@forward(_h.partition_tangent)
def partition_tangent_(r, t, a, kth, axis=-1):
    d[r] = partition_tangent(d[t], a, kth, axis)


@reverse(_h.select_adjoint, constant=("condlist",))
def select_adjoint_(r, g, condlist, choicelist, default=0):
    d[g] = select_tangent(d[r], condlist, choicelist, default)


@forward(_h.select_adjoint, constant=("condlist",))
def select_adjoint_(r, g, condlist, choicelist, default=0):
    d[r] = select_adjoint(d[g], condlist, choicelist, default)


@reverse(_h.select_tangent, constant=("condlist",))
def select_tangent_(r, ts, condlist, choicelist, default=0):
    d[ts] = select_adjoint(d[r], condlist, choicelist, default)


@forward(_h.select_tangent, constant=("condlist",))
def select_tangent_(r, ts, condlist, choicelist, default=0):
    d[r] = select_tangent(d[ts], condlist, choicelist, default)


@reverse(_h.select_default_adjoint, constant=("condlist",))
def select_default_adjoint_(r, g, condlist, choicelist, default=0):
    d[g] = select_default_tangent(d[r], condlist, choicelist, default)


@forward(_h.select_default_adjoint, constant=("condlist",))
def select_default_adjoint_(r, g, condlist, choicelist, default=0):
    d[r] = select_default_adjoint(d[g], condlist, choicelist, default)


@reverse(_h.select_default_tangent, constant=("condlist",))
def select_default_tangent_(r, t, condlist, choicelist, default=0):
    d[t] = select_default_adjoint(d[r], condlist, choicelist, default)


@forward(_h.select_default_tangent, constant=("condlist",))
def select_default_tangent_(r, t, condlist, choicelist, default=0):
    d[r] = select_default_tangent(d[t], condlist, choicelist, default)


@reverse(_h.sorted_adjoint)
def sorted_adjoint_(r, g, iterable, key=None, reverse=False):
    d[g] = sorted_tangent(d[r], iterable, key, reverse)


@forward(_h.sorted_adjoint)
def sorted_adjoint_(r, g, iterable, key=None, reverse=False):
    d[r] = sorted_adjoint(d[g], iterable, key, reverse)


@reverse(_h.sorted_tangent)
def sorted_tangent_(r, t, iterable, key=None, reverse=False):
    d[t] = sorted_adjoint(d[r], iterable, key, reverse)


@forward(_h.sorted_tangent)
def sorted_tangent_(r, t, iterable, key=None, reverse=False):
    d[r] = sorted_tangent(d[t], iterable, key, reverse)


# np.pad's adjoints (numpy_helpers) are linear in g: rules so that gradients through np.pad
# differentiate again (their code, read by srcad, builds slices in a generator).
@reverse(_nh.pad_adjoint)
def pad_adjoint_(r, g, array, pad_width, mode="constant"):
    d[g] = np.pad(d[r], pad_width, mode)


@forward(_nh.pad_adjoint)
def pad_adjoint_(r, g, array, pad_width, mode="constant"):
    d[r] = _nh.pad_adjoint(d[g], array, pad_width, mode)


@reverse(_nh.pad_value_adjoint)
def pad_value_adjoint_(r, g, array, pad_width, mode, constant_values):
    d[g] = _nh.pad_value_tangent(d[r], array, pad_width, mode, constant_values)


@forward(_nh.pad_value_adjoint)
def pad_value_adjoint_(r, g, array, pad_width, mode, constant_values):
    d[r] = _nh.pad_value_adjoint(d[g], array, pad_width, mode, constant_values)


@reverse(_nh.pad_value_tangent)
def pad_value_tangent_(r, t, array, pad_width, mode, constant_values):
    d[t] = _nh.pad_value_adjoint(d[r], array, pad_width, mode, constant_values)


@forward(_nh.pad_value_tangent)
def pad_value_tangent_(r, t, array, pad_width, mode, constant_values):
    d[r] = _nh.pad_value_tangent(d[t], array, pad_width, mode, constant_values)
