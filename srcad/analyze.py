"""Step 4: facts about a normalized function, carried in explicit data (no notes on tree nodes).

* ``classify`` names the operation a statement performs (which rule, which inputs);
* ``Facts`` holds activity (which variables depend on the differentiated inputs), where each
  variable is defined, which variables are stacks, and which may hold containers.
"""

import types

import gast
import numpy as np

from srcad.errors import TransformError
from srcad.normalize import N, assign, walk_stmts
from srcad.rules.registry import FORWARD, NONDIFF, REVERSE
from srcad import guards, runtime as rt

BINOP_UFUNC = {gast.Add: np.add, gast.Sub: np.subtract, gast.Mult: np.multiply,
               gast.Div: np.true_divide, gast.Pow: np.power, gast.MatMult: np.matmul}
UNARY_UFUNC = {gast.USub: np.negative, gast.UAdd: np.positive}
NONDIFF_BINOPS = (gast.FloorDiv, gast.Mod, gast.BitAnd, gast.BitOr, gast.BitXor, gast.LShift, gast.RShift)


class Op:
    """What one right-hand side computes.

    kind: 'atom' (copy of ``args[0]``), 'rule' (``template`` over ``bound``), 'nondiff',
    'call' (a user function ``obj``), 'getitem', 'build' (tuple/list), 'dict', 'pop' (from stack
    ``args[0]``), 'unknown' (no rule: ``what`` names it).
    """

    def __init__(self, kind, args=(), **kw):
        self.kind = kind
        self.args = list(args)   # atoms whose adjoints may receive contributions
        self.__dict__.update(kw)


def _lookup(table, key):
    try:
        return table.get(key)
    except TypeError:
        return None


def _nondiff(key):
    try:
        return key in NONDIFF
    except TypeError:
        return False


def describe(obj):
    mod = getattr(obj, "__module__", None) or ""
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None) or repr(obj)
    if isinstance(obj, np.ufunc):
        return f"numpy.{obj.__name__}"
    return f"{mod}.{name}" if mod and mod != "builtins" else name


_REDUCTIONS = {np.sum, np.mean, np.prod, np.max, np.min, np.amax, np.amin, np.var, np.std,
               np.linalg.norm, np.nansum, np.average}
_REDUCING_METHODS = {"sum", "mean", "prod", "max", "min", "var", "std"}
_UNSET = object()


def _const_kw(kwargs, name):
    v = kwargs.get(name)
    return v is None or (isinstance(v, gast.Constant) and v.value is None)


