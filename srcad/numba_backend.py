"""Compiled derivatives: the generated derivative rewritten into the form Numba's nopython mode
takes, then ``numba.njit``-compiled (``srcad.grad(f, compile="numba")``).

The compile step runs after the normal pipeline, on a derivative specialised to the arguments'
ranks (``api.py``), and rewrites its source:

* keyword-only parameters (the seed ``dout``, forward mode's tangents) become ordinary parameters
  with defaults (Numba has no keyword-only parameters; srcad passes them by keyword);
* ``reversed(range(a, b))`` becomes ``range(b - 1, a - 1, -1)``, and a replay cut to ``n`` passes
  (``reversed(range(a)[:n])``) ``range(min(a, n) - 1, -1, -1)``;
* each stack (``stack_y = Stack(float)``: one per saved variable, typed) becomes a list that Numba
  types from what is pushed onto it;
* ``del`` statements (freeing memory early) are dropped;
* runtime helpers are replaced by their Numba twins (``numba_runtime.TWINS``); NumPy forms Numba
  lacks on numbers get overloads there (``np.linalg.norm`` of a float is ``abs``).

What cannot be compiled is refused with a ``srcad.TransformError`` naming the construct and the
user's line: a helper that stays a call (recursion: ``fwd_``/``bwd_`` functions), ``*args``,
a reversed sequence that is not a range, a helper without a twin, and anything Numba's type
inference rejects (its message is quoted, at the user's line the generated line came from).

Values the derivative reads from globals and closures are frozen when it is compiled (Numba's
rule for globals): a changed learning rate needs a new ``grad`` object, or ``compile=None``.
"""

import ast
import copy
import itertools
import linecache
import re
import weakref
from functools import reduce as functools_reduce

import gast
import numpy as np

from srcad import api, codegen, pipeline, runtime
from srcad.errors import TransformError
from srcad.parse import GENERATED

_counter = itertools.count(1)
_ndarray = np.ndarray
_float64 = np.float64
_LINE_RE = re.compile(r"#\s*line (\d+)\s*$")
_NOTE_RE = re.compile(r"^\s*# (.*)$")


class CompileError(TransformError):
    """Numba cannot compile this derivative (a ``TransformError``: the user's line and construct)."""


class Compiled:
    """A derivative compiled by Numba: ``dispatcher`` (call it as the derivative), its ``source``
    (the Numba form), the ``namespace`` it runs in (the user's globals and closure values, the
    runtime twins) and ``py_func`` (the plain Python function Numba compiled)."""

    def __init__(self, dispatcher, source, namespace, name, filename):
        self.dispatcher = dispatcher
        self.source = source
        self.namespace = namespace
        self.name = name
        self.filename = filename
        self.py_func = dispatcher.py_func

    def __call__(self, *args, **kwargs):
        return self.dispatcher(*args, **kwargs)


def available():
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


# ---------------------------------------------------------------------- source rewriting


def _with_markers(src):
    """Parse generated source; each ``# line N`` comment becomes a line marker before its
    statement and each comment line a note, so the rewritten code prints like srcad's."""
    lines = src.split("\n")
    tree = ast.parse(src)

    def block(stmts, start):
        out = []
        prev = start
        for s in stmts:
            for k in range(prev, s.lineno - 1):
                m = _NOTE_RE.match(lines[k])
                if m:
                    out.append(ast.Expr(value=ast.Call(func=ast.Name(id=codegen._NOTE, ctx=ast.Load()),
                                                       args=[ast.Constant(value=m.group(1))], keywords=[])))
            m = _LINE_RE.search(lines[s.lineno - 1])
            if m:
                out.append(ast.Expr(value=ast.Call(func=ast.Name(id=codegen._LINE, ctx=ast.Load()),
                                                   args=[ast.Constant(value=int(m.group(1)))], keywords=[])))
            for field in ("body", "orelse"):
                sub = getattr(s, field, None)
                if isinstance(sub, list) and sub:
                    setattr(s, field, block(sub, s.lineno))
            out.append(s)
            prev = getattr(s, "end_lineno", s.lineno)
        return out
    fdef = tree.body[0]
    fdef.body = block(fdef.body, fdef.lineno)
    return fdef


def _is_name_of(node, ns, obj):
    return isinstance(node, ast.Name) and node.id in ns and ns[node.id] is obj


