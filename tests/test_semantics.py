"""Python's and NumPy's semantics, or a refusal at the user's line (issue 11, classes 1-4).

Each program is checked in every mode against central finite differences: the gradient (reverse),
``value_and_grad``'s value, a Jacobian-vector product (forward), a Hessian-vector product (second
order, forward over reverse) and that the caller's array is left alone. Programs NumPy would run with
an in-place write through an alias that is read later are refused, naming both names.
"""

import numpy as np
import pytest

import srcad

X = {"vector": np.array([0.6, 1.0, 2.0, 3.0]),
     "matrix": np.array([[0.6, 1.0, 2.0, 3.0], [0.3, -0.5, 1.5, 0.8], [1.1, 0.2, -0.7, 0.4]])}


def _fd_grad(f, x, h=1e-6):
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += h
        xm[i] -= h
        g[i] = (np.sum(f(xp)) - np.sum(f(xm))) / (2 * h)
    return g


def check_everything(f, x):
    keep = x.copy()
    expected = _fd_grad(f, x)
    g = srcad.grad(f)(x)
    np.testing.assert_allclose(g, expected, rtol=1e-6, atol=1e-6)
    value, g2 = srcad.value_and_grad(f)(x)
    np.testing.assert_allclose(value, f(x.copy()), rtol=1e-12)
    np.testing.assert_allclose(g2, expected, rtol=1e-6, atol=1e-6)
    u = np.linspace(0.3, 1.1, x.size).reshape(x.shape)
    _, t = srcad.jvp(f, (x,), (u,))
    h = 1e-6
    np.testing.assert_allclose(np.sum(t), (np.sum(f(x + h * u)) - np.sum(f(x - h * u))) / (2 * h),
                               rtol=1e-6, atol=1e-6)
    H = srcad.hessian(lambda v: np.sum(f(v)))(x)
    hv = np.tensordot(H, u, axes=u.ndim)
    gp, gm = srcad.grad(f)(x + h * u), srcad.grad(f)(x - h * u)
    np.testing.assert_allclose(hv, (gp - gm) / (2 * h), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(x, keep)


# ---------------------------------------------------------------- class 1: a name rebound to a
# subscript of itself (the old value's adjoint starts from zero, not from the new value's)
def rebind_element(x):
    h = x * 2.0
    h = h[0]
    return h * h


def rebind_reversed(x):
    x = x[::-1]
    return np.sum(x * np.arange(4.0) * x)


def rebind_repeated_index(x):
    x = x[[0, 0, 2]]
    return np.sum(x * x * x)


def rebind_tail(v):
    v = v[1:]
    return np.sum(v * np.sin(v))


def rebind_in_loop(x):
    h = x * 1.0
    for _ in range(2):
        h = h[1:] * h[:-1]
    return np.sum(h)


def rebind_column(X):
    X = X[:, -1:]
    return np.sum(X * X)


def rebind_row_then_element(X):
    X = X[1]
    X = X[2]
    return X * X * 3.0


def rebind_transpose(X):
    X = X.T
    return np.sum(X[0] * X[1])


# ---------------------------------------------------------------- class 2: adjoints shared between
# names and then updated (a pass-through adjoint taken without a copy is not changed in place)
def shared_sum(x):
    y = x * 2.0
    z = y + y
    y = z + y
    return np.sum(y * y)


def shared_sin(x):
    v = np.sin(x)
    v = v + v * v
    return np.sum(v * v)


def shared_chain(x):
    a = x * 1.5
    b = a
    a = a + b * a
    b = b - a
    return np.sum(a * b)


def shared_in_loop(x):
    v = x * 1.0
    for _ in range(3):
        w = v
        v = v + w * v
    return np.sum(v)


# ---------------------------------------------------------------- class 3, allowed: aliases whose
# other names are not read after the write (then rebinding has NumPy's meaning)
def alias_dead_after(x):
    y = x
    y += 1.0
    return np.sum(y * y)


def alias_view_dead_after(x):
    a = x[0] * 1.0
    y = x[1:]
    y *= 2.0
    return np.sum(y * a)


def alias_copy_then_write(x):
    y = x.copy()
    y[0] = 5.0 * x[1]
    return np.sum(x * y)


def alias_write_through_alias(x):
    y = x * 1.0
    z = y
    z[1] = z[0] * 3.0
    return np.sum(z * z)


def helper_writes(a, s):
    a[0] = s * 2.0
    return np.sum(a)


def alias_helper_writes_into_callers_array(x):
    y = x * 1.0
    s = helper_writes(y, x[1])
    return s + np.sum(y * y)


def test_helper_writing_into_its_callers_array():
    """Both modes inline the helper (issue 13), so its write is the caller's."""
    x = X["vector"].copy()
    g = srcad.grad(alias_helper_writes_into_callers_array)(x)
    np.testing.assert_allclose(g, _fd_grad(alias_helper_writes_into_callers_array, x), rtol=1e-6, atol=1e-6)
    _, tangent = srcad.jvp(alias_helper_writes_into_callers_array, (x,), (np.ones(4),))
    np.testing.assert_allclose(tangent, np.sum(g), rtol=1e-10)
    np.testing.assert_array_equal(x, X["vector"])


def backward_reads_the_alias(x):
    x = x * 1.0
    z = x * x            # the backward sweep reads x after y[0] = 5.0 changed it: restored first
    y = x
    y[0] = 5.0
    return np.sum(z) + np.sum(y * y)


def backward_reads_the_base_of_a_view(x):
    z = np.sin(x)
    y = x[1:]
    y[0] = 5.0           # writes into the (private copy of the) argument
    return np.sum(z * z) + np.sum(y * y)


def backward_reads_through_reshape(x):
    v = x * 2.0
    w = v.reshape(2, 2)
    z = v * v
    w[0, 1] = 1.0
    return np.sum(z) + np.sum(w)


def inplace_slice_then_rebind(x):
    x[-1:] *= np.sum(x)     # the backward sweep reads a view of x that the write changed and
    x = np.cos(x)           # the restore changes back: forward over reverse must keep that view
    return np.sum(x * x)


def inplace_slice_after_self_read(x):
    y = x + 0.5
    y = np.maximum(y ** 2, y)      # y = y op ...: split into a temporary and a copy
    y[-1:] *= np.tanh(x[0])
    y = np.sqrt(y * y + 0.5).sum()
    return np.sin(y)


def write_back_into_the_argument(x):
    v = x + np.cos(x)
    v[...] *= v * x
    x[:] = v                       # the backward sweep of cos reads x: restored first
    return np.sum(v * v)


def passthrough_then_write(x):
    y = x * 1.0
    y[...] *= np.cos(y)            # a view of y's tangent is read after the restores ...
    y[:] = np.sin(np.mod(y, 0.99))  # ... and mod's tangent is y's own: copied, not cut off
    return np.sum(np.sin(y) * 1.5)


def masked_write_then_read(x):
    y = x * 1.0
    y[y > 1.5] = 0.25              # the mask is taken before the write changes y
    return np.sum(y * y * x)


def row_view_of_a_parameter(X):
    a = X[0] * 1.0
    w = X[-1]                      # a row of the (private copy of the) argument
    w[0] = 2.0
    return np.sum(np.tanh(w * a))


# ---------------------------------------------------------------- class 4: writes whose value NumPy
# broadcasts or repeats
def write_scalar_into_row(x):
    s = x.ravel()[0]
    y = np.zeros((2, 4))
    y[0] = s
    return np.sum(y * 2.0 * np.sin(s))


def write_row_into_all(x):
    v = x.ravel()[:4]
    Y = np.zeros((3, 4))
    Y[:] = v
    return np.sum(Y * Y)


def write_scalar_through_mask(x):
    y = x * 1.0
    m = x > 1.2
    y[m] = x.ravel()[0]
    return np.sum(y * y)


def write_repeated_index(x):
    v = x.ravel()
    y = np.zeros(4)
    y[[0, 0, 1]] = v[:3]
    return np.sum(y * y)


def write_repeated_index_2d(x):
    v = x.ravel()
    Y = np.zeros((4, 4))
    Y[:, 1] = v[:4]
    Y[[0, 0], [1, 1]] = v[2:4] * 2.0
    return np.sum(Y @ Y)


def write_slice_from_scalar(x):
    y = x * 1.0
    y[1:3] = x.ravel()[0] * 3.0
    return np.sum(y * y)


VECTOR = [rebind_element, rebind_reversed, rebind_repeated_index, rebind_tail, rebind_in_loop,
          shared_sum, shared_sin, shared_chain, shared_in_loop, alias_dead_after, alias_view_dead_after,
          alias_copy_then_write, alias_write_through_alias, backward_reads_the_alias,
          backward_reads_the_base_of_a_view, backward_reads_through_reshape, inplace_slice_then_rebind,
          inplace_slice_after_self_read, masked_write_then_read, write_back_into_the_argument,
          passthrough_then_write,
          write_scalar_into_row, write_row_into_all, write_scalar_through_mask, write_repeated_index,
          write_repeated_index_2d, write_slice_from_scalar]
MATRIX = [row_view_of_a_parameter, rebind_column, rebind_row_then_element, rebind_transpose, shared_sum, shared_sin,
          shared_chain, alias_dead_after, alias_view_dead_after, alias_write_through_alias,
          write_scalar_into_row, write_scalar_through_mask, write_repeated_index_2d,
          write_slice_from_scalar]
CASES = [(f, "vector") for f in VECTOR] + [(f, "matrix") for f in MATRIX]


@pytest.mark.parametrize("f,shape", CASES, ids=[f"{f.__name__}-{s}" for f, s in CASES])
def test_semantics_in_every_mode(f, shape):
    check_everything(f, X[shape].copy())


# ---------------------------------------------------------------- class 3, refused: NumPy would
# change another name that is read later
def view_then_inplace(x):
    y = x[1:]
    y *= 2.0
    return x.sum()


def rows_in_place(X):
    X = X * 1.0
    for row in X:
        row *= 2.0
    return np.sum(X * X)


def alias_setitem(x):
    x = x * 1.0
    y = x
    y[0] = 5.0
    return np.sum(x * x)


def reshape_view(x):
    y = x.reshape(2, 2)
    y *= 2.0
    return np.sum(x * x)


def transpose_view(X):
    Y = X.T
    Y[0] = 1.0
    return np.sum(X * X)


def ravel_view(X):
    X = X * 1.0
    r = X.ravel()
    r[1] = 0.0
    return np.sum(X)


def ellipsis_view(x):
    y = x[...]
    y += 1.0
    return np.sum(x * y)


def double_target(x):
    a = b = np.zeros(4)
    a += x
    return np.sum(b * x)


def list_element(x):
    y = x * 1.0
    items = [y]
    items[0] += 1.0
    return np.sum(y * x)


def dict_element(x):
    y = x * 1.0
    d = {"w": y}
    y *= 3.0
    return np.sum(d["w"] * x)


def helper_scales(a):
    a *= 3.0
    return np.sum(a)


def helper_writes_into_caller(x):
    y = x * 1.0
    s = helper_scales(y)
    return s + np.sum(y * x)


def write_in_loop_through_alias(x):
    y = x * 1.0
    for i in range(3):
        z = y
        z[i] = z[i + 1] * 2.0
        y = y + z
    return np.sum(y)


def list_holds_one_array_twice(x):
    a = x * 1.0
    ys = [a, a]
    ys[0] += 1.0          # NumPy changes ys[1] too: it is the same array
    return np.sum(ys[0] * ys[1])


def repeated_list_element_updated(x):
    ys = [x * 1.0] * 2
    ys[1] *= 2.0
    return np.sum(ys[0] * x)


def list_written_through_another_name(x):
    a = [x * 1.0, x * 2.0]
    b = a
    b[0] = x * 5.0        # the same list: a[0] is x * 5 now
    return np.sum(a[0] * x)


def dict_written_through_another_name(x):
    d = {"w": x * 1.0}
    e = d
    e["w"] = np.sin(x)
    return np.sum(d["w"] * x)


def nested_list_written(x):
    inner = [x * 1.0]
    outer = [inner, x]
    inner[0] = x * x
    return np.sum(outer[0][0] * x)


REFUSED = [(list_holds_one_array_twice, "ys", "ys", (4,)), (repeated_list_element_updated, "ys", "ys", (4,)),
           (list_written_through_another_name, "b", "a", (4,)), (dict_written_through_another_name, "e", "d", (4,)),
           (nested_list_written, "inner", "outer", (4,)),
           (view_then_inplace, "y", "x", (4,)), (rows_in_place, "row", "X", (2, 2)),
           (alias_setitem, "y", "x", (4,)), (reshape_view, "y", "x", (4,)),
           (transpose_view, "Y", "X", (2, 2)), (ravel_view, "r", "X", (2, 2)),
           (ellipsis_view, "y", "x", (4,)), (double_target, "a", "b", (4,)),
           (list_element, "items", "y", (4,)), (dict_element, "y", "d", (4,)),
           (helper_writes_into_caller, "a", "y", (4,))]


@pytest.mark.parametrize("f,target,other,shape", REFUSED, ids=[r[0].__name__ for r in REFUSED])
@pytest.mark.parametrize("mode", ["grad", "jvp"])
def test_writes_through_a_live_alias_are_refused(f, target, other, shape, mode):
    x = np.linspace(0.5, 1.5, int(np.prod(shape))).reshape(shape)
    keep = x.copy()
    with pytest.raises(srcad.TransformError, match="in-place update|writes into its parameter") as info:
        if mode == "grad":
            srcad.grad(f)(x)
        else:
            srcad.jvp(f, (x,), (np.ones_like(x),))
    err = info.value
    assert err.filename == __file__ and err.construct == "in-place update of a shared array"
    if mode == "grad" or f is not helper_writes_into_caller:
        assert f"`{target}`" in str(err) and f"`{other}`" in str(err)
    np.testing.assert_array_equal(x, keep)


def test_inplace_on_a_python_float_is_rebinding():
    def f(x, t):
        s = t
        s += 1.0
        u = x[0]
        u *= t
        return np.sum(x * s) + u * t
    x = np.array([0.5, 1.5, 2.0])
    srcad.check_grad(f, x, 0.7, wrt=(0, 1))
    _, tan = srcad.jvp(f, (x, 0.7), (np.zeros(3), 1.0))
    np.testing.assert_allclose(tan, np.sum(x) + 2 * 0.7 * 0.5, rtol=1e-12)


def test_zero_dimensional_array_argument_is_not_taken_for_a_float():
    """``y = x; y += 1`` changes a 0-d array in place (NumPy) but rebinds a float: the variant for a
    0-d array must not assume the value is immutable."""
    def f(x):
        y = x
        y += 1.0
        return x * y
    with pytest.raises(srcad.TransformError, match="in-place update"):
        srcad.grad(f)(np.array(2.0))
    np.testing.assert_allclose(srcad.grad(f)(2.0), 5.0)


def test_caller_arrays_in_a_dict_are_not_changed():
    def f(p):
        w = p["w"]
        w[0] = w[1] * 2.0
        return np.sum(w * w)
    p = {"w": np.array([1.0, 2.0, 3.0])}
    g = srcad.grad(f)(p)
    np.testing.assert_allclose(g["w"], [0.0, 2 * 2.0 + 2 * 4.0 * 2.0, 6.0])
    np.testing.assert_array_equal(p["w"], [1.0, 2.0, 3.0])


def test_global_arrays_are_not_written():
    with pytest.raises(srcad.TransformError, match="global `GLOBAL_BUFFER`"):
        srcad.grad(writes_global)(np.ones(3))
    np.testing.assert_array_equal(GLOBAL_BUFFER, np.zeros(3))


GLOBAL_BUFFER = np.zeros(3)


def writes_global(x):
    b = GLOBAL_BUFFER
    b += x
    return np.sum(b * x)


# ---------------------------------------------------------------- a name rebound to a function of
# itself in a loop, whose rule reads the output (tanh, exp, sqrt): the value the backward sweep
# reads is saved per iteration (before: the last iteration's, silently)
@pytest.mark.parametrize("fn", [np.tanh, np.exp, np.sqrt, np.sin], ids=lambda f: f.__name__)
@pytest.mark.parametrize("shape", ["scalar", "vector", "matrix"])
def test_self_rebinding_in_a_loop(fn, shape):
    def f(x):
        v = x * 0.1 + 0.2
        for _ in range(2):
            v = fn(v)
        return np.sum(v * v)
    x = {"scalar": np.array(0.7), "vector": X["vector"], "matrix": X["matrix"]}[shape] * 0.5
    if shape == "scalar":
        x = float(x)
        g = srcad.grad(f)(x)
        h = 1e-6
        np.testing.assert_allclose(g, (f(x + h) - f(x - h)) / (2 * h), rtol=1e-6)
        _, t = srcad.jvp(f, (x,), (1.0,))
        np.testing.assert_allclose(t, g, rtol=1e-10)
    else:
        check_everything(f, x.copy())


def test_parameter_rebound_to_an_array_later():
    """The zero adjoint a branch materializes for ``x`` is shaped like the number ``x`` was there,
    not like the array a later ``x = ...`` made it (``zeros_like(x)`` read the later value)."""
    def f(x, y):
        y = x * 1.5 + y
        if np.sum(y) > 100.0:
            y = y * 2.0
        else:
            x = y * x
        return np.sum(y * y) + np.sum(x)
    y = np.array([0.3, -0.2, 0.5])
    for x in (0.7, 1.3):
        g = srcad.grad(f, wrt=(0, 1))(x, y.copy())
        h = 1e-6
        assert np.shape(g[0]) == ()
        np.testing.assert_allclose(g[0], (f(x + h, y.copy()) - f(x - h, y.copy())) / (2 * h), rtol=1e-6)
        np.testing.assert_allclose(g[1], _fd_grad(lambda v: f(x, v), y.copy()), rtol=1e-6, atol=1e-8)


def view_passed_on_then_written(x):
    x = x * 1.0
    L1 = [x[:] - 1.5]              # x[:]'s tangent is a view of x's; the list keeps a copy
    x[:] = 2.0
    return np.sum(L1[0] * L1[0]) + np.sum(x)


def test_view_passed_on_then_written():
    check_everything(view_passed_on_then_written, X["vector"].copy())


def test_dict_entry_written_without_a_later_read():
    def f(x):
        d = {"a": 1.5, "b": x[1:]}
        for k in d:
            d[k] = d[k] * -1.2 + 1.0
        return np.sum(x * x) + d["a"]
    srcad.check_grad(f, X["vector"].copy())


def distinct_list_elements_updated(x):
    ys = [x * 1.0, x * 2.0]
    ys[0] += 1.0
    b = list(ys)          # a new list: writing into it leaves ys alone
    b[1] = x * 7.0
    return np.sum(ys[0] * ys[1] * b[1])


def list_item_written_in_its_own_loop(x):
    lst = [x[0], x[1], x[0] * x[1]]
    i = 0
    for v in lst:
        lst[i] = v * 2 + lst[-1]
        i += 1
    return lst[0] * lst[1] + lst[2]


@pytest.mark.parametrize("f", [distinct_list_elements_updated, list_item_written_in_its_own_loop])
def test_container_writes_without_a_second_name_are_exact(f):
    x = np.array([0.3, 0.4, 0.6])
    srcad.check_grad(f, x)
    g = srcad.jvp(f, (x,), (np.ones(3),))[1]
    eps = 1e-6
    np.testing.assert_allclose(g, (f(x + eps) - f(x - eps)) / (2 * eps), rtol=1e-6, atol=1e-8)
