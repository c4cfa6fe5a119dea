"""grad's per-call fast path (issue 15, item 7): the same results as the checked path, gradients
that never alias the arguments, and a 0-d array keyed like the generic variant it runs."""

import numpy as np

import srcad
from srcad.api import _own


def square_sum(x, y):
    return np.sum(x * x * y)


def test_fast_path_gives_the_checked_paths_results():
    g = srcad.grad(square_sum, wrt=(0, 1))
    for x, y in [(0.5, 2.0), (np.array([0.5, 1.5]), 2.0), (np.array([0.5, 1.5]), np.array([1.0, 3.0])),
                 (np.array(0.5), 2.0), (np.float64(0.5), np.float32(2.0)), (1, 2.0)]:
        for _ in range(3):           # the first call builds, later ones take the fast path
            dx, dy = g(x, y)
            np.testing.assert_allclose(dx, 2 * np.asarray(x) * y)
            np.testing.assert_allclose(dy, np.sum(np.asarray(x) ** 2) if np.ndim(y) == 0 else np.asarray(x) ** 2)
    one = srcad.grad(square_sum, wrt=(0,))
    assert isinstance(one(0.5, 2.0), tuple) and len(one(0.5, 2.0)) == 1


def test_owned_gradients_never_alias_arguments():
    g = np.ones(4)
    assert _own(g, [g[1:]]) is not g          # an argument is a view of it
    assert _own(g, [g]) is not g
    assert _own(g, [np.ones(4)]) is g         # it owns its memory: no copy
    ro = np.ones(3)
    ro.flags.writeable = False
    out = _own(ro, [])
    assert out is not ro and out.flags.writeable
    assert _own((1.0, 2.0), []) == (1.0, 2.0)


def identity_rows(x):
    return np.sum(x)


def test_gradient_arrays_are_fresh_and_writable():
    x = np.array([1.0, 2.0, 3.0])
    g = srcad.grad(identity_rows)
    for _ in range(2):
        d = g(x)
        assert d.flags.writeable and not np.shares_memory(d, x)
        d[0] = 5.0
    np.testing.assert_array_equal(x, [1.0, 2.0, 3.0])
