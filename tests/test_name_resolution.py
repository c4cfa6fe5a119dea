"""Names in inlined helpers resolve where Python resolves them when the helper runs (issue 18).

Reverse mode carries a helper's body into its caller (srcad/inline.py); every free name the body
reads is bound in the generated function to what it means in the helper's own module, closure and
defaults, at any depth. Forward mode derives each helper on its own. The modules below bind the
same names (``act``, ``m``, ``_np``, ``scale``) to different functions, modules and values.
Also: a ``functools.wraps`` decorator is differentiated as the wrapper that runs (class 6).
"""

import importlib
import itertools
import sys
import textwrap

import numpy as np
import pytest

import srcad

from fd_points import SHAPES, numeric_grad, point  # noqa: E402

_names = itertools.count()


def check_both_modes(f, x, reverse=True, forward=True):
    """value_and_grad (reverse) and jvp (forward) against f itself and central differences."""
    want = numeric_grad(f, x)
    if reverse:
        v, g = srcad.value_and_grad(f)(x)
        np.testing.assert_allclose(v, f(x), rtol=1e-12)
        np.testing.assert_allclose(g, want, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(srcad.grad(f)(x), want, rtol=1e-5, atol=1e-7)
    if forward:
        r = np.random.default_rng(3)
        t = r.normal(size=np.shape(x)) if np.ndim(x) else 0.7
        v, tv = srcad.jvp(f, (x,), (t,))
        np.testing.assert_allclose(v, f(x), rtol=1e-12)
        eps = 1e-6
        fd = (np.asarray(f(x + eps * t)) - np.asarray(f(x - eps * t))) / (2 * eps)
        np.testing.assert_allclose(tv, fd, rtol=1e-5, atol=1e-7)


@pytest.fixture
def modules(tmp_path, monkeypatch):
    """``modules({"a": src, "b": src})`` writes the modules (names made unique: ``{a}`` in the
    sources stands for module a's real name) and imports them all."""
    monkeypatch.syspath_prepend(str(tmp_path))
    made = []

    def make(sources):
        tag = next(_names)
        real = {k: f"resolve_{k}_{tag}" for k in sources}
        for k, src in sources.items():
            (tmp_path / f"{real[k]}.py").write_text(textwrap.dedent(src).format(**real))
        importlib.invalidate_caches()
        out = {}
        for k in sources:
            out[k] = importlib.import_module(real[k])
            made.append(real[k])
        return out

    yield make
    for name in made:
        sys.modules.pop(name, None)


CHAIN = {
    # Three library modules that agree on what act, _np and scale are, and the user's module,
    # which binds them otherwise: a helper two or three levels down must not be resolved in the
    # module of the function being differentiated, nor in its caller's.
    "c": """
        import numpy as _np
        from numpy import sin as act
        scale = 0.5
        def h1(x):
            return act(x) * scale + _np.cos(x * 0.3)
    """,
    "b": """
        import numpy as _np
        from numpy import sin as act
        from {c} import h1, scale
        def h2(x):
            return h1(x) * 2.0 + x
        def h2_reads(x):
            return h1(x) * scale + act(x * 0.1) * _np.tanh(x)
    """,
    "a": """
        from numpy import sin as act
        from {b} import h2, h2_reads
        from {c} import scale
        def h3(x):
            return h2(x) - x * 0.5
        def h3_reads(x):
            return h2_reads(x) - act(x) * scale
    """,
    "user": """
        import numpy as np
        from numpy import arctan as act
        from {a} import h3, h3_reads
        from {b} import h2, h2_reads
        from {c} import h1
        scale = 10.0
        _np = None
        def f1(x):
            return h1(x) * x
        def f2(x):
            return h2(x) * x
        def f3(x):
            return h3(x) * x
        def f2_reads(x):
            return h2_reads(x) * x + act(x) / scale
        def f3_reads(x):
            return h3_reads(x) * x + act(x) / scale
    """,
}


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", ["f1", "f2", "f3", "f2_reads", "f3_reads"])
def test_helpers_through_a_chain_of_modules(modules, shape, name):
    """1, 2 and 3 levels deep; the ``_reads`` variants read the names at every level."""
    m = modules(CHAIN)
    check_both_modes(getattr(m["user"], name), point(shape))


def test_issue_18_two_levels(modules):
    m = modules({
        "lib": """
            from numpy import sin as act
            def inner(x):
                return act(x)
            def outer(x):
                return inner(x) * 2.0
        """,
        "user": """
            from numpy import tanh as act
            from {lib} import outer
            def f(x):
                return outer(x)
        """,
    })
    v, g = srcad.value_and_grad(m["user"].f)(0.4)
    assert v == pytest.approx(2 * np.sin(0.4), rel=1e-14)
    assert g == pytest.approx(2 * np.cos(0.4), rel=1e-14)
    check_both_modes(m["user"].f, 0.4)


@pytest.mark.parametrize("depth", [1, 2])
def test_module_alias_bound_to_another_module(modules, depth):
    """``import math as m`` in the library, ``import cmath as m`` in the user's module."""
    m = modules({
        "lib": """
            import math as m
            def inner(x):
                return m.sin(x) * m.exp(x)
            def outer(x):
                return inner(x) + m.cos(x)
        """,
        "user": """
            import cmath as m
            from {lib} import inner, outer
            def f(x):
                return (inner, outer)[DEPTH - 1](x) * 2.0
        """.replace("(inner, outer)[DEPTH - 1]", ["inner", "outer"][depth - 1]),
    })
    check_both_modes(m["user"].f, 0.4)
    assert isinstance(srcad.grad(m["user"].f)(0.4), float)   # math's, not cmath's complex


# A library module and the user's module that binds the library's names otherwise; the user's f
# calls the library: (id, library source, user source, forward mode too).
LIBRARY_AND_USER = [
    ("private-module-alias-only-in-the-library", """
        import numpy as _np
        def inner(x):
            return _np.cos(x)
        def outer(x):
            return inner(x) * 2.0
    """, """
        from {lib} import outer
        def f(x):
            return outer(x) * x
    """, True),
    ("closures-and-defaults-in-helpers", """
        import numpy as np
        from numpy import sin as act
        def make(scale, shift):
            def inner(x, bias=np.array([0.1, 0.2, 0.3])):
                return act(x + shift) * scale + bias
            def outer(x, k=2.0):
                return inner(x) * k
            return outer
        layer = make(0.5, 0.25)
    """, """
        from numpy import tanh as act
        from {lib} import layer
        scale, shift, bias, k = 100.0, 100.0, 100.0, 100.0
        def f(x):
            return layer(x) * x
    """, True),
    # functions held in a helper's default or closure cell (reverse mode: inlined)
    ("function-defaults-and-closure-functions", """
        import numpy as np
        def make(act):
            def inner(x, post=np.exp):
                return post(act(x)) * 0.5
            return inner
        inner = make(np.sin)
    """, """
        import numpy as np
        from {lib} import inner
        act, post = np.tanh, np.log
        def f(x):
            return inner(x) * x
    """, False),
]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("lib,user,forward", [c[1:] for c in LIBRARY_AND_USER],
                         ids=[c[0] for c in LIBRARY_AND_USER])
def test_library_names_bound_otherwise_by_the_user(modules, shape, lib, user, forward):
    m = modules({"lib": lib, "user": user})
    check_both_modes(m["user"].f, point(shape), forward=forward)


@pytest.mark.parametrize("shape", SHAPES)
def test_helper_globals_are_read_live(modules, shape):
    """A library's global value, read by an inlined body, is read from the library when the
    derivative runs, not copied in when it was generated."""
    m = modules({
        "lib": """
            import numpy as np
            scale = 2.0
            def inner(x):
                return np.sin(x) * scale
            def outer(x):
                return inner(x) + x * scale
        """,
        "user": """
            from {lib} import outer
            scale = -7.0
            def f(x):
                return outer(x) * x
        """,
    })
    x = point(shape)
    check_both_modes(m["user"].f, x)
    src = srcad.source(srcad.grad(m["user"].f))
    assert f"= {m['lib'].__name__.rpartition('.')[2]}.scale" in src   # read, readably, from lib
    for value in (3.0, -0.5, np.array([1.0, 2.0, 3.0])):
        m["lib"].scale = value
        check_both_modes(m["user"].f, x)


@pytest.mark.parametrize("shape", SHAPES)
def test_method_of_a_library_class(modules, shape):
    """A bound method is differentiated in its own module, with helpers from a third."""
    m = modules({
        "util": """
            from numpy import sin as act
            def squash(x):
                return act(x) * 0.5
        """,
        "lib": """
            from numpy import exp as act
            from {util} import squash
            class Layer:
                def __init__(self, w):
                    self.w = w
                def apply(self, x):
                    return squash(x * self.w) + act(x)
        """,
        "user": """
            from numpy import tanh as act, tanh as squash
        """,
    })
    layer = m["lib"].Layer(1.5)
    check_both_modes(layer.apply, point(shape))


def test_undefined_name_in_a_helper_is_refused_where_it_is(modules):
    """A name the helper's module lacks is not taken from the caller's module."""
    m = modules({
        "lib": """
            def inner(x):
                return undefined_here(x)
        """,
        "user": """
            import numpy as np
            from {lib} import inner
            undefined_here = np.sin
            def f(x):
                return inner(x) * 2.0
        """,
    })
    with pytest.raises(srcad.TransformError) as info:
        srcad.grad(m["user"].f)(0.4)
    assert info.value.filename == m["lib"].__file__
    assert "undefined_here" in str(info.value)


LOOPS = """
    import builtins
    import numpy as np
    def shifted_zip(a, b):
        return list(builtins.zip(a, b[::-1]))
    def f(x, w):
        s = 0.0
        for a, b in zip(x, w):
            s = s + a * b * a
        return s
    def g(x, w):
        s = 0.0
        for i in range(len(x)):
            s = s + x[i] * w[i]
        return s
    def no_loop(x, w):
        return np.sum(x * w) * min(2.0, 3.0)
"""


@pytest.mark.parametrize("name,rebound", [("f", "zip = shifted_zip"), ("g", "len = lambda v: 1"),
                                          ("g", "range = lambda n: [0]"), ("f", "min = max")])
def test_loops_where_the_module_rebinds_a_builtin_are_refused(modules, name, rebound):
    """srcad's loops call ``range``, ``len``, ``min``, ``reversed``, ``zip``, ``enumerate`` by
    name: where the module rebinds one, the derivative would call the wrong function."""
    m = modules({"m": textwrap.dedent(LOOPS) + "\n" + rebound + "\n"})["m"]
    x, w = np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 0.0])
    fn = getattr(m, name)
    with pytest.raises(srcad.TransformError, match=rebound.split()[0]) as info:
        srcad.grad(fn)(x, w)
    assert info.value.filename == m.__file__
    with pytest.raises(srcad.TransformError, match=rebound.split()[0]):
        srcad.jvp(fn, (x, w), (x, None))
    check_both_modes(lambda v: m.no_loop(v, w), x)   # no loop: nothing to refuse


