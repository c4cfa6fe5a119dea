"""``srcad.export``: a derivative written out as a standalone Python module.

The module imports NumPy (and Numba, where something it calls is compiled) and nothing from srcad:
everything the derivative's code reads is written into it, found by walking names the way Python
resolves them (the generated function's closure cells, then its globals, then builtins) and,
transitively, the names each copied definition reads:

* modules and objects importable from NumPy, Numba or the standard library: an ``import`` line;
* functions (srcad's runtime helpers, rule helpers, the user's own helpers that stay calls) and
  classes (``Stack``): their source (``inspect.getsource``), decorators dropped from functions,
  defaults written as the values the function has, names renamed where two objects share one;
* generated functions (the derivative, the ``fwd_``/``bwd_``/``jvp_`` derivatives of helpers that
  are called rather than inlined): the text srcad generated;
* Numba dispatchers: the source of ``py_func``, decorated ``@numba.njit(cache=True)`` so that the
  compiled code is cached next to the exported file (a second process pays no compile time);
* values (numbers, strings, tuples, lists, dicts, arrays, NumPy scalars, sentinels ``object()``):
  a literal of the value they have now (globals are copied as they are when exporting);
* another module of the user's, read as ``lib.name``: a namespace holding the attributes read.

A derivative made with ``compile="numba"`` (or ``"auto"``, where srcad can compile it) is written in
the form ``numba_backend`` compiles, under ``@numba.njit(cache=True, nogil=True)``; the runtime
helpers it calls are their Numba twins (``numba_runtime``): a stub and its ``overload`` typing
function, copied with what they read, and the overloads for numbers' methods where used.

Anything else (SciPy, an object of a class from a third-party library, a module used other than
through its attributes, a lambda) is refused with a ``TransformError`` naming the user's line and
the name. The output is deterministic: walks go in sorted name order and nothing depends on ids.
"""

import ast
import base64
import builtins
import heapq
import inspect
import keyword
import os
import pathlib
import re
import symtable
import sys
import textwrap
import types

import numpy as np

from srcad import api, pipeline
from srcad.errors import TransformError
from srcad.parse import GENERATED

_BUILTIN_NAMES = frozenset(dir(builtins))
_KIND_ORDER = {"value": 0, "generated": 1, "class": 2, "function": 3, "namespace": 4, "alias": 5,
               "registration": 6}
_ARRAY_LITERAL_MAX = 64     # larger (or non-finite) arrays are written as base64 of their bytes
_LABEL = re.compile(r"^<srcad (\S+) of (.*):(\d+) #\d+>$")
_LINE_NOTE = re.compile(r"#\s*line (\d+)\s*$")
_ALIASES = {"grad": "grad", "value_and_grad": "value_and_grad", "vjp": "vjp", "jvp": "jvp"}


class ExportError(TransformError):
    """A derivative that cannot be written as a standalone module (a ``TransformError``): the
    message names the user's line and what the derivative reads there that cannot be brought along."""


class _Refused(Exception):
    """Something cannot be exported: the message and the name chain that led to it."""

    def __init__(self, message, construct):
        super().__init__(message)
        self.message, self.construct = message, construct


# ------------------------------------------------------------------------------------------------
# what to export


class _Target:
    """The generated function to export and what the header says about it."""

    def __init__(self, fn, kind, derivative=None, user_fn=None, wrt=(), ranks=None, compile=None):
        self.fn, self.kind, self.derivative = fn, kind, derivative
        self.user_fn, self.wrt, self.ranks = user_fn, wrt, ranks
        self.compile = compile      # "numba" or "auto": export the form numba_backend compiles
        self.numba = None           # that form (a _NumbaForm), where it is exported


def _ranks_key(ranks):
    if ranks is None:
        return None
    if isinstance(ranks, (int, np.integer)) or not isinstance(ranks, (tuple, list)):
        raise TypeError(f"ranks must be a tuple of ints (an argument's ndim, 0 for a float) or None, "
                        f"not {ranks!r}")
    out = []
    for r in ranks:
        if r is None:
            out.append(None)
        elif isinstance(r, (int, np.integer)) and not isinstance(r, bool) and r >= 0:
            out.append(int(r) if r else 0)
        else:
            raise TypeError(f"ranks must hold ints >= 0 (or None for an unknown rank), not {r!r}")
    # a 0-d array is not rank 0 (that means an immutable number): srcad runs the generic variant
    return tuple(out)


def _jvp_parts(df):
    """``(fun, wrt)`` of a function ``srcad.jvp(fun, wrt=w)`` returned."""
    try:
        cells = inspect.getclosurevars(df).nonlocals
    except TypeError:
        return None
    if "fun" in cells and "ws" in cells:
        return cells["fun"], tuple(cells["ws"]), cells.get("compile")
    return None


