"""What a music model exports (:mod:`nlp_tasks.export`): a streaming step with its state as one
explicit tensor, and a score of whole pieces. Both portable (SavedModel, ONNX, LiteRT).

Sigmoid head (88 independent keys):

- ``step(frame (batch, 88) float32, state) -> probabilities (batch, 88), logits, next_state``:
  the chance that each key sounds at the next time step; start from ``state = 0`` and the silent
  frame. The client draws the keys (each on when a uniform number is below its probability).
- ``score(roll (batch, T, 88), lengths (batch,)) -> probabilities (batch, T, 88),
  log_likelihood (batch,)``: each step's key probabilities given the true past (what
  :meth:`MusicPipeline.predict` returns) and the piece's log-likelihood in nats over its
  ``lengths`` steps.

NADE head (the keys of a frame drawn jointly, each given the keys below it): a key's probability
depends on the keys drawn below it in the same frame, so the draw happens inside the step:

- ``step(frame, state, uniforms (batch, 88) float32, temperature () float32) -> next_frame (batch, 88),
  probabilities (batch, 88), next_state``: the next frame, drawn key by key from the lowest up,
  key ``d`` sounding when ``uniforms[:, d] < sigmoid(logit_d / temperature)`` (the pipeline's rule);
  ``probabilities`` are those tempered conditionals at the keys drawn. Greedy (the pipeline's
  temperature 0): ``uniforms = 0.5``, ``temperature = 1``.
- ``score``: as above, ``probabilities`` being the NADE's 88 conditionals
  ``P(key d | the true keys below d, the past)`` (what ``predict`` returns for this head) and
  ``log_likelihood`` the exact log-likelihood (the sum of their logs).

``S``, the state size, and the layout of the layers' states within it are in ``export.json``.
"""

from __future__ import annotations

from nlp_tasks.decoding.stepper import stack_step, stacked_weights
from nlp_tasks.export import Endpoint, ExportSpec, join_state, recurrent_cells, split_state, state_layout
from nlp_tasks.saving.model_checks import OUTPUT_LAYER


def _nade_draw(nade, params, uniforms, temperature):
    """The NADE's frames drawn key by key (:meth:`nlp_tasks.layers.NADE.sample`'s rule) in a loop
    over the 88 keys that every format converts (ONNX ``Loop``, LiteRT ``WHILE``; 88 unrolled
    key steps convert too, into a graph with 88 copies of the step's ops).
    Returns the frames and each drawn key's tempered conditional probability, both ``(batch, keys)``."""
    import tensorflow as tf

    b_v, hidden = nade.split(params)
    w, v = tf.cast(nade.input_kernel, tf.float32), tf.cast(nade.output_kernel, tf.float32)
    b_v, uniforms = tf.transpose(b_v), tf.transpose(uniforms)  # (keys, batch): key d is row d
    rows = params.shape[0]  # None, or the fixed batch of a LiteRT model

    def draw(d, hidden, keys, probabilities):  # hidden: b_h + W[:d]^T v[:d]
        logit = b_v[d] + tf.reduce_sum(tf.sigmoid(hidden) * v[d], axis=-1)
        p = tf.sigmoid(logit / temperature)
        key = tf.cast(uniforms[d] < p, tf.float32)
        return d + 1, hidden + key[:, None] * w[d], keys.write(d, key), probabilities.write(d, p)

    arrays = [tf.TensorArray(tf.float32, size=nade.n_visible, element_shape=[rows]) for _ in range(2)]
    _, _, keys, probabilities = tf.while_loop(lambda d, *_: d < nade.n_visible, draw,
                                              (tf.constant(0), hidden, *arrays), maximum_iterations=nade.n_visible)
    return tf.transpose(keys.stack()), tf.transpose(probabilities.stack())


