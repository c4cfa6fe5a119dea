"""Whole-expression patterns (srcad/patterns.py, issue 15 item 6): the shift of a stable logsumexp,
log-softmax or softmax is stopped where every read of it lies in such an expression.

Each case is checked, over several shapes, against central differences in float64 and against the
generic path (the pass switched off), in reverse mode, forward mode and to second order; the cases
the pass must leave alone are checked to keep the generic path (and to be right)."""

import numpy as np
import pytest
import scipy.special

import srcad
from srcad import patterns, pipeline
from fd_points import numeric_grad


def lse_rows(x):
    m = np.max(x, axis=1, keepdims=True)
    return np.sum(np.sin(m[:, 0] + np.log(np.sum(np.exp(x - m), axis=1))))


def lse_keep(x):
    m = np.max(x, axis=-1, keepdims=True)
    r = m + np.log(np.sum(np.exp(x - m), axis=-1, keepdims=True))
    return np.sum(np.cos(r))


def lse_all(x):
    m = np.max(x)
    return np.log(np.sum(np.exp(x - m))) + m


def log_softmax(x):
    m = x.max(axis=1, keepdims=True)
    s = x - m
    logp = s - np.log(np.sum(np.exp(s), axis=1, keepdims=True))
    return np.sum(np.sin(x) * logp)


def softmax(x):
    m = np.amax(x, axis=0, keepdims=True)
    e = np.exp(x - m)
    p = e / np.sum(e, axis=0, keepdims=True)
    return np.sum(p * p * np.cos(x))


def xent(Z, Y):
    m = np.max(Z, axis=1, keepdims=True)
    S = Z - m
    logp = S - np.log(np.sum(np.exp(S), axis=1, keepdims=True))
    return -np.sum(Y * logp) / Z.shape[0]


def lse_in_loop(x):
    total = 0.0
    for i in range(3):
        m = np.max(x * (i + 1.0), axis=1, keepdims=True)
        total = total + np.sum(m[:, 0] + np.log(np.sum(np.exp(x * (i + 1.0) - m), axis=1)))
    return total


# ---- left alone: the shift is read elsewhere, the axes differ, the shift is part of x ----------

def shift_read_elsewhere(x):
    m = np.max(x, axis=1, keepdims=True)
    lse = m[:, 0] + np.log(np.sum(np.exp(x - m), axis=1))
    return np.sum(lse) + np.sum(m * m)


def other_axis(x):
    m = np.max(x, axis=0, keepdims=True)
    return np.sum(np.log(np.sum(np.exp(x - m), axis=1, keepdims=True)) + m)


def shifted_input_depends_on_shift(x):
    m = np.max(x, axis=1, keepdims=True)
    y = x + m
    return np.sum(m[:, 0] + np.log(np.sum(np.exp(y - m), axis=1)))


def no_keepdims_softmax(x):
    m = np.max(x, axis=1)
    e = np.exp(x - m)
    return np.sum(e / np.sum(e, axis=1))


def intermediate_read_elsewhere(x):
    m = np.max(x, axis=1, keepdims=True)
    e = np.exp(x - m)
    p = e / np.sum(e, axis=1, keepdims=True)
    return np.sum(p * np.sin(x)) + np.sum(e)


FIRES = [
    (lse_rows, [(3, 4), (1, 5), (4, 1), (2, 6)]),
    (lse_keep, [(5,), (3, 4), (2, 3, 4)]),
    (lse_all, [(), (5,), (2, 3)]),
    (log_softmax, [(3, 4), (1, 3), (5, 1)]),
    (softmax, [(4,), (3, 4), (2, 2, 3)]),
    (lse_in_loop, [(2, 3), (3, 1)]),
]
LEFT_ALONE = [
    (shift_read_elsewhere, [(3, 4)]),
    (other_axis, [(3, 4), (4, 4)]),
    (shifted_input_depends_on_shift, [(3, 4)]),
    (no_keepdims_softmax, [(4, 4)]),
    (intermediate_read_elsewhere, [(3, 4)]),
]


def point(shape, seed=0):
    r = np.random.default_rng(seed + len(shape))
    x = r.normal(0.0, 1.5, size=shape)
    return float(x) if shape == () else x


