"""The rules of linalg_rules, fft_rules and array_rules against central finite differences (float64).

Each entry: a function (one per line, non-scalar results reduced with fixed uneven weights), its
inputs and the inputs differentiated. Every entry is checked in reverse mode (srcad.grad), forward
mode (srcad.jvp) and to second order: srcad.hessian (forward over reverse) against differences of
the gradient, and, where srcad supports it, the gradient of the gradient.
"""

import operator

import numpy as np
import pytest

import srcad
from test_numpy_rules import check_jvp, weigh

R = np.random.default_rng(20260414)
# a complex gradient (of a real input) would be cast to real by check_grad with this warning
pytestmark = pytest.mark.filterwarnings("error::numpy.exceptions.ComplexWarning")


def u(*shape, lo=-1.0, hi=1.0):
    v = R.uniform(lo, hi, size=shape)
    return float(v) if shape == () else v


def pos(*shape):
    return u(*shape, lo=0.5, hi=2.0)


def spd(n, *batch):
    a = R.normal(size=batch + (n, n))
    return a @ np.swapaxes(a, -1, -2) + n * np.eye(n)


def sym(*shape):
    a = u(*shape)
    return a + np.swapaxes(a, -1, -2)


H = np.exp(2j * np.pi * np.arange(6) / 7.0) * (1.0 + np.arange(6))   # a complex filter
W = np.linspace(0.5, 1.5, 4)                                          # real weights, 4 = 6 // 2 + 1
NONFINITE = np.array([[0.0, np.inf, 0.0], [np.nan, 0.0, -np.inf]])
REAL_EIG = np.array([[2.0, 0.3, 0.1], [0.2, 1.0, 0.4], [0.1, 0.2, -1.5]])


# ---------------------------------------------------------------- linear algebra (sign-free uses of
# singular and eigen vectors: their signs are LAPACK's choice)

def svd_thin(a):
    u_, s, vh = np.linalg.svd(a, full_matrices=False)
    return weigh(s) + np.sum(np.sin(3.0 * u_[..., :, :1] * vh[..., :1, :])) + weigh(u_ ** 2) + weigh(vh ** 2)


def svd_square(a):
    u_, s, vh = np.linalg.svd(a)
    return weigh((u_ * s[..., None, :]) @ vh ** 2) + weigh(np.abs(u_[..., 0, :] * vh[..., :, 0]))


def svd_attrs(a):
    r = np.linalg.svd(a, full_matrices=False)
    return weigh(r[1] ** 2) + weigh(r[0] ** 2)


def eigh_use(a):
    w, v = np.linalg.eigh(a)
    return weigh(w) + weigh(v ** 2)


def eigh_upper(a):
    w, v = np.linalg.eigh(a, UPLO="U")
    return weigh(w ** 2) + weigh(np.abs(v))


def eigh_fields(a):
    r = np.linalg.eigh(a)
    return weigh(r.eigenvalues ** 2) + weigh(r.eigenvectors ** 2)


def eig_use(a):
    w, v = np.linalg.eig(a)
    return weigh(w) + weigh(v ** 2)


def qr_use(a):
    q, r = np.linalg.qr(a)
    return weigh(np.abs(q)) + weigh(np.abs(r) ** 2)


def qr_complete(a):
    q, r = np.linalg.qr(a, mode="complete")
    return weigh(np.abs(q)) + weigh(r ** 2)


def lstsq_all(a, b):
    x, res, rank, s = np.linalg.lstsq(a, b)
    return weigh(x) + weigh(res) + weigh(s)


def lstsq_x(a, b):
    x = np.linalg.lstsq(a, b, rcond=None)[0]
    return weigh(x)


