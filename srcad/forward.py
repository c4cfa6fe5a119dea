"""Step 6 (the other mode): forward mode, tangent statements interleaved with the primal ones, no stack.

``forward_derivative(fn, wrt)`` builds ``jvp_<name>(<params>, *, d<p>...)`` which returns
``(value, tangent of value)`` for the tangents of the positional parameters ``wrt``.

Each primal statement ``t = op(a, b)`` is followed by ``dt = <forward rule of op>`` (or preceded by
it when the statement overwrites one of its own inputs). Tangents are tracked symbolically: a
tangent nobody wrote is known to be zero at transform time and costs nothing; terms of a rule whose
input tangent is zero are dropped. Where control flow joins a known-zero tangent with a live one,
the zero is made real (``dt = zeros_like(t)``, or ``0.0`` where ``t`` may not exist yet).

Aliasing: a tangent may be the very object another tangent is (``db = da`` for ``b = a + 0``, or a
user's tangent array). Tangents are written in place (``dx[i] = dv``, ``pop_at``, ``add_at``) only
when they are known to be private ("owned"); otherwise a private copy is made first.

Generated reverse code (``Stack()``, ``stack.append(v)``, ``v = stack.pop()`` and the runtime
helpers) is handled too, so ``hessian`` can run forward mode over a generated gradient: a stack that
receives differentiated values gets a tangent stack ``d<stack>`` kept aligned with it (a tangent,
or 0.0, for every push; a pop for every pop).
"""

import copy

import gast
import numpy as np

from srcad import runtime as rt
from srcad.rules import norm_helpers as nm
from srcad.adjoints import Live, loop_fixpoint, merge
from srcad.analyze import call_wrt
from srcad.callees import resolve as resolve_callee
from srcad.astutil import N, assign, at, exposed_names, index_value, names_read
from srcad.astutil import call as _call, const as _const
from srcad.astutil import walk
from srcad.errors import fail_at
from srcad.tangent_stacks import GeneratedCode, push_partners
from srcad.optimize import simplify
from srcad.rules.registry import splice_forward



def _fresh_objects():
    """Functions whose result is a new object nobody else holds (besides every NumPy ufunc)."""
    return (rt.copy_adjoint, rt.owned_copy, rt.owned_tangent, rt.zeros_like, np.sum, np.mean, np.copy,
            np.dot, np.matmul, np.tensordot, np.einsum, np.outer, np.prod, np.cumsum, np.where,
            np.concatenate, np.stack, rt.matmul_adjoint_a, rt.matmul_adjoint_b, rt.dot_adjoint_a,
            rt.dot_adjoint_b, nm.norm_adjoint, nm.norm_adjoint_dx, nm.norm_adjoint_dy)




class State:
    """Live tangents (absent: known zero) and the variables certainly defined at a point."""

    def __init__(self, tans=None, defined=()):
        self.tans = dict(tans or {})
        self.defined = set(defined)

    def copy(self):
        return State(self.tans, self.defined)


