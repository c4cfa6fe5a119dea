"""``srcad.export`` and ``srcad export``: a derivative as a standalone module (issue 17 item 3).

The exported modules run in a subprocess started with ``python -I -S`` whose ``sys.path`` holds the
standard library, a temporary folder and the folder NumPy is installed in: srcad cannot be
imported there (checked), nor the user's modules, so everything the derivative reads must have
been written into the module. All modules of one test run go through one subprocess (the batch),
and their results are compared with what srcad computes here: every benchmark case
(benchmarks/cases.py) in grad (specialised) and jvp, and four of them also generic and in
value_and_grad (all of them with SRCAD_LONG=1), random programs (tests/fuzz_programs.py, one of
each grammar class; forty with SRCAD_LONG=1), and
programs with the constructs the exporter walks (recursive helpers kept as fwd_/bwd_ and jvp_
calls, closures, helpers from another module read as ``lib.name``, globals of several types,
defaults, names that clash with srcad's helpers, a gradient of a gradient).
"""

import importlib.util
import os
import pathlib
import pickle
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fuzz_programs
import srcad
from srcad import api, cli, pipeline
from srcad.export import ExportError

ROOT = pathlib.Path(__file__).resolve().parent.parent
SITE = os.path.dirname(os.path.dirname(np.__file__))    # the folder NumPy (and Numba) live in
LONG = bool(os.environ.get("SRCAD_LONG"))
PROGRAMS_PER_CLASS = 40 if LONG else 1

RUNNER = textwrap.dedent('''\
    import importlib, pickle, sys, time
    folder, site = sys.argv[1], sys.argv[2]
    sys.path.insert(0, folder)
    sys.path.append(site)
    try:
        import srcad  # noqa: F401
        srcad_importable = True
    except ImportError:
        srcad_importable = False
    with open(folder + "/jobs.pkl", "rb") as fh:
        jobs = pickle.load(fh)
    results = {}
    for key, module, attr, args, kwargs in jobs:
        try:
            t0 = time.perf_counter()
            mod = importlib.import_module(module)
            value = getattr(mod, attr)(*args, **kwargs)
            results[key] = ("ok", value, time.perf_counter() - t0, dict(getattr(mod, "__numba_stats__", {})))
        except Exception as exc:
            results[key] = ("error", f"{type(exc).__name__}: {exc}", 0.0, {})
    stats = {}
    for name, mod in list(sys.modules.items()):
        for k, v in list(vars(mod).items()) if name.startswith("exp_") else ():
            st = getattr(v, "stats", None)
            if st is not None and hasattr(st, "cache_hits"):
                stats[name + "." + k] = (sum(st.cache_hits.values()), sum(st.cache_misses.values()))
    out = {"srcad_importable": srcad_importable, "results": results, "numba": stats,
           "modules": sorted(m for m in sys.modules if m.startswith(("srcad", "fuzz", "user_", "lib_")))}
    with open(folder + "/results.pkl", "wb") as fh:
        pickle.dump(out, fh)
    ''')


def run_isolated(folder, jobs):
    """Run ``jobs`` [(key, module, function, args, kwargs)] in a process that cannot import srcad."""
    folder = str(folder)
    with open(os.path.join(folder, "jobs.pkl"), "wb") as fh:
        pickle.dump(jobs, fh)
    runner = os.path.join(folder, "run_exported.py")
    with open(runner, "w") as fh:
        fh.write(RUNNER)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    proc = subprocess.run([sys.executable, "-I", "-S", runner, folder, SITE], capture_output=True, text=True,
                          env=env, timeout=300, cwd=folder)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with open(os.path.join(folder, "results.pkl"), "rb") as fh:
        out = pickle.load(fh)
    assert not out["srcad_importable"], "the isolated process could import srcad: the check proves nothing"
    assert out["modules"] == [], f"the exported modules imported {out['modules']}"
    return out


