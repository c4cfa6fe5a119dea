"""Named parameters built with a dict comprehension."""
import numpy as np

NAMES = ["a", "b", "c"]


def loss(x):
    params = {name: x[i] for i, name in enumerate(NAMES)}
    return params["a"] * np.exp(params["b"]) + params["c"] ** 2


def make_input():
    return np.array([0.3, -0.2, 0.7])
