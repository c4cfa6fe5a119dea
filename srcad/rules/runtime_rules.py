"""Rules for the runtime helpers that generated code calls, so it can be differentiated again."""

import numpy as np

from srcad import compose
from srcad import runtime as rt
from srcad.rules import norm_helpers as nm
from srcad.rules.registry import FORWARD, REVERSE, forward, linear, nondiff, reverse
from srcad.rules import more_helpers as _more
from srcad.rules.more_helpers import slot
from srcad.rules.norm_helpers import (norm_adjoint, norm_adjoint_dx, norm_adjoint_dy, norm_adjoint_dy_adjoint,
                                      norm_tangent)
from srcad.runtime import (broadcast_like, list_head, reduce_like, unbroadcast, unreduce)
from srcad.runtime import (appended, loop_seq_adjoint, loop_seq_tangent, seq_fold, seq_part, seq_placed, seq_repeated,
                           seq_scaled, seq_times)
from srcad.runtime import (add_at, contiguous, copy_adjoint, dot_adjoint_a, dot_adjoint_b, grad_like, real_like,
                           matmul_adjoint_a,
                           matmul_adjoint_b, owned_copy, owned_tangent, pop_at, read_at, tuple_get)
from srcad.runtime import (appended_part, index_adjoint, inexact_part, no_higher_derivative, pop_at_adjoint, put_at,
                           spread_adjoint)
from srcad.rules import numpy_helpers as _h
from srcad.rules.numpy_helpers import (concat_adjoint, concat_tangent, det_cofactor, einsum_adjoint,
                                       einsum_tangent, inner_adjoint_a, inner_adjoint_b, linspace_tangent,
                                       pad_adjoint, pad_spread, prod_others_tangent,
                                       repeat_adjoint, sort_adjoint, sort_tangent, stack_adjoint,
                                       stack_tangent, take_adjoint, tensordot_adjoint_a, tensordot_adjoint_b,
                                       tile_adjoint, vdot_adjoint)
from srcad.rules.numpy_helpers import mat_apply, outer_like, solve_adjoint_a, solve_like, solve_tangent_a


@reverse(rt.unbroadcast)
def unbroadcast_(y, g, x):
    d[g] = broadcast_like(d[y], g)   # sums d[y] down where g was a 0.0 placeholder spread to x


@forward(rt.unbroadcast)
def unbroadcast_(y, g, x):
    d[y] = unbroadcast(d[g], x)


@reverse(rt.broadcast_like)
def broadcast_like_(y, g, x):
    d[g] = unbroadcast(d[y], g)


@forward(rt.broadcast_like)
def broadcast_like_(y, g, x):
    d[y] = broadcast_like(d[g], x)


@reverse(rt.unreduce)
def unreduce_(y, g, x, axis=None, keepdims=False):
    d[g] = unbroadcast(reduce_like(d[y], x, axis, keepdims), g)   # g may be the 0.0 placeholder


@forward(rt.unreduce)
def unreduce_(y, g, x, axis=None, keepdims=False):
    d[y] = unreduce(d[g], x, axis, keepdims)


@reverse(rt.seed)
def seed_(y, d_, y_):
    d[d_] = unbroadcast(d[y], d_)


@forward(rt.seed)
def seed_(y, d_, y_):
    d[y] = d[d_] * np.ones_like(y)


@reverse(rt.real_like)
def real_like_(y, g, x):
    d[g] = d[y]   # Re(g) of a real x: its adjoint is real, and passes to g unchanged


@forward(rt.real_like)
def real_like_(y, g, x):
    d[y] = real_like(d[g], x)


@reverse(rt.as_stored)
def as_stored_(y, v, a):
    d[v] = inexact_part(d[y], a)   # zero where ``a[i] = v`` truncates v to integers


@forward(rt.as_stored)
def as_stored_(y, v, a):
    d[y] = inexact_part(d[v], a)


@reverse(rt.inexact_part)
def inexact_part_(y, g, a):
    d[g] = inexact_part(d[y], a)


@forward(rt.inexact_part)
def inexact_part_(y, g, a):
    d[y] = inexact_part(d[g], a)


@reverse(rt.grad_like)
def grad_like_(y, dx, x):
    d[dx] = unbroadcast(d[y], dx)


@forward(rt.grad_like)
def grad_like_(y, dx, x):
    d[y] = grad_like(d[dx], x)


nondiff(rt.zeros_like, rt.count, rt.Stack, rt.is_training, rt.check_output, rt.check_unpack, why="no derivative")


# ---------------------------------------------------------------- forward forms of the helpers that
# generated reverse code calls, so ``srcad.hessian`` (forward over reverse) can differentiate it.
# ``add``, ``add_at`` and ``pop_at`` change or combine containers/arrays in place: srcad.forward
# emits their tangents itself (in place on a private tangent); the templates below give their
# meaning and their inputs.


@forward(rt.add_at)
def add_at_(y, dx, x, index, g):
    d[y] = d[dx] + add_at(0.0, x, index, d[g])


@forward(rt.pop_at)
def pop_at_(y, dx, index, v=None):
    d[y] = pop_at(d[dx], index, v)


@forward(rt.add)
def add_(y, a, b):
    d[y] = d[a] + d[b]


@forward(rt.tuple_get)
def tuple_get_(y, c, k):
    d[y] = tuple_get(d[c], k)


@forward(rt.copy_adjoint)
def copy_adjoint_(y, g):
    d[y] = copy_adjoint(d[g])


@forward(rt.contiguous)
def contiguous_(y, g):
    d[y] = contiguous(d[g])


@forward(rt.owned_copy)
def owned_copy_(y, x):
    d[y] = owned_copy(d[x])


@forward(rt.owned_tangent)
def owned_tangent_(y, dt, x):
    d[y] = owned_tangent(d[dt], x)


@forward(rt.reduce_like)
def reduce_like_(y, g, x, axis=None, keepdims=False):
    d[y] = reduce_like(d[g], x, axis, keepdims)


@forward(rt.matmul_adjoint_a)
def matmul_adjoint_a_(y, g, a, b):
    d[y] = matmul_adjoint_a(d[g], a, b) + matmul_adjoint_a(g, a, d[b])


@forward(rt.matmul_adjoint_b)
def matmul_adjoint_b_(y, g, a, b):
    d[y] = matmul_adjoint_b(d[g], a, b) + matmul_adjoint_b(g, d[a], b)


@forward(rt.dot_adjoint_a)
def dot_adjoint_a_(y, g, a, b):
    d[y] = dot_adjoint_a(d[g], a, b) + dot_adjoint_a(g, a, d[b])


@forward(rt.dot_adjoint_b)
def dot_adjoint_b_(y, g, a, b):
    d[y] = dot_adjoint_b(d[g], a, b) + dot_adjoint_b(g, d[a], b)


@forward(nm.norm_adjoint)
def norm_adjoint_(r, g, x, y, ord=None, axis=None, keepdims=False):
    d[r] = (norm_adjoint(d[g], x, y, ord, axis, keepdims) + norm_adjoint_dx(g, x, y, d[x], ord, axis, keepdims)
            + norm_adjoint_dy(g, x, y, d[y], ord, axis, keepdims))


