"""Applying a function to a list with map()."""
import numpy as np


def loss(x):
    parts = [x[:2], x[2:]]
    outs = list(map(np.tanh, parts))
    return np.sum(outs[0]) * np.sum(outs[1])


def make_input():
    return np.array([0.1, -0.7, 0.4, 0.8])
