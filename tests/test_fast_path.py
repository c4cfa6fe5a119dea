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


# ---- the type-keyed fast path (issue 15 item 7) -------------------------------------------------

def scaled_in_training(x):
    k = 2.0 if srcad.is_training() else 1.0
    return x * x * k


def sin_times(x, y):
    return np.sum(np.sin(x) * y)


def _counting(monkeypatch):
    from srcad import api
    calls = []
    orig = api._Transformed._prepare

    def prepare(self, args):
        calls.append(1)
        return orig(self, args)
    monkeypatch.setattr(api._Transformed, "_prepare", prepare)
    return calls


def test_fast_path_is_taken_and_agrees(monkeypatch):
    calls = _counting(monkeypatch)
    g = srcad.grad(sin_times, wrt=(0, 1))
    x, y = np.array([0.3, 1.2]), np.array([2.0, -1.0])
    first = g(x, y)
    for _ in range(5):
        dx, dy = g(x, y)
        np.testing.assert_array_equal(dx, first[0])
        np.testing.assert_array_equal(dy, first[1])
        np.testing.assert_allclose(dx, np.cos(x) * y)
    assert len(calls) == 1


def test_training_flag_is_set_on_the_fast_path():
    from srcad.api import _may_read_training
    g = srcad.grad(scaled_in_training)
    for _ in range(3):
        assert g(1.5) == 6.0          # d/dx 2 x^2 while training
    assert scaled_in_training(1.5) == 2.25
    hit = next(iter(g._fast.values()))
    assert hit[-1] is True and _may_read_training(hit[1])
    plain = srcad.grad(square_sum)
    plain(0.5, 2.0)
    assert next(iter(plain._fast.values()))[-1] is False


def test_same_types_other_ranks_and_dtypes(monkeypatch):
    g = srcad.grad(sin_times)
    cases = [(np.array([0.1, 0.2]), 2.0), (np.array([[0.1, 0.2], [0.3, 0.4]]), 2.0),
             (np.array([1, 2]), 2.0), (np.array(0.5), 2.0), (np.array([0.1, 0.2], dtype=np.float32), 2.0),
             (np.float64(0.5), 2.0), (np.float32(0.5), 3.0), (1, 2.0), (0.5, 2.0)]
    for _ in range(2):
        for x, y in cases:
            d = g(x, y)
            np.testing.assert_allclose(d, np.cos(np.asarray(x, dtype=float)) * y, rtol=1e-6)
            assert np.shape(d) == np.shape(x)
            if isinstance(x, np.ndarray) and x.dtype.kind == "i":
                assert np.asarray(d).dtype == np.float64


act = np.sin


def through_global(x):
    return np.sum(act(x))


def test_rebound_global_is_seen_on_the_fast_path():
    global act
    g = srcad.grad(through_global)
    x = np.array([0.3, 0.7])
    try:
        for _ in range(2):
            np.testing.assert_allclose(g(x), np.cos(x))
        act = np.tanh
        for _ in range(2):
            np.testing.assert_allclose(g(x), 1 - np.tanh(x) ** 2)
        srcad.clear_cache()
        np.testing.assert_allclose(g(x), 1 - np.tanh(x) ** 2)
    finally:
        act = np.sin
