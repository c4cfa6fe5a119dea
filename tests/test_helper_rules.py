"""Every helper that generated code can call is a primitive with its own rules (issue 14, item 1).

The helpers are found automatically: the functions of ``srcad.runtime`` and
``srcad.rules.numpy_helpers`` that a rule template reads (by name or as ``rt.x`` / ``_h.x``) or that
the generators (reverse.py, forward.py, pipeline.py, analyze.py) emit, closed over the templates of
those helpers' own rules. Each must have a reverse and a forward rule, or be declared ``nondiff``
and be on the short list of helpers that are non-differentiable by nature. Then each helper's
rules are checked against central differences in both modes, and to second order where the
helper is not linear in every argument.
"""

import re
from pathlib import Path

import gast
import numpy as np
import pytest

import srcad
from srcad import runtime as rt
from srcad.rules import norm_helpers as nm
from srcad.rules import numpy_helpers as nh
from srcad.rules.registry import FORWARD, NONDIFF, REVERSE

import test_numpy_rules as T
from test_second_order import second_order

SRC = Path(srcad.__file__).parent
MODULES = (rt, nh, nm)
GENERATORS = ("reverse.py", "backward.py", "forward.py", "pipeline.py", "analyze.py", "inline.py", "normalize.py",
              "optimize.py", "tape.py", "adjoints.py")

# non-differentiable by nature: counts, the tape, flags, index bookkeeping, piecewise-constant masks
NONDIFF_BY_NATURE = {
    rt.count, rt.Stack, rt.zeros_like, rt.check_output, rt.is_training, rt.dict_keys, rt.stop_gradient,
    rt.no_higher_derivative, rt.shape_of, rt.extreme_index,
    nh.extreme_weights, nh.clip_mask, nh.first_zero, nh.linspace_weight, nh.below, nh.above, nh.tie_weights,
    nh.transpose_axes, nh.inverse_axes, nh.negate_shift, nh.layout_order, nh.ravel_index,
}

# helpers without their own rules yet: srcad still reads their source (inlining) where a derivative
# of them is needed; each is listed with what it takes, and fails the enumeration once it has rules
# (strict xfail) so this list only shrinks
NO_RULES_YET = {
    "restore_item": "an in-place write (x[i] = old) the reverse generator emits as a statement",
}


def _module_of(obj):
    return getattr(obj, "__module__", None) in {m.__name__ for m in MODULES}


def _template_refs(tpl):
    """The helper objects a rule template reads, by name or as an attribute of a helper module."""
    out = {o for o in tpl.free.values() if callable(o) and _module_of(o)}
    for node in gast.walk(gast.Module(body=tpl.body, type_ignores=[])):
        if isinstance(node, gast.Attribute) and isinstance(node.value, gast.Name):
            base = tpl.free.get(node.value.id)
            if base in MODULES and callable(getattr(base, node.attr, None)):
                out.add(getattr(base, node.attr))
    return out


def _generator_refs():
    """Helpers the generators emit: ``env.ref("name")`` and ``runtime.name`` / ``rt.name``."""
    out = set()
    for name in GENERATORS:
        text = (SRC / name).read_text()
        for m in re.finditer(r'ref(?:_name)?\("(\w+)"|\b(?:runtime|rt)\.(\w+)', text):
            attr = m.group(1) or m.group(2)
            obj = getattr(rt, attr, None)
            if callable(obj) and _module_of(obj) and not isinstance(obj, type(rt)):
                out.add(obj)
    return out


def emitted_helpers():
    """Every helper generated code can call, to any order (closed over the helpers' own rules)."""
    seen = set()
    todo = list(_generator_refs())
    for table in (REVERSE, FORWARD):
        for key, tpl in list(table.items()):
            if not _module_of(key) or key in todo:
                todo += list(_template_refs(tpl))
            else:
                todo += list(_template_refs(tpl))
    while todo:
        h = todo.pop()
        if h in seen:
            continue
        seen.add(h)
        for table in (REVERSE, FORWARD):
            tpl = table.get(h)
            if tpl is not None:
                todo += [o for o in _template_refs(tpl) if o not in seen]
    return sorted(seen, key=lambda f: (f.__module__, f.__name__))


