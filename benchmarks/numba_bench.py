"""Compiled derivatives (issue 17): srcad.grad(f, compile="numba") against srcad's NumPy gradient,
a hand-written Numba gradient and jax.jit(jax.grad(f)) (when jax is installed), per gradient call.

Cases (benchmarks/cases.py): the 200-step scalar loop ``scalar_for`` w.r.t. x and w, Horner's rule
with 50 terms ``horner_xc`` w.r.t. the point and the coefficient array, and the chapter's ``while``
on a scalar ``chapter_while`` (jax.jit cannot run it). Columns, in microseconds per call, medians
of ``--repeat`` timings of ``--number`` calls each:

* ``numpy``: ``srcad.grad(f)`` (the NumPy derivative, through the API);
* ``numba``: ``srcad.grad(f, compile="numba")`` through the API (its fast path);
* ``dispatcher``: ``srcad.grad(f, compile="numba").compiled(*args).dispatcher``, called directly;
  ``numba``, ``dispatcher`` and ``hand`` are timed in turn within each repeat, and ``api-dispatch``
  is the median over repeats of the API's time minus the dispatcher's in the same repeat;
* ``hand``: a hand-written gradient compiled with ``numba.njit`` (below);
* ``jax_jit``: ``jax.jit(jax.grad(f, argnums))`` (float64), blocked until ready.

``first call``: a fresh ``grad`` object after ``srcad.clear_cache()``: transform and compile.
``cached``: the derivative exported (``srcad.export``, ``@numba.njit(cache=True)``) and run in two
fresh processes: the second one's first call, from Numba's on-disk cache (after importing NumPy
and Numba and the module, whose times are printed apart).

    python3 benchmarks/numba_bench.py [--repeat 15] [--number 2000] [--no-export] [--cpu-time]
"""

import argparse
import os
import statistics
import sys
import time
import timeit

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("NUMBA_NUM_THREADS", "1")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numba  # noqa: E402
import numpy as np  # noqa: E402

import cases  # noqa: E402
import srcad  # noqa: E402


# ---------------------------------------------------------------------- hand-written Numba gradients

@numba.njit(cache=False)
def scalar_for_hand(x, w):
    xs = np.empty(200)
    for i in range(200):
        xs[i] = x
        x = x * w + np.sin(x)
    dx = 1.0
    dw = 0.0
    for i in range(199, -1, -1):
        dw += dx * xs[i]
        dx *= w + np.cos(xs[i])
    return dx, dw


@numba.njit(cache=False)
def horner_xc_hand(x, coeffs):
    ps = np.empty(50)
    p = 0.0
    for i in range(50):
        ps[i] = p
        p = p * x + coeffs[i]
    dc = np.empty(50)
    dx = 0.0
    dp = 1.0
    for i in range(49, -1, -1):
        dc[i] = dp
        dx += dp * ps[i]
        dp *= x
    return dx, dc


@numba.njit(cache=False)
def chapter_while_hand(a):
    b = a * 2
    k = 2.0
    while abs(b) < 1000:
        b = b * 2
        k = k * 2
    if b > 0:
        return k
    return 100 * k


HAND = {"scalar_for": scalar_for_hand, "horner_xc": horner_xc_hand, "chapter_while": chapter_while_hand}
NAMES = ["scalar_for", "horner_xc", "chapter_while"]


TIMER = time.perf_counter


def _median_us(fn, repeat, number):
    fn()
    times = timeit.repeat(fn, number=number, repeat=repeat, timer=TIMER)
    return statistics.median(times) / number * 1e6


def _paired_us(fns, repeat, number):
    """Medians (microseconds per call) of ``fns`` (name -> callable) timed in turn within each of
    ``repeat`` rounds, and the median over rounds of each one's difference from the first: on a
    loaded machine, a difference taken within a round is steadier than one of two medians."""
    for fn in fns.values():
        fn()
    times = {k: [] for k in fns}
    for _ in range(repeat):
        for k, fn in fns.items():
            times[k].append(timeit.timeit(fn, number=number, timer=TIMER) / number * 1e6)
    first = next(iter(fns))
    medians = {k: statistics.median(v) for k, v in times.items()}
    diffs = {k: statistics.median(a - b for a, b in zip(v, times[first])) for k, v in times.items()}
    return medians, diffs


def _jax(case, args):
    try:
        import jax
    except ImportError:
        return None, "jax not installed"
    if case.jax_jit_unsupported:
        return None, "cannot jit"
    cases.load_peers()
    wrt = case.wrt if isinstance(case.wrt, int) else tuple(case.wrt)
    f = jax.jit(jax.grad(case.jax, argnums=wrt))
    jargs = tuple(jax.numpy.asarray(a) for a in args)

    def call():
        return jax.block_until_ready(f(*jargs))
    return call, None


