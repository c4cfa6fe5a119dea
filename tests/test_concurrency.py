"""Threads, recursion and re-entry (extends tests/test_control_flow.py, which covers 8 threads over
the control-flow corpus, recursion to depth 200 of a scalar walk, and grad called inside f)."""

import numpy as np

import srcad

from run_threads import run_threads


def shared_target(x):
    y = x * 1.0
    k = 0
    while np.sum(y * y) < 20.0 and k < 10:
        y = np.sin(y) + y * 1.5
        k += 1
    if y[0] > 0:
        return np.sum(y * x)
    return np.sum(np.tanh(y))


def two_args(x, w):
    s = 0.0
    for i in range(x.shape[0]):
        s = s + np.tanh(x[i] * w[i]) * w[i - 1]
    return s


def scalar_poly(t):
    return t ** 3 - 2.0 * t


def test_many_threads_build_the_same_derivative_cold():
    x = np.array([0.3, -0.2, 0.5, 0.1])
    expect = srcad.numerical_grad(shared_target, (x,))
    for _ in range(3):
        srcad.clear_cache()
        results = run_threads(16, lambda k: srcad.grad(shared_target)(x))
        for r in results:
            np.testing.assert_allclose(r, expect, rtol=1e-6, atol=1e-8)


def test_threads_mix_modes_ranks_and_functions_cold():
    rng = np.random.default_rng(3)
    x, w = rng.normal(size=5), rng.normal(size=5)
    jobs = [
        (lambda: srcad.grad(shared_target)(x), srcad.numerical_grad(shared_target, (x,))),
        (lambda: srcad.value_and_grad(shared_target)(x)[1], srcad.numerical_grad(shared_target, (x,))),
        (lambda: srcad.grad(two_args, wrt=(0, 1))(x, w), srcad.numerical_grad(two_args, (x, w), wrt=(0, 1))),
        (lambda: srcad.grad(two_args, wrt=1)(x, w), srcad.numerical_grad(two_args, (x, w), wrt=1)),
        (lambda: srcad.vjp(two_args)(x, w)[1](2.0), 2.0 * srcad.numerical_grad(two_args, (x, w))),
        (lambda: srcad.grad(scalar_poly)(0.7), 3 * 0.7 ** 2 - 2.0),
        (lambda: srcad.grad(scalar_poly)(np.array([0.7, 0.1])), 3 * np.array([0.7, 0.1]) ** 2 - 2.0),
        (lambda: srcad.grad(srcad.grad(scalar_poly))(0.7), 6 * 0.7),
        (lambda: srcad.jvp(scalar_poly, (0.7,), (1.0,))[1], 3 * 0.7 ** 2 - 2.0),
    ]
    srcad.clear_cache()

    def work(k):
        out = []
        for r in range(4):
            fn, _ = jobs[(k + r) % len(jobs)]
            out.append(((k + r) % len(jobs), fn()))
        return out
    for res in run_threads(24, work):
        for j, got in res:
            expect = jobs[j][1]
            if isinstance(expect, tuple):
                for a, b in zip(got, expect):
                    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
            else:
                np.testing.assert_allclose(got, expect, rtol=1e-5, atol=1e-7)


def is_even_sum(x, n):
    if n == 0:
        return np.sum(x)
    return is_odd_sum(x * 0.99, n - 1)


def is_odd_sum(x, n):
    if n == 0:
        return np.sum(x * x)
    return is_even_sum(x + 0.01, n - 1)


def deep_array_walk(x, n):
    if n == 0:
        return np.sum(np.sin(x))
    return deep_array_walk(x * 0.99 + 0.01, n - 1)


def test_recursion_depth_200_arrays_and_mutual():
    x = np.array([0.2, -0.4, 0.6])
    g = srcad.grad(deep_array_walk)(x, 200)
    y = x.copy()
    for _ in range(200):
        y = y * 0.99 + 0.01
    np.testing.assert_allclose(g, np.cos(y) * 0.99 ** 200, rtol=1e-10)
    srcad.check_grad(is_even_sum, x, 200)
    srcad.check_grad(is_even_sum, x, 199)


def test_recursion_in_threads():
    x = np.array([0.2, -0.4, 0.6])
    expect = srcad.numerical_grad(is_even_sum, (x, 60))
    srcad.clear_cache()
    for r in run_threads(8, lambda k: srcad.grad(is_even_sum)(x, 60)):
        np.testing.assert_allclose(r, expect, rtol=1e-6, atol=1e-8)


def test_forward_recursion_depth_200():
    x = np.array([0.2, -0.4, 0.6])
    _, tangent = srcad.jvp(lambda v: deep_array_walk(v, 200), (x,), (np.ones(3),))
    y = x.copy()
    for _ in range(200):
        y = y * 0.99 + 0.01
    np.testing.assert_allclose(tangent, np.sum(np.cos(y)) * 0.99 ** 200, rtol=1e-10)


dpoly = srcad.grad(scalar_poly)
vg_target = srcad.value_and_grad(shared_target)


def uses_derivatives_inside(x):
    # derivative functions called as ordinary (non-differentiated) helpers and as values
    v, g = vg_target(x)
    return np.sum(g * x) + v * dpoly(np.sum(x))


def test_derivatives_called_inside_differentiated_code():
    x = np.array([0.3, -0.2, 0.5, 0.1])
    srcad.check_grad(uses_derivatives_inside, x, rtol=1e-4, atol=1e-6)


def test_derivatives_inside_differentiated_code_in_threads():
    x = np.array([0.3, -0.2, 0.5, 0.1])
    expect = srcad.numerical_grad(uses_derivatives_inside, (x,))
    srcad.clear_cache()
    for r in run_threads(8, lambda k: srcad.grad(uses_derivatives_inside)(x)):
        np.testing.assert_allclose(r, expect, rtol=1e-4, atol=1e-6)


def test_training_flag_inside_nested_derivatives():
    seen = []

    def inner(x):
        seen.append(srcad.is_training())
        return x * x

    dinner = srcad.grad(inner)
    dinner(1.0)
    inner(1.0)
    assert seen == [True, False]
    assert srcad.is_training() is False
