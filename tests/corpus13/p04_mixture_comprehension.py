"""Log-likelihood of a 1-D Gaussian mixture, written with comprehensions."""
import numpy as np

DATA = np.array([-1.2, -0.8, 0.1, 0.4, 1.5, 2.0])


def normal_logpdf(x, mu, log_sigma):
    return -0.5 * ((x - mu) / np.exp(log_sigma)) ** 2 - log_sigma - 0.5 * np.log(2 * np.pi)


def loss(params):
    mus = params[0:3]
    log_sigmas = params[3:6]
    logits = params[6:9]
    log_w = logits - np.log(np.sum(np.exp(logits)))
    comps = [log_w[k] + normal_logpdf(DATA, mus[k], log_sigmas[k]) for k in range(3)]
    stacked = np.stack(comps)
    m = np.max(stacked, axis=0)
    return -np.sum(m + np.log(np.sum(np.exp(stacked - m), axis=0)))


def make_input():
    return np.array([-1.0, 0.2, 1.6, -0.2, 0.1, 0.3, 0.1, -0.3, 0.2])
