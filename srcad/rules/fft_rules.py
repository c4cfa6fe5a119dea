"""Derivative rules for the np.fft family.

FFTs make complex values from real ones. srcad allows complex values between a real input and a
real output; a complex value ``z = x + iy`` carries the adjoint ``dL/dx - i dL/dy`` (JAX's
convention, see srcad.rules.more_helpers): holomorphic rules keep their real form and the adjoint
of each (linear) transform is its transpose. An adjoint that reaches a real input is its real part.
"""

import numpy as np

from srcad.rules import more_helpers as _h
from srcad.rules.more_helpers import c2c, c2c_adjoint, irfft_adjoint, rfft_adjoint
from srcad.rules.registry import forward, nondiff, reverse

# ---------------------------------------------------------------- complex transforms


@reverse(np.fft.fft)
def fft(y, a, n=None, axis=-1, norm=None, out=None):
    d[a] = c2c_adjoint(d[y], a, (n,), (axis,), norm, False)


@forward(np.fft.fft)
def fft(y, a, n=None, axis=-1, norm=None, out=None):
    d[y] = np.fft.fft(d[a], n, axis, norm)


@reverse(np.fft.ifft)
def ifft(y, a, n=None, axis=-1, norm=None, out=None):
    d[a] = c2c_adjoint(d[y], a, (n,), (axis,), norm, True)


@forward(np.fft.ifft)
def ifft(y, a, n=None, axis=-1, norm=None, out=None):
    d[y] = np.fft.ifft(d[a], n, axis, norm)


@reverse(np.fft.fft2)
def fft2(y, a, s=None, axes=(-2, -1), norm=None, out=None):
    d[a] = c2c_adjoint(d[y], a, s, axes, norm, False)


@forward(np.fft.fft2)
def fft2(y, a, s=None, axes=(-2, -1), norm=None, out=None):
    d[y] = np.fft.fft2(d[a], s, axes, norm)


@reverse(np.fft.ifft2)
def ifft2(y, a, s=None, axes=(-2, -1), norm=None, out=None):
    d[a] = c2c_adjoint(d[y], a, s, axes, norm, True)


@forward(np.fft.ifft2)
def ifft2(y, a, s=None, axes=(-2, -1), norm=None, out=None):
    d[y] = np.fft.ifft2(d[a], s, axes, norm)


@reverse(np.fft.fftn)
def fftn(y, a, s=None, axes=None, norm=None, out=None):
    d[a] = c2c_adjoint(d[y], a, s, axes, norm, False)


@forward(np.fft.fftn)
def fftn(y, a, s=None, axes=None, norm=None, out=None):
    d[y] = np.fft.fftn(d[a], s, axes, norm)


@reverse(np.fft.ifftn)
def ifftn(y, a, s=None, axes=None, norm=None, out=None):
    d[a] = c2c_adjoint(d[y], a, s, axes, norm, True)


@forward(np.fft.ifftn)
def ifftn(y, a, s=None, axes=None, norm=None, out=None):
    d[y] = np.fft.ifftn(d[a], s, axes, norm)


# ---------------------------------------------------------------- real input, half spectrum


@reverse(np.fft.rfft)
def rfft(y, a, n=None, axis=-1, norm=None, out=None):
    d[a] = rfft_adjoint(d[y], a, n, axis, norm)


@forward(np.fft.rfft)
def rfft(y, a, n=None, axis=-1, norm=None, out=None):
    d[y] = np.fft.rfft(d[a], n, axis, norm)


@reverse(np.fft.irfft)
def irfft(y, a, n=None, axis=-1, norm=None, out=None):
    d[a] = irfft_adjoint(d[y], a, n, axis, norm)


@forward(np.fft.irfft)
def irfft(y, a, n=None, axis=-1, norm=None, out=None):
    d[y] = np.fft.irfft(d[a], n, axis, norm)


# ---------------------------------------------------------------- shifts (permutations)


@reverse(np.fft.fftshift)
def fftshift(y, x, axes=None):
    d[x] = np.fft.ifftshift(d[y], axes)


@forward(np.fft.fftshift)
def fftshift(y, x, axes=None):
    d[y] = np.fft.fftshift(d[x], axes)


@reverse(np.fft.ifftshift)
def ifftshift(y, x, axes=None):
    d[x] = np.fft.fftshift(d[y], axes)


@forward(np.fft.ifftshift)
def ifftshift(y, x, axes=None):
    d[y] = np.fft.ifftshift(d[x], axes)


nondiff(np.fft.fftfreq, np.fft.rfftfreq, why="sample frequencies (from sizes)")

# ---------------------------------------------------------------- the adjoints' own rules
# Each adjoint is linear in its first argument; its transpose is the transform itself.


@reverse(_h.c2c_adjoint)
def c2c_adjoint_(r, g, a, s, axes, norm, inverse):
    d[g] = c2c(d[r], s, axes, norm, inverse)


@forward(_h.c2c_adjoint)
def c2c_adjoint_(r, g, a, s, axes, norm, inverse):
    d[r] = c2c_adjoint(d[g], a, s, axes, norm, inverse)


@reverse(_h.c2c)
def c2c_(r, x, s, axes, norm, inverse):
    d[x] = c2c_adjoint(d[r], x, s, axes, norm, inverse)


@forward(_h.c2c)
def c2c_(r, x, s, axes, norm, inverse):
    d[r] = c2c(d[x], s, axes, norm, inverse)


@reverse(_h.rfft_adjoint)
def rfft_adjoint_(r, g, a, n, axis, norm):
    d[g] = np.fft.rfft(d[r], n, axis, norm)


@forward(_h.rfft_adjoint)
def rfft_adjoint_(r, g, a, n, axis, norm):
    d[r] = rfft_adjoint(d[g], a, n, axis, norm)


@reverse(_h.irfft_adjoint)
def irfft_adjoint_(r, g, a, n, axis, norm):
    d[g] = np.fft.irfft(d[r], n, axis, norm)


@forward(_h.irfft_adjoint)
def irfft_adjoint_(r, g, a, n, axis, norm):
    d[r] = irfft_adjoint(d[g], a, n, axis, norm)
