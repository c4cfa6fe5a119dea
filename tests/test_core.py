"""Straight-line constructs and the core rules, against central finite differences."""

import math

import numpy as np
import pytest

import srcad

SHAPES = {"scalar": (), "vector": (4,), "matrix": (3, 4)}
W = np.linspace(-1.0, 1.0, 4)       # a global read by functions below
OFFSET = 0.5


def make_closure():
    scale = 1.5

    def f(x):
        return np.sum(x * scale)
    return f


def helper(a, b):
    return a * b + np.sin(a)


def twice(u):
    return helper(u, u) + helper(u, 2.0)


# Each case: a function of x (float array or scalar) returning a scalar or array.
def c_arith(x):
    y = x * 2.0 + 1 - x / 3.0
    z = -y ** 2 + abs(x) * 0.5
    return np.sum(z)


def c_intfloat(x):
    return np.sum(2 * x + 3 - x * 1)


def c_pow(x):
    return np.sum(x ** 3 + (x * x) ** 0.5)


def c_aug(x):
    y = x * 1.0
    y += x * 2
    y *= x
    y -= 1.0
    y /= 3.0
    return np.sum(y)


def c_tuple(x):
    a, b = x * 2, x + 1
    a, b = b, a
    t = (a, b)
    c, d = t
    return np.sum(c * d)


def c_funcs(x):
    return np.sum(np.exp(x) + np.log(x * x + 1) + np.sin(x) * np.cos(x) + np.tanh(x) + np.sqrt(x * x + 1))


def c_maximum(x):
    return np.sum(np.maximum(x, 0.1) + np.maximum(0.2, x * x))


def c_global(x):
    return np.sum(x * OFFSET + np.sum(W))


def c_methods(x):
    return x.sum() * 2 + np.mean(x * x)


def c_reshape(x):
    y = np.reshape(x, (-1,))
    z = y.reshape(2, -1)
    return np.sum(z * z)


def c_transpose(x):
    return np.sum(x.T * np.transpose(x).T.T)


def c_calls(x):
    return np.sum(twice(x) + helper(x, x))


def c_default(x, k=3.0):
    return np.sum(x * k)


def c_norm(x):
    return np.linalg.norm(x) + np.linalg.norm(x * 2) ** 2


def c_subscript(x):
    i = 1
    if x.ndim == 1:
        return x[0] * x[1] + np.sum(x[1:3]) + x[i] * x[-1]
    return np.sum(x[0] * x[1]) + np.sum(x[:, 0]) + np.sum(x[1:3, i])


def c_vector_out(x):
    return x * x


STRAIGHT = [c_arith, c_intfloat, c_pow, c_aug, c_tuple, c_funcs, c_maximum, c_global, c_methods,
            c_calls, c_default, c_norm, c_vector_out]


def _input(shape, rng):
    return rng.uniform(0.3, 1.5, size=shape) * rng.choice([-1.0, 1.0], size=shape) if shape else 0.7


@pytest.mark.parametrize("shape", list(SHAPES.values()), ids=list(SHAPES))
@pytest.mark.parametrize("fn", STRAIGHT, ids=lambda f: f.__name__)
def test_straight_line(fn, shape, rng):
    x = _input(shape, rng)
    if fn in (c_funcs,):
        x = np.abs(x) if shape else 0.7
    if not shape and fn is c_methods:
        x = np.float64(x)
    srcad.check_grad(fn, x)


@pytest.mark.parametrize("fn", [c_reshape, c_transpose, c_subscript], ids=lambda f: f.__name__)
@pytest.mark.parametrize("shape", [(4,), (4, 4), (6, 4)])
def test_shapes_and_subscripts(fn, shape, rng):
    srcad.check_grad(fn, rng.normal(size=shape))


def test_closure_variable():
    f = make_closure()
    x = np.arange(3.0)
    np.testing.assert_allclose(srcad.grad(f)(x), np.full(3, 1.5))


def test_chapter_first_cases():
    def f(x):
        return 2 * np.dot(x, x)
    x = np.arange(4.0)
    np.testing.assert_array_equal(srcad.grad(f)(x), 4 * x)
    np.testing.assert_array_equal(srcad.grad(lambda x: x.sum())(x), np.ones(4))
    np.testing.assert_array_equal(srcad.grad(lambda x: x * x)(x), 2 * x)


