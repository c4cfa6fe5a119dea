"""Edges of the derivative rules with a known right answer (issue 11), in both modes.

Each test states the exact value (or the refusal) NumPy's semantics call for: mod/remainder and
their jumps, norms of every ord, det of singular matrices, std/var at zero spread, complex
intermediates, boolean/complex results, NumPy/SciPy functions without rules, np.r_/np.c_,
dtypes of casts, second derivatives through trace/diag/diagonal, gradients of list arguments.
"""

import numpy as np
import pytest

import srcad
from srcad.check import numerical_grad
from srcad.rules import NONDIFF

R = np.random.default_rng(11)


def both(f, x, t=None):
    """(reverse gradient, forward tangent along ``t``) of a scalar function of one argument."""
    g = srcad.grad(f)(x)
    t = np.ones_like(x) if t is None and isinstance(x, np.ndarray) else (1.0 if t is None else t)
    _, jt = srcad.jvp(f)(x, t)
    return g, jt


# ---------------------------------------------------------------- % and friends


@pytest.mark.parametrize("a,b", [(0.3, 2.0), (2.9, -1.0), (-7.0, 0.5), (10.0, 3.0)])
def test_angle_wrap_has_derivative_one(a, b):
    wrap = lambda a, b: (a - b + np.pi) % (2 * np.pi) - np.pi  # noqa: E731
    ga, gb = srcad.grad(wrap, wrt=(0, 1))(a, b)
    assert (ga, gb) == (1.0, -1.0)
    _, ta = srcad.jvp(wrap, wrt=0)(a, b, 1.0)
    _, tb = srcad.jvp(wrap, wrt=1)(a, b, 1.0)
    assert (ta, tb) == (1.0, -1.0)


@pytest.mark.parametrize("op,quot", [(np.mod, np.floor), (np.remainder, np.floor), (np.fmod, np.trunc),
                                     (lambda x, y: x % y, np.floor)], ids=["mod", "remainder", "fmod", "%"])
@pytest.mark.parametrize("shape", [(), (4,), (2, 4)], ids=["scalar", "vector", "matrix"])
def test_mod_divisor_derivative(op, quot, shape):
    x = R.uniform(-5, 5, size=shape) if shape else 3.7
    y = np.array([0.7, -1.3, 2.1, -0.4])[:shape[-1]] if shape else -1.3
    f = lambda x, y: np.sum(op(x, y))  # noqa: E731
    gx, gy = srcad.grad(f, wrt=(0, 1))(x, y)
    np.testing.assert_array_equal(gx, np.ones_like(x))
    expected = -quot(np.true_divide(x, y))
    if shape == (2, 4):
        expected = expected.sum(axis=0)
    np.testing.assert_allclose(gy, expected)
    _, ty = srcad.jvp(f, wrt=1)(x, y, np.ones_like(y) if shape else 1.0)
    np.testing.assert_allclose(ty, np.sum(-quot(np.true_divide(x, y))))


