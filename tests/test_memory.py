"""Peak memory of generated gradients, and the rewrites that keep it low (issue 15, items 5 and 8).

srcad/optimize.py frees arrays after their last read (``del``), writes single-use temporaries where
they are read (NumPy then reuses a large intermediate in place) and recomputes cheap values
(``-x``) at their reads instead of holding them from the forward sweep to the backward one. Peaks
are measured with tracemalloc (NumPy reports its buffers to it) on arrays above NumPy's
temporary-elision threshold (256 KiB), against careful hand-written gradients.
"""

import os
import sys

import numpy as np
import pytest

import srcad
from fd_points import numeric_grad

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))
from memory import peak_bytes  # noqa: E402


def peak(fn, *args):
    """tracemalloc peak of ``fn(*args)`` above what was allocated before (benchmarks/memory.py)."""
    return peak_bytes(fn, args)


def ew(x):
    return np.sum(np.sin(x) * np.exp(-x * x) + x ** 2)


def ew_hand(x):
    e = np.exp(-x * x)
    return (np.cos(x) - 2.0 * x * np.sin(x)) * e + 2.0 * x


def lse(x):
    m = np.max(x, axis=1, keepdims=True)
    return np.sum(m[:, 0] + np.log(np.sum(np.exp(x - m), axis=1)))


def lse_hand(x):
    e = np.exp(x - np.max(x, axis=1, keepdims=True))
    return e / np.sum(e, axis=1, keepdims=True)


def softmax_xent(W, X, Y):
    Z = X @ W
    m = np.max(Z, axis=1, keepdims=True)
    S = Z - m
    logp = S - np.log(np.sum(np.exp(S), axis=1, keepdims=True))
    return -np.sum(Y * logp) / X.shape[0]


def softmax_xent_hand(W, X, Y):
    Z = X @ W
    E = np.exp(Z - np.max(Z, axis=1, keepdims=True))
    P = E / np.sum(E, axis=1, keepdims=True)
    return X.T @ ((P - Y) / X.shape[0])


def _xent_args():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((4000, 20))
    W = rng.standard_normal((20, 30)) / 5
    Y = np.eye(30)[rng.integers(0, 30, 4000)]
    return W, X, Y


@pytest.mark.parametrize("f, hand, args", [
    (ew, ew_hand, (np.random.default_rng(0).standard_normal(200_000),)),
    (lse, lse_hand, (np.random.default_rng(1).standard_normal((2000, 100)),)),
    (softmax_xent, softmax_xent_hand, _xent_args()),
], ids=["elementwise", "logsumexp", "softmax_xent"])
def test_peak_within_a_quarter_of_the_hand_gradient(f, hand, args):
    g = srcad.grad(f)
    np.testing.assert_allclose(g(*args), hand(*args), rtol=1e-7, atol=1e-10)
    ours = min(peak(g, *args) for _ in range(2))
    theirs = min(peak(hand, *args) for _ in range(2))
    assert ours <= 1.25 * theirs, (ours, theirs)


def test_dead_arrays_are_freed_and_temporaries_fused():
    x = np.ones(5)
    src = srcad.source(srcad.grad(ew), x)
    assert "del sin_1" in src
    assert "exp_1 = np.exp(-x * x)" in src        # the single-use product written where it is read
    assert "neg_1" not in src                     # -x recomputed at its read, not held
    assert "= None" not in src
    # the generic variant (ranks unknown) frees nothing: only arrays are worth a line
    assert "del " not in srcad.source(srcad.grad(ew))


def loss_named(x):
    y = np.tanh(x)
    loss = np.sum(y * y)
    return loss


def test_seed_keyword_and_titles():
    x = np.linspace(-1.0, 1.0, 4)
    src = srcad.source(srcad.grad(loss_named), x)
    assert src.startswith("def grad_loss_named(x, *, dout=1.0):")
    vg = srcad.value_and_grad(loss_named)
    vg(x)
    assert srcad.source(vg, x).startswith("def value_and_grad_loss_named(x, *, dout=1.0):")
    np.testing.assert_allclose(vg(x)[1], srcad.grad(loss_named)(x))


def own_dout(x):
    dout = 2.0
    return np.sum(np.sin(x) * dout)


def test_a_user_variable_named_like_the_seed():
    x = np.linspace(-1.0, 1.0, 4)
    np.testing.assert_allclose(srcad.grad(own_dout)(x), 2.0 * np.cos(x))


def shape_stand_in(x):
    return np.sum(x * np.sin(x))