HELPERS = emitted_helpers()

# zeroes a list or dict entry's adjoint in place, which no reverse rule can express: reverse mode over
# it is refused at transform time (test_reverse_over_pop_at_is_refused); arrays use read_at and a plain
# assignment instead
REVERSE_REFUSED = {rt.pop_at}


def test_enumeration_finds_the_helpers():
    names = {h.__name__ for h in HELPERS}
    # a sample from each source: generators, NumPy templates, the helpers' own templates
    assert {"add_at", "pop_at", "seed", "grad_like", "save_item", "Stack", "owned_tangent"} <= names
    assert {"unbroadcast", "unreduce", "concat_adjoint", "take_adjoint", "einsum_adjoint"} <= names
    assert {"index_adjoint", "pop_at_adjoint", "put_at", "spread_adjoint"} <= names


@pytest.mark.parametrize("helper", [
    pytest.param(h, marks=[pytest.mark.xfail(strict=True, reason=NO_RULES_YET[h.__name__])]
                 if h.__name__ in NO_RULES_YET else [], id=h.__name__) for h in HELPERS])
def test_helper_has_both_rules(helper):
    if helper in NONDIFF_BY_NATURE:
        assert helper in NONDIFF, f"{helper.__name__} should be declared nondiff"
        return
    assert helper not in NONDIFF, f"{helper.__name__} is nondiff but not on the by-nature list"
    if helper in REVERSE_REFUSED:
        assert helper not in REVERSE and helper in FORWARD
        return
    assert helper in REVERSE, f"{helper.__name__} has no reverse rule"
    assert helper in FORWARD, f"{helper.__name__} has no forward rule"


def test_reverse_over_pop_at_is_refused():
    def f(v):
        lst = [v[0], v[1]]
        lst[0] = lst[1] * 2.0
        return lst[0] * lst[1]
    g = srcad.grad(f)
    assert "pop_at(" in srcad.source(g)
    # refused (by the list entry's restore, or by pop_at itself), never a wrong second derivative
    with pytest.raises(srcad.TransformError, match="list or dict entry|restore_item"):
        srcad.jacobian(g, mode="reverse")(np.array([0.5, 1.5]))


def test_lists_name_real_helpers():
    names = {h.__name__ for h in HELPERS}
    assert set(NO_RULES_YET) <= names | {"restore_item"}


# ---------------------------------------------------------------- each helper's rules against differences

R = np.random.default_rng(7)
u = T.u
X = u(2, 3)
A23, B34, G24 = u(2, 3), u(3, 4), u(2, 4)
T3 = u(2, 3, 4)
V3 = u(3)
V4 = u(4)
IDX = (slice(None), [0, 2, 0])
Y2 = np.linalg.norm(X, axis=1) + 0.5
SPD = T.spd(3)
CHOL = np.linalg.cholesky(SPD)
SING = np.outer(u(3), u(3)) + np.outer(u(3), u(3))   # rank 2
w = T.weigh

