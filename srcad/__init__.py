"""srcad: source-transformation automatic differentiation for Python and NumPy."""

from srcad.errors import TransformError
from srcad.runtime import is_training, stop_gradient
from srcad.api import grad, source, value_and_grad, vjp
from srcad.api import forward_source, hessian, jacobian, jvp
from srcad.pipeline import clear_cache
from srcad.check import check_grad, numerical_grad
from srcad import rules as _rules  # noqa: F401  (registers the rule tables)
from srcad.custom import attribute, defjvp, defvjp, method, nondifferentiable

__all__ = ["TransformError", "forward_source", "hessian", "jacobian", "jvp", "attribute", "defjvp", "defvjp", "method", "nondifferentiable", "check_grad", "clear_cache", "numerical_grad", "grad", "is_training", "source", "stop_gradient",
           "value_and_grad", "vjp"]
__version__ = "0.1.0"