class _Rewrite(ast.NodeTransformer):
    """The rewrites listed in the module docstring; ``refuse(construct, node)`` raises."""

    def __init__(self, ns, refuse):
        self.ns = ns
        self.refuse = refuse

    def visit_Delete(self, node):
        return None

    def visit_Dict(self, node):
        # Numba's typed dicts hold one key and one value type: a dict of the user's (arrays and
        # numbers under string keys) is refused here rather than by Numba's type inference later
        self.refuse("a dict in differentiated code", node)

    visit_DictComp = visit_Dict

    def visit_Call(self, node):
        self.generic_visit(node)
        if _is_name_of(node.func, self.ns, runtime.Stack):
            return ast.copy_location(ast.List(elts=[], ctx=ast.Load()), node)
        stand_in = self._shape_stand_in(node) or self._reduction(node)
        if stand_in is not None:
            return stand_in
        if isinstance(node.func, ast.Name) and node.func.id in self.ns:
            obj = self.ns[node.func.id]
            if (node.func.id.startswith(("fwd_", "bwd_", "jvp_")) and callable(obj)
                    and obj in GENERATED):
                self.refuse(f"a call to {node.func.id}, the derivative of a helper that is called "
                            "rather than inlined (recursion)", node)
            if callable(obj) and (getattr(obj, "__module__", None) or "").startswith("srcad.") \
                    and obj not in _twins() and obj is not runtime.Stack and obj not in GENERATED:
                self.refuse(f"srcad's helper {node.func.id} (it has no Numba twin)", node)
        return node

    def _shape_stand_in(self, node):
        """``np.broadcast_to(np.empty_like(v, shape=()), S)``, a value read only for its shape
        (optimize.py), becomes ``np.empty(S)``: Numba has no ``shape=`` on ``empty_like``."""
        f = node.func
        if not (isinstance(f, ast.Attribute) and f.attr == "broadcast_to" and len(node.args) == 2):
            return None
        inner = node.args[0]
        if not (isinstance(inner, ast.Call) and isinstance(inner.func, ast.Attribute)
                and inner.func.attr == "empty_like" and any(k.arg == "shape" for k in inner.keywords)):
            return None
        empty = ast.Attribute(value=f.value, attr="empty", ctx=ast.Load())
        return ast.copy_location(ast.Call(func=empty, args=[node.args[1]], keywords=[]), node)

    def _reduction(self, node):
        """``np.max(Z, axis=1, keepdims=True)`` (``sum``, ``mean``, ``min``, ``prod``; also the
        method ``Z.max(axis=1)``) becomes ``reduce_max(Z, 1, True)``: Numba has no ``keepdims``
        and reduces over an axis only in ``np.sum`` (``numba_runtime.NUMPY_FORMS``)."""
        f = node.func
        if not isinstance(f, ast.Attribute) or f.attr not in _REDUCTIONS:
            return None
        if isinstance(f.value, ast.Name) and self.ns.get(f.value.id) is np:
            fn = getattr(np, f.attr)
            args = node.args
        elif f.attr in _METHODS:
            fn = getattr(np, f.attr)
            args = [f.value] + node.args
        else:
            return None
        form = _forms().get(fn)
        kw = {k.arg: k.value for k in node.keywords}
        if form is None or len(args) + len(kw) < 2 or len(args) > 3 or set(kw) - {"axis", "keepdims"} \
                or any(k is None for k in kw):
            return None
        names = ("a", "axis", "keepdims")
        given = dict(zip(names, args))
        if set(given) & set(kw):
            return None
        given.update(kw)
        name = form.__name__
        self.ns.setdefault(name, form)
        if self.ns[name] is not form:
            return None
        call_args = [given["a"], given.get("axis", ast.Constant(value=None))]
        if "keepdims" in given:
            call_args.append(given["keepdims"])
        return ast.copy_location(ast.Call(func=ast.Name(id=name, ctx=ast.Load()), args=call_args,
                                          keywords=[]), node)

    def visit_For(self, node):
        self.generic_visit(node)
        it = node.iter
        if isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and it.func.id == "reversed":
            node.iter = ast.copy_location(self._reversed(it.args[0], node), it)
        return node

    def _reversed(self, seq, node):
        cut = None
        if isinstance(seq, ast.Subscript) and isinstance(seq.slice, ast.Slice) and seq.slice.lower is None \
                and seq.slice.step is None and seq.slice.upper is not None:
            seq, cut = seq.value, seq.slice.upper
        if isinstance(seq, ast.Name) and cut is None:
            # a range evaluated once in the forward sweep (``rng_1 = range(len(lst))``)
            def attr(a):
                return ast.Attribute(value=ast.Name(id=seq.id, ctx=ast.Load()), attr=a, ctx=ast.Load())
            length = ast.Call(func=ast.Name(id="len", ctx=ast.Load()), args=[ast.Name(id=seq.id, ctx=ast.Load())],
                              keywords=[])
            last = ast.BinOp(left=attr("start"), op=ast.Add(), right=ast.BinOp(
                left=ast.BinOp(left=length, op=ast.Sub(), right=ast.Constant(value=1)), op=ast.Mult(),
                right=attr("step")))
            before = ast.BinOp(left=attr("start"), op=ast.Sub(), right=attr("step"))
            return ast.Call(func=ast.Name(id="range", ctx=ast.Load()),
                            args=[last, before, ast.UnaryOp(op=ast.USub(), operand=attr("step"))], keywords=[])
        if not (isinstance(seq, ast.Call) and isinstance(seq.func, ast.Name) and seq.func.id == "range"
                and 1 <= len(seq.args) <= 2 and not seq.keywords):
            self.refuse("a loop replayed over a sequence that is not a plain range(stop) or "
                        "range(start, stop)", node)
        start, stop = (ast.Constant(value=0), seq.args[0]) if len(seq.args) == 1 else seq.args
        if cut is not None:
            bound = ast.BinOp(left=start, op=ast.Add(), right=cut) \
                if not (isinstance(start, ast.Constant) and start.value == 0) else cut
            stop = ast.Call(func=ast.Name(id="min", ctx=ast.Load()), args=[stop, bound], keywords=[])
        last = ast.Constant(value=stop.value - 1) if isinstance(stop, ast.Constant) and type(stop.value) is int \
            else ast.BinOp(left=stop, op=ast.Sub(), right=ast.Constant(value=1))
        before = ast.UnaryOp(op=ast.USub(), operand=ast.Constant(value=1)) \
            if isinstance(start, ast.Constant) and start.value == 0 else \
            ast.BinOp(left=start, op=ast.Sub(), right=ast.Constant(value=1))
        minus1 = ast.UnaryOp(op=ast.USub(), operand=ast.Constant(value=1))
        return ast.Call(func=ast.Name(id="range", ctx=ast.Load()), args=[last, before, minus1], keywords=[])


_REDUCTIONS = ("max", "amax", "min", "amin", "sum", "mean", "prod")
_METHODS = ("max", "min", "sum", "mean", "prod")


def _forms():
    from srcad import numba_runtime
    return numba_runtime.NUMPY_FORMS


_BUFFER_DTYPES = {"float": None, "int": "int64", "bool": "bool_"}
_BOUND_NODES = (ast.Constant, ast.Name, ast.Attribute, ast.BinOp, ast.UnaryOp, ast.Subscript, ast.Load,
                ast.operator, ast.unaryop, ast.Index if hasattr(ast, "Index") else ast.Load)


def _plain_bound(node):
    """A trip count evaluated twice without harm: names, constants, arithmetic, ``len(...)``."""
    for n in ast.walk(node):
        if isinstance(n, ast.Call):
            if not (isinstance(n.func, ast.Name) and n.func.id in ("len", "int", "min", "max") and not n.keywords):
                return False
        elif not isinstance(n, _BOUND_NODES):
            return False
    return True


def _range_of(loop, reverse):
    """``N`` where ``loop`` is ``for V in range(N)`` (``reversed(range(N))`` where ``reverse``)."""
    it = loop.iter
    if reverse:
        if not (isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and it.func.id == "reversed"
                and len(it.args) == 1):
            return None
        it = it.args[0]
    if isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and it.func.id == "range" \
            and len(it.args) == 1 and not it.keywords and isinstance(loop.target, ast.Name):
        return it.args[0]
    return None


