"""Code srcad cannot differentiate gets a TransformError naming the file, line and construct."""

import math
import os

import numpy as np
import pytest

import refused_corpus as rc
import srcad

HERE = os.path.abspath(rc.__file__)   # where the refused functions are defined

CASES = [
    (rc.try_statement, "try statement"),
    (rc.with_statement, "with statement"),
    (rc.global_write, "global statement"),
    (rc.nonlocal_write, "nonlocal statement"),
    (rc.returned_closure, "nested function used as a value"),
    (rc.unknown_c_function, "math.erf"),
    (rc.lambda_passed_on, "lambda"),
    (rc.attribute_store, "assignment to an attribute"),
    (rc.no_return, "no return statement"),
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
        srcad.grad(rc.try_statement)(1.0)
    assert info.value.lineno == _line_of(rc.try_statement, "try:")
    with pytest.raises(srcad.TransformError) as info:
        srcad.grad(rc.unknown_c_function)(1.0)
    assert info.value.lineno == _line_of(rc.unknown_c_function, "math.erf")
    assert "defvjp" in str(info.value)


@pytest.mark.parametrize("fn,what", [(rc.generator, "generator"), (rc.async_function, "async")])
def test_generators_and_async(fn, what):
    with pytest.raises(srcad.TransformError, match=what):
        srcad.grad(fn)(1.0)


def test_error_is_raised_by_source_too():
    with pytest.raises(srcad.TransformError):
        srcad.source(srcad.grad(rc.try_statement))


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
        srcad.grad(rc.returned_closure)(np.ones(2))
    assert info.value.construct == "nested function used as a value"
    assert "return scale" in str(info.value)
