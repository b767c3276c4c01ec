"""What a music model (sigmoid head) exports (:mod:`nlp_tasks.export`): a streaming step with its
state as one explicit tensor, and a score of whole pieces. Both portable.

- ``step(frame (batch, 88) float32, state) -> probabilities (batch, 88), logits, state``: the
  chance that each key sounds at the next time step; start from ``state = 0`` and the silent frame.
- ``score(roll (batch, T, 88), lengths (batch,)) -> probabilities (batch, T, 88),
  log_likelihood (batch,)``: each step's key probabilities given the true past (what
  :meth:`MusicPipeline.predict` returns) and the piece's log-likelihood in nats over its
  ``lengths`` steps.

``S``, the state size, and the layout of the layers' states within it are in ``export.json``.
"""

from __future__ import annotations

from nlp_tasks.decoding.stepper import stack_step, stacked_weights
from nlp_tasks.errors import UserError
from nlp_tasks.export import Endpoint, ExportSpec, join_state, recurrent_cells, split_state, state_layout
from nlp_tasks.saving.model_checks import OUTPUT_LAYER


def export_spec(pipe) -> ExportSpec:
    import tensorflow as tf

    from .data import KEYS

    if pipe.config.head != "sigmoid":
        raise UserError(f"music models with the {pipe.config.head!r} head cannot be exported yet (their keys are "
                        "drawn one after another inside the step); a 'sigmoid' head model can")
    model = pipe.require_model()
    cells = recurrent_cells(model, pipe.config.layers)
    output = model.get_layer(OUTPUT_LAYER)
    layout = state_layout(cells)

    def step(frame, state):
        run = stack_step(cells, output, None, stacked_weights(cells))
        logits, states = run(frame, split_state(state, cells))
        logits = tf.cast(logits, tf.float32)
        return {"probabilities": tf.sigmoid(logits), "logits": logits, "next_state": join_state(states)}

    def score(roll, lengths):
        inputs = tf.concat([tf.zeros_like(roll[:, :1]), roll[:, :-1]], axis=1)  # the silent frame, then the past
        logits = tf.cast(model(inputs, training=False), tf.float32)
        real = tf.sequence_mask(lengths, tf.shape(roll)[1], dtype=tf.float32)
        # log P(frame) = sum over keys of log sigmoid(z) where the key sounds, log sigmoid(-z) where not;
        # log sigmoid(z) = -softplus(-z) (ops that ONNX and LiteRT have)
        log_p = -(roll * tf.nn.softplus(-logits) + (1.0 - roll) * tf.nn.softplus(logits))
        return {"probabilities": tf.sigmoid(logits),
                "log_likelihood": tf.reduce_sum(tf.reduce_sum(log_p, axis=-1) * real, axis=1)}

    return ExportSpec(
        [Endpoint("step", step, [tf.TensorSpec((None, KEYS), tf.float32, name="frame"),
                                 tf.TensorSpec((None, layout["state_size"]), tf.float32, name="state")],
                  {"probabilities": f"(batch, {KEYS}) float32, P(key sounds at the next step)",
                   "logits": f"(batch, {KEYS}) float32",
                   "next_state": "(batch, state_size) float32, for the next step"},
                  "One time step: the next frame's key probabilities and the new state (start: state 0, "
                  "the silent frame)."),
         Endpoint("score", score, [tf.TensorSpec((None, None, KEYS), tf.float32, name="roll"),
                                   tf.TensorSpec((None,), tf.int32, name="lengths")],
                  {"probabilities": f"(batch, T, {KEYS}) float32, each step's keys given the true past",
                   "log_likelihood": "(batch,) float32, nats over each piece's `lengths` steps"},
                  "Piano rolls (88 keys, lowest A0 first) in, per-step key probabilities and log-likelihood out.")],
        info={**layout, "keys": KEYS, "lowest_pitch": 21, "steps_per_quarter": pipe.config.steps_per_quarter,
              "head": pipe.config.head})
