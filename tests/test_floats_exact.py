"""Python floats in scalar loops keep NumPy's semantics at the edges (issue 15, item 0).

A typed stack (``Stack(float)``) and ``float_items`` give back Python floats. Python raises
``ZeroDivisionError``/``OverflowError`` (or makes a complex number) where ``np.float64`` gives
inf or nan with a warning, so a converted value must never reach ``/``, ``//``, ``%``, ``**``
unless an ``np.float64`` operand decides the operation. Each function below is run at edge values
(0, -0.0, inf, nan, 1e308, negative bases) on ``np.float64`` inputs: the derivative specialised
to scalars must raise exactly where the plain function raises, and otherwise give the values of
the generic derivative (untyped stacks: the plain function's own values). Each function comes as
a ``while`` loop (stacks) and as a ``for`` loop (``_for``: lists indexed by the loop variable).
"""

import warnings

import numpy as np
import pytest

import srcad


def div_by_saved(x, y):
    # the adjoint of ``x / t`` divides by the saved t (popped in the backward sweep)
    s = x
    i = 0
    while i < 3:
        t = s * y
        s = x / t
        i = i + 1
    return s


def div_by_saved_for(x, y):
    # the adjoint of ``x / t`` divides by the saved t (popped in the backward sweep)
    s = x
    for i in range(3):
        t = s * y
        s = x / t
    return s


def pow_saved_base(x, y):
    # ``s ** y``: the adjoint raises the saved base to ``y - 1`` and takes its log
    s = x
    i = 0
    while i < 2:
        s = s ** y
        s = s * 1.0
        i = i + 1
    return s


def pow_saved_base_for(x, y):
    # ``s ** y``: the adjoint raises the saved base to ``y - 1`` and takes its log
    s = x
    for i in range(2):
        s = s ** y
        s = s * 1.0
    return s


def pow_saved_exponent(x, y):
    s = y
    i = 0
    while i < 2:
        e = s * 1.0
        s = x ** e
        i = i + 1
    return s


def pow_saved_exponent_for(x, y):
    s = y
    for i in range(2):
        e = s * 1.0
        s = x ** e
    return s


def mod_saved(x, y):
    s = x
    i = 0
    while i < 2:
        t = y * s
        s = x % t + s
        i = i + 1
    return s


def mod_saved_for(x, y):
    s = x
    for i in range(2):
        t = y * s
        s = x % t + s
    return s


def div_seed(x, y):
    # the seed (a Python float) meets a saved value under ``/``
    s = x
    i = 0
    while i < 2:
        s = s * y
        s = 1.0 / s
        i = i + 1
    return s


def div_seed_for(x, y):
    # the seed (a Python float) meets a saved value under ``/``
    s = x
    for i in range(2):
        s = s * y
        s = 1.0 / s
    return s


def square_saved(x, y):
    # ``t * t`` is safe, but its power form ``t ** 2`` is not: a saved 1e308 squared
    t = x
    i = 0
    while i < 2:
        t = t * y
        u = t ** 2
        i = i + 1
    return u + t


def square_saved_for(x, y):
    # ``t * t`` is safe, but its power form ``t ** 2`` is not: a saved 1e308 squared
    t = x
    for i in range(2):
        t = t * y
        u = t ** 2
    return u + t


