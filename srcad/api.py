"""The public API: grad, value_and_grad, vjp, source, check_grad."""

import functools
import numbers

import numpy as np

from srcad import pipeline
from srcad.errors import TransformError
from srcad.runtime import _training


def _wrt_tuple(wrt):
    if isinstance(wrt, bool) or not isinstance(wrt, (int, tuple, list)):
        raise TypeError(f"wrt must be an int or a tuple of ints, not {wrt!r}")
    if isinstance(wrt, int):
        return (wrt,), False
    if not wrt or not all(isinstance(w, int) and not isinstance(w, bool) for w in wrt):
        raise TypeError(f"wrt must be an int or a non-empty tuple of ints, not {wrt!r}")
    return tuple(wrt), True


def _check_input(x, position, fname):
    """Differentiated inputs must be real floating point (ints are cast; others refused)."""
    if isinstance(x, bool) or (isinstance(x, np.ndarray) and x.dtype == bool):
        raise TypeError(f"{fname}: argument {position} is boolean; srcad differentiates real "
                        "floating-point inputs only")
    if isinstance(x, (float, np.floating)):
        return x
    if isinstance(x, numbers.Integral):
        return float(x)
    if isinstance(x, np.ndarray):
        if x.dtype.kind == "f":
            return x
        if x.dtype.kind in "iu":
            return x.astype(np.float64)
        if x.dtype.kind == "c" or x.dtype.kind == "O":
            kind = "complex" if x.dtype.kind == "c" else "object"
            raise TypeError(f"{fname}: argument {position} is a {kind} array; srcad differentiates "
                            "real floating-point inputs only")
        raise TypeError(f"{fname}: argument {position} has dtype {x.dtype}; expected floating point")
    if isinstance(x, (complex, np.complexfloating)):
        raise TypeError(f"{fname}: argument {position} is complex; srcad differentiates real "
                        "floating-point inputs only")
    if isinstance(x, (list, tuple)):
        return type(x)(_check_input(v, position, fname) for v in x)
    if isinstance(x, dict):
        return {k: _check_input(v, position, fname) for k, v in x.items()}
    if hasattr(x, "shape") and hasattr(x, "dtype"):
        return x  # another array library (CuPy, Dask): passed through
    raise TypeError(f"{fname}: argument {position} is {type(x).__name__}, not a number or array")


def _own(g, args):
    """Gradients handed to users are writable and never alias their inputs."""
    if isinstance(g, np.ndarray):
        if not g.flags.writeable or any(isinstance(a, np.ndarray) and np.may_share_memory(g, a)
                                        for a in args):
            return np.array(g)
        return g
    if isinstance(g, (list, tuple)):
        return type(g)(_own(v, args) for v in g)
    if isinstance(g, dict):
        return {k: _own(v, args) for k, v in g.items()}
    return g


def _rank(a):
    if isinstance(a, (float, int, np.generic)) and not isinstance(a, bool):
        return 0
    if isinstance(a, np.ndarray):
        return a.ndim
    return None


def _unwrap(fun):
    inner = getattr(fun, "__srcad_function__", None)
    return inner() if inner is not None else fun


class _Transformed:
    """Shared machinery of the derivative callables: lazy building, input checks, training flag."""

    mode = "grad"

    def __init__(self, fun, wrt=0):
        if not callable(fun):
            raise TypeError(f"srcad needs a function, got {fun!r}")
        functools.update_wrapper(self, fun, updated=())
        self.fun = fun
        self.wrt, self.tuple_out = _wrt_tuple(wrt)
        self.__name__ = f"{self.mode}_{getattr(fun, '__name__', 'f')}"

    @property
    def derivative(self):
        """The generic derivative (no assumption on argument shapes): what ``source`` shows."""
        return pipeline.reverse_derivative(_unwrap(self.fun), self.wrt, self.mode)

    def specialized(self, args):
        """The derivative specialised to the ranks (ndim) of these arguments.

        Knowing which arguments are scalars lets srcad drop shape bookkeeping (``unbroadcast``)
        wherever every operand is a scalar; one variant is cached per combination of ranks.
        """
        return pipeline.reverse_derivative(_unwrap(self.fun), self.wrt, self.mode,
                                           ranks=tuple(_rank(a) for a in args))

    def __srcad_function__(self):
        """The generated function behind this derivative (so srcad can differentiate it again)."""
        return self.derivative.fn

    def _prepare(self, args):
        args = list(args)
        for i in self.wrt:
            if i >= len(args):
                raise TypeError(f"{self.__name__}: wrt={i} but only {len(args)} positional "
                                "arguments were given")
            args[i] = _check_input(args[i], i, self.__name__)
        return self.specialized(args), args

    def _run(self, fn, args, kwargs):
        token = _training.set(True)
        try:
            return fn(*args, **kwargs)
        finally:
            _training.reset(token)


class grad(_Transformed):
    """The gradient of ``fun`` w.r.t. positional argument(s) ``wrt``.

    ``srcad.grad(f)(x)``; also a decorator: ``@srcad.grad`` or ``@srcad.grad(wrt=(0, 1))``.
    A non-scalar output is differentiated as its sum. Keyword arguments pass through.
    """

    mode = "grad"

    def __new__(cls, fun=None, wrt=0):
        if fun is None:
            return functools.partial(cls, wrt=wrt)
        return super().__new__(cls)

    def __init__(self, fun=None, wrt=0):
        super().__init__(fun, wrt)
        self.__name__ = f"grad_{getattr(fun, '__name__', 'f')}"

    def __call__(self, *args, **kwargs):
        d, args = self._prepare(args)
        return _own(self._run(d.fn, args, kwargs), args)


class value_and_grad(grad):
    """``(f(*args), grad(f)(*args))`` in one pass."""

    mode = "value_and_grad"

    def __init__(self, fun=None, wrt=0):
        super().__init__(fun, wrt)
        self.__name__ = f"value_and_grad_{getattr(fun, '__name__', 'f')}"

    def __call__(self, *args, **kwargs):
        d, args = self._prepare(args)
        value, g = self._run(d.fn, args, kwargs)
        return value, _own(g, args)


class vjp(_Transformed):
    """``vjp(f, wrt)(*args)`` -> ``(value, pullback)``; ``pullback(dy)`` gives the gradient(s)."""

    mode = "grad"

    def __call__(self, *args, **kwargs):
        d, args = self._prepare(args)
        token = _training.set(True)
        try:
            value = self.fun(*args, **kwargs)
        finally:
            _training.reset(token)

        def pullback(dy):
            _check_cotangent(dy, value)
            kw = dict(kwargs)
            kw[d.seed] = dy
            return _own(self._run(d.fn, args, kw), args + [dy])
        return value, pullback


def _check_cotangent(dy, value):
    vshape, dshape = np.shape(value), np.shape(dy)
    if isinstance(value, (tuple, list)):
        if not isinstance(dy, (tuple, list)) or len(dy) != len(value):
            raise ValueError(f"cotangent must be a {type(value).__name__} of {len(value)} items")
        for a, b in zip(dy, value):
            _check_cotangent(a, b)
        return
    if dshape != vshape:
        raise ValueError(f"cotangent has shape {dshape} but the function's output has shape {vshape}")


def source(df, *args):
    """The generated Python source behind a derivative function made by srcad.

    With example arguments, the variant srcad runs for arguments of those ranks.
    """
    if isinstance(df, _Transformed):
        return df.specialized(args).source if args else df.derivative.source
    from srcad.parse import GENERATED
    if df in GENERATED:
        return GENERATED[df][0]
    raise TypeError(f"{df!r} is not a derivative made by srcad")