def load_cases():
    spec = importlib.util.spec_from_file_location("srcad_export_cases", ROOT / "benchmarks" / "cases.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


USER = textwrap.dedent('''\
    import math

    import numpy as np

    import lib_export as lib
    from lib_export import SCALE as OTHER_SCALE

    WEIGHTS = np.array([0.5, -1.0, 2.0])
    BIG = np.linspace(-1.0, 1.0, 100).reshape(4, 25)
    SETTINGS = {"k": 3, "eps": 1e-3, "names": ("a", "b")}
    _MISSING = object()


    def power(x, n):
        if n == 0:
            return 1.0
        return x * power(x, n - 1)


    def make(c):
        def inner(x):
            return np.sin(x) * c
        return inner


    closed = make(2.0)


    def f(x, y):
        return np.sum(x * WEIGHTS) + power(y, 3) + closed(y) + lib.h(y) * OTHER_SCALE


    def g(x, n=SETTINGS["k"]):
        s = 0.0
        for i in range(n):
            s = s + np.tanh(x * SETTINGS["eps"] * (i + 1)) * math.pi
        return np.sum(s * BIG[0, :3]) + (0.0 if _MISSING is None else 1.0)


    def uses_lib(x):
        return np.sum(lib.h(x) * lib.SCALE)


    _shape = 0.5        # names of srcad's runtime helpers, meaning something else here
    seed = 3


    def unbroadcast(v):
        return v * 2.0


    mag = abs
    OFFSET = 1.0


    def kept_elsewhere(x):
        # a recursive helper of another module: its fwd_/bwd_ read that module's OFFSET
        return np.sum(lib.lib_power(x, 2)) + OFFSET * np.sum(x)


    def clash(x, y):
        return np.sum(x * y) * _shape + unbroadcast(y) * seed + mag(y)
    ''')

LIB = textwrap.dedent('''\
    import numpy as np

    SCALE = 2.5


    def h(x):
        return np.sin(x) * SCALE


    OFFSET = 0.25


    def lib_power(x, n):
        if n == 0:
            return OFFSET
        return np.sin(x) * lib_power(x, n - 1)
    ''')


@pytest.fixture(scope="module")
def user_module(tmp_path_factory):
    folder = tmp_path_factory.mktemp("user")
    (folder / "user_export.py").write_text(USER)
    (folder / "lib_export.py").write_text(LIB)
    sys.path.insert(0, str(folder))
    try:
        import user_export
        yield user_export
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop("user_export", None)
        sys.modules.pop("lib_export", None)


def _tangent(a, rng):
    return rng.normal(size=np.shape(a)) if isinstance(a, np.ndarray) else float(rng.normal())


class Batch:
    """Exports written into one folder, with the values srcad computes for them here."""

    def __init__(self, folder):
        self.folder = folder
        self.jobs, self.expected, self.texts = [], {}, {}

    def add(self, key, df, args, kind, ranks, expected, kwargs=None, attr=None):
        text = srcad.export(df, ranks=ranks)
        module = "exp_" + key.replace("-", "_").replace(".", "_")
        (self.folder / f"{module}.py").write_text(text)
        self.texts[key] = text
        self.jobs.append((key, module, attr or kind, tuple(args), kwargs or {}))
        self.expected[key] = expected

    def add_grad(self, key, f, args, wrt, ranks="args", kind="grad"):
        make = {"grad": srcad.grad, "value_and_grad": srcad.value_and_grad}[kind]
        df = make(f, wrt=wrt)
        expected = df(*[a.copy() if isinstance(a, np.ndarray) else a for a in args])
        if isinstance(wrt, tuple) and len(wrt) == 1:
            expected = expected[0] if kind == "grad" else (expected[0], expected[1][0])
        self.add(key, df, args, kind, api._ranks(args) if ranks == "args" else ranks, expected)

    def add_jvp(self, key, f, args, wrt, rng):
        wrt = wrt if isinstance(wrt, tuple) else (wrt,)
        tangents = [None] * len(args)
        for w in wrt:
            tangents[w] = _tangent(args[w], rng)
        expected = srcad.jvp(f, args, tangents)
        ranks = api._ranks(args)
        names = pipeline.forward_derivative(api._unwrap(f), wrt, ranks=ranks).tangent_names
        self.add(key, srcad.jvp(f, wrt=wrt), args, "jvp", ranks, expected,
                 kwargs={n: tangents[w] for n, w in zip(names, wrt)})


def _close(a, b):
    if isinstance(a, (tuple, list)):
        assert isinstance(b, (tuple, list)) and len(a) == len(b), (a, b)
        for u, v in zip(a, b):
            _close(u, v)
        return
    assert np.shape(a) == np.shape(b), (np.shape(a), np.shape(b))
    np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=1e-12, atol=1e-12)