def _target(df, ranks):
    key = _ranks_key(ranks)
    if isinstance(df, api._Transformed):
        if df._prefix:
            raise TypeError("srcad.export: a derivative of a bound method carries its object "
                            f"({type(df._prefix[0]).__name__}), which cannot be exported; export the "
                            "function and pass the object as an argument")
        kind = "value_and_grad" if isinstance(df, api.value_and_grad) else \
            "grad" if isinstance(df, api.grad) else "vjp"
        fun = api._unwrap(df.fun)
        d = pipeline.reverse_derivative(fun, df.wrt, df.mode, ranks=key)
        return _Target(d.fn, kind, d, fun, df.wrt, key, df.compile)
    if isinstance(df, api._Matrix):
        raise TypeError(f"srcad.export exports what grad, value_and_grad, vjp and jvp return; "
                        f"{type(df).__name__} runs its derivative from a Python loop in srcad")
    parts = _jvp_parts(df) if callable(df) and getattr(df, "__srcad_function__", None) else None
    if parts is not None:
        fun, wrt, compile = parts
        fun = api._unwrap(fun)
        d = pipeline.forward_derivative(fun, wrt, ranks=key)
        return _Target(d.fn, "jvp", d, fun, wrt, key, compile)
    if isinstance(df, pipeline.Derivative):
        if df.fn is None:
            raise TypeError("srcad.export: this derivative is a fwd_/bwd_ pair; export the caller's")
        kind = "jvp" if df.tangent_names else "grad"
        return _Target(df.fn, kind, df, df.root, (), None)
    inner = getattr(df, "py_func", df)
    if inner in GENERATED:
        for (_, wrt, mode, key), variants in list(pipeline._cache.items()):
            for d in variants:
                if d.fn is not None and d.fn.__code__ is inner.__code__ and mode in _ALIASES:
                    # a Numba dispatcher over a generated derivative: the form Numba compiles
                    return _Target(df, mode, d, d.root, wrt, None if key is None else tuple(key),
                                   "numba" if df is not inner else None)
        name = inner.__name__
        kind = next((k for k in ("value_and_grad", "grad", "jvp") if name.startswith(k + "_")), "grad")
        return _Target(df, kind)
    raise TypeError(f"srcad.export needs what srcad.grad, value_and_grad, vjp or jvp(f, wrt=...) return, "
                    f"not {df!r}")


# ------------------------------------------------------------------------------------------------
# names and scopes of a snippet of source


def _global_names(src):
    """(names read at definition time, names read when called) that ``src`` (one def or class)
    takes from the module: free names of every scope, as Python would resolve them."""
    top = symtable.symtable(src, "<export>", "exec")
    defined = {t.get_name() for t in top.get_children()}
    at_def, at_call = set(), set()
    for s in top.get_symbols():
        if s.is_referenced() and s.get_name() not in defined:
            at_def.add(s.get_name())

    def walk(table, into):
        for s in table.get_symbols():
            if s.is_global() and (s.is_referenced() or s.is_declared_global()):
                into.add(s.get_name())
        for child in table.get_children():
            walk(child, at_call if child.get_type() == "function" else into)
    for child in top.get_children():
        walk(child, at_def if child.get_type() == "class" else at_call)
    return at_def, at_call


def _identifiers(tree):
    out = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Name):
            out.add(n.id)
        elif isinstance(n, ast.arg):
            out.add(n.arg)
        elif isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
            out.add(n.name)
    return out


def _attribute_uses(tree, name):
    """The attributes read as ``name.attr``; None where ``name`` is also used otherwise."""
    attrs, bare = set(), 0
    parents = {}
    for n in ast.walk(tree):
        for c in ast.iter_child_nodes(n):
            parents[c] = n
    for n in ast.walk(tree):
        if isinstance(n, ast.Name) and n.id == name:
            p = parents.get(n)
            if isinstance(p, ast.Attribute) and p.value is n and isinstance(n.ctx, ast.Load) \
                    and isinstance(p.ctx, ast.Load):
                attrs.add(p.attr)
            else:
                bare += 1
    return None if bare else attrs


class _Edit:
    """Text edits of one snippet at AST positions (columns are UTF-8 byte offsets)."""

    def __init__(self, src):
        self.lines = [line.encode() for line in src.split("\n")]
        self.edits = []

    def replace(self, lineno, col, end_lineno, end_col, text):
        self.edits.append((lineno, col, end_lineno, end_col, text.encode()))

    def text(self):
        lines = list(self.lines)
        for lineno, col, end_lineno, end_col, text in sorted(self.edits, reverse=True):
            first, last = lines[lineno - 1], lines[end_lineno - 1]
            merged = first[:col] + text + last[end_col:]
            lines[lineno - 1:end_lineno] = merged.split(b"\n")
        return "\n".join(line.decode() for line in lines)


def _rename(tree, edit, renames):
    for n in ast.walk(tree):
        if isinstance(n, ast.Name) and n.id in renames:
            edit.replace(n.lineno, n.col_offset, n.end_lineno, n.end_col_offset, renames[n.id])
        elif isinstance(n, (ast.Global, ast.Nonlocal)) and set(n.names) & set(renames):
            raise _Refused(f"a `global` statement on `{sorted(set(n.names) & set(renames))[0]}`, a name "
                           "the exported module must rename", "global statement")


def _rename_def(node, edit, new):
    """The ``def``/``class`` line's own name."""
    line = edit.lines[node.lineno - 1].decode()
    m = re.compile(r"\b(def|class)\s+" + re.escape(node.name) + r"\b").search(line, node.col_offset)
    if m is None:
        raise _Refused(f"cannot find the definition of {node.name} in its source", node.name)
    start = len(line[:m.end() - len(node.name)].encode())
    edit.replace(node.lineno, start, node.lineno, start + len(node.name.encode()), new)


# ------------------------------------------------------------------------------------------------
# the module being written


class _Unit:
    def __init__(self, name, kind, seq):
        self.name, self.kind, self.seq = name, kind, seq
        self.text = ""
        self.deps = set()      # module names needed when the definition runs
        self.comment = None


def _is_stdlib(modname):
    top = modname.split(".")[0]
    return top in sys.stdlib_module_names and top not in ("__main__",)


def _allowed_module(modname):
    top = modname.split(".")[0]
    return top in ("numpy", "numba") or _is_stdlib(modname)


