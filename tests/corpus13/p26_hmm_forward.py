"""HMM forward algorithm in log space; emission log-probabilities from a comprehension."""
import numpy as np

OBS = [0, 1, 1, 0, 1]


def logsumexp(v):
    m = np.max(v)
    return m + np.log(np.sum(np.exp(v - m)))


def loss(params):
    log_T = params[:4].reshape(2, 2)
    log_E = params[4:8].reshape(2, 2)
    log_T = log_T - np.log(np.sum(np.exp(log_T), axis=1, keepdims=True))
    log_E = log_E - np.log(np.sum(np.exp(log_E), axis=1, keepdims=True))
    emissions = [log_E[:, o] for o in OBS]
    alpha = np.log(np.array([0.5, 0.5])) + emissions[0]
    for e in emissions[1:]:
        alpha = np.array([logsumexp(alpha + log_T[:, j]) for j in range(2)]) + e
    return -logsumexp(alpha)


def make_input():
    return np.array([0.2, -0.1, 0.3, 0.4, -0.5, 0.1, 0.6, -0.2])
