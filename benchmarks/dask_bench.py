#!/usr/bin/env python
"""srcad's gradients on Dask arrays: laziness, time and peak memory (issue 16's targets).

    python benchmarks/dask_bench.py                       # everything, printed
    python benchmarks/dask_bench.py --out docs/benchmarks.md   # and (re)write its Dask section
    python benchmarks/dask_bench.py --parts laziness,elementwise --big-gb 1

Three parts:

* ``laziness``: the gradient computes nothing before ``.compute()``. A scheduler callback (as in
  tests/test_dask.py) counts the computes of the plain call ``f(*args)`` and of
  ``srcad.grad(f)(*args)`` on Dask arrays; a program passes where the gradient computes no more
  than the plain call (a branch on data computes its test in the user's code and, once, in the
  forward sweep) and equals NumPy's gradient. Over the first 100 programs of tests/programs.py's
  derandomised corpus, seeds 0-99 of tests/fuzz_programs.py, and every rule-table case of
  tests/test_numpy_rules.py whose plain call Dask runs without computing (``lazily implemented'').
* ``elementwise``: ``sum(sin(x) * exp(-x * x) + x ** 2)`` on a (20000, 1000) float64 array: the
  NumPy gradient against the gradient on a Dask array of the same data in chunks of 2000 rows
  (graph built, then ``.compute()`` on Dask's threaded scheduler), time and peak memory. Each
  memory figure comes from a fresh subprocess, measured two ways: ``tracemalloc`` (NumPy reports
  every array buffer to it, from any thread: Dask's worker threads included) and the resident
  set size sampled every millisecond from ``/proc/self/statm`` by a thread of its own; both are
  peaks above what was allocated when the call started (the input array is already there; the
  160 MB result is counted). Times: interleaved rounds in one process, median of per-round ratios.
* ``big``: the gradient w.r.t. the weights of a linear model, ``mean((X @ w - y) ** 2)``, over
  a dataset generated lazily block by block (each block of rows from its own seeded generator, as
  examples/dask_regression.py does): 10 GB of float64 features by default (``--big-gb``), in a
  fresh subprocess on the threaded scheduler; the peak resident set size of the whole process
  (the kernel's ``VmHWM``: imports, Python and everything; not ``ru_maxrss``, which on Linux also
  counts the parent the process was forked from) and the peak above the start of the call.
"""

import argparse
import datetime
import gc
import json
import os
import platform
import resource
import subprocess
import sys
import threading
import time
import tracemalloc
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TESTS = os.path.join(ROOT, "tests")
for p in (ROOT, TESTS):
    if p not in sys.path:
        sys.path.insert(0, p)   # this checkout's srcad, and the test corpora

import numpy as np  # noqa: E402

import dask  # noqa: E402
import dask.array as da  # noqa: E402
from dask.callbacks import Callback  # noqa: E402

import srcad  # noqa: E402

MARK_BEGIN = "<!-- dask_bench: begin (benchmarks/dask_bench.py --out rewrites this section) -->"
MARK_END = "<!-- dask_bench: end -->"


class Computes(Callback):
    def __init__(self):
        super().__init__()
        self.n = 0

    def _start(self, dsk):
        self.n += 1


# ---------------------------------------------------------------------------------------- memory


class RssPeak:
    """The peak resident set size (bytes) while active, sampled every ``period`` s by a thread."""

    PAGE = os.sysconf("SC_PAGE_SIZE")

    def __init__(self, period=0.001):
        self.period = period

    @classmethod
    def rss(cls):
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * cls.PAGE

    @staticmethod
    def hwm():
        """The kernel's own peak resident set size of this process (VmHWM), in bytes."""
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        return 0

    @staticmethod
    def reset_hwm():
        """Reset VmHWM to the current resident set size (Linux: ``5`` into ``clear_refs``)."""
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            return True
        except OSError:
            return False

    def __enter__(self):
        self.kernel = self.reset_hwm()
        self.start = self.peak = self.rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss())
            time.sleep(self.period)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.rss())
        if self.kernel:            # the kernel saw every page, the sampler only every millisecond
            self.peak = max(self.peak, self.hwm())

    @property
    def above(self):
        return self.peak - self.start


def measured(fn):
    """(result, tracemalloc peak above start, sampled RSS peak above start) of one call."""
    gc.collect()
    tracemalloc.start()
    try:
        start, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        with RssPeak() as rss:
            out = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return out, peak - start, rss.above


# ---------------------------------------------------------------------------------------- elementwise

