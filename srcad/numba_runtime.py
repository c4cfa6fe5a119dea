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

import numba
import numpy as np
from numba import njit, types
from numba.extending import overload, overload_method
from numba.np.unsafe.ndarray import to_fixed_tuple

from srcad import runtime
from srcad.rules import more_helpers, numpy_helpers

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


def optional_types(typing=None, values=2):
    """``typing`` called with optional types unwrapped: an optional value (``v = None`` before a
    loop, an array inside it) is typed as what it holds when it is read (the placeholder itself is
    never read); while Numba still sees only the placeholder (a plain ``none``) in one of the first
    ``values`` arguments, no implementation is offered."""
    if typing is None:
        return functools.partial(optional_types, values=values)

    @functools.wraps(typing)
    def unwrapped(*args, **kwargs):
        if any(isinstance(a, types.NoneType) for a in args[:values]):
            return None
        return typing(*[_plain(a) for a in args], **{k: _plain(v) for k, v in kwargs.items()})
    return unwrapped


def twin(helper, values=2, prefer_literal=False):
    """Declare the Numba twin of ``helper``: the decorated typing function picks the
    implementation from the Numba types of the arguments (``overload``); ``values``: how many
    leading arguments are values (the others, ``axis=None`` say, may be None)."""
    def stub(*args, **kwargs):
        return helper(*args, **kwargs)
    stub.__name__ = stub.__qualname__ = helper.__name__
    stub.__doc__ = f"Numba twin of ``srcad.runtime.{helper.__name__}`` (the NumPy helper, called from Python)."

    def register(typing):
        overload(stub, prefer_literal=prefer_literal)(optional_types(typing, values))
        typing.overload_options = (values, prefer_literal)   # what an exported module repeats
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


@twin(runtime.float_list)
def float_list(a, *scalars):
    """The array itself, as for ``float_items``."""
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


@twin(runtime.as_stored)
def as_stored(v, a):
    return lambda v, a: v


@twin(runtime.inexact_part)
def inexact_part(g, a):
    """``g``, or zeros where ``a`` is an integer or boolean array (decided from its Numba type)."""
    if isinstance(a, types.Array) and isinstance(a.dtype, (types.Integer, types.Boolean)):
        return lambda g, a: zeros_like(g)
    return lambda g, a: g


@twin(runtime.check_unpack, values=1)
def check_unpack(seq, n, starred=False):
    """Python's count check of ``a, b = seq`` (a tuple's length is its type's)."""
    if isinstance(seq, types.BaseTuple):
        k = len(seq)

        def tuple_count(seq, n, starred=False):
            if k < n or (k > n and not starred):
                raise ValueError("wrong number of values to unpack")
        return tuple_count
    if isinstance(seq, (types.Array, types.List)):
        def count(seq, n, starred=False):
            if len(seq) < n or (len(seq) > n and not starred):
                raise ValueError("wrong number of values to unpack")
        return count


def _fancy(index):
    """An integer-array index (``x[[0, 0]]``): NumPy's ``+=`` there does not count repeated places
    (srcad's helper uses ``np.add.at``), so no implementation is offered and the derivative is refused."""
    parts = index.types if isinstance(index, types.BaseTuple) else (index,)
    return any(isinstance(p, (types.Array, types.List)) and not isinstance(p.dtype, types.Boolean)
               for p in parts)


def _tuple_code(name, params, n, element):
    """An implementation that builds a tuple of ``n`` elements, ``element(i)`` the text of each."""
    ns = {"add": add, "zeros_like": zeros_like, "np": np}
    items = ", ".join(element(i) for i in range(n)) + ("," if n == 1 else "")
    exec(f"def {name}({params}):\n    return ({items})\n", ns)
    return ns[name]


def _literal_index(index, n):
    """The literal integer ``index`` into ``n`` elements (negative counted from the end), or None."""
    if not isinstance(index, types.IntegerLiteral):
        return None
    k = index.literal_value
    k = k + n if k < 0 else k
    return k if 0 <= k < n else None


