"""Forward mode (srcad.forward), jvp, jacobian and hessian against central finite differences."""

import re

import numpy as np
import pytest

import srcad
from srcad import runtime as rt
from srcad.pipeline import forward_derivative
from srcad.pipeline import reverse_derivative
from srcad.rules.registry import FORWARD, NONDIFF

EPS = 1e-6


def num_jvp(f, args, tangents, eps=EPS):
    """Central finite difference of f along the tangents (None: not moved)."""
    plus = [a if t is None else a + eps * np.asarray(t) for a, t in zip(args, tangents)]
    minus = [a if t is None else a - eps * np.asarray(t) for a, t in zip(args, tangents)]
    return (np.asarray(f(*plus), dtype=float) - np.asarray(f(*minus), dtype=float)) / (2 * eps)


def num_jacobian(f, args, wrt=0, eps=EPS):
    x = np.asarray(args[wrt], dtype=float)
    cols = []
    for k in range(x.size):
        e = np.zeros(x.size)
        e[k] = 1.0
        t = [None] * len(args)
        t[wrt] = e.reshape(x.shape)
        cols.append(num_jvp(f, args, t, eps))
    y = np.asarray(f(*args))
    return np.stack(cols, axis=-1).reshape(y.shape + x.shape)


def close(a, b, rtol=1e-5, atol=1e-6):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    assert a.shape == b.shape, (a.shape, b.shape)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


# ---------------------------------------------------------------------- core forward rules


# (id, function): one NumPy construct each; the ARRAY_ONLY ones need an array argument.
UNARY = [
    ("sin", lambda x: np.sin(x)),
    ("cos", lambda x: np.cos(x)),
    ("exp", lambda x: np.exp(x)),
    ("tanh", lambda x: np.tanh(x)),
    ("negative", lambda x: -x),
    ("positive", lambda x: +x),
    ("abs", lambda x: np.abs(x)),
    ("sum", lambda x: np.sum(x)),
    ("mean", lambda x: np.mean(x)),
    ("copy", lambda x: np.copy(x)),
    ("log", lambda x: np.log(x)),
    ("sqrt", lambda x: np.sqrt(x)),
    ("norm", lambda x: np.linalg.norm(x)),
    ("transpose", lambda x: np.transpose(x)),
    ("T", lambda x: x.T),
    ("reshape", lambda x: np.reshape(x, (-1,))),
    ("sum_axis", lambda x: np.sum(x, axis=-1)),
    ("mean_keep", lambda x: np.mean(x, axis=0, keepdims=True)),
    ("method_sum", lambda x: x.sum()),
    ("float", lambda x: float(np.sum(x))),
]
ARRAY_ONLY = {"transpose", "T", "reshape", "sum_axis", "mean_keep", "method_sum"}

BINARY = [
    ("add", lambda a, b: a + b),
    ("sub", lambda a, b: a - b),
    ("mul", lambda a, b: a * b),
    ("div", lambda a, b: a / b),
    ("pow", lambda a, b: a ** b),
    ("max", lambda a, b: np.maximum(a, b)),
]
SHAPES = [(), (3,), (2, 3)]
PAIRS = [((), ()), ((3,), (3,)), ((2, 3), (2, 3)), ((), (2, 3)), ((2, 3), ()), ((3,), (2, 3)), ((2, 1), (1, 3))]


def _pos(rng, shape):
    v = rng.uniform(0.5, 2.0, size=shape)
    return float(v) if shape == () else v


def _tan(rng, shape):
    v = rng.normal(size=shape)
    return float(v) if shape == () else v


@pytest.mark.parametrize("f,shape", [
    pytest.param(f, shape, id=f"{name}-{shape}") for name, f in UNARY for shape in SHAPES
    if shape or name not in ARRAY_ONLY])
def test_unary_rule(f, shape, rng):
    x, t = _pos(rng, shape), _tan(rng, shape)
    value, tangent = srcad.jvp(f, (x,), (t,))
    close(value, f(x))
    close(tangent, num_jvp(f, [x], [t]))


