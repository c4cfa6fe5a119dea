"""Forward mode over generated reverse code (``hessian`` runs forward mode over a gradient).

A stack that receives differentiated values gets a tangent stack ``d<stack>`` kept aligned with it
(a tangent, or 0.0, for every push; a pop for every pop); a popped tangent is as private as the
pushed one was (``push_partners`` pairs each pop with its pushes). The runtime helpers that work
in place on adjoint arrays (``add_at``, ``pop_at``, ``add``) get their tangents here, where whether
a tangent may be written in place is known.
"""

import copy

import gast

from srcad import runtime as rt
from srcad.adjoints import Live, join
from srcad.astutil import N, assign, at, walk_stmts
from srcad.astutil import attr_call as _attr_call, call as _call, const as _const


def push_partners(body, stacks):
    """For each ``v = stack.pop()`` of generated reverse code, the pushes it may undo.

    The backward sweep mirrors the forward sweep, so the pops of a variable, in program order, undo
    its pushes in reverse order. Where the counts differ (a branch decision pushed again before a
    ``break``) every push of the variable is a candidate."""
    pushes, pops = {}, {}
    for s in walk_stmts(body):
        if isinstance(s, gast.Expr) and isinstance(s.value, gast.Call):
            f = s.value.func
            if isinstance(f, gast.Attribute) and f.attr == "append" and isinstance(f.value, gast.Name) \
                    and f.value.id in stacks and len(s.value.args) == 1 and isinstance(s.value.args[0], gast.Name):
                pushes.setdefault((f.value.id, s.value.args[0].id), []).append(id(s))
        elif isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Name) and isinstance(s.value, gast.Call):
            f = s.value.func
            if isinstance(f, gast.Attribute) and f.attr == "pop" and isinstance(f.value, gast.Name) \
                    and f.value.id in stacks and not s.value.args:
                pops.setdefault((f.value.id, s.targets[0].id), []).append(id(s))
    partner = {}
    for key, ps in pops.items():
        qs = pushes.get(key, [])
        for i, p in enumerate(ps):
            partner[p] = [qs[len(qs) - 1 - i]] if len(qs) == len(ps) else list(qs)
    return partner


