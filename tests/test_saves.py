"""What reverse mode records (issue 15, items 1-4): values kept, evaluated again or pushed as a shape
instead of pushed, decisions not recorded where both backward branches are the same, adjoints made
private once per loop instead of once per pass, subscript adjoints in place. Every function is also
checked against central differences (both modes, several shapes) and to second order where it has
arrays: fewer pushes must never mean a wrong gradient."""

import sys

import numpy as np
import pytest

import srcad
from srcad import runtime

from fd_points import numeric_grad
from test_second_order import second_order


class _Tape(runtime.Stack):
    """A stack that keeps what was pushed (with the stack's type) for the tests to count. A typed
    stack (``Stack(float)``) is counted as the ``array.array`` it stands for would hold it."""

    instances = []

    def __new__(cls, typ=None):
        return list.__new__(cls)

    def __init__(self, typ=None):
        super().__init__()
        self.typ = typ
        self.pushed = []
        _Tape.instances.append(self)

    def append(self, v):
        if self.typ is not None:
            typed = runtime.Stack(self.typ)
            typed.append(v)      # what the typed stack would keep (and refuse)
            v = typed.pop()
        super().append(v)
        self.pushed.append(v)


def _pushed(fn, *args, wrt=0, monkeypatch):
    _Tape.instances = []
    monkeypatch.setitem(runtime.RUNTIME_NAMES, "Stack", _Tape)
    srcad.clear_cache()
    try:
        srcad.grad(fn, wrt=wrt)(*args)
    finally:
        srcad.clear_cache()
    return [v for s in _Tape.instances for v in s.pushed]


def _bytes(values):
    """Bytes a list of pushed values costs: a pointer each, and the object unless it is shared."""
    return sum(8 + (sys.getsizeof(v) if not isinstance(v, np.ndarray) else v.nbytes + 112) for v in values)


def _tape_bytes():
    """Bytes the stacks of the last ``_pushed`` hold: 8 a float or int of a typed stack, 1 a
    decision, and what ``_bytes`` counts for a plain one."""
    size = {float: 8, int: 8, bool: 1}
    return sum(len(s.pushed) * size[s.typ] if s.typ is not None else _bytes(s.pushed) for s in _Tape.instances)


def _check(fn, args, wrt):
    """srcad's gradient and forward mode against central differences, argument by argument."""
    g = srcad.grad(fn, wrt=wrt)(*args)
    g = g if isinstance(wrt, tuple) else (g,)
    for w, got in zip(wrt if isinstance(wrt, tuple) else (wrt,), g):
        def part(v, w=w):
            a = list(args)
            a[w] = v
            return fn(*a)
        ref = numeric_grad(part, args[w])
        np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-7)
        t = np.cos(1.0 + np.arange(np.size(args[w]))).reshape(np.shape(args[w]))
        t = float(t) if np.ndim(args[w]) == 0 else t
        _, tangent = srcad.jvp(fn, wrt=w)(*args, t)
        np.testing.assert_allclose(tangent, np.sum(ref * t), rtol=1e-6, atol=1e-7)


# ------------------------------------------------------------------ scalar temporaries

def scalar_temps(x, y):
    for i in range(200):
        x = x - 0.01 * (x ** 3 - y) * np.sin(x)
    return x


def test_scalar_temporaries_are_evaluated_again_not_pushed(monkeypatch):
    pushed = _pushed(scalar_temps, 0.6, 0.3, wrt=(0, 1), monkeypatch=monkeypatch)
    # x and sin(x) per pass (was x, sin(x) and 0.01 * (x**3 - y)): the scalar arithmetic is
    # evaluated again from the restored x
    assert len(pushed) == 400
    src = srcad.source(srcad.grad(scalar_temps, wrt=(0, 1)), 0.6, 0.3)
    assert "append(mul_2)" not in src and "mul_2 = None" not in src
    _check(scalar_temps, [0.6, 0.3], (0, 1))


def invariant_in_loop(x, w):
    h = 0.1
    for i in range(100):
        a = x * w
        b = np.sin(a)
        c = 0.5 * h        # the same in every pass
        x = x + c * b * a
    return x


