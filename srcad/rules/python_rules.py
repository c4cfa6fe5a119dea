"""Rules for Python builtins and srcad's own public helpers."""

import builtins

from srcad.rules.registry import forward, nondiff, reverse
from srcad.runtime import is_training, stop_gradient


@reverse(builtins.float)
def float_(y, x=0.0):
    d[x] = d[y]


@forward(builtins.float)
def float_(y, x=0.0):
    d[y] = d[x]


nondiff(stop_gradient, why="stop_gradient: the derivative is zero by definition")
nondiff(is_training, builtins.len, builtins.range, builtins.int, builtins.bool, builtins.print,
        builtins.isinstance, builtins.round, builtins.str, builtins.type, builtins.enumerate,
        why="not numeric")