class GeneratedCode:
    """The part of ``forward.Forward`` that handles generated reverse code."""

    def _note_push(self, s, tan):
        old = self.pushed.get(id(s))
        self.pushed[id(s)] = tan if old is None else join(old, tan)

    def stack_assign(self, s, t, op, st, ln):
        """``stack = Stack()`` (a tangent stack beside an active one) and ``v = stack.pop()``."""
        st.tans.pop(t, None)
        if op.kind != "pop":
            out = [s]
            if t in self.facts.active:
                out.append(assign(self.dname(t), _call(self.env.ref("Stack"), []), ln))
            return out
        stack = op.args[0].id
        if stack not in self.facts.active:
            return [s]
        at_push = [self.pushed[k] for k in self.partner.get(id(s), ()) if k in self.pushed]
        owned = bool(at_push) and all(p.owned for p in at_push) and t not in self.facts.containers
        st.tans[t] = Live(owned, not owned or any(p.maybe_zero for p in at_push))
        return [s, assign(self.dname(t), _attr_call(self.dname(stack), "pop", []), ln)]

    def push(self, s, op, st, ln):
        """``stack.append(v)``: the tangent stack receives v's tangent (or 0.0)."""
        stack, values = op.args[0], op.args[1:]
        if stack.id not in self.facts.active:
            return [s]
        v = values[0] if values else None
        if self.live(v, st):
            tv = N(self.dname(v.id))
            # generated code pushes a value just before overwriting its variable and pops it
            # back into that variable: the popped tangent is then as private as it was here
            # (and stays the one its views see: a copy would cut them off)
            self._note_push(s, st.tans[v.id])
            st.tans[v.id] = Live(False, st.tans[v.id].maybe_zero)
        else:
            if isinstance(v, gast.Name):
                self._note_push(s, Live(False, True))
            tv = _const(0.0)
        return [s, at(gast.Expr(value=_attr_call(self.dname(stack.id), "append", [tv])), ln)]

    def helper_effect(self, s, st, ln):
        """``pop_at(dx, i)`` for its effect (generated reverse code for ``x[i] = 5.0``): zero the
        tangent's place too. None for other calls."""
        call = s.value
        where = self.facts.callee(call.func) if isinstance(call.func, gast.Name) else None
        if where is None or not where.is_(rt.pop_at) or not call.args or not isinstance(call.args[0], gast.Name):
            return None
        src = call.args[0]
        if not self.live(src, st):
            return [s]
        pre = self.own(src.id, st, ln)
        tangent = _call(self.env.ref("pop_at"), [N(self.dname(src.id))] + [copy.deepcopy(a) for a in call.args[1:2]])
        return pre + [s, at(gast.Expr(value=tangent), ln)]

    def special(self, s, t, op, st, ln):
        """Helpers of generated reverse code that work in place: add_at, pop_at, add."""
        if op.kind != "rule" or not isinstance(s.value, gast.Call):
            return None
        where = self.facts.callee(s.value.func)
        if where.kind != "static":
            return None
        obj = where.obj
        args = s.value.args
        if obj is rt.add_at and len(args) == 4 and not s.value.keywords:
            base, x, index, g = args
            base_live, g_live = self.live(base, st), self.live(g, st)
            dt = self.dname(t)
            if not base_live and not g_live:
                st.tans.pop(t, None)
                return [s]
            if not g_live:
                if base.id == t:
                    return [s]          # tangent unchanged
                st.tans[base.id] = Live(False, st.tans[base.id].maybe_zero)
                st.tans[t] = st.tans[base.id]
                return [s, assign(dt, N(self.dname(base.id)), ln)]
            pre = self.settle(g.id, st, ln)
            if base_live:
                pre += self.own(base.id, st, ln)
                first = N(self.dname(base.id))
            else:
                first = _const(0.0)
            call = _call(self.env.ref("add_at"), [first, copy.deepcopy(x), copy.deepcopy(index),
                                                  N(self.dname(g.id))])
            if base_live and base.id != t:
                st.tans[base.id] = Live(False)
                st.tans[t] = Live(False)
            else:
                st.tans[t] = Live(True)
            return pre + [s, assign(dt, call, ln)]
        if obj is rt.pop_at and len(args) in (2, 3) and not s.value.keywords:
            src, index = args[:2]
            if not self.live(src, st):
                st.tans.pop(t, None)
                return [s]
            pre = self.own(src.id, st, ln)
            mz = st.tans[src.id].maybe_zero
            call = _call(self.env.ref("pop_at"), [N(self.dname(src.id))] + [copy.deepcopy(a) for a in args[1:]])
            st.tans[t] = Live(True, mz)
            return pre + [s, assign(self.dname(t), call, ln)]
        if obj is rt.add and len(args) == 2 and not s.value.keywords:
            a, b = args
            live = [x for x in (a, b) if self.live(x, st)]
            if not live:
                st.tans.pop(t, None)
                return [s]
            if len(live) == 1:
                e = N(self.dname(live[0].id))
                tan = Live(False, st.tans[live[0].id].maybe_zero)
            else:
                e = _call(self.env.ref("add"), [N(self.dname(a.id)), N(self.dname(b.id))])
                tan = Live(False, st.tans[a.id].maybe_zero and st.tans[b.id].maybe_zero)
            self.shared(e, st)
            st.tans[t] = tan
            tstmt = assign(self.dname(t), e, ln)
            return [tstmt, s] if t in (a.id if isinstance(a, gast.Name) else None,
                                       b.id if isinstance(b, gast.Name) else None) else [s, tstmt]
        return None