def _preallocate(fdef, ns):
    """A typed stack pushed once in each pass of ``for i in range(n)`` (at the top of the function,
    ``n`` known before the loop; a loop that can break pushes inside a branch) and popped once in
    each pass of the backward sweep's ``for i in reversed(range(n))`` becomes a buffer of ``n``
    values: ``stack_y = np.empty(n)`` before the loop, ``stack_y[i] = y`` and ``y = stack_y[i]``."""
    np_name = next((k for k, v in ns.items() if v is np and k.isidentifier()), None)
    if np_name is None:
        return
    uses = {}
    for node in ast.walk(fdef):
        if isinstance(node, ast.Name):
            uses.setdefault(node.id, []).append(node)
    top = fdef.body
    for stmt in list(top):
        if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)
                and isinstance(stmt.value, ast.Call) and _is_name_of(stmt.value.func, ns, runtime.Stack)
                and len(stmt.value.args) == 1 and isinstance(stmt.value.args[0], ast.Name)
                and stmt.value.args[0].id in _BUFFER_DTYPES and not stmt.value.keywords):
            continue
        name = stmt.targets[0].id
        pushes, pops = [], []   # (loop, index in its body)
        for loop in top:
            if not isinstance(loop, ast.For):
                continue
            for k, s in enumerate(loop.body):
                call = s.value if isinstance(s, (ast.Expr, ast.Assign)) else None
                if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) \
                        and isinstance(call.func.value, ast.Name) and call.func.value.id == name:
                    if call.func.attr == "append" and isinstance(s, ast.Expr) and len(call.args) == 1:
                        pushes.append((loop, k))
                    elif call.func.attr == "pop" and isinstance(s, ast.Assign) and not call.args \
                            and len(s.targets) == 1 and isinstance(s.targets[0], ast.Name):
                        pops.append((loop, k))
        # every other use of the stack's name is its creation (or a dropped ``del``)
        others = len(uses.get(name, ())) - 1 - len(pushes) - len(pops)
        dels = sum(1 for n in ast.walk(fdef) if isinstance(n, ast.Delete)
                   for t in n.targets if isinstance(t, ast.Name) and t.id == name)
        if others != dels or len(pushes) != 1 or len(pops) != 1:
            continue
        (fwd, kf), (bwd, kb) = pushes[0], pops[0]
        n_fwd, n_bwd = _range_of(fwd, False), _range_of(bwd, True)
        if n_fwd is None or n_bwd is None or ast.dump(n_fwd) != ast.dump(n_bwd) or not _plain_bound(n_fwd) \
                or fwd.target.id != bwd.target.id or top.index(fwd) > top.index(bwd):
            continue
        var = fwd.target.id
        if any(isinstance(n, ast.Name) and n.id == var and isinstance(n.ctx, ast.Store)
               for loop in (fwd, bwd) for s in loop.body for n in ast.walk(s)):
            continue
        size = [n_fwd]
        dtype = _BUFFER_DTYPES[stmt.value.args[0].id]
        kw = [ast.keyword(arg="dtype", value=ast.Attribute(value=ast.Name(id=np_name, ctx=ast.Load()), attr=dtype,
                                                           ctx=ast.Load()))] if dtype else []
        make = ast.Assign(targets=[ast.Name(id=name, ctx=ast.Store())], value=ast.Call(
            func=ast.Attribute(value=ast.Name(id=np_name, ctx=ast.Load()), attr="empty", ctx=ast.Load()),
            args=size, keywords=kw), lineno=fwd.lineno)

        push = fwd.body[kf]
        slot = ast.Subscript(value=ast.Name(id=name, ctx=ast.Load()), slice=ast.Name(id=var, ctx=ast.Load()),
                             ctx=ast.Store())
        fwd.body[kf] = ast.copy_location(ast.Assign(targets=[slot], value=push.value.args[0]), push)
        pop = bwd.body[kb]
        pop.value = ast.Subscript(value=ast.Name(id=name, ctx=ast.Load()), slice=ast.Name(id=var, ctx=ast.Load()),
                                  ctx=ast.Load())
        top.remove(stmt)
        top.insert(top.index(fwd), ast.copy_location(make, fwd))


def _list_buffers(fdef, ns):
    """``stack_p = [0.0] * n`` (a counted loop's saves, srcad/buffers.py: written ``stack_p[i] = p``
    and read ``p = stack_p[i]`` only) becomes ``np.empty(n)`` (``int64``/``bool_`` for ``[0]``,
    ``[False]``): Numba reads and writes an array faster than a list."""
    np_name = next((k for k, v in ns.items() if v is np and k.isidentifier()), None)
    if np_name is None:
        return
    dtypes = {float: None, int: "int64", bool: "bool_"}
    for stmt in fdef.body:
        v = stmt.value if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and \
            isinstance(stmt.targets[0], ast.Name) else None
        if not (isinstance(v, ast.BinOp) and isinstance(v.op, ast.Mult) and isinstance(v.left, ast.List)
                and len(v.left.elts) == 1 and isinstance(v.left.elts[0], ast.Constant)
                and type(v.left.elts[0].value) in dtypes and v.left.elts[0].value == 0):
            continue
        name = stmt.targets[0].id
        uses = [n for n in ast.walk(fdef) if isinstance(n, ast.Name) and n.id == name]
        slots = [n for n in ast.walk(fdef) if isinstance(n, ast.Subscript) and isinstance(n.value, ast.Name)
                 and n.value.id == name and isinstance(n.slice, ast.Name)]
        dels = [t for n in ast.walk(fdef) if isinstance(n, ast.Delete) for t in n.targets
                if isinstance(t, ast.Name) and t.id == name]
        if len(uses) != 1 + len(slots) + len(dels):
            continue        # the list is used otherwise: kept
        dtype = dtypes[type(v.left.elts[0].value)]
        kw = [ast.keyword(arg="dtype", value=ast.Attribute(value=ast.Name(id=np_name, ctx=ast.Load()), attr=dtype,
                                                           ctx=ast.Load()))] if dtype else []
        stmt.value = ast.copy_location(ast.Call(func=ast.Attribute(value=ast.Name(id=np_name, ctx=ast.Load()),
                                                                   attr="empty", ctx=ast.Load()),
                                                args=[v.right], keywords=kw), v)


def _all_names(fdef):
    """Every name and parameter the function uses (fresh names must avoid them)."""
    return {n.id for n in ast.walk(fdef) if isinstance(n, ast.Name)} | \
        {a.arg for a in ast.walk(fdef) if isinstance(a, ast.arg)}


def _stack_makers(top, ns):
    """(statement, stack name) for each ``stack = Stack(...)`` among the statements ``top`` (a
    copy of the list is walked: callers may remove the statement)."""
    for stmt in list(top):
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name) \
                and isinstance(stmt.value, ast.Call) and _is_name_of(stmt.value.func, ns, runtime.Stack):
            yield stmt, stmt.targets[0].id


