"""Move weights between our cells (and attention), Keras' built-in layers and the NumPy reference.

Keras stores ``kernel`` (n_x, G*units) and ``recurrent_kernel`` (units, G*units) for row
vectors; we store the course's stacked ``W = [W_a | W_x]`` of shape (G*units, units + n_x).
Two differences need care:

- Keras' GRU computes ``h = z * h_prev + (1 - z) * h~``: its ``z`` is our ``1 - Γu``. Since
  ``1 - σ(v) = σ(-v)``, our update gate gets Keras' z-gate weights and biases negated.
- With ``reset_after=True`` Keras keeps an input bias and a recurrent bias for every gate; only
  the candidate's recurrent bias sits behind Γr, so the other two are summed into ``b``.

All functions take and return NumPy arrays.
"""

from __future__ import annotations

import numpy as np

from nlp_tasks.errors import UserError


def _stack(kernel, recurrent_kernel):
    """Keras' (n_x, k), (units, k) -> our (k, units + n_x)."""
    return np.concatenate([np.asarray(recurrent_kernel).T, np.asarray(kernel).T], axis=1)


def from_keras(kind: str, keras_weights, reset_after: bool = True) -> list[np.ndarray]:
    """Our cell's weight list (for ``cell.set_weights``) from a Keras layer's ``get_weights()``.

    ``kind``: ``rnn`` (from ``keras.layers.SimpleRNN``), ``gru`` (``keras.layers.GRU``, give
    its ``reset_after``) or ``lstm`` (``keras.layers.LSTM``). Initial-state weights are not
    included (Keras has none).
    """
    kernel, recurrent_kernel, bias = (np.asarray(w) for w in keras_weights)
    units = recurrent_kernel.shape[0]
    w = _stack(kernel, recurrent_kernel)
    if kind in ("rnn", "lstm"):
        return [w, bias]
    if kind != "gru":
        raise UserError(f"no Keras counterpart for cell type {kind!r}")
    u = units
    if reset_after:
        b_in, b_rec = bias[0], bias[1]
        b = np.concatenate([b_in[:u] + b_rec[:u], b_in[u:2 * u] + b_rec[u:2 * u], b_in[2 * u:]])
        extra = [b_rec[2 * u:]]
    else:
        b, extra = bias.copy(), []
    w = w.copy()
    w[:u] = -w[:u]  # Γu = 1 - z  <=>  W_u = -W_z, b_u = -b_z
    b[:u] = -b[:u]
    return [w, b] + extra


def to_reference(cell) -> dict[str, np.ndarray]:
    """The NumPy reference's parameter dict (column-vector biases) from a built cell of ours."""
    kernel = np.asarray(cell.kernel.numpy() if hasattr(cell.kernel, "numpy") else cell.kernel)
    bias = np.asarray(cell.bias.numpy() if hasattr(cell.bias, "numpy") else cell.bias)
    u = cell.units
    params = {}
    for i, gate in enumerate(cell.GATES):
        params[f"W{gate}"] = kernel[i * u:(i + 1) * u]
        params[f"b{gate}"] = bias[i * u:(i + 1) * u, None]
    if getattr(cell, "reset_after", False):
        params["bcr"] = np.asarray(cell.candidate_recurrent_bias.numpy())[:, None]
    return params


def reference_kind(cell) -> str:
    """The reference's name for a cell's equations: rnn, gru, gru_reset_after, mingru, lstm."""
    name = type(cell).__name__
    kinds = {"RNNCell": "rnn", "MinimalGRUCell": "mingru", "LSTMCell": "lstm"}
    if name == "GRUCell":
        return "gru_reset_after" if cell.reset_after else "gru"
    if name not in kinds:
        raise UserError(f"no reference equations for {name}")
    return kinds[name]


def attention_to_reference(layer) -> dict[str, np.ndarray]:
    """The reference's attention parameters from a built :class:`~nlp_tasks.layers.Attention`: its
    row-vector kernels transposed to act on columns (``Wq, Wh, b, v`` or ``W``)."""
    if layer.kind == "additive":
        return {"Wq": np.asarray(layer.query_kernel.numpy()).T, "Wh": np.asarray(layer.key_kernel.numpy()).T,
                "b": np.asarray(layer.bias.numpy())[:, None], "v": np.asarray(layer.score_kernel.numpy())[:, None]}
    return {"W": np.asarray(layer.key_kernel.numpy()).T}