def test_lambdas_two_on_a_line():
    a, b = (lambda x: x * 2), (lambda x: x ** 3)
    assert srcad.grad(a)(3.0) == 2.0
    assert srcad.grad(b)(2.0) == 12.0
    assert srcad.grad(lambda x: x ** 3)(2.0) == 12.0


@pytest.mark.parametrize("xs,ys", [((), ()), ((3,), (3,)), ((3, 1), (4,)), ((2, 3), ()), ((), (2, 3)),
                                   ((1, 3), (2, 1))])
@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "pow", "max"])
def test_broadcasting_binary(op, xs, ys, rng):
    def f(x, y):
        if op == "add":
            return x + y
        if op == "sub":
            return x - y
        if op == "mul":
            return x * y
        if op == "div":
            return x / y
        if op == "pow":
            return x ** y
        return np.maximum(x, y)
    x = rng.uniform(0.5, 2.0, size=xs) if xs else 1.3
    y = rng.uniform(0.5, 2.0, size=ys) if ys else 0.8
    srcad.check_grad(f, x, y, wrt=(0, 1))
    g = srcad.grad(f, wrt=(0, 1))(x, y)
    assert np.shape(g[0]) == np.shape(x) and np.shape(g[1]) == np.shape(y)


@pytest.mark.parametrize("a,b", [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 2)), ((2, 3), (3, 4)),
                                 ((5, 2, 3), (3, 4)), ((5, 2, 3), (5, 3, 4))])
def test_matmul_and_dot(a, b, rng):
    A, B = rng.normal(size=a), rng.normal(size=b)

    def mm(x, y):
        return np.sum(np.tanh(x @ y))

    def md(x, y):
        return np.sum(np.tanh(np.dot(x, y)))

    srcad.check_grad(mm, A, B, wrt=(0, 1))
    if len(b) <= 2:
        srcad.check_grad(md, A, B, wrt=(0, 1))


@pytest.mark.parametrize("axis,keepdims", [(None, False), (0, False), (1, True), ((0, 1), False), (-1, False)])
def test_reductions_axis(axis, keepdims, rng):
    def f(x):
        s = np.sum(x * x, axis=axis, keepdims=keepdims)
        m = x.mean(axis=axis, keepdims=keepdims)
        return np.sum(s * m)
    srcad.check_grad(f, rng.normal(size=(3, 4)))


def test_norm_axis(rng):
    def f(x):
        return np.sum(np.linalg.norm(x, axis=1)) + np.sum(np.linalg.norm(x, axis=0, keepdims=True) ** 2)
    srcad.check_grad(f, rng.normal(size=(3, 4)))


def test_wrt_and_keywords(rng):
    def f(x, y, scale=1.0):
        return np.sum(x * y) * scale
    x, y = rng.normal(size=3), rng.normal(size=3)
    np.testing.assert_allclose(srcad.grad(f)(x, y, scale=2.0), 2 * y)
    gx, gy = srcad.grad(f, wrt=(0, 1))(x, y)
    np.testing.assert_allclose(gx, y)
    np.testing.assert_allclose(gy, x)
    gy1 = srcad.grad(f, wrt=1)(x, y)
    np.testing.assert_allclose(gy1, x)


def test_decorator_forms(rng):
    @srcad.grad
    def f(x):
        return np.sum(x ** 2)

    @srcad.grad(wrt=(0, 1))
    def g(x, y):
        return np.sum(x * y)

    x = rng.normal(size=3)
    np.testing.assert_allclose(f(x), 2 * x)
    np.testing.assert_allclose(g(x, 2 * x)[1], x)


def test_value_and_grad_and_vjp(rng):
    def f(x):
        return np.sin(x) * 2
    x = rng.normal(size=4)
    v, g = srcad.value_and_grad(f)(x)
    np.testing.assert_allclose(v, np.sin(x) * 2)
    np.testing.assert_allclose(g, 2 * np.cos(x))
    v, pullback = srcad.vjp(f)(x)
    u = rng.normal(size=4)
    np.testing.assert_allclose(pullback(u), 2 * np.cos(x) * u)
    np.testing.assert_allclose(pullback(np.ones(4)), 2 * np.cos(x))


