"""The public API: grad, value_and_grad, vjp, source, check_grad."""

import builtins
import functools
import numbers
import types
import weakref

import numpy as np

from srcad import blockwise, compose, pipeline, runtime
from srcad.parse import GENERATED
from srcad.inline import object_arg
from srcad.ownership import fresh_result
from srcad.runtime import _training, check_output, owned_copy, zeros_like


def _wrt_tuple(wrt):
    if isinstance(wrt, bool) or not isinstance(wrt, (int, tuple, list)):
        raise TypeError(f"wrt must be an int or a tuple of ints, not {wrt!r}")
    if isinstance(wrt, int):
        wrts, as_tuple = (wrt,), False
    else:
        if not wrt or not all(isinstance(w, int) and not isinstance(w, bool) for w in wrt):
            raise TypeError(f"wrt must be an int or a non-empty tuple of ints, not {wrt!r}")
        wrts, as_tuple = tuple(wrt), True
    # A negative position would count from the end of the arguments given at the call but from
    # the end of the parameters in the derivative: with a defaulted parameter the two disagree and
    # the gradient of the wrong argument came back (issue 7, test_bad_inputs.py).
    if any(w < 0 for w in wrts):
        raise ValueError(f"wrt positions must be >= 0, not {wrt!r}")
    return wrts, as_tuple


def _check_input(x, position, fname):
    """Differentiated inputs must be floating point, real or complex (ints are cast; others refused).

    The gradient of a complex input follows autograd's and JAX's convention (docs/complex.md)."""
    if isinstance(x, bool) or (isinstance(x, np.ndarray) and x.dtype == bool):
        raise TypeError(f"{fname}: argument {position} is boolean; srcad differentiates "
                        "floating-point (real or complex) inputs only")
    if isinstance(x, (float, np.floating, complex, np.complexfloating)):
        return x
    if isinstance(x, numbers.Integral):
        return float(x)
    if isinstance(x, np.ndarray):
        if x.dtype.kind in "fc":
            return x
        if x.dtype.kind in "iu":
            return x.astype(np.float64)
        if x.dtype.kind == "O":
            raise TypeError(f"{fname}: argument {position} is a object array; srcad differentiates "
                            "floating-point (real or complex) inputs only")
        raise TypeError(f"{fname}: argument {position} has dtype {x.dtype}; expected floating point")
    if isinstance(x, (list, tuple)):
        return type(x)(_check_input(v, position, fname) for v in x)
    if isinstance(x, dict):
        return {k: _check_input(v, position, fname) for k, v in x.items()}
    if hasattr(x, "shape") and hasattr(x, "dtype"):
        # another array library (Dask, CuPy): its dtype is read without computing it
        kind = np.dtype(x.dtype).kind
        if kind in "fc":
            return x
        if kind in "iu":
            return x.astype(np.float64)
        raise TypeError(f"{fname}: argument {position} is a {type(x).__name__} of dtype {x.dtype}; "
                        "srcad differentiates floating-point (real or complex) inputs only")
    raise TypeError(f"{fname}: argument {position} is {type(x).__name__}, not a number or array")


def _own(g, args, like=None):
    """Gradients handed to users are writable and never alias their inputs.

    ``like`` is what ``g`` is the derivative of (the differentiated argument, or the tuple of them;
    None: real inputs). A complex gradient of a complex input is kept (docs/complex.md); that of a
    real input (a real value multiplied by a complex one on the way, ``x * H``) carries ``dL/dx`` in
    its real part, which is what is returned."""
    if type(g) is float or type(g) is np.float64:
        if like is None:
            return g
        # the seed passed straight through (``return x``) for a float32 scalar input; a complex
        # input's gradient is complex even where it has no imaginary part
        if _is_complex(like):
            return complex(g)
        return like.dtype.type(g) if type(g) is float and isinstance(like, (np.float32, np.float16)) else g
    if like is None and type(g) is np.ndarray and g.base is None and g.dtype.kind == "f" and g.flags.writeable:
        for a in args:
            if a is g or getattr(a, "base", None) is g:
                return np.array(g)
        return g    # it owns its memory and no argument is it or a view of it
    if type(g) is tuple and all(type(v) is float for v in g):
        return g
    if isinstance(g, np.ndarray):
        if g.dtype.kind == "c" and not _is_complex(like):
            return np.ascontiguousarray(g.real)
        if g.dtype.kind == "f" and like is not None and _is_complex(like) and not isinstance(like, (list, tuple, dict)):
            return g.astype(np.result_type(g, np.complex64))
        if g.base is None and g.flags.writeable and \
                all(a is not g and getattr(a, "base", None) is not g for a in args):
            return g    # it owns its memory and no argument is it or a view of it
        if not g.flags.writeable or any(isinstance(a, np.ndarray) and np.may_share_memory(g, a)
                                        for a in args):
            return np.array(g)
        return g
    if isinstance(g, (complex, np.complexfloating)) or (runtime.is_array(g) and np.dtype(g.dtype).kind == "c"):
        return g if _is_complex(like) else g.real
    if isinstance(g, (list, tuple)):
        if isinstance(like, (list, tuple)) and len(like) == len(g):
            return type(g)(_own(v, args, p) for v, p in zip(g, like))
        return type(g)(_own(v, args) for v in g)
    if isinstance(g, dict):
        if isinstance(like, dict):
            return {k: _own(v, args, like.get(k)) for k, v in g.items()}
        return {k: _own(v, args) for k, v in g.items()}
    return g


