"""Compiled derivatives (issue 17): ``srcad.grad(f, compile="numba")`` and its relatives.

* every Numba twin of a runtime helper (``srcad.numba_runtime.TWINS``) against the NumPy helper,
  on scalars, vectors, matrices and broadcasting pairs;
* benchmark cases (benchmarks/cases.py) compiled and not compiled give the same gradient; the
  chapter's ``while`` compiles;
* a bounded corpus of random programs (tests/fuzz_programs.py): every program whose plain function
  Numba compiles either compiles and agrees with srcad's NumPy gradient or is refused with a
  TransformError; none disagrees. ``SRCAD_LONG=1`` runs 100 programs and every benchmark case;
* refusals name the user's line; ``compile="auto"`` falls back and says which one ran.

Compilation takes 0.3-5 s a signature, so the sets are small (about a minute on two cores).
"""

import os
import sys

import numpy as np
import pytest

numba = pytest.importorskip("numba", reason="Numba is optional (pip install 'srcad[numba]')")

import srcad  # noqa: E402
from srcad import numba_backend, numba_runtime, runtime  # noqa: E402
from srcad.rules import more_helpers, numpy_helpers  # noqa: E402

from chapter_function import chapter_f  # noqa: E402

LONG = bool(os.environ.get("SRCAD_LONG"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))

import cases  # noqa: E402

rng = np.random.default_rng(0)
S, V, M, C, R = 0.7, rng.normal(size=3), rng.normal(size=(2, 3)), rng.normal(size=(2, 1)), rng.normal(size=(1, 3))

# ------------------------------------------------------------------ twins against the helpers