def _split_sites(fdef, ns):
    """A stack pushed at several places of one loop's body and popped at as many of another's (the
    forward and backward sweeps of a loop that saves a variable more than once a pass) becomes one
    stack per push site: a variable saved as a number at one site and as an array at another needs
    no list of one type. Each pass pushes once at every site and each backward pass pops once at
    every site (the sites are statements of the loop bodies themselves, which have no ``break``,
    ``continue`` or ``return``), so a pass's values lie on the one stack as a block, which the
    backward pass pops in reverse: its first pop takes the last site's value, and so on."""
    names = _all_names(fdef)
    loops = [n for n in ast.walk(fdef) if isinstance(n, (ast.For, ast.While))]
    top = fdef.body
    for stmt, name in _stack_makers(top, ns):
        sites = {"append": [], "pop": []}    # (loop, statement)
        for loop in loops:
            for s in loop.body:
                call = s.value if isinstance(s, (ast.Expr, ast.Assign)) else None
                if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) \
                        and isinstance(call.func.value, ast.Name) and call.func.value.id == name:
                    if call.func.attr == "append" and isinstance(s, ast.Expr) and len(call.args) == 1:
                        sites["append"].append((loop, s))
                    elif call.func.attr == "pop" and isinstance(s, ast.Assign) and not call.args:
                        sites["pop"].append((loop, s))
        pushes, pops = sites["append"], sites["pop"]
        uses = sum(1 for n in ast.walk(fdef) if isinstance(n, ast.Name) and n.id == name)
        dels = sum(1 for n in ast.walk(fdef) if isinstance(n, ast.Delete)
                   for t in n.targets if isinstance(t, ast.Name) and t.id == name)
        if len(pushes) < 2 or len(pushes) != len(pops) or uses != 1 + 2 * len(pushes) + dels:
            continue
        fwd, bwd = {loop for loop, _ in pushes}, {loop for loop, _ in pops}
        if len(fwd) != 1 or len(bwd) != 1 or fwd == bwd:
            continue
        if any(isinstance(n, (ast.Break, ast.Continue, ast.Return)) for loop in fwd | bwd
               for s in loop.body for n in ast.walk(s)):
            continue
        (fwd,), (bwd,) = fwd, bwd
        if fwd.orelse or bwd.orelse:
            continue
        pushes.sort(key=lambda site: fwd.body.index(site[1]))
        pops.sort(key=lambda site: bwd.body.index(site[1]))
        at = top.index(stmt)
        for j, ((_, push), (_, pop)) in enumerate(zip(pushes, reversed(pops))):
            if j == 0:
                continue     # the first site keeps the stack
            m = j + 1
            while f"{name}_{m}" in names:
                m += 1
            new = f"{name}_{m}"
            names.add(new)
            push.value.func.value.id = new
            pop.value.func.value.id = new
            make = ast.copy_location(ast.Assign(targets=[ast.Name(id=new, ctx=ast.Store())],
                                                value=copy.deepcopy(stmt.value)), stmt)
            top.insert(at + j, make)


def _zero_adjoints(fdef, ns):
    """``dy = 0.0`` right before a loop whose only assignments to ``dy`` are ``dy = add_at(dy, y,
    ...)`` (the adjoint of reading ``y[i]`` in the loop; ``y`` not assigned in it) becomes ``dy =
    zeros_like(y)``: Numba cannot give one variable the number 0.0 before the loop and an array
    in it. The values are the same: ``add_at`` of 0.0 starts from ``y``'s zeros, and ``zeros_like``
    of a number (or a list) is the 0.0 it replaces."""
    name = next((k for k, v in ns.items() if v is runtime.zeros_like), "zeros_like")
    if ns.get(name, runtime.zeros_like) is not runtime.zeros_like:
        return    # the user's own ``zeros_like``

    def marker(s):
        return isinstance(s, ast.Expr) and isinstance(s.value, ast.Call) and isinstance(s.value.func, ast.Name) \
            and s.value.func.id in (codegen._LINE, codegen._NOTE)

    def bodies(node):
        for field in ("body", "orelse"):
            sub = getattr(node, field, None)
            if isinstance(sub, list):
                yield sub

    def visit(body):
        for k, stmt in enumerate(body):
            for sub in bodies(stmt):
                visit(sub)
            if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)
                    and isinstance(stmt.value, ast.Constant) and type(stmt.value.value) is float
                    and stmt.value.value == 0.0):
                continue
            loop = next((s for s in body[k + 1:] if not marker(s)), None)
            if not isinstance(loop, (ast.For, ast.While)):
                continue
            dv = stmt.targets[0].id
            stores = [n for n in ast.walk(loop) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)]
            writes = [n for n in ast.walk(loop) if isinstance(n, (ast.Assign, ast.AugAssign, ast.AnnAssign))
                      and any(isinstance(t, ast.Name) and t.id == dv for t in
                              (n.targets if isinstance(n, ast.Assign) else [n.target]))]
            if not writes or not all(
                    isinstance(w, ast.Assign) and len(w.targets) == 1 and isinstance(w.value, ast.Call)
                    and _is_name_of(w.value.func, ns, runtime.add_at) and len(w.value.args) == 4
                    and isinstance(w.value.args[0], ast.Name) and w.value.args[0].id == dv
                    and isinstance(w.value.args[1], ast.Name) for w in writes):
                continue
            xs = {w.value.args[1].id for w in writes}
            reads = sum(1 for n in ast.walk(loop) if isinstance(n, ast.Name) and n.id == dv
                        and isinstance(n.ctx, ast.Load))
            if len(xs) != 1 or any(n.id in xs for n in stores) or reads != len(writes) or \
                    sum(1 for n in stores if n.id == dv) != len(writes):
                continue    # (read elsewhere in the loop, the adjoint's shape might matter)
            ns[name] = runtime.zeros_like
            stmt.value = ast.copy_location(ast.Call(func=ast.Name(id=name, ctx=ast.Load()),
                                                    args=[ast.Name(id=xs.pop(), ctx=ast.Load())], keywords=[]),
                                           stmt.value)
    visit(fdef.body)


