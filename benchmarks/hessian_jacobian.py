"""Hessians (forward over reverse vs reverse over reverse) and Jacobians (forward vs reverse columns).

    python benchmarks/hessian_jacobian.py [--rounds 7] [--out docs/benchmarks-jacobian.md]

Every pair is first checked to agree (np.allclose); times are the median over rounds of one call
(after a warm-up call that builds and caches the generated code), single-threaded BLAS.
"""

import argparse
import os
import platform
import statistics
import sys
import time

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import srcad  # noqa: E402


def energy(x, W):
    """A scalar of n inputs: a small tanh layer plus a quartic term (Hessian case)."""
    h = np.tanh(W @ x)
    return np.sum(h * h) + 0.1 * np.sum(x ** 4) + np.sum(np.sin(x) * x)


def energy_loop(x, W):
    """The same with a data-dependent while loop (damped fixed-point steps)."""
    s = np.sum(np.tanh(W @ x) ** 2)
    k = 0
    while k < 5:
        s = s * 0.5 + np.sum(np.cos(x * s))
        k = k + 1
    return s


def tall(x, A):
    """Few inputs, many outputs."""
    return np.sin(A @ x) * np.sum(x * x)


def wide(x, B):
    """Many inputs, few outputs."""
    return np.tanh(B @ np.sin(x))


def _time(fn, rounds):
    fn()  # warm-up: transforms and caches
    times = []
    for _ in range(rounds):
        reps, t0 = 0, time.perf_counter()
        while True:
            fn()
            reps += 1
            el = time.perf_counter() - t0
            if el > 0.05:
                break
        times.append(el / reps)
    return statistics.median(times)


def _fmt(t):
    return f"{t * 1e3:.2f} ms" if t >= 1e-3 else f"{t * 1e6:.0f} µs"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--out", default=None, help="also write the markdown table here")
    ns = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    rows = []

    for name, f, n in [("energy", energy, 10), ("energy", energy, 40), ("energy_loop", energy_loop, 20)]:
        x, W = rng.normal(size=n) * 0.3, rng.normal(size=(n, n)) / np.sqrt(n)
        fwd, rev = srcad.hessian(f), srcad.hessian(f, mode="reverse")
        assert np.allclose(fwd(x, W), rev(x, W), rtol=1e-8, atol=1e-10)
        tf = _time(lambda: fwd(x, W), ns.rounds)
        tr = _time(lambda: rev(x, W), ns.rounds)
        rows.append((f"hessian `{name}`, n={n}", "forward over reverse", tf, "reverse over reverse", tr))

    for name, f, n, m in [("tall", tall, 4, 400), ("wide", wide, 400, 4)]:
        x = rng.normal(size=n)
        M = rng.normal(size=(m, n)) if name == "tall" else rng.normal(size=(m, n)) / np.sqrt(n)
        jf, jr = srcad.jacobian(f, mode="forward"), srcad.jacobian(f, mode="reverse")
        assert np.allclose(jf(x, M), jr(x, M), rtol=1e-8, atol=1e-10)
        auto = "forward" if n <= m else "reverse"
        tf = _time(lambda: jf(x, M), ns.rounds)
        tr = _time(lambda: jr(x, M), ns.rounds)
        rows.append((f"jacobian `{name}`, {n} in -> {m} out (auto: {auto})", "forward columns", tf,
                     "reverse rows", tr))

    lines = [
        "# Jacobians and Hessians: forward vs reverse",
        "",
        f"`python benchmarks/hessian_jacobian.py --rounds {ns.rounds}`; median of {ns.rounds} rounds, "
        f"one call each (cached code), single-threaded BLAS; Python {platform.python_version()}, "
        f"NumPy {np.__version__}, {platform.machine()}.",
        "",
        "| case | A | time A | B | time B | B / A |",
        "|---|---|---:|---|---:|---:|",
    ]
    for case, a, ta, b, tb in rows:
        lines.append(f"| {case} | {a} | {_fmt(ta)} | {b} | {_fmt(tb)} | {tb / ta:.2f} |")
    lines += [
        "",
        "Hessian: forward over reverse runs the forward-mode derivative of the generated gradient once "
        "per input element (`srcad.hessian`); reverse over reverse runs the reverse-mode derivative of the "
        "generated gradient once per gradient element (`srcad.hessian(f, mode='reverse')`). Jacobian: one "
        "jvp per input element (forward) or one vjp per output element (reverse); `srcad.jacobian` "
        "picks the side with fewer passes.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if ns.out:
        os.makedirs(os.path.dirname(os.path.abspath(ns.out)), exist_ok=True)
        with open(ns.out, "w") as fh:
            fh.write(text)


if __name__ == "__main__":
    main()
