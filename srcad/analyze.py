"""Step 4: facts about a normalized function, carried in explicit data (no notes on tree nodes).

* ``classify`` names the operation a statement performs (which rule, which inputs);
* ``Facts`` holds activity (which variables depend on the differentiated inputs), where each
  variable is defined, which variables are stacks, and which may hold containers.
"""

import inspect
import sys
import types

import gast
import numpy as np

from srcad.aliasing import Aliasing, analyze_aliasing
from srcad.errors import TransformError, fail_at
from srcad.parse import GENERATED
from srcad.astutil import N, assign, walk_stmts
from srcad.rules.registry import FORWARD, NONDIFF, REVERSE, library_function, library_hint
from srcad import guards, runtime as rt

BINOP_UFUNC = {gast.Add: np.add, gast.Sub: np.subtract, gast.Mult: np.multiply,
               gast.Div: np.true_divide, gast.Pow: np.power, gast.MatMult: np.matmul,
               gast.Mod: np.remainder}
UNARY_UFUNC = {gast.USub: np.negative, gast.UAdd: np.positive}
# ``//`` is piecewise constant; ``%`` has a derivative (np.remainder's rule) except as string formatting
NONDIFF_BINOPS = (gast.FloorDiv, gast.BitAnd, gast.BitOr, gast.BitXor, gast.LShift, gast.RShift)


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
        special = sys.modules.get("scipy.special")
        if getattr(np, obj.__name__, None) is not obj and getattr(special, obj.__name__, None) is obj:
            return f"scipy.special.{obj.__name__}"
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
            if base is None or op.args[0].id in self.containers:
                return None
            idx = op.index.elts if isinstance(op.index, gast.Tuple) else [op.index]
            rank, indexed = base, 0
            for i in idx:   # basic indexing: an integer drops an axis, a slice keeps it, None adds one
                if isinstance(i, gast.Slice):
                    indexed += 1
                    continue
                if isinstance(i, gast.Constant) and (i.value is None or i.value is Ellipsis):
                    rank += i.value is None
                    continue
                flag = self._int_expr(i, ints)
                if flag is _UNSET:
                    return _UNSET
                if not flag:
                    return None
                rank -= 1
                indexed += 1
            return rank if indexed <= base else None
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
            if _hashable(obj) and obj in (float, int, complex) or getattr(obj, "__module__", None) == "math":
                return 0
            if not (isinstance(obj, np.ufunc) or _hashable(obj) and obj in _ELEMENTWISE):
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
            elif isinstance(s, gast.Assign) and s.targets[0].id in self.params:
                # a parameter reassigned may change shape: no class, from the start (values made
                # from its first value would otherwise share a class with its later ones)
                cls[s.targets[0].id] = None
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


# Elementwise functions that are not ufuncs: the result has the largest rank of the operands.
_ELEMENTWISE = {abs, np.clip, np.where, np.copy, np.nan_to_num, np.real, np.imag}


def _hashable_in(obj, table):
    try:
        return obj in table
    except TypeError:
        return False


def _dotted(node):
    """``np.r_`` for an attribute chain of names, else a generic description."""
    parts = []
    while isinstance(node, gast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, gast.Name):
        return ".".join([node.id] + parts[::-1])
    return "an expression"


def _hashable(obj):
    try:
        hash(obj)
        return True
    except TypeError:
        return False


_CREATORS = {np.zeros, np.ones, np.empty, np.full}
_REAL_OF_COMPLEX = {abs, np.abs, np.real, np.imag, np.angle}
_LIKE = {np.zeros_like, np.ones_like, np.empty_like, np.full_like, np.copy, rt.owned_copy, rt.copy_adjoint,
         rt.zeros_like}


def _is_range(it):
    return isinstance(it, gast.Call) and isinstance(it.func, gast.Name) and it.func.id in ("range",) or (
        isinstance(it, gast.Subscript) and _is_range(it.value))