def _unstack(fdef, ns):
    """A stack whose pushes and pops are all statements of the function's own body (straight-line
    code, no loop or branch) holds one value per push: each push becomes a variable of its own
    (``stack_x.append(x)`` -> ``saved_x_1 = x``, the matching pop ``x = saved_x_1``), so a variable
    saved once as a number and once as an array (or with two ranks) needs no list of one type."""
    names = _all_names(fdef)
    top = fdef.body
    for stmt, name in _stack_makers(top, ns):
        order = []   # ("push" | "pop", statement), in program order
        for s in top:
            call = s.value if isinstance(s, (ast.Expr, ast.Assign)) else None
            if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) \
                    and isinstance(call.func.value, ast.Name) and call.func.value.id == name:
                if call.func.attr == "append" and isinstance(s, ast.Expr) and len(call.args) == 1:
                    order.append(("push", s))
                elif call.func.attr == "pop" and isinstance(s, ast.Assign) and not call.args:
                    order.append(("pop", s))
        uses = sum(1 for n in ast.walk(fdef) if isinstance(n, ast.Name) and n.id == name)
        dels = sum(1 for n in ast.walk(fdef) if isinstance(n, ast.Delete)
                   for t in n.targets if isinstance(t, ast.Name) and t.id == name)
        if not order or uses != 1 + len(order) + dels:
            continue
        pending, pairs = [], []
        for kind, s in order:
            if kind == "push":
                pending.append(s)
            elif pending:
                pairs.append((pending.pop(), s))
            else:
                break
        else:
            k = 0
            base = "saved_" + name[len("stack_"):] if name.startswith("stack_") else name
            for push, pop in sorted(pairs, key=lambda pair: top.index(pair[0])):
                k += 1
                while f"{base}_{k}" in names:
                    k += 1
                var = f"{base}_{k}"
                names.add(var)
                top[top.index(push)] = ast.copy_location(
                    ast.Assign(targets=[ast.Name(id=var, ctx=ast.Store())], value=push.value.args[0]), push)
                pop.value = ast.Name(id=var, ctx=ast.Load())
            for push in pending:   # pushed and never popped
                top[top.index(push)] = ast.copy_location(ast.Expr(value=push.value.args[0]), push)
            top.remove(stmt)


def _twins():
    from srcad import numba_runtime
    return numba_runtime.TWINS


def _signature(fdef, refuse):
    a = fdef.args
    if a.vararg is not None or a.kwarg is not None:
        refuse("*args or **kwargs in the signature of a compiled derivative", fdef)
    if a.posonlyargs:
        a.args = a.posonlyargs + a.args
        a.posonlyargs = []
    plain, late = [], []
    for arg, default in zip(a.kwonlyargs, a.kw_defaults):
        # tangents have no default: srcad always passes them (by keyword)
        (plain if default is not None else late).append((arg, default or ast.Constant(value=0.0)))
    for arg, default in plain + late:
        a.args.append(arg)
        a.defaults.append(default)
    a.kwonlyargs, a.kw_defaults = [], []


def numba_source(d, fn=None):
    """(source text, function name, namespace) of derivative ``d`` in the form Numba compiles."""
    fn = d.fn if fn is None else fn
    src = GENERATED[fn][0] if fn in GENERATED else d.source
    ns = dict(fn.__globals__)
    for var, cell in zip(fn.__code__.co_freevars, fn.__closure__ or ()):
        ns[var] = cell.cell_contents
    twins = _twins()
    fdef = _with_markers(src)
    user_file = _user_file(d)

    def refuse(construct, node):
        line = _user_line(src, getattr(node, "lineno", fdef.lineno))
        raise CompileError(f"compile='numba': srcad cannot compile {construct}", user_file, line, construct)

    _signature(fdef, refuse)
    _split_sites(fdef, ns)
    _zero_adjoints(fdef, ns)
    _preallocate(fdef, ns)
    _list_buffers(fdef, ns)
    _unstack(fdef, ns)
    fdef = _Rewrite(ns, refuse).visit(fdef)
    for name, obj in list(ns.items()):
        if callable(obj) and not isinstance(obj, type) and obj in twins:
            ns[name] = twins[obj]
    name = fdef.name
    module = ast.Module(body=[fdef], type_ignores=[])
    ast.fix_missing_locations(module)
    text = codegen.to_source(gast.ast_to_gast(module).body[0])
    return text, name, ns


def _user_file(d):
    root = getattr(d, "root", None)
    code = getattr(root, "__code__", None)
    return code.co_filename if code is not None else None


def _user_line(text, k):
    """The user's line that generated line ``k`` (1-based) of ``text`` came from."""
    lines = text.split("\n")
    for j in range(min(k, len(lines)) - 1, -1, -1):
        m = _LINE_RE.search(lines[j])
        if m:
            return int(m.group(1))
    return None


def compile_derivative(d, fn=None):
    """Numba-compile derivative ``d`` (a ``pipeline.Derivative``): a ``Compiled``.

    Compilation itself happens at the first call, for the argument types it gets (``run``):
    Numba's errors are turned into ``CompileError`` there."""
    if getattr(d, "fn", None) is None:
        raise CompileError("compile='numba': a derivative with a kept call (fwd_/bwd_) cannot be compiled",
                           _user_file(d), None, "kept call")
    import numba
    text, name, ns = numba_source(d, fn)
    filename = f"<srcad numba {name} #{next(_counter)}>"
    linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
    exec(compile(text, filename, "exec"), ns)
    py = ns.pop(name)
    py.__defaults__ = tuple(py.__defaults__ or ())
    dispatcher = numba.njit(cache=False, nogil=True)(py)
    out = Compiled(dispatcher, text, ns, name, filename)
    out.user_file = _user_file(d)
    # the generated function's positional parameters: the seed and tangents, keyword-only there,
    # are positional here, where an extra argument must not take their place
    out.positional = (fn or d.fn).__code__.co_argcount
    return out


def _compiling_error(e):
    """Did Numba fail to compile (rather than the compiled code raise as it ran)? Typing and
    lowering errors, the NotImplementedError some lowerings raise, and any other exception raised
    inside Numba's compiler (its own bugs: an AttributeError in a typing template). Compiled code
    raises from the dispatcher's C code, with no frame of Numba's compiler."""
    from numba.core.errors import NumbaError
    if isinstance(e, (NumbaError, NotImplementedError)):
        return True
    tb = e.__traceback__
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename.replace("\\", "/")
        if "/numba/core/" in name and not name.endswith("/numba/core/dispatcher.py"):
            return True
        tb = tb.tb_next
    return False


