"""grad(grad(f)) and deeper, through if / while / for, against closed forms and finite differences."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import srcad


def f_poly(x):
    return x ** 4 - 3.0 * x ** 2 + x


def f_sin(x):
    return np.sin(x) * x


def f_exp_tanh(x):
    return np.exp(np.tanh(x))


def f_if(x):
    if x > 0:
        y = x ** 3
    else:
        y = np.sin(x)
    return y


def f_while(x):
    y = x
    n = 0
    while n < 3:
        y = y * x
        n = n + 1
    return y


def f_for(x):
    y = 1.0
    for i in range(4):
        y = y * x + np.sin(x)
    return y


def f_while_value(x):
    # the trip count depends on x: piecewise quadratic
    y = x
    while np.abs(y) < 10:
        y = y * 2 + x * x
    return y


def f_for_break(x):
    y = x
    for i in range(10):
        y = y * np.cos(x)
        if i == 2:
            break
    return y


def derivs(f, order):
    out = [f]
    for _ in range(order):
        out.append(srcad.grad(out[-1]))
    return out


def central(f, x, eps=1e-4):
    return (f(x + eps) - f(x - eps)) / (2 * eps)


CLOSED = {
    # f, first, second, third derivative
    "poly": (f_poly, lambda x: 4 * x ** 3 - 6 * x + 1, lambda x: 12 * x ** 2 - 6, lambda x: 24 * x),
    "sin": (f_sin, lambda x: np.cos(x) * x + np.sin(x), lambda x: 2 * np.cos(x) - x * np.sin(x),
            lambda x: -3 * np.sin(x) - x * np.cos(x)),
    "while": (f_while, lambda x: 4 * x ** 3, lambda x: 12 * x ** 2, lambda x: 24 * x),
}


@pytest.mark.parametrize("name", sorted(CLOSED))
@pytest.mark.parametrize("x", [-1.3, 0.4, 2.1])
def test_closed_forms_to_third_order(name, x):
    f, *exact = CLOSED[name]
    fs = derivs(f, 3)
    for k in range(1, 4):
        assert fs[k](x) == pytest.approx(exact[k - 1](x), rel=1e-10, abs=1e-10), (name, k)


def test_if_branches_to_third_order():
    d1, d2, d3 = derivs(f_if, 3)[1:]
    x = 1.3      # x ** 3
    assert (d1(x), d2(x), d3(x)) == pytest.approx((3 * x * x, 6 * x, 6.0))
    x = -0.7     # sin(x)
    assert (d1(x), d2(x), d3(x)) == pytest.approx((np.cos(x), -np.sin(x), -np.cos(x)))


@pytest.mark.parametrize("f", [f_for, f_while_value, f_for_break, f_exp_tanh], ids=lambda f: f.__name__)
@pytest.mark.parametrize("x", [-0.7, 0.45, 1.3])
def test_each_order_is_the_derivative_of_the_previous(f, x):
    fs = derivs(f, 3)
    for k in range(1, 4):
        assert fs[k](x) == pytest.approx(central(fs[k - 1], x), rel=1e-5, abs=1e-6), (f.__name__, k)


def test_fourth_order_polynomial():
    d4 = derivs(f_poly, 4)[4]
    assert d4(0.3) == pytest.approx(24.0)


@given(st.floats(-2.0, 2.0, allow_nan=False).filter(lambda v: abs(v) > 1e-3))
def test_second_derivative_through_loops_matches_differences(x):
    d1, d2 = derivs(f_for, 2)[1:]
    assert d2(x) == pytest.approx(central(d1, x), rel=1e-5, abs=1e-5)


def test_hessian_diagonal_of_vector_function():
    # grad(grad(f)) of a vector function differentiates sum(grad f): for a separable f the
    # Hessian is diagonal and that sum is the diagonal.
    def f(x):
        return np.sum(np.sin(x) * x)
    x = np.linspace(-1.0, 1.0, 5)
    assert np.allclose(srcad.grad(srcad.grad(f))(x), 2 * np.cos(x) - x * np.sin(x))


def test_second_derivative_source_compiles_and_runs():
    d2 = srcad.grad(srcad.grad(f_for))
    src = srcad.source(d2)
    assert src.startswith("def grad_grad_f_for(")
    ns = {}
    code = compile(src, "<second derivative>", "exec")
    from srcad.runtime import RUNTIME_NAMES
    ns.update(RUNTIME_NAMES)
    ns["np"] = np
    exec(code, ns)
    assert ns["grad_grad_f_for"](0.8) == pytest.approx(d2(0.8))


def test_reversed_range_is_a_range_loop():
    # Regression: the backward sweep of generated code loops over reversed(range(n)); differentiating
    # it again (third order) used to index a reversed() iterator ("range_iterator has no len()").
    def g(x):
        y = x
        for i in reversed(range(3)):
            y = y * x + i
        return y
    # y = ((x*x + 2)*x + 1)*x + 0 = x^4 + 2x^2 + x
    assert srcad.grad(g)(1.5) == pytest.approx(4 * 1.5 ** 3 + 4 * 1.5 + 1)
    assert "range(3)[::-1]" in srcad.source(srcad.grad(srcad.grad(g)))


def test_third_order_through_a_loop_keeps_the_adjoint_stack_balanced():
    # Regression: a pop whose adjoint was dead pushed nothing onto the adjoint stack while the
    # matching push's adjoint always popped: "pop from empty list" at third order.
    d3 = derivs(f_while, 3)[3]
    assert d3(1.3) == pytest.approx(24 * 1.3)


def test_second_derivative_costs_more_than_the_first():
    # The chapter's exercise 1: the second derivative differentiates the first one's code, which
    # contains the forward sweep and the backward sweep: it is longer.
    d1, d2 = derivs(f_for, 2)[1:]
    n1 = len(srcad.source(d1).splitlines())
    n2 = len(srcad.source(d2).splitlines())
    assert n2 > 1.5 * n1