def _is_complex(x):
    """Whether ``x`` is, or holds, a complex number or array (read from dtypes: nothing is computed)."""
    if isinstance(x, (list, tuple)):
        return any(_is_complex(v) for v in x)
    if isinstance(x, dict):
        return any(_is_complex(v) for v in x.values())
    return isinstance(x, (complex, np.complexfloating)) or getattr(getattr(x, "dtype", None), "kind", "") == "c"


def _rank(a):
    """The rank a variant is specialised on. Rank 0 means an immutable number: a 0-d array (which
    ``y += 1`` changes in place through every name bound to it) gets the generic variant."""
    t = type(a)
    if t is float:
        return 0
    if isinstance(a, (float, int, np.generic)) and not isinstance(a, bool):
        return 0
    if isinstance(a, np.ndarray) or runtime.is_array(a):
        return a.ndim or None      # Dask and CuPy arrays are specialised as NumPy's are
    return object_arg(a)           # an object of a user class: specialised on its class (issue 13)


class _ForeignRanks(tuple):
    """The ranks of a call with another library's arrays (Dask, CuPy) among its arguments: a variant
    of its own, whose adjoints accumulate as ``d = d + e`` (NumPy cannot add a Dask array into a
    NumPy adjoint in place, which ``d += e`` asks where a NumPy parameter meets Dask data)."""

    __slots__ = ()
    foreign = True

    def __eq__(self, other):
        return type(other) is _ForeignRanks and tuple.__eq__(self, other)

    def __ne__(self, other):
        return not self == other

    def __hash__(self):
        return hash(("foreign",) + tuple(self))


def _foreign(a):
    """Whether ``a`` is, or holds, an array of a library other than NumPy."""
    if isinstance(a, (list, tuple)):
        return any(_foreign(v) for v in a)
    if isinstance(a, dict):
        return any(_foreign(v) for v in a.values())
    return not isinstance(a, np.ndarray) and runtime.is_array(a)


def _ranks(args, data=()):
    """The variant key of a call: the arguments' ranks, foreign (``_ForeignRanks``) where an
    argument, or a module-level or closure value the function reads (``data``, from
    ``_data_refs``), is another library's array."""
    ranks = tuple(_rank(a) for a in args)
    return _ForeignRanks(ranks) if any(_foreign(a) for a in args) or _reads_foreign(data) else ranks


def _data_refs(fun, seen=None):
    """Where ``fun``, and the user's functions it names, read a module-level or closure value that
    holds arrays: ``(namespace, name)`` pairs and closure cells. A loss over module-level Dask
    data (``X @ w - Y`` with a NumPy ``w``) gets the foreign variant, whose adjoints accumulate as
    ``d = d + e``: NumPy cannot add a Dask contribution into a NumPy adjoint in place. The values
    are read at each call (a global rebound from a NumPy array to a Dask one is seen); which
    globals hold arrays is found once per code object (a lambda made in a training loop costs a
    lookup), closure cells once per function."""
    seen = set() if seen is None else seen
    code = getattr(fun, "__code__", None)
    if code is None or code in seen or len(seen) > 64:
        return []
    seen.add(code)
    ns = fun.__globals__
    hit = _GLOBAL_REFS.get(code)
    if hit is None or hit[0] is not ns:
        refs = []
        names, stack = set(), [code]
        while stack:
            c = stack.pop()
            names.update(c.co_names)
            stack.extend(k for k in c.co_consts if isinstance(k, types.CodeType))
        for n in sorted(names):
            if n in ns:
                refs.extend(_data_ref(ns[n], (ns, n), seen))
        hit = (ns, refs)
        _GLOBAL_REFS[code] = hit
    refs = list(hit[1])
    for cell in fun.__closure__ or ():
        try:
            refs.extend(_data_ref(cell.cell_contents, cell, seen))
        except ValueError:          # an empty cell
            pass
    return refs


