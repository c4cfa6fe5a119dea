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

Objects of the user's classes made in the function (``m = Model(W)``, a dataclass instance) are
followed without being made: each attribute is a variable (``m.W`` is ``m_W``), ``__init__`` and
the methods are inlined with ``self`` standing for the object, and attribute writes inside them
(``self.h = h``) are assignments to those variables. An object that escapes (returned, stored in a
container, passed to a function srcad does not inline, rebound to something else) is made as
Python makes it instead (``inline_calls`` starts again with that object left real), and then its
methods are calls srcad can only keep.
"""

import copy
import weakref
import dataclasses
import sys
import os
import types

import gast
import numpy as np

from srcad import guards
from srcad.callees import const_index, resolve as resolve_callee
from srcad.errors import InlinedLine, TransformError, fail_at
from srcad.astutil import N, assign, clone
from srcad.astutil import walk
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
        self.objects = {}           # a name that holds an object made here -> its _Object
        self.supers = {}            # ``t = super(C, m)`` of such an object -> (its _Object, C)
        self.banned = set()         # names whose objects escape: made as Python makes them
        self.static_aliases = {}    # ``t = M.layer`` (once) of a global/closure object -> ``M.layer``
        self.stored = set()         # names stored so far (a second store ends an alias)
        self.static_supers = {}     # ``t = super(C, M)`` of such an object -> (``M``, C)
        self.object_lists = {}      # a name holding a list of objects an argument holds ->
                                    # (its ObjectList, the variable read from the argument (an
                                    # expression: a global's list), the elements' places in it)
        self.elements = {}          # (that name, k) -> the element's _Object

    def body(self, stmts, scope_info, scope_locals, depth, active_stack):
        out = []
        for s in stmts:
            if self.object_lists and isinstance(s, gast.For):
                unrolled = self.unroll_objects(s, scope_info, scope_locals, depth, active_stack)
                if unrolled is not None:
                    out += unrolled
                    continue
            for field in ("body", "orelse"):
                sub = getattr(s, field, None)
                if isinstance(sub, list) and sub:
                    setattr(s, field, self.body(sub, scope_info, scope_locals, depth, active_stack))
            if self.objects:
                s = self.object_reads(s)
                if s is None:
                    continue
            if self.object_lists and self.list_alias(s):
                continue
            if self.note_static_alias(s, scope_info, scope_locals):
                continue
            if isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Name) and \
                    isinstance(s.value, gast.Call):
                new = self.try_inline(s, scope_info, scope_locals, depth, active_stack)
                if new is not None:
                    out += new
                    continue
            elif isinstance(s, gast.Expr) and isinstance(s.value, gast.Call) and \
                    self.object_method(s.value) is not None:
                # ``m.update(x)`` on an object made here: inlined, its value (None, mostly) unused
                target = gast.Assign(targets=[N("_", True)], value=s.value, type_comment=None)
                target.lineno = s.lineno
                new = self.try_inline(target, scope_info, scope_locals, depth, active_stack, discard=True)
                if new is not None:
                    out += new
                    continue
            out.append(s)
        return out

    def element(self, seq, k):
        """The _Object of element ``k`` of the list of objects held in the variable ``seq``."""
        held, seq, idx = self.object_lists[seq]
        held, k = held[k], idx[k]          # its place in the list the argument holds
        key = (seq, k)
        if key not in self.elements:
            name = self.norm.namer.fresh(f"{seq}_{k}", numbered=False)
            self.norm.locals.add(name)
            o = _param_object(held, name)
            o.origin = gast.Subscript(value=N(seq), slice=gast.Constant(value=k, kind=None), ctx=gast.Load())
            self.objects[name] = self.elements[key] = o
        return self.elements[key]

    def list_alias(self, s):
        """``t = layers`` and ``t = loop_seq(layers)`` of a list of objects an argument holds name
        the list again; ``layer = layers[k]`` names its element k. True: ``s`` is gone."""
        lists = self.object_lists
        if isinstance(s, gast.Assign) and len(s.targets) == 1 and isinstance(s.targets[0], gast.Name):
            t, v = s.targets[0].id, s.value
            if isinstance(v, gast.Call) and isinstance(v.func, gast.Name) and len(v.args) == 1 and \
                    self.env.objects.get(v.func.id) is runtime_loop_seq():
                v = v.args[0]
            if isinstance(v, gast.Name) and v.id in lists and t not in self.banned:
                lists[t] = lists[v.id]
                return False   # kept: ``len(layers_1)`` may read it
            sl = _const_slice(v.slice) if isinstance(v, gast.Subscript) else None
            if sl is not None and isinstance(v.value, gast.Name) and v.value.id in lists and t not in self.banned:
                held, where, idx = lists[v.value.id]      # ``self.layers[:-1]``
                lists[t] = (held[sl], where, idx[sl])
                return False
            k = const_index(v.slice) if isinstance(v, gast.Subscript) else None
            if k is not None and isinstance(v.value, gast.Name) and v.value.id in lists and t not in self.banned:
                seq, where, idx = lists[v.value.id]
                if -len(seq) <= k < len(seq) and not isinstance(where, str):
                    # a global's or closure's list: the element is read for real and its calls
                    # resolve through ``M.layers[k]``
                    self.static_aliases[t] = gast.Subscript(value=clone(where), slice=gast.Constant(
                        value=idx[k % len(seq)], kind=None), ctx=gast.Load())
                    return False
                if -len(seq) <= k < len(seq):
                    o = self.element(v.value.id, k % len(seq))
                    self.objects[t] = o
                    o.names.add(t)
                    return True
        return False

    def unroll_objects(self, s, scope_info, scope_locals, depth, active_stack):
        """``for i in range(len(layers)): layer = layers[i]; ...`` (what the front end makes of
        ``for layer in self.layers``) over a list of objects an argument holds: one copy of the
        body per element, ``layer`` naming that element. None: not such a loop."""
        lists = self.object_lists
        if s.orelse or not isinstance(s.target, gast.Name):
            return None
        it = s.iter
        if not (isinstance(it, gast.Call) and isinstance(it.func, gast.Name) and len(it.args) == 1
                and isinstance(it.args[0], gast.Call) and isinstance(it.args[0].func, gast.Name)
                and len(it.args[0].args) == 1 and isinstance(it.args[0].args[0], gast.Name)
                and it.args[0].args[0].id in lists):
            return None
        i = s.target.id
        lead = 0   # ``i = i_1`` of ``enumerate`` comes first
        while lead < len(s.body) - 1 and isinstance(s.body[lead], gast.Assign) and \
                isinstance(s.body[lead].value, gast.Name) and s.body[lead].value.id == i:
            lead += 1
        first = s.body[lead] if s.body else None
        if not (isinstance(first, gast.Assign) and isinstance(first.targets[0], gast.Name) and
                isinstance(first.value, gast.Subscript) and isinstance(first.value.slice, gast.Name) and
                first.value.slice.id == i and isinstance(first.value.value, gast.Name) and
                first.value.value.id == it.args[0].args[0].id) or first.targets[0].id in self.banned or \
                any(isinstance(n, (gast.Break, gast.Continue)) for n in _walk_nodes(s.body)):
            return None
        seq = first.value.value.id
        layer = first.targets[0].id
        rest = s.body[:lead] + s.body[lead + 1:]
        reads_i = any(isinstance(n, gast.Name) and n.id == i for n in _walk_nodes(rest))
        out = []
        held, where, idx = lists[seq]
        for k in range(len(held)):
            if isinstance(where, str):
                o = self.element(seq, k)
                self.objects[layer] = o
                o.names.add(layer)
            else:
                # a global's or closure's list: ``layer = M.layers[k]``, its calls resolved there
                elem = gast.Subscript(value=clone(where), slice=gast.Constant(value=idx[k], kind=None), ctx=gast.Load())
                out.append(at_line(assign(layer, clone(elem), s.lineno), s.lineno))
                self.static_aliases[layer] = elem
            copy_ = copy.deepcopy(rest)
            if reads_i:
                out.append(at_line(assign(i, gast.Constant(value=k, kind=None), s.lineno), s.lineno))
            out += self.body(copy_, scope_info, scope_locals, depth, active_stack)
        return out

    def note_static_alias(self, s, scope_info, scope_locals):
        """``first_1 = M.first`` (the normalizer's name for an attribute of a global or closure
        object that holds a user object): calls through ``first_1`` resolve as calls through
        ``M.first``. Only a name stored once: a second store anywhere ends the alias."""
        for n in _walk_nodes([s]):
            if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store):
                if n.id in self.stored:
                    self.static_aliases.pop(n.id, None)
                    self.stored.add(n.id + "\0banned")
                self.stored.add(n.id)
        if not (isinstance(s, gast.Assign) and len(s.targets) == 1 and isinstance(s.targets[0], gast.Name)) \
                or s.targets[0].id + "\0banned" in self.stored:
            return False
        v = s.value
        if isinstance(v, gast.Call) and isinstance(v.func, gast.Name) and len(v.args) == 2 and not v.keywords \
                and isinstance(v.args[0], gast.Name):
            # ``super(__class__, self)`` where ``self`` is a global or closure object (or one it holds)
            sup = resolve_callee(v.func, scope_info, scope_locals, strict=False)
            start = resolve_callee(v.args[0], scope_info, scope_locals, strict=False)
            receiver = self.through_alias(gast.Call(func=v.args[1], args=[], keywords=[])).func
            if sup is not None and sup.kind == "static" and sup.obj is super and start is not None and \
                    start.kind == "static" and isinstance(start.obj, type) and \
                    (self.static_object_expr(receiver, scope_info, scope_locals) or
                     isinstance(receiver, gast.Name) and receiver.id not in scope_locals and
                     object_arg(getattr(resolve_callee(receiver, scope_info, scope_locals, strict=False),
                                        "obj", None)) is not None):
                self.static_supers[s.targets[0].id] = (receiver, start.obj)
                return True   # only its methods are called (else refused in inline_calls)
            return False
        if not isinstance(v, gast.Attribute):
            return False
        value = self.through_alias(gast.Call(func=v, args=[], keywords=[])).func
        where = resolve_callee(value, scope_info, scope_locals, strict=False)
        if where is None or where.kind != "static":
            return False
        if object_arg(where.obj) is not None:
            self.static_aliases[s.targets[0].id] = value
        elif type(where.obj) in (list, tuple) and 0 < len(where.obj) <= _MAX_OBJECT_LIST and \
                all(object_arg(e) is not None for e in where.obj):
            # a global's or closure's list of objects (``MODEL.layers``): a loop over it is unrolled
            self.object_lists[s.targets[0].id] = (ObjectList(object_arg(e) for e in where.obj), value,
                                                  tuple(range(len(where.obj))))
        return False

    def static_super_method(self, call, scope_info, scope_locals):
        """(function, call with the receiver first) for ``t.m(...)`` where ``t = super(C, M)``."""
        f = call.func
        if not (isinstance(f, gast.Attribute) and isinstance(f.value, gast.Name) and f.value.id in self.static_supers):
            return None
        receiver, start = self.static_supers[f.value.id]
        where = resolve_callee(receiver, scope_info, scope_locals, strict=False)
        if where is None or where.kind != "static":
            return None
        mro = type(where.obj).__mro__
        after = mro[mro.index(start) + 1:] if start in mro else ()
        meth = next((k.__dict__[f.attr] for k in after if f.attr in k.__dict__), None)
        if not isinstance(meth, types.FunctionType):
            return None
        return meth, gast.Call(func=self.env.ref(meth.__name__.strip("_") or "method", meth),
                               args=[clone(receiver)] + list(call.args), keywords=list(call.keywords))

    def static_object_expr(self, node, scope_info, scope_locals):
        """Whether ``node`` is ``M.layer`` (an attribute chain from a global or closure name) that
        holds an object of a user class: read again where it is used, it stays resolvable."""
        base = node
        while isinstance(base, gast.Attribute):
            base = base.value
        if node is base or not isinstance(base, gast.Name) or base.id in scope_locals:
            return False
        where = resolve_callee(node, scope_info, scope_locals, strict=False)
        return where is not None and where.kind == "static" and object_arg(where.obj) is not None

    def through_alias(self, call):
        """``call`` with a callee read through a static alias written as the attribute it is."""
        f = call.func
        base = f.value if isinstance(f, gast.Attribute) else f
        if not (isinstance(base, gast.Name) and base.id in self.static_aliases):
            return call
        held = clone(self.static_aliases[base.id])
        func = gast.Attribute(value=held, attr=f.attr, ctx=gast.Load()) if isinstance(f, gast.Attribute) else held
        return gast.Call(func=func, args=call.args, keywords=call.keywords)

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

    def try_inline(self, stmt, scope_info, scope_locals, depth, active_stack, discard=False):
        call = stmt.value
        made = None
        method = self.object_method(call)
        if method is None and self.static_supers:
            method = self.static_super_method(call, scope_info, scope_locals)
        if method is not None:
            obj, call = method
        else:
            if self.static_aliases:
                call = self.through_alias(call)
            where = resolve_callee(call.func, scope_info, scope_locals, strict=False)
            obj = where.obj if where is not None and where.kind == "static" else None
            made = self.construct(stmt, obj, call)
            if made is not None:
                if made[0] is None:     # a dataclass: its fields bound here
                    return self.body(made[1], scope_info, scope_locals, depth, active_stack)
                obj, call = made
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
            cinfo, cnorm, cbody, cret = self.front_end(obj, inlined=True)
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
            elif p not in stored and (isinstance(arg, (gast.Name, gast.Constant)) or
                                      self.static_object_expr(arg, scope_info, scope_locals)):
                mapping[p] = arg        # read-only parameter: use the argument itself
                self.norm.namer.taken.add(rename[p])
            else:
                new.append(assign(rename[p], clone(arg), ln))
        body = [_renamed(s, mapping) for s in cbody]
        seen = f"{fdef.name} (line {cinfo.lineno} of {os.path.basename(cinfo.filename)})"
        self.env.inlined.setdefault(ln, []).append(seen)   # noted in the derivative's text
        ret = body.pop()          # front_end leaves exactly one final ``return name``
        for n in _walk_nodes(body):
            if isinstance(n, gast.stmt) or getattr(n, "lineno", None) is not None:
                # the call's line for every pass; the helper's own line for errors (errors.py),
                # expressions too (a typo ``np.exq`` is found when the call is resolved)
                own = getattr(n, "lineno", None) or cinfo.lineno
                if isinstance(own, InlinedLine):
                    own = own.line if own.helper is cinfo else int(own)
                n.lineno = InlinedLine(ln, cinfo, int(own), ln)
        for s in new:
            for n in _walk_nodes([s]):
                if isinstance(n, gast.stmt):
                    n.lineno = ln
        new += body
        if made is None and not discard:
            new.append(assign(stmt.targets[0].id, clone(ret.value), ln))
        self.norm.locals.update(v for k, v in rename.items() if not isinstance(mapping.get(k), gast.AST))
        # the inlined code is the caller's now; its own calls are looked up in the callee's scope
        done = self.body(new, _ScopeOf(cinfo, mapping, self.env, scope_info), set(self.norm.locals), depth + 1,
                         active_stack + (obj,))
        if made is None and _writes_attributes(done):
            return None   # a helper that writes an attribute of an object from outside: kept
        return done

    # ------------------------------------------------------------------ objects made here
    def construct(self, stmt, cls, call):
        """``m = C(...)`` of a user class whose objects srcad can follow: registers ``m`` and
        returns (``C.__init__``, the call of it with ``m`` first), or (None, the statements that
        bind a dataclass's fields); None for other calls."""
        name = stmt.targets[0].id
        if not isinstance(cls, type) or name in self.banned or not _followable(cls):
            return None
        if any(isinstance(a, gast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
            return None
        have = self.objects.get(name)
        if have is not None and (have.cls is not cls or len(have.names) > 1):
            raise _Escape(have.names)       # rebound to another object while aliased: made for real
        o = have or _Object(cls, name)
        self.objects[name] = o
        if dataclasses.is_dataclass(cls) and _generated_init(cls):
            return None, self.dataclass_fields(o, call, stmt.lineno)
        init = _class_attr(cls, "__init__")
        if init is object.__init__:
            if call.args or call.keywords:
                raise _Escape(o.names)      # Python raises TypeError: let it
            return None, []
        return init, gast.Call(func=call.func, args=[N(name)] + list(call.args), keywords=list(call.keywords))

    def dataclass_fields(self, o, call, ln):
        """The assignments a dataclass's generated ``__init__`` makes, as variables, then
        ``__post_init__`` called as a method."""
        init = o.cls.__init__
        code = init.__code__
        names = code.co_varnames[:code.co_argcount + code.co_kwonlyargcount]
        fdef_args = gast.arguments(
            args=[N(n, True) for n in names[:code.co_argcount]], posonlyargs=[], vararg=None,
            kwonlyargs=[N(n, True) for n in names[code.co_argcount:]], kw_defaults=[], kwarg=None, defaults=[])
        bound = self.bind(gast.FunctionDef(name="__init__", args=fdef_args, body=[], decorator_list=[],
                                           returns=None, type_comment=None),
                          init, gast.Call(func=call.func, args=[N(o.name)] + list(call.args),
                                          keywords=list(call.keywords)))
        if bound is None:
            raise _Escape(o.names)
        out = []
        for f in dataclasses.fields(o.cls):
            if f.init:
                value = bound[f.name]
                if value is _FACTORY:
                    value = gast.Call(func=self.env.ref(f.name + "_factory", f.default_factory), args=[], keywords=[])
            elif f.default is not dataclasses.MISSING:
                value = _literal(f.default) or self.env.ref(f.name + "_default", f.default)
            elif f.default_factory is not dataclasses.MISSING:
                value = gast.Call(func=self.env.ref(f.name + "_factory", f.default_factory), args=[], keywords=[])
            else:
                continue
            if isinstance(value, gast.Call) and not value.args and value.func.id in self.env.objects and \
                    self.env.objects[value.func.id] in (list, dict):
                # ``field(default_factory=list)``: a list made here (its appends become assignments)
                empty = gast.List(elts=[], ctx=gast.Load()) if f.default_factory is list else None
                value = empty or gast.Dict(keys=[], values=[])
            out.append(assign(self.field(o, f.name), clone(value), ln))
        post = _class_attr(o.cls, "__post_init__")
        if isinstance(post, types.FunctionType):
            t = self.norm.namer.fresh("post_init")
            self.norm.locals.add(t)
            out.append(at_line(gast.Assign(targets=[N(t, True)], value=gast.Call(
                func=gast.Attribute(value=N(o.name), attr="__post_init__", ctx=gast.Load()), args=[], keywords=[]),
                type_comment=None), ln))
        return out

    def field(self, o, attr):
        """The variable that holds the attribute ``attr`` of the object ``o``."""
        if attr not in o.fields:
            if attr in o.class_reads:
                raise _Escape(o.names)      # read from the class, then set on the object: kept real
            name = self.norm.namer.fresh(f"{o.name}_{attr}".replace("__", "_"), numbered=False)
            self.norm.locals.add(name)
            o.fields[attr] = name
        return o.fields[attr]

    def object_method(self, call):
        """(function, the call of it with the object first) for ``m.method(...)`` and ``m(...)``
        on an object made here; None for other calls."""
        f = call.func
        if isinstance(f, gast.Attribute) and isinstance(f.value, gast.Name) and f.value.id in self.supers:
            # ``super().__init__(...)``: the method found after C in the object's class's MRO
            o, start = self.supers[f.value.id]
            mro = o.cls.__mro__
            after = mro[mro.index(start) + 1:] if start in mro else ()
            meth = next((k.__dict__[f.attr] for k in after if f.attr in k.__dict__), None)
            if meth is object.__init__ and not call.args and not call.keywords:
                meth = _object_init
            if not isinstance(meth, types.FunctionType):
                return None
            return meth, gast.Call(func=self.env.ref(meth.__name__.strip("_") or "method", meth),
                                   args=[N(o.name)] + list(call.args), keywords=list(call.keywords))
        if isinstance(f, gast.Attribute) and isinstance(f.value, gast.Name) and f.value.id in self.objects:
            o, attr, receiver = self.objects[f.value.id], f.attr, f.value.id
        elif isinstance(f, gast.Name) and f.id in self.objects:
            o, attr, receiver = self.objects[f.id], "__call__", f.id
        else:
            return None
        if attr in o.fields:
            return None
        meth = _class_attr(o.cls, attr)
        if isinstance(meth, staticmethod):
            fn, first = meth.__func__, []
        elif isinstance(meth, classmethod):
            fn, first = meth.__func__, [self.env.ref(o.cls.__name__, o.cls)]
        elif isinstance(meth, types.FunctionType):
            fn, first = meth, [N(receiver)]
        else:
            return None
        if not isinstance(fn, types.FunctionType):
            return None
        return fn, gast.Call(func=self.env.ref(fn.__name__.strip("_") or "method", fn),
                             args=first + list(call.args), keywords=list(call.keywords))

    def object_reads(self, s):
        """``s`` with the attributes of objects made here read and written as their variables;
        ``t = m`` where ``m`` holds such an object makes ``t`` another name of it (None: the
        statement is gone; ``self.layer = Dense(...)`` so makes an attribute's variable a name of
        the inner object); ``t = m.prop`` of a property calls its getter."""
        if isinstance(s, gast.Assign) and isinstance(s.value, gast.Attribute) and \
                isinstance(s.value.value, gast.Name) and s.value.value.id in self.objects:
            o, attr = self.objects[s.value.value.id], s.value.attr
            prop = _class_attr(o.cls, attr) if attr not in o.fields else None
            if isinstance(prop, property) and isinstance(prop.fget, types.FunctionType):
                s.value = gast.Call(func=self.env.ref(prop.fget.__name__, prop.fget), args=[s.value.value],
                                    keywords=[])
                return s
        if isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Attribute):
            base = s.targets[0].value
            if isinstance(base, gast.Name) and base.id in self.objects:
                o = self.objects[base.id]
                if o.frozen:
                    raise _Escape(o.names)  # Python raises FrozenInstanceError
                if hasattr(type(_class_attr(o.cls, s.targets[0].attr)), "__set__"):
                    raise _Escape(o.names)  # a property's setter (or another descriptor) runs, not a field write
                # (``self.h += v`` stays an InPlaceAssign: NumPy writes into the variable's array)
                s.targets[0] = N(self.field(o, s.targets[0].attr), True)
        for field in s._fields:
            if field not in ("body", "orelse"):
                setattr(s, field, self.read_fields(getattr(s, field)))
        v = s.value if isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Name) else None
        if isinstance(v, gast.Call) and isinstance(v.func, gast.Name) and len(v.args) == 2 and \
                isinstance(v.args[1], gast.Name) and v.args[1].id in self.objects and \
                isinstance(v.args[0], gast.Name) and self.env.objects.get(v.func.id, super) is super:
            # ``super(__class__, self)`` (parse.py makes ``super()`` explicit) of an object made here
            start = self.env.objects.get(v.args[0].id)
            ok, sup = self.info.resolve(v.func.id, guard=None)
            if isinstance(start, type) and (v.func.id in self.env.objects or (ok and sup is super)):
                self.supers[s.targets[0].id] = (self.objects[v.args[1].id], start)
                return None
        if isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Name) and \
                isinstance(s.value, gast.Name) and s.value.id in self.objects:
            t, o = s.targets[0].id, self.objects[s.value.id]
            if t in self.banned:
                return s
            if t in self.objects and self.objects[t] is not o:
                raise _Escape(self.objects[t].names | o.names)
            self.objects[t] = o
            o.names.add(t)
            return None
        return s

    def read_fields(self, node):
        """``m.W`` -> ``m_W`` in an expression; a class attribute that is a value is read from the
        class. The callee of a call is left to ``object_method``."""
        if isinstance(node, list):
            return [self.read_fields(n) for n in node]
        if not isinstance(node, gast.AST):
            return node
        if isinstance(node, gast.Call):
            if not (isinstance(node.func, gast.Attribute) and isinstance(node.func.value, gast.Name)
                    and node.func.value.id in self.objects and node.func.attr not in
                    self.objects[node.func.value.id].fields and node.func.attr not in
                    self.objects[node.func.value.id].sub):
                node.func = self.read_fields(node.func)
            node.args = self.read_fields(node.args)
            node.keywords = self.read_fields(node.keywords)
            return node
        if isinstance(node, gast.Attribute) and isinstance(node.value, gast.Name) and \
                node.value.id in self.objects and isinstance(node.ctx, gast.Load):
            o, attr = self.objects[node.value.id], node.attr
            if attr in o.fields:
                return N(o.fields[attr])
            if attr in o.sub:
                # an object the argument holds (``self.layer``): an object argument of its own,
                # read from its holder at the start; a list of them (``self.layers``): each
                # element is one, and a loop over the list is unrolled (``unroll_objects``)
                o.from_param.add(attr)
                var = self.field(o, attr)
                held = o.sub[attr]
                if isinstance(held, ObjectList):
                    self.object_lists.setdefault(var, (held, var, tuple(range(len(held)))))
                elif var not in self.objects:
                    self.objects[var] = _param_object(held, var)
                return N(var)
            value = _class_attr(o.cls, attr)
            if o.param and not (callable(value) or isinstance(value, (staticmethod, classmethod, property))):
                # an argument's attribute: read from the object once, at the function's start
                o.from_param.add(attr)
                return N(self.field(o, attr))
            if value is None or callable(value) or isinstance(value, (staticmethod, classmethod, property)):
                raise _Escape(o.names)   # a method used as a value, or no such attribute
            o.class_reads.add(attr)
            return gast.Attribute(value=self.env.ref(o.cls.__name__, o.cls), attr=attr, ctx=gast.Load())
        for f in node._fields:
            setattr(node, f, self.read_fields(getattr(node, f)))
        return node


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
        if any(isinstance(v, gast.Starred) for v in call.args):
            return None     # ``g(*args[:1], v)`` of a sequence srcad cannot see: its items are not known
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
        if value is _HAS_FACTORY and _HAS_FACTORY is not None:
            return _FACTORY     # a dataclass field's default_factory, called where it is bound
        lit = _literal(value)
        return lit if lit is not None else self.env.ref(f"{p}_default", value)