# norm_adjoint's weights are elementwise in x (their x-derivative is diagonal, so
# norm_adjoint_dx is its own transpose); reverse over reverse (grad of grad) uses that.
@reverse(nm.norm_adjoint)
def norm_adjoint_(r, g, x, y, ord=None, axis=None, keepdims=False):
    d[g] = np.reshape(nm.norm_tangent(d[r], x, y, ord, axis, keepdims), np.shape(g))
    d[x] = norm_adjoint_dx(g, x, y, d[r], ord, axis, keepdims)
    d[y] = nm.norm_adjoint_dy_adjoint(g, x, y, d[r], ord, axis, keepdims)


@reverse(rt.list_append)
def list_append_(y, lst, v):
    d[lst] = list_head(d[y])
    d[v] = tuple_get(d[y], -1)


@forward(rt.list_append)
def list_append_(y, lst, v):
    d[y] = appended(d[lst], lst, v, True) + appended(d[v], lst, v, False)


@reverse(rt.loop_seq)
def loop_seq_(y, x):
    d[x] = loop_seq_adjoint(d[y], x)


@forward(rt.loop_seq)
def loop_seq_(y, x):
    d[y] = loop_seq_tangent(d[x], x)


nondiff(rt.dict_keys, why="a dict's keys carry no derivative")
nondiff(rt.shape_of, why="a shape carries no derivative")


@reverse(rt.seq_concat)
def seq_concat_(y, a, b):
    d[a] = seq_part(d[y], a, b, True)
    d[b] = seq_part(d[y], a, b, False)


@forward(rt.seq_concat)
def seq_concat_(y, a, b):
    d[y] = seq_placed(d[a], a, b, True) + seq_placed(d[b], a, b, False)


@reverse(rt.seq_repeat)
def seq_repeat_(y, a, n):
    d[a] = seq_fold(d[y], a, n)
    d[n] = seq_times(d[y], a, n)


@forward(rt.seq_repeat)
def seq_repeat_(y, a, n):
    d[y] = seq_repeated(d[a], a, n) + seq_scaled(d[n], a, n)


# ---------------------------------------------------------------- the sequence helpers' own adjoint
# and tangent helpers are linear in their first argument: their forward forms apply themselves to
# its tangent (what forward over reverse, ``srcad.hessian``, needs); where a pair transposes each
# other the reverse form is the other one.
@forward(rt.seq_part)
def seq_part_(y, g, a, b, first):
    d[y] = seq_part(d[g], a, b, first)


@reverse(rt.seq_part)
def seq_part_(y, g, a, b, first):
    d[g] = rt.seq_part_adjoint(d[y], g, a, b, first)


@forward(rt.seq_part_adjoint)
def seq_part_adjoint_(y, r, g, a, b, first):
    d[y] = rt.seq_part_adjoint(d[r], g, a, b, first)


@reverse(rt.seq_part_adjoint)
def seq_part_adjoint_(y, r, g, a, b, first):
    d[r] = seq_part(d[y], a, b, first)


@forward(rt.seq_placed)
def seq_placed_(y, t, a, b, first):
    d[y] = seq_placed(d[t], a, b, first)


@reverse(rt.seq_placed)
def seq_placed_(y, t, a, b, first):
    d[t] = seq_part(d[y], a, b, first)


@forward(rt.seq_fold)
def seq_fold_(y, g, a, n):
    d[y] = seq_fold(d[g], a, n)


@reverse(rt.seq_fold)
def seq_fold_(y, g, a, n):
    d[g] = seq_repeated(d[y], a, n)


@forward(rt.seq_repeated)
def seq_repeated_(y, t, a, n):
    d[y] = seq_repeated(d[t], a, n)


@reverse(rt.seq_repeated)
def seq_repeated_(y, t, a, n):
    d[t] = seq_fold(d[y], a, n)


@forward(rt.seq_times)
def seq_times_(y, g, a, n):
    d[y] = seq_times(d[g], a, n) + seq_times(g, d[a], n)


@forward(rt.seq_scaled)
def seq_scaled_(y, t, a, n):
    d[y] = seq_scaled(d[t], a, n) + seq_scaled(t, d[a], n)


@forward(rt.list_head)
def list_head_(y, g):
    d[y] = list_head(d[g])


@forward(rt.appended)
def appended_(y, t, lst, v, of_list):
    d[y] = appended(d[t], lst, v, of_list)


@forward(rt.loop_seq_adjoint)
def loop_seq_adjoint_(y, g, x):
    d[y] = loop_seq_adjoint(d[g], x)


@forward(rt.loop_seq_tangent)
def loop_seq_tangent_(y, t, x):
    d[y] = loop_seq_tangent(d[t], x)


@reverse(rt.owned_copy)
def owned_copy_(y, x):
    d[x] = d[y]


@reverse(rt.float_items)
def float_items_(y, x, *scalars):
    d[x] = d[y]


@forward(rt.float_items)
def float_items_(y, x, *scalars):
    d[y] = d[x]


# float_list reads the same elements as float_items (a list where that is a memoryview): its rules
REVERSE[rt.float_list] = REVERSE[rt.float_items]
FORWARD[rt.float_list] = FORWARD[rt.float_items]


@reverse(rt.copy_adjoint)
def copy_adjoint_(y, g):
    d[g] = d[y]


@reverse(rt.contiguous)
def contiguous_(y, g):
    d[g] = d[y]


# ================================================================ every helper is a primitive (issue 14)
# The rules below complete the set: each helper generated code can call has a reverse and a forward
# rule, so grad/jvp/hessian compose to any order without srcad reading a helper's own source. The
# pairs (add_at, index_adjoint), (pop_at, pop_at_adjoint), (tuple_get, put_at), (owned_tangent,
# spread_adjoint), (appended, appended_part), (sort_adjoint, sort_tangent), ... transpose each other.
# ``no_higher_derivative`` marks the derivatives srcad does not give (third order through a helper
# of a helper's rule): it raises instead of giving zero.



nondiff(rt.no_higher_derivative, why="raises: a derivative srcad does not give")
nondiff(compose.unit_tangent, why="a constant basis vector (the columns of a composed Jacobian)")
nondiff(_h._rtype, _h._mask, nm._rtype, _more._rtype, why="a dtype, or a 0/1 mask")


@reverse(rt.add)
def add_(y, a, b):
    d[a] = spread_adjoint(d[y], a)
    d[b] = spread_adjoint(d[y], b)


# add_at(dx, x, index, g) is dx plus g scattered at x[index]: linear in dx and g; x gives the shape.
@reverse(rt.add_at)
def add_at_(y, dx, x, index, g):
    d[dx] = d[y]
    d[g] = index_adjoint(d[y], x, index, g)


@reverse(rt.index_adjoint)
def index_adjoint_(y, r, x, index, g):
    d[r] = add_at(0.0, x, index, d[y])


@forward(rt.index_adjoint)
def index_adjoint_(y, r, x, index, g):
    d[y] = index_adjoint(d[r], x, index, g)


# read_at's result is the (kept part of the) adjoint at dx[index]; pop_at also zeroes the place in
# dx itself (list and dict adjoints only), which no rule can express: reverse mode over it refuses
# (srcad.analyze), forward mode follows it (srcad.tangent_stacks).
@reverse(rt.read_at)
def read_at_(y, dx, index, v=None):
    d[dx] = pop_at_adjoint(d[y], dx, index, v)


@forward(rt.read_at)
def read_at_(y, dx, index, v=None):
    d[y] = read_at(d[dx], index, v)


