"""Gradients the generated code certainly builds afresh (issue 15 item 7: per-call overhead).

``grad`` hands back gradients that never alias the arguments (``api._own``: a copy where one is
an argument or shares its memory). Checking that costs a call per gradient. Where the derivative
returns only names every binding of which makes a new object (arithmetic, ``zeros_like``, a
number), nothing it returns can be an argument or a view of one, and the check is skipped: decided
once per generated variant, from its source.
"""

import ast

from srcad import runtime

# runtime helpers that always return a new array (or a number)
_FRESH_HELPERS = (runtime.zeros_like,)
# helpers that return their first argument, or a new array made from it (a sum of it, zeros
# plus it, a view of it): as new as that argument
_PASSING_HELPERS = (runtime.unbroadcast, runtime.grad_like)
# operators whose result is a new object for arrays and numbers alike
_NEW = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow, ast.MatMult)


def fresh_result(source, fn):
    """Does the generated function ``fn`` (its ``source``) return only new objects (numbers, or
    arrays it made itself)?"""
    namespace = dict(fn.__globals__)
    for name, cell in zip(fn.__code__.co_freevars, fn.__closure__ or ()):
        try:
            namespace[name] = cell.cell_contents   # the helpers it was given (codegen's cells)
        except ValueError:
            namespace.pop(name, None)
    try:
        fdef = next(n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef))
    except (SyntaxError, StopIteration):
        return False
    last = fdef.body[-1] if fdef.body else None
    if not isinstance(last, ast.Return) or last.value is None:
        return False
    returns = [n for n in ast.walk(fdef) if isinstance(n, ast.Return)]
    if len(returns) != 1 or any(isinstance(n, (ast.Yield, ast.YieldFrom, ast.Lambda, ast.FunctionDef,
                                               ast.Global, ast.Nonlocal)) for n in ast.walk(fdef)
                               if n is not fdef):
        return False
    params = {a.arg for a in fdef.args.posonlyargs + fdef.args.args + fdef.args.kwonlyargs}
    params |= {a.arg for a in (fdef.args.vararg, fdef.args.kwarg) if a is not None}
    defs = {}      # name -> its binding values (None: bound some other way)
    for n in ast.walk(fdef):
        if isinstance(n, ast.Assign):
            for t in n.targets:
                for s in ast.walk(t):
                    if isinstance(s, ast.Name) and isinstance(s.ctx, ast.Store):
                        defs.setdefault(s.id, []).append(n.value if t is s else None)
        elif isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name):
            defs.setdefault(n.target.id, []).append(n.value)
        # ``d += g`` (AugAssign) changes d in place, or rebinds a number: d stays what it was
        elif isinstance(n, ast.NamedExpr):
            defs.setdefault(n.target.id, []).append(None)
    # every other store (loop targets, with, except, imports): bound some other way
    for n in ast.walk(fdef):
        if isinstance(n, (ast.For, ast.AsyncFor, ast.comprehension)):
            for s in ast.walk(n.target):
                if isinstance(s, ast.Name):
                    defs.setdefault(s.id, []).append(None)
        elif isinstance(n, (ast.With, ast.AsyncWith)):
            for item in n.items:
                if item.optional_vars is not None:
                    for s in ast.walk(item.optional_vars):
                        if isinstance(s, ast.Name):
                            defs.setdefault(s.id, []).append(None)
        elif isinstance(n, ast.ExceptHandler) and n.name:
            defs.setdefault(n.name, []).append(None)
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            for a in n.names:
                defs.setdefault((a.asname or a.name).split(".")[0], []).append(None)

    fresh = {name for name in defs if name not in params}

    def new(e):
        if isinstance(e, ast.Constant):
            return isinstance(e.value, (int, float, complex, bool))
        if isinstance(e, ast.BinOp):
            return isinstance(e.op, _NEW)
        if isinstance(e, ast.UnaryOp):
            return isinstance(e.op, (ast.USub, ast.UAdd))
        if isinstance(e, ast.Name):
            return e.id in fresh
        if isinstance(e, ast.Call) and isinstance(e.func, ast.Name) and not e.keywords and \
                e.func.id not in defs and e.func.id not in params:
            f = namespace.get(e.func.id)
            if any(f is h for h in _PASSING_HELPERS):
                return len(e.args) == 2 and new(e.args[0])
            return any(f is h for h in _FRESH_HELPERS)
        return False

    while True:
        drop = {name for name in fresh if any(v is None or not new(v) for v in defs[name])}
        if not drop:
            break
        fresh -= drop
    out = last.value.elts if isinstance(last.value, ast.Tuple) else [last.value]
    return all(isinstance(e, ast.Name) and e.id in fresh or isinstance(e, ast.Constant) and new(e)
               for e in out)