def _translate(compiled, err):
    msg = str(err)
    plain = re.sub(r"\x1b\[[0-9;]*m", "", msg)
    k = None
    for m in re.finditer(r'File "([^"]+)", line (\d+)', plain):
        if m.group(1) == compiled.filename:
            k = int(m.group(2))
    line = _user_line(compiled.source, k) if k is not None else None
    stmt = compiled.source.split("\n")[k - 1].split("  # line")[0].strip() if k else None
    first = next((ln.strip() for ln in plain.split("\n") if ln.strip() and not ln.startswith("Failed in")), plain)
    construct = stmt or first
    where = f" (generated line `{stmt}`)" if stmt else ""
    return CompileError(f"compile='numba': Numba cannot compile the derivative{where}: {first}",
                        compiled.user_file, line, construct)


# ---------------------------------------------------------------------- running compiled derivatives

_COMPILED = weakref.WeakKeyDictionary()   # generated function -> Compiled, or the CompileError it met
OPTIONS = (None, "numba", "auto")


def check_option(compile):
    if compile not in OPTIONS:
        raise ValueError(f"compile must be None, 'numba' or 'auto', not {compile!r}")
    if compile == "numba" and not available():
        raise ImportError("compile='numba' needs Numba: pip install 'srcad[numba]' "
                          "(or compile='auto', which runs the NumPy derivative without it)")
    return compile


def compiled_for(d):
    """The ``Compiled`` form of derivative ``d`` (made once per generated function)."""
    c = _COMPILED.get(d.fn) if d.fn is not None else None
    if c is None:
        try:
            c = compile_derivative(d)
        except CompileError as e:
            c = e
        if d.fn is not None:
            _COMPILED[d.fn] = c
    if isinstance(c, CompileError):
        raise c
    return c


def run(d, args, kwargs, option):
    """Run derivative ``d`` compiled: (result, backend), backend ``"numba"`` or, where ``option``
    is ``"auto"`` and Numba cannot compile it, ``"numpy"`` (the plain derivative ran)."""
    try:
        c = compiled_for(d)
        if len(args) > c.positional:
            raise TypeError(f"{c.name}() takes {c.positional} positional argument"
                            f"{'s' if c.positional != 1 else ''} but {len(args)} were given")
        known = len(c.dispatcher.overloads)
        try:
            return c.dispatcher(*args, **kwargs), "numba"
        except Exception as e:
            if len(c.dispatcher.overloads) > known or not _compiling_error(e):
                raise        # raised by the compiled code as it ran (an IndexError, say)
            err = _translate(c, e)
            _COMPILED[d.fn] = err
            raise err from None
    except CompileError:
        if option != "auto":
            raise
    token = runtime._training.set(True)
    try:
        return d.fn(*args, **kwargs), "numpy"
    finally:
        runtime._training.reset(token)


def call(df, args, kwargs):
    """``df(*args, **kwargs)`` for a ``grad``/``value_and_grad`` object made with ``compile=``,
    where its per-call entry (``_entry``) did not take the call: the checked path. It prepares the
    arguments, runs the compiled derivative (or, with ``compile="auto"``, the NumPy one where Numba
    cannot compile it) and, after a compiled call without keywords, builds the entry for these
    argument types and makes it the object's current one."""
    if not df._prefix and not kwargs:
        entry = df._compiled_calls.get(tuple(map(type, args)))
        if entry is not None and entry is not df.__dict__.get("_compiled_entry"):
            df._compiled_entry = entry    # another signature's entry: it checks the call itself
            return entry(args, kwargs)
    d, args = df._prepare(df._prefix + args)
    out, backend = run(d, args, kwargs, df.compile)
    df.backend = backend
    if backend == "numba" and not kwargs and not df._prefix:
        entry = _entry(df, args, d, out)
        if entry is not None:
            if len(df._compiled_calls) > 16:
                df._compiled_calls.clear()
            df._compiled_calls[tuple(map(type, args))] = entry
            df._compiled_entry = entry
    arrays = [a for a in args if isinstance(a, _ndarray)] + [v for v in kwargs.values() if isinstance(v, _ndarray)]
    if df.mode == "grad":
        return df._tuple(_owned(out, arrays))
    return out[0], df._tuple(_owned(out[1], arrays))


# argument types the per-call entry takes (others, another library's arrays say, take the checked path)
_FAST_TYPES = {float, int, bool, _float64, np.float32, np.int64, _ndarray}


def _owned(g, arrays):
    """Gradients handed to users never alias their inputs: a returned array that is an argument
    array or shares memory with one is copied (an array Numba made from an argument, a view, has a
    ``base`` of Numba's own, not the argument: only its memory tells)."""
    t = type(g)
    if t is tuple or t is list:
        if all(type(v) is float for v in g):
            return g    # numbers only (the common case of scalar loops): nothing to copy
        return t([_owned(v, arrays) for v in g])
    if t is _ndarray and any(g is a or np.may_share_memory(g, a) for a in arrays):
        return g.copy()
    return g


# ---------------------------------------------------------------------- the per-call entry

def _entry(df, args, d, out):
    """The per-call entry of ``df`` for calls with arguments of these types (``args`` just ran
    compiled, giving ``out``), or None where the types do not settle the variant.

    One small generated function: it unpacks the arguments, checks their types (``type(a) is
    T``), each array's rank (the variant is specialised on it) and that the differentiated ones
    hold floats, that the caches were not cleared, and the derivative's guard, inlined (the code
    and every global, closure cell and default the derivative relied on are what they were:
    ``guards.py``); then it calls the Numba dispatcher. A call it does not take (another type, a
    rank, keyword arguments, a stale derivative) goes to ``call``. Returned arrays are copied only
    where the compiled code can return an argument or a view of one (``_returns_fresh``, decided
    on the source): Numba returns arrays it allocated otherwise."""
    types = tuple(map(type, args))
    if not types or not all(t in _FAST_TYPES for t in types):
        return None
    if any(types[i] is not _ndarray and not issubclass(types[i], (float, np.floating)) for i in df.wrt):
        return None    # an int to differentiate is made a float on the checked path
    ranks = api._ranks(args, df._data)
    hit = df._variants.get(ranks)
    c = _COMPILED.get(d.fn)
    if hit is None or hit[1] is not d or type(ranks) is not tuple or not isinstance(c, Compiled):
        return None
    generation, bound = hit[0], hit[2]
    n = len(args)
    names = [f"a{i}" for i in range(n)]
    ns = {"dispatcher": c.dispatcher, "pipeline": pipeline, "G": generation, "miss": _Miss(df),
          "data": df._data, "reads_foreign": api._reads_foreign, "bound_guard": bound, "fn": d.root}
    checks = []
    for i, a in enumerate(args):
        ns[f"t{i}"] = types[i]
        checks.append(f"type(a{i}) is t{i}")
        if types[i] is _ndarray:
            checks.append(f"a{i}.ndim == {a.ndim}")
            if i in df.wrt:
                checks.append(f"a{i}.dtype.kind == 'f'")
    checks.append("pipeline.generation == G")
    if df._data:
        checks.append("not reads_foreign(data)")
    quick = getattr(d.guard, "quick", None)
    if quick is not None and _bound_root(bound) is d.root:
        checks.extend(quick)     # the guard's checks, inlined (``fn``: the user's function)
        ns.update({f"k{i}": v for i, v in enumerate(d.guard.consts)})
    else:
        checks.append("bound_guard()")
    fresh = _returns_fresh(c, frozenset(p for p, a in zip(_params(c), args) if isinstance(a, _ndarray)))
    if df.mode == "grad":
        result = _result_expr("r", out, fresh)
    else:
        result = _result_expr("r[1]", out[1], fresh[1] if isinstance(fresh, tuple) and len(fresh) == 2 else fresh)
    if df.tuple_out and len(df.wrt) == 1:
        result = f"({result},)"
    if df.mode != "grad":
        result = "r" if result == "r[1]" else f"(r[0], {result})"
    sep = " and\n                      "
    src = (f"def __srcad_entry__({', '.join(sorted(ns))}):\n"
           f"    def entry(args, kwargs):\n"
           f"        if not kwargs:\n"
           f"            try:\n"
           f"                {', '.join(names)}, = args\n"
           f"                ok = ({sep.join(checks)})\n"
           f"            except Exception:\n"
           f"                ok = False\n"
           f"            if ok:\n"
           f"                r = dispatcher({', '.join(names)})\n"
           f"                return {result}\n"
           f"        return miss(args, kwargs)\n"
           f"    return entry\n")
    scope = {}
    exec(compile(src, f"<srcad entry {c.name}>", "exec"), scope)
    entry = scope["__srcad_entry__"](**ns)
    entry.source = src
    return entry