SHAPE, CHUNK_ROWS = (20000, 1000), 2000


def elementwise(x):
    return np.sum(np.sin(x) * np.exp(-x * x) + x ** 2)


def _elementwise_inputs(shape):
    x = np.random.default_rng(6).standard_normal(shape)
    return x, da.from_array(x, chunks=(min(CHUNK_ROWS, shape[0]),) + shape[1:])


def _generic_only():
    """srcad's generic path on Dask arrays (the generated code run on them, one task an operation
    and block) instead of the block-by-block one (srcad/blockwise.py): the 'before' rows."""
    from srcad import blockwise
    blockwise.gradient = lambda *args: None


def child_elementwise(kind, shape):
    """One memory measurement in this (fresh) process: the NumPy or the Dask gradient."""
    if kind.startswith("generic-"):
        _generic_only()
        kind = kind[len("generic-"):]
    x, X = _elementwise_inputs(shape)
    df = srcad.grad(elementwise)
    small_x, small_X = _elementwise_inputs((8, 4))
    df(small_x)
    df(small_X).compute()          # both variants generated before measuring
    if kind == "numpy":
        g, tm, rss = measured(lambda: df(x))
    elif kind == "dask":
        g, tm, rss = measured(lambda: df(X).compute())
    elif kind == "dask-1thread":
        with dask.config.set(num_workers=1):
            g, tm, rss = measured(lambda: df(X).compute())
    else:                          # dask-store: blocks written into a result allocated in the call
        g, tm, rss = measured(lambda: _stored(df(X)))
    return {"tracemalloc": tm, "rss": rss, "checksum": float(np.sum(g[::97, ::13]))}


def _stored(g):
    out = np.empty(g.shape, g.dtype)
    da.store(g, out, lock=False)
    return out


KINDS = {"numpy": "NumPy", "dask": "Dask, `.compute()`", "dask-store": "Dask, `da.store` into a new array",
         "dask-1thread": "Dask, `.compute()` on one worker thread",
         "generic-dask": "Dask, generic path, `.compute()`", "generic-dask-store": "Dask, generic path, `da.store`"}


def elementwise_times(shape, rounds):
    x, X = _elementwise_inputs(shape)
    df = srcad.grad(elementwise)
    want = df(x)
    got = df(X).compute()
    assert np.allclose(got, want, rtol=1e-12, atol=1e-12)
    del got, want
    from srcad import blockwise
    blockwise_gradient = blockwise.gradient
    t_np, t_dk, t_gen, ratios, gen_ratios = [], [], [], [], []
    for _ in range(rounds):
        gc.collect()
        t0 = time.perf_counter()
        g = df(x)
        t1 = time.perf_counter()
        del g
        gc.collect()
        t2 = time.perf_counter()
        g = df(X).compute()
        t3 = time.perf_counter()
        del g
        gc.collect()
        blockwise.gradient = lambda *args: None           # the generic path, the same round
        try:
            t4 = time.perf_counter()
            g = df(X).compute()
            t5 = time.perf_counter()
        finally:
            blockwise.gradient = blockwise_gradient
        del g
        t_np.append(t1 - t0)
        t_dk.append(t3 - t2)
        t_gen.append(t5 - t4)
        ratios.append((t3 - t2) / (t1 - t0))
        gen_ratios.append((t5 - t4) / (t1 - t0))
    t0 = time.perf_counter()
    lazy = df(X)
    build = time.perf_counter() - t0
    return {"numpy_s": float(np.median(t_np)), "dask_s": float(np.median(t_dk)),
            "ratio": float(np.median(ratios)), "ratio_min": float(min(ratios)), "ratio_max": float(max(ratios)),
            "generic_s": float(np.median(t_gen)), "generic_ratio": float(np.median(gen_ratios)),
            "build_s": build, "tasks": len(lazy.dask), "rounds": rounds}


def run_child(*args, timeout=1800):
    cmd = [sys.executable, os.path.abspath(__file__), "--child", *map(str, args)]
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench_elementwise(shape, rounds, repeats):
    mem = {}
    for kind in KINDS:
        runs = [run_child("elementwise", kind, *shape) for _ in range(repeats)]
        mem[kind] = {k: float(np.median([r[k] for r in runs])) for k in ("tracemalloc", "rss")}
        mem[kind]["checksum"] = runs[0]["checksum"]
        assert np.isclose(mem[kind]["checksum"], mem["numpy"]["checksum"], rtol=1e-12)
    times = elementwise_times(shape, rounds)
    return {"shape": list(shape), "chunk_rows": CHUNK_ROWS, "memory": mem, "times": times, "repeats": repeats,
            "result_bytes": int(np.prod(shape)) * 8}


