"""The rule declarations of srcad/rules/registry.py: ``elementwise`` (a one-input function whose
derivative is a factor) and ``linear`` (a function linear in its first input) each make a reverse
and a forward template from one declaration.

The templates they make are compared with the hand-written pair they replace, and functions
declared here are differentiated in both modes (and to second order) against central differences
in float64 over scalars, vectors, matrices and broadcasting.
"""

import gast
import numpy as np
import pytest

import srcad
from fd_points import numeric_grad
from srcad.normalize import clone
from srcad.rules import registry
from srcad.rules.registry import FORWARD, REVERSE, RuleError, elementwise, forward, linear, reverse

SHAPES = [(), (3,), (2, 3)]
R = np.random.default_rng(7)


def point(shape, lo=-1.2, hi=1.2):
    v = R.uniform(lo, hi, size=shape)
    return float(v) if shape == () else v


def weigh(y):
    """A weighted sum with fixed uneven weights, so a wrong adjoint cannot hide behind a plain sum."""
    return np.sum(y * np.sin(1.0 + np.arange(np.size(y)).reshape(np.shape(y))))


def check_both_modes(f, x):
    """grad (reverse) and jvp (forward) of the scalar ``f`` at ``x`` against central differences."""
    expected = numeric_grad(f, x)
    np.testing.assert_allclose(srcad.grad(f)(x), expected, rtol=1e-6, atol=1e-8)
    t = np.cos(np.arange(np.size(x)) + 0.5).reshape(np.shape(x))
    _, got = srcad.jvp(f)(x, t if np.shape(x) else float(t))
    np.testing.assert_allclose(got, np.sum(expected * t), rtol=1e-6, atol=1e-8)


def _same(a, b):
    return gast.dump(gast.Module(body=a.body, type_ignores=[])) == gast.dump(gast.Module(body=b.body, type_ignores=[]))


@pytest.fixture
def scratch():
    """Keys registered during a test are removed afterwards (the tables are global)."""
    before = set(REVERSE), set(FORWARD)
    yield
    for table, keys in ((REVERSE, before[0]), (FORWARD, before[1])):
        for k in set(table) - keys:
            del table[k]
    srcad.pipeline.clear_cache()


# ---------------------------------------------------------------- functions declared here
# Python functions keyed by a rule: srcad splices the rule instead of reading their code.

def softplus(x):
    return np.log1p(np.exp(x))


def logistic(x):
    return 1.0 / (1.0 + np.exp(-x))


def shift_rows(a, k=1):
    return np.roll(a, k, axis=0)


def symmetric(a):
    return 0.5 * (a + a.T)


def softplus_of(x):
    return weigh(softplus(x) * np.cos(x))


def logistic_broadcast(x):
    return weigh(logistic(x) * np.array([[1.0], [2.0]]))


def shifted(a):
    return weigh(shift_rows(a * a, 2) + shift_rows(a))


def symmetrized(a):
    return weigh(symmetric(a) * a)


def _declare():
    elementwise(softplus, "d / (1.0 + np.exp(-x))")

    @elementwise(logistic)
    def logistic_rule(y, x):
        slope = y * (1.0 - y)
        return d * slope  # noqa: F821

    @linear(shift_rows)
    def shift_rows_rule(y, a, k=1):
        d[a] = shift_rows(d[y], -k)  # noqa: F821

    @linear(symmetric, self_adjoint=True)
    def symmetric_rule(y, a):
        "The symmetric part is an orthogonal projection: its own transpose."


@pytest.mark.parametrize("shape", SHAPES, ids=["scalar", "vector", "matrix"])
def test_elementwise_declared_both_modes(scratch, shape):
    _declare()
    check_both_modes(softplus_of, point(shape))


@pytest.mark.parametrize("shape", [(3,), (2, 3), (1, 3)], ids=["vector", "matrix", "row"])
def test_elementwise_with_temporary_broadcast(scratch, shape):
    _declare()
    check_both_modes(logistic_broadcast, point(shape))


@pytest.mark.parametrize("shape", [(4,), (3, 2)], ids=["vector", "matrix"])
def test_linear_declared_both_modes(scratch, shape):
    _declare()
    check_both_modes(shifted, point(shape))


@pytest.mark.parametrize("shape", [(3, 3), (2, 2)])
def test_self_adjoint_declared_both_modes(scratch, shape):
    _declare()
    check_both_modes(symmetrized, point(shape))


@pytest.mark.parametrize("f,shape", [(softplus_of, (3,)), (logistic_broadcast, (3,)), (shifted, (3, 2)),
                                     (symmetrized, (2, 2))], ids=["softplus", "logistic", "shift", "sym"])
def test_declared_second_order(scratch, f, shape):
    """grad of grad goes through the declared reverse templates again."""
    _declare()
    x = point(shape)
    g = srcad.grad(f)
    v = np.cos(np.arange(np.size(x)) + 0.3).reshape(np.shape(x))
    hv = srcad.grad(lambda z: np.sum(g(z) * v))(x)
    expected = numeric_grad(lambda z: np.sum(g(z) * v), x)
    np.testing.assert_allclose(hv, expected, rtol=1e-5, atol=1e-7)


def test_declared_rule_is_what_the_generated_code_calls(scratch):
    _declare()
    src = srcad.source(srcad.grad(softplus_of))
    assert "dx += dsoftplus_1 / (1.0 + np.exp(-x))" in src
    # (the adjoint of shift_rows_2 is read once: written where it is read, optimize.fuse_single_use)
    assert "da = shift_rows(unbroadcast(dadd_1, shift_rows_2), -1)" in srcad.source(srcad.grad(shifted))


# ---------------------------------------------------------------- the same templates as by hand