def _data_ref(v, ref, seen):
    if runtime.is_array(v) or isinstance(v, (list, tuple, dict, complex, np.complexfloating)):
        return [ref]
    if isinstance(v, types.FunctionType) and not _library(v):
        return _data_refs(v, seen)
    return []


_GLOBAL_REFS = weakref.WeakKeyDictionary()   # code object -> (its globals, the refs found there)


def _library(fn):
    mod = getattr(fn, "__module__", None) or ""
    return mod.split(".")[0] in ("numpy", "scipy", "srcad", "dask", "cupy")


def _ref_values(refs):
    for ref in refs:
        if type(ref) is tuple:
            yield ref[0].get(ref[1])
        else:
            try:
                yield ref.cell_contents
            except ValueError:
                continue


def _reads_foreign(refs):
    return any(type(v) is not _ndarray and _foreign(v) for v in _ref_values(refs))


def _reads_complex(refs):
    """Whether a global or closure value the function reads is complex: its output may be
    complex although every argument is real (``np.sum(x * H)``), so it is checked."""
    return any(_is_complex(v) for v in _ref_values(refs))


def _reads_special(refs):
    """The fast path's test: foreign (Dask/CuPy) or complex data read from globals/closures."""
    for v in _ref_values(refs):
        if type(v) is _ndarray:
            if v.dtype.kind == "c":
                return True
        elif _foreign(v) or _is_complex(v):
            return True
    return False


def numba_backend():
    """srcad.numba_backend, imported the first time a derivative is compiled (Numba is optional)."""
    global _numba_backend
    if _numba_backend is None:
        from srcad import numba_backend as module
        _numba_backend = module
    return _numba_backend


_numba_backend = None


def _compile_option(compile):
    return compile and numba_backend().check_option(compile)


def _split_method(fun):
    """A bound method ``obj.f`` is differentiated as ``f`` with ``obj`` passed first: returns
    (function, arguments to put in front)."""
    if isinstance(fun, types.MethodType) and isinstance(fun.__func__, types.FunctionType):
        return fun.__func__, (fun.__self__,)
    return fun, ()


def _shift(wrt, by):
    if not by:
        return wrt
    return wrt + by if isinstance(wrt, int) else type(wrt)(w + by for w in wrt)


def _unwrap(fun, args=None):
    """The function srcad transforms for ``fun``: a derivative's generated function (for arguments
    like ``args`` where given: the variant specialised to their ranks), else ``fun`` itself."""
    if args is not None and isinstance(fun, _Transformed):
        return fun.specialized(fun._prefix + tuple(args)).fn
    inner = getattr(fun, "__srcad_function__", None)
    return inner() if inner is not None else fun


class _Transformed:
    """Shared machinery of the derivative callables: lazy building, input checks, training flag."""

    mode = "grad"

    def __init__(self, fun, wrt=0, compile=None):
        if not callable(fun):
            raise TypeError(f"srcad needs a function, got {fun!r}")
        self.compile = _compile_option(compile)
        self.backend = None            # "numba" or "numpy": what ran the last call (compile=)
        self._compiled_calls = {}      # argument types -> the compiled call's entry (numba_backend._entry)
        functools.update_wrapper(self, fun, updated=())
        _wrt_tuple(wrt)
        fun, self._prefix = _split_method(fun)
        self.fun = fun
        self.wrt, self.tuple_out = _wrt_tuple(_shift(wrt, len(self._prefix)))
        self.__name__ = f"{self.mode}_{getattr(fun, '__name__', 'f')}"
        # ranks -> (cache generation, Derivative, its guard bound to the function): the per-call
        # fast path; the guard says whether the code that would run now is still the code the
        # derivative was generated from (guards.py)
        self._variants = {}
        self._data = _data_refs(fun)   # module-level and closure arrays it reads (_ForeignRanks)
        self._fast = {}   # argument types -> what grad's fast path needs (grad._remember)

    @property
    def derivative(self):
        """The generic derivative (no assumption on argument shapes): what ``source`` shows."""
        return pipeline.reverse_derivative(_unwrap(self.fun), self.wrt, self.mode)

    def specialized(self, args):
        """The derivative specialised to the ranks (ndim) of these arguments.

        Knowing which arguments are scalars lets srcad drop shape bookkeeping (``unbroadcast``)
        wherever every operand is a scalar; one variant is cached per combination of ranks.
        """
        ranks = _ranks(args, self._data)
        hit = self._variants.get(ranks)
        if hit is not None and hit[0] == pipeline.generation and hit[2]():
            return hit[1]
        d = pipeline.reverse_derivative(_unwrap(self.fun), self.wrt, self.mode, ranks=ranks)
        self._variants[ranks] = (pipeline.generation, d, d.guard.bound(d.root))
        return d

    def compiled(self, *args):
        """The Numba-compiled derivative for arguments like ``args`` (an object made with
        ``compile=``): its ``dispatcher`` is the compiled function itself (no srcad wrapper), its
        ``source`` and ``namespace`` what it runs."""
        return numba_backend().compiled_for(self.specialized(self._prefix + args))

    def __srcad_function__(self):
        """The generated function behind this derivative (so srcad can differentiate it again)."""
        return self.derivative.fn

    def _compiled_entry(self, args, kwargs):
        """A call of a derivative made with ``compile=``; once a call ran compiled, an entry of
        numba_backend's for those argument types takes this attribute's place (``_entry``)."""
        return numba_backend().call(self, args, kwargs)

    def _prepare(self, args):
        args = list(args)
        for i in self.wrt:
            if i >= len(args):
                raise TypeError(f"{self.__name__}: wrt={i} but only {len(args)} positional "
                                "arguments were given")
            x = args[i]
            if not (type(x) is float or (type(x) is np.ndarray and x.dtype.kind == "f")):
                args[i] = _check_input(x, i, self.__name__)
        return self.specialized(args), args

    def _tuple(self, g):
        """``wrt=(0,)`` gives a 1-tuple, as the API promises for a tuple ``wrt`` (issue 7: it gave
        the bare gradient; tests/test_bad_inputs.py::test_wrt_one_tuple_gives_a_tuple)."""
        return (g,) if self.tuple_out and len(self.wrt) == 1 else g

    def _like(self, args):
        """What the derivative function's result is the derivative of (for ``_own``)."""
        return args[self.wrt[0]] if len(self.wrt) == 1 else tuple(args[i] for i in self.wrt)

    def _run(self, fn, args, kwargs):
        token = _training.set(True)
        try:
            return fn(*args, **kwargs)
        finally:
            _training.reset(token)


