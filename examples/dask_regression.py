"""Logistic regression on data that never sits in memory: Dask arrays, gradients by srcad.

    python3 examples/dask_regression.py [--rows N] [--features D] [--chunk C] [--steps S]
    SRCAD_EXAMPLE_ROWS=20000 python3 examples/dask_regression.py      # a quick run

The data set (``N`` rows of ``D`` features, 2,000,000 x 20 by default: 320 MB of float64) is a
Dask array whose blocks are generated on demand, each from its own seeded generator (block ``i``
of rows always holds the same numbers), and the labels are computed from them: the whole data set
is never held in memory at once, only the blocks the threads work on. The loss is plain NumPy
code; ``srcad.value_and_grad`` turns it into NumPy-API code that, run on Dask arrays, builds a
graph (nothing is computed) until ``dask.compute`` evaluates the loss and both gradients in one
pass over the blocks. A few steps of gradient descent follow, with a text progress bar and the
loss per step; at the end the fitted weights are compared with the true ones and the peak memory
of the process with the size of the data.

Needs Dask: ``python3 -m pip install -e ".[dask]"``.
"""

import argparse
import os
import resource
import sys
import time

import numpy as np

try:
    import dask
    import dask.array as da
except ImportError:                     # the example's one extra dependency
    sys.exit("examples/dask_regression.py needs Dask: python3 -m pip install -e \".[dask]\"")

import srcad

SEED = 2024


def true_weights(d):
    """The weights the labels are drawn from (what the fit should find, up to the noise)."""
    return np.random.default_rng(SEED).normal(size=d) / np.sqrt(d) * 3.0


def features_block(block_id, rows, d):
    """Block ``block_id`` of the features: its own generator, so the same block is the same numbers
    every time Dask asks for it (every gradient step generates the data again, block by block)."""
    rng = np.random.default_rng([SEED, block_id])
    return rng.standard_normal((rows, d))


def labels_block(x, w, block_id):
    """+1/-1 labels of a block of features: a logistic model with weights ``w`` and bias 0.5."""
    rng = np.random.default_rng([SEED, block_id, 1])
    p = 1.0 / (1.0 + np.exp(-(x @ w + 0.5)))
    return np.where(rng.uniform(size=x.shape[0]) < p, 1.0, -1.0)


def lazy_data(n, d, chunk):
    """Features ``X`` (n x d) and labels ``y`` (n) as Dask arrays of row blocks of ``chunk`` rows,
    generated when computed."""
    sizes = [min(chunk, n - start) for start in range(0, n, chunk)]
    blocks = [da.from_delayed(dask.delayed(features_block)(i, rows, d), shape=(rows, d), dtype=float)
              for i, rows in enumerate(sizes)]
    X = da.concatenate(blocks, axis=0)
    w = true_weights(d)
    y = da.map_blocks(lambda x, block_info=None: labels_block(x, w, block_info[0]["chunk-location"][0]),
                      X, drop_axis=1, dtype=float)
    return X, y


def loss(w, b, X, y, lam):
    """Mean logistic loss of the labels ``y`` (+1/-1) under the scores ``X @ w + b``, with an L2
    penalty on ``w``. Plain NumPy: it runs on NumPy arrays and, through NumPy's dispatch, on Dask's."""
    margins = y * (X @ w + b)
    return np.mean(np.logaddexp(0.0, -margins)) + lam * np.sum(w * w)


def bar(done, total, width=30):
    filled = int(round(width * done / total))
    return "[" + "#" * filled + "." * (width - filled) + "]"


def fit(X, y, steps, lr=1.0, lam=1e-3, out=print):
    """Gradient descent from zero weights; one ``dask.compute`` (one pass over the data) a step.
    Returns the weights, the bias and the losses, one per step (at the weights before the step)."""
    d = X.shape[1]
    w, b = np.zeros(d), 0.0
    value_and_grad = srcad.value_and_grad(loss, wrt=(0, 1))
    losses = []
    for step in range(1, steps + 1):
        t0 = time.perf_counter()
        value, (dw, db) = value_and_grad(w, b, X, y, lam)     # a Dask graph: nothing computed yet
        value, dw, db = dask.compute(value, dw, db)
        w, b = w - lr * dw, b - lr * float(db)
        losses.append(float(value))
        out(f"step {step:2d}/{steps} {bar(step, steps)} loss {value:.6f}  ({time.perf_counter() - t0:.2f} s)")
    return w, b, losses


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=int(os.environ.get("SRCAD_EXAMPLE_ROWS", 2_000_000)))
    ap.add_argument("--features", type=int, default=20)
    ap.add_argument("--chunk", type=int, default=None,
                    help="rows per block (default: an eighth of the rows, at most 100,000)")
    ap.add_argument("--steps", type=int, default=10)
    args = ap.parse_args(argv)
    chunk = args.chunk or min(100_000, -(-args.rows // 8))
    X, y = lazy_data(args.rows, args.features, chunk)
    size_mb = X.nbytes / 1e6 + y.nbytes / 1e6
    print(f"data: {args.rows} x {args.features} float64 features and labels, {size_mb:.0f} MB, "
          f"in {X.numblocks[0]} blocks of at most {chunk} rows (generated when computed)")
    print("the gradient srcad generated (for NumPy parameters and Dask data):")
    print(srcad.source(srcad.value_and_grad(loss, wrt=(0, 1)), np.zeros(args.features), 0.0, X, y, 1e-3))
    t0 = time.perf_counter()
    with dask.config.set(scheduler="threads"):
        w, b, losses = fit(X, y, args.steps)
    w_true = true_weights(args.features)
    cos = float(w @ w_true / (np.linalg.norm(w) * np.linalg.norm(w_true)))
    print(f"loss {losses[0]:.6f} -> {losses[-1]:.6f} in {args.steps} steps, {time.perf_counter() - t0:.1f} s")
    print(f"cosine(fitted w, true w) = {cos:.4f}, bias {b:.3f} (true 0.5)")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3     # kB on Linux
    print(f"peak memory of the process: {peak:.0f} MB for {size_mb:.0f} MB of data")
    return w, b, losses


if __name__ == "__main__":
    main()
