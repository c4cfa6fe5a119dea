"""What a call in the user's code calls: the one resolver every pass uses.

``resolve(func, info, local_names)`` reads the callee expression of a call (``f``, ``np.sin``,
``lib.helper``, ``x.sum``) and says which of three things it is:

* ``Callee("static", obj=...)``: a name (or a chain of attributes on a name) that is not a local
  variable, resolved where the function is defined (its closure, its module, the builtins). What it
  resolved to is noted for the derivative's guards (guards.py): generation relied on it;
* ``Callee("method", receiver=..., name=...)``: a method of a local value (``x.sum``);
* ``Callee("local", name=...)``: a function held in a local variable.
"""

from dataclasses import dataclass
from typing import Any, Optional

import gast

from srcad import guards
from srcad.errors import TransformError, fail_at


@dataclass(frozen=True)
class Callee:
    kind: str                           # "static", "method" or "local"
    obj: Any = None                     # static: the object called
    receiver: Optional[gast.AST] = None  # method: the value whose method it is
    name: Optional[str] = None          # method: its name; local: the variable

    def is_(self, obj):
        """Is this the static callee ``obj``?"""
        return self.kind == "static" and self.obj is obj


def resolve(func, info, local_names, strict=True):
    """The ``Callee`` of the callee expression ``func``.

    ``strict``: a name that is not defined (or a missing attribute) raises ``TransformError`` at the
    user's line; otherwise the result is None."""
    if isinstance(func, gast.Name):
        if func.id in local_names:
            return Callee("local", name=func.id)
        ok, obj = info.resolve(func.id)
        if not ok:
            return _undefined(strict, f"name '{func.id}' is not defined", info, func, "name")
        return Callee("static", obj=obj)
    chain, node = [], func
    while isinstance(node, gast.Attribute) or isinstance(node, gast.Subscript) and const_index(node.slice) is not None:
        chain.append(node.attr if isinstance(node, gast.Attribute) else const_index(node.slice))
        node = node.value
    if not isinstance(node, gast.Name) or node.id in local_names:
        if isinstance(func, gast.Attribute):
            return Callee("method", receiver=func.value, name=func.attr)
        return Callee("local", name=None)   # a computed function (``fs[0](x)``)
    ok, obj = info.resolve(node.id)
    if not ok:
        return _undefined(strict, f"name '{node.id}' is not defined", info, node, "name")
    for attr in reversed(chain):
        if type(attr) is int:
            # ``M.layers[0]``: an element of a global's list, guarded with the list's length
            if type(obj) not in (list, tuple) or not -len(obj) <= attr < len(obj):
                return None if isinstance(func, gast.Subscript) or not strict else \
                    _undefined(strict, f"{node.id}: no element {attr}", info, node, "subscript")
            obj = guards.item_noted(obj, attr)
            continue
        try:
            obj = guards.getattr_noted(obj, attr)
        except AttributeError:
            return _undefined(strict, f"{node.id} has no attribute {attr}", info, node, "attribute")
    return Callee("static", obj=obj)


def const_index(node):
    """The int a subscript ``0`` or ``-1`` spells, else None (``inline`` reads it too)."""
    if isinstance(node, gast.Constant) and type(node.value) is int:
        return node.value
    if isinstance(node, gast.UnaryOp) and isinstance(node.op, gast.USub) and isinstance(node.operand, gast.Constant) \
            and type(node.operand.value) is int:
        return -node.operand.value
    return None


def _undefined(strict, message, info, node, construct):
    """A name or attribute that does not exist (a typo: ``np.exq``): refused at the user's line,
    quoted (inside an inlined helper: the helper's line, then the calls that led there)."""
    if strict:
        lineno = getattr(node, "lineno", None)
        if lineno is None:
            raise TransformError(message, info.filename, None, construct)
        fail_at(info, lineno, message, construct)
    return None
