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


class Stack2:
    """Objects held in attributes of an argument (``self.first``), called and asked for methods."""

    def __init__(self, first, second):
        self.first = first
        self.second = second

    def forward(self, x):
        return self.second(self.first.forward(x) * 1.5)


class Outer:
    def __init__(self, inner):
        self.inner = inner
        self.c = 0.3

    def loss(self, x):
        return np.sum(self.inner.forward(x) ** 2) + self.c * np.sum(x ** 2)


class Twice:
    def __call__(self, x):
        return 2.0 * x


def loss_stack(x, model):
    return np.sum(model.forward(x) ** 2)


def loss_mutates_inner(x, model):
    model.first.W = model.first.W * 2.0
    return np.sum(model.forward(x))


R = np.random.default_rng(3)
X = R.normal(size=3)
D = Dense(R.normal(size=(3, 2)) * 0.5, R.normal(size=2) * 0.1)
S = Scaled(R.normal(size=(3, 2)) * 0.5, R.normal(size=2) * 0.1)
P = Params(0.7, R.normal(size=3))
P2 = Params(0.7, R.normal(size=2))
ST = Stack2(D, P2)
NEST = Outer(Stack2(S, P2))


@pytest.mark.parametrize("fn,args", [
    (D.loss, (X,)), (S.loss, (X,)), (loss_with, (X, D)), (loss_with, (X, S)), (loss_call, (X, P)),
    (loss_stack, (X, ST)), (NEST.loss, (X,)),
], ids=["bound", "bound-subclass", "argument", "argument-subclass", "dataclass-call",
        "held-objects", "held-two-deep"])
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


def test_an_object_held_in_an_argument_is_rebound():
    # the derivative is specialised on the held objects' classes: another class, another derivative
    g = srcad.grad(loss_stack)
    model = Stack2(D, P2)
    first = g(X, model)
    model.second = Twice()
    np.testing.assert_allclose(g(X, model), srcad.grad(lambda x: np.sum(model.forward(x) ** 2))(X))
    assert not np.allclose(g(X, model), first)
    srcad.check_grad(loss_stack, X, model)


def test_source_reads_held_objects_at_the_start():
    src = srcad.source(srcad.grad(loss_stack), X, ST)
    assert "model_first = model.first" in src and "model_first_W = model_first.W" in src


def test_writing_an_attribute_of_a_held_object_is_refused():
    with pytest.raises(srcad.TransformError, match="attribute"):
        srcad.grad(loss_mutates_inner)(X, Stack2(Dense(D.W.copy(), D.b), P2))


GLOBAL_MODEL = Outer(Stack2(D, P2))


def loss_of_global(x):
    return GLOBAL_MODEL.loss(x)


def test_held_objects_of_a_global_and_a_closure():
    # ``self.inner.forward(x)`` of a module-level object: the normalizer's ``inner_1 = self.inner``
    # is followed to the object it holds (it was refused: "no derivative rule for method .forward()")
    srcad.check_grad(loss_of_global, X)
    model = Stack2(S, P2)
    srcad.check_grad(lambda x: np.sum(model.forward(x) ** 2), X)
    H = srcad.hessian(loss_of_global)(X)
    g = srcad.grad(loss_of_global)
    Hn = np.array([(g(X + 1e-5 * e) - g(X - 1e-5 * e)) / 2e-5 for e in np.eye(3)])
    np.testing.assert_allclose(H, Hn, rtol=1e-5, atol=1e-7)


class Sequential:
    """A list of layer objects in an attribute, looped over and indexed."""

    def __init__(self, layers):
        self.layers = layers
        self.scale = 0.5

    def forward(self, x):
        for layer in self.layers:
            x = np.tanh(layer(x)) * self.scale
        return x

    def first_and_last(self, x):
        h = self.layers[0](x)
        return self.layers[-1](np.sin(h))

    def tail(self, x):
        h = self.layers[0](x)
        for layer in self.layers[1:]:
            h = h + layer(h)
        return h

    def enumerated(self, x):
        total = 0.0
        for i, layer in enumerate(self.layers):
            total = total + (i + 1.0) * np.sum(layer(x) ** 2)
        return total


class Affine:
    def __init__(self, W, b):
        self.W = W
        self.b = b

    def __call__(self, x):
        return x @ self.W + self.b


SEQ = Sequential([Affine(R.normal(size=(3, 3)) * 0.6, R.normal(size=3) * 0.1) for _ in range(3)])


def loss_seq(x, model):
    return np.sum(model.forward(x) ** 2)


def loss_ends(x, model):
    return np.sum(model.first_and_last(x))


def loss_enum(x, model):
    return model.enumerated(x)


def loss_tail(x, model):
    return np.sum(np.sin(model.tail(x)))


@pytest.mark.parametrize("fn", [loss_seq, loss_ends, loss_enum, loss_tail])
def test_a_list_of_objects_held_in_an_argument(fn):
    # ``for layer in self.layers`` is unrolled over the list the argument holds (the variant is
    # specialised on the list's length and its elements' classes)
    srcad.check_grad(fn, X, SEQ)
    t = R.normal(size=3)
    _, tangent = srcad.jvp(fn, (X, SEQ), (t, None))
    num = (fn(X + 1e-6 * t, SEQ) - fn(X - 1e-6 * t, SEQ)) / 2e-6
    assert tangent == pytest.approx(num, rel=1e-6, abs=1e-9)
    H = srcad.hessian(fn)(X, SEQ)
    g = srcad.grad(fn)
    Hn = np.array([(g(X + 1e-5 * e, SEQ) - g(X - 1e-5 * e, SEQ)) / 2e-5 for e in np.eye(3)])
    np.testing.assert_allclose(H, Hn, rtol=1e-5, atol=1e-7)


def test_a_longer_list_of_objects_gets_its_own_derivative():
    g = srcad.grad(loss_seq)
    short = Sequential(SEQ.layers[:2])
    srcad.check_grad(loss_seq, X, short)
    srcad.check_grad(loss_seq, X, SEQ)
    assert "model_layers_2" in srcad.source(g, X, SEQ) and "model_layers_2" not in srcad.source(g, X, short)


GLOBAL_SEQ = Sequential([Affine(R.normal(size=(3, 3)) * 0.6, R.normal(size=3) * 0.1) for _ in range(2)])


def loss_global_seq(x):
    return np.sum(GLOBAL_SEQ.forward(x) ** 2) + np.sum(GLOBAL_SEQ.first_and_last(x))


def test_a_list_of_objects_held_by_a_global():
    # ``for layer in self.layers`` of a module-level model: unrolled; the derivative is guarded on
    # the list's length and elements, so a layer appended later gives a new derivative
    g = srcad.grad(loss_global_seq)
    srcad.check_grad(loss_global_seq, X)
    before = g(X)
    GLOBAL_SEQ.layers.append(Affine(R.normal(size=(3, 3)) * 0.6, R.normal(size=3) * 0.1))
    try:
        after = g(X)
        srcad.check_grad(loss_global_seq, X)
        assert not np.allclose(before, after)
        H = srcad.hessian(loss_global_seq)(X)
        Hn = np.array([(g(X + 1e-5 * e) - g(X - 1e-5 * e)) / 2e-5 for e in np.eye(3)])
        np.testing.assert_allclose(H, Hn, rtol=1e-5, atol=1e-7)
    finally:
        GLOBAL_SEQ.layers.pop()
    np.testing.assert_allclose(g(X), before)
