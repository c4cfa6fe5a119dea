"""Small models written as plain NumPy, differentiated without changes, checked against finite
differences: an MLP with a parameter dict, logistic regression, logsumexp, an RNN."""

import numpy as np
import pytest

import srcad

R = np.random.default_rng(7)


def logsumexp(z, axis=-1):
    """Numerically stable: the max is subtracted first (its gradient cancels exactly)."""
    m = np.max(z, axis=axis, keepdims=True)
    return np.squeeze(m, axis=axis) + np.log(np.sum(np.exp(z - m), axis=axis))


def mlp_loss(params, x, labels):
    h = np.tanh(x @ params["W1"] + params["b1"])
    logits = h @ params["W2"] + params["b2"]
    logp = logits - logsumexp(logits)[:, None]
    n = x.shape[0]
    return -np.sum(logp[np.arange(n), labels]) / n


def mlp_softmax_loss(params, x, onehot):
    """The same network with an explicit softmax and one-hot targets."""
    h = np.maximum(x @ params["W1"] + params["b1"], 0.0)
    logits = h @ params["W2"] + params["b2"]
    z = logits - np.max(logits, axis=1, keepdims=True)
    e = np.exp(z)
    p = e / e.sum(axis=1, keepdims=True)
    return -np.mean(np.sum(onehot * np.log(p), axis=1))


def logistic_loss(w, b, x, y, lam):
    z = x @ w + b
    # log(1 + exp(-y z)) written stably
    loss = np.mean(np.logaddexp(0.0, -y * z))
    return loss + lam * np.sum(w ** 2)


def rnn(params, xs, h0):
    T = xs.shape[0]
    out = np.zeros((T, h0.shape[0]))
    h = h0
    for t in range(T):
        h = np.tanh(params["Wx"] @ xs[t] + params["Wh"] @ h + params["b"])
        out[t] = h
    return np.sum(out * np.linspace(1.0, 2.0, T)[:, None]) + np.sum(out[-1] ** 2)


def layers_loss(layers, x):
    """Parameters as a list of (W, b) tuples."""
    for W, b in layers:
        x = np.tanh(x @ W + b)
    return np.sum(x ** 2)


@pytest.fixture
def mlp_params():
    return {"W1": R.normal(size=(4, 5)) * 0.5, "b1": R.normal(size=5) * 0.1,
            "W2": R.normal(size=(5, 3)) * 0.5, "b2": R.normal(size=3) * 0.1}


def test_mlp_dict(mlp_params):
    x = R.normal(size=(6, 4))
    labels = np.array([0, 2, 1, 1, 0, 2])
    srcad.check_grad(mlp_loss, mlp_params, x, labels)
    g = srcad.grad(mlp_loss)(mlp_params, x, labels)
    assert list(g) == list(mlp_params)                       # same keys, same order
    assert all(g[k].shape == mlp_params[k].shape for k in g)
    w1 = mlp_params["W1"].copy()
    srcad.grad(mlp_loss)(mlp_params, x, labels)
    np.testing.assert_array_equal(mlp_params["W1"], w1)       # inputs untouched


def test_mlp_softmax_onehot(mlp_params):
    x = R.normal(size=(5, 4))
    onehot = np.eye(3)[[0, 1, 2, 2, 0]]
    srcad.check_grad(mlp_softmax_loss, mlp_params, x, onehot)
    srcad.check_grad(mlp_softmax_loss, mlp_params, x, onehot, wrt=1)


def test_logistic_regression():
    x = R.normal(size=(8, 3))
    y = np.where(R.uniform(size=8) < 0.5, -1.0, 1.0)
    w, b = R.normal(size=3), 0.3
    srcad.check_grad(logistic_loss, w, b, x, y, 0.1, wrt=(0, 1))


def test_logsumexp_stable():
    z = R.normal(size=(3, 4))
    srcad.check_grad(logsumexp, z)
    big = z + 1000.0                      # no overflow: the gradient is the softmax
    g = srcad.grad(logsumexp)(big)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    np.testing.assert_allclose(g, e / e.sum(axis=-1, keepdims=True), rtol=1e-12)


def test_rnn_fills_output_array():
    params = {"Wx": R.normal(size=(3, 2)) * 0.5, "Wh": R.normal(size=(3, 3)) * 0.5, "b": R.normal(size=3) * 0.1}
    xs = R.normal(size=(4, 2))
    h0 = R.normal(size=3) * 0.1
    srcad.check_grad(rnn, params, xs, h0, wrt=(0, 1, 2))


def test_layers_list_of_tuples():
    layers = [(R.normal(size=(3, 4)) * 0.5, R.normal(size=4)), (R.normal(size=(4, 2)) * 0.5, R.normal(size=2))]
    x = R.normal(size=(5, 3))
    srcad.check_grad(layers_loss, layers, x)
    g = srcad.grad(layers_loss)(layers, x)
    assert isinstance(g, list) and all(isinstance(t, tuple) and len(t) == 2 for t in g)


def test_sgd_step_with_dict_gradient(mlp_params):
    """The usual training loop: the gradient dict lines up with the parameter dict."""
    x = R.normal(size=(6, 4))
    labels = np.array([0, 2, 1, 1, 0, 2])
    vg = srcad.value_and_grad(mlp_loss)
    loss0, _ = vg(mlp_params, x, labels)
    p = dict(mlp_params)
    for _ in range(20):
        loss, g = vg(p, x, labels)
        p = {k: v - 0.5 * gv for (k, v), gv in zip(p.items(), g.values())}
    assert loss < loss0