def test_elementwise_equals_hand_written_pair(scratch):
    def f1(x):
        return x

    def f2(x):
        return x
    elementwise(f1, "-d * np.sin(x) / y")

    @reverse(f2)
    def f2_vjp(y, x):
        d[x] = -d[y] * np.sin(x) / y  # noqa: F821

    @forward(f2)
    def f2_jvp(y, x):
        d[y] = -d[x] * np.sin(x) / y  # noqa: F821
    for table in (REVERSE, FORWARD):
        a, b = table[f1], table[f2]
        assert _same(a, b) and a.diff_params == b.diff_params == ["x"] and a.reads_out and b.reads_out
        assert a.free == b.free == {"np": np}


def test_linear_equals_hand_written_pair(scratch):
    def g1(a, axis=None, keepdims=False):
        return a

    def g2(a, axis=None, keepdims=False):
        return a

    @linear(g1, call="np.sum", args="axis=axis, keepdims=keepdims")
    def g1_rule(y, a, axis=None, keepdims=False):
        d[a] = np.broadcast_to(d[y], np.shape(a))  # noqa: F821

    @reverse(g2)
    def g2_vjp(y, a, axis=None, keepdims=False):
        d[a] = np.broadcast_to(d[y], np.shape(a))  # noqa: F821

    @forward(g2)
    def g2_jvp(y, a, axis=None, keepdims=False):
        d[y] = np.sum(d[a], axis=axis, keepdims=keepdims)  # noqa: F821
    for table in (REVERSE, FORWARD):
        assert _same(table[g1], table[g2]) and table[g1].signature == table[g2].signature


def test_linear_default_call_passes_the_other_parameters(scratch):
    _declare()
    body = FORWARD[shift_rows].body
    assert len(body) == 1
    assert gast.dump(body[0].value) == gast.dump(gast.parse("shift_rows(d[a], k)", mode="eval").body)
    rev = REVERSE[symmetric].body
    assert gast.dump(rev[0].value) == gast.dump(gast.parse("symmetric(d[y])", mode="eval").body)


class _Exchange(gast.NodeTransformer):
    """d[x] <-> d[y]."""

    def visit_Subscript(self, node):
        name = registry._is_d(node)
        if name in ("x", "y"):
            return registry._d({"x": "y", "y": "x"}[name])
        return self.generic_visit(node)


@pytest.mark.parametrize("key", [np.sin, np.cos, np.sqrt, np.tanh, np.arccos, np.sinc,
                                 np.negative, np.positive, np.radians])
def test_table_rules_mirror_each_other(key):
    """The one-input rules of the tables declared with elementwise: the reverse line is the forward
    line with d[x] and d[y] exchanged, and the temporaries are the same."""
    rev, fwd = REVERSE[key], FORWARD[key]
    assert rev.lines[-1][0] == "x" and fwd.lines[-1][0] == "y"
    assert gast.dump(_Exchange().visit(clone(fwd.body[-1].value))) == gast.dump(rev.body[-1].value)
    assert [gast.dump(s) for s in rev.body[:-1]] == [gast.dump(s) for s in fwd.body[:-1]]


def test_table_names_are_kept():
    """Keys by function object, methods and attributes all still map to their templates."""
    assert REVERSE[np.sum] is REVERSE[registry.method("sum")]
    assert FORWARD[registry.attribute("T")].diff_params == ["a"]
    assert REVERSE[np.radians] is REVERSE[np.deg2rad]
    import math
    assert REVERSE[math.sin] is REVERSE[np.sin]


# ---------------------------------------------------------------- refused declarations

def _k(x):
    return x


@pytest.mark.parametrize("text", ["np.exp(d)", "d * d", "x / d", "d + x", "x", "d ** 2", "np.sin(x) * np.exp(d)"])
def test_elementwise_refuses_nonlinear(scratch, text):
    with pytest.raises(RuleError):
        elementwise(_k, text)


def test_elementwise_refuses_bad_declarations(scratch):
    with pytest.raises(RuleError):
        elementwise(_k, "d *")
    with pytest.raises(RuleError, match="no function"):
        elementwise("d * x")
    with pytest.raises(RuleError, match="return"):
        @elementwise(_k)
        def no_return(y, x):
            t = x  # noqa: F841
    with pytest.raises(RuleError, match="one input"):
        @elementwise(_k)
        def two_inputs(y, x, z):
            return d * z  # noqa: F821
    with pytest.raises(RuleError, match="only the returned"):
        @elementwise(_k)
        def d_in_temp(y, x):
            t = d * x  # noqa: F821
            return d * t  # noqa: F821
    with pytest.raises(RuleError, match="unknown name"):
        elementwise(_k, "d * no_such_name(x)")
    assert _k not in REVERSE and _k not in FORWARD


def test_linear_refuses_bad_declarations(scratch):
    with pytest.raises(RuleError, match="args="):
        @linear(_k)
        def star(y, a, *more):
            d[a] = d[y]  # noqa: F821
    with pytest.raises(RuleError, match="only the linear input"):
        @linear(_k)
        def other(y, a, b):
            d[a] = d[y]  # noqa: F821
            d[b] = d[y]  # noqa: F821
    with pytest.raises(RuleError, match="transpose"):
        @linear(_k)
        def missing(y, a):
            "no reverse line"
    with pytest.raises(RuleError, match="self-adjoint"):
        @linear(_k, self_adjoint=True)
        def both(y, a):
            d[a] = d[y]  # noqa: F821
    with pytest.raises(RuleError, match="call="):
        @linear(registry.method("no_such_method"))
        def unnamed(y, a):
            d[a] = d[y]  # noqa: F821
    assert _k not in REVERSE and _k not in FORWARD