def test_repeat_calls_same_result(rng):
    def f(x):
        return np.sum(np.exp(x) * x)
    df = srcad.grad(f)
    x = rng.normal(size=5)
    first = df(x)
    second = df(x)
    np.testing.assert_array_equal(first, second)


def test_aliased_inplace_update_refused_only_when_the_alias_is_read_later():
    def f(x):
        y = x
        y += 1.0
        return np.sum(y * y)

    def g(x):
        y = x
        y += 1.0
        return np.sum(x * y)
    x = np.ones(3)
    np.testing.assert_allclose(srcad.grad(f)(x), 2 * (x + 1))
    with pytest.raises(srcad.TransformError, match="in-place update of `y`, which shares memory with `x`"):
        srcad.grad(g)(x)


def test_inputs_not_mutated(rng):
    def f(x):
        y = x * 1.0
        y += 1.0
        x[0] = 5.0 * y[1]
        return np.sum(x * y)
    x = rng.normal(size=4)
    keep = x.copy()
    srcad.grad(f)(x)
    np.testing.assert_array_equal(x, keep)


def test_gradient_is_fresh_array(rng):
    def f(x):
        return np.sum(x)
    x = rng.normal(size=3)
    g = srcad.grad(f)(x)
    g += 1  # writable, and not a view of anything the user owns
    np.testing.assert_array_equal(x, x)


def test_int_input_cast(rng):
    def f(x):
        return np.sum(x * x)
    np.testing.assert_allclose(srcad.grad(f)(np.arange(3)), [0.0, 2.0, 4.0])
    assert srcad.grad(lambda x: x * x)(3) == 6.0


def test_cache_and_source_compiles():
    def f(x):
        return np.sum(np.tanh(x) * x)
    df = srcad.grad(f)
    src = srcad.source(df)
    assert src.startswith("def grad_f(x, *, dout=1.0):")
    compile(src, "<test>", "exec")
    assert srcad.source(srcad.grad(f)) == src
    assert "dx" in src and "# line" in src


def test_tracebacks_show_generated_lines():
    import traceback

    def f(x):
        y = x * 2
        return y / (x - x)

    try:
        srcad.grad(f)(1.0)
    except ZeroDivisionError:
        text = traceback.format_exc()
    assert "<srcad grad_f of" in text
    assert "/ sub_1" in text    # the generated line's text is shown


def test_stages_can_be_printed():
    from srcad import pipeline

    def f(x):
        if x > 0:
            return x * 2
        return -x
    stages = {}
    pipeline.reverse_derivative(f, (0,), "grad", stages=stages)
    assert set(stages) >= {"normalize", "restructure"}


class _Model:
    def __init__(self):
        self.w = 2.0

    def loss(self, x):
        return np.sum(x * x) * self.w


def test_bound_methods_are_differentiated_with_their_object():
    m = _Model()
    x = np.array([1.0, -2.0, 0.5])
    np.testing.assert_allclose(srcad.grad(m.loss)(x), 4 * x)
    v, g = srcad.value_and_grad(m.loss)(x)
    assert v == m.loss(x)
    np.testing.assert_allclose(srcad.vjp(m.loss)(x)[1](1.0), 4 * x)
    np.testing.assert_allclose(srcad.hessian(m.loss)(x), 4 * np.eye(3))
    np.testing.assert_allclose(srcad.grad(_Model.loss, wrt=1)(m, x), 4 * x)
    value, tangent = srcad.jvp(m.loss, (x,), (np.ones(3),))
    assert value == m.loss(x) and np.isclose(tangent, np.sum(4 * x))


def scalar_math(x, y):
    return math.sin(x) * math.exp(y) + math.sqrt(x * x + 1) + math.atan2(y, x) + math.pow(x, 3) \
        + math.floor(x)


def test_math_module_functions():
    srcad.check_grad(scalar_math, 0.7, -0.3, wrt=(0, 1))
    value, tangent = srcad.jvp(scalar_math, (0.7, -0.3), (1.0, 0.0))
    assert np.isclose(tangent, srcad.grad(scalar_math)(0.7, -0.3))
