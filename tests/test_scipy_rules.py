"""SciPy derivative rules (srcad/rules/scipy_rules.py) against central finite differences (float64).

Every case runs in reverse mode (grad), forward mode (jvp) and to second order (hessian: forward
over reverse, and reverse over reverse) w.r.t. each differentiated argument. Non-scalar results are
reduced with fixed uneven weights so that a wrong adjoint cannot hide behind a plain sum.
"""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

special = pytest.importorskip("scipy.special")
stats = pytest.importorskip("scipy.stats")
import scipy  # noqa: E402
import scipy.stats as st  # noqa: E402
from scipy.special import gammaln, logsumexp  # noqa: E402
from scipy.stats import multivariate_normal, norm, t  # noqa: E402

import srcad  # noqa: E402
from srcad.rules.catalog import scipy_supported, supported  # noqa: E402
from fd_points import SHAPES, numeric_grad, point  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def weigh(y):
    w = np.sin(1.0 + np.arange(np.size(y)).reshape(np.shape(y)))
    return np.sum(y * w)


def at(shape, seed, lo, hi):
    """A point of ``shape`` with entries in (lo, hi) (fd_points.point rescaled)."""
    p = point(shape, seed)
    return lo + (hi - lo) * (p - 0.2) / 0.7


def _fix(args, w):
    """``f(*args)`` as a function of argument ``w`` alone."""
    def g(v):
        a = list(args)
        a[w] = v
        return a
    return g


def check_reverse(f, args, wrt):
    for w in wrt:
        put = _fix(args, w)
        got = srcad.grad(f, wrt=w)(*args)
        want = numeric_grad(lambda v: f(*put(v)), args[w])
        assert np.shape(got) == np.shape(args[w])
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=f"argument {w}")


def check_forward(f, args, wrt):
    for w in wrt:
        put = _fix(args, w)
        x = args[w]
        tan = np.cos(np.arange(np.size(x)) + 0.5).reshape(np.shape(x))
        tan = float(tan) if np.ndim(x) == 0 else tan
        value, got = srcad.jvp(f, wrt=w)(*args, tan)
        want = np.sum(numeric_grad(lambda v: f(*put(v)), x) * tan)
        np.testing.assert_allclose(value, f(*args), rtol=1e-12)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=f"argument {w}")


def check_second(f, args, wrt, mode="forward"):
    for w in wrt:
        put = _fix(args, w)
        x = np.asarray(args[w], dtype=np.float64)
        h = srcad.hessian(f, wrt=w, mode=mode)(*args)
        g = srcad.grad(f, wrt=w)
        assert h.shape == x.shape + x.shape
        for i in np.ndindex(*x.shape):
            row = numeric_grad(lambda v: np.asarray(g(*put(v)))[i], args[w])
            np.testing.assert_allclose(h[i], row, rtol=1e-4, atol=1e-5, err_msg=f"argument {w}, row {i}")


def run_all(f, args, wrt):
    check_reverse(f, args, wrt)
    check_forward(f, args, wrt)
    check_second(f, args, wrt)


# ---------------------------------------------------------------- scipy.special, one input

LONG = bool(os.environ.get("SRCAD_LONG"))

ANY, POS, UNIT, BIG = (-1.5, 1.5), (0.5, 2.5), (0.1, 0.9), (2.0, 3.5)
UNARY = [
    ("gammaln", lambda x: special.gammaln(x), POS), ("gamma", lambda x: special.gamma(x), POS),
    ("digamma", lambda x: special.digamma(x), POS), ("psi", lambda x: special.psi(x), POS),
    ("polygamma-1", lambda x: special.polygamma(1, x), POS),
    ("polygamma-3", lambda x: special.polygamma(3, x), BIG),
    ("erf", lambda x: special.erf(x), ANY), ("erfc", lambda x: special.erfc(x), ANY),
    ("ndtr", lambda x: special.ndtr(x), ANY), ("log_ndtr", lambda x: special.log_ndtr(x), ANY),
    ("log_ndtr-far-left", lambda x: special.log_ndtr(x), (-30.0, -25.0)),
    ("expit", lambda x: special.expit(x), ANY), ("log_expit", lambda x: special.log_expit(x), ANY),
    ("logit", lambda x: special.logit(x), UNIT),
    ("i0", lambda x: special.i0(x), ANY), ("i1", lambda x: special.i1(x), ANY),
    ("iv", lambda x: special.iv(1.5, x), POS),
    ("erfinv", lambda x: special.erfinv(x), (-0.8, 0.8)), ("ndtri", lambda x: special.ndtri(x), UNIT),
    ("entr", lambda x: special.entr(x), POS),
    ("ive", lambda x: special.ive(1.5, x), POS), ("ive-negative", lambda x: special.ive(2, x), (-2.5, -0.5)),
    ("ive-order-0", lambda x: special.ive(0, x), ANY),
    ("erfcinv", lambda x: special.erfcinv(x), (0.3, 1.7)), ("rgamma", lambda x: special.rgamma(x), POS),
    ("j0", lambda x: special.j0(x), ANY), ("j1", lambda x: special.j1(x), ANY),
    ("y0", lambda x: special.y0(x), POS), ("y1", lambda x: special.y1(x), POS),
    ("jv", lambda x: special.jv(2.5, x), POS), ("jn", lambda x: special.jn(3, x), ANY),
    ("yv", lambda x: special.yv(1.5, x), POS), ("yn", lambda x: special.yn(2, x), BIG),
    ("gammainc", lambda x: special.gammainc(2.5, x), POS), ("gammaincc", lambda x: special.gammaincc(1.5, x), POS),
    ("betainc", lambda x: special.betainc(2.0, 3.5, x), UNIT),
    ("multigammaln-1", lambda x: special.multigammaln(x, 1), POS),
    ("multigammaln-3", lambda x: special.multigammaln(x, 3), BIG),
    ("imported-name", lambda x: gammaln(x * x + 1.0), ANY),
    ("module-path", lambda x: scipy.special.erf(x) * scipy.special.expit(x), ANY),
]
SHAPE_IDS = ["scalar", "vector", "matrix"]


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("f,dom", [c[1:] for c in UNARY], ids=[c[0] for c in UNARY])
def test_unary(f, dom, shape):
    run_all(lambda x: weigh(f(x)), [at(shape, 1, *dom)], (0,))