def _differentiable(prog, rng):
    """Arguments where srcad differentiates ``prog`` to finite values, else None."""
    for _ in range(5):
        args = fuzz_programs.random_args(prog, rng)
        if not fuzz_programs.usable(prog, args):
            continue
        try:
            g = srcad.grad(prog.f, wrt=(0, 1))(*[a.copy() if isinstance(a, np.ndarray) else a for a in args])
        except srcad.TransformError:
            return None
        if all(np.all(np.isfinite(v)) for v in g):
            return args
    return None


@pytest.fixture(scope="module")
def batch(tmp_path_factory, user_module):
    folder = tmp_path_factory.mktemp("exported")
    b = Batch(folder)
    rng = np.random.default_rng(17)
    cases = load_cases()
    for case in cases.CASES:
        args = case.inputs()
        b.add_grad(f"case-{case.name}", case.f, args, case.wrt)
        if LONG or case.name in ("chapter_while", "scalar_for", "mlp", "rnn_in"):   # all: SRCAD_LONG=1
            b.add_grad(f"case-{case.name}-generic", case.f, args, case.wrt, ranks=None)
            b.add_grad(f"case-{case.name}-vg", case.f, args, case.wrt, kind="value_and_grad")
        b.add_jvp(f"case-{case.name}-jvp", case.f, args, case.wrt, rng)
    b.programs = []
    for focus in fuzz_programs.CLASSES:
        found, seed = 0, 0
        while found < PROGRAMS_PER_CLASS and seed < 20 * PROGRAMS_PER_CLASS:
            prog = fuzz_programs.generate(1000 + seed, focus)
            seed += 1
            args = _differentiable(prog, np.random.default_rng(seed))
            if args is None:
                continue
            found += 1
            key = f"fuzz-{focus}-{prog.seed}"
            b.programs.append(key)
            b.add_grad(key, prog.f, args, (0, 1))
            b.add_grad(key + "-vg-generic", prog.f, args, 0, ranks=None, kind="value_and_grad")
            b.add_jvp(key + "-jvp", prog.f, args, (0, 1), rng)
    u = user_module
    x3 = np.array([0.3, -0.2, 0.9])
    b.add_grad("user-f", u.f, (x3, 0.7), (0, 1))
    b.add_grad("user-f-generic", u.f, (x3, 0.7), (0, 1), ranks=None)
    b.add_jvp("user-f-jvp", u.f, (x3, 0.7), 1, rng)
    b.add_grad("user-g", u.g, (0.4,), 0)
    b.add_grad("user-g-n", u.g, (0.4, 5), 0)
    b.add_grad("user-grad-grad", srcad.grad(u.g), (0.4,), 0)        # generated code differentiated again
    b.add_grad("user-uses-lib", u.uses_lib, (x3,), 0)
    b.add_grad("user-clash", u.clash, (x3, 0.7), (0, 1), ranks=None)
    b.add_grad("user-kept-elsewhere", u.kept_elsewhere, (x3,), 0)
    b.add_jvp("user-kept-elsewhere-jvp", u.kept_elsewhere, (x3,), 0, rng)
    df = srcad.vjp(u.uses_lib, wrt=0)
    b.add("user-vjp", df, (x3,), "vjp", (1,), srcad.grad(u.uses_lib)(x3) * 2.0, kwargs={"dout": 2.0})
    b.add("user-generated-name", srcad.grad(u.uses_lib), (x3,), "grad", None, srcad.grad(u.uses_lib)(x3),
          attr="grad_uses_lib")
    b.out = run_isolated(folder, b.jobs)
    return b


