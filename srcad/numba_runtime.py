"""Numba twins of the runtime helpers (``srcad.runtime``) that compiled derivatives call.

Each twin has the NumPy helper's name and arguments and is kept beside it, tested for parity
(``tests/test_numba.py``): ``TWINS`` maps each NumPy helper to its twin, and ``numba_backend``
swaps them in where the generated code calls a helper. A twin is a plain function (called from
Python it runs the NumPy helper) with a ``numba.extending.overload`` that gives Numba one
implementation per argument types: the typing function below each twin looks at the Numba types
(an array or a number, ``None`` or not) and returns the nopython implementation for them, so every
branch is compiled only for the types that reach it. A twin covers what compiled,
rank-specialised code passes: float scalars and float arrays, not lists, dicts or other libraries'
arrays (code that needs those is refused when it is compiled).

Imported only when a derivative is compiled: Numba is an optional dependency (``srcad[numba]``).
"""

import functools

import numpy as np
from numba import njit, types
from numba.extending import overload, overload_method

from srcad import runtime
from srcad.rules import numpy_helpers

TWINS = {}


def _arr(t):
    """Is ``t`` an array type (or an optional array: a ``v = None`` placeholder that later holds
    an array, which Numba types ``Optional(array)``)?"""
    if isinstance(t, types.Optional):
        t = t.type
    return isinstance(t, types.Array)


def _plain(t):
    return t.type if isinstance(t, types.Optional) else t


def _none(t):
    return t is None or isinstance(t, (types.NoneType, types.Omitted))


def optional_types(typing):
    """``typing`` called with optional types unwrapped: an optional value (``v = None`` before a
    loop, an array inside it) is typed as what it holds when it is read (the placeholder itself is
    never read); while Numba still sees only the placeholder (a plain ``none``), no implementation
    is offered."""
    @functools.wraps(typing)
    def unwrapped(*args, **kwargs):
        if any(isinstance(a, types.NoneType) for a in args[:2]):
            return None
        return typing(*[_plain(a) for a in args], **{k: _plain(v) for k, v in kwargs.items()})
    return unwrapped


def twin(helper):
    """Declare the Numba twin of ``helper``: the decorated typing function picks the
    implementation from the Numba types of the arguments (``overload``)."""
    def stub(*args, **kwargs):
        return helper(*args, **kwargs)
    stub.__name__ = stub.__qualname__ = helper.__name__
    stub.__doc__ = f"Numba twin of ``srcad.runtime.{helper.__name__}`` (the NumPy helper, called from Python)."

    def register(typing):
        overload(stub)(optional_types(typing))
        stub.typing = typing
        TWINS[helper] = stub
        return stub
    return register


@twin(runtime.seed)
def seed(d, y):
    """The starting adjoint of ``y``: ``d`` spread over ``y``'s shape."""
    if _arr(y):
        return lambda d, y: d * np.ones_like(y)
    return lambda d, y: d


@twin(runtime.stop_gradient)
def stop_gradient(x):
    """Identity in value (its derivative, zero, is the transformation's business)."""
    return lambda x: x


@twin(runtime.zeros_like)
def zeros_like(x):
    if _arr(x):
        return lambda x: np.zeros(x.shape, dtype=x.dtype)
    return lambda x: 0.0


@twin(runtime.grad_like)
def grad_like(dx, x):
    """``dx``, or zeros shaped like ``x`` where ``dx`` stayed the 0.0 placeholder."""
    if _arr(x):
        if _arr(dx) and dx.ndim == x.ndim:
            return lambda dx, x: dx
        return lambda dx, x: np.zeros(x.shape, dtype=x.dtype) + dx
    if _arr(dx):
        return lambda dx, x: dx.sum()
    return lambda dx, x: dx


@njit(cache=False)
def _index_of(flat, gshape, xshape, extra):
    """The flat index into an array of ``xshape`` that element ``flat`` of ``gshape`` sums into."""
    k = 0
    rest = flat
    stride = 1
    for a in range(len(gshape) - 1, -1, -1):
        i = rest % gshape[a]
        rest //= gshape[a]
        b = a - extra
        if b >= 0:
            if xshape[b] != 1:
                k += i * stride
            stride *= xshape[b]
    return k


@njit(cache=False)
def _sum_to(g, x):
    out = np.zeros(x.size, dtype=g.dtype)
    gc = np.ascontiguousarray(g).ravel()
    extra = g.ndim - x.ndim
    for f in range(gc.size):
        out[_index_of(f, g.shape, x.shape, extra)] += gc[f]
    return out.reshape(x.shape)


