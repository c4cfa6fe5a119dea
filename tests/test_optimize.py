"""The forward sweep keeps only what the derivative reads (srcad/optimize.py)."""

import numpy as np

import srcad


def chain(A, B, C):
    return np.sum(np.tanh(A @ B) @ C)


def ew(x):
    return np.sum(np.sin(x) * np.exp(-x * x) + x ** 2)


def with_random(x):
    noise = np.random.normal(size=x.shape)   # no derivative, but it moves the random state
    return np.sum(x * x) + 0.0 * np.sum(noise)


def test_unused_product_is_not_computed():
    rng = np.random.default_rng(0)
    A, B, C = (rng.normal(size=(4, 4)) for _ in range(3))
    from srcad import patterns, pipeline
    patterns.enabled = False   # whole, sum(T @ C) is one call (patterns.sum_matmul): no product at all
    pipeline.clear_cache()
    try:
        src = srcad.source(srcad.grad(chain), A, B, C)
    finally:
        patterns.enabled = True
        pipeline.clear_cache()
    assert "tanh_1 @ C" not in src                      # only its shape is needed
    # a zero-strided view of the product's shape, under a note saying so: no memory of its own
    assert "np.broadcast_to(np.empty_like(tanh_1, shape=()), (tanh_1.shape[0], C.shape[1]))" in src
    assert "# matmul_1: only its shape is read" in src
    srcad.check_grad(chain, A, B, C)
    v, g = srcad.value_and_grad(chain)(A, B, C)         # value_and_grad still computes the value
    assert np.isclose(v, chain(A, B, C))


def test_shape_stand_ins_for_elementwise_results():
    x = np.linspace(-1, 1, 5)
    src = srcad.source(srcad.grad(ew), x)
    assert "np.sum(" not in src and "x ** 2" not in src
    srcad.check_grad(ew, x)


def test_calls_with_effects_are_kept():
    src = srcad.source(srcad.grad(with_random), np.ones(3))
    assert "np.random.normal" in src