def test_rebinding_a_builtin_after_generation_is_seen(modules):
    m = modules({"m": LOOPS})["m"]
    x, w = np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.5, 0.0])
    df = srcad.grad(m.f)
    np.testing.assert_allclose(df(x, w), 2 * x * w)
    m.zip = m.shifted_zip
    with pytest.raises(srcad.TransformError, match="zip"):
        df(x, w)
    del m.zip
    np.testing.assert_allclose(df(x, w), 2 * x * w)


def test_helper_loop_in_a_module_rebinding_range(modules):
    """A helper whose module rebinds ``len`` is refused however it is reached."""
    m = modules({
        "lib": """
            len = lambda v: 1
            def total(x):
                s = 0.0
                for i in range(len(x)):
                    s = s + x[i] * x[i]
                return s
        """,
        "user": """
            from {lib} import total
            def f(x):
                return total(x) * 2.0
        """,
    })
    x = np.array([1.0, 2.0, 3.0])
    with pytest.raises(srcad.TransformError, match="len"):
        srcad.grad(m["user"].f)(x)
    with pytest.raises(srcad.TransformError, match="len"):
        srcad.jvp(m["user"].f, (x,), (x,))


# ---------------------------------------------------------------------- functools.wraps (class 6)

WRAPS = """
    import functools
    import numpy as np

    def scaled(fn):
        @functools.wraps(fn)
        def wrapper(x):
            return 3.0 * fn(x) + np.sin(x)
        return wrapper

    def with_args(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            return 3.0 * fn(*args, **kwargs)
        return wrapper

    @scaled
    def f(x):
        return x * x

    @scaled
    @scaled
    def g(x):
        return np.tanh(x) * x

    @with_args
    def h(x):
        return x * x

    def uses(x):
        return f(x) * 2.0
"""


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", ["f", "g", "uses"])
def test_wraps_decorator_is_differentiated_as_it_runs(modules, shape, name):
    m = modules({"w": WRAPS})["w"]
    check_both_modes(getattr(m, name), point(shape))


