"""The same gradients on Dask arrays (and on CuPy arrays where CuPy and a GPU are present).

srcad's derivative is NumPy-API code, so through NumPy's dispatch it runs on any array library that
implements the API. These tests run the rule table (tests/test_numpy_rules.py ``CASES``), a sample
of the random-program corpus (tests/programs.py) and the model tests with Dask arrays as inputs
(parameter dicts and lists of Dask arrays too), check the gradients against NumPy's, and check that
srcad computed nothing: a scheduler callback counts the computes of ``grad(f)(*args)``, which may be
no more than those of the plain call ``f(*args)`` (a branch on data computes its test, in the
user's code as in the derivative's forward sweep, once). One test runs on a ``dask.distributed``
``LocalCluster`` of two worker processes on 127.0.0.1, started and stopped by the test.

The CuPy parametrisations run the same checks (results only: CuPy computes eagerly) and are
skipped, with the reason, where CuPy or a GPU is absent.
"""

import os
import sys

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
import dask  # noqa: E402
from dask.callbacks import Callback  # noqa: E402

import srcad  # noqa: E402
import test_models as M  # noqa: E402
import test_numpy_rules as T  # noqa: E402
from srcad import runtime as rt  # noqa: E402


class Computes(Callback):
    """Counts the computes a local Dask scheduler starts while it is active."""

    def __init__(self):
        super().__init__()
        self.n = 0

    def _start(self, dsk):
        self.n += 1


def _cupy_or_reason():
    """The ``cupy`` module where CuPy and a GPU are usable, else why not (a string)."""
    try:
        import cupy
    except ImportError:
        return "CuPy is not installed"
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            return "CuPy is installed but no GPU is present"
    except Exception as e:  # noqa: BLE001 - CUDA reports a missing driver or device this way
        return f"CuPy is installed but no GPU is usable: {e}"
    return cupy


_CUPY_SAID = []


def _cupy(config=None):
    """The ``cupy`` module, or a skip whose reason is also printed on the terminal once (a plain
    ``pytest -q`` shows skip reasons only with ``-rs``)."""
    got = _cupy_or_reason()
    if not isinstance(got, str):
        return got
    reporter = config.pluginmanager.get_plugin("terminalreporter") if config is not None else None
    if reporter is not None and not _CUPY_SAID:
        _CUPY_SAID.append(got)
        with config.pluginmanager.get_plugin("capturemanager").global_and_fixture_disabled():
            reporter.ensure_newline()
            reporter.write_line(f"tests/test_dask.py: the CuPy tests are skipped: {got}")
    pytest.skip(got)


