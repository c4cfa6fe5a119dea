"""Reverse over reverse where a list or tuple is read twice (issue 14).

``grad(grad(f))`` of ``np.concatenate([x, x ** 2])`` adds the adjoints of the two reads of the
list's elements; they were joined as lists (``+``), which gave a silently wrong second derivative.
Each case is checked against srcad.hessian (forward over reverse) and central differences of the
gradient.
"""

import numpy as np
import pytest

import srcad

R = np.random.default_rng(11)


def cat(x):
    return np.sum(np.concatenate([x, x ** 2]) ** 2)


def stack(x):
    return np.sum(np.stack([np.sin(x), x * x], axis=1) ** 2)


def hstack(x):
    return np.sum(np.hstack([x, np.exp(x), x]) ** 3)


def slogdet_both(a):
    sign, logdet = np.linalg.slogdet(a)
    return sign * logdet ** 2


def eigh_both(a):
    w, v = np.linalg.eigh(a + a.T)
    return np.sum(w ** 3) + np.sum(v[0] ** 2 * w)


CASES = [(cat, lambda: R.uniform(0.5, 1.5, 3)), (stack, lambda: R.uniform(0.5, 1.5, 3)),
         (hstack, lambda: R.uniform(0.5, 1.5, 3)),
         (slogdet_both, lambda: R.uniform(0.5, 1.5, (3, 3)) + 3 * np.eye(3)),
         (eigh_both, lambda: R.uniform(0.0, 1.0, (3, 3)) + np.diag([0.0, 2.0, 5.0]))]


@pytest.mark.parametrize("fn,make", CASES, ids=[c[0].__name__ for c in CASES])
def test_reverse_over_reverse_adds_list_adjoints(fn, make):
    x = make()
    g = srcad.grad(fn)
    w = np.cos(1.0 + np.arange(x.size)).reshape(x.shape)

    def weighted(y):
        return np.sum(g(y) * w)
    rr = srcad.grad(weighted)(x)
    h = srcad.hessian(fn)(x).reshape(x.size, x.size)
    np.testing.assert_allclose(rr.ravel(), h.T @ w.ravel(), rtol=1e-6, atol=1e-8)
    eps = 1e-6
    fd = np.zeros(x.shape)
    for i in np.ndindex(x.shape):
        e = np.zeros(x.shape)
        e[i] = eps
        fd[i] = (weighted(x + e) - weighted(x - e)) / (2 * eps)
    np.testing.assert_allclose(rr, fd, rtol=1e-5, atol=1e-6)