def numeric_jacobian(g, x, eps=1e-5):
    x = np.asarray(x, dtype=np.float64)
    cols = []
    for i in np.ndindex(*x.shape):
        e = np.zeros_like(x)
        e[i] = eps
        xp, xm = (x + e, x - e) if x.shape else (float(x + e), float(x - e))
        cols.append((np.asarray(g(xp)) - np.asarray(g(xm))) / (2 * eps))
    return np.stack(cols, axis=-1).reshape(x.shape + x.shape) if x.shape else cols[0]


def generic(thunk):
    """``thunk()`` with the pattern pass off (and the cache cleared around it)."""
    patterns.enabled = False
    pipeline.clear_cache()
    try:
        return thunk()
    finally:
        patterns.enabled = True
        pipeline.clear_cache()


def stopped(f, x):
    return "stop_gradient(" in srcad.source(srcad.grad(f), x)


CASES = [(f, s) for f, shapes in FIRES for s in shapes]
ALONE = [(f, s) for f, shapes in LEFT_ALONE for s in shapes]


@pytest.mark.parametrize("f,shape", CASES, ids=[f"{f.__name__}-{s}" for f, s in CASES])
def test_reverse_matches_differences_and_generic_path(f, shape):
    x = point(shape)
    g = srcad.grad(f)(x)
    assert stopped(f, x), "the pattern was not recognised"
    np.testing.assert_allclose(g, numeric_grad(f, x), rtol=1e-6, atol=1e-8)
    ref = generic(lambda: srcad.grad(f)(x))
    np.testing.assert_allclose(g, ref, rtol=1e-12, atol=1e-13)
    assert np.shape(g) == np.shape(x)


@pytest.mark.parametrize("f,shape", CASES, ids=[f"{f.__name__}-{s}" for f, s in CASES])
def test_forward_matches_reverse(f, shape):
    x = point(shape)
    v = point(shape, seed=7)
    _, t = srcad.jvp(f, (x,), (v,))
    assert "stop_gradient(" in srcad.forward_source(f)
    np.testing.assert_allclose(t, np.sum(srcad.grad(f)(x) * v), rtol=1e-10, atol=1e-12)
    ref = generic(lambda: srcad.jvp(f, (x,), (v,))[1])
    np.testing.assert_allclose(t, ref, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("f,shape", [c for c in CASES if c[0] is not lse_in_loop],
                         ids=[f"{f.__name__}-{s}" for f, s in CASES if f is not lse_in_loop])
def test_second_order(f, shape):
    x = point(shape)
    h = srcad.hessian(f)(x)
    np.testing.assert_allclose(h, numeric_jacobian(srcad.grad(f), x), rtol=1e-6, atol=1e-7)
    ref = generic(lambda: srcad.hessian(f)(x))
    np.testing.assert_allclose(h, ref, rtol=1e-10, atol=1e-12)
    rr = srcad.hessian(f, mode="reverse")(x)
    np.testing.assert_allclose(rr, h, rtol=1e-10, atol=1e-12)


def test_cross_entropy_in_both_arguments():
    r = np.random.default_rng(3)
    Z = r.normal(size=(6, 4))
    Y = np.eye(4)[r.integers(0, 4, size=6)] * 0.7 + 0.075
    dZ, dY = srcad.grad(xent, wrt=(0, 1))(Z, Y)
    assert "stop_gradient(" in srcad.source(srcad.grad(xent, wrt=(0, 1)), Z, Y)
    np.testing.assert_allclose(dZ, numeric_grad(lambda z: xent(z, Y), Z), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(dY, numeric_grad(lambda y: xent(Z, y), Y), rtol=1e-6, atol=1e-9)
    P = np.exp(Z) / np.sum(np.exp(Z), axis=1, keepdims=True)
    np.testing.assert_allclose(dZ, (P * Y.sum(axis=1, keepdims=True) - Y) / 6, rtol=1e-12, atol=1e-15)
    ref = generic(lambda: srcad.grad(xent, wrt=(0, 1))(Z, Y))
    for a, b in zip((dZ, dY), ref):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


def test_same_gradient_as_scipy_logsumexp():
    def with_scipy(x):
        return np.sum(np.sin(scipy.special.logsumexp(x, axis=1)))
    x = point((4, 5))
    np.testing.assert_allclose(srcad.grad(lse_rows)(x), srcad.grad(with_scipy)(x), rtol=1e-12, atol=1e-14)


def test_large_values_stay_finite():
    x = np.array([[1000.0, 999.0, 0.0], [-1000.0, -1001.0, -1000.5]])
    g = srcad.grad(lse_rows)(x)
    assert np.all(np.isfinite(g))
    lse = scipy.special.logsumexp(x, axis=1)
    np.testing.assert_allclose(g, np.cos(lse)[:, None] * np.exp(x - lse[:, None]), rtol=1e-12)


@pytest.mark.parametrize("f,shape", ALONE, ids=[f"{f.__name__}-{s}" for f, s in ALONE])
def test_left_to_the_generic_path(f, shape):
    x = point(shape)
    assert not stopped(f, x)
    assert "stop_gradient(" not in srcad.forward_source(f)
    np.testing.assert_allclose(srcad.grad(f)(x), numeric_grad(f, x), rtol=1e-6, atol=1e-8)
    _, t = srcad.jvp(f, (x,), (np.ones_like(x),))
    np.testing.assert_allclose(t, np.sum(numeric_grad(f, x)), rtol=1e-6, atol=1e-8)


def test_the_benchmark_cases_take_the_pattern():
    import os
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))
    import cases
    for name in ("mlp", "logsumexp"):
        case = cases.CASES_BY_NAME[name]
        args = case.inputs()
        g = srcad.grad(case.f, wrt=case.wrt)
        src = srcad.source(g, *args)
        assert "stop_gradient(" in src and "extreme_adjoint" not in src, src
        got = g(*args)
        got = got if isinstance(got, tuple) else (got,)
        hand = case.grad_hand(*args)
        hand = hand if isinstance(hand, tuple) else (hand,)
        for a, b in zip(got, hand):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-14)