LINALG = [
    ("matrix_power-3", lambda a: weigh(np.linalg.matrix_power(a, 3)), [u(3, 3)], 0),
    ("matrix_power-1", lambda a: weigh(np.linalg.matrix_power(a, 1) ** 2), [u(2, 2)], 0),
    ("matrix_power-0", lambda a: weigh(np.linalg.matrix_power(a, 0) * a), [u(3, 3)], 0),
    ("matrix_power-neg", lambda a: weigh(np.linalg.matrix_power(a, -2)), [spd(3)], 0),
    ("matrix_power-batched", lambda a: weigh(np.linalg.matrix_power(a, 2)), [u(2, 3, 3)], 0),
    ("svd-tall", svd_thin, [u(4, 3)], 0),
    ("svd-wide", svd_thin, [u(2, 4)], 0),
    ("svd-square-full", svd_square, [u(3, 3)], 0),
    ("svd-batched", svd_thin, [u(2, 3, 2)], 0),
    ("svd-values", lambda a: weigh(np.linalg.svd(a, compute_uv=False)), [u(4, 3)], 0),
    ("svd-values-batched", lambda a: weigh(np.linalg.svd(a, compute_uv=False)), [u(2, 2, 3)], 0),
    ("svd-index", svd_attrs, [u(3, 2)], 0),
    ("eigh", eigh_use, [sym(3, 3)], 0),
    ("eigh-lower-only", eigh_use, [u(3, 3)], 0),
    ("eigh-upper", eigh_upper, [u(3, 3)], 0),
    ("eigh-batched", eigh_use, [sym(2, 3, 3)], 0),
    ("eigh-fields", eigh_fields, [sym(3, 3)], 0),
    ("eig-field", lambda a: weigh(np.linalg.eig(a).eigenvalues * 2.0), [REAL_EIG], 0),
    ("eig", eig_use, [REAL_EIG], 0),
    ("eig-values", lambda a: weigh(np.linalg.eig(a)[0] ** 2), [REAL_EIG.T], 0),
    ("pinv-tall", lambda a: weigh(np.linalg.pinv(a)), [u(4, 3)], 0),
    ("pinv-wide", lambda a: weigh(np.linalg.pinv(a)), [u(2, 4)], 0),
    ("pinv-square", lambda a: weigh(np.linalg.pinv(a) @ a), [u(3, 3)], 0),
    ("pinv-batched", lambda a: weigh(np.linalg.pinv(a)), [u(2, 3, 2)], 0),
    ("qr", qr_use, [u(4, 3)], 0),
    ("qr-square", qr_use, [u(3, 3)], 0),
    ("qr-complete-square", qr_complete, [u(3, 3)], 0),
    ("qr-r", lambda a: weigh(np.abs(np.linalg.qr(a, mode="r"))), [u(4, 2)], 0),
    ("qr-batched", qr_use, [u(2, 3, 2)], 0),
    ("lstsq-vector", lstsq_all, [u(4, 3), u(4)], (0, 1)),
    ("lstsq-matrix", lstsq_all, [u(5, 2), u(5, 3)], (0, 1)),
    ("lstsq-x", lstsq_x, [u(4, 2), u(4)], (0, 1)),
    ("lstsq-underdetermined", lstsq_x, [u(2, 3), u(2)], (0, 1)),
    ("norm-nuc", lambda a: np.linalg.norm(a, "nuc") ** 2, [u(3, 2)], 0),
]

# ---------------------------------------------------------------- FFTs (complex values in between)