def floordiv_saved(x, y):
    s = x
    i = 0
    while i < 2:
        t = s + y
        s = s - (x // t) * 0.5 + t * 0.25
        i = i + 1
    return s


def floordiv_saved_for(x, y):
    s = x
    for i in range(2):
        t = s + y
        s = s - (x // t) * 0.5 + t * 0.25
    return s


def elements_div(x, c):
    # float_items: an element that meets ``/`` keeps its np.float64 (c holds a zero)
    s = x
    for i in range(3):
        s = s * c[i] + 1.0 / c[i]
    return s


def elements_pow(x, c):
    s = x
    for i in range(3):
        s = s + c[i] ** 0.5
    return s


WHILE_FUNCS = [div_by_saved, pow_saved_base, pow_saved_exponent, mod_saved, div_seed,
               square_saved, floordiv_saved]
SCALAR_FUNCS = WHILE_FUNCS + [div_by_saved_for, pow_saved_base_for, pow_saved_exponent_for, mod_saved_for,
                              div_seed_for, square_saved_for, floordiv_saved_for]
EDGES = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e308, -2.0, 0.5]


def _outcome(fn, args):
    """('raise', exception type) or ('value', numbers) of ``fn(*args)`` under NumPy's warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with np.errstate(all="ignore"):
            try:
                v = fn(*args)
            except (ZeroDivisionError, OverflowError, ValueError, TypeError) as e:
                return ("raise", type(e).__name__)
    if isinstance(v, tuple):
        return ("value", tuple(np.asarray(a, dtype=complex if np.iscomplexobj(a) else float) for a in v))
    return ("value", np.asarray(v))


def _same(got, want, what):
    assert got[0] == want[0], f"{what}: {got} where the reference gives {want}"
    if got[0] == "value":
        for a, b in zip(got[1], want[1]):
            assert np.iscomplexobj(a) == np.iscomplexobj(b), what
            np.testing.assert_array_equal(a, b, err_msg=what)


@pytest.mark.parametrize("fn", SCALAR_FUNCS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("x", EDGES, ids=repr)
def test_saved_scalars_keep_numpy_semantics(fn, x):
    g = srcad.grad(fn, wrt=(0, 1))
    plain_args_raise = []
    for y in (x, 2.0, 0.0, -0.5):
        args = (np.float64(x), np.float64(y))
        plain = _outcome(fn, args)
        got = _outcome(g, args)
        # the plain function on np.float64 never raises for these: neither may its derivative
        assert plain[0] == "value", (fn.__name__, args, plain)
        assert got[0] == plain[0], f"{fn.__name__}{args}: derivative {got}, plain function {plain}"
        # the same numbers as the generic derivative (plain stacks of np.float64)
        want = _outcome(g.derivative.fn, args)
        _same(got, want, f"{fn.__name__}{args}")
        plain_args_raise.append(got[0])
    src = srcad.source(g, np.float64(1.5), np.float64(0.5))
    # a while loop saves on stacks; a counted loop in lists indexed by its variable (buffers.py)
    assert "Stack" in src or fn not in WHILE_FUNCS
    if fn in (div_by_saved_for, mod_saved_for, square_saved_for):
        assert "Stack" not in src and "[i]" in src


@pytest.mark.parametrize("fn", [elements_div, elements_pow], ids=lambda f: f.__name__)
@pytest.mark.parametrize("edge", [0.0, -0.0, np.inf, np.nan, 1e308, -2.0])
def test_element_reads_keep_numpy_semantics(fn, edge):
    c = np.array([0.5, edge, 1.5, 2.0])
    g = srcad.grad(fn, wrt=(0, 1))
    args = (np.float64(0.75), c)
    plain = _outcome(fn, args)
    got = _outcome(g, args)
    assert plain[0] == "value" and got[0] == "value", (plain, got)
    _same(got, _outcome(g.derivative.fn, args), f"{fn.__name__}({edge})")


def test_safe_saved_scalars_stay_typed():
    # a loop whose saved values meet only ``+``, ``-``, ``*`` (and np.float64 divisors) keeps its
    # 8-byte stacks
    def f(x, y):
        s = x
        i = 0
        while i < 3:
            s = s * s / y + x
            i = i + 1
        return s
    src = srcad.source(srcad.grad(f, wrt=(0, 1)), np.float64(0.5), np.float64(2.0))
    assert "Stack(float)" in src


def test_float_list_decides_as_float_items():
    from srcad import runtime
    c = np.array([0.5, -1.0, 2.0])
    assert runtime.float_list(c, 0.7, np.float64(2.0)) == [0.5, -1.0, 2.0]
    for a, scalars in [(c.astype(np.float32), ()), (c.reshape(3, 1), ()), (c, (np.float32(0.7),)),
                       (c.view(type("Sub", (np.ndarray,), {})), ())]:
        assert runtime.float_list(a, *scalars) is a
        assert runtime.float_items(a, *scalars) is a


def horner6(x, c):
    p = 0.0
    for i in range(6):
        p = p * x + c[i]
    return p


def horner_twice(x, c):
    p = 0.0
    for i in range(6):
        p = p * x + c[i] + c[5 - i] * 0.5
    return p


@pytest.mark.parametrize("x", [-0.0, 0.0, -1.0, np.inf, np.nan, 1e308])
@pytest.mark.parametrize("fn", [horner6, horner_twice], ids=lambda f: f.__name__)
def test_adjoint_elements_written_once_keep_their_bits(fn, x):
    # ``dc[i] = 0.0 + dp`` where each element is added into once: the same bits (signed zeros too)
    # as the generic derivative's ``dc[i] += dp`` into zeros
    c = np.array([0.5, -0.0, 2.0, -1.5, 0.0, 3.0])
    g = srcad.grad(fn, wrt=(0, 1))
    src = srcad.source(g, 0.5, c)
    assert ("dc_items[i] = 0.0 + dp" in src) == (fn is horner6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with np.errstate(all="ignore"):
            got, want = g(x, c), g.derivative.fn(x, c)
    for a, b in zip(got, want):
        a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
        np.testing.assert_array_equal(a, b)
        assert np.array_equal(np.signbit(a), np.signbit(b))
