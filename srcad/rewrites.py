"""Rewrites of the analysis step, the same for both modes (``pipeline.analyze`` runs them).

* ``appends_as_assignments``: ``lst.append(v)`` on a list the function made becomes
  ``lst = list_append(lst, v)``, so both modes follow the values through the list;
* ``split_self_reads``: ``x = exp(x)`` whose rule reads its output ``y`` computes into a
  temporary first, since both modes need the output and the overwritten input at once.
"""

import gast

from srcad import runtime as rt
from srcad.astutil import N, assign, rewrite_blocks, walk_stmts
from srcad.astutil import walk


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

    def one(s):
        call = s.value if isinstance(s, gast.Expr) else None
        if isinstance(call, gast.Call) and isinstance(call.func, gast.Attribute) and \
                call.func.attr == "append" and isinstance(call.func.value, gast.Name) and \
                call.func.value.id in local_names and len(call.args) == 1 and not call.keywords:
            lst = call.func.value.id
            return [assign(lst, gast.Call(func=N(helper), args=[N(lst), call.args[0]], keywords=[]), s.lineno)]
        return [s]
    return rewrite_blocks(body, one)


def split_self_reads(stmts, facts, namer):
    """``x = exp(x)`` whose rule reads the output ``y``: compute into a temporary, then copy.

    Both modes need the output and the overwritten input at once for such statements. Returns
    (statements, the temporaries made: each is read once, by the copy that follows it).
    """
    out, split = [], set()
    for s in stmts:
        if isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Name):
            t = s.targets[0].id
            reads = {n.id for n in walk(s.value) if isinstance(n, gast.Name)}
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