@pytest.mark.parametrize("shapes", PAIRS, ids=str)
@pytest.mark.parametrize("f", [f for _, f in BINARY], ids=[name for name, _ in BINARY])
def test_binary_rule(f, shapes, rng):
    a, b = _pos(rng, shapes[0]), _pos(rng, shapes[1])
    ta, tb = _tan(rng, shapes[0]), _tan(rng, shapes[1])
    for tangents in [(ta, tb), (ta, None), (None, tb)]:
        value, tangent = srcad.jvp(f, (a, b), tangents)
        expect = num_jvp(f, [a, b], list(tangents))
        close(tangent, expect)      # shaped like the output even when one operand is inactive


def mm(a, b):
    return a @ b


def npdot(a, b):
    return np.dot(a, b)


@pytest.mark.parametrize("f", [mm, npdot])
@pytest.mark.parametrize("shapes", [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 2)), ((2, 3), (3, 4))], ids=str)
def test_matmul_rules(f, shapes, rng):
    a, b = rng.normal(size=shapes[0]), rng.normal(size=shapes[1])
    ta, tb = rng.normal(size=shapes[0]), rng.normal(size=shapes[1])
    for tangents in [(ta, tb), (ta, None), (None, tb)]:
        _, tangent = srcad.jvp(f, (a, b), tangents)
        close(tangent, num_jvp(f, [a, b], list(tangents)))


def test_every_runtime_helper_has_a_forward_rule():
    """Hessians run forward mode over generated reverse code: each helper it calls needs a rule."""
    missing = []
    third_order = {"norm_adjoint_dx", "norm_adjoint_dy"}   # called by forward code only
    for name, obj in rt.RUNTIME_NAMES.items():
        if obj in FORWARD or obj in NONDIFF or name in third_order:
            continue
        missing.append(name)
    assert not missing, missing


# ---------------------------------------------------------------------- a corpus of constructs


def straight(x, y):
    a = np.sin(x) * y
    b = np.exp(a / 3.0) + x ** 2
    return np.sum(b * a) - np.mean(y)


def branchy(x, y):
    s = np.sum(x)
    if s > 0:
        z = x * y
    else:
        z = x / (1.0 + y * y)
    if np.max(x) > 10.0:
        z = 0.0 * z
    return np.sum(z ** 2)


def while_loop(x):
    s = np.sum(x * x)
    n = 0
    while s < 50.0:
        s = s * 1.5 + np.sum(np.sin(x))
        n += 1
    return s * x


def for_range(x):
    acc = 0.0
    for i in range(x.shape[0]):
        acc = acc + x[i] * np.cos(acc)
    return acc


def for_rows(A):
    total = 0.0
    for row in A:
        total = total + np.tanh(row) @ row
    return total


def for_list(x):
    out = 0.0
    for w in [0.5, 1.0, 2.0]:
        out = out + w * np.sin(w * x)
    return out


def break_continue(x):
    s = 0.0
    for i in range(x.shape[0]):
        if x[i] < 0.2:
            continue
        s = s + x[i] * s + x[i]
        if s > 3.0:
            break
    return s * x[0]


def early_return(x):
    if x[0] > 0.5:
        return np.sum(x ** 3)
    y = np.exp(x)
    if x[1] > 0.5:
        return np.sum(y * x)
    return np.sum(y)


def _helper(a, b):
    return np.sin(a) * b + a


def _helper2(a, k):
    c = _helper(a, a) * k
    return c


def calls(x, y):
    u = _helper(x, y)
    v = _helper2(u, 2.0)
    w = _helper(3.0, x)
    return np.sum(u * v + w)


def setitem_loop(x):
    out = np.zeros(x.shape[0])
    for i in range(x.shape[0]):
        out[i] = x[i] * x[i - 1]
        if out[i] > 0.3:
            out[i] = out[i] ** 2
    return out


def setitem_param(x):
    x[0] = x[1] * 2.0
    return x * x


def broadcast(x, y):
    return np.sum((x[:, None] + y[None, :]) * y, axis=0)


def containers(x, y):
    pair = (x * 2.0, y)
    d = {"a": pair[0], "b": np.sin(y)}
    items = [d["a"], d["b"], 1.0]
    return items[0] * items[1] + pair[1] * items[2]


def self_reference(x):
    x = np.exp(x)
    x = x * x
    return np.sum(x)


def nested_loops(x):
    s = 0.0
    for i in range(2):
        j = 0
        while j < x.shape[0]:
            s = s + np.sin(x[j] * (i + 1)) * s + x[j]
            j += 1
    return s


