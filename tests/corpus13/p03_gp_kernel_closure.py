"""Gaussian-process marginal likelihood with a kernel closure over the hyperparameters."""
import numpy as np

XS = np.linspace(-1.0, 1.0, 6)
YS = np.sin(2.0 * XS)


def loss(hyp):
    log_len, log_amp, log_noise = hyp[0], hyp[1], hyp[2]

    def kernel(a, b):
        d = a[:, None] - b[None, :]
        return np.exp(log_amp) * np.exp(-0.5 * d ** 2 / np.exp(2.0 * log_len))

    K = kernel(XS, XS) + np.exp(log_noise) * np.eye(len(XS))
    alpha = np.linalg.solve(K, YS)
    return 0.5 * YS @ alpha + 0.5 * np.linalg.slogdet(K)[1]


def make_input():
    return np.array([-0.3, 0.2, -2.0])
