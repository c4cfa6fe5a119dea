"""A tour of the automatic-differentiation chapter (d2l, "Automatic Differentiation") with srcad.

    python3 -m pip install -e . && python3 examples/autograd_tour.py

Every section of the chapter, then every exercise, with srcad. MXNet and PyTorch *record* a graph
while the code runs and walk it backwards on ``backward()``; srcad instead reads your function's
source once and writes a new Python function that computes the derivative. The gradient is that
function's return value: there is no ``x.grad`` to allocate, zero or overwrite, and no graph.
Needs only NumPy (the plot of exercise 5 is ``examples/sin_derivative.py``, with matplotlib).
"""

import os
import statistics
import sys
import time

import numpy as np

import srcad

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import control_flow  # noqa: E402  (the chapter's f and exercise 4, next to this file)

np.set_printoptions(precision=4, suppress=True)


def section(title):
    print()
    print(title)
    print("=" * len(title))


def show(label, df, *example_args):
    """Print the generated source; with example arguments, the variant srcad runs for them."""
    print(f"--- generated source of {label} ---")
    print(srcad.source(df, *example_args).rstrip())
    print("---")


# ---------------------------------------------------------------------------------------- 1
def two_dot(x):
    return 2 * np.dot(x, x)


def total(x):
    return x.sum()


def a_simple_example():
    section("1. A simple example: y = 2 x.x")
    x = np.arange(4.0)
    print("x =", x)
    print("y =", two_dot(x))
    dy = srcad.grad(two_dot)
    print("grad of 2*dot(x, x):", dy(x))
    print("equals 4 * x:", bool(np.array_equal(dy(x), 4 * x)))
    show("grad(two_dot) for a vector x", dy, x)
    print("The gradient is a new array returned by the call, shaped like x; no memory is attached to x")
    print("and nothing accumulates, so there is nothing to zero before the next gradient:")
    print("grad of x.sum():", srcad.grad(total)(x))


# ---------------------------------------------------------------------------------------- 2
def square(x):
    return x * x          # a vector


def square_sum(u):
    return (u * u).sum()  # a scalar


def backward_for_non_scalar():
    section("2. Backward for non-scalar variables")
    x = np.arange(4.0)
    g_vec = srcad.grad(square)(x)
    g_sum = srcad.grad(square_sum)(x)
    print("MXNet's view, y.backward() on a vector sums it first:")
    print("  grad of x * x      :", g_vec)
    print("  grad of (u * u).sum:", g_sum)
    print("  equal:", bool(np.array_equal(g_vec, g_sum)))
    print("PyTorch's view, y.backward(v) with an explicit v (a vector-Jacobian product): srcad.vjp")
    y, pullback = srcad.vjp(square)(x)
    print("  y =", y)
    print("  pullback(ones)        :", pullback(np.ones(4)), "(the same as the sum)")
    v = np.array([1.0, 0.0, 0.5, -1.0])
    print(f"  pullback({v}):", pullback(v), "= 2 * x * v:", bool(np.allclose(pullback(v), 2 * x * v)))


# ---------------------------------------------------------------------------------------- 3
def detached(x):
    y = x * x
    u = srcad.stop_gradient(y)   # the chapter's y.detach()
    z = u * x
    return z.sum()


def not_detached(x):
    y = x * x
    return y.sum()


def detaching_computation():
    section("3. Detaching computation: srcad.stop_gradient")
    x = np.arange(4.0)
    u = x * x
    g = srcad.grad(detached)(x)
    print("z = stop_gradient(x * x) * x; grad of z.sum():", g)
    print("equals u = x * x (u treated as a constant):", bool(np.array_equal(g, u)))
    print("grad of y.sum() with y = x * x:", srcad.grad(not_detached)(x),
          "equals 2 * x:", bool(np.array_equal(srcad.grad(not_detached)(x), 2 * x)))
    show("grad(detached): no adjoint flows into y", srcad.grad(detached), x)
    print("stop_gradient has a zero derivative in every order: grad(grad(detached)) =",
          srcad.grad(srcad.grad(detached))(x))


# ---------------------------------------------------------------------------------------- 4
def python_control_flow():
    section("4. Computing the gradient of Python control flow")
    print("f doubles b while its norm is below 1000, then picks a branch on b.sum();")
    print("f(a) = k * a for a k that depends on a, so grad f(a) must be f(a) / a.")
    a = np.float64(np.random.default_rng(0).normal())   # np.float64: the chapter's f calls b.sum()
    d = control_flow.f(a)
    g = srcad.grad(control_flow.f)(a)
    print(f"a = {a:.6f}: grad f(a) = {g:.1f}, f(a) / a = {d / a:.1f}, equal: {bool(np.isclose(g, d / a))}")
    show("grad(f): the forward sweep counts the loop trips and keeps the branch; "
         "the backward sweep replays them", srcad.grad(control_flow.f))


# ---------------------------------------------------------------------------------------- 5
def tiny_net(w, x, rng, p=0.5):
    h = np.tanh(x * w)
    if srcad.is_training():          # dropout only while srcad runs the code to differentiate it
        keep = rng.random(h.shape) > p
        h = h * keep / (1 - p)
    return np.sum(h)