def _check(batch, keys):
    assert keys
    for key in keys:
        status, value, _, _ = batch.out["results"][key]
        assert status == "ok", f"{key}: {value}\n{batch.texts[key]}"
        _close(value, batch.expected[key])


def test_benchmark_cases_run_without_srcad(batch):
    keys = [k for k in batch.expected if k.startswith("case-")]
    assert len(keys) == (4 if LONG else 2) * len(load_cases().CASES) + (0 if LONG else 8)
    _check(batch, keys)


def test_random_programs_run_without_srcad(batch):
    assert len(batch.programs) >= len(fuzz_programs.CLASSES)     # most classes gave two programs
    _check(batch, [k for k in batch.expected if k.startswith("fuzz-")])


def test_kept_helpers_closures_globals_and_modules(batch):
    _check(batch, [k for k in batch.expected if k.startswith("user-")])
    text = batch.texts["user-f"]
    # the recursive helper is kept as fwd_/bwd_ calls, in forward mode as jvp_ calls: exported too
    assert "def fwd_power(" in text and "def bwd_power(" in text
    assert "def jvp_power(" in batch.texts["user-f-jvp"]
    assert "c = 2.0" in text                          # the closure cell of `closed`
    assert "lib = types.SimpleNamespace(" in batch.texts["user-uses-lib"]
    g = batch.texts["user-g"]
    assert "def grad_g(x, n=3, *, dout=1.0):" in g     # the default's value, not SETTINGS["k"]
    assert "import math" in g and "b64decode(" in g    # a large array is written as its bytes
    assert "_MISSING = object()" in g
    clash = batch.texts["user-clash"]
    # the user's `_shape` and `seed` keep their names; srcad's helpers of those names are renamed,
    # their callers too
    assert "\n_shape = 0.5  # user_export._shape\n" in clash and "\ndef _shape_1(x):" in clash and "if _shape_1(d) == yshape" in clash
    assert "\nseed = 3  # user_export.seed\n" in clash and "\ndef seed_1(d, y):" in clash
    assert "\nmag = abs  # user_export.mag\n" in clash
    kept = batch.texts["user-kept-elsewhere"]
    assert "OFFSET = 1.0  # user_export.OFFSET" in kept and "OFFSET_1 = 0.25  # lib_export.OFFSET" in kept
    assert kept.count("\nOFFSET_1 = ") == 1
    assert "out = OFFSET_1  # line 15" in kept.split("def fwd_lib_power(")[1]     # renamed in generated code


def test_header_says_what_and_how(batch):
    text = batch.texts["case-scalar_for"]
    assert text.startswith('"""grad_scalar_for: the grad of scalar_for, exported by srcad ' + srcad.__version__)
    assert "function scalar_for, line" in text and os.path.join("benchmarks", "cases.py") in text
    assert "With respect to: 0 (x), 1 (w)" in text and "Mode:            grad (reverse mode)" in text
    assert "x: a float (rank 0), w: a float (rank 0)" in text
    assert "from grad_scalar_for import grad" in text
    assert text.endswith("\n\ngrad = grad_scalar_for\n")
    assert "\n# generated by srcad from scalar_for (cases.py, line " in text
    assert "\n# generated by srcad from scalar_for (cases.py, line " in batch.texts["case-scalar_for-vg"]
    assert "generic variant" in batch.texts["case-scalar_for-generic"]
    assert "value, tangent = jvp(" in batch.texts["case-horner-jvp"]
    for text in batch.texts.values():
        assert "srcad" not in "".join(line for line in text.split("\n") if line.startswith(("import", "from")))


def test_export_is_deterministic(user_module, tmp_path):
    df = srcad.grad(user_module.f, wrt=(0, 1))
    first = srcad.export(df, ranks=(1, 0))
    written = srcad.export(df, tmp_path / "my_grad.py", ranks=(1, 0))
    assert (tmp_path / "my_grad.py").read_text() == written
    assert written == first.replace("from grad_f import grad", "from my_grad import grad")
    srcad.clear_cache()        # generated again: other labels and cells, the same text
    assert srcad.export(srcad.grad(user_module.f, wrt=(0, 1)), ranks=(1, 0)) == first
    assert srcad.export(df, ranks=(1, 0)) == first


