"""Sentiment: many-to-one classification of a text into one label, e.g. a 1-5 rating.

Model: word embeddings (``mask_zero``) -> dropout -> 1-2 bidirectional layers of our own GRU
(or LSTM, RNN, minimal GRU) cells -> pooling over time (last state, max, mean or attention) ->
dropout -> softmax over the labels. Optional pretrained vectors from a GloVe/word2vec text file,
and class weights for imbalanced data.

Data: ``LABEL text`` lines (the SST files), CSV/TSV/JSON-lines/JSON with ``text`` and ``label``
columns (configurable), a Hugging Face dataset (hub name or local folder), or Python pairs
``(text, label)``. Labels are strings; their sorted order is saved with the model. When the
labels are exactly ``0..4`` (SST-5) they are shown to users as ratings 1..5.

    >>> pipe = SentimentPipeline(SentimentConfig(epochs=5))          # doctest: +SKIP
    >>> pipe.fit("sst5.train.txt", "sst5.dev.txt")                     # doctest: +SKIP
    >>> pipe.predict(["a gorgeous , witty film"])                      # doctest: +SKIP
    [{'label': '4', 'rating': 5, 'probabilities': {...}}]
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from nlp_tasks.batching import Batches, pad
from nlp_tasks.config import Config, check_parameters, check_upper_bounds, recurrent_parameters
from nlp_tasks.data import (
    TABLE_SUFFIXES,
    check_example,
    read_label_text,
    read_lines,
    read_table,
    read_word_vectors,
)
from nlp_tasks.errors import UserError
from nlp_tasks.pipeline import OUTPUT_LAYER, Pipeline, embedding_layer_name
from nlp_tasks.sources import load_hub_dataset, no_split_for_file, resolve_source
from nlp_tasks.vocab import Vocabulary

POOLINGS = ("last", "max", "mean", "attention")
CELLS = ("gru", "lstm", "rnn", "mingru")
HUB_SPLITS = {"train": "train", "dev": "validation", "test": "test"}
RATING_LABELS = ["0", "1", "2", "3", "4"]


@dataclasses.dataclass(frozen=True)
class SentimentConfig(Config):
    cell: str = "gru"
    embedding_dim: int = 128
    units: int = 128
    layers: int = 1
    pooling: str = "max"
    dropout: float = 0.5
    max_vocab: int | None = 30000
    min_freq: int = 1
    lower: bool = True
    class_weights: bool = False  # weigh classes by inverse frequency
    text_column: str = "text"
    label_column: str = "label"
    epochs: int = 10
    batch_size: int = 32
    learning_rate: float = 1e-3
    clipnorm: float | None = 5.0
    patience: int | None = 3
    seed: int = 0

    def __post_init__(self):
        if self.cell not in CELLS:
            raise UserError(f"cell must be one of {', '.join(CELLS)}, got {self.cell!r}")
        if self.pooling not in POOLINGS:
            raise UserError(f"pooling must be one of {', '.join(POOLINGS)}, got {self.pooling!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise UserError(f"dropout must be in [0, 1), got {self.dropout!r}")
        for name in ("embedding_dim", "units", "layers", "min_freq"):
            if getattr(self, name) < 1:
                raise UserError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        check_upper_bounds(self, widths=("embedding_dim", "units"), layers=("layers",))


def read_examples(source, split: str = "train", text_column: str = "text", label_column: str | None = "label"):
    """``[(text, label)]`` from a file, a hub dataset name, or Python pairs/dicts.

    ``label_column=None`` reads texts only (labels ``None``). A hub name may carry its split:
    ``"SetFit/sst5:validation"``; otherwise ``split`` (train/dev/test) picks the usual one.
    """
    if isinstance(source, (list, tuple)):
        return [_python_example(item, i) for i, item in enumerate(source, start=1)]
    kind, name, hub_split = resolve_source(str(source))
    if kind != "file":  # a local folder or a hub name, "SetFit/sst5:validation", "folder:train[:500]"
        return _hub_examples(name, hub_split or HUB_SPLITS.get(split, split), text_column, label_column)
    no_split_for_file(name, hub_split)
    path = Path(name)
    if path.suffix.lower() in TABLE_SUFFIXES:
        return [(text, label) for label, text in read_table(path, text_column, label_column)]
    if label_column is None:
        texts = [line for line in read_lines(path) if line.strip()]
        if not texts:
            raise UserError(f"{path}: no examples (the file is empty)")
        return [(text, None) for text in texts]
    return [(text, label) for label, text in read_label_text(path)]


def _python_example(item, index):
    if isinstance(item, dict):
        item = (item.get("text"), item.get("label"))
    if not isinstance(item, (list, tuple)) or len(item) != 2 or not isinstance(item[0], str):
        raise UserError(f"example {index}: expected (text, label), got {item!r}")
    label = item[1]
    return check_example(item[0], f"example {index}"), None if label is None else str(label)


def _hub_examples(name, split, text_column, label_column):
    data = load_hub_dataset(name, split=split)
    for column in (text_column, label_column):
        if column is not None and column not in data.column_names:
            raise UserError(f"data set {name!r}: no column {column!r} (columns: {', '.join(data.column_names)})")
    labels = data[label_column] if label_column else [None] * len(data)
    texts = data[text_column]
    for row, text in enumerate(texts, start=1):
        if isinstance(text, str):
            check_example(text, f"data set {name!r}, row {row}")
    return [(text, None if label is None else str(label)) for text, label in zip(texts, labels)]


class SentimentPipeline(Pipeline):
    """Text in, label out (many-to-one). See the module docstring."""

    task = "sentiment"
    config_class = SentimentConfig

    def expected_layer_sizes(self) -> dict:
        cfg = self.config
        sizes = {embedding_layer_name("words"): {"input_dim": len(self.vocabs.get("words", ())),
                                                 "output_dim": cfg.embedding_dim}}
        sizes.update({f"encoder_{i}": {"units": cfg.units} for i in range(1, cfg.layers + 1)})
        if self.labels:
            sizes[OUTPUT_LAYER] = {"units": len(self.labels)}
        return sizes

    # ------------------------------------------------------------------ model
    def build_model(self, vectors: dict | None = None):
        import keras

        from nlp_tasks.layers import AttentionPooling, MaskedMaxPooling, MaskedMeanPooling, recurrent

        cfg = self.config
        vocab = self.vocabs["words"]
        check_parameters(len(vocab) * cfg.embedding_dim
                         + recurrent_parameters(cfg.units, cfg.embedding_dim, cfg.layers, 2)
                         + 2 * cfg.units * (len(self.labels) + 1), "sentiment model")
        inputs = keras.Input((None,), dtype="int32", name="word_ids")
        embed = keras.layers.Embedding(len(vocab), cfg.embedding_dim, mask_zero=True,
                                       name=embedding_layer_name("words"))
        x = embed(inputs)
        if vectors:
            self._load_vectors(embed, vocab, vectors)
        x = keras.layers.Dropout(cfg.dropout)(x)
        for layer in range(cfg.layers):
            last = layer == cfg.layers - 1
            rnn = recurrent(cfg.cell, cfg.units, return_sequences=not (last and cfg.pooling == "last"))
            x = keras.layers.Bidirectional(rnn, name=f"encoder_{layer + 1}")(x)
        if cfg.pooling == "max":
            x = MaskedMaxPooling()(x)
        elif cfg.pooling == "mean":
            x = MaskedMeanPooling()(x)
        elif cfg.pooling == "attention":
            x = AttentionPooling(cfg.units)(x)
        x = keras.layers.Dropout(cfg.dropout)(x)
        outputs = keras.layers.Dense(len(self.labels), activation="softmax", name="output",
                                     dtype="float32")(x)  # float32 probabilities, also under mixed precision
        self.model = keras.Model(inputs, outputs, name="sentiment")
        return self.model

    @staticmethod
    def _load_vectors(embed, vocab, vectors):
        weights = embed.get_weights()[0]
        if next(iter(vectors.values())).shape[0] != weights.shape[1]:
            raise UserError(f"pretrained vectors have {next(iter(vectors.values())).shape[0]} dimensions "
                            f"but embedding_dim is {weights.shape[1]}")
        for token, index in ((t, i) for i, t in enumerate(vocab.tokens)):
            vector = vectors.get(token)
            if vector is None:
                vector = vectors.get(token.lower())
            if vector is not None:
                weights[index] = vector
        embed.set_weights([weights])

    # ------------------------------------------------------------------ data
    def _examples(self, source, split, with_labels=True):
        cfg = self.config
        return read_examples(source, split, cfg.text_column, cfg.label_column if with_labels else None)

    def _dataset(self, examples, shuffle, weights=None):
        import tensorflow as tf

        vocab = self.vocabs["words"]
        ids = [vocab.encode(text) or [vocab.unk_id] for text, _ in examples]
        index = {label: i for i, label in enumerate(self.labels)}
        y = np.array([index[label] for _, label in examples], dtype=np.int32)
        w = np.ones(len(y), dtype=np.float32) if weights is None else weights[y].astype(np.float32)
        lengths = [len(x) for x in ids]

        def make_batch(indices, rng):  # nothing random here: dropout is the model's (its state is checkpointed)
            return pad([ids[i] for i in indices]), y[indices], w[indices]

        signature = (tf.TensorSpec((None, None), tf.int32), tf.TensorSpec((None,), tf.int32),
                     tf.TensorSpec((None,), tf.float32))
        return Batches(make_batch, lengths, self.config.batch_size, signature, seed=self.config.seed, shuffle=shuffle)

    def _check_labels(self, examples, source):
        unknown = sorted({label for _, label in examples} - set(self.labels))
        if unknown:
            raise UserError(f"{source}: label(s) {', '.join(map(repr, unknown[:5]))} not in the model's "
                            f"label set ({', '.join(self.labels)})")

    # ------------------------------------------------------------------ API
    def fit(self, train, dev=None, embeddings: str | None = None, out_dir: str | Path | None = None,
            verbose: int = 1) -> dict:
        """Train on ``train``, keep the weights with the best ``dev`` accuracy; returns a summary."""
        import keras

        from nlp_tasks.checkpoint import fingerprint
        from nlp_tasks import distribute
        from nlp_tasks.runtime import set_seed
        from nlp_tasks.training import TrainConfig, fit

        cfg = self.config
        train_examples = self._examples(train, "train")
        dev_examples = self._examples(dev, "dev") if dev is not None else None
        self.set_labels(sorted({label for _, label in train_examples}, key=_label_key))
        if len(self.labels) < 2:
            raise UserError(f"{train}: training data needs at least two labels, found {self.labels}")
        if dev_examples is not None:
            self._check_labels(dev_examples, dev)
        self.vocabs = {"words": Vocabulary.build((t for t, _ in train_examples), level="word",
                                                 max_size=cfg.max_vocab, min_freq=cfg.min_freq, lower=cfg.lower)}
        vectors = read_word_vectors(embeddings, vocabulary=_VocabProbe(self.vocabs["words"]))[0] if embeddings else None
        set_seed(cfg.seed, deterministic=True)
        with distribute.scope():  # one replica per device under --strategy mirrored
            self.build_model(vectors)
        weights = None
        if cfg.class_weights:
            counts = np.bincount([self.labels.index(label) for _, label in train_examples], minlength=len(self.labels))
            weights = len(train_examples) / (len(self.labels) * np.maximum(counts, 1))
        train_cfg = TrainConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, learning_rate=cfg.learning_rate,
                                clipnorm=cfg.clipnorm, patience=cfg.patience, seed=cfg.seed, verbose=verbose)
        start = time.perf_counter()
        summary = fit(
            self.model, self._dataset(train_examples, shuffle=True, weights=weights),
            validation=self._dataset(dev_examples, shuffle=False) if dev_examples else None,
            config=train_cfg, loss=keras.losses.SparseCategoricalCrossentropy(),
            metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
            monitor="val_accuracy", mode="max", out_dir=out_dir,
            run_key={"task": self.task, "config": cfg.to_dict(),
                     "data": fingerprint(train_examples, dev_examples, str(embeddings) if embeddings else None)},
        )
        summary["train_seconds"] = time.perf_counter() - start
        summary["train_examples"] = len(train_examples)
        self.metrics = {"training": {k: v for k, v in summary.items() if k != "history"}}
        return summary

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """Class probabilities, shape (len(texts), len(labels)), in the order of ``self.labels``."""
        model = self.require_model()
        vocab = self.vocabs["words"]
        ids = [vocab.encode(text) for text in texts]
        probs = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        empty = [i for i, x in enumerate(ids) if not x]
        order = np.argsort([len(x) for x in ids], kind="stable")
        size = max(self.config.batch_size, 128)
        for start in range(0, len(order), size):
            rows = [i for i in order[start:start + size] if ids[i]]
            if not rows:
                continue
            probs[rows] = np.asarray(model(pad([ids[i] for i in rows]), training=False))
        if empty:  # no tokens at all: the defined answer is "no evidence", uniform probabilities
            probs[empty] = 1.0 / len(self.labels)
        return probs

    def rating(self, label: str) -> int | None:
        """1..5 for SST-5 style labels 0..4; None for other label sets."""
        return int(label) + 1 if self.labels == RATING_LABELS else None

    def predict(self, inputs, **options):
        """``"text"`` -> one result dict; a list of texts -> a list of them.

        Each result: ``{"text", "label", "rating", "probabilities": {label: p}}``. A text with no
        tokens at all has no evidence either way: uniform probabilities, ``"label": None`` and
        ``"rating": None`` (not the first label, which would read as a confident "very negative"),
        flagged ``"empty": True``.
        """
        single = isinstance(inputs, str)
        texts = [inputs] if single else list(inputs)
        if not all(isinstance(t, str) for t in texts):
            raise UserError("predict takes a text or a list of texts")
        probs = self.predict_proba(texts)
        results = []
        for text, row in zip(texts, probs):
            empty = not self.vocabs["words"].tokenize(text)
            label = None if empty else self.labels[int(row.argmax())]
            result = {"text": text, "label": label, "rating": None if empty else self.rating(label),
                      "probabilities": {lab: round(float(p), 6) for lab, p in zip(self.labels, row)}}
            if empty:
                result["empty"] = True
            results.append(result)
        return results[0] if single else results

    def evaluate(self, data, split: str = "test", **options) -> dict:
        """Accuracy, macro-F1, per-class P/R/F1 and the confusion matrix on labelled data."""
        from nlp_tasks.metrics import classification_report

        examples = self._examples(data, split)
        self._check_labels(examples, data)
        start = time.perf_counter()
        probs = self.predict_proba([text for text, _ in examples])
        seconds = time.perf_counter() - start
        gold = [self.labels.index(label) for _, label in examples]
        report = classification_report(gold, probs.argmax(axis=1).tolist(), self.labels)
        report["seconds"] = seconds
        report["texts_per_second"] = len(examples) / seconds if seconds > 0 else None
        return report


class _VocabProbe:
    """``in`` test for reading only the vectors of words the vocabulary knows (any case)."""

    def __init__(self, vocab):
        self.words = set(vocab.tokens) | {t.lower() for t in vocab.tokens}

    def __contains__(self, word):
        return word in self.words


def _label_key(label: str):
    """Integers in numeric order (so 10 follows 9), then other labels alphabetically."""
    return (0, int(label), "") if label.lstrip("-").isdigit() else (1, 0, label)
