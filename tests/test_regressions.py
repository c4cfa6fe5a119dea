"""Bugs found by the random-program generator (tests/programs.py), minimised by hand.

Each test is named after the bug; docs/reliability.md lists them with their status.
"""

import numpy as np
import pytest

import srcad


def _writes_into_param(a, b):
    a[1] = b * 2.0
    return np.sum(a)


def helper_writes_into_callers_array(x, t):
    s = _writes_into_param(x, t)
    return s + np.sum(x)        # Python: the helper changed x[1]


def _copies_then_writes(a, b):
    a = a.copy()
    a[1] = b * 2.0
    return np.sum(a)


def helper_copies_first(x, t):
    s = _copies_then_writes(x, t)
    return s + np.sum(x)


def test_helper_writing_into_its_parameter():
    """Bug 1: a helper's derivative wrote into a private copy of the caller's array, so the caller
    went on with the old values: srcad gave value 5.0 / gradient [2, 1, 2, 2] where Python gives
    [2, 0, 2, 2]. The helper is now inlined and the write is the caller's (issue 11, class 3); the
    user's array is still never changed. Forward mode inlines helpers too (issue 13) and agrees."""
    x = np.ones(4)
    value, g = srcad.value_and_grad(helper_writes_into_callers_array, wrt=(0, 1))(x, 0.5)
    assert value == helper_writes_into_callers_array(x.copy(), 0.5)
    np.testing.assert_allclose(g[0], [2.0, 0.0, 2.0, 2.0])
    np.testing.assert_allclose(g[1], 4.0)          # x[1] = 2 t is summed twice
    np.testing.assert_array_equal(x, np.ones(4))
    value, tangent = srcad.jvp(helper_writes_into_callers_array, (x, 0.5), (np.ones(4), 1.0))
    assert value == helper_writes_into_callers_array(x.copy(), 0.5)
    np.testing.assert_allclose(tangent, np.sum(g[0]) + g[1])
    np.testing.assert_array_equal(x, np.ones(4))


def test_helper_copying_its_parameter_first_is_fine():
    srcad.check_grad(helper_copies_first, np.ones(4), 0.5, wrt=(0, 1))


def value_restored_by_pop(x):
    s = x[0] * 1.0
    for i in range(3):
        s = np.sin(s) * x[i]       # s is saved before each overwrite and popped going back
    return s


def value_restored_in_place(x):
    v = x * 1.0
    for i in range(3):
        v[i] = v[i] * v[i + 1]     # old v[i] is restored in place going back
    return v


def value_is_mutated_input(x):
    x[-1] += np.sum(x[0:3])        # srcad copies x; the return name is an alias of the copy
    return x


@pytest.mark.parametrize("fn", [value_restored_by_pop, value_restored_in_place, value_is_mutated_input])
def test_value_and_grad_value_after_backward_restores(fn):
    """Bug 2: value_and_grad returned the returned variable *after* the backward sweep had
    restored its old values (``s = stack.pop()`` or ``v[i] = stack.pop()``): the gradient was
    right but the value was an earlier iterate (0.5 instead of 0.697 for value_restored_by_pop).
    Found as ``while ...: s1 = x[-1]`` in a random program."""
    x = np.array([0.5, 1.5, 2.0, 3.0])
    value, g = srcad.value_and_grad(fn)(x.copy())
    np.testing.assert_allclose(value, fn(x.copy()), rtol=1e-14)
    np.testing.assert_allclose(g, srcad.grad(fn)(x.copy()), rtol=1e-14)
    np.testing.assert_allclose(g, srcad.numerical_grad(lambda v: fn(v.copy()), (x,)), rtol=1e-6)


def overwritten_by_a_constant_array(x):
    h = np.sin(x)
    s = np.sum(h * 3.0)
    h = np.zeros(3)          # no derivative flows through: the older h's adjoint starts from zero
    h = h + x
    return s + np.sum(h * h)


def test_adjoint_reset_by_a_definition_without_derivative():
    # found while differentiating a second derivative a third time: `dv = zeros_like(v)` kept the
    # adjoint of the overwritten variable alive
    srcad.check_grad(overwritten_by_a_constant_array, np.array([0.1, 0.2, 0.3]))


def matmul_in_a_branch(W, X, t):
    Z = X @ W
    if t > 0:
        loss = np.sum(Z * Z)
    else:
        loss = t * 2.0
    return loss


def test_zero_adjoint_of_a_branch_not_taken_has_the_right_shape():
    # the untaken branch left dZ as a scalar 0.0 placeholder, which `X.T @ dZ` could not use
    W, X = np.ones((3, 2)), np.ones((4, 3))
    np.testing.assert_array_equal(srcad.grad(matmul_in_a_branch)(W, X, -1.0), np.zeros((3, 2)))
    srcad.check_grad(matmul_in_a_branch, W, X, 1.0)


def column_of_a_helper_result(W, X):
    h = np.tanh(X @ W)
    return np.sum(h[:, 0] ** 2)


def test_forward_mode_subscript_with_slices():
    # the forward code passed the index `:, 0` to tuple_get as written (a syntax error)
    W, X = np.array([[0.3, -0.2], [0.1, 0.4]]), np.array([[1.0, 2.0], [0.5, -1.0], [0.2, 0.3]])
    t = np.ones_like(W)
    value, tangent = srcad.jvp(column_of_a_helper_result, (W, X), (t, None))
    assert np.isclose(tangent, np.sum(srcad.grad(column_of_a_helper_result)(W, X) * t))
