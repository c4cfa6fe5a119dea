"""A neural ODE: a dynamics object made in the loss, integrated by a Runge-Kutta solver that
takes the step function as an argument (``odeint(step, f, h, dt, n)``)."""
import numpy as np


class Dynamics:
    def __init__(self, W, b):
        self.W = W
        self.b = b

    def __call__(self, h):
        return np.tanh(self.W @ h + self.b)


def rk4_step(f, h, dt):
    k1 = f(h)
    k2 = f(h + 0.5 * dt * k1)
    k3 = f(h + 0.5 * dt * k2)
    k4 = f(h + dt * k3)
    return h + dt / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)


def odeint(step, f, h, dt, n):
    for _ in range(n):
        h = step(f, h, dt)
    return h


H0 = np.array([0.4, -0.3])


def loss(p):
    dyn = Dynamics(p[:4].reshape(2, 2), p[4:])
    h = odeint(rk4_step, dyn, H0, 0.1, 5)
    return np.sum(h ** 2)


def make_input():
    return np.array([0.3, -0.8, 0.5, 0.2, 0.1, -0.1])