FFT = [
    ("fft-power", lambda x: np.sum(np.abs(np.fft.fft(x)) ** 2), [u(6)], 0),
    ("fft-filter", lambda x: weigh(np.real(np.fft.ifft(np.fft.fft(x) * H))), [u(6)], 0),
    ("rfft-irfft", lambda x: weigh(np.fft.irfft(np.fft.rfft(x) * W, 6)), [u(6)], 0),
    ("rfft-irfft-odd", lambda x: weigh(np.fft.irfft(np.fft.rfft(x) * W[:3] ** 2, 5)), [u(5)], 0),
    ("fft-abs", lambda x: weigh(np.abs(np.fft.fft(x))), [u(5)], 0),
    ("fft-real-imag", lambda x: weigh(np.real(np.fft.fft(x))) + weigh(np.imag(np.fft.fft(x ** 2))), [u(5)], 0),
    ("fft-attrs", lambda x: weigh(np.fft.fft(x).real * np.fft.fft(x).imag), [u(4)], 0),
    ("fft-conj", lambda x: weigh(np.real(np.fft.fft(x) * np.conj(np.fft.fft(x * x)))), [u(5)], 0),
    ("fft-angle", lambda x: weigh(np.angle(np.fft.fft(x) + 3.0)), [u(4)], 0),
    ("fft-angle-deg", lambda x: weigh(np.angle(np.fft.fft(x) + 3.0, deg=True)), [u(4)], 0),
    ("fft-pad", lambda x: weigh(np.abs(np.fft.fft(x, 8)) ** 2), [u(5)], 0),
    ("fft-crop", lambda x: weigh(np.abs(np.fft.fft(x, n=3))), [u(5)], 0),
    ("fft-ortho-axis0", lambda x: weigh(np.abs(np.fft.fft(x, axis=0, norm="ortho"))), [u(3, 2)], 0),
    ("ifft-forward", lambda x: weigh(np.abs(np.fft.ifft(x, norm="forward")) ** 2), [u(2, 4)], 0),
    ("ifft-pad", lambda x: weigh(np.real(np.fft.ifft(x * 1.0, 7) * H[:7 - 1].sum())), [u(5)], 0),
    ("rfft", lambda x: weigh(np.abs(np.fft.rfft(x)) ** 2), [u(2, 5)], 0),
    ("rfft-n", lambda x: weigh(np.imag(np.fft.rfft(x, 7, axis=0, norm="ortho"))), [u(5, 2)], 0),
    ("irfft", lambda x: weigh(np.fft.irfft(np.fft.fft(x) * H[:5])), [u(5)], 0),
    ("irfft-real-input", lambda x: weigh(np.fft.irfft(x, 6, norm="ortho")), [u(4)], 0),
    ("irfft-crop", lambda x: weigh(np.fft.irfft(np.fft.fft(x), 4, norm="forward")), [u(2, 5)], 0),
    ("fft2", lambda x: weigh(np.abs(np.fft.fft2(x))), [u(3, 4)], 0),
    ("fft2-s", lambda x: weigh(np.abs(np.fft.fft2(x, s=(4, 3)))), [u(3, 4)], 0),
    ("ifft2", lambda x: weigh(np.real(np.fft.ifft2(np.fft.fft2(x) * H[:4]))), [u(2, 3, 4)], 0),
    ("fftn", lambda x: weigh(np.abs(np.fft.fftn(x, axes=(0, 2), norm="ortho"))), [u(2, 3, 2)], 0),
    ("ifftn", lambda x: weigh(np.imag(np.fft.ifftn(np.fft.fftn(x) * H[:3]))), [u(2, 3)], 0),
    ("fftshift", lambda x: weigh(np.fft.fftshift(x)), [u(5)], 0),
    ("fftshift-axes", lambda x: weigh(np.fft.ifftshift(x, axes=0) ** 2), [u(3, 4)], 0),
    ("spectrum-shift", lambda x: weigh(np.abs(np.fft.fftshift(np.fft.fft(x))) ** 2), [u(6)], 0),
]

# ---------------------------------------------------------------- arrays


def split_h(x):
    a, b = np.hsplit(x, 2)
    return weigh(a * b) + np.sum(b ** 2)


def split_v(x):
    parts = np.vsplit(x, [1])
    return weigh(parts[0] ** 2) + weigh(parts[1])


def split_d(x):
    a, b, c = np.dsplit(x, [1, 3])
    return weigh(a) + weigh(c ** 2) + np.sum(b)


def op_all(x, y):
    return weigh(operator.add(x, y) * operator.mul(x, operator.neg(y)) + operator.truediv(x, operator.pow(y, 2))
                 - operator.sub(y, x))


def sorted_list(a, b):
    s = sorted([a, b * 2.0, a * b, 0.3])
    return s[0] * 1.0 + s[1] * 2.0 + s[2] ** 2 + s[3] * 3.0


def sorted_rev(a, b):
    s = sorted([a, b, a - b], reverse=True)
    return s[0] * 1.0 + s[1] * 2.5 + s[2] ** 3


def sorted_key(a, b):
    s = sorted((a, b, 1.5 * b), key=abs)
    return s[0] * 1.0 + s[1] * 2.0 + s[2] * 3.0


def select3(x, y):
    return weigh(np.select([x < -0.3, x > 0.4], [x ** 2, y], np.sin(x)))