class Facts(_RankMixin):
    def __init__(self, info, body, params, local_names, wrt, mode="reverse", ranks=None, helper=False,
                 result_var=None):
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
        self._refuse_complex(body)
        self._refuse_underived(body)
        self.ranks = self._ranks(body, ranks or {})
        self.shape_class = self._shape_classes(body)
        # which names may share memory; in-place writes another name would see are refused here
        self.aliasing = Aliasing() if info.fn in GENERATED else analyze_aliasing(
            info, body, params, self.locals, self.ranks, self.containers, external_params=helper,
            result_var=result_var, param_ranks=ranks)
        self.mutated |= self.aliasing.written_params
        self.maybe_seq = self._maybe_sequences(body)

    def _maybe_sequences(self, body):
        """Variables of unknown rank that may hold a list or tuple (indexed, iterated, summed with
        ``sum``, passed to a helper that is not inlined): their adjoints are added element-wise
        (``add``), since ``+`` would concatenate two list adjoints."""
        found = set()
        for s in walk_stmts(body):
            if not isinstance(s, gast.Assign) or not isinstance(s.targets[0], gast.Name):
                continue
            v = s.value
            if isinstance(v, gast.Subscript) and isinstance(v.value, gast.Name):
                found.add(v.value.id)
            elif isinstance(v, gast.Call):
                try:
                    op = self.classify(v)
                except TransformError:
                    continue
                if op.kind == "call" or (op.kind == "rule" and isinstance(v.func, gast.Name) and
                                         self.callee(v.func)[1] in (sum, rt.loop_seq)):
                    found |= {a.id for a in op.args if isinstance(a, gast.Name)}
        return {n for n in found if not isinstance(self.ranks.get(n), int)}

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
            if isinstance(value.op, NONDIFF_BINOPS) or (
                    isinstance(value.op, gast.Mod) and isinstance(value.left, gast.Constant)
                    and isinstance(value.left.value, (str, bytes))):
                return Op("nondiff", [value.left, value.right])
            ufunc = BINOP_UFUNC[type(value.op)]
            return self._rule(self.table.get(ufunc), [value.left, value.right], {}, describe(ufunc))
        if isinstance(value, gast.UnaryOp):
            if type(value.op) not in UNARY_UFUNC:
                return Op("nondiff", [value.operand])
            ufunc = UNARY_UFUNC[type(value.op)]
            return self._rule(self.table.get(ufunc), [value.operand], {}, describe(ufunc))
        if isinstance(value, gast.Subscript):
            if not (isinstance(value.value, gast.Name) and value.value.id in self.locals):
                # a global indexed with variables: np.r_[a, b], np.c_[a, b], a global table
                names = [n for n in gast.walk(value.slice) if isinstance(n, gast.Name)
                         and isinstance(n.ctx, gast.Load) and n.id in self.locals]
                if names:
                    what = f"{_dotted(value.value)}[...]"
                    return Op("unknown", names, what=what, key=None,
                              hint="srcad differentiates indexing of the function's own values only; "
                                   "build arrays with np.concatenate, np.stack or np.column_stack")
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
            internal = (getattr(obj, "__module__", None) or "").split(".")[0] == "srcad"
            return self._rule(tpl, list(call.args), kwargs, describe(obj), internal=internal)
        if _nondiff(obj):
            return Op("nondiff", list(call.args) + list(kwargs.values()), obj=obj)
        if self.mode == "reverse" and obj in _IN_PLACE:
            return Op("unknown", list(call.args) + list(kwargs.values()), what=describe(obj), key=None,
                      hint=_IN_PLACE_HINT)
        if library_function(obj):
            return Op("unknown", list(call.args) + list(kwargs.values()), what=describe(obj), key=obj,
                      hint=library_hint(obj))
        if isinstance(obj, types.FunctionType):
            # keyword arguments are inputs too (activity): ``nargs`` counts the positional ones
            return Op("call", list(call.args) + [k.value for k in call.keywords], obj=obj, kwargs=kwargs,
                      nargs=len(call.args))
        return Op("unknown", list(call.args) + list(kwargs.values()), what=describe(obj), key=obj)

    def _rule(self, tpl, args, kwargs, what, internal=False):
        if tpl is None:
            return Op("unknown", list(args) + list(kwargs.values()), what=what, key=None)
        try:
            bound = tpl.bind(args, kwargs)
        except TypeError as exc:
            raise TransformError(f"call of {what} does not match its derivative rule: {exc}",
                                 self.info.filename, None, what) from None
        diff = [bound[p] for p in tpl.diff_params if p in bound]
        # srcad's own helpers (called by generated code) read some primal values for shapes only
        undiff = [] if internal else tpl.without_derivative(args, kwargs)
        return Op("rule", diff, template=tpl, bound=bound, what=what, call_args=list(args), kwargs=kwargs,
                  undiff=undiff)

    # ------------------------------------------------------------------ scans
    def _refuse_out(self, s):
        """``out=`` makes a NumPy call write its result into an existing array: a second result
        the derivative rules do not follow (the write was dropped: a zero or stale gradient).
        Refused wherever the result goes into an array given as ``out`` (keyword or, for a
        ufunc, position)."""
        call = s.value
        if not isinstance(call, gast.Call):
            return
        try:
            where = self.callee(call.func)
        except TransformError:
            return
        obj = where[1] if where[0] == "static" else None
        if isinstance(obj, types.FunctionType) and not _hashable_in(obj, self.table) and not _nondiff(obj):
            return   # the user's own function: ``out`` is just a parameter name
        given = None
        for k in call.keywords:
            if k.arg == "out" and not (isinstance(k.value, gast.Constant) and k.value.value is None):
                given = "out="
        if isinstance(obj, np.ufunc) and len(call.args) > obj.nin:
            given = "an output array passed by position"
        tpl = _lookup(self.table, obj) if obj is not None else None
        if given is None and tpl is not None and "out" in tpl.params:
            try:
                bound = tpl.bind(list(call.args), {k.arg: k.value for k in call.keywords if k.arg})
            except TypeError:
                bound = {}
            v = bound.get("out")
            if v is not None and not (isinstance(v, gast.Constant) and v.value is None):
                given = "an output array passed by position"
        if given is not None:
            what = describe(obj) if obj is not None else f"method .{where[2]}()"
            fail_at(self.info, getattr(s, "lineno", None), f"{what} with {given} writes its result into an "
                    "existing array, which srcad does not differentiate; assign the result instead "
                    "(`y = f(x)`)", "out= argument")

    def _scan(self, stmts, in_loop, depth):
        for s in stmts:
            if isinstance(s, (gast.Assign, gast.Expr)):
                self._refuse_out(s)
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
                        if where and where[0] == "static" and where[1] in (rt.seq_concat, rt.seq_repeat):
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

    def _refuse_complex(self, body):
        """A differentiated value combined with a complex number is refused at its line.

        Complex intermediates of a real function (``abs(x * (1 + 1j))``) would need complex
        adjoints (conjugates) that the real rules do not give: the result would be silently wrong.
        Complex numbers are the literals ``1j`` and the variables computed from them.
        """
        stmts = list(walk_stmts(body))
        cplx = set()

        def complex_in(value):
            if isinstance(value, gast.Attribute) and value.attr in ("real", "imag"):
                return False
            if isinstance(value, gast.Call):
                try:
                    where = self.callee(value.func)
                except TransformError:
                    where = None
                if where and where[0] == "static" and _hashable(where[1]) and where[1] in _REAL_OF_COMPLEX:
                    return False
            for n in gast.walk(value):
                if isinstance(n, gast.Constant) and isinstance(n.value, complex):
                    return True
                if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load) and n.id in cplx:
                    return True
            return False
        changed = True
        while changed:
            changed = False
            for st in stmts:
                if isinstance(st, gast.Assign) and isinstance(st.targets[0], gast.Name) and \
                        st.targets[0].id not in cplx and complex_in(st.value):
                    cplx.add(st.targets[0].id)
                    changed = True
        for st in stmts:
            if isinstance(st, gast.Assign) and complex_in(st.value):
                t = st.targets[0]
                name = t.id if isinstance(t, gast.Name) else getattr(t.value, "id", None)
                reads_active = any(isinstance(n, gast.Name) and n.id in self.active
                                   for n in gast.walk(st.value))
                if name in self.active and reads_active:
                    fail_at(self.info, st.lineno, "complex numbers in differentiated code are not "
                            "supported (srcad differentiates real-valued computations)", "complex number")

    def _refuse_underived(self, body):
        """A differentiated value passed to an argument the rule has no derivative for (``ord`` of
        np.linalg.norm, ``ddof`` of np.var, ``out=``) is refused at its line, not given zero."""
        for st in walk_stmts(body):
            if not (isinstance(st, gast.Assign) and isinstance(st.targets[0], gast.Name)):
                continue
            op = self.classify(st.value)
            if op.kind != "rule":
                continue
            for pname, node in getattr(op, "undiff", ()):
                if any(isinstance(n, gast.Name) and n.id in self.active for n in gast.walk(node)):
                    fail_at(self.info, st.lineno, f"{op.what} has no derivative with respect to its "
                            f"argument '{pname}', which depends on the differentiated inputs",
                            op.what)

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
    (statements, the temporaries made: each is read once, by the copy that follows it).
    """
    out, split = [], set()
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
                    split.add(tmp)
                    continue
        for field in ("body", "orelse"):
            sub = getattr(s, field, None)
            if isinstance(sub, list) and sub:
                new, inner = split_self_reads(sub, facts, namer)
                setattr(s, field, new)
                split |= inner
        out.append(s)
    return out, split


# Runtime helpers that change an adjoint array in place: reverse mode over them (grad of grad through
# indexing) would need the old contents back, so it is refused with a way out.
_IN_PLACE = {rt.add_at, rt.pop_at}
_IN_PLACE_HINT = ("reverse mode over a gradient that indexes arrays is not supported; use "
                  "srcad.hessian(f) (forward over reverse) or srcad.jacobian(srcad.grad(f), mode='forward')")


def _is_key(index):
    return isinstance(index, gast.Constant) and isinstance(index.value, str)


def changed_in_place(body, facts):
    """Variables whose object a call may change in place (``lst.append(v)`` on a list from
    outside, ``np.random.shuffle(a)``, a kept helper), with the variables bound to the same
    object (``seq = lst``, ``seq = loop_seq(lst)``): a loop bound that reads them is
    evaluated once in the forward sweep and replayed."""
    changed, links = set(), []
    for st in walk_stmts(body):
        call = st.value if isinstance(st, (gast.Expr, gast.Assign)) else None
        if isinstance(st, gast.Assign) and isinstance(st.targets[0], gast.Name):
            v = st.value
            if isinstance(v, gast.Name):
                links.append((st.targets[0].id, v.id))
            elif isinstance(v, gast.Call) and len(v.args) == 1 and isinstance(v.args[0], gast.Name) and \
                    facts.callee(v.func) == ("static", rt.loop_seq):
                links.append((st.targets[0].id, v.args[0].id))
                continue
        if not isinstance(call, gast.Call):
            continue
        try:
            op = facts.classify(call)
        except Exception:
            op = None
        if op is not None and op.kind in ("rule", "push", "pop") or (
                isinstance(st, gast.Assign) and op is not None and op.kind == "nondiff"):
            continue
        if isinstance(call.func, gast.Attribute) and isinstance(call.func.value, gast.Name):
            changed.add(call.func.value.id)
        changed |= {a.id for a in list(call.args) + [k.value for k in call.keywords]
                    if isinstance(a, gast.Name)}
    grew = True
    while grew:
        grew = False
        for a, b in links:
            if (a in changed) != (b in changed):
                changed |= {a, b}
                grew = True
    return changed


def call_wrt(info, op, value, is_active, ln):
    """Which parameters of the helper ``op.obj`` receive differentiated values at this call.

    Returns (wrt, atoms): positions (int) for positional arguments and for keywords that name a
    positional parameter, names (str) for keyword-only parameters, and the argument atoms in the
    same order. A differentiated value that would land in ``*args`` or ``**kwargs`` is refused.
    """
    try:
        sig = inspect.signature(op.obj)
    except (TypeError, ValueError):
        sig = None
    positional = []
    kwonly = set()
    if sig is not None:
        for p in sig.parameters.values():
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
                positional.append(p.name)
            elif p.kind == p.KEYWORD_ONLY:
                kwonly.add(p.name)
    wrt, atoms = [], []
    for i, a in enumerate(value.args):
        if is_active(a):
            if i >= len(positional):
                fail_at(info, ln, f"a differentiated value is passed to the *args of {describe(op.obj)}; "
                        "srcad differentiates named parameters only", "differentiated *args")
            wrt.append(i)
            atoms.append(a)
    for k in value.keywords:
        if k.arg is None or not is_active(k.value):
            if k.arg is None and is_active(k.value):
                fail_at(info, ln, f"a differentiated dict is unpacked with ** into {describe(op.obj)}",
                        "differentiated **kwargs")
            continue
        if k.arg in positional:
            wrt.append(positional.index(k.arg))
        elif k.arg in kwonly:
            wrt.append(k.arg)
        else:
            fail_at(info, ln, f"a differentiated value is passed by keyword '{k.arg}' into the **kwargs "
                    f"of {describe(op.obj)}; srcad differentiates named parameters only",
                    "differentiated **kwargs")
        atoms.append(k.value)
    return tuple(wrt), atoms


def appends_as_assignments(body, info, params, env):
    """``lst.append(v)`` on a list the function made (``lst = []``) becomes
    ``lst = list_append(lst, v)``: a new list each time, so both modes can follow the values (the
    backward sweep restores the old list; forward mode appends the tangent). Lists that came from
    outside keep their ``append`` (a side effect callers see); so do the stacks of generated code."""
    made_here = {st.targets[0].id for st in walk_stmts(body) if isinstance(st, gast.Assign)
                 and isinstance(st.targets[0], gast.Name) and isinstance(st.value, gast.List)}
    stacks = set()
    for st in walk_stmts(body):
        if isinstance(st, gast.Assign) and isinstance(st.targets[0], gast.Name) and \
                isinstance(st.value, gast.Call) and isinstance(st.value.func, gast.Name):
            ok, obj = info.resolve(st.value.func.id)
            if ok and obj is rt.Stack:
                stacks.add(st.targets[0].id)
    local_names = made_here - set(params) - stacks
    if not local_names:
        return body
    helper = env.ref_name("list_append", rt.list_append)
    info.extra.setdefault(helper, rt.list_append)   # forward mode resolves names through info

    def rewrite(stmts):
        out = []
        for s in stmts:
            for field in ("body", "orelse"):
                sub = getattr(s, field, None)
                if isinstance(sub, list) and sub:
                    setattr(s, field, rewrite(sub))
            call = s.value if isinstance(s, gast.Expr) else None
            if isinstance(call, gast.Call) and isinstance(call.func, gast.Attribute) and \
                    call.func.attr == "append" and isinstance(call.func.value, gast.Name) and \
                    call.func.value.id in local_names and len(call.args) == 1 and not call.keywords:
                lst = call.func.value.id
                value = gast.Call(func=N(helper), args=[N(lst), call.args[0]], keywords=[])
                out.append(assign(lst, value, s.lineno))
                continue
            out.append(s)
        return out
    return rewrite(body)