# (id, function, args, wrt, second order?) -- second order where the helper is not linear in all
# differentiated arguments together (bilinear adjoints, prod_others, solve ...)
HELPER_CASES = [
    ("unbroadcast", lambda g: w(rt.unbroadcast(g, V3)), [u(2, 3)], 0, False),
    ("broadcast_like", lambda g: w(rt.broadcast_like(g, X)), [u(3)], 0, False),
    ("unreduce", lambda g: w(rt.unreduce(g, T3, 1)), [u(2, 4)], 0, False),
    ("reduce_like", lambda g: w(rt.reduce_like(g, T3, 1, True)), [u(2, 3, 4)], 0, False),
    ("seed", lambda s: w(rt.seed(s, X)), [0.7], 0, False),
    ("grad_like", lambda g: w(rt.grad_like(g, X)), [u(3)], 0, False),
    ("real_like", lambda g: w(rt.real_like(g, X)), [u(2, 3)], 0, False),
    ("as_stored", lambda v: w(rt.as_stored(v, X)), [u(2, 3)], 0, False),
    ("inexact_part", lambda g: w(rt.inexact_part(g, X)), [u(2, 3)], 0, False),
    ("add", lambda a, b: w(rt.add(a, b) * a), [u(2, 3), u(2, 3)], (0, 1), True),
    ("add_at", lambda dx, g: w(rt.add_at(dx * 1.0, X, IDX, g) * dx), [u(2, 3), u(2, 3)], (0, 1), True),
    ("add_at-scalar", lambda dx, g: w(rt.add_at(dx * 1.0, X, 1, g)), [u(2, 3), u()], (0, 1), False),
    ("index_adjoint", lambda r: w(rt.index_adjoint(r, X, IDX, X)), [u(2, 3)], 0, False),
    ("read_at", lambda dx: w(rt.read_at(dx * 1.0, 1, 0.5) * dx[0]), [u(2, 3)], 0, True),
    ("read_at-fancy", lambda dx: w(rt.read_at(dx * 1.0, [0, 0, 2], V3)), [u(3)], 0, False),
    ("pop_at_adjoint", lambda r: w(rt.pop_at_adjoint(r, X, 1, 0.5)), [u()], 0, False),
    ("tuple_get", lambda a, b: w(rt.tuple_get((a, b), 1) * a), [u(3), u(3)], (0, 1), True),
    ("put_at", lambda r: w(rt.tuple_get(rt.put_at(r, (V3, V3), 1), 1)), [u(3)], 0, False),
    ("spread_adjoint", lambda r: w(rt.spread_adjoint(r, V3)), [u(2, 3)], 0, False),
    ("owned_tangent", lambda t: w(rt.owned_tangent(t, X)), [u(3)], 0, False),
    ("copy_adjoint", lambda g: w(rt.copy_adjoint(g) * g), [u(2, 3)], 0, True),
    ("owned_copy", lambda g: w(rt.owned_copy(g) * g), [u(2, 3)], 0, True),
    ("contiguous", lambda g: w(rt.contiguous(g) * g), [u(2, 3)], 0, True),
    ("save_item", lambda x: w(rt.save_item(x, 1) * x[0]), [u(2, 3)], 0, True),
    ("matmul_adjoint_a", lambda g, b: w(rt.matmul_adjoint_a(g, A23, b)), [G24, B34], (0, 1), True),
    ("matmul_adjoint_b", lambda g, a: w(rt.matmul_adjoint_b(g, a, B34)), [G24, A23], (0, 1), True),
    ("matmul_adjoint_a-vec", lambda g, b: w(rt.matmul_adjoint_a(g, A23, b)), [u(2), u(3)], (0, 1), True),
    ("matmul_adjoint_b-batched", lambda g, a: w(rt.matmul_adjoint_b(g, a, B34)), [u(2, 2, 4), u(2, 2, 3)], (0, 1), True),
    ("dot_adjoint_a", lambda g, b: w(rt.dot_adjoint_a(g, A23, b)), [G24, B34], (0, 1), True),
    ("dot_adjoint_b", lambda g, a: w(rt.dot_adjoint_b(g, a, B34)), [G24, A23], (0, 1), True),
    ("dot_adjoint_a-3d", lambda g, b: w(rt.dot_adjoint_a(g, T3, b)), [u(2, 3), u(4)], (0, 1), True),
    ("norm_adjoint", lambda g, x, y: w(nm.norm_adjoint(g, x, y, None, 1)), [u(2), u(2, 3), Y2], (0, 1, 2), False),
    ("norm_tangent", lambda t, x, y: w(nm.norm_tangent(t, x, y, None, 1)), [u(2, 3), u(2, 3), Y2], (0, 1, 2), False),
    ("norm_adjoint_dx", lambda dx: w(nm.norm_adjoint_dx(Y2, X, Y2, dx, 3, 1)), [u(2, 3)], 0, False),
    ("norm_adjoint_dx-2", lambda dx: w(nm.norm_adjoint_dx(1.5, A23, 1.0, dx, 2)), [u(2, 3)], 0, False),
    ("norm_adjoint_dx--2", lambda dx: w(nm.norm_adjoint_dx(1.5, B34, 1.0, dx, -2)), [u(3, 4)], 0, False),
    ("norm_adjoint_dx-nuc", lambda dx: w(nm.norm_adjoint_dx(Y2, T3, Y2, dx, "nuc", (2, 1))), [u(2, 3, 4)], 0, False),
    ("norm_adjoint_dy", lambda dy: w(nm.norm_adjoint_dy(Y2, X, Y2, dy, None, 1)), [u(2)], 0, False),
    ("norm_adjoint_dy_adjoint", lambda r: w(nm.norm_adjoint_dy_adjoint(Y2, X, Y2, r, None, 1)), [u(2, 3)], 0, False),
    ("loop_seq", lambda x: w(rt.loop_seq(x) * x), [u(3)], 0, True),
    ("loop_seq_adjoint", lambda g: w(rt.loop_seq_adjoint(g, V3)), [u(3)], 0, False),
    ("loop_seq_tangent", lambda t: w(rt.loop_seq_tangent(t, V3)), [u(3)], 0, False),
    ("seq_concat", lambda a, b: w(rt.seq_concat(a, b) * a), [u(2, 3), u(3)], (0, 1), True),
    ("seq_repeat", lambda a, n: w(rt.seq_repeat(a, n)), [u(3), 1.5], (0, 1), True),
    ("seq_part", lambda g: w(rt.seq_part(g, X, V3, False)), [u(2, 3)], 0, False),
    ("seq_part-list", lambda g, h: w(rt.seq_part([g, h, g], [X], [X, X], False)[1] * h), [u(2, 3), u(2, 3)], (0, 1), False),
    ("seq_part_adjoint", lambda r: w(rt.seq_part_adjoint(r, X, X, V3, False)), [u(3)], 0, False),
    ("seq_placed", lambda t: w(rt.seq_placed(t, X, V3, True)), [u(2, 3)], 0, False),
    ("seq_fold", lambda g: w(rt.seq_fold(g, V3, 2.0)), [u(3)], 0, False),
    ("seq_repeated", lambda t: w(rt.seq_repeated(t, V3, 2.0)), [u(3)], 0, False),
    ("seq_times", lambda g: w(rt.seq_times(g, X, 0.5)), [u(2, 3)], 0, False),
    ("seq_scaled", lambda t: w(rt.seq_scaled(t, X, 0.5)), [u()], 0, False),
    ("list_append", lambda a, b: w(rt.list_append([a], b)[0] * rt.list_append([a], b)[1]), [u(3), u(3)], (0, 1), True),
    ("list_head", lambda a, b: w(rt.list_head([a, b])[0] * a), [u(3), u(3)], (0, 1), True),
    ("appended", lambda t: w(rt.appended([t], [V3], V3, True)[0]), [u(3)], 0, False),
    ("appended_part", lambda a, b: w(rt.appended_part([a, b], [V3], V3, True)[0]), [u(3), u(3)], (0, 1), False),
    ("sum_adjoint", lambda g: w(rt.sum_adjoint(g, [V3, V3])[1]), [u(3)], 0, False),
    # NumPy rules' helpers
    ("weights_full", lambda t: w(nh.weights_full(t, X, 1) * X), [u(3)], 0, False),
    ("weights_sum", lambda r: w(nh.weights_sum(r, X, 0, V3[:2])), [u(2, 3)], 0, False),
    ("average_weights", lambda v: w(nh.average_weights(X, 1, v) * X), [u(3) + 2.0], 0, True),
    ("average_weights-full", lambda v: w(nh.average_weights(X, None, v)), [u(2, 3) + 2.0], 0, True),
    ("average_adjoint_w", lambda g, a, y, v: w(nh.average_adjoint_w(g, a, y, 1, v)),
     [u(2), u(2, 3), u(2), u(3) + 2.0], (0, 1, 2, 3), True),
    ("average_adjoint_w-axis0", lambda g, a, y, v: w(nh.average_adjoint_w(g, a, y, 0, v, True)),
     [u(1, 3), u(2, 3), u(1, 3), u(2) + 2.0], (0, 1, 2, 3), True),
    ("average_tangent_w", lambda t, a, y, v: w(nh.average_tangent_w(t, a, y, 1, v)),
     [u(3), u(2, 3), u(2), u(3) + 2.0], (0, 1, 2, 3), True),
    ("average_tangent_w-full", lambda t, a, y, v: w(nh.average_tangent_w(t, a, y, None, v)),
     [u(2, 3), u(2, 3), u(), u(2, 3) + 2.0], (0, 1, 2, 3), True),
    ("take_adjoint", lambda g: w(nh.take_adjoint(g, X, [1, 1, 0], 1)), [u(2, 3)], 0, False),
    ("pad_adjoint", lambda g: w(nh.pad_adjoint(g, X, 1)), [u(4, 5)], 0, False),
    ("pad_adjoint-reflect", lambda g: w(nh.pad_adjoint(g, V3, 2, "reflect")), [u(7)], 0, False),
    ("pad_spread", lambda r: w(nh.pad_spread(r, ((1, 0), (0, 2)), "edge")), [u(2, 3)], 0, False),
    ("repeat_adjoint", lambda g: w(nh.repeat_adjoint(g, X, [1, 3], 0)), [u(4, 3)], 0, False),
    ("tile_adjoint", lambda g: w(nh.tile_adjoint(g, X, (2, 1, 2))), [u(2, 2, 6)], 0, False),
    ("sort_adjoint", lambda g: w(nh.sort_adjoint(g, X, 0)), [u(2, 3)], 0, False),
    ("sort_tangent", lambda t: w(nh.sort_tangent(t, X, None)), [u(2, 3)], 0, False),
    ("concat_adjoint", lambda g: w(nh.concat_adjoint(g, [X, V3[None]], 0)[1]), [u(3, 3)], 0, False),
    ("concat_tangent", lambda a, b: w(nh.concat_tangent([a, b], [X, X], 1)), [u(2, 3), u(2, 3)], (0, 1), False),
    ("stack_adjoint", lambda g: w(nh.stack_adjoint(g, [V3, V3], 1)[0]), [u(3, 2)], 0, False),
    ("stack_tangent", lambda a, b: w(nh.stack_tangent([a, b], [V3, V3], 0)), [u(3), u(3)], (0, 1), False),
    ("split_adjoint", lambda a, b: w(nh.split_adjoint([a, b], [X, X], 0)), [u(2, 3), u(2, 3)], (0, 1), False),
    ("linspace_tangent", lambda t: w(nh.linspace_tangent(t, np.linspace(0.0, 1.0, 4), 0)), [u()], 0, False),
    ("prod_others", lambda a: w(nh.prod_others(a, 1)), [np.array([[0.5, 0.0, 2.0], [1.5, -0.7, 0.3]])], 0, False),
    ("prod_others_tangent", lambda t: w(nh.prod_others_tangent(t, X, 0)), [u(2, 3)], 0, False),
    ("det_adjoint", lambda g: w(nh.det_adjoint(g, SPD, 1.0)), [u()], 0, False),
    ("det_cofactor_tangent", lambda t: w(nh.det_cofactor_tangent(SING, None, t)), [u(3, 3)], 0, False),
    ("det_cofactor_adjoint", lambda r: w(nh.det_cofactor_adjoint(r, SING, None)), [u(2, 3, 3)], 0, False),
    ("slogdet_adjoint", lambda g, a: w(nh.slogdet_adjoint((0.0, g), a)), [u(), SPD], (0, 1), True),
    ("slogdet_adjoint-batched", lambda g, a: w(nh.slogdet_adjoint((0.0, g), a)), [u(2), np.stack([SPD, SPD.T @ SPD])],
     (0, 1), True),
    ("slogdet_tangent", lambda t, a: w(rt.tuple_get(nh.slogdet_tangent(t, a), 1)), [u(3, 3), SPD], (0, 1), True),
    ("cholesky_tangent", lambda t, L: w(nh.cholesky_tangent(t, L)), [u(3, 3), CHOL], (0, 1), True),
    ("cholesky_adjoint", lambda g, L: w(nh.cholesky_adjoint(g, L)), [u(3, 3), CHOL], (0, 1), True),
    ("lower_half", lambda x: w(nh.lower_half(x)), [u(2, 3, 3)], 0, False),
    ("symmetrized", lambda x: w(nh.symmetrized(x)), [u(3, 3)], 0, False),
    ("as_lower", lambda x: w(nh.as_lower(x, True)), [u(2, 3)], 0, False),
    ("inner_adjoint_a", lambda g, b: w(nh.inner_adjoint_a(g, A23, b)), [u(2, 4), u(4, 3)], (0, 1), True),
    ("inner_adjoint_b", lambda g, a: w(nh.inner_adjoint_b(g, a, u(4, 3))), [u(2, 4), A23], (0, 1), True),
    ("tensordot_adjoint_a", lambda g, b: w(nh.tensordot_adjoint_a(g, A23, b, 1)), [G24, B34], (0, 1), True),
    ("tensordot_adjoint_b", lambda g, a: w(nh.tensordot_adjoint_b(g, a, B34, 1)), [G24, A23], (0, 1), True),
    ("vdot_adjoint", lambda g, o: w(nh.vdot_adjoint(g, o, X)), [u(), u(3, 2)], (0, 1), True),
    ("einsum_adjoint", lambda g, b: w(nh.einsum_adjoint(g, 1, "ij,jk->ik", A23, b)), [G24, B34], (0, 1), False),
    ("einsum_tangent", lambda t, b: w(nh.einsum_tangent(1, t, "ij,jk->ik", A23, b)), [u(2, 3), B34], (0, 1), False),
    ("einsum_adjoint_dq", lambda g, t: w(nh.einsum_adjoint_dq(g, 1, 2, t, "ij,jk->ik", A23, B34)), [G24, u(3, 4)],
     (0, 1), False),
    ("einsum_adjoint_swap", lambda g, r: w(nh.einsum_adjoint_swap(g, 1, 2, r, "ij,jk->ik", A23, B34)), [G24, u(2, 3)],
     (0, 1), False),
    ("einsum_tangent_dq", lambda r, t: w(nh.einsum_tangent_dq(1, r, 2, t, "ij,jk,k->i", A23, B34, V4)),
     [u(2, 3), u(3, 4)], (0, 1), False),
    ("diagonal_adjoint", lambda g: w(nh.diagonal_adjoint(g, u(3, 4), 1)), [u(3)], 0, False),
    ("trace_adjoint", lambda g: w(nh.trace_adjoint(g, u(3, 3))), [u()], 0, False),
    ("diag_adjoint", lambda g: w(nh.diag_adjoint(g, V3, 1)), [u(4, 4)], 0, False),
    ("extreme_adjoint", lambda g: w(nh.extreme_adjoint(g, X, np.max(X, axis=0), 0)), [u(3)], 0, False),
    ("var_weights", lambda a: w(nh.var_weights(a, 1) * a), [u(2, 3)], 0, True),
    ("rev_cumsum", lambda g: w(nh.rev_cumsum(g, X, 1)), [u(2, 3)], 0, False),
    ("cast_adjoint", lambda g: w(nh.cast_adjoint(g, X, "float64")), [u(2, 3)], 0, False),
    ("mat_apply", lambda m, v: w(nh.mat_apply(m, v, V3)), [u(3, 3), u(3)], (0, 1), True),
    ("outer_like", lambda a, b: w(nh.outer_like(a, b, X)), [u(3, 2), u(4, 2)], (0, 1), True),
    ("solve_like", lambda a, v: w(nh.solve_like(a, v, V3)), [SPD, u(3)], (0, 1), True),
    ("solve_adjoint_b", lambda g, a: w(nh.solve_adjoint_b(g, a, V3)), [u(3), SPD], (0, 1), True),
    ("solve_adjoint_a", lambda g, a, y: w(nh.solve_adjoint_a(g, a, u(3, 2), y)), [u(3, 2), SPD, u(3, 2)], (0, 1, 2), True),
    ("solve_tangent_a", lambda t, a, y: w(nh.solve_tangent_a(t, a, V3, y)), [u(3, 3), SPD, u(3)], (0, 1, 2), True),
]


