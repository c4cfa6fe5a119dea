"""Benchmark cases for srcad and its peers.

Each case is written several times:

* ``<name>(...)`` -- the plain NumPy function, written the way a user writes it.  These are
  what ``srcad.grad`` gets, so they stick to module-level ``def`` functions using
  ``import numpy as np`` (loops and ifs allowed; no closures, lambdas, comprehensions,
  ``try`` or ``with``).
* ``<name>_grad_hand(...)`` -- a careful hand-written NumPy gradient (the practical floor).
  Where it uses an algebraic shortcut reverse mode cannot know about, there is also
  ``<name>_grad_hand_noshortcut(...)`` doing what a reverse sweep has to do.
* ``ag_<name>`` (autograd.numpy), ``th_<name>`` (torch, float64, eager) and ``jx_<name>``
  (jax.numpy) -- the same function for each peer.
* ``<name>_inputs()`` -- the arguments, from a fixed seed.

``CASES`` lists them all with the argument(s) differentiated (``wrt``: an int or a tuple).

The peers are imported lazily (``load_peers``) so that this module needs only NumPy.
"""

from dataclasses import dataclass

import numpy as np

# Filled in by load_peers(); the peer versions below refer to these module globals.
anp = None
torch = None
jnp = None


def load_peers():
    """Import autograd.numpy, torch and jax.numpy into this module; return {name: error}."""
    global anp, torch, jnp
    errors = {}
    try:
        import autograd.numpy as _anp
        anp = _anp
    except Exception as exc:  # pragma: no cover - depends on the environment
        errors["autograd"] = f"{type(exc).__name__}: {exc}"
    try:
        import torch as _torch
        torch = _torch
    except Exception as exc:  # pragma: no cover
        errors["torch"] = f"{type(exc).__name__}: {exc}"
    try:
        import jax
        jax.config.update("jax_enable_x64", True)
        import jax.numpy as _jnp
        jnp = _jnp
    except Exception as exc:  # pragma: no cover
        errors["jax"] = f"{type(exc).__name__}: {exc}"
    return errors


# ---------------------------------------------------------------------------------------------
# 1. chapter_while: the d2l automatic-differentiation chapter function.
#    c = k * a with a data-dependent k, so dc/da = c / a.
# ---------------------------------------------------------------------------------------------

def chapter_while(a):
    b = a * 2
    while np.linalg.norm(b) < 1000:
        b = b * 2
    if b.sum() > 0:
        c = b
    else:
        c = 100 * b
    return c


def chapter_while_grad_hand(a):
    # Replay the control flow and keep only the multiplier k (c = k * a).
    b = a * 2
    k = 2.0
    while np.linalg.norm(b) < 1000:
        b = b * 2
        k = k * 2
    if b.sum() > 0:
        return np.float64(k)
    return np.float64(100 * k)


def chapter_while_inputs():
    rng = np.random.default_rng(1)
    return (np.float64(rng.uniform(0.1, 1.0)),)


def ag_chapter_while(a):
    b = a * 2
    while anp.linalg.norm(b) < 1000:
        b = b * 2
    if b.sum() > 0:
        c = b
    else:
        c = 100 * b
    return c


def th_chapter_while(a):
    b = a * 2
    while torch.linalg.norm(b) < 1000:
        b = b * 2
    if b.sum() > 0:
        c = b
    else:
        c = 100 * b
    return c


def jx_chapter_while(a):
    b = a * 2
    while jnp.linalg.norm(b) < 1000:
        b = b * 2
    if b.sum() > 0:
        c = b
    else:
        c = 100 * b
    return c


# ---------------------------------------------------------------------------------------------
# 2. scalar_for: 200 steps of a scalar recurrence, Python floats in, w.r.t. x and w.
# ---------------------------------------------------------------------------------------------

def scalar_for(x, w):
    for i in range(200):
        x = x * w + np.sin(x)
    return x


def scalar_for_grad_hand(x, w):
    # Forward pass keeps the local derivatives; backward pass is a plain scalar sweep.
    xs = []
    ds = []
    for i in range(200):
        xs.append(x)
        ds.append(w + np.cos(x))
        x = x * w + np.sin(x)
    dx = 1.0
    dw = 0.0
    for i in range(199, -1, -1):
        dw = dw + dx * xs[i]
        dx = dx * ds[i]
    return dx, dw


