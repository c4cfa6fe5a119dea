#!/usr/bin/env python
"""Peak memory (tracemalloc) and length of srcad's gradients against hand-written ones.

    python benchmarks/memory.py                          # print the table
    python benchmarks/memory.py --out docs/benchmarks-memory.md
    python benchmarks/memory.py --cases mlp,elementwise
    python benchmarks/memory.py --json after.json --before before.json   # a "before" column

For every case of ``benchmarks/cases.py`` three calls are measured on the same arguments: the
plain function, the careful hand-written gradient and srcad's gradient (generated and called once
beforehand, so generation is not counted).  Each is run under ``tracemalloc`` (NumPy reports its
array buffers to it) and the peak is taken above what was allocated when the call started: the
memory the call itself needs, result included.  The ratio column is srcad / hand.

The second table counts the lines of the generated gradient (``srcad.source`` for arguments like
the benchmark's, comments and blank lines left out) against the hand-written gradient's body.
"""

import argparse
import datetime
import gc
import inspect
import json
import os
import sys
import tracemalloc

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if HERE not in sys.path:
    sys.path.insert(0, HERE)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)  # this checkout's srcad, not an installed one

import numpy as np  # noqa: E402

import cases as C  # noqa: E402
import srcad  # noqa: E402

TARGET = 1.25


def peak_bytes(fn, args):
    """Bytes allocated at the peak of one call of fn(*args), above what was live at its start."""
    gc.collect()
    tracemalloc.start()
    try:
        start, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        out = fn(*args)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del out
    return peak - start


def code_lines(text):
    """Lines of code: no blank lines, no comment-only lines, no docstring-free counting tricks."""
    lines = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            lines.append(stripped)
    return len(lines)


def hand_lines(fn):
    return code_lines(inspect.getsource(fn))


def measure(case):
    args = case.inputs()
    grad = srcad.grad(case.f, wrt=case.wrt)
    expected = case.grad_hand(*args)
    got = grad(*args)
    exp_t = expected if isinstance(expected, tuple) else (expected,)
    got_t = got if isinstance(got, tuple) else (got,)
    ok = all(np.allclose(a, b, rtol=1e-6, atol=1e-9) for a, b in zip(got_t, exp_t))
    row = {"case": case.name, "ok": ok}
    impls = [("plain", case.f), ("hand", case.grad_hand), ("srcad", grad)]
    if case.grad_hand_noshortcut is not None:
        impls.append(("hand_ns", case.grad_hand_noshortcut))
    for key, fn in impls:
        row[key] = min(peak_bytes(fn, args) for _ in range(3))
    row["input"] = sum(np.asarray(a).nbytes for a in args)
    row["ratio"] = row["srcad"] / max(row["hand"], 1)
    # the target's baseline: the no-shortcut hand gradient where the careful one uses algebra
    # reverse mode cannot know (as for the time target in docs/benchmarks.md)
    row["baseline"] = row.get("hand_ns", row["hand"])
    row["target_ratio"] = row["srcad"] / max(row["baseline"], 1)
    text = srcad.source(grad, *args)
    row["srcad_lines"] = code_lines(text)
    row["del_lines"] = sum(1 for line in text.splitlines() if line.strip().startswith("del "))
    row["hand_lines"] = hand_lines(case.grad_hand)
    if case.grad_hand_noshortcut is not None:
        row["hand_ns_lines"] = hand_lines(case.grad_hand_noshortcut)
    return row


def fmt_bytes(n):
    if n >= 1 << 20:
        return f"{n / (1 << 20):.2f} MiB"
    if n >= 1 << 10:
        return f"{n / (1 << 10):.1f} KiB"
    return f"{n} B"