class grad(_Transformed):
    """The gradient of ``fun`` w.r.t. positional argument(s) ``wrt``.

    ``srcad.grad(f)(x)``; also a decorator: ``@srcad.grad`` or ``@srcad.grad(wrt=(0, 1))``.
    A non-scalar output is differentiated as its sum. Keyword arguments pass through.
    """

    mode = "grad"

    def __new__(cls, fun=None, wrt=0, compile=None):
        if fun is None:
            return functools.partial(cls, wrt=wrt, compile=compile)
        return super().__new__(cls)

    def __init__(self, fun=None, wrt=0, compile=None):
        super().__init__(fun, wrt, compile)
        self.__name__ = f"grad_{getattr(fun, '__name__', 'f')}"

    def __call__(self, *args, **kwargs):
        if self.compile:
            return self._compiled_entry(args, kwargs)
        if self._prefix:
            args = self._prefix + args
        # The fast path (issue 15 item 7): keyed on the arguments' types, a derivative already built
        # for them; a few hundred nanoseconds matter for small functions called in loops.
        # Data the function reads from globals or closures that is a Dask/CuPy array takes the
        # checked path (its own variant, without in-place accumulation)
        hit = self._fast.get(type(args[0]) if len(args) == 1 else tuple(map(type, args)))
        if hit is not None and hit[0] == pipeline.generation and not (self._data and _reads_special(self._data)):
            _, fn, guard, arrays, fresh, flag = hit
            # each array as it was when remembered: its ndim, and the very dtype object (NumPy's
            # float64 is one object; any other dtype, equal or not, takes the checked path)
            for i, n, dt in arrays:
                a = args[i]
                if a.ndim != n or a.dtype is not dt:
                    break
            else:
                if guard():
                    if flag:
                        token = _training.set(True)
                        try:
                            g = fn(*args, **kwargs)
                        finally:
                            _training.reset(token)
                    else:
                        g = fn(*args, **kwargs)
                    if fresh:          # made by the derivative: aliases no argument (1: as a 1-tuple)
                        return g if fresh is True else (g,)
                    if type(g) is float:
                        return (g,) if self.tuple_out and len(self.wrt) == 1 else g
                    return self._tuple(_own(g, args))
        if any(blockwise.is_dask(a) for a in args):
            g = blockwise.gradient(self, args, kwargs)    # an elementwise loss: block by block
            if g is not None:
                return self._tuple(g)
        d, args = self._prepare(args)
        if any(_is_complex(a) for a in args) or (self._data and _reads_complex(self._data)):
            # a complex argument (differentiated or not: ``np.sum(x * c)`` with a complex ``c``)
            # may give a complex output, which has no gradient: checked on the value (generated
            # code checks only an array output's, in ``seed``); never on the fast path
            d = pipeline.reverse_derivative(_unwrap(self.fun), self.wrt, "value_and_grad", ranks=_ranks(args))
            value, g = self._run(d.fn, args, kwargs)
            check_output(value)
            return self._tuple(_own(g, args, self._like(args)))
        self._remember(args, d)
        return self._tuple(_own(self._run(d.fn, args, kwargs), args, self._like(args)))

    def _remember(self, args, d):
        """Key the variant ``d`` just used on the arguments' types, where they settle its ranks
        (Python and NumPy scalars, NumPy arrays of known ndim, None, strings; containers and other
        libraries' arrays are ranked by their contents: they take the checked path each call)."""
        arrays = tuple(i for i, a in enumerate(args) if type(a) is _ndarray)
        if any(args[i].dtype.kind == "c" for i in arrays) or any(isinstance(a, (complex, np.complexfloating))
                                                                for a in args):
            return   # a complex argument: the output is checked on the slow path each call
        if not all(type(a) in _SCALAR_TYPES or isinstance(a, np.generic) for i, a in enumerate(args)
                   if i not in arrays):
            return
        if any(i not in arrays and not issubclass(type(args[i]), (float, np.floating)) for i in self.wrt):
            return   # an int to differentiate is cast on the checked path
        hit = self._variants.get(_ranks(args))
        if hit is None or hit[1] is not d:
            return
        if len(self._fast) > 16:
            self._fast.clear()
        if any(i in arrays and args[i].dtype.kind != "f" for i in self.wrt):
            return
        self._fast[type(args[0]) if len(args) == 1 else tuple(map(type, args))] = (
            hit[0], d.fn, hit[2], tuple((i, args[i].ndim, args[i].dtype) for i in arrays),
            fresh_result(d.source, d.fn) and (1 if self.tuple_out and len(self.wrt) == 1 else True),
            _may_read_training(d.fn))