def test_shape_stand_ins_say_what_they_are():
    src = srcad.source(srcad.grad(shape_stand_in), np.ones(3))
    assert "\n    mul_1 = " not in src              # no `out = x` that reads like a bug
    assert "unreduce(dout, x, None, False)" in src


# Exactness: the moves must not read a value after something changed it.

def written_after_cheap_temp(x):
    y = x * 1.0
    z = np.sin(-y) * y            # -y is read by the backward sweep (cos(-y))
    y[0] = 3.0                    # ... and y changes in place afterwards
    return np.sum(z) + np.sum(y * y)


def written_in_loop(x):
    y = x * 2.0
    t = np.cos(-y)                # -y is read by the backward sweep (sin(-y))
    for i in range(2):
        y[i] = y[i] * 0.5         # y changes in place afterwards
    return np.sum(t * y)


def loop_after_temp(x):
    t = np.cos(x) * 3.0
    s = x
    for _ in range(3):
        s = np.sin(s) * 0.9
    return np.sum(s * t) + np.sum(-x * t)


def matrix_chain(A, B):
    H = np.tanh(A @ B + 1.0)
    return np.sum(H * -H) + np.sum(H @ B.T)


@pytest.mark.parametrize("f, shapes", [
    (written_after_cheap_temp, [(4,), (3, 2)]),
    (written_in_loop, [(3,), (2, 3)]),
    (loop_after_temp, [(), (5,), (2, 3)]),
    (ew, [(), (6,), (2, 3), (1, 4)]),
    (lse, [(3, 4), (1, 5)]),
])
def test_rewritten_gradients_agree_with_central_differences(f, shapes):
    rng = np.random.default_rng(7)
    for shape in shapes:
        x = rng.uniform(0.2, 0.9, size=shape) if shape else 0.6
        got = srcad.grad(f)(np.copy(x) if shape else x)
        want = numeric_grad(lambda v: f(np.copy(v) if shape else v), x)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8)


def test_matrix_chain_both_arguments_and_second_order():
    rng = np.random.default_rng(2)
    A, B = rng.standard_normal((3, 4)) / 2, rng.standard_normal((4, 4)) / 2
    srcad.check_grad(matrix_chain, A, B, wrt=(0, 1))
    # the rewritten gradient is itself differentiated (del statements are memory hints)
    h = srcad.hessian(lambda a: matrix_chain(a.reshape(3, 4), B))(A.ravel())
    eps = 1e-5
    g = srcad.grad(lambda a: matrix_chain(a.reshape(3, 4), B))
    num = np.stack([(g(A.ravel() + eps * e) - g(A.ravel() - eps * e)) / (2 * eps) for e in np.eye(12)])
    np.testing.assert_allclose(h, num, rtol=1e-5, atol=1e-7)
    v = np.linspace(-1, 1, 5)
    h2 = srcad.hessian(ew)(v)
    num2 = np.stack([numeric_grad(lambda u: ew_hand(u)[k], v) for k in range(5)])
    np.testing.assert_allclose(h2, num2, rtol=1e-6, atol=1e-8)
    d2 = srcad.grad(srcad.grad(lambda s: np.sum(np.sin(s) * np.exp(-s * s) + s ** 2)))(0.3)
    num3 = (ew_hand(0.3 + 1e-6) - ew_hand(0.3 - 1e-6)) / 2e-6
    assert d2 == pytest.approx(num3, rel=1e-6)


# Values read only for their shape (optimize.py's stand-ins): ``np.shape(v)`` and ``v.shape`` are
# shape reads, and a one-input ufunc's result stands in by its input.

def read_for_shape(x):
    h = np.exp(x)
    return np.sum(np.sin(x) * h.shape[0])


def log_for_shape(x):
    s = np.sum(np.exp(x), axis=1)
    return np.sum(np.log(s) + x[:, 0])


@pytest.mark.parametrize("f, shapes", [
    (read_for_shape, [(3,), (2, 3)]),
    (log_for_shape, [(3, 4), (1, 5), (4, 1)]),
    (lse, [(3, 4), (5, 1)]),
])
def test_shape_only_reads_compute_nothing(f, shapes):
    rng = np.random.default_rng(5)
    for shape in shapes:
        x = rng.uniform(0.2, 0.9, size=shape)
        src = srcad.source(srcad.grad(f), x)
        fwd = src.split("# backward sweep")[0]
        assert "np.log(" not in fwd and ("np.exp(" not in fwd or f is not read_for_shape), src
        np.testing.assert_allclose(srcad.grad(f)(x), numeric_grad(f, x), rtol=1e-6, atol=1e-8)
        x32 = x.astype(np.float32)   # the stand-in keeps the adjoint's dtype
        assert srcad.grad(f)(x32).dtype == np.float32
