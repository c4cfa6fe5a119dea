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


import gast

from srcad.errors import article, fail_at
from srcad.names import Namer, names_in
from srcad.parse import GENERATED
from srcad.astutil import N, assign, at, call, clone, const, is_atom, names_read, walk_stmts  # noqa: F401

BINOP_NAMES = {gast.Add: "add", gast.Sub: "sub", gast.Mult: "mul", gast.Div: "div",
               gast.Pow: "pow", gast.MatMult: "matmul", gast.Mod: "mod", gast.FloorDiv: "floordiv",
               gast.BitAnd: "and", gast.BitOr: "or", gast.BitXor: "xor",
               gast.LShift: "lshift", gast.RShift: "rshift"}
UNARY_NAMES = {gast.USub: "neg", gast.UAdd: "pos", gast.Not: "not", gast.Invert: "inv"}


REFUSED = {
    gast.Try: "try statement", gast.With: "with statement", gast.AsyncWith: "async with",
    gast.AsyncFor: "async for", gast.Global: "global statement", gast.Nonlocal: "nonlocal statement",
    gast.ClassDef: "class definition", gast.FunctionDef: "nested function definition",
    gast.AsyncFunctionDef: "nested async function", gast.Import: "import statement",
    gast.ImportFrom: "import statement", gast.Delete: "del statement",
}
REFUSED_EXPR = {
    gast.Lambda: "lambda inside the differentiated function", gast.ListComp: "list comprehension",
    gast.SetComp: "set comprehension", gast.DictComp: "dict comprehension",
    gast.GeneratorExp: "generator expression", gast.Yield: "yield", gast.YieldFrom: "yield from",
    gast.Await: "await", gast.NamedExpr: "assignment expression (:=)", gast.Starred: "starred argument",
    gast.Set: "set literal",
}


class InPlaceAssign(gast.Assign):
    """``y op= v`` on an array, normalized to ``y = y op v`` (an ordinary assignment to every pass)
    and kept as its own node type so the alias analysis knows NumPy writes into ``y``'s memory
    there. (Named ``Assign`` so that gast, astunparse and visitors treat it as one.)"""


InPlaceAssign.__name__ = InPlaceAssign.__qualname__ = "Assign"


