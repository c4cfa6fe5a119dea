"""Step 2: A-normal form. One operation per statement, fresh temporaries for nested expressions.

After this pass the function body holds only:

* ``name = <op>`` where ``<op>`` is an atom (a name or constant), one operator or call over atoms,
  a subscript ``atom[index]``, an attribute ``atom.attr``, or a tuple/list/dict of atoms;
* ``name[index] = atom``; ``if``/``while`` (tests kept as the user wrote them: they are never
  differentiated); ``for name in range(...)``; ``break``/``continue``/``return atom``; ``pass``,
  ``assert``, ``raise`` and expression statements (calls made for their side effects).

Index expressions, ``if``/``while`` tests and ``range`` bounds stay as written: they carry no
derivative and reading them as the user wrote them keeps the generated code close to the source.
Every statement keeps the line number of the user statement it came from.
"""


import types

import gast

from srcad.errors import article, fail_at
from srcad.names import Namer, names_in
from srcad.parse import GENERATED
from srcad.astutil import N, assign, at, clone, const, is_atom, names_read, walk_stmts  # noqa: F401
from srcad.astutil import walk

BINOP_NAMES = {gast.Add: "add", gast.Sub: "sub", gast.Mult: "mul", gast.Div: "div",
               gast.Pow: "pow", gast.MatMult: "matmul", gast.Mod: "mod", gast.FloorDiv: "floordiv",
               gast.BitAnd: "and", gast.BitOr: "or", gast.BitXor: "xor",
               gast.LShift: "lshift", gast.RShift: "rshift"}
UNARY_NAMES = {gast.USub: "neg", gast.UAdd: "pos", gast.Not: "not", gast.Invert: "inv"}


REFUSED = {
    gast.Try: "try statement", gast.With: "with statement", gast.AsyncWith: "async with",
    gast.AsyncFor: "async for", gast.Global: "global statement", gast.Nonlocal: "nonlocal statement",
    gast.ClassDef: "class definition", gast.FunctionDef: "nested function definition",
    gast.AsyncFunctionDef: "nested async function", gast.Delete: "del statement",
}
REFUSED_EXPR = {
    gast.Lambda: "lambda used as a value", gast.ListComp: "list comprehension",
    gast.SetComp: "set comprehension", gast.DictComp: "dict comprehension",
    gast.GeneratorExp: "generator expression", gast.Yield: "yield", gast.YieldFrom: "yield from",
    gast.Await: "await", gast.NamedExpr: "assignment expression (:=)", gast.Starred: "starred argument",
    gast.Set: "set literal",
}



def _is_truth(expr):
    """Whether ``expr`` can only be a truth value (comparisons, ``not``, ``True``/``False`` joined
    by ``and``/``or``): such a value has no derivative, and the expression stays as written."""
    if isinstance(expr, gast.BoolOp):
        return all(_is_truth(v) for v in expr.values)
    if isinstance(expr, gast.UnaryOp):
        return isinstance(expr.op, gast.Not)
    return isinstance(expr, gast.Compare) or (isinstance(expr, gast.Constant) and isinstance(expr.value, bool))

class InPlaceAssign(gast.Assign):
    """``y op= v`` on an array, normalized to ``y = y op v`` (an ordinary assignment to every pass)
    and kept as its own node type so the alias analysis knows NumPy writes into ``y``'s memory
    there. (Named ``Assign`` so that gast, astunparse and visitors treat it as one.)"""


InPlaceAssign.__name__ = InPlaceAssign.__qualname__ = "Assign"


class LocalFunction:
    """A function defined inside the one being normalized (``def``, a lambda bound to a name, or
    ``functools.partial`` of a function), inlined where it is called."""

    def __init__(self, name, args, body, lineno, partial=None, bound_args=(), bound_keywords=()):
        self.name, self.args, self.body, self.lineno = name, args, body, lineno
        self.partial = partial
        self.bound_args, self.bound_keywords = list(bound_args), list(bound_keywords)

    def node_for_errors(self, lineno):
        return at(gast.Pass(), self.lineno or lineno)


