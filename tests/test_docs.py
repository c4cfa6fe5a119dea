"""docs/chapter.md: its code runs, and the second-derivative source it shows compiles and is right."""

import os
import re
import runpy

import numpy as np
import pytest

import srcad
from srcad.runtime import RUNTIME_NAMES

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(ROOT, "docs", "chapter.md")


def blocks(text, lang="python"):
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)


@pytest.fixture(scope="module")
def doc():
    with open(DOC) as fh:
        return fh.read()


def test_shown_second_derivative_compiles_and_is_right(doc):
    marker = doc.index("<!-- second-derivative-source -->")
    src = blocks(doc[marker:])[0]
    assert src.startswith("def grad_grad_f(x, *, dout=1.0, dout_1=1.0):")
    ns = dict(RUNTIME_NAMES, np=np)
    exec(compile(src, "<docs/chapter.md>", "exec"), ns)
    for x in (0.5, -1.2, 2.0):
        assert ns["grad_grad_f"](x) == pytest.approx(2 * np.cos(x) - x * np.sin(x), rel=1e-12)


def x_sin(x):
    return x * np.sin(x)


def test_current_second_derivative_source_compiles():
    d2 = srcad.grad(srcad.grad(x_sin))
    src = srcad.source(d2)
    ns = dict(RUNTIME_NAMES, np=np)
    exec(compile(src, "<srcad.source>", "exec"), ns)
    fn = ns["grad_grad_x_sin"]
    assert fn(0.5) == pytest.approx(2 * np.cos(0.5) - 0.5 * np.sin(0.5), rel=1e-12)
    assert fn(0.5) == d2(0.5)


def test_doc_examples_run(doc, tmp_path):
    """Run the doc's user-facing code blocks (not the generated sources) as one script."""
    user_code = [b for b in blocks(doc) if not b.startswith("def grad_")]
    script = ["import numpy as np", "import srcad",
              "w = np.array([0.3, -0.2, 0.5, 1.0])", "rng = np.random.default_rng(0)"]
    script += user_code
    path = tmp_path / "chapter_doc.py"
    path.write_text("\n".join(script))
    ns = runpy.run_path(str(path))
    x = ns["x"]
    assert np.allclose(ns["dfdx"], np.cos(x))          # the last x: the sin exercise grid
    jac = ns["jac"]                                     # exercise 3: k * I with k > 0
    assert jac[0, 0] > 0 and np.allclose(jac, jac[0, 0] * np.eye(4))
    assert ns["d1"](1.3) == pytest.approx(4 * 1.3 ** 3)
    assert ns["d3"](1.3) == pytest.approx(24 * 1.3)
    assert ns["newton_sqrt"](2.0) == pytest.approx(np.sqrt(2.0))


def test_doc_states_the_measured_ratio(doc):
    # exercise 1's table: the second derivative costs more in both time and lines
    found = re.findall(r"\| `(grad\(wavy\)|grad\(grad\(wavy\)\))` \| ([\d.]+) us \| (\d+) \|", doc)
    rows = {name: (t, n) for name, t, n in found}
    t1, n1 = map(float, rows["grad(wavy)"])
    t2, n2 = map(float, rows["grad(grad(wavy))"])
    assert t2 > t1 and n2 > n1
    import sys
    sys.path.insert(0, os.path.join(ROOT, "examples"))
    try:
        import autograd_tour
    finally:
        sys.path.pop(0)
    d1 = srcad.grad(autograd_tour.wavy)
    d2 = srcad.grad(d1)
    assert len(srcad.source(d2).splitlines()) > len(srcad.source(d1).splitlines())
