"""A fixed-point solver that takes the map as an argument (autograd's fixed_points.py)."""
import numpy as np


def newton_sqrt_step(a, x):
    return 0.5 * (x + a / x)


def fixed_point(f, a, x0, steps=30):
    x = x0
    for _ in range(steps):
        x = f(a, x)
    return x


def loss(a):
    return np.sum(fixed_point(newton_sqrt_step, a, np.ones_like(a)))


def make_input():
    return np.array([2.0, 3.0, 0.7])
