"""Step 3: structured control flow. Early ``return``, ``break`` and ``continue`` become plain
``if``/``else`` nesting so that every statement's execution is decided by recorded branch decisions.

* A branch that always leaves (``if c: return x``) takes the rest of the block into its ``else``:
  no flag is needed, and a ``break`` that ends up last in a loop body stays a real ``break``.
* A branch that only sometimes leaves sets a flag (``returned``, ``broke``, ``skip``); the statements
  after it run under ``if not flag:``, and the loop body ends with ``if flag: break``.
* The function ends in exactly one ``return <name>``.
"""

import gast

from srcad.astutil import N, assign, at
from srcad.astutil import walk


class _Loop:
    def __init__(self):
        self.flags = {}   # kind -> flag name, for kinds that needed a guard
        self.ret_check = False  # body must end with `if returned: break`


class _Jump(gast.stmt):
    _fields = ()

    def __init__(self, kind, loop, lineno):
        super().__init__()
        self.kind = kind
        self.loop = loop
        self.lineno = lineno


class Restructurer:
    def __init__(self, namer, lineno):
        self.namer = namer
        self.lineno = lineno
        self.ret_flag = None
        self.loops = {}   # id(loop statement) -> its _Loop, from the first walk to the second
        self.ret_name = None

    def flag(self, kind, loop):
        if kind == "return":
            if self.ret_flag is None:
                self.ret_flag = self.namer.fresh("returned", numbered=False)
            return self.ret_flag
        if kind not in loop.flags:
            loop.flags[kind] = self.namer.fresh("broke" if kind == "break" else "skip", numbered=False)
        return loop.flags[kind]

    def guard(self, kinds, rest, lineno, loop):
        if loop is not None and any(k == "return" for k, _ in kinds):
            loop.ret_check = True
        names = sorted({self.flag(k, lp) for k, lp in kinds}, key=str)
        if len(names) == 1:
            test = N(names[0])
        else:
            test = gast.BoolOp(op=gast.Or(), values=[N(n) for n in names])
        return at(gast.If(test=gast.UnaryOp(op=gast.Not(), operand=test), body=rest, orelse=[]), lineno)

    def block(self, stmts, loop):
        """Returns (statements, kinds that may leave this block, whether it always leaves)."""
        out, may = [], set()
        for i, s in enumerate(stmts):
            ln = getattr(s, "lineno", self.lineno)
            if isinstance(s, gast.Return):
                if not (isinstance(s.value, gast.Name) and s.value.id == self.ret_name):
                    out.append(assign(self.ret_name, s.value, ln))
                out.append(_Jump("return", loop, ln))
                may.add(("return", None))
                return out, may, True
            if isinstance(s, (gast.Break, gast.Continue)):
                kind = "break" if isinstance(s, gast.Break) else "continue"
                out.append(_Jump(kind, loop, ln))
                may.add((kind, loop))
                return out, may, True
            if isinstance(s, gast.Raise):
                out.append(s)
                return out, may, True
            if isinstance(s, gast.If):
                rest = stmts[i + 1:]
                body, mb, ab = self.block(s.body, loop)
                orelse, me, ae = self.block(s.orelse, loop)
                merged = False
                if ab and not ae and rest:
                    orelse, me, ae = self.block(s.orelse + rest, loop)
                    merged = True
                elif ae and not ab and rest:
                    body, mb, ab = self.block(s.body + rest, loop)
                    merged = True
                out.append(at(gast.If(test=s.test, body=body or [gast.Pass()], orelse=orelse), ln))
                may |= mb | me
                if merged or (ab and ae):
                    return out, may, ab and ae
                if (mb | me) and rest:
                    tail, mr, ar = self.block(rest, loop)
                    out.append(self.guard(mb | me, tail, ln, loop))
                    return out, may | mr, False
                continue
            if isinstance(s, (gast.While, gast.For)):
                inner = _Loop()
                body, mb, ab = self.block(s.body, inner)
                s.body = body or [gast.Pass()]
                self.loops[id(s)] = inner
                out.append(s)
                leaving = {k for k in mb if k[0] == "return"}
                if leaving:
                    self.flag("return", None)
                    if loop is not None:
                        loop.ret_check = True
                    may |= leaving
                    rest = stmts[i + 1:]
                    if rest:
                        tail, mr, ar = self.block(rest, loop)
                        out.append(self.guard(leaving, tail, ln, loop))
                        return out, may | mr, False
                continue
            out.append(s)
        return out, may, False

    # ------------------------------------------------------------------ markers -> statements
    def resolve(self, stmts, loop):
        out = []
        for s in stmts:
            if isinstance(s, _Jump):
                out.extend(self.jump(s, loop))
                continue
            if isinstance(s, gast.If):
                s.body = self.resolve(s.body, loop) or [gast.Pass()]
                s.orelse = self.resolve(s.orelse, loop)
            elif isinstance(s, (gast.While, gast.For)):
                inner = self.loops.pop(id(s))
                body = self.resolve(s.body, inner)
                ln = s.lineno
                if "continue" in inner.flags:
                    body.insert(0, assign(inner.flags["continue"], gast.Constant(value=False, kind=None), ln))
                exits = []
                if "break" in inner.flags:
                    exits.append(inner.flags["break"])
                if inner.ret_check:
                    exits.append(self.ret_flag)
                if exits:
                    test = N(exits[0]) if len(exits) == 1 else gast.BoolOp(op=gast.Or(), values=[N(e) for e in exits])
                    body.append(at(gast.If(test=test, body=[at(gast.Break(), ln)], orelse=[]), ln))
                s.body = body or [gast.Pass()]
                if "break" in inner.flags:
                    out.append(assign(inner.flags["break"], gast.Constant(value=False, kind=None), ln))
            out.append(s)
        return out

    def jump(self, j, loop):
        ln = j.lineno
        true = gast.Constant(value=True, kind=None)
        if j.kind == "return":
            stmts = []
            if self.ret_flag is not None:
                stmts.append(assign(self.ret_flag, true, ln))
            if loop is not None and not loop.ret_check:
                stmts.append(at(gast.Break(), ln))
            return stmts
        if j.kind in loop.flags:
            return [assign(loop.flags[j.kind], true, ln)]
        if j.kind == "break":
            return [at(gast.Break(), ln)]
        return []


def restructure(body, namer, out_name, lineno):
    """Rewrite ``body`` so it has no early exits; returns the new body and the returned name."""
    returns = [n for s in body for n in walk(s) if isinstance(n, gast.Return)]
    jumps = [n for s in body for n in walk(s) if isinstance(n, (gast.Break, gast.Continue))]
    if len(returns) == 1 and body and body[-1] is returns[0] and not jumps:
        return body, returns[0].value.id
    names = {r.value.id for r in returns if isinstance(r.value, gast.Name)}
    if len(names) == 1 and len(returns) == sum(isinstance(r.value, gast.Name) for r in returns):
        ret_name = names.pop()
    else:
        ret_name = out_name or namer.fresh("out", numbered=False)
    rs = Restructurer(namer, lineno)
    rs.ret_name = ret_name
    new, may, always = rs.block(body, None)   # body ends in a return (front_end makes sure)
    new = rs.resolve(new, None)
    if rs.ret_flag is not None:
        new.insert(0, assign(rs.ret_flag, gast.Constant(value=False, kind=None), lineno))
    new.append(at(gast.Return(value=N(ret_name)), lineno))
    return new, ret_name