class _RankMixin:
    """Array ranks (ndim) known at transform time, given the ranks of the arguments.

    Only rank 0 is used to simplify code: where every operand of a rule is a scalar, its adjoints
    need no ``unbroadcast`` (and the backward sweep then reads no shapes it would have to save).
    """

    def _ranks(self, body, param_ranks):
        stmts = list(walk_stmts(body))
        self.tuple_lens = {}
        lens = {}
        for s in stmts:
            if isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Name):
                n = len(s.value.elts) if isinstance(s.value, (gast.Tuple, gast.List)) else None
                lens.setdefault(s.targets[0].id, set()).add(n)
        self.tuple_lens = {k: next(iter(v)) for k, v in lens.items() if len(v) == 1 and None not in v}
        shapes = {}
        for s in stmts:
            if isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Name):
                v = s.value
                is_shape = isinstance(v, gast.Attribute) and v.attr == "shape"
                shapes.setdefault(s.targets[0].id, set()).add(is_shape)
        self.shape_tuples = {k for k, v in shapes.items() if v == {True}}
        ranks = {name: _UNSET for name in self.locals}
        for p in self.params:
            ranks[p] = param_ranks.get(p)
        ints = {name: _UNSET for name in self.locals}
        for p in self.params:
            ints[p] = False
        for s in stmts:
            if isinstance(s, gast.For) and _is_range(s.iter):
                ints[s.target.id] = True
        for _ in range(20):
            changed = False
            new_ranks, new_ints = {}, {}
            for s in stmts:
                if isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Name):
                    t = s.targets[0].id
                    r = self._rank_expr(s.value, ranks, ints)
                    new_ranks.setdefault(t, []).append(r)
                    new_ints.setdefault(t, []).append(self._int_expr(s.value, ints))
                elif isinstance(s, gast.Assign):
                    new_ranks.setdefault(s.targets[0].value.id, [])
                elif isinstance(s, gast.For):
                    t = s.target.id
                    new_ranks.setdefault(t, []).append(0 if _is_range(s.iter) else None)
                    new_ints.setdefault(t, []).append(_is_range(s.iter))
            for name, rs in new_ranks.items():
                if name in self.params:
                    rs = rs + [param_ranks.get(name)]
                if name in self.mutated and name not in self.params:
                    pass
                known = [r for r in rs if r is not _UNSET]
                r = known[0] if known and all(k == known[0] for k in known) and known[0] is not None else None
                if not known:
                    r = _UNSET
                if ranks.get(name, _UNSET) != r:
                    ranks[name] = r
                    changed = True
            for name, vs in new_ints.items():
                if name in self.params:
                    continue
                known = [v for v in vs if v is not _UNSET]
                v = all(known) if known else _UNSET
                if ints.get(name, _UNSET) != v:
                    ints[name] = v
                    changed = True
            if not changed:
                break
        self.int_vars = {k for k, v in ints.items() if v is True}
        return {k: v for k, v in ranks.items() if isinstance(v, int) and not isinstance(v, bool)}

    def _atom_rank(self, a, ranks):
        if isinstance(a, gast.Constant):
            return 0 if isinstance(a.value, (int, float)) and not isinstance(a.value, bool) else None
        if isinstance(a, gast.Name):
            if a.id in self.locals:
                return ranks.get(a.id, None)
            return None   # a global or closure value: read when the derivative runs, rank unknown
        if isinstance(a, gast.Attribute):
            return 0 if isinstance(self._static_value(a), float) else None
        return None

    def _static_value(self, node):
        with guards.paused():
            try:
                where = self.callee(node)
            except TransformError:
                return None
        if where[0] != "static":
            return None
        if isinstance(where[1], float):   # generation counts it a scalar: guard its type only
            guards.note_value_type(self.info, node, where[1])
        return where[1]

    def _int_expr(self, e, ints):
        if isinstance(e, gast.Constant):
            return isinstance(e.value, int) and not isinstance(e.value, bool)
        if isinstance(e, gast.Name):
            return ints.get(e.id, False) if e.id in self.locals else False
        if isinstance(e, gast.BinOp) and isinstance(e.op, (gast.Add, gast.Sub, gast.Mult, gast.FloorDiv, gast.Mod)):
            a, b = self._int_expr(e.left, ints), self._int_expr(e.right, ints)
            if a is _UNSET or b is _UNSET:
                return _UNSET if (a is not False and b is not False) else False
            return a and b
        if isinstance(e, gast.UnaryOp) and isinstance(e.op, gast.USub):
            return self._int_expr(e.operand, ints)
        return False

    def _rank_expr(self, value, ranks, ints):
        if isinstance(value, (gast.Name, gast.Constant, gast.Attribute)) and not (
                isinstance(value, gast.Attribute) and isinstance(value.value, gast.Name)
                and value.value.id in self.locals):
            return self._atom_rank(value, ranks)
        try:
            op = self.classify(value)
        except TransformError:
            return None
        if op.kind == "atom":
            return self._atom_rank(op.args[0], ranks)
        if op.kind == "getitem":
            if isinstance(op.args[0], gast.Name) and op.args[0].id in self.shape_tuples:
                return 0   # x.shape[k]
            base = self._atom_rank(op.args[0], ranks)
            if base is _UNSET:
                return _UNSET
            idx = op.index.elts if isinstance(op.index, gast.Tuple) else [op.index]
            flags = [self._int_expr(i, ints) for i in idx]
            if any(f is _UNSET for f in flags):
                return _UNSET
            if base is None or not all(flags) or len(idx) > base:
                return None
            return base - len(idx)
        if isinstance(value, gast.Call):
            where = self.callee(value.func)
            if where[0] == "local":   # a function held in a variable: classify() decides
                return None
            obj = where[1] if where[0] == "static" else ("method", where[2])
            if where[0] == "static" and _hashable(obj) and obj in _CREATORS and value.args:
                return self._shape_rank(value.args[0], ranks)
            if where[0] == "static" and _hashable(obj) and obj in _LIKE and value.args:
                return self._atom_rank(value.args[0], ranks)
        if op.kind != "rule":
            return None
        args = op.call_args
        if isinstance(value, gast.Attribute) and value.attr == "T":
            return self._atom_rank(args[0], ranks)
        if isinstance(value, gast.BinOp) and isinstance(value.op, gast.MatMult):
            return self._product_rank(args, ranks)
        if isinstance(value, gast.Call):
            if _hashable(obj) and (obj in (np.dot, np.matmul) or obj == ("method", "dot")):
                return self._product_rank(args, ranks)
            if obj in _REDUCTIONS or (isinstance(obj, tuple) and obj[1] in _REDUCING_METHODS):
                if _const_kw(op.kwargs, "axis") and len(args) < 2:
                    return 0  # a full reduction is a scalar whatever its input
                return None
            if obj is np.transpose or obj == ("method", "transpose") and len(args) == 1:
                return self._atom_rank(args[0], ranks)
            if not isinstance(obj, np.ufunc):
                return None
        rs = [self._atom_rank(a, ranks) for a in args]
        if any(r is _UNSET for r in rs):
            return _UNSET
        if any(r is None for r in rs):
            return None
        return max(rs) if rs else None

    def _shape_classes(self, body):
        """Variables known to have the same shape share a class (a variable name).

        Elementwise operations keep their operand's shape; a binary one whose operands share a
        class, or pair it with a scalar, keeps that class. Every definition of a variable must
        agree, or it has no class. Used to drop ``unbroadcast`` where no broadcasting can happen.
        """
        stmts = [s for s in walk_stmts(body)]
        cls = {p: p for p in self.params}
        unset = object()
        for name in self.locals:
            cls.setdefault(name, unset)
        for s in stmts:
            if isinstance(s, gast.For):
                cls[s.target.id] = None
            elif isinstance(s, gast.Assign) and not isinstance(s.targets[0], gast.Name):
                cls[s.targets[0].value.id] = None   # assigned into: keep it simple
        for _ in range(20):
            found = {}
            for s in stmts:
                if isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Name):
                    found.setdefault(s.targets[0].id, []).append(self._class_expr(s.value, cls, unset))
            changed = False
            for name, cs in found.items():
                if name in self.params or cls.get(name) is None and name in self.mutated:
                    continue
                known = [c for c in cs if c is not unset]
                c = known[0] if known and all(k == known[0] for k in known) else (unset if not known else None)
                if cls.get(name) != c:
                    cls[name] = c
                    changed = True
            if not changed:
                break
        for p in self.params:
            if any(isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Name) and s.targets[0].id == p
                   for s in stmts):
                cls[p] = None   # a parameter reassigned may change shape
        return {k: v for k, v in cls.items() if isinstance(v, str)}

    def _class_of(self, atom, cls, unset):
        if isinstance(atom, gast.Constant):
            return "" if isinstance(atom.value, (int, float)) and not isinstance(atom.value, bool) else None
        if isinstance(atom, gast.Name) and atom.id in self.locals:
            if self.ranks.get(atom.id) == 0:
                return ""
            return cls.get(atom.id, None)
        return None

    def _class_expr(self, value, cls, unset):
        if isinstance(value, (gast.Name, gast.Constant)):
            return self._class_of(value, cls, unset)
        if not isinstance(value, (gast.BinOp, gast.UnaryOp, gast.Call)):
            return None
        try:
            op = self.classify(value)
        except TransformError:
            return None
        if op.kind != "rule":
            return None
        if isinstance(value, gast.Call):
            where = self.callee(value.func)
            if where[0] != "static" or not isinstance(where[1], np.ufunc) or where[1] is np.matmul \
                    or value.keywords:
                return None
        elif isinstance(value, gast.BinOp) and isinstance(value.op, gast.MatMult):
            return None
        classes = [self._class_of(a, cls, unset) for a in op.call_args]
        if any(c is None for c in classes):
            return None
        if any(c is unset for c in classes):
            return unset
        real = {c for c in classes if c != ""}
        if len(real) == 1:
            return real.pop()
        if not real:
            return ""
        return None

    def same_shape(self, a, b):
        """Are variables ``a`` and ``b`` known to have the same shape?"""
        ca, cb = self.shape_class.get(a), self.shape_class.get(b)
        return ca is not None and ca == cb

    def _product_rank(self, args, ranks):
        if len(args) != 2:
            return None
        ra, rb = (self._atom_rank(a, ranks) for a in args)
        if ra is _UNSET or rb is _UNSET:
            return _UNSET
        if ra is None or rb is None:
            return None
        if ra == 0 or rb == 0:
            return max(ra, rb)
        return ra + rb - 2 if rb >= 2 else ra - 1

    def _shape_rank(self, shape, ranks):
        if isinstance(shape, gast.Constant) and isinstance(shape.value, int):
            return 1
        if isinstance(shape, gast.Constant) and isinstance(shape.value, tuple):
            return len(shape.value)
        if isinstance(shape, gast.Name) and shape.id in self.tuple_lens:
            return self.tuple_lens[shape.id]
        return None


