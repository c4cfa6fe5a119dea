"""Derivative rules for more NumPy array functions, complex parts, operator and sorted."""