@reverse(rt.pop_at_adjoint)
def pop_at_adjoint_(y, r, dx, index, v=None):
    d[r] = pop_at(owned_copy(d[y]), index, v)


@forward(rt.pop_at_adjoint)
def pop_at_adjoint_(y, r, dx, index, v=None):
    d[y] = pop_at_adjoint(d[r], dx, index, v)


@reverse(rt.tuple_get)
def tuple_get_(y, c, k):
    d[c] = put_at(d[y], c, k)


@reverse(rt.put_at)
def put_at_(y, r, c, k):
    d[r] = tuple_get(d[y], k)


@forward(rt.put_at)
def put_at_(y, r, c, k):
    d[y] = put_at(d[r], c, k)


# save_item(x, index) copies x[index] before an assignment replaces it.
@reverse(rt.save_item)
def save_item_(y, x, index):
    d[x] = add_at(0.0, x, index, d[y])


@forward(rt.save_item)
def save_item_(y, x, index):
    d[y] = index_adjoint(d[x], x, index, y)


@reverse(rt.owned_tangent)
def owned_tangent_(y, dt, x):
    d[dt] = spread_adjoint(d[y], dt)


@reverse(rt.spread_adjoint)
def spread_adjoint_(y, r, t):
    d[r] = owned_tangent(d[y], r)


@forward(rt.spread_adjoint)
def spread_adjoint_(y, r, t):
    d[y] = spread_adjoint(d[r], t)


@reverse(rt.reduce_like)
def reduce_like_(y, g, x, axis=None, keepdims=False):
    d[g] = unreduce(d[y], x, axis, keepdims)


@reverse(rt.list_head)
def list_head_(y, g):
    d[g] = appended(d[y], y, tuple_get(g, -1), True)


@reverse(rt.appended)
def appended_(y, t, lst, v, of_list):
    d[t] = appended_part(d[y], lst, v, of_list)


@reverse(rt.appended_part)
def appended_part_(y, r, lst, v, of_list):
    d[r] = appended(d[y], lst, v, of_list)


@forward(rt.appended_part)
def appended_part_(y, r, lst, v, of_list):
    d[y] = appended_part(d[r], lst, v, of_list)


@reverse(rt.loop_seq_adjoint)
def loop_seq_adjoint_(y, g, x):
    d[g] = loop_seq_tangent(d[y], x)


@reverse(rt.loop_seq_tangent)
def loop_seq_tangent_(y, t, x):
    d[t] = loop_seq_adjoint(d[y], x)


# seq_times / seq_scaled: the NumPy-multiplication branch of ``a * n``; linear in each argument.
@reverse(rt.seq_times)
def seq_times_(y, g, a, n):
    d[g] = seq_scaled(d[y], a, n)
    d[a] = no_higher_derivative(d[y], "seq_times (a list display times a float) w.r.t. the list")


@reverse(rt.seq_scaled)
def seq_scaled_(y, t, a, n):
    d[t] = seq_times(d[y], a, n)
    d[a] = no_higher_derivative(d[y], "seq_scaled (a list display times a float) w.r.t. the list")


@reverse(rt.sum_adjoint)
def sum_adjoint_(y, g, seq):
    d[g] = rt.sum_spread(d[y], g)


@reverse(rt.sum_spread)
def sum_spread_(y, r, g):
    d[r] = rt.sum_adjoint(d[y], r)


@forward(rt.sum_spread)
def sum_spread_(y, r, g):
    d[y] = rt.sum_spread(d[r], g)


@forward(rt.sum_adjoint)
def sum_adjoint_(y, g, seq):
    d[y] = rt.sum_adjoint(d[g], seq)


# the products' adjoints are bilinear: in the output adjoint g and in the other operand
@reverse(rt.matmul_adjoint_a)
def matmul_adjoint_a_(y, g, a, b):
    d[g] = broadcast_like(np.matmul(d[y], b), g)
    d[b] = matmul_adjoint_b(g, d[y], b)


@reverse(rt.matmul_adjoint_b)
def matmul_adjoint_b_(y, g, a, b):
    d[g] = broadcast_like(np.matmul(a, d[y]), g)
    d[a] = matmul_adjoint_a(g, a, d[y])


@reverse(rt.dot_adjoint_a)
def dot_adjoint_a_(y, g, a, b):
    d[g] = broadcast_like(np.dot(d[y], b), g)
    d[b] = dot_adjoint_b(g, d[y], b)


@reverse(rt.dot_adjoint_b)
def dot_adjoint_b_(y, g, a, b):
    d[g] = broadcast_like(np.dot(a, d[y]), g)
    d[a] = dot_adjoint_a(g, a, d[y])


@reverse(_h.inner_adjoint_a)
def inner_adjoint_a_(y, g, a, b):
    d[g] = np.inner(d[y], b)
    d[b] = inner_adjoint_b(g, d[y], b)


@forward(_h.inner_adjoint_a)
def inner_adjoint_a_(y, g, a, b):
    d[y] = inner_adjoint_a(d[g], a, b) + inner_adjoint_a(g, a, d[b])


@reverse(_h.inner_adjoint_b)
def inner_adjoint_b_(y, g, a, b):
    d[g] = np.inner(a, d[y])
    d[a] = inner_adjoint_a(g, a, d[y])


@forward(_h.inner_adjoint_b)
def inner_adjoint_b_(y, g, a, b):
    d[y] = inner_adjoint_b(d[g], a, b) + inner_adjoint_b(g, d[a], b)


@reverse(_h.tensordot_adjoint_a)
def tensordot_adjoint_a_(y, g, a, b, axes=2):
    d[g] = np.tensordot(d[y], b, axes)
    d[b] = tensordot_adjoint_b(g, d[y], b, axes)


@forward(_h.tensordot_adjoint_a)
def tensordot_adjoint_a_(y, g, a, b, axes=2):
    d[y] = tensordot_adjoint_a(d[g], a, b, axes) + tensordot_adjoint_a(g, a, d[b], axes)


@reverse(_h.tensordot_adjoint_b)
def tensordot_adjoint_b_(y, g, a, b, axes=2):
    d[g] = np.tensordot(a, d[y], axes)
    d[a] = tensordot_adjoint_a(g, a, d[y], axes)


@forward(_h.tensordot_adjoint_b)
def tensordot_adjoint_b_(y, g, a, b, axes=2):
    d[y] = tensordot_adjoint_b(d[g], a, b, axes) + tensordot_adjoint_b(g, d[a], b, axes)


@reverse(_h.vdot_adjoint)
def vdot_adjoint_(y, g, other, x):
    d[g] = np.vdot(d[y], other)
    d[other] = vdot_adjoint(g, d[y], other)


@forward(_h.vdot_adjoint)
def vdot_adjoint_(y, g, other, x):
    d[y] = vdot_adjoint(d[g], other, x) + vdot_adjoint(g, d[other], x)


# ---------------------------------------------------------------- linear in their first argument; the
# other arguments give shapes, indices or piecewise-constant orders


@reverse(_h.take_adjoint)
def take_adjoint_(y, g, a, indices, axis=None, mode="raise"):
    d[g] = np.take(d[y], indices, axis, mode=mode)


@forward(_h.take_adjoint)
def take_adjoint_(y, g, a, indices, axis=None, mode="raise"):
    d[y] = take_adjoint(d[g], a, indices, axis, mode)