def test_log_ndtr_far_left_is_finite():
    g = srcad.grad(lambda x: special.log_ndtr(x))(-40.0)
    assert np.isfinite(g) and g == pytest.approx(40.0, rel=1e-3)


# ---------------------------------------------------------------- scipy.special, two inputs

BINARY = [
    ("betaln", lambda a, b: special.betaln(a, b), POS, POS),
    ("beta", lambda a, b: special.beta(a, b), POS, POS),
    ("xlogy", lambda x, y: special.xlogy(x, y), ANY, POS),
    ("xlog1py", lambda x, y: special.xlog1py(x, y), ANY, UNIT),
    ("rel_entr", lambda x, y: special.rel_entr(x, y), POS, POS),
]
PAIRS = [((), ()), ((3,), (3,)), ((2, 3), (3,)), ((2, 1), (1, 3)), ((), (2, 3)), ((2, 3), ())]
if not LONG:   # the suite's time: scalars and both-sided broadcasting (all with SRCAD_LONG=1)
    PAIRS = [PAIRS[0], PAIRS[3]]


@pytest.mark.parametrize("s1,s2", PAIRS, ids=[f"{a}-{b}" for a, b in PAIRS])
@pytest.mark.parametrize("f,d1,d2", [c[1:] for c in BINARY], ids=[c[0] for c in BINARY])
def test_binary(f, d1, d2, s1, s2):
    run_all(lambda a, b: weigh(f(a, b)), [at(s1, 2, *d1), at(s2, 3, *d2)], (0, 1))


def test_xlogy_at_zero_x():
    # xlogy(0, y) = 0 for every y: no derivative w.r.t. y there, log(y) w.r.t. x
    gx, gy = srcad.grad(lambda x, y: np.sum(special.xlogy(x, y)), wrt=(0, 1))(np.zeros(2), np.array([0.5, 2.0]))
    np.testing.assert_allclose(gx, np.log([0.5, 2.0]))
    np.testing.assert_array_equal(gy, [0.0, 0.0])


# ---------------------------------------------------------------- logsumexp

M = at((2, 3), 4, -1.0, 1.0)
LSE = [
    ("all", lambda a: logsumexp(a), [M], (0,)),
    ("scalar", lambda a: logsumexp(a), [0.3], (0,)),
    ("vector", lambda a: logsumexp(a), [at((3,), 5, -1.0, 1.0)], (0,)),
    ("axis0", lambda a: weigh(logsumexp(a, axis=0)), [M], (0,)),
    ("axis1-positional", lambda a: weigh(logsumexp(a, 1)), [M], (0,)),
    ("axis-neg-keepdims", lambda a: weigh(logsumexp(a, axis=-1, keepdims=True)), [M], (0,)),
    ("axis-tuple", lambda a: weigh(logsumexp(a, axis=(0, 2))), [at((2, 3, 2), 6, -1.0, 1.0)], (0,)),
    ("keepdims-all", lambda a: weigh(logsumexp(a, keepdims=True) * np.ones(3)), [M], (0,)),
    ("b", lambda a, b: weigh(logsumexp(a, axis=1, b=b)), [M, at((2, 3), 7, 0.5, 2.0)], (0, 1)),
    ("b-broadcast", lambda a, b: weigh(logsumexp(a, axis=0, b=b)), [M, at((3,), 8, 0.5, 2.0)], (0, 1)),
    ("b-larger", lambda a, b: weigh(logsumexp(a, axis=1, b=b)), [at((3,), 9, -1.0, 1.0), at((2, 3), 10, 0.5, 2.0)],
     (0, 1)),
    ("b-scalar-all", lambda a, b: logsumexp(a, b=b), [M, 1.7], (0, 1)),
    ("module-path", lambda a: weigh(scipy.special.logsumexp(a * a, axis=1)), [M], (0,)),
    ("mixture", lambda a, w: np.sum(logsumexp(a - 0.5 * a * a, axis=1, b=w)), [M, at((3,), 11, 0.2, 1.0)], (0, 1)),
]