class _ScopeOf:
    """Resolve names of inlined code: renamed free names resolve as the callee saw them; names the
    generated code binds (a function passed as an argument) to what they are bound to."""

    def __init__(self, cinfo, mapping, env, outer=None):
        self.cinfo = cinfo
        self.back = {v: k for k, v in mapping.items() if isinstance(v, str)}
        self.env = env
        # names the caller passed as arguments (``M`` of ``M.forward(x)``: the callee's ``self``)
        # resolve where the caller's code reads them
        self.outer = outer
        self.atoms = {_chain_base(v) for v in mapping.values() if isinstance(v, (gast.Name, gast.Attribute))}
        self.atoms -= set(self.back) | {None}

    def resolve(self, name, guard="is"):
        if name not in self.back and name in self.env.objects:
            return True, self.env.objects[name]
        if name in self.atoms and self.outer is not None:
            return self.outer.resolve(name, guard=guard)
        return self.cinfo.resolve(self.back.get(name, name), guard=guard)


def _chain_base(node):
    while isinstance(node, gast.Attribute):
        node = node.value
    return node.id if isinstance(node, gast.Name) else None


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
        yield from walk(s)




class _Object:
    """An object of a user class made in the function: its class, the names that hold it, and
    the variable of each attribute set so far (``fields``)."""

    def __init__(self, cls, name):
        self.cls = cls
        self.name = name            # the first name: the variables are named after it (``m_W``)
        self.names = {name}
        self.fields = {}
        self.class_reads = set()
        self.param = False          # an argument of the function (ObjectArg): its attributes are
        self.from_param = set()     # read from it at the start (these), never written
        self.sub = {}               # attribute -> ObjectArg (ObjectList) of the objects an argument holds
        self.origin = None          # an element of such a list: ``model_layers[0]``, read at the start
        params = getattr(cls, "__dataclass_params__", None)
        self.frozen = bool(params is not None and params.frozen)


