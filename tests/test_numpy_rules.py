"""Every NumPy derivative rule against central finite differences (float64).

One table, one entry per rule and call form: the function (a lambda, one per line), the inputs
(with a valid domain), and which inputs are differentiated. Non-scalar outputs are reduced with
fixed, uneven weights (``weigh``) so that a wrong adjoint cannot hide behind a plain sum.
"""

import numpy as np
import pytest

import srcad

R = np.random.default_rng(20240601)


def u(*shape, lo=-1.0, hi=1.0):
    """Uniform samples of ``shape`` (a Python float for ``()``)."""
    v = R.uniform(lo, hi, size=shape)
    return float(v) if shape == () else v


def pos(*shape):
    return u(*shape, lo=0.5, hi=2.0)


def weigh(y):
    """A weighted sum of ``y`` with fixed uneven weights (differentiated through as a call)."""
    w = np.sin(1.0 + np.arange(np.size(y)).reshape(np.shape(y)))
    return np.sum(y * w)


def spd(n):
    a = R.normal(size=(n, n))
    return a @ a.T + n * np.eye(n)


# ---------------------------------------------------------------- one-input elementwise functions

ANY, POS, UNIT, GT1, NZ = "any", "pos", "unit", "gt1", "nonzero"
UNARY = [
    (np.negative, ANY), (np.positive, ANY), (np.abs, NZ), (np.absolute, NZ), (abs, NZ),
    (np.square, ANY), (np.sqrt, POS), (np.cbrt, NZ), (np.reciprocal, NZ), (np.exp, ANY),
    (np.exp2, ANY), (np.expm1, ANY), (np.log, POS), (np.log2, POS), (np.log10, POS),
    (np.log1p, POS), (np.sin, ANY), (np.cos, ANY), (np.tan, UNIT), (np.arcsin, UNIT),
    (np.arccos, UNIT), (np.arctan, ANY), (np.sinh, ANY), (np.cosh, ANY), (np.tanh, ANY),
    (np.arcsinh, ANY), (np.arccosh, GT1), (np.arctanh, UNIT), (np.sinc, NZ), (np.deg2rad, ANY),
    (np.rad2deg, ANY), (np.radians, ANY), (np.degrees, ANY),
]


def sample(dom, shape):
    if dom == POS:
        return pos(*shape)
    if dom == UNIT:
        return u(*shape, lo=-0.8, hi=0.8)
    if dom == GT1:
        return u(*shape, lo=1.2, hi=2.5)
    if dom == NZ:
        v = u(*shape, lo=0.3, hi=1.5)
        sign = np.where(R.uniform(size=shape) < 0.5, -1.0, 1.0)
        return float(v * sign) if shape == () else v * sign
    return u(*shape, lo=-1.5, hi=1.5)


def _unary(f):
    return lambda x: weigh(f(x))


@pytest.mark.parametrize("shape", [(), (3,), (2, 3)], ids=["scalar", "vector", "matrix"])
@pytest.mark.parametrize("f,dom", UNARY, ids=[getattr(f, "__name__", str(f)) for f, _ in UNARY])
def test_unary(f, dom, shape):
    srcad.check_grad(_unary(f), sample(dom, shape))


# ---------------------------------------------------------------- two-input elementwise functions

BINARY = [
    (np.add, ANY, ANY), (np.subtract, ANY, ANY), (np.multiply, ANY, ANY), (np.divide, ANY, NZ),
    (np.true_divide, ANY, NZ), (np.power, POS, ANY), (np.float_power, POS, ANY),
    (np.arctan2, NZ, NZ), (np.hypot, NZ, NZ), (np.maximum, ANY, ANY), (np.minimum, ANY, ANY),
    (np.fmax, ANY, ANY), (np.fmin, ANY, ANY), (np.logaddexp, ANY, ANY),
    # x % y = x - floor(x / y) y: d/dx = 1, d/dy = -floor(x / y) (issue 11: these had derivative 0)
    (np.remainder, ANY, NZ), (np.mod, ANY, NZ), (np.fmod, ANY, NZ),
]
SHAPES2 = [((), ()), ((3,), (3,)), ((2, 3), (3,)), ((2, 1), (1, 3)), ((), (2, 3)), ((2, 3), ())]


def _binary(f):
    return lambda x, y: weigh(f(x, y))


@pytest.mark.parametrize("s1,s2", SHAPES2, ids=[f"{a}-{b}" for a, b in SHAPES2])
@pytest.mark.parametrize("f,d1,d2", BINARY, ids=[f.__name__ for f, _, _ in BINARY])
def test_binary(f, d1, d2, s1, s2):
    srcad.check_grad(_binary(f), sample(d1, s1), sample(d2, s2), wrt=(0, 1))


@pytest.mark.parametrize("s1,s2", SHAPES2, ids=[f"{a}-{b}" for a, b in SHAPES2])
@pytest.mark.parametrize("f,d1,d2", BINARY, ids=[f.__name__ for f, _, _ in BINARY])
def test_binary_forward(f, d1, d2, s1, s2):
    check_jvp(_binary(f), [sample(d1, s1), sample(d2, s2)], (0, 1))


# ---------------------------------------------------------------- the table of call forms

