"""Derivative rules: plain Python templates, parsed once, spliced with the right names.

A rule is written as a function whose first parameter names the output and whose other
parameters name the inputs, in the order and with the names the differentiated function uses::

    @reverse(np.sin)
    def sin(y, x):
        d[x] = d[y] * np.cos(x)

    @forward(np.sin)
    def sin(y, x):
        d[y] = d[x] * np.cos(x)

In a reverse rule each ``d[p] = ...`` line gives the adjoint contribution to input ``p``; only the
lines for inputs that are active at a call site are spliced in (plus the temporaries they read).
A forward rule's ``d[y] = ...`` is a sum of terms, each linear in one input tangent ``d[p]``; terms
whose tangent is a known zero are dropped. Names the template reads that are neither parameters nor
temporaries (``np``, runtime helpers) are resolved in the rule's module.

Most rules are declared once for both modes, which makes the same templates::

    elementwise(np.sin, "d * np.cos(x)")        # d: the derivative flowing through, times a factor

    @linear(np.transpose)                       # forward: np.transpose(d[a], axes)
    def transpose(y, a, axes=None):
        d[a] = np.transpose(d[y], inverse_axes(axes))
"""

import builtins
import inspect
import linecache
import re
import sys
import textwrap
import types

import gast
import numpy as np

from srcad.astutil import clone


def _scipy_rules(key):
    """Register srcad's SciPy rules (srcad/rules/scipy_rules.py) the first time a SciPy function is
    looked up: ``import srcad`` never imports SciPy. True when the rules of ``key``'s part of SciPy
    are registered (look again). SciPy's ufuncs (``scipy.special.gammaln``) name no module."""
    if "scipy" not in sys.modules:
        return False
    mod = getattr(key, "__module__", None)
    if not (mod.startswith("scipy.") if isinstance(mod, str) else isinstance(key, np.ufunc)):
        return False
    from srcad.rules import scipy_rules
    return scipy_rules.register(mod)


class _Table(dict):
    """A rule table: a dict whose look-ups of a SciPy function load the SciPy rules first."""

    __slots__ = ()

    def __missing__(self, key):
        if _scipy_rules(key) and dict.__contains__(self, key):
            return dict.__getitem__(self, key)
        raise KeyError(key)

    def __contains__(self, key):
        return dict.__contains__(self, key) or (_scipy_rules(key) and dict.__contains__(self, key))

    def get(self, key, default=None):
        return self[key] if key in self else default


REVERSE = _Table()
FORWARD = _Table()
NONDIFF = _Table()  # key -> description; calls produce values with no derivative
_EMPTY = inspect.Parameter.empty


class RuleError(Exception):
    """A rule template is malformed (a bug in a rule table or a user's rule)."""


def _is_d(node):
    """Is ``node`` the template form ``d[name]``? Returns the name, else None."""
    if (isinstance(node, gast.Subscript) and isinstance(node.value, gast.Name)
            and node.value.id == "d" and isinstance(node.slice, gast.Name)):
        return node.slice.id
    return None


def _literal(value):
    if isinstance(value, tuple):
        return gast.Tuple(elts=[_literal(v) for v in value], ctx=gast.Load())
    if value is None or isinstance(value, (bool, int, float, str)):
        return gast.Constant(value=value, kind=None)
    raise RuleError(f"rule default {value!r} is not a literal")