@twin(runtime.add_at)
def add_at(dx, x, index, g):
    """``dx`` with ``g`` added at ``x[index]`` (in place where ``dx`` is an array; a list or tuple
    ``x`` gets a new list or tuple, 0.0 standing for the zero adjoints of its other elements)."""
    if isinstance(x, (types.BaseTuple, types.LiteralList)):
        # (a list display of mixed types is a LiteralList, indexed by constants: its adjoint a tuple)
        k = _literal_index(index, len(x.types))
        if k is None:
            return None
        if isinstance(dx, types.BaseTuple):
            return _tuple_code("in_tuple", "dx, x, index, g", len(x.types),
                               lambda i: f"add(dx[{i}], g)" if i == k else f"dx[{i}]")
        return _tuple_code("fresh_tuple", "dx, x, index, g", len(x.types),
                           lambda i: "g" if i == k else "0.0")
    if isinstance(x, types.List):
        if not isinstance(index, types.Integer):
            return None
        if isinstance(dx, types.List):
            def in_list(dx, x, index, g):
                out = [v for v in dx]
                out[index] = add(out[index], g)
                return out
            return in_list
        if isinstance(x.dtype, (types.Float, types.Integer)):
            def fresh_numbers(dx, x, index, g):
                out = [0.0 for v in x]
                out[index] = out[index] + g
                return out
            return fresh_numbers

        def fresh_list(dx, x, index, g):
            out = [zeros_like(v) for v in x]
            out[index] = add(out[index], g)
            return out
        return fresh_list
    if not _arr(x) or _fancy(index):
        return None
    if _complex(g) and not _complex(x):
        # a real place's adjoint is the real part (docs/complex.md)
        return lambda dx, x, index, g: add_at(dx, x, index, np.real(g))
    upcast = _complex(x) and not _complex(dx)
    if _arr(dx) and not upcast:
        def in_place(dx, x, index, g):
            if dx.shape != x.shape:
                out = np.zeros(x.shape, dtype=x.dtype) + dx
                out[index] += g
                return out
            dx[index] += g
            return dx
        return in_place

    def fresh(dx, x, index, g):
        out = np.zeros(x.shape, dtype=x.dtype) + dx
        out[index] += g
        return out
    return fresh


@twin(runtime.tuple_get)
def tuple_get(d, k):
    """Element ``k`` of a container adjoint ``d`` (0.0 where ``d`` is the zero adjoint)."""
    if isinstance(d, (types.Float, types.Integer)):
        return lambda d, k: 0.0
    if isinstance(d, (types.List, types.UniTuple)) and isinstance(k, types.Integer):
        return lambda d, k: d[k]
    if isinstance(d, types.BaseTuple):
        i = _literal_index(k, len(d.types))
        if i is None:
            return None
        ns = {}
        exec(f"def element(d, k):\n    return d[{i}]\n", ns)
        return ns["element"]
    return None


@twin(runtime.add)
def add(a, b):
    """Sum of two adjoints, where either may be the zero 0.0 or a list or tuple of adjoints."""
    seq = (types.BaseTuple, types.List)
    if isinstance(a, seq) and isinstance(b, seq):
        if isinstance(a, types.List) and isinstance(b, types.List):
            return lambda a, b: [add(u, v) for u, v in zip(a, b)]
        if isinstance(a, types.BaseTuple) and isinstance(b, types.BaseTuple) and len(a.types) == len(b.types):
            return _tuple_code("add_tuples", "a, b", len(a.types), lambda i: f"add(a[{i}], b[{i}])")
        return None
    if isinstance(a, seq) or isinstance(b, seq):
        # the other one is the zero adjoint 0.0 (a number and a container do not add otherwise)
        if isinstance(a, (types.Float, types.Integer)):
            return lambda a, b: b
        if isinstance(b, (types.Float, types.Integer)):
            return lambda a, b: a
        return None
    return lambda a, b: a + b


@twin(runtime.seq_concat)
def seq_concat(a, b):
    """``a + b``: concatenation of two lists or tuples, else NumPy's addition."""
    return lambda a, b: a + b