class _Escape(Exception):
    """An object made in the function is used as a value: start again with it made for real."""

    def __init__(self, names):
        super().__init__(sorted(names))
        self.names = set(names)


_HAS_FACTORY = getattr(dataclasses, "_HAS_DEFAULT_FACTORY", None)
_FACTORY = gast.Constant(value=None, kind="default_factory")


def _class_attr(cls, name):
    for klass in cls.__mro__:
        if name in klass.__dict__:
            # the derivative inlines what the class holds now: a method replaced later
            # (``C.m = other``, in the class or a subclass) fails the guard and regenerates
            guards.getattr_noted(cls, name)
            return klass.__dict__[name]
    return None


def _generated_init(cls):
    init = cls.__dict__.get("__init__")
    return isinstance(init, types.FunctionType) and init.__code__.co_filename.startswith("<")


def _followable(cls):
    """A plain class of the user's: made by ``object.__new__``, attributes in an instance dict
    read and written as Python does by default, and an ``__init__`` srcad can read."""
    if type(cls) not in (type, __import__("abc").ABCMeta) or cls.__module__ == "builtins":
        return False
    frozen = getattr(getattr(cls, "__dataclass_params__", None), "frozen", False)
    for klass in cls.__mro__[:-1]:
        if klass.__module__ == "builtins" or library_function(klass) or \
                (getattr(klass, "__module__", "") or "").split(".")[0] in ("numpy", "scipy", "srcad"):
            return False
        for special in ("__new__", "__getattr__", "__getattribute__", "__setattr__", "__delattr__",
                        "__slots__", "__class_getitem__"):
            if special in klass.__dict__ and not (frozen and special in ("__setattr__", "__delattr__")):
                return False
    init = _class_attr(cls, "__init__")
    return init is object.__init__ or isinstance(init, types.FunctionType)