def _import_path(obj):
    """``(module, name)`` such that ``from module import name`` gives ``obj``, from NumPy, Numba
    or the standard library; else None."""
    if isinstance(obj, types.ModuleType):
        return None
    name = getattr(obj, "__name__", None)
    if not isinstance(name, str):
        return None
    if getattr(np, name, None) is obj and not name.startswith("_"):
        return "numpy", name
    modname = getattr(obj, "__module__", None)
    if not isinstance(modname, str) or not _allowed_module(modname):
        return None
    qual = getattr(obj, "__qualname__", name)
    mod = sys.modules.get(modname)
    if mod is not None and "." not in qual and getattr(mod, qual, None) is obj:
        # the public module where one exists (numpy.linalg, not numpy.linalg._linalg)
        parts = modname.split(".")
        for k in range(1, len(parts) + 1):
            public = ".".join(parts[:k])
            if public in sys.modules and getattr(sys.modules[public], qual, None) is obj and \
                    not any(p.startswith("_") for p in parts[:k]):
                return public, qual
        if not any(p.startswith("_") for p in parts):
            return modname, qual
    return None


def _installed(mod):
    """Whether ``mod`` is an installed library (in site-packages), not the user's own module."""
    path = getattr(mod, "__file__", None) or ""
    return any(part in ("site-packages", "dist-packages") for part in pathlib.PurePath(path).parts)


def _library_of(obj):
    """The installed library a function or object comes from (``scipy.special``), else None."""
    modname = getattr(obj, "__module__", None) or getattr(type(obj), "__module__", None)
    if not isinstance(modname, str) or _allowed_module(modname) or modname == "builtins":
        return None
    mod = sys.modules.get(modname)
    return modname if mod is not None and _installed(mod) else None


def _module_label(globs):
    """The module a function's globals belong to, as a reader knows it (the file's name for a file
    the command line loaded)."""
    name = globs.get("__name__", "?")
    if name.startswith("_srcad_cli_") and globs.get("__file__"):
        return os.path.splitext(os.path.basename(globs["__file__"]))[0]
    return name


def _numba_runtime():
    from srcad import numba_runtime
    return numba_runtime


def _is_twin(obj):
    """A Numba twin of a runtime helper (``numba_runtime.twin``): a stub with a typing function."""
    return isinstance(obj, types.FunctionType) and obj.__module__ == "srcad.numba_runtime" and \
        isinstance(getattr(obj, "typing", None), types.FunctionType)


class _NumbaForm:
    """The derivative in the form ``numba_backend`` compiles: its source, the function made from
    it (its globals: what the source reads) and the comment above it."""

    def __init__(self, d, source, name, namespace):
        self.source = source
        freevars = d.fn.__code__.co_freevars
        ns = dict(namespace)
        exec(compile(source, "<srcad export>", "exec"), ns)
        self.fn = ns.pop(name)
        # the generated function's closure cells, holding what the Numba form reads (twins swapped in)
        self.closure = {v: types.CellType(ns.pop(v)) for v in freevars if v in ns}
        m = _LABEL.match(GENERATED[d.fn][1]) if d.fn in GENERATED else None
        of = re.sub(r"^(value_and_grad|grad|jvp|fwd|bwd)_", "", m.group(1)) if m else ""
        self.comment = (f"# generated by srcad from {of} ({os.path.basename(m.group(2))}, line {m.group(3)}), "
                        "in the form Numba compiles" if m else "# generated by srcad, in the form Numba compiles")


def _is_dispatcher(obj):
    return type(obj).__module__.startswith("numba") and hasattr(obj, "py_func") and \
        isinstance(getattr(obj, "py_func", None), types.FunctionType)