X = u(2, 3)
P = pos(2, 3)
V = u(4)
M = u(3, 3)
T3 = u(2, 3, 4)
CASES = [
    # operators and their broadcasting
    ("ops", lambda x, y: weigh(x * y + x / (y * y + 1.0) - (x ** 2 @ y.T)[:, None]), [u(2, 3), u(3)], (0, 1)),
    ("pow-op", lambda x, y: weigh(x ** y), [pos(2, 3), u(2, 1)], (0, 1)),
    ("pow-const", lambda x: weigh(x ** 3 + 2.0 ** x), [u(2, 3)], 0),
    # clip and where
    ("clip", lambda x: weigh(np.clip(x, -0.5, 0.5)), [X], 0),
    ("clip-arrays", lambda x, lo, hi: weigh(np.clip(x, lo, hi)), [u(2, 3), u(3, lo=-1, hi=-0.2), u(2, 1, lo=0.2, hi=1)], (0, 1, 2)),
    ("clip-none", lambda x: weigh(np.clip(x, None, 0.2)), [X], 0),
    ("clip-kw", lambda x: weigh(np.clip(x, a_min=-0.3, a_max=0.4)), [X], 0),
    ("clip-method", lambda x: weigh(x.clip(-0.3, 0.4)), [X], 0),
    ("clip-method-kw", lambda x: weigh(x.clip(max=0.4)), [X], 0),
    ("where", lambda x, y: weigh(np.where(x > 0, x * y, y)), [u(2, 3), u(3)], (0, 1)),
    ("where-scalar", lambda x: weigh(np.where(x > 0, x, 0.0)), [X], 0),
    # bounds, conditions and operands larger or smaller than the output's other inputs (issue 11)
    ("clip-bounds-larger", lambda x, lo, hi: weigh(np.clip(x, lo, hi)), [u(3), u(2, 3, lo=-1.2, hi=-0.3), u(2, 1, lo=0.3, hi=1.2)], (0, 1, 2)),
    ("clip-scalar-x", lambda x, lo: weigh(np.clip(x, lo, 2.0)), [0.1, u(2, 3)], (0, 1)),
    ("clip-crossed", lambda x, lo, hi: weigh(np.clip(x, lo, hi)), [u(3, lo=-2, hi=2), u(2, 3), u(2, 1)], (0, 1, 2)),
    ("clip-kw-larger", lambda x, lo, hi: weigh(np.clip(x, min=lo, max=hi)), [u(3), u(2, 3, lo=-1.2, hi=-0.3), u(2, 1, lo=0.3, hi=1.2)], (0, 1, 2)),
    ("clip-method-larger", lambda x, lo, hi: weigh(x.clip(lo, hi)), [u(3, lo=-2, hi=2), u(2, 3), u(2, 1)], (0, 1, 2)),
    ("where-cond-larger", lambda x: weigh(np.where(np.array([[True], [False]]), x, 0.0)), [u(3)], 0),
    ("where-cond-larger-y", lambda y: weigh(np.where(np.array([[True], [False]]), 1.0, y)), [u(3)], 0),
    ("where-scalar-operand", lambda x, y: weigh(np.where(np.array([[True], [False]]), x, y)), [u(), u(3)], (0, 1)),
    ("where-operand-smaller", lambda x, y: weigh(np.where(y > 0, x, y)), [u(3), u(2, 3)], (0, 1)),
    ("heaviside", lambda x, h: weigh(np.heaviside(x, h)), [np.array([[0.0, 1.0, -1.0], [0.0, 0.0, 2.0]]), u(3)], 1),
    ("mod-op", lambda a, b: weigh((a - b + np.pi) % (2 * np.pi) - np.pi), [u(2, 3, lo=-4, hi=4), u(3)], (0, 1)),
    ("mod-op-scalar", lambda a, b: (a - b + np.pi) % (2 * np.pi) - np.pi, [0.3, 2.0], (0, 1)),
    ("mod-op-divisor", lambda a, b: weigh(a % b), [u(2, 3, lo=-4, hi=4), u(3, lo=0.7, hi=1.3)], (0, 1)),
    ("mod-keyword-free", lambda a: weigh(np.mod(a, 0.75) + np.fmod(a, -0.6)), [u(2, 3, lo=-3, hi=3)], 0),
    # reductions
    ("sum", lambda x: weigh(np.sum(x)), [X], 0),
    ("sum-axis0", lambda x: weigh(np.sum(x, axis=0)), [X], 0),
    ("sum-keepdims-scalar", lambda s: weigh(np.sum(s, keepdims=True) * np.ones(3)), [u()], 0),
    ("sum-keepdims-0d", lambda s: np.sum(s, keepdims=True) * s, [np.array(0.7)], 0),
    ("mean-keepdims-1", lambda s: weigh(np.mean(s, keepdims=True) + np.sum(s, axis=0, keepdims=True)), [u(1)], 0),
    ("sum-axis-neg", lambda x: weigh(np.sum(x, -1, keepdims=True)), [T3], 0),
    ("sum-axes", lambda x: weigh(np.sum(x, axis=(0, 2))), [T3], 0),
    ("sum-method", lambda x: weigh(x.sum(axis=1)), [X], 0),
    ("mean", lambda x: weigh(np.mean(x, axis=1, keepdims=True)), [X], 0),
    ("mean-method", lambda x: weigh(x.mean(0)), [X], 0),
    ("mean-all", lambda x: np.mean(x), [T3], 0),
    ("prod", lambda x: np.prod(x), [u(2, 3)], 0),
    ("prod-axis", lambda x: weigh(np.prod(x, axis=1)), [u(2, 3)], 0),
    ("prod-zero", lambda x: weigh(np.prod(x, axis=0)), [np.array([[0.0, 1.5, 0.0], [2.0, 0.5, 0.0]])], 0),
    ("prod-keepdims", lambda x: weigh(np.prod(x, axis=(0, 2), keepdims=True)), [u(2, 3, 2)], 0),
    ("prod-method", lambda x: weigh(x.prod(axis=0)), [X], 0),
    ("max", lambda x: np.max(x), [X], 0),
    ("max-axis", lambda x: weigh(np.max(x, axis=0)), [X], 0),
    ("amax-keepdims", lambda x: weigh(np.amax(x, axis=1, keepdims=True)), [X], 0),
    ("min", lambda x: weigh(np.min(x, axis=-1)), [T3], 0),
    ("amin", lambda x: np.amin(x), [X], 0),
    ("max-method", lambda x: weigh(x.max(axis=1)), [X], 0),
    ("min-method", lambda x: x.min(), [X], 0),
    ("var", lambda x: np.var(x), [X], 0),
    ("var-axis", lambda x: weigh(np.var(x, axis=0, ddof=1)), [X], 0),
    ("var-keepdims", lambda x: weigh(np.var(x, axis=(1, 2), keepdims=True)), [T3], 0),
    ("var-method", lambda x: weigh(x.var(axis=1)), [X], 0),
    ("std", lambda x: np.std(x), [X], 0),
    ("std-axis", lambda x: weigh(np.std(x, axis=1, ddof=1, keepdims=True)), [X], 0),
    ("std-method", lambda x: weigh(x.std(0)), [X], 0),
    ("cumsum", lambda x: weigh(np.cumsum(x)), [X], 0),
    ("cumsum-axis", lambda x: weigh(np.cumsum(x, axis=1)), [X], 0),
    ("cumsum-method", lambda x: weigh(x.cumsum(axis=0)), [T3], 0),
    ("cumprod", lambda x: weigh(np.cumprod(x)), [pos(2, 3)], 0),
    ("cumprod-axis", lambda x: weigh(np.cumprod(x, axis=0)), [u(3, 2, lo=0.3, hi=1.5)], 0),
    ("cumprod-method", lambda x: weigh(x.cumprod(1)), [pos(2, 3)], 0),
    ("average", lambda x: weigh(np.average(x, axis=0)), [X], 0),
    ("average-weights", lambda x, w: np.average(x, weights=w), [u(2, 3), pos(2, 3)], (0, 1)),
    ("average-weights-axis", lambda x, w: weigh(np.average(x, axis=1, weights=w)), [u(2, 3), pos(3)], (0, 1)),
    ("average-weights-axis0", lambda x, w: weigh(np.average(x, axis=0, weights=w)), [u(2, 3), pos(2)], (0, 1)),
    ("nansum", lambda x: weigh(np.nansum(np.where(x > 0.3, np.nan, x), axis=1)), [X], 0),
    ("nansum-all", lambda x: np.nansum(x), [X], 0),
    ("norm", lambda x: np.linalg.norm(x), [V], 0),
    ("norm-matrix-fro", lambda x: np.linalg.norm(x), [X], 0),
    ("norm-axis", lambda x: weigh(np.linalg.norm(x, axis=1)), [X], 0),
    ("norm-keepdims", lambda x: weigh(np.linalg.norm(x, axis=0, keepdims=True)), [X], 0),
    ("norm-ord1", lambda x: np.linalg.norm(x, ord=1), [V], 0),
    ("norm-ord3", lambda x: np.linalg.norm(x, 3), [V], 0),
    ("norm-inf", lambda x: np.linalg.norm(x, np.inf), [V], 0),
    ("norm-ord1-axis", lambda x: weigh(np.linalg.norm(x, ord=1, axis=1)), [X], 0),
    # every ord (issue 11: matrix inf/-inf gave NaN, 1/-1/2/-2/nuc were not implemented)
    *[(f"norm-matrix-{o}-{sh}", (lambda x, o=o: np.linalg.norm(x, o)), [u(*sh)], 0)
      for o in (1, -1, 2, -2, np.inf, -np.inf, "fro", "nuc") for sh in ((3, 3), (2, 4))],
    *[(f"norm-matrix-{o}-axes", (lambda x, o=o: weigh(np.linalg.norm(x, o, axis=(2, 0)))), [u(3, 2, 4)], 0)
      for o in (1, -1, 2, -2, np.inf, -np.inf, "fro", "nuc")],
    *[(f"norm-matrix-{o}-keepdims", (lambda x, o=o: weigh(np.linalg.norm(x, o, axis=(0, 1), keepdims=True))), [u(3, 4, 2)], 0)
      for o in (1, -1, 2, "nuc")],
    *[(f"norm-vector-{o}", (lambda x, o=o: weigh(np.linalg.norm(x, o, axis=-1))), [u(2, 4)], 0)
      for o in (0.5, 1, -1, 2, -2, 3, np.inf, -np.inf)],
    ("norm-vector-0", lambda x: np.linalg.norm(x, 0) * np.sum(x * x), [u(4)], 0),
    # linear algebra
    ("matmul", lambda a, b: weigh(a @ b), [u(2, 3), u(3, 4)], (0, 1)),
    ("matmul-vec", lambda a, b: weigh(np.matmul(a, b)), [u(2, 3), u(3)], (0, 1)),
    ("matmul-vecmat", lambda a, b: weigh(np.matmul(a, b)), [u(3), u(3, 2)], (0, 1)),
    ("matmul-batched", lambda a, b: weigh(a @ b), [u(2, 2, 3), u(3, 4)], (0, 1)),
    ("matmul-batched-vec", lambda a, b: weigh(a @ b), [u(2, 3, 4), u(4)], (0, 1)),
    ("dot-3d-vec", lambda a, b: weigh(np.dot(a, b)), [u(2, 3, 4), u(4)], (0, 1)),
    ("dot", lambda a, b: weigh(np.dot(a, b)), [u(2, 3), u(3, 2)], (0, 1)),
    ("dot-vec", lambda a, b: np.dot(a, b), [u(3), u(3)], (0, 1)),
    ("dot-scalar", lambda a, b: weigh(np.dot(a, b)), [u(), u(3)], (0, 1)),
    ("dot-method", lambda a, b: weigh(a.dot(b)), [u(2, 3), u(3)], (0, 1)),
    ("vdot", lambda a, b: np.vdot(a, b), [u(2, 3), u(3, 2)], (0, 1)),
    ("inner", lambda a, b: weigh(np.inner(a, b)), [u(2, 3), u(4, 3)], (0, 1)),
    ("inner-vec", lambda a, b: np.inner(a, b), [u(3), u(3)], (0, 1)),
    ("inner-3d", lambda a, b: weigh(np.inner(a, b)), [u(2, 2, 3), u(3)], (0, 1)),
    ("outer", lambda a, b: weigh(np.outer(a, b)), [u(3), u(2, 2)], (0, 1)),
    ("tensordot", lambda a, b: weigh(np.tensordot(a, b)), [u(2, 3, 4), u(3, 4, 2)], (0, 1)),
    ("tensordot-int", lambda a, b: weigh(np.tensordot(a, b, 1)), [u(2, 3), u(3, 4)], (0, 1)),
    ("tensordot-axes", lambda a, b: weigh(np.tensordot(a, b, axes=([0, 2], [2, 0]))), [u(2, 3, 4), u(4, 5, 2)], (0, 1)),
    ("einsum-matmul", lambda a, b: weigh(np.einsum("ij,jk->ik", a, b)), [u(2, 3), u(3, 4)], (0, 1)),
    ("einsum-implicit", lambda a, b: weigh(np.einsum("ij,jk", a, b)), [u(2, 3), u(3, 4)], (0, 1)),
    ("einsum-three", lambda a, b, c: np.einsum("i,ij,j->", a, b, c), [u(2), u(2, 3), u(3)], (0, 1, 2)),
    ("einsum-trace", lambda a: np.einsum("ii", a), [M], 0),
    ("einsum-diag", lambda a: weigh(np.einsum("ii->i", a)), [M], 0),
    ("einsum-sum", lambda a, b: weigh(np.einsum("ij,k->k", a, b)), [u(2, 3), u(4)], (0, 1)),
    ("einsum-batch", lambda a, b: weigh(np.einsum("bij,bjk->bik", a, b)), [u(2, 2, 3), u(2, 3, 2)], (0, 1)),
    ("einsum-sublist", lambda x, y: weigh(np.einsum(x, (0, 1), y, (1, 2), (0, 2))), [u(2, 3), u(3, 4)], (0, 1)),
    ("einsum-sublist-implicit", lambda x, y: weigh(np.einsum(x, [0, 1], y, [1, 2])), [u(2, 3), u(3, 4)], (0, 1)),
    ("einsum-sublist-three", lambda x, y, z: np.einsum(x, [0], y, [0, 1], z, [1], []), [u(2), u(2, 3), u(3)], (0, 1, 2)),
    ("einsum-size1-same", lambda a, b: weigh(np.einsum("ij,ij->ij", a, b)), [u(1, 3), u(2, 3)], (0, 1)),
    ("einsum-size1-summed", lambda a, b: weigh(np.einsum("ij,jk->ik", a, b)), [u(2, 1), u(3, 4)], (0, 1)),
    ("einsum-size1-reduced", lambda a, b: weigh(np.einsum("ij,ij->i", a, b)), [u(2, 3), u(2, 1)], (0, 1)),
    ("trace", lambda a: np.trace(a), [M], 0),
    ("trace-offset", lambda a: np.trace(a, 1), [u(3, 4)], 0),
    ("trace-axes", lambda a: weigh(np.trace(a, axis1=1, axis2=2)), [u(2, 3, 3)], 0),
    ("trace-method", lambda a: a.trace(), [M], 0),
    ("diagonal", lambda a: weigh(np.diagonal(a)), [u(3, 4)], 0),
    ("diagonal-offset", lambda a: weigh(np.diagonal(a, -1)), [u(3, 4)], 0),
    ("diagonal-axes", lambda a: weigh(np.diagonal(a, 1, 0, 2)), [u(3, 2, 4)], 0),
    ("diagonal-method", lambda a: weigh(a.diagonal()), [M], 0),
    ("diag-build", lambda v: weigh(np.diag(v, 1)), [u(3)], 0),
    ("diag-extract", lambda a: weigh(np.diag(a)), [u(3, 4)], 0),
    ("tril", lambda a: weigh(np.tril(a)), [M], 0),
    ("triu", lambda a: weigh(np.triu(a, 1)), [u(3, 4)], 0),
    ("inv", lambda a: weigh(np.linalg.inv(a)), [spd(3)], 0),
    ("inv-batched", lambda a: weigh(np.linalg.inv(a)), [np.stack([spd(2), spd(2)])], 0),
    ("det", lambda a: np.linalg.det(a), [u(3, 3)], 0),
    ("det-batched", lambda a: weigh(np.linalg.det(a)), [u(2, 3, 3)], 0),
    ("det-singular", lambda a: np.linalg.det(a), [np.array([[1.0, 2.0], [2.0, 4.0]])], 0),
    ("det-singular-3", lambda a: np.linalg.det(a), [np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [0.0, 1.0, 5.0]])], 0),
    ("det-singular-batched", lambda a: weigh(np.linalg.det(a)), [np.stack([np.outer([1.0, 2, 3], [0.5, -1, 2]) + np.outer([0.0, 1, 1], [1.0, 0, 1]), u(3, 3)])], 0),
    ("slogdet", lambda a: np.linalg.slogdet(a)[1], [u(3, 3)], 0),
    ("slogdet-unpack", lambda a: weigh(np.linalg.slogdet(a)[1]), [spd(3)], 0),
    ("solve", lambda a, b: weigh(np.linalg.solve(a, b)), [spd(3), u(3)], (0, 1)),
    ("solve-matrix", lambda a, b: weigh(np.linalg.solve(a, b)), [spd(3), u(3, 2)], (0, 1)),
    ("solve-batched", lambda a, b: weigh(np.linalg.solve(a, b)), [np.stack([spd(2), spd(2)]), u(2)], (0, 1)),
    ("cholesky", lambda x: weigh(np.linalg.cholesky(x @ x.T + 3.0 * np.eye(3))), [u(3, 3)], 0),
    ("cholesky-upper", lambda x: weigh(np.linalg.cholesky(x @ x.T + 3.0 * np.eye(3), upper=True)), [u(3, 3)], 0),
    ("cholesky-batched", lambda x: weigh(np.linalg.cholesky(x @ np.swapaxes(x, -1, -2) + 3.0 * np.eye(3))),
     [u(2, 3, 3)], 0),
    # shapes
    ("reshape", lambda x: weigh(np.reshape(x, (3, 2))), [X], 0),
    ("reshape-method", lambda x: weigh(x.reshape(3, 2)), [X], 0),
    ("reshape-method-tuple", lambda x: weigh(x.reshape((-1,))), [X], 0),
    ("ravel", lambda x: weigh(np.ravel(x)), [X], 0),
    ("ravel-method", lambda x: weigh(x.ravel()), [X], 0),
    ("flatten", lambda x: weigh(x.flatten()), [X], 0),
    ("transpose", lambda x: weigh(np.transpose(x)), [X], 0),
    ("transpose-axes", lambda x: weigh(np.transpose(x, (2, 0, 1))), [T3], 0),
    ("transpose-method", lambda x: weigh(x.transpose()), [X], 0),
    ("transpose-method-args", lambda x: weigh(x.transpose(1, 2, 0)), [T3], 0),
    ("transpose-method-tuple", lambda x: weigh(x.transpose((1, 2, 0))), [T3], 0),
    ("T", lambda x: weigh(x.T @ x), [X], 0),
    ("swapaxes", lambda x: weigh(np.swapaxes(x, 0, 2)), [T3], 0),
    ("swapaxes-method", lambda x: weigh(x.swapaxes(0, 1)), [X], 0),
    ("moveaxis", lambda x: weigh(np.moveaxis(x, 0, -1)), [T3], 0),
    ("squeeze", lambda x: weigh(np.squeeze(x)), [u(2, 1, 3)], 0),
    ("squeeze-axis", lambda x: weigh(np.squeeze(x, axis=1)), [u(2, 1, 1)], 0),
    ("squeeze-method", lambda x: weigh(x.squeeze()), [u(1, 3)], 0),
    ("expand_dims", lambda x: weigh(np.expand_dims(x, 1) * x), [u(3)], 0),
    ("expand_dims-tuple", lambda x: weigh(np.expand_dims(x, (0, 2))), [X], 0),
    ("newaxis", lambda x: weigh(x[:, None] * x[None, :]), [u(3)], 0),
    ("atleast_2d", lambda x: weigh(np.atleast_2d(x)), [u(3)], 0),
    ("broadcast_to", lambda x: weigh(np.broadcast_to(x, (2, 3))), [u(3)], 0),
    ("broadcast_to-col", lambda x: weigh(np.broadcast_to(x, (2, 2, 3))), [u(2, 1)], 0),
    ("concatenate", lambda a, b: weigh(np.concatenate([a, b])), [u(2, 3), u(1, 3)], (0, 1)),
    ("concatenate-axis", lambda a, b: weigh(np.concatenate((a, b, a), axis=1)), [u(2, 3), u(2, 2)], (0, 1)),
    ("concatenate-none", lambda a, b: weigh(np.concatenate([a, b], axis=None)), [u(2, 3), u(4)], (0, 1)),
    ("stack", lambda a, b: weigh(np.stack([a, b])), [u(3), u(3)], (0, 1)),
    ("stack-axis", lambda a, b: weigh(np.stack([a, b, a * b], axis=-1)), [u(2, 3), u(2, 3)], (0, 1)),
    ("hstack", lambda a, b: weigh(np.hstack([a, b])), [u(3), u(2)], (0, 1)),
    ("hstack-2d", lambda a, b: weigh(np.hstack((a, b))), [u(2, 3), u(2, 1)], (0, 1)),
    ("hstack-scalar", lambda a, b: weigh(np.hstack([a, b])), [u(), u(2)], (0, 1)),
    ("vstack", lambda a, b: weigh(np.vstack([a, b])), [u(3), u(2, 3)], (0, 1)),
    ("vstack-array", lambda a: weigh(np.vstack(a) ** 2), [u(2, 3)], 0),
    ("vstack-one", lambda a: weigh(np.vstack([a])), [u(3)], 0),
    ("hstack-array", lambda a: weigh(np.hstack(a) ** 2), [u(2, 3)], 0),
    ("concatenate-array", lambda a: weigh(np.concatenate(a) ** 2), [u(2, 3)], 0),
    ("stack-array", lambda a: weigh(np.stack(a, axis=1) ** 2), [u(2, 3)], 0),
    ("split", lambda x: weigh(np.split(x, 2)[1] * 2.0), [u(4, 2)], 0),
    ("split-both", lambda x: split_both(x), [u(2, 6)], 0),
    ("array_split", lambda x: weigh(np.array_split(x, [1, 4])[2]), [u(5)], 0),
    ("repeat", lambda x: weigh(np.repeat(x, 3)), [X], 0),
    ("repeat-axis", lambda x: weigh(np.repeat(x, [1, 3], axis=0)), [X], 0),
    ("repeat-method", lambda x: weigh(x.repeat(2, axis=1)), [X], 0),
    ("tile", lambda x: weigh(np.tile(x, 2)), [u(3)], 0),
    ("tile-2d", lambda x: weigh(np.tile(x, (2, 1, 2))), [X], 0),
    ("flip", lambda x: weigh(np.flip(x) * x), [X], 0),
    ("flip-axis", lambda x: weigh(np.flip(x, axis=1)), [X], 0),
    ("fliplr", lambda x: weigh(np.fliplr(x)), [X], 0),
    ("flipud", lambda x: weigh(np.flipud(x)), [X], 0),
    ("roll", lambda x: weigh(np.roll(x, 2) * x), [X], 0),
    ("roll-axis", lambda x: weigh(np.roll(x, 1, axis=1)), [X], 0),
    ("roll-tuple", lambda x: weigh(np.roll(x, (1, -1), axis=(0, 1))), [X], 0),
    ("pad", lambda x: weigh(np.pad(x, 1)), [X], 0),
    ("pad-widths", lambda x: weigh(np.pad(x, ((1, 0), (2, 1)), constant_values=3.0)), [X], 0),
    ("pad-reflect", lambda x: weigh(np.pad(x, 2, mode="reflect")), [u(4)], 0),
    ("pad-edge", lambda x: weigh(np.pad(x, ((1, 2), (0, 1)), mode="edge")), [X], 0),
    ("pad-wrap", lambda x: weigh(np.pad(x, 1, "wrap")), [X], 0),
    ("pad-value", lambda x, c: weigh(np.pad(x, ((1, 0), (2, 1)), constant_values=c) * c), [X, u()], (0, 1)),
    ("take", lambda x: weigh(np.take(x, [0, 2, 2, 5])), [X], 0),
    ("take-axis", lambda x: weigh(np.take(x, [1, 1, 0], axis=1)), [X], 0),
    ("take-scalar", lambda x: weigh(np.take(x, 1, axis=0)), [X], 0),
    ("take-method", lambda x: weigh(x.take([[0, 1], [1, 1]], axis=0)), [X], 0),
    ("take-clip", lambda x: weigh(np.take(x, [-1, 0, 7, 2], mode="clip")), [X], 0),
    ("take-wrap", lambda x: weigh(np.take(x, [-1, 4, 3], axis=1, mode="wrap")), [X], 0),
    ("astype", lambda x: weigh(x.astype(np.float64) * x + x.astype("float64")), [X], 0),
    ("ndarray.astype", lambda x: weigh(np.ndarray.astype(x, np.float64) * x), [X], 0),
    # values passed through creators (issue 11: these were in the zero-derivative table)
    ("full", lambda a: weigh(np.full((2, 3), a)), [u()], 0),
    ("full-row", lambda a: weigh(np.full((2, 3), a) * a), [u(3)], 0),
    ("full-int", lambda a: weigh(np.full(3, a, dtype=int) * a), [1.3], 0),
    ("full_like", lambda a, b: weigh(np.full_like(a, b) * a), [u(2, 3), u(3)], (0, 1)),
    ("linspace", lambda a, b: weigh(np.linspace(a, b, 5)), [u(), u()], (0, 1)),
    ("linspace-arrays", lambda a, b: weigh(np.linspace(a, b, 4, axis=-1)), [u(3), u(2, 1)], (0, 1)),
    ("linspace-no-endpoint", lambda a, b: weigh(np.linspace(a, b, 4, endpoint=False)), [u(3), u()], (0, 1)),
    ("linspace-one", lambda a, b: weigh(np.linspace(a, b, 1)), [u(), u()], (0, 1)),
    ("float64", lambda x: weigh(np.float64(x[0]) * x), [X], 0),
    ("sort", lambda x: weigh(np.sort(x)), [X], 0),
    ("sort-axis0", lambda x: weigh(np.sort(x, axis=0) ** 2), [X], 0),
    ("sort-flat", lambda x: weigh(np.sort(x, axis=None)), [X], 0),
    ("copy", lambda x: weigh(np.copy(x) + x.copy() + np.array(x) + np.asarray(x)), [X], 0),
    # subscripts go through runtime add_at
    ("index-int", lambda x: x[1, 2] * x[0, 0], [X], 0),
    ("index-slice", lambda x: weigh(x[:, 1:] * x[:, :-1]), [X], 0),
    ("index-step", lambda x: weigh(x[::-2]), [u(5)], 0),
    ("index-ellipsis", lambda x: weigh(x[..., 1]), [T3], 0),
    ("index-none", lambda x: weigh(x[None, :, None]), [u(3)], 0),
    ("index-array", lambda x: weigh(x[np.array([0, 2, 2, 0])]), [u(3)], 0),
    ("index-list-repeat", lambda x: weigh(x[[1, 1, 1], [0, 2, 0]]), [X], 0),
    ("index-mask", lambda x: weigh(x[x > 0.0]), [X], 0),
    ("index-mask-row", lambda x: weigh(x[np.array([True, False])]), [X], 0),
    ("index-mixed", lambda x: weigh(x[1:, [0, 0, 2]]), [u(3, 3)], 0),
    # keyword calls mapped by name
    ("kw-sum", lambda x: weigh(np.sum(a=x, axis=0)), [X], 0),
    ("kw-float", lambda x: float(np.sum(x)) * 2.0, [X], 0),
]


