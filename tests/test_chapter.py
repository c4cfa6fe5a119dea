"""The automatic-differentiation chapter's sections, one test each, checked against closed forms."""

import numpy as np
import pytest

import srcad

from chapter_function import chapter_f
from run_threads import run_threads


# --- A simple example -------------------------------------------------------------------------
def two_dot(x):
    return 2 * np.dot(x, x)


def total(x):
    return x.sum()


def test_simple_example_and_sum():
    x = np.arange(4.0)
    assert np.array_equal(srcad.grad(two_dot)(x), 4 * x)
    assert np.array_equal(srcad.grad(total)(x), np.ones(4))


# --- Backward for non-scalar variables ----------------------------------------------------------
def square(x):
    return x * x


def square_sum(u):
    return (u * u).sum()


def test_vector_output_is_differentiated_as_its_sum():
    x = np.arange(4.0)
    assert np.array_equal(srcad.grad(square)(x), srcad.grad(square_sum)(x))
    assert np.array_equal(srcad.grad(square)(x), 2 * x)


def test_vjp_takes_an_explicit_cotangent():
    x = np.array([0.5, -1.0, 2.0])
    value, pullback = srcad.vjp(square)(x)
    assert np.array_equal(value, x * x)
    v = np.array([1.0, 0.0, 3.0])
    assert np.allclose(pullback(v), 2 * x * v)
    assert np.allclose(pullback(np.ones(3)), srcad.grad(square)(x))
    with pytest.raises(ValueError, match="shape"):
        pullback(np.ones(2))


# --- Detaching computation ------------------------------------------------------------------------
def detached(x):
    y = x * x
    u = srcad.stop_gradient(y)
    z = u * x
    return z.sum()


def not_detached(x):
    y = x * x
    return y.sum()


def test_stop_gradient_is_the_chapters_detach():
    x = np.arange(4.0)
    u = x * x
    assert np.array_equal(srcad.grad(detached)(x), u)            # not 3 * x ** 2
    assert np.array_equal(srcad.grad(not_detached)(x), 2 * x)


def scaled_by_detached(x):
    return srcad.stop_gradient(x * x) * x


def only_detached(x):
    return np.sin(srcad.stop_gradient(x)) + x


def test_stop_gradient_has_zero_derivative_in_every_order():
    x = np.linspace(-1.0, 2.0, 4)
    assert np.allclose(srcad.grad(detached)(x), x * x)
    # d/dx sum(u * x) = u, a constant: its own derivative is zero.
    assert np.array_equal(srcad.grad(srcad.grad(detached))(x), np.zeros(4))
    assert srcad.grad(srcad.grad(scaled_by_detached))(1.5) == 0.0
    assert srcad.grad(only_detached)(0.3) == 1.0
    assert srcad.grad(srcad.grad(only_detached))(0.3) == 0.0
    assert srcad.grad(srcad.grad(srcad.grad(only_detached)))(0.3) == 0.0


# --- Control flow -------------------------------------------------------------------------------
@pytest.mark.parametrize("a", [np.float64(0.7), np.float64(-0.3), np.array(1.9), np.float64(1e-3)])
def test_control_flow_scalar(a):
    d = chapter_f(a)
    assert srcad.grad(chapter_f)(a) == pytest.approx(d / a, rel=1e-12)


def test_control_flow_vector_and_matrix():
    rng = np.random.default_rng(1)
    for shape in [(3,), (2, 3)]:
        a = rng.normal(size=shape)
        g = srcad.grad(chapter_f)(a)
        # f(a) = k * a with one k for all elements: the gradient of sum(f(a)) is k everywhere.
        k = chapter_f(a) / a
        assert np.allclose(k, k.flat[0])
        assert np.allclose(g, k)


# --- Training mode and prediction mode ------------------------------------------------------------
seen = []


def records_mode(x):
    seen.append(srcad.is_training())
    return x * 2.0


def test_is_training_only_while_srcad_runs_the_code():
    seen.clear()
    assert srcad.is_training() is False
    records_mode(1.0)
    srcad.grad(records_mode)(1.0)
    srcad.value_and_grad(records_mode)(1.0)
    value, pullback = srcad.vjp(records_mode)(1.0)
    pullback(1.0)
    records_mode(1.0)
    assert seen == [False, True, True, True, True, False]
    assert srcad.is_training() is False


def test_is_training_is_reset_after_an_exception():
    def bad(x):
        return np.log(x) + undefined_name  # noqa: F821
    with pytest.raises((srcad.TransformError, NameError)):
        srcad.grad(bad)(1.0)
    assert srcad.is_training() is False


def mode_probe(x, log):
    log.append(srcad.is_training())
    return x * x


def test_is_training_is_per_thread():
    training_log, plain_log = [], []

    def differentiate():
        for _ in range(300):
            assert srcad.grad(mode_probe)(1.5, training_log) == 3.0

    def plain():
        for _ in range(300):
            mode_probe(1.5, plain_log)

    run_threads(2, lambda k: (differentiate, plain)[k]())
    assert training_log == [True] * 300
    assert plain_log == [False] * 300


def dropout_net(w, x, rng):
    h = np.tanh(x * w)
    if srcad.is_training():
        keep = rng.random(h.shape) > 0.5
        h = h * keep / 0.5
    return np.sum(h)


def dropout_layer(h, rng):
    if srcad.is_training():
        keep = rng.random(h.shape) > 0.5
        h = h * keep / 0.5
    return h


def net_with_layer(w, x, rng):
    h = np.tanh(x * w)
    h = dropout_layer(h, rng)
    return np.sum(h)


@pytest.mark.parametrize("net", [dropout_net, net_with_layer], ids=["inline", "in-a-called-layer"])
def test_dropout_applies_only_while_training(net):
    """Dropout written in the function or in a layer it calls: one mask, drawn while training."""
    w, x = np.array([0.3, -0.2, 0.5, 1.0]), np.array([1.0, 2.0, -1.0, 0.5])
    g = srcad.grad(net)(w, x, np.random.default_rng(0))
    keep = np.random.default_rng(0).random(4) > 0.5
    assert np.allclose(g, x * (1 - np.tanh(x * w) ** 2) * keep / 0.5)
    # plain prediction: no dropout
    assert net(w, x, np.random.default_rng(0)) == pytest.approx(np.sum(np.tanh(x * w)))


# --- Exercise 2: running backward twice ---------------------------------------------------------
def test_calling_a_gradient_again_gives_the_same_answer():
    x = np.arange(4.0)
    df = srcad.grad(two_dot)
    first = df(x)
    first_copy = first.copy()
    second = df(x)
    assert np.array_equal(first, second) and np.array_equal(first, first_copy)
    first[:] = -1          # results are the caller's own arrays: changing one changes nothing else
    assert np.array_equal(df(x), 4 * x)
    value, pullback = srcad.vjp(square)(x)
    assert np.array_equal(pullback(np.ones(4)), pullback(np.ones(4)))

