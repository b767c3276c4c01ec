"""Batches: padding, length bucketing, and a batch source whose every random choice is a
function of ``(seed, epoch)``, so a run resumed at epoch k sees what an uninterrupted run saw.

- :func:`pad`               the one padding helper: right-pad sequences (of ids, or of vectors)
  into one array, with id 0 (``<pad>``) by default.
- :func:`bucketed_batches`  example indices cut into batches of similar length; the order is a
  pure function of ``(seed, epoch)``.
- :func:`padding_overhead`  padded / real tokens of a batching.
- :class:`Batches`          the batch source :func:`nlp_tasks.training.fit` takes: it knows which
  epoch it serves (:meth:`Batches.for_epoch`), hands each batch a random generator of its own
  (``default_rng([seed, epoch, batch])``, for word dropout and the like), and gives Keras a
  ``tf.data`` view (:meth:`Batches.dataset`) plus the callback that tells it which epoch starts
  (:meth:`Batches.epoch_callback`).

Nothing here draws from a generator that lives across batches or epochs: a generator made
once per ``fit`` and advanced every batch would make a resumed run replay other draws.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from nlp_tasks.errors import UserError


def pad(sequences: Sequence, length: int | None = None, dtype=np.int32, value=0) -> np.ndarray:
    """``(batch, length, *rest)``: each sequence copied to the start of its row, the rest ``value``.

    A sequence is a list or array of ids (``rest`` is empty) or of equal-shaped items, e.g.
    ``(T, 88)`` piano-roll frames (``rest`` is ``(88,)``, from the first sequence). ``length``
    defaults to the longest sequence; a longer one is an error (cut it first).
    """
    rows = [np.asarray(s, dtype=dtype) for s in sequences]
    if length is None:
        length = max((len(r) for r in rows), default=0)
    rest = rows[0].shape[1:] if rows else ()
    out = np.full((len(rows), length, *rest), value, dtype=dtype)
    for row, values in enumerate(rows):
        out[row, : len(values)] = values
    return out


def bucketed_batches(lengths: Sequence[int], batch_size: int, seed: int = 0, epoch: int = 0,
                     shuffle: bool = True, bucket_factor: int = 50) -> list[np.ndarray]:
    """Split example indices into batches of similar length.

    With ``shuffle``, indices are shuffled, cut into pools of ``batch_size * bucket_factor``,
    each pool sorted by length and cut into batches, and the batch order shuffled again: every
    step sees one length and little padding, yet the order changes every epoch. The order is a
    pure function of ``(seed, epoch)``. Without ``shuffle`` (evaluation), examples are sorted by
    length; callers map predictions back with the returned indices.
    """
    if batch_size < 1:
        raise UserError(f"batch size must be >= 1, got {batch_size}")
    lengths = np.asarray(lengths)
    if not shuffle:
        order = np.argsort(lengths, kind="stable")
        return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))
    pool = batch_size * bucket_factor
    batches = []
    for start in range(0, len(order), pool):
        chunk = order[start:start + pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches.extend(chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


def padding_overhead(lengths: Sequence[int], batches: Sequence[np.ndarray]) -> float:
    """Padded tokens / real tokens for a batching (1.0 means no padding at all)."""
    lengths = np.asarray(lengths)
    real = int(lengths.sum())
    padded = sum(int(lengths[b].max()) * len(b) for b in batches if len(b))
    return padded / real if real else math.nan


class Batches:
    """Length-bucketed, padded batches that know their epoch.

    ``make_batch(indices, rng)`` returns the arrays of one batch (padded to its longest
    example); ``rng`` is ``numpy.random.default_rng([seed, epoch, batch])``, the only source of
    randomness it may use (word dropout, say), so batch ``b`` of epoch ``k`` is the same
    whether the run started at epoch 0 or resumed at ``k``. ``signature`` (the matching
    ``tf.TensorSpec`` structure) is needed for :meth:`dataset` only.

    Without ``shuffle`` (evaluation) the order is by length and the same every epoch.
    """

    def __init__(self, make_batch: Callable[[np.ndarray, np.random.Generator], tuple], lengths: Sequence[int],
                 batch_size: int, signature=None, seed: int = 0, shuffle: bool = True):
        self.make_batch, self.signature = make_batch, signature
        self.lengths = np.asarray(lengths)
        self.batch_size, self.seed, self.shuffle = batch_size, seed, shuffle
        self.epoch = 0  # the epoch iteration serves now; set_epoch changes it
        self._count = len(self.order(0))

    def order(self, epoch: int) -> list[np.ndarray]:
        """Example indices of every batch of ``epoch``, in the order they are served."""
        return bucketed_batches(self.lengths, self.batch_size, seed=self.seed, epoch=epoch, shuffle=self.shuffle)

    def rng(self, epoch: int, batch: int) -> np.random.Generator:
        """The random generator of batch ``batch`` of ``epoch``: a pure function of the three."""
        return np.random.default_rng([self.seed, epoch, batch])

    def for_epoch(self, epoch: int) -> Iterator[tuple]:
        """The batches of ``epoch``, made one at a time."""
        for batch, indices in enumerate(self.order(epoch)):
            yield self.make_batch(indices, self.rng(epoch, batch))

    def set_epoch(self, epoch: int) -> None:
        """Serve ``epoch`` from the next pass on (:meth:`dataset` reads it when a pass starts)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[tuple]:
        return self.for_epoch(self.epoch)

    def dataset(self):
        """A ``tf.data.Dataset`` view: each pass yields the batches of the current epoch."""
        import tensorflow as tf

        if self.signature is None:
            raise UserError("these batches have no tensor signature, so no tf.data view")
        dataset = tf.data.Dataset.from_generator(lambda: self.for_epoch(self.epoch), output_signature=self.signature)
        # Tell Keras how many batches an epoch has (a generator's count is unknown otherwise).
        return dataset.apply(tf.data.experimental.assert_cardinality(self._count)).prefetch(2)

    def epoch_callback(self):
        """A Keras callback that calls :meth:`set_epoch` at the start of every epoch, so a run
        resumed with ``initial_epoch=k`` serves epoch k's batches, not epoch 0's."""
        import keras

        source = self

        class BatchEpoch(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                source.set_epoch(epoch)

        return BatchEpoch()


def as_dataset(data):
    """What ``keras.Model.fit`` takes: a :class:`Batches` source's ``tf.data`` view; anything
    else (a ``tf.data.Dataset``, None) as it is."""
    return data.dataset() if isinstance(data, Batches) else data