@twin(runtime.seq_part)
def seq_part(g, a, b, first):
    """The adjoint of operand ``a`` (``first``) or ``b`` of ``a + b``."""
    seq = (types.BaseTuple, types.List)
    if not isinstance(first, types.BooleanLiteral):
        return None
    if not (isinstance(a, seq) and isinstance(b, seq)):
        if first.literal_value:
            return lambda g, a, b, first: unbroadcast(g, a)
        return lambda g, a, b, first: unbroadcast(g, b)
    if isinstance(g, (types.Float, types.Integer)):
        return lambda g, a, b, first: 0.0
    if isinstance(g, types.List):
        if first.literal_value:
            return lambda g, a, b, first: g[:len(a)]
        return lambda g, a, b, first: g[len(a):len(a) + len(b)]
    if isinstance(g, types.BaseTuple) and isinstance(a, types.BaseTuple) and isinstance(b, types.BaseTuple):
        na, nb = len(a.types), len(b.types)
        lo, hi = (0, na) if first.literal_value else (na, na + nb)
        return _tuple_code("part", "g, a, b, first", hi - lo, lambda i: f"g[{lo + i}]")
    return None


@twin(runtime.list_append)
def list_append(lst, v):
    """``lst + [v]`` (a new list)."""
    if not isinstance(lst, types.List):
        return None

    def appended(lst, v):
        out = [u for u in lst]
        out.append(v)
        return out
    return appended


@twin(runtime.list_head)
def list_head(d):
    """The adjoint of ``lst`` in ``list_append(lst, v)``: all but the last element."""
    if isinstance(d, (types.Float, types.Integer)):
        return lambda d: 0.0
    if isinstance(d, types.List):
        return lambda d: d[:-1]
    return None


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


@twin(runtime.count, values=1)
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


def _complex(t):
    """Is ``t`` (a Numba type) a complex number or an array of them?"""
    t = _plain(t)
    return isinstance(t.dtype if isinstance(t, types.Array) else t, types.Complex)


@twin(runtime.real_like)
def real_like(g, x):
    """``x``'s gradient ``g``: its real part where ``x`` is real and ``g`` complex."""
    if _complex(x) or not _complex(g):
        return lambda g, x: g
    return lambda g, x: np.real(g)


@twin(more_helpers.abs_adjoint)
def abs_adjoint(g, x):
    """Adjoint of ``np.abs(x)``: ``g sign(x)``; for complex ``x``, ``Re(g) conj(x) / |x|``."""
    if not _complex(x):
        return lambda g, x: g * np.sign(x)
    if _arr(x):
        return lambda g, x: np.real(g) * np.conj(x) / np.where(x == 0, 1.0, np.abs(x))
    return lambda g, x: np.real(g) * np.conj(x) / (1.0 if x == 0 else abs(x))


@twin(more_helpers.real_adjoint)
def real_adjoint(g, z):
    """Adjoint of ``np.real(z)``: ``Re(g)``, complex where ``z`` is."""
    if not _complex(z):
        return lambda g, z: np.real(g)
    if _arr(z):
        return lambda g, z: np.real(g) * np.ones_like(z)
    return lambda g, z: np.real(g) * (1.0 + 0.0j)


@twin(more_helpers.imag_adjoint)
def imag_adjoint(g, z):
    """Adjoint of ``np.imag(z)``: ``-i Re(g)`` (zero for a real ``z``)."""
    if _complex(z):
        return lambda g, z: np.real(g) * -1j
    return lambda g, z: np.real(g) * 0.0


@twin(more_helpers.angle_adjoint)
def angle_adjoint(g, z, deg=False):
    """Adjoint of ``np.angle(z, deg)``: ``-i Re(g) / z`` (zero for a real ``z``)."""
    if not _complex(z):
        return lambda g, z, deg=False: np.real(g) * 0.0

    def impl(g, z, deg=False):
        scale = 180.0 / np.pi if deg else 1.0
        return np.real(g) * scale * -1j / z
    return impl


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




