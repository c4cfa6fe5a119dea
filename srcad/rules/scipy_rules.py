"""Derivative rules for SciPy: scipy.special functions, the scipy.stats distributions ``norm``,
``t``, ``gamma``, ``beta``, ``expon``, ``chi2``, ``poisson``, ``dirichlet`` and
``multivariate_normal`` (their ``logpdf``, ``pdf``, ``cdf``... methods, frozen or not) and
scipy.linalg (``solve_triangular``, ``solve_sylvester``, ``sqrtm``, ``expm``, ``cho_factor``,
``cho_solve``).

SciPy is optional and ``import srcad`` does not import it. The first time srcad looks up a SciPy
function in a rule table (registry._scipy_rules), ``register`` puts the rules of its part of SciPy
in the tables: scipy.special's, scipy.stats's (with scipy.special's) once the program uses
scipy.stats, scipy.linalg's once it uses scipy.linalg. The rules are keyed by SciPy's own objects:
the ufunc ``scipy.special.gammaln``, the function ``scipy.special.logsumexp``, the bound method
``scipy.stats.norm.logpdf`` (a bound method is made anew at each access but compares and hashes
equal, so ``norm.logpdf``, ``scipy.stats.norm.logpdf`` and ``st.norm.logpdf`` all find the rule).
Frozen distributions (``norm(mu, s).logpdf(x)``) are rewritten into those calls by ``unfreeze``
(at the end of this file), which the analysis step runs where scipy.stats is imported.

Templates below are collected by ``_rule`` and registered by ``register`` (after ``special`` and
``linalg`` name the imported modules: the templates read them). Every function a reverse rule's
lines call has a forward rule here or in numpy_rules/runtime_rules, so ``srcad.hessian`` (forward
over reverse) goes through them.
"""

import sys
import threading

import numpy as np

from srcad.rules.registry import FORWARD, NONDIFF, REVERSE, forward, nondiff, reverse
from srcad.rules.more_helpers import Parts, slot
from srcad.rules.numpy_helpers import cholesky_adjoint, cholesky_tangent
from srcad.runtime import broadcast_like, unbroadcast, unreduce

special = None          # scipy.special, set by register (the templates read it)
linalg = None           # scipy.linalg, likewise
NAMES = {}              # rule key -> its user-facing names ("scipy.special.gammaln"), for the catalog
_RULES = {"special": [], "stats": [], "linalg": []}   # part -> [(mode, keys, template, constant)]
_ZERO = {"special": [("gammasgn", "a sign")], "stats": [], "linalg": []}   # part -> [(path, why)]
_LOCK = threading.RLock()
_DONE = set()           # parts registered
_STARTED = set()        # parts being registered (look-ups made meanwhile do not recurse)


def _rule(mode, *keys, part="special", constant=()):
    """Collect a template for ``keys``: paths of SciPy objects in scipy.special or scipy.stats
    (``"norm.logpdf"``), or the helpers below."""
    def deco(fn):
        _RULES[part].append((mode, keys, fn, constant))
        return fn
    return deco


def _part(module):
    """The part of SciPy whose rules a function of ``module`` finds (None: no rules here)."""
    module = module or "scipy.special"      # SciPy's ufuncs name no module
    for part in ("special", "stats", "linalg"):
        if module.startswith(f"scipy.{part}"):
            return part
    return None     # scipy.optimize, another library's ufunc...: no rules here (and no import)


def register(module):
    """Register the rules of the part of SciPy that ``module`` (a function's ``__module__``; None
    for SciPy's ufuncs) belongs to. True when that part's rules are in the tables."""
    part = _part(module)
    if part is None:
        return False
    if part in _DONE:
        return True
    if part != "stats" and f"scipy.{part}" not in sys.modules:
        return False
    with _LOCK:
        if part in _DONE:
            return True
        if part in _STARTED:
            return False
        if part == "stats" and not register("scipy.special"):
            return False
        _STARTED.add(part)
        global special, linalg
        import scipy.special
        special = scipy.special
        if part == "stats":
            import scipy.stats
        if part == "linalg":
            import scipy.linalg
            linalg = scipy.linalg
        root = {"special": scipy.special, "stats": scipy.stats if part == "stats" else None,
                "linalg": linalg}[part]
        for mode, keys, fn, constant in _RULES[part]:
            for path in keys:
                key = path
                if isinstance(path, str):
                    key = root
                    for attr in path.split("."):
                        key = getattr(key, attr)
                    names = NAMES.setdefault(key, [])
                    if f"{root.__name__}.{path}" not in names:
                        names.append(f"{root.__name__}.{path}")
                table = REVERSE if mode == "reverse" else FORWARD
                if dict.__contains__(table, key) or dict.__contains__(NONDIFF, key):
                    continue    # the user's own rule (srcad.defvjp...), given before these loaded, stays
                (reverse if mode == "reverse" else forward)(key, constant=constant)(fn)
        for path, why in _ZERO[part]:
            key = getattr(root, path)
            NAMES.setdefault(key, [f"{root.__name__}.{path}"])
            if not any(dict.__contains__(t, key) for t in (REVERSE, FORWARD, NONDIFF)):
                nondiff(key, why=why)
        _DONE.add(part)
        return True


# ================================================================ scipy.special: one input


@_rule("reverse", "gammaln")
def gammaln(y, x):
    d[x] = d[y] * special.digamma(x)


@_rule("forward", "gammaln")
def gammaln(y, x):
    d[y] = d[x] * special.digamma(x)


@_rule("reverse", "gamma")
def gamma(y, x):
    d[x] = d[y] * y * special.digamma(x)


@_rule("forward", "gamma")
def gamma(y, x):
    d[y] = d[x] * y * special.digamma(x)


@_rule("reverse", "digamma", "psi")
def digamma(y, x):
    d[x] = d[y] * special.polygamma(1, x)


@_rule("forward", "digamma", "psi")
def digamma(y, x):
    d[y] = d[x] * special.polygamma(1, x)


# ``n`` is an order (an integer): a differentiated value passed there is refused.
@_rule("reverse", "polygamma")
def polygamma(y, n, x):
    d[x] = unbroadcast(d[y] * special.polygamma(n + 1, x), x)


@_rule("forward", "polygamma")
def polygamma(y, n, x):
    d[y] = broadcast_like(d[x] * special.polygamma(n + 1, x), y)


@_rule("reverse", "erf")
def erf(y, x):
    d[x] = d[y] * (2.0 / np.sqrt(np.pi)) * np.exp(-x * x)


@_rule("forward", "erf")
def erf(y, x):
    d[y] = d[x] * (2.0 / np.sqrt(np.pi)) * np.exp(-x * x)


@_rule("reverse", "erfc")
def erfc(y, x):
    d[x] = -d[y] * (2.0 / np.sqrt(np.pi)) * np.exp(-x * x)


@_rule("forward", "erfc")
def erfc(y, x):
    d[y] = -d[x] * (2.0 / np.sqrt(np.pi)) * np.exp(-x * x)


@_rule("reverse", "ndtr")
def ndtr(y, x):
    d[x] = d[y] * np.exp(-0.5 * x * x) / np.sqrt(2.0 * np.pi)


@_rule("forward", "ndtr")
def ndtr(y, x):
    d[y] = d[x] * np.exp(-0.5 * x * x) / np.sqrt(2.0 * np.pi)


# d log ndtr(x) = pdf(x) / ndtr(x), written exp(-x^2/2 - y) so that it stays finite far left
@_rule("reverse", "log_ndtr")
def log_ndtr(y, x):
    d[x] = d[y] * np.exp(-0.5 * x * x - y) / np.sqrt(2.0 * np.pi)


@_rule("forward", "log_ndtr")
def log_ndtr(y, x):
    d[y] = d[x] * np.exp(-0.5 * x * x - y) / np.sqrt(2.0 * np.pi)


@_rule("reverse", "expit")
def expit(y, x):
    d[x] = d[y] * y * (1.0 - y)


@_rule("forward", "expit")
def expit(y, x):
    d[y] = d[x] * y * (1.0 - y)


@_rule("reverse", "log_expit")
def log_expit(y, x):
    d[x] = d[y] * special.expit(-x)


@_rule("forward", "log_expit")
def log_expit(y, x):
    d[y] = d[x] * special.expit(-x)


@_rule("reverse", "logit")
def logit(y, x):
    d[x] = d[y] / (x * (1.0 - x))


@_rule("forward", "logit")
def logit(y, x):
    d[y] = d[x] / (x * (1.0 - x))


# Modified Bessel functions: I0' = I1, I1' = (I0 + I2) / 2, I_v' = (I_{v-1} + I_{v+1}) / 2.
@_rule("reverse", "i0")
def i0(y, x):
    d[x] = d[y] * special.i1(x)


@_rule("forward", "i0")
def i0(y, x):
    d[y] = d[x] * special.i1(x)


@_rule("reverse", "i1")
def i1(y, x):
    d[x] = d[y] * 0.5 * (special.i0(x) + special.iv(2, x))


@_rule("forward", "i1")
def i1(y, x):
    d[y] = d[x] * 0.5 * (special.i0(x) + special.iv(2, x))


# ``v`` is an order: no derivative (a differentiated value passed there is refused)
@_rule("reverse", "iv")
def iv(y, v, z):
    d[z] = unbroadcast(d[y] * 0.5 * (special.iv(v - 1, z) + special.iv(v + 1, z)), z)


@_rule("forward", "iv")
def iv(y, v, z):
    d[y] = broadcast_like(d[z] * 0.5 * (special.iv(v - 1, z) + special.iv(v + 1, z)), y)


# The inverses: erfinv' = sqrt(pi)/2 exp(y^2), ndtri' = sqrt(2 pi) exp(y^2/2) (y the result).
@_rule("reverse", "erfinv")
def erfinv(y, x):
    d[x] = d[y] * (0.5 * np.sqrt(np.pi)) * np.exp(y * y)


@_rule("forward", "erfinv")
def erfinv(y, x):
    d[y] = d[x] * (0.5 * np.sqrt(np.pi)) * np.exp(y * y)


@_rule("reverse", "ndtri")
def ndtri(y, x):
    d[x] = d[y] * np.sqrt(2.0 * np.pi) * np.exp(0.5 * y * y)


@_rule("forward", "ndtri")
def ndtri(y, x):
    d[y] = d[x] * np.sqrt(2.0 * np.pi) * np.exp(0.5 * y * y)


# entr(x) = -x log x (x > 0)
@_rule("reverse", "entr")
def entr(y, x):
    d[x] = -d[y] * (np.log(x) + 1.0)


@_rule("forward", "entr")
def entr(y, x):
    d[y] = -d[x] * (np.log(x) + 1.0)


# ive(v, z) = iv(v, z) exp(-|z|) (real z): ive' = (ive(v-1) + ive(v+1)) / 2 - sign(z) ive(v)
@_rule("reverse", "ive")
def ive(y, v, z):
    d[z] = unbroadcast(d[y] * (0.5 * (special.ive(v - 1, z) + special.ive(v + 1, z)) - np.sign(z) * y), z)