@twin(runtime.unbroadcast)
def unbroadcast(g, x):
    """Sum the adjoint ``g`` down to the shape of ``x`` (the reverse of NumPy broadcasting)."""
    if not _arr(g):
        return lambda g, x: g
    if not _arr(x):
        return lambda g, x: g.sum()
    if g.ndim == x.ndim:
        def same_rank(g, x):
            if g.shape == x.shape:
                return np.ascontiguousarray(g)
            return _sum_to(g, x)
        return same_rank
    return lambda g, x: _sum_to(g, x)


@twin(runtime.broadcast_like)
def broadcast_like(g, x):
    """``g`` broadcast up to ``x``'s shape (the adjoint of ``unbroadcast``)."""
    if _arr(x):
        return lambda g, x: np.zeros(x.shape, dtype=x.dtype) + g
    return lambda g, x: g


@twin(runtime.copy_adjoint)
def copy_adjoint(d):
    if _arr(d):
        return lambda d: d.copy()
    return lambda d: d


@twin(runtime.owned_copy)
def owned_copy(x):
    if _arr(x):
        return lambda x: x.copy()
    return lambda x: x


@twin(runtime.float_items)
def float_items(a, *scalars):
    """The array itself: compiled code reads its elements as machine floats already."""
    return lambda a, *scalars: a


@twin(runtime.contiguous)
def contiguous(g):
    if _arr(g):
        return lambda g: np.ascontiguousarray(g)
    return lambda g: g


@twin(runtime.shape_of)
def shape_of(x):
    """The value itself: compiled code reads only its shape, and keeps no object alive longer."""
    return lambda x: x


@twin(runtime.check_output)
def check_output(y):
    return lambda y: y


@twin(runtime.add_at)
def add_at(dx, x, index, g):
    """``dx`` with ``g`` added at ``x[index]`` (in place where ``dx`` is an array)."""
    if _arr(dx):
        def in_place(dx, x, index, g):
            dx[index] += g
            return dx
        return in_place

    def fresh(dx, x, index, g):
        out = np.zeros(x.shape, dtype=x.dtype) + dx
        out[index] += g
        return out
    return fresh


@twin(runtime.read_at)
def read_at(dx, index, v=None):
    """The adjoint at ``dx[index]`` (summed to ``v``'s shape where NumPy broadcast it)."""
    if not _arr(dx):
        return lambda dx, index, v=None: 0.0
    if _arr(dx) and not _none(v):
        return lambda dx, index, v=None: unbroadcast(np.copy(dx[index]), v)
    return lambda dx, index, v=None: np.copy(dx[index]) if dx.ndim > 1 else dx[index]


@twin(runtime.pop_at)
def pop_at(dx, index, v=None):
    """Take the adjoint at ``dx[index]`` out of ``dx`` (the place is zeroed)."""
    if not _arr(dx):
        return lambda dx, index, v=None: 0.0

    def take(dx, index, v=None):
        g = read_at(dx, index, v)
        dx[index] = 0.0
        return g
    return take


@twin(runtime.count)
def count(x, axis=None):
    """How many elements a reduction of ``x`` over ``axis`` combines."""
    if not _arr(x):
        return lambda x, axis=None: 1
    if _none(axis):
        return lambda x, axis=None: x.size
    return lambda x, axis=None: x.shape[axis]


@twin(runtime.unreduce)
def unreduce(g, x, axis=None, keepdims=False):
    """Spread the adjoint ``g`` of a reduction of ``x`` over ``axis`` back to ``x``'s shape."""
    if not _arr(x):
        return lambda g, x, axis=None, keepdims=False: g
    if _none(axis) or not _arr(g) or g.ndim == x.ndim:
        return lambda g, x, axis=None, keepdims=False: np.zeros(x.shape, dtype=x.dtype) + g
    return lambda g, x, axis=None, keepdims=False: np.zeros(x.shape, dtype=x.dtype) + np.expand_dims(g, axis)


@twin(runtime.reduce_like)
def reduce_like(g, x, axis=None, keepdims=False):
    """Sum ``g`` over ``axis`` (the adjoint of ``unreduce``)."""
    if not _arr(g):
        return lambda g, x, axis=None, keepdims=False: g
    if _none(axis):
        return lambda g, x, axis=None, keepdims=False: g.sum()
    if keepdims is False or isinstance(keepdims, types.Omitted) or (
            isinstance(keepdims, types.BooleanLiteral) and not keepdims.literal_value):
        return lambda g, x, axis=None, keepdims=False: np.sum(g, axis=axis)
    return lambda g, x, axis=None, keepdims=False: np.expand_dims(np.sum(g, axis=axis), axis)


