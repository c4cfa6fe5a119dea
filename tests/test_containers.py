"""Differentiated arguments that are nested tuples, lists and dicts of arrays; functions that build
and index containers. The gradient has the argument's structure (dict key order included)."""

import numpy as np
import pytest

import srcad

R = np.random.default_rng(3)


def nested(p):
    (a, b), c = p
    return np.sum(a * b) + np.sum(c["k"][0] ** 2) + c["k"][1] * np.sum(a)


def builds(a, b):
    t = (a, b * 2.0)
    d = {"x": t[0], "y": t[1]}
    lst = [d["x"], d["y"], a]
    return np.sum(lst[0] * lst[1]) + np.sum(lst[2]) + np.sum(np.stack(lst) ** 2)


def partly_used(p):
    return np.sum(p["a"] ** 2)


def loop_over_list(ws, x):
    total = 0.0
    for w in ws:
        total = total + np.sum(np.sin(w * x))
    return total


def returns_from_dict(p):
    q = {"u": p["a"] * 2.0, "v": p["b"]}
    q["w"] = q["u"] * q["v"]
    return np.sum(q["w"]) + np.sum(q["v"])


def dict_of_results(p):
    q = {"u": p["a"] * 2.0, "v": np.tanh(p["b"])}
    r = {"s": q["u"] + q["v"], "t": q}
    return np.sum(r["s"] * r["t"]["v"])


def test_nested_structure():
    p = ((R.normal(size=3), R.normal(size=3)), {"k": [R.normal(size=2), 2.0]})
    srcad.check_grad(nested, p)
    g = srcad.grad(nested)(p)
    assert isinstance(g, tuple) and isinstance(g[0], tuple) and isinstance(g[1]["k"], list)


def test_builds_and_indexes_containers():
    srcad.check_grad(builds, R.normal(size=3), R.normal(size=3), wrt=(0, 1))


def test_unused_entries_get_zeros_and_order_is_kept():
    p = {"b": np.ones(3), "a": np.ones(2), "n": 3}
    g = srcad.grad(partly_used)(p)
    assert list(g) == ["b", "a", "n"]
    np.testing.assert_array_equal(g["b"], np.zeros(3))
    np.testing.assert_array_equal(g["a"], [2.0, 2.0])
    assert g["n"] == 0.0


def test_loop_over_list():
    ws = [R.normal(size=3), R.normal(size=3), R.normal(size=3)]
    srcad.check_grad(loop_over_list, ws, R.normal(size=3), wrt=(0, 1))


def test_dict_new_key_assigned():
    p = {"a": R.normal(size=(2, 2)), "b": R.normal(size=(2, 2))}
    srcad.check_grad(returns_from_dict, p)


def test_dict_built_in_function():
    p = {"a": R.normal(size=(2, 2)), "b": R.normal(size=(2, 2))}
    srcad.check_grad(dict_of_results, p)


@pytest.mark.parametrize("container", [tuple, list])
def test_sequence_argument(container):
    def f_seq(xs):
        return np.sum(xs[0] * xs[1]) + np.sum(xs[2])
    xs = container([R.normal(size=2), R.normal(size=2), R.normal(size=(2, 2))])
    g = srcad.grad(f_seq)(xs)
    assert type(g) is container
    srcad.check_grad(f_seq, xs)


def test_list_adjoint_through_concatenate():
    def f_cat(a, b):
        parts = [a, b, a]
        return np.sum(np.concatenate(parts) ** 3)
    srcad.check_grad(f_cat, R.normal(size=2), R.normal(size=3), wrt=(0, 1))


def rnn_collecting_outputs(W, X):
    h = np.zeros(3)
    outs = []
    for t in range(X.shape[0]):
        h = np.tanh(W @ h + X[t])
        outs.append(h)
    H = np.stack(outs)
    return np.sum(H * H) + np.sum(outs[-1])


def test_list_append_in_a_loop():
    W, X = R.normal(size=(3, 3)) * 0.5, R.normal(size=(4, 3))
    srcad.check_grad(rnn_collecting_outputs, W, X, wrt=(0, 1))
    assert "outs = list_append(outs, h)" in srcad.source(srcad.grad(rnn_collecting_outputs), W, X)


def summed_losses(x, y):
    losses = []
    for i in range(3):
        losses.append(np.sum(x * i) + y ** 2)
    return sum(losses) + sum([x[0], y])


def test_builtin_sum_of_a_list():
    srcad.check_grad(summed_losses, R.normal(size=2), 0.3, wrt=(0, 1))
