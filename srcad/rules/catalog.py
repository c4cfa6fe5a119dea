"""The list of supported functions, made from the rule tables (docs/rules.md is generated from it).

``supported()`` returns one entry per user-facing rule key: NumPy functions, Python builtins, array
methods and attributes, with whether a reverse rule, a forward rule or a zero derivative is known.
srcad's own runtime helpers (the functions generated code calls) are left out.
"""

import builtins
import math
import operator

import numpy as np

from srcad.rules.registry import FORWARD, NONDIFF, REVERSE


_NP_NAMES = {}
for _n in sorted(dir(np)):
    if not _n.startswith("_"):
        _NP_NAMES.setdefault(id(getattr(np, _n)), []).append(_n)


def _names(key):
    """Every user-facing name of a rule key (aliases such as np.abs/np.absolute included)."""
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


def supported():
    """Sorted list of (name, kind) with kind 'reverse+forward', 'reverse', 'forward' or 'zero'."""
    out = {}
    for table, tag in ((REVERSE, "reverse"), (FORWARD, "forward")):
        for key in list(table):
            for name in _names(key):
                out.setdefault(name, set()).add(tag)
    rows = []
    for name, tags in out.items():
        kind = "reverse+forward" if tags == {"reverse", "forward"} else tags.pop()
        rows.append((name, kind))
    for key in list(NONDIFF):
        for name in _names(key):
            if name not in out:
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