class _Writer:
    def __init__(self, reserved):
        self.names = {}       # module-level name -> object (or a placeholder for reserved names)
        self.by_id = {}       # id(object) -> its first module-level name
        self.atoms = {}       # (name read, type, repr) of a number or string -> its module-level name
        self.keep = []        # the objects named (so ids stay theirs while writing)
        self.units = []
        self.imports = {}     # import line -> None (ordered set)
        self.namespaces = {}  # id(module) -> (unit, module, {attr: expression})
        self.uses_numba = False
        self.compiled_texts = []   # sources compiled by Numba (which number overloads they need)
        self.twins = []            # the Numba twins copied
        self.stack = []       # (snippet label, name) being resolved, for refusals
        self.origin = None    # where the name being resolved was read from (a comment on values)
        for name in reserved:
            self.names[name] = _RESERVED

    # -- naming

    def fresh(self, base, avoid=()):
        base = re.sub(r"\W", "_", base) or "value"
        name, k = base, 0
        while name in self.names or name in _BUILTIN_NAMES or name in avoid or \
                keyword.iskeyword(name):
            k += 1
            name = f"{base}_{k}"
        return name

    def ref(self, obj, preferred, avoid=(), attrs=None):
        """The module-level name the snippet reading ``obj`` as ``preferred`` should use."""
        if preferred in _BUILTIN_NAMES and getattr(builtins, preferred) is obj:
            return preferred
        if isinstance(obj, pipeline.Pending):
            if obj.fn is None:
                raise _Refused(f"`{preferred}` is a derivative still being built", preferred)
            obj = obj.fn
        shareable = not _atom(obj)
        # an immutable value is found by its name and text: the same global read by two functions
        canonical = self.by_id.get(id(obj)) if shareable else self.atoms.get((preferred, type(obj), repr(obj)))
        have = self.names.get(preferred, _RESERVED)
        if have is obj and shareable or not shareable and type(have) is type(obj) and repr(have) == repr(obj):
            name = preferred
        elif preferred not in self.names and preferred not in _BUILTIN_NAMES and not keyword.iskeyword(preferred):
            name = preferred
            if canonical is not None and not (isinstance(obj, types.ModuleType) and _allowed_module(obj.__name__)):
                self._alias(name, canonical, obj)
            else:
                self.define(obj, name)
        elif canonical is not None and canonical not in avoid:
            name = canonical
        else:
            name = self.fresh(preferred, avoid)
            self.define(obj, name, preferred)
        if isinstance(obj, types.ModuleType) and attrs is not None:
            self._namespace_attrs(obj, attrs, name)
        return name

    def _claim(self, name, obj, preferred=None):
        self.names[name] = obj
        self.keep.append(obj)
        if not _atom(obj):
            self.by_id.setdefault(id(obj), name)
        else:
            self.atoms.setdefault((preferred or name, type(obj), repr(obj)), name)

    def _unit(self, name, kind):
        u = _Unit(name, kind, len(self.units))
        self.units.append(u)
        return u

    def _alias(self, name, canonical, obj):
        self._claim(name, obj)
        u = self._unit(name, "alias")
        u.text = f"{name} = {canonical}"
        u.deps = {canonical}

    # -- definitions

    def define(self, obj, name, preferred=None):
        self._claim(name, obj, preferred)
        if isinstance(obj, types.ModuleType):
            return self._module(obj, name)
        builtin = getattr(obj, "__name__", None)
        if isinstance(builtin, str) and getattr(builtins, builtin, None) is obj:
            u = self._unit(name, "value")
            u.text = f"{name} = {builtin}" + (f"  # {self.origin}" if self.origin else "")
            return
        path = _import_path(obj)
        if path is not None:
            module, attr = path
            if module.split(".")[0] == "numba":
                self.uses_numba = True
            self.imports[f"from {module} import {attr}" + ("" if attr == name else f" as {name}")] = None
            return
        if _is_twin(obj):
            self.twins.append(name)
            impl = self.fresh(name + "_impl")
            self._claim(impl, obj.typing)
            return self._function(obj.typing, impl, twin_of=name)
        if _is_dispatcher(obj):
            return self._function(obj.py_func, name, dispatcher=obj)
        if isinstance(obj, types.FunctionType):
            return self._function(obj, name)
        if isinstance(obj, type):
            return self._class(obj, name)
        if type(obj) is object:
            u = self._unit(name, "value")
            u.text = f"{name} = object()"
            return
        library = _library_of(obj)
        if library is not None:
            raise _Refused(f"{getattr(obj, '__qualname__', type(obj).__qualname__)} from {library}, a library "
                           "the exported module does not import", f"{library}.{getattr(obj, '__name__', '?')}")
        if not _literal(obj):
            what = type(obj).__module__ + "." + type(obj).__qualname__
            raise _Refused(f"an object of type {what}, which cannot be written into a module", what)
        u = self._unit(name, "value")
        origin = self.origin
        expr = self.expr(obj, name, u)
        u.text = f"{name} = {expr}" + (f"  # {origin}" if origin and "\n" not in expr else "")

    def _module(self, mod, name):
        modname = mod.__name__
        if _allowed_module(modname):
            if modname.split(".")[0] == "numba":
                self.uses_numba = True
            if "." in modname:
                parent, _, last = modname.rpartition(".")
                line = f"from {parent} import {last}" + ("" if last == name else f" as {name}")
            else:
                line = f"import {modname}" + ("" if modname == name else f" as {name}")
            self.imports[line] = None
            return
        if _installed(mod):
            raise _Refused(f"the module {modname}, a library the exported module does not import", modname)
        # the user's own module, read through its attributes: a namespace of what is read
        u = self._unit(name, "namespace")
        self.namespaces[id(mod)] = (u, mod, {})
        u.comment = f"# the attributes of module {modname} that the code reads"

    def _namespace_attrs(self, mod, attrs, name):
        entry = self.namespaces.get(id(mod))
        if entry is None:
            return
        u, mod, table = entry
        for attr in sorted(attrs):
            if attr in table:
                continue
            if not hasattr(mod, attr):
                raise _Refused(f"`{name}.{attr}`, which module {mod.__name__} does not define", f"{name}.{attr}")
            table[attr] = None     # claimed first: a cycle through the module ends here
            self.stack.append((mod.__name__, attr))
            self.origin = f"{mod.__name__}.{attr}"
            table[attr] = self.ref(getattr(mod, attr), attr)
            self.origin = None
            self.stack.pop()

    def _source_of(self, obj, what):
        try:
            return textwrap.dedent(inspect.getsource(obj))
        except (OSError, TypeError):
            raise _Refused(f"{what}, whose source Python cannot find", what) from None

    def _resolve(self, name, closure, globs):
        if name in closure:
            try:
                return closure[name].cell_contents
            except ValueError:
                raise _Refused(f"`{name}`, a closure variable that has no value yet", name) from None
        if name in globs:
            return globs[name]
        if name in _BUILTIN_NAMES:
            return getattr(builtins, name)
        raise _Refused(f"`{name}`, which is not defined where the code runs", name)

    def _names_of(self, tree, src, closure, globs, label):
        """Resolve every free name of a snippet: {old name: new name} and the definition-time
        names (after renaming)."""
        at_def, at_call = _global_names(src)
        avoid = _identifiers(tree)
        renames = {}
        for name in sorted(at_def | at_call):
            self.stack.append((label, name))
            obj = self._resolve(name, closure, globs)
            attrs = _attribute_uses(tree, name) if isinstance(obj, types.ModuleType) else None
            if isinstance(obj, types.ModuleType) and not _allowed_module(obj.__name__) and attrs is None:
                raise _Refused(f"`{name}`, the module {obj.__name__}, used other than as `{name}.attribute`; "
                               "the exported module imports only NumPy", name)
            self.origin = f"a closure cell of {label}" if name in closure else \
                f"{_module_label(globs)}.{name}" if name in globs else None
            new = self.ref(obj, name, avoid, attrs)
            self.origin = None
            self.stack.pop()
            if new != name:
                renames[name] = new
        deps = {renames.get(n, n) for n in at_def}
        return renames, deps

    def _function(self, fn, name, dispatcher=None, numba_form=None, decorators=(), twin_of=None):
        """Copy function ``fn`` as ``name``: its source (the text srcad generated for a generated
        function; ``numba_form``, a ``_NumbaForm``, for the derivative exported compiled), under
        ``decorators`` (lines of text); ``twin_of``: ``fn`` is the typing function of the Numba
        twin named that (the twin is written before it)."""
        generated = fn in GENERATED or numba_form is not None
        label = fn.__qualname__ if not generated else fn.__name__
        if fn.__name__ == "<lambda>":
            raise _Refused(f"the lambda at line {fn.__code__.co_firstlineno} of {fn.__code__.co_filename}; "
                           "define it with `def` to export it", "lambda")
        if getattr(fn, "__wrapped__", None) is not None:
            raise _Refused(f"{fn.__qualname__}, a function made by a decorator (functools.wraps), whose "
                           "source is not the code that runs", "decorated function")
        src = numba_form.source if numba_form is not None else GENERATED[fn][0] if generated else \
            self._source_of(fn, fn.__qualname__)
        u = self._unit(name, "generated" if generated else "function")
        tree = ast.parse(src)
        node = tree.body[0] if len(tree.body) == 1 else None
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or node.name != fn.__code__.co_name:
            raise _Refused(f"{fn.__qualname__}, whose source is not one `def` (a function made by exec or "
                           "a decorator)", fn.__qualname__)
        if any(isinstance(n, ast.Nonlocal) for n in ast.walk(node)):
            raise _Refused(f"{fn.__qualname__}, which assigns `nonlocal` variables", "nonlocal")
        if numba_form is not None:
            u.comment = numba_form.comment
        elif generated:
            m = _LABEL.match(GENERATED[fn][1])
            of = re.sub(r"^(value_and_grad|grad|jvp|fwd|bwd)_", "", m.group(1)) if m else ""
            u.comment = f"# generated by srcad from {of} ({os.path.basename(m.group(2))}, line {m.group(3)})" \
                if m else "# generated by srcad"
        else:
            u.comment = f"# {fn.__module__}.{fn.__qualname__}" if dispatcher is None else \
                f"# {fn.__module__}.{fn.__qualname__} (compiled by Numba)"
        closure = dict(zip(fn.__code__.co_freevars, fn.__closure__ or ()))
        if numba_form is not None:
            closure = numba_form.closure
        # decorators applied where the function was defined are not applied again, and defaults
        # are the values the function has (their expressions were evaluated where it was made)
        edit = _Edit(src)
        if node.decorator_list:
            edit.replace(min(d.lineno for d in node.decorator_list), 0, node.lineno, 0, "")
        defaults = list(fn.__defaults__ or ())
        positional = node.args.posonlyargs + node.args.args
        pairs = list(zip(positional[len(positional) - len(node.args.defaults):], node.args.defaults,
                         defaults[len(defaults) - len(node.args.defaults):]))
        kwdefaults = fn.__kwdefaults__ or {}
        pairs += [(a, d, kwdefaults[a.arg]) for a, d in zip(node.args.kwonlyargs, node.args.kw_defaults)
                  if d is not None and a.arg in kwdefaults]
        for arg, arg_node, value in pairs:
            if not _same_literal(arg_node, value):
                self.stack.append((label, f"default {ast.unparse(arg_node)}"))
                own = getattr(value, "__name__", None)
                text = self.expr(value, own if isinstance(own, str) and own.isidentifier() else arg.arg, u)
                self.stack.pop()
                edit.replace(arg_node.lineno, arg_node.col_offset, arg_node.end_lineno, arg_node.end_col_offset,
                             text)
        src = edit.text()
        tree = ast.parse(src)
        node = tree.body[0]
        edit = _Edit(src)
        renames, deps = self._names_of(tree, src, closure, fn.__globals__, label)
        _rename(tree, edit, renames)
        if name != node.name:
            _rename_def(node, edit, name)
        if dispatcher is not None:
            numba_name = self.ref(sys.modules["numba"], "numba")
            options = {k: v for k, v in sorted(getattr(dispatcher, "targetoptions", {}).items())
                       if k not in ("nopython", "cache") and v is not None and _literal(v)}
            extra = "".join(f", {k}={self.expr(v, k, u)}" for k, v in options.items())
            edit.replace(node.lineno, 0, node.lineno, 0, f"@{numba_name}.njit(cache=True{extra})\n")
            deps.add(numba_name)
            self.uses_numba = True
        if numba_form is not None or twin_of is not None:
            self.compiled_texts.append(src)
        decorators = list(decorators)
        if numba_form is not None:
            numba_name = self.ref(sys.modules["numba"], "numba")
            decorators.append(f"@{numba_name}.njit(cache=True, nogil=True)")
            deps.add(numba_name)
        if twin_of is not None:
            overload = self.ref(_numba_runtime().overload, "overload")
            optional = self.ref(_numba_runtime().optional_types, "optional_types")
            values, literal = getattr(fn, "overload_options", (2, False))
            decorators += [f"@{overload}({twin_of}" + (", prefer_literal=True)" if literal else ")"),
                           f"@{optional}" + (f"(values={values})" if values != 2 else "")]
            deps |= {overload, optional}
        if decorators:
            edit.replace(node.lineno, 0, node.lineno, 0, "".join(d + "\n" for d in decorators))
        u.text = edit.text().rstrip("\n")
        if twin_of is not None:
            params = ast.unparse(node.args)
            u.text = (f"def {twin_of}({params}):\n"
                      f'    """Compiled code only: Numba compiles what {name} returns for the argument types."""\n'
                      f"    raise NotImplementedError({twin_of + ' runs only in code compiled by Numba'!r})\n"
                      "\n\n" + u.text)
            u.comment = f"# the Numba twin of srcad's helper {twin_of} (srcad.numba_runtime)"
        u.deps |= deps

    def _class(self, cls, name):
        if cls.__module__ in ("builtins",) or not hasattr(sys.modules.get(cls.__module__), "__file__"):
            raise _Refused(f"an object of type {cls.__qualname__}, which has no Python source", cls.__qualname__)
        src = self._source_of(cls, cls.__qualname__)
        u = self._unit(name, "class")
        u.comment = f"# {cls.__module__}.{cls.__qualname__}"
        tree = ast.parse(src)
        node = tree.body[0]
        edit = _Edit(src)
        globs = vars(sys.modules[cls.__module__])
        renames, deps = self._names_of(tree, src, {}, globs, cls.__qualname__)
        _rename(tree, edit, renames)
        if name != node.name:
            _rename_def(node, edit, name)
        u.text = edit.text().rstrip("\n")
        u.deps |= deps

    # -- values

    def expr(self, v, preferred, unit):
        """Python text that evaluates to ``v`` (names of other definitions it needs are deps)."""
        t = type(v)
        if v is None or v is True or v is False or v is Ellipsis:
            return repr(v)
        if t is int or t is str or t is bytes:
            return repr(v)
        if t is float:
            return repr(v) if np.isfinite(v) else f"float({str(v)!r})"
        if t is complex:
            return f"complex({self.expr(v.real, preferred, unit)}, {self.expr(v.imag, preferred, unit)})"
        if t is tuple:
            items = [self.expr(x, preferred, unit) for x in v]
            return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
        if t is list:
            return "[" + ", ".join(self.expr(x, preferred, unit) for x in v) + "]"
        if t is dict:
            return "{" + ", ".join(f"{self.expr(k, preferred, unit)}: {self.expr(x, preferred, unit)}"
                                   for k, x in v.items()) + "}"
        if t in (set, frozenset):
            items = sorted(self.expr(x, preferred, unit) for x in v)
            if not items:
                return f"{t.__name__}()"
            return ("{" + ", ".join(items) + "}") if t is set else f"frozenset({{{', '.join(items)}}})"
        if t is slice:
            return f"slice({self.expr(v.start, preferred, unit)}, {self.expr(v.stop, preferred, unit)}, " \
                   f"{self.expr(v.step, preferred, unit)})"
        if t is range:
            return f"range({v.start}, {v.stop}, {v.step})"
        if isinstance(v, np.generic) and getattr(np, t.__name__, None) is t and v.dtype.kind in "biufc":
            npn = self._np(unit)
            item = v.item()
            return f"{npn}.{t.__name__}({self.expr(item, preferred, unit)})"
        if isinstance(v, np.dtype):
            return f"{self._np(unit)}.dtype({v.str!r})"
        if t is np.ndarray:
            return self._array(v, unit)
        name = self.ref(v, preferred)
        unit.deps.add(name)
        return name

    def _np(self, unit):
        name = self.ref(np, "np")
        unit.deps.add(name)
        return name

    def _array(self, a, unit):
        npn = self._np(unit)
        if a.dtype.kind not in "biuf":
            raise _Refused(f"an array of dtype {a.dtype}, which the exported module does not write", "array")
        dtype = a.dtype.name if getattr(np, a.dtype.name, None) is a.dtype.type and a.dtype.isnative else None
        dt = f"{npn}.{dtype}" if dtype else repr(a.dtype.str)
        finite = a.dtype.kind != "f" or bool(np.all(np.isfinite(a)))
        if a.size <= _ARRAY_LITERAL_MAX and finite:
            return f"{npn}.array({a.tolist()!r}, dtype={dt})"
        b64 = base64.b64encode(np.ascontiguousarray(a).tobytes()).decode()
        b64_name = self.ref(base64, "base64")
        unit.deps.add(b64_name)
        chunks = [b64[i:i + 96] for i in range(0, len(b64), 96)] or [""]
        body = "\n    ".join(repr(c) for c in chunks)
        return (f"{npn}.frombuffer({b64_name}.b64decode(\n    {body}), dtype={a.dtype.str!r})"
                f".reshape({tuple(a.shape)!r}).copy()")

    def number_overloads(self):
        """The overloads ``numba_runtime`` registers for NumPy forms Numba lacks on numbers
        (``x.sum()`` of a float, ``np.linalg.norm`` of a float), where compiled code may use them."""
        text = "\n".join(self.compiled_texts)
        nr = _numba_runtime()
        methods = [m for m in nr.NUMBER_METHODS if re.search(r"\.\s*" + m + r"\(", text)]
        if methods:
            self.stack.append(("srcad.numba_runtime", "number_method"))
            method = self.ref(nr.number_method, "number_method")
            overload_method = self.ref(nr.overload_method, "overload_method")
            numba_types = self.ref(nr.types, "types")
            self.stack.pop()
            u = self._unit(self.fresh("number_methods"), "registration")
            u.comment = f"# {', '.join(f'x.{m}()' for m in methods)} of a number (Numba's numbers have no such methods)"
            u.text = "\n".join(f"{overload_method}({numba_types}.{t}, {m!r})({method})"
                                for m in methods for t in ("Float", "Integer"))
            u.deps = {method, overload_method, numba_types}
        if re.search(r"\bnorm\(", text):
            self.stack.append(("srcad.numba_runtime", "_norm_of_a_number"))
            overload = self.ref(nr.overload, "overload")
            npn = self.ref(np, "np")
            name = self.fresh("norm_of_a_number")
            self._claim(name, nr._norm_of_a_number)
            self._function(nr._norm_of_a_number, name, decorators=[f"@{overload}({npn}.linalg.norm)"])
            next(u for u in self.units if u.name == name).deps |= {overload, npn}
            self.stack.pop()

    # -- output

    def finish_namespaces(self):
        for u, mod, table in self.namespaces.values():
            types_name = self.ref(types, "types")
            items = ", ".join(f"{attr}={table[attr]}" for attr in sorted(table))
            u.text = f"{u.name} = {types_name}.SimpleNamespace({items})"
            u.deps = {types_name} | set(table.values())

    def ordered(self):
        """The units in an order where each definition's definition-time names come first;
        otherwise values, classes, generated functions, copied functions, namespaces, aliases,
        each in the order they were met."""
        by_name = {u.name: u for u in self.units}
        waiting = {u.name: {d for d in u.deps if d in by_name and d != u.name} for u in self.units}
        users = {}
        for n, ds in waiting.items():
            for d in ds:
                users.setdefault(d, []).append(n)
        heap = [(_KIND_ORDER[u.kind], u.seq, u.name) for u in self.units if not waiting[u.name]]
        heapq.heapify(heap)
        out, done = [], set()
        while heap:
            _, _, n = heapq.heappop(heap)
            if n in done:
                continue
            done.add(n)
            out.append(by_name[n])
            for m in users.get(n, ()):
                waiting[m].discard(n)
                if not waiting[m] and m not in done:
                    u = by_name[m]
                    heapq.heappush(heap, (_KIND_ORDER[u.kind], u.seq, m))
        rest = sorted((u for u in self.units if u.name not in done), key=lambda u: u.seq)
        return out + rest


