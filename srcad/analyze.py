"""Step 5: facts about a normalized function, carried in explicit data.

* ``classify`` names the operation a statement performs (which rule, which inputs);
* ``Facts`` holds activity (which variables depend on the differentiated inputs), where each
  variable is defined, which variables are stacks, and which may hold containers.
"""

import inspect
import sys
import types
import dataclasses
from dataclasses import dataclass
from typing import Any

import gast
import numpy as np

from srcad.aliasing import Aliasing, analyze_aliasing
from srcad.ranks import RankFacts, _hashable
from srcad.callees import resolve as resolve_callee
from srcad.errors import TransformError, fail_at
from srcad.parse import GENERATED
from srcad.astutil import N, assign, rewrite_blocks, walk_stmts
from srcad.astutil import walk
from srcad.rules.registry import FORWARD, NONDIFF, REVERSE, library_function, library_hint
from srcad import runtime as rt
from srcad.rules import more_helpers as _mh, numpy_helpers as _nh

BINOP_UFUNC = {gast.Add: np.add, gast.Sub: np.subtract, gast.Mult: np.multiply,
               gast.Div: np.true_divide, gast.Pow: np.power, gast.MatMult: np.matmul,
               gast.Mod: np.remainder}
UNARY_UFUNC = {gast.USub: np.negative, gast.UAdd: np.positive}
# ``//`` is piecewise constant; ``%`` has a derivative (np.remainder's rule) except as string formatting
NONDIFF_BINOPS = (gast.FloorDiv, gast.BitAnd, gast.BitOr, gast.BitXor, gast.LShift, gast.RShift)


@dataclass
class Op:
    """What one right-hand side computes.

    kind: 'atom' (copy of ``args[0]``), 'rule' (``template`` over ``bound``), 'nondiff',
    'call' (a user function ``obj``), 'getitem' (``args[0][index]``), 'build' (tuple/list),
    'dict' (``keys``), 'push'/'pop' (onto/from the stack ``args[0]``), 'unknown' (no rule: ``what``
    names it, ``key`` is the rule key a user could register, ``hint`` says what to do instead).
    """

    kind: str
    args: list = dataclasses.field(default_factory=list)    # atoms whose adjoints may receive contributions
    template: Any = None      # rule: the Template, and the atoms ``bound`` to its parameters
    bound: dict = None
    call_args: list = None    # rule: the positional arguments as written, and ``kwargs``
    kwargs: dict = None
    undiff: list = None       # rule: (parameter, atom) inputs the rule gives no derivative for
    obj: Any = None           # call / nondiff: the function called; ``nargs`` positional arguments
    nargs: int = None
    index: Any = None         # getitem
    keys: list = None         # dict
    what: str = None          # unknown (and rule): how refusals name the operation
    key: Any = None
    hint: str = None

    def __post_init__(self):
        self.args = list(self.args)

    def describe(self):
        return self.what or (describe(self.obj) if self.obj is not None else "call")


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


# runtime helpers whose result is a list/tuple/dict adjoint where the argument at these positions is
# a container ("always": whatever the arguments)
_CONTAINER_HELPERS = {rt.add_at: (0, 1), rt.put_at: (1,), rt.copy_adjoint: (0,), rt.owned_copy: (0,),
                      rt.add: (0, 1), rt.list_head: "always", rt.appended: "always", rt.list_append: "always",
                      rt.pop_at_adjoint: (1,), rt.grad_like: (1,), rt.owned_tangent: (1,),
                      rt.seq_part: "always", rt.seq_placed: "always", rt.seq_fold: "always",
                      rt.seq_times: "always", rt.seq_repeated: "always", rt.seq_scaled: "always",
                      rt.loop_seq_adjoint: "always", rt.loop_seq_tangent: "always",
                      # rule helpers: the adjoint of a list of arrays, the tangent of a tuple result
                      _nh.concat_adjoint: (1,), _nh.stack_adjoint: (1,), _mh.select_adjoint: (2,),
                      _mh.sorted_adjoint: (1,), _mh.sorted_tangent: "always", _mh.eigh_tangent: "always",
                      _mh.eig_tangent: "always", _nh.slogdet_tangent: "always",
                      _mh.lstsq_tangent_a: "always", _mh.lstsq_tangent_b: "always"}