def md_table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def report(rows, before=None):
    """The memory and lines tables; ``before``: {case: row} of an earlier run (another checkout),
    shown as srcad's peak then and its ratio to the target's baseline."""
    mem = []
    for r in rows:
        flag = "" if r["target_ratio"] <= TARGET else " (over)"
        ns = fmt_bytes(r["hand_ns"]) if "hand_ns" in r else ""
        ns_ratio = f"{r['srcad'] / max(r['hand_ns'], 1):.2f}" if "hand_ns" in r else ""
        row = [f"`{r['case']}`", fmt_bytes(r["input"]), fmt_bytes(r["plain"]),
               fmt_bytes(r["hand"]), ns, fmt_bytes(r["srcad"]), f"{r['ratio']:.2f}", ns_ratio,
               f"{r['target_ratio']:.2f}{flag}", "yes" if r["ok"] else "NO"]
        if before is not None:
            b = before.get(r["case"])
            row[5:6] = [fmt_bytes(b["srcad"]) if b else "", fmt_bytes(r["srcad"])]
            row[9:9] = [f"{b['srcad'] / max(r['baseline'], 1):.2f}" if b else ""]
        mem.append(row)
    lines = []
    for r in rows:
        ns = r.get("hand_ns_lines", "")
        lines.append([f"`{r['case']}`", r["hand_lines"], ns, r["srcad_lines"], r["del_lines"],
                      f"{r['srcad_lines'] / r['hand_lines']:.1f}",
                      f"{r['srcad_lines'] / r['hand_ns_lines']:.1f}" if ns else ""])
    head = ["case", "inputs", "plain f", "hand gradient", "hand (no shortcut)", "srcad gradient",
            "srcad / hand", "srcad / no shortcut", "against the target's baseline", "agrees"]
    if before is not None:
        head[5:6] = ["srcad before", "srcad now"]
        head[9:9] = ["before, against the target's baseline"]
    return (md_table(head, mem),
            md_table(["case", "hand lines", "hand (no shortcut) lines", "srcad lines", "of which `del`",
                      "srcad / hand", "srcad / no shortcut"], lines))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default="", help="comma-separated case names (default: all)")
    ap.add_argument("--out", default="", help="write a Markdown report here")
    ap.add_argument("--json", default="", help="also write the measured rows as JSON here")
    ap.add_argument("--before", default="", help="JSON rows of an earlier run: add a 'before' column")
    ap.add_argument("--before-label", default="an earlier checkout", help="what --before measured")
    opts = ap.parse_args(argv)
    names = [n for n in opts.cases.split(",") if n]
    chosen = [C.CASES_BY_NAME[n] for n in names] if names else C.CASES
    rows = [measure(case) for case in chosen]
    if opts.json:
        with open(opts.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    before = None
    if opts.before:
        with open(opts.before) as fh:
            before = {r["case"]: r for r in json.load(fh)}
    mem, lines = report(rows, before)
    print(mem)
    print()
    print(lines)
    if opts.out:
        worst = max(r["target_ratio"] for r in rows)
        text = [
            "# Peak memory and length of the generated gradients",
            "",
            f"Generated by `python benchmarks/memory.py --out {opts.out}"
            + (f" --before <rows of {opts.before_label}>" if before is not None else "")
            + f"` on {datetime.date.today().isoformat()} (NumPy {np.__version__})."
            + (f" `srcad before` is srcad's peak in {opts.before_label} (same machine, same "
               "arguments), measured by this script there with `--json`." if before is not None else ""),
            "",
            "Peak memory is `tracemalloc`'s peak during one call, above what was live when the "
            "call started (NumPy reports its buffers to tracemalloc), the least of three calls. "
            "srcad's gradient is generated and called once before it is measured. Target: srcad "
            f"within {TARGET}x of the hand-written gradient on every case, against the no-shortcut "
            "hand gradient where the careful one uses algebra reverse mode cannot know (as for "
            "the time target in docs/benchmarks.md); worst here "
            f"{worst:.2f}x. Scalar cases (`chapter_while`, `scalar_for`, `horner`, `horner_xc`, "
            "`scalar_temps`) and the 3-vector `vector_while` allocate a few KiB either way (Python "
            "objects and the tape), not arrays.",
            "",
            mem,
            "",
            "## Lines",
            "",
            "Lines of code (no blank or comment lines) of `srcad.source(grad, *args)` (the variant "
            "run for the benchmark's arguments) against the hand-written gradient's, signature "
            "included in both.",
            "",
            lines,
            "",
        ]
        with open(opts.out, "w") as fh:
            fh.write("\n".join(text))
    return 0


if __name__ == "__main__":
    sys.exit(main())