@reverse(_h.pad_adjoint)
def pad_adjoint_(y, g, array, pad_width, mode="constant"):
    d[g] = pad_spread(d[y], pad_width, mode)


@forward(_h.pad_adjoint)
def pad_adjoint_(y, g, array, pad_width, mode="constant"):
    d[y] = pad_adjoint(d[g], array, pad_width, mode)


@reverse(_h.pad_spread)
def pad_spread_(y, r, pad_width, mode="constant"):
    d[r] = pad_adjoint(d[y], r, pad_width, mode)


@forward(_h.pad_spread)
def pad_spread_(y, r, pad_width, mode="constant"):
    d[y] = pad_spread(d[r], pad_width, mode)


@reverse(_h.repeat_adjoint)
def repeat_adjoint_(y, g, a, repeats, axis=None):
    d[g] = np.repeat(d[y], repeats, axis)


@forward(_h.repeat_adjoint)
def repeat_adjoint_(y, g, a, repeats, axis=None):
    d[y] = repeat_adjoint(d[g], a, repeats, axis)


@reverse(_h.tile_adjoint)
def tile_adjoint_(y, g, A, reps):
    d[g] = np.tile(d[y], reps)


@forward(_h.tile_adjoint)
def tile_adjoint_(y, g, A, reps):
    d[y] = tile_adjoint(d[g], A, reps)


@reverse(_h.sort_adjoint)
def sort_adjoint_(y, g, a, axis=-1):
    d[g] = sort_tangent(d[y], a, axis)


@forward(_h.sort_adjoint)
def sort_adjoint_(y, g, a, axis=-1):
    d[y] = sort_adjoint(d[g], a, axis)


@reverse(_h.sort_tangent)
def sort_tangent_(y, t, a, axis=-1):
    d[t] = sort_adjoint(d[y], a, axis)


@forward(_h.sort_tangent)
def sort_tangent_(y, t, a, axis=-1):
    d[y] = sort_tangent(d[t], a, axis)


@reverse(_h.concat_tangent)
def concat_tangent_(y, ts, arrays, axis=0, kind="concatenate"):
    d[ts] = concat_adjoint(d[y], arrays, axis, kind)


@forward(_h.concat_tangent)
def concat_tangent_(y, ts, arrays, axis=0, kind="concatenate"):
    d[y] = concat_tangent(d[ts], arrays, axis, kind)


@reverse(_h.stack_tangent)
def stack_tangent_(y, ts, arrays, axis=0):
    d[ts] = stack_adjoint(d[y], arrays, axis)


@forward(_h.stack_tangent)
def stack_tangent_(y, ts, arrays, axis=0):
    d[y] = stack_tangent(d[ts], arrays, axis)


@reverse(_h.linspace_tangent)
def linspace_tangent_(y, t, w, axis=0):
    d[t] = unbroadcast(np.sum(d[y] * w, axis=axis), t)


@forward(_h.linspace_tangent)
def linspace_tangent_(y, t, w, axis=0):
    d[y] = linspace_tangent(d[t], w, axis)


# prod_others: the derivative of each "product of the others" is symmetric (its own transpose)
@reverse(_h.prod_others)
def prod_others_(y, a, axis=None):
    d[a] = prod_others_tangent(d[y], a, axis)


@forward(_h.prod_others)
def prod_others_(y, a, axis=None):
    d[y] = prod_others_tangent(d[a], a, axis)


@reverse(_h.prod_others_tangent)
def prod_others_tangent_(y, t, a, axis=None):
    d[t] = prod_others_tangent(d[y], a, axis)
    d[a] = no_higher_derivative(d[y], "np.prod (third order)")


@forward(_h.prod_others_tangent)
def prod_others_tangent_(y, t, a, axis=None):
    d[y] = prod_others_tangent(d[t], a, axis) + no_higher_derivative(d[a], "np.prod (third order)")


# det_adjoint(g, a, y) = g * cofactor(a): linear in g; through det_cofactor's own rules in a
@reverse(_h.det_adjoint)
def det_adjoint_(r, g, a, y):
    d[g] = np.sum(d[r] * det_cofactor(a), axis=(-1, -2))
    d[a] = _h.det_cofactor_adjoint(np.expand_dims(g, (-1, -2)) * d[r], a, det_cofactor(a))


@forward(_h.det_adjoint)
def det_adjoint_(r, g, a, y):
    d[r] = (_h.det_adjoint(d[g], a, y)
            + np.expand_dims(g, (-1, -2)) * _h.det_cofactor_tangent(a, det_cofactor(a), d[a]))


