#!/usr/bin/env python
"""Benchmark srcad gradients against hand-written NumPy, autograd, torch and jax.

    python benchmarks/run.py                      # all cases, 7 rounds, print a table
    python benchmarks/run.py --quick              # smoke test
    python benchmarks/run.py --cases mlp,rnn --rounds 11
    python benchmarks/run.py --out docs/benchmarks.md --transform-time

Every gradient is first checked against the hand-written one (np.allclose); a library whose
gradient disagrees or raises is reported and left out of the timings.  Timings are taken in
interleaved rounds: each round times every implementation once with a timeit-style inner loop
sized to about --budget-ms; ratios are formed per round and their median is reported, with the
spread (max/min of the per-round ratio) beside it.  Everything runs single-threaded.
"""

import os

# Single-thread every library: must happen before NumPy / torch / jax are imported.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
             "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import datetime  # noqa: E402
import gc  # noqa: E402
import importlib.util  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if HERE not in sys.path:
    sys.path.insert(0, HERE)
if ROOT not in sys.path:
    sys.path.append(ROOT)  # lets an un-installed checkout's srcad be found

import numpy as np  # noqa: E402

import cases as C  # noqa: E402

# Column order of the timing table.
IMPLS = ["plain", "hand", "hand_ns", "srcad", "autograd", "torch", "jax", "jax_jit"]
LABELS = {
    "plain": "plain f", "hand": "hand", "hand_ns": "hand (no shortcut)", "srcad": "srcad",
    "autograd": "autograd", "torch": "torch", "jax": "jax", "jax_jit": "jax.jit",
}
PEERS = ["autograd", "torch", "jax", "jax_jit"]
RTOL = 1e-6


# ---------------------------------------------------------------------------------------------
# Environment
# ---------------------------------------------------------------------------------------------

class Env:
    """Imported libraries, their versions and why any of them is missing."""

    def __init__(self):
        self.errors = C.load_peers()
        self.autograd = self.torch = self.jax = self.srcad = None
        self.versions = {"python": platform.python_version(), "numpy": np.__version__}
        if "autograd" not in self.errors:
            import autograd
            self.autograd = autograd
            self.versions["autograd"] = _version("autograd")
        if "torch" not in self.errors:
            import torch
            self.torch = torch
            torch.set_num_threads(1)
            try:
                torch.set_num_interop_threads(1)
            except RuntimeError:
                pass
            self.versions["torch"] = torch.__version__
        if "jax" not in self.errors:
            import jax
            import jaxlib
            self.jax = jax
            self.versions["jax"] = jax.__version__
            self.versions["jaxlib"] = getattr(jaxlib, "__version__", _version("jaxlib"))
        try:
            import srcad
            if not hasattr(srcad, "grad"):
                raise ImportError("srcad has no attribute 'grad' (not implemented yet)")
            self.srcad = srcad
            self.versions["srcad"] = getattr(srcad, "__version__", None) or _version("srcad")
        except Exception as exc:
            self.errors["srcad"] = f"import srcad failed: {type(exc).__name__}: {exc}"
            self.versions["srcad"] = "not importable"
        try:
            from threadpoolctl import threadpool_limits
            self.limits = threadpool_limits(1)  # keep a reference: limits last while it lives
            self.versions["threadpoolctl"] = _version("threadpoolctl")
        except Exception as exc:
            self.limits = None
            self.errors["threadpoolctl"] = f"{type(exc).__name__}: {exc}"

    def machine(self):
        cpu = platform.processor() or platform.machine()
        try:
            with open("/proc/cpuinfo") as fh:
                for line in fh:
                    if line.startswith("model name"):
                        cpu = line.split(":", 1)[1].strip()
                        break
        except OSError:
            pass
        return {"platform": platform.platform(), "cpu": cpu, "cpu_count": os.cpu_count()}


def _version(dist):
    try:
        from importlib.metadata import version
        return version(dist)
    except Exception:
        return "?"