class Facts(RankFacts):
    def __init__(self, info, body, params, local_names, wrt, mode="reverse", ranks=None, helper=False,
                 result_var=None):
        self.info = info
        self.params = params
        self.locals = set(local_names)
        self.mode = mode
        self.table = REVERSE if mode == "reverse" else FORWARD
        self.stacks = set()
        self._ops = {}
        self._lines = {}      # id of a statement's value -> the statement's line
        self._wrt = set(wrt)
        self._values = {}     # name -> the values assigned to it (by whole-name assignments)
        self.defs = {}        # name -> list of (in_loop, depth)
        self.mutated = set()  # names assigned into by subscript
        self.containers = set()
        for p in params:
            self.defs[p] = [(False, 0)]
        self._scan(body, False, 0)
        self.active = self._activity(body, set(wrt))
        self.makes_complex = self._makes_complex(body)
        self._refuse_underived(body)
        self._refuse_spread(body)
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
                                         self.callee(v.func).obj in (sum, rt.loop_seq)):
                    found |= {a.id for a in op.args if isinstance(a, gast.Name)}
        # ``g = gates`` copies a name: where the copy may hold a list, so may the original (the
        # copy's adjoint is added into the original's), and the other way round
        copies = [(s.targets[0].id, s.value.id) for s in walk_stmts(body) if isinstance(s, gast.Assign)
                  and isinstance(s.targets[0], gast.Name) and isinstance(s.value, gast.Name)]
        changed = True
        while changed:
            changed = False
            for a, b in copies:
                if (a in found) != (b in found):
                    found |= {a, b}
                    changed = True
        return {n for n in found if not isinstance(self.ranks.get(n), int)}

    # ------------------------------------------------------------------ callee resolution
    def callee(self, func):
        """The ``callees.Callee`` of a call's callee expression (noted for the guards)."""
        return resolve_callee(func, self.info, self.locals)

    def classify(self, value):
        """The Op computed by a normalized right-hand side (memoised per node)."""
        hit = self._ops.get(id(value))
        if hit is not None and hit[0] is value:
            return hit[1]
        try:
            op = self._classify(value)
        except TransformError as e:   # (a call that does not match its rule: refused at its line)
            line = self._lines.get(id(value))
            if e.lineno is None and line is not None:
                fail_at(self.info, line, e.reason, e.construct)
            raise
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
                names = [n for n in walk(value.slice) if isinstance(n, gast.Name)
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
        if where.kind == "method":
            receiver, name = where.receiver, where.name
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
        if where.kind == "local":
            return Op("unknown", list(call.args) + list(kwargs.values()),
                      what=f"a function held in the local variable '{where.name}'" if where.name
                      else "a computed function", key=None)
        obj = where.obj
        inner = getattr(obj, "__srcad_function__", None)
        if inner is not None:
            obj = inner()
        tpl = _lookup(self.table, obj)
        if tpl is not None:
            internal = (getattr(obj, "__module__", None) or "").split(".")[0] == "srcad"
            return self._rule(tpl, list(call.args), kwargs, describe(obj), internal=internal)
        if _nondiff(obj) or (isinstance(obj, types.MethodType) and _nondiff(obj.__func__)):   # log.debug
            return Op("nondiff", list(call.args) + list(kwargs.values()), obj=obj)
        if obj is rt.pop_at and self.mode == "reverse":
            return Op("unknown", list(call.args) + list(kwargs.values()), what=describe(obj), key=None,
                      hint="reverse mode over a gradient that writes into a list or dict entry is not "
                           "supported (the entry's adjoint is zeroed in place); use srcad.hessian(f) or "
                           "srcad.jacobian(srcad.grad(f), mode='forward')")
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
        dtype = kwargs.get("dtype")
        if dtype is not None and "dtype" not in tpl.params:
            kwargs = {k: v for k, v in kwargs.items() if k != "dtype"}   # ``np.array(v, dtype=float)``
        try:
            bound = tpl.bind(args, kwargs)
        except TypeError as exc:   # refused where the call is differentiated, naming its line
            return Op("unknown", list(args) + list(kwargs.values()), what=f"{what} called this way", key=None,
                      hint=f"its rule does not take this call ({exc})")
        dtype = bound.get("dtype", dtype)
        if dtype is not None and not internal and not _reads_name(tpl, "dtype") and \
                not (isinstance(dtype, gast.Constant) and dtype.value is None):
            # ``np.sum(v, dtype=int)``: a result of an integer dtype is piecewise constant (a rule
            # that ignores its dtype passed the value's derivative through the truncation)
            kind = self._dtype_kind(dtype)
            if kind is None or kind not in "fciub":
                raise TransformError(f"{what} with a dtype srcad cannot read when it generates the derivative "
                                     "(write the dtype out: float, np.float32, int)", self.info.filename, None, what)
            if kind in "iub":
                return Op("nondiff", list(args) + list(kwargs.values()))
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
        obj = where.obj if where.kind == "static" else None
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
            what = describe(obj) if obj is not None else f"method .{where.name}()"
            fail_at(self.info, getattr(s, "lineno", None), f"{what} with {given} writes its result into an "
                    "existing array, which srcad does not differentiate; assign the result instead "
                    "(`y = f(x)`)", "out= argument")

    def _scan(self, stmts, in_loop, depth):
        for s in stmts:
            if isinstance(s, (gast.Assign, gast.Expr)) and getattr(s, "lineno", None) is not None:
                self._lines[id(s.value)] = s.lineno
            if isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Name):
                self._values.setdefault(s.targets[0].id, []).append(s.value)
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
                        if where and where.kind == "static" and where.obj is rt.Stack:
                            self.stacks.add(t.id)
                        if where and where.kind == "static" and isinstance(where.obj, types.FunctionType) \
                                and _lookup(self.table, where.obj) is None:
                            self.containers.add(t.id)
                        if where and where.kind == "static" and where.obj in (rt.seq_concat, rt.seq_repeat):
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
                # generated code (a derivative differentiated again): the adjoint of a list is a list
                elif isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Name) and \
                        isinstance(s.value, gast.Call) and isinstance(s.value.func, gast.Name) and \
                        s.targets[0].id not in self.containers and self.container_adjoint(s.value):
                    self.containers.add(s.targets[0].id)
                    changed = True
        for s in walk_stmts(stmts):
            if isinstance(s, gast.Assign) and isinstance(s.value, gast.Subscript) and \
                    isinstance(s.value.value, gast.Name) and s.value.value.id in self.params and \
                    _is_key(s.value.slice):
                self.containers.add(s.value.value.id)

    def container_adjoint(self, call):
        """Is ``call`` a runtime helper that returns a container (when its argument is one)? Generated
        code adds such adjoints element-wise: ``+`` would join two tuples."""
        if not isinstance(call, gast.Call) or not isinstance(call.func, gast.Name):
            return False
        try:
            where = self.callee(call.func)
        except TransformError:
            return False
        if where.kind != "static" or not _hashable(where.obj):
            return False
        positions = _CONTAINER_HELPERS.get(where.obj)
        if positions is None:
            return False
        if positions == "always":
            return True
        return any(i < len(call.args) and isinstance(call.args[i], gast.Name) and
                   call.args[i].id in self.containers for i in positions)

    def _makes_complex(self, body):
        """Can the code make a complex value from real ones (``np.fft``, ``np.emath``, a complex
        dtype)? Then a scalar output is checked at run time (``seed``): ``grad`` of a complex
        output is refused, not given the gradient of its real part."""
        for n in walk(gast.Module(body=body, type_ignores=[])):
            if isinstance(n, gast.Constant) and isinstance(n.value, complex) or \
                    isinstance(n, gast.keyword) and n.arg == "dtype" or \
                    isinstance(n, gast.Attribute) and n.attr in ("astype", "view"):
                return True
            if isinstance(n, gast.Call):
                try:
                    where = self.callee(n.func)
                except TransformError:
                    continue
                if where is None or where.kind != "static":
                    continue
                obj = where.obj
                mod = getattr(obj, "__module__", None) or ""
                if obj is complex or mod.startswith(("numpy.fft", "numpy.lib.scimath", "scipy.fft")) or \
                        getattr(obj, "__name__", "") in ("eig", "eigvals", "roots", "astype"):
                    return True
        return False

    def _refuse_underived(self, body):
        """A differentiated value passed to an argument the rule has no derivative for (``ord`` of
        np.linalg.norm, ``ddof`` of np.var, ``out=``) is refused at its line, not given zero."""
        for st in walk_stmts(body):
            if not (isinstance(st, gast.Assign) and isinstance(st.targets[0], gast.Name)):
                continue
            op = self.classify(st.value)
            if op.kind != "rule":
                continue
            for pname, node in op.undiff or ():
                if any(isinstance(n, gast.Name) and n.id in self.active for n in walk(node)):
                    fail_at(self.info, st.lineno, f"{op.what} has no derivative with respect to its "
                            f"argument '{pname}', which depends on the differentiated inputs",
                            op.what)

    def _refuse_spread(self, body):
        """``f(*args)`` or ``f(**kw)`` whose spread value is differentiated, where srcad could not
        see its items (normalize.py spreads displays bound once): refused at its line, since no
        rule or kept call follows a derivative through it (it was given zero, silently)."""
        for st in walk_stmts(body):
            if not isinstance(st, (gast.Assign, gast.Expr)) or not isinstance(st.value, gast.Call):
                continue
            call = st.value
            spread = [a.value for a in call.args if isinstance(a, gast.Starred)]
            spread += [k.value for k in call.keywords if k.arg is None]
            if not spread:
                continue
            kind = self.classify(call).kind
            if kind == "call" and any(self.is_active(a) for a in call.args if not isinstance(a, gast.Starred)):
                # ``g(*args[:2], v)``: where ``v`` lands among g's parameters is known only when it runs
                fail_at(self.info, st.lineno, "srcad cannot differentiate a call with a differentiated argument "
                        "beside a * or ** spread of a sequence it cannot see: which parameter the argument "
                        "fills is known only when it runs; pass the arguments one by one",
                        "starred argument (*args)")
            if any(self.is_active(v) for v in spread) and kind != "nondiff":
                what = self.classify(call).what or "a call"
                fail_at(self.info, st.lineno, "srcad cannot differentiate a differentiated value spread with * or "
                        f"** into {what}: srcad sees the items of a tuple, list or dict display bound once in "
                        "the function; pass the arguments one by one", "starred argument (*args)")

    def is_active(self, atom):
        return isinstance(atom, gast.Name) and atom.id in self.active

    def _integer_arrays(self, stmts):
        """Names every assignment of which makes an integer or boolean array with an explicit dtype
        (``np.zeros(3, dtype=int)``, ``v.astype(np.int64)``): a float written into one is truncated
        (``y[0] = x * 10.0``), so the write carries no derivative and does not make it active."""
        makers = {np.zeros, np.ones, np.empty, np.full, np.zeros_like, np.ones_like, np.empty_like,
                  np.full_like, np.array, np.asarray, np.arange, np.eye, np.identity}
        verdict = {}
        stores, loads = {}, {}
        for s in stmts:
            for n in walk(s):
                if isinstance(n, gast.Name):
                    seen = stores if isinstance(n.ctx, gast.Store) else loads
                    seen[n.id] = seen.get(n.id, 0) + 1
        # list displays the normalizer named (``list_1 = [1, 2, 3]; y = np.array(list_1)``), read
        # once (an ``append`` could have added a float)
        self._displays = {s.targets[0].id: s.value for s in stmts if isinstance(s, gast.Assign)
                          and isinstance(s.targets[0], gast.Name) and isinstance(s.value, (gast.List, gast.Tuple))
                          and stores.get(s.targets[0].id) == 1 and loads.get(s.targets[0].id) == 1}
        for s in stmts:
            for t in (s.targets if isinstance(s, gast.Assign) else [getattr(s, "target", None)]):
                if not isinstance(t, gast.Name):
                    continue
                v = s.value if isinstance(s, gast.Assign) else None
                verdict[t.id] = verdict.get(t.id, True) and isinstance(v, gast.Call) and \
                    self._integer_dtype_call(v, makers)
        return {n for n, ok in verdict.items() if ok}

    def _dtype_kind(self, node):
        """The kind (``np.dtype(...).kind``) of a dtype written in the code, or None."""
        if isinstance(node, gast.Name) and len(self._values.get(node.id, ())) == 1:
            node = self._values[node.id][0]      # (``dtype_1 = x.dtype``: the normalizer's name)
        if isinstance(node, gast.Attribute) and node.attr == "dtype" and isinstance(node.value, gast.Name) \
                and node.value.id in self._wrt and len(self.defs.get(node.value.id, ())) == 1:
            return "f"      # ``x.dtype`` of a differentiated argument (floating point)
        if isinstance(node, gast.Constant) and isinstance(node.value, str):
            value = node.value
        else:
            try:
                where = self.callee(node)
            except TransformError:
                return None
            if where is None or where.kind != "static":
                return None
            value = where.obj
        try:
            return np.dtype(value).kind
        except TypeError:
            return None

    def _integer_dtype_call(self, call, makers):
        dtype = next((k.value for k in call.keywords if k.arg == "dtype"), None)
        if isinstance(call.func, gast.Attribute) and call.func.attr == "astype":
            dtype = call.args[0] if call.args else dtype
        else:
            try:
                where = self.callee(call.func)
            except TransformError:
                return False
            if where is None or where.kind != "static" or not any(where.obj is m for m in makers):
                return False
            fn = where.obj
            at = 2 if fn is np.full else 1   # the positional dtype (``np.zeros(3, int)``)
            if dtype is None and len(call.args) > at and fn not in (np.arange, np.eye, np.identity):
                dtype = call.args[at]
            if dtype is None and call.args and not call.keywords:
                # ``np.arange(3)``, ``np.array([1, 2, 3])``: integers written out make integers
                if fn is np.arange:
                    return all(isinstance(a, gast.Constant) and type(a.value) is int for a in call.args)
                if fn in (np.array, np.asarray) and len(call.args) == 1:
                    arg = call.args[0]
                    if isinstance(arg, gast.Name):
                        arg = self._displays.get(arg.id)
                    return _int_display(arg, self._displays)
        if dtype is None:
            return False
        if isinstance(dtype, gast.Constant) and isinstance(dtype.value, str):
            value = dtype.value
        else:
            try:
                where = self.callee(dtype)
            except TransformError:
                return False
            if where is None or where.kind != "static":
                return False
            value = where.obj
        try:
            return np.dtype(value).kind in "iub"
        except TypeError:
            return False

    def _activity(self, body, active):
        stmts = list(walk_stmts(body))
        integer = self.integer_arrays = self._integer_arrays(stmts) - set(active)
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
                        if isinstance(s.value, gast.Name) and s.value.id in active and t.value.id not in active \
                                and t.value.id not in integer:
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