@pytest.mark.parametrize("f,args,wrt", [c[1:] for c in LSE], ids=[c[0] for c in LSE])
def test_logsumexp(f, args, wrt):
    run_all(f, args, wrt)


SOFTMAX = [
    ("softmax-all", lambda a: weigh(special.softmax(a)), [M], (0,)),
    ("softmax-vector", lambda a: weigh(special.softmax(a) ** 2), [at((3,), 5, -1.0, 1.0)], (0,)),
    ("softmax-axis1", lambda a: weigh(special.softmax(a, axis=1)), [M], (0,)),
    ("softmax-axis0", lambda a: weigh(special.softmax(a * a, axis=0)), [M], (0,)),
    ("softmax-sum", lambda a: np.sum(special.softmax(a, axis=-1) * a), [M], (0,)),
    ("log_softmax-all", lambda a: weigh(special.log_softmax(a)), [M], (0,)),
    ("log_softmax-axis1", lambda a: weigh(special.log_softmax(a, axis=1)), [M], (0,)),
    ("log_softmax-xent", lambda a: -np.sum(special.log_softmax(a, axis=1)[:, 0]), [M], (0,)),
    ("log_softmax-plain-sum", lambda a: np.sum(special.log_softmax(a, axis=0) ** 2), [M], (0,)),
]


@pytest.mark.parametrize("f,args,wrt", [c[1:] for c in SOFTMAX], ids=[c[0] for c in SOFTMAX])
def test_softmax(f, args, wrt):
    run_all(f, args, wrt)


B_SIGNED = np.array([[0.5, -1.0, 2.0], [-0.3, 0.2, -1.5]])
SIGNED = [
    ("value", lambda a: logsumexp(a, return_sign=True)[0], [M], (0,)),
    ("value-times-sign", lambda a, b: weigh(np.prod(logsumexp(a, axis=1, b=b, return_sign=True), axis=0)),
     [M, B_SIGNED], (0, 1)),
    ("unpacked", lambda a, b: _lse_unpacked(a, b), [M, B_SIGNED], (0, 1)),
    ("keepdims", lambda a: weigh(logsumexp(a, axis=0, b=B_SIGNED, keepdims=True, return_sign=True)[0]), [M], (0,)),
]


def _lse_unpacked(a, b):
    v, s = logsumexp(a, axis=0, b=b, return_sign=True)
    return weigh(v * s + v)


@pytest.mark.parametrize("f,args,wrt", [c[1:] for c in SIGNED], ids=[c[0] for c in SIGNED])
def test_logsumexp_return_sign(f, args, wrt):
    run_all(f, args, wrt)


# ---------------------------------------------------------------- scipy.stats.norm

NORM = ["logpdf", "pdf", "cdf", "logcdf", "sf", "logsf"]
LOCSCALE = [((), (), ()), ((3,), (), ()), ((2, 3), (3,), (2, 1)), ((), (3,), (2, 3))]
if not LONG:   # every argument broadcast somewhere in these two (all four with SRCAD_LONG=1)
    LOCSCALE = [LOCSCALE[2], LOCSCALE[3]]


@pytest.mark.parametrize("sx,sl,ss", LOCSCALE, ids=[f"{a}-{b}-{c}" for a, b, c in LOCSCALE])
@pytest.mark.parametrize("name", NORM)
def test_norm(name, sx, sl, ss):
    fn = getattr(norm, name)
    args = [at(sx, 12, -2.0, 2.0), at(sl, 13, -0.5, 0.5), at(ss, 14, 0.7, 1.8)]
    run_all(lambda x, loc, scale: weigh(fn(x, loc, scale)), args, (0, 1, 2))


NORM_FORMS = [
    ("default", lambda x: weigh(norm.logpdf(x))),
    ("keywords", lambda x: weigh(norm.cdf(x, scale=1.5, loc=0.2))),
    ("module-path", lambda x: weigh(scipy.stats.norm.logpdf(x, 0.1, 2.0))),
    ("module-alias", lambda x: weigh(st.norm.pdf(x, 0.3))),
    ("far-tail", lambda x: weigh(norm.logcdf(x - 30.0) + norm.logsf(x + 30.0))),
]


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("f", [f for _, f in NORM_FORMS], ids=[n for n, _ in NORM_FORMS])
def test_norm_call_forms(f, shape):
    run_all(f, [at(shape, 15, -1.5, 1.5)], (0,))


# ---------------------------------------------------------------- scipy.stats.t

T_DF = ["logpdf", "pdf"]
T_NO_DF = ["cdf", "logcdf", "sf", "logsf"]


@pytest.mark.parametrize("sx,sl,ss", LOCSCALE, ids=[f"{a}-{b}-{c}" for a, b, c in LOCSCALE])
@pytest.mark.parametrize("name", T_DF + T_NO_DF)
def test_t(name, sx, sl, ss):
    fn = getattr(t, name)
    args = [at(sx, 16, -2.0, 2.0), at(sl, 17, 1.5, 6.0), at(sl, 18, -0.5, 0.5), at(ss, 19, 0.7, 1.8)]
    run_all(lambda x, df, loc, scale: weigh(fn(x, df, loc, scale)), args,
            (0, 1, 2, 3) if name in T_DF else (0, 2, 3))


