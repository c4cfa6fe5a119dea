"""Bad input at call time gets a clear error, never a wrong number; users' arrays are never
mutated; the table of refused constructs in docs/reliability.md is generated from a corpus."""

import os

import numpy as np
import pytest

import srcad
from refused_corpus import CORPUS


def f(x, y=2.0):
    return np.sum(x * x) * y


def two(x, s):
    return np.sum(x) * 2.0


def ret_none(x):
    y = x * 2  # noqa: F841
    return None


def ret_str(x):
    return "a"


def ret_tuple(x):
    return x * 2, x * 3


def vec(x):
    return x * 2


def const(x):
    return 3.0


# ---------------------------------------------------------------------- wrt
def test_wrt_out_of_range():
    with pytest.raises(TypeError, match="wrt=3 but only 1 positional"):
        srcad.grad(f, wrt=3)(np.ones(2))
    with pytest.raises(TypeError, match="wrt=1 but only 1 positional"):
        srcad.grad(f, wrt=1)(np.ones(2))          # a defaulted parameter must be passed to be differentiated


def test_wrt_negative_is_refused():
    """Bug 3: wrt=-1 counted from the end of the call's arguments for the input checks but from the
    end of the parameters in the derivative (with ``f(x, y=2.0)`` called as ``f(x)`` the two differ)."""
    with pytest.raises(ValueError, match="wrt positions must be >= 0"):
        srcad.grad(f, wrt=-1)(np.ones(2), 3.0)
    with pytest.raises(ValueError, match="wrt positions must be >= 0"):
        srcad.grad(f, wrt=(0, -1))


@pytest.mark.parametrize("wrt", [1.0, "x", None, True, (), (0, "a")])
def test_wrt_of_wrong_type(wrt):
    with pytest.raises(TypeError, match="wrt must be"):
        srcad.grad(f, wrt=wrt)


@pytest.mark.parametrize("value,what", [("abc", "str"), (None, "NoneType"), (b"x", "bytes"),
                                        ({1, 2}, "set")])
def test_wrt_names_a_non_numeric_argument(value, what):
    with pytest.raises(TypeError, match=f"argument 1 is {what}, not a number or array"):
        srcad.grad(two, wrt=1)(np.ones(2), value)


# ---------------------------------------------------------------------- input dtypes
def test_integer_inputs_are_cast_to_float64():
    g = srcad.grad(f)(np.arange(3))
    assert g.dtype == np.float64
    np.testing.assert_array_equal(g, [0.0, 4.0, 8.0])
    assert srcad.grad(f)(3) == 12.0
    np.testing.assert_array_equal(srcad.grad(f)(np.arange(3, dtype=np.uint8)), [0.0, 4.0, 8.0])


@pytest.mark.parametrize("value,message", [
    (True, "argument 0 is boolean"),
    (np.array([True, False]), "argument 0 is boolean"),
    (np.ones(2, object), "argument 0 is a object array"),
    ("abc", "argument 0 is str"),
    (np.array(["a"]), "argument 0 has dtype <U1"),
    (np.array(["2020-01-01"], dtype="datetime64[D]"), "argument 0 has dtype datetime64"),
    (None, "argument 0 is NoneType"),
])
def test_non_real_inputs_are_refused(value, message):
    for make in (srcad.grad, srcad.value_and_grad, srcad.vjp, srcad.jacobian, srcad.hessian):
        with pytest.raises(TypeError, match=message):
            make(f)(value)


def test_non_real_inputs_refused_in_forward_mode():
    with pytest.raises(TypeError, match="boolean"):
        srcad.jvp(f, (np.ones(3, bool),), (np.ones(3),))
    # complex inputs are differentiated (tests/test_complex.py), but jacobian/hessian build real matrices
    for make in (srcad.jacobian, srcad.hessian):
        with pytest.raises(TypeError, match="complex"):
            make(f)(np.ones(3, complex))


@pytest.mark.parametrize("tangent,message", [
    (np.ones(3) * 1j, "tangent 0 is an array of dtype complex128"),
    (np.ones(3, bool), "tangent 0 is an array of dtype bool"),
    ("abc", "tangent 0 is str"),
])
def test_non_real_tangents_are_refused(tangent, message):
    """Bug 4: a complex tangent was cast to float64 (a ComplexWarning, imaginary part dropped)."""
    with pytest.raises(TypeError, match=message):
        srcad.jvp(f, (np.ones(3),), (tangent,))


def test_tangent_of_wrong_shape():
    with pytest.raises(ValueError, match=r"tangent 0 has shape \(2,\) but its primal has shape \(3,\)"):
        srcad.jvp(f, (np.ones(3),), (np.ones(2),))
    with pytest.raises(ValueError, match="1 primals but 0 tangents"):
        srcad.jvp(f, (np.ones(3),), ())


# ---------------------------------------------------------------------- outputs
@pytest.mark.parametrize("fn,what", [(ret_none, "NoneType"), (ret_str, "str"), (ret_tuple, "tuple")])
def test_non_numeric_output_is_refused(fn, what):
    """Bug 5: an output that does not depend on the input skipped the seed check, so a function
    returning None or a str got a zero gradient instead of an error."""
    for make in (srcad.grad, srcad.value_and_grad):
        with pytest.raises(TypeError, match=f"returned {what}"):
            make(fn)(np.ones(2))


