"""Transposing a list of pairs with zip(*pairs)."""
import numpy as np


def loss(x):
    pairs = [(x[0], x[1]), (x[2], x[3]), (x[4], x[5])]
    firsts, seconds = zip(*pairs)
    return sum(a * b for a, b in zip(firsts, seconds)) + np.sum(np.array(firsts) ** 2)


def make_input():
    return np.array([0.1, 0.5, -0.4, 0.2, 0.9, -0.3])
