"""Small helpers that generated derivative code calls.

Each helper is a plain function over NumPy-like arrays: it never forces arrays back to NumPy
(``zeros_like``/``empty_like`` allocate from an existing array), and each has its own derivative
rules in ``srcad.rules.runtime_rules`` so generated code can be differentiated again.
"""

import array
import contextvars
import sys

import numpy as np

from srcad.errors import TransformError, user_place


class Stack(list):
    """The per-call record of one saved variable (or decision, or trip count).

    ``stack_y.append(v)`` in the forward sweep, ``v = stack_y.pop()`` in the backward sweep.
    ``Stack()`` is a plain list (any value: arrays, shapes, ``None``); ``Stack(float)``,
    ``Stack(int)`` and ``Stack(bool)`` are typed stacks (``array.array``) for values the derivative
    knows to be float scalars, integers or decisions: 8 bytes per float where a list of
    ``np.float64`` objects costs 40. A typed stack gives back Python ``float``/``int`` values.
    """

    __slots__ = ()

    def __new__(cls, typ=None):
        if typ is None:
            return super().__new__(cls)
        return array.array(_TYPECODES[typ])   # a plain array: a subclass costs ~6x more to make

    def __init__(self, typ=None):
        super().__init__()


# ``Stack(float)``: float scalars, 8 bytes each; ``Stack(int)``: trip counts and integer loop
# variables; ``Stack(bool)``: branch decisions, one byte each (popped as 0 or 1)
_TYPECODES = {float: "d", int: "q", bool: "b"}


class Shape(tuple):
    """A value's shape, pushed in its place where the backward sweep reads the value only for its
    shape (``unbroadcast(g, v)``): it has the ``shape`` NumPy arrays have, and none of their data."""

    __slots__ = ()

    @property
    def shape(self):
        return tuple(self)

    @property
    def ndim(self):
        return len(self)


def float_items(a, *scalars):
    """The elements of a 1-D float64 NumPy array as Python floats (a ``memoryview``: no copy), or
    ``a`` itself. Generated code reads a scalar loop's elements through it (``c_items[i]``) only
    where every use of the element treats a float as it treats an ``np.float64`` (``+``, ``-``,
    ``*``, comparisons, NumPy calls; ``srcad/floats.py``): float arithmetic is several times
    faster than NumPy scalars'. Other dtypes keep their NumPy scalars, and so does every call where
    one of ``scalars`` (the numbers the elements meet) is a lower-precision NumPy scalar, which
    NumPy would promote to float64 against an ``np.float64`` and not against a Python float."""
    if type(a) is not np.ndarray or a.dtype is not _FLOAT64 or a.ndim != 1:
        return a   # (a float64 dtype that is not NumPy's own object, e.g. with metadata, too)
    for v in scalars:
        if type(v) not in _PLAIN_SCALARS:
            return a
    return memoryview(a)


def float_list(a, *scalars):
    """The elements of a 1-D float64 NumPy array as a list of Python floats (``a.tolist()``), or
    ``a`` itself, as ``float_items`` decides: for a loop that only reads them (a list is read
    faster than a ``memoryview``; ``float_items`` stays for the views written through)."""
    if type(a) is not np.ndarray or a.dtype is not _FLOAT64 or a.ndim != 1:
        return a
    for v in scalars:
        if type(v) not in _PLAIN_SCALARS:
            return a
    return a.tolist()


_FLOAT64 = np.dtype(np.float64)
_PLAIN_SCALARS = {float, int, bool, np.float64, np.int64, np.int32, np.bool_}


def shape_of(x):
    """``Shape`` of ``x``: what the backward sweep keeps of a value it reads only for its shape."""
    s = getattr(x, "shape", None)
    return Shape(np.shape(x) if s is None else s)


_training = contextvars.ContextVar("srcad_training", default=False)


def is_training():
    """True while srcad's derivative code runs the user's code, False for a plain call."""
    return _training.get()


def stop_gradient(x):
    """Identity in value; its derivative is zero in every mode (the chapter's ``detach``)."""
    return x


def is_array(x):
    """An array of NumPy or of a library implementing its API (Dask, CuPy); not a NumPy scalar.
    srcad's helpers allocate from such arrays and call NumPy functions on them (which dispatch to
    the array's own library), never converting them to NumPy: a lazy array stays lazy."""
    return isinstance(x, np.ndarray) or (hasattr(x, "__array_function__") and hasattr(x, "shape")
                                         and not isinstance(x, np.generic))


def _float_dtype(x):
    """The floating dtype of ``x``'s derivative, read without computing ``x``."""
    dt = getattr(x, "dtype", None)
    return np.result_type(dt if dt is not None else np.asarray(x).dtype, 0.0)   # float32 stays float32


def _size(x):
    """``np.size(x)`` from the shape (``np.size`` of a Dask array computes it)."""
    return int(np.prod(_shape(x)))


def _shape(x):
    s = getattr(x, "shape", None)
    if s is None:
        return np.shape(x)
    return s


def unbroadcast(g, x):
    """Sum the adjoint ``g`` down to the shape of ``x`` (the reverse of NumPy broadcasting)."""
    gshape = getattr(g, "shape", None)
    if gshape is None:
        if isinstance(g, (list, tuple)):
            # the adjoint of an arithmetic result is never a list: ``a + b`` or ``a * n`` joined
            # lists or tuples that srcad could not recognise as such (issue 11)
            raise TypeError("srcad: `+` or `*` here joined lists or tuples, which srcad could not "
                            "tell when it wrote the derivative (it differentiated NumPy arithmetic); "
                            "concatenate with a display on one side (`xs + [v]`) or append in a loop")
        return g
    xshape = getattr(x, "shape", None)
    if xshape is None:
        if isinstance(x, (int, float, complex, bool, np.generic)):
            xshape = ()
        else:
            xshape = np.shape(x)
    if gshape == xshape:
        return g
    extra = len(gshape) - len(xshape)
    if extra < 0:
        # fewer axes than x: the product of a materialized 0.0 adjoint (a loop's first pass) with
        # a smaller value, which NumPy broadcast up; spread it to x's shape
        return g + zeros_like(x)
    if extra > 0:
        g = g.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(xshape) if n == 1 and g.shape[i] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g