# ---------------------------------------------------------------------------------------- big

FEATURES, BLOCK_ROWS = 100, 25_000       # 20 MB blocks


def _block(i, rows, d):
    rng = np.random.default_rng([7, i])
    x = rng.standard_normal((rows, d))
    y = x @ np.linspace(-1.0, 1.0, d) + 0.1 * rng.standard_normal(rows)
    return np.concatenate([x, y[:, None]], axis=1)


def lazy_linear_data(n, d, rows):
    """Features (n x d) and targets (n) as Dask arrays generated block by block when computed."""
    sizes = [min(rows, n - s) for s in range(0, n, rows)]
    blocks = [da.from_delayed(dask.delayed(_block)(i, r, d), shape=(r, d + 1), dtype=float)
              for i, r in enumerate(sizes)]
    both = da.concatenate(blocks, axis=0)
    return both[:, :d], both[:, d]


def linear_loss(w, X, y):
    r = X @ w - y
    return np.mean(r * r)


def child_big(gb):
    d = FEATURES
    n = int(gb * 1e9 / (8 * d))
    X, y = lazy_linear_data(n, d, BLOCK_ROWS)
    w = np.zeros(d)
    df = srcad.grad(linear_loss)
    Xs, ys = lazy_linear_data(100, d, 30)
    df(w, Xs, ys).compute()                      # the variant generated before measuring
    before = RssPeak.hwm()                       # the peak so far: imports, setup
    with dask.config.set(scheduler="threads"), Computes() as c:
        t0 = time.perf_counter()
        with RssPeak() as rss:
            g = df(w, X, y)
            built = c.n
            g = g.compute()
        t = time.perf_counter() - t0
    return {"gb": X.nbytes / 1e9, "rows": n, "features": d, "block_rows": BLOCK_ROWS, "blocks": X.numblocks[0],
            "seconds": t, "rss_above_start": rss.above, "rss_start": rss.start,
            # the process's peak: the kernel's VmHWM (ru_maxrss would also count the memory of the
            # parent this process was forked from: Linux carries it over exec)
            "maxrss": max(before, rss.peak) if rss.kernel else
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            "computes_before": built, "grad_norm": float(np.linalg.norm(g)),
            "threads": os.cpu_count()}


# ---------------------------------------------------------------------------------------- laziness


def _plain_ok(fn, args):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fn(*args)
    except Exception:  # noqa: BLE001 - Dask does not implement the call
        return False
    return True


FAILED_ON_NUMPY = []
SKIPPED = {}      # corpus -> {why a case was left out: count}


def _left_out(corpus, why):
    SKIPPED.setdefault(corpus, {})
    SKIPPED[corpus][why] = SKIPPED[corpus].get(why, 0) + 1


def _lazy_check(fn, args, dargs, wrt, corpus=None):
    """(plain computes, gradient computes, equal to NumPy's) or None where Dask cannot run the
    plain call or srcad refuses the function (counted in ``SKIPPED[corpus]``)."""
    try:
        want = srcad.grad(fn, wrt=wrt)(*args)
    except srcad.TransformError:
        _left_out(corpus, "srcad refuses it (TransformError, on NumPy too)")
        return None
    except Exception as e:  # noqa: BLE001 - srcad fails on NumPy too: not a Dask question
        FAILED_ON_NUMPY.append(f"{type(e).__name__}: {e}")
        _left_out(corpus, "srcad fails on NumPy")
        return None
    with dask.config.set(scheduler="sync"):
        plain = Computes()
        with plain:
            if not _plain_ok(fn, dargs()):
                _left_out(corpus, "Dask cannot run the plain call")
                return None
        during = Computes()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with during:
                try:
                    got = srcad.grad(fn, wrt=wrt)(*dargs())
                except NotImplementedError:
                    return plain.n, None, False
            got = dask.compute(got)[0]
    leaves_got, leaves_want = [], []
    _leaves(got, leaves_got)
    _leaves(want, leaves_want)
    same = len(leaves_got) == len(leaves_want) and all(
        np.shape(a) == np.shape(b) and np.allclose(np.asarray(a, float), np.asarray(b, float), rtol=1e-9, atol=1e-12)
        for a, b in zip(leaves_got, leaves_want))
    return plain.n, during.n, same