def scalar_for_inputs():
    rng = np.random.default_rng(2)
    return (float(rng.uniform(0.2, 1.0)), float(rng.uniform(0.3, 0.7)))


def ag_scalar_for(x, w):
    for i in range(200):
        x = x * w + anp.sin(x)
    return x


def th_scalar_for(x, w):
    for i in range(200):
        x = x * w + torch.sin(x)
    return x


def jx_scalar_for(x, w):
    for i in range(200):
        x = x * w + jnp.sin(x)
    return x


# ---------------------------------------------------------------------------------------------
# 3. horner: 50-term polynomial by Horner's rule at a scalar x, w.r.t. x.
# ---------------------------------------------------------------------------------------------

def horner(x, coeffs):
    p = 0.0
    for i in range(50):
        p = p * x + coeffs[i]
    return p


def horner_grad_hand(x, coeffs):
    # Shortcut: run the derivative recurrence alongside (forward mode, no tape).
    p = 0.0
    dp = 0.0
    for i in range(50):
        dp = dp * x + p
        p = p * x + coeffs[i]
    return dp


def horner_grad_hand_noshortcut(x, coeffs):
    # What a reverse sweep does: tape the intermediate p's, then walk back.
    ps = []
    p = 0.0
    for i in range(50):
        ps.append(p)
        p = p * x + coeffs[i]
    dx = 0.0
    dp = 1.0
    for i in range(49, -1, -1):
        dx = dx + dp * ps[i]
        dp = dp * x
    return dx


def horner_inputs():
    rng = np.random.default_rng(3)
    return (float(rng.uniform(0.5, 0.95)), rng.standard_normal(50))


def ag_horner(x, coeffs):
    p = 0.0
    for i in range(50):
        p = p * x + coeffs[i]
    return p


def th_horner(x, coeffs):
    p = 0.0
    for i in range(50):
        p = p * x + coeffs[i]
    return p


def jx_horner(x, coeffs):
    p = 0.0
    for i in range(50):
        p = p * x + coeffs[i]
    return p


# ---------------------------------------------------------------------------------------------
# 4. mlp: 2-layer tanh MLP, stable softmax cross-entropy, batch 64, 32 -> 64 -> 10.
# ---------------------------------------------------------------------------------------------

def mlp(W1, b1, W2, b2, X, Y):
    H = np.tanh(X @ W1 + b1)
    Z = H @ W2 + b2
    m = np.max(Z, axis=1, keepdims=True)
    S = Z - m
    logp = S - np.log(np.sum(np.exp(S), axis=1, keepdims=True))
    return -np.sum(Y * logp) / X.shape[0]


def mlp_grad_hand(W1, b1, W2, b2, X, Y):
    # Shortcut: d loss / d logits = (softmax - Y) / n (rows of Y sum to one, max drops out).
    n = X.shape[0]
    H = np.tanh(X @ W1 + b1)
    Z = H @ W2 + b2
    E = np.exp(Z - np.max(Z, axis=1, keepdims=True))
    P = E / np.sum(E, axis=1, keepdims=True)
    dZ = (P - Y) / n
    dW2 = H.T @ dZ
    db2 = np.sum(dZ, axis=0)
    dA = (dZ @ W2.T) * (1.0 - H * H)
    dW1 = X.T @ dA
    db1 = np.sum(dA, axis=0)
    return dW1, db1, dW2, db2


def mlp_grad_hand_noshortcut(W1, b1, W2, b2, X, Y):
    # Generic log-softmax backward, including the (numerically ~zero) path through the max.
    n = X.shape[0]
    H = np.tanh(X @ W1 + b1)
    Z = H @ W2 + b2
    m = np.max(Z, axis=1, keepdims=True)
    S = Z - m
    E = np.exp(S)
    se = np.sum(E, axis=1, keepdims=True)
    P = E / se
    dlogp = -Y / n
    dS = dlogp - P * np.sum(dlogp, axis=1, keepdims=True)
    dm = -np.sum(dS, axis=1, keepdims=True)
    dZ = dS + (Z == m) * dm
    dW2 = H.T @ dZ
    db2 = np.sum(dZ, axis=0)
    dA = (dZ @ W2.T) * (1.0 - H * H)
    dW1 = X.T @ dA
    db1 = np.sum(dA, axis=0)
    return dW1, db1, dW2, db2