def broadcast_like(g, x):
    """Broadcast ``g`` back up to the shape of ``x`` (the adjoint of ``unbroadcast``)."""
    xshape = _shape(x)
    gshape = _shape(g)
    if gshape == xshape:
        return g
    if len(gshape) > len(xshape) or any(a != b and a != 1 for a, b in zip(gshape[::-1], xshape[::-1])):
        # g is larger: x was the 0.0 placeholder that ``unbroadcast`` spread (its first pass)
        return unbroadcast(g, x)
    return np.broadcast_to(g, xshape)


def check_output(y, complex_ok=False):
    """``y``, the differentiated function's result, if it can have a derivative: boolean results
    are refused (a TypeError) instead of being given a zero; complex ones where ``complex_ok`` is
    false (``grad``: a gradient needs a real output; a ``ComplexOutputError``)."""
    dt = getattr(y, "dtype", None)
    if isinstance(y, (bool, np.bool_)) or (dt is not None and getattr(dt, "kind", None) == "b"):
        raise TypeError("srcad: the differentiated function returned a boolean value; it has no "
                        "derivative (differentiate the numeric quantity it tests instead)")
    if not complex_ok and (isinstance(y, (complex, np.complexfloating))
                           or (dt is not None and getattr(dt, "kind", None) == "c")):
        raise ComplexOutputError("srcad: grad needs a real scalar output, and the differentiated function "
                                 "returned a complex value; differentiate a real part (np.real, np.abs), or "
                                 "use srcad.vjp with a complex cotangent or srcad.jvp (docs/complex.md)",
                                 None, None, "complex output")
    return y


class ComplexOutputError(TransformError, TypeError):
    """``grad`` of a function whose result is complex: a TransformError (and, as srcad raised
    before complex inputs were supported, a TypeError)."""


def seed(d, y):
    """The starting adjoint of the output ``y``: ``d`` spread over ``y``'s shape (a complex ``y``
    needs a complex ``d``: a cotangent given to ``vjp``)."""
    check_output(y, complex_ok=isinstance(d, (complex, np.complexfloating))
                 or getattr(getattr(d, "dtype", None), "kind", None) == "c")
    if y is None or isinstance(y, (str, bytes)) or (isinstance(y, (tuple, list, dict))
                                                    and not isinstance(d, (tuple, list, dict))):
        raise TypeError(f"srcad: the differentiated function returned {type(y).__name__}; a gradient "
                        "needs a numeric scalar or array output (use srcad.vjp with a matching "
                        "cotangent for other outputs)")
    yshape = getattr(y, "shape", None)
    if not yshape:
        # the default seed 1.0 of a float32 (complex64) scalar output takes its dtype
        return y.dtype.type(d) if type(d) is float and isinstance(y, (np.float32, np.float16, np.complex64)) else d
    if _shape(d) == yshape:
        return d
    return d * np.ones_like(y)


def zeros_like(x):
    """A zero adjoint for ``x``: an array like ``x``, 0.0 for scalars, nested for containers.
    A ``Shape`` (the stand-in the backward sweep keeps of a value read for its shape) is the
    shape of an array, not a tuple of numbers: zeros of that shape."""
    if type(x) is np.ndarray and x.dtype is _FLOAT64 and x.ndim and x.flags.c_contiguous:
        return np.zeros(x.shape)   # the common case first, several times faster than zeros_like
    if isinstance(x, Shape):
        return np.zeros(tuple(x)) if len(x) else 0.0
    if isinstance(x, memoryview):   # float_items of an array
        return np.zeros(x.shape)
    if isinstance(x, (tuple, list)):
        return type(x)(zeros_like(v) for v in x)
    if isinstance(x, dict):
        return {k: zeros_like(v) for k, v in x.items()}
    if hasattr(x, "shape") and (getattr(x, "ndim", 0) > 0 or isinstance(x, np.ndarray)):
        return np.zeros_like(x, dtype=np.result_type(x.dtype, 0.0))
    return 0.0


def grad_like(dx, x):
    """The final gradient for ``x``: ``dx``, or zeros shaped like ``x`` where ``dx`` stayed 0.0."""
    if isinstance(dx, (tuple, list)) and not isinstance(x, (tuple, list, dict)):
        if not _shape(x):
            # x is the 0.0 placeholder of a container element nothing read (reverse over reverse
            # of a list of tuples): a constant, whose adjoint goes nowhere
            return dx
        # an array made from a (nested) list (``np.array(rows)``) whose adjoint was taken apart as
        # that list (reverse over reverse): put together again
        dx = _dense(dx, _shape(x))
    if isinstance(x, Shape):   # a value kept only for its shape (see ``shape_of``)
        return dx if _shape(dx) == x.shape else np.zeros(x.shape, dtype=np.result_type(dx, 0.0)) + dx
    if isinstance(x, (tuple, list)):
        if isinstance(dx, (tuple, list)):
            return type(x)(grad_like(d, v) for d, v in zip(dx, x))
        return zeros_like(x)
    if isinstance(x, dict):
        if isinstance(dx, dict):
            return {k: grad_like(dx.get(k, 0.0), v) for k, v in x.items()}
        return zeros_like(x)
    xshape = _shape(x)
    dshape = _shape(dx)
    if dshape == xshape:
        return dx
    if xshape == () and dshape != ():
        return dx.reshape(())
    return np.zeros_like(x, dtype=_float_dtype(x)) + dx


def _dense(d, shape):
    """The nested list adjoint ``d`` as one array of ``shape`` (0.0 placeholders spread)."""
    if isinstance(d, (tuple, list)):
        return np.stack([_dense(v, shape[1:]) for v in d]) if len(d) else np.zeros(shape)
    return d if _shape(d) == tuple(shape) else np.zeros(shape) + d


def as_stored(v, a):
    """``v`` as ``a[i] = v`` stores it: ``v`` itself (NumPy converts it to ``a``'s dtype). Generated
    code passes the value of a write through it where ``a`` may be an integer or boolean array
    srcad cannot see (an argument not differentiated, a copy of one): its rules give the write no
    derivative where the store truncates (``inexact_part``)."""
    return v


def inexact_part(g, a):
    """The derivative ``g`` of a value written into ``a``: ``g`` where ``a`` holds floating-point or
    complex numbers (or is not an array: a list keeps what it is given), zero where NumPy truncates
    the value to ``a``'s integer or boolean dtype."""
    if getattr(getattr(a, "dtype", None), "kind", "f") in "iub":
        return zeros_like(g)
    return g


