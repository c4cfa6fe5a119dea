"""Exercise 5 of the chapter: plot f(x) = sin(x) and df/dx, computed by srcad without writing cos.

    python3 -m pip install -e ".[examples]"      # matplotlib
    python3 examples/sin_derivative.py [OUT.png]  # default: sin_derivative.png

``srcad.grad(f)`` of an elementwise function evaluated on a whole grid gives the derivative at every
grid point at once: the gradient of ``sum(f(x))`` has ``f'(x[i])`` in position ``i``.
"""

import sys

import numpy as np

import srcad


def f(x):
    return np.sin(x)


df = srcad.grad(f)


def curves(n=200):
    x = np.linspace(-2 * np.pi, 2 * np.pi, n)
    return x, f(x), df(x)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    out = argv[0] if argv else "sin_derivative.png"
    try:
        import matplotlib
    except ImportError:
        print("sin_derivative.py needs matplotlib: python3 -m pip install -e \".[examples]\"",
              file=sys.stderr)
        return 2
    matplotlib.use("Agg")           # no display needed
    import matplotlib.pyplot as plt

    x, y, dy = curves()
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.plot(x, y, label="f(x) = sin(x)")
    ax.plot(x, dy, "--", label="df/dx by srcad.grad")
    ax.set_xlabel("x")
    ax.legend(loc="upper right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    print(f"saved {out}: {len(x)} points, max |df/dx - cos(x)| = {np.max(np.abs(dy - np.cos(x))):.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
