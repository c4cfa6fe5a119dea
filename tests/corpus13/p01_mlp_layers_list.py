"""A multilayer perceptron whose layers are a list of (W, b) pairs unpacked from a flat vector."""
import numpy as np

SIZES = [3, 4, 2]
X = np.random.default_rng(1).normal(size=(5, 3))
Y = np.array([0.5, -0.2, 0.1, 0.9, -0.4])


def unpack(params):
    shapes = list(zip(SIZES[:-1], SIZES[1:]))
    layers, start = [], 0
    for m, n in shapes:
        W = params[start:start + m * n].reshape(m, n)
        start = start + m * n
        b = params[start:start + n]
        start = start + n
        layers.append((W, b))
    return layers


def loss(params):
    layers = unpack(params)
    h = X
    for W, b in layers[:-1]:
        h = np.tanh(h @ W + b)
    W, b = layers[-1]
    out = np.sum(h @ W + b, axis=1)
    return np.mean((out - Y) ** 2)


def make_input():
    return np.random.default_rng(2).normal(size=3 * 4 + 4 + 4 * 2 + 2) * 0.5