# ---- log-softmax and softmax cross-entropy as one call each (log_softmax, softmax_xent) ---------
# Each fires case takes (Z, Y) and is differentiated w.r.t. Z (and Y where the labels are active).

def ce_shifted(Z, Y):
    m = np.max(Z, axis=1, keepdims=True)
    S = Z - m
    logp = S - np.log(np.sum(np.exp(S), axis=1, keepdims=True))
    return -np.sum(Y * logp) / Z.shape[0]


def ce_plain_swapped(Z, Y):
    logp = Z - np.log(np.sum(np.exp(Z), axis=-1, keepdims=True))
    return -np.sum(logp * Y)


def ce_axis0(Z, Y):
    logp = Z - np.log(np.sum(np.exp(Z), axis=0, keepdims=True))
    return np.sum(Y * logp).sum() * 0.5


def ce_shift_other_axis(Z, Y):
    m = np.max(Z, axis=0, keepdims=True)     # not constant along the softmax's axis: not stopped
    S = Z - m
    logp = S - np.log(np.sum(np.exp(S), axis=1, keepdims=True))
    return -np.sum(Y * logp)


def ce_method_sum(Z, Y):
    logp = Z - np.log(np.exp(Z).sum(axis=1, keepdims=True))
    return -(Y * logp).sum()


def ls_read_elsewhere(Z, Y):
    logp = Z - np.log(np.sum(np.exp(Z), axis=1, keepdims=True))
    return np.sum(Y * logp) + np.sum(np.sin(logp))


def ls_all(Z, Y):
    logp = Z - np.log(np.sum(np.exp(Z)))
    return np.sum(np.cos(logp) * Y)


def ls_row_sums(Z, Y):
    logp = Z - np.log(np.sum(np.exp(Z), axis=1, keepdims=True))
    return np.sum(np.sum(Y * logp, axis=1) ** 2)


# left alone: an intermediate read elsewhere, keepdims False, the input changed in between
def ls_exp_read_elsewhere(Z, Y):
    e = np.exp(Z)
    logp = Z - np.log(np.sum(e, axis=1, keepdims=True))
    return np.sum(Y * logp) + np.sum(e)


def ls_keepdims_false(Z, Y):
    logp = Z - np.log(np.sum(np.exp(Z), axis=1))   # broadcasts along the other axis: not log-softmax
    return np.sum(Y * logp)