_FLOAT_MAKERS = (np.zeros, np.ones, np.empty, np.eye, np.identity, np.linspace, np.logspace)
_COPIES = (np.zeros_like, np.ones_like, np.empty_like, np.copy, np.array, np.asarray, np.ascontiguousarray)


def guard_truncating_writes(body, facts, wrt, local_names, env, namer):
    """``y[i] = v`` where ``v`` carries a derivative and ``y`` may be an integer or boolean array that
    srcad cannot see (an argument not differentiated, a copy of one, what a call returned): NumPy
    truncates ``v``, so the write must carry no derivative there. Such a write stores
    ``stored_1 = as_stored(v, y)``, whose rules pass the derivative only where ``y``'s dtype is
    inexact, at run time. Writes into arrays known to hold floats (made with NumPy's float
    defaults, copied from a differentiated value) and known integer arrays (``Facts.integer_arrays``)
    are left as they are. Returns (body, whether a write changed)."""
    inexact = _known_inexact(body, facts, wrt)
    helper = []

    def one(s):
        t = s.targets[0] if isinstance(s, gast.Assign) else None
        if not (isinstance(t, gast.Subscript) and isinstance(t.value, gast.Name) and facts.is_active(s.value)
                and t.value.id not in inexact and (t.value.id not in facts.integer_arrays or
                                                   t.value.id in facts.active)):   # ``x.astype(int)``
            return [s]
        if not helper:
            helper.append(env.ref_name("as_stored", rt.as_stored))
            facts.info.extra.setdefault(helper[0], rt.as_stored)
        tmp = namer.fresh("stored")
        local_names.add(tmp)
        call = gast.Call(func=N(helper[0]), args=[s.value, N(t.value.id)], keywords=[])
        s.value = N(tmp)
        return [assign(tmp, call, s.lineno), s]
    body = rewrite_blocks(body, one)
    return body, bool(helper)


