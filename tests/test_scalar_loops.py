"""Scalar and vector loops as short and fast as the careful hand-written gradient (issue 15).

Three transformations, each exact:

* shape classes through loops (ranks.py): a parameter whose every new value has its old shape
  (``x = 1.5 * x + np.sin(x)``) keeps its class, so ``unbroadcast`` and the shapes a loop would
  push for it disappear;
* copy propagation (optimize.propagate_copies): ``dmul_1 = dp`` read later is read as ``dp``;
* Python floats (floats.py): a scalar loop reads a float64 array's elements as Python floats
  where every use treats them as ``np.float64`` would.

Each is checked against central differences (float64) over several shapes, in both modes, and
the Python-float reads against the same derivative run without them, at 0, inf and nan too.
"""

import re
import warnings

import numpy as np
import pytest

import srcad
from fd_points import numeric_grad, point


def _fd(f, args, k, eps=1e-6):
    """Central differences of f (a number) w.r.t. argument k."""
    def fk(v):
        a = list(args)
        a[k] = v
        return f(*a)
    return numeric_grad(fk, args[k], eps)


# ------------------------------------------------------------------ shape classes through loops


def vec_while(x):
    while np.sum(x * x) < 50.0:
        x = x * 1.5 + np.sin(x)
    return np.sum(x)


def vec_for(x, w):
    for i in range(4):
        x = np.tanh(x * w) - 0.5 * x
    return np.sum(x * x)


@pytest.mark.parametrize("shape", [(), (3,), (2, 3)])
def test_loop_carried_shape_needs_no_unbroadcast(shape):
    x = point(shape, 1)
    g = srcad.grad(vec_while)
    src = srcad.source(g, x)
    assert "unbroadcast" not in src and "shapes_" not in src and "= None" not in src
    np.testing.assert_allclose(g(x), _fd(vec_while, (x,), 0), rtol=1e-6, atol=1e-8)
    # forward mode agrees
    t = np.ones_like(np.asarray(x, dtype=float))
    _, dv = srcad.jvp(vec_while, (x,), (t if shape else 1.0,))
    np.testing.assert_allclose(dv, np.sum(g(x)), rtol=1e-9)