def mlp_inputs():
    rng = np.random.default_rng(4)
    W1 = rng.standard_normal((32, 64)) / np.sqrt(32)
    b1 = 0.1 * rng.standard_normal(64)
    W2 = rng.standard_normal((64, 10)) / np.sqrt(64)
    b2 = 0.1 * rng.standard_normal(10)
    X = rng.standard_normal((64, 32))
    Y = np.eye(10)[rng.integers(0, 10, size=64)]
    return (W1, b1, W2, b2, X, Y)


def ag_mlp(W1, b1, W2, b2, X, Y):
    H = anp.tanh(X @ W1 + b1)
    Z = H @ W2 + b2
    m = anp.max(Z, axis=1, keepdims=True)
    S = Z - m
    logp = S - anp.log(anp.sum(anp.exp(S), axis=1, keepdims=True))
    return -anp.sum(Y * logp) / X.shape[0]


def th_mlp(W1, b1, W2, b2, X, Y):
    H = torch.tanh(X @ W1 + b1)
    Z = H @ W2 + b2
    m = torch.amax(Z, dim=1, keepdim=True)
    S = Z - m
    logp = S - torch.log(torch.sum(torch.exp(S), dim=1, keepdim=True))
    return -torch.sum(Y * logp) / X.shape[0]


def jx_mlp(W1, b1, W2, b2, X, Y):
    H = jnp.tanh(X @ W1 + b1)
    Z = H @ W2 + b2
    m = jnp.max(Z, axis=1, keepdims=True)
    S = Z - m
    logp = S - jnp.log(jnp.sum(jnp.exp(S), axis=1, keepdims=True))
    return -jnp.sum(Y * logp) / X.shape[0]


# ---------------------------------------------------------------------------------------------
# 5. rnn: 50-step vanilla tanh RNN, (50, 16, 8) input, hidden 32, loss = sum(h_T ** 2).
# ---------------------------------------------------------------------------------------------

def rnn(Wx, Wh, b, X):
    h = np.zeros((X.shape[1], Wh.shape[0]))
    for t in range(50):
        h = np.tanh(np.dot(X[t], Wx) + np.dot(h, Wh) + b)
    return np.sum(h * h)


def rnn_grad_hand(Wx, Wh, b, X):
    # Shortcut: keep every step's pre-activation gradient and form dWx, dWh with one big
    # matmul each over all (time, batch) rows instead of 50 small accumulations.
    T = X.shape[0]
    hs = np.zeros((T + 1, X.shape[1], Wh.shape[0]))
    for t in range(T):
        hs[t + 1] = np.tanh(np.dot(X[t], Wx) + np.dot(hs[t], Wh) + b)
    das = np.empty((T,) + hs.shape[1:])
    dh = 2.0 * hs[T]
    for t in range(T - 1, -1, -1):
        h = hs[t + 1]
        da = dh * (1.0 - h * h)
        das[t] = da
        if t > 0:
            dh = np.dot(da, Wh.T)
    n = Wh.shape[0]
    dWx = np.dot(X.reshape(-1, X.shape[2]).T, das.reshape(-1, n))
    dWh = np.dot(hs[:T].reshape(-1, n).T, das.reshape(-1, n))
    return dWx, dWh


def rnn_grad_hand_noshortcut(Wx, Wh, b, X):
    # Plain backprop through time, accumulating per step as a reverse sweep does.
    T = X.shape[0]
    hs = [np.zeros((X.shape[1], Wh.shape[0]))]
    for t in range(T):
        hs.append(np.tanh(np.dot(X[t], Wx) + np.dot(hs[t], Wh) + b))
    dWx = np.zeros_like(Wx)
    dWh = np.zeros_like(Wh)
    dh = 2.0 * hs[T]
    for t in range(T - 1, -1, -1):
        h = hs[t + 1]
        da = dh * (1.0 - h * h)
        dWx = dWx + np.dot(X[t].T, da)
        dWh = dWh + np.dot(hs[t].T, da)
        dh = np.dot(da, Wh.T)
    return dWx, dWh