_ndarray = np.ndarray
_SCALAR_TYPES = {float, int, bool, type(None), str}
_VALUE_TYPES = (int, float, complex, str, bytes, type(None), np.ndarray, np.generic, np.dtype)


def _may_read_training(fn):
    """Whether running the generated ``fn`` may read ``srcad.is_training()``: unless everything
    its code names (globals, closure cells, nested code) is NumPy, SciPy, srcad's helpers, a
    builtin or a plain value, the fast path sets the training flag around the call, as every
    other path does (setting it costs a few hundred nanoseconds)."""
    def harmless(obj):
        if isinstance(obj, _VALUE_TYPES) or obj is np:
            return True
        if isinstance(obj, tuple):
            return all(harmless(v) for v in obj)
        if obj is runtime.is_training or obj is _training:
            return False
        mod = obj.__name__ if isinstance(obj, types.ModuleType) else getattr(obj, "__module__", None)
        if isinstance(obj, types.ModuleType):
            return mod.split(".")[0] in ("numpy", "scipy", "math")
        if not callable(obj) or not isinstance(mod, str):
            return False
        top = mod.split(".")[0]
        return top in ("numpy", "scipy", "math", "builtins", "_operator") or \
            mod in ("srcad.runtime", "srcad.rules.numpy_helpers", "srcad.rules.more_helpers",
                    "srcad.rules.norm_helpers")

    def reads(code):
        for name in code.co_names:
            if name in ("is_training", "_training"):
                return True
            if name in fn.__globals__:
                if not harmless(fn.__globals__[name]):
                    return True
            elif name in builtins.__dict__ and not harmless(builtins.__dict__[name]):
                return True
        return any(reads(c) for c in code.co_consts if isinstance(c, types.CodeType))

    try:
        return reads(fn.__code__) or not all(harmless(c.cell_contents) for c in fn.__closure__ or ())
    except Exception:
        return True


class value_and_grad(grad):
    """``(f(*args), grad(f)(*args))`` in one pass."""

    mode = "value_and_grad"

    def __init__(self, fun=None, wrt=0, compile=None):
        super().__init__(fun, wrt, compile)
        self.__name__ = f"value_and_grad_{getattr(fun, '__name__', 'f')}"

    def __call__(self, *args, **kwargs):
        if self.compile:
            return self._compiled_entry(args, kwargs)
        d, args = self._prepare(self._prefix + args)
        value, g = self._run(d.fn, args, kwargs)
        check_output(value)
        return value, self._tuple(_own(g, args, self._like(args)))