@pytest.mark.parametrize("name", T_NO_DF)
def test_t_cdf_df_refused(name):
    fn = getattr(t, name)

    def f(x, df):
        return fn(x, df)
    with pytest.raises(srcad.TransformError) as info:
        srcad.grad(f, wrt=1)(0.3, 4.0)
    assert "scipy.stats" in str(info.value) and "return fn(x, df)" in str(info.value)


def test_t_keywords():
    run_all(lambda x, df: weigh(st.t.logpdf(x, df=df, scale=2.0)), [at((3,), 20, -1.0, 1.0), 3.0], (0, 1))


# ---------------------------------------------------------------- scipy.stats gamma, beta, expon

CDF_FAMILY = ["cdf", "logcdf", "sf", "logsf"]
# (distribution, its shape parameters' domains, the domain of z = (x - loc) / scale)
SHAPED = [("gamma", [(1.5, 3.0)], (0.3, 2.5)), ("beta", [(1.5, 3.0), (2.0, 4.0)], (0.2, 0.8)),
          ("expon", [], (0.2, 2.0)), ("chi2", [(2.5, 5.0)], (0.3, 3.0))]


@pytest.mark.parametrize("sx,sl,ss", LOCSCALE, ids=[f"{a}-{b}-{c}" for a, b, c in LOCSCALE])
@pytest.mark.parametrize("name", ["logpdf", "pdf"] + CDF_FAMILY)
@pytest.mark.parametrize("dist,shapes,zdom", SHAPED, ids=[c[0] for c in SHAPED])
def test_shaped_distributions(dist, shapes, zdom, name, sx, sl, ss):
    fn = getattr(getattr(st, dist), name)
    loc, scale = at(sl, 50, -0.1, 0.1), at(ss, 51, 1.0, 1.5)
    full = np.broadcast_shapes(sx, sl, ss)
    # x = loc + scale z with z in the support; a scalar x against array loc/scale: 0.5 (z in (0.27, 0.6))
    x = loc + scale * at(full, 52, *zdom) if sx == full else 0.5
    params = [at(sl, 53 + i, *dom) for i, dom in enumerate(shapes)]
    args = [x] + params + [loc, scale]
    # the shape parameters of the cdf family have no rule (refused, below)
    wrt = tuple(range(len(args))) if name in ("logpdf", "pdf") else (0, len(args) - 2, len(args) - 1)
    call = {3: lambda x, loc, scale: weigh(fn(x, loc, scale)),
            4: lambda x, a, loc, scale: weigh(fn(x, a, loc, scale)),
            5: lambda x, a, b, loc, scale: weigh(fn(x, a, b, loc, scale))}[len(args)]
    run_all(call, args, wrt)


@pytest.mark.parametrize("dist", ["gamma", "beta", "chi2"])
def test_shape_of_cdf_refused(dist):
    fn = getattr(st, dist).cdf

    def f(x, a):
        return fn(x, a, 2.0)
    with pytest.raises(srcad.TransformError) as info:
        srcad.grad(f, wrt=1)(0.3, 2.0)
    assert "return fn(x, a, 2.0)" in str(info.value)


@pytest.mark.parametrize("name", ["gammainc", "gammaincc"])
def test_incomplete_gamma_shape_refused(name):
    fn = getattr(special, name)

    def f(a):
        return fn(a, 0.7)
    with pytest.raises(srcad.TransformError, match=name):
        srcad.grad(f)(2.0)


def test_shaped_keywords():
    run_all(lambda x, a: weigh(st.gamma.logpdf(x, a=a, scale=2.0)), [at((3,), 54, 0.5, 3.0), 2.5], (0, 1))
    run_all(lambda x, s: weigh(st.expon.logcdf(x, scale=s)), [at((3,), 55, 0.5, 3.0), 1.5], (0, 1))


# ---------------------------------------------------------------- scipy.stats.poisson (the rate)

K = np.array([[0.0, 1.0, 3.0], [2.0, 5.0, 4.0]])


@pytest.mark.parametrize("name", ["logpmf", "pmf", "cdf", "logcdf", "sf"])
@pytest.mark.parametrize("shape", [(), (3,), (2, 3)], ids=SHAPE_IDS)
def test_poisson(name, shape):
    fn = getattr(st.poisson, name)
    run_all(lambda mu: weigh(fn(K, mu)), [at(shape, 56, 0.5, 4.0)], (0,))
    run_all(lambda mu: weigh(fn(K + 1.0, mu, 1)), [at(shape, 57, 0.5, 4.0)], (0,))


def test_poisson_count_refused():
    def f(k):
        return st.poisson.logpmf(k, 2.0)
    with pytest.raises(srcad.TransformError, match="logpmf"):
        srcad.grad(f)(3.0)


# ---------------------------------------------------------------- scipy.stats.dirichlet

def _simplex(u):
    """Points on the simplex (one per column), a smooth map of unconstrained ``u``."""
    e = np.exp(u - np.max(u, axis=0))
    return e / np.sum(e, axis=0)


