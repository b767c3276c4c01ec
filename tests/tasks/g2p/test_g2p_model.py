"""The encoder-decoder (tasks/g2p/model.py): the training model and its step-by-step decoding are
one function; saved and loaded safely."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.g2p.config import G2PConfig

SOURCES = [[5, 6, 7, 8], [9, 5, 0, 0], [6, 0, 0, 0]]  # padded with 0
TARGETS = [[2, 4, 5, 6], [2, 7, 0, 0], [2, 4, 4, 0]]  # <bos> = 2, then the phonemes


def _model(**options):
    from tasks.g2p.model import build_model

    cfg = G2PConfig(**{"units": 6, "layers": 2, "embedding_dim": 5, **options})
    return cfg, build_model(cfg, n_source=12, n_target=9)


@pytest.mark.parametrize("options", [{"cell": "lstm", "attention": "additive"},
                                     {"cell": "gru", "attention": "multiplicative", "bidirectional": False},
                                     {"cell": "rnn", "attention": "none"},
                                     {"cell": "mingru", "attention": "additive", "layers": 1}])
def test_decoding_step_by_step_gives_the_teacher_forced_logits(options):
    import tensorflow as tf

    from tasks.g2p.model import Decoding

    cfg, model = _model(**options)
    source, target = np.array(SOURCES, np.int32), np.array(TARGETS, np.int32)
    forced = model([source, target], training=False).numpy()
    decoding = Decoding(model, cfg)
    states, context = decoding.encode(tf.constant(source))
    for t in range(target.shape[1]):
        logits, states = decoding.step(tf.constant(target[:, t]), states, context)
        for row in range(len(TARGETS)):
            if t == 0 or TARGETS[row][t] != 0:  # a padded step of the teacher-forced pass is masked
                np.testing.assert_allclose(logits.numpy()[row], forced[row, t], atol=1e-5, err_msg=f"{row}, {t}")


def test_a_source_is_decoded_the_same_alone_or_padded_in_a_batch():
    import tensorflow as tf

    from tasks.g2p.model import Decoding

    cfg, model = _model()
    decoding = Decoding(model, cfg)
    alone = decoding.step(tf.constant([2]), *decoding.encode(tf.constant([[9, 5]])))[0].numpy()
    batch = decoding.step(tf.constant([2, 2]), *decoding.encode(tf.constant(SOURCES[:2])))[0].numpy()
    np.testing.assert_allclose(alone[0], batch[1], atol=1e-6)


def test_the_model_saves_and_loads_safely(tmp_path):
    import keras

    import nlp_tasks.layers  # noqa: F401 - registers our layers

    _, model = _model()
    source, target = np.array(SOURCES, np.int32), np.array(TARGETS, np.int32)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    np.testing.assert_allclose(loaded([source, target]).numpy(), model([source, target]).numpy(), atol=1e-6)