# twins of the helpers of srcad/patterns.py's whole expressions (vectors and matrices)
@twin(numpy_helpers.sum_matmul_adjoint_a)
def sum_matmul_adjoint_a(g, a, b):
    """Adjoint of ``a`` in ``sum(a @ b)``: ``g`` times ``b``'s row sums in every row of ``a``."""
    if _arr(g) or a.ndim > 2 or b.ndim > 2:
        return None
    if b.ndim == 2:
        return lambda g, a, b: np.ones_like(a) * (g * b.sum(axis=1))
    return lambda g, a, b: np.ones_like(a) * (g * b)


@twin(numpy_helpers.sum_matmul_adjoint_b)
def sum_matmul_adjoint_b(g, a, b):
    """Adjoint of ``b`` in ``sum(a @ b)``: ``g`` times ``a``'s column sums in every column of ``b``."""
    if _arr(g) or a.ndim > 2 or b.ndim > 2:
        return None
    col = (lambda a: a.sum(axis=0)) if a.ndim == 2 else (lambda a: a)
    col = njit(col)
    if b.ndim == 2:
        return lambda g, a, b: np.ones_like(b) * np.expand_dims(g * col(a), 1)
    return lambda g, a, b: np.ones_like(b) * (g * col(a))


# x @ W + b, x @ W + u @ U + b (srcad/patterns.py): 2-D products, a bias of rank 0 or 1
def _matrices(*ts):
    return all(_arr(t) and t.ndim == 2 for t in ts)


@twin(numpy_helpers.affine, values=3)
def affine(x, W, b):
    """``x @ W + b``."""
    return (lambda x, W, b: x @ W + b) if _matrices(x, W) else None


@twin(numpy_helpers.dot_affine, values=3)
def dot_affine(x, W, b):
    """``np.dot(x, W) + b``."""
    return (lambda x, W, b: np.dot(x, W) + b) if _matrices(x, W) else None


@twin(numpy_helpers.affine2, values=5)
def affine2(x, W, u, U, b):
    """``x @ W + u @ U + b``."""
    return (lambda x, W, u, U, b: x @ W + u @ U + b) if _matrices(x, W, u, U) else None


@twin(numpy_helpers.dot_affine2, values=5)
def dot_affine2(x, W, u, U, b):
    """``np.dot(x, W) + np.dot(u, U) + b``."""
    return (lambda x, W, u, U, b: np.dot(x, W) + np.dot(u, U) + b) if _matrices(x, W, u, U) else None


@njit
def _to_product(g, n, k):
    """``g`` (2-D) summed down to ``(n, k)`` along the axes that were widened, C-contiguous."""
    out = np.ascontiguousarray(g)
    if out.shape[0] != n:
        out = out.sum(axis=0).reshape((1, out.shape[1]))
    if out.shape[1] != k:
        out = np.ascontiguousarray(out.sum(axis=1)).reshape((out.shape[0], 1))
    return out


@twin(numpy_helpers.product_adjoint, values=3)
def product_adjoint(g, x, W):
    """The adjoint of ``x @ W`` from that of ``x @ W + b``."""
    if not _matrices(x, W):
        return None
    if _arr(g):
        return lambda g, x, W: _to_product(g, x.shape[0], W.shape[1])
    return lambda g, x, W: np.full((x.shape[0], W.shape[1]), g)


@twin(numpy_helpers.product_adjoint2, values=5)
def product_adjoint2(g, x, W, u, U):
    """The adjoint of ``x @ W`` from that of ``x @ W + u @ U + b``."""
    if not _matrices(x, W, u, U):
        return None
    if _arr(g):
        return lambda g, x, W, u, U: _to_product(_to_product(g, max(x.shape[0], u.shape[0]),
                                                              max(W.shape[1], U.shape[1])), x.shape[0], W.shape[1])
    return lambda g, x, W, u, U: np.full((x.shape[0], W.shape[1]), g)
# ---------------------------------------------------------------------- NumPy forms Numba lacks

# NumPy function -> the stand-in the compiled form calls (numba_backend rewrites the call)
NUMPY_FORMS = {}


