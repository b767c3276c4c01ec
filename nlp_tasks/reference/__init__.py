"""NumPy forward passes and backpropagation (through time), written out literally.

This is the readable derivation of every recurrent cell, output layer and attention in
:mod:`nlp_tasks.layers` and the oracle the Keras layers are tested against. It uses the course's
conventions:

- column vectors: ``x`` has shape ``(n_x, m, T_x)`` (features, examples, time steps) and the
  activations ``a`` have shape ``(n_a, m, T_x)``;
- each gate's weights ``W_g`` have shape ``(n_a, n_a + n_x)`` and act on the stacked column
  ``[a<t-1>; x<t>]``; biases ``b_g`` have shape ``(n_a, 1)``;
- parameters live in a dict: ``Wa, ba`` (Elman RNN); ``Wu, bu, Wr, br, Wc, bc`` and, for the
  reset-after GRU, ``bcr`` (GRU); ``Wu, bu, Wc, bc`` (minimal GRU); ``Wu, bu, Wf, bf, Wc, bc,
  Wo, bo`` (LSTM); ``Wq, Wh, b, v`` (additive attention) or ``W`` (multiplicative attention).

One module per subject, every name handed on here (``from nlp_tasks import reference as ref``;
``ref.forward``, ``ref.attention_forward``, ...):

- :mod:`~nlp_tasks.reference.cells`: a cell's forward step takes ``(x<t>, state<t-1>)`` and
  returns ``(state<t>, cache)`` (``state`` is ``(a,)``, or ``(a, c)`` for the LSTM); its backward
  step takes dL/dstate<t> and the cache and returns the gradients with respect to ``x<t>``,
  ``state<t-1>`` and the parameters. :func:`forward` and :func:`backward` run them over a
  sequence; :func:`loss_and_gradients` adds a softmax or sigmoid output layer
  ``ŷ<t> = g(W_y a<t> + b_y)`` and the cross-entropy loss summed over time steps and examples.
- :mod:`~nlp_tasks.reference.nade`: :func:`nade_forward` / :func:`nade_backward` for the NADE
  output layer (:mod:`nlp_tasks.layers.nade`): a frame's log-likelihood key by key, and its
  gradients.
- :mod:`~nlp_tasks.reference.attention`: :func:`attention_forward` / :func:`attention_backward`
  for one decoder query ``s`` (n_s, m) over encoder outputs ``h`` (n_h, m, T_x) with a mask
  (m, T_x): additive (Bahdanau) or multiplicative (Luong) scores, a softmax over the real
  positions, the context ``Σ_j α<j> h<j>`` (:mod:`nlp_tasks.layers.attention`).
- :mod:`~nlp_tasks.reference.gradients`: clipping by value and by global norm, and
  :func:`numerical_gradient` (central differences) for gradient checking.
"""

from nlp_tasks.reference.attention import attention_backward, attention_forward, masked_softmax
from nlp_tasks.reference.cells import (
    CELLS,
    backward,
    cross_entropy,
    forward,
    gru_cell_backward,
    gru_cell_forward,
    loss_and_gradients,
    lstm_cell_backward,
    lstm_cell_forward,
    mingru_cell_backward,
    mingru_cell_forward,
    output_forward,
    rnn_cell_backward,
    rnn_cell_forward,
    sigmoid,
    softmax,
)
from nlp_tasks.reference.gradients import clip_by_norm, clip_by_value, numerical_gradient
from nlp_tasks.reference.nade import log_sigmoid, nade_backward, nade_forward

__all__ = [
    "sigmoid",
    "softmax",
    "rnn_cell_forward",
    "rnn_cell_backward",
    "gru_cell_forward",
    "gru_cell_backward",
    "mingru_cell_forward",
    "mingru_cell_backward",
    "lstm_cell_forward",
    "lstm_cell_backward",
    "CELLS",
    "forward",
    "backward",
    "output_forward",
    "cross_entropy",
    "loss_and_gradients",
    "log_sigmoid",
    "nade_forward",
    "nade_backward",
    "masked_softmax",
    "attention_forward",
    "attention_backward",
    "clip_by_value",
    "clip_by_norm",
    "numerical_gradient",
]
