"""The batches a language model trains and is evaluated on, made batch by batch from token ids
(never the whole corpus's windows at once): stream mode's truncated-BPTT windows, lines mode's
padded lines grouped by length."""

from __future__ import annotations

from nlp_tasks.batching import Batches, pad
from nlp_tasks.errors import UserError

from . import data as cd


def stream_dataset(ids, cfg):
    """A ``tf.data`` dataset whose element k is batch k: window k of each of ``cfg.batch_size`` rows."""
    import tensorflow as tf

    chunks = cd.StreamWindows(ids, cfg.batch_size, cfg.window, drop_last=True)  # made batch by batch
    if not len(chunks):
        raise UserError(f"the training text ({len(ids)} tokens) is too short for {cfg.batch_size} rows of "
                        f"{cfg.window}-step windows; lower --batch-size or --window")
    shape = (cfg.batch_size, cfg.window)

    def window(k):  # element k is batch k: window k of every row
        x, y = tf.numpy_function(lambda k: chunks[int(k)], [k], (tf.int32, tf.int32), stateful=False)
        return tf.ensure_shape(x, shape), tf.ensure_shape(y, shape)

    return tf.data.Dataset.range(len(chunks)).map(window)


def line_batches(sequences, cfg, shuffle, batch_size=None):
    """Padded batches ``(x, y)`` of lines (lists, or a store's lines read from its memory map),
    by length, made batch by batch: a :class:`Batches` source (unshuffled for evaluation)."""
    import tensorflow as tf

    lengths = cd.line_lengths(sequences) + 1

    def make_batch(indices, rng):  # nothing random here: dropout is the model's (its state is checkpointed)
        xs, ys = cd.line_examples([sequences[i] for i in indices])
        return pad(xs), pad(ys)

    signature = (tf.TensorSpec((None, None), tf.int32), tf.TensorSpec((None, None), tf.int32))
    batches = Batches(make_batch, lengths, batch_size or cfg.batch_size, signature, seed=cfg.seed, shuffle=shuffle)
    return batches  # unshuffled (evaluation): the same batches at every pass, made as they are read


def eval_batches(sequences, cfg, batch_size):
    """Batches that score every token exactly once (stream: stateful windows, in order)."""
    if cfg.mode == "stream":
        return cd.StreamWindows(sequences, batch_size, cfg.window, pad_last=True, drop_last=False)
    return line_batches(sequences, cfg, shuffle=False, batch_size=batch_size)
