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


# ------------------------------------------------------------------------------------------------
# issue 13: refusals in other modules and libraries name the user's call; typos; spread values

LIB = '''
import numpy as np


def deep(v):
    try:
        return np.sin(v)
    except ValueError:
        return v


def mid(v):
    return deep(v) * 2.0


def typo(v):
    return np.exq(v)
'''

USER = '''
import numpy as np
import {lib} as lib


def through_library(x):
    h = x * 2.0
    return np.sum(lib.mid(h))


def typo_in_helper(x):
    return np.sum(lib.typo(x))
'''


@pytest.fixture
def modules(tmp_path, monkeypatch):
    """A user module calling a helper module that lives in a site-packages folder (a library)."""
    import importlib
    import sys
    site = tmp_path / "site-packages"
    site.mkdir()
    (site / "fakelib13.py").write_text(LIB)
    (tmp_path / "user13.py").write_text(USER.format(lib="fakelib13"))
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    for name in ("fakelib13", "user13"):
        sys.modules.pop(name, None)
    yield importlib.import_module("user13"), importlib.import_module("fakelib13")
    for name in ("fakelib13", "user13"):
        sys.modules.pop(name, None)


def _run(mode, f):
    x = np.array([0.3, 0.5])
    return srcad.grad(f)(x) if mode == "grad" else srcad.jvp(f)(x, np.ones(2))


@pytest.mark.parametrize("mode", ["grad", "jvp"])
def test_refusal_in_a_library_names_its_line_the_users_call_and_defvjp(modules, mode):
    user, lib = modules
    with pytest.raises(srcad.TransformError) as info:
        _run(mode, user.through_library)
    err, msg = info.value, str(info.value)
    assert err.filename == lib.__file__ and err.lineno == _line_of(lib.deep, "try:")
    assert f"deep is called at line {_line_of(lib.mid, 'deep(v)')}" in msg
    assert f"mid is called at {user.__file__}:{_line_of(user.through_library, 'lib.mid')}" in msg
    assert msg.index("deep is called") < msg.index("mid is called")
    assert "@srcad.defvjp" in msg and f"{lib.__name__}.mid" in msg   # the call the user made


@pytest.mark.parametrize("mode", ["grad", "jvp"])
def test_typo_in_a_helper_of_another_module_names_the_helpers_file_and_line(modules, mode):
    user, lib = modules
    with pytest.raises(srcad.TransformError) as info:
        _run(mode, user.typo_in_helper)
    err = info.value
    assert err.filename == lib.__file__ and err.lineno == _line_of(lib.typo, "np.exq")
    assert "exq" in str(err) and "`return np.exq(v)`" in str(err)
    assert f"typo is called at {user.__file__}:{_line_of(user.typo_in_helper, 'lib.typo')}" in str(err)


def _pair_product(a, b):
    return a * b


def spread_into_helper(x):
    d = {"a": (x, 2.0)}
    return np.sum(_pair_product(*d["a"]))


@pytest.mark.parametrize("mode", ["grad", "jvp"])
def test_differentiated_value_spread_with_star_is_refused_not_zero(mode):
    """It was given a zero derivative, silently: a kept call's ``*args`` hid the activity."""
    with pytest.raises(srcad.TransformError) as info:
        _run(mode, spread_into_helper)
    assert info.value.construct == "starred argument (*args)"
    assert info.value.lineno == _line_of(spread_into_helper, "_pair_product(*")


def _dict_in_loop(x):
    d = {k: x * k for k in range(3)}
    return np.sum(d[2] - d[1] ** 2)


def _dict_written_twice(x):
    d = {}
    for k in range(2):
        d["a"] = np.sin(x) * k
    return np.sum(d["a"] ** 2)


@pytest.mark.parametrize("fn", [_dict_in_loop, _dict_written_twice])
def test_second_order_refusal_names_the_users_line(fn):
    """A refusal raised while srcad differentiates its own derivative (Hessians) names the user's
    file and line, never the generated code's pseudo-file; where it is not refused it is exact."""
    x = np.array([0.3, 0.4])
    try:
        H = srcad.hessian(fn)(x)
    except srcad.TransformError as e:
        assert e.filename == __file__, str(e)
        lines = [i for i, text in enumerate(open(__file__).read().splitlines(), 1)
                 if fn.__name__ in text and text.startswith("def")]
        assert lines[0] < e.lineno <= lines[0] + 4, str(e)
        assert str(e).startswith(f"{__file__}:{e.lineno}: ")
        assert "<srcad" not in str(e).split(": ")[0]
    else:
        g = srcad.grad(fn)
        eps = 1e-6
        num = np.array([(g(x + eps * e) - g(x - eps * e)) / (2 * eps) for e in np.eye(2)])
        np.testing.assert_allclose(H, num, rtol=1e-5, atol=1e-7)
