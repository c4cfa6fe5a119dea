"""A loss that logs intermediate values."""
import logging

import numpy as np

log = logging.getLogger("corpus13")


def loss(w):
    h = np.exp(-w ** 2)
    log.debug("h = %s", h)
    return np.sum(h * w)


def make_input():
    return np.array([0.1, -0.7, 0.4])