def _known_inexact(body, facts, wrt):
    """Names that hold floating-point values (or lists, dicts) wherever they are defined: the
    differentiated parameters, NumPy's float makers without a ``dtype``, copies and arithmetic of
    such names, and values computed with a derivative from a differentiated value."""
    defs = {}
    for p in facts.params:
        defs.setdefault(p, []).append(None if p not in wrt else gast.Constant(value=0.0, kind=None))
    for s in walk_stmts(body):
        targets = s.targets if isinstance(s, gast.Assign) else [getattr(s, "target", None)]
        if isinstance(s, gast.AugAssign):
            continue            # keeps an array's dtype
        for t in targets:
            for n in gast.walk(t) if t is not None else ():
                if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store):
                    whole = isinstance(s, gast.Assign) and t is n
                    defs.setdefault(n.id, []).append(s.value if whole else None)
    known = set(defs)
    changed = True
    while changed:
        changed = False
        for name in list(known):
            if not all(v is not None and _inexact_value(v, known, facts) for v in defs[name]):
                known.discard(name)
                changed = True
    return known


def _inexact_value(v, known, facts):
    if isinstance(v, gast.Constant):
        return isinstance(v.value, (float, complex))
    if isinstance(v, gast.Name):
        return v.id in known
    if isinstance(v, (gast.List, gast.Tuple)):
        # what ``np.array`` of the display holds (a list itself stores what it is given: its
        # write merely keeps the guard)
        return any(_inexact_value(e, known, facts) or facts.is_active(e) for e in v.elts)
    if isinstance(v, (gast.Dict, gast.DictComp)):
        return True
    if isinstance(v, gast.Subscript):
        return _inexact_value(v.value, known, facts)
    if isinstance(v, gast.UnaryOp):
        return _inexact_value(v.operand, known, facts)
    if isinstance(v, gast.BinOp):
        if isinstance(v.op, gast.Mult) and any(isinstance(o, (gast.List, gast.Tuple)) for o in (v.left, v.right)):
            return any(_inexact_value(o, known, facts) for o in (v.left, v.right)
                       if isinstance(o, (gast.List, gast.Tuple)))      # ``[0.0] * n``
        if isinstance(v.op, gast.Div):
            return True         # true division makes floats of integers
        return not isinstance(v.op, NONDIFF_BINOPS[1:]) and \
            any(_inexact_value(o, known, facts) or facts.is_active(o) for o in (v.left, v.right))
    if not isinstance(v, gast.Call):
        return False
    if any(k.arg == "dtype" for k in v.keywords) or \
            isinstance(v.func, gast.Attribute) and v.func.attr in ("astype", "view"):
        return False            # (an explicit dtype: left to integer_arrays, or guarded)
    if isinstance(v.func, gast.Attribute) and v.func.attr == "copy" and not v.args:
        return _inexact_value(v.func.value, known, facts)
    try:
        where = facts.callee(v.func)
    except TransformError:
        return False
    obj = where.obj if where is not None and where.kind == "static" else None
    if any(obj is m for m in _FLOAT_MAKERS):
        return True
    if any(obj is m for m in _COPIES):
        return bool(v.args) and _inexact_value(v.args[0], known, facts)
    try:
        op = facts.classify(v)
    except TransformError:
        return False
    return op.kind != "nondiff" and any(facts.is_active(a) for a in op.args)


def _reads_name(tpl, name):
    """Whether the rule template ``tpl`` reads its parameter ``name``."""
    return any(isinstance(n, gast.Name) and n.id == name for st in tpl.body for n in gast.walk(st))


def _int_display(node, displays):
    """A list or tuple display of int constants (nested), which NumPy makes an integer array."""
    if isinstance(node, gast.Name):
        node = displays.get(node.id)
    if isinstance(node, (gast.List, gast.Tuple)):
        return bool(node.elts) and all(_int_display(e, displays) for e in node.elts)
    return isinstance(node, gast.Constant) and type(node.value) is int


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
                    facts.callee(v.func).is_(rt.loop_seq):
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
