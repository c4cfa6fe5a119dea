"""User-defined derivative rules (@srcad.defvjp / @srcad.defjvp / srcad.nondifferentiable), and the
error for a function srcad has no rule for."""

import math

import numpy as np
import pytest

import srcad
from srcad.rules.registry import FORWARD, REVERSE, RuleError
from srcad.runtime import unbroadcast


# ---------------------------------------------------------------- a C function (no source)
# (math.erfc: other test modules use math.erf as the example of a function without a rule)

@srcad.defvjp(math.erfc)
def erfc_vjp(y, x):
    d[x] = -d[y] * 2.0 / math.sqrt(math.pi) * math.exp(-x * x)  # noqa: F821


@srcad.defjvp(math.erfc)
def erfc_jvp(y, x):
    d[y] = -d[x] * 2.0 / math.sqrt(math.pi) * math.exp(-x * x)  # noqa: F821


def uses_erfc(x):
    return math.erfc(x) * x + math.erfc(2.0 * x)


@pytest.mark.parametrize("x", [-1.3, 0.0, 0.4])
def test_c_function_rule(x):
    srcad.check_grad(uses_erfc, x)


def test_forward_rule_registered():
    assert FORWARD[math.erfc].name == "erfc_jvp" and REVERSE[math.erfc].name == "erfc_vjp"


# ---------------------------------------------------------------- a NumPy function, two inputs

def scaled(a, b):
    """Stands for an opaque compiled kernel: a * exp(b), broadcasting."""
    return a * np.exp(b)


opaque = np.vectorize(scaled)  # no source srcad can read


@srcad.defvjp(opaque)
def opaque_vjp(y, a, b):
    d[a] = unbroadcast(d[y] * np.exp(b), a)  # noqa: F821
    d[b] = unbroadcast(d[y] * y, b)  # noqa: F821


def uses_opaque(a, b):
    return np.sum(opaque(a, b) ** 2)


@pytest.mark.parametrize("sa,sb", [((3,), (3,)), ((2, 3), (3,)), ((), (2, 2))])
def test_opaque_broadcasting(sa, sb):
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=sa), rng.normal(size=sb) * 0.3
    a = float(a) if sa == () else a
    srcad.check_grad(uses_opaque, a, b, wrt=(0, 1))


# ---------------------------------------------------------------- overriding a Python function

def clipped_identity(x):
    return x


@srcad.defvjp(clipped_identity)
def clipped_identity_vjp(y, x):
    d[x] = np.clip(d[y], -1.0, 1.0)  # noqa: F821   (a deliberately altered gradient)


def uses_clipped(x):
    return np.sum(clipped_identity(x) * 5.0)


def test_rule_overrides_source():
    g = srcad.grad(uses_clipped)(np.array([1.0, -2.0]))
    np.testing.assert_array_equal(g, [1.0, 1.0])
    assert "clip" in srcad.source(srcad.grad(uses_clipped))


def late(x):
    return x * x


def uses_late(x):
    return late(x) + 1.0


def test_rule_registered_after_use_takes_effect():
    assert srcad.grad(uses_late)(3.0) == 6.0

    @srcad.defvjp(late)
    def late_vjp(y, x):
        d[x] = d[y] * 10.0  # noqa: F821

    try:
        assert srcad.grad(uses_late)(3.0) == 10.0
    finally:
        del REVERSE[late]
        srcad.clear_cache()


def piecewise(x):
    return np.floor(x * 3.0)


srcad.nondifferentiable(piecewise)


def uses_piecewise(x):
    return np.sum(piecewise(x) * x)


def test_nondifferentiable():
    x = np.array([0.2, 0.9])
    np.testing.assert_allclose(srcad.grad(uses_piecewise)(x), np.floor(x * 3.0))


def test_method_rule():
    @srcad.defvjp(srcad.method("double_it"))
    def double_it(y, a):
        d[a] = 2.0 * d[y]  # noqa: F821

    assert REVERSE[("method", "double_it")].name == "double_it"
    del REVERSE[("method", "double_it")]


def test_bad_template():
    with pytest.raises(RuleError):
        @srcad.defvjp(late)
        def bad(y, x):
            d[z] = d[y]  # noqa: F821
    with pytest.raises(TypeError):
        srcad.defvjp(3)


# ---------------------------------------------------------------- no rule: a clear error

def uses_i0(x):
    y = x * 2.0
    return np.sum(np.i0(y))


def uses_lgamma(x):
    return math.lgamma(x)


@pytest.mark.parametrize("fn,name,line", [(uses_i0, "i0", 2), (uses_lgamma, "lgamma", 1)])
def test_unknown_function_error(fn, name, line):
    with pytest.raises(srcad.TransformError) as info:
        srcad.grad(fn)(np.array([0.5, 1.0]) if fn is uses_i0 else 2.0)
    err = info.value
    assert err.filename == __file__
    assert err.lineno == fn.__code__.co_firstlineno + line
    assert name in err.construct and name in str(err)
    assert "@srcad.defvjp" in str(err) and "docs/rules.md" in str(err)
