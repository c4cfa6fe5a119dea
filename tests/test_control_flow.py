"""if / while / for / break / continue / early return in reverse mode, against finite differences."""

import numpy as np
import pytest
from hypothesis import given, strategies as st

import srcad
from srcad import runtime

from chapter_function import chapter_f
from run_threads import run_threads


def cf_if(x):
    if np.sum(x) > 0:
        y = x * x
    elif np.sum(x) < -1:
        y = np.sin(x)
    else:
        y = -x * 3
    return np.sum(y)


def cf_ternary(x):
    y = x * 2 if np.sum(x) > 0 else x ** 3
    return np.sum(y)


def cf_boolops(x):
    s = np.sum(x)
    if s > 0 and s < 2 or s < -3:
        return s * s
    return s * 3


def cf_while(x):
    y = x
    n = 0
    while np.sum(y * y) < 50.0 and n < 100:
        y = y * 1.5 + 0.1
        n += 1
    return np.sum(y)


def cf_while_zero_trips(x):
    y = x * 1.0
    while np.sum(y) > 1e9:
        y = y * 0.5
    return np.sum(y * y)


def cf_for_range(x):
    s = 0.0
    for i in range(5):
        s = s + np.sum(x * i) * np.sum(x)
    return s


def cf_for_computed_bounds(x):
    n = x.shape[0]
    s = 0.0
    for i in range(1, n - 1):
        s = s + x[i] * x[i - 1] - x[i + 1]
    return s


def cf_for_rows(x):
    s = 0.0
    for row in x:
        s = s + np.sum(row * row) * row[0]
    return s


def cf_for_list(x):
    total = 0.0
    for w in [0.5, 1.5, -2.0]:
        total = total + np.sum(np.sin(x * w))
    return total


def cf_enumerate_zip(x):
    total = 0.0
    for i, row in enumerate(x):
        total = total + np.sum(row) * (i + 1)
    for a, b in zip(x, x[::-1]):
        total = total + np.sum(a * b)
    return total


def cf_nested(x):
    s = 0.0
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            if x[i, j] > 0:
                s = s + x[i, j] * x[i, j]
            else:
                s = s - x[i, j]
    return s


def cf_break_continue(x):
    s = 0.0
    for i in range(x.shape[0]):
        if x[i] < -0.5:
            continue
        s = s + x[i] * s + x[i]
        if s > 2.0:
            break
    return s


def cf_early_return(x):
    if np.sum(x) > 3:
        return np.sum(x * x)
    y = x * 2
    if np.sum(y) < -3:
        return np.sum(np.sin(y))
    return np.sum(y * x)


def cf_return_in_loop(x):
    s = 0.0
    for i in range(x.shape[0]):
        s = s + x[i] ** 2
        if s > 1.5:
            return s * 2
    return s


def cf_return_nested_loop(x):
    s = 0.0
    for i in range(3):
        for j in range(x.shape[0]):
            s = s + x[j] * (i + 1)
            if s > 2.5:
                return s * s
        s = s * 0.5
    return s


def cf_loop_in_branch(x):
    s = np.sum(x)
    if s > 0:
        for i in range(3):
            s = s * 1.1 + np.sum(x * x)
    else:
        while s < 10:
            s = s + np.sum(x * x) + 1
    return s


def cf_setitem(x):
    n = x.shape[0]
    out = np.zeros(n)
    for i in range(n):
        out[i] = x[i] * x[i - 1]
    out[0] = out[0] + 1.0
    return np.sum(out * x)


def cf_setitem_recurrence(x):
    h = np.zeros(x.shape[0] + 1)
    for i in range(x.shape[0]):
        h[i + 1] = np.tanh(h[i] * 0.5 + x[i])
    return np.sum(h * h)


def cf_setitem_accumulate(x):
    acc = np.zeros(3)
    for i in range(x.shape[0]):
        acc[i % 3] += x[i] * x[i]
    return np.sum(acc * np.arange(1.0, 4.0))


def cf_overwrite_in_loop(x):
    y = x * 1.0
    for i in range(4):
        y = np.sin(y) * y
    return np.sum(y)


def cf_rows_matrix_loop(W):
    h = np.ones(3)
    for t in range(4):
        h = np.tanh(W @ h)
    return np.sum(h)


VECTOR_CASES = [cf_if, cf_ternary, cf_boolops, cf_while, cf_while_zero_trips, cf_for_range,
                cf_for_computed_bounds, cf_for_list, cf_break_continue, cf_early_return,
                cf_return_in_loop, cf_return_nested_loop, cf_loop_in_branch, cf_setitem,
                cf_setitem_recurrence, cf_setitem_accumulate, cf_overwrite_in_loop]
