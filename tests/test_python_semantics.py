"""Python's meaning of operators and calls (issue 11, classes 5 and 6), in both modes.

* ``+`` and ``*`` on lists and tuples are concatenation and repetition, not NumPy arithmetic;
* adjoints of lists of arrays are added element-wise (a recursive helper taking a list);
* values passed by keyword (keywords, keyword-only parameters, defaults, ``*args``, ``**kw``) reach
  the derivative;
* ``out=`` is refused with the user's line (it was accepted and dropped).

Every gradient is checked against central finite differences.
"""

import numpy as np
import pytest

import srcad
from test_replay import SHAPES, check_both, point


# ---------------------------------------------------------------------- + and * on sequences


def list_grows_by_concatenation(x, y):
    feats = [x]
    for k in range(3):
        h = np.sin(feats[-1]) * y
        feats = feats + [h]
    return np.sum(feats[1] * feats[-1] + feats[0])


def list_grows_in_place(x, y):
    feats = [x]
    for k in range(2):
        feats += [np.tanh(feats[-1] * y)]
    return np.sum(feats[-1] * feats[0]) + np.sum(feats[1])


def tuples_concatenated(x, y):
    t = (x,) + (y, x * y)
    return np.sum(t[0] * t[2] + np.sin(t[1]))


def list_repeated(x, y):
    r = [x * y] * 3
    s = 2 * [np.cos(x)]
    return np.sum(r[0] * r[2] + sum(r) * s[1])


def slices_concatenated(x, y):
    lst = [x, y, x * y]
    rot = lst[1:] + lst[:1]
    return np.sum(rot[0] * rot[2] + rot[1])


def concatenated_copy(x, y):
    a = [x, y]
    b = a[:] + [x * x]
    return np.sum(b[2] * b[1] + b[0])


def helper_appends_by_plus(feats, h):
    return feats + [h * 2.0]


def concatenation_in_a_helper(x, y):
    feats = helper_appends_by_plus([x], y)
    feats = helper_appends_by_plus(feats, np.sin(x))
    return np.sum(feats[0] * feats[1] * feats[2])


@pytest.mark.parametrize("fn", [list_grows_by_concatenation, list_grows_in_place, tuples_concatenated,
                                list_repeated, slices_concatenated, concatenated_copy,
                                concatenation_in_a_helper])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("wrt", [0, 1])
def test_sequence_operators(fn, shape, wrt):
    check_both(fn, [point(shape, 1), point(shape, 2)], wrt=wrt)


def array_plus_list_display(x, y):
    return np.sum((x + [0.5, 2.0, 1.5]) * y)


def list_display_times_array(x, y):
    return np.sum([0.5, 2.0, 1.5] * x + (x,) * 2 * y)


@pytest.mark.parametrize("fn", [array_plus_list_display, list_display_times_array])
@pytest.mark.parametrize("wrt", [0, 1])
def test_a_display_with_an_array_is_numpy_arithmetic(fn, wrt):
    """``array + [..]`` and ``[..] * array`` are NumPy's operations (Python decides at run time)."""
    check_both(fn, [point((3,), 1), point((3,), 2)], wrt=wrt)


def concatenates_two_arguments(xs, ys):
    zs = xs + ys
    return np.sum(zs[0] * zs[-1])


def test_concatenation_srcad_cannot_see_is_refused():
    with pytest.raises(TypeError, match="joined lists or tuples"):
        srcad.grad(concatenates_two_arguments)([np.ones(2), np.ones(2)], [np.ones(2)])


def test_sequence_operators_are_written_as_such():
    src = srcad.source(srcad.grad(tuples_concatenated))
    assert "seq_concat(" in src and "seq_part(" in src
    assert "seq_repeat(" in srcad.source(srcad.grad(list_repeated))


def pairwise(xs, n):
    """Recursive (kept as a call): takes and returns lists of arrays."""
    if n == 0:
        return xs[0] * xs[1]
    return pairwise(xs, n - 1) + xs[0] * np.sin(xs[1])


def list_argument_twice(xs):
    a = pairwise(xs, 2)
    b = pairwise(xs, 1)
    return np.sum(a * b) + np.sum(xs[1])


def list_argument_and_loop(xs):
    s = pairwise(xs, 1)
    for v in xs:
        s = s + v * v
    return np.sum(s)


@pytest.mark.parametrize("fn", [list_argument_twice, list_argument_and_loop])
@pytest.mark.parametrize("shape", SHAPES)
def test_list_adjoints_add_element_wise(fn, shape):
    xs = [point(shape, 3), point(shape, 4)]
    check_both(fn, [xs])
    g = srcad.grad(fn)(xs)
    assert isinstance(g, list) and len(g) == 2


