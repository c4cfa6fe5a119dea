"""A model class with methods and weights read from self."""
import numpy as np


class Model:
    def __init__(self, seed):
        r = np.random.default_rng(seed)
        self.W = r.normal(size=(3, 3)) * 0.5
        self.b = r.normal(size=3) * 0.1

    def layer(self, h):
        return np.tanh(self.W @ h + self.b)

    def forward(self, x):
        h = self.layer(x)
        return self.layer(h)


MODEL = Model(7)


def loss(x):
    return np.sum(MODEL.forward(x) ** 2)


def make_input():
    return np.array([0.3, -0.5, 0.8])
