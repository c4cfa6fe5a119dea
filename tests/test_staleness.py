"""Derivatives follow the code that would run now (issue 11, class 7).

Each generated variant carries guards on what its generation relied on (srcad/guards.py): the
code objects of the function and of every inlined helper, and what the names they call resolve
to. A rebound global, a redefined helper (a notebook re-run, a module reload), a closure cell that
holds another function and ``f.__code__`` replaced in place all lead to a new derivative, in both
modes and for derivative objects made before the change. Values (a global float, an array in a
closure cell) are read when the derivative runs, and changing them regenerates nothing.
"""

import gc
import importlib
import itertools
import linecache
import sys
import textwrap

import numpy as np
import pytest

import srcad
from srcad import parse, pipeline

from fd_points import SHAPES, numeric_grad, point  # noqa: E402

_names = itertools.count()


class Probe:
    """Derivative objects made once, checked again after every change (their fast paths too)."""

    def __init__(self, f):
        self.f = f
        self.grad = srcad.grad(f)
        self.vg = srcad.value_and_grad(f)
        self.jac = srcad.jacobian(f)

    def check(self, x):
        f = self.f
        want_grad = numeric_grad(f, x)
        for _ in range(2):   # the second call runs the cached variant
            np.testing.assert_allclose(self.grad(x), want_grad, rtol=1e-5, atol=1e-7)
            v, g = self.vg(x)
            np.testing.assert_allclose(v, f(x), rtol=1e-12)
            np.testing.assert_allclose(g, want_grad, rtol=1e-5, atol=1e-7)
            np.testing.assert_allclose(srcad.grad(f)(x), want_grad, rtol=1e-5, atol=1e-7)
            t = np.ones_like(np.asarray(x)) if np.ndim(x) else 1.0
            fv, tv = srcad.jvp(f, (x,), (t,))
            np.testing.assert_allclose(fv, f(x), rtol=1e-12)
            np.testing.assert_allclose(np.sum(tv), np.sum(want_grad), rtol=1e-5, atol=1e-7)
            jac = self.jac(x)
            np.testing.assert_allclose(jac.reshape(np.shape(f(x)) + np.shape(x)).sum(
                axis=tuple(range(np.ndim(f(x))))), want_grad, rtol=1e-5, atol=1e-7)


def rerun(namespace, source):
    """Run ``source`` in ``namespace`` as a notebook cell runs (its text in linecache)."""
    name = f"<stale-cell-{next(_names)}>"
    source = textwrap.dedent(source)
    linecache.cache[name] = (len(source), None, source.splitlines(True), name)
    exec(compile(source, name, "exec"), namespace)


@pytest.fixture
def module(tmp_path, monkeypatch):
    """Write a module into tmp_path and import it (fresh names, so tests never share one)."""
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    made = []

    def make(source, name=None):
        name = name or f"stale_mod_{next(_names)}"
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        importlib.invalidate_caches()
        mod = importlib.import_module(name)
        made.append(name)
        return mod

    yield make
    for name in made:
        sys.modules.pop(name, None)


@pytest.mark.parametrize("shape", SHAPES)
def test_rebound_global(module, shape):
    m = module("""
        import numpy as np
        act = np.tanh
        def f(x):
            return act(x) * x
    """)
    probe, x = Probe(m.f), point(shape)
    probe.check(x)
    assert "cos" not in srcad.source(probe.grad)
    m.act = np.sin
    probe.check(x)
    assert "np.cos(x)" in srcad.source(probe.grad)   # srcad.source shows the variant that runs now
    assert "np.cos(x)" in srcad.source(probe.grad, x)
    m.act = np.tanh
    probe.check(x)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_redefined_helper_at_any_depth(module, shape, depth):
    """A notebook re-run redefines the innermost helper; the outer ones are unchanged."""
    lib = module("""
        import numpy as np
        def h1(x):
            return np.tanh(x)
        def h2(x):
            return h1(x) * 2.0
        def h3(x):
            return h2(x) + x
    """)
    user = module(f"""
        import {lib.__name__} as lib
        def f(x):
            return lib.h{depth}(x) * x
    """)
    probe, x = Probe(user.f), point(shape)
    probe.check(x)
    rerun(lib.__dict__, """
        def h1(x):
            return np.sin(x) ** 2
    """)
    probe.check(x)