class Forward(GeneratedCode):
    """Builds the body of the forward-mode derivative of one normalized function."""

    def __init__(self, info, norm, body, facts, ret_name, wrt, env, derivative_of_call):
        self.info = info
        self.norm = norm
        self.namer = norm.namer
        self.body = body
        self.facts = facts
        self.split_temps = facts.split_temps
        self.ret_name = ret_name
        self.wrt = list(wrt)
        self.env = env
        self.derivative_of_call = derivative_of_call
        self.tangents = {}
        self.views = {}   # name -> the variable whose subscript it was (its tangent may be a view)
        self.pushed = {}  # id(push statement) -> the tangent's state there (joined over passes)
        self.partner = push_partners(self.body, self.facts.stacks)
        self.loops = []   # per enclosing loop: {"exit": State guess, "breaks": [State]}

    # ------------------------------------------------------------------ names and errors
    def fail(self, msg, lineno, construct):
        fail_at(self.info, lineno, msg, construct)

    def dname(self, name):
        if name not in self.tangents:
            self.tangents[name] = self.namer.adjoint(name)
        return self.tangents[name]

    def build(self):
        """Returns (prelude + body statements, return-value expression of the tangent)."""
        for w in self.wrt:
            self.dname(w)
        st = State({w: Live(False) for w in self.wrt}, self.norm.params)
        body = self.body
        ret_stmt = body[-1]
        code, st = self.block(body[:-1], st)
        ln = getattr(ret_stmt, "lineno", self.info.lineno)
        ret = self.ret_name
        tan = st.tans.get(ret) if st is not None else None
        if tan is None:
            tangent = _call(self.env.ref("zeros_like"), [N(ret)])
        elif tan.maybe_zero or ret in self.facts.containers:   # 0.0 placeholders inside a tuple too
            tangent = _call(self.env.ref("grad_like"), [N(self.dname(ret)), N(ret)])
        else:
            tangent = N(self.dname(ret))
        prelude = []
        for n in sorted(self.facts.mutated & set(self.norm.params)):
            prelude.append(assign(n, _call(self.env.ref("owned_copy"), [N(n)]), self.info.lineno))
        return prelude + code, tangent, ln

    # ------------------------------------------------------------------ blocks
    def block(self, stmts, st):
        out = []
        for s in stmts:
            if st is None:      # after a break: unreachable
                break
            code, st = self.stmt(s, st)
            out += code
        return out, st

    def stmt(self, s, st):
        ln = getattr(s, "lineno", self.info.lineno)
        if isinstance(s, gast.Assign):
            t = s.targets[0]
            if isinstance(t, gast.Name):
                code = self.assign(s, t.id, st, ln)
                st.defined.add(t.id)
                return code, st
            if isinstance(t, gast.Subscript):
                return self.setitem(s, t, st, ln), st
            self.fail("unexpected assignment target", ln, "assignment")
        if isinstance(s, gast.If):
            return self.if_(s, st, ln)
        if isinstance(s, gast.While):
            return self.while_(s, st, ln)
        if isinstance(s, gast.For):
            return self.for_(s, st, ln)
        if isinstance(s, gast.Break):
            return self.break_(s, st, ln)
        if isinstance(s, gast.Expr):
            return self.expr(s, st, ln), st
        if isinstance(s, gast.Return):
            self.fail("return inside the body was not restructured", ln, "return")
        return [s], st   # pass, continue, assert, raise

    # ------------------------------------------------------------------ zero tangents made real
    def materialize(self, name, st, ln):
        """``dname`` is a known zero here but must hold a value: returns the statement, sets st."""
        if name in st.defined:
            st.tans[name] = Live(True, False)
            return assign(self.dname(name), _call(self.env.ref("zeros_like"), [N(name)]), ln)
        st.tans[name] = Live(True, True)
        return assign(self.dname(name), _const(0.0), ln)

    def settle(self, name, st, ln):
        """Statements that make a maybe-0.0 tangent shaped like its primal (before a rule reads it)."""
        tan = st.tans.get(name)
        if tan is None or not tan.maybe_zero:
            return []
        st.tans[name] = Live(tan.owned, False)
        d = self.dname(name)
        return [assign(d, _call(self.env.ref("grad_like"), [N(d), N(name)]), ln)]

    def own(self, name, st, ln, shaped=False):
        """Statements that make ``dname`` private (and shaped like the primal if ``shaped``)."""
        tan = st.tans.get(name)
        d = self.dname(name)
        if tan is None:
            st.tans[name] = Live(True)
            return [assign(d, _call(self.env.ref("zeros_like"), [N(name)]), ln)]
        if tan.owned and not (shaped and tan.maybe_zero):
            return []
        st.tans[name] = Live(True)
        if shaped:
            return [assign(d, _call(self.env.ref("owned_tangent"), [N(d), N(name)]), ln)]
        st.tans[name] = Live(True, tan.maybe_zero)
        return [assign(d, _call(self.env.ref("copy_adjoint"), [N(d)]), ln)]

    def _may_alias_written(self, expr):
        """May ``expr`` be (a view of) the tangent of a variable that is written into (``x[i] = v``)?"""
        if isinstance(expr, (gast.BinOp, gast.UnaryOp)) or self._fresh(expr):
            return False
        inverse = {v: k for k, v in self.tangents.items()}
        written = self.facts.mutated
        for n in walk(expr):
            if isinstance(n, gast.Name) and n.id in inverse:
                name = inverse[n.id]
                if name in written or self.views.get(name) in written:
                    return True
        return False

    def shared(self, expr, st):
        """Tangents read by a non-fresh expression may now be shared: no longer owned."""
        if isinstance(expr, (gast.BinOp, gast.UnaryOp)):
            return
        if self._fresh(expr):
            return
        inverse = {v: k for k, v in self.tangents.items()}
        for n in walk(expr):
            if isinstance(n, gast.Name) and n.id in inverse:
                name = inverse[n.id]
                if name in st.tans:
                    st.tans[name] = Live(False, st.tans[name].maybe_zero)

    def _fresh(self, expr):
        """Is ``expr`` certainly a new object (so it shares no tangent it reads)?"""
        if isinstance(expr, (gast.BinOp, gast.UnaryOp)):
            return True
        if not isinstance(expr, gast.Call):
            return False
        where = resolve_callee(expr.func, self.info, (), strict=False)
        if where is None or where.kind != "static":
            return False
        return isinstance(where.obj, np.ufunc) or any(where.obj is f for f in _fresh_objects())

    def live(self, atom, st):
        return isinstance(atom, gast.Name) and atom.id in st.tans

    # ------------------------------------------------------------------ statements
    def assign(self, s, t, st, ln):
        value = s.value
        op = self.facts.classify(value)
        dt = None
        if t in self.facts.stacks or op.kind == "pop":
            return self.stack_assign(s, t, op, st, ln)
        if op.kind == "unknown" and any(self.live(a, st) for a in op.args):
            hint = op.hint or ("give it a derivative rule (see docs/rules.md)"
                                                 if op.key is not None else "call it by a global name")
            self.fail(f"no forward derivative rule for {op.what}; {hint}", ln, op.what)
        if op.kind == "call":
            return self.call(s, t, op, st, ln)
        special = self.special(s, t, op, st, ln)
        if special is not None:
            return special
        pre, expr, tan = self.tangent_of(t, op, value, st, ln)
        if expr is None:
            st.tans.pop(t, None)
            return pre + [s]
        dt = self.dname(t)
        tstmts = pre + [assign(dt, expr, ln)]
        for x in tstmts:
            x.lineno = ln
        if op.kind == "getitem" and isinstance(op.args[0], gast.Name):
            self.views[t] = op.args[0].id   # its tangent may be a view of that tangent
        if op.kind not in ("getitem", "build", "dict"):   # these mirror the primal's sharing
            if self._may_alias_written(expr):
                # a tangent that may be the same array as one written in place later (``dm =
                # dx`` for ``m = np.mod(x, c)``, then ``x[:] = v``): take a copy, so the written
                # tangent keeps its identity, which views of it rely on
                tstmts[-1].value = _call(self.env.ref("copy_adjoint"), [tstmts[-1].value])
                tan = Live(True, tan.maybe_zero)
            else:
                self.shared(expr, st)
        st.tans[t] = tan
        if t in names_read([value]) and t in names_read(tstmts):
            return tstmts + [s]     # the tangent reads the old value of t
        return [s] + tstmts

    def tangent_of(self, t, op, value, st, ln):
        """(statements, tangent expression or None, Live state) for ``t = value``."""
        kind = op.kind
        if kind == "atom":
            a = op.args[0]
            if self.live(a, st):
                # ``x = x_new_1`` (split_self_reads): the temporary is not read again, so x's
                # tangent is as private as the temporary's was
                owned = st.tans[a.id].owned and a.id in self.split_temps
                return [], N(self.dname(a.id)), Live(owned, st.tans[a.id].maybe_zero)
            return [], None, None
        if kind == "rule":
            tpl = op.template
            pre, tangents = [], {}
            for p in tpl.diff_params:
                a = op.bound.get(p)
                if self.live(a, st):
                    pre += self.settle(a.id, st, ln)
                    tangents[p] = N(self.dname(a.id))
            if not tangents:
                return [], None, None
            values = dict(op.bound)
            values[tpl.out] = N(t)
            stmts, expr = splice_forward(tpl, values, tangents, self.namer.fresh, self.env.ref, (self.info, ln))
            if expr is None:
                return [], None, None
            expr = simplify(expr, self.env, lambda a: self.facts.ranks.get(a.id) if isinstance(a, gast.Name) else None)
            return pre + stmts, expr, Live(self._fresh(expr))
        if kind == "getitem":
            x = op.args[0]
            if not self.live(x, st):
                return [], None, None
            dx = self.dname(x.id)
            if st.tans[x.id].maybe_zero or x.id in self.facts.containers:
                e = _call(self.env.ref("tuple_get"), [N(dx), index_value(op.index, self.env.ref)])
                return [], e, Live(False, True)
            return [], gast.Subscript(value=N(dx), slice=copy.deepcopy(op.index), ctx=gast.Load()), Live(False)
        if kind in ("build", "dict"):
            if not any(self.live(a, st) for a in op.args):
                return [], None, None
            elts = [N(self.dname(a.id)) if self.live(a, st) else _const(0.0) for a in op.args]
            if kind == "dict":
                e = gast.Dict(keys=[copy.deepcopy(k) for k in op.keys], values=elts)
            else:
                e = type(value)(elts=elts, ctx=gast.Load())
            # the container holds the elements' tangents themselves, as the primal holds the
            # elements: an element written in place later is seen through both alike
            return [], e, Live(isinstance(value, gast.List) or kind == "dict", False)
        return [], None, None

    def call(self, s, t, op, st, ln):
        """``t = g(a, b)`` for a user function g: ``t, dt = jvp_g(a, b, da=da)``.

        Differentiated keyword arguments (the seed ``d<out>=...`` that generated gradients pass to
        the gradients of the functions they call) are differentiated by name.
        """
        wrt, live = call_wrt(self.info, op, s.value, lambda a: self.live(a, st), ln)
        if not wrt:
            st.tans.pop(t, None)
            return [s]
        arg_ranks = tuple(self.facts.ranks.get(a.id) if isinstance(a, gast.Name) else
                          (0 if isinstance(a, gast.Constant) and isinstance(a.value, (int, float)) else None)
                          for a in op.args)
        fn_node, tangent_names = self.derivative_of_call(op.obj, wrt, ln,
                                                         arg_ranks)
        pre = []
        keywords = [gast.keyword(arg=k.arg, value=copy.deepcopy(k.value)) for k in s.value.keywords]
        for a, tn in zip(live, tangent_names):
            pre += self.settle(a.id, st, ln)
            keywords.append(gast.keyword(arg=tn, value=N(self.dname(a.id))))
            st.tans[a.id] = Live(False, False)
        call = _call(fn_node, [copy.deepcopy(a) for a in s.value.args], keywords)
        target = gast.Tuple(elts=[N(t, True), N(self.dname(t), True)], ctx=gast.Store())
        st.tans[t] = Live(False)
        return pre + [at(gast.Assign(targets=[target], value=call, type_comment=None), ln)]

    def setitem(self, s, target, st, ln):
        x = target.value.id
        v = s.value
        v_live = self.live(v, st)
        if not v_live and x not in st.tans or x in getattr(self.facts, "integer_arrays", ()):
            return [s]   # (a float written into an integer array is truncated: no tangent)
        out = [s]
        out += self.own(x, st, ln, shaped=True)
        dv = N(self.dname(v.id)) if v_live else _const(0.0)
        if v_live and (x in self.facts.containers or self.facts.ranks.get(x) is None):
            # a list or dict keeps a reference to v's tangent; an array copies it (``dx[i] = dv``
            # leaves dv private)
            st.tans[v.id] = Live(False, st.tans[v.id].maybe_zero)
        tgt = gast.Subscript(value=N(self.dname(x)), slice=copy.deepcopy(target.slice), ctx=gast.Store())
        out.append(at(gast.Assign(targets=[tgt], value=dv, type_comment=None), ln))
        st.tans[x] = Live(True, False)
        return out

    def expr(self, s, st, ln):
        call = s.value
        op = self.facts.classify(call)
        if op.kind == "push":
            return self.push(s, op, st, ln)
        if op.kind == "nondiff":
            return [s]
        effect = self.helper_effect(s, st, ln)
        if effect is not None:
            return effect
        if any(self.live(a, st) for a in op.args):
            what = op.describe()
            self.fail(f"a call made for its side effects ({what}) receives a differentiated value; "
                      "srcad cannot follow values through side effects. Assign the result instead",
                      ln, "side-effect call")
        return [s]

    # ------------------------------------------------------------------ control flow
    def merge(self, branches, ln):
        """Join the end states of branches [(State or None, code list)]; returns the joined State."""
        reach = [(b, code) for b, code in branches if b is not None]
        if not reach:
            return None
        joined = merge([(b.tans, code) for b, code in reach],
                       lambda name, tans, code: self._materialize_into(name, reach, tans, code, ln))
        return State(joined, set.intersection(*[b.defined for b, _ in reach]))

    def _materialize_into(self, name, reach, tans, code, ln):
        st = next(b for b, _ in reach if b.tans is tans)
        code.append(self.materialize(name, st, ln))
        return st.tans[name]

    def if_(self, s, st, ln):
        s1, s2 = st.copy(), st.copy()
        body, s1 = self.block(s.body, s1)
        orelse, s2 = self.block(s.orelse, s2)
        new = self.merge([(s1, body), (s2, orelse)], ln)
        return [at(gast.If(test=s.test, body=body or [gast.Pass()], orelse=orelse), ln)], new

    def break_(self, s, st, ln):
        loop = self.loops[-1]
        code = []
        for name in sorted(loop["exit"].tans):
            if name not in st.tans:
                code.append(self.materialize(name, st, ln))
        loop["breaks"].append(st.copy())
        return code + [s], None

    def loop(self, make_body, st, ln, stmts, body_defined=()):
        """Generate a loop body whose tangent state is the same at every pass.

        Returns (statements before the loop, body, state after the loop).
        """
        exposed = exposed_names(stmts)[0]
        entry = st.copy()
        before = []

        def materialize_before(name):
            if name in entry.defined or name in exposed:
                before.append(self.materialize(name, entry, ln))
                return entry.tans[name]
            return Live(True, False)   # first set in the body before any read: no value needed before

        def run(tans):
            work = State(tans, entry.defined | set(body_defined))
            ctx = {"exit": entry, "breaks": []}
            self.loops.append(ctx)
            try:
                body, end = make_body(work)
            finally:
                self.loops.pop()
            ends = ([end] if end is not None else []) + ctx["breaks"]
            return (body, end), [e.tans for e in ends]

        (body, end), _ = loop_fixpoint(entry.tans, run, materialize_before, self.namer,
                                       lambda: self.tangents.values(), (self.info, ln))
        if end is not None:
            for name in sorted(entry.tans):
                if name not in end.tans:
                    body.append(self.materialize(name, end, ln))
        return before, body, entry.copy()

    def while_(self, s, st, ln):
        before, body, after = self.loop(lambda w: self.block(s.body, w), st, ln, s.body)
        return before + [at(gast.While(test=s.test, body=body or [gast.Pass()], orelse=[]), ln)], after

    def for_(self, s, st, ln):
        target = s.target.id

        def make(w):
            w.tans.pop(target, None)
            return self.block(s.body, w)
        st.tans.pop(target, None)
        before, body, after = self.loop(make, st, ln, s.body, body_defined=(target,))
        after.tans.pop(target, None)
        return before + [at(gast.For(target=s.target, iter=s.iter, body=body or [gast.Pass()], orelse=[],
                                     type_comment=None), ln)], after
