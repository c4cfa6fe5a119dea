"""The gast toolkit every pass uses: building nodes, copying trees, reading names.

Nothing here knows about derivatives; each helper does one small thing to a gast tree.
"""

import builtins
from collections import deque

import gast


_ATTRS = ("lineno", "col_offset", "end_lineno", "end_col_offset")


def clone(node):
    """A deep copy of a gast tree (much faster than copy.deepcopy; keeps line numbers)."""
    if isinstance(node, list):
        return [clone(n) for n in node]
    if not isinstance(node, gast.AST):
        return node
    new = type(node)(**{f: clone(getattr(node, f, None)) for f in node._fields})
    for a in _ATTRS:
        v = getattr(node, a, None)
        if v is not None:
            setattr(new, a, v)
    return new


def walk(node):
    """Every node under ``node`` (itself included), breadth first, exactly like ``ast.walk`` (a
    node's children are queued before it is yielded) but about twice as fast: it reads ``_fields``
    directly instead of going through ``ast.iter_child_nodes``."""
    todo = deque([node])
    pop = todo.popleft
    push = todo.append
    AST = gast.AST
    while todo:
        n = pop()
        for f in n._fields:
            v = getattr(n, f, None)
            if isinstance(v, AST):
                push(v)
            elif isinstance(v, list):
                for c in v:
                    if isinstance(c, AST):
                        push(c)
        yield n


def rewrite_blocks(stmts, one):
    """``stmts`` with the statements ``one(s)`` returns in place of each statement ``s``; the blocks
    nested in ``s`` (``body``, ``orelse``) are rewritten first, in place."""
    out = []
    for s in stmts:
        for field in ("body", "orelse"):
            sub = getattr(s, field, None)
            if isinstance(sub, list) and sub:
                setattr(s, field, rewrite_blocks(sub, one))
        out += one(s)
    return out


def names_read(stmts):
    """The names ``stmts`` (a list of nodes) read."""
    out = set()
    for s in stmts:
        for n in walk(s):
            if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load):
                out.add(n.id)
    return out


def walk_stmts(stmts):
    """Every statement in ``stmts``, nested bodies included, in program order."""
    for s in stmts:
        yield s
        for field in ("body", "orelse"):
            sub = getattr(s, field, None)
            if isinstance(sub, list):
                yield from walk_stmts(sub)


def N(name, store=False):
    return gast.Name(id=name, ctx=gast.Store() if store else gast.Load(), annotation=None, type_comment=None)


def const(value):
    return gast.Constant(value=value, kind=None)


def call(func, args, keywords=()):
    return gast.Call(func=func, args=list(args), keywords=list(keywords))


def attr_call(obj, attr, args):
    """``obj.attr(*args)`` for a variable named ``obj``."""
    return call(gast.Attribute(value=N(obj), attr=attr, ctx=gast.Load()), args)


def assign(name, value, lineno):
    stmt = gast.Assign(targets=[N(name, True)], value=value, type_comment=None)
    stmt.lineno = lineno
    return stmt


def at(stmt, lineno):
    stmt.lineno = lineno
    return stmt


def is_atom(node):
    return isinstance(node, (gast.Name, gast.Constant))


def expr_stmt(value, lineno):
    """``value`` as a statement (a call made for its effect) at ``lineno``."""
    return at(gast.Expr(value=value), lineno)


def index_value(index, ref):
    """An index expression usable as a call argument: ``a:b`` becomes ``slice(a, b)``.

    ``ref(name, obj)`` names the builtin ``slice`` in the generated code's scope."""
    index = clone(index)
    if isinstance(index, gast.Slice):
        parts = [p if p is not None else const(None) for p in (index.lower, index.upper, index.step)]
        # keep two parts at least: slice(1) would mean 1 as the upper bound (x[1:] -> slice(1, None))
        while len(parts) > 2 and isinstance(parts[-1], gast.Constant) and parts[-1].value is None:
            parts.pop()
        return call(ref("slice", builtins.slice), parts)
    if isinstance(index, gast.Tuple):
        return gast.Tuple(elts=[index_value(e, ref) for e in index.elts], ctx=gast.Load())
    return index


def stored_names(node):
    """The names ``node`` (a statement or a list of them) assigns."""
    nodes = node if isinstance(node, list) else [node]
    return {n.id for s in nodes for n in walk(s) if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store)}


def exposed_names(stmts, assigned=None):
    """Names ``stmts`` may read before assigning them (an if's branches are followed separately)."""
    exposed, assigned = set(), set(assigned or ())
    for s in stmts:
        if isinstance(s, gast.If):
            exposed |= names_read([s.test]) - assigned
            e1, a1 = exposed_names(s.body, assigned)
            e2, a2 = exposed_names(s.orelse, assigned)
            exposed |= e1 | e2
            assigned |= a1 & a2
            continue
        exposed |= names_read([s]) - assigned
        if isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Name):
            assigned.add(s.targets[0].id)
    return exposed, assigned
