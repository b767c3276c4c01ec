"""Gradient clipping (by value, by global norm) and gradient checking by central differences."""

from __future__ import annotations

import numpy as np


def clip_by_value(grads, max_value):
    """Clip every gradient entry into [-max_value, max_value] (the course's ``clip``)."""
    return {k: np.clip(v, -max_value, max_value) for k, v in grads.items()}


def clip_by_norm(grads, max_norm):
    """Rescale all gradients together when their global L2 norm exceeds ``max_norm``.

    Unlike clipping by value this keeps the gradient's direction (Pascanu et al. 2013).
    """
    norm = np.sqrt(sum(float(np.sum(g**2)) for g in grads.values()))
    scale = max_norm / norm if norm > max_norm else 1.0
    return {k: v * scale for k, v in grads.items()}


def numerical_gradient(f, value, eps=1e-6):
    """Central finite differences of the scalar function ``f()`` with respect to the array
    ``value`` (changed in place, then restored): (f(v + eps) - f(v - eps)) / 2 eps per entry."""
    grad = np.zeros_like(value)
    it = np.nditer(value, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = value[i]
        value[i] = old + eps
        plus = f()
        value[i] = old - eps
        minus = f()
        value[i] = old
        grad[i] = (plus - minus) / (2 * eps)
    return grad
