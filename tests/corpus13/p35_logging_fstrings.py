"""A training-style loss that reports as it goes: print of expressions, an f-string, and
logging with %-arguments, all on temporaries (run once, no derivative)."""
import logging

import numpy as np

log = logging.getLogger("corpus13.p35")


def loss(w):
    h = np.tanh(w * 1.5)
    print("mean activation", np.mean(h), "max", np.max(np.abs(h)))
    value = np.sum((h - 0.2) ** 2)
    print(f"loss {value:.4f} norm {np.linalg.norm(w):.3f}")
    logging.info("loss %s at %s", value * 1.0, np.round(w, 2))
    log.debug("gradient step %d", 3)
    return value


def make_input():
    return np.array([0.2, -0.6, 0.9])