def numpy_form(fn, prefer_literal=False, values=1):
    """Declare the stand-in for NumPy's ``fn`` in compiled code, where Numba lacks a form of it
    (``np.max(Z, axis=1, keepdims=True)``): like ``twin``, a plain function (called from Python it
    runs ``fn``) with an ``overload`` whose typing function picks the implementation."""
    def register(typing):
        def stub(*args, **kwargs):
            return fn(*args, **kwargs)
        stub.__name__ = stub.__qualname__ = typing.__name__
        stub.__doc__ = f"Numba form of ``np.{fn.__name__}`` with ``axis``/``keepdims`` (NumPy's, called from Python)."
        overload(stub, prefer_literal=prefer_literal)(optional_types(typing, values=values))
        typing.overload_options = (values, prefer_literal)
        stub.typing = typing
        NUMPY_FORMS[fn] = stub
        return stub
    return register


def _keep(keepdims):
    """``keepdims`` as a Python bool where Numba knows it when compiling; None where it does not."""
    if keepdims is False or _none(keepdims):
        return False
    if isinstance(keepdims, types.BooleanLiteral):
        return keepdims.literal_value
    if isinstance(keepdims, types.IntegerLiteral):
        return bool(keepdims.literal_value)
    return None


def _result_dtype(kind, t):
    """The NumPy scalar type of a reduction ``kind`` over elements of Numba type ``t``."""
    if kind == "mean" and not isinstance(t, (types.Float, types.Complex)):
        return np.float64
    if kind in ("sum", "prod") and not isinstance(t, (types.Float, types.Complex)):
        return np.int64
    return numba.np.numpy_support.as_dtype(t).type


def _axis_reduction(kind, whole):
    """The typing function of ``np.<kind>(a, axis, keepdims)``: ``whole`` reduces an array to one
    value (Numba's own); over one axis, a loop over the axis of ``a`` seen as (before, n, after)."""
    def typing(a, axis=None, keepdims=False):
        keep = _keep(keepdims)
        if keep is None:
            return None
        if not _arr(a):
            if keep:
                return None
            return lambda a, axis=None, keepdims=False: whole(np.asarray(a))
        nd = a.ndim
        if _none(axis):
            if not keep:
                return lambda a, axis=None, keepdims=False: whole(a)
            ones = (1,) * nd
            return lambda a, axis=None, keepdims=False: np.full(ones, whole(a))
        if not isinstance(axis, types.Integer):
            return None
        if nd == 1 and not keep:
            def vector(a, axis=None, keepdims=False):
                if axis != 0 and axis != -1:
                    raise ValueError("axis out of bounds")
                return whole(a)
            return vector
        dtype = _result_dtype(kind, a.dtype)
        out_nd = nd if keep else nd - 1

        def impl(a, axis=None, keepdims=False):
            ax = axis + nd if axis < 0 else axis
            if ax < 0 or ax >= nd:
                raise ValueError("axis out of bounds")
            c = np.ascontiguousarray(a)
            before = 1
            after = 1
            for k in range(ax):
                before *= c.shape[k]
            for k in range(ax + 1, nd):
                after *= c.shape[k]
            n = c.shape[ax]
            if n == 0 and (kind == "max" or kind == "min"):
                raise ValueError("zero-size array to reduction operation which has no identity")
            v = c.reshape((before, n, after))
            out = np.empty((before, after), dtype=dtype)
            for i in range(before):
                for j in range(after):
                    if kind == "max" or kind == "min":
                        acc = v[i, 0, j]
                        for k in range(1, n):
                            x = v[i, k, j]
                            if np.isnan(acc):
                                break
                            if (x > acc if kind == "max" else x < acc) or np.isnan(x):
                                acc = x
                        out[i, j] = acc
                    elif kind == "prod":
                        p = dtype(1)
                        for k in range(n):
                            p *= v[i, k, j]
                        out[i, j] = p
                    else:
                        s = dtype(0)
                        for k in range(n):
                            s += v[i, k, j]
                        out[i, j] = s / n if kind == "mean" else s
            dims = np.empty(out_nd, np.int64)
            m = 0
            for k in range(nd):
                if k != ax:
                    dims[m] = c.shape[k]
                    m += 1
                elif keep:
                    dims[m] = 1
                    m += 1
            return out.reshape(to_fixed_tuple(dims, out_nd))
        return impl
    typing.__name__ = typing.__qualname__ = f"reduce_{kind}"
    return typing


