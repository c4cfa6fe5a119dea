"""Reparameterised noise drawn with rs.randn(*x.shape), fixed seed."""
import numpy as np


def loss(mu):
    rs = np.random.RandomState(0)
    eps = rs.randn(*mu.shape)
    z = mu + 0.3 * eps
    return np.sum(z ** 2 + np.sin(z))


def make_input():
    return np.array([[0.1, 0.5], [-0.4, 0.2]])