ARRAYS = [
    ("fabs", lambda x: weigh(np.fabs(x)), [np.array([[0.5, -0.7, 1.2], [-1.1, 0.3, -0.4]])], 0),
    ("fabs-scalar", lambda x: np.fabs(x) * 3.0, [-0.6], 0),
    ("logaddexp2", lambda x, y: weigh(np.logaddexp2(x, y)), [u(2, 3), u(3)], (0, 1)),
    ("logaddexp2-scalar", lambda x, y: weigh(np.logaddexp2(x, y)), [u(), u(2, 2)], (0, 1)),
    ("nan_to_num", lambda x: weigh(np.nan_to_num(x + NONFINITE, nan=1.0, posinf=5.0, neginf=-5.0) * x), [u(2, 3)], 0),
    ("nan_to_num-finite", lambda x: weigh(np.nan_to_num(x, nan=1.0) ** 2), [u(4)], 0),
    ("real-imag-conj-real", lambda x: weigh(np.real(x) * 2.0 + np.imag(x) + np.conjugate(x) ** 2 + np.conj(x)), [u(2, 3)], 0),
    ("angle-real", lambda x: weigh(np.angle(x) + x), [u(3)], 0),
    ("append", lambda x, y: weigh(np.append(x, y)), [u(2, 2), u(3)], (0, 1)),
    ("append-axis0", lambda x, y: weigh(np.append(x, y, axis=0) ** 2), [u(2, 3), u(1, 3)], (0, 1)),
    ("append-axis1", lambda x, y: weigh(np.append(x, y, 1)), [u(2, 1), u(2, 3)], (0, 1)),
    ("append-scalar", lambda x, y: weigh(np.append(x, y) ** 2), [u(3), u()], (0, 1)),
    ("column_stack", lambda x, y: weigh(np.column_stack([x, y]) ** 2), [u(3), u(3, 2)], (0, 1)),
    ("column_stack-vectors", lambda x, y: weigh(np.column_stack((x, y, x * y))), [u(4), u(4)], (0, 1)),
    ("hsplit", split_h, [u(2, 4)], 0),
    ("hsplit-vector", lambda x: weigh(np.hsplit(x, 3)[1] ** 2), [u(6)], 0),
    ("vsplit", split_v, [u(3, 2)], 0),
    ("dsplit", split_d, [u(2, 1, 4)], 0),
    ("diff", lambda x: weigh(np.diff(x) ** 2), [u(5)], 0),
    ("diff-n2-axis0", lambda x: weigh(np.diff(x, 2, axis=0)), [u(4, 3)], 0),
    ("diff-prepend-append", lambda x: weigh(np.diff(x, prepend=0.5, append=np.ones((2, 1))) ** 2), [u(2, 3)], 0),
    ("gradient-1d", lambda x: weigh(np.gradient(x) ** 2), [u(5)], 0),
    ("gradient-spacing", lambda x: weigh(np.gradient(x, 0.5, edge_order=2)), [u(5)], 0),
    ("gradient-coords", lambda x: weigh(np.gradient(x, np.array([0.0, 0.5, 1.5, 1.75]))), [u(4)], 0),
    ("gradient-2d", lambda x: weigh(np.gradient(x)[0] ** 2) + weigh(np.gradient(x)[1]), [u(3, 4)], 0),
    ("gradient-axis", lambda x: weigh(np.gradient(x, 2.0, axis=1) ** 2), [u(3, 4)], 0),
    ("cross", lambda a, b: weigh(np.cross(a, b)), [u(3), u(3)], (0, 1)),
    ("cross-batched", lambda a, b: weigh(np.cross(a, b) ** 2), [u(2, 3), u(3)], (0, 1)),
    ("cross-2d", lambda a, b: weigh(np.cross(a, b)), [u(2, 2), u(2)], (0, 1)),
    ("cross-2-3", lambda a, b: weigh(np.cross(a, b)), [u(2), u(3)], (0, 1)),
    ("cross-axis", lambda a, b: weigh(np.cross(a, b, axis=0)), [u(3, 2), u(3, 2)], (0, 1)),
    ("cross-axisa", lambda a, b: weigh(np.cross(a, b, axisa=0, axisc=0)), [u(3, 2), u(2, 3)], (0, 1)),
    ("kron", lambda a, b: weigh(np.kron(a, b)), [u(2, 3), u(2, 2)], (0, 1)),
    ("kron-vectors", lambda a, b: weigh(np.kron(a, b) ** 2), [u(3), u(2)], (0, 1)),
    ("kron-mixed", lambda a, b: weigh(np.kron(a, b)), [u(3), u(2, 2)], (0, 1)),
    ("kron-scalar", lambda a, b: weigh(np.kron(a, b)), [u(), u(2, 3)], (0, 1)),
    ("partition", lambda x: weigh(np.partition(x, 2)), [u(5)], 0),
    ("partition-axis0", lambda x: weigh(np.partition(x, 1, axis=0) ** 2), [u(3, 4)], 0),
    ("partition-none", lambda x: weigh(np.partition(x, (0, 3), axis=None)), [u(2, 3)], 0),
    ("rollaxis", lambda x: weigh(np.rollaxis(x, 2)), [u(2, 3, 4)], 0),
    ("rollaxis-start", lambda x: weigh(np.rollaxis(x, 0, 3) ** 2), [u(2, 3, 4)], 0),
    ("rot90", lambda x: weigh(np.rot90(x) * np.sum(x)), [u(3, 3)], 0),
    ("rot90-k", lambda x: weigh(np.rot90(x, 3, axes=(1, 2)) ** 2), [u(2, 3, 4)], 0),
    ("rot90-k2", lambda x: weigh(np.rot90(x, -2)), [u(2, 3)], 0),
    ("select", select3, [u(2, 3), u(3)], (0, 1)),
    ("select-default", lambda x, d: weigh(np.select([x > 0.0], [x], d)), [u(2, 3), u(2, 1)], (0, 1)),
    ("einsum-ellipsis", lambda a, b: weigh(np.einsum("...ij,...jk->...ik", a, b)), [u(2, 2, 3), u(3, 2)], (0, 1)),
    ("einsum-ellipsis-implicit", lambda a, b: weigh(np.einsum("i...,i", a, b)), [u(3, 2, 2), u(3)], (0, 1)),
    ("einsum-ellipsis-trace", lambda a: weigh(np.einsum("...ii->...", a) ** 2), [u(2, 3, 3)], 0),
    ("einsum-ellipsis-broadcast", lambda a, b: weigh(np.einsum("...i,...i->...", a, b)), [u(2, 3), u(1, 3)], (0, 1)),
    ("operator", op_all, [u(2, 3), pos(3)], (0, 1)),
    ("operator-matmul", lambda a, b: weigh(operator.matmul(a, b)), [u(2, 3), u(3, 2)], (0, 1)),
    ("operator-getitem", lambda a: weigh(operator.getitem(a, 1) ** 2) + operator.getitem(a, (0, 2)), [u(2, 3)], 0),
    ("sorted", sorted_list, [0.7, -0.4], (0, 1)),
    ("sorted-reverse", sorted_rev, [0.7, 0.2], (0, 1)),
    ("sorted-key", sorted_key, [-0.8, 0.6], (0, 1)),
]

