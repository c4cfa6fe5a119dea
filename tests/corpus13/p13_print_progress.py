"""A training-style loss that prints its progress (a side effect that only reads)."""
import numpy as np


def loss(w):
    pred = np.tanh(w * 2.0)
    value = np.sum((pred - 0.3) ** 2)
    print("loss:", value)
    return value


def make_input():
    return np.array([0.1, -0.7, 0.4])
