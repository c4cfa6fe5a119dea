"""Imports written inside the loss and inside its helper (``import numpy as np``,
``from math import exp``, ``from numpy import tanh as act``), as in notebook code."""


def layer(h, scale):
    import numpy
    from numpy import tanh as act
    return act(numpy.outer(h, h).sum(axis=0) * scale)


def loss(x):
    import numpy as np
    from math import exp
    from numpy.linalg import norm
    scale = exp(-0.5)
    h = layer(x, scale)
    return np.sum(h ** 2) + norm(x)


def make_input():
    import numpy as np
    return np.array([0.3, -0.4, 0.6])