def ls_input_changed(Z, Y):
    e = np.exp(Z)
    Z = Z * 2.0
    logp = Z - np.log(np.sum(e, axis=1, keepdims=True))
    return np.sum(Y * logp)


def ce_labels_changed(Z, Y):
    logp = Z - np.log(np.sum(np.exp(Z), axis=1, keepdims=True))
    Y = Y * 2.0
    return np.sum(Y * logp)


LABELS_SAME = "same"
WHOLE = [   # (function, helper expected in the source, [(Z shape, Y shape)])
    (ce_shifted, "softmax_xent", [((3, 4), (3, 4)), ((1, 5), (1, 5)), ((4, 1), (4, 1)), ((3, 4), (4,))]),
    (ce_plain_swapped, "softmax_xent", [((5,), (5,)), ((2, 3), (2, 3)), ((2, 3, 4), (3, 1))]),
    (ce_axis0, "softmax_xent", [((3, 4), (3, 4)), ((4, 2), (1, 2))]),
    (ce_method_sum, "softmax_xent", [((3, 4), (3, 4))]),
    (ce_shift_other_axis, "softmax_xent", [((3, 4), (3, 4))]),
    (ls_read_elsewhere, "log_softmax", [((3, 4), (3, 4))]),
    (ls_all, "log_softmax", [((3, 4), (3, 4)), ((5,), ())]),
    (ls_row_sums, "log_softmax", [((3, 4), (3, 4))]),
]
WHOLE_ALONE = [
    (ls_exp_read_elsewhere, [((3, 4), (3, 4))]),
    (ls_keepdims_false, [((4, 4), (4, 4))]),
    (ls_input_changed, [((3, 4), (3, 4))]),
    (ce_labels_changed, [((3, 4), (3, 4))]),   # log_softmax, but not the cross-entropy
]
WCASES = [(f, h, zs, ys) for f, h, shapes in WHOLE for zs, ys in shapes]


def labels(shape, seed=4):
    r = np.random.default_rng(seed)
    y = r.uniform(0.1, 1.0, size=shape)
    return float(y) if shape == () else y


@pytest.mark.parametrize("f,helper,zs,ys", WCASES, ids=[f"{f.__name__}-{z}-{y}" for f, _, z, y in WCASES])
def test_whole_expression_both_modes(f, helper, zs, ys):
    Z, Y = point(zs), labels(ys)
    df = srcad.grad(f, wrt=(0, 1))
    src = srcad.source(df, Z, Y)
    assert helper in src, src
    if helper == "log_softmax":
        assert "softmax_xent" not in src
    if f is ce_shift_other_axis:
        assert "stop_gradient" not in src and "extreme_adjoint" in src
    dZ, dY = df(Z, Y)
    np.testing.assert_allclose(dZ, numeric_grad(lambda z: f(z, Y), Z), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(dY, numeric_grad(lambda y: f(Z, y), Y), rtol=1e-6, atol=1e-8)
    ref = generic(lambda: srcad.grad(f, wrt=(0, 1))(Z, Y))
    for a, b in zip((dZ, dY), ref):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)
        assert np.shape(a) == np.shape(b)
    np.testing.assert_allclose(srcad.value_and_grad(f)(Z, Y)[0], f(Z, Y), rtol=0, atol=0)
    # forward mode, both inputs
    vZ, vY = point(zs, seed=7), labels(ys, seed=8)
    val, t = srcad.jvp(f, (Z, Y), (vZ, vY))
    assert helper in srcad.forward_source(f)
    assert val == f(Z, Y)
    np.testing.assert_allclose(t, np.sum(dZ * vZ) + np.sum(dY * vY), rtol=1e-10, atol=1e-12)
    ref = generic(lambda: srcad.jvp(f, (Z, Y), (vZ, vY))[1])
    np.testing.assert_allclose(t, ref, rtol=1e-11, atol=1e-12)


WSECOND = [c for c in WCASES if np.prod(c[2]) <= 12 and c[3] == c[2]][:5] + [WCASES[3]]


