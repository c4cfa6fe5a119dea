import os

import numpy as np
import pytest
from hypothesis import settings

settings.register_profile("ci", max_examples=25, deadline=None, derandomize=True)
settings.register_profile("long", max_examples=500, deadline=None)
settings.load_profile("long" if os.environ.get("SRCAD_LONG") else "ci")


@pytest.fixture
def rng():
    return np.random.default_rng(0)


_WORKER_TALLIES = []   # the counts pytest-xdist's workers sent back (pytest_testnodedown)


def _tally():
    import sys
    fp = sys.modules.get("fuzz_programs")
    return dict(fp.TALLY) if fp is not None else {}


def pytest_sessionfinish(session):
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:          # an xdist worker: hand the counts to the controller
        workeroutput["fuzz_tally"] = _tally()


@pytest.hookimpl(optionalhook=True)      # pytest-xdist's hook (absent under -p no:xdist)
def pytest_testnodedown(node, error):
    _WORKER_TALLIES.append(getattr(node, "workeroutput", {}).get("fuzz_tally", {}))


def pytest_terminal_summary(terminalreporter):
    """The random-program counts: programs, points checked, refused, disagreements (summed over
    pytest-xdist's workers)."""
    total = {}
    for tally in [_tally()] + _WORKER_TALLIES:
        for key, n in tally.items():
            total[key] = total.get(key, 0) + n
    if total:
        terminalreporter.write_sep("-", "random programs")
        for key in sorted(total):
            terminalreporter.write_line(f"{key}: {total[key]}")