@pytest.mark.parametrize("shape", SHAPES)
def test_rebinding_a_name_a_helper_shares(module, shape):
    """The function and an inlined helper from another module both call ``act`` (the same
    function at first); rebinding the function's ``act`` changes only the function's calls."""
    lib = module("""
        from numpy import sin as act
        def helper(x):
            return act(x) * 2.0
    """)
    m = module(f"""
        from numpy import sin as act
        from {lib.__name__} import helper
        def f(x):
            return helper(x) * act(x)
    """)
    probe, x = Probe(m.f), point(shape)
    probe.check(x)
    m.act = np.tanh
    probe.check(x)
    lib.act = np.exp
    probe.check(x)


@pytest.mark.parametrize("shape", SHAPES)
def test_module_reload(module, shape):
    lib = module("""
        import numpy as np
        def helper(x):
            return np.tanh(x)
    """)
    user = module(f"""
        import {lib.__name__}
        def f(x):
            return {lib.__name__}.helper(x) * x
    """)
    probe, x = Probe(user.f), point(shape)
    probe.check(x)
    with open(lib.__file__, "w") as fh:
        fh.write("import numpy as np\n\n\ndef helper(x):\n    return np.exp(np.sin(x)) * 0.5\n")
    importlib.invalidate_caches()
    importlib.reload(lib)
    probe.check(x)


@pytest.mark.parametrize("shape", SHAPES)
def test_closure_cell_holding_another_function(shape):
    def make():
        act = np.tanh

        def f(x):
            return act(x) * x

        def switch(to):
            nonlocal act
            act = to
        return f, switch

    f, switch = make()
    probe, x = Probe(f), point(shape)
    probe.check(x)
    switch(np.sin)
    probe.check(x)
    switch(np.exp)
    probe.check(x)


@pytest.mark.parametrize("shape", SHAPES)
def test_code_replaced_in_place(module, shape):
    """What IPython's autoreload does: the function object stays, its ``__code__`` changes."""
    m = module("""
        import numpy as np
        def f(x):
            return np.tanh(x) * x
        def g(x):
            return np.sin(x) * np.exp(x)
    """)
    probe, x = Probe(m.f), point(shape)
    probe.check(x)
    m.f.__code__ = m.g.__code__
    probe.check(x)


@pytest.mark.parametrize("shape", SHAPES)
def test_changed_defaults_of_a_helper(module, shape):
    m = module("""
        import numpy as np
        def helper(x, scale=2.0, shift=np.array([0.1, 0.2, 0.3])):
            return np.sin(x + shift) * scale
        def f(x):
            return helper(x) * x
    """)
    probe, x = Probe(m.f), point(shape)
    probe.check(x)
    m.helper.__defaults__ = (3.0, np.array([-1.0, 0.5, 2.0]))
    probe.check(x)
    m.helper.__defaults__[1][:] = [0.0, 1.0, 0.0]    # the default array itself: read live
    probe.check(x)