def _object_init(self):
    """``object.__init__`` (``super().__init__()`` reaching ``object``): nothing to do."""
    return None


def _writes_attributes(stmts):
    return any(isinstance(n, gast.Assign) and isinstance(n.targets[0], gast.Attribute)
               for n in _walk_nodes(stmts))


def at_line(node, ln):
    node.lineno = ln
    return node


class ObjectArg:
    """The rank key of an argument that is an object of a user class srcad can follow: its class
    (``api._rank``), and the ObjectArg of each instance attribute that is itself such an object
    (``attrs``: ``model.layer`` of a ``Dense``). The derivative is specialised on them, so
    ``model.forward(x)`` of an argument ``model`` (and ``self.f(x)`` of a method differentiated as
    ``grad(obj.loss)``, and ``self.layer(x)`` inside it) is inlined. Rebinding ``model.layer`` to
    an object of another class gives another key, so another derivative."""

    __slots__ = ("cls", "attrs")

    def __init__(self, cls, attrs=()):
        self.cls = cls
        self.attrs = attrs          # ((attribute name, ObjectArg), ...) sorted by name

    def __eq__(self, other):
        return type(other) is ObjectArg and other.cls is self.cls and other.attrs == self.attrs

    def __hash__(self):
        return hash((ObjectArg, id(self.cls), self.attrs))

    def __repr__(self):
        inner = "".join(f", .{k}: {v!r}" for k, v in self.attrs)
        return f"an object of {self.cls.__qualname__}{inner}"


