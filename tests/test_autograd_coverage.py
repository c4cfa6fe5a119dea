"""docs/rules.md's table of autograd's functions (docs/gen_rules.py) against srcad's rule tables.

Every row is checked on its own, from the object it names: a function said to have a rule has a
reverse and a forward rule, one said to have a zero derivative is declared so, and one said to have
no rule has none and a reason. The list itself is docs/gen_rules.py's ``AUTOGRAD``.
"""

import importlib
import importlib.util
import pathlib
import re
import warnings

import numpy as np
import pytest

pytest.importorskip("scipy.special")
pytest.importorskip("scipy.stats")
pytest.importorskip("scipy.linalg")

from srcad.rules.registry import FORWARD, NONDIFF, REVERSE  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _gen():
    spec = importlib.util.spec_from_file_location("gen_rules", ROOT / "docs" / "gen_rules.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


GEN = _gen()


def resolve(name):
    """The object a listed name means (``np.linalg.inv``, ``scipy.stats.norm.logpdf``), or None
    where this NumPy/SciPy has no such thing."""
    parts = name.split(".")
    if parts[0] == "np":
        obj, rest = np, parts[1:]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")     # scipy.misc, np.row_stack: deprecated
        if parts[0] != "np":
            for k in range(len(parts), 0, -1):
                try:
                    obj = importlib.import_module(".".join(parts[:k]))
                except ImportError:
                    continue
                rest = parts[k:]
                break
            else:
                return None
        for attr in rest:
            obj = getattr(obj, attr, None)
            if obj is None:
                return None
    return obj


def section(text):
    """{name: status} from the autograd section of docs/rules.md's text."""
    body = text.split(GEN.AUTOGRAD_BEGIN, 1)[1].split(GEN.AUTOGRAD_END, 1)[0]
    rows = {}

    def put(name, status):
        assert name not in rows, f"{name} listed twice"
        rows[name] = status
    for line in body.splitlines():
        for label, status in (("Rule: ", "rule"), ("Zero derivative: ", "zero derivative")):
            if line.startswith(label):
                for name in re.findall(r"`([^`]+)`", line):
                    put(name, status)
        m = re.match(r"\| `([^`]+)` \| (.+) \|$", line)
        if m:
            put(m.group(1), m.group(2))
    return rows


def _in(table, obj):
    try:
        return obj in table
    except TypeError:
        return False


def problems(rows):
    """What is wrong with the rows ``rows`` ({name: status}), checked against the tables."""
    out = []
    for name, status in rows.items():
        obj = resolve(name)
        if status.startswith("rule"):
            if obj is None or not (_in(REVERSE, obj) and _in(FORWARD, obj)):
                out.append(f"{name}: claims a rule srcad lacks")
        elif status == "zero derivative":
            if obj is None or not _in(NONDIFF, obj) or _in(REVERSE, obj):
                out.append(f"{name}: claims a zero derivative srcad does not declare")
        elif status.startswith("no rule"):
            if obj is not None and any(_in(t, obj) for t in (REVERSE, FORWARD, NONDIFF)):
                out.append(f"{name}: says no rule, but srcad has one")
            if "NO REASON GIVEN" in status or not status.split(":", 1)[1].strip():
                out.append(f"{name}: no rule and no reason")
        else:
            out.append(f"{name}: unknown status {status!r}")
    return out


def test_every_row_matches_the_tables():
    from srcad.rules.catalog import scipy_supported
    scipy_supported()       # registers every part of srcad's SciPy rules
    rows = section((ROOT / "docs" / "rules.md").read_text())
    assert problems(rows) == []


def test_the_section_lists_autograd_exactly():
    rows = section((ROOT / "docs" / "rules.md").read_text())
    listed = [p + n for _, p, names in GEN.AUTOGRAD for n in names.split()]
    assert len(listed) == len(set(listed))
    assert sorted(rows) == sorted(listed)


def test_reasons_and_notes_are_current():
    # a reason for a function that now has a rule, or a note on one without, is stale
    rows = section((ROOT / "docs" / "rules.md").read_text())
    for name in GEN.WHY:
        assert rows[name].startswith("no rule"), name
    for name in GEN.NOTES:
        assert rows[name].startswith("rule"), name


def test_the_check_can_fail():
    from srcad.rules.catalog import scipy_supported
    scipy_supported()
    wrong = {"np.real_if_close": "rule", "np.sin": "no rule (refused): a reason", "np.floor": "rule",
             "np.exp": "zero derivative", "np.fft.rfftn": "no rule (refused): NO REASON GIVEN",
             "scipy.special.erfinv": "rule", "scipy.special.owens_t": "rule"}
    found = problems(wrong)
    assert len(found) == 6 and not any(f.startswith("scipy.special.erfinv") for f in found), found


def test_issue_14_scipy_functions_have_rules():
    from srcad.rules.catalog import scipy_supported
    kinds = dict(scipy_supported())
    for name in ["special.erfinv", "special.ndtri", "special.entr", "special.rel_entr", "special.ive",
                 "special.logsumexp", "stats.gamma.logpdf", "stats.gamma.cdf", "stats.beta.logcdf",
                 "stats.expon.logsf", "stats.poisson.logpmf", "stats.poisson.pmf", "stats.dirichlet.logpdf",
                 "stats.dirichlet.pdf", "linalg.solve_triangular", "linalg.sqrtm", "linalg.expm"]:
        assert kinds["scipy." + name] == "reverse+forward", name
