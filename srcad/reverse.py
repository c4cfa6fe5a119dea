"""Step 5: reverse mode. A forward sweep that records what the backward sweep needs on a stack
created per call, and a backward sweep that replays it from the rule templates.

What is recorded, and only when the backward sweep reads it:

* branch decisions (``cond_1``) and ``while`` trip counts (``n_1``), pushed right after the
  statement when it sits inside a loop (outside loops the variable itself survives the sweep);
* a variable's old value, pushed just before it is overwritten and popped when the backward sweep
  passes that assignment, for variables that are assigned more than once and read by the backward
  sweep; the old contents of ``x[i]`` before ``x[i] = v``.

``for i in range(...)`` loops replay ``reversed(range(...))`` and record nothing. Adjoints are
tracked symbolically: an adjoint nobody wrote is known to be zero at transform time (no code), the
first contribution assigns, later ones accumulate (in place where the array is known to be owned).
"""

import gast

from srcad import runtime
from srcad.analyze import Facts, appends_as_assignments, call_wrt, changed_in_place, describe, split_self_reads
from srcad.errors import fail_at
from srcad.names import Live, join
from srcad.astutil import N, assign, at, clone, expr_stmt, index_value
from srcad.astutil import attr_call as _attr_call, call as _call, const as _const
from srcad.astutil import names_read
from srcad.rules.registry import splice_reverse

FLOAT_ZERO = 0.0


class _Slot(gast.stmt):
    """A place in the forward sweep filled later: the decisions a ``break`` must record first."""

    _fields = ()

    def __init__(self):
        super().__init__()
        self.stmts = []


def _flatten_slots(stmts):
    out = []
    for s in stmts:
        if isinstance(s, _Slot):
            out += s.stmts
            continue
        for field in ("body", "orelse"):
            sub = getattr(s, field, None)
            if isinstance(sub, list):
                setattr(s, field, _flatten_slots(sub) or ([gast.Pass()] if field == "body" else []))
        out.append(s)
    return out




def _num(node):
    return isinstance(node, gast.Constant) and isinstance(node.value, (int, float)) and \
        not isinstance(node.value, bool)


def _owned_expr(e):
    return isinstance(e, (gast.BinOp, gast.UnaryOp))