class Normalizer:
    def __init__(self, info):
        self.info = info
        fdef = info.node
        self.params = [a.id for a in fdef.args.posonlyargs + fdef.args.args + fdef.args.kwonlyargs]
        for extra in (fdef.args.vararg, fdef.args.kwarg):
            if extra is not None:
                self.params.append(extra.id)
        self.locals = set(self.params)
        for node in walk(fdef):
            if isinstance(node, gast.Name) and isinstance(node.ctx, (gast.Store, gast.Del)):
                self.locals.add(node.id)
        self.namer = Namer(names_in(fdef) | self.locals)
        # how often each name is bound in the function (nested functions and partials are
        # followed only where their name is bound once), the nested functions and partials seen
        # so far (name -> LocalFunction) and the tuple/list displays bound once (name -> length)
        self.binds = {}
        for node in walk(fdef):
            if isinstance(node, gast.Name) and isinstance(node.ctx, (gast.Store, gast.Del, gast.Param)):
                self.binds[node.id] = self.binds.get(node.id, 0) + 1
            elif isinstance(node, gast.FunctionDef) and node is not fdef:
                self.binds[node.name] = self.binds.get(node.name, 0) + 1
        self.local_fns = {}
        self.displays = {}
        self.resized = _maybe_resized(fdef)
        self.inlining = []
        # srcad's own generated code (grad(f) differentiated again) uses `dv += ...` only on arrays it
        # owns, so rewriting it as `dv = dv + ...` keeps its meaning: no alias checks there.
        self.generated = info.fn in GENERATED
        self.out_name = None
        self.lineno = info.lineno

    # ------------------------------------------------------------------ errors
    def refuse(self, node, construct, detail=""):
        lineno = getattr(node, "lineno", None) or self.lineno
        msg = f"srcad cannot differentiate {article(construct)}" + (f" ({detail})" if detail else "")
        fail_at(self.info, lineno, msg, construct)

    # ------------------------------------------------------------------ expressions
    def is_static(self, node):
        """An expression with no local names and no calls: module attributes, literals."""
        for n in walk(node):
            if isinstance(n, gast.Name) and n.id in self.locals:
                return False
            if isinstance(n, (gast.Call, gast.Lambda, gast.NamedExpr, gast.Await, gast.Yield)):
                return False
        return True

    def check_inline(self, node):
        for n in walk(node):
            if type(n) in REFUSED_EXPR:
                self.refuse(n, REFUSED_EXPR[type(n)])

    def computed(self, test):
        """Does the test ``test`` hold what srcad computes in statements (a comprehension, a
        generator, ``:=``) rather than a plain expression?"""
        return any(type(n) in REFUSED_EXPR for n in walk(test))

    def test(self, test, out):
        """The test of an ``if``: as written, or, where it holds a comprehension, a generator or
        ``:=``, computed first into a variable (in Python's order: ``a and any(...)`` stays
        short-circuit)."""
        if not self.computed(test):
            return test
        return self.atom(test, out, "cond")

    def atom(self, expr, out, base="t"):
        """Flatten ``expr`` into statements appended to ``out``; return an atom for its value."""
        if isinstance(expr, gast.Name):
            self.not_escaping(expr)
            return N(expr.id)
        if isinstance(expr, gast.Constant):
            return expr
        if (isinstance(expr, gast.UnaryOp) and isinstance(expr.op, (gast.USub, gast.UAdd))
                and isinstance(expr.operand, gast.Constant) and isinstance(expr.operand.value, (int, float))):
            v = expr.operand.value
            return gast.Constant(value=-v if isinstance(expr.op, gast.USub) else v, kind=None)
        if isinstance(expr, gast.Attribute) and self.is_static(expr):
            return expr
        if isinstance(expr, gast.NamedExpr):      # ``(y := e)``: bind y, the value is y
            self.assign_target(expr.target, expr.value, out)
            return N(expr.target.id)
        name = self.namer.fresh(self.base_of(expr, base))
        self.assign_to(name, expr, out)
        return N(name)

    def base_of(self, expr, default):
        if isinstance(expr, gast.BinOp):
            return BINOP_NAMES.get(type(expr.op), default)
        if isinstance(expr, gast.UnaryOp):
            return UNARY_NAMES.get(type(expr.op), default)
        if isinstance(expr, gast.Call):
            f = expr.func
            if isinstance(f, gast.Attribute):
                return f.attr
            if isinstance(f, gast.Name):
                return f.id.strip("_") or default
        if isinstance(expr, gast.Subscript):
            return "elt"
        if isinstance(expr, gast.Attribute):
            return expr.attr
        if isinstance(expr, (gast.Compare, gast.BoolOp)):
            return "cond"
        if isinstance(expr, gast.Tuple):
            return "tup"
        if isinstance(expr, gast.List):
            return "lst"
        if isinstance(expr, gast.Dict):
            return "dct"
        if isinstance(expr, gast.IfExp):
            return "sel"
        return default

    def assign_to(self, name, expr, out):
        """Append statements computing ``expr`` into the variable ``name``."""
        ln = self.lineno
        if isinstance(expr, COMPREHENSIONS):
            return self.comprehension(name, expr, out)
        if isinstance(expr, gast.Call):
            sugar = self.desugar(expr, out)
            if sugar is not None:
                if isinstance(sugar, tuple):    # tuple(...): a comprehension into a tuple
                    return self.comprehension(name, sugar[1], out, as_tuple=True)
                return self.assign_to(name, sugar, out)
            foreign = self.foreign(expr)
            if foreign is not None and foreign[0] == "generator":
                out.append(assign(name, self.inline_local(expr, out, foreign[1], generator=True), ln))
                return
            fn = self.local_function(expr)
            if fn is not None and fn.partial is not None:
                return self.assign_to(name, self.partial_call(fn, expr), out)
            if fn is not None:
                out.append(assign(name, self.inline_local(expr, out), ln))
                return
        if isinstance(expr, gast.NamedExpr):
            out.append(assign(name, self.atom(expr, out), ln))
            return
        if type(expr) in REFUSED_EXPR:
            self.refuse(expr, REFUSED_EXPR[type(expr)])
        if is_atom(expr) or (isinstance(expr, gast.Attribute) and self.is_static(expr)):
            out.append(assign(name, self.atom(expr, out), ln))
        elif isinstance(expr, gast.UnaryOp) and isinstance(expr.operand, gast.Constant):
            out.append(assign(name, self.atom(expr, out), ln))
        elif isinstance(expr, gast.BinOp):
            left = self.atom(expr.left, out)
            right = self.atom(expr.right, out)
            out.append(assign(name, gast.BinOp(left=left, op=expr.op, right=right), ln))
        elif isinstance(expr, gast.UnaryOp):
            operand = self.atom(expr.operand, out)
            out.append(assign(name, gast.UnaryOp(op=expr.op, operand=operand), ln))
        elif isinstance(expr, gast.Call):
            out.append(assign(name, self.call(expr, out), ln))
        elif isinstance(expr, gast.Subscript):
            value = self.atom(expr.value, out)
            self.check_inline(expr.slice)
            out.append(assign(name, gast.Subscript(value=value, slice=expr.slice, ctx=gast.Load()), ln))
        elif isinstance(expr, gast.Attribute):
            value = self.atom(expr.value, out)
            out.append(assign(name, gast.Attribute(value=value, attr=expr.attr, ctx=gast.Load()), ln))
        elif isinstance(expr, (gast.Tuple, gast.List)):
            elts = [self.atom(e, out) for e in expr.elts]
            out.append(assign(name, type(expr)(elts=elts, ctx=gast.Load()), ln))
        elif isinstance(expr, gast.Dict):
            if any(k is None for k in expr.keys):
                self.refuse(expr, "dict unpacking (**)")
            keys = [self.atom(k, out) for k in expr.keys]
            values = [self.atom(v, out) for v in expr.values]
            out.append(assign(name, gast.Dict(keys=keys, values=values), ln))
        elif isinstance(expr, gast.BoolOp) and (not _is_truth(expr) or self.computed(expr)):
            self.short_circuit(name, expr, out)
        elif isinstance(expr, gast.Compare) and self.computed(expr):
            left = self.atom(expr.left, out)
            rights = [self.atom(c, out) for c in expr.comparators]
            out.append(assign(name, gast.Compare(left=left, ops=expr.ops, comparators=rights), ln))
        elif isinstance(expr, (gast.Compare, gast.BoolOp, gast.JoinedStr)):
            self.check_inline(expr)
            out.append(assign(name, expr, ln))
        elif isinstance(expr, gast.IfExp):
            test = self.test(expr.test, out)
            body, orelse = [], []
            self.assign_to(name, expr.body, body)
            self.assign_to(name, expr.orelse, orelse)
            out.append(at(gast.If(test=test, body=body, orelse=orelse), ln))
        else:
            self.refuse(expr, type(expr).__name__ + " expression")

    def short_circuit(self, name, expr, out):
        """``a and b`` / ``a or b`` used as a value: Python's result is one of the operands, so it
        is computed as Python computes it, one operand at a time (``name = a; if name: name = b``)."""
        self.assign_to(name, expr.values[0], out)
        rest = expr.values[1:]
        body = []
        if len(rest) > 1:
            self.short_circuit(name, gast.BoolOp(op=expr.op, values=rest), body)
        else:
            self.assign_to(name, rest[0], body)
        test = N(name) if isinstance(expr.op, gast.And) else gast.UnaryOp(op=gast.Not(), operand=N(name))
        out.append(at(gast.If(test=test, body=body, orelse=[]), self.lineno))

    def comprehension(self, name, expr, out, as_tuple=False):
        """``[elt for t in it if c]`` (and set, dict and generator forms) as the loop Python runs:
        a fresh list appended to in a ``for`` loop, one loop per ``for`` clause, the filters as
        ``if`` statements. A generator expression is evaluated into a list (every consumer srcad
        differentiates reads it once, in order); a set comprehension is ``set()`` of that list.
        The loop variables live in the comprehension's own scope: they are renamed apart."""
        ln = self.lineno
        rename = {}
        for gen in expr.generators:
            if gen.is_async:
                self.refuse(expr, "async comprehension")
            for n in walk(gen.target):
                if isinstance(n, gast.Name):
                    rename[n.id] = self.namer.fresh(n.id)
        self.locals.update(rename.values())
        renamed = [(_renamed(g.target, rename), g.iter if k == 0 else _renamed(g.iter, rename),
                    [_renamed(c, rename) for c in g.ifs]) for k, g in enumerate(expr.generators)]
        reads = {n.id for n in walk(expr) if isinstance(n, gast.Name)}
        acc = name if name not in reads and name not in self.params and not isinstance(expr, gast.SetComp) \
            else self.namer.fresh("comp")
        self.locals.add(acc)
        if isinstance(expr, gast.DictComp):
            out.append(assign(acc, gast.Dict(keys=[], values=[]), ln))
            inner = at(gast.Assign(targets=[gast.Subscript(value=N(acc), slice=_renamed(expr.key, rename),
                                                           ctx=gast.Store())],
                                   value=_renamed(expr.value, rename), type_comment=None), ln)
        elif as_tuple:
            # ``acc = acc + (v,)``: concatenation of tuples (seq_concat), exact in both modes
            out.append(assign(acc, gast.Tuple(elts=[], ctx=gast.Load()), ln))
            one = gast.Tuple(elts=[_renamed(expr.elt, rename)], ctx=gast.Load())
            inner = at(gast.Assign(targets=[N(acc, True)], value=gast.BinOp(left=N(acc), op=gast.Add(), right=one),
                                   type_comment=None), ln)
        else:
            out.append(assign(acc, gast.List(elts=[], ctx=gast.Load()), ln))
            append = gast.Attribute(value=N(acc), attr="append", ctx=gast.Load())
            inner = at(gast.Expr(value=gast.Call(func=append, args=[_renamed(expr.elt, rename)], keywords=[])), ln)
        for target, it, ifs in reversed(renamed):
            if ifs:
                test = ifs[0] if len(ifs) == 1 else gast.BoolOp(op=gast.And(), values=ifs)
                inner = at(gast.If(test=test, body=[inner], orelse=[]), ln)
            inner = at(gast.For(target=target, iter=it, body=[inner], orelse=[], type_comment=None), ln)
        self.stmt(inner, out)
        self.lineno = ln
        if isinstance(expr, gast.SetComp):
            self.assign_to(name, gast.Call(func=N("set"), args=[N(acc)], keywords=[]), out)
        elif acc != name:
            out.append(assign(name, N(acc), ln))

    def method_call(self, expr):
        """``model.forward(x)`` on an object the function reads from its module or closure, or
        ``layer(x)`` on a callable object: ``Model.forward(model, x)``, a call of the plain function
        (which is then inlined or derived like any helper); None for other calls."""
        f = expr.func
        if not (isinstance(f, gast.Name) or (isinstance(f, gast.Attribute) and self.is_static(f))):
            return None
        if isinstance(f, gast.Name) and f.id in self.locals:
            return None
        from srcad.callees import resolve
        where = resolve(f, self.info, self.locals, strict=False)
        if where is None or where.kind != "static":
            return None
        fn, receiver = user_method(where.obj)
        if fn is None:
            return None
        receiver = clone(f.value) if isinstance(f, gast.Attribute) and where.obj.__self__ is not None and \
            isinstance(where.obj, types.MethodType) else clone(f)
        return gast.Call(func=N(self.extra_name(fn.__name__, fn)), args=[receiver] + list(expr.args),
                         keywords=list(expr.keywords))

    def logger_of(self, f):
        """``logging.getLogger("name").info`` (a logger looked up where it is used): the logger
        is found now (``getLogger`` returns the one logger of that name), so the call is a Logger
        method like ``log.info`` on a module-level logger; None for other callees."""
        if not (isinstance(f, gast.Attribute) and isinstance(f.value, gast.Call)):
            return None
        get = f.value
        if not (self.is_static(get.func) and all(isinstance(a, gast.Constant) for a in get.args)
                and not get.keywords):
            return None
        import logging
        from srcad.callees import resolve
        where = resolve(get.func, self.info, self.locals, strict=False)
        if where is None or not where.is_(logging.getLogger):
            return None
        logger = logging.getLogger(*(a.value for a in get.args))
        base = "log_" + "".join(ch if ch.isalnum() else "_" for ch in logger.name) if get.args else "root_logger"
        return gast.Attribute(value=N(self.extra_name(base, logger)), attr=f.attr, ctx=gast.Load())

    def extra_name(self, base, obj):
        """A name under which normalized code refers to ``obj`` (the function of a method)."""
        for k, v in self.info.extra.items():
            if v is obj:
                return k
        # a name Python can read: a method defined as a lambda is called ``<lambda>``
        base = "".join(ch for ch in base if ch.isalnum() or ch == "_")
        fresh = self.namer.fresh(base.strip("_") or "method")
        self.info.extra[fresh] = obj
        return fresh

    def derivative_call(self, f):
        """``srcad.grad(energy)`` called in the code (``srcad.grad(energy)(z)``): made once, when
        the code is transformed, as if written at module level (srcad differentiates a derivative's
        generated code again). A name for it, or None where ``f`` is not such a call."""
        if not (isinstance(f, gast.Call) and (isinstance(f.func, gast.Name) or
                                              (isinstance(f.func, gast.Attribute) and self.is_static(f.func)))):
            return None
        from srcad.callees import resolve
        where = resolve(f.func, self.info, self.locals, strict=False)
        if where is None or where.kind != "static" or getattr(where.obj, "__module__", None) != "srcad.api":
            return None
        args = []
        for a in f.args:
            w = resolve(a, self.info, self.locals, strict=False) if isinstance(a, (gast.Name, gast.Attribute)) else None
            if w is None or w.kind != "static":
                return None
            args.append(w.obj)
        if not all(isinstance(k.value, gast.Constant) and k.arg for k in f.keywords):
            return None
        made = where.obj(*args, **{k.arg: k.value.value for k in f.keywords})
        if getattr(made, "__srcad_function__", None) is None:
            return None
        return N(self.extra_name(getattr(made, "__name__", "derivative"), made))

    def call(self, expr, out):
        made = self.derivative_call(expr.func)
        if made is not None:
            expr = gast.Call(func=made, args=expr.args, keywords=expr.keywords)
        method = self.method_call(expr)
        if method is not None:
            expr = method
        logger = self.logger_of(expr.func)
        if logger is not None:
            expr = gast.Call(func=logger, args=expr.args, keywords=expr.keywords)
        f = expr.func
        if isinstance(f, gast.Name) or (isinstance(f, gast.Attribute) and self.is_static(f)):
            func = f
        elif isinstance(f, gast.Attribute):
            func = gast.Attribute(value=self.atom(f.value, out), attr=f.attr, ctx=gast.Load())
        elif isinstance(f, gast.Subscript):
            # ``self.layers[0](x)``: the element is named (an object of a list the function's
            # argument holds is followed by inline.py; other callees are refused there, named)
            func = self.atom(f, out)
        else:
            self.refuse(expr, "call of a computed function")
        args = []
        for a in self.spread(expr.args):
            if isinstance(a, gast.Starred):
                # ``rs.randn(*x.shape)``: the spread value is evaluated once, as Python does
                args.append(gast.Starred(value=self.atom(a.value, out), ctx=gast.Load()))
                continue
            if isinstance(a, gast.Lambda) and self.generated and self.closed_lambda(a):
                args.append(a)    # a key function srcad's derivative passes on (sorted_adjoint(g, x, key))
                continue
            args.append(self.atom(a, out))
        keywords = []
        for k in self.spread_keywords(expr.keywords, expr):
            if isinstance(k.value, gast.Lambda) and self.closed_lambda(k.value) and (
                    self.generated or k.arg == "key" and self.builtin(f, "sorted", "max", "min")):
                # ``sorted(x, key=lambda v: -v)``: an ordering only, written where it is used
                keywords.append(k)
                continue
            if k.arg == "key" and isinstance(k.value, gast.Lambda) and self.builtin(f, "sorted", "max", "min"):
                self.refuse(k.value, "key lambda that reads the function's variables",
                            "srcad evaluates the ordering again in the backward sweep; sort by a "
                            "function of the items alone, or compute the keys into a list first")
            keywords.append(gast.keyword(arg=k.arg, value=self.atom(k.value, out)))
        return gast.Call(func=func, args=args, keywords=keywords)

    def closed_lambda(self, lam):
        """A lambda of plain parameters that reads no local variable of the function (so it means
        the same wherever the derivative evaluates it) and holds nothing srcad must rewrite."""
        a = lam.args
        params = {p.id for p in a.posonlyargs + a.args}
        if a.vararg or a.kwarg or a.kwonlyargs or a.defaults:
            return False
        for n in walk(lam.body):
            if type(n) in REFUSED_EXPR or isinstance(n, gast.Name) and n.id in self.locals and n.id not in params:
                return False
        return True

    # ------------------------------------------------------------------ Python's own idioms
    def spread(self, args):
        """``f(*args)`` where ``args`` is a tuple or list display bound once in the function (or a
        display written in the call): its items, as separate arguments."""
        out = []
        for a in args:
            if isinstance(a, gast.Starred):
                v = a.value
                if isinstance(v, (gast.Tuple, gast.List)):
                    out += self.spread(v.elts)
                    continue
                if isinstance(v, gast.Name) and v.id in self.displays:
                    out += [gast.Subscript(value=N(v.id), slice=gast.Constant(value=k, kind=None), ctx=gast.Load())
                            for k in range(self.displays[v.id])]
                    continue
            out.append(a)
        return out

    def spread_keywords(self, keywords, call):
        """``f(**opts)`` where ``opts`` is a dict display with string keys bound once in the
        function (or written in the call): its items, as keyword arguments."""
        out = []
        for k in keywords:
            if k.arg is not None:
                out.append(k)
                continue
            v = k.value
            items = None
            if isinstance(v, gast.Dict):
                items = list(zip(v.keys, v.values))
            elif isinstance(v, gast.Name) and isinstance(self.displays.get(v.id), list):
                items = [(gast.Constant(value=key, kind=None),
                          gast.Subscript(value=N(v.id), slice=gast.Constant(value=key, kind=None), ctx=gast.Load()))
                         for key in self.displays[v.id]]
            if items is None or not all(isinstance(key, gast.Constant) and isinstance(key.value, str)
                                        for key, _ in items):
                self.refuse(call, "keyword unpacking (**kwargs)",
                            "of a mapping whose keys srcad cannot see: write the keywords, or unpack a "
                            "dict display with string keys bound once in the function")
            out += [gast.keyword(arg=key.value, value=value) for key, value in items]
        return out

    def builtin(self, func, *names):
        """Is ``func`` the name of one of the builtins ``names`` (not rebound anywhere)?"""
        import builtins
        if not (isinstance(func, gast.Name) and func.id in names and func.id not in self.locals):
            return False
        ok, obj = self.info.resolve(func.id)
        return ok and obj is getattr(builtins, func.id)

    def numpy_function(self, func, name):
        """Is ``func`` ``<module>.name`` for a module name bound to NumPy (``np.divmod``)?"""
        if not (isinstance(func, gast.Attribute) and func.attr == name and isinstance(func.value, gast.Name)
                and func.value.id not in self.locals):
            return False
        import numpy
        ok, obj = self.info.resolve(func.value.id)
        return ok and obj is numpy

    def desugar(self, call, out):
        """Builtins that iterate, written as the comprehensions Python runs; None for other calls.

        ``list(it)`` -> ``[v for v in it]``; ``tuple(it)`` -> ``("tuple", <comprehension>)``;
        ``map(f, a, b)`` -> ``[f(v, w) for v, w in zip(a, b)]``; ``zip(a, b)`` outside a ``for``
        -> ``[(v, w) for v, w in zip(a, b)]``; ``max(a, b)`` -> ``b if b > a else a`` (the first
        largest, as Python picks it) and ``min`` alike; a call of ``functools.partial(g, ...)``
        bound once is a call of ``g`` with the bound arguments first."""
        f = call.func
        args = self.spread(call.args)
        if any(isinstance(a, gast.Starred) for a in args) or call.keywords:
            return None
        if self.builtin(f, "list", "tuple") and len(args) == 1:
            it = args[0]
            if isinstance(it, gast.Call) and self.builtin(it.func, "map"):
                it = self.desugar(it, out) or it      # list(map(...)): the comprehension itself
            if isinstance(it, (gast.GeneratorExp, gast.ListComp)):
                comp = gast.ListComp(elt=it.elt, generators=it.generators)
            else:
                v = self.namer.fresh("item")
                comp = gast.ListComp(elt=N(v), generators=[gast.comprehension(target=N(v, True), iter=it, ifs=[],
                                                                              is_async=0)])
            return ("tuple", comp) if f.id == "tuple" else comp
        if self.builtin(f, "enumerate") and len(args) in (1, 2):
            # ``enumerate(a, k)`` outside a ``for``: ``[(i + k, v) for i, v in enumerate(a)]``
            i, v = self.namer.fresh("index"), self.namer.fresh("item")
            target = gast.Tuple(elts=[N(i, True), N(v, True)], ctx=gast.Store())
            count = N(i) if len(args) == 1 else gast.BinOp(left=N(i), op=gast.Add(), right=args[1])
            return gast.ListComp(elt=gast.Tuple(elts=[count, N(v)], ctx=gast.Load()),
                                 generators=[gast.comprehension(target=target, iter=gast.Call(
                                     func=N("enumerate"), args=args[:1], keywords=[]), ifs=[], is_async=0)])
        if self.builtin(f, "zip") and args:
            vs = [self.namer.fresh("item") for _ in args]
            target = gast.Tuple(elts=[N(v, True) for v in vs], ctx=gast.Store())
            return gast.ListComp(elt=gast.Tuple(elts=[N(v) for v in vs], ctx=gast.Load()),
                                 generators=[gast.comprehension(target=target, iter=gast.Call(
                                     func=N("zip"), args=args, keywords=[]), ifs=[], is_async=0)])
        if self.builtin(f, "map") and len(args) >= 2 and isinstance(args[0], gast.Lambda):
            lam = args[0]
            a = lam.args
            names = [p.id for p in a.posonlyargs + a.args]
            if a.vararg or a.kwarg or a.kwonlyargs or a.defaults or len(names) != len(args) - 1:
                return None
            vs = [self.namer.fresh("item") for _ in names]
            body = _renamed(lam.body, dict(zip(names, vs)))
            if len(vs) == 1:
                target, it = N(vs[0], True), args[1]
            else:
                target = gast.Tuple(elts=[N(v, True) for v in vs], ctx=gast.Store())
                it = gast.Call(func=N("zip"), args=args[1:], keywords=[])
            return gast.ListComp(elt=body, generators=[gast.comprehension(target=target, iter=it, ifs=[],
                                                                          is_async=0)])
        if self.builtin(f, "map") and len(args) >= 2 and not isinstance(args[0], gast.Lambda):
            vs = [self.namer.fresh("item") for _ in args[1:]]
            if len(vs) == 1:
                target, it = N(vs[0], True), args[1]
            else:
                target = gast.Tuple(elts=[N(v, True) for v in vs], ctx=gast.Store())
                it = gast.Call(func=N("zip"), args=args[1:], keywords=[])
            fn = args[0]
            if not (isinstance(fn, gast.Name) or (isinstance(fn, gast.Attribute) and self.is_static(fn))):
                fn = self.atom(fn, out, "fn")
            return gast.ListComp(elt=gast.Call(func=fn, args=[N(v) for v in vs], keywords=[]),
                                 generators=[gast.comprehension(target=target, iter=it, ifs=[], is_async=0)])
        if len(args) == 2 and (self.builtin(f, "divmod") or self.numpy_function(f, "divmod")):
            # ``divmod(a, b)`` is ``(a // b, a % b)`` (Python's float ``//`` is divmod's quotient);
            # ``np.divmod(a, b)`` is ``(np.floor_divide(a, b), np.remainder(a, b))``
            a, b = self.atom(args[0], out, "a"), self.atom(args[1], out, "b")
            if isinstance(f, gast.Name):
                parts = [gast.BinOp(left=a, op=gast.FloorDiv(), right=b),
                         gast.BinOp(left=clone(a), op=gast.Mod(), right=clone(b))]
            else:
                parts = [gast.Call(func=gast.Attribute(value=clone(f.value), attr=name, ctx=gast.Load()),
                                   args=[clone(a), clone(b)], keywords=[]) for name in ("floor_divide", "remainder")]
            return gast.Tuple(elts=parts, ctx=gast.Load())
        if self.builtin(f, "max", "min") and len(args) >= 2:
            better = gast.Gt() if f.id == "max" else gast.Lt()
            best = self.atom(args[0], out, "best")
            for a in args[1:]:
                c = self.atom(a, out, "best")
                pick = gast.IfExp(test=gast.Compare(left=clone(c), ops=[type(better)()], comparators=[clone(best)]),
                                  body=clone(c), orelse=clone(best))
                if a is args[-1]:
                    return pick
                best = self.atom(pick, out, "best")
        return None

    # ------------------------------------------------------------------ nested functions
    def not_escaping(self, name):
        """A nested function, lambda or partial is followed by inlining it where it is called; used
        as a value (returned, stored, passed to another function) it would escape: refused."""
        if name.id in self.local_fns:
            self.refuse(name, "nested function used as a value",
                        f"`{name.id}` is returned, stored or passed on; srcad inlines nested functions "
                        "where they are called: call it here, or define it at module level")

    def local_function(self, call):
        """The ``LocalFunction`` a call calls, or None."""
        f = call.func
        if isinstance(f, gast.Name) and f.id in self.local_fns:
            return self.local_fns[f.id]
        return None

    def define(self, name, fn, node):
        """Note the nested function (or lambda, or partial) ``fn`` bound to ``name`` at ``node``."""
        if self.binds.get(name, 0) != 1:
            self.refuse(node, "nested function bound more than once",
                        f"`{name}` is bound {self.binds.get(name, 0)} times; give each function its own name")
        self.local_fns[name] = fn

    def function_def(self, s, out):
        if s.decorator_list:
            self.refuse(s, "decorated nested function")
        for n in walk(s):
            if isinstance(n, (gast.Yield, gast.YieldFrom)):
                self.refuse(n, "generator function", "a nested function that yields")
        self.define(s.name, LocalFunction(s.name, self.defaults_now(s.args, out), s.body, s.lineno), s)

    def defaults_now(self, args, out):
        """Defaults are evaluated where the function is defined (``lambda v, c=c: ...`` captures
        ``c``'s value then): each one that is not a constant goes into a fresh variable here."""
        def held(d):
            if d is None or isinstance(d, gast.Constant) or (isinstance(d, gast.Attribute) and self.is_static(d)):
                return d
            kept = self.namer.fresh("default")
            self.locals.add(kept)
            self.assign_to(kept, d, out)
            return N(kept)
        args = clone(args)
        args.defaults = [held(d) for d in args.defaults]
        args.kw_defaults = [held(d) for d in args.kw_defaults]
        return args

    def foreign(self, site):
        """("generator", fn) or ("factory", fn) where ``site`` calls a function of the same module
        (no closure of its own, so its free names mean here what they mean there) that is a
        generator (``def unpack(W): ... yield ...``) or returns a function it defines
        (``def make_layer(s): def layer(h): ...; return layer``); else None. Both are inlined here:
        the generator's items collected into a list, the factory's function followed where called."""
        f = site.func
        if not isinstance(f, gast.Name) or f.id in self.locals or f.id in self.local_fns:
            return None
        ok, obj = self.info.resolve(f.id, guard=None)
        if not isinstance(obj, types.FunctionType) or obj.__closure__ or obj.__globals__ is not self.info.globals:
            return None
        import inspect
        generator = bool(obj.__code__.co_flags & inspect.CO_GENERATOR)
        if not generator and not any(isinstance(c, types.CodeType) for c in obj.__code__.co_consts):
            return None
        from srcad.parse import parse_function
        try:
            node = parse_function(obj, generator=generator).node
        except Exception:   # noqa: BLE001 - not readable: an ordinary call, handled later
            return None
        self.info.resolve(f.id)    # noted for the guards: the code relies on what the name is
        fn = LocalFunction(node.name, node.args, node.body, node.lineno)
        if generator:
            return "generator", fn
        last = node.body[-1] if node.body else None
        if isinstance(last, gast.Return) and isinstance(last.value, gast.Name) and any(
                isinstance(st, gast.FunctionDef) and st.name == last.value.id for st in node.body):
            return "factory", fn
        return None

    def inline_local(self, call, out, fn=None, generator=False, factory=False):
        """The value of a call to a nested function: its body inlined here, its locals renamed
        apart. Free names read the enclosing variables as they are now, as Python's closures do.
        A generator's value is the list of what it yields; a factory's, the function it returns."""
        fn = fn or self.local_function(call)
        ln = self.lineno
        if fn.name in self.inlining:
            self.refuse(call, "recursive nested function", f"`{fn.name}` calls itself; define it at module level")
        bound = self.bind_local(fn, call, out)
        rename = {}
        for n in walk(gast.Module(body=fn.body, type_ignores=[])):
            if isinstance(n, gast.Name) and isinstance(n.ctx, (gast.Store, gast.Param, gast.Del)):
                rename.setdefault(n.id, None)
            elif isinstance(n, gast.FunctionDef):
                rename.setdefault(n.name, None)
        for p in bound:
            rename[p] = None
        inner_binds = {}
        for n in walk(gast.Module(body=fn.body, type_ignores=[])):
            if isinstance(n, gast.Name) and isinstance(n.ctx, (gast.Store, gast.Del, gast.Param)):
                inner_binds[n.id] = inner_binds.get(n.id, 0) + 1
            elif isinstance(n, gast.FunctionDef):
                inner_binds[n.name] = inner_binds.get(n.name, 0) + 1
        for k in rename:
            rename[k] = self.namer.fresh(k)
            self.locals.add(rename[k])
            self.binds[rename[k]] = inner_binds.get(k, 0) + (k in bound)
        for p, value in bound.items():
            self.assign_to(rename[p], value, out)
        result = self.namer.fresh(fn.name.strip("<>") + "_out" if fn.name == "<lambda>" else fn.name)
        self.locals.add(result)
        body = [_renamed(st, rename) for st in fn.body]
        for st in walk(gast.Module(body=body, type_ignores=[])):
            if isinstance(st, gast.FunctionDef) and st.name in rename:
                st.name = rename[st.name]
        if generator:
            body = self.yields_appended(body, result, fn)
            out.append(assign(result, gast.List(elts=[], ctx=gast.Load()), ln))
        elif factory:
            body = body[:-1]
        else:
            body = self.tail_returns(body, result, fn)
        self.inlining.append(fn.name)
        try:
            for st in body:
                self.stmt(st, out)
        finally:
            self.inlining.pop()
        self.lineno = ln
        if factory:
            return self.local_fns[rename[fn.body[-1].value.id]]
        return N(result)

    def yields_appended(self, body, result, fn):
        """A generator's ``yield v`` statements become ``result.append(v)``."""
        def rewrite(stmts):
            new = []
            for st in stmts:
                if isinstance(st, gast.Expr) and isinstance(st.value, gast.Yield) and st.value.value is not None:
                    append = gast.Attribute(value=N(result), attr="append", ctx=gast.Load())
                    new.append(at(gast.Expr(value=gast.Call(func=append, args=[st.value.value], keywords=[])),
                                  st.lineno))
                    continue
                if isinstance(st, gast.Return):
                    self.refuse(st, "return in a generator function", f"`{fn.name}`")
                for field in ("body", "orelse"):
                    sub = getattr(st, field, None)
                    if isinstance(sub, list) and sub and not isinstance(st, gast.FunctionDef):
                        setattr(st, field, rewrite(sub))
                new.append(st)
            return new
        return rewrite(body)

    def is_partial(self, value):
        if not (isinstance(value, gast.Call) and value.args and not isinstance(value.args[0], gast.Starred)):
            return False
        f = value.func
        if not (isinstance(f, gast.Name) or (isinstance(f, gast.Attribute) and self.is_static(f))):
            return False
        from srcad.callees import resolve
        import functools
        where = resolve(value.func, self.info, self.locals, strict=False)
        return where is not None and where.is_(functools.partial)

    def partial(self, value, out):
        """``act = functools.partial(g, a, k=b)``: the bound arguments are evaluated now (into
        fresh variables, as ``partial`` holds their values); ``act(x)`` is then ``g(a, x, k=b)``,
        a call of ``g`` like any other (so ``g`` is inlined or given its rule as usual)."""
        g, *args = value.args
        if any(isinstance(a, gast.Starred) for a in args) or any(k.arg is None for k in value.keywords):
            self.refuse(value, "functools.partial with unpacked arguments")
        if isinstance(g, gast.Name) and g.id in self.local_fns:
            self.refuse(value, "functools.partial of a nested function")
        if not (isinstance(g, gast.Name) or (isinstance(g, gast.Attribute) and self.is_static(g))):
            g = self.atom(g, out, "fn")

        def held(v):
            a = self.atom(v, out, "bound")
            if isinstance(a, gast.Name):
                kept = self.namer.fresh(a.id + "_bound" if not a.id.startswith("bound") else a.id)
                self.locals.add(kept)
                out.append(assign(kept, a, self.lineno))
                a = N(kept)
            return a
        bound = [held(a) for a in args]
        keywords = [(k.arg, held(k.value)) for k in value.keywords]
        return LocalFunction("<partial>", None, [], self.lineno, partial=g, bound_args=bound,
                             bound_keywords=keywords)

    def partial_call(self, fn, call):
        """The call of the function a partial holds, with its bound arguments first."""
        keywords = [gast.keyword(arg=k, value=clone(v)) for k, v in fn.bound_keywords]
        given = {k.arg for k in call.keywords}
        keywords = [k for k in keywords if k.arg not in given] + list(call.keywords)
        return gast.Call(func=clone(fn.partial), args=[clone(a) for a in fn.bound_args] + list(call.args),
                         keywords=keywords)

    def bind_local(self, fn, call, out):
        """Parameter -> argument expression, as Python binds the call (positional, keywords,
        defaults, ``*args`` as a tuple display); refused where Python would raise TypeError."""
        args = self.spread(call.args)
        keywords = {}
        for k in self.spread_keywords(call.keywords, call):
            keywords[k.arg] = k.value
        a = fn.args
        if any(isinstance(x, gast.Starred) for x in args):
            self.refuse(call, "starred argument (*args)", f"to the nested function `{fn.name}`, of a sequence "
                        "whose length srcad cannot see")
        positional = [p.id for p in a.posonlyargs + a.args]
        kwonly = [p.id for p in a.kwonlyargs]
        bound = {}
        for p, v in zip(positional, args):
            bound[p] = v
        extra = args[len(positional):]
        if extra and a.vararg is None:
            self.refuse(call, "call with too many arguments", f"to `{fn.name}`")
        for k, v in keywords.items():
            if k in bound or (k not in positional[len(a.posonlyargs):] and k not in kwonly):
                if a.kwarg is None or k in bound:
                    self.refuse(call, "call with an unexpected keyword", f"`{k}` to `{fn.name}`")
        defaults = dict(zip(positional[len(positional) - len(a.defaults):], a.defaults))
        defaults.update({p.id: d for p, d in zip(a.kwonlyargs, a.kw_defaults) if d is not None})
        for p in positional + kwonly:
            if p in bound:
                continue
            if p in keywords:
                bound[p] = keywords.pop(p)
            elif p in defaults:
                d = defaults[p]
                bound[p] = d      # a constant, or the variable it was evaluated into (defaults_now)
            else:
                self.refuse(call, "call with a missing argument", f"`{p}` of `{fn.name}`")
        if a.vararg is not None:
            bound[a.vararg.id] = gast.Tuple(elts=extra, ctx=gast.Load())
        if a.kwarg is not None:
            rest = {k: v for k, v in keywords.items() if k not in bound}
            bound[a.kwarg.id] = gast.Dict(keys=[gast.Constant(value=k, kind=None) for k in rest],
                                          values=list(rest.values()))
        return bound

    def tail_returns(self, body, result, fn):
        """``return v`` at the end of the body (or at the end of each branch of a final ``if``)
        becomes ``result = v``; a ``return`` elsewhere in a nested function is refused."""
        if not body:
            self.refuse(fn.node_for_errors(self.lineno), "nested function without a return")
        *head, last = body
        for st in head:
            for n in walk(st):
                if isinstance(n, gast.Return):
                    self.refuse(n, "early return in a nested function",
                                f"`{fn.name}` returns before its last statement; write one return at "
                                "its end, or define it at module level")
        if isinstance(last, gast.Return):
            if last.value is None:
                self.refuse(last, "return without a value")
            return head + [at(gast.Assign(targets=[N(result, True)], value=last.value, type_comment=None),
                              last.lineno)]
        if isinstance(last, gast.If) and last.orelse:
            last.body = self.tail_returns(last.body, result, fn)
            last.orelse = self.tail_returns(last.orelse, result, fn)
            return head + [last]
        self.refuse(last, "nested function that can end without a return",
                    f"`{fn.name}` must end in a return (or an if/else whose branches each end in one)")

    # ------------------------------------------------------------------ statements
    def import_stmt(self, s):
        """``import numpy as np``, ``from math import exp`` inside the function: the module or
        object is imported now, as Python's import statement would import it, and the name means
        it wherever the function reads it (generated code reads it as a name of its own). The name
        must not be bound otherwise in the function."""
        import importlib
        for alias in s.names:
            if alias.name == "*":
                self.refuse(s, "import *")
            try:
                if isinstance(s, gast.Import):
                    local = alias.asname or alias.name.partition(".")[0]
                    module = importlib.import_module(alias.name)
                    obj = module if alias.asname else importlib.import_module(alias.name.partition(".")[0])
                else:
                    if s.level:
                        package = self.info.globals.get("__package__") or ""
                        module = importlib.import_module("." * s.level + (s.module or ""), package)
                    else:
                        module = importlib.import_module(s.module)
                    local = alias.asname or alias.name
                    if hasattr(module, alias.name):
                        obj = getattr(module, alias.name)
                    else:
                        obj = importlib.import_module(module.__name__ + "." + alias.name)
            except ImportError as exc:
                self.refuse(s, "import statement", f"it fails when srcad runs it: {exc}")
            if self.binds.get(local, 0) or (self.info.extra.get(local, obj) is not obj):
                self.refuse(s, "import of a name the function also binds",
                            f"`{local}` is bound elsewhere in the function; give the import its own name")
            self.locals.discard(local)
            self.info.extra[local] = obj

    def body(self, stmts):
        out = []
        for s in stmts:
            self.stmt(s, out)
        return out

    def stmt(self, s, out):
        self.lineno = getattr(s, "lineno", self.lineno)
        ln = self.lineno
        if isinstance(s, gast.Delete) and all(isinstance(t, gast.Name) for t in s.targets):
            return  # ``del name`` only frees memory (srcad's own derivatives write it): nothing to follow
        if isinstance(s, gast.FunctionDef):
            return self.function_def(s, out)
        if isinstance(s, (gast.Import, gast.ImportFrom)):
            return self.import_stmt(s)
        if type(s) in REFUSED:
            self.refuse(s, REFUSED[type(s)])
        if isinstance(s, gast.Assign) and len(s.targets) == 1 and isinstance(s.targets[0], gast.Name):
            name = s.targets[0].id
            if isinstance(s.value, gast.Lambda):
                lam = s.value
                body = [at(gast.Return(value=lam.body), ln)]
                return self.define(name, LocalFunction("<lambda>", self.defaults_now(lam.args, out), body, ln), s)
            if self.is_partial(s.value):
                return self.define(name, self.partial(s.value, out), s)
            foreign = self.foreign(s.value) if isinstance(s.value, gast.Call) else None
            if foreign is not None and foreign[0] == "factory":
                return self.define(name, self.inline_local(s.value, out, foreign[1], factory=True), s)
            if name in self.resized:
                pass     # ``lst = []; lst.append(x)``: its items are not the display's
            elif self.binds.get(name) == 1 and isinstance(s.value, (gast.Tuple, gast.List)) and \
                    not any(isinstance(e, gast.Starred) for e in s.value.elts):
                self.displays[name] = len(s.value.elts)
            elif self.binds.get(name) == 1 and isinstance(s.value, gast.Dict) and all(
                    isinstance(k, gast.Constant) and isinstance(k.value, str) for k in s.value.keys):
                self.displays[name] = [k.value for k in s.value.keys]
        if isinstance(s, gast.Expr) and isinstance(s.value, gast.Call) and self.local_function(s.value):
            fn = self.local_function(s.value)
            if fn.partial is not None:
                return self.stmt(at(gast.Expr(value=self.partial_call(fn, s.value)), ln), out)
            self.inline_local(s.value, out)
            return
        if isinstance(s, gast.Expr):
            v = s.value
            if isinstance(v, gast.Constant):
                return  # docstring or bare constant
            if type(v) in REFUSED_EXPR:
                self.refuse(v, REFUSED_EXPR[type(v)])
            if isinstance(v, gast.Call):
                out.append(at(gast.Expr(value=self.call(v, out)), ln))
            else:
                self.atom(v, out)
        elif isinstance(s, gast.Assign):
            if len(s.targets) == 1:
                self.assign_target(s.targets[0], s.value, out)
            else:
                first = s.targets[-1]
                self.assign_target(first, s.value, out)
                for t in s.targets[:-1]:
                    self.assign_target(t, clone(first), out)
        elif isinstance(s, gast.AnnAssign):
            if s.value is not None:
                self.assign_target(s.target, s.value, out)
        elif isinstance(s, gast.AugAssign):
            t = s.target
            if isinstance(t, gast.Name):
                self.assign_target(t, gast.BinOp(left=N(t.id), op=s.op, right=s.value), out)
                self.mark_in_place(out[-1])
            elif isinstance(t, gast.Subscript):
                base = self.atom(t.value, out)
                self.check_inline(t.slice)
                index = self.store_index(t.slice, out)
                old = self.atom(gast.Subscript(value=base, slice=clone(index), ctx=gast.Load()), out)
                new = self.atom(gast.BinOp(left=old, op=s.op, right=s.value), out)
                out.append(at(gast.Assign(targets=[gast.Subscript(value=base, slice=index, ctx=gast.Store())],
                                          value=new, type_comment=None), ln))
                self.mark_in_place(out[-1])
            elif isinstance(t, gast.Attribute) and isinstance(t.value, gast.Name):
                # ``self.h += v``: ``self.h = self.h + v`` where NumPy writes into the array
                # ``self.h`` holds; read only on an object made in the function (inline.py), where
                # ``self.h`` is a variable and this is ``h = h + v`` in place
                v = self.atom(s.value, out)
                old = gast.Attribute(value=N(t.value.id), attr=t.attr, ctx=gast.Load())
                out.append(at(gast.Assign(targets=[gast.Attribute(value=N(t.value.id), attr=t.attr, ctx=gast.Store())],
                                          value=gast.BinOp(left=old, op=s.op, right=v), type_comment=None), ln))
                self.mark_in_place(out[-1])
            else:
                self.refuse(s, "augmented assignment to an attribute")
        elif isinstance(s, gast.Return):
            if s.value is None:
                self.refuse(s, "return without a value")
            if isinstance(s.value, gast.Name):
                self.not_escaping(s.value)
                value = N(s.value.id)
            else:
                if self.out_name is None:
                    self.out_name = self.namer.fresh("out", numbered=False)
                self.assign_to(self.out_name, s.value, out)
                value = N(self.out_name)
            out.append(at(gast.Return(value=value), ln))
        elif isinstance(s, gast.If):
            test = self.test(s.test, out)
            out.append(at(gast.If(test=test, body=self.body(s.body) or [gast.Pass()],
                                  orelse=self.body(s.orelse)), ln))
        elif isinstance(s, (gast.While, gast.For)) and s.orelse:
            self.loop_else(s, out)
        elif isinstance(s, gast.While) and self.computed(s.test):
            # ``while any(v > 0 for v in x):``: the test computed at the top of every pass
            head = []
            test = self.atom(s.test, head, "cond")
            head.append(at(gast.If(test=gast.UnaryOp(op=gast.Not(), operand=test), body=[gast.Break()],
                                   orelse=[]), ln))
            out.append(at(gast.While(test=gast.Constant(value=True, kind=None),
                                     body=head + self.body(s.body), orelse=[]), ln))
        elif isinstance(s, gast.While):
            self.check_inline(s.test)
            out.append(at(gast.While(test=s.test, body=self.body(s.body) or [gast.Pass()], orelse=[]), ln))
        elif isinstance(s, gast.For):
            self.for_loop(s, out)
        elif isinstance(s, (gast.Break, gast.Continue, gast.Pass)):
            out.append(at(type(s)(), ln))
        elif isinstance(s, (gast.Assert, gast.Raise)):
            self.check_inline(s)
            out.append(s)
        else:
            self.refuse(s, type(s).__name__ + " statement")

    def loop_else(self, s, out):
        """``for``/``while`` ... ``else``: the ``else`` block runs when the loop ends without a
        ``break``: a flag set beside each of the loop's own breaks, then ``if not broke: <else>``
        (with no break, the block simply follows the loop)."""
        orelse, ln = s.orelse, self.lineno
        flag = self.namer.fresh("broke")
        found = []

        def flagged(stmts):
            new = []
            for t in stmts:
                if isinstance(t, gast.Break):
                    found.append(t)
                    new.append(assign(flag, gast.Constant(value=True, kind=None), getattr(t, "lineno", ln)))
                elif isinstance(t, gast.If):
                    t.body, t.orelse = flagged(t.body), flagged(t.orelse)
                elif isinstance(t, (gast.For, gast.While)):
                    t.orelse = flagged(t.orelse)     # an inner loop's else is in this loop's body
                elif isinstance(t, gast.With):
                    t.body = flagged(t.body)
                new.append(t)
            return new

        loop = type(s)(**{f: getattr(s, f) for f in s._fields})
        loop.orelse = []
        loop.body = flagged(s.body)
        for a in ("lineno", "col_offset", "end_lineno", "end_col_offset"):
            setattr(loop, a, getattr(s, a, None))
        if found:
            out.append(assign(flag, gast.Constant(value=False, kind=None), ln))
        self.stmt(loop, out)
        if found:
            test = gast.UnaryOp(op=gast.Not(), operand=N(flag))
            self.stmt(at(gast.If(test=test, body=orelse, orelse=[]), ln), out)
        else:
            for t in orelse:
                self.stmt(t, out)

    def store_index(self, index, out):
        """The index of ``x[index] = v``, with the parts that compute something from arrays
        (``x > 0.5``, ``np.argmax(x)``) evaluated first into a variable: the write may change what
        they read, and the backward sweep must use the places that were written."""
        if isinstance(index, gast.Tuple):
            return gast.Tuple(elts=[self.store_index(e, out) for e in index.elts], ctx=gast.Load())
        if isinstance(index, gast.Slice) or is_atom(index) or not any(
                isinstance(n, (gast.Compare, gast.Call, gast.Subscript, gast.BoolOp)) for n in walk(index)):
            return index
        return self.atom(index, out, "index")

    def mark_in_place(self, stmt):
        """The last statement of ``y op= v``: where NumPy writes into ``y``'s array."""
        if not self.generated:
            stmt.__class__ = InPlaceAssign

    def assign_target(self, target, value, out):
        ln = self.lineno
        if isinstance(target, gast.Name):
            self.assign_to(target.id, value, out)
        elif isinstance(target, (gast.Tuple, gast.List)):
            if any(isinstance(e, gast.Starred) for e in target.elts):
                return self.starred_target(target, value, out)
            if isinstance(value, (gast.Tuple, gast.List)) and len(value.elts) == len(target.elts):
                stored = {n.id for t in target.elts for n in walk(t) if isinstance(n, gast.Name)}
                read = {n.id for v in value.elts for n in walk(v) if isinstance(n, gast.Name)}
                if not stored & read:
                    for t, v in zip(target.elts, value.elts):
                        self.assign_target(t, v, out)
                    return
                atoms = [self.atom(v, out) for v in value.elts]
                temps = []
                for a in atoms:
                    if isinstance(a, gast.Name) and a.id in stored:
                        tmp = self.namer.fresh(a.id + "_old")
                        out.append(assign(tmp, a, ln))
                        a = N(tmp)
                    temps.append(a)
                for t, a in zip(target.elts, temps):
                    self.assign_target(t, a, out)
                return
            seq = self.atom(value, out, "tup")
            if isinstance(value, (gast.Name, gast.Attribute, gast.Subscript)) and not self.generated:
                # a value of unknown type: Python unpacks a dict's keys and checks the count
                out.append(at(gast.Expr(value=gast.Call(func=N(self.helper("check_unpack")), args=[
                    clone(seq), gast.Constant(value=len(target.elts), kind=None)], keywords=[])), ln))
            if isinstance(seq, gast.Name) and seq.id in {n.id for n in walk(target) if isinstance(n, gast.Name)}:
                tmp = self.namer.fresh("tup")
                out.append(assign(tmp, seq, ln))
                seq = N(tmp)
            for k, t in enumerate(target.elts):
                item = gast.Subscript(value=clone(seq), slice=gast.Constant(value=k, kind=None),
                                      ctx=gast.Load())
                self.assign_target(t, item, out)
        elif isinstance(target, gast.Subscript):
            if not isinstance(target.value, gast.Name):
                self.refuse(target, "assignment into a nested subscript", "assign to a name first")
            self.check_inline(target.slice)
            v = self.atom(value, out)
            index = self.store_index(target.slice, out)
            out.append(at(gast.Assign(targets=[gast.Subscript(value=N(target.value.id), slice=index,
                                                              ctx=gast.Store())],
                                      value=v, type_comment=None), ln))
        elif isinstance(target, gast.Attribute) and isinstance(target.value, gast.Name):
            # ``self.W = W``: kept as written; inline.py reads it on objects made in the function
            # (where attributes are variables) and refuses it elsewhere
            v = self.atom(value, out)
            out.append(at(gast.Assign(targets=[gast.Attribute(value=N(target.value.id), attr=target.attr,
                                                              ctx=gast.Store())], value=v, type_comment=None), ln))
        elif isinstance(target, gast.Attribute):
            self.refuse(target, "assignment to an attribute")
        else:
            self.refuse(target, "assignment target " + type(target).__name__)

    def starred_target(self, target, value, out):
        """``a, *rest, z = seq``: ``a = seq[0]``, ``rest = list(seq[1:-1])``, ``z = seq[-1]``, after
        Python's check that ``seq`` has at least two items."""
        ln = self.lineno
        stars = [k for k, e in enumerate(target.elts) if isinstance(e, gast.Starred)]
        if len(stars) > 1:
            self.refuse(target, "assignment with two starred targets")
        k, n = stars[0], len(target.elts)
        after = n - k - 1
        seq = self.atom(value, out, "tup")
        if isinstance(seq, gast.Name) and seq.id in {m.id for m in walk(target) if isinstance(m, gast.Name)}:
            tmp = self.namer.fresh("tup")
            out.append(assign(tmp, seq, ln))
            seq = N(tmp)
        out.append(at(gast.Expr(value=gast.Call(func=N(self.helper("check_unpack")), args=[
            clone(seq), gast.Constant(value=n - 1, kind=None), gast.Constant(value=True, kind=None)],
            keywords=[])), ln))
        for j, t in enumerate(target.elts):
            if j < k:
                index = gast.Constant(value=j, kind=None)
            elif j > k:
                index = gast.UnaryOp(op=gast.USub(), operand=gast.Constant(value=n - j, kind=None))
            else:
                stop = gast.UnaryOp(op=gast.USub(), operand=gast.Constant(value=after, kind=None)) if after else None
                part = gast.Subscript(value=clone(seq), slice=gast.Slice(
                    lower=gast.Constant(value=k, kind=None), upper=stop, step=None), ctx=gast.Load())
                v = self.namer.fresh("item")
                rest = gast.ListComp(elt=N(v), generators=[gast.comprehension(
                    target=N(v, True), iter=part, ifs=[], is_async=0)])
                self.assign_target(t.value, rest, out)
                continue
            self.assign_target(t, gast.Subscript(value=clone(seq), slice=index, ctx=gast.Load()), out)

    def helper(self, name):
        """The name under which normalized code calls the runtime helper ``name``."""
        from srcad import runtime
        obj = getattr(runtime, name)
        for k, v in self.info.extra.items():
            if v is obj:
                return k
        fresh = self.namer.fresh(name, numbered=False)
        self.info.extra[fresh] = obj
        return fresh

    def loop_seq(self, it, out):
        """``seq = loop_seq(it)``: what a ``for`` loop over ``it`` indexes (``it`` itself for a
        sequence or array; the keys of a dict, listed once)."""
        x = self.atom(it, out, "seq")
        seq = self.namer.fresh("seq")
        out.append(assign(seq, gast.Call(func=N(self.helper("loop_seq")), args=[x], keywords=[]), self.lineno))
        return N(seq)

    def refuse_growing(self, s, it):
        """Python's list iterator sees items appended during the loop; the loop srcad writes
        (``for i in range(len(seq))``) counts them once. Refused rather than run differently."""
        seqs = it.args if isinstance(it, gast.Call) and isinstance(it.func, gast.Name) and \
            it.func.id in ("enumerate", "zip") else [it]
        names = {q.id for q in seqs if isinstance(q, gast.Name)}
        for st in s.body:
            for n in walk(st):
                grows = None
                if isinstance(n, gast.Call) and isinstance(n.func, gast.Attribute) and \
                        isinstance(n.func.value, gast.Name) and n.func.value.id in names and \
                        n.func.attr in ("append", "extend", "insert", "pop", "remove", "clear"):
                    grows = n.func.value.id
                elif isinstance(n, gast.AugAssign) and isinstance(n.target, gast.Name) and n.target.id in names:
                    grows = n.target.id
                if grows is not None:
                    self.refuse(n, "for loop over a list that its body changes in length",
                                f"`{grows}`: Python's loop would see the change; loop over "
                                f"`range(len({grows}))` or a copy `list({grows})`")

    def for_loop(self, s, out):
        ln = self.lineno
        it = s.iter
        pair = isinstance(s.target, gast.Tuple) and len(s.target.elts) == 2
        if isinstance(it, gast.Call) and (self.builtin(it.func, "map") or self.builtin(it.func, "enumerate") and not (
                pair and len(it.args) == 1 and not it.keywords)):
            # for v in map(f, xs), for p in enumerate(xs), for i, v in enumerate(xs, 1): over the
            # list of items
            comp = self.desugar(it, out)
            if comp is not None:
                it = self.atom(comp, out, "seq")
        self.check_inline(it)
        fn = it.func.id if isinstance(it, gast.Call) and isinstance(it.func, gast.Name) else None
        rng = _range_like(it)
        if rng is not None and isinstance(s.target, gast.Name):
            # ``reversed(range(...))`` and ``range(...)[::-1]`` (the backward sweeps of generated code,
            # differentiated again by grad(grad(f))) are ranges too: a reversed() iterator has no
            # len() nor indexing, so the generic sequence loop below would fail on it.
            it, fn = rng, "range"
        if fn == "range" and isinstance(s.target, gast.Name):
            body = self.body(s.body)
            out.append(at(gast.For(target=N(s.target.id, True), iter=it, body=body or [gast.Pass()],
                                   orelse=[], type_comment=None), ln))
            return
        self.refuse_growing(s, it)
        index = self.namer.fresh("i")
        view = _dict_view(it)
        if view is not None:
            # ``for k, v in d.items()`` / ``d.values()`` / ``d.keys()``: the keys, listed once when
            # the loop starts, and ``d[k]`` read at each pass (a dict's value, differentiated)
            d = self.atom(it.func.value, out, "dict")
            keys = self.namer.fresh("keys")
            out.append(assign(keys, gast.Call(func=N(self.helper("dict_keys")), args=[clone(d)], keywords=[]), ln))
            key = gast.Subscript(value=N(keys), slice=N(index), ctx=gast.Load())
            if view == "keys":
                pre = [(s.target, key)]
            else:
                if view == "items" and isinstance(s.target, gast.Tuple) and len(s.target.elts) == 2 and \
                        isinstance(s.target.elts[0], gast.Name):
                    k = s.target.elts[0].id
                    pre = [(s.target.elts[0], key)]
                    target = s.target.elts[1]
                else:
                    k = self.namer.fresh("key")
                    pre = [(N(k, True), key)]
                    target = s.target
                item = gast.Subscript(value=clone(d), slice=N(k), ctx=gast.Load())
                if view == "items" and target is s.target:
                    item = gast.Tuple(elts=[N(k), item], ctx=gast.Load())
                pre.append((target, item))
            bound = gast.Call(func=N("len"), args=[N(keys)], keywords=[])
        elif fn == "enumerate" and len(it.args) == 1 and not it.keywords and \
                isinstance(s.target, gast.Tuple) and len(s.target.elts) == 2:
            seq = self.loop_seq(it.args[0], out)
            pre = [(s.target.elts[0], N(index)),
                   (s.target.elts[1], gast.Subscript(value=seq, slice=N(index), ctx=gast.Load()))]
            bound = gast.Call(func=N("len"), args=[clone(seq)], keywords=[])
        elif fn == "zip" and it.args and not it.keywords:
            seqs = [self.loop_seq(a, out) for a in it.args]
            if isinstance(s.target, gast.Tuple) and len(s.target.elts) == len(seqs):
                pre = [(t, gast.Subscript(value=clone(q), slice=N(index), ctx=gast.Load()))
                       for t, q in zip(s.target.elts, seqs)]
            else:
                pre = [(s.target, gast.Tuple(elts=[gast.Subscript(value=clone(q), slice=N(index),
                                                                  ctx=gast.Load()) for q in seqs],
                                             ctx=gast.Load()))]
            lens = [gast.Call(func=N("len"), args=[clone(q)], keywords=[]) for q in seqs]
            bound = lens[0] if len(lens) == 1 else gast.Call(func=N("min"), args=lens, keywords=[])
        else:
            seq = self.loop_seq(it, out)
            pre = [(s.target, gast.Subscript(value=seq, slice=N(index), ctx=gast.Load()))]
            bound = gast.Call(func=N("len"), args=[clone(seq)], keywords=[])
        body = []
        for target, value in pre:
            self.assign_target(target, value, body)
        self.lineno = ln
        body += self.body(s.body)
        rng = gast.Call(func=N("range"), args=[bound], keywords=[])
        out.append(at(gast.For(target=N(index, True), iter=rng, body=body, orelse=[], type_comment=None), ln))


