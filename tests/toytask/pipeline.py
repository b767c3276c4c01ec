"""The toy task's Pipeline: the template's hooks and nothing else."""

from __future__ import annotations

import dataclasses

import numpy as np

from nlp_tasks.config import CELLS, TrainSettings, setting, train_default
from nlp_tasks.data.readers import read_lines
from nlp_tasks.errors import UserError
from nlp_tasks.pipeline import Pipeline, TrainingData, TrainingPlan
from nlp_tasks.saving.model_checks import embedding_layer_name
from nlp_tasks.text.vocab import Vocabulary, pad_sequences


@dataclasses.dataclass(frozen=True)
class DigitConfig(TrainSettings):
    cell: str = setting("gru", "Recurrent cell.", choices=CELLS)
    units: int = setting(8, "Recurrent units.", low=1, high=256)
    epochs: int = train_default("epochs", 3)
    batch_size: int = train_default("batch_size", 8)
    learning_rate: float = train_default("learning_rate", 0.02)


def read_labelled(source) -> list[tuple[str, str]]:
    lines = [line for line in read_lines(source) if line.strip()] if not isinstance(source, list) else source
    if not lines:
        raise UserError(f"{source}: no lines")
    return [(line, "digit" if any(c.isdigit() for c in line) else "none") for line in lines]


class DigitPipeline(Pipeline):
    task = "digits"
    config_class = DigitConfig
    monitor, mode = "val_accuracy", "max"

    def build_model(self):
        import keras

        from nlp_tasks.layers import recurrent

        inputs = keras.Input((None,), dtype="int32")
        x = keras.layers.Embedding(len(self.vocabs["chars"]), 8, mask_zero=True,
                                   name=embedding_layer_name("chars"))(inputs)
        x = recurrent(self.config.cell, self.config.units)(x)
        self.model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax", name="output")(x))
        return self.model

    def read_training_data(self, train, dev=None) -> TrainingData:
        examples = read_labelled(train)
        self.labels = ["digit", "none"]
        self.vocabs = {"chars": Vocabulary.build((text for text, _ in examples), level="char")}
        dev_examples = read_labelled(dev) if dev is not None else examples
        return TrainingData(examples, dev_examples, fingerprint=examples, counts={"train_examples": len(examples)})

    def _batches(self, examples):
        import tensorflow as tf

        x = pad_sequences([self.vocabs["chars"].encode(text) for text, _ in examples])
        y = np.array([self.labels.index(label) for _, label in examples])
        return tf.data.Dataset.from_tensor_slices((x, y)).batch(self.config.batch_size)

    def training_plan(self, data: TrainingData, model) -> TrainingPlan:
        import keras

        return TrainingPlan(self._batches(data.train), loss=keras.losses.SparseCategoricalCrossentropy(),
                            metrics=["accuracy"], validation=self._batches(data.dev))

    def evaluate(self, data, split: str = "test") -> dict:
        examples = read_labelled(data)
        predicted = self.predict([text for text, _ in examples])
        return {"accuracy": float(np.mean([p == gold for p, (_, gold) in zip(predicted, examples)])),
                "examples": len(examples)}

    # predict: the base class's template, a text or a list of texts in; these two hooks are the task's part
    def preprocess(self, item: str, number: int) -> list[int]:
        return self.vocabs["chars"].encode(item) or [1]  # an empty line reads as one unknown character

    def postprocess(self, features, output) -> str:
        return self.labels[int(np.argmax(output))]