@twin(runtime.matmul_adjoint_a)
def matmul_adjoint_a(g, a, b):
    """Adjoint of ``a`` in ``a @ b`` (vectors and matrices)."""
    if b.ndim == 1:
        if a.ndim == 1:
            return lambda g, a, b: g * b
        return lambda g, a, b: np.outer(g, b)
    if a.ndim == 1:
        return lambda g, a, b: np.ascontiguousarray(b) @ np.ascontiguousarray(g)
    return lambda g, a, b: np.ascontiguousarray(g) @ np.ascontiguousarray(b.T)


@twin(runtime.matmul_adjoint_b)
def matmul_adjoint_b(g, a, b):
    """Adjoint of ``b`` in ``a @ b`` (vectors and matrices)."""
    if a.ndim == 1:
        if b.ndim == 1:
            return lambda g, a, b: g * a
        return lambda g, a, b: np.outer(a, g)
    return lambda g, a, b: np.ascontiguousarray(a.T) @ np.ascontiguousarray(g)


@twin(runtime.dot_adjoint_a)
def dot_adjoint_a(g, a, b):
    """Adjoint of ``a`` in ``np.dot(a, b)``."""
    if not _arr(a) or not _arr(b):
        return lambda g, a, b: unbroadcast(g * b, a)
    return lambda g, a, b: matmul_adjoint_a(g, a, b)


@twin(runtime.dot_adjoint_b)
def dot_adjoint_b(g, a, b):
    """Adjoint of ``b`` in ``np.dot(a, b)``."""
    if not _arr(a) or not _arr(b):
        return lambda g, a, b: unbroadcast(g * a, b)
    return lambda g, a, b: matmul_adjoint_b(g, a, b)


@twin(runtime.owned_tangent)
def owned_tangent(dt, x):
    """A private tangent shaped like ``x`` made from ``dt`` (0.0 stands for zero)."""
    if _arr(x):
        return lambda dt, x: np.zeros(x.shape, dtype=x.dtype) + dt
    return lambda dt, x: dt


@twin(runtime.loop_seq)
def loop_seq(x):
    """What ``for v in x`` indexes: an array (or a tuple) itself."""
    if _arr(x) or isinstance(x, types.BaseTuple):
        return lambda x: x
    return None


@twin(runtime.loop_seq_adjoint)
def loop_seq_adjoint(g, x):
    return lambda g, x: g


@twin(numpy_helpers.extreme_adjoint)
def extreme_adjoint(g, a, y, axis=None, keepdims=False):
    """Adjoint of ``max``/``min`` over ``axis``: ``g`` shared evenly among the tied extremes
    (``y`` and ``g`` reduced without keepdims get the axis back, as ``_kept`` does)."""
    if not _arr(a):
        return lambda g, a, y, axis=None, keepdims=False: g
    if _none(axis):
        def whole(g, a, y, axis=None, keepdims=False):
            mask = a == y
            return mask * (g / np.sum(mask))
        return whole
    y_kept = _arr(y) and y.ndim == a.ndim
    g_kept = not _arr(g) or g.ndim == a.ndim

    def over_axis(g, a, y, axis=None, keepdims=False):
        mask = a == (y if y_kept else np.expand_dims(y, axis))
        count = np.expand_dims(np.sum(mask, axis), axis)
        return mask * ((g if g_kept else np.expand_dims(g, axis)) / count)
    return over_axis


NUMBER_METHODS = ("sum", "mean", "max", "min", "prod", "item")


def number_method(x):
    """``x.sum()`` (``mean``, ``max``, ...) of a number: the number (NumPy scalars have these
    methods, Numba's floats do not; a rank-0 value where the user's code reduces an array)."""
    return lambda x: x


for _name in NUMBER_METHODS:
    overload_method(types.Float, _name)(number_method)
    overload_method(types.Integer, _name)(number_method)


@overload(np.linalg.norm)
def _norm_of_a_number(x, ord=None):
    """``np.linalg.norm`` of a float (a rank-0 value where the user wrote a vector norm): Numba
    has only the array form."""
    if isinstance(x, (types.Float, types.Integer)):
        def impl(x, ord=None):
            return abs(x)
        return impl
    return None