def test_constant_output_has_zero_gradient():
    np.testing.assert_array_equal(srcad.grad(const)(np.ones(2)), [0.0, 0.0])
    assert srcad.grad(const)(1.5) == 0.0


# ---------------------------------------------------------------------- vjp cotangents
@pytest.mark.parametrize("dy", [np.ones(2), 1.0, np.ones((3, 1))])
def test_cotangent_of_wrong_shape(dy):
    _, pullback = srcad.vjp(vec)(np.ones(3))
    with pytest.raises(ValueError, match="cotangent has shape"):
        pullback(dy)


@pytest.mark.parametrize("dy,message", [
    (np.ones(3) * 1j, "dtype complex128"), (np.ones(3, bool), "dtype bool"), ("abc", "is str"),
    (None, "is NoneType"), (np.ones(3, object), "dtype object"),
])
def test_cotangent_of_wrong_kind(dy, message):
    """Bug 6: a complex cotangent gave a complex gradient; None/str were reported as a shape mismatch."""
    _, pullback = srcad.vjp(vec)(np.ones(3))
    with pytest.raises(TypeError, match=message):
        pullback(dy)


def test_cotangent_structure_for_tuple_outputs():
    _, pullback = srcad.vjp(ret_tuple)(np.ones(3))
    np.testing.assert_allclose(pullback((np.ones(3), np.ones(3))), 5.0 * np.ones(3))
    with pytest.raises(ValueError, match="tuple of 2 items"):
        pullback(np.ones(3))


# ---------------------------------------------------------------------- inputs never mutated
def writes_input(x):
    x[0] = x[1] * x[2]
    return np.sum(x * x)


def writes_input_in_loop(x):
    for i in range(1, x.shape[0]):
        x[i] = x[i] * x[i - 1]
    return np.sum(x)


def accumulates_into_input(x):
    x += 1.0
    x[1] += x[0]
    return np.sum(np.sin(x))


def writes_input_in_branch(x, w):
    if np.sum(x) > 0:
        x[0] = 0.0
        w[1] = w[0] * 2.0
    return np.dot(x, w)


def returns_input(x):
    return x


def matrix_rows(m):
    m[0] = m[1] * 2.0
    m[:, 1] = 0.5
    return np.sum(m * m)


MUTATING = [(writes_input, 1), (writes_input_in_loop, 1), (accumulates_into_input, 1),
            (writes_input_in_branch, 2), (returns_input, 1), (matrix_rows, 1)]


@pytest.mark.parametrize("fn,nargs", MUTATING, ids=[m[0].__name__ for m in MUTATING])
def test_user_arrays_are_never_mutated(fn, nargs, rng):
    shape = (3, 3) if fn is matrix_rows else (4,)
    args = [rng.uniform(0.2, 1.0, size=shape) for _ in range(nargs)]
    keep = [a.copy() for a in args]
    wrt = tuple(range(nargs))
    srcad.grad(fn, wrt=wrt)(*args)
    srcad.value_and_grad(fn, wrt=wrt)(*args)
    _, pullback = srcad.vjp(fn, wrt=wrt)(*args)
    for a, k in zip(args, keep):
        np.testing.assert_array_equal(a, k)
    # gradients are right too (finite differences on copies: the plain function mutates)
    n = srcad.numerical_grad(lambda *a: fn(*[v.copy() for v in a]), keep, wrt=wrt)
    for g, e in zip(srcad.grad(fn, wrt=wrt)(*args), n):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-7)
    srcad.jvp(fn, tuple(args), tuple(np.ones_like(a) for a in args))
    for a, k in zip(args, keep):
        np.testing.assert_array_equal(a, k)


# ---------------------------------------------------------------------- refused constructs table
DOC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "reliability.md")
START, END = "<!-- refused-table:start -->", "<!-- refused-table:end -->"


def render_refused_table():
    rows = ["| construct | example | message |", "|---|---|---|"]
    for fn in CORPUS:
        with pytest.raises(srcad.TransformError) as info:
            srcad.grad(fn)(np.ones(3))
        err = info.value
        assert err.filename and err.filename.endswith("refused_corpus.py") and isinstance(err.lineno, int)
        msg = err.reason.replace("|", "\\|")
        rows.append(f"| {err.construct} | `{fn.__name__}` | {msg} |")
    return "\n".join(rows)


def test_rejection_table_matches_docs():
    """docs/reliability.md's table is generated: SRCAD_WRITE_DOCS=1 pytest this test rewrites it."""
    table = render_refused_table()
    text = open(DOC).read()
    head, rest = text.split(START)
    _, tail = rest.split(END)
    new = f"{head}{START}\n{table}\n{END}{tail}"
    if os.environ.get("SRCAD_WRITE_DOCS"):
        with open(DOC, "w") as fh:
            fh.write(new)
    assert new == text, "docs/reliability.md is out of date: rerun with SRCAD_WRITE_DOCS=1"


def test_wrt_one_tuple_gives_a_tuple():
    """Bug 8: ``wrt=(0,)`` returned the bare gradient; the API promises a tuple for a tuple wrt."""
    x = np.array([0.5, 1.0])
    for g in (srcad.grad(f, wrt=(0,))(x), srcad.value_and_grad(f, wrt=(0,))(x)[1],
              srcad.vjp(f, wrt=(0,))(x)[1](1.0)):
        assert isinstance(g, tuple) and len(g) == 1
        np.testing.assert_allclose(g[0], 4.0 * x)
    assert not isinstance(srcad.grad(f, wrt=0)(x), tuple)