_RESERVED = object()


def _atom(v):
    return v is None or type(v) in (bool, int, float, complex, str, bytes)


def _literal(v):
    """Whether ``expr`` writes ``v`` itself (not through a definition of its own)."""
    return _atom(v) or v is Ellipsis or type(v) in (tuple, list, dict, set, frozenset, slice, range, np.ndarray) \
        or isinstance(v, (np.generic, np.dtype))


def _same_literal(node, value):
    try:
        lit = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return type(lit) is type(value) and _atom(value) and lit == value and \
        not (type(value) is float and not np.isfinite(value))


# ------------------------------------------------------------------------------------------------
# the user's line, for refusals


def _user_line(target, name):
    """(filename, line) in the user's code where the derivative reads ``name``."""
    fn = getattr(target.fn, "py_func", target.fn)
    if fn not in GENERATED:
        return None, None
    src, label = GENERATED[fn]
    m = _LABEL.match(label)
    filename = m.group(2) if m else None
    line = int(m.group(3)) if m else None
    try:
        tree = ast.parse(src)
    except SyntaxError:
        return filename, line
    at = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id == name]
    if not at:
        return filename, line
    lines = src.split("\n")
    for k in range(min(at) - 1, -1, -1):
        note = _LINE_NOTE.search(lines[k])
        if note:
            return filename, int(note.group(1))
    return filename, line


