"""The control-flow function of the autograd chapter, shared by the tests that differentiate it.

The loop doubles ``b`` until its norm passes 1000 and the branch may scale it by 100: how many
trips and which branch depend on ``a``, yet ``f(a) = k * a`` with one constant ``k``, so the
gradient of ``sum(f(a))`` is ``f(a) / a``. srcad reads a function's source through its code
object, so it differentiates ``chapter_f`` from this file wherever it is imported.
tests/test_notebook.py puts this function's source text into an IPython cell.
"""

import numpy as np


def chapter_f(a):
    b = a * 2
    while np.linalg.norm(b) < 1000:
        b = b * 2
    if b.sum() > 0:
        c = b
    else:
        c = 100 * b
    return c
