"""Derivative rule tables. Importing this package registers every table."""

from srcad.rules.registry import FORWARD, NONDIFF, REVERSE, attribute, forward, method, nondiff, reverse
from srcad.rules import numpy_rules, python_rules, runtime_rules  # noqa: F401  (registration)
from srcad.rules import array_rules, fft_rules, linalg_rules  # noqa: F401  (registration)
from srcad.rules import pattern_rules  # noqa: F401  (registration)
from srcad.rules.catalog import supported

__all__ = ["FORWARD", "NONDIFF", "REVERSE", "attribute", "forward", "method", "nondiff", "reverse", "supported"]
