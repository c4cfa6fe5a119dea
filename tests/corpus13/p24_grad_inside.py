"""Unrolled gradient descent: srcad.grad(energy) called inside the differentiated loss."""
import numpy as np

import srcad


def energy(z):
    return np.sum(z ** 4 - z ** 2)


def loss(z0):
    z = z0
    for _ in range(3):
        z = z - 0.05 * srcad.grad(energy)(z)
    return np.sum(z ** 2)


def make_input():
    return np.array([0.3, -0.2, 0.7])