@_rule("forward", "ive")
def ive(y, v, z):
    d[y] = broadcast_like(d[z] * (0.5 * (special.ive(v - 1, z) + special.ive(v + 1, z)) - np.sign(z) * y), y)


@_rule("reverse", "erfcinv")
def erfcinv(y, x):
    d[x] = -d[y] * (0.5 * np.sqrt(np.pi)) * np.exp(y * y)


@_rule("forward", "erfcinv")
def erfcinv(y, x):
    d[y] = -d[x] * (0.5 * np.sqrt(np.pi)) * np.exp(y * y)


# rgamma = 1 / gamma
@_rule("reverse", "rgamma")
def rgamma(y, x):
    d[x] = -d[y] * y * special.digamma(x)


@_rule("forward", "rgamma")
def rgamma(y, x):
    d[y] = -d[x] * y * special.digamma(x)


# Bessel functions of the first and second kind: J0' = -J1, J1' = (J0 - J2) / 2, the same for Y;
# Jn' = (J(n-1) - J(n+1)) / 2 (the order n takes no derivative).
@_rule("reverse", "j0")
def j0(y, x):
    d[x] = -d[y] * special.j1(x)


@_rule("forward", "j0")
def j0(y, x):
    d[y] = -d[x] * special.j1(x)


@_rule("reverse", "y0")
def y0(y, x):
    d[x] = -d[y] * special.y1(x)


@_rule("forward", "y0")
def y0(y, x):
    d[y] = -d[x] * special.y1(x)


@_rule("reverse", "j1")
def j1(y, x):
    d[x] = d[y] * 0.5 * (special.j0(x) - special.jv(2, x))


@_rule("forward", "j1")
def j1(y, x):
    d[y] = d[x] * 0.5 * (special.j0(x) - special.jv(2, x))


@_rule("reverse", "y1")
def y1(y, x):
    d[x] = d[y] * 0.5 * (special.y0(x) - special.yv(2, x))


@_rule("forward", "y1")
def y1(y, x):
    d[y] = d[x] * 0.5 * (special.y0(x) - special.yv(2, x))


@_rule("reverse", "jv", "jn")
def jv(y, v, z):
    d[z] = unbroadcast(d[y] * 0.5 * (special.jv(v - 1, z) - special.jv(v + 1, z)), z)


@_rule("forward", "jv", "jn")
def jv(y, v, z):
    d[y] = broadcast_like(d[z] * 0.5 * (special.jv(v - 1, z) - special.jv(v + 1, z)), y)


@_rule("reverse", "yv", "yn")
def yv(y, v, z):
    d[z] = unbroadcast(d[y] * 0.5 * (special.yv(v - 1, z) - special.yv(v + 1, z)), z)


@_rule("forward", "yv", "yn")
def yv(y, v, z):
    d[y] = broadcast_like(d[z] * 0.5 * (special.yv(v - 1, z) - special.yv(v + 1, z)), y)


# The regularized incomplete gamma and beta functions, w.r.t. x only (their shape parameters
# have no closed-form derivative: refused): d gammainc(a, x) / dx = x^(a-1) e^-x / gamma(a),
# d betainc(a, b, x) / dx = x^(a-1) (1-x)^(b-1) / B(a, b).
@_rule("reverse", "gammainc")
def gammainc(y, a, x):
    d[x] = unbroadcast(d[y] * np.exp((a - 1.0) * np.log(x) - x - special.gammaln(a)), x)


@_rule("forward", "gammainc")
def gammainc(y, a, x):
    d[y] = broadcast_like(d[x] * np.exp((a - 1.0) * np.log(x) - x - special.gammaln(a)), y)


@_rule("reverse", "gammaincc")
def gammaincc(y, a, x):
    d[x] = unbroadcast(-d[y] * np.exp((a - 1.0) * np.log(x) - x - special.gammaln(a)), x)


@_rule("forward", "gammaincc")
def gammaincc(y, a, x):
    d[y] = broadcast_like(-d[x] * np.exp((a - 1.0) * np.log(x) - x - special.gammaln(a)), y)


@_rule("reverse", "betainc")
def betainc(y, a, b, x):
    d[x] = unbroadcast(d[y] * np.exp((a - 1.0) * np.log(x) + (b - 1.0) * np.log1p(-x) - special.betaln(a, b)), x)


@_rule("forward", "betainc")
def betainc(y, a, b, x):
    d[y] = broadcast_like(d[x] * np.exp((a - 1.0) * np.log(x) + (b - 1.0) * np.log1p(-x) - special.betaln(a, b)), y)


# ================================================================ scipy.special: two inputs


@_rule("reverse", "betaln")
def betaln(y, a, b):
    d[a] = unbroadcast(d[y] * (special.digamma(a) - special.digamma(a + b)), a)
    d[b] = unbroadcast(d[y] * (special.digamma(b) - special.digamma(a + b)), b)


@_rule("forward", "betaln")
def betaln(y, a, b):
    d[y] = d[a] * (special.digamma(a) - special.digamma(a + b)) + d[b] * (special.digamma(b) - special.digamma(a + b))


@_rule("reverse", "beta")
def beta(y, a, b):
    d[a] = unbroadcast(d[y] * y * (special.digamma(a) - special.digamma(a + b)), a)
    d[b] = unbroadcast(d[y] * y * (special.digamma(b) - special.digamma(a + b)), b)


@_rule("forward", "beta")
def beta(y, a, b):
    d[y] = d[a] * y * (special.digamma(a) - special.digamma(a + b)) + \
        d[b] * y * (special.digamma(b) - special.digamma(a + b))


@_rule("reverse", "xlogy")
def xlogy(z, x, y):
    d[x] = unbroadcast(d[z] * np.log(y), x)
    d[y] = unbroadcast(d[z] * x / y, y)


@_rule("forward", "xlogy")
def xlogy(z, x, y):
    d[z] = d[x] * np.log(y) + d[y] * x / y


@_rule("reverse", "xlog1py")
def xlog1py(z, x, y):
    d[x] = unbroadcast(d[z] * np.log1p(y), x)
    d[y] = unbroadcast(d[z] * x / (1.0 + y), y)


@_rule("forward", "xlog1py")
def xlog1py(z, x, y):
    d[z] = d[x] * np.log1p(y) + d[y] * x / (1.0 + y)


# rel_entr(x, y) = x log(x / y) (x, y > 0)
@_rule("reverse", "rel_entr")
def rel_entr(z, x, y):
    d[x] = unbroadcast(d[z] * (np.log(x / y) + 1.0), x)
    d[y] = unbroadcast(-d[z] * x / y, y)


@_rule("forward", "rel_entr")
def rel_entr(z, x, y):
    d[z] = d[x] * (np.log(x / y) + 1.0) - d[y] * x / y


# ================================================================ multigammaln


def multipolygamma(n, a, dim):
    """The ``n``-th derivative of ``multigammaln(a, dim) - const``: sum_j polygamma(n, a - j/2)."""
    a = np.asarray(a, dtype=float)
    out = sum(special.polygamma(n, a - 0.5 * j) for j in range(int(dim)))
    return float(out) if np.ndim(out) == 0 else out


@_rule("reverse", "multigammaln")
def multigammaln(y, a, d):
    d[a] = d[y] * multipolygamma(0, a, d)


@_rule("forward", "multigammaln")
def multigammaln(y, a, d):
    d[y] = d[a] * multipolygamma(0, a, d)


@_rule("reverse", multipolygamma)
def multipolygamma_(y, n, a, dim):
    d[a] = d[y] * multipolygamma(n + 1, a, dim)


@_rule("forward", multipolygamma)
def multipolygamma_(y, n, a, dim):
    d[y] = d[a] * multipolygamma(n + 1, a, dim)


# ================================================================ softmax, log_softmax
# y = softmax(x, axis): dy = y * (dx - sum(y * dx, axis)); y = log_softmax(x, axis): dy = dx - sum(exp(y) * dx, axis)


@_rule("reverse", "softmax")
def softmax(y, x, axis=None):
    d[x] = unbroadcast(y * (d[y] - np.sum(broadcast_like(d[y], y) * y, axis=axis, keepdims=True)), x)


@_rule("forward", "softmax")
def softmax(y, x, axis=None):
    d[y] = y * broadcast_like(d[x], y) - y * np.sum(broadcast_like(d[x], y) * y, axis=axis, keepdims=True)


@_rule("reverse", "log_softmax")
def log_softmax(y, x, axis=None):
    d[x] = unbroadcast(d[y] - np.exp(y) * np.sum(broadcast_like(d[y], y), axis=axis, keepdims=True), x)


@_rule("forward", "log_softmax")
def log_softmax(y, x, axis=None):
    d[y] = broadcast_like(d[x], y) - np.sum(np.exp(y) * d[x], axis=axis, keepdims=True)


# ================================================================ logsumexp


def _expanded(y, axis, ndim, keepdims):
    """``y``, a reduction over ``axis`` of an ``ndim``-dimensional array, with the reduced axes
    put back (length 1)."""
    if keepdims or axis is None or np.ndim(y) == ndim:
        return y
    axes = axis if isinstance(axis, tuple) else (axis,)
    return np.expand_dims(y, tuple(a % ndim for a in axes))


def lse_weights(a, y, axis=None, b=None, keepdims=False, return_sign=False, ndim=0):
    """``b * exp(a - y)`` (``exp(a - y)`` without ``b``), ``y = logsumexp(a, axis, b=b, keepdims)``:
    the weight of each element in the sum, shaped like ``a`` and ``b`` broadcast together (at least
    ``ndim`` dimensions: the reduction's, where ``b`` is left out). With ``return_sign``, ``y`` is
    the pair (log |sum|, sign of the sum) and the weights carry the sign."""
    a = np.asarray(a, dtype=float)
    ndim = max(a.ndim, ndim, 0 if b is None else np.ndim(b))
    if return_sign:
        w = np.exp(a - _expanded(y[0], axis, ndim, keepdims)) * _expanded(y[1], axis, ndim, keepdims)
    else:
        w = np.exp(a - _expanded(y, axis, ndim, keepdims))
    return w if b is None else b * w


def lse_first(t, return_sign):
    """The log |sum| part of logsumexp's result (or of its adjoint or tangent): the first item of
    the pair with ``return_sign``, else ``t`` itself."""
    return t[0] if return_sign else t


def lse_slot(v, return_sign):
    """The pair (``v``, zeros) with ``return_sign`` (the sign has derivative 0), else ``v``: the
    transpose of ``lse_first``. The zeros are an array like ``v``, so that the pair also reads as
    one array (``np.prod(logsumexp(a, return_sign=True), axis=0)``)."""
    return Parts((v, np.zeros_like(v))) if return_sign else v


