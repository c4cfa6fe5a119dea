"""A callable layer object (__call__) applied twice."""
import numpy as np


class Dense:
    def __init__(self, W):
        self.W = W

    def __call__(self, h):
        return np.sin(h @ self.W)


LAYER = Dense(np.array([[0.5, -0.3], [0.2, 0.8]]))


def loss(x):
    return np.sum(LAYER(LAYER(x)))


def make_input():
    return np.array([0.4, -0.9])
