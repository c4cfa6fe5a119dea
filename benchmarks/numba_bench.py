"""Compiled derivatives (issue 17): srcad.grad(f, compile="numba") against srcad's NumPy gradient,
a hand-written Numba gradient and jax.jit(jax.grad(f)) (when jax is installed), per gradient call.

Cases (benchmarks/cases.py): the 200-step scalar loop ``scalar_for`` w.r.t. x and w, Horner's rule
with 50 terms ``horner_xc`` w.r.t. the point and the coefficient array, and the chapter's ``while``
on a scalar ``chapter_while`` (jax.jit cannot run it). Columns, in microseconds per call, medians
of ``--repeat`` timings of ``--number`` calls each:

* ``numpy``: ``srcad.grad(f)`` (the NumPy derivative, through the API);
* ``numba``: ``srcad.grad(f, compile="numba")`` through the API (its fast path);
* ``dispatcher``: ``srcad.grad(f, compile="numba").compiled(*args).dispatcher``, called directly;
* ``hand``: a hand-written gradient compiled with ``numba.njit`` (below);
* ``jax_jit``: ``jax.jit(jax.grad(f, argnums))`` (float64), blocked until ready.

``first call``: a fresh ``grad`` object after ``srcad.clear_cache()``: transform and compile.

    python3 benchmarks/numba_bench.py [--repeat 15] [--number 2000]
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


def _median_us(fn, repeat, number):
    fn()
    times = timeit.repeat(fn, number=number, repeat=repeat)
    return statistics.median(times) / number * 1e6


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


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeat", type=int, default=15)
    p.add_argument("--number", type=int, default=2000)
    opts = p.parse_args(argv)
    print(f"numba {numba.__version__}, numpy {np.__version__}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    header = f"{'case':<14}{'numpy':>10}{'numba':>10}{'dispatch':>10}{'hand':>10}{'jax_jit':>10}" \
             f"{'first call':>12}   ratios"
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
        r = {"numpy": _median_us(lambda: plain(*args), opts.repeat, max(1, opts.number // 10)),
             "numba": _median_us(lambda: g(*args), opts.repeat, opts.number),
             "dispatch": _median_us(lambda: disp(*args), opts.repeat, opts.number),
             "hand": _median_us(lambda: hand(*args), opts.repeat, opts.number)}
        jcall, why = _jax(case, args)
        r["jax_jit"] = _median_us(jcall, opts.repeat, opts.number) if jcall else why
        r["first"] = first
        rows[name] = r
        jx = f"{r['jax_jit']:>10.2f}" if jcall else f"{why:>10}"
        ratios = f"numpy/numba {r['numpy'] / r['numba']:.1f}x, numba/hand {r['numba'] / r['hand']:.2f}x"
        if jcall:
            ratios += f", jax_jit/numba {r['jax_jit'] / r['numba']:.1f}x"
        print(f"{name:<14}{r['numpy']:>10.2f}{r['numba']:>10.2f}{r['dispatch']:>10.2f}{r['hand']:>10.2f}"
              f"{jx}{first:>11.2f}s   {ratios}")
    return rows


if __name__ == "__main__":
    main()