def inactive_mix(x, n):
    z = np.zeros(3)
    for i in range(n):
        z = z + i
    return np.sum(z * x)


def _args(rng, name):
    x = rng.uniform(0.1, 1.0, size=4)
    y = rng.uniform(0.1, 1.0, size=4)
    return {
        "straight": (x, y), "branchy": (x, y), "while_loop": (x,), "for_range": (x,),
        "for_rows": (rng.normal(size=(3, 4)),), "for_list": (x,), "break_continue": (x,),
        "early_return": (x,), "calls": (x, y), "setitem_loop": (x,), "setitem_param": (x,),
        "broadcast": (x[:3], y), "containers": (x, y), "self_reference": (x,), "nested_loops": (x,),
        "inactive_mix": (x[:3], 3),
    }[name]


CORPUS = [straight, branchy, while_loop, for_range, for_rows, for_list, break_continue, early_return, calls,
          setitem_loop, setitem_param, broadcast, containers, self_reference, nested_loops, inactive_mix]
SCALAR_OUT = [straight, branchy, for_range, for_rows, break_continue, early_return, calls, self_reference,
              nested_loops]


def _float_args(args):
    return [i for i, a in enumerate(args) if isinstance(a, np.ndarray)]


@pytest.mark.parametrize("f", CORPUS, ids=lambda f: f.__name__)
def test_jvp_corpus(f, rng):
    args = _args(rng, f.__name__)
    saved = [np.copy(a) for a in args]
    tangents = [rng.normal(size=np.shape(a)) if i in _float_args(args) else None for i, a in enumerate(args)]
    saved_t = [None if t is None else t.copy() for t in tangents]
    value, tangent = srcad.jvp(f, args, tangents)
    close(value, f(*[np.copy(a) for a in args]))
    close(tangent, num_jvp(lambda *a: f(*[np.copy(v) for v in a]), args, tangents))
    for a, s in zip(args, saved):
        np.testing.assert_array_equal(a, s)     # user arrays never mutated
    for t, s in zip(tangents, saved_t):
        if t is not None:
            np.testing.assert_array_equal(t, s)


