"""The backward sweep replays the forward sweep (issue 11, class 8) and recursion (class 9).

* a loop's range is the one the forward sweep ran, even when what it was computed from changes
  later (``lst.append``) or inside an enclosing loop;
* loops over dicts (keys, ``.keys()``, ``.values()``, ``.items()``);
* a helper that is not inlined (recursion) runs its forward computation once: the random numbers
  it draws are the ones differentiated, and recursion costs linear time and reaches the depth the
  plain function reaches;
* no API entry point runs the user's function on the user's own arrays.

Every gradient is checked against central finite differences, in both modes.
"""

import sys

import numpy as np
import pytest

import srcad
from srcad.check import _leaves, numerical_grad

from fd_points import SHAPES, point


def check_both(f, args, wrt=0, rtol=1e-5, atol=1e-6):
    """Reverse mode (check_grad) and forward mode (jvp along a random direction) against
    central differences of ``f`` (a scalar output) at ``args``."""
    srcad.check_grad(f, *args, wrt=wrt, rtol=rtol, atol=atol)
    num = numerical_grad(f, args, wrt)
    x = args[wrt]
    r = np.random.default_rng(7)
    leaves = list(_leaves(x))
    tangent = x
    expect = 0.0
    for path, leaf in leaves:
        t = r.standard_normal(np.shape(leaf))
        t = float(t) if np.ndim(leaf) == 0 else t
        tangent = _put(tangent, path, t)
        expect += float(np.sum(np.asarray(_get(num, path)) * t))
    tangents = [None] * len(args)
    tangents[wrt] = tangent
    _, got = srcad.jvp(f, tuple(args), tuple(tangents))
    np.testing.assert_allclose(float(np.sum(got)), expect, rtol=rtol, atol=atol)


def _get(x, path):
    for p in path:
        x = x[p]
    return x


def _put(x, path, v):
    if not path:
        return v
    y = dict(x) if isinstance(x, dict) else list(x)
    y[path[0]] = _put(x[path[0]], path[1:], v)
    return type(x)(y) if isinstance(x, tuple) else y


# ---------------------------------------------------------------------- ranges replayed


def bound_changes_after_loop(x, lst):
    s = x
    for i in range(len(lst)):
        s = s * lst[i] + np.sin(s)
    lst.append(1.0)
    return np.sum(s)


def bound_changes_each_outer_pass(x, lst):
    s = x
    for j in range(2):
        for i in range(len(lst)):
            s = s * lst[i] + np.sin(s)
        lst.append(0.5)
    return np.sum(s)


def sequence_grows_after_loop(x, lst):
    s = x
    for v in lst:
        s = s * v + np.cos(s)
    lst.append(2.0)
    lst.append(3.0)
    return np.sum(s)


def bound_reassigned_in_inner_loop(x, lst):
    s = x
    for j in range(len(lst)):
        n = j + 1
        for i in range(n):
            n = n - 1
            s = s * lst[j] + np.sin(s)
    return np.sum(s)


def bound_changed_by_helper(x, lst):
    s = x
    for i in range(len(lst)):
        s = np.tanh(s * lst[i])
    grow(lst)
    return np.sum(s * 2.0)


def grow(lst):
    lst.append(0.1)
    return lst


def appends_while_looping_over_range(x, lst):
    made = [x, x * lst[0]]
    s = 0.0
    for i in range(len(made)):
        made.append(made[i] * lst[1])
        s = s + made[i] * made[-1]
    made.append(s)
    return np.sum(s + made[-1] * made[2])


@pytest.mark.parametrize("fn", [bound_changes_after_loop, bound_changes_each_outer_pass,
                                sequence_grows_after_loop, bound_reassigned_in_inner_loop,
                                bound_changed_by_helper, appends_while_looping_over_range])
@pytest.mark.parametrize("shape", SHAPES)
def test_backward_sweep_replays_the_forward_range(fn, shape):
    check_both(fn, [point(shape), [0.9, 1.1, 0.7]])


def test_caller_list_still_grows_as_python_does():
    lst = [0.9, 1.1]
    srcad.grad(bound_changes_each_outer_pass)(0.3, lst)
    assert lst == [0.9, 1.1, 0.5, 0.5]


def loop_body_grows_its_list(x, lst):
    s = x
    for v in lst:
        if len(lst) < 4:
            lst.append(v * 0.5)
        s = s + v * x
    return s


def test_loop_over_a_list_its_body_grows_is_refused():
    with pytest.raises(srcad.TransformError, match=r"test_replay.py:\d+: .*changes in length"):
        srcad.grad(loop_body_grows_its_list)(0.3, [1.0])
    with pytest.raises(srcad.TransformError, match="changes in length"):
        srcad.jvp(loop_body_grows_its_list, (0.3, [1.0]), (1.0, None))