# ---------------------------------------------------------------------- keywords reach the derivative


def scaled(h, b=2.0, *, c, d=3.0):
    return h * b + np.sin(c) * d


def by_keyword(x, y):
    return np.sum(scaled(x, b=y, c=x * y))


def by_keyword_out_of_order(x, y):
    return np.sum(scaled(c=y, h=x) + scaled(y, d=x, c=x))


_OFFSET = np.array(0.25)


def with_array_default(h, k=_OFFSET, *, m=0.5):
    return np.tanh(h + k) * m


def by_defaults(x, y):
    return np.sum(with_array_default(x) + with_array_default(y, m=x))


def positional_only(a, /, b):
    return a * np.cos(b)


def by_positional_only(x, y):
    return np.sum(positional_only(x, b=y))


def star_args(h, *rest, scale=1.0):
    s = h * scale
    for r in rest:
        s = s + r * r
    return s


def by_star_args(x, y):
    return np.sum(star_args(x, y, x * y, scale=y))


def star_kwargs(h, **kw):
    return h * kw["w"] + np.sin(kw["v"])


def by_star_kwargs(x, y):
    return np.sum(star_kwargs(x, w=y, v=x * y))


def recursive_keyword_only(h, n, *, scale):
    if n == 0:
        return h * scale
    return recursive_keyword_only(np.sin(h) * scale, n - 1, scale=scale)


def kept_call_by_keyword(x, y):
    return np.sum(recursive_keyword_only(n=3, h=x, scale=y))


@pytest.mark.parametrize("fn", [by_keyword, by_keyword_out_of_order, by_defaults, by_positional_only,
                                kept_call_by_keyword])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("wrt", [0, 1])
def test_keywords_reach_the_derivative(fn, shape, wrt):
    check_both(fn, [point(shape, 5), point(shape, 6)], wrt=wrt)