# einsum_tangent(p, t, *operands): einsum with operand p replaced by t; multilinear
@reverse(_h.einsum_tangent)
def einsum_tangent_(y, p, t, a0, a1=None, a2=None, a3=None, a4=None, a5=None, a6=None, a7=None, a8=None,
                    a9=None, a10=None, a11=None):
    d[t] = einsum_adjoint(d[y], p, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
    d[a0] = _h.einsum_adjoint_swap(d[y], p, 0, t, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
    d[a1] = _h.einsum_adjoint_swap(d[y], p, 1, t, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
    d[a2] = _h.einsum_adjoint_swap(d[y], p, 2, t, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
    d[a3] = _h.einsum_adjoint_swap(d[y], p, 3, t, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
    d[a4] = _h.einsum_adjoint_swap(d[y], p, 4, t, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
    d[a5] = _h.einsum_adjoint_swap(d[y], p, 5, t, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
    d[a6] = _h.einsum_adjoint_swap(d[y], p, 6, t, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
    d[a7] = _h.einsum_adjoint_swap(d[y], p, 7, t, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
    d[a8] = _h.einsum_adjoint_swap(d[y], p, 8, t, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
    d[a9] = _h.einsum_adjoint_swap(d[y], p, 9, t, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
    d[a10] = _h.einsum_adjoint_swap(d[y], p, 10, t, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
    d[a11] = _h.einsum_adjoint_swap(d[y], p, 11, t, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)


@forward(_h.einsum_tangent)
def einsum_tangent_(y, p, t, a0, a1=None, a2=None, a3=None, a4=None, a5=None, a6=None, a7=None, a8=None,
                    a9=None, a10=None, a11=None):
    d[y] = (einsum_tangent(p, d[t], a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
            + _h.einsum_tangent_dq(p, t, 0, d[a0], a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
            + _h.einsum_tangent_dq(p, t, 1, d[a1], a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
            + _h.einsum_tangent_dq(p, t, 2, d[a2], a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
            + _h.einsum_tangent_dq(p, t, 3, d[a3], a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
            + _h.einsum_tangent_dq(p, t, 4, d[a4], a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
            + _h.einsum_tangent_dq(p, t, 5, d[a5], a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
            + _h.einsum_tangent_dq(p, t, 6, d[a6], a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
            + _h.einsum_tangent_dq(p, t, 7, d[a7], a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
            + _h.einsum_tangent_dq(p, t, 8, d[a8], a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
            + _h.einsum_tangent_dq(p, t, 9, d[a9], a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
            + _h.einsum_tangent_dq(p, t, 10, d[a10], a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
            + _h.einsum_tangent_dq(p, t, 11, d[a11], a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11))


# norm_tangent(t, x, y, ...) = sum(weights(x, y) * t) over the norm's axes: linear in t; its x and y
# derivatives are those of norm_adjoint with the roles of the adjoint and the tangent exchanged.
@reverse(nm.norm_tangent)
def norm_tangent_(z, t, x, y, ord=None, axis=None, keepdims=False):
    d[t] = norm_adjoint(d[z], x, y, ord, axis, keepdims)
    d[x] = norm_adjoint_dx(d[z], x, y, t, ord, axis, keepdims)
    d[y] = norm_adjoint_dy_adjoint(d[z], x, y, t, ord, axis, keepdims)


@forward(nm.norm_tangent)
def norm_tangent_(z, t, x, y, ord=None, axis=None, keepdims=False):
    d[z] = (norm_tangent(d[t], x, y, ord, axis, keepdims)
            + np.sum(norm_adjoint_dx(np.ones_like(y), x, y, d[x], ord, axis, keepdims) * t, axis=axis,
                     keepdims=keepdims)
            + np.sum(norm_adjoint_dy(np.ones_like(y), x, y, d[y], ord, axis, keepdims) * t, axis=axis,
                     keepdims=keepdims))


# the rules' own third-order pieces: linear in the adjoint/tangent they carry, refused beyond
@reverse(nm.norm_adjoint_dx)
def norm_adjoint_dx_(z, g, x, y, dx, ord=None, axis=None, keepdims=False):
    d[dx] = norm_adjoint_dx(g, x, y, d[z], ord, axis, keepdims)   # diagonal: its own transpose
    d[g] = no_higher_derivative(d[z], "np.linalg.norm (third order)")
    d[x] = no_higher_derivative(d[z], "np.linalg.norm (third order)")
    d[y] = no_higher_derivative(d[z], "np.linalg.norm (third order)")


@forward(nm.norm_adjoint_dx)
def norm_adjoint_dx_(z, g, x, y, dx, ord=None, axis=None, keepdims=False):
    d[z] = (norm_adjoint_dx(g, x, y, d[dx], ord, axis, keepdims)
            + no_higher_derivative(d[g], "np.linalg.norm (third order)")
            + no_higher_derivative(d[x], "np.linalg.norm (third order)")
            + no_higher_derivative(d[y], "np.linalg.norm (third order)"))


@reverse(nm.norm_adjoint_dy)
def norm_adjoint_dy_(z, g, x, y, dy, ord=None, axis=None, keepdims=False):
    d[dy] = norm_adjoint_dy_adjoint(g, x, y, d[z], ord, axis, keepdims)
    d[g] = no_higher_derivative(d[z], "np.linalg.norm (third order)")
    d[x] = no_higher_derivative(d[z], "np.linalg.norm (third order)")
    d[y] = no_higher_derivative(d[z], "np.linalg.norm (third order)")


@forward(nm.norm_adjoint_dy)
def norm_adjoint_dy_(z, g, x, y, dy, ord=None, axis=None, keepdims=False):
    d[z] = (norm_adjoint_dy(g, x, y, d[dy], ord, axis, keepdims)
            + no_higher_derivative(d[g], "np.linalg.norm (third order)")
            + no_higher_derivative(d[x], "np.linalg.norm (third order)")
            + no_higher_derivative(d[y], "np.linalg.norm (third order)"))


@reverse(nm.norm_adjoint_dy_adjoint)
def norm_adjoint_dy_adjoint_(z, g, x, y, r, ord=None, axis=None, keepdims=False):
    d[r] = norm_adjoint_dy(g, x, y, d[z], ord, axis, keepdims)
    d[g] = no_higher_derivative(d[z], "np.linalg.norm (third order)")
    d[x] = no_higher_derivative(d[z], "np.linalg.norm (third order)")
    d[y] = no_higher_derivative(d[z], "np.linalg.norm (third order)")


@forward(nm.norm_adjoint_dy_adjoint)
def norm_adjoint_dy_adjoint_(z, g, x, y, r, ord=None, axis=None, keepdims=False):
    d[z] = (norm_adjoint_dy_adjoint(g, x, y, d[r], ord, axis, keepdims)
            + no_higher_derivative(d[g], "np.linalg.norm (third order)")
            + no_higher_derivative(d[x], "np.linalg.norm (third order)")
            + no_higher_derivative(d[y], "np.linalg.norm (third order)"))




# ---------------------------------------------------------------- np.linalg.solve's helpers: every
# piece is solve_like (x = a^-1 v), mat_apply (m v) or outer_like (u v^T), under solve's convention
# that a 1-D ``b`` is a vector; d(a^-1) = -a^-1 da a^-1.


@reverse(_h.mat_apply)
def mat_apply_(y, m, v, b):
    d[m] = unbroadcast(outer_like(d[y], v, b), m)
    d[v] = unbroadcast(mat_apply(np.swapaxes(m, -1, -2), d[y], b), v)


@forward(_h.mat_apply)
def mat_apply_(y, m, v, b):
    d[y] = mat_apply(d[m], v, b) + mat_apply(m, d[v], b)


@reverse(_h.outer_like)
def outer_like_(y, u, v, b):
    d[u] = unbroadcast(mat_apply(d[y], v, b), u)
    d[v] = unbroadcast(mat_apply(np.swapaxes(d[y], -1, -2), u, b), v)


@forward(_h.outer_like)
def outer_like_(y, u, v, b):
    d[y] = outer_like(d[u], v, b) + outer_like(u, d[v], b)


@reverse(_h.solve_like)
def solve_like_(y, a, v, b):
    w = solve_like(np.swapaxes(a, -1, -2), d[y], b)
    d[v] = unbroadcast(w, v)
    d[a] = unbroadcast(-outer_like(w, y, b), a)


@forward(_h.solve_like)
def solve_like_(y, a, v, b):
    d[y] = solve_like(a, d[v], b) - solve_like(a, mat_apply(d[a], y, b), b)


# solve_adjoint_b(g, a, b) = z summed to b's shape, z = a^-T g
@reverse(_h.solve_adjoint_b)
def solve_adjoint_b_(r, g, a, b):
    z = solve_like(np.swapaxes(a, -1, -2), g, b)
    w = solve_like(a, broadcast_like(d[r], z), b)
    d[g] = unbroadcast(w, g)
    d[a] = unbroadcast(-outer_like(z, w, b), a)


@forward(_h.solve_adjoint_b)
def solve_adjoint_b_(r, g, a, b):
    z = solve_like(np.swapaxes(a, -1, -2), g, b)
    d[r] = (_h.solve_adjoint_b(d[g], a, b)
            - unbroadcast(solve_like(np.swapaxes(a, -1, -2), mat_apply(np.swapaxes(d[a], -1, -2), z, b), b), b))


# solve_adjoint_a(g, a, b, y) = -z y^T summed to a's shape, z = a^-T g
@reverse(_h.solve_adjoint_a)
def solve_adjoint_a_(r, g, a, b, y):
    z = solve_like(np.swapaxes(a, -1, -2), g, b)
    q = mat_apply(broadcast_like(d[r], outer_like(z, y, b)), y, b)
    d[g] = unbroadcast(-solve_like(a, q, b), g)
    d[y] = unbroadcast(-mat_apply(np.swapaxes(broadcast_like(d[r], outer_like(z, y, b)), -1, -2), z, b), y)
    d[a] = unbroadcast(outer_like(z, solve_like(a, q, b), b), a)


@forward(_h.solve_adjoint_a)
def solve_adjoint_a_(r, g, a, b, y):
    z = solve_like(np.swapaxes(a, -1, -2), g, b)
    d[r] = (solve_adjoint_a(d[g], a, b, y) + solve_adjoint_a(g, a, b, d[y])
            + unbroadcast(outer_like(solve_like(np.swapaxes(a, -1, -2), mat_apply(np.swapaxes(d[a], -1, -2), z, b),
                                                b), y, b), a))


# solve_tangent_a(t, a, b, y) = -a^-1 (t y)
@reverse(_h.solve_tangent_a)
def solve_tangent_a_(o, t, a, b, y):
    d[t] = solve_adjoint_a(d[o], a, b, y)
    d[y] = unbroadcast(-mat_apply(np.swapaxes(t, -1, -2), solve_like(np.swapaxes(a, -1, -2), d[o], b), b), y)
    d[a] = solve_adjoint_a(d[o], a, b, o)


@forward(_h.solve_tangent_a)
def solve_tangent_a_(o, t, a, b, y):
    d[o] = solve_tangent_a(d[t], a, b, y) + solve_tangent_a(t, a, b, d[y]) + solve_tangent_a(d[a], a, b, o)


# np.pad's constant value: pad_value_adjoint sums g over the padding, pad_value_tangent fills it
@reverse(_h.pad_value_adjoint)
def pad_value_adjoint_(y, g, array, pad_width, mode, constant_values):
    d[g] = _h.pad_value_tangent(d[y], array, pad_width, mode, constant_values)


@forward(_h.pad_value_adjoint)
def pad_value_adjoint_(y, g, array, pad_width, mode, constant_values):
    d[y] = _h.pad_value_adjoint(d[g], array, pad_width, mode, constant_values)


@reverse(_h.pad_value_tangent)
def pad_value_tangent_(y, t, array, pad_width, mode, constant_values):
    d[t] = _h.pad_value_adjoint(d[y], array, pad_width, mode, constant_values)


@forward(_h.pad_value_tangent)
def pad_value_tangent_(y, t, array, pad_width, mode, constant_values):
    d[y] = _h.pad_value_tangent(d[t], array, pad_width, mode, constant_values)


# ---------------------------------------------------------------- np.average with weights: W = the weights
# spread over a (weights_full, linear; weights_sum its transpose), S = sum(W) over the axis, U(v) =
# v spread back over a; y = sum(W a) / S.


@reverse(_h.weights_full)
def weights_full_(y, t, a, axis=None):
    d[t] = _h.weights_sum(d[y], a, axis, t)


@forward(_h.weights_full)
def weights_full_(y, t, a, axis=None):
    d[y] = _h.weights_full(d[t], a, axis)


@reverse(_h.weights_sum)
def weights_sum_(y, r, a, axis, weights):
    d[r] = unbroadcast(_h.weights_full(d[y], a, axis), r)


@forward(_h.weights_sum)
def weights_sum_(y, r, a, axis, weights):
    d[y] = _h.weights_sum(d[r], a, axis, weights)


# average_weights = W / S (constant in a)
@reverse(_h.average_weights)
def average_weights_(y, a, axis=None, weights=None, returned=False):
    s = np.sum(_h.weights_full(weights, a, axis), axis=axis, keepdims=True)
    d[weights] = _h.weights_sum((d[y] - np.sum(d[y] * y, axis=axis, keepdims=True)) / s, a, axis, weights)


@forward(_h.average_weights)
def average_weights_(y, a, axis=None, weights=None, returned=False):
    s = np.sum(_h.weights_full(weights, a, axis), axis=axis, keepdims=True)
    d[y] = (_h.weights_full(d[weights], a, axis) / s
            - y * np.sum(_h.weights_full(d[weights], a, axis), axis=axis, keepdims=True) / s)


# average_adjoint_w = weights_sum(U(g) (a - U(y)) / S): linear in g (its transpose is average_tangent_w)
@reverse(_h.average_adjoint_w)
def average_adjoint_w_(r, g, a, y, axis=None, weights=None, keepdims=False, returned=False):
    s = np.sum(_h.weights_full(weights, a, axis), axis=axis, keepdims=True)
    gs = unreduce(g, a, axis, keepdims) / s
    rw = _h.weights_full(d[r], a, axis)
    d[g] = _h.average_tangent_w(d[r], a, y, axis, weights, keepdims, returned)
    d[a] = gs * rw
    d[y] = -np.sum(gs * rw, axis=axis, keepdims=keepdims)
    d[weights] = _h.weights_sum(-np.sum(gs * (a - unreduce(y, a, axis, keepdims)) * rw, axis=axis, keepdims=True) / s,
                                a, axis, weights)


@forward(_h.average_adjoint_w)
def average_adjoint_w_(r, g, a, y, axis=None, weights=None, keepdims=False, returned=False):
    s = np.sum(_h.weights_full(weights, a, axis), axis=axis, keepdims=True)
    gs = unreduce(g, a, axis, keepdims) / s
    d[r] = (_h.average_adjoint_w(d[g], a, y, axis, weights, keepdims, returned)
            + _h.weights_sum(gs * d[a], a, axis, weights)
            - _h.weights_sum(gs * unreduce(d[y], a, axis, keepdims), a, axis, weights)
            - _h.weights_sum(gs * (a - unreduce(y, a, axis, keepdims))
                             * np.sum(_h.weights_full(d[weights], a, axis), axis=axis, keepdims=True) / s,
                             a, axis, weights))


# average_tangent_w = sum(full(t) (a - U(y))) / S: linear in t (its transpose is average_adjoint_w)
@reverse(_h.average_tangent_w)
def average_tangent_w_(o, t, a, y, axis=None, weights=None, keepdims=False, returned=False):
    s = np.sum(_h.weights_full(weights, a, axis), axis=axis, keepdims=True)
    os_ = unreduce(d[o], a, axis, keepdims) / s
    tw = _h.weights_full(t, a, axis)
    d[t] = _h.average_adjoint_w(d[o], a, y, axis, weights, keepdims, returned)
    d[a] = tw * os_
    d[y] = -np.sum(tw * os_, axis=axis, keepdims=keepdims)
    d[weights] = -_h.weights_sum(unreduce(o, a, axis, keepdims) * os_, a, axis, weights)


@forward(_h.average_tangent_w)
def average_tangent_w_(o, t, a, y, axis=None, weights=None, keepdims=False, returned=False):
    s = np.sum(_h.weights_full(weights, a, axis), axis=axis, keepdims=keepdims)
    tw = _h.weights_full(t, a, axis)
    d[o] = (_h.average_tangent_w(d[t], a, y, axis, weights, keepdims, returned)
            + np.sum(tw * d[a], axis=axis, keepdims=keepdims) / s
            - np.sum(tw * unreduce(d[y], a, axis, keepdims), axis=axis, keepdims=keepdims) / s
            - o * np.sum(_h.weights_full(d[weights], a, axis), axis=axis, keepdims=keepdims) / s)


# ---------------------------------------------------------------- np.linalg.det to second order: the
# cofactor's tangent and adjoint are linear in t (r) and transpose each other; they do not read c.
# Their derivative in a (the third derivative of det) is not given.


@reverse(_h.det_cofactor_tangent)
def det_cofactor_tangent_(o, a, c, t):
    d[t] = _h.det_cofactor_adjoint(d[o], a, c)
    d[a] = no_higher_derivative(d[o], "np.linalg.det (third order)")


@forward(_h.det_cofactor_tangent)
def det_cofactor_tangent_(o, a, c, t):
    d[o] = (_h.det_cofactor_tangent(a, c, d[t])
            + no_higher_derivative(d[a], "np.linalg.det (third order)"))


@reverse(_h.det_cofactor_adjoint)
def det_cofactor_adjoint_(o, r, a, c):
    d[r] = _h.det_cofactor_tangent(a, c, d[o])
    d[a] = no_higher_derivative(d[o], "np.linalg.det (third order)")


@forward(_h.det_cofactor_adjoint)
def det_cofactor_adjoint_(o, r, a, c):
    d[o] = (_h.det_cofactor_adjoint(d[r], a, c)
            + no_higher_derivative(d[a], "np.linalg.det (third order)"))


# ---------------------------------------------------------------- np.linalg.slogdet to second order:
# slogdet_adjoint(g, a) = g[1] a^-T and slogdet_tangent(t, a) = (0, <a^-T, t>) transpose each other;
# d(a^-T) = -a^-T da^T a^-T. Written with NumPy's own functions, so they compose to any order.


@reverse(_h.slogdet_adjoint)
def slogdet_adjoint_(r, g, a):
    ait = np.swapaxes(np.linalg.inv(a), -1, -2)
    d[g] = slot(np.sum(ait * d[r], axis=(-1, -2)), 1, 2)
    d[a] = -np.expand_dims(tuple_get(g, 1), (-1, -2)) * np.matmul(ait, np.matmul(np.swapaxes(d[r], -1, -2), ait))


@forward(_h.slogdet_adjoint)
def slogdet_adjoint_(r, g, a):
    ait = np.swapaxes(np.linalg.inv(a), -1, -2)
    d[r] = (_h.slogdet_adjoint(d[g], a)
            - np.expand_dims(tuple_get(g, 1), (-1, -2)) * np.matmul(ait, np.matmul(np.swapaxes(d[a], -1, -2), ait)))


@reverse(_h.slogdet_tangent)
def slogdet_tangent_(o, t, a):
    ait = np.swapaxes(np.linalg.inv(a), -1, -2)
    d[t] = _h.slogdet_adjoint(d[o], a)
    d[a] = -np.expand_dims(tuple_get(d[o], 1), (-1, -2)) * np.matmul(ait, np.matmul(np.swapaxes(t, -1, -2), ait))


@forward(_h.slogdet_tangent)
def slogdet_tangent_(o, t, a):
    ait = np.swapaxes(np.linalg.inv(a), -1, -2)
    d[o] = (_h.slogdet_tangent(d[t], a)
            + slot(-np.sum(np.matmul(ait, np.matmul(np.swapaxes(d[a], -1, -2), ait)) * t, axis=(-1, -2)), 1, 2))


# ---------------------------------------------------------------- np.linalg.cholesky to second order.
# With phi = lower_half, X = L^-1 sym(t) L^-T and S = L^-T phi(L^T g) L^-1:
#   cholesky_tangent(t, L) = L phi(X),   cholesky_adjoint(g, L) = sym(S),
# each linear in its first argument and the other's transpose; their derivatives in L follow from
# d(L^-1) = -L^-1 dL L^-1, written with NumPy's functions (and two projections with their own rules).


@linear(_h.lower_half, self_adjoint=True)
def lower_half_(y, x):
    """A projection: its own transpose."""


@linear(_h.symmetrized, self_adjoint=True)
def symmetrized_(y, x):
    """A projection: its own transpose."""


@linear(_h.as_lower, self_adjoint=True)
def as_lower_(y, x, upper=False):
    """A transposition or nothing: its own transpose."""


@reverse(_h.cholesky_tangent)
def cholesky_tangent_(o, t, L):
    x = np.linalg.solve(L, np.swapaxes(np.linalg.solve(L, _h.symmetrized(t)), -1, -2))
    p = _h.lower_half(np.matmul(np.swapaxes(L, -1, -2), d[o]))
    d[t] = _h.cholesky_adjoint(d[o], L)
    d[L] = (np.matmul(d[o], np.swapaxes(_h.lower_half(x), -1, -2))
            - np.linalg.solve(np.swapaxes(L, -1, -2), np.matmul(p + np.swapaxes(p, -1, -2), x)))


@forward(_h.cholesky_tangent)
def cholesky_tangent_(o, t, L):
    x = np.linalg.solve(L, np.swapaxes(np.linalg.solve(L, _h.symmetrized(t)), -1, -2))
    d[o] = (_h.cholesky_tangent(d[t], L)
            + np.matmul(d[L], _h.lower_half(x))
            - np.matmul(L, _h.lower_half(np.matmul(np.linalg.solve(L, d[L]), x)))
            - np.matmul(L, _h.lower_half(np.matmul(x, np.swapaxes(np.linalg.solve(L, d[L]), -1, -2)))))


@reverse(_h.cholesky_adjoint)
def cholesky_adjoint_(o, g, L):
    lt = np.swapaxes(L, -1, -2)
    s = np.linalg.solve(lt, np.swapaxes(np.linalg.solve(lt, np.swapaxes(_h.lower_half(np.matmul(lt, g)), -1, -2)),
                                        -1, -2))
    rs = _h.symmetrized(d[o])
    d[g] = _h.cholesky_tangent(d[o], L)
    d[L] = (np.matmul(g, np.swapaxes(_h.lower_half(np.linalg.solve(L, np.swapaxes(np.linalg.solve(L, rs), -1, -2))),
                                     -1, -2))
            - np.swapaxes(np.linalg.solve(L, np.swapaxes(np.matmul(s + np.swapaxes(s, -1, -2), rs), -1, -2)), -1, -2))


@forward(_h.cholesky_adjoint)
def cholesky_adjoint_(o, g, L):
    lt = np.swapaxes(L, -1, -2)
    s = np.linalg.solve(lt, np.swapaxes(np.linalg.solve(lt, np.swapaxes(_h.lower_half(np.matmul(lt, g)), -1, -2)),
                                        -1, -2))
    d[o] = (_h.cholesky_adjoint(d[g], L)
            - _h.symmetrized(np.linalg.solve(lt, np.matmul(np.swapaxes(d[L], -1, -2), s)))
            + _h.symmetrized(np.swapaxes(np.linalg.solve(lt, np.swapaxes(
                np.linalg.solve(lt, _h.lower_half(np.matmul(np.swapaxes(d[L], -1, -2), g))), -1, -2)), -1, -2))
            - _h.symmetrized(np.swapaxes(np.linalg.solve(lt, np.swapaxes(np.matmul(s, d[L]), -1, -2)), -1, -2)))



# ---------------------------------------------------------------- np.einsum at third order: the helpers
# of einsum's second derivatives are linear in the adjoint and the tangent they carry (each pair below
# transposes the third); the derivatives in the operands themselves (fourth order) are not given.


@reverse(_h.einsum_adjoint_dq)
def einsum_adjoint_dq_(r, g, p, q, t, a0, a1=None, a2=None, a3=None, a4=None, a5=None, a6=None, a7=None, a8=None,
        a9=None, a10=None, a11=None):
    d[g] = _h.einsum_tangent_dq(p, d[r], q, t, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
    d[t] = _h.einsum_adjoint_swap(g, p, q, d[r], a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
    d[a0] = no_higher_derivative(d[r], "np.einsum (third order)")
    d[a1] = no_higher_derivative(d[r], "np.einsum (third order)")
    d[a2] = no_higher_derivative(d[r], "np.einsum (third order)")
    d[a3] = no_higher_derivative(d[r], "np.einsum (third order)")
    d[a4] = no_higher_derivative(d[r], "np.einsum (third order)")
    d[a5] = no_higher_derivative(d[r], "np.einsum (third order)")
    d[a6] = no_higher_derivative(d[r], "np.einsum (third order)")
    d[a7] = no_higher_derivative(d[r], "np.einsum (third order)")
    d[a8] = no_higher_derivative(d[r], "np.einsum (third order)")
    d[a9] = no_higher_derivative(d[r], "np.einsum (third order)")
    d[a10] = no_higher_derivative(d[r], "np.einsum (third order)")
    d[a11] = no_higher_derivative(d[r], "np.einsum (third order)")


@forward(_h.einsum_adjoint_dq)
def einsum_adjoint_dq_(r, g, p, q, t, a0, a1=None, a2=None, a3=None, a4=None, a5=None, a6=None, a7=None, a8=None,
        a9=None, a10=None, a11=None):
    d[r] = (_h.einsum_adjoint_dq(d[g], p, q, t, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
            + _h.einsum_adjoint_dq(g, p, q, d[t], a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
            + no_higher_derivative(d[a0], "np.einsum (third order)")
            + no_higher_derivative(d[a1], "np.einsum (third order)")
            + no_higher_derivative(d[a2], "np.einsum (third order)")
            + no_higher_derivative(d[a3], "np.einsum (third order)")
            + no_higher_derivative(d[a4], "np.einsum (third order)")
            + no_higher_derivative(d[a5], "np.einsum (third order)")
            + no_higher_derivative(d[a6], "np.einsum (third order)")
            + no_higher_derivative(d[a7], "np.einsum (third order)")
            + no_higher_derivative(d[a8], "np.einsum (third order)")
            + no_higher_derivative(d[a9], "np.einsum (third order)")
            + no_higher_derivative(d[a10], "np.einsum (third order)")
            + no_higher_derivative(d[a11], "np.einsum (third order)"))


@reverse(_h.einsum_adjoint_swap)
def einsum_adjoint_swap_(o, g, p, q, r, a0, a1=None, a2=None, a3=None, a4=None, a5=None, a6=None, a7=None, a8=None,
        a9=None, a10=None, a11=None):
    d[g] = _h.einsum_tangent_dq(p, r, q, d[o], a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
    d[r] = _h.einsum_adjoint_dq(g, p, q, d[o], a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
    d[a0] = no_higher_derivative(d[o], "np.einsum (third order)")
    d[a1] = no_higher_derivative(d[o], "np.einsum (third order)")
    d[a2] = no_higher_derivative(d[o], "np.einsum (third order)")
    d[a3] = no_higher_derivative(d[o], "np.einsum (third order)")
    d[a4] = no_higher_derivative(d[o], "np.einsum (third order)")
    d[a5] = no_higher_derivative(d[o], "np.einsum (third order)")
    d[a6] = no_higher_derivative(d[o], "np.einsum (third order)")
    d[a7] = no_higher_derivative(d[o], "np.einsum (third order)")
    d[a8] = no_higher_derivative(d[o], "np.einsum (third order)")
    d[a9] = no_higher_derivative(d[o], "np.einsum (third order)")
    d[a10] = no_higher_derivative(d[o], "np.einsum (third order)")
    d[a11] = no_higher_derivative(d[o], "np.einsum (third order)")


@forward(_h.einsum_adjoint_swap)
def einsum_adjoint_swap_(o, g, p, q, r, a0, a1=None, a2=None, a3=None, a4=None, a5=None, a6=None, a7=None, a8=None,
        a9=None, a10=None, a11=None):
    d[o] = (_h.einsum_adjoint_swap(d[g], p, q, r, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
            + _h.einsum_adjoint_swap(g, p, q, d[r], a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
            + no_higher_derivative(d[a0], "np.einsum (third order)")
            + no_higher_derivative(d[a1], "np.einsum (third order)")
            + no_higher_derivative(d[a2], "np.einsum (third order)")
            + no_higher_derivative(d[a3], "np.einsum (third order)")
            + no_higher_derivative(d[a4], "np.einsum (third order)")
            + no_higher_derivative(d[a5], "np.einsum (third order)")
            + no_higher_derivative(d[a6], "np.einsum (third order)")
            + no_higher_derivative(d[a7], "np.einsum (third order)")
            + no_higher_derivative(d[a8], "np.einsum (third order)")
            + no_higher_derivative(d[a9], "np.einsum (third order)")
            + no_higher_derivative(d[a10], "np.einsum (third order)")
            + no_higher_derivative(d[a11], "np.einsum (third order)"))


@reverse(_h.einsum_tangent_dq)
def einsum_tangent_dq_(o, p, r, q, t, a0, a1=None, a2=None, a3=None, a4=None, a5=None, a6=None, a7=None, a8=None,
        a9=None, a10=None, a11=None):
    d[r] = _h.einsum_adjoint_dq(d[o], p, q, t, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
    d[t] = _h.einsum_adjoint_swap(d[o], p, q, r, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
    d[a0] = no_higher_derivative(d[o], "np.einsum (third order)")
    d[a1] = no_higher_derivative(d[o], "np.einsum (third order)")
    d[a2] = no_higher_derivative(d[o], "np.einsum (third order)")
    d[a3] = no_higher_derivative(d[o], "np.einsum (third order)")
    d[a4] = no_higher_derivative(d[o], "np.einsum (third order)")
    d[a5] = no_higher_derivative(d[o], "np.einsum (third order)")
    d[a6] = no_higher_derivative(d[o], "np.einsum (third order)")
    d[a7] = no_higher_derivative(d[o], "np.einsum (third order)")
    d[a8] = no_higher_derivative(d[o], "np.einsum (third order)")
    d[a9] = no_higher_derivative(d[o], "np.einsum (third order)")
    d[a10] = no_higher_derivative(d[o], "np.einsum (third order)")
    d[a11] = no_higher_derivative(d[o], "np.einsum (third order)")


@forward(_h.einsum_tangent_dq)
def einsum_tangent_dq_(o, p, r, q, t, a0, a1=None, a2=None, a3=None, a4=None, a5=None, a6=None, a7=None, a8=None,
        a9=None, a10=None, a11=None):
    d[o] = (_h.einsum_tangent_dq(p, d[r], q, t, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
            + _h.einsum_tangent_dq(p, r, q, d[t], a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11)
            + no_higher_derivative(d[a0], "np.einsum (third order)")
            + no_higher_derivative(d[a1], "np.einsum (third order)")
            + no_higher_derivative(d[a2], "np.einsum (third order)")
            + no_higher_derivative(d[a3], "np.einsum (third order)")
            + no_higher_derivative(d[a4], "np.einsum (third order)")
            + no_higher_derivative(d[a5], "np.einsum (third order)")
            + no_higher_derivative(d[a6], "np.einsum (third order)")
            + no_higher_derivative(d[a7], "np.einsum (third order)")
            + no_higher_derivative(d[a8], "np.einsum (third order)")
            + no_higher_derivative(d[a9], "np.einsum (third order)")
            + no_higher_derivative(d[a10], "np.einsum (third order)")
            + no_higher_derivative(d[a11], "np.einsum (third order)"))