@pytest.mark.parametrize("shapes", [((3,), ()), ((2, 3), ()), ((2, 3), (3,)), ((3,), (3,))])
def test_loop_with_a_broadcast_partner(shapes):
    x, w = point(shapes[0], 2), point(shapes[1], 3)
    g = srcad.grad(vec_for, wrt=(0, 1))
    src = srcad.source(g, x, w)
    dx, dw = g(x, w)
    np.testing.assert_allclose(dx, _fd(vec_for, (x, w), 0), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(dw, _fd(vec_for, (x, w), 1), rtol=1e-6, atol=1e-8)
    if shapes[1] == ():
        # a number w cannot broadcast x up: only w's own adjoint is summed
        assert src.count("unbroadcast(") == 1 and "unbroadcast(dmul_1 * x, w)" in src
    assert "only its shape is read" not in src    # the stand-in went, and its note with it


def shrinking(x):
    for i in range(2):
        x = x[1:] * 2.0 + np.sin(x[:-1])
    return np.sum(x)


def growing(x):
    y = x
    for i in range(3):
        y = y * x + np.ones((2, 1)) * x
    return np.sum(y)


@pytest.mark.parametrize("f", [shrinking, growing])
def test_a_loop_that_changes_shapes_keeps_its_broadcasting(f):
    x = point((4,), 4)
    g = srcad.grad(f)
    np.testing.assert_allclose(g(x), _fd(f, (x,), 0), rtol=1e-6, atol=1e-8)


# ------------------------------------------------------------------ copy propagation


def horner(x, c):
    p = 0.0
    for i in range(6):
        p = p * x + c[i]
    return p


def temps(x, y):
    for i in range(5):
        x = x - 0.1 * (x ** 3 - y) * np.sin(x)
    return x


def test_adjoint_copies_are_read_where_they_come_from():
    c = np.linspace(-1.0, 1.0, 6)
    g = srcad.grad(horner, wrt=(0, 1))
    src = srcad.source(g, 0.7, c)
    assert "dmul_1 =" not in src and "delt_1" not in src
    dx, dc = g(0.7, c)
    np.testing.assert_allclose(dx, _fd(horner, (0.7, c), 0), rtol=1e-7)
    np.testing.assert_allclose(dc, _fd(horner, (0.7, c), 1), rtol=1e-7, atol=1e-9)


def test_a_copy_whose_source_is_rebound_first_stays():
    # dx is rebound (dx = dx * cos(x)) before the copy of its old value is read
    src = srcad.source(srcad.grad(vec_while), np.ones(3))
    assert "dmul_1 = dx" in src


@pytest.mark.parametrize("point_", [(0.4, 0.3), (-0.8, 0.2), (1.1, -0.5)])
def test_several_temporaries(point_):
    g = srcad.grad(temps, wrt=(0, 1))
    dx, dy = g(*point_)
    np.testing.assert_allclose(dx, _fd(temps, point_, 0), rtol=1e-6)
    np.testing.assert_allclose(dy, _fd(temps, point_, 1), rtol=1e-6)


# ------------------------------------------------------------------ Python floats


class Plain(np.ndarray):
    """An ndarray subclass: ``float_items`` leaves it alone, so the same generated code runs with
    NumPy scalars (the semantics before the conversion)."""


def _unconverted(c):
    return np.asarray(c).view(Plain)


def _same(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    assert a.shape == b.shape
    np.testing.assert_array_equal(a, b)   # nan where nan, inf where inf, bits otherwise


def test_horner_reads_python_floats():
    g = srcad.grad(horner, wrt=(0, 1))
    src = srcad.source(g, 0.7, np.ones(6))
    assert "c_items = float_list(c, dout, x)" in src and " c_items[i]" in src
    # each dc[i] added into once, while it is zero (floats._written_once)
    assert "dc_items = float_items(dc, dout, x)" in src and "dc_items[i] = 0.0 + dp" in src


EDGES = [0.0, -0.0, 1e308, -np.inf, np.inf, np.nan, 0.5]


@pytest.mark.parametrize("x", EDGES)
@pytest.mark.parametrize("c0", [0.0, np.inf, np.nan, 1e308])
def test_converted_and_unconverted_agree(x, c0):
    c = np.array([c0, 1.5, -2.0, 0.0, 3.0, 1e-300])
    g = srcad.grad(horner, wrt=(0, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = g(x, c)
        ref = g(x, _unconverted(c))
    _same(got[0], ref[0])
    _same(got[1], ref[1])


def divides(x, c):
    p = 1.0
    for i in range(4):
        p = p * x + c[i]
    return 1.0 / p


def powers(x, c):
    p = 0.0
    for i in range(4):
        p = p + c[i] ** 2 * x
    return p


def floor_mod(x, c):
    p = 0.0
    for i in range(4):
        p = p + (c[i] % 2.0) * x
    return p


def kept_decision(x, c):
    p = 0.0
    for i in range(4):
        b = c[i] > 0.5
        p = p + b * x
    return p


def shaped(x, c):
    p = 0.0
    for i in range(4):
        e = c[i]
        p = p + x * np.ones(e.shape)
    return np.sum(p)


def decided(x, c):
    p = 0.0
    for i in range(4):
        if c[i] > 0.5:
            p = p + x * c[i]
        else:
            p = p - x
    return p


@pytest.mark.parametrize("f", [divides, powers, floor_mod, kept_decision, shaped])
def test_elements_reaching_other_operations_stay_numpy_scalars(f):
    c = np.array([0.0, 0.7, 1.5, 2.5])
    g = srcad.grad(f, wrt=(0, 1))
    src = srcad.source(g, 0.6, c)
    assert not re.search(r"\bc_items\[", src)   # (the adjoint dc may be added to through a float view)
    dx, dc = g(0.6, c)
    np.testing.assert_allclose(dx, _fd(f, (0.6, c), 0), rtol=1e-6, atol=1e-8)


def test_division_by_a_zero_element_is_numpys():
    # p reaches 1.0 / p: no conversion, so p = 0 gives inf (with NumPy's warning), not an exception
    c = np.array([-1.0, 0.0, 0.0, 0.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dx, dc = srcad.grad(divides, wrt=(0, 1))(1.0, c)
    assert not np.isfinite(dx)


def test_decisions_take_python_floats():
    c = np.array([0.0, 0.7, 1.5, 2.5])
    g = srcad.grad(decided, wrt=(0, 1))
    assert "float_items" in srcad.source(g, 0.6, c)
    dx, dc = g(0.6, c)
    np.testing.assert_allclose(dx, _fd(decided, (0.6, c), 0), rtol=1e-7)
    np.testing.assert_allclose(dc, _fd(decided, (0.6, c), 1), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.float16])
def test_other_dtypes_keep_numpy_scalars(dtype):
    c = np.array([1.0, -2.0, 3.0, 0.5, 1.0, 2.0]).astype(dtype)
    from srcad import runtime
    assert runtime.float_items(c) is c
    g = srcad.grad(horner, wrt=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _same(g(0.7, c), g(0.7, _unconverted(c)))


def test_a_float32_point_keeps_numpy_promotion():
    from srcad import runtime
    c = np.linspace(0.1, 0.9, 6)
    x = np.float32(0.7)
    assert runtime.float_items(c, x) is c          # x * p would be float32 against a Python float
    assert isinstance(runtime.float_items(c, 0.7), memoryview)
    g = srcad.grad(horner, wrt=(0, 1))
    for a, b in zip(g(x, c), g(x, _unconverted(c))):
        _same(a, b)


def test_value_and_grad_keeps_the_value_type():
    c = np.linspace(0.1, 0.9, 6)
    vg = srcad.value_and_grad(horner, wrt=(0, 1))
    assert not re.search(r"\bc_items\[", srcad.source(vg, 0.7, c))
    v, _ = vg(0.7, c)
    assert type(v) is np.float64


def test_second_order_through_python_floats():
    c = np.linspace(-1.0, 1.0, 6)
    h = srcad.hessian(horner, wrt=0)(0.7, c)
    dg = numeric_grad(lambda v: srcad.grad(horner, wrt=0)(float(v), c), 0.7)
    np.testing.assert_allclose(h, dg, rtol=1e-6)
    # reverse over reverse: d/dc of dp/dx
    gg = srcad.grad(lambda x, c: srcad.grad(horner, wrt=0)(x, c), wrt=1)(0.7, c)
    np.testing.assert_allclose(gg, numeric_grad(lambda v: srcad.grad(horner, wrt=0)(0.7, v), c),
                               rtol=1e-6, atol=1e-8)


# ------------------------------------------------------------------ shapes the same in every pass


def rnn(Wx, Wh, b, X):
    h = np.zeros((X.shape[1], Wh.shape[0]))
    for t in range(X.shape[0]):
        h = np.tanh(X[t] @ Wx + h @ Wh + b)
    return np.sum(h * h)


def test_a_shape_the_same_in_every_pass_is_not_pushed():
    r = np.random.default_rng(5)
    args = [r.normal(size=(3, 4)) * 0.5, r.normal(size=(4, 4)) * 0.5, r.normal(size=4) * 0.1,
            r.normal(size=(3, 2, 3))]
    from srcad import patterns, pipeline
    patterns.enabled = False    # the generic rules (srcad/patterns.py makes the cell one call: no shapes)
    pipeline.clear_cache()
    try:
        g = srcad.grad(rnn, wrt=(0, 1, 2, 3))
        src = srcad.source(g, *args)
        assert "shapes_matmul_1" not in src and "matmul_1 = None" not in src   # X[t] @ Wx: always (2, 4)
        assert "shapes_matmul_2" in src      # h @ Wh: h's first value is the zeros made before the loop
        for k, d in enumerate(g(*args)):
            np.testing.assert_allclose(d, _fd(rnn, args, k), rtol=1e-6, atol=1e-8)
    finally:
        patterns.enabled = True
        pipeline.clear_cache()
    g = srcad.grad(rnn, wrt=(0, 1, 2, 3))
    assert "shapes_" not in srcad.source(g, *args)
    for k, d in enumerate(g(*args)):
        np.testing.assert_allclose(d, _fd(rnn, args, k), rtol=1e-6, atol=1e-8)


def varying(x, w):
    s = 0.0
    for t in range(3):
        a = x[t:] * w
        s = s + np.sum(a * x[t:])
    return s


def test_a_shape_that_changes_between_passes_is_pushed():
    x, w = point((4,), 6), point((), 7)
    g = srcad.grad(varying, wrt=(0, 1))
    dx, dw = g(x, w)
    np.testing.assert_allclose(dx, _fd(varying, (x, w), 0), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(dw, _fd(varying, (x, w), 1), rtol=1e-6, atol=1e-8)