class Reverse:
    """Builds the forward and backward sweeps of one normalized function."""

    def __init__(self, info, norm, body, ret_name, wrt, env, derivative_of_call, ranks=None, helper=False):
        self.info = info
        self.norm = norm
        self.namer = norm.namer
        self.body = body
        self.ret_name = ret_name
        self.wrt = wrt
        self.env = env
        self.derivative_of_call = derivative_of_call
        self.param_ranks = ranks or {}
        self.body = body = appends_as_assignments(body, info, norm.params, env)
        facts = lambda: Facts(info, self.body, norm.params, norm.locals, wrt, ranks=self.param_ranks,  # noqa: E731
                              helper=helper, result_var=getattr(norm, "result_var", None))
        self.facts = facts()
        self.body, split = split_self_reads(self.body, self.facts, self.namer)
        if split:
            # the temporaries are variables like any other: a loop that overwrites one saves it
            # for the backward sweep (``v = np.tanh(v)`` in a loop read the last value before)
            norm.locals |= split
            self.facts = facts()
        self.adjoints = {}
        self.stack = None
        self.saved = set()
        self._calls = {}   # id(call node) -> what the backward sweep of a kept call needs

    # ------------------------------------------------------------------ names
    def fail(self, msg, lineno, construct):
        fail_at(self.info, lineno, msg, construct)

    def dname(self, name):
        if name not in self.adjoints:
            self.adjoints[name] = self.namer.adjoint(name)
        return self.adjoints[name]

    def stack_name(self):
        if self.stack is None:
            self.stack = self.namer.fresh("stack", numbered=False)
        return self.stack

    def push(self, value, lineno):
        return expr_stmt(_attr_call(self.stack_name(), "append", [value]), lineno)

    def pop(self, name, lineno):
        return assign(name, _attr_call(self.stack_name(), "pop", []), lineno)

    # ------------------------------------------------------------------ driver
    def build(self):
        """Returns (forward statements, backward statements).

        Pass 1 generates without recording anything and notes where the backward sweep reads
        which variable; the next pass saves exactly the overwritten values those reads need. A
        restore (``x[i] = stack.pop()``) reads ``x`` itself, which may need further saves of ``x``,
        so the passes repeat until the saved set no longer grows.
        """
        snapshot = (self.namer.snapshot(), dict(self.adjoints), self.stack)
        saved = set()
        for _ in range(8):
            self.adjoints, self.stack = dict(snapshot[1]), snapshot[2]
            self.namer.restore(snapshot[0], self.adjoints.values())
            self.saved = saved
            self.reads, self.defs, self.self_reads, self.writes_into = {}, {}, set(), set()
            self.loop_bodies = set()
            fwd, bwd = self._generate()
            needed = saved | self._needed_saves()
            if needed == saved:
                return fwd, bwd
            saved = needed
        raise AssertionError("srcad: the values to save did not settle")  # pragma: no cover

    def _needed_saves(self):
        """(name, def path) pairs whose old value some backward read needs."""
        saved = set()
        shares = self.facts.aliasing.shares
        for (name, dpath) in self.defs:
            if name in self.facts.stacks:
                continue
            reads = self.reads.get(name, set())
            if (name, dpath) in self.writes_into:
                # x[i] = v changes the memory of every name sharing x's: their reads need it back
                for other in shares.get(name, ()):
                    reads = reads | self.reads.get(other, set())
            if (name, dpath) in self.self_reads or any(self._precedes(r, dpath) for r in reads):
                saved.add((name, dpath))
        return saved

    def _precedes(self, r, d):
        """Can the backward read at forward position ``r`` happen before the def at ``d`` runs?"""
        p = 0
        while p < len(r) and p < len(d) and r[p] == d[p]:
            p += 1
        for q in range(p):
            if r[:q + 1] in self.loop_bodies:
                return True
        if p == len(r) or p == len(d):
            return p == len(r) and p < len(d)  # r is the compound statement around d
        (i1, b1), (i2, b2) = r[p], d[p]
        if i1 != i2:
            return i1 < i2
        if b1 == "" and b2 != "":
            return True
        return False

    def _generate(self):
        self.adj_stacks = set()
        self.open_ifs = []   # per enclosing recorded-if context: break slots; None marks a loop
        fwd, items = self.fwd_block(self.body, ())
        fwd = _flatten_slots(fwd)
        state = {}
        ret = self.ret_name
        bwd = []
        ln = self.body[-1].lineno if self.body else self.info.lineno
        self.seed_name = self.dname(ret)
        if ret in self.facts.active:
            if self.facts.ranks.get(ret) != 0:
                bwd.append(assign(self.seed_name, _call(self.env.ref("seed"), [N(self.seed_name), N(ret)]), ln))
            state[ret] = Live(False)
        bwd += self.bwd_block(items, state)
        self.final_state = state
        prelude = []
        top_defs = {}
        for name, dpath in self.defs:
            if len(dpath) == 1:
                top_defs[name] = min(top_defs.get(name, dpath[0][0]), dpath[0][0])
        inits = set()
        for name, dpath in self.saved:
            if name in self.norm.params:
                continue
            if top_defs.get(name, 10 ** 9) < dpath[0][0]:
                continue
            inits.add(name)
        for n in sorted(inits):
            prelude.append(assign(n, _const(None), self.info.lineno))
        for n in sorted(self.facts.mutated & set(self.norm.params)):
            prelude.append(assign(n, _call(self.env.ref("owned_copy"), [N(n)]), self.info.lineno))
        for st in sorted(self.adj_stacks):
            prelude.append(assign(self.dname(st), _call(self.env.ref("Stack"), []), self.info.lineno))
        if self.stack is not None:
            prelude.insert(0, assign(self.stack, _call(self.env.ref("Stack"), []), self.info.lineno))
        return prelude + fwd, bwd

    def _note_reads(self, path, stmts):
        """Record the primal variables that backward code at ``path`` reads."""
        for name in names_read(stmts):
            if name in self.norm.locals:
                self.reads.setdefault(name, set()).add(path)

    def _in_loop(self, path):
        return any(path[:q + 1] in self.loop_bodies for q in range(len(path)))

    # ------------------------------------------------------------------ forward sweep
    def fwd_block(self, stmts, prefix):
        fwd, items = [], []
        for i, s in enumerate(stmts):
            f, item = self.fwd_stmt(s, prefix + ((i, ""),))
            fwd += f
            if item is not None:
                items.append(item)
        return fwd, items

    def fwd_stmt(self, s, path):
        ln = getattr(s, "lineno", self.info.lineno)
        if isinstance(s, gast.Assign):
            t = s.targets[0]
            if isinstance(t, gast.Name):
                self.defs.setdefault((t.id, path), None)
                return self.fwd_assign(s, t.id, path, ln)
            self.defs.setdefault((t.value.id, path), None)
            self.writes_into.add((t.value.id, path))
            return self.fwd_setitem(s, t, path, ln)
        if isinstance(s, gast.If):
            return self.fwd_if(s, path, ln)
        if isinstance(s, gast.While):
            return self.fwd_while(s, path, ln)
        if isinstance(s, gast.For):
            self.defs.setdefault((s.target.id, path), None)
            return self.fwd_for(s, path, ln)
        if isinstance(s, gast.Return):
            return [], None
        if isinstance(s, gast.Expr):
            return self.fwd_expr(s, ln)
        if isinstance(s, gast.Break):
            # A break skips the decision pushes after the enclosing ifs of this loop body: it makes
            # them itself, innermost first (filled in once each if knows whether it is recorded).
            slot = _Slot()
            for ctx in reversed(self.open_ifs):
                if ctx is None:
                    break
                ctx.append(slot)
            return [slot, s], None
        return [s], None  # pass, assert, raise

    def fwd_expr(self, s, ln):
        call = s.value
        op = self.facts.classify(call)
        if op.kind == "push":
            stack, values = op.args[0], op.args[1:]
            if stack.id in self.facts.active:
                self.adj_stacks.add(stack.id)
                v = values[0]

                def bwd(state, v=v, stack=stack.id):
                    dst = self.dname(stack)
                    popped = _attr_call(dst, "pop", [])
                    if self.facts.is_active(v):
                        return self.accumulate(v.id, popped, state, ln, owned=False)
                    return [expr_stmt(popped, ln)]
                return [s], bwd
            return [s], None
        if op.kind in ("nondiff",):
            return [s], None
        if any(self.facts.is_active(a) for a in op.args):
            what = getattr(op, "what", None) or (describe(op.obj) if hasattr(op, "obj") else "call")
            self.fail(f"a call made for its side effects ({what}) receives a differentiated value; "
                      "srcad cannot follow values through side effects. Assign the result instead",
                      ln, "side-effect call")
        return [s], None

    def fwd_assign(self, s, t, path, ln):
        value = s.value
        op = self.facts.classify(value)
        active_t = t in self.facts.active
        saves = (t, path) in self.saved
        pre = [self.push(N(t), ln)] if saves else []
        saves_tape = None
        if active_t and op.kind == "unknown" and any(self.facts.is_active(a) for a in op.args):
            hint = getattr(op, "hint", None) or (
                "give it a derivative with @srcad.defvjp (see docs/rules.md)"
                if op.key is not None else "call it by a global name")
            self.fail(f"no derivative rule for {op.what}; {hint}", ln, op.what)
        if active_t and op.kind == "call":
            s, tape = self._call_forward(t, op, value, path, ln)
            if (tape, path) in self.saved:
                pre.insert(0, self.push(N(tape), ln))   # popped after t's old value (see bwd)
                saves_tape = tape
        self_ref = t in names_read([value])

        def bwd(state):
            out = []
            if saves and self_ref:
                out.append(self.pop(t, ln))
            if active_t and state.get(t) is not None:
                code = self.adjoint_of(t, op, value, state, ln)
                self._note_reads(path, code)
                if self_ref and t in names_read(code):
                    self.self_reads.add((t, path))
                out += code
            elif op.kind == "pop" and op.args[0].id in self.facts.active:
                # Differentiating generated code again (third order): the adjoint of every push onto
                # an active stack pops the adjoint stack, so the adjoint of every pop must push, a zero
                # where the popped value's adjoint is dead; else the adjoint stack runs out.
                self.adj_stacks.add(op.args[0].id)
                out.append(expr_stmt(_attr_call(self.dname(op.args[0].id), "append", [_const(FLOAT_ZERO)]), ln))
            if saves and not self_ref:
                out.append(self.pop(t, ln))
            if saves_tape is not None:
                out.append(self.pop(saves_tape, ln))
            return out
        return pre + [s], bwd

    def _call_forward(self, t, op, value, path, ln):
        """``t = g(a, b)`` for a helper that is not inlined: ``t, tape = fwd_g(a, b)``.

        The helper's forward sweep runs once, here, and records its tape; the backward sweep
        hands the tape to ``bwd_g`` (``_call_adjoint``). Returns (statement, tape name)."""
        wrt, actives = call_wrt(self.info, op, value, self.facts.is_active, ln)
        fwd_node, bwd_node, seed = self.derivative_of_call(op.obj, wrt, ln)
        tape = self.namer.fresh("tape")
        self.norm.locals.add(tape)
        self.defs.setdefault((tape, path), None)
        self._calls[id(value)] = (bwd_node, seed, tape, actives)
        target = gast.Tuple(elts=[N(t, True), N(tape, True)], ctx=gast.Store())
        call = _call(fwd_node, [clone(a) for a in value.args],
                     [gast.keyword(arg=k.arg, value=clone(k.value)) for k in value.keywords])
        return at(gast.Assign(targets=[target], value=call, type_comment=None), ln), tape

    def fwd_setitem(self, s, t, path, ln):
        x = t.value.id
        index = t.slice
        value = s.value
        saves = (x, path) in self.saved
        pre = []
        container = x in self.facts.containers
        if saves and container:
            # a dict key may not exist yet: save_item/restore_item remember and undo its absence
            # (deliberately without derivative rules: differentiating this again is refused)
            pre.append(self.push(_call(self.env.ref("save_item", runtime.save_item), [N(x), index_value(index, self.env.ref)]), ln))
        elif saves:
            np_copy = gast.Attribute(value=self.env.ref("np"), attr="copy", ctx=gast.Load())
            old = gast.Subscript(value=N(x), slice=clone(index), ctx=gast.Load())
            pre.append(self.push(_call(np_copy, [old]), ln))

        def bwd(state):
            out = []
            if x in self.facts.active and state.get(x) is not None:
                out += self.ensure_owned(x, state, ln)
                take = _call(self.env.ref("pop_at"), [N(self.dname(x)), index_value(index, self.env.ref)])
                if self.facts.is_active(value):
                    if self.facts.ranks.get(value.id) != 0 or self.facts.ranks.get(x) != 1 or \
                            not self._int_index(index):
                        # NumPy may have broadcast or repeated it (a list or dict entry: neither)
                        take.args.append(N(value.id))
                    out += self.accumulate(value.id, take, state, ln, owned=False)
                else:
                    out.append(expr_stmt(take, ln))
                self._note_reads(path, out)
            if saves and container:
                popped = _attr_call(self.stack_name(), "pop", [])
                out.append(expr_stmt(_call(self.env.ref("restore_item", runtime.restore_item), [N(x), index_value(index, self.env.ref),
                                                                      popped]), ln))
            elif saves:
                tmp = gast.Subscript(value=N(x), slice=clone(index), ctx=gast.Store())
                out.append(at(gast.Assign(targets=[tmp], value=_attr_call(self.stack_name(), "pop", []),
                                          type_comment=None), ln))
            if saves:
                # the restore writes into the array x held here: later rebindings of x must be
                # undone first (its index may read variables too)
                self._note_reads(path, out[-1:] + [gast.Expr(value=N(x))])
            return out
        return pre + [s], bwd

    def fwd_if(self, s, path, ln):
        in_loop = self._in_loop(path)
        prefix = path[:-1]
        i = path[-1][0]
        slots = []
        self.open_ifs.append(slots)
        body_f, body_items = self.fwd_block(s.body, prefix + ((i, "b"),))
        else_f, else_items = self.fwd_block(s.orelse, prefix + ((i, "o"),))
        self.open_ifs.pop()
        if not body_items and not else_items:
            return [at(gast.If(test=s.test, body=body_f or [gast.Pass()], orelse=else_f), ln)], None
        cond = self.namer.fresh("cond")
        fwd = [assign(cond, s.test, ln), at(gast.If(test=N(cond), body=body_f or [gast.Pass()], orelse=else_f), ln)]
        if in_loop:
            fwd.append(self.push(N(cond), ln))
            for slot in slots:
                slot.stmts.append(self.push(N(cond), ln))

        def bwd(state):
            out = []
            if in_loop:
                out.append(self.pop(cond, ln))
            s1, s2 = dict(state), dict(state)
            b1 = self.bwd_block(body_items, s1)
            b2 = self.bwd_block(else_items, s2)
            self.merge(state, [(s1, b1), (s2, b2)], ln, path)
            if b1 or b2:
                out.append(at(gast.If(test=N(cond), body=b1 or [gast.Pass()], orelse=b2), ln))
            return out
        return fwd, bwd

    def fwd_while(self, s, path, ln):
        in_loop = self._in_loop(path)
        body_path = path[:-1] + ((path[-1][0], "b"),)
        self.loop_bodies.add(body_path)
        self.open_ifs.append(None)
        body_f, items = self.fwd_block(s.body, body_path)
        self.open_ifs.pop()
        if not items:
            return [at(gast.While(test=s.test, body=body_f or [gast.Pass()], orelse=[]), ln)], None
        n = self.namer.fresh("n")
        body_f = [assign(n, gast.BinOp(left=N(n), op=gast.Add(), right=_const(1)), ln)] + body_f
        fwd = [assign(n, _const(0), ln), at(gast.While(test=s.test, body=body_f, orelse=[]), ln)]
        if in_loop:
            fwd.append(self.push(N(n), ln))
        it = "_" if "_" not in self.namer.taken else self.namer.fresh("it")
        self.namer.reserve(it)

        def bwd(state):
            out = []
            if in_loop:
                out.append(self.pop(n, ln))
            pre, body = self.loop_body(items, state, ln, path)
            rng = _call(N("range"), [N(n)])
            out += pre
            out.append(at(gast.For(target=N(it, True), iter=rng, body=body or [gast.Pass()], orelse=[],
                                   type_comment=None), ln))
            return out
        return fwd, bwd

    def fwd_for(self, s, path, ln):
        in_loop = self._in_loop(path)
        target = s.target.id
        body_path = path[:-1] + ((path[-1][0], "b"),)
        self.loop_bodies.add(body_path)
        self.open_ifs.append(None)
        body_f, items = self.fwd_block(s.body, body_path)
        self.open_ifs.pop()
        has_break = any(isinstance(n, gast.Break) for st in s.body for n in self._own_breaks(st))
        saves = (target, path) in self.saved
        pre = [self.push(N(target), ln)] if saves else []
        saves_rng = None
        if not items:
            if saves:
                return pre + [s], (lambda state: [self.pop(target, ln)])
            return [s], None
        iter_expr = s.iter
        assigned_in_body = {n.id for st in s.body for n in gast.walk(st)
                            if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store)}
        if names_read([iter_expr]) & (assigned_in_body | {target} | self._changed_in_place()):
            # The range may read other values in the backward sweep (``len(lst)`` after
            # ``lst.append``): evaluate it once, and replay that range (saved like any variable
            # where an enclosing loop overwrites it)
            rng = self.namer.fresh("rng")
            self.norm.locals.add(rng)
            self.defs.setdefault((rng, path), None)
            if (rng, path) in self.saved:
                pre.append(self.push(N(rng), ln))
                saves_rng = rng
            pre.append(assign(rng, iter_expr, ln))
            iter_expr = N(rng)
        fwd = pre
        count = None
        if has_break:
            count = self.namer.fresh("n")
            body_f = [assign(count, gast.BinOp(left=N(count), op=gast.Add(), right=_const(1)), ln)] + body_f
            fwd.append(assign(count, _const(0), ln))
        fwd.append(at(gast.For(target=N(target, True), iter=clone(iter_expr), body=body_f, orelse=[],
                               type_comment=None), ln))
        if has_break and in_loop:
            fwd.append(self.push(N(count), ln))

        def bwd(state):
            out = []
            if has_break and in_loop:
                out.append(self.pop(count, ln))
            it = clone(iter_expr)
            self._note_reads(path, [gast.Expr(value=it)])
            if has_break:
                it = gast.Subscript(value=it, slice=gast.Slice(lower=None, upper=N(count), step=None),
                                    ctx=gast.Load())
            pre_b, body = self.loop_body(items, state, ln, path)
            out += pre_b
            out.append(at(gast.For(target=N(target, True), iter=_call(N("reversed"), [it]),
                                   body=body or [gast.Pass()], orelse=[], type_comment=None), ln))
            if saves_rng is not None:
                out.append(self.pop(saves_rng, ln))
            if saves:
                out.append(self.pop(target, ln))
            return out
        return fwd, bwd

    def _changed_in_place(self):
        if getattr(self, "_changed", None) is None:
            self._changed = changed_in_place(self.body, self.facts)
        return self._changed

    @staticmethod
    def _own_breaks(stmt):
        """Break statements that belong to the loop containing ``stmt`` (not to nested loops)."""
        if isinstance(stmt, gast.Break):
            yield stmt
        elif isinstance(stmt, gast.If):
            for sub in stmt.body + stmt.orelse:
                yield from Reverse._own_breaks(sub)

    # ------------------------------------------------------------------ backward sweep
    def bwd_block(self, items, state):
        out = []
        for item in reversed(items):
            out += item(state)
        return out

    def loop_body(self, items, state, ln, path):
        """Backward loop body with a loop-invariant adjoint state. Returns (before-loop, body).

        Adjoints the body writes are made live before the loop (``dv = 0.0``) and, where the body
        resets them, set back to zero at the end of each pass, so every pass starts alike.
        """
        entry = dict(state)
        before = []
        for _ in range(8):
            snapshot = self.namer.snapshot()
            work = dict(entry)
            body = self.bwd_block(items, work)
            changed = False
            for name in sorted(k for k, v in work.items() if v is not None):
                end, st = work[name], entry.get(name)
                if st is None:
                    stmt, entry[name] = self.zero(name, path, ln)
                    before.append(stmt)
                    changed = True
                elif join(st, end) != st:
                    entry[name] = join(st, end)
                    changed = True
            if not changed:
                break
            self.namer.restore(snapshot, self.adjoints.values())
        for name, st in sorted(entry.items()):
            if st is not None and work.get(name) is None:
                body.append(self.zero(name, path, ln)[0])
        state.clear()
        state.update(entry)
        return before, body

    def zero(self, name, path, ln):
        """A materialized zero adjoint for ``name`` before the statement at ``path``: (stmt, state).

        ``zeros_like(v)`` where ``v`` is certainly defined there (then every rule sees an adjoint
        of the right shape), ``0.0`` for scalars and where ``v`` may not exist yet.
        """
        d = self.dname(name)
        if self.facts.ranks.get(name) == 0:
            return assign(d, _const(FLOAT_ZERO), ln), Live(True, False)
        defined = name in self.norm.params or any(
            n == name and len(dpath) == 1 and dpath[0][0] < path[0][0] for n, dpath in self.defs)
        # and ``v`` still holds that value here: no later assignment left it another array
        # (``x = g(y, x)`` further on makes ``x`` an array where it was a number)
        rebound_later = any(n == name and dpath[0][0] >= path[0][0] for n, dpath in self.defs)
        if defined and not rebound_later:
            return assign(d, _call(self.env.ref("zeros_like"), [N(name)]), ln), Live(True, False)
        return assign(d, _const(FLOAT_ZERO), ln), Live(True, True)

    def merge(self, state, branches, ln, path):
        names = set()
        for st, _ in branches:
            names |= {k for k, v in st.items() if v is not None}
        state.clear()
        for name in sorted(names):
            sts = [st.get(name) for st, _ in branches]
            if all(v is not None for v in sts):
                j = sts[0]
                for v in sts[1:]:
                    j = join(j, v)
                state[name] = j
                continue
            j = None
            for (st, code), v in zip(branches, sts):
                if v is None:
                    stmt, v = self.zero(name, path, ln)
                    code.append(stmt)
                j = v if j is None else join(j, v)
            state[name] = j

    def ensure_owned(self, name, state, ln):
        st = state.get(name)
        if st is None or st.owned:
            return []
        state[name] = Live(True, st.maybe_zero)
        d = self.dname(name)
        return [assign(d, _call(self.env.ref("copy_adjoint"), [N(d)]), ln)]

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
        if name in self.facts.containers or name in self.facts.maybe_seq:
            state[name] = Live(False, maybe_zero)
            return [assign(d, _call(self.env.ref("add"), [N(d), expr]), ln)]
        op = gast.Add()
        if isinstance(expr, gast.UnaryOp) and isinstance(expr.op, gast.USub):
            op, expr = gast.Sub(), expr.operand     # dx -= e rather than dx += -e
        state[name] = Live(True, maybe_zero)
        if st.owned:
            return [at(gast.AugAssign(target=N(d, True), op=op, value=expr), ln)]
        return [assign(d, gast.BinOp(left=N(d), op=op, right=expr), ln)]

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
            tpl = op.template
            wanted = {p for p, a in op.bound.items() if p in tpl.diff_params and self.facts.is_active(a)}
            values = dict(op.bound)
            values[tpl.out] = N(t)
            pre, exprs = splice_reverse(tpl, values, dt, wanted, self.namer.fresh, self.env.ref)
            for p in tpl.diff_params:
                if p in exprs:
                    e = exprs[p]
                    me = op.bound[p]
                    others = [a for q, a in op.bound.items() if q != p and q in tpl.params]
                    if self.facts.ranks.get(t) == 0 or self.facts.same_shape(t, me.id) or all(
                            isinstance(a, gast.Constant) or (isinstance(a, gast.Name) and a.id == me.id)
                            for a in others):
                        e = self._strip_unbroadcast(e)  # the output cannot be larger than this input
                    e = self.simplify(e)
                    contribs.append((op.bound[p].id, e, _owned_expr(e)))
        elif kind == "getitem":
            x = op.args[0]
            if self.facts.is_active(x):
                return self._getitem_adjoint(t, x.id, op.index, state, ln)
        elif kind in ("build", "dict"):
            keys = op.keys if kind == "dict" else [_const(k) for k in range(len(op.args))]
            for k, a in zip(keys, op.args):
                if self.facts.is_active(a):
                    contribs.append((a.id, _call(self.env.ref("tuple_get"), [dt, clone(k)]), False))
        elif kind == "call":
            pre, contribs = self._call_adjoint(t, op, value, dt, ln)
        elif kind == "pop":
            stack = op.args[0].id
            self.adj_stacks.add(stack)
            out = [expr_stmt(_attr_call(self.dname(stack), "append", [dt]), ln)]
            state[t] = None
            return out
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

    def simplify(self, e):
        """Peephole rewrites of a spliced expression: constant folding, ``x ** 1``, and adjoint
        helpers of products replaced by the plain matrix product when the operands' ranks are known."""
        if isinstance(e, gast.BinOp):
            e.left, e.right = self.simplify(e.left), self.simplify(e.right)
            l, r = e.left, e.right
            if _num(l) and _num(r) and not isinstance(e.op, (gast.Div, gast.Pow, gast.FloorDiv, gast.Mod)):
                v = {gast.Add: lambda a, b: a + b, gast.Sub: lambda a, b: a - b,
                     gast.Mult: lambda a, b: a * b}.get(type(e.op))
                if v is not None:
                    return _const(v(l.value, r.value))
            if isinstance(e.op, gast.Pow) and _num(r) and r.value == 1:
                return l
            if isinstance(e.op, gast.Mult) and _num(r) and r.value == 1:
                return l
            return e
        if isinstance(e, gast.UnaryOp):
            e.operand = self.simplify(e.operand)
            return e
        if isinstance(e, gast.Call):
            e.args = [self.simplify(a) for a in e.args]
            ub = self.env.by_id.get(id(runtime.unbroadcast))
            if isinstance(e.func, gast.Name) and e.func.id == ub and isinstance(e.args[0], gast.UnaryOp) \
                    and isinstance(e.args[0].op, gast.USub):
                # unbroadcast(-g, x) -> -unbroadcast(g, x): negate the (smaller) reduced array
                e.args[0] = e.args[0].operand
                return gast.UnaryOp(op=gast.USub(), operand=e)
            return self._product_adjoint(e)
        return e

    def _product_adjoint(self, e):
        if not isinstance(e.func, gast.Name) or len(e.args) != 3:
            return e
        names = {self.env.by_id.get(id(getattr(runtime, h))): h for h in
                 ("matmul_adjoint_a", "matmul_adjoint_b", "dot_adjoint_a", "dot_adjoint_b")}
        which = names.get(e.func.id)
        if which is None:
            return e
        g, a, b = e.args
        ra, rb = self._rank(a), self._rank(b)
        if ra not in (1, 2) or rb not in (1, 2):
            return e
        if ra == 2 and rb == 2:
            # BLAS wants contiguous operands: an adjoint spread by a large reduction is a broadcast
            # view, which np.matmul would otherwise multiply on its slow path
            g = _call(gast.Attribute(value=self.env.ref("np"), attr="ascontiguousarray", ctx=gast.Load()), [g])
        T = lambda v: gast.Attribute(value=v, attr="T", ctx=gast.Load())  # noqa: E731
        mm = lambda u, v: gast.BinOp(left=u, op=gast.MatMult(), right=v)  # noqa: E731
        outer = lambda u, v: _call(gast.Attribute(value=self.env.ref("np"), attr="outer",  # noqa: E731
                                                  ctx=gast.Load()), [u, v])
        if which.endswith("_a"):
            table = {(2, 2): lambda: mm(g, T(b)), (1, 2): lambda: mm(b, g),
                     (2, 1): lambda: outer(g, b), (1, 1): lambda: gast.BinOp(left=g, op=gast.Mult(), right=b)}
        else:
            table = {(2, 2): lambda: mm(T(a), g), (1, 2): lambda: outer(a, g),
                     (2, 1): lambda: mm(T(a), g), (1, 1): lambda: gast.BinOp(left=g, op=gast.Mult(), right=a)}
        return table[ra, rb]()

    def _rank(self, atom):
        if isinstance(atom, gast.Constant):
            return 0 if _num(atom) else None
        if isinstance(atom, gast.Name):
            return self.facts.ranks.get(atom.id)
        return None

    def _strip_unbroadcast(self, e):
        ub = self.env.ref_name("unbroadcast")
        if isinstance(e, gast.Call) and isinstance(e.func, gast.Name) and e.func.id == ub:
            return e.args[0]
        return e

    def _int_index(self, index):
        """Is ``index`` one integer (so ``x[index] = v`` writes exactly one element)?"""
        if isinstance(index, gast.Constant):
            return isinstance(index.value, int) and not isinstance(index.value, bool)
        return isinstance(index, gast.Name) and index.id in self.facts.int_vars

    def _getitem_adjoint(self, t, x, index, state, ln):
        # ``h = h[0]``: the incoming adjoint is the new value's; the old value's starts at zero
        # (issue 11, class 1)
        zero_in = state.get(x) is None or x == t
        out = [] if x in self.facts.containers or zero_in else self.ensure_owned(x, state, ln)
        d = self.dname(x)
        base = _const(FLOAT_ZERO) if zero_in else N(d)
        call = _call(self.env.ref("add_at"), [base, N(x), index_value(index, self.env.ref), N(self.dname(t))])
        out.append(assign(d, call, ln))
        state[t] = None
        state[x] = Live(True) if x not in self.facts.containers else Live(False)
        return out

    def _call_adjoint(self, t, op, value, dt, ln):
        """``bwd_g(tape, d<out>=dt)``: the helper's backward sweep over the tape its forward
        sweep recorded (``_call_forward``)."""
        bwd_node, seed, tape, actives = self._calls[id(value)]
        call = _call(clone(bwd_node), [N(tape)], [gast.keyword(arg=seed, value=dt)])
        if len(actives) == 1:
            return [], [(actives[0].id, call, False)]
        temps = [self.namer.fresh("d" + a.id) for a in actives]
        pre = [at(gast.Assign(targets=[gast.Tuple(elts=[N(n, True) for n in temps], ctx=gast.Store())],
                              value=call, type_comment=None), ln)]
        contribs = [(a.id, N(tmp), False) for a, tmp in zip(actives, temps)]
        return pre, contribs