class Template:
    """One parsed rule function."""

    def __init__(self, fn, mode, body=None):
        """``fn``'s signature and module give the template's names; its body the lines, unless
        ``body`` (a list of gast statements) is given: a template derived from a declaration."""
        self.fn = fn
        self.mode = mode
        self.name = fn.__name__
        sig = inspect.signature(fn)
        params = list(sig.parameters.values())
        if not params:
            raise RuleError(f"rule {fn.__name__} needs an output parameter")
        self.out = params[0].name
        self.params = [p.name for p in params[1:] if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        self.signature = sig.replace(parameters=params[1:])
        self.defaults = {p.name: p.default for p in params[1:] if p.default is not _EMPTY}
        self.constant = set()   # inputs the result depends on piecewise constantly (a condition)
        self.body = _body(fn) if body is None else body
        allparams = {p.name for p in params}
        self.temps = set()
        self.lines = []  # (target param or None, temp name or None, stmt)
        for stmt in self.body:
            if not isinstance(stmt, gast.Assign) or len(stmt.targets) != 1:
                raise RuleError(f"rule {fn.__name__}: only assignments are allowed")
            tgt = stmt.targets[0]
            dname = _is_d(tgt)
            if dname is not None:
                if mode == "reverse" and dname not in self.params:
                    raise RuleError(f"rule {fn.__name__}: d[{dname}] is not an input")
                if mode == "forward" and dname != self.out:
                    raise RuleError(f"forward rule {fn.__name__} must assign d[{self.out}]")
                self.lines.append((dname, None, stmt))
            elif isinstance(tgt, gast.Name):
                self.temps.add(tgt.id)
                self.lines.append((None, tgt.id, stmt))
            else:
                raise RuleError(f"rule {fn.__name__}: bad assignment target")
        self.free = {}
        for node in gast.walk(gast.Module(body=self.body, type_ignores=[])):
            if isinstance(node, gast.Name) and isinstance(node.ctx, gast.Load):
                n = node.id
                if n == "d" or n in allparams or n in self.temps:
                    continue
                if n in fn.__globals__:
                    self.free[n] = fn.__globals__[n]
                elif hasattr(builtins, n):
                    self.free[n] = getattr(builtins, n)
                else:
                    raise RuleError(f"rule {fn.__name__}: unknown name {n}")
        self.reads = {}  # line index -> names of params/out read (primal values)
        self.reads_out = False
        for stmt in self.body:
            for node in gast.walk(stmt.value):
                if isinstance(node, gast.Name) and node.id == self.out and isinstance(node.ctx, gast.Load):
                    if not self._inside_d(stmt.value, node):
                        self.reads_out = True
        self.diff_params = [name for name, _, _ in self.lines if name is not None]
        if mode == "forward":
            # A forward rule's inputs are the parameters whose tangents ``d[p]`` its final line reads
            # (not the output it assigns): these drive activity analysis in forward mode.
            final = [s for d, _, s in self.lines if d is not None][-1]
            used = {_is_d(n) for n in gast.walk(final.value)} - {None}
            self.diff_params = [p for p in self.params if p in used]

    @staticmethod
    def _inside_d(tree, target):
        for node in gast.walk(tree):
            if _is_d(node) is not None and node.slice is target:
                return True
        return False

    def without_derivative(self, args, kwargs):
        """(parameter, argument node) pairs of the call that this template gives no derivative:
        parameters without a ``d[p]`` line, ``*args``/``**kwargs`` catch-alls included, except the
        ones declared piecewise constant (``constant=``)."""
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError:
            return []
        out = []
        for name, val in bound.arguments.items():
            if name in self.diff_params or name in self.constant:
                continue
            nodes = list(val.values()) if isinstance(val, dict) else list(val) if isinstance(val, tuple) else [val]
            out += [(name, n) for n in nodes]
        return out

    def bind(self, args, kwargs):
        """Map the call's positional and keyword argument nodes to the rule's parameters.

        A starred argument (``f(*xs)`` where ``xs`` is not a display srcad spelled out) cannot be
        matched to parameters: bound to one it would leave the others unbound and their
        derivatives silently zero (``np.einsum(s, *([x] * 3))``); a TypeError."""
        bound = self.signature.bind(*args, **kwargs)
        for name, val in bound.arguments.items():
            kind = self.signature.parameters[name].kind
            vals = val if kind == inspect.Parameter.VAR_POSITIONAL else (val,)
            if any(isinstance(v, gast.Starred) for v in vals) and \
                    (kind != inspect.Parameter.VAR_POSITIONAL or name in self.diff_params):
                raise TypeError("a starred argument (*args) cannot be matched to the rule's parameters; "
                                "pass the arguments one by one")
        out = {}
        for name, param in self.signature.parameters.items():
            if name in bound.arguments:
                val = bound.arguments[name]
                if param.kind == param.VAR_POSITIONAL:
                    val = gast.Tuple(elts=list(val), ctx=gast.Load())
                elif param.kind == param.VAR_KEYWORD:
                    continue
                out[name] = val
            elif param.default is not _EMPTY:
                out[name] = _literal(param.default)
            elif param.kind == param.VAR_POSITIONAL:  # ``x.transpose()``: no extra positionals
                out[name] = gast.Tuple(elts=[], ctx=gast.Load())
        return out


def _body(fn):
    """The statements of the rule function ``fn``, its docstring left out."""
    body = gast.parse(textwrap.dedent(inspect.getsource(fn))).body[0].body
    while body and isinstance(body[0], gast.Expr) and isinstance(getattr(body[0].value, "value", None), str):
        body = body[1:]
    return body


def _subst(node, values, dvalues, temps):
    """A copy of the template expression ``node`` with parameters, ``d[...]`` and temporaries
    replaced (one pass: builds the new tree directly)."""
    if isinstance(node, list):
        return [_subst(n, values, dvalues, temps) for n in node]
    if not isinstance(node, gast.AST):
        return node
    if isinstance(node, gast.Name):
        if node.id in values:
            return clone(values[node.id])
        if node.id in temps:
            return gast.Name(id=temps[node.id], ctx=node.ctx, annotation=None, type_comment=None)
        return gast.Name(id=node.id, ctx=node.ctx, annotation=None, type_comment=None)
    if isinstance(node, gast.Subscript):
        name = _is_d(node)
        if name is not None:
            return clone(dvalues[name])
    return type(node)(**{f: _subst(getattr(node, f, None), values, dvalues, temps) for f in node._fields})


def _temps_used(tpl, stmt):
    cache = tpl.__dict__.setdefault("_temps_used", {})
    hit = cache.get(id(stmt))
    if hit is None:
        hit = cache[id(stmt)] = frozenset(n.id for n in gast.walk(stmt.value)
                                          if isinstance(n, gast.Name) and n.id in tpl.temps)
    return hit


def _refuse_higher(tpl, expr, where=None):
    """A rule's ``no_higher_derivative(..., what)`` term that would run: refused now, when the
    derivative is generated, rather than when it runs (a third derivative srcad does not give).

    ``where`` is (FunctionInfo, line) of the statement the rule is spliced for: the error names
    the user's line that statement was generated from (see ``user_line``)."""
    from srcad.errors import TransformError, fail_at
    from srcad.runtime import no_higher_derivative
    if isinstance(expr, gast.Call) and isinstance(expr.func, gast.Name) and \
            tpl.free.get(expr.func.id) is no_higher_derivative:
        what = expr.args[1].value if len(expr.args) > 1 and isinstance(expr.args[1], gast.Constant) else tpl.name
        message = (f"srcad gives no derivative of {what}: it arises at third or higher order "
                   "(a derivative of a derivative's own helper); differentiate fewer times or "
                   "give the function a rule with @srcad.defvjp/@srcad.defjvp")
        if where is None:
            raise TransformError(message, None, None, what)
        info, line = where
        filename, lineno, text = user_line(info.filename, int(line), info.source_lines)
        if filename == info.filename:
            fail_at(info, line, message, what)
        raise TransformError(message + (f": `{text}`" if text else "")
                             + f" (met in differentiating the generated derivative {info.name} again)",
                             filename, lineno, what)


_LINK = re.compile(r"#\s*line (\d+)\s*$")
_LABEL = re.compile(r"^<srcad \S+ of (.*):(\d+) #\d+>$")


def user_line(filename, lineno, lines=None):
    """The user's (file, line, text) behind ``lineno`` of ``filename``: generated code (a file named
    ``<srcad NAME of FILE:LINE #k>``) is followed through its ``# line N`` links to the code it was
    generated from, derivatives of derivatives included."""
    from srcad.parse import GENERATED
    for _ in range(16):
        label = _LABEL.match(filename)
        text = lines[lineno - 1] if lines and 0 < lineno <= len(lines) else ""
        # the link is written where the user's line changes: the nearest one at or above
        link = next((m for m in (_LINK.search(lines[k]) for k in range(lineno - 1, -1, -1)) if m), None) \
            if label is not None and text else None
        if label is None or link is None:
            return filename, lineno, text.split("#")[0].strip() if label else text.strip()
        filename, lineno = label.group(1), int(link.group(1))
        generated = [src for src, name in GENERATED._by_code.values() if name == filename]
        lines = generated[0].splitlines() if generated else linecache.getlines(filename)
    return filename, lineno, ""


def splice_reverse(tpl, values, dy, wanted, fresh, ref, where=None):
    """Instantiate a reverse template.

    ``values`` maps parameter and output names to expression nodes, ``dy`` is the output adjoint
    node, ``wanted`` the inputs whose contributions are needed, ``fresh(base)`` gives temporaries and
    ``ref(name, obj)`` the node naming a free object; ``where`` (FunctionInfo, line) places errors.
    Returns (temp statements, {param: expr}).
    """
    needed = set()
    keep = []
    for dname, temp, stmt in reversed(tpl.lines):
        if (dname is not None and dname in wanted) or (temp is not None and temp in needed):
            keep.append((dname, temp, stmt))
            needed |= _temps_used(tpl, stmt)
    keep.reverse()
    temps = {t: fresh(t) for _, t, _ in keep if t is not None}
    allvalues = dict(values)
    for name, obj in tpl.free.items():
        allvalues[name] = ref(name, obj)
    dvalues = {tpl.out: dy}
    stmts, contribs = [], {}
    for dname, temp, stmt in keep:
        _refuse_higher(tpl, stmt.value, where)
        expr = _subst(stmt.value, allvalues, dvalues, temps)
        if dname is not None:
            contribs[dname] = expr
        else:
            stmts.append(gast.Assign(targets=[gast.Name(id=temps[temp], ctx=gast.Store(),
                                                        annotation=None, type_comment=None)],
                                     value=expr, type_comment=None))
    return stmts, contribs


def _terms(expr, sign=1):
    if isinstance(expr, gast.BinOp) and isinstance(expr.op, (gast.Add, gast.Sub)):
        left = _terms(expr.left, sign)
        right = _terms(expr.right, sign if isinstance(expr.op, gast.Add) else -sign)
        return left + right
    return [(sign, expr)]


def splice_forward(tpl, values, tangents, fresh, ref, where=None):
    """Instantiate a forward template: ``tangents`` maps active inputs to their tangent nodes.

    Returns (temp statements, expression of the output tangent) or (stmts, None) when every
    term's tangent is a known zero.
    """
    final = [s for d, _, s in tpl.lines if d is not None][-1]
    terms = []
    for sign, term in _terms(final.value):
        used = [_is_d(n) for n in gast.walk(term) if _is_d(n) is not None]
        if len(used) != 1:
            raise RuleError(f"forward rule {tpl.name}: each term must use one tangent")
        if used[0] in tangents:
            _refuse_higher(tpl, term, where)
            terms.append((sign, term))
    if not terms:
        return [], None
    needed = set()
    for _, term in terms:
        needed |= {n.id for n in gast.walk(term) if isinstance(n, gast.Name) and n.id in tpl.temps}
    keep = []
    for dname, temp, stmt in reversed(tpl.lines):
        if temp is not None and temp in needed:
            keep.append(stmt)
            needed |= {n.id for n in gast.walk(stmt.value)
                       if isinstance(n, gast.Name) and n.id in tpl.temps}
    keep.reverse()
    temps = {s.targets[0].id: fresh(s.targets[0].id) for s in keep}
    allvalues = dict(values)
    for name, obj in tpl.free.items():
        allvalues[name] = ref(name, obj)
    stmts = []
    for stmt in keep:
        stmts.append(gast.Assign(targets=[gast.Name(id=temps[stmt.targets[0].id], ctx=gast.Store(),
                                                    annotation=None, type_comment=None)],
                                 value=_subst(clone(stmt.value), allvalues, tangents, temps), type_comment=None))
    expr = None
    for sign, term in terms:
        term = _subst(clone(term), allvalues, tangents, temps)
        if expr is None:
            expr = term if sign > 0 else gast.UnaryOp(op=gast.USub(), operand=term)
        else:
            expr = gast.BinOp(left=expr, op=gast.Add() if sign > 0 else gast.Sub(), right=term)
    return stmts, expr


def _register(table, keys, mode, constant=()):
    def deco(fn):
        tpl = Template(fn, mode)
        tpl.constant = set(constant)
        for key in keys:
            table[key] = tpl
        return fn
    return deco


def reverse(*keys, constant=()):
    """Register a reverse-mode rule template for each of ``keys``.

    ``constant`` names inputs the result depends on only piecewise constantly (``np.where``'s
    condition): a differentiated value passed there gets no derivative, rightly. A differentiated
    value passed to any other input without a ``d[p]`` line is refused at the call.
    """
    return _register(REVERSE, keys, "reverse", constant)


def forward(*keys, constant=()):
    """Register a forward-mode rule template for each of ``keys`` (``constant`` as for reverse)."""
    return _register(FORWARD, keys, "forward", constant)


# ---------------------------------------------------------------- declarations
# Most rules need not be written twice. A one-input function whose derivative is a factor
# (``elementwise``) and a function linear in its first input (``linear``) are declared once; the
# reverse and forward templates are made from the declaration and spliced like hand-written ones.


def _d(name):
    return gast.Subscript(value=gast.Name(id="d", ctx=gast.Load(), annotation=None, type_comment=None),
                          slice=gast.Name(id=name, ctx=gast.Load(), annotation=None, type_comment=None),
                          ctx=gast.Load())


def _assign_d(name, value):
    tgt = _d(name)
    tgt.ctx = gast.Store()
    return gast.Assign(targets=[tgt], value=value, type_comment=None)


def _replace_d(expr, name):
    """A copy of ``expr`` with the bare name ``d`` replaced by ``d[name]``."""
    class Replace(gast.NodeTransformer):
        def visit_Name(self, node):
            return _d(name) if node.id == "d" else node
    return Replace().visit(clone(expr))


def _linear_in_d(expr, where):
    """Check that ``expr`` uses the bare name ``d`` once, as a factor: reached only through unary
    signs, products and the numerator of a quotient (so the map d -> expr is multiplication by a
    factor, the same in both modes)."""
    uses = [n for n in gast.walk(expr) if isinstance(n, gast.Name) and n.id == "d"]
    if len(uses) != 1 or not isinstance(uses[0].ctx, gast.Load):
        raise RuleError(f"{where}: the derivative must use d exactly once, got {len(uses)}")

    def scaled(node):
        if node is uses[0]:
            return True
        if isinstance(node, gast.UnaryOp) and isinstance(node.op, (gast.USub, gast.UAdd)):
            return scaled(node.operand)
        if isinstance(node, gast.BinOp) and isinstance(node.op, gast.Mult):
            return scaled(node.left) or scaled(node.right)
        if isinstance(node, gast.BinOp) and isinstance(node.op, gast.Div):
            return scaled(node.left)
        return False
    if not scaled(expr):
        raise RuleError(f"{where}: d must be a factor of the derivative (a product, a quotient's "
                        f"numerator, a sign), not inside another expression")


def _key_name(keys):
    key = keys[0]
    name = key[1] if isinstance(key, tuple) else getattr(key, "__name__", "rule")
    return name if name.isidentifier() else "rule"


def _blank(name, params, namespace):
    """A function ``name(params)`` defined in ``namespace``: it gives a declared rule its signature
    and the module its names are resolved in."""
    scope = {}
    exec(compile(f"def {name}({params}):\n    pass\n", f"<rule {name}>", "exec"), namespace, scope)
    return scope[name]


def _install(keys, fn, reverse_body, forward_body, constant):
    rev, fwd = Template(fn, "reverse", reverse_body), Template(fn, "forward", forward_body)
    rev.constant = fwd.constant = set(constant)
    for key in keys:
        REVERSE[key] = rev
        FORWARD[key] = fwd
    return rev, fwd


def elementwise(*keys, constant=()):
    """Declare a one-input function whose derivative is a factor: reverse ``d[x] = d[y] * f'(x)``,
    forward ``d[y] = d[x] * f'(x)``, from one expression in which ``d`` stands for the derivative
    that flows through (``d[y]`` in reverse, ``d[x]`` in forward)::

        elementwise(np.sin, "d * np.cos(x)")           # the input is x, the output y
        elementwise(np.absolute, abs, "d * np.sign(x)")

    Names other than ``d``, ``x`` and ``y`` are resolved in the calling module. With no expression
    it is a decorator: the function's parameters name the output and the input, its body may set
    temporaries and ends with ``return <expression in d>``::

        @elementwise(np.sinc)
        def sinc(y, x):
            safe = np.where(x == 0, 1.0, x)
            return d * np.where(x == 0, 0.0, (np.cos(np.pi * x) - y) / safe)

    ``d`` must be a factor of the expression (it is checked), which makes the two modes agree.
    The string form returns the (reverse, forward) templates, the decorator the function.
    """
    if keys and isinstance(keys[-1], str):
        *keys, text = keys
        if not keys:
            raise RuleError(f"elementwise rule {text!r}: no function to declare")
        where = f"elementwise rule for {_key_name(keys)}"
        try:
            expr = gast.parse(text.strip(), mode="eval").body
        except SyntaxError as exc:
            raise RuleError(f"{where}: {exc}") from None
        fn = _blank(_key_name(keys), "y, x", sys._getframe(1).f_globals)
        return _elementwise(keys, fn, [], expr, constant)

    def deco(fn):
        body = _body(fn)
        if not body or not isinstance(body[-1], gast.Return) or body[-1].value is None:
            raise RuleError(f"elementwise rule {fn.__name__} must end with return <derivative in d>")
        _elementwise(keys, fn, body[:-1], body[-1].value, constant)
        return fn
    return deco


def _elementwise(keys, fn, temps, expr, constant):
    where = f"elementwise rule {fn.__name__}"
    if not keys:
        raise RuleError(f"{where}: no function to declare")
    names = [p.name for p in inspect.signature(fn).parameters.values()
             if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(names) != 2 or len(inspect.signature(fn).parameters) != 2:
        raise RuleError(f"{where}: the parameters must be the output and the one input")
    y, x = names
    _linear_in_d(expr, where)
    for stmt in temps:
        if any(isinstance(n, gast.Name) and n.id == "d" for n in gast.walk(stmt)):
            raise RuleError(f"{where}: only the returned expression may use d")
    return _install(keys, fn, temps + [_assign_d(x, _replace_d(expr, y))],
                    [clone(s) for s in temps] + [_assign_d(y, _replace_d(expr, x))], constant)


def _spelling(obj, namespace):
    """How the module ``namespace`` names ``obj``: a global bound to it, else ``module.name``."""
    for name, value in namespace.items():
        if value is obj and not name.startswith("__"):
            return name
    attr = getattr(obj, "__name__", None)
    for name, value in namespace.items():
        if isinstance(value, types.ModuleType) and attr and getattr(value, attr, None) is obj:
            return f"{name}.{attr}"
    return None


def linear(*keys, call=None, args=None, self_adjoint=False, constant=()):
    """Declare a function linear in its first input ``x``: its forward rule applies the function
    itself to the tangent, ``d[y] = f(d[x], <the other arguments>)``; its reverse rule is the
    transpose, written as the decorated template's ``d[x] = ...`` line, or the same map when
    ``self_adjoint`` (a projection such as ``np.tril``, a swap of two axes)::

        @linear(np.transpose)                  # forward: d[y] = np.transpose(d[a], axes)
        def transpose(y, a, axes=None):
            d[a] = np.transpose(d[y], inverse_axes(axes))

        @linear(np.tril, self_adjoint=True)    # both: np.tril(d[.], k)
        def tril(y, m, k=0):
            "A projection: its own transpose."

    The function called is the first key that is a function, spelled as the rule's module names
    it (``call="np.array_split"`` names another); the other parameters are passed by position in
    the order of the signature (``args="axis=axis, keepdims=keepdims"`` gives them instead, and
    is needed when the signature has ``*args`` or ``**kwargs``). Returns the function.
    """
    def deco(fn):
        where = f"linear rule {fn.__name__}"
        params = list(inspect.signature(fn).parameters.values())
        if len(params) < 2:
            raise RuleError(f"{where}: the parameters must be the output and the inputs")
        out, x, rest = params[0].name, params[1].name, params[2:]
        namespace = fn.__globals__
        spelled = call
        if spelled is None:
            funcs = [k for k in keys if not isinstance(k, tuple)]
            spelled = _spelling(funcs[0], namespace) if funcs else None
            if spelled is None:
                raise RuleError(f"{where}: name the function the tangent goes through with call=")
        if args is None:
            if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in rest):
                raise RuleError(f"{where}: with *args or **kwargs, give the tangent call's arguments as args=")
            text = ", ".join(p.name if p.kind != p.KEYWORD_ONLY else f"{p.name}={p.name}" for p in rest)
        else:
            text = args
        try:
            tangent = gast.parse(f"{spelled}(d, {text})" if text.strip() else f"{spelled}(d)", mode="eval").body
        except SyntaxError as exc:
            raise RuleError(f"{where}: {exc}") from None
        body = _body(fn)
        if self_adjoint:
            if body:
                raise RuleError(f"{where}: a self-adjoint rule has no reverse lines of its own")
            body = [_assign_d(x, _replace_d(tangent, out))]
        for stmt in body:
            target = _is_d(stmt.targets[0]) if isinstance(stmt, gast.Assign) and len(stmt.targets) == 1 else None
            if target is not None and target != x:
                raise RuleError(f"{where}: only the linear input {x} has a derivative, not {target}")
        if not any(isinstance(s, gast.Assign) and _is_d(s.targets[0]) == x for s in body):
            raise RuleError(f"{where}: give the transpose as d[{x}] = ... or declare self_adjoint=True")
        _install(keys, fn, body, [_assign_d(out, _replace_d(tangent, x))], constant)
        return fn
    return deco


def nondiff(*keys, why="no derivative"):
    """Declare functions whose results carry no derivative (comparisons, shapes, indices)."""
    for key in keys:
        NONDIFF[key] = why


LIBRARIES = ("numpy", "scipy")


def library_function(obj):
    """Is ``obj`` a function of NumPy or SciPy (by its module) that has no rule in any table?

    srcad never reads such a function's Python source: its derivative would then depend on how the
    library happens to implement it. Callers refuse it where a derivative flows through it.
    """
    mod = getattr(obj, "__module__", None)
    if mod == "srcad.api" and isinstance(obj, types.FunctionType):
        return True     # srcad.jvp(f, primals, tangents) and the like: srcad's machinery, not a formula
    if not isinstance(mod, str) or mod.split(".")[0] not in LIBRARIES:
        return False
    try:
        return obj not in REVERSE and obj not in FORWARD and obj not in NONDIFF
    except TypeError:
        return True


def library_hint(obj):
    """The way out offered where a library function without a rule is refused."""
    if getattr(obj, "__module__", None) == "srcad.api":
        return ("differentiate a derivative through the objects srcad returns: srcad.grad(f), "
                "srcad.jvp(f, wrt=...), srcad.hessian(f)")
    return (f"srcad does not read {getattr(obj, '__module__', 'numpy').split('.')[0]}'s own code; "
            "give it a rule with @srcad.defvjp (and @srcad.defjvp for forward mode), see docs/rules.md")


def method(name):
    """The rule key of the array method ``x.name(...)`` (the receiver is the first input)."""
    return ("method", name)


def attribute(name):
    """The rule key of the array attribute ``x.name``."""
    return ("attr", name)