class vjp(_Transformed):
    """``vjp(f, wrt)(*args)`` -> ``(value, pullback)``; ``pullback(dy)`` gives the gradient(s)."""

    mode = "grad"

    def __call__(self, *args, **kwargs):
        d, args = self._prepare(self._prefix + args)
        token = _training.set(True)
        try:
            # The plain call runs on private copies: a function that writes into its inputs
            # (``x[0] = ...``) would otherwise change the user's arrays and the pullback would run
            # on the changed values (issue 7, test_bad_inputs.py::test_user_arrays_are_never_mutated).
            value = self.fun(*owned_copy(args), **owned_copy(kwargs))
        finally:
            _training.reset(token)

        def pullback(dy):
            dy = _check_cotangent(dy, value)
            kw = dict(kwargs)
            kw[d.seed] = dy
            if self.compile:
                g, self.backend = numba_backend().run(d, args, kw, self.compile)
                return self._tuple(_own(g, args + [dy], self._like(args)))
            return self._tuple(_own(self._run(d.fn, args, kw), args + [dy], self._like(args)))
        return value, pullback


def _check_real(v, what, primal=None):
    """A cotangent or tangent leaf must be a real number or array (not None, str, bool), or a
    complex one where its ``primal`` is complex."""
    if _is_complex(primal) and _is_complex(v):
        return
    kind = getattr(getattr(v, "dtype", None), "kind", None)
    if v is None or isinstance(v, (str, bytes, bool, complex, np.bool_, np.complexfloating)) \
            or (kind is not None and kind not in "fiu") \
            or (kind is None and not isinstance(v, numbers.Real) and not hasattr(v, "shape")):
        desc = f"an array of dtype {v.dtype}" if kind is not None else type(v).__name__
        raise TypeError(f"{what} is {desc}; srcad needs a real floating-point number or array"
                        + (" (complex only where its primal is complex)" if kind == "c" or isinstance(v, complex)
                           else ""))


def _check_cotangent(dy, value):
    """``dy``, checked against the output ``value``; a real cotangent of a complex output is made
    complex (the seed of a complex output must be complex: a real one is ``grad``'s)."""
    if isinstance(value, (tuple, list)):
        if not isinstance(dy, (tuple, list)) or len(dy) != len(value):
            raise ValueError(f"cotangent must be a {type(value).__name__} of {len(value)} items")
        return type(dy)(_check_cotangent(a, b) for a, b in zip(dy, value))
    _check_real(dy, "the cotangent", value)
    vshape, dshape = np.shape(value), np.shape(dy)
    if dshape != vshape:
        raise ValueError(f"cotangent has shape {dshape} but the function's output has shape {vshape}")
    if _is_complex(value) and not _is_complex(dy):
        return dy + 0j
    return dy


def source(df, *args):
    """The generated Python source behind a derivative function made by srcad.

    With example arguments, the variant srcad runs for arguments of those ranks.
    """
    if isinstance(df, _Transformed):
        if df.compile:   # the form Numba compiles
            return numba_backend().source(df, args)
        return df.specialized(args).source if args else df.derivative.source
    if isinstance(df, _Matrix):   # jacobian / hessian: the forward-mode code they run
        return df.__srcad_source__()
    if df in GENERATED:
        return GENERATED[df][0]
    raise TypeError(f"{df!r} is not a derivative made by srcad")


# ---------------------------------------------------------------------- forward mode, Jacobians, Hessians


def _tangent_like(t, x, position, fname):
    """A tangent for the primal ``x``: same structure and shape, float64 or ``x``'s float dtype."""
    if isinstance(x, (list, tuple)):
        if not isinstance(t, (list, tuple)) or len(t) != len(x):
            raise ValueError(f"{fname}: tangent {position} must be a {type(x).__name__} of {len(x)} items")
        return type(x)(_tangent_like(a, b, position, fname) for a, b in zip(t, x))
    if isinstance(x, dict):
        if not isinstance(t, dict) or set(t) != set(x):
            raise ValueError(f"{fname}: tangent {position} must be a dict with keys {sorted(x)}")
        return {k: _tangent_like(t[k], x[k], position, fname) for k in x}
    _check_real(t, f"{fname}: tangent {position}", x)
    if np.shape(t) != np.shape(x):
        raise ValueError(f"{fname}: tangent {position} has shape {np.shape(t)} but its primal has shape "
                         f"{np.shape(x)}")
    if isinstance(t, np.ndarray):
        # float64, or the primal's own floating dtype (a float32 input gets float32 tangents, a
        # complex input complex ones)
        kind = getattr(getattr(x, "dtype", None), "kind", "")
        dtype = x.dtype if isinstance(x, (np.ndarray, np.generic)) and kind in "fc" else \
            np.complex128 if _is_complex(x) else np.float64
        return t if t.dtype == dtype else t.astype(dtype)
    if np.ndim(t) == 0 and not hasattr(t, "shape"):
        if isinstance(x, np.ndarray):
            # a 0-d array's tangent is one too: the function may write into it (``x[()] = v``)
            return np.asarray(t, dtype=x.dtype if x.dtype.kind in "fc" else np.float64)
        return complex(t) if _is_complex(x) else float(t)
    return t