MATRIX_CASES = [cf_for_rows, cf_enumerate_zip, cf_nested, cf_rows_matrix_loop]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("fn", VECTOR_CASES, ids=lambda f: f.__name__)
def test_vector_cases(fn, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=5)
    srcad.check_grad(fn, x)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("fn", MATRIX_CASES, ids=lambda f: f.__name__)
def test_matrix_cases(fn, seed):
    rng = np.random.default_rng(seed)
    srcad.check_grad(fn, rng.normal(size=(3, 3)))


@pytest.mark.parametrize("a", [np.float64(0.37), np.float64(-1.3), np.array(0.02),
                               np.array([0.1, -0.4, 0.3]), np.array([[1.0, -2.0], [0.5, 0.25]])])
def test_chapter_control_flow(a):
    g = srcad.grad(chapter_f)(a)
    np.testing.assert_allclose(g, chapter_f(a) / a)


def test_chapter_generated_source_reads_like_the_sketch():
    src = srcad.source(srcad.grad(chapter_f))
    assert "while np.linalg.norm(b) < 1000:" in src
    assert "cond_1 = bool(b.sum() > 0)" in src
    assert "for _ in range(n_1):" in src
    assert "db = db * 2" in src
    # no stack: the branch decision and the trip count are read straight from their variables
    assert "stack" not in src


def test_only_what_backward_reads_is_pushed():
    def f(x):
        s = x * 1.0
        for i in range(10):
            s = s * 2.0 - 1.0   # the adjoint needs nothing from the forward sweep
        return s
    src = srcad.source(srcad.grad(f))
    assert "append" not in src and "Stack" not in src


class _CountingStack(runtime.Stack):
    """Counts the deepest each stack gets (a typed stack is counted as a plain one)."""

    instances = []

    def __new__(cls, typ=None):
        return list.__new__(cls)

    def __init__(self, typ=None):
        super().__init__()
        self.max_len = 0
        _CountingStack.instances.append(self)

    def append(self, v):
        super().append(v)
        if len(self) > self.max_len:
            self.max_len = len(self)


def _stack_records(fn, *args, monkeypatch):
    _CountingStack.instances = []
    monkeypatch.setitem(runtime.RUNTIME_NAMES, "Stack", _CountingStack)
    srcad.clear_cache()
    try:
        srcad.grad(fn)(*args)
    finally:
        srcad.clear_cache()
    return sum(s.max_len for s in _CountingStack.instances), _CountingStack.instances


def scalar_loop_needs_values(x):
    y = x
    for i in range(100000):
        y = y * 0.5 + np.sin(y) * 0.5
    return y


def scalar_loop_needs_nothing(x):
    y = x
    for i in range(100000):
        y = y * 0.999 + 0.001
    return y


def test_stack_memory_is_linear_and_small(monkeypatch):
    records, stacks = _stack_records(scalar_loop_needs_values, 0.3, monkeypatch=monkeypatch)
    # one saved float per iteration (y before it is overwritten), nothing else
    assert records == 100000
    records, stacks = _stack_records(scalar_loop_needs_nothing, 0.3, monkeypatch=monkeypatch)
    assert records == 0 and stacks == []


def test_recursion():
    def power_tower(x, n):
        if n == 0:
            return x
        return np.sin(power_tower(x, n - 1)) * x
    srcad.check_grad(power_tower, 0.7, 5)


def test_recursion_depth_200():
    def walk(x, n):
        if n == 0:
            return x
        return walk(x * 0.99 + 0.01, n - 1)
    g = srcad.grad(walk)(0.5, 200)
    assert abs(g - 0.99 ** 200) < 1e-12


def test_gradient_called_inside_differentiated_function():
    def inner(x):
        return x ** 3

    dinner = srcad.grad(inner)

    def outer(x):
        return dinner(x) * x      # 3x^2 * x = 3x^3 -> 9x^2

    assert abs(srcad.grad(outer)(1.5) - 9 * 1.5 ** 2) < 1e-9


def test_threads_differentiate_at_once():
    def work(k):
        rng = np.random.default_rng(k)
        for _ in range(20):
            x = rng.normal(size=5)
            fn = VECTOR_CASES[k % len(VECTOR_CASES)]
            srcad.check_grad(fn, x)
    srcad.clear_cache()
    run_threads(8, work)


def _away_from_boundaries(x):
    return all(abs(v) > 1e-3 for v in np.ravel(x))


