"""Step 4 (both modes): inline calls to the user's own functions.

A call ``t = helper(a, b)`` to a plain Python function is replaced by the helper's normalized body,
its locals renamed apart from the caller's, its parameters bound by assignments and its return value
assigned to ``t``. The derivative then records what the helper's backward sweep needs in the
caller's own stack, instead of running the helper a second time inside a separate derivative: a
helper that draws random numbers (a dropout layer) is differentiated with the numbers it drew, and
nothing is computed twice.

Arguments are bound to parameters as Python binds them (positional, keyword, keyword-only,
defaults, the surplus in a ``*args`` tuple and a ``**kwargs`` dict). Calls are kept (and
differentiated through a forward and a backward function of their own) for recursion, helpers
deeper than ``MAX_DEPTH``, calls with a ``**mapping`` argument or that Python would refuse, helpers
that assign into an argument (``x[i] = ...`` would then change the caller's array too) and helpers
srcad cannot read.
"""

import sys
import os
import types

import gast
import numpy as np

from srcad.callees import resolve as resolve_callee
from srcad.errors import InlinedLine, TransformError, fail_at
from srcad.astutil import N, assign, clone
from srcad.normalize import user_method
from srcad.parse import GENERATED
from srcad.rules.registry import FORWARD, NONDIFF, REVERSE, library_function

MAX_DEPTH = 6


def _in_table(obj):
    try:
        return obj in REVERSE or obj in NONDIFF or obj in FORWARD
    except TypeError:
        return False


def _static(value):
    """Values whose identity decides the derivative (what a call does): functions, classes,
    modules, callable objects. Others (numbers, arrays, lists) are data the code reads."""
    return callable(value) or isinstance(value, types.ModuleType)


class _GlobalsOf:
    """The globals of a function that no module owns (exec'd code), read by attribute, live."""


def _namespace_of(fn):
    """An object whose attributes are ``fn``'s globals, read live: its module, normally."""
    g = fn.__globals__
    module = sys.modules.get(g.get("__name__"))
    if module is not None and getattr(module, "__dict__", None) is g:
        return module, module.__name__.rpartition(".")[2].strip("_") or "module"
    view = _GlobalsOf.__new__(_GlobalsOf)
    view.__dict__ = g
    return view, "globals_of_" + fn.__name__.strip("<>")