def real_like(g, x):
    """``x``'s gradient ``g``: its real part where ``x`` is real (a real value's derivative is
    real: docs/complex.md), ``g`` itself where ``x`` is complex. Generated code applies it to the
    gradients of a function that can make complex values, so higher derivatives see it too."""
    if np.iscomplexobj(x) or not np.iscomplexobj(g):
        return g
    return np.real(g)


def copy_adjoint(d):
    """A copy of ``d`` that may be changed in place."""
    if is_array(d):
        return d.copy()
    if isinstance(d, list):
        return list(d)
    return d


def contiguous(g):
    """``g`` laid out contiguously where it is a NumPy array, for BLAS (a broadcast view spread by
    ``unreduce`` would take ``np.matmul``'s slow path); another library's array as it is (Dask and
    CuPy have no ``np.ascontiguousarray``: NumPy would convert it, computing a lazy array)."""
    return np.ascontiguousarray(g) if isinstance(g, np.ndarray) else g


def owned_copy(x):
    """A private copy of a value a function may write into (the arrays in lists, tuples and dicts
    too), so the caller's objects are never changed (a Dask array's ``x[i] = v`` changes the
    caller's object too: it is copied like a NumPy array)."""
    if is_array(x):
        return x.copy()
    if isinstance(x, (list, tuple)):
        return type(x)(owned_copy(v) for v in x)
    if isinstance(x, dict):
        return {k: owned_copy(v) for k, v in x.items()}
    return x


def sum_adjoint(g, seq):
    """Adjoint of the builtin ``sum(seq)``: each element receives ``g`` (reduced to its shape)."""
    if _is_zero(g):
        return 0.0
    if isinstance(seq, np.ndarray):
        # an array's elements are its rows: its adjoint is an array, every row receiving g
        return np.broadcast_to(unbroadcast(g, seq[0]) if len(seq) else g, seq.shape).copy()
    return [unbroadcast(g, v) for v in seq]


def loop_seq(x):
    """What ``for v in x`` indexes: ``x`` itself for a sequence or array; a dict's keys (and the
    items of any other iterable), listed once."""
    if isinstance(x, (list, tuple, np.ndarray, str, range)):
        return x
    return list(x)


def loop_seq_adjoint(g, x):
    """The adjoint of ``loop_seq(x)``: ``g`` for a sequence; a dict's keys carry no derivative."""
    if isinstance(x, (list, tuple, np.ndarray, str, range)):
        return g
    if isinstance(x, (dict, type({}.keys()))) or _is_zero(g):
        return 0.0
    raise TypeError(f"srcad: cannot differentiate a loop over a {type(x).__name__}; loop over a "
                    "list, tuple, array or dict")


def loop_seq_tangent(t, x):
    """The tangent of ``loop_seq(x)``: ``t`` for a sequence; zeros for a dict's keys."""
    if isinstance(x, (list, tuple, np.ndarray, str, range)):
        return t
    if isinstance(x, (dict, type({}.keys()))) or _is_zero(t):
        return [0.0] * len(x)
    raise TypeError(f"srcad: cannot differentiate a loop over a {type(x).__name__}; loop over a "
                    "list, tuple, array or dict")


def dict_keys(d):
    """The keys of the dict ``d`` as a list (``for k, v in d.items()`` reads ``d[k]``)."""
    if not isinstance(d, dict):
        raise TypeError(f"srcad: .keys()/.values()/.items() of a {type(d).__name__}: srcad follows "
                        "these on dicts only")
    return list(d)


def seq_concat(a, b):
    """``a + b`` where an operand is a list or tuple display: concatenation of two sequences, else
    NumPy's addition (``array + [1.0, 2.0]``), decided by the operands as Python decides."""
    return a + b


def seq_repeat(a, n):
    """``a * n`` where ``a`` is a list or tuple display: repetition for an integer ``n``, else
    NumPy's multiplication."""
    return a * n


def _joins(a, b):
    return _is_seq(a) and _is_seq(b)


def seq_part(g, a, b, first):
    """The adjoint of operand ``a`` (``first``) or ``b`` of ``a + b``: a slice of ``g`` for a
    concatenation, ``unbroadcast`` for NumPy's addition."""
    if _is_zero(g):
        return 0.0
    if not _joins(a, b):
        return unbroadcast(g, a if first else b)
    start = 0 if first else len(a)
    return list(g[start:start + len(a if first else b)])


def _repeats(a, n):
    return _is_seq(a) and isinstance(n, (int, np.integer)) and not isinstance(n, bool)


def seq_fold(g, a, n):
    """The adjoint of ``a`` in ``a * n``: the ``n`` chunks of ``g`` added element-wise for a
    repetition; ``unbroadcast(g * n, a)`` for NumPy's multiplication."""
    if _is_zero(g):
        return 0.0
    if not _repeats(a, n):
        return unbroadcast(g * n, a)
    out = 0.0
    for k in range(0, len(g), len(a) or 1):
        out = add(out, list(g[k:k + len(a)]))
    return out


def seq_times(g, a, n):
    """The adjoint of ``n`` in ``a * n``: none for a repetition (``n`` is an int)."""
    if _is_zero(g) or _repeats(a, n):
        return 0.0
    return unbroadcast(g * (a if is_array(a) else np.asarray(a)), n)


class SeqTangent(list):
    """A list tangent whose ``+`` adds element-wise (the terms of a concatenation's tangent)."""

    __slots__ = ()

    def __add__(self, other):
        if _is_zero(other):
            return self
        return SeqTangent(add(u, v) for u, v in zip(self, other))

    __radd__ = __add__
    __iadd__ = __add__   # ``d += e`` adds too (list's own += would extend)


class DictTangent(dict):
    """A dict adjoint whose ``+`` adds entry by entry (two reads of one dict, differentiated again)."""

    __slots__ = ()

    def __add__(self, other):
        return self if _is_zero(other) else DictTangent(add(dict(self), dict(other)))

    __radd__ = __add__
    __iadd__ = __add__


def _seq_zeros(x):
    return [zeros_like(v) for v in x]


