"""Central finite differences, and ``check_grad`` that compares srcad's gradients with them."""

import numpy as np

from srcad.api import grad
from srcad.runtime import owned_copy


def _flat_float(x):
    return np.array(x, dtype=np.float64)


def numerical_grad(f, args, wrt=0, eps=1e-6, kwargs=None):
    """Central finite differences of ``sum(f(*args))`` w.r.t. the arguments ``wrt`` (float64).

    Containers (tuples, lists, dicts of arrays) are perturbed leaf by leaf and the result has the
    same structure.
    """
    kwargs = kwargs or {}
    wrts = (wrt,) if isinstance(wrt, int) else tuple(wrt)
    out = []
    for w in wrts:
        out.append(_num_one(f, list(args), w, eps, kwargs))
    return out[0] if isinstance(wrt, int) else tuple(out)


def _leaves(x, path=()):
    if isinstance(x, dict):
        for k in x:
            yield from _leaves(x[k], path + (k,))
    elif isinstance(x, (list, tuple)):
        for i, v in enumerate(x):
            yield from _leaves(v, path + (i,))
    else:
        yield path, x


def _replace(x, path, value):
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(x, dict):
        y = dict(x)
        y[head] = _replace(x[head], rest, value)
        return y
    y = list(x)
    y[head] = _replace(x[head], rest, value)
    return type(x)(y) if isinstance(x, tuple) else y


def _like(leaf, value):
    """``value`` (a float64 array) in the same kind of container as ``leaf``."""
    if isinstance(leaf, np.ndarray):
        return value
    if isinstance(leaf, np.generic):
        return np.float64(value)
    return float(value)


def _num_one(f, args, w, eps, kwargs):
    x = args[w]
    result = {}
    for path, leaf in _leaves(x):
        base = _flat_float(leaf)
        g = np.zeros_like(base)
        for idx in np.ndindex(base.shape):
            plus, minus = base.copy(), base.copy()
            plus[idx] += eps
            minus[idx] -= eps
            a1, a2 = list(args), list(args)
            a1[w] = _replace(x, path, _like(leaf, plus))
            a2[w] = _replace(x, path, _like(leaf, minus))
            g[idx] = (np.sum(f(*owned_copy(a1), **owned_copy(kwargs)))
                      - np.sum(f(*owned_copy(a2), **owned_copy(kwargs)))) / (2 * eps)
        result[path] = g if base.shape else float(g)
    if list(result) == [()]:
        return result[()]
    out = x
    for path, g in result.items():
        out = _replace(out, path, g)
    return out


def check_grad(f, *args, wrt=0, rtol=1e-5, atol=1e-6, eps=1e-6, **kwargs):
    """Raise AssertionError where srcad's gradient of ``f`` disagrees with central differences.

    Returns the largest absolute difference found.
    """
    # both on copies of the same point: ``f`` may change its arguments (``lst.append``)
    g = grad(f, wrt=wrt)(*owned_copy(args), **owned_copy(kwargs))
    n = numerical_grad(f, args, wrt, eps, kwargs)
    worst = 0.0
    pairs = list(zip(_leaves(g), _leaves(n)))
    for (path, a), (_, b) in pairs:
        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        if a.shape != b.shape:
            raise AssertionError(f"gradient{_fmt(path)} has shape {a.shape}, expected {b.shape}")
        if a.size:
            worst = max(worst, float(np.max(np.abs(a - b))))
        if not np.allclose(a, b, rtol=rtol, atol=atol):
            raise AssertionError(f"gradient{_fmt(path)} disagrees with finite differences "
                                 f"(max abs error {np.max(np.abs(a - b)):.3g}):\nsrcad:  {a}\nnumeric: {b}")
    return worst


def _fmt(path):
    return "".join(f"[{p!r}]" for p in path)
