"""The list of supported functions, made from the rule tables (docs/rules.md is generated from it).

``supported()`` returns one entry per user-facing rule key: NumPy functions, Python builtins, array
methods and attributes, with whether a reverse rule, a forward rule or a zero derivative is known.
srcad's own runtime helpers (the functions generated code calls) are left out. SciPy's functions
(an optional extra, registered on first use) are listed apart by ``scipy_supported()``, so that the
NumPy list does not depend on whether SciPy is installed or was used.
"""

import builtins
import math
import operator
import sys

import numpy as np

from srcad.rules.registry import FORWARD, NONDIFF, REVERSE


_NP_NAMES = {}
for _n in sorted(dir(np)):
    if not _n.startswith("_"):
        _NP_NAMES.setdefault(id(getattr(np, _n)), []).append(_n)


def _scipy_names(key):
    """The names of a SciPy rule key (``scipy.special.gammaln``), None for other keys."""
    mod = sys.modules.get("srcad.rules.scipy_rules")
    try:
        return None if mod is None else mod.NAMES.get(key)
    except TypeError:
        return None


def _names(key):
    """Every user-facing name of a rule key (aliases such as np.abs/np.absolute included)."""
    scipy_names = _scipy_names(key)
    if scipy_names is not None:
        return list(scipy_names)
    if isinstance(key, tuple) or not isinstance(key, np.ufunc) and getattr(key, "__module__", "") != "numpy":
        name = _name(key)
        return [name] if name else []
    found = _NP_NAMES.get(id(key))
    if found and all(getattr(np, n) is key for n in found):
        return [f"np.{n}" for n in found]
    name = _name(key)
    return [name] if name else []


def _name(key):
    """A user-facing name for a rule key, or None for srcad's own helpers."""
    if isinstance(key, tuple):
        kind, name = key
        return f"x.{name}()" if kind == "method" else f"x.{name}"
    if isinstance(key, np.ufunc):
        return f"np.{key.__name__}"
    mod = getattr(key, "__module__", None) or ""
    name = getattr(key, "__name__", None)
    if name is None:
        return None
    if getattr(builtins, name, None) is key:
        return name
    if mod == "math" and getattr(math, name, None) is key:
        from srcad.rules.python_rules import MATH_KEYS
        return f"math.{name}" if key in MATH_KEYS else None
    if mod in ("operator", "_operator") and getattr(operator, name, None) is key:
        return f"operator.{name}"
    if mod == "numpy.random" or mod.startswith("numpy.random."):
        return f"np.random.{name}"
    if mod.startswith("numpy"):
        sub = mod.split(".")[1] if "." in mod else ""
        if sub == "linalg" and getattr(np.linalg, name, None) is key:
            return f"np.linalg.{name}"
        if sub == "fft" and getattr(np.fft, name, None) is key:
            return f"np.fft.{name}"
        if getattr(np, name, None) is key:
            return f"np.{name}"
        if getattr(np.linalg, name, None) is key:
            return f"np.linalg.{name}"
        return None
    return None


def supported(scipy=False):
    """Sorted list of (name, kind) with kind 'reverse+forward', 'reverse', 'forward' or 'zero'.

    SciPy's functions only with ``scipy=True``, and then only them (see ``scipy_supported``)."""
    out = {}
    for table, tag in ((REVERSE, "reverse"), (FORWARD, "forward")):
        for key in list(table):
            for name in _names(key):
                if name.startswith("scipy.") == scipy:
                    out.setdefault(name, set()).add(tag)
    rows = []
    for name, tags in out.items():
        kind = "reverse+forward" if tags == {"reverse", "forward"} else tags.pop()
        rows.append((name, kind))
    for key in list(NONDIFF):
        for name in _names(key):
            if name not in out and name.startswith("scipy.") == scipy:
                rows.append((name, "zero"))
    order = {"np.": 0, "x.": 2}
    return sorted(set(rows), key=lambda r: (order.get(r[0][:2], 1) if r[0][:3] != "np." else 0,
                                            r[1] == "zero", r[0]))


def markdown():
    """The supported-function list as the Markdown docs/rules.md embeds."""
    rows = supported()
    diff = [n for n, k in rows if k != "zero"]
    partial = [(n, k) for n, k in rows if k in ("reverse", "forward")]
    zero = [n for n, k in rows if k == "zero"]
    lines = [f"Differentiable ({len(diff)}; reverse and forward rules unless noted):", ""]
    lines.append(", ".join(f"`{n}`" + (f" ({k} only)" if (n, k) in partial else "") for n in diff
                           for k in [dict(rows)[n]]))
    lines += ["", f"Zero derivative ({len(zero)}; piecewise constant, integer-valued or not numeric):", ""]
    lines.append(", ".join(f"`{n}`" for n in zero))
    return "\n".join(lines) + "\n"


def scipy_supported():
    """``supported()`` for SciPy's functions: registers srcad's SciPy rules (importing
    scipy.special, scipy.stats and scipy.linalg); [] where SciPy is not installed."""
    try:
        import scipy.linalg  # noqa: F401
        import scipy.special  # noqa: F401
        import scipy.stats  # noqa: F401
    except ImportError:
        return []
    from srcad.rules import scipy_rules
    scipy_rules.register("scipy.stats")
    scipy_rules.register("scipy.linalg")
    return supported(scipy=True)


def scipy_markdown():
    """The SciPy list as docs/rules.md embeds it (None where SciPy is not installed)."""
    rows = scipy_supported()
    if not rows:
        return None
    kinds = dict(rows)
    lines = [f"With the `scipy` extra ({len(rows)}; reverse and forward rules unless noted):", ""]
    lines.append(", ".join(f"`{n}`" + (f" ({kinds[n]} only)" if kinds[n] in ("reverse", "forward") else "")
                           + (" (zero derivative)" if kinds[n] == "zero" else "") for n, _ in rows))
    return "\n".join(lines) + "\n"
