"""Step 8: gast -> Python source text (astunparse) -> a function object.

The generated function is compiled with its text registered in ``linecache`` so that tracebacks,
``inspect`` and ``pdb`` show the generated lines. Names the generated code needs besides the user's
(NumPy, runtime helpers, derivatives of called functions) are closure cells of the new function;
the user's globals stay the live globals, and the user's closure cells are shared.
"""

import ast
import itertools
import linecache
import re
import sys
import traceback
import types

import astunparse
import gast
import numpy as np

from srcad import runtime
from srcad.astutil import clone
from srcad.parse import GENERATED

_LINE = "__srcad_line__"
_NOTE = "__srcad_note__"
_counter = itertools.count(1)


class Env:
    """The names the generated code refers to that the user's function does not define."""

    def __init__(self, info, taken, user_locals=()):
        self.info = info
        # the caller's set itself (not a copy): names that inlined bodies add stay locals
        self.user_locals = user_locals if isinstance(user_locals, set) else set(user_locals)
        self.taken = taken          # the Namer's set of names in use
        self.objects = {}           # injected name -> object (a new closure cell holds it)
        self.cells = {}             # name -> a closure cell shared with an inlined helper (read live)
        self.by_id = {}
        self.inlined = {}           # the caller's line -> ["helper (line N of file)"] inlined there

    def _fresh(self, base):
        """``base``, or ``base_1``...: never a name the generated code already uses, nor one that
        means something else in the user's scope (a reader would take it for that)."""
        name, n = base, 0
        while name in self.taken or name in self.objects or name in self.cells or \
                name in self.info.globals or name in self.info.closure:
            n += 1
            name = f"{base}_{n}"
        self.taken.add(name)
        return name

    def ref_name(self, name, obj=None):
        """The name the generated code uses for ``obj``: the user's own name where it resolves to
        ``obj`` in the function being transformed, else a fresh one (``act_1``) bound to it."""
        if obj is None:
            obj = np if name == "np" else runtime.RUNTIME_NAMES[name]
        key = id(obj)
        if key in self.by_id:
            return self.by_id[key]
        ok, current = self.info.resolve(name, guard=None)
        if ok and current is obj and name not in self.user_locals and name not in self.cells:
            # The user's own name for it (global or closure) serves: noted for the guards, since
            # the user's code reads that name too (in a cell that holds obj, or the live cell)
            self.by_id[key] = name
            self.info.resolve(name)
            if name not in self.info.closure:
                self.objects[name] = obj
            return name
        name = self._fresh(name)
        self.by_id[key] = name
        self.objects[name] = obj
        return name

    def cell_name(self, name, cell):
        """A fresh name for a closure cell of an inlined helper: the generated code reads the
        cell itself, so a value put in it later is seen, as the helper would see it."""
        for have, c in self.cells.items():
            if c is cell:
                return have
        name = self._fresh(name)
        self.cells[name] = cell
        return name

    def ref(self, name, obj=None):
        return gast.Name(id=self.ref_name(name, obj), ctx=gast.Load(), annotation=None, type_comment=None)


def line_marker(lineno):
    return gast.Expr(value=gast.Call(func=gast.Name(id=_LINE, ctx=gast.Load(), annotation=None,
                                                    type_comment=None),
                                     args=[gast.Constant(value=lineno, kind=None)], keywords=[]))


def note(text):
    return gast.Expr(value=gast.Call(func=gast.Name(id=_NOTE, ctx=gast.Load(), annotation=None,
                                                    type_comment=None),
                                     args=[gast.Constant(value=text, kind=None)], keywords=[]))


def note_text(stmt):
    """The text of a ``note`` statement, else None."""
    if isinstance(stmt, gast.Expr) and isinstance(stmt.value, gast.Call) and \
            isinstance(stmt.value.func, gast.Name) and stmt.value.func.id == _NOTE:
        return stmt.value.args[0].value
    return None


def note_inlined(stmts, inlined, done=None):
    """A note (``# inlined: dense, line 3 of layers.py``) before the first statement of each line
    where a helper's body was inlined, nested bodies included."""
    done = set() if done is None else done
    out = []
    for s in stmts:
        ln = getattr(s, "lineno", None)
        if ln in inlined and ln not in done:
            done.add(ln)
            out.append(note("inlined: " + "; ".join(inlined[ln])))
        for field in ("body", "orelse"):
            sub = getattr(s, field, None)
            if isinstance(sub, list) and sub:
                setattr(s, field, note_inlined(sub, inlined, done))
        out.append(s)
    return out