# helper -> argument tuples (each one Numba signature)
PARITY = {
    runtime.seed: [(1.5, S), (2.0, V), (np.ones(3), V)],
    runtime.zeros_like: [(S,), (M,)],
    runtime.stop_gradient: [(S,), (M,)],
    runtime.grad_like: [(0.0, V), (V, V), (0.5, S)],
    runtime.unbroadcast: [(M, V), (M, C), (M, R), (M, S), (M, M), (S, S), (np.ones((4, 2, 3)), C)],
    runtime.broadcast_like: [(V, M), (S, S)],
    runtime.copy_adjoint: [(V,), (S,)],
    runtime.owned_copy: [(M,), (S,)],
    runtime.contiguous: [(M.T,)],
    runtime.float_items: [(V,), (V, S, 2)],
    # (where the helper makes a list the twin keeps the array: compiled code reads machine floats)
    runtime.float_list: [(V.astype(np.float32),), (M,)],
    runtime.shape_of: [(S,)],
    runtime.check_output: [(S,)],
    runtime.check_unpack: [(V, 3), ((1.0, V), 2), (M, 2)],
    runtime.as_stored: [(S, V), (V, np.arange(3))],
    runtime.inexact_part: [(V, np.arange(3)), (S, V), (S, np.array([True, False]))],
    runtime.add_at: [(np.zeros(3), V, 1, 2.0), (0.0, M, 1, V), (np.zeros(3), V, 1, 1 + 2j),
                     (np.zeros(3), V + 0j, 1, 1 + 2j), (0.0, [1.0, 2.0], 1, 3.0), (0.0, (1.0, V), 1, V),
                     ((1.0, V), (1.0, V), 0, 2.0), ([1.0, 2.0], [1.0, 2.0], -1, 2.0)],
    runtime.read_at: [(M, 1), (M, 1, R), (V, 2)],
    runtime.pop_at: [(M.copy(), 0)],
    runtime.count: [(M,), (M, 1)],
    runtime.unreduce: [(2.0, M), (V, M, 0), (np.ones(2), M, 1)],
    runtime.reduce_like: [(M, M), (M, M, 0)],
    runtime.matmul_adjoint_a: [(np.ones((2, 2)), M, M.T), (np.ones(2), M, V), (2.0, V, V)],
    runtime.matmul_adjoint_b: [(np.ones((2, 2)), M, M.T), (np.ones(3), V, M.T), (2.0, V, V)],
    runtime.dot_adjoint_a: [(np.ones((2, 2)), M, M.T), (V, S, V)],
    runtime.dot_adjoint_b: [(np.ones((2, 2)), M, M.T), (V, V, S)],
    runtime.owned_tangent: [(0.0, M), (V, M), (S, S)],
    runtime.loop_seq: [(M,), (V,)],
    runtime.loop_seq_adjoint: [(V, V)],
    numpy_helpers.log_softmax: [(M, 1), (M, 0), (M, -1)],
    numpy_helpers.softmax_xent: [(M, M * 0.5, 1), (M, np.ones((1, 3)), -1), (M, M, 0)],
    numpy_helpers.log_softmax_adjoint: [(M, M - 2.0, 1), (0.5, M - 2.0, 0)],
    numpy_helpers.log_softmax_tangent: [(M, M - 2.0, 1), (0.5, M - 2.0, -1)],
    numpy_helpers.softmax_xent_adjoint: [(0.5, M, M * 0.5, 1), (1.0, M, np.ones((1, 3)), -1), (2.0, M, M, 0)],
    numpy_helpers.softmax_xent_labels_adjoint: [(0.5, M, M * 0.5, 1), (1.0, M, np.ones((1, 3)), -1)],
    numpy_helpers.sum_matmul_adjoint_a: [(0.5, M, M.T), (0.5, V, M.T), (0.5, M, V), (0.5, V, V)],
    numpy_helpers.sum_matmul_adjoint_b: [(0.5, M, M.T), (0.5, V, M.T), (0.5, M, V), (0.5, V, V)],
    numpy_helpers.affine: [(M, M.T, V[:2]), (M.T, M, 0.5)],
    numpy_helpers.dot_affine: [(M, M.T, V[:2]), (M, M.T[:, :1], V[:2])],
    numpy_helpers.affine2: [(M, M.T, M, M.T, V[:2]), (M[:1], M.T, M, M.T, 0.5)],
    numpy_helpers.dot_affine2: [(M, M.T, M, M.T, V[:2])],
    numpy_helpers.product_adjoint: [(M, M, M.T[:, :1]), (M.T, M.T, M[:, :2]), (1.5, M, M.T), (np.ones((2, 2)), M, M.T)],
    numpy_helpers.product_adjoint2: [(M, M, M.T[:, :1], M, M.T[:, :1]), (np.ones((2, 2)), M[:1], M.T, M, M.T),
                                     (0.5, M, M.T, M, M.T)],
    runtime.real_like: [(V + 1j * V, V), (V, V), (1 + 2j, S), (V + 1j, V + 1j)],
    more_helpers.abs_adjoint: [(V, V), (2.0, 1 + 2j), (V, V + 1j * V), (V, np.array([0.0, 1j, 2.0]))],
    more_helpers.real_adjoint: [(V, V), (1.5, 1 + 1j), (V, V + 1j)],
    more_helpers.imag_adjoint: [(V, V + 1j), (1.5, S)],
    more_helpers.angle_adjoint: [(V, V + 1j), (1.5, 1 + 1j, True), (1.5, S)],
    runtime.tuple_get: [((1.0, V), 1), ([1.0, 2.0], 0), (0.0, 1), ((V, M), -1)],
    runtime.add: [(V, V), ((1.0, V), (2.0, V)), (0.0, (1.0, V)), ([1.0], [2.0]), (S, S)],
    runtime.seq_concat: [((1.0,), (V,)), (V, V), ([1.0], [2.0, 3.0])],
    runtime.seq_part: [((1.0, V, 2.0), (1.0, V), (2.0,), True), ((1.0, V, 2.0), (1.0, V), (2.0,), False),
                       (M, M, V, False), ([1.0, 2.0, 3.0], [1.0], [2.0, 3.0], False)],
    runtime.list_append: [([1.0, 2.0], 3.0)],
    runtime.list_head: [([1.0, 2.0, 3.0],), (0.0,)],
    numpy_helpers.extreme_adjoint: [(1.0, M, np.max(M)), (np.ones(2), M, np.max(M, axis=1), 1, False),
                                    (np.ones((2, 1)), M, np.max(M, axis=1, keepdims=True), 1, True)],
}