def _user_line_text(filename, line):
    try:
        import linecache
        return linecache.getline(filename, line).strip()
    except Exception:   # noqa: BLE001 - a missing file only loses the quote
        return ""


# ------------------------------------------------------------------------------------------------
# the header


def _describe_ranks(target, params):
    if target.ranks is None and target.derivative is None:
        return "(not recorded)"
    if target.ranks is None:
        return "any (the generic variant: no assumption on the arguments' shapes)"
    parts = []
    for p, r in zip(params, target.ranks):
        parts.append(f"{p}: {'unknown' if r is None else 'a float (rank 0)' if r == 0 else f'rank {r}'}")
    return ", ".join(parts) if parts else "none"


def _header(target, name, alias, writer, module):
    import srcad
    d = target.derivative
    fn = getattr(target.fn, "py_func", target.fn)
    user = target.user_fn
    params = list(d.params) if d is not None else list(fn.__code__.co_varnames[:fn.__code__.co_argcount])
    code = getattr(user, "__code__", None)
    if code is not None:
        where = f"function {user.__qualname__}, line {code.co_firstlineno} of {code.co_filename}"
    else:
        m = _LABEL.match(GENERATED[fn][1])
        where = f"{m.group(2)}, line {m.group(3)}" if m else "(unknown)"
    wrt_names = list(d.wrt_names) if d is not None else []
    wrt = ", ".join(f"{w} ({n})" if isinstance(w, int) else str(n) for w, n in zip(target.wrt, wrt_names))
    args = ", ".join(params)
    seed = d.seed if d is not None and d.seed else "dout"
    several = len(wrt_names) > 1
    out = "the gradients, a tuple in wrt's order" if several else "the gradient"
    mode, usage = {
        "grad": ("grad (reverse mode)",
                 [(f"g = {alias}({args})", out),
                  (f"g = {alias}({args}, {seed}=dy)", "a non-scalar output: the vector-Jacobian product")]),
        "value_and_grad": ("value_and_grad (reverse mode)", [(f"value, g = {alias}({args})", f"the value and {out}")]),
        "vjp": ("vjp (reverse mode)", [(f"g = {alias}({args}, {seed}=dy)", "dy shaped like the output")]),
        "jvp": ("jvp (forward mode)",
                [(f"value, tangent = {alias}({args}, "
                  + ", ".join(f"{t}=t{p}" for t, p in zip(d.tangent_names or (), wrt_names)) + ")",
                  "J @ the tangents") if d is not None else (f"value, tangent = {alias}(...)", "")]),
    }[target.kind]
    width = max(len(c) for c, _ in usage) + 2
    usage = [f"    {c.ljust(width)}# {note}" if note else f"    {c}" for c, note in usage]
    of = user.__name__ if user is not None else name
    compiled = target.numba is not None
    lines = [
        f'"""{name}: the {target.kind} of {of}' + (", compiled by Numba," if compiled else ",") +
        f' exported by srcad {srcad.__version__} (`srcad export`).',
        "",
        f"Generated from:  {where}",
        f"Mode:            {mode}",
        *(["Compiled:        by Numba, @numba.njit(cache=True), the form srcad's compile=\"numba\" runs"]
          if compiled else []),
        f"With respect to: {wrt or '(not recorded)'}",
        f"Argument ranks:  {_describe_ranks(target, params)}",
        "",
        "Usage (needs NumPy" + (" and Numba" if writer.uses_numba else "") + "; srcad need not be installed):",
        "",
        f"    from {module} import {alias}   # {name} under a name that does not depend on the function's",
        *usage,
        "",
    ]
    notes = ("The function runs as srcad generated it: pass floats or float arrays where srcad.grad would cast "
             "ints" + (", and a one-element tuple wrt gives the bare gradient" if target.kind != "jvp" else "") +
             ". Global values it reads are copied in as they were when exported; srcad's helpers it calls are "
             "copied in below it" + (" (their Numba twins: a stub and the overload that types it)" if writer.twins
                                     else "") + ".")
    if target.ranks is not None:
        notes += " Arguments of other ranks need another export (srcad export --ranks ...)."
    if writer.uses_numba:
        notes += (" Functions decorated @numba.njit(cache=True) are compiled on their first call and their "
                  "machine code cached in __pycache__ next to this file, where later processes load it.")
    if compiled:
        passed = "The tangents" if target.kind == "jvp" else seed
        notes += f" {passed} may also be passed by position (Numba has no keyword-only parameters)."
        notes += (" Numba compiles for the types of the first call's arguments: a type it cannot take "
                  "is refused then, with Numba's message.")
    lines += textwrap.wrap(notes, 96)
    lines.append('"""')
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------
# the entry