DIRICHLET = [
    ("point", at((3,), 58, -1.0, 1.0)),
    ("points", at((3, 4), 59, -1.0, 1.0)),
]


@pytest.mark.parametrize("name", ["logpdf", "pdf"])
@pytest.mark.parametrize("u", [u for _, u in DIRICHLET], ids=[n for n, _ in DIRICHLET])
def test_dirichlet(name, u):
    fn = getattr(st.dirichlet, name)
    alpha = at((3,), 60, 0.8, 3.0)
    run_all(lambda u, alpha: weigh(fn(_simplex(u), alpha)), [u, alpha], (0, 1))


def test_dirichlet_first_components():
    # SciPy completes x's last component as 1 - sum: the derivative follows it
    alpha = at((3,), 61, 0.8, 3.0)
    run_all(lambda x, alpha: st.dirichlet.logpdf(x, alpha), [np.array([0.2, 0.3]), alpha], (0, 1))
    run_all(lambda x: weigh(st.dirichlet.pdf(x, alpha)), [np.array([[0.2, 0.5], [0.3, 0.1]])], (0,))


# ---------------------------------------------------------------- scipy.stats.multivariate_normal

def _spd(n, seed):
    a = np.random.default_rng(seed).normal(size=(n, n))
    return a @ a.T + n * np.eye(n)


MVN = [
    ("point", [at((3,), 21, -1.0, 1.0), at((3,), 22, -0.5, 0.5), _spd(3, 23)]),
    ("points", [at((4, 3), 24, -1.0, 1.0), at((3,), 25, -0.5, 0.5), _spd(3, 26)]),
    ("one-point-row", [at((1, 2), 27, -1.0, 1.0), at((2,), 28, -0.5, 0.5), _spd(2, 29)]),
    ("diagonal-cov", [at((4, 3), 30, -1.0, 1.0), at((3,), 31, -0.5, 0.5), at((3,), 32, 0.5, 2.0)]),
    ("scalar-cov", [at((4, 2), 33, -1.0, 1.0), at((2,), 34, -0.5, 0.5), 1.7]),
    ("dim-1", [at((5,), 35, -1.0, 1.0), 0.2, 1.3]),
]


@pytest.mark.parametrize("name", ["logpdf", "pdf"])
@pytest.mark.parametrize("args", [a for _, a in MVN], ids=[n for n, _ in MVN])
def test_multivariate_normal(name, args):
    fn = getattr(multivariate_normal, name)
    run_all(lambda x, mean, cov: weigh(fn(x, mean, cov)), args, (0, 1, 2))


def test_multivariate_normal_reads_the_lower_triangle():
    # SciPy uses cov's lower triangle only: an entry above the diagonal has derivative 0
    x, m, c = at((3,), 36, -1.0, 1.0), np.zeros(3), _spd(3, 37)
    g = srcad.grad(lambda c: multivariate_normal.logpdf(x, m, c))(c)
    assert np.all(g[np.triu_indices(3, 1)] == 0.0) and np.all(g[np.tril_indices(3)] != 0.0)


def test_multivariate_normal_default_mean_and_keywords():
    x = at((4, 2), 38, -1.0, 1.0)
    run_all(lambda x, c: np.sum(st.multivariate_normal.logpdf(x, cov=c)), [x, _spd(2, 39)], (0, 1))


# ---------------------------------------------------------------- scipy.linalg

import scipy.linalg as sla  # noqa: E402


def _tri(n, seed):
    """A well-conditioned triangular matrix (the other triangle is noise the solver must ignore)."""
    a = at((n, n), seed, -0.5, 0.5) + 2.0 * np.eye(n)
    return a


TRIANGULAR = [   # (trans, lower, unit_diagonal)
    ("lower", (0, True, False)), ("upper", (0, False, False)), ("trans-1", (1, True, False)),
    ("trans-T-upper", ("T", False, False)), ("trans-C", ("C", True, False)),
    ("unit-diagonal", (0, True, True)), ("trans-N-unit-upper", ("N", False, True)),
]


@pytest.mark.parametrize("bshape", [(3,), (3, 2)], ids=["vector", "matrix"])
@pytest.mark.parametrize("opts", [k for _, k in TRIANGULAR], ids=[n for n, _ in TRIANGULAR])
def test_solve_triangular(opts, bshape):
    trans, lower, unit = opts
    a, b = _tri(3, 62), at(bshape, 63, -1.0, 1.0)
    run_all(lambda a, b: weigh(sla.solve_triangular(a, b, trans=trans, lower=lower, unit_diagonal=unit)), [a, b],
            (0, 1))


def test_solve_triangular_positional_options():
    a, b = _tri(3, 64), at((3,), 65, -1.0, 1.0)
    run_all(lambda a, b: weigh(sla.solve_triangular(a, b, 1, True)), [a, b], (0, 1))


def test_solve_triangular_reads_one_triangle():
    a, b = _tri(3, 66), at((3,), 67, -1.0, 1.0)
    g = srcad.grad(lambda a: np.sum(sla.solve_triangular(a, b, lower=True)))(a)
    assert np.all(g[np.triu_indices(3, 1)] == 0.0)


