"""A third derivative srcad does not give is refused at the user's line (issue 14).

grad(grad(grad(f))) differentiates srcad's generated gradient of a gradient; where a rule there has
no derivative of its own (``no_higher_derivative``), the TransformError names the line of ``f``
the refused construct came from (followed back through the generated code's ``# line`` links),
not srcad's generated code or srcad's own source.
"""

import numpy as np
import pytest

import srcad

R = np.random.default_rng(3)


def with_prod(x):
    scale = 2.0
    y = np.prod(x, axis=1) ** 2
    return np.sum(y * scale)


def with_det(x):
    y = np.sin(x)
    return np.linalg.det(y)


def with_einsum(x):
    s = np.einsum("ij,jk->", x, x)
    return s


def _line(fn, text):
    import inspect
    lines, start = inspect.getsourcelines(fn)
    return start + next(i for i, line in enumerate(lines) if text in line)


@pytest.mark.parametrize("fn,text,what", [
    (with_prod, "np.prod", "np.prod"), (with_det, "np.linalg.det", "np.linalg.det"),
    (with_einsum, "np.einsum", "np.einsum"),
], ids=["prod", "det", "einsum"])
@pytest.mark.parametrize("third", ["reverse", "hessian", "forward"])
def test_third_order_refusal_names_the_users_line(fn, text, what, third):
    f2 = srcad.grad(srcad.grad(fn))

    def outer(x):
        return np.sum(f2(x) * 1.5)
    x = R.uniform(0.5, 1.5, size=(3, 3))
    with pytest.raises(srcad.TransformError, match=f"no derivative of {what}") as info:
        if third == "reverse":
            srcad.grad(outer)(x)
        elif third == "hessian":
            srcad.hessian(outer)(x)
        else:
            srcad.jvp(outer, (x,), (np.ones_like(x),))
    err = info.value
    assert err.filename == __file__
    assert err.lineno == _line(fn, text)
    assert text in str(err) and "<srcad" not in str(err)