def export_spec(pipe) -> ExportSpec:
    import tensorflow as tf

    from .data import KEYS

    model = pipe.require_model()
    cells = recurrent_cells(model, pipe.config.layers)
    output = model.get_layer(OUTPUT_LAYER)
    layout = state_layout(cells)
    nade = pipe.config.head == "nade"
    frame_spec = tf.TensorSpec((None, KEYS), tf.float32, name="frame")
    state_spec = tf.TensorSpec((None, layout["state_size"]), tf.float32, name="state")

    def advance(frame, state):
        run = stack_step(cells, output, None, stacked_weights(cells))
        outputs, states = run(frame, split_state(state, cells))
        return tf.cast(outputs, tf.float32), join_state(states)

    def step(frame, state):
        logits, state = advance(frame, state)
        return {"probabilities": tf.sigmoid(logits), "logits": logits, "next_state": state}

    def nade_step(frame, state, uniforms, temperature):
        params, state = advance(frame, state)
        drawn, probabilities = _nade_draw(output, params, uniforms, temperature)
        return {"next_frame": drawn, "probabilities": probabilities, "next_state": state}

    def score(roll, lengths):
        inputs = tf.concat([tf.zeros_like(roll[:, :1]), roll[:, :-1]], axis=1)  # the silent frame, then the past
        logits = tf.cast(model(inputs, training=False), tf.float32)
        if nade:  # the conditional biases -> each key's logit given the true keys below it
            logits = output.logits(roll, logits)
        real = tf.sequence_mask(lengths, tf.shape(roll)[1], dtype=tf.float32)
        # log P(frame) = sum over keys of log sigmoid(z) where the key sounds, log sigmoid(-z) where not;
        # log sigmoid(z) = -softplus(-z) (ops that ONNX and LiteRT have). For the NADE these are its
        # conditionals, whose log-sum is the frame's exact log-likelihood.
        log_p = -(roll * tf.nn.softplus(-logits) + (1.0 - roll) * tf.nn.softplus(logits))
        return {"probabilities": tf.sigmoid(logits),
                "log_likelihood": tf.reduce_sum(tf.reduce_sum(log_p, axis=-1) * real, axis=1)}

    if nade:
        step_endpoint = Endpoint(
            "step", nade_step, [frame_spec, state_spec, tf.TensorSpec((None, KEYS), tf.float32, name="uniforms"),
                                tf.TensorSpec((), tf.float32, name="temperature")],
            {"next_frame": f"(batch, {KEYS}) float32, the next frame drawn key by key from the lowest",
             "probabilities": f"(batch, {KEYS}) float32, each key's tempered probability given the keys drawn "
                              "below it",
             "next_state": "(batch, state_size) float32, for the next step"},
            "One time step: the next frame drawn by the NADE (key d sounds when uniforms[:, d] < its tempered "
            "probability; greedy: uniforms 0.5, temperature 1) and the new state (start: state 0, the silent "
            "frame).")
    else:
        step_endpoint = Endpoint(
            "step", step, [frame_spec, state_spec],
            {"probabilities": f"(batch, {KEYS}) float32, P(key sounds at the next step)",
             "logits": f"(batch, {KEYS}) float32",
             "next_state": "(batch, state_size) float32, for the next step"},
            "One time step: the next frame's key probabilities and the new state (start: state 0, "
            "the silent frame).")
    what = ("the NADE's conditionals given the true keys below" if nade else "each step's keys given the true past")
    return ExportSpec(
        [step_endpoint,
         Endpoint("score", score, [tf.TensorSpec((None, None, KEYS), tf.float32, name="roll"),
                                   tf.TensorSpec((None,), tf.int32, name="lengths")],
                  {"probabilities": f"(batch, T, {KEYS}) float32, {what}",
                   "log_likelihood": "(batch,) float32, nats over each piece's `lengths` steps"},
                  "Piano rolls (88 keys, lowest A0 first) in, per-step key probabilities and log-likelihood out.")],
        info={**layout, "keys": KEYS, "lowest_pitch": 21, "steps_per_quarter": pipe.config.steps_per_quarter,
              "head": pipe.config.head, **({"nade_units": output.units} if nade else {})})
