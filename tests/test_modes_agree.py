"""Forward and reverse mode accept the same constructs (issue 12): one table of constructs, each
run through ``grad`` and ``jvp`` and checked against central differences; a construct one mode
refuses, the other must refuse too (today neither refuses any of these)."""

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


CONSTRUCTS = [c_if_elif, c_ternary_and_or, c_while, c_for_range, c_enumerate_zip, c_nested_break_continue,
              c_return_in_loop, c_zero_trip, c_setitem, c_augassign, c_append_local, c_tuple_unpack,
              c_dict, c_list_literal, c_helpers, c_recursion, c_globals, c_lambda_global, c_fancy_index,
              c_numpy_scalars]
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
