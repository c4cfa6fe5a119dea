"""dtype (issue 14, item 5): a float32 input gets a float32 derivative in both modes; ints keep
today's behaviour (cast to float64).

Every case of the rule tables (tests/test_numpy_rules.py, test_numpy_rules_more.py) is run on float32
inputs with a float32-clean weighting (the tables' ``weigh`` multiplies by float64 weights, which
rightly gives a float64 result): where the function's own value is float32, ``srcad.grad`` must
return float32 gradients and ``srcad.jvp`` float32 tangents, i.e. no rule upcasts.
"""

import os

import numpy as np
import pytest

import srcad

import test_numpy_rules as T
import test_numpy_rules_more as M

# (case, input, mode) whose rules still compute in float64 somewhere (a float64 constant, mask or
# eye inside a helper, a Python float seed turned into a float64 array), run as strict xfails so
# that a fix is noticed: none left (the last 92 were fixed in issue 14's float32 pass)
UPCASTS = set()


def weigh32(y):
    w = np.sin(1.0 + np.arange(np.size(y)).reshape(np.shape(y))).astype(np.result_type(y))
    return np.sum(y * w)


def _f32(a):
    if isinstance(a, np.ndarray) and a.dtype == np.float64:
        return a.astype(np.float32)
    if type(a) is float:
        return np.float32(a)
    return a


CASES = [(c[0],) + tuple(c[1:4]) for c in T.CASES] + [(c[0],) + tuple(c[1:4]) for c in M.ALL]
PARAMS = []
# every case with SRCAD_LONG=1; by default half of them (and every known upcast, so a fix is noticed)
_LONG = bool(os.environ.get("SRCAD_LONG"))
for _i, (_name, _fn, _args, _wrt) in enumerate(CASES):
    for _w in ((_wrt,) if isinstance(_wrt, int) else _wrt):
        if np.asarray(_f32(_args[_w])).dtype != np.float32:
            continue
        for _mode in ("rev", "fwd"):
            marks = [pytest.mark.xfail(strict=True, reason="upcasts inside a rule")] \
                if (_name, _w, _mode) in UPCASTS else []
            if not _LONG and not marks and _i % 2:
                continue
            PARAMS.append(pytest.param(_name, _fn, _args, _w, _mode, marks=marks, id=f"{_name}-w{_w}-{_mode}"))


@pytest.fixture
def clean_weights(monkeypatch):
    monkeypatch.setattr(T, "weigh", weigh32)
    monkeypatch.setattr(M, "weigh", weigh32)


@pytest.mark.parametrize("name,fn,args,w,mode", PARAMS)
def test_float32_in_float32_out(clean_weights, name, fn, args, w, mode):
    args = [_f32(a) for a in args]
    try:
        value = fn(*args)
    except Exception:
        pytest.skip("the function itself does not take float32 inputs")
    if np.asarray(value).dtype != np.float32:
        pytest.skip("the function's own value is not float32")
    if mode == "rev":
        got = srcad.grad(fn, wrt=w)(*args)
    else:
        tangents = [None] * len(args)
        tangents[w] = np.ones_like(args[w])
        got = srcad.jvp(fn, args, tangents)[1]
    assert np.asarray(got).dtype == np.float32


def test_float32_values_agree_with_float64():
    def f(x, y):
        return np.sum(np.tanh(x @ y) * np.clip(x, -0.5, 0.5).sum(axis=1, keepdims=True))
    x, y = T.u(3, 4), T.u(4, 2)
    g64 = srcad.grad(f, wrt=(0, 1))(x, y)
    g32 = srcad.grad(f, wrt=(0, 1))(x.astype(np.float32), y.astype(np.float32))
    for a, b in zip(g32, g64):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    t32 = srcad.jvp(f, (x.astype(np.float32), y.astype(np.float32)), (np.ones((3, 4), np.float32), None))[1]
    assert np.asarray(t32).dtype == np.float32


def test_integer_inputs_keep_float64_gradients():
    def f(x):
        return np.sum(x * x)
    g = srcad.grad(f)(np.arange(3))
    assert g.dtype == np.float64
    np.testing.assert_allclose(g, [0.0, 2.0, 4.0])
    assert srcad.grad(f)(3) == 6.0
