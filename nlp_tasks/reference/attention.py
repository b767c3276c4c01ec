"""Attention over the encoder's outputs for one decoder query: the forward pass and its gradients.

Column vectors, as in the rest of the reference: the query ``s`` is (n_s, m) (the decoder state,
one column per example), the encoder outputs ``h`` are (n_h, m, T_x) (``h[:, :, j]`` is h<j>),
``mask`` (m, T_x) is 1 at real source positions and 0 at padding. For every position j::

    additive (Bahdanau et al. 2015):      e<j> = v^T tanh(W_q s + W_h h<j> + b)
    multiplicative (Luong et al. 2015):   e<j> = s^T W h<j>

    α<j> = exp(e<j>) / Σ_{k real} exp(e<k>)   at real positions, 0 at padding
    context = Σ_j α<j> h<j>

Parameters: additive ``Wq`` (n_a, n_s), ``Wh`` (n_a, n_h), ``b`` (n_a, 1), ``v`` (n_a, 1);
multiplicative ``W`` (n_s, n_h) (Luong's "general" score; no bias: a bias on either side adds
the same number to every e<j>, which the softmax cancels). A row with no real position gets all
α = 0 and a zero context (no NaN). A decoder step is one call; for a whole target sequence call
it once per query. :func:`attention_backward` returns the gradients with respect to ``s``, ``h``
and every parameter, given those of the loss with respect to the context and (optionally) α.
"""

from __future__ import annotations

import numpy as np

KINDS = ("additive", "multiplicative")


def _check_kind(kind):
    if kind not in KINDS:
        raise ValueError(f"unknown attention kind {kind!r}; choose one of {', '.join(KINDS)}")


def masked_softmax(e, mask):
    """Softmax of ``e`` (m, T_x) over the real positions of each row; 0 at padding, and a row of
    zeros where there is no real position."""
    alpha = np.zeros_like(e)
    for i in range(e.shape[0]):
        real = mask[i] > 0
        if real.any():
            ex = np.exp(e[i, real] - e[i, real].max())
            alpha[i, real] = ex / ex.sum()
    return alpha


def attention_forward(s, h, mask, params, kind="additive"):
    """``(context (n_h, m), α (m, T_x), cache)`` for the query ``s`` (n_s, m) over ``h`` (n_h, m, T_x)."""
    _check_kind(kind)
    n_h, m, T_x = h.shape
    e = np.zeros((m, T_x), dtype=np.result_type(s, h))
    hidden = []  # additive: tanh(W_q s + W_h h<j> + b) for every j, kept for the backward pass
    for j in range(T_x):
        if kind == "additive":
            u = np.tanh(params["Wq"] @ s + params["Wh"] @ h[:, :, j] + params["b"])  # (n_a, m)
            e[:, j] = (params["v"].T @ u)[0]
            hidden.append(u)
        else:
            e[:, j] = np.sum(s * (params["W"] @ h[:, :, j]), axis=0)  # s^T W h<j>, one per example
    alpha = masked_softmax(e, mask)
    context = np.zeros((n_h, m), dtype=e.dtype)
    for j in range(T_x):
        context += alpha[:, j] * h[:, :, j]
    return context, alpha, (s, h, alpha, hidden)


def attention_backward(dcontext, dalpha, cache, params, kind="additive"):
    """``(ds (n_s, m), dh (n_h, m, T_x), grads)`` from dL/dcontext (n_h, m) and dL/dα (m, T_x) or None.

    Through the context: dα<j> += h<j> . dcontext and dh<j> = α<j> dcontext. Through the softmax:
    de<j> = α<j> (dα<j> - Σ_k α<k> dα<k>), 0 at padding (where α is 0). Then, with
    dz<j> = (v de<j>) ⊙ (1 - u<j>²) for the additive score: dv = Σ_j u<j> de<j>, dW_q = Σ_j dz<j>
    s^T, dW_h = Σ_j dz<j> h<j>^T, db = Σ_j dz<j>, ds = Σ_j W_q^T dz<j>, dh<j> += W_h^T dz<j>;
    for the multiplicative one: dW = Σ_j (de<j> s) h<j>^T, ds = Σ_j de<j> W h<j>,
    dh<j> += W^T (de<j> s). Parameter gradients are summed over the examples.
    """
    _check_kind(kind)
    s, h, alpha, hidden = cache
    n_h, m, T_x = h.shape
    da = np.zeros_like(alpha) if dalpha is None else np.array(dalpha, dtype=alpha.dtype)
    dh = np.zeros_like(h)
    for j in range(T_x):
        da[:, j] += np.sum(h[:, :, j] * dcontext, axis=0)
        dh[:, :, j] = alpha[:, j] * dcontext
    de = alpha * (da - np.sum(alpha * da, axis=1, keepdims=True))  # (m, T_x)
    grads = {name: np.zeros_like(value) for name, value in params.items()}
    ds = np.zeros_like(s)
    for j in range(T_x):
        if kind == "additive":
            u = hidden[j]
            dz = params["v"] * de[:, j] * (1.0 - u**2)  # (n_a, m)
            grads["v"] += u @ de[:, j:j + 1]
            grads["Wq"] += dz @ s.T
            grads["Wh"] += dz @ h[:, :, j].T
            grads["b"] += dz.sum(axis=1, keepdims=True)
            ds += params["Wq"].T @ dz
            dh[:, :, j] += params["Wh"].T @ dz
        else:
            keys = params["W"] @ h[:, :, j]  # (n_s, m)
            grads["W"] += (de[:, j] * s) @ h[:, :, j].T
            ds += de[:, j] * keys
            dh[:, :, j] += params["W"].T @ (de[:, j] * s)
    return ds, dh, grads