def _numba_form(target):
    """The form ``numba_backend`` compiles of a derivative made with ``compile=``, else None (where
    ``compile="auto"`` and srcad cannot compile it: the NumPy form is exported)."""
    if not target.compile or target.derivative is None or target.derivative.fn is None:
        return None
    from srcad import numba_backend
    d = target.derivative
    try:
        met = numba_backend._COMPILED.get(d.fn)
        if isinstance(met, numba_backend.CompileError):
            raise met           # Numba refused it when srcad compiled it in this process
        source, name, namespace = numba_backend.numba_source(d)
    except numba_backend.CompileError as exc:
        if target.compile == "auto":
            target.compile = None
            return None
        raise exc from None
    return _NumbaForm(d, source, name, namespace)


def export(df, path=None, *, ranks=None):
    """The source of a standalone module computing the derivative ``df`` (what ``srcad.grad``,
    ``value_and_grad``, ``vjp`` or ``jvp(f, wrt=...)`` return); written to ``path`` if given.

    ``ranks`` (a tuple with one ``ndim`` per positional argument, 0 for a float, None for unknown)
    exports the variant srcad runs for arguments of those ranks; None exports the generic one.
    A derivative made with ``compile="numba"`` is exported in the form Numba compiles.
    The module defines the derivative under its generated name (``grad_f``) and a stable alias
    (``grad``, ``value_and_grad``, ``vjp`` or ``jvp``). Raises ``TransformError`` naming the line
    and the name where something the derivative reads cannot be written into a module that imports
    only NumPy (and Numba)."""
    target = _target(df, ranks)
    fn = getattr(target.fn, "py_func", target.fn)
    name = fn.__name__
    alias = _ALIASES[target.kind]
    form = target.numba = _numba_form(target)
    writer = _Writer(reserved=(alias,))
    try:
        writer.stack.append((name, name))
        if form is not None:
            writer._claim(name, target.fn)
            writer._function(form.fn, name, numba_form=form)
            writer.number_overloads()
        else:
            writer.ref(target.fn, name)
        writer.stack.pop()
        writer.finish_namespaces()
    except _Refused as exc:
        first = writer.stack[1][1] if len(writer.stack) > 1 else exc.construct
        filename, line = _user_line(target, first)
        chain = " -> ".join(f"`{n}`" for _, n in writer.stack[1:])
        quoted = _user_line_text(filename, line) if filename and line else ""
        msg = f"{name} cannot be exported: " + (f"it reads {chain}, " if chain else "") + exc.message + \
            (f", at `{quoted}`" if quoted else "") + "; the exported module imports only NumPy" + \
            (" and Numba" if writer.uses_numba else "") + " and the standard library"
        raise ExportError(msg, filename, line, exc.construct) from None
    writer.names.pop(alias, None)
    body = []
    prev_one = False
    for u in writer.ordered():
        one = u.kind in ("value", "alias", "namespace") and "\n" not in u.text and not u.comment
        body.append(("" if not body else "\n" if one and prev_one else "\n\n\n") +
                    (u.comment + "\n" if u.comment else "") + u.text)
        prev_one = one
    imports = sorted(writer.imports, key=lambda s: (not s.startswith("import "), s))
    module = os.path.splitext(os.path.basename(path))[0] if path is not None else name
    text = _header(target, name, alias, writer, module) + "\n\n" + \
        ("\n".join(imports) + "\n\n\n" if imports else "\n") + "".join(body) + f"\n\n\n{alias} = {name}\n"
    compile(text, path or "<srcad export>", "exec")     # what is written is valid Python
    if path is not None:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    return text