@pytest.mark.parametrize("f,helper,zs,ys", WSECOND, ids=[f"{f.__name__}-{z}-{y}" for f, _, z, y in WSECOND])
def test_whole_expression_second_order(f, helper, zs, ys):
    Z, Y = point(zs), labels(ys)
    h = srcad.hessian(lambda z: f(z, Y))(Z)
    np.testing.assert_allclose(h, numeric_jacobian(srcad.grad(lambda z: f(z, Y)), Z), rtol=1e-6, atol=1e-7)
    ref = generic(lambda: srcad.hessian(lambda z: f(z, Y))(Z))
    np.testing.assert_allclose(h, ref, rtol=1e-10, atol=1e-12)
    rr = srcad.hessian(lambda z: f(z, Y), mode="reverse")(Z)
    np.testing.assert_allclose(rr, h, rtol=1e-10, atol=1e-12)
    # the mixed second derivative d/dY (d/dZ), through the adjoint's labels argument
    def dz_dot(y):
        return np.sum(srcad.grad(f)(Z, y) * np.cos(Z))
    np.testing.assert_allclose(srcad.grad(dz_dot)(Y), numeric_grad(dz_dot, Y), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("f,shapes", WHOLE_ALONE, ids=[f.__name__ for f, _ in WHOLE_ALONE])
def test_whole_expression_left_alone(f, shapes):
    (zs, ys), = shapes
    Z, Y = point(zs), labels(ys)
    src = srcad.source(srcad.grad(f, wrt=(0, 1)), Z, Y)
    assert "softmax_xent" not in src
    if f is not ce_labels_changed:
        assert "log_softmax" not in src
    else:
        assert "log_softmax" in src
    dZ, dY = srcad.grad(f, wrt=(0, 1))(Z, Y)
    np.testing.assert_allclose(dZ, numeric_grad(lambda z: f(z, Y), Z), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(dY, numeric_grad(lambda y: f(Z, y), Y), rtol=1e-6, atol=1e-8)
    _, t = srcad.jvp(f, (Z, Y), (np.ones_like(Z), np.zeros_like(Y)))
    np.testing.assert_allclose(t, np.sum(dZ), rtol=1e-8, atol=1e-10)


def test_mlp_makes_no_more_passes_than_the_hand_gradient():
    """The MLP's loss: from the logits, one exp, two sums and three in-place passes in one array
    (``softmax_xent_adjoint``); the hand gradient takes an exp, a sum and three passes (it knows
    the rows of Y sum to one, which srcad cannot). No log, no array of ones, no extreme_adjoint."""
    import os
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))
    import cases
    case = cases.CASES_BY_NAME["mlp"]
    args = case.inputs()
    src = srcad.source(srcad.grad(case.f, wrt=case.wrt), *args)
    assert "softmax_xent_adjoint(" in src and "np.log" not in src and "unreduce" not in src, src
    assert src.count("np.exp") == 0 and "extreme_adjoint" not in src


def test_xent_adjoint_keeps_dtype_and_never_writes_its_inputs():
    from srcad.rules import numpy_helpers as nh
    S = point((3, 4)).astype(np.float32)
    Y = labels((3, 4))
    S0, Y0 = S.copy(), Y.copy()
    got = nh.softmax_xent_adjoint(-0.5, S, Y, 1)     # mixed dtypes: the broadcasting path
    assert got.dtype == np.result_type(S, Y)
    np.testing.assert_array_equal(S, S0)
    np.testing.assert_array_equal(Y, Y0)
    fast = nh.softmax_xent_adjoint(-0.5, S.astype(np.float64), Y, 1)
    np.testing.assert_allclose(fast, got, rtol=1e-5, atol=1e-7)   # float32 logits against float64


# ---- the sum of a product, sum(a @ b), as one call (sum_matmul): no product of the adjoint ------

def summed_chain(A, B):
    return np.sum(np.tanh(A) @ B) * 0.5


def summed_product(A, B):
    P = A @ B
    return P.sum() + np.sum(A * A)


def product_read_elsewhere(A, B):
    P = A @ B
    return np.sum(P) + np.sum(np.sin(P))


def product_summed_along_axis(A, B):
    return np.sum(np.sum(A @ B, axis=0) ** 2)


SUMMED = [(summed_chain, (3, 4), (4, 2)), (summed_chain, (2, 3), (3,)), (summed_chain, (3,), (3, 2)),
          (summed_chain, (2, 2, 3), (3, 4)), (summed_product, (2, 3), (3, 5)), (summed_product, (1, 3), (3, 1))]