def _class_attr(cls, name):
    for klass in cls.__mro__:
        if name in klass.__dict__:
            return klass.__dict__[name]
    return None


def user_method(obj):
    """(function, receiver) where calling ``obj`` calls a plain Python function of the user's
    with ``receiver`` first: a bound method of a user object, or a user object with a
    ``__call__`` method; (None, None) otherwise (rules, NumPy's and SciPy's own functions)."""
    from srcad.rules.registry import FORWARD, NONDIFF, REVERSE, library_function
    if isinstance(obj, types.MethodType):
        fn, receiver = obj.__func__, obj.__self__
    elif not isinstance(obj, (type, types.FunctionType, types.BuiltinFunctionType, types.ModuleType)) and \
            isinstance(_class_attr(type(obj), "__call__"), types.FunctionType):
        fn, receiver = _class_attr(type(obj), "__call__"), obj
    else:
        return None, None
    if not isinstance(fn, types.FunctionType) or isinstance(receiver, (type, types.ModuleType)):
        return None, None
    try:
        if fn in REVERSE or fn in FORWARD or fn in NONDIFF or library_function(fn):
            return None, None
    except TypeError:
        return None, None
    if getattr(fn, "__module__", "").split(".")[0] in ("srcad", "numpy", "scipy", "logging", "functools"):
        return None, None
    return fn, receiver


