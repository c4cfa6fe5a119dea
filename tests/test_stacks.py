"""One stack per saved variable, typed where the value's type is known (issue 15, item 2).

The forward sweep pushes each saved variable onto its own stack (``stack_y``, ``shapes_h``,
``items_x``, ``stack_cond_1``); scalars the derivative knows to be floats go to ``Stack(float)``
(an ``array('d')``: 8 bytes a value), decisions to ``Stack(bool)``, trip counts and integer loop
variables to ``Stack(int)``. Every stack must be empty when the derivative returns (each pop undoes
its own pushes), and the gradients of loops, branches, breaks, ``while`` loops and kept calls are
checked against central differences in both modes and to second order (forward over reverse and
reverse over reverse, which differentiate the stack operations themselves)."""

import sys
import tracemalloc

import numpy as np
import pytest

import srcad
from srcad import runtime

from fd_points import numeric_grad, point


# ------------------------------------------------------------------ the stack classes

def test_stack_kinds():
    plain = runtime.Stack()
    assert type(plain) is runtime.Stack and isinstance(plain, list)
    plain.append(np.ones(2))
    plain.append(None)
    assert plain.pop() is None
    f = runtime.Stack(float)
    f.append(np.float64(0.25))
    f.append(1.5)
    assert f.pop() == 1.5 and type(f.pop()) is float and len(f) == 0
    i = runtime.Stack(int)
    i.append(7)
    i.append(np.int64(-3))
    assert i.pop() == -3 and i.pop() == 7
    b = runtime.Stack(bool)
    b.append(True)
    b.append(False)
    assert not b.pop() and b.pop()
    with pytest.raises(IndexError):
        b.pop()
    with pytest.raises(TypeError):
        f.append(np.ones(2))     # a typed stack refuses what it cannot hold exactly


def test_float_stack_costs_8_bytes_a_value():
    n = 10 ** 6
    typed = runtime.Stack(float)
    for v in np.linspace(0.0, 1.0, n):   # np.float64 objects, as the forward sweep pushes them
        typed.append(v)
    assert typed.itemsize * len(typed) == 8 * n
    assert sys.getsizeof(typed) < 8.2 * n
    # a list of np.float64 objects: a pointer and a 32-byte object each
    plain = list(np.linspace(0.0, 1.0, 1000))
    per_value = (sys.getsizeof(plain) + sum(sys.getsizeof(v) for v in plain)) / 1000
    assert per_value >= 40


def scalar_loop(x):
    y = x
    for i in range(100000):
        y = y * 0.5 + np.sin(y) * 0.5
    return y


def test_scalar_loop_tape_is_8_bytes_a_pass():
    """tracemalloc peak of the gradient of a 100,000-pass scalar loop: one float a pass, 8 bytes
    (a list of np.float64 objects took 40)."""
    g = srcad.grad(scalar_loop)
    g(0.3)     # generated once, outside the measurement
    tracemalloc.start()
    try:
        got = g(0.3)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 100000 * 8 * 1.3, peak
    ref = numeric_grad(scalar_loop, 0.3)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-9)


# ------------------------------------------------------------------ names and types in the source

def nested(x):
    s = 0.0
    for i in range(3):
        for j in range(4):
            if s > 1.0:
                s = s * x
            else:
                s = s + np.sin(x) * j
    return s


def test_one_named_typed_stack_per_saved_variable():
    src = srcad.source(srcad.grad(nested), 0.3)
    assert "stack_s = Stack(float)" in src
    assert "stack_cond_1 = Stack(bool)" in src
    # j, saved once per pass of the counted outer loop: a list indexed by i (buffers.py)
    assert "stack_j = [0] * 3" in src and "j = stack_j[i]" in src
    assert "stack_s.append(s)" in src and "s = stack_s.pop()" in src
    assert "stack = Stack()" not in src
    # ``j`` is pushed before the inner loop first assigns it: a typed placeholder, not None
    assert "j = 0\n" in src and "None" not in src


def rnn(Wx, Wh, X):
    h = np.zeros((X.shape[1], Wh.shape[0]))
    for t in range(X.shape[0]):
        h = np.tanh(np.dot(X[t], Wx) + np.dot(h, Wh))
    return np.sum(h * h)


def test_arrays_and_shapes_use_plain_stacks():
    rng = np.random.default_rng(0)
    args = rng.standard_normal((3, 4)) / 2, rng.standard_normal((4, 4)) / 3, rng.standard_normal((5, 2, 3))
    src = srcad.source(srcad.grad(rnn, wrt=(0, 1)), *args)
    assert "stack_h = Stack()" in src
    assert "Stack(float)" not in src


