"""Code srcad cannot differentiate gets a TransformError naming the file, line and construct."""

import math
import os

import numpy as np
import pytest

import srcad

HERE = os.path.abspath(__file__)


def uses_try(x):
    try:
        y = x * 2
    except ValueError:
        y = x
    return y


def uses_with(x):
    with open(HERE) as fh:
        fh.read()
    return x


def uses_generator(x):
    yield x


async def uses_async(x):
    return x


def uses_global_write(x):
    global G
    G = x
    return x


def uses_nonlocal_closure():
    y = 1.0

    def inner(x):
        nonlocal y
        y = x
        return x
    return inner


def uses_comprehension(x):
    return sum([v * 2 for v in x])


def uses_unknown_c_function(x):
    return math.erf(x)


def uses_lambda_inside(x):
    f = lambda v: v * 2  # noqa: E731
    return f(x)


def uses_attribute_store(x):
    x.value = 3
    return x


def uses_undefined_name(x):
    return x * not_defined_anywhere  # noqa: F821


def no_return(x):
    y = x * 2  # noqa: F841


CASES = [
    (uses_try, "try statement"),
    (uses_with, "with statement"),
    (uses_global_write, "global statement"),
    (uses_nonlocal_closure(), "nonlocal statement"),
    (uses_comprehension, "list comprehension"),
    (uses_unknown_c_function, "math.erf"),
    (uses_lambda_inside, "lambda"),
    (uses_attribute_store, "assignment to an attribute"),
    (no_return, "no return statement"),
]


def _line_of(fn, text):
    lines, start = __import__("inspect").getsourcelines(fn)
    for k, line in enumerate(lines):
        if text in line:
            return start + k
    return start


@pytest.mark.parametrize("fn,what", CASES, ids=[c[1] for c in CASES])
def test_refused_construct(fn, what):
    with pytest.raises(srcad.TransformError) as info:
        srcad.grad(fn)(0.5)
    err = info.value
    assert what in str(err)
    assert err.filename == HERE
    assert isinstance(err.lineno, int)
    assert str(err).startswith(f"{HERE}:{err.lineno}:")


def test_error_points_at_the_right_line():
    with pytest.raises(srcad.TransformError) as info:
        srcad.grad(uses_try)(1.0)
    assert info.value.lineno == _line_of(uses_try, "try:")
    with pytest.raises(srcad.TransformError) as info:
        srcad.grad(uses_unknown_c_function)(1.0)
    assert info.value.lineno == _line_of(uses_unknown_c_function, "math.erf")
    assert "defvjp" in str(info.value)


@pytest.mark.parametrize("fn,what", [(uses_generator, "generator"), (uses_async, "async")])
def test_generators_and_async(fn, what):
    with pytest.raises(srcad.TransformError, match=what):
        srcad.grad(fn)(1.0)


def test_error_is_raised_by_source_too():
    with pytest.raises(srcad.TransformError):
        srcad.source(srcad.grad(uses_try))


def test_exec_defined_function_has_no_source():
    ns = {}
    exec("def f(x):\n    return x * 2\n", ns)
    with pytest.raises(srcad.TransformError, match="cannot read the source"):
        srcad.grad(ns["f"])(1.0)


def test_builtin_is_refused():
    with pytest.raises(srcad.TransformError):
        srcad.grad(np.sin)(1.0)


def test_inactive_unknown_call_is_fine():
    def f(x):
        k = math.floor(2.7)        # no differentiated value flows in: just called
        return x * k
    assert srcad.grad(f)(1.0) == 2.0


def test_message_names_the_construct_and_source_text():
    with pytest.raises(srcad.TransformError) as info:
        srcad.grad(uses_comprehension)(np.ones(2))
    assert info.value.construct == "list comprehension"
    assert "[v * 2 for v in x]" in str(info.value)
