"""An activation passed to a helper as an argument (apply(x, act))."""
import numpy as np


def apply(x, act):
    return act(x) * 2.0


def swish(v):
    return v / (1.0 + np.exp(-v))


def loss(x):
    return np.sum(apply(x, np.tanh) + apply(x, swish))


def make_input():
    return np.array([0.2, -0.1, 0.4])
