"""Gradients the derivative builds afresh skip grad's aliasing check (issue 15 item 7); any other
still gets it: what grad hands back is writable and shares no memory with the arguments."""

import numpy as np
import pytest

import srcad
from srcad import runtime
from srcad.ownership import fresh_result


def _fn(src):
    ns = {"np": np, "unbroadcast": runtime.unbroadcast, "zeros_like": runtime.zeros_like,
          "grad_like": runtime.grad_like, "unreduce": runtime.unreduce}
    exec(compile(src, "<test>", "exec"), ns)
    return next(v for k, v in ns.items() if k.startswith("grad_"))


@pytest.mark.parametrize("body, fresh", [
    ("dx = dout * x\n    return dx", True),
    ("dx = zeros_like(x)\n    dx += dout\n    return dx", True),
    ("dx = unbroadcast(dout * x, x)\n    return dx", True),
    ("d = -x\n    dx = d\n    return dx, 0.0", True),
    ("dx = dout\n    return dx", False),                    # the seed, which a caller may pass
    ("dx = x\n    return dx", False),                       # an argument
    ("dx = unbroadcast(dout, x)\n    return dx", False),    # may hand back the seed itself
    ("dx = np.reshape(dout * x, (3,))\n    return dx", False),   # a NumPy call: not assumed
    ("dx = dout * x\n    if dout:\n        dx = x\n    return dx", False),
    ("dx = dout * x\n    for dx in [x]:\n        pass\n    return dx", False),
    ("dx = unreduce(dout, x, None, False)\n    return dx", False),
])
def test_fresh_result(body, fresh):
    src = f"def grad_f(x, *, dout=1.0):\n    {body}\n"
    assert fresh_result(src, _fn(src)) is fresh


def sum_sq(x):
    return np.sum(x * x)


def sum_prod(x, y):
    return np.sum(x * y)


def sum_all(x):
    return np.sum(x)


def reshaped(x):
    return np.sum(np.reshape(x, (-1,)) * 2.0)


def ident_scaled(x, y):
    return np.sum(x) + np.sum(y * 1.0)


@pytest.mark.parametrize("fn, wrt, nargs", [(sum_sq, 0, 1), (sum_prod, (0, 1), 2), (sum_all, 0, 1),
                                            (reshaped, 0, 1), (ident_scaled, (0, 1), 2)])
def test_fast_path_gradients_own_their_memory(fn, wrt, nargs):
    args = [np.array([0.5, -1.0, 2.0]), np.array([1.5, 0.25, -3.0])][:nargs]
    before = [a.copy() for a in args]
    g = srcad.grad(fn, wrt=wrt)
    for _ in range(3):                  # the first call builds; the others take the fast path
        out = g(*args)
        for d in (out if isinstance(out, tuple) else (out,)):
            assert d.flags.writeable and not any(np.shares_memory(d, a) for a in args)
            d[...] = 7.0
        for a, b in zip(args, before):
            np.testing.assert_array_equal(a, b)
    assert g._fast                      # the fast path was remembered


def test_fresh_gradient_for_a_one_tuple_wrt():
    x = np.array([0.5, -1.0, 2.0])
    g = srcad.grad(sum_sq, wrt=(0,))
    for _ in range(3):
        out = g(x)
        assert isinstance(out, tuple) and len(out) == 1
        np.testing.assert_array_equal(out[0], 2 * x)
    assert next(iter(g._fast.values()))[4] == 1      # fresh, handed back as a 1-tuple
