"""A pairwise energy written as a nested comprehension with a filter."""
import numpy as np


def loss(x):
    n = len(x)
    terms = [1.0 / (1.0 + (x[i] - x[j]) ** 2) for i in range(n) for j in range(n) if i < j]
    return sum(terms)


def make_input():
    return np.array([0.3, -0.2, 0.7, 1.1])
