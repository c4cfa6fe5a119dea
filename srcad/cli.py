"""The ``srcad`` command line (also ``python -m srcad``).

    srcad show FILE.py:FUNC [--wrt 0,1] [--mode reverse|forward] [--color auto|always|never]
    srcad check FILE.py:FUNC --args "1.0, [1, 2, 3]" [--wrt 0] [--rtol R] [--atol A] [--eps E]
    srcad export FILE.py:FUNC [--wrt 0] [--mode grad|value_and_grad|vjp|jvp] [--ranks 0,1]
                 [--compile numba|auto] [-o OUT.py]

``show`` prints the derivative srcad generates for ``FUNC`` (syntax-highlighted on a terminal when
Pygments is installed). ``check`` compares srcad's gradient with central finite differences and
prints the worst absolute error. ``export`` writes the derivative as a standalone module that
imports only NumPy (docs/export.md), to ``OUT.py`` or standard output; ``--ranks`` gives one
``ndim`` per positional argument (0 for a float, ``none`` for unknown) to export the variant srcad
runs for such arguments; ``--compile numba`` writes the form ``compile="numba"`` runs, under
``@numba.njit(cache=True)`` (docs/numba.md; ``auto``: the NumPy form where srcad cannot compile it).

``FILE.py`` is loaded as a module (its own directory first on ``sys.path``), so its functions keep
their source and its imports work. ``--args`` is read with ``ast.literal_eval`` only, never run as
code: numbers stay numbers, lists become float arrays.

Exit status: 0 fine, 1 the gradient disagrees with finite differences, 2 a usage error (missing
file or function, bad ``--args``, code srcad cannot differentiate), reported on one line of stderr.
"""

import argparse
import ast
import importlib.util
import inspect
import os
import sys

import numpy as np

import srcad
from srcad import pipeline
from srcad.errors import TransformError
from srcad.export import ExportError

EXIT_OK, EXIT_MISMATCH, EXIT_ERROR = 0, 1, 2


class CliError(Exception):
    """A problem with what the user asked for: one line on stderr and exit status 2."""


def _one_line(text):
    return " ".join(str(text).split())