def _bound_root(bound):
    """The function a guard's ``bound(fn)`` closure checks (its ``fn`` cell), or None."""
    code = getattr(bound, "__code__", None)
    if code is None or "fn" not in code.co_freevars:
        return None
    return bound.__closure__[code.co_freevars.index("fn")].cell_contents


class _Miss:
    """What an entry calls for a call it does not take: ``call`` (weakly bound to the object)."""

    __slots__ = ("df",)

    def __init__(self, df):
        self.df = weakref.ref(df)

    def __call__(self, args, kwargs):
        return call(self.df(), args, kwargs)


def _result_expr(expr, out, fresh):
    """Python text giving the user's result from the compiled result ``out`` (read as ``expr``):
    the arrays that ``fresh`` does not clear are copied."""
    if type(out) is tuple:
        parts = [_result_expr(f"{expr}[{i}]", v, fresh[i] if isinstance(fresh, tuple) and len(fresh) == len(out)
                              else fresh) for i, v in enumerate(out)]
        if all(p == f"{expr}[{i}]" for i, p in enumerate(parts)):
            return expr
        return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"
    if isinstance(out, _ndarray) and fresh is not True:
        return f"{expr}.copy()"
    return expr


def _params(c):
    code = c.py_func.__code__
    return code.co_varnames[:code.co_argcount]


# NumPy functions whose result never shares memory with their arguments (called with positional
# values only); NumPy's ufuncs are fresh too (without ``out``)
_FRESH_NUMPY = frozenset((
    "zeros", "ones", "empty", "full", "zeros_like", "ones_like", "empty_like", "full_like", "array", "copy",
    "dot", "vdot", "outer", "matmul", "inner", "sum", "mean", "prod", "max", "min", "amax", "amin", "cumsum",
    "cumprod", "where", "concatenate", "stack", "arange", "linspace", "eye", "identity"))
_FRESH_METHODS = frozenset(("copy", "sum", "mean", "prod", "max", "min", "cumsum", "cumprod", "dot"))


def _passes():
    """Runtime helper (its twin) -> positions of the arguments its result may be (or view): the
    others are read for their shape only, or copied. Helpers not listed may return any argument."""
    r = runtime
    table = {r.seed: (0,), r.stop_gradient: (0,), r.zeros_like: (), r.grad_like: (0,), r.unbroadcast: (0,),
             r.broadcast_like: (0,), r.copy_adjoint: (), r.owned_copy: (), r.float_items: (0,),
             r.contiguous: (0,), r.shape_of: (0,), r.check_output: (0,), r.unreduce: (0,),
             r.reduce_like: (0,), r.matmul_adjoint_a: (), r.matmul_adjoint_b: (), r.dot_adjoint_a: (),
             r.dot_adjoint_b: ()}
    twins = _twins()
    out = {twins[h]: k for h, k in table.items() if h in twins}
    out.update({form: () for form in _forms().values()})   # reductions: a new array or a number
    return out


def _returns_fresh(c, array_params):
    """Which parts of what compiled derivative ``c`` returns are certainly not an argument array
    (``array_params``: the parameters given arrays), nor a view of one, nor an array of the user's
    globals: True, False, or a tuple of these for a returned tuple display. Decided on the source
    (``c.source``), flow-insensitively: a name may hold an alias once any assignment to it may
    (a parameter array, a global array, a view or element of an alias, a call that may return one
    of its arguments, a container an alias was stored into). Cached per parameter set."""
    memo = c.__dict__.setdefault("_fresh", {})
    key = (array_params, len(c.dispatcher.overloads))
    if key not in memo:
        memo[key] = _Aliases(c, array_params).returned()
    return memo[key]


