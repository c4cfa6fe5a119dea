"""A Gaussian mixture whose components are dataclass instances made in the loss and kept in a
dict comprehension by name; the log-likelihood sums over the data with a generator expression."""
from dataclasses import dataclass

import numpy as np


@dataclass
class Component:
    weight: float
    mean: float
    log_sd: float

    def logpdf(self, x):
        sd = np.exp(self.log_sd)
        return np.log(self.weight) - 0.5 * ((x - self.mean) / sd) ** 2 - np.log(sd) - 0.5 * np.log(2 * np.pi)


DATA = np.array([-1.2, -0.8, 0.1, 0.9, 1.3, 2.0])
NAMES = ("low", "high")


def loss(theta):
    w = np.exp(theta[:2]) / np.sum(np.exp(theta[:2]))
    params = {name: {"weight": w[k], "mean": theta[2 + k], "log_sd": theta[4 + k]}
              for k, name in enumerate(NAMES)}
    low = Component(params["low"]["weight"], params["low"]["mean"], params["low"]["log_sd"])
    high = Component(weight=params["high"]["weight"], mean=params["high"]["mean"], log_sd=params["high"]["log_sd"])
    return -sum(np.logaddexp(low.logpdf(x), high.logpdf(x)) for x in DATA)


def make_input():
    return np.array([0.1, -0.2, -1.0, 1.0, -0.3, 0.2])