COMPREHENSIONS = (gast.ListComp, gast.SetComp, gast.DictComp, gast.GeneratorExp)


def _renamed(node, mapping):
    """A copy of ``node`` with the names in ``mapping`` renamed."""
    node = clone(node)
    for n in walk(node):
        if isinstance(n, gast.Name) and n.id in mapping:
            n.id = mapping[n.id]
    return node


def _dict_view(it):
    """'keys', 'values' or 'items' for ``d.keys()``, ``d.values()``, ``d.items()``; else None."""
    if isinstance(it, gast.Call) and isinstance(it.func, gast.Attribute) and not it.args and \
            not it.keywords and it.func.attr in ("keys", "values", "items"):
        return it.func.attr
    return None


def _range_like(it):
    """``it`` as an expression evaluating to a ``range`` object, or None.

    ``range(...)`` itself, a slice of a range, and ``reversed(<range>)`` (rewritten ``<range>[::-1]``).
    """
    if isinstance(it, gast.Call) and isinstance(it.func, gast.Name) and not it.keywords:
        if it.func.id == "range":
            return it
        if it.func.id == "reversed" and len(it.args) == 1:
            inner = _range_like(it.args[0])
            if inner is not None:
                return gast.Subscript(value=inner, slice=gast.Slice(lower=None, upper=None,
                                                                    step=gast.Constant(value=-1, kind=None)),
                                      ctx=gast.Load())
    if isinstance(it, gast.Subscript) and isinstance(it.slice, gast.Slice):
        inner = _range_like(it.value)
        if inner is not None:
            return gast.Subscript(value=inner, slice=it.slice, ctx=gast.Load())
    return None