ONE = {h: 1 for h in (runtime.real_like, more_helpers.abs_adjoint, more_helpers.real_adjoint,
                      more_helpers.imag_adjoint, more_helpers.angle_adjoint, runtime.tuple_get, runtime.add,
                      runtime.seq_concat, runtime.seq_part, runtime.list_append, runtime.list_head)}


def test_every_twin_has_parity_cases():
    assert set(PARITY) == set(numba_runtime.TWINS)


def _in_numba(twin, args):
    """A compiled function calling ``twin``: Python ints and bools are written into its source as
    constants (generated code passes indices and flags as literals, which tuple indexing needs)."""
    names = [f"a{k}" for k in range(len(args))]
    params = [n for n, a in zip(names, args) if type(a) not in (int, bool)]
    call = [repr(a) if type(a) in (int, bool) else n for n, a in zip(names, args)]
    ns = {"twin": twin}
    exec(f"def call({', '.join(params)}):\n    return twin({', '.join(call)})\n", ns)
    given = [a for a in args if type(a) not in (int, bool)]
    return numba.njit(ns["call"]), given


def _copied(a):
    if isinstance(a, np.ndarray):
        return a.copy()
    return type(a)(_copied(v) for v in a) if isinstance(a, (list, tuple)) else a


def _same(got, expect, what):
    """Equal values and shapes; a list and a tuple of the same elements count as the same (a twin
    returns a tuple where the helper returns a list of mixed types, which Numba has not)."""
    if expect is None:    # a check made for its effect (check_unpack): it passed in both
        assert got is None, what
        return
    if isinstance(expect, (list, tuple)):
        assert isinstance(got, (list, tuple)) and len(got) == len(expect), what
        for u, v in zip(got, expect):
            _same(u, v, what)
        return
    np.testing.assert_allclose(np.asarray(got), np.asarray(expect), rtol=1e-12, atol=1e-14, err_msg=what)
    assert np.shape(got) == np.shape(expect), what
    assert np.iscomplexobj(got) == np.iscomplexobj(expect), what


@pytest.mark.parametrize("helper", list(PARITY), ids=lambda h: h.__name__)
def test_twin_parity(helper):
    twin = numba_runtime.TWINS[helper]
    # each case compiles (~0.3 s): by default two per helper, one for the container and complex ones
    for args in PARITY[helper] if LONG else PARITY[helper][:ONE.get(helper, 2)]:
        expect = helper(*_copied(args))
        fn, given = _in_numba(twin, _copied(args))
        got = fn(*given)
        if helper is runtime.shape_of:   # the twin keeps the value, whose shape is what is read
            assert np.shape(got) == tuple(expect)
            continue
        _same(got, expect, f"{helper.__name__}{args}")
        # what the per-call entry's ownership analysis assumes of the twin: its result shares no
        # memory with the arguments it does not list (numba_backend._passes)
        passes = numba_backend._passes().get(twin)
        if passes is not None and isinstance(got, np.ndarray):
            given_at = [k for k, a in enumerate(args) if type(a) not in (int, bool)]
            for k, a in zip(given_at, given):
                if k not in passes and isinstance(a, np.ndarray):
                    assert not np.shares_memory(got, a), (helper.__name__, args, k)


