"""Array ranks (``ndim``) and shapes known at transform time, from the ranks of the arguments.

Part of the analysis step (``analyze.Facts`` mixes it in). Both modes are specialised on the
ranks: where every operand of a rule is a scalar, adjoints need no ``unbroadcast``; the adjoints of
``@``/``np.dot`` become plain products; variables known to share one shape (``same_shape``) let
the backward sweep drop broadcasting it cannot need.
"""

import gast
import numpy as np

from srcad import guards, runtime as rt
from srcad.astutil import walk_stmts
from srcad.errors import TransformError
from srcad.rules.numpy_helpers import affine, affine2, dot_affine, dot_affine2, softmax_xent, sum_matmul


_REDUCTIONS = {np.sum, np.mean, np.prod, np.max, np.min, np.amax, np.amin, np.var, np.std,
               np.linalg.norm, np.nansum, np.average}
_REDUCING_METHODS = {"sum", "mean", "prod", "max", "min", "var", "std"}
_SCALAR_RESULTS = {softmax_xent, sum_matmul}   # whole expressions (srcad/patterns.py) whose value is a scalar
_UNSET = object()


def _const_kw(kwargs, name):
    v = kwargs.get(name)
    return v is None or (isinstance(v, gast.Constant) and v.value is None)


class RankFacts:
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
        if where.kind != "static":
            return None
        if isinstance(where.obj, float):   # generation counts it a scalar: guard its type only
            guards.note_value_type(self.info, node, where.obj)
        return where.obj

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
            if where.kind == "local":   # a function held in a variable: classify() decides
                return None
            obj = where.obj if where.kind == "static" else ("method", where.name)
            if where.kind == "static" and _hashable(obj) and obj in _CREATORS and value.args:
                return self._shape_rank(value.args[0], ranks)
            if where.kind == "static" and _hashable(obj) and obj in _LIKE and value.args:
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
            if _hashable(obj) and obj in _SCALAR_RESULTS:
                return 0
            if obj in _REDUCTIONS or (isinstance(obj, tuple) and obj[1] in _REDUCING_METHODS):
                if _const_kw(op.kwargs, "axis") and len(args) < 2:
                    return 0  # a full reduction is a scalar whatever its input
                keep, axis = op.kwargs.get("keepdims"), op.kwargs.get("axis")
                r = self._atom_rank(args[0], ranks) if args else None
                if not isinstance(r, int) or len(args) > 1 or obj is np.linalg.norm:
                    return r if r is _UNSET else None
                if isinstance(keep, gast.Constant) and keep.value is True:
                    return r              # keepdims: the input's rank
                if keep is None and isinstance(axis, gast.Constant) and isinstance(axis.value, int) and r >= 1:
                    return r - 1          # one axis reduced away
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
        agree, or it has no class. A parameter the function reassigns keeps its own class where
        every new value has the old one's shape (``x = x * 1.5 + np.sin(x)`` in a loop): the
        classes are the greatest fixpoint, so by induction over the run every value a variable
        of a class holds has that one shape. Used to drop ``unbroadcast`` where no broadcasting
        can happen, and the shapes a loop would otherwise push for it.
        """
        stmts = [s for s in walk_stmts(body)]
        cls = {p: p for p in self.params}
        unset = object()
        for name in self.locals:
            cls.setdefault(name, unset)
        fixed = set()   # no class, whatever the fixpoint says
        for s in stmts:
            if isinstance(s, gast.For):
                fixed.add(s.target.id)
            elif isinstance(s, gast.Assign) and not isinstance(s.targets[0], gast.Name):
                fixed.add(s.targets[0].value.id)   # assigned into: keep it simple
        for name in fixed:
            cls[name] = None
        # each variable's class only moves down (unset -> a class -> None): this settles
        for _ in range(2 * len(cls) + 3):
            found = {}
            for s in stmts:
                if isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Name):
                    found.setdefault(s.targets[0].id, []).append(self._class_expr(s.value, cls, unset))
            changed = False
            for name, cs in found.items():
                if name in fixed or cls.get(name) is None and name in self.mutated:
                    continue
                if name in self.params:
                    # its first value, the argument: of known rank (a list could change length)
                    cs = cs + [name if self.ranks.get(name) is not None else None]
                known = [c for c in cs if c is not unset]
                c = known[0] if known and all(k == known[0] for k in known) else (unset if not known else None)
                if cls.get(name) != c:
                    cls[name] = c
                    changed = True
            if not changed:
                break
        else:   # pragma: no cover - the classes settle within the bound
            return {}
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
            if where.kind != "static" or not isinstance(where.obj, np.ufunc) or where.obj is np.matmul \
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
_ELEMENTWISE = {abs, np.clip, np.where, np.copy, np.nan_to_num, np.real, np.imag,
                affine, dot_affine, affine2, dot_affine2}   # srcad/patterns.py: 2-D products and a bias


def _hashable(obj):
    try:
        hash(obj)
        return True
    except TypeError:
        return False


_CREATORS = {np.zeros, np.ones, np.empty, np.full}
_LIKE = {np.zeros_like, np.ones_like, np.empty_like, np.full_like, np.copy, rt.owned_copy, rt.copy_adjoint,
         rt.zeros_like, rt.stop_gradient, rt.float_items, rt.float_list}


def _is_range(it):
    return isinstance(it, gast.Call) and isinstance(it.func, gast.Name) and it.func.id in ("range",) or (
        isinstance(it, gast.Subscript) and _is_range(it.value))
