"""Helpers for tests/test_corpus13.py's error tests (line numbers are read from this file)."""
import math

import numpy as np


def inner(v):
    return math.erf(v) * 2.0            # refused here


def outer(v):
    w = np.sin(v)
    return inner(w) + 1.0               # called here


def chained(x):
    return np.sum(outer(x))             # and here


def early_return_nested(x):
    def g(v):
        if v > 0:
            return v
        v = v * 2.0
        return v
    return g(x)


def rebound_nested(x):
    f = lambda v: v * 2.0  # noqa: E731
    f = lambda v: v * 3.0  # noqa: E731
    return f(x)
