"""Forward and reverse mode accept the same constructs (issue 12): one table of constructs, each
run through ``grad`` and ``jvp`` and checked against central differences; a construct one mode
refuses, the other must refuse too (today neither refuses any of these)."""

import dataclasses
import functools
import logging

import numpy as np
import pytest

import srcad
from fd_points import numeric_grad

SCALE = np.array([0.5, -1.0, 1.5, 2.0])
GLOBAL_ACT = np.tanh
SQUARE = lambda v: v * v + np.sin(v)  # noqa: E731


def helper(a, b=2.0):
    return np.sin(a) * b


def helper_kw(a, *, scale=1.0):
    return a * scale + np.cos(a)


def recursive(x, n):
    if n == 0:
        return x
    return recursive(np.sin(x) * 1.1, n - 1)


def c_if_elif(x):
    if np.sum(x) > 1.0:
        y = x * 2.0
    elif np.sum(x) > -1.0:
        y = np.sin(x)
    else:
        y = -x
    return np.sum(y * y)


def c_ternary_and_or(x):
    y = x * 3.0 if np.max(x) > 0 and np.min(x) < 10 else x
    z = y if np.sum(y) > 100 or np.sum(y) < -100 else np.tanh(y)
    return np.sum(z)


def c_while(x):
    y = x
    while np.linalg.norm(y) < 10.0:
        y = y * 1.7 + 0.1
    return np.sum(y)


def c_for_range(x):
    s = 0.0
    for i in range(len(x)):
        s = s + x[i] * (i + 1.0)
    return s * s


def c_for_rows(X):
    s = 0.0
    for row in X:
        s = s + np.sum(np.sin(row))
    return s


def c_enumerate_zip(x):
    s = 0.0
    for i, a in enumerate(x):
        s = s + a * (i + 1)
    for a, b in zip(x, x[::-1]):
        s = s + a * b
    return s * s


def c_nested_break_continue(x):
    s = 0.0
    for i in range(4):
        for j in range(4):
            if j > i:
                break
            if (i + j) % 2 == 1:
                continue
            s = s + x[i] * x[j]
    return s


def c_return_in_loop(x):
    y = x
    for i in range(10):
        y = np.sin(y) + 0.5
        if np.sum(y) > 2.0:
            return np.sum(y * x)
    return np.sum(y)


def c_zero_trip(x):
    s = np.sum(x)
    for _ in range(0):
        s = s * 2.0
    while False:
        s = s + 1.0
    return s


def c_setitem(x):
    out = np.zeros(4)
    for i in range(4):
        out[i] = x[i] * x[(i + 1) % 4]
    out[1:3] += x[:2]
    return np.sum(out ** 2)


def c_augassign(x):
    y = x * 1.0
    y += 2.0 * x
    y *= x
    y -= 1.0
    y /= 3.0
    return np.sum(y)


def c_append_local(x):
    outs = []
    h = x
    for i in range(3):
        h = np.tanh(h * 1.5)
        outs.append(h)
    return np.sum(outs[0] * outs[-1])


def c_tuple_unpack(x):
    a, b = x[:2], x[2:]
    (c, d), e = (a * b, a + b), np.sum(a)
    return np.sum(c * d) + e


def c_dict(x):
    p = {"w": x * 2.0, "b": np.sum(x)}
    return np.sum(p["w"] * p["b"])


def c_list_literal(x):
    parts = [x[0], x[1] * 2.0, x[2]]
    return parts[0] * parts[1] + parts[2]


def c_helpers(x):
    return np.sum(helper(x) + helper(x, b=0.5) + helper_kw(x, scale=3.0))


def c_recursion(x):
    return np.sum(recursive(x, 3))


def c_globals(x):
    return np.sum(GLOBAL_ACT(x) * SCALE)


def c_lambda_global(x):
    return np.sum(SQUARE(x) * SCALE)


def c_fancy_index(x):
    idx = np.array([0, 2, 2, 3])
    return np.sum(x[idx] ** 2) + np.sum(x[x > 0])


def c_matrix(X):
    W = X.T @ X
    return np.trace(W) + np.sum(np.maximum(X, 0.1) @ np.ones(3))