class Normalizer:
    def __init__(self, info):
        self.info = info
        fdef = info.node
        self.params = [a.id for a in fdef.args.posonlyargs + fdef.args.args + fdef.args.kwonlyargs]
        for extra in (fdef.args.vararg, fdef.args.kwarg):
            if extra is not None:
                self.params.append(extra.id)
        self.locals = set(self.params)
        for node in gast.walk(fdef):
            if isinstance(node, gast.Name) and isinstance(node.ctx, (gast.Store, gast.Del)):
                self.locals.add(node.id)
        self.namer = Namer(names_in(fdef) | self.locals)
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
        for n in gast.walk(node):
            if isinstance(n, gast.Name) and n.id in self.locals:
                return False
            if isinstance(n, (gast.Call, gast.Lambda, gast.NamedExpr, gast.Await, gast.Yield)):
                return False
        return True

    def check_inline(self, node):
        for n in gast.walk(node):
            if type(n) in REFUSED_EXPR:
                self.refuse(n, REFUSED_EXPR[type(n)])

    def atom(self, expr, out, base="t"):
        """Flatten ``expr`` into statements appended to ``out``; return an atom for its value."""
        if isinstance(expr, gast.Name):
            return N(expr.id)
        if isinstance(expr, gast.Constant):
            return expr
        if (isinstance(expr, gast.UnaryOp) and isinstance(expr.op, (gast.USub, gast.UAdd))
                and isinstance(expr.operand, gast.Constant) and isinstance(expr.operand.value, (int, float))):
            v = expr.operand.value
            return gast.Constant(value=-v if isinstance(expr.op, gast.USub) else v, kind=None)
        if isinstance(expr, gast.Attribute) and self.is_static(expr):
            return expr
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
        elif isinstance(expr, (gast.Compare, gast.BoolOp, gast.JoinedStr)):
            self.check_inline(expr)
            out.append(assign(name, expr, ln))
        elif isinstance(expr, gast.IfExp):
            self.check_inline(expr.test)
            body, orelse = [], []
            self.assign_to(name, expr.body, body)
            self.assign_to(name, expr.orelse, orelse)
            out.append(at(gast.If(test=expr.test, body=body, orelse=orelse), ln))
        else:
            self.refuse(expr, type(expr).__name__ + " expression")

    def call(self, expr, out):
        f = expr.func
        if isinstance(f, gast.Name) or (isinstance(f, gast.Attribute) and self.is_static(f)):
            func = f
        elif isinstance(f, gast.Attribute):
            func = gast.Attribute(value=self.atom(f.value, out), attr=f.attr, ctx=gast.Load())
        else:
            self.refuse(expr, "call of a computed function")
        args = []
        for a in expr.args:
            if isinstance(a, gast.Starred):
                self.refuse(a, "starred argument (*args)")
            args.append(self.atom(a, out))
        keywords = []
        for k in expr.keywords:
            if k.arg is None:
                self.refuse(expr, "keyword unpacking (**kwargs)")
            keywords.append(gast.keyword(arg=k.arg, value=self.atom(k.value, out)))
        return gast.Call(func=func, args=args, keywords=keywords)

    # ------------------------------------------------------------------ statements
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
        if type(s) in REFUSED:
            self.refuse(s, REFUSED[type(s)])
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
            else:
                self.refuse(s, "augmented assignment to an attribute")
        elif isinstance(s, gast.Return):
            if s.value is None:
                self.refuse(s, "return without a value")
            if isinstance(s.value, gast.Name):
                value = N(s.value.id)
            else:
                if self.out_name is None:
                    self.out_name = self.namer.fresh("out", numbered=False)
                self.assign_to(self.out_name, s.value, out)
                value = N(self.out_name)
            out.append(at(gast.Return(value=value), ln))
        elif isinstance(s, gast.If):
            self.check_inline(s.test)
            out.append(at(gast.If(test=s.test, body=self.body(s.body) or [gast.Pass()],
                                  orelse=self.body(s.orelse)), ln))
        elif isinstance(s, gast.While):
            if s.orelse:
                self.refuse(s, "while ... else")
            self.check_inline(s.test)
            out.append(at(gast.While(test=s.test, body=self.body(s.body) or [gast.Pass()], orelse=[]), ln))
        elif isinstance(s, gast.For):
            if s.orelse:
                self.refuse(s, "for ... else")
            self.for_loop(s, out)
        elif isinstance(s, (gast.Break, gast.Continue, gast.Pass)):
            out.append(at(type(s)(), ln))
        elif isinstance(s, (gast.Assert, gast.Raise)):
            self.check_inline(s)
            out.append(s)
        else:
            self.refuse(s, type(s).__name__ + " statement")

    def store_index(self, index, out):
        """The index of ``x[index] = v``, with the parts that compute something from arrays
        (``x > 0.5``, ``np.argmax(x)``) evaluated first into a variable: the write may change what
        they read, and the backward sweep must use the places that were written."""
        if isinstance(index, gast.Tuple):
            return gast.Tuple(elts=[self.store_index(e, out) for e in index.elts], ctx=gast.Load())
        if isinstance(index, gast.Slice) or is_atom(index) or not any(
                isinstance(n, (gast.Compare, gast.Call, gast.Subscript, gast.BoolOp)) for n in gast.walk(index)):
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
                self.refuse(target, "starred assignment")
            if isinstance(value, (gast.Tuple, gast.List)) and len(value.elts) == len(target.elts):
                stored = {n.id for t in target.elts for n in gast.walk(t) if isinstance(n, gast.Name)}
                read = {n.id for v in value.elts for n in gast.walk(v) if isinstance(n, gast.Name)}
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
            if isinstance(seq, gast.Name) and seq.id in {n.id for n in gast.walk(target) if isinstance(n, gast.Name)}:
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
        elif isinstance(target, gast.Attribute):
            self.refuse(target, "assignment to an attribute")
        else:
            self.refuse(target, "assignment target " + type(target).__name__)

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
            for n in gast.walk(st):
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
    body = norm.body(info.node.body)
    _sequence_operators(body, norm)
    return body, norm


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