def test_reductions_with_axis_and_keepdims():
    """np.max(Z, axis=1, keepdims=True) and relatives (Numba has no keepdims, and an axis only for
    np.sum): numba_backend rewrites them to numba_runtime.NUMPY_FORMS, checked here against NumPy
    over every axis of a 3-d array, with and without keepdims (one compiled function)."""
    forms = numba_runtime.NUMPY_FORMS
    calls = [(fn, axis, keep) for fn in (np.max, np.min, np.sum, np.mean, np.prod)
             for axis in (0, 1, -1, None) for keep in (False, True)]
    if not LONG:   # (compiling all 40 takes half a minute)
        calls = [(np.max, 1, True), (np.min, 0, False), (np.sum, -1, True), (np.mean, None, True),
                 (np.prod, 1, False)]
    ns = {f"r{k}": forms[fn] for k, (fn, _, _) in enumerate(calls)}
    ns["vmax"], ns["vsum"] = forms[np.max], forms[np.sum]
    body = ", ".join(f"r{k}(a, {axis}, {keep})" for k, (_, axis, keep) in enumerate(calls))
    exec(f"def all_forms(a, v):\n    return ({body},), vmax(v, 0), vsum(v, -1, True), vmax(a[0, 0, 0], None)\n", ns)
    a = rng.normal(size=(2, 3, 4))
    a[1, 2, 3] = np.nan   # max and min propagate NaN as NumPy does
    got = numba.njit(ns["all_forms"])(a, V)
    for k, (fn, axis, keep) in enumerate(calls):
        expect = fn(a, axis=axis, keepdims=keep)
        assert np.shape(got[0][k]) == np.shape(expect), (fn.__name__, axis, keep)
        np.testing.assert_allclose(got[0][k], expect, rtol=1e-13, err_msg=f"{fn.__name__} {axis} {keep}")
    assert got[1] == np.max(V) and got[2].shape == (1,) and got[3] == a[0, 0, 0]
    # (b) of issue 17: the benchmark cases with keepdims compile (test_benchmark_case checks them)


def test_number_methods_and_norm_of_a_number():
    @numba.njit
    def f(x):
        return x.sum() + x.max() + np.linalg.norm(x)
    assert f(-1.5) == pytest.approx(-1.5 - 1.5 + 1.5)


# ------------------------------------------------------------------ compiled against not compiled

def _agree(got, ref):
    got = got if isinstance(got, tuple) else (got,)
    ref = ref if isinstance(ref, tuple) else (ref,)
    assert len(got) == len(ref)
    for a, b in zip(got, ref):
        assert np.shape(a) == np.shape(b)
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)


QUICK = ["chapter_while", "scalar_for", "horner", "horner_xc", "scalar_temps", "vector_while", "logsumexp"]
REFUSED = {}


@pytest.mark.parametrize("case", [c for c in cases.CASES if LONG or c.name in QUICK or c.name in REFUSED],
                         ids=lambda c: c.name)
def test_benchmark_case(case):
    args = case.inputs()
    ref = srcad.grad(case.f, wrt=case.wrt)(*args)
    g = srcad.grad(case.f, wrt=case.wrt, compile="numba")
    if case.name in REFUSED:
        with pytest.raises(srcad.TransformError, match=REFUSED[case.name]) as info:
            g(*args)
        assert info.value.filename == cases.__file__ and info.value.lineno is not None
        auto = srcad.grad(case.f, wrt=case.wrt, compile="auto")
        _agree(auto(*args), ref)
        assert auto.backend == "numpy"
        return
    _agree(g(*args), ref)
    assert g.backend == "numba"
    _agree(g(*args), ref)     # the fast path


def test_chapter_while_compiled():
    g = srcad.grad(chapter_f, compile="numba")
    for a in (np.float64(0.3), np.float64(-0.8), np.array([0.4, -0.1, 0.2])):
        expect = chapter_f(a) / a
        np.testing.assert_allclose(g(a), expect, rtol=1e-12)
    assert g.backend == "numba"
    src = srcad.source(g, np.float64(0.3))
    assert "reversed(" not in src and "Stack(" not in src and "dout=1.0)" in src


def loop(x, w):
    y = x
    for i in range(50):
        y = y * w + np.sin(y) * 0.5
    return y