@pytest.mark.parametrize("f", CORPUS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("mode", ["forward", "reverse", "auto"])
def test_jacobian_corpus(f, mode, rng):
    args = _args(rng, f.__name__)
    jac = srcad.jacobian(f, wrt=0, mode=mode)(*args)
    close(jac, num_jacobian(lambda *a: f(*[np.copy(v) for v in a]), args, 0), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("f", SCALAR_OUT, ids=lambda f: f.__name__)
def test_hessian_corpus(f, rng):
    args = _args(rng, f.__name__)
    H = srcad.hessian(f)(*args)
    g = srcad.grad(f)
    expect = num_jacobian(lambda *a: g(*a), args, 0, eps=1e-5)
    close(H, expect, rtol=1e-4, atol=1e-5)
    n = np.size(args[0])
    Hm = H.reshape(n, n)
    close(Hm, Hm.T, rtol=1e-8, atol=1e-8)   # symmetric


def hess_while(x):
    s = np.sum(x * x)
    k = 0
    while s < 20.0:
        s = s * np.sum(np.cos(x)) + 2.0 + s * s * 0.1
        k += 1
    return s


@pytest.mark.parametrize("shape", [(3,), (2, 2)])
def test_hessian_of_while_loop(shape, rng):
    x = rng.uniform(0.1, 0.5, size=shape)
    H = srcad.hessian(hess_while)(x)
    assert H.shape == shape + shape
    expect = num_jacobian(srcad.grad(hess_while), [x], 0, eps=1e-5)
    close(H, expect, rtol=1e-4, atol=1e-5)
    n = x.size
    close(H.reshape(n, n), H.reshape(n, n).T, rtol=1e-8, atol=1e-8)
    # the Hessian's forward code runs over the generated gradient, tangent stack included
    src = srcad.source(srcad.hessian(hess_while))
    assert re.search(r"dstack_\w+\.append\(", src) and re.search(r"dstack_\w+\.pop\(\)", src)


def quadratic(x, A):
    return 0.5 * x @ (A @ x) + np.sum(x)


def test_hessian_exact_quadratic(rng):
    A = rng.normal(size=(4, 4))
    x = rng.normal(size=4)
    close(srcad.hessian(quadratic)(x, A), 0.5 * (A + A.T), rtol=1e-10, atol=1e-12)


def kink(x):
    if x >= 0.0:
        y = x * 3.0
    else:
        y = -x * 2.0
    return y


def test_jvp_at_branch_point_follows_taken_branch():
    assert srcad.jvp(kink, (0.0,), (1.0,)) == (0.0, 3.0)
    assert srcad.jvp(kink, (-1e-12,), (1.0,))[1] == -2.0


@pytest.mark.parametrize("f", [straight, while_loop, setitem_loop, broadcast, calls, containers],
                         ids=lambda f: f.__name__)
def test_forward_reverse_duality(f, rng):
    """<u, J v> (forward) == <J^T u, v> (reverse) for random u, v."""
    args = _args(rng, f.__name__)
    v = rng.normal(size=np.shape(args[0]))
    tangents = [v] + [None] * (len(args) - 1)
    value, jv = srcad.jvp(f, args, tangents)
    u = rng.normal(size=np.shape(value))
    _, pullback = srcad.vjp(f)(*args)
    jtu = pullback(u)
    assert np.isclose(np.sum(u * jv), np.sum(jtu * v), rtol=1e-9, atol=1e-10)


def tall(x):
    return np.sin(x[0] * np.arange(60.0)) * x[1]


def test_jacobian_auto_picks_cheaper_side(rng, monkeypatch):
    import srcad.pipeline as pl
    calls = []
    orig_f, orig_r = pl.forward_derivative, pl.reverse_derivative
    monkeypatch.setattr(pl, "forward_derivative", lambda *a, **k: calls.append("f") or orig_f(*a, **k))
    monkeypatch.setattr(pl, "reverse_derivative", lambda *a, **k: calls.append("r") or orig_r(*a, **k))
    x = rng.normal(size=2)
    J = srcad.jacobian(tall)(x)
    assert calls == ["f"] and J.shape == (60, 2)
    calls.clear()
    J = srcad.jacobian(straight)(rng.normal(size=4), rng.normal(size=4))
    assert calls == ["r"] and J.shape == (4,)


def test_forward_source_is_readable():
    src = srcad.forward_source(straight, wrt=(0, 1))
    assert src.startswith("def jvp_straight(x, y, *, dx, dy):")
    assert "# line" in src
    assert forward_derivative(straight, (0, 1)).source == src
    # a tangent nobody wrote costs nothing: only y is active, so no dx anywhere
    src_y = srcad.forward_source(straight, wrt=1)
    assert "dx" not in src_y.replace("def jvp_straight", "")
    assert srcad.source(srcad.jacobian(straight)) == forward_derivative(straight, (0,)).source


def uses_unknown(x):
    return np.fft.hfft(x)  # no rule: np.fft.fft has one (issue 14)


def test_no_forward_rule_is_a_clear_error():
    with pytest.raises(srcad.TransformError) as e:
        srcad.jvp(uses_unknown, (np.ones(3),), (np.ones(3),))
    msg = str(e.value)
    assert "test_forward.py" in msg and "fft" in msg


def test_tangent_shape_checked():
    with pytest.raises(ValueError):
        srcad.jvp(straight, (np.ones(3), np.ones(3)), (np.ones(2), None))


def stack_user(x):
    """A hand-written Stack use, as generated reverse code does."""
    st = rt.Stack()
    a = x * 2.0
    st.append(a)
    st.append(3.0)
    a = np.sin(a)
    c = st.pop()
    b = st.pop()
    return a * b * c


def test_stack_push_pop_tangents(rng):
    x = rng.normal(size=3)
    t = rng.normal(size=3)
    _, tangent = srcad.jvp(stack_user, (x,), (t,))
    close(tangent, num_jvp(stack_user, [x], [t]))


def test_grad_function_jvp_matches_fd(rng):
    """Forward mode over a generated gradient (stacks, add_at, pop_at)."""
    x = rng.uniform(0.1, 1.0, size=4)
    d = reverse_derivative(setitem_loop, (0,), "grad")
    fw = forward_derivative(d.fn, (0,))
    t = rng.normal(size=4)
    _, tangent = fw.fn(x, **{fw.tangent_names[0]: t})
    close(tangent, num_jvp(lambda v: d.fn(v), [x], [t]))