def rnn_inputs():
    rng = np.random.default_rng(5)
    Wx = rng.standard_normal((8, 32)) / np.sqrt(8)
    Wh = 0.9 * rng.standard_normal((32, 32)) / np.sqrt(32)
    b = 0.1 * rng.standard_normal(32)
    X = rng.standard_normal((50, 16, 8))
    return (Wx, Wh, b, X)


def ag_rnn(Wx, Wh, b, X):
    h = anp.zeros((X.shape[1], Wh.shape[0]))
    for t in range(50):
        h = anp.tanh(anp.dot(X[t], Wx) + anp.dot(h, Wh) + b)
    return anp.sum(h * h)


def th_rnn(Wx, Wh, b, X):
    h = torch.zeros((X.shape[1], Wh.shape[0]), dtype=torch.float64)
    for t in range(50):
        h = torch.tanh(torch.matmul(X[t], Wx) + torch.matmul(h, Wh) + b)
    return torch.sum(h * h)


def jx_rnn(Wx, Wh, b, X):
    h = jnp.zeros((X.shape[1], Wh.shape[0]))
    for t in range(50):
        h = jnp.tanh(jnp.dot(X[t], Wx) + jnp.dot(h, Wh) + b)
    return jnp.sum(h * h)


# ---------------------------------------------------------------------------------------------
# 6. elementwise: 1,000,000 elements, memory-bound.
# ---------------------------------------------------------------------------------------------

def elementwise(x):
    return np.sum(np.sin(x) * np.exp(-x * x) + x ** 2)


def elementwise_grad_hand(x):
    e = np.exp(-x * x)
    return (np.cos(x) - 2.0 * x * np.sin(x)) * e + 2.0 * x


def elementwise_inputs():
    rng = np.random.default_rng(6)
    return (rng.standard_normal(1_000_000),)


def ag_elementwise(x):
    return anp.sum(anp.sin(x) * anp.exp(-x * x) + x ** 2)


def th_elementwise(x):
    return torch.sum(torch.sin(x) * torch.exp(-x * x) + x ** 2)


def jx_elementwise(x):
    return jnp.sum(jnp.sin(x) * jnp.exp(-x * x) + x ** 2)


# ---------------------------------------------------------------------------------------------
# 7. matmul_chain: sum(tanh(A @ B) @ C), 256 x 256, w.r.t. A.
# ---------------------------------------------------------------------------------------------

def matmul_chain(A, B, C):
    return np.sum(np.tanh(A @ B) @ C)


def matmul_chain_grad_hand(A, B, C):
    # Shortcut: d sum(T @ C) / dT = ones @ C.T, i.e. every row is C's row sums -- a broadcast
    # instead of a 256^3 matmul.  Reverse mode does not know the cotangent is all ones.
    T = np.tanh(A @ B)
    dS = (1.0 - T * T) * np.sum(C, axis=1)
    return dS @ B.T


def matmul_chain_grad_hand_noshortcut(A, B, C):
    T = np.tanh(A @ B)
    dT = np.ones((A.shape[0], C.shape[1])) @ C.T
    dS = dT * (1.0 - T * T)
    return dS @ B.T


def matmul_chain_inputs():
    rng = np.random.default_rng(7)
    A = rng.standard_normal((256, 256)) / 16.0
    B = rng.standard_normal((256, 256)) / 16.0
    C = rng.standard_normal((256, 256))
    return (A, B, C)


def ag_matmul_chain(A, B, C):
    return anp.sum(anp.tanh(A @ B) @ C)


def th_matmul_chain(A, B, C):
    return torch.sum(torch.tanh(A @ B) @ C)


def jx_matmul_chain(A, B, C):
    return jnp.sum(jnp.tanh(A @ B) @ C)


# ---------------------------------------------------------------------------------------------
# 8. logsumexp: row-wise stable logsumexp on 2000 x 100, summed.
# ---------------------------------------------------------------------------------------------

def logsumexp(x):
    m = np.max(x, axis=1, keepdims=True)
    return np.sum(m[:, 0] + np.log(np.sum(np.exp(x - m), axis=1)))


