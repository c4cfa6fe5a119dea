"""Reverse mode, second half: the backward sweep, from records the forward sweep leaves.

``Reverse`` (reverse.py) walks the function once and, for every statement whose adjoint the
backward sweep needs, leaves a record: what the statement was, where it sits (a
``saves.Position``) and what the forward sweep recorded for it. The records of a block form a
list; ``Backward.sweep`` emits their adjoint code in reverse order, keeping the adjoint state
(``adjoints.Live`` per name, absent = symbolic zero) as it goes. Records are plain data:
``Reverse.records`` can be printed before anything is emitted.
"""

from dataclasses import dataclass
from typing import Optional

import gast
import numpy as np

from srcad import runtime
from srcad.adjoints import Live, loop_fixpoint, merge
from srcad.astutil import N, assign, at, clone, expr_stmt, index_value
from srcad.astutil import attr_call, call, const, names_read
from srcad.astutil import walk
from srcad.optimize import simplify, strip_unbroadcast
from srcad.rules.registry import splice_reverse

FLOAT_ZERO = 0.0   # the run-time zero placeholder (see adjoints.py)


# ---------------------------------------------------------------------- records


@dataclass
class AssignRecord:
    """``target = value`` (``op``: what it computes). ``saves``: its old value was pushed first;
    ``saves_tape``: the tape of a kept call that an enclosing loop overwrites was pushed too."""
    target: str
    op: object
    value: gast.AST
    pos: tuple
    ln: int
    saves: bool
    saves_tape: Optional[str] = None


@dataclass
class SetitemRecord:
    """``x[index] = value``; ``saves``: the old ``x[index]`` (or a container entry) was pushed."""
    x: str
    index: gast.AST
    value: gast.AST
    pos: tuple
    ln: int
    saves: bool
    container: bool


@dataclass
class PushRecord:
    """``stack.append(value)`` onto a stack that carries differentiated values (generated code
    differentiated again): its adjoint pops the adjoint stack."""
    stack: str
    value: gast.AST
    ln: int


@dataclass
class IfRecord:
    """An ``if`` whose branches have adjoint code; ``cond`` holds the decision (pushed when
    ``in_loop``)."""
    cond: str
    in_loop: bool
    body: list
    orelse: list
    pos: tuple
    ln: int
    same: bool = False   # both branches' adjoint code is the same: no decision was recorded


@dataclass
class WhileRecord:
    """A ``while`` loop, replayed ``count`` times (pushed when ``in_loop``) with loop variable ``it``."""
    count: str
    in_loop: bool
    body: list
    pos: tuple
    ln: int
    it: str


@dataclass
class ForRecord:
    """A ``for`` loop over ``iter`` replayed in reverse (sliced to ``count`` passes where it can
    break); ``saves_target`` / ``saves_rng``: the loop variable / the evaluated range were pushed."""
    target: str
    iter: gast.AST
    count: Optional[str]
    in_loop: bool
    body: list
    pos: tuple
    ln: int
    saves_target: bool
    saves_rng: Optional[str] = None


@dataclass
class RestoreRecord:
    """Only a saved value to pop back (a loop with no adjoint code whose variable was saved)."""
    name: str
    ln: int


def _is_copy(s, copy_name):
    """Is ``s`` the statement ``dv = copy_adjoint(dv)`` (``Backward.ensure_owned``)?"""
    return (isinstance(s, gast.Assign) and len(s.targets) == 1 and isinstance(s.targets[0], gast.Name)
            and isinstance(s.value, gast.Call) and isinstance(s.value.func, gast.Name)
            and s.value.func.id == copy_name and len(s.value.args) == 1
            and isinstance(s.value.args[0], gast.Name) and s.value.args[0].id == s.targets[0].id)


def _owned_expr(e):
    """Is ``e`` certainly a new array (so its adjoint may be changed in place)?"""
    return isinstance(e, (gast.BinOp, gast.UnaryOp))