SUMMED_ALONE = [(product_read_elsewhere, (2, 3), (3, 2)), (product_summed_along_axis, (3, 2), (2, 4))]


@pytest.mark.parametrize("f,sa,sb", SUMMED + SUMMED_ALONE, ids=[f"{f.__name__}-{a}-{b}" for f, a, b in SUMMED + SUMMED_ALONE])
def test_sum_of_a_product(f, sa, sb):
    A, B = point(sa), point(sb, seed=3)
    df = srcad.grad(f, wrt=(0, 1))
    src = srcad.source(df, A, B)
    fires = (f, sa, sb) in SUMMED
    assert ("sum_matmul" in src) == fires, src
    if fires and len(sa) == len(sb) == 2:
        assert src.count("@") == 0, src        # no product in the gradient at all
    dA, dB = df(A, B)
    np.testing.assert_allclose(dA, numeric_grad(lambda a: f(a, B), A), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(dB, numeric_grad(lambda b: f(A, b), B), rtol=1e-6, atol=1e-8)
    ref = generic(lambda: srcad.grad(f, wrt=(0, 1))(A, B))
    for a, b in zip((dA, dB), ref):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)
        assert np.shape(a) == np.shape(b)
    vA, vB = point(sa, seed=5), point(sb, seed=6)
    val, t = srcad.jvp(f, (A, B), (vA, vB))
    assert val == f(A, B)
    np.testing.assert_allclose(t, np.sum(dA * vA) + np.sum(dB * vB), rtol=1e-10, atol=1e-12)
    if fires and len(sa) <= 2 and len(sb) <= 2:
        h = srcad.hessian(lambda a: f(a, B))(A)
        np.testing.assert_allclose(h, numeric_jacobian(srcad.grad(lambda a: f(a, B)), A), rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(srcad.hessian(lambda a: f(a, B), mode="reverse")(A), h, rtol=1e-10, atol=1e-12)
        def mixed(b):   # d/dB of (d/dA) . cos(A): through the adjoint's other matrix
            return np.sum(srcad.grad(f)(A, b) * np.cos(A))
        np.testing.assert_allclose(srcad.grad(mixed)(B), numeric_grad(mixed, B), rtol=1e-6, atol=1e-8)


def test_matmul_chain_benchmark_makes_no_third_product():
    import os
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))
    import cases
    case = cases.CASES_BY_NAME["matmul_chain"]
    args = case.inputs()
    g = srcad.grad(case.f, wrt=case.wrt)
    src = srcad.source(g, *args)
    assert src.count("@") == 2 and "sum_matmul_adjoint_a(" in src, src   # A @ B and the one for dA
    got = g(*args)      # 256 x 256: the adjoint is a broadcast view inside, the gradient the caller's own
    np.testing.assert_allclose(got, case.grad_hand(*args), rtol=1e-10, atol=1e-12)
    assert got.flags.writeable
    from srcad.rules import numpy_helpers as nh
    A, C = args[0], args[2]
    for s in (0.5, -2.0):
        np.testing.assert_allclose(nh.sum_matmul_adjoint_a(s, A, C), s * np.ones((256, 256)) @ C.T, rtol=1e-12)
        np.testing.assert_allclose(nh.sum_matmul_adjoint_b(s, A, C), s * A.T @ np.ones((256, 256)), rtol=1e-12)


# ---- x @ W + b and x @ W + u @ U + b as one call (affine, affine2): no product shape kept -------

def dense(x, W, b):
    return np.sum(np.tanh(x @ W + b) ** 2)


def dense_dot_bias_first(x, W, b):
    return np.sum(np.sin(b + np.dot(x, W)))


def dense_matmul(x, W, b):
    y = np.matmul(x, W) + b
    return np.sum(y * y * 0.5)


def cell(x, W, u, U, b):
    return np.sum(np.tanh(x @ W + u @ U + b) ** 2)


def cell_dot(x, W, u, U, b):
    return np.sum(np.cos(np.dot(x, W) + np.dot(u, U) + b))


def recurrence(x, W, u, U, b):
    h = u
    for t in range(3):
        h = np.tanh(x[t] @ W + h @ U + b)
    return np.sum(h * h)


