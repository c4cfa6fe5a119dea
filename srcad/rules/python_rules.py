"""Rules for Python builtins and srcad's own public helpers."""

import builtins
import logging
import math
import warnings

from srcad.rules.registry import elementwise, forward, nondiff, reverse
from srcad.runtime import add_at, extreme_index, is_training, stop_gradient, sum_adjoint, tuple_get, unbroadcast

_LOG = ("debug", "info", "warning", "error", "critical", "exception", "log")


@elementwise(builtins.float)
def float_(y, x=0.0):
    return d


@reverse(builtins.sum)
def sum_(y, iterable, start=0):
    d[iterable] = sum_adjoint(d[y], iterable)
    d[start] = unbroadcast(d[y], start)


@forward(builtins.sum)
def sum_(y, iterable, start=0):
    d[y] = builtins.sum(d[iterable]) + d[start]


# max(iterable) / min(iterable): the item Python picks (the first of ties) takes the whole adjoint.
# (max(a, b, ...) is written by the front end as the comparisons Python makes.)
@reverse(builtins.max)
def max_(y, iterable, key=None):
    d[iterable] = add_at(0.0, iterable, extreme_index(iterable, True, key), d[y])


@forward(builtins.max)
def max_(y, iterable, key=None):
    d[y] = tuple_get(d[iterable], extreme_index(iterable, True, key))


@reverse(builtins.min)
def min_(y, iterable, key=None):
    d[iterable] = add_at(0.0, iterable, extreme_index(iterable, False, key), d[y])


@forward(builtins.min)
def min_(y, iterable, key=None):
    d[y] = tuple_get(d[iterable], extreme_index(iterable, False, key))


@reverse(math.fsum)
def fsum(y, iterable):
    d[iterable] = sum_adjoint(d[y], iterable)


@forward(math.fsum)
def fsum(y, iterable):
    d[y] = math.fsum(d[iterable])


# calls that only report a value (issue 13): run in the forward sweep, no derivative
nondiff(*(getattr(logging, n) for n in _LOG), *(getattr(logging.Logger, n) for n in _LOG),
        *(getattr(logging.LoggerAdapter, n) for n in _LOG), warnings.warn, why="output only")
nondiff(stop_gradient, why="stop_gradient: the derivative is zero by definition")
nondiff(extreme_index, why="an index")
nondiff(is_training, builtins.len, builtins.range, builtins.int, builtins.bool, builtins.print,
        builtins.isinstance, builtins.round, builtins.str, builtins.type,
        why="not numeric")


# The math module's functions of floats have NumPy's derivatives: share the NumPy templates.
import numpy as np  # noqa: E402

from srcad.rules.registry import FORWARD, REVERSE  # noqa: E402

_MATH = {"sin": np.sin, "cos": np.cos, "tan": np.tan, "exp": np.exp, "log": np.log, "sqrt": np.sqrt,
         "tanh": np.tanh, "sinh": np.sinh, "cosh": np.cosh, "atan": np.arctan, "asin": np.arcsin,
         "acos": np.arccos, "asinh": np.arcsinh, "acosh": np.arccosh, "atanh": np.arctanh,
         "log10": np.log10, "log2": np.log2, "log1p": np.log1p, "expm1": np.expm1, "pow": np.power,
         "fabs": np.absolute, "hypot": np.hypot, "atan2": np.arctan2, "degrees": np.rad2deg,
         "radians": np.deg2rad}
for _name, _ufunc in _MATH.items():
    if _ufunc in REVERSE:
        REVERSE[getattr(math, _name)] = REVERSE[_ufunc]
    if _ufunc in FORWARD:
        FORWARD[getattr(math, _name)] = FORWARD[_ufunc]
nondiff(math.floor, math.ceil, math.trunc, math.isnan, math.isinf, math.isfinite, why="piecewise constant")
# the math functions srcad itself covers (rules users add with defvjp are not listed in the docs)
MATH_KEYS = {getattr(math, n) for n in _MATH} | {math.floor, math.ceil, math.trunc, math.isnan,
                                                 math.isinf, math.isfinite, math.fsum}
