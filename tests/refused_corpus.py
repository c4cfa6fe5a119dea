"""Small functions srcad refuses (one per construct), rendered into docs/reliability.md by
tests/test_bad_inputs.py::test_rejection_table_matches_docs; tests/test_errors.py checks the file,
line and construct each error names."""

import math

import numpy as np


def try_statement(x):
    try:
        y = x * 2
    except ValueError:
        y = x
    return y


def with_statement(x):
    with open(__file__) as fh:
        fh.read()
    return x


def generator(x):
    yield x


async def async_function(x):
    return x


def global_write(x):
    global G
    G = x
    return x


def _make_nonlocal():
    y = 1.0

    def nonlocal_write(x):
        nonlocal y
        y = x
        return x
    return nonlocal_write


nonlocal_write = _make_nonlocal()


def returned_closure(x):
    def scale(v):
        return v * 2
    return scale


def unknown_c_function(x):
    return math.erf(x)


def lambda_passed_on(x):
    return np.sum(np.apply_along_axis(lambda v: v * 2, 0, x))


def attribute_store(x):
    x.value = 3
    return x


def no_return(x):
    y = x * 2  # noqa: F841


def aliased_inplace_update(x):
    y = x[1:]
    y += 1.0
    return np.sum(x * y[0])


def _writes_into_param(a):
    a[0] = 1.0
    return np.sum(a)


def helper_writes_into_parameter(x):
    tail = x[1:]
    return _writes_into_param(tail) + np.sum(x)


CORPUS = [try_statement, with_statement, generator, async_function, global_write, nonlocal_write,
          returned_closure, unknown_c_function, lambda_passed_on, attribute_store, no_return,
          aliased_inplace_update, helper_writes_into_parameter]
