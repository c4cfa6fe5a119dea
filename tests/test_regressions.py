"""Bugs found by the random-program generator (tests/programs.py), minimised by hand.

Each test is named after the bug; docs/reliability.md lists them with their status.
"""

import numpy as np
import pytest

import srcad
from fd_points import numeric_grad


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


# ---------------------------------------------------------------------------------------------
# Issue "trust" (docs/reliability.md rows 27-32): programs written by hand the way a user of
# autograd or JAX writes them, each checked in both modes, to second order, against central
# differences in float64.

_A2 = np.array([[1.0, 2.0], [3.0, -1.0]])


def builtin_sum_of_matrix(X):
    return np.sum(sum(X) ** 2) + sum(sum(X * X))     # Python's sum adds the rows


def builtin_sum_of_vector(x):
    return sum(x, 1.0) ** 2


def and_or_values(x):
    s = x[0] > 0 and x[1] * 2.0 or x[2]              # the value of `and`/`or` is an operand
    return s * x[2] + (x[1] or x[0]) * x[0] + (x[0] and x[1] and x[2])


def enumerate_as_a_value(x):
    s = 0.0
    for i, v in list(enumerate(x)):
        s = s * 0.5 + v * i
    for p in enumerate(x, 1):
        s = s + p[1] * p[0]
    return s + sum(i * v for i, v in enumerate(x, 2))


def unread_tuple_element(x):
    t = (x, _A2 @ x[:2], np.reshape(x, (3, 1)))     # the 2nd and 3rd are never read
    d = {"a": x, "b": _A2 @ x[1:]}
    return np.sum(t[0] ** 2) + np.sum(d["a"] * x)


def zero_d_array_write(x):
    y = np.zeros(())
    y[()] = x[0] * 2.0
    z = np.zeros(())
    z[...] = x[1] * y + 1.0
    return y * x[2] + z


def loop_that_runs_no_pass(x):
    s = x[0]
    for i in range(len(x) - 3):
        s = s * x[i]
    return s * x[1]


@pytest.mark.parametrize("f, shape", [
    (builtin_sum_of_matrix, (2, 3)), (builtin_sum_of_vector, (3,)), (and_or_values, (3,)),
    (enumerate_as_a_value, (3,)), (unread_tuple_element, (3,)), (zero_d_array_write, (3,)),
    (loop_that_runs_no_pass, (3,))], ids=lambda v: getattr(v, "__name__", str(v)))