def jit(fun=None, wrt=0):
    """``grad(fun, wrt, compile="numba")``: the gradient compiled by Numba (docs/numba.md). Also a
    decorator: ``@srcad.jit`` or ``@srcad.jit(wrt=(0, 1))``."""
    if fun is None:
        return functools.partial(jit, wrt=wrt)
    return grad(fun, wrt=wrt, compile="numba")


def jvp(fun, primals=None, tangents=None, *, wrt=None, compile=None, **kwargs):
    """Forward mode: ``(fun(*primals), J @ tangents)`` (JAX's signature).

    ``primals`` and ``tangents`` are tuples over all positional arguments; a tangent of ``None``
    marks an argument that is not differentiated (an int, a flag).

    Also ``jvp(fun, wrt=w)(*args, *tangents_of_wrt)``: a function taking the positional arguments
    followed by one tangent per position in ``wrt`` (an int or a tuple of ints).

    ``compile="numba"`` runs the forward-mode derivative compiled by Numba (``"auto"``: where
    Numba can compile it), as for ``grad``.
    """
    _compile_option(compile)
    if primals is None and tangents is None:
        ws, _ = _wrt_tuple(0 if wrt is None else wrt)

        def jvp_fun(*args, **kw):
            if len(args) < len(ws):
                raise TypeError(f"expected the arguments followed by {len(ws)} tangent(s)")
            prim = args[:len(args) - len(ws)]
            tans = [None] * len(prim)
            for i, t in zip(ws, args[len(args) - len(ws):]):
                tans[i] = t
            return jvp(fun, prim, tans, compile=compile, **kw)
        # what srcad reads where jvp_fun is differentiated again (grad over jvp, jvp of jvp)
        jvp_fun.__srcad_function__ = lambda: compose.jvp_function(_unwrap(fun), ws, f"jvp_{fun.__name__}")
        return jvp_fun
    primals, tangents = tuple(primals), tuple(tangents)
    fun, prefix = _split_method(fun)
    primals, tangents = prefix + primals, (None,) * len(prefix) + tangents
    if len(primals) != len(tangents):
        raise ValueError(f"jvp: {len(primals)} primals but {len(tangents)} tangents")
    name = f"jvp_{getattr(fun, '__name__', 'f')}"
    args = list(primals)
    wrt = tuple(i for i, t in enumerate(tangents) if t is not None)
    token = _training.set(True)
    try:
        if not wrt:
            value = fun(*owned_copy(args), **owned_copy(kwargs))
            return value, zeros_like(value)
        for i in wrt:
            args[i] = _check_input(args[i], i, name)
        d = pipeline.forward_derivative(_unwrap(fun, args), wrt, ranks=_ranks(args))
        kw = dict(kwargs)
        for i, tn in zip(wrt, d.tangent_names):
            kw[tn] = _tangent_like(tangents[i], args[i], i, name)
        if compile:
            (value, tout), _ = numba_backend().run(d, args, kw, compile)
        else:
            value, tout = d.fn(*args, **kw)
    finally:
        _training.reset(token)
    check_output(value, complex_ok=True)
    return value, _own(tout, args + [tangents[i] for i in wrt], value)


def _basis(shape):
    """The unit tangents of an input of ``shape``, in C order."""
    n = int(np.prod(shape)) if shape else 1
    for k in range(n):
        e = np.zeros(n)
        e[k] = 1.0
        yield e.reshape(shape) if shape else 1.0


class _Matrix:
    """Shared machinery of ``jacobian`` and ``hessian``."""

    def __init__(self, fun, wrt=0, mode="auto"):
        if not callable(fun):
            raise TypeError(f"srcad needs a function, got {fun!r}")
        if isinstance(wrt, bool) or not isinstance(wrt, int):
            raise TypeError(f"wrt must be an int, not {wrt!r}")
        functools.update_wrapper(self, fun, updated=())
        fun, self._prefix = _split_method(fun)
        self.fun = fun
        self.wrt = wrt + len(self._prefix)
        self.mode = mode

    def _args(self, args):
        args = list(self._prefix) + list(args)
        if self.wrt >= len(args):
            raise TypeError(f"{self.__name__}: wrt={self.wrt} but only {len(args)} positional arguments "
                            "were given")
        args[self.wrt] = _check_input(args[self.wrt], self.wrt, self.__name__)
        if _is_complex(args[self.wrt]):
            raise TypeError(f"{self.__name__}: argument {self.wrt} is complex; jacobian and hessian build "
                            "real matrices (use srcad.jvp or srcad.vjp for complex inputs, docs/complex.md)")
        if not isinstance(args[self.wrt], (float, np.floating, np.ndarray)):
            raise TypeError(f"{self.__name__}: argument {self.wrt} must be a float or an array")
        return args

    def __srcad_function__(self):
        """A function srcad can read that computes this matrix (so it can be differentiated again)."""
        if self._prefix:
            raise TypeError(f"srcad cannot differentiate {self.__name__} of a bound method again")
        return compose.jacobian_function(self._target(), self.wrt, self.__name__)

    def __srcad_source__(self):
            return pipeline.forward_derivative(self._target(), (self.wrt,)).source


