"""The batch source: padding, epoch-aware order, per-batch random generators."""

from __future__ import annotations

import numpy as np
import pytest

from nlp_tasks.batching import Batches, as_dataset, pad
from nlp_tasks.text.vocab import pad_sequences


def test_pad_ids_vectors_and_nested_rows():
    np.testing.assert_array_equal(pad([[1, 2, 3], [4]]), [[1, 2, 3], [4, 0, 0]])
    assert pad([[1, 2, 3], [4]]).dtype == np.int32
    np.testing.assert_array_equal(pad([[7]], 3, value=-1), [[7, -1, -1]])
    frames = pad([np.ones((2, 4)), np.ones((1, 4))], dtype=np.float32)  # (T, keys) pieces
    assert frames.shape == (2, 2, 4) and frames.dtype == np.float32 and frames[1, 1].sum() == 0
    chars = pad([pad([[1, 2], [3]], 2), pad([[4]], 2)])  # words of characters
    np.testing.assert_array_equal(chars, [[[1, 2], [3, 0]], [[4, 0], [0, 0]]])
    assert pad([]).shape == (0, 0)
    with pytest.raises(ValueError):
        pad([[1, 2, 3]], 2)  # cut it first: vocab.pad_sequences does
    np.testing.assert_array_equal(pad_sequences([[1, 2, 3], [4]], maxlen=2, truncate="pre"), [[2, 3], [4, 0]])


def _source(seed=0, shuffle=True):
    lengths = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5]

    def make_batch(indices, rng):
        return pad([[i + 1] * lengths[i] for i in indices]), rng.random(len(indices))

    import tensorflow as tf

    signature = (tf.TensorSpec((None, None), tf.int32), tf.TensorSpec((None,), tf.float64))
    return Batches(make_batch, lengths, 3, signature, seed=seed, shuffle=shuffle)


def _same(a, b):
    return len(a) == len(b) and all(np.array_equal(x, y) for p, q in zip(a, b) for x, y in zip(p, q))


def test_an_epoch_is_a_pure_function_of_seed_and_epoch():
    batches = _source(seed=1)
    assert len(batches) == 4
    epoch2 = list(batches.for_epoch(2))
    assert _same(epoch2, list(_source(seed=1).for_epoch(2)))  # a new source (a resumed run) agrees
    assert not _same(epoch2, list(batches.for_epoch(1)))  # order and draws change every epoch
    assert not _same(epoch2, list(_source(seed=2).for_epoch(2)))
    served = sorted(int(i) - 1 for ids, _ in epoch2 for i in ids[:, 0])
    assert served == list(range(11))  # every example once
    ordered = list(_source(shuffle=False).for_epoch(0))
    assert [ids.shape[1] for ids, _ in ordered] == sorted(ids.shape[1] for ids, _ in ordered)


def test_the_dataset_view_serves_the_epoch_the_callback_sets():
    batches = _source(seed=3)
    dataset = as_dataset(batches)
    assert as_dataset(dataset) is dataset and as_dataset(None) is None
    batches.epoch_callback().on_epoch_begin(5)
    got = [tuple(t.numpy() for t in b) for b in dataset]
    assert _same(got, list(batches.for_epoch(5)))
    batches.set_epoch(0)
    assert _same(list(batches), list(batches.for_epoch(0)))