def logsumexp_grad_hand(x):
    # Shortcut: the gradient is the row softmax; the path through the max cancels exactly.
    e = np.exp(x - np.max(x, axis=1, keepdims=True))
    return e / np.sum(e, axis=1, keepdims=True)


def logsumexp_grad_hand_noshortcut(x):
    m = np.max(x, axis=1, keepdims=True)
    e = np.exp(x - m)
    p = e / np.sum(e, axis=1, keepdims=True)
    dm = 1.0 - np.sum(p, axis=1, keepdims=True)
    return p + (x == m) * dm


def logsumexp_inputs():
    rng = np.random.default_rng(8)
    return (3.0 * rng.standard_normal((2000, 100)),)


def ag_logsumexp(x):
    m = anp.max(x, axis=1, keepdims=True)
    return anp.sum(m[:, 0] + anp.log(anp.sum(anp.exp(x - m), axis=1)))


def th_logsumexp(x):
    m = torch.amax(x, dim=1, keepdim=True)
    return torch.sum(m[:, 0] + torch.log(torch.sum(torch.exp(x - m), dim=1)))


def jx_logsumexp(x):
    m = jnp.max(x, axis=1, keepdims=True)
    return jnp.sum(m[:, 0] + jnp.log(jnp.sum(jnp.exp(x - m), axis=1)))


# ---------------------------------------------------------------------------------------------
# 9. horner_xc: Horner's rule differentiated w.r.t. both the point and the coefficient array.
# ---------------------------------------------------------------------------------------------

def horner_xc(x, coeffs):
    p = 0.0
    for i in range(50):
        p = p * x + coeffs[i]
    return p


def horner_xc_grad_hand(x, coeffs):
    # Tape the partial values p (Python floats), then one backward walk giving dx and every dc[i].
    c = coeffs.tolist()
    ps = [0.0] * 50
    p = 0.0
    for i in range(50):
        ps[i] = p
        p = p * x + c[i]
    dc = np.empty(50)
    dx = 0.0
    dp = 1.0
    for i in range(49, -1, -1):
        dc[i] = dp
        dx += dp * ps[i]
        dp *= x
    return dx, dc


def horner_xc_inputs():
    rng = np.random.default_rng(9)
    return (float(rng.uniform(0.5, 0.95)), rng.standard_normal(50))


def ag_horner_xc(x, coeffs):
    p = 0.0
    for i in range(50):
        p = p * x + coeffs[i]
    return p


th_horner_xc = ag_horner_xc
jx_horner_xc = ag_horner_xc


# ---------------------------------------------------------------------------------------------
# 10. scalar_temps: a scalar loop with several temporaries per step, w.r.t. x and y.
# ---------------------------------------------------------------------------------------------

def scalar_temps(x, y):
    for i in range(200):
        x = x - 0.01 * (x ** 3 - y) * np.sin(x)
    return x


def scalar_temps_grad_hand(x, y):
    # Tape x only; the backward walk evaluates the step's local derivatives again.
    xs = [0.0] * 200
    for i in range(200):
        xs[i] = x
        x = x - 0.01 * (x ** 3 - y) * np.sin(x)
    dx = 1.0
    dy = 0.0
    for i in range(199, -1, -1):
        xi = xs[i]
        s = np.sin(xi)
        u = 0.01 * (xi ** 3 - y)
        dy += dx * 0.01 * s
        dx = dx * (1.0 - 0.03 * xi * xi * s - u * np.cos(xi))
    return dx, dy


def scalar_temps_inputs():
    rng = np.random.default_rng(10)
    return (float(rng.uniform(0.2, 0.8)), float(rng.uniform(0.1, 0.5)))


def ag_scalar_temps(x, y):
    for i in range(200):
        x = x - 0.01 * (x ** 3 - y) * anp.sin(x)
    return x


def th_scalar_temps(x, y):
    for i in range(200):
        x = x - 0.01 * (x ** 3 - y) * torch.sin(x)
    return x


def jx_scalar_temps(x, y):
    for i in range(200):
        x = x - 0.01 * (x ** 3 - y) * jnp.sin(x)
    return x


