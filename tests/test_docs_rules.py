"""docs/rules.md lists exactly the functions the rule tables support."""

import importlib.util
import pathlib

import numpy as np

import srcad
from srcad.rules import supported

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _gen():
    spec = importlib.util.spec_from_file_location("gen_rules", ROOT / "docs" / "gen_rules.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_rules_md_is_up_to_date():
    gen = _gen()
    text = (ROOT / "docs" / "rules.md").read_text()
    assert gen.render(text) == text, "docs/rules.md is out of date: run python docs/gen_rules.py"


def test_supported_lists_the_issue_functions():
    names = dict(supported())
    for n in ["np.sin", "np.abs", "np.linalg.solve", "np.einsum", "np.concatenate", "x.sum()",
              "x.T", "np.cumprod", "np.pad", "np.take", "abs"]:
        assert names[n] == "reverse+forward", n
    for n in ["np.floor", "np.argmax", "np.zeros_like", "x.shape"]:
        assert names[n] == "zero", n
    assert not any("adjoint" in n or "unbroadcast" in n for n in names)  # srcad's helpers left out
    assert np.sin in srcad.rules.REVERSE