def seq_placed(t, a, b, first):
    """Tangent of ``a + b`` from one operand's tangent ``t``: placed among zeros for the other
    operand for a concatenation (terms add element-wise), ``t`` itself for NumPy's addition."""
    if not _joins(a, b):
        return t
    mine = _seq_zeros(a if first else b) if _is_zero(t) else list(t)
    if first:
        return SeqTangent(mine + _seq_zeros(b))
    return SeqTangent(_seq_zeros(a) + mine)


def seq_part_adjoint(r, g, a, b, first):
    """The transpose of ``seq_part(., a, b, first)``: ``r`` placed among zeros for a concatenation,
    spread to the shape of ``g`` (the adjoint of ``a + b``) for NumPy's addition."""
    if not _joins(a, b):
        return r if _is_zero(r) else broadcast_like(r, g)
    return seq_placed(r, a, b, first)


def seq_repeated(t, a, n):
    """Tangent of ``a * n`` from the tangent ``t`` of ``a``."""
    if not _repeats(a, n):
        return t * n
    return SeqTangent((_seq_zeros(a) if _is_zero(t) else list(t)) * n)


def seq_scaled(t, a, n):
    """Tangent of ``a * n`` from the tangent ``t`` of ``n`` (none for a repetition)."""
    if _repeats(a, n):
        return 0.0
    return (a if is_array(a) else np.asarray(a)) * t


def list_append(lst, v):
    """``lst + [v]``: ``lst.append(v)`` as srcad's reverse mode sees it (a new list, no mutation)."""
    return list(lst) + [v]


def appended(t, lst, v, of_list):
    """Tangent of ``list_append(lst, v)`` from the tangent ``t`` of ``lst`` (``of_list``) or of
    ``v``, among zeros for the other (the two terms add element-wise)."""
    if of_list:
        return SeqTangent((_seq_zeros(lst) if _is_zero(t) else list(t)) + [zeros_like(v)])
    return SeqTangent(_seq_zeros(lst) + [zeros_like(v) if _is_zero(t) else t])


def list_head(d):
    """The adjoint of ``lst`` in ``list_append(lst, v)``: the adjoint of the new list but its last."""
    if _is_zero(d):
        return 0.0
    return list(d[:-1])


_MISSING = object()


def save_item(x, index):
    """The value at ``x[index]`` before it is assigned (a copy), or a marker that it was absent."""
    if isinstance(x, dict) and index not in x:
        return _MISSING
    v = x[index]
    return v.copy() if is_array(v) else v


def restore_item(x, index, old):
    """Undo ``x[index] = ...``: put back the old value, or remove a key that was absent."""
    if old is _MISSING:
        del x[index]
    else:
        x[index] = old


def check_unpack(seq, n, starred=False):
    """What Python checks in ``a, b = seq`` before srcad's ``a = seq[0]; b = seq[1]``: ``seq`` is
    a sequence (a dict unpacks its keys, which indexing does not give) of exactly ``n`` items (at
    least ``n`` for ``a, *rest = seq``)."""
    if not isinstance(seq, (tuple, list, str, range)) and not is_array(seq):
        what = "a dict (its keys)" if isinstance(seq, dict) else f"a {type(seq).__name__}"
        caller = sys._getframe(1)     # the derivative: name the user's line it came from
        place = user_place(caller.f_code.co_filename, caller.f_lineno - 1) or (None, None, None)
        raise TransformError(f"srcad cannot differentiate unpacking {what} into names; unpack "
                             "a list or tuple of it instead (`a, b = list(d)`)", place[0], place[1],
                             construct="tuple unpacking")
    k = len(seq)
    if k > n and not starred:
        raise ValueError(f"too many values to unpack (expected {n})")
    if k < n:
        least = "at least " if starred else ""
        raise ValueError(f"not enough values to unpack (expected {least}{n}, got {k})")


def _is_seq(x):
    return isinstance(x, (tuple, list))


def add_at(dx, x, index, g):
    """``dx`` with ``g`` added at ``x[index]``: the adjoint of reading ``x[index]``.

    ``dx`` is changed in place when it is an array (srcad only passes arrays it owns); 0.0 stands
    for a zero adjoint and is replaced by a fresh array.
    """
    if _is_seq(x) or isinstance(x, dict):
        if isinstance(x, dict):
            out = dict(dx) if isinstance(dx, dict) else {}
            out[index] = add(out.get(index, 0.0), g)
            return out
        out = list(dx) if _is_seq(dx) else [0.0] * len(x)
        if isinstance(index, slice):
            for k, gv in zip(range(*index.indices(len(x))), g):
                out[k] = add(out[k], gv)
        else:
            out[index] = add(out[index], g)
        return out if isinstance(x, list) else tuple(out)
    if not is_array(dx) or dx.shape != _shape(x):
        base = zeros_like(x) if hasattr(x, "shape") else np.zeros(np.shape(x))
        if not _is_zero(dx):
            base = base + dx
        dx = base
    dx = _meet(dx, g)
    if getattr(g, "dtype", None) is not None and g.dtype.kind == "c" and not np.iscomplexobj(dx) or \
            type(g) is complex:
        # a real place's adjoint is the real part (docs/complex.md); dx is the real x's adjoint
        g = np.real(g) if not np.iscomplexobj(x) else g
        if np.iscomplexobj(g):
            dx = dx.astype(np.result_type(dx, g))
    if _fancy(index):
        return scatter_add(dx, index, g)
    if _lazy_mask(index):
        return dx + _place_masked(x if _is_dask(x) else dx, index, g)
    if isinstance(dx, np.ndarray):
        dx[index] += g
        return dx
    index, g = _without_newaxis(index, g)
    dx[index] = dx[index] + g
    return dx


def _lazy_mask(index):
    """Whether ``index`` holds a boolean Dask array: ``x[mask]`` has unknown chunk sizes, which
    ``dx[mask] = dx[mask] + g`` cannot broadcast into."""
    parts = index if isinstance(index, tuple) else (index,)
    return any(_is_dask(p) and p.dtype == bool for p in parts)


def _is_dask(a):
    return type(a).__module__.startswith("dask.") and is_array(a)


