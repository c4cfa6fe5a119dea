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


def pytest_terminal_summary(terminalreporter):
    """The random-program counts: programs, points checked, refused, disagreements."""
    import sys
    fp = sys.modules.get("fuzz_programs")
    if fp is not None and fp.TALLY:
        terminalreporter.write_sep("-", "random programs")
        for key in sorted(fp.TALLY):
            terminalreporter.write_line(f"{key}: {fp.TALLY[key]}")