def _columns(target, args, wrt, kwargs, mode, out_shape):
    """The Jacobian of ``target`` w.r.t. argument ``wrt``, shaped ``out_shape + in_shape``."""
    xshape = np.shape(args[wrt])
    n = int(np.prod(xshape)) if xshape else 1
    m = int(np.prod(out_shape)) if out_shape else 1
    if mode == "auto":
        mode = "forward" if n <= m else "reverse"
    token = _training.set(True)
    try:
        if mode == "forward":
            d = pipeline.forward_derivative(target, (wrt,), ranks=_ranks(args))
            kw = dict(kwargs)
            cols = []
            for e in _basis(xshape):
                kw[d.tangent_names[0]] = np.asarray(e) if isinstance(args[wrt], np.ndarray) else e
                cols.append(np.broadcast_to(d.fn(*args, **kw)[1], out_shape))
            jac = np.stack(cols, axis=-1) if cols else np.zeros(out_shape + (0,))
        elif mode == "reverse":
            d = pipeline.reverse_derivative(target, (wrt,), "grad", ranks=_ranks(args))
            kw = dict(kwargs)
            rows = []
            for e in _basis(out_shape):
                kw[d.seed] = e
                rows.append(np.broadcast_to(d.fn(*args, **kw), xshape))
            jac = np.stack(rows, axis=0) if rows else np.zeros((0,) + xshape)
        else:
            raise ValueError(f"mode must be 'auto', 'forward' or 'reverse', not {mode!r}")
    finally:
        _training.reset(token)
    return np.array(jac, dtype=np.float64).reshape(tuple(out_shape) + tuple(xshape))


class jacobian(_Matrix):
    """``jacobian(f, wrt=0)(*args)``: the array ``d f / d args[wrt]`` shaped ``out.shape + in.shape``.

    ``mode='auto'`` evaluates ``f`` once for its output shape and takes one forward-mode column per
    input element or one reverse-mode row per output element, whichever is fewer; ``'forward'`` and
    ``'reverse'`` force one.
    """

    def __init__(self, fun, wrt=0, mode="auto"):
        super().__init__(fun, wrt, mode)
        self.__name__ = f"jacobian_{getattr(fun, '__name__', 'f')}"

    def _target(self, args=None):
        return _unwrap(self.fun, args)

    def __call__(self, *args, **kwargs):
        args = self._args(args)
        token = _training.set(True)
        try:
            # on private copies: a function that writes into its argument (``x *= 2``) must change
            # neither the caller's array nor the point the Jacobian is then taken at (issue 11)
            value = self.fun(*owned_copy(args), **owned_copy(kwargs))
        finally:
            _training.reset(token)
        return _columns(self._target(args), args, self.wrt, kwargs, self.mode, np.shape(value))


class hessian(_Matrix):
    """``hessian(f, wrt=0)(*args)``: second derivatives of a scalar ``f``, shaped ``in.shape + in.shape``.

    Forward over reverse: one forward-mode pass over the generated gradient per input element.
    ``mode='reverse'`` instead takes reverse-mode rows of the gradient (reverse over reverse).
    """

    def __init__(self, fun, wrt=0, mode="forward"):
        super().__init__(fun, wrt, mode)
        self.__name__ = f"hessian_{getattr(fun, '__name__', 'f')}"

    def _target(self, args=None):
        ranks = None if args is None else _ranks(args)
        return pipeline.reverse_derivative(_unwrap(self.fun, args), (self.wrt,), "grad", ranks=ranks).fn

    def __call__(self, *args, **kwargs):
        args = self._args(args)
        xshape = np.shape(args[self.wrt])
        return _columns(self._target(args), args, self.wrt, kwargs, self.mode, xshape)


def forward_source(fun, wrt=0):
    """The generated forward-mode (jvp) source of ``fun`` w.r.t. positional argument(s) ``wrt``."""
    wrt, _ = _wrt_tuple(wrt)
    return pipeline.forward_derivative(_unwrap(fun), wrt).source