def normalize(info):
    """Return (normalized body, Normalizer) for the parsed function ``info``."""
    norm = Normalizer(info)
    body = norm.body(_static_names(info.node.body, norm))
    _sequence_operators(body, norm)
    return body, norm


def _maybe_resized(fdef):
    """Names the function may add items to or remove them from (or hand to code that may): every
    read of them other than an item (``a[i]``, ``a[i] = v``), a spread (``*a``, ``**a``), ``len(a)``
    or a loop over them (``lst.append(v)``, ``g(lst)``, ``b = lst``, ``del lst[0]``)."""
    out = set()
    for node in walk(fdef):
        for field in node._fields:
            value = getattr(node, field, None)
            for ch in value if isinstance(value, list) else [value]:
                if not (isinstance(ch, gast.Name) and isinstance(ch.ctx, gast.Load)):
                    continue
                fine = isinstance(node, gast.Subscript) and field == "value" and not isinstance(node.ctx, gast.Del) \
                    or isinstance(node, gast.Starred) or isinstance(node, gast.keyword) and node.arg is None \
                    or isinstance(node, (gast.For, gast.comprehension)) and field == "iter" \
                    or isinstance(node, gast.Call) and field == "args" and isinstance(node.func, gast.Name) \
                    and node.func.id == "len"
                if not fine:
                    out.add(ch.id)
    return out