@pytest.mark.parametrize("shape", SHAPES)
def test_changed_function_default_of_an_inlined_helper(module, shape):
    """Both modes inline the helper and know which function the default is."""
    m = module("""
        import numpy as np
        def helper(x, act=np.tanh):
            return act(x) * 2.0
        def f(x):
            return helper(x) * x
    """)
    x = point(shape)
    df, vg, jf = srcad.grad(m.f), srcad.value_and_grad(m.f), srcad.jvp(m.f)
    t = np.ones_like(np.asarray(x)) if shape else 1.0
    for defaults in [None, (np.sin,), (np.exp,)]:
        if defaults:
            m.helper.__defaults__ = defaults
        want = numeric_grad(m.f, x)
        np.testing.assert_allclose(df(x), want, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(vg(x)[0], m.f(x), rtol=1e-12)
        np.testing.assert_allclose(vg(x)[1], want, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(np.sum(jf(x, t)[1]), np.sum(want * t), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("shape", SHAPES)
def test_helper_with_its_own_derivative(module, shape):
    """A recursive helper is called, not inlined: its derivative's guards are the caller's too."""
    m = module("""
        import numpy as np
        act = np.tanh
        def rec(x, n):
            if n == 0:
                return act(x)
            return rec(x, n - 1) * 1.5
        def f(x):
            return rec(x, 2) * x
    """)
    probe, x = Probe(m.f), point(shape)
    probe.check(x)
    m.act = np.sin
    probe.check(x)


@pytest.mark.parametrize("shape", SHAPES)
def test_mutual_recursion(module, shape):
    """f and g call each other; only f reads ``act``. g's derivative, generated while f's was
    still being generated, is current only while f's is (guards.later)."""
    m = module("""
        import numpy as np
        act = np.tanh
        def f(x, n):
            if n <= 0:
                return act(x)
            return g(x, n - 1) * 1.5
        def g(x, n):
            if n <= 0:
                return x * 2.0
            return f(x, n - 1) + x
    """)
    x = point(shape)
    df = srcad.grad(m.f)
    for act in (np.tanh, np.sin, np.exp):
        m.act = act
        for n in range(4):
            want = numeric_grad(lambda v: m.f(v, n), x)
            np.testing.assert_allclose(df(x, n), want, rtol=1e-5, atol=1e-7)
            t = np.ones_like(np.asarray(x)) if shape else 1.0
            value, tangent = srcad.jvp(m.f, (x, n), (t, None))
            np.testing.assert_allclose(value, m.f(x, n), rtol=1e-12)
            np.testing.assert_allclose(np.sum(tangent), np.sum(want), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("shape", SHAPES)
def test_values_are_read_live_without_regenerating(module, shape):
    """A changed global float, a changed array in a closure cell: read when the derivative runs."""
    m = module("""
        import numpy as np
        scale = 2.0
        def make(w):
            def f(x):
                return np.sin(x * scale) * w
            def set_w(v):
                nonlocal w
                w = v
            return f, set_w
    """)
    f, set_w = m.make(0.5)
    probe, x = Probe(f), point(shape)
    probe.check(x)
    before = pipeline.transforms
    for step in range(3):
        m.scale = 1.0 + step
        set_w(np.full(np.shape(x), 0.25 * step) if step == 2 else 0.5 + step)
        probe.check(x)
    assert pipeline.transforms == before


@pytest.mark.parametrize("shape", [(), (3,)])
def test_rebound_global_arrays_and_attributes_regenerate_nothing(module, shape):
    """A training loop rebinding global weights and a config attribute: values, read live."""
    m = module("""
        import types
        import numpy as np
        W = np.linspace(0.5, 1.5, 3)
        cfg = types.SimpleNamespace(lr=0.5)
        def f(x):
            return np.sin(x * W.T) * cfg.lr + W.shape[0] * x
    """)
    probe, x = Probe(m.f), point(shape)
    probe.check(x)
    before = pipeline.transforms
    for step in range(3):
        m.W = m.W * 0.9
        m.cfg.lr = m.cfg.lr * 0.9
        m.cfg = type(m.cfg)(lr=m.cfg.lr)
        probe.check(x)
    assert pipeline.transforms == before
    m.cfg.lr = np.array([1.0, -2.0, 0.5])   # its type was used (a scalar): regenerated
    probe.check(x)


def test_bound_methods_are_guarded_by_equality(module):
    """``rng.uniform`` is a new bound-method object at each access: guarded by equality, so the
    derivative is not regenerated on every call (and draws from the generator it names)."""
    m = module("""
        import numpy as np
        rng = np.random.default_rng(0)
        def f(x):
            return x * rng.uniform(0.5, 1.5) + np.sin(x)
    """)
    df = srcad.grad(m.f)
    df(0.3)
    srcad.jvp(m.f, (0.3,), (1.0,))
    before = pipeline.transforms
    for seed in range(5):
        m.rng.bit_generator.state = np.random.default_rng(seed).bit_generator.state
        want = np.random.default_rng(seed).uniform(0.5, 1.5) + np.cos(0.3)
        assert df(0.3) == pytest.approx(want, rel=1e-12)
        m.rng.bit_generator.state = np.random.default_rng(seed).bit_generator.state
        assert srcad.jvp(m.f, (0.3,), (1.0,))[1] == pytest.approx(want, rel=1e-12)
    assert pipeline.transforms == before


@pytest.mark.parametrize("shape", [(), (3,)])
def test_global_float_becomes_an_array(module, shape):
    m = module("""
        import numpy as np
        s = 2.0
        def f(x):
            return np.sin(x) * s
    """)
    probe, x = Probe(m.f), point(shape)
    probe.check(x)
    m.s = np.array([1.0, 2.0, 3.0])
    probe.check(x)


@pytest.mark.parametrize("shape", [(), (3,)])
def test_helper_global_float_becomes_an_array(module, shape):
    """The same for a global of an inlined helper in another module (and its attribute)."""
    lib = module("""
        import types
        import numpy as np
        s = 2.0
        cfg = types.SimpleNamespace(c=0.5)
        def helper(x):
            return np.sin(x) * s + x * cfg.c
    """)
    user = module(f"""
        from {lib.__name__} import helper
        def f(x):
            return helper(x) * 1.5
    """)
    probe, x = Probe(user.f), point(shape)
    probe.check(x)
    lib.s = np.array([1.0, 2.0, 3.0])
    probe.check(x)
    lib.cfg.c = np.array([0.5, -1.0, 2.0])
    probe.check(x)


def test_higher_order_follows_the_change(module):
    m = module("""
        import numpy as np
        act = np.tanh
        def f(x):
            return act(x) * x
    """)
    d2 = srcad.grad(srcad.grad(m.f))
    h = 1e-4
    for act in (np.tanh, np.sin, np.exp):
        m.act = act
        x = 0.4
        want = (srcad.grad(m.f)(x + h) - srcad.grad(m.f)(x - h)) / (2 * h)
        np.testing.assert_allclose(d2(x), want, rtol=1e-6)
        np.testing.assert_allclose(srcad.hessian(m.f)(x), want, rtol=1e-6)


def loss(p, batch):
    return np.sum((p * batch - 1.0) ** 2)


def _step(params, batch):
    return srcad.grad(lambda p: loss(p, batch))(params)


@pytest.mark.parametrize("shape", [(), (4,)])
def test_a_lambda_per_step_is_transformed_once(shape):
    """``grad(lambda p: loss(p, batch))(params)`` in a training loop: one transformation, one
    cache entry, no memory kept per closure; every step sees its own ``batch``."""
    pipeline.clear_cache()
    generated = len(parse.GENERATED._by_code)
    before = pipeline.transforms
    params = point(shape)
    rng = np.random.default_rng(1)
    for step in range(2000):
        batch = rng.uniform(-1, 1, size=shape) if shape else float(rng.uniform(-1, 1))
        g = _step(params, batch)                         # a new closure cell every step
        g2 = srcad.grad(lambda p: loss(p, batch))(params)  # the same cell, a new function
        t = np.ones_like(params) if shape else 1.0
        _, tangent = srcad.jvp(lambda p: loss(p, batch), (params,), (t,))   # forward mode
        if step % 400 == 0:
            want = 2 * (params * batch - 1.0) * batch
            np.testing.assert_allclose(g, want, rtol=1e-12)
            np.testing.assert_allclose(g2, want, rtol=1e-12)
            np.testing.assert_allclose(tangent, np.sum(want), rtol=1e-12)
    # the three lambdas' code objects (both modes inline loss since issue 13)
    assert pipeline.transforms - before == 3
    assert len(pipeline._cache) == 3   # two keys in reverse mode, one in forward mode
    gc.collect()
    assert len(parse.GENERATED._by_code) <= generated + 3


def test_the_caches_are_bounded(module, monkeypatch):
    """Least recently used keys go; a dropped one is generated again when it is needed."""
    monkeypatch.setattr(pipeline, "CACHE_SIZE", 5)
    src = "import numpy as np\n" + "".join(
        f"def f{i}(x):\n    return np.sin(x * {i + 1}.0)\n" for i in range(12))
    m = module(src)
    pipeline.clear_cache()
    for rounds in range(2):
        for i in range(12):
            f = getattr(m, f"f{i}")
            np.testing.assert_allclose(srcad.grad(f)(0.3), (i + 1) * np.cos(0.3 * (i + 1)))
            np.testing.assert_allclose(srcad.jvp(f, (0.3,), (1.0,))[1], (i + 1) * np.cos(0.3 * (i + 1)))
            assert len(pipeline._cache) <= 5


def test_variants_per_key_are_bounded(module):
    m = module("""
        import numpy as np
        act = np.tanh
        def f(x):
            return act(x) * x
    """)
    for act in [np.tanh, np.sin, np.cos, np.exp, np.arctan, np.sinh, np.tanh]:
        m.act = act
        np.testing.assert_allclose(srcad.grad(m.f)(0.3), numeric_grad(m.f, 0.3), rtol=1e-6)
    key = (m.f.__code__, (0,), "grad", (0,))
    assert 1 <= len(pipeline._cache[key]) <= pipeline.VARIANTS


def test_same_code_other_globals_regenerates(module):
    """Two functions with one code object but different globals (exec'd twice) differ."""
    src = "def f(x):\n    return act(x) * x\n"
    m = module("import numpy as np\n" + src)
    ns = {"act": np.sin}
    fn = type(m.f)(m.f.__code__, ns)
    m.act = np.tanh
    np.testing.assert_allclose(srcad.grad(m.f)(0.3), numeric_grad(m.f, 0.3), rtol=1e-6)
    np.testing.assert_allclose(srcad.grad(fn)(0.3), numeric_grad(fn, 0.3), rtol=1e-6)


@pytest.mark.parametrize("mode", ["grad", "jvp"])
def test_source_edited_after_import_is_refused_not_misread(module, tmp_path, mode):
    """A file edited after its module was imported (no reload): srcad reads the file, Python runs
    the code compiled before. Same line numbers (sin -> cos) and shifted lines are both refused,
    with the way out, instead of differentiating the new text (which gave cos' derivative of sin)."""
    mod = module("""
        import numpy as np


        def f(x):
            return np.sum(np.sin(x))
        """)
    path = tmp_path / f"{mod.__name__}.py"
    x = np.array([0.1, 0.2])
    run = (lambda: srcad.grad(mod.f)(x)) if mode == "grad" else (lambda: srcad.jvp(mod.f)(x, np.ones(2)))
    path.write_text(path.read_text().replace("np.sin(x)", "np.cos(x)"))
    linecache.checkcache(str(path))
    with pytest.raises(srcad.TransformError, match="changed since it was imported") as info:
        run()
    assert info.value.construct == "changed source" and "importlib.reload" in str(info.value)
    path.write_text(path.read_text().replace("import numpy as np\n", "import numpy as np\n# a line\n\n"))
    linecache.checkcache(str(path))
    with pytest.raises(srcad.TransformError, match="reload"):
        run()
    importlib.reload(mod)
    want = -np.sin(x) if mode == "grad" else np.sum(-np.sin(x))
    got = run() if mode == "grad" else run()[1]
    np.testing.assert_allclose(got, want)


def test_unchanged_source_is_read_whatever_its_compiled_form(module):
    """The staleness check compares the text compiled on its own with the function's code: closures
    reading an enclosing function's variables two levels up, ``from __future__`` flags, private
    names (mangled in a class body: ``self.__w`` is read as ``self._Scaled__w``) and ``super()``
    are not mistaken for an edit."""
    mod = module("""
        from __future__ import annotations
        import numpy as np


        class Base:
            def __init__(self, w):
                self.w = w

            def f(self, x):
                return np.sum(x) * 0.0


        class Scaled(Base):
            def __init__(self, w):
                super().__init__(w * 0.5)
                self.__w = w

            def f(self, x):
                y: float = 2.0
                return np.sum(x * self.__w) * y + super().f(x) + self.w * 0.0


        class Plain:
            def __init__(self, w):
                self.__w = w

            def f(self, x):
                return np.sum(x * self.__w) * 2.0


        def outer(a):
            def f(x):
                def g(v):
                    return v * a
                return np.sum(g(x))
            return f


        def loss(x):
            s = Scaled(x[0])
            return s.f(x)
        """)
    x = np.array([0.3, 0.5])
    np.testing.assert_allclose(srcad.grad(mod.Plain(3.0).f)(x), [6.0, 6.0])
    np.testing.assert_allclose(srcad.grad(mod.outer(2.0))(x), [2.0, 2.0])
    want = numeric_grad(mod.loss, x)
    np.testing.assert_allclose(srcad.grad(mod.loss)(x), want, rtol=1e-6)
    np.testing.assert_allclose(srcad.jvp(mod.loss)(x, np.ones(2))[1], np.sum(want), rtol=1e-6)