def test_modes_and_the_compiled_function():
    x, w = 0.3, 0.9
    ref_v, ref_g = srcad.value_and_grad(loop, wrt=(0, 1))(x, w)
    v, g = srcad.value_and_grad(loop, wrt=(0, 1), compile="numba")(x, w)
    assert v == pytest.approx(ref_v, rel=1e-14)
    _agree(g, ref_g)
    value, pullback = srcad.vjp(loop, compile="numba")(np.array([0.2, 0.4]), w)
    _agree(pullback(np.array([1.0, -2.0])), srcad.vjp(loop)(np.array([0.2, 0.4]), w)[1](np.array([1.0, -2.0])))
    _agree(srcad.jvp(loop, (x, w), (1.0, 0.5), compile="numba"), srcad.jvp(loop, (x, w), (1.0, 0.5)))
    df = srcad.grad(loop, compile="numba")
    compiled = df.compiled(x, w)
    _agree(compiled.dispatcher(x, w), srcad.grad(loop)(x, w))
    # what an exporter copies: the source Numba compiled and the namespace it runs in
    assert "def grad_loop(x, w, dout=1.0):" in compiled.source
    assert compiled.source == srcad.source(df, x, w)
    assert all(name in compiled.namespace for name in ("np",))
    assert compiled.py_func.__name__ == "grad_loop"
    # a known trip count: the saved y goes into a list made at its size (srcad/buffers.py), indexed
    assert "stack_y = np.empty(50)" in compiled.source and "stack_y[i] = y" in compiled.source
    assert ".append(" not in compiled.source and "y = stack_y[i]" in compiled.source
    # srcad.jit is grad(compile="numba"); its fast path is keyed on the argument types
    jitted = srcad.jit(loop)
    _agree(jitted(x, w), df(x, w))
    assert jitted.backend == "numba" and (float, float) in jitted._compiled_calls
    _agree(jitted(x, w), df(x, w))


def ranks_change(x, w):
    x = np.sin(x) * w
    x = np.sum(x * x)
    x = np.tanh(x) * w
    return np.sum(x * np.cos(x))


def test_values_saved_with_two_ranks():
    """x is saved as a vector and as a number: straight-line saves are variables, not one list."""
    v, w = np.array([0.3, -0.5, 0.8]), np.array([1.2, 0.7, -0.4])
    numba.njit(ranks_change)(v, w)   # the plain function compiles
    g = srcad.grad(ranks_change, wrt=(0, 1), compile="numba")
    _agree(g(v, w), srcad.grad(ranks_change, wrt=(0, 1))(v, w))
    src = srcad.source(g, v, w)
    assert "saved_x_1 = x" in src and "Stack(" not in src and ".append(" not in src



def saved_twice_a_pass(x, w):
    for i in range(3):
        y = w * 2.0          # y saved as a number here
        z = np.sin(y)
        y = x * z            # and as an array here, in the same pass
        w = np.sum(np.cos(y))
    return w


def test_a_variable_saved_with_two_types_in_a_loop():
    """One stack per push site (numba_backend._split_sites): a list of one type each."""
    x, w = np.array([0.3, -0.2, 0.5]), 0.7
    numba.njit(saved_twice_a_pass)(x, w)   # the plain function compiles
    g = srcad.grad(saved_twice_a_pass, wrt=(0, 1), compile="numba")
    _agree(g(x, w), srcad.grad(saved_twice_a_pass, wrt=(0, 1))(x, w))
    src = srcad.source(g, x, w)
    assert "stack_y_2.append(y)" in src and "y = stack_y_2.pop()" in src and "stack_y.append(y)" in src


def items_then_rebound(x, y):
    s = 0.25
    for i in range(2):
        s = s * 0.25 + y[i] * -1.2
    y = s * x                # y's adjoint is an array here, and 0.0 before the loop that reads y[i]
    return np.sum(y * y)


def test_a_zero_adjoint_before_a_loop_of_item_reads():
    """``dy = 0.0`` before a loop of ``dy = add_at(dy, y, i, g)`` is ``zeros_like(y)`` compiled (it
    was refused: "Cannot unify float64 and array")."""
    x, y = np.array([0.3, -0.2, 0.5]), np.array([0.7, 0.1, -0.4])
    g = srcad.grad(items_then_rebound, wrt=(0, 1), compile="numba")
    _agree(g(x, y), srcad.grad(items_then_rebound, wrt=(0, 1))(x, y))
    assert "dy = zeros_like(y)" in srcad.source(g, x, y)