LINALG = [
    ("expm", lambda a: weigh(sla.expm(a)), [at((3, 3), 68, -0.7, 0.7)]),
    ("expm-2", lambda a: weigh(sla.expm(a * a)), [at((2, 2), 69, -0.7, 0.7)]),
    ("expm-scalar-times", lambda a: weigh(sla.expm(2.0 * a) @ np.ones(3)), [at((3, 3), 70, -0.5, 0.5)]),
    ("sqrtm", lambda s: weigh(sla.sqrtm(s)), [_spd(3, 71)]),
    ("sqrtm-of-product", lambda a: weigh(sla.sqrtm(a @ a.T + np.eye(2))), [at((2, 2), 72, -1.0, 1.0)]),
]


@pytest.mark.parametrize("f,args", [c[1:] for c in LINALG], ids=[c[0] for c in LINALG])
def test_matrix_functions(f, args):
    run_all(f, args, (0,))


def _asym_spd(n, seed):
    """A positive definite matrix with its upper triangle disturbed (cho_factor reads one)."""
    s = _spd(n, seed)
    return s + np.triu(at((n, n), seed + 1, -0.3, 0.3), 1)


@pytest.mark.parametrize("lower", [True, False], ids=["lower", "upper"])
def test_cho_factor(lower):
    run_all(lambda a: weigh(sla.cho_factor(a, lower=lower)[0]), [_asym_spd(3, 86)], (0,))


@pytest.mark.parametrize("bshape", [(3,), (3, 2)], ids=["vector", "matrix"])
@pytest.mark.parametrize("lower", [True, False], ids=["lower", "upper"])
def test_cho_solve(lower, bshape):
    b = at(bshape, 87, -1.0, 1.0)
    run_all(lambda a, b: weigh(sla.cho_solve(sla.cho_factor(a, lower=lower), b)), [_asym_spd(3, 88), b], (0, 1))
    c = sla.cho_factor(_spd(3, 89), lower=lower)[0]
    run_all(lambda c, b: weigh(sla.cho_solve((c, lower), b)), [c, b], (0, 1))


def test_solve_sylvester():
    a, b, q = _spd(3, 73), _spd(2, 74), at((3, 2), 75, -1.0, 1.0)
    run_all(lambda a, b, q: weigh(sla.solve_sylvester(a, b, q)), [a, b, q], (0, 1, 2))


# ---------------------------------------------------------------- frozen distributions

FROZEN_OUTSIDE = norm(0.3, 1.7)
GAMMA_OUTSIDE = st.gamma(2.5, scale=1.3)
POISSON_OUTSIDE = st.poisson(np.array([1.5, 2.5]))


def _frozen_local(x, mu, s):
    d = norm(mu, np.exp(s))
    return weigh(d.logpdf(x) + d.cdf(x) * d.pdf(x))


def _frozen_loop(x, mu, s):
    total = 0.0
    for i in range(2):
        d = st.t(3.0 + i, mu, s)
        total = total + weigh(d.logpdf(x * (i + 1.0)))
    return total


def _frozen_branch(x, mu, s):
    d = st.expon(mu, s)
    if mu > 0.0:
        return weigh(d.logcdf(x + 3.0))
    return weigh(d.logpdf(x + 3.0))


FROZEN = [
    ("local", _frozen_local),
    ("inline", lambda x, mu, s: weigh(norm(mu, s).logpdf(x)) + weigh(st.beta(2.0, 3.0, mu - 3.0, s + 5.0).pdf(x))),
    ("keywords", lambda x, mu, s: weigh(st.gamma(a=s + 1.0, loc=mu - 3.0).logpdf(x))),
    ("outside", lambda x, mu, s: weigh(FROZEN_OUTSIDE.logpdf(x * s + mu) + GAMMA_OUTSIDE.logsf(x + 3.0))),
    ("outside-discrete", lambda x, mu, s: weigh(POISSON_OUTSIDE.logpmf(np.array([1.0, 3.0])) * mu)),
    ("loop", _frozen_loop),
    ("branch", _frozen_branch),
    ("multivariate", lambda x, mu, s: weigh(st.multivariate_normal(mu * np.ones(2), s * np.eye(2)).logpdf(
        np.reshape(x, (-1, 2))))),
    ("dirichlet", lambda x, mu, s: st.dirichlet(np.array([1.5, s + 1.0, mu + 2.0])).logpdf(_simplex(x[:3]))),
]


@pytest.mark.parametrize("f", [f for _, f in FROZEN], ids=[n for n, _ in FROZEN])
def test_frozen(f):
    run_all(f, [at((4,), 85, -1.0, 1.0), 0.4, 1.2], (0, 1, 2))


def test_frozen_reads_the_parameters_directly():
    src = srcad.source(srcad.grad(_frozen_local, wrt=(1, 2)), np.ones(2), 0.1, 0.2)
    assert "norm.logpdf(x, mu, exp_1)" in src and "norm(" not in src
    src = srcad.source(srcad.grad(lambda x: FROZEN_OUTSIDE.logpdf(x)), 0.5)
    assert "norm.logpdf(x, 0.3, 1.7)" in src


