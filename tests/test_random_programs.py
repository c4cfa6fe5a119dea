"""Random programs (tests/programs.py) differentiated by srcad and checked against central finite
differences in float64.

Each example is one generated module (a function ``f(x, t)`` and up to two helpers, on average
about 13 statements and 28 source lines, up to ~90; see docs/reliability.md for the construct
counts), checked at up to three random points that are at least ``MARGIN`` away from every branch
switch and kink. The normal suite runs the "ci" hypothesis profile (25 derandomized examples per
test, 4 tests: 100 programs); ``SRCAD_LONG=1`` runs 500 per test.

A mismatch is reported with the program source and the point so it can be minimised by hand into
tests/test_regressions.py.

``test_new_grammar`` runs the second generator, tests/fuzz_programs.py (shapes and broadcasting,
names rebound to subscripts of themselves, shared adjoints, views and aliases with in-place
updates, broadcasting and repeated-index writes, modulo, lists/tuples/dicts, keyword arguments,
``out=``, helpers in several modules), one parametrization per grammar class: 4 examples each in
CI (one point each), 1,000 each (10,000 programs, two points each) with ``SRCAD_LONG=1``. Each example retries new programs until
one is checked at a point (refused programs are counted, not failed). ``python3
tests/fuzz_report.py`` runs the same checks and tabulates them per class.

Every example checks at least one point: a program without a usable point is rejected
(``assume``), and hypothesis draws another. The counts (programs, points, refused,
disagreements) are printed at the end of the run (tests/conftest.py).
"""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings, strategies as st

import fuzz_programs
import srcad
from programs import programs

MARGIN = 1e-3       # a finite-difference step (1e-6) moves no comparison by this much
POINTS = 3
TRIES = 20          # random points tried per program to find POINTS usable ones
TALLY = fuzz_programs.TALLY


def _points(seed):
    rng = np.random.default_rng(seed)
    for _ in range(TRIES):
        yield rng.normal(size=4), float(rng.normal())


def _usable(prog, x, t):
    try:
        # an intermediate overflow or NaN (inf - inf) that a later statement overwrites leaves the
        # value finite but makes the gradient 0 * inf = NaN: such points cannot judge srcad
        with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
            value, margin = prog.margins(x, t)
    except (FloatingPointError, OverflowError, ZeroDivisionError):
        return False
    value = np.asarray(value, dtype=float)
    return margin > MARGIN and np.all(np.isfinite(value)) and np.max(np.abs(value), initial=0) < 1e6


def _close(a, b, scale):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    assert a.shape == b.shape, (a.shape, b.shape)
    return np.allclose(a, b, rtol=1e-4, atol=1e-6 * scale)


def _check_reverse(prog, x, t):
    f = prog.f
    wrt = prog.wrt
    xs = x.copy()
    g = srcad.grad(f, wrt=wrt)(xs, t)
    np.testing.assert_array_equal(xs, x, err_msg="srcad.grad mutated the input")
    value, g2 = srcad.value_and_grad(f, wrt=wrt)(x.copy(), t)
    expect = f(x.copy(), t)
    np.testing.assert_allclose(value, expect, rtol=1e-12, atol=1e-12)
    n = srcad.numerical_grad(lambda x_, t_: f(x_.copy(), t_), (x, t), wrt=wrt, eps=1e-6)
    gs, g2s, ns = (g, g2, n) if isinstance(wrt, tuple) else ((g,), (g2,), (n,))
    scale = 1.0 + float(np.max(np.abs(expect))) + max(float(np.max(np.abs(v))) for v in ns)
    for a, a2 in zip(gs, g2s):
        np.testing.assert_array_equal(a, a2, err_msg="grad and value_and_grad disagree")
    if not all(_close(a, b, scale) for a, b in zip(gs, ns)):
        # Finite differences are only a reference where they have converged: a steep program
        # (nested sin iterations, cubes) can need a step far below 1e-6 (SRCAD_LONG found one
        # whose estimates at 1e-6, 1e-7 and 1e-8 all differ, converging to srcad's value). Where a
        # smaller step disagrees with 1e-6 the point cannot judge srcad, and is skipped.
        n2 = srcad.numerical_grad(lambda x_, t_: f(x_.copy(), t_), (x, t), wrt=wrt, eps=1e-7)
        ns2 = n2 if isinstance(wrt, tuple) else (n2,)
        if not all(_close(b, b2, scale) for b, b2 in zip(ns, ns2)):
            return g
    for a, b in zip(gs, ns):
        assert _close(a, b, scale), (f"srcad disagrees with finite differences at x={x!r}, "
                                     f"t={t!r}, wrt={wrt}:\nsrcad:   {a}\nnumeric: {b}\n{prog.source}")
    return g