def uses_a_dict(x):
    d = {"a": x * 2.0, "b": np.sin(x)}
    return d["a"] * d["b"]


def test_refusal_names_the_line_and_auto_falls_back():
    x = 0.4
    with pytest.raises(srcad.TransformError) as info:
        srcad.grad(uses_a_dict, compile="numba")(x)
    assert isinstance(info.value, numba_backend.CompileError)
    assert info.value.filename == __file__
    assert info.value.construct
    auto = srcad.grad(uses_a_dict, compile="auto")
    _agree(auto(x), srcad.grad(uses_a_dict)(x))
    assert auto.backend == "numpy"
    with pytest.raises(ValueError):
        srcad.grad(loop, compile="jit")


def walk(x, n):
    if n == 0:
        return x
    return np.sin(walk(x, n - 1)) * x


def test_kept_call_is_refused_with_its_line():
    with pytest.raises(srcad.TransformError, match="called rather than inlined"):
        srcad.grad(walk, compile="numba")(0.5, 3)


# ------------------------------------------------------------------ random programs

CORPUS = range(100) if LONG else [15, 6]   # one refused (tuple_get), one that compiles and agrees


def test_random_programs():
    """Every program whose plain function Numba compiles: compiled and agrees, or refused (a
    TransformError); never a different gradient. The tally is printed."""
    import fuzz_programs as fp
    tally = {"agree": 0, "refused": 0, "plain not compiled": 0, "no point": 0, "srcad refuses": 0}
    for seed in CORPUS:
        prog = fp.generate(seed)
        r = np.random.default_rng(seed)
        args = next((a for a in (fp.random_args(prog, r) for _ in range(10)) if fp.usable(prog, a)), None)
        if args is None:
            tally["no point"] += 1
            continue
        try:
            ref = srcad.grad(prog.f, wrt=(0, 1))(*[fp._copy(v) for v in args])
        except srcad.TransformError:
            tally["srcad refuses"] += 1
            continue
        try:
            numba.njit(prog.f)(*[fp._copy(v) for v in args])
        except Exception:
            tally["plain not compiled"] += 1
            continue
        try:
            got = srcad.grad(prog.f, wrt=(0, 1), compile="numba")(*[fp._copy(v) for v in args])
        except srcad.TransformError:
            tally["refused"] += 1
            continue
        _agree(got, ref)
        tally["agree"] += 1
    print("numba corpus:", tally)
    assert tally["agree"] >= 1


# ------------------------------------------------------------------ the per-call entry

ACT = np.sin


def uses_act(x, w):
    return ACT(x) * w


def other_body(x, w):
    return np.cos(x) * w * 2.0


def test_entry_rebuilds_when_the_code_changes():
    """The entry inlines the derivative's guard: a rebound global the derivative read, a replaced
    ``__code__``, ``srcad.clear_cache()`` give a new derivative at the next call, not a stale one."""
    global ACT
    g = srcad.grad(uses_act, wrt=(0, 1), compile="numba")
    x, w = 0.4, 1.3
    try:
        _agree(g(x, w), (np.cos(x) * w, np.sin(x)))
        _agree(g(x, w), (np.cos(x) * w, np.sin(x)))              # through the entry
        assert "fn.__code__ is" in g._compiled_entry.source          # the guard is inlined
        ACT = np.tanh
        _agree(g(x, w), ((1 - np.tanh(x) ** 2) * w, np.tanh(x)))
        _agree(g(x, w), ((1 - np.tanh(x) ** 2) * w, np.tanh(x)))
        code = uses_act.__code__
        uses_act.__code__ = other_body.__code__
        try:
            _agree(g(x, w), (-np.sin(x) * w * 2.0, np.cos(x) * 2.0))
        finally:
            uses_act.__code__ = code
        _agree(g(x, w), ((1 - np.tanh(x) ** 2) * w, np.tanh(x)))
        srcad.clear_cache()
        _agree(g(x, w), ((1 - np.tanh(x) ** 2) * w, np.tanh(x)))
    finally:
        ACT = np.sin
    assert g.backend == "numba"