def _whole_max(a):
    return np.max(a)


def _whole_min(a):
    return np.min(a)


def _whole_sum(a):
    return np.sum(a)


def _whole_mean(a):
    return np.mean(a)


def _whole_prod(a):
    return np.prod(a)


for _kind, _fns, _whole in (("max", (np.max, np.amax), _whole_max), ("min", (np.min, np.amin), _whole_min),
                            ("sum", (np.sum,), _whole_sum), ("mean", (np.mean,), _whole_mean),
                            ("prod", (np.prod,), _whole_prod)):
    _typing = _axis_reduction(_kind, njit(cache=False)(_whole))
    for _fn in _fns:
        numpy_form(_fn, prefer_literal=True)(_typing)


# twins of the log-softmax / softmax cross-entropy helpers (srcad/patterns.py), for matrices
# (a row or column of logits per example); other ranks are refused at the helper

@njit(cache=False)
def _keep_axis(r, ax):
    """A reduction ``r`` of a matrix over axis ``ax`` with that axis kept (``keepdims=True``)."""
    if ax == 1:
        return r.reshape((r.shape[0], 1))
    return r.reshape((1, r.shape[0]))


@twin(numpy_helpers.log_softmax, values=1)
def log_softmax(s, axis):
    """``s - log(sum(exp(s), axis, keepdims=True))``."""
    if not _arr(s) or s.ndim != 2 or not isinstance(axis, types.Integer):
        return None
    return lambda s, axis: s - _keep_axis(np.log(np.sum(np.exp(s), axis=axis % 2)), axis % 2)


@twin(numpy_helpers.softmax_xent, values=2)
def softmax_xent(s, y, axis):
    """``sum(y * log_softmax(s, axis))``."""
    if not _arr(s) or s.ndim != 2 or not isinstance(axis, types.Integer):
        return None
    return lambda s, y, axis: np.sum(y * log_softmax(s, axis))


@twin(numpy_helpers.log_softmax_adjoint, values=2)
def log_softmax_adjoint(g, ly, axis):
    """``g - softmax * sum(g, axis)`` (``softmax = exp(ly)``)."""
    if not _arr(ly) or ly.ndim != 2 or not isinstance(axis, types.Integer):
        return None
    if _arr(g):
        return lambda g, ly, axis: g - np.exp(ly) * _keep_axis(np.sum(g, axis=axis % 2), axis % 2)
    return lambda g, ly, axis: g - np.exp(ly) * (g * ly.shape[axis % 2])


@twin(numpy_helpers.log_softmax_tangent, values=2)
def log_softmax_tangent(t, ly, axis):
    """``t - sum(softmax * t, axis)``."""
    if not _arr(ly) or ly.ndim != 2 or not isinstance(axis, types.Integer):
        return None

    def impl(t, ly, axis):
        tt = t + np.zeros_like(ly)
        return tt - _keep_axis(np.sum(np.exp(ly) * tt, axis=axis % 2), axis % 2)
    return impl


@twin(numpy_helpers.softmax_xent_adjoint, values=3)
def softmax_xent_adjoint(g, s, y, axis):
    """``g * y - softmax(s) * sum(g * y, axis)`` (``y`` broadcast against ``s``)."""
    if _arr(g) or not _arr(s) or s.ndim != 2 or not isinstance(axis, types.Integer):
        return None

    def impl(g, s, y, axis):
        gy = g * y + np.zeros_like(s)
        return gy - np.exp(log_softmax(s, axis)) * _keep_axis(np.sum(gy, axis=axis % 2), axis % 2)
    return impl


@twin(numpy_helpers.softmax_xent_labels_adjoint, values=3)
def softmax_xent_labels_adjoint(g, s, y, axis):
    """``g * log_softmax(s)``, summed down to ``y``'s shape."""
    if not _arr(s) or s.ndim != 2 or not isinstance(axis, types.Integer):
        return None
    return lambda g, s, y, axis: unbroadcast(g * log_softmax(s, axis), y)