# ------------------------------------------------------------------ every stack ends empty

class _Watched(runtime.Stack):
    """Records every stack a derivative makes (typed ones are the real typed stacks)."""

    made = []

    def __new__(cls, typ=None):
        st = runtime.Stack(typ) if typ is not None else list.__new__(cls)
        _Watched.made.append(st)
        return st


def many_stacks(x, n):
    s = x * 1.0
    k = 0
    total = 0.0
    for i in range(n):
        t = s
        while t < 2.0:
            t = t * 1.3 + 0.1
            if t > 1.5:
                break
        k = k + 1
        if i % 2 == 0:
            s = np.sin(s) + t * 0.1
        else:
            s = s * np.cos(t)
        total = total + s * k
    return total


def vector_rows(x, w):
    v = x * 1.0
    for i in range(x.shape[0]):
        a = v[i]
        v[i] = np.sin(a) * w + v[i - 1]
        if v[i] > 0.5:
            v = v * 0.9
    return np.sum(v * v)


def walk(x, n):
    """Recursive: the call is kept (fwd_walk / bwd_walk pass their stacks in the tape)."""
    if n == 0:
        return x
    y = x
    for i in range(3):
        y = y * 0.9 + np.sin(y) * 0.1
    return walk(y, n - 1) * 1.1


def vector_while(x, c):
    """The chapter's kind of loop on an array (a data-dependent trip count), with a branch."""
    k = 0
    while np.sum(x) < c:
        if np.max(x) > 0.8:
            x = x * 1.5
        else:
            x = x + np.tanh(x)
        k += 1
    return np.sum(x * x) * k


CASES = [
    ("many_stacks", many_stacks, (0.4, 5), 0),
    ("many_stacks-1", many_stacks, (0.9, 4), 0),
    ("vector_rows-4", vector_rows, (point((4,), 2), 0.7), 0),
    ("vector_rows-w", vector_rows, (point((3,), 1), 0.4), 1),
    ("walk", walk, (0.6, 3), 0),
    ("nested", nested, (0.3,), 0),
    ("many_stacks_sum-3", lambda x: many_stacks_sum(x), (point((3,), 6),), 0),
    ("vector_while-3", vector_while, (point((3,), 7), 12.0), 0),
    ("vector_while-2x3", vector_while, (point((2, 3), 8), 30.0), 0),
]


@pytest.mark.parametrize("name, fn, args, w", CASES, ids=[c[0] for c in CASES])
def test_every_stack_ends_empty_and_gradients_agree(name, fn, args, w, monkeypatch):
    _Watched.made = []
    monkeypatch.setitem(runtime.RUNTIME_NAMES, "Stack", _Watched)
    srcad.clear_cache()
    try:
        got = srcad.grad(fn, wrt=w)(*args)
    finally:
        srcad.clear_cache()
    assert _Watched.made and all(len(st) == 0 for st in _Watched.made)

    def part(v):
        a = list(args)
        a[w] = v
        return fn(*a)
    ref = numeric_grad(part, args[w])
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-7)
    t = np.cos(1.0 + np.arange(np.size(args[w]))).reshape(np.shape(args[w]))
    t = float(t) if np.ndim(t) == 0 else t
    _, tangent = srcad.jvp(fn, wrt=w)(*args, t)
    np.testing.assert_allclose(tangent, np.sum(ref * t), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("mode", ["forward", "reverse"])
@pytest.mark.parametrize("shape", [(), (3,)], ids=str)
def test_second_order_through_typed_stacks(mode, shape):
    """Forward over reverse follows the pushes with tangent stacks; reverse over reverse pops an
    adjoint stack per pushed stack."""
    fn = nested if shape == () else many_stacks_sum
    x = point(shape, 5)
    H = srcad.hessian(fn, mode=mode)(x)
    g = srcad.grad(fn)
    ref = numeric_grad(lambda v: g(v), x, eps=1e-5) if shape == () else \
        np.stack([numeric_grad(lambda v, k=k: g(v)[k], x, eps=1e-5) for k in range(x.size)])
    np.testing.assert_allclose(np.reshape(H, np.shape(ref)), ref, rtol=1e-4, atol=1e-6)


def many_stacks_sum(x):
    s = 0.0
    for i in range(x.shape[0]):
        t = x[i]
        while t < 2.0:
            t = t * 1.3 + x[i - 1] * 0.1
            if t > 1.5:
                break
        s = s + np.sin(t) * s + t
    return s