# return_sign=True: the result is (log |sum b exp(a)|, its sign); the sign is piecewise constant.
@_rule("reverse", "logsumexp")
def logsumexp(y, a, axis=None, b=None, keepdims=False, return_sign=False):
    w = lse_weights(a, y, axis, b, keepdims, return_sign)
    g = unreduce(lse_first(d[y], return_sign), w, axis, keepdims)
    d[a] = unbroadcast(g * w, a)
    d[b] = unbroadcast(g * lse_weights(a, y, axis, None, keepdims, return_sign, np.ndim(w)), b)


@_rule("forward", "logsumexp")
def logsumexp(y, a, axis=None, b=None, keepdims=False, return_sign=False):
    d[y] = (lse_slot(np.sum(d[a] * lse_weights(a, y, axis, b, keepdims, return_sign), axis=axis, keepdims=keepdims),
                     return_sign)
            + lse_slot(np.sum(d[b] * lse_weights(a, y, axis, None, keepdims, return_sign, np.ndim(b)), axis=axis,
                              keepdims=keepdims), return_sign))


@_rule("reverse", lse_weights, constant=("axis", "keepdims", "return_sign", "ndim"))
def lse_weights_(w, a, y, axis=None, b=None, keepdims=False, return_sign=False, ndim=0):
    d[a] = unbroadcast(d[w] * w, a)
    d[y] = lse_slot(-np.sum(d[w] * w, axis=axis, keepdims=keepdims), return_sign)
    d[b] = unbroadcast(d[w] * lse_weights(a, y, axis, None, keepdims, return_sign, np.ndim(w)), b)


@_rule("forward", lse_weights, constant=("axis", "keepdims", "return_sign", "ndim"))
def lse_weights_(w, a, y, axis=None, b=None, keepdims=False, return_sign=False, ndim=0):
    d[w] = (d[a] * w - unreduce(lse_first(d[y], return_sign), w, axis, keepdims) * w
            + d[b] * lse_weights(a, y, axis, None, keepdims, return_sign, np.ndim(w)))


@_rule("reverse", lse_first, constant=("return_sign",))
def lse_first_(y, t, return_sign):
    d[t] = lse_slot(d[y], return_sign)


@_rule("forward", lse_first, constant=("return_sign",))
def lse_first_(y, t, return_sign):
    d[y] = lse_first(d[t], return_sign)


@_rule("reverse", lse_slot, constant=("return_sign",))
def lse_slot_(y, v, return_sign):
    d[v] = lse_first(d[y], return_sign)


@_rule("forward", lse_slot, constant=("return_sign",))
def lse_slot_(y, v, return_sign):
    d[y] = lse_slot(d[v], return_sign)


# ================================================================ scipy.stats.norm
# z = (x - loc) / scale; each rule is dy/dz = s: dx = s / scale, dloc = -s / scale,
# dscale = -s z / scale (logpdf and pdf: also the -1/scale of the normalisation).