def c_reductions_axes(X):
    m = np.mean(X, axis=0, keepdims=True)
    return np.sum((X - m) ** 2) + np.sum(np.max(X, axis=1))


def c_numpy_scalars(x):
    a = float(np.sum(x))
    return a * a + np.float64(2.0) * x[0]


# ---------------------------------------------------------------- issue 13: the Python people write
# Each docstring's first line is the construct as docs/python.md lists it (docs/gen_python.py).
class _Layer:
    def __init__(self, w):
        self.w = w

    def scale(self, h):
        return h * self.w

    def forward(self, h):
        return np.tanh(self.scale(h))

    def __call__(self, h):
        return self.forward(h) + h


LOG = logging.getLogger("srcad.tests")
LAYER = _Layer(np.array([0.5, -1.0, 1.5, 2.0]))


def _apply(f, v):
    return f(v) * 2.0


def _total(*terms, **weights):
    s = 0.0
    for t in terms:
        s = s + np.sum(t) * weights.get("w", 1.0)
    return s


def _pieces(v):
    for k in range(2):
        yield v[2 * k:2 * k + 2]


def _make_scaler(c):
    def scaler(v):
        return v * c
    return scaler


def c_list_comprehension(x):
    """`[f(v) for v in xs if cond]`, nested `for` clauses"""
    sq = [v * v for v in x if v > -10.0]
    pairs = [a * b for a in x[:2] for b in x[2:]]
    return np.sum(np.stack(sq)) + sum(pairs)


def c_generator_expression(x):
    """`sum(w * v for w, v in zip(ws, xs))`, `tuple(... for ...)`"""
    t = tuple(np.sin(v) for v in x)
    return sum(w * v for w, v in zip(SCALE, x)) + t[0] * t[-1]


def c_dict_set_comprehension(x):
    """`{k: f(v) for ...}` (and `{... for ...}` of hashable values)"""
    d = {i: x[i] ** 2 for i in range(len(x))}
    n = len({int(v > 0) for v in x})
    return d[0] + d[3] * n


def c_nested_def_closure(x):
    """a nested `def` reading the enclosing function's values (a closure), called in a loop"""
    c = np.sum(x)

    def update(h, i):
        return np.tanh(h * c + x[i])

    h = 0.0
    for i in range(len(x)):
        h = update(h, i)
    return h


def c_lambda_local(x):
    """`f = lambda v: ...` inside the function, called"""
    sq = lambda v: v * np.cos(v)  # noqa: E731
    return np.sum(sq(x) + sq(x[0]))


def c_star_args(x):
    """`f(*args)` with a tuple display, `def g(*args, **kw)`, `zip(*pairs)`, `rs.randn(*x.shape)`"""
    args = (x, x * 2.0)
    pairs = [(x[0], x[1]), (x[2], x[3])]
    a, b = zip(*pairs)
    noise = np.random.RandomState(0).randn(*x.shape)
    return _total(*args, w=0.5) + a[0] * b[1] + np.sum(x * noise)


def c_kwargs_display(x):
    """`f(**opts)` with a dict display of string keys"""
    opts = {"b": 3.0}
    return np.sum(helper(x, **opts))


def c_partial_map(x):
    """`functools.partial(g, ...)`, `map(f, xs)`, `map(lambda v: ..., xs)`, `list(...)`, `lambda v, c=c: ...`"""
    h = functools.partial(helper, b=1.5)
    parts = list(map(np.tanh, [x[:2], x[2:]]))
    c = np.sum(x)
    scaled = lambda v, c=c: v * c  # noqa: E731
    c = 2.0
    s = 0.0
    for w in map(lambda v: np.sin(v) * c, [x[1], x[3]]):
        s = s + w
    return np.sum(h(x)) + np.sum(parts[0]) * np.sum(parts[1]) + np.sum(scaled(x)) + s


def c_methods_and_objects(x):
    """`model.forward(x)`, `self.helper(h)`, `self.w`, a callable object (`__call__`)"""
    return np.sum(LAYER.forward(x) + LAYER(x))