def split_both(x):
    a, b = np.split(x, [2], axis=1)
    return weigh(a) + np.sum(b * b)


@pytest.mark.parametrize("fn,args,wrt", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_case(fn, args, wrt):
    srcad.check_grad(fn, *args, wrt=wrt, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- documented choices at kinks


def test_abs_at_zero():
    g = srcad.grad(lambda x: np.sum(np.abs(x)))(np.array([-1.0, 0.0, 2.0]))
    np.testing.assert_array_equal(g, [-1.0, 0.0, 1.0])


def test_max_ties_split_evenly():
    g = srcad.grad(lambda x: np.max(x))(np.array([1.0, 3.0, 3.0]))
    np.testing.assert_array_equal(g, [0.0, 0.5, 0.5])
    g = srcad.grad(lambda x: np.sum(np.min(x, axis=1)))(np.array([[2.0, 2.0, 2.0], [1.0, 0.0, 4.0]]))
    np.testing.assert_allclose(g, [[1 / 3, 1 / 3, 1 / 3], [0.0, 1.0, 0.0]])


def test_maximum_tie_half():
    g = srcad.grad(lambda x: np.sum(np.maximum(x, x)))(np.array([1.0, -2.0]))
    np.testing.assert_array_equal(g, [1.0, 1.0])  # 0.5 from each argument
    gx, gy = srcad.grad(lambda x, y: np.sum(np.minimum(x, y)), wrt=(0, 1))(np.array([1.0, 2.0]), np.array([1.0, 3.0]))
    np.testing.assert_array_equal(gx, [0.5, 1.0])
    np.testing.assert_array_equal(gy, [0.5, 0.0])


def test_sqrt_at_zero_is_inf():
    with np.errstate(divide="ignore"):
        g = srcad.grad(lambda x: np.sum(np.sqrt(x)))(np.array([0.0, 4.0]))
    assert np.isinf(g[0]) and g[1] == 0.25


def test_clip_at_bound_goes_to_input():
    g = srcad.grad(lambda x: np.sum(np.clip(x, 0.0, 1.0)))(np.array([0.0, 0.5, 1.0, 2.0]))
    np.testing.assert_array_equal(g, [1.0, 1.0, 1.0, 0.0])


ZERO = [
    ("floor", lambda x: np.sum(np.floor(x) * x)),
    ("ceil", lambda x: np.sum(np.ceil(x) * x)),
    ("round", lambda x: np.sum(np.round(x) * x)),
    ("rint", lambda x: np.sum(np.rint(x) * x)),
    ("sign", lambda x: np.sum(np.sign(x) * x)),
    ("compare", lambda x: np.sum((x > 0.2) * x)),
    ("argmax", lambda x: x[np.argmax(x)] + 0.0 * np.argmin(x)),
    ("astype-int", lambda x: np.sum(x.astype(np.int64) * x)),
    ("creation", lambda x: np.sum((np.zeros_like(x) + np.ones_like(x) + np.full(3, 2.0) + np.ones(3) + np.zeros(3) + np.arange(3) + np.linspace(0, 1, 3) + np.eye(3)[0] + np.empty(0).sum() + np.shape(x)[0]) * x)),
]


@pytest.mark.parametrize("fn", [f for _, f in ZERO], ids=[n for n, _ in ZERO])
def test_zero_gradient_functions(fn):
    """Piecewise-constant functions contribute nothing; the product rule's other factor remains."""
    srcad.check_grad(fn, np.array([0.3, -1.2, 2.6]))


# ---------------------------------------------------------------- forward mode
# The same table for jvp.

@pytest.mark.parametrize("fn,args,wrt", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_case_forward(fn, args, wrt):
    check_jvp(fn, args, wrt)


def check_jvp(fn, args, wrt, eps=1e-6):
    wrts = (wrt,) if isinstance(wrt, int) else tuple(wrt)
    for w in wrts:
        x = np.asarray(args[w], dtype=np.float64)
        t = np.cos(np.arange(x.size) + 0.5).reshape(x.shape)
        plus, minus = list(args), list(args)
        plus[w] = x + eps * t if x.shape else float(x + eps * t)
        minus[w] = x - eps * t if x.shape else float(x - eps * t)
        expected = (np.asarray(fn(*plus)) - np.asarray(fn(*minus))) / (2 * eps)
        tangent = t if x.shape else float(t)
        _, got = srcad.jvp(fn, wrt=w)(*args, tangent)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- second derivatives
# grad(f) is itself differentiated (its generated code goes through the same rules).

SECOND = [
    ("elementwise", lambda x: np.sum(np.sin(x) * np.exp(x) / (1.0 + x * x) + np.tanh(x) ** 2)),
    ("unary-more", lambda x: np.sum(np.log1p(x * x) + np.arctan(x) + np.sqrt(x * x + 1.0) + np.cbrt(x + 3.0))),
    ("reductions", lambda x: np.mean(x ** 3) + np.var(x, axis=0).sum() + np.std(x) + np.max(x * x)),
    ("cumsum", lambda x: np.sum(np.cumsum(x, axis=1) ** 2) + np.sum(np.cumprod(x + 2.0) ** 2)),
    ("linalg", lambda x: np.sum(np.linalg.inv(x @ x.T + 3.0 * np.eye(2)) ** 2) + np.sum((x @ x.T) ** 2)),
    ("shapes", lambda x: np.sum(np.transpose(x).reshape(-1) ** 3) + np.sum(np.swapaxes(x, 0, 1) ** 2 * np.flip(x.T))),
    ("where-clip", lambda x: np.sum(np.where(x > 0, x ** 3, x ** 2) + np.clip(x, -0.5, 0.5) ** 2)),
    # issue 11: these second derivatives were silently zero (trace, diag, diagonal) or refused
    ("trace", lambda x: np.trace(x @ x.T) ** 2 + np.trace(x, 1) ** 3 + x.trace() ** 2),
    ("diag-diagonal", lambda x: np.sum(np.diag(x) ** 3) + np.sum(np.diagonal(x, 1) ** 2)
     + np.sum(np.diag(np.sum(x, axis=0)) @ x.T)),
    ("det", lambda x: np.linalg.det(x @ x.T + 2.0 * np.eye(2)) ** 2),
    ("mod-linspace-full", lambda x: np.sum((x % 0.7) ** 2 * np.linspace(np.sum(x), np.max(x), 3))
     + np.sum(np.full(3, np.sum(x * x)) ** 2)),
    ("norms", lambda x: np.linalg.norm(x, np.inf) ** 2 + np.linalg.norm(x, 1) * np.sum(x)
     + np.sum(np.linalg.norm(x, 3, axis=1) ** 2)),
    ("std", lambda x: np.std(x) ** 3 + np.sum(np.std(x, axis=0))),
    ("einsum", lambda x: np.einsum("ij,kj->", x, np.sin(x)) ** 2 + np.sum(np.einsum(x, [0, 1], x, [0, 1], [1]) ** 2)),
]


def _second(f):
    g = srcad.grad(f)
    return lambda x: weigh(g(x))


@pytest.mark.parametrize("f", [f for _, f in SECOND], ids=[n for n, _ in SECOND])
def test_second_derivative(f):
    srcad.check_grad(_second(f), u(2, 3), rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- products of every rank pair
# issue 11: a stack of matrices times a vector gave the vector a wrong adjoint. Ranks 1..3 on each
# side, np.dot / np.matmul / @ / x.dot, both modes (reverse also through its rank-specialized
# fast paths, which srcad picks from the argument ranks).

_A = {1: (4,), 2: (3, 4), 3: (2, 3, 4)}
_B = {1: (4,), 2: (4, 5), 3: (2, 4, 5)}
PRODUCTS = {"dot": lambda a, b: weigh(np.dot(a, b)), "matmul": lambda a, b: weigh(np.matmul(a, b)),
            "@": lambda a, b: weigh(a @ b), "method": lambda a, b: weigh(a.dot(b))}


@pytest.mark.parametrize("rb", [1, 2, 3])
@pytest.mark.parametrize("ra", [1, 2, 3])
@pytest.mark.parametrize("kind", list(PRODUCTS))
def test_product_rank_pairs(kind, ra, rb):
    a, b = u(*_A[ra]), u(*_B[rb])
    srcad.check_grad(PRODUCTS[kind], a, b, wrt=(0, 1))
    check_jvp(PRODUCTS[kind], [a, b], (0, 1))



# Shape-changing functions whose result a loop overwrites and the code after the loop reads: the
# backward sweep resets the result's adjoint to the 0.0 placeholder between passes, and the rule
# must still see an adjoint of the right shape (issue 14: np.reshape and @ raised)
RESHAPERS = [
    ("reshape", lambda x: np.reshape(x, (3, 2))), ("ravel-F", lambda x: np.ravel(x, order="F")),
    ("method-reshape", lambda x: x.reshape((6, 1))), ("T", lambda x: x.T),
    ("transpose", lambda x: np.transpose(x)), ("matmul", lambda x: x @ x.T),
    ("dot", lambda x: np.dot(x.T, x)), ("concatenate", lambda x: np.concatenate([x, x], axis=1)),
    ("stack", lambda x: np.stack([x, 2.0 * x])), ("index", lambda x: x[1:, ::-1]),
    ("flip", lambda x: np.flip(x, 0)), ("roll", lambda x: np.roll(x, 1, axis=1)),
    ("tile", lambda x: np.tile(x, (2, 1))), ("repeat", lambda x: np.repeat(x, 2, axis=0)),
    ("pad", lambda x: np.pad(x, 1)), ("sum-axis", lambda x: np.sum(x, axis=0)),
    ("cumsum", lambda x: np.cumsum(x, axis=1)), ("sort", lambda x: np.sort(x, axis=1)),
    ("outer", lambda x: np.outer(x, x)), ("kron", lambda x: np.kron(x, x)),
    ("einsum", lambda x: np.einsum("ij,kj->ik", x, x)), ("expand_dims", lambda x: np.expand_dims(x, 0)),
    ("swapaxes", lambda x: np.swapaxes(x, 0, 1)), ("tril", lambda x: np.tril(x)),
    ("diagonal", lambda x: np.diagonal(x @ x.T)), ("max-axis", lambda x: np.max(x, axis=1)),
    ("broadcast_to", lambda x: np.broadcast_to(x, (4, 2, 3))), ("where", lambda x: np.where(x > 0, x, 0.0)),
]


def _overwritten_in_loop(op):
    def f(x):
        for _ in range(2):
            z = op(x)
        return weigh(z * z)
    return f


@pytest.mark.parametrize("op", [c[1] for c in RESHAPERS], ids=[c[0] for c in RESHAPERS])
def test_result_overwritten_in_loop(op):
    f, x = _overwritten_in_loop(op), u(2, 3)
    srcad.check_grad(f, x, rtol=1e-5, atol=1e-6)
    check_jvp(f, [x], (0,))
    # reverse over reverse against forward over reverse
    np.testing.assert_allclose(srcad.jacobian(srcad.grad(f), mode="reverse")(x),
                               srcad.jacobian(srcad.grad(f))(x), rtol=1e-7, atol=1e-9)
