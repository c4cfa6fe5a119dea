"""Stacks of a counted loop as lists indexed by the loop variable (issue 15: scalar loops).

A number saved once in each pass of ``for i in range(n)`` (a statement of the loop's own body,
the loop at the top of the forward sweep, no ``break`` or ``continue``) and restored once in each
pass of the backward sweep's ``for i in reversed(range(n))`` needs no stack: the pass that pushes
it and the pass that pops it have the same ``i``. So ``stack_p = Stack(float)`` becomes
``stack_p = [0.0] * n`` just before the loop, ``stack_p.append(p)`` becomes ``stack_p[i] = p``
and ``p = stack_p.pop()`` becomes ``p = stack_p[i]``: one list made at its final size, and an
index store and load per pass in place of two method calls. The list keeps what was pushed
(NumPy scalars stay NumPy scalars). A Python float takes 32 bytes in a list against 8 in a typed
stack (as in a hand-written gradient's list of floats), so a typed stack becomes a list only for
a loop of at most ``LIST_LIMIT`` passes or one over an array's length (``len(c)``, ``x.shape[0]``:
a tape of the data's order); a plain stack (NumPy scalars, 40 bytes each) always. Numba compiles
the same code (a list of numbers).
"""

import gast

from srcad.astutil import N, clone
from srcad.astutil import walk

# the stack's type -> the element its list starts filled with (never read: each pass writes first)
_FILL = {float: 0.0, int: 0, bool: False}
# longest counted loop whose typed stack becomes a list (at most 320 KB of Python floats)
LIST_LIMIT = 10_000
# what a trip count evaluated once more (for the list's size) may contain
_BOUND = (gast.Constant, gast.Name, gast.Attribute, gast.BinOp, gast.UnaryOp, gast.Subscript, gast.Load,
          gast.operator, gast.unaryop)


def index_stacks(fwd, bwd, env, plain_numbers=()):
    """``fwd`` with the stacks described in the module docstring made lists (``bwd`` changed in
    place). ``plain_numbers``: plain stacks (``Stack()``) that hold numbers too."""
    fill = {env.by_id.get(id(t)): v for t, v in _FILL.items()}
    fill.pop(None, None)
    stack_ref = env.by_id.get(id(_stack_class()))
    counts = {}
    for s in list(fwd) + list(bwd):
        for n in walk(s):
            if isinstance(n, gast.Name):
                counts[n.id] = counts.get(n.id, 0) + 1
    out = list(fwd)
    for maker in list(out):
        if not (isinstance(maker, gast.Assign) and len(maker.targets) == 1 and
                isinstance(maker.targets[0], gast.Name) and isinstance(maker.value, gast.Call) and
                isinstance(maker.value.func, gast.Name) and maker.value.func.id == stack_ref and
                not maker.value.keywords):
            continue
        st, args = maker.targets[0].id, maker.value.args
        if len(args) == 1 and isinstance(args[0], gast.Name) and args[0].id in fill:
            first, typed = fill[args[0].id], True
        elif not args and st in plain_numbers:
            first, typed = 0.0, False
        else:
            continue
        pushes = [(loop, k) for loop in out if isinstance(loop, gast.For)
                  for k, s in enumerate(loop.body) if _is_push(s, st)]
        pops = [(loop, k) for loop in bwd if isinstance(loop, gast.For)
                for k, s in enumerate(loop.body) if _is_pop(s, st)]
        if len(pushes) != 1 or len(pops) != 1 or counts.get(st) != 3:
            continue        # used anywhere else (nested loops, branches, a tape): left a stack
        (floop, kf), (bloop, kb) = pushes[0], pops[0]
        n_fwd, n_bwd = _range_of(floop, False), _range_of(bloop, True)
        if n_fwd is None or n_bwd is None or gast.dump(n_fwd) != gast.dump(n_bwd) or \
                not _plain_bound(n_fwd) or \
                floop.target.id != bloop.target.id or floop.orelse or bloop.orelse or \
                typed and not _small(n_fwd):
            continue
        var = floop.target.id
        if any(isinstance(n, (gast.Break, gast.Continue, gast.Return)) or
               isinstance(n, gast.Name) and n.id == var and not isinstance(n.ctx, gast.Load)
               for loop in (floop, bloop) for s in loop.body for n in walk(s)):
            continue
        push = floop.body[kf]
        floop.body[kf] = _at(gast.Assign(targets=[_slot(st, var, gast.Store())], value=push.value.args[0],
                                         type_comment=None), push)
        bloop.body[kb].value = _slot(st, var, gast.Load())
        make = gast.Assign(targets=[N(st, gast.Store())], value=gast.BinOp(
            left=gast.List(elts=[gast.Constant(value=first, kind=None)], ctx=gast.Load()),
            op=gast.Mult(), right=clone(n_fwd)), type_comment=None)
        out.remove(maker)
        out.insert(out.index(floop), _at(make, floop))
    return out


def _plain_bound(e):
    """Is ``e`` a trip count evaluated once more without effect (names, numbers, arithmetic,
    attributes, subscripts, ``len(...)``)?"""
    for n in walk(e):
        if isinstance(n, gast.Call):
            if not (isinstance(n.func, gast.Name) and n.func.id == "len" and len(n.args) == 1 and not n.keywords):
                return False
        elif not isinstance(n, _BOUND):
            return False
    return True


def _small(e):
    """Is a list of ``e`` numbers small enough to stand in for a typed stack (8 bytes a number
    there, 32 or 40 in a list): a count up to ``LIST_LIMIT``, or the length or a dimension of an
    array (a tape of the order of the data)?"""
    if isinstance(e, gast.Constant):
        return type(e.value) is int and e.value <= LIST_LIMIT
    return any(isinstance(n, gast.Call) or isinstance(n, gast.Attribute) and n.attr == "shape"
               for n in walk(e))


def _stack_class():
    from srcad.runtime import Stack
    return Stack


def _at(new, old):
    for attr in ("lineno", "col_offset", "end_lineno", "end_col_offset"):
        if hasattr(old, attr):
            setattr(new, attr, getattr(old, attr))
    return new


def _slot(st, var, ctx):
    return gast.Subscript(value=N(st), slice=N(var), ctx=ctx)


def _is_push(s, st):
    c = s.value if isinstance(s, gast.Expr) else None
    return isinstance(c, gast.Call) and isinstance(c.func, gast.Attribute) and c.func.attr == "append" and \
        isinstance(c.func.value, gast.Name) and c.func.value.id == st and len(c.args) == 1 and not c.keywords


def _is_pop(s, st):
    c = s.value if isinstance(s, gast.Assign) else None
    return isinstance(c, gast.Call) and isinstance(c.func, gast.Attribute) and c.func.attr == "pop" and \
        isinstance(c.func.value, gast.Name) and c.func.value.id == st and not c.args and \
        len(s.targets) == 1 and isinstance(s.targets[0], gast.Name)


def _range_of(loop, reverse):
    """``n`` where ``loop`` is ``for v in range(n)`` (``reversed(range(n))`` where ``reverse``)."""
    it = loop.iter
    if reverse:
        if not (isinstance(it, gast.Call) and isinstance(it.func, gast.Name) and it.func.id == "reversed" and
                len(it.args) == 1 and not it.keywords):
            return None
        it = it.args[0]
    if isinstance(it, gast.Call) and isinstance(it.func, gast.Name) and it.func.id == "range" and \
            len(it.args) == 1 and not it.keywords and isinstance(loop.target, gast.Name):
        return it.args[0]
    return None