def _leaves(v, out):
    if isinstance(v, dict):
        for x in v.values():
            _leaves(x, out)
    elif isinstance(v, (list, tuple)):
        for x in v:
            _leaves(x, out)
    else:
        out.append(v)


def _to_dask(a):
    if isinstance(a, dict):
        return {k: _to_dask(v) for k, v in a.items()}
    if isinstance(a, (list, tuple)):
        return type(a)(_to_dask(v) for v in a)
    if not isinstance(a, np.ndarray) or a.ndim == 0 or a.dtype.kind != "f":
        return a
    return da.from_array(a, chunks=(max(1, (a.shape[0] + 1) // 2),) + a.shape[1:])


def _tally(results):
    ran = [r for r in results if r is not None]
    lazy = sum(1 for p, g, same in ran if g is not None and g <= p and same)
    wrong = sum(1 for p, g, same in ran if g is not None and not same)
    return {"programs": len(results), "ran": len(ran), "lazy_and_equal": lazy, "wrong": wrong,
            "computed_more": sum(1 for p, g, same in ran if g is not None and g > p),
            "mixed_in_place": sum(1 for p, g, same in ran if g is None),
            "plain_computes": sum(1 for p, g, same in ran if p > 0)}


def laziness(n_programs):
    from hypothesis import HealthCheck, given, settings

    import fuzz_programs as fp
    from programs import programs

    progs = []

    @settings(max_examples=n_programs, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(programs())
    def collect(p):
        progs.append(p)

    collect()
    corpus = []
    for k, p in enumerate(progs[:n_programs]):
        rng = np.random.default_rng(k)
        x, t = rng.normal(size=4), float(rng.normal())
        corpus.append(_lazy_check(p.f, (x.copy(), t), lambda x=x, t=t: (_to_dask(x), t), p.wrt, "programs"))
    fuzz = []
    for seed in range(n_programs):
        p = fp.generate(seed)
        rng = np.random.default_rng(seed)
        args = next((a for a in (fp.random_args(p, rng) for _ in range(30)) if fp.usable(p, a)), None)
        if args is None:
            fuzz.append(None)
            _left_out("fuzz", "no point where the program runs")
            continue
        fuzz.append(_lazy_check(p.f, [fp._copy(a) for a in args],
                                lambda args=args: _to_dask([fp._copy(a) for a in args]), (0, 1), "fuzz"))
    import test_numpy_rules as T

    def lazy_weigh(y):
        if np.ndim(y) == 0:
            return y * np.sin(1.0)
        return np.sum(y * np.sin(1.0 + np.arange(y.size).reshape(y.shape)))

    T.weigh = lazy_weigh            # np.size of a Dask array computes it (NumPy's function)
    table, eager = [], 0
    for name, fn, args, wrt in T.CASES:
        with dask.config.set(scheduler="sync"), Computes() as c:
            ok = _plain_ok(fn, _to_dask(list(args)))
        if not ok:
            continue
        if c.n:
            eager += 1                 # Dask computes in the plain call: not a lazily implemented case
            continue
        table.append((name, _lazy_check(fn, list(args), lambda args=args: _to_dask(list(args)), wrt)))
    tally = _tally([r for _, r in table])
    tally["not_lazy"] = [name for name, r in table
                         if r is not None and not (r[1] is not None and r[1] <= r[0] and r[2])]
    tally["eager_in_dask"] = eager
    tally["cases"] = len(T.CASES)
    return {"programs": _tally(corpus), "fuzz": _tally(fuzz), "rule_table": tally,
            "srcad_failed_on_numpy": FAILED_ON_NUMPY, "left_out": SKIPPED}


# ---------------------------------------------------------------------------------------- report


def _mb(b):
    return f"{b / 1e6:,.0f} MB"


def _left_out_text(left):
    parts = []
    for name, key in (("tests/programs.py", "programs"), ("tests/fuzz_programs.py", "fuzz")):
        if left.get(key):
            parts.append(f"{name}: " + ", ".join(f"{why}: {n}" for why, n in sorted(left[key].items())))
    return "; ".join(parts) + "." if parts else "none."


def report(res):
    runs = ", then ".join(f"`{r}`" for r in res.get("runs", []))
    lines = [MARK_BEGIN, "## Dask", "",
             f"Generated {datetime.date.today()} by {runs} (dask {dask.__version__}, numpy {np.__version__}, "
             f"{os.cpu_count()} CPUs, {platform.machine()}). The machine was shared with other jobs while it ran "
             f"(load average {os.getloadavg()[0]:.1f} when the report was written): times are noisy; ratios "
             "are taken within a round.", ""]
    lz = res.get("laziness")
    if lz:
        p, f, t = lz["programs"], lz["fuzz"], lz["rule_table"]
        lines += ["### Nothing computed before `.compute()`", "",
                  "A scheduler callback counts computes; a case passes where `srcad.grad(f)(*dask_args)` "
                  "computes no more than the plain call `f(*dask_args)` (a branch on data computes its test, "
                  "in the user's code and in the forward sweep) and equals NumPy's gradient.", "",
                  "| corpus | cases | Dask runs the plain call | pass | wrong | computed more "
                  "| NumPy adjoint meets Dask in place |",
                  "|---|---:|---:|---:|---:|---:|---:|",
                  f"| tests/programs.py, first {p['programs']} | {p['programs']} | {p['ran']} | "
                  f"{p['lazy_and_equal']} | {p['wrong']} | {p['computed_more']} | {p['mixed_in_place']} |",
                  f"| tests/fuzz_programs.py, seeds 0-{f['programs'] - 1} | {f['programs']} | {f['ran']} | "
                  f"{f['lazy_and_equal']} | {f['wrong']} | {f['computed_more']} | {f['mixed_in_place']} |",
                  f"| rule table, lazily implemented by Dask | {t['programs']} | {t['ran']} | "
                  f"{t['lazy_and_equal']} | {t['wrong']} | {t['computed_more']} | {t['mixed_in_place']} |", "",
                  "Left out (not a question about Dask): " + _left_out_text(lz.get("left_out", {})), "",
                  f"Rule table: {t['cases']} cases; {t['eager_in_dask']} whose plain call Dask computes "
                  "(NumPy functions Dask does not implement lazily) are left out, as are those Dask cannot run. "
                  + (f"Not passing: {', '.join(t['not_lazy'])}." if t["not_lazy"]
                     else "Every lazily implemented case passes."),
                  ""]
    ew = res.get("elementwise")
    if ew:
        m, tm = ew["memory"], ew["times"]
        rows, width = ew["shape"][0], ew["shape"][1]
        lines += [f"### Elementwise gradient, ({rows}, {width}) float64, chunks of {ew['chunk_rows']} rows", "",
                  "`sum(sin(x) * exp(-x * x) + x ** 2)`: the NumPy gradient on the array against the gradient "
                  f"on `da.from_array(x, chunks=({ew['chunk_rows']}, {width}))`: srcad builds the graph (an "
                  "elementwise loss: one `map_blocks` of its NumPy derivative, srcad/blockwise.py; the generic "
                  "rows run the generated code on the Dask arrays instead, the path before it and of every "
                  "other function) and Dask's threaded scheduler computes it. Peak memory above the start of the "
                  f"call, median of {ew['repeats']} fresh processes each: tracemalloc (NumPy reports every "
                  "buffer to it, from every thread: Dask's workers included) and the resident set (the kernel's "
                  "VmHWM, reset when the call starts; it also holds what the allocator keeps after a free). "
                  f"The {_mb(ew['result_bytes'])} result is counted in every row.", "",
                  "| peak memory | tracemalloc | / NumPy | RSS | / NumPy |", "|---|---:|---:|---:|---:|"]
        for kind, label in KINDS.items():
            tmr, rss = m[kind]["tracemalloc"], m[kind]["rss"]
            lines.append(f"| {label} | {_mb(tmr)} | {tmr / m['numpy']['tracemalloc']:.2f} | {_mb(rss)} | "
                         f"{rss / m['numpy']['rss']:.2f} |")
        block = _mb(ew["chunk_rows"] * width * 8)
        lines += ["", "| time | NumPy | Dask (`.compute()`) | Dask / NumPy (range over rounds) "
                  "| Dask, generic path | / NumPy |",
                  "|---|---:|---:|---:|---:|---:|",
                  f"| median of {tm['rounds']} interleaved rounds | {tm['numpy_s']:.2f} s | {tm['dask_s']:.2f} s | "
                  f"{tm['ratio']:.2f} ({tm['ratio_min']:.2f}-{tm['ratio_max']:.2f}) | "
                  f"{tm.get('generic_s', float('nan')):.2f} s | {tm.get('generic_ratio', float('nan')):.2f} |", "",
                  f"Building the graph takes {tm['build_s'] * 1e3:.0f} ms ({tm['tasks']} tasks before Dask's "
                  "optimisation). Targets: time <= 1.2x, memory <= 0.35x.", "",
                  "Where the memory goes. On the generic path Dask runs each block's whole derivative as one "
                  "fused task, and inside it every intermediate (`sin(x)`, `exp(-x * x)`, the products of the "
                  "backward sweep) is a block-sized array held until its last reader has run (NumPy running the "
                  "same code frees each temporary after its last read and reuses temporaries in place, which "
                  "Dask's tasks cannot): about seven blocks a task. Block by block, a task runs the NumPy "
                  "derivative over pieces of 65,536 elements of its block (the temporaries stay in the CPU's "
                  f"cache) written into the block's gradient: one block ({block}) and the small pieces a task, "
                  "so `da.store` (each block written into the result as it is made) holds the result and about "
                  "one block a thread. `.compute()` cannot go below twice the result whatever the graph: Dask "
                  "keeps every block of the result until the last one is made, then joins them into a new array "
                  "(`dask.array.core.concatenate3`; a one-block result is copied): "
                  f"{2 * ew['result_bytes'] / m['numpy']['tracemalloc']:.2f}x NumPy's peak here, the blocks of "
                  "the result and their join.", ""]
    big = res.get("big")
    if big:
        lines += [f"### Linear model over {big['gb']:.1f} GB of lazily generated data", "",
                  f"`mean((X @ w - y) ** 2)`, gradient w.r.t. `w` ({big['features']} weights); `X` is "
                  f"{big['rows']:,} x {big['features']} float64 in {big['blocks']} blocks of "
                  f"{big['block_rows']:,} rows, each generated from its own seeded generator when computed "
                  "(never held at once); threaded scheduler, one process.", "",
                  "| data | time | peak RSS of the process | RSS above the start of the call "
                  "| computes before `.compute()` |",
                  "|---:|---:|---:|---:|---:|",
                  f"| {big['gb']:.1f} GB | {big['seconds']:.1f} s | {_mb(big['maxrss'])} | "
                  f"{_mb(big['rss_above_start'])} | {big['computes_before']} |", "",
                  "Target: peak under 300 MB. The peak of the process includes Python, NumPy, Dask and srcad "
                  f"({_mb(big['rss_start'])} resident before the call).", ""]
    lines.append(MARK_END)
    return "\n".join(lines) + "\n"


def write_section(path, text):
    old = open(path).read() if os.path.exists(path) else ""
    if MARK_BEGIN in old and MARK_END in old:
        head, rest = old.split(MARK_BEGIN, 1)
        tail = rest.split(MARK_END, 1)[1]
        new = head + text.rstrip("\n") + tail
    else:
        new = old.rstrip("\n") + "\n\n" + text
    with open(path, "w") as f:
        f.write(new)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        kind = argv[1]
        if kind == "elementwise":
            out = child_elementwise(argv[2], tuple(int(v) for v in argv[3:]))
        else:
            out = child_big(float(argv[2]))
        print(json.dumps(out))
        return None
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", default="laziness,elementwise,big")
    ap.add_argument("--programs", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3, help="fresh processes per memory figure")
    ap.add_argument("--rows", type=int, default=SHAPE[0], help="rows of the elementwise array")
    ap.add_argument("--big-gb", type=float, default=10.0)
    ap.add_argument("--json", help="also write the raw results here")
    ap.add_argument("--merge", help="start from the results in this JSON file (parts run now replace theirs)")
    ap.add_argument("--out", help="write the Dask section of this markdown file (docs/benchmarks.md)")
    args = ap.parse_args(argv)
    parts = set(args.parts.split(","))
    res = {}
    if args.merge:
        with open(args.merge) as f:
            res = json.load(f)
    res["runs"] = res.get("runs", []) + [" ".join(["python benchmarks/dask_bench.py"] + argv)]
    if "laziness" in parts:
        res["laziness"] = laziness(args.programs)
        print(json.dumps(res["laziness"], indent=1), flush=True)
    if "elementwise" in parts:
        res["elementwise"] = bench_elementwise((args.rows, SHAPE[1]), args.rounds, args.repeats)
        print(json.dumps(res["elementwise"], indent=1), flush=True)
    if "big" in parts:
        res["big"] = run_child("big", args.big_gb, timeout=3600)
        print(json.dumps(res["big"], indent=1), flush=True)
    text = report(res)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)
    if args.out:
        write_section(args.out, text)
    return res


if __name__ == "__main__":
    main()
