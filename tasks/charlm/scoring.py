"""The language model's exact loss over batches: every token scored once (validation after each
epoch, evaluation), the stateful layers of stream mode reset around it."""

from __future__ import annotations

from nlp_tasks.errors import UserError
from nlp_tasks.metrics.language import nats_to_bits
from nlp_tasks.text.vocab import PAD_ID


def reset_states(model) -> None:
    for layer in model.layers:
        if getattr(layer, "stateful", False):
            layer.reset_state()


def sum_nll(model, batches) -> tuple[float, float]:
    """Summed negative log-likelihood (nats) and number of scored tokens (target id != 0)."""
    import tensorflow as tf

    @tf.function(reduce_retracing=True)
    def batch_nll(x, y):
        logits = tf.cast(model(x, training=False), tf.float32)
        nll = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)
        weight = tf.cast(tf.not_equal(y, PAD_ID), nll.dtype)
        return tf.reduce_sum(nll * weight), tf.reduce_sum(weight)

    reset_states(model)
    total, count = 0.0, 0.0
    for x, y in batches:
        s, c = batch_nll(tf.constant(x), tf.constant(y))
        total, count = total + float(s), count + float(c)
    reset_states(model)
    if count == 0:
        raise UserError("nothing to evaluate: the data has no tokens")
    return total, count


def validation_figures(model, batches) -> dict:
    """Exact validation loss (every token once): ``val_nats`` and ``val_bits`` per token."""
    total, count = sum_nll(model, batches)
    return {"val_nats": total / count, "val_bits": nats_to_bits(total / count)}
