"""Rules for the runtime helpers that generated code calls, so it can be differentiated again."""

import numpy as np

from srcad import runtime as rt
from srcad.rules.registry import forward, nondiff, reverse
from srcad.runtime import broadcast_like, reduce_like, unbroadcast, unreduce


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
    d[y] = rt.grad_like(d[dx], x)


nondiff(rt.zeros_like, rt.count, rt.Stack, rt.is_training, why="no derivative")