def scaled(x, w, k=2.0):
    return np.sum(np.sin(x) * w) * k


def test_entry_types_ranks_and_results():
    """One entry per argument-type signature: a call of other types, another rank, an int to
    differentiate or keyword arguments takes the checked path; results are right on every path,
    1-tuples for a one-element ``wrt`` tuple, and never an argument or a view of one."""
    g = srcad.grad(scaled, wrt=(0, 1), compile="numba")
    ref = srcad.grad(scaled, wrt=(0, 1))
    v, m = np.array([0.3, -0.2, 0.5]), np.array([[0.3, -0.2], [0.1, 0.9]])
    for args in [(0.3, 0.9), (v, 0.9), (0.3, 0.9), (m, 0.9), (v, 0.9), (m, 0.9), (1, 0.9), (1, 0.9)]:
        for _ in range(2):
            got = g(*args)
            _agree(got, ref(*args))
            assert not any(np.shares_memory(r, a) for r in got for a in args if isinstance(a, np.ndarray))
    assert set(g._compiled_calls) == {(float, float), (np.ndarray, float)}
    _agree(g(0.3, 0.9, k=3.0), ref(0.3, 0.9, k=3.0))
    with pytest.raises(TypeError, match="positional"):   # not taken for the seed, a parameter there
        g(0.3, 0.9, 2.0, 5.0)
    one = srcad.grad(scaled, wrt=(0,), compile="numba")
    vg = srcad.value_and_grad(scaled, wrt=(1,), compile="numba")
    for _ in range(2):
        got = one(0.3, 0.9)
        assert type(got) is tuple and len(got) == 1
        _agree(got[0], ref(0.3, 0.9)[0])
        value, got = vg(0.3, 0.9)
        assert value == pytest.approx(scaled(0.3, 0.9), rel=1e-14) and type(got) is tuple and len(got) == 1
        _agree(got[0], ref(0.3, 0.9)[1])


def test_ownership_decided_on_the_source():
    """Which returned arrays may be an argument or a view of one (the entry copies those only):
    decided on the compiled source with Numba's types; unknown calls count as passing arguments."""
    def fresh_of(text, ns, args):
        scope = dict(ns, np=np)
        exec(text, scope)
        disp = numba.njit(scope["h"])
        disp(*args)
        c = numba_backend.Compiled(disp, text, scope, "h", "<test>")
        params = frozenset(p for p, a in zip(("x", "w"), args) if isinstance(a, np.ndarray))
        return numba_backend._returns_fresh(c, params)

    v = np.array([0.5, 1.5])
    unbroadcast = numba_runtime.TWINS[runtime.unbroadcast]
    zeros_like = numba_runtime.TWINS[runtime.zeros_like]
    cases_ = {
        "def h(x, w):\n    return x * w, np.sin(x), x.copy()\n": (True, True, True),
        "def h(x, w):\n    return x, x[1:], x.reshape(2, 1)\n": (False, False, False),
        "def h(x, w):\n    y = x\n    z = y.T\n    return z, w\n": (False, True),
        "def h(x, w):\n    t = (x, w)\n    return t[0], t[1] * 2.0\n": (False, True),
        "def h(x, w):\n    L = [np.zeros(2)]\n    L.append(x)\n    return L[0], L[1] + 1.0\n": (False, True),
        "def h(x, w):\n    return unbroadcast(x * w, x), unbroadcast(x, x), zeros_like(x)\n": (True, False, True),
        "def h(x, w):\n    if w > 0:\n        return x * 2.0, x\n    return x, x + 1.0\n": (False, False),
        "def h(x, w):\n    d = 0.0\n    for i in range(2):\n        d += x[i] * w\n    return d, x[0]\n": (True, False),   # (a number: the entry copies arrays only)
    }
    for text, expect in cases_.items():
        got = fresh_of(text, {"unbroadcast": unbroadcast, "zeros_like": zeros_like}, (v, 0.7))
        assert got == expect, text
    # an argument that is a number cannot be aliased
    assert fresh_of("def h(x, w):\n    return x, w\n", {}, (0.5, 0.7)) == (True, True)
