"""A Gaussian log-likelihood and a Gaussian-mixture log-likelihood written with SciPy, differentiated
by srcad and checked against central finite differences.

    python examples/scipy_stats.py        (needs SciPy: pip install srcad[scipy])
"""

import numpy as np
from scipy.special import logsumexp
from scipy.stats import norm

import srcad


def gaussian_loglik(params, data):
    """Log-likelihood of ``data`` under N(mu, sigma^2), sigma = exp(log_sigma)."""
    mu, log_sigma = params[0], params[1]
    return np.sum(norm.logpdf(data, mu, np.exp(log_sigma)))


def mixture_loglik(params, data):
    """Log-likelihood of ``data`` under a mixture of two Gaussians (logits, means, log scales)."""
    logits, means, log_scales = params[0:2], params[2:4], params[4:6]
    log_weights = logits - logsumexp(logits)
    comp = norm.logpdf(data[:, None], means, np.exp(log_scales))    # (n, 2)
    return np.sum(logsumexp(comp + log_weights, axis=1))


def main():
    rng = np.random.default_rng(0)
    data = np.concatenate([rng.normal(-1.0, 0.5, 60), rng.normal(2.0, 1.0, 40)])

    p = np.array([0.3, 0.1])
    g = srcad.grad(gaussian_loglik)(p, data)
    n = srcad.numerical_grad(gaussian_loglik, (p, data))
    print("gaussian: grad =", g)
    print("gaussian: gradient matches finite differences:", bool(np.allclose(g, n, rtol=1e-6, atol=1e-6)))

    q = np.array([0.2, -0.1, -0.5, 1.5, -0.3, 0.2])
    g = srcad.grad(mixture_loglik)(q, data)
    n = srcad.numerical_grad(mixture_loglik, (q, data))
    print("mixture: grad =", g)
    print("mixture: gradient matches finite differences:", bool(np.allclose(g, n, rtol=1e-6, atol=1e-6)))

    # a few steps of gradient ascent raise the mixture's log-likelihood
    before = mixture_loglik(q, data)
    for _ in range(200):
        q = q + 0.005 * srcad.grad(mixture_loglik)(q, data)
    print(f"mixture: log-likelihood {before:.3f} -> {mixture_loglik(q, data):.3f}, increased:",
          bool(mixture_loglik(q, data) > before))

    print(srcad.source(srcad.grad(gaussian_loglik)))


if __name__ == "__main__":
    main()