# ---------------------------------------------------------------------- the sweep


# functions (besides ufuncs) that take the 0.0 placeholder for an array adjoint in any argument;
# runtime.TAKES_ZERO: helpers that take it as their first argument
_TAKE_SCALAR = (runtime.unbroadcast, runtime.unreduce, np.real, np.imag, np.conj)


def _hashable(obj):
    try:
        hash(obj)
    except TypeError:
        return False
    return True


class Backward:
    """The backward sweep of ``Reverse``: adjoint code for its records."""

    _shaped_zero = None   # the ``dt = grad_like(dt, t)`` adjoint_of put first, if it did

    def sweep(self, records, state):
        """Adjoint code of ``records`` (one block), last statement first; updates ``state``."""
        out = []
        outer = getattr(self, "_recomputed_here", set())
        self._recomputed_here = set(outer)   # evaluated again earlier in this block: still valid
        for r in reversed(records):
            out += self._EMIT[type(r)](self, r, state)
        self._recomputed_here = outer
        return out

    # ------------------------------------------------------------------ statements
    def _assign(self, r, state):
        t, op, ln = r.target, r.op, r.ln
        self_ref = t in names_read([r.value])
        out = []
        saved_as = "shape" if (t, r.pos) in self.shaped else "value"
        if r.saves and self_ref:
            out.append(self.pop(t, ln, self.stacks[saved_as, t]))
        if t in self.facts.active and state.get(t) is not None:
            code = self.adjoint_of(t, op, r.value, state, ln)
            # ``dt = grad_like(dt, t)`` reads the value t = ... made: before t's old value is back
            first = [code.pop(0)] if code and code[0] is self._shaped_zero else []
            code = self.recompute(first + code, ln) + code
            self._note_reads(r.pos, first + code)
            if self_ref and t in names_read(code):
                self.log.self_reads.add((t, r.pos))
            out = first + out + code
        elif op.kind == "pop" and op.args[0].id in self.facts.active:
            # Differentiating generated code again (third order): the adjoint of every push onto
            # an active stack pops the adjoint stack, so the adjoint of every pop must push, a zero
            # where the popped value's adjoint is dead; else the adjoint stack runs out.
            self.adj_stacks.add(op.args[0].id)
            out.append(expr_stmt(attr_call(self.dname(op.args[0].id), "append", [const(FLOAT_ZERO)]), ln))
        if r.saves and not self_ref:
            out.append(self.pop(t, ln, self.stacks[saved_as, t]))
        if r.saves_tape is not None:
            out.append(self.pop(r.saves_tape, ln, self.stacks["value", r.saves_tape]))
        return out

    def recompute(self, code, ln):
        """The values ``code`` reads that the forward sweep did not push but the backward sweep
        evaluates again (``saves.SaveLog.plan``), in the order the forward sweep computed them."""
        if not self.recomputed:
            return []
        wanted, todo = set(), list(names_read(code))
        while todo:
            n = todo.pop()
            if n in self.recomputed and n not in wanted and n not in self._recomputed_here:
                wanted.add(n)
                todo += names_read([self.recomputed[n][1]])
        self._recomputed_here |= wanted
        return [assign(n, clone(self.recomputed[n][1]), ln)
                for n in sorted(wanted, key=lambda n: self.recomputed[n][0])]

    def _setitem(self, r, state):
        x, index, value, ln = r.x, r.index, r.value, r.ln
        out = []
        if x in self.facts.active and state.get(x) is not None:
            rank = self.facts.ranks.get(x)
            array = x not in self.facts.containers and isinstance(rank, int) and rank >= 0
            whole = (isinstance(index, gast.Constant) and index.value is Ellipsis) or \
                (isinstance(index, gast.Tuple) and not index.elts)
            shaped = x not in self.facts.containers or whole
            if shaped and (rank in (0, None) or whole):
                # a 0-d array (``x[()] = v``), whose adjoint NumPy's arithmetic may have made a
                # scalar, or a value of unknown rank: its adjoint is made writable and like it
                state[x] = Live(state[x].owned, True)
            out += self.ensure_owned(x, state, ln, shaped=shaped)
            dx = N(self.dname(x))
            # the adjoint at x[index] goes to v; the place starts from zero (the older x[index] was
            # overwritten): for an array a pure read and a plain assignment, which a derivative of
            # this derivative follows like any other code; a list or dict entry: pop_at
            take = call(self.env.ref("read_at" if array else "pop_at"), [dx, index_value(index, self.env.ref)])
            place = gast.Subscript(value=N(self.dname(x)), slice=clone(index), ctx=gast.Store())
            zero = at(gast.Assign(targets=[place], value=const(FLOAT_ZERO), type_comment=None), ln)
            if self.facts.is_active(value):
                if self.facts.ranks.get(value.id) != 0 or rank != 1 or not self._int_index(index):
                    # NumPy may have broadcast or repeated it (a list or dict entry: neither)
                    take.args.append(N(value.id))
                if array and value.id == x:
                    # ``x[i] = x``: read the place, zero it, then add what was read to dx itself
                    tmp = self.namer.fresh(self.dname(x) + "_at")
                    out += [assign(tmp, take, ln), zero]
                    out += self.accumulate(value.id, N(tmp), state, ln, owned=False)
                else:
                    out += self.accumulate(value.id, take, state, ln, owned=False)
                    out += [zero] if array else []
            elif array:
                out.append(zero)
            else:
                out.append(expr_stmt(take, ln))
            self._note_reads(r.pos, out)
        if r.saves and r.container:
            popped = attr_call(self.stacks["item", x], "pop", [])
            restore = self.env.ref("restore_item", runtime.restore_item)
            out.append(expr_stmt(call(restore, [N(x), index_value(index, self.env.ref), popped]), ln))
        elif r.saves:
            tmp = gast.Subscript(value=N(x), slice=clone(index), ctx=gast.Store())
            out.append(at(gast.Assign(targets=[tmp], value=attr_call(self.stacks["item", x], "pop", []),
                                      type_comment=None), ln))
        if r.saves:
            # the restore writes into the array x held here: later rebindings of x must be
            # undone first (its index may read variables too)
            self._note_reads(r.pos, out[-1:] + [gast.Expr(value=N(x))])
        return out

    def _push(self, r, state):
        popped = attr_call(self.dname(r.stack), "pop", [])
        if self.facts.is_active(r.value):
            # what the pop's adjoint pushed may be the 0.0 placeholder (a value read for its shape)
            return self.accumulate(r.value.id, popped, state, r.ln, owned=False,
                                   maybe_zero=self.facts.ranks.get(r.value.id) != 0)
        # a value with no derivative (a decision, a shape): its adjoint slot is taken off, as an
        # assignment so that the next order sees a pop (``_assign``), not a call for its effect
        return [assign(self.namer.fresh("unused"), popped, r.ln)]

    def _restore(self, r, state):
        return [self.pop(r.name, r.ln, self.stacks["value", r.name])]

    # ------------------------------------------------------------------ control flow
    def _if(self, r, state):
        out = [self.pop(r.cond, r.ln, self.stacks["value", r.cond])] if r.in_loop else []
        s1, s2 = dict(state), dict(state)
        b1 = self.sweep(r.body, s1)
        b2 = self.sweep(r.orelse, s2)
        joined = merge([(s1, b1), (s2, b2)], lambda name, st, code: self._zero_into(name, r.pos, r.ln, code))
        state.clear()
        state.update(joined)
        if gast.dump(gast.Module(body=b1, type_ignores=[])) == gast.dump(gast.Module(body=b2, type_ignores=[])):
            # either way the same adjoint code runs: the decision need not be recorded (next pass)
            self.same_branches.add(r.pos)
            if r.same:
                return out + b1
        if b1 or b2:
            out.append(at(gast.If(test=N(r.cond), body=b1 or [gast.Pass()], orelse=b2), r.ln))
        return out

    def _while(self, r, state):
        out = [self.pop(r.count, r.ln, self.stacks["value", r.count])] if r.in_loop else []
        pre, body = self.loop_body(r.body, state, r.ln, r.pos)
        out += pre
        out.append(at(gast.For(target=N(r.it, True), iter=call(N("range"), [N(r.count)]),
                               body=body or [gast.Pass()], orelse=[], type_comment=None), r.ln))
        return out

    def _for(self, r, state):
        out = [self.pop(r.count, r.ln, self.stacks["value", r.count])] if r.count is not None and r.in_loop else []
        it = clone(r.iter)
        self._note_reads(r.pos, [gast.Expr(value=it)])
        if r.count is not None:
            it = gast.Subscript(value=it, slice=gast.Slice(lower=None, upper=N(r.count), step=None),
                                ctx=gast.Load())
        pre, body = self.loop_body(r.body, state, r.ln, r.pos)
        out += pre
        out.append(at(gast.For(target=N(r.target, True), iter=call(N("reversed"), [it]),
                               body=body or [gast.Pass()], orelse=[], type_comment=None), r.ln))
        if r.saves_rng is not None:
            out.append(self.pop(r.saves_rng, r.ln, self.stacks["value", r.saves_rng]))
        if r.saves_target:
            out.append(self.pop(r.target, r.ln, self.stacks["value", r.target]))
        return out

    _EMIT = {AssignRecord: _assign, SetitemRecord: _setitem, PushRecord: _push, RestoreRecord: _restore,
             IfRecord: _if, WhileRecord: _while, ForRecord: _for}

    def loop_body(self, records, state, ln, pos):
        """Backward loop body with a loop-invariant adjoint state. Returns (before-loop, body).

        Adjoints the body writes are made live before the loop (``dv = 0.0``) and, where the body
        resets them, set back to zero at the end of each pass, so every pass starts alike.
        """
        entry = dict(state)
        before = []

        def materialize_before(name):
            stmt, live = self.zero(name, pos, ln)
            before.append(stmt)
            return live

        def run(entry):
            work = dict(entry)
            code = self.sweep(records, work)
            for name, st in sorted(entry.items()):   # reset where the body ended the adjoint:
                if st is not None and work.get(name) is None:   # the next pass starts alike
                    stmt, work[name] = self.zero(name, pos, ln)
                    code.append(stmt)
            return (code, work), [work]

        (body, work), _ = loop_fixpoint(entry, run, materialize_before, self.namer,
                                        lambda: self.adjoints.values(), (self.info, ln))
        # An adjoint the body makes private (``dv = copy_adjoint(dv)``) would be copied on every
        # pass, O(size) work per iteration: copy it once before the loop and try the body again
        # with it owned; the fixpoint weakens it back where a pass leaves it shared.
        copy_name = self.env.ref_name("copy_adjoint")
        copied = {s.targets[0].id for b in body for s in walk(b) if _is_copy(s, copy_name)}
        hoist = sorted(n for n, st in entry.items()
                       if st is not None and not st.owned and self.dname(n) in copied)
        if hoist:
            for name in hoist:
                d = self.dname(name)
                before.append(assign(d, call(self.env.ref("copy_adjoint"), [N(d)]), ln))
                entry[name] = Live(True, entry[name].maybe_zero)
            (body, work), _ = loop_fixpoint(entry, run, materialize_before, self.namer,
                                            lambda: self.adjoints.values(), (self.info, ln))
        state.clear()
        state.update(entry)
        return before, body

    # ------------------------------------------------------------------ adjoint state
    def zero(self, name, pos, ln):
        """A materialized zero adjoint for ``name`` before the statement at ``pos``: (stmt, Live).

        ``zeros_like(v)`` where ``v`` is certainly defined there (then every rule sees an adjoint
        of the right shape), ``0.0`` for scalars and where ``v`` may not exist yet.
        """
        d = self.dname(name)
        if self.facts.ranks.get(name) == 0:
            return assign(d, const(FLOAT_ZERO), ln), Live(True, False)
        here = pos[0].index
        defined = name in self.norm.params or any(
            n == name and len(dpos) == 1 and dpos[0].index < here for n, dpos in self.log.defs)
        # and ``v`` still holds that value here: no later assignment left it another array
        # (``x = g(y, x)`` further on makes ``x`` an array where it was a number)
        rebound_later = any(n == name and dpos[0].index >= here for n, dpos in self.log.defs)
        if defined and not rebound_later:
            return assign(d, call(self.env.ref("zeros_like"), [N(name)]), ln), Live(True, False)
        return assign(d, const(FLOAT_ZERO), ln), Live(True, True)

    def _zero_into(self, name, pos, ln, code):
        stmt, live = self.zero(name, pos, ln)
        code.append(stmt)
        return live

    def ensure_owned(self, name, state, ln, shaped=False):
        """Make ``name``'s adjoint private (and, if ``shaped``, an array shaped like ``name``)."""
        st = state.get(name)
        if st is None or (st.owned and not (shaped and st.maybe_zero)):
            return []
        d = self.dname(name)
        if shaped and st.maybe_zero:
            state[name] = Live(True, False)
            return [assign(d, call(self.env.ref("owned_tangent"), [N(d), N(name)]), ln)]
        state[name] = Live(True, st.maybe_zero)
        return [assign(d, call(self.env.ref("copy_adjoint"), [N(d)]), ln)]

    def accumulate(self, name, expr, state, ln, owned=None, maybe_zero=False):
        """Add ``expr`` to ``name``'s adjoint; ``maybe_zero``: ``expr`` may be the 0.0 placeholder."""
        d = self.dname(name)
        st = state.get(name)
        if owned is None:
            owned = _owned_expr(expr)
        if st is None:
            state[name] = Live(owned, maybe_zero)
            return [assign(d, expr, ln)]
        maybe_zero = maybe_zero and st.maybe_zero
        if name in self.facts.containers or name in self.facts.maybe_seq or self.facts.container_adjoint(expr):
            state[name] = Live(False, maybe_zero)
            return [assign(d, call(self.env.ref("add"), [N(d), expr]), ln)]
        op = gast.Add()
        if isinstance(expr, gast.UnaryOp) and isinstance(expr.op, gast.USub):
            op, expr = gast.Sub(), expr.operand     # dx -= e rather than dx += -e
        state[name] = Live(True, maybe_zero)
        if st.owned and getattr(self.facts, "in_place", True):
            return [at(gast.AugAssign(target=N(d, True), op=op, value=expr), ln)]
        return [assign(d, gast.BinOp(left=N(d), op=op, right=expr), ln)]

    # ------------------------------------------------------------------ one operation's adjoint
    def adjoint_of(self, t, op, value, state, ln):
        """Backward code for ``t = value`` given dt is live; resets dt."""
        dt = N(self.dname(t))
        mz = state[t].maybe_zero if state.get(t) is not None else False
        contribs = []   # (primal name, expr, owned)
        pre = []
        kind = op.kind
        if kind == "atom":
            a = op.args[0]
            if self.facts.is_active(a):
                contribs.append((a.id, dt, False))
        elif kind == "rule":
            contribs, pre = self._rule_adjoint(t, op, dt, ln)
            if mz and not self._takes_placeholder(pre, [e for _, e, _ in contribs], dt.id):
                # dt may be the 0.0 placeholder and the rule needs its shape (np.reshape, @):
                # make it zeros shaped like t (the backward sweep keeps t's shape for this)
                self._shaped_zero = assign(dt.id, call(self.env.ref("grad_like"), [N(dt.id), N(t)]), ln)
                pre.insert(0, self._shaped_zero)
                mz = False
        elif kind == "getitem":
            x = op.args[0]
            if self.facts.is_active(x):
                return self._getitem_adjoint(t, x.id, op.index, state, ln)
        elif kind in ("build", "dict"):
            keys = op.keys if kind == "dict" else [const(k) for k in range(len(op.args))]
            for k, a in zip(keys, op.args):
                if self.facts.is_active(a):
                    contribs.append((a.id, call(self.env.ref("tuple_get"), [dt, clone(k)]), False))
            mz = True   # an element nothing read has the 0.0 placeholder for its adjoint
        elif kind == "call":
            pre, contribs = self._call_adjoint(t, op, value, dt, ln)
        elif kind == "pop":
            stack = op.args[0].id
            self.adj_stacks.add(stack)
            state[t] = None
            return [expr_stmt(attr_call(self.dname(stack), "append", [dt]), ln)]
        else:
            state[t] = None   # no derivative flows through (np.zeros, a comparison): older versions
            return []         # of t start from a zero adjoint
        for s in pre:
            s.lineno = ln
        out = list(pre)
        own = [(n, e, o) for n, e, o in contribs if n == t]
        rest = [(n, e, o) for n, e, o in contribs if n != t]
        for n, e, o in rest:
            out += self.accumulate(n, e, state, ln, owned=o, maybe_zero=mz)
        if len(own) == 1 and isinstance(own[0][1], gast.Name) and own[0][1].id == dt.id:
            # the adjoint passes through unchanged (x = x - 1.0); where another adjoint took it
            # without a copy (``v = v + w`` gives ``dw = dv``), the two share one array from here
            # on, so neither may be changed in place (issue 11, class 2)
            if any(not o for _, _, o in rest) and state.get(t) is not None:
                state[t] = Live(False, state[t].maybe_zero)
            return out
        state[t] = None
        if own:
            e = own[0][1]
            for _, e2, _ in own[1:]:
                e = gast.BinOp(left=e, op=gast.Add(), right=e2)
            out += self.accumulate(t, e, state, ln, owned=_owned_expr(e), maybe_zero=mz)
        return out

    def _takes_placeholder(self, pre, exprs, d):
        """Does the rule code (``pre`` statements, then ``exprs``) run with the 0.0 placeholder in
        ``d``? Yes where ``d`` (and temporaries made from it) only meets elementwise arithmetic,
        ufuncs and the helpers that broadcast a scalar (``unbroadcast``, ``unreduce``)."""
        tainted = {d}

        def ok(tree):
            parents = {id(c): n for n in walk(tree) for c in gast.iter_child_nodes(n)}
            for node in walk(tree):
                if not (isinstance(node, gast.Name) and node.id in tainted):
                    continue
                cur = node
                while id(cur) in parents:
                    p = parents[id(cur)]
                    if isinstance(p, gast.UnaryOp) or isinstance(p, gast.BinOp) and \
                            not isinstance(p.op, gast.MatMult):
                        pass
                    elif not (isinstance(p, gast.Call) and cur is not p.func and self._takes_zero(p, cur)):
                        return False
                    cur = p
            return True

        for s in pre:
            if not (isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Name)):
                if names_read([s]) & tainted:
                    return False
                continue
            if not ok(s.value):
                return False
            if names_read([s.value]) & tainted:
                tainted.add(s.targets[0].id)
        return all(ok(e) for e in exprs)

    def _takes_zero(self, call, arg):
        """Does ``call`` take the 0.0 placeholder in ``arg`` where an array may be?"""
        path, func = [], call.func
        while isinstance(func, gast.Attribute):
            path.append(func.attr)
            func = func.value
        if not isinstance(func, gast.Name):
            return False
        obj = self.env.objects.get(func.id, self.env.info.globals.get(func.id))
        for a in reversed(path):
            obj = getattr(obj, a, None)
        if isinstance(obj, np.ufunc) or obj in _TAKE_SCALAR:
            return True
        return _hashable(obj) and obj in runtime.TAKES_ZERO and bool(call.args) and call.args[0] is arg

    def _rule_adjoint(self, t, op, dt, ln=None):
        """The reverse template of ``op`` spliced for the active inputs: (contributions, statements)."""
        tpl = op.template
        wanted = {p for p, a in op.bound.items() if p in tpl.diff_params and self.facts.is_active(a)}
        values = dict(op.bound)
        values[tpl.out] = N(t)
        pre, exprs = splice_reverse(tpl, values, dt, wanted, self.namer.fresh, self.env.ref, (self.info, ln))
        contribs = []
        for p in tpl.diff_params:
            if p not in exprs:
                continue
            e, me = exprs[p], op.bound[p]
            others = [a for q, a in op.bound.items() if q != p and q in tpl.params]
            if self.facts.ranks.get(t) == 0 or self.facts.same_shape(t, me.id) or all(
                    isinstance(a, gast.Constant) or (isinstance(a, gast.Name) and a.id == me.id)
                    for a in others):
                e = strip_unbroadcast(e, self.env)  # the output cannot be larger than this input
            e = simplify(e, self.env, self._rank)
            contribs.append((me.id, e, _owned_expr(e)))
        return contribs, pre

    def _rank(self, atom):
        if isinstance(atom, gast.Constant):
            v = atom.value
            return 0 if isinstance(v, (int, float)) and not isinstance(v, bool) else None
        if isinstance(atom, gast.Name):
            return self.facts.ranks.get(atom.id)
        return None

    def _int_index(self, index):
        """Is ``index`` one integer (so ``x[index] = v`` writes exactly one element)?"""
        from srcad.floats import _integer
        return _integer(index, self.facts.int_vars)

    def _getitem_adjoint(self, t, x, index, state, ln):
        # ``h = h[0]``: the incoming adjoint is the new value's; the old value's starts at zero
        # (issue 11, class 1)
        zero_in = state.get(x) is None or x == t
        out = [] if x in self.facts.containers or zero_in else self.ensure_owned(x, state, ln)
        d = self.dname(x)
        st = state.get(x)
        if (not zero_in and x not in self.facts.containers and st.owned and not st.maybe_zero
                and (self.facts.ranks.get(x) or 0) >= 1 and self._int_index(index)
                and not self.facts.makes_complex):
            # an owned array of x's shape and one integer index: ``dx[i] += g`` in place (not where
            # g may be complex and dx real: add_at takes its real part)
            elt = gast.Subscript(value=N(d), slice=clone(index), ctx=gast.Store())
            out.append(at(gast.AugAssign(target=elt, op=gast.Add(), value=N(self.dname(t))), ln))
            state[t] = None
            return out
        base = const(FLOAT_ZERO) if zero_in else N(d)
        add = call(self.env.ref("add_at"), [base, N(x), index_value(index, self.env.ref), N(self.dname(t))])
        out.append(assign(d, add, ln))
        state[t] = None
        state[x] = Live(True) if x not in self.facts.containers else Live(False)
        return out

    def _call_adjoint(self, t, op, value, dt, ln):
        """``bwd_g(tape, d<out>=dt)``: the helper's backward sweep over the tape its forward
        sweep recorded (``Reverse._call_forward``)."""
        bwd_node, seed, tape, actives = self._calls[id(value)]
        c = call(clone(bwd_node), [N(tape)], [gast.keyword(arg=seed, value=dt)])
        if len(actives) == 1:
            return [], [(actives[0].id, c, False)]
        temps = [self.namer.fresh("d" + a.id) for a in actives]
        pre = [at(gast.Assign(targets=[gast.Tuple(elts=[N(n, True) for n in temps], ctx=gast.Store())],
                              value=c, type_comment=None), ln)]
        return pre, [(a.id, N(tmp), False) for a, tmp in zip(actives, temps)]
