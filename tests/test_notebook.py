"""Notebooks (IPython cells) have source srcad can read; the plain ``python`` prompt does not."""

import inspect
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from chapter_function import chapter_f
from refused_corpus import try_statement

IPython = pytest.importorskip("IPython")

# Functions from the shared test modules as text typed into a cell: srcad must read them from the
# cell, not from their files.
CHAPTER_F_SOURCE = inspect.getsource(chapter_f)
TRY_STATEMENT_SOURCE = inspect.getsource(try_statement)


@pytest.fixture(scope="module")
def shell():
    from IPython.core.interactiveshell import InteractiveShell
    sh = InteractiveShell.instance()
    sh.run_cell("import numpy as np\nimport srcad", store_history=True)
    yield sh


def cell(sh, code):
    result = sh.run_cell(textwrap.dedent(code), store_history=True)
    if not result.success:
        raise result.error_in_exec or result.error_before_exec
    return sh.user_ns


def test_function_defined_in_a_cell_is_differentiated(shell):
    cell(shell, """
        def f(x):
            y = x
            for i in range(3):
                y = y * np.sin(x)
            return y
        """)
    ns = cell(shell, "g = srcad.grad(f)(0.7)\nsrc = srcad.source(srcad.grad(f))")
    x = 0.7
    # f(x) = x * sin(x)^3: f'(x) = sin^3 + 3 x sin^2 cos
    assert ns["g"] == pytest.approx(np.sin(x) ** 3 + 3 * x * np.sin(x) ** 2 * np.cos(x))
    assert ns["src"].startswith("def grad_f(x, *, dout=1.0):")   # the seed is dout, whatever f returns


def test_cell_functions_match_closed_forms_and_second_order(shell):
    cell(shell, CHAPTER_F_SOURCE + "\n\ndef cube(x):\n    return x ** 3\n")
    assert shell.user_ns["chapter_f"].__code__.co_filename != chapter_f.__code__.co_filename
    ns = cell(shell, """
        a = np.float64(-0.37)
        ratio = srcad.grad(chapter_f)(a) - chapter_f(a) / a
        d2 = srcad.grad(srcad.grad(cube))(1.5)
        lam = srcad.grad(lambda x: x * np.cos(x))(0.5)
        """)
    assert ns["ratio"] == pytest.approx(0.0, abs=1e-9)
    assert ns["d2"] == pytest.approx(9.0)
    assert ns["lam"] == pytest.approx(np.cos(0.5) - 0.5 * np.sin(0.5))


def test_redefining_a_function_in_a_later_cell_takes_effect(shell):
    cell(shell, "def h(x):\n    return x * x\n")
    first = cell(shell, "r1 = srcad.grad(h)(3.0)")["r1"]
    cell(shell, "def h(x):\n    return x * x * x\n")
    second = cell(shell, "r2 = srcad.grad(h)(3.0)")["r2"]
    assert (first, second) == (6.0, 27.0)


def test_transform_error_in_a_cell_names_the_cell_and_line(shell):
    cell(shell, TRY_STATEMENT_SOURCE)
    ns = cell(shell, """
        try:
            srcad.grad(try_statement)(1.0)
            err = None
        except srcad.TransformError as e:
            err = e
        """)
    err = ns["err"]
    assert err is not None
    import linecache
    assert linecache.getline(err.filename, err.lineno).strip() == "try:"   # the cell's own line
    assert "try" in str(err)
    assert err.filename and ("ipython-input" in err.filename or "ipykernel" in err.filename)


PLAIN = "import srcad\ndef f(x):\n    return x * x\n\n" \
        "try:\n    srcad.grad(f)(1.0)\nexcept srcad.TransformError as e:\n    print('ERR:', e)\n\n"


def test_plain_python_prompt_explains_there_is_no_source():
    proc = subprocess.run([sys.executable, "-i", "-q"], input=PLAIN, capture_output=True, text=True,
                          timeout=120)
    out = proc.stdout + proc.stderr
    assert "ERR:" in out
    line = out[out.index("ERR:"):].splitlines()[0]
    assert "<stdin>" in line and "cannot read the source of f" in line
    assert "plain Python prompt" in line and "file" in line and "Jupyter/IPython cell" in line


def test_exec_code_explains_there_is_no_source():
    code = ("import srcad\nexec('def f(x):\\n    return x * x\\n')\n"
            "try:\n    srcad.grad(f)(1.0)\nexcept srcad.TransformError as e:\n"
            "    print('ERR:', e.filename, e.construct, e)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ERR: <string> source")
    assert "define it in a file or a Jupyter/IPython cell" in proc.stdout


def test_typo_in_a_helper_of_an_earlier_cell_names_that_cell_and_line(shell):
    cell(shell, """
        def typo_helper(v):
            w = v * 2.0
            return np.exq(w)
        """)
    ns = cell(shell, """
        def uses_typo(x):
            return np.sum(typo_helper(x))

        try:
            srcad.grad(uses_typo)(np.ones(2))
            err = None
        except srcad.TransformError as e:
            err = e
        """)
    err = ns["err"]
    import linecache
    assert err is not None and "exq" in str(err)
    assert linecache.getline(err.filename, err.lineno).strip() == "return np.exq(w)"   # the helper's cell
    assert err.filename == ns["typo_helper"].__code__.co_filename
    assert "typo_helper is called at" in str(err) and "return np.sum(typo_helper(x))" in str(err)


def test_object_of_a_class_typed_in_a_cell_is_followed(shell):
    ns = cell(shell, """
        class Scaler:
            def __init__(self, w):
                self.w = w

            def __call__(self, v):
                return np.sin(v) * self.w

        def loss_obj(x):
            s = Scaler(x[0])
            return np.sum(s(x))

        g_obj = srcad.grad(loss_obj)(np.array([0.3, 0.7]))
        """)
    x = np.array([0.3, 0.7])
    want = np.cos(x) * x[0]
    want[0] += np.sum(np.sin(x))
    np.testing.assert_allclose(ns["g_obj"], want)
