"""Reverse mode for a helper that is called rather than inlined (recursion): two functions.

``fwd_<name>(<params>)`` runs the forward sweep once and returns ``(value, tape)``;
``bwd_<name>(tape, *, d<out>)`` runs the backward sweep over that tape and returns the gradients.
The tape is the tuple of the variables the backward sweep reads that the forward sweep (or the
call) defined: the stack and the values it did not push.
"""

import gast

from srcad import codegen
from srcad.astutil import N, assign, at, const, names_read, stored_names


def split_sweeps(info, norm, fwd, bwd, result, ret_name):
    """The bodies of ``fwd_<name>`` and ``bwd_<name>``: (fwd body, bwd body, tape names, tape
    parameter name). ``fwd`` is the pruned forward sweep, ``result`` the gradients' tuple."""
    params = set(norm.params)
    defined, top = set(params), set(params)
    for s in fwd:
        stored = stored_names(s)
        defined |= stored
        if isinstance(s, gast.Assign):
            top |= stored
    tape_names = sorted((names_read(bwd) | names_read([result])) & defined)
    tape_var = norm.namer.fresh("tape", numbered=False)
    ln = info.node.body[-1].lineno if info.node.body else info.lineno
    # a variable defined only on some paths of the forward sweep is read back only on those paths
    undefined = [assign(n, const(None), info.lineno) for n in tape_names if n not in top]
    tape = gast.Tuple(elts=[N(n) for n in tape_names], ctx=gast.Load())
    fwd_body = [codegen.note("forward sweep")] + undefined + list(fwd)
    fwd_body.append(at(gast.Return(value=gast.Tuple(elts=[N(ret_name), tape], ctx=gast.Load())), ln))
    bwd_body = [codegen.note("backward sweep")]
    if tape_names:
        unpack = gast.Tuple(elts=[N(n, True) for n in tape_names], ctx=gast.Store())
        bwd_body.append(at(gast.Assign(targets=[unpack], value=N(tape_var), type_comment=None), info.lineno))
    bwd_body += list(bwd)
    if isinstance(result, gast.Tuple) and len(result.elts) == 1:
        result = result.elts[0]
    bwd_body.append(at(gast.Return(value=result), ln))
    return fwd_body, bwd_body, tape_names, tape_var


def tape_signature(fdef, tape_var):
    """``def <name>(<tape_var>)``: the signature ``bwd_<name>`` gets (its seed is added as a keyword)."""
    return gast.FunctionDef(
        name=fdef.name, body=[], decorator_list=[], returns=None, type_comment=None,
        args=gast.arguments(args=[N(tape_var)], posonlyargs=[], vararg=None, kwonlyargs=[], kw_defaults=[],
                            kwarg=None, defaults=[]))
