"""Gaussian-process negative log marginal likelihood with a kernel object (RBF plus noise) made
inside the function from log-hyperparameters; the kernel is called (``__call__``) and has a
property for its noise variance."""
import numpy as np


class RBF:
    def __init__(self, log_length, log_variance, log_noise):
        self.length = np.exp(log_length)
        self.variance = np.exp(log_variance)
        self.log_noise = log_noise

    @property
    def noise(self):
        return np.exp(2.0 * self.log_noise)

    def __call__(self, a, b):
        d = (a[:, None] - b[None, :]) / self.length
        return self.variance * np.exp(-0.5 * d ** 2)


X = np.array([-1.5, -0.7, 0.1, 0.6, 1.4])
Y = np.array([0.3, -0.2, 0.5, 0.9, 0.1])


def loss(theta):
    kern = RBF(theta[0], theta[1], theta[2])
    K = kern(X, X) + kern.noise * np.eye(len(X))
    L = np.linalg.cholesky(K)
    alpha = np.linalg.solve(K, Y)
    return 0.5 * Y @ alpha + np.sum(np.log(np.diag(L)))


def make_input():
    return np.array([0.2, -0.1, -1.0])