# ---------------------------------------------------------------- fixed bugs (issue 14)


def slogdet_twice(a):
    r = np.linalg.slogdet(a)
    return r.logabsdet * 2.0 + r.logabsdet ** 2


FIXED = [
    # the adjoint read pad widths (1,) and ((1,), (2,)) wrongly: a crash, or a wrong shape
    ("pad-one-width", lambda x: weigh(np.pad(x, (1,)) ** 2), [u(2, 3)], 0),
    ("pad-list-width", lambda x: weigh(np.pad(x, [2])), [u(4)], 0),
    ("pad-per-axis", lambda x: weigh(np.pad(x, ((1,), (2,))) ** 2), [u(2, 3)], 0),
    ("pad-per-axis-edge", lambda x: weigh(np.pad(x, ((1,), (2,)), mode="edge") ** 2), [u(2, 3)], 0),
    ("pad-reflect-second", lambda x: weigh(np.pad(x, 2, mode="reflect") ** 3), [u(4)], 0),
    ("pad-value-second", lambda x: weigh(np.pad(x, 1, constant_values=np.sum(x)) ** 2), [u(3)], 0),
    # x ** 0 is 1 for every x, 0 included: its derivative is 0 (raised ZeroDivisionError, or nan)
    ("power-zero-at-zero", lambda x: weigh(np.power(x, 0.0) * x + x ** 0), [np.array([0.0, 0.5, -1.0])], 0),
    ("power-zero-scalar", lambda x: np.power(x, 0.0) + np.power(x, 2.0), [0.0], 0),
    ("norm-of-list", lambda x: np.linalg.norm([x, x + 2]), [0.7], 0),
    ("norm-of-list-vectors", lambda x: np.linalg.norm([x, x + 2]) ** 2, [u(3)], 0),
    # two reads of one field: the adjoints (0.0, g1) + (0.0, g2) were joined as tuples, g2 lost
    ("slogdet-field-twice", slogdet_twice, [spd(3)], 0),
]

ALL = LINALG + FFT + ARRAYS + FIXED
IDS = [c[0] for c in ALL]

SECOND_MISSING = {  # two fields of one result: their adjoints add as a tuple that the second
                  # derivative of `+` does not take (srcad's own adjoint arithmetic; reported)
                  "eigh-fields": (ValueError, TypeError, AttributeError)}