@given(st.lists(st.floats(-2.0, 2.0), min_size=3, max_size=6))
def test_property_branches_and_loops(values):
    x = np.array(values)
    if not _away_from_boundaries(x):
        return
    for fn in (cf_break_continue, cf_return_in_loop, cf_nested_1d, cf_while_data):
        try:
            srcad.check_grad(fn, x, rtol=1e-4, atol=1e-5)
        except AssertionError:
            # finite differences straddle a branch switch only when x sits right at a boundary
            if not _near_switch(fn, x):
                raise


def cf_nested_1d(x):
    s = 0.0
    for i in range(x.shape[0]):
        if x[i] > 0:
            j = 0
            while j < 3 and s < 4:
                s = s + x[i] * 0.5
                j += 1
        else:
            s = s * 0.9 - x[i]
    return s


def cf_while_data(x):
    y = x * 1.0
    while np.sum(np.abs(y)) < 20:
        y = y * 1.3 + np.sign(y) * 0.1
    return np.sum(y ** 2)


def _near_switch(fn, x, eps=1e-5):
    base = srcad.grad(fn)(x)
    for k in range(x.size):
        for d in (eps, -eps):
            y = x.copy()
            y[k] += d
            if not np.allclose(srcad.grad(fn)(y), base, rtol=1e-3, atol=1e-3):
                return True
    return False


# ------------------------------------------------------------------ for/while ... else


def while_else(x, y):
    i = 0
    while i < 5:
        x = x * y
        if np.sum(x) > 2.0:
            break
        i += 1
    else:
        x = x + np.sin(x)
    return np.sum(x)


def for_else(x, y):
    for k in range(4):
        y = y * x
        if np.sum(y) > 3.0:
            break
    else:
        y = y - x ** 2
    return np.sum(y)


def for_else_without_break(x, y):
    for k in range(3):
        x = np.sin(x) * y
    else:
        x = x * 2
    return np.sum(x)


def nested_else(x, y):
    for i in range(3):
        for j in range(3):
            if np.sum(x) > 5.0:
                break
            x = x * y
        else:
            x = x + 0.1
            continue
        break
    else:
        x = x * x
    return np.sum(x)


def else_after_return(x, y):
    for k in range(3):
        x = x * 2
        if np.sum(x) > y:
            return np.sum(x * 3)
    else:
        x = x + 100
    return np.sum(x)


@pytest.mark.parametrize("fn", [while_else, for_else, for_else_without_break, nested_else, else_after_return])
@pytest.mark.parametrize("scale", [0.3, 1.3, 2.9])     # no break, break early, break late
@pytest.mark.parametrize("shape", [(), (3,)])
def test_loop_else_in_both_modes(fn, scale, shape):
    """The else block runs only when the loop ends without a break (or return), in both modes."""
    from test_replay import check_both
    x = scale * (0.5 + 0.1 * np.arange(int(np.prod(shape))).reshape(shape)) if shape else scale * 0.5
    y = 1.15
    for wrt in (0, 1):
        check_both(fn, [x, y], wrt)


def test_loop_else_generated_code_reads_as_a_flag():
    src = srcad.source(srcad.grad(for_else), 1.2, 1.0)
    assert "broke_1 = False" in src and "broke_1 = True" in src and "not broke_1" in src


# ------------------------------------------------------------------ tests that compute (generators, :=)


def if_any_generator(x, y):
    if any(v > 0.45 for v in x):
        return np.sum(x ** 2 * y)
    return np.sum(x * y)


def if_and_all_generator(x, y):
    if np.sum(x) > 0.1 and all(v < 0.6 for v in x):
        return np.sum(x ** 3 * y)
    return np.sum(x * y)


def while_any_generator(x, y):
    n = 0
    while any(v < 1.0 for v in x) and n < 20:
        x = x * y
        n += 1
    return np.sum(x)


def ternary_on_generator_sum(x, y):
    z = x * y if sum(v for v in x) > 0.9 else x * 3
    return np.sum(z ** 2)


def walrus_in_if(x, y):
    if (z := np.sum(x * y)) > 0.5:
        return z * z
    return z


def walrus_in_while(x, y):
    while (z := x * y) < 2.0:
        x = z
    return np.sum(x * z)


@pytest.mark.parametrize("fn", [if_any_generator, if_and_all_generator, while_any_generator,
                                ternary_on_generator_sum, walrus_in_if, walrus_in_while])
@pytest.mark.parametrize("scale", [0.5, 1.1])
def test_computed_tests_in_both_modes(fn, scale):
    from test_replay import check_both
    x = scale * np.array([0.3, 0.45, 0.52])
    if fn is walrus_in_while:
        x = scale * 0.5
    for wrt in (0, 1):
        check_both(fn, [x, 1.3], wrt)