CHILD = """
import pickle, sys, time
t0 = time.perf_counter()
import numpy, numba
from numba.core.registry import cpu_target
cpu_target.target_context.refresh()   # Numba's own set-up in a process (SciPy's BLAS, registries)
cpu_target.typing_context.refresh()
t1 = time.perf_counter()
sys.path.insert(0, sys.argv[1])
import {module} as m
t2 = time.perf_counter()
with open(sys.argv[2], "rb") as fh:
    args = pickle.load(fh)
t3 = time.perf_counter()
m.grad(*args)
t4 = time.perf_counter()
print(t1 - t0, t2 - t1, t4 - t3)
"""


def _second_process(case, g, args):
    """(import NumPy and Numba and its set-up, import the module, first call) in seconds, in the second fresh
    process running the exported derivative (the first one compiles and fills the cache)."""
    import pickle
    import subprocess
    import tempfile
    from srcad import api
    folder = tempfile.mkdtemp(prefix="srcad_numba_bench_")
    module = f"grad_{case.name}_exported"
    srcad.export(g, os.path.join(folder, module + ".py"), ranks=tuple(api._rank(a) for a in args))
    with open(os.path.join(folder, "args.pkl"), "wb") as fh:
        pickle.dump(args, fh)
    child = os.path.join(folder, "child.py")
    with open(child, "w") as fh:
        fh.write(CHILD.format(module=module))
    env = dict(os.environ, PYTHONPATH="")
    for _ in range(2):
        out = subprocess.run([sys.executable, child, folder, os.path.join(folder, "args.pkl")], env=env,
                             capture_output=True, text=True, check=True, cwd=folder)
    return tuple(float(v) for v in out.stdout.split())


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeat", type=int, default=15)
    p.add_argument("--number", type=int, default=2000)
    p.add_argument("--no-export", action="store_true", help="skip the second-process (cache) timing")
    p.add_argument("--cpu-time", action="store_true",
                   help="time the process's CPU time (time.process_time) instead of the wall clock: on a machine "
                        "loaded by other work it leaves out the time the process waits for a core")
    opts = p.parse_args(argv)
    global TIMER
    TIMER = time.process_time if opts.cpu_time else time.perf_counter
    print(f"numba {numba.__version__}, numpy {np.__version__}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}, {'CPU time' if opts.cpu_time else 'wall clock'}")
    header = f"{'case':<14}{'numpy':>10}{'numba':>10}{'dispatch':>10}{'hand':>10}{'jax_jit':>10}" \
             f"{'first call':>12}{'cached':>10}   ratios"
    print(header)
    rows = {}
    for name in NAMES:
        case = cases.CASES_BY_NAME[name]
        args = case.inputs()
        srcad.clear_cache()
        t0 = time.perf_counter()
        g = srcad.grad(case.f, wrt=case.wrt, compile="numba")
        got = g(*args)
        first = time.perf_counter() - t0
        assert g.backend == "numba", g.backend
        ref = srcad.grad(case.f, wrt=case.wrt)(*args)
        for a, b in zip(got if isinstance(got, tuple) else (got,), ref if isinstance(ref, tuple) else (ref,)):
            np.testing.assert_allclose(a, b, rtol=1e-10)
        plain = srcad.grad(case.f, wrt=case.wrt)
        disp = g.compiled(*args).dispatcher
        hand = HAND[name]
        paired, diffs = _paired_us({"dispatch": lambda: disp(*args), "numba": lambda: g(*args),
                                    "hand": lambda: hand(*args)}, opts.repeat, opts.number)
        r = {"numpy": _median_us(lambda: plain(*args), opts.repeat, max(1, opts.number // 10)), **paired,
             "api_minus_dispatch": diffs["numba"]}
        jcall, why = _jax(case, args)
        r["jax_jit"] = _median_us(jcall, opts.repeat, opts.number) if jcall else why
        r["first"] = first
        r["second_process"] = None if opts.no_export else _second_process(case, g, args)
        rows[name] = r
        jx = f"{r['jax_jit']:>10.2f}" if jcall else f"{why:>10}"
        ratios = f"numpy/numba {r['numpy'] / r['numba']:.1f}x, numba/hand {r['numba'] / r['hand']:.2f}x, " \
                 f"api-dispatch {r['api_minus_dispatch']:.2f} us"
        if jcall:
            ratios += f", jax_jit/numba {r['jax_jit'] / r['numba']:.1f}x"
        sp = r["second_process"]
        cached = f"{sp[2] * 1e3:>8.1f}ms" if sp else f"{'-':>10}"
        print(f"{name:<14}{r['numpy']:>10.2f}{r['numba']:>10.2f}{r['dispatch']:>10.2f}{r['hand']:>10.2f}"
              f"{jx}{first:>11.2f}s{cached}   {ratios}", flush=True)
    for name, r in rows.items():
        if r["second_process"]:
            imp, mod, call = r["second_process"]
            print(f"second process, {name}: import numpy+numba and Numba's set-up {imp:.2f} s, import the module "
                  f"{mod * 1e3:.0f} ms, first call {call * 1e3:.1f} ms (from the cache)")
    return rows


if __name__ == "__main__":
    main()