def _static_names(body, norm):
    """``body`` where a local bound once, at the top level, to a module or a function named by a
    global (``np_ = np``, ``act = np.tanh``, ``s = mymod.f``) and read only after that is replaced by
    what it names: its calls are then the calls srcad knows (``np_.sum(v)`` is ``np.sum(v)``)."""
    found = {}
    for k, st in enumerate(body):
        if not (isinstance(st, gast.Assign) and len(st.targets) == 1 and isinstance(st.targets[0], gast.Name)):
            continue
        name, v = st.targets[0].id, st.value
        if norm.binds.get(name) != 1 or name in norm.params or not isinstance(v, (gast.Name, gast.Attribute)) \
                or not norm.is_static(v):
            continue
        chain = []
        base = v
        while isinstance(base, gast.Attribute):
            chain.append(base.attr)
            base = base.value
        ok, obj = norm.info.resolve(base.id, guard=None)
        for attr in reversed(chain):
            obj = getattr(obj, attr, None) if ok else None
        if not ok or not (isinstance(obj, types.ModuleType) or callable(obj)):
            continue
        if any(isinstance(n, gast.Name) and n.id == name for s2 in body[:k] for n in walk(s2)):
            continue
        found[name] = (k, v)
    if not found:
        return body
    drop = {k for k, _ in found.values()}

    class Swap(gast.NodeTransformer):
        def visit_Name(self, node):
            if node.id in found and isinstance(node.ctx, gast.Load):
                return gast.copy_location(clone(found[node.id][1]), node)
            return node

    return [Swap().visit(clone(st)) for k, st in enumerate(body) if k not in drop]