def add_line_markers(stmts):
    """Insert a marker before the first statement of each run that comes from one user line."""
    out, last = [], None
    for s in stmts:
        ln = getattr(s, "lineno", None)
        is_note = isinstance(s, gast.Expr) and isinstance(s.value, gast.Call) and \
            isinstance(s.value.func, gast.Name) and s.value.func.id == _NOTE
        if ln is not None and ln != last and not is_note:
            out.append(line_marker(ln))
            last = ln
        for field in ("body", "orelse"):
            sub = getattr(s, field, None)
            if isinstance(sub, list) and sub:
                setattr(s, field, add_line_markers(sub))
        out.append(s)
    return out


_note_re = re.compile(r"^(\s*)" + _NOTE + r"\((['\"])(.*)\2\)$", re.M)


_BINPREC = {ast.BitOr: 5, ast.BitXor: 6, ast.BitAnd: 7, ast.LShift: 8, ast.RShift: 8, ast.Add: 9,
            ast.Sub: 9, ast.Mult: 10, ast.Div: 10, ast.FloorDiv: 10, ast.Mod: 10, ast.MatMult: 10,
            ast.Pow: 12}


def _prec(node):
    if isinstance(node, ast.BoolOp):
        return 1 if isinstance(node.op, ast.Or) else 2
    if isinstance(node, ast.UnaryOp):
        return 3 if isinstance(node.op, ast.Not) else 11
    if isinstance(node, ast.Compare):
        return 4
    if isinstance(node, ast.BinOp):
        return _BINPREC[type(node.op)]
    if isinstance(node, (ast.IfExp, ast.Lambda, ast.NamedExpr)):
        return 0
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, complex)) and \
            not isinstance(node.value, bool) and (node.value < 0 if not isinstance(node.value, complex) else True):
        return 11
    return 13


class _Printer(astunparse.Unparser):
    """astunparse's printer with parentheses only where Python's precedence needs them."""

    _req = 0

    def dispatch(self, tree):
        req, self._req = self._req, 0
        if isinstance(tree, ast.expr) and _prec(tree) < req:
            self.write("(")
            super().dispatch(tree)
            self.write(")")
        else:
            super().dispatch(tree)

    def _sub(self, node, req):
        self._req = req
        self.dispatch(node)

    def _BinOp(self, t):
        p = _BINPREC[type(t.op)]
        right_assoc = isinstance(t.op, ast.Pow)
        self._sub(t.left, p + 1 if right_assoc else p)
        self.write(" " + self.binop[t.op.__class__.__name__] + " ")
        self._sub(t.right, 11 if right_assoc else p + 1)

    def _UnaryOp(self, t):
        op = self.unop[t.op.__class__.__name__]
        self.write(op + (" " if isinstance(t.op, ast.Not) else ""))
        self._sub(t.operand, 3 if isinstance(t.op, ast.Not) else 11)

    def _Compare(self, t):
        self._sub(t.left, 5)
        for o, e in zip(t.ops, t.comparators):
            self.write(" " + self.cmpops[o.__class__.__name__] + " ")
            self._sub(e, 5)

    def _BoolOp(self, t):
        p = 1 if isinstance(t.op, ast.Or) else 2
        for i, v in enumerate(t.values):
            if i:
                self.write(" %s " % self.boolops[t.op.__class__])
            self._sub(v, p + 1)

    def _Attribute(self, t):
        self._req = 13
        super()._Attribute(t)

    def _Subscript(self, t):
        self._req = 13
        self.dispatch(t.value)
        self.write("[")
        if isinstance(t.slice, ast.Tuple) and t.slice.elts:
            for i, e in enumerate(t.slice.elts):
                if i:
                    self.write(", ")
                self.dispatch(e)
            if len(t.slice.elts) == 1:
                self.write(",")
        else:
            self.dispatch(t.slice)
        self.write("]")

    def _Call(self, t):
        self._req = 13
        super()._Call(t)

    def _fstring_FormattedValue(self, t, write):
        # astunparse prints the expression inside ``{...}`` with its own printer, which writes
        # ``x[:, 0]`` as ``x[(:, 0)]`` (not Python): print it with this one
        expr = unparse(t.value).rstrip("\n")
        write("{" + (" " if expr.startswith("{") else "") + expr)
        if t.conversion != -1:
            write("!" + chr(t.conversion))
        if t.format_spec:
            write(":")
            getattr(self, "_fstring_" + type(t.format_spec).__name__)(t.format_spec, write)
        write("}")

    def _Return(self, t):
        if isinstance(t.value, ast.Tuple) and t.value.elts:
            self.fill("return ")
            for i, e in enumerate(t.value.elts):
                if i:
                    self.write(", ")
                self.dispatch(e)
        else:
            super()._Return(t)