def c_function_argument(x):
    """a function passed to a helper and called there (`apply(f, x)`)"""
    return np.sum(_apply(np.sin, x) + _apply(SQUARE, x) + _apply(helper, x))


def c_generator_and_factory(x):
    """a generator helper (`yield`), a helper returning a function it defines"""
    s = 0.0
    for p in _pieces(x):
        s = s + np.sum(p * p)
    f = _make_scaler(3.0)
    return s + np.sum(f(x))


def c_builtins(x):
    """`min`/`max` of scalars, `print`, `logging`, `len`, `isinstance`"""
    a = max(x[0], x[1])
    b = min(x[2], x[3], 0.5)
    print("a =", a)
    LOG.debug("b = %s", b)
    n = len(x) if isinstance(x, np.ndarray) else 1
    return a * b * n


def _energy(v):
    return np.sum(np.sin(v) * v)


def c_grad_inside(x):
    """`srcad.grad(f)(...)` called inside differentiated code"""
    return np.sum(srcad.grad(_energy)(x) * x)


class _Cell:
    """A state object: made inside the function, updated by a method, read by a property."""

    scale = 0.5

    def __init__(self, w, h0):
        self.w = w
        self.h = h0
        self.steps = 0

    def step(self, v):
        self.h = np.tanh(self.w * self.h + v) * self.scale
        self.steps += 1

    @property
    def energy(self):
        return np.sum(self.h ** 2)


class _Pair:
    def __init__(self, x):
        self.inner = _Cell(x[0], x[1:])

    def __call__(self, v):
        self.inner.step(v)
        return self.inner.h


def _run_cell(cell, v):
    cell.step(v)
    return cell.energy


def c_local_objects(x):
    """`m = Model(W); m.forward(x)` on an object made in the function (its attributes read and
    written by its methods, a property, a class attribute), passed to a helper, held in another
    object's attribute"""
    c = _Cell(x[0], x[1:] * 0.5)
    c.step(x[1:])
    e = _run_cell(c, x[:3])
    p = _Pair(x * 0.3)
    return e + c.steps * c.energy + np.sum(p(x[1:]) * c.h)


@dataclasses.dataclass
class _Prior:
    mean: np.ndarray
    log_scale: float = 0.0

    def __post_init__(self):
        self.precision = np.exp(-2.0 * self.log_scale)

    def nll(self, z):
        return 0.5 * self.precision * np.sum((z - self.mean) ** 2)


def c_dataclass_inside(x):
    """a dataclass instance made in the function from differentiated values (defaults, `__post_init__`)"""
    p = _Prior(x[:2] * 2.0, log_scale=x[3])
    q = _Prior(np.zeros(2))
    return p.nll(x[1:3]) + q.nll(x[:2]) + q.log_scale


def c_side_effects_on_temporaries(x):
    """`print(np.sum(h))`, f-strings, `logging.info("%s", loss)`, `logging.getLogger(name).debug(...)`
    on expressions: run once, in the forward sweep, no derivative"""
    h = np.sin(x)
    print("sum", np.sum(h), f"max {np.max(h):.3f}")
    logging.info("%s %s", np.sum(h) * 2.0, h[0])
    logging.getLogger("srcad.tests").debug("h = %s", h * 3.0)
    return np.sum(h ** 2)


def _imports_helper(v):
    from numpy import tanh as act
    return act(v)


def c_imports_inside(x):
    """`import numpy as np`, `from math import exp` inside the function or a helper"""
    import numpy as npx
    from math import exp
    return npx.sum(_imports_helper(x) * exp(0.5))


def c_loop_else_and_unpacking(x):
    """`for`/`while` ... `else`, `a, *rest = v`, `divmod`, `pow`, tests that compute (`if any(v > 0 for v in x)`, `:=`)"""
    s = x[0] * 1.0
    for k in range(3):
        s = s * 1.3
        if s > 2.0:
            break
    else:
        s = s + np.sin(s)
    first, *rest = x
    q, r = divmod(x[1] + 2.0, 0.7)
    if any(v > 0.9 for v in x) and (m := first * 2.0) > 0:
        s = s + m
    return s * first + sum(rest) * r + pow(x[2], 3) + q


