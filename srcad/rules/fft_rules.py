"""Derivative rules for the np.fft family (complex values in between; see more_helpers)."""