def _hashable(obj):
    try:
        hash(obj)
        return True
    except TypeError:
        return False


_CREATORS = {np.zeros, np.ones, np.empty, np.full}
_LIKE = {np.zeros_like, np.ones_like, np.empty_like, np.full_like}


def _is_range(it):
    return isinstance(it, gast.Call) and isinstance(it.func, gast.Name) and it.func.id in ("range",) or (
        isinstance(it, gast.Subscript) and _is_range(it.value))


class Facts(_RankMixin):
    def __init__(self, info, body, params, local_names, wrt, mode="reverse", ranks=None):
        self.info = info
        self.params = params
        self.locals = set(local_names)
        self.mode = mode
        self.table = REVERSE if mode == "reverse" else FORWARD
        self.stacks = set()
        self._ops = {}
        self.defs = {}        # name -> list of (in_loop, depth)
        self.mutated = set()  # names assigned into by subscript
        self.containers = set()
        for p in params:
            self.defs[p] = [(False, 0)]
        self._scan(body, False, 0)
        self.active = self._activity(body, set(wrt))
        self.ranks = self._ranks(body, ranks or {})
        self.shape_class = self._shape_classes(body)

    # ------------------------------------------------------------------ callee resolution
    def callee(self, func):
        """('static', obj) | ('method', receiver atom, name) | ('local', name).

        What a static callee resolved to is noted for the derivative's guards (guards.py)."""
        if isinstance(func, gast.Name):
            if func.id in self.locals:
                return ("local", func.id)
            ok, obj = self.info.resolve(func.id)
            if not ok:
                raise TransformError(f"name '{func.id}' is not defined", self.info.filename,
                                     getattr(func, "lineno", None), "name")
            return ("static", obj)
        chain, node = [], func
        while isinstance(node, gast.Attribute):
            chain.append(node.attr)
            node = node.value
        if isinstance(node, gast.Name) and node.id not in self.locals:
            ok, obj = self.info.resolve(node.id)
            if not ok:
                raise TransformError(f"name '{node.id}' is not defined", self.info.filename, None, "name")
            for attr in reversed(chain):
                try:
                    obj = guards.getattr_noted(obj, attr)
                except AttributeError:
                    raise TransformError(f"{node.id} has no attribute {attr}", self.info.filename,
                                         None, "attribute") from None
            return ("static", obj)
        return ("method", func.value, func.attr)

    def classify(self, value):
        """The Op computed by a normalized right-hand side (memoised per node)."""
        hit = self._ops.get(id(value))
        if hit is not None and hit[0] is value:
            return hit[1]
        op = self._classify(value)
        self._ops[id(value)] = (value, op)
        return op

    def _classify(self, value):
        if isinstance(value, (gast.Name, gast.Constant)):
            return Op("atom", [value])
        if isinstance(value, gast.Attribute):
            if not isinstance(value.value, gast.Name) or value.value.id not in self.locals:
                return Op("nondiff", [])
            key = ("attr", value.attr)
            tpl = _lookup(self.table, key)
            if tpl is not None:
                return self._rule(tpl, [value.value], {}, f"attribute .{value.attr}")
            if _nondiff(key):
                return Op("nondiff", [value.value])
            return Op("unknown", [value.value], what=f"attribute .{value.attr}", key=key)
        if isinstance(value, gast.BinOp):
            if isinstance(value.op, NONDIFF_BINOPS):
                return Op("nondiff", [value.left, value.right])
            ufunc = BINOP_UFUNC[type(value.op)]
            return self._rule(self.table.get(ufunc), [value.left, value.right], {}, describe(ufunc))
        if isinstance(value, gast.UnaryOp):
            if type(value.op) not in UNARY_UFUNC:
                return Op("nondiff", [value.operand])
            ufunc = UNARY_UFUNC[type(value.op)]
            return self._rule(self.table.get(ufunc), [value.operand], {}, describe(ufunc))
        if isinstance(value, gast.Subscript):
            return Op("getitem", [value.value], index=value.slice)
        if isinstance(value, (gast.Tuple, gast.List)):
            return Op("build", list(value.elts))
        if isinstance(value, gast.Dict):
            return Op("dict", list(value.values), keys=list(value.keys))
        if isinstance(value, gast.Call):
            return self.classify_call(value)
        return Op("nondiff", [])

    def classify_call(self, call):
        where = self.callee(call.func)
        kwargs = {k.arg: k.value for k in call.keywords}
        if where[0] == "method":
            receiver, name = where[1], where[2]
            if isinstance(receiver, gast.Name) and receiver.id in self.stacks:
                if name == "pop":
                    return Op("pop", [receiver])
                if name == "append":
                    return Op("push", [receiver] + list(call.args))
            key = ("method", name)
            tpl = _lookup(self.table, key)
            if tpl is not None:
                return self._rule(tpl, [receiver] + list(call.args), kwargs, f"method .{name}()")
            if _nondiff(key):
                return Op("nondiff", [receiver] + list(call.args))
            return Op("unknown", [receiver] + list(call.args) + list(kwargs.values()),
                      what=f"method .{name}()", key=key)
        if where[0] == "local":
            return Op("unknown", list(call.args) + list(kwargs.values()),
                      what=f"a function held in the local variable '{where[1]}'", key=None)
        obj = where[1]
        inner = getattr(obj, "__srcad_function__", None)
        if inner is not None:
            obj = inner()
        tpl = _lookup(self.table, obj)
        if tpl is not None:
            return self._rule(tpl, list(call.args), kwargs, describe(obj))
        if _nondiff(obj):
            return Op("nondiff", list(call.args) + list(kwargs.values()), obj=obj)
        if self.mode == "reverse" and obj in _IN_PLACE:
            return Op("unknown", list(call.args) + list(kwargs.values()), what=describe(obj), key=None,
                      hint=_IN_PLACE_HINT)
        if isinstance(obj, types.FunctionType):
            return Op("call", list(call.args), obj=obj, kwargs=kwargs)
        return Op("unknown", list(call.args) + list(kwargs.values()), what=describe(obj), key=obj)

    def _rule(self, tpl, args, kwargs, what):
        if tpl is None:
            return Op("unknown", list(args) + list(kwargs.values()), what=what, key=None)
        try:
            bound = tpl.bind(args, kwargs)
        except TypeError as exc:
            raise TransformError(f"call of {what} does not match its derivative rule: {exc}",
                                 self.info.filename, None, what) from None
        diff = [bound[p] for p in tpl.diff_params if p in bound]
        return Op("rule", diff, template=tpl, bound=bound, what=what, call_args=list(args), kwargs=kwargs)

    # ------------------------------------------------------------------ scans
    def _scan(self, stmts, in_loop, depth):
        for s in stmts:
            if isinstance(s, gast.Assign):
                t = s.targets[0]
                if isinstance(t, gast.Name):
                    self.defs.setdefault(t.id, []).append((in_loop, depth))
                    v = s.value
                    if isinstance(v, gast.Call):
                        where = self.callee(v.func) if not (isinstance(v.func, gast.Attribute) and
                                                            not isinstance(v.func.value, gast.Name)) else None
                        if where and where[0] == "static" and where[1] is rt.Stack:
                            self.stacks.add(t.id)
                        if where and where[0] == "static" and isinstance(where[1], types.FunctionType) \
                                and _lookup(self.table, where[1]) is None:
                            self.containers.add(t.id)
                    if isinstance(v, (gast.Tuple, gast.List, gast.Dict)):
                        self.containers.add(t.id)
                elif isinstance(t, gast.Subscript):
                    self.mutated.add(t.value.id)
            elif isinstance(s, gast.If):
                self._scan(s.body, in_loop, depth + 1)
                self._scan(s.orelse, in_loop, depth + 1)
            elif isinstance(s, (gast.While, gast.For)):
                if isinstance(s, gast.For):
                    self.defs.setdefault(s.target.id, []).append((True, depth))
                self._scan(s.body, True, depth + 1)
        # subscripts of containers are containers too (nested parameters)
        changed = True
        while changed:
            changed = False
            for s in walk_stmts(stmts):
                if isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Name) and \
                        isinstance(s.value, gast.Subscript) and isinstance(s.value.value, gast.Name):
                    base = s.value.value.id
                    if (base in self.containers or base in self.params) and s.targets[0].id not in self.containers:
                        if base in self.containers or _is_key(s.value.slice):
                            self.containers.add(s.targets[0].id)
                            changed = True
        for s in walk_stmts(stmts):
            if isinstance(s, gast.Assign) and isinstance(s.value, gast.Subscript) and \
                    isinstance(s.value.value, gast.Name) and s.value.value.id in self.params and \
                    _is_key(s.value.slice):
                self.containers.add(s.value.value.id)

    def redefined(self, name):
        d = self.defs.get(name, [])
        return len(d) > 1 or any(in_loop for in_loop, _ in d)

    def first_def_dominates(self, name):
        d = self.defs.get(name, [])
        return bool(d) and d[0] == (False, 0)

    def is_active(self, atom):
        return isinstance(atom, gast.Name) and atom.id in self.active

    def _activity(self, body, active):
        stmts = list(walk_stmts(body))
        changed = True
        while changed:
            changed = False
            for s in stmts:
                if isinstance(s, gast.Assign):
                    t = s.targets[0]
                    if isinstance(t, gast.Name):
                        if t.id in active:
                            continue
                        op = self.classify(s.value)
                        if op.kind == "nondiff":
                            continue
                        if op.kind == "pop":
                            hit = op.args[0].id in active
                        else:
                            hit = any(isinstance(a, gast.Name) and a.id in active for a in op.args)
                        if hit:
                            active.add(t.id)
                            changed = True
                    elif isinstance(t, gast.Subscript):
                        if isinstance(s.value, gast.Name) and s.value.id in active and t.value.id not in active:
                            active.add(t.value.id)
                            changed = True
                elif isinstance(s, gast.Expr) and isinstance(s.value, gast.Call):
                    call = s.value
                    if isinstance(call.func, gast.Attribute) and isinstance(call.func.value, gast.Name) \
                            and call.func.value.id in self.stacks and call.func.attr == "append":
                        st = call.func.value.id
                        if st not in active and any(isinstance(a, gast.Name) and a.id in active
                                                    for a in call.args):
                            active.add(st)
                            changed = True
        return active


