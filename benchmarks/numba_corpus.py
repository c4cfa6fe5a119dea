"""Random-program corpus for compiled derivatives (issue 17): of the programs of
tests/fuzz_programs.py whose plain function Numba compiles, how many derivatives compile and agree
with srcad's NumPy gradient, how many are refused (a TransformError, reasons tallied) and how many
disagree (must be none).

    python3 benchmarks/numba_corpus.py [--seeds 0:200] [--verbose]
"""

import argparse
import collections
import os
import re
import sys
import warnings

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))

import numba  # noqa: E402
import numpy as np  # noqa: E402

import fuzz_programs as fp  # noqa: E402
import srcad  # noqa: E402


def _reason(err):
    """A short tally key for a refusal: the construct, without the program's names."""
    msg = str(err).split("\n")[0]
    m = re.search(r"srcad's helper (\w+)", msg)
    if m:
        return f"helper {m.group(1)}"
    m = re.search(r"Numba cannot compile the derivative(?: \(generated line `[^`]*`\))?: (.*)", msg)
    if m:
        return "numba: " + re.sub(r"\b[a-z_]+_\d+\b", "v", m.group(1))[:90]
    return msg[:100]


def check(seed, focus=None):
    """(status, detail) of one program: 'no point', 'srcad refuses', 'plain not compiled',
    'agree', 'refused' (detail: the reason) or 'disagree' (detail: the message)."""
    prog = fp.generate(seed, focus)
    r = np.random.default_rng(seed)
    args = next((a for a in (fp.random_args(prog, r) for _ in range(10)) if fp.usable(prog, a)), None)
    if args is None:
        return prog, "no point", None
    try:
        ref = srcad.grad(prog.f, wrt=(0, 1))(*[fp._copy(v) for v in args])
    except srcad.TransformError:
        return prog, "srcad refuses", None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            numba.njit(prog.f)(*[fp._copy(v) for v in args])
    except Exception:
        return prog, "plain not compiled", None
    try:
        got = srcad.grad(prog.f, wrt=(0, 1), compile="numba")(*[fp._copy(v) for v in args])
    except srcad.TransformError as e:
        return prog, "refused", _reason(e)
    except Exception as e:   # noqa: BLE001 - a crash is a bug to report
        return prog, "disagree", f"raised {type(e).__name__}: {str(e)[:300]}"
    for a, b in zip(got, ref):
        if np.shape(a) != np.shape(b) or not np.allclose(a, b, rtol=1e-10, atol=1e-13):
            return prog, "disagree", f"got {a!r}, expected {b!r}"
    return prog, "agree", None


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", default="0:200")
    p.add_argument("--focus", default=None, help="one class of fuzz_programs.CLASSES (default: each seed's own)")
    p.add_argument("--verbose", action="store_true")
    opts = p.parse_args(argv)
    lo, hi = map(int, opts.seeds.split(":"))
    tally = collections.Counter()
    reasons = collections.Counter()
    by_class = collections.defaultdict(collections.Counter)
    bad = []
    for seed in range(lo, hi):
        prog, status, detail = check(seed, opts.focus)
        tally[status] += 1
        by_class[prog.focus][status] += 1
        if status == "refused":
            reasons[detail] += 1
        if status == "disagree":
            bad.append((seed, prog.focus, detail))
        if opts.verbose:
            print(seed, prog.focus, status, detail or "", flush=True)
    plain = tally["agree"] + tally["refused"] + tally["disagree"]
    print(f"seeds {lo}-{hi - 1}: {hi - lo} programs; srcad's NumPy gradient for "
          f"{hi - lo - tally['no point'] - tally['srcad refuses']}; plain function compiles: {plain}; "
          f"derivative compiles and agrees: {tally['agree']} ({100 * tally['agree'] / max(plain, 1):.0f}%); "
          f"refused: {tally['refused']}; disagree: {tally['disagree']}")
    for k, v in reasons.most_common():
        print(f"  refused {v}: {k}")
    for focus, c in sorted(by_class.items()):
        print(f"  {focus:<18}" + ", ".join(f"{k} {v}" for k, v in sorted(c.items())))
    for seed, focus, detail in bad:
        print(f"  DISAGREE seed {seed} ({focus}): {detail}")
    return tally, reasons, bad


if __name__ == "__main__":
    main()