def _known_sequences(body, norm):
    """Local variables certainly bound to a list or tuple: every assignment to them is a list or
    tuple display, ``list(...)``/``tuple(...)``, a slice of one, or ``+``/``*`` on one."""
    import builtins
    builders = {n for n in ("list", "tuple") if norm.info.resolve(n) == (True, getattr(builtins, n))}
    defs = {}
    for st in walk_stmts(body):
        if isinstance(st, gast.Assign) and isinstance(st.targets[0], gast.Name):
            defs.setdefault(st.targets[0].id, []).append(st.value)
        elif isinstance(st, gast.Assign):
            defs.setdefault(st.targets[0].value.id, []).append(None)   # x[i] = v: keep it simple
        elif isinstance(st, gast.For):
            defs.setdefault(st.target.id, []).append(None)
    for p in norm.params:
        defs.setdefault(p, []).append(None)

    def seq(v, known):
        if isinstance(v, (gast.List, gast.Tuple)):
            return True
        if isinstance(v, gast.Name):
            return v.id in known
        if isinstance(v, gast.Call) and isinstance(v.func, gast.Name) and v.func.id in builders:
            return True
        if isinstance(v, gast.Subscript) and isinstance(v.slice, gast.Slice):
            return seq(v.value, known)
        if isinstance(v, gast.BinOp) and isinstance(v.op, gast.Add):
            return seq(v.left, known) or seq(v.right, known)
        if isinstance(v, gast.BinOp) and isinstance(v.op, gast.Mult):
            return seq(v.left, known) or seq(v.right, known)
        return False

    known = set(defs)   # greatest fixed point: drop names with a definition that is not a sequence
    changed = True
    while changed:
        changed = False
        for name in sorted(known):
            if not all(v is not None and seq(v, known) for v in defs[name]):
                known.discard(name)
                changed = True
    return known


def _sequence_operators(body, norm):
    """``a + b`` and ``a * n`` where ``a`` is known to be a list or tuple are concatenation and
    repetition, not NumPy's addition and multiplication: written as ``seq_concat(a, b)`` and
    ``seq_repeat(a, n)``, whose derivatives are slices of the result's adjoint."""
    known = _known_sequences(body, norm)
    if not known:
        return
    is_seq = lambda a: isinstance(a, gast.Name) and a.id in known  # noqa: E731
    for st in walk_stmts(body):
        if not (isinstance(st, gast.Assign) and isinstance(st.value, gast.BinOp)):
            continue
        v = st.value
        if isinstance(v.op, gast.Add) and (is_seq(v.left) or is_seq(v.right)):
            st.value = gast.Call(func=N(norm.helper("seq_concat")), args=[v.left, v.right], keywords=[])
        elif isinstance(v.op, gast.Mult) and (is_seq(v.left) or is_seq(v.right)):
            a, n = (v.left, v.right) if is_seq(v.left) else (v.right, v.left)
            st.value = gast.Call(func=N(norm.helper("seq_repeat")), args=[a, n], keywords=[])
