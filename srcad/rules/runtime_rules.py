"""Rules for the runtime helpers that generated code calls, so it can be differentiated again."""

import numpy as np

from srcad import runtime as rt
from srcad.rules.registry import forward, nondiff, reverse
from srcad.runtime import broadcast_like, list_head, reduce_like, unbroadcast, unreduce
from srcad.runtime import (appended, loop_seq_adjoint, loop_seq_tangent, seq_fold, seq_part, seq_placed, seq_repeated,
                           seq_scaled, seq_times)
from srcad.runtime import (add_at, copy_adjoint, dot_adjoint_a, dot_adjoint_b, grad_like, matmul_adjoint_a,
                           matmul_adjoint_b, norm_adjoint, norm_adjoint_dx, norm_adjoint_dy, owned_copy,
                           owned_tangent, pop_at, tuple_get)


@reverse(rt.unbroadcast)
def unbroadcast_(y, g, x):
    d[g] = broadcast_like(d[y], g)


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
    d[g] = np.reshape(reduce_like(d[y], x, axis, keepdims), np.shape(g))


@forward(rt.unreduce)
def unreduce_(y, g, x, axis=None, keepdims=False):
    d[y] = unreduce(d[g], x, axis, keepdims)


@reverse(rt.seed)
def seed_(y, d_, y_):
    d[d_] = unbroadcast(d[y], d_)


@forward(rt.seed)
def seed_(y, d_, y_):
    d[y] = d[d_] * np.ones_like(y)


@reverse(rt.grad_like)
def grad_like_(y, dx, x):
    d[dx] = unbroadcast(d[y], dx)


@forward(rt.grad_like)
def grad_like_(y, dx, x):
    d[y] = grad_like(d[dx], x)


nondiff(rt.zeros_like, rt.count, rt.Stack, rt.is_training, rt.check_output, why="no derivative")


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


@forward(rt.norm_adjoint)
def norm_adjoint_(r, g, x, y, ord=None, axis=None, keepdims=False):
    d[r] = (norm_adjoint(d[g], x, y, ord, axis, keepdims) + norm_adjoint_dx(g, x, y, d[x], ord, axis, keepdims)
            + norm_adjoint_dy(g, x, y, d[y], ord, axis, keepdims))


# norm_adjoint's weights are elementwise in x (their x-derivative is diagonal, so
# norm_adjoint_dx is its own transpose); reverse over reverse (grad of grad) uses that.
@reverse(rt.norm_adjoint)
def norm_adjoint_(r, g, x, y, ord=None, axis=None, keepdims=False):
    d[g] = np.reshape(rt.norm_tangent(d[r], x, y, ord, axis, keepdims), np.shape(g))
    d[x] = norm_adjoint_dx(g, x, y, d[r], ord, axis, keepdims)
    d[y] = rt.norm_adjoint_dy_adjoint(g, x, y, d[r], ord, axis, keepdims)


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
    d[g] = seq_placed(d[y], a, b, first)


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


@reverse(rt.copy_adjoint)
def copy_adjoint_(y, g):
    d[g] = d[y]