def product_kept(x, W, b):
    p = x @ W
    return np.sum(np.tanh(p + b)) + np.sum(p * p)


def sum_kept(x, W, u, U, b):
    s = x @ W + u @ U
    return np.sum(np.tanh(s + b)) + np.sum(np.sin(s))


def operand_changed(x, W, b):
    p = x @ W
    x = x * 2.0
    return np.sum(np.tanh(p + b) * x[:, :1])


# (function, shapes of the arguments, the helper or None: left to the generic rules)
AFFINE = [
    (dense, [(3, 4), (4, 2), (2,)], "affine("),
    (dense, [(3, 4), (4, 2), ()], "affine("),
    (dense, [(1, 3), (3, 1), (1,)], "affine("),
    (dense, [(3, 4), (4, 1), (5,)], "affine("),        # b widens the product: summed at run time
    (dense_dot_bias_first, [(2, 3), (3, 4), (4,)], "dot_affine("),
    (dense_matmul, [(4, 2), (2, 3), (3,)], "affine("),
    (cell, [(3, 4), (4, 2), (3, 5), (5, 2), (2,)], "affine2("),
    (cell, [(1, 4), (4, 2), (3, 5), (5, 2), (2,)], "affine2("),   # the first product's rows widened
    (cell, [(3, 4), (4, 1), (3, 5), (5, 1), (2,)], "affine2("),   # both widened by b
    (cell_dot, [(2, 3), (3, 2), (2, 2), (2, 2), ()], "dot_affine2("),
    (recurrence, [(3, 2, 4), (4, 3), (2, 3), (3, 3), (3,)], "affine2("),
    # left alone: 1-d x, a 2-d bias, a 3-d x, the product or the sum read elsewhere, x changed
    (dense, [(4,), (4, 2), (2,)], None),
    (dense, [(3, 4), (4, 2), (1, 2)], None),
    (dense, [(2, 3, 4), (4, 2), (2,)], None),
    (product_kept, [(3, 4), (4, 2), (2,)], None),
    (sum_kept, [(3, 4), (4, 2), (3, 5), (5, 2), (2,)], None),
    (operand_changed, [(3, 4), (4, 2), (2,)], None),
]


@pytest.mark.parametrize("f,shapes,helper", AFFINE,
                         ids=[f"{f.__name__}-{'-'.join(map(str, s))}" for f, s, _ in AFFINE])