def test_cli_export_same_bytes_in_another_process(tmp_path):
    out = tmp_path / "grad_scalar_for.py"
    spec = f"{ROOT / 'benchmarks' / 'cases.py'}:scalar_for"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "srcad", "export", spec, "--wrt", "0,1", "--ranks", "0,0",
                           "-o", str(out)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    here = srcad.export(srcad.grad(cli.load_function(spec), wrt=(0, 1)), ranks=(0, 0))
    assert out.read_text() == here


def test_cli_export(tmp_path, capsys):
    path = tmp_path / "model.py"
    path.write_text("import numpy as np\nrng = np.random.default_rng(0)\n\n\n"
                    "def f(x, w):\n    return np.sum(np.sin(x) * w)\n\n\n"
                    "def noisy(x):\n    return x * rng.normal()\n")
    out = tmp_path / "gf.py"
    assert cli.main(["export", f"{path}:f", "--wrt", "1", "--ranks", "1,1", "-o", str(out)]) == 0
    ns = {}
    exec(compile(out.read_text(), str(out), "exec"), ns)
    x, w = np.array([0.1, 0.2]), np.array([1.0, 2.0])
    np.testing.assert_allclose(ns["grad"](x, w), np.sin(x))
    assert "w: rank 1" in out.read_text()
    assert cli.main(["export", f"{path}:f", "--mode", "jvp"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith('"""jvp_f: the jvp of f') and "\njvp = jvp_f\n" in printed
    assert cli.main(["export", f"{path}:f", "--mode", "value_and_grad", "--ranks", "none,0"]) == 0
    assert "x: unknown, w: a float (rank 0)" in capsys.readouterr().out
    assert cli.main(["export", f"{path}:f", "--ranks", "1,x"]) == 2
    assert "--ranks must be" in capsys.readouterr().err
    assert cli.main(["export", f"{path}:noisy", "-o", str(tmp_path / "n.py")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"srcad: {path}:10: grad_noisy cannot be exported: it reads `rng`")
    assert err.count("\n") == 1 and not (tmp_path / "n.py").exists()


def test_refusals_name_the_line_and_the_construct(tmp_path):
    path = tmp_path / "refused_export.py"
    path.write_text(textwrap.dedent('''\
        import numpy as np

        rng = np.random.default_rng(0)


        class Scaler:
            k = 2.0


        scaler = Scaler()


        def noisy(x):
            y = x * 2.0
            return y * rng.normal()


        def scaled(x):
            return x * scaler.k
        '''))
    sys.path.insert(0, str(tmp_path))
    try:
        import refused_export as mod
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("refused_export", None)
    with pytest.raises(srcad.TransformError) as e:
        srcad.export(srcad.grad(mod.noisy))
    assert isinstance(e.value, ExportError)
    assert (e.value.filename, e.value.lineno) == (str(path), 15)
    assert e.value.construct == "numpy.random._generator.Generator"
    assert "`return y * rng.normal()`" in str(e.value)
    with pytest.raises(ExportError) as e:
        srcad.export(srcad.grad(mod.scaled))
    assert e.value.lineno == 19 and "refused_export.Scaler" in str(e.value)


def test_refuses_scipy():
    special = pytest.importorskip("scipy.special")

    def f(x):
        return special.erf(x) * 2.0
    srcad.value_and_grad(f)(0.3)
    with pytest.raises(ExportError) as e:
        srcad.export(srcad.value_and_grad(f))
    assert "`special`" in str(e.value) and e.value.construct == "scipy.special"
    assert e.value.lineno == f.__code__.co_firstlineno + 1


def test_bad_arguments():
    def f(x):
        return x * x
    with pytest.raises(TypeError, match="ranks"):
        srcad.export(srcad.grad(f), ranks=1)
    with pytest.raises(TypeError, match="ranks"):
        srcad.export(srcad.grad(f), ranks=(-1,))
    with pytest.raises(TypeError, match="hessian"):
        srcad.export(srcad.hessian(f))
    with pytest.raises(TypeError):
        srcad.export(f)


NUMBA_USER = textwrap.dedent('''\
    import numba
    import numpy as np


    @numba.njit
    def steps(k):
        s = 0
        for i in range(k):
            s += i
        return s


    @numba.njit(fastmath=False)
    def poly(x):
        return x * x + 1.0


    def f(x, k):
        return np.sum(np.sin(x) * poly(0.5)) * steps(k)
    ''')


def test_numba_dispatchers_cache_in_the_exported_file(tmp_path):
    """A Numba dispatcher the derivative calls is exported as its Python source under
    ``@numba.njit(cache=True)``: the second process loads the machine code from the cache next to
    the exported file (no compilation)."""
    pytest.importorskip("numba")
    user = tmp_path / "user_numba"
    user.mkdir()
    (user / "user_numba_mod.py").write_text(NUMBA_USER)
    sys.path.insert(0, str(user))
    try:
        import user_numba_mod as mod
        x = np.array([0.3, -0.4])
        expected = srcad.grad(mod.f)(x, 4)
        text = srcad.export(srcad.grad(mod.f), ranks=(1, 0))
    finally:
        sys.path.remove(str(user))
        sys.modules.pop("user_numba_mod", None)
    assert len(re.findall(r"^@numba\.njit\(cache=True.*\)\ndef ", text, re.M)) == 2 and "import numba\n" in text
    assert "fastmath=False" in text and "needs NumPy and Numba" in text
    folder = tmp_path / "exported"
    folder.mkdir()
    (folder / "exp_numba.py").write_text(text)
    jobs = [("g", "exp_numba", "grad", (x, 4), {})]
    first = run_isolated(folder, jobs)
    second = run_isolated(folder, jobs)
    for out in (first, second):
        status, value, _, _ = out["results"]["g"]
        assert status == "ok", value
        np.testing.assert_allclose(value, expected, rtol=1e-12)
    assert first["numba"] == {"exp_numba.poly": (0, 1), "exp_numba.steps": (0, 1)}   # compiled, cached
    assert second["numba"] == {"exp_numba.poly": (1, 0), "exp_numba.steps": (1, 0)}  # loaded from the cache


def test_a_compiled_derivative_exports_compiled():
    """A Numba dispatcher over a generated derivative is exported in the form ``compile="numba"``
    compiles (the seed a positional parameter), its header filled in from srcad's cache."""
    numba = pytest.importorskip("numba")

    def h(x):
        return x * x + np.sin(x) * 3.0
    d = srcad.grad(h).specialized([0.5])
    text = srcad.export(numba.njit(d.fn))
    assert "\n@numba.njit(cache=True, nogil=True)\ndef grad_h(x, dout=1.0):\n" in text
    assert "function test_a_compiled_derivative_exports_compiled.<locals>.h, line" in text
    assert "Argument ranks:  x: a float (rank 0)" in text and "import numba\n" in text
    assert text == srcad.export(srcad.grad(h, compile="numba"), ranks=(0,))


FUZZ_COMPILED = (23, 31)     # programs whose derivatives compiled when this was written
COMPILED_CASES = ("chapter_while", "scalar_for", "horner", "horner_xc", "scalar_temps", "vector_while")


def test_compiled_exports_run_without_srcad_and_load_from_the_cache(tmp_path):
    """``srcad.export(srcad.grad(f, compile="numba"), ranks=...)`` writes the Numba form: the
    benchmark cases that compile run in the process that cannot import srcad, agree with srcad,
    and a second process loads every compiled function from Numba's cache next to the files (its
    first call is timed: docs/export.md)."""
    pytest.importorskip("numba")
    cases = {c.name: c for c in load_cases().CASES}
    folder = tmp_path / "compiled"
    folder.mkdir()
    # Numba's set-up in a process (importing it, its target's registries: SciPy's BLAS where SciPy is
    # installed) comes first, so the timed first calls are the exported code's own
    (folder / "numba_setup.py").write_text("def setup():\n    from numba.core.registry import cpu_target\n"
                                           "    cpu_target.target_context.refresh()\n")
    jobs = [("numba-setup", "numba_setup", "setup", (), {})]
    expected, texts = {}, {}
    rng = np.random.default_rng(5)

    def add(key, df, ranks, args, kind, want, kwargs=None):
        text = srcad.export(df, ranks=ranks)
        module = "exp_" + key.replace("-", "_")
        (folder / f"{module}.py").write_text(text)
        texts[key], expected[key] = text, want
        jobs.append((key, module, kind, tuple(args), kwargs or {}))

    for name in COMPILED_CASES:
        case = cases[name]
        args, ranks = case.inputs(), api._ranks(case.inputs())
        add(name, srcad.grad(case.f, wrt=case.wrt, compile="numba"), ranks, args, "grad",
            srcad.grad(case.f, wrt=case.wrt)(*args))
    case = cases["scalar_for"]
    args = case.inputs()
    want = srcad.grad(case.f, wrt=case.wrt)(*args)
    # the seed is a positional parameter: the same export, called with it
    jobs.append(("scalar_for-dout", "exp_scalar_for", "grad", tuple(args) + (2.0,), {}))
    expected["scalar_for-dout"] = tuple(2.0 * g for g in want)
    add("scalar_for-vg", srcad.value_and_grad(case.f, wrt=case.wrt, compile="numba"), (0, 0), args,
        "value_and_grad", srcad.value_and_grad(case.f, wrt=case.wrt)(*args))
    case = cases["horner_xc"]
    args = case.inputs()
    tangents = (float(rng.normal()), rng.normal(size=args[1].shape))
    names = pipeline.forward_derivative(case.f, (0, 1), ranks=(0, 1)).tangent_names
    add("horner_xc-jvp", srcad.jvp(case.f, wrt=(0, 1), compile="numba"), (0, 1), args, "jvp",
        srcad.jvp(case.f, args, tangents), dict(zip(names, tangents)))

    # random programs (tests/fuzz_programs.py) srcad can compile: each agrees, or Numba refuses it at
    # the first call (its type inference or lowering), as compile="numba" would; never a different value
    programs = []
    for seed in FUZZ_COMPILED:
        prog = fuzz_programs.generate(seed)
        r = np.random.default_rng(seed)
        args = next((a for a in (fuzz_programs.random_args(prog, r) for _ in range(10))
                     if fuzz_programs.usable(prog, a)), None)
        if args is None:
            continue
        try:
            want = srcad.grad(prog.f, wrt=(0, 1))(*[fuzz_programs._copy(v) for v in args])
            df = srcad.grad(prog.f, wrt=(0, 1), compile="numba")
            add(f"fuzz-{seed}", df, api._ranks(args), args, "grad", want)
        except srcad.TransformError:
            continue
        programs.append(f"fuzz-{seed}")

    for key, text in texts.items():
        assert ", compiled by Numba, exported by srcad" in text and "import numba\n" in text
        assert re.search(r"^@numba\.njit\(cache=True, nogil=True\)\ndef \w+\(.*(dout=1\.0|=0\.0)\):$",
                         text, re.M), text
        assert "Stack" not in text and "reversed(" not in text and "*," not in text
    # (x keeps its shape through the loop: the derivative calls no unbroadcast, only unreduce)
    assert "def unreduce(" in texts["vector_while"] and "@overload(unreduce)" in texts["vector_while"]
    assert "@overload(np.linalg.norm)" in texts["chapter_while"]
    assert "overload_method(types.Float, 'sum')(number_method)" in texts["chapter_while"]
    assert "overload" not in texts["scalar_for"].split('"""')[2]           # nothing of srcad's is called: nothing copied
    srcad.clear_cache()                                    # generated again: the same text
    case = cases["vector_while"]
    assert srcad.export(srcad.grad(case.f, wrt=case.wrt, compile="numba"), ranks=(1,)) == texts["vector_while"]

    first = run_isolated(folder, jobs)
    second = run_isolated(folder, jobs)
    numba_refused = set()
    for out in (first, second):
        for key, want in expected.items():
            status, value, _, _ = out["results"][key]
            if key in programs and status == "error" and \
                    value.startswith(("TypingError", "NotImplementedError", "LoweringError")):
                numba_refused.add(key)
                continue
            assert status == "ok", f"{key}: {value}\n{texts.get(key, '')}"
            _close_compiled(value, want)
    assert len(numba_refused) < len(programs), "no random program compiled"
    ran = [("exp_" + k.replace("-", "_")) for k in texts if k not in numba_refused]
    derivatives = {k: v for k, v in first["numba"].items()
                   if re.match(r"exp_\w+\.(grad|value_and_grad|jvp)_", k) and k.split(".")[0] in ran}
    assert len(derivatives) == len(ran)
    for k, (hits, misses) in derivatives.items():
        n = 2 if k.startswith("exp_scalar_for.grad_") else 1       # two signatures: dout omitted, given
        assert (hits, misses) == (0, n), k                         # compiled, written to the cache
        assert second["numba"][k] == (n, 0), k                     # loaded from the cache
    timed = {k: r[2] for k, r in second["results"].items() if k in texts and k not in numba_refused}
    compiled = {k: r[2] for k, r in first["results"].items() if k in texts}
    print("\nfirst call in a second process (import + cache load + call), ms:",
          {k: round(1e3 * t, 1) for k, t in timed.items()},
          "; with compilation:", {k: round(1e3 * t) for k, t in compiled.items()})
    assert all(timed[k] < compiled[k] for k in timed), (timed, compiled)


def _close_compiled(a, b):
    if isinstance(a, (tuple, list)):
        assert isinstance(b, (tuple, list)) and len(a) == len(b), (a, b)
        for u, v in zip(a, b):
            _close_compiled(u, v)
        return
    assert np.shape(a) == np.shape(b), (np.shape(a), np.shape(b))
    np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=1e-10, atol=1e-13)


def test_compile_refusals_and_auto(tmp_path):
    """compile="numba" that srcad cannot compile is refused when exporting (a TransformError naming the
    user's line); compile="auto" exports the NumPy form."""
    pytest.importorskip("numba")
    from srcad import numba_backend
    path = tmp_path / "dicts_export.py"
    path.write_text("import numpy as np\n\n\ndef uses_a_dict(x):\n    d = {'a': x * 2.0, 'b': np.sin(x)}\n"
                    "    return d['a'] * d['b']\n\n\ndef f(x, w):\n    return np.sum(np.sin(x) * w)\n")
    fn = cli.load_function(f"{path}:uses_a_dict")
    with pytest.raises(srcad.TransformError) as e:
        srcad.export(srcad.grad(fn, compile="numba"), ranks=(0,))
    assert isinstance(e.value, numba_backend.CompileError) and e.value.filename == str(path)
    assert e.value.lineno in (5, 6)
    text = srcad.export(srcad.grad(fn, compile="auto"), ranks=(0,))
    assert text == srcad.export(srcad.grad(fn), ranks=(0,)) and "numba" not in text
    # the command line
    out = tmp_path / "gf.py"
    assert cli.main(["export", f"{path}:f", "--wrt", "1", "--ranks", "1,1", "--compile", "numba", "-o", str(out)]) == 0
    f = cli.load_function(f"{path}:f")
    assert out.read_text() == srcad.export(srcad.grad(f, wrt=1, compile="numba"), ranks=(1, 1))
    assert "\n@numba.njit(cache=True, nogil=True)\ndef grad_f(x, w, dout=1.0):\n" in out.read_text()
    assert cli.main(["export", f"{path}:uses_a_dict", "--compile", "numba", "--ranks", "0"]) == 2
    assert cli.main(["export", f"{path}:uses_a_dict", "--compile", "auto", "--ranks", "0", "-o", str(out)]) == 0
    assert "numba" not in out.read_text()