@pytest.mark.parametrize("fn", [by_star_args, by_star_kwargs])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("wrt", [0, 1])
def test_star_parameters_are_bound_when_inlined(fn, shape, wrt):
    args = [point(shape, 5), point(shape, 6)]
    srcad.check_grad(fn, *args, wrt=wrt)
    # forward mode inlines the helper too (issue 13) and agrees
    tangents = [None, None]
    tangents[wrt] = np.ones(shape) if shape else 1.0
    g = srcad.grad(fn, wrt=wrt)(*args)
    _, tangent = srcad.jvp(fn, tuple(args), tuple(tangents))
    np.testing.assert_allclose(np.sum(tangent), np.sum(g * tangents[wrt]), rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------------- out= is refused


def sum_out(x):
    buf = np.zeros(())
    s = np.sum(x, out=buf)
    return buf * 2.0 + s


def ufunc_out(x):
    buf = np.zeros_like(x)
    np.multiply(x, x, out=buf)
    return np.sum(buf)


def ufunc_positional_out(x):
    buf = np.zeros_like(x)
    y = np.add(x, x, buf)
    return np.sum(buf + y)


def method_out(x):
    buf = np.zeros(())
    x.sum(out=buf)
    return buf * 1.0


def clip_out(x):
    buf = np.zeros_like(x)
    y = np.clip(x, 0.1, 0.5, out=buf)  # noqa: F841  (the write into buf is what counts)
    return np.sum(buf)


def out_in_a_helper(x):
    return sum_out(x) * 2.0


@pytest.mark.parametrize("fn", [sum_out, ufunc_out, ufunc_positional_out, method_out, clip_out,
                                out_in_a_helper])
def test_out_is_refused_with_its_line(fn):
    x = np.array([0.2, 0.3, 0.9])
    with pytest.raises(srcad.TransformError, match=r"test_python_semantics.py:\d+: .*(out=|output array)"):
        srcad.grad(fn)(x)
    with pytest.raises(srcad.TransformError, match=r"test_python_semantics.py:\d+: .*(out=|output array)"):
        srcad.jvp(fn, (x,), (np.ones(3),))


def out_none(x):
    return np.sum(x * x, out=None)


def test_out_none_is_fine():
    check_both(out_none, [np.array([0.2, 0.3])])


# ---------------------------------------------------------------------- unpacking, divmod, pow


def unpack_argument(x, y):
    a, b = y          # a 2-vector, a (2, n) matrix or a pair: unpacked along its first axis
    return np.sum(a * x + np.sin(b) * x)


def unpack_slice(x, y):
    a, b = y[:2]
    return np.sum(a * b * x)


def builtin_divmod(x, y):
    q, r = divmod(x, y)
    return np.sum(r * x + q * y)


def numpy_divmod(x, y):
    q, r = np.divmod(x, y)
    return np.sum(r * r + q * x)


def builtin_pow(x, y):
    return np.sum(pow(x, 3) + pow(x, y))


@pytest.mark.parametrize("fn", [unpack_argument, unpack_slice])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("wrt", [0, 1])
def test_unpacking_a_sequence(fn, shape, wrt):
    y = point((2,) + shape, 2)
    check_both(fn, [point(shape, 1), y], wrt)
    if shape == ():
        check_both(fn, [point(shape, 1), (0.3, 0.8)], 0)   # a tuple argument


@pytest.mark.parametrize("fn", [builtin_divmod, numpy_divmod, builtin_pow])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("wrt", [0, 1])
def test_divmod_and_pow_are_their_operators(fn, shape, wrt):
    x = point(shape, 1) + 1.1
    y = 0.3 + 0.1 * point(shape, 2)
    check_both(fn, [x, y], wrt)
    if shape == ():
        h = srcad.hessian(fn, wrt=wrt)(x, y)
        g = srcad.grad(fn, wrt=wrt)
        eps = 1e-5
        args = [x, y]
        up, down = list(args), list(args)
        up[wrt], down[wrt] = args[wrt] + eps, args[wrt] - eps
        np.testing.assert_allclose(h, (g(*up) - g(*down)) / (2 * eps), rtol=1e-4, atol=1e-6)


def unpack_dict(x):
    d = {1: x, 0: 2 * x}
    a, b = d            # the keys 1 and 0, not d[0] and d[1]
    return a * x + b


def unpack_too_many(x):
    a, b = x
    return a * b


def test_unpacking_a_dict_is_refused_with_its_line():
    line = unpack_dict.__code__.co_firstlineno + 2
    for run in (lambda: srcad.grad(unpack_dict)(0.7), lambda: srcad.jvp(unpack_dict)(0.7, 1.0)):
        with pytest.raises(srcad.TransformError) as e:
            run()
        assert (e.value.filename, e.value.lineno) == (__file__, line), str(e.value)
        assert "dict" in str(e.value)


def test_unpacking_checks_the_count_as_python_does():
    x = np.array([0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="too many values to unpack"):
        unpack_too_many(x)
    with pytest.raises(ValueError, match="too many values to unpack"):
        srcad.grad(unpack_too_many)(x)
    with pytest.raises(ValueError, match="too many values to unpack"):
        srcad.jvp(unpack_too_many)(x, np.ones(3))
    np.testing.assert_allclose(srcad.grad(unpack_too_many)(x[:2]), [0.2, 0.1])


def starred_first(x, y):
    a, *rest = x
    return np.sum(a * y * np.sum(np.array(rest) ** 2))


def starred_middle(x, y):
    a, *mid, z = x
    s = a * z * y
    for m in mid:
        s = s + np.sin(m) * a
    return np.sum(s)


def starred_display(x, y):
    a, *b = (x, x * y, y * 3)
    return np.sum(a * b[1] + b[0])


@pytest.mark.parametrize("fn", [starred_first, starred_middle, starred_display])
@pytest.mark.parametrize("shape", [(2,), (4,), (3, 2)])
@pytest.mark.parametrize("wrt", [0, 1])
def test_starred_assignment(fn, shape, wrt):
    check_both(fn, [point(shape, 1), 0.8], wrt)


def test_starred_assignment_checks_the_count():
    def short(x):
        a, *b, c = x
        return a
    with pytest.raises(ValueError, match="expected at least 2, got 1"):
        srcad.grad(short)(np.array([1.0]))


# ---------------------------------------------------------------------- max/min of one iterable


def max_of_list(x, y):
    ys = [x[0] * y, x[1], x[2] + 0.1]
    return max(ys) + 2 * min(ys)


def max_of_array(x, y):
    return max(x * y) * min(x)


def max_of_generator(x, y):
    return max(v * v * y for v in x) - min(np.sin(v) for v in x)


def max_of_rows(x, y):      # rows of a matrix compare by their first item... NumPy refuses that:
    return max(np.sum(x * y, axis=1))   # so the rows' sums


@pytest.mark.parametrize("fn", [max_of_list, max_of_array, max_of_generator])
@pytest.mark.parametrize("wrt", [0, 1])
def test_max_min_of_an_iterable(fn, wrt):
    check_both(fn, [np.array([0.3, 0.5, 0.45]), 1.3], wrt)
    check_both(fn, [np.array([0.6, 0.2, 0.45]), 0.7], wrt)


def test_max_of_row_sums():
    check_both(max_of_rows, [np.array([[0.3, 0.5], [0.45, 0.1], [0.9, 0.2]]), 1.3], 0)


def test_max_takes_the_first_of_ties_as_python_does():
    def first_of_ties(x):
        return max([x[0], x[1]]) * 3 + min([x[1], x[0]])
    x = np.array([0.5, 0.5])
    # Python returns x[0] for max and x[1] for min (the first of equal items)
    np.testing.assert_allclose(srcad.grad(first_of_ties)(x), [3.0, 1.0])
    np.testing.assert_allclose(srcad.jvp(first_of_ties, (x,), (np.array([1.0, 0.0]),))[1], 3.0)


def sorted_by_key_lambda(x, y):
    ys = sorted(x * y, key=lambda v: -v)
    return ys[0] * 2 + ys[1]


def max_by_key_lambda(x, y):
    return max(x * y, key=lambda v: (v - 0.4) ** 2) * y


def min_of_pairs_by_key(x, y):
    pairs = [(x[0], 2.0), (x[1] * y, 1.0), (x[2], 3.0)]
    return min(pairs, key=lambda p: p[1])[0] * 3


@pytest.mark.parametrize("fn", [sorted_by_key_lambda, max_by_key_lambda, min_of_pairs_by_key])
@pytest.mark.parametrize("wrt", [0, 1])
def test_key_lambdas(fn, wrt):
    x = np.array([0.3, 0.52, 0.45])
    check_both(fn, [x, 1.1], wrt)
    if wrt == 0:      # to second order: the key is passed on inside the derivative
        h = srcad.hessian(fn)(x, 1.1)
        g = srcad.grad(fn)
        num = np.array([(g(x + 1e-5 * e, 1.1) - g(x - 1e-5 * e, 1.1)) / 2e-5 for e in np.eye(3)])
        np.testing.assert_allclose(h, num, atol=1e-6)


def test_key_lambda_reading_a_variable_is_refused_with_its_line():
    def reads_c(x):
        c = 0.4
        return max(x, key=lambda v: abs(v - c))
    with pytest.raises(srcad.TransformError, match="key lambda") as e:
        srcad.grad(reads_c)(np.array([0.3, 0.5]))
    assert e.value.filename == __file__


# ---------------------------------------------------------------------- spreads srcad cannot see

_ARGS = [np.ones((3, 4)) * 0.1, np.ones((4, 2)) * 0.2, np.ones(2) * 0.3]


def _dense(x, W, b=0.0):
    return np.sum(np.tanh(x @ W + b) ** 2)


def spread_of_an_appended_list(x, y):
    parts = []
    parts.append(x)
    parts.append(x * y)
    return np.sum(np.multiply(*parts))     # the display was [], its items are not parts' items


def spread_beside_a_differentiated_argument(x, y):
    return _dense(*_ARGS[:2], x * y)       # which parameter x * y fills is known when it runs


def derivative_called_with_a_spread(x, y):
    return np.sum(srcad.grad(_dense, wrt=1)(*_ARGS[:1], x * y) * 2.0)


@pytest.mark.parametrize("fn", [spread_of_an_appended_list, spread_beside_a_differentiated_argument,
                                derivative_called_with_a_spread])
def test_spreads_srcad_cannot_see_are_refused(fn):
    x = np.full((4, 2), 0.3) if fn is derivative_called_with_a_spread else np.array([0.3, 0.4])
    if fn is spread_beside_a_differentiated_argument:
        x = np.array([0.3, 0.4])
    fn(x, 1.2)      # Python runs it
    for run in (lambda: srcad.grad(fn)(x, 1.2), lambda: srcad.jvp(fn, (x, 1.2), (np.ones_like(x), 0.0))):
        with pytest.raises(srcad.TransformError, match=r"spread|starred") as e:
            run()
        assert e.value.filename == __file__


def fstring_with_a_slice(x, y):
    label = f"{np.max(x[:, 0]):.2f} {y!r} {{braces}}"
    return np.sum(x * y) * len(label)


def test_fstrings_print_as_python():
    """An f-string whose expression slices (``x[:, 0]``) is printed as Python in the derivative
    (astunparse's own printer wrote ``x[(:, 0)]``, which does not parse)."""
    x = np.array([[0.3, 0.4], [0.5, 0.6]])
    check_both(fstring_with_a_slice, [x, 1.25], 0)
    assert "x[:, 0]" in srcad.source(srcad.grad(fstring_with_a_slice), x, 1.25)