def _short(exc, limit=300):
    text = f"{type(exc).__name__}: {exc}" if isinstance(exc, BaseException) else str(exc)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ---------------------------------------------------------------------------------------------
# Building the implementations of one case
# ---------------------------------------------------------------------------------------------

class Impl:
    """One gradient implementation: ``call()`` runs it, ``result()`` gives NumPy arrays."""

    def __init__(self, key, fn, args, convert=None, sync=None):
        self.key = key
        self.fn = fn
        self.args = args
        self.convert = convert or (lambda out: out)
        if sync is None:
            self.call = lambda: fn(*args)
        else:
            self.call = lambda: sync(fn(*args))

    def result(self):
        return self.convert(self.fn(*self.args))


def _as_tuple(out, wrt):
    if isinstance(wrt, tuple):
        return tuple(out)
    return (out,)


def build_impls(case, env, status):
    """Return {key: Impl} for everything that could be built; record failures in status."""
    args = case.inputs()
    wrt = case.wrt
    wrt_t = wrt if isinstance(wrt, tuple) else (wrt,)
    impls = {
        "plain": Impl("plain", case.f, args),
        "hand": Impl("hand", case.grad_hand, args, lambda o: _as_tuple(o, wrt)),
    }
    if case.grad_hand_noshortcut is not None:
        impls["hand_ns"] = Impl("hand_ns", case.grad_hand_noshortcut, args,
                                lambda o: _as_tuple(o, wrt))
    else:
        status["hand_ns"] = ("none", "")

    # srcad
    if env.srcad is None:
        status["srcad"] = ("n/a", env.errors["srcad"])
    else:
        try:
            g = env.srcad.grad(case.f, wrt=wrt)
            impls["srcad"] = Impl("srcad", g, args, lambda o: _as_tuple(o, wrt))
        except Exception as exc:
            status["srcad"] = ("n/a", f"srcad.grad raised {_short(exc)}")

    # autograd
    if env.autograd is None:
        status["autograd"] = ("n/a", env.errors["autograd"])
    else:
        g = env.autograd.grad(case.autograd, argnum=wrt)
        impls["autograd"] = Impl("autograd", g, args, lambda o: _as_tuple(o, wrt))

    # torch: inputs converted once; leaves for the differentiated arguments.
    if env.torch is None:
        status["torch"] = ("n/a", env.errors["torch"])
    else:
        torch = env.torch
        targs = []
        for i, a in enumerate(args):
            t = torch.tensor(np.asarray(a, dtype=np.float64), dtype=torch.float64)
            if i in wrt_t:
                t.requires_grad_(True)
            targs.append(t)
        leaves = [targs[i] for i in wrt_t]
        tfun = case.torch

        def torch_grad(*ta):
            return torch.autograd.grad(tfun(*ta), leaves)

        impls["torch"] = Impl("torch", torch_grad, tuple(targs),
                              lambda o: tuple(t.detach().numpy() for t in o))

    # jax: eager jax.grad and jax.jit(jax.grad)
    if env.jax is None:
        status["jax"] = ("n/a", env.errors["jax"])
        status["jax_jit"] = ("n/a", env.errors["jax"])
    else:
        jax = env.jax
        jargs = tuple(jax.numpy.asarray(np.asarray(a, dtype=np.float64)) for a in args)
        g = jax.grad(case.jax, argnums=wrt)
        conv = lambda o: tuple(np.asarray(t) for t in _as_tuple(o, wrt))  # noqa: E731
        impls["jax"] = Impl("jax", g, jargs, conv, sync=jax.block_until_ready)
        if case.jax_jit_unsupported:
            status["jax_jit"] = ("unsup.", "jax.jit: " + case.jax_jit_unsupported)
        else:
            impls["jax_jit"] = Impl("jax_jit", jax.jit(g), jargs, conv,
                                    sync=jax.block_until_ready)
    return impls