def _place_masked(like, index, g):
    """Zeros shaped and chunked like ``like`` (the array read) with ``g`` (the adjoint of
    ``like[index]``) put back where the boolean Dask mask in ``index`` is true: the adjoint of
    ``x[mask]``, built block by block in the graph (nothing computed). Dask's ``x[mask]`` has one
    block of unknown length per block of ``x`` (``x`` and a whole-shape mask raveled, chunks
    unified with the mask's): a ``g`` made from it elementwise has the same blocks, placed one to
    one (each block checks its length when it runs); a ``g`` of other blocks is joined into one
    block first."""
    import dask.array as da

    parts = index if isinstance(index, tuple) else (index,)
    dtype = np.result_type(_float_dtype(like), getattr(g, "dtype", np.float64))
    if not _is_dask(g):
        g = da.from_array(np.asarray(g)) if np.ndim(g) else g
    if len(parts) == 1 and parts[0].ndim == like.ndim and like.ndim > 0:
        # a whole-shape mask: Dask ravels x and the mask (known shapes) and takes blocks of that
        flat = da.zeros_like(like, dtype=bool).ravel() if like.ndim > 1 else da.zeros_like(like, dtype=bool)
        mask = parts[0].ravel() if like.ndim > 1 else parts[0]
        _, (flat, mask) = da.core.unify_chunks(flat, "i", mask, "i")
        if np.ndim(g) == 1 and g.numblocks != mask.numblocks:
            g, mask = _one_block(g), mask.rechunk(-1)
        out = da.blockwise(_put_block, "i", mask, "i", g, "i", dtype=dtype, align_arrays=False,
                           meta=np.empty((0,), dtype))
        out._chunks = mask.chunks          # blockwise may take g's: unknown lengths
        return out.reshape(like.shape).rechunk(like.chunks)
    # a mask along one axis (``x[m]`` of a matrix by rows, ``x[:, m]``), whole slices elsewhere
    axes = [k for k, p in enumerate(parts) if _is_dask(p) and p.dtype == bool]
    if len(axes) != 1 or parts[axes[0]].ndim != 1 or np.ndim(g) != like.ndim or any(
            not (isinstance(p, slice) and p == slice(None)) for k, p in enumerate(parts) if k != axes[0]):
        raise NotImplementedError("srcad: the adjoint of this boolean-mask read of a Dask array (a mask "
                                  "of several axes, or mixed with other indices) is not implemented; "
                                  "compute the mask's chunk sizes first (mask.compute_chunk_sizes())")
    k = axes[0]
    ind = tuple(range(like.ndim))
    tmpl = da.zeros_like(like, dtype=dtype)
    _, (tmpl, mask) = da.core.unify_chunks(tmpl, ind, parts[k], (k,))
    if g.numblocks != tmpl.numblocks:
        g, tmpl, mask = _one_block(g), tmpl.rechunk(-1), mask.rechunk(-1)
    out = da.blockwise(_put_axis, ind, g, ind, tmpl, ind, mask, (k,), axis=k, dtype=dtype,
                       align_arrays=False, meta=np.empty((0,) * like.ndim, dtype))
    out._chunks = tmpl.chunks          # blockwise may take g's: unknown lengths
    return out.rechunk(like.chunks)


def _one_block(g):
    """``g`` (blocks of unknown lengths) as one block, lazily: its blocks joined in one task."""
    import dask
    import dask.array as da

    joined = dask.delayed(np.block)(g.to_delayed().tolist())
    return da.from_delayed(joined, shape=tuple(np.nan for _ in g.shape), dtype=g.dtype)


def _put_block(mask, g):
    _same_count(mask, g, 0)
    out = np.zeros(mask.shape, dtype=np.result_type(g.dtype, 0.0))
    out[mask] = g
    return out


def _put_axis(g, tmpl, mask, axis):
    _same_count(mask, g, axis)
    out = np.zeros(tmpl.shape, dtype=tmpl.dtype)
    out[(slice(None),) * axis + (mask,)] = g
    return out


def _same_count(mask, g, axis):
    if np.ndim(g) and np.shape(g)[axis] != np.count_nonzero(mask):   # never broadcast a wrong block
        raise ValueError(f"srcad: a block of the adjoint of a boolean-mask read has {np.shape(g)[axis]} "
                         f"entries where its mask selects {np.count_nonzero(mask)}: the adjoint's "
                         "blocks do not follow the masked array's")


def _meet(a, b):
    """``a``, moved into ``b``'s library where ``a`` is a NumPy array and ``b`` another library's
    (a NumPy adjoint written into in place would otherwise convert, and compute, a Dask ``b``)."""
    if isinstance(a, np.ndarray) and is_array(b) and not isinstance(b, np.ndarray):
        return np.asarray(a, like=b)
    return a


def scatter_add(a, index, g):
    """``a`` with ``g`` added at ``a[index]``, repeated places counted each time (``np.add.at``).

    A NumPy ``a`` is changed in place; another library's array (which has no ``np.add.at``) gets a
    new array: the flat positions ``index`` selects are summed with ``np.bincount`` in ``a``'s own
    library (the positions are small integers known without computing ``a``)."""
    if isinstance(a, np.ndarray):
        np.add.at(a, index, g)
        return a
    places = np.arange(int(np.prod(a.shape))).reshape(a.shape)[index]
    g = np.ravel(np.broadcast_to(g, places.shape) if is_array(g) else np.broadcast_to(np.asarray(g), places.shape))
    if not is_array(g) or isinstance(g, np.ndarray):
        g = np.asarray(g, like=a)
    # positions laid out like g (a Dask array's bincount wants the weights' chunks)
    at = np.zeros_like(g, dtype=np.intp) + np.asarray(places.ravel(), like=g)
    if np.iscomplexobj(g):
        total = (np.bincount(at, weights=g.real, minlength=a.size)
                 + 1j * np.bincount(at, weights=g.imag, minlength=a.size))
    else:
        total = np.bincount(at, weights=g, minlength=a.size)
    return a + total.reshape(a.shape)


def _without_newaxis(index, g):
    """The index with its ``None`` (new axes) left out and ``g`` reshaped to match: the in-place
    assignment of array libraries other than NumPy (Dask) does not take ``None``."""
    parts = index if isinstance(index, tuple) else (index,)
    if not any(p is None for p in parts):
        return index, g
    kept = tuple(p for p in parts if p is not None)
    if is_array(g):
        g = np.squeeze(g, axis=_new_axes(parts, np.ndim(g)))
    return kept, g