def unparse(tree):
    import io
    buf = io.StringIO()
    _Printer(tree, file=buf)
    return buf.getvalue()


def to_source(fdef, line_prefix="line"):
    """Print a gast FunctionDef as Python text with ``# line N`` links to the user's lines."""
    module = gast.Module(body=[fdef], type_ignores=[])
    tree = gast.gast_to_ast(module)
    # (no fix_missing_locations: the printer needs no positions)
    text = unparse(tree).strip("\n") + "\n"
    lines = text.split("\n")
    out = []
    pending = None
    for line in lines:
        m = re.match(r"^(\s*)" + _LINE + r"\((\d+)\)$", line)
        if m:
            pending = m.group(2)
            continue
        m = _note_re.match(line)
        if m:
            out.append(f"{m.group(1)}# {m.group(3)}")
            continue
        if pending is not None and line.strip():
            line = f"{line}  # {line_prefix} {pending}"
            pending = None
        out.append(line)
    return "\n".join(out)


def _show_generated_lines(exc_type, value, tb):
    """``sys.excepthook`` while it would be Python's own: the same report, through ``traceback``,
    which reads the generated code's lines from ``linecache`` (Python's own hook reads files from
    disk only, so an error inside a derivative showed no line there)."""
    traceback.print_exception(exc_type, value, tb)


def _install_excepthook():
    if sys.excepthook is sys.__excepthook__:
        sys.excepthook = _show_generated_lines


def compile_function(src, name, env, info, label):
    """Compile the text of one function definition into a live function object."""
    _install_excepthook()
    freevars = sorted(set(env.objects) | set(env.cells) | set(info.closure))
    body = "\n".join("    " + line if line else line for line in src.split("\n"))
    factory = f"def __srcad_factory__({', '.join(freevars)}):\n{body}\n    return {name}\n"
    filename = f"<srcad {label} #{next(_counter)}>"
    code = compile(factory, filename, "exec")
    linecache.cache[filename] = (len(factory), None, factory.splitlines(True), filename)
    fcode = next(c for c in code.co_consts if isinstance(c, types.CodeType))
    inner = next(c for c in fcode.co_consts if isinstance(c, types.CodeType) and c.co_name == name)
    cells = []
    for var in inner.co_freevars:
        if var in env.objects:
            cells.append(types.CellType(env.objects[var]))
        elif var in env.cells:
            cells.append(env.cells[var])
        else:
            cells.append(info.closure[var])
    fn = types.FunctionType(inner, info.globals, name, None, tuple(cells))
    fn.__defaults__ = info.fn.__defaults__
    GENERATED[fn] = (src, filename)
    return fn


def emit(fdef, name, body, extra_kwonly, env, info, label, kwdefaults):
    """Build, print and compile a derivative: the user's parameters (``fdef.args``) plus the
    keyword-only ``extra_kwonly`` [(name, default node or None)], ``body`` with line links.

    Returns (function, source text)."""
    args = clone(fdef.args)
    for kw, default in extra_kwonly:
        args.kwonlyargs.append(gast.Name(id=kw, ctx=gast.Param(), annotation=None, type_comment=None))
        args.kw_defaults.append(default)
    for a in args.posonlyargs + args.args + args.kwonlyargs + [args.vararg, args.kwarg]:
        if a is not None:
            a.annotation = None
            a.ctx = gast.Param()
    new = gast.FunctionDef(name=name, args=args, body=add_line_markers(body), decorator_list=[],
                           returns=None, type_comment=None)
    src = to_source(new)
    fn = compile_function(src, name, env, info, label)
    fn.__kwdefaults__ = kwdefaults or None
    return fn, src