class _Aliases:
    def __init__(self, c, array_params):
        self.ns = c.namespace
        self.fdef = ast.parse(c.source).body[0]
        self.passes = _passes()
        self.kinds = _kinds(c.dispatcher)
        self.local = {n.id for n in ast.walk(self.fdef) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        self.local |= {a.arg for a in self.fdef.args.args}
        free = {n.id for n in ast.walk(self.fdef) if isinstance(n, ast.Name)} - self.local
        self.may = set(array_params) | {n for n in free if isinstance(self.ns.get(n), (_ndarray, list, tuple))}
        while True:
            before = len(self.may)
            for node in ast.walk(self.fdef):
                self._flow(node)
            if len(self.may) == before:
                break

    def returned(self):
        rets = [n.value for n in ast.walk(self.fdef) if isinstance(n, ast.Return)]
        if not rets:
            return True
        parts = [self._fresh(r) for r in rets]
        return functools_reduce(_both, parts)

    def _fresh(self, e):
        if isinstance(e, ast.Tuple):
            return tuple(self._fresh(v) for v in e.elts)
        return not self.carries(e)

    def _mark(self, target):
        """``target`` (a store) may now hold an alias."""
        if isinstance(target, ast.Name):
            self.may.add(target.id)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for t in target.elts:
                self._mark(t)
        elif isinstance(target, ast.Starred):
            self._mark(target.value)
        elif isinstance(target, (ast.Subscript, ast.Attribute)):
            self._mark(target.value)     # stored into a container (or an array: harmless)

    def _flow(self, node):
        if isinstance(node, ast.Assign):
            if len(node.targets) == 1 and isinstance(node.targets[0], ast.Tuple) and \
                    isinstance(node.value, ast.Tuple) and len(node.value.elts) == len(node.targets[0].elts):
                for t, v in zip(node.targets[0].elts, node.value.elts):
                    if self.carries(v):
                        self._mark(t)
            elif self.carries(node.value):
                for t in node.targets:
                    self._mark(t)
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign, ast.NamedExpr)):
            if node.value is not None and self.carries(node.value):
                self._mark(node.target)
        elif isinstance(node, (ast.For, ast.comprehension)):
            if self.carries(node.iter):
                self._mark(node.target)
        elif isinstance(node, ast.Call):
            # a call that may keep an alias may have stored it in a container it was given
            f = node.func
            args = list(node.args) + [k.value for k in node.keywords]
            if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id in self.local:
                args.append(f.value)
            if self._call_fresh(node) is None and any(self.carries(a) for a in args):
                for a in args:
                    if isinstance(a, ast.Name) and a.id in self.local:
                        self.may.add(a.id)

    def _call_fresh(self, node):
        """True: the call's result is new memory; a tuple of positions: it may be one of those
        arguments (or a view of one); None: it may return, or keep, any of its arguments."""
        f = node.func
        if isinstance(f, ast.Name):
            obj = self.ns.get(f.id)
            if f.id in ("len", "float", "int", "bool", "abs", "range", "min", "max") and f.id not in self.ns:
                return True
            if obj is not None and not node.keywords:
                try:
                    known = self.passes.get(obj)
                except TypeError:
                    known = None
                if known is not None:
                    return known or True
            return None
        if isinstance(f, ast.Attribute):
            base = f.value
            if isinstance(base, ast.Name) and self.ns.get(base.id) is np and base.id not in self.local:
                fn = getattr(np, f.attr, None)
                if isinstance(fn, np.ufunc) and len(node.args) <= fn.nin and not node.keywords:
                    return True
                if f.attr in _FRESH_NUMPY and all(k.arg in ("axis", "dtype", "keepdims") for k in node.keywords):
                    return True
                return None
            if f.attr in _FRESH_METHODS and all(k.arg in ("axis", "dtype", "keepdims") for k in node.keywords):
                return True
        return None

    def carries(self, e):
        """Whether expression ``e`` may be an argument array, a view of one, or hold one."""
        if isinstance(e, ast.Name):
            return e.id in self.may and self.kinds.get(e.id, "other") not in ("number", "float")
        if isinstance(e, ast.Constant):
            return False
        if isinstance(e, (ast.UnaryOp, ast.Compare)):
            return False    # new arrays, numbers or booleans
        if isinstance(e, ast.BinOp):
            # arithmetic on arrays makes new ones; ``+`` and ``*`` of lists and tuples keep the items
            if not isinstance(e.op, (ast.Add, ast.Mult)) or self._arithmetic(e.left) or self._arithmetic(e.right):
                return False
            if self._array(e.left) and self._array(e.right):
                return False
            return self.carries(e.left) or self.carries(e.right)
        if isinstance(e, ast.Call):
            how = self._call_fresh(e)
            if how is True:
                return False
            args = list(e.args)
            if isinstance(how, tuple):
                return any(self.carries(args[i]) for i in how if i < len(args))
            if isinstance(e.func, ast.Attribute):
                args.append(e.func.value)
            return any(self.carries(a) for a in args + [k.value for k in e.keywords])
        return any(self.carries(v) for v in ast.iter_child_nodes(e) if isinstance(v, ast.expr))

    def _arithmetic(self, e):
        """``e`` is a float or an array: ``+`` or ``*`` with it is arithmetic (an int may repeat a list)."""
        if isinstance(e, ast.Name):
            return self.kinds.get(e.id) in ("float", "array")
        return isinstance(e, ast.Constant) and isinstance(e.value, (float, complex))

    def _array(self, e):
        """``e`` is certainly an array or a number (not a list or tuple): arithmetic on it allocates."""
        if isinstance(e, ast.Name):
            return self.kinds.get(e.id) in ("number", "float", "array")
        if isinstance(e, ast.Constant):
            return isinstance(e.value, (int, float, complex))
        if isinstance(e, ast.BinOp):
            return self._array(e.left) or self._array(e.right)
        return isinstance(e, ast.UnaryOp)


def _kinds(dispatcher):
    """Variable name -> "float" (or complex), "number" (another), "array" or "other": what Numba
    typed each of its versions (``x``, ``x.1``, ...) as, over every signature compiled so far
    ("other" where they differ)."""
    from numba.core import types as nt
    kinds = {}
    for cres in list(dispatcher.overloads.values()):
        typemap = getattr(getattr(cres, "type_annotation", None), "typemap", None) or {}
        for var, t in typemap.items():
            if var.startswith(("$", "arg.")):
                continue
            name = var.split(".")[0]
            kind = "float" if isinstance(t, (nt.Float, nt.Complex)) else \
                "number" if isinstance(t, (nt.Number, nt.Boolean, nt.NoneType, nt.Omitted)) else \
                "array" if isinstance(t, nt.Array) else "other"
            kinds[name] = kind if kinds.get(name, kind) == kind else "other"
    return kinds


def _both(a, b):
    """Fresh in each of two returns (elementwise over tuples of the same length)."""
    if isinstance(a, tuple) and isinstance(b, tuple) and len(a) == len(b):
        return tuple(_both(x, y) for x, y in zip(a, b))
    if isinstance(a, tuple) or isinstance(b, tuple):
        return (a if not isinstance(a, tuple) else all(v is True for v in a)) and \
            (b if not isinstance(b, tuple) else all(v is True for v in b))
    return a and b


def source(df, args):
    """The Numba form of ``df``'s derivative (for arguments like ``args`` where given)."""
    d = df.specialized(df._prefix + tuple(args)) if args else df.derivative
    return numba_source(d)[0]


def _ranks_of(args):
    return api._ranks(args)

