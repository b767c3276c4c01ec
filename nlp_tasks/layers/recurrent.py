"""``Recurrent``: ``keras.layers.RNN`` with the input projection hoisted out of the time loop.

``keras.layers.RNN(cell)`` calls the cell once per time step, and the cell multiplies ``x<t>``
by its input weights inside the loop. Those products do not depend on ``a<t-1>``, so
:class:`Recurrent` computes them for every time step in one large matrix product before the
loop (``(batch*T, n_x) @ (n_x, G*units)``, which runs near the machine's matmul peak), and the
loop does only the recurrent part ``a<t-1> @ W_a.T``. The transposed recurrent weights are also
formed once per sequence instead of once per step. The result is the same function (tests check
it against ``keras.layers.RNN`` with the same cell), so everything ``keras.layers.RNN`` supports
still works: masking, ``return_sequences``, ``return_state``, ``go_backwards``, ``stateful``,
``keras.layers.Bidirectional``.

Cells other than ours, and ``unroll=True``, take the ordinary ``keras.layers.RNN`` path.
"""

from __future__ import annotations

import keras

from nlp_tasks.layers.cells import GRUCell, LSTMCell, MinimalGRUCell, RecurrentCell, RNNCell

try:  # the backend-neutral time loop that keras.layers.RNN itself uses
    from keras.src.backend import rnn as _backend_rnn
except ImportError:  # pragma: no cover - a future Keras that moves it: fall back to RNN's loop
    _backend_rnn = None

CELL_TYPES = {"rnn": RNNCell, "gru": GRUCell, "mingru": MinimalGRUCell, "lstm": LSTMCell}


@keras.saving.register_keras_serializable(package="nlp_tasks")
class Recurrent(keras.layers.RNN):
    """Run one of our cells over a sequence; same arguments as ``keras.layers.RNN``."""

    def inner_loop(self, sequences, initial_state, mask, training=False):
        cell = self.cell
        if not isinstance(cell, RecurrentCell) or self.unroll or _backend_rnn is None:
            return super().inner_loop(sequences, initial_state, mask, training=training)
        projected = cell.project_inputs(sequences)  # (batch, T, G*units), one big matmul
        weights = cell.recurrent_weights()  # once per sequence, not once per step

        def step(xw, states):  # xw: (batch, G*units)
            return cell.step(xw, states, weights)

        if not isinstance(initial_state, (list, tuple)):
            initial_state = [initial_state]
        return _backend_rnn(
            step,
            projected,
            list(initial_state),
            go_backwards=self.go_backwards,
            mask=mask,
            unroll=False,
            input_length=sequences.shape[1],
            zero_output_for_mask=self.zero_output_for_mask,
            return_all_outputs=self.return_sequences,
        )


def recurrent(kind: str, units: int, return_sequences: bool = False, return_state: bool = False,
              go_backwards: bool = False, stateful: bool = False, name: str | None = None,
              **cell_kwargs) -> Recurrent:
    """Build ``Recurrent(<cell>)`` by name: ``kind`` is ``rnn``, ``gru``, ``mingru`` or ``lstm``.

    >>> layer = recurrent("gru", 64, return_sequences=True)   # doctest: +SKIP
    """
    from nlp_tasks.errors import UserError

    if kind not in CELL_TYPES:
        raise UserError(f"unknown cell type {kind!r}; choose one of {', '.join(CELL_TYPES)}")
    cell = CELL_TYPES[kind](units, **cell_kwargs)
    return Recurrent(cell, return_sequences=return_sequences, return_state=return_state,
                     go_backwards=go_backwards, stateful=stateful, name=name)
