"""What a language model exports (:mod:`nlp_tasks.export`): a streaming step with its state as one
explicit tensor, and a score of whole sequences. Both portable.

- ``step(token (batch,) int32, state (batch, S)) -> logits (batch, V), state``: one time step of
  the recurrent stack; start from ``state = 0`` and ``token = <bos>`` (id 2), then feed back each
  chosen token. The pipeline never draws ``<pad>`` or ``<bos>`` (ids 0 and 2): a client does the
  same by masking their logits; greedy decoding then gives :meth:`LanguageModelPipeline.sample`
  with ``temperature=0``.
- ``score(token_ids (batch, T) int32, 0 = padding) -> token_log_probs (batch, T), log_prob
  (batch,)``: ``log P(y<t> | y<1..t-1>)`` of each token after ``<bos>``, in nats. A model that
  scores ends (``scores_end`` in ``export.json``) expects ``<eos>`` (id 3) after each text, as
  :meth:`LanguageModelPipeline.score` appends it.

``S``, the state size, and the layout of the layers' states within it are in ``export.json``; so is
``reverse``: a backward model (``charlm train --reverse``) reads each text last token first, and a
client feeds and scores its ids in that order, as the pipeline does.
"""

from __future__ import annotations

from nlp_tasks.decoding.stepper import stack_step, stacked_weights
from nlp_tasks.export import Endpoint, ExportSpec, join_state, recurrent_cells, split_state, state_layout
from nlp_tasks.saving.model_checks import OUTPUT_LAYER, embedding_layer_name
from nlp_tasks.text.vocab import BOS_ID, EOS_ID, PAD_ID, UNK_ID


def export_spec(pipe) -> ExportSpec:
    import tensorflow as tf

    model = pipe.require_model()
    cells = recurrent_cells(model, pipe.config.layers)
    features = model.get_layer(embedding_layer_name(pipe.vocab_name))
    output = model.get_layer(OUTPUT_LAYER)
    layout = state_layout(cells)

    def step(token, state):
        run = stack_step(cells, output, features, stacked_weights(cells))
        logits, states = run(token, split_state(state, cells))
        return {"logits": tf.cast(logits, tf.float32), "next_state": join_state(states)}

    def score(token_ids):
        real = token_ids > 0
        shifted = tf.concat([tf.fill([tf.shape(token_ids)[0], 1], BOS_ID), token_ids[:, :-1]], axis=1)
        inputs = tf.where(real, shifted, 0)  # <bos>, y<1>, ..., y<n-1>, then padding
        log_probs = tf.nn.log_softmax(tf.cast(model(inputs, training=False), tf.float32), axis=-1)
        picked = tf.gather(log_probs, tf.maximum(token_ids, 0), batch_dims=2)
        picked = tf.where(real, picked, 0.0)
        return {"token_log_probs": picked, "log_prob": tf.reduce_sum(picked, axis=1)}

    never_drawn = [PAD_ID, BOS_ID] + ([UNK_ID] if pipe.vocab.level == "char" else [])  # as the sampler
    return ExportSpec(
        [Endpoint("step", step, [tf.TensorSpec((None,), tf.int32, name="token"),
                                 tf.TensorSpec((None, layout["state_size"]), tf.float32, name="state")],
                  {"logits": "(batch, vocabulary) float32, the next token's unnormalised log-probabilities",
                   "next_state": "(batch, state_size) float32, the state to pass to the next step"},
                  "One time step: the next token's logits and the new state (start: state 0, token <bos>)."),
         Endpoint("score", score, [tf.TensorSpec((None, None), tf.int32, name="token_ids")],
                  {"token_log_probs": "(batch, T) float32, log P(token | the tokens before it), 0 at padding",
                   "log_prob": "(batch,) float32, their sum (nats)"},
                  "Token ids in (0 = padding), each token's log-probability after <bos> out.")],
        info={**layout, "level": pipe.vocab.level, "reverse": pipe.config.reverse, "bos_id": BOS_ID,
              "eos_id": EOS_ID, "pad_id": PAD_ID, "unk_id": UNK_ID, "scores_end": pipe.scores_end,
              "never_drawn": never_drawn})