def split_self_reads(stmts, facts, namer):
    """``x = exp(x)`` whose rule reads the output ``y``: compute into a temporary, then copy.

    Both modes need the output and the overwritten input at once for such statements. Returns
    (statements, whether anything was split).
    """
    out, split = [], False
    for s in stmts:
        if isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Name):
            t = s.targets[0].id
            reads = {n.id for n in gast.walk(s.value) if isinstance(n, gast.Name)}
            if t in facts.active and t in reads:
                op = facts.classify(s.value)
                if op.kind == "rule" and op.template.reads_out:
                    tmp = namer.fresh(t + "_new")
                    out.append(assign(tmp, s.value, s.lineno))
                    out.append(assign(t, N(tmp), s.lineno))
                    split = True
                    continue
        for field in ("body", "orelse"):
            sub = getattr(s, field, None)
            if isinstance(sub, list) and sub:
                new, inner = split_self_reads(sub, facts, namer)
                setattr(s, field, new)
                split = split or inner
        out.append(s)
    return out, split


# Runtime helpers that change an adjoint array in place: reverse mode over them (grad of grad through
# indexing) would need the old contents back, so it is refused with a way out.
_IN_PLACE = {rt.add_at, rt.pop_at}
_IN_PLACE_HINT = ("reverse mode over a gradient that indexes arrays is not supported; use "
                  "srcad.hessian(f) (forward over reverse) or srcad.jacobian(srcad.grad(f), mode='forward')")


def _is_key(index):
    return isinstance(index, gast.Constant) and isinstance(index.value, str)


