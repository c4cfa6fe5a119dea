#!/usr/bin/env python
"""Lines of srcad's generated gradient against the hand-written gradients of benchmarks/cases.py.

    python benchmarks/lines.py              # a markdown table on stdout
    python benchmarks/lines.py --show mlp   # also print the derivative and the hand version

A line is a line of code in the function's body: blank lines, comment lines and the ``def`` line
are not counted. srcad's derivative is the variant that runs for the case's inputs
(``srcad.source(g, *inputs)``); ``del`` lines (freeing arrays early, which the hand versions leave
to the function's return) are counted apart. The hand baselines are the careful gradient and,
where the case has one, the version without the algebraic shortcut.
"""

import argparse
import inspect
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for p in (HERE, ROOT):
    if p not in sys.path:
        sys.path.insert(0, p)

import cases as C  # noqa: E402
import srcad  # noqa: E402


def code_lines(source):
    """The body's lines of code: ``(all, del)``."""
    lines = [ln.strip() for ln in source.splitlines()]
    body = [ln for ln in lines if ln and not ln.startswith("#")]
    if body and body[0].startswith("def "):
        body = body[1:]
    dels = [ln for ln in body if ln.startswith("del ")]
    return len(body), len(dels)


def measure(case):
    args = case.inputs()
    g = srcad.grad(case.f, wrt=case.wrt)
    g(*args)
    src = srcad.source(g, *args)
    total, dels = code_lines(src)
    hand, _ = code_lines(inspect.getsource(case.grad_hand))
    hand_ns = code_lines(inspect.getsource(case.grad_hand_noshortcut))[0] if case.grad_hand_noshortcut else None
    plain, _ = code_lines(inspect.getsource(case.f))
    return {"src": src, "srcad": total, "del": dels, "hand": hand, "hand_ns": hand_ns, "plain": plain}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", default="all")
    p.add_argument("--show", default="", help="comma-separated cases whose sources to print")
    p.add_argument("--generic", action="store_true",
                   help="without srcad's whole-expression patterns (srcad/patterns.py)")
    args = p.parse_args(argv)
    if args.generic:
        from srcad import patterns
        patterns.enabled = False
    names = list(C.CASES_BY_NAME) if args.cases == "all" else args.cases.split(",")
    show = set(filter(None, args.show.split(",")))
    rows, ratios, ratios_nodel = [], [], []
    for name in names:
        case = C.CASES_BY_NAME[name]
        m = measure(case)
        best = min(v for v in (m["hand"], m["hand_ns"]) if v is not None)
        r, r2 = m["srcad"] / m["hand"], (m["srcad"] - m["del"]) / m["hand"]
        ratios.append(r)
        ratios_nodel.append(r2)
        rows.append(f"| `{name}` | {m['plain']} | {m['hand']} | {m['hand_ns'] or '—'} | {m['srcad']} | "
                    f"{m['del']} | {r:.2f} | {r2:.2f} | {m['srcad'] / best:.2f} |")
        if name in show:
            print(m["src"])
            print(inspect.getsource(case.grad_hand))
    print("| case | plain f | hand | hand (no shortcut) | srcad | of which `del` | srcad/hand | "
          "srcad without `del`/hand | srcad/shorter hand |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    print("\n".join(rows))
    print(f"\nmedian srcad/hand {statistics.median(ratios):.2f} (worst {max(ratios):.2f}); "
          f"without `del` lines {statistics.median(ratios_nodel):.2f} (worst {max(ratios_nodel):.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
