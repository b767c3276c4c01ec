"""Scoring pieces of any length in bounded memory: the music model run a bounded number of
time steps at a time.

The NADE head scores a frame through ``(88, nade_units)`` hidden values
(:meth:`nlp_tasks.layers.NADE.logits`), so one pass over a 50,000-step piece with 150 NADE units
holds 660 million values (2.6 GB of float32) per intermediate tensor, and a few of them at once
ended in ``std::bad_alloc``. Evaluation, validation and :meth:`MusicPipeline.predict` therefore run
the model over chunks of at most :data:`CHUNK_VALUES` / (batch x values per step) time steps.
Each recurrent layer starts a chunk from the state it ended the previous one with (a copy of the
layer that also returns its states, running the same loop as ``model(x)``), so every output is
the one a single pass gives, while memory is bounded by the chunk, whatever the piece's length.
"""

from __future__ import annotations

import numpy as np

from .data import KEYS

CHUNK_VALUES = 2**24  # values of a chunk's largest intermediate tensor (64 MB of float32)


class ChunkedForward:
    """``model(x, training=False)`` of a chain of layers (the music model), chunk by chunk.

    ``forward(x, states) -> (outputs, states)`` runs the time steps ``x (batch, steps, ...)``
    from ``states`` (:meth:`zero_state` for a piece's start) as graph ops; :meth:`spans` cuts a
    batch's time axis into chunks of bounded size. ``head_width``: values the output head holds
    per time step and piece (``MusicHead.values_per_step``).
    """

    def __init__(self, model, head_width: int, chunk_values: int | None = None):
        import keras

        self.layers = [_with_states(layer) if isinstance(layer, keras.layers.RNN) else layer
                       for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
        self.rnns = [layer for layer in self.layers if isinstance(layer, keras.layers.RNN)]
        # a recurrent layer holds at most four gates' worth of values per step (an LSTM)
        self.width = head_width + sum(4 * layer.cell.units for layer in self.rnns)
        self.chunk_values = chunk_values or CHUNK_VALUES

    def spans(self, batch: int, steps: int) -> list[slice]:
        """The chunks of ``steps`` time steps of a batch of ``batch`` pieces, in order."""
        size = max(1, self.chunk_values // max(1, batch * self.width))
        return [slice(start, min(start + size, steps)) for start in range(0, steps, size)]

    def zero_state(self, batch: int) -> list:
        """a<0> = 0 of every recurrent layer, for ``batch`` pieces."""
        return [layer.get_initial_state(batch) for layer in self.rnns]

    def compile(self, function, *specs):
        """``tf.function(function)`` traced once for any batch and chunk length: its arguments
        are ``specs`` (``tf.TensorSpec``) and then the states."""
        import tensorflow as tf

        states = tf.nest.map_structure(lambda s: tf.TensorSpec((None, *s.shape[1:]), s.dtype), self.zero_state(1))
        return tf.function(function, input_signature=[*specs, states])

    def __call__(self, x, states):
        """``(outputs, states)`` after the steps ``x``, each recurrent layer starting from its
        entry of ``states`` (dropout is off, as in evaluation)."""
        states, new_states = list(states), []
        for layer in self.layers:
            if layer in self.rnns:
                x, *end = layer(x, initial_state=list(states[len(new_states)]), training=False)
                new_states.append(end)
            else:
                x = layer(x, training=False)
        return x, new_states


def _with_states(layer):
    """A copy of the recurrent ``layer`` that also returns its last states, with its weights."""
    twin = type(layer).from_config({**layer.get_config(), "return_state": True})
    twin.build(layer.input.shape)
    twin.set_weights(layer.get_weights())
    return twin


def frame_metrics(model, head, batches) -> dict:
    """Exact NLL per time step and frame-level scores over padded batches ``(x, y, w)``: the
    model's summed counts, chunk by chunk (:class:`ChunkedForward`), scored by
    :func:`nlp_tasks.metrics.pianoroll.frame_scores`."""
    import tensorflow as tf

    from nlp_tasks.metrics.pianoroll import frame_scores

    forward = ChunkedForward(model, head.values_per_step())
    frames, weights = tf.TensorSpec((None, None, KEYS), tf.float32), tf.TensorSpec((None, None), tf.float32)

    def chunk_scores(x, y, w, states):
        outputs, states = forward(x, states)
        outputs = tf.cast(outputs, tf.float32)
        nll = tf.reduce_sum(head.nll(y, outputs) * w)
        predicted = head.predicted(outputs) * w[..., None]
        true = y * w[..., None]
        tp = tf.reduce_sum(predicted * true)
        return tf.stack([nll, tf.reduce_sum(w), tp, tf.reduce_sum(predicted) - tp, tf.reduce_sum(true) - tp]), states

    chunk_scores = forward.compile(chunk_scores, frames, frames, weights)
    totals = np.zeros(5)
    for x, y, w in batches:
        states = forward.zero_state(len(x))
        for span in forward.spans(*w.shape):
            sums, states = chunk_scores(tf.constant(x[:, span]), tf.constant(y[:, span]), tf.constant(w[:, span]),
                                        states)
            totals += sums.numpy()
    return frame_scores(*totals)


def validation_figures(model, head, batches) -> dict:
    """Exact validation NLL per time step (``val_nll``) and frame accuracy."""
    report = frame_metrics(model, head, batches)
    return {"val_nll": report["nll_per_step"], "val_frame_accuracy": report["frame_accuracy"]}


class PieceScorer:
    """Each step's key probabilities of a batch of pieces given the true past
    (:meth:`MusicHead.probabilities`), chunk by chunk: one :class:`ChunkedForward` and one traced
    chunk function, made once per model and used for every batch (making them for each piece,
    as before, cost more than scoring it).

    The pieces of a batch are padded at the end to the longest: the model is causal, so the steps
    after a piece's end change none of its own steps, and each piece's rows are cut back to its
    length."""

    def __init__(self, model, head):
        import tensorflow as tf

        self.head = head
        self.forward = ChunkedForward(model, head.values_per_step())
        self.step = self.forward.compile(self.forward, tf.TensorSpec((None, None, KEYS), tf.float32))

    def __call__(self, xs: list, ys: list) -> list[np.ndarray]:
        """``(T_i, 88)`` float64 for each piece ``i`` (inputs ``xs[i]``, frames ``ys[i]``)."""
        import tensorflow as tf

        from nlp_tasks.batching import pad

        x, y = pad(xs, dtype=np.float32), pad(ys, dtype=np.float32)
        states, parts = self.forward.zero_state(len(xs)), []
        for span in self.forward.spans(*x.shape[:2]):
            outputs, states = self.step(tf.constant(x[:, span]), states)
            parts.append(self.head.probabilities(y[:, span], np.asarray(tf.cast(outputs, tf.float32))))
        probabilities = np.concatenate(parts, axis=1)
        return [probabilities[i, :len(piece)] for i, piece in enumerate(xs)]