# ---------------------------------------------------------------------- loops over dicts


def dict_keys_plain(d):
    s = 0.0
    for k in d:
        s = s + np.sum(np.sin(d[k]) * 2.0)
    return s


def dict_keys_method(d):
    s = 0.0
    for k in d.keys():
        s = s + np.sum(d[k] * d[k])
    return s


def dict_values(d):
    s = 0.0
    for v in d.values():
        s = s + np.sum(np.tanh(v) * v)
    return s


def dict_items(d):
    s = 0.0
    for k, v in d.items():
        s = s + np.sum(v * d[k]) * len(k)
    return s


def dict_items_one_target(d):
    s = 0.0
    for kv in d.items():
        s = s + np.sum(np.exp(kv[1]))
    return s


def dict_enumerate_and_zip(d):
    s = 0.0
    for i, k in enumerate(d):
        s = s + np.sum(d[k]) * (i + 1)
    for k1, k2 in zip(d, d):
        s = s + np.sum(d[k1] * d[k2])
    return s


@pytest.mark.parametrize("fn", [dict_keys_plain, dict_keys_method, dict_values, dict_items,
                                dict_items_one_target, dict_enumerate_and_zip])
@pytest.mark.parametrize("shape", SHAPES)
def test_loops_over_dicts(fn, shape):
    d = {"a": point(shape, 1), "bb": point(shape, 2), "ccc": point(shape, 3)}
    check_both(fn, [d])


# ---------------------------------------------------------------------- helpers run once


_rng = np.random.default_rng(0)


def random_walk(h, n, *, p=0.5):
    """Recursive (so not inlined), draws a mask at every level."""
    if n == 0:
        return h
    mask = _rng.random(np.shape(h)) > p
    return random_walk(np.sin(h) * mask / (1 - p) + h * 0.5, n - 1, p=p)


def uses_random_walk(x):
    return np.sum(random_walk(x, 4, p=0.3) * x)


def random_keyword_only(h, *, scale):
    """Keyword-only parameter (inlined), draws noise."""
    return h * scale + _rng.random(np.shape(h))


def uses_keyword_only(x):
    return np.sum(np.sin(random_keyword_only(x, scale=x)) * random_walk(x, 2))


@pytest.mark.parametrize("fn", [uses_random_walk, uses_keyword_only])
@pytest.mark.parametrize("shape", SHAPES)
def test_random_numbers_are_drawn_once(fn, shape):
    """The gradient is that of the function with the numbers the forward sweep drew."""
    global _rng
    x = point(shape)

    def fixed(v):
        global _rng
        _rng = np.random.default_rng(42)
        return fn(v)

    expect = numerical_grad(fixed, (x,))
    _rng = np.random.default_rng(42)
    value, g = srcad.value_and_grad(fn)(x)
    after_grad = _rng.random()
    _rng = np.random.default_rng(42)
    assert value == pytest.approx(fn(x), rel=1e-12)
    assert after_grad == _rng.random()    # as many draws as one plain call
    np.testing.assert_allclose(g, expect, rtol=1e-5, atol=1e-6)
    _rng = np.random.default_rng(42)
    t = np.ones(np.shape(x)) if shape else 1.0
    _, got = srcad.jvp(fn, (x,), (t,))
    np.testing.assert_allclose(got, np.sum(expect), rtol=1e-5, atol=1e-6)


def kept_call_in_a_loop(x):
    s = x
    for k in range(3):
        if k > 0:
            s = random_walk(s, k, p=0.0) * x
        s = s + walk(s * 0.5, 2)
    return np.sum(s)


@pytest.mark.parametrize("shape", SHAPES)
def test_tapes_of_kept_calls_in_a_loop(shape):
    check_both(kept_call_in_a_loop, [point(shape)])


calls = []


def counted_walk(x, n):
    calls.append(n)
    if n == 0:
        return np.sum(x * x)
    return counted_walk(np.sin(x) * 1.01, n - 1)


@pytest.mark.parametrize("depth", [1, 10, 100])
def test_recursive_forward_computation_runs_once_per_level(depth):
    """Linear cost: each level's forward computation runs once (it ran depth - k times at level
    k before: quadratic in the depth)."""
    x = np.array([0.3, -0.2])
    calls.clear()
    srcad.grad(counted_walk)(x, depth)
    assert len(calls) == depth + 1
    srcad.check_grad(counted_walk, x, min(depth, 10))


