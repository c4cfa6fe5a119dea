"""The examples run (as users run them, in a subprocess) and print the right numbers."""

import importlib
import os
import re
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")

# Make `import matplotlib` fail, as on a machine without the `examples` extra.
NO_MPL = "import sys, runpy; sys.modules['matplotlib'] = None; sys.argv = {argv!r}; " \
         "runpy.run_path({path!r}, run_name='__main__')"


def run_example(name, *args, block_matplotlib=False, cwd=None):
    path = os.path.join(EXAMPLES, name)
    if block_matplotlib:
        cmd = [sys.executable, "-c", NO_MPL.format(argv=[path, *args], path=path)]
    else:
        cmd = [sys.executable, path, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=cwd or ROOT)


def import_example(name):
    """The example module ``examples/<name>.py``, imported (its ``__main__`` part does not run)."""
    sys.path.insert(0, EXAMPLES)
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(EXAMPLES)


def array_after(text, label):
    """The array printed right after ``label`` on its line."""
    line = next(l for l in text.splitlines() if label in l)
    body = line.split(label, 1)[1]
    body = body[body.index("["):body.index("]") + 1]
    return np.array([float(v) for v in body.strip("[]").split()])


def number_after(text, label):
    line = next(l for l in text.splitlines() if label in l)
    return float(re.search(r"[-+]?\d+(\.\d*)?(e[-+]?\d+)?", line.split(label, 1)[1]).group())


@pytest.fixture(scope="module")
def tour():
    proc = run_example("autograd_tour.py", block_matplotlib=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    return proc.stdout


def test_tour_simple_example(tour):
    x = np.arange(4.0)
    assert np.array_equal(array_after(tour, "grad of 2*dot(x, x):"), 4 * x)
    assert np.array_equal(array_after(tour, "grad of x.sum():"), np.ones(4))
    assert "def grad_two_dot(x, *, dout=1.0):" in tour


def test_tour_non_scalar_and_vjp(tour):
    x = np.arange(4.0)
    assert np.array_equal(array_after(tour, "grad of x * x      :"), 2 * x)
    assert np.array_equal(array_after(tour, "grad of (u * u).sum:"), 2 * x)
    v = np.array([1.0, 0.0, 0.5, -1.0])
    assert np.allclose(array_after(tour, "pullback([ 1.   0.   0.5 -1. ]):"), 2 * x * v)


def test_tour_detach(tour):
    x = np.arange(4.0)
    assert np.array_equal(array_after(tour, "grad of z.sum():"), x * x)
    assert np.array_equal(array_after(tour, "grad of y.sum() with y = x * x:"), 2 * x)
    assert np.array_equal(array_after(tour, "grad(grad(detached)) ="), np.zeros(4))


def test_tour_control_flow_and_modes(tour):
    line = next(l for l in tour.splitlines() if l.startswith("a = ") and "grad f(a)" in l)
    g = float(line.split("grad f(a) = ")[1].split(",")[0])
    ratio = float(line.split("f(a) / a = ")[1].split(",")[0])
    assert g == ratio and line.endswith("equal: True")
    assert "is_training() outside: False" in tour
    assert "is_training() inside a function srcad differentiates: True" in tour
    assert "matches the hand-derived gradient with that dropout mask: True" in tour
    assert not re.search(r"(equal|matches.*|same): False", tour)


def test_tour_exercise_1_measures_the_second_derivative(tour):
    first = number_after(tour, "first derivative:")
    second = number_after(tour, "second derivative:")
    assert second > first > 0
    lines1 = number_after(tour, "generated code: first derivative")
    lines2 = float(re.search(r"second derivative (\d+) lines", tour).group(1))
    assert lines2 > lines1 > 0
    check = re.search(r"second derivative at 0.7 = (\S+), finite differences of the first: (\S+)", tour)
    assert float(check.group(1)) == pytest.approx(float(check.group(2)), rel=1e-6)


def test_tour_exercises_2_to_5(tour):
    assert "same: True" in tour
    assert tour.count("grad == f(a) / a: True") >= 2
    assert "Jacobian via vjp is k * I: True" in tour
    assert "matches 1/(2 sqrt a): True" in tour
    rows = re.findall(r"x = ([-+]\d\.\d+)  sin\(x\) = ([-+]\d\.\d+)  d/dx = ([-+]\d\.\d+)", tour)
    assert len(rows) == 9
    for x, s, d in rows:
        assert float(d) == pytest.approx(np.cos(float(x)), abs=1e-4)
        assert float(s) == pytest.approx(np.sin(float(x)), abs=1e-4)


def test_second_derivative_cost_numbers():
    autograd_tour = import_example("autograd_tour")
    m = autograd_tour.second_derivative_cost(repeats=20)
    assert m["lines_d2"] > 2 * m["lines_d1"]
    assert m["t_d2"] > m["t_d1"] > 0


def test_control_flow_example():
    proc = run_example("control_flow.py")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for line in out.splitlines():
        if line.startswith("scalar a = "):
            g = float(line.split("grad f(a) = ")[1].split(",")[0])
            r = float(line.split("f(a) / a = ")[1])
            assert g == pytest.approx(r, rel=1e-9)
    assert out.count("grad == f(a) / a: True") == 4
    assert "Jacobian via vjp is k * I: True" in out
    errors = [float(e) for e in re.findall(r"d/da = \S+, 1/\(2 sqrt a\) = \S+, error (\S+)", out)]
    assert len(errors) == 3 and max(errors) < 1e-10
    steps = re.findall(r"n = (\d): value error (\S+), derivative error (\S+)", out)
    derr = [float(d) for _, _, d in steps]
    assert derr[0] > derr[1] > derr[2] and derr[-1] < 1e-12


def test_control_flow_functions_directly():
    control_flow = import_example("control_flow")
    import srcad
    for a in (0.1, 3.0, 80.0):
        assert srcad.grad(control_flow.newton_sqrt)(a) == pytest.approx(0.5 / np.sqrt(a), rel=1e-9)
        assert srcad.check_grad(control_flow.newton_sqrt_steps, a, 3) < 1e-6


def test_sin_derivative_without_matplotlib(tmp_path):
    proc = run_example("sin_derivative.py", str(tmp_path / "x.png"), block_matplotlib=True)
    assert proc.returncode == 2
    assert "needs matplotlib" in proc.stderr and ".[examples]" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "x.png").exists()


