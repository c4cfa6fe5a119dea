"""The ``srcad`` command line: show, check, and its one-line errors (exit status 2)."""

import ast
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from srcad import cli

USER_FILE = textwrap.dedent("""\
    import numpy as np
    import srcad
    from helper_mod import SCALE      # a module next to the file: its directory is on sys.path

    def f(x, w):
        return np.sum(np.sin(x) * w) * SCALE

    def square(x):
        return x * x

    def detached(x):
        return srcad.stop_gradient(x) * x     # srcad: x, finite differences: 2x

    def uses_global_statement(x):
        global COUNT
        COUNT = 1
        return x

    NOT_A_FUNCTION = 3
    """)


@pytest.fixture
def user_file(tmp_path):
    (tmp_path / "helper_mod.py").write_text("SCALE = 2.0\n")
    path = tmp_path / "model.py"
    path.write_text(USER_FILE)
    return str(path)


def run(argv, capsys):
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_show_prints_source_that_compiles(user_file, capsys):
    code, out, err = run(["show", f"{user_file}:f", "--color", "never"], capsys)
    assert code == 0 and err == ""
    assert out.startswith("def grad_f(x, w, *, dout=1.0):")
    compile(out, "<shown>", "exec")
    assert "\x1b[" not in out


def test_show_wrt_tuple(user_file, capsys):
    code, out, _ = run(["show", f"{user_file}:f", "--wrt", "0,1"], capsys)
    assert code == 0
    tree = ast.parse(out)
    ret = tree.body[0].body[-1]
    assert isinstance(ret.value, ast.Tuple) and len(ret.value.elts) == 2


def test_show_highlights_only_when_asked_or_on_a_terminal(user_file, capsys):
    pytest.importorskip("pygments")
    code, out, _ = run(["show", f"{user_file}:square", "--color", "always"], capsys)
    assert code == 0 and "\x1b[" in out
    code, out, _ = run(["show", f"{user_file}:square"], capsys)   # captured stdout is no terminal
    assert "\x1b[" not in out


def test_show_forward_mode(user_file, capsys):
    code, out, err = run(["show", f"{user_file}:square", "--mode", "forward"], capsys)
    assert code == 0, err
    compile(out, "<forward>", "exec")
    assert out.startswith("def jvp_square(")


def test_check_passes_and_prints_the_worst_error(user_file, capsys):
    code, out, err = run(["check", f"{user_file}:f", "--args", "[0.5, 1.0, -2.0], 1.5"], capsys)
    assert code == 0, err
    lines = dict(line.split(":", 1) for line in out.strip().splitlines())
    x = np.array([0.5, 1.0, -2.0])
    shown = np.array(ast.literal_eval(lines["srcad"].strip()))
    assert np.allclose(shown, np.cos(x) * 1.5 * 2.0)
    worst = float(lines["ok"].split("worst abs error")[1].split()[0])
    assert 0 <= worst < 1e-6


def test_check_two_arguments(user_file, capsys):
    code, out, _ = run(["check", f"{user_file}:f", "--args", "[0.5, 1.0], [2, 3]", "--wrt", "0,1"], capsys)
    assert code == 0
    assert "ok: worst abs error" in out


def test_check_mismatch_exits_1(user_file, capsys):
    code, out, err = run(["check", f"{user_file}:detached", "--args", "[1.0, 2.0]"], capsys)
    assert code == 1
    assert "MISMATCH" in out and "max abs error 2" in out
    assert err == ""


@pytest.mark.parametrize("argv, needle", [
    (["check", "{d}/missing.py:f", "--args", "1.0"], "no such file"),
    (["check", "{f}:nope", "--args", "1.0"], "no function 'nope'"),
    (["check", "{f}:NOT_A_FUNCTION", "--args", "1.0"], "not a function"),
    (["check", "{f}", "--args", "1.0"], "FILE.py:FUNC"),
    (["check", "{f}:square", "--args", "__import__('os').getcwd()"], "never evaluated as code"),
    (["check", "{f}:square", "--args", "1.0,,"], "not a comma-separated list"),
    (["check", "{f}:square", "--args", "[1, [2]]"], "not a rectangular list"),
    (["check", "{f}:f", "--args", "1.0"], "missing a required argument: 'w'"),
    (["check", "{f}:square", "--args", "1.0", "--wrt", "a"], "--wrt"),
    (["check", "{f}:square", "--args", "1.0", "--wrt", "1"], "only 1 argument"),
    (["show", "{f}:uses_global_statement"], "global statement"),
])
def test_errors_are_one_line_with_exit_2(user_file, capsys, argv, needle):
    argv = [a.format(f=user_file, d=os.path.dirname(user_file)) for a in argv]
    code, out, err = run(argv, capsys)
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("srcad:") and "Traceback" not in err
    assert needle in err


def test_a_module_that_fails_to_load_is_reported_on_one_line(tmp_path, capsys):
    path = tmp_path / "broken.py"
    path.write_text("import numpy as np\nraise RuntimeError('boom\\nsecond line')\n")
    code, out, err = run(["show", f"{path}:f"], capsys)
    assert code == 2 and "RuntimeError: boom second line" in err
    assert len(err.strip().splitlines()) == 1


def test_args_are_never_evaluated(user_file, tmp_path, capsys):
    marker = tmp_path / "pwned"
    code, _, err = run(["check", f"{user_file}:square", "--args", f"open({str(marker)!r}, 'w')"], capsys)
    assert code == 2 and not marker.exists()


def test_parse_args_literal():
    vals = cli.parse_args_literal("1.0, [1, 2, 3], (4, 5), 'txt'")
    assert vals[0] == 1.0
    assert vals[1].dtype == np.float64 and np.array_equal(vals[1], [1.0, 2.0, 3.0])
    assert vals[2] == (4, 5) and vals[3] == "txt"
    assert cli.parse_args_literal("[1, 2]")[0].shape == (2,)
    assert cli.parse_args_literal("") == []
    assert cli.parse_wrt("0") == 0 and cli.parse_wrt("0,1") == (0, 1)


def test_python_dash_m_srcad(user_file):
    env = dict(os.environ, NO_COLOR="1")
    ok = subprocess.run([sys.executable, "-m", "srcad", "check", f"{user_file}:square", "--args", "[1.0, 3.0]"],
                        capture_output=True, text=True, env=env, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert "srcad:    [2., 6.]" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "srcad", "show", f"{user_file}:nope"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0 and "Traceback" not in bad.stderr
