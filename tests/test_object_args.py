"""Objects of the user's classes passed to the differentiated function (issue 13): a bound method
``grad(model.loss)`` and an argument ``loss(x, model)``. The derivative is specialised on the
argument's class (``inline.ObjectArg``): its methods are inlined with ``self`` the argument, its
attributes read from it at the start, every call (a new object of the class reuses the code)."""

import dataclasses

import numpy as np
import pytest

import srcad


class Dense:
    def __init__(self, W, b):
        self.W = W
        self.b = b

    def forward(self, x):
        return np.tanh(x @ self.W + self.b)

    def loss(self, x):
        return np.sum(self.forward(x) ** 2) + self.penalty()

    def penalty(self):
        return 0.1 * np.sum(self.W * self.W)


class Scaled(Dense):
    scale = 2.0

    def forward(self, x):
        return super().forward(x) * self.scale


@dataclasses.dataclass
class Params:
    a: float
    w: np.ndarray

    def __call__(self, x):
        return self.a * np.sin(x * self.w)


class Counter:
    def __init__(self):
        self.n = 0.0

    def bump(self, x):
        self.n = self.n + 1.0
        return x * self.n


def loss_with(x, model):
    return np.sum(model.forward(x) ** 2)


def loss_call(x, p):
    return np.sum(p(x) ** 2)


def loss_counter(x, c):
    return np.sum(c.bump(x))


R = np.random.default_rng(3)
X = R.normal(size=3)
D = Dense(R.normal(size=(3, 2)) * 0.5, R.normal(size=2) * 0.1)
S = Scaled(R.normal(size=(3, 2)) * 0.5, R.normal(size=2) * 0.1)
P = Params(0.7, R.normal(size=3))


@pytest.mark.parametrize("fn,args", [
    (D.loss, (X,)), (S.loss, (X,)), (loss_with, (X, D)), (loss_with, (X, S)), (loss_call, (X, P)),
], ids=["bound", "bound-subclass", "argument", "argument-subclass", "dataclass-call"])
def test_methods_of_objects_passed_in(fn, args):
    srcad.check_grad(fn, *args)
    t = R.normal(size=3)
    _, tangent = srcad.jvp(fn, args, (t,) + tuple(None for _ in args[1:])) if len(args) > 1 else \
        srcad.jvp(fn, args, (t,))
    num = (fn(X + 1e-6 * t, *args[1:]) - fn(X - 1e-6 * t, *args[1:])) / 2e-6
    assert tangent == pytest.approx(num, rel=1e-6, abs=1e-9)
    H = srcad.hessian(fn)(*args)
    g = srcad.grad(fn)
    Hn = np.array([(g(X + 1e-5 * e, *args[1:]) - g(X - 1e-5 * e, *args[1:])) / 2e-5 for e in np.eye(3)])
    np.testing.assert_allclose(H, Hn, rtol=1e-5, atol=1e-7)


def test_a_new_object_of_the_class_is_read_afresh():
    g = srcad.grad(loss_with)
    other = Dense(D.W * 2.0, D.b)
    np.testing.assert_allclose(g(X, other), srcad.grad(lambda x: np.sum(other.forward(x) ** 2))(X))
    assert not np.allclose(g(X, other), g(X, D))


def test_source_reads_the_attributes_at_the_start():
    src = srcad.source(srcad.grad(loss_with), X, D)
    assert "model_W = model.W" in src and "# inlined: forward" in src


def test_writing_an_attribute_of_an_argument_is_refused():
    with pytest.raises(srcad.TransformError, match="attribute n of the argument c"):
        srcad.grad(loss_counter)(X, Counter())
