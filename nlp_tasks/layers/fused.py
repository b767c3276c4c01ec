"""The fused sequence path: our GRU and LSTM through Keras' cuDNN kernel on a GPU.

On a GPU, Keras' ``GRU``/``LSTM`` call cuDNN's fused sequence kernel (through the backend
functions named in :mod:`nlp_tasks._keras_compat`), one kernel for the whole sequence, where a
time loop runs a few small kernels per step. Our ``reset_after`` GRU and our LSTM compute the
same function as those layers, with the
weights laid out differently (:mod:`nlp_tasks.layers.convert` says how). So when a layer
qualifies, :class:`nlp_tasks.layers.Recurrent` converts its weights *inside the graph* (so the
gradients reach our stacked kernel) and calls that same backend function:

- GRU: Keras' ``z`` is our ``1 - Γu``, so its z-gate rows are ours negated; its input bias is
  ``[-b_u, b_r, b_c]`` and its recurrent bias ``[0, 0, b_cr]`` (only the candidate's recurrent
  bias sits behind the reset gate; the other two are already summed into ``b``).
- LSTM: the same gate order (i, f, c, o); only the kernel's halves are transposed.

Where cuDNN cannot run (no GPU), the backend function raises ``NotImplementedError`` and the
layer runs Keras' own equations on the converted weights in the generic loop, which is how
the tests check the conversion and its gradients on a CPU. By default (``fused=None``) the
fused path is taken only where it pays: a GPU is visible and the layer qualifies.
"""

from __future__ import annotations

import keras
from keras import ops

from nlp_tasks import _keras_compat
from nlp_tasks.layers.cells import GRUCell, LSTMCell

KINDS = {GRUCell: "gru", LSTMCell: "lstm"}
_UNKNOWN_LENGTH = 2**31 - 1  # an upper bound for the loop when the length is not known (see recurrent.py)


def gpu_visible() -> bool:
    import tensorflow as tf

    return bool(tf.config.list_logical_devices("GPU"))


def unfused_reason(layer) -> str | None:
    """Why ``layer`` (a :class:`Recurrent`) cannot take the fused path, or None if it can. The
    mask (none, or right-padded) is checked when the layer runs, by Keras' cuDNN call."""
    cell = layer.cell
    kind = KINDS.get(type(cell))
    if kind is None:
        return f"{type(cell).__name__} has no fused kernel (only the GRU with reset_after and the LSTM)"
    if kind == "gru" and not cell.reset_after:
        return "the classic GRU (reset_after=False) is not the form cuDNN computes"
    if layer.unroll:
        return "unroll=True"
    if keras.backend.backend() != "tensorflow":
        return f"the {keras.backend.backend()} backend"
    if _keras_compat.backend_fused(kind) is None:
        return f"this Keras has no backend {kind} function with the expected parameters (nlp_tasks/_keras_compat.py)"
    return None


def takes_fused_path(layer, gpu: bool | None = None) -> bool:
    """The dispatch rule: ``fused=True`` always (if the layer qualifies), ``False`` never,
    ``None`` when it qualifies and a GPU is visible (``gpu`` overrides the device check)."""
    if layer.fused is False or unfused_reason(layer) is not None:
        return False
    if layer.fused is True:
        return True
    return gpu_visible() if gpu is None else gpu


# ---------------------------------------------------------------------- weights, in the graph
def keras_weights(cell):
    """Keras' ``(kernel (n_x, G*u), recurrent_kernel (u, G*u), bias)`` from our stacked weights,
    as tensors computed from our variables (differentiable)."""
    u = cell.units
    w = ops.convert_to_tensor(cell.kernel)  # (G*u, u + n_x): [W_a | W_x]
    b = ops.convert_to_tensor(cell.bias)  # (G*u,)
    if isinstance(cell, LSTMCell):
        return ops.transpose(w[:, u:]), ops.transpose(w[:, :u]), b
    sign = ops.concatenate([-ops.ones((u,), w.dtype), ops.ones((2 * u,), w.dtype)])  # z = 1 - Γu: negate
    w = w * sign[:, None]
    b_in = b * sign
    b_rec = ops.concatenate([ops.zeros((2 * u,), b.dtype), ops.convert_to_tensor(cell.candidate_recurrent_bias)])
    return ops.transpose(w[:, u:]), ops.transpose(w[:, :u]), ops.stack([b_in, b_rec])


def _keras_gru_step(kernel, recurrent_kernel, bias, units):
    """Keras' GRU (reset_after) equations for one step, on Keras-layout weights."""

    def step(x, states):
        h_prev = states[0]
        x_z, x_r, x_h = ops.split(ops.matmul(x, kernel) + bias[0], 3, axis=-1)
        r_z, r_r, r_h = ops.split(ops.matmul(h_prev, recurrent_kernel) + bias[1], 3, axis=-1)
        z = ops.sigmoid(x_z + r_z)
        r = ops.sigmoid(x_r + r_r)
        hh = ops.tanh(x_h + r * r_h)
        h = z * h_prev + (1 - z) * hh
        return h, [h]

    return step


def _keras_lstm_step(kernel, recurrent_kernel, bias, units):
    """Keras' LSTM equations for one step, on Keras-layout weights."""

    def step(x, states):
        h_prev, c_prev = states
        i, f, c, o = ops.split(ops.matmul(x, kernel) + ops.matmul(h_prev, recurrent_kernel) + bias, 4, axis=-1)
        c = ops.sigmoid(f) * c_prev + ops.sigmoid(i) * ops.tanh(c)
        h = ops.sigmoid(o) * ops.tanh(c)
        return h, [h, c]

    return step


def run(layer, sequences, initial_state, mask):
    """``(last, outputs, states)`` of ``layer`` on ``sequences (batch, T, n_x)`` through Keras'
    fused backend function, or Keras' equations in the generic loop where it cannot run."""
    cell = layer.cell
    kind = KINDS[type(cell)]
    kernel, recurrent_kernel, bias = keras_weights(cell)
    states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
    tanh, sigmoid = keras.activations.tanh, keras.activations.sigmoid
    try:
        if kind == "gru":
            return _keras_compat.backend_fused("gru")(
                sequences, states[0], mask, kernel, recurrent_kernel, bias, tanh, sigmoid,
                return_sequences=layer.return_sequences, go_backwards=layer.go_backwards, unroll=False,
                time_major=False, reset_after=True)
        return _keras_compat.backend_fused("lstm")(
            sequences, states[0], states[1], mask, kernel, recurrent_kernel, bias, tanh, sigmoid,
            return_sequences=layer.return_sequences, go_backwards=layer.go_backwards, unroll=False, time_major=False)
    except NotImplementedError:  # no cuDNN here: the same equations in Keras' generic loop
        make_step = _keras_gru_step if kind == "gru" else _keras_lstm_step
        last, outputs, states = _keras_compat.backend_rnn()(
            make_step(kernel, recurrent_kernel, bias, cell.units), ops.transpose(sequences, (1, 0, 2)), states,
            go_backwards=layer.go_backwards, mask=None if mask is None else ops.transpose(mask, (1, 0)),
            unroll=False, input_length=sequences.shape[1] or _UNKNOWN_LENGTH, time_major=True,
            zero_output_for_mask=layer.zero_output_for_mask, return_all_outputs=layer.return_sequences)
        return last, ops.transpose(outputs, (1, 0, 2)), states