def _literal(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return gast.Constant(value=value, kind=None)
    return None


class Inliner:
    def __init__(self, info, norm, env, front_end, root, forward=False):
        self.forward = forward
        self.info = info
        self.norm = norm
        self.env = env
        self.front_end = front_end
        self.root = root

    def body(self, stmts, scope_info, scope_locals, depth, active_stack):
        out = []
        for s in stmts:
            for field in ("body", "orelse"):
                sub = getattr(s, field, None)
                if isinstance(sub, list) and sub:
                    setattr(s, field, self.body(sub, scope_info, scope_locals, depth, active_stack))
            if isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Name) and \
                    isinstance(s.value, gast.Call):
                new = self.try_inline(s, scope_info, scope_locals, depth, active_stack)
                if new is not None:
                    out += new
                    continue
            out.append(s)
        return out

    def bind_free(self, cinfo, node, ln, prologue):
        """The name under which the inlined body of ``cinfo``'s function reads the free name
        ``node.id``, bound in the generated function to what that name is in the callee's scope.

        * functions, modules, classes (what decides the derivative): the object itself, under
          the caller's name for it where that is the same object, else a fresh name (``act_1``),
          and a guard on the callee's binding (guards.py);
        * values in the callee's closure cells: the cell itself, shared under a fresh name;
        * values among the callee's globals: the caller's global when both have the same globals,
          else a fresh local assigned from the callee's module where the body starts
          (``scale_1 = lib.scale``), so that a changed value is read, as the callee reads it.
        """
        name = node.id
        ok, value = cinfo.resolve(name, guard=None)
        if not ok:
            fail_at(cinfo, getattr(node, "lineno", None) or cinfo.lineno,
                    f"name '{name}' is not defined in {cinfo.name}'s scope", "name")
        if name in cinfo.extra or _static(value) or (name not in cinfo.closure and name not in cinfo.globals):
            cinfo.resolve(name)   # noted: the derivative holds while the name means this object
            return self.env.ref_name(name, value)
        if name in cinfo.closure:
            return self.env.cell_name(name, cinfo.closure[name])
        root = self.info
        if cinfo.globals is root.globals and name not in root.closure and name not in root.extra \
                and name not in self.norm.locals and name not in self.env.objects and name not in self.env.cells:
            return name
        space, short = _namespace_of(cinfo.fn)
        local = self.norm.namer.fresh(name, numbered=name in self.norm.namer.taken)
        self.norm.locals.add(local)
        read = gast.Attribute(value=self.env.ref(short, space), attr=name, ctx=gast.Load())
        prologue.append(assign(local, read, ln))
        return local

    def try_inline(self, stmt, scope_info, scope_locals, depth, active_stack):
        call = stmt.value
        where = resolve_callee(call.func, scope_info, scope_locals, strict=False)
        obj = where.obj if where is not None and where.kind == "static" else None
        if obj is not None and not isinstance(obj, types.FunctionType):
            fn, _ = user_method(obj)   # ``self.layer(h)`` once ``self`` is the caller's object
            if fn is not None:
                receiver = call.func.value if isinstance(obj, types.MethodType) else call.func
                call = gast.Call(func=call.func, args=[receiver] + list(call.args), keywords=call.keywords)
                obj = fn
        if not isinstance(obj, types.FunctionType) or _in_table(obj) or obj in GENERATED or library_function(obj):
            return None
        if obj is self.root or obj in active_stack or depth >= MAX_DEPTH:
            return None
        if getattr(obj, "__srcad_function__", None) is not None:
            return None
        if self.forward and (getattr(obj, "__module__", None) or "").split(".")[0] == "srcad":
            return None   # forward mode derives srcad's own helpers on their own, as before issue 13
        try:
            cinfo, cnorm, cbody, cret = self.front_end(obj)
        except TransformError:
            return None   # kept as a call: an error is raised only if a derivative flows through it
        fdef = cinfo.node
        bound = self.bind(fdef, obj, call)
        if bound is None:
            return None     # Python raises TypeError at the call, or a ``**`` argument: keep it
        params = list(bound)
        # rename the callee's locals apart from the caller's names
        ln = stmt.lineno
        rename = {}
        for name in sorted(cnorm.locals):
            rename[name] = self.norm.namer.fresh(name, numbered=name in self.norm.namer.taken)
        # The callee's free names resolve where the callee runs: in its own module and closure,
        # whatever the caller or the function being transformed calls them (issue 18).
        free, new = {}, []
        for node in _walk_nodes(cbody):
            if isinstance(node, gast.Name) and node.id not in cnorm.locals and node.id not in free:
                free[node.id] = self.bind_free(cinfo, node, ln, new)
        mapping = dict(rename)
        mapping.update(free)
        stored = {n.id for n in _walk_nodes(cbody) if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store)}
        for p in params:
            arg = bound[p]
            fn_arg = self.function_argument(arg, scope_info, scope_locals) if p not in stored else None
            if fn_arg is not None:
                # ``apply(x, np.tanh)``: the parameter is that function wherever the body calls it
                mapping[p] = N(self.env.ref_name(_base_name(arg), fn_arg))
                self.norm.namer.taken.add(rename[p])
            elif p not in stored and isinstance(arg, (gast.Name, gast.Constant)):
                mapping[p] = arg        # read-only parameter: use the argument itself
                self.norm.namer.taken.add(rename[p])
            else:
                new.append(assign(rename[p], clone(arg), ln))
        body = [_renamed(s, mapping) for s in cbody]
        seen = f"{fdef.name} (line {cinfo.lineno} of {os.path.basename(cinfo.filename)})"
        self.env.inlined.setdefault(ln, []).append(seen)   # noted in the derivative's text
        ret = body.pop()          # front_end leaves exactly one final ``return name``
        for n in _walk_nodes(body):
            if isinstance(n, gast.stmt):
                # the call's line for every pass; the helper's own line for errors (errors.py)
                own = getattr(n, "lineno", None) or cinfo.lineno
                n.lineno = InlinedLine(ln, cinfo, int(own), ln)
        for s in new:
            for n in _walk_nodes([s]):
                if isinstance(n, gast.stmt):
                    n.lineno = ln
        new += body
        new.append(assign(stmt.targets[0].id, N(ret.value.id), ln))
        self.norm.locals.update(v for k, v in rename.items() if not isinstance(mapping.get(k), gast.AST))
        # the inlined code is the caller's now; its own calls are looked up in the callee's scope
        return self.body(new, _ScopeOf(cinfo, mapping, self.env), set(self.norm.locals), depth + 1,
                         active_stack + (obj,))


    def function_argument(self, arg, scope_info, scope_locals):
        """The function an argument names (a global or module function, a ufunc, a class, a user
        object's bound method), if it names one statically; else None."""
        if not (isinstance(arg, gast.Name) or isinstance(arg, gast.Attribute)):
            return None
        base = arg
        while isinstance(base, gast.Attribute):
            base = base.value
        if not isinstance(base, gast.Name) or base.id in scope_locals:
            return None
        ok, value = scope_info.resolve(base.id, guard=None)   # a value (a batch) is not guarded
        if not ok or not (_static(value) and not isinstance(value, np.ndarray)):
            return None
        where = resolve_callee(arg, scope_info, scope_locals, strict=False)
        if where is None or where.kind != "static":
            return None
        obj = where.obj
        if isinstance(obj, (types.FunctionType, types.BuiltinFunctionType, types.MethodType, np.ufunc)):
            return obj
        return None

    def bind(self, fdef, obj, call):
        """Parameter name -> argument node, bound exactly as Python binds ``call`` to ``obj``.

        Positional arguments fill the positional parameters, the rest go to ``*args`` (a tuple
        display); keywords fill positional-or-keyword and keyword-only parameters, the rest go to
        ``**kwargs`` (a dict display); missing parameters take their defaults. None where Python
        would raise TypeError or where a ``**mapping`` argument hides the keywords.
        """
        a = fdef.args
        posonly = [p.id for p in a.posonlyargs]
        positional = posonly + [p.id for p in a.args]
        kwonly = [p.id for p in a.kwonlyargs]
        bound = {}
        if len(call.args) > len(positional) and a.vararg is None:
            return None
        for p, v in zip(positional, call.args):
            bound[p] = v
        extra = list(call.args[len(positional):])
        extra_kw = []
        for k in call.keywords:
            if k.arg is None:
                return None
            if k.arg in positional[len(posonly):] or k.arg in kwonly:
                if k.arg in bound:
                    return None     # multiple values for one argument
                bound[k.arg] = k.value
            elif a.kwarg is not None:
                extra_kw.append(k)
            else:
                return None
        defaults = obj.__defaults__ or ()
        first_default = len(positional) - len(defaults)
        for i, p in enumerate(positional):
            if p not in bound:
                if i < first_default:
                    return None
                bound[p] = self._default(p, defaults[i - first_default])
        kwdefaults = obj.__kwdefaults__ or {}
        for p in kwonly:
            if p not in bound:
                if p not in kwdefaults:
                    return None
                bound[p] = self._default(p, kwdefaults[p])
        if a.vararg is not None:
            bound[a.vararg.id] = gast.Tuple(elts=extra, ctx=gast.Load())
        if a.kwarg is not None:
            bound[a.kwarg.id] = gast.Dict(keys=[gast.Constant(value=k.arg, kind=None) for k in extra_kw],
                                          values=[k.value for k in extra_kw])
        return bound

    def _default(self, p, value):
        lit = _literal(value)
        return lit if lit is not None else self.env.ref(f"{p}_default", value)