# forward over forward through these was refused before issue 14 (norm_tangent, einsum_tangent): now
# every argument is checked in both modes
FORWARD_WRT = {}
REVERSE_ONLY_XFAIL = set()


def _params(cases, fields=slice(1, 4), mode=None):
    out = []
    for c in cases:
        marks = ()
        if hasattr(c, "values"):        # a pytest.param
            marks, c = c.marks, c.values
        if mode == "forward" and c[0] in REVERSE_ONLY_XFAIL:
            marks = ()
        vals = list(c[fields])
        if mode == "forward" and c[0] in FORWARD_WRT:
            vals[2] = FORWARD_WRT[c[0]]
        out.append(pytest.param(*vals, marks=marks, id=c[0]))
    return out


def _second(c):
    return (c.values if hasattr(c, "values") else c)[4]


@pytest.mark.parametrize("fn,args,wrt", _params(HELPER_CASES))
def test_helper_reverse(fn, args, wrt):
    srcad.check_grad(fn, *args, wrt=wrt, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("fn,args,wrt", _params(HELPER_CASES, mode="forward"))
def test_helper_forward(fn, args, wrt):
    T.check_jvp(fn, args, wrt)


SECOND = [c for c in HELPER_CASES if _second(c)]


@pytest.mark.parametrize("mode", ["rr", "hessian", "rof"])
@pytest.mark.parametrize("fn,args,wrt", _params(SECOND))
def test_helper_second_order(fn, args, wrt, mode):
    for w_ in ((wrt,) if isinstance(wrt, int) else wrt):
        got, want = second_order(fn, args, w_, mode)
        np.testing.assert_allclose(np.asarray(got, dtype=np.float64), want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("fn,what", [
    (lambda x: np.sum(np.prod(x, axis=1) ** 2), "np.prod"),
    (lambda x: np.linalg.det(x), "np.linalg.det"),
    (lambda x: np.einsum("ij,jk->", x, x), "np.einsum"),
], ids=["prod", "det", "einsum"])
def test_third_order_through_a_helper_is_refused_not_zero(fn, what):
    # a helper's derivative srcad does not give: refused when the derivative is generated (a
    # TransformError naming the construct), never a zero, never an error only when it runs
    f = srcad.grad(srcad.grad(fn))
    g = srcad.grad(lambda x: T.weigh(f(x)))
    with pytest.raises(srcad.TransformError, match=f"no derivative of {what} .third order"):
        g(u(3, 3))
    h = srcad.hessian(lambda x: T.weigh(f(x)))
    with pytest.raises(srcad.TransformError, match=f"no derivative of {what}"):
        h(u(3, 3))
