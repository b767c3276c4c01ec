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
- :func:`as_dataset`        what ``keras.Model.fit`` takes; under multi-worker training, a dataset
  per worker that makes only that worker's rows of every batch (:meth:`Batches.pieces`).

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

    def pieces(self, epoch: int, replicas: int, mine: range) -> Iterator[tuple]:
        """This worker's share of the batches of ``epoch`` when ``replicas`` replicas split each
        batch and this worker feeds the replicas ``mine``: for every batch, one piece per replica
        of ``mine``, made from only that piece's rows (a worker never reads another's rows).

        Each batch is cut as tf.data's rebatching cuts it (the split every worker used to take
        from the whole batch it made): replica ``r`` takes the ``r``-th run of ``ceil(n /
        replicas)`` rows, so a short batch leaves the last replicas a piece of no rows (arrays of 0
        rows; Keras' own losses divide a sum over none by none as 0; not exercised by a test). A
        piece is padded to its own longest row, and its random generator is
        ``default_rng([seed, epoch, batch, replica])``: with word dropout, the masks are not those
        of one device (the same rows' draws of a whole batch), but they are still a pure function
        of the seed, the epoch and the batch's place."""
        for batch, indices in enumerate(self.order(epoch)):
            size = -(-len(indices) // replicas)
            for replica in mine:
                rows = indices[replica * size:(replica + 1) * size]
                rng = np.random.default_rng([self.seed, epoch, batch, replica])
                if len(rows):
                    yield self.make_batch(rows, rng)
                else:  # the arrays of one row, cut to none: the shapes and types a replica expects
                    yield _no_rows(self.make_batch(indices[:1], rng))

    def set_epoch(self, epoch: int) -> None:
        """Serve ``epoch`` from the next pass on (:meth:`dataset` reads it when a pass starts)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[tuple]:
        return self.for_epoch(self.epoch)

    def dataset(self, context=None):
        """A ``tf.data.Dataset`` view: each pass yields the batches of the current epoch. With a
        ``tf.distribute.InputContext`` (one worker of several, one replica each), this worker's
        pieces of them (:meth:`pieces`)."""
        import tensorflow as tf

        if self.signature is None:
            raise UserError("these batches have no tensor signature, so no tf.data view")
        if context is None:
            make = lambda: self.for_epoch(self.epoch)  # noqa: E731
        else:
            replicas, worker = context.num_replicas_in_sync, context.input_pipeline_id
            make = lambda: self.pieces(self.epoch, replicas, range(worker, worker + 1))  # noqa: E731
        dataset = tf.data.Dataset.from_generator(make, output_signature=self.signature)
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


def _no_rows(arrays):
    """The same structure of arrays, each cut to its first 0 rows."""
    if isinstance(arrays, (tuple, list)):
        return type(arrays)(_no_rows(a) for a in arrays)
    return np.asarray(arrays)[:0]


def as_dataset(data, run=None):
    """What ``keras.Model.fit`` takes: a :class:`Batches` source's ``tf.data`` view; anything
    else (a ``tf.data.Dataset``, None) as it is.

    Under multi-worker training (``run``, a :class:`nlp_tasks.distribute.RunContext`) where every
    worker has one replica, each worker gets a dataset of only its pieces of every batch
    (``distribute_datasets_from_function``): a worker reads and encodes its own rows, not the
    whole batch. With several replicas on a worker, the whole batch is made on every worker and
    tf.data's auto-sharding hands each its share (the count of steps of a per-worker dataset
    that feeds several replicas is not known to Keras)."""
    if not isinstance(data, Batches):
        return data
    if run is None or not run.multi_worker or len(run.strategy.extended.worker_devices) != 1:
        return data.dataset()
    return run.strategy.distribute_datasets_from_function(data.dataset)
