"""Step 1: find a function's source, parse it with gast, and resolve the names it reads."""

import ast
import builtins
import inspect
import linecache
import textwrap
import types
import weakref

import gast

from srcad import guards
from srcad.errors import TransformError, article


class _Generated:
    """Source text of the functions srcad generated, so they can be differentiated again.

    Keyed by code object (one generated code object serves every closure it is bound to, see
    ``pipeline.bind``), by identity and weakly: an entry goes when its code object does.
    """

    def __init__(self):
        self._by_code = {}

    def __contains__(self, fn):
        return id(getattr(fn, "__code__", None)) in self._by_code

    def __getitem__(self, fn):
        return self._by_code[id(fn.__code__)]

    def __setitem__(self, fn, value):
        code = fn.__code__
        key = id(code)
        if key not in self._by_code:
            weakref.finalize(code, self._by_code.pop, key, None)
        self._by_code[key] = value


GENERATED = _Generated()


class FunctionInfo:
    """A parsed function: its gast FunctionDef and where its names come from."""

    def __init__(self, fn, node, filename, lineno, source_lines):
        self.fn = fn
        self.node = node
        self.filename = filename
        self.lineno = lineno
        self.source_lines = source_lines  # the user's file lines (1-based via index+1), or None
        self.globals = fn.__globals__
        code = fn.__code__
        cells = fn.__closure__ or ()
        self.closure = dict(zip(code.co_freevars, cells))
        self.name = fn.__name__ if fn.__name__ != "<lambda>" else "lambda"
        self.extra = {}   # names the transformation adds (injected objects), resolved first

    def line_text(self, lineno):
        if self.source_lines and lineno and 0 < lineno <= len(self.source_lines):
            return self.source_lines[lineno - 1].strip()
        return ""

    def resolve(self, name, guard="is"):
        """The object a free name refers to now: closure, then globals, then builtins.

        The resolution is noted as a fact the transformation relies on (``guards``): by identity
        (``guard="is"``), by type (``"type"``) or not at all (``None``).
        """
        if name in self.extra:
            return True, self.extra[name]
        if name in self.closure:
            cell = self.closure[name]
            try:
                value = cell.cell_contents
            except ValueError:
                return False, None
            if guard:
                guards.note(("cell", cell), guard, value if guard == "is" else type(value))
            return True, value
        if name in self.globals:
            value = self.globals[name]
            if guard:
                guards.note(("item", self.globals, name), guard, value if guard == "is" else type(value))
            return True, value
        if hasattr(builtins, name):
            value = getattr(builtins, name)
            if guard:
                guards.note(("absent", self.globals, name), None, None)
                guards.note(("item", builtins.__dict__, name), guard,
                            value if guard == "is" else type(value))
            return True, value
        return False, None


_STALE = (" (where the file was edited after its module was imported, the lines Python compiled are "
          "elsewhere now: reload the module with importlib.reload, or re-run the cell)")


def _no_source(fn, why):
    where = getattr(fn.__code__, "co_filename", "<unknown>")
    hint = ""
    if where in ("<stdin>", "<string>") or where.startswith("<"):
        hint = (" Functions typed at the plain Python prompt or built with exec() have no source "
                "srcad can read: define it in a file or a Jupyter/IPython cell.")
    return TransformError(f"cannot read the source of {fn.__qualname__}: {why}.{hint}",
                          where, fn.__code__.co_firstlineno, "source")


def _lambda_node(fn, lines):
    """Find the lambda whose code object is ``fn.__code__`` by its position in the file."""
    code = fn.__code__
    text = "".join(lines)
    try:
        tree = ast.parse(text)
    except SyntaxError as exc:
        raise _no_source(fn, f"its file does not parse ({exc.msg})") from None
    candidates = [n for n in ast.walk(tree)
                  if isinstance(n, ast.Lambda) and n.lineno == code.co_firstlineno]
    positions = [(ln, col) for ln, _, col, end in code.co_positions()
                 if ln is not None and col is not None and end is not None and end > col]
    if positions:
        first = min(positions)
        inside = [n for n in candidates
                  if (n.body.lineno, n.body.col_offset) <= first <= (n.body.end_lineno, n.body.end_col_offset)]
        if inside:
            candidates = inside
    argnames = list(code.co_varnames[:code.co_argcount + code.co_kwonlyargcount])
    candidates = [n for n in candidates
                  if [a.arg for a in n.args.posonlyargs + n.args.args + n.args.kwonlyargs] == argnames]
    if len(candidates) != 1:
        raise _no_source(fn, "the lambda could not be located unambiguously in its file")
    lam = candidates[0]
    seg = ast.get_source_segment(text, lam)
    return lam, seg


def _signature_of(code, free):
    """What a function's code object is made of, as far as its text decides it: its local names,
    the global and attribute names it reads, its constants (nested functions by the same measure).
    Names in ``free`` (the closure's, which code compiled on its own reads as globals) and
    private names (``self.__w``, mangled inside a class body only) are left out."""
    keep = lambda names: tuple(n for n in names if n not in free and "__" not in n)  # noqa: E731
    consts = tuple(_signature_of(c, free) if isinstance(c, types.CodeType) else (type(c).__name__, repr(c))
                   for c in code.co_consts)
    return keep(code.co_varnames), frozenset(keep(code.co_names)), consts


def _free_names(code):
    names = set(code.co_freevars)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            names |= _free_names(c)
    return names


