"""Gradients through Python control flow, with srcad (the chapter's f, and exercises 3 and 4).

    python3 examples/control_flow.py

The chapter's ``f`` doubles its input until its norm passes 1000, then maybe scales it by 100: the
number of loop trips and the branch taken depend on the input, yet ``f(a) = k * a`` for a constant
``k`` that depends on ``a``. So the gradient must be ``f(a) / a``. srcad's generated code records
the trip count and the branch in the forward sweep and replays them backwards.
"""

import numpy as np

import srcad


def f(a):
    b = a * 2
    while np.linalg.norm(b) < 1000:
        b = b * 2
    if b.sum() > 0:
        c = b
    else:
        c = 100 * b
    return c


# Exercise 4, a redesigned control-flow example: Newton's method for sqrt(a). The while loop runs
# until the iterate has converged, so the number of trips depends on ``a``; srcad differentiates the
# algorithm that ran, and its derivative approaches the true derivative 1 / (2 sqrt(a)).
def newton_sqrt(a):
    x = 0.5 * (a + 1.0)
    while np.max(np.abs(x * x - a)) > 1e-12 * np.max(a):
        x = 0.5 * (x + a / x)
    return x


# The same algorithm stopped after a fixed number of steps ``n`` (a for loop), to watch the
# derivative of the algorithm converge to the derivative of the function it approximates.
def newton_sqrt_steps(a, n):
    x = 0.5 * (a + 1.0)
    for i in range(n):
        x = 0.5 * (x + a / x)
    return x


def newton_trips(a):
    """How many times the while loop of ``newton_sqrt`` runs (plain Python, for the printout)."""
    x, trips = 0.5 * (a + 1.0), 0
    while np.max(np.abs(x * x - a)) > 1e-12 * np.max(a):
        x, trips = 0.5 * (x + a / x), trips + 1
    return trips


def chapter_scalar(a=None):
    a = np.float64(np.random.default_rng(0).normal()) if a is None else np.float64(a)
    d = f(a)
    g = srcad.grad(f)(a)
    print(f"scalar a = {a:.6f}: f(a) = {d:.6f}, grad f(a) = {g:.6f}, f(a) / a = {d / a:.6f}")
    print(f"  grad == f(a) / a: {bool(np.isclose(g, d / a, rtol=1e-12))}")
    return a, g


def chapter_vector(shape=(4,)):
    rng = np.random.default_rng(1)
    a = rng.normal(size=shape)
    d = f(a)                         # no longer a scalar
    g = srcad.grad(f)(a)             # the gradient of d.sum()
    k = d / a                        # the same k in every position
    print(f"{'vector' if len(shape) == 1 else 'matrix'} a of shape {shape}: k = f(a) / a = {k.flat[0]:.1f} "
          f"everywhere: {bool(np.allclose(k, k.flat[0]))}")
    print(f"  grad of f(a).sum() = {np.array2string(g.ravel(), precision=1)}")
    print(f"  grad == f(a) / a: {bool(np.allclose(g, k))}")
    # The full derivative is a Jacobian: row i is the gradient of d[i], a pullback of the i-th unit
    # vector. Since f(a) = k a, it is k times the identity, and the gradient of the sum is its
    # column sums.
    if len(shape) == 1:
        value, pullback = srcad.vjp(f)(a)
        jac = np.stack([pullback(e) for e in np.eye(a.size)])
        print(f"  Jacobian via vjp is k * I: {bool(np.allclose(jac, k.flat[0] * np.eye(a.size)))}")
    return a, g


def redesigned():
    print("Exercise 4: Newton's method for sqrt(a), a while loop that stops when converged")
    for a in (0.25, 2.0, 50.0):
        g = srcad.grad(newton_sqrt)(a)
        exact = 0.5 / np.sqrt(a)
        print(f"  a = {a:5.2f}: {newton_trips(a)} trips, sqrt = {newton_sqrt(a):.12f}, "
              f"d/da = {g:.12f}, 1/(2 sqrt a) = {exact:.12f}, error {abs(g - exact):.1e}")
    a = np.array([0.25, 2.0, 50.0])
    g = srcad.grad(newton_sqrt)(a)
    print(f"  vector a = {a}: gradient {g}, matches 1/(2 sqrt a): {bool(np.allclose(g, 0.5 / np.sqrt(a)))}")
    print("  the derivative of the algorithm converges with it (a = 2, fixed number of steps n):")
    a = 2.0
    for n in range(1, 7):
        value = newton_sqrt_steps(a, n)
        g = srcad.grad(newton_sqrt_steps)(a, n)
        print(f"    n = {n}: value error {abs(value - np.sqrt(a)):.1e}, "
              f"derivative error {abs(g - 0.5 / np.sqrt(a)):.1e}")
    print("  Analysis: srcad differentiates the steps that ran, not the function they approximate;")
    print("  the stopping test is not differentiated (its outcome is recorded), so the derivative is")
    print("  exact for the algorithm, and it converges to 1/(2 sqrt a) about as fast as the value does.")


def main():
    print("The chapter's control-flow function f:")
    chapter_scalar()
    chapter_scalar(-0.37)
    chapter_vector((4,))
    chapter_vector((2, 3))
    print()
    redesigned()


if __name__ == "__main__":
    main()