def test_affine(f, shapes, helper):
    args = [point(s, seed=k) for k, s in enumerate(shapes)]
    wrt = tuple(range(len(args)))
    df = srcad.grad(f, wrt=wrt)
    src = srcad.source(df, *args)
    if helper is None:
        assert "affine" not in src, src
    else:
        assert helper in src and "product_adjoint" in src, src
        assert "shape_of" not in src and "shapes_" not in src, src    # no shape pushed in a loop
    got = df(*args)
    for k, g in enumerate(got):
        def part(v, k=k):
            return f(*args[:k], v, *args[k + 1:])
        np.testing.assert_allclose(g, numeric_grad(part, args[k]), rtol=1e-6, atol=1e-8)
        assert np.shape(g) == np.shape(args[k])
    ref = generic(lambda: srcad.grad(f, wrt=wrt)(*args))
    for a, b in zip(got, ref):
        np.testing.assert_array_equal(a, b)      # the same numbers as the generic path
    assert srcad.value_and_grad(f, wrt=wrt)(*args)[0] == f(*args)
    # forward mode: the tangent against the gradient and against the generic path
    ts = [point(s, seed=10 + k) for k, s in enumerate(shapes)]
    val, t = srcad.jvp(f, tuple(args), tuple(ts))
    assert val == f(*args)
    np.testing.assert_allclose(t, sum(np.sum(g * v) for g, v in zip(got, ts)), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(t, generic(lambda: srcad.jvp(f, tuple(args), tuple(ts))[1]), rtol=1e-12, atol=1e-13)


AFFINE_SECOND = [AFFINE[0], AFFINE[3], AFFINE[4], AFFINE[6], AFFINE[7], AFFINE[10]]


@pytest.mark.parametrize("f,shapes,helper", AFFINE_SECOND,
                         ids=[f"{f.__name__}-{'-'.join(map(str, s))}" for f, s, _ in AFFINE_SECOND])
def test_affine_second_order(f, shapes, helper):
    args = [point(s, seed=k) for k, s in enumerate(shapes)]
    rest = args[2:]
    if len(args) == 3:   # (srcad inlines f: no starred arguments in the call)
        parts = (lambda v: f(v, args[1], rest[0]), lambda v: f(args[0], v, rest[0]))
    else:
        parts = (lambda v: f(v, args[1], rest[0], rest[1], rest[2]),
                 lambda v: f(args[0], v, rest[0], rest[1], rest[2]))
    for k, part in enumerate(parts):     # w.r.t. x (the rows), then W (the weights); the others held
        h = srcad.hessian(part)(args[k])
        np.testing.assert_allclose(h, numeric_jacobian(srcad.grad(part), args[k]), rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(srcad.hessian(part, mode="reverse")(args[k]), h, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(h, generic(lambda: srcad.hessian(part)(args[k])), rtol=1e-10, atol=1e-12)
    # the mixed second derivative d/db (d/dW) through the product's adjoint and the bias's
    x, W = args[0], args[1]
    if len(args) == 3:
        def mixed(b):
            return np.sum(srcad.grad(f, wrt=1)(x, W, b) * np.cos(W))
    else:
        u, U = args[2], args[3]

        def mixed(b):
            return np.sum(srcad.grad(f, wrt=1)(x, W, u, U, b) * np.cos(W))
    np.testing.assert_allclose(srcad.grad(mixed)(args[-1]), numeric_grad(mixed, args[-1]), rtol=1e-6, atol=1e-8)


def test_affine_helpers_are_the_operations_as_written():
    from srcad.rules import numpy_helpers as nh
    x, W, u, U = point((5, 3)), point((3, 4), seed=1), point((5, 2), seed=2), point((2, 4), seed=3)
    b = point((4,), seed=4)
    xs = np.asfortranarray(np.repeat(x, 2, axis=1)[:, ::2])      # strided: np.dot and @ may round apart
    for a in (x, xs):
        np.testing.assert_array_equal(nh.affine(a, W, b), a @ W + b)
        np.testing.assert_array_equal(nh.dot_affine(a, W, b), np.dot(a, W) + b)
        np.testing.assert_array_equal(nh.affine2(a, W, u, U, b), a @ W + u @ U + b)
        np.testing.assert_array_equal(nh.dot_affine2(a, W, u, U, b), np.dot(a, W) + np.dot(u, U) + b)
    g = point((5, 4), seed=5)
    assert nh.product_adjoint(g, x, W) is g and nh.product_adjoint2(g, x, W, u, U) is g   # no copy
    gt = np.ascontiguousarray(g.T).T                      # not C-contiguous: laid out for BLAS
    got = nh.product_adjoint(gt, x, W)
    assert got.flags.c_contiguous and np.array_equal(got, g)
    wide = nh.product_adjoint(g, x, W[:, :1])           # b widened (5, 1) to (5, 4)
    np.testing.assert_array_equal(wide, g.sum(axis=1, keepdims=True))
    np.testing.assert_array_equal(nh.product_adjoint(0.5, x, W), np.full((5, 4), 0.5))   # the 0.0 placeholder


def test_rnn_benchmarks_keep_no_shapes():
    import os
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))
    import cases
    # unbroadcast only for the biases (and the mlp's logits, less their shift)
    for name, helper, ub in (("rnn", "dot_affine2(", 0), ("rnn_in", "affine2(", 1), ("mlp", "affine(", 3)):
        case = cases.CASES_BY_NAME[name]
        args = case.inputs()
        g = srcad.grad(case.f, wrt=case.wrt)
        src = srcad.source(g, *args)
        assert helper in src and "shape_of" not in src and "contiguous(" not in src, src
        assert src.count("unbroadcast(") == ub, src
        if name == "mlp":   # single-use temporaries of NumPy calls (np read from the user's globals) fused
            assert "H = np.tanh(affine(X, W1, b1))" in src and "stop_gradient(np.max(Z" in src, src
        for a, b in zip(g(*args), case.grad_hand(*args)):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