def _new_axes(parts, ndim):
    """The axes that the ``None`` entries of a basic index ``parts`` add to a result of ``ndim``."""
    given = sum(1 for p in parts if p is not Ellipsis and not isinstance(p, (int, np.integer)))
    axes, k = [], 0
    for p in parts:
        if p is Ellipsis:
            k += ndim - given
        elif not isinstance(p, (int, np.integer)):
            if p is None:
                axes.append(k)
            k += 1
    return tuple(axes)


def _is_zero(v):
    return isinstance(v, float) and v == 0.0 and not isinstance(v, np.generic)


def _fancy(index):
    if isinstance(index, tuple):
        return any(_fancy(i) for i in index)
    return isinstance(index, (list, np.ndarray)) and not (
        isinstance(index, np.ndarray) and index.dtype == bool)


def read_at(dx, index, v=None):
    """The adjoint at ``dx[index]`` that flowed into ``x[index] = v``, without changing ``dx``:
    summed down to ``v``'s shape where NumPy broadcast it, and only where its write was kept (a
    repeated index keeps one write per place, issue 11, class 4). The backward sweep then zeroes
    the place with a plain assignment (``dx[index] = 0.0``)."""
    if _is_zero(dx):
        return 0.0
    g = dx[index]
    # a copy in every library: Dask's ``dx[:]`` is ``dx`` itself, which ``dx[index] = 0.0`` changes next
    g = g.copy() if is_array(g) else g
    if _fancy(index) and _size(g) > 1:
        writes = np.arange(_size(g)).reshape(np.shape(g))
        owner = np.full(np.shape(dx), -1)
        owner[index] = writes          # the same assignment NumPy made: the kept write wins
        g = np.where(owner[index] == writes, g, 0.0)
    if v is not None:
        g = unbroadcast(g, v)
    return g


def pop_at(dx, index, v=None):
    """Take the adjoint at ``dx[index]`` out of ``dx``: a copy is returned, the place is zeroed.

    The adjoint of assigning ``x[index] = v``: ``v`` receives what flowed into ``x[index]``, summed
    down to ``v``'s shape where NumPy broadcast it (``y[0] = s`` writes a scalar into a row), and only
    where its write was kept: with a repeated index (``y[[0, 0, 1]] = v``) NumPy keeps one write per
    place, and the others get no adjoint (issue 11, class 4).
    """
    if _is_zero(dx):
        return 0.0
    if isinstance(dx, dict):
        # an entry nothing read later has no adjoint yet
        out = dx.get(index, 0.0)
        if index in dx:
            dx[index] = 0.0
        return out
    if isinstance(dx, list):
        out = dx[index]
        dx[index] = 0.0
        return out
    if isinstance(dx, tuple):
        return dx[index]
    g = dx[index]
    g = g.copy() if is_array(g) else g
    if _fancy(index) and _size(g) > 1:
        writes = np.arange(_size(g)).reshape(np.shape(g))
        owner = np.full(np.shape(dx), -1)
        owner[index] = writes          # the same assignment NumPy made: the kept write wins
        g = np.where(owner[index] == writes, g, 0.0)
    if isinstance(dx, np.ndarray):
        dx[index] = 0
    elif not _fancy(index):
        dx[_without_newaxis(index, None)[0]] = 0
    else:
        # another library's array: zero the places through a NumPy mask (its fancy assignment is
        # partial, Dask's among them)
        keep = np.ones(np.shape(dx), dtype=bool)
        keep[index] = False
        dx[...] = np.where(keep, dx, 0)
    if v is not None:
        g = unbroadcast(g, v)
    return g


def extreme_index(seq, largest, key=None):
    """The index of the item Python's ``max(seq, key=key)`` (``largest``) or ``min`` returns: the
    first one no later item beats (``>``, or ``<`` for min, of the keys), as CPython compares them
    (so NaN too)."""
    keys = list(seq) if key is None else [key(v) for v in seq]
    best = 0
    for k in range(1, len(keys)):
        if (keys[k] > keys[best]) if largest else (keys[k] < keys[best]):
            best = k
    return best


def tuple_get(d, k):
    """Element ``k`` of a container adjoint ``d`` (0.0 when ``d`` is a zero adjoint)."""
    if _is_zero(d):
        return 0.0
    if isinstance(d, dict):
        return d.get(k, 0.0)
    return d[k]