# ---------------------------------------------------------------------------------------------
# 11. vector_while: a data-dependent while on a 3-vector (the chapter's loop with an update that
#     needs values), w.r.t. x.
# ---------------------------------------------------------------------------------------------

def vector_while(x):
    while np.sum(x * x) < 1.0e4:
        x = x * 1.5 + np.sin(x)
    return np.sum(x)


def vector_while_grad_hand(x):
    xs = []
    while np.sum(x * x) < 1.0e4:
        xs.append(x)
        x = x * 1.5 + np.sin(x)
    dx = np.ones_like(x)
    for v in reversed(xs):
        dx = dx * (1.5 + np.cos(v))
    return dx


def vector_while_inputs():
    return (np.array([0.3, -0.2, 0.5]),)


def ag_vector_while(x):
    while anp.sum(x * x) < 1.0e4:
        x = x * 1.5 + anp.sin(x)
    return anp.sum(x)


def th_vector_while(x):
    while float(torch.sum(x * x)) < 1.0e4:
        x = x * 1.5 + torch.sin(x)
    return torch.sum(x)


def jx_vector_while(x):
    while float(jnp.sum(x * x)) < 1.0e4:
        x = x * 1.5 + jnp.sin(x)
    return jnp.sum(x)


# ---------------------------------------------------------------------------------------------
# 12. rnn_in: an RNN whose input-to-hidden weights are differentiated too (Wx, Wh and b), with
#     the input projection read per step (X[t] @ Wx), 30 steps, batch 8, 4 -> 16.
# ---------------------------------------------------------------------------------------------

def rnn_in(Wx, Wh, b, X):
    h = np.zeros((X.shape[1], Wh.shape[0]))
    for t in range(30):
        h = np.tanh(X[t] @ Wx + h @ Wh + b)
    return np.sum(h * h)


def rnn_in_grad_hand(Wx, Wh, b, X):
    hs = [np.zeros((X.shape[1], Wh.shape[0]))]
    for t in range(30):
        hs.append(np.tanh(X[t] @ Wx + hs[t] @ Wh + b))
    dWx = np.zeros_like(Wx)
    dWh = np.zeros_like(Wh)
    db = np.zeros_like(b)
    dh = 2.0 * hs[30]
    for t in range(29, -1, -1):
        da = dh * (1.0 - hs[t + 1] * hs[t + 1])
        dWx += X[t].T @ da
        dWh += hs[t].T @ da
        db += da.sum(axis=0)
        dh = da @ Wh.T
    return dWx, dWh, db


def rnn_in_inputs():
    rng = np.random.default_rng(12)
    Wx = rng.standard_normal((4, 16)) / 2.0
    Wh = 0.9 * rng.standard_normal((16, 16)) / 4.0
    b = 0.1 * rng.standard_normal(16)
    X = rng.standard_normal((30, 8, 4))
    return (Wx, Wh, b, X)


def ag_rnn_in(Wx, Wh, b, X):
    h = anp.zeros((X.shape[1], Wh.shape[0]))
    for t in range(30):
        h = anp.tanh(anp.dot(X[t], Wx) + anp.dot(h, Wh) + b)
    return anp.sum(h * h)


def th_rnn_in(Wx, Wh, b, X):
    h = torch.zeros((X.shape[1], Wh.shape[0]), dtype=torch.float64)
    for t in range(30):
        h = torch.tanh(X[t] @ Wx + h @ Wh + b)
    return torch.sum(h * h)


def jx_rnn_in(Wx, Wh, b, X):
    h = jnp.zeros((X.shape[1], Wh.shape[0]))
    for t in range(30):
        h = jnp.tanh(X[t] @ Wx + h @ Wh + b)
    return jnp.sum(h * h)



# ---------------------------------------------------------------------------------------------
# Registry
# ---------------------------------------------------------------------------------------------

@dataclass
class Case:
    name: str
    f: object
    grad_hand: object
    inputs: object
    wrt: object                      # int or tuple of ints
    autograd: object
    torch: object
    jax: object
    description: str
    grad_hand_noshortcut: object = None
    shortcut: str = ""               # what grad_hand knows that reverse mode cannot
    jax_jit_unsupported: str = ""    # non-empty: why jax.jit cannot take it