class ObjectList(tuple):
    """The key of a list or tuple of objects srcad can follow, held in an argument's attribute
    (``self.layers``): the ObjectArg of each element. A loop over it is unrolled (inline.py)."""

    __slots__ = ()

    def __repr__(self):
        return "a list of " + ", ".join(map(repr, self))


_MAX_OBJECT_LIST = 32                        # longer lists of objects are not unrolled


_OBJECT_ARGS = weakref.WeakKeyDictionary()   # class -> its ObjectArg, or False
_NESTED_DEPTH = 4                            # objects held in objects, followed this deep


_METHODS = weakref.WeakKeyDictionary()       # class -> names of its methods


def _methods(cls):
    """The names of the functions, static and class methods and properties ``cls`` defines."""
    have = _METHODS.get(cls)
    if have is None:
        kinds = (types.FunctionType, staticmethod, classmethod, property)
        have = _METHODS[cls] = frozenset(k for klass in cls.__mro__[:-1] for k, v in vars(klass).items()
                                         if isinstance(v, kinds))
    return have


def object_arg(a, depth=0, seen=None):
    """``ObjectArg`` for an argument whose class srcad can follow, else None."""
    cls = type(a)
    if cls.__module__ == "builtins" or isinstance(a, (list, tuple, dict)):
        return None
    try:
        have = _OBJECT_ARGS.get(cls)
    except TypeError:
        return None
    if have is None:
        have = _OBJECT_ARGS[cls] = ObjectArg(cls) if _followable(cls) else False
    if not have:
        return None
    fields = getattr(a, "__dict__", None)
    if not fields or depth >= _NESTED_DEPTH:
        return have
    seen = set() if seen is None else seen
    if id(a) in seen:
        return None          # an object that holds itself: not followed (its class is not kept)
    seen.add(id(a))
    attrs = []
    methods = _methods(cls)
    for k, v in fields.items():
        if k in methods:
            return None      # an instance attribute hides the class's method (``c.m = other``)
        if type(v) in (list, tuple) and 0 < len(v) <= _MAX_OBJECT_LIST and \
                type(v[0]).__module__ != "builtins" and not isinstance(v[0], np.ndarray):
            items = [object_arg(e, depth + 1, seen) for e in v]
            if all(isinstance(e, ObjectArg) for e in items):
                attrs.append((k, ObjectList(items)))
            continue
        if type(v).__module__ == "builtins" or isinstance(v, np.ndarray) or type(v).__module__.startswith("numpy"):
            continue
        sub = object_arg(v, depth + 1, seen)
        if sub is not None:
            attrs.append((k, sub))
    seen.discard(id(a))
    return ObjectArg(cls, tuple(sorted(attrs, key=lambda kv: kv[0]))) if attrs else have


