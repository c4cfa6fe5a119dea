"""User-defined derivative rules: ``@srcad.defvjp``, ``@srcad.defjvp``, ``srcad.nondifferentiable``.

For a function srcad cannot read (a C extension, a compiled ufunc, a function without source) or
whose derivative you want to state yourself, write a rule template in the same style as srcad's
built-in rules (see ``srcad/rules/numpy_rules.py`` and docs/rules.md)::

    import math
    import numpy as np
    import srcad

    @srcad.defvjp(math.erf)
    def erf_vjp(y, x):
        d[x] = d[y] * 2.0 / math.sqrt(math.pi) * math.exp(-x * x)

    @srcad.defjvp(math.erf)
    def erf_jvp(y, x):
        d[y] = d[x] * 2.0 / math.sqrt(math.pi) * math.exp(-x * x)

The first parameter names the output, the others the function's parameters (the names a call's
keywords use; defaults fill in for omitted arguments; ``*args`` collects extra positionals). A
reverse template has one ``d[p] = <adjoint contribution>`` line per differentiable input
(temporaries ``t = ...`` may come first); a forward template ends with ``d[y] = term + term``, each
term linear in one ``d[p]``. Names other than the parameters (``np``, ``math``, your own helpers)
are looked up in the template's module. The template is never called: srcad splices its lines into
the generated derivative, where it stays readable.

A rule replaces srcad's reading of the function's source, so it also serves to give a Python
function a hand-written (more stable, cheaper, or deliberately altered) derivative. Rules apply to
derivatives built after registration (srcad forgets the derivatives it has already built).
"""

from srcad import pipeline
from srcad.rules import registry


def _keys(fn, more):
    keys = (fn,) + tuple(more)
    for k in keys:
        if not (callable(k) or isinstance(k, tuple)):
            raise TypeError(f"srcad: a rule is keyed by the function it differentiates, not {k!r}")
    return keys


def _forget():
    """Drop derivatives built before a rule changed (both modes)."""
    pipeline.clear_cache()


def defvjp(fn, *more):
    """Register a reverse-mode (vector-Jacobian) rule template for ``fn`` (and ``more`` aliases).

    Use as a decorator on the template; returns the template unchanged. Keys may also be
    ``srcad.method("name")`` for ``x.name(...)`` or ``srcad.attribute("name")`` for ``x.name``.
    """
    keys = _keys(fn, more)

    def deco(template):
        registry.reverse(*keys)(template)
        _forget()
        return template
    return deco


def defjvp(fn, *more):
    """Register a forward-mode (Jacobian-vector) rule template for ``fn`` (and ``more`` aliases)."""
    keys = _keys(fn, more)

    def deco(template):
        registry.forward(*keys)(template)
        _forget()
        return template
    return deco


def nondifferentiable(*fns, why="declared nondifferentiable"):
    """Declare that ``fns`` have zero derivative (their results carry no gradient)."""
    if fns:
        _keys(fns[0], fns[1:])
    registry.nondiff(*fns, why=why)
    _forget()


method = registry.method
attribute = registry.attribute
