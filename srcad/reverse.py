"""Step 6: reverse mode. A forward sweep that records what the backward sweep needs on a stack
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
import numpy as np

from srcad import runtime
from srcad.adjoints import Live
from srcad.analyze import call_wrt, changed_in_place
from srcad.astutil import N, assign, at, clone, expr_stmt, index_value, stored_names
from srcad.astutil import attr_call as _attr_call, call as _call, const as _const, names_read
from srcad.astutil import walk
from srcad.buffers import index_stacks
from srcad.backward import (AssignRecord, Backward, ForRecord, IfRecord, PushRecord, RestoreRecord,
                            SetitemRecord, WhileRecord)
from srcad.errors import fail_at
from srcad.floats import _integer, exact_stacks, python_floats
from srcad.names import names_in
from srcad.parse import GENERATED
from srcad.saves import BODY, ORELSE, SELF, SaveLog, Step, inner


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




class Reverse(Backward):
    """Builds the forward and backward sweeps of one analyzed function (``pipeline.analyze``).

    ``facts``: the analysis of ``body``; ``derivative_of_call(callee, wrt, lineno)`` gives the
    ``fwd_``/``bwd_`` functions of a helper that is called rather than inlined."""

    def __init__(self, info, norm, body, facts, ret_name, wrt, env, derivative_of_call):
        self.info = info
        self.norm = norm
        self.namer = norm.namer
        self.body = body
        self.facts = facts
        self.ret_name = ret_name
        self.wrt = wrt
        self.env = env
        self.derivative_of_call = derivative_of_call
        self.adjoints = {}
        self.stacks = {}        # (what, name) -> stack name, in the order they were made
        self.stack_types = {}   # stack name -> float, int, bool or None (any value)
        self.saved = set()
        self.recomputed = {}   # name -> (Position of its one definition, value): evaluated again
        self.same_ifs = set()  # Positions of ifs whose two branches have the same adjoint code
        self.same_branches = set()
        self.shaped = set()    # saved (name, Position)s the backward sweep reads only the shape of
        self._calls = {}   # id(call node) -> what the backward sweep of a kept call needs

    # ------------------------------------------------------------------ names
    def fail(self, msg, lineno, construct):
        fail_at(self.info, lineno, msg, construct)

    def dname(self, name):
        if name not in self.adjoints:
            self.adjoints[name] = self.namer.adjoint(name)
        return self.adjoints[name]

    # ------------------------------------------------------------------ stacks
    # One stack per saved variable (``stack_y``; ``shapes_y`` for its shape, ``items_x`` for the old
    # entries of ``x[i] = v``), created before the forward sweep. The backward sweep mirrors the
    # forward sweep, so the pops of one stack undo its pushes in reverse order whatever the other
    # stacks do. Where the value's type is known the stack is typed: ``Stack(float)`` keeps 8 bytes
    # per scalar (``runtime.Stack``), decisions are ``Stack(bool)``, trip counts ``Stack(int)``.
    _PREFIX = {"value": "stack_", "shape": "shapes_", "item": "items_"}

    def stack_for(self, what, name, typ=None):
        """The name of the stack that holds the saved ``what`` of ``name`` (made on first use)."""
        key = (what, name)
        st = self.stacks.get(key)
        if st is None:
            st = self.namer.fresh(self._PREFIX[what] + name, numbered=False)
            self.stacks[key] = st
            self.stack_types[st] = typ
        return st

    @property
    def stack(self):
        """The first stack made (None where nothing is recorded)."""
        return next(iter(self.stacks.values()), None)

    def scalar_type(self, name):
        """``float`` where ``name`` certainly holds a float scalar (a differentiated number: inputs
        are cast to float; not for other libraries' 0-d arrays), ``int`` for an integer variable."""
        if name in self.facts.int_vars:
            return int
        if self.facts.ranks.get(name) == 0 and name in self.facts.active and getattr(self.facts, "in_place", True):
            return float
        return None

    def push(self, value, lineno, stack):
        return expr_stmt(_attr_call(stack, "append", [value]), lineno)

    def pop(self, name, lineno, stack):
        return assign(name, _attr_call(stack, "pop", []), lineno)

    # ------------------------------------------------------------------ driver
    def build(self):
        """Returns (forward statements, backward statements).

        Pass 1 generates without recording anything and notes in a ``SaveLog`` where the backward
        sweep reads which variable; the next pass saves exactly the overwritten values those reads
        need (saves.py). A restore (``x[i] = stack.pop()``) reads ``x`` itself, which may need
        further saves of ``x``, so the passes repeat until the saved set no longer grows.
        """
        snapshot = (self.namer.snapshot(), dict(self.adjoints))
        saved, recomputed, same, differ = set(), {}, set(), set()
        for _ in range(100):
            self.adjoints, self.stacks, self.stack_types = dict(snapshot[1]), {}, {}
            self.namer.restore(snapshot[0], self.adjoints.values())
            self.saved, self.recomputed, self.same_ifs = saved, recomputed, same
            self.log = SaveLog()
            self.same_branches = set()
            fwd, bwd = self._generate()
            save, again, _, shaped = self.log.plan(self.facts.aliasing.shares, skip=self.facts.stacks)
            again = {n: (d, self.log.pure[(n, d)][2]) for n, d in again}
            needed = saved | save
            # an if whose branches ever differ records its decision from then on
            differ |= same - self.same_branches
            now_same = self.same_branches - differ
            shaped = {k for k in shaped if self.facts.ranks.get(k[0]) != 0}   # a number is no larger
            if needed == saved and again == recomputed and now_same == same and shaped == self.shaped:
                return fwd, bwd
            self.shaped = shaped
            same = now_same
            # saves grow within the finite set of (name, position) definitions; a value once
            # saved is not recomputed after all
            saved = needed
            recomputed = {n: v for n, v in again.items() if (n, v[0]) not in saved}
        raise AssertionError("internal error: the saved values did not settle")   # pragma: no cover

    def _generate(self):
        self.adj_stacks = set()
        self.open_ifs = []   # per enclosing recorded-if context: break slots; None marks a loop
        fwd, self.records = self.fwd_block(self.body, ())
        fwd = _flatten_slots(fwd)
        state = {}
        ret = self.ret_name
        bwd = []
        ln = self.body[-1].lineno if self.body else self.info.lineno
        self.seed_name = self.dname(ret)
        if ret in self.facts.active:
            if self.facts.ranks.get(ret) != 0 or getattr(self.facts, "makes_complex", False):
                bwd.append(assign(self.seed_name, _call(self.env.ref("seed"), [N(self.seed_name), N(ret)]), ln))
            state[ret] = Live(False)
        bwd += self.sweep(self.records, state)
        self.final_state = state
        prelude = []
        inits = set()   # saved variables that may not exist yet when their first push runs
        for name, dpos in self.saved:
            first = self.log.first_top_def(name)
            # a ``for`` loop's target stays unbound where the loop runs no pass
            loop = first is not None and isinstance(self.body[first], gast.For) and \
                isinstance(self.body[first].target, gast.Name) and self.body[first].target.id == name
            if name not in self.norm.params and (first is None or first >= dpos[0].index or loop):
                inits.add(name)
        for n in sorted(inits):
            # a typed placeholder where the stack is typed (it is pushed, popped back, never read)
            typ = self.stack_types.get(self.stacks.get(("value", n)))
            prelude.append(assign(n, _const(typ() if typ is not None else None), self.info.lineno))
        for n in sorted(self.facts.mutated & set(self.norm.params)):
            prelude.append(assign(n, _call(self.env.ref("owned_copy"), [N(n)]), self.info.lineno))
        for st in sorted(self.adj_stacks):
            prelude.append(assign(self.dname(st), _call(self.env.ref("Stack"), []), self.info.lineno))
        made = []
        for st in self.stacks.values():
            typ = self.stack_types[st]
            args = [self.env.ref(typ.__name__, typ)] if typ is not None else []
            made.append(assign(st, _call(self.env.ref("Stack"), args), self.info.lineno))
        return made + prelude + fwd, bwd

    def _note_reads(self, pos, stmts):
        """Record the primal variables that backward code at ``pos`` reads (and which of them it
        reads only for their shape: the second argument of ``unbroadcast`` and ``grad_like``)."""
        shapers = {self.env.ref_name("unbroadcast"), self.env.ref_name("grad_like")}
        shape_only = set()
        for s in stmts:
            for n in walk(s):
                if isinstance(n, gast.Call) and isinstance(n.func, gast.Name) and n.func.id in shapers \
                        and len(n.args) == 2 and isinstance(n.args[1], gast.Name):
                    shape_only.add(id(n.args[1]))
        for s in stmts:
            for n in walk(s):
                if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load) and n.id in self.norm.locals:
                    self.log.read(n.id, pos, shape_only=id(n) in shape_only)

    # ------------------------------------------------------------------ forward sweep
    # Each method returns (forward statements, record or None): the record says what the backward
    # sweep must do for the statement (backward.py).

    def fwd_block(self, stmts, prefix):
        fwd, records = [], []
        for i, s in enumerate(stmts):
            f, record = self.fwd_stmt(s, prefix + (Step(i, SELF),))
            fwd += f
            if record is not None:
                records.append(record)
        return fwd, records

    def fwd_stmt(self, s, pos):
        ln = getattr(s, "lineno", self.info.lineno)
        if isinstance(s, gast.Assign):
            t = s.targets[0]
            if isinstance(t, gast.Name):
                self.log.define(t.id, pos)
                self.log.assigns.add(pos)
                return self.fwd_assign(s, t.id, pos, ln)
            self.log.define(t.value.id, pos)
            self.log.writes_into.add((t.value.id, pos))
            return self.fwd_setitem(s, t, pos, ln)
        if isinstance(s, gast.If):
            return self.fwd_if(s, pos, ln)
        if isinstance(s, gast.While):
            return self.fwd_while(s, pos, ln)
        if isinstance(s, gast.For):
            self.log.define(s.target.id, pos)
            return self.fwd_for(s, pos, ln)
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
        op = self.facts.classify(s.value)
        if op.kind == "push":
            stack, values = op.args[0], op.args[1:]
            if stack.id in self.facts.active:
                self.adj_stacks.add(stack.id)
                return [s], PushRecord(stack.id, values[0], ln)
            return [s], None
        if op.kind == "nondiff":
            return [s], None
        if any(self.facts.is_active(a) for a in op.args):
            what = op.describe()
            self.fail(f"a call made for its side effects ({what}) receives a differentiated value; "
                      "srcad cannot follow values through side effects. Assign the result instead",
                      ln, "side-effect call")
        return [s], None

    def fwd_assign(self, s, t, pos, ln):
        value = s.value
        op = self.facts.classify(value)
        active_t = t in self.facts.active
        how = self._pure(t, value, op)
        if how is not None:
            self.log.pure[(t, pos)] = how + (value,)
        shape_args = self._shape_args(value, op)
        if shape_args is not None:
            self.log.shape_args[(t, pos)] = shape_args
        saves = (t, pos) in self.saved
        pre = []
        if saves:
            if (t, pos) in self.shaped:
                pre.append(self.push(_call(self.env.ref("shape_of"), [N(t)]), ln, self.stack_for("shape", t)))
            else:
                pre.append(self.push(N(t), ln, self.stack_for("value", t, self.scalar_type(t))))
        saves_tape = None
        if active_t and op.kind == "unknown" and any(self.facts.is_active(a) for a in op.args):
            hint = op.hint or (
                "give it a derivative with @srcad.defvjp (see docs/rules.md)"
                if op.key is not None else "call it by a global name")
            self.fail(f"no derivative rule for {op.what}; {hint}", ln, op.what)
        if active_t and op.kind == "call":
            s, tape = self._call_forward(t, op, value, pos, ln)
            if (tape, pos) in self.saved:
                pre.insert(0, self.push(N(tape), ln, self.stack_for("value", tape)))   # popped after t's old value
                saves_tape = tape
        return pre + [s], AssignRecord(t, op, value, pos, ln, saves, saves_tape)

    def _pure(self, t, value, op):
        """(cheap, names read) where ``t = value`` can be evaluated again with the same result.

        Pure: arithmetic on names and numbers, and basic indexing of an array (``x[i]``, ``x[:, j]``).
        Cheap enough to evaluate again rather than push: indexing, and arithmetic on scalars."""
        def atoms(e):
            return isinstance(e, gast.Name) or (isinstance(e, gast.Constant) and
                                                isinstance(e.value, (int, float)) and not isinstance(e.value, bool))
        arith = (gast.Add, gast.Sub, gast.Mult, gast.Div)
        power = isinstance(value, gast.BinOp) and isinstance(value.op, gast.Pow) and \
            isinstance(value.right, gast.Constant)
        if isinstance(value, gast.BinOp) and atoms(value.left) and atoms(value.right) and (
                isinstance(value.op, arith) or power):
            return self.facts.ranks.get(t) == 0, names_read([value])
        if isinstance(value, gast.UnaryOp) and isinstance(value.op, gast.USub) and atoms(value.operand):
            return self.facts.ranks.get(t) == 0, names_read([value])
        if op.kind == "getitem" and isinstance(value.value, gast.Name):
            x = value.value.id
            if x in self.facts.containers or x in self.facts.maybe_seq or not (self.facts.ranks.get(x) or 0) >= 1:
                return None
            parts = value.slice.elts if isinstance(value.slice, gast.Tuple) else [value.slice]
            for p in parts:
                if isinstance(p, gast.Slice):
                    if not all(b is None or atoms(b) for b in (p.lower, p.upper, p.step)):
                        return None
                elif not _integer(p, self.facts.int_vars):
                    return None   # an array index would copy (and may be large)
            return True, names_read([value])
        return None

    def _shape_args(self, value, op):
        """The names whose shapes alone settle the shape of ``value`` (elementwise arithmetic, a
        ufunc, a matrix product, an element or row ``x[i]``), or None."""
        def atom(e):   # an array or a number (a list passed in may grow in place)
            return isinstance(e, gast.Name) and self.facts.ranks.get(e.id) is not None or \
                isinstance(e, gast.Constant) and type(e.value) in (int, float, bool)
        if isinstance(value, gast.BinOp) and atom(value.left) and atom(value.right) and \
                isinstance(value.op, (gast.Add, gast.Sub, gast.Mult, gast.Div, gast.MatMult, gast.Pow)):
            return names_read([value])
        if isinstance(value, gast.UnaryOp) and atom(value.operand):
            return names_read([value])
        if op.kind == "getitem" and isinstance(value.value, gast.Name):
            x = value.value.id
            if x in self.facts.containers or x in self.facts.maybe_seq or not (self.facts.ranks.get(x) or 0) >= 1:
                return None
            parts = value.slice.elts if isinstance(value.slice, gast.Tuple) else [value.slice]
            for p in parts:
                if isinstance(p, gast.Slice) and p.lower is None and p.upper is None and p.step is None:
                    continue
                if not (isinstance(p, gast.Constant) and type(p.value) is int) and \
                        not (isinstance(p, gast.Name) and p.id in self.facts.int_vars):
                    return None
            return {x}
        if isinstance(value, gast.Call) and op.kind == "rule" and not value.keywords and \
                all(atom(a) for a in value.args):
            where = self.facts.callee(value.func)
            if where.kind == "static" and (isinstance(where.obj, np.ufunc) or where.obj in (np.dot, np.matmul)):
                return names_read(value.args)
        return None

    def _call_forward(self, t, op, value, pos, ln):
        """``t = g(a, b)`` for a helper that is not inlined: ``t, tape = fwd_g(a, b)``.

        The helper's forward sweep runs once, here, and records its tape; the backward sweep
        hands the tape to ``bwd_g`` (``Backward._call_adjoint``). Returns (statement, tape name)."""
        wrt, actives = call_wrt(self.info, op, value, self.facts.is_active, ln)
        fwd_node, bwd_node, seed = self.derivative_of_call(op.obj, wrt, ln)
        tape = self.namer.fresh("tape")
        self.norm.locals.add(tape)
        self.log.define(tape, pos)
        self._calls[id(value)] = (bwd_node, seed, tape, actives)
        target = gast.Tuple(elts=[N(t, True), N(tape, True)], ctx=gast.Store())
        c = _call(fwd_node, [clone(a) for a in value.args],
                  [gast.keyword(arg=k.arg, value=clone(k.value)) for k in value.keywords])
        return at(gast.Assign(targets=[target], value=c, type_comment=None), ln), tape

    def fwd_setitem(self, s, t, pos, ln):
        x, index = t.value.id, t.slice
        saves = (x, pos) in self.saved
        container = x in self.facts.containers
        pre = []
        if saves and container:
            # a dict key may not exist yet: save_item/restore_item remember and undo its absence
            save = self.env.ref("save_item", runtime.save_item)
            pre.append(self.push(_call(save, [N(x), index_value(index, self.env.ref)]), ln, self.stack_for("item", x)))
        elif saves:
            # owned_copy, not np.copy: it copies in the array's own library (Dask has no np.copy)
            old = gast.Subscript(value=N(x), slice=clone(index), ctx=gast.Load())
            pre.append(self.push(_call(self.env.ref("owned_copy"), [old]), ln, self.stack_for("item", x)))
        return pre + [s], SetitemRecord(x, index, s.value, pos, ln, saves, container)

    def fwd_if(self, s, pos, ln):
        in_loop = self.log.in_loop(pos)
        slots = []
        self.open_ifs.append(slots)
        body_f, body_records = self.fwd_block(s.body, inner(pos, BODY))
        else_f, else_records = self.fwd_block(s.orelse, inner(pos, ORELSE))
        self.open_ifs.pop()
        if not body_records and not else_records:
            return [at(gast.If(test=s.test, body=body_f or [gast.Pass()], orelse=else_f), ln)], None
        cond = self.namer.fresh("cond")
        # the decision is taken once, as a Python bool, and replayed: a lazy array's test (Dask)
        # would otherwise be computed again by every `if` that reads it
        fwd = [assign(cond, self.decision(s.test), ln),
               at(gast.If(test=N(cond), body=body_f or [gast.Pass()], orelse=else_f), ln)]
        same = pos in self.same_ifs
        if in_loop and not same:
            taken = self.stack_for("value", cond, bool)
            fwd.append(self.push(N(cond), ln, taken))
            for slot in slots:
                slot.stmts.append(self.push(N(cond), ln, taken))
        return fwd, IfRecord(cond, in_loop and not same, body_records, else_records, pos, ln, same)

    def decision(self, test):
        """``test`` as a Python bool, each operand of ``and``/``or`` tested once as ``if`` would."""
        if isinstance(test, gast.BoolOp):
            return gast.BoolOp(op=test.op, values=[self.decision(v) for v in test.values])
        if isinstance(test, gast.UnaryOp) and isinstance(test.op, gast.Not):
            return test
        return _call(self.env.ref("bool", bool), [test])

    def fwd_while(self, s, pos, ln):
        in_loop = self.log.in_loop(pos)
        body_pos = inner(pos, BODY)
        self.log.loop_bodies.add(body_pos)
        self.open_ifs.append(None)
        body_f, records = self.fwd_block(s.body, body_pos)
        self.open_ifs.pop()
        if not records:
            return [at(gast.While(test=s.test, body=body_f or [gast.Pass()], orelse=[]), ln)], None
        n = self.namer.fresh("n")
        body_f = [assign(n, gast.BinOp(left=N(n), op=gast.Add(), right=_const(1)), ln)] + body_f
        fwd = [assign(n, _const(0), ln), at(gast.While(test=s.test, body=body_f, orelse=[]), ln)]
        if in_loop:
            fwd.append(self.push(N(n), ln, self.stack_for("value", n, int)))
        it = "_" if "_" not in self.namer.taken else self.namer.fresh("it")
        self.namer.reserve(it)
        return fwd, WhileRecord(n, in_loop, records, pos, ln, it)

    def fwd_for(self, s, pos, ln):
        in_loop = self.log.in_loop(pos)
        target = s.target.id
        body_pos = inner(pos, BODY)
        self.log.loop_bodies.add(body_pos)
        self.open_ifs.append(None)
        body_f, records = self.fwd_block(s.body, body_pos)
        self.open_ifs.pop()
        has_break = any(isinstance(n, gast.Break) for st in s.body for n in self._own_breaks(st))
        saves = (target, pos) in self.saved
        pre = [self.push(N(target), ln, self.stack_for("value", target, self.scalar_type(target)))] if saves else []
        if not records:
            return pre + [s], (RestoreRecord(target, ln) if saves else None)
        iter_expr = s.iter
        saves_rng = None
        if names_read([iter_expr]) & (stored_names(s.body) | {target} | self._changed_in_place()):
            # The range may read other values in the backward sweep (``len(lst)`` after
            # ``lst.append``): evaluate it once, and replay that range (saved like any variable
            # where an enclosing loop overwrites it)
            rng = self.namer.fresh("rng")
            self.norm.locals.add(rng)
            self.log.define(rng, pos)
            if (rng, pos) in self.saved:
                pre.append(self.push(N(rng), ln, self.stack_for("value", rng)))
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
            fwd.append(self.push(N(count), ln, self.stack_for("value", count, int)))
        return fwd, ForRecord(target, iter_expr, count, in_loop, records, pos, ln, saves, saves_rng)

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

    def _seed_keyword(self):
        """(the adjoint the backward sweep starts from, the keyword that holds its first value)
        where the keyword is known here: ``dout``, unless the function has a name ``dout``."""
        from srcad.pipeline import SEED
        if self.seed_name == SEED or SEED not in names_in(self.info.node):
            return self.seed_name, SEED
        return None

    # ------------------------------------------------------------------ what the derivative returns
    def returns(self, mode, fwd, bwd):
        """The gradients, shaped like the arguments, and for ``value_and_grad`` the value.

        Returns (forward sweep, backward sweep, result expression): a tuple of gradients for
        several ``wrt`` (always a tuple in mode 'call', whose caller unpacks it)."""
        info, norm, facts, env = self.info, self.norm, self.facts, self.env
        ln = info.node.body[-1].lineno if info.node.body else info.lineno
        ret = self.ret_name
        if mode != "call" and ret not in facts.active:
            # An output that does not depend on the inputs still has to be numeric: without this a
            # function returning None or a str got a zero gradient instead of seed's TypeError
            # (issue 7, tests/test_bad_inputs.py::test_non_numeric_output_is_refused).
            bwd = list(bwd) + [expr_stmt(_call(env.ref("seed"), [N(self.seed_name), N(ret)]), ln)]
        grads, arg_refs = [], []
        for w in self.wrt:
            st = self.final_state.get(w)
            arg = N(w)
            if len(facts.defs.get(w, ())) > 1:
                # the function rebinds the parameter (``y = x``): the gradient is shaped like the
                # argument, which the name no longer holds at the end of the backward sweep
                ref = norm.namer.fresh(w + "_arg", numbered=False)
                arg_refs.append(assign(ref, N(w), info.lineno))
                arg = N(ref)
            if st is None:
                grads.append(_call(env.ref("zeros_like"), [arg]))
            elif (st.maybe_zero and facts.ranks.get(w) != 0) or w in facts.containers or \
                    facts.ranks.get(w) is None:
                # containers (and arguments of unknown kind, which may be lists): the gradient takes
                # the input's structure (dict key order, nesting, zero arrays for unused leaves)
                grads.append(_call(env.ref("grad_like"), [N(self.dname(w)), arg]))
            else:
                grads.append(N(self.dname(w)))
            if st is not None and facts.makes_complex and w not in facts.containers:
                # complex values made on the way: a real argument's gradient is the real part
                grads[-1] = _call(env.ref("real_like"), [grads[-1], arg])
        fwd = arg_refs + list(fwd)
        result = grads[0] if len(grads) == 1 and mode != "call" else gast.Tuple(elts=grads, ctx=gast.Load())
        if mode == "value_and_grad":
            value = N(ret)
            if bwd:
                # The backward sweep restores overwritten variables (``s = stack.pop()``, and
                # ``v[i] = stack.pop()`` in place), the returned one too: keep the value as the
                # forward sweep left it (issue 7, tests/test_regressions.py::test_value_and_grad_value_*);
                # a copy where the returned name may alias an array written into
                kept = norm.namer.fresh("value")
                v = _call(env.ref("owned_copy"), [N(ret)]) if facts.mutated else N(ret)
                fwd.append(assign(kept, v, ln))
                value = N(kept)
            result = gast.Tuple(elts=[value, result], ctx=gast.Load())
        # typed stacks whose Python floats would meet ``/``, ``**``... as NumPy scalars did not
        plain = exact_stacks(fwd, bwd, result, env, norm.params)
        if mode != "call" and info.fn not in GENERATED:
            # a scalar loop's element reads as Python floats where that changes no result
            primal_of = {d: v for v, d in self.adjoints.items()}
            fwd = python_floats(fwd, bwd, result, facts, env, norm.namer, norm.params, primal_of,
                                self._seed_keyword(), result.elts[0] if mode == "value_and_grad" else None)
        if mode != "call":
            # a counted loop's saved numbers in a list indexed by the loop variable
            fwd = index_stacks(fwd, bwd, env, plain)
        return fwd, bwd, result