def training_and_prediction():
    section("5. Training mode and prediction mode: srcad.is_training()")
    print("is_training() outside:", srcad.is_training())

    def probe(x):
        print("is_training() inside a function srcad differentiates:", srcad.is_training())
        return x * 2.0
    # (srcad reads probe's source from this file, like any function)
    srcad.grad(probe)(1.0)
    w = np.array([0.3, -0.2, 0.5, 1.0])
    x = np.array([1.0, 2.0, -1.0, 0.5])
    print("prediction, a plain call (no dropout):", tiny_net(w, x, np.random.default_rng(0)))
    g = srcad.grad(tiny_net)(w, x, np.random.default_rng(0))
    print("training, grad w.r.t. w (dropout zeroes some units):", g)
    keep = np.random.default_rng(0).random(4) > 0.5
    expected = x * (1 - np.tanh(x * w) ** 2) * keep / 0.5
    print("matches the hand-derived gradient with that dropout mask:", bool(np.allclose(g, expected)))
    print("The flag lives in a context variable: another thread calling tiny_net plainly at the same")
    print("time sees False.")


# ---------------------------------------------------------------------------------------- exercises
def wavy(x):
    y = x
    for i in range(5):
        y = np.sin(y) * x + y * 0.5
    return y


def median_time(fn, arg, repeats=300):
    fn(arg)  # build (transform and compile) outside the timing
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(arg)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def second_derivative_cost(repeats=300):
    """Exercise 1: time and generated-code size of the first and second derivative of ``wavy``."""
    d1 = srcad.grad(wavy)
    d2 = srcad.grad(d1)
    t0, t1, t2 = (median_time(fn, 0.7, repeats) for fn in (wavy, d1, d2))
    n1 = len(srcad.source(d1).splitlines())
    n2 = len(srcad.source(d2).splitlines())
    return {"t_f": t0, "t_d1": t1, "t_d2": t2, "lines_d1": n1, "lines_d2": n2}


def exercise_1():
    print("\nExercise 1. Why is the second derivative more expensive than the first?")
    m = second_derivative_cost()
    print("  f = wavy (5 loop steps). Median of 300 calls on this machine:")
    print(f"  f: {m['t_f'] * 1e6:.1f} us, first derivative: {m['t_d1'] * 1e6:.1f} us, "
          f"second derivative: {m['t_d2'] * 1e6:.1f} us")
    print(f"  generated code: first derivative {m['lines_d1']} lines, second derivative {m['lines_d2']} lines")
    print(f"  ratios: second/first time {m['t_d2'] / m['t_d1']:.1f}x, lines {m['lines_d2'] / m['lines_d1']:.1f}x")
    print("  Why: grad(grad(f)) is the reverse-mode derivative of grad(f)'s code, which already holds f's")
    print("  forward sweep *and* its backward sweep. Differentiating it runs all of that forward (saving")
    print("  what the new backward sweep needs on a stack), then a backward sweep over both; each")
    print("  operation of the first derivative gets its own adjoint code. And the chain rule makes")
    print("  products of derivatives (terms like cos(y) * dy) whose derivatives have two terms each.")
    d2 = srcad.grad(srcad.grad(wavy))
    e = 1e-5
    fd = (srcad.grad(wavy)(0.7 + e) - srcad.grad(wavy)(0.7 - e)) / (2 * e)
    print(f"  check: second derivative at 0.7 = {d2(0.7):.8f}, finite differences of the first: {fd:.8f}")


def exercise_2():
    print("\nExercise 2. Run backward twice.")
    x = np.arange(4.0)
    df = srcad.grad(two_dot)
    first, second = df(x), df(x)
    print("  first call:", first, " second call:", second, " same:", bool(np.array_equal(first, second)))
    print("  PyTorch frees the recorded graph after backward() and a second call fails (\"Trying to")
    print("  backward through the graph a second time\"); MXNet overwrites x.grad. srcad records nothing")
    print("  between calls: the derivative is an ordinary function whose stack is made inside each call,")
    print("  so calling it again recomputes everything and gives the same answer.")


def exercise_3():
    print("\nExercise 3. The control-flow example with a vector or a matrix a.")
    print("  f(a) is then an array, not a scalar; srcad.grad differentiates its sum, and since")
    print("  f(a) = k * a with one k for the whole array, the gradient is k everywhere and the Jacobian is")
    print("  k times the identity.")
    control_flow.chapter_vector((4,))
    control_flow.chapter_vector((2, 3))


def exercise_4():
    print("\nExercise 4. A redesigned control-flow example (examples/control_flow.py):")
    control_flow.redesigned()


def sine(x):
    return np.sin(x)


def exercise_5():
    print("\nExercise 5. sin and its derivative, computed without writing cos:")
    x = np.linspace(-np.pi, np.pi, 9)
    dx = srcad.grad(sine)(x)       # elementwise: the gradient of sum(sin(x)) holds sin'(x[i])
    for xi, yi, di in zip(x, sine(x), dx):
        print(f"  x = {xi:+.4f}  sin(x) = {yi:+.4f}  d/dx = {di:+.4f}")
    print(f"  max |d/dx - cos(x)| = {np.max(np.abs(dx - np.cos(x))):.1e}")
    print("  plot: python3 examples/sin_derivative.py sin_derivative.png  (needs matplotlib)")


def main():
    print(f"srcad {srcad.__version__}: the automatic-differentiation chapter")
    a_simple_example()
    backward_for_non_scalar()
    detaching_computation()
    python_control_flow()
    training_and_prediction()
    section("Exercises")
    exercise_1()
    exercise_2()
    exercise_3()
    exercise_4()
    exercise_5()


if __name__ == "__main__":
    main()