CASES = [
    Case("chapter_while", chapter_while, chapter_while_grad_hand, chapter_while_inputs, 0,
         ag_chapter_while, th_chapter_while, jx_chapter_while,
         "d2l chapter function, scalar a, data-dependent while + if",
         jax_jit_unsupported="data-dependent Python `while` on a traced value cannot be jitted"),
    Case("scalar_for", scalar_for, scalar_for_grad_hand, scalar_for_inputs, (0, 1),
         ag_scalar_for, th_scalar_for, jx_scalar_for,
         "200-step scalar recurrence x = x*w + sin(x), w.r.t. x and w"),
    Case("horner", horner, horner_grad_hand, horner_inputs, 0,
         ag_horner, th_horner, jx_horner,
         "50-term Horner polynomial at scalar x, w.r.t. x",
         grad_hand_noshortcut=horner_grad_hand_noshortcut,
         shortcut="derivative recurrence run forward alongside p (no tape)"),
    Case("mlp", mlp, mlp_grad_hand, mlp_inputs, (0, 1, 2, 3),
         ag_mlp, th_mlp, jx_mlp,
         "2-layer tanh MLP + stable softmax cross-entropy, batch 64, 32-64-10, w.r.t. W1,b1,W2,b2",
         grad_hand_noshortcut=mlp_grad_hand_noshortcut,
         shortcut="d loss/d logits = (softmax - Y)/n"),
    Case("rnn", rnn, rnn_grad_hand, rnn_inputs, (0, 1),
         ag_rnn, th_rnn, jx_rnn,
         "50-step tanh RNN, input (50,16,8), hidden 32, loss sum(h_T^2), w.r.t. Wx, Wh",
         grad_hand_noshortcut=rnn_grad_hand_noshortcut,
         shortcut="dWx, dWh as one matmul over all time steps"),
    Case("elementwise", elementwise, elementwise_grad_hand, elementwise_inputs, 0,
         ag_elementwise, th_elementwise, jx_elementwise,
         "sum(sin(x)*exp(-x*x) + x**2) on 1e6 elements"),
    Case("matmul_chain", matmul_chain, matmul_chain_grad_hand, matmul_chain_inputs, 0,
         ag_matmul_chain, th_matmul_chain, jx_matmul_chain,
         "sum(tanh(A @ B) @ C), 256x256, w.r.t. A",
         grad_hand_noshortcut=matmul_chain_grad_hand_noshortcut,
         shortcut="d sum(T @ C)/dT is a broadcast of C's row sums (no third matmul)"),
    Case("logsumexp", logsumexp, logsumexp_grad_hand, logsumexp_inputs, 0,
         ag_logsumexp, th_logsumexp, jx_logsumexp,
         "row-wise stable logsumexp on 2000x100, summed",
         grad_hand_noshortcut=logsumexp_grad_hand_noshortcut,
         shortcut="gradient is the row softmax; max path dropped"),
    Case("horner_xc", horner_xc, horner_xc_grad_hand, horner_xc_inputs, (0, 1),
         ag_horner_xc, th_horner_xc, jx_horner_xc,
         "50-term Horner polynomial at scalar x, w.r.t. x and the coefficient array"),
    Case("scalar_temps", scalar_temps, scalar_temps_grad_hand, scalar_temps_inputs, (0, 1),
         ag_scalar_temps, th_scalar_temps, jx_scalar_temps,
         "200-step scalar loop x = x - 0.01*(x**3 - y)*sin(x) (several temporaries), w.r.t. x and y"),
    Case("vector_while", vector_while, vector_while_grad_hand, vector_while_inputs, 0,
         ag_vector_while, th_vector_while, jx_vector_while,
         "data-dependent while on a 3-vector, x = 1.5*x + sin(x) until |x|^2 >= 1e4",
         jax_jit_unsupported="data-dependent Python `while` on a traced value cannot be jitted"),
    Case("rnn_in", rnn_in, rnn_in_grad_hand, rnn_in_inputs, (0, 1, 2),
         ag_rnn_in, th_rnn_in, jx_rnn_in,
         "30-step tanh RNN, input (30,8,4), hidden 16, w.r.t. input-to-hidden Wx, Wh and b"),
]

CASES_BY_NAME = {case.name: case for case in CASES}