def test_floor_divide_stays_piecewise_constant():
    g, t = both(lambda x: np.sum(x // 0.7 + np.floor_divide(x, 0.3)), np.array([0.2, 1.5, -2.4]))
    np.testing.assert_array_equal(g, [0.0, 0.0, 0.0])
    assert t == 0.0


def test_string_formatting_is_not_differentiated():
    def f(x):
        label = "%.2f" % x
        return x * 2.0 + len(label)
    assert srcad.grad(f)(1.5) == 2.0
    assert srcad.jvp(f)(1.5, 1.0)[1] == 2.0


# ---------------------------------------------------------------- norms


def test_vector_norm_ord0_is_piecewise_constant():
    x = np.array([0.5, 0.0, -2.0])
    g, t = both(lambda x: np.linalg.norm(x, 0), x)
    np.testing.assert_array_equal(g, np.zeros(3))
    assert t == 0.0


@pytest.mark.parametrize("ord", [1, -1, np.inf, -np.inf, 2, -2, "nuc", "fro", None])
def test_matrix_norms_are_finite_and_match_differences(ord):
    x = R.normal(size=(3, 4))
    f = lambda x: np.linalg.norm(x, ord)  # noqa: E731
    g, t = both(f, x, np.cos(np.arange(12.0)).reshape(3, 4))
    assert np.all(np.isfinite(g))
    np.testing.assert_allclose(g, numerical_grad(f, [x]), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(t, np.sum(g * np.cos(np.arange(12.0)).reshape(3, 4)), rtol=1e-10)


def test_matrix_inf_norm_ties_split_evenly():
    x = np.array([[1.0, -1.0], [3.0, 0.0], [-1.5, 1.5]])   # rows 1 and 2 tie at 3
    g, _ = both(lambda x: np.linalg.norm(x, np.inf), x)
    np.testing.assert_allclose(g, [[0.0, 0.0], [0.5, 0.0], [-0.5, 0.5]])


# ---------------------------------------------------------------- det of singular matrices


def _cofactors(a):
    n = a.shape[0]
    c = np.zeros_like(a)
    for i in range(n):
        for j in range(n):
            minor = np.delete(np.delete(a, i, 0), j, 1)
            c[i, j] = (-1) ** (i + j) * (np.linalg.det(minor) if minor.size else 1.0)
    return c


@pytest.mark.parametrize("a", [
    np.array([[1.0, 2.0], [2.0, 4.0]]),
    np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [0.0, 1.0, 5.0]]),     # rank 2
    np.outer([1.0, 2.0, 3.0], [0.5, -1.0, 2.0]),                       # rank 1: gradient 0
    np.zeros((3, 3)),
    np.array([[2.0]]),
], ids=["2x2", "rank2", "rank1", "zero", "1x1"])
def test_det_gradient_is_the_cofactor_matrix(a):
    det = lambda a: np.linalg.det(a)  # noqa: E731
    g, _ = both(det, a)
    np.testing.assert_allclose(g, _cofactors(a), atol=1e-12)
    t = np.cos(np.arange(a.size) + 1.0).reshape(a.shape)
    _, jt = srcad.jvp(det)(a, t)
    np.testing.assert_allclose(jt, np.sum(_cofactors(a) * t), atol=1e-12)


def test_det_batched_singular_and_regular():
    a = np.stack([np.array([[1.0, 2.0], [2.0, 4.0]]), np.array([[3.0, 1.0], [0.5, 2.0]])])
    g = srcad.grad(lambda a: np.sum(np.linalg.det(a) * np.array([1.0, -2.0])))(a)
    np.testing.assert_allclose(g, [_cofactors(a[0]), -2.0 * _cofactors(a[1])], atol=1e-12)


# ---------------------------------------------------------------- std and var at zero spread


_SPREAD_FNS = {"std": np.std, "var": np.var, "std-axis": lambda x: np.sum(np.std(x, axis=0)),
               "var-axis": lambda x: np.sum(np.var(x, axis=-1, keepdims=True))}
_SPREAD_XS = {"one": np.array([0.5]), "all-equal": np.array([[0.3, 0.3], [0.3, 0.3]]), "scalar": 0.7}
_SPREAD = [(f, x) for f in _SPREAD_FNS for x in _SPREAD_XS if not (x == "scalar" and "axis" in f)]


@pytest.mark.parametrize("fname,xname", _SPREAD, ids=[f"{f}-{x}" for f, x in _SPREAD])
def test_std_var_at_zero_spread_have_gradient_zero(fname, xname):
    fn, x = _SPREAD_FNS[fname], _SPREAD_XS[xname]
    with np.errstate(all="raise"):
        g, t = both(lambda x: fn(x), x)
    np.testing.assert_array_equal(g, np.zeros_like(x))
    assert t == 0.0


# ---------------------------------------------------------------- complex values


def complex_product(x):
    return abs(x * (1 + 1j))


def complex_via_variable(x):
    c = np.exp(1j * 0.3)
    y = x * 2.0
    return np.abs(y * c)


def real_from_complex_constant(x):
    c = np.abs(np.exp(1j * 0.3)) + np.real(2 + 1j)
    return x * c


@pytest.mark.parametrize("fn", [complex_product, complex_via_variable])
@pytest.mark.parametrize("x", [0.7, np.array([0.3, -1.1, 2.0])], ids=["scalar", "vector"])
def test_complex_intermediates_of_a_real_function(fn, x):
    # refused before complex rules (issue 14); now exact in both modes (docs/complex.md)
    f = (lambda v: np.sum(fn(v))) if np.ndim(x) else fn
    srcad.check_grad(f, x)
    t = np.ones_like(x) * 0.5 if np.ndim(x) else 0.5
    _, tangent = srcad.jvp(f, (x,), (t,))
    num = (f(x + 1e-6 * t) - f(x - 1e-6 * t)) / 2e-6
    assert tangent == pytest.approx(num, rel=1e-6, abs=1e-8)


def test_real_constants_made_from_complex_ones_are_fine():
    assert srcad.grad(real_from_complex_constant)(0.7) == pytest.approx(3.0)
    assert srcad.jvp(real_from_complex_constant)(0.7, 1.0)[1] == pytest.approx(3.0)


@pytest.mark.parametrize("fn", [lambda x: np.allclose(x, 0.0), lambda x: np.sum(x) > 0.0,
                                lambda x: np.isclose(x, 1.0), lambda x: np.sum(x).astype(complex),
                                lambda x: x * np.complex128(1.0)],
                         ids=["allclose", "compare", "isclose", "astype-complex", "complex-scalar"])
@pytest.mark.parametrize("x", [np.array([0.5, 1.0]), 0.5], ids=["vector", "scalar"])
def test_boolean_and_complex_results_have_no_gradient(fn, x):
    with pytest.raises(TypeError, match="boolean|complex"):
        srcad.grad(fn)(x)
    t = np.ones_like(x) if np.ndim(x) else 1.0
    if np.iscomplexobj(fn(x)):   # forward mode gives the complex tangent (tests/test_complex.py)
        np.testing.assert_allclose(srcad.jvp(fn)(x, t)[1], np.sum(t) if np.ndim(fn(x)) == 0 else t)
        return
    with pytest.raises(TypeError, match="boolean|complex"):
        srcad.jvp(fn)(x, t)


def test_boolean_values_in_the_middle_are_fine():
    f = lambda x: np.sum(x * 2.0) if np.allclose(x, 0.0) is False or True else 0.0  # noqa: E731
    np.testing.assert_array_equal(srcad.grad(f)(np.array([1.0, 2.0])), [2.0, 2.0])


# ---------------------------------------------------------------- functions srcad must not read


def chkfinite(x):
    return np.sum(np.asarray_chkfinite(x) * 2.0)


def require(x):
    return np.sum(np.require(x, dtype=np.float64) ** 2)


@pytest.mark.parametrize("fn", [chkfinite, require])
@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_numpy_python_functions_are_refused_not_read(fn, mode):
    x = np.array([1.0, 2.0, 3.0])
    with pytest.raises(srcad.TransformError, match=r"numpy\..*defvjp") as info:
        srcad.grad(fn)(x) if mode == "reverse" else srcad.jvp(fn)(x, x)
    assert info.value.filename == __file__ and info.value.lineno == fn.__code__.co_firstlineno + 1


def test_a_rule_for_a_numpy_python_function_is_used():
    import srcad.rules.registry as reg
    try:
        @srcad.defvjp(np.asarray_chkfinite)
        def chk_vjp(y, a):
            d[a] = d[y]  # noqa: F821
        np.testing.assert_array_equal(srcad.grad(chkfinite)(np.ones(2)), [2.0, 2.0])
    finally:
        reg.REVERSE.pop(np.asarray_chkfinite, None)
        from srcad import pipeline
        pipeline.clear_cache()


def test_scipy_python_functions_are_refused_not_read():
    linalg = pytest.importorskip("scipy.linalg")

    def f(x):
        return np.sum(linalg.logm(x))  # expm has a rule (scipy_rules); logm has none
    with pytest.raises(srcad.TransformError, match=r"scipy.*defvjp"):
        srcad.grad(f)(np.eye(2))
    with pytest.raises(srcad.TransformError, match=r"scipy.*defjvp"):
        srcad.jvp(f)(np.eye(2), np.eye(2))


def test_library_function_without_active_arguments_still_runs():
    def f(x):
        return np.sum(x * np.asarray_chkfinite(np.ones(3)))
    np.testing.assert_array_equal(srcad.grad(f)(np.zeros(3)), np.ones(3))


@pytest.mark.parametrize("fn", [lambda a, b: np.sum(np.r_[a, b] * 2.0), lambda a, b: np.sum(np.c_[a, b] * 2.0)],
                         ids=["r_", "c_"])
@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_index_tricks_are_refused(fn, mode):
    a, b = np.ones(3), np.ones(3)
    with pytest.raises(srcad.TransformError, match=r"np\.[rc]_\[\.\.\.\].*concatenate"):
        srcad.grad(fn, wrt=(0, 1))(a, b) if mode == "reverse" else srcad.jvp(fn, wrt=0)(a, b, a)


@pytest.mark.parametrize("fn", [lambda x: np.sum(np.arange(x, x + 3.0)), lambda x: np.sum(np.meshgrid(x, x)[0]),
                                lambda x: np.sum(np.random.normal(x, 1.0, size=3))],
                         ids=["arange", "meshgrid", "normal"])
def test_value_passing_functions_are_no_longer_zero(fn):
    with pytest.raises(srcad.TransformError, match="no derivative rule"):
        srcad.grad(fn)(0.5)


def test_zero_derivative_table_holds_piecewise_constant_functions_only():
    passing = {np.full, np.full_like, np.linspace, np.arange, np.meshgrid, np.mod, np.remainder,
               np.fmod, np.heaviside, np.random.normal, np.random.uniform, np.random.choice,
               np.ndarray.astype}
    assert not passing & set(k for k in NONDIFF if not isinstance(k, tuple))


def test_linspace_retstep_is_refused():
    with pytest.raises(NotImplementedError, match="retstep"):
        srcad.grad(lambda a: np.sum(np.linspace(a, 2.0, 3, retstep=True)[0]))(0.5)


# ---------------------------------------------------------------- dtypes and structure


@pytest.mark.parametrize("fn", [lambda a: np.sum(a.astype(np.float64) ** 2), lambda a: np.sum(a.astype(np.float32) ** 2),
                                lambda a: np.sum(np.float32(2.0) * np.float32(a[0]) * a)],
                         ids=["to64", "to32", "float32"])
def test_gradient_keeps_the_input_dtype(fn):
    x = np.arange(1.0, 4.0, dtype=np.float32)
    assert srcad.grad(fn)(x).dtype == np.float32


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cast_tangent_takes_the_output_dtype(dtype):
    f = lambda a: np.sum(a.astype(dtype) ** 2)  # noqa: E731
    y, t = srcad.jvp(f)(np.arange(1.0, 4.0, dtype=np.float32), np.ones(3, np.float32))
    assert np.asarray(y).dtype == dtype and np.asarray(t).dtype == dtype


@pytest.mark.parametrize("container", [list, tuple])
def test_list_argument_gradient_keeps_nesting_and_zero_arrays(container):
    xs = container([np.ones(2), [np.ones((2, 2)), 3.0, [np.ones(1)]], 2.0])
    g = srcad.grad(lambda xs: np.sum(xs[1][0] * 2.0))(xs)
    assert type(g) is container and len(g) == 3
    np.testing.assert_array_equal(g[0], np.zeros(2))
    np.testing.assert_array_equal(g[1][0], 2.0 * np.ones((2, 2)))
    assert g[1][1] == 0.0 and isinstance(g[1][2], list)
    np.testing.assert_array_equal(g[1][2][0], np.zeros(1))
    assert g[2] == 0.0


@pytest.mark.parametrize("stack", [np.vstack, np.hstack, np.concatenate, np.stack])
@pytest.mark.parametrize("shape", [(2, 3), (1, 3)])
def test_array_argument_of_stacking_gets_an_array_gradient(stack, shape):
    x = R.normal(size=shape)
    f = lambda x: np.sum(stack(x) ** 2)  # noqa: E731
    g = srcad.grad(f)(x)
    assert isinstance(g, np.ndarray)
    np.testing.assert_allclose(g, 2.0 * x)


# ---------------------------------------------------------------- second derivatives


@pytest.mark.parametrize("f", [lambda x: np.trace(x) ** 2 + np.trace(x @ x), lambda x: x.trace() ** 3,
                               lambda x: np.sum(np.diag(x) ** 3), lambda x: np.sum(np.diagonal(x, 1) ** 3),
                               lambda x: np.linalg.det(x) ** 2, lambda x: np.sum(np.diag(np.sum(x, 0)) @ x),
                               lambda x: np.linalg.norm(x, np.inf) ** 2,
                               lambda x: np.einsum("ij,jk->", x, x.T) ** 2,
                               lambda x: np.sum(np.einsum(x, [0, 1], np.sin(x), [0, 1], [1]) ** 2),
                               lambda x: np.sum(np.concatenate([x, x * x], axis=1) ** 3),
                               lambda x: np.sum(np.stack([x, np.sin(x)], axis=-1) ** 3),
                               lambda x: np.sum(np.vstack([x, x * x]) ** 3),
                               lambda x: np.sum(np.split(x * x, 3, axis=1)[1] ** 3)],
                         ids=["trace", "trace-method", "diag", "diagonal", "det", "diag-build", "norm-inf",
                              "einsum", "einsum-sublist", "concatenate", "stack", "vstack", "split"])
def test_hessian_through_trace_diag_det(f):
    x = R.normal(size=(3, 3))
    h = srcad.hessian(f)(x).reshape(9, 9)
    g = lambda v: numerical_grad(f, [v.reshape(3, 3)], 0, 1e-5).ravel()  # noqa: E731
    eps = 1e-4
    num = np.stack([(g(x.ravel() + eps * e) - g(x.ravel() - eps * e)) / (2 * eps) for e in np.eye(9)], axis=1)
    np.testing.assert_allclose(h, num, rtol=1e-4, atol=1e-4)
    assert np.any(h != 0.0)


# ---------------------------------------------------------------- arguments a rule does not differentiate


def norm_of_order(x, p):
    return np.linalg.norm(x, ord=p)


def var_with_ddof(x, p):
    return np.var(x, ddof=p)


def full_like_shape_of(x, p):
    return np.sum(np.full_like(p, 2.0) * x)


@pytest.mark.parametrize("fn", [norm_of_order, var_with_ddof])
@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_differentiated_argument_without_a_rule_is_refused(fn, mode):
    x = np.array([1.0, 2.0, 4.0])
    with pytest.raises(srcad.TransformError, match="no derivative with respect to its argument") as info:
        srcad.grad(fn, wrt=1)(x, 1.0) if mode == "reverse" else srcad.jvp(fn, wrt=1)(x, 1.0, 1.0)
    assert info.value.lineno == fn.__code__.co_firstlineno + 1


def test_arguments_read_for_shape_or_condition_only_are_fine():
    x = np.array([1.0, -2.0])
    np.testing.assert_array_equal(srcad.grad(full_like_shape_of, wrt=(0, 1))(x, x)[1], [0.0, 0.0])
    g = srcad.grad(lambda x: np.sum(np.where(x, x, 2.0 * x)))(np.array([0.0, 3.0]))
    np.testing.assert_array_equal(g, [2.0, 1.0])


def test_tolist_passes_values_and_is_refused_not_zero():
    with pytest.raises(srcad.TransformError, match=r"\.tolist\(\)"):
        srcad.grad(lambda x: np.sum(np.array(x.tolist()) * 2.0))(np.arange(3.0))


def test_average_returned_is_refused():
    with pytest.raises(NotImplementedError, match="returned=True"):
        srcad.jvp(lambda x: np.average(x, weights=np.ones(3), returned=True)[0])(np.arange(3.0), np.ones(3))


# ---------------------------------------------------------------- memory order of reshape / ravel

W6 = np.linspace(-1.0, 2.0, 6)
ORDERS = {
    "reshape_F": lambda x: np.sum(np.reshape(x, (3, 2), order="F") * W6.reshape(3, 2)),
    "reshape_A_fortran": lambda x: np.sum(np.reshape(np.asfortranarray(x), (3, 2), order="A") * W6.reshape(3, 2)),
    "reshape_A_c": lambda x: np.sum(np.reshape(x, (3, 2), order="A") * W6.reshape(3, 2)),
    "method_reshape_F": lambda x: np.sum(x.reshape(3, 2, order="F") ** 2 * W6.reshape(3, 2)),
    "ravel_F": lambda x: np.sum(np.ravel(x, order="F") * W6),
    "ravel_K_transposed": lambda x: np.sum(np.ravel(x.T, order="K") * W6),
    "ravel_A_transposed": lambda x: np.sum(np.ravel(x.T, "A") * W6),
    "flatten_F": lambda x: np.sum(x.flatten("F") * W6 * x.ravel()),
    "method_ravel_K": lambda x: np.sum(np.asfortranarray(x).ravel("K") * W6),
}


@pytest.mark.parametrize("name", sorted(ORDERS))
def test_reshape_and_ravel_follow_the_memory_order(name):
    """``order='F'`` (and 'A', 'K' by the array's layout) reads the elements in another order: the
    gradient must put each adjoint back where its element came from (the rules ignored ``order``)."""
    f = ORDERS[name]
    x = np.arange(6.0).reshape(2, 3) * 0.3 - 0.4
    want = numerical_grad(f, (x,), 0, 1e-6, {})
    t = R.normal(size=x.shape)
    g, jt = srcad.grad(f)(x), srcad.jvp(f)(x, t)[1]
    np.testing.assert_allclose(g, want, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(jt, np.sum(want * t), rtol=1e-6, atol=1e-8)
    h = srcad.hessian(f)(x)
    h_fd = np.stack([numerical_grad(lambda y: srcad.grad(f)(y)[i, j], (x,), 0, 1e-5, {})
                     for i in range(2) for j in range(3)]).reshape(h.shape)
    np.testing.assert_allclose(h, h_fd, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- a zero placeholder meets a reduction

AXIS_REDUCTIONS = {
    "mean": lambda v: np.mean(v, axis=0), "sum": lambda v: np.sum(v, axis=1), "max": lambda v: np.max(v, axis=0),
    "std": lambda v: np.std(v, axis=0), "var": lambda v: np.var(v, axis=-1), "prod": lambda v: np.prod(v, axis=0),
    "norm": lambda v: np.linalg.norm(v, axis=0), "keepdims": lambda v: np.sum(v, axis=0, keepdims=True),
    "method": lambda v: v.mean(axis=1),
}


@pytest.mark.parametrize("name", sorted(AXIS_REDUCTIONS))
def test_reduction_whose_adjoint_is_a_zero_placeholder(name):
    """A reduction defined in a branch and read only in a branch not taken: its adjoint is the 0.0
    placeholder (the value may not exist where the zero is made real), which the reduction's rule
    must spread, not reshape (found by the random programs: a ValueError)."""
    red = AXIS_REDUCTIONS[name]

    def f(x):
        if np.sum(x) > -100:
            v = red(x * x + 1.0)
            if np.sum(x) > 100:
                s = np.sum(v)
            else:
                s = np.sum(np.sin(x))
        else:
            s = 0.0
        return s
    x = np.arange(6.0).reshape(2, 3) * 0.1 + 0.05
    want = np.cos(x)
    np.testing.assert_allclose(srcad.grad(f)(x), want, rtol=1e-12)
    t = R.normal(size=x.shape)
    np.testing.assert_allclose(srcad.jvp(f)(x, t)[1], np.sum(want * t), rtol=1e-12)
    np.testing.assert_allclose(srcad.hessian(f)(x).reshape(6, 6), np.diag(-np.sin(x).ravel()), atol=1e-12)