def test_user_programs_from_the_outside(f, shape):
    x = np.array([[0.3, -0.7, 1.1], [0.5, 0.9, -0.4]])[:shape[0]] if len(shape) == 2 else \
        np.array([0.3, -0.7, 1.1])
    x0 = x.copy()
    fd = numeric_grad(f, x)
    g = srcad.grad(f)(x)
    assert isinstance(g, np.ndarray) and g.shape == x.shape      # bug: a list of rows (builtin sum)
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-6)
    value, g2 = srcad.value_and_grad(f)(x)
    assert value == f(x.copy())
    np.testing.assert_allclose(g2, fd, rtol=1e-6, atol=1e-6)
    t = np.linspace(0.5, 1.5, x.size).reshape(x.shape)
    _, tangent = srcad.jvp(f, (x,), (t,))
    np.testing.assert_allclose(tangent, np.sum(fd * t), rtol=1e-6, atol=1e-6)
    # second order: forward over reverse and reverse over reverse against differences of the gradient
    gf = srcad.grad(f)
    H = srcad.hessian(f)(x).reshape(x.size, x.size)
    ref = np.stack([numeric_grad(lambda v, k=k: gf(v).ravel()[k], x).ravel() for k in range(x.size)])
    np.testing.assert_allclose(H, ref, rtol=1e-5, atol=1e-5)

    def summed(v):
        return np.sum(gf(v))
    np.testing.assert_allclose(srcad.grad(summed)(x).ravel(), ref.sum(axis=0), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(x, x0)


def test_a_zero_d_array_written_in_place_keeps_its_tangent_an_array():
    def f(x):
        x[()] = x * x
        return x * 3.0
    x = np.array(0.5)
    assert srcad.grad(f)(x) == 3.0
    assert srcad.jvp(f, (x,), (1.0,))[1] == 3.0
    assert srcad.hessian(f)(x) == 6.0
    assert x == 0.5


def test_reversed_is_refused_not_zero():
    def f(x):
        s = 0.0
        for v in reversed(x):
            s = s * 0.5 + v
        return s
    with pytest.raises(srcad.TransformError, match="reversed"):
        srcad.grad(f)(np.ones(3))


def matrix_from_nested_comprehension(x):
    M = np.array([[x[i] * x[j] for j in range(3)] for i in range(3)])
    return np.trace(M @ M)


def copy_of_a_list_of_tuples(x):
    L = [(i, v) for i, v in enumerate(x)]
    M = [p for p in L]
    return np.sin(M[-1][1] * 1.5) + list(enumerate(x))[1][1] ** 2


def _two_entries(v):
    return {"a": v * 2.0, "b": np.exp(v)}


def dict_from_a_helper(x):
    d = _two_entries(x)
    return d["a"] @ d["b"]


@pytest.mark.parametrize("f", [matrix_from_nested_comprehension, copy_of_a_list_of_tuples, dict_from_a_helper],
                         ids=lambda f: f.__name__)
def test_reverse_over_reverse_of_lists(f):
    # the second adjoint of `np.array(rows)` came back as nested lists; a list element nothing read
    # (its adjoint the 0.0 placeholder) received a tuple; two dict adjoints were joined with `+`:
    # all crashed
    x = np.array([0.3, -0.7, 1.1])
    gf = srcad.grad(f)
    ref = np.stack([numeric_grad(lambda v, k=k: gf(v)[k], x) for k in range(3)])
    _, pull = srcad.vjp(gf)(x)
    np.testing.assert_allclose(pull(np.ones(3)), ref.sum(axis=0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(srcad.hessian(f)(x), ref, rtol=1e-5, atol=1e-5)


def _tangent_by_hand(x):
    return srcad.jvp(np.sin, (x,), (np.ones_like(x),))[1]


def test_srcad_jvp_with_tuples_inside_differentiated_code_is_refused_at_the_users_line():
    # srcad read its own api.py and refused at a line of it
    with pytest.raises(srcad.TransformError, match=r"test_regressions.py:\d+: no derivative rule for srcad.api.jvp"):
        srcad.grad(lambda x: np.sum(_tangent_by_hand(x)))(np.ones(3))


class _LambdaMethod:
    scale = lambda self, v: v * 3.0      # noqa: E731 - a method defined as a lambda


_LAMBDA_OBJECT = _LambdaMethod()


def calls_a_lambda_method(x):
    return np.sum(_LAMBDA_OBJECT.scale(x) ** 2)


def test_a_method_defined_as_a_lambda():
    # the generated code named it `<lambda>_1` (a SyntaxError from inside srcad)
    x = np.array([0.3, -0.7, 1.1])
    np.testing.assert_allclose(srcad.grad(calls_a_lambda_method)(x), 18.0 * x)
    np.testing.assert_allclose(srcad.jvp(calls_a_lambda_method, (x,), (np.ones(3),))[1], np.sum(18.0 * x))


@pytest.mark.parametrize("f", [
    lambda x: np.dot([1.0, 0.0, 2.0], x) + np.sum(x * np.dot(x, [2.0, 1.0, 0.5])),
    lambda x: np.sin([1.0, 0.0, 2.0] @ x) * (x @ [0.5, 1.0, 2.0]),
    lambda x: np.sum(x ** [1.0, 2.0, 3.0]) + np.sum([1.0, 2.0, 3.0] ** x),
], ids=["dot", "matmul", "power"])
def test_python_lists_as_operands(f):
    # the rules multiplied the list by a Python float (crash inside srcad)
    x = np.array([0.3, 0.7, 1.1])
    fd = numeric_grad(f, x)
    np.testing.assert_allclose(srcad.grad(f)(x), fd, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(srcad.jvp(f, (x,), (np.ones(3),))[1], fd.sum(), rtol=1e-6, atol=1e-6)
    gf = srcad.grad(f)
    ref = np.stack([numeric_grad(lambda v, k=k: gf(v)[k], x) for k in range(3)])
    np.testing.assert_allclose(srcad.hessian(f)(x), ref, rtol=1e-5, atol=1e-5)


_INT_MAKERS = {
    "zeros dtype=int": "y = np.zeros(3, dtype=int)",
    "zeros positional": "y = np.zeros(3, np.int64)",
    "full int32": "y = np.full(3, 2, dtype=np.int32)",
    "zeros_like bool": "y = np.zeros_like(x, dtype=bool)",
    "astype": "y = np.ones(3).astype('int64')",
    "arange": "y = np.arange(3)",
    "array of ints": "y = np.array([1, 2, 3])",
}


@pytest.mark.parametrize("make", list(_INT_MAKERS), ids=list(_INT_MAKERS))
def test_float_written_into_an_integer_array_is_truncated(make, tmp_path):
    # NumPy truncates the float (``y[0] = x[0] * 10.0`` keeps int(3.1) = 3): the write carries no
    # derivative. srcad gave the write the value's derivative (d/dx0 of sum(y * x) was 6.1, not 3)
    import importlib.util
    src = ("import numpy as np\n\n\ndef f(x):\n    " + _INT_MAKERS[make] + "\n"
           "    y[0] = x[0] * 10.0\n    y[1] = x[1] * x[2]\n    return np.sum(y * x) + np.sum(x * x)\n")
    path = tmp_path / f"int_{abs(hash(make))}.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    x = np.array([0.31, 1.7, 2.2])
    want = numeric_grad(mod.f, x)
    np.testing.assert_allclose(srcad.grad(mod.f)(x), want, rtol=1e-6, atol=1e-8)
    t = np.array([0.3, -0.5, 0.9])
    _, jt = srcad.jvp(mod.f)(x, t)
    np.testing.assert_allclose(jt, want @ t, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(srcad.hessian(mod.f)(x), 2.0 * np.eye(3), atol=1e-8)


def test_a_list_grown_with_a_float_is_not_taken_for_integers():
    # the guard of the test above: ``np.array(lst)`` of a list display that later took a float
    def f(x):
        lst = [1, 2]
        lst.append(0.5)
        y = np.array(lst)
        y[0] = x[0] * 10.0
        return np.sum(y * x)
    x = np.array([0.31, 1.7, 2.2])
    np.testing.assert_allclose(srcad.grad(f)(x), numeric_grad(f, x), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("v,axis", [
    (np.array([0.0, 0.7, 1.1]), None), (np.array([0.5, 0.0, 1.1, 0.0, 2.0]), None),
    (np.array([[1.2, 0.0, 0.5, 0.0], [0.3, 0.7, 0.0, 2.0]]), 1), (np.array([[1.2, 0.0], [0.0, 0.9]]), 0),
    (np.array([[1.2, 0.0], [0.5, 0.9]]), None), (np.array([0.5, 0.6, 1.1]), 0),
], ids=["first", "two zeros", "rows", "columns", "flattened", "no zero"])
def test_cumprod_with_zeros(v, axis):
    # the rule divided by the input: a NaN gradient wherever it held a zero (JAX gives the product
    # of the other elements)
    def f(a):
        return np.sum(np.cumprod(a, axis=axis) * np.linspace(1.0, 2.0, a.size).reshape(a.shape)
                      if axis is not None else np.cumprod(a, axis=axis) * np.linspace(1.0, 2.0, a.size))
    want = numeric_grad(f, v)
    np.testing.assert_allclose(srcad.grad(f)(v), want, rtol=1e-6, atol=1e-8)
    t = np.linspace(0.3, 1.1, v.size).reshape(v.shape)
    _, jt = srcad.jvp(f)(v, t)
    np.testing.assert_allclose(jt, np.sum(want * t), rtol=1e-6, atol=1e-8)
    if v.ndim == 1 and np.count_nonzero(v == 0) <= 1:   # second order: exact with one zero a line
        g = srcad.grad(f)
        Hn = np.array([(g(v + 1e-5 * e) - g(v - 1e-5 * e)) / 2e-5 for e in np.eye(v.size)])
        np.testing.assert_allclose(srcad.hessian(f)(v), Hn, rtol=1e-5, atol=1e-6)


def _copy_of(a):
    return a.copy()


def _int_table():
    return np.array([1, 2, 0])


_PASSED_IN = {
    "copy": lambda x, a: a.copy(),
    "np.array": lambda x, a: np.array(a),
    "plus zero": lambda x, a: a + 0,
    "the argument": lambda x, a: a,
    "a helper's copy": lambda x, a: _copy_of(a),
    "reversed copy": lambda x, a: np.copy(a[::-1]),
    "the input cast to its dtype": lambda x, a: (x * 3.0).astype(a.dtype),   # (active, yet integer)
    "a helper's integer table": lambda x, a: _int_table(),
}


def _write_into(make):
    def f(x, a):
        y = make(x, a)
        y[0] = x[0] * 10.0
        y[1:] = x[1:] * x[0] * 3.3
        y[2] += x[1]
        return np.sum(y * x) + np.sum(x * x)
    return f


@pytest.mark.parametrize("dtype", [np.int64, np.int32, bool, np.float64, np.float32])
@pytest.mark.parametrize("make", list(_PASSED_IN), ids=list(_PASSED_IN))
def test_float_written_into_an_integer_array_passed_in(make, dtype):
    # the same truncation where the integer array is an argument not differentiated, or a copy of
    # one: srcad cannot see its dtype, so the write asks at run time (``as_stored``); a float array
    # keeps the derivative
    f = _write_into(_PASSED_IN[make])
    a = np.array([1, 2, 0]).astype(dtype)
    x = np.array([0.31, 1.7, 2.2])
    ref = a.astype(np.float64) if dtype is np.float32 else a   # (float32 stores round the differences)
    want = numeric_grad(lambda v: f(v, ref.copy()), x)
    value, g = srcad.value_and_grad(f)(x, a)
    np.testing.assert_allclose(value, f(x, a.copy()), rtol=1e-6 if dtype is np.float32 else 1e-12)
    np.testing.assert_allclose(g, want, rtol=1e-5, atol=1e-6)
    t = np.array([0.3, -0.5, 0.9])
    _, jt = srcad.jvp(f)(x, a, t)
    np.testing.assert_allclose(jt, want @ t, rtol=1e-5, atol=1e-6)
    gf = srcad.grad(f)
    hn = np.array([(gf(x + 1e-5 * e, ref) - gf(x - 1e-5 * e, ref)) / 2e-5 for e in np.eye(3)])
    np.testing.assert_allclose(srcad.hessian(f)(x, a), hn, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(a, np.array([1, 2, 0]).astype(dtype))   # never changed


class _Scaled:
    k = 2.0

    def m(self, x):
        return np.sum(x * self.k)


def _square_method(self, x):
    return np.sum(x * x)


def _method_of_a_class_made_here(x):
    return _Scaled().m(x)


def _method_of_an_argument(x, c):
    return c.m(x)


_DERIVATIVES = {
    "grad": lambda f, *a: srcad.grad(f)(*a),
    "jvp": lambda f, *a: srcad.jvp(f)(*a, np.ones(3))[1],
    "hessian": lambda f, *a: srcad.hessian(f)(*a),
}


@pytest.mark.parametrize("how", list(_DERIVATIVES))
@pytest.mark.parametrize("where", ["made here", "argument"])
def test_a_method_replaced_after_the_first_call(where, how, monkeypatch):
    # the derivative inlined the class's method and its guards did not note the class attribute:
    # after ``C.m = other`` srcad went on differentiating the old method (silently wrong)
    x = np.array([0.3, 0.5, 0.7])
    f = _method_of_a_class_made_here if where == "made here" else _method_of_an_argument
    args = (x,) if where == "made here" else (x, _Scaled())
    first = {"grad": 2.0 * np.ones(3), "jvp": 6.0, "hessian": np.zeros((3, 3))}[how]
    np.testing.assert_allclose(_DERIVATIVES[how](f, *args), first)
    monkeypatch.setattr(_Scaled, "m", _square_method)
    want = {"grad": 2.0 * x, "jvp": np.sum(2.0 * x), "hessian": 2.0 * np.eye(3)}[how]
    np.testing.assert_allclose(_DERIVATIVES[how](f, *args), want)


def test_an_instance_attribute_hiding_a_method_is_not_the_method():
    # Python calls ``c.m``, the instance's own attribute; srcad inlined the class's method
    x = np.array([0.3, 0.5, 0.7])
    c = _Scaled()
    np.testing.assert_allclose(srcad.grad(_method_of_an_argument)(x, c), 2.0 * np.ones(3))
    c.m = lambda v: np.sum(v ** 3)
    with pytest.raises(srcad.TransformError, match=r"test_regressions.py:\d+: .*\.m\(\)"):
        srcad.grad(_method_of_an_argument)(x, c)


_DTYPE_CALLS = {
    "sum int": lambda x: np.sum(x * 2.0, dtype=np.int64) * x[0],
    "cumsum int": lambda x: np.sum(np.cumsum(x, dtype=int) * x),
    "prod int": lambda x: np.prod(x, dtype=int) * x[1],
    "mean int": lambda x: np.mean(x * 3.0, dtype="int32") * x[2],
    "x.sum int": lambda x: (x * 2.0).sum(dtype=int) * x[0],
    "array int": lambda x: np.sum(np.array(x * 2.0, dtype=int) * x),
    "asarray bool": lambda x: np.sum(np.asarray(x - 2.0, dtype=bool) * x),
    "sum float32": lambda x: np.sum(x * x, dtype=np.float32) * 1.0,
    "array float": lambda x: np.sum(np.array(x * x, dtype=float)),
}


@pytest.mark.parametrize("name", list(_DTYPE_CALLS), ids=list(_DTYPE_CALLS))
def test_a_result_of_an_integer_dtype_has_no_derivative(name):
    # ``np.sum(v, dtype=int)`` truncates: the rules ignored ``dtype`` and passed the derivative
    # through (silently wrong, both modes); ``np.array(v, dtype=int)`` was refused without a line
    body = _DTYPE_CALLS[name]

    def f(x):
        return body(x) + np.sum(x ** 3)
    x = np.array([1.31, 2.72, 3.55])
    rtol = 1e-5 if "32" in name else 1e-7
    # (a float32 sum rounds the differences: its reference is the float64 sum)
    want = numeric_grad(lambda v: f(v) if "32" not in name else np.sum(v * v) + np.sum(v ** 3), x)
    np.testing.assert_allclose(srcad.grad(f)(x), want, rtol=rtol, atol=1e-6)
    t = np.array([0.3, -0.5, 0.9])
    np.testing.assert_allclose(srcad.jvp(f)(x, t)[1], want @ t, rtol=rtol, atol=1e-6)
    gf = srcad.grad(f)
    hn = np.array([(gf(x + 1e-5 * e) - gf(x - 1e-5 * e)) / 2e-5 for e in np.eye(3)]) if "32" not in name \
        else np.diag(2.0 + 6.0 * x)
    np.testing.assert_allclose(srcad.hessian(f)(x), hn, rtol=1e-4, atol=1e-4)


def test_a_dtype_read_from_a_variable_is_refused_at_its_line():
    def f(x, dt):
        return np.sum(x * 2.0, dtype=dt)
    with pytest.raises(srcad.TransformError, match=r"test_regressions.py:\d+: numpy.sum with a dtype srcad cannot"):
        srcad.grad(f)(np.ones(3), int)


def test_a_call_that_does_not_match_its_rule_is_refused_at_its_line():
    import math

    def f(x):
        return math.hypot(x[0], x[1], x[2])
    with pytest.raises(srcad.TransformError, match=r"test_regressions.py:\d+: no derivative rule for math.hypot called this way; its rule does not take"):
        srcad.grad(f)(np.ones(3))


def _sum_in_own_dtype(x):
    return np.sum(x * x, dtype=x.dtype) + np.sum(np.cumsum(x, dtype=x.dtype) * x)


def test_a_dtype_read_from_the_differentiated_argument_keeps_the_derivative():
    # ``dtype=x.dtype`` of a differentiated argument is floating point: the rule applies
    x = np.array([0.3, 0.5, 0.9])
    want = numeric_grad(_sum_in_own_dtype, x)
    np.testing.assert_allclose(srcad.grad(_sum_in_own_dtype)(x), want, rtol=1e-6)
    np.testing.assert_allclose(srcad.jvp(_sum_in_own_dtype)(x, np.ones(3))[1], want.sum(), rtol=1e-6)


class _Doubled:
    def __init__(self, w):
        self._w = w

    @property
    def w(self):
        return self._w * 2.0

    @w.setter
    def w(self, v):
        self._w = v


def _sets_a_property(x):
    d = _Doubled(x)
    d.w = x * 3.0              # Python runs the setter: d._w = x * 3.0, so d.w is x * 6.0
    return np.sum(d.w * x)


def test_an_assignment_to_a_property_is_not_a_field_write():
    # srcad wrote ``d.w`` as a field of the object made here, skipping the setter: value and
    # gradient silently wrong (the getter then read the old ``_w``)
    with pytest.raises(srcad.TransformError, match=r"test_regressions.py:\d+: .*assignment to an attribute: `d.w = x \* 3.0 "):
        srcad.grad(_sets_a_property)(np.array([0.3, 0.5]))