def test_sin_derivative_values_without_cos():
    sin_derivative = import_example("sin_derivative")
    x, y, dy = sin_derivative.curves(50)
    assert np.allclose(dy, np.cos(x))
    # the differentiated function and the plotted curves never write cos (only the printed check does)
    import inspect
    for fn in (sin_derivative.f, sin_derivative.curves):
        assert "cos" not in inspect.getsource(fn)


def test_sin_derivative_png(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "sin.png"
    proc = run_example("sin_derivative.py", str(out))
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 5000
    assert number_after(proc.stdout, "max |df/dx - cos(x)| =") < 1e-12


def test_sin_derivative_default_path(tmp_path):
    pytest.importorskip("matplotlib")
    proc = run_example("sin_derivative.py", cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "sin_derivative.png").exists()


def test_dask_regression_small():
    """examples/dask_regression.py with 8,000 rows (blocks of 1,000) and 3 steps: the loss falls at
    every step and the fit points the way of the true weights. In-process, the same functions: the
    data is generated block by block and the gradient equals NumPy's on the computed arrays."""
    pytest.importorskip("dask.array")
    env = dict(os.environ, SRCAD_EXAMPLE_ROWS="8000", PYTHONPATH=ROOT)   # this checkout's srcad
    proc = subprocess.run([sys.executable, os.path.join(EXAMPLES, "dask_regression.py"), "--steps", "3"],
                          capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "8000 x 20 float64" in out and "in 8 blocks of at most 1000 rows" in out
    losses = [float(v) for v in re.findall(r"^step +\d+/3 \[[#.]+\] loss (\S+)", out, re.M)]
    assert len(losses) == 3 and all(a > b for a, b in zip(losses, losses[1:]))
    assert losses[0] == pytest.approx(np.log(2.0), abs=1e-6)           # zero weights: log 2
    assert number_after(out, "cosine(fitted w, true w) =") > 0.9
    assert "def value_and_grad_loss(w, b, X, y, lam, *, dout=1.0):" in out

    import dask
    import srcad
    ex = import_example("dask_regression")
    X, y = ex.lazy_data(3000, 5, 700)
    assert X.chunks[0] == (700, 700, 700, 700, 200)
    x_np, y_np = dask.compute(X, y)
    np.testing.assert_array_equal(x_np[700:1400], ex.features_block(1, 700, 5))   # block by block
    w, b = np.linspace(-0.5, 0.5, 5), 0.2
    g = srcad.grad(ex.loss, wrt=(0, 1))(w, b, X, y, 0.01)
    assert isinstance(g[0], dask.array.Array)
    want = srcad.grad(ex.loss, wrt=(0, 1))(w, b, x_np, y_np, 0.01)
    np.testing.assert_allclose(dask.compute(g)[0][0], want[0], rtol=1e-10)
    assert float(dask.compute(g)[0][1]) == pytest.approx(want[1], rel=1e-10)
    assert srcad.check_grad(lambda w: ex.loss(w, b, x_np, y_np, 0.01), w) < 1e-6