def walk(x, n):
    if n == 0:
        return x
    return walk(np.sin(x) * 1.01, n - 1)


def test_recursion_reaches_the_depth_of_the_plain_function():
    here = len(_frames())
    depth = sys.getrecursionlimit() - here - 30
    x = np.array([0.3, 0.5])
    walk(x, depth)     # the plain function reaches it
    g = srcad.grad(lambda v: np.sum(walk(v, depth)))(x)
    y, d = x.copy(), np.ones(2)
    for _ in range(depth):
        d = d * np.cos(y) * 1.01
        y = np.sin(y) * 1.01
    np.testing.assert_allclose(g, d, rtol=1e-10)
    _, t = srcad.jvp(lambda v: np.sum(walk(v, depth)), (x,), (np.ones(2),))
    np.testing.assert_allclose(t, np.sum(d), rtol=1e-10)


def walk_with_loop(x, n):
    if n == 0:
        return x
    s = x
    for i in range(2):
        s = np.sin(s) * 1.01
    return walk_with_loop(s, n - 1)


@pytest.mark.parametrize("shape", [(), (2,)])
def test_second_derivatives_through_recursion(shape):
    """Nothing recorded: forward over reverse and reverse over reverse work; a helper that records
    values on its stack is refused (its fwd_ and bwd_ functions would not share adjoint stacks)."""
    x = point(shape)
    f = lambda v: np.sum(walk(v, 3))   # noqa: E731
    g = srcad.grad(f)
    num = numerical_grad(lambda v: np.sum(g(v)), (x,))
    np.testing.assert_allclose(srcad.grad(lambda v: np.sum(g(v)))(x), num, rtol=1e-5, atol=1e-6)
    if shape:
        H = srcad.hessian(f)(x)
        np.testing.assert_allclose(H.sum(axis=0), num, rtol=1e-5, atol=1e-6)
    h = lambda v: np.sum(walk_with_loop(v, 2))   # noqa: E731
    gh = srcad.grad(h)
    with pytest.raises(srcad.TransformError, match=r"test_replay.py:\d+: .*walk_with_loop"):
        srcad.grad(lambda v: np.sum(gh(v)))(x)
    with pytest.raises(srcad.TransformError, match=r"test_replay.py:\d+: .*walk_with_loop"):
        srcad.hessian(h)(np.ones(2))


def _frames():
    f, out = sys._getframe(), []
    while f is not None:
        out.append(f)
        f = f.f_back
    return out


# ---------------------------------------------------------------------- API entry points


def doubles_in_place(x):
    x *= 2
    return x * x


def doubles_by_index(x):
    x[0] = x[0] * 2.0
    return x * x


def doubles_in_place_sum(x):
    x *= 2
    return np.sum(np.sin(x) * x)


def doubles_by_index_sum(x):
    x[0] = x[0] * 2.0
    return np.sum(np.sin(x) * x)


@pytest.mark.parametrize("fn, scalar", [(doubles_in_place, doubles_in_place_sum),
                                        (doubles_by_index, doubles_by_index_sum)])
@pytest.mark.parametrize("shape", [(3,), (2, 2)])
def test_entry_points_never_pass_the_users_arrays(fn, scalar, shape):
    x = point(shape)
    keep = x.copy()
    xs = x.copy()
    expect_value = fn(xs)
    n = x.size
    for mode in ("auto", "forward", "reverse"):
        J = srcad.jacobian(fn, mode=mode)(x)
        num = np.stack([numerical_grad(lambda v, k=k: fn(v).reshape(-1)[k], (x,)).reshape(-1)
                        for k in range(n)]).reshape(shape + shape)
        np.testing.assert_allclose(J, num, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(x, keep)
    srcad.hessian(scalar)(x)
    np.testing.assert_array_equal(x, keep)
    value, _ = srcad.jvp(fn, (x,), (np.ones(shape),))
    np.testing.assert_allclose(value, expect_value)
    np.testing.assert_array_equal(x, keep)
    value, pullback = srcad.vjp(fn)(x)
    pullback(np.ones(shape))
    np.testing.assert_array_equal(x, keep)
    srcad.value_and_grad(scalar)(x)
    srcad.check_grad(scalar, x)
    np.testing.assert_array_equal(x, keep)
    srcad.jvp(fn, (x,), (None,))
    np.testing.assert_array_equal(x, keep)


def test_jacobian_of_in_place_doubling_is_8x():
    for mode in ("forward", "reverse"):
        x = np.array([1.0, 2.0, 3.0])
        np.testing.assert_allclose(srcad.jacobian(doubles_in_place, mode=mode)(x), np.diag([8.0, 16.0, 24.0]))
