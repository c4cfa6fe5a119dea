"""An uncaught error inside generated code shows the generated line in a plain ``python``
traceback (issue 13 item 7): Python's own hook reads lines from files on disk only, so srcad
reports through ``traceback`` (which reads ``linecache``) while the hook is Python's own."""

import os
import subprocess
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_plain_python_traceback_shows_the_generated_line(tmp_path):
    script = tmp_path / "singular.py"
    script.write_text(textwrap.dedent("""
        import numpy as np
        import srcad

        def f(x):
            return np.sum(np.linalg.inv(x))

        srcad.grad(f)(np.zeros((2, 2)))
    """))
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 1
    assert "<srcad grad_f of" in r.stderr
    assert "inv_1 = np.linalg.inv(x)  # line 6" in r.stderr      # the generated line, linked to f's
    assert "LinAlgError: Singular matrix" in r.stderr


def test_a_hook_set_by_the_user_is_left_alone(tmp_path):
    script = tmp_path / "hook.py"
    script.write_text(textwrap.dedent("""
        import sys
        import numpy as np
        import srcad

        def mine(*exc):
            print("my hook", exc[0].__name__)

        sys.excepthook = mine

        def f(x):
            return np.sum(np.linalg.inv(x))

        srcad.grad(f)(np.zeros((2, 2)))
    """))
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=120)
    assert "my hook LinAlgError" in r.stdout
