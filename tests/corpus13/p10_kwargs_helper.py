"""A layer helper configured by **options."""
import numpy as np


def layer(x, **options):
    return np.tanh(options["scale"] * x) + options["shift"]


def loss(x):
    opts = {"scale": 2.0, "shift": 0.5}
    return np.sum(layer(x, **opts) * x)


def make_input():
    return np.array([0.3, -0.6, 0.9])