def _close(got, ref):
    got = np.asarray(got, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if got.shape != ref.shape:
        return False, f"shape {got.shape} != expected {ref.shape}"
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    if not np.all(np.isfinite(got)):
        return False, "non-finite values"
    if np.allclose(got, ref, rtol=RTOL, atol=1e-9 * scale):
        return True, ""
    err = float(np.max(np.abs(got - ref)))
    return False, f"max abs error {err:.3g} (max |grad| {scale:.3g})"


def verify(case, impls, status):
    """Check every gradient against the hand one; drop (and record) the ones that fail."""
    ref = impls["hand"].result()
    for key in list(impls):
        if key in ("plain", "hand"):
            continue
        what = "disagrees"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                got = impls[key].result()
            if len(got) != len(ref):
                ok, why = False, f"returned {len(got)} gradients, expected {len(ref)}"
            else:
                ok, why = True, ""
                for i, (g, r) in enumerate(zip(got, ref)):
                    ok, why = _close(g, r)
                    if not ok:
                        why = f"gradient {i}: {why}" if len(ref) > 1 else why
                        break
        except Exception as exc:
            ok, why, what = False, _short(exc), "raised"
        if not ok:
            del impls[key]
            status[key] = ("wrong" if what == "disagrees" else "n/a",
                           f"{LABELS[key]} {what}: {why}")
        else:
            status[key] = ("ok", "")


# ---------------------------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------------------------

CLOCK = time.perf_counter   # --cpu-time: time.thread_time (a loaded machine's waits excluded)


def _time(call, number):
    gc_was = gc.isenabled()
    gc.disable()
    try:
        t0 = CLOCK()
        for _ in range(number):
            call()
        return CLOCK() - t0
    finally:
        if gc_was:
            gc.enable()


def autorange(call, budget):
    """Number of calls whose total time is about ``budget`` seconds (at least 1)."""
    call()  # warm up (caches, jit compilation)
    number = 1
    while True:
        t = _time(call, number)
        if t >= budget:
            return number
        if t >= budget / 20:  # long enough to extrapolate from
            return max(1, int(round(number * budget / t)))
        number *= 10


def time_case(impls, rounds, budget, status):
    """Return {key: [seconds per call, one per round]}."""
    numbers = {}
    for key in list(impls):
        try:
            numbers[key] = autorange(impls[key].call, budget)
        except Exception as exc:  # verified once, but failed when called again
            if key in ("plain", "hand"):
                raise
            del impls[key]
            status[key] = ("n/a", f"{LABELS[key]} raised while timing: {_short(exc)}")
    keys = list(impls)
    times = {key: [] for key in keys}
    for r in range(rounds):
        order = keys[r % len(keys):] + keys[: r % len(keys)]  # rotate to spread drift
        for key in order:
            n = numbers[key]
            times[key].append(_time(impls[key].call, n) / n)
    return times


# ---------------------------------------------------------------------------------------------
# Results and tables
# ---------------------------------------------------------------------------------------------

RATIOS = [
    # (label, numerator, denominator)
    ("srcad/plain", "srcad", "plain"),
    ("srcad/hand", "srcad", "hand"),
    ("srcad/hand-ns", "srcad", "hand_ns"),
    ("autograd/srcad", "autograd", "srcad"),
    ("torch/srcad", "torch", "srcad"),
    ("jax/srcad", "jax", "srcad"),
    ("jax.jit/srcad", "jax_jit", "srcad"),
]
HAND_RATIOS = [(f"{LABELS[k]}/hand", k, "hand") for k in ("plain", "hand_ns", "srcad") + tuple(PEERS)]


def ratio(times, num, den):
    """Median of the per-round ratio and its spread (max/min), or None."""
    if num not in times or den not in times:
        return None
    per = [a / b for a, b in zip(times[num], times[den])]
    return statistics.median(per), max(per) / min(per)


class Notes:
    """Footnotes, deduplicated, numbered in order of first use."""

    def __init__(self):
        self.items = []

    def ref(self, text):
        if text not in self.items:
            self.items.append(text)
        return f"[^{self.items.index(text) + 1}]"


def fmt_us(seconds):
    us = seconds * 1e6
    if us >= 100:
        return f"{us:,.0f}"
    if us >= 10:
        return f"{us:.1f}"
    return f"{us:.2f}"


def fmt_ratio(r):
    med, spread = r
    return f"{med:.3g} ({spread:.2f})" if med < 1000 else f"{med:,.0f} ({spread:.2f})"


def status_cell(key, status, notes):
    kind, why = status.get(key, ("n/a", ""))
    if kind == "none":
        return "—"
    return f"{kind} {notes.ref(why)}" if why else kind


def missing_cell(res, num, den, notes):
    """Cell for a ratio that could not be formed: why the missing side is missing."""
    for key in (num, den):
        if key not in res["times"] and res["status"].get(key, ("",))[0] == "none":
            return "—"
    missing = num if num not in res["times"] else den
    return status_cell(missing, res["status"], notes)


def md_table(header, rows, numeric=True):
    align = "---:" if numeric else "---"
    out = ["| " + " | ".join(header) + " |",
           "|" + "|".join(["---"] + [align] * (len(header) - 1)) + "|"]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(out)


def render(results, env, args, transform, notes):
    lines = []
    machine = env.machine()
    lines.append("# srcad benchmarks")
    lines.append("")
    lines.append(f"Generated {datetime.date.today().isoformat()} by "
                 f"`python benchmarks/run.py {' '.join(sys.argv[1:])}`".rstrip() + ".")
    lines.append("")
    lines.append(f"- Machine: {machine['platform']}; {machine['cpu']}; "
                 f"{machine['cpu_count']} CPUs (every library limited to 1 thread)")
    lines.append("- Versions: " + ", ".join(f"{k} {v}" for k, v in env.versions.items()))
    lines.append(f"- {args.rounds} interleaved rounds, inner loop sized to ~{args.budget_ms:g} ms "
                 "per implementation per round; float64 throughout; torch eager on CPU"
                 + ("; times are the thread's CPU time (`--cpu-time`)" if args.cpu_time else ""))
    lines.append("")

    if results:
        lines.append("## Cases")
        lines.append("")
        rows = []
        for name, res in results.items():
            case = C.CASES_BY_NAME[name]
            rows.append([f"`{name}`", case.description, f"`{case.wrt}`",
                         case.shortcut or "—"])
        lines.append(md_table(["case", "what", "wrt", "hand-written shortcut"], rows,
                              numeric=False))
        lines.append("")

        lines.append("## Median time per call (µs)")
        lines.append("")
        rows = []
        for name, res in results.items():
            row = [f"`{name}`"]
            for key in IMPLS:
                if key in res["times"]:
                    row.append(fmt_us(statistics.median(res["times"][key])))
                else:
                    row.append(status_cell(key, res["status"], notes))
            rows.append(row)
        lines.append(md_table(["case"] + [LABELS[k] for k in IMPLS], rows))
        lines.append("")
        lines.append("`plain f` is the undifferentiated NumPy function; `hand` is the careful "
                     "hand-written NumPy gradient and `hand (no shortcut)` the same without the "
                     "algebraic shortcut listed above.")
        lines.append("")

        lines.append("## Ratios around srcad")
        lines.append("")
        lines.append("Median over rounds of the per-round ratio of times; in parentheses the "
                     "spread, max/min of that ratio over the rounds.  `x/srcad` > 1 means "
                     "srcad is faster than x.")
        lines.append("")
        rows = []
        for name, res in results.items():
            row = [f"`{name}`"]
            for label, num, den in RATIOS:
                r = ratio(res["times"], num, den)
                row.append(fmt_ratio(r) if r is not None
                           else missing_cell(res, num, den, notes))
            rows.append(row)
        lines.append(md_table(["case"] + [r[0] for r in RATIOS], rows))
        lines.append("")

        lines.append("## Ratios to the hand-written gradient")
        lines.append("")
        rows = []
        for name, res in results.items():
            row = [f"`{name}`"]
            for label, num, den in HAND_RATIOS:
                r = ratio(res["times"], num, den)
                row.append(fmt_ratio(r) if r is not None
                           else missing_cell(res, num, den, notes))
            rows.append(row)
        lines.append(md_table(["case"] + [r[0] for r in HAND_RATIOS], rows))
        lines.append("")

    if transform is not None:
        lines.append("## srcad transform time")
        lines.append("")
        if "error" in transform:
            lines.append(f"Not measured: {transform['error']}")
        else:
            lines.append(
                f"First use of `srcad.grad` on a freshly loaded {transform['lines']}-line "
                f"function (new temporary file each repeat), median of {transform['repeats']} "
                "repeats:")
            lines.append("")
            lines.append(md_table(
                ["`srcad.grad(f)`", "first call", "total first use", "later call"],
                [[f"{transform['grad_ms']:.2f} ms", f"{transform['first_ms']:.2f} ms",
                  f"{transform['total_ms']:.2f} ms", f"{transform['steady_us']:.1f} µs"]]))
        lines.append("")

    if notes.items:
        lines.append("## Notes")
        lines.append("")
        for i, text in enumerate(notes.items, 1):
            lines.append(f"[^{i}]: {text}")
        lines.append("")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Transform time
# ---------------------------------------------------------------------------------------------

TRANSFORM_SOURCE = '''\
import numpy as np


def model(W, x, y):
    # fresh copy {tag}
    h = np.dot(W, x)
    a = np.tanh(h)
    s = 0.0
    for i in range(3):
        z = a * (i + 1.0)
        if i > 0:
            z = z + np.sin(a)
        else:
            z = z - np.cos(a)
        s = s + np.sum(z * z)
    e = np.exp(-a * a)
    m = np.max(e)
    r = np.log(np.sum(np.exp(e - m))) + m
    d = a - y
    loss = 0.5 * np.sum(d * d)
    q = np.sqrt(np.sum(W * W) + 1.0)
    t = np.mean(h) * q
    u = np.maximum(h, 0.01 * h)
    v = np.sum(u) / (1.0 + np.abs(t))
    w = np.dot(a, a) + np.sum(np.maximum(a, 0.0))
    k = 0
    while k < 2:
        v = v * 0.5 + w
        k = k + 1
    out = loss + 0.1 * s + 0.01 * r + v
    return out
'''


def measure_transform(env, repeats):
    if env.srcad is None:
        return {"error": env.errors["srcad"]}
    rng = np.random.default_rng(0)
    W = rng.standard_normal((20, 10))
    x = rng.standard_normal(10)
    y = rng.standard_normal(20)
    grad_t, first_t, total_t = [], [], []
    g = None
    with tempfile.TemporaryDirectory(prefix="srcad_bench_") as tmp:
        for rep in range(repeats):
            tag = f"{os.getpid()}_{rep}_{time.time_ns()}"
            modname = f"srcad_bench_model_{tag}"
            path = os.path.join(tmp, modname + ".py")
            with open(path, "w") as fh:
                fh.write(TRANSFORM_SOURCE.format(tag=tag))
            spec = importlib.util.spec_from_file_location(modname, path)
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
            if hasattr(env.srcad, "clear_cache"):
                env.srcad.clear_cache()
            try:
                t0 = time.perf_counter()
                g = env.srcad.grad(mod.model, wrt=0)
                t1 = time.perf_counter()
                out = g(W, x, y)
                t2 = time.perf_counter()
            except Exception as exc:
                return {"error": f"srcad failed on the transform-time function: {_short(exc)}"}
            if rep == 0:
                ref = _numeric_grad(mod.model, W, x, y)
                ok, why = _close(np.asarray(out), ref)
                if not ok:
                    return {"error": f"srcad gradient of the transform-time function is wrong: {why}"}
            grad_t.append(t1 - t0)
            first_t.append(t2 - t1)
            total_t.append(t2 - t0)
    n = autorange(lambda: g(W, x, y), 0.02)
    steady = min(_time(lambda: g(W, x, y), n) / n for _ in range(3))
    return {"lines": TRANSFORM_SOURCE.count("\n") - 3, "repeats": repeats,
            "grad_ms": 1e3 * statistics.median(grad_t),
            "first_ms": 1e3 * statistics.median(first_t),
            "total_ms": 1e3 * statistics.median(total_t),
            "steady_us": 1e6 * steady}


def _numeric_grad(f, W, x, y, eps=1e-6):
    g = np.zeros_like(W)
    for idx in np.ndindex(W.shape):
        Wp = W.copy()
        Wm = W.copy()
        Wp[idx] += eps
        Wm[idx] -= eps
        g[idx] = (f(Wp, x, y) - f(Wm, x, y)) / (2 * eps)
    return g


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", default="all",
                   help="comma-separated case names, 'all' (default) or 'none'; "
                        "known: " + ",".join(C.CASES_BY_NAME))
    p.add_argument("--rounds", type=int, default=None, help="timing rounds (default 7, quick 3)")
    p.add_argument("--budget-ms", type=float, default=None,
                   help="inner-loop time per implementation per round (default 20, quick 3)")
    p.add_argument("--quick", action="store_true", help="few rounds, small budget (smoke test)")
    p.add_argument("--out", default=None, help="also write the markdown table to this file")
    p.add_argument("--transform-time", action="store_true",
                   help="also measure srcad's first-call transform time of a ~30-line function")
    p.add_argument("--transform-repeats", type=int, default=None,
                   help="repeats for --transform-time (default 10, quick 3)")
    p.add_argument("--cpu-time", action="store_true",
                   help="time with the thread's CPU time instead of the wall clock: on a machine "
                        "loaded by other work, the time the benchmark waits for a core is left out")
    p.add_argument("--generic", action="store_true",
                   help="srcad without its whole-expression patterns (srcad/patterns.py): the before "
                        "of issue 15 item 6")
    args = p.parse_args(argv)
    if args.rounds is None:
        args.rounds = 3 if args.quick else 7
    if args.budget_ms is None:
        args.budget_ms = 3.0 if args.quick else 20.0
    if args.transform_repeats is None:
        args.transform_repeats = 3 if args.quick else 10
    if args.cases == "all":
        names = list(C.CASES_BY_NAME)
    elif args.cases in ("none", ""):
        names = []
    else:
        names = [n.strip() for n in args.cases.split(",") if n.strip()]
        unknown = [n for n in names if n not in C.CASES_BY_NAME]
        if unknown:
            p.error(f"unknown case(s) {', '.join(unknown)}; known: {', '.join(C.CASES_BY_NAME)}")

    global CLOCK
    if args.cpu_time:
        CLOCK = time.thread_time
    started = time.perf_counter()
    env = Env()
    if args.generic and env.srcad is not None:
        from srcad import patterns
        patterns.enabled = False
    for lib, err in env.errors.items():
        print(f"note: {lib}: {err}", file=sys.stderr)

    results = {}
    for name in names:
        case = C.CASES_BY_NAME[name]
        t0 = time.perf_counter()
        status = {}
        try:
            impls = build_impls(case, env, status)
            verify(case, impls, status)
            times = time_case(impls, args.rounds, args.budget_ms / 1e3, status)
        except Exception as exc:  # a bug in the harness or the plain/hand code itself
            print(f"{name}: FAILED: {_short(exc, 1000)}", file=sys.stderr)
            continue
        results[name] = {"times": times, "status": status}
        bad = [f"{k}: {why}" for k, (kind, why) in status.items() if kind not in ("ok", "none")]
        print(f"{name}: done in {time.perf_counter() - t0:.1f}s"
              + ("".join(f"\n    {b}" for b in bad)), file=sys.stderr)

    transform = None
    if args.transform_time:
        transform = measure_transform(env, args.transform_repeats)

    notes = Notes()
    text = render(results, env, args, transform, notes)
    print(text)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as fh:
            fh.write(text)
        print(f"wrote {args.out}", file=sys.stderr)
    print(f"total {time.perf_counter() - started:.1f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