def c_max_min_sorted(x):
    """`max(xs)`, `min(v for v in x)` of one iterable (the first of ties), `sorted(x, key=lambda v: -v)`"""
    ys = [x[0] * 2.0, x[1], x[2] + 0.1]
    top = sorted(x, key=lambda v: -v)
    return max(ys) * min(v * v for v in x) + top[0] - top[-1] * 2.0


PYTHON_CONSTRUCTS = [c_list_comprehension, c_generator_expression, c_dict_set_comprehension,
                     c_nested_def_closure, c_lambda_local, c_star_args, c_kwargs_display, c_partial_map,
                     c_methods_and_objects, c_function_argument, c_generator_and_factory, c_builtins,
                     c_grad_inside, c_local_objects, c_dataclass_inside, c_side_effects_on_temporaries,
                     c_imports_inside, c_loop_else_and_unpacking, c_max_min_sorted]

CONSTRUCTS = [c_if_elif, c_ternary_and_or, c_while, c_for_range, c_enumerate_zip, c_nested_break_continue,
              c_return_in_loop, c_zero_trip, c_setitem, c_augassign, c_append_local, c_tuple_unpack,
              c_dict, c_list_literal, c_helpers, c_recursion, c_globals, c_lambda_global, c_fancy_index,
              c_numpy_scalars] + PYTHON_CONSTRUCTS
MATRIX_CONSTRUCTS = [c_for_rows, c_matrix, c_reductions_axes]


def _outcome(run):
    try:
        return run(), None
    except srcad.TransformError as exc:
        return None, exc


@pytest.mark.parametrize("f", CONSTRUCTS + MATRIX_CONSTRUCTS, ids=lambda f: f.__name__)
def test_both_modes_accept_the_same_construct(f):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(4, 3) if f in MATRIX_CONSTRUCTS else 4) * 0.7
    t = rng.normal(size=x.shape)
    g, g_err = _outcome(lambda: srcad.grad(f)(x))
    jt, j_err = _outcome(lambda: srcad.jvp(f)(x, t)[1])
    assert (g_err is None) == (j_err is None), f"grad: {g_err!r}; jvp: {j_err!r}"
    assert g_err is None, g_err
    want = numeric_grad(f, x)
    np.testing.assert_allclose(g, want, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(jt, np.sum(want * t), rtol=1e-6, atol=1e-7)


def _stand_in_loop(x, y):
    for _ in range(3):
        w = x[...] * np.maximum(-0.7, 2.0)
    return np.sum(np.tanh(w * 0.25)) + np.sum(y * y)


@pytest.mark.parametrize("shape", [(2, 3), (3,), (3, 1)])
def test_shape_stand_in_meets_a_materialized_zero(shape):
    """tests/fuzz_programs.py class "python", seed 6812472 (minimised): ``w = x[...] * c`` in a loop
    is read by the backward sweep only for its shape, so only its shape is pushed (a ``Shape``);
    the loop's adjoint of ``w`` is a materialized 0.0 on the later passes, and ``unbroadcast(0.0,
    shape)`` made zeros_like of the shape tuple (shape (2,), a crash or a wrong sum). Reverse over
    reverse then summed the adjoint of that spread 0.0 with ``broadcast_like`` (a crash)."""
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=shape), rng.normal(size=3)
    f = lambda x: _stand_in_loop(x, y)  # noqa: E731
    want = numeric_grad(f, x)
    np.testing.assert_allclose(srcad.grad(_stand_in_loop)(x, y), want, rtol=1e-6, atol=1e-8)
    t = rng.normal(size=shape)
    _, jt = srcad.jvp(f)(x, t)
    np.testing.assert_allclose(jt, np.sum(want * t), rtol=1e-6, atol=1e-8)
    g = srcad.grad(f)
    eps = 1e-5
    hv = (g(x + eps * t) - g(x - eps * t)) / (2 * eps)
    np.testing.assert_allclose(srcad.jvp(g)(x, t)[1], hv, rtol=1e-5, atol=1e-7)   # forward over reverse
    _, pull = srcad.vjp(g)(x)
    np.testing.assert_allclose(pull(t), hv, rtol=1e-5, atol=1e-7)                   # reverse over reverse
