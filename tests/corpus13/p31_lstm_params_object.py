"""An LSTM whose weights live in a parameters object built inside the loss from a flat vector,
with the cell update a function nested in the loss and the state held on a state object."""
import numpy as np


def sigmoid(z):
    return 0.5 * (np.tanh(z / 2.0) + 1.0)


class LSTMParams:
    def __init__(self, flat, n_in, n_hid):
        size = n_hid * (n_in + n_hid + 1)
        self.n_hid = n_hid
        self.gates = [flat[k * size:(k + 1) * size].reshape(n_hid, n_in + n_hid + 1) for k in range(4)]

    def gate(self, k, xh):
        return self.gates[k] @ xh


class State:
    def __init__(self, n_hid):
        self.h = np.zeros(n_hid)
        self.c = np.zeros(n_hid)


INPUTS = np.array([[0.5, -0.3], [0.1, 0.8], [-0.6, 0.2], [0.3, 0.3]])
TARGET = np.array([0.2, -0.1])


def loss(flat):
    params = LSTMParams(flat, 2, 2)
    state = State(params.n_hid)

    def update(x):
        xh = np.concatenate([x, state.h, [1.0]])
        f = sigmoid(params.gate(0, xh))
        i = sigmoid(params.gate(1, xh))
        o = sigmoid(params.gate(2, xh))
        g = np.tanh(params.gate(3, xh))
        state.c = f * state.c + i * g
        state.h = o * np.tanh(state.c)
        return state.h

    for x in INPUTS:
        update(x)
    return np.sum((state.h - TARGET) ** 2)


def make_input():
    return np.random.default_rng(31).normal(size=4 * 2 * 5) * 0.5