def test_frozen_outside_rebound_regenerates():
    global FROZEN_OUTSIDE
    saved = FROZEN_OUTSIDE

    def f(x):
        return FROZEN_OUTSIDE.logpdf(x)
    try:
        g = srcad.grad(f)
        assert g(0.5) == pytest.approx(-(0.5 - 0.3) / 1.7 ** 2)
        FROZEN_OUTSIDE = norm(-1.0, 0.5)
        assert g(0.5) == pytest.approx(-(0.5 + 1.0) / 0.25)
        FROZEN_OUTSIDE = st.t(4.0)
        assert g(0.5) == pytest.approx(srcad.grad(lambda x: st.t.logpdf(x, 4.0))(0.5))
    finally:
        FROZEN_OUTSIDE = saved


def _frozen_then_changed(x, mu):
    d = norm(mu, 1.0)
    mu = mu * 2.0
    return d.logpdf(x) + mu


def _frozen_escapes(x, mu):
    ds = [norm(mu, 1.0)]
    return ds[0].logpdf(x)


def _frozen_passed(x, mu):
    d = norm(mu, 1.0)
    return _use_frozen(d, x)


def _use_frozen(d, x):
    return d.logpdf(x)


def test_frozen_not_rewritten_is_refused():
    # a parameter reassigned after freezing, or the frozen object kept in a list: no rewrite, and
    # a derivative through SciPy's frozen object is refused at the line that freezes it
    for f, line in ((_frozen_then_changed, "d = norm"), (_frozen_escapes, "ds = ")):
        with pytest.raises(srcad.TransformError, match=line):
            srcad.grad(f, wrt=1)(0.5, 0.2)
    # w.r.t. x: the method of the frozen object is refused
    with pytest.raises(srcad.TransformError, match=r"method \.logpdf\(\).*return d.logpdf\(x\) \+ mu"):
        srcad.grad(_frozen_then_changed, wrt=0)(0.5, 0.2)


def test_frozen_passed_to_a_helper():
    # reverse mode inlines the helper, so its d.logpdf reads the parameters
    assert srcad.grad(_frozen_passed, wrt=1)(0.5, 0.2) == pytest.approx(0.5 - 0.2)


# ---------------------------------------------------------------- reverse over reverse

RR = [
    ("special", lambda x: np.sum(special.gammaln(x) * special.digamma(x) + special.log_ndtr(x) * special.i1(x)),
     [at((3,), 40, 0.5, 2.0)]),
    ("logsumexp", lambda a: weigh(logsumexp(a, axis=1, b=np.array([0.5, 1.0, 2.0]))), [M]),
    ("logsumexp-sign", lambda a: weigh(np.prod(logsumexp(a, axis=1, b=B_SIGNED, return_sign=True), axis=0)), [M]),
    ("norm", lambda s: weigh(norm.logpdf(np.arange(3.0), 0.2, s)), [at((3,), 41, 0.7, 1.8)]),
    ("t-df", lambda df: weigh(t.logpdf(np.arange(3.0), df)), [at((3,), 42, 1.5, 6.0)]),
    ("t-cdf", lambda x: weigh(t.logcdf(x, 3.0)), [at((3,), 43, -1.0, 1.0)]),
    ("mvn-cov", lambda c: multivariate_normal.logpdf(np.ones((2, 2)), np.zeros(2), c), [_spd(2, 44)]),
    ("multigammaln", lambda a: np.sum(special.multigammaln(a, 2)), [at((3,), 45, 1.0, 2.0)]),
    ("special-new", lambda x: weigh(special.erfinv(x - 1.0) + special.ndtri(x - 0.8) * special.entr(x)
                                    + special.ive(1, x) + special.rel_entr(x, 2.0 - x)), [at((3,), 76, 1.1, 1.6)]),
    ("gamma-shape", lambda a: weigh(st.gamma.logpdf(np.array([0.5, 1.0, 2.0]), a, 0.1, 1.3)), [at((3,), 77, 1.5, 3.0)]),
    ("beta-x", lambda x: weigh(st.beta.logcdf(x, 2.0, 3.0)), [at((3,), 78, 0.2, 0.8)]),
    ("expon-scale", lambda s: weigh(st.expon.pdf(np.array([0.5, 1.0, 2.0]), 0.1, s)), [at((3,), 79, 0.8, 1.6)]),
    ("poisson", lambda mu: weigh(st.poisson.logpmf(np.array([0.0, 2.0, 5.0]), mu)), [at((3,), 80, 0.5, 4.0)]),
    ("dirichlet", lambda al: weigh(st.dirichlet.logpdf(_simplex(np.ones((3, 2)) * [0.2, -0.3]), al)),
     [at((3,), 81, 0.8, 3.0)]),
    ("solve_triangular", lambda a: weigh(sla.solve_triangular(a, np.ones(3), lower=True, trans=1)),
     [_tri(3, 82)]),
    ("expm", lambda a: weigh(sla.expm(a)), [at((2, 2), 83, -0.7, 0.7)]),
    ("sqrtm", lambda s: weigh(sla.sqrtm(s)), [_spd(2, 84)]),
    ("frozen", lambda s: _frozen_local(np.arange(3.0), 0.2, s), [0.3]),
    ("cho", lambda a: weigh(sla.cho_solve(sla.cho_factor(a), np.arange(2.0))), [_spd(2, 90)]),
]