def test_loop_invariant_value_is_not_pushed(monkeypatch):
    src = srcad.source(srcad.grad(invariant_in_loop, wrt=(0, 1)), 0.4, 0.7)
    assert "append(c)" not in src and "c = None" not in src
    # a = x * w is evaluated again (x is restored anyway), b = sin(a) and x are pushed
    assert "append(a)" not in src
    assert len(_pushed(invariant_in_loop, 0.4, 0.7, wrt=(0, 1), monkeypatch=monkeypatch)) == 200
    _check(invariant_in_loop, [0.4, 0.7], (0, 1))


def invariant_array(x, h):
    s = x * 1.0
    for i in range(5):
        c = h * 0.5        # an array, the same in every pass
        s = np.sin(s) * c
    return np.sum(s)


@pytest.mark.parametrize("shape", [(), (3,), (2, 3)])
def test_loop_invariant_array_is_not_pushed(shape, monkeypatch):
    x = np.full(shape, 0.4) + 0.1 * np.arange(np.size(np.zeros(shape))).reshape(shape)
    h = np.full(shape, 0.9)
    if shape == ():
        x, h = float(x), float(h)
    src = srcad.source(srcad.grad(invariant_array, wrt=(0, 1)), x, h)
    assert "append(c)" not in src
    _check(invariant_array, [x, h], (0, 1))


# ------------------------------------------------------------------ x[i] of an unwritten array

def write_rows(x):
    n = x.shape[0]
    out = np.zeros(n)
    for i in range(n):
        out[i] = np.sin(x[i]) * x[i]
    return np.sum(out * out)


@pytest.mark.parametrize("n", [1, 3, 7])
def test_unwritten_array_element_is_read_again(n, monkeypatch):
    x = np.linspace(0.2, 0.9, n)
    src = srcad.source(srcad.grad(write_rows), x)
    assert "append(elt_" not in src and "elt_1 = None" not in src
    # out[i] = ...: the adjoint of out is made private once, before the loop, not in every pass
    body = src.split("for i in reversed")[1]
    assert "copy_adjoint" not in body
    _check(write_rows, [x], 0)
    got, ref = second_order(write_rows, [x], 0, "hessian")
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)


def write_matrix_rows(x, w):
    out = np.zeros((x.shape[0], w.shape[0]))
    for i in range(x.shape[0]):
        out[i] = np.tanh(x[i] * w)       # a row, broadcast: x[i] is a scalar, w a vector
    return np.sum(out)


def test_private_adjoint_copied_once_per_loop(monkeypatch):
    calls = []
    real = runtime.copy_adjoint

    def counting(d):
        calls.append(np.size(d))
        return real(d)
    monkeypatch.setitem(runtime.RUNTIME_NAMES, "copy_adjoint", counting)
    srcad.clear_cache()
    try:
        x, w = np.linspace(0.1, 0.9, 40), np.array([0.3, -0.5, 0.8])
        srcad.grad(write_matrix_rows, wrt=(0, 1))(x, w)
    finally:
        srcad.clear_cache()
    assert len(calls) <= 1     # was one per pass (40 copies of a 40 x 3 array)
    _check(write_matrix_rows, [np.linspace(0.1, 0.9, 4), np.array([0.3, -0.5, 0.8])], (0, 1))


# ------------------------------------------------------------------ subscript adjoints in place

def horner(x, c):
    p = 0.0
    for i in range(c.shape[0]):
        p = p * x + c[i]
    return p


def test_subscript_adjoint_in_place(monkeypatch):
    c = np.array([0.3, -1.2, 0.7, 2.0, 0.5])
    src = srcad.source(srcad.grad(horner, wrt=(0, 1)), 0.8, c)
    # in place, through a float view of dc (floats.py: float arithmetic is faster than NumPy scalars')
    # (each dc[i] is added into once, while it is zero: ``dc_items[i] = 0.0 + dp``, floats.py)
    assert "dc_items[i] = 0.0 + " in src and "add_at" not in src
    # one value per pass: p (the coefficient c[i] is read again where needed, or not at all), in a
    # list indexed by i (buffers.py: the loop's count is known before it runs), no stack
    assert src.count("[0.0] * c.shape[0]") == 1 and "stack_p[i] = p" in src and "Stack" not in src
    # (the counting stand-in for Stack is not srcad's own class: buffers.py leaves its stack alone)
    assert len(_pushed(horner, 0.8, c, wrt=(0, 1), monkeypatch=monkeypatch)) == 5
    _check(horner, [0.8, c], (0, 1))