def add(a, b):
    """Sum of two adjoints, where either may be the zero 0.0 or a container of adjoints."""
    if _is_zero(a):
        return b
    if _is_zero(b):
        return a
    if _is_seq(a) and _is_seq(b):
        return type(a)(add(u, v) for u, v in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        out = dict(a)
        for k, v in b.items():
            out[k] = add(out[k], v) if k in out else v
        return out
    return a + b


RUNTIME_NAMES = {
    "Stack": Stack,
    "check_unpack": check_unpack,
    "float_items": float_items,
    "float_list": float_list,
    "unbroadcast": unbroadcast,
    "broadcast_like": broadcast_like,
    "seed": seed,
    "check_output": check_output,
    "zeros_like": zeros_like,
    "grad_like": grad_like,
    "real_like": real_like,
    "as_stored": as_stored,
    "inexact_part": inexact_part,
    "copy_adjoint": copy_adjoint,
    "shape_of": shape_of,
    "contiguous": contiguous,
    "owned_copy": owned_copy,

    "add_at": add_at,
    "pop_at": pop_at,
    "read_at": read_at,
    "tuple_get": tuple_get,
    "extreme_index": extreme_index,
    "add": add,
}


def unreduce(g, x, axis=None, keepdims=False):
    """Spread the adjoint ``g`` of a reduction of ``x`` over ``axis`` back to ``x``'s shape.

    Small results are fresh arrays allocated from ``x`` (cheaper than ``np.broadcast_to``'s fixed
    cost); large ones are broadcast views (no pass over memory).
    """
    if not isinstance(g, (np.ndarray, float, int, np.generic)) and is_array(g):
        # a Dask/CuPy adjoint meets a NumPy value: spread it in its own library (no compute)
        return _spread(g, x if is_array(x) else np.asarray(x, dtype=float), axis) if np.ndim(x) else g
    if not isinstance(x, np.ndarray):
        if np.ndim(x) == 0:
            return g
        if is_array(x):
            return _spread(g, x, axis)
        x = np.asarray(x, dtype=float)
    if axis is not None and 0 < np.ndim(g) < x.ndim:   # a 0-d g (a zero placeholder) broadcasts
        axes = axis if isinstance(axis, tuple) else (axis,)
        axes = {a % x.ndim for a in axes}
        g = np.reshape(g, tuple(1 if k in axes else n for k, n in enumerate(x.shape)))
    if x.size > _VIEW_ABOVE:
        return np.broadcast_to(g, x.shape)   # a read-only view: no pass over a large array
    kind = x.dtype.kind
    out = np.empty_like(x) if kind in "fc" else np.empty_like(x, dtype=np.float64)
    # a complex adjoint of a real value: its real part is the adjoint (docs/complex.md)
    cplx = type(g) is complex or getattr(getattr(g, "dtype", None), "kind", "") == "c"   # cheaper than np.iscomplexobj
    out[...] = np.real(g) if cplx and kind != "c" else g
    return out


# Above this many elements unreduce returns a broadcast view (constant cost) instead of filling a
# fresh array (cheaper for small arrays, where np.broadcast_to's fixed cost dominates).
_VIEW_ABOVE = 16384


def _spread(g, x, axis):
    """``unreduce`` for another library's array ``x``: allocated from ``x`` (``zeros_like`` keeps
    its library, chunks and device, and computes nothing)."""
    if axis is not None and np.ndim(g) < x.ndim:
        axes = axis if isinstance(axis, tuple) else (axis,)
        axes = {a % x.ndim for a in axes}
        g = np.expand_dims(g, tuple(sorted(axes)))
    if np.ndim(g) == 0 and _is_dask(x) and not _is_dask(g) and not any(n != n for n in x.shape):
        # a number over a Dask array: each block a read-only broadcast view (no memory, no pass)
        import dask.array as da
        return da.broadcast_to(np.asarray(g, dtype=np.result_type(_float_dtype(x), g)), x.shape, chunks=x.chunks)
    return np.zeros_like(x, dtype=_float_dtype(x)) + g


def reduce_like(g, x, axis=None, keepdims=False):
    """Sum ``g`` (shaped like ``x``) over ``axis``: the adjoint of ``unreduce``."""
    return np.sum(g, axis=axis, keepdims=keepdims)


def reverse_cumsum(g, axis):
    """Cumulative sums of ``g`` from the end along ``axis`` (the adjoint of ``np.cumsum``). Along a
    Dask axis of unknown length (after a boolean mask), which Dask's ``flip`` cannot index and whose
    ``cumsum`` fails on an empty block before the last, block by block: each block's own sums from
    its end plus the totals of the blocks after it (Dask's ``cumsum`` scheme, from the other end)."""
    if not (_is_dask(g) and any(n != n for n in g.chunks[axis])):
        return np.flip(np.cumsum(np.flip(g, axis), axis=axis), axis)
    import dask.array as da
    axis %= g.ndim
    nb = g.numblocks[axis]
    at = (slice(None),) * axis
    ones = tuple((1,) * nb if k == axis else c for k, c in enumerate(g.chunks))
    totals = g.map_blocks(np.sum, axis=axis, keepdims=True, chunks=ones, dtype=g.dtype)
    later = da.concatenate([totals[at + (slice(1, None),)], np.zeros_like(totals[at + (slice(0, 1),)])], axis=axis)
    after = np.flip(np.cumsum(np.flip(later, axis), axis=axis), axis).rechunk(ones)
    return da.map_blocks(_reverse_cumsum_block, g, after, axis=axis, dtype=g.dtype,
                         chunks=g.chunks)


def _reverse_cumsum_block(b, after, axis):
    return np.flip(np.cumsum(np.flip(b, axis), axis=axis), axis) + after


def count(x, axis=None):
    """How many elements a reduction of ``x`` over ``axis`` combines."""
    shape = _shape(x)
    axes = range(len(shape)) if axis is None else axis if isinstance(axis, tuple) else (axis,)
    sizes = [shape[a] for a in axes]
    if any(n != n for n in sizes):
        # an unknown length (a Dask array after a boolean mask): counted lazily, in x's library
        return np.sum(np.isnan(x) | ~np.isnan(x), axis=axis)
    return int(np.prod(sizes)) if sizes else 1


def matmul_adjoint_a(g, a, b):
    """Adjoint of ``a`` in ``a @ b`` for the output adjoint ``g`` (1-D and batched cases)."""
    if np.ndim(b) == 1:
        if np.ndim(a) == 1:
            return np.multiply(g, b)     # b may be a list (``x @ [1.0, 2.0]``)
        return np.expand_dims(g, -1) * b
    if np.ndim(a) == 1:
        return unbroadcast(np.matmul(b, np.expand_dims(g, -1))[..., 0], a)
    return unbroadcast(np.matmul(g, np.swapaxes(b, -1, -2)), a)


def matmul_adjoint_b(g, a, b):
    """Adjoint of ``b`` in ``a @ b`` for the output adjoint ``g``."""
    if np.ndim(a) == 1:
        if np.ndim(b) == 1:
            return np.multiply(g, a)
        return unbroadcast(np.expand_dims(a, -1) * np.expand_dims(g, -2), b)
    if np.ndim(b) == 1:
        # a stack of matrices times a vector: g is a stack of vectors, one per matrix
        return unbroadcast(np.matmul(np.swapaxes(a, -1, -2), np.expand_dims(g, -1))[..., 0], b)
    return unbroadcast(np.matmul(np.swapaxes(a, -1, -2), g), b)


def dot_adjoint_a(g, a, b):
    """Adjoint of ``a`` in ``np.dot(a, b)``."""
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        return unbroadcast(np.multiply(g, b), a)
    if np.ndim(b) <= 2:
        return matmul_adjoint_a(g, a, b)
    return np.reshape(np.tensordot(g, b, axes=(list(range(np.ndim(a) - 1, np.ndim(g))),
                                                 [i for i in range(np.ndim(b)) if i != np.ndim(b) - 2])),
                      np.shape(a))


def dot_adjoint_b(g, a, b):
    """Adjoint of ``b`` in ``np.dot(a, b)``."""
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        return unbroadcast(np.multiply(g, a), b)
    if np.ndim(b) <= 2:
        return matmul_adjoint_b(g, a, b)
    na = np.ndim(a) - 1
    t = np.tensordot(a, g, axes=(list(range(na)), list(range(na))))
    return np.moveaxis(t, 0, -2)


RUNTIME_NAMES.update(
    unreduce=unreduce, reduce_like=reduce_like, count=count,
    matmul_adjoint_a=matmul_adjoint_a, matmul_adjoint_b=matmul_adjoint_b,
    dot_adjoint_a=dot_adjoint_a, dot_adjoint_b=dot_adjoint_b,
)


def owned_tangent(dt, x):
    """A private, writable tangent of ``x`` shaped like ``x``, made from ``dt`` (0.0 stands for zero).

    Forward mode calls it before ``dx[i] = dv`` when ``dx`` may be shared, read-only or a placeholder.
    """
    if isinstance(x, list):
        return list(dt) if isinstance(dt, (list, tuple)) else zeros_like(x)
    if isinstance(x, dict):
        return dict(dt) if isinstance(dt, dict) else zeros_like(x)
    if is_array(x):
        out = np.zeros_like(x, dtype=_float_dtype(x))
    else:
        out = np.zeros(_shape(x), dtype=_float_dtype(x))
    if not _is_zero(dt):
        out[...] = dt
    return out


RUNTIME_NAMES.update(owned_tangent=owned_tangent)


# ---------------------------------------------------------------- the transposes that the helpers'
# own rules (srcad.rules.runtime_rules) call: each pair below transposes each other, so every order
# of reverse and forward mode closes over this set without srcad reading a helper's source.


def index_adjoint(r, x, index, g):
    """``r[index]`` summed down to ``g``'s shape: the adjoint of ``g`` in ``add_at(dx, x, index, g)``
    (its transpose is ``add_at(0.0, x, index, .)``)."""
    if _is_zero(r):
        return 0.0
    if isinstance(r, dict):
        # an entry nothing read: zeros like g (a rule may need its shape)
        return r[index] if index in r else zeros_like(g)
    if _is_seq(r):
        if isinstance(index, slice):
            return list(r[index])
        return r[index]
    return unbroadcast(r[index], g)


def pop_at_adjoint(r, dx, index, v=None):
    """The transpose of ``pop_at(dx, index, v)``'s result in ``dx``: ``r`` (spread to the indexed
    place) written at ``index`` of a zero like ``dx``, only where ``pop_at`` kept a write."""
    if _is_zero(r):
        return 0.0
    if isinstance(dx, dict):
        return {index: r}
    if _is_seq(dx):
        out = [0.0] * len(dx)
        out[index] = r
        return out if isinstance(dx, list) else tuple(out)
    out = _meet(zeros_like(dx) if getattr(dx, "ndim", 0) > 0 else np.zeros(np.shape(dx)), r)
    place = out[index]
    g = np.broadcast_to(r, np.shape(place))
    if _fancy(index) and _size(place) > 1:
        writes = np.arange(_size(place)).reshape(np.shape(place))
        owner = np.full(np.shape(dx), -1)
        owner[index] = writes
        g = np.where(owner[index] == writes, g, 0.0)
    out[index] = g
    return out


def put_at(r, c, k):
    """``r`` placed at element ``k`` of a zero like the container ``c``: the adjoint of ``c`` in
    ``tuple_get(c, k)`` (its transpose is ``tuple_get``)."""
    if _is_zero(r) or _is_zero(c):
        return 0.0
    out = add_at(0.0, c, k, r)
    # two reads of one container add their adjoints element-wise: ``+`` of plain lists (or tuples)
    # would join them (reverse over reverse of ``np.concatenate([x, x ** 2])``, tests/test_list_rr.py),
    # of dicts raise
    if isinstance(out, dict):
        return DictTangent(out)
    return SeqTangent(out) if isinstance(out, (list, tuple)) else out


def spread_adjoint(r, t):
    """``r`` summed down to the shape of ``t`` (``r`` itself for containers): the adjoint of ``t`` in
    ``owned_tangent(t, x)`` and in ``add(t, u)``; its transpose is ``owned_tangent(., r)``."""
    if _is_zero(r) or _is_seq(r) or isinstance(r, dict):
        return r
    if _is_seq(t) or isinstance(t, dict) or _is_zero(t):
        return r
    return unbroadcast(r, t)


def appended_part(r, lst, v, of_list):
    """The part of the list adjoint ``r`` that ``appended(t, lst, v, of_list)`` placed ``t`` in:
    all but the last element (``of_list``) or the last one (its transpose is ``appended``)."""
    if _is_zero(r):
        return 0.0
    return list_head(r) if of_list else r[-1]


def no_higher_derivative(t, what):
    """The place of a derivative srcad does not give (of third or higher order through ``what``):
    raises instead of returning a wrong or a zero value."""
    raise NotImplementedError(f"srcad: no derivative of {what}: it arises at third or higher order "
                              "(a derivative of a derivative's own helper); differentiate fewer times "
                              "or give the function a rule with @srcad.defvjp/@srcad.defjvp")


def sum_spread(r, g):
    """The transpose of ``sum_adjoint(g, seq)``: the elements' adjoints ``r`` spread to ``g``'s shape
    and added up."""
    if _is_zero(r):
        return 0.0
    total = 0.0
    for v in r:
        if not _is_zero(v):
            total = add(total, broadcast_like(v, g) if _shape(v) != _shape(g) else v)
    return total


RUNTIME_NAMES.update(sum_spread=sum_spread, index_adjoint=index_adjoint, pop_at_adjoint=pop_at_adjoint, put_at=put_at,
                     spread_adjoint=spread_adjoint, appended_part=appended_part)


# helpers that take the 0.0 zero placeholder as their first argument (an adjoint or tangent) and
# give a zero back: the backward sweep passes them a maybe-zero adjoint without making it an array
# first (backward.Backward._takes_placeholder); the rule helper modules add theirs
TAKES_ZERO = {sum_adjoint, loop_seq_adjoint, seq_part, seq_fold, seq_times, seq_part_adjoint, list_head,
              tuple_get, add, owned_tangent, index_adjoint, pop_at_adjoint, put_at, spread_adjoint,
              appended_part, sum_spread, grad_like, real_like, inexact_part}
