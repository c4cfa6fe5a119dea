"""Unrolled optimisation with an optimiser object made inside the loss: momentum SGD whose
velocity is an attribute the step method updates (``self.v = ...``), differentiated through
the unrolled steps (meta-learning of the initial point)."""
import numpy as np


class Momentum:
    def __init__(self, lr, mass):
        self.lr = lr
        self.mass = mass
        self.v = 0.0
        self.count = 0

    def step(self, w, g):
        self.v = self.mass * self.v - self.lr * g
        self.count += 1
        return w + self.v


def inner_grad(w):
    return 2.0 * (w - 1.0) + np.cos(w)


def loss(w0):
    opt = Momentum(0.1, 0.9)
    w = w0
    for _ in range(4):
        w = opt.step(w, inner_grad(w))
    return np.sum(np.sin(w) * w) + opt.count * 0.0


def make_input():
    return np.array([0.2, -0.5, 1.1])