def _run(prog, seed, check):
    checked = 0
    TALLY["old grammar: programs"] += 1
    for x, t in _points(seed):
        if checked >= POINTS:
            break
        if not _usable(prog, x, t):
            continue
        check(prog, x, t)
        checked += 1
        TALLY["old grammar: points checked"] += 1
    # every example checks at least one point: hypothesis draws another program otherwise
    assume(checked > 0)
    return checked


# No shrinking: each step recompiles a program and it takes minutes; a failure prints the whole
# program and point, which is minimised by hand into tests/test_regressions.py.
SETTINGS = dict(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                      HealthCheck.filter_too_much],
                phases=[Phase.explicit, Phase.reuse, Phase.generate])


@settings(**SETTINGS)
@given(programs(), st.integers(0, 2 ** 32 - 1))
def test_random_programs(prog, seed):
    _run(prog, seed, _check_reverse)


@settings(**SETTINGS)
@given(programs(helpers=False, max_stmts=8, max_depth=3), st.integers(0, 2 ** 32 - 1))
def test_random_programs_deep_control_flow(prog, seed):
    _run(prog, seed, _check_reverse)


@settings(**SETTINGS)
@given(programs(max_stmts=3, max_depth=1), st.integers(0, 2 ** 32 - 1))
def test_random_programs_small(prog, seed):
    _run(prog, seed, _check_reverse)


def _check_forward(prog, x, t):
    f = prog.f
    rng = np.random.default_rng(int(abs(t) * 1e6))
    dx, dt = rng.normal(size=4), float(rng.normal())
    value, tangent = srcad.jvp(f, (x.copy(), t), (dx, dt))
    eps = 1e-6
    num = (np.asarray(f(x + eps * dx, t + eps * dt)) - np.asarray(f(x - eps * dx, t - eps * dt))) / (2 * eps)
    expect = f(x.copy(), t)
    np.testing.assert_allclose(value, expect, rtol=1e-12, atol=1e-12)
    scale = 1.0 + float(np.max(np.abs(expect))) + float(np.max(np.abs(num)))
    assert _close(tangent, num, scale), (f"jvp disagrees with finite differences at x={x!r}, "
                                         f"t={t!r}:\nsrcad:   {tangent}\nnumeric: {num}\n{prog.source}")


@settings(**SETTINGS)
@given(programs(), st.integers(0, 2 ** 32 - 1))
def test_random_programs_forward(prog, seed):
    _run(prog, seed, _check_forward)


# ------------------------------------------------------------------------------------------------
# the second grammar (tests/fuzz_programs.py)

LONG = bool(os.environ.get("SRCAD_LONG"))
NEW_EXAMPLES = 1000 if LONG else 2      # per class: 17,000 programs with SRCAD_LONG=1
NEW_POINTS = 2 if LONG else 1           # a checked program costs ~0.5 s, mostly its six transforms
NEW_RETRIES = 8     # programs tried per example until one is checked at a point


@pytest.mark.parametrize("focus", fuzz_programs.CLASSES)
@settings(max_examples=NEW_EXAMPLES, deadline=None, derandomize=not LONG, **SETTINGS)
@given(seed=st.integers(0, 2 ** 32 - 1))
def test_new_grammar(focus, seed):
    for attempt in range(NEW_RETRIES):
        prog = fuzz_programs.generate(seed * NEW_RETRIES + attempt, focus)
        res = fuzz_programs.check(prog, n_points=NEW_POINTS)
        TALLY["new grammar: programs"] += 1
        TALLY["new grammar: points checked"] += res.points
        if res.refused:
            TALLY["new grammar: refused"] += 1
        if res.second_order_refused:
            TALLY["new grammar: second order refused"] += 1
        if res.failures:
            TALLY["new grammar: disagreements"] += 1
            kind, msg = res.failures[0]
            raise AssertionError(f"srcad {kind} disagreement ({len(res.failures)} in all): {msg}\n"
                                 f"{prog!r}")
        if res.points:
            return
    assume(False)
