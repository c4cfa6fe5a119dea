"""A 1-D convolution written as a comprehension over windows, with a filter on the positions."""
import numpy as np

SIGNAL = np.array([0.5, -1.0, 2.0, 0.3, 0.7, -0.4, 1.2])


def loss(kernel):
    k = len(kernel)
    out = [np.dot(SIGNAL[i:i + k], kernel) for i in range(len(SIGNAL) - k + 1) if i % 2 == 0]
    return sum(o ** 2 for o in out)


def make_input():
    return np.array([0.2, -0.1, 0.4])