class Backend:
    def __init__(self, name, config=None):
        self.name = name
        self.cp = _cupy(config) if name == "cupy" else None

    def to(self, a):
        """``a`` (an array, or a dict/list/tuple of them) in this backend; numbers stay numbers."""
        if isinstance(a, dict):
            return {k: self.to(v) for k, v in a.items()}
        if isinstance(a, (list, tuple)):
            return type(a)(self.to(v) for v in a)
        if not isinstance(a, np.ndarray) or a.ndim == 0 or a.dtype.kind != "f":
            return a
        if self.cp is not None:
            return self.cp.asarray(a)
        # chunked along the first axis (Dask's linalg wants whole rows), two chunks where possible
        return da.from_array(a, chunks=(max(1, (a.shape[0] + 1) // 2),) + a.shape[1:])

    def back(self, v):
        if self.cp is not None:
            return _tree(v, lambda a: self.cp.asnumpy(a) if isinstance(a, self.cp.ndarray) else a)
        return dask.compute(v)[0]

    def lazy(self, v):
        """Whether every array in ``v`` is still a Dask collection (nothing computed)."""
        if self.cp is not None:
            return True
        leaves = []
        _tree(v, leaves.append)
        return all(isinstance(a, da.Array) or np.ndim(a) == 0 for a in leaves)


def _tree(v, fn):
    if isinstance(v, dict):
        return {k: _tree(x, fn) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return type(v)(_tree(x, fn) for x in v)
    return fn(v)


@pytest.fixture(params=["dask", "cupy"])
def backend(request):
    with dask.config.set(scheduler="sync"):   # small graphs: the threaded pool's overhead dominates
        yield Backend(request.param, request.config)


def _same(got, want, rtol=1e-9, atol=1e-12):
    if isinstance(want, dict):
        assert isinstance(got, dict) and list(got) == list(want)
        for k in want:
            _same(got[k], want[k], rtol, atol)
    elif isinstance(want, (list, tuple)):
        assert len(got) == len(want)
        for a, b in zip(got, want):
            _same(a, b, rtol, atol)
    else:
        # an array's gradient is an array (a list of rows, with the same shape, is not)
        assert isinstance(got, (list, tuple)) == isinstance(want, (list, tuple)), (type(got), type(want))
        assert np.shape(got) == np.shape(want)
        np.testing.assert_allclose(np.asarray(got, dtype=float), np.asarray(want, dtype=float), rtol=rtol,
                                   atol=atol)


def check(backend, fn, args, wrt=0, expect_lazy=True, unlazy_ok=False, label=""):
    """The gradient of ``fn`` on ``backend``'s arrays equals NumPy's, and (Dask) srcad computed
    nothing the plain call does not compute itself, and handed back Dask arrays. ``unlazy_ok``:
    where the plain call computes (a NumPy function Dask does not implement lazily: NumPy converts
    the array), the derivative may too."""
    want = srcad.grad(fn, wrt=wrt)(*args)
    plain, during = Computes(), Computes()
    with plain:
        fn(*backend.to(list(args)))
    with during:
        got = srcad.grad(fn, wrt=wrt)(*backend.to(list(args)))
    if plain.n == 0 or not unlazy_ok:
        assert during.n <= plain.n, f"srcad computed {during.n - plain.n} time(s) more than the plain call {label}"
    if expect_lazy and plain.n == 0:
        assert backend.lazy(got)
    _same(backend.back(got), want)
    return plain.n


# ---------------------------------------------------------------- the rule table


def lazy_weigh(y):
    """tests/test_numpy_rules.weigh with its weights shaped from ``y.shape`` (``np.size`` of a Dask
    array would compute it: NumPy's function, not Dask's)."""
    if np.ndim(y) == 0:
        return y * np.sin(1.0)
    return np.sum(y * np.sin(1.0 + np.arange(y.size).reshape(y.shape)))


# Dask has no lazy version of these (or wants another chunking): the plain call computes or fails
DASK_LIMITS = {
    "det-batched": "dask's linalg takes 2-D arrays only",
    "det-singular-batched": "dask's linalg takes 2-D arrays only",
    "slogdet": "dask's lu (for inv) wants square chunks",
    "slogdet-unpack": "dask's lu (for inv) wants square chunks",
}


def _plain_runs(fn, args):
    try:
        with dask.config.set(scheduler="sync"):
            fn(*Backend("dask").to(list(args)))
    except Exception as e:  # noqa: BLE001 - Dask does not implement the call
        return f"{type(e).__name__}: {e}"
    return None


# Dask's graph building costs about 0.2 s a case: the normal suite runs every sixth case of the
# table (the module stays under a minute), SRCAD_LONG=1 all of them
LONG = bool(os.environ.get("SRCAD_LONG"))
_TABLE = T.CASES if LONG else T.CASES[::6]


@pytest.mark.parametrize("fn,args,wrt", [c[1:] for c in _TABLE], ids=[c[0] for c in _TABLE])
def test_rule_table(backend, fn, args, wrt, monkeypatch, request):
    monkeypatch.setattr(T, "weigh", lazy_weigh)
    case = request.node.callspec.id.split("-", 1)[1]
    if backend.name == "dask":
        if case in DASK_LIMITS:
            pytest.skip(DASK_LIMITS[case])
        why = _plain_runs(fn, args)
        if why:
            pytest.skip(f"Dask does not run this call: {why[:120]}")
    check(backend, fn, args, wrt, unlazy_ok=True)


# ---------------------------------------------------------------- random programs


def _corpus(n=20):
    """The first ``n`` programs of tests/programs.py's derandomised corpus with a point at least
    1e-3 from every branch switch."""
    from hypothesis import HealthCheck, given, settings

    from programs import programs
    progs = []

    @settings(max_examples=n, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(programs())
    def collect(p):
        progs.append(p)

    collect()
    out = []
    for k, p in enumerate(progs):
        rng = np.random.default_rng(k)
        for _ in range(20):
            x, t = rng.normal(size=4), float(rng.normal())
            try:
                with np.errstate(all="raise", under="ignore"):
                    v, margin = p.margins(x, t)
            except (FloatingPointError, OverflowError, ZeroDivisionError):
                continue
            if margin > 1e-3 and np.all(np.isfinite(v)):
                out.append((p, x, t))
                break
    return out


_CORPUS = []


def test_random_programs(backend):
    if not _CORPUS:
        _CORPUS.extend(_corpus(100 if LONG else 20))
    assert len(_CORPUS) >= 16
    done, refused, mixed = 0, 0, 0
    for p, x, t in _CORPUS:
        try:
            srcad.grad(p.f, wrt=p.wrt)(x.copy(), t)
        except srcad.TransformError:
            refused += 1
            continue
        if backend.name == "dask" and _plain_runs(p.f, (x, t)):
            refused += 1             # Dask cannot run the program itself (SRCAD_LONG=1 meets some)
            continue
        try:
            check(backend, p.f, (x, t), p.wrt, expect_lazy=False, label=p.source)
        except NotImplementedError as e:
            # a NumPy array (np.zeros(4) in the program) whose adjoint is accumulated in place
            # (`dv += ...`) meets a Dask contribution: NumPy cannot add a Dask array into itself
            assert "out parameter" in str(e), e
            mixed += 1
            continue
        done += 1
    assert done >= len(_CORPUS) - refused - 2, (done, refused, mixed)


def test_fuzz_programs(backend):
    """The second generator (tests/fuzz_programs.py: broadcasting, subscript writes with repeated
    indices, views, containers): of its first 30 seeds (100 with SRCAD_LONG=1: issue 16's count,
    benchmarks/dask_bench.py), those that srcad differentiates and Dask runs."""
    assert _fuzz_checked(backend, range(100 if LONG else 30), None) >= (40 if LONG else 10)


def _fuzz_checked(backend, seeds, focus):
    import fuzz_programs as fp
    checked = 0
    for seed in seeds:
        p = fp.generate(seed, focus=focus)
        rng = np.random.default_rng(seed)
        args = next((a for a in (fp.random_args(p, rng) for _ in range(30)) if fp.usable(p, a)), None)
        if args is None:
            continue
        try:
            srcad.grad(p.f, wrt=(0, 1))(*[fp._copy(a) for a in args])
        except srcad.TransformError:
            continue
        if backend.name == "dask" and _plain_runs(p.f, args):
            continue
        check(backend, p.f, args, (0, 1), expect_lazy=False, label=p.full_source())
        checked += 1
    return checked


def test_fuzz_programs_cheap_temporaries_then_writes(backend):
    """The generator's ``cheap_write`` class (a cheap temporary, then a write into the array it was
    made from, ``c[:] = c``): seeds 8 and 51 gave wrong Dask gradients, because ``read_at`` kept
    Dask's ``dx[:]`` (``dx`` itself) uncopied and the next ``dx[:] = 0.0`` zeroed it."""
    assert _fuzz_checked(backend, [8, 51] + list(range(0, 40, 5)), "cheap_write") >= 6


def self_write(x):
    c = np.sin(x) * x
    c[:] = c
    return np.sum(c * c)


def write_whole(x, y):
    c = np.cos(x) * y
    c[...] = c * 2.0
    c[:, :] = np.tanh(c)
    return np.sum(c * x)


def test_whole_array_writes_keep_their_adjoint(backend):
    x = np.linspace(-1.0, 1.0, 6).reshape(2, 3)
    check(backend, self_write, (x,))
    check(backend, write_whole, (x, x[::-1]), wrt=(0, 1))


def test_read_at_copies_a_whole_slice():
    dx = da.from_array(np.arange(4.0), chunks=2)
    got = rt.read_at(dx, slice(None, None))
    dx[:] = 0.0
    assert got is not dx and got.compute().tolist() == [0.0, 1.0, 2.0, 3.0]


# ---------------------------------------------------------------- the model tests


def test_mlp_softmax_dict_of_dask_arrays(backend):
    R = np.random.default_rng(3)
    params = {"W1": R.normal(size=(4, 5)) * 0.5, "b1": R.normal(size=5) * 0.1,
              "W2": R.normal(size=(5, 3)) * 0.5, "b2": R.normal(size=3) * 0.1}
    x = R.normal(size=(6, 4))
    onehot = np.eye(3)[[0, 1, 2, 2, 0, 1]]
    assert check(backend, M.mlp_softmax_loss, (params, x, onehot)) == 0
    assert check(backend, M.mlp_softmax_loss, (params, x, onehot), wrt=1) == 0


def test_logistic_regression_mixed_numpy_and_dask(backend):
    R = np.random.default_rng(4)
    x = R.normal(size=(8, 3))
    y = np.where(R.uniform(size=8) < 0.5, -1.0, 1.0)
    w, b = R.normal(size=3), 0.3
    assert check(backend, M.logistic_loss, (w, b, x, y, 0.1), wrt=(0, 1)) == 0
    # parameters stay NumPy, the data is the backend's: the adjoints meet in the backend's library
    # (a variant of its own: a NumPy adjoint cannot take a Dask contribution in place)
    want = srcad.grad(M.logistic_loss, wrt=(0, 1))(w, b, x, y, 0.1)
    data = backend.to([x, y])
    with Computes() as c:
        got = srcad.grad(M.logistic_loss, wrt=(0, 1))(w, b, data[0], data[1], 0.1)
    assert c.n == 0 and backend.lazy(got)
    _same(backend.back(got), want)


def test_layers_list_of_tuples_and_logsumexp(backend):
    R = np.random.default_rng(5)
    layers = [(R.normal(size=(3, 4)) * 0.5, R.normal(size=4)), (R.normal(size=(4, 2)) * 0.5, R.normal(size=2))]
    x = R.normal(size=(5, 3))
    assert check(backend, M.layers_loss, (layers, x)) == 0
    assert check(backend, M.logsumexp, (R.normal(size=(3, 4)),)) == 0


def test_value_and_grad_and_jvp_stay_lazy(backend):
    R = np.random.default_rng(6)
    x = R.normal(size=(6, 4))

    def f(x):
        return np.sum(np.tanh(x) ** 2) + np.mean(x * x)

    with Computes() as c:
        v, g = srcad.value_and_grad(f)(backend.to(x))
        fv, tangent = srcad.jvp(f, (backend.to(x),), (backend.to(np.ones_like(x)),))
    assert c.n == 0 and backend.lazy((v, g, fv, tangent))
    _same(backend.back((v, g, fv, tangent)), (f(x), srcad.grad(f)(x), f(x), np.sum(srcad.grad(f)(x))))


# ---------------------------------------------------------------- properties of the runtime


def writes_its_input(x):
    x[0] = x[1] * 2.0
    return np.sum(x * x)


def test_a_callers_array_is_copied_not_changed(backend):
    x = np.arange(1.0, 5.0)
    lx = backend.to(x)
    before = getattr(lx, "name", None)
    check(backend, writes_its_input, (x,))
    g = srcad.grad(writes_its_input)(lx)
    assert getattr(lx, "name", None) == before           # the caller's Dask graph did not grow
    _same(backend.back(lx), x)
    _same(backend.back(g), srcad.grad(writes_its_input)(x.copy()))


def matmul_loss(a, b):
    return np.sum(np.tanh(a @ b))


def test_rank_specialisation_applies(backend):
    R = np.random.default_rng(8)
    a, b = R.normal(size=(4, 3)), R.normal(size=(3, 2))
    df = srcad.grad(matmul_loss, wrt=(0, 1))
    src = srcad.source(df, backend.to(a), backend.to(b))
    assert src == srcad.source(df, a, b) and "matmul_adjoint" not in src
    check(backend, matmul_loss, (a, b), (0, 1))


def branchy(x):
    s = 0.0
    for i in range(3):
        if x[i] > 0.0 and np.sum(x) < 10.0:
            s = s + x[i] * x[i]
        else:
            s = s - np.sin(x[i])
    if np.mean(x) > 0.0:
        return s * 2.0
    return s


def test_branch_decisions_are_taken_once(backend):
    x = np.array([0.5, -0.3, 1.2, 0.1])
    assert "cond_1 = bool(" in srcad.source(srcad.grad(branchy))
    check(backend, branchy, (x,), expect_lazy=False)


def test_count_of_an_unknown_length():
    x = da.from_array(np.array([0.5, -1.0, 2.0, -3.0, 4.0]), chunks=2)
    masked = x[x > 0]
    assert np.isnan(masked.shape[0])
    with Computes() as c:
        n = rt.count(masked)
        m = rt.count(da.stack([masked, masked]), 1)
    assert c.n == 0
    assert int(n.compute()) == 3 and m.compute().tolist() == [3, 3]
    assert rt.count(np.ones((2, 3)), 1) == 3


def test_scatter_add_repeats_in_the_arrays_library():
    base = np.zeros((3, 2))
    g = np.arange(6.0).reshape(3, 2)
    want = base.copy()
    np.add.at(want, [0, 2, 0], g)
    with Computes() as c:
        got = rt.scatter_add(da.zeros((3, 2), chunks=1), [0, 2, 0], da.from_array(g, chunks=2))
    assert c.n == 0 and isinstance(got, da.Array)
    np.testing.assert_array_equal(got.compute(), want)


# ---------------------------------------------------------------- a cluster


def test_local_cluster_two_worker_processes():
    distributed = pytest.importorskip("distributed")
    R = np.random.default_rng(9)
    x = R.normal(size=(400, 5))
    y = np.where(R.uniform(size=400) < 0.5, -1.0, 1.0)
    w = R.normal(size=5)
    want = srcad.grad(M.logistic_loss, wrt=(0, 1))(w, 0.2, x, y, 0.05)
    # forked workers start in about a second (spawned ones import everything again)
    with dask.config.set({"distributed.worker.multiprocessing-method": "fork"}), \
            distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                     dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        X = da.from_array(x, chunks=(100, 5))
        Y = da.from_array(y, chunks=100)
        g = srcad.grad(M.logistic_loss, wrt=(0, 1))(da.from_array(w, chunks=5), 0.2, X, Y, 0.05)
        assert isinstance(g[0], da.Array)
        got = client.compute(list(g), sync=True)
    _same(got, want)


# ---------------------------------------------------------------- data the function reads itself

R_DATA = np.random.default_rng(11)
X_NP, Y_NP = R_DATA.normal(size=(40, 3)), R_DATA.normal(size=40)
X_DATA, Y_DATA = X_NP, Y_NP       # module-level data, NumPy or Dask, rebound by the tests


def global_data_loss(w):
    r = X_DATA @ w - Y_DATA
    return np.mean(r * r) + 0.1 * np.sum(w * w)       # dw: a NumPy term, then a Dask one


def global_data_two(w, b):
    z = np.tanh(X_DATA * w + b)
    return np.sum(z) + np.sum(b ** 2)


def _set_data(x, y):
    global X_DATA, Y_DATA
    X_DATA, Y_DATA = x, y


def test_module_level_dask_data_with_numpy_parameters(monkeypatch):
    """A loss that reads module-level Dask data while its parameters are NumPy: the gradient stays
    lazy (a Dask array, nothing computed) and equals NumPy's. The variant is the foreign one (its
    adjoints accumulate as ``d = d + e``; ``dw += e`` would ask NumPy to add a Dask array into a
    NumPy one in place, which raised NotImplementedError), decided at each call from the values the
    function reads: the same ``grad`` object follows the data from NumPy to Dask and back."""
    w, b = np.array([0.3, -0.2, 0.5]), np.array([0.1, 0.2, 0.3])
    df = srcad.grad(global_data_loss)
    df2 = srcad.grad(global_data_two, wrt=(0, 1))
    here = sys.modules[__name__]
    monkeypatch.setattr(here, "X_DATA", X_NP)          # restored after the test
    monkeypatch.setattr(here, "Y_DATA", Y_NP)
    want, want2 = df(w), df2(w, b)
    assert "dw +=" in srcad.source(df, w)
    lazy = (da.from_array(X_NP, chunks=10), da.from_array(Y_NP, chunks=10))
    for _ in range(2):
        _set_data(*lazy)
        with dask.config.set(scheduler="sync"), Computes() as c:
            got, got2, vg = df(w), df2(w, b), srcad.value_and_grad(global_data_loss)(w)
            value, pullback = srcad.vjp(global_data_loss)(w)
            pulled = pullback(1.0)
        assert c.n == 0 and isinstance(got, da.Array) and isinstance(got2[0], da.Array)
        assert isinstance(vg[1], da.Array) and isinstance(pulled, da.Array)
        _same(got.compute(), want)
        _same(dask.compute(got2)[0], want2)
        _same(vg[1].compute(), want)
        _same(pulled.compute(), want)
        _set_data(X_NP, Y_NP)                      # back to NumPy: the in-place variant again
        _same(df(w), want)


def test_closure_held_dask_data():
    X, Y = da.from_array(X_NP, chunks=10), da.from_array(Y_NP, chunks=10)
    w = np.array([0.3, -0.2, 0.5])

    def loss(w):
        r = np.tanh(X @ w) - Y
        return np.sum(r * r) + np.sum(w ** 4)

    def on(data):
        return lambda w: np.sum(np.sin(data[0] @ w) * data[1]) + np.sum(w * w)

    want = srcad.grad(lambda w: np.sum((np.tanh(X_NP @ w) - Y_NP) ** 2) + np.sum(w ** 4))(w)
    with dask.config.set(scheduler="sync"), Computes() as c:
        got = srcad.grad(loss)(w)
        got_in_list = srcad.grad(on([X, Y]))(w)
    assert c.n == 0 and isinstance(got, da.Array) and isinstance(got_in_list, da.Array)
    _same(got.compute(), want)
    _same(got_in_list.compute(), srcad.grad(on([X_NP, Y_NP]))(w))


# ---------------------------------------------------------------- boolean-mask reads (unknown chunk sizes)


def mask_whole(x):
    m = x[x > 0]
    return np.sum(m * m) + np.mean(np.sin(x[x < 0.5]))


def mask_rows(x):
    y = x[x[:, 0] > 0]
    return np.sum(np.tanh(y) * y)


def mask_columns(x):
    y = x[:, x[0] > -0.5]
    return np.sum(y ** 3)


def mask_numpy(x):
    y = x[np.array([True, False, True, True])]
    return np.sum(np.exp(y))


def mask_then_reduce(x):
    y = x[x > 0.2] * 2.0
    return np.mean(y) + np.max(y) + np.sum(np.exp(-y) * y)


MASKS = [(mask_whole, (20,)), (mask_whole, (6, 4)), (mask_rows, (6, 4)), (mask_columns, (4, 6)),
         (mask_numpy, (4, 3)), (mask_then_reduce, (6, 4)), (mask_then_reduce, (9,))]


@pytest.mark.parametrize("fn,shape", MASKS, ids=[f"{f.__name__}-{len(s)}d" for f, s in MASKS])
def test_boolean_mask_reads_both_modes(fn, shape):
    """``x[mask]`` of a Dask array has unknown chunk sizes: the adjoint puts each block of the
    masked array's adjoint back into its block of ``x`` (in the graph, nothing computed), and
    forward mode reads the tangent with the same mask."""
    R = np.random.default_rng(len(shape) * 7 + 1)
    x = R.normal(size=shape)
    t = np.cos(np.arange(x.size)).reshape(shape)
    X, T = da.from_array(x, chunks=2), da.from_array(t, chunks=2)
    with dask.config.set(scheduler="sync"), Computes() as c:
        g = srcad.grad(fn)(X)
        value, tangent = srcad.jvp(fn, (X,), (T,))
    assert c.n == 0 and isinstance(g, da.Array) and isinstance(tangent, da.Array)
    _same(g.compute(), srcad.grad(fn)(x))
    _same(dask.compute(value, tangent), srcad.jvp(fn, (x,), (t,)))
    assert srcad.check_grad(fn, x) < 1e-6


def test_mask_adjoint_blocks():
    """rt._place_masked directly: mask chunks other than x's, an adjoint of other blocks (joined
    into one block, still lazily), and one whose blocks do not follow the mask (an error when it
    runs, never a broadcast into the wrong places)."""
    x = np.arange(12.0).reshape(3, 4) - 5
    m = x > 0
    X = da.from_array(x, chunks=((1, 2), (4,)))
    M = da.from_array(m, chunks=((2, 1), (4,)))
    with Computes() as c:
        follows = rt._place_masked(X, M, X[M] * 1.0)
        joined = rt._place_masked(X, M, da.from_array(x[m] * 2.0, chunks=5))
        cols = x[0] > -4
        C = da.from_array(cols, chunks=2)
        by_column = rt._place_masked(X, (slice(None), C), X[:, C] * 3.0)
        by_column_joined = rt._place_masked(X, (slice(None), C), da.from_array(x[:, cols] * 3.0, chunks=1))
        wrong = rt._place_masked(X, M, da.from_array(x[m], chunks=2))   # 3 blocks of 2: not M's 0, 2, 4
    assert c.n == 0
    np.testing.assert_array_equal(follows.compute(), np.where(m, x, 0.0))
    np.testing.assert_array_equal(joined.compute(), np.where(m, 2.0 * x, 0.0))
    want = np.zeros_like(x)
    want[:, cols] = 3.0 * x[:, cols]
    np.testing.assert_array_equal(by_column.compute(), want)
    np.testing.assert_array_equal(by_column_joined.compute(), want)
    assert follows.chunks == X.chunks
    with pytest.raises(ValueError, match="do not follow"):
        wrong.compute()


def test_unreduce_of_a_number_is_a_broadcast_per_block():
    """The adjoint of ``np.sum(x)`` spread over a Dask ``x``: each block a zero-strided view of the
    number (no memory, no pass over it), in ``x``'s chunks and floating dtype."""
    X = da.ones((6, 4), chunks=(2, 4), dtype=np.float32)
    with Computes() as c:
        g = rt.unreduce(2.0, X)
    assert c.n == 0 and g.chunks == X.chunks and g.dtype == np.float32
    block = g.to_delayed()[1, 0].compute()     # the block itself (compute() of an array copies)
    assert block.strides == (0, 0) and np.all(block == 2.0)
    masked = X[X > 0]                        # unknown length: the general path
    assert rt.unreduce(2.0, masked).compute().tolist() == [2.0] * 24


# ---------------------------------------------------------------- elementwise losses, block by block

SCALE = 0.25


def ew_sum(x):
    return np.sum(np.sin(x) * np.exp(-x * x) + x ** 2)


def ew_mean_two(x, y, s):
    """Means (with coefficients), a local, a comparison in np.where, a module-level number."""
    t = np.tanh(x * y) + s * x
    u = np.where(x > 0.1, t, y * y)
    return 0.5 * np.mean(u * u) - np.mean(np.log1p(x * x)) / 3.0 + SCALE


def ew_method(x, y):
    return (np.maximum(x, y) * np.cos(y)).sum() + 2.0 * np.sum(np.clip(x, -0.5, 0.5) * x)


def not_ew_inner_reduction(x):
    return np.sum(x - np.mean(x))


def not_ew_matmul(x, y):
    return np.sum(np.matmul(x, y.T))


def not_ew_sum_and_mean(x):
    return np.sum(x * x) + np.mean(np.sin(x))


def not_ew_branch(x):
    s = np.sum(x * x)
    if s > 1.0:
        return s
    return np.sum(x)


EW = [(ew_sum, 1, 0), (ew_mean_two, 2, (0, 1)), (ew_mean_two, 2, 1), (ew_method, 2, (0, 1))]
EW_SHAPES = [((23,), (5,)), ((9, 4), (4, 2)), ((5, 3, 4), (2, 3, 2))]


def _ew_args(fn, n, shape, chunks, dtype=np.float64):
    R = np.random.default_rng(len(shape) + n)
    arrays = [R.normal(size=shape).astype(dtype) for _ in range(n)]
    extra = (0.7,) if fn is ew_mean_two else ()
    lazy = [da.from_array(a, chunks=chunks if k == 0 else 3) for k, a in enumerate(arrays)]   # other chunks too
    return tuple(arrays) + extra, tuple(lazy) + extra


@pytest.mark.parametrize("shape,chunks", EW_SHAPES, ids=[f"{len(s)}d" for s, _ in EW_SHAPES])
@pytest.mark.parametrize("fn,n,wrt", EW, ids=[f"{f.__name__}-{w}" for f, _, w in EW])
def test_elementwise_loss_block_by_block(fn, n, wrt, shape, chunks, monkeypatch):
    """The gradient of an elementwise loss is one ``map_blocks`` of the NumPy derivative (a task a
    block), computed over pieces of each block (``TILE`` elements: 7 here, so pieces end inside
    rows and blocks), and equals NumPy's gradient; nothing computed before ``.compute()``."""
    from srcad import blockwise
    monkeypatch.setattr(blockwise, "TILE", 7)
    args, lazy = _ew_args(fn, n, shape, chunks)
    df = srcad.grad(fn, wrt=wrt)
    want = df(*args)
    with dask.config.set(scheduler="threads"), Computes() as c:
        got = df(*lazy)
        assert c.n == 0
        first = got[0] if isinstance(got, tuple) else got
        assert any(name.startswith("_block") for name in first.dask.layers)
        _same(dask.compute(got)[0], want, rtol=1e-12)
    assert blockwise.gradient(df, lazy, {}) is not None


def test_elementwise_block_by_block_float32_and_dtypes():
    args, lazy = _ew_args(ew_method, 2, (6, 5), (4, 5), np.float32)
    df = srcad.grad(ew_method, wrt=(0, 1))
    want, got = df(*args), dask.compute(df(*lazy))[0]
    assert [g.dtype for g in got] == [w.dtype for w in want] == [np.float32] * 2
    _same(got, want, rtol=1e-5, atol=1e-6)


NOT_EW = [(not_ew_inner_reduction, (np.linspace(-1, 1, 10),), 0),
          (not_ew_matmul, (np.linspace(-1, 1, 12).reshape(4, 3), np.linspace(0, 1, 12).reshape(4, 3)), 0),
          (not_ew_sum_and_mean, (np.linspace(-1, 1, 10),), 0),
          (not_ew_branch, (np.linspace(-1, 1, 10),), 0),
          (ew_mean_two, (np.linspace(-1, 1, 10), np.linspace(0, 1, 10), 0.7), 2),      # a number's gradient
          (ew_sum, (np.linspace(-1, 1, 10),), 1),                                       # no such argument
          (global_data_two, (np.array([0.3, -0.2, 0.5]), np.array([0.1, 0.2, 0.3])), 0)]   # module data


@pytest.mark.parametrize("fn,args,wrt", NOT_EW, ids=[f"{f.__name__}-{w}" for f, _, w in NOT_EW])
def test_not_elementwise_takes_the_generic_path(fn, args, wrt):
    from srcad import blockwise
    lazy = tuple(da.from_array(a, chunks=3) if isinstance(a, np.ndarray) else a for a in args)
    df = srcad.grad(fn, wrt=wrt)
    assert blockwise.gradient(df, lazy, {}) is None
    if wrt >= len(args):
        with pytest.raises(TypeError):
            df(*lazy)
        return
    _same(dask.compute(df(*lazy))[0], df(*args))


def test_elementwise_block_by_block_peak_memory(monkeypatch):
    """Written block by block into an array of its own (``da.store``, one thread), the gradient of
    an elementwise loss holds, beside the result, its block's gradient and small pieces (about 2.3
    blocks in all, the input block's copy among them); the generic graph holds every intermediate
    of a block (about 7 blocks)."""
    import tracemalloc

    from srcad import blockwise
    x = np.random.default_rng(12).normal(size=(2000, 250))
    X = da.from_array(x, chunks=(1000, 250))
    block = 1000 * 250 * 8
    df = srcad.grad(ew_sum)
    df(X[:8]).compute()

    def peak():
        out = np.empty_like(x)
        with dask.config.set(scheduler="sync"):
            tracemalloc.start()
            try:
                da.store(df(X), out, lock=False)
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
        np.testing.assert_allclose(out, df(x), rtol=1e-12)
        return peak / block

    ours = peak()
    monkeypatch.setattr(blockwise, "gradient", lambda *args: None)
    generic = peak()
    assert ours < 3.0 and generic > 2 * ours, (ours, generic)


# ---------------------------------------------------------------- cumsum after a boolean mask


def cumsum_masked(x):
    m = x[x > 0]
    return np.sum(np.cumsum(m) * m)


def cumsum_rows(x):
    m = x[x[:, 0] > -0.3]
    return np.sum(np.sin(np.cumsum(m, axis=0)))


def cumsum_columns(x):
    m = x[x[:, 0] > -0.3]
    return np.sum(np.sin(np.cumsum(m, axis=1))) + np.sum(np.cumprod(m * 0.5, axis=0))


CUMSUMS = [(cumsum_masked, (13,)), (cumsum_rows, (9, 3)), (cumsum_columns, (9, 3))]


@pytest.mark.parametrize("fn,shape", CUMSUMS, ids=[f.__name__ for f, _ in CUMSUMS])
def test_cumsum_reverse_after_a_boolean_mask(fn, shape):
    """``np.cumsum``'s adjoint runs the cumulative sum from the end: along a Dask axis of unknown
    length (after a boolean mask) block by block, in the graph (runtime.reverse_cumsum)."""
    R = np.random.default_rng(13)
    x = R.normal(size=shape)
    t = np.cos(np.arange(x.size)).reshape(shape)
    X, T = da.from_array(x, chunks=3), da.from_array(t, chunks=3)
    with dask.config.set(scheduler="sync"), Computes() as c:
        g = srcad.grad(fn)(X)
        value, tangent = srcad.jvp(fn, (X,), (T,))
    assert c.n == 0 and isinstance(g, da.Array)
    _same(g.compute(), srcad.grad(fn)(x))
    _same(dask.compute(value, tangent), srcad.jvp(fn, (x,), (t,)))


def test_reverse_cumsum_of_unknown_chunks():
    """Empty blocks anywhere (Dask's own ``cumsum`` fails on one before the last), 2-D along the
    unknown axis, and the NumPy path."""
    x = np.array([-1.0, -2.0, -3.0, 1.0, 2.0, 3.0, -4.0, -5.0, -6.0, 4.0, 5.0, 6.0, -7.0, -8.0, -9.0])
    X = da.from_array(x, chunks=3)
    masked = X[X > 0]
    assert np.isnan(masked.shape[0])
    with Computes() as c:
        r1 = rt.reverse_cumsum(masked, 0)
        rows = da.from_array(np.stack([x, 2 * x], axis=1), chunks=(3, 1))
        r2 = rt.reverse_cumsum(rows[rows[:, 0] > 0], 0)
    assert c.n == 0
    want = np.cumsum(x[x > 0][::-1])[::-1]
    np.testing.assert_array_equal(r1.compute(), want)
    np.testing.assert_array_equal(r2.compute(), np.stack([want, 2 * want], axis=1))
    np.testing.assert_array_equal(rt.reverse_cumsum(x.reshape(3, 5), 1), np.cumsum(x.reshape(3, 5)[:, ::-1], 1)[:, ::-1])