@pytest.mark.parametrize("f,args", [c[1:] for c in RR], ids=[c[0] for c in RR])
def test_reverse_over_reverse(f, args):
    check_second(f, args, (0,), mode="reverse")


# ---------------------------------------------------------------- keys, names, refusals, laziness

def test_every_call_form_finds_the_rule():
    from srcad.rules import REVERSE, FORWARD
    for key in (norm.logpdf, scipy.stats.norm.logpdf, st.norm.pdf, st.t.cdf, multivariate_normal.logpdf,
                special.gammaln, special.psi, logsumexp, special.polygamma, special.multigammaln):
        assert key in REVERSE and key in FORWARD, key
    assert t.logpdf not in (norm.logpdf,) and REVERSE[t.logpdf] is not REVERSE[norm.logpdf]


def test_generated_code_names_scipy():
    src = srcad.source(srcad.grad(lambda x: np.sum(gammaln(x))))
    assert "special.digamma(x)" in src
    src = srcad.source(srcad.grad(lambda x: np.sum(norm.cdf(x, 1.0, 2.0))))
    assert "np.exp(-0.5 * z_1 * z_1)" in src and "norm.cdf(x, 1.0, 2.0)" in src


def test_order_is_refused():
    with pytest.raises(srcad.TransformError, match="polygamma"):
        srcad.grad(lambda n: special.polygamma(n, 2.0))(1.0)


def test_function_without_rule_is_refused():
    def f(x):
        return np.sum(special.owens_t(x, 0.5))
    with pytest.raises(srcad.TransformError, match="owens_t"):
        srcad.grad(f)(np.array([0.1, 0.2]))


def test_catalog_names():
    names = dict(scipy_supported())
    for n in ["scipy.special.gammaln", "scipy.special.psi", "scipy.special.digamma", "scipy.special.logsumexp",
              "scipy.stats.norm.logpdf", "scipy.stats.t.pdf", "scipy.stats.multivariate_normal.logpdf"]:
        assert names[n] == "reverse+forward", n
    # the NumPy list does not change with whether SciPy's rules were loaded
    assert not any(n.startswith(("scipy", "np.gammaln", "np.logsumexp")) for n, _ in supported())


def _env():
    """This checkout's srcad first on the path (as when run from the repository root)."""
    return dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT] + [p for p in [os.environ.get("PYTHONPATH")] if p]))


def _python(tmp_path, code):
    """Run ``code`` in a fresh interpreter (from a file: srcad reads the functions' source)."""
    path = tmp_path / "prog.py"
    path.write_text(textwrap.dedent(code))
    proc = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, cwd=ROOT, timeout=120,
                          env=_env())
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_import_srcad_does_not_import_scipy(tmp_path):
    out = _python(tmp_path, """
        import sys
        import numpy as np
        import srcad
        assert srcad.grad(lambda x: np.sum(np.sin(x)))(np.ones(2)).shape == (2,)
        print(sorted(m for m in sys.modules if m == "scipy" or m.startswith(("scipy.", "srcad.rules.scipy"))))
    """)
    assert out.strip() == "[]"


def test_scipy_special_alone_does_not_import_scipy_stats(tmp_path):
    out = _python(tmp_path, """
        import sys
        import numpy as np
        import srcad
        from scipy.special import gammaln
        g = srcad.grad(lambda x: np.sum(gammaln(x)))(np.array([1.0, 2.0]))
        print(g.round(6).tolist(), "scipy.stats" in sys.modules)
    """)
    assert out.strip() == "[-0.577216, 0.422784] False"


def test_user_rule_given_first_stays(tmp_path):
    out = _python(tmp_path, """
        import numpy as np
        import srcad
        from scipy.special import gammaln

        @srcad.defvjp(gammaln)
        def gammaln_vjp(y, x):
            d[x] = d[y] * 2.0

        print(srcad.grad(lambda x: np.sum(gammaln(x)))(np.array([1.0, 2.0])).tolist())
    """)
    assert out.strip() == "[2.0, 2.0]"


def test_rules_load_once_under_threads(tmp_path):
    out = _python(tmp_path, """
        import threading
        import numpy as np
        import srcad
        from scipy.stats import norm
        res, errs = [], []
        def work():
            try:
                res.append(srcad.grad(lambda x: np.sum(norm.logpdf(x)))(np.array([0.5, -1.0])))
            except Exception as e:
                errs.append(repr(e))
        ts = [threading.Thread(target=work) for _ in range(8)]
        [t.start() for t in ts]; [t.join() for t in ts]
        print(errs, all(np.array_equal(r, [-0.5, 1.0]) for r in res), len(res))
    """)
    assert out.strip() == "[] True 8"


def test_example_runs():
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "scipy_stats.py")], capture_output=True,
                          text=True, cwd=ROOT, timeout=300, env=_env())
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("gradient matches finite differences: True") == 2
    assert "increased: True" in proc.stdout and "norm.logpdf(data, mu, exp_1)" in proc.stdout