def load_function(spec):
    """``FILE.py:FUNC`` (FUNC may be dotted, ``Class.method``) -> the function object."""
    path, sep, name = spec.rpartition(":")
    if not sep or not path or not name:
        raise CliError(f"expected FILE.py:FUNC, got {spec!r}")
    if not os.path.isfile(path):
        raise CliError(f"no such file: {path}")
    path = os.path.abspath(path)
    modname = "_srcad_cli_" + "".join(c if c.isalnum() else "_" for c in
                                       os.path.splitext(os.path.basename(path))[0])
    folder = os.path.dirname(path)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    module_spec = importlib.util.spec_from_file_location(modname, path)
    if module_spec is None or module_spec.loader is None:
        raise CliError(f"cannot load {path} as a Python module")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[modname] = module
    try:
        module_spec.loader.exec_module(module)
    except SystemExit as exc:
        raise CliError(f"{path} called sys.exit({exc.code!r}) while loading") from None
    except BaseException as exc:  # the user's module failed: report it, never a traceback
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise CliError(f"loading {path} failed: {type(exc).__name__}: {_one_line(exc)}") from None
    obj = module
    for part in name.split("."):
        if not hasattr(obj, part):
            raise CliError(f"{path} has no function {name!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise CliError(f"{name!r} in {path} is a {type(obj).__name__}, not a function")
    return obj


def parse_wrt(text):
    """``"0"`` -> 0 and ``"0,1"`` -> (0, 1)."""
    try:
        parts = [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise CliError(f"--wrt must be comma-separated argument positions such as 0 or 0,1, got {text!r}") from None
    if not parts or any(p < 0 for p in parts):
        raise CliError(f"--wrt must be comma-separated argument positions such as 0 or 0,1, got {text!r}")
    return parts[0] if len(parts) == 1 and "," not in text else tuple(parts)


def _to_value(v):
    if isinstance(v, list):
        try:
            return np.array(v, dtype=np.float64)
        except (TypeError, ValueError):
            raise CliError(f"--args: the list {v!r} is not a rectangular list of numbers") from None
    if isinstance(v, tuple):
        return tuple(_to_value(u) for u in v)
    if isinstance(v, dict):
        return {k: _to_value(u) for k, u in v.items()}
    return v


def parse_args_literal(text):
    """``"1.0, [1, 2, 3]"`` -> ``[1.0, array([1., 2., 3.])]`` with ``ast.literal_eval`` only."""
    if not text.strip():
        return []
    try:
        node = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as exc:
        raise CliError(f"--args is not a comma-separated list of Python literals: {exc.msg}") from None
    items = node.elts if isinstance(node, ast.Tuple) else [node]
    values = []
    for item in items:
        try:
            values.append(ast.literal_eval(item))
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            shown = ast.get_source_segment(text.strip(), item) or ast.dump(item)
            raise CliError(f"--args: {shown!r} is not a literal (numbers, lists, tuples, dicts, strings); "
                           "it is never evaluated as code") from None
    return [_to_value(v) for v in values]


def _highlight(source, color):
    use = color == "always" or (color == "auto" and sys.stdout.isatty() and not os.environ.get("NO_COLOR"))
    if not use:
        return source
    try:
        from pygments import highlight
        from pygments.formatters import TerminalFormatter
        from pygments.lexers import PythonLexer
    except ImportError:     # Pygments is optional
        return source
    return highlight(source, PythonLexer(), TerminalFormatter())


def cmd_show(opts):
    fn = load_function(opts.target)
    wrt = parse_wrt(opts.wrt)
    if opts.mode == "forward":
        wrt_tuple = wrt if isinstance(wrt, tuple) else (wrt,)
        source = pipeline.forward_derivative(fn, wrt_tuple).source
    else:
        source = srcad.source(srcad.grad(fn, wrt=wrt))
    text = _highlight(source, opts.color)
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return EXIT_OK


def parse_ranks(text):
    """``"0,1"`` -> (0, 1); ``none`` (or ``-``) for an argument of unknown rank."""
    out = []
    for part in text.split(","):
        part = part.strip().lower()
        if part in ("none", "-", "?"):
            out.append(None)
            continue
        try:
            r = int(part)
        except ValueError:
            r = -1
        if r < 0:
            raise CliError(f"--ranks must be comma-separated ranks (ndim) such as 0,1 or 2,none, got {text!r}")
        out.append(r)
    return tuple(out)


def cmd_export(opts):
    fn = load_function(opts.target)
    wrt = parse_wrt(opts.wrt)
    ranks = parse_ranks(opts.ranks) if opts.ranks is not None else None
    if opts.mode == "jvp":
        df = srcad.jvp(fn, wrt=wrt, compile=opts.compile)
    else:
        make = {"grad": srcad.grad, "value_and_grad": srcad.value_and_grad, "vjp": srcad.vjp}[opts.mode]
        df = make(fn, wrt=wrt, compile=opts.compile)
    text = srcad.export(df, ranks=ranks)
    if opts.output in (None, "-"):
        sys.stdout.write(text)
        return EXIT_OK
    try:
        with open(opts.output, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise CliError(f"cannot write {opts.output}: {exc.strerror}") from None
    print(f"wrote {opts.output}", file=sys.stderr)
    return EXIT_OK


def _fmt(value):
    if isinstance(value, (tuple, list)):
        return "(" + ", ".join(_fmt(v) for v in value) + ")"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {_fmt(v)}" for k, v in value.items()) + "}"
    if isinstance(value, np.ndarray) and value.ndim:
        with np.printoptions(precision=10, linewidth=100):
            return np.array2string(value, separator=", ")
    try:
        return f"{float(value):.10g}"
    except (TypeError, ValueError):
        return repr(value)


def _bind(fn, args):
    """Refuse a wrong number of arguments before running anything (one line, the user's names)."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return
    try:
        signature.bind(*args)
    except TypeError as exc:
        name = getattr(fn, "__name__", "the function")
        raise CliError(f"--args does not fit {name}{signature}: {exc}") from None


def cmd_check(opts):
    fn = load_function(opts.target)
    wrt = parse_wrt(opts.wrt)
    args = parse_args_literal(opts.args)
    positions = wrt if isinstance(wrt, tuple) else (wrt,)
    for p in positions:
        if p >= len(args):
            raise CliError(f"--wrt {p} but --args gives only {len(args)} argument(s)")
    _bind(fn, args)
    gradient = srcad.grad(fn, wrt=wrt)(*args)
    numeric = srcad.numerical_grad(fn, args, wrt, eps=opts.eps)
    print(f"srcad:    {_fmt(gradient)}")
    print(f"numeric:  {_fmt(numeric)}")
    try:
        worst = srcad.check_grad(fn, *args, wrt=wrt, rtol=opts.rtol, atol=opts.atol, eps=opts.eps)
    except AssertionError as exc:
        print(f"MISMATCH: {_one_line(str(exc).splitlines()[0]).rstrip(':')}")
        return EXIT_MISMATCH
    print(f"ok: worst abs error {worst:.3g} (rtol={opts.rtol:g}, atol={opts.atol:g})")
    return EXIT_OK


def build_parser():
    p = argparse.ArgumentParser(prog="srcad", description="Source-transformation automatic "
                                "differentiation: show, check or export the derivative of a function in a file.")
    sub = p.add_subparsers(dest="command", required=True, metavar="{show,check,export}")
    show = sub.add_parser("show", help="print the generated derivative source")
    show.add_argument("target", metavar="FILE.py:FUNC")
    show.add_argument("--wrt", default="0", help="argument positions, e.g. 0 or 0,1 (default 0)")
    show.add_argument("--mode", choices=("reverse", "forward"), default="reverse")
    show.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                      help="syntax highlighting (auto: on a terminal, when Pygments is installed)")
    show.set_defaults(run=cmd_show)
    check = sub.add_parser("check", help="compare the gradient with central finite differences")
    check.add_argument("target", metavar="FILE.py:FUNC")
    check.add_argument("--args", required=True, help='the arguments as Python literals, e.g. "1.0, [1, 2, 3]"')
    check.add_argument("--wrt", default="0", help="argument positions, e.g. 0 or 0,1 (default 0)")
    check.add_argument("--rtol", type=float, default=1e-5)
    check.add_argument("--atol", type=float, default=1e-6)
    check.add_argument("--eps", type=float, default=1e-6, help="finite-difference step")
    check.set_defaults(run=cmd_check)
    export = sub.add_parser("export", help="write the derivative as a standalone module (NumPy only)")
    export.add_argument("target", metavar="FILE.py:FUNC")
    export.add_argument("--wrt", default="0", help="argument positions, e.g. 0 or 0,1 (default 0)")
    export.add_argument("--mode", choices=("grad", "value_and_grad", "vjp", "jvp"), default="grad")
    export.add_argument("--ranks", default=None,
                        help="the ndim of each positional argument, e.g. 0,1 (0: a float; none: unknown); "
                             "default: the generic variant")
    export.add_argument("--compile", choices=("numba", "auto"), default=None,
                        help="write the form Numba compiles, under @numba.njit(cache=True) (needs Numba; "
                             "auto: the NumPy form where srcad cannot compile it)")
    export.add_argument("-o", "--output", default=None, help="the module to write (default: standard output)")
    export.set_defaults(run=cmd_export)
    return p


def main(argv=None):
    """Run the command line; returns the exit status (the console script exits with it)."""
    parser = build_parser()
    try:
        opts = parser.parse_args(argv)
    except SystemExit as exc:       # argparse: --help (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else EXIT_ERROR
    try:
        return opts.run(opts)
    except CliError as exc:
        print(f"srcad: error: {exc}", file=sys.stderr)
    except TransformError as exc:
        what = "" if isinstance(exc, ExportError) else "cannot differentiate: "
        print(f"srcad: {what}{_one_line(exc)}", file=sys.stderr)
    except KeyboardInterrupt:
        print("srcad: interrupted", file=sys.stderr)
    except Exception as exc:        # the user's function failed while running: one line, no traceback
        print(f"srcad: error: {type(exc).__name__}: {_one_line(exc)}", file=sys.stderr)
    return EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