@pytest.mark.parametrize("fn,args,wrt", [c[1:] for c in ALL], ids=IDS)
def test_reverse(fn, args, wrt):
    srcad.check_grad(fn, *args, wrt=wrt, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("fn,args,wrt", [c[1:] for c in ALL], ids=IDS)
def test_forward(fn, args, wrt):
    check_jvp(fn, args, wrt)


def _first(fn, args):
    """``fn`` as a function of its first input alone (the others fixed)."""
    if len(args) == 1:
        return fn
    if len(args) == 2:
        b = args[1]
        return lambda x: fn(x, b)
    raise AssertionError("one or two inputs")


def _second(cases):
    return [pytest.param(*c[1:], id=c[0], marks=[pytest.mark.xfail(raises=SECOND_MISSING[c[0]], strict=True)]
                         if c[0] in SECOND_MISSING else []) for c in cases]


@pytest.mark.parametrize("fn,args,wrt", _second(ALL))
def test_hessian(fn, args, wrt):
    """Forward over reverse (srcad.hessian) against central differences of the gradient."""
    f = _first(fn, args)
    x = np.asarray(args[0], dtype=np.float64)
    v = np.cos(np.arange(x.size) + 0.5).reshape(x.shape)
    h = srcad.hessian(f)(args[0])
    g = srcad.grad(f)
    eps = 1e-5
    xp, xm = (x + eps * v, x - eps * v) if x.shape else (float(x + eps * v), float(x - eps * v))
    expected = (np.asarray(g(xp)) - np.asarray(g(xm))) / (2 * eps)
    got = np.tensordot(np.asarray(h), v, x.ndim) if x.ndim else np.asarray(h) * v
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


# Reverse over reverse: srcad refuses a gradient that indexes a tuple or list result (u, s, vh =
# svd(a), the items of column_stack's list) with a TransformError that points to srcad.hessian;
# those entries are checked to second order by test_hessian only.
TUPLE_RESULTS = {"svd-tall", "svd-wide", "svd-square-full", "svd-batched", "svd-index", "eigh",
                 "eigh-lower-only", "eigh-upper", "eigh-batched", "eig", "eig-values", "qr", "qr-square",
                 "qr-complete-square", "qr-batched", "lstsq-vector", "lstsq-matrix", "lstsq-x",
                 "lstsq-underdetermined", "hsplit", "vsplit", "dsplit", "hsplit-vector", "gradient-2d",
                 "sorted", "sorted-reverse", "sorted-key", "operator-getitem", "column_stack",
                 "column_stack-vectors", "norm-of-list", "norm-of-list-vectors", "slogdet-field-twice"}


@pytest.mark.parametrize("fn,args,wrt", _second([c for c in ALL if c[0] not in TUPLE_RESULTS]))
def test_grad_of_grad(fn, args, wrt):
    g = srcad.grad(_first(fn, args))
    srcad.check_grad(lambda x: weigh(g(x)), args[0], rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- refused where not defined


def svd_full_u(a):
    u_, s, vh = np.linalg.svd(a)
    return np.sum(u_ ** 2 * 1.5)


def eigh_values(a):
    w, v = np.linalg.eigh(a)
    return weigh(v ** 2)


@pytest.mark.parametrize("fn,arg,exc,words", [
    (svd_full_u, u(3, 2), NotImplementedError, "full_matrices"),
    (eig_use, np.array([[0.0, -1.0], [1.0, 0.0]]), TypeError, "complex"),   # a complex output, refused
    (eigh_values, np.eye(3), ValueError, "repeated"),
    (qr_use, u(2, 3), NotImplementedError, "at least as many rows"),
], ids=["svd-full-rectangular", "eig-complex", "eigh-repeated", "qr-wide"])
def test_refused(fn, arg, exc, words):
    with pytest.raises(exc, match=words):
        srcad.grad(fn)(arg)


def test_svd_full_rectangular_values_only():
    """full_matrices=True on a rectangular matrix is fine where only s is used."""
    f = lambda a: weigh(np.linalg.svd(a)[1])  # noqa: E731
    srcad.check_grad(f, u(4, 2))


def test_real_times_complex_constant_has_real_gradient():
    """The gradient of a real input is real: a complex adjoint carries it in its real part."""
    f1 = lambda x: np.sum(np.abs(x * H[:3]) ** 2)  # noqa: E731
    f2 = lambda x, w: weigh(np.fft.irfft(np.fft.rfft(x) * w, 6))  # noqa: E731
    g = srcad.grad(f1)(u(3))
    gx, gw = srcad.grad(f2, wrt=(0, 1))(u(6), W)
    assert np.isrealobj(g) and np.isrealobj(gx) and np.isrealobj(gw)
    srcad.check_grad(f1, u(3))
    srcad.check_grad(f2, u(6), W, wrt=(0, 1))
