"""srcad: source-transformation automatic differentiation for Python and NumPy."""

from srcad.errors import TransformError
from srcad.runtime import is_training, stop_gradient
from srcad.api import forward_source, grad, hessian, jacobian, jit, jvp, source, value_and_grad, vjp
from srcad.pipeline import clear_cache
from srcad.check import check_grad, numerical_grad
from srcad.export import export
from srcad import rules as _rules  # noqa: F401  (registers the rule tables)
from srcad.custom import attribute, defjvp, defvjp, method, nondifferentiable

__all__ = [
    "TransformError", "attribute", "check_grad", "clear_cache", "defjvp", "defvjp", "export", "forward_source",
    "grad", "hessian", "is_training", "jacobian", "jit", "jvp", "method", "nondifferentiable",
    "numerical_grad", "source", "stop_gradient", "value_and_grad", "vjp",
]
__version__ = "0.1.0"