def test_wraps_with_star_args_is_refused_not_unwrapped(modules):
    m = modules({"w": WRAPS})["w"]
    with pytest.raises(srcad.TransformError, match=r"\*args"):
        srcad.grad(m.h)(0.4)


# a local bound once, at the top, to a module or a function read from a global: its calls are
# the calls srcad knows (np_.sum was taken for a method .sum(); s(v) for an unknown local function)
def _module_alias(v):
    np_ = np
    return np_.sum(np_.sin(v) * v)


def _function_alias(v):
    s = np.sum
    act = np.tanh
    return s(act(v) * v) + s(v)


def _alias_then_rebound(v):
    act = np.tanh
    y = act(v)
    act = np.sin     # bound twice: not replaced; a local function is refused, never wrong
    return np.sum(act(y))


@pytest.mark.parametrize("fn", [_module_alias, _function_alias])
@pytest.mark.parametrize("shape", SHAPES)
def test_local_names_of_modules_and_functions(fn, shape):
    x = point(shape)
    np.testing.assert_allclose(srcad.grad(fn)(x), numeric_grad(fn, x), rtol=1e-6, atol=1e-8)
    t = np.ones_like(x) if shape else 1.0
    _, tan = srcad.jvp(fn, (x,), (t,))
    np.testing.assert_allclose(tan, np.sum(numeric_grad(fn, x) * t), rtol=1e-6, atol=1e-8)


def test_a_local_function_bound_twice_is_refused():
    with pytest.raises(srcad.TransformError, match="local variable 'act'"):
        srcad.grad(_alias_then_rebound)(np.array([0.3, 0.4]))