class _ScopeOf:
    """Resolve names of inlined code: renamed free names resolve as the callee saw them; names the
    generated code binds (a function passed as an argument) to what they are bound to."""

    def __init__(self, cinfo, mapping, env):
        self.cinfo = cinfo
        self.back = {v: k for k, v in mapping.items() if isinstance(v, str)}
        self.env = env

    def resolve(self, name, guard="is"):
        if name not in self.back and name in self.env.objects:
            return True, self.env.objects[name]
        return self.cinfo.resolve(self.back.get(name, name), guard=guard)


def _base_name(arg):
    return arg.id if isinstance(arg, gast.Name) else arg.attr


def _renamed(stmt, mapping):
    """A copy of ``stmt`` with names renamed (str values) or replaced by argument atoms (nodes)."""
    return _rename(clone(stmt), mapping)


def _rename(node, mapping):
    if isinstance(node, list):
        return [_rename(n, mapping) for n in node]
    if not isinstance(node, gast.AST):
        return node
    if isinstance(node, gast.Name) and node.id in mapping:
        target = mapping[node.id]
        if isinstance(target, gast.AST):
            return clone(target)
        node.id = target
        return node
    for f in node._fields:
        setattr(node, f, _rename(getattr(node, f), mapping))
    return node


def _walk_nodes(stmts):
    for s in stmts:
        yield from gast.walk(s)




def inline_calls(body, info, norm, env, front_end, root, forward=False):
    """Inline the calls to user functions in ``body`` (see the module docstring)."""
    return Inliner(info, norm, env, front_end, root, forward).body(body, info, set(norm.locals), 0, ())
