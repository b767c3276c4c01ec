"""NADE, the output layer of :mod:`nlp_tasks.layers.nade`: a frame's log-likelihood key by key,
and its gradients, in column vectors (one column per example)."""

from __future__ import annotations

import numpy as np

from nlp_tasks.reference.cells import sigmoid


def log_sigmoid(z):
    """log σ(z), computed without overflow: -log(1 + e^-z)."""
    return -np.logaddexp(0.0, -z)


def nade_forward(v, bv, bh, W, V, uniforms=None, temperature=1.0):
    """log P(v) of binary frames under a NADE, one key at a time (nlp_tasks.layers.nade).

    Column vectors: ``v`` (D, m) frames, ``bv`` (D, m) and ``bh`` (n_h, m) the biases (one
    column per example: in RNN-NADE they differ per time step), ``W`` (n_h, D) and ``V`` (D, n_h)::

        a_d = b_h + W[:, :d] v[:d]        h_d = σ(a_d)
        p_d = σ(b_v[d] + V[d] h_d)        log P(v) = Σ_d v_d log p_d + (1 - v_d) log(1 - p_d)

    With ``uniforms`` (D, m) the frames are drawn instead: ``v_d = [u_d < σ(z_d / temperature)]``
    in the order d = 0..D-1, and ``v`` is ignored (pass None). Returns ``(log P (m,), v, cache)``.
    """
    sampling = uniforms is not None
    D, m = (uniforms if sampling else v).shape
    v = np.zeros((D, m)) if sampling else v
    a = bh.copy()  # a_0 = b_h: no key below the first
    ll, cache = np.zeros(m), []
    for d in range(D):
        h = sigmoid(a)  # (n_h, m)
        z = bv[d] + V[d] @ h  # (m,)
        if sampling:
            v[d] = uniforms[d] < sigmoid(z / temperature)
        ll += v[d] * log_sigmoid(z) + (1.0 - v[d]) * log_sigmoid(-z)
        cache.append((h, z))
        a = a + np.outer(W[:, d], v[d])  # key d now counts for the keys above it
    return ll, v, cache


def nade_backward(v, cache, W, V):
    """Gradients of Σ_examples log P(v) with respect to ``bv``, ``bh``, ``W`` and ``V``.

    With g_d = v_d - p_d (the derivative of the log-likelihood by z_d) and δ_d = (g_d V[d]) ⊙
    h_d ⊙ (1 - h_d) (by a_d): dbv[d] = g_d, dV[d] = Σ_m g_d h_d, dbh = Σ_d δ_d, and
    dW[:, k] = Σ_m v_k Σ_{d>k} δ_d, since key k enters a_d for every key d above it.
    """
    D, m = v.shape
    grads = {"bv": np.zeros((D, m)), "bh": np.zeros((W.shape[0], m)), "W": np.zeros_like(W), "V": np.zeros_like(V)}
    above = np.zeros((W.shape[0], m))  # Σ_{d' > d} δ_d'
    for d in reversed(range(D)):
        h, z = cache[d]
        g = v[d] - sigmoid(z)  # (m,)
        grads["bv"][d] = g
        grads["V"][d] = h @ g
        grads["W"][:, d] = above @ v[d]
        above += (V[d][:, None] * g) * h * (1.0 - h)
    grads["bh"] = above
    return grads
