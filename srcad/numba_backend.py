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
import itertools
import linecache
import re
import weakref

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


def _unstack(fdef, ns):
    """A stack whose pushes and pops are all statements of the function's own body (straight-line
    code, no loop or branch) holds one value per push: each push becomes a variable of its own
    (``stack_x.append(x)`` -> ``saved_x_1 = x``, the matching pop ``x = saved_x_1``), so a variable
    saved once as a number and once as an array (or with two ranks) needs no list of one type."""
    names = {n.id for n in ast.walk(fdef) if isinstance(n, ast.Name)} | {a.arg for a in ast.walk(fdef)
                                                                          if isinstance(a, ast.arg)}
    top = fdef.body
    for stmt in list(top):
        if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)
                and isinstance(stmt.value, ast.Call) and _is_name_of(stmt.value.func, ns, runtime.Stack)):
            continue
        name = stmt.targets[0].id
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
    _preallocate(fdef, ns)
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
    """``df(*args, **kwargs)`` for a ``grad``/``value_and_grad`` object made with ``compile=``.

    The fast path is keyed on the arguments' types (``df._compiled_calls``): for a call like one
    that already ran compiled, it checks the arrays' ranks (the variant is specialised on them) and
    that the differentiated ones hold floats, runs the variant's guard (the code is still the code
    the derivative was made from) and calls the Numba dispatcher."""
    if df._prefix:
        args = df._prefix + args
    key = tuple(map(type, args))
    hit = df._compiled_calls.get(key)
    if hit is not None and hit[0] == pipeline.generation and not (df._data and api._reads_foreign(df._data)):
        _, guard, dispatcher, checks = hit
        for i, n, f in checks:
            a = args[i]
            if a.ndim != n or f and a.dtype.kind != "f":
                break
        else:
            if guard():
                # (an empty ``**kwargs`` would send Numba's dispatcher down its slow path)
                out = dispatcher(*args, **kwargs) if kwargs else dispatcher(*args)
                if df.mode != "grad":
                    return out[0], _owned(out[1], args)
                out = out if type(out) is float else _owned(out, args)
                return (out,) if df.tuple_out and len(df.wrt) == 1 else out
    d, args = df._prepare(args)
    out, backend = run(d, args, kwargs, df.compile)
    out = df._tuple(_owned(out, args)) if df.mode == "grad" else (out[0], _owned(out[1], args))
    ranks = _ranks_of(args)
    entry = df._variants.get(ranks)
    if backend == "numba" and entry is not None and entry[1] is d and type(ranks) is tuple:
        types = tuple(map(type, args))
        if all(t in _FAST_TYPES for t in types):
            checks = tuple((i, a.ndim, i in df.wrt) for i, a in enumerate(args) if type(a) is _ndarray)
            df._compiled_calls[types] = (entry[0], entry[2], _COMPILED[d.fn].dispatcher, checks)
    df.backend = backend
    return out


# argument types the fast path takes (others, another library's arrays say, take the checked path)
_FAST_TYPES = {float, int, bool, _float64, np.float32, np.int64, _ndarray}


def _owned(g, args):
    """Gradients handed to users never alias their inputs. Numba returns arrays it allocated (their
    ``base`` is Numba's memory, not an array) or, where the code returned an input or a view of
    one, that array: only those are copied (``api._own`` asks more of NumPy results)."""
    t = type(g)
    if t is tuple:
        for v in g:
            if type(v) is not float:
                return tuple([_owned(v, args) for v in g])
        return g    # numbers only (the common case of scalar loops): nothing to copy
    if t is _ndarray:
        if type(g.base) is _ndarray:
            return g.copy()
        for a in args:
            if a is g:
                return g.copy()
    return g


def source(df, args):
    """The Numba form of ``df``'s derivative (for arguments like ``args`` where given)."""
    d = df.specialized(df._prefix + tuple(args)) if args else df.derivative
    return numba_source(d)[0]


def _ranks_of(args):
    return api._ranks(args)