def _const_slice(node):
    """The slice ``a:b:c`` of constant ints (or omitted bounds) spells, else None."""
    if not isinstance(node, gast.Slice):
        return None
    parts = []
    for part in (node.lower, node.upper, node.step):
        if part is None:
            parts.append(None)
        else:
            k = const_index(part)
            if k is None:
                return None
            parts.append(k)
    return slice(*parts)


def runtime_loop_seq():
    from srcad.runtime import loop_seq
    return loop_seq


def _param_object(arg, name):
    o = _Object(arg.cls, name)
    o.param = True
    o.sub = dict(arg.attrs)
    return o


def inline_calls(body, info, norm, env, front_end, root, forward=False, param_objects=None):
    """Inline the calls to user functions in ``body`` (see the module docstring). Where an object
    made in the function turns out to escape, inlining starts again with it made for real.
    ``param_objects``: {parameter: ObjectArg} of arguments that are objects of user classes, whose
    methods are inlined like those of objects made here; their attributes are read at the start
    (an object held in an attribute, ``model.layer``, becomes an object of its own)."""
    param_objects = param_objects or {}
    banned = set()
    original = copy.deepcopy(body)
    state = (norm.namer.snapshot(), set(norm.locals), dict(env.objects), dict(env.cells), dict(env.by_id),
             {k: list(v) for k, v in env.inlined.items()})
    while True:
        inliner = Inliner(info, norm, env, front_end, root, forward)
        inliner.banned = banned
        for p, arg in sorted(param_objects.items()):
            if p not in banned:
                inliner.objects[p] = _param_object(arg, p)
        try:
            out = inliner.body(body, info, set(norm.locals), 0, ())
            for n in _walk_nodes(out):
                if isinstance(n, gast.Name) and n.id in inliner.static_supers:
                    fail_at(info, getattr(n, "lineno", None) or info.lineno,
                            "srcad follows super() only to call its methods", "super()")
            held = {**inliner.objects, **{t: o for t, (o, _) in inliner.supers.items()}}
            left = {n.id for n in _walk_nodes(out) if isinstance(n, gast.Name) and n.id in held}
            if left:
                raise _Escape(set().union(*(held[n].names for n in left)))
        except _Escape as escape:
            if escape.names <= banned:
                fail_at(info, info.lineno, "srcad cannot follow the objects " + ", ".join(sorted(escape.names)),
                        "object")
            banned |= escape.names
            body = copy.deepcopy(original)
            norm.namer.restore(state[0])
            norm.locals.clear()
            norm.locals.update(state[1])
            for have, saved in zip((env.objects, env.cells, env.by_id, env.inlined), state[2:]):
                have.clear()
                have.update(saved)
            continue
        for st in _walk_nodes(out):
            if isinstance(st, gast.Assign) and isinstance(st.targets[0], gast.Attribute):
                fail_at(info, st.lineno, "srcad cannot differentiate an assignment to an attribute",
                        "assignment to an attribute")
        prologue = []
        for p, o in sorted(inliner.objects.items()):
            if not o.param or p != o.name:
                continue
            written = {v: a for a, v in o.fields.items()}
            for st in _walk_nodes(out):
                t = st.targets[0] if isinstance(st, gast.Assign) else getattr(st, "target", None)
                if isinstance(t, gast.Name) and t.id in written:
                    fail_at(info, getattr(st, "lineno", info.lineno),
                            f"srcad cannot differentiate a write to the attribute {written[t.id]} of the "
                            f"argument {p} (the caller's object would change)", "assignment to an attribute")
            if o.origin is not None:
                prologue.append(assign(p, o.origin, info.lineno))
            for attr in sorted(o.from_param):
                prologue.append(assign(o.fields[attr], gast.Attribute(
                    value=N(p), attr=attr, ctx=gast.Load()), info.lineno))
        return prologue + out
