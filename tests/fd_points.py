"""Points and central differences shared by the staleness and name-resolution tests."""

import numpy as np

SHAPES = [(), (3,), (2, 3)]


def point(shape, seed=0):
    r = np.random.default_rng(seed)
    return float(r.uniform(0.2, 0.9)) if shape == () else r.uniform(0.2, 0.9, size=shape)


def numeric_grad(f, x, eps=1e-6):
    """Central differences of sum(f) in float64."""
    x = np.asarray(x, dtype=np.float64)
    g = np.zeros_like(x)
    for i in np.ndindex(*x.shape):
        e = np.zeros_like(x)
        e[i] = eps
        xp, xm = (x + e, x - e) if x.shape else (float(x + e), float(x - e))
        g[i] = (np.sum(f(xp)) - np.sum(f(xm))) / (2 * eps)
    return g
