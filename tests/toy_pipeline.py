"""A tiny task built on the Pipeline base, used to test the shared machinery.

It classifies a word sequence by whether it contains the word "good": many-to-one, with an
Embedding named by the convention the consistency check relies on and an ``output`` layer.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from nlp_tasks.config import Config, TrainSettings
from nlp_tasks.pipeline import Pipeline, TrainingData
from nlp_tasks.runtime import set_seed
from nlp_tasks.saving.model_checks import embedding_layer_name
from nlp_tasks.text.vocab import Vocabulary
from nlp_tasks.training import TrainingPlan, fit


@dataclasses.dataclass(frozen=True)
class ToyConfig(Config):
    units: int = 8
    cell: str = "gru"
    epochs: int = 3
    seed: int = 0


class ToyPipeline(Pipeline):
    task = "toy"
    config_class = ToyConfig

    def build_model(self):
        import keras

        from nlp_tasks.layers import recurrent

        inputs = keras.Input((None,), dtype="int32")
        x = keras.layers.Embedding(len(self.vocabs["words"]), 8, mask_zero=True,
                                   name=embedding_layer_name("words"))(inputs)
        x = recurrent(self.config.cell, self.config.units)(x)
        outputs = keras.layers.Dense(len(self.labels), activation="softmax", name="output")(x)
        self.model = keras.Model(inputs, outputs)
        return self.model

    def _encode(self, texts):
        return self.vocabs["words"].encode_batch(texts)

    def read_training_data(self, train, dev=None) -> TrainingData:
        texts, labels = zip(*train)
        self.vocabs = {"words": Vocabulary.build(texts)}
        self.labels = sorted(set(labels))
        return TrainingData(list(train), dev)

    def training_plan(self, data: TrainingData, model) -> TrainingPlan:
        import keras

        texts, labels = zip(*data.train)
        y = np.array([self.labels.index(label) for label in labels])
        return TrainingPlan(self._dataset(texts, y, 4), loss=keras.losses.SparseCategoricalCrossentropy(),
                            metrics=["accuracy"])

    def fit(self, train, dev=None, **options):
        """Its own fit (the shared one needs a TrainSettings config), made of the same hooks."""
        data = self.read_training_data(train, dev)
        set_seed(self.config.seed, deterministic=True)  # before the weights are initialised
        self.build_model()
        settings = TrainSettings(epochs=self.config.epochs, batch_size=4, learning_rate=0.02, seed=self.config.seed,
                                 **options)
        return fit(self.model, self.training_plan(data, self.model), settings)

    def _dataset(self, texts, y, batch_size):
        import tensorflow as tf

        return tf.data.Dataset.from_tensor_slices((self._encode(texts), y)).batch(batch_size)

    def evaluate(self, data, **options):
        texts, labels = zip(*data)
        predicted = self.predict(list(texts))
        return {"accuracy": float(np.mean([p == g for p, g in zip(predicted, labels)]))}

    # predict: the base class's template (a text or a list of texts)
    def preprocess(self, item, number):
        return self.vocabs["words"].encode(item)

    def postprocess(self, features, output):
        return self.labels[int(np.argmax(output))]


TOY_DATA = [
    ("a good film", "pos"), ("good", "pos"), ("very good indeed", "pos"), ("good good", "pos"),
    ("a bad film", "neg"), ("bad", "neg"), ("very bad indeed", "neg"), ("dull and long", "neg"),
]