def _require_current(fn, src, filename, start):
    """The source srcad read must be the source of the code that runs: a file edited after its
    module was imported (a typo fixed, a line added, and no reload) would be differentiated as
    the new text, and errors would name the new lines. Compiled on its own (with the module's
    ``from __future__`` flags), the text read must give a code object of the same names and
    constants as the function's."""
    import __future__
    code = fn.__code__
    futures = 0
    for feature in __future__.all_feature_names:
        futures |= getattr(__future__, feature).compiler_flag
    try:
        module = compile(src, filename, "exec", flags=code.co_flags & futures, dont_inherit=True)
    except (SyntaxError, ValueError):
        return
    made = [c for c in module.co_consts if isinstance(c, types.CodeType) and c.co_name == code.co_name]
    if not made:
        return
    free = _free_names(code)
    if _signature_of(code, free) != _signature_of(made[0], free):
        raise TransformError(f"the source of {fn.__qualname__} in {filename} has changed since it was "
                             "imported (srcad reads the file, Python runs the code it compiled then): "
                             "reload the module (importlib.reload) or re-run the cell",
                             filename, start, "changed source")


def _mangle_private(node, qualname):
    """``self.__w`` in a method is ``self._Model__w`` (Python mangles private names inside a class
    body): the generated code, outside the class, reads the mangled name Python stored."""
    parts = qualname.split(".")
    if len(parts) < 2 or parts[-2] == "<locals>":
        return
    owner = parts[-2].lstrip("_")
    if not owner:
        return
    for n in gast.walk(node):
        if isinstance(n, gast.Attribute) and n.attr.startswith("__") and not n.attr.endswith("__"):
            n.attr = f"_{owner}{n.attr}"


def _explicit_super(node, code):
    """``super()`` in a method is ``super(__class__, self)``: Python passes both implicitly, from
    the method's ``__class__`` cell and its first argument, which the method's code only has where
    it is compiled in its class (not inlined into a caller, not in generated code)."""
    args = node.args.posonlyargs + node.args.args
    if "__class__" not in code.co_freevars or not args:
        return
    for n in gast.walk(node):
        if isinstance(n, gast.Call) and isinstance(n.func, gast.Name) and n.func.id == "super" and \
                not n.args and not n.keywords:
            n.args = [gast.Name(id="__class__", ctx=gast.Load(), annotation=None, type_comment=None),
                      gast.Name(id=args[0].id, ctx=gast.Load(), annotation=None, type_comment=None)]


def parse_function(fn, generator=False):
    """Parse ``fn`` into a FunctionInfo whose node is a gast.FunctionDef with file line numbers.

    ``generator``: a generator function is read too (normalize inlines one where its items are
    collected into a list); otherwise it is refused."""
    if isinstance(fn, (types.BuiltinFunctionType, types.MethodWrapperType)) or not hasattr(fn, "__code__"):
        raise TransformError(f"{fn!r} is not a Python function with source", None, None, "source")
    code = fn.__code__
    flags = code.co_flags & ~inspect.CO_GENERATOR if generator else code.co_flags
    if flags & (inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR):
        kind = "generator" if code.co_flags & inspect.CO_GENERATOR else "async function"
        raise TransformError(f"cannot differentiate {article(kind)} ({fn.__qualname__})",
                             code.co_filename, code.co_firstlineno, kind)
    guards.note_function(fn)
    if fn in GENERATED:
        derived = getattr(fn, "__srcad_guard__", None)
        if derived is not None:   # the derivative it is must still be current
            guards.note(("derived",) + derived, None, None)
        src, filename = GENERATED[fn]
        lines = src.splitlines(True)
        tree = gast.parse(src)
        node = tree.body[0]
        return FunctionInfo(fn, node, filename, 1, lines)
    filename = code.co_filename
    lines = linecache.getlines(filename, fn.__globals__)
    if not lines:
        raise _no_source(fn, "no source file")
    if code.co_name == "<lambda>":
        lam, seg = _lambda_node(fn, lines)
        expr = seg[seg.index(":", len("lambda")) + 1:].strip()
        body = f"def _lambda({ast.unparse(lam.args)}):\n    return ({expr})\n"
        try:
            src = body
            tree = gast.parse(src)
        except SyntaxError:
            src = f"def _lambda({ast.unparse(lam.args)}):\n    return ({ast.unparse(lam.body)})\n"
            tree = gast.parse(src)
        node = tree.body[0]
        node.name = "lambda"
        for n in gast.walk(node):
            if hasattr(n, "lineno"):
                n.lineno = lam.lineno
        return FunctionInfo(fn, node, filename, lam.lineno, lines)
    try:
        # The code object, not the function: ``inspect`` follows ``__wrapped__`` (functools.wraps)
        # from a function to the function it decorates, and the decorator's own arithmetic was
        # lost (issue 11, class 6): srcad differentiates the code that runs.
        src_lines, start = inspect.getsourcelines(code)
    except (OSError, TypeError) as exc:
        raise _no_source(fn, str(exc)) from None
    src = textwrap.dedent("".join(src_lines))
    try:
        tree = gast.parse(src)
    except SyntaxError:
        raise _no_source(fn, "its source does not parse on its own" + _STALE) from None
    node = tree.body[0]
    if not isinstance(node, (gast.FunctionDef, gast.AsyncFunctionDef)):
        raise _no_source(fn, "its source is not a function definition" + _STALE)
    if isinstance(node, gast.AsyncFunctionDef):
        raise TransformError(f"cannot differentiate an async function ({fn.__qualname__})",
                             filename, start, "async def")
    _require_current(fn, src, filename, start)
    _mangle_private(node, fn.__qualname__)
    _explicit_super(node, code)
    node.decorator_list = []
    offset = max(start, 1) - 1
    for n in gast.walk(node):
        if hasattr(n, "lineno") and n.lineno is not None:
            n.lineno += offset
        if hasattr(n, "end_lineno") and n.end_lineno is not None:
            n.end_lineno += offset
    return FunctionInfo(fn, node, filename, start, lines)
