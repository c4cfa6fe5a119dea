"""Run N random programs of tests/fuzz_programs.py and tabulate what srcad does with them.

    python3 tests/fuzz_report.py --programs 1000 --seed 0 --out /tmp/fuzz_failures

Prints, per focus class: programs generated, refused (TransformError), programs with at least one
checked point, points checked, second-order refusals, programs without a usable point, and
disagreements; then the refusal reasons by construct, the disagreements by kind (grad, value,
jvp, hvp, mutation, shape, crash), and for every (class, kind) the smallest failing program.
Every failing program is written to ``--out`` (one file each, with its seed and messages).

Not a test: tests/test_random_programs.py runs the same checks.
"""

import argparse
import collections
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
# the srcad of this checkout, not an installed one
sys.path[:0] = [os.path.dirname(HERE), HERE]

import numpy as np  # noqa: E402

import fuzz_programs as fp  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--programs", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="directory for every failing program")
    ap.add_argument("--points", type=int, default=2, help="usable points checked per program")
    ap.add_argument("--focus", default=None, help="only this class (default: all, in turn)")
    ap.add_argument("--no-hvp", action="store_true")
    ap.add_argument("--no-minimize", action="store_true",
                    help="print the smallest failing programs as found, without shrinking them")
    args = ap.parse_args(argv)
    import srcad
    print(f"srcad from {srcad.__file__}")
    if args.out:
        os.makedirs(args.out, exist_ok=True)
    rows = collections.defaultdict(collections.Counter)
    refusals = collections.Counter()
    examples = {}
    second = collections.Counter()
    kinds = collections.Counter()
    smallest = {}
    t0 = time.time()
    for n in range(args.programs):
        seed = args.seed * 1_000_003 + n
        focus = args.focus or fp.CLASSES[n % len(fp.CLASSES)]
        prog = fp.generate(seed, focus)
        row = rows[focus]
        row["generated"] += 1
        try:
            res = fp.check(prog, n_points=args.points, hvp=not args.no_hvp)
        except Exception as e:  # noqa: BLE001 - a program that does not run: the generator's bug
            row["generator error"] += 1
            print(f"generator error (seed {seed}): {type(e).__name__}: {e}\n{prog.full_source()}")
            continue
        row["points"] += res.points
        row[res.status] += 1
        if res.second_order_refused:
            row["2nd-order refused"] += 1
            second[_reason(res.second_order_refused)] += 1
        if res.refused:
            refusals[res.refused_construct] += 1
            examples.setdefault(res.refused_construct, _reason(res.refused))
        if res.failures:
            for kind in sorted({k for k, _ in res.failures}):
                kinds[(focus, kind)] += 1
                size = prog.full_source().count("\n")
                key = (focus, kind)
                if key not in smallest or size < smallest[key][0]:
                    smallest[key] = (size, prog, res)
            if args.out:
                with open(os.path.join(args.out, f"{focus}_{seed}.py"), "w") as fh:
                    fh.write(_report_text(prog, res))
    dt = time.time() - t0
    total = collections.Counter()
    for row in rows.values():
        total.update(row)
    print(f"\n{args.programs} programs in {dt:.0f} s (seed {args.seed})\n")
    cols = ["generated", "refused", "checked", "points", "2nd-order refused", "no point", "disagree",
            "generator error"]
    print("| class | " + " | ".join(cols) + " |")
    print("|---" * (len(cols) + 1) + "|")
    for focus in fp.CLASSES + ["total"]:
        row = total if focus == "total" else rows.get(focus)
        if row:
            print(f"| {focus} | " + " | ".join(str(row[c]) for c in cols) + " |")
    print("\n(checked: programs compared at one point or more without a disagreement; points: "
          "points compared, in all programs; disagree: programs with at least one disagreement)\n")
    print("Refusals (first order) by construct:")
    for construct, c in refusals.most_common():
        print(f"  {c:5d}  {construct} (e.g. {examples[construct]})")
    print("\nSecond-order refusals:")
    for reason, c in second.most_common():
        print(f"  {c:5d}  {reason}")
    print("\nDisagreements by class and kind (programs):")
    for (focus, kind), c in sorted(kinds.items()):
        print(f"  {c:5d}  {focus} / {kind}")
    print("\nSmallest failing program per class and kind:")
    for key in sorted(smallest):
        _, prog, res = smallest[key]
        if not args.no_minimize:
            prog = fp.minimize(prog, key[1], budget=100)
            res = fp.check(prog, hvp=key[1] == "hvp")
        print(f"\n==== {key[0]} / {key[1]}")
        print(_report_text(prog, res, only=key[1]))


def _reason(msg):
    """The refusal message without the file:line: prefix and the quoted line."""
    msg = msg.split(": ", 1)[1] if msg.startswith(("/", "<")) else msg
    return msg.split(": `")[0][:140]


def _report_text(prog, res, only=None):
    lines = [f"# seed {prog.seed}, focus {prog.focus}, argument shapes {prog.shapes}"]
    for kind, msg in res.failures:
        if only is None or kind == only:
            lines.append("# " + f"{kind}: {msg}".replace("\n", "\n# "))
            if only:
                break
    return "\n".join(lines) + "\n" + prog.full_source()


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