@_rule("reverse", "norm.logpdf", part="stats")
def norm_logpdf(y, x, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    d[x] = unbroadcast(-d[y] * z / scale, x)
    d[loc] = unbroadcast(d[y] * z / scale, loc)
    d[scale] = unbroadcast(d[y] * (z * z - 1.0) / scale, scale)


@_rule("forward", "norm.logpdf", part="stats")
def norm_logpdf(y, x, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    d[y] = -d[x] * z / scale + d[loc] * z / scale + d[scale] * (z * z - 1.0) / scale


@_rule("reverse", "norm.pdf", part="stats")
def norm_pdf(y, x, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    d[x] = unbroadcast(-d[y] * y * z / scale, x)
    d[loc] = unbroadcast(d[y] * y * z / scale, loc)
    d[scale] = unbroadcast(d[y] * y * (z * z - 1.0) / scale, scale)


@_rule("forward", "norm.pdf", part="stats")
def norm_pdf(y, x, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    d[y] = -d[x] * y * z / scale + d[loc] * y * z / scale + d[scale] * y * (z * z - 1.0) / scale


@_rule("reverse", "norm.cdf", part="stats")
def norm_cdf(y, x, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    s = np.exp(-0.5 * z * z) / (np.sqrt(2.0 * np.pi) * scale)
    d[x] = unbroadcast(d[y] * s, x)
    d[loc] = unbroadcast(-d[y] * s, loc)
    d[scale] = unbroadcast(-d[y] * s * z, scale)


@_rule("forward", "norm.cdf", part="stats")
def norm_cdf(y, x, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    s = np.exp(-0.5 * z * z) / (np.sqrt(2.0 * np.pi) * scale)
    d[y] = d[x] * s - d[loc] * s - d[scale] * s * z


@_rule("reverse", "norm.logcdf", part="stats")
def norm_logcdf(y, x, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    s = np.exp(-0.5 * z * z - y) / (np.sqrt(2.0 * np.pi) * scale)
    d[x] = unbroadcast(d[y] * s, x)
    d[loc] = unbroadcast(-d[y] * s, loc)
    d[scale] = unbroadcast(-d[y] * s * z, scale)


@_rule("forward", "norm.logcdf", part="stats")
def norm_logcdf(y, x, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    s = np.exp(-0.5 * z * z - y) / (np.sqrt(2.0 * np.pi) * scale)
    d[y] = d[x] * s - d[loc] * s - d[scale] * s * z


@_rule("reverse", "norm.sf", part="stats")
def norm_sf(y, x, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    s = -np.exp(-0.5 * z * z) / (np.sqrt(2.0 * np.pi) * scale)
    d[x] = unbroadcast(d[y] * s, x)
    d[loc] = unbroadcast(-d[y] * s, loc)
    d[scale] = unbroadcast(-d[y] * s * z, scale)


@_rule("forward", "norm.sf", part="stats")
def norm_sf(y, x, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    s = -np.exp(-0.5 * z * z) / (np.sqrt(2.0 * np.pi) * scale)
    d[y] = d[x] * s - d[loc] * s - d[scale] * s * z


@_rule("reverse", "norm.logsf", part="stats")
def norm_logsf(y, x, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    s = -np.exp(-0.5 * z * z - y) / (np.sqrt(2.0 * np.pi) * scale)
    d[x] = unbroadcast(d[y] * s, x)
    d[loc] = unbroadcast(-d[y] * s, loc)
    d[scale] = unbroadcast(-d[y] * s * z, scale)


@_rule("forward", "norm.logsf", part="stats")
def norm_logsf(y, x, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    s = -np.exp(-0.5 * z * z - y) / (np.sqrt(2.0 * np.pi) * scale)
    d[y] = d[x] * s - d[loc] * s - d[scale] * s * z


# ================================================================ scipy.stats.t
# log pdf = gammaln((df+1)/2) - gammaln(df/2) - log(df pi)/2 - log(scale) - (df+1)/2 log1p(z^2/df);
# k = (df + 1) z / (df + z^2) is -d log pdf / dz. The cdf family has no rule for df (refused).


@_rule("reverse", "t.logpdf", part="stats")
def t_logpdf(y, x, df, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    k = (df + 1.0) * z / (df + z * z)
    d[x] = unbroadcast(-d[y] * k / scale, x)
    d[df] = unbroadcast(d[y] * 0.5 * (special.digamma(0.5 * df + 0.5) - special.digamma(0.5 * df) - 1.0 / df
                                      - np.log1p(z * z / df) + k * z / df), df)
    d[loc] = unbroadcast(d[y] * k / scale, loc)
    d[scale] = unbroadcast(d[y] * (k * z - 1.0) / scale, scale)


@_rule("forward", "t.logpdf", part="stats")
def t_logpdf(y, x, df, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    k = (df + 1.0) * z / (df + z * z)
    d[y] = (-d[x] * k / scale
            + d[df] * 0.5 * (special.digamma(0.5 * df + 0.5) - special.digamma(0.5 * df) - 1.0 / df
                             - np.log1p(z * z / df) + k * z / df)
            + d[loc] * k / scale + d[scale] * (k * z - 1.0) / scale)


@_rule("reverse", "t.pdf", part="stats")
def t_pdf(y, x, df, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    k = (df + 1.0) * z / (df + z * z)
    d[x] = unbroadcast(-d[y] * y * k / scale, x)
    d[df] = unbroadcast(d[y] * y * 0.5 * (special.digamma(0.5 * df + 0.5) - special.digamma(0.5 * df) - 1.0 / df
                                          - np.log1p(z * z / df) + k * z / df), df)
    d[loc] = unbroadcast(d[y] * y * k / scale, loc)
    d[scale] = unbroadcast(d[y] * y * (k * z - 1.0) / scale, scale)


@_rule("forward", "t.pdf", part="stats")
def t_pdf(y, x, df, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    k = (df + 1.0) * z / (df + z * z)
    d[y] = (-d[x] * y * k / scale
            + d[df] * y * 0.5 * (special.digamma(0.5 * df + 0.5) - special.digamma(0.5 * df) - 1.0 / df
                                 - np.log1p(z * z / df) + k * z / df)
            + d[loc] * y * k / scale + d[scale] * y * (k * z - 1.0) / scale)


def t_logpdf_std(z, df):
    """The log density of Student's t with ``df`` degrees of freedom at ``z`` (loc 0, scale 1)."""
    return (special.gammaln(0.5 * df + 0.5) - special.gammaln(0.5 * df) - 0.5 * np.log(df * np.pi)
            - (0.5 * df + 0.5) * np.log1p(z * z / df))


@_rule("reverse", t_logpdf_std)
def t_logpdf_std_(y, z, df):
    d[z] = unbroadcast(-d[y] * (df + 1.0) * z / (df + z * z), z)
    d[df] = unbroadcast(d[y] * 0.5 * (special.digamma(0.5 * df + 0.5) - special.digamma(0.5 * df) - 1.0 / df
                                      - np.log1p(z * z / df) + (df + 1.0) * z * z / (df * (df + z * z))), df)


@_rule("forward", t_logpdf_std)
def t_logpdf_std_(y, z, df):
    d[y] = (-d[z] * (df + 1.0) * z / (df + z * z)
            + d[df] * 0.5 * (special.digamma(0.5 * df + 0.5) - special.digamma(0.5 * df) - 1.0 / df
                             - np.log1p(z * z / df) + (df + 1.0) * z * z / (df * (df + z * z))))


@_rule("reverse", "t.cdf", part="stats")
def t_cdf(y, x, df, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    s = np.exp(t_logpdf_std(z, df)) / scale
    d[x] = unbroadcast(d[y] * s, x)
    d[loc] = unbroadcast(-d[y] * s, loc)
    d[scale] = unbroadcast(-d[y] * s * z, scale)


@_rule("forward", "t.cdf", part="stats")
def t_cdf(y, x, df, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    s = np.exp(t_logpdf_std(z, df)) / scale
    d[y] = d[x] * s - d[loc] * s - d[scale] * s * z


@_rule("reverse", "t.logcdf", part="stats")
def t_logcdf(y, x, df, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    s = np.exp(t_logpdf_std(z, df) - y) / scale
    d[x] = unbroadcast(d[y] * s, x)
    d[loc] = unbroadcast(-d[y] * s, loc)
    d[scale] = unbroadcast(-d[y] * s * z, scale)


@_rule("forward", "t.logcdf", part="stats")
def t_logcdf(y, x, df, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    s = np.exp(t_logpdf_std(z, df) - y) / scale
    d[y] = d[x] * s - d[loc] * s - d[scale] * s * z


@_rule("reverse", "t.sf", part="stats")
def t_sf(y, x, df, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    s = -np.exp(t_logpdf_std(z, df)) / scale
    d[x] = unbroadcast(d[y] * s, x)
    d[loc] = unbroadcast(-d[y] * s, loc)
    d[scale] = unbroadcast(-d[y] * s * z, scale)


@_rule("forward", "t.sf", part="stats")
def t_sf(y, x, df, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    s = -np.exp(t_logpdf_std(z, df)) / scale
    d[y] = d[x] * s - d[loc] * s - d[scale] * s * z


@_rule("reverse", "t.logsf", part="stats")
def t_logsf(y, x, df, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    s = -np.exp(t_logpdf_std(z, df) - y) / scale
    d[x] = unbroadcast(d[y] * s, x)
    d[loc] = unbroadcast(-d[y] * s, loc)
    d[scale] = unbroadcast(-d[y] * s * z, scale)


@_rule("forward", "t.logsf", part="stats")
def t_logsf(y, x, df, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    s = -np.exp(t_logpdf_std(z, df) - y) / scale
    d[y] = d[x] * s - d[loc] * s - d[scale] * s * z


# ================================================================ scipy.stats.multivariate_normal
# SciPy reads x as points of dimension dim (the size of mean, else of cov), mean None as zeros, a
# scalar cov as cov * I, a vector as a diagonal, and only the lower triangle of a matrix (eigh).
# The helpers below do the same, so that a derivative w.r.t. an entry above the diagonal is 0.


def mvn_dim(mean, cov):
    """The dimension scipy.stats.multivariate_normal infers from ``mean`` and ``cov``."""
    if mean is not None:
        return int(np.size(mean))
    return 1 if np.ndim(cov) < 2 else int(np.shape(cov)[0])


def mvn_points(x, dim):
    """``x`` as an (n, dim) array of points, as SciPy reads it."""
    x = np.asarray(x, dtype=float)
    if x.ndim <= 1 and dim == 1:
        return np.reshape(x, (-1, 1))
    return np.reshape(x, (-1, dim))


def mvn_mean(mean, dim):
    """The mean as a vector of length ``dim``."""
    if mean is None:
        return np.zeros(dim)
    return np.reshape(np.asarray(mean, dtype=float), (dim,))


def mvn_cov(cov, dim):
    """The symmetric (dim, dim) matrix SciPy uses for ``cov``: its lower triangle, mirrored."""
    c = np.asarray(cov, dtype=float)
    if c.ndim == 0:
        return c * np.eye(dim)
    if c.ndim == 1:
        return np.diag(c)
    return np.tril(c) + np.transpose(np.tril(c, -1))


def mvn_cov_adjoint(g, cov):
    """The adjoint of ``mvn_cov``: ``g`` (dim, dim) brought back to ``cov``'s form."""
    c = np.ndim(cov)
    if c == 0:
        return np.trace(g)
    if c == 1:
        return np.diagonal(g).copy()
    return np.tril(g) + np.tril(np.transpose(g), -1)


nondiff(mvn_dim, why="a dimension")


@_rule("reverse", mvn_points, constant=("dim",))
def mvn_points_(y, x, dim):
    d[x] = np.reshape(d[y], np.shape(x))


@_rule("forward", mvn_points, constant=("dim",))
def mvn_points_(y, x, dim):
    d[y] = mvn_points(d[x], dim)


@_rule("reverse", mvn_mean, constant=("dim",))
def mvn_mean_(y, mean, dim):
    d[mean] = np.reshape(d[y], np.shape(mean))


@_rule("forward", mvn_mean, constant=("dim",))
def mvn_mean_(y, mean, dim):
    d[y] = mvn_mean(d[mean], dim)


@_rule("reverse", mvn_cov, constant=("dim",))
def mvn_cov_(y, cov, dim):
    d[cov] = mvn_cov_adjoint(d[y], cov)


@_rule("forward", mvn_cov, constant=("dim",))
def mvn_cov_(y, cov, dim):
    d[y] = mvn_cov(d[cov], dim)


@_rule("reverse", mvn_cov_adjoint, constant=("cov",))
def mvn_cov_adjoint_(y, g, cov):
    d[g] = mvn_cov(d[y], np.shape(g)[0])


@_rule("forward", mvn_cov_adjoint, constant=("cov",))
def mvn_cov_adjoint_(y, g, cov):
    d[y] = mvn_cov_adjoint(d[g], cov)


# A = (x - mean) S^-1, one row per point; log pdf = -a S^-1 a / 2 - log det S / 2 - const, so
# dx = -A, dmean = A, dS = (A^T A - S^-1) / 2 per point (g, the adjoint, weighs the points).
@_rule("reverse", "multivariate_normal.logpdf", part="stats")
def mvn_logpdf(y, x, mean=None, cov=1, allow_singular=False):
    n = mvn_dim(mean, cov)
    S = mvn_cov(cov, n)
    A = np.transpose(np.linalg.solve(S, np.transpose(mvn_points(x, n) - mvn_mean(mean, n))))
    g = np.reshape(d[y], (-1, 1))
    d[x] = np.reshape(-g * A, np.shape(x))
    d[mean] = np.reshape(np.sum(g * A, axis=0), np.shape(mean))
    d[cov] = mvn_cov_adjoint(0.5 * (np.transpose(A) @ (g * A) - np.sum(g) * np.linalg.inv(S)), cov)


@_rule("forward", "multivariate_normal.logpdf", part="stats")
def mvn_logpdf(y, x, mean=None, cov=1, allow_singular=False):
    n = mvn_dim(mean, cov)
    S = mvn_cov(cov, n)
    A = np.transpose(np.linalg.solve(S, np.transpose(mvn_points(x, n) - mvn_mean(mean, n))))
    W = 0.5 * (A[:, :, None] * A[:, None, :] - np.linalg.inv(S))
    d[y] = (np.reshape(-np.sum(A * mvn_points(d[x], n), axis=1), np.shape(y))
            + np.reshape(np.sum(A * mvn_mean(d[mean], n), axis=1), np.shape(y))
            + np.reshape(np.sum(W * mvn_cov(d[cov], n), axis=(1, 2)), np.shape(y)))


@_rule("reverse", "multivariate_normal.pdf", part="stats")
def mvn_pdf(y, x, mean=None, cov=1, allow_singular=False):
    n = mvn_dim(mean, cov)
    S = mvn_cov(cov, n)
    A = np.transpose(np.linalg.solve(S, np.transpose(mvn_points(x, n) - mvn_mean(mean, n))))
    g = np.reshape(d[y] * y, (-1, 1))
    d[x] = np.reshape(-g * A, np.shape(x))
    d[mean] = np.reshape(np.sum(g * A, axis=0), np.shape(mean))
    d[cov] = mvn_cov_adjoint(0.5 * (np.transpose(A) @ (g * A) - np.sum(g) * np.linalg.inv(S)), cov)


@_rule("forward", "multivariate_normal.pdf", part="stats")
def mvn_pdf(y, x, mean=None, cov=1, allow_singular=False):
    n = mvn_dim(mean, cov)
    S = mvn_cov(cov, n)
    A = np.transpose(np.linalg.solve(S, np.transpose(mvn_points(x, n) - mvn_mean(mean, n))))
    W = 0.5 * (A[:, :, None] * A[:, None, :] - np.linalg.inv(S))
    d[y] = (y * np.reshape(-np.sum(A * mvn_points(d[x], n), axis=1), np.shape(y))
            + y * np.reshape(np.sum(A * mvn_mean(d[mean], n), axis=1), np.shape(y))
            + y * np.reshape(np.sum(W * mvn_cov(d[cov], n), axis=(1, 2)), np.shape(y)))


# ================================================================ scipy.stats.gamma, beta, expon
# The same pattern as norm and t: z = (x - loc) / scale and k = d log pdf(z) / dz of the standard
# density; dx = k / scale, dloc = -k / scale, dscale = -(k z + 1) / scale for logpdf (times y for
# pdf). The cdf family: s = pdf(z) / scale (divided by the cdf for logcdf, negated for the sf).
# The shape parameters have a rule in logpdf and pdf only (the cdf's is refused).
# gamma: log pdf(z) = (a - 1) log z - z - gammaln(a), z > 0.


@_rule("reverse", "gamma.logpdf", part="stats")
def gamma_logpdf(y, x, a, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    k = (a - 1.0) / z - 1.0
    d[x] = unbroadcast(d[y] * k / scale, x)
    d[a] = unbroadcast(d[y] * (np.log(z) - special.digamma(a)), a)
    d[loc] = unbroadcast(-d[y] * k / scale, loc)
    d[scale] = unbroadcast(-d[y] * (k * z + 1.0) / scale, scale)


@_rule("forward", "gamma.logpdf", part="stats")
def gamma_logpdf(y, x, a, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    k = (a - 1.0) / z - 1.0
    d[y] = (d[x] * k / scale + d[a] * (np.log(z) - special.digamma(a)) - d[loc] * k / scale
            - d[scale] * (k * z + 1.0) / scale)


@_rule("reverse", "gamma.pdf", part="stats")
def gamma_pdf(y, x, a, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    k = (a - 1.0) / z - 1.0
    d[x] = unbroadcast(d[y] * y * k / scale, x)
    d[a] = unbroadcast(d[y] * y * (np.log(z) - special.digamma(a)), a)
    d[loc] = unbroadcast(-d[y] * y * k / scale, loc)
    d[scale] = unbroadcast(-d[y] * y * (k * z + 1.0) / scale, scale)


@_rule("forward", "gamma.pdf", part="stats")
def gamma_pdf(y, x, a, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    k = (a - 1.0) / z - 1.0
    d[y] = (d[x] * y * k / scale + d[a] * y * (np.log(z) - special.digamma(a)) - d[loc] * y * k / scale
            - d[scale] * y * (k * z + 1.0) / scale)


# beta: log pdf(z) = (a - 1) log z + (b - 1) log(1 - z) - betaln(a, b), 0 < z < 1.


@_rule("reverse", "beta.logpdf", part="stats")
def beta_logpdf(y, x, a, b, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    k = (a - 1.0) / z - (b - 1.0) / (1.0 - z)
    d[x] = unbroadcast(d[y] * k / scale, x)
    d[a] = unbroadcast(d[y] * (np.log(z) - special.digamma(a) + special.digamma(a + b)), a)
    d[b] = unbroadcast(d[y] * (np.log1p(-z) - special.digamma(b) + special.digamma(a + b)), b)
    d[loc] = unbroadcast(-d[y] * k / scale, loc)
    d[scale] = unbroadcast(-d[y] * (k * z + 1.0) / scale, scale)


@_rule("forward", "beta.logpdf", part="stats")
def beta_logpdf(y, x, a, b, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    k = (a - 1.0) / z - (b - 1.0) / (1.0 - z)
    d[y] = (d[x] * k / scale + d[a] * (np.log(z) - special.digamma(a) + special.digamma(a + b))
            + d[b] * (np.log1p(-z) - special.digamma(b) + special.digamma(a + b))
            - d[loc] * k / scale - d[scale] * (k * z + 1.0) / scale)


@_rule("reverse", "beta.pdf", part="stats")
def beta_pdf(y, x, a, b, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    k = (a - 1.0) / z - (b - 1.0) / (1.0 - z)
    d[x] = unbroadcast(d[y] * y * k / scale, x)
    d[a] = unbroadcast(d[y] * y * (np.log(z) - special.digamma(a) + special.digamma(a + b)), a)
    d[b] = unbroadcast(d[y] * y * (np.log1p(-z) - special.digamma(b) + special.digamma(a + b)), b)
    d[loc] = unbroadcast(-d[y] * y * k / scale, loc)
    d[scale] = unbroadcast(-d[y] * y * (k * z + 1.0) / scale, scale)


@_rule("forward", "beta.pdf", part="stats")
def beta_pdf(y, x, a, b, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    k = (a - 1.0) / z - (b - 1.0) / (1.0 - z)
    d[y] = (d[x] * y * k / scale + d[a] * y * (np.log(z) - special.digamma(a) + special.digamma(a + b))
            + d[b] * y * (np.log1p(-z) - special.digamma(b) + special.digamma(a + b))
            - d[loc] * y * k / scale - d[scale] * y * (k * z + 1.0) / scale)


# expon: log pdf(z) = -z, z >= 0 (k = -1).


@_rule("reverse", "expon.logpdf", part="stats")
def expon_logpdf(y, x, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    d[x] = unbroadcast(-d[y] / scale, x)
    d[loc] = unbroadcast(d[y] / scale, loc)
    d[scale] = unbroadcast(d[y] * (z - 1.0) / scale, scale)


@_rule("forward", "expon.logpdf", part="stats")
def expon_logpdf(y, x, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    d[y] = -d[x] / scale + d[loc] / scale + d[scale] * (z - 1.0) / scale


@_rule("reverse", "expon.pdf", part="stats")
def expon_pdf(y, x, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    d[x] = unbroadcast(-d[y] * y / scale, x)
    d[loc] = unbroadcast(d[y] * y / scale, loc)
    d[scale] = unbroadcast(d[y] * y * (z - 1.0) / scale, scale)


@_rule("forward", "expon.pdf", part="stats")
def expon_pdf(y, x, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    d[y] = -d[x] * y / scale + d[loc] * y / scale + d[scale] * y * (z - 1.0) / scale


# chi2: log pdf(z) = (df/2 - 1) log z - z/2 - (df/2) log 2 - gammaln(df/2), z > 0.


@_rule("reverse", "chi2.logpdf", part="stats")
def chi2_logpdf(y, x, df, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    k = (0.5 * df - 1.0) / z - 0.5
    d[x] = unbroadcast(d[y] * k / scale, x)
    d[df] = unbroadcast(d[y] * 0.5 * (np.log(0.5 * z) - special.digamma(0.5 * df)), df)
    d[loc] = unbroadcast(-d[y] * k / scale, loc)
    d[scale] = unbroadcast(-d[y] * (k * z + 1.0) / scale, scale)


@_rule("forward", "chi2.logpdf", part="stats")
def chi2_logpdf(y, x, df, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    k = (0.5 * df - 1.0) / z - 0.5
    d[y] = (d[x] * k / scale + d[df] * 0.5 * (np.log(0.5 * z) - special.digamma(0.5 * df)) - d[loc] * k / scale
            - d[scale] * (k * z + 1.0) / scale)


@_rule("reverse", "chi2.pdf", part="stats")
def chi2_pdf(y, x, df, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    k = (0.5 * df - 1.0) / z - 0.5
    d[x] = unbroadcast(d[y] * y * k / scale, x)
    d[df] = unbroadcast(d[y] * y * 0.5 * (np.log(0.5 * z) - special.digamma(0.5 * df)), df)
    d[loc] = unbroadcast(-d[y] * y * k / scale, loc)
    d[scale] = unbroadcast(-d[y] * y * (k * z + 1.0) / scale, scale)


@_rule("forward", "chi2.pdf", part="stats")
def chi2_pdf(y, x, df, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    k = (0.5 * df - 1.0) / z - 0.5
    d[y] = (d[x] * y * k / scale + d[df] * y * 0.5 * (np.log(0.5 * z) - special.digamma(0.5 * df))
            - d[loc] * y * k / scale - d[scale] * y * (k * z + 1.0) / scale)


# the cdf family of gamma, beta, expon and chi2: s = pdf(z) / scale (the shape parameters refused)


@_rule("reverse", "gamma.cdf", part="stats")
def gamma_cdf(y, x, a, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    s = np.exp((a - 1.0) * np.log(z) - z - special.gammaln(a)) / scale
    d[x] = unbroadcast(d[y] * s, x)
    d[loc] = unbroadcast(-d[y] * s, loc)
    d[scale] = unbroadcast(-d[y] * s * z, scale)


@_rule("forward", "gamma.cdf", part="stats")
def gamma_cdf(y, x, a, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    s = np.exp((a - 1.0) * np.log(z) - z - special.gammaln(a)) / scale
    d[y] = d[x] * s - d[loc] * s - d[scale] * s * z


@_rule("reverse", "gamma.logcdf", part="stats")
def gamma_logcdf(y, x, a, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    s = np.exp((a - 1.0) * np.log(z) - z - special.gammaln(a) - y) / scale
    d[x] = unbroadcast(d[y] * s, x)
    d[loc] = unbroadcast(-d[y] * s, loc)
    d[scale] = unbroadcast(-d[y] * s * z, scale)


@_rule("forward", "gamma.logcdf", part="stats")
def gamma_logcdf(y, x, a, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    s = np.exp((a - 1.0) * np.log(z) - z - special.gammaln(a) - y) / scale
    d[y] = d[x] * s - d[loc] * s - d[scale] * s * z


@_rule("reverse", "gamma.sf", part="stats")
def gamma_sf(y, x, a, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    s = -np.exp((a - 1.0) * np.log(z) - z - special.gammaln(a)) / scale
    d[x] = unbroadcast(d[y] * s, x)
    d[loc] = unbroadcast(-d[y] * s, loc)
    d[scale] = unbroadcast(-d[y] * s * z, scale)


@_rule("forward", "gamma.sf", part="stats")
def gamma_sf(y, x, a, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    s = -np.exp((a - 1.0) * np.log(z) - z - special.gammaln(a)) / scale
    d[y] = d[x] * s - d[loc] * s - d[scale] * s * z


@_rule("reverse", "gamma.logsf", part="stats")
def gamma_logsf(y, x, a, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    s = -np.exp((a - 1.0) * np.log(z) - z - special.gammaln(a) - y) / scale
    d[x] = unbroadcast(d[y] * s, x)
    d[loc] = unbroadcast(-d[y] * s, loc)
    d[scale] = unbroadcast(-d[y] * s * z, scale)


@_rule("forward", "gamma.logsf", part="stats")
def gamma_logsf(y, x, a, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    s = -np.exp((a - 1.0) * np.log(z) - z - special.gammaln(a) - y) / scale
    d[y] = d[x] * s - d[loc] * s - d[scale] * s * z


@_rule("reverse", "beta.cdf", part="stats")
def beta_cdf(y, x, a, b, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    s = np.exp((a - 1.0) * np.log(z) + (b - 1.0) * np.log1p(-z) - special.betaln(a, b)) / scale
    d[x] = unbroadcast(d[y] * s, x)
    d[loc] = unbroadcast(-d[y] * s, loc)
    d[scale] = unbroadcast(-d[y] * s * z, scale)


@_rule("forward", "beta.cdf", part="stats")
def beta_cdf(y, x, a, b, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    s = np.exp((a - 1.0) * np.log(z) + (b - 1.0) * np.log1p(-z) - special.betaln(a, b)) / scale
    d[y] = d[x] * s - d[loc] * s - d[scale] * s * z


@_rule("reverse", "beta.logcdf", part="stats")
def beta_logcdf(y, x, a, b, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    s = np.exp((a - 1.0) * np.log(z) + (b - 1.0) * np.log1p(-z) - special.betaln(a, b) - y) / scale
    d[x] = unbroadcast(d[y] * s, x)
    d[loc] = unbroadcast(-d[y] * s, loc)
    d[scale] = unbroadcast(-d[y] * s * z, scale)


@_rule("forward", "beta.logcdf", part="stats")
def beta_logcdf(y, x, a, b, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    s = np.exp((a - 1.0) * np.log(z) + (b - 1.0) * np.log1p(-z) - special.betaln(a, b) - y) / scale
    d[y] = d[x] * s - d[loc] * s - d[scale] * s * z


@_rule("reverse", "beta.sf", part="stats")
def beta_sf(y, x, a, b, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    s = -np.exp((a - 1.0) * np.log(z) + (b - 1.0) * np.log1p(-z) - special.betaln(a, b)) / scale
    d[x] = unbroadcast(d[y] * s, x)
    d[loc] = unbroadcast(-d[y] * s, loc)
    d[scale] = unbroadcast(-d[y] * s * z, scale)


@_rule("forward", "beta.sf", part="stats")
def beta_sf(y, x, a, b, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    s = -np.exp((a - 1.0) * np.log(z) + (b - 1.0) * np.log1p(-z) - special.betaln(a, b)) / scale
    d[y] = d[x] * s - d[loc] * s - d[scale] * s * z


@_rule("reverse", "beta.logsf", part="stats")
def beta_logsf(y, x, a, b, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    s = -np.exp((a - 1.0) * np.log(z) + (b - 1.0) * np.log1p(-z) - special.betaln(a, b) - y) / scale
    d[x] = unbroadcast(d[y] * s, x)
    d[loc] = unbroadcast(-d[y] * s, loc)
    d[scale] = unbroadcast(-d[y] * s * z, scale)


@_rule("forward", "beta.logsf", part="stats")
def beta_logsf(y, x, a, b, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    s = -np.exp((a - 1.0) * np.log(z) + (b - 1.0) * np.log1p(-z) - special.betaln(a, b) - y) / scale
    d[y] = d[x] * s - d[loc] * s - d[scale] * s * z


@_rule("reverse", "expon.cdf", part="stats")
def expon_cdf(y, x, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    s = np.exp(-z) / scale
    d[x] = unbroadcast(d[y] * s, x)
    d[loc] = unbroadcast(-d[y] * s, loc)
    d[scale] = unbroadcast(-d[y] * s * z, scale)


@_rule("forward", "expon.cdf", part="stats")
def expon_cdf(y, x, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    s = np.exp(-z) / scale
    d[y] = d[x] * s - d[loc] * s - d[scale] * s * z


@_rule("reverse", "expon.logcdf", part="stats")
def expon_logcdf(y, x, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    s = np.exp(-z - y) / scale
    d[x] = unbroadcast(d[y] * s, x)
    d[loc] = unbroadcast(-d[y] * s, loc)
    d[scale] = unbroadcast(-d[y] * s * z, scale)


@_rule("forward", "expon.logcdf", part="stats")
def expon_logcdf(y, x, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    s = np.exp(-z - y) / scale
    d[y] = d[x] * s - d[loc] * s - d[scale] * s * z


@_rule("reverse", "expon.sf", part="stats")
def expon_sf(y, x, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    s = -np.exp(-z) / scale
    d[x] = unbroadcast(d[y] * s, x)
    d[loc] = unbroadcast(-d[y] * s, loc)
    d[scale] = unbroadcast(-d[y] * s * z, scale)


@_rule("forward", "expon.sf", part="stats")
def expon_sf(y, x, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    s = -np.exp(-z) / scale
    d[y] = d[x] * s - d[loc] * s - d[scale] * s * z


@_rule("reverse", "expon.logsf", part="stats")
def expon_logsf(y, x, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    s = -np.exp(-z - y) / scale
    d[x] = unbroadcast(d[y] * s, x)
    d[loc] = unbroadcast(-d[y] * s, loc)
    d[scale] = unbroadcast(-d[y] * s * z, scale)


@_rule("forward", "expon.logsf", part="stats")
def expon_logsf(y, x, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    s = -np.exp(-z - y) / scale
    d[y] = d[x] * s - d[loc] * s - d[scale] * s * z


@_rule("reverse", "chi2.cdf", part="stats")
def chi2_cdf(y, x, df, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    s = np.exp((0.5 * df - 1.0) * np.log(z) - 0.5 * z - 0.5 * df * np.log(2.0) - special.gammaln(0.5 * df)) / scale
    d[x] = unbroadcast(d[y] * s, x)
    d[loc] = unbroadcast(-d[y] * s, loc)
    d[scale] = unbroadcast(-d[y] * s * z, scale)


@_rule("forward", "chi2.cdf", part="stats")
def chi2_cdf(y, x, df, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    s = np.exp((0.5 * df - 1.0) * np.log(z) - 0.5 * z - 0.5 * df * np.log(2.0) - special.gammaln(0.5 * df)) / scale
    d[y] = d[x] * s - d[loc] * s - d[scale] * s * z


@_rule("reverse", "chi2.logcdf", part="stats")
def chi2_logcdf(y, x, df, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    s = np.exp((0.5 * df - 1.0) * np.log(z) - 0.5 * z - 0.5 * df * np.log(2.0) - special.gammaln(0.5 * df) - y) / scale
    d[x] = unbroadcast(d[y] * s, x)
    d[loc] = unbroadcast(-d[y] * s, loc)
    d[scale] = unbroadcast(-d[y] * s * z, scale)


@_rule("forward", "chi2.logcdf", part="stats")
def chi2_logcdf(y, x, df, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    s = np.exp((0.5 * df - 1.0) * np.log(z) - 0.5 * z - 0.5 * df * np.log(2.0) - special.gammaln(0.5 * df) - y) / scale
    d[y] = d[x] * s - d[loc] * s - d[scale] * s * z


@_rule("reverse", "chi2.sf", part="stats")
def chi2_sf(y, x, df, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    s = -np.exp((0.5 * df - 1.0) * np.log(z) - 0.5 * z - 0.5 * df * np.log(2.0) - special.gammaln(0.5 * df)) / scale
    d[x] = unbroadcast(d[y] * s, x)
    d[loc] = unbroadcast(-d[y] * s, loc)
    d[scale] = unbroadcast(-d[y] * s * z, scale)


@_rule("forward", "chi2.sf", part="stats")
def chi2_sf(y, x, df, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    s = -np.exp((0.5 * df - 1.0) * np.log(z) - 0.5 * z - 0.5 * df * np.log(2.0) - special.gammaln(0.5 * df)) / scale
    d[y] = d[x] * s - d[loc] * s - d[scale] * s * z


@_rule("reverse", "chi2.logsf", part="stats")
def chi2_logsf(y, x, df, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    s = -np.exp((0.5 * df - 1.0) * np.log(z) - 0.5 * z - 0.5 * df * np.log(2.0) - special.gammaln(0.5 * df) - y) / scale
    d[x] = unbroadcast(d[y] * s, x)
    d[loc] = unbroadcast(-d[y] * s, loc)
    d[scale] = unbroadcast(-d[y] * s * z, scale)


@_rule("forward", "chi2.logsf", part="stats")
def chi2_logsf(y, x, df, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    s = -np.exp((0.5 * df - 1.0) * np.log(z) - 0.5 * z - 0.5 * df * np.log(2.0) - special.gammaln(0.5 * df) - y) / scale
    d[y] = d[x] * s - d[loc] * s - d[scale] * s * z


# ================================================================ scipy.stats.poisson (w.r.t. the rate)
# log pmf = k log mu - mu - gammaln(k + 1) with k shifted by loc; k and loc are integers (refused).
# d cdf(k) / d mu = -pmf(floor(k)): the sf's is its negative, the logs divide by the value.


@_rule("reverse", "poisson.logpmf", part="stats")
def poisson_logpmf(y, k, mu, loc=0):
    d[mu] = unbroadcast(d[y] * ((k - loc) / mu - 1.0), mu)


@_rule("forward", "poisson.logpmf", part="stats")
def poisson_logpmf(y, k, mu, loc=0):
    d[y] = d[mu] * ((k - loc) / mu - 1.0)


@_rule("reverse", "poisson.pmf", part="stats")
def poisson_pmf(y, k, mu, loc=0):
    d[mu] = unbroadcast(d[y] * y * ((k - loc) / mu - 1.0), mu)


@_rule("forward", "poisson.pmf", part="stats")
def poisson_pmf(y, k, mu, loc=0):
    d[y] = d[mu] * y * ((k - loc) / mu - 1.0)


@_rule("reverse", "poisson.cdf", part="stats")
def poisson_cdf(y, k, mu, loc=0):
    j = np.floor(k - loc)
    d[mu] = unbroadcast(-d[y] * np.exp(special.xlogy(j, mu) - mu - special.gammaln(j + 1.0)), mu)


@_rule("forward", "poisson.cdf", part="stats")
def poisson_cdf(y, k, mu, loc=0):
    j = np.floor(k - loc)
    d[y] = -d[mu] * np.exp(special.xlogy(j, mu) - mu - special.gammaln(j + 1.0))


@_rule("reverse", "poisson.logcdf", part="stats")
def poisson_logcdf(y, k, mu, loc=0):
    j = np.floor(k - loc)
    d[mu] = unbroadcast(-d[y] * np.exp(special.xlogy(j, mu) - mu - special.gammaln(j + 1.0) - y), mu)


@_rule("forward", "poisson.logcdf", part="stats")
def poisson_logcdf(y, k, mu, loc=0):
    j = np.floor(k - loc)
    d[y] = -d[mu] * np.exp(special.xlogy(j, mu) - mu - special.gammaln(j + 1.0) - y)


@_rule("reverse", "poisson.sf", part="stats")
def poisson_sf(y, k, mu, loc=0):
    j = np.floor(k - loc)
    d[mu] = unbroadcast(d[y] * np.exp(special.xlogy(j, mu) - mu - special.gammaln(j + 1.0)), mu)


@_rule("forward", "poisson.sf", part="stats")
def poisson_sf(y, k, mu, loc=0):
    j = np.floor(k - loc)
    d[y] = d[mu] * np.exp(special.xlogy(j, mu) - mu - special.gammaln(j + 1.0))


# ================================================================ scipy.stats.dirichlet
# x holds one point per column (the components on the first axis), on the simplex; SciPy also
# takes the first K - 1 components and completes the last as 1 - their sum (``simplex_points``).
# log pdf = sum_i (alpha_i - 1) log x_i - sum_i gammaln(alpha_i) + gammaln(sum alpha).


def simplex_points(x, n, one=1.0):
    """``x`` with its first axis completed to ``n`` entries by ``one - sum(x, 0)`` where it has
    ``n - 1`` (``one`` = 1.0 for points, 0.0 for their tangents)."""
    x = np.asarray(x, dtype=float)
    if x.shape[0] == n:
        return x
    return np.concatenate([x, (one - np.sum(x, axis=0))[None]], axis=0)


def simplex_adjoint(g, m):
    """The adjoint of ``simplex_points`` for an input with ``m`` entries on the first axis."""
    g = np.asarray(g, dtype=float)
    if g.shape[0] == m:
        return g
    return g[:-1] - g[-1]


def column_shape(alpha, x):
    """The shape that lines the vector ``alpha`` up with the first axis of ``x``."""
    return (np.size(alpha),) + (1,) * (np.ndim(x) - 1)


nondiff(column_shape, why="a shape")


@_rule("reverse", simplex_points, constant=("n", "one"))
def simplex_points_(y, x, n, one=1.0):
    d[x] = simplex_adjoint(d[y], np.shape(x)[0])


@_rule("forward", simplex_points, constant=("n", "one"))
def simplex_points_(y, x, n, one=1.0):
    d[y] = simplex_points(d[x], n, 0.0)


@_rule("reverse", simplex_adjoint, constant=("m",))
def simplex_adjoint_(y, g, m):
    d[g] = simplex_points(d[y], np.shape(g)[0], 0.0)


@_rule("forward", simplex_adjoint, constant=("m",))
def simplex_adjoint_(y, g, m):
    d[y] = simplex_adjoint(d[g], m)


@_rule("reverse", "dirichlet.logpdf", part="stats")
def dirichlet_logpdf(y, x, alpha):
    p = simplex_points(x, np.size(alpha))
    A = np.reshape(alpha, column_shape(alpha, p))
    d[x] = simplex_adjoint(d[y] * (A - 1.0) / p, np.shape(x)[0])
    d[alpha] = np.sum(np.reshape(d[y] * (np.log(p) - special.digamma(A) + special.digamma(np.sum(alpha))),
                                 (np.size(alpha), -1)), axis=1)


@_rule("forward", "dirichlet.logpdf", part="stats")
def dirichlet_logpdf(y, x, alpha):
    p = simplex_points(x, np.size(alpha))
    A = np.reshape(alpha, column_shape(alpha, p))
    d[y] = (np.sum((A - 1.0) / p * simplex_points(d[x], np.size(alpha), 0.0), axis=0)
            + np.sum(np.reshape(d[alpha], column_shape(alpha, p))
                     * (np.log(p) - special.digamma(A) + special.digamma(np.sum(alpha))), axis=0))


@_rule("reverse", "dirichlet.pdf", part="stats")
def dirichlet_pdf(y, x, alpha):
    p = simplex_points(x, np.size(alpha))
    A = np.reshape(alpha, column_shape(alpha, p))
    d[x] = simplex_adjoint(d[y] * y * (A - 1.0) / p, np.shape(x)[0])
    d[alpha] = np.sum(np.reshape(d[y] * y * (np.log(p) - special.digamma(A) + special.digamma(np.sum(alpha))),
                                 (np.size(alpha), -1)), axis=1)


@_rule("forward", "dirichlet.pdf", part="stats")
def dirichlet_pdf(y, x, alpha):
    p = simplex_points(x, np.size(alpha))
    A = np.reshape(alpha, column_shape(alpha, p))
    d[y] = (np.sum((A - 1.0) / p * simplex_points(d[x], np.size(alpha), 0.0), axis=0) * y
            + np.sum(np.reshape(d[alpha], column_shape(alpha, p))
                     * (np.log(p) - special.digamma(A) + special.digamma(np.sum(alpha))), axis=0) * y)


# ================================================================ scipy.linalg
# Real square matrices. The helpers below are linear (each rule of one names the other), so the
# rules of expm, sqrtm, solve_sylvester and solve_triangular differentiate again to any order.


def _transposes(trans):
    """Does solve_triangular's ``trans`` (0/'N', 1/'T', 2/'C') solve with the transpose?"""
    return trans in (1, 2, "T", "C")


def flip_trans(trans):
    """The ``trans`` of the transposed system (real matrices: 'C' is 'T')."""
    return 0 if _transposes(trans) else 1


def transpose_if(m, trans):
    """``m`` transposed where ``trans`` says the system is solved with the transpose."""
    return np.swapaxes(m, -1, -2) if _transposes(trans) else m


def triangle(m, lower=False, unit_diagonal=False):
    """The triangle of ``m`` that solve_triangular reads (its diagonal left out with
    ``unit_diagonal``)."""
    t = np.tril(m) if lower else np.triu(m)
    return t - np.tril(np.triu(t)) if unit_diagonal else t


nondiff(flip_trans, why="an option")


@_rule("reverse", transpose_if, constant=("trans",), part="linalg")
def transpose_if_(y, m, trans):
    d[m] = transpose_if(d[y], trans)


@_rule("forward", transpose_if, constant=("trans",), part="linalg")
def transpose_if_(y, m, trans):
    d[y] = transpose_if(d[m], trans)


@_rule("reverse", triangle, constant=("lower", "unit_diagonal"), part="linalg")
def triangle_(y, m, lower=False, unit_diagonal=False):
    d[m] = triangle(d[y], lower, unit_diagonal)


@_rule("forward", triangle, constant=("lower", "unit_diagonal"), part="linalg")
def triangle_(y, m, lower=False, unit_diagonal=False):
    d[y] = triangle(d[m], lower, unit_diagonal)


# x = op(A)^-1 b with op(A) = A or A^T made of A's triangle: db = op(A)^-T g,
# dA = -triangle(db x^T) (its transpose for op = transpose). b is a vector or a matrix.
@_rule("reverse", "solve_triangular", part="linalg")
def solve_triangular(y, a, b, trans=0, lower=False, unit_diagonal=False, overwrite_b=False, check_finite=True):
    g = linalg.solve_triangular(a, d[y], trans=flip_trans(trans), lower=lower, unit_diagonal=unit_diagonal)
    d[b] = g
    n = np.shape(a)[0]
    d[a] = -triangle(transpose_if(np.reshape(g, (n, -1)) @ np.transpose(np.reshape(y, (n, -1))), trans), lower,
                     unit_diagonal)


@_rule("forward", "solve_triangular", part="linalg")
def solve_triangular(y, a, b, trans=0, lower=False, unit_diagonal=False, overwrite_b=False, check_finite=True):
    d[y] = (linalg.solve_triangular(a, d[b], trans=trans, lower=lower, unit_diagonal=unit_diagonal)
            - linalg.solve_triangular(a, transpose_if(triangle(d[a], lower, unit_diagonal), trans) @ y, trans=trans,
                                      lower=lower, unit_diagonal=unit_diagonal))


# x = solve_sylvester(a, b, q): a x + x b = q. Linear in q; da x + x db moves to the right side.
@_rule("reverse", "solve_sylvester", part="linalg")
def solve_sylvester(y, a, b, q):
    g = linalg.solve_sylvester(np.transpose(a), np.transpose(b), d[y])
    d[q] = g
    d[a] = -g @ np.transpose(y)
    d[b] = -np.transpose(y) @ g


@_rule("forward", "solve_sylvester", part="linalg")
def solve_sylvester(y, a, b, q):
    d[y] = (linalg.solve_sylvester(a, b, d[q]) - linalg.solve_sylvester(a, b, d[a] @ y)
            - linalg.solve_sylvester(a, b, y @ d[b]))


# X = sqrtm(A), X X = A: X dX + dX X = dA (a Sylvester equation; its transpose for the adjoint).
# Defined where X's eigenvalues have no two summing to zero (A with no eigenvalue <= 0 has one).
@_rule("reverse", "sqrtm", part="linalg")
def sqrtm(y, A, disp=True, blocksize=64):
    d[A] = linalg.solve_sylvester(np.transpose(y), np.transpose(y), d[y])


@_rule("forward", "sqrtm", part="linalg")
def sqrtm(y, A, disp=True, blocksize=64):
    d[y] = linalg.solve_sylvester(y, y, d[A])


# The Frechet derivative of expm along E is the upper right block of expm([[A, E], [0, A]]); its
# adjoint is the same with A^T. Written with expm itself, the rules differentiate again.
def diagonal_blocks(a):
    """``[[a, 0], [0, a]]``."""
    z = np.zeros_like(a)
    return np.concatenate([np.concatenate([a, z], axis=-1), np.concatenate([z, a], axis=-1)], axis=-2)


def corner_block(e):
    """``[[0, e], [0, 0]]``."""
    z = np.zeros_like(e)
    return np.concatenate([np.concatenate([z, e], axis=-1), np.concatenate([z, z], axis=-1)], axis=-2)


def diagonal_blocks_adjoint(g):
    """The adjoint of ``diagonal_blocks``: the sum of the two diagonal blocks of ``g``."""
    n = np.shape(g)[-1] // 2
    return g[..., :n, :n] + g[..., n:, n:]


def corner_of(m):
    """The upper right block of ``m`` (the adjoint of ``corner_block``)."""
    n = np.shape(m)[-1] // 2
    return m[..., :n, n:]


@_rule("reverse", diagonal_blocks, part="linalg")
def diagonal_blocks_(y, a):
    d[a] = diagonal_blocks_adjoint(d[y])


@_rule("forward", diagonal_blocks, part="linalg")
def diagonal_blocks_(y, a):
    d[y] = diagonal_blocks(d[a])


@_rule("reverse", diagonal_blocks_adjoint, part="linalg")
def diagonal_blocks_adjoint_(y, g):
    d[g] = diagonal_blocks(d[y])


@_rule("forward", diagonal_blocks_adjoint, part="linalg")
def diagonal_blocks_adjoint_(y, g):
    d[y] = diagonal_blocks_adjoint(d[g])


@_rule("reverse", corner_block, part="linalg")
def corner_block_(y, e):
    d[e] = corner_of(d[y])


@_rule("forward", corner_block, part="linalg")
def corner_block_(y, e):
    d[y] = corner_block(d[e])


@_rule("reverse", corner_of, part="linalg")
def corner_of_(y, m):
    d[m] = corner_block(d[y])


@_rule("forward", corner_of, part="linalg")
def corner_of_(y, m):
    d[y] = corner_of(d[m])


@_rule("reverse", "expm", part="linalg")
def expm(y, A):
    d[A] = corner_of(linalg.expm(diagonal_blocks(np.swapaxes(A, -1, -2)) + corner_block(d[y])))


@_rule("forward", "expm", part="linalg")
def expm(y, A):
    d[y] = corner_of(linalg.expm(diagonal_blocks(A) + corner_block(d[A])))


# ================================================================ frozen distributions
# ``norm(mu, sigma).logpdf(x)`` is ``norm.logpdf(x, mu, sigma)``: SciPy's frozen distribution
# keeps the parameters and passes them after the method's own arguments. ``unfreeze`` rewrites
# such method calls (after normalization, in the analysis step of both modes) into calls of the
# unfrozen method, which has a rule:
#
# * a distribution frozen in the function (``d = norm(mu, s)``, or ``norm(mu, s).pdf(x)``, which
#   normalizes to one): its later ``d.logpdf(x)`` in the same block, up to any statement that
#   assigns ``d`` or a parameter (or calls a method of one), reads the parameters directly; the
#   freezing statement goes when nothing reads ``d`` any more. Otherwise ``d`` stays a frozen
#   object: a derivative through it is refused (SciPy's code is never read);
# * a distribution frozen outside (a global or closure ``D = norm(0.0, 2.0)``): ``D.logpdf(x)``
#   passes ``D``'s parameters (numbers as literals, arrays by reference). ``D.logpdf`` stays
#   guarded: a ``D`` rebound to another distribution regenerates the derivative.

FROZEN_METHODS = ("logpdf", "pdf", "logcdf", "cdf", "logsf", "sf", "logpmf", "pmf", "ppf", "isf",
                  "mean", "var", "std", "median", "entropy")


def _distribution(obj):
    """Is ``obj`` a SciPy distribution (``scipy.stats.norm``, ``multivariate_normal``...)?"""
    infra = sys.modules.get("scipy.stats._distn_infrastructure")
    multi = sys.modules.get("scipy.stats._multivariate")
    return (infra is not None and isinstance(obj, infra.rv_generic)
            or multi is not None and isinstance(obj, multi.multi_rv_generic))


def _passes_parameters(dist, method, freeze):
    """Does ``dist(*p).method(*a)`` equal ``dist.method(*a, *p)`` for the freezing call ``freeze``?
    True for the univariate distributions; for the multivariate ones where the method's
    parameters after ``x`` are the freezing call's (``seed`` left out)."""
    infra = sys.modules["scipy.stats._distn_infrastructure"]
    if isinstance(dist, infra.rv_generic):
        return True
    import inspect
    try:
        made = [p for p in inspect.signature(dist.__call__).parameters.values()
                if p.name != "seed" and p.kind is p.POSITIONAL_OR_KEYWORD]
        takes = list(inspect.signature(getattr(dist, method)).parameters)
    except (TypeError, ValueError, AttributeError):
        return False
    names = [p.name for p in made]
    return (takes[1:1 + len(names)] == names and len(freeze.args) <= len(names)
            and all(k.arg in names for k in freeze.keywords))


def _touches(stmt, names, params):
    """Does ``stmt`` assign one of ``names`` (or an item or attribute of one), or call a method
    of one of ``params`` (which may change it in place)?"""
    import gast
    for n in gast.walk(stmt):
        if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store) and n.id in names:
            return True
        if isinstance(n, (gast.Subscript, gast.Attribute)) and isinstance(n.ctx, gast.Store):
            base = n.value
            while isinstance(base, (gast.Subscript, gast.Attribute)):
                base = base.value
            if isinstance(base, gast.Name) and base.id in names:
                return True
        if isinstance(n, gast.Call) and isinstance(n.func, gast.Attribute) and \
                isinstance(n.func.value, gast.Name) and n.func.value.id in params:
            return True
    return False


def unfreeze(body, info, local_names, env):
    """``body`` with the method calls of frozen distributions made calls of the distribution's own
    methods (see above). Runs where scipy.stats is imported."""
    import gast
    from srcad import callees
    from srcad.astutil import N, clone, const, names_read, walk_stmts

    def method_call(s):
        """(receiver node, method name) of ``v = <receiver>.<method>(...)``, or None."""
        value = s.value if isinstance(s, gast.Assign) else None
        if isinstance(value, gast.Call) and isinstance(value.func, gast.Attribute) and \
                value.func.attr in FROZEN_METHODS and not any(isinstance(a, gast.Starred) for a in value.args) \
                and all(k.arg is not None for k in value.keywords):
            return value.func.value, value.func.attr
        return None

    def local_frozen(stmts):
        for i, s in enumerate(stmts):
            for field in ("body", "orelse"):
                if isinstance(getattr(s, field, None), list):
                    local_frozen(getattr(s, field))
            if not (isinstance(s, gast.Assign) and len(s.targets) == 1 and isinstance(s.targets[0], gast.Name)
                    and isinstance(s.value, gast.Call)):
                continue
            freeze = s.value
            if any(isinstance(a, gast.Starred) for a in freeze.args) or any(k.arg is None for k in freeze.keywords):
                continue
            where = callees.resolve(freeze.func, info, local_names, strict=False)
            if where is None or where.kind != "static" or not _distribution(where.obj):
                continue
            name = s.targets[0].id
            params = {a.id for a in freeze.args if isinstance(a, gast.Name)} | \
                {k.value.id for k in freeze.keywords if isinstance(k.value, gast.Name)}
            for later in stmts[i + 1:]:
                if _touches(later, params | {name}, params):
                    break
                for t in walk_stmts([later]):
                    found = method_call(t)
                    if found and isinstance(found[0], gast.Name) and found[0].id == name and \
                            hasattr(where.obj, found[1]) and _passes_parameters(where.obj, found[1], freeze):
                        call = t.value
                        call.func = gast.Attribute(value=clone(freeze.func), attr=found[1], ctx=gast.Load())
                        call.args = call.args + clone(freeze.args)
                        call.keywords = call.keywords + clone(freeze.keywords)

    def static_frozen(stmts):
        infra = sys.modules["scipy.stats._distn_infrastructure"]
        for t in walk_stmts(stmts):
            found = method_call(t)
            if not found or isinstance(found[0], gast.Name) and found[0].id in local_names:
                continue
            where = callees.resolve(t.value.func, info, local_names, strict=False)
            frozen = getattr(where.obj, "__self__", None) if where is not None and where.kind == "static" else None
            if not isinstance(frozen, infra.rv_frozen):
                continue
            dist = getattr(sys.modules["scipy.stats"], getattr(frozen.dist, "name", ""), None)
            if type(dist) is not type(frozen.dist):
                continue    # a distribution of the user's own: its frozen form stays (refused)
            ref = env.ref_name(frozen.dist.name, dist)
            info.extra.setdefault(ref, dist)

            def param(v):
                if type(v) in (int, float, bool):
                    return const(v)
                p = env.ref_name("param", v)
                info.extra.setdefault(p, v)
                return N(p)
            call = t.value
            call.func = gast.Attribute(value=N(ref), attr=found[1], ctx=gast.Load())
            call.args = call.args + [param(v) for v in frozen.args]
            call.keywords = call.keywords + [gast.keyword(arg=k, value=param(v)) for k, v in frozen.kwds.items()]

    local_frozen(body)
    static_frozen(body)

    def drop_unread(stmts):
        out = []
        for s in stmts:
            for field in ("body", "orelse"):
                if isinstance(getattr(s, field, None), list):
                    setattr(s, field, drop_unread(getattr(s, field)) or [gast.Pass()])
            if isinstance(s, gast.Assign) and len(s.targets) == 1 and isinstance(s.targets[0], gast.Name) and \
                    s.targets[0].id in frozen_names and s.targets[0].id not in read:
                continue
            out.append(s)
        return out
    frozen_names = set()
    for s in walk_stmts(body):
        if isinstance(s, gast.Assign) and len(s.targets) == 1 and isinstance(s.targets[0], gast.Name) and \
                isinstance(s.value, gast.Call):
            where = callees.resolve(s.value.func, info, local_names, strict=False)
            if where is not None and where.kind == "static" and _distribution(where.obj):
                frozen_names.add(s.targets[0].id)
    read = names_read(body)
    return drop_unread(body)


# ---------------------------------------------------------------- cho_factor, cho_solve
# cho_factor(a, lower) returns (c, lower): c holds the Cholesky factor of the symmetric matrix S
# made of the triangle of a it reads (L in c's lower triangle, or L^T in its upper one) and a's own
# entries in the other strict triangle. So c = place(cholesky(S)) + rest(a); cho_solve((c, lower), b)
# solves L L^T x = b with L read back from c. The helpers are linear, transposes in pairs.


def symmetric_from(a, lower):
    """The symmetric matrix LAPACK factors: ``a``'s lower (upper) triangle, mirrored."""
    return np.tril(a) + np.transpose(np.tril(a, -1)) if lower else np.triu(a) + np.transpose(np.triu(a, 1))


def symmetric_from_adjoint(g, lower):
    """The adjoint of ``symmetric_from``."""
    return np.tril(g) + np.tril(np.transpose(g), -1) if lower else np.triu(g) + np.triu(np.transpose(g), 1)


def unread_part(a, lower):
    """The strict triangle of ``a`` that cho_factor leaves as it is (self-adjoint)."""
    return np.triu(a, 1) if lower else np.tril(a, -1)


def factor_of(c, lower):
    """The lower-triangular factor L stored in ``c`` (as L, or as L^T with ``lower`` False)."""
    return np.tril(c) if lower else np.transpose(np.triu(c))


def factor_into(m, lower):
    """``m``'s lower triangle put where ``c`` stores the factor: the transpose of ``factor_of``."""
    return np.tril(m) if lower else np.triu(np.transpose(m))


@_rule("reverse", symmetric_from, constant=("lower",), part="linalg")
def symmetric_from_(y, a, lower):
    d[a] = symmetric_from_adjoint(d[y], lower)


@_rule("forward", symmetric_from, constant=("lower",), part="linalg")
def symmetric_from_(y, a, lower):
    d[y] = symmetric_from(d[a], lower)


@_rule("reverse", symmetric_from_adjoint, constant=("lower",), part="linalg")
def symmetric_from_adjoint_(y, g, lower):
    d[g] = symmetric_from(d[y], lower)


@_rule("forward", symmetric_from_adjoint, constant=("lower",), part="linalg")
def symmetric_from_adjoint_(y, g, lower):
    d[y] = symmetric_from_adjoint(d[g], lower)


@_rule("reverse", unread_part, constant=("lower",), part="linalg")
def unread_part_(y, a, lower):
    d[a] = unread_part(d[y], lower)


@_rule("forward", unread_part, constant=("lower",), part="linalg")
def unread_part_(y, a, lower):
    d[y] = unread_part(d[a], lower)


@_rule("reverse", factor_of, constant=("lower",), part="linalg")
def factor_of_(y, c, lower):
    d[c] = factor_into(d[y], lower)


@_rule("forward", factor_of, constant=("lower",), part="linalg")
def factor_of_(y, c, lower):
    d[y] = factor_of(d[c], lower)


@_rule("reverse", factor_into, constant=("lower",), part="linalg")
def factor_into_(y, m, lower):
    d[m] = factor_of(d[y], lower)


@_rule("forward", factor_into, constant=("lower",), part="linalg")
def factor_into_(y, m, lower):
    d[y] = factor_into(d[m], lower)


def cho_matrix(c_and_lower):
    """The matrix of cho_factor's pair (its adjoint is the pair (g, 0), a ``Parts``, so that
    adjoints of the pair from several uses add item by item)."""
    return c_and_lower[0]


def cho_lower(c_and_lower):
    """The ``lower`` flag of cho_factor's pair."""
    return c_and_lower[1]


nondiff(cho_lower, why="a flag")


@_rule("reverse", cho_matrix, part="linalg")
def cho_matrix_(y, c_and_lower):
    d[c_and_lower] = slot(d[y], 0, 2)


@_rule("forward", cho_matrix, part="linalg")
def cho_matrix_(y, c_and_lower):
    d[y] = cho_matrix(d[c_and_lower])


@_rule("reverse", "cho_factor", part="linalg")
def cho_factor(y, a, lower=False, overwrite_a=False, check_finite=True):
    g = cho_matrix(d[y])
    d[a] = (symmetric_from_adjoint(cholesky_adjoint(factor_of(g, lower), factor_of(cho_matrix(y), lower)), lower)
            + unread_part(g, lower))


@_rule("forward", "cho_factor", part="linalg")
def cho_factor(y, a, lower=False, overwrite_a=False, check_finite=True):
    d[y] = (slot(factor_into(cholesky_tangent(symmetric_from(d[a], lower), factor_of(cho_matrix(y), lower)), lower),
                 0, 2)
            + slot(unread_part(d[a], lower), 0, 2))


# x = S^-1 b with S = L L^T: db = S^-1 g; dS = -db x^T (symmetrised), dL = 2 dS L (lower part).
@_rule("reverse", "cho_solve", part="linalg")
def cho_solve(y, c_and_lower, b, overwrite_b=False, check_finite=True):
    lower = cho_lower(c_and_lower)
    g = linalg.cho_solve(c_and_lower, d[y])
    n = np.shape(b)[0]
    gx = np.reshape(g, (n, -1)) @ np.transpose(np.reshape(y, (n, -1)))
    d[b] = g
    d[c_and_lower] = slot(factor_into(-(gx + np.transpose(gx)) @ factor_of(cho_matrix(c_and_lower), lower), lower),
                          0, 2)


@_rule("forward", "cho_solve", part="linalg")
def cho_solve(y, c_and_lower, b, overwrite_b=False, check_finite=True):
    lower = cho_lower(c_and_lower)
    L = factor_of(cho_matrix(c_and_lower), lower)
    d[y] = (linalg.cho_solve(c_and_lower, d[b])
            - linalg.cho_solve(c_and_lower, factor_of(cho_matrix(d[c_and_lower]), lower) @ (np.transpose(L) @ y))
            - linalg.cho_solve(c_and_lower, L @ (np.transpose(factor_of(cho_matrix(d[c_and_lower]), lower)) @ y)))
