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


def test_workers_pieces_are_disjoint_and_cover_every_batch():
    # Multi-worker training: each worker makes only its replicas' rows of every batch, cut as
    # tf.data's rebatching cut the whole batch (runs of ceil(n / replicas) rows).
    batches, lengths = _source(seed=4), [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5]
    whole = list(batches.for_epoch(1))
    assert [len(ids) for ids, _ in whole] == [3, 3, 2, 3]
    for replicas in (2, 3, 4):
        workers = [list(batches.pieces(1, replicas, range(r, r + 1))) for r in range(replicas)]
        assert all(len(pieces) == len(whole) for pieces in workers)  # one piece per batch: the same count of steps
        for batch, (ids, _) in enumerate(whole):
            rows = [[int(row[0]) - 1 for row in workers[r][batch][0]] for r in range(replicas)]
            assert sum(rows, []) == [int(row[0]) - 1 for row in ids]  # every row once, in order, by one worker
            size = -(-len(ids) // replicas)
            assert [len(r) for r in rows] == [len(ids[r * size:(r + 1) * size]) for r in range(replicas)]
            for r, row_ids in enumerate(rows):
                piece = workers[r][batch][0]
                # padded to its own longest row; a replica past a short batch's rows gets no rows
                assert piece.shape == (len(row_ids), max((lengths[i] for i in row_ids), default=piece.shape[1]))
    # Two replicas on one worker: both pieces of each batch, in turn; each piece's draws are its own
    # (a function of the seed, epoch, batch and replica)
    both = list(batches.pieces(1, 2, range(2)))
    assert len(both) == 2 * len(whole) and _same(both, list(_source(seed=4).pieces(1, 2, range(2))))
    assert not np.array_equal(both[0][1], both[1][1][:len(both[0][1])])


def test_a_worker_without_rows_gets_arrays_of_no_rows_and_the_dataset_serves_its_pieces():
    import tensorflow as tf

    batches = _source(seed=4)
    empty = list(batches.pieces(1, 3, range(2, 3)))[2]  # the third batch has 2 rows: the third replica has none
    assert empty[0].shape[0] == 0 and empty[0].dtype == np.int32 and empty[1].shape == (0,)
    context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=1, num_replicas_in_sync=2)
    batches.set_epoch(1)
    got = [tuple(t.numpy() for t in b) for b in batches.dataset(context)]
    assert _same(got, list(batches.pieces(1, 2, range(1, 2))))
