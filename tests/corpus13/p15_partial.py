"""A loss built with functools.partial."""
import functools

import numpy as np


def scaled_softplus(x, scale):
    return np.log1p(np.exp(scale * x)) / scale


def loss(x):
    act = functools.partial(scaled_softplus, scale=3.0)
    return np.sum(act(x) * x)


def make_input():
    return np.array([0.1, -0.7, 0.4])