def rows_read_twice(x):
    s = 0.0
    for i in range(x.shape[0]):
        s = s + np.sum(x[i] * x[i]) * s + np.sum(np.sin(x[i]))
    return s


@pytest.mark.parametrize("shape", [(3,), (2, 3), (4, 1)])
def test_subscript_adjoint_in_place_shapes(shape):
    x = (0.2 + 0.1 * np.arange(np.prod(shape))).reshape(shape)
    _check(rows_read_twice, [x], 0)
    got, ref = second_order(rows_read_twice, [x], 0, "hessian")
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ decisions

def same_backward_branches(x):
    s = 0.0
    k = 0.0
    for i in range(10):
        if x > 0.5:
            k = 1.0
        else:
            k = 2.0
        s = s + x * k
    return s


def test_decision_not_recorded_when_both_backward_branches_are_the_same(monkeypatch):
    for x in (0.3, 0.8):
        pushed = _pushed(same_backward_branches, x, monkeypatch=monkeypatch)
        assert len(pushed) == 10 and not any(s.typ is bool for s in _Tape.instances)
        _check(same_backward_branches, [x], 0)


def different_backward_branches(x):
    s = 0.0
    for i in range(6):
        if s > 1.0:
            s = s * x
        else:
            s = s + x
    return s


def test_decision_still_recorded_when_branches_differ(monkeypatch):
    _pushed(different_backward_branches, 0.7, monkeypatch=monkeypatch)
    assert sum(len(s.pushed) for s in _Tape.instances if s.typ is bool) == 6
    _check(different_backward_branches, [0.7], 0)


# ------------------------------------------------------------------ values read for their shape

def rnn(Wx, Wh, X):
    h = np.zeros((X.shape[1], Wh.shape[0]))
    for t in range(X.shape[0]):
        h = np.tanh(np.dot(X[t], Wx) + np.dot(h, Wh))
    return np.sum(h * h)


def test_value_read_only_for_its_shape_pushes_its_shape(monkeypatch):
    rng = np.random.default_rng(0)
    Wx, Wh, X = rng.standard_normal((3, 4)) / 2, rng.standard_normal((4, 4)) / 3, rng.standard_normal((6, 2, 3))
    _check(rnn, [Wx, Wh, X], (0, 1))
    got, ref = second_order(rnn, [Wx, Wh, X], 1, "hessian")
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)
    pushed = _pushed(rnn, Wx, Wh, X, wrt=(0, 1), monkeypatch=monkeypatch)
    arrays = [v for v in pushed if isinstance(v, np.ndarray)]
    assert len(arrays) == 6          # h, once per step; the products only as shapes
    assert all(isinstance(v, runtime.Shape) for v in pushed if not isinstance(v, np.ndarray))


def test_shape_stand_in():
    s = runtime.shape_of(np.zeros((2, 3)))
    assert s.shape == (2, 3) and s.ndim == 2
    assert runtime.shape_of(1.5).shape == ()
    g = np.ones((4, 2, 3))
    np.testing.assert_array_equal(runtime.unbroadcast(g, runtime.shape_of(np.zeros((2, 1)))),
                                  runtime.unbroadcast(g, np.zeros((2, 1))))


# ------------------------------------------------------------------ tape bytes per iteration

def test_tape_bytes_per_iteration(monkeypatch):
    """Tape bytes per pass of the 200-step scalar loop, against a hand-written gradient's (which
    keeps x per pass in a list of floats): printed, and bounded by what srcad records today."""
    _pushed(scalar_temps, 0.6, 0.3, wrt=(0, 1), monkeypatch=monkeypatch)
    per_pass = _tape_bytes() / 200
    hand = _bytes([0.6] * 200) / 200
    print(f"tape bytes per pass: srcad {per_pass:.0f}, hand {hand:.0f}")
    # sin(x) goes to a typed stack; x to a plain one: the backward sweep evaluates ``x ** 3``,
    # which raises OverflowError on a Python float where the function's np.float64 gives inf
    # (tests/test_floats_exact.py)
    assert sorted(str(s.typ) for s in _Tape.instances) == ["<class 'float'>", "None"]
    assert 8 + _bytes([0.6]) <= per_pass <= 8 + _bytes([np.float64(0.6)])   # (the first x is the float argument); was three objects of 32 bytes and their pointers
