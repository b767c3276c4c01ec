"""``charlm train --activation-reg/--temporal-activation-reg`` (AWD-LSTM's AR and TAR): the terms
shrink the last layer's activations, in stream and lines mode, and the saved model is the plain
language model (the penalty is training-only and has no weights)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tasks.charlm import LanguageModelConfig, LanguageModelPipeline

TEXT = "the quick brown fox jumps over the lazy dog, and the dog sleeps on. " * 40


def _mean_abs_activation(pipe):
    model = pipe.model
    states = keras.Model(model.inputs, model.get_layer(f"rnn_{pipe.config.layers}").output)
    ids = np.array([pipe.vocab.encode(TEXT[:300])])
    return float(np.abs(states.predict(ids, verbose=0)).mean())


@pytest.mark.parametrize("mode", ["stream", "lines"])
def test_the_penalties_shrink_the_last_layers_activations(mode, tmp_path):
    docs = [TEXT] if mode == "stream" else [TEXT[i:i + 69] for i in range(0, len(TEXT), 69)]
    figures = {}
    for ar in (0.0, 20.0):
        cfg = LanguageModelConfig(units=12, layers=2, embedding_dim=8, epochs=3, window=30, batch_size=8, mode=mode,
                                  activation_reg=ar, temporal_activation_reg=ar / 2, learning_rate=1e-2, seed=3)
        pipe = LanguageModelPipeline(cfg)
        pipe.fit(docs, verbose=0)
        loaded = LanguageModelPipeline.load(pipe.save(tmp_path / f"{mode}-{ar}"))
        names = [layer.name for layer in loaded.model.layers]
        assert "activation_penalty" not in names and loaded.config.activation_reg == ar
        figures[ar] = _mean_abs_activation(loaded)
    assert figures[20.0] < 0.5 * figures[0.0], figures
